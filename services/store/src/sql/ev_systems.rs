//! EV systems (vehicle and charger pairs), chargers' vehicle detection, and vehicles' identifiers.

/// Implements [`coupler_core::EvSystemStore`] for `$store` (rows `$row`, times through `$time`).
macro_rules! impl_ev_system_store {
    ($store:ident, $row:ty, $time:ident) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use coupler_core::ev_system::{
                Confidence, Detection, DetectionStatus, EvSystem, EvSystemId, Evidence, PairState, PowerSample, UnmatchedReason,
            };
            use coupler_core::page::{Cursor, Page, PageKey, PageRequest};
            use coupler_core::{ChargerId, ClientId, EvSystemStore, StoreError, UserId, VehicleId};
            use coupler_core::event::EventType;
            use sqlx::Row;

            use crate::sql::{placeholders, READ_CHUNK};
            use crate::store_error;

            const SELECT: &str = "SELECT e.id, e.client_id, u.external_id, e.vehicle_id, e.charger_id, e.activated, \
                e.evidence, e.confidence, e.activated_at, e.deactivated_at, e.created_at, e.updated_at \
                FROM ev_systems e JOIN users u ON u.id = e.user_id";

            fn decode(column: &str, what: impl std::fmt::Display) -> sqlx::Error {
                sqlx::Error::Decode(format!("{column}: {what}").into())
            }

            /// Reads a SCREAMING_SNAKE_CASE enum stored as its wire name.
            fn wire<T: serde::de::DeserializeOwned>(raw: &str, column: &str) -> Result<T, sqlx::Error> {
                serde_json::from_value(serde_json::Value::String(raw.to_owned())).map_err(|e| decode(column, e))
            }

            fn wire_name<T: serde::Serialize>(value: &T) -> String {
                match serde_json::to_value(value) {
                    Ok(serde_json::Value::String(name)) => name,
                    _ => String::new(),
                }
            }

            fn system_from_row(row: &$row) -> Result<EvSystem, sqlx::Error> {
                let user: String = row.try_get("external_id")?;
                let evidence: String = row.try_get("evidence")?;
                let confidence: Option<String> = row.try_get("confidence")?;
                let activated: bool = row.try_get("activated")?;
                Ok(EvSystem {
                    id: EvSystemId::new(row.try_get::<String, _>("id")?),
                    client_id: ClientId::new(row.try_get::<String, _>("client_id")?),
                    user_id: UserId::parse(&user).map_err(|e| decode("external_id", e))?,
                    vehicle_id: VehicleId::new(row.try_get::<String, _>("vehicle_id")?),
                    charger_id: ChargerId::new(row.try_get::<String, _>("charger_id")?),
                    state: if activated { PairState::Activated } else { PairState::Established },
                    evidence: serde_json::from_str::<Vec<Evidence>>(&evidence).map_err(|e| decode("evidence", e))?,
                    confidence: confidence.as_deref().map(|c| wire::<Confidence>(c, "confidence")).transpose()?,
                    activated_at: $time::read_opt(row, "activated_at")?,
                    deactivated_at: $time::read_opt(row, "deactivated_at")?,
                    created_at: $time::read(row, "created_at")?,
                    updated_at: $time::read(row, "updated_at")?,
                })
            }

            fn detection_from_row(row: &$row) -> Result<Detection, sqlx::Error> {
                let status: String = row.try_get("status")?;
                Ok(Detection {
                    charger_id: ChargerId::new(row.try_get::<String, _>("charger_id")?),
                    status: wire::<DetectionStatus>(&status, "status")?,
                    plugged_in_at: $time::read_opt(row, "plugged_in_at")?,
                    vehicle_id: row.try_get::<Option<String>, _>("vehicle_id")?.map(VehicleId::new),
                    reason: row.try_get("reason")?,
                    reason_code: row
                        .try_get::<Option<String>, _>("reason_code")?
                        .map(|code| wire::<UnmatchedReason>(&code, "reason_code"))
                        .transpose()?,
                    polled_at: $time::read_opt(row, "polled_at")?,
                    updated_at: $time::read(row, "updated_at")?,
                })
            }

            impl $store {
                /// A pair was activated or deactivated: its vehicle's `pluggedInChargerId` and its
                /// charger's `pluggedInVehicleId` changed with it.
                async fn devices_changed(
                    tx: &mut sqlx::Transaction<'_, <$store as crate::sql::StorePool>::Db>,
                    pair: &str,
                ) -> Result<(), StoreError> {
                    Self::append_events(
                        tx,
                        EventType::VehicleUpdated,
                        &["chargeState"],
                        "t.id = (SELECT vehicle_id FROM ev_systems WHERE id = $4)",
                        &[pair],
                    )
                    .await?;
                    Self::append_events(
                        tx,
                        EventType::ChargerUpdated,
                        &["chargeState"],
                        "t.id = (SELECT charger_id FROM ev_systems WHERE id = $4)",
                        &[pair],
                    )
                    .await?;
                    Ok(())
                }

                async fn fetch_systems(&self, filter: &str, binds: &[&str]) -> Result<Vec<EvSystem>, StoreError> {
                    let sql = format!("{SELECT} WHERE {filter} ORDER BY e.created_at DESC, e.id DESC");
                    let mut query = sqlx::query(&sql);
                    for bind in binds {
                        query = query.bind(*bind);
                    }
                    let rows = query.fetch_all(&self.reads).await.map_err(store_error)?;
                    rows.iter().map(system_from_row).collect::<Result<Vec<_>, _>>().map_err(store_error)
                }

                /// The pairs each of these chargers is part of, newest first.
                async fn ev_systems_of_chargers(&self, ids: &[ChargerId]) -> Result<Vec<EvSystem>, StoreError> {
                    let mut found = Vec::new();
                    for chunk in ids.chunks(READ_CHUNK) {
                        let filter = format!("e.charger_id IN ({})", placeholders(1, chunk.len()));
                        let binds: Vec<&str> = chunk.iter().map(ChargerId::as_str).collect();
                        found.extend(self.fetch_systems(&filter, &binds).await?);
                    }
                    Ok(found)
                }

                /// The vehicle detections of these chargers, where they have one.
                async fn detections_of(&self, ids: &[ChargerId]) -> Result<Vec<Detection>, StoreError> {
                    let mut found = Vec::new();
                    for chunk in ids.chunks(READ_CHUNK) {
                        let sql = format!(
                            "SELECT charger_id, status, plugged_in_at, vehicle_id, reason, reason_code, polled_at, updated_at \
                             FROM vehicle_detections WHERE charger_id IN ({})",
                            placeholders(1, chunk.len())
                        );
                        let mut query = sqlx::query(&sql);
                        for id in chunk {
                            query = query.bind(id.as_str());
                        }
                        let rows = query.fetch_all(&self.reads).await.map_err(store_error)?;
                        for row in &rows {
                            found.push(detection_from_row(row).map_err(store_error)?);
                        }
                    }
                    Ok(found)
                }

                async fn systems_by_id(&self, ids: &[String]) -> Result<Vec<EvSystem>, StoreError> {
                    let mut found = Vec::with_capacity(ids.len());
                    for id in ids {
                        found.extend(self.fetch_systems("e.id = $1", &[id.as_str()]).await?);
                    }
                    Ok(found)
                }
            }

            #[async_trait]
            impl EvSystemStore for $store {
                async fn establish_ev_systems(&self, client: &ClientId, user: &UserId) -> Result<Vec<EvSystem>, StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    // Most calls find nothing to do (a user without vehicles, or without chargers,
                    // like a depot of chargers): two index lookups settle those before any join.
                    let owner = sqlx::query(
                        "SELECT u.id FROM users u WHERE u.client_id = $1 AND u.external_id = $2 \
                         AND EXISTS (SELECT 1 FROM vehicles v WHERE v.user_id = u.id) \
                         AND EXISTS (SELECT 1 FROM chargers c WHERE c.user_id = u.id)",
                    )
                    .bind(client.as_str())
                    .bind(user.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    let Some(owner) = owner else {
                        return Ok(Vec::new());
                    };
                    let user_row: String = owner.try_get("id").map_err(store_error)?;
                    let missing = sqlx::query(
                        "SELECT v.id AS vehicle_id, c.id AS charger_id FROM vehicles v \
                         JOIN chargers c ON c.user_id = v.user_id \
                         WHERE v.user_id = $1 AND NOT EXISTS \
                         (SELECT 1 FROM ev_systems e WHERE e.vehicle_id = v.id AND e.charger_id = c.id)",
                    )
                    .bind(&user_row)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    let now = self.clock.now();
                    let mut created = Vec::new();
                    for row in &missing {
                        let id = EvSystemId::generate();
                        let vehicle: String = row.try_get("vehicle_id").map_err(store_error)?;
                        let charger: String = row.try_get("charger_id").map_err(store_error)?;
                        let done = sqlx::query(
                            "INSERT INTO ev_systems (id, client_id, user_id, vehicle_id, charger_id, created_at, updated_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (vehicle_id, charger_id) DO NOTHING",
                        )
                        .bind(id.as_str())
                        .bind(client.as_str())
                        .bind(&user_row)
                        .bind(&vehicle)
                        .bind(&charger)
                        .bind($time::bind(now))
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                        if done.rows_affected() > 0 {
                            Self::append_event(&mut tx, EventType::EvSystemUpdated, id.as_str(), &["vehicleId", "chargerId"]).await?;
                            created.push(id.as_str().to_owned());
                        }
                    }
                    tx.commit().await.map_err(store_error)?;
                    self.systems_by_id(&created).await
                }

                async fn list_ev_systems(
                    &self,
                    client: &ClientId,
                    user: &UserId,
                    page: &PageRequest,
                ) -> Result<Page<EvSystem>, StoreError> {
                    let limit = i64::from(page.size) + 1;
                    let base = "e.client_id = $1 AND u.external_id = $2";
                    let (filter, order) = crate::sql::keyset(base, "e", page.cursor.as_ref(), 3);
                    let sql = format!("{SELECT} WHERE {filter} ORDER BY e.created_at {order}, e.id {order} LIMIT {limit}");
                    let mut query = sqlx::query(&sql).bind(client.as_str()).bind(user.as_str());
                    if let Some(Cursor::After(key) | Cursor::Before(key)) = &page.cursor {
                        query = query.bind($time::bind(key.created_at)).bind(key.id.clone());
                    }
                    let rows = query.fetch_all(&self.reads).await.map_err(store_error)?;
                    let mut systems = rows.iter().map(system_from_row).collect::<Result<Vec<_>, _>>().map_err(store_error)?;
                    if matches!(page.cursor, Some(Cursor::Before(_))) {
                        systems.reverse();
                    }
                    Ok(Page::from_rows(page, systems, |s| PageKey { created_at: s.created_at, id: s.id.as_str().to_owned() }))
                }

                async fn get_ev_system(&self, client: &ClientId, id: &EvSystemId) -> Result<Option<EvSystem>, StoreError> {
                    Ok(self.fetch_systems("e.client_id = $1 AND e.id = $2", &[client.as_str(), id.as_str()]).await?.into_iter().next())
                }

                async fn ev_systems_of_vehicle(&self, client: &ClientId, vehicle: &VehicleId) -> Result<Vec<EvSystem>, StoreError> {
                    self.fetch_systems("e.client_id = $1 AND e.vehicle_id = $2", &[client.as_str(), vehicle.as_str()]).await
                }

                async fn ev_systems_of_charger(&self, charger: &ChargerId) -> Result<Vec<EvSystem>, StoreError> {
                    self.fetch_systems("e.charger_id = $1", &[charger.as_str()]).await
                }

                async fn activate_ev_system(
                    &self,
                    charger: &ChargerId,
                    vehicle: &VehicleId,
                    evidence: &[Evidence],
                    confidence: Confidence,
                    at: DateTime<Utc>,
                ) -> Result<Vec<EvSystem>, StoreError> {
                    let evidence = serde_json::to_string(evidence).map_err(|e| StoreError::Backend(e.to_string()))?;
                    let confidence = wire_name(&confidence);
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let current = sqlx::query(
                        "SELECT id, activated, evidence, confidence FROM ev_systems WHERE charger_id = $1 AND vehicle_id = $2",
                    )
                    .bind(charger.as_str())
                    .bind(vehicle.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    let Some(current) = current else {
                        return Ok(Vec::new());
                    };
                    let id: String = current.try_get("id").map_err(store_error)?;
                    let was_active: bool = current.try_get("activated").map_err(store_error)?;
                    let old_evidence: String = current.try_get("evidence").map_err(store_error)?;
                    let old_confidence: Option<String> = current.try_get("confidence").map_err(store_error)?;
                    let mut changed = Vec::new();
                    // Free both devices first: the unique indexes allow one activated pair each.
                    let freed = sqlx::query(
                        "UPDATE ev_systems SET activated = FALSE, deactivated_at = $3, updated_at = $3 \
                         WHERE activated AND (charger_id = $1 OR vehicle_id = $2) AND id <> $4 RETURNING id",
                    )
                    .bind(charger.as_str())
                    .bind(vehicle.as_str())
                    .bind($time::bind(at))
                    .bind(&id)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    for row in &freed {
                        let freed_id = row.try_get::<String, _>("id").map_err(store_error)?;
                        Self::append_event(&mut tx, EventType::EvSystemDeactivated, &freed_id, &["state", "deactivatedAt"]).await?;
                        Self::devices_changed(&mut tx, &freed_id).await?;
                        changed.push(freed_id);
                    }
                    let same = was_active && old_evidence == evidence && old_confidence.as_deref() == Some(confidence.as_str());
                    if !same {
                        sqlx::query(
                            "UPDATE ev_systems SET activated = TRUE, evidence = $2, confidence = $3, \
                             activated_at = CASE WHEN activated THEN activated_at ELSE $4 END, updated_at = $4 WHERE id = $1",
                        )
                        .bind(&id)
                        .bind(&evidence)
                        .bind(&confidence)
                        .bind($time::bind(at))
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                        // The session running now is this car's.
                        sqlx::query("UPDATE charge_sessions SET vehicle_id = $2 WHERE charger_id = $1 AND stopped_at IS NULL")
                            .bind(charger.as_str())
                            .bind(vehicle.as_str())
                            .execute(&mut *tx)
                            .await
                            .map_err(store_error)?;
                        if was_active {
                            Self::append_event(&mut tx, EventType::EvSystemUpdated, &id, &["match"]).await?;
                        } else {
                            Self::append_event(&mut tx, EventType::EvSystemActivated, &id, &["state", "activatedAt", "match"]).await?;
                            Self::devices_changed(&mut tx, &id).await?;
                        }
                        changed.push(id);
                    }
                    tx.commit().await.map_err(store_error)?;
                    self.systems_by_id(&changed).await
                }

                async fn deactivate_charger(&self, charger: &ChargerId, at: DateTime<Utc>) -> Result<Vec<EvSystem>, StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let ended = Self::append_events(
                        &mut tx,
                        EventType::EvSystemDeactivated,
                        &["state", "deactivatedAt"],
                        "t.charger_id = $4 AND t.activated = TRUE",
                        &[charger.as_str()],
                    )
                    .await?;
                    if ended > 0 {
                        // The vehicle loses its pluggedInChargerId and the charger its pluggedInVehicleId.
                        Self::append_events(
                            &mut tx,
                            EventType::VehicleUpdated,
                            &["chargeState"],
                            "t.id IN (SELECT vehicle_id FROM ev_systems WHERE charger_id = $4 AND activated = TRUE)",
                            &[charger.as_str()],
                        )
                        .await?;
                        Self::append_events(&mut tx, EventType::ChargerUpdated, &["chargeState"], "t.id = $4", &[charger.as_str()])
                            .await?;
                    }
                    let rows = sqlx::query(
                        "UPDATE ev_systems SET activated = FALSE, deactivated_at = $2, updated_at = $2 \
                         WHERE charger_id = $1 AND activated RETURNING id",
                    )
                    .bind(charger.as_str())
                    .bind($time::bind(at))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    let ids = rows
                        .iter()
                        .map(|r| r.try_get::<String, _>("id"))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(store_error)?;
                    self.systems_by_id(&ids).await
                }

                async fn get_detection(&self, charger: &ChargerId) -> Result<Option<Detection>, StoreError> {
                    let row = sqlx::query(
                        "SELECT charger_id, status, plugged_in_at, vehicle_id, reason, reason_code, polled_at, updated_at \
                         FROM vehicle_detections WHERE charger_id = $1",
                    )
                    .bind(charger.as_str())
                    .fetch_optional(&self.reads)
                    .await
                    .map_err(store_error)?;
                    row.as_ref().map(detection_from_row).transpose().map_err(store_error)
                }

                async fn save_detection(&self, d: &Detection) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO vehicle_detections (charger_id, status, plugged_in_at, vehicle_id, reason, polled_at, updated_at, reason_code) \
                         SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE EXISTS (SELECT 1 FROM chargers WHERE id = $1) \
                         ON CONFLICT (charger_id) DO UPDATE SET status = excluded.status, plugged_in_at = excluded.plugged_in_at, \
                         vehicle_id = excluded.vehicle_id, reason = excluded.reason, polled_at = excluded.polled_at, \
                         updated_at = excluded.updated_at, reason_code = excluded.reason_code",
                    )
                    .bind(d.charger_id.as_str())
                    .bind(wire_name(&d.status))
                    .bind(d.plugged_in_at.map($time::bind))
                    .bind(d.vehicle_id.as_ref().map(VehicleId::as_str))
                    .bind(d.reason.as_deref())
                    .bind(d.polled_at.map($time::bind))
                    .bind($time::bind(d.updated_at))
                    .bind(d.reason_code.as_ref().map(wire_name))
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                    Ok(())
                }

                async fn open_detections(&self, plugged_in_since: Option<DateTime<Utc>>) -> Result<Vec<Detection>, StoreError> {
                    let rows = sqlx::query(
                        "SELECT charger_id, status, plugged_in_at, vehicle_id, reason, reason_code, polled_at, updated_at \
                         FROM vehicle_detections WHERE status <> 'UNPLUGGED' \
                         AND ($1 IS NULL \
                              OR (reason_code = 'NO_LINKED_VEHICLE' AND status = 'DETECTING' AND plugged_in_at < $1) \
                              OR (COALESCE(reason_code, '') <> 'NO_LINKED_VEHICLE' AND (status = 'DETECTING' OR plugged_in_at >= $1)))",
                    )
                    .bind(plugged_in_since.map($time::bind))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_error)?;
                    rows.iter().map(detection_from_row).collect::<Result<Vec<_>, _>>().map_err(store_error)
                }

                async fn open_detections_of_user(&self, client: &ClientId, user: &UserId) -> Result<Vec<Detection>, StoreError> {
                    let rows = sqlx::query(
                        "SELECT d.charger_id AS charger_id, d.status AS status, d.plugged_in_at AS plugged_in_at, \
                         d.vehicle_id AS vehicle_id, d.reason AS reason, d.reason_code AS reason_code, d.polled_at AS polled_at, \
                         d.updated_at AS updated_at \
                         FROM vehicle_detections d JOIN chargers c ON c.id = d.charger_id JOIN users u ON u.id = c.user_id \
                         WHERE d.status <> 'UNPLUGGED' AND c.client_id = $1 AND u.external_id = $2",
                    )
                    .bind(client.as_str())
                    .bind(user.as_str())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_error)?;
                    rows.iter().map(detection_from_row).collect::<Result<Vec<_>, _>>().map_err(store_error)
                }

                async fn power_samples_since(&self, charger: &ChargerId, since: DateTime<Utc>) -> Result<Vec<PowerSample>, StoreError> {
                    let rows = sqlx::query(
                        "SELECT sampled_at, phase, value FROM meter_samples \
                         WHERE charger_id = $1 AND sampled_at >= $2 AND measurand = 'Power.Active.Import' \
                         ORDER BY sampled_at",
                    )
                    .bind(charger.as_str())
                    .bind($time::bind(since))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_error)?;
                    // A total where the charger sent one, else the sum of its phases; W to kW.
                    let mut samples: Vec<(DateTime<Utc>, Option<f64>, f64)> = Vec::new();
                    for row in &rows {
                        let at: DateTime<Utc> = $time::read(row, "sampled_at").map_err(store_error)?;
                        let phase: Option<String> = row.try_get("phase").map_err(store_error)?;
                        let value: f64 = row.try_get("value").map_err(store_error)?;
                        if samples.last().is_none_or(|(last, _, _)| *last != at) {
                            samples.push((at, None, 0.0));
                        }
                        if let Some(last) = samples.last_mut() {
                            match phase {
                                None => last.1 = Some(value),
                                Some(_) => last.2 += value,
                            }
                        }
                    }
                    Ok(samples
                        .into_iter()
                        .map(|(at, total, phases)| PowerSample {
                            at,
                            kw: total.unwrap_or(phases) / 1000.0,
                        })
                        .collect())
                }

                async fn set_vehicle_id_tags(&self, client: &ClientId, vehicle: &VehicleId, tags: &[String]) -> Result<bool, StoreError> {
                    let tags = serde_json::to_string(tags).map_err(|e| StoreError::Backend(e.to_string()))?;
                    let done = sqlx::query("UPDATE vehicles SET id_tags = $3, updated_at = $4 WHERE client_id = $1 AND id = $2")
                        .bind(client.as_str())
                        .bind(vehicle.as_str())
                        .bind(tags)
                        .bind($time::bind(self.clock.now()))
                        .execute(&self.pool)
                        .await
                        .map_err(store_error)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn id_tags_seen_since(&self, charger: &ChargerId, since: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
                    let rows = sqlx::query(
                        "SELECT id_tag FROM charger_id_tags WHERE charger_id = $1 AND last_seen >= $2 \
                         UNION SELECT id_tag FROM charge_sessions WHERE charger_id = $1 AND stopped_at IS NULL AND id_tag IS NOT NULL",
                    )
                    .bind(charger.as_str())
                    .bind($time::bind(since))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_error)?;
                    rows.iter().map(|r| r.try_get::<String, _>("id_tag")).collect::<Result<Vec<_>, _>>().map_err(store_error)
                }
            }
        };
    };
}

pub(crate) use impl_ev_system_store;
