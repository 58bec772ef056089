//! Actions: `GET /actions/{actionId}` and `POST /actions/{actionId}/cancel`.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use coupler_core::action::{Attempt, AttemptOutcome, FailureReason, TargetState};
use coupler_core::{Action, ActionId, ActionKind, ActionState, DeviceKind, FailureType};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiPath, Caller};
use crate::state::AppState;

/// An asynchronous command on a vehicle or charger, settled by observed state.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionResponse {
    /// Identifier.
    pub id: String,
    /// The user who owns the target.
    pub user_id: String,
    /// `vehicle` or `charger`.
    #[schema(example = "charger")]
    pub target_type: DeviceKind,
    /// The targeted device.
    pub target_id: String,
    /// `START`, `STOP` or `SET_MAX_CURRENT`.
    #[schema(example = "START")]
    pub kind: ActionKind,
    /// The state that confirms the action.
    #[schema(example = json!({"isCharging": true}))]
    pub target_state: TargetState,
    /// `PENDING`, `CONFIRMED`, `FAILED` or `CANCELLED`.
    #[schema(example = "PENDING")]
    pub state: ActionState,
    /// Why it failed or was cancelled; null while it has not.
    pub failure_reason: Option<FailureReason>,
    /// Every try on a device, in order.
    pub attempts: Vec<Attempt>,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it settled.
    pub completed_at: Option<DateTime<Utc>>,
}

impl From<Action> for ActionResponse {
    fn from(a: Action) -> Self {
        Self {
            id: a.id.as_str().to_owned(),
            user_id: a.user_id.as_str().to_owned(),
            target_type: a.target_type,
            target_id: a.target_id,
            kind: a.kind,
            target_state: a.target_state,
            state: a.state,
            failure_reason: a.failure_reason,
            attempts: a.attempts,
            created_at: a.created_at,
            updated_at: a.updated_at,
            completed_at: a.completed_at,
        }
    }
}

/// Reads an action.
#[utoipa::path(
    get,
    path = "/actions/{actionId}",
    tag = "actions",
    params(("actionId" = String, Path, description = "The action's id")),
    responses(
        (status = 200, description = "The action", body = ActionResponse),
        (status = 404, description = "The client has no such action", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn get_action(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<ActionResponse>, ApiError> {
    Ok(ApiJson(read(&state, &caller, &ActionId::new(id), None).await?.into()))
}

/// The caller's action `id`; with `target`, only if it targets that kind of device (the Enode
/// paths `/vehicles/actions/{id}` and `/chargers/actions/{id}` answer 404 for the other kind).
async fn read(
    state: &AppState,
    caller: &Caller,
    id: &ActionId,
    target: Option<DeviceKind>,
) -> Result<Action, ApiError> {
    state
        .store
        .get_action(&caller.client_id, id)
        .await?
        .filter(|action| target.is_none_or(|kind| action.target_type == kind))
        .ok_or_else(|| no_action(id))
}

/// Cancels a pending action. Commands already sent to a device are not undone; the action simply
/// stops being pursued and ends CANCELLED.
#[utoipa::path(
    post,
    path = "/actions/{actionId}/cancel",
    tag = "actions",
    params(("actionId" = String, Path, description = "The action's id")),
    responses(
        (status = 200, description = "The cancelled action", body = ActionResponse),
        (status = 404, description = "The client has no such action", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The action is already settled", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn cancel_action(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<ActionResponse>, ApiError> {
    cancel(&state, &caller, ActionId::new(id), None).await
}

async fn cancel(
    state: &AppState,
    caller: &Caller,
    id: ActionId,
    target: Option<DeviceKind>,
) -> Result<ApiJson<ActionResponse>, ApiError> {
    let mut action = read(state, caller, &id, target).await?;
    if action.state.is_final() {
        return Err(already_settled(&action));
    }
    let now = state.now();
    action.update_last_attempt(AttemptOutcome::Cancelled, None, now);
    action.cancel(FailureType::RequestedCancellation, "cancelled by the API client", now);
    if !state.store.update_action(&action).await? {
        // It settled between the read and the write; report how.
        let settled = state
            .store
            .get_action(&caller.client_id, &id)
            .await?
            .ok_or_else(|| no_action(&id))?;
        return Err(already_settled(&settled));
    }
    tracing::info!(action_id = %id, "action cancelled");
    Ok(ApiJson(action.into()))
}

/// Declares an Enode-compatible alias of the action routes for one kind of device.
macro_rules! action_aliases {
    ($get:ident, $cancel:ident, $kind:expr, $prefix:literal, $tag:literal, $what:literal, $read:literal, $stop:literal) => {
        #[doc = concat!("Reads an action on a ", $what, " (the Enode path; the same as `GET /actions/{actionId}`).")]
        #[utoipa::path(
            get,
            path = concat!($prefix, "/actions/{actionId}"),
            tag = $tag,
            summary = $read,
            params(("actionId" = String, Path, description = "The action's id")),
            responses(
                (status = 200, description = "The action", body = ActionResponse),
                (status = 404, description = concat!("The client has no such action on a ", $what), body = Problem, content_type = "application/problem+json"),
                (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
            ),
            security(("clientCredentials" = [])),
        )]
        pub async fn $get(
            caller: Caller,
            State(state): State<AppState>,
            ApiPath(id): ApiPath<String>,
        ) -> Result<ApiJson<ActionResponse>, ApiError> {
            Ok(ApiJson(read(&state, &caller, &ActionId::new(id), Some($kind)).await?.into()))
        }

        #[doc = concat!("Cancels a pending action on a ", $what, " (the Enode path; the same as `POST /actions/{actionId}/cancel`).")]
        #[utoipa::path(
            post,
            path = concat!($prefix, "/actions/{actionId}/cancel"),
            tag = $tag,
            summary = $stop,
            params(("actionId" = String, Path, description = "The action's id")),
            responses(
                (status = 200, description = "The cancelled action", body = ActionResponse),
                (status = 404, description = concat!("The client has no such action on a ", $what), body = Problem, content_type = "application/problem+json"),
                (status = 409, description = "The action is already settled", body = Problem, content_type = "application/problem+json"),
                (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
            ),
            security(("clientCredentials" = [])),
        )]
        pub async fn $cancel(
            caller: Caller,
            State(state): State<AppState>,
            ApiPath(id): ApiPath<String>,
        ) -> Result<ApiJson<ActionResponse>, ApiError> {
            cancel(&state, &caller, ActionId::new(id), Some($kind)).await
        }
    };
}

action_aliases!(
    get_vehicle_action,
    cancel_vehicle_action,
    DeviceKind::Vehicle,
    "/vehicles",
    "vehicles",
    "vehicle",
    "Reads an action on a vehicle (the Enode path; the same as GET /actions/{actionId})",
    "Cancels a pending action on a vehicle (the Enode path; the same as POST /actions/{actionId}/cancel)"
);
action_aliases!(
    get_charger_action,
    cancel_charger_action,
    DeviceKind::Charger,
    "/chargers",
    "chargers",
    "charger",
    "Reads an action on a charger (the Enode path; the same as GET /actions/{actionId})",
    "Cancels a pending action on a charger (the Enode path; the same as POST /actions/{actionId}/cancel)"
);

fn no_action(id: &ActionId) -> ApiError {
    ApiError::not_found(format!("no action '{id}'"))
}

fn already_settled(action: &Action) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "conflict",
        format!(
            "the action is already {} and cannot be cancelled",
            action.state.as_str()
        ),
    )
}
