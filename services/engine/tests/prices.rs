//! A location's effective prices, provider fetches and price-change announcements, against a real
//! store (SQLite) with a scripted provider and a manual clock.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coupler_core::clock::ManualClock;
use coupler_core::control::{ChargerCommand, ChargerControl, CommandReply, ControlError};
use coupler_core::location::{Location, LocationFields, LocationId};
use coupler_core::secret::{hash_secret, Cipher, SecretKey};
use coupler_core::tariff::tou::{Rate, TouInterval, Weekday};
use coupler_core::tariff::{
    prices_within, PriceArea, PriceProvider, PriceProviders, PriceScope, PriceSource, Series, SeriesKind, SeriesOwner,
    SeriesSlot, TouDefinition, TouTariff,
};
use coupler_core::{time, AdapterError, AdapterRegistry, ChargerId, Client, ClientId, Store, UserId};
use coupler_engine::{ChargerEngineConfig, Engine, EngineConfig, EngineError, PriceConfig};
use coupler_store::testing::TestDatabase;

#[derive(Debug)]
struct NoChargers;

#[async_trait]
impl ChargerControl for NoChargers {
    async fn send(&self, _: &ChargerId, _: ChargerCommand) -> Result<CommandReply, ControlError> {
        Err(ControlError::NotConnected)
    }
    fn is_connected(&self, _: &ChargerId) -> bool {
        false
    }
    async fn disconnect(&self, _: &ChargerId) {}
    async fn wait_for_change(&self, _: &ChargerId, _: Duration) {}
}

/// A provider answering what the test scripts: hourly prices, or a failure.
#[derive(Debug)]
struct Scripted {
    areas: Vec<PriceArea>,
    answer: Mutex<Result<Vec<SeriesSlot>, AdapterError>>,
}

#[async_trait]
impl PriceProvider for Scripted {
    fn name(&self) -> &str {
        "SCRIPTED"
    }
    fn areas(&self) -> &[PriceArea] {
        &self.areas
    }
    async fn prices(&self, _: &PriceArea, _: DateTime<Utc>, _: DateTime<Utc>) -> Result<Vec<SeriesSlot>, AdapterError> {
        self.answer.lock().unwrap().clone()
    }
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn area(name: &str) -> PriceArea {
    PriceArea::parse(name).unwrap()
}

fn hourly(from: &str, values: &[f64]) -> Vec<SeriesSlot> {
    let start = at(from);
    values
        .iter()
        .enumerate()
        .map(|(i, v)| SeriesSlot {
            start: start + chrono::Duration::hours(i as i64),
            end: start + chrono::Duration::hours(i as i64 + 1),
            value: *v,
        })
        .collect()
}

struct World {
    _db: TestDatabase,
    store: Arc<dyn Store>,
    engine: Engine,
    provider: Arc<Scripted>,
    client: ClientId,
}

async fn world(fallback: bool) -> World {
    let db = TestDatabase::sqlite();
    let store = db.open().await;
    let provider = Arc::new(Scripted {
        areas: vec![area("DE-LU")],
        answer: Mutex::new(Ok(hourly("2025-03-30T00:00:00Z", &[0.2; 48]))),
    });
    let mut providers = PriceProviders::new();
    providers.register(provider.clone());
    providers.set_default("SCRIPTED");
    if fallback {
        providers.set_fallback("SCRIPTED", area("DE-LU"));
    }
    let engine = Engine::new(
        store.clone(),
        Cipher::new(&SecretKey::generate()),
        AdapterRegistry::new(),
        Arc::new(NoChargers),
        EngineConfig::default(),
        ChargerEngineConfig::default(),
    )
    .with_clock(Arc::new(ManualClock::at(at("2025-03-30T10:00:00Z"))))
    .with_prices(providers, PriceConfig::default());
    let client = Client {
        id: ClientId::generate(),
        name: "app".into(),
        secret_hash: hash_secret("s"),
        created_at: time::now(),
        revoked_at: None,
    };
    store.insert_client(&client).await.unwrap();
    World {
        _db: db,
        store,
        engine,
        provider,
        client: client.id,
    }
}

async fn location(w: &World, area: Option<&str>) -> Location {
    let user = UserId::parse("alice").unwrap();
    w.store.upsert_user(&w.client, &user).await.unwrap();
    let location = Location {
        id: LocationId::generate(),
        client_id: w.client.clone(),
        user_id: user,
        fields: LocationFields::new("Home", 52.5, 13.4, "Europe/Berlin")
            .unwrap()
            .with_pricing(area.map(|a| PriceArea::parse(a).unwrap()), None),
        created_at: time::now(),
        updated_at: time::now(),
    };
    w.store.insert_location(&location).await.unwrap();
    location
}

/// Night (22:00–06:00) at 0.10, day at 0.30, Berlin time.
fn day_and_night() -> TouTariff {
    TouTariff::new(TouDefinition {
        rates: vec![
            Rate {
                name: "day".into(),
                price_per_kwh: 0.30,
            },
            Rate {
                name: "night".into(),
                price_per_kwh: 0.10,
            },
        ],
        schedule: vec![
            TouInterval {
                days: Weekday::ALL.to_vec(),
                from: "06:00".into(),
                to: "22:00".into(),
                rate: "day".into(),
            },
            TouInterval {
                days: Weekday::ALL.to_vec(),
                from: "22:00".into(),
                to: "06:00".into(),
                rate: "night".into(),
            },
        ],
    })
    .unwrap()
}

#[tokio::test]
async fn a_locations_prices_layer_its_push_its_areas_push_the_provider_and_its_tariff_across_a_dst_change() {
    let w = world(false).await;
    let home = location(&w, Some("DE-LU")).await;
    w.engine
        .set_tariff(&w.client, &home.id, &day_and_night())
        .await
        .unwrap();
    // The provider has 2025-03-30 and 31 (UTC) at 0.20.
    assert_eq!(
        w.engine.fetch_provider_prices("SCRIPTED", &area("DE-LU")).await,
        Ok(true)
    );
    // The client's area series covers 10:00–12:00 UTC, its location series 11:00–11:15.
    let area_series = Series::new(SeriesKind::Price, hourly("2025-03-30T10:00:00Z", &[0.5, 0.6])).unwrap();
    w.engine
        .push_series(
            SeriesOwner::Area {
                client: w.client.clone(),
                area: area("DE-LU"),
            },
            &area_series,
            None,
        )
        .await
        .unwrap();
    let own = Series::new(
        SeriesKind::Price,
        vec![SeriesSlot {
            start: at("2025-03-30T11:00:00Z"),
            end: at("2025-03-30T11:15:00Z"),
            value: 0.9,
        }],
    )
    .unwrap();
    w.engine
        .push_series(
            SeriesOwner::Location {
                client: w.client.clone(),
                location: home.id.clone(),
            },
            &own,
            None,
        )
        .await
        .unwrap();
    // From Saturday 22:00 CET (21:00 UTC), over the night clocks go forward, to Tuesday 02:00 UTC.
    let effective = w
        .engine
        .effective_series(
            &home,
            SeriesKind::Price,
            at("2025-03-29T21:00:00Z"),
            at("2025-04-01T02:00:00Z"),
        )
        .await
        .unwrap();
    let shown: Vec<(String, f64, PriceSource)> = effective
        .slots
        .iter()
        .map(|s| {
            (
                format!("{}–{}", s.start.format("%d %H:%M"), s.end.format("%d %H:%M")),
                s.value,
                s.source,
            )
        })
        .collect();
    let s = |t: &str, v: f64, src| (t.to_owned(), v, src);
    use PriceSource::*;
    // Until the provider's first hour, the tariff's night rate (22:00 CET is 21:00 UTC).
    assert_eq!(shown[0], s("29 21:00–30 00:00", 0.10, Tou));
    assert_eq!(shown[10], s("30 09:00–30 10:00", 0.20, Provider));
    assert_eq!(
        shown[11..14],
        [
            s("30 10:00–30 11:00", 0.5, Pushed),
            s("30 11:00–30 11:15", 0.9, Pushed),
            s("30 11:15–30 12:00", 0.6, Pushed),
        ]
    );
    assert_eq!(shown[14], s("30 12:00–30 13:00", 0.20, Provider));
    // After the provider's two days the tariff fills in again: 00:00–02:00 UTC is 02:00–04:00 CEST.
    assert_eq!(shown.last().unwrap(), &s("01 00:00–01 02:00", 0.10, Tou));
    assert!(effective.slots.windows(2).all(|p| p[0].end == p[1].start));
    let provider = effective.provider.unwrap();
    assert_eq!((provider.name.as_str(), provider.configured), ("SCRIPTED", true));
    assert_eq!(provider.status.unwrap().prices_until, Some(at("2025-04-01T00:00:00Z")));
    // The planner's view: the same, as price slots.
    let slots = w
        .engine
        .location_prices(
            &w.client,
            &home.id,
            at("2025-03-30T10:30:00Z"),
            at("2025-03-30T11:30:00Z"),
        )
        .await
        .unwrap();
    let prices: Vec<f64> = slots.iter().map(|s| s.price_per_kwh).collect();
    assert_eq!(prices, vec![0.5, 0.9, 0.6]);
    let other = ClientId::generate();
    assert!(matches!(
        w.engine
            .location_prices(&other, &home.id, at("2025-03-30T10:30:00Z"), at("2025-03-30T11:30:00Z"))
            .await,
        Err(EngineError::NotFound(_))
    ));
}

#[tokio::test]
async fn a_failed_or_gapped_fetch_keeps_the_last_good_prices_and_the_status_says_so() {
    let w = world(false).await;
    let home = location(&w, Some("DE-LU")).await;
    let de = area("DE-LU");
    assert_eq!(w.engine.fetch_provider_prices("SCRIPTED", &de).await, Ok(true));
    let mut gapped = hourly("2025-03-30T00:00:00Z", &[0.9; 48]);
    gapped.remove(7);
    *w.provider.answer.lock().unwrap() = Ok(gapped);
    let err = w.engine.fetch_provider_prices("SCRIPTED", &de).await.unwrap_err();
    assert!(err.contains("no slot covers"), "{err}");
    *w.provider.answer.lock().unwrap() = Err(AdapterError::Upstream("HTTP 500".into()));
    let err = w.engine.fetch_provider_prices("SCRIPTED", &de).await.unwrap_err();
    assert!(err.contains("HTTP 500"), "{err}");
    let effective = w
        .engine
        .effective_series(
            &home,
            SeriesKind::Price,
            at("2025-03-30T00:00:00Z"),
            at("2025-03-31T00:00:00Z"),
        )
        .await
        .unwrap();
    assert!(
        effective.slots.iter().all(|s| s.value == 0.2),
        "the last good prices stay"
    );
    let status = effective.provider.unwrap().status.unwrap();
    assert!(status.is_failing());
    assert!(status.last_success_at.is_some());
    assert!(status.last_error.unwrap().contains("HTTP 500"));
    // Fetching the same prices again changes nothing.
    *w.provider.answer.lock().unwrap() = Ok(hourly("2025-03-30T00:00:00Z", &[0.2; 48]));
    assert_eq!(w.engine.fetch_provider_prices("SCRIPTED", &de).await, Ok(false));
}

#[tokio::test]
async fn every_stored_change_is_announced_once_with_the_locations_it_reaches() {
    let w = world(false).await;
    let mut changes = w.engine.subscribe_price_changes();
    let home = location(&w, Some("DE-LU")).await;
    let elsewhere = location(&w, None).await;
    w.engine
        .set_tariff(&w.client, &home.id, &day_and_night())
        .await
        .unwrap();
    let change = changes.try_recv().unwrap();
    assert_eq!(
        change.scope,
        PriceScope::Location {
            client: w.client.clone(),
            location: home.id.clone()
        }
    );
    w.engine
        .fetch_provider_prices("SCRIPTED", &area("DE-LU"))
        .await
        .unwrap();
    let change = changes.try_recv().unwrap();
    assert!(matches!(&change.scope, PriceScope::Provider { provider, .. } if provider == "SCRIPTED"));
    // The default provider reaches the location in its area, not the one without an area.
    let reached = w.engine.locations_affected(&change).await.unwrap();
    assert_eq!(reached, vec![(w.client.clone(), home.id.clone())]);
    // Unchanged prices, and an identical push, are not announced again.
    w.engine
        .fetch_provider_prices("SCRIPTED", &area("DE-LU"))
        .await
        .unwrap();
    let series = Series::new(SeriesKind::CarbonIntensity, hourly("2025-03-30T00:00:00Z", &[300.0])).unwrap();
    let owner = SeriesOwner::Location {
        client: w.client.clone(),
        location: elsewhere.id.clone(),
    };
    let first = w
        .engine
        .push_series(owner.clone(), &series, Some("k".into()))
        .await
        .unwrap();
    let change = changes.try_recv().unwrap();
    assert_eq!(change.kind, SeriesKind::CarbonIntensity);
    let retry = w
        .engine
        .push_series(owner.clone(), &series, Some("k".into()))
        .await
        .unwrap();
    assert_eq!(retry, first);
    assert!(changes.try_recv().is_err());
    let different = Series::new(SeriesKind::CarbonIntensity, hourly("2025-03-30T00:00:00Z", &[1.0])).unwrap();
    assert!(matches!(
        w.engine.push_series(owner, &different, Some("k".into())).await,
        Err(EngineError::IdempotencyKeyReused(_))
    ));
}

#[tokio::test]
async fn in_the_sandbox_a_location_with_neither_area_nor_tariff_takes_the_fallback_provider() {
    let w = world(true).await;
    let bare = location(&w, None).await;
    let with_tariff = location(&w, None).await;
    w.engine
        .set_tariff(&w.client, &with_tariff.id, &day_and_night())
        .await
        .unwrap();
    w.engine
        .fetch_provider_prices("SCRIPTED", &area("DE-LU"))
        .await
        .unwrap();
    let window = (at("2025-03-30T00:00:00Z"), at("2025-03-30T06:00:00Z"));
    let bare_prices = w
        .engine
        .effective_series(&bare, SeriesKind::Price, window.0, window.1)
        .await
        .unwrap();
    assert!(bare_prices.slots.iter().all(|s| s.source == PriceSource::Provider));
    assert_eq!(bare_prices.slots.len(), 6);
    let tariffed = w
        .engine
        .effective_series(&with_tariff, SeriesKind::Price, window.0, window.1)
        .await
        .unwrap();
    assert!(tariffed.slots.iter().all(|s| s.source == PriceSource::Tou));
    assert!(tariffed.provider.is_none());
}

#[tokio::test]
async fn many_locations_are_priced_at_once_as_each_would_be_alone_and_only_under_their_client() {
    let w = world(false).await;
    let home = location(&w, Some("DE-LU")).await;
    let cabin = location(&w, None).await;
    let plain = location(&w, None).await;
    w.engine
        .set_tariff(&w.client, &cabin.id, &day_and_night())
        .await
        .unwrap();
    w.engine
        .fetch_provider_prices("SCRIPTED", &area("DE-LU"))
        .await
        .unwrap();
    let own = Series::new(SeriesKind::Price, hourly("2025-03-30T05:00:00Z", &[0.7])).unwrap();
    w.engine
        .push_series(
            SeriesOwner::Location {
                client: w.client.clone(),
                location: plain.id.clone(),
            },
            &own,
            None,
        )
        .await
        .unwrap();
    let (from, to) = (at("2025-03-29T20:00:00Z"), at("2025-03-30T12:00:00Z"));
    let stranger = ClientId::generate();
    let asked = vec![
        (w.client.clone(), home.id.clone()),
        (w.client.clone(), cabin.id.clone()),
        (w.client.clone(), plain.id.clone()),
        (stranger, home.id.clone()),
        (w.client.clone(), LocationId::generate()),
    ];
    let many = w.engine.location_prices_many(&asked, from, to).await.unwrap();
    assert_eq!(many.len(), 3);
    for l in [&home, &cabin, &plain] {
        let alone = w.engine.location_prices(&w.client, &l.id, from, to).await.unwrap();
        assert!(!alone.is_empty());
        assert_eq!(many[&l.id], alone);
    }
}

#[tokio::test]
async fn prices_read_once_for_a_long_window_and_cut_to_a_shorter_one_are_the_prices_read_for_the_shorter_one() {
    let w = world(false).await;
    let home = location(&w, Some("DE-LU")).await;
    let cabin = location(&w, None).await;
    w.engine
        .set_tariff(&w.client, &cabin.id, &day_and_night())
        .await
        .unwrap();
    w.engine
        .fetch_provider_prices("SCRIPTED", &area("DE-LU"))
        .await
        .unwrap();
    let own = Series::new(SeriesKind::Price, hourly("2025-03-30T05:00:00Z", &[0.7, 0.6])).unwrap();
    w.engine
        .push_series(
            SeriesOwner::Location {
                client: w.client.clone(),
                location: home.id.clone(),
            },
            &own,
            None,
        )
        .await
        .unwrap();
    let (from, to) = (at("2025-03-29T20:00:00Z"), at("2025-03-30T23:00:00Z"));
    let asked = vec![
        (w.client.clone(), home.id.clone()),
        (w.client.clone(), cabin.id.clone()),
    ];
    let long = w.engine.location_prices_many(&asked, from, to).await.unwrap();
    // Windows as a replan asks for them: from some moment after the read until a deadline, both
    // inside slots as often as on their edges.
    for (start, end) in [
        ("2025-03-29T20:00:00Z", "2025-03-30T23:00:00Z"),
        ("2025-03-29T21:17:42Z", "2025-03-30T07:00:00Z"),
        ("2025-03-30T05:30:00Z", "2025-03-30T06:15:00Z"),
        ("2025-03-30T01:59:59Z", "2025-03-30T03:00:01Z"),
    ] {
        let (start, end) = (at(start), at(end));
        for l in [&home, &cabin] {
            let alone = w.engine.location_prices(&w.client, &l.id, start, end).await.unwrap();
            assert!(!alone.is_empty());
            assert_eq!(
                prices_within(&long[&l.id], start, end),
                alone,
                "{start}..{end} at {}",
                l.id
            );
        }
    }
}
