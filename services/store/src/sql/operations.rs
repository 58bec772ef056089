//! Operations on chargers and the reservations ReserveNow makes.

/// Implements [`coupler_core::OperationStore`] for `$store` (rows `$row`, times through `$time`).
macro_rules! impl_operation_store {
    ($store:ident, $row:ty, $time:ident) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use coupler_core::operation::{
                FailureKind, Initiator, Operation, OperationFailure, OperationId, OperationKind, OperationStatus,
                ProgressEntry, Reservation, ReservationStatus,
            };
            use coupler_core::control::ChargerCommand;
            use coupler_core::node::NodeId;
            use coupler_core::page::{Cursor, Page, PageKey, PageRequest};
            use coupler_core::{ChargerId, ClientId, OperationStore, StoreError};
            use sqlx::Row;

            use crate::store_error;

            const COLUMNS: &str = "o.id, o.client_id, o.charger_id, o.kind, o.initiator, o.ocpp_action, o.request, \
                o.request_id, o.status, o.answer_status, o.answer, o.failure_kind, o.failure_detail, o.progress, \
                o.final_status, o.requested_at, o.sent_at, o.answered_at, o.completed_at, o.revision, o.node_id";

            const RESERVATION_COLUMNS: &str = "r.charger_id, r.reservation_id, r.client_id, r.operation_id, \
                r.connector_id, r.id_tag, r.parent_id_tag, r.expires_at, r.status, r.transaction_id, r.created_at, \
                r.updated_at";

            /// How often a request id is allocated again after another insert took the same one.
            const ALLOCATION_TRIES: usize = 5;

            fn decode(what: &str, raw: &str) -> sqlx::Error {
                sqlx::Error::Decode(format!("unknown {what} {raw:?}").into())
            }

            fn json_text(value: &serde_json::Value) -> String {
                value.to_string()
            }

            fn read_json(text: &str) -> Result<serde_json::Value, sqlx::Error> {
                serde_json::from_str(text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
            }

            fn operation_from_row(row: &$row) -> Result<Operation, sqlx::Error> {
                let kind: String = row.try_get("kind")?;
                let initiator: String = row.try_get("initiator")?;
                let status: String = row.try_get("status")?;
                let request: String = row.try_get("request")?;
                let answer: Option<String> = row.try_get("answer")?;
                let progress: String = row.try_get("progress")?;
                let failure_kind: Option<String> = row.try_get("failure_kind")?;
                let failure = match failure_kind {
                    Some(raw) => Some(OperationFailure {
                        kind: FailureKind::parse(&raw).ok_or_else(|| decode("failure kind", &raw))?,
                        detail: row.try_get::<Option<String>, _>("failure_detail")?.unwrap_or_default(),
                    }),
                    None => None,
                };
                Ok(Operation {
                    id: OperationId::new(row.try_get::<String, _>("id")?),
                    client_id: ClientId::new(row.try_get::<String, _>("client_id")?),
                    charger_id: ChargerId::new(row.try_get::<String, _>("charger_id")?),
                    kind: OperationKind::parse(&kind).ok_or_else(|| decode("operation kind", &kind))?,
                    initiator: Initiator::parse(&initiator).ok_or_else(|| decode("initiator", &initiator))?,
                    ocpp_action: row.try_get("ocpp_action")?,
                    request: read_json(&request)?,
                    request_id: row.try_get("request_id")?,
                    status: OperationStatus::parse(&status).ok_or_else(|| decode("operation status", &status))?,
                    answer_status: row.try_get("answer_status")?,
                    answer: answer.as_deref().map(read_json).transpose()?,
                    failure,
                    progress: serde_json::from_str::<Vec<ProgressEntry>>(&progress)
                        .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                    final_status: row.try_get("final_status")?,
                    requested_at: $time::read(row, "requested_at")?,
                    sent_at: $time::read_opt(row, "sent_at")?,
                    answered_at: $time::read_opt(row, "answered_at")?,
                    completed_at: $time::read_opt(row, "completed_at")?,
                    revision: row.try_get("revision")?,
                    node: row
                        .try_get::<Option<String>, _>("node_id")?
                        .map(|raw| NodeId::parse(&raw).map_err(|e| sqlx::Error::Decode(Box::new(e))))
                        .transpose()?,
                })
            }

            fn reservation_from_row(row: &$row) -> Result<Reservation, sqlx::Error> {
                let status: String = row.try_get("status")?;
                let connector: i32 = row.try_get("connector_id")?;
                Ok(Reservation {
                    charger_id: ChargerId::new(row.try_get::<String, _>("charger_id")?),
                    client_id: ClientId::new(row.try_get::<String, _>("client_id")?),
                    reservation_id: row.try_get("reservation_id")?,
                    operation_id: OperationId::new(row.try_get::<String, _>("operation_id")?),
                    connector_id: u32::try_from(connector).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                    id_tag: row.try_get("id_tag")?,
                    parent_id_tag: row.try_get("parent_id_tag")?,
                    expires_at: $time::read(row, "expires_at")?,
                    status: ReservationStatus::parse(&status).ok_or_else(|| decode("reservation status", &status))?,
                    transaction_id: row.try_get("transaction_id")?,
                    created_at: $time::read(row, "created_at")?,
                    updated_at: $time::read(row, "updated_at")?,
                })
            }

            fn progress_text(progress: &[ProgressEntry]) -> Result<String, StoreError> {
                serde_json::to_string(progress).map_err(|e| StoreError::Backend(e.to_string()))
            }

            impl $store {
                async fn charger_is_clients(&self, client: &ClientId, charger: &ChargerId) -> Result<bool, StoreError> {
                    let found = sqlx::query("SELECT 1 AS found FROM chargers WHERE client_id = $1 AND id = $2")
                        .bind(client.as_str())
                        .bind(charger.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_error)?;
                    Ok(found.is_some())
                }

                async fn try_insert_operation(
                    &self,
                    operation: &Operation,
                    reservation: Option<&Reservation>,
                ) -> Result<Option<Operation>, StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let inserted = sqlx::query(
                        "INSERT INTO charger_operations (id, client_id, charger_id, kind, initiator, ocpp_action, request, \
                         request_id, status, answer_status, answer, failure_kind, failure_detail, progress, final_status, \
                         requested_at, sent_at, answered_at, completed_at, revision, node_id) \
                         SELECT $1, c.client_id, c.id, $3, $4, $5, $6, \
                         CASE WHEN $7 THEN COALESCE((SELECT MAX(request_id) FROM charger_operations WHERE charger_id = $2), 0) + 1 END, \
                         $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, 0, $19 FROM chargers c WHERE c.id = $2",
                    )
                    .bind(operation.id.as_str())
                    .bind(operation.charger_id.as_str())
                    .bind(operation.kind.as_str())
                    .bind(operation.initiator.as_str())
                    .bind(&operation.ocpp_action)
                    .bind(json_text(&operation.request))
                    .bind(operation.kind.needs_request_id())
                    .bind(operation.status.as_str())
                    .bind(&operation.answer_status)
                    .bind(operation.answer.as_ref().map(json_text))
                    .bind(operation.failure.as_ref().map(|f| f.kind.as_str()))
                    .bind(operation.failure.as_ref().map(|f| f.detail.clone()))
                    .bind(progress_text(&operation.progress)?)
                    .bind(&operation.final_status)
                    .bind($time::bind(operation.requested_at))
                    .bind(operation.sent_at.map($time::bind))
                    .bind(operation.answered_at.map($time::bind))
                    .bind(operation.completed_at.map($time::bind))
                    .bind(operation.node.as_ref().map(NodeId::as_str))
                    .execute(&mut *tx)
                    .await;
                    let inserted = match inserted {
                        Ok(done) => done.rows_affected(),
                        Err(e) => {
                            return match store_error(e) {
                                // Another operation took the same request id: allocate again.
                                StoreError::Conflict(_) => Ok(None),
                                other => Err(other),
                            };
                        }
                    };
                    if inserted == 0 {
                        return Err(StoreError::Conflict(format!("no charger '{}'", operation.charger_id)));
                    }
                    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM charger_operations o WHERE o.id = $1"))
                        .bind(operation.id.as_str())
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    let stored = operation_from_row(&row).map_err(store_error)?;
                    if let Some(reservation) = reservation {
                        let reservation_id = stored
                            .request_id
                            .ok_or_else(|| StoreError::Backend("a reservation needs a ReserveNow operation".into()))?;
                        sqlx::query(
                            "INSERT INTO charger_reservations (charger_id, reservation_id, client_id, operation_id, connector_id, \
                             id_tag, parent_id_tag, expires_at, status, transaction_id, created_at, updated_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, $10, $10)",
                        )
                        .bind(stored.charger_id.as_str())
                        .bind(reservation_id)
                        .bind(stored.client_id.as_str())
                        .bind(stored.id.as_str())
                        .bind(i32::try_from(reservation.connector_id).map_err(|e| StoreError::Backend(e.to_string()))?)
                        .bind(&reservation.id_tag)
                        .bind(&reservation.parent_id_tag)
                        .bind($time::bind(reservation.expires_at))
                        .bind(reservation.status.as_str())
                        .bind($time::bind(reservation.created_at))
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    }
                    tx.commit().await.map_err(store_error)?;
                    Ok(Some(stored))
                }
            }

            #[async_trait]
            impl OperationStore for $store {
                async fn insert_operation(
                    &self,
                    operation: &Operation,
                    reservation: Option<&Reservation>,
                ) -> Result<Operation, StoreError> {
                    for _ in 0..ALLOCATION_TRIES {
                        if let Some(stored) = self.try_insert_operation(operation, reservation).await? {
                            return Ok(stored);
                        }
                    }
                    Err(StoreError::Conflict(
                        "could not allocate a request id; too many operations at once".to_owned(),
                    ))
                }

                async fn operation(&self, id: &OperationId) -> Result<Option<Operation>, StoreError> {
                    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM charger_operations o WHERE o.id = $1"))
                        .bind(id.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_error)?;
                    row.as_ref().map(operation_from_row).transpose().map_err(store_error)
                }

                async fn get_operation(
                    &self,
                    client: &ClientId,
                    charger: &ChargerId,
                    id: &OperationId,
                ) -> Result<Option<Operation>, StoreError> {
                    let row = sqlx::query(&format!(
                        "SELECT {COLUMNS} FROM charger_operations o WHERE o.client_id = $1 AND o.charger_id = $2 AND o.id = $3"
                    ))
                    .bind(client.as_str())
                    .bind(charger.as_str())
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(store_error)?;
                    row.as_ref().map(operation_from_row).transpose().map_err(store_error)
                }

                async fn list_operations(
                    &self,
                    client: &ClientId,
                    charger: &ChargerId,
                    page: &PageRequest,
                ) -> Result<Option<Page<Operation>>, StoreError> {
                    if !self.charger_is_clients(client, charger).await? {
                        return Ok(None);
                    }
                    let limit = i64::from(page.size) + 1;
                    let (filter, order) = match &page.cursor {
                        None => ("", "DESC"),
                        Some(Cursor::After(_)) => (" AND (o.requested_at, o.id) < ($3, $4)", "DESC"),
                        Some(Cursor::Before(_)) => (" AND (o.requested_at, o.id) > ($3, $4)", "ASC"),
                    };
                    let sql = format!(
                        "SELECT {COLUMNS} FROM charger_operations o WHERE o.client_id = $1 AND o.charger_id = $2{filter} \
                         ORDER BY o.requested_at {order}, o.id {order} LIMIT {limit}"
                    );
                    let mut query = sqlx::query(&sql).bind(client.as_str()).bind(charger.as_str());
                    if let Some(Cursor::After(key) | Cursor::Before(key)) = &page.cursor {
                        query = query.bind($time::bind(key.created_at)).bind(key.id.clone());
                    }
                    let rows = query.fetch_all(&self.pool).await.map_err(store_error)?;
                    let mut operations = rows
                        .iter()
                        .map(operation_from_row)
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(store_error)?;
                    if matches!(page.cursor, Some(Cursor::Before(_))) {
                        operations.reverse();
                    }
                    Ok(Some(Page::from_rows(page, operations, |o| PageKey {
                        created_at: o.requested_at,
                        id: o.id.as_str().to_owned(),
                    })))
                }

                async fn save_operation(&self, operation: &Operation) -> Result<bool, StoreError> {
                    let saved = sqlx::query(
                        "UPDATE charger_operations SET ocpp_action = $3, status = $4, answer_status = $5, answer = $6, \
                         failure_kind = $7, failure_detail = $8, progress = $9, final_status = $10, sent_at = $11, \
                         answered_at = $12, completed_at = $13, revision = revision + 1 \
                         WHERE id = $1 AND revision = $2",
                    )
                    .bind(operation.id.as_str())
                    .bind(operation.revision)
                    .bind(&operation.ocpp_action)
                    .bind(operation.status.as_str())
                    .bind(&operation.answer_status)
                    .bind(operation.answer.as_ref().map(json_text))
                    .bind(operation.failure.as_ref().map(|f| f.kind.as_str()))
                    .bind(operation.failure.as_ref().map(|f| f.detail.clone()))
                    .bind(progress_text(&operation.progress)?)
                    .bind(&operation.final_status)
                    .bind(operation.sent_at.map($time::bind))
                    .bind(operation.answered_at.map($time::bind))
                    .bind(operation.completed_at.map($time::bind))
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?
                    .rows_affected();
                    Ok(saved > 0)
                }

                async fn operation_for_progress(
                    &self,
                    charger: &ChargerId,
                    kinds: &[OperationKind],
                    request_id: Option<i32>,
                ) -> Result<Option<Operation>, StoreError> {
                    let kinds = kinds
                        .iter()
                        .map(|k| format!("'{}'", k.as_str()))
                        .collect::<Vec<_>>()
                        .join(", ");
                    if kinds.is_empty() {
                        return Ok(None);
                    }
                    let row = match request_id {
                        Some(request_id) => sqlx::query(&format!(
                            "SELECT {COLUMNS} FROM charger_operations o WHERE o.charger_id = $1 AND o.request_id = $2 \
                             AND o.kind IN ({kinds})"
                        ))
                        .bind(charger.as_str())
                        .bind(request_id)
                        .fetch_optional(&self.pool)
                        .await,
                        None => sqlx::query(&format!(
                            "SELECT {COLUMNS} FROM charger_operations o WHERE o.charger_id = $1 AND o.kind IN ({kinds}) \
                             AND o.status IN ('SENT', 'ACCEPTED', 'IN_PROGRESS') \
                             ORDER BY o.requested_at DESC, o.id DESC LIMIT 1"
                        ))
                        .bind(charger.as_str())
                        .fetch_optional(&self.pool)
                        .await,
                    }
                    .map_err(store_error)?;
                    row.as_ref().map(operation_from_row).transpose().map_err(store_error)
                }

                async fn interrupt_unanswered_operations(&self, node: &NodeId, at: DateTime<Utc>) -> Result<u64, StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    // The ones failed here, for their reservations below (not every operation
                    // ever interrupted).
                    let interrupted: Vec<String> = sqlx::query(
                        "SELECT id FROM charger_operations o WHERE o.status IN ('PENDING', 'SENT') AND \
                         (o.node_id IS NULL OR o.node_id = $1 OR NOT EXISTS \
                         (SELECT 1 FROM nodes n WHERE n.id = o.node_id AND n.lease_until > $2))",
                    )
                    .bind(node.as_str())
                    .bind($time::bind(at))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?
                    .iter()
                    .map(|row| row.try_get::<String, _>("id"))
                    .collect::<Result<_, _>>()
                    .map_err(store_error)?;
                    for id in &interrupted {
                        sqlx::query(
                            "UPDATE charger_operations SET status = 'FAILED', failure_kind = 'INTERRUPTED', \
                             failure_detail = 'Coupler stopped before the charger answered', answered_at = $2, \
                             revision = revision + 1 WHERE id = $1 AND status IN ('PENDING', 'SENT')",
                        )
                        .bind(id)
                        .bind($time::bind(at))
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                        sqlx::query(
                            "UPDATE charger_reservations SET status = 'REJECTED', updated_at = $2 \
                             WHERE status = 'REQUESTED' AND operation_id = $1",
                        )
                        .bind(id)
                        .bind($time::bind(at))
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    }
                    tx.commit().await.map_err(store_error)?;
                    Ok(u64::try_from(interrupted.len()).unwrap_or(u64::MAX))
                }

                async fn hand_over_operation(
                    &self,
                    id: &OperationId,
                    from: &NodeId,
                    to: &NodeId,
                    command: &ChargerCommand,
                ) -> Result<bool, StoreError> {
                    let command = serde_json::to_string(command).map_err(|e| StoreError::Backend(e.to_string()))?;
                    let handed = sqlx::query(
                        "UPDATE charger_operations SET node_id = $3, command = $4, revision = revision + 1 \
                         WHERE id = $1 AND node_id = $2 AND status = 'PENDING'",
                    )
                    .bind(id.as_str())
                    .bind(from.as_str())
                    .bind(to.as_str())
                    .bind(command)
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?
                    .rows_affected();
                    Ok(handed > 0)
                }

                async fn handed_operations(&self, node: &NodeId) -> Result<Vec<(Operation, ChargerCommand)>, StoreError> {
                    let rows = sqlx::query(&format!(
                        "SELECT {COLUMNS}, o.command FROM charger_operations o WHERE o.node_id = $1 \
                         AND o.status = 'PENDING' AND o.command IS NOT NULL ORDER BY o.requested_at, o.id"
                    ))
                    .bind(node.as_str())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_error)?;
                    rows.iter()
                        .map(|row| {
                            let operation = operation_from_row(row).map_err(store_error)?;
                            let command: String = row.try_get("command").map_err(store_error)?;
                            let command = serde_json::from_str(&command)
                                .map_err(|e| StoreError::Backend(format!("operation {}: {e}", operation.id)))?;
                            Ok((operation, command))
                        })
                        .collect()
                }

                async fn reservation(
                    &self,
                    charger: &ChargerId,
                    reservation_id: i32,
                ) -> Result<Option<Reservation>, StoreError> {
                    let row = sqlx::query(&format!(
                        "SELECT {RESERVATION_COLUMNS} FROM charger_reservations r WHERE r.charger_id = $1 AND r.reservation_id = $2"
                    ))
                    .bind(charger.as_str())
                    .bind(reservation_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(store_error)?;
                    row.as_ref().map(reservation_from_row).transpose().map_err(store_error)
                }

                async fn list_reservations(
                    &self,
                    client: &ClientId,
                    charger: &ChargerId,
                    page: &PageRequest,
                ) -> Result<Option<Page<Reservation>>, StoreError> {
                    if !self.charger_is_clients(client, charger).await? {
                        return Ok(None);
                    }
                    let limit = i64::from(page.size) + 1;
                    let (filter, order) = match &page.cursor {
                        None => ("", "DESC"),
                        Some(Cursor::After(_)) => (" AND (r.created_at, r.reservation_id) < ($3, $4)", "DESC"),
                        Some(Cursor::Before(_)) => (" AND (r.created_at, r.reservation_id) > ($3, $4)", "ASC"),
                    };
                    let sql = format!(
                        "SELECT {RESERVATION_COLUMNS} FROM charger_reservations r WHERE r.client_id = $1 AND r.charger_id = $2{filter} \
                         ORDER BY r.created_at {order}, r.reservation_id {order} LIMIT {limit}"
                    );
                    let mut query = sqlx::query(&sql).bind(client.as_str()).bind(charger.as_str());
                    if let Some(Cursor::After(key) | Cursor::Before(key)) = &page.cursor {
                        let reservation_id: i32 = key
                            .id
                            .parse()
                            .map_err(|_| StoreError::Backend("bad reservation cursor".into()))?;
                        query = query.bind($time::bind(key.created_at)).bind(reservation_id);
                    }
                    let rows = query.fetch_all(&self.pool).await.map_err(store_error)?;
                    let mut reservations = rows
                        .iter()
                        .map(reservation_from_row)
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(store_error)?;
                    if matches!(page.cursor, Some(Cursor::Before(_))) {
                        reservations.reverse();
                    }
                    Ok(Some(Page::from_rows(page, reservations, |r| PageKey {
                        created_at: r.created_at,
                        id: r.reservation_id.to_string(),
                    })))
                }

                async fn reservations_in(
                    &self,
                    charger: &ChargerId,
                    status: ReservationStatus,
                ) -> Result<Vec<Reservation>, StoreError> {
                    let rows = sqlx::query(&format!(
                        "SELECT {RESERVATION_COLUMNS} FROM charger_reservations r WHERE r.charger_id = $1 AND r.status = $2 \
                         ORDER BY r.created_at, r.reservation_id"
                    ))
                    .bind(charger.as_str())
                    .bind(status.as_str())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_error)?;
                    rows.iter()
                        .map(reservation_from_row)
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(store_error)
                }

                async fn set_reservation_status(
                    &self,
                    charger: &ChargerId,
                    reservation_id: i32,
                    from: &[ReservationStatus],
                    to: ReservationStatus,
                    transaction_id: Option<i64>,
                    at: DateTime<Utc>,
                ) -> Result<bool, StoreError> {
                    if from.is_empty() {
                        return Ok(false);
                    }
                    let from = from
                        .iter()
                        .map(|s| format!("'{}'", s.as_str()))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let moved = sqlx::query(&format!(
                        "UPDATE charger_reservations SET status = $3, transaction_id = COALESCE($4, transaction_id), \
                         updated_at = $5 WHERE charger_id = $1 AND reservation_id = $2 AND status IN ({from})"
                    ))
                    .bind(charger.as_str())
                    .bind(reservation_id)
                    .bind(to.as_str())
                    .bind(transaction_id)
                    .bind($time::bind(at))
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?
                    .rows_affected();
                    Ok(moved > 0)
                }
            }
        };
    };
}

pub(crate) use impl_operation_store;
