//! Flexibility programs: a client's programs, the devices its users enrol in them (with an
//! eligibility check that gives its reasons), groups of enrolments, events sent to them and the
//! progress of each target, and drivers' opt-outs.
//!
//! An event is checked against its program (kind, value, window, notice, events per year) and its
//! targets resolved to active enrolments before anything is stored; then the event, each target
//! and each charger's `flex` limit source are stored in one transaction, and the flex keeper puts
//! them on the chargers. Bad input changes nothing.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use coupler_core::ev_system::EvSystemId;
use coupler_core::flex::{
    check_eligibility, check_event, import_limit_amps, start_delay_s, Consent, DeviceFacts, EligibilityRules,
    EnrolledDevice, Enrolment, EnrolmentChange, EnrolmentId, EnrolmentState, EnrolmentStatus, EventKind, EventRefusal,
    EventRequest, EventStatus, EventTargets, FieldProblem, FlexDeviceKind, FlexEvent, FlexEventId, FlexTarget,
    FlexTargetId, Group, GroupFilter, GroupId, LimitUnit, OptOut, Program, ProgramId, ProgramKind, ProgramLimits,
    Reason, TargetDevice, TargetState, Verdict,
};
use coupler_core::limits::{ChargerCapabilities, LimitScope, LimitSource, LimitSourceId, LimitSourceKind};
use coupler_core::location::{LocationId, Point};
use coupler_core::{ActionKind, ChargerId, UserId, VehicleId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::users::{PageQuery, Pagination};
use crate::error::{ApiError, InvalidValue, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::state::AppState;

// ---------------------------------------------------------------------------------------------
// Programs
// ---------------------------------------------------------------------------------------------

/// A new program.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateProgram {
    /// What people call it, 1 to 200 characters.
    #[schema(example = "Winter peak relief")]
    pub name: String,
    /// What it asks of devices: a cap on each site's import, a shed against the baseline (events
    /// not carried out yet), or a pause.
    pub kind: ProgramKind,
    /// Which devices it takes.
    pub eligibility: EligibilityRules,
    /// How often and how long it may call events, and with how much notice.
    pub limits: ProgramLimits,
    /// What participants get, in the program's own terms (any JSON object), kept as given.
    #[schema(value_type = Object)]
    #[serde(default)]
    pub incentive: Option<serde_json::Value>,
}

/// Changes to a program; what is left out stays. Its kind does not change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateProgram {
    /// A new name.
    pub name: Option<String>,
    /// New eligibility rules (enrolments made before are not checked again until they are).
    pub eligibility: Option<EligibilityRules>,
    /// New limits (for events sent from now on).
    pub limits: Option<ProgramLimits>,
    /// New incentive terms.
    #[schema(value_type = Object)]
    pub incentive: Option<serde_json::Value>,
}

/// A flexibility program.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProgramResponse {
    /// Identifier.
    pub id: String,
    /// What people call it.
    pub name: String,
    /// What it asks of devices.
    pub kind: ProgramKind,
    /// Which devices it takes.
    pub eligibility: EligibilityRules,
    /// Its limits on events.
    pub limits: ProgramLimits,
    /// Its incentive terms, as given.
    #[schema(value_type = Object)]
    pub incentive: serde_json::Value,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<Program> for ProgramResponse {
    fn from(p: Program) -> Self {
        Self {
            id: p.id.as_str().to_owned(),
            name: p.name,
            kind: p.kind,
            eligibility: p.eligibility,
            limits: p.limits,
            incentive: p.incentive,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// A page of programs, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProgramPage {
    /// The programs.
    pub data: Vec<ProgramResponse>,
    /// Cursors to the neighbouring pages.
    pub pagination: Pagination,
}

fn field_errors(detail: &str, problems: Vec<FieldProblem>) -> ApiError {
    problems.into_iter().fold(ApiError::invalid(detail), |error, p| {
        error.at(InvalidValue::body(p.pointer, p.detail))
    })
}

fn incentive_of(value: Option<serde_json::Value>) -> Result<serde_json::Value, ApiError> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(serde_json::json!({})),
        Some(object @ serde_json::Value::Object(_)) => Ok(object),
        Some(_) => Err(ApiError::invalid("incentive must be a JSON object").at_field("/incentive")),
    }
}

async fn owned_program(state: &AppState, caller: &Caller, id: &str) -> Result<Program, ApiError> {
    state
        .store
        .get_program(&caller.client_id, &ProgramId::new(id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no program '{id}'")))
}

/// Creates a program owned by the calling client.
#[utoipa::path(
    post,
    path = "/programs",
    tag = "flex",
    request_body = CreateProgram,
    responses(
        (status = 201, description = "Created", body = ProgramResponse),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn create_program(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateProgram>,
) -> Result<(StatusCode, ApiJson<ProgramResponse>), ApiError> {
    let problems = Program::check(&body.name, &body.eligibility, &body.limits);
    if !problems.is_empty() {
        return Err(field_errors("the program is not valid", problems));
    }
    let now = state.now();
    let program = Program {
        id: ProgramId::generate(),
        client_id: caller.client_id.clone(),
        name: body.name.trim().to_owned(),
        kind: body.kind,
        eligibility: body.eligibility,
        limits: body.limits,
        incentive: incentive_of(body.incentive)?,
        created_at: now,
        updated_at: now,
    };
    state.store.insert_program(&program).await?;
    tracing::info!(program_id = %program.id, "flex program created");
    Ok((StatusCode::CREATED, ApiJson(program.into())))
}

/// Lists the client's programs, newest first.
#[utoipa::path(
    get,
    path = "/programs",
    tag = "flex",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of programs", body = ProgramPage),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn list_programs(
    caller: Caller,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<ApiJson<ProgramPage>, ApiError> {
    let page = state.store.list_programs(&caller.client_id, &query.parse()?).await?;
    Ok(ApiJson(ProgramPage {
        data: page.items.into_iter().map(Into::into).collect(),
        pagination: Pagination {
            after: page.after.map(|k| k.encode()),
            before: page.before.map(|k| k.encode()),
        },
    }))
}

/// Reads a program.
#[utoipa::path(
    get,
    path = "/programs/{programId}",
    tag = "flex",
    params(("programId" = String, Path, description = "The program's id")),
    responses(
        (status = 200, description = "The program", body = ProgramResponse),
        (status = 404, description = "The client has no such program", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn get_program(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<ProgramResponse>, ApiError> {
    Ok(ApiJson(owned_program(&state, &caller, &id).await?.into()))
}

/// Changes a program's name, rules, limits or incentive terms.
#[utoipa::path(
    patch,
    path = "/programs/{programId}",
    tag = "flex",
    params(("programId" = String, Path, description = "The program's id")),
    request_body = UpdateProgram,
    responses(
        (status = 200, description = "The changed program", body = ProgramResponse),
        (status = 404, description = "The client has no such program", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn update_program(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateProgram>,
) -> Result<ApiJson<ProgramResponse>, ApiError> {
    let mut program = owned_program(&state, &caller, &id).await?;
    if let Some(name) = body.name {
        program.name = name;
    }
    if let Some(eligibility) = body.eligibility {
        program.eligibility = eligibility;
    }
    if let Some(limits) = body.limits {
        program.limits = limits;
    }
    if body.incentive.is_some() {
        program.incentive = incentive_of(body.incentive)?;
    }
    let problems = Program::check(&program.name, &program.eligibility, &program.limits);
    if !problems.is_empty() {
        return Err(field_errors("the program is not valid", problems));
    }
    program.name = program.name.trim().to_owned();
    program.updated_at = state.now();
    if !state.store.update_program(&program).await? {
        return Err(ApiError::not_found(format!("no program '{id}'")));
    }
    Ok(ApiJson(program.into()))
}

/// Deletes a program with its enrolments, groups and events; the caps of its events are lifted
/// from the chargers.
#[utoipa::path(
    delete,
    path = "/programs/{programId}",
    tag = "flex",
    params(("programId" = String, Path, description = "The program's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "The client has no such program", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn delete_program(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let chargers = state
        .store
        .delete_program(&caller.client_id, &ProgramId::new(id.as_str()))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no program '{id}'")))?;
    state.engine.limits().changed(chargers);
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// Eligibility and enrolments
// ---------------------------------------------------------------------------------------------

/// A device of a user, to check or enrol.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeviceRef {
    /// The user (the app's own id for them).
    pub user_id: String,
    /// What kind of device.
    pub device_type: FlexDeviceKind,
    /// The charger's, vehicle's or EV system's id.
    pub device_id: String,
}

/// What an eligibility check concludes.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EligibilityResponse {
    /// Whether the device may be enrolled now (it would be ACTIVE, or PENDING while something it
    /// must be able to do is not known yet).
    pub eligible: bool,
    /// `ELIGIBLE`, `UNDECIDED` (nothing rules it out, but a capability is not known yet) or
    /// `INELIGIBLE`.
    #[schema(example = "INELIGIBLE")]
    pub verdict: String,
    /// Every reason against it, or what is not known yet.
    pub reasons: Vec<Reason>,
}

/// An enrolment: the user's consent to have a device take part.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConsentRequest {
    /// What is shared with the program (for example `chargingSessions`, `meterReadings`,
    /// `location`), at least one item.
    pub data_shared: Vec<String>,
    /// How the user leaves the program, in the program's words.
    pub how_to_leave: String,
    /// When the user agreed; omitted: now.
    pub given_at: Option<DateTime<Utc>>,
}

/// A new enrolment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateEnrolment {
    /// The user (the app's own id for them).
    pub user_id: String,
    /// What kind of device.
    pub device_type: FlexDeviceKind,
    /// The charger's, vehicle's or EV system's id.
    pub device_id: String,
    /// What the user agreed to.
    pub consent: ConsentRequest,
}

/// The consent an enrolment was made with.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsentBody {
    /// What is shared with the program.
    pub data_shared: Vec<String>,
    /// How the user leaves.
    pub how_to_leave: String,
    /// When the user agreed.
    pub given_at: DateTime<Utc>,
}

/// An enrolment of a user's device in a program.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnrolmentResponse {
    /// Identifier.
    pub id: String,
    /// The program.
    pub program_id: String,
    /// The user.
    pub user_id: String,
    /// What kind of device.
    pub device_type: FlexDeviceKind,
    /// The device's id.
    pub device_id: String,
    /// Where it stands: PENDING, ACTIVE (takes part in events), NEEDS_ACTION, PAUSED, UNENROLLED,
    /// REJECTED.
    pub status: EnrolmentStatus,
    /// Why it has that status (what is missing, for PENDING, NEEDS_ACTION and REJECTED).
    pub status_reason: Option<String>,
    /// What the user agreed to.
    pub consent: ConsentBody,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When its status last changed.
    pub updated_at: DateTime<Utc>,
}

pub(crate) fn enrolment_body(e: Enrolment) -> EnrolmentResponse {
    EnrolmentResponse {
        id: e.id.as_str().to_owned(),
        program_id: e.program_id.as_str().to_owned(),
        user_id: e.user_id.as_str().to_owned(),
        device_type: e.device.kind,
        device_id: e.device.id,
        status: e.state.status,
        status_reason: e.state.reason,
        consent: ConsentBody {
            data_shared: e.consent.data_shared,
            how_to_leave: e.consent.how_to_leave,
            given_at: e.consent.given_at,
        },
        created_at: e.created_at,
        updated_at: e.updated_at,
    }
}

/// A page of enrolments, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnrolmentPage {
    /// The enrolments.
    pub data: Vec<EnrolmentResponse>,
    /// Cursors to the neighbouring pages.
    pub pagination: Pagination,
}

fn parse_user(raw: &str, pointer: &str) -> Result<UserId, ApiError> {
    UserId::parse(raw).map_err(|e| ApiError::invalid(e.to_string()).at_field(pointer))
}

/// What is known about a user's device, for its eligibility; `None` when the client's user has no
/// such device.
async fn device_facts(
    state: &AppState,
    caller: &Caller,
    user: &UserId,
    device: &EnrolledDevice,
) -> Result<Option<DeviceFacts>, ApiError> {
    let store = &state.store;
    let client = &caller.client_id;
    let charger_facts = |charger: coupler_core::Charger| async move {
        let capabilities = store
            .charger_capabilities(&charger.id)
            .await?
            .unwrap_or_else(ChargerCapabilities::unknown);
        let position = match &charger.location_id {
            Some(location) => store
                .get_location(client, &LocationId::new(location.as_str()))
                .await?
                .map(|l| l.fields.point()),
            None => None,
        };
        Ok::<_, ApiError>(DeviceFacts {
            smart_charging_profiles: capabilities.smart_charging,
            // A charger starts and stops by remote start and stop, and takes a current through a
            // profile, or (without profiles) is switched off below 6 A.
            start_stop: Some(true),
            set_max_current: capabilities.smart_charging,
            position,
        })
    };
    let vehicle_facts = |vehicle: coupler_core::Vehicle| async move {
        let capabilities = state.engine.effective_capabilities(&vehicle).await?;
        let position = match (vehicle.location.latitude, vehicle.location.longitude) {
            (Some(latitude), Some(longitude)) => Some(Point { latitude, longitude }),
            _ => None,
        };
        Ok::<_, ApiError>(DeviceFacts {
            smart_charging_profiles: Some(false),
            start_stop: Some(
                capabilities.for_command(ActionKind::Start).is_capable
                    && capabilities.for_command(ActionKind::Stop).is_capable,
            ),
            set_max_current: Some(capabilities.for_command(ActionKind::SetMaxCurrent).is_capable),
            position,
        })
    };
    match device.kind {
        FlexDeviceKind::Charger => match store.get_charger(client, &ChargerId::new(device.id.as_str())).await? {
            Some(charger) if &charger.user_id == user => Ok(Some(charger_facts(charger).await?)),
            _ => Ok(None),
        },
        FlexDeviceKind::Vehicle => match store.get_vehicle(client, &VehicleId::new(device.id.as_str())).await? {
            Some(vehicle) if &vehicle.user_id == user => Ok(Some(vehicle_facts(vehicle).await?)),
            _ => Ok(None),
        },
        FlexDeviceKind::EvSystem => {
            let Some(pair) = store
                .get_ev_system(client, &EvSystemId::new(device.id.as_str()))
                .await?
            else {
                return Ok(None);
            };
            if &pair.user_id != user {
                return Ok(None);
            }
            let Some(charger) = store.get_charger(client, &pair.charger_id).await? else {
                return Ok(None);
            };
            let mut facts = charger_facts(charger).await?;
            if facts.position.is_none() {
                if let Some(vehicle) = store.get_vehicle(client, &pair.vehicle_id).await? {
                    facts.position = vehicle_facts(vehicle).await?.position;
                }
            }
            Ok(Some(facts))
        }
    }
}

/// The eligibility of `device` for `program`, or 404 when the user has no such device.
async fn verdict_for(
    state: &AppState,
    caller: &Caller,
    program: &Program,
    user: &UserId,
    device: &EnrolledDevice,
    counting_enrolment: Option<&EnrolmentId>,
) -> Result<Verdict, ApiError> {
    if state.store.get_user(&caller.client_id, user).await?.is_none() {
        return Err(ApiError::not_found(format!("no user '{user}'")));
    }
    let facts = device_facts(state, caller, user, device)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("user '{user}' has no {} '{}'", device.kind.as_str(), device.id)))?;
    let enrolled = state
        .store
        .live_enrolment_of_device(&caller.client_id, &program.id, device)
        .await?
        .is_some_and(|e| Some(&e.id) != counting_enrolment);
    Ok(check_eligibility(&program.eligibility, device.kind, &facts, enrolled))
}

fn verdict_name(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Eligible => "ELIGIBLE",
        Verdict::Undecided(_) => "UNDECIDED",
        Verdict::Ineligible(_) => "INELIGIBLE",
    }
}

/// Checks whether a user's device may be enrolled in a program, with every reason against it;
/// nothing is stored.
#[utoipa::path(
    post,
    path = "/programs/{programId}/eligibility",
    tag = "flex",
    params(("programId" = String, Path, description = "The program's id")),
    request_body = DeviceRef,
    responses(
        (status = 200, description = "The verdict and its reasons", body = EligibilityResponse),
        (status = 404, description = "The client has no such program, user or device", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn check_program_eligibility(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<DeviceRef>,
) -> Result<ApiJson<EligibilityResponse>, ApiError> {
    let program = owned_program(&state, &caller, &id).await?;
    let user = parse_user(&body.user_id, "/userId")?;
    let device = EnrolledDevice {
        kind: body.device_type,
        id: body.device_id,
    };
    let verdict = verdict_for(&state, &caller, &program, &user, &device, None).await?;
    Ok(ApiJson(EligibilityResponse {
        eligible: !matches!(verdict, Verdict::Ineligible(_)),
        verdict: verdict_name(&verdict).to_owned(),
        reasons: verdict.reasons().to_vec(),
    }))
}

/// Enrols a user's device in a program with the user's consent. An eligible device is ACTIVE at
/// once; one whose capabilities are not known yet (a charger that has not connected) is PENDING
/// until it is checked again; an ineligible one is refused with a 422 giving every reason, and
/// nothing is stored.
#[utoipa::path(
    post,
    path = "/programs/{programId}/enrolments",
    tag = "flex",
    params(("programId" = String, Path, description = "The program's id")),
    request_body = CreateEnrolment,
    responses(
        (status = 201, description = "Enrolled", body = EnrolmentResponse),
        (status = 404, description = "The client has no such program, user or device", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not eligible (each reason in `errors`), or a bad value", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn create_enrolment(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<CreateEnrolment>,
) -> Result<(StatusCode, ApiJson<EnrolmentResponse>), ApiError> {
    let program = owned_program(&state, &caller, &id).await?;
    let user = parse_user(&body.user_id, "/userId")?;
    let now = state.now();
    let consent = &body.consent;
    let mut problems = Vec::new();
    if consent.data_shared.is_empty() || consent.data_shared.iter().any(|d| d.trim().is_empty() || d.len() > 100) {
        problems.push(InvalidValue::body(
            "/consent/dataShared",
            "name what is shared: 1 or more items of 1 to 100 characters",
        ));
    }
    if consent.how_to_leave.trim().is_empty() || consent.how_to_leave.len() > 2000 {
        problems.push(InvalidValue::body(
            "/consent/howToLeave",
            "say how the user leaves the program (1 to 2000 characters)",
        ));
    }
    if consent.given_at.is_some_and(|at| at > now + Duration::minutes(5)) {
        problems.push(InvalidValue::body(
            "/consent/givenAt",
            "consent cannot be given in the future",
        ));
    }
    if !problems.is_empty() {
        return Err(problems
            .into_iter()
            .fold(ApiError::invalid("the consent is not complete"), ApiError::at));
    }
    let device = EnrolledDevice {
        kind: body.device_type,
        id: body.device_id.clone(),
    };
    let verdict = verdict_for(&state, &caller, &program, &user, &device, None).await?;
    if let Verdict::Ineligible(reasons) = &verdict {
        let error = ApiError::invalid(format!(
            "the {} is not eligible for this program: {}",
            device.kind.as_str(),
            verdict.summary().unwrap_or_default()
        ));
        return Err(reasons.iter().fold(error, |error, reason| {
            error.at(InvalidValue::body("/deviceId", reason.detail.clone()).expected(format!("{:?}", reason.code)))
        }));
    }
    let enrolment = Enrolment {
        id: EnrolmentId::generate(),
        client_id: caller.client_id.clone(),
        program_id: program.id.clone(),
        user_id: user,
        device,
        state: EnrolmentState::enrolled(&verdict),
        consent: Consent {
            data_shared: consent.data_shared.iter().map(|d| d.trim().to_owned()).collect(),
            how_to_leave: consent.how_to_leave.trim().to_owned(),
            given_at: consent.given_at.unwrap_or(now),
        },
        created_at: now,
        updated_at: now,
    };
    state.store.insert_enrolment(&enrolment).await?;
    tracing::info!(enrolment_id = %enrolment.id, status = enrolment.state.status.as_str(), "enrolled");
    Ok((StatusCode::CREATED, ApiJson(enrolment_body(enrolment))))
}

/// Lists a program's enrolments, newest first.
#[utoipa::path(
    get,
    path = "/programs/{programId}/enrolments",
    tag = "flex",
    params(("programId" = String, Path, description = "The program's id"), PageQuery),
    responses(
        (status = 200, description = "A page of enrolments", body = EnrolmentPage),
        (status = 404, description = "The client has no such program", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn list_program_enrolments(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<ApiJson<EnrolmentPage>, ApiError> {
    let request = query.parse()?;
    let program = owned_program(&state, &caller, &id).await?;
    let page = state
        .store
        .list_program_enrolments(&caller.client_id, &program.id, &request)
        .await?;
    Ok(ApiJson(EnrolmentPage {
        data: page.items.into_iter().map(enrolment_body).collect(),
        pagination: Pagination {
            after: page.after.map(|k| k.encode()),
            before: page.before.map(|k| k.encode()),
        },
    }))
}

/// Lists a user's enrolments in the client's programs, newest first.
#[utoipa::path(
    get,
    path = "/users/{userId}/enrolments",
    tag = "flex",
    params(("userId" = String, Path, description = "The app's own identifier for the user"), PageQuery),
    responses(
        (status = 200, description = "A page of enrolments", body = EnrolmentPage),
        (status = 404, description = "The client has no such user", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn list_user_enrolments(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(raw_user): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<ApiJson<EnrolmentPage>, ApiError> {
    let user = UserId::parse(&raw_user).map_err(|e| ApiError::invalid(e.to_string()).at_path("userId"))?;
    let request = query.parse()?;
    if state.store.get_user(&caller.client_id, &user).await?.is_none() {
        return Err(ApiError::not_found(format!("no user '{user}'")));
    }
    let page = state
        .store
        .list_user_enrolments(&caller.client_id, &user, &request)
        .await?;
    Ok(ApiJson(EnrolmentPage {
        data: page.items.into_iter().map(enrolment_body).collect(),
        pagination: Pagination {
            after: page.after.map(|k| k.encode()),
            before: page.before.map(|k| k.encode()),
        },
    }))
}

async fn owned_enrolment(state: &AppState, caller: &Caller, id: &str) -> Result<Enrolment, ApiError> {
    state
        .store
        .get_enrolment(&caller.client_id, &EnrolmentId::new(id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no enrolment '{id}'")))
}

/// Reads an enrolment.
#[utoipa::path(
    get,
    path = "/enrolments/{enrolmentId}",
    tag = "flex",
    params(("enrolmentId" = String, Path, description = "The enrolment's id")),
    responses(
        (status = 200, description = "The enrolment", body = EnrolmentResponse),
        (status = 404, description = "The client has no such enrolment", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn get_enrolment(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<EnrolmentResponse>, ApiError> {
    Ok(ApiJson(enrolment_body(owned_enrolment(&state, &caller, &id).await?)))
}

/// Moves an enrolment by `change` (checking its device again when it asks for a check), storing the
/// new state with its event when it changed.
async fn change_enrolment(
    state: &AppState,
    caller: &Caller,
    id: &str,
    change: EnrolmentChange,
) -> Result<Enrolment, ApiError> {
    let enrolment = owned_enrolment(state, caller, id).await?;
    let mut next = enrolment
        .state
        .apply(change)
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string()))?;
    if next.status == EnrolmentStatus::Pending || matches!(next.status, EnrolmentStatus::NeedsAction) {
        let program = owned_program(state, caller, enrolment.program_id.as_str()).await?;
        let verdict = match verdict_for(
            state,
            caller,
            &program,
            &enrolment.user_id,
            &enrolment.device,
            Some(&enrolment.id),
        )
        .await
        {
            Ok(verdict) => verdict,
            // The device is gone: the user must enrol another.
            Err(e) if e.status() == StatusCode::NOT_FOUND => Verdict::Ineligible(vec![]),
            Err(e) => return Err(e),
        };
        next = next
            .apply(EnrolmentChange::Checked(verdict))
            .map_err(|e| ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string()))?;
        if next.status == EnrolmentStatus::NeedsAction && next.reason.is_none() {
            next.reason = Some("the enrolled device no longer exists".to_owned());
        }
    }
    if next == enrolment.state {
        return Ok(enrolment);
    }
    let saved = state
        .store
        .save_enrolment_state(&caller.client_id, &enrolment.id, &next, state.now())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no enrolment '{id}'")))?;
    tracing::info!(enrolment_id = %saved.id, status = saved.state.status.as_str(), "enrolment changed");
    Ok(saved)
}

/// Checks an enrolment's device again: a PENDING one becomes ACTIVE or REJECTED, an ACTIVE one
/// NEEDS_ACTION (with the reason) when it stopped qualifying, and back.
#[utoipa::path(
    post,
    path = "/enrolments/{enrolmentId}/check",
    tag = "flex",
    params(("enrolmentId" = String, Path, description = "The enrolment's id")),
    responses(
        (status = 200, description = "The enrolment after the check", body = EnrolmentResponse),
        (status = 404, description = "The client has no such enrolment", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The enrolment has ended", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn check_enrolment(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<EnrolmentResponse>, ApiError> {
    let enrolment = owned_enrolment(&state, &caller, &id).await?;
    let program = owned_program(&state, &caller, enrolment.program_id.as_str()).await?;
    let verdict = match verdict_for(
        &state,
        &caller,
        &program,
        &enrolment.user_id,
        &enrolment.device,
        Some(&enrolment.id),
    )
    .await
    {
        Ok(verdict) => verdict,
        Err(e) if e.status() == StatusCode::NOT_FOUND => Verdict::Ineligible(vec![]),
        Err(e) => return Err(e),
    };
    Ok(ApiJson(enrolment_body(
        change_enrolment(&state, &caller, &id, EnrolmentChange::Checked(verdict)).await?,
    )))
}

/// Pauses an enrolment: it is left out of events sent from now on until resumed.
#[utoipa::path(
    post,
    path = "/enrolments/{enrolmentId}/pause",
    tag = "flex",
    params(("enrolmentId" = String, Path, description = "The enrolment's id")),
    responses(
        (status = 200, description = "The paused enrolment", body = EnrolmentResponse),
        (status = 404, description = "The client has no such enrolment", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The enrolment has ended", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn pause_enrolment(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<EnrolmentResponse>, ApiError> {
    Ok(ApiJson(enrolment_body(
        change_enrolment(&state, &caller, &id, EnrolmentChange::Pause).await?,
    )))
}

/// Resumes a paused enrolment; its device is checked again.
#[utoipa::path(
    post,
    path = "/enrolments/{enrolmentId}/resume",
    tag = "flex",
    params(("enrolmentId" = String, Path, description = "The enrolment's id")),
    responses(
        (status = 200, description = "The enrolment after its check", body = EnrolmentResponse),
        (status = 404, description = "The client has no such enrolment", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The enrolment has ended", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn resume_enrolment(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<EnrolmentResponse>, ApiError> {
    Ok(ApiJson(enrolment_body(
        change_enrolment(&state, &caller, &id, EnrolmentChange::Resume).await?,
    )))
}

/// Unenrols: the enrolment ends (UNENROLLED) and its device leaves every event it is still part of,
/// as an opt-out by `unenrolment`.
#[utoipa::path(
    delete,
    path = "/enrolments/{enrolmentId}",
    tag = "flex",
    params(("enrolmentId" = String, Path, description = "The enrolment's id")),
    responses(
        (status = 200, description = "The ended enrolment", body = EnrolmentResponse),
        (status = 404, description = "The client has no such enrolment", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The enrolment has already ended", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn unenrol(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<EnrolmentResponse>, ApiError> {
    let enrolment = change_enrolment(&state, &caller, &id, EnrolmentChange::Unenrol).await?;
    let now = state.now();
    let targets = state.store.live_flex_targets_of_enrolment(&enrolment.id).await?;
    for target in targets {
        let opt_out = OptOut {
            requested_by: "unenrolment".to_owned(),
            reason: Some("the device left the program".to_owned()),
            at: now,
        };
        if state
            .store
            .opt_out_flex_target(&caller.client_id, &target.id, &opt_out)
            .await?
            .is_some()
        {
            let chargers = match &target.device {
                TargetDevice::Charger(charger) => vec![charger.clone()],
                TargetDevice::Vehicle(_) => Vec::new(),
            };
            state.flex.event_changed(target.event_id.clone(), chargers);
        }
    }
    Ok(ApiJson(enrolment_body(enrolment)))
}

// ---------------------------------------------------------------------------------------------
// Groups
// ---------------------------------------------------------------------------------------------

/// A group of a program's enrolments.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupRequest {
    /// What people call it, 1 to 200 characters.
    #[schema(example = "Feeder 7")]
    pub name: String,
    /// Enrolments named one by one (the program's).
    #[serde(default)]
    pub enrolment_ids: Vec<String>,
    /// Enrolments matched when an event is sent: every field given must match.
    #[serde(default)]
    pub filter: GroupFilter,
}

/// A group of a program's enrolments.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupResponse {
    /// Identifier.
    pub id: String,
    /// The program.
    pub program_id: String,
    /// What people call it.
    pub name: String,
    /// Enrolments named one by one.
    pub enrolment_ids: Vec<String>,
    /// Enrolments matched when an event is sent.
    pub filter: GroupFilter,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

impl From<Group> for GroupResponse {
    fn from(g: Group) -> Self {
        Self {
            id: g.id.as_str().to_owned(),
            program_id: g.program_id.as_str().to_owned(),
            name: g.name,
            enrolment_ids: g.enrolment_ids.iter().map(|e| e.as_str().to_owned()).collect(),
            filter: g.filter,
            created_at: g.created_at,
        }
    }
}

/// A program's groups, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupList {
    /// The groups.
    pub data: Vec<GroupResponse>,
}

/// Checks a group request against the program: a name, and enrolment ids of the program's.
async fn checked_group(
    state: &AppState,
    caller: &Caller,
    program: &Program,
    body: &GroupRequest,
) -> Result<(String, Vec<EnrolmentId>), ApiError> {
    let name = body.name.trim();
    let mut error = ApiError::invalid("the group is not valid");
    let mut bad = false;
    if name.is_empty() || name.chars().count() > 200 {
        error = error.at(InvalidValue::body(
            "/name",
            "name must be 1 to 200 characters and not blank",
        ));
        bad = true;
    }
    let mut ids = Vec::new();
    for (i, raw) in body.enrolment_ids.iter().enumerate() {
        let id = EnrolmentId::new(raw.as_str());
        match state.store.get_enrolment(&caller.client_id, &id).await? {
            Some(e) if e.program_id == program.id => ids.push(id),
            _ => {
                error = error.at(InvalidValue::body(
                    format!("/enrolmentIds/{i}"),
                    format!("no enrolment '{raw}' in this program"),
                ));
                bad = true;
            }
        }
    }
    if bad {
        return Err(error);
    }
    ids.dedup();
    Ok((name.to_owned(), ids))
}

/// Creates a group of a program's enrolments: a static list, a filter evaluated when an event is
/// sent, or both.
#[utoipa::path(
    post,
    path = "/programs/{programId}/groups",
    tag = "flex",
    params(("programId" = String, Path, description = "The program's id")),
    request_body = GroupRequest,
    responses(
        (status = 201, description = "Created", body = GroupResponse),
        (status = 404, description = "The client has no such program", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn create_group(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<GroupRequest>,
) -> Result<(StatusCode, ApiJson<GroupResponse>), ApiError> {
    let program = owned_program(&state, &caller, &id).await?;
    let (name, enrolment_ids) = checked_group(&state, &caller, &program, &body).await?;
    let group = Group {
        id: GroupId::generate(),
        client_id: caller.client_id.clone(),
        program_id: program.id,
        name,
        enrolment_ids,
        filter: body.filter,
        created_at: state.now(),
    };
    state.store.insert_group(&group).await?;
    Ok((StatusCode::CREATED, ApiJson(group.into())))
}

/// Lists a program's groups.
#[utoipa::path(
    get,
    path = "/programs/{programId}/groups",
    tag = "flex",
    params(("programId" = String, Path, description = "The program's id")),
    responses(
        (status = 200, description = "The groups", body = GroupList),
        (status = 404, description = "The client has no such program", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn list_groups(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<GroupList>, ApiError> {
    let program = owned_program(&state, &caller, &id).await?;
    let groups = state.store.list_groups(&caller.client_id, &program.id).await?;
    Ok(ApiJson(GroupList {
        data: groups.into_iter().map(Into::into).collect(),
    }))
}

async fn owned_group(state: &AppState, caller: &Caller, program: &str, id: &str) -> Result<Group, ApiError> {
    match state.store.get_group(&caller.client_id, &GroupId::new(id)).await? {
        Some(group) if group.program_id.as_str() == program => Ok(group),
        _ => Err(ApiError::not_found(format!("no group '{id}' in program '{program}'"))),
    }
}

/// Reads a group.
#[utoipa::path(
    get,
    path = "/programs/{programId}/groups/{groupId}",
    tag = "flex",
    params(("programId" = String, Path, description = "The program's id"), ("groupId" = String, Path, description = "The group's id")),
    responses(
        (status = 200, description = "The group", body = GroupResponse),
        (status = 404, description = "The client has no such group", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn get_group(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath((program, id)): ApiPath<(String, String)>,
) -> Result<ApiJson<GroupResponse>, ApiError> {
    Ok(ApiJson(owned_group(&state, &caller, &program, &id).await?.into()))
}

/// Replaces a group's name, list and filter.
#[utoipa::path(
    put,
    path = "/programs/{programId}/groups/{groupId}",
    tag = "flex",
    params(("programId" = String, Path, description = "The program's id"), ("groupId" = String, Path, description = "The group's id")),
    request_body = GroupRequest,
    responses(
        (status = 200, description = "The group", body = GroupResponse),
        (status = 404, description = "The client has no such group", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn update_group(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath((program_id, id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<GroupRequest>,
) -> Result<ApiJson<GroupResponse>, ApiError> {
    let mut group = owned_group(&state, &caller, &program_id, &id).await?;
    let program = owned_program(&state, &caller, &program_id).await?;
    let (name, enrolment_ids) = checked_group(&state, &caller, &program, &body).await?;
    group.name = name;
    group.enrolment_ids = enrolment_ids;
    group.filter = body.filter;
    if !state.store.update_group(&group).await? {
        return Err(ApiError::not_found(format!("no group '{id}'")));
    }
    Ok(ApiJson(group.into()))
}

/// Deletes a group (events sent to it keep their targets).
#[utoipa::path(
    delete,
    path = "/programs/{programId}/groups/{groupId}",
    tag = "flex",
    params(("programId" = String, Path, description = "The program's id"), ("groupId" = String, Path, description = "The group's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "The client has no such group", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn delete_group(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath((program, id)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let group = owned_group(&state, &caller, &program, &id).await?;
    state.store.delete_group(&caller.client_id, &group.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

/// A new event.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateEvent {
    /// When it starts (each target after its random delay).
    pub start: DateTime<Utc>,
    /// How long it lasts, minutes (at most the program's `maxEventMinutes`).
    pub duration_minutes: u32,
    /// What it asks for: the program's kind of event (`IMPORT_LIMIT` for a CAPACITY_LIMIT program,
    /// `PAUSE` for a PAUSE program; `SHED` is refused with 422 until baselines exist).
    pub kind: EventKind,
    /// The import limit per site (IMPORT_LIMIT only).
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
    pub summary: BTreeMap<String, usize>,
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

/// An event as the API shows it, with the progress of `targets` (all of them, or the one a
/// webhook event is about) and the summary of `summarised`.
pub(crate) fn event_body(
    event: FlexEvent,
    targets: &[FlexTarget],
    summarised: &[FlexTarget],
    now: DateTime<Utc>,
) -> FlexEventResponse {
    let mut summary = BTreeMap::new();
    for state in TargetState::ALL {
        summary.insert(state.as_str().to_owned(), 0);
    }
    for target in summarised {
        *summary.entry(target.state.as_str().to_owned()).or_default() += 1;
    }
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
    Ok(live.into_iter().filter(|e| chosen.contains(&e.id)).collect())
}

/// Sends an event to a program's enrolments. It is checked against the program (kind, value,
/// duration, notice, events per year, a window that has not ended) and its targets resolved to the
/// ACTIVE enrolments they name; then each target gets its random start delay and, on a charger, a
/// `flex` limit source with the target's window, which goes on the charger as a station-wide
/// profile the charger drops by itself at the end. Vehicles without a charger are stopped through
/// their makers at their start and started again at the end.
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
    let request = EventRequest {
        kind: body.kind,
        value: body.value,
        unit: body.unit,
        start: body.start,
        duration_minutes: body.duration_minutes,
        max_random_delay_s: body.max_random_delay_seconds,
    };
    let in_year = events_in_year(&state, &program, body.start, None).await?;
    check_event(&program, &request, now, in_year).map_err(refusals_to_error)?;
    let enrolments = resolve_targets(&state, &caller, &program, &body.targets).await?;
    let limit_a = cap_of(&state, body.kind, body.value, body.unit);
    let event = FlexEvent {
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
        created_at: now,
        updated_at: now,
    };
    let mut targets = Vec::new();
    let mut sources = Vec::new();
    for enrolment in &enrolments {
        if enrolment.state.status != EnrolmentStatus::Active {
            continue;
        }
        let Some(device) = target_device(&state, &caller, enrolment).await? else {
            continue;
        };
        let delay_s = start_delay_s(event.random_seed, enrolment.id.as_str(), event.max_random_delay_s);
        let starts = event.target_start(delay_s);
        let limit_source_id = match &device {
            TargetDevice::Charger(charger) => {
                let source = LimitSource {
                    id: LimitSourceId::generate(),
                    client_id: caller.client_id.clone(),
                    user_id: enrolment.user_id.clone(),
                    kind: LimitSourceKind::Flex,
                    scope: LimitScope::Charger(charger.clone()),
                    max_current_a: limit_a,
                    valid_from: Some(starts),
                    valid_to: Some(event.end),
                    created_at: now,
                    schedule: Vec::new(),
                };
                let id = source.id.clone();
                sources.push(source);
                Some(id)
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
            state: TargetState::Scheduled,
            detail: None,
            opt_out: None,
            next_check_at: Some(starts),
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
    tracing::info!(event_id = %event.id, targets = targets.len(), limit_a, "flex event sent");
    let chargers = charger_ids(&targets);
    state.flex.event_changed(event.id.clone(), chargers);
    let stored = state.store.flex_targets(&event.id).await?;
    Ok((StatusCode::CREATED, ApiJson(event_body(event, &stored, &stored, now))))
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
    let mut data = Vec::with_capacity(page.items.len());
    for event in page.items {
        let targets = state.store.flex_targets(&event.id).await?;
        data.push(event_body(event, &[], &targets, now));
    }
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
    Ok(ApiJson(event_body(event, &targets, &targets, state.now())))
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
    let mut event = owned_event(&state, &caller, &program_id, &id).await?;
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
    let lenient = Program {
        limits: coupler_core::flex::ProgramLimits {
            min_notice_minutes: 0,
            max_events_per_year: None,
            ..program.limits
        },
        ..program.clone()
    };
    check_event(&lenient, &request, now, 0).map_err(refusals_to_error)?;
    event.end = end;
    event.value = value;
    event.unit = unit;
    event.limit_a = cap_of(&state, event.kind, value, unit);
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
    Ok(ApiJson(event_body(event, &targets, &targets, now)))
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
    if event.status(now) == EventStatus::Completed {
        return Err(ApiError::new(StatusCode::CONFLICT, "conflict", "the event has ended"));
    }
    let chargers = state
        .store
        .cancel_flex_event(&caller.client_id, &event.id, now)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::CONFLICT, "conflict", "the event was already cancelled"))?;
    tracing::info!(event_id = %event.id, "flex event cancelled");
    state.flex.event_changed(event.id.clone(), chargers);
    let event = owned_event(&state, &caller, &program_id, &id).await?;
    let targets = state.store.flex_targets(&event.id).await?;
    Ok(ApiJson(event_body(event, &targets, &targets, now)))
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
