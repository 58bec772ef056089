//! Actions on chargers: START and STOP through remote start and stop of a transaction,
//! SET_MAX_CURRENT through a charging profile; each confirmed by the charger's observed state.

use std::time::Duration;

use coupler_core::action::{Action, ActionKind, Attempt, AttemptOutcome};
use coupler_core::charger::PowerDeliveryState;
use coupler_core::control::{ChargerCommand, CommandReply, ControlError, RateUnit};
use coupler_core::{time, ChargeSession, Charger, ChargerId, DeviceKind, FailureType};

use crate::chargers::ChargerEngine as Engine;

/// A metered current this much above the limit still counts as obeying it (meters and EVs round).
const CURRENT_TOLERANCE_A: f64 = 1.0;
/// A metered current above this means power flows.
const FLOWING_CURRENT_A: f64 = 1.0;
/// The longest single wait for a state change before looking again.
const RECHECK: Duration = Duration::from_secs(1);

/// How an attempt ended, when it ended the action.
pub(crate) enum Settle {
    Confirmed,
    Failed(FailureType, String),
    /// The action was settled elsewhere (cancelled, superseded) while this ran.
    Gone,
}

/// Carries out one charger action to its end.
pub(crate) async fn run(engine: &Engine, mut action: Action) {
    let charger_id = ChargerId::new(action.target_id.clone());
    let deadline = action.deadline;
    let outcome = carry_out(engine, &mut action, &charger_id, deadline).await;
    let now = time::now();
    match outcome {
        Settle::Gone => return,
        Settle::Confirmed => action.confirm(now),
        Settle::Failed(kind, detail) => action.fail(kind, detail, now),
    }
    match engine.inner.store.update_action(&action).await {
        Ok(true) => tracing::info!(action_id = %action.id, state = action.state.as_str(), "action settled"),
        Ok(false) => tracing::info!(action_id = %action.id, "action was settled elsewhere first"),
        Err(e) => tracing::error!(action_id = %action.id, error = %e, "cannot save the settled action"),
    }
}

/// Tries an action through `charger_id` until `deadline`: sends the command (unless a previous run
/// already did) and watches for its effect. The action's own target may be the charger or a vehicle
/// paired with it; the caller settles the action.
pub(crate) async fn carry_out(
    engine: &Engine,
    action: &mut Action,
    charger_id: &ChargerId,
    deadline: chrono::DateTime<chrono::Utc>,
) -> Settle {
    let resumed_after_send = action
        .attempts
        .last()
        .is_some_and(|a| a.outcome == AttemptOutcome::Sent && a.via == DeviceKind::Charger);
    if !resumed_after_send {
        let tries = action.attempts.len();
        match send(engine, action, charger_id).await {
            Ok(()) => {}
            Err(Settle::Failed(kind, detail)) => {
                // A refusal before sending still counts as a try of this route.
                if action.attempts.len() == tries {
                    let outcome = if kind == FailureType::Unnecessary {
                        AttemptOutcome::Confirmed
                    } else {
                        AttemptOutcome::Rejected
                    };
                    if let Err(settle) = record(engine, action, charger_id, outcome, Some(detail.clone())).await {
                        return settle;
                    }
                }
                return Settle::Failed(kind, detail);
            }
            Err(settle) => return settle,
        }
    }
    observe(engine, action, charger_id, deadline).await
}

/// Checks preconditions and sends the command; `Err` settles the action.
async fn send(engine: &Engine, action: &mut Action, charger_id: &ChargerId) -> Result<(), Settle> {
    let store = &engine.inner.store;
    let control = &engine.inner.chargers;
    let (charger, session) = match load(engine, charger_id).await {
        Some(found) => found,
        None => {
            return Err(Settle::Failed(
                FailureType::NotFound,
                "the charger no longer exists".into(),
            ))
        }
    };
    if !control.is_connected(charger_id) {
        record(
            engine,
            action,
            charger_id,
            AttemptOutcome::Unreachable,
            Some("the charger is not connected".into()),
        )
        .await?;
        return Err(Settle::Failed(
            FailureType::FailedPrecondition,
            "the charger is not connected to Coupler".into(),
        ));
    }
    let state = charger.charge_state(session.as_ref());
    let command = match action.kind {
        ActionKind::Start => {
            if state.is_charging {
                return Err(Settle::Failed(
                    FailureType::Unnecessary,
                    "the charger is already charging".into(),
                ));
            }
            if !state.is_plugged_in {
                return Err(Settle::Failed(
                    FailureType::FailedPrecondition,
                    "no vehicle is plugged in".into(),
                ));
            }
            if session.is_some() {
                return Err(Settle::Failed(
                    FailureType::FailedPrecondition,
                    "a transaction is running but suspended by the charger or the vehicle; it cannot be started again"
                        .into(),
                ));
            }
            let connector = plugged_connector(&charger);
            ChargerCommand::RemoteStart {
                connector_id: connector,
                id_tag: engine.inner.config.remote_start_id_tag.clone(),
                limit: None,
            }
        }
        ActionKind::Stop => match &session {
            Some(session) => ChargerCommand::RemoteStop {
                transaction_id: session.transaction_id,
            },
            None if state.is_charging => {
                return Err(Settle::Failed(
                    FailureType::FailedPrecondition,
                    "the charger is charging but reported no transaction to stop".into(),
                ));
            }
            None => {
                return Err(Settle::Failed(
                    FailureType::Unnecessary,
                    "the charger is not charging".into(),
                ))
            }
        },
        // limits: max current is the charger's `user` limit source, applied by the limit keeper
        // (profiles, or on/off for a charger that takes none); see `crate::limits`.
        ActionKind::SetMaxCurrent => return crate::limits::send_max_current(engine, action, charger_id).await,
    };
    if still_pending(engine, action).await.is_none() {
        return Err(Settle::Gone);
    }
    // The attempt is saved before the command goes out, so a restart knows it may have been sent.
    record(engine, action, charger_id, AttemptOutcome::Sent, None).await?;
    let reply = control.send(charger_id, command).await;
    match reply {
        Ok(reply) if reply.is_accepted() => {
            if action.kind == ActionKind::SetMaxCurrent {
                if let Err(e) = store.set_max_current(charger_id, action.target_state.max_current).await {
                    tracing::warn!(error = %e, "cannot record the max current");
                }
            }
            Ok(())
        }
        Ok(reply) => {
            let said = match &reply {
                CommandReply::Status { status, .. } => status.clone(),
                _ => "Rejected".to_owned(),
            };
            update_attempt(
                engine,
                action,
                AttemptOutcome::Rejected,
                Some(format!("the charger answered {said}")),
            )
            .await?;
            Err(Settle::Failed(
                FailureType::FailedPrecondition,
                format!("the charger refused the command ({said})"),
            ))
        }
        Err(ControlError::Timeout) => {
            update_attempt(
                engine,
                action,
                AttemptOutcome::NoResponse,
                Some("no answer in time".into()),
            )
            .await?;
            Err(Settle::Failed(
                FailureType::NoResponse,
                "the charger did not answer".into(),
            ))
        }
        Err(e @ (ControlError::NotConnected | ControlError::Disconnected)) => {
            update_attempt(engine, action, AttemptOutcome::Unreachable, Some(e.to_string())).await?;
            Err(Settle::Failed(FailureType::FailedPrecondition, e.to_string()))
        }
        Err(e) => {
            update_attempt(engine, action, AttemptOutcome::Rejected, Some(e.to_string())).await?;
            Err(Settle::Failed(FailureType::FailedPrecondition, e.to_string()))
        }
    }
}

/// Waits until the charger is seen in the target state, or the deadline passes.
async fn observe(
    engine: &Engine,
    action: &mut Action,
    charger_id: &ChargerId,
    deadline: chrono::DateTime<chrono::Utc>,
) -> Settle {
    let mut schedule_available: Option<bool> = None;
    loop {
        let Some(current) = still_pending(engine, action).await else {
            return Settle::Gone;
        };
        *action = current;
        let Some((charger, session)) = load(engine, charger_id).await else {
            return Settle::Failed(FailureType::NotFound, "the charger no longer exists".into());
        };
        let state = charger.charge_state(session.as_ref());
        let current_a = charger.meter.current_a.unwrap_or(0.0);
        // The last metered current speaks only while a session runs: after a stop it is stale.
        let flowing = state.power_delivery_state == PowerDeliveryState::Charging
            || (session.is_some() && current_a > FLOWING_CURRENT_A);
        let reached = match action.kind {
            ActionKind::Start => flowing,
            ActionKind::Stop => !flowing && state.power_delivery_state != PowerDeliveryState::Charging,
            ActionKind::SetMaxCurrent => {
                let amps = action.target_state.max_current.unwrap_or_default();
                // The meter can only show a limit while power flows; idle, the charger's word is all
                // there is, so the composite schedule is asked first whenever the charger has one.
                let metered_ok = !flowing || current_a <= amps + CURRENT_TOLERANCE_A;
                if schedule_available == Some(false) {
                    metered_ok
                } else {
                    match composite_limit(engine, charger_id, session.as_ref()).await {
                        Some(limit) => {
                            schedule_available = Some(true);
                            limit <= amps + 0.05
                        }
                        None => {
                            schedule_available = Some(false);
                            metered_ok
                        }
                    }
                }
            }
        };
        if reached {
            if update_attempt(engine, action, AttemptOutcome::Confirmed, None)
                .await
                .is_err()
            {
                return Settle::Gone;
            }
            return Settle::Confirmed;
        }
        let now = time::now();
        if now >= deadline.min(action.deadline) {
            let detail = match action.kind {
                ActionKind::Start => "the charger accepted, but charging did not begin",
                ActionKind::Stop => "the charger accepted, but charging did not stop",
                ActionKind::SetMaxCurrent => "the charger accepted, but the limit was not observed",
            };
            let _ = update_attempt(engine, action, AttemptOutcome::NoEffect, Some(detail.into())).await;
            return Settle::Failed(FailureType::NoResponse, detail.into());
        }
        let left = (deadline.min(action.deadline) - now).to_std().unwrap_or_default();
        engine
            .inner
            .chargers
            .wait_for_change(charger_id, left.min(RECHECK))
            .await;
    }
}

/// The first limit of the charger's composite schedule, in amperes, if it can tell.
async fn composite_limit(engine: &Engine, charger_id: &ChargerId, session: Option<&ChargeSession>) -> Option<f64> {
    let connector = session.map_or(1, |s| s.connector_id);
    let ask = ChargerCommand::GetCompositeSchedule {
        connector_id: connector,
        duration_s: 60,
        unit: Some(RateUnit::Amperes),
    };
    match engine.inner.chargers.send(charger_id, ask).await {
        Ok(CommandReply::CompositeSchedule {
            accepted: true,
            unit: Some(RateUnit::Amperes),
            periods,
        }) => periods.first().map(|p| p.limit),
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

fn plugged_connector(charger: &Charger) -> Option<u32> {
    charger
        .connectors
        .iter()
        .filter(|c| c.connector_id > 0 && c.power_delivery_state.is_plugged_in())
        .map(|c| c.connector_id)
        .next()
}

async fn load(engine: &Engine, id: &ChargerId) -> Option<(Charger, Option<ChargeSession>)> {
    let store = &engine.inner.store;
    let charger = store.charger(id).await.ok().flatten()?;
    let session = store.active_session(id).await.ok().flatten();
    Some((charger, session))
}

/// The stored action if it is still pending; `None` once it was settled elsewhere.
pub(crate) async fn still_pending(engine: &Engine, action: &Action) -> Option<Action> {
    match engine.inner.store.get_action(&action.client_id, &action.id).await {
        Ok(Some(stored)) if !stored.state.is_final() => Some(stored),
        Ok(_) => None,
        // A storage hiccup is not a settlement: carry on with what we have.
        Err(_) => Some(action.clone()),
    }
}

pub(crate) async fn record(
    engine: &Engine,
    action: &mut Action,
    charger_id: &ChargerId,
    outcome: AttemptOutcome,
    detail: Option<String>,
) -> Result<(), Settle> {
    action.record_attempt(Attempt {
        via: DeviceKind::Charger,
        device_id: charger_id.as_str().to_owned(),
        at: time::now(),
        outcome,
        detail,
    });
    save(engine, action).await
}

pub(crate) async fn update_attempt(
    engine: &Engine,
    action: &mut Action,
    outcome: AttemptOutcome,
    detail: Option<String>,
) -> Result<(), Settle> {
    action.update_last_attempt(outcome, detail, time::now());
    save(engine, action).await
}

async fn save(engine: &Engine, action: &Action) -> Result<(), Settle> {
    match engine.inner.store.update_action(action).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(Settle::Gone),
        Err(e) => {
            tracing::warn!(action_id = %action.id, error = %e, "cannot save an attempt");
            Ok(())
        }
    }
}
