//! Smart charging as rules: a policy (when the car must be ready, to what level, how cheaply), the
//! next deadline it sets in the location's time zone, the plan a client sees with its states and
//! outcome, and the small decisions the engine's plan keeper takes from what it observes (how much
//! energy is still needed, whether charging fell behind the plan, what a plan asks of a charger or
//! of a vehicle's maker).
//!
//! The planner ([`crate::planner`]) turns the energy needed, the power available and the prices
//! into slots; this module turns a policy and observations into the planner's input and a plan's
//! slots into the `schedule` limit source ([`schedule_from_plan`]).

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::charger::ChargerId;
use crate::client::ClientId;
use crate::ev_system::EvSystemId;
use crate::id::time_ordered_id;
use crate::limits::{SchedulePeriod, MIN_CHARGING_CURRENT_A};
use crate::location::LocationId;
use crate::planner::{Plan, Strategy};
use crate::user::UserId;
use crate::vehicle::VehicleId;

time_ordered_id!(
    /// Identifies a smart-charging policy.
    SmartPolicyId
);
time_ordered_id!(
    /// Identifies a smart-charging plan (one per plug-in that a policy governs).
    SmartPlanId
);

/// The most one-off departures a policy holds at once.
pub const MAX_DEPARTURES: usize = 10;
/// The largest energy target, kWh (more than any car battery).
pub const MAX_TARGET_ENERGY_KWH: f64 = 500.0;
/// How far behind the plan metered energy may be before the plan is made again: this share of the
/// energy planned so far, and at least [`BEHIND_MIN_KWH`].
pub const BEHIND_SHARE: f64 = 0.15;
/// See [`BEHIND_SHARE`], kWh.
pub const BEHIND_MIN_KWH: f64 = 0.5;
/// Energy below this is "there", kWh: meters and estimates round.
pub const REACHED_TOLERANCE_KWH: f64 = 0.05;
/// A state of charge this close below the target counts as the target, percent.
pub const REACHED_TOLERANCE_PERCENT: f64 = 0.5;

/// What a policy governs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PolicyTarget {
    /// A vehicle, wherever it charges: on its paired charger, or through its maker.
    Vehicle(VehicleId),
    /// One vehicle in one charger: applies while the pair is plugged into each other, before the
    /// vehicle's own policy.
    EvSystem(EvSystemId),
    /// Whatever is plugged into a charger and has no policy of its own (an energy target: a
    /// charger knows no state of charge).
    Charger(ChargerId),
}

impl PolicyTarget {
    /// The kind as stored and shown: `vehicle`, `ev_system` or `charger`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Vehicle(_) => "vehicle",
            Self::EvSystem(_) => "ev_system",
            Self::Charger(_) => "charger",
        }
    }

    /// The governed thing's id.
    pub fn id(&self) -> &str {
        match self {
            Self::Vehicle(id) => id.as_str(),
            Self::EvSystem(id) => id.as_str(),
            Self::Charger(id) => id.as_str(),
        }
    }

    /// Reads [`PolicyTarget::kind`] and an id back.
    pub fn from_parts(kind: &str, id: &str) -> Option<Self> {
        match kind {
            "vehicle" => Some(Self::Vehicle(VehicleId::new(id))),
            "ev_system" => Some(Self::EvSystem(EvSystemId::new(id))),
            "charger" => Some(Self::Charger(ChargerId::new(id))),
            _ => None,
        }
    }
}

/// When a car must be ready, to what level, and how the time before is spent: what a client sets,
/// checked ([`PolicySettings::check`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicySettings {
    /// The time of day the car must be ready by, every day (local time at the location).
    pub deadline: NaiveTime,
    /// Another time on some weekdays, Monday first.
    pub weekday_deadlines: [Option<NaiveTime>; 7],
    /// One-off departures: each replaces the routine deadline of its local day, once.
    pub departures: Vec<DateTime<Utc>>,
    /// The state of charge to reach, percent.
    pub target_soc: Option<f64>,
    /// The energy to charge where the state of charge is unknown, kWh (as the charger meters it).
    pub target_energy_kwh: Option<f64>,
    /// Charged at once, whatever the price, up to this state of charge, percent.
    pub minimum_soc: Option<f64>,
    /// How the time before the deadline is spent.
    pub strategy: Strategy,
}

/// A policy as a client sends it, before it is checked.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PolicyDraft {
    /// `HH:MM`, every day.
    pub deadline: Option<String>,
    /// `HH:MM` by weekday, Monday first; `None` keeps the daily deadline.
    pub weekday_deadlines: [Option<String>; 7],
    /// One-off departures.
    pub departures: Vec<DateTime<Utc>>,
    /// Percent.
    pub target_soc: Option<f64>,
    /// kWh.
    pub target_energy_kwh: Option<f64>,
    /// Percent.
    pub minimum_soc: Option<f64>,
    /// Cheapest slots when absent.
    pub strategy: Option<Strategy>,
}

/// The JSON names of the weekdays, Monday first, as a policy's `weekdayDeadlines` takes them.
pub const WEEKDAY_NAMES: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Why a policy is refused; [`PolicyError::pointer`] names the field (a JSON Pointer).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    /// No deadline was given.
    #[error("deadline is required: the time of day the car must be ready by, as HH:MM")]
    DeadlineMissing,
    /// A deadline is not a time of day.
    #[error("'{value}' is not a time of day (HH:MM, from 00:00 to 23:59)")]
    NotATime {
        /// Where it was.
        pointer: String,
        /// What was sent.
        value: String,
    },
    /// A one-off departure is not in the future.
    #[error("the departure {at} is not in the future")]
    DepartureInPast {
        /// Its place in the list.
        index: usize,
        /// When it was.
        at: DateTime<Utc>,
    },
    /// Too many one-off departures.
    #[error("at most {MAX_DEPARTURES} one-off departures")]
    TooManyDepartures,
    /// Neither target was given.
    #[error("give targetSoc (percent) or targetEnergy (kWh)")]
    TargetMissing,
    /// A percentage out of range.
    #[error("{name} must be a number from {min} to 100 percent")]
    Percent {
        /// The field.
        name: &'static str,
        /// The least allowed.
        min: u8,
    },
    /// An energy target out of range.
    #[error("targetEnergy must be a number of kWh above 0 and at most {MAX_TARGET_ENERGY_KWH}")]
    Energy,
    /// The target is below the minimum charge limit.
    #[error("targetSoc ({target} %) is below minimumChargeLimit ({minimum} %)")]
    TargetBelowMinimum {
        /// The target.
        target: f64,
        /// The minimum.
        minimum: f64,
    },
    /// A charger's policy without an energy target.
    #[error("a charger knows no state of charge: give targetEnergy (kWh)")]
    ChargerNeedsEnergy,
}

impl PolicyError {
    /// The JSON Pointer of the refused field.
    pub fn pointer(&self) -> String {
        match self {
            Self::DeadlineMissing => "/deadline".to_owned(),
            Self::NotATime { pointer, .. } => pointer.clone(),
            Self::DepartureInPast { index, .. } => format!("/departures/{index}"),
            Self::TooManyDepartures => "/departures".to_owned(),
            Self::TargetMissing | Self::TargetBelowMinimum { .. } => "/targetSoc".to_owned(),
            Self::Percent { name, .. } => format!("/{name}"),
            Self::Energy | Self::ChargerNeedsEnergy => "/targetEnergy".to_owned(),
        }
    }
}

/// Reads `HH:MM` (or `HH:MM:SS`), 00:00 to 23:59.
pub fn parse_time_of_day(raw: &str) -> Option<NaiveTime> {
    let parts: Vec<&str> = raw.split(':').collect();
    if !(2..=3).contains(&parts.len())
        || parts
            .iter()
            .any(|p| p.len() != 2 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let number = |i: usize| parts.get(i).map_or(Some(0), |p| p.parse::<u32>().ok());
    NaiveTime::from_hms_opt(number(0)?, number(1)?, number(2)?)
}

/// Writes a time of day as `HH:MM` (with `:SS` when it has seconds).
pub fn format_time_of_day(time: NaiveTime) -> String {
    if time.format("%S").to_string() == "00" {
        time.format("%H:%M").to_string()
    } else {
        time.format("%H:%M:%S").to_string()
    }
}

impl PolicySettings {
    /// Checks a draft for a policy on `target` at `now`: a deadline that is a time of day (and
    /// weekday ones), departures in the future (at most [`MAX_DEPARTURES`], sorted, repeats
    /// dropped), a target (state of charge 1–100 %, or energy; a charger's must be energy), a
    /// minimum 0–100 % not above the target. Every refusal is listed.
    pub fn check(draft: &PolicyDraft, target: &PolicyTarget, now: DateTime<Utc>) -> Result<Self, Vec<PolicyError>> {
        let mut errors = Vec::new();
        let deadline = match &draft.deadline {
            None => {
                errors.push(PolicyError::DeadlineMissing);
                None
            }
            Some(raw) => {
                let parsed = parse_time_of_day(raw);
                if parsed.is_none() {
                    errors.push(PolicyError::NotATime {
                        pointer: "/deadline".into(),
                        value: raw.clone(),
                    });
                }
                parsed
            }
        };
        let mut weekday_deadlines = [None; 7];
        for (day, raw) in draft.weekday_deadlines.iter().enumerate() {
            if let Some(raw) = raw {
                match parse_time_of_day(raw) {
                    Some(time) => weekday_deadlines[day] = Some(time),
                    None => errors.push(PolicyError::NotATime {
                        pointer: format!("/weekdayDeadlines/{}", WEEKDAY_NAMES[day]),
                        value: raw.clone(),
                    }),
                }
            }
        }
        if draft.departures.len() > MAX_DEPARTURES {
            errors.push(PolicyError::TooManyDepartures);
        }
        for (index, at) in draft.departures.iter().enumerate() {
            if *at <= now {
                errors.push(PolicyError::DepartureInPast { index, at: *at });
            }
        }
        let percent = |value: Option<f64>, name: &'static str, min: u8, errors: &mut Vec<PolicyError>| {
            if let Some(v) = value {
                if !v.is_finite() || v < f64::from(min) || v > 100.0 {
                    errors.push(PolicyError::Percent { name, min });
                }
            }
        };
        percent(draft.target_soc, "targetSoc", 1, &mut errors);
        percent(draft.minimum_soc, "minimumChargeLimit", 0, &mut errors);
        if let Some(kwh) = draft.target_energy_kwh {
            if !kwh.is_finite() || kwh <= 0.0 || kwh > MAX_TARGET_ENERGY_KWH {
                errors.push(PolicyError::Energy);
            }
        }
        match target {
            PolicyTarget::Charger(_) if draft.target_energy_kwh.is_none() => {
                errors.push(PolicyError::ChargerNeedsEnergy)
            }
            _ if draft.target_soc.is_none() && draft.target_energy_kwh.is_none() => {
                errors.push(PolicyError::TargetMissing)
            }
            _ => {}
        }
        if let (Some(target), Some(minimum)) = (draft.target_soc, draft.minimum_soc) {
            if target < minimum {
                errors.push(PolicyError::TargetBelowMinimum { target, minimum });
            }
        }
        let Some(deadline) = deadline.filter(|_| errors.is_empty()) else {
            return Err(errors);
        };
        let mut departures = draft.departures.clone();
        departures.sort();
        departures.dedup();
        Ok(Self {
            deadline,
            weekday_deadlines,
            departures,
            target_soc: draft.target_soc,
            target_energy_kwh: draft.target_energy_kwh,
            minimum_soc: draft.minimum_soc,
            strategy: draft.strategy.unwrap_or(Strategy::Cheapest),
        })
    }

    /// The routine deadline on a weekday.
    pub fn deadline_on(&self, weekday: Weekday) -> NaiveTime {
        self.weekday_deadlines[weekday.num_days_from_monday() as usize].unwrap_or(self.deadline)
    }

    /// The same settings without the one-off departures that have passed by `now`.
    pub fn without_past_departures(&self, now: DateTime<Utc>) -> Self {
        Self {
            departures: self.departures.iter().copied().filter(|d| *d > now).collect(),
            ..self.clone()
        }
    }
}

/// The instant a local time of day falls on, in `tz`. A time the clocks skip (spring forward) is
/// the first instant after the gap; a time that happens twice (fall back) is the first of the two.
pub fn local_instant(tz: Tz, date: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
    let local = date.and_time(time);
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) => Some(at.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
        LocalResult::None => {
            // Within a gap: the first minute after it (gaps are at most a few hours).
            (1..=24 * 60)
                .map(|m| local + Duration::minutes(m))
                .find_map(|t| tz.from_local_datetime(&t).earliest())
                .map(|at| at.with_timezone(&Utc))
        }
    }
}

/// The next moment after `now` the car must be ready by: the routine deadline of each local day in
/// `tz` (the weekday's, or the daily one), except that a day with a one-off departure has that
/// departure instead. `None` only if nothing falls within the next eight days (which a checked
/// policy never does).
pub fn next_deadline(settings: &PolicySettings, now: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
    let today = now.with_timezone(&tz).date_naive();
    for offset in 0..=8 {
        let date = today + Duration::days(offset);
        let departures: Vec<DateTime<Utc>> = settings
            .departures
            .iter()
            .copied()
            .filter(|d| d.with_timezone(&tz).date_naive() == date)
            .collect();
        if !departures.is_empty() {
            if let Some(next) = departures.into_iter().filter(|d| *d > now).min() {
                return Some(next);
            }
            continue;
        }
        if let Some(at) = local_instant(tz, date, settings.deadline_on(date.weekday())) {
            if at > now {
                return Some(at);
            }
        }
    }
    None
}

/// Where a plan stands, as a client shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PlanState {
    /// Plugged in, but the plan waits for what it needs (the vehicle's state of charge).
    Considering,
    /// The plan is in force: on the charger as a charging profile, or followed by start and stop
    /// commands to the vehicle's maker.
    Executing,
    /// The client asked to charge now: the plan is lifted until the target is reached or the
    /// override is ended.
    ChargingNow,
    /// Over: see the outcome.
    Ended,
}

impl PlanState {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Considering => "CONSIDERING",
            Self::Executing => "EXECUTING",
            Self::ChargingNow => "CHARGING_NOW",
            Self::Ended => "ENDED",
        }
    }

    /// Reads [`PlanState::as_str`].
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Considering, Self::Executing, Self::ChargingNow, Self::Ended]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// How an ended plan did.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PlanOutcome {
    /// The target was reached by the deadline.
    Met,
    /// The target was reached after the deadline (charging went on to it).
    Late {
        /// How long after the deadline, minutes.
        minutes: i64,
    },
    /// The vehicle left before the target was reached.
    Short {
        /// How far below the target: percentage points of state of charge, or the share of the
        /// energy target missing.
        percent: f64,
    },
    /// The policy was disabled or removed before the plan ended.
    Cancelled,
}

/// How a plan is carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Execution {
    /// As the `schedule` limit source on the charger (one absolute charging profile), which the
    /// charger follows by itself.
    Charger,
    /// By start and stop commands to the vehicle's maker at slot boundaries (no Coupler charger).
    Maker,
}

/// What a plan aims at.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanTarget {
    /// The state of charge to reach, percent (already lowered to the vehicle's own charge limit).
    pub soc: Option<f64>,
    /// The energy to charge, kWh from the grid.
    pub energy_kwh: Option<f64>,
    /// Charged at once up to this state of charge, percent.
    pub minimum_soc: Option<f64>,
}

/// What is known of the battery and the meter at one moment: where estimates start from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Baseline {
    /// The vehicle's state of charge then, percent.
    pub soc: Option<f64>,
    /// When the vehicle's maker recorded it.
    pub soc_recorded_at: Option<DateTime<Utc>>,
    /// Usable battery capacity, kWh.
    pub capacity_kwh: Option<f64>,
    /// Energy metered for the plug-in until then, kWh (0 without a charger).
    pub metered_kwh: f64,
}

impl Baseline {
    /// The state of charge now, from the baseline and what the meter counted since (`metered_kwh`
    /// is the plug-in's metered energy now); `None` without a state of charge.
    pub fn soc_now(&self, metered_kwh: f64, efficiency: f64) -> Option<f64> {
        let soc = self.soc?;
        let capacity = self.capacity_kwh.filter(|c| *c > 0.0);
        let added = match capacity {
            Some(capacity) => (metered_kwh - self.metered_kwh).max(0.0) * efficiency / capacity * 100.0,
            None => 0.0,
        };
        Some((soc + added).min(100.0))
    }
}

/// The state of charge to plan with from a maker's reading of `reported` percent recorded at
/// `recorded_at`, for a car plugged in at `plugged_in_at`: a reading from before the plug-in is from
/// before the day's driving, so until the car reports again it is taken as `margin` points lower
/// (the most a day's driving may have used). A plan that charges too much is cheap to correct; one
/// that charges too little leaves the driver short at the deadline.
pub fn planning_soc(
    reported: f64,
    recorded_at: Option<DateTime<Utc>>,
    plugged_in_at: DateTime<Utc>,
    margin: f64,
) -> f64 {
    match recorded_at {
        Some(at) if at >= plugged_in_at => reported,
        _ => (reported - margin.max(0.0)).max(0.0),
    }
}

/// The energy a plan must still deliver.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Need {
    /// Into the battery, to reach the target, kWh (0 when there).
    pub to_target_kwh: f64,
    /// Of that, what lies below the minimum charge limit and is charged at once, kWh.
    pub at_once_kwh: f64,
}

impl Need {
    /// Whether the target is reached.
    pub fn reached(&self) -> bool {
        self.to_target_kwh <= REACHED_TOLERANCE_KWH
    }
}

/// What is still needed for `target`: by state of charge when it and the capacity are known
/// (`soc` now), otherwise by metered energy (`metered_kwh` since the plug-in) when the target has
/// an energy; `None` when neither can be worked out (the plan waits for a state of charge).
pub fn need(
    target: &PlanTarget,
    soc: Option<f64>,
    capacity_kwh: Option<f64>,
    metered_kwh: f64,
    efficiency: f64,
) -> Option<Need> {
    if let (Some(want), Some(soc), Some(capacity)) = (target.soc, soc, capacity_kwh.filter(|c| *c > 0.0)) {
        if soc >= want - REACHED_TOLERANCE_PERCENT {
            return Some(Need {
                to_target_kwh: 0.0,
                at_once_kwh: 0.0,
            });
        }
        let to_target_kwh = (want - soc).max(0.0) / 100.0 * capacity;
        let minimum = target.minimum_soc.unwrap_or(0.0).min(want);
        let at_once_kwh = (minimum - soc).max(0.0) / 100.0 * capacity;
        return Some(Need {
            to_target_kwh,
            at_once_kwh,
        });
    }
    let energy = target.energy_kwh?;
    let left = (energy - metered_kwh).max(0.0);
    Some(Need {
        // The planner divides by the efficiency to get grid energy: the meter counts grid energy.
        to_target_kwh: if left <= REACHED_TOLERANCE_KWH {
            0.0
        } else {
            left * efficiency
        },
        at_once_kwh: 0.0,
    })
}

/// How far short of `target` a plug-in ended, percent: state-of-charge points, or the share of the
/// energy target missing.
pub fn shortfall_percent(target: &PlanTarget, soc: Option<f64>, metered_kwh: f64) -> f64 {
    let short = match (target.soc, soc) {
        (Some(want), Some(soc)) => (want - soc).max(0.0),
        _ => match target.energy_kwh {
            Some(energy) if energy > 0.0 => ((energy - metered_kwh) / energy * 100.0).max(0.0),
            _ => 0.0,
        },
    };
    (short * 10.0).round() / 10.0
}

/// The outcome of a plan whose target was reached at `reached_at`.
pub fn reached_outcome(deadline: Option<DateTime<Utc>>, reached_at: DateTime<Utc>) -> PlanOutcome {
    match deadline {
        Some(deadline) if reached_at > deadline => {
            let seconds = (reached_at - deadline).num_seconds();
            PlanOutcome::Late {
                minutes: (seconds + 59) / 60,
            }
        }
        _ => PlanOutcome::Met,
    }
}

/// The periods of the `schedule` limit source for `plan`: each slot's power as a current per phase
/// (`watts_per_amp`: volts times phases), at most `max_current_a`; a slot that charges at all gets
/// at least what a car can charge with (below [`MIN_CHARGING_CURRENT_A`] nothing would flow).
/// Equal neighbours are merged; the source ends where the plan ends.
pub fn schedule_from_plan(plan: &Plan, watts_per_amp: f64, max_current_a: f64) -> Vec<SchedulePeriod> {
    let mut periods: Vec<SchedulePeriod> = Vec::new();
    for slot in &plan.slots {
        let amps = if slot.power_kw <= 0.0 || watts_per_amp <= 0.0 {
            0.0
        } else {
            (slot.power_kw * 1000.0 / watts_per_amp)
                .max(MIN_CHARGING_CURRENT_A)
                .min(max_current_a)
        };
        let amps = (amps * 10.0).round() / 10.0;
        if periods.last().is_some_and(|p| (p.max_current_a - amps).abs() < 0.05) {
            continue;
        }
        periods.push(SchedulePeriod {
            start: slot.start,
            max_current_a: amps,
        });
    }
    periods
}

/// When `plan` ends (the end of its last slot).
pub fn plan_end(plan: &Plan) -> Option<DateTime<Utc>> {
    plan.slots.last().map(|s| s.end)
}

/// Grid energy `plan` charges between `from` and `to`, kWh.
pub fn planned_energy_between(plan: &Plan, from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    plan.slots
        .iter()
        .map(|s| {
            let start = s.start.max(from);
            let end = s.end.min(to);
            if end <= start {
                return 0.0;
            }
            s.power_kw * (end - start).num_milliseconds() as f64 / 3_600_000.0
        })
        .sum()
}

/// Whether charging fell behind `plan`: since `since` the meter counted `metered_kwh` (grid), more
/// than [`BEHIND_SHARE`] (and [`BEHIND_MIN_KWH`]) less than planned by `now`.
pub fn falling_behind(plan: &Plan, since: DateTime<Utc>, metered_kwh: f64, now: DateTime<Utc>) -> bool {
    let planned = planned_energy_between(plan, since, now);
    planned - metered_kwh > BEHIND_MIN_KWH.max(planned * BEHIND_SHARE)
}

/// Whether `plan` charges at `at` (after its last slot it does not).
pub fn charges_at(plan: &Plan, at: DateTime<Utc>) -> bool {
    plan.slots
        .iter()
        .find(|s| s.start <= at && at < s.end)
        .is_some_and(|s| s.power_kw > 0.0)
}

/// The next moment after `at` when `plan` switches between charging and not (where a vehicle's
/// maker must be told to start or stop).
pub fn next_switch(plan: &Plan, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let now = charges_at(plan, at);
    plan.slots
        .iter()
        .filter(|s| s.start > at)
        .find(|s| (s.power_kw > 0.0) != now)
        .map(|s| s.start)
        .or_else(|| plan_end(plan).filter(|end| *end > at && now))
}

/// Changes of a composite schedule this close to the plan's count as the plan's (the charger
/// reads its clock a moment after Coupler), seconds.
pub const SCHEDULE_SLACK_S: u32 = 60;

/// Whether a charger's composite schedule holds a plan: `expected` and `reported` are (seconds from
/// the read, amperes) at each change, read over `horizon_s` seconds. Between the changes of either
/// (stretches shorter than [`SCHEDULE_SLACK_S`] aside, and what lies at the horizon: the two clocks
/// differ by a moment), the charger must be off where the plan is off, on where it is on, and
/// never above it (a charger rated below the plan offers its rating). Returns the verdict and
/// what was compared, in words.
pub fn schedule_matches(expected: &[(u32, f64)], reported: &[(u32, f64)], horizon_s: u32) -> (bool, String) {
    if expected.is_empty() || reported.is_empty() {
        return (false, "no composite schedule to compare".to_owned());
    }
    let at = |steps: &[(u32, f64)], t: u32| steps.iter().rev().find(|(s, _)| *s <= t).map(|(_, a)| *a);
    let mut points: Vec<u32> = expected.iter().chain(reported).map(|(t, _)| *t).collect();
    points.sort_unstable();
    points.dedup();
    let ends = points.iter().skip(1).copied().map(Some).chain([None]);
    let mut wrong = Vec::new();
    let mut compared = 0;
    for (from, to) in points.iter().copied().zip(ends) {
        if from.saturating_add(SCHEDULE_SLACK_S) >= horizon_s {
            break;
        }
        let middle = match to {
            Some(to) if to - from < SCHEDULE_SLACK_S => continue,
            Some(to) => from + (to - from) / 2,
            None => from + SCHEDULE_SLACK_S,
        };
        let (Some(e), Some(r)) = (at(expected, middle), at(reported, middle)) else {
            continue;
        };
        compared += 1;
        let off = |a: f64| a < MIN_CHARGING_CURRENT_A;
        let holds = (r - e).abs() <= 0.5 || (off(e) && off(r)) || (!off(e) && !off(r) && r <= e + 0.5);
        if !holds {
            wrong.push(format!("{r} A at +{middle} s where the plan has {e} A"));
        }
    }
    if wrong.is_empty() {
        (
            true,
            format!("{compared} stretches of the composite schedule hold the plan"),
        )
    } else {
        (false, wrong.join("; "))
    }
}

/// The policy that governs a plug-in, from the candidates in order (the pair's own, the
/// vehicle's, the charger's): the first enabled one.
pub fn governing(candidates: [Option<&SmartPolicy>; 3]) -> Option<&SmartPolicy> {
    candidates.into_iter().flatten().find(|p| p.enabled)
}

/// A smart-charging policy as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SmartPolicy {
    /// Identifier.
    pub id: SmartPolicyId,
    /// The owning API client.
    pub client_id: ClientId,
    /// The owning user.
    pub user_id: UserId,
    /// What it governs.
    pub target: PolicyTarget,
    /// Whether it plans at all.
    pub enabled: bool,
    /// What it asks for.
    pub settings: PolicySettings,
    /// Since when the client asked to charge now (the override), until it ends the override or the
    /// target is reached.
    pub charge_now_since: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A command a plan last gave a vehicle's maker.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MakerStep {
    /// Start (`true`) or stop.
    pub charging: bool,
    /// When it was asked for.
    pub at: DateTime<Utc>,
}

/// What the charger's composite schedule showed against the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    /// When it was read.
    pub at: DateTime<Utc>,
    /// Whether it holds the plan (each step within 0.5 A of the plan's, capped by the other
    /// sources).
    pub matches: bool,
    /// What was compared, in words.
    pub detail: String,
}

/// The changing part of a plan, stored as one document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanDetails {
    /// How it is carried out.
    pub execution: Execution,
    /// How it ended.
    pub outcome: Option<PlanOutcome>,
    /// Why it is as it is (what it waits for, why the target cannot be met in time), for people.
    pub reason: Option<String>,
    /// When the car must be ready.
    pub deadline: Option<DateTime<Utc>>,
    /// The time zone the deadline was read in.
    pub timezone: String,
    /// What it aims at.
    pub target: PlanTarget,
    /// The battery and meter when the plug-in was seen.
    pub start: Baseline,
    /// The latest known battery reading, for estimates.
    pub baseline: Baseline,
    /// The current slots, when planned.
    pub plan: Option<Plan>,
    /// When they were computed.
    pub planned_at: Option<DateTime<Utc>>,
    /// Energy metered for the plug-in when they were computed, kWh.
    pub metered_at_plan_kwh: f64,
    /// Energy metered for the plug-in at the last look, kWh.
    pub metered_kwh: f64,
    /// The state of charge estimated at the last look, percent.
    pub soc: Option<f64>,
    /// What the charger's composite schedule showed.
    pub verified: Option<Verification>,
    /// The last command given to the vehicle's maker.
    pub maker: Option<MakerStep>,
    /// When the target was reached.
    pub reached_at: Option<DateTime<Utc>>,
    /// How many times the plan was made.
    pub replans: u32,
    /// When the plug-in began, as the charger's detection or the vehicle's maker saw it (tells one
    /// plug-in from the next).
    #[serde(default)]
    pub plugged_in_at: Option<DateTime<Utc>>,
    /// Whether the plug-in is over and the charger holds nothing of the plan any more.
    #[serde(default)]
    pub released: bool,
    /// The charger's transaction the plan is for (Coupler's id): another transaction is another
    /// plug-in.
    #[serde(default)]
    pub transaction_id: Option<i64>,
}

/// A plan: one per plug-in a policy governs.
#[derive(Debug, Clone, PartialEq)]
pub struct SmartPlan {
    /// Identifier.
    pub id: SmartPlanId,
    /// The owning API client.
    pub client_id: ClientId,
    /// The owning user.
    pub user_id: UserId,
    /// The policy it follows.
    pub policy_id: SmartPolicyId,
    /// The vehicle charged, when known.
    pub vehicle_id: Option<VehicleId>,
    /// The charger it runs on, if any.
    pub charger_id: Option<ChargerId>,
    /// The location whose prices it is planned against (its charger's, or the user's where the
    /// car is), when known: a price change there makes it again, one elsewhere does not.
    pub location_id: Option<LocationId>,
    /// Where it stands.
    pub state: PlanState,
    /// The rest.
    pub details: PlanDetails,
    /// When the plug-in was seen.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::PlanSlot;

    fn utc(raw: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(raw).unwrap().with_timezone(&Utc)
    }

    fn settings(deadline: &str) -> PolicySettings {
        PolicySettings::check(
            &PolicyDraft {
                deadline: Some(deadline.into()),
                target_soc: Some(80.0),
                ..PolicyDraft::default()
            },
            &PolicyTarget::Vehicle(VehicleId::new("v")),
            utc("2026-01-01T00:00:00Z"),
        )
        .unwrap()
    }

    #[test]
    fn a_deadline_must_be_a_time_of_day() {
        assert_eq!(parse_time_of_day("07:00"), NaiveTime::from_hms_opt(7, 0, 0));
        assert_eq!(parse_time_of_day("23:59:30"), NaiveTime::from_hms_opt(23, 59, 30));
        for bad in ["24:00", "7:00", "07:60", "tomorrow", "", "07", "07:00:00:00", "-1:00"] {
            assert_eq!(parse_time_of_day(bad), None, "{bad}");
        }
        assert_eq!(format_time_of_day(NaiveTime::from_hms_opt(7, 5, 0).unwrap()), "07:05");
    }

    #[test]
    fn every_bad_value_of_a_policy_is_named() {
        let now = utc("2026-01-01T00:00:00Z");
        let vehicle = PolicyTarget::Vehicle(VehicleId::new("v"));
        let errors = PolicySettings::check(
            &PolicyDraft {
                deadline: Some("25:00".into()),
                weekday_deadlines: [None, None, Some("noon".into()), None, None, None, None],
                departures: vec![now - Duration::hours(1)],
                target_soc: Some(40.0),
                minimum_soc: Some(60.0),
                ..PolicyDraft::default()
            },
            &vehicle,
            now,
        )
        .unwrap_err();
        let pointers: Vec<String> = errors.iter().map(PolicyError::pointer).collect();
        assert_eq!(
            pointers,
            vec![
                "/deadline",
                "/weekdayDeadlines/wednesday",
                "/departures/0",
                "/targetSoc"
            ]
        );
        assert!(matches!(errors[3], PolicyError::TargetBelowMinimum { .. }));

        let missing = PolicySettings::check(&PolicyDraft::default(), &vehicle, now).unwrap_err();
        assert_eq!(missing, vec![PolicyError::DeadlineMissing, PolicyError::TargetMissing]);
        let out_of_range = PolicySettings::check(
            &PolicyDraft {
                deadline: Some("07:00".into()),
                target_soc: Some(120.0),
                minimum_soc: Some(-1.0),
                ..PolicyDraft::default()
            },
            &vehicle,
            now,
        )
        .unwrap_err();
        assert_eq!(
            out_of_range.iter().map(PolicyError::pointer).collect::<Vec<_>>(),
            vec!["/targetSoc", "/minimumChargeLimit"]
        );
        let charger = PolicySettings::check(
            &PolicyDraft {
                deadline: Some("07:00".into()),
                target_soc: Some(80.0),
                ..PolicyDraft::default()
            },
            &PolicyTarget::Charger(ChargerId::new("c")),
            now,
        )
        .unwrap_err();
        assert_eq!(charger, vec![PolicyError::ChargerNeedsEnergy]);
    }

    #[test]
    fn the_next_deadline_is_today_s_if_still_ahead_else_tomorrow_s_in_local_time() {
        let oslo: Tz = "Europe/Oslo".parse().unwrap();
        let s = settings("07:00");
        // 05:00 UTC is 06:00 in Oslo in winter: today 07:00 local = 06:00 UTC.
        assert_eq!(
            next_deadline(&s, utc("2026-01-15T05:00:00Z"), oslo),
            Some(utc("2026-01-15T06:00:00Z"))
        );
        assert_eq!(
            next_deadline(&s, utc("2026-01-15T06:00:00Z"), oslo),
            Some(utc("2026-01-16T06:00:00Z")),
            "a deadline that is now has passed"
        );
    }

    #[test]
    fn a_weekday_deadline_replaces_the_daily_one_on_that_day() {
        let utc_tz: Tz = "UTC".parse().unwrap();
        let mut s = settings("07:00");
        s.weekday_deadlines[5] = NaiveTime::from_hms_opt(10, 0, 0); // Saturday
                                                                    // 2026-01-16 is a Friday.
        assert_eq!(
            next_deadline(&s, utc("2026-01-16T08:00:00Z"), utc_tz),
            Some(utc("2026-01-17T10:00:00Z"))
        );
    }

    #[test]
    fn a_one_off_departure_replaces_its_day_s_routine_deadline_once() {
        let utc_tz: Tz = "UTC".parse().unwrap();
        let mut s = settings("07:00");
        s.departures = vec![utc("2026-01-17T10:30:00Z")];
        // Friday evening: Saturday's 07:00 is replaced by the 10:30 departure.
        let friday = utc("2026-01-16T20:00:00Z");
        assert_eq!(next_deadline(&s, friday, utc_tz), Some(utc("2026-01-17T10:30:00Z")));
        // Once it has passed, Sunday's routine deadline follows (not Saturday's 07:00).
        assert_eq!(
            next_deadline(&s, utc("2026-01-17T11:00:00Z"), utc_tz),
            Some(utc("2026-01-18T07:00:00Z"))
        );
        // An early departure the same day as an earlier routine deadline.
        s.departures = vec![utc("2026-01-17T05:00:00Z")];
        assert_eq!(next_deadline(&s, friday, utc_tz), Some(utc("2026-01-17T05:00:00Z")));
    }

    #[test]
    fn deadlines_in_the_spring_gap_and_the_autumn_repeat_are_real_instants() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // 2026-03-29: clocks go from 02:00 to 03:00 local; 02:30 does not exist.
        let s = settings("02:30");
        assert_eq!(
            next_deadline(&s, utc("2026-03-28T22:00:00Z"), berlin),
            Some(utc("2026-03-29T01:00:00Z")),
            "03:00 CEST, the first instant after the gap"
        );
        // 2026-10-25: 02:30 local happens twice (CEST then CET); the first is kept.
        assert_eq!(
            next_deadline(&s, utc("2026-10-24T22:00:00Z"), berlin),
            Some(utc("2026-10-25T00:30:00Z"))
        );
        // The day after a change, the same local time is an hour apart in UTC.
        let seven = settings("07:00");
        assert_eq!(
            next_deadline(&seven, utc("2026-03-28T08:00:00Z"), berlin),
            Some(utc("2026-03-29T05:00:00Z"))
        );
        assert_eq!(
            next_deadline(&seven, utc("2026-03-27T08:00:00Z"), berlin),
            Some(utc("2026-03-28T06:00:00Z"))
        );
    }

    fn target(soc: Option<f64>, energy: Option<f64>, minimum: Option<f64>) -> PlanTarget {
        PlanTarget {
            soc,
            energy_kwh: energy,
            minimum_soc: minimum,
        }
    }

    #[test]
    fn the_energy_needed_comes_from_the_state_of_charge_or_else_the_meter() {
        let by_soc = need(&target(Some(80.0), None, Some(30.0)), Some(20.0), Some(50.0), 0.0, 0.9).unwrap();
        assert!((by_soc.to_target_kwh - 30.0).abs() < 1e-9);
        assert!((by_soc.at_once_kwh - 5.0).abs() < 1e-9);
        assert!(need(&target(Some(80.0), None, None), Some(79.8), Some(50.0), 0.0, 0.9)
            .unwrap()
            .reached());
        assert_eq!(
            need(&target(Some(80.0), None, None), None, Some(50.0), 3.0, 0.9),
            None,
            "waits for a state of charge"
        );
        let by_energy = need(&target(Some(80.0), Some(10.0), None), None, None, 4.0, 0.9).unwrap();
        assert!((by_energy.to_target_kwh - 5.4).abs() < 1e-9, "6 kWh of grid energy");
        assert!(need(&target(None, Some(10.0), None), None, None, 10.0, 0.9)
            .unwrap()
            .reached());
    }

    #[test]
    fn the_state_of_charge_is_estimated_from_the_meter_since_the_last_reading() {
        let baseline = Baseline {
            soc: Some(50.0),
            soc_recorded_at: None,
            capacity_kwh: Some(60.0),
            metered_kwh: 2.0,
        };
        let soc = baseline.soc_now(8.0, 0.9).unwrap();
        assert!((soc - 59.0).abs() < 1e-9, "{soc}");
    }

    #[test]
    fn outcomes_say_met_late_by_minutes_or_short_by_percent() {
        let deadline = utc("2026-01-16T07:00:00Z");
        assert_eq!(reached_outcome(Some(deadline), deadline), PlanOutcome::Met);
        assert_eq!(
            reached_outcome(Some(deadline), deadline + Duration::seconds(61)),
            PlanOutcome::Late { minutes: 2 }
        );
        assert_eq!(
            shortfall_percent(&target(Some(80.0), None, None), Some(72.34), 0.0),
            7.7
        );
        assert_eq!(shortfall_percent(&target(None, Some(20.0), None), None, 15.0), 25.0);
    }

    fn slot(start: &str, minutes: i64, kw: f64) -> PlanSlot {
        let start = utc(start);
        PlanSlot {
            start,
            end: start + Duration::minutes(minutes),
            power_kw: kw,
            price_per_kwh: None,
        }
    }

    fn a_plan(slots: Vec<PlanSlot>) -> Plan {
        Plan {
            slots,
            feasible: true,
            expected_energy_kwh: 0.0,
            expected_finish: None,
            smart_cost: 0.0,
            non_smart_cost: 0.0,
            unpriced_energy_kwh: 0.0,
        }
    }

    #[test]
    fn a_plan_becomes_amperes_per_period_merged_capped_and_never_below_what_flows() {
        let plan = a_plan(vec![
            slot("2026-01-16T00:00:00Z", 15, 0.0),
            slot("2026-01-16T00:15:00Z", 15, 0.0),
            slot("2026-01-16T00:30:00Z", 15, 11.04),
            slot("2026-01-16T00:45:00Z", 15, 11.04),
            slot("2026-01-16T01:00:00Z", 15, 1.0),
        ]);
        let periods = schedule_from_plan(&plan, 690.0, 16.0);
        let steps: Vec<(DateTime<Utc>, f64)> = periods.iter().map(|p| (p.start, p.max_current_a)).collect();
        assert_eq!(
            steps,
            vec![
                (utc("2026-01-16T00:00:00Z"), 0.0),
                (utc("2026-01-16T00:30:00Z"), 16.0),
                (utc("2026-01-16T01:00:00Z"), 6.0)
            ]
        );
        assert_eq!(plan_end(&plan), Some(utc("2026-01-16T01:15:00Z")));
    }

    #[test]
    fn charging_falls_behind_when_the_meter_lags_the_plan_by_more_than_the_margin() {
        let plan = a_plan(vec![slot("2026-01-16T00:00:00Z", 60, 10.0)]);
        let since = utc("2026-01-16T00:00:00Z");
        let half = utc("2026-01-16T00:30:00Z");
        assert!((planned_energy_between(&plan, since, half) - 5.0).abs() < 1e-9);
        assert!(!falling_behind(&plan, since, 4.5, half), "within 15 %");
        assert!(falling_behind(&plan, since, 3.0, half));
    }

    #[test]
    fn a_composite_schedule_holds_a_plan_when_it_is_off_and_on_where_the_plan_is_and_never_above() {
        let plan = [(0, 0.0), (1800, 16.0), (3600, 0.0)];
        let hour = 5400;
        assert!(schedule_matches(&plan, &[(0, 0.0), (1800, 16.0), (3600, 0.0)], hour).0);
        assert!(
            schedule_matches(&plan, &[(0, 0.0), (1800, 13.0), (3600, 0.0)], hour).0,
            "a lower rating"
        );
        assert!(
            schedule_matches(&plan, &[(0, 0.0), (1799, 16.0), (3599, 0.0), (5399, 32.0)], hour).0,
            "read a second later, the plan's end at the horizon"
        );
        let (held, why) = schedule_matches(&plan, &[(0, 16.0)], hour);
        assert!(!held);
        assert!(why.contains("+900 s"), "{why}");
        assert!(!schedule_matches(&plan, &[], hour).0);
    }

    #[test]
    fn a_maker_is_told_to_switch_where_the_plan_starts_or_stops_charging() {
        let plan = a_plan(vec![
            slot("2026-01-16T00:00:00Z", 15, 0.0),
            slot("2026-01-16T00:15:00Z", 15, 7.0),
            slot("2026-01-16T00:30:00Z", 15, 7.0),
        ]);
        let at = utc("2026-01-16T00:05:00Z");
        assert!(!charges_at(&plan, at));
        assert_eq!(next_switch(&plan, at), Some(utc("2026-01-16T00:15:00Z")));
        let later = utc("2026-01-16T00:20:00Z");
        assert!(charges_at(&plan, later));
        assert_eq!(
            next_switch(&plan, later),
            Some(utc("2026-01-16T00:45:00Z")),
            "the plan's end"
        );
        assert!(!charges_at(&plan, utc("2026-01-16T01:00:00Z")));
    }

    #[test]
    fn a_state_of_charge_read_before_the_plug_in_is_planned_lower_until_the_car_reports_again() {
        let plugged = Utc.with_ymd_and_hms(2026, 12, 7, 18, 0, 0).unwrap();
        let before = Some(plugged - Duration::hours(9));
        let after = Some(plugged + Duration::minutes(1));
        assert_eq!(planning_soc(60.0, before, plugged, 25.0), 35.0);
        assert_eq!(planning_soc(10.0, before, plugged, 25.0), 0.0);
        assert_eq!(planning_soc(10.0, None, plugged, 25.0), 0.0);
        assert_eq!(planning_soc(60.0, after, plugged, 25.0), 60.0);
        assert_eq!(planning_soc(60.0, before, plugged, 0.0), 60.0);
    }
}
