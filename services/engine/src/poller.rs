//! Reading vehicles when they are due, within the makers' limits.

use std::sync::Arc;

use coupler_core::adapter::VehicleRef;
use coupler_core::polling::{next_utc_midnight, PollPolicy, PollUpdate};
use coupler_core::{AdapterError, ClientId, Vehicle, VehicleId};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::credentials::with_fresh_token;
use crate::{Engine, EngineError};

/// Why a read was or was not made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollResult {
    /// The maker was asked; this is what it answered (the error kind, when it failed).
    Read(Result<(), String>),
    /// Coupler's per-vendor rate limit put the read off.
    RateLimited,
    /// The vehicle's daily budget is spent; the read waits for the next UTC day.
    OverBudget,
    /// The vehicle's vendor is not configured here.
    NoAdapter,
}

impl Engine {
    /// Asks for a vehicle to be read as soon as the limits allow (an app's refresh-hint, or a
    /// charger's plug-in); `false` when the client has no such vehicle.
    pub async fn request_poll(&self, client: &ClientId, vehicle: &VehicleId) -> Result<bool, EngineError> {
        let found = self.store.request_vehicle_poll(client, vehicle).await?;
        if found {
            self.wake_poller();
        }
        Ok(found)
    }

    /// Reads every vehicle that is due now (or was asked for), at most one pass's worth.
    pub async fn poll_due(&self) -> Result<usize, EngineError> {
        let now = self.clock.now();
        let lease = self.clock.span_of(self.config.poll_lease);
        let due = self
            .store
            .claim_due_vehicles(now, now + lease, self.config.poll_batch)
            .await?;
        let count = due.len();
        futures::stream::iter(due)
            .for_each_concurrent(self.config.poll_concurrency.max(1), |vehicle| async move {
                let id = vehicle.id.clone();
                if let Err(e) = self.poll_claimed(vehicle, false).await {
                    tracing::warn!(vehicle_id = %id, error = %e, "vehicle poll failed");
                }
            })
            .await;
        Ok(count)
    }

    /// Reads one vehicle the caller holds: within the vendor's rate limit and, unless `for_command`,
    /// the vehicle's daily budget. Stores what the read changed. Never wakes the car.
    pub(crate) async fn poll_claimed(&self, vehicle: Vehicle, for_command: bool) -> Result<PollResult, EngineError> {
        let now = self.clock.now();
        let Some(adapter) = self.adapters.get(&vehicle.vendor) else {
            let later = now + chrono::Duration::hours(1);
            self.defer(&vehicle, later).await?;
            return Ok(PollResult::NoAdapter);
        };
        let limits = adapter.description().limits;
        if !for_command && !PollPolicy::budget_allows(&vehicle.poll, limits.daily_polls_per_vehicle, now) {
            self.defer(&vehicle, next_utc_midnight(now)).await?;
            return Ok(PollResult::OverBudget);
        }
        if let Err(wait) = self.limiter.try_take(&vehicle.vendor, &limits) {
            let wait = self.clock.span_of(wait + std::time::Duration::from_millis(50));
            self.defer(&vehicle, now + wait).await?;
            return Ok(PollResult::RateLimited);
        }
        let Some(account) = self
            .store
            .get_vendor_account(&vehicle.client_id, &vehicle.account_id)
            .await?
        else {
            return Ok(PollResult::Read(Err("the account is gone".into())));
        };
        let vehicle_ref = VehicleRef {
            vendor_vehicle_id: &vehicle.vendor_vehicle_id,
            vin: vehicle.information.vin.as_deref(),
            meta: &vehicle.vendor_meta,
        };
        let outcome = with_fresh_token!(self, adapter.as_ref(), account, |creds| adapter
            .read_state(creds, vehicle_ref));
        let read_at = self.clock.now();
        metrics::counter!("coupler_vehicle_polls_total", "vendor" => vehicle.vendor.as_str().to_owned(), "outcome" => if outcome.is_ok() { "ok" } else { "error" }).increment(1);
        if let Err(error) = &outcome {
            log_failure(&vehicle, error);
        }
        let update = self
            .config
            .poll_policy
            .after_read(&vehicle.charge_state, &vehicle.poll, &outcome, read_at);
        self.store.save_poll(&vehicle.client_id, &vehicle.id, &update).await?;
        // Pairing weighs every fresh read; nobody listening is the usual case without chargers.
        let _ = self.polled.send((vehicle.client_id.clone(), vehicle.id.clone()));
        Ok(PollResult::Read(outcome.map(drop).map_err(|e| e.kind().to_owned())))
    }

    /// Puts a read off to `until` without asking the maker; a pending on-demand read stays pending.
    async fn defer(&self, vehicle: &Vehicle, until: chrono::DateTime<chrono::Utc>) -> Result<(), EngineError> {
        let update = PollUpdate {
            charge_state: None,
            location: None,
            last_seen: None,
            is_reachable: None,
            poll: PollPolicy::deferred(&vehicle.poll, until),
        };
        self.store.save_poll(&vehicle.client_id, &vehicle.id, &update).await?;
        Ok(())
    }
}

fn log_failure(vehicle: &Vehicle, error: &AdapterError) {
    match error {
        AdapterError::Asleep(_) => {
            tracing::debug!(vehicle_id = %vehicle.id, vendor = %vehicle.vendor, "vehicle asleep; not waking it to poll")
        }
        AdapterError::RateLimited { retry_after, .. } => tracing::info!(
            vehicle_id = %vehicle.id, vendor = %vehicle.vendor,
            retry_after_s = retry_after.map(|d| d.as_secs()), "rate limited by the vendor"
        ),
        other => {
            tracing::warn!(vehicle_id = %vehicle.id, vendor = %vehicle.vendor, error = %other, "vehicle read failed")
        }
    }
}

/// Polls due vehicles until shutdown, waking early when asked.
pub(crate) async fn run(engine: Arc<Engine>, shutdown: CancellationToken) {
    loop {
        if let Err(e) = engine.poll_due().await {
            tracing::warn!(error = %e, "poll pass failed");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(engine.config.poll_tick) => {}
            _ = engine.poll_now.notified() => {}
        }
    }
}
