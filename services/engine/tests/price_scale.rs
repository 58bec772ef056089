//! How long pricing every location takes after a provider's new prices: the first step of
//! replanning them all. A measurement, not a check of speed (ignored by default; see
//! `docs/benchmarks.md` for the command and the figures).

#![allow(clippy::unwrap_used, reason = "a measurement fails loudly on the first surprise")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coupler_core::control::{ChargerCommand, ChargerControl, CommandReply, ControlError};
use coupler_core::location::{Location, LocationFields, LocationId};
use coupler_core::secret::{hash_secret, Cipher, SecretKey};
use coupler_core::tariff::{PriceArea, PriceChange, PriceProvider, PriceProviders, PriceScope, SeriesKind, SeriesSlot};
use coupler_core::{time, AdapterError, AdapterRegistry, ChargerId, Client, ClientId, Store, UserId};
use coupler_engine::{ChargerEngineConfig, Engine, EngineConfig, PriceConfig};
use coupler_store::testing::TestDatabase;

/// How many locations: `PRICE_SCALE_LOCATIONS`, 10,000 by default.
fn locations() -> usize {
    std::env::var("PRICE_SCALE_LOCATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000)
}

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

/// Two days of hourly prices for one area.
#[derive(Debug)]
struct Hourly(Vec<PriceArea>);

#[async_trait]
impl PriceProvider for Hourly {
    fn name(&self) -> &str {
        "HOURLY"
    }
    fn areas(&self) -> &[PriceArea] {
        &self.0
    }
    async fn prices(
        &self,
        _: &PriceArea,
        from: DateTime<Utc>,
        _: DateTime<Utc>,
    ) -> Result<Vec<SeriesSlot>, AdapterError> {
        Ok((0..48)
            .map(|h| SeriesSlot {
                start: from + chrono::Duration::hours(h),
                end: from + chrono::Duration::hours(h + 1),
                value: 0.1 + h as f64 / 100.0,
            })
            .collect())
    }
}

async fn measure(store: Arc<dyn Store>) {
    let area = PriceArea::parse("DE-LU").unwrap();
    let mut providers = PriceProviders::new();
    providers.register(Arc::new(Hourly(vec![area.clone()])));
    providers.set_default("HOURLY");
    let engine = Engine::new(
        store.clone(),
        Cipher::new(&SecretKey::generate()),
        AdapterRegistry::new(),
        Arc::new(NoChargers),
        EngineConfig::default(),
        ChargerEngineConfig::default(),
    )
    .with_prices(providers, PriceConfig::default());
    let client = Client {
        id: ClientId::generate(),
        name: "app".into(),
        secret_hash: hash_secret("s"),
        created_at: time::now(),
        revoked_at: None,
    };
    store.insert_client(&client).await.unwrap();
    let count = locations();
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        let user = UserId::parse(&format!("user-{i}")).unwrap();
        store.upsert_user(&client.id, &user).await.unwrap();
        let location = Location {
            id: LocationId::generate(),
            client_id: client.id.clone(),
            user_id: user,
            fields: LocationFields::new("Home", 52.5, 13.4, "Europe/Berlin")
                .unwrap()
                .with_pricing(Some(area.clone()), None),
            created_at: time::now(),
            updated_at: time::now(),
        };
        store.insert_location(&location).await.unwrap();
        ids.push(location.id);
    }
    engine.fetch_provider_prices("HOURLY", &area).await.unwrap();
    let change = PriceChange {
        scope: PriceScope::Provider {
            provider: "HOURLY".into(),
            area,
        },
        kind: SeriesKind::Price,
    };
    let (from, to) = (time::now(), time::now() + chrono::Duration::hours(24));
    let started = Instant::now();
    let affected = engine.locations_affected(&change).await.unwrap();
    let priced = engine.location_prices_many(&affected, from, to).await.unwrap();
    let all_at_once = started.elapsed();
    assert_eq!(priced.len(), count);
    let started = Instant::now();
    for id in ids.iter().take(1000) {
        assert!(!engine
            .location_prices(&client.id, id, from, to)
            .await
            .unwrap()
            .is_empty());
    }
    let one_by_one = started.elapsed();
    eprintln!(
        "{}: {count} locations affected and priced at once in {all_at_once:?}; 1,000 priced one by one in {one_by_one:?}",
        store.backend()
    );
}

#[tokio::test]
#[ignore = "a measurement: run with --ignored --nocapture"]
async fn pricing_every_location_after_a_providers_new_prices_on_sqlite() {
    let db = TestDatabase::sqlite();
    measure(db.open().await).await;
}

#[tokio::test]
#[ignore = "a measurement: run with --ignored --nocapture"]
async fn pricing_every_location_after_a_providers_new_prices_on_postgres() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    measure(db.open().await).await;
}
