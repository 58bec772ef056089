//! Link sessions, and the transaction that turns a successful one into an account with vehicles.

/// Implements [`coupler_core::LinkSessionStore`] for `$store` (rows `$row`, times through `$time`).
macro_rules! impl_link_session_store {
    ($store:ident, $row:ty, $time:ident) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use coupler_core::account::{SealedToken, VendorAccountId};
            use coupler_core::link::{LinkCompletion, LinkSession, LinkSessionId, LinkStatus, LinkedAccount};
            use coupler_core::polling::utc_day;
            use coupler_core::secret::SecretHash;
            use coupler_core::vehicle::{ChargeState, Location};
            use coupler_core::{ClientId, LinkSessionStore, StoreError, UserId, VehicleId, Vendor};
            use sqlx::Row;
            use coupler_core::event::EventType;

            use crate::store_error;

            const COLUMNS: &str = "s.id AS id, s.client_id AS client_id, u.external_id AS external_id, \
                 s.token_hash AS token_hash, s.vendor AS vendor, s.scopes AS scopes, s.redirect_uri AS redirect_uri, \
                 s.language AS language, s.status AS status, s.chosen_vendor AS chosen_vendor, \
                 s.state_hash AS state_hash, s.pkce_verifier AS pkce_verifier, s.error AS error, \
                 s.created_at AS created_at, s.expires_at AS expires_at, s.finished_at AS finished_at";
            const FROM: &str = "FROM link_sessions s JOIN users u ON u.id = s.user_id";

            fn decode_error(what: String) -> sqlx::Error {
                sqlx::Error::Decode(what.into())
            }

            fn vendor(raw: Option<String>) -> Result<Option<Vendor>, sqlx::Error> {
                raw.map(|v| Vendor::parse(&v).map_err(|e| sqlx::Error::Decode(Box::new(e))))
                    .transpose()
            }

            fn session_from_row(row: &$row) -> Result<LinkSession, sqlx::Error> {
                let user: String = row.try_get("external_id")?;
                let status: String = row.try_get("status")?;
                let scopes: String = row.try_get("scopes")?;
                Ok(LinkSession {
                    id: LinkSessionId::new(row.try_get::<String, _>("id")?),
                    client_id: ClientId::new(row.try_get::<String, _>("client_id")?),
                    user_id: UserId::parse(&user).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                    token_hash: SecretHash::from_stored(row.try_get::<String, _>("token_hash")?),
                    vendor: vendor(row.try_get("vendor")?)?,
                    scopes: serde_json::from_str(&scopes).map_err(|e| decode_error(format!("scopes: {e}")))?,
                    redirect_uri: row.try_get("redirect_uri")?,
                    language: row.try_get("language")?,
                    status: LinkStatus::parse(&status).ok_or_else(|| decode_error(format!("status '{status}'")))?,
                    chosen_vendor: vendor(row.try_get("chosen_vendor")?)?,
                    state_hash: row.try_get::<Option<String>, _>("state_hash")?.map(SecretHash::from_stored),
                    pkce_verifier: row
                        .try_get::<Option<String>, _>("pkce_verifier")?
                        .map(SealedToken::from_stored),
                    error: row.try_get("error")?,
                    created_at: $time::read(row, "created_at")?,
                    expires_at: $time::read(row, "expires_at")?,
                    finished_at: $time::read_opt(row, "finished_at")?,
                })
            }

            fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
                serde_json::to_string(value).map_err(|e| StoreError::Backend(e.to_string()))
            }

            impl $store {
                async fn link_session_where(&self, filter: &str, value: &str) -> Result<Option<LinkSession>, StoreError> {
                    let sql = format!("SELECT {COLUMNS} {FROM} WHERE {filter}");
                    let row = sqlx::query(&sql)
                        .bind(value)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_error)?;
                    row.as_ref().map(session_from_row).transpose().map_err(store_error)
                }
            }

            #[async_trait]
            impl LinkSessionStore for $store {
                async fn insert_link_session(&self, session: &LinkSession) -> Result<(), StoreError> {
                    let inserted = sqlx::query(
                        "INSERT INTO link_sessions (id, client_id, user_id, token_hash, vendor, scopes, redirect_uri, language, \
                         status, chosen_vendor, state_hash, pkce_verifier, error, created_at, expires_at, finished_at) \
                         SELECT $1, $2, u.id, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16 \
                         FROM users u WHERE u.client_id = $2 AND u.external_id = $3",
                    )
                    .bind(session.id.as_str())
                    .bind(session.client_id.as_str())
                    .bind(session.user_id.as_str())
                    .bind(session.token_hash.as_str())
                    .bind(session.vendor.as_ref().map(|v| v.as_str().to_owned()))
                    .bind(to_json(&session.scopes)?)
                    .bind(&session.redirect_uri)
                    .bind(&session.language)
                    .bind(session.status.as_str())
                    .bind(session.chosen_vendor.as_ref().map(|v| v.as_str().to_owned()))
                    .bind(session.state_hash.as_ref().map(|h| h.as_str().to_owned()))
                    .bind(session.pkce_verifier.as_ref().map(|p| p.as_stored().to_owned()))
                    .bind(session.error.as_deref())
                    .bind($time::bind(session.created_at))
                    .bind($time::bind(session.expires_at))
                    .bind(session.finished_at.map($time::bind))
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?
                    .rows_affected();
                    if inserted == 0 {
                        return Err(StoreError::Conflict(format!("no user '{}' for this client", session.user_id)));
                    }
                    Ok(())
                }

                async fn get_link_session_by_token(&self, token_hash: &SecretHash) -> Result<Option<LinkSession>, StoreError> {
                    self.link_session_where("s.token_hash = $1", token_hash.as_str()).await
                }

                async fn get_link_session_by_state(&self, state_hash: &SecretHash) -> Result<Option<LinkSession>, StoreError> {
                    self.link_session_where("s.state_hash = $1", state_hash.as_str()).await
                }

                async fn begin_authorization(
                    &self,
                    id: &LinkSessionId,
                    vendor: &Vendor,
                    state_hash: &SecretHash,
                    pkce_verifier: &SealedToken,
                    now: DateTime<Utc>,
                ) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "UPDATE link_sessions SET status = 'AUTHORIZING', chosen_vendor = $2, state_hash = $3, \
                         pkce_verifier = $4 WHERE id = $1 AND status IN ('CREATED', 'AUTHORIZING') AND expires_at > $5",
                    )
                    .bind(id.as_str())
                    .bind(vendor.as_str())
                    .bind(state_hash.as_str())
                    .bind(pkce_verifier.as_stored())
                    .bind($time::bind(now))
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn fail_link_session(&self, id: &LinkSessionId, error: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "UPDATE link_sessions SET status = 'FAILED', error = $2, finished_at = $3, pkce_verifier = NULL \
                         WHERE id = $1 AND status IN ('CREATED', 'AUTHORIZING')",
                    )
                    .bind(id.as_str())
                    .bind(error)
                    .bind($time::bind(now))
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn complete_link(&self, completion: &LinkCompletion) -> Result<Option<LinkedAccount>, StoreError> {
                    let c = completion;
                    let now = $time::bind(c.now);
                    let mut tx = self.pool.begin().await.map_err(store_error)?;

                    // First the session: this write takes the lock, and only one callback can end it.
                    // The state hash stays, so a replayed callback finds a finished session.
                    let ended = sqlx::query(
                        "UPDATE link_sessions SET status = 'COMPLETED', finished_at = $2, pkce_verifier = NULL \
                         WHERE id = $1 AND client_id = $3 AND status = 'AUTHORIZING' AND expires_at > $2",
                    )
                    .bind(c.session_id.as_str())
                    .bind(now)
                    .bind(c.client_id.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?
                    .rows_affected()
                        == 1;
                    if !ended {
                        tx.rollback().await.map_err(store_error)?;
                        return Ok(None);
                    }
                    let user_row = sqlx::query("SELECT user_id FROM link_sessions WHERE id = $1")
                        .bind(c.session_id.as_str())
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    let user_key: String = user_row.try_get("user_id").map_err(store_error)?;

                    // Which linked account this is. A user may hold several accounts at one maker:
                    // only the same maker account is a relink. It is known by the maker's identity
                    // of the account. For a maker that does not tell (or an account linked before
                    // identities were kept), an account is taken for relinked only when the new
                    // listing holds every vehicle it had, so that taking a second person's account
                    // (which may share a car) for a relink can never drop a vehicle.
                    let linked = sqlx::query(
                        "SELECT a.id AS id, a.vendor_account_ref AS account_ref, v.vendor_vehicle_id AS vendor_vehicle_id \
                         FROM vendor_accounts a LEFT JOIN vehicles v ON v.account_id = a.id \
                         WHERE a.user_id = $1 AND a.vendor = $2 ORDER BY a.created_at, a.id",
                    )
                    .bind(&user_key)
                    .bind(c.vendor.as_str())
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    // Each account of the user at this maker: (id, the maker's identity, its vehicles).
                    let mut accounts: Vec<(String, Option<String>, Vec<String>)> = Vec::new();
                    for row in &linked {
                        let id: String = row.try_get("id").map_err(store_error)?;
                        let account_ref: Option<String> = row.try_get("account_ref").map_err(store_error)?;
                        let vehicle: Option<String> = row.try_get("vendor_vehicle_id").map_err(store_error)?;
                        if accounts.last().is_none_or(|(last, _, _)| *last != id) {
                            accounts.push((id, account_ref, Vec::new()));
                        }
                        if let (Some(v), Some(account)) = (vehicle, accounts.last_mut()) {
                            account.2.push(v);
                        }
                    }
                    let same_identity = accounts
                        .iter()
                        .find(|(_, r, _)| r.is_some() && *r == c.account_ref)
                        .map(|(id, _, _)| id.clone());
                    let kept_whole: Vec<&String> = accounts
                        .iter()
                        .filter(|(_, r, vehicles)| {
                            (r.is_none() || c.account_ref.is_none())
                                && !vehicles.is_empty()
                                && vehicles
                                    .iter()
                                    .all(|v| c.vehicles.iter().any(|n| n.vendor_vehicle_id == *v))
                        })
                        .map(|(id, _, _)| id)
                        .collect();
                    let existing = same_identity.or(match kept_whole.as_slice() {
                        [one] => Some((*one).clone()),
                        _ => None,
                    });
                    let scopes = to_json(&c.scopes)?;
                    let meta = to_json(&c.account_meta)?;
                    let access = c.tokens.access_token.as_stored();
                    let refresh = c.tokens.refresh_token.as_ref().map(|t| t.as_stored().to_owned());
                    let expires = c.tokens.expires_at.map($time::bind);
                    let (account_id, relinked) = match existing {
                        Some(id) => {
                            let id = VendorAccountId::new(id);
                            sqlx::query(
                                "UPDATE vendor_accounts SET scopes = $2, access_token = $3, refresh_token = $4, expires_at = $5, \
                                 token_version = token_version + 1, refresh_lease_until = NULL, meta = $6, is_valid = TRUE, \
                                 intervention_id = NULL, updated_at = $7, \
                                 vendor_account_ref = COALESCE($8, vendor_account_ref) WHERE id = $1",
                            )
                            .bind(id.as_str())
                            .bind(&scopes)
                            .bind(access)
                            .bind(refresh)
                            .bind(expires)
                            .bind(&meta)
                            .bind(now)
                            .bind(c.account_ref.as_deref())
                            .execute(&mut *tx)
                            .await
                            .map_err(store_error)?;
                            sqlx::query("UPDATE interventions SET resolved_at = $2 WHERE account_id = $1 AND resolved_at IS NULL")
                                .bind(id.as_str())
                                .bind(now)
                                .execute(&mut *tx)
                                .await
                                .map_err(store_error)?;
                            (id, true)
                        }
                        None => {
                            let id = VendorAccountId::generate();
                            sqlx::query(
                                "INSERT INTO vendor_accounts (id, client_id, user_id, vendor, scopes, access_token, refresh_token, \
                                 expires_at, token_version, refresh_lease_until, meta, is_valid, intervention_id, created_at, updated_at, \
                                 vendor_account_ref) \
                                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, NULL, $9, TRUE, NULL, $10, $10, $11)",
                            )
                            .bind(id.as_str())
                            .bind(c.client_id.as_str())
                            .bind(&user_key)
                            .bind(c.vendor.as_str())
                            .bind(&scopes)
                            .bind(access)
                            .bind(refresh)
                            .bind(expires)
                            .bind(&meta)
                            .bind(now)
                            .bind(c.account_ref.as_deref())
                            .execute(&mut *tx)
                            .await
                            .map_err(store_error)?;
                            (id, false)
                        }
                    };

                    let known = sqlx::query("SELECT id, vendor_vehicle_id FROM vehicles WHERE account_id = $1")
                        .bind(account_id.as_str())
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    let mut known_ids = Vec::with_capacity(known.len());
                    for row in &known {
                        let id: String = row.try_get("id").map_err(store_error)?;
                        let vendor_id: String = row.try_get("vendor_vehicle_id").map_err(store_error)?;
                        known_ids.push((id, vendor_id));
                    }

                    let mut vehicle_ids = Vec::with_capacity(c.vehicles.len());
                    for vehicle in &c.vehicles {
                        let information = to_json(&vehicle.information)?;
                        let capabilities = to_json(&vehicle.capabilities)?;
                        let vehicle_meta = to_json(&vehicle.meta)?;
                        let found = known_ids
                            .iter()
                            .find(|(_, vendor_id)| *vendor_id == vehicle.vendor_vehicle_id)
                            .map(|(id, _)| id.clone());
                        let id = match found {
                            Some(id) => {
                                // A re-linked vehicle keeps its id and history; it is read again at once.
                                sqlx::query(
                                    "UPDATE vehicles SET information = $2, model_capabilities = $3, vendor_meta = $4, \
                                     next_poll_at = $5, not_before = NULL, poll_failures = 0, poll_requested = TRUE, \
                                     last_poll_error = NULL, updated_at = $5 WHERE id = $1",
                                )
                                .bind(&id)
                                .bind(&information)
                                .bind(&capabilities)
                                .bind(&vehicle_meta)
                                .bind(now)
                                .execute(&mut *tx)
                                .await
                                .map_err(store_error)?;
                                Self::append_event(&mut tx, EventType::VehicleUpdated, &id, &["information", "capabilities"]).await?;
                                VehicleId::new(id)
                            }
                            None => {
                                let id = VehicleId::generate();
                                sqlx::query(
                                    "INSERT INTO vehicles (id, client_id, user_id, account_id, vendor, vendor_vehicle_id, \
                                     information, charge_state, location, model_capabilities, vendor_meta, last_seen, \
                                     is_reachable, next_poll_at, not_before, poll_requested, poll_failures, polls_on_day, \
                                     budget_day, last_poll_error, poll_lease_until, created_at, updated_at) \
                                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, NULL, $12, NULL, TRUE, 0, 0, \
                                     $13, NULL, NULL, $12, $12)",
                                )
                                .bind(id.as_str())
                                .bind(c.client_id.as_str())
                                .bind(&user_key)
                                .bind(account_id.as_str())
                                .bind(c.vendor.as_str())
                                .bind(&vehicle.vendor_vehicle_id)
                                .bind(&information)
                                .bind(to_json(&ChargeState::default())?)
                                .bind(to_json(&Location::default())?)
                                .bind(&capabilities)
                                .bind(&vehicle_meta)
                                .bind(now)
                                .bind(utc_day(c.now))
                                .execute(&mut *tx)
                                .await
                                .map_err(store_error)?;
                                Self::append_event(&mut tx, EventType::VehicleDiscovered, id.as_str(), &[]).await?;
                                id
                            }
                        };
                        vehicle_ids.push(id);
                    }

                    // Vehicles the account no longer lists cannot be read with these credentials.
                    for (id, _) in &known_ids {
                        if !vehicle_ids.iter().any(|kept| kept.as_str() == id) {
                            Self::append_event(&mut tx, EventType::VehicleDeleted, id, &[]).await?;
                            sqlx::query("DELETE FROM vehicles WHERE id = $1")
                                .bind(id)
                                .execute(&mut *tx)
                                .await
                                .map_err(store_error)?;
                        }
                    }
                    tx.commit().await.map_err(store_error)?;
                    Ok(Some(LinkedAccount {
                        account_id,
                        relinked,
                        vehicle_ids,
                    }))
                }
            }
        };
    };
}

pub(crate) use impl_link_session_store;
