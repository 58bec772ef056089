//! The rules every plan keeps, over random inputs: powers within the charger's and every cap's
//! limit, slots without gaps, the energy needed when the target can be met, an infeasible verdict
//! only when charging at full power from now cannot meet it, the minimum charged at once, one
//! continuous window for the continuous strategy, costs in the right order, and the same plan for
//! the same input.

#![allow(clippy::unwrap_used, reason = "tests")]

use chrono::{DateTime, Duration, Utc};
use coupler_core::planner::{plan, Plan, PlanInput, PowerCap, Strategy};
use coupler_core::tariff::PriceSlot;
use proptest::prelude::*;

/// 2030-01-07 00:00 UTC.
fn base() -> DateTime<Utc> {
    DateTime::from_timestamp(1_894_060_800, 0).unwrap()
}

fn floor_quarter(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(at.timestamp().div_euclid(900) * 900, 0).unwrap()
}

fn next_quarter(at: DateTime<Utc>) -> DateTime<Utc> {
    floor_quarter(at) + Duration::seconds(900)
}

fn hours(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds() as f64 / 3_600_000.0
}

/// The grid slot a plan slot lies in: quarter hours, cut at now and at the deadline.
fn grid_slot(input: &PlanInput, start: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let mut from = floor_quarter(start).max(input.now);
    let mut to = next_quarter(start);
    if start < input.deadline {
        to = to.min(input.deadline);
    } else if input.deadline > input.now {
        from = from.max(input.deadline);
    }
    (from, to)
}

/// The most power allowed from `from` to `to`: the charger and car, and every cap touching it;
/// nothing under the least power charging runs at.
fn allowed(input: &PlanInput, from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    let power = input
        .caps
        .iter()
        .filter(|cap| cap.start < to && from < cap.end)
        .fold(input.max_power_kw, |power, cap| power.min(cap.max_power_kw));
    if power < input.min_power_kw {
        0.0
    } else {
        power
    }
}

/// Battery energy that charging at full allowed power from now to the deadline puts in.
fn capacity(input: &PlanInput) -> f64 {
    let mut at = input.now;
    let mut total = 0.0;
    while at < input.deadline {
        let end = next_quarter(at).min(input.deadline);
        total += allowed(input, at, end) * hours(at, end) * input.efficiency;
        at = end;
    }
    total
}

fn battery_energy(input: &PlanInput, plan: &Plan) -> f64 {
    plan.slots
        .iter()
        .map(|s| s.power_kw * hours(s.start, s.end) * input.efficiency)
        .sum()
}

/// Maximal stretches of charging slots, as (start, end).
fn runs(plan: &Plan) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut runs: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for slot in plan.slots.iter().filter(|s| s.power_kw > 0.0) {
        match runs.last_mut() {
            Some(run) if run.1 == slot.start => run.1 = slot.end,
            _ => runs.push((slot.start, slot.end)),
        }
    }
    runs
}

fn prices(from: DateTime<Utc>, values: &[(f64, bool)], minutes: i64) -> Vec<PriceSlot> {
    values
        .iter()
        .enumerate()
        .filter(|(_, (_, known))| *known)
        .map(|(i, (price, _))| PriceSlot {
            start: from + Duration::minutes(minutes * i as i64),
            end: from + Duration::minutes(minutes * (i as i64 + 1)),
            price_per_kwh: *price,
        })
        .collect()
}

prop_compose! {
    fn caps(positive: bool)(
        caps in prop::collection::vec((-7_200i64..110_000, 900i64..36_000, 0.0f64..22.0), 0..4)
    ) -> Vec<(i64, i64, f64)> {
        // `positive`: every cap leaves at least the most the least power can be (4.2 kW).
        caps.into_iter().map(|(start, length, kw)| (start, length, if positive { kw.max(4.2) } else { kw })).collect()
    }
}

prop_compose! {
    /// A plug-in within two days of the base, a deadline from 2 hours before it to 30 hours after,
    /// prices hourly or quarter-hourly with gaps (`all_priced`: without), caps (`positive`: none of 0).
    fn input(all_priced: bool, positive: bool)(
        now in 0i64..172_800,
        deadline in -7_200i64..108_000,
        needed in prop_oneof![Just(0.0), 0.0f64..120.0],
        at_once in prop_oneof![Just(0.0), 0.0f64..1.0],
        max_power_kw in prop_oneof![Just(0.0), 1.0f64..22.0, Just(11.0)],
        efficiency in 0.75f64..=1.0,
        hourly in any::<bool>(),
        price_values in prop::collection::vec((-0.1f64..0.8, prop::bool::weighted(0.9)), 140),
        caps in caps(positive),
        continuous in any::<bool>(),
        min_power_kw in prop_oneof![Just(0.0), 1.0f64..4.2],
        reserve_kwh in prop_oneof![Just(0.0), 0.0f64..20.0],
    ) -> PlanInput {
        let now = base() + Duration::seconds(now);
        let minutes = if hourly { 60 } else { 15 };
        let from = floor_quarter(now) - Duration::hours(1);
        let values: Vec<(f64, bool)> = price_values
            .into_iter()
            .map(|(price, known)| (price, known || all_priced))
            .collect();
        let needed = if max_power_kw == 0.0 { needed.min(1.0) } else { needed };
        PlanInput {
            now,
            deadline: now + Duration::seconds(deadline),
            energy_needed_kwh: needed,
            energy_at_once_kwh: needed * at_once,
            max_power_kw,
            caps: caps
                .into_iter()
                .map(|(start, length, kw)| PowerCap {
                    start: now + Duration::seconds(start),
                    end: now + Duration::seconds(start + length),
                    max_power_kw: kw,
                })
                .collect(),
            efficiency,
            prices: prices(from, &values, if all_priced { 15 } else { minutes }),
            strategy: if continuous { Strategy::Continuous } else { Strategy::Cheapest },
            min_power_kw,
            reserve_kwh,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn no_slot_exceeds_the_charger_or_any_cap_and_each_charges_at_full_allowed_power_or_not(
        input in input(false, false)
    ) {
        let plan = plan(&input);
        for slot in &plan.slots {
            prop_assert!(slot.power_kw <= allowed(&input, slot.start, slot.end) + 1e-9, "{slot:?}");
            let (from, to) = grid_slot(&input, slot.start);
            let full = allowed(&input, from, to);
            prop_assert!(slot.power_kw == 0.0 || (slot.power_kw - full).abs() < 1e-9, "{slot:?} of {full}");
        }
    }

    #[test]
    fn slots_run_from_now_without_gaps_and_reach_the_deadline_when_feasible(input in input(false, false)) {
        let plan = plan(&input);
        if let Some(first) = plan.slots.first() {
            prop_assert_eq!(first.start, input.now);
        } else {
            prop_assert!(input.deadline <= input.now);
        }
        for pair in plan.slots.windows(2) {
            prop_assert!(pair[0].start < pair[0].end);
            prop_assert_eq!(pair[0].end, pair[1].start);
        }
        if plan.feasible && input.deadline > input.now {
            prop_assert_eq!(plan.slots.last().unwrap().end, input.deadline);
        }
    }

    #[test]
    fn a_feasible_plan_puts_the_energy_needed_in_the_battery_by_the_deadline(input in input(false, false)) {
        let plan = plan(&input);
        prop_assume!(plan.feasible);
        let energy = battery_energy(&input, &plan);
        prop_assert!(energy >= input.energy_needed_kwh - 1e-6, "{energy} of {}", input.energy_needed_kwh);
        // The reserve where it fits; whole seconds rounded up: a few seconds at full power more.
        let most = input.energy_needed_kwh + input.reserve_kwh + 0.03;
        prop_assert!(energy <= most, "{energy} of {}", input.energy_needed_kwh);
        // A car at its target needs no reserve.
        let reserve = if input.energy_needed_kwh > 0.0 { input.reserve_kwh } else { 0.0 };
        let fits = capacity(&input).min(input.energy_needed_kwh + reserve);
        prop_assert!(energy >= fits - 1e-6, "{energy}: a reserve that fits is planned ({fits})");
        prop_assert!((plan.expected_energy_kwh - input.energy_needed_kwh).abs() < 1e-6);
        if input.energy_needed_kwh > 0.0 {
            prop_assert!(plan.expected_finish.unwrap() <= input.deadline);
        }
    }

    #[test]
    fn a_plan_is_infeasible_only_when_full_power_from_now_cannot_meet_the_deadline(
        input in input(false, false)
    ) {
        let plan = plan(&input);
        let capacity = capacity(&input);
        if plan.feasible {
            prop_assert!(capacity >= input.energy_needed_kwh - 1e-6);
        } else {
            prop_assert!(capacity < input.energy_needed_kwh + 1e-6);
            // And it charges at full allowed power from now until the target is reached.
            for slot in plan.slots.iter().filter(|s| Some(s.end) <= plan.expected_finish) {
                let (from, to) = grid_slot(&input, slot.start);
                prop_assert!((slot.power_kw - allowed(&input, from, to)).abs() < 1e-9, "{slot:?}");
            }
            if plan.expected_finish.is_some() {
                prop_assert!(battery_energy(&input, &plan) >= input.energy_needed_kwh - 1e-6);
            }
        }
    }

    #[test]
    fn the_minimum_is_charged_at_once(input in input(false, false)) {
        let plan = plan(&input);
        let mut charged = 0.0;
        for slot in &plan.slots {
            let (from, to) = grid_slot(&input, slot.start);
            let full = allowed(&input, from, to);
            if full > 0.0 && slot.power_kw == 0.0 {
                break;
            }
            charged += slot.power_kw * hours(slot.start, slot.end) * input.efficiency;
        }
        let reachable = capacity(&input).min(input.energy_at_once_kwh);
        prop_assert!(charged >= reachable - 1e-6, "{charged} of {}", input.energy_at_once_kwh);
    }

    #[test]
    fn a_continuous_plan_charges_in_one_run_after_the_part_charged_at_once(input in input(false, true)) {
        let input = PlanInput { strategy: Strategy::Continuous, ..input };
        prop_assume!(input.max_power_kw > 0.0);
        let plan = plan(&input);
        prop_assume!(plan.feasible);
        let runs = runs(&plan);
        if input.energy_at_once_kwh > 0.0 {
            prop_assert!(runs.len() <= 2, "{runs:?}");
            if runs.len() == 2 {
                prop_assert_eq!(runs[0].0, input.now);
            }
        } else {
            prop_assert!(runs.len() <= 1, "{runs:?}");
        }
    }

    #[test]
    fn the_cheapest_slots_cost_no_more_than_one_window_which_costs_no_more_than_charging_at_once(
        input in input(true, false)
    ) {
        let input = PlanInput { energy_at_once_kwh: 0.0, reserve_kwh: 0.0, ..input };
        let cheapest = plan(&PlanInput { strategy: Strategy::Cheapest, ..input.clone() });
        let continuous = plan(&PlanInput { strategy: Strategy::Continuous, ..input.clone() });
        prop_assume!(cheapest.feasible && input.deadline > input.now);
        prop_assert!(cheapest.unpriced_energy_kwh == 0.0 && continuous.unpriced_energy_kwh == 0.0);
        let slack = 0.02;
        prop_assert!(cheapest.smart_cost <= continuous.smart_cost + slack,
            "{} > {}", cheapest.smart_cost, continuous.smart_cost);
        prop_assert!(continuous.smart_cost <= continuous.non_smart_cost + slack,
            "{} > {}", continuous.smart_cost, continuous.non_smart_cost);
        prop_assert!((cheapest.non_smart_cost - continuous.non_smart_cost).abs() < 1e-9);
    }

    #[test]
    fn the_same_input_gives_the_same_plan_in_any_order(input in input(false, false)) {
        let first = plan(&input);
        prop_assert_eq!(&plan(&input.clone()), &first);
        let mut shuffled = input.clone();
        shuffled.caps.reverse();
        shuffled.prices.reverse();
        prop_assert_eq!(&plan(&shuffled), &first);
    }

    #[test]
    fn the_power_at_any_moment_is_that_of_the_slot_it_falls_in(input in input(false, false), probe in 0i64..120_000) {
        let plan = plan(&input);
        let at = input.now + Duration::seconds(probe);
        let expected = plan.slots.iter().find(|s| s.start <= at && at < s.end).map_or(0.0, |s| s.power_kw);
        prop_assert_eq!(plan.power_at(at), expected);
    }
}

/// What charging `energy` at full allowed power from `start` on costs, if it fits before the deadline.
fn window_cost(input: &PlanInput, start: DateTime<Utc>, energy: f64) -> Option<f64> {
    let mut left = energy;
    let mut cost = 0.0;
    let mut at = start;
    while left > 1e-9 {
        if at >= input.deadline {
            return None;
        }
        let end = next_quarter(at).min(input.deadline);
        let (from, to) = grid_slot(input, at);
        let rate = allowed(input, from, to) * input.efficiency;
        let price = input
            .prices
            .iter()
            .find(|p| p.start <= from && from < p.end)
            .map(|p| p.price_per_kwh)?;
        let taken = (rate * hours(at, end)).min(left);
        cost += taken / input.efficiency * price;
        left -= taken;
        at = end;
    }
    Some(cost)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn no_window_starting_on_any_minute_is_cheaper_than_the_continuous_plan(input in input(true, false)) {
        let input = PlanInput { energy_at_once_kwh: 0.0, reserve_kwh: 0.0, strategy: Strategy::Continuous, ..input };
        let plan = plan(&input);
        prop_assume!(plan.feasible && input.energy_needed_kwh > 0.0);
        let mut start = input.now;
        while start < input.deadline {
            if let Some(cost) = window_cost(&input, start, input.energy_needed_kwh) {
                prop_assert!(plan.smart_cost <= cost + 0.02, "{} > {cost} from {start}", plan.smart_cost);
            }
            start += Duration::minutes(1);
        }
    }
}
