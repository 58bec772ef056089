//! Telemetry for measurement: energy and power per device in 15-minute intervals, from the
//! readings a charger's meter or a car sent, and what an event delivered against a baseline.
//!
//! A charger's energy register is read at whatever times the charger sends readings. The energy
//! between two readings is spread evenly over the time between them and cut at interval edges, so
//! a reading that straddles an edge gives each interval its share. Readings more than
//! [`MAX_READING_GAP`] apart (a charger that was offline) still give their energy, spread the same
//! way, but the intervals it lands in are marked `estimated`. A car reports its charging power: each
//! report holds until the next one, for at most [`MAX_POWER_HOLD`]; after that nothing is known.

use std::collections::BTreeMap;

use super::*;
use crate::costs::EnergyReading;

/// The length of one measurement interval, minutes.
pub const INTERVAL_MINUTES: i64 = 15;
/// Readings further apart than this leave the intervals between them estimated, not measured.
pub const MAX_READING_GAP: Duration = Duration::minutes(15);
/// How long a car's reported charging power is taken to hold without a newer report.
pub const MAX_POWER_HOLD: Duration = Duration::minutes(30);
/// The longest span one telemetry request covers, days.
pub const MAX_TELEMETRY_DAYS: i64 = 31;

/// The interval length as a duration.
pub fn interval() -> Duration {
    Duration::minutes(INTERVAL_MINUTES)
}

/// The start of the interval `at` falls in (intervals are cut in UTC from the hour).
pub fn interval_start(at: DateTime<Utc>) -> DateTime<Utc> {
    let step = INTERVAL_MINUTES * 60;
    let secs = at.timestamp().div_euclid(step) * step;
    DateTime::from_timestamp(secs, 0).unwrap_or(at)
}

/// The first interval edge at or after `at`.
pub fn interval_end(at: DateTime<Utc>) -> DateTime<Utc> {
    let start = interval_start(at);
    if start == at {
        at
    } else {
        start + interval()
    }
}

/// Where a telemetry series comes from.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TelemetrySource {
    /// The charger's own energy register and power readings (OCPP MeterValues).
    ChargerMeter,
    /// The car's reported charging power (read from its maker).
    Vehicle,
}

impl TelemetrySource {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ChargerMeter => "CHARGER_METER",
            Self::Vehicle => "VEHICLE",
        }
    }

    /// Reads a wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::ChargerMeter, Self::Vehicle]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// One reading of a car's charge state, kept for measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VehicleReading {
    /// When the maker recorded it.
    pub at: DateTime<Utc>,
    /// The charging power, kW (`None`: not reported).
    pub charge_rate_kw: Option<f64>,
    /// Whether the car was charging (`None`: not reported).
    pub is_charging: Option<bool>,
    /// State of charge, percent.
    pub battery_level: Option<f64>,
}

/// One interval of a device's or site's telemetry.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TelemetryInterval {
    /// Where it starts.
    pub start: DateTime<Utc>,
    /// Where it ends (15 minutes on).
    pub end: DateTime<Utc>,
    /// Energy taken in it, kWh.
    pub energy_kwh: f64,
    /// Its average power, kW (the energy over the interval's length).
    pub average_power_kw: f64,
    /// The highest power reading in it, kW, when the device reported power.
    pub max_power_kw: Option<f64>,
    /// The share of the interval readings cover (0 to 1): 0 where nothing was reported, which for
    /// a charger means no session was running.
    pub coverage: f64,
    /// Whether some of its energy was spread over a gap between readings longer than 15 minutes.
    pub estimated: bool,
}

/// A device's or site's telemetry over a span, one entry per interval (empty intervals included).
#[derive(Debug, Clone, PartialEq)]
pub struct IntervalSeries {
    /// Where the first interval starts.
    pub from: DateTime<Utc>,
    /// Where the last interval ends.
    pub to: DateTime<Utc>,
    slots: Vec<Slot>,
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct Slot {
    energy_kwh: f64,
    max_power_kw: Option<f64>,
    covered_s: f64,
    estimated: bool,
}

impl IntervalSeries {
    /// An empty series over the intervals covering `[from, to)` (widened to interval edges).
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        let from = interval_start(from);
        let to = interval_end(to).max(from);
        let n = usize::try_from((to - from).num_minutes() / INTERVAL_MINUTES).unwrap_or(0);
        Self {
            from,
            to,
            slots: vec![Slot::default(); n],
        }
    }

    /// How many intervals it has.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether it has no intervals.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Each interval's start.
    pub fn starts(&self) -> Vec<DateTime<Utc>> {
        (0..self.slots.len()).map(|i| self.start_of(i)).collect()
    }

    fn start_of(&self, i: usize) -> DateTime<Utc> {
        self.from + interval() * i32::try_from(i).unwrap_or(i32::MAX)
    }

    fn index(&self, at: DateTime<Utc>) -> Option<usize> {
        if at < self.from || at >= self.to {
            return None;
        }
        usize::try_from((at - self.from).num_seconds() / (INTERVAL_MINUTES * 60)).ok()
    }

    /// Spreads `energy_kwh` evenly over `[start, end)`, cutting it at interval edges; the part
    /// outside the series is dropped.
    fn spread(&mut self, start: DateTime<Utc>, end: DateTime<Utc>, energy_kwh: f64, estimated: bool) {
        if end <= start {
            if let Some(i) = self.index(start) {
                self.slots[i].energy_kwh += energy_kwh;
            }
            return;
        }
        let span = (end - start).num_milliseconds() as f64;
        let mut at = start.max(self.from);
        let stop = end.min(self.to);
        while at < stop {
            let Some(i) = self.index(at) else { break };
            let edge = (self.start_of(i) + interval()).min(stop);
            let part = (edge - at).num_milliseconds() as f64;
            let slot = &mut self.slots[i];
            slot.energy_kwh += energy_kwh * part / span;
            slot.covered_s += part / 1000.0;
            slot.estimated |= estimated;
            at = edge;
        }
    }

    /// Adds one session's energy register readings (in any order): the rise between each pair of
    /// readings, spread over the time between them. A register that goes backwards adds nothing.
    pub fn add_register(&mut self, readings: &[EnergyReading]) {
        let mut sorted: Vec<EnergyReading> = readings.iter().copied().filter(|r| r.register_wh.is_finite()).collect();
        sorted.sort_by_key(|r| r.at);
        for pair in sorted.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let energy = ((b.register_wh - a.register_wh) / 1000.0).max(0.0);
            self.spread(a.at, b.at, energy, b.at - a.at > MAX_READING_GAP);
        }
    }

    /// Notes power readings (kW): each interval keeps its highest.
    pub fn add_power_peaks(&mut self, samples: &[crate::ev_system::PowerSample]) {
        for sample in samples.iter().filter(|s| s.kw.is_finite()) {
            if let Some(i) = self.index(sample.at) {
                let slot = &mut self.slots[i];
                slot.max_power_kw = Some(slot.max_power_kw.map_or(sample.kw, |m| m.max(sample.kw)));
            }
        }
    }

    /// Adds a car's readings: each reported power (0 when it said it was not charging) holds until
    /// the next reading, for at most [`MAX_POWER_HOLD`]. Readings that say neither are skipped.
    pub fn add_vehicle_readings(&mut self, readings: &[VehicleReading]) {
        let mut known: Vec<(DateTime<Utc>, f64)> = readings
            .iter()
            .filter_map(|r| {
                let kw = match (r.charge_rate_kw, r.is_charging) {
                    (_, Some(false)) => 0.0,
                    (Some(kw), _) if kw.is_finite() => kw.max(0.0),
                    _ => return None,
                };
                Some((r.at, kw))
            })
            .collect();
        known.sort_by_key(|(at, _)| *at);
        for (i, (at, kw)) in known.iter().enumerate() {
            let held_until = *at + MAX_POWER_HOLD;
            let end = known.get(i + 1).map_or(held_until, |(next, _)| (*next).min(held_until));
            if end <= *at {
                continue;
            }
            let hours = (end - *at).num_milliseconds() as f64 / 3_600_000.0;
            self.spread(*at, end, kw * hours, false);
            if let Some(i) = self.index(*at) {
                let slot = &mut self.slots[i];
                slot.max_power_kw = Some(slot.max_power_kw.map_or(*kw, |m| m.max(*kw)));
            }
        }
    }

    /// Adds another series over the same span (a site's devices summed).
    pub fn add_series(&mut self, other: &IntervalSeries) {
        for (mine, theirs) in self.slots.iter_mut().zip(other.slots.iter()) {
            mine.energy_kwh += theirs.energy_kwh;
            mine.covered_s = mine.covered_s.max(theirs.covered_s);
            mine.estimated |= theirs.estimated;
            mine.max_power_kw = match (mine.max_power_kw, theirs.max_power_kw) {
                (Some(a), Some(b)) => Some(a + b),
                (a, b) => a.or(b),
            };
        }
    }

    /// The intervals as shown.
    pub fn intervals(&self) -> Vec<TelemetryInterval> {
        let hours = INTERVAL_MINUTES as f64 / 60.0;
        self.slots
            .iter()
            .enumerate()
            .map(|(i, slot)| {
                let start = self.start_of(i);
                TelemetryInterval {
                    start,
                    end: start + interval(),
                    energy_kwh: slot.energy_kwh,
                    average_power_kw: slot.energy_kwh / hours,
                    max_power_kw: slot.max_power_kw,
                    coverage: (slot.covered_s / (INTERVAL_MINUTES * 60) as f64).min(1.0),
                    estimated: slot.estimated,
                }
            })
            .collect()
    }

    /// Each interval's average power, kW.
    pub fn average_kw(&self) -> Vec<f64> {
        let hours = INTERVAL_MINUTES as f64 / 60.0;
        self.slots.iter().map(|s| s.energy_kwh / hours).collect()
    }

    /// The average power by interval start, kW (what baselines read history from).
    pub fn by_start(&self) -> BTreeMap<DateTime<Utc>, f64> {
        self.starts().into_iter().zip(self.average_kw()).collect()
    }
}

/// One interval of an event's results: baseline, actual and delivered (baseline less actual).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultInterval {
    /// Where it starts.
    pub start: DateTime<Utc>,
    /// Where it ends.
    pub end: DateTime<Utc>,
    /// What the load would have been without the event, kW (`None`: no baseline).
    pub baseline_kw: Option<f64>,
    /// What it was, kW.
    pub actual_kw: f64,
    /// The reduction: baseline less actual, kW.
    pub delivered_kw: Option<f64>,
    /// The baseline's energy, kWh.
    pub baseline_kwh: Option<f64>,
    /// The energy taken, kWh.
    pub actual_kwh: f64,
    /// The energy not taken: baseline less actual, kWh.
    pub delivered_kwh: Option<f64>,
}

/// Totals of an event's (or one enrolment's) results over its intervals.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultTotals {
    /// The baseline's energy, kWh, over the intervals that have one.
    pub baseline_kwh: f64,
    /// The energy taken, kWh.
    pub actual_kwh: f64,
    /// The energy not taken, kWh, over the intervals that have a baseline.
    pub delivered_kwh: f64,
    /// The mean reduction over the intervals that have a baseline, kW.
    pub average_delivered_kw: f64,
    /// Intervals without a baseline (left out of the baseline and delivered totals).
    pub intervals_without_baseline: u32,
}

/// Results per interval starting at `starts`, from each interval's baseline and actual average
/// power, with their totals. The slices are read pairwise; extra entries are ignored.
pub fn results(
    starts: &[DateTime<Utc>],
    baseline_kw: &[Option<f64>],
    actual_kw: &[f64],
) -> (Vec<ResultInterval>, ResultTotals) {
    let hours = INTERVAL_MINUTES as f64 / 60.0;
    let mut totals = ResultTotals::default();
    let mut with_baseline = 0u32;
    let rows = starts
        .iter()
        .zip(baseline_kw.iter())
        .zip(actual_kw.iter())
        .map(|((start, baseline), actual)| {
            let delivered = baseline.map(|b| b - actual);
            totals.actual_kwh += actual * hours;
            match (baseline, delivered) {
                (Some(b), Some(d)) => {
                    totals.baseline_kwh += b * hours;
                    totals.delivered_kwh += d * hours;
                    totals.average_delivered_kw += d;
                    with_baseline += 1;
                }
                _ => totals.intervals_without_baseline += 1,
            }
            ResultInterval {
                start: *start,
                end: *start + interval(),
                baseline_kw: *baseline,
                actual_kw: *actual,
                delivered_kw: delivered,
                baseline_kwh: baseline.map(|b| b * hours),
                actual_kwh: actual * hours,
                delivered_kwh: delivered.map(|d| d * hours),
            }
        })
        .collect();
    if with_baseline > 0 {
        totals.average_delivered_kw /= f64::from(with_baseline);
    }
    (rows, totals)
}

/// The power a cap in amperes per phase allows on `phases` phases at `phase_voltage`, kW.
pub fn cap_kw(limit_a: f64, phase_voltage: f64, phases: u8) -> f64 {
    limit_a * phase_voltage * f64::from(phases.max(1)) / 1000.0
}

/// How far above a cap metered power may go before it counts as an override, kW: meters and
/// chargers' current control are not exact, so 10 % of the cap, and never less than 0.5 kW.
pub fn override_tolerance_kw(cap_kw: f64) -> f64 {
    (cap_kw * 0.1).max(0.5)
}

/// How long after a target's start its device is given to settle under the cap before metered
/// power above it counts (a charger ramps down; readings in flight were taken before).
pub const OVERRIDE_GRACE: Duration = Duration::minutes(2);

/// What the meter showed that the event did not allow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OverrideFinding {
    /// When it was measured (a power reading's time, or the start of an interval whose average was
    /// too high).
    pub at: DateTime<Utc>,
    /// The power measured, kW.
    pub power_kw: f64,
    /// The cap it broke, kW.
    pub cap_kw: f64,
}

/// The first time in `[from, to)` the device drew more than its cap (`cap_at`, kW, at a moment)
/// plus [`override_tolerance_kw`]: from a power reading, or from an interval wholly inside the
/// window whose average power was above it (for meters that send only their register).
pub fn first_override(
    samples: &[crate::ev_system::PowerSample],
    series: Option<&IntervalSeries>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    cap_at: impl Fn(DateTime<Utc>) -> f64,
) -> Option<OverrideFinding> {
    let over = |at: DateTime<Utc>, kw: f64| {
        let cap = cap_at(at);
        (kw.is_finite() && kw > cap + override_tolerance_kw(cap)).then_some(OverrideFinding {
            at,
            power_kw: kw,
            cap_kw: cap,
        })
    };
    let mut found: Option<OverrideFinding> = None;
    let mut keep = |f: OverrideFinding| {
        if found.is_none_or(|best| f.at < best.at) {
            found = Some(f);
        }
    };
    for sample in samples.iter().filter(|s| s.at >= from && s.at < to) {
        if let Some(f) = over(sample.at, sample.kw) {
            keep(f);
            break;
        }
    }
    if let Some(series) = series {
        for interval in series.intervals() {
            if interval.start >= from && interval.end <= to && interval.coverage > 0.0 {
                if let Some(f) = over(interval.start, interval.average_power_kw) {
                    keep(f);
                    break;
                }
            }
        }
    }
    found
}

time_ordered_id!(
    /// Identifies an override seen on the meter.
    FlexOverrideId
);

/// A charge the event did not allow, seen on the meter, attributed to the enrolment.
#[derive(Debug, Clone, PartialEq)]
pub struct FlexOverride {
    /// Identifier.
    pub id: FlexOverrideId,
    /// The owning client.
    pub client_id: ClientId,
    /// The event.
    pub event_id: FlexEventId,
    /// The target (the enrolment's part).
    pub target_id: FlexTargetId,
    /// The enrolment it is attributed to.
    pub enrolment_id: EnrolmentId,
    /// The enrolment's user.
    pub user_id: UserId,
    /// What saw it.
    pub source: TelemetrySource,
    /// When the device drew too much.
    pub observed_at: DateTime<Utc>,
    /// What it drew, kW.
    pub observed_kw: f64,
    /// The cap it broke, kW.
    pub cap_kw: f64,
    /// Who overrode the event, as far as Coupler can tell.
    pub by: String,
    /// Why it counts, in words.
    pub reason: String,
    /// When Coupler noticed.
    pub detected_at: DateTime<Utc>,
}
