//! The event outbox: appending an event inside any domain's transaction, and publishing and reading
//! events.
//!
//! # Emitting an event from a domain's SQL
//!
//! Every method that changes something an app can see calls [`append_events`] (or its one-asset form
//! `append_event`) with its open transaction, after the change and before the commit:
//!
//! ```ignore
//! let mut tx = self.pool.begin().await.map_err(store_error)?;
//! // ... the change ...
//! Self::append_event(&mut tx, EventType::EvSystemActivated, id.as_str(), &["isActivated"]).await?;
//! tx.commit().await.map_err(store_error)?;
//! ```
//!
//! The row is found in the event type's table ([`coupler_core::event::AssetKind::table`]), which must
//! have `id`, `client_id` and `user_id` columns; the owner (client and user) is copied from it, so
//! one `INSERT ... SELECT` is the whole cost. A deletion appends its events *before* deleting the
//! rows. The event carries only what changed; the relay renders the object afterwards.
//!
//! [`append_events`]: self

/// Implements [`coupler_core::EventStore`] for `$store`, and the `append_event(s)` helpers every
/// other domain calls inside its transactions.
macro_rules! impl_event_store {
    ($store:ident, $row:ty, $time:ident) => {
        const _: () = {
            use async_trait::async_trait;
            use coupler_core::event::{Event, EventType, PendingEvent};
            use coupler_core::{ClientId, EventStore, StoreError, UserId};
            use sqlx::Row;

            use crate::sql::StorePool;
            use crate::store_error;

            const COLUMNS: &str = "id, seq, client_id, user_id, event_type, asset_id, updated_fields, data, created_at";

            fn decode_error(column: &str, what: impl std::fmt::Display) -> sqlx::Error {
                sqlx::Error::Decode(format!("{column}: {what}").into())
            }

            fn pending_from_row(row: &$row) -> Result<PendingEvent, sqlx::Error> {
                let user: String = row.try_get("user_id")?;
                let kind: String = row.try_get("event_type")?;
                let fields: String = row.try_get("updated_fields")?;
                Ok(PendingEvent {
                    id: row.try_get("id")?,
                    client_id: ClientId::new(row.try_get::<String, _>("client_id")?),
                    user_id: UserId::parse(&user).map_err(|e| decode_error("user_id", e))?,
                    event_type: EventType::parse(&kind).ok_or_else(|| decode_error("event_type", &kind))?,
                    asset_id: row.try_get("asset_id")?,
                    updated_fields: serde_json::from_str(&fields).map_err(|e| decode_error("updated_fields", e))?,
                    created_at: $time::read(row, "created_at")?,
                })
            }

            fn event_from_row(row: &$row) -> Result<Event, sqlx::Error> {
                let pending = pending_from_row(row)?;
                let data: Option<String> = row.try_get("data")?;
                let data = data.ok_or_else(|| decode_error("data", "a published event has no data"))?;
                Ok(Event {
                    seq: row.try_get::<Option<i64>, _>("seq")?.ok_or_else(|| decode_error("seq", "missing"))?,
                    client_id: pending.client_id,
                    user_id: pending.user_id,
                    event_type: pending.event_type,
                    asset_id: pending.asset_id,
                    updated_fields: pending.updated_fields,
                    data: serde_json::from_str(&data).map_err(|e| decode_error("data", e))?,
                    created_at: pending.created_at,
                })
            }

            impl $store {
                /// Appends one event of `event_type` for every row of the type's asset table (aliased
                /// `t`) matching `filter`, inside `tx`. `filter`'s parameters start at `$4`.
                /// Returns how many events were appended.
                #[allow(dead_code)]
                pub(crate) async fn append_events(
                    tx: &mut sqlx::Transaction<'_, <$store as StorePool>::Db>,
                    event_type: EventType,
                    updated_fields: &[&str],
                    filter: &str,
                    binds: &[&str],
                ) -> Result<u64, StoreError> {
                    let table = event_type.asset().table();
                    let sql = format!(
                        "INSERT INTO events (client_id, user_id, event_type, asset_id, updated_fields, created_at) \
                         SELECT t.client_id, u.external_id, $1, t.id, $2, $3 FROM {table} t JOIN users u ON u.id = t.user_id \
                         WHERE {filter} ORDER BY t.id"
                    );
                    let fields = serde_json::to_string(updated_fields).map_err(|e| StoreError::Backend(e.to_string()))?;
                    let mut query = sqlx::query(&sql)
                        .bind(event_type.as_str())
                        .bind(fields)
                        .bind($time::bind(coupler_core::time::now()));
                    for bind in binds {
                        query = query.bind(*bind);
                    }
                    let done = query.execute(&mut **tx).await.map_err(store_error)?;
                    crate::sql::EVENTS_WRITTEN.fetch_add(done.rows_affected(), std::sync::atomic::Ordering::Relaxed);
                    Ok(done.rows_affected())
                }

                /// Publishes `rendered` in turn, numbering them from `first` in their order; one
                /// already published (by another node) is skipped and takes no number.
                #[allow(dead_code)]
                pub(crate) async fn number_events_in_turn(
                    tx: &mut sqlx::Transaction<'_, <$store as crate::sql::StorePool>::Db>,
                    first: i64,
                    rendered: &[(i64, serde_json::Value)],
                ) -> Result<(), StoreError> {
                    let mut next = first;
                    for (id, data) in rendered {
                        // `seq` is unique: a second node publishing at the same moment fails here
                        // instead of handing out a number a reader may already have passed.
                        let done = sqlx::query("UPDATE events SET seq = $1, data = $2 WHERE id = $3 AND seq IS NULL")
                            .bind(next)
                            .bind(data.to_string())
                            .bind(id)
                            .execute(&mut **tx)
                            .await
                            .map_err(store_error)?;
                        if done.rows_affected() > 0 {
                            next += 1;
                        }
                    }
                    Ok(())
                }

                /// Appends one event about the asset `asset_id`, inside `tx`.
                #[allow(dead_code)]
                pub(crate) async fn append_event(
                    tx: &mut sqlx::Transaction<'_, <$store as StorePool>::Db>,
                    event_type: EventType,
                    asset_id: &str,
                    updated_fields: &[&str],
                ) -> Result<u64, StoreError> {
                    Self::append_events(tx, event_type, updated_fields, "t.id = $4", &[asset_id]).await
                }
            }

            #[async_trait]
            impl EventStore for $store {
                async fn unpublished_events(&self, limit: u32) -> Result<Vec<PendingEvent>, StoreError> {
                    let sql = format!("SELECT {COLUMNS} FROM events WHERE seq IS NULL ORDER BY id LIMIT {limit}");
                    let rows = sqlx::query(&sql).fetch_all(&self.pool).await.map_err(store_error)?;
                    rows.iter().map(pending_from_row).collect::<Result<_, _>>().map_err(store_error)
                }

                async fn last_event_data(&self, asset_id: &str) -> Result<Option<serde_json::Value>, StoreError> {
                    let row = sqlx::query(
                        "SELECT data FROM events WHERE asset_id = $1 AND seq IS NOT NULL ORDER BY seq DESC LIMIT 1",
                    )
                    .bind(asset_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(store_error)?;
                    let Some(row) = row else { return Ok(None) };
                    let data: Option<String> = row.try_get("data").map_err(store_error)?;
                    data.map(|d| serde_json::from_str(&d).map_err(|e| StoreError::Backend(e.to_string())))
                        .transpose()
                }

                async fn publish_events(&self, rendered: &[(i64, serde_json::Value)]) -> Result<(), StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS top FROM events")
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    let first: i64 = row.try_get::<i64, _>("top").map_err(store_error)? + 1;
                    Self::number_events(&mut tx, first, rendered).await?;
                    tx.commit().await.map_err(store_error)
                }

                async fn events_after(
                    &self,
                    client: &ClientId,
                    after_seq: i64,
                    limit: u32,
                ) -> Result<Vec<Event>, StoreError> {
                    let sql = format!(
                        "SELECT {COLUMNS} FROM events WHERE client_id = $1 AND seq > $2 ORDER BY seq LIMIT {limit}"
                    );
                    let rows = sqlx::query(&sql)
                        .bind(client.as_str())
                        .bind(after_seq)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(store_error)?;
                    rows.iter().map(event_from_row).collect::<Result<_, _>>().map_err(store_error)
                }

                async fn asset_events(&self, client: &ClientId, asset_id: &str, limit: u32) -> Result<Vec<Event>, StoreError> {
                    let sql = format!(
                        "SELECT {COLUMNS} FROM events WHERE asset_id = $1 AND client_id = $2 AND seq IS NOT NULL \
                         ORDER BY seq DESC LIMIT {limit}"
                    );
                    let rows = sqlx::query(&sql)
                        .bind(asset_id)
                        .bind(client.as_str())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(store_error)?;
                    rows.iter().map(event_from_row).collect::<Result<_, _>>().map_err(store_error)
                }

                async fn prune_events(&self, before: chrono::DateTime<chrono::Utc>) -> Result<u64, StoreError> {
                    let done = sqlx::query(
                        "DELETE FROM events WHERE seq IS NOT NULL AND created_at < $1 \
                         AND seq < (SELECT MAX(e.seq) FROM events e WHERE e.asset_id = events.asset_id)",
                    )
                    .bind($time::bind(before))
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                    Ok(done.rows_affected())
                }

                async fn latest_seq(&self) -> Result<i64, StoreError> {
                    let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS top FROM events")
                        .fetch_one(&self.pool)
                        .await
                        .map_err(store_error)?;
                    row.try_get::<i64, _>("top").map_err(store_error)
                }
            }
        };
    };
}

pub(crate) use impl_event_store;
