//! The rolling 24-hour forecast of a program's (or a group's) flexible load: how many devices are
//! expected to be plugged in, the load they are expected to draw, and how much of it could be shed
//! or deferred without a driver missing their departure.
//!
//! Each device is forecast from what Coupler knows of it:
//!
//! - **Now.** A device plugged in now stays until its smart-charging deadline, or (without one)
//!   until its usual departure for a plug-in at that time of day, or else to the end of the window.
//!   It draws its smart-charging plan when it has one, otherwise it charges at once, as fast as the
//!   limits in force allow, until the energy it still wants is in (the plan's target, or what its
//!   plug-ins usually take, or else its present power until it leaves).
//! - **Habits.** Later plug-ins are the device's own past ones moved onto the coming day: every
//!   past day of the lookback, of the same kind (a working day or a weekend day, locally) as the
//!   forecast moment, counts once, and the forecast is their average. A past plug-in counts only
//!   if it would begin after the device is free (after now, or after the present plug-in ends): a
//!   car that is not home now can only come home later. Each past plug-in is taken to charge its
//!   energy at once, as fast as the limits in force at the forecast moment allow.
//! - **Flexible load.** The power in a slot is flexible as far as the slot's energy could be left
//!   out and made up before the plug-in ends at the power the device may draw after the slot
//!   (the laxity of the plug-in). A plug-in that must charge flat out until it leaves has none.
//!
//! The computation is pure; the API reads sessions, meters, plans and limit sources from the
//! store and hands them in as [`DeviceOutlook`]s.

use chrono::{Timelike, Weekday};
use chrono_tz::Tz;

use super::*;

/// How many past days a device's habits are read from.
pub const HABIT_LOOKBACK_DAYS: i64 = 28;
/// How far ahead a forecast looks.
pub const FORECAST_HOURS: i64 = 24;
/// The grid the forecast is computed on, minutes (slots are whole multiples of it).
const STEP_MINUTES: i64 = 5;
/// How far past the window a present plug-in is followed, to see its laxity near the window's end.
const TAIL_HOURS: i64 = 48;
/// Past plug-ins that began within this of the present one's local time of day say how long it
/// lasts.
const SIMILAR_ARRIVAL_MINUTES: i64 = 120;

/// How long a forecast slot is.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SlotLength {
    /// Quarter-hours (96 slots).
    #[serde(rename = "PT15M")]
    QuarterHour,
    /// Hours (24 slots).
    #[serde(rename = "PT1H")]
    Hour,
}

impl SlotLength {
    /// The wire name (an ISO 8601 duration).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::QuarterHour => "PT15M",
            Self::Hour => "PT1H",
        }
    }

    /// Reads a wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::QuarterHour, Self::Hour].into_iter().find(|s| s.as_str() == raw)
    }

    /// Its length, minutes.
    pub fn minutes(self) -> i64 {
        match self {
            Self::QuarterHour => 15,
            Self::Hour => 60,
        }
    }
}

/// One of a device's past plug-ins.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PastStay {
    /// When it was plugged in.
    pub arrived_at: DateTime<Utc>,
    /// When it was unplugged.
    pub left_at: DateTime<Utc>,
    /// Energy it took, kWh.
    pub energy_kwh: f64,
}

/// A device's present plug-in.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PluggedNow {
    /// When it was plugged in.
    pub since: Option<DateTime<Utc>>,
    /// Power drawn now, kW.
    pub power_kw: f64,
    /// Energy taken so far in this plug-in, kWh.
    pub delivered_kwh: f64,
    /// Energy it still wants, kWh, when smart charging knows (its target less what is in).
    pub energy_needed_kwh: Option<f64>,
    /// When it must be ready (its smart-charging deadline), taken as when it leaves.
    pub deadline: Option<DateTime<Utc>>,
    /// Its smart-charging plan, when one is being carried out: `(start, end, kW)`.
    pub plan: Vec<(DateTime<Utc>, DateTime<Utc>, f64)>,
}

/// A cap on a device's power over a window, from the limits in force (a user's, a site's, an
/// event's).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerCap {
    /// From when; `None`: already.
    pub from: Option<DateTime<Utc>>,
    /// Until when; `None`: until removed.
    pub to: Option<DateTime<Utc>>,
    /// At most, kW.
    pub max_kw: f64,
}

/// What is known about one enrolled device, for its forecast.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceOutlook {
    /// The most it draws, kW.
    pub max_power_kw: f64,
    /// Its local time zone (its location's), for working days and times of day.
    pub time_zone: Tz,
    /// Since when Coupler has known it: days before that are no evidence of its habits.
    pub known_since: DateTime<Utc>,
    /// Its finished plug-ins of the lookback.
    pub stays: Vec<PastStay>,
    /// Its present plug-in, if it is plugged in.
    pub now: Option<PluggedNow>,
    /// The caps in force now or later.
    pub caps: Vec<PowerCap>,
}

/// One slot of a forecast, summed over the devices.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ForecastSlot {
    /// Where the slot starts.
    pub start: DateTime<Utc>,
    /// Where it ends.
    pub end: DateTime<Utc>,
    /// How many devices are expected to be plugged in (an expectation, so fractional).
    pub plugged_in: f64,
    /// The load they are expected to draw, kW (mean over the slot).
    pub load_kw: f64,
    /// How much of that load could be shed or deferred without a plug-in ending short, kW.
    pub flexible_kw: f64,
}

/// A forecast of a set of devices.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    /// Its window's start (the start of the slot holding now).
    pub from: DateTime<Utc>,
    /// Its window's end, 24 hours later.
    pub to: DateTime<Utc>,
    /// The slot length.
    pub slot: SlotLength,
    /// How many devices it covers.
    pub devices: usize,
    /// How many of them are plugged in now.
    pub plugged_in_now: usize,
    /// How many of them have past plug-ins to forecast from.
    pub with_habits: usize,
    /// The slots, in order.
    pub slots: Vec<ForecastSlot>,
}

/// The per-step sums a device adds to the forecast.
#[derive(Debug, Clone, Default)]
struct Grid {
    plugged: Vec<f64>,
    load: Vec<f64>,
    flex: Vec<f64>,
}

impl Grid {
    fn new(steps: usize) -> Self {
        Self {
            plugged: vec![0.0; steps],
            load: vec![0.0; steps],
            flex: vec![0.0; steps],
        }
    }
}

/// The forecast of `devices` at `now`, in `slot`s over the next 24 hours.
pub fn forecast(devices: &[DeviceOutlook], now: DateTime<Utc>, slot: SlotLength) -> Forecast {
    let slot_minutes = slot.minutes();
    let from = floor_to(now, slot_minutes);
    let to = from + Duration::hours(FORECAST_HOURS);
    let steps = ((to - from).num_minutes() / STEP_MINUTES) as usize;
    let mut total = Grid::new(steps);
    for device in devices {
        device_forecast(device, now, from, steps, &mut total);
    }
    let per_slot = (slot_minutes / STEP_MINUTES) as usize;
    let slots = (0..steps / per_slot)
        .map(|s| {
            let range = s * per_slot..(s + 1) * per_slot;
            let mean = |values: &[f64]| values[range.clone()].iter().sum::<f64>() / per_slot as f64;
            let start = from + Duration::minutes(slot_minutes * s as i64);
            ForecastSlot {
                start,
                end: start + Duration::minutes(slot_minutes),
                plugged_in: round(mean(&total.plugged), 100.0),
                load_kw: round(mean(&total.load), 100.0),
                flexible_kw: round(mean(&total.flex), 100.0),
            }
        })
        .collect();
    Forecast {
        from,
        to,
        slot,
        devices: devices.len(),
        plugged_in_now: devices.iter().filter(|d| d.now.is_some()).count(),
        with_habits: devices.iter().filter(|d| !d.stays.is_empty()).count(),
        slots,
    }
}

fn round(value: f64, scale: f64) -> f64 {
    (value * scale).round() / scale
}

fn floor_to(at: DateTime<Utc>, minutes: i64) -> DateTime<Utc> {
    let seconds = minutes * 60;
    let ts = at.timestamp();
    DateTime::from_timestamp(ts - ts.rem_euclid(seconds), 0).unwrap_or(at)
}

fn hours(d: Duration) -> f64 {
    d.num_seconds() as f64 / 3600.0
}

/// The cap on the device at `at`, kW (its own maximum when nothing caps it).
fn cap_at(device: &DeviceOutlook, at: DateTime<Utc>) -> f64 {
    device
        .caps
        .iter()
        .filter(|c| c.from.is_none_or(|f| f <= at) && c.to.is_none_or(|t| at < t))
        .map(|c| c.max_kw.max(0.0))
        .fold(device.max_power_kw.max(0.0), f64::min)
}

/// Adds one device's expected plug-in, load and flexible load to `total`.
fn device_forecast(device: &DeviceOutlook, now: DateTime<Utc>, from: DateTime<Utc>, steps: usize, total: &mut Grid) {
    let step = Duration::minutes(STEP_MINUTES);
    let to = from + step * steps as i32;
    // Until when the device is taken: by the present plug-in, or by nobody from now on.
    let free_from = match &device.now {
        Some(present) => {
            let leaves = present
                .deadline
                .filter(|d| *d > now)
                .or_else(|| usual_departure(device, present.since.unwrap_or(now)).filter(|d| *d > now))
                .unwrap_or(to);
            let draw = if !present.plan.is_empty() {
                Draw::Plan(&present.plan)
            } else {
                let usual = median(device.stays.iter().map(|s| s.energy_kwh));
                match present
                    .energy_needed_kwh
                    .or_else(|| usual.map(|usual| (usual - present.delivered_kwh).max(0.0)))
                {
                    Some(energy) => Draw::Energy(energy),
                    None => Draw::Constant(present.power_kw),
                }
            };
            add_plug_in(device, from, steps, from, leaves, &draw, |_| 1.0, total);
            leaves.max(now)
        }
        None => now,
    };
    let offsets: Vec<i64> = (1..=HABIT_LOOKBACK_DAYS)
        .filter(|k| now - Duration::days(*k) >= device.known_since)
        .collect();
    if offsets.is_empty() || device.stays.is_empty() {
        return;
    }
    // Per step: the past days of the same kind (working day or weekend) that count for it.
    let counting: Vec<Vec<i64>> = (0..steps)
        .map(|i| {
            let mid = from + step * i as i32 + step / 2;
            let kind = is_weekend(mid, device.time_zone);
            let same: Vec<i64> = offsets
                .iter()
                .copied()
                .filter(|k| is_weekend(mid - Duration::days(*k), device.time_zone) == kind)
                .collect();
            if same.is_empty() {
                offsets.clone()
            } else {
                same
            }
        })
        .collect();
    for stay in &device.stays {
        if stay.left_at <= stay.arrived_at {
            continue;
        }
        for &k in &offsets {
            let shift = Duration::days(k);
            let (arrive, leave) = (stay.arrived_at + shift, stay.left_at + shift);
            if arrive < free_from || arrive >= to {
                continue;
            }
            let weight = |i: usize| {
                counting
                    .get(i)
                    .filter(|days| days.contains(&k))
                    .map_or(0.0, |days| 1.0 / days.len() as f64)
            };
            let draw = Draw::Energy(stay.energy_kwh);
            add_plug_in(device, from, steps, arrive, leave, &draw, weight, total);
        }
    }
}

/// What a plug-in is expected to draw.
enum Draw<'a> {
    /// This much energy, at once, as fast as the caps allow.
    Energy(f64),
    /// This power throughout (capped).
    Constant(f64),
    /// A smart-charging plan's slots (capped).
    Plan(&'a [(DateTime<Utc>, DateTime<Utc>, f64)]),
}

/// Hours of `[u, v)` within `[a, b)`.
fn overlap(u: DateTime<Utc>, v: DateTime<Utc>, a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    hours((v.min(b) - u.max(a)).max(Duration::zero()))
}

/// Adds a plug-in from `arrive` until `leave` to the grid's first `steps` steps from `from`, each
/// step weighted by `weight`. It is followed past the window (up to two days) so that its laxity
/// near the window's end is known.
#[allow(clippy::too_many_arguments)]
fn add_plug_in(
    device: &DeviceOutlook,
    from: DateTime<Utc>,
    steps: usize,
    arrive: DateTime<Utc>,
    leave: DateTime<Utc>,
    draw: &Draw<'_>,
    weight: impl Fn(usize) -> f64,
    total: &mut Grid,
) {
    let step = Duration::minutes(STEP_MINUTES);
    let step_h = hours(step);
    let window_end = from + step * steps as i32;
    let horizon = leave.min(window_end + Duration::hours(TAIL_HOURS));
    let first = ((arrive - from).num_seconds().max(0) / (STEP_MINUTES * 60)) as usize;
    let last = ((horizon - from).num_seconds() + STEP_MINUTES * 60 - 1).max(0) / (STEP_MINUTES * 60);
    let n = (last as usize).saturating_sub(first);
    if n == 0 {
        return;
    }
    let start = |j: usize| from + step * (first + j) as i32;
    let present: Vec<f64> = (0..n)
        .map(|j| overlap(start(j), start(j) + step, arrive, leave) / step_h)
        .collect();
    // The most it may draw in each step, and what it is expected to draw.
    let room: Vec<f64> = (0..n)
        .map(|j| cap_at(device, start(j) + step / 2) * present[j])
        .collect();
    let mut load = vec![0.0; n];
    match draw {
        Draw::Energy(energy) => {
            let mut left = energy.max(0.0);
            for j in 0..n {
                let e = (room[j] * step_h).min(left);
                load[j] = e / step_h;
                left -= e;
            }
        }
        Draw::Constant(power) => {
            for j in 0..n {
                load[j] = (power.max(0.0) * present[j]).min(room[j]);
            }
        }
        Draw::Plan(plan) => {
            for j in 0..n {
                let mid = start(j) + step / 2;
                let planned = plan
                    .iter()
                    .find(|(s, e, _)| *s <= mid && mid < *e)
                    .map_or(0.0, |(_, _, kw)| *kw);
                load[j] = (planned.max(0.0) * present[j]).min(room[j]);
            }
        }
    }
    // Laxity: a step's energy can be moved when the room after it holds what is left after it.
    let mut room_after: f64 = 0.0;
    let mut left_after = 0.0;
    let mut flex = vec![0.0; n];
    for j in (0..n).rev() {
        let energy = load[j] * step_h;
        flex[j] = energy.min((room_after - left_after).max(0.0)) / step_h;
        room_after += room[j] * step_h;
        left_after += energy;
    }
    for j in 0..n {
        let i = first + j;
        if i >= steps {
            break;
        }
        let w = weight(i);
        total.plugged[i] += w * present[j];
        total.load[i] += w * load[j];
        total.flex[i] += w * flex[j];
    }
}

/// When a plug-in that began at `since` usually ends: the median length of the device's past
/// plug-ins that began within two hours of that local time of day (or of all of them).
fn usual_departure(device: &DeviceOutlook, since: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let tz = device.time_zone;
    let minute = |at: DateTime<Utc>| {
        let local = at.with_timezone(&tz).time();
        i64::from(local.num_seconds_from_midnight() / 60)
    };
    let arrived = minute(since);
    let close = |at: DateTime<Utc>| {
        let d = (minute(at) - arrived).rem_euclid(24 * 60);
        d.min(24 * 60 - d) <= SIMILAR_ARRIVAL_MINUTES
    };
    let length = |s: &PastStay| (s.left_at - s.arrived_at).num_minutes() as f64;
    let similar = median(device.stays.iter().filter(|s| close(s.arrived_at)).map(length));
    similar
        .or_else(|| median(device.stays.iter().map(length)))
        .map(|minutes| since + Duration::minutes(minutes.round() as i64))
}

fn median(values: impl Iterator<Item = f64>) -> Option<f64> {
    let mut all: Vec<f64> = values.filter(|v| v.is_finite()).collect();
    if all.is_empty() {
        return None;
    }
    all.sort_by(f64::total_cmp);
    let mid = all.len() / 2;
    Some(if all.len().is_multiple_of(2) {
        (all[mid - 1] + all[mid]) / 2.0
    } else {
        all[mid]
    })
}

fn is_weekend(at: DateTime<Utc>, tz: Tz) -> bool {
    matches!(at.with_timezone(&tz).weekday(), Weekday::Sat | Weekday::Sun)
}

#[cfg(test)]
#[path = "forecast_tests.rs"]
mod tests;
