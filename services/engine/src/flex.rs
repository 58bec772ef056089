//! The flex keeper: carries flexibility events out and follows each target's part to its outcome.
//!
//! An event's part on a charger is the target's `flex` limit source, which the API stores with the
//! event; the limit keeper puts it on the charger as a station-wide profile carrying the target's
//! window (its start after the random delay, the event's end), so the charger caps itself at the
//! start and lifts the cap at the end even when Coupler is gone. This keeper applies it at once
//! ([`FlexKeeper::event_changed`]) to record whether the charger took it, and at the target's start
//! reads the charger's composite schedule back to confirm the cap holds.
//!
//! A vehicle without a charger has no windows: at the target's start its maker is asked to stop
//! (or, for a cap it can charge under, to draw at most the cap), and after a stop it is asked to
//! start again at the end, or at once when the driver opts out or the event is cancelled. Each
//! command is an action of the one action engine, so its attempts and outcome are kept with it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use coupler_core::flex::{FlexEvent, FlexEventId, FlexTarget, FlexTargetId, TargetDevice, TargetState};
use coupler_core::limits::MIN_CHARGING_CURRENT_A;
use coupler_core::{ActionState, ChargerId, StoreError};
use coupler_tasks::Tasks;
use tokio::sync::Notify;
use tokio_util::task::TaskTracker;

use crate::limits::Applied;
use crate::request::{ActionRequest, ActionTarget, Command};
use crate::Engine;

/// The longest the keeper sleeps between looks (new events wake it at once; a test's clock that
/// jumps is noticed within this).
const TICK: Duration = Duration::from_secs(2);
/// How soon a target that could not be confirmed is looked at again while its window is open.
const RETRY: chrono::Duration = chrono::Duration::seconds(30);
/// How soon a vehicle's command is looked at again while it is pending.
const ACTION_RETRY: chrono::Duration = chrono::Duration::seconds(10);
/// The most targets looked at in one pass.
const BATCH: u32 = 200;
/// A composite limit within this of the cap counts as the cap (OCPP carries 0.1 A).
const TOLERANCE_A: f64 = 0.05;

/// Carries flexibility events out on chargers and vehicles. Cheap to share.
#[derive(Debug)]
pub struct FlexKeeper {
    engine: Arc<Engine>,
    wake: Notify,
    tracker: TaskTracker,
}

impl FlexKeeper {
    /// A keeper acting through `engine`.
    pub fn new(engine: Arc<Engine>) -> Arc<Self> {
        Arc::new(Self {
            engine,
            wake: Notify::new(),
            tracker: TaskTracker::new(),
        })
    }

    /// An event was stored, changed or cancelled, or a target opted out: `chargers`' limits are put
    /// on them now (in the background) and each target's outcome recorded; smart charging makes
    /// their plans again under the new caps; the keeper looks at the event's targets again.
    ///
    /// The event's targets are read once for all its chargers, not once per charger (an event on
    /// 10,000 chargers read its 10,000 targets 10,000 times).
    pub fn event_changed(self: &Arc<Self>, event: FlexEventId, chargers: Vec<ChargerId>) {
        let limits = self.engine.limits();
        limits.edges_changed();
        limits.announce(&chargers);
        let keeper = self.clone();
        self.tracker.spawn(async move {
            let targets = match keeper.engine.store.flex_targets(&event).await {
                Ok(targets) => targets,
                Err(e) => {
                    tracing::warn!(event_id = %event, error = %e, "cannot read a flex event's targets");
                    return;
                }
            };
            let mut of_charger: HashMap<ChargerId, Vec<FlexTargetId>> = HashMap::new();
            for target in targets {
                if let TargetDevice::Charger(charger) = target.device {
                    of_charger.entry(charger).or_default().push(target.id);
                }
            }
            for charger in chargers {
                let targets = of_charger.remove(&charger).unwrap_or_default();
                let applier = keeper.clone();
                let event = event.clone();
                keeper.tracker.spawn(async move {
                    if let Err(e) = applier.apply(&charger, &targets).await {
                        tracing::warn!(charger_id = %charger, event_id = %event, error = %e, "cannot apply a flex event");
                    }
                });
            }
        });
        self.wake.notify_one();
    }

    /// Puts one charger's limits on it and records the outcome on `targets`, the event's targets
    /// there (each read again just before, so what the keeper did meanwhile is not undone).
    #[tracing::instrument(skip(self, targets), fields(charger_id = %charger))]
    async fn apply(&self, charger: &ChargerId, targets: &[FlexTargetId]) -> Result<(), StoreError> {
        let applied = match self.engine.limits().apply(charger).await {
            Ok(applied) => applied,
            Err(crate::limits::KeeperError::Store(e)) => return Err(e),
        };
        let store = &self.engine.store;
        let now = self.engine.clock().now();
        let mut looks_due = false;
        for id in targets {
            let Some(mut target) = store.flex_target(id).await? else {
                continue;
            };
            if target.state.is_settled() {
                continue;
            }
            let (state, detail) = match &applied {
                Applied::NotConnected => (
                    TargetState::Scheduled,
                    "the charger is not connected; its limits go on when it connects".to_owned(),
                ),
                Applied::Profiles { .. } => (
                    TargetState::Applied,
                    "the charger took the event's profile, with the event's window".to_owned(),
                ),
                Applied::OnOff { why, .. } => (
                    TargetState::Applied,
                    format!("{why}: charging is stopped while the cap is below 6 A, by Coupler at the window's edges"),
                ),
                Applied::Failed { error, .. } => (
                    TargetState::Failed,
                    format!("the charger's limits could not be put on it: {error}"),
                ),
            };
            if target.state == state && target.detail.as_deref() == Some(detail.as_str()) {
                continue;
            }
            target.state = state;
            target.detail = Some(detail);
            target.updated_at = now;
            // What was put on the charger is confirmed again: a target the keeper had confirmed (or
            // given up on) before this application gets a look now, else it would stay APPLIED.
            target.next_check_at.get_or_insert(now);
            store.save_flex_target(&target, &["progress.state"]).await?;
            looks_due = true;
        }
        if looks_due {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Runs the keeper until the server's `tasks` stop: every target due a look is looked at, and
    /// the keeper sleeps until the next is due (or it is woken, or [`TICK`] passes).
    pub fn spawn(self: &Arc<Self>, tasks: &Tasks) {
        let keeper = self.clone();
        let shutdown = tasks.token().clone();
        // One node looks at the targets: the one holding the job.
        let job = self.engine.leases().singleton(crate::singleton::jobs::FLEX);
        tasks.spawn("flex keeper", async move {
            loop {
                if !job.held() {
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(TICK) => continue,
                    }
                }
                let now = keeper.engine.clock().now();
                if let Err(e) = keeper.look(now).await {
                    tracing::warn!(error = %e, "cannot look at flex targets");
                }
                let next = keeper.engine.store.next_flex_check().await.ok().flatten();
                let sleep = next
                    .map(|next| (next - keeper.engine.clock().now()).to_std().unwrap_or_default())
                    .unwrap_or(TICK)
                    .min(TICK);
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = keeper.wake.notified() => {}
                    _ = tokio::time::sleep(sleep) => {}
                }
            }
            keeper.tracker.close();
            keeper.tracker.wait().await;
        });
    }

    /// Looks at every target due by `now`.
    async fn look(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let due = self.engine.store.due_flex_targets(now, BATCH).await?;
        for target in due {
            let id = target.id.clone();
            if let Err(e) = self.check(target).await {
                tracing::warn!(target_id = %id, error = %e, "cannot look at a flex target");
            }
        }
        Ok(())
    }

    /// Moves one target on: confirms a charger's cap once its window opened, sends a vehicle its
    /// commands, and says when to look again.
    #[tracing::instrument(skip_all, fields(target_id = %target.id, event_id = %target.event_id))]
    async fn check(&self, mut target: FlexTarget) -> Result<(), StoreError> {
        let store = &self.engine.store;
        let now = self.engine.clock().now();
        let Some(event) = store.get_flex_event(&target.client_id, &target.event_id).await? else {
            target.next_check_at = None;
            store.save_flex_target(&target, &[]).await?;
            return Ok(());
        };
        let fields = match target.device.clone() {
            TargetDevice::Charger(charger) => self.check_charger(&event, &mut target, &charger, now).await?,
            TargetDevice::Vehicle(_) => self.check_vehicle(&event, &mut target, now).await?,
        };
        target.updated_at = now;
        store.save_flex_target(&target, fields).await?;
        Ok(())
    }

    async fn check_charger(
        &self,
        event: &FlexEvent,
        target: &mut FlexTarget,
        charger: &ChargerId,
        now: DateTime<Utc>,
    ) -> Result<&'static [&'static str], StoreError> {
        let start = event.target_start(target.delay_s);
        if target.state.is_settled() || now >= event.end {
            target.next_check_at = None;
            return Ok(&[]);
        }
        if now < start {
            target.next_check_at = Some(start);
            return Ok(&[]);
        }
        if !self.engine.control().is_connected(charger) {
            target.detail = Some("the charger is not connected; its limits go on when it connects".to_owned());
            target.next_check_at = Some(now + RETRY);
            return Ok(&[]);
        }
        let connector = self
            .engine
            .store
            .active_session(charger)
            .await?
            .map_or(1, |s| s.connector_id);
        let keeper = self.engine.limits();
        let mut shown = keeper.composite_limit(charger, connector).await;
        if !shown.is_some_and(|limit| limit <= event.limit_a + TOLERANCE_A) {
            // The charger may have missed an application (a reconnect in between): once more.
            if let Err(crate::limits::KeeperError::Store(e)) = keeper.apply(charger).await {
                return Err(e);
            }
            shown = keeper.composite_limit(charger, connector).await;
        }
        let before = target.state;
        match shown {
            Some(limit) if limit <= event.limit_a + TOLERANCE_A => {
                target.state = TargetState::Confirmed;
                target.detail = Some(format!(
                    "the charger's composite schedule shows {limit} A, within the event's {} A",
                    event.limit_a
                ));
                target.next_check_at = None;
            }
            Some(limit) => {
                target.state = TargetState::Failed;
                target.detail = Some(format!(
                    "the charger's composite schedule shows {limit} A, above the event's {} A",
                    event.limit_a
                ));
                target.next_check_at = Some(now + RETRY);
            }
            None => {
                let on_off = self
                    .engine
                    .store
                    .charger_capabilities(charger)
                    .await?
                    .is_some_and(|c| !c.takes_profiles());
                if on_off {
                    // Nothing to read back from a charger without profiles: the stop is the outcome.
                    target.next_check_at = None;
                } else {
                    target.state = TargetState::Failed;
                    target.detail = Some("the charger reported no composite schedule in amperes".to_owned());
                    target.next_check_at = Some(now + RETRY);
                }
            }
        }
        Ok(if target.state == before {
            &[]
        } else {
            &["progress.state"]
        })
    }

    async fn check_vehicle(
        &self,
        event: &FlexEvent,
        target: &mut FlexTarget,
        now: DateTime<Utc>,
    ) -> Result<&'static [&'static str], StoreError> {
        let TargetDevice::Vehicle(vehicle) = target.device.clone() else {
            return Ok(&[]);
        };
        let start = event.target_start(target.delay_s);
        let stops = event.limit_a < MIN_CHARGING_CURRENT_A;
        let over = target.state.is_settled() || now >= event.end;
        if over {
            // Charging stopped for the event starts again; a max current stays (makers know no
            // windows), as a location's limit on such a car does.
            if stops && target.start_action_id.is_some() && target.end_action_id.is_none() {
                match self.command(target, &vehicle, Command::Start, "end").await {
                    Ok(action) => {
                        target.end_action_id = Some(action);
                        target.detail = Some(match target.state {
                            TargetState::OptedOut => "the driver opted out; charging was started again".to_owned(),
                            _ => "the event is over; charging was started again".to_owned(),
                        });
                    }
                    Err(why) => target.detail = Some(format!("charging could not be started again: {why}")),
                }
            }
            target.next_check_at = None;
            return Ok(&[]);
        }
        if now < start {
            target.next_check_at = Some(start);
            return Ok(&[]);
        }
        let before = target.state;
        match &target.start_action_id {
            None => {
                let command = if stops {
                    Command::Stop
                } else {
                    // Makers take whole amperes; a cap never rounds up.
                    Command::SetMaxCurrent(event.limit_a.floor())
                };
                match self.command(target, &vehicle, command, "start").await {
                    Ok(action) => {
                        target.start_action_id = Some(action);
                        target.state = TargetState::Applied;
                        target.detail = Some(format!("the vehicle's maker was asked to {}", describe(command)));
                        target.next_check_at = Some(now + ACTION_RETRY);
                    }
                    Err(why) => {
                        target.state = TargetState::Failed;
                        target.detail = Some(why);
                        target.next_check_at = Some(if stops { event.end } else { now + RETRY });
                    }
                }
            }
            Some(action) => {
                let found = self.engine.store.get_action(&target.client_id, action).await?;
                match found.map(|a| (a.state, a.failure_reason.map(|f| f.detail))) {
                    Some((ActionState::Confirmed, _)) => {
                        target.state = TargetState::Confirmed;
                        target.detail = Some("the vehicle's maker carried the command out".to_owned());
                        target.next_check_at = Some(event.end);
                    }
                    Some((ActionState::Pending, _)) => target.next_check_at = Some(now + ACTION_RETRY),
                    Some((_, why)) => {
                        target.state = TargetState::Failed;
                        target.detail = Some(format!(
                            "the vehicle's maker did not carry the command out{}",
                            why.map(|w| format!(": {w}")).unwrap_or_default()
                        ));
                        target.next_check_at = Some(event.end);
                    }
                    None => target.next_check_at = Some(event.end),
                }
            }
        }
        Ok(if target.state == before {
            &[]
        } else {
            &["progress.state"]
        })
    }

    /// Asks for `command` on the target's vehicle through the action engine, once per target and
    /// `moment` (the idempotency key makes a retry after a crash return the same action).
    async fn command(
        &self,
        target: &FlexTarget,
        vehicle: &coupler_core::VehicleId,
        command: Command,
        moment: &str,
    ) -> Result<coupler_core::ActionId, String> {
        let request = ActionRequest {
            client: target.client_id.clone(),
            target: ActionTarget::Vehicle(vehicle.clone()),
            command,
            idempotency_key: Some(format!("flex:{}:{moment}", target.id)),
        };
        match self.engine.request_action(request).await {
            Ok(action) => Ok(action.id),
            Err(e) => Err(e.to_string()),
        }
    }
}

fn describe(command: Command) -> String {
    match command {
        Command::Start => "start charging".to_owned(),
        Command::Stop => "stop charging".to_owned(),
        Command::SetMaxCurrent(amps) => format!("draw at most {amps} A"),
    }
}
