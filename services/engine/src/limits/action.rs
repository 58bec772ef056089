//! A limit set or lifted on a charger by an action (a max current, or a START that lifts Coupler's
//! own hold), carried out as the charger's `user` limit source.

use coupler_core::action::{Action, AttemptOutcome};
use coupler_core::control::ControlError;
use coupler_core::{ChargerId, FailureType};

use super::{Applied, Step};
use crate::charger_actions::{record, still_pending, Settle};
use crate::Engine;

/// Replaces the outcome of the action's last attempt and saves the action, which stays pending.
async fn update_attempt(
    engine: &Engine,
    action: &mut Action,
    outcome: AttemptOutcome,
    detail: Option<String>,
) -> Result<(), Settle> {
    action.update_last_attempt(outcome, detail, engine.clock.now());
    match engine.store.update_action(action).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(Settle::Gone),
        Err(e) => {
            tracing::warn!(action_id = %action.id, error = %e, "cannot save an attempt");
            Ok(())
        }
    }
}

/// Replaces the outcome of the action's last attempt without saving: the attempt that ends the
/// action is saved with the action's final state, by the caller.
fn end_attempt(engine: &Engine, action: &mut Action, outcome: AttemptOutcome, detail: Option<String>) {
    action.update_last_attempt(outcome, detail, engine.clock.now());
}

/// Carries out a limit on a charger: `amps` becomes the charger's `user` limit source (`None`
/// lifts it), stored first, then the charger's limits are applied, each command recorded as one
/// of the action's attempts. `Ok` means the commands went out and the effect is to be observed.
pub(crate) async fn send_user_limit(
    engine: &Engine,
    action: &mut Action,
    charger_id: &ChargerId,
    amps: Option<f64>,
) -> Result<(), Settle> {
    let store = &engine.store;
    if still_pending(engine, action).await.is_none() {
        return Err(Settle::Gone);
    }
    let lifting = amps.is_none();
    let amps_said = amps.map_or_else(|| "no".to_owned(), |a| format!("{a} A"));
    if let Err(e) = store.set_user_limit(charger_id, amps, engine.clock.now()).await {
        return Err(Settle::Failed(
            FailureType::FailedPrecondition,
            format!("cannot store the limit: {e}"),
        ));
    }
    engine.limits().announce(std::slice::from_ref(charger_id));
    // Saved before anything goes out, so a restart knows the commands may have been sent.
    record(
        engine,
        action,
        charger_id,
        AttemptOutcome::Sent,
        Some(format!("max current {amps_said} as the charger's user limit")),
    )
    .await?;
    let applied = match engine.limits().apply(charger_id).await {
        Ok(applied) => applied,
        Err(e) => {
            end_attempt(engine, action, AttemptOutcome::Rejected, Some(e.to_string()));
            return Err(Settle::Failed(FailureType::FailedPrecondition, e.to_string()));
        }
    };
    let describe = |steps: &[Step]| {
        steps
            .iter()
            .map(|s| format!("{}: {}", s.command, s.answer))
            .collect::<Vec<_>>()
            .join("; ")
    };
    match applied {
        Applied::NotConnected => {
            end_attempt(
                engine,
                action,
                AttemptOutcome::Unreachable,
                Some("the charger is not connected".into()),
            );
            Err(Settle::Failed(
                FailureType::FailedPrecondition,
                "the charger is not connected to Coupler".into(),
            ))
        }
        Applied::Profiles { steps, .. } => {
            if let Err(e) = store.set_max_current(charger_id, amps).await {
                tracing::warn!(error = %e, "cannot record the max current");
            }
            update_attempt(engine, action, AttemptOutcome::Sent, Some(describe(&steps))).await?;
            Ok(())
        }
        Applied::OnOff {
            why,
            steps,
            limit_a,
            off,
        } => {
            // The refused profile (if any) is one attempt; the stop it turned into is the next.
            let (refusals, switches): (Vec<Step>, Vec<Step>) = steps
                .into_iter()
                .partition(|s| s.command.starts_with("SetChargingProfile"));
            let refusal = if refusals.is_empty() {
                why.clone()
            } else {
                format!("{why}: {}", describe(&refusals))
            };
            update_attempt(engine, action, AttemptOutcome::Rejected, Some(refusal)).await?;
            if !off && lifting {
                // Lifting the hold: charging is allowed again (started again if it was held off).
                if let Err(e) = store.set_max_current(charger_id, None).await {
                    tracing::warn!(error = %e, "cannot record the max current");
                }
                let detail = if switches.is_empty() {
                    "charging no longer held off".to_owned()
                } else {
                    format!("on/off limit lifted: {}", describe(&switches))
                };
                record(engine, action, charger_id, AttemptOutcome::Sent, Some(detail)).await?;
                return Ok(());
            }
            if !off {
                if !switches.is_empty() {
                    record(
                        engine,
                        action,
                        charger_id,
                        AttemptOutcome::Sent,
                        Some(describe(&switches)),
                    )
                    .await?;
                    end_attempt(engine, action, AttemptOutcome::NoEffect, None);
                }
                return Err(Settle::Failed(
                    FailureType::FailedPrecondition,
                    format!(
                        "{why}, so it can only be switched off; a limit of {} A (6 A or more) leaves charging on{}",
                        limit_a.or(amps).unwrap_or_default(),
                        if switches.is_empty() {
                            ""
                        } else {
                            " (charging held off before was started again)"
                        }
                    ),
                ));
            }
            if let Err(e) = store.set_max_current(charger_id, amps).await {
                tracing::warn!(error = %e, "cannot record the max current");
            }
            let detail = if switches.is_empty() {
                "no charging to stop; held off while the limit is below 6 A".to_owned()
            } else {
                format!("on/off limit: {}", describe(&switches))
            };
            record(engine, action, charger_id, AttemptOutcome::Sent, Some(detail)).await?;
            if switches.iter().any(|s| !s.accepted) {
                end_attempt(
                    engine,
                    action,
                    AttemptOutcome::Rejected,
                    Some("the charger refused to stop".into()),
                );
                return Err(Settle::Failed(
                    FailureType::FailedPrecondition,
                    "the charger takes no profiles and refused to stop charging".into(),
                ));
            }
            Ok(())
        }
        Applied::Failed { steps, error } => {
            let outcome = match error {
                ControlError::Timeout => AttemptOutcome::NoResponse,
                ControlError::NotConnected | ControlError::Disconnected => AttemptOutcome::Unreachable,
                _ => AttemptOutcome::Rejected,
            };
            end_attempt(engine, action, outcome, Some(describe(&steps)));
            let kind = if outcome == AttemptOutcome::NoResponse {
                FailureType::NoResponse
            } else {
                FailureType::FailedPrecondition
            };
            Err(Settle::Failed(kind, error.to_string()))
        }
    }
}
