//! Eligibility checks and enrolments: users' devices in programs, with their consent and status.

use super::*;

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
    client: &ClientId,
    user: &UserId,
    device: &EnrolledDevice,
) -> Result<Option<DeviceFacts>, ApiError> {
    let store = &state.store;
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

/// The eligibility of `device` for `program` (one of `client`'s), or 404 when the user has no such
/// device. The REST API and the hosted enrolment page both judge devices here.
pub(crate) async fn verdict_for(
    state: &AppState,
    client: &ClientId,
    program: &Program,
    user: &UserId,
    device: &EnrolledDevice,
    counting_enrolment: Option<&EnrolmentId>,
) -> Result<Verdict, ApiError> {
    if state.store.get_user(client, user).await?.is_none() {
        return Err(ApiError::not_found(format!("no user '{user}'")));
    }
    let facts = device_facts(state, client, user, device)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("user '{user}' has no {} '{}'", device.kind.as_str(), device.id)))?;
    let enrolled = state
        .store
        .live_enrolment_of_device(client, &program.id, device)
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
    let verdict = verdict_for(&state, &caller.client_id, &program, &user, &device, None).await?;
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
    let terms = ConsentTerms::parse(&consent.data_shared, &consent.how_to_leave);
    let mut problems: Vec<InvalidValue> = match &terms {
        Ok(_) => Vec::new(),
        Err(found) => found
            .iter()
            .map(|p| InvalidValue::body(p.pointer.clone(), p.detail.clone()))
            .collect(),
    };
    if consent.given_at.is_some_and(|at| at > now + Duration::minutes(5)) {
        problems.push(InvalidValue::body(
            "/consent/givenAt",
            "consent cannot be given in the future",
        ));
    }
    let terms = match terms {
        Ok(terms) if problems.is_empty() => terms,
        _ => {
            return Err(problems
                .into_iter()
                .fold(ApiError::invalid("the consent is not complete"), ApiError::at))
        }
    };
    let device = EnrolledDevice {
        kind: body.device_type,
        id: body.device_id.clone(),
    };
    let consent = terms.given_at(consent.given_at.unwrap_or(now));
    let enrolment = new_enrolment(&state, &caller.client_id, &program, &user, device, consent, now).await?;
    state.store.insert_enrolment(&enrolment).await?;
    tracing::info!(enrolment_id = %enrolment.id, status = enrolment.state.status.as_str(), "enrolled");
    Ok((StatusCode::CREATED, ApiJson(enrolment_body(enrolment))))
}

/// A new enrolment of `user`'s `device` in `program` with `consent`, its status from the device's
/// check; not stored. 404 when the user has no such device, 422 with every reason when it is not
/// eligible. The REST API and the hosted enrolment page both make enrolments here.
pub(crate) async fn new_enrolment(
    state: &AppState,
    client: &ClientId,
    program: &Program,
    user: &UserId,
    device: EnrolledDevice,
    consent: Consent,
    now: DateTime<Utc>,
) -> Result<Enrolment, ApiError> {
    let verdict = verdict_for(state, client, program, user, &device, None).await?;
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
    Ok(Enrolment {
        id: EnrolmentId::generate(),
        client_id: client.clone(),
        program_id: program.id.clone(),
        user_id: user.clone(),
        device,
        state: EnrolmentState::enrolled(&verdict),
        consent,
        created_at: now,
        updated_at: now,
    })
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

pub(super) async fn owned_enrolment(state: &AppState, caller: &Caller, id: &str) -> Result<Enrolment, ApiError> {
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

/// The enrolment's device checked again, as a verdict; a device that is gone is ineligible.
pub(super) async fn recheck(state: &AppState, caller: &Caller, enrolment: &Enrolment) -> Result<Verdict, ApiError> {
    let program = owned_program(state, caller, enrolment.program_id.as_str()).await?;
    match verdict_for(
        state,
        &caller.client_id,
        &program,
        &enrolment.user_id,
        &enrolment.device,
        Some(&enrolment.id),
    )
    .await
    {
        Ok(verdict) => Ok(verdict),
        Err(e) if e.status() == StatusCode::NOT_FOUND => Ok(device_gone()),
        Err(e) => Err(e),
    }
}

/// Moves an enrolment by `change` (a resumed one is checked again at once), storing the new state
/// with its event when it changed.
async fn change_enrolment(
    state: &AppState,
    caller: &Caller,
    id: &str,
    change: EnrolmentChange,
) -> Result<Enrolment, ApiError> {
    let enrolment = owned_enrolment(state, caller, id).await?;
    let conflict =
        |e: coupler_core::flex::TransitionError| ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string());
    let resumed = change == EnrolmentChange::Resume && enrolment.state.status == EnrolmentStatus::Paused;
    let mut next = enrolment.state.apply(change).map_err(conflict)?;
    if resumed {
        let verdict = recheck(state, caller, &enrolment).await?;
        next = next.apply(EnrolmentChange::Checked(verdict)).map_err(conflict)?;
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
    let verdict = recheck(&state, &caller, &enrolment).await?;
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
