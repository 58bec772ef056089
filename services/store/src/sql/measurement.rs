//! Telemetry kept for measurement (cars' readings) and overrides seen on the meter.

/// Implements [`coupler_core::MeasurementStore`] for `$store` (rows `$row`, times through `$time`).
macro_rules! impl_measurement_store {
    ($store:ident, $row:ty, $time:ident) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use coupler_core::event::EventType;
            use coupler_core::flex::{
                EnrolmentId, FlexEventId, FlexOverride, FlexOverrideId, FlexTargetId, TargetDevice, TelemetrySource, VehicleReading,
            };
            use coupler_core::{ClientId, MeasurementStore, StoreError, UserId, VehicleId};
            use sqlx::Row;

            use crate::store_error;

            fn decode(what: impl std::fmt::Display) -> sqlx::Error {
                sqlx::Error::Decode(what.to_string().into())
            }

            fn reading_from_row(row: &$row) -> Result<VehicleReading, sqlx::Error> {
                Ok(VehicleReading {
                    at: $time::read(row, "read_at")?,
                    charge_rate_kw: row.try_get("charge_rate_kw")?,
                    is_charging: row.try_get("is_charging")?,
                    battery_level: row.try_get("battery_level")?,
                })
            }

            fn override_from_row(row: &$row) -> Result<FlexOverride, sqlx::Error> {
                let source: String = row.try_get("source")?;
                let user: String = row.try_get("external_id")?;
                Ok(FlexOverride {
                    id: FlexOverrideId::new(row.try_get::<String, _>("id")?),
                    client_id: ClientId::new(row.try_get::<String, _>("client_id")?),
                    event_id: FlexEventId::new(row.try_get::<String, _>("event_id")?),
                    target_id: FlexTargetId::new(row.try_get::<String, _>("target_id")?),
                    enrolment_id: EnrolmentId::new(row.try_get::<String, _>("enrolment_id")?),
                    user_id: UserId::parse(&user).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                    source: TelemetrySource::parse(&source).ok_or_else(|| decode(format!("source {source:?}")))?,
                    observed_at: $time::read(row, "observed_at")?,
                    observed_kw: row.try_get("observed_kw")?,
                    cap_kw: row.try_get("cap_kw")?,
                    by: row.try_get("by_whom")?,
                    reason: row.try_get("reason")?,
                    detected_at: $time::read(row, "detected_at")?,
                })
            }

            #[async_trait]
            impl MeasurementStore for $store {
                async fn vehicle_readings(
                    &self,
                    vehicle: &VehicleId,
                    from: DateTime<Utc>,
                    to: DateTime<Utc>,
                ) -> Result<Vec<VehicleReading>, StoreError> {
                    let columns = "read_at, charge_rate_kw, is_charging, battery_level";
                    let before = sqlx::query(&format!(
                        "SELECT {columns} FROM vehicle_readings WHERE vehicle_id = $1 AND read_at < $2 \
                         ORDER BY read_at DESC LIMIT 1"
                    ))
                    .bind(vehicle.as_str())
                    .bind($time::bind(from))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(store_error)?;
                    let rows = sqlx::query(&format!(
                        "SELECT {columns} FROM vehicle_readings WHERE vehicle_id = $1 AND read_at >= $2 AND read_at < $3 \
                         ORDER BY read_at"
                    ))
                    .bind(vehicle.as_str())
                    .bind($time::bind(from))
                    .bind($time::bind(to))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_error)?;
                    before
                        .iter()
                        .chain(rows.iter())
                        .map(reading_from_row)
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(store_error)
                }

                async fn flex_windows_of_device(
                    &self,
                    device: &TargetDevice,
                    from: DateTime<Utc>,
                    to: DateTime<Utc>,
                ) -> Result<Vec<(DateTime<Utc>, DateTime<Utc>)>, StoreError> {
                    let (column, id) = match device {
                        TargetDevice::Charger(id) => ("charger_id", id.as_str()),
                        TargetDevice::Vehicle(id) => ("vehicle_id", id.as_str()),
                    };
                    let rows = sqlx::query(&format!(
                        "SELECT DISTINCT v.start_at, v.end_at FROM flex_events v JOIN flex_event_targets t ON t.event_id = v.id \
                         WHERE t.{column} = $1 AND t.state <> 'HELD_BACK' AND v.cancelled_at IS NULL \
                         AND v.start_at < $3 AND v.end_at > $2 ORDER BY v.start_at"
                    ))
                    .bind(id)
                    .bind($time::bind(from))
                    .bind($time::bind(to))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_error)?;
                    rows.iter()
                        .map(|r| Ok(($time::read(r, "start_at")?, $time::read(r, "end_at")?)))
                        .collect::<Result<Vec<_>, sqlx::Error>>()
                        .map_err(store_error)
                }

                async fn open_flex_targets(
                    &self,
                    now: DateTime<Utc>,
                    after: Option<&FlexTargetId>,
                    limit: u32,
                ) -> Result<Vec<FlexTargetId>, StoreError> {
                    let rows = sqlx::query(&format!(
                        "SELECT t.id FROM flex_event_targets t JOIN flex_events v ON v.id = t.event_id \
                         WHERE v.start_at <= $1 AND v.end_at > $1 AND v.cancelled_at IS NULL \
                         AND t.state NOT IN ('OPTED_OUT', 'CANCELLED', 'HELD_BACK') AND t.id > $2 \
                         ORDER BY t.id LIMIT {limit}"
                    ))
                    .bind($time::bind(now))
                    .bind(after.map_or("", FlexTargetId::as_str))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_error)?;
                    rows.iter()
                        .map(|r| r.try_get::<String, _>("id").map(FlexTargetId::new))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(store_error)
                }

                async fn insert_flex_override(&self, found: &FlexOverride) -> Result<bool, StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let done = sqlx::query(
                        "INSERT INTO flex_overrides (id, client_id, event_id, target_id, enrolment_id, user_id, source, \
                         observed_at, observed_kw, cap_kw, by_whom, reason, detected_at) \
                         SELECT $1, t.client_id, t.event_id, t.id, t.enrolment_id, t.user_id, $3, $4, $5, $6, $7, $8, $9 \
                         FROM flex_event_targets t WHERE t.id = $2 AND t.client_id = $10 \
                         ON CONFLICT (target_id, source) DO NOTHING",
                    )
                    .bind(found.id.as_str())
                    .bind(found.target_id.as_str())
                    .bind(found.source.as_str())
                    .bind($time::bind(found.observed_at))
                    .bind(found.observed_kw)
                    .bind(found.cap_kw)
                    .bind(&found.by)
                    .bind(&found.reason)
                    .bind($time::bind(found.detected_at))
                    .bind(found.client_id.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    if done.rows_affected() == 0 {
                        return Ok(false);
                    }
                    sqlx::query("UPDATE flex_event_targets SET detail = $2, updated_at = $3 WHERE id = $1")
                        .bind(found.target_id.as_str())
                        .bind(format!("override: {}", found.reason))
                        .bind($time::bind(found.detected_at))
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    Self::append_event(&mut tx, EventType::FlexEventOverride, found.target_id.as_str(), &["overrides"])
                        .await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(true)
                }

                async fn flex_overrides(&self, event: &FlexEventId) -> Result<Vec<FlexOverride>, StoreError> {
                    let rows = sqlx::query(
                        "SELECT o.id, o.client_id, o.event_id, o.target_id, o.enrolment_id, u.external_id, o.source, \
                         o.observed_at, o.observed_kw, o.cap_kw, o.by_whom, o.reason, o.detected_at \
                         FROM flex_overrides o JOIN users u ON u.id = o.user_id WHERE o.event_id = $1 \
                         ORDER BY o.observed_at, o.id",
                    )
                    .bind(event.as_str())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_error)?;
                    rows.iter()
                        .map(override_from_row)
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(store_error)
                }
            }
        };
    };
}

pub(crate) use impl_measurement_store;
