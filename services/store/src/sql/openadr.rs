//! Programs bound to OpenADR 3 VTNs, and what became of each VTN event interval.

/// Implements [`coupler_core::VtnStore`] for `$store` (rows `$row`, times through `$time`).
macro_rules! impl_vtn_store {
    ($store:ident, $row:ty, $time:ident) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use coupler_core::flex::{FlexEventId, ProgramId};
            use coupler_core::openadr::{VtnBinding, VtnEventLink, VtnSettings, VtnStatus};
            use coupler_core::{ClientId, StoreError, VtnStore};
            use sqlx::Row;

            use crate::store_error;

            const BINDING_SELECT: &str = "SELECT program_id, client_id, settings, client_secret_sealed, callback_token_sealed, \
                ven_id, vtn_program_id, subscription_id, last_poll_at, last_success_at, last_error, failures, next_poll_at, \
                wakes, created_at, updated_at FROM openadr_vtn_bindings";
            const LINK_SELECT: &str = "SELECT program_id, vtn_event_id, interval_id, flex_event_id, fingerprint, outcome, \
                report_id, report_fingerprint, gone_at, updated_at FROM openadr_vtn_events";

            fn binding_from_row(row: &$row) -> Result<VtnBinding, sqlx::Error> {
                let settings: String = row.try_get("settings")?;
                let settings: VtnSettings = serde_json::from_str(&settings)
                    .map_err(|e| sqlx::Error::Decode(format!("settings: {e}").into()))?;
                let failures: i64 = row.try_get::<i64, _>("failures").or_else(|_| row.try_get::<i32, _>("failures").map(i64::from))?;
                Ok(VtnBinding {
                    program_id: ProgramId::new(row.try_get::<String, _>("program_id")?),
                    client_id: ClientId::new(row.try_get::<String, _>("client_id")?),
                    settings,
                    client_secret_sealed: row.try_get("client_secret_sealed")?,
                    callback_token_sealed: row.try_get("callback_token_sealed")?,
                    ven_id: row.try_get("ven_id")?,
                    vtn_program_id: row.try_get("vtn_program_id")?,
                    subscription_id: row.try_get("subscription_id")?,
                    status: VtnStatus {
                        last_poll_at: $time::read_opt(row, "last_poll_at")?,
                        last_success_at: $time::read_opt(row, "last_success_at")?,
                        last_error: row.try_get("last_error")?,
                        failures: u32::try_from(failures).unwrap_or(0),
                        next_poll_at: $time::read(row, "next_poll_at")?,
                    },
                    wakes: row.try_get("wakes")?,
                    created_at: $time::read(row, "created_at")?,
                    updated_at: $time::read(row, "updated_at")?,
                })
            }

            fn link_from_row(row: &$row) -> Result<VtnEventLink, sqlx::Error> {
                Ok(VtnEventLink {
                    program_id: ProgramId::new(row.try_get::<String, _>("program_id")?),
                    vtn_event_id: row.try_get("vtn_event_id")?,
                    interval_id: row.try_get("interval_id")?,
                    flex_event_id: row.try_get::<Option<String>, _>("flex_event_id")?.map(FlexEventId::new),
                    fingerprint: row.try_get("fingerprint")?,
                    outcome: row.try_get("outcome")?,
                    report_id: row.try_get("report_id")?,
                    report_fingerprint: row.try_get("report_fingerprint")?,
                    gone_at: $time::read_opt(row, "gone_at")?,
                    updated_at: $time::read(row, "updated_at")?,
                })
            }

            #[async_trait]
            impl VtnStore for $store {
                async fn put_vtn_binding(&self, binding: &VtnBinding, keep_state: bool) -> Result<(), StoreError> {
                    let settings =
                        serde_json::to_string(&binding.settings).map_err(|e| StoreError::Backend(e.to_string()))?;
                    // A rebinding to another VTN forgets what the old one said (its VEN, program
                    // and subscription ids); the same VTN keeps them.
                    let on_conflict = if keep_state {
                        "settings = excluded.settings, client_secret_sealed = excluded.client_secret_sealed, \
                         callback_token_sealed = excluded.callback_token_sealed, next_poll_at = excluded.next_poll_at, wakes = openadr_vtn_bindings.wakes + 1, \
                         updated_at = excluded.updated_at"
                    } else {
                        "settings = excluded.settings, client_secret_sealed = excluded.client_secret_sealed, \
                         callback_token_sealed = excluded.callback_token_sealed, ven_id = NULL, vtn_program_id = NULL, \
                         subscription_id = NULL, last_error = NULL, failures = 0, next_poll_at = excluded.next_poll_at, wakes = openadr_vtn_bindings.wakes + 1, \
                         updated_at = excluded.updated_at"
                    };
                    sqlx::query(&format!(
                        "INSERT INTO openadr_vtn_bindings (program_id, client_id, settings, client_secret_sealed, \
                         callback_token_sealed, ven_id, vtn_program_id, subscription_id, failures, next_poll_at, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $10, $11) \
                         ON CONFLICT (program_id) DO UPDATE SET {on_conflict}"
                    ))
                    .bind(binding.program_id.as_str())
                    .bind(binding.client_id.as_str())
                    .bind(settings)
                    .bind(binding.client_secret_sealed.as_deref())
                    .bind(binding.callback_token_sealed.as_str())
                    .bind(binding.ven_id.as_deref())
                    .bind(binding.vtn_program_id.as_deref())
                    .bind(binding.subscription_id.as_deref())
                    .bind($time::bind(binding.status.next_poll_at))
                    .bind($time::bind(binding.created_at))
                    .bind($time::bind(binding.updated_at))
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                    Ok(())
                }

                async fn get_vtn_binding(
                    &self,
                    client: &ClientId,
                    program: &ProgramId,
                ) -> Result<Option<VtnBinding>, StoreError> {
                    let row = sqlx::query(&format!("{BINDING_SELECT} WHERE client_id = $1 AND program_id = $2"))
                        .bind(client.as_str())
                        .bind(program.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_error)?;
                    row.as_ref().map(binding_from_row).transpose().map_err(store_error)
                }

                async fn vtn_binding_of_program(&self, program: &ProgramId) -> Result<Option<VtnBinding>, StoreError> {
                    let row = sqlx::query(&format!("{BINDING_SELECT} WHERE program_id = $1"))
                        .bind(program.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_error)?;
                    row.as_ref().map(binding_from_row).transpose().map_err(store_error)
                }

                async fn delete_vtn_binding(&self, client: &ClientId, program: &ProgramId) -> Result<bool, StoreError> {
                    let done = sqlx::query("DELETE FROM openadr_vtn_bindings WHERE client_id = $1 AND program_id = $2")
                        .bind(client.as_str())
                        .bind(program.as_str())
                        .execute(&self.pool)
                        .await
                        .map_err(store_error)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn due_vtn_bindings(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<ProgramId>, StoreError> {
                    let rows = sqlx::query(
                        "SELECT program_id FROM openadr_vtn_bindings WHERE next_poll_at <= $1 ORDER BY next_poll_at LIMIT $2",
                    )
                    .bind($time::bind(now))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_error)?;
                    rows.iter()
                        .map(|r| r.try_get::<String, _>("program_id").map(ProgramId::new))
                        .collect::<Result<_, _>>()
                        .map_err(store_error)
                }

                async fn next_vtn_poll(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
                    let row = sqlx::query("SELECT MIN(next_poll_at) AS next FROM openadr_vtn_bindings")
                        .fetch_one(&self.pool)
                        .await
                        .map_err(store_error)?;
                    $time::read_opt(&row, "next").map_err(store_error)
                }

                async fn save_vtn_state(
                    &self,
                    program: &ProgramId,
                    wakes_seen: i64,
                    ven_id: Option<&str>,
                    vtn_program_id: Option<&str>,
                    subscription_id: Option<&str>,
                    status: &VtnStatus,
                ) -> Result<(), StoreError> {
                    sqlx::query(
                        "UPDATE openadr_vtn_bindings SET ven_id = $2, vtn_program_id = $3, subscription_id = $4, \
                         last_poll_at = $5, last_success_at = $6, last_error = $7, failures = $8, \
                         next_poll_at = CASE WHEN wakes <> $10 THEN next_poll_at ELSE $9 END \
                         WHERE program_id = $1",
                    )
                    .bind(program.as_str())
                    .bind(ven_id)
                    .bind(vtn_program_id)
                    .bind(subscription_id)
                    .bind(status.last_poll_at.map($time::bind))
                    .bind(status.last_success_at.map($time::bind))
                    .bind(status.last_error.as_deref())
                    .bind(i64::from(status.failures))
                    .bind($time::bind(status.next_poll_at))
                    .bind(wakes_seen)
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                    Ok(())
                }

                async fn wake_vtn_binding(&self, program: &ProgramId, at: DateTime<Utc>) -> Result<(), StoreError> {
                    sqlx::query(
                        "UPDATE openadr_vtn_bindings SET wakes = wakes + 1, \
                         next_poll_at = CASE WHEN next_poll_at > $2 THEN $2 ELSE next_poll_at END WHERE program_id = $1",
                    )
                        .bind(program.as_str())
                        .bind($time::bind(at))
                        .execute(&self.pool)
                        .await
                        .map_err(store_error)?;
                    Ok(())
                }

                async fn vtn_event_links(&self, program: &ProgramId) -> Result<Vec<VtnEventLink>, StoreError> {
                    let rows = sqlx::query(&format!(
                        "{LINK_SELECT} WHERE program_id = $1 ORDER BY vtn_event_id, interval_id"
                    ))
                    .bind(program.as_str())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_error)?;
                    rows.iter()
                        .map(link_from_row)
                        .collect::<Result<_, _>>()
                        .map_err(store_error)
                }

                async fn save_vtn_event_link(&self, link: &VtnEventLink) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO openadr_vtn_events (program_id, vtn_event_id, interval_id, flex_event_id, fingerprint, \
                         outcome, report_id, report_fingerprint, gone_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                         ON CONFLICT (program_id, vtn_event_id, interval_id) DO UPDATE SET \
                         flex_event_id = excluded.flex_event_id, fingerprint = excluded.fingerprint, \
                         outcome = excluded.outcome, report_id = excluded.report_id, \
                         report_fingerprint = excluded.report_fingerprint, gone_at = excluded.gone_at, \
                         updated_at = excluded.updated_at",
                    )
                    .bind(link.program_id.as_str())
                    .bind(&link.vtn_event_id)
                    .bind(link.interval_id)
                    .bind(link.flex_event_id.as_ref().map(|id| id.as_str().to_owned()))
                    .bind(&link.fingerprint)
                    .bind(link.outcome.as_deref())
                    .bind(link.report_id.as_deref())
                    .bind(link.report_fingerprint.as_deref())
                    .bind(link.gone_at.map($time::bind))
                    .bind($time::bind(link.updated_at))
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                    Ok(())
                }
            }
        };
    };
}

pub(crate) use impl_vtn_store;
