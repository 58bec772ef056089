//! The SQL both backends run, written once.
//!
//! SQLite and PostgreSQL accept the same statements here (`$N` parameters, `ON CONFLICT`, row-value
//! comparisons), so [`impl_store!`] expands the same method bodies for each pool type. Only `Time`
//! differs: it converts times to and from the backend's column type.

/// Implements the `coupler_core` store traits for `$store` (a struct with a `pool` field) whose rows
/// are `$row`, using `$time` to bind and read times.
macro_rules! impl_store {
    ($store:ident, $row:ty, $time:ident, $backend:literal) => {
        use async_trait::async_trait;
        use coupler_core::page::{Cursor, Page, PageKey, PageRequest};
        use coupler_core::secret::SecretHash;
        use coupler_core::{AccessToken, Client, ClientId, ClientStore, Store, StoreError, User, UserId, UserStore};

        use crate::store_error;

        fn client_from_row(row: &$row) -> Result<Client, sqlx::Error> {
            Ok(Client {
                id: ClientId::new(row.try_get::<String, _>("id")?),
                name: row.try_get("name")?,
                secret_hash: SecretHash::from_stored(row.try_get::<String, _>("secret_hash")?),
                created_at: $time::read(row, "created_at")?,
                revoked_at: $time::read_opt(row, "revoked_at")?,
            })
        }

        fn user_from_row(row: &$row) -> Result<User, sqlx::Error> {
            let raw: String = row.try_get("external_id")?;
            let id = UserId::parse(&raw).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            Ok(User { id, created_at: $time::read(row, "created_at")? })
        }

        #[async_trait]
        impl ClientStore for $store {
            async fn insert_client(&self, client: &Client) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO clients (id, name, secret_hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(client.id.as_str())
                .bind(&client.name)
                .bind(client.secret_hash.as_str())
                .bind($time::bind(client.created_at))
                .bind(client.revoked_at.map($time::bind))
                .execute(&self.pool)
                .await
                .map_err(store_error)?;
                Ok(())
            }

            async fn get_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
                let row = sqlx::query("SELECT id, name, secret_hash, created_at, revoked_at FROM clients WHERE id = $1")
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(store_error)?;
                row.as_ref().map(client_from_row).transpose().map_err(store_error)
            }

            async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, name, secret_hash, created_at, revoked_at FROM clients ORDER BY created_at, id",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(store_error)?;
                rows.iter().map(client_from_row).collect::<Result<_, _>>().map_err(store_error)
            }

            async fn revoke_client(&self, id: &ClientId, at: chrono::DateTime<chrono::Utc>) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin().await.map_err(store_error)?;
                let found = sqlx::query("UPDATE clients SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1")
                    .bind(id.as_str())
                    .bind($time::bind(at))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?
                    .rows_affected()
                    > 0;
                sqlx::query("UPDATE access_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE client_id = $1")
                    .bind(id.as_str())
                    .bind($time::bind(at))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                tx.commit().await.map_err(store_error)?;
                Ok(found)
            }

            async fn insert_access_token(&self, token: &AccessToken) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO access_tokens (token_hash, client_id, created_at, expires_at, revoked_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(token.token_hash.as_str())
                .bind(token.client_id.as_str())
                .bind($time::bind(token.created_at))
                .bind($time::bind(token.expires_at))
                .bind(token.revoked_at.map($time::bind))
                .execute(&self.pool)
                .await
                .map_err(store_error)?;
                Ok(())
            }

            async fn get_access_token(&self, hash: &SecretHash) -> Result<Option<AccessToken>, StoreError> {
                let row = sqlx::query(
                    "SELECT token_hash, client_id, created_at, expires_at, revoked_at FROM access_tokens WHERE token_hash = $1",
                )
                .bind(hash.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(store_error)?;
                let Some(row) = row else { return Ok(None) };
                let token = (|| -> Result<AccessToken, sqlx::Error> {
                    Ok(AccessToken {
                        token_hash: SecretHash::from_stored(row.try_get::<String, _>("token_hash")?),
                        client_id: ClientId::new(row.try_get::<String, _>("client_id")?),
                        created_at: $time::read(&row, "created_at")?,
                        expires_at: $time::read(&row, "expires_at")?,
                        revoked_at: $time::read_opt(&row, "revoked_at")?,
                    })
                })()
                .map_err(store_error)?;
                Ok(Some(token))
            }

            async fn delete_expired_tokens(&self, before: chrono::DateTime<chrono::Utc>) -> Result<u64, StoreError> {
                let done = sqlx::query("DELETE FROM access_tokens WHERE expires_at < $1")
                    .bind($time::bind(before))
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                Ok(done.rows_affected())
            }
        }

        #[async_trait]
        impl UserStore for $store {
            async fn upsert_user(&self, client: &ClientId, id: &UserId) -> Result<(User, bool), StoreError> {
                let now = coupler_core::time::now();
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
                    return Ok((User { id: id.clone(), created_at: now }, true));
                }
                let existing = self.get_user(client, id).await?;
                // A concurrent delete between the two statements leaves nothing to return.
                existing
                    .map(|user| (user, false))
                    .ok_or_else(|| StoreError::Conflict("the user was deleted while being created".into()))
            }

            async fn get_user(&self, client: &ClientId, id: &UserId) -> Result<Option<User>, StoreError> {
                let row = sqlx::query("SELECT external_id, created_at FROM users WHERE client_id = $1 AND external_id = $2")
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
                let mut users = rows.iter().map(user_from_row).collect::<Result<Vec<_>, _>>().map_err(store_error)?;
                if matches!(page.cursor, Some(Cursor::Before(_))) {
                    users.reverse();
                }
                Ok(Page::from_rows(page, users, |u| PageKey { created_at: u.created_at, id: u.id.as_str().to_owned() }))
            }

            async fn delete_user(&self, client: &ClientId, id: &UserId) -> Result<bool, StoreError> {
                let done = sqlx::query("DELETE FROM users WHERE client_id = $1 AND external_id = $2")
                    .bind(client.as_str())
                    .bind(id.as_str())
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                Ok(done.rows_affected() > 0)
            }
        }

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                $backend
            }

            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await.map_err(store_error)?;
                Ok(())
            }
        }
    };
}

pub(crate) use impl_store;
