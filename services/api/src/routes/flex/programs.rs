//! Programs: a client's own, with their eligibility rules, limits and incentive terms.

use super::*;

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

pub(super) fn field_errors(detail: &str, problems: Vec<FieldProblem>) -> ApiError {
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

pub(super) async fn owned_program(state: &AppState, caller: &Caller, id: &str) -> Result<Program, ApiError> {
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
