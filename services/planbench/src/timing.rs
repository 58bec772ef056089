//! The time to replan every EV system of many users after a price update: one plan per user, each
//! over the next 24 hours with quarter-hour prices, planned one after another on one thread.
//!
//! Only the planner is timed; building the inputs (reading policies, states of charge and limits)
//! and storing the plans and charging profiles are the engine's, measured with the engine.

use std::hint::black_box;
use std::time::{Duration as Elapsed, Instant};

use chrono::{DateTime, Duration, Utc};
use coupler_core::planner::{energy_needed_kwh, plan, reserve_kwh, PlanInput, PowerCap, Strategy};
use coupler_core::tariff::PriceSlot;
use rand::rngs::StdRng;
use rand::Rng;

use crate::population::PLANNED_EFFICIENCY;
use crate::prices::normal;

/// How long each round of planning every input took.
#[derive(Debug, Clone)]
pub struct Timing {
    /// One entry per round.
    pub rounds: Vec<Elapsed>,
    /// Plans per round.
    pub plans: usize,
    /// Quarter-hour slots in one plan's horizon.
    pub slots_per_plan: usize,
}

/// One EV system's plan input at the price update: deadline 24 hours ahead, quarter-hour prices for
/// the next 35 hours, a household cap for some, a minimum charge limit for some.
fn inputs(rng: &mut StdRng, now: DateTime<Utc>, users: usize) -> Vec<PlanInput> {
    let prices: Vec<PriceSlot> = (0..140)
        .map(|i| PriceSlot {
            start: now + Duration::minutes(15 * i),
            end: now + Duration::minutes(15 * (i + 1)),
            price_per_kwh: (0.25 + 0.1 * (i as f64 / 96.0 * std::f64::consts::TAU).sin() + normal(rng, 0.01)).max(0.02),
        })
        .collect();
    (0..users)
        .map(|_| {
            let capacity = rng.gen_range(40.0..100.0);
            let soc = rng.gen_range(10.0..80.0);
            let caps = if rng.gen_bool(0.15) {
                vec![PowerCap {
                    start: now + Duration::hours(4),
                    end: now + Duration::hours(8),
                    max_power_kw: 3.7,
                }]
            } else {
                Vec::new()
            };
            PlanInput {
                now,
                deadline: now + Duration::hours(24),
                energy_needed_kwh: energy_needed_kwh(soc, 80.0, capacity),
                energy_at_once_kwh: if rng.gen_bool(0.3) {
                    energy_needed_kwh(soc, 30.0, capacity)
                } else {
                    0.0
                },
                max_power_kw: *[3.7, 7.4, 11.0, 11.0].get(rng.gen_range(0..4)).unwrap_or(&11.0),
                caps,
                efficiency: PLANNED_EFFICIENCY,
                prices: prices.clone(),
                strategy: if rng.gen_bool(0.8) {
                    Strategy::Cheapest
                } else {
                    Strategy::Continuous
                },
                min_power_kw: 1.38,
                reserve_kwh: reserve_kwh(soc, 80.0, capacity),
            }
        })
        .collect()
}

/// Plans `users` inputs `rounds` times.
pub fn measure(rng: &mut StdRng, now: DateTime<Utc>, users: usize, rounds: usize) -> Timing {
    let inputs = inputs(rng, now, users);
    let rounds = (0..rounds)
        .map(|_| {
            let started = Instant::now();
            for input in &inputs {
                black_box(plan(black_box(input)));
            }
            started.elapsed()
        })
        .collect();
    Timing {
        rounds,
        plans: users,
        slots_per_plan: 96,
    }
}
