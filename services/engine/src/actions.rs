//! Vehicle actions: start, stop and max current through the vehicle's maker, settled by what Coupler
//! reads from the vehicle afterwards, never by the maker's acknowledgement.
//!
//! An action is stored before anything is sent. The runner then sends the command (waking the car
//! only if the command found it asleep), records every try as an attempt, and reads the vehicle until
//! it is in the target state (CONFIRMED), a refusal shows it cannot get there (FAILED with
//! FAILED_PRECONDITION), or the deadline passes (FAILED with NO_RESPONSE). Pending actions are
//! picked up again after a restart, so none stays PENDING forever. Routing across a vehicle and its
//! charger comes with EV systems; for now the vehicle is the only route.
//!
//! The runner works on the actions of the node it runs on; with several nodes, each would try the
//! same pending action (the action store has no per-action lease yet).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use coupler_core::action::{Attempt, AttemptOutcome, TargetState};
use coupler_core::adapter::VehicleRef;
use coupler_core::capability::VehicleCapabilities;
use coupler_core::ev_system::{feed_vehicle, unlock, ChargerRoute, ChargerSide, PairState};
use coupler_core::vehicle::{ChargeState, PowerDeliveryState};
use coupler_core::{
    time, Action, ActionKind, AdapterError, ChargerId, ClientId, DeviceKind, FailureType, Vehicle, VehicleAdapter,
    VehicleId,
};
use tokio_util::sync::CancellationToken;

use crate::charger_actions::Settle;
use crate::credentials::with_fresh_token;
use crate::{Engine, EngineError};

/// A command on a vehicle, as the API asks for it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum VehicleCommand {
    /// Start charging.
    Start,
    /// Stop charging.
    Stop,
    /// Draw at most this many amperes.
    SetMaxCurrent(u32),
}

impl VehicleCommand {
    fn kind(self) -> ActionKind {
        match self {
            Self::Start => ActionKind::Start,
            Self::Stop => ActionKind::Stop,
            Self::SetMaxCurrent(_) => ActionKind::SetMaxCurrent,
        }
    }

    fn target(self) -> TargetState {
        match self {
            Self::Start => TargetState::charging(true),
            Self::Stop => TargetState::charging(false),
            Self::SetMaxCurrent(amps) => TargetState::max_current(f64::from(amps)),
        }
    }
}

/// A vehicle's pairs as routing sees them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VehiclePairing {
    /// The charger the vehicle is matched with now.
    pub activated: Option<ChargerId>,
    /// The charger side, when the vehicle has any pair.
    pub route: Option<ChargerRoute>,
    /// When none is activated: when the latest pair was deactivated (the charger saw the unplug),
    /// so that older maker data is not shown as if the vehicle were still plugged in.
    pub deactivated_at: Option<DateTime<Utc>>,
}

/// What a try through a charger left to do.
enum Next {
    /// The action is settled (or was settled elsewhere).
    Done,
    /// That route failed; try the next.
    NextRoute,
}

/// Whether two kinds compete for the same thing (START and STOP both decide whether it charges).
fn conflicting(a: ActionKind, b: ActionKind) -> bool {
    let charging = |k| matches!(k, ActionKind::Start | ActionKind::Stop);
    a == b || (charging(a) && charging(b))
}

/// What an observed charge state says about an action's target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The vehicle is in the target state.
    Reached,
    /// Not yet.
    NotYet,
    /// The vehicle cannot get there without the user (unplugged, full, no power, fault).
    Impossible(String),
}

/// Judges an observed charge state against an action's target.
pub fn verdict(kind: ActionKind, target: &TargetState, state: &ChargeState) -> Verdict {
    match kind {
        ActionKind::Start => {
            if state.is_charging == Some(true) {
                return Verdict::Reached;
            }
            match state.power_delivery_state {
                Some(PowerDeliveryState::Unplugged) => Verdict::Impossible("the vehicle is not plugged in".into()),
                Some(PowerDeliveryState::Complete) => {
                    Verdict::Impossible("the vehicle is at its charge limit, so it does not charge".into())
                }
                Some(PowerDeliveryState::NoPower) => Verdict::Impossible("the charger gives no power".into()),
                Some(PowerDeliveryState::Fault) => Verdict::Impossible("the vehicle reports a charging fault".into()),
                _ => Verdict::NotYet,
            }
        }
        ActionKind::Stop => {
            if state.is_charging == Some(false) {
                Verdict::Reached
            } else {
                Verdict::NotYet
            }
        }
        ActionKind::SetMaxCurrent => match (target.max_current, state.max_current) {
            (Some(want), Some(have)) if (want - have).abs() < 0.5 => Verdict::Reached,
            _ => Verdict::NotYet,
        },
    }
}

impl Engine {
    /// What the vehicle can do now: the maker's support for the model, the granted scopes, and the
    /// account's state; a vendor not configured on this node can do nothing.
    pub fn vehicle_capabilities(&self, vehicle: &Vehicle) -> VehicleCapabilities {
        let model = if self.adapters.get(&vehicle.vendor).is_some() {
            vehicle.model_capabilities.clone()
        } else {
            vehicle
                .model_capabilities
                .without_commands(&format!("vendor {} is not configured on this Coupler", vehicle.vendor))
        };
        VehicleCapabilities::derive(&model, &vehicle.scopes, vehicle.account_intervention.as_ref())
    }

    /// The vehicle's pairs as routing sees them: the charger it is matched with now (if any), and
    /// whether it has a charger at all. Without an attached charger engine there is no charger route.
    pub async fn pairing_of(&self, vehicle: &Vehicle) -> Result<VehiclePairing, EngineError> {
        let Some(chargers) = self.chargers.get() else {
            return Ok(VehiclePairing::default());
        };
        let pairs = self
            .store
            .ev_systems_of_vehicle(&vehicle.client_id, &vehicle.id)
            .await?;
        let activated = pairs
            .iter()
            .find(|p| p.state == PairState::Activated)
            .map(|p| p.charger_id.clone());
        let route = (!pairs.is_empty()).then(|| ChargerRoute {
            activated: activated.is_some(),
            connected: activated.as_ref().is_some_and(|id| chargers.control().is_connected(id)),
        });
        let deactivated_at = if activated.is_some() {
            None
        } else {
            pairs.iter().filter_map(|p| p.deactivated_at).max()
        };
        Ok(VehiclePairing {
            activated,
            route,
            deactivated_at,
        })
    }

    /// What the vehicle can do with its pairs taken into account: an established pair unlocks the
    /// commands the maker lacks, and `via` lists the devices in the order they are tried.
    pub async fn effective_capabilities(&self, vehicle: &Vehicle) -> Result<VehicleCapabilities, EngineError> {
        let pairing = self.pairing_of(vehicle).await?;
        Ok(unlock(&self.vehicle_capabilities(vehicle), pairing.route))
    }

    /// Creates a vehicle action, stored before anything is sent. A command the vehicle cannot do is
    /// refused with the reason. An identical pending action is returned instead of a new one; a
    /// conflicting one (STOP while START is pending, another current) is cancelled with CONFLICT.
    pub async fn request_vehicle_action(
        &self,
        client: &ClientId,
        vehicle_id: &VehicleId,
        command: VehicleCommand,
        idempotency_key: Option<String>,
    ) -> Result<Action, EngineError> {
        let (kind, target) = (command.kind(), command.target());
        if let Some(key) = &idempotency_key {
            if let Some(existing) = self.store.find_action_by_idempotency_key(client, key).await? {
                let same = existing.target_type == DeviceKind::Vehicle
                    && existing.target_id == vehicle_id.as_str()
                    && existing.kind == kind
                    && existing.target_state == target;
                return if same {
                    Ok(existing)
                } else {
                    Err(EngineError::IdempotencyKeyReused(
                        "this Idempotency-Key was already used for a different request".into(),
                    ))
                };
            }
        }
        let vehicle = self
            .store
            .get_vehicle(client, vehicle_id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("no vehicle '{vehicle_id}'")))?;
        if let Some(why) = self.effective_capabilities(&vehicle).await?.refusal(kind) {
            return Err(EngineError::Refused(why));
        }

        let now = time::now();
        for pending in self
            .store
            .pending_actions_for(DeviceKind::Vehicle, vehicle_id.as_str())
            .await?
        {
            if pending.client_id != *client || !conflicting(pending.kind, kind) {
                continue;
            }
            if pending.kind == kind && pending.target_state == target && idempotency_key.is_none() {
                return Ok(pending);
            }
            let mut replaced = pending;
            replaced.update_last_attempt(AttemptOutcome::Cancelled, None, now);
            replaced.cancel(
                FailureType::Conflict,
                "replaced by a newer action on the same vehicle",
                now,
            );
            self.store.update_action(&replaced).await?;
        }

        let timeout = chrono::Duration::from_std(self.config.action_timeout).unwrap_or(chrono::Duration::minutes(10));
        let action = Action::new(
            client.clone(),
            vehicle.user_id.clone(),
            DeviceKind::Vehicle,
            vehicle_id.as_str().to_owned(),
            kind,
            target,
            idempotency_key,
            now,
            timeout,
        );
        self.store.insert_action(&action).await?;
        tracing::info!(action_id = %action.id, vehicle_id = %vehicle_id, kind = kind.as_str(), "vehicle action created");
        self.actions_now.notify_one();
        Ok(action)
    }

    /// Starts a runner for every pending vehicle action this node is not already running.
    async fn start_pending(self: &Arc<Self>, shutdown: &CancellationToken) -> Result<(), EngineError> {
        for action in self.store.pending_actions().await? {
            if action.target_type != DeviceKind::Vehicle {
                continue;
            }
            let fresh = self
                .running_actions
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(action.id.as_str().to_owned());
            if fresh {
                let engine = self.clone();
                let shutdown = shutdown.clone();
                tokio::spawn(async move {
                    let id = action.id.clone();
                    if let Err(e) = engine.drive(action, &shutdown).await {
                        tracing::warn!(action_id = %id, error = %e, "vehicle action runner failed; it will be resumed");
                    }
                    engine
                        .running_actions
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .remove(id.as_str());
                });
            }
        }
        Ok(())
    }

    /// Sleeps `wait`, but not past `deadline` and not past shutdown; `false` on shutdown.
    async fn pause(wait: Duration, deadline: DateTime<Utc>, shutdown: &CancellationToken) -> bool {
        let left = (deadline - time::now()).to_std().unwrap_or_default();
        tokio::select! {
            _ = shutdown.cancelled() => false,
            _ = tokio::time::sleep(wait.min(left) + Duration::from_millis(10)) => true,
        }
    }

    /// Saves the action; `false` when it was settled elsewhere meanwhile (cancelled by the client).
    async fn save(&self, action: &Action) -> Result<bool, EngineError> {
        Ok(self.store.update_action(action).await?)
    }

    /// The matched charger's side of the merged state.
    async fn charger_side(&self, charger: Option<&ChargerId>) -> Result<Option<(ChargerSide, ChargerId)>, EngineError> {
        let Some(id) = charger else { return Ok(None) };
        let Some(found) = self.store.charger(id).await? else {
            return Ok(None);
        };
        let session = self.store.active_session(id).await?;
        let side = ChargerSide {
            state: found.charge_state(session.as_ref()),
            last_seen: found.last_seen,
        };
        Ok(Some((side, id.clone())))
    }

    /// Tries the action through `charger` for at most the route timeout, and settles it when that
    /// is decisive (confirmed, or unnecessary). Otherwise the try stays on the action as a failed
    /// attempt and the next route is due.
    async fn try_charger(
        &self,
        action: &mut Action,
        charger: &ChargerId,
        shutdown: &CancellationToken,
    ) -> Result<Next, EngineError> {
        let Some(chargers) = self.chargers.get() else {
            return Ok(Next::NextRoute);
        };
        let route = chrono::Duration::from_std(self.config.charger_route_timeout).unwrap_or_default();
        let deadline = (time::now() + route).min(action.deadline);
        let settle = tokio::select! {
            _ = shutdown.cancelled() => return Ok(Next::Done),
            settle = crate::charger_actions::carry_out(chargers, action, charger, deadline) => settle,
        };
        let now = time::now();
        match settle {
            Settle::Gone => Ok(Next::Done),
            Settle::Confirmed => {
                action.confirm(now);
                if self.save(action).await? {
                    tracing::info!(action_id = %action.id, charger_id = %charger, "vehicle action confirmed through its charger");
                }
                Ok(Next::Done)
            }
            Settle::Failed(FailureType::Unnecessary, detail) => {
                action.fail(FailureType::Unnecessary, detail, now);
                self.save(action).await?;
                Ok(Next::Done)
            }
            Settle::Failed(_, detail) => {
                tracing::info!(action_id = %action.id, charger_id = %charger, detail, "the charger route failed; trying the next");
                // The try noted how it ended on the action; saved here, the action stays pending.
                if self.save(action).await? {
                    Ok(Next::NextRoute)
                } else {
                    Ok(Next::Done)
                }
            }
        }
    }

    /// Carries one action through to a final state.
    async fn drive(&self, mut action: Action, shutdown: &CancellationToken) -> Result<(), EngineError> {
        let vehicle_id = VehicleId::new(action.target_id.clone());
        let mut wakes = 0u32;
        let mut failures = 0u32;
        loop {
            // The client may have cancelled it, or a newer action replaced it.
            match self.store.get_action(&action.client_id, &action.id).await? {
                Some(current) if !current.state.is_final() => action = current,
                _ => return Ok(()),
            }
            let now = time::now();
            let sent_at = action
                .attempts
                .last()
                .filter(|a| a.outcome == AttemptOutcome::Sent)
                .map(|a| a.at);
            if now >= action.deadline {
                let outcome = if sent_at.is_some() {
                    AttemptOutcome::NoEffect
                } else {
                    AttemptOutcome::NoResponse
                };
                action.update_last_attempt(outcome, None, now);
                action.fail(
                    FailureType::NoResponse,
                    "the vehicle was not seen in the target state before the deadline",
                    now,
                );
                self.save(&action).await?;
                return Ok(());
            }
            let Some(vehicle) = self.store.get_vehicle(&action.client_id, &vehicle_id).await? else {
                action.fail(FailureType::NotFound, "the vehicle was removed", now);
                self.save(&action).await?;
                return Ok(());
            };

            // A try through a charger that a restart cut short is watched again.
            let charger_in_flight = action
                .attempts
                .last()
                .filter(|a| a.outcome == AttemptOutcome::Sent && a.via == DeviceKind::Charger)
                .map(|a| ChargerId::new(a.device_id.clone()));
            if let Some(charger) = charger_in_flight {
                match self.try_charger(&mut action, &charger, shutdown).await? {
                    Next::Done => return Ok(()),
                    Next::NextRoute => continue,
                }
            }
            let pairing = self.pairing_of(&vehicle).await?;

            if let Some(sent_at) = sent_at {
                // Confirm by observed state: read the vehicle, then judge only data read after sending.
                let _ = self.poll_claimed(vehicle.clone(), true).await?;
                let Some(seen) = self.store.get_vehicle(&action.client_id, &vehicle_id).await? else {
                    continue;
                };
                let mut judged = verdict(action.kind, &action.target_state, &seen.charge_state);
                if judged != Verdict::Reached {
                    if let Some(charger_state) = self.charger_side(pairing.activated.as_ref()).await? {
                        let merged = feed_vehicle(&seen.charge_state, &charger_state.0, &charger_state.1);
                        if verdict(action.kind, &action.target_state, &merged) == Verdict::Reached {
                            judged = Verdict::Reached;
                        }
                    }
                }
                if seen.last_seen.is_some_and(|at| at >= sent_at) || judged == Verdict::Reached {
                    match judged {
                        Verdict::Reached => {
                            let at = time::now();
                            action.update_last_attempt(AttemptOutcome::Confirmed, None, at);
                            action.confirm(at);
                            if self.save(&action).await? {
                                tracing::info!(action_id = %action.id, "vehicle action confirmed");
                            }
                            return Ok(());
                        }
                        Verdict::Impossible(why) => {
                            let at = time::now();
                            action.update_last_attempt(AttemptOutcome::NoEffect, Some(why.clone()), at);
                            action.fail(FailureType::FailedPrecondition, why, at);
                            self.save(&action).await?;
                            return Ok(());
                        }
                        Verdict::NotYet => {}
                    }
                }
                // Acknowledged, but the state has not followed for half the time allowed: send once
                // more (a maker's "accepted" is not the car doing it).
                let half = chrono::Duration::from_std(self.config.action_timeout / 2).unwrap_or_default();
                let resent = action.attempts.iter().any(|a| a.outcome == AttemptOutcome::NoEffect);
                if !resent && time::now() - sent_at >= half {
                    action.update_last_attempt(
                        AttemptOutcome::NoEffect,
                        Some("the vehicle did not follow; sending again".into()),
                        time::now(),
                    );
                    if !self.save(&action).await? {
                        return Ok(());
                    }
                    continue;
                }
                if !Self::pause(self.config.confirm_every, action.deadline, shutdown).await {
                    return Ok(());
                }
                continue;
            }

            // Not sent yet (or the last try failed): pick the route. The matched charger goes first
            // (it obeys at once and never sleeps), once per action; then the vehicle, if its maker
            // allows the command.
            if let Some(charger) = &pairing.activated {
                let tried = action
                    .attempts
                    .iter()
                    .any(|a| a.via == DeviceKind::Charger && a.device_id == charger.as_str());
                if !tried && pairing.route.is_some_and(|r| r.connected) {
                    match self.try_charger(&mut action, charger, shutdown).await? {
                        Next::Done => return Ok(()),
                        Next::NextRoute => continue,
                    }
                }
            }
            if let Some(why) = self.vehicle_capabilities(&vehicle).refusal(action.kind) {
                let charger_tried = action.attempts.iter().any(|a| a.via == DeviceKind::Charger);
                if pairing.route.is_some() && pairing.activated.is_none() && !charger_tried {
                    // Established but not (yet) plugged into each other: the charger may be
                    // matched any moment; a command goes to a charger only once it is.
                    if !Self::pause(Duration::from_secs(1), action.deadline, shutdown).await {
                        return Ok(());
                    }
                    if time::now() >= action.deadline {
                        action.fail(
                            FailureType::FailedPrecondition,
                            format!("{why}, and no charger was confirmed plugged into the vehicle"),
                            time::now(),
                        );
                        self.save(&action).await?;
                        return Ok(());
                    }
                    continue;
                }
                // When the charger was tried, its failure is the action's: a charger that did not
                // answer or did not follow is NO_RESPONSE, one that refused is FAILED_PRECONDITION.
                let (failure, detail) = match action.attempts.last() {
                    Some(last) if last.via == DeviceKind::Charger => (
                        if matches!(last.outcome, AttemptOutcome::NoResponse | AttemptOutcome::NoEffect) {
                            FailureType::NoResponse
                        } else {
                            FailureType::FailedPrecondition
                        },
                        format!(
                            "the paired charger did not carry it out ({}), and {why}",
                            last.detail.clone().unwrap_or_else(|| "no effect".into())
                        ),
                    ),
                    _ => (FailureType::FailedPrecondition, why),
                };
                action.fail(failure, detail, now);
                self.save(&action).await?;
                return Ok(());
            }
            let adapter = self.adapter_for(&vehicle.vendor)?.clone();
            let limits = adapter.description().limits;
            if let Err(wait) = self.limiter.try_take(&vehicle.vendor, &limits) {
                if !Self::pause(wait, action.deadline, shutdown).await {
                    return Ok(());
                }
                continue;
            }
            let Some(account) = self
                .store
                .get_vendor_account(&action.client_id, &vehicle.account_id)
                .await?
            else {
                action.fail(FailureType::NotFound, "the vehicle's account was removed", now);
                self.save(&action).await?;
                return Ok(());
            };
            let vehicle_ref = VehicleRef {
                vendor_vehicle_id: &vehicle.vendor_vehicle_id,
                vin: vehicle.information.vin.as_deref(),
                meta: &vehicle.vendor_meta,
            };
            let target = action.target_state;
            let kind = action.kind;
            let sent = with_fresh_token!(self, adapter.as_ref(), account, |creds| send_command(
                adapter.as_ref(),
                creds,
                vehicle_ref,
                kind,
                &target
            ));
            let mut attempt = Attempt {
                via: DeviceKind::Vehicle,
                device_id: vehicle.id.as_str().to_owned(),
                at: time::now(),
                outcome: AttemptOutcome::Sent,
                detail: None,
            };
            let wait = match sent {
                Ok(()) => {
                    action.record_attempt(attempt);
                    if !self.save(&action).await? {
                        return Ok(());
                    }
                    // Give the car a moment before the first read.
                    self.config.confirm_every.min(Duration::from_secs(2))
                }
                Err(AdapterError::Asleep(detail)) if wakes < 3 => {
                    wakes += 1;
                    attempt.outcome = AttemptOutcome::Unreachable;
                    attempt.detail = Some(format!("asleep; waking it ({detail})"));
                    action.record_attempt(attempt);
                    if !self.save(&action).await? {
                        return Ok(());
                    }
                    // A command needs the car awake: this is the one place Coupler wakes a car.
                    let woke = with_fresh_token!(self, adapter.as_ref(), account, |creds| adapter
                        .wake(creds, vehicle_ref));
                    if let Err(e) = woke {
                        tracing::info!(action_id = %action.id, error = %e, "wake-up failed");
                    }
                    self.config.wake_wait
                }
                Err(AdapterError::RateLimited { retry_after, detail }) => {
                    attempt.outcome = AttemptOutcome::NoResponse;
                    attempt.detail = Some(format!("rate limited by the vendor: {detail}"));
                    action.record_attempt(attempt);
                    if !self.save(&action).await? {
                        return Ok(());
                    }
                    retry_after.unwrap_or(Duration::from_secs(60))
                }
                Err(
                    error @ (AdapterError::Refused(_)
                    | AdapterError::NotCapable(_)
                    | AdapterError::CredentialsInvalid(_)),
                ) => {
                    let why = match &error {
                        AdapterError::CredentialsInvalid(_) => {
                            "the vendor refused the account's credentials; the user must link it again".to_owned()
                        }
                        other => other.to_string(),
                    };
                    attempt.outcome = AttemptOutcome::Rejected;
                    attempt.detail = Some(error.to_string());
                    action.record_attempt(attempt);
                    action.fail(FailureType::FailedPrecondition, why, time::now());
                    self.save(&action).await?;
                    return Ok(());
                }
                Err(error) => {
                    failures += 1;
                    attempt.outcome = if matches!(error, AdapterError::Asleep(_)) {
                        AttemptOutcome::Unreachable
                    } else {
                        AttemptOutcome::NoResponse
                    };
                    attempt.detail = Some(error.to_string());
                    action.record_attempt(attempt);
                    if !self.save(&action).await? {
                        return Ok(());
                    }
                    self.config.poll_policy.backoff(failures).min(Duration::from_secs(60))
                }
            };
            if !Self::pause(wait, action.deadline, shutdown).await {
                return Ok(());
            }
        }
    }
}

async fn send_command(
    adapter: &dyn VehicleAdapter,
    credentials: coupler_core::adapter::Credentials<'_>,
    vehicle: VehicleRef<'_>,
    kind: ActionKind,
    target: &TargetState,
) -> Result<(), AdapterError> {
    match kind {
        ActionKind::Start => adapter.start_charging(credentials, vehicle).await,
        ActionKind::Stop => adapter.stop_charging(credentials, vehicle).await,
        ActionKind::SetMaxCurrent => {
            let amps = target.max_current.unwrap_or_default().round();
            if !(1.0..=1000.0).contains(&amps) {
                return Err(AdapterError::Refused(format!(
                    "{amps} A is not a current a vehicle can be set to"
                )));
            }
            // Rounded and range-checked above, so the conversion is exact.
            adapter.set_max_current(credentials, vehicle, amps as u32).await
        }
    }
}

/// Runs pending vehicle actions until shutdown, resuming those left pending by a restart.
pub(crate) async fn run(engine: Arc<Engine>, shutdown: CancellationToken) {
    loop {
        if let Err(e) = engine.start_pending(&shutdown).await {
            tracing::warn!(error = %e, "cannot look for pending actions");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(engine.config.action_tick) => {}
            _ = engine.actions_now.notified() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(charging: Option<bool>, pds: PowerDeliveryState) -> ChargeState {
        ChargeState {
            is_charging: charging,
            power_delivery_state: Some(pds),
            ..ChargeState::default()
        }
    }

    #[test]
    fn start_is_reached_when_charging_and_impossible_when_unplugged_or_full() {
        let on = TargetState::charging(true);
        assert_eq!(
            verdict(ActionKind::Start, &on, &state(Some(true), PowerDeliveryState::Charging)),
            Verdict::Reached
        );
        assert_eq!(
            verdict(ActionKind::Start, &on, &state(Some(false), PowerDeliveryState::Stopped)),
            Verdict::NotYet
        );
        assert!(matches!(
            verdict(
                ActionKind::Start,
                &on,
                &state(Some(false), PowerDeliveryState::Unplugged)
            ),
            Verdict::Impossible(_)
        ));
        assert!(matches!(
            verdict(
                ActionKind::Start,
                &on,
                &state(Some(false), PowerDeliveryState::Complete)
            ),
            Verdict::Impossible(_)
        ));
    }

    #[test]
    fn stop_is_reached_when_not_charging_and_max_current_when_it_matches() {
        let off = TargetState::charging(false);
        assert_eq!(
            verdict(ActionKind::Stop, &off, &state(Some(false), PowerDeliveryState::Stopped)),
            Verdict::Reached
        );
        assert_eq!(
            verdict(ActionKind::Stop, &off, &state(Some(true), PowerDeliveryState::Charging)),
            Verdict::NotYet
        );
        let sixteen = TargetState::max_current(16.0);
        let mut s = state(Some(true), PowerDeliveryState::Charging);
        s.max_current = Some(10.0);
        assert_eq!(verdict(ActionKind::SetMaxCurrent, &sixteen, &s), Verdict::NotYet);
        s.max_current = Some(16.0);
        assert_eq!(verdict(ActionKind::SetMaxCurrent, &sixteen, &s), Verdict::Reached);
    }

    #[test]
    fn start_and_stop_conflict_and_max_current_conflicts_only_with_itself() {
        assert!(conflicting(ActionKind::Start, ActionKind::Stop));
        assert!(conflicting(ActionKind::SetMaxCurrent, ActionKind::SetMaxCurrent));
        assert!(!conflicting(ActionKind::Start, ActionKind::SetMaxCurrent));
    }
}
