//! Chargers, connectors, sessions and meter readings.

/// Implements [`coupler_core::ChargerStore`] for `$store` (rows `$row`, times through `$time`).
macro_rules! impl_charger_store {
    ($store:ident, $row:ty, $time:ident) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use coupler_core::charger::{
                apply_samples, ChargeSession, Charger, ChargerId, ChargerInfo, ConnectorStatus, LiveMeter, MeterSample,
                OcppIdentity, OcppProtocol, PowerDeliveryState,
            };
            use coupler_core::costs::{EnergyReading, StatisticsScope};
            use coupler_core::event::EventType;
            use coupler_core::page::{Cursor, Page, PageKey, PageRequest};
            use coupler_core::secret::SecretHash;
            use coupler_core::store::{ChargerCredentials, SessionStart, SessionStop};
            use coupler_core::{ChargerStore, ClientId, StoreError, UserId};
            use sqlx::Row;

            use crate::sql::{placeholders, StorePool, READ_CHUNK};
            use crate::store_error;

            const CHARGER_COLUMNS: &str = "c.id, c.client_id, u.external_id, c.ocpp_id, c.name, c.location_id, \
                c.ocpp_version, c.vendor, c.model, c.serial_number, c.firmware_version, c.firmware_status, \
                c.is_connected, c.last_seen, c.power_w, c.current_a, c.energy_wh, c.soc, c.meter_at, c.max_current, \
                c.created_at";
            const SESSION_COLUMNS: &str = "transaction_id, charger_id, connector_id, id_tag, meter_start_wh, \
                meter_last_wh, meter_stop_wh, started_at, stopped_at, stop_reason, authorisation, implausible";

            fn decode_error(column: &str, what: impl std::fmt::Display) -> sqlx::Error {
                sqlx::Error::Decode(format!("{column}: {what}").into())
            }

            fn charger_from_row(row: &$row) -> Result<Charger, sqlx::Error> {
                let user: String = row.try_get("external_id")?;
                let ocpp_id: String = row.try_get("ocpp_id")?;
                let version: Option<String> = row.try_get("ocpp_version")?;
                Ok(Charger {
                    id: ChargerId::new(row.try_get::<String, _>("id")?),
                    client_id: ClientId::new(row.try_get::<String, _>("client_id")?),
                    user_id: UserId::parse(&user).map_err(|e| decode_error("external_id", e))?,
                    ocpp_id: OcppIdentity::parse(&ocpp_id).map_err(|e| decode_error("ocpp_id", e))?,
                    name: row.try_get("name")?,
                    location_id: row.try_get("location_id")?,
                    ocpp_version: version.as_deref().and_then(OcppProtocol::parse),
                    info: ChargerInfo {
                        vendor: row.try_get("vendor")?,
                        model: row.try_get("model")?,
                        serial_number: row.try_get("serial_number")?,
                        firmware_version: row.try_get("firmware_version")?,
                    },
                    connectors: Vec::new(),
                    meter: LiveMeter {
                        power_w: row.try_get("power_w")?,
                        current_a: row.try_get("current_a")?,
                        energy_wh: row.try_get("energy_wh")?,
                        soc: row.try_get("soc")?,
                        at: $time::read_opt(row, "meter_at")?,
                    },
                    max_current: row.try_get("max_current")?,
                    is_connected: row.try_get("is_connected")?,
                    last_seen: $time::read_opt(row, "last_seen")?,
                    firmware_status: row.try_get("firmware_status")?,
                    created_at: $time::read(row, "created_at")?,
                })
            }

            fn connector_from_row(row: &$row) -> Result<(String, ConnectorStatus), sqlx::Error> {
                let state: String = row.try_get("power_delivery_state")?;
                let power_delivery_state: PowerDeliveryState =
                    serde_json::from_value(serde_json::Value::String(state)).map_err(|e| decode_error("power_delivery_state", e))?;
                let connector_id: i64 = row.try_get("connector_id")?;
                Ok((
                    row.try_get("charger_id")?,
                    ConnectorStatus {
                        connector_id: u32::try_from(connector_id).map_err(|e| decode_error("connector_id", e))?,
                        status: row.try_get("status")?,
                        error_code: row.try_get("error_code")?,
                        info: row.try_get("info")?,
                        power_delivery_state,
                        updated_at: $time::read(row, "updated_at")?,
                    },
                ))
            }

            fn session_from_row(row: &$row) -> Result<ChargeSession, sqlx::Error> {
                let connector_id: i64 = row.try_get("connector_id")?;
                Ok(ChargeSession {
                    transaction_id: row.try_get("transaction_id")?,
                    charger_id: ChargerId::new(row.try_get::<String, _>("charger_id")?),
                    connector_id: u32::try_from(connector_id).map_err(|e| decode_error("connector_id", e))?,
                    id_tag: row.try_get("id_tag")?,
                    meter_start_wh: row.try_get("meter_start_wh")?,
                    meter_last_wh: row.try_get("meter_last_wh")?,
                    meter_stop_wh: row.try_get("meter_stop_wh")?,
                    started_at: $time::read(row, "started_at")?,
                    stopped_at: $time::read_opt(row, "stopped_at")?,
                    stop_reason: row.try_get("stop_reason")?,
                    authorisation: row.try_get("authorisation")?,
                    implausible: row.try_get("implausible")?,
                })
            }

            fn version_name(version: OcppProtocol) -> &'static str {
                version.as_str()
            }

            impl $store {
                /// Chargers matching `filter` (over `chargers c JOIN users u`), with their connectors.
                async fn fetch_chargers(
                    &self,
                    filter: &str,
                    binds: &[&str],
                    key: Option<&PageKey>,
                    tail: &str,
                ) -> Result<Vec<Charger>, StoreError> {
                    let sql = format!(
                        "SELECT {CHARGER_COLUMNS} FROM chargers c JOIN users u ON u.id = c.user_id WHERE {filter} {tail}"
                    );
                    let mut query = sqlx::query(&sql);
                    for bind in binds {
                        query = query.bind(*bind);
                    }
                    if let Some(key) = key {
                        query = query.bind($time::bind(key.created_at)).bind(key.id.clone());
                    }
                    let rows = query.fetch_all(&self.reads).await.map_err(store_error)?;
                    let mut chargers = rows.iter().map(charger_from_row).collect::<Result<Vec<_>, _>>().map_err(store_error)?;
                    self.attach_connectors(&mut chargers).await?;
                    Ok(chargers)
                }

                /// The chargers with these ids, with their connectors, a few queries for many.
                async fn chargers_by_ids(&self, ids: &[ChargerId]) -> Result<Vec<Charger>, StoreError> {
                    let mut found = Vec::with_capacity(ids.len());
                    for chunk in ids.chunks(READ_CHUNK) {
                        let filter = format!("c.id IN ({})", placeholders(1, chunk.len()));
                        let binds: Vec<&str> = chunk.iter().map(ChargerId::as_str).collect();
                        found.extend(self.fetch_chargers(&filter, &binds, None, "").await?);
                    }
                    Ok(found)
                }

                /// The running session of each of these chargers that has one (the newest, should
                /// a charger have several), as [`ChargerStore::active_session`] finds it.
                async fn active_sessions_of(&self, ids: &[ChargerId]) -> Result<Vec<ChargeSession>, StoreError> {
                    let mut found: Vec<ChargeSession> = Vec::new();
                    for chunk in ids.chunks(READ_CHUNK) {
                        let sql = format!(
                            "SELECT {SESSION_COLUMNS} FROM charge_sessions WHERE stopped_at IS NULL AND charger_id IN ({}) \
                             ORDER BY charger_id, started_at DESC, transaction_id DESC",
                            placeholders(1, chunk.len())
                        );
                        let mut query = sqlx::query(&sql);
                        for id in chunk {
                            query = query.bind(id.as_str());
                        }
                        let rows = query.fetch_all(&self.reads).await.map_err(store_error)?;
                        for row in &rows {
                            let session = session_from_row(row).map_err(store_error)?;
                            if found.last().is_none_or(|newest| newest.charger_id != session.charger_id) {
                                found.push(session);
                            }
                        }
                    }
                    Ok(found)
                }

                async fn attach_connectors(&self, chargers: &mut [Charger]) -> Result<(), StoreError> {
                    if chargers.is_empty() {
                        return Ok(());
                    }
                    let sql = format!(
                        "SELECT charger_id, connector_id, status, error_code, info, power_delivery_state, updated_at \
                         FROM connectors WHERE charger_id IN ({}) ORDER BY connector_id",
                        placeholders(1, chargers.len())
                    );
                    let mut query = sqlx::query(&sql);
                    for charger in chargers.iter() {
                        query = query.bind(charger.id.as_str());
                    }
                    let rows = query.fetch_all(&self.reads).await.map_err(store_error)?;
                    for row in &rows {
                        let (charger_id, connector) = connector_from_row(row).map_err(store_error)?;
                        if let Some(charger) = chargers.iter_mut().find(|c| c.id.as_str() == charger_id) {
                            charger.connectors.push(connector);
                        }
                    }
                    Ok(())
                }

                async fn insert_samples(
                    tx: &mut sqlx::Transaction<'_, <$store as StorePool>::Db>,
                    id: &ChargerId,
                    connector_id: u32,
                    transaction_id: Option<i64>,
                    samples: &[MeterSample],
                ) -> Result<(), StoreError> {
                    // One statement per chunk rather than per sample: the write path of every
                    // MeterValues message, so round trips matter. 100 rows × 9 parameters stays under
                    // both backends' parameter limits.
                    for chunk in samples.chunks(100) {
                        let rows = (0..chunk.len())
                            .map(|i| {
                                let p = i * 9;
                                format!(
                                    "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                                    p + 1, p + 2, p + 3, p + 4, p + 5, p + 6, p + 7, p + 8, p + 9
                                )
                            })
                            .collect::<Vec<_>>()
                            .join(", ");
                        let sql = format!(
                            "INSERT INTO meter_samples (charger_id, connector_id, transaction_id, sampled_at, measurand, phase, unit, value, context) VALUES {rows}"
                        );
                        let mut query = sqlx::query(&sql);
                        for sample in chunk {
                            query = query
                                .bind(id.as_str())
                                .bind(i64::from(connector_id))
                                .bind(transaction_id)
                                .bind($time::bind(sample.sampled_at))
                                .bind(&sample.measurand)
                                .bind(sample.phase.as_deref())
                                .bind(&sample.unit)
                                .bind(sample.value)
                                .bind(sample.context.as_deref());
                        }
                        query.execute(&mut **tx).await.map_err(store_error)?;
                    }
                    Ok(())
                }

                /// Folds samples into the charger's live readings (and marks it seen) and, when they
                /// belong to a running session, into its latest energy reading. Returns the REST fields
                /// this changed, for the caller's one event.
                async fn fold_samples(
                    tx: &mut sqlx::Transaction<'_, <$store as StorePool>::Db>,
                    id: &ChargerId,
                    transaction_id: Option<i64>,
                    samples: &[MeterSample],
                ) -> Result<Vec<&'static str>, StoreError> {
                    let row = sqlx::query("SELECT power_w, current_a, energy_wh, soc, meter_at FROM chargers WHERE id = $1")
                        .bind(id.as_str())
                        .fetch_optional(&mut **tx)
                        .await
                        .map_err(store_error)?;
                    let Some(row) = row else { return Ok(Vec::new()) };
                    let mut meter = (|| -> Result<LiveMeter, sqlx::Error> {
                        Ok(LiveMeter {
                            power_w: row.try_get("power_w")?,
                            current_a: row.try_get("current_a")?,
                            energy_wh: row.try_get("energy_wh")?,
                            soc: row.try_get("soc")?,
                            at: $time::read_opt(&row, "meter_at")?,
                        })
                    })()
                    .map_err(store_error)?;
                    let rate_before = meter.power_w;
                    apply_samples(&mut meter, samples);
                    // The charger was heard from now, whatever time its readings carry.
                    sqlx::query(
                        "UPDATE chargers SET power_w = $2, current_a = $3, energy_wh = $4, soc = $5, meter_at = $6, last_seen = $7 WHERE id = $1",
                    )
                    .bind(id.as_str())
                    .bind(meter.power_w)
                    .bind(meter.current_a)
                    .bind(meter.energy_wh)
                    .bind(meter.soc)
                    .bind(meter.at.map($time::bind))
                    .bind($time::bind(coupler_core::time::now()))
                    .execute(&mut **tx)
                    .await
                    .map_err(store_error)?;
                    let grew = Self::grow_session_energy(tx, id, transaction_id, samples).await?;
                    Ok(crate::sql::meter_changes(rate_before, &meter, grew))
                }

                /// Raises the running session's energy to the newest register reading in
                /// `samples`; whether it grew. Registers only grow: a reading lower than the last
                /// one is a reordered sample.
                pub(crate) async fn grow_session_energy(
                    tx: &mut sqlx::Transaction<'_, <$store as StorePool>::Db>,
                    id: &ChargerId,
                    transaction_id: Option<i64>,
                    samples: &[MeterSample],
                ) -> Result<bool, StoreError> {
                    let (Some(transaction_id), Some(energy)) = (transaction_id, crate::sql::register_reading(samples)) else {
                        return Ok(false);
                    };
                    let grew = sqlx::query(
                        "UPDATE charge_sessions SET meter_last_wh = $3 \
                         WHERE charger_id = $1 AND transaction_id = $2 AND stopped_at IS NULL AND meter_last_wh < $3",
                    )
                    .bind(id.as_str())
                    .bind(transaction_id)
                    .bind(energy)
                    .execute(&mut **tx)
                    .await
                    .map_err(store_error)?
                    .rows_affected();
                    Ok(grew > 0)
                }

                /// The charger writer: stores every reading and "heard from" mark waiting in one
                /// transaction ([`crate::sql::MeterWrites`]), answering each after the commit. When
                /// a shared commit fails, each of its writes is stored on its own, so one bad write
                /// (a charger deleted meanwhile) fails no other. Ends when the store is dropped.
                async fn write_meters(
                    pool: sqlx::Pool<<$store as StorePool>::Db>,
                    mut writes: tokio::sync::mpsc::UnboundedReceiver<crate::sql::MeterWrite>,
                ) {
                    let mut batch = Vec::with_capacity(crate::sql::METER_WRITES_PER_COMMIT);
                    while writes.recv_many(&mut batch, crate::sql::METER_WRITES_PER_COMMIT).await > 0 {
                        match Self::write_meter_batch(&pool, &batch).await {
                            Ok(()) => {
                                for write in batch.drain(..) {
                                    // A caller that stopped waiting has nothing to be told.
                                    let _ = write.answer.send(Ok(()));
                                }
                            }
                            Err(e) if batch.len() == 1 => {
                                if let Some(write) = batch.pop() {
                                    let _ = write.answer.send(Err(e));
                                }
                            }
                            Err(e) => {
                                tracing::debug!(error = %e, writes = batch.len(), "a shared charger commit failed; storing each alone");
                                for write in batch.drain(..) {
                                    let alone = Self::write_meter_batch(&pool, std::slice::from_ref(&write)).await;
                                    let _ = write.answer.send(alone);
                                }
                            }
                        }
                    }
                }

                /// Hands `what` to the charger writer and waits for the commit that holds it.
                async fn submit_meter_write(&self, charger: &ChargerId, what: crate::sql::MeterWriteKind) -> Result<(), StoreError> {
                    let pool = self.pool.clone();
                    let queue = self.meter_writes.queue(|writes| {
                        tokio::spawn(tracing::Instrument::instrument(
                            Self::write_meters(pool, writes),
                            tracing::info_span!("charger_writer"),
                        ));
                    });
                    let (answer, answered) = tokio::sync::oneshot::channel();
                    let stopped = || StoreError::Unavailable("the charger writer has stopped".to_owned());
                    queue
                        .send(crate::sql::MeterWrite { charger: charger.clone(), what, answer })
                        .map_err(|_| stopped())?;
                    answered.await.map_err(|_| stopped())?
                }

                /// Records a connector's status inside `tx`: the connector's row, the charger heard
                /// from, and an event when anything the REST view shows changed.
                pub(crate) async fn record_status_in(
                    tx: &mut sqlx::Transaction<'_, <$store as StorePool>::Db>,
                    id: &ChargerId,
                    status: &ConnectorStatus,
                ) -> Result<(), StoreError> {
                    let before = sqlx::query(
                        "SELECT status, error_code, info, power_delivery_state FROM connectors WHERE charger_id = $1 AND connector_id = $2",
                    )
                    .bind(id.as_str())
                    .bind(i64::from(status.connector_id))
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(store_error)?;
                    let unchanged = match &before {
                        Some(row) => {
                            row.try_get::<String, _>("status").map_err(store_error)? == status.status
                                && row.try_get::<String, _>("error_code").map_err(store_error)? == status.error_code
                                && row.try_get::<Option<String>, _>("info").map_err(store_error)? == status.info
                                && row.try_get::<String, _>("power_delivery_state").map_err(store_error)?
                                    == status.power_delivery_state.as_str()
                        }
                        None => false,
                    };
                    if !unchanged {
                        Self::append_event(tx, EventType::ChargerUpdated, id.as_str(), &[
                            "connectors",
                            "chargeState.isPluggedIn",
                            "chargeState.isCharging",
                            "chargeState.powerDeliveryState",
                        ])
                        .await?;
                    }
                    sqlx::query(
                        "INSERT INTO connectors (charger_id, connector_id, status, error_code, info, power_delivery_state, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) \
                         ON CONFLICT (charger_id, connector_id) DO UPDATE SET status = excluded.status, \
                         error_code = excluded.error_code, info = excluded.info, \
                         power_delivery_state = excluded.power_delivery_state, updated_at = excluded.updated_at",
                    )
                    .bind(id.as_str())
                    .bind(i64::from(status.connector_id))
                    .bind(&status.status)
                    .bind(&status.error_code)
                    .bind(status.info.as_deref())
                    .bind(status.power_delivery_state.as_str())
                    .bind($time::bind(status.updated_at))
                    .execute(&mut **tx)
                    .await
                    .map_err(store_error)?;
                    sqlx::query("UPDATE chargers SET last_seen = $2 WHERE id = $1")
                        .bind(id.as_str())
                        .bind($time::bind(status.updated_at))
                        .execute(&mut **tx)
                        .await
                        .map_err(store_error)?;
                    Ok(())
                }

                /// Stores `batch` in one transaction, each write in turn with the statements of a
                /// write alone: on SQLite, where statements cost no round trip, the shared commit
                /// (one sync to disk) is the whole gain.
                #[allow(dead_code)]
                pub(crate) async fn write_meters_in_turn(
                    pool: &sqlx::Pool<<$store as StorePool>::Db>,
                    batch: &[crate::sql::MeterWrite],
                ) -> Result<(), StoreError> {
                    let mut tx = pool.begin().await.map_err(store_error)?;
                    for write in batch {
                        let id = &write.charger;
                        match &write.what {
                            crate::sql::MeterWriteKind::Readings { connector_id, transaction_id, samples } => {
                                Self::insert_samples(&mut tx, id, *connector_id, *transaction_id, samples).await?;
                                let changed = Self::fold_samples(&mut tx, id, *transaction_id, samples).await?;
                                Self::charger_changed(&mut tx, id, changed).await?;
                            }
                            crate::sql::MeterWriteKind::Status(status) => Self::record_status_in(&mut tx, id, status).await?,
                            crate::sql::MeterWriteKind::Seen(at) => {
                                sqlx::query("UPDATE chargers SET last_seen = $2 WHERE id = $1")
                                    .bind(id.as_str())
                                    .bind($time::bind(*at))
                                    .execute(&mut *tx)
                                    .await
                                    .map_err(store_error)?;
                            }
                        }
                    }
                    tx.commit().await.map_err(store_error)
                }

                /// Appends one `user:charger:updated` event with `fields` (deduplicated), unless empty:
                /// a reading that changes neither the rate nor the session's energy is not news, and
                /// one that does costs this one INSERT in the message's transaction.
                async fn charger_changed(
                    tx: &mut sqlx::Transaction<'_, <$store as StorePool>::Db>,
                    id: &ChargerId,
                    mut fields: Vec<&'static str>,
                ) -> Result<(), StoreError> {
                    if fields.is_empty() {
                        return Ok(());
                    }
                    fields.sort_unstable();
                    fields.dedup();
                    Self::append_event(tx, EventType::ChargerUpdated, id.as_str(), &fields).await?;
                    Ok(())
                }
            }

            #[async_trait]
            impl ChargerStore for $store {
                async fn insert_charger(&self, charger: &Charger, password_hash: &SecretHash) -> Result<(), StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let inserted = sqlx::query(
                        "INSERT INTO chargers (id, client_id, user_id, ocpp_id, password_hash, name, location_id, is_connected, created_at) \
                         SELECT $1, $2, u.id, $4, $5, $6, $7, $8, $9 FROM users u WHERE u.client_id = $2 AND u.external_id = $3",
                    )
                    .bind(charger.id.as_str())
                    .bind(charger.client_id.as_str())
                    .bind(charger.user_id.as_str())
                    .bind(charger.ocpp_id.as_str())
                    .bind(password_hash.as_str())
                    .bind(charger.name.as_deref())
                    .bind(charger.location_id.as_deref())
                    .bind(false)
                    .bind($time::bind(charger.created_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?
                    .rows_affected();
                    if inserted == 0 {
                        return Err(StoreError::Conflict(format!("no user '{}' for this client", charger.user_id)));
                    }
                    Self::append_event(&mut tx, EventType::ChargerDiscovered, charger.id.as_str(), &[]).await?;
                    tx.commit().await.map_err(store_error)
                }

                async fn get_charger(&self, client: &ClientId, id: &ChargerId) -> Result<Option<Charger>, StoreError> {
                    let found = self.fetch_chargers("c.client_id = $1 AND c.id = $2", &[client.as_str(), id.as_str()], None, "").await?;
                    Ok(found.into_iter().next())
                }

                async fn list_chargers(
                    &self,
                    client: &ClientId,
                    user: Option<&UserId>,
                    page: &PageRequest,
                ) -> Result<Page<Charger>, StoreError> {
                    let mut filter = String::from("c.client_id = $1");
                    let mut binds = vec![client.as_str()];
                    if let Some(user) = user {
                        filter.push_str(" AND u.external_id = $2");
                        binds.push(user.as_str());
                    }
                    let next = binds.len() + 1;
                    let limit = i64::from(page.size) + 1;
                    let (filter, tail, key) = match &page.cursor {
                        None => (filter, format!("ORDER BY c.created_at DESC, c.id DESC LIMIT {limit}"), None),
                        Some(Cursor::After(key)) => (
                            format!("{filter} AND (c.created_at, c.id) < (${next}, ${})", next + 1),
                            format!("ORDER BY c.created_at DESC, c.id DESC LIMIT {limit}"),
                            Some(key),
                        ),
                        Some(Cursor::Before(key)) => (
                            format!("{filter} AND (c.created_at, c.id) > (${next}, ${})", next + 1),
                            format!("ORDER BY c.created_at ASC, c.id ASC LIMIT {limit}"),
                            Some(key),
                        ),
                    };
                    let mut chargers = self.fetch_chargers(&filter, &binds, key, &tail).await?;
                    if matches!(page.cursor, Some(Cursor::Before(_))) {
                        chargers.reverse();
                    }
                    Ok(Page::from_rows(page, chargers, |c| PageKey { created_at: c.created_at, id: c.id.as_str().to_owned() }))
                }

                async fn update_charger(
                    &self,
                    client: &ClientId,
                    id: &ChargerId,
                    name: Option<Option<&str>>,
                    location_id: Option<Option<&str>>,
                ) -> Result<Option<Charger>, StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    if let Some(name) = name {
                        sqlx::query("UPDATE chargers SET name = $3 WHERE client_id = $1 AND id = $2")
                            .bind(client.as_str())
                            .bind(id.as_str())
                            .bind(name)
                            .execute(&mut *tx)
                            .await
                            .map_err(store_error)?;
                    }
                    if let Some(location_id) = location_id {
                        sqlx::query("UPDATE chargers SET location_id = $3 WHERE client_id = $1 AND id = $2")
                            .bind(client.as_str())
                            .bind(id.as_str())
                            .bind(location_id)
                            .execute(&mut *tx)
                            .await
                            .map_err(store_error)?;
                    }
                    let mut changed = Vec::new();
                    if name.is_some() {
                        changed.push("name");
                    }
                    if location_id.is_some() {
                        changed.push("locationId");
                    }
                    if !changed.is_empty() {
                        Self::append_events(&mut tx, EventType::ChargerUpdated, &changed, "t.client_id = $4 AND t.id = $5", &[
                            client.as_str(),
                            id.as_str(),
                        ])
                        .await?;
                    }
                    tx.commit().await.map_err(store_error)?;
                    self.get_charger(client, id).await
                }

                async fn delete_charger(&self, client: &ClientId, id: &ChargerId) -> Result<bool, StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    Self::append_events(&mut tx, EventType::ChargerDeleted, &[], "t.client_id = $4 AND t.id = $5", &[
                        client.as_str(),
                        id.as_str(),
                    ])
                    .await?;
                    let deleted = sqlx::query("DELETE FROM chargers WHERE client_id = $1 AND id = $2")
                        .bind(client.as_str())
                        .bind(id.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(deleted.rows_affected() > 0)
                }

                async fn list_sessions(
                    &self,
                    client: &ClientId,
                    charger: &ChargerId,
                    page: &PageRequest,
                ) -> Result<Option<Page<ChargeSession>>, StoreError> {
                    if self.get_charger(client, charger).await?.is_none() {
                        return Ok(None);
                    }
                    let limit = i64::from(page.size) + 1;
                    let (filter, order, key) = match &page.cursor {
                        None => ("", "DESC", None),
                        Some(Cursor::After(key)) => (" AND (started_at, transaction_id) < ($2, $3)", "DESC", Some(key)),
                        Some(Cursor::Before(key)) => (" AND (started_at, transaction_id) > ($2, $3)", "ASC", Some(key)),
                    };
                    let sql = format!(
                        "SELECT {SESSION_COLUMNS} FROM charge_sessions WHERE charger_id = $1{filter} \
                         ORDER BY started_at {order}, transaction_id {order} LIMIT {limit}"
                    );
                    let mut query = sqlx::query(&sql).bind(charger.as_str());
                    if let Some(key) = key {
                        let transaction_id: i64 = key.id.parse().map_err(|_| StoreError::Backend("bad session cursor".into()))?;
                        query = query.bind($time::bind(key.created_at)).bind(transaction_id);
                    }
                    let rows = query.fetch_all(&self.reads).await.map_err(store_error)?;
                    let mut sessions = rows.iter().map(session_from_row).collect::<Result<Vec<_>, _>>().map_err(store_error)?;
                    if matches!(page.cursor, Some(Cursor::Before(_))) {
                        sessions.reverse();
                    }
                    Ok(Some(Page::from_rows(page, sessions, |s| PageKey {
                        created_at: s.started_at,
                        id: s.transaction_id.to_string(),
                    })))
                }

                async fn sessions_overlapping(
                    &self,
                    client: &ClientId,
                    scope: &StatisticsScope,
                    from: DateTime<Utc>,
                    to: DateTime<Utc>,
                    limit: u32,
                ) -> Result<Vec<ChargeSession>, StoreError> {
                    let (filter, key) = match scope {
                        StatisticsScope::User(user) => ("u.external_id = $4", user.as_str()),
                        StatisticsScope::Vehicle(vehicle) => ("s.vehicle_id = $4", vehicle.as_str()),
                        StatisticsScope::Charger(charger) => ("c.id = $4", charger.as_str()),
                    };
                    let sql = format!(
                        "SELECT {SESSION_COLUMNS} FROM charge_sessions s JOIN chargers c ON c.id = s.charger_id \
                         JOIN users u ON u.id = c.user_id \
                         WHERE c.client_id = $1 AND s.started_at < $3 AND (s.stopped_at IS NULL OR s.stopped_at >= $2) AND {filter} \
                         ORDER BY s.started_at, s.transaction_id LIMIT {limit}"
                    );
                    let rows = sqlx::query(&sql)
                        .bind(client.as_str())
                        .bind($time::bind(from))
                        .bind($time::bind(to))
                        .bind(key)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(store_error)?;
                    rows.iter().map(session_from_row).collect::<Result<Vec<_>, _>>().map_err(store_error)
                }

                async fn session_energy_readings(&self, session: &ChargeSession) -> Result<Vec<EnergyReading>, StoreError> {
                    if session.implausible.is_some() {
                        // Its values cannot be trusted: it delivered nothing that counts.
                        return Ok(vec![EnergyReading { at: session.started_at, register_wh: session.meter_start_wh }]);
                    }
                    let rows = sqlx::query(
                        "SELECT sampled_at, value FROM meter_samples WHERE charger_id = $1 AND transaction_id = $2 \
                         AND measurand = 'Energy.Active.Import.Register' AND phase IS NULL AND unit = 'Wh' \
                         AND implausible IS NULL ORDER BY sampled_at",
                    )
                    .bind(session.charger_id.as_str())
                    .bind(session.transaction_id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_error)?;
                    let mut readings = vec![EnergyReading {
                        at: session.started_at,
                        register_wh: session.meter_start_wh,
                    }];
                    for row in &rows {
                        readings.push(EnergyReading {
                            at: $time::read(row, "sampled_at").map_err(store_error)?,
                            register_wh: row.try_get("value").map_err(store_error)?,
                        });
                    }
                    if let Some(stopped_at) = session.stopped_at {
                        readings.push(EnergyReading {
                            at: stopped_at,
                            register_wh: session.meter_stop_wh.unwrap_or(session.meter_last_wh),
                        });
                    }
                    Ok(readings)
                }

                async fn charger_credentials(&self, ocpp_id: &OcppIdentity) -> Result<Option<ChargerCredentials>, StoreError> {
                    let row = sqlx::query("SELECT id, password_hash FROM chargers WHERE ocpp_id = $1")
                        .bind(ocpp_id.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_error)?;
                    let Some(row) = row else { return Ok(None) };
                    let id: String = row.try_get("id").map_err(store_error)?;
                    let hash: String = row.try_get("password_hash").map_err(store_error)?;
                    Ok(Some(ChargerCredentials { charger_id: ChargerId::new(id), password_hash: SecretHash::from_stored(hash) }))
                }

                async fn charger(&self, id: &ChargerId) -> Result<Option<Charger>, StoreError> {
                    let found = self.fetch_chargers("c.id = $1", &[id.as_str()], None, "").await?;
                    Ok(found.into_iter().next())
                }

                async fn record_connection(
                    &self,
                    id: &ChargerId,
                    version: Option<OcppProtocol>,
                    connected: bool,
                    at: DateTime<Utc>,
                ) -> Result<(), StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let before = sqlx::query("SELECT is_connected, ocpp_version FROM chargers WHERE id = $1")
                        .bind(id.as_str())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    sqlx::query(
                        "UPDATE chargers SET is_connected = $2, ocpp_version = COALESCE($3, ocpp_version), last_seen = $4 WHERE id = $1",
                    )
                    .bind(id.as_str())
                    .bind(connected)
                    .bind(version.map(version_name))
                    .bind($time::bind(at))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    if let Some(before) = before {
                        let was_connected: bool = before.try_get("is_connected").map_err(store_error)?;
                        let old_version: Option<String> = before.try_get("ocpp_version").map_err(store_error)?;
                        let mut changed = Vec::new();
                        if was_connected != connected {
                            changed.push("isReachable");
                        }
                        if version.is_some_and(|v| old_version.as_deref() != Some(version_name(v))) {
                            changed.push("information.ocppVersion");
                        }
                        if !changed.is_empty() {
                            Self::append_event(&mut tx, EventType::ChargerUpdated, id.as_str(), &changed).await?;
                        }
                    }
                    tx.commit().await.map_err(store_error)
                }

                async fn mark_all_disconnected(&self) -> Result<u64, StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    Self::append_events(&mut tx, EventType::ChargerUpdated, &["isReachable"], "t.is_connected = TRUE", &[]).await?;
                    let done = sqlx::query("UPDATE chargers SET is_connected = $1 WHERE is_connected = $2")
                        .bind(false)
                        .bind(true)
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    // Nor does any node's hold on a charger's socket.
                    sqlx::query("DELETE FROM charger_owners")
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(done.rows_affected())
                }

                async fn record_boot(&self, id: &ChargerId, info: &ChargerInfo, at: DateTime<Utc>) -> Result<(), StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let before = sqlx::query("SELECT vendor, model, serial_number, firmware_version FROM chargers WHERE id = $1")
                        .bind(id.as_str())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    sqlx::query(
                        "UPDATE chargers SET vendor = $2, model = $3, serial_number = $4, firmware_version = $5, last_seen = $6 WHERE id = $1",
                    )
                    .bind(id.as_str())
                    .bind(info.vendor.as_deref())
                    .bind(info.model.as_deref())
                    .bind(info.serial_number.as_deref())
                    .bind(info.firmware_version.as_deref())
                    .bind($time::bind(at))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    if let Some(before) = before {
                        let read = |column: &str| before.try_get::<Option<String>, _>(column).map_err(store_error);
                        let mut changed = Vec::new();
                        for (field, column, now) in [
                            ("information.brand", "vendor", &info.vendor),
                            ("information.model", "model", &info.model),
                            ("information.serialNumber", "serial_number", &info.serial_number),
                            ("information.firmwareVersion", "firmware_version", &info.firmware_version),
                        ] {
                            if read(column)? != *now {
                                changed.push(field);
                            }
                        }
                        if !changed.is_empty() {
                            Self::append_event(&mut tx, EventType::ChargerUpdated, id.as_str(), &changed).await?;
                        }
                    }
                    tx.commit().await.map_err(store_error)
                }

                async fn record_seen(&self, id: &ChargerId, at: DateTime<Utc>) -> Result<(), StoreError> {
                    self.submit_meter_write(id, crate::sql::MeterWriteKind::Seen(at)).await
                }

                async fn record_status(&self, id: &ChargerId, status: &ConnectorStatus) -> Result<(), StoreError> {
                    self.submit_meter_write(id, crate::sql::MeterWriteKind::Status(status.clone())).await
                }

                async fn record_id_tag(&self, id: &ChargerId, id_tag: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO charger_id_tags (charger_id, id_tag, first_seen, last_seen) VALUES ($1, $2, $3, $3) \
                         ON CONFLICT (charger_id, id_tag) DO UPDATE SET last_seen = excluded.last_seen",
                    )
                    .bind(id.as_str())
                    .bind(id_tag)
                    .bind($time::bind(at))
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                    Ok(())
                }

                async fn start_session(&self, id: &ChargerId, start: &SessionStart<'_>) -> Result<i64, StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let existing = sqlx::query(
                        "SELECT transaction_id FROM charge_sessions \
                         WHERE charger_id = $1 AND connector_id = $2 AND started_at = $3 AND meter_start_wh = $4",
                    )
                    .bind(id.as_str())
                    .bind(i64::from(start.connector_id))
                    .bind($time::bind(start.started_at))
                    .bind(start.meter_start_wh)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    if let Some(row) = existing {
                        return row.try_get("transaction_id").map_err(store_error);
                    }
                    let row = sqlx::query(
                        "INSERT INTO charge_sessions (charger_id, connector_id, id_tag, meter_start_wh, meter_last_wh, started_at, vehicle_id) \
                         VALUES ($1, $2, $3, $4, $4, $5, (SELECT vehicle_id FROM ev_systems WHERE charger_id = $1 AND activated)) \
                         RETURNING transaction_id",
                    )
                    .bind(id.as_str())
                    .bind(i64::from(start.connector_id))
                    .bind(start.id_tag)
                    .bind(start.meter_start_wh)
                    .bind($time::bind(start.started_at))
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    let transaction_id: i64 = row.try_get("transaction_id").map_err(store_error)?;
                    Self::append_event(&mut tx, EventType::ChargerUpdated, id.as_str(), &["chargeState.sessionEnergy"]).await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(transaction_id)
                }

                async fn stop_session(&self, id: &ChargerId, stop: &SessionStop<'_>) -> Result<bool, StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let row = sqlx::query("SELECT connector_id FROM charge_sessions WHERE charger_id = $1 AND transaction_id = $2")
                        .bind(id.as_str())
                        .bind(stop.transaction_id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    let connector_id = match &row {
                        Some(row) => row.try_get::<i64, _>("connector_id").map_err(store_error)?,
                        None => 0,
                    };
                    let connector_id = u32::try_from(connector_id).unwrap_or(0);
                    let known = row.is_some();
                    let mut changed = Vec::new();
                    let transaction_id = known.then_some(stop.transaction_id);
                    Self::insert_samples(&mut tx, id, connector_id, transaction_id, stop.samples).await?;
                    if known {
                        // A repeated StopTransaction (a retry after a lost answer) keeps the first one's values.
                        let stopped = sqlx::query(
                            "UPDATE charge_sessions SET meter_stop_wh = $3, stopped_at = $4, stop_reason = $5, \
                             meter_last_wh = CASE WHEN meter_last_wh < $3 THEN $3 ELSE meter_last_wh END \
                             WHERE charger_id = $1 AND transaction_id = $2 AND stopped_at IS NULL",
                        )
                        .bind(id.as_str())
                        .bind(stop.transaction_id)
                        .bind(stop.meter_stop_wh)
                        .bind($time::bind(stop.stopped_at))
                        .bind(stop.reason)
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                        if stopped.rows_affected() > 0 {
                            changed.extend(["chargeState.sessionEnergy", "chargeState.isCharging"]);
                        }
                    }
                    changed.extend(Self::fold_samples(&mut tx, id, None, stop.samples).await?);
                    Self::charger_changed(&mut tx, id, changed).await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(known)
                }

                async fn record_meter_values(
                    &self,
                    id: &ChargerId,
                    connector_id: u32,
                    transaction_id: Option<i64>,
                    samples: &[MeterSample],
                ) -> Result<(), StoreError> {
                    let what = crate::sql::MeterWriteKind::Readings {
                        connector_id,
                        transaction_id,
                        samples: samples.to_vec(),
                    };
                    self.submit_meter_write(id, what).await
                }

                async fn active_session(&self, id: &ChargerId) -> Result<Option<ChargeSession>, StoreError> {
                    let sql = format!(
                        "SELECT {SESSION_COLUMNS} FROM charge_sessions WHERE charger_id = $1 AND stopped_at IS NULL \
                         ORDER BY started_at DESC, transaction_id DESC LIMIT 1"
                    );
                    let row = sqlx::query(&sql).bind(id.as_str()).fetch_optional(&self.reads).await.map_err(store_error)?;
                    row.as_ref().map(session_from_row).transpose().map_err(store_error)
                }

                async fn set_max_current(&self, id: &ChargerId, amps: Option<f64>) -> Result<(), StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let before = sqlx::query("SELECT max_current FROM chargers WHERE id = $1")
                        .bind(id.as_str())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    sqlx::query("UPDATE chargers SET max_current = $2 WHERE id = $1")
                        .bind(id.as_str())
                        .bind(amps)
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    if let Some(before) = before {
                        if before.try_get::<Option<f64>, _>("max_current").map_err(store_error)? != amps {
                            Self::append_event(&mut tx, EventType::ChargerUpdated, id.as_str(), &["chargeState.maxCurrent"]).await?;
                        }
                    }
                    tx.commit().await.map_err(store_error)
                }

                async fn record_firmware_status(&self, id: &ChargerId, status: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
                    sqlx::query("UPDATE chargers SET firmware_status = $2, last_seen = $3 WHERE id = $1")
                        .bind(id.as_str())
                        .bind(status)
                        .bind($time::bind(at))
                        .execute(&self.pool)
                        .await
                        .map_err(store_error)?;
                    Ok(())
                }
            }
        };
    };
}

pub(crate) use impl_charger_store;
