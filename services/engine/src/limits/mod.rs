//! The limit keeper: puts each charger's limit sources on the charger and keeps them there.
//!
//! For a charger that takes charging profiles, [`LimitKeeper::apply`] installs one profile per
//! source as [`coupler_core::limits::plan_profiles`] lays them out (strictest first, so the limit
//! never loosens while they are replaced), clears the profiles of sources that ended or were
//! deleted (ClearChargingProfile), and reads the charger's composite schedule back
//! (GetCompositeSchedule) to record what it will hold. Each profile carries its source's window,
//! so the charger drops a site limit by itself when the window ends, even if Coupler is gone.
//!
//! A charger that declared no smart charging, or refused a profile, gets on/off instead: charging
//! is stopped (RemoteStop) while the limit in force is below 6 A, and started again (RemoteStart)
//! when the limit that stopped it lifts.
//!
//! The keeper's task applies limits again when a charger connects or boots (the gateway's ready
//! signal), when a source's window opens or closes, and at start-up.
//!
//! Only the node that holds a charger's socket can put limits on it. Sources set through another
//! node wake the holder with a signal naming the chargers ([`Signal::LimitsChanged`]); it reads
//! their sources from the store and applies them at once, like its own. A max-current action sets the
//! `user` source and applies through the same path (`action.rs`), recording each command as an
//! attempt; `vehicles.rs` holds vehicles charging without a Coupler charger to their location's
//! limits through their makers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use coupler_core::clock::Clock;
use coupler_core::control::{ChargerCommand, ChargerControl, CommandReply, ControlError, LimitPurpose, RateUnit};
use coupler_core::limits::{compose, plan_profiles, profiles_to_clear, ChargerCapabilities, OnOff, RunningTransaction};
use coupler_core::node::{Heard, Signal, CHARGERS_PER_SIGNAL};
use coupler_core::{ChargerId, Store, StoreError};
use coupler_tasks::Tasks;
use tokio::sync::{broadcast, Notify};
use tokio_util::task::TaskTracker;

mod action;
mod vehicles;

pub(crate) use action::send_user_limit;
pub use vehicles::spawn_vehicle_limits;

/// How far ahead the composite schedule is read when verifying, seconds.
const VERIFY_HORIZON_S: u32 = 300;
/// The longest the keeper sleeps without looking at windows again (a safety net: new sources wake
/// it at once).
const IDLE_RECHECK: Duration = Duration::from_secs(300);

/// A charger command the keeper sent, and what came of it: the steps of one application, shown as
/// an action's attempts when a max-current action caused it.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The OCPP-neutral command name with what it carried (`SetChargingProfile TxDefaultProfile 16 A`).
    pub command: String,
    /// Whether the charger took it on.
    pub accepted: bool,
    /// The charger's answer or the error.
    pub answer: String,
}

/// What one application of a charger's limits came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// The charger is not connected; its limits are applied when it is.
    NotConnected,
    /// The charger holds a profile per source; the composite schedule it reported, if it did.
    Profiles {
        /// The commands sent.
        steps: Vec<Step>,
        /// The first limit of its composite schedule, amperes.
        verified_limit_a: Option<f64>,
    },
    /// The charger takes no profiles: its limits are carried out by stopping or starting charging.
    OnOff {
        /// Why profiles are not used (what the charger declared or answered).
        why: String,
        /// The commands sent (a refused profile, a remote stop or start).
        steps: Vec<Step>,
        /// The limit in force, amperes.
        limit_a: Option<f64>,
        /// Whether charging must be off for it.
        off: bool,
    },
    /// A command got no usable answer; the application is retried at the next occasion.
    Failed {
        /// The commands sent.
        steps: Vec<Step>,
        /// What went wrong.
        error: ControlError,
    },
}

/// Why the keeper could not apply limits.
#[derive(Debug, thiserror::Error)]
pub enum KeeperError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Puts limit sources on chargers. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LimitKeeper {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    control: Arc<dyn ChargerControl>,
    remote_start_id_tag: String,
    /// The engine's clock: windows open and close on it.
    clock: Arc<dyn Clock>,
    /// One application at a time per charger, so two never interleave their commands.
    applying: Mutex<HashMap<ChargerId, Arc<tokio::sync::Mutex<()>>>>,
    /// Wakes the keeper's task to look at windows again (a source was added or removed).
    wake: Notify,
    tracker: TaskTracker,
    /// Chargers whose `user`, `site` or `flex` sources changed (a plan must be made again).
    changes: broadcast::Sender<ChargerId>,
}

impl LimitKeeper {
    /// A keeper over `store`, reaching chargers through `control`; remote starts after an on/off
    /// limit lifts use `remote_start_id_tag`.
    pub fn new(
        store: Arc<dyn Store>,
        control: Arc<dyn ChargerControl>,
        remote_start_id_tag: String,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                control,
                remote_start_id_tag,
                clock,
                applying: Mutex::new(HashMap::new()),
                wake: Notify::new(),
                tracker: TaskTracker::new(),
                changes: broadcast::channel(4096).0,
            }),
        }
    }

    /// Chargers whose sources other than a plan changed from now on (a max current, a site limit
    /// set or deleted), so smart charging makes their plans again. A receiver that falls behind is
    /// told so (`Lagged`) and should look at every plan again.
    pub fn subscribe_changes(&self) -> broadcast::Receiver<ChargerId> {
        self.inner.changes.subscribe()
    }

    /// Tells smart charging that `chargers`' sources changed.
    pub(crate) fn announce(&self, chargers: &[ChargerId]) {
        for charger in chargers {
            // No receivers is the usual case without smart charging, and not an error.
            let _ = self.inner.changes.send(charger.clone());
        }
    }

    fn lock_for(&self, charger: &ChargerId) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self
            .inner
            .applying
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.entry(charger.clone()).or_default().clone()
    }

    /// Applies `chargers`' limits in the background (after a source was set or deleted), and
    /// wakes the keeper's task so it knows the new windows. The chargers whose sockets this node
    /// does not hold are named in a signal, so the node that holds one applies its limits.
    pub fn changed(&self, chargers: Vec<ChargerId>) {
        self.inner.wake.notify_one();
        self.announce(&chargers);
        let (here, elsewhere): (Vec<_>, Vec<_>) = chargers
            .into_iter()
            .partition(|charger| self.inner.control.is_connected(charger));
        self.spawn_applies(here);
        if !elsewhere.is_empty() {
            let store = self.inner.store.clone();
            self.inner.tracker.spawn(async move {
                for chunk in elsewhere.chunks(CHARGERS_PER_SIGNAL) {
                    let signal = Signal::LimitsChanged {
                        chargers: chunk.iter().map(|c| c.as_str().to_owned()).collect(),
                    };
                    if let Err(e) = store.signals().publish(&signal).await {
                        // The holder applies them when it next applies every limited charger.
                        tracing::warn!(error = %e, "cannot wake the nodes that hold chargers whose limits changed");
                    }
                }
            });
        }
    }

    /// Puts `charger`'s limits on it now: profiles for a charger that takes them, on/off
    /// otherwise. What was installed is stored, so a restart knows what to clear. A charger whose
    /// socket another node holds is `NotConnected` here, and that node is told to apply them.
    pub async fn apply(&self, charger: &ChargerId) -> Result<Applied, KeeperError> {
        let applied = self.apply_here(charger).await?;
        if matches!(applied, Applied::NotConnected) {
            self.wake_holder(charger).await;
        }
        Ok(applied)
    }

    /// Tells the node that holds `charger`'s socket, if one does, to apply its limits.
    async fn wake_holder(&self, charger: &ChargerId) {
        let store = &self.inner.store;
        match store.charger_owner(charger, coupler_core::time::now()).await {
            Ok(Some(node)) => {
                tracing::debug!(charger_id = %charger, to_node = %node, "waking the node that holds the charger to apply its limits");
                let signal = Signal::LimitsChanged {
                    chargers: vec![charger.as_str().to_owned()],
                };
                if let Err(e) = store.signals().publish(&signal).await {
                    tracing::warn!(charger_id = %charger, error = %e, "cannot wake the node that holds the charger");
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(charger_id = %charger, error = %e, "cannot read which node holds a charger"),
        }
    }

    /// [`LimitKeeper::apply`] on this node only: a charger it does not hold is `NotConnected`.
    #[tracing::instrument(skip(self), fields(charger_id = %charger))]
    async fn apply_here(&self, charger: &ChargerId) -> Result<Applied, KeeperError> {
        let lock = self.lock_for(charger);
        let _one_at_a_time = lock.lock().await;
        let store = &self.inner.store;
        // Asked first: a charger that is not connected is the common case of a replan pass and
        // costs no read.
        if !self.inner.control.is_connected(charger) || store.charger(charger).await?.is_none() {
            return Ok(Applied::NotConnected);
        }
        let now = self.inner.clock.now();
        let sources = store.limit_sources_of_charger(charger).await?;
        let capabilities = store
            .charger_capabilities(charger)
            .await?
            .unwrap_or_else(ChargerCapabilities::unknown);
        let mut state = store.limit_state(charger).await?;
        let session = store.active_session(charger).await?;
        let mut steps = Vec::new();

        if capabilities.takes_profiles() {
            let transaction = session.as_ref().map(|s| RunningTransaction {
                connector_id: s.connector_id,
                transaction_id: s.transaction_id,
            });
            let plan = plan_profiles(&sources, now, transaction, capabilities.max_stack_level);
            let mut refused: Option<String> = None;
            let mut failure: Option<ControlError> = None;
            for planned in &plan {
                let command = format!(
                    "SetChargingProfile {} {} A (stack level {}{})",
                    purpose_name(planned.limit.purpose),
                    planned.limit.periods.first().map_or(0.0, |p| p.limit),
                    planned.limit.stack_level,
                    planned
                        .limit
                        .valid_to
                        .map(|to| format!(", until {}", to.to_rfc3339()))
                        .unwrap_or_default()
                );
                let reply = self
                    .inner
                    .control
                    .send(
                        charger,
                        ChargerCommand::SetLimit {
                            connector_id: planned.connector_id,
                            limit: planned.limit.clone(),
                        },
                    )
                    .await;
                match reply {
                    Ok(reply) if reply.is_accepted() => {
                        steps.push(step(command, true, "Accepted"));
                        if !state.installed_profiles.contains(&planned.limit.profile_id) {
                            state.installed_profiles.push(planned.limit.profile_id);
                        }
                    }
                    Ok(reply) => {
                        let said = said(&reply);
                        steps.push(step(command, false, &said));
                        // A transaction's profile may be refused because the transaction just
                        // ended; any other refusal means the charger takes no profiles.
                        if planned.limit.purpose != LimitPurpose::Transaction {
                            refused = Some(format!("the charger refused SetChargingProfile ({said})"));
                            break;
                        }
                    }
                    Err(ControlError::CallError { code, description })
                        if matches!(code.as_str(), "NotImplemented" | "NotSupported") =>
                    {
                        steps.push(step(command, false, &format!("{code}: {description}")));
                        refused = Some(format!("the charger does not implement SetChargingProfile ({code})"));
                        break;
                    }
                    Err(e) => {
                        steps.push(step(command, false, &e.to_string()));
                        failure = Some(e);
                        break;
                    }
                }
            }
            if let Some(why) = refused {
                tracing::info!(
                    reason = why.as_str(),
                    "the charger takes no profiles; limits become on/off"
                );
                store
                    .set_charger_capabilities(charger, &capabilities.refused_profiles(), now)
                    .await?;
                return self.on_off(charger, &sources, session, state, steps, why, now).await;
            }
            if let Some(error) = failure {
                state.last_error = Some(error.to_string());
                store.save_limit_state(charger, &state).await?;
                return Ok(Applied::Failed { steps, error });
            }
            for id in profiles_to_clear(&state.installed_profiles, &plan) {
                let reply = self
                    .inner
                    .control
                    .send(
                        charger,
                        ChargerCommand::ClearLimit {
                            profile_id: Some(id),
                            connector_id: None,
                            purpose: None,
                            stack_level: None,
                        },
                    )
                    .await;
                match reply {
                    // "Unknown" means the charger holds no such profile any more: gone all the same.
                    Ok(reply) => {
                        steps.push(step(format!("ClearChargingProfile {id}"), true, &said(&reply)));
                        state.installed_profiles.retain(|p| *p != id);
                    }
                    Err(e) => steps.push(step(format!("ClearChargingProfile {id}"), false, &e.to_string())),
                }
            }
            let connector = session.as_ref().map_or(1, |s| s.connector_id);
            let verified = self.composite_limit(charger, connector).await;
            state.applied_at = Some(now);
            state.verified_limit_a = verified;
            state.verified_at = verified.map(|_| self.inner.clock.now());
            state.last_error = None;
            store.save_limit_state(charger, &state).await?;
            tracing::info!(profiles = plan.len(), verified_limit_a = ?verified, "limits applied");
            return Ok(Applied::Profiles {
                steps,
                verified_limit_a: verified,
            });
        }
        let why = match capabilities.source.as_str() {
            "SetChargingProfile refused" => "the charger refused charging profiles before".to_owned(),
            source => format!("the charger declared no smart charging ({source})"),
        };
        self.on_off(charger, &sources, session, state, steps, why, now).await
    }

    /// On/off for a charger that takes no profiles: stop charging while the limit in force is
    /// below what an EV charges with; start it again when the limit that stopped it lifts.
    #[expect(clippy::too_many_arguments, reason = "one step of apply, with its state passed on")]
    async fn on_off(
        &self,
        charger: &ChargerId,
        sources: &[coupler_core::limits::LimitSource],
        session: Option<coupler_core::ChargeSession>,
        mut state: coupler_core::limits::ChargerLimitState,
        mut steps: Vec<Step>,
        why: String,
        now: DateTime<Utc>,
    ) -> Result<Applied, KeeperError> {
        let store = &self.inner.store;
        let limit_a = compose(sources, now).limit_a;
        let off = OnOff::for_limit(limit_a) == OnOff::Off;
        let mut failure = None;
        if off {
            if let Some(session) = &session {
                let command = format!(
                    "RemoteStopTransaction {} (limit {} A is below 6 A)",
                    session.transaction_id,
                    limit_a.unwrap_or_default()
                );
                match self
                    .inner
                    .control
                    .send(
                        charger,
                        ChargerCommand::RemoteStop {
                            transaction_id: session.transaction_id,
                        },
                    )
                    .await
                {
                    Ok(reply) => {
                        steps.push(step(command, reply.is_accepted(), &said(&reply)));
                        state.held_off = true;
                    }
                    Err(e) => {
                        steps.push(step(command, false, &e.to_string()));
                        failure = Some(e);
                    }
                }
            } else {
                state.held_off = true;
            }
        } else if state.held_off {
            let charger_row = store.charger(charger).await?;
            let plugged = charger_row.as_ref().and_then(|c| {
                c.connectors
                    .iter()
                    .find(|c| c.connector_id > 0 && c.power_delivery_state.is_plugged_in())
                    .map(|c| c.connector_id)
            });
            match (session.is_some(), plugged) {
                (false, Some(connector)) => {
                    let command = format!("RemoteStartTransaction on connector {connector} (the limit lifted)");
                    match self
                        .inner
                        .control
                        .send(
                            charger,
                            ChargerCommand::RemoteStart {
                                connector_id: Some(connector),
                                id_tag: self.inner.remote_start_id_tag.clone(),
                                limit: None,
                            },
                        )
                        .await
                    {
                        Ok(reply) => {
                            steps.push(step(command, reply.is_accepted(), &said(&reply)));
                            state.held_off = false;
                        }
                        Err(e) => {
                            steps.push(step(command, false, &e.to_string()));
                            failure = Some(e);
                        }
                    }
                }
                // Charging runs again, or the car left: nothing is held off any more.
                _ => state.held_off = false,
            }
        }
        state.applied_at = Some(now);
        state.last_error = failure.as_ref().map(ToString::to_string);
        store.save_limit_state(charger, &state).await?;
        if let Some(error) = failure {
            return Ok(Applied::Failed { steps, error });
        }
        Ok(Applied::OnOff {
            why,
            steps,
            limit_a,
            off,
        })
    }

    /// The first limit of the charger's composite schedule on `connector`, amperes, if it gives one.
    pub async fn composite_limit(&self, charger: &ChargerId, connector: u32) -> Option<f64> {
        match self.composite_schedule(charger, connector).await {
            Some(periods) => periods.first().map(|p| p.1),
            None => None,
        }
    }

    /// The charger's composite schedule on `connector` for the next five minutes, as
    /// (seconds from now, amperes), when it answers one in amperes.
    pub async fn composite_schedule(&self, charger: &ChargerId, connector: u32) -> Option<Vec<(u32, f64)>> {
        self.composite_schedule_over(charger, connector, VERIFY_HORIZON_S).await
    }

    /// The charger's composite schedule on `connector` for the next `duration_s` seconds, as
    /// (seconds from now, amperes), when it answers one in amperes.
    pub async fn composite_schedule_over(
        &self,
        charger: &ChargerId,
        connector: u32,
        duration_s: u32,
    ) -> Option<Vec<(u32, f64)>> {
        let ask = ChargerCommand::GetCompositeSchedule {
            connector_id: connector,
            duration_s,
            unit: Some(RateUnit::Amperes),
        };
        match self.inner.control.send(charger, ask).await {
            Ok(CommandReply::CompositeSchedule {
                accepted: true,
                unit: Some(RateUnit::Amperes),
                periods,
            }) => Some(periods.iter().map(|p| (p.start_offset_s, p.limit)).collect()),
            Ok(other) => {
                tracing::debug!(?other, "no usable composite schedule");
                None
            }
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the composite schedule");
                None
            }
        }
    }

    /// Wakes the keeper's task to look at the window edges again (a plan was put on a charger).
    pub fn edges_changed(&self) {
        self.inner.wake.notify_one();
    }

    /// Applies every limited charger's limits, each in its own task (start-up, or after missing
    /// ready signals).
    async fn apply_all(&self) {
        match self.inner.store.chargers_with_limits().await {
            Ok(chargers) => self.spawn_applies(chargers),
            Err(e) => tracing::warn!(error = %e, "cannot list limited chargers"),
        }
    }

    /// Applies the limits of the chargers whose sources' windows opened or closed after `after` and
    /// by `until` (so ended sources are cleared and on/off chargers switched). Only those: at an
    /// edge of one event target's window, applying every limited charger again made an event with
    /// 10,000 staggered starts 10,000 applications per edge.
    async fn apply_edges(&self, after: DateTime<Utc>, until: DateTime<Utc>) {
        match self.inner.store.chargers_with_limit_edges(after, until).await {
            Ok(chargers) => self.spawn_applies(chargers),
            Err(e) => tracing::warn!(error = %e, "cannot list the chargers at a window edge"),
        }
    }

    /// Applies each charger's limits in a task of its own, so a charger slow to answer holds up no
    /// other (applications to one charger still run one at a time). Only this node's chargers
    /// are reached: the others are another node's to apply.
    fn spawn_applies(&self, chargers: Vec<ChargerId>) {
        for charger in chargers {
            let keeper = self.clone();
            self.inner.tracker.spawn(async move {
                if let Err(e) = keeper.apply_here(&charger).await {
                    tracing::warn!(charger_id = %charger, error = %e, "cannot apply limits");
                }
            });
        }
    }

    /// Whether Coupler keeps limits on `charger`: it has sources, or profiles Coupler installed, or
    /// charging held off.
    async fn is_limited(&self, charger: &ChargerId) -> Result<bool, KeeperError> {
        let store = &self.inner.store;
        if !store.limit_sources_of_charger(charger).await?.is_empty() {
            return Ok(true);
        }
        let state = store.limit_state(charger).await?;
        Ok(!state.installed_profiles.is_empty() || state.held_off)
    }

    /// Applies the limits of a charger that takes no profiles after its plug or transaction
    /// changed: a transaction it starts by itself while held off is stopped again.
    async fn on_plug_change(&self, charger: &ChargerId) -> Result<(), KeeperError> {
        let store = &self.inner.store;
        let on_off = store
            .charger_capabilities(charger)
            .await?
            .is_some_and(|c| !c.takes_profiles());
        if on_off && self.is_limited(charger).await? {
            self.spawn_applies(vec![charger.clone()]);
        }
        Ok(())
    }

    /// Runs the keeper: limits are applied at start-up, whenever a charger connects or boots
    /// (`ready`), at every window edge on the chargers it concerns (so ended sources are cleared
    /// and on/off chargers switched), and, for chargers that take no profiles, when their plug or transaction changes
    /// (`plug_changes`), when another node changed the sources of chargers this node holds
    /// ([`Signal::LimitsChanged`]), until the server's `tasks` stop.
    pub fn spawn(
        &self,
        mut ready: broadcast::Receiver<ChargerId>,
        mut plug_changes: broadcast::Receiver<ChargerId>,
        tasks: &Tasks,
    ) {
        let keeper = self.clone();
        let shutdown = tasks.token().clone();
        let mut signals = self.inner.store.signals().subscribe();
        tasks.spawn("limit keeper", async move {
            // Edges up to here are covered by applying every limited charger at start-up.
            let mut edges_seen_until = keeper.inner.clock.now();
            keeper.apply_all().await;
            // The next window edge, read again only when the windows may have changed (a wake, a
            // signal about limits, the edge passed): the loop also turns for every connecting
            // charger and plug change, which at a fleet's scale made this read the busiest query.
            let mut next_edge = None;
            let mut edges_known = false;
            // The safety net's own deadline: a sleep of IDLE_RECHECK begun afresh at every turn
            // would never end while chargers keep connecting.
            let mut recheck_at = tokio::time::Instant::now() + IDLE_RECHECK;
            loop {
                let now = keeper.inner.clock.now();
                if !edges_known {
                    next_edge = keeper.inner.store.next_limit_edge(now).await.ok().flatten();
                    edges_known = true;
                }
                let wake_at = match next_edge {
                    // A moment after the edge, so the source counts as ended.
                    Some(edge) if edge > now => {
                        tokio::time::Instant::now()
                            + keeper.inner.clock.wall_time(edge - now)
                            + Duration::from_millis(50)
                    }
                    Some(_) => tokio::time::Instant::now() + Duration::from_millis(50),
                    None => recheck_at,
                }
                .min(recheck_at);
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = keeper.inner.wake.notified() => edges_known = false,
                    _ = tokio::time::sleep_until(wake_at) => {
                        let now = keeper.inner.clock.now();
                        keeper.apply_edges(edges_seen_until, now).await;
                        edges_seen_until = edges_seen_until.max(now);
                        edges_known = false;
                        recheck_at = tokio::time::Instant::now() + IDLE_RECHECK;
                    }
                    received = ready.recv() => match received {
                        Ok(charger) => match keeper.is_limited(&charger).await {
                            Ok(true) => keeper.spawn_applies(vec![charger]),
                            Ok(false) => {}
                            Err(e) => tracing::warn!(charger_id = %charger, error = %e, "cannot look at limits"),
                        },
                        Err(broadcast::error::RecvError::Lagged(_)) => keeper.apply_all().await,
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                    changed = plug_changes.recv() => match changed {
                        Ok(charger) => {
                            if let Err(e) = keeper.on_plug_change(&charger).await {
                                tracing::warn!(charger_id = %charger, error = %e, "cannot apply on/off limits");
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => keeper.apply_all().await,
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                    heard = signals.recv() => match heard {
                        Some(Heard::Signal(Signal::LimitsChanged { chargers })) => {
                            edges_known = false;
                            let here: Vec<ChargerId> = chargers
                                .into_iter()
                                .map(ChargerId::new)
                                .filter(|charger| keeper.inner.control.is_connected(charger))
                                .collect();
                            if !here.is_empty() {
                                tracing::debug!(chargers = here.len(), "another node changed the limits of chargers held here");
                                keeper.spawn_applies(here);
                            }
                        }
                        Some(Heard::Missed) => {
                            edges_known = false;
                            keeper.apply_all().await;
                        }
                        Some(Heard::Signal(Signal::LimitSourcesChanged { .. })) => edges_known = false,
                        Some(Heard::Signal(_)) => {}
                        None => signals = Box::new(crate::runner::Silent),
                    },
                }
            }
            // Applications under way finish (or see the charger go) before the keeper ends.
            keeper.inner.tracker.close();
            keeper.inner.tracker.wait().await;
        });
    }
}

fn step(command: String, accepted: bool, answer: &str) -> Step {
    Step {
        command,
        accepted,
        answer: answer.to_owned(),
    }
}

fn said(reply: &CommandReply) -> String {
    reply.status().to_owned()
}

fn purpose_name(purpose: LimitPurpose) -> &'static str {
    match purpose {
        LimitPurpose::Transaction => "TxProfile",
        LimitPurpose::TransactionDefault => "TxDefaultProfile",
        LimitPurpose::StationMax => "StationMaxProfile",
    }
}
