//! Limit sources, chargers' declared capabilities, and the profiles Coupler installed on them.

/// Implements [`coupler_core::LimitStore`] for `$store` (rows `$row`, times through `$time`).
macro_rules! impl_limit_store {
    ($store:ident, $row:ty, $time:ident) => {
        const _: () = {
            use std::collections::BTreeMap;

            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use coupler_core::limits::{
                ChargerCapabilities, ChargerLimitState, LimitScope, LimitSource, LimitSourceId, LimitSourceKind,
            };
            use coupler_core::location::LocationId;
            use coupler_core::{ChargerId, ClientId, LimitStore, StoreError, UserId};
            use sqlx::Row;

            use crate::sql::{placeholders, READ_CHUNK};
            use crate::store_error;

            const SELECT: &str = "SELECT s.id, s.client_id, u.external_id, s.kind, s.charger_id, s.location_id, \
                s.max_current, s.valid_from, s.valid_to, s.created_at, s.schedule FROM limit_sources s JOIN users u ON u.id = s.user_id";

            fn decode<E: std::error::Error + Send + Sync + 'static>(e: E) -> sqlx::Error {
                sqlx::Error::Decode(Box::new(e))
            }

            fn source_from_row(row: &$row) -> Result<LimitSource, sqlx::Error> {
                let user: String = row.try_get("external_id")?;
                let kind: String = row.try_get("kind")?;
                let charger: Option<String> = row.try_get("charger_id")?;
                let location: Option<String> = row.try_get("location_id")?;
                let scope = match (charger, location) {
                    (Some(charger), _) => LimitScope::Charger(ChargerId::new(charger)),
                    (None, Some(location)) => LimitScope::Location(LocationId::new(location)),
                    (None, None) => return Err(sqlx::Error::Decode("a limit source limits nothing".into())),
                };
                Ok(LimitSource {
                    id: LimitSourceId::new(row.try_get::<String, _>("id")?),
                    client_id: ClientId::new(row.try_get::<String, _>("client_id")?),
                    user_id: UserId::parse(&user).map_err(decode)?,
                    kind: LimitSourceKind::parse(&kind)
                        .ok_or_else(|| sqlx::Error::Decode(format!("unknown limit source kind {kind:?}").into()))?,
                    scope,
                    max_current_a: row.try_get("max_current")?,
                    valid_from: $time::read_opt(row, "valid_from")?,
                    valid_to: $time::read_opt(row, "valid_to")?,
                    created_at: $time::read(row, "created_at")?,
                    schedule: match row.try_get::<Option<String>, _>("schedule")? {
                        Some(text) => serde_json::from_str(&text).map_err(decode)?,
                        None => Vec::new(),
                    },
                })
            }

            fn rows_to_sources(rows: &[$row]) -> Result<Vec<LimitSource>, StoreError> {
                rows.iter().map(source_from_row).collect::<Result<Vec<_>, _>>().map_err(store_error)
            }

            fn json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
                serde_json::to_string(value).map_err(|e| StoreError::Backend(e.to_string()))
            }

            fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
                serde_json::from_str(text).map_err(|e| StoreError::Backend(e.to_string()))
            }

            impl $store {
                /// Every source that limits each of these chargers (its own and its location's,
                /// oldest first), with the charger it limits.
                async fn limit_sources_of_chargers(
                    &self,
                    ids: &[ChargerId],
                ) -> Result<Vec<(ChargerId, LimitSource)>, StoreError> {
                    // Named, so that the union's ORDER BY finds them on SQLite.
                    const COLUMNS: &str = "c.id AS limited_charger, s.id AS id, s.client_id, u.external_id, s.kind, \
                        s.charger_id, s.location_id, s.max_current, s.valid_from, s.valid_to, s.created_at AS created_at, \
                        s.schedule";
                    let mut found = Vec::new();
                    for chunk in ids.chunks(READ_CHUNK) {
                        let list = placeholders(1, chunk.len());
                        let sql = format!(
                            "SELECT {COLUMNS} FROM limit_sources s JOIN users u ON u.id = s.user_id \
                             JOIN chargers c ON c.id = s.charger_id WHERE c.id IN ({list}) \
                             UNION ALL SELECT {COLUMNS} FROM limit_sources s JOIN users u ON u.id = s.user_id \
                             JOIN chargers c ON c.location_id = s.location_id WHERE c.id IN ({list}) \
                             ORDER BY created_at, id"
                        );
                        let mut query = sqlx::query(&sql);
                        for id in chunk {
                            query = query.bind(id.as_str());
                        }
                        let rows = query.fetch_all(&self.reads).await.map_err(store_error)?;
                        for row in &rows {
                            let charger: String = row.try_get("limited_charger").map_err(store_error)?;
                            found.push((ChargerId::new(charger), source_from_row(row).map_err(store_error)?));
                        }
                    }
                    Ok(found)
                }

                /// What each of these chargers declared it can do with charging profiles, where it said.
                async fn capabilities_of(
                    &self,
                    ids: &[ChargerId],
                ) -> Result<Vec<(ChargerId, ChargerCapabilities)>, StoreError> {
                    let mut found = Vec::new();
                    for chunk in ids.chunks(READ_CHUNK) {
                        let sql = format!(
                            "SELECT charger_id, capabilities FROM charger_capabilities WHERE charger_id IN ({})",
                            placeholders(1, chunk.len())
                        );
                        let mut query = sqlx::query(&sql);
                        for id in chunk {
                            query = query.bind(id.as_str());
                        }
                        let rows = query.fetch_all(&self.reads).await.map_err(store_error)?;
                        for row in &rows {
                            let charger: String = row.try_get("charger_id").map_err(store_error)?;
                            let text: String = row.try_get("capabilities").map_err(store_error)?;
                            found.push((ChargerId::new(charger), from_json(&text)?));
                        }
                    }
                    Ok(found)
                }
            }

            #[async_trait]
            impl LimitStore for $store {
                async fn insert_limit_source(&self, source: &LimitSource) -> Result<(), StoreError> {
                    let (charger, location) = match &source.scope {
                        LimitScope::Charger(id) => (Some(id.as_str()), None),
                        LimitScope::Location(id) => (None, Some(id.as_str())),
                    };
                    // The charger or location must belong to the same client and user.
                    let inserted = sqlx::query(
                        "INSERT INTO limit_sources (id, client_id, user_id, kind, charger_id, location_id, max_current, valid_from, valid_to, created_at, schedule) \
                         SELECT $1, $2, u.id, $4, $5, $6, $7, $8, $9, $10, $11 FROM users u WHERE u.client_id = $2 AND u.external_id = $3 \
                         AND ($5 IS NULL OR EXISTS (SELECT 1 FROM chargers c WHERE c.id = $5 AND c.client_id = $2 AND c.user_id = u.id)) \
                         AND ($6 IS NULL OR EXISTS (SELECT 1 FROM locations l WHERE l.id = $6 AND l.client_id = $2 AND l.user_id = u.id))",
                    )
                    .bind(source.id.as_str())
                    .bind(source.client_id.as_str())
                    .bind(source.user_id.as_str())
                    .bind(source.kind.as_str())
                    .bind(charger)
                    .bind(location)
                    .bind(source.max_current_a)
                    .bind(source.valid_from.map($time::bind))
                    .bind(source.valid_to.map($time::bind))
                    .bind($time::bind(source.created_at))
                    .bind(if source.schedule.is_empty() { None } else { Some(json(&source.schedule)?) })
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?
                    .rows_affected();
                    if inserted == 0 {
                        return Err(StoreError::Conflict(
                            "the user, charger or location is not the client's".to_owned(),
                        ));
                    }
                    Ok(())
                }

                async fn set_user_limit(
                    &self,
                    charger: &ChargerId,
                    max_current_a: Option<f64>,
                    at: DateTime<Utc>,
                ) -> Result<Option<LimitSource>, StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    sqlx::query("DELETE FROM limit_sources WHERE charger_id = $1 AND kind = 'user'")
                        .bind(charger.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    let id = LimitSourceId::generate();
                    if let Some(amps) = max_current_a {
                        sqlx::query(
                            "INSERT INTO limit_sources (id, client_id, user_id, kind, charger_id, location_id, max_current, valid_from, valid_to, created_at) \
                             SELECT $1, c.client_id, c.user_id, 'user', c.id, NULL, $3, NULL, NULL, $4 FROM chargers c WHERE c.id = $2",
                        )
                        .bind(id.as_str())
                        .bind(charger.as_str())
                        .bind(amps)
                        .bind($time::bind(at))
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    }
                    tx.commit().await.map_err(store_error)?;
                    if max_current_a.is_none() {
                        return Ok(None);
                    }
                    let row = sqlx::query(&format!("{SELECT} WHERE s.id = $1"))
                        .bind(id.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_error)?;
                    row.as_ref().map(source_from_row).transpose().map_err(store_error)
                }

                async fn get_limit_source(
                    &self,
                    client: &ClientId,
                    id: &LimitSourceId,
                ) -> Result<Option<LimitSource>, StoreError> {
                    let row = sqlx::query(&format!("{SELECT} WHERE s.client_id = $1 AND s.id = $2"))
                        .bind(client.as_str())
                        .bind(id.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_error)?;
                    row.as_ref().map(source_from_row).transpose().map_err(store_error)
                }

                async fn list_limit_sources(
                    &self,
                    client: &ClientId,
                    scope: &LimitScope,
                ) -> Result<Vec<LimitSource>, StoreError> {
                    let (column, id) = match scope {
                        LimitScope::Charger(id) => ("charger_id", id.as_str()),
                        LimitScope::Location(id) => ("location_id", id.as_str()),
                    };
                    let rows = sqlx::query(&format!(
                        "{SELECT} WHERE s.client_id = $1 AND s.{column} = $2 ORDER BY s.created_at, s.id"
                    ))
                    .bind(client.as_str())
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_error)?;
                    rows_to_sources(&rows)
                }

                async fn delete_limit_source(
                    &self,
                    client: &ClientId,
                    id: &LimitSourceId,
                ) -> Result<Option<LimitSource>, StoreError> {
                    let Some(source) = self.get_limit_source(client, id).await? else {
                        return Ok(None);
                    };
                    let deleted = sqlx::query("DELETE FROM limit_sources WHERE client_id = $1 AND id = $2")
                        .bind(client.as_str())
                        .bind(id.as_str())
                        .execute(&self.pool)
                        .await
                        .map_err(store_error)?
                        .rows_affected();
                    Ok((deleted > 0).then_some(source))
                }

                async fn limit_sources_of_charger(&self, charger: &ChargerId) -> Result<Vec<LimitSource>, StoreError> {
                    let rows = sqlx::query(&format!(
                        "{SELECT} WHERE s.charger_id = $1 \
                         OR s.location_id = (SELECT c.location_id FROM chargers c WHERE c.id = $1) \
                         ORDER BY s.created_at, s.id"
                    ))
                    .bind(charger.as_str())
                    .fetch_all(&self.reads)
                    .await
                    .map_err(store_error)?;
                    rows_to_sources(&rows)
                }

                async fn chargers_with_limits(&self) -> Result<Vec<ChargerId>, StoreError> {
                    let rows = sqlx::query(
                        "SELECT charger_id AS id FROM limit_sources WHERE charger_id IS NOT NULL \
                         UNION SELECT c.id FROM chargers c JOIN limit_sources s ON s.location_id = c.location_id \
                         UNION SELECT charger_id FROM charger_limit_state WHERE installed_profiles <> '[]' OR held_off",
                    )
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_error)?;
                    rows.iter()
                        .map(|row| row.try_get::<String, _>("id").map(ChargerId::new))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(store_error)
                }

                async fn next_limit_edge(&self, after: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, StoreError> {
                    let row = sqlx::query(
                        "SELECT MIN(edge) AS edge FROM (\
                         SELECT valid_from AS edge FROM limit_sources WHERE valid_from > $1 \
                         UNION ALL SELECT valid_to AS edge FROM limit_sources WHERE valid_to > $1) edges",
                    )
                    .bind($time::bind(after))
                    .fetch_one(&self.reads)
                    .await
                    .map_err(store_error)?;
                    $time::read_opt(&row, "edge").map_err(store_error)
                }

                async fn chargers_with_limit_edges(
                    &self,
                    after: DateTime<Utc>,
                    until: DateTime<Utc>,
                ) -> Result<Vec<ChargerId>, StoreError> {
                    // Each edge found through its own index (valid_from, valid_to).
                    let rows = sqlx::query(
                        "SELECT charger_id AS id FROM limit_sources \
                         WHERE charger_id IS NOT NULL AND valid_from > $1 AND valid_from <= $2 \
                         UNION SELECT charger_id FROM limit_sources \
                         WHERE charger_id IS NOT NULL AND valid_to > $1 AND valid_to <= $2 \
                         UNION SELECT c.id FROM chargers c JOIN limit_sources s ON s.location_id = c.location_id \
                         WHERE (s.valid_from > $1 AND s.valid_from <= $2) OR (s.valid_to > $1 AND s.valid_to <= $2)",
                    )
                    .bind($time::bind(after))
                    .bind($time::bind(until))
                    .fetch_all(&self.reads)
                    .await
                    .map_err(store_error)?;
                    rows.iter()
                        .map(|row| row.try_get::<String, _>("id").map(ChargerId::new))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(store_error)
                }

                async fn chargers_at_location(&self, location: &LocationId) -> Result<Vec<ChargerId>, StoreError> {
                    let rows = sqlx::query("SELECT id FROM chargers WHERE location_id = $1 ORDER BY id")
                        .bind(location.as_str())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(store_error)?;
                    rows.iter()
                        .map(|row| row.try_get::<String, _>("id").map(ChargerId::new))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(store_error)
                }

                async fn charger_capabilities(
                    &self,
                    charger: &ChargerId,
                ) -> Result<Option<ChargerCapabilities>, StoreError> {
                    let row = sqlx::query("SELECT capabilities FROM charger_capabilities WHERE charger_id = $1")
                        .bind(charger.as_str())
                        .fetch_optional(&self.reads)
                        .await
                        .map_err(store_error)?;
                    match row {
                        Some(row) => {
                            let text: String = row.try_get("capabilities").map_err(store_error)?;
                            Ok(Some(from_json(&text)?))
                        }
                        None => Ok(None),
                    }
                }

                async fn set_charger_capabilities(
                    &self,
                    charger: &ChargerId,
                    capabilities: &ChargerCapabilities,
                    at: DateTime<Utc>,
                ) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO charger_capabilities (charger_id, capabilities, updated_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (charger_id) DO UPDATE SET capabilities = excluded.capabilities, updated_at = excluded.updated_at",
                    )
                    .bind(charger.as_str())
                    .bind(json(capabilities)?)
                    .bind($time::bind(at))
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                    Ok(())
                }

                async fn record_device_model(
                    &self,
                    charger: &ChargerId,
                    variables: &[(String, String)],
                    at: DateTime<Utc>,
                ) -> Result<BTreeMap<String, String>, StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let row = sqlx::query("SELECT device_model FROM charger_capabilities WHERE charger_id = $1")
                        .bind(charger.as_str())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    let mut model: BTreeMap<String, String> = match &row {
                        Some(row) => from_json(&row.try_get::<String, _>("device_model").map_err(store_error)?)?,
                        None => BTreeMap::new(),
                    };
                    model.extend(variables.iter().cloned());
                    let unknown = json(&ChargerCapabilities::unknown())?;
                    sqlx::query(
                        "INSERT INTO charger_capabilities (charger_id, capabilities, device_model, updated_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (charger_id) DO UPDATE SET device_model = excluded.device_model, updated_at = excluded.updated_at",
                    )
                    .bind(charger.as_str())
                    .bind(unknown)
                    .bind(json(&model)?)
                    .bind($time::bind(at))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(model)
                }

                async fn device_model(&self, charger: &ChargerId) -> Result<BTreeMap<String, String>, StoreError> {
                    let row = sqlx::query("SELECT device_model FROM charger_capabilities WHERE charger_id = $1")
                        .bind(charger.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_error)?;
                    match row {
                        Some(row) => from_json(&row.try_get::<String, _>("device_model").map_err(store_error)?),
                        None => Ok(BTreeMap::new()),
                    }
                }

                async fn limit_state(&self, charger: &ChargerId) -> Result<ChargerLimitState, StoreError> {
                    let row = sqlx::query(
                        "SELECT installed_profiles, held_off, applied_at, verified_limit, verified_at, last_error \
                         FROM charger_limit_state WHERE charger_id = $1",
                    )
                    .bind(charger.as_str())
                    .fetch_optional(&self.reads)
                    .await
                    .map_err(store_error)?;
                    let Some(row) = row else {
                        return Ok(ChargerLimitState::default());
                    };
                    let read = || -> Result<ChargerLimitState, sqlx::Error> {
                        let installed: String = row.try_get("installed_profiles")?;
                        Ok(ChargerLimitState {
                            installed_profiles: serde_json::from_str(&installed).map_err(decode)?,
                            held_off: row.try_get("held_off")?,
                            applied_at: $time::read_opt(&row, "applied_at")?,
                            verified_limit_a: row.try_get("verified_limit")?,
                            verified_at: $time::read_opt(&row, "verified_at")?,
                            last_error: row.try_get("last_error")?,
                        })
                    };
                    read().map_err(store_error)
                }

                async fn save_limit_state(&self, charger: &ChargerId, state: &ChargerLimitState) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO charger_limit_state (charger_id, installed_profiles, held_off, applied_at, verified_limit, verified_at, last_error) \
                         SELECT $1, $2, $3, $4, $5, $6, $7 FROM chargers WHERE id = $1 \
                         ON CONFLICT (charger_id) DO UPDATE SET installed_profiles = excluded.installed_profiles, \
                         held_off = excluded.held_off, applied_at = excluded.applied_at, verified_limit = excluded.verified_limit, \
                         verified_at = excluded.verified_at, last_error = excluded.last_error",
                    )
                    .bind(charger.as_str())
                    .bind(json(&state.installed_profiles)?)
                    .bind(state.held_off)
                    .bind(state.applied_at.map($time::bind))
                    .bind(state.verified_limit_a)
                    .bind(state.verified_at.map($time::bind))
                    .bind(&state.last_error)
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                    Ok(())
                }
            }
        };
    };
}

pub(crate) use impl_limit_store;
