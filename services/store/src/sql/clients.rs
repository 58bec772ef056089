//! API clients and their access tokens.

/// Implements [`coupler_core::ClientStore`] for `$store` (rows `$row`, times through `$time`).
macro_rules! impl_client_store {
    ($store:ident, $row:ty, $time:ident) => {
        const _: () = {
            use async_trait::async_trait;
            use coupler_core::secret::SecretHash;
            use coupler_core::{AccessToken, Client, ClientId, ClientStore, StoreError};
            use sqlx::Row;

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
        };
    };
}

pub(crate) use impl_client_store;
