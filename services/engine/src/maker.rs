//! The maker executor: carries a vehicle's action out through the vehicle's maker (waking the car
//! only when the command found it asleep), records every try as an attempt, and confirms it by
//! reading the vehicle, judging only data read after the command went out, never the maker's
//! acknowledgement.

use std::time::Duration;

use coupler_core::action::{Attempt, AttemptOutcome, TargetState};
use coupler_core::adapter::VehicleRef;
use coupler_core::ev_system::feed_vehicle;
use coupler_core::plan::in_flight;
use coupler_core::{Action, ActionKind, AdapterError, DeviceKind, FailureType, VehicleAdapter, VehicleId};
use tokio_util::sync::CancellationToken;

use crate::actions::{verdict, Verdict};
use crate::credentials::with_fresh_token;
use crate::runner::Next;
use crate::{Engine, EngineError};

/// What the maker executor counts across the steps of one action.
#[derive(Debug, Default)]
pub(crate) struct MakerStep {
    /// Wake-ups sent so far (at most three).
    wakes: u32,
    /// Failed tries in a row, for the back-off.
    failures: u32,
}

impl Engine {
    /// The command went out through the maker: read the vehicle and judge what was read after it.
    pub(crate) async fn confirm_through_maker(
        &self,
        action: &mut Action,
        _maker: &mut MakerStep,
        shutdown: &CancellationToken,
    ) -> Result<Next, EngineError> {
        let Some(sent_at) = in_flight(&action.attempts).map(|a| a.at) else {
            return Ok(Next::Again);
        };
        let vehicle_id = VehicleId::new(action.target_id.clone());
        let Some(vehicle) = self.store.get_vehicle(&action.client_id, &vehicle_id).await? else {
            action.fail(FailureType::NotFound, "the vehicle was removed", self.clock.now());
            self.save(action).await?;
            return Ok(Next::Done);
        };
        let pairing = self.pairing_of(&vehicle).await?;
        let _ = self.poll_claimed(vehicle.clone(), true).await?;
        let Some(seen) = self.store.get_vehicle(&action.client_id, &vehicle_id).await? else {
            return Ok(Next::Again);
        };
        let mut judged = verdict(action.kind, &action.target_state, &seen.charge_state);
        if judged != Verdict::Reached {
            if let Some((side, charger)) = self.charger_side(pairing.activated.as_ref()).await? {
                let merged = feed_vehicle(&seen.charge_state, &side, &charger);
                if verdict(action.kind, &action.target_state, &merged) == Verdict::Reached {
                    judged = Verdict::Reached;
                }
            }
        }
        if seen.last_seen.is_some_and(|at| at >= sent_at) || judged == Verdict::Reached {
            let at = self.clock.now();
            match judged {
                Verdict::Reached => {
                    action.update_last_attempt(AttemptOutcome::Confirmed, None, at);
                    action.confirm(at);
                    if self.save(action).await? {
                        tracing::info!(action_id = %action.id, "vehicle action confirmed");
                    }
                    return Ok(Next::Done);
                }
                Verdict::Impossible(why) => {
                    action.update_last_attempt(AttemptOutcome::NoEffect, Some(why.clone()), at);
                    action.fail(FailureType::FailedPrecondition, why, at);
                    self.save(action).await?;
                    return Ok(Next::Done);
                }
                Verdict::NotYet => {}
            }
        }
        // Acknowledged, but the state has not followed for half the time allowed: send once more
        // (a maker's "accepted" is not the car doing it).
        let half = self.clock.span_of(self.config.action_timeout / 2);
        let resent = action.attempts.iter().any(|a| a.outcome == AttemptOutcome::NoEffect);
        let now = self.clock.now();
        if !resent && now - sent_at >= half {
            action.update_last_attempt(
                AttemptOutcome::NoEffect,
                Some("the vehicle did not follow; sending again".into()),
                now,
            );
            return Ok(if self.save(action).await? {
                Next::Again
            } else {
                Next::Done
            });
        }
        Ok(
            if self.pause(self.config.confirm_every, action.deadline, shutdown).await {
                Next::Again
            } else {
                Next::Done
            },
        )
    }

    /// Sends the command through the vehicle's maker, within the vendor's rate limit, waking the
    /// car if the command found it asleep.
    pub(crate) async fn send_through_maker(
        &self,
        action: &mut Action,
        maker: &mut MakerStep,
        shutdown: &CancellationToken,
    ) -> Result<Next, EngineError> {
        let vehicle_id = VehicleId::new(action.target_id.clone());
        let Some(vehicle) = self.store.get_vehicle(&action.client_id, &vehicle_id).await? else {
            action.fail(FailureType::NotFound, "the vehicle was removed", self.clock.now());
            self.save(action).await?;
            return Ok(Next::Done);
        };
        let adapter = self.adapter_for(&vehicle.vendor)?.clone();
        let limits = adapter.description().limits;
        if let Err(wait) = self.limiter.try_take(&vehicle.vendor, &limits) {
            return Ok(if self.pause(wait, action.deadline, shutdown).await {
                Next::Again
            } else {
                Next::Done
            });
        }
        let Some(account) = self
            .store
            .get_vendor_account(&action.client_id, &vehicle.account_id)
            .await?
        else {
            action.fail(
                FailureType::NotFound,
                "the vehicle's account was removed",
                self.clock.now(),
            );
            self.save(action).await?;
            return Ok(Next::Done);
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
            at: self.clock.now(),
            outcome: AttemptOutcome::Sent,
            detail: None,
        };
        let wait = match sent {
            Ok(()) => {
                action.record_attempt(attempt);
                if !self.save(action).await? {
                    return Ok(Next::Done);
                }
                // Give the car a moment before the first read.
                self.config.confirm_every.min(Duration::from_secs(2))
            }
            Err(AdapterError::Asleep(detail)) if maker.wakes < 3 => {
                maker.wakes += 1;
                attempt.outcome = AttemptOutcome::Unreachable;
                attempt.detail = Some(format!("asleep; waking it ({detail})"));
                action.record_attempt(attempt);
                if !self.save(action).await? {
                    return Ok(Next::Done);
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
                if !self.save(action).await? {
                    return Ok(Next::Done);
                }
                retry_after.unwrap_or(Duration::from_secs(60))
            }
            Err(
                error @ (AdapterError::Refused(_) | AdapterError::NotCapable(_) | AdapterError::CredentialsInvalid(_)),
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
                action.fail(FailureType::FailedPrecondition, why, self.clock.now());
                self.save(action).await?;
                return Ok(Next::Done);
            }
            Err(error) => {
                maker.failures += 1;
                attempt.outcome = if matches!(error, AdapterError::Asleep(_)) {
                    AttemptOutcome::Unreachable
                } else {
                    AttemptOutcome::NoResponse
                };
                attempt.detail = Some(error.to_string());
                action.record_attempt(attempt);
                if !self.save(action).await? {
                    return Ok(Next::Done);
                }
                self.config
                    .poll_policy
                    .backoff(maker.failures)
                    .min(Duration::from_secs(60))
            }
        };
        Ok(if self.pause(wait, action.deadline, shutdown).await {
            Next::Again
        } else {
            Next::Done
        })
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
