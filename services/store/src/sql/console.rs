//! Logins to the console and their signed-in sessions.

/// Implements [`coupler_core::ConsoleStore`] for `$store` (rows `$row`, times through `$time`).
macro_rules! impl_console_store {
    ($store:ident, $row:ty, $time:ident) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use coupler_core::console::{ConsoleLogin, ConsoleLoginId, ConsoleSession};
            use coupler_core::secret::SecretHash;
            use coupler_core::{ClientId, ConsoleStore, StoreError};
            use sqlx::Row;

            use crate::store_error;

            const LOGIN_COLUMNS: &str = "l.id, l.client_id, l.email, l.password_hash, l.created_at";

            fn login_from_row(row: &$row) -> Result<ConsoleLogin, sqlx::Error> {
                Ok(ConsoleLogin {
                    id: ConsoleLoginId::new(row.try_get::<String, _>("id")?),
                    client_id: ClientId::new(row.try_get::<String, _>("client_id")?),
                    email: row.try_get("email")?,
                    password_hash: row.try_get("password_hash")?,
                    created_at: $time::read(row, "created_at")?,
                })
            }

            #[async_trait]
            impl ConsoleStore for $store {
                async fn insert_console_login(&self, login: &ConsoleLogin) -> Result<(), StoreError> {
                    let inserted = sqlx::query(
                        "INSERT INTO console_logins (id, client_id, email, password_hash, created_at) \
                         SELECT $1, id, $3, $4, $5 FROM clients WHERE id = $2",
                    )
                    .bind(login.id.as_str())
                    .bind(login.client_id.as_str())
                    .bind(&login.email)
                    .bind(&login.password_hash)
                    .bind($time::bind(login.created_at))
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?
                    .rows_affected();
                    if inserted == 0 {
                        return Err(StoreError::Conflict(format!("there is no client '{}'", login.client_id)));
                    }
                    Ok(())
                }

                async fn console_login_by_email(&self, email: &str) -> Result<Option<ConsoleLogin>, StoreError> {
                    let sql = format!(
                        "SELECT {LOGIN_COLUMNS} FROM console_logins l JOIN clients c ON c.id = l.client_id \
                         WHERE l.email = $1 AND c.revoked_at IS NULL"
                    );
                    let row = sqlx::query(&sql)
                        .bind(email)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_error)?;
                    row.as_ref().map(login_from_row).transpose().map_err(store_error)
                }

                async fn list_console_logins(&self, client: &ClientId) -> Result<Vec<ConsoleLogin>, StoreError> {
                    let sql = format!(
                        "SELECT {LOGIN_COLUMNS} FROM console_logins l WHERE l.client_id = $1 ORDER BY l.created_at, l.id"
                    );
                    let rows = sqlx::query(&sql)
                        .bind(client.as_str())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(store_error)?;
                    rows.iter().map(login_from_row).collect::<Result<_, _>>().map_err(store_error)
                }

                async fn delete_console_login(&self, client: &ClientId, email: &str) -> Result<bool, StoreError> {
                    // Sessions go with the login (ON DELETE CASCADE).
                    let deleted = sqlx::query("DELETE FROM console_logins WHERE client_id = $1 AND email = $2")
                        .bind(client.as_str())
                        .bind(email)
                        .execute(&self.pool)
                        .await
                        .map_err(store_error)?
                        .rows_affected();
                    Ok(deleted > 0)
                }

                async fn insert_console_session(&self, session: &ConsoleSession) -> Result<(), StoreError> {
                    let inserted = sqlx::query(
                        "INSERT INTO console_sessions (token_hash, login_id, client_id, created_at, expires_at) \
                         SELECT $1, id, client_id, $4, $5 FROM console_logins WHERE id = $2 AND client_id = $3",
                    )
                    .bind(session.token_hash.as_str())
                    .bind(session.login_id.as_str())
                    .bind(session.client_id.as_str())
                    .bind($time::bind(session.created_at))
                    .bind($time::bind(session.expires_at))
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?
                    .rows_affected();
                    if inserted == 0 {
                        return Err(StoreError::Conflict("the login no longer exists".to_owned()));
                    }
                    Ok(())
                }

                async fn console_session(
                    &self,
                    token_hash: &SecretHash,
                    now: DateTime<Utc>,
                ) -> Result<Option<ConsoleSession>, StoreError> {
                    let row = sqlx::query(
                        "SELECT s.token_hash, s.login_id, s.client_id, l.email, s.created_at, s.expires_at \
                         FROM console_sessions s JOIN console_logins l ON l.id = s.login_id \
                         JOIN clients c ON c.id = s.client_id \
                         WHERE s.token_hash = $1 AND s.expires_at > $2 AND c.revoked_at IS NULL",
                    )
                    .bind(token_hash.as_str())
                    .bind($time::bind(now))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(store_error)?;
                    let Some(row) = row else { return Ok(None) };
                    let session = (|| -> Result<ConsoleSession, sqlx::Error> {
                        Ok(ConsoleSession {
                            token_hash: SecretHash::from_stored(row.try_get::<String, _>("token_hash")?),
                            login_id: ConsoleLoginId::new(row.try_get::<String, _>("login_id")?),
                            client_id: ClientId::new(row.try_get::<String, _>("client_id")?),
                            email: row.try_get("email")?,
                            created_at: $time::read(&row, "created_at")?,
                            expires_at: $time::read(&row, "expires_at")?,
                        })
                    })()
                    .map_err(store_error)?;
                    Ok(Some(session))
                }

                async fn delete_console_session(&self, token_hash: &SecretHash) -> Result<bool, StoreError> {
                    let deleted = sqlx::query("DELETE FROM console_sessions WHERE token_hash = $1")
                        .bind(token_hash.as_str())
                        .execute(&self.pool)
                        .await
                        .map_err(store_error)?
                        .rows_affected();
                    Ok(deleted > 0)
                }

                async fn delete_expired_console_sessions(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
                    let deleted = sqlx::query("DELETE FROM console_sessions WHERE expires_at < $1")
                        .bind($time::bind(before))
                        .execute(&self.pool)
                        .await
                        .map_err(store_error)?
                        .rows_affected();
                    Ok(deleted)
                }
            }
        };
    };
}

pub(crate) use impl_console_store;
