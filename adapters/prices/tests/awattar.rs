//! The aWATTar provider against a local aWATTar that answers as its market data API is documented:
//! prices, the next day not out yet, and failures (an error page, garbage, a missing hour, a wrong
//! unit, nobody listening).

#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

use std::time::Duration;

use chrono::{DateTime, Utc};
use coupler_core::tariff::{PriceArea, PriceProvider, Series, SeriesError, SeriesKind};
use coupler_core::AdapterError;
use coupler_prices::fake::{price_of_hour, FakeAwattar, Fault};
use coupler_prices::{AwattarConfig, AwattarProvider, AWATTAR};
use url::Url;

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn area(name: &str) -> PriceArea {
    PriceArea::parse(name).unwrap()
}

async fn provider() -> (FakeAwattar, AwattarProvider) {
    let fake = FakeAwattar::spawn(at("2025-01-16T00:00:00Z")).await;
    let url = Url::parse(&fake.base_url).unwrap();
    let mut config = AwattarConfig::with_urls(url.clone(), url);
    config.timeout = Duration::from_secs(5);
    (fake, AwattarProvider::new(config))
}

#[tokio::test]
async fn published_hours_come_back_per_kwh_and_stop_where_publication_stops() {
    let (fake, provider) = provider().await;
    assert_eq!(provider.name(), AWATTAR);
    assert_eq!(provider.areas(), &[area("DE-LU"), area("AT")]);
    let slots = provider
        .prices(&area("DE-LU"), at("2025-01-15T00:00:00Z"), at("2025-01-17T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(slots.len(), 24, "tomorrow is not out yet");
    assert_eq!(slots[0].start, at("2025-01-15T00:00:00Z"));
    assert!((slots[5].value - price_of_hour(slots[5].start) / 1000.0).abs() < 1e-12);
    let series = Series::new(SeriesKind::Price, slots).unwrap();
    assert_eq!(series.end(), at("2025-01-16T00:00:00Z"));
    fake.publish_until(at("2025-01-17T00:00:00Z"));
    let both_days = provider
        .prices(&area("AT"), at("2025-01-15T00:00:00Z"), at("2025-01-17T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(both_days.len(), 48);
    assert_eq!(fake.requests(), 2);
}

#[tokio::test]
async fn an_error_page_garbage_and_a_wrong_unit_are_upstream_failures() {
    let (fake, provider) = provider().await;
    let window = (at("2025-01-15T00:00:00Z"), at("2025-01-16T00:00:00Z"));
    for (fault, says) in [
        (Fault::ServerError, "HTTP 500"),
        (Fault::Garbage, "not the expected JSON"),
        (Fault::WrongUnit, "Eur/kWh"),
    ] {
        fake.set_fault(Some(fault.clone()));
        let err = provider.prices(&area("DE-LU"), window.0, window.1).await.unwrap_err();
        let AdapterError::Upstream(text) = &err else {
            panic!("{fault:?}: {err:?}")
        };
        assert!(text.contains(says), "{fault:?}: {text}");
    }
}

#[tokio::test]
async fn an_answer_with_a_missing_hour_is_refused_by_the_series_check() {
    let (fake, provider) = provider().await;
    fake.set_fault(Some(Fault::MissingHour(at("2025-01-15T07:00:00Z"))));
    let slots = provider
        .prices(&area("DE-LU"), at("2025-01-15T00:00:00Z"), at("2025-01-16T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(slots.len(), 23);
    let err = Series::new(SeriesKind::Price, slots).unwrap_err();
    assert!(
        matches!(err, SeriesError::Gap { from, to, .. } if from == at("2025-01-15T07:00:00Z") && to == at("2025-01-15T08:00:00Z")),
        "{err}"
    );
}

#[tokio::test]
async fn an_area_awattar_does_not_serve_is_not_asked_and_an_unreachable_api_is_a_failure() {
    let (_fake, provider) = provider().await;
    let err = provider
        .prices(&area("SE3"), at("2025-01-15T00:00:00Z"), at("2025-01-16T00:00:00Z"))
        .await
        .unwrap_err();
    assert!(matches!(err, AdapterError::NotCapable(_)), "{err:?}");
    // A port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    drop(listener);
    let mut config = AwattarConfig::with_urls(closed.clone(), closed);
    config.timeout = Duration::from_secs(5);
    let err = AwattarProvider::new(config)
        .prices(&area("DE-LU"), at("2025-01-15T00:00:00Z"), at("2025-01-16T00:00:00Z"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, AdapterError::Upstream(_) | AdapterError::Timeout(_)),
        "{err:?}"
    );
}
