//! API clients and their access tokens.

/// Implements [`coupler_core::ClientStore`] for `$store` (rows `$row`, times through `$time`).
macro_rules! impl_client_store {
    ($store:ident, $row:ty, $time:ident) => {
        const _: () = {
            use async_trait::async_trait;
            use coupler_core::branding::{Branding, BrandingText, Logo, LogoInfo, LogoType};
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

            fn branding_from_row(row: &$row) -> Result<Branding, sqlx::Error> {
                let kind: Option<String> = row.try_get("logo_type")?;
                let size: Option<i64> = row.try_get("logo_size")?;
                let sha256: Option<String> = row.try_get("logo_sha256")?;
                let logo = match (kind.as_deref().and_then(LogoType::parse), size, sha256) {
                    (Some(kind), Some(size), Some(sha256)) => Some(LogoInfo {
                        kind,
                        size: usize::try_from(size).unwrap_or_default(),
                        sha256,
                    }),
                    _ => None,
                };
                Ok(Branding {
                    app_name: row.try_get("app_name")?,
                    privacy_policy_url: row.try_get("privacy_policy_url")?,
                    return_url: row.try_get("return_url")?,
                    logo,
                    updated_at: Some($time::read(row, "updated_at")?),
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

                async fn get_branding(&self, client: &ClientId) -> Result<Branding, StoreError> {
                    let row = sqlx::query(
                        "SELECT app_name, privacy_policy_url, return_url, logo_type, logo_size, logo_sha256, updated_at \
                         FROM client_branding WHERE client_id = $1",
                    )
                    .bind(client.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(store_error)?;
                    row.as_ref()
                        .map(branding_from_row)
                        .transpose()
                        .map(Option::unwrap_or_default)
                        .map_err(store_error)
                }

                async fn put_branding(
                    &self,
                    client: &ClientId,
                    text: &BrandingText,
                    at: chrono::DateTime<chrono::Utc>,
                ) -> Result<Branding, StoreError> {
                    sqlx::query(
                        "INSERT INTO client_branding (client_id, app_name, privacy_policy_url, return_url, updated_at) \
                         VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (client_id) DO UPDATE SET app_name = excluded.app_name, \
                         privacy_policy_url = excluded.privacy_policy_url, return_url = excluded.return_url, \
                         updated_at = excluded.updated_at",
                    )
                    .bind(client.as_str())
                    .bind(text.app_name.as_deref())
                    .bind(text.privacy_policy_url.as_deref())
                    .bind(text.return_url.as_deref())
                    .bind($time::bind(at))
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                    self.get_branding(client).await
                }

                async fn put_logo(
                    &self,
                    client: &ClientId,
                    logo: Option<&Logo>,
                    at: chrono::DateTime<chrono::Utc>,
                ) -> Result<Branding, StoreError> {
                    let info = logo.map(Logo::info);
                    sqlx::query(
                        "INSERT INTO client_branding (client_id, logo, logo_type, logo_size, logo_sha256, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6) \
                         ON CONFLICT (client_id) DO UPDATE SET logo = excluded.logo, logo_type = excluded.logo_type, \
                         logo_size = excluded.logo_size, logo_sha256 = excluded.logo_sha256, updated_at = excluded.updated_at",
                    )
                    .bind(client.as_str())
                    .bind(logo.map(|l| l.bytes.as_slice()))
                    .bind(info.as_ref().map(|i| i.kind.content_type()))
                    .bind(info.as_ref().map(|i| i.size as i64))
                    .bind(info.as_ref().map(|i| i.sha256.as_str()))
                    .bind($time::bind(at))
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                    self.get_branding(client).await
                }

                async fn get_logo(&self, client: &ClientId) -> Result<Option<Logo>, StoreError> {
                    let row = sqlx::query(
                        "SELECT logo, logo_type FROM client_branding WHERE client_id = $1 AND logo IS NOT NULL",
                    )
                    .bind(client.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(store_error)?;
                    let Some(row) = row else { return Ok(None) };
                    let bytes: Vec<u8> = row.try_get("logo").map_err(store_error)?;
                    let kind: String = row.try_get("logo_type").map_err(store_error)?;
                    let kind = LogoType::parse(&kind)
                        .ok_or_else(|| StoreError::Backend(format!("a stored logo has the unknown type {kind}")))?;
                    Ok(Some(Logo { kind, bytes }))
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
