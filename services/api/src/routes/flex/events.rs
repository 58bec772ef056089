//! Events: sent to enrolments, changed, cancelled, their progress, and drivers' opt-outs.

use super::*;

/// A new event.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateEvent {
    /// When it starts (each target after its random delay).
    pub start: DateTime<Utc>,
    /// How long it lasts, minutes (at most the program's `maxEventMinutes`).
    pub duration_minutes: u32,
    /// What it asks for: the program's kind of event (`IMPORT_LIMIT` for a CAPACITY_LIMIT program,
    /// `SHED` for a SHED program, `PAUSE` for a PAUSE program).
    pub kind: EventKind,
    /// The import limit per site (IMPORT_LIMIT), or the kW each site sheds below its similar-days
    /// baseline (SHED: each interval's cap is the baseline less the shed, never below 0).
    pub value: Option<f64>,
    /// The import limit's unit: `KW` (per site, turned into amperes per phase at the configured
    /// phase voltage and phases) or `A` (per phase).
    pub unit: Option<LimitUnit>,
    /// Whom it is for: every active enrolment of the program, groups, or enrolments.
    pub targets: EventTargets,
    /// The longest random delay of each target's start, seconds (0 to 1800, shorter than the
    /// event); each target's delay is drawn from `randomSeed`.
    #[serde(default)]
    pub max_random_delay_seconds: u32,
    /// The seed the delays are drawn from (the same seed gives the same delays); omitted: random.
    pub random_seed: Option<u32>,
    /// The share of the targeted enrolments held back at random as a control group (0 to 0.5;
    /// default 0): they get no cap, and their load is the `CONTROL_GROUP` baseline of the event's
    /// results. Drawn from `randomSeed`.
    pub control_group_share: Option<f64>,
}

/// Changes to an event that has not ended: a new end (earlier or later) or a new value.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateEvent {
    /// The new end (after now and after the start; within the program's longest event).
    pub end: Option<DateTime<Utc>>,
    /// The new import limit (IMPORT_LIMIT only).
    pub value: Option<f64>,
    /// The new import limit's unit.
    pub unit: Option<LimitUnit>,
}

/// A driver's opting out of an event.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateOptOut {
    /// The event.
    pub event_id: String,
    /// Who asked (for example `driver`, `support`); default `driver`.
    pub requested_by: Option<String>,
    /// Why, in the driver's words.
    pub reason: Option<String>,
}

/// One enrolment's part in an event.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetProgress {
    /// Identifier of the part.
    pub id: String,
    /// The enrolment.
    pub enrolment_id: String,
    /// Its user.
    pub user_id: String,
    /// The charger capped, for a charger or EV system enrolment.
    pub charger_id: Option<String>,
    /// The vehicle commanded through its maker, for a vehicle enrolment.
    pub vehicle_id: Option<String>,
    /// Its random start delay, seconds.
    pub delay_seconds: u32,
    /// When its part starts (the event's start plus the delay).
    pub starts_at: DateTime<Utc>,
    /// SCHEDULED, APPLIED (the charger took the profile, the maker the command), CONFIRMED (the
    /// charger's composite schedule shows the cap; the vehicle did it), FAILED, OPTED_OUT or
    /// CANCELLED.
    pub state: TargetState,
    /// What happened last, in words.
    pub detail: Option<String>,
    /// The `flex` limit source on the charger (see `GET /limits/{id}`), while there is one.
    pub limit_id: Option<String>,
    /// The maker commands sent (actions), at the start and at the end.
    pub action_ids: Vec<String>,
    /// The driver's opt-out: who, why and when.
    pub opt_out: Option<OptOut>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A flexibility event with its progress.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlexEventResponse {
    /// Identifier.
    pub id: String,
    /// The program.
    pub program_id: String,
    /// What it asks for.
    pub kind: EventKind,
    /// The import limit's value.
    pub value: Option<f64>,
    /// The import limit's unit.
    pub unit: Option<LimitUnit>,
    /// The cap on each charger, amperes per phase (0 for a pause).
    pub max_current: f64,
    /// When it starts.
    pub start: DateTime<Utc>,
    /// When it ends.
    pub end: DateTime<Utc>,
    /// The longest random delay of a target's start, seconds.
    pub max_random_delay_seconds: u32,
    /// The seed the delays were drawn from.
    pub random_seed: u64,
    /// Whom it was sent to, as asked.
    pub targets: EventTargets,
    /// SCHEDULED, ACTIVE, COMPLETED or CANCELLED.
    pub status: EventStatus,
    /// When it was cancelled.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// How many targets are in each state.
    pub summary: BTreeMap<String, u64>,
    /// Each target's part.
    pub progress: Vec<TargetProgress>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A page of events, newest first (each without its per-target progress; see `summary`).
#[derive(Debug, Serialize, ToSchema)]
pub struct FlexEventPage {
    /// The events.
    pub data: Vec<FlexEventResponse>,
    /// Cursors to the neighbouring pages.
    pub pagination: Pagination,
}

fn progress_of(event: &FlexEvent, target: &FlexTarget) -> TargetProgress {
    let (charger_id, vehicle_id) = match &target.device {
        TargetDevice::Charger(id) => (Some(id.as_str().to_owned()), None),
        TargetDevice::Vehicle(id) => (None, Some(id.as_str().to_owned())),
    };
    TargetProgress {
        id: target.id.as_str().to_owned(),
        enrolment_id: target.enrolment_id.as_str().to_owned(),
        user_id: target.user_id.as_str().to_owned(),
        charger_id,
        vehicle_id,
        delay_seconds: target.delay_s,
        starts_at: event.target_start(target.delay_s),
        state: target.state,
        detail: target.detail.clone(),
        limit_id: target.limit_source_id.as_ref().map(|id| id.as_str().to_owned()),
        action_ids: target
            .start_action_id
            .iter()
            .chain(target.end_action_id.iter())
            .map(|id| id.as_str().to_owned())
            .collect(),
        opt_out: target.opt_out.clone(),
        updated_at: target.updated_at,
    }
}

/// How many of `targets` are in each state, every state named.
fn summary_of(states: impl IntoIterator<Item = (TargetState, u64)>) -> BTreeMap<String, u64> {
    let mut summary: BTreeMap<String, u64> = TargetState::ALL.iter().map(|s| (s.as_str().to_owned(), 0)).collect();
    for (state, n) in states {
        *summary.entry(state.as_str().to_owned()).or_default() += n;
    }
    summary
}

/// An event as the API shows it, with the progress of `targets` (all of them, or the one a webhook
/// event is about) and the count of its targets in each state.
pub(crate) fn event_body(
    event: FlexEvent,
    targets: &[FlexTarget],
    summary: BTreeMap<String, u64>,
    now: DateTime<Utc>,
) -> FlexEventResponse {
    FlexEventResponse {
        id: event.id.as_str().to_owned(),
        program_id: event.program_id.as_str().to_owned(),
        kind: event.kind,
        value: event.value,
        unit: event.unit,
        max_current: event.limit_a,
        start: event.start,
        end: event.end,
        max_random_delay_seconds: event.max_random_delay_s,
        random_seed: event.random_seed,
        status: event.status(now),
        cancelled_at: event.cancelled_at,
        progress: targets.iter().map(|t| progress_of(&event, t)).collect(),
        summary,
        created_at: event.created_at,
        updated_at: event.updated_at,
        targets: event.targets,
    }
}

/// An event with every target's progress.
pub(crate) fn full_event_body(event: FlexEvent, targets: &[FlexTarget], now: DateTime<Utc>) -> FlexEventResponse {
    let summary = summary_of(targets.iter().map(|t| (t.state, 1)));
    event_body(event, targets, summary, now)
}

fn refusals_to_error(refusals: Vec<EventRefusal>) -> ApiError {
    if let Some(EventRefusal::NotYet(why)) = refusals.iter().find(|r| matches!(r, EventRefusal::NotYet(_))) {
        return ApiError::invalid(format!("not yet: {why}")).at_field("/kind");
    }
    let problems = refusals
        .into_iter()
        .filter_map(|r| match r {
            EventRefusal::Field(p) => Some(p),
            EventRefusal::NotYet(_) => None,
        })
        .collect();
    field_errors("the event does not keep to its program", problems)
}

/// The program's events starting in the UTC calendar year of `at`, cancelled ones not counted.
async fn events_in_year(
    state: &AppState,
    program: &Program,
    at: DateTime<Utc>,
    except: Option<&FlexEventId>,
) -> Result<u32, ApiError> {
    let year = at.year();
    let from = Utc.with_ymd_and_hms(year, 1, 1, 0, 0, 0).single().unwrap_or(at);
    let to = Utc.with_ymd_and_hms(year + 1, 1, 1, 0, 0, 0).single().unwrap_or(at);
    Ok(state.store.count_flex_events(&program.id, from, to, except).await?)
}

fn cap_of(state: &AppState, kind: EventKind, value: Option<f64>, unit: Option<LimitUnit>) -> f64 {
    match (kind, value, unit) {
        (EventKind::ImportLimit, Some(value), Some(unit)) => {
            let smart = state.smart.config();
            import_limit_amps(value, unit, smart.phase_voltage, smart.phases)
        }
        _ => 0.0,
    }
}

/// The device an enrolment's part is carried out on; `None` when it is gone.
async fn target_device(
    state: &AppState,
    caller: &Caller,
    enrolment: &Enrolment,
) -> Result<Option<TargetDevice>, ApiError> {
    let store = &state.store;
    let client = &caller.client_id;
    Ok(match enrolment.device.kind {
        FlexDeviceKind::Charger => store
            .get_charger(client, &ChargerId::new(enrolment.device.id.as_str()))
            .await?
            .map(|c| TargetDevice::Charger(c.id)),
        FlexDeviceKind::EvSystem => store
            .get_ev_system(client, &EvSystemId::new(enrolment.device.id.as_str()))
            .await?
            .map(|p| TargetDevice::Charger(p.charger_id)),
        FlexDeviceKind::Vehicle => store
            .get_vehicle(client, &VehicleId::new(enrolment.device.id.as_str()))
            .await?
            .map(|v| TargetDevice::Vehicle(v.id)),
    })
}

/// The enrolments an event's `targets` name: each group and enrolment must be the program's (a
/// 422 naming the value otherwise, another client's included).
async fn resolve_targets(
    state: &AppState,
    caller: &Caller,
    program: &Program,
    targets: &EventTargets,
) -> Result<Vec<Enrolment>, ApiError> {
    if !targets.program && targets.group_ids.is_empty() && targets.enrolment_ids.is_empty() {
        return Err(
            ApiError::invalid("name the targets: \"program\": true, groupIds or enrolmentIds").at_field("/targets"),
        );
    }
    let live = state.store.live_enrolments(&caller.client_id, &program.id).await?;
    let mut error = ApiError::invalid("the event's targets are not the program's");
    let mut bad = false;
    let mut chosen: Vec<EnrolmentId> = Vec::new();
    if targets.program {
        chosen.extend(live.iter().map(|e| e.id.clone()));
    }
    for (i, raw) in targets.group_ids.iter().enumerate() {
        match state
            .store
            .get_group(&caller.client_id, &GroupId::new(raw.as_str()))
            .await?
        {
            Some(group) if group.program_id == program.id => {
                chosen.extend(group.members(&live).into_iter().map(|e| e.id.clone()));
            }
            _ => {
                error = error.at(InvalidValue::body(
                    format!("/targets/groupIds/{i}"),
                    format!("no group '{raw}' in this program"),
                ));
                bad = true;
            }
        }
    }
    for (i, raw) in targets.enrolment_ids.iter().enumerate() {
        match live.iter().find(|e| e.id.as_str() == raw) {
            Some(e) => chosen.push(e.id.clone()),
            None => {
                error = error.at(InvalidValue::body(
                    format!("/targets/enrolmentIds/{i}"),
                    format!("no enrolment '{raw}' in this program that has not ended"),
                ));
                bad = true;
            }
        }
    }
    if bad {
        return Err(error);
    }
    let chosen: std::collections::HashSet<EnrolmentId> = chosen.into_iter().collect();
    Ok(live.into_iter().filter(|e| chosen.contains(&e.id)).collect())
}

/// Sends an event to a program's enrolments. It is checked against the program (kind, value,
/// duration, notice, events per year, a window that has not ended) and its targets resolved to the
/// ACTIVE enrolments they name (PENDING and NEEDS_ACTION ones are checked again first); then each
/// target gets its random start delay and, on a charger, a `flex` limit source with the target's
/// window, which goes on the charger as a station-wide profile the charger drops by itself at the
/// end. Vehicles without a charger are stopped through their makers at their start and started
/// again at the end.
#[utoipa::path(
    post,
    path = "/programs/{programId}/events",
    tag = "flex",
    params(("programId" = String, Path, description = "The program's id")),
    request_body = CreateEvent,
    responses(
        (status = 201, description = "Stored; being put on the devices", body = FlexEventResponse),
        (status = 404, description = "The client has no such program", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Outside the program's limits, a target that is not the program's, no active target, or a bad value", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn create_event(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<CreateEvent>,
) -> Result<(StatusCode, ApiJson<FlexEventResponse>), ApiError> {
    let program = owned_program(&state, &caller, &id).await?;
    let now = state.now();
    let event = send_event(&state, &caller, &program, body, false).await?;
    let stored = state.store.flex_targets(&event.id).await?;
    Ok((StatusCode::CREATED, ApiJson(full_event_body(event, &stored, now))))
}

/// Sends an event to a program's enrolments (see [`create_event`]); the stored event. `from_vtn`:
/// the event comes from the program's VTN, which decides notice and how many events a year there
/// are, so only the rest of the program's limits are checked.
pub(crate) async fn send_event(
    state: &AppState,
    caller: &Caller,
    program: &Program,
    body: CreateEvent,
    from_vtn: bool,
) -> Result<FlexEvent, ApiError> {
    let now = state.now();
    let (state, caller, program) = (state.clone(), caller.clone(), program.clone());
    let request = EventRequest {
        kind: body.kind,
        value: body.value,
        unit: body.unit,
        start: body.start,
        duration_minutes: body.duration_minutes,
        max_random_delay_s: body.max_random_delay_seconds,
    };
    if from_vtn {
        check_event(&lenient(&program), &request, now, 0).map_err(refusals_to_error)?;
    } else {
        let in_year = events_in_year(&state, &program, body.start, None).await?;
        check_event(&program, &request, now, in_year).map_err(refusals_to_error)?;
    }
    let control_group_share = body.control_group_share.unwrap_or(0.0);
    if !(0.0..=MAX_CONTROL_GROUP_SHARE).contains(&control_group_share) {
        return Err(ApiError::invalid(format!(
            "controlGroupShare must be a number from 0 to {MAX_CONTROL_GROUP_SHARE}"
        ))
        .at_field("/controlGroupShare"));
    }
    let enrolments = resolve_targets(&state, &caller, &program, &body.targets).await?;
    let limit_a = cap_of(&state, body.kind, body.value, body.unit);
    let mut event = FlexEvent {
        id: FlexEventId::generate(),
        client_id: caller.client_id.clone(),
        program_id: program.id.clone(),
        kind: body.kind,
        value: body.value,
        unit: body.unit,
        limit_a,
        start: body.start,
        end: body.start + Duration::minutes(i64::from(body.duration_minutes)),
        max_random_delay_s: body.max_random_delay_seconds,
        random_seed: u64::from(body.random_seed.unwrap_or_else(rand::random)),
        targets: body.targets,
        cancelled_at: None,
        control_group_share,
        created_at: now,
        updated_at: now,
    };
    // PENDING and NEEDS_ACTION enrolments are checked again now: one that qualifies takes part.
    // Their new states are kept only once the event is stored, so a refused event changes nothing.
    let mut rechecked = Vec::new();
    let mut taking_part = Vec::new();
    for enrolment in &enrolments {
        let mut status = enrolment.state.status;
        if matches!(status, EnrolmentStatus::Pending | EnrolmentStatus::NeedsAction) {
            let verdict = recheck(&state, &caller, enrolment).await?;
            if let Ok(next) = enrolment.state.apply(EnrolmentChange::Checked(verdict)) {
                status = next.status;
                if next != enrolment.state {
                    rechecked.push((enrolment.id.clone(), next));
                }
            }
        }
        if status != EnrolmentStatus::Active {
            continue;
        }
        let Some(device) = target_device(&state, &caller, enrolment).await? else {
            continue;
        };
        taking_part.push((enrolment, device));
    }
    // A random share is held back as the control group: no cap, measured as the baseline.
    let ids: Vec<&str> = taking_part.iter().map(|(e, _)| e.id.as_str()).collect();
    let held_back = control_group(event.random_seed, &ids, control_group_share);
    let treated: Vec<ChargerId> = taking_part
        .iter()
        .filter(|(e, _)| !held_back.contains(e.id.as_str()))
        .filter_map(|(_, d)| match d {
            TargetDevice::Charger(c) => Some(c.clone()),
            TargetDevice::Vehicle(_) => None,
        })
        .collect();
    let shed_caps = match (event.kind, event.value) {
        (EventKind::Shed, Some(shed_kw)) => {
            let caps = super::shed_caps(&state, &caller, &event, &treated, shed_kw).await?;
            event.limit_a = caps
                .values()
                .flatten()
                .flatten()
                .map(|p| p.max_current_a)
                .fold(0.0, f64::max);
            Some(caps)
        }
        _ => None,
    };
    let mut targets = Vec::new();
    let mut sources = Vec::new();
    for (enrolment, device) in taking_part {
        let delay_s = start_delay_s(event.random_seed, enrolment.id.as_str(), event.max_random_delay_s);
        let starts = event.target_start(delay_s);
        let mut state_now = TargetState::Scheduled;
        let mut detail = None;
        let mut next_check_at = Some(starts);
        let limit_source_id = match &device {
            _ if held_back.contains(enrolment.id.as_str()) => {
                state_now = TargetState::HeldBack;
                detail = Some("held back at random as the event's control group: no cap".to_owned());
                next_check_at = None;
                None
            }
            TargetDevice::Charger(charger) => {
                let schedule = match shed_caps.as_ref().map(|caps| caps.get(charger).cloned().flatten()) {
                    None => Some(Vec::new()),
                    Some(Some(periods)) => Some(
                        periods
                            .iter()
                            .map(|p| SchedulePeriod {
                                start: p.start.max(starts),
                                ..*p
                            })
                            .collect::<Vec<_>>(),
                    ),
                    Some(None) => None,
                };
                match schedule {
                    Some(schedule) => {
                        let source = LimitSource {
                            id: LimitSourceId::generate(),
                            client_id: caller.client_id.clone(),
                            user_id: enrolment.user_id.clone(),
                            kind: LimitSourceKind::Flex,
                            scope: LimitScope::Charger(charger.clone()),
                            // A source with a schedule carries its highest period's cap.
                            max_current_a: if schedule.is_empty() {
                                event.limit_a
                            } else {
                                schedule.iter().map(|p| p.max_current_a).fold(0.0, f64::max)
                            },
                            valid_from: Some(starts),
                            valid_to: Some(event.end),
                            created_at: now,
                            schedule: dedup_periods(schedule),
                        };
                        let id = source.id.clone();
                        sources.push(source);
                        Some(id)
                    }
                    None => {
                        state_now = TargetState::Failed;
                        detail = Some(
                            "no baseline for the charger (no similar day without events in the last 30 days): nothing to shed from"
                                .to_owned(),
                        );
                        next_check_at = None;
                        None
                    }
                }
            }
            TargetDevice::Vehicle(_) if event.kind == EventKind::Shed => {
                state_now = TargetState::Failed;
                detail = Some("SHED events are carried out on chargers; this vehicle has none".to_owned());
                next_check_at = None;
                None
            }
            TargetDevice::Vehicle(_) => None,
        };
        targets.push(FlexTarget {
            id: FlexTargetId::generate(),
            client_id: caller.client_id.clone(),
            user_id: enrolment.user_id.clone(),
            event_id: event.id.clone(),
            enrolment_id: enrolment.id.clone(),
            device,
            delay_s,
            limit_source_id,
            start_action_id: None,
            end_action_id: None,
            state: state_now,
            detail,
            opt_out: None,
            next_check_at,
            updated_at: now,
        });
    }
    if targets.is_empty() {
        return Err(
            ApiError::invalid("none of the targets is an ACTIVE enrolment whose device still exists")
                .at_field("/targets"),
        );
    }
    state.store.insert_flex_event(&event, &targets, &sources).await?;
    for (id, next) in &rechecked {
        state
            .store
            .save_enrolment_state(&caller.client_id, id, next, now)
            .await?;
    }
    tracing::info!(event_id = %event.id, targets = targets.len(), held_back = held_back.len(), limit_a = event.limit_a, "flex event sent");
    let chargers = charger_ids(&targets);
    state.flex.event_changed(event.id.clone(), chargers);
    Ok(event)
}

/// The program with no minimum notice and no yearly count: what an event already running, or
/// one from the program's VTN, is checked against.
fn lenient(program: &Program) -> Program {
    Program {
        limits: coupler_core::flex::ProgramLimits {
            min_notice_minutes: 0,
            max_events_per_year: None,
            ..program.limits
        },
        ..program.clone()
    }
}

/// A schedule's periods in time order, one per start (the later of two at one start wins, as the
/// first periods of a target whose delayed start falls inside them are moved to it), and none that
/// repeats the cap before it.
fn dedup_periods(mut periods: Vec<SchedulePeriod>) -> Vec<SchedulePeriod> {
    periods.sort_by_key(|p| p.start);
    let mut kept: Vec<SchedulePeriod> = Vec::new();
    for period in periods {
        match kept.last_mut() {
            Some(last) if last.start == period.start => *last = period,
            _ => kept.push(period),
        }
    }
    kept.dedup_by(|later, earlier| later.max_current_a == earlier.max_current_a);
    kept
}

fn charger_ids(targets: &[FlexTarget]) -> Vec<ChargerId> {
    let mut chargers: Vec<ChargerId> = targets
        .iter()
        .filter_map(|t| match &t.device {
            TargetDevice::Charger(id) => Some(id.clone()),
            TargetDevice::Vehicle(_) => None,
        })
        .collect();
    chargers.sort();
    chargers.dedup();
    chargers
}

/// Lists a program's events, newest first, each with the count of its targets in each state.
#[utoipa::path(
    get,
    path = "/programs/{programId}/events",
    tag = "flex",
    params(("programId" = String, Path, description = "The program's id"), PageQuery),
    responses(
        (status = 200, description = "A page of events", body = FlexEventPage),
        (status = 404, description = "The client has no such program", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn list_events(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<ApiJson<FlexEventPage>, ApiError> {
    let request = query.parse()?;
    let program = owned_program(&state, &caller, &id).await?;
    let page = state
        .store
        .list_flex_events(&caller.client_id, &program.id, &request)
        .await?;
    let now = state.now();
    let ids: Vec<FlexEventId> = page.items.iter().map(|e| e.id.clone()).collect();
    let counts = state.store.flex_target_counts(&ids).await?;
    let data = page
        .items
        .into_iter()
        .map(|event| {
            let of_event = counts
                .iter()
                .filter(|(id, _, _)| *id == event.id)
                .map(|(_, s, n)| (*s, *n));
            let summary = summary_of(of_event);
            event_body(event, &[], summary, now)
        })
        .collect();
    Ok(ApiJson(FlexEventPage {
        data,
        pagination: Pagination {
            after: page.after.map(|k| k.encode()),
            before: page.before.map(|k| k.encode()),
        },
    }))
}

async fn owned_event(state: &AppState, caller: &Caller, program: &str, id: &str) -> Result<FlexEvent, ApiError> {
    match state
        .store
        .get_flex_event(&caller.client_id, &FlexEventId::new(id))
        .await?
    {
        Some(event) if event.program_id.as_str() == program => Ok(event),
        _ => Err(ApiError::not_found(format!("no event '{id}' in program '{program}'"))),
    }
}

/// Reads an event with each target's part: SCHEDULED, APPLIED, CONFIRMED, FAILED, OPTED_OUT or
/// CANCELLED, with what happened last.
#[utoipa::path(
    get,
    path = "/programs/{programId}/events/{eventId}",
    tag = "flex",
    params(("programId" = String, Path, description = "The program's id"), ("eventId" = String, Path, description = "The event's id")),
    responses(
        (status = 200, description = "The event and its progress", body = FlexEventResponse),
        (status = 404, description = "The client has no such event", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn get_event(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath((program, id)): ApiPath<(String, String)>,
) -> Result<ApiJson<FlexEventResponse>, ApiError> {
    let event = owned_event(&state, &caller, &program, &id).await?;
    let targets = state.store.flex_targets(&event.id).await?;
    Ok(ApiJson(full_event_body(event, &targets, state.now())))
}

/// Changes an event that has not ended: ends it earlier or later, or changes its value. Each
/// target's limit source moves with it, and the chargers get their profiles again.
#[utoipa::path(
    patch,
    path = "/programs/{programId}/events/{eventId}",
    tag = "flex",
    params(("programId" = String, Path, description = "The program's id"), ("eventId" = String, Path, description = "The event's id")),
    request_body = UpdateEvent,
    responses(
        (status = 200, description = "The changed event", body = FlexEventResponse),
        (status = 404, description = "The client has no such event", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The event was cancelled or has ended", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Outside the program's limits, or a bad value", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn update_event(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath((program_id, id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<UpdateEvent>,
) -> Result<ApiJson<FlexEventResponse>, ApiError> {
    let program = owned_program(&state, &caller, &program_id).await?;
    let event = owned_event(&state, &caller, &program_id, &id).await?;
    let now = state.now();
    let event = change_event(&state, &program, event, body).await?;
    let targets = state.store.flex_targets(&event.id).await?;
    Ok(ApiJson(full_event_body(event, &targets, now)))
}

/// Changes an event that has not ended (see [`update_event`]); the changed event.
pub(crate) async fn change_event(
    state: &AppState,
    program: &Program,
    mut event: FlexEvent,
    body: UpdateEvent,
) -> Result<FlexEvent, ApiError> {
    let now = state.now();
    match event.status(now) {
        EventStatus::Cancelled | EventStatus::Completed => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("the event is {}; it can no longer change", event.status(now).as_str()),
            ));
        }
        EventStatus::Scheduled | EventStatus::Active => {}
    }
    if event.kind == EventKind::Shed && (body.value.is_some() || body.unit.is_some()) {
        return Err(ApiError::invalid(
            "a SHED event's shed cannot change (its caps were cut from the baselines); cancel it and send a new one",
        )
        .at_field("/value"));
    }
    let end = body.end.unwrap_or(event.end);
    if end <= now {
        return Err(
            ApiError::invalid("the new end has already passed; cancel the event to end it now").at_field("/end"),
        );
    }
    if end <= event.start {
        return Err(ApiError::invalid("the new end must be after the event's start").at_field("/end"));
    }
    let minutes = u32::try_from(((end - event.start).num_seconds() + 59) / 60).unwrap_or(u32::MAX);
    let (value, unit) = if body.value.is_some() || body.unit.is_some() {
        (body.value.or(event.value), body.unit.or(event.unit))
    } else {
        (event.value, event.unit)
    };
    let request = EventRequest {
        kind: event.kind,
        value,
        unit,
        // Judged as if sent now for an event already running: notice matters only for the start.
        start: event.start.max(now),
        duration_minutes: minutes,
        max_random_delay_s: 0,
    };
    check_event(&lenient(program), &request, now, 0).map_err(refusals_to_error)?;
    event.end = end;
    event.value = value;
    event.unit = unit;
    if event.kind != EventKind::Shed {
        event.limit_a = cap_of(state, event.kind, value, unit);
    }
    event.updated_at = now;
    if !state.store.update_flex_event(&event).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "the event was cancelled meanwhile",
        ));
    }
    let targets = state.store.flex_targets(&event.id).await?;
    let live: Vec<FlexTarget> = targets.iter().filter(|t| !t.state.is_settled()).cloned().collect();
    state.flex.event_changed(event.id.clone(), charger_ids(&live));
    Ok(event)
}

/// Cancels an event: every target that has not opted out becomes CANCELLED, the caps are removed
/// from the chargers, and vehicles stopped for it are started again.
#[utoipa::path(
    post,
    path = "/programs/{programId}/events/{eventId}/cancel",
    tag = "flex",
    params(("programId" = String, Path, description = "The program's id"), ("eventId" = String, Path, description = "The event's id")),
    responses(
        (status = 200, description = "The cancelled event", body = FlexEventResponse),
        (status = 404, description = "The client has no such event", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The event was already cancelled or has ended", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn cancel_event(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath((program_id, id)): ApiPath<(String, String)>,
) -> Result<ApiJson<FlexEventResponse>, ApiError> {
    let event = owned_event(&state, &caller, &program_id, &id).await?;
    let now = state.now();
    call_off(&state, &event).await?;
    let event = owned_event(&state, &caller, &program_id, &id).await?;
    let targets = state.store.flex_targets(&event.id).await?;
    Ok(ApiJson(full_event_body(event, &targets, now)))
}

/// Cancels an event (see [`cancel_event`]).
pub(crate) async fn call_off(state: &AppState, event: &FlexEvent) -> Result<(), ApiError> {
    let now = state.now();
    if event.status(now) == EventStatus::Completed {
        return Err(ApiError::new(StatusCode::CONFLICT, "conflict", "the event has ended"));
    }
    let chargers = state
        .store
        .cancel_flex_event(&event.client_id, &event.id, now)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::CONFLICT, "conflict", "the event was already cancelled"))?;
    tracing::info!(event_id = %event.id, "flex event cancelled");
    state.flex.event_changed(event.id.clone(), chargers);
    Ok(())
}

/// Opts an enrolment's driver out of one event: the cap is lifted for their device alone (its limit
/// source is removed; a vehicle stopped for the event is started again), and who asked, why and when
/// are kept and shown in the event's progress.
#[utoipa::path(
    post,
    path = "/enrolments/{enrolmentId}/opt-outs",
    tag = "flex",
    params(("enrolmentId" = String, Path, description = "The enrolment's id")),
    request_body = CreateOptOut,
    responses(
        (status = 201, description = "Opted out; the enrolment's part in the event", body = TargetProgress),
        (status = 404, description = "The client has no such enrolment, or it has no part in the event", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already opted out, or the event was cancelled or has ended", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn create_opt_out(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<CreateOptOut>,
) -> Result<(StatusCode, ApiJson<TargetProgress>), ApiError> {
    let enrolment = owned_enrolment(&state, &caller, &id).await?;
    let requested_by = body.requested_by.unwrap_or_else(|| "driver".to_owned());
    if requested_by.trim().is_empty() || requested_by.len() > 100 {
        return Err(ApiError::invalid("requestedBy must be 1 to 100 characters").at_field("/requestedBy"));
    }
    if body.reason.as_ref().is_some_and(|r| r.len() > 1000) {
        return Err(ApiError::invalid("reason must be at most 1000 characters").at_field("/reason"));
    }
    let not_part = || ApiError::not_found(format!("enrolment '{id}' has no part in event '{}'", body.event_id));
    let event = state
        .store
        .get_flex_event(&caller.client_id, &FlexEventId::new(body.event_id.as_str()))
        .await?
        .filter(|e| e.program_id == enrolment.program_id)
        .ok_or_else(not_part)?;
    let now = state.now();
    if matches!(event.status(now), EventStatus::Completed | EventStatus::Cancelled) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("the event is {}", event.status(now).as_str()),
        ));
    }
    let target = state
        .store
        .flex_targets(&event.id)
        .await?
        .into_iter()
        .find(|t| t.enrolment_id == enrolment.id)
        .ok_or_else(not_part)?;
    if target.state == TargetState::HeldBack {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "the enrolment is held back from this event as part of its control group: it has no cap to opt out of",
        ));
    }
    let opt_out = OptOut {
        requested_by: requested_by.trim().to_owned(),
        reason: body.reason.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty()),
        at: now,
    };
    let saved = state
        .store
        .opt_out_flex_target(&caller.client_id, &target.id, &opt_out)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                "the driver has already opted out of this event",
            )
        })?;
    tracing::info!(event_id = %event.id, target_id = %saved.id, "driver opted out");
    let chargers = match &saved.device {
        TargetDevice::Charger(charger) => vec![charger.clone()],
        TargetDevice::Vehicle(_) => Vec::new(),
    };
    state.flex.event_changed(event.id.clone(), chargers);
    Ok((StatusCode::CREATED, ApiJson(progress_of(&event, &saved))))
}
