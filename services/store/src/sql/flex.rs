//! Flexibility programs, enrolments, groups, events and their targets.

/// Implements [`coupler_core::FlexStore`] for `$store` (rows `$row`, times through `$time`).
macro_rules! impl_flex_store {
    ($store:ident, $row:ty, $time:ident) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use coupler_core::event::EventType;
            use coupler_core::flex::{
                Consent, Enrolment, EnrolmentId, EnrolmentState, EnrolmentStatus, EnrolledDevice, EventKind, EventTargets,
                FlexDeviceKind, FlexEvent, FlexEventId, FlexTarget, FlexTargetId, Group, GroupFilter, GroupId, LimitUnit,
                OptOut, Program, ProgramId, ProgramKind, TargetDevice, TargetState,
            };
            use coupler_core::limits::{LimitScope, LimitSource, LimitSourceId};
            use coupler_core::page::{Cursor, Page, PageKey, PageRequest};
            use coupler_core::{ActionId, ChargerId, ClientId, FlexStore, StoreError, UserId, VehicleId};
            use sqlx::Row;

            use crate::sql::StorePool;
            use crate::store_error;

            const PROGRAM_SELECT: &str = "SELECT p.id, p.client_id, p.name, p.kind, p.eligibility, p.limits, p.incentive, \
                p.created_at, p.updated_at FROM flex_programs p";
            const ENROLMENT_SELECT: &str = "SELECT e.id, e.client_id, e.program_id, u.external_id, e.device_kind, e.device_id, \
                e.status, e.status_reason, e.consent, e.created_at, e.updated_at FROM flex_enrolments e JOIN users u ON u.id = e.user_id";
            const GROUP_SELECT: &str = "SELECT g.id, g.client_id, g.program_id, g.name, g.enrolment_ids, g.filter, g.created_at \
                FROM flex_groups g";
            const EVENT_SELECT: &str = "SELECT v.id, v.client_id, v.program_id, v.kind, v.value, v.unit, v.limit_a, v.start_at, \
                v.end_at, v.max_random_delay_s, v.random_seed, v.targets, v.cancelled_at, v.control_group_share, v.created_at, v.updated_at FROM flex_events v";
            const TARGET_SELECT: &str = "SELECT t.id, t.client_id, u.external_id, t.event_id, t.enrolment_id, t.charger_id, \
                t.vehicle_id, t.delay_s, t.limit_source_id, t.start_action_id, t.end_action_id, t.state, t.detail, t.opt_out, \
                t.next_check_at, t.updated_at FROM flex_event_targets t JOIN users u ON u.id = t.user_id";

            type Tx<'a> = sqlx::Transaction<'a, <$store as StorePool>::Db>;

            fn decode(what: impl std::fmt::Display) -> sqlx::Error {
                sqlx::Error::Decode(what.to_string().into())
            }

            fn json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
                serde_json::to_string(value).map_err(|e| StoreError::Backend(e.to_string()))
            }

            fn from_json<T: serde::de::DeserializeOwned>(row: &$row, column: &str) -> Result<T, sqlx::Error> {
                let text: String = row.try_get(column)?;
                serde_json::from_str(&text).map_err(|e| decode(format!("{column}: {e}")))
            }

            fn user_of(row: &$row) -> Result<UserId, sqlx::Error> {
                let user: String = row.try_get("external_id")?;
                UserId::parse(&user).map_err(|e| sqlx::Error::Decode(Box::new(e)))
            }

            fn program_from_row(row: &$row) -> Result<Program, sqlx::Error> {
                let kind: String = row.try_get("kind")?;
                Ok(Program {
                    id: ProgramId::new(row.try_get::<String, _>("id")?),
                    client_id: ClientId::new(row.try_get::<String, _>("client_id")?),
                    name: row.try_get("name")?,
                    kind: ProgramKind::parse(&kind).ok_or_else(|| decode(format!("program kind {kind:?}")))?,
                    eligibility: from_json(row, "eligibility")?,
                    limits: from_json(row, "limits")?,
                    incentive: from_json(row, "incentive")?,
                    created_at: $time::read(row, "created_at")?,
                    updated_at: $time::read(row, "updated_at")?,
                })
            }

            fn enrolment_from_row(row: &$row) -> Result<Enrolment, sqlx::Error> {
                let kind: String = row.try_get("device_kind")?;
                let status: String = row.try_get("status")?;
                Ok(Enrolment {
                    id: EnrolmentId::new(row.try_get::<String, _>("id")?),
                    client_id: ClientId::new(row.try_get::<String, _>("client_id")?),
                    program_id: ProgramId::new(row.try_get::<String, _>("program_id")?),
                    user_id: user_of(row)?,
                    device: EnrolledDevice {
                        kind: FlexDeviceKind::parse(&kind).ok_or_else(|| decode(format!("device kind {kind:?}")))?,
                        id: row.try_get("device_id")?,
                    },
                    state: EnrolmentState {
                        status: EnrolmentStatus::parse(&status).ok_or_else(|| decode(format!("status {status:?}")))?,
                        reason: row.try_get("status_reason")?,
                    },
                    consent: from_json::<Consent>(row, "consent")?,
                    created_at: $time::read(row, "created_at")?,
                    updated_at: $time::read(row, "updated_at")?,
                })
            }

            fn group_from_row(row: &$row) -> Result<Group, sqlx::Error> {
                let ids: Vec<String> = from_json(row, "enrolment_ids")?;
                Ok(Group {
                    id: GroupId::new(row.try_get::<String, _>("id")?),
                    client_id: ClientId::new(row.try_get::<String, _>("client_id")?),
                    program_id: ProgramId::new(row.try_get::<String, _>("program_id")?),
                    name: row.try_get("name")?,
                    enrolment_ids: ids.into_iter().map(EnrolmentId::new).collect(),
                    filter: from_json::<GroupFilter>(row, "filter")?,
                    created_at: $time::read(row, "created_at")?,
                })
            }

            fn event_from_row(row: &$row) -> Result<FlexEvent, sqlx::Error> {
                let kind: String = row.try_get("kind")?;
                let unit: Option<String> = row.try_get("unit")?;
                let seed: i64 = row.try_get("random_seed")?;
                let delay: i32 = row.try_get("max_random_delay_s")?;
                Ok(FlexEvent {
                    id: FlexEventId::new(row.try_get::<String, _>("id")?),
                    client_id: ClientId::new(row.try_get::<String, _>("client_id")?),
                    program_id: ProgramId::new(row.try_get::<String, _>("program_id")?),
                    kind: EventKind::parse(&kind).ok_or_else(|| decode(format!("event kind {kind:?}")))?,
                    value: row.try_get("value")?,
                    unit: unit
                        .map(|u| LimitUnit::parse(&u).ok_or_else(|| decode(format!("unit {u:?}"))))
                        .transpose()?,
                    limit_a: row.try_get("limit_a")?,
                    start: $time::read(row, "start_at")?,
                    end: $time::read(row, "end_at")?,
                    max_random_delay_s: u32::try_from(delay).map_err(decode)?,
                    random_seed: u64::from_be_bytes(seed.to_be_bytes()),
                    targets: from_json::<EventTargets>(row, "targets")?,
                    cancelled_at: $time::read_opt(row, "cancelled_at")?,
                    control_group_share: row.try_get("control_group_share")?,
                    created_at: $time::read(row, "created_at")?,
                    updated_at: $time::read(row, "updated_at")?,
                })
            }

            fn target_from_row(row: &$row) -> Result<FlexTarget, sqlx::Error> {
                let state: String = row.try_get("state")?;
                let charger: Option<String> = row.try_get("charger_id")?;
                let vehicle: Option<String> = row.try_get("vehicle_id")?;
                let device = match (charger, vehicle) {
                    (Some(charger), _) => TargetDevice::Charger(ChargerId::new(charger)),
                    (None, Some(vehicle)) => TargetDevice::Vehicle(VehicleId::new(vehicle)),
                    (None, None) => return Err(decode("a target is on no device")),
                };
                let delay: i32 = row.try_get("delay_s")?;
                let opt_out: Option<String> = row.try_get("opt_out")?;
                Ok(FlexTarget {
                    id: FlexTargetId::new(row.try_get::<String, _>("id")?),
                    client_id: ClientId::new(row.try_get::<String, _>("client_id")?),
                    user_id: user_of(row)?,
                    event_id: FlexEventId::new(row.try_get::<String, _>("event_id")?),
                    enrolment_id: EnrolmentId::new(row.try_get::<String, _>("enrolment_id")?),
                    device,
                    delay_s: u32::try_from(delay).map_err(decode)?,
                    limit_source_id: row.try_get::<Option<String>, _>("limit_source_id")?.map(LimitSourceId::new),
                    start_action_id: row.try_get::<Option<String>, _>("start_action_id")?.map(ActionId::new),
                    end_action_id: row.try_get::<Option<String>, _>("end_action_id")?.map(ActionId::new),
                    state: TargetState::parse(&state).ok_or_else(|| decode(format!("target state {state:?}")))?,
                    detail: row.try_get("detail")?,
                    opt_out: opt_out
                        .map(|text| serde_json::from_str::<OptOut>(&text).map_err(|e| decode(format!("opt_out: {e}"))))
                        .transpose()?,
                    next_check_at: $time::read_opt(row, "next_check_at")?,
                    updated_at: $time::read(row, "updated_at")?,
                })
            }

            fn all<T>(rows: &[$row], f: fn(&$row) -> Result<T, sqlx::Error>) -> Result<Vec<T>, StoreError> {
                rows.iter().map(f).collect::<Result<Vec<_>, _>>().map_err(store_error)
            }

            fn delay_column(delay: u32) -> i32 {
                i32::try_from(delay).unwrap_or(i32::MAX)
            }

            /// How one kind of row is listed a page at a time: its query (aliased `alias`), how a
            /// row is read, and its position in the list.
            struct Listing<T: 'static> {
                select: &'static str,
                alias: &'static str,
                decode: fn(&$row) -> Result<T, sqlx::Error>,
                key: fn(&T) -> PageKey,
            }

            impl<T> Clone for Listing<T> {
                fn clone(&self) -> Self {
                    *self
                }
            }

            impl<T> Copy for Listing<T> {}

            const PROGRAMS: Listing<Program> = Listing {
                select: PROGRAM_SELECT,
                alias: "p",
                decode: program_from_row,
                key: program_key,
            };
            const ENROLMENTS: Listing<Enrolment> = Listing {
                select: ENROLMENT_SELECT,
                alias: "e",
                decode: enrolment_from_row,
                key: enrolment_key,
            };
            const EVENTS: Listing<FlexEvent> = Listing {
                select: EVENT_SELECT,
                alias: "v",
                decode: event_from_row,
                key: event_key,
            };

            impl $store {
                /// A page of `listing`'s rows matching `base`, whose parameters are `binds` ($1...),
                /// newest first.
                async fn flex_page<T>(
                    &self,
                    listing: &Listing<T>,
                    base: &str,
                    binds: &[&str],
                    page: &PageRequest,
                ) -> Result<Page<T>, StoreError> {
                    let Listing { select, alias, decode: decode_row, key } = *listing;
                    let limit = i64::from(page.size) + 1;
                    let (filter, order) = crate::sql::keyset(base, alias, page.cursor.as_ref(), binds.len() + 1);
                    let sql = format!(
                        "{select} WHERE {filter} ORDER BY {alias}.created_at {order}, {alias}.id {order} LIMIT {limit}"
                    );
                    let mut query = sqlx::query(&sql);
                    for bind in binds {
                        query = query.bind(*bind);
                    }
                    if let Some(Cursor::After(key) | Cursor::Before(key)) = &page.cursor {
                        query = query.bind($time::bind(key.created_at)).bind(key.id.clone());
                    }
                    let rows = query.fetch_all(&self.pool).await.map_err(store_error)?;
                    let mut items = all(&rows, decode_row)?;
                    if matches!(page.cursor, Some(Cursor::Before(_))) {
                        items.reverse();
                    }
                    Ok(Page::from_rows(page, items, key))
                }

                /// Stores a new enrolment of an existing user and program of the client, with its
                /// `user:flex-enrolment:updated` event, in `tx`: the one way enrolments are written,
                /// whether through the REST API or the hosted enrolment page.
                pub(crate) async fn insert_enrolment_in(tx: &mut Tx<'_>, enrolment: &Enrolment) -> Result<(), StoreError> {
                    let done = sqlx::query(
                        "INSERT INTO flex_enrolments (id, client_id, program_id, user_id, device_kind, device_id, status, status_reason, \
                         consent, created_at, updated_at) \
                         SELECT $1, $2, p.id, u.id, $5, $6, $7, $8, $9, $10, $11 FROM users u JOIN flex_programs p ON p.client_id = u.client_id \
                         WHERE u.client_id = $2 AND u.external_id = $4 AND p.id = $3",
                    )
                    .bind(enrolment.id.as_str())
                    .bind(enrolment.client_id.as_str())
                    .bind(enrolment.program_id.as_str())
                    .bind(enrolment.user_id.as_str())
                    .bind(enrolment.device.kind.as_str())
                    .bind(&enrolment.device.id)
                    .bind(enrolment.state.status.as_str())
                    .bind(&enrolment.state.reason)
                    .bind(json(&enrolment.consent)?)
                    .bind($time::bind(enrolment.created_at))
                    .bind($time::bind(enrolment.updated_at))
                    .execute(&mut **tx)
                    .await
                    .map_err(store_error)?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::Conflict("the user or the program is not the client's".to_owned()));
                    }
                    Self::append_event(tx, EventType::FlexEnrolmentUpdated, enrolment.id.as_str(), &["status"]).await?;
                    Ok(())
                }

                /// Deletes the limit sources of `filter`'s targets (aliased `t`; parameters from $1),
                /// returning the chargers they limited.
                async fn drop_target_sources(
                    tx: &mut Tx<'_>,
                    filter: &str,
                    binds: &[&str],
                ) -> Result<Vec<ChargerId>, StoreError> {
                    let sql = format!(
                        "SELECT DISTINCT s.charger_id FROM limit_sources s JOIN flex_event_targets t ON t.limit_source_id = s.id \
                         WHERE s.charger_id IS NOT NULL AND {filter}"
                    );
                    let mut query = sqlx::query(&sql);
                    for bind in binds {
                        query = query.bind(*bind);
                    }
                    let rows = query.fetch_all(&mut **tx).await.map_err(store_error)?;
                    let chargers = rows
                        .iter()
                        .map(|r| r.try_get::<String, _>("charger_id").map(ChargerId::new))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(store_error)?;
                    let sql = format!(
                        "DELETE FROM limit_sources WHERE id IN (SELECT t.limit_source_id FROM flex_event_targets t \
                         WHERE t.limit_source_id IS NOT NULL AND {filter})"
                    );
                    let mut query = sqlx::query(&sql);
                    for bind in binds {
                        query = query.bind(*bind);
                    }
                    query.execute(&mut **tx).await.map_err(store_error)?;
                    Ok(chargers)
                }
            }

            fn program_key(p: &Program) -> PageKey {
                PageKey {
                    created_at: p.created_at,
                    id: p.id.as_str().to_owned(),
                }
            }

            fn enrolment_key(e: &Enrolment) -> PageKey {
                PageKey {
                    created_at: e.created_at,
                    id: e.id.as_str().to_owned(),
                }
            }

            fn event_key(e: &FlexEvent) -> PageKey {
                PageKey {
                    created_at: e.created_at,
                    id: e.id.as_str().to_owned(),
                }
            }

            #[async_trait]
            impl FlexStore for $store {
                async fn insert_program(&self, program: &Program) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO flex_programs (id, client_id, name, kind, eligibility, limits, incentive, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(program.id.as_str())
                    .bind(program.client_id.as_str())
                    .bind(&program.name)
                    .bind(program.kind.as_str())
                    .bind(json(&program.eligibility)?)
                    .bind(json(&program.limits)?)
                    .bind(json(&program.incentive)?)
                    .bind($time::bind(program.created_at))
                    .bind($time::bind(program.updated_at))
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                    Ok(())
                }

                async fn get_program(&self, client: &ClientId, id: &ProgramId) -> Result<Option<Program>, StoreError> {
                    let row = sqlx::query(&format!("{PROGRAM_SELECT} WHERE p.client_id = $1 AND p.id = $2"))
                        .bind(client.as_str())
                        .bind(id.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_error)?;
                    row.as_ref().map(program_from_row).transpose().map_err(store_error)
                }

                async fn list_programs(&self, client: &ClientId, page: &PageRequest) -> Result<Page<Program>, StoreError> {
                    self.flex_page(&PROGRAMS, "p.client_id = $1", &[client.as_str()], page).await
                }

                async fn update_program(&self, program: &Program) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "UPDATE flex_programs SET name = $3, eligibility = $4, limits = $5, incentive = $6, updated_at = $7 \
                         WHERE client_id = $1 AND id = $2",
                    )
                    .bind(program.client_id.as_str())
                    .bind(program.id.as_str())
                    .bind(&program.name)
                    .bind(json(&program.eligibility)?)
                    .bind(json(&program.limits)?)
                    .bind(json(&program.incentive)?)
                    .bind($time::bind(program.updated_at))
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn delete_program(
                    &self,
                    client: &ClientId,
                    id: &ProgramId,
                ) -> Result<Option<Vec<ChargerId>>, StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let chargers = Self::drop_target_sources(
                        &mut tx,
                        "t.client_id = $1 AND t.event_id IN (SELECT id FROM flex_events WHERE program_id = $2)",
                        &[client.as_str(), id.as_str()],
                    )
                    .await?;
                    let done = sqlx::query("DELETE FROM flex_programs WHERE client_id = $1 AND id = $2")
                        .bind(client.as_str())
                        .bind(id.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    if done.rows_affected() == 0 {
                        return Ok(None);
                    }
                    tx.commit().await.map_err(store_error)?;
                    Ok(Some(chargers))
                }

                async fn insert_enrolment(&self, enrolment: &Enrolment) -> Result<(), StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    Self::insert_enrolment_in(&mut tx, enrolment).await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(())
                }

                async fn get_enrolment(&self, client: &ClientId, id: &EnrolmentId) -> Result<Option<Enrolment>, StoreError> {
                    let row = sqlx::query(&format!("{ENROLMENT_SELECT} WHERE e.client_id = $1 AND e.id = $2"))
                        .bind(client.as_str())
                        .bind(id.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_error)?;
                    row.as_ref().map(enrolment_from_row).transpose().map_err(store_error)
                }

                async fn list_program_enrolments(
                    &self,
                    client: &ClientId,
                    program: &ProgramId,
                    page: &PageRequest,
                ) -> Result<Page<Enrolment>, StoreError> {
                    self.flex_page(&ENROLMENTS, "e.client_id = $1 AND e.program_id = $2", &[client.as_str(), program.as_str()], page)
                        .await
                }

                async fn list_user_enrolments(
                    &self,
                    client: &ClientId,
                    user: &UserId,
                    page: &PageRequest,
                ) -> Result<Page<Enrolment>, StoreError> {
                    self.flex_page(&ENROLMENTS, "e.client_id = $1 AND u.external_id = $2", &[client.as_str(), user.as_str()], page)
                        .await
                }

                async fn live_enrolments(&self, client: &ClientId, program: &ProgramId) -> Result<Vec<Enrolment>, StoreError> {
                    let rows = sqlx::query(&format!(
                        "{ENROLMENT_SELECT} WHERE e.client_id = $1 AND e.program_id = $2 \
                         AND e.status NOT IN ('UNENROLLED', 'REJECTED') ORDER BY e.created_at, e.id"
                    ))
                    .bind(client.as_str())
                    .bind(program.as_str())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_error)?;
                    all(&rows, enrolment_from_row)
                }

                async fn live_enrolment_of_device(
                    &self,
                    client: &ClientId,
                    program: &ProgramId,
                    device: &EnrolledDevice,
                ) -> Result<Option<Enrolment>, StoreError> {
                    let row = sqlx::query(&format!(
                        "{ENROLMENT_SELECT} WHERE e.client_id = $1 AND e.program_id = $2 AND e.device_kind = $3 \
                         AND e.device_id = $4 AND e.status NOT IN ('UNENROLLED', 'REJECTED')"
                    ))
                    .bind(client.as_str())
                    .bind(program.as_str())
                    .bind(device.kind.as_str())
                    .bind(&device.id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(store_error)?;
                    row.as_ref().map(enrolment_from_row).transpose().map_err(store_error)
                }

                async fn save_enrolment_state(
                    &self,
                    client: &ClientId,
                    id: &EnrolmentId,
                    state: &EnrolmentState,
                    at: DateTime<Utc>,
                ) -> Result<Option<Enrolment>, StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let done = sqlx::query(
                        "UPDATE flex_enrolments SET status = $3, status_reason = $4, updated_at = $5 WHERE client_id = $1 AND id = $2",
                    )
                    .bind(client.as_str())
                    .bind(id.as_str())
                    .bind(state.status.as_str())
                    .bind(&state.reason)
                    .bind($time::bind(at))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    if done.rows_affected() == 0 {
                        return Ok(None);
                    }
                    Self::append_event(&mut tx, EventType::FlexEnrolmentUpdated, id.as_str(), &["status"]).await?;
                    tx.commit().await.map_err(store_error)?;
                    self.get_enrolment(client, id).await
                }

                async fn insert_group(&self, group: &Group) -> Result<(), StoreError> {
                    let ids: Vec<&str> = group.enrolment_ids.iter().map(EnrolmentId::as_str).collect();
                    let done = sqlx::query(
                        "INSERT INTO flex_groups (id, client_id, program_id, name, enrolment_ids, filter, created_at) \
                         SELECT $1, $2, p.id, $4, $5, $6, $7 FROM flex_programs p WHERE p.client_id = $2 AND p.id = $3",
                    )
                    .bind(group.id.as_str())
                    .bind(group.client_id.as_str())
                    .bind(group.program_id.as_str())
                    .bind(&group.name)
                    .bind(json(&ids)?)
                    .bind(json(&group.filter)?)
                    .bind($time::bind(group.created_at))
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::Conflict("the program is not the client's".to_owned()));
                    }
                    Ok(())
                }

                async fn get_group(&self, client: &ClientId, id: &GroupId) -> Result<Option<Group>, StoreError> {
                    let row = sqlx::query(&format!("{GROUP_SELECT} WHERE g.client_id = $1 AND g.id = $2"))
                        .bind(client.as_str())
                        .bind(id.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_error)?;
                    row.as_ref().map(group_from_row).transpose().map_err(store_error)
                }

                async fn list_groups(&self, client: &ClientId, program: &ProgramId) -> Result<Vec<Group>, StoreError> {
                    let rows = sqlx::query(&format!(
                        "{GROUP_SELECT} WHERE g.client_id = $1 AND g.program_id = $2 ORDER BY g.created_at, g.id"
                    ))
                    .bind(client.as_str())
                    .bind(program.as_str())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_error)?;
                    all(&rows, group_from_row)
                }

                async fn update_group(&self, group: &Group) -> Result<bool, StoreError> {
                    let ids: Vec<&str> = group.enrolment_ids.iter().map(EnrolmentId::as_str).collect();
                    let done = sqlx::query(
                        "UPDATE flex_groups SET name = $3, enrolment_ids = $4, filter = $5 WHERE client_id = $1 AND id = $2",
                    )
                    .bind(group.client_id.as_str())
                    .bind(group.id.as_str())
                    .bind(&group.name)
                    .bind(json(&ids)?)
                    .bind(json(&group.filter)?)
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn delete_group(&self, client: &ClientId, id: &GroupId) -> Result<bool, StoreError> {
                    let done = sqlx::query("DELETE FROM flex_groups WHERE client_id = $1 AND id = $2")
                        .bind(client.as_str())
                        .bind(id.as_str())
                        .execute(&self.pool)
                        .await
                        .map_err(store_error)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn insert_flex_event(
                    &self,
                    event: &FlexEvent,
                    targets: &[FlexTarget],
                    sources: &[LimitSource],
                ) -> Result<(), StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let done = sqlx::query(
                        "INSERT INTO flex_events (id, client_id, program_id, kind, value, unit, limit_a, start_at, end_at, \
                         max_random_delay_s, random_seed, targets, cancelled_at, created_at, updated_at, control_group_share) \
                         SELECT $1, $2, p.id, $4, $5, $6, $7, $8, $9, $10, $11, $12, NULL, $13, $13, $14 FROM flex_programs p \
                         WHERE p.client_id = $2 AND p.id = $3",
                    )
                    .bind(event.id.as_str())
                    .bind(event.client_id.as_str())
                    .bind(event.program_id.as_str())
                    .bind(event.kind.as_str())
                    .bind(event.value)
                    .bind(event.unit.map(LimitUnit::as_str))
                    .bind(event.limit_a)
                    .bind($time::bind(event.start))
                    .bind($time::bind(event.end))
                    .bind(delay_column(event.max_random_delay_s))
                    .bind(i64::from_be_bytes(event.random_seed.to_be_bytes()))
                    .bind(json(&event.targets)?)
                    .bind($time::bind(event.created_at))
                    .bind(event.control_group_share)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::Conflict("the program is not the client's".to_owned()));
                    }
                    for source in sources {
                        let LimitScope::Charger(charger) = &source.scope else {
                            return Err(StoreError::Backend("a flex source limits one charger".to_owned()));
                        };
                        let done = sqlx::query(
                            "INSERT INTO limit_sources (id, client_id, user_id, kind, charger_id, location_id, max_current, valid_from, valid_to, created_at, schedule) \
                             SELECT $1, c.client_id, c.user_id, $3, c.id, NULL, $4, $5, $6, $7, $9 FROM chargers c WHERE c.id = $2 AND c.client_id = $8",
                        )
                        .bind(source.id.as_str())
                        .bind(charger.as_str())
                        .bind(source.kind.as_str())
                        .bind(source.max_current_a)
                        .bind(source.valid_from.map($time::bind))
                        .bind(source.valid_to.map($time::bind))
                        .bind($time::bind(source.created_at))
                        .bind(source.client_id.as_str())
                        .bind(if source.schedule.is_empty() { None } else { Some(json(&source.schedule)?) })
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                        if done.rows_affected() == 0 {
                            return Err(StoreError::Conflict(format!("charger '{charger}' is not the client's")));
                        }
                    }
                    for target in targets {
                        let (charger, vehicle) = match &target.device {
                            TargetDevice::Charger(id) => (Some(id.as_str()), None),
                            TargetDevice::Vehicle(id) => (None, Some(id.as_str())),
                        };
                        let done = sqlx::query(
                            "INSERT INTO flex_event_targets (id, client_id, user_id, event_id, enrolment_id, charger_id, vehicle_id, delay_s, \
                             limit_source_id, start_action_id, end_action_id, state, detail, opt_out, next_check_at, updated_at) \
                             SELECT $1, $2, u.id, $4, $5, $6, $7, $8, $9, NULL, NULL, $10, $11, NULL, $12, $13 FROM users u \
                             WHERE u.client_id = $2 AND u.external_id = $3",
                        )
                        .bind(target.id.as_str())
                        .bind(target.client_id.as_str())
                        .bind(target.user_id.as_str())
                        .bind(target.event_id.as_str())
                        .bind(target.enrolment_id.as_str())
                        .bind(charger)
                        .bind(vehicle)
                        .bind(delay_column(target.delay_s))
                        .bind(target.limit_source_id.as_ref().map(LimitSourceId::as_str))
                        .bind(target.state.as_str())
                        .bind(&target.detail)
                        .bind(target.next_check_at.map($time::bind))
                        .bind($time::bind(target.updated_at))
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                        if done.rows_affected() == 0 {
                            return Err(StoreError::Conflict("a target's user is not the client's".to_owned()));
                        }
                    }
                    Self::append_events(
                        &mut tx,
                        EventType::FlexEventUpdated,
                        &["status"],
                        "t.event_id = $4",
                        &[event.id.as_str()],
                    )
                    .await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(())
                }

                async fn get_flex_event(&self, client: &ClientId, id: &FlexEventId) -> Result<Option<FlexEvent>, StoreError> {
                    let row = sqlx::query(&format!("{EVENT_SELECT} WHERE v.client_id = $1 AND v.id = $2"))
                        .bind(client.as_str())
                        .bind(id.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_error)?;
                    row.as_ref().map(event_from_row).transpose().map_err(store_error)
                }

                async fn list_flex_events(
                    &self,
                    client: &ClientId,
                    program: &ProgramId,
                    page: &PageRequest,
                ) -> Result<Page<FlexEvent>, StoreError> {
                    self.flex_page(&EVENTS, "v.client_id = $1 AND v.program_id = $2", &[client.as_str(), program.as_str()], page)
                        .await
                }

                async fn count_flex_events(
                    &self,
                    program: &ProgramId,
                    from: DateTime<Utc>,
                    to: DateTime<Utc>,
                    except: Option<&FlexEventId>,
                ) -> Result<u32, StoreError> {
                    let row = sqlx::query(
                        "SELECT COUNT(*) AS n FROM flex_events WHERE program_id = $1 AND cancelled_at IS NULL \
                         AND start_at >= $2 AND start_at < $3 AND id <> $4",
                    )
                    .bind(program.as_str())
                    .bind($time::bind(from))
                    .bind($time::bind(to))
                    .bind(except.map_or("", FlexEventId::as_str))
                    .fetch_one(&self.pool)
                    .await
                    .map_err(store_error)?;
                    let n: i64 = row.try_get("n").map_err(store_error)?;
                    Ok(u32::try_from(n).unwrap_or(u32::MAX))
                }

                async fn flex_targets(&self, event: &FlexEventId) -> Result<Vec<FlexTarget>, StoreError> {
                    let rows = sqlx::query(&format!("{TARGET_SELECT} WHERE t.event_id = $1 ORDER BY t.id"))
                        .bind(event.as_str())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(store_error)?;
                    all(&rows, target_from_row)
                }

                async fn flex_target_counts(
                    &self,
                    events: &[FlexEventId],
                ) -> Result<Vec<(FlexEventId, TargetState, u64)>, StoreError> {
                    if events.is_empty() {
                        return Ok(Vec::new());
                    }
                    let marks: Vec<String> = (1..=events.len()).map(|i| format!("${i}")).collect();
                    let sql = format!(
                        "SELECT event_id, state, COUNT(*) AS n FROM flex_event_targets WHERE event_id IN ({}) \
                         GROUP BY event_id, state ORDER BY event_id, state",
                        marks.join(", ")
                    );
                    let mut query = sqlx::query(&sql);
                    for event in events {
                        query = query.bind(event.as_str());
                    }
                    let rows = query.fetch_all(&self.pool).await.map_err(store_error)?;
                    let read = |row: &$row| -> Result<(FlexEventId, TargetState, u64), sqlx::Error> {
                        let state: String = row.try_get("state")?;
                        let n: i64 = row.try_get("n")?;
                        Ok((
                            FlexEventId::new(row.try_get::<String, _>("event_id")?),
                            TargetState::parse(&state).ok_or_else(|| decode(format!("target state {state:?}")))?,
                            u64::try_from(n).unwrap_or_default(),
                        ))
                    };
                    rows.iter().map(read).collect::<Result<Vec<_>, _>>().map_err(store_error)
                }

                async fn live_flex_targets_of_enrolment(&self, enrolment: &EnrolmentId) -> Result<Vec<FlexTarget>, StoreError> {
                    let rows = sqlx::query(&format!(
                        "{TARGET_SELECT} WHERE t.enrolment_id = $1 AND t.state NOT IN ('OPTED_OUT', 'CANCELLED', 'HELD_BACK') ORDER BY t.id"
                    ))
                    .bind(enrolment.as_str())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_error)?;
                    all(&rows, target_from_row)
                }

                async fn flex_target(&self, id: &FlexTargetId) -> Result<Option<FlexTarget>, StoreError> {
                    let row = sqlx::query(&format!("{TARGET_SELECT} WHERE t.id = $1"))
                        .bind(id.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_error)?;
                    row.as_ref().map(target_from_row).transpose().map_err(store_error)
                }

                async fn update_flex_event(&self, event: &FlexEvent) -> Result<bool, StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let done = sqlx::query(
                        "UPDATE flex_events SET value = $3, unit = $4, limit_a = $5, end_at = $6, updated_at = $7 \
                         WHERE client_id = $1 AND id = $2 AND cancelled_at IS NULL",
                    )
                    .bind(event.client_id.as_str())
                    .bind(event.id.as_str())
                    .bind(event.value)
                    .bind(event.unit.map(LimitUnit::as_str))
                    .bind(event.limit_a)
                    .bind($time::bind(event.end))
                    .bind($time::bind(event.updated_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    if done.rows_affected() == 0 {
                        return Ok(false);
                    }
                    let rows = sqlx::query(&format!(
                        "{TARGET_SELECT} WHERE t.event_id = $1 AND t.state NOT IN ('OPTED_OUT', 'CANCELLED', 'HELD_BACK') ORDER BY t.id"
                    ))
                    .bind(event.id.as_str())
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    for target in all(&rows, target_from_row)? {
                        let start = event.target_start(target.delay_s);
                        if let Some(source) = &target.limit_source_id {
                            sqlx::query(
                                "UPDATE limit_sources SET max_current = $2, valid_from = $3, valid_to = $4 WHERE id = $1",
                            )
                            .bind(source.as_str())
                            .bind(event.limit_a)
                            .bind($time::bind(start))
                            .bind($time::bind(event.end))
                            .execute(&mut *tx)
                            .await
                            .map_err(store_error)?;
                        }
                        // Looked at again from its (possibly moved) start; one whose command was
                        // sent is looked at at once, to follow the change.
                        let next = if target.start_action_id.is_some() { event.updated_at } else { start };
                        sqlx::query("UPDATE flex_event_targets SET next_check_at = $2, updated_at = $3 WHERE id = $1")
                            .bind(target.id.as_str())
                            .bind($time::bind(next))
                            .bind($time::bind(event.updated_at))
                            .execute(&mut *tx)
                            .await
                            .map_err(store_error)?;
                    }
                    Self::append_events(
                        &mut tx,
                        EventType::FlexEventUpdated,
                        &["end", "value", "limit"],
                        "t.event_id = $4 AND t.state NOT IN ('OPTED_OUT', 'CANCELLED', 'HELD_BACK')",
                        &[event.id.as_str()],
                    )
                    .await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(true)
                }

                async fn cancel_flex_event(
                    &self,
                    client: &ClientId,
                    id: &FlexEventId,
                    at: DateTime<Utc>,
                ) -> Result<Option<Vec<ChargerId>>, StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let done = sqlx::query(
                        "UPDATE flex_events SET cancelled_at = $3, updated_at = $3 WHERE client_id = $1 AND id = $2 AND cancelled_at IS NULL",
                    )
                    .bind(client.as_str())
                    .bind(id.as_str())
                    .bind($time::bind(at))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    if done.rows_affected() == 0 {
                        return Ok(None);
                    }
                    let live = "t.event_id = $1 AND t.state NOT IN ('OPTED_OUT', 'CANCELLED', 'HELD_BACK')";
                    let chargers = Self::drop_target_sources(&mut tx, live, &[id.as_str()]).await?;
                    Self::append_events(&mut tx, EventType::FlexEventUpdated, &["status"], &live.replace("$1", "$4"), &[id.as_str()])
                        .await?;
                    // A vehicle stopped for the event is looked at once more, to start it again.
                    sqlx::query(
                        "UPDATE flex_event_targets SET state = 'CANCELLED', limit_source_id = NULL, updated_at = $2, \
                         next_check_at = CASE WHEN start_action_id IS NOT NULL AND end_action_id IS NULL THEN $2 ELSE NULL END \
                         WHERE event_id = $1 AND state NOT IN ('OPTED_OUT', 'CANCELLED', 'HELD_BACK')",
                    )
                    .bind(id.as_str())
                    .bind($time::bind(at))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(Some(chargers))
                }

                async fn opt_out_flex_target(
                    &self,
                    client: &ClientId,
                    id: &FlexTargetId,
                    opt_out: &OptOut,
                ) -> Result<Option<FlexTarget>, StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let live = "t.client_id = $1 AND t.id = $2 AND t.state NOT IN ('OPTED_OUT', 'CANCELLED', 'HELD_BACK')";
                    Self::drop_target_sources(&mut tx, live, &[client.as_str(), id.as_str()]).await?;
                    let done = sqlx::query(
                        "UPDATE flex_event_targets SET state = 'OPTED_OUT', opt_out = $3, limit_source_id = NULL, updated_at = $4, \
                         detail = 'the driver opted out', \
                         next_check_at = CASE WHEN start_action_id IS NOT NULL AND end_action_id IS NULL THEN $4 ELSE NULL END \
                         WHERE client_id = $1 AND id = $2 AND state NOT IN ('OPTED_OUT', 'CANCELLED', 'HELD_BACK')",
                    )
                    .bind(client.as_str())
                    .bind(id.as_str())
                    .bind(json(opt_out)?)
                    .bind($time::bind(opt_out.at))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    if done.rows_affected() == 0 {
                        return Ok(None);
                    }
                    Self::append_event(&mut tx, EventType::FlexEventUpdated, id.as_str(), &["progress.state", "progress.optOut"])
                        .await?;
                    tx.commit().await.map_err(store_error)?;
                    self.flex_target(id).await
                }

                async fn save_flex_target(&self, target: &FlexTarget, event_fields: &[&str]) -> Result<bool, StoreError> {
                    let mut tx = self.pool.begin().await.map_err(store_error)?;
                    let done = sqlx::query(
                        "UPDATE flex_event_targets SET \
                         state = CASE WHEN state IN ('OPTED_OUT', 'CANCELLED', 'HELD_BACK') THEN state ELSE $2 END, \
                         detail = CASE WHEN state IN ('OPTED_OUT', 'CANCELLED', 'HELD_BACK') THEN detail ELSE $3 END, \
                         start_action_id = $4, end_action_id = $5, next_check_at = $6, updated_at = $7 WHERE id = $1",
                    )
                    .bind(target.id.as_str())
                    .bind(target.state.as_str())
                    .bind(&target.detail)
                    .bind(target.start_action_id.as_ref().map(ActionId::as_str))
                    .bind(target.end_action_id.as_ref().map(ActionId::as_str))
                    .bind(target.next_check_at.map($time::bind))
                    .bind($time::bind(target.updated_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    if done.rows_affected() == 0 {
                        return Ok(false);
                    }
                    if !event_fields.is_empty() {
                        Self::append_event(&mut tx, EventType::FlexEventUpdated, target.id.as_str(), event_fields).await?;
                    }
                    tx.commit().await.map_err(store_error)?;
                    Ok(true)
                }

                async fn due_flex_targets(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<FlexTarget>, StoreError> {
                    let rows = sqlx::query(&format!(
                        "{TARGET_SELECT} WHERE t.next_check_at IS NOT NULL AND t.next_check_at <= $1 \
                         ORDER BY t.next_check_at, t.id LIMIT {limit}"
                    ))
                    .bind($time::bind(now))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_error)?;
                    all(&rows, target_from_row)
                }

                async fn next_flex_check(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
                    let row = sqlx::query("SELECT MIN(next_check_at) AS next FROM flex_event_targets WHERE next_check_at IS NOT NULL")
                        .fetch_one(&self.pool)
                        .await
                        .map_err(store_error)?;
                    $time::read_opt(&row, "next").map_err(store_error)
                }
            }
        };
    };
}

pub(crate) use impl_flex_store;
