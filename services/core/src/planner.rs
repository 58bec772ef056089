//! The smart-charging planner: from how much energy a car needs by when, what the charger and car
//! can take, the caps of other limit sources and the prices, the power to charge at in each slot.
//!
//! Pure: the same input gives the same plan. The engine turns a plan into the `schedule` limit
//! source (one absolute charging profile) and recomputes it when its inputs change.
//!
//! How a plan is made ([`plan`]):
//!
//! 1. Time from now to the deadline is cut into slots on the quarter-hour grid (the grid prices
//!    come on: an hourly price covers four slots). The first slot runs from now to the next quarter
//!    hour; a deadline off the grid ends the last one early.
//! 2. Each slot may charge at most the power the charger and car can take, lowered by every
//!    [`PowerCap`] in force at any moment of the slot; nothing when that is under the least power
//!    charging runs at.
//! 3. When even charging at that power in every slot from now cannot put the energy in the battery
//!    by the deadline, the plan says so (`feasible: false`) and charges at once, at full power, until
//!    the target is reached, past the deadline if need be: a car that leaves later than planned is
//!    better off charged than stopped short.
//! 4. Otherwise the energy up to the minimum charge limit is charged at once, and the rest (with
//!    the reserve asked for, where it fits) in the cheapest slots ([`Strategy::Cheapest`]) or in
//!    the cheapest single window ([`Strategy::Continuous`]).
//! 5. What the plan is expected to give, cost and when it finishes are read from its slots in time
//!    order, up to the energy needed: the car stops at its target, so a reserve is not drawn unless
//!    the car charges slower than planned.
//!
//! Rules every plan keeps:
//!
//! - A slot charges at its full allowed power or not at all. The energy still missing when the last
//!   chosen slot starts is charged at full power for fewer minutes (whole seconds, rounded up), not
//!   at a lower power for the whole slot: a low power can fall under the 6 A a charger needs to
//!   deliver anything, and a charger that takes no profiles, or a car started and stopped through its
//!   maker, can only be switched on and off. Such a slot appears as two plan slots: charging, then
//!   idle.
//! - Among equal prices the earlier slot wins, so a car is ready as early as the prices allow.
//!   Planning as late as possible would leave a car short when its driver leaves early, which
//!   drivers dislike.
//! - A slot without a known price is planned as dearer than every known price: it is used only when
//!   the known ones do not suffice. A price update then replans.
//! - A reserve ([`PlanInput::reserve_kwh`], [`reserve_kwh`]) goes into the cheapest slots after the
//!   need's last slot, and only where none are left, before it; with the continuous strategy it is
//!   the end of the one window. Replanning when charging falls behind (see [`Plan::is_behind`])
//!   and a reserve together let a plan absorb a car that tapers near full or loses more than
//!   planned: in the plan benchmark (docs/benchmarks.md) a plan without a reserve met 85 % of the
//!   deadlines that could be met, with one 99 % or more.

use std::borrow::Cow;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::tariff::PriceSlot;

/// The length of a plan slot: prices come in 15-minute or hourly slots, and a 15-minute grid holds
/// both.
pub const SLOT_MINUTES: i64 = 15;

/// The furthest a plan reaches from now, days. A deadline further away is planned as if it were
/// here (the plan is remade long before it matters), and a target that charging at full power
/// cannot reach within it has no expected finish.
pub const HORIZON_DAYS: i64 = 8;

/// Energies below this are nothing (floating-point dust), kWh.
const EPSILON_KWH: f64 = 1e-9;

const SLOT_SECONDS: i64 = SLOT_MINUTES * 60;

/// How a plan spends the hours before its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Strategy {
    /// The cheapest slots, wherever they fall before the deadline.
    Cheapest,
    /// The cheapest single uninterrupted window (for cars and chargers that dislike stop and start).
    Continuous,
}

/// A cap on the power in a stretch of time, set by another limit source (`user`, `site`, `flex`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PowerCap {
    /// Where the cap starts.
    pub start: DateTime<Utc>,
    /// Where it ends.
    pub end: DateTime<Utc>,
    /// The most power allowed, kW.
    pub max_power_kw: f64,
}

/// Everything a plan is made from.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanInput {
    /// When the plan starts (now).
    pub now: DateTime<Utc>,
    /// When the energy must be in the battery.
    pub deadline: DateTime<Utc>,
    /// Energy to add to the battery to reach the target, kWh (0 when already there).
    pub energy_needed_kwh: f64,
    /// Of that, what must be charged at once regardless of price (up to the minimum charge limit), kWh.
    pub energy_at_once_kwh: f64,
    /// The most power the charger and car together can take, kW (before other sources' caps).
    pub max_power_kw: f64,
    /// Caps from other limit sources, in force in their stretches of time. A cap holds for every
    /// slot it touches, even in part; a cap that is not a number counts as 0.
    pub caps: Vec<PowerCap>,
    /// Share of grid energy that reaches the battery (0 < efficiency ≤ 1): charging losses.
    pub efficiency: f64,
    /// Prices over the horizon; a slot with no known price is planned as dearer than any known one.
    /// A slot takes the price in force at its start.
    pub prices: Vec<PriceSlot>,
    /// How to spend the time.
    pub strategy: Strategy,
    /// The least power charging can run at, kW (6 A on the phases in use; 0: no such floor). A slot
    /// whose caps allow less is planned idle: a charger offered less than 6 A delivers nothing.
    pub min_power_kw: f64,
    /// Energy planned beyond the need as a reserve, kWh (0: none; see [`reserve_kwh`]): charging
    /// slots a car that charges as planned never uses, because it stops at its target, and that a car
    /// charging slower than planned (tapering near full, higher losses) finds in place. Planned only
    /// where it fits before the deadline; it never makes a plan infeasible. Only for a car that stops
    /// itself at the target: with no car to stop (an energy target on a charger alone), pass 0.
    pub reserve_kwh: f64,
}

/// One slot of a plan: charge at `power_kw` from `start` to `end`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanSlot {
    /// Where the slot starts.
    pub start: DateTime<Utc>,
    /// Where it ends.
    pub end: DateTime<Utc>,
    /// The power to charge at, kW from the grid (0: do not charge).
    pub power_kw: f64,
    /// The price in the slot, if known.
    pub price_per_kwh: Option<f64>,
}

/// A plan: when to charge, and what it is expected to give and cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// The slots from now to the deadline (or beyond it, when the target cannot be met in time and
    /// charging continues until it is), in order, without gaps. Charging slots after
    /// `expected_finish` are the reserve.
    pub slots: Vec<PlanSlot>,
    /// Whether the target is met by the deadline.
    pub feasible: bool,
    /// Energy expected into the battery, kWh: what is needed, or less when the target cannot be
    /// reached within [`HORIZON_DAYS`].
    pub expected_energy_kwh: f64,
    /// When charging is expected to finish; `None` when there is nothing to charge, or when the
    /// target cannot be reached within [`HORIZON_DAYS`].
    pub expected_finish: Option<DateTime<Utc>>,
    /// What the plan is expected to cost at known prices (energy in slots without a known price is
    /// in `unpriced_energy_kwh`, not here).
    pub smart_cost: f64,
    /// What charging the same energy at once from now, at full allowed power, would cost at known
    /// prices. Equal to `smart_cost` when the plan charges at once anyway.
    pub non_smart_cost: f64,
    /// Grid energy the plan is expected to draw in slots without a known price, kWh: 0 when
    /// `smart_cost` is the whole cost.
    pub unpriced_energy_kwh: f64,
}

impl Plan {
    /// The power planned at `at`, kW from the grid (0 outside the plan).
    pub fn power_at(&self, at: DateTime<Utc>) -> f64 {
        let index = self.slots.partition_point(|slot| slot.end <= at);
        match self.slots.get(index) {
            Some(slot) if slot.start <= at => slot.power_kw,
            _ => 0.0,
        }
    }

    /// Grid energy the plan draws from its start until `at`, kWh: what a charger's meter should have
    /// counted by then if the plan is followed.
    pub fn grid_energy_until(&self, at: DateTime<Utc>) -> f64 {
        self.slots
            .iter()
            .take_while(|slot| slot.start < at)
            .map(|slot| slot.power_kw * hours(slot.start, slot.end.min(at)))
            .sum()
    }

    /// Whether charging has fallen behind the plan: by `at`, the meter counted `delivered_grid_kwh`
    /// since the plan's start, more than [`BEHIND_TOLERANCE_KWH`] less than planned. Such a plan
    /// should be made again from the state of charge now. A car at its target draws nothing while
    /// the plan's reserve still offers power: look at the state of charge first.
    pub fn is_behind(&self, at: DateTime<Utc>, delivered_grid_kwh: f64) -> bool {
        delivered_grid_kwh < self.grid_energy_until(at) - BEHIND_TOLERANCE_KWH
    }
}

/// How far a meter may trail a plan before it counts as behind, kWh: a meter's resolution and a
/// minute's slack at the start of a charging slot.
pub const BEHIND_TOLERANCE_KWH: f64 = 0.2;

/// Makes a plan (see the module's documentation for how).
pub fn plan(input: &PlanInput) -> Plan {
    let efficiency = if input.efficiency.is_finite() && input.efficiency > 0.0 {
        input.efficiency.min(1.0)
    } else {
        1.0
    };
    let needed = finite_or_zero(input.energy_needed_kwh).max(0.0);
    let at_once = finite_or_zero(input.energy_at_once_kwh).clamp(0.0, needed);
    let prices = sorted_prices(&input.prices);
    let grid = Grid {
        input,
        prices: &prices,
        efficiency,
        max_power_kw: finite_or_zero(input.max_power_kw).max(0.0),
        horizon_end: input.now + Duration::days(HORIZON_DAYS),
    };

    let mut slots = grid.slots(input.now, input.deadline.min(grid.horizon_end));
    let before_deadline = slots.len();
    let capacity: f64 = slots.iter().map(Slot::capacity).sum();
    let feasible = capacity >= needed - EPSILON_KWH;

    let mut left = needed;
    if !feasible {
        left = fill_forward(&mut slots, left);
        let mut at = input.deadline.max(input.now);
        while left > EPSILON_KWH && at < grid.horizon_end && grid.max_power_kw > 0.0 {
            let end = next_boundary(at).min(grid.horizon_end);
            let mut slot = grid.slot(at, end);
            left = slot.fill_front(left);
            slots.push(slot);
            at = end;
        }
    } else {
        // Nothing to charge, nothing to reserve: the car is at its target.
        let reserve = if needed > EPSILON_KWH {
            finite_or_zero(input.reserve_kwh)
                .max(0.0)
                .min(capacity - needed)
                .max(0.0)
        } else {
            0.0
        };
        left = fill_forward(&mut slots, at_once) + (needed - at_once);
        match input.strategy {
            Strategy::Cheapest => {
                if left > EPSILON_KWH {
                    fill_cheapest(&mut slots, left, 0);
                }
                if reserve > EPSILON_KWH {
                    // After the need where it fits: a car that keeps to the plan never reaches it.
                    let after = slots
                        .iter()
                        .rposition(|slot| slot.charge[0].is_some())
                        .map_or(0, |i| i + 1);
                    fill_cheapest(&mut slots, reserve, after);
                }
            }
            Strategy::Continuous => {
                // One window for both, so that charging stays in one run; the reserve is its end.
                if left + reserve > EPSILON_KWH {
                    fill_continuous(&mut slots, left + reserve);
                }
            }
        }
    }

    let mut plan_slots = Vec::with_capacity(slots.len() + 4);
    for slot in &slots {
        slot.emit(&mut plan_slots);
    }
    if !feasible {
        // Past the deadline the plan ends when charging does.
        while plan_slots
            .last()
            .is_some_and(|slot| slot.power_kw == 0.0 && slot.start >= input.deadline)
        {
            plan_slots.pop();
        }
    }
    let expected = Expected::of(&plan_slots, needed, efficiency);
    let non_smart_cost = if feasible {
        let mut at_once: Vec<Slot> = slots[..before_deadline].iter().map(Slot::emptied).collect();
        fill_forward(&mut at_once, needed);
        let mut at_once_slots = Vec::with_capacity(at_once.len() + 2);
        for slot in &at_once {
            slot.emit(&mut at_once_slots);
        }
        Expected::of(&at_once_slots, needed, efficiency).cost
    } else {
        expected.cost
    };
    Plan {
        slots: plan_slots,
        feasible,
        expected_energy_kwh: expected.energy,
        expected_finish: expected.finish.filter(|_| needed > EPSILON_KWH),
        smart_cost: expected.cost,
        non_smart_cost,
        unpriced_energy_kwh: expected.unpriced,
    }
}

/// What a plan's slots are expected to give a car that stops at its target: the slots charge in
/// time order until the energy needed is in, and whatever is planned after that (a reserve, or
/// the few seconds rounding added) is not drawn.
struct Expected {
    /// Battery energy, kWh.
    energy: f64,
    /// When the energy needed is in.
    finish: Option<DateTime<Utc>>,
    /// Cost at known prices.
    cost: f64,
    /// Grid energy at unknown prices, kWh.
    unpriced: f64,
}

impl Expected {
    fn of(slots: &[PlanSlot], needed: f64, efficiency: f64) -> Self {
        let mut expected = Self {
            energy: 0.0,
            finish: None,
            cost: 0.0,
            unpriced: 0.0,
        };
        for slot in slots.iter().filter(|slot| slot.power_kw > 0.0) {
            let available = slot.power_kw * hours(slot.start, slot.end) * efficiency;
            let taken = available.min(needed - expected.energy);
            if taken <= 0.0 {
                break;
            }
            let grid = taken / efficiency;
            match slot.price_per_kwh {
                Some(price) => expected.cost += grid * price,
                None => expected.unpriced += grid,
            }
            expected.energy += taken;
            if expected.energy >= needed - 1e-6 {
                let share = taken / available;
                let millis = ((slot.end - slot.start).num_milliseconds() as f64 * share).ceil() as i64;
                expected.finish = Some((slot.start + Duration::milliseconds(millis)).min(slot.end));
                break;
            }
        }
        expected.energy = expected.energy.min(needed);
        expected
    }
}

/// A reserve for a car that charges slower than planned (see [`PlanInput::reserve_kwh`]), kWh: 6 %
/// of the energy needed, for losses higher than planned, and for the part of the charge above
/// [`TAPER_FROM_SOC_PCT`] the extra time a car needs whose power falls linearly from full there to
/// [`TAPER_FLOOR`] of full at 100 % (as energy at full power). Many cars taper less; the reserve is
/// only drawn by those that do.
pub fn reserve_kwh(soc_now_pct: f64, target_pct: f64, capacity_kwh: f64) -> f64 {
    let losses = 0.06 * energy_needed_kwh(soc_now_pct, target_pct, capacity_kwh);
    let from = finite_or_zero(soc_now_pct).clamp(TAPER_FROM_SOC_PCT, 100.0);
    let to = finite_or_zero(target_pct).clamp(TAPER_FROM_SOC_PCT, 100.0);
    if to <= from {
        return losses;
    }
    // Power share at SoC x: 1 - slope (x - start); time at full power to charge from `from` to
    // `to`: the integral of its inverse.
    let slope = (1.0 - TAPER_FLOOR) / (100.0 - TAPER_FROM_SOC_PCT);
    let share = |soc: f64| 1.0 - slope * (soc - TAPER_FROM_SOC_PCT);
    let equivalent = (share(from).ln() - share(to).ln()) / slope;
    losses + (equivalent - (to - from)) / 100.0 * finite_or_zero(capacity_kwh).max(0.0)
}

/// The state of charge above which cars are assumed to take less than full power, %.
pub const TAPER_FROM_SOC_PCT: f64 = 80.0;

/// The share of full power a car is assumed to take at 100 %, for [`reserve_kwh`].
pub const TAPER_FLOOR: f64 = 0.25;

/// The energy to add to a battery of `capacity_kwh` to go from `soc_now_pct` to `target_pct`, kWh
/// (0 when already there). Percentages are held to 0–100; what is not a number counts as 0.
pub fn energy_needed_kwh(soc_now_pct: f64, target_pct: f64, capacity_kwh: f64) -> f64 {
    let soc = finite_or_zero(soc_now_pct).clamp(0.0, 100.0);
    let target = finite_or_zero(target_pct).clamp(0.0, 100.0);
    ((target - soc) / 100.0 * finite_or_zero(capacity_kwh).max(0.0)).max(0.0)
}

/// The current per phase that draws `power_kw` on `phases` phases at `voltage` volts (phase to
/// neutral), A: how a plan's power becomes a charging profile's limit. 0 when phases or voltage are 0.
pub fn amps_for_power(power_kw: f64, phases: u8, voltage: f64) -> f64 {
    let watts_per_amp = f64::from(phases) * voltage;
    if watts_per_amp > 0.0 && power_kw.is_finite() {
        (power_kw * 1000.0 / watts_per_amp).max(0.0)
    } else {
        0.0
    }
}

/// The power drawn at `amps` per phase on `phases` phases at `voltage` volts, kW: how a limit
/// source's current becomes a [`PowerCap`].
pub fn power_for_amps(amps: f64, phases: u8, voltage: f64) -> f64 {
    if amps.is_finite() && voltage.is_finite() {
        (amps * f64::from(phases) * voltage / 1000.0).max(0.0)
    } else {
        0.0
    }
}

/// How a plan ended, for a client to show: the target met by the deadline, met late, or not met
/// when the car left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PlanOutcome {
    /// The target was reached by the deadline.
    Met,
    /// The target was reached this many minutes (rounded up) after the deadline.
    Late {
        /// Minutes after the deadline.
        minutes: u32,
    },
    /// The target was not reached: this share of the energy needed was missing (rounded up, 1–100).
    Short {
        /// Percent of the energy needed.
        percent: u32,
    },
}

impl PlanOutcome {
    /// Judges a plan by what happened. `energy_needed_kwh` is what the target needed when the plan
    /// began; `delivered_by_deadline_kwh` and `delivered_kwh` what went into the battery by the
    /// deadline and in all; `target_reached_at` when the target was reached, if it was.
    pub fn evaluate(
        deadline: DateTime<Utc>,
        energy_needed_kwh: f64,
        delivered_by_deadline_kwh: f64,
        delivered_kwh: f64,
        target_reached_at: Option<DateTime<Utc>>,
    ) -> Self {
        /// Meters and states of charge are not exact: this much short is still met, kWh.
        const SLACK_KWH: f64 = 0.05;
        let needed = finite_or_zero(energy_needed_kwh).max(0.0);
        if target_reached_at.is_some_and(|at| at <= deadline)
            || finite_or_zero(delivered_by_deadline_kwh) >= needed - SLACK_KWH
        {
            return Self::Met;
        }
        if let Some(at) = target_reached_at {
            let seconds = (at - deadline).num_seconds().max(1);
            let minutes = u32::try_from((seconds + 59) / 60).unwrap_or(u32::MAX);
            return Self::Late { minutes };
        }
        let missing = (needed - finite_or_zero(delivered_kwh)).max(0.0) / needed * 100.0;
        // Held to 1..=100 before the conversion, so the cast cannot truncate.
        Self::Short {
            percent: (missing - 1e-9).ceil().clamp(1.0, 100.0) as u32,
        }
    }
}

fn finite_or_zero(value: f64) -> f64 {
    if value.is_finite() {
        value
    } else {
        0.0
    }
}

fn hours(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    ((to - from).num_milliseconds() as f64 / 3_600_000.0).max(0.0)
}

/// The next quarter hour strictly after `at`.
fn next_boundary(at: DateTime<Utc>) -> DateTime<Utc> {
    let seconds = at.timestamp();
    let next = seconds.div_euclid(SLOT_SECONDS) * SLOT_SECONDS + SLOT_SECONDS;
    DateTime::from_timestamp(next, 0).unwrap_or(at + Duration::seconds(SLOT_SECONDS))
}

/// The prices sorted by start, borrowed when they already are (as they should be).
fn sorted_prices(prices: &[PriceSlot]) -> Cow<'_, [PriceSlot]> {
    if prices.is_sorted_by_key(|p| p.start) {
        Cow::Borrowed(prices)
    } else {
        let mut sorted = prices.to_vec();
        sorted.sort_by_key(|p| p.start);
        Cow::Owned(sorted)
    }
}

/// What slots are made from.
struct Grid<'a> {
    input: &'a PlanInput,
    prices: &'a [PriceSlot],
    efficiency: f64,
    max_power_kw: f64,
    horizon_end: DateTime<Utc>,
}

impl Grid<'_> {
    /// The slots on the quarter-hour grid from `from` to `to`.
    fn slots(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Slot> {
        let mut slots = Vec::with_capacity(((to - from).num_seconds().max(0) / SLOT_SECONDS + 2) as usize);
        let mut at = from;
        while at < to {
            let end = next_boundary(at).min(to);
            slots.push(self.slot(at, end));
            at = end;
        }
        slots
    }

    fn slot(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Slot {
        let mut power_kw = self.max_power_kw;
        for cap in &self.input.caps {
            if cap.start < end && start < cap.end {
                power_kw = power_kw.min(cap.max_power_kw.max(0.0));
            }
        }
        if power_kw < finite_or_zero(self.input.min_power_kw) {
            power_kw = 0.0;
        }
        let seconds = (end - start).num_milliseconds() as f64 / 1000.0;
        Slot {
            start,
            end,
            seconds,
            power_kw,
            rate: power_kw * self.efficiency / 3600.0,
            efficiency: self.efficiency,
            price: self.price_at(start),
            charge: [None, None],
        }
    }

    fn price_at(&self, at: DateTime<Utc>) -> Option<f64> {
        let index = self.prices.partition_point(|p| p.start <= at);
        let price = self.prices[..index].last()?;
        (at < price.end && price.price_per_kwh.is_finite()).then_some(price.price_per_kwh)
    }
}

/// One grid slot while a plan is made: what it can take and the stretches of it that charge, as
/// seconds from its start (at most two: a front part charged at once and a later part).
#[derive(Clone)]
struct Slot {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    seconds: f64,
    power_kw: f64,
    /// Battery energy per second at full allowed power, kWh.
    rate: f64,
    efficiency: f64,
    price: Option<f64>,
    charge: [Option<(f64, f64)>; 2],
}

impl Slot {
    /// Battery energy the whole slot can take, kWh.
    fn capacity(&self) -> f64 {
        self.seconds * self.rate
    }

    /// Where the part not yet charging starts, seconds from the slot's start.
    fn free_from(&self) -> f64 {
        self.charge.iter().flatten().map(|(_, to)| *to).fold(0.0, f64::max)
    }

    /// Battery energy the part not yet charging can take, kWh.
    fn free_capacity(&self) -> f64 {
        (self.seconds - self.free_from()).max(0.0) * self.rate
    }

    /// Seconds at full power for `energy`, whole seconds rounded up, at most `available`.
    fn seconds_for(&self, energy: f64, available: f64) -> f64 {
        if self.rate <= 0.0 {
            return 0.0;
        }
        (energy / self.rate - 1e-6).ceil().max(0.0).min(available)
    }

    /// Charges up to `energy` from the start of the free part; returns what is left.
    fn fill_front(&mut self, energy: f64) -> f64 {
        let from = self.free_from();
        let seconds = self.seconds_for(energy, self.seconds - from);
        if seconds > 0.0 {
            self.add(from, from + seconds);
        }
        energy - seconds * self.rate
    }

    /// Charges up to `energy` at the end of the free part; returns what is left.
    fn fill_back(&mut self, energy: f64) -> f64 {
        let from = self.free_from();
        let seconds = self.seconds_for(energy, self.seconds - from);
        if seconds > 0.0 {
            self.add(self.seconds - seconds, self.seconds);
        }
        energy - seconds * self.rate
    }

    fn add(&mut self, from: f64, to: f64) {
        match &mut self.charge {
            [Some((_, end)), None] if *end == from => *end = to,
            [first @ None, _] => *first = Some((from, to)),
            [Some(_), second @ None] => *second = Some((from, to)),
            [Some(_), Some((_, end))] => *end = to,
        }
    }

    /// The same slot with nothing charging.
    fn emptied(&self) -> Slot {
        Slot {
            charge: [None, None],
            ..self.clone()
        }
    }

    /// The instant `offset` seconds into the slot.
    fn at(&self, offset: f64) -> DateTime<Utc> {
        if offset <= 1e-9 {
            self.start
        } else if offset >= self.seconds - 1e-9 {
            self.end
        } else {
            self.start + Duration::milliseconds((offset * 1000.0).round() as i64)
        }
    }

    /// Appends the slot as plan slots: idle and charging stretches in order.
    fn emit(&self, out: &mut Vec<PlanSlot>) {
        let mut push = |from: f64, to: f64, power_kw: f64| {
            let (start, end) = (self.at(from), self.at(to));
            if start < end {
                out.push(PlanSlot {
                    start,
                    end,
                    power_kw,
                    price_per_kwh: self.price,
                });
            }
        };
        let mut at = 0.0;
        for (from, to) in self.charge.iter().flatten() {
            push(at, *from, 0.0);
            push(*from, *to, self.power_kw);
            at = *to;
        }
        push(at, self.seconds, 0.0);
    }
}

/// Charges `energy` from the first slot on, each at full power; returns what did not fit.
fn fill_forward(slots: &mut [Slot], mut energy: f64) -> f64 {
    for slot in slots {
        if energy <= EPSILON_KWH {
            break;
        }
        energy = slot.fill_front(energy);
    }
    energy.max(0.0)
}

/// Orders prices: known ones by price, then unknown ones (dearer than all).
fn price_order(a: Option<f64>, b: Option<f64>) -> std::cmp::Ordering {
    match (a, b) {
        (Some(a), Some(b)) => a.total_cmp(&b),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    }
}

/// Charges `energy` in the cheapest free slots, earlier first among equal prices, those from slot
/// `first_choice` on before the others. Taking whole slots cheapest first is optimal here: every
/// slot's energy costs the same per kWh throughout.
fn fill_cheapest(slots: &mut [Slot], mut energy: f64, first_choice: usize) {
    let mut order: Vec<usize> = (0..slots.len())
        .filter(|i| slots[*i].free_capacity() > EPSILON_KWH)
        .collect();
    order.sort_unstable_by(|a, b| {
        (*a < first_choice)
            .cmp(&(*b < first_choice))
            .then(price_order(slots[*a].price, slots[*b].price))
            .then(a.cmp(b))
    });
    for i in order {
        if energy <= EPSILON_KWH {
            break;
        }
        energy = slots[i].fill_front(energy);
    }
}

/// What a window costs: battery energy at unknown prices first (dearer than any known), then the
/// cost at known prices.
#[derive(Clone, Copy)]
struct WindowCost {
    unpriced: f64,
    cost: f64,
}

impl WindowCost {
    fn of(slot: &Slot, energy: f64) -> Self {
        match slot.price {
            Some(price) => Self {
                unpriced: 0.0,
                cost: energy / slot.efficiency * price,
            },
            None => Self {
                unpriced: energy,
                cost: 0.0,
            },
        }
    }

    fn plus(self, other: Self) -> Self {
        Self {
            unpriced: self.unpriced + other.unpriced,
            cost: self.cost + other.cost,
        }
    }

    fn minus(self, other: Self) -> Self {
        Self {
            unpriced: self.unpriced - other.unpriced,
            cost: self.cost - other.cost,
        }
    }

    /// Whether this is cheaper by more than rounding.
    fn cheaper_than(self, other: Self) -> Option<bool> {
        const TIE: f64 = 1e-9;
        if self.unpriced < other.unpriced - TIE {
            Some(true)
        } else if self.unpriced > other.unpriced + TIE {
            Some(false)
        } else if self.cost < other.cost - TIE {
            Some(true)
        } else if self.cost > other.cost + TIE {
            Some(false)
        } else {
            None
        }
    }
}

/// Where a continuous window lies: from the start of slot `first`'s free part forward, or back from
/// the end of slot `last`.
#[derive(Clone, Copy)]
enum Window {
    From { first: usize },
    Until { last: usize },
}

/// Charges `energy` in the cheapest single window of free slots, the earliest among equally cheap
/// ones. The cost of a window of fixed energy changes linearly while neither of its ends crosses a
/// slot boundary, so the cheapest one starts or ends on a boundary: each slot is tried as the
/// window's first slot (filled forward) and as its last (filled backward).
fn fill_continuous(slots: &mut [Slot], energy: f64) {
    let n = slots.len();
    // Prefix sums of free battery capacity and of its cost.
    let mut capacity = Vec::with_capacity(n + 1);
    let mut costs = Vec::with_capacity(n + 1);
    capacity.push(0.0);
    costs.push(WindowCost {
        unpriced: 0.0,
        cost: 0.0,
    });
    for slot in slots.iter() {
        let free = slot.free_capacity();
        capacity.push(capacity[capacity.len() - 1] + free);
        costs.push(costs[costs.len() - 1].plus(WindowCost::of(slot, free)));
    }
    let total = capacity[n];
    if total < energy - EPSILON_KWH {
        // Cannot happen for a feasible plan; keep what fits rather than nothing.
        fill_cheapest(slots, energy, 0);
        return;
    }
    let mut best: Option<(WindowCost, DateTime<Utc>, Window)> = None;
    let mut consider = |cost: WindowCost, start: DateTime<Utc>, window: Window| {
        let better = match &best {
            None => true,
            Some((best_cost, best_start, _)) => cost.cheaper_than(*best_cost).unwrap_or(start < *best_start),
        };
        if better {
            best = Some((cost, start, window));
        }
    };
    for first in 0..n {
        let free = slots[first].free_capacity();
        if free <= EPSILON_KWH {
            continue;
        }
        let goal = capacity[first] + energy - EPSILON_KWH;
        // The first slot `last` with capacity[last + 1] ≥ goal.
        let last = first + capacity[first + 1..].partition_point(|c| *c < goal);
        if last >= n {
            break;
        }
        let partial = energy - (capacity[last] - capacity[first]);
        let cost = costs[last]
            .minus(costs[first])
            .plus(WindowCost::of(&slots[last], partial));
        let start = slots[first].at(slots[first].free_from());
        consider(cost, start, Window::From { first });
    }
    for last in 0..n {
        let free = slots[last].free_capacity();
        if free <= EPSILON_KWH {
            continue;
        }
        let goal = capacity[last + 1] - energy + EPSILON_KWH;
        // The last slot `first` with capacity[first] ≤ goal.
        let count = capacity[..=last].partition_point(|c| *c <= goal);
        let Some(first) = count.checked_sub(1) else {
            continue;
        };
        let partial = energy - (capacity[last + 1] - capacity[first + 1]);
        let cost = costs[last + 1]
            .minus(costs[first + 1])
            .plus(WindowCost::of(&slots[first], partial));
        let seconds = slots[first].seconds_for(partial, slots[first].seconds - slots[first].free_from());
        let start = slots[first].at(slots[first].seconds - seconds);
        consider(cost, start, Window::Until { last });
    }
    match best.map(|(_, _, window)| window) {
        Some(Window::From { first }) => {
            fill_forward(&mut slots[first..], energy);
        }
        Some(Window::Until { last }) => {
            let mut left = energy;
            for slot in slots[..=last].iter_mut().rev() {
                if left <= EPSILON_KWH {
                    break;
                }
                left = slot.fill_back(left);
            }
        }
        None => {}
    }
}

#[cfg(test)]
mod tests;
