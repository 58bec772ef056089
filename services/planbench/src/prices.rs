//! A day-ahead price curve: one price per hour (every other day: per quarter hour), made from a
//! daily level that wanders from day to day, a night trough, a morning and an evening peak, a midday
//! dip on sunny days, cheaper weekends and noise. Each day's prices are published at 13:00 the day
//! before, as day-ahead markets do; until then the planner does not know them.

use chrono::{DateTime, Duration, Timelike, Utc};
use coupler_core::tariff::PriceSlot;
use rand::rngs::StdRng;
use rand::Rng;

/// When the next day's prices are published, hour of the day.
pub const PUBLISHED_AT_HOUR: u32 = 13;

/// Prices over the whole simulated period, sorted, without gaps.
#[derive(Debug, Clone)]
pub struct PriceCurve {
    slots: Vec<PriceSlot>,
}

/// A normally distributed number (Box–Muller), mean 0.
pub fn normal(rng: &mut StdRng, sd: f64) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen();
    sd * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn bump(hour: f64, centre: f64, width: f64) -> f64 {
    (-((hour - centre) / width).powi(2) / 2.0).exp()
}

impl PriceCurve {
    /// Prices for `days` days from `start` (a midnight).
    pub fn generate(rng: &mut StdRng, start: DateTime<Utc>, days: u32) -> Self {
        let mut slots = Vec::new();
        let mut level: f64 = 0.24;
        for day in 0..days {
            level = (level + normal(rng, 0.025)).clamp(0.12, 0.40);
            let weekend = matches!(day % 7, 5 | 6);
            let sunny = rng.gen_bool(0.4);
            let evening_peak = rng.gen_range(0.08..0.18);
            let quarter_hours = day % 2 == 1;
            let midnight = start + Duration::days(i64::from(day));
            for hour in 0..24 {
                let h = f64::from(hour) + 0.5;
                let shape = 0.05 * bump(h, 8.0, 1.2) + evening_peak * bump(h, 18.5, 1.6)
                    - 0.07 * bump(h, 3.5, 2.2)
                    - if sunny { 0.08 * bump(h, 13.0, 2.0) } else { 0.0 };
                let hourly = level * if weekend { 0.85 } else { 1.0 } + shape + normal(rng, 0.012);
                let hour_start = midnight + Duration::hours(i64::from(hour));
                if quarter_hours {
                    for quarter in 0..4 {
                        slots.push(PriceSlot {
                            start: hour_start + Duration::minutes(15 * quarter),
                            end: hour_start + Duration::minutes(15 * (quarter + 1)),
                            price_per_kwh: round((hourly + normal(rng, 0.006)).max(0.02)),
                        });
                    }
                } else {
                    slots.push(PriceSlot {
                        start: hour_start,
                        end: hour_start + Duration::hours(1),
                        price_per_kwh: round(hourly.max(0.02)),
                    });
                }
            }
        }
        Self { slots }
    }

    /// The price in force at `at` (the last known price past the end).
    pub fn price_at(&self, at: DateTime<Utc>) -> f64 {
        let index = self.slots.partition_point(|slot| slot.start <= at);
        self.slots[index.saturating_sub(1)..]
            .first()
            .map_or(0.0, |slot| slot.price_per_kwh)
    }

    /// Every price, as the planner would see them with full knowledge.
    pub fn all(&self, from: DateTime<Utc>) -> Vec<PriceSlot> {
        self.slots.iter().filter(|slot| slot.end > from).copied().collect()
    }

    /// The prices known at `now`: those of today, and of tomorrow once published.
    pub fn known_at(&self, now: DateTime<Utc>) -> Vec<PriceSlot> {
        let today = now - Duration::seconds(i64::from(now.num_seconds_from_midnight()));
        let until = today + Duration::days(if now.hour() >= PUBLISHED_AT_HOUR { 2 } else { 1 });
        self.slots
            .iter()
            .filter(|slot| slot.end > now && slot.start < until)
            .copied()
            .collect()
    }
}

/// To a tenth of a cent, as markets publish.
fn round(price: f64) -> f64 {
    (price * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn start() -> DateTime<Utc> {
        DateTime::from_timestamp(1_894_060_800, 0).unwrap()
    }

    #[test]
    fn the_same_seed_gives_the_same_prices_and_nights_are_cheaper_than_evenings() {
        let a = PriceCurve::generate(&mut StdRng::seed_from_u64(3), start(), 30);
        let b = PriceCurve::generate(&mut StdRng::seed_from_u64(3), start(), 30);
        assert_eq!(a.slots, b.slots);
        let mut cheaper = 0;
        for day in 0..30 {
            let night = a.price_at(start() + Duration::hours(24 * day + 3));
            let evening = a.price_at(start() + Duration::hours(24 * day + 18));
            cheaper += usize::from(night < evening);
            assert!(night > 0.0 && evening > 0.0);
        }
        assert!(cheaper >= 28, "{cheaper}");
    }

    #[test]
    fn tomorrows_prices_are_known_from_one_in_the_afternoon() {
        let curve = PriceCurve::generate(&mut StdRng::seed_from_u64(3), start(), 3);
        let morning = curve.known_at(start() + Duration::hours(10));
        assert_eq!(morning.last().unwrap().end, start() + Duration::days(1));
        let afternoon = curve.known_at(start() + Duration::hours(13));
        assert_eq!(afternoon.last().unwrap().end, start() + Duration::days(2));
    }
}
