//! The day-ahead price port: a provider publishes each area's prices for the next day, Coupler
//! fetches them on a schedule and stores them, and a location in that area is priced by them.
//!
//! Each provider (aWATTar, the sandbox's daily curve) is an adapter implementing
//! [`PriceProvider`]; the engine speaks only this trait. What a provider answers is checked like a
//! pushed series: an answer with missing hours, or garbage, leaves the prices stored before in force,
//! and the provider's [`ProviderStatus`] says when it last succeeded and what failed since.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::series::SeriesSlot;
use super::PriceArea;
use crate::adapter::AdapterError;

/// A source of day-ahead prices (and perhaps carbon intensity) per area.
#[async_trait]
pub trait PriceProvider: Send + Sync + std::fmt::Debug {
    /// The provider's name in the API and settings, upper case (`AWATTAR`).
    fn name(&self) -> &str;

    /// The areas it has prices for.
    fn areas(&self) -> &[PriceArea];

    /// The prices of `area` it has published over `[from, to)`, per kWh in the area's currency, as
    /// slots (the series is checked by the caller; an answer may end before `to` when the next
    /// day's prices are not out yet).
    async fn prices(
        &self,
        area: &PriceArea,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<SeriesSlot>, AdapterError>;

    /// Carbon intensity of `area` over `[from, to)`, grams of CO₂ per kWh; `None` when the
    /// provider publishes none.
    async fn carbon_intensity(
        &self,
        area: &PriceArea,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Option<Vec<SeriesSlot>>, AdapterError> {
        let _ = (area, from, to);
        Ok(None)
    }
}

/// The price providers Coupler was configured with.
#[derive(Debug, Clone, Default)]
pub struct PriceProviders {
    providers: BTreeMap<String, Arc<dyn PriceProvider>>,
    default: Option<String>,
    fallback: Option<(String, PriceArea)>,
}

impl PriceProviders {
    /// No providers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a provider; one of the same name is replaced.
    pub fn register(&mut self, provider: Arc<dyn PriceProvider>) {
        self.providers.insert(provider.name().to_owned(), provider);
    }

    /// Makes `name` the provider of locations that name a price area but no provider.
    pub fn set_default(&mut self, name: &str) {
        self.default = Some(name.to_owned());
    }

    /// Prices locations that have neither a price area nor a tariff by `name`'s prices for `area`
    /// (the sandbox's daily curve).
    pub fn set_fallback(&mut self, name: &str, area: PriceArea) {
        self.fallback = Some((name.to_owned(), area));
    }

    /// A provider by name.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn PriceProvider>> {
        self.providers.get(name)
    }

    /// Every provider, by name.
    pub fn all(&self) -> impl Iterator<Item = &Arc<dyn PriceProvider>> {
        self.providers.values()
    }

    /// The provider of locations that name none.
    pub fn default_name(&self) -> Option<&str> {
        self.default.as_deref()
    }

    /// The provider and area of locations with neither a price area nor a tariff.
    pub fn fallback(&self) -> Option<(&str, &PriceArea)> {
        self.fallback.as_ref().map(|(name, area)| (name.as_str(), area))
    }

    /// The provider a location with `area` and `named` provider takes its prices from: the one it
    /// names, or else the default; `None` when that is not configured or has no prices for `area`.
    pub fn for_location(&self, area: &PriceArea, named: Option<&str>) -> Option<&Arc<dyn PriceProvider>> {
        let name = named.or(self.default.as_deref())?;
        self.get(name).filter(|p| p.areas().contains(area))
    }

    /// Whether no provider is configured.
    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }
}

/// How fetching one provider's prices for one area has gone.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderStatus {
    /// The provider.
    pub provider: String,
    /// The area.
    pub area: PriceArea,
    /// When Coupler last asked.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// When an answer was last stored.
    pub last_success_at: Option<DateTime<Utc>>,
    /// When an attempt last failed.
    pub last_error_at: Option<DateTime<Utc>>,
    /// What went wrong then.
    pub last_error: Option<String>,
    /// The end of the last stored slot: prices are known until then.
    pub prices_until: Option<DateTime<Utc>>,
    /// Whether the last attempt failed.
    pub failing: bool,
}

impl ProviderStatus {
    /// Whether the last attempt failed (the prices stored before stay in force).
    pub fn is_failing(&self) -> bool {
        self.failing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Fixed(&'static str, Vec<PriceArea>);

    #[async_trait]
    impl PriceProvider for Fixed {
        fn name(&self) -> &str {
            self.0
        }

        fn areas(&self) -> &[PriceArea] {
            &self.1
        }

        async fn prices(
            &self,
            _: &PriceArea,
            _: DateTime<Utc>,
            _: DateTime<Utc>,
        ) -> Result<Vec<SeriesSlot>, AdapterError> {
            Ok(Vec::new())
        }
    }

    fn area(name: &str) -> PriceArea {
        PriceArea::parse(name).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_location_takes_the_provider_it_names_or_the_default_and_only_for_an_area_it_serves() {
        let mut providers = PriceProviders::new();
        providers.register(Arc::new(Fixed("A", vec![area("DE-LU"), area("AT")])));
        providers.register(Arc::new(Fixed("B", vec![area("SE3")])));
        assert!(providers.for_location(&area("DE-LU"), None).is_none());
        providers.set_default("A");
        assert_eq!(
            providers.for_location(&area("DE-LU"), None).map(|p| p.name()),
            Some("A")
        );
        assert_eq!(
            providers.for_location(&area("SE3"), Some("B")).map(|p| p.name()),
            Some("B")
        );
        assert!(providers.for_location(&area("SE3"), None).is_none());
        assert!(providers.for_location(&area("DE-LU"), Some("C")).is_none());
    }
}
