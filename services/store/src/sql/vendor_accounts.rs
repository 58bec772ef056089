//! Linked vendor accounts and their (encrypted) tokens.

/// Implements [`coupler_core::VendorAccountStore`] for `$store` (rows `$row`, times through `$time`).
macro_rules! impl_vendor_account_store {
    ($store:ident, $row:ty, $time:ident) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use coupler_core::account::{SealedToken, SealedTokens, VendorAccount, VendorAccountId};
            use coupler_core::intervention::{Intervention, InterventionId};
            use coupler_core::{ClientId, StoreError, UserId, VendorAccountStore, Vendor};
            use sqlx::Row;
            use coupler_core::event::EventType;

            use crate::store_error;

            const COLUMNS: &str = "a.id AS id, a.client_id AS client_id, u.external_id AS external_id, \
                 a.vendor AS vendor, a.scopes AS scopes, a.access_token AS access_token, \
                 a.refresh_token AS refresh_token, a.expires_at AS expires_at, a.token_version AS token_version, \
                 a.meta AS meta, a.is_valid AS is_valid, a.intervention_id AS intervention_id, \
                 a.created_at AS created_at, a.updated_at AS updated_at";
            const FROM: &str = "FROM vendor_accounts a JOIN users u ON u.id = a.user_id";

            fn json<T: serde::de::DeserializeOwned>(row: &$row, column: &str) -> Result<T, sqlx::Error> {
                let text: String = row.try_get(column)?;
                serde_json::from_str(&text).map_err(|e| sqlx::Error::Decode(format!("{column}: {e}").into()))
            }

            fn account_from_row(row: &$row) -> Result<VendorAccount, sqlx::Error> {
                let user: String = row.try_get("external_id")?;
                let vendor: String = row.try_get("vendor")?;
                Ok(VendorAccount {
                    id: VendorAccountId::new(row.try_get::<String, _>("id")?),
                    client_id: ClientId::new(row.try_get::<String, _>("client_id")?),
                    user_id: UserId::parse(&user).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                    vendor: Vendor::parse(&vendor).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                    scopes: json(row, "scopes")?,
                    tokens: SealedTokens {
                        access_token: SealedToken::from_stored(row.try_get::<String, _>("access_token")?),
                        refresh_token: row
                            .try_get::<Option<String>, _>("refresh_token")?
                            .map(SealedToken::from_stored),
                        expires_at: $time::read_opt(row, "expires_at")?,
                    },
                    token_version: row.try_get("token_version")?,
                    meta: json(row, "meta")?,
                    is_valid: row.try_get("is_valid")?,
                    intervention_id: row
                        .try_get::<Option<String>, _>("intervention_id")?
                        .map(InterventionId::new),
                    created_at: $time::read(row, "created_at")?,
                    updated_at: $time::read(row, "updated_at")?,
                })
            }

            fn accounts(rows: &[$row]) -> Result<Vec<VendorAccount>, StoreError> {
                rows.iter().map(account_from_row).collect::<Result<_, _>>().map_err(store_error)
            }

            #[async_trait]
            impl VendorAccountStore for $store {
                async fn get_vendor_account(
                    &self,
                    client: &ClientId,
                    id: &VendorAccountId,
                ) -> Result<Option<VendorAccount>, StoreError> {
                    let sql = format!("SELECT {COLUMNS} {FROM} WHERE a.client_id = $1 AND a.id = $2");
                    let row = sqlx::query(&sql)
                        .bind(client.as_str())
                        .bind(id.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_error)?;
                    row.as_ref().map(account_from_row).transpose().map_err(store_error)
                }

                async fn list_vendor_accounts(&self, client: &ClientId, user: &UserId) -> Result<Vec<VendorAccount>, StoreError> {
                    let sql = format!(
                        "SELECT {COLUMNS} {FROM} WHERE a.client_id = $1 AND u.external_id = $2 ORDER BY a.created_at, a.id"
                    );
                    let rows = sqlx::query(&sql)
                        .bind(client.as_str())
                        .bind(user.as_str())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(store_error)?;
                    accounts(&rows)
                }

                async fn delete_vendor_account(&self, client: &ClientId, user: &UserId, vendor: &Vendor) -> Result<bool, StoreError> {
                    // Vehicles and interventions go with the account (ON DELETE CASCADE); their
                    // deletion events are written first, in the same transaction.
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    Self::append_events(
                        &mut tx,
                        EventType::VehicleDeleted,
                        &[],
                        "t.account_id IN (SELECT a.id FROM vendor_accounts a JOIN users au ON au.id = a.user_id \
                         WHERE a.client_id = $4 AND au.external_id = $5 AND a.vendor = $6)",
                        &[client.as_str(), user.as_str(), vendor.as_str()],
                    )
                    .await?;
                    let done = sqlx::query(
                        "DELETE FROM vendor_accounts WHERE client_id = $1 AND vendor = $3 \
                         AND user_id = (SELECT id FROM users WHERE client_id = $1 AND external_id = $2)",
                    )
                    .bind(client.as_str())
                    .bind(user.as_str())
                    .bind(vendor.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn accounts_due_for_refresh(
                    &self,
                    before: DateTime<Utc>,
                    now: DateTime<Utc>,
                    limit: u32,
                ) -> Result<Vec<VendorAccount>, StoreError> {
                    let sql = format!(
                        "SELECT {COLUMNS} {FROM} WHERE a.is_valid = TRUE AND a.refresh_token IS NOT NULL \
                         AND a.expires_at IS NOT NULL AND a.expires_at <= $1 \
                         AND (a.refresh_lease_until IS NULL OR a.refresh_lease_until <= $2) \
                         ORDER BY a.expires_at, a.id LIMIT $3"
                    );
                    let rows = sqlx::query(&sql)
                        .bind($time::bind(before))
                        .bind($time::bind(now))
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(store_error)?;
                    accounts(&rows)
                }

                async fn claim_token_refresh(
                    &self,
                    client: &ClientId,
                    id: &VendorAccountId,
                    now: DateTime<Utc>,
                    until: DateTime<Utc>,
                ) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "UPDATE vendor_accounts SET refresh_lease_until = $3 WHERE client_id = $1 AND id = $2 \
                         AND is_valid = TRUE AND (refresh_lease_until IS NULL OR refresh_lease_until <= $4)",
                    )
                    .bind(client.as_str())
                    .bind(id.as_str())
                    .bind($time::bind(until))
                    .bind($time::bind(now))
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn release_token_refresh(&self, client: &ClientId, id: &VendorAccountId) -> Result<(), StoreError> {
                    sqlx::query("UPDATE vendor_accounts SET refresh_lease_until = NULL WHERE client_id = $1 AND id = $2")
                        .bind(client.as_str())
                        .bind(id.as_str())
                        .execute(&self.pool)
                        .await
                        .map_err(store_error)?;
                    Ok(())
                }

                async fn replace_tokens(
                    &self,
                    client: &ClientId,
                    id: &VendorAccountId,
                    expected_version: i64,
                    tokens: &SealedTokens,
                    now: DateTime<Utc>,
                ) -> Result<bool, StoreError> {
                    // One statement: the new access token and the new (single-use) refresh token are
                    // stored together or not at all, and only over the tokens the refresh started from.
                    let done = sqlx::query(
                        "UPDATE vendor_accounts SET access_token = $4, refresh_token = COALESCE($5, refresh_token), \
                         expires_at = $6, token_version = token_version + 1, refresh_lease_until = NULL, updated_at = $7 \
                         WHERE client_id = $1 AND id = $2 AND token_version = $3",
                    )
                    .bind(client.as_str())
                    .bind(id.as_str())
                    .bind(expected_version)
                    .bind(tokens.access_token.as_stored())
                    .bind(tokens.refresh_token.as_ref().map(|t| t.as_stored().to_owned()))
                    .bind(tokens.expires_at.map($time::bind))
                    .bind($time::bind(now))
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn invalidate_account(&self, intervention: &Intervention) -> Result<bool, StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let now = $time::bind(intervention.created_at);
                    let invalidated = sqlx::query(
                        "UPDATE vendor_accounts SET is_valid = FALSE, intervention_id = $3, refresh_lease_until = NULL, \
                         updated_at = $4 WHERE client_id = $1 AND id = $2 AND is_valid = TRUE",
                    )
                    .bind(intervention.client_id.as_str())
                    .bind(intervention.account_id.as_str())
                    .bind(intervention.id.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?
                    .rows_affected()
                        == 1;
                    if !invalidated {
                        // Already invalid (another node got there first): one intervention is enough.
                        tx.rollback().await.map_err(store_error)?;
                        return Ok(false);
                    }
                    sqlx::query(
                        "INSERT INTO interventions (id, client_id, user_id, account_id, vendor, kind, detail, created_at, resolved_at) \
                         SELECT $1, a.client_id, a.user_id, a.id, a.vendor, $3, $4, $5, NULL FROM vendor_accounts a WHERE a.id = $2",
                    )
                    .bind(intervention.id.as_str())
                    .bind(intervention.account_id.as_str())
                    .bind(intervention.kind.as_str())
                    .bind(&intervention.detail)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    Self::append_events(
                        &mut tx,
                        EventType::VehicleUpdated,
                        &["isReachable", "capabilities"],
                        "t.account_id = $4",
                        &[intervention.account_id.as_str()],
                    )
                    .await?;
                    sqlx::query("UPDATE vehicles SET is_reachable = FALSE, updated_at = $2 WHERE account_id = $1")
                        .bind(intervention.account_id.as_str())
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    Self::append_event(&mut tx, EventType::CredentialsInvalidated, intervention.account_id.as_str(), &[]).await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(true)
                }
            }
        };
    };
}

pub(crate) use impl_vendor_account_store;
