//! OCPP 2.0.1 transactions: the charger's transaction ids and TransactionEvent sequence numbers,
//! kept beside the sessions of `chargers.rs` (whose sample helpers this reuses).

/// Implements [`coupler_core::TransactionEventStore`] for `$store` (rows `$row`, times through `$time`).
macro_rules! impl_transaction_event_store {
    ($store:ident, $row:ty, $time:ident) => {
        const _: () = {
            use async_trait::async_trait;
            use coupler_core::charger::{ChargerId, MeterSample};
            use coupler_core::store::{TransactionEventKind, TransactionEventOutcome, TransactionEventRecord};
            use coupler_core::{StoreError, TransactionEventStore};
            use sqlx::Row;

            use crate::store_error;

            /// The energy register readings (whole meter, no phase) of `samples`: the earliest and
            /// the latest.
            fn energy_span(samples: &[MeterSample]) -> Option<(f64, f64)> {
                let registers = samples
                    .iter()
                    .filter(|s| s.measurand == "Energy.Active.Import.Register" && s.phase.is_none());
                let first = registers.clone().min_by_key(|s| s.sampled_at)?;
                let last = registers.max_by_key(|s| s.sampled_at)?;
                Some((first.value, last.value))
            }

            #[async_trait]
            impl TransactionEventStore for $store {
                async fn record_transaction_event(
                    &self,
                    id: &ChargerId,
                    event: &TransactionEventRecord<'_>,
                ) -> Result<TransactionEventOutcome, StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let inserted = sqlx::query(
                        "INSERT INTO transaction_events (charger_id, ocpp_transaction_id, seq_no, event_type, occurred_at, offline) \
                         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (charger_id, ocpp_transaction_id, seq_no) DO NOTHING",
                    )
                    .bind(id.as_str())
                    .bind(event.charger_transaction_id)
                    .bind(event.seq_no)
                    .bind(event.kind.as_str())
                    .bind($time::bind(event.at))
                    .bind(event.offline)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?
                    .rows_affected()
                        > 0;
                    let existing = sqlx::query(
                        "SELECT transaction_id, connector_id, id_tag, meter_start_wh, meter_last_wh, meter_stop_wh, \
                         started_at, stopped_at, stop_reason, remote_start_id, first_seq_no, last_seq_no \
                         FROM charge_sessions WHERE charger_id = $1 AND ocpp_transaction_id = $2",
                    )
                    .bind(id.as_str())
                    .bind(event.charger_transaction_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    let energy = energy_span(event.samples);
                    let mut changed: Vec<&'static str> = Vec::new();
                    let outcome = match existing {
                        Some(row) if !inserted => {
                            let transaction_id: i64 = row.try_get("transaction_id").map_err(store_error)?;
                            let connector_id: i64 = row.try_get("connector_id").map_err(store_error)?;
                            return Ok(TransactionEventOutcome {
                                transaction_id,
                                connector_id: u32::try_from(connector_id).unwrap_or(0),
                                duplicate: true,
                                newest: false,
                                created: false,
                            });
                        }
                        None => {
                            // The first event Coupler sees of this transaction, whatever its kind.
                            let connector_id = event.connector_id.unwrap_or(0);
                            let meter_start = energy.map_or(0.0, |(first, _)| first);
                            let meter_last = energy.map_or(meter_start, |(_, last)| last);
                            let ended = event.kind == TransactionEventKind::Ended;
                            let row = sqlx::query(
                                "INSERT INTO charge_sessions (charger_id, connector_id, id_tag, meter_start_wh, meter_last_wh, \
                                 meter_stop_wh, started_at, stopped_at, stop_reason, ocpp_transaction_id, remote_start_id, \
                                 first_seq_no, last_seq_no, vehicle_id) \
                                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, \
                                 (SELECT vehicle_id FROM ev_systems WHERE charger_id = $1 AND activated)) RETURNING transaction_id",
                            )
                            .bind(id.as_str())
                            .bind(i64::from(connector_id))
                            .bind(event.id_tag)
                            .bind(meter_start)
                            .bind(meter_last)
                            .bind(ended.then_some(meter_last))
                            .bind($time::bind(event.at))
                            .bind(ended.then(|| $time::bind(event.at)))
                            .bind(if ended { event.stop_reason } else { None })
                            .bind(event.charger_transaction_id)
                            .bind(event.remote_start_id)
                            .bind(event.seq_no)
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(store_error)?;
                            changed.extend(["chargeState.sessionEnergy", "chargeState.isCharging"]);
                            TransactionEventOutcome {
                                transaction_id: row.try_get("transaction_id").map_err(store_error)?,
                                connector_id,
                                duplicate: false,
                                newest: true,
                                created: true,
                            }
                        }
                        Some(row) => {
                            let read = || -> Result<_, sqlx::Error> {
                                Ok((
                                    row.try_get::<i64, _>("transaction_id")?,
                                    row.try_get::<i64, _>("connector_id")?,
                                    row.try_get::<Option<String>, _>("id_tag")?,
                                    row.try_get::<f64, _>("meter_start_wh")?,
                                    row.try_get::<f64, _>("meter_last_wh")?,
                                    row.try_get::<Option<f64>, _>("meter_stop_wh")?,
                                    $time::read(&row, "started_at")?,
                                    $time::read_opt(&row, "stopped_at")?,
                                    row.try_get::<Option<String>, _>("stop_reason")?,
                                    row.try_get::<Option<i64>, _>("remote_start_id")?,
                                    row.try_get::<Option<i64>, _>("first_seq_no")?,
                                    row.try_get::<Option<i64>, _>("last_seq_no")?,
                                ))
                            };
                            let (
                                transaction_id,
                                connector_id,
                                mut id_tag,
                                mut meter_start,
                                mut meter_last,
                                mut meter_stop,
                                mut started_at,
                                mut stopped_at,
                                mut stop_reason,
                                mut remote_start_id,
                                first_seq_no,
                                last_seq_no,
                            ) = read().map_err(store_error)?;
                            let first_seq_no = first_seq_no.unwrap_or(event.seq_no);
                            let last_seq_no = last_seq_no.unwrap_or(event.seq_no);
                            let mut connector_id = u32::try_from(connector_id).unwrap_or(0);
                            let earliest = event.seq_no < first_seq_no;
                            if event.kind == TransactionEventKind::Started {
                                started_at = event.at;
                            } else if earliest && event.at < started_at {
                                started_at = event.at;
                            }
                            if earliest || event.kind == TransactionEventKind::Started {
                                if let Some((first, _)) = energy {
                                    meter_start = first;
                                }
                            }
                            if let Some((_, last)) = energy {
                                // Registers only grow; a lower reading is an older one arriving late.
                                if last > meter_last {
                                    changed.push("chargeState.sessionEnergy");
                                }
                                meter_last = meter_last.max(last);
                            }
                            if connector_id == 0 {
                                connector_id = event.connector_id.unwrap_or(0);
                            }
                            if id_tag.is_none() {
                                id_tag = event.id_tag.map(str::to_owned);
                            }
                            if remote_start_id.is_none() {
                                remote_start_id = event.remote_start_id;
                            }
                            if event.kind == TransactionEventKind::Ended && stopped_at.is_none() {
                                changed.extend(["chargeState.sessionEnergy", "chargeState.isCharging"]);
                                stopped_at = Some(event.at);
                                meter_stop = Some(energy.map_or(meter_last, |(_, last)| last));
                                stop_reason = event.stop_reason.map(str::to_owned);
                            }
                            sqlx::query(
                                "UPDATE charge_sessions SET connector_id = $3, id_tag = $4, meter_start_wh = $5, \
                                 meter_last_wh = $6, meter_stop_wh = $7, started_at = $8, stopped_at = $9, stop_reason = $10, \
                                 remote_start_id = $11, first_seq_no = $12, last_seq_no = $13 \
                                 WHERE charger_id = $1 AND transaction_id = $2",
                            )
                            .bind(id.as_str())
                            .bind(transaction_id)
                            .bind(i64::from(connector_id))
                            .bind(id_tag)
                            .bind(meter_start)
                            .bind(meter_last)
                            .bind(meter_stop)
                            .bind($time::bind(started_at))
                            .bind(stopped_at.map($time::bind))
                            .bind(stop_reason)
                            .bind(remote_start_id)
                            .bind(first_seq_no.min(event.seq_no))
                            .bind(last_seq_no.max(event.seq_no))
                            .execute(&mut *tx)
                            .await
                            .map_err(store_error)?;
                            TransactionEventOutcome {
                                transaction_id,
                                connector_id,
                                duplicate: false,
                                newest: event.seq_no > last_seq_no,
                                created: false,
                            }
                        }
                    };
                    if let (true, Some((status, state))) = (outcome.newest && outcome.connector_id > 0, event.connector_state) {
                        // In this transaction rather than a second one: one commit per event.
                        sqlx::query(
                            "INSERT INTO connectors (charger_id, connector_id, status, error_code, info, power_delivery_state, updated_at) \
                             VALUES ($1, $2, $3, 'NoError', NULL, $4, $5) \
                             ON CONFLICT (charger_id, connector_id) DO UPDATE SET status = excluded.status, \
                             error_code = excluded.error_code, info = excluded.info, \
                             power_delivery_state = excluded.power_delivery_state, updated_at = excluded.updated_at",
                        )
                        .bind(id.as_str())
                        .bind(i64::from(outcome.connector_id))
                        .bind(status)
                        .bind(state.as_str())
                        .bind($time::bind(self.clock.now()))
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                        changed.extend(["connectors", "chargeState.isPluggedIn", "chargeState.powerDeliveryState"]);
                    }
                    Self::insert_samples(
                        &mut tx,
                        id,
                        outcome.connector_id,
                        Some(outcome.transaction_id),
                        event.samples,
                    )
                    .await?;
                    // The session's energy was settled above; this folds the live readings only.
                    changed.extend(Self::fold_samples(&mut tx, id, None, event.samples).await?);
                    // One event for everything this message changed: one INSERT in its transaction.
                    Self::charger_changed(&mut tx, id, changed).await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(outcome)
                }

                async fn charger_transaction_id(
                    &self,
                    id: &ChargerId,
                    transaction_id: i64,
                ) -> Result<Option<String>, StoreError> {
                    let row = sqlx::query(
                        "SELECT ocpp_transaction_id FROM charge_sessions WHERE charger_id = $1 AND transaction_id = $2",
                    )
                    .bind(id.as_str())
                    .bind(transaction_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(store_error)?;
                    match row {
                        Some(row) => row.try_get("ocpp_transaction_id").map_err(store_error),
                        None => Ok(None),
                    }
                }
            }
        };
    };
}

pub(crate) use impl_transaction_event_store;
