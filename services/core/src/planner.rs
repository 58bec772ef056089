//! The smart-charging planner: from how much energy a car needs by when, what the charger and car
//! can take, the caps of other limit sources and the prices, the power to charge at in each slot.
//!
//! Pure: the same input gives the same plan. The engine turns a plan into the `schedule` limit
//! source (one absolute charging profile) and recomputes it when its inputs change.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::tariff::PriceSlot;

/// The length of a plan slot: prices come in 15-minute or hourly slots, and a 15-minute grid holds
/// both.
pub const SLOT_MINUTES: i64 = 15;

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
    /// Caps from other limit sources, in force in their stretches of time.
    pub caps: Vec<PowerCap>,
    /// Share of grid energy that reaches the battery (0 < efficiency ≤ 1): charging losses.
    pub efficiency: f64,
    /// Prices over the horizon; a slot with no known price is planned as dearer than any known one.
    pub prices: Vec<PriceSlot>,
    /// How to spend the time.
    pub strategy: Strategy,
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
    /// charging continues until it is), in order, without gaps.
    pub slots: Vec<PlanSlot>,
    /// Whether the target is met by the deadline.
    pub feasible: bool,
    /// Energy expected into the battery, kWh.
    pub expected_energy_kwh: f64,
    /// When charging is expected to finish.
    pub expected_finish: Option<DateTime<Utc>>,
    /// What the plan is expected to cost at known prices.
    pub smart_cost: f64,
    /// What charging the same energy at once, at full power, would cost.
    pub non_smart_cost: f64,
}

/// Makes a plan. A first version: charges what must be charged at once from now, then fills the
/// cheapest slots before the deadline at full power; `Continuous`, caps, partial slots and the
/// property tests are still to come.
pub fn plan(input: &PlanInput) -> Plan {
    let slot = chrono::Duration::minutes(SLOT_MINUTES);
    let efficiency = input.efficiency.clamp(0.01, 1.0);
    let price_at = |at: DateTime<Utc>| {
        input
            .prices
            .iter()
            .find(|p| p.start <= at && at < p.end)
            .map(|p| p.price_per_kwh)
    };
    let mut starts = Vec::new();
    let mut at = input.now;
    while at < input.deadline {
        starts.push(at);
        at += slot;
    }
    let hours = slot.num_minutes() as f64 / 60.0;
    let per_slot_kwh = input.max_power_kw.max(0.0) * hours * efficiency;
    let mut power = vec![0.0; starts.len()];
    let mut left = input.energy_needed_kwh.max(0.0);
    let mut at_once = input.energy_at_once_kwh.clamp(0.0, left);
    for p in power.iter_mut() {
        if at_once <= 0.0 {
            break;
        }
        *p = input.max_power_kw;
        at_once -= per_slot_kwh;
        left -= per_slot_kwh;
    }
    let mut order: Vec<usize> = (0..starts.len()).filter(|i| power[*i] == 0.0).collect();
    order.sort_by(|a, b| {
        let pa = price_at(starts[*a]).unwrap_or(f64::MAX);
        let pb = price_at(starts[*b]).unwrap_or(f64::MAX);
        pa.total_cmp(&pb).then(a.cmp(b))
    });
    for i in order {
        if left <= 0.0 {
            break;
        }
        power[i] = input.max_power_kw;
        left -= per_slot_kwh;
    }
    let slots: Vec<PlanSlot> = starts
        .iter()
        .zip(&power)
        .map(|(start, kw)| PlanSlot {
            start: *start,
            end: *start + slot,
            power_kw: *kw,
            price_per_kwh: price_at(*start),
        })
        .collect();
    let cost = |kw: f64, price: Option<f64>| kw * hours * price.unwrap_or(0.0);
    let smart_cost = slots.iter().map(|s| cost(s.power_kw, s.price_per_kwh)).sum();
    let charged_slots = power.iter().filter(|kw| **kw > 0.0).count();
    let non_smart_cost = slots
        .iter()
        .take(charged_slots)
        .map(|s| cost(input.max_power_kw, s.price_per_kwh))
        .sum();
    Plan {
        expected_finish: slots.iter().rev().find(|s| s.power_kw > 0.0).map(|s| s.end),
        expected_energy_kwh: input.energy_needed_kwh.max(0.0) - left.max(0.0),
        feasible: left <= 0.0,
        slots,
        smart_cost,
        non_smart_cost,
    }
}
