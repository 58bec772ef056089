//! Users of each API client.

/// Implements [`coupler_core::UserStore`] for `$store` (rows `$row`, times through `$time`).
macro_rules! impl_user_store {
    ($store:ident, $row:ty, $time:ident) => {
        const _: () = {
            use async_trait::async_trait;
            use coupler_core::event::EventType;
            use coupler_core::page::{Cursor, Page, PageKey, PageRequest};
            use coupler_core::{ClientId, StoreError, User, UserId, UserStore};
            use sqlx::Row;

            use crate::store_error;

            fn user_from_row(row: &$row) -> Result<User, sqlx::Error> {
                let raw: String = row.try_get("external_id")?;
                let id = UserId::parse(&raw).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
                Ok(User {
                    id,
                    created_at: $time::read(row, "created_at")?,
                })
            }

            #[async_trait]
            impl UserStore for $store {
                async fn upsert_user(&self, client: &ClientId, id: &UserId) -> Result<(User, bool), StoreError> {
                    let now = self.clock.now();
                    let inserted = sqlx::query(
                        "INSERT INTO users (id, client_id, external_id, created_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (client_id, external_id) DO NOTHING",
                    )
                    .bind(uuid::Uuid::now_v7().to_string())
                    .bind(client.as_str())
                    .bind(id.as_str())
                    .bind($time::bind(now))
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?
                    .rows_affected()
                        == 1;
                    if inserted {
                        return Ok((
                            User {
                                id: id.clone(),
                                created_at: now,
                            },
                            true,
                        ));
                    }
                    let existing = self.get_user(client, id).await?;
                    // A concurrent delete between the two statements leaves nothing to return.
                    existing
                        .map(|user| (user, false))
                        .ok_or_else(|| StoreError::Conflict("the user was deleted while being created".into()))
                }

                async fn get_user(&self, client: &ClientId, id: &UserId) -> Result<Option<User>, StoreError> {
                    let row = sqlx::query(
                        "SELECT external_id, created_at FROM users WHERE client_id = $1 AND external_id = $2",
                    )
                    .bind(client.as_str())
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(store_error)?;
                    row.as_ref().map(user_from_row).transpose().map_err(store_error)
                }

                async fn list_users(&self, client: &ClientId, page: &PageRequest) -> Result<Page<User>, StoreError> {
                    let limit = i64::from(page.size) + 1;
                    let query = match &page.cursor {
                        None => sqlx::query(
                            "SELECT external_id, created_at FROM users WHERE client_id = $1 \
                             ORDER BY created_at DESC, external_id DESC LIMIT $2",
                        )
                        .bind(client.as_str())
                        .bind(limit),
                        Some(Cursor::After(key)) => sqlx::query(
                            "SELECT external_id, created_at FROM users WHERE client_id = $1 \
                             AND (created_at, external_id) < ($2, $3) \
                             ORDER BY created_at DESC, external_id DESC LIMIT $4",
                        )
                        .bind(client.as_str())
                        .bind($time::bind(key.created_at))
                        .bind(key.id.clone())
                        .bind(limit),
                        Some(Cursor::Before(key)) => sqlx::query(
                            "SELECT external_id, created_at FROM users WHERE client_id = $1 \
                             AND (created_at, external_id) > ($2, $3) \
                             ORDER BY created_at ASC, external_id ASC LIMIT $4",
                        )
                        .bind(client.as_str())
                        .bind($time::bind(key.created_at))
                        .bind(key.id.clone())
                        .bind(limit),
                    };
                    let rows = query.fetch_all(&self.pool).await.map_err(store_error)?;
                    let mut users = rows
                        .iter()
                        .map(user_from_row)
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(store_error)?;
                    if matches!(page.cursor, Some(Cursor::Before(_))) {
                        users.reverse();
                    }
                    Ok(Page::from_rows(page, users, |u| PageKey {
                        created_at: u.created_at,
                        id: u.id.as_str().to_owned(),
                    }))
                }

                async fn delete_user(&self, client: &ClientId, id: &UserId) -> Result<bool, StoreError> {
                    // Everything below the user goes with it (ON DELETE CASCADE); the deletion events of
                    // its vehicles and chargers are written first, in the same transaction.
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    for kind in [
                        EventType::VehicleDeleted,
                        EventType::ChargerDeleted,
                        EventType::IdTokenDeleted,
                    ] {
                        Self::append_events(
                            &mut tx,
                            kind,
                            &[],
                            "t.client_id = $4 AND u.external_id = $5",
                            &[client.as_str(), id.as_str()],
                        )
                        .await?;
                    }
                    let done = sqlx::query("DELETE FROM users WHERE client_id = $1 AND external_id = $2")
                        .bind(client.as_str())
                        .bind(id.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(done.rows_affected() > 0)
                }
            }
        };
    };
}

pub(crate) use impl_user_store;
