//! Named scenarios; the rules every plan keeps are property tests in `tests/planner_properties.rs`.

use super::*;

/// 2030-01-07 00:00 UTC, a quarter hour, plus `hours` and `minutes`.
fn at(hours: i64, minutes: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_894_060_800, 0).unwrap() + Duration::hours(hours) + Duration::minutes(minutes)
}

/// Hourly prices from hour `from`, one per entry.
fn hourly(from: i64, prices: &[f64]) -> Vec<PriceSlot> {
    prices
        .iter()
        .enumerate()
        .map(|(i, price)| PriceSlot {
            start: at(from + i as i64, 0),
            end: at(from + i as i64 + 1, 0),
            price_per_kwh: *price,
        })
        .collect()
}

/// A car plugged in at 18:00, due at 07:00, 11 kW, no losses, the evening dear and the night cheap.
fn evening() -> PlanInput {
    PlanInput {
        now: at(18, 0),
        deadline: at(31, 0),
        energy_needed_kwh: 33.0,
        energy_at_once_kwh: 0.0,
        max_power_kw: 11.0,
        caps: Vec::new(),
        efficiency: 1.0,
        // 18:00 .. 07:00: 13 hours; cheapest 02:00-05:00.
        prices: hourly(
            18,
            &[
                0.40, 0.45, 0.38, 0.30, 0.25, 0.22, 0.20, 0.18, 0.10, 0.11, 0.12, 0.19, 0.28,
            ],
        ),
        strategy: Strategy::Cheapest,
        min_power_kw: 0.0,
        reserve_kwh: 0.0,
    }
}

/// The charging stretches of a plan: (start, end, power).
fn charging(plan: &Plan) -> Vec<(DateTime<Utc>, DateTime<Utc>, f64)> {
    let mut runs: Vec<(DateTime<Utc>, DateTime<Utc>, f64)> = Vec::new();
    for slot in plan.slots.iter().filter(|s| s.power_kw > 0.0) {
        match runs.last_mut() {
            Some(run) if run.1 == slot.start && run.2 == slot.power_kw => run.1 = slot.end,
            _ => runs.push((slot.start, slot.end, slot.power_kw)),
        }
    }
    runs
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

#[test]
fn a_car_needing_three_hours_charges_in_the_three_cheapest_night_hours() {
    let plan = plan(&evening());
    assert!(plan.feasible);
    assert_eq!(charging(&plan), vec![(at(26, 0), at(29, 0), 11.0)]);
    assert!(close(plan.expected_energy_kwh, 33.0));
    assert_eq!(plan.expected_finish, Some(at(29, 0)));
    assert!(close(plan.smart_cost, 11.0 * (0.10 + 0.11 + 0.12)));
    // At once: 18:00-21:00.
    assert!(close(plan.non_smart_cost, 11.0 * (0.40 + 0.45 + 0.38)));
    assert!(close(plan.unpriced_energy_kwh, 0.0));
}

#[test]
fn hourly_prices_cover_four_quarter_hour_slots_each() {
    let plan = plan(&evening());
    assert_eq!(plan.slots.len(), 13 * 4);
    assert!(plan.slots.iter().all(|s| s.end - s.start == Duration::minutes(15)));
    assert_eq!(plan.slots[4].price_per_kwh, Some(0.45));
    assert_eq!(plan.slots[7].price_per_kwh, Some(0.45));
}

#[test]
fn the_first_slot_runs_from_now_to_the_next_quarter_hour() {
    let plan = plan(&PlanInput {
        now: at(18, 7) + Duration::seconds(30),
        ..evening()
    });
    assert_eq!(plan.slots[0].start, at(18, 7) + Duration::seconds(30));
    assert_eq!(plan.slots[0].end, at(18, 15));
    assert_eq!(plan.slots[1].start, at(18, 15));
    assert_eq!(plan.slots.last().unwrap().end, at(31, 0));
}

#[test]
fn the_last_needed_slot_charges_at_full_power_for_fewer_minutes() {
    // 35 kWh: three cheapest hours (33 kWh), then 2 kWh in the next cheapest slot (01:00 at 0.18),
    // at 11 kW for 10 min 55 s (rounded up to the second), then idle.
    let plan = plan(&PlanInput {
        energy_needed_kwh: 35.0,
        ..evening()
    });
    let runs = charging(&plan);
    let partial = at(25, 0) + Duration::seconds(655);
    assert_eq!(runs, vec![(at(25, 0), partial, 11.0), (at(26, 0), at(29, 0), 11.0)]);
    let idle = plan.slots.iter().find(|s| s.start == partial).unwrap();
    assert_eq!((idle.end, idle.power_kw), (at(25, 15), 0.0));
    assert!(close(plan.expected_energy_kwh, 35.0));
    assert!(plan.slots.iter().all(|s| s.power_kw == 0.0 || s.power_kw == 11.0));
}

#[test]
fn equal_prices_charge_as_early_as_possible() {
    let plan = plan(&PlanInput {
        prices: hourly(18, &[0.2; 13]),
        energy_needed_kwh: 22.0,
        ..evening()
    });
    assert_eq!(charging(&plan), vec![(at(18, 0), at(20, 0), 11.0)]);
    let continuous = super::plan(&PlanInput {
        prices: hourly(18, &[0.2; 13]),
        energy_needed_kwh: 22.0,
        strategy: Strategy::Continuous,
        ..evening()
    });
    assert_eq!(charging(&continuous), vec![(at(18, 0), at(20, 0), 11.0)]);
}

#[test]
fn unknown_prices_are_planned_only_when_the_known_ones_do_not_suffice() {
    // Prices known until midnight only; the expensive evening is still preferred to the unknown night.
    let mut input = PlanInput {
        energy_needed_kwh: 22.0,
        ..evening()
    };
    input.prices.truncate(6);
    let plan = plan(&input);
    assert_eq!(charging(&plan), vec![(at(22, 0), at(24, 0), 11.0)]);
    assert!(close(plan.unpriced_energy_kwh, 0.0));

    input.energy_needed_kwh = 77.0;
    let plan = super::plan(&input);
    // All six known hours (66 kWh), then the first unknown hour.
    assert_eq!(charging(&plan), vec![(at(18, 0), at(25, 0), 11.0)]);
    assert!(close(plan.unpriced_energy_kwh, 11.0));
    assert!(close(plan.smart_cost, 11.0 * (0.40 + 0.45 + 0.38 + 0.30 + 0.25 + 0.22)));
}

#[test]
fn the_minimum_charge_limit_is_charged_at_once_whatever_the_price() {
    let plan = plan(&PlanInput {
        energy_needed_kwh: 33.0,
        energy_at_once_kwh: 5.5,
        ..evening()
    });
    // 5.5 kWh at once (18:00-18:30), the other 27.5 kWh in the cheapest hours: 02:00-04:30.
    assert_eq!(
        charging(&plan),
        vec![(at(18, 0), at(18, 30), 11.0), (at(26, 0), at(28, 30), 11.0)]
    );
    assert!(plan.feasible);
    assert!(close(plan.expected_energy_kwh, 33.0));
}

#[test]
fn a_site_cap_in_force_lowers_the_power_and_moves_charging_elsewhere() {
    // A 3.7 kW cap from 02:00 to 03:10 touches the 03:00-03:15 slot too.
    let plan = plan(&PlanInput {
        caps: vec![PowerCap {
            start: at(26, 0),
            end: at(27, 10),
            max_power_kw: 3.7,
        }],
        ..evening()
    });
    assert!(plan.slots.iter().all(|s| s.power_kw <= 11.0));
    for slot in &plan.slots {
        if slot.start < at(27, 10) && at(26, 0) < slot.end {
            assert!(slot.power_kw <= 3.7, "{slot:?}");
        }
    }
    assert!(close(plan.expected_energy_kwh, 33.0));
    assert!(plan.feasible);
    // 02:00-03:15 at 3.7 kW gives 4.625 kWh, 03:15-05:00 at 11 kW 19.25; the other 9.125 kWh come
    // from the next cheapest hour, 01:00 (0.18): 49 min 47 s.
    assert_eq!(
        charging(&plan),
        vec![
            (at(25, 0), at(25, 49) + Duration::seconds(47), 11.0),
            (at(26, 0), at(27, 15), 3.7),
            (at(27, 15), at(29, 0), 11.0),
        ]
    );
}

#[test]
fn a_continuous_plan_takes_the_cheapest_single_window() {
    // Cheapest slots would be 23:00 (0.05) and 02:00-04:00; a single window of 3 hours is cheapest
    // at 02:00-05:00.
    let mut input = PlanInput {
        strategy: Strategy::Continuous,
        ..evening()
    };
    input.prices[5].price_per_kwh = 0.05;
    let cheapest = plan(&PlanInput {
        strategy: Strategy::Cheapest,
        ..input.clone()
    });
    let continuous = plan(&input);
    assert_eq!(charging(&continuous), vec![(at(26, 0), at(29, 0), 11.0)]);
    assert_eq!(charging(&cheapest).len(), 2);
    assert!(cheapest.smart_cost < continuous.smart_cost);
    assert!(continuous.smart_cost < continuous.non_smart_cost);
}

#[test]
fn a_continuous_window_may_start_inside_a_slot_so_that_it_ends_on_a_cheap_boundary() {
    // 11 kWh; 01:00 is dear, 02:00 cheap, 03:00 dear again, 00:00 mid: the best hour-long window
    // is 02:00-03:00 exactly; with 13.75 kWh (1 h 15 min) it starts at 01:45, not 02:00, because
    // 01:45 (0.18) is cheaper than 03:00 (0.5).
    let mut input = PlanInput {
        strategy: Strategy::Continuous,
        energy_needed_kwh: 13.75,
        ..evening()
    };
    input.prices = hourly(18, &[0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.5, 0.18, 0.10, 0.5, 0.9, 0.9, 0.9]);
    let plan = plan(&input);
    assert_eq!(charging(&plan), vec![(at(25, 45), at(27, 0), 11.0)]);
    // And with 12.1 kWh the window ends at 03:00 and starts 6 minutes before 02:00.
    input.energy_needed_kwh = 12.1;
    let plan = super::plan(&input);
    assert_eq!(charging(&plan), vec![(at(25, 54), at(27, 0), 11.0)]);
}

#[test]
fn a_target_out_of_reach_charges_at_once_and_continues_past_the_deadline() {
    // 2 hours until the deadline at 11 kW is 22 kWh; 33 needed: one more hour after it.
    let plan = plan(&PlanInput {
        deadline: at(20, 0),
        ..evening()
    });
    assert!(!plan.feasible);
    assert_eq!(charging(&plan), vec![(at(18, 0), at(21, 0), 11.0)]);
    assert_eq!(plan.slots.last().unwrap().end, at(21, 0));
    assert_eq!(plan.expected_finish, Some(at(21, 0)));
    assert!(close(plan.expected_energy_kwh, 33.0));
    assert!(close(plan.smart_cost, plan.non_smart_cost));
}

#[test]
fn a_passed_deadline_charges_at_once_until_done() {
    let plan = plan(&PlanInput {
        now: at(18, 5),
        deadline: at(17, 0),
        energy_needed_kwh: 5.5,
        ..evening()
    });
    assert!(!plan.feasible);
    assert_eq!(charging(&plan), vec![(at(18, 5), at(18, 35), 11.0)]);
    assert_eq!(plan.expected_finish, Some(at(18, 35)));
}

#[test]
fn a_car_already_at_its_target_plans_no_charging() {
    let plan = plan(&PlanInput {
        energy_needed_kwh: 0.0,
        energy_at_once_kwh: 3.0,
        reserve_kwh: 5.0,
        ..evening()
    });
    assert!(plan.feasible);
    assert!(charging(&plan).is_empty());
    assert_eq!(plan.expected_finish, None);
    assert_eq!((plan.smart_cost, plan.non_smart_cost), (0.0, 0.0));
    assert_eq!(plan.slots.len(), 52);
}

#[test]
fn charging_losses_draw_more_from_the_grid_than_reaches_the_battery() {
    let plan = plan(&PlanInput {
        energy_needed_kwh: 29.7,
        efficiency: 0.9,
        ..evening()
    });
    // 29.7 / 0.9 = 33 kWh from the grid: the same three hours.
    assert_eq!(charging(&plan), vec![(at(26, 0), at(29, 0), 11.0)]);
    assert!(close(plan.expected_energy_kwh, 29.7));
    assert!(close(plan.grid_energy_until(at(31, 0)), 33.0));
}

#[test]
fn a_charger_that_can_take_nothing_makes_an_infeasible_plan_without_endless_slots() {
    let plan = plan(&PlanInput {
        max_power_kw: 0.0,
        ..evening()
    });
    assert!(!plan.feasible);
    assert_eq!(plan.expected_finish, None);
    assert_eq!(plan.expected_energy_kwh, 0.0);
    assert!(plan.slots.last().unwrap().end <= at(31, 0));
}

#[test]
fn a_plan_answers_the_power_at_any_moment_and_the_energy_drawn_until_then() {
    let plan = plan(&evening());
    assert_eq!(plan.power_at(at(26, 30)), 11.0);
    assert_eq!(plan.power_at(at(25, 59)), 0.0);
    assert_eq!(plan.power_at(at(29, 0)), 0.0);
    assert_eq!(plan.power_at(at(40, 0)), 0.0);
    assert_eq!(plan.power_at(at(10, 0)), 0.0);
    assert!(close(plan.grid_energy_until(at(26, 30)), 5.5));
    assert!(!plan.is_behind(at(26, 30), 5.4));
    assert!(plan.is_behind(at(26, 30), 5.0));
}

#[test]
fn power_and_current_convert_both_ways() {
    assert!(close(amps_for_power(11.04, 3, 230.0), 16.0));
    assert!(close(amps_for_power(7.36, 1, 230.0), 32.0));
    assert!(close(power_for_amps(16.0, 3, 230.0), 11.04));
    assert_eq!(amps_for_power(11.0, 0, 230.0), 0.0);
    assert_eq!(amps_for_power(f64::NAN, 3, 230.0), 0.0);
}

#[test]
fn the_energy_needed_is_the_share_of_the_battery_between_now_and_the_target() {
    assert!(close(energy_needed_kwh(20.0, 80.0, 75.0), 45.0));
    assert_eq!(energy_needed_kwh(85.0, 80.0, 75.0), 0.0);
    assert!(close(energy_needed_kwh(-5.0, 120.0, 50.0), 50.0));
    assert_eq!(energy_needed_kwh(f64::NAN, 80.0, 50.0), 40.0);
}

#[test]
fn an_outcome_is_met_late_by_minutes_or_short_by_a_share() {
    let deadline = at(31, 0);
    assert_eq!(
        PlanOutcome::evaluate(deadline, 30.0, 30.0, 30.0, Some(at(30, 0))),
        PlanOutcome::Met
    );
    assert_eq!(
        PlanOutcome::evaluate(deadline, 30.0, 29.98, 29.98, None),
        PlanOutcome::Met
    );
    assert_eq!(
        PlanOutcome::evaluate(deadline, 30.0, 25.0, 30.0, Some(at(31, 20) + Duration::seconds(1))),
        PlanOutcome::Late { minutes: 21 }
    );
    assert_eq!(
        PlanOutcome::evaluate(deadline, 30.0, 25.0, 27.0, None),
        PlanOutcome::Short { percent: 10 }
    );
    assert_eq!(
        PlanOutcome::evaluate(deadline, 30.0, 0.0, 0.0, None),
        PlanOutcome::Short { percent: 100 }
    );
    assert_eq!(
        serde_json::to_value(PlanOutcome::Late { minutes: 5 }).unwrap(),
        serde_json::json!({"outcome": "LATE", "minutes": 5})
    );
}

#[test]
fn unsorted_prices_and_caps_give_the_same_plan_as_sorted_ones() {
    let mut input = evening();
    input.caps = vec![
        PowerCap {
            start: at(26, 0),
            end: at(27, 0),
            max_power_kw: 5.0,
        },
        PowerCap {
            start: at(20, 0),
            end: at(22, 0),
            max_power_kw: 2.0,
        },
    ];
    let sorted = plan(&input);
    input.prices.reverse();
    input.caps.reverse();
    assert_eq!(plan(&input), sorted);
}

#[test]
fn a_cap_under_the_least_power_charging_runs_at_stops_charging_there() {
    // Three phases need 4.14 kW (6 A); a 3.7 kW cap over the cheap night leaves it idle.
    let plan = plan(&PlanInput {
        min_power_kw: power_for_amps(6.0, 3, 230.0),
        caps: vec![PowerCap {
            start: at(26, 0),
            end: at(29, 0),
            max_power_kw: 3.7,
        }],
        ..evening()
    });
    assert_eq!(plan.power_at(at(27, 0)), 0.0);
    assert!(plan.feasible);
    assert!(close(plan.expected_energy_kwh, 33.0));
}

#[test]
fn a_reserve_is_planned_after_the_need_and_not_counted_as_expected() {
    // 33 kWh needed in 02:00-05:00; the 5.5 kWh reserve in the cheapest slots after 05:00 (05:00,
    // 0.19), not in the cheaper 01:00 before: a car that keeps to the plan never draws it.
    let plan = plan(&PlanInput {
        reserve_kwh: 5.5,
        ..evening()
    });
    assert_eq!(charging(&plan), vec![(at(26, 0), at(29, 30), 11.0)]);
    assert!(close(plan.expected_energy_kwh, 33.0));
    assert_eq!(plan.expected_finish, Some(at(29, 0)));
    assert!(close(plan.smart_cost, 11.0 * (0.10 + 0.11 + 0.12)));
    assert!(close(plan.non_smart_cost, 11.0 * (0.40 + 0.45 + 0.38)));
    // With no room after the need (deadline 05:00), the reserve goes to the cheapest slot before.
    let plan = super::plan(&PlanInput {
        reserve_kwh: 5.5,
        deadline: at(29, 0),
        prices: evening().prices[..11].to_vec(),
        ..evening()
    });
    assert_eq!(
        charging(&plan),
        vec![(at(25, 0), at(25, 30), 11.0), (at(26, 0), at(29, 0), 11.0)]
    );
    assert_eq!(plan.expected_finish, Some(at(28, 30)));
}

#[test]
fn a_reserve_that_does_not_fit_before_the_deadline_leaves_the_plan_feasible() {
    // 3 hours until the deadline hold exactly the 33 kWh needed.
    let plan = plan(&PlanInput {
        deadline: at(21, 0),
        reserve_kwh: 10.0,
        ..evening()
    });
    assert!(plan.feasible);
    assert_eq!(charging(&plan), vec![(at(18, 0), at(21, 0), 11.0)]);
    assert_eq!(plan.expected_finish, Some(at(21, 0)));
}

#[test]
fn the_reserve_grows_with_the_part_of_the_charge_where_cars_take_less_power() {
    // 20 % -> 80 % of 50 kWh: 30 kWh, 6 % of it.
    assert!(close(reserve_kwh(20.0, 80.0, 50.0), 1.8));
    // 20 % -> 100 %: 2.4 for losses; 80 -> 100 % at a power falling to a quarter takes as long as
    // 20 ln(4) / 0.75 = 36.97 points at full power, 16.97 more: 8.48 kWh.
    assert!((reserve_kwh(20.0, 100.0, 50.0) - (2.4 + 8.484)).abs() < 0.01);
    // The last 5 % take three times as long as at full power.
    assert!((reserve_kwh(95.0, 100.0, 50.0) - (0.15 + 4.96)).abs() < 0.01);
    assert_eq!(reserve_kwh(90.0, 80.0, 50.0), 0.0);
}
