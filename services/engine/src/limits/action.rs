//! A max-current action on a charger, carried out as the charger's `user` limit source.

use coupler_core::action::{Action, AttemptOutcome};
use coupler_core::control::ControlError;
use coupler_core::{time, ChargerId, FailureType};

use super::{Applied, Step};
use crate::charger_actions::{record, still_pending, update_attempt, Settle};
use crate::chargers::ChargerEngine;

/// Carries out a max-current action on a charger: the amperes become the charger's `user` limit
/// source (stored first), then the charger's limits are applied, each command recorded as one of
/// the action's attempts. `Ok` means the commands went out and the effect is to be observed.
pub(crate) async fn send_max_current(
    engine: &ChargerEngine,
    action: &mut Action,
    charger_id: &ChargerId,
) -> Result<(), Settle> {
    let store = &engine.inner.store;
    let amps = action.target_state.max_current.unwrap_or_default();
    if still_pending(engine, action).await.is_none() {
        return Err(Settle::Gone);
    }
    if let Err(e) = store.set_user_limit(charger_id, Some(amps), time::now()).await {
        return Err(Settle::Failed(
            FailureType::FailedPrecondition,
            format!("cannot store the limit: {e}"),
        ));
    }
    // Saved before anything goes out, so a restart knows the commands may have been sent.
    record(
        engine,
        action,
        charger_id,
        AttemptOutcome::Sent,
        Some(format!("max current {amps} A as the charger's user limit")),
    )
    .await?;
    let applied = match engine.limits().apply(charger_id).await {
        Ok(applied) => applied,
        Err(e) => {
            update_attempt(engine, action, AttemptOutcome::Rejected, Some(e.to_string())).await?;
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
            update_attempt(
                engine,
                action,
                AttemptOutcome::Unreachable,
                Some("the charger is not connected".into()),
            )
            .await?;
            Err(Settle::Failed(
                FailureType::FailedPrecondition,
                "the charger is not connected to Coupler".into(),
            ))
        }
        Applied::Profiles { steps, .. } => {
            if let Err(e) = store.set_max_current(charger_id, Some(amps)).await {
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
                    update_attempt(engine, action, AttemptOutcome::NoEffect, None).await?;
                }
                return Err(Settle::Failed(
                    FailureType::FailedPrecondition,
                    format!(
                        "{why}, so it can only be switched off; a limit of {} A (6 A or more) leaves charging on{}",
                        limit_a.unwrap_or(amps),
                        if switches.is_empty() {
                            ""
                        } else {
                            " (charging held off before was started again)"
                        }
                    ),
                ));
            }
            if let Err(e) = store.set_max_current(charger_id, Some(amps)).await {
                tracing::warn!(error = %e, "cannot record the max current");
            }
            let detail = if switches.is_empty() {
                "no charging to stop; held off while the limit is below 6 A".to_owned()
            } else {
                format!("on/off limit: {}", describe(&switches))
            };
            record(engine, action, charger_id, AttemptOutcome::Sent, Some(detail)).await?;
            if switches.iter().any(|s| !s.accepted) {
                update_attempt(
                    engine,
                    action,
                    AttemptOutcome::Rejected,
                    Some("the charger refused to stop".into()),
                )
                .await?;
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
            update_attempt(engine, action, outcome, Some(describe(&steps))).await?;
            let kind = if outcome == AttemptOutcome::NoResponse {
                FailureType::NoResponse
            } else {
                FailureType::FailedPrecondition
            };
            Err(Settle::Failed(kind, error.to_string()))
        }
    }
}
