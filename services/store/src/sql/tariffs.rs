//! Locations' tariffs, series of prices and carbon intensity, pushes, and providers' status.
//!
//! A series is stored as slots under its owner's key. Storing a series replaces the owner's slots
//! over the series' stretch of time: slots inside it go, slots reaching into it from either side are
//! cut at its edges (a slot around it keeps both ends), and the new slots go in. When the slots
//! there already were the same, nothing is written and no event is appended.

/// Implements [`coupler_core::TariffStore`] for `$store` (rows `$row`, times through `$time`).
macro_rules! impl_tariff_store {
    ($store:ident, $row:ty, $time:ident) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Duration, Utc};
            use coupler_core::event::EventType;
            use coupler_core::location::{Location, LocationFields, LocationId};
            use coupler_core::store::{ProviderReach, PushOutcome, StoredTariff, PUSH_RETENTION_DAYS};
            use coupler_core::tariff::{
                PriceArea, PriceScope, ProviderStatus, PushId, Series, SeriesKind, SeriesOwner, SeriesPush, SeriesSlot,
                TouDefinition, TouTariff,
            };
            use coupler_core::{ClientId, StoreError, TariffStore, UserId};
            use sqlx::Row;

            use crate::sql::{placeholders, StorePool, READ_CHUNK};
            use crate::store_error;

            type Tx<'c> = sqlx::Transaction<'c, <$store as StorePool>::Db>;

            /// Rows per multi-row INSERT: five parameters each, well under either backend's limit.
            const INSERT_CHUNK: usize = 500;

            fn location_from_row(row: &$row) -> Result<Location, sqlx::Error> {
                let user: String = row.try_get("external_id")?;
                Ok(Location {
                    id: LocationId::new(row.try_get::<String, _>("id")?),
                    client_id: ClientId::new(row.try_get::<String, _>("client_id")?),
                    user_id: UserId::parse(&user).map_err(|e| decode("user", e))?,
                    // Stored values were checked on the way in; they are read back as they are.
                    fields: LocationFields {
                        name: row.try_get("name")?,
                        latitude: row.try_get("latitude")?,
                        longitude: row.try_get("longitude")?,
                        timezone_name: row.try_get("timezone_name")?,
                        price_area: row
                            .try_get::<Option<String>, _>("price_area")?
                            .map(|a| PriceArea::parse(&a))
                            .transpose()
                            .map_err(|e| decode("price_area", e))?,
                        price_provider: row.try_get("price_provider")?,
                    },
                    created_at: $time::read(row, "created_at")?,
                    updated_at: $time::read(row, "updated_at")?,
                })
            }

            fn decode<E: std::fmt::Display>(what: &str, e: E) -> sqlx::Error {
                sqlx::Error::Decode(format!("{what}: {e}").into())
            }

            fn tariff_from_row(row: &$row) -> Result<StoredTariff, sqlx::Error> {
                let text: String = row.try_get("tariff")?;
                let definition: TouDefinition = serde_json::from_str(&text).map_err(|e| decode("tariff", e))?;
                Ok(StoredTariff {
                    location_id: LocationId::new(row.try_get::<String, _>("location_id")?),
                    tariff: TouTariff::new(definition).map_err(|e| decode("tariff", e))?,
                    created_at: $time::read(row, "created_at")?,
                    updated_at: $time::read(row, "updated_at")?,
                })
            }

            fn push_from_row(row: &$row) -> Result<SeriesPush, sqlx::Error> {
                let client_id = ClientId::new(row.try_get::<String, _>("client_id")?);
                let location: Option<String> = row.try_get("location_id")?;
                let area: Option<String> = row.try_get("area")?;
                let owner = match (location, area) {
                    (Some(location), _) => SeriesOwner::Location {
                        client: client_id.clone(),
                        location: LocationId::new(location),
                    },
                    (None, Some(area)) => SeriesOwner::Area {
                        client: client_id.clone(),
                        area: PriceArea::parse(&area).map_err(|e| decode("area", e))?,
                    },
                    (None, None) => return Err(decode("price_pushes", "a push has no owner")),
                };
                let kind: String = row.try_get("kind")?;
                Ok(SeriesPush {
                    id: PushId::new(row.try_get::<String, _>("id")?),
                    client_id,
                    owner,
                    kind: SeriesKind::parse(&kind).ok_or_else(|| decode("kind", &kind))?,
                    idempotency_key: row.try_get("idempotency_key")?,
                    request_hash: row.try_get("request_hash")?,
                    slot_count: u32::try_from(row.try_get::<i64, _>("slot_count")?).unwrap_or(u32::MAX),
                    slot_minutes: u32::try_from(row.try_get::<i64, _>("slot_minutes")?).unwrap_or(0),
                    start: $time::read(row, "starts_at")?,
                    end: $time::read(row, "ends_at")?,
                    created_at: $time::read(row, "created_at")?,
                })
            }

            fn slot_from_row(row: &$row) -> Result<SeriesSlot, sqlx::Error> {
                Ok(SeriesSlot {
                    start: $time::read(row, "starts_at")?,
                    end: $time::read(row, "ends_at")?,
                    value: row.try_get("value")?,
                })
            }

            /// The `updatedFields` of a prices event about `kind`.
            fn field_of(kind: SeriesKind) -> &'static str {
                match kind {
                    SeriesKind::Price => "prices",
                    SeriesKind::CarbonIntensity => "carbonIntensity",
                }
            }

            /// The locations (aliased `t`) a series' change reaches, as a filter whose parameters
            /// start at `$first`, with its binds.
            fn reach_filter(scope: &PriceScope, reach: ProviderReach, first: usize) -> (String, Vec<String>) {
                let (a, b) = (first, first + 1);
                match scope {
                    PriceScope::Location { client, location } => (
                        format!("t.client_id = ${a} AND t.id = ${b}"),
                        vec![client.to_string(), location.to_string()],
                    ),
                    PriceScope::Area { client, area } => (
                        format!("t.client_id = ${a} AND t.price_area = ${b}"),
                        vec![client.to_string(), area.to_string()],
                    ),
                    PriceScope::Provider { provider, area } => {
                        let named = if reach.as_default {
                            format!("(t.price_area = ${a} AND (t.price_provider = ${b} OR t.price_provider IS NULL))")
                        } else {
                            format!("(t.price_area = ${a} AND t.price_provider = ${b})")
                        };
                        let filter = if reach.as_fallback {
                            format!(
                                "({named} OR (t.price_area IS NULL AND NOT EXISTS \
                                 (SELECT 1 FROM location_tariffs lt WHERE lt.location_id = t.id)))"
                            )
                        } else {
                            named
                        };
                        (filter, vec![area.to_string(), provider.clone()])
                    }
                }
            }

            fn scope_of(owner: &SeriesOwner) -> PriceScope {
                match owner {
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
                }
            }

            impl $store {
                /// Replaces `owner`'s slots over `series`' stretch inside `tx` (see the module docs)
                /// and appends events for the locations it reaches; returns whether it changed
                /// anything.
                async fn tariffs_replace_series(
                    tx: &mut Tx<'_>,
                    owner: &SeriesOwner,
                    series: &Series,
                    reach: ProviderReach,
                    at: DateTime<Utc>,
                ) -> Result<bool, StoreError> {
                    let key = owner.key();
                    let kind = series.kind().as_str();
                    let (client, location, area, provider) = match owner {
                        SeriesOwner::Location { client, location } => {
                            (Some(client.as_str()), Some(location.as_str()), None, None)
                        }
                        SeriesOwner::Area { client, area } => (Some(client.as_str()), None, Some(area.as_str()), None),
                        SeriesOwner::Provider { provider, area } => {
                            (None, None, Some(area.as_str()), Some(provider.as_str()))
                        }
                    };
                    // Taking the series' row first makes concurrent writes to it take turns.
                    sqlx::query(
                        "INSERT INTO price_series (series_key, kind, client_id, location_id, area, provider, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) \
                         ON CONFLICT (series_key, kind) DO UPDATE SET updated_at = excluded.updated_at",
                    )
                    .bind(&key)
                    .bind(kind)
                    .bind(client)
                    .bind(location)
                    .bind(area)
                    .bind(provider)
                    .bind($time::bind(at))
                    .execute(&mut **tx)
                    .await
                    .map_err(store_error)?;
                    let (from, to) = (series.start(), series.end());
                    let rows = sqlx::query(
                        "SELECT starts_at, ends_at, value FROM price_series_slots \
                         WHERE series_key = $1 AND kind = $2 AND ends_at > $3 AND starts_at < $4 ORDER BY starts_at",
                    )
                    .bind(&key)
                    .bind(kind)
                    .bind($time::bind(from))
                    .bind($time::bind(to))
                    .fetch_all(&mut **tx)
                    .await
                    .map_err(store_error)?;
                    let old = rows.iter().map(slot_from_row).collect::<Result<Vec<_>, _>>().map_err(store_error)?;
                    let inside: Vec<SeriesSlot> = old
                        .iter()
                        .map(|s| SeriesSlot {
                            start: s.start.max(from),
                            end: s.end.min(to),
                            value: s.value,
                        })
                        .collect();
                    if inside.as_slice() == series.slots() {
                        return Ok(false);
                    }
                    // What reaches out of the stretch on either side stays.
                    let mut keep: Vec<SeriesSlot> = Vec::new();
                    for s in &old {
                        if s.start < from {
                            keep.push(SeriesSlot { end: from, ..*s });
                        }
                        if s.end > to {
                            keep.push(SeriesSlot { start: to, ..*s });
                        }
                    }
                    sqlx::query(
                        "DELETE FROM price_series_slots WHERE series_key = $1 AND kind = $2 AND ends_at > $3 AND starts_at < $4",
                    )
                    .bind(&key)
                    .bind(kind)
                    .bind($time::bind(from))
                    .bind($time::bind(to))
                    .execute(&mut **tx)
                    .await
                    .map_err(store_error)?;
                    let all: Vec<SeriesSlot> = keep.into_iter().chain(series.slots().iter().copied()).collect();
                    for chunk in all.chunks(INSERT_CHUNK) {
                        let values: Vec<String> = (0..chunk.len())
                            .map(|i| {
                                let p = i * 5;
                                format!("(${}, ${}, ${}, ${}, ${})", p + 1, p + 2, p + 3, p + 4, p + 5)
                            })
                            .collect();
                        let sql = format!(
                            "INSERT INTO price_series_slots (series_key, kind, starts_at, ends_at, value) VALUES {}",
                            values.join(", ")
                        );
                        let mut query = sqlx::query(&sql);
                        for slot in chunk {
                            query = query
                                .bind(key.clone())
                                .bind(kind)
                                .bind($time::bind(slot.start))
                                .bind($time::bind(slot.end))
                                .bind(slot.value);
                        }
                        query.execute(&mut **tx).await.map_err(store_error)?;
                    }
                    let (filter, binds) = reach_filter(&scope_of(owner), reach, 4);
                    let binds: Vec<&str> = binds.iter().map(String::as_str).collect();
                    Self::append_events(tx, EventType::LocationPricesUpdated, &[field_of(series.kind())], &filter, &binds)
                        .await?;
                    Ok(true)
                }
            }

            #[async_trait]
            impl TariffStore for $store {
                async fn put_tariff(
                    &self,
                    client: &ClientId,
                    location: &LocationId,
                    tariff: &TouTariff,
                    at: DateTime<Utc>,
                ) -> Result<Option<StoredTariff>, StoreError> {
                    let text = serde_json::to_string(tariff.definition()).map_err(|e| StoreError::Backend(e.to_string()))?;
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let written = sqlx::query(
                        "INSERT INTO location_tariffs (location_id, client_id, tariff, created_at, updated_at) \
                         SELECT l.id, l.client_id, $3, $4, $4 FROM locations l WHERE l.client_id = $1 AND l.id = $2 \
                         ON CONFLICT (location_id) DO UPDATE SET tariff = excluded.tariff, updated_at = excluded.updated_at",
                    )
                    .bind(client.as_str())
                    .bind(location.as_str())
                    .bind(&text)
                    .bind($time::bind(at))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?
                    .rows_affected();
                    if written == 0 {
                        return Ok(None);
                    }
                    Self::append_event(&mut tx, EventType::LocationPricesUpdated, location.as_str(), &["tariff"]).await?;
                    tx.commit().await.map_err(store_error)?;
                    self.get_tariff(client, location).await
                }

                async fn get_tariff(
                    &self,
                    client: &ClientId,
                    location: &LocationId,
                ) -> Result<Option<StoredTariff>, StoreError> {
                    let row = sqlx::query(
                        "SELECT location_id, tariff, created_at, updated_at FROM location_tariffs \
                         WHERE client_id = $1 AND location_id = $2",
                    )
                    .bind(client.as_str())
                    .bind(location.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(store_error)?;
                    row.as_ref().map(tariff_from_row).transpose().map_err(store_error)
                }

                async fn delete_tariff(&self, client: &ClientId, location: &LocationId) -> Result<bool, StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let deleted = sqlx::query("DELETE FROM location_tariffs WHERE client_id = $1 AND location_id = $2")
                        .bind(client.as_str())
                        .bind(location.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?
                        .rows_affected();
                    if deleted > 0 {
                        Self::append_event(&mut tx, EventType::LocationPricesUpdated, location.as_str(), &["tariff"])
                            .await?;
                    }
                    tx.commit().await.map_err(store_error)?;
                    Ok(deleted > 0)
                }

                async fn push_series(&self, push: &SeriesPush, series: &Series) -> Result<PushOutcome, StoreError> {
                    let client = push.client_id.as_str();
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let (location, area) = match &push.owner {
                        SeriesOwner::Location { client: owner, location } if owner == &push.client_id => {
                            let found = sqlx::query("SELECT 1 FROM locations WHERE client_id = $1 AND id = $2")
                                .bind(client)
                                .bind(location.as_str())
                                .fetch_optional(&mut *tx)
                                .await
                                .map_err(store_error)?;
                            if found.is_none() {
                                return Ok(PushOutcome::NoSuchLocation);
                            }
                            (Some(location.as_str()), None)
                        }
                        SeriesOwner::Area { client: owner, area } if owner == &push.client_id => (None, Some(area.as_str())),
                        _ => return Err(StoreError::Backend("a push is for one of its own client's locations or areas".into())),
                    };
                    sqlx::query("DELETE FROM price_pushes WHERE client_id = $1 AND created_at < $2")
                        .bind(client)
                        .bind($time::bind(push.created_at - Duration::days(PUSH_RETENTION_DAYS)))
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    let recorded = sqlx::query(
                        "INSERT INTO price_pushes (id, client_id, idempotency_key, request_hash, location_id, area, kind, \
                         slot_count, slot_minutes, starts_at, ends_at, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                         ON CONFLICT (client_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING",
                    )
                    .bind(push.id.as_str())
                    .bind(client)
                    .bind(push.idempotency_key.as_deref())
                    .bind(&push.request_hash)
                    .bind(location)
                    .bind(area)
                    .bind(push.kind.as_str())
                    .bind(i64::from(push.slot_count))
                    .bind(i64::from(push.slot_minutes))
                    .bind($time::bind(push.start))
                    .bind($time::bind(push.end))
                    .bind($time::bind(push.created_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?
                    .rows_affected();
                    if recorded == 0 {
                        let row = sqlx::query(
                            "SELECT id, client_id, idempotency_key, request_hash, location_id, area, kind, slot_count, \
                             slot_minutes, starts_at, ends_at, created_at FROM price_pushes \
                             WHERE client_id = $1 AND idempotency_key = $2",
                        )
                        .bind(client)
                        .bind(push.idempotency_key.as_deref())
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(store_error)?;
                        return Ok(PushOutcome::Earlier(push_from_row(&row).map_err(store_error)?));
                    }
                    let changed =
                        Self::tariffs_replace_series(&mut tx, &push.owner, series, ProviderReach::default(), push.created_at)
                            .await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(PushOutcome::Stored {
                        push: push.clone(),
                        changed,
                    })
                }

                async fn store_provider_series(
                    &self,
                    provider: &str,
                    area: &PriceArea,
                    series: &Series,
                    reach: ProviderReach,
                    at: DateTime<Utc>,
                ) -> Result<bool, StoreError> {
                    let owner = SeriesOwner::Provider {
                        provider: provider.to_owned(),
                        area: area.clone(),
                    };
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let changed = Self::tariffs_replace_series(&mut tx, &owner, series, reach, at).await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(changed)
                }

                async fn series_slots(
                    &self,
                    owner: &SeriesOwner,
                    kind: SeriesKind,
                    from: DateTime<Utc>,
                    to: DateTime<Utc>,
                ) -> Result<Vec<SeriesSlot>, StoreError> {
                    // A client's series are read only under that client; a provider's under none.
                    let client = owner.client().map(ClientId::as_str).unwrap_or_default();
                    let rows = sqlx::query(
                        "SELECT p.starts_at, p.ends_at, p.value FROM price_series_slots p \
                         JOIN price_series s ON s.series_key = p.series_key AND s.kind = p.kind \
                         WHERE p.series_key = $1 AND p.kind = $2 AND p.ends_at > $3 AND p.starts_at < $4 \
                         AND COALESCE(s.client_id, '') = $5 ORDER BY p.starts_at",
                    )
                    .bind(owner.key())
                    .bind(kind.as_str())
                    .bind($time::bind(from))
                    .bind($time::bind(to))
                    .bind(client)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_error)?;
                    rows.iter().map(slot_from_row).collect::<Result<_, _>>().map_err(store_error)
                }

                async fn record_provider_attempt(
                    &self,
                    provider: &str,
                    area: &PriceArea,
                    error: Option<&str>,
                    at: DateTime<Utc>,
                ) -> Result<(), StoreError> {
                    let (success_at, error_at) = match error {
                        None => (Some(at), None),
                        Some(_) => (None, Some(at)),
                    };
                    sqlx::query(
                        "INSERT INTO price_provider_status (provider, area, last_attempt_at, last_success_at, last_error_at, last_error, failing) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) \
                         ON CONFLICT (provider, area) DO UPDATE SET last_attempt_at = excluded.last_attempt_at, \
                         last_success_at = COALESCE(excluded.last_success_at, price_provider_status.last_success_at), \
                         last_error_at = COALESCE(excluded.last_error_at, price_provider_status.last_error_at), \
                         last_error = COALESCE(excluded.last_error, price_provider_status.last_error), \
                         failing = excluded.failing",
                    )
                    .bind(provider)
                    .bind(area.as_str())
                    .bind($time::bind(at))
                    .bind(success_at.map($time::bind))
                    .bind(error_at.map($time::bind))
                    .bind(error)
                    .bind(error.is_some())
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                    Ok(())
                }

                async fn provider_status(
                    &self,
                    provider: &str,
                    area: &PriceArea,
                ) -> Result<Option<ProviderStatus>, StoreError> {
                    let row = sqlx::query(
                        "SELECT last_attempt_at, last_success_at, last_error_at, last_error, failing, \
                         (SELECT MAX(p.ends_at) FROM price_series_slots p WHERE p.series_key = $3 AND p.kind = $4) AS prices_until \
                         FROM price_provider_status WHERE provider = $1 AND area = $2",
                    )
                    .bind(provider)
                    .bind(area.as_str())
                    .bind(
                        SeriesOwner::Provider {
                            provider: provider.to_owned(),
                            area: area.clone(),
                        }
                        .key(),
                    )
                    .bind(SeriesKind::Price.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(store_error)?;
                    let Some(row) = row else {
                        return Ok(None);
                    };
                    let read = || -> Result<ProviderStatus, sqlx::Error> {
                        Ok(ProviderStatus {
                            provider: provider.to_owned(),
                            area: area.clone(),
                            last_attempt_at: $time::read_opt(&row, "last_attempt_at")?,
                            last_success_at: $time::read_opt(&row, "last_success_at")?,
                            last_error_at: $time::read_opt(&row, "last_error_at")?,
                            last_error: row.try_get("last_error")?,
                            prices_until: $time::read_opt(&row, "prices_until")?,
                            failing: row.try_get("failing")?,
                        })
                    };
                    read().map(Some).map_err(store_error)
                }

                async fn locations_with_tariffs(
                    &self,
                    ids: &[LocationId],
                ) -> Result<Vec<(Location, Option<StoredTariff>)>, StoreError> {
                    let mut found = Vec::with_capacity(ids.len());
                    for chunk in ids.chunks(READ_CHUNK) {
                        let sql = format!(
                            "SELECT l.id, l.client_id, u.external_id, l.name, l.latitude, l.longitude, l.timezone_name, \
                             l.price_area, l.price_provider, l.created_at, l.updated_at, \
                             lt.location_id AS tariff_location_id, lt.tariff, lt.created_at AS tariff_created_at, \
                             lt.updated_at AS tariff_updated_at \
                             FROM locations l JOIN users u ON u.id = l.user_id \
                             LEFT JOIN location_tariffs lt ON lt.location_id = l.id WHERE l.id IN ({})",
                            placeholders(1, chunk.len())
                        );
                        let mut query = sqlx::query(&sql);
                        for id in chunk {
                            query = query.bind(id.as_str());
                        }
                        let rows = query.fetch_all(&self.pool).await.map_err(store_error)?;
                        for row in &rows {
                            let read = || -> Result<(Location, Option<StoredTariff>), sqlx::Error> {
                                let location = location_from_row(row)?;
                                let tariff = match row.try_get::<Option<String>, _>("tariff")? {
                                    None => None,
                                    Some(text) => {
                                        let definition: TouDefinition =
                                            serde_json::from_str(&text).map_err(|e| decode("tariff", e))?;
                                        Some(StoredTariff {
                                            location_id: location.id.clone(),
                                            tariff: TouTariff::new(definition).map_err(|e| decode("tariff", e))?,
                                            created_at: $time::read(row, "tariff_created_at")?,
                                            updated_at: $time::read(row, "tariff_updated_at")?,
                                        })
                                    }
                                };
                                Ok((location, tariff))
                            };
                            found.push(read().map_err(store_error)?);
                        }
                    }
                    Ok(found)
                }

                async fn series_slots_of(
                    &self,
                    owners: &[SeriesOwner],
                    kind: SeriesKind,
                    from: DateTime<Utc>,
                    to: DateTime<Utc>,
                ) -> Result<std::collections::HashMap<String, Vec<SeriesSlot>>, StoreError> {
                    // Each key, with the clients it is asked for under ('' for a provider's): its series
                    // is found only when it belongs to one of them.
                    let mut wanted: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
                    for owner in owners {
                        let client = owner.client().map(ClientId::to_string).unwrap_or_default();
                        wanted.entry(owner.key()).or_default().push(client);
                    }
                    let keys: Vec<&String> = wanted.keys().collect();
                    let mut found: std::collections::HashMap<String, Vec<SeriesSlot>> = std::collections::HashMap::new();
                    for chunk in keys.chunks(READ_CHUNK) {
                        let sql = format!(
                            "SELECT p.series_key, COALESCE(s.client_id, '') AS owner_client, p.starts_at, p.ends_at, p.value \
                             FROM price_series_slots p JOIN price_series s ON s.series_key = p.series_key AND s.kind = p.kind \
                             WHERE p.kind = $1 AND p.ends_at > $2 AND p.starts_at < $3 AND p.series_key IN ({}) \
                             ORDER BY p.series_key, p.starts_at",
                            placeholders(4, chunk.len())
                        );
                        let mut query = sqlx::query(&sql)
                            .bind(kind.as_str())
                            .bind($time::bind(from))
                            .bind($time::bind(to));
                        for key in chunk {
                            query = query.bind(key.as_str());
                        }
                        let rows = query.fetch_all(&self.pool).await.map_err(store_error)?;
                        for row in &rows {
                            let key: String = row.try_get("series_key").map_err(store_error)?;
                            let client: String = row.try_get("owner_client").map_err(store_error)?;
                            if !wanted.get(&key).is_some_and(|clients| clients.contains(&client)) {
                                continue;
                            }
                            found.entry(key).or_default().push(slot_from_row(row).map_err(store_error)?);
                        }
                    }
                    Ok(found)
                }

                async fn locations_in_price_scope(
                    &self,
                    scope: &PriceScope,
                    reach: ProviderReach,
                ) -> Result<Vec<(ClientId, LocationId)>, StoreError> {
                    let (filter, binds) = reach_filter(scope, reach, 1);
                    let sql = format!("SELECT t.client_id, t.id FROM locations t WHERE {filter} ORDER BY t.id");
                    let mut query = sqlx::query(&sql);
                    for bind in &binds {
                        query = query.bind(bind.as_str());
                    }
                    let rows = query.fetch_all(&self.pool).await.map_err(store_error)?;
                    rows.iter()
                        .map(|row| {
                            Ok((
                                ClientId::new(row.try_get::<String, _>("client_id")?),
                                LocationId::new(row.try_get::<String, _>("id")?),
                            ))
                        })
                        .collect::<Result<_, sqlx::Error>>()
                        .map_err(store_error)
                }
            }
        };
    };
}

pub(crate) use impl_tariff_store;
