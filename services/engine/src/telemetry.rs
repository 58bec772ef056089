//! Telemetry for measurement: each device's and site's 15-minute intervals read from the store
//! (chargers' sessions and meter samples, cars' kept readings), a device's similar-days baseline,
//! and the override watcher, which looks at every part of an open event and records a charge the
//! event did not allow.
//!
//! The arithmetic is `coupler_core::flex`'s; this module only gathers the readings for it.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use coupler_core::costs::StatisticsScope;
use coupler_core::ev_system::PowerSample;
use coupler_core::flex::{
    cap_kw, first_override, interval, Baseline, FlexEvent, FlexEventId, FlexOverride, FlexOverrideId, FlexTarget,
    IntervalSeries, SimilarDays, TargetDevice, TelemetrySource, OVERRIDE_GRACE, SIMILAR_DAYS, SIMILAR_DAYS_LOOKBACK,
};
use coupler_core::location::LocationId;
use coupler_core::{ChargerId, ClientId, Store, StoreError, VehicleId};
use coupler_tasks::Tasks;

use crate::Engine;

/// The most sessions of one charger read for one span.
const MAX_SESSIONS: u32 = 5_000;

/// A charger's intervals over `[from, to)` from its meter: every session's energy register
/// readings, and its power readings for each interval's peak.
pub async fn charger_series(
    store: &dyn Store,
    client: &ClientId,
    charger: &ChargerId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<IntervalSeries, StoreError> {
    let mut series = IntervalSeries::new(from, to);
    let sessions = store
        .sessions_overlapping(
            client,
            &StatisticsScope::Charger(charger.clone()),
            series.from,
            series.to,
            MAX_SESSIONS,
        )
        .await?;
    for session in &sessions {
        let readings = store.session_energy_readings(session).await?;
        series.add_register(&readings);
    }
    let to = series.to;
    let power: Vec<PowerSample> = store
        .power_samples_since(charger, series.from)
        .await?
        .into_iter()
        .filter(|s| s.at < to)
        .collect();
    series.add_power_peaks(&power);
    Ok(series)
}

/// A car's intervals over `[from, to)` from the charge readings kept from its maker.
pub async fn vehicle_series(
    store: &dyn Store,
    vehicle: &VehicleId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<IntervalSeries, StoreError> {
    let mut series = IntervalSeries::new(from, to);
    let readings = store.vehicle_readings(vehicle, series.from, series.to).await?;
    series.add_vehicle_readings(&readings);
    Ok(series)
}

/// The intervals of the device a flex target is carried out on, with where they come from.
pub async fn device_series(
    store: &dyn Store,
    client: &ClientId,
    device: &TargetDevice,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(IntervalSeries, TelemetrySource), StoreError> {
    Ok(match device {
        TargetDevice::Charger(charger) => (
            charger_series(store, client, charger, from, to).await?,
            TelemetrySource::ChargerMeter,
        ),
        TargetDevice::Vehicle(vehicle) => (
            vehicle_series(store, vehicle, from, to).await?,
            TelemetrySource::Vehicle,
        ),
    })
}

/// A site's intervals: the sum of the meters of the chargers placed at the location (the caller
/// has checked the location is the client's), with those chargers.
pub async fn location_series(
    store: &dyn Store,
    client: &ClientId,
    location: &LocationId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(IntervalSeries, Vec<ChargerId>), StoreError> {
    let mut site = IntervalSeries::new(from, to);
    let chargers = store.chargers_at_location(location).await?;
    for charger in &chargers {
        let series = charger_series(store, client, charger, from, to).await?;
        site.add_series(&series);
    }
    Ok((site, chargers))
}

/// A device's similar-days baseline (kW) in each interval starting at `starts`: the same interval
/// over the [`SIMILAR_DAYS`] most recent similar days of the last [`SIMILAR_DAYS_LOOKBACK`] on
/// which it took part in no event, judged in `tz`, from when it became known (`known_since`).
pub async fn similar_days_baseline(
    store: &dyn Store,
    client: &ClientId,
    device: &TargetDevice,
    starts: &[DateTime<Utc>],
    known_since: DateTime<Utc>,
    tz: Tz,
) -> Result<Vec<Option<f64>>, StoreError> {
    let (Some(first), Some(last)) = (starts.first(), starts.last()) else {
        return Ok(Vec::new());
    };
    let from = *first - Duration::days(SIMILAR_DAYS_LOOKBACK);
    let to = *last + interval();
    let (history, _) = device_series(store, client, device, from, to).await?;
    let history = history.by_start();
    let mut event_days = BTreeSet::new();
    for (start, end) in store.flex_windows_of_device(device, from, to).await? {
        let mut day = start.with_timezone(&tz).date_naive();
        let last_day = (end - Duration::seconds(1)).with_timezone(&tz).date_naive();
        while day <= last_day {
            event_days.insert(day);
            day += Duration::days(1);
        }
    }
    let baseline = SimilarDays {
        history: &history,
        event_days: &event_days,
        known_since,
        days: SIMILAR_DAYS,
        tz,
    };
    Ok(baseline.estimate(starts))
}

/// How often (on the engine's clock) the watcher looks at open events' parts.
pub const WATCH_EVERY: Duration = Duration::seconds(30);
/// How long the watcher sleeps between looks at the clock.
const TICK: StdDuration = StdDuration::from_secs(2);
/// The most parts looked at per batch.
const BATCH: u32 = 200;

/// Looks at the meter of every part of an open event and records the first charge each event did
/// not allow on it (a car started from its own app, a charger that ignored its cap) as an override
/// attributed to the enrolment, with a `user:flex-event:override` webhook event.
#[derive(Debug)]
pub struct OverrideWatcher {
    engine: Arc<Engine>,
    phase_voltage: f64,
    phases: u8,
}

impl OverrideWatcher {
    /// A watcher turning caps in amperes into kW at `phase_voltage` on `phases` phases.
    pub fn new(engine: Arc<Engine>, phase_voltage: f64, phases: u8) -> Arc<Self> {
        Arc::new(Self {
            engine,
            phase_voltage,
            phases,
        })
    }

    /// Runs the watcher until the server's `tasks` stop: a look every [`WATCH_EVERY`] of the
    /// engine's clock (a test's clock that jumps is noticed within [`TICK`]).
    pub fn spawn(self: &Arc<Self>, tasks: &Tasks) {
        let watcher = self.clone();
        let shutdown = tasks.token().clone();
        // One node watches: the one holding the job.
        let job = self.engine.leases().singleton(crate::singleton::jobs::OVERRIDES);
        tasks.spawn("flex override watcher", async move {
            let mut last: Option<DateTime<Utc>> = None;
            loop {
                let now = watcher.engine.clock().now();
                if job.held() && last.is_none_or(|l| now >= l + WATCH_EVERY || now < l) {
                    last = Some(now);
                    match watcher.look(now).await {
                        Ok(0) => {}
                        Ok(found) => tracing::info!(found, "overrides of flex events recorded"),
                        Err(e) => tracing::warn!(error = %e, "cannot look for overrides of flex events"),
                    }
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(TICK) => {}
                }
            }
        });
    }

    /// Looks at every open part at `now`; how many overrides were recorded.
    #[tracing::instrument(skip(self))]
    pub async fn look(&self, now: DateTime<Utc>) -> Result<u32, StoreError> {
        let store = self.engine.store.as_ref();
        let mut events: HashMap<FlexEventId, Option<FlexEvent>> = HashMap::new();
        let mut after = None;
        let mut found = 0;
        loop {
            let ids = store.open_flex_targets(now, after.as_ref(), BATCH).await?;
            let Some(last) = ids.last().cloned() else { break };
            for id in ids {
                let Some(target) = store.flex_target(&id).await? else {
                    continue;
                };
                if !events.contains_key(&target.event_id) {
                    let event = store.get_flex_event(&target.client_id, &target.event_id).await?;
                    events.insert(target.event_id.clone(), event);
                }
                let Some(Some(event)) = events.get(&target.event_id) else {
                    continue;
                };
                match self.check(event, &target, now).await {
                    Ok(true) => found += 1,
                    Ok(false) => {}
                    Err(e) => tracing::warn!(target_id = %target.id, error = %e, "cannot look for an override"),
                }
            }
            after = Some(last);
        }
        Ok(found)
    }

    /// Looks at one part's meter from its start (after [`OVERRIDE_GRACE`]) until `now`; whether
    /// a new override was recorded.
    async fn check(&self, event: &FlexEvent, target: &FlexTarget, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let store = self.engine.store.as_ref();
        let from = event.target_start(target.delay_s) + OVERRIDE_GRACE;
        let to = now.min(event.end);
        if to <= from {
            return Ok(false);
        }
        let (volts, phases) = (self.phase_voltage, self.phases);
        let (finding, source) = match &target.device {
            TargetDevice::Charger(charger) => {
                let Some(source_id) = &target.limit_source_id else {
                    return Ok(false);
                };
                let Some(limit) = store.get_limit_source(&target.client_id, source_id).await? else {
                    return Ok(false);
                };
                let samples: Vec<PowerSample> = store
                    .power_samples_since(charger, from)
                    .await?
                    .into_iter()
                    .filter(|s| s.at < to)
                    .collect();
                let series = charger_series(store, &target.client_id, charger, from, to).await?;
                let cap_at = |at| cap_kw(limit.limit_at(at).unwrap_or(limit.max_current_a), volts, phases);
                (
                    first_override(&samples, Some(&series), from, to, cap_at),
                    TelemetrySource::ChargerMeter,
                )
            }
            TargetDevice::Vehicle(vehicle) => {
                let samples: Vec<PowerSample> = store
                    .vehicle_readings(vehicle, from, to)
                    .await?
                    .into_iter()
                    .filter(|r| r.at >= from)
                    .filter_map(|r| match (r.is_charging, r.charge_rate_kw) {
                        // A car that says it is not charging draws nothing, whatever rate it shows.
                        (Some(false), _) | (_, None) => None,
                        (_, Some(kw)) => Some(PowerSample { at: r.at, kw }),
                    })
                    .collect();
                let cap = cap_kw(event.limit_a, volts, phases);
                (
                    first_override(&samples, None, from, to, |_| cap),
                    TelemetrySource::Vehicle,
                )
            }
        };
        let Some(finding) = finding else { return Ok(false) };
        let what = match source {
            TelemetrySource::ChargerMeter => "the charger's meter",
            TelemetrySource::Vehicle => "the car",
        };
        let reason = format!(
            "{what} showed {:.2} kW at {}, above the event's cap of {:.2} kW (tolerance {:.2} kW): a charge the event did not allow",
            finding.power_kw,
            finding.at.to_rfc3339(),
            finding.cap_kw,
            coupler_core::flex::override_tolerance_kw(finding.cap_kw),
        );
        let recorded = FlexOverride {
            id: FlexOverrideId::generate(),
            client_id: target.client_id.clone(),
            event_id: event.id.clone(),
            target_id: target.id.clone(),
            enrolment_id: target.enrolment_id.clone(),
            user_id: target.user_id.clone(),
            source,
            observed_at: finding.at,
            observed_kw: finding.power_kw,
            cap_kw: finding.cap_kw,
            by: format!("the enrolment's user ({}), as attributed", target.user_id),
            reason,
            detected_at: now,
        };
        let new = store.insert_flex_override(&recorded).await?;
        if new {
            tracing::info!(event_id = %event.id, target_id = %target.id, kw = finding.power_kw, cap_kw = finding.cap_kw, "override of a flex event");
        }
        Ok(new)
    }
}
