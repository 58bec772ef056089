//! The sessions of a simulated month: who arrives when, with what car on what charger, wanting what
//! by when.

use chrono::{DateTime, Duration, Utc};
use coupler_core::planner::{power_for_amps, Strategy};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;

/// Volts between phase and neutral.
pub const VOLTAGE: f64 = 230.0;

/// The efficiency the engine plans with; each car's true one differs.
pub const PLANNED_EFFICIENCY: f64 = 0.9;

/// Where a session happens, which sets its arrival and deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Arrives in the evening, due the next morning.
    Home,
    /// Arrives in the morning, due in the afternoon.
    Work,
    /// Arrives at any hour, stays from one hour to two days.
    Other,
}

/// One charging session and everything about the car and the charger that the simulation needs.
#[derive(Debug, Clone)]
pub struct Session {
    /// Where it happens.
    pub kind: Kind,
    /// Plug-in.
    pub arrival: DateTime<Utc>,
    /// When the target should be reached.
    pub deadline: DateTime<Utc>,
    /// When the car is unplugged (after the deadline; charging continues until then when short).
    pub departure: DateTime<Utc>,
    /// Battery capacity, kWh.
    pub capacity_kwh: f64,
    /// State of charge on arrival, %.
    pub arrival_soc: f64,
    /// Target state of charge, %.
    pub target_soc: f64,
    /// Minimum charge limit, % (charged at once); 0 when none.
    pub minimum_soc: f64,
    /// The power the charger and car together can take, kW from the grid.
    pub max_power_kw: f64,
    /// The least power charging runs at (6 A on the phases in use), kW.
    pub min_power_kw: f64,
    /// The car's true charging efficiency.
    pub efficiency: f64,
    /// State of charge above which the car takes less power, %.
    pub taper_from_soc: f64,
    /// Share of its full power the car still takes at 100 %.
    pub taper_floor: f64,
    /// For a maker that reports late: minutes after plug-in before the first true state of charge.
    pub soc_delay_minutes: Option<i64>,
    /// What the engine believes until then (the last report before the trip), %.
    pub stale_soc: f64,
    /// The charger takes no charging profiles: it is started and stopped at slot boundaries.
    pub on_off: bool,
    /// A household cap from 17:00 to 21:00 every day, kW.
    pub evening_cap_kw: Option<f64>,
    /// How the plan spends the time.
    pub strategy: Strategy,
}

impl Session {
    /// The most battery power the car takes at `soc_pct`, kW: full power below the taper, then
    /// falling linearly to `taper_floor` of it at 100 %.
    pub fn battery_power_limit(&self, soc_pct: f64) -> f64 {
        let full = self.max_power_kw * self.efficiency;
        if soc_pct <= self.taper_from_soc {
            return full;
        }
        let share = ((soc_pct - self.taper_from_soc) / (100.0 - self.taper_from_soc)).clamp(0.0, 1.0);
        full * (1.0 - (1.0 - self.taper_floor) * share)
    }
}

/// `count` sessions arriving over `days` days from `start`.
pub fn generate(rng: &mut StdRng, start: DateTime<Utc>, days: u32, count: usize) -> Vec<Session> {
    let mut sessions: Vec<Session> = (0..count).map(|_| session(rng, start, days)).collect();
    sessions.sort_by_key(|s| s.arrival);
    sessions
}

fn pick<T: Copy>(rng: &mut StdRng, weighted: &[(T, u32)]) -> T {
    weighted
        .choose_weighted(rng, |(_, weight)| *weight)
        .map_or(weighted[0].0, |(value, _)| *value)
}

/// A time of day in minutes, rounded to whole minutes.
fn minutes(m: f64) -> Duration {
    Duration::minutes(m.round() as i64)
}

fn session(rng: &mut StdRng, start: DateTime<Utc>, days: u32) -> Session {
    let day = start + Duration::days(i64::from(rng.gen_range(0..days)));
    let kind = pick(rng, &[(Kind::Home, 65), (Kind::Work, 20), (Kind::Other, 15)]);
    let (arrival, deadline) = match kind {
        Kind::Home => {
            // 16:00-23:00, most around 18:30; due 06:00-08:00 the next day.
            let at = (16.0 * 60.0 + rng.gen_range(0.0..210.0_f64) + rng.gen_range(0.0..210.0_f64)).min(23.0 * 60.0);
            let due = *[6 * 60, 6 * 60 + 30, 7 * 60, 7 * 60 + 30, 8 * 60]
                .choose(rng)
                .unwrap_or(&(7 * 60));
            (day + minutes(at), day + Duration::days(1) + Duration::minutes(due))
        }
        Kind::Work => {
            let at = rng.gen_range(7.0 * 60.0..10.0 * 60.0);
            let due = rng.gen_range(16 * 4..=18 * 4) * 15;
            (day + minutes(at), day + Duration::minutes(due))
        }
        Kind::Other => {
            // Any minute of the day; stays 1 to 40 hours (short stays more often); a deadline off the
            // quarter-hour grid.
            let arrival = day + minutes(rng.gen_range(0.0..24.0 * 60.0));
            let stay: f64 = 60.0 + 2340.0 * rng.gen::<f64>().powi(2);
            (arrival, arrival + minutes(stay))
        }
    };
    let departure = deadline + minutes(rng.gen_range(30.0..240.0));

    let capacity_kwh = *[40.0, 50.0, 58.0, 64.0, 77.0, 82.0, 100.0].choose(rng).unwrap_or(&64.0);
    // Cars: 7.2 or 7.4 kW on one phase (32 A), or 11 kW on three (16 A). Chargers: 3.7 kW (1 × 16 A),
    // 7.4 kW (1 × 32 A), 11 kW (3 × 16 A), 22 kW (3 × 32 A). A one-phase car on a three-phase charger
    // uses one phase.
    let (car_phases, car_amps) = pick(rng, &[((1u8, 31.3), 20), ((1, 32.0), 30), ((3, 16.0), 50)]);
    let (charger_phases, charger_amps) = pick(
        rng,
        &[((1u8, 16.0), 15), ((1, 32.0), 25), ((3, 16.0), 45), ((3, 32.0), 15)],
    );
    let phases = car_phases.min(charger_phases);
    let amps: f64 = f64::min(car_amps, charger_amps);
    let max_power_kw = power_for_amps(amps, phases, VOLTAGE);
    let min_power_kw = power_for_amps(6.0, phases, VOLTAGE);

    let arrival_soc: f64 = rng.gen_range(10.0..70.0_f64).round();
    let target_soc = pick(rng, &[(80.0, 60), (90.0, 20), (100.0, 20)]);
    let minimum_soc = if rng.gen_bool(0.3) {
        rng.gen_range(20.0..40.0_f64).round()
    } else {
        0.0
    };
    let late = rng.gen_bool(0.2);
    Session {
        kind,
        arrival,
        deadline,
        departure,
        capacity_kwh,
        arrival_soc,
        target_soc,
        minimum_soc,
        max_power_kw,
        min_power_kw,
        efficiency: rng.gen_range(0.85..0.94),
        taper_from_soc: rng.gen_range(80.0..92.0),
        taper_floor: rng.gen_range(0.25..0.6),
        soc_delay_minutes: late.then(|| rng.gen_range(10..=120)),
        stale_soc: (arrival_soc + rng.gen_range(5.0..30.0_f64)).min(100.0).round(),
        on_off: rng.gen_bool(0.15),
        evening_cap_kw: rng.gen_bool(0.15).then_some(3.7),
        strategy: if rng.gen_bool(0.8) {
            Strategy::Cheapest
        } else {
            Strategy::Continuous
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn a_one_phase_car_on_a_three_phase_charger_charges_on_one_phase() {
        let mut rng = StdRng::seed_from_u64(1);
        let start = DateTime::from_timestamp(1_894_060_800, 0).unwrap();
        let sessions = generate(&mut rng, start, 30, 500);
        assert!(sessions
            .iter()
            .all(|s| s.deadline > s.arrival && s.departure > s.deadline));
        let powers: std::collections::BTreeSet<u64> = sessions
            .iter()
            .map(|s| (s.max_power_kw * 100.0).round() as u64)
            .collect();
        assert_eq!(powers.into_iter().collect::<Vec<_>>(), vec![368, 720, 736, 1104]);
    }
}
