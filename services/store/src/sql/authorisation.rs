//! Id tokens, unknown-token policies, chargers' local authorisation lists, and the flags on
//! sessions and readings.

/// Implements [`coupler_core::AuthorisationStore`] for `$store` (rows `$row`, times through `$time`).
macro_rules! impl_authorisation_store {
    ($store:ident, $row:ty, $time:ident) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use coupler_core::authorisation::{
                IdToken, IdTokenId, IdTokenKind, IdTokenStatus, LocalListEntry, TokenLookup, UnknownTokenPolicy,
            };
            use coupler_core::charger::MeterSample;
            use coupler_core::costs::EnergyReading;
            use coupler_core::event::EventType;
            use coupler_core::page::{Cursor, Page, PageKey, PageRequest};
            use coupler_core::store::{ChargerTokenPolicy, IdTokenChange, StoredLocalList};
            use coupler_core::{AuthorisationStore, ChargeSession, ChargerId, ClientId, StoreError, UserId};
            use sqlx::Row;

            use crate::store_error;

            const COLUMNS: &str = "t.id, t.client_id, u.external_id, t.kind, t.value, t.status, t.expires_at, \
                t.group_id, t.label, t.created_at, t.updated_at";

            fn decode(what: &str, raw: &str) -> sqlx::Error {
                sqlx::Error::Decode(format!("unknown {what} {raw:?}").into())
            }

            fn token_from_row(row: &$row) -> Result<IdToken, sqlx::Error> {
                let kind: String = row.try_get("kind")?;
                let status: String = row.try_get("status")?;
                let user: String = row.try_get("external_id")?;
                Ok(IdToken {
                    id: IdTokenId::new(row.try_get::<String, _>("id")?),
                    client_id: ClientId::new(row.try_get::<String, _>("client_id")?),
                    user_id: UserId::parse(&user).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                    kind: IdTokenKind::parse(&kind).ok_or_else(|| decode("token kind", &kind))?,
                    value: row.try_get("value")?,
                    status: IdTokenStatus::parse(&status).ok_or_else(|| decode("token status", &status))?,
                    expires_at: $time::read_opt(row, "expires_at")?,
                    group_id: row.try_get("group_id")?,
                    label: row.try_get("label")?,
                    created_at: $time::read(row, "created_at")?,
                    updated_at: $time::read(row, "updated_at")?,
                })
            }

            fn policy_of(raw: Option<String>) -> Result<Option<UnknownTokenPolicy>, StoreError> {
                raw.map(|raw| {
                    UnknownTokenPolicy::parse(&raw)
                        .ok_or_else(|| StoreError::Backend(format!("unknown token policy {raw:?}")))
                })
                .transpose()
            }

            impl $store {
                async fn token_by_id(
                    &self,
                    client: &ClientId,
                    user: &UserId,
                    id: &IdTokenId,
                ) -> Result<Option<IdToken>, StoreError> {
                    let sql = format!(
                        "SELECT {COLUMNS} FROM id_tokens t JOIN users u ON u.id = t.user_id \
                         WHERE t.client_id = $1 AND u.external_id = $2 AND t.id = $3"
                    );
                    let row = sqlx::query(&sql)
                        .bind(client.as_str())
                        .bind(user.as_str())
                        .bind(id.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_error)?;
                    row.as_ref().map(token_from_row).transpose().map_err(store_error)
                }
            }

            #[async_trait]
            impl AuthorisationStore for $store {
                async fn insert_id_token(&self, token: &IdToken) -> Result<bool, StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let inserted = sqlx::query(
                        "INSERT INTO id_tokens (id, client_id, user_id, kind, value, match_key, status, expires_at, \
                         group_id, label, created_at, updated_at) \
                         SELECT $1, $2, u.id, $4, $5, $6, $7, $8, $9, $10, $11, $11 FROM users u \
                         WHERE u.client_id = $2 AND u.external_id = $3",
                    )
                    .bind(token.id.as_str())
                    .bind(token.client_id.as_str())
                    .bind(token.user_id.as_str())
                    .bind(token.kind.as_str())
                    .bind(&token.value)
                    .bind(token.match_key())
                    .bind(token.status.as_str())
                    .bind(token.expires_at.map($time::bind))
                    .bind(token.group_id.as_deref())
                    .bind(token.label.as_deref())
                    .bind($time::bind(token.created_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?
                    .rows_affected()
                        == 1;
                    if inserted {
                        Self::append_event(&mut tx, EventType::IdTokenCreated, token.id.as_str(), &[]).await?;
                    }
                    tx.commit().await.map_err(store_error)?;
                    Ok(inserted)
                }

                async fn list_id_tokens(
                    &self,
                    client: &ClientId,
                    user: &UserId,
                    page: &PageRequest,
                ) -> Result<Option<Page<IdToken>>, StoreError> {
                    let exists = sqlx::query("SELECT 1 FROM users WHERE client_id = $1 AND external_id = $2")
                        .bind(client.as_str())
                        .bind(user.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_error)?;
                    if exists.is_none() {
                        return Ok(None);
                    }
                    let limit = i64::from(page.size) + 1;
                    let (filter, order) = crate::sql::keyset(
                        "t.client_id = $1 AND u.external_id = $2",
                        "t",
                        page.cursor.as_ref(),
                        3,
                    );
                    let sql = format!(
                        "SELECT {COLUMNS} FROM id_tokens t JOIN users u ON u.id = t.user_id WHERE {filter} \
                         ORDER BY t.created_at {order}, t.id {order} LIMIT {limit}"
                    );
                    let mut query = sqlx::query(&sql).bind(client.as_str()).bind(user.as_str());
                    if let Some(Cursor::After(key) | Cursor::Before(key)) = &page.cursor {
                        query = query.bind($time::bind(key.created_at)).bind(key.id.clone());
                    }
                    let rows = query.fetch_all(&self.pool).await.map_err(store_error)?;
                    let mut tokens = rows
                        .iter()
                        .map(token_from_row)
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(store_error)?;
                    if matches!(page.cursor, Some(Cursor::Before(_))) {
                        tokens.reverse();
                    }
                    Ok(Some(Page::from_rows(page, tokens, |t| PageKey {
                        created_at: t.created_at,
                        id: t.id.as_str().to_owned(),
                    })))
                }

                async fn get_id_token(
                    &self,
                    client: &ClientId,
                    user: &UserId,
                    id: &IdTokenId,
                ) -> Result<Option<IdToken>, StoreError> {
                    self.token_by_id(client, user, id).await
                }

                async fn update_id_token(
                    &self,
                    client: &ClientId,
                    user: &UserId,
                    id: &IdTokenId,
                    change: &IdTokenChange,
                    at: DateTime<Utc>,
                ) -> Result<Option<IdToken>, StoreError> {
                    let Some(before) = self.token_by_id(client, user, id).await? else {
                        return Ok(None);
                    };
                    let mut after = before.clone();
                    let mut fields = Vec::new();
                    if let Some(status) = change.status {
                        after.status = status;
                    }
                    if let Some(expires_at) = change.expires_at {
                        after.expires_at = expires_at;
                    }
                    if let Some(group_id) = &change.group_id {
                        after.group_id = group_id.clone();
                    }
                    if let Some(label) = &change.label {
                        after.label = label.clone();
                    }
                    if after.status != before.status {
                        fields.push("status");
                    }
                    if after.expires_at != before.expires_at {
                        fields.push("expiresAt");
                    }
                    if after.group_id != before.group_id {
                        fields.push("groupId");
                    }
                    if after.label != before.label {
                        fields.push("label");
                    }
                    if fields.is_empty() {
                        return Ok(Some(before));
                    }
                    after.updated_at = at;
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let updated = sqlx::query(
                        "UPDATE id_tokens SET status = $3, expires_at = $4, group_id = $5, label = $6, updated_at = $7 \
                         WHERE client_id = $1 AND id = $2",
                    )
                    .bind(client.as_str())
                    .bind(id.as_str())
                    .bind(after.status.as_str())
                    .bind(after.expires_at.map($time::bind))
                    .bind(after.group_id.as_deref())
                    .bind(after.label.as_deref())
                    .bind($time::bind(at))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    if updated.rows_affected() == 0 {
                        return Ok(None);
                    }
                    Self::append_event(&mut tx, EventType::IdTokenUpdated, id.as_str(), &fields).await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(Some(after))
                }

                async fn delete_id_token(
                    &self,
                    client: &ClientId,
                    user: &UserId,
                    id: &IdTokenId,
                ) -> Result<bool, StoreError> {
                    if self.token_by_id(client, user, id).await?.is_none() {
                        return Ok(false);
                    }
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    Self::append_event(&mut tx, EventType::IdTokenDeleted, id.as_str(), &[]).await?;
                    let done = sqlx::query("DELETE FROM id_tokens WHERE client_id = $1 AND id = $2")
                        .bind(client.as_str())
                        .bind(id.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    if done.rows_affected() == 0 {
                        // Deleted meanwhile by another request, which wrote the event: this one
                        // commits nothing.
                        return Ok(false);
                    }
                    tx.commit().await.map_err(store_error)?;
                    Ok(true)
                }

                async fn user_token_policy(
                    &self,
                    client: &ClientId,
                    user: &UserId,
                ) -> Result<Option<UnknownTokenPolicy>, StoreError> {
                    let row = sqlx::query(
                        "SELECT unknown_token_policy FROM users WHERE client_id = $1 AND external_id = $2",
                    )
                    .bind(client.as_str())
                    .bind(user.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(store_error)?;
                    let Some(row) = row else { return Ok(None) };
                    let raw: Option<String> = row.try_get("unknown_token_policy").map_err(store_error)?;
                    Ok(Some(policy_of(raw)?.unwrap_or_default()))
                }

                async fn set_user_token_policy(
                    &self,
                    client: &ClientId,
                    user: &UserId,
                    policy: UnknownTokenPolicy,
                ) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "UPDATE users SET unknown_token_policy = $3 WHERE client_id = $1 AND external_id = $2",
                    )
                    .bind(client.as_str())
                    .bind(user.as_str())
                    .bind(policy.as_str())
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn charger_token_policy(
                    &self,
                    client: &ClientId,
                    charger: &ChargerId,
                ) -> Result<Option<ChargerTokenPolicy>, StoreError> {
                    let row = sqlx::query(
                        "SELECT c.unknown_token_policy AS own, u.unknown_token_policy AS owner \
                         FROM chargers c JOIN users u ON u.id = c.user_id WHERE c.client_id = $1 AND c.id = $2",
                    )
                    .bind(client.as_str())
                    .bind(charger.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(store_error)?;
                    let Some(row) = row else { return Ok(None) };
                    Ok(Some(ChargerTokenPolicy {
                        own: policy_of(row.try_get("own").map_err(store_error)?)?,
                        owner: policy_of(row.try_get("owner").map_err(store_error)?)?.unwrap_or_default(),
                    }))
                }

                async fn set_charger_token_policy(
                    &self,
                    client: &ClientId,
                    charger: &ChargerId,
                    policy: Option<UnknownTokenPolicy>,
                ) -> Result<bool, StoreError> {
                    let done =
                        sqlx::query("UPDATE chargers SET unknown_token_policy = $3 WHERE client_id = $1 AND id = $2")
                            .bind(client.as_str())
                            .bind(charger.as_str())
                            .bind(policy.map(UnknownTokenPolicy::as_str))
                            .execute(&self.pool)
                            .await
                            .map_err(store_error)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn lookup_token(&self, charger: &ChargerId, match_key: &str) -> Result<TokenLookup, StoreError> {
                    let row = sqlx::query(
                        "SELECT c.unknown_token_policy AS own, u.unknown_token_policy AS owner \
                         FROM chargers c JOIN users u ON u.id = c.user_id WHERE c.id = $1",
                    )
                    .bind(charger.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(store_error)?;
                    let policy = match &row {
                        Some(row) => {
                            let own = policy_of(row.try_get("own").map_err(store_error)?)?;
                            let owner = policy_of(row.try_get("owner").map_err(store_error)?)?;
                            own.or(owner).unwrap_or_default()
                        }
                        None => UnknownTokenPolicy::default(),
                    };
                    let sql = format!(
                        "SELECT {COLUMNS} FROM id_tokens t JOIN users u ON u.id = t.user_id \
                         JOIN chargers c ON c.user_id = t.user_id WHERE c.id = $1 AND t.match_key = $2"
                    );
                    let token = sqlx::query(&sql)
                        .bind(charger.as_str())
                        .bind(match_key)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_error)?;
                    let token = token.as_ref().map(token_from_row).transpose().map_err(store_error)?;
                    Ok(TokenLookup { token, policy })
                }

                async fn tokens_of_charger_owner(&self, charger: &ChargerId) -> Result<Vec<IdToken>, StoreError> {
                    let sql = format!(
                        "SELECT {COLUMNS} FROM id_tokens t JOIN users u ON u.id = t.user_id \
                         JOIN chargers c ON c.user_id = t.user_id WHERE c.id = $1 ORDER BY t.created_at, t.id"
                    );
                    let rows = sqlx::query(&sql)
                        .bind(charger.as_str())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(store_error)?;
                    rows.iter().map(token_from_row).collect::<Result<_, _>>().map_err(store_error)
                }

                async fn chargers_of_user(&self, client: &ClientId, user: &UserId) -> Result<Vec<ChargerId>, StoreError> {
                    let rows = sqlx::query(
                        "SELECT c.id FROM chargers c JOIN users u ON u.id = c.user_id \
                         WHERE c.client_id = $1 AND u.external_id = $2 ORDER BY c.id",
                    )
                    .bind(client.as_str())
                    .bind(user.as_str())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_error)?;
                    rows.iter()
                        .map(|row| row.try_get::<String, _>("id").map(ChargerId::new))
                        .collect::<Result<_, _>>()
                        .map_err(store_error)
                }

                async fn local_list(&self, charger: &ChargerId) -> Result<Option<StoredLocalList>, StoreError> {
                    let row = sqlx::query("SELECT version, entries, updated_at FROM charger_local_lists WHERE charger_id = $1")
                        .bind(charger.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_error)?;
                    let Some(row) = row else { return Ok(None) };
                    let entries: String = row.try_get("entries").map_err(store_error)?;
                    let entries: Vec<LocalListEntry> =
                        serde_json::from_str(&entries).map_err(|e| StoreError::Backend(format!("local list: {e}")))?;
                    Ok(Some(StoredLocalList {
                        version: row.try_get("version").map_err(store_error)?,
                        entries,
                        updated_at: $time::read(&row, "updated_at").map_err(store_error)?,
                    }))
                }

                async fn save_local_list(&self, charger: &ChargerId, list: &StoredLocalList) -> Result<(), StoreError> {
                    let entries = serde_json::to_string(&list.entries).map_err(|e| StoreError::Backend(e.to_string()))?;
                    sqlx::query(
                        "INSERT INTO charger_local_lists (charger_id, version, entries, updated_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (charger_id) DO UPDATE SET version = $2, entries = $3, updated_at = $4",
                    )
                    .bind(charger.as_str())
                    .bind(list.version)
                    .bind(entries)
                    .bind($time::bind(list.updated_at))
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                    Ok(())
                }

                async fn forget_local_list(&self, charger: &ChargerId) -> Result<(), StoreError> {
                    sqlx::query("DELETE FROM charger_local_lists WHERE charger_id = $1")
                        .bind(charger.as_str())
                        .execute(&self.pool)
                        .await
                        .map_err(store_error)?;
                    Ok(())
                }

                async fn session(&self, charger: &ChargerId, transaction_id: i64) -> Result<Option<ChargeSession>, StoreError> {
                    let row = sqlx::query(
                        "SELECT transaction_id, charger_id, connector_id, id_tag, meter_start_wh, meter_last_wh, \
                         meter_stop_wh, started_at, stopped_at, stop_reason, authorisation, implausible \
                         FROM charge_sessions WHERE charger_id = $1 AND transaction_id = $2",
                    )
                    .bind(charger.as_str())
                    .bind(transaction_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(store_error)?;
                    let Some(row) = row else { return Ok(None) };
                    let read = || -> Result<ChargeSession, sqlx::Error> {
                        let connector_id: i64 = row.try_get("connector_id")?;
                        Ok(ChargeSession {
                            transaction_id: row.try_get("transaction_id")?,
                            charger_id: ChargerId::new(row.try_get::<String, _>("charger_id")?),
                            connector_id: u32::try_from(connector_id).unwrap_or(0),
                            id_tag: row.try_get("id_tag")?,
                            meter_start_wh: row.try_get("meter_start_wh")?,
                            meter_last_wh: row.try_get("meter_last_wh")?,
                            meter_stop_wh: row.try_get("meter_stop_wh")?,
                            started_at: $time::read(&row, "started_at")?,
                            stopped_at: $time::read_opt(&row, "stopped_at")?,
                            stop_reason: row.try_get("stop_reason")?,
                            authorisation: row.try_get("authorisation")?,
                            implausible: row.try_get("implausible")?,
                        })
                    };
                    read().map(Some).map_err(store_error)
                }

                async fn mark_session(
                    &self,
                    charger: &ChargerId,
                    transaction_id: i64,
                    authorisation: Option<&str>,
                    implausible: Option<&str>,
                ) -> Result<(), StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let done = sqlx::query(
                        "UPDATE charge_sessions SET authorisation = COALESCE($3, authorisation), \
                         implausible = COALESCE(implausible, $4) WHERE charger_id = $1 AND transaction_id = $2",
                    )
                    .bind(charger.as_str())
                    .bind(transaction_id)
                    .bind(authorisation)
                    .bind(implausible)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    if done.rows_affected() > 0 && implausible.is_some() {
                        Self::append_event(&mut tx, EventType::ChargerUpdated, charger.as_str(), &["chargeState.sessionEnergy"])
                            .await?;
                    }
                    tx.commit().await.map_err(store_error)
                }

                async fn record_implausible_samples(
                    &self,
                    charger: &ChargerId,
                    connector_id: u32,
                    transaction_id: Option<i64>,
                    samples: &[(MeterSample, &str)],
                ) -> Result<(), StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    for (sample, why) in samples {
                        sqlx::query(
                            "INSERT INTO meter_samples (charger_id, connector_id, transaction_id, sampled_at, measurand, \
                             phase, unit, value, context, implausible) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                        )
                        .bind(charger.as_str())
                        .bind(i64::from(connector_id))
                        .bind(transaction_id)
                        .bind($time::bind(sample.sampled_at))
                        .bind(&sample.measurand)
                        .bind(sample.phase.as_deref())
                        .bind(&sample.unit)
                        // A NaN or infinity cannot be stored as a number everywhere; its flag says what it was.
                        .bind(if sample.value.is_finite() { sample.value } else { 0.0 })
                        .bind(sample.context.as_deref())
                        .bind(*why)
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    }
                    tx.commit().await.map_err(store_error)
                }

                async fn last_energy_reading(
                    &self,
                    charger: &ChargerId,
                    connector_id: u32,
                ) -> Result<Option<EnergyReading>, StoreError> {
                    let row = sqlx::query(
                        "SELECT sampled_at, value FROM meter_samples WHERE charger_id = $1 AND connector_id = $2 \
                         AND measurand = 'Energy.Active.Import.Register' AND phase IS NULL AND unit = 'Wh' \
                         AND implausible IS NULL ORDER BY sampled_at DESC LIMIT 1",
                    )
                    .bind(charger.as_str())
                    .bind(i64::from(connector_id))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(store_error)?;
                    let Some(row) = row else { return Ok(None) };
                    Ok(Some(EnergyReading {
                        at: $time::read(&row, "sampled_at").map_err(store_error)?,
                        register_wh: row.try_get("value").map_err(store_error)?,
                    }))
                }
            }
        };
    };
}

pub(crate) use impl_authorisation_store;
