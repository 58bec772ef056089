//! The charger executor: carries an action out through one charger (START and STOP by remote start
//! and stop of a transaction, or by authorising the transaction a 2.0.1 charger opened at plug-in,
//! or by lifting Coupler's own limit that holds it; SET_MAX_CURRENT as the charger's `user` limit
//! source, put on it by the limit keeper), and confirms it by the charger's observed state. What to send is decided by
//! [`coupler_core::plan::charger_step`]; this module does the I/O.

use std::time::Duration;

use coupler_core::action::{Action, ActionKind, Attempt, AttemptOutcome};
use coupler_core::control::{ChargerCommand, CommandReply, ControlError, RateUnit};
use coupler_core::plan::{charger_reached, charger_step, ChargerStep};
use coupler_core::{ChargeSession, Charger, ChargerId, DeviceKind, FailureType};

use crate::Engine;

/// The longest single wait for a state change before looking again.
const RECHECK: Duration = Duration::from_secs(1);

/// How an attempt ended, when it ended the action.
pub(crate) enum Settle {
    Confirmed,
    Failed(FailureType, String),
    /// The action was settled elsewhere (cancelled, superseded) while this ran.
    Gone,
    /// Another node holds the charger's socket: the action must be driven there.
    HeldElsewhere(coupler_core::node::NodeId),
}

/// Tries an action through `charger_id` until `deadline`: waits for the charger to be connected,
/// sends the command (unless a previous run already did) and watches for its effect. The action's
/// own target may be the charger or a vehicle paired with it. The caller settles the action and
/// saves it: the attempt that ends it is only noted on `action`, so that attempt and state change
/// together.
pub(crate) async fn carry_out(
    engine: &Engine,
    action: &mut Action,
    charger_id: &ChargerId,
    deadline: chrono::DateTime<chrono::Utc>,
) -> Settle {
    // Only the node that holds the charger's socket can send to it and watch it closely.
    if let Some(node) = engine.charger_held_elsewhere(charger_id).await {
        return Settle::HeldElsewhere(node);
    }
    let resumed_after_send = action
        .attempts
        .last()
        .is_some_and(|a| a.outcome == AttemptOutcome::Sent && a.via == DeviceKind::Charger);
    if !resumed_after_send {
        if let Err(settle) = connected(engine, action, charger_id, deadline).await {
            return settle;
        }
        if let Err(settle) = send(engine, action, charger_id).await {
            return settle;
        }
    }
    observe(engine, action, charger_id, deadline).await
}

/// Waits until the charger is connected, or `deadline`. A charger that was ever connected is
/// expected back (after a restart of Coupler, or a short network loss), so its action waits; one
/// that never connected fails at once.
async fn connected(
    engine: &Engine,
    action: &mut Action,
    charger_id: &ChargerId,
    deadline: chrono::DateTime<chrono::Utc>,
) -> Result<(), Settle> {
    let control = &engine.control;
    let mut noted = false;
    loop {
        if control.is_connected(charger_id) {
            return Ok(());
        }
        if let Some(node) = engine.charger_held_elsewhere(charger_id).await {
            return Err(Settle::HeldElsewhere(node));
        }
        let Some((charger, _)) = load(engine, charger_id).await else {
            return Err(not_found(engine, action, charger_id));
        };
        if charger.last_seen.is_none() {
            note(
                engine,
                action,
                charger_id,
                AttemptOutcome::Unreachable,
                Some("the charger is not connected".into()),
            );
            return Err(Settle::Failed(
                FailureType::FailedPrecondition,
                "the charger is not connected to Coupler, and never was".into(),
            ));
        }
        let now = engine.clock.now();
        let until = deadline.min(action.deadline);
        if now >= until {
            let detail = "the charger did not connect to Coupler before the deadline";
            if noted {
                action.update_last_attempt(AttemptOutcome::Unreachable, Some(detail.into()), now);
            } else {
                note(
                    engine,
                    action,
                    charger_id,
                    AttemptOutcome::Unreachable,
                    Some(detail.into()),
                );
            }
            return Err(Settle::Failed(FailureType::NoResponse, detail.into()));
        }
        if !noted {
            // Visible while it waits: the action is pending on a charger that is away.
            record(
                engine,
                action,
                charger_id,
                AttemptOutcome::Unreachable,
                Some("the charger is not connected; waiting for it until the deadline".into()),
            )
            .await?;
            noted = true;
        }
        let left = engine.clock.wall_time(until - now);
        control.wait_for_change(charger_id, left.min(RECHECK)).await;
        if still_pending(engine, action).await.is_none() {
            return Err(Settle::Gone);
        }
    }
}

fn not_found(engine: &Engine, action: &mut Action, charger_id: &ChargerId) -> Settle {
    note(
        engine,
        action,
        charger_id,
        AttemptOutcome::Rejected,
        Some("the charger no longer exists".into()),
    );
    Settle::Failed(FailureType::NotFound, "the charger no longer exists".into())
}

/// Decides what to send (a pure plan), sends it and records the try; `Err` ends this route.
async fn send(engine: &Engine, action: &mut Action, charger_id: &ChargerId) -> Result<(), Settle> {
    let control = &engine.control;
    let Some((charger, session)) = load(engine, charger_id).await else {
        return Err(not_found(engine, action, charger_id));
    };
    let step = match charger_step(action.kind, &action.target_state, &charger, session.as_ref()) {
        Ok(step) => step,
        Err(refusal) => {
            // A refusal before sending still counts as a try of this route.
            let outcome = if refusal.failure == FailureType::Unnecessary {
                AttemptOutcome::Confirmed
            } else {
                AttemptOutcome::Rejected
            };
            note(engine, action, charger_id, outcome, Some(refusal.detail.clone()));
            return Err(Settle::Failed(refusal.failure, refusal.detail));
        }
    };
    let command = match step {
        // A limit, set or lifted, is the charger's `user` limit source: the limit keeper puts the
        // composite of all sources on the charger (profiles, or on/off where it takes none).
        ChargerStep::SetLimit { amps, .. } => {
            return crate::limits::send_user_limit(engine, action, charger_id, Some(amps)).await
        }
        ChargerStep::LiftLimit { .. } => return crate::limits::send_user_limit(engine, action, charger_id, None).await,
        ChargerStep::RemoteStart { connector_id } => ChargerCommand::RemoteStart {
            connector_id,
            id_tag: engine.charger_config.remote_start_id_tag.clone(),
            limit: None,
        },
        // The 2.0.1 RequestStartTransaction on the EVSE whose transaction waits for authorisation.
        ChargerStep::AuthorizeRunning { connector_id } => ChargerCommand::RemoteStart {
            connector_id: Some(connector_id),
            id_tag: engine.charger_config.remote_start_id_tag.clone(),
            limit: None,
        },
        ChargerStep::RemoteStop { transaction_id } => ChargerCommand::RemoteStop { transaction_id },
    };
    if still_pending(engine, action).await.is_none() {
        return Err(Settle::Gone);
    }
    // The attempt is saved before the command goes out, so a restart knows it may have been sent.
    record(engine, action, charger_id, AttemptOutcome::Sent, None).await?;
    let reply = control.send(charger_id, command).await;
    let now = engine.clock.now();
    match reply {
        Ok(reply) if reply.is_accepted() => Ok(()),
        Ok(reply) => {
            let said = match &reply {
                CommandReply::Status { status, .. } => status.clone(),
                _ => "Rejected".to_owned(),
            };
            action.update_last_attempt(
                AttemptOutcome::Rejected,
                Some(format!("the charger answered {said}")),
                now,
            );
            Err(Settle::Failed(
                FailureType::FailedPrecondition,
                format!("the charger refused the command ({said})"),
            ))
        }
        Err(ControlError::Timeout) => {
            action.update_last_attempt(AttemptOutcome::NoResponse, Some("no answer in time".into()), now);
            Err(Settle::Failed(
                FailureType::NoResponse,
                "the charger did not answer".into(),
            ))
        }
        Err(e @ (ControlError::NotConnected | ControlError::Disconnected)) => {
            action.update_last_attempt(AttemptOutcome::Unreachable, Some(e.to_string()), now);
            Err(Settle::Failed(FailureType::FailedPrecondition, e.to_string()))
        }
        Err(e) => {
            action.update_last_attempt(AttemptOutcome::Rejected, Some(e.to_string()), now);
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
            return not_found(engine, action, charger_id);
        };
        let state = charger.charge_state(session.as_ref());
        let current_a = charger.meter.current_a.unwrap_or(0.0);
        // A limit is confirmed by the charger's composite schedule whenever it can give one.
        let composite = if action.kind == ActionKind::SetMaxCurrent && schedule_available != Some(false) {
            let limit = composite_limit(engine, charger_id, session.as_ref()).await;
            schedule_available = Some(limit.is_some());
            limit
        } else {
            None
        };
        let reached = charger_reached(
            action.kind,
            &action.target_state,
            state.power_delivery_state,
            session.is_some(),
            current_a,
            composite,
        );
        let now = engine.clock.now();
        if reached {
            action.update_last_attempt(AttemptOutcome::Confirmed, None, now);
            return Settle::Confirmed;
        }
        if now >= deadline.min(action.deadline) {
            let detail = match action.kind {
                ActionKind::Start => "the charger accepted, but charging did not begin",
                ActionKind::Stop => "the charger accepted, but charging did not stop",
                ActionKind::SetMaxCurrent => "the charger accepted, but the limit was not observed",
            };
            action.update_last_attempt(AttemptOutcome::NoEffect, Some(detail.into()), now);
            return Settle::Failed(FailureType::NoResponse, detail.into());
        }
        let left = engine.clock.wall_time(deadline.min(action.deadline) - now);
        engine.control.wait_for_change(charger_id, left.min(RECHECK)).await;
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
    match engine.control.send(charger_id, ask).await {
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

async fn load(engine: &Engine, id: &ChargerId) -> Option<(Charger, Option<ChargeSession>)> {
    let store = &engine.store;
    let charger = store.charger(id).await.ok().flatten()?;
    let session = store.active_session(id).await.ok().flatten();
    Some((charger, session))
}

/// The stored action if it is still pending; `None` once it was settled elsewhere.
pub(crate) async fn still_pending(engine: &Engine, action: &Action) -> Option<Action> {
    match engine.store.get_action(&action.client_id, &action.id).await {
        Ok(Some(stored)) if !stored.state.is_final() => Some(stored),
        Ok(_) => None,
        // A storage hiccup is not a settlement: carry on with what we have.
        Err(_) => Some(action.clone()),
    }
}

/// Notes an attempt on the action without saving it: the caller saves it with the action's end.
fn note(engine: &Engine, action: &mut Action, charger_id: &ChargerId, outcome: AttemptOutcome, detail: Option<String>) {
    action.record_attempt(Attempt {
        via: DeviceKind::Charger,
        device_id: charger_id.as_str().to_owned(),
        at: engine.clock.now(),
        outcome,
        detail,
    });
}

/// Records an attempt that leaves the action pending, and saves it.
pub(crate) async fn record(
    engine: &Engine,
    action: &mut Action,
    charger_id: &ChargerId,
    outcome: AttemptOutcome,
    detail: Option<String>,
) -> Result<(), Settle> {
    note(engine, action, charger_id, outcome, detail);
    match engine.store.update_action(action).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(Settle::Gone),
        Err(e) => {
            tracing::warn!(action_id = %action.id, error = %e, "cannot save an attempt");
            Ok(())
        }
    }
}
