//! Coupler's day-ahead price providers, behind [`coupler_core::tariff::PriceProvider`].
//!
//! aWATTar publishes the EPEX Spot day-ahead prices of Germany-Luxembourg (`api.awattar.de`) and
//! Austria (`api.awattar.at`) without a key: `GET /v1/marketdata?start=<ms>&end=<ms>` answers
//! `{"object": "list", "data": [{"start_timestamp": ms, "end_timestamp": ms, "marketprice": x,
//! "unit": "Eur/MWh"}]}`, one entry per market time unit (an hour, or a quarter hour since the
//! market moved to them). Prices are converted from EUR/MWh to EUR/kWh. The free API allows about a
//! hundred requests a day, which an hourly poll of two areas stays well within.
//!
//! What the answer holds is handed on as it is: a gap, an odd slot or a number that is not one is
//! refused by the caller's check of the series, which keeps the prices stored before in force.

#[cfg(feature = "fake")]
pub mod fake;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coupler_adapter_http::{decode, http_client, send, DEFAULT_TIMEOUT};
use coupler_core::tariff::{PriceArea, PriceProvider, SeriesSlot};
use coupler_core::AdapterError;
use serde::Deserialize;
use url::Url;

/// The provider's name in the API and settings.
pub const AWATTAR: &str = "AWATTAR";

/// How Coupler reaches aWATTar: a base URL per area.
#[derive(Debug, Clone)]
pub struct AwattarConfig {
    /// Each area and the API that has its prices (`https://api.awattar.de` for `DE-LU`).
    pub areas: Vec<(PriceArea, Url)>,
    /// Timeout per request.
    pub timeout: Duration,
}

/// The area of Germany and Luxembourg's day-ahead market.
pub const GERMANY_LUXEMBOURG: &str = "DE-LU";
/// Austria's.
pub const AUSTRIA: &str = "AT";

fn fixed(text: &str) -> Url {
    // Constant URLs, checked by the tests below.
    Url::parse(text).expect("a valid constant URL")
}

fn fixed_area(text: &str) -> PriceArea {
    PriceArea::parse(text).expect("a valid constant area")
}

/// aWATTar's public API for Germany-Luxembourg.
pub fn germany_url() -> Url {
    fixed("https://api.awattar.de")
}

/// aWATTar's public API for Austria.
pub fn austria_url() -> Url {
    fixed("https://api.awattar.at")
}

impl AwattarConfig {
    /// aWATTar's two public APIs.
    pub fn production() -> Self {
        Self::with_urls(germany_url(), austria_url())
    }

    /// Germany-Luxembourg's prices at `germany`, Austria's at `austria`.
    pub fn with_urls(germany: Url, austria: Url) -> Self {
        Self {
            areas: vec![
                (fixed_area(GERMANY_LUXEMBOURG), germany),
                (fixed_area(AUSTRIA), austria),
            ],
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// aWATTar's market data.
#[derive(Debug)]
pub struct AwattarProvider {
    config: AwattarConfig,
    areas: Vec<PriceArea>,
    http: reqwest::Client,
}

impl AwattarProvider {
    /// A provider for `config`.
    pub fn new(config: AwattarConfig) -> Self {
        let http = http_client(config.timeout);
        let areas = config.areas.iter().map(|(area, _)| area.clone()).collect();
        Self { config, areas, http }
    }
}

#[derive(Debug, Deserialize)]
struct MarketData {
    data: Vec<MarketPrice>,
}

#[derive(Debug, Deserialize)]
struct MarketPrice {
    start_timestamp: i64,
    end_timestamp: i64,
    marketprice: f64,
    unit: String,
}

/// EUR/MWh to EUR/kWh.
fn per_kwh(eur_per_mwh: f64) -> f64 {
    eur_per_mwh / 1000.0
}

fn instant(ms: i64, what: &str) -> Result<DateTime<Utc>, AdapterError> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| AdapterError::Upstream(format!("{what} {ms} is not a time")))
}

#[async_trait]
impl PriceProvider for AwattarProvider {
    fn name(&self) -> &str {
        AWATTAR
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
        let base = self
            .config
            .areas
            .iter()
            .find(|(a, _)| a == area)
            .map(|(_, url)| url)
            .ok_or_else(|| AdapterError::NotCapable(format!("aWATTar has no prices for {area}")))?;
        // A base with a path (`https://proxy/awattar-de`) keeps it.
        let mut base = base.clone();
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let mut url = base
            .join("v1/marketdata")
            .map_err(|e| AdapterError::Upstream(format!("bad aWATTar URL: {e}")))?;
        url.query_pairs_mut()
            .append_pair("start", &from.timestamp_millis().to_string())
            .append_pair("end", &to.timestamp_millis().to_string());
        let answer = send(self.http.get(url)).await?;
        if answer.status.as_u16() == 429 {
            return Err(AdapterError::RateLimited {
                retry_after: answer.retry_after(),
                detail: "aWATTar's request limit".into(),
            });
        }
        if !answer.status.is_success() {
            return Err(AdapterError::Upstream(format!(
                "aWATTar answered HTTP {}: {}",
                answer.status.as_u16(),
                answer.snippet()
            )));
        }
        let market: MarketData = decode(&answer, "GET /v1/marketdata")?;
        market
            .data
            .into_iter()
            .map(|entry| {
                if !entry.unit.eq_ignore_ascii_case("Eur/MWh") {
                    return Err(AdapterError::Upstream(format!(
                        "aWATTar gave a price in '{}', not Eur/MWh",
                        entry.unit
                    )));
                }
                Ok(SeriesSlot {
                    start: instant(entry.start_timestamp, "start_timestamp")?,
                    end: instant(entry.end_timestamp, "end_timestamp")?,
                    value: per_kwh(entry.marketprice),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_production_config_covers_germany_luxembourg_and_austria() {
        let config = AwattarConfig::production();
        let names: Vec<&str> = config.areas.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(names, vec!["DE-LU", "AT"]);
        assert_eq!(config.areas[0].1.as_str(), "https://api.awattar.de/");
    }

    #[test]
    fn euros_per_megawatt_hour_become_euros_per_kilowatt_hour() {
        assert!((per_kwh(85.96) - 0.08596).abs() < 1e-12);
        assert!((per_kwh(-5.12) + 0.00512).abs() < 1e-12);
    }
}
