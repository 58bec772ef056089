//! Authorisation: the id tokens (RFID cards, eMAIDs, MAC addresses, ...) a user registers, the
//! policy for tokens nobody registered, and the local authorisation list Coupler keeps on each of
//! the user's chargers.
//!
//! A charger answers Authorize, StartTransaction, StopTransaction and TransactionEvent from its
//! owner's tokens: ACCEPTED lets the driver charge (until `expiresAt`), BLOCKED, EXPIRED and
//! INVALID refuse. A token nobody registered is accepted or refused by the unknown-token policy:
//! the charger's own (`/chargers/{id}/id-token-policy`) when it has one, else its owner's
//! (`/users/{id}/id-token-policy`), else ACCEPT. Every change to a token is an event
//! (`user:id-token:created|updated|deleted`) and brings the local lists of the user's chargers in
//! step (SendLocalList, recorded as operations).

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use coupler_core::authorisation::{
    check_value, IdToken, IdTokenId, IdTokenKind, IdTokenStatus, UnknownTokenPolicy, MAX_TOKEN_LENGTH_16,
};
use coupler_core::control::ChargerCommand;
use coupler_core::operation::OperationKind;
use coupler_core::store::{ChargerTokenPolicy, IdTokenChange};
use coupler_core::{ChargerId, UserId};
use coupler_engine::local_lists::LocalListSync;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::operations::{owned_charger, run, OperationResponse};
use super::users::{PageQuery, Pagination};
use crate::error::{ApiError, InvalidValue, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::state::AppState;

/// The most characters of a label.
const MAX_LABEL: usize = 100;

/// A token to register.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateIdToken {
    /// What kind of token: `RFID` (a card of unknown standard), `ISO14443`, `ISO15693`, `EMAID`,
    /// `MAC_ADDRESS`, `KEY_CODE`, `LOCAL` or `CENTRAL`.
    pub kind: IdTokenKind,
    /// The token as a charger presents it: a card's UID (hex), a MAC address (12 hex digits,
    /// separators allowed), an eMAID. 1 to 36 printable ASCII characters, no spaces; cards are
    /// matched case-insensitively. OCPP 1.6 chargers carry at most 20 characters.
    #[schema(example = "04A2B3C4D5E6F7", min_length = 1, max_length = 36)]
    pub value: String,
    /// `ACCEPTED` (the default), `BLOCKED`, `EXPIRED` or `INVALID`.
    #[serde(default)]
    pub status: Option<IdTokenStatus>,
    /// When an accepted token stops being accepted (it is then `EXPIRED`).
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// The group it belongs to (1.6 parentIdTag, 2.0.1 groupIdToken): tokens of a group may stop
    /// each other's transactions. 1 to 20 characters.
    #[serde(default)]
    #[schema(example = "FAMILY", min_length = 1, max_length = 20)]
    pub group_id: Option<String>,
    /// A name for people, up to 100 characters.
    #[serde(default)]
    #[schema(example = "Anna's card", max_length = 100)]
    pub label: Option<String>,
}

/// A change to a token: a field left out is kept, `null` clears it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateIdToken {
    /// A new status.
    #[serde(default)]
    pub status: Option<IdTokenStatus>,
    /// A new expiry date, or `null` for none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub expires_at: Option<Option<DateTime<Utc>>>,
    /// A new group, or `null` for none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 20)]
    pub group_id: Option<Option<String>>,
    /// A new label, or `null` for none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 100)]
    pub label: Option<Option<String>>,
}

/// A field that is there, `null` included (`Some(None)`), as opposed to one left out (`None`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A registered token.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdTokenResponse {
    /// Identifier.
    pub id: String,
    /// Its user.
    pub user_id: String,
    /// What kind of token.
    pub kind: IdTokenKind,
    /// The token as chargers present it.
    pub value: String,
    /// The status its owner gave it.
    pub status: IdTokenStatus,
    /// What chargers are told now: `status`, except that an accepted token past `expiresAt` is
    /// `EXPIRED`.
    pub effective_status: IdTokenStatus,
    /// When it stops being accepted.
    pub expires_at: Option<DateTime<Utc>>,
    /// Its group.
    pub group_id: Option<String>,
    /// A name for people.
    pub label: Option<String>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl IdTokenResponse {
    /// The token as the API shows it at `now`.
    pub fn new(token: &IdToken, now: DateTime<Utc>) -> Self {
        Self {
            id: token.id.as_str().to_owned(),
            user_id: token.user_id.as_str().to_owned(),
            kind: token.kind,
            value: token.value.clone(),
            status: token.status,
            effective_status: token.status_at(now),
            expires_at: token.expires_at,
            group_id: token.group_id.clone(),
            label: token.label.clone(),
            created_at: token.created_at,
            updated_at: token.updated_at,
        }
    }
}

/// A page of tokens, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdTokenPage {
    /// The tokens.
    pub data: Vec<IdTokenResponse>,
    /// Cursors to the neighbouring pages.
    pub pagination: Pagination,
}

/// A user's policy for tokens nobody registered.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserTokenPolicy {
    /// `ACCEPT` (the default: any token charges) or `REJECT` (1.6 chargers are told `Invalid`,
    /// 2.0.1 stations `Unknown`).
    pub unknown_tokens: UnknownTokenPolicy,
}

/// A charger's own policy for tokens nobody registered.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChargerTokenPolicyRequest {
    /// `ACCEPT`, `REJECT`, or `null` to follow its owner's policy.
    #[schema(value_type = Option<UnknownTokenPolicy>)]
    pub unknown_tokens: Option<UnknownTokenPolicy>,
}

/// A charger's policy for tokens nobody registered.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChargerTokenPolicyResponse {
    /// The charger's own policy; `null`: its owner's applies.
    pub unknown_tokens: Option<UnknownTokenPolicy>,
    /// Its owner's policy.
    pub owner_unknown_tokens: UnknownTokenPolicy,
    /// The policy in force on the charger.
    pub effective_unknown_tokens: UnknownTokenPolicy,
}

impl From<ChargerTokenPolicy> for ChargerTokenPolicyResponse {
    fn from(p: ChargerTokenPolicy) -> Self {
        Self {
            unknown_tokens: p.own,
            owner_unknown_tokens: p.owner,
            effective_unknown_tokens: p.effective(),
        }
    }
}

/// What a forced sync of a charger's local list did.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalListSyncResponse {
    /// The SendLocalList operation (`answer.status` Accepted, Failed, NotSupported or
    /// VersionMismatch).
    pub operation: OperationResponse,
}

/// The local list of a charger: the version the charger reports, and the one Coupler last had it
/// accept.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalListResponse {
    /// The version the charger answered GetLocalListVersion with (0: no list; 1.6 -1: no local
    /// list kept); `null` when it did not answer.
    pub charger_version: Option<i64>,
    /// The version of the list Coupler last had the charger accept; `null` when none.
    pub coupler_version: Option<i32>,
    /// How many tokens that list holds.
    pub coupler_entries: usize,
    /// When the charger accepted it.
    pub synced_at: Option<DateTime<Utc>>,
    /// Whether the charger holds the list Coupler sent.
    pub in_step: bool,
    /// The GetLocalListVersion operation.
    pub operation: OperationResponse,
}

fn user(raw: &str) -> Result<UserId, ApiError> {
    UserId::parse(raw).map_err(|e| ApiError::bad_request(e.to_string()).at_path("userId"))
}

fn no_user(user: &UserId) -> ApiError {
    ApiError::not_found(format!("no user '{user}'"))
}

fn no_token(id: &str) -> ApiError {
    ApiError::not_found(format!("no id token '{id}'"))
}

fn invalid(pointer: &str, detail: impl Into<String>, expected: &str) -> ApiError {
    let detail = detail.into();
    ApiError::invalid(detail.clone()).at(InvalidValue::body(pointer, detail).expected(expected))
}

fn check_group(group: Option<&str>, pointer: &str) -> Result<(), ApiError> {
    match group {
        Some(g)
            if g.is_empty() || g.chars().count() > MAX_TOKEN_LENGTH_16 || !g.chars().all(|c| c.is_ascii_graphic()) =>
        {
            Err(invalid(
                pointer,
                "a group id is 1 to 20 printable ASCII characters without spaces",
                "1 to 20 printable ASCII characters",
            ))
        }
        _ => Ok(()),
    }
}

fn check_label(label: Option<&str>, pointer: &str) -> Result<(), ApiError> {
    match label {
        Some(l) if l.chars().count() > MAX_LABEL || l.chars().any(char::is_control) => Err(invalid(
            pointer,
            "a label is up to 100 characters, without control characters",
            "up to 100 characters",
        )),
        _ => Ok(()),
    }
}

/// Registers an id token for a user (creating the user if needed). Its user's chargers that keep a
/// local authorisation list get it at once.
#[utoipa::path(
    post,
    path = "/users/{userId}/id-tokens",
    tag = "authorisation",
    params(("userId" = String, Path, max_length = 255, description = "The app's own identifier for the user")),
    request_body = CreateIdToken,
    responses(
        (status = 201, description = "Registered", body = IdTokenResponse),
        (status = 409, description = "The user has a token that chargers present the same way", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A value that does not fit; nothing was stored", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn create_id_token(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(raw_user): ApiPath<String>,
    ApiJson(body): ApiJson<CreateIdToken>,
) -> Result<(StatusCode, ApiJson<IdTokenResponse>), ApiError> {
    let user = user(&raw_user)?;
    let value = body.value.trim().to_owned();
    check_value(body.kind, &value).map_err(|e| invalid("/value", e.to_string(), "a token of its kind"))?;
    check_group(body.group_id.as_deref(), "/groupId")?;
    check_label(body.label.as_deref(), "/label")?;
    state.store.upsert_user(&caller.client_id, &user).await?;
    let now = state.now();
    let token = IdToken {
        id: IdTokenId::generate(),
        client_id: caller.client_id.clone(),
        user_id: user.clone(),
        kind: body.kind,
        value,
        status: body.status.unwrap_or(IdTokenStatus::Accepted),
        expires_at: body.expires_at,
        group_id: body.group_id,
        label: body.label,
        created_at: now,
        updated_at: now,
    };
    let stored = state.store.insert_id_token(&token).await.map_err(|e| match e {
        coupler_core::StoreError::Conflict(_) => ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!(
                "user '{user}' has a token that chargers present as '{}' already",
                token.value
            ),
        ),
        other => other.into(),
    })?;
    if !stored {
        return Err(no_user(&user));
    }
    tracing::info!(id_token_id = %token.id, kind = token.kind.as_str(), "id token registered");
    state.engine.id_tokens_changed(&state.tasks, &caller.client_id, &user);
    Ok((StatusCode::CREATED, ApiJson(IdTokenResponse::new(&token, now))))
}

/// Lists a user's id tokens, newest first.
#[utoipa::path(
    get,
    path = "/users/{userId}/id-tokens",
    tag = "authorisation",
    params(("userId" = String, Path, max_length = 255, description = "The app's own identifier for the user"), PageQuery),
    responses(
        (status = 200, description = "A page of tokens", body = IdTokenPage),
        (status = 404, description = "The client has no such user", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn list_id_tokens(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(raw_user): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<ApiJson<IdTokenPage>, ApiError> {
    let user = user(&raw_user)?;
    let page_request = query.parse()?;
    let page = state
        .store
        .list_id_tokens(&caller.client_id, &user, &page_request)
        .await?
        .ok_or_else(|| no_user(&user))?;
    let now = state.now();
    Ok(ApiJson(IdTokenPage {
        data: page.items.iter().map(|t| IdTokenResponse::new(t, now)).collect(),
        pagination: Pagination {
            after: page.after.map(|k| k.encode()),
            before: page.before.map(|k| k.encode()),
        },
    }))
}

/// Reads one of a user's id tokens.
#[utoipa::path(
    get,
    path = "/users/{userId}/id-tokens/{idTokenId}",
    tag = "authorisation",
    params(
        ("userId" = String, Path, max_length = 255, description = "The app's own identifier for the user"),
        ("idTokenId" = String, Path, description = "The token's id"),
    ),
    responses(
        (status = 200, description = "The token", body = IdTokenResponse),
        (status = 404, description = "The client has no such user or token", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn get_id_token(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath((raw_user, id)): ApiPath<(String, String)>,
) -> Result<ApiJson<IdTokenResponse>, ApiError> {
    let user = user(&raw_user)?;
    let token = state
        .store
        .get_id_token(&caller.client_id, &user, &IdTokenId::new(&id))
        .await?
        .ok_or_else(|| no_token(&id))?;
    Ok(ApiJson(IdTokenResponse::new(&token, state.now())))
}

/// Changes a token's status, expiry date, group or label (a field left out is kept, `null`
/// clears it). Blocking a card takes effect at the next Authorize, and on the local lists of the
/// user's chargers at once.
#[utoipa::path(
    patch,
    path = "/users/{userId}/id-tokens/{idTokenId}",
    tag = "authorisation",
    params(
        ("userId" = String, Path, max_length = 255, description = "The app's own identifier for the user"),
        ("idTokenId" = String, Path, description = "The token's id"),
    ),
    request_body = UpdateIdToken,
    responses(
        (status = 200, description = "The token as it is now", body = IdTokenResponse),
        (status = 404, description = "The client has no such user or token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A value that does not fit; nothing changed", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn update_id_token(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath((raw_user, id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<UpdateIdToken>,
) -> Result<ApiJson<IdTokenResponse>, ApiError> {
    let user = user(&raw_user)?;
    if let Some(group) = &body.group_id {
        check_group(group.as_deref(), "/groupId")?;
    }
    if let Some(label) = &body.label {
        check_label(label.as_deref(), "/label")?;
    }
    let change = IdTokenChange {
        status: body.status,
        expires_at: body.expires_at,
        group_id: body.group_id,
        label: body.label,
    };
    let now = state.now();
    let token = state
        .store
        .update_id_token(&caller.client_id, &user, &IdTokenId::new(&id), &change, now)
        .await?
        .ok_or_else(|| no_token(&id))?;
    state.engine.id_tokens_changed(&state.tasks, &caller.client_id, &user);
    Ok(ApiJson(IdTokenResponse::new(&token, now)))
}

/// Deletes a token: chargers treat it as unknown from then on (see the unknown-token policy), and
/// it leaves the local lists of the user's chargers.
#[utoipa::path(
    delete,
    path = "/users/{userId}/id-tokens/{idTokenId}",
    tag = "authorisation",
    params(
        ("userId" = String, Path, max_length = 255, description = "The app's own identifier for the user"),
        ("idTokenId" = String, Path, description = "The token's id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "The client has no such user or token", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn delete_id_token(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath((raw_user, id)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let user = user(&raw_user)?;
    if !state
        .store
        .delete_id_token(&caller.client_id, &user, &IdTokenId::new(&id))
        .await?
    {
        return Err(no_token(&id));
    }
    state.engine.id_tokens_changed(&state.tasks, &caller.client_id, &user);
    Ok(StatusCode::NO_CONTENT)
}

/// Reads a user's policy for tokens nobody registered.
#[utoipa::path(
    get,
    path = "/users/{userId}/id-token-policy",
    tag = "authorisation",
    params(("userId" = String, Path, max_length = 255, description = "The app's own identifier for the user")),
    responses(
        (status = 200, description = "The policy", body = UserTokenPolicy),
        (status = 404, description = "The client has no such user", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn get_user_token_policy(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(raw_user): ApiPath<String>,
) -> Result<ApiJson<UserTokenPolicy>, ApiError> {
    let user = user(&raw_user)?;
    let policy = state
        .store
        .user_token_policy(&caller.client_id, &user)
        .await?
        .ok_or_else(|| no_user(&user))?;
    Ok(ApiJson(UserTokenPolicy { unknown_tokens: policy }))
}

/// Sets a user's policy for tokens nobody registered, on every charger of theirs that has no
/// policy of its own.
#[utoipa::path(
    put,
    path = "/users/{userId}/id-token-policy",
    tag = "authorisation",
    params(("userId" = String, Path, max_length = 255, description = "The app's own identifier for the user")),
    request_body = UserTokenPolicy,
    responses(
        (status = 200, description = "The policy as it is now", body = UserTokenPolicy),
        (status = 404, description = "The client has no such user", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn put_user_token_policy(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(raw_user): ApiPath<String>,
    ApiJson(body): ApiJson<UserTokenPolicy>,
) -> Result<ApiJson<UserTokenPolicy>, ApiError> {
    let user = user(&raw_user)?;
    if !state
        .store
        .set_user_token_policy(&caller.client_id, &user, body.unknown_tokens)
        .await?
    {
        return Err(no_user(&user));
    }
    Ok(ApiJson(body))
}

/// Reads a charger's policy for tokens nobody registered: its own, its owner's, and the one in force.
#[utoipa::path(
    get,
    path = "/chargers/{chargerId}/id-token-policy",
    tag = "authorisation",
    params(("chargerId" = String, Path, description = "The charger's id")),
    responses(
        (status = 200, description = "The policy", body = ChargerTokenPolicyResponse),
        (status = 404, description = "The client has no such charger", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn get_charger_token_policy(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<ChargerTokenPolicyResponse>, ApiError> {
    let policy = state
        .store
        .charger_token_policy(&caller.client_id, &ChargerId::new(&id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no charger '{id}'")))?;
    Ok(ApiJson(policy.into()))
}

/// Sets a charger's own policy for tokens nobody registered (`null`: its owner's applies).
#[utoipa::path(
    put,
    path = "/chargers/{chargerId}/id-token-policy",
    tag = "authorisation",
    params(("chargerId" = String, Path, description = "The charger's id")),
    request_body = ChargerTokenPolicyRequest,
    responses(
        (status = 200, description = "The policy as it is now", body = ChargerTokenPolicyResponse),
        (status = 404, description = "The client has no such charger", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn put_charger_token_policy(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ChargerTokenPolicyRequest>,
) -> Result<ApiJson<ChargerTokenPolicyResponse>, ApiError> {
    let charger = ChargerId::new(&id);
    let not_found = || ApiError::not_found(format!("no charger '{id}'"));
    if !state
        .store
        .set_charger_token_policy(&caller.client_id, &charger, body.unknown_tokens)
        .await?
    {
        return Err(not_found());
    }
    let policy = state
        .store
        .charger_token_policy(&caller.client_id, &charger)
        .await?
        .ok_or_else(not_found)?;
    Ok(ApiJson(policy.into()))
}

/// Asks the charger the version of its local authorisation list (GetLocalListVersion, kept as an
/// operation) and compares it with the list Coupler last had it accept.
#[utoipa::path(
    get,
    path = "/chargers/{chargerId}/local-list",
    tag = "authorisation",
    params(("chargerId" = String, Path, description = "The charger's id")),
    responses(
        (status = 200, description = "The versions (`operation.status` FAILED with NOT_CONNECTED when the charger is away)", body = LocalListResponse),
        (status = 404, description = "The client has no such charger", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn get_local_list(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<LocalListResponse>, ApiError> {
    let charger = owned_charger(&state, &caller, &id).await?;
    let (_, ApiJson(operation)) = run(
        &state,
        &charger,
        OperationKind::GetLocalListVersion,
        &serde_json::json!({}),
        None,
        |_| ChargerCommand::GetLocalListVersion,
    )
    .await?;
    let charger_version = operation
        .answer
        .as_ref()
        .and_then(|a| a.payload.as_ref())
        .and_then(|p| p.get("listVersion"))
        .and_then(serde_json::Value::as_i64);
    let stored = state.store.local_list(&charger.id).await?;
    Ok(ApiJson(LocalListResponse {
        charger_version,
        coupler_version: stored.as_ref().map(|s| s.version),
        coupler_entries: stored.as_ref().map_or(0, |s| s.entries.len()),
        synced_at: stored.as_ref().map(|s| s.updated_at),
        in_step: stored
            .as_ref()
            .is_some_and(|s| charger_version == Some(i64::from(s.version))),
        operation,
    }))
}

/// Sends the charger its whole local authorisation list now (SendLocalList `Full`, kept as an
/// operation), whatever it holds. Coupler otherwise keeps the list in step by itself.
#[utoipa::path(
    post,
    path = "/chargers/{chargerId}/local-list/sync",
    tag = "authorisation",
    params(("chargerId" = String, Path, description = "The charger's id")),
    responses(
        (status = 200, description = "The list was sent; the operation holds the charger's answer", body = LocalListSyncResponse),
        (status = 400, description = "The charger declares no local authorisation list Coupler may manage", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The client has no such charger", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The charger is not connected", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn sync_local_list(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<LocalListSyncResponse>, ApiError> {
    let charger = owned_charger(&state, &caller, &id).await?;
    match state.engine.sync_local_list(&state.tasks, &charger.id, true).await? {
        LocalListSync::Sent(operation) => Ok(ApiJson(LocalListSyncResponse {
            operation: OperationResponse::from(operation.as_ref()),
        })),
        LocalListSync::NotManaged => Err(ApiError::refused(
            "the charger declares no local authorisation list (1.6: LocalAuthListManagement among \
             SupportedFeatureProfiles; 2.0.1: LocalAuthListCtrlr enabled)",
        )),
        LocalListSync::NotConnected => Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "the charger is not connected to Coupler",
        )),
        // A forced sync neither compares versions nor asks for one.
        LocalListSync::InStep { version } => Err(ApiError::internal(format!(
            "a forced sync found the list in step at version {version}"
        ))),
        LocalListSync::VersionUnknown(operation) => Err(ApiError::internal(format!(
            "a forced sync asked for the list version (operation {})",
            operation.id
        ))),
    }
}
