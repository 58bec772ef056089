//! Smart-charging policies, their plans (each change of a plan with its event, in one
//! transaction), and the `schedule` limit source that carries a plan to its charger.

/// Implements [`coupler_core::SmartChargingStore`] for `$store` (rows `$row`, times through
/// `$time`).
macro_rules! impl_smart_charging_store {
    ($store:ident, $row:ty, $time:ident) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use coupler_core::event::EventType;
            use coupler_core::limits::{LimitScope, LimitSource, LimitSourceId, LimitSourceKind, SchedulePeriod};
            use coupler_core::smart::{
                PlanState, PolicyTarget, SmartPlan, SmartPlanId, SmartPolicy, SmartPolicyId,
            };
            use coupler_core::location::LocationId;
            use coupler_core::store::ChargerPlugIn;
            use coupler_core::{ChargerId, ClientId, SmartChargingStore, StoreError, UserId, VehicleId};
            use sqlx::Row;

            use crate::sql::{placeholders, PlanSave, StorePool, PLAN_SAVES_PER_COMMIT, READ_CHUNK};
            use crate::store_error;

            const POLICY_SELECT: &str = "SELECT p.id, p.client_id, u.external_id, p.vehicle_id, p.ev_system_id, \
                p.charger_id, p.enabled, p.settings, p.charge_now_since, p.created_at, p.updated_at \
                FROM smart_charging_policies p JOIN users u ON u.id = p.user_id";

            const PLAN_SELECT: &str = "SELECT p.id, p.client_id, u.external_id, p.policy_id, p.vehicle_id, p.charger_id, \
                p.location_id, p.state, p.details, p.created_at, p.updated_at, p.ended_at \
                FROM smart_charging_plans p JOIN users u ON u.id = p.user_id";

            fn decode<E: std::error::Error + Send + Sync + 'static>(e: E) -> sqlx::Error {
                sqlx::Error::Decode(Box::new(e))
            }

            fn json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
                serde_json::to_string(value).map_err(|e| StoreError::Backend(e.to_string()))
            }

            /// The table and column a policy's target is found in.
            fn target_table(target: &PolicyTarget) -> (&'static str, &'static str) {
                match target {
                    PolicyTarget::Vehicle(_) => ("vehicles", "vehicle_id"),
                    PolicyTarget::EvSystem(_) => ("ev_systems", "ev_system_id"),
                    PolicyTarget::Charger(_) => ("chargers", "charger_id"),
                }
            }

            fn policy_from_row(row: &$row) -> Result<SmartPolicy, sqlx::Error> {
                let user: String = row.try_get("external_id")?;
                let vehicle: Option<String> = row.try_get("vehicle_id")?;
                let system: Option<String> = row.try_get("ev_system_id")?;
                let charger: Option<String> = row.try_get("charger_id")?;
                let target = match (vehicle, system, charger) {
                    (Some(id), _, _) => PolicyTarget::from_parts("vehicle", &id),
                    (None, Some(id), _) => PolicyTarget::from_parts("ev_system", &id),
                    (None, None, Some(id)) => PolicyTarget::from_parts("charger", &id),
                    (None, None, None) => None,
                }
                .ok_or_else(|| sqlx::Error::Decode("a policy governs nothing".into()))?;
                let settings: String = row.try_get("settings")?;
                Ok(SmartPolicy {
                    id: SmartPolicyId::new(row.try_get::<String, _>("id")?),
                    client_id: ClientId::new(row.try_get::<String, _>("client_id")?),
                    user_id: UserId::parse(&user).map_err(decode)?,
                    target,
                    enabled: row.try_get("enabled")?,
                    settings: serde_json::from_str(&settings).map_err(decode)?,
                    charge_now_since: $time::read_opt(row, "charge_now_since")?,
                    created_at: $time::read(row, "created_at")?,
                    updated_at: $time::read(row, "updated_at")?,
                })
            }

            fn plan_from_row(row: &$row) -> Result<SmartPlan, sqlx::Error> {
                let user: String = row.try_get("external_id")?;
                let state: String = row.try_get("state")?;
                let details: String = row.try_get("details")?;
                Ok(SmartPlan {
                    id: SmartPlanId::new(row.try_get::<String, _>("id")?),
                    client_id: ClientId::new(row.try_get::<String, _>("client_id")?),
                    user_id: UserId::parse(&user).map_err(decode)?,
                    policy_id: SmartPolicyId::new(row.try_get::<String, _>("policy_id")?),
                    vehicle_id: row.try_get::<Option<String>, _>("vehicle_id")?.map(VehicleId::new),
                    charger_id: row.try_get::<Option<String>, _>("charger_id")?.map(ChargerId::new),
                    location_id: row.try_get::<Option<String>, _>("location_id")?.map(LocationId::new),
                    state: PlanState::parse(&state)
                        .ok_or_else(|| sqlx::Error::Decode(format!("unknown plan state {state:?}").into()))?,
                    details: serde_json::from_str(&details).map_err(decode)?,
                    created_at: $time::read(row, "created_at")?,
                    updated_at: $time::read(row, "updated_at")?,
                    ended_at: $time::read_opt(row, "ended_at")?,
                })
            }

            fn one<T>(row: Option<$row>, read: fn(&$row) -> Result<T, sqlx::Error>) -> Result<Option<T>, StoreError> {
                row.as_ref().map(read).transpose().map_err(store_error)
            }

            fn all<T>(rows: &[$row], read: fn(&$row) -> Result<T, sqlx::Error>) -> Result<Vec<T>, StoreError> {
                rows.iter().map(read).collect::<Result<Vec<_>, _>>().map_err(store_error)
            }

            #[async_trait]
            impl SmartChargingStore for $store {
                async fn put_smart_policy(&self, policy: &SmartPolicy) -> Result<Option<SmartPolicy>, StoreError> {
                    let (table, column) = target_table(&policy.target);
                    // The target's owner becomes the policy's; another client's target inserts nothing.
                    let sql = format!(
                        "INSERT INTO smart_charging_policies (id, client_id, user_id, {column}, enabled, settings, charge_now_since, created_at, updated_at) \
                         SELECT $1, t.client_id, t.user_id, t.id, $4, $5, $6, $7, $8 FROM {table} t WHERE t.id = $2 AND t.client_id = $3 \
                         ON CONFLICT ({column}) DO UPDATE SET enabled = excluded.enabled, settings = excluded.settings, \
                         charge_now_since = excluded.charge_now_since, updated_at = excluded.updated_at"
                    );
                    let done = sqlx::query(&sql)
                        .bind(policy.id.as_str())
                        .bind(policy.target.id())
                        .bind(policy.client_id.as_str())
                        .bind(policy.enabled)
                        .bind(json(&policy.settings)?)
                        .bind(policy.charge_now_since.map($time::bind))
                        .bind($time::bind(policy.created_at))
                        .bind($time::bind(policy.updated_at))
                        .execute(&self.pool)
                        .await
                        .map_err(store_error)?;
                    if done.rows_affected() == 0 {
                        return Ok(None);
                    }
                    self.get_smart_policy(&policy.client_id, &policy.target).await
                }

                async fn get_smart_policy(
                    &self,
                    client: &ClientId,
                    target: &PolicyTarget,
                ) -> Result<Option<SmartPolicy>, StoreError> {
                    let (_, column) = target_table(target);
                    let row = sqlx::query(&format!("{POLICY_SELECT} WHERE p.client_id = $1 AND p.{column} = $2"))
                        .bind(client.as_str())
                        .bind(target.id())
                        .fetch_optional(&self.reads)
                        .await
                        .map_err(store_error)?;
                    one(row, policy_from_row)
                }

                async fn smart_policy_on(&self, target: &PolicyTarget) -> Result<Option<SmartPolicy>, StoreError> {
                    let (_, column) = target_table(target);
                    let row = sqlx::query(&format!("{POLICY_SELECT} WHERE p.{column} = $1"))
                        .bind(target.id())
                        .fetch_optional(&self.reads)
                        .await
                        .map_err(store_error)?;
                    one(row, policy_from_row)
                }

                async fn smart_policy(&self, id: &SmartPolicyId) -> Result<Option<SmartPolicy>, StoreError> {
                    let row = sqlx::query(&format!("{POLICY_SELECT} WHERE p.id = $1"))
                        .bind(id.as_str())
                        .fetch_optional(&self.reads)
                        .await
                        .map_err(store_error)?;
                    one(row, policy_from_row)
                }

                async fn smart_policies(&self, ids: &[SmartPolicyId]) -> Result<Vec<SmartPolicy>, StoreError> {
                    let mut found = Vec::with_capacity(ids.len());
                    for chunk in ids.chunks(READ_CHUNK) {
                        let sql = format!("{POLICY_SELECT} WHERE p.id IN ({})", placeholders(1, chunk.len()));
                        let mut query = sqlx::query(&sql);
                        for id in chunk {
                            query = query.bind(id.as_str());
                        }
                        let rows = query.fetch_all(&self.reads).await.map_err(store_error)?;
                        for row in &rows {
                            found.push(policy_from_row(row).map_err(store_error)?);
                        }
                    }
                    Ok(found)
                }

                async fn charger_plug_ins(&self, chargers: &[ChargerId]) -> Result<Vec<ChargerPlugIn>, StoreError> {
                    use std::collections::HashMap;
                    let found = self.chargers_by_ids(chargers).await?;
                    if found.is_empty() {
                        return Ok(Vec::new());
                    }
                    let ids: Vec<ChargerId> = found.iter().map(|c| c.id.clone()).collect();
                    let mut sessions: HashMap<ChargerId, _> = self
                        .active_sessions_of(&ids)
                        .await?
                        .into_iter()
                        .map(|s| (s.charger_id.clone(), s))
                        .collect();
                    let mut detections: HashMap<ChargerId, _> = self
                        .detections_of(&ids)
                        .await?
                        .into_iter()
                        .map(|d| (d.charger_id.clone(), d))
                        .collect();
                    let mut capabilities: HashMap<ChargerId, _> = self.capabilities_of(&ids).await?.into_iter().collect();
                    let mut sources: HashMap<ChargerId, Vec<_>> = HashMap::new();
                    for (charger, source) in self.limit_sources_of_chargers(&ids).await? {
                        sources.entry(charger).or_default().push(source);
                    }
                    let mut systems: HashMap<ChargerId, Vec<_>> = HashMap::new();
                    for system in self.ev_systems_of_chargers(&ids).await? {
                        systems.entry(system.charger_id.clone()).or_default().push(system);
                    }
                    let mut location_ids: Vec<LocationId> =
                        found.iter().filter_map(|c| c.location_id.clone().map(LocationId::new)).collect();
                    location_ids.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
                    location_ids.dedup();
                    let locations: HashMap<String, _> = self
                        .locations_by_ids(&location_ids)
                        .await?
                        .into_iter()
                        .map(|l| (l.id.as_str().to_owned(), l))
                        .collect();
                    Ok(found
                        .into_iter()
                        .map(|charger| ChargerPlugIn {
                            session: sessions.remove(&charger.id),
                            detection: detections.remove(&charger.id),
                            location: charger.location_id.as_ref().and_then(|id| locations.get(id).cloned()),
                            limit_sources: sources.remove(&charger.id).unwrap_or_default(),
                            capabilities: capabilities.remove(&charger.id),
                            ev_systems: systems.remove(&charger.id).unwrap_or_default(),
                            charger,
                        })
                        .collect())
                }

                async fn enabled_smart_policies(&self) -> Result<Vec<SmartPolicy>, StoreError> {
                    let rows = sqlx::query(&format!("{POLICY_SELECT} WHERE p.enabled ORDER BY p.id"))
                        .fetch_all(&self.reads)
                        .await
                        .map_err(store_error)?;
                    all(&rows, policy_from_row)
                }

                async fn set_charge_now(
                    &self,
                    client: &ClientId,
                    id: &SmartPolicyId,
                    since: Option<DateTime<Utc>>,
                    at: DateTime<Utc>,
                ) -> Result<Option<SmartPolicy>, StoreError> {
                    let done = sqlx::query(
                        "UPDATE smart_charging_policies SET charge_now_since = $3, updated_at = $4 WHERE client_id = $1 AND id = $2",
                    )
                    .bind(client.as_str())
                    .bind(id.as_str())
                    .bind(since.map($time::bind))
                    .bind($time::bind(at))
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                    if done.rows_affected() == 0 {
                        return Ok(None);
                    }
                    self.smart_policy(id).await
                }

                async fn insert_smart_plan(&self, plan: &SmartPlan) -> Result<(), StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let done = sqlx::query(
                        "INSERT INTO smart_charging_plans (id, client_id, user_id, policy_id, vehicle_id, charger_id, state, details, created_at, updated_at, ended_at, location_id) \
                         SELECT $1, p.client_id, p.user_id, p.id, $3, $4, $5, $6, $7, $8, $9, $10 FROM smart_charging_policies p WHERE p.id = $2",
                    )
                    .bind(plan.id.as_str())
                    .bind(plan.policy_id.as_str())
                    .bind(plan.vehicle_id.as_ref().map(VehicleId::as_str))
                    .bind(plan.charger_id.as_ref().map(ChargerId::as_str))
                    .bind(plan.state.as_str())
                    .bind(json(&plan.details)?)
                    .bind($time::bind(plan.created_at))
                    .bind($time::bind(plan.updated_at))
                    .bind(plan.ended_at.map($time::bind))
                    .bind(plan.location_id.as_ref().map(LocationId::as_str))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::Conflict("the plan's policy is gone".to_owned()));
                    }
                    Self::append_event(&mut tx, EventType::SmartChargingPlanUpdated, plan.id.as_str(), &["state"]).await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(())
                }

                async fn update_smart_plan(&self, plan: &SmartPlan, event_fields: &[&str]) -> Result<bool, StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    if !Self::update_plan_in(&mut tx, plan, event_fields).await? {
                        return Ok(false);
                    }
                    tx.commit().await.map_err(store_error)?;
                    Ok(true)
                }

                async fn latest_smart_plan(&self, policy: &SmartPolicyId) -> Result<Option<SmartPlan>, StoreError> {
                    let row = sqlx::query(&format!(
                        "{PLAN_SELECT} WHERE p.policy_id = $1 ORDER BY p.created_at DESC, p.id DESC LIMIT 1"
                    ))
                    .bind(policy.as_str())
                    .fetch_optional(&self.reads)
                    .await
                    .map_err(store_error)?;
                    one(row, plan_from_row)
                }

                async fn get_smart_plan(&self, client: &ClientId, id: &SmartPlanId) -> Result<Option<SmartPlan>, StoreError> {
                    let row = sqlx::query(&format!("{PLAN_SELECT} WHERE p.client_id = $1 AND p.id = $2"))
                        .bind(client.as_str())
                        .bind(id.as_str())
                        .fetch_optional(&self.reads)
                        .await
                        .map_err(store_error)?;
                    one(row, plan_from_row)
                }

                async fn live_smart_plans(&self) -> Result<Vec<SmartPlan>, StoreError> {
                    let rows = sqlx::query(&format!("{PLAN_SELECT} WHERE p.state <> 'ENDED' ORDER BY p.id"))
                        .fetch_all(&self.reads)
                        .await
                        .map_err(store_error)?;
                    all(&rows, plan_from_row)
                }

                async fn count_live_smart_plans_stored_before(&self, at: DateTime<Utc>) -> Result<u64, StoreError> {
                    let row = sqlx::query(
                        "SELECT COUNT(*) AS n FROM smart_charging_plans WHERE state <> 'ENDED' AND updated_at < $1",
                    )
                    .bind($time::bind(at))
                    .fetch_one(&self.reads)
                    .await
                    .map_err(store_error)?;
                    let n: i64 = row.try_get("n").map_err(store_error)?;
                    Ok(u64::try_from(n).unwrap_or(0))
                }

                async fn live_smart_plans_at(
                    &self,
                    client: &ClientId,
                    location: &LocationId,
                ) -> Result<Vec<SmartPlan>, StoreError> {
                    let rows = sqlx::query(&format!(
                        "{PLAN_SELECT} WHERE p.client_id = $1 AND (p.location_id = $2 OR p.location_id IS NULL) AND p.state <> 'ENDED' ORDER BY p.id"
                    ))
                    .bind(client.as_str())
                    .bind(location.as_str())
                    .fetch_all(&self.reads)
                    .await
                    .map_err(store_error)?;
                    all(&rows, plan_from_row)
                }

                async fn set_schedule_limit(
                    &self,
                    charger: &ChargerId,
                    schedule: Option<(&[SchedulePeriod], DateTime<Utc>)>,
                    at: DateTime<Utc>,
                ) -> Result<Option<LimitSource>, StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let source = Self::put_schedule_in(&mut tx, charger, schedule, at).await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(source)
                }

                async fn save_smart_plan(
                    &self,
                    plan: &SmartPlan,
                    event_fields: &[&str],
                    schedule: Option<(&ChargerId, &[SchedulePeriod], DateTime<Utc>)>,
                ) -> Result<bool, StoreError> {
                    if !<$store as StorePool>::SHARES_PLAN_COMMITS {
                        let mut tx = self.pool.begin().await.map_err(store_error)?;
                        let saved = Self::save_in(&mut tx, plan, event_fields, schedule).await?;
                        tx.commit().await.map_err(store_error)?;
                        return Ok(saved);
                    }
                    let pool = self.pool.clone();
                    let queue = self.plan_saves.queue(|saves| {
                        tokio::spawn(Self::write_plans(pool, saves));
                    });
                    let (answer, answered) = tokio::sync::oneshot::channel();
                    queue
                        .send(PlanSave {
                            plan: plan.clone(),
                            event_fields: event_fields.iter().map(|f| (*f).to_owned()).collect(),
                            schedule: schedule.map(|(charger, periods, until)| (charger.clone(), periods.to_vec(), until)),
                            answer,
                        })
                        .map_err(|_| StoreError::Backend("the plan writer has stopped".to_owned()))?;
                    answered
                        .await
                        .map_err(|_| StoreError::Backend("the plan writer has stopped".to_owned()))?
                }
            }

            impl $store {
                /// The plan writer: saves every plan waiting in one transaction, answering each
                /// after the commit. When a shared commit fails, each of its plans is saved on its
                /// own, so one bad save fails no other. Ends when the store is dropped.
                async fn write_plans(
                    pool: sqlx::Pool<<$store as StorePool>::Db>,
                    mut saves: tokio::sync::mpsc::UnboundedReceiver<PlanSave>,
                ) {
                    let mut batch = Vec::with_capacity(PLAN_SAVES_PER_COMMIT);
                    while saves.recv_many(&mut batch, PLAN_SAVES_PER_COMMIT).await > 0 {
                        match Self::save_plans(&pool, &batch).await {
                            Ok(saved) => {
                                for (save, saved) in batch.drain(..).zip(saved) {
                                    // A caller that stopped waiting has nothing to be told.
                                    let _ = save.answer.send(Ok(saved));
                                }
                            }
                            Err(e) if batch.len() == 1 => {
                                if let Some(save) = batch.pop() {
                                    let _ = save.answer.send(Err(e));
                                }
                            }
                            Err(e) => {
                                tracing::debug!(error = %e, plans = batch.len(), "a shared plan commit failed; saving each alone");
                                for save in batch.drain(..) {
                                    let alone = Self::save_plans(&pool, std::slice::from_ref(&save))
                                        .await
                                        .map(|saved| saved.first().copied().unwrap_or(false));
                                    let _ = save.answer.send(alone);
                                }
                            }
                        }
                    }
                }

                /// Saves `saves` in one transaction; for each, whether its plan was there.
                async fn save_plans(
                    pool: &sqlx::Pool<<$store as StorePool>::Db>,
                    saves: &[PlanSave],
                ) -> Result<Vec<bool>, StoreError> {
                    let mut tx = pool.begin().await.map_err(store_error)?;
                    let mut saved = Vec::with_capacity(saves.len());
                    for save in saves {
                        let fields: Vec<&str> = save.event_fields.iter().map(String::as_str).collect();
                        let schedule = save
                            .schedule
                            .as_ref()
                            .map(|(charger, periods, valid_to)| (charger, periods.as_slice(), *valid_to));
                        saved.push(Self::save_in(&mut tx, &save.plan, &fields, schedule).await?);
                    }
                    tx.commit().await.map_err(store_error)?;
                    Ok(saved)
                }

                /// [`SmartChargingStore::save_smart_plan`] inside `tx`.
                async fn save_in(
                    tx: &mut sqlx::Transaction<'_, <$store as StorePool>::Db>,
                    plan: &SmartPlan,
                    event_fields: &[&str],
                    schedule: Option<(&ChargerId, &[SchedulePeriod], DateTime<Utc>)>,
                ) -> Result<bool, StoreError> {
                    let found = Self::update_plan_in(tx, plan, event_fields).await?;
                    if let (true, Some((charger, periods, valid_to))) = (found, schedule) {
                        Self::put_schedule_in(tx, charger, Some((periods, valid_to)), plan.updated_at).await?;
                    }
                    Ok(found)
                }

                /// Stores a plan's change inside `tx`, with an event naming `event_fields` when any;
                /// `false` when there is no such plan.
                async fn update_plan_in(
                    tx: &mut sqlx::Transaction<'_, <$store as StorePool>::Db>,
                    plan: &SmartPlan,
                    event_fields: &[&str],
                ) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "UPDATE smart_charging_plans SET vehicle_id = $2, charger_id = $3, state = $4, details = $5, \
                         updated_at = $6, ended_at = $7, location_id = $8 WHERE id = $1",
                    )
                    .bind(plan.id.as_str())
                    .bind(plan.vehicle_id.as_ref().map(VehicleId::as_str))
                    .bind(plan.charger_id.as_ref().map(ChargerId::as_str))
                    .bind(plan.state.as_str())
                    .bind(json(&plan.details)?)
                    .bind($time::bind(plan.updated_at))
                    .bind(plan.ended_at.map($time::bind))
                    .bind(plan.location_id.as_ref().map(LocationId::as_str))
                    .execute(&mut **tx)
                    .await
                    .map_err(store_error)?;
                    if done.rows_affected() == 0 {
                        return Ok(false);
                    }
                    if !event_fields.is_empty() {
                        Self::append_event(tx, EventType::SmartChargingPlanUpdated, plan.id.as_str(), event_fields)
                            .await?;
                    }
                    Ok(true)
                }

                /// [`SmartChargingStore::set_schedule_limit`] inside `tx`.
                async fn put_schedule_in(
                    tx: &mut sqlx::Transaction<'_, <$store as StorePool>::Db>,
                    charger: &ChargerId,
                    schedule: Option<(&[SchedulePeriod], DateTime<Utc>)>,
                    at: DateTime<Utc>,
                ) -> Result<Option<LimitSource>, StoreError> {
                    sqlx::query("DELETE FROM limit_sources WHERE charger_id = $1 AND kind = 'schedule'")
                        .bind(charger.as_str())
                        .execute(&mut **tx)
                        .await
                        .map_err(store_error)?;
                    let Some((periods, valid_to)) = schedule.filter(|(periods, _)| !periods.is_empty()) else {
                        return Ok(None);
                    };
                    let id = LimitSourceId::generate();
                    let valid_from = periods[0].start;
                    let highest = periods.iter().map(|p| p.max_current_a).fold(0.0, f64::max);
                    let row = sqlx::query(
                        "INSERT INTO limit_sources (id, client_id, user_id, kind, charger_id, location_id, max_current, valid_from, valid_to, created_at, schedule) \
                         SELECT $1, c.client_id, c.user_id, 'schedule', c.id, NULL, $3, $4, $5, $6, $7 FROM chargers c WHERE c.id = $2 \
                         RETURNING client_id, user_id",
                    )
                    .bind(id.as_str())
                    .bind(charger.as_str())
                    .bind(highest)
                    .bind($time::bind(valid_from))
                    .bind($time::bind(valid_to))
                    .bind($time::bind(at))
                    .bind(json(&periods)?)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(store_error)?;
                    let Some(row) = row else {
                        return Ok(None);
                    };
                    let client: String = row.try_get("client_id").map_err(store_error)?;
                    let internal_user: String = row.try_get("user_id").map_err(store_error)?;
                    let user = sqlx::query("SELECT external_id FROM users WHERE id = $1")
                        .bind(&internal_user)
                        .fetch_one(&mut **tx)
                        .await
                        .map_err(store_error)?;
                    let user: String = user.try_get("external_id").map_err(store_error)?;
                    Ok(Some(LimitSource {
                        id,
                        client_id: ClientId::new(client),
                        user_id: UserId::parse(&user).map_err(|e| StoreError::Backend(e.to_string()))?,
                        kind: LimitSourceKind::Schedule,
                        scope: LimitScope::Charger(charger.clone()),
                        max_current_a: highest,
                        valid_from: Some(valid_from),
                        valid_to: Some(valid_to),
                        created_at: at,
                        schedule: periods.to_vec(),
                    }))
                }
            }
        };
    };
}

pub(crate) use impl_smart_charging_store;
