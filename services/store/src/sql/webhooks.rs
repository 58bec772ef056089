//! Webhooks, their cursors and leases, and their deliveries.

/// Implements [`coupler_core::WebhookStore`] for `$store` (rows `$row`, times through `$time`).
macro_rules! impl_webhook_store {
    ($store:ident, $row:ty, $time:ident) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use coupler_core::event::{
                AttemptOutcome, Delivery, DeliveryId, DeliveryState, Event, EventFilter, Webhook, WebhookId,
            };
            use coupler_core::store::AfterAttempt;
            use coupler_core::{ClientId, EventStore, StoreError, WebhookStore};
            use sqlx::Row;

            use crate::store_error;

            const WEBHOOK_COLUMNS: &str = "id, client_id, url, secret_sealed, events, is_active, cursor_seq, \
                failure_count, last_success, created_at, updated_at";
            const DELIVERY_COLUMNS: &str = "id, webhook_id, first_seq, last_seq, event_count, state, attempts, \
                last_status, last_error, last_duration_ms, next_attempt_at, created_at, updated_at";

            fn decode_error(column: &str, what: impl std::fmt::Display) -> sqlx::Error {
                sqlx::Error::Decode(format!("{column}: {what}").into())
            }

            fn webhook_from_row(row: &$row) -> Result<Webhook, sqlx::Error> {
                let events: String = row.try_get("events")?;
                Ok(Webhook {
                    id: WebhookId::new(row.try_get::<String, _>("id")?),
                    client_id: ClientId::new(row.try_get::<String, _>("client_id")?),
                    url: row.try_get("url")?,
                    secret_sealed: row.try_get("secret_sealed")?,
                    events: EventFilter::from_stored(
                        serde_json::from_str(&events).map_err(|e| decode_error("events", e))?,
                    ),
                    is_active: row.try_get("is_active")?,
                    cursor_seq: row.try_get("cursor_seq")?,
                    failure_count: row.try_get("failure_count")?,
                    last_success: $time::read_opt(row, "last_success")?,
                    created_at: $time::read(row, "created_at")?,
                    updated_at: $time::read(row, "updated_at")?,
                })
            }

            fn delivery_from_row(row: &$row) -> Result<Delivery, sqlx::Error> {
                let state: String = row.try_get("state")?;
                Ok(Delivery {
                    id: DeliveryId::new(row.try_get::<String, _>("id")?),
                    webhook_id: WebhookId::new(row.try_get::<String, _>("webhook_id")?),
                    first_seq: row.try_get("first_seq")?,
                    last_seq: row.try_get("last_seq")?,
                    event_count: row.try_get("event_count")?,
                    state: DeliveryState::parse(&state).ok_or_else(|| decode_error("state", &state))?,
                    attempts: row.try_get("attempts")?,
                    last_status: row.try_get("last_status")?,
                    last_error: row.try_get("last_error")?,
                    last_duration_ms: row.try_get("last_duration_ms")?,
                    next_attempt_at: $time::read_opt(row, "next_attempt_at")?,
                    created_at: $time::read(row, "created_at")?,
                    updated_at: $time::read(row, "updated_at")?,
                })
            }

            fn filter_json(webhook: &Webhook) -> Result<String, StoreError> {
                serde_json::to_string(webhook.events.names()).map_err(|e| StoreError::Backend(e.to_string()))
            }

            impl $store {
                async fn webhook_by_id(&self, id: &WebhookId) -> Result<Option<Webhook>, StoreError> {
                    let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1");
                    let row = sqlx::query(&sql).bind(id.as_str()).fetch_optional(&self.pool).await.map_err(store_error)?;
                    row.as_ref().map(webhook_from_row).transpose().map_err(store_error)
                }
            }

            #[async_trait]
            impl WebhookStore for $store {
                async fn insert_webhook(&self, webhook: &Webhook) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO webhooks (id, client_id, url, secret_sealed, events, is_active, cursor_seq, \
                         failure_count, last_success, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    )
                    .bind(webhook.id.as_str())
                    .bind(webhook.client_id.as_str())
                    .bind(&webhook.url)
                    .bind(&webhook.secret_sealed)
                    .bind(filter_json(webhook)?)
                    .bind(webhook.is_active)
                    .bind(webhook.cursor_seq)
                    .bind(webhook.failure_count)
                    .bind(webhook.last_success.map($time::bind))
                    .bind($time::bind(webhook.created_at))
                    .bind($time::bind(webhook.updated_at))
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                    Ok(())
                }

                async fn get_webhook(&self, client: &ClientId, id: &WebhookId) -> Result<Option<Webhook>, StoreError> {
                    let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE client_id = $1 AND id = $2");
                    let row = sqlx::query(&sql)
                        .bind(client.as_str())
                        .bind(id.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_error)?;
                    row.as_ref().map(webhook_from_row).transpose().map_err(store_error)
                }

                async fn list_webhooks(&self, client: &ClientId) -> Result<Vec<Webhook>, StoreError> {
                    let sql = format!(
                        "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE client_id = $1 ORDER BY created_at DESC, id DESC"
                    );
                    let rows = sqlx::query(&sql).bind(client.as_str()).fetch_all(&self.pool).await.map_err(store_error)?;
                    rows.iter().map(webhook_from_row).collect::<Result<_, _>>().map_err(store_error)
                }

                async fn active_webhooks(&self) -> Result<Vec<(Webhook, i64)>, StoreError> {
                    let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE is_active ORDER BY id");
                    let rows = sqlx::query(&sql).fetch_all(&self.pool).await.map_err(store_error)?;
                    let webhooks: Vec<Webhook> =
                        rows.iter().map(webhook_from_row).collect::<Result<_, _>>().map_err(store_error)?;
                    let mut counted = Vec::with_capacity(webhooks.len());
                    for webhook in webhooks {
                        let (pending,): (i64,) =
                            sqlx::query_as("SELECT COUNT(*) FROM events WHERE client_id = $1 AND seq > $2")
                                .bind(webhook.client_id.as_str())
                                .bind(webhook.cursor_seq)
                                .fetch_one(&self.pool)
                                .await
                                .map_err(store_error)?;
                        counted.push((webhook, pending));
                    }
                    Ok(counted)
                }

                async fn update_webhook(&self, webhook: &Webhook) -> Result<bool, StoreError> {
                    // Turning a webhook back on forgets the failures that turned it off.
                    let done = sqlx::query(
                        "UPDATE webhooks SET url = $3, secret_sealed = $4, events = $5, \
                         failure_count = CASE WHEN $6 AND NOT is_active THEN 0 ELSE failure_count END, \
                         is_active = $6, updated_at = $7 WHERE client_id = $1 AND id = $2",
                    )
                    .bind(webhook.client_id.as_str())
                    .bind(webhook.id.as_str())
                    .bind(&webhook.url)
                    .bind(&webhook.secret_sealed)
                    .bind(filter_json(webhook)?)
                    .bind(webhook.is_active)
                    .bind($time::bind(webhook.updated_at))
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn delete_webhook(&self, client: &ClientId, id: &WebhookId) -> Result<bool, StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    sqlx::query(
                        "DELETE FROM webhook_deliveries WHERE webhook_id IN \
                         (SELECT id FROM webhooks WHERE client_id = $1 AND id = $2)",
                    )
                    .bind(client.as_str())
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    let done = sqlx::query("DELETE FROM webhooks WHERE client_id = $1 AND id = $2")
                        .bind(client.as_str())
                        .bind(id.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn claim_webhooks(
                    &self,
                    now: DateTime<Utc>,
                    lease_until: DateTime<Utc>,
                    limit: u32,
                ) -> Result<Vec<Webhook>, StoreError> {
                    let sql = format!(
                        "SELECT w.id FROM webhooks w WHERE w.is_active = $1 \
                         AND (w.lease_until IS NULL OR w.lease_until < $2) \
                         AND (EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.webhook_id = w.id \
                                      AND d.state = 'PENDING' AND d.next_attempt_at <= $2) \
                              OR (NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.webhook_id = w.id \
                                              AND d.state = 'PENDING') \
                                  AND EXISTS (SELECT 1 FROM events e WHERE e.client_id = w.client_id \
                                              AND e.seq > w.cursor_seq))) \
                         ORDER BY w.lease_until, w.id LIMIT {limit}"
                    );
                    let rows = sqlx::query(&sql)
                        .bind(true)
                        .bind($time::bind(now))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(store_error)?;
                    let mut claimed = Vec::new();
                    for row in rows {
                        let id: String = row.try_get("id").map_err(store_error)?;
                        // The lease is taken only if no one took it since the read: one node per webhook.
                        let done = sqlx::query(
                            "UPDATE webhooks SET lease_until = $2 WHERE id = $1 AND (lease_until IS NULL OR lease_until < $3)",
                        )
                        .bind(&id)
                        .bind($time::bind(lease_until))
                        .bind($time::bind(now))
                        .execute(&self.pool)
                        .await
                        .map_err(store_error)?;
                        if done.rows_affected() > 0 {
                            if let Some(webhook) = self.webhook_by_id(&WebhookId::new(id)).await? {
                                claimed.push(webhook);
                            }
                        }
                    }
                    Ok(claimed)
                }

                async fn renew_webhook_lease(&self, id: &WebhookId, lease_until: DateTime<Utc>) -> Result<(), StoreError> {
                    sqlx::query("UPDATE webhooks SET lease_until = $2 WHERE id = $1")
                        .bind(id.as_str())
                        .bind($time::bind(lease_until))
                        .execute(&self.pool)
                        .await
                        .map_err(store_error)?;
                    Ok(())
                }

                async fn release_webhook(&self, id: &WebhookId) -> Result<(), StoreError> {
                    sqlx::query("UPDATE webhooks SET lease_until = NULL WHERE id = $1")
                        .bind(id.as_str())
                        .execute(&self.pool)
                        .await
                        .map_err(store_error)?;
                    Ok(())
                }

                async fn pending_delivery(&self, id: &WebhookId) -> Result<Option<Delivery>, StoreError> {
                    let sql = format!(
                        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = $1 AND state = 'PENDING' \
                         ORDER BY first_seq LIMIT 1"
                    );
                    let row = sqlx::query(&sql).bind(id.as_str()).fetch_optional(&self.pool).await.map_err(store_error)?;
                    row.as_ref().map(delivery_from_row).transpose().map_err(store_error)
                }

                async fn next_delivery(
                    &self,
                    webhook: &Webhook,
                    limit: u32,
                    now: DateTime<Utc>,
                ) -> Result<Option<Delivery>, StoreError> {
                    let events = self.events_after(&webhook.client_id, webhook.cursor_seq, limit).await?;
                    let Some(last) = events.last() else { return Ok(None) };
                    let last_seq = last.seq;
                    let wanted: Vec<&Event> = events.iter().filter(|e| webhook.events.wants(e.event_type)).collect();
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    // The cursor moves only from where this batch started, so a batch is formed once.
                    let moved = sqlx::query("UPDATE webhooks SET cursor_seq = $2 WHERE id = $1 AND cursor_seq = $3")
                        .bind(webhook.id.as_str())
                        .bind(last_seq)
                        .bind(webhook.cursor_seq)
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    if moved.rows_affected() == 0 || wanted.is_empty() {
                        tx.commit().await.map_err(store_error)?;
                        return Ok(None);
                    }
                    let delivery = Delivery {
                        id: DeliveryId::generate(),
                        webhook_id: webhook.id.clone(),
                        first_seq: webhook.cursor_seq + 1,
                        last_seq,
                        event_count: wanted.len() as i64,
                        state: DeliveryState::Pending,
                        attempts: 0,
                        last_status: None,
                        last_error: None,
                        last_duration_ms: None,
                        next_attempt_at: Some(now),
                        created_at: now,
                        updated_at: now,
                    };
                    sqlx::query(
                        "INSERT INTO webhook_deliveries (id, webhook_id, first_seq, last_seq, event_count, state, attempts, \
                         next_attempt_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    )
                    .bind(delivery.id.as_str())
                    .bind(delivery.webhook_id.as_str())
                    .bind(delivery.first_seq)
                    .bind(delivery.last_seq)
                    .bind(delivery.event_count)
                    .bind(delivery.state.as_str())
                    .bind(delivery.attempts)
                    .bind($time::bind(now))
                    .bind($time::bind(now))
                    .bind($time::bind(now))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(Some(delivery))
                }

                async fn delivery_events(&self, webhook: &Webhook, delivery: &Delivery) -> Result<Vec<Event>, StoreError> {
                    let span = u32::try_from(delivery.last_seq - delivery.first_seq + 1).unwrap_or(u32::MAX);
                    let events = self.events_after(&webhook.client_id, delivery.first_seq - 1, span).await?;
                    Ok(events
                        .into_iter()
                        .filter(|e| e.seq <= delivery.last_seq && webhook.events.wants(e.event_type))
                        .collect())
                }

                async fn record_attempt(
                    &self,
                    delivery: &DeliveryId,
                    outcome: &AttemptOutcome,
                    next: AfterAttempt,
                    now: DateTime<Utc>,
                ) -> Result<(), StoreError> {
                    let (state, next_at) = match next {
                        AfterAttempt::Done => (DeliveryState::Succeeded, None),
                        AfterAttempt::RetryAt(at) => (DeliveryState::Pending, Some(at)),
                        AfterAttempt::GiveUp => (DeliveryState::Failed, None),
                    };
                    let duration_ms = i64::try_from(outcome.duration.as_millis()).unwrap_or(i64::MAX);
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let row = sqlx::query(
                        "UPDATE webhook_deliveries SET state = $2, attempts = attempts + 1, last_status = $3, \
                         last_error = $4, last_duration_ms = $5, next_attempt_at = $6, updated_at = $7 \
                         WHERE id = $1 RETURNING webhook_id",
                    )
                    .bind(delivery.as_str())
                    .bind(state.as_str())
                    .bind(outcome.status.map(i64::from))
                    .bind(outcome.error.as_deref())
                    .bind(duration_ms)
                    .bind(next_at.map($time::bind))
                    .bind($time::bind(now))
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    let Some(row) = row else {
                        return tx.commit().await.map_err(store_error);
                    };
                    let webhook_id: String = row.try_get("webhook_id").map_err(store_error)?;
                    let update = match next {
                        AfterAttempt::Done => {
                            sqlx::query("UPDATE webhooks SET failure_count = 0, last_success = $2 WHERE id = $1")
                                .bind(&webhook_id)
                                .bind($time::bind(now))
                        }
                        AfterAttempt::RetryAt(_) => {
                            sqlx::query("UPDATE webhooks SET failure_count = failure_count + 1 WHERE id = $1").bind(&webhook_id)
                        }
                        AfterAttempt::GiveUp => sqlx::query(
                            "UPDATE webhooks SET failure_count = failure_count + 1, is_active = FALSE, updated_at = $2 WHERE id = $1",
                        )
                        .bind(&webhook_id)
                        .bind($time::bind(now)),
                    };
                    update.execute(&mut *tx).await.map_err(store_error)?;
                    tx.commit().await.map_err(store_error)
                }

                async fn record_test(
                    &self,
                    client: &ClientId,
                    id: &WebhookId,
                    succeeded: bool,
                    now: DateTime<Utc>,
                ) -> Result<(), StoreError> {
                    if succeeded {
                        sqlx::query(
                            "UPDATE webhooks SET is_active = TRUE, failure_count = 0, last_success = $3, updated_at = $3 \
                             WHERE client_id = $1 AND id = $2",
                        )
                        .bind(client.as_str())
                        .bind(id.as_str())
                        .bind($time::bind(now))
                        .execute(&self.pool)
                        .await
                        .map_err(store_error)?;
                    }
                    Ok(())
                }

                async fn list_deliveries(
                    &self,
                    client: &ClientId,
                    id: &WebhookId,
                    limit: u32,
                ) -> Result<Option<Vec<Delivery>>, StoreError> {
                    if self.get_webhook(client, id).await?.is_none() {
                        return Ok(None);
                    }
                    let sql = format!(
                        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = $1 \
                         ORDER BY created_at DESC, id DESC LIMIT {limit}"
                    );
                    let rows = sqlx::query(&sql).bind(id.as_str()).fetch_all(&self.pool).await.map_err(store_error)?;
                    rows.iter().map(delivery_from_row).collect::<Result<Vec<_>, _>>().map(Some).map_err(store_error)
                }

                async fn retry_delivery(
                    &self,
                    client: &ClientId,
                    webhook: &WebhookId,
                    delivery: &DeliveryId,
                    now: DateTime<Utc>,
                ) -> Result<coupler_core::store::RetryOutcome, StoreError> {
                    use coupler_core::store::RetryOutcome;
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let sql = format!(
                        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1 AND webhook_id = $2 \
                         AND webhook_id IN (SELECT id FROM webhooks WHERE client_id = $3)"
                    );
                    let row = sqlx::query(&sql)
                        .bind(delivery.as_str())
                        .bind(webhook.as_str())
                        .bind(client.as_str())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    let Some(found) = row.as_ref().map(delivery_from_row).transpose().map_err(store_error)? else {
                        return Ok(RetryOutcome::NotFound);
                    };
                    if found.state == DeliveryState::Succeeded {
                        return Ok(RetryOutcome::AlreadyDelivered);
                    }
                    let (others,): (i64,) = sqlx::query_as(
                        "SELECT COUNT(*) FROM webhook_deliveries WHERE webhook_id = $1 AND state = 'PENDING' AND id <> $2",
                    )
                    .bind(webhook.as_str())
                    .bind(delivery.as_str())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    if others > 0 {
                        return Ok(RetryOutcome::AnotherPending);
                    }
                    let sql = format!(
                        "UPDATE webhook_deliveries SET state = 'PENDING', next_attempt_at = $2, updated_at = $2 \
                         WHERE id = $1 AND state <> 'SUCCEEDED' RETURNING {DELIVERY_COLUMNS}"
                    );
                    let row = sqlx::query(&sql)
                        .bind(delivery.as_str())
                        .bind($time::bind(now))
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    // Succeeded between the read and the update: nothing to retry.
                    let Some(row) = row else {
                        return Ok(RetryOutcome::AlreadyDelivered);
                    };
                    let retried = delivery_from_row(&row).map_err(store_error)?;
                    sqlx::query("UPDATE webhooks SET is_active = TRUE, updated_at = $2 WHERE id = $1 AND NOT is_active")
                        .bind(webhook.as_str())
                        .bind($time::bind(now))
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(RetryOutcome::Retried(retried))
                }
            }
        };
    };
}

pub(crate) use impl_webhook_store;
