//! Groups of a program's enrolments, to aim events at.

use super::*;

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

pub(super) async fn owned_group(state: &AppState, caller: &Caller, program: &str, id: &str) -> Result<Group, ApiError> {
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
