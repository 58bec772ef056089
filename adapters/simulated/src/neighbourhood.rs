//! Simulated neighbourhoods: households whose habits are drawn from a seed, so that a flexibility
//! event can be tried on hundreds of homes that behave like a real street.
//!
//! The draw is pure and seeded ([`draw_households`]): the same seed gives the same households.
//! Most households commute (home in the early evening, spread around 18:00; away in the morning,
//! spread around 07:30); some come home in the afternoon or late in the evening. Cars differ in
//! how much current they take (most 16 A, some 32 A, a few 10 A) and in the charge they come home
//! with. Each household's car is then a commuting car of the sandbox ([`crate::commute`]), which
//! draws each evening's arrival charge anew within its household's range.

use chrono::NaiveTime;
use coupler_core::sandbox::{HouseholdPattern, NeighbourhoodArea};

/// A small, fast, seeded generator (SplitMix64): the same seed gives the same draws everywhere.
#[derive(Debug, Clone)]
pub struct SeededDraws(u64);

impl SeededDraws {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A number from a normal distribution (Box–Muller).
    pub fn normal(&mut self, mean: f64, deviation: f64) -> f64 {
        let u1 = self.uniform().max(f64::MIN_POSITIVE);
        let u2 = self.uniform();
        mean + deviation * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// A local time `minutes` after midnight, rounded to five minutes and kept within the day.
fn clock_time(minutes: f64) -> NaiveTime {
    let rounded = ((minutes / 5.0).round() as i64 * 5).rem_euclid(24 * 60) as u32;
    NaiveTime::from_hms_opt(rounded / 60, rounded % 60, 0).unwrap_or(NaiveTime::MIN)
}

/// `count` households' habits drawn from `seed`, placed within `area`.
pub fn draw_households(seed: u64, count: usize, area: &NeighbourhoodArea) -> Vec<HouseholdPattern> {
    let mut draws = SeededDraws::new(seed);
    (0..count)
        .map(|_| {
            let kind = draws.uniform();
            // (arrival mean, spread, earliest, latest), minutes after midnight.
            let (arrive_mean, arrive_spread, earliest, latest) = if kind < 0.75 {
                (18.0 * 60.0, 60.0, 15.5 * 60.0, 21.0 * 60.0)
            } else if kind < 0.9 {
                (14.5 * 60.0, 45.0, 12.0 * 60.0, 17.0 * 60.0)
            } else {
                (21.5 * 60.0, 40.0, 20.0 * 60.0, 23.5 * 60.0)
            };
            let arrive = draws.normal(arrive_mean, arrive_spread).clamp(earliest, latest);
            let leave = draws.normal(7.5 * 60.0, 50.0).clamp(5.0 * 60.0, 10.0 * 60.0);
            let current = draws.uniform();
            let max_current = if current < 0.6 {
                16
            } else if current < 0.85 {
                32
            } else {
                10
            };
            let charge_limit = if draws.uniform() < 0.7 { 80.0 } else { 90.0 };
            // A car comes home below its charge limit: there is something to charge.
            let low = (draws.normal(30.0, 10.0)).clamp(10.0, 60.0).round();
            let high = (low + 10.0 + draws.uniform() * 25.0).min(charge_limit - 10.0).round();
            let brand = if draws.uniform() < 0.5 {
                "SIM_AURORA"
            } else {
                "SIM_BOREAL"
            };
            // Uniform over the disc: the radius goes with the square root.
            let distance_km = area.radius_km * draws.uniform().sqrt();
            let bearing = std::f64::consts::TAU * draws.uniform();
            let north_km = distance_km * bearing.cos();
            let east_km = distance_km * bearing.sin();
            let latitude = (area.latitude + north_km / 111.32).clamp(-90.0, 90.0);
            let km_per_degree_east = (111.32 * area.latitude.to_radians().cos()).max(1e-6);
            let longitude = (area.longitude + east_km / km_per_degree_east).clamp(-180.0, 180.0);
            HouseholdPattern {
                brand: brand.to_owned(),
                max_current,
                charge_limit,
                battery_level: ((low + high) / 2.0).round(),
                arrive: clock_time(arrive),
                leave: clock_time(leave),
                arrival_level_min: low,
                arrival_level_max: high,
                latitude: (latitude * 1e6).round() / 1e6,
                longitude: (longitude * 1e6).round() / 1e6,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Timelike;
    use coupler_core::location::Point;

    fn area() -> NeighbourhoodArea {
        NeighbourhoodArea {
            latitude: 52.09,
            longitude: 5.12,
            radius_km: 2.0,
            time_zone: "Europe/Amsterdam".parse().unwrap(),
        }
    }

    #[test]
    fn the_same_seed_draws_the_same_households_and_another_seed_others() {
        let first = draw_households(7, 50, &area());
        assert_eq!(first, draw_households(7, 50, &area()));
        assert_ne!(first, draw_households(8, 50, &area()));
        assert_eq!(
            draw_households(7, 10, &area())[..],
            first[..10],
            "more households extend the draw"
        );
    }

    #[test]
    fn households_come_home_mostly_in_the_early_evening_and_leave_in_the_morning() {
        let households = draw_households(42, 1000, &area());
        let hour = |t: NaiveTime| f64::from(t.hour()) + f64::from(t.minute()) / 60.0;
        let evening = households
            .iter()
            .filter(|h| (16.0..=20.5).contains(&hour(h.arrive)))
            .count();
        assert!(evening > 600, "{evening} of 1000 come home between 16:00 and 20:30");
        assert!(households.iter().all(|h| (12.0..=23.5).contains(&hour(h.arrive))));
        assert!(households.iter().all(|h| (5.0..=10.0).contains(&hour(h.leave))));
        let mean_leave = households.iter().map(|h| hour(h.leave)).sum::<f64>() / 1000.0;
        assert!((7.0..8.0).contains(&mean_leave), "{mean_leave}");
    }

    #[test]
    fn cars_differ_in_current_and_arrival_charge_within_sensible_ranges() {
        let households = draw_households(3, 500, &area());
        for amps in [10, 16, 32] {
            assert!(
                households.iter().any(|h| h.max_current == amps),
                "some cars take {amps} A"
            );
        }
        for h in &households {
            assert!(10.0 <= h.arrival_level_min && h.arrival_level_min < h.arrival_level_max);
            assert!(h.arrival_level_max <= h.charge_limit - 10.0, "{h:?}");
        }
    }

    #[test]
    fn homes_lie_within_the_neighbourhoods_radius() {
        let area = area();
        let centre = Point {
            latitude: area.latitude,
            longitude: area.longitude,
        };
        for h in draw_households(9, 300, &area) {
            let home = Point {
                latitude: h.latitude,
                longitude: h.longitude,
            };
            assert!(centre.distance_m(home) <= 2_010.0, "{h:?}");
        }
    }
}
