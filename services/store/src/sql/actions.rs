//! Actions and their attempts.

/// Implements [`coupler_core::ActionStore`] for `$store` (rows `$row`, times through `$time`).
macro_rules! impl_action_store {
    ($store:ident, $row:ty, $time:ident) => {
        const _: () = {
            use async_trait::async_trait;
            use coupler_core::action::{Action, ActionId, ActionKind, ActionState, DeviceKind, FailureReason, FailureType};
            use coupler_core::{ActionStore, ClientId, StoreError, UserId};
            use sqlx::Row;
            use coupler_core::event::EventType;

            use crate::store_error;

            const COLUMNS: &str = "a.id, a.client_id, u.external_id, a.target_type, a.target_id, a.kind, \
                 a.target_state, a.state, a.failure_type, a.failure_detail, a.attempts, a.idempotency_key, \
                 a.created_at, a.updated_at, a.completed_at, a.deadline";

            fn decode<T>(column: &str, value: Option<T>) -> Result<T, sqlx::Error> {
                value.ok_or_else(|| sqlx::Error::Decode(format!("{column} holds an unknown value").into()))
            }

            fn json<T: serde::de::DeserializeOwned>(column: &str, text: &str) -> Result<T, sqlx::Error> {
                serde_json::from_str(text).map_err(|e| sqlx::Error::Decode(format!("{column}: {e}").into()))
            }

            fn action_from_row(row: &$row) -> Result<Action, sqlx::Error> {
                let failure_type: Option<String> = row.try_get("failure_type")?;
                let failure_reason = match failure_type {
                    Some(kind) => Some(FailureReason {
                        kind: decode("failure_type", FailureType::parse(&kind))?,
                        detail: row.try_get::<Option<String>, _>("failure_detail")?.unwrap_or_default(),
                    }),
                    None => None,
                };
                let user: String = row.try_get("external_id")?;
                Ok(Action {
                    id: ActionId::new(row.try_get::<String, _>("id")?),
                    client_id: ClientId::new(row.try_get::<String, _>("client_id")?),
                    user_id: UserId::parse(&user).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                    target_type: decode("target_type", DeviceKind::parse(row.try_get("target_type")?))?,
                    target_id: row.try_get("target_id")?,
                    kind: decode("kind", ActionKind::parse(row.try_get("kind")?))?,
                    target_state: json("target_state", row.try_get("target_state")?)?,
                    state: decode("state", ActionState::parse(row.try_get("state")?))?,
                    failure_reason,
                    attempts: json("attempts", row.try_get("attempts")?)?,
                    idempotency_key: row.try_get("idempotency_key")?,
                    created_at: $time::read(row, "created_at")?,
                    updated_at: $time::read(row, "updated_at")?,
                    completed_at: $time::read_opt(row, "completed_at")?,
                    deadline: $time::read(row, "deadline")?,
                })
            }

            fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
                serde_json::to_string(value).map_err(|e| StoreError::Backend(e.to_string()))
            }

            impl $store {
                async fn fetch_actions(&self, filter: &str, binds: &[&str]) -> Result<Vec<Action>, StoreError> {
                    let sql = format!(
                        "SELECT {COLUMNS} FROM actions a JOIN users u ON u.id = a.user_id WHERE {filter} ORDER BY a.created_at, a.id"
                    );
                    let mut query = sqlx::query(&sql);
                    for bind in binds {
                        query = query.bind(*bind);
                    }
                    let rows = query.fetch_all(&self.pool).await.map_err(store_error)?;
                    rows.iter().map(action_from_row).collect::<Result<_, _>>().map_err(store_error)
                }
            }

            #[async_trait]
            impl ActionStore for $store {
                async fn recent_actions(&self, client: &ClientId, limit: u32) -> Result<Vec<Action>, StoreError> {
                    let sql = format!(
                        "SELECT {COLUMNS} FROM actions a JOIN users u ON u.id = a.user_id WHERE a.client_id = $1 \
                         ORDER BY a.created_at DESC, a.id DESC LIMIT $2"
                    );
                    let rows = sqlx::query(&sql)
                        .bind(client.as_str())
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(store_error)?;
                    rows.iter().map(action_from_row).collect::<Result<_, _>>().map_err(store_error)
                }

                async fn insert_action(&self, action: &Action) -> Result<(), StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let inserted = sqlx::query(
                        "INSERT INTO actions (id, client_id, user_id, target_type, target_id, kind, target_state, state, \
                         failure_type, failure_detail, attempts, idempotency_key, created_at, updated_at, completed_at, deadline) \
                         SELECT $1, $2, u.id, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16 \
                         FROM users u WHERE u.client_id = $2 AND u.external_id = $3",
                    )
                    .bind(action.id.as_str())
                    .bind(action.client_id.as_str())
                    .bind(action.user_id.as_str())
                    .bind(action.target_type.as_str())
                    .bind(&action.target_id)
                    .bind(action.kind.as_str())
                    .bind(to_json(&action.target_state)?)
                    .bind(action.state.as_str())
                    .bind(action.failure_reason.as_ref().map(|r| r.kind.as_str()))
                    .bind(action.failure_reason.as_ref().map(|r| r.detail.clone()))
                    .bind(to_json(&action.attempts)?)
                    .bind(action.idempotency_key.as_deref())
                    .bind($time::bind(action.created_at))
                    .bind($time::bind(action.updated_at))
                    .bind(action.completed_at.map($time::bind))
                    .bind($time::bind(action.deadline))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?
                    .rows_affected();
                    if inserted == 0 {
                        return Err(StoreError::Conflict(format!("no user '{}' for this client", action.user_id)));
                    }
                    Self::append_event(&mut tx, EventType::VendorActionUpdated, action.id.as_str(), &["state"]).await?;
                    tx.commit().await.map_err(store_error)
                }

                async fn get_action(&self, client: &ClientId, id: &ActionId) -> Result<Option<Action>, StoreError> {
                    let found = self.fetch_actions("a.client_id = $1 AND a.id = $2", &[client.as_str(), id.as_str()]).await?;
                    Ok(found.into_iter().next())
                }

                async fn find_action_by_idempotency_key(&self, client: &ClientId, key: &str) -> Result<Option<Action>, StoreError> {
                    let found = self.fetch_actions("a.client_id = $1 AND a.idempotency_key = $2", &[client.as_str(), key]).await?;
                    Ok(found.into_iter().next())
                }

                async fn update_action(&self, action: &Action) -> Result<bool, StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let before = sqlx::query("SELECT state, attempts FROM actions WHERE id = $1 AND state = 'PENDING'")
                        .bind(action.id.as_str())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    let updated = sqlx::query(
                        "UPDATE actions SET state = $2, failure_type = $3, failure_detail = $4, attempts = $5, \
                         updated_at = $6, completed_at = $7 WHERE id = $1 AND state = 'PENDING'",
                    )
                    .bind(action.id.as_str())
                    .bind(action.state.as_str())
                    .bind(action.failure_reason.as_ref().map(|r| r.kind.as_str()))
                    .bind(action.failure_reason.as_ref().map(|r| r.detail.clone()))
                    .bind(to_json(&action.attempts)?)
                    .bind($time::bind(action.updated_at))
                    .bind(action.completed_at.map($time::bind))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?
                    .rows_affected();
                    if let (true, Some(before)) = (updated > 0, before) {
                        let mut changed = Vec::new();
                        if before.try_get::<String, _>("state").map_err(store_error)? != action.state.as_str() {
                            changed.extend(["state", "failureReason", "completedAt"]);
                        }
                        if before.try_get::<String, _>("attempts").map_err(store_error)? != to_json(&action.attempts)? {
                            changed.push("attempts");
                        }
                        if !changed.is_empty() {
                            Self::append_event(&mut tx, EventType::VendorActionUpdated, action.id.as_str(), &changed).await?;
                        }
                    }
                    tx.commit().await.map_err(store_error)?;
                    Ok(updated > 0)
                }

                async fn pending_actions(&self) -> Result<Vec<Action>, StoreError> {
                    self.fetch_actions("a.state = 'PENDING'", &[]).await
                }

                async fn lease_action(
                    &self,
                    id: &ActionId,
                    holder: &str,
                    until: chrono::DateTime<chrono::Utc>,
                    now: chrono::DateTime<chrono::Utc>,
                ) -> Result<bool, StoreError> {
                    // One conditional statement: two runners racing for it cannot both win.
                    let taken = sqlx::query(
                        "UPDATE actions SET lease_holder = $2, lease_until = $3 WHERE id = $1 AND state = 'PENDING' \
                         AND (lease_holder IS NULL OR lease_holder = $2 OR lease_until IS NULL OR lease_until <= $4)",
                    )
                    .bind(id.as_str())
                    .bind(holder)
                    .bind($time::bind(until))
                    .bind($time::bind(now))
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?
                    .rows_affected();
                    Ok(taken > 0)
                }

                async fn release_action(&self, id: &ActionId, holder: &str) -> Result<(), StoreError> {
                    sqlx::query("UPDATE actions SET lease_holder = NULL, lease_until = NULL WHERE id = $1 AND lease_holder = $2")
                        .bind(id.as_str())
                        .bind(holder)
                        .execute(&self.pool)
                        .await
                        .map_err(store_error)?;
                    Ok(())
                }

                async fn hand_over_action(
                    &self,
                    id: &ActionId,
                    from: &str,
                    to: &str,
                    until: chrono::DateTime<chrono::Utc>,
                ) -> Result<bool, StoreError> {
                    let handed = sqlx::query(
                        "UPDATE actions SET lease_holder = $3, lease_until = $4 WHERE id = $1 AND state = 'PENDING' AND lease_holder = $2",
                    )
                    .bind(id.as_str())
                    .bind(from)
                    .bind(to)
                    .bind($time::bind(until))
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?
                    .rows_affected();
                    Ok(handed > 0)
                }

                async fn pending_actions_for(&self, target_type: DeviceKind, target_id: &str) -> Result<Vec<Action>, StoreError> {
                    self.fetch_actions(
                        "a.state = 'PENDING' AND a.target_type = $1 AND a.target_id = $2",
                        &[target_type.as_str(), target_id],
                    )
                    .await
                }
            }
        };
    };
}

pub(crate) use impl_action_store;
