//! Prices a test sets: a price feed for smart charging whose slots the test changes while Coupler
//! runs (then tells the plan keeper, as a price provider's change subscription would).

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};
use coupler_core::location::LocationId;
use coupler_core::tariff::PriceSlot;
use coupler_engine::PriceFeed;

/// The same prices everywhere, as the test last set them.
#[derive(Debug, Clone, Default)]
pub struct TestPrices {
    slots: Arc<Mutex<Vec<PriceSlot>>>,
}

impl TestPrices {
    /// Prices by the hour from `from`: one price per hour, in order.
    pub fn hourly(from: DateTime<Utc>, prices: &[f64]) -> Self {
        let feed = Self::default();
        feed.set_hourly(from, prices);
        feed
    }

    /// Replaces the prices: one per hour from `from`.
    pub fn set_hourly(&self, from: DateTime<Utc>, prices: &[f64]) {
        let slots = prices
            .iter()
            .enumerate()
            .map(|(hour, price)| {
                let hour = i64::try_from(hour).unwrap_or(i64::MAX);
                PriceSlot {
                    start: from + Duration::hours(hour),
                    end: from + Duration::hours(hour + 1),
                    price_per_kwh: *price,
                }
            })
            .collect();
        *self.slots.lock().unwrap_or_else(PoisonError::into_inner) = slots;
    }

    /// The feed, as Coupler's wiring takes it.
    pub fn feed(&self) -> Arc<dyn PriceFeed> {
        Arc::new(self.clone())
    }
}

#[async_trait::async_trait]
impl PriceFeed for TestPrices {
    async fn prices(&self, _: Option<&LocationId>, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<PriceSlot> {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|s| s.end > from && s.start < to)
            .copied()
            .collect()
    }
}
