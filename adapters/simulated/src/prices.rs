//! The sandbox's day-ahead prices: an hourly curve per UTC day, the same for a given date every
//! time (seeded by the date) and different from one day to the next, published like a real
//! day-ahead market: a day's prices come out at 12:00 UTC the day before.
//!
//! The shape is a European household's market day: cheap at night (cheaper on windy nights), a
//! morning peak, a midday dip as deep as the day is sunny, the dearest hours in the evening. The
//! carbon intensity follows the same weather: low when sun and wind supply the grid.
//!
//! The sandbox's time factor speeds up charging, not the clock, so prices run on real time.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, DurationRound, Utc};
use coupler_core::clock::Clock;
use coupler_core::tariff::{PriceArea, PriceProvider, SeriesSlot};
use coupler_core::AdapterError;

/// The provider's name.
pub const SANDBOX_PROVIDER: &str = "SANDBOX";

/// The one area it has prices for.
pub const SANDBOX_AREA: &str = "SANDBOX";

/// The hour (UTC) a day's prices come out, the day before.
const PUBLISHED_AT_HOUR: i64 = 12;

/// The sandbox's daily price curve, as a price provider.
#[derive(Debug)]
pub struct SandboxPrices {
    clock: Arc<dyn Clock>,
    areas: Vec<PriceArea>,
}

impl SandboxPrices {
    /// The curve, published by `clock`'s time.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            // A constant that fits the rules.
            areas: PriceArea::parse(SANDBOX_AREA).into_iter().collect(),
        }
    }
}

/// A well-mixed 64-bit number from `x` (SplitMix64's finaliser).
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A number in `[0, 1)` for day `day` and draw `k`.
fn draw(day: i64, k: u64) -> f64 {
    let bits = mix(mix(day as u64) ^ k.wrapping_mul(0xD6E8_FEB8_6659_FD93)) >> 11;
    bits as f64 / (1u64 << 53) as f64
}

/// How the day's weather and level come out for day `day` (days since 1970-01-01).
struct Day {
    /// EUR/kWh around which the day's prices move.
    level: f64,
    /// 0 (overcast) to 1 (clear): how deep the midday dip goes.
    sun: f64,
    /// 0 (still) to 1 (stormy): how cheap and clean the night is.
    wind: f64,
}

impl Day {
    fn of(day: i64) -> Self {
        Self {
            level: 0.16 + 0.10 * draw(day, 0),
            sun: draw(day, 1),
            wind: draw(day, 2),
        }
    }

    /// Demand against supply in hour `hour` (UTC), 1.0 being an average hour.
    fn tightness(&self, hour: i64) -> f64 {
        match hour {
            0..=5 => 0.75 - 0.25 * self.wind,
            6..=9 => 1.25,
            10..=15 => 1.0 - 0.6 * self.sun,
            16..=20 => 1.45,
            _ => 1.0 - 0.1 * self.wind,
        }
    }
}

/// The sandbox's price of hour `hour` of day `day`, EUR/kWh (four decimals).
pub fn price(day: i64, hour: i64) -> f64 {
    let today = Day::of(day);
    let noise = (draw(day, 10 + hour as u64) - 0.5) * 0.06;
    let price = (today.level * today.tightness(hour) + noise).max(-0.02);
    (price * 10_000.0).round() / 10_000.0
}

/// The sandbox's carbon intensity of hour `hour` of day `day`, grams of CO₂ per kWh (whole).
pub fn carbon_intensity(day: i64, hour: i64) -> f64 {
    let today = Day::of(day);
    let noise = (draw(day, 40 + hour as u64) - 0.5) * 30.0;
    (120.0 + 260.0 * (today.tightness(hour) - 0.4).max(0.0) + noise)
        .max(20.0)
        .round()
}

impl SandboxPrices {
    /// The hourly values of `[from, to)` published by now.
    fn hours(&self, from: DateTime<Utc>, to: DateTime<Utc>, value: fn(i64, i64) -> f64) -> Vec<SeriesSlot> {
        let now = self.clock.now();
        let published_until = {
            let today = now.timestamp().div_euclid(86_400);
            let published = now.timestamp().rem_euclid(86_400) >= PUBLISHED_AT_HOUR * 3600;
            DateTime::from_timestamp((today + if published { 2 } else { 1 }) * 86_400, 0).unwrap_or(now)
        };
        let mut at = from.duration_trunc(Duration::hours(1)).unwrap_or(from);
        let mut slots = Vec::new();
        while at < to && at + Duration::hours(1) <= published_until {
            let hours = at.timestamp().div_euclid(3600);
            slots.push(SeriesSlot {
                start: at,
                end: at + Duration::hours(1),
                value: value(hours.div_euclid(24), hours.rem_euclid(24)),
            });
            at += Duration::hours(1);
        }
        slots
    }

    fn check(&self, area: &PriceArea) -> Result<(), AdapterError> {
        if self.areas.contains(area) {
            Ok(())
        } else {
            Err(AdapterError::NotCapable(format!(
                "the sandbox has no prices for {area}"
            )))
        }
    }
}

#[async_trait]
impl PriceProvider for SandboxPrices {
    fn name(&self) -> &str {
        SANDBOX_PROVIDER
    }

    fn areas(&self) -> &[PriceArea] {
        &self.areas
    }

    async fn prices(
        &self,
        area: &PriceArea,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<SeriesSlot>, AdapterError> {
        self.check(area)?;
        Ok(self.hours(from, to, price))
    }

    async fn carbon_intensity(
        &self,
        area: &PriceArea,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Option<Vec<SeriesSlot>>, AdapterError> {
        self.check(area)?;
        Ok(Some(self.hours(from, to, carbon_intensity)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use coupler_core::clock::ManualClock;
    use coupler_core::tariff::{Series, SeriesKind};

    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn sandbox(now: &str) -> (Arc<ManualClock>, SandboxPrices) {
        let clock = Arc::new(ManualClock::at(at(now)));
        (clock.clone(), SandboxPrices::new(clock))
    }

    #[tokio::test]
    async fn tomorrows_prices_come_out_at_noon_utc_and_are_the_same_whenever_asked() {
        let (clock, prices) = sandbox("2025-01-15T11:59:00Z");
        let area = PriceArea::parse(SANDBOX_AREA).unwrap();
        let (from, to) = (at("2025-01-15T00:00:00Z"), at("2025-01-17T00:00:00Z"));
        let morning = prices.prices(&area, from, to).await.unwrap();
        assert_eq!(morning.len(), 24);
        clock.set(at("2025-01-15T12:00:00Z"));
        let afternoon = prices.prices(&area, from, to).await.unwrap();
        assert_eq!(afternoon.len(), 48);
        assert_eq!(afternoon[..24], morning[..]);
        assert!(Series::new(SeriesKind::Price, afternoon).is_ok());
        let carbon = prices.carbon_intensity(&area, from, to).await.unwrap().unwrap();
        assert!(Series::new(SeriesKind::CarbonIntensity, carbon).is_ok());
        assert!(prices
            .prices(&PriceArea::parse("DE-LU").unwrap(), from, to)
            .await
            .is_err());
    }

    #[test]
    fn each_day_has_its_own_curve_cheap_at_night_and_dear_in_the_evening() {
        let day = at("2025-01-15T00:00:00Z").timestamp() / 86_400;
        let curve = |d: i64| (0..24).map(|h| price(d, h)).collect::<Vec<_>>();
        assert_ne!(curve(day), curve(day + 1));
        assert_eq!(curve(day), curve(day));
        for d in day..day + 60 {
            let c = curve(d);
            let night = c[..6].iter().sum::<f64>() / 6.0;
            let evening = c[16..21].iter().sum::<f64>() / 5.0;
            assert!(night < evening, "day {d}: {c:?}");
            assert!(c.iter().all(|p| (-0.02..=0.6).contains(p)), "day {d}: {c:?}");
        }
    }
}
