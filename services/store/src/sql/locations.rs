//! Users' locations.

/// Implements [`coupler_core::LocationStore`] for `$store` (rows `$row`, times through `$time`).
macro_rules! impl_location_store {
    ($store:ident, $row:ty, $time:ident) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use coupler_core::event::EventType;
            use coupler_core::location::{Location, LocationFields, LocationId};
            use coupler_core::page::{Cursor, Page, PageKey, PageRequest};
            use coupler_core::tariff::PriceArea;
            use coupler_core::{ClientId, LocationStore, StoreError, UserId};
            use sqlx::Row;

            use crate::sql::{placeholders, READ_CHUNK};
            use crate::store_error;

            const SELECT: &str = "SELECT l.id, l.client_id, u.external_id, l.name, l.latitude, l.longitude, \
                l.timezone_name, l.price_area, l.price_provider, l.created_at, l.updated_at \
                FROM locations l JOIN users u ON u.id = l.user_id";

            fn location_from_row(row: &$row) -> Result<Location, sqlx::Error> {
                let user: String = row.try_get("external_id")?;
                Ok(Location {
                    id: LocationId::new(row.try_get::<String, _>("id")?),
                    client_id: ClientId::new(row.try_get::<String, _>("client_id")?),
                    user_id: UserId::parse(&user).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
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
                            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                        price_provider: row.try_get("price_provider")?,
                    },
                    created_at: $time::read(row, "created_at")?,
                    updated_at: $time::read(row, "updated_at")?,
                })
            }

            impl $store {
                /// The locations with these ids, whoever's they are.
                async fn locations_by_ids(&self, ids: &[LocationId]) -> Result<Vec<Location>, StoreError> {
                    let mut found = Vec::with_capacity(ids.len());
                    for chunk in ids.chunks(READ_CHUNK) {
                        let sql = format!("{SELECT} WHERE l.id IN ({})", placeholders(1, chunk.len()));
                        let mut query = sqlx::query(&sql);
                        for id in chunk {
                            query = query.bind(id.as_str());
                        }
                        let rows = query.fetch_all(&self.reads).await.map_err(store_error)?;
                        for row in &rows {
                            found.push(location_from_row(row).map_err(store_error)?);
                        }
                    }
                    Ok(found)
                }
            }

            #[async_trait]
            impl LocationStore for $store {
                async fn insert_location(&self, location: &Location) -> Result<(), StoreError> {
                    let f = &location.fields;
                    let inserted = sqlx::query(
                        "INSERT INTO locations (id, client_id, user_id, name, latitude, longitude, timezone_name, \
                         price_area, price_provider, created_at, updated_at) \
                         SELECT $1, $2, u.id, $4, $5, $6, $7, $9, $10, $8, $8 FROM users u WHERE u.client_id = $2 AND u.external_id = $3",
                    )
                    .bind(location.id.as_str())
                    .bind(location.client_id.as_str())
                    .bind(location.user_id.as_str())
                    .bind(&f.name)
                    .bind(f.latitude)
                    .bind(f.longitude)
                    .bind(&f.timezone_name)
                    .bind($time::bind(location.created_at))
                    .bind(f.price_area.as_ref().map(PriceArea::as_str))
                    .bind(f.price_provider.as_deref())
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?
                    .rows_affected();
                    if inserted == 0 {
                        return Err(StoreError::Conflict(format!("no user '{}' for this client", location.user_id)));
                    }
                    Ok(())
                }

                async fn get_location(&self, client: &ClientId, id: &LocationId) -> Result<Option<Location>, StoreError> {
                    let row = sqlx::query(&format!("{SELECT} WHERE l.client_id = $1 AND l.id = $2"))
                        .bind(client.as_str())
                        .bind(id.as_str())
                        .fetch_optional(&self.reads)
                        .await
                        .map_err(store_error)?;
                    row.as_ref().map(location_from_row).transpose().map_err(store_error)
                }

                async fn list_locations(
                    &self,
                    client: &ClientId,
                    user: &UserId,
                    page: &PageRequest,
                ) -> Result<Page<Location>, StoreError> {
                    let limit = i64::from(page.size) + 1;
                    let base = "l.client_id = $1 AND u.external_id = $2";
                    let (filter, order) = crate::sql::keyset(base, "l", page.cursor.as_ref(), 3);
                    let sql = format!("{SELECT} WHERE {filter} ORDER BY l.created_at {order}, l.id {order} LIMIT {limit}");
                    let mut query = sqlx::query(&sql).bind(client.as_str()).bind(user.as_str());
                    if let Some(Cursor::After(key) | Cursor::Before(key)) = &page.cursor {
                        query = query.bind($time::bind(key.created_at)).bind(key.id.clone());
                    }
                    let rows = query.fetch_all(&self.reads).await.map_err(store_error)?;
                    let mut locations = rows.iter().map(location_from_row).collect::<Result<Vec<_>, _>>().map_err(store_error)?;
                    if matches!(page.cursor, Some(Cursor::Before(_))) {
                        locations.reverse();
                    }
                    Ok(Page::from_rows(page, locations, |l| PageKey { created_at: l.created_at, id: l.id.as_str().to_owned() }))
                }

                async fn update_location(
                    &self,
                    client: &ClientId,
                    id: &LocationId,
                    fields: &LocationFields,
                    at: DateTime<Utc>,
                ) -> Result<Option<Location>, StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let before = sqlx::query("SELECT price_area, price_provider FROM locations WHERE client_id = $1 AND id = $2")
                        .bind(client.as_str())
                        .bind(id.as_str())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    let Some(before) = before else {
                        return Ok(None);
                    };
                    let area: Option<String> = before.try_get("price_area").map_err(store_error)?;
                    let provider: Option<String> = before.try_get("price_provider").map_err(store_error)?;
                    let new_area = fields.price_area.as_ref().map(PriceArea::as_str);
                    sqlx::query(
                        "UPDATE locations SET name = $3, latitude = $4, longitude = $5, timezone_name = $6, updated_at = $7, \
                         price_area = $8, price_provider = $9 WHERE client_id = $1 AND id = $2",
                    )
                    .bind(client.as_str())
                    .bind(id.as_str())
                    .bind(&fields.name)
                    .bind(fields.latitude)
                    .bind(fields.longitude)
                    .bind(&fields.timezone_name)
                    .bind($time::bind(at))
                    .bind(new_area)
                    .bind(fields.price_provider.as_deref())
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    // What prices the location changed with where it buys its power.
                    let mut changed = Vec::new();
                    if area.as_deref() != new_area {
                        changed.push("priceArea");
                    }
                    if provider != fields.price_provider {
                        changed.push("priceProvider");
                    }
                    if !changed.is_empty() {
                        Self::append_event(&mut tx, EventType::LocationPricesUpdated, id.as_str(), &changed).await?;
                    }
                    tx.commit().await.map_err(store_error)?;
                    self.get_location(client, id).await
                }

                async fn delete_location(&self, client: &ClientId, id: &LocationId) -> Result<bool, StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    Self::append_events(
                        &mut tx,
                        EventType::ChargerUpdated,
                        &["locationId"],
                        "t.client_id = $4 AND t.location_id = $5",
                        &[client.as_str(), id.as_str()],
                    )
                    .await?;
                    sqlx::query("UPDATE chargers SET location_id = NULL WHERE client_id = $1 AND location_id = $2")
                        .bind(client.as_str())
                        .bind(id.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    let deleted = sqlx::query("DELETE FROM locations WHERE client_id = $1 AND id = $2")
                        .bind(client.as_str())
                        .bind(id.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?
                        .rows_affected();
                    tx.commit().await.map_err(store_error)?;
                    Ok(deleted > 0)
                }
            }
        };
    };
}

pub(crate) use impl_location_store;
