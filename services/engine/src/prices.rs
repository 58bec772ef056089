//! Prices: what a location pays for power, from its tariff, the series clients push and the
//! day-ahead providers Coupler fetches from, and the news that they changed.
//!
//! - [`Engine::location_prices`] is what the planner asks: a location's effective prices over a
//!   window as [`PriceSlot`]s (the layering rule is [`coupler_core::tariff::effective`]);
//!   [`Engine::location_prices_many`] answers the same for many locations in a few queries.
//!   [`Engine::effective_series`] gives the same with each slot's source and the provider's status,
//!   for prices and for carbon intensity.
//! - Tariffs and pushes go through the engine ([`Engine::set_tariff`], [`Engine::push_series`]), so
//!   that every change that is stored is also announced.
//! - The fetcher ([`spawn`]) asks each configured provider for each of its areas every
//!   `poll_interval` (after a failure, every `retry_interval`), checks the answer like a pushed
//!   series and stores it. A failure or an unusable answer stores nothing: the prices stored before
//!   stay in force, and the provider's status says when it last succeeded and what failed since.
//! - [`Engine::subscribe_price_changes`] announces every stored change ([`PriceChange`]) after it
//!   is committed; [`Engine::locations_affected`] names the locations a change reaches.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use coupler_core::location::{Location, LocationId};
use coupler_core::store::{ProviderReach, PushOutcome, StoredTariff};
use coupler_core::tariff::{
    overlay, price_slots, PriceArea, PriceChange, PriceProviders, PriceScope, PriceSlot, PriceSource, ProviderStatus,
    Series, SeriesKind, SeriesOwner, SeriesPush, SeriesSlot, SourcedSlot, TouTariff,
};
use coupler_core::ClientId;
use coupler_tasks::Tasks;
use tokio::sync::{broadcast, Notify};
use tracing::Instrument;

use crate::{Engine, EngineError};

/// How the fetcher paces itself.
#[derive(Debug, Clone)]
pub struct PriceConfig {
    /// How often each provider's prices for each area are fetched.
    pub poll_interval: Duration,
    /// How soon a failed fetch is tried again.
    pub retry_interval: Duration,
}

impl Default for PriceConfig {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(3600),
            retry_interval: Duration::from_secs(300),
        }
    }
}

/// The engine's price state: the providers, the pace, and the channel changes are announced on.
#[derive(Debug)]
pub(crate) struct PriceBook {
    pub(crate) providers: PriceProviders,
    pub(crate) config: PriceConfig,
    changes: broadcast::Sender<PriceChange>,
    fetch_now: Notify,
}

impl Default for PriceBook {
    fn default() -> Self {
        Self {
            providers: PriceProviders::new(),
            config: PriceConfig::default(),
            changes: broadcast::channel(1024).0,
            fetch_now: Notify::new(),
        }
    }
}

/// The provider a location takes prices from, and how fetching them goes.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderUse {
    /// The provider's name.
    pub name: String,
    /// The area.
    pub area: PriceArea,
    /// Whether this Coupler has the provider, with prices for the area.
    pub configured: bool,
    /// How fetching has gone; `None` before the first attempt.
    pub status: Option<ProviderStatus>,
}

/// A location's effective series over a window.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectiveSeries {
    /// The slots, sorted, each with its source; time without a known value is left out.
    pub slots: Vec<SourcedSlot>,
    /// The provider the location takes prices from, if any.
    pub provider: Option<ProviderUse>,
    /// Whether the location has a time-of-use tariff.
    pub has_tariff: bool,
}

/// The series a location is layered from, most specific first, and the provider it takes prices
/// from (name, area, whether it is configured).
#[derive(Debug)]
struct Owners {
    all: Vec<SeriesOwner>,
    provider: Option<(String, PriceArea, bool)>,
}

/// Layers a location's loaded series (by owner key, in `owners`' order) and, for prices, its
/// tariff, over `[from, to)`.
fn compose(
    location: &Location,
    tariff: Option<&StoredTariff>,
    owners: &[SeriesOwner],
    slots: &HashMap<String, Vec<SeriesSlot>>,
    kind: SeriesKind,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<SourcedSlot> {
    let mut layers: Vec<Vec<SourcedSlot>> = owners
        .iter()
        .map(|owner| {
            let source = match owner {
                SeriesOwner::Provider { .. } => PriceSource::Provider,
                _ => PriceSource::Pushed,
            };
            slots
                .get(&owner.key())
                .map(|found| found.iter().map(|s| SourcedSlot::from_series(s, source)).collect())
                .unwrap_or_default()
        })
        .collect();
    if let (SeriesKind::Price, Some(stored)) = (kind, tariff) {
        let tou = stored
            .tariff
            .expand(location.fields.time_zone(), from, to)
            .into_iter()
            .map(|t| SourcedSlot {
                start: t.slot.start,
                end: t.slot.end,
                value: t.slot.price_per_kwh,
                source: PriceSource::Tou,
                rate: Some(t.rate),
            })
            .collect();
        layers.push(tou);
    }
    overlay(from, to, layers)
}

/// The window providers are asked for: today (UTC) and tomorrow, which holds every day-ahead
/// price published so far that is still of use.
fn fetch_window(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let midnight = now.date_naive().and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    (midnight, midnight + chrono::Duration::days(2))
}

impl Engine {
    /// The same engine with these price providers and this fetch pace.
    pub fn with_prices(mut self, providers: PriceProviders, config: PriceConfig) -> Self {
        self.prices.providers = providers;
        self.prices.config = config;
        self
    }

    /// The configured price providers.
    pub fn price_providers(&self) -> &PriceProviders {
        &self.prices.providers
    }

    /// Every price (and carbon intensity) change stored from now on, announced after its commit:
    /// a push, a tariff set or removed, a location's price area or provider changed, a provider's
    /// new prices. A receiver that falls behind loses the oldest (`Lagged`) and should recompute
    /// everything it plans for.
    pub fn subscribe_price_changes(&self) -> broadcast::Receiver<PriceChange> {
        self.prices.changes.subscribe()
    }

    fn announce(&self, scope: PriceScope, kind: SeriesKind) {
        // Nobody listening is fine: the change is stored.
        let _ = self.prices.changes.send(PriceChange { scope, kind });
    }

    /// Which locations, beyond those naming it, a provider's prices for an area reach.
    pub fn provider_reach(&self, provider: &str, area: &PriceArea) -> ProviderReach {
        ProviderReach {
            as_default: self.prices.providers.default_name() == Some(provider),
            as_fallback: self.prices.providers.fallback() == Some((provider, area)),
        }
    }

    /// The locations (with their clients) whose prices a change reaches.
    pub async fn locations_affected(&self, change: &PriceChange) -> Result<Vec<(ClientId, LocationId)>, EngineError> {
        let reach = match &change.scope {
            PriceScope::Provider { provider, area } => self.provider_reach(provider, area),
            _ => ProviderReach::default(),
        };
        Ok(self.store.locations_in_price_scope(&change.scope, reach).await?)
    }

    /// The provider `location` takes prices from: the one it names for its price area, or the
    /// default; for a location with neither a price area nor a tariff, the fallback (the sandbox).
    fn provider_of(&self, location: &Location, has_tariff: bool) -> Option<(String, PriceArea, bool)> {
        let providers = &self.prices.providers;
        match &location.fields.price_area {
            Some(area) => {
                let name = location
                    .fields
                    .price_provider
                    .clone()
                    .or_else(|| providers.default_name().map(str::to_owned))?;
                let configured = providers.get(&name).is_some_and(|p| p.areas().contains(area));
                Some((name, area.clone(), configured))
            }
            None if !has_tariff => providers
                .fallback()
                .map(|(name, area)| (name.to_owned(), area.clone(), providers.get(name).is_some())),
            None => None,
        }
    }

    /// A location's effective `kind` over `[from, to)`: its own pushed series, then its price
    /// area's, then its provider's, then (for prices) its tariff.
    pub async fn effective_series(
        &self,
        location: &Location,
        kind: SeriesKind,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<EffectiveSeries, EngineError> {
        let tariff = self.store.get_tariff(&location.client_id, &location.id).await?;
        let owners = self.owners_of(location, tariff.is_some());
        let mut slots = HashMap::new();
        for owner in &owners.all {
            let found = self.store.series_slots(owner, kind, from, to).await?;
            slots.insert(owner.key(), found);
        }
        let provider = match owners.provider {
            Some((name, area, configured)) => {
                let status = self.store.provider_status(&name, &area).await?;
                Some(ProviderUse {
                    name,
                    area,
                    configured,
                    status,
                })
            }
            None => None,
        };
        Ok(EffectiveSeries {
            slots: compose(location, tariff.as_ref(), &owners.all, &slots, kind, from, to),
            provider,
            has_tariff: tariff.is_some(),
        })
    }

    /// The series a location's effective series is layered from, most specific first, and the
    /// provider it takes prices from.
    fn owners_of(&self, location: &Location, has_tariff: bool) -> Owners {
        let client = &location.client_id;
        let mut all = vec![SeriesOwner::Location {
            client: client.clone(),
            location: location.id.clone(),
        }];
        if let Some(area) = &location.fields.price_area {
            all.push(SeriesOwner::Area {
                client: client.clone(),
                area: area.clone(),
            });
        }
        let provider = self.provider_of(location, has_tariff);
        if let Some((name, area, true)) = &provider {
            all.push(SeriesOwner::Provider {
                provider: name.clone(),
                area: area.clone(),
            });
        }
        Owners { all, provider }
    }

    /// A location's effective prices over `[from, to)`, sorted, without overlaps; time with no
    /// known price is a gap. What the planner plans against.
    pub async fn location_prices(
        &self,
        client: &ClientId,
        location: &LocationId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<PriceSlot>, EngineError> {
        let location = self
            .store
            .get_location(client, location)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("no location '{location}'")))?;
        let effective = self.effective_series(&location, SeriesKind::Price, from, to).await?;
        Ok(price_slots(&effective.slots))
    }

    /// [`Engine::location_prices`] for many locations at once, in a few queries (for replanning
    /// every location a price change reaches). Each location is given with its client; one that
    /// does not exist, or is not that client's, is left out of the answer.
    pub async fn location_prices_many(
        &self,
        locations: &[(ClientId, LocationId)],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<HashMap<LocationId, Vec<PriceSlot>>, EngineError> {
        let ids: Vec<LocationId> = locations.iter().map(|(_, id)| id.clone()).collect();
        let wanted: HashSet<&(ClientId, LocationId)> = locations.iter().collect();
        let loaded: Vec<(Location, Option<StoredTariff>, Owners)> = self
            .store
            .locations_with_tariffs(&ids)
            .await?
            .into_iter()
            .filter(|(l, _)| wanted.contains(&(l.client_id.clone(), l.id.clone())))
            .map(|(l, t)| {
                let owners = self.owners_of(&l, t.is_some());
                (l, t, owners)
            })
            .collect();
        let mut keys = HashSet::new();
        let owners: Vec<SeriesOwner> = loaded
            .iter()
            .flat_map(|(_, _, o)| o.all.iter().cloned())
            .filter(|o| keys.insert(o.key()))
            .collect();
        let slots = self.store.series_slots_of(&owners, SeriesKind::Price, from, to).await?;
        Ok(loaded
            .into_iter()
            .map(|(location, tariff, owners)| {
                let effective = compose(
                    &location,
                    tariff.as_ref(),
                    &owners.all,
                    &slots,
                    SeriesKind::Price,
                    from,
                    to,
                );
                (location.id, price_slots(&effective))
            })
            .collect())
    }

    /// Sets (or replaces) a location's tariff and announces the change.
    pub async fn set_tariff(
        &self,
        client: &ClientId,
        location: &LocationId,
        tariff: &TouTariff,
    ) -> Result<StoredTariff, EngineError> {
        let stored = self
            .store
            .put_tariff(client, location, tariff, self.clock.now())
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("no location '{location}'")))?;
        self.announce(
            PriceScope::Location {
                client: client.clone(),
                location: location.clone(),
            },
            SeriesKind::Price,
        );
        Ok(stored)
    }

    /// Removes a location's tariff and announces the change; `false` when it had none.
    pub async fn delete_tariff(&self, client: &ClientId, location: &LocationId) -> Result<bool, EngineError> {
        let deleted = self.store.delete_tariff(client, location).await?;
        if deleted {
            self.announce(
                PriceScope::Location {
                    client: client.clone(),
                    location: location.clone(),
                },
                SeriesKind::Price,
            );
        }
        Ok(deleted)
    }

    /// Announces that a location's price area or provider changed (its update is stored already).
    pub fn location_pricing_changed(&self, client: &ClientId, location: &LocationId) {
        for kind in [SeriesKind::Price, SeriesKind::CarbonIntensity] {
            self.announce(
                PriceScope::Location {
                    client: client.clone(),
                    location: location.clone(),
                },
                kind,
            );
        }
    }

    /// Stores a series a client pushed for one of its locations or price areas, and announces it
    /// when it changed anything. A retry with the same `Idempotency-Key` answers the first push and
    /// stores nothing; the same key with a different request is refused.
    pub async fn push_series(
        &self,
        owner: SeriesOwner,
        series: &Series,
        idempotency_key: Option<String>,
    ) -> Result<SeriesPush, EngineError> {
        let push = SeriesPush::new(owner, series, idempotency_key, self.clock.now())
            .ok_or_else(|| EngineError::Refused("a provider's series cannot be pushed".into()))?;
        match self.store.push_series(&push, series).await? {
            PushOutcome::Stored { push, changed } => {
                let scope = match &push.owner {
                    SeriesOwner::Location { client, location } => PriceScope::Location {
                        client: client.clone(),
                        location: location.clone(),
                    },
                    SeriesOwner::Area { client, area } => PriceScope::Area {
                        client: client.clone(),
                        area: area.clone(),
                    },
                    SeriesOwner::Provider { provider, area } => PriceScope::Provider {
                        provider: provider.clone(),
                        area: area.clone(),
                    },
                };
                tracing::info!(push_id = %push.id, series = %push.owner.key(), kind = push.kind.as_str(), slots = push.slot_count, changed, "series pushed");
                if changed {
                    self.announce(scope, push.kind);
                }
                Ok(push)
            }
            PushOutcome::Earlier(earlier) if earlier.request_hash == push.request_hash => Ok(earlier),
            PushOutcome::Earlier(_) => Err(EngineError::IdempotencyKeyReused(
                "this Idempotency-Key was already used for a different request".into(),
            )),
            PushOutcome::NoSuchLocation => Err(EngineError::NotFound(format!(
                "no location '{}'",
                match &push.owner {
                    SeriesOwner::Location { location, .. } => location.as_str(),
                    _ => "",
                }
            ))),
        }
    }

    /// Fetches one provider's prices (and carbon intensity, if it has any) for one area now, and
    /// stores them when they are usable. `Ok(changed)` on success; the reason on failure, which is
    /// also recorded in the provider's status (the prices stored before stay in force).
    pub async fn fetch_provider_prices(&self, provider: &str, area: &PriceArea) -> Result<bool, String> {
        let Some(source) = self.prices.providers.get(provider).cloned() else {
            return Err(format!("no price provider '{provider}' is configured"));
        };
        let now = self.clock.now();
        let (from, to) = fetch_window(now);
        let reach = self.provider_reach(provider, area);
        let outcome = match source.prices(area, from, to).await {
            Err(e) => Err(e.to_string()),
            Ok(slots) if slots.is_empty() => Err(format!("the answer has no prices from {from} to {to}")),
            Ok(slots) => match Series::new(SeriesKind::Price, slots) {
                Err(e) => Err(format!("the answer is not a usable series of prices: {e}")),
                Ok(series) => self
                    .store
                    .store_provider_series(provider, area, &series, reach, now)
                    .await
                    .map_err(|e| format!("cannot store the prices: {e}")),
            },
        };
        let error = outcome.as_ref().err().map(String::as_str);
        if let Err(e) = self.store.record_provider_attempt(provider, area, error, now).await {
            tracing::warn!(error = %e, "cannot record how a price fetch went");
        }
        let result = if outcome.is_ok() { "ok" } else { "failed" };
        metrics::counter!("coupler_price_fetches_total", "provider" => provider.to_owned(), "result" => result)
            .increment(1);
        let scope = || PriceScope::Provider {
            provider: provider.to_owned(),
            area: area.clone(),
        };
        match &outcome {
            Ok(true) => {
                tracing::info!("new prices stored");
                self.announce(scope(), SeriesKind::Price);
            }
            Ok(false) => tracing::debug!("prices unchanged"),
            Err(e) => tracing::warn!(error = %e, "price fetch failed; the prices stored before stay in force"),
        }
        // Carbon intensity rides along where the provider has it; its failures only log.
        match source.carbon_intensity(area, from, to).await {
            Ok(Some(slots)) if !slots.is_empty() => match Series::new(SeriesKind::CarbonIntensity, slots) {
                Ok(series) => match self
                    .store
                    .store_provider_series(provider, area, &series, reach, now)
                    .await
                {
                    Ok(true) => self.announce(scope(), SeriesKind::CarbonIntensity),
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot store carbon intensity"),
                },
                Err(e) => tracing::warn!(error = %e, "the provider's carbon intensity is not a usable series"),
            },
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "carbon intensity fetch failed"),
        }
        outcome
    }

    /// Tells the fetcher to fetch every provider's prices now.
    pub fn wake_price_fetcher(&self) {
        self.prices.fetch_now.notify_one();
    }
}

/// How often a node that does not fetch prices looks whether it now does.
const NOT_HELD_LOOK: Duration = Duration::from_millis(500);

/// Starts the price fetcher on `tasks`, when any provider is configured. It fetches on the node
/// that holds the plans job.
pub fn spawn(engine: Arc<Engine>, tasks: &Tasks) {
    if engine.prices.providers.is_empty() {
        return;
    }
    let shutdown = tasks.token().clone();
    tasks.spawn("price fetcher", async move {
        let mut due: BTreeMap<(String, PriceArea), tokio::time::Instant> = BTreeMap::new();
        for provider in engine.prices.providers.all() {
            for area in provider.areas() {
                due.insert((provider.name().to_owned(), area.clone()), tokio::time::Instant::now());
            }
        }
        // Fetched on the node that keeps the plans, which the prices fetched reach in the process.
        let job = engine.leases().singleton(crate::singleton::jobs::PLANS);
        loop {
            if !job.held() {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(NOT_HELD_LOOK) => continue,
                }
            }
            let now = tokio::time::Instant::now();
            for ((provider, area), at) in due.iter_mut() {
                if *at > now {
                    continue;
                }
                let span = tracing::info_span!("price fetch", provider = %provider, area = %area);
                // A provider that is slow to answer does not hold up a shutdown; each of a fetch's
                // writes is one transaction, so one cut short leaves the store consistent.
                let fetched = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    fetched = engine.fetch_provider_prices(provider, area).instrument(span) => fetched,
                };
                let wait = match fetched {
                    Ok(_) => engine.prices.config.poll_interval,
                    Err(_) => engine.prices.config.retry_interval,
                };
                // Intervals of the clock's time: a sandbox running faster fetches its next day sooner.
                let wait = engine
                    .clock
                    .wall_time(chrono::Duration::from_std(wait).unwrap_or_default());
                *at = tokio::time::Instant::now() + wait;
            }
            let next = due
                .values()
                .min()
                .copied()
                .unwrap_or_else(|| now + Duration::from_secs(3600));
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep_until(next) => {}
                _ = engine.prices.fetch_now.notified() => {
                    let now = tokio::time::Instant::now();
                    due.values_mut().for_each(|at| *at = now);
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_are_asked_for_today_and_tomorrow_in_utc() {
        let now: DateTime<Utc> = "2025-01-15T13:45:00Z".parse().unwrap_or_default();
        let (from, to) = fetch_window(now);
        assert_eq!(from.to_rfc3339(), "2025-01-15T00:00:00+00:00");
        assert_eq!(to.to_rfc3339(), "2025-01-17T00:00:00+00:00");
    }
}
