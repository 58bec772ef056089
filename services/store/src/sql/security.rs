//! Chargers' security events and the certificates Coupler issued them.

/// Implements [`coupler_core::SecurityStore`] for `$store` (rows `$row`, times through `$time`).
macro_rules! impl_security_store {
    ($store:ident, $row:ty, $time:ident) => {
        const _: () = {
            use async_trait::async_trait;
            use coupler_core::event::EventType;
            use coupler_core::operation::OperationId;
            use coupler_core::page::{Cursor, Page, PageKey, PageRequest};
            use coupler_core::security::{
                CertificateUse, IssuedCertificate, IssuedCertificateId, SecurityEvent, SecurityEventId,
            };
            use coupler_core::{ChargerId, ClientId, SecurityStore, StoreError};
            use sqlx::Row;

            use crate::store_error;

            const EVENT_COLUMNS: &str =
                "s.id, s.client_id, s.charger_id, s.kind, s.occurred_at, s.tech_info, s.received_at";

            const CERTIFICATE_COLUMNS: &str = "c.id, c.client_id, c.charger_id, c.usage, c.serial_number, c.subject, \
                c.not_before, c.not_after, c.operation_id, c.issued_at";

            fn event_from_row(row: &$row) -> Result<SecurityEvent, sqlx::Error> {
                Ok(SecurityEvent {
                    id: SecurityEventId::new(row.try_get::<String, _>("id")?),
                    client_id: ClientId::new(row.try_get::<String, _>("client_id")?),
                    charger_id: ChargerId::new(row.try_get::<String, _>("charger_id")?),
                    kind: row.try_get("kind")?,
                    occurred_at: $time::read(row, "occurred_at")?,
                    tech_info: row.try_get("tech_info")?,
                    received_at: $time::read(row, "received_at")?,
                })
            }

            fn certificate_from_row(row: &$row) -> Result<IssuedCertificate, sqlx::Error> {
                let usage: String = row.try_get("usage")?;
                Ok(IssuedCertificate {
                    id: IssuedCertificateId::new(row.try_get::<String, _>("id")?),
                    client_id: ClientId::new(row.try_get::<String, _>("client_id")?),
                    charger_id: ChargerId::new(row.try_get::<String, _>("charger_id")?),
                    usage: CertificateUse::parse(&usage)
                        .ok_or_else(|| sqlx::Error::Decode(format!("unknown certificate use {usage:?}").into()))?,
                    serial_number: row.try_get("serial_number")?,
                    subject: row.try_get("subject")?,
                    not_before: $time::read(row, "not_before")?,
                    not_after: $time::read(row, "not_after")?,
                    operation_id: row
                        .try_get::<Option<String>, _>("operation_id")?
                        .map(OperationId::new),
                    issued_at: $time::read(row, "issued_at")?,
                })
            }

            /// The keyset filter and order of a page over `alias.{time}, alias.id`, newest first;
            /// the cursor's values are parameters `$3` and `$4`.
            fn page_filter(page: &PageRequest, alias: &str, time: &str) -> (String, &'static str) {
                match &page.cursor {
                    None => (String::new(), "DESC"),
                    Some(Cursor::After(_)) => (format!(" AND ({alias}.{time}, {alias}.id) < ($3, $4)"), "DESC"),
                    Some(Cursor::Before(_)) => (format!(" AND ({alias}.{time}, {alias}.id) > ($3, $4)"), "ASC"),
                }
            }

            #[async_trait]
            impl SecurityStore for $store {
                async fn record_security_event(&self, event: &SecurityEvent) -> Result<(), StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let inserted = sqlx::query(
                        "INSERT INTO charger_security_events (id, client_id, user_id, charger_id, kind, occurred_at, \
                         tech_info, received_at) \
                         SELECT $1, c.client_id, c.user_id, c.id, $3, $4, $5, $6 FROM chargers c WHERE c.id = $2",
                    )
                    .bind(event.id.as_str())
                    .bind(event.charger_id.as_str())
                    .bind(&event.kind)
                    .bind($time::bind(event.occurred_at))
                    .bind(&event.tech_info)
                    .bind($time::bind(event.received_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?
                    .rows_affected();
                    if inserted == 0 {
                        return Err(StoreError::Conflict(format!("no charger '{}'", event.charger_id)));
                    }
                    Self::append_event(&mut tx, EventType::ChargerSecurityEvent, event.id.as_str(), &[]).await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(())
                }

                async fn get_security_event(
                    &self,
                    client: &ClientId,
                    id: &SecurityEventId,
                ) -> Result<Option<SecurityEvent>, StoreError> {
                    let row = sqlx::query(&format!(
                        "SELECT {EVENT_COLUMNS} FROM charger_security_events s WHERE s.client_id = $1 AND s.id = $2"
                    ))
                    .bind(client.as_str())
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(store_error)?;
                    row.as_ref().map(event_from_row).transpose().map_err(store_error)
                }

                async fn list_security_events(
                    &self,
                    client: &ClientId,
                    charger: &ChargerId,
                    page: &PageRequest,
                ) -> Result<Option<Page<SecurityEvent>>, StoreError> {
                    if !self.charger_is_clients(client, charger).await? {
                        return Ok(None);
                    }
                    let limit = i64::from(page.size) + 1;
                    let (filter, order) = page_filter(page, "s", "received_at");
                    let sql = format!(
                        "SELECT {EVENT_COLUMNS} FROM charger_security_events s WHERE s.client_id = $1 AND s.charger_id = $2{filter} \
                         ORDER BY s.received_at {order}, s.id {order} LIMIT {limit}"
                    );
                    let mut query = sqlx::query(&sql).bind(client.as_str()).bind(charger.as_str());
                    if let Some(Cursor::After(key) | Cursor::Before(key)) = &page.cursor {
                        query = query.bind($time::bind(key.created_at)).bind(key.id.clone());
                    }
                    let rows = query.fetch_all(&self.pool).await.map_err(store_error)?;
                    let mut events = rows
                        .iter()
                        .map(event_from_row)
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(store_error)?;
                    if matches!(page.cursor, Some(Cursor::Before(_))) {
                        events.reverse();
                    }
                    Ok(Some(Page::from_rows(page, events, |e| PageKey {
                        created_at: e.received_at,
                        id: e.id.as_str().to_owned(),
                    })))
                }

                async fn record_issued_certificate(&self, certificate: &IssuedCertificate) -> Result<(), StoreError> {
                    let inserted = sqlx::query(
                        "INSERT INTO charger_certificates (id, client_id, charger_id, usage, serial_number, subject, \
                         not_before, not_after, operation_id, issued_at) \
                         SELECT $1, c.client_id, c.id, $3, $4, $5, $6, $7, $8, $9 FROM chargers c WHERE c.id = $2",
                    )
                    .bind(certificate.id.as_str())
                    .bind(certificate.charger_id.as_str())
                    .bind(certificate.usage.as_str())
                    .bind(&certificate.serial_number)
                    .bind(&certificate.subject)
                    .bind($time::bind(certificate.not_before))
                    .bind($time::bind(certificate.not_after))
                    .bind(certificate.operation_id.as_ref().map(OperationId::as_str))
                    .bind($time::bind(certificate.issued_at))
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?
                    .rows_affected();
                    if inserted == 0 {
                        return Err(StoreError::Conflict(format!("no charger '{}'", certificate.charger_id)));
                    }
                    Ok(())
                }

                async fn list_issued_certificates(
                    &self,
                    client: &ClientId,
                    charger: &ChargerId,
                    page: &PageRequest,
                ) -> Result<Option<Page<IssuedCertificate>>, StoreError> {
                    if !self.charger_is_clients(client, charger).await? {
                        return Ok(None);
                    }
                    let limit = i64::from(page.size) + 1;
                    let (filter, order) = page_filter(page, "c", "issued_at");
                    let sql = format!(
                        "SELECT {CERTIFICATE_COLUMNS} FROM charger_certificates c WHERE c.client_id = $1 AND c.charger_id = $2{filter} \
                         ORDER BY c.issued_at {order}, c.id {order} LIMIT {limit}"
                    );
                    let mut query = sqlx::query(&sql).bind(client.as_str()).bind(charger.as_str());
                    if let Some(Cursor::After(key) | Cursor::Before(key)) = &page.cursor {
                        query = query.bind($time::bind(key.created_at)).bind(key.id.clone());
                    }
                    let rows = query.fetch_all(&self.pool).await.map_err(store_error)?;
                    let mut certificates = rows
                        .iter()
                        .map(certificate_from_row)
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(store_error)?;
                    if matches!(page.cursor, Some(Cursor::Before(_))) {
                        certificates.reverse();
                    }
                    Ok(Some(Page::from_rows(page, certificates, |c| PageKey {
                        created_at: c.issued_at,
                        id: c.id.as_str().to_owned(),
                    })))
                }
            }
        };
    };
}

pub(crate) use impl_security_store;
