//! Enrolment sessions of the hosted enrolment page, and the transaction that turns a driver's
//! consent into enrolments.

/// Implements [`coupler_core::EnrolmentSessionStore`] for `$store` (rows `$row`, times through `$time`).
macro_rules! impl_enrolment_session_store {
    ($store:ident, $row:ty, $time:ident) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use coupler_core::account::SealedToken;
            use coupler_core::flex::{
                ConsentTerms, EnrolledDevice, Enrolment, EnrolmentId, EnrolmentSession, EnrolmentSessionId,
                EnrolmentSessionStatus, FlexDeviceKind, ProgramId,
            };
            use coupler_core::secret::SecretHash;
            use coupler_core::{ClientId, EnrolmentSessionStore, StoreError, UserId};
            use sqlx::Row;

            use crate::store_error;

            const SELECT: &str = "SELECT s.id, s.client_id, s.program_id, u.external_id, s.token_hash, s.devices, \
                 s.consent, s.redirect_uri, s.language, s.csrf_token, s.status, s.enrolment_ids, s.created_at, \
                 s.expires_at, s.finished_at FROM enrolment_sessions s JOIN users u ON u.id = s.user_id";

            fn decode(what: impl std::fmt::Display) -> sqlx::Error {
                sqlx::Error::Decode(what.to_string().into())
            }

            fn json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
                serde_json::to_string(value).map_err(|e| StoreError::Backend(e.to_string()))
            }

            fn from_json<T: serde::de::DeserializeOwned>(row: &$row, column: &str) -> Result<T, sqlx::Error> {
                let text: String = row.try_get(column)?;
                serde_json::from_str(&text).map_err(|e| decode(format!("{column}: {e}")))
            }

            /// A device as the `devices` column keeps it.
            #[derive(serde::Serialize, serde::Deserialize)]
            struct StoredDevice {
                kind: FlexDeviceKind,
                id: String,
            }

            fn session_from_row(row: &$row) -> Result<EnrolmentSession, sqlx::Error> {
                let user: String = row.try_get("external_id")?;
                let status: String = row.try_get("status")?;
                let devices: Vec<StoredDevice> = from_json(row, "devices")?;
                let enrolments: Vec<String> = from_json(row, "enrolment_ids")?;
                Ok(EnrolmentSession {
                    id: EnrolmentSessionId::new(row.try_get::<String, _>("id")?),
                    client_id: ClientId::new(row.try_get::<String, _>("client_id")?),
                    program_id: ProgramId::new(row.try_get::<String, _>("program_id")?),
                    user_id: UserId::parse(&user).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                    token_hash: SecretHash::from_stored(row.try_get::<String, _>("token_hash")?),
                    devices: devices
                        .into_iter()
                        .map(|d| EnrolledDevice { kind: d.kind, id: d.id })
                        .collect(),
                    consent: from_json::<ConsentTerms>(row, "consent")?,
                    redirect_uri: row.try_get("redirect_uri")?,
                    language: row.try_get("language")?,
                    csrf_token: SealedToken::from_stored(row.try_get::<String, _>("csrf_token")?),
                    status: EnrolmentSessionStatus::parse(&status).ok_or_else(|| decode(format!("status {status:?}")))?,
                    enrolment_ids: enrolments.into_iter().map(EnrolmentId::new).collect(),
                    created_at: $time::read(row, "created_at")?,
                    expires_at: $time::read(row, "expires_at")?,
                    finished_at: $time::read_opt(row, "finished_at")?,
                })
            }

            #[async_trait]
            impl EnrolmentSessionStore for $store {
                async fn insert_enrolment_session(&self, session: &EnrolmentSession) -> Result<(), StoreError> {
                    let devices: Vec<StoredDevice> = session
                        .devices
                        .iter()
                        .map(|d| StoredDevice { kind: d.kind, id: d.id.clone() })
                        .collect();
                    let enrolments: Vec<&str> = session.enrolment_ids.iter().map(EnrolmentId::as_str).collect();
                    let inserted = sqlx::query(
                        "INSERT INTO enrolment_sessions (id, client_id, program_id, user_id, token_hash, devices, consent, \
                         redirect_uri, language, csrf_token, status, enrolment_ids, created_at, expires_at, finished_at) \
                         SELECT $1, $2, p.id, u.id, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15 \
                         FROM users u JOIN flex_programs p ON p.client_id = u.client_id \
                         WHERE u.client_id = $2 AND p.id = $3 AND u.external_id = $4",
                    )
                    .bind(session.id.as_str())
                    .bind(session.client_id.as_str())
                    .bind(session.program_id.as_str())
                    .bind(session.user_id.as_str())
                    .bind(session.token_hash.as_str())
                    .bind(json(&devices)?)
                    .bind(json(&session.consent)?)
                    .bind(&session.redirect_uri)
                    .bind(&session.language)
                    .bind(session.csrf_token.as_stored())
                    .bind(session.status.as_str())
                    .bind(json(&enrolments)?)
                    .bind($time::bind(session.created_at))
                    .bind($time::bind(session.expires_at))
                    .bind(session.finished_at.map($time::bind))
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?
                    .rows_affected();
                    if inserted == 0 {
                        return Err(StoreError::Conflict("the user or the program is not the client's".to_owned()));
                    }
                    Ok(())
                }

                async fn get_enrolment_session_by_token(
                    &self,
                    token_hash: &SecretHash,
                ) -> Result<Option<EnrolmentSession>, StoreError> {
                    let row = sqlx::query(&format!("{SELECT} WHERE s.token_hash = $1"))
                        .bind(token_hash.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_error)?;
                    row.as_ref().map(session_from_row).transpose().map_err(store_error)
                }

                async fn complete_enrolment_session(
                    &self,
                    id: &EnrolmentSessionId,
                    enrolments: &[Enrolment],
                    now: DateTime<Utc>,
                ) -> Result<bool, StoreError> {
                    let ids: Vec<&str> = enrolments.iter().map(|e| e.id.as_str()).collect();
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    // The session first: this write takes the lock, so only one form can end it.
                    let ended = sqlx::query(
                        "UPDATE enrolment_sessions SET status = 'COMPLETED', enrolment_ids = $2, finished_at = $3 \
                         WHERE id = $1 AND status = 'OPEN' AND expires_at > $3",
                    )
                    .bind(id.as_str())
                    .bind(json(&ids)?)
                    .bind($time::bind(now))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?
                    .rows_affected()
                        == 1;
                    if !ended {
                        tx.rollback().await.map_err(store_error)?;
                        return Ok(false);
                    }
                    for enrolment in enrolments {
                        // An error drops the transaction, and with it the session's end.
                        Self::insert_enrolment_in(&mut tx, enrolment).await?;
                    }
                    tx.commit().await.map_err(store_error)?;
                    Ok(true)
                }

                async fn end_enrolment_session(
                    &self,
                    id: &EnrolmentSessionId,
                    status: EnrolmentSessionStatus,
                    now: DateTime<Utc>,
                ) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "UPDATE enrolment_sessions SET status = $2, finished_at = $3 WHERE id = $1 AND status = 'OPEN'",
                    )
                    .bind(id.as_str())
                    .bind(status.as_str())
                    .bind($time::bind(now))
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                    Ok(done.rows_affected() == 1)
                }
            }
        };
    };
}

pub(crate) use impl_enrolment_session_store;
