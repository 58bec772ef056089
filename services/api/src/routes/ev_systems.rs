//! EV systems: a user's vehicle and charger as one, with the merged state, the capabilities the
//! pair unlocks (and through which device each runs), and the evidence of the match.

use axum::extract::State;
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use coupler_core::ev_system::{
    after_unplug, merge, unlock, ChargerRoute, ChargerSide, Confidence, EvSystem, EvSystemId, EvidenceKind, PairState,
};
use coupler_core::{PowerDeliveryState, UserId};
use coupler_engine::actions::VehicleCommand;
use serde::Serialize;
use utoipa::ToSchema;

use super::actions::ActionResponse;
use super::chargers::VehicleDetectionBody;
use super::control::{idempotency_key, ChargingRequest, MaxCurrentRequest};
use super::users::{PageQuery, Pagination};
use super::vehicles::{charging_command, max_current_command, CapabilityBody};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::state::AppState;

/// One piece of evidence behind a match.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EvidenceBody {
    /// `IDENTITY`, `PLUG_IN_CORRELATION`, `LOCATION`, `POWER_CORRELATION` or `SINGLE_CANDIDATE`.
    #[schema(example = "PLUG_IN_CORRELATION")]
    pub kind: EvidenceKind,
    /// What was seen.
    pub detail: String,
}

/// Why Coupler believes (or last believed) the vehicle is plugged into the charger.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatchBody {
    /// The evidence, strongest first.
    pub evidence: Vec<EvidenceBody>,
    /// `HIGH`, `MEDIUM` or `LOW`.
    #[schema(example = "HIGH")]
    pub confidence: Confidence,
}

/// The merged charge state: battery data from the vehicle; plug state, power and energy from the
/// charger while the pair is activated.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EvSystemChargeState {
    /// State of charge, percent.
    pub battery_level: Option<f64>,
    /// Range, km.
    pub range: Option<f64>,
    /// Usable capacity, kWh.
    pub battery_capacity: Option<f64>,
    /// Charge limit, percent.
    pub charge_limit: Option<f64>,
    /// Minutes until the charge limit.
    pub charge_time_remaining: Option<f64>,
    /// A cable is in.
    pub is_plugged_in: Option<bool>,
    /// Power flows.
    pub is_charging: Option<bool>,
    /// At the charge limit.
    pub is_fully_charged: Option<bool>,
    /// Charging power, kW.
    pub charge_rate: Option<f64>,
    /// Energy of the running session, kWh.
    pub session_energy: Option<f64>,
    /// Current limit, amperes.
    pub max_current: Option<f64>,
    /// Plug and power state.
    #[schema(example = "PLUGGED_IN:CHARGING")]
    pub power_delivery_state: PowerDeliveryState,
    /// When the newest data is from.
    pub last_updated: Option<DateTime<Utc>>,
}

/// The commands the pair can carry out, each with the devices that run it, in order.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EvSystemCapabilities {
    /// Start charging.
    pub start_charging: CapabilityBody,
    /// Stop charging.
    pub stop_charging: CapabilityBody,
    /// Limit the current.
    pub set_max_current: CapabilityBody,
}

/// A vehicle and a charger of the same user.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EvSystemResponse {
    /// Identifier.
    pub id: String,
    /// The owning user.
    pub user_id: String,
    /// The vehicle.
    pub vehicle_id: String,
    /// The charger.
    pub charger_id: String,
    /// `ESTABLISHED` (both linked) or `ACTIVATED` (plugged into each other).
    #[schema(example = "ACTIVATED")]
    pub state: PairState,
    /// When it was last activated.
    pub activated_at: Option<DateTime<Utc>>,
    /// When it was last deactivated.
    pub deactivated_at: Option<DateTime<Utc>>,
    /// The evidence of the (last) match; `null` if never matched.
    #[serde(rename = "match")]
    pub matched: Option<MatchBody>,
    /// While the charger has something plugged in that is not this vehicle (or not yet known to
    /// be): why pairing has not matched them.
    pub unmatched_reason: Option<String>,
    /// While the charger has something plugged in: where its vehicle detection stands (whether it
    /// is still running or has given up, and why); `null` while the charger is unplugged.
    pub detection: Option<VehicleDetectionBody>,
    /// The merged state.
    pub charge_state: EvSystemChargeState,
    /// What the pair can do, and through which device.
    pub capabilities: EvSystemCapabilities,
    /// When the pair was established.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A page of EV systems, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct EvSystemPage {
    /// The EV systems.
    pub data: Vec<EvSystemResponse>,
    /// Cursors to the neighbouring pages.
    pub pagination: Pagination,
}

/// The API view of an EV system: what `GET /ev-systems/{id}` answers and what its events carry.
pub(crate) async fn render(state: &AppState, pair: EvSystem) -> Result<EvSystemResponse, ApiError> {
    let vehicle = state
        .store
        .get_vehicle(&pair.client_id, &pair.vehicle_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no EV system '{}'", pair.id)))?;
    let charger = state
        .store
        .charger(&pair.charger_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no EV system '{}'", pair.id)))?;
    let activated = pair.state == PairState::Activated;
    let session = state.store.active_session(&charger.id).await?;
    let side = ChargerSide {
        state: charger.charge_state(session.as_ref()),
        last_seen: charger.last_seen,
    };
    // A deactivated pair merges nothing: the vehicle alone, and its data from before the
    // deactivation (the unplug) is stale.
    let vehicle_state = match (activated, pair.deactivated_at) {
        (false, Some(at)) => after_unplug(&vehicle.charge_state, at),
        _ => vehicle.charge_state.clone(),
    };
    let merged = merge(&vehicle_state, activated.then_some(&side));
    let connected = state.engine.control().is_connected(&charger.id);
    let capabilities = unlock(
        &state.engine.vehicle_capabilities(&vehicle),
        Some(ChargerRoute { activated, connected }),
    );
    let detection = state
        .store
        .get_detection(&charger.id)
        .await?
        .filter(|_| side.state.is_plugged_in)
        .map(|d| VehicleDetectionBody {
            status: d.status,
            plugged_in_at: d.plugged_in_at,
            vehicle_id: d.vehicle_id.map(|v| v.as_str().to_owned()),
            reason: d.reason,
            reason_code: d.reason_code,
        });
    let unmatched_reason = if activated {
        None
    } else {
        detection.as_ref().and_then(|d| d.reason.clone())
    };
    Ok(EvSystemResponse {
        id: pair.id.as_str().to_owned(),
        user_id: pair.user_id.as_str().to_owned(),
        vehicle_id: pair.vehicle_id.as_str().to_owned(),
        charger_id: pair.charger_id.as_str().to_owned(),
        state: pair.state,
        activated_at: pair.activated_at,
        deactivated_at: pair.deactivated_at,
        matched: pair.confidence.map(|confidence| MatchBody {
            evidence: pair
                .evidence
                .into_iter()
                .map(|e| EvidenceBody {
                    kind: e.kind,
                    detail: e.detail,
                })
                .collect(),
            confidence,
        }),
        unmatched_reason,
        detection,
        charge_state: EvSystemChargeState {
            battery_level: merged.battery_level,
            range: merged.range,
            battery_capacity: merged.battery_capacity,
            charge_limit: merged.charge_limit,
            charge_time_remaining: merged.charge_time_remaining,
            is_plugged_in: merged.is_plugged_in,
            is_charging: merged.is_charging,
            is_fully_charged: merged.is_fully_charged,
            charge_rate: merged.charge_rate,
            session_energy: merged.session_energy.map(|e| (e * 1000.0).round() / 1000.0),
            max_current: merged.max_current,
            power_delivery_state: merged.power_delivery_state,
            last_updated: merged.last_updated,
        },
        capabilities: EvSystemCapabilities {
            start_charging: capabilities.start_charging.into(),
            stop_charging: capabilities.stop_charging.into(),
            set_max_current: capabilities.set_max_current.into(),
        },
        created_at: pair.created_at,
        updated_at: pair.updated_at,
    })
}

/// Lists a user's EV systems (every pair of one of its vehicles and one of its chargers), newest
/// first.
#[utoipa::path(
    get,
    path = "/users/{userId}/ev-systems",
    tag = "ev-systems",
    params(("userId" = String, Path, pattern = "^[^\\s/\\x00-\\x1F\\x7F-\\x9F]([^/\\x00-\\x1F\\x7F-\\x9F]*[^\\s/\\x00-\\x1F\\x7F-\\x9F])?$", max_length = 255, description = "The app's own identifier for the user"), PageQuery),
    responses(
        (status = 200, description = "A page of EV systems", body = EvSystemPage),
        (status = 404, description = "The client has no such user", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn list_ev_systems(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(raw_user): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<ApiJson<EvSystemPage>, ApiError> {
    let user = UserId::parse(&raw_user).map_err(|e| ApiError::bad_request(e.to_string()).at_path("userId"))?;
    let page_request = query.parse()?;
    if state.store.get_user(&caller.client_id, &user).await?.is_none() {
        return Err(ApiError::not_found(format!("no user '{user}'")));
    }
    let page = state
        .store
        .list_ev_systems(&caller.client_id, &user, &page_request)
        .await?;
    let mut data = Vec::with_capacity(page.items.len());
    for pair in page.items {
        data.push(render(&state, pair).await?);
    }
    Ok(ApiJson(EvSystemPage {
        data,
        pagination: Pagination {
            after: page.after.map(|k| k.encode()),
            before: page.before.map(|k| k.encode()),
        },
    }))
}

async fn owned(state: &AppState, caller: &Caller, id: &str) -> Result<EvSystem, ApiError> {
    state
        .store
        .get_ev_system(&caller.client_id, &EvSystemId::new(id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no EV system '{id}'")))
}

/// Reads an EV system.
#[utoipa::path(
    get,
    path = "/ev-systems/{evSystemId}",
    tag = "ev-systems",
    params(("evSystemId" = String, Path, description = "The EV system's id")),
    responses(
        (status = 200, description = "The EV system", body = EvSystemResponse),
        (status = 404, description = "The client has no such EV system", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn get_ev_system(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<EvSystemResponse>, ApiError> {
    let pair = owned(&state, &caller, &id).await?;
    Ok(ApiJson(render(&state, pair).await?))
}

/// Starts or stops charging the EV system's vehicle, routed like `POST /vehicles/{id}/charging`:
/// through the charger first while the pair is activated, then the vehicle's maker.
#[utoipa::path(
    post,
    path = "/ev-systems/{evSystemId}/charging",
    operation_id = "control_ev_system_charging",
    tag = "ev-systems",
    params(
        ("evSystemId" = String, Path, description = "The EV system's id"),
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "Repeating a request with the same key returns the first action (1 to 255 visible ASCII characters)"),
    ),
    request_body = ChargingRequest,
    responses(
        (status = 200, description = "The action (its target is the vehicle)", body = ActionResponse),
        (status = 400, description = "Malformed, or neither device can do it (the detail says why)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The client has no such EV system", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The Idempotency-Key was used for a different request", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn charging(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ChargingRequest>,
) -> Result<ApiJson<ActionResponse>, ApiError> {
    on_vehicle(&state, &caller, &id, charging_command(&body)?, &headers).await
}

/// Limits the current of the EV system's vehicle, routed like `POST /vehicles/{id}/max-current`.
#[utoipa::path(
    post,
    path = "/ev-systems/{evSystemId}/max-current",
    operation_id = "set_ev_system_max_current",
    tag = "ev-systems",
    params(
        ("evSystemId" = String, Path, description = "The EV system's id"),
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "Repeating a request with the same key returns the first action (1 to 255 visible ASCII characters)"),
    ),
    request_body = MaxCurrentRequest,
    responses(
        (status = 200, description = "The action (its target is the vehicle)", body = ActionResponse),
        (status = 400, description = "Malformed, or neither device can do it (the detail says why)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The client has no such EV system", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The Idempotency-Key was used for a different request", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn max_current(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<MaxCurrentRequest>,
) -> Result<ApiJson<ActionResponse>, ApiError> {
    on_vehicle(&state, &caller, &id, max_current_command(&body)?, &headers).await
}

/// Creates the action on the pair's vehicle, which routes it across both devices.
async fn on_vehicle(
    state: &AppState,
    caller: &Caller,
    id: &str,
    command: VehicleCommand,
    headers: &HeaderMap,
) -> Result<ApiJson<ActionResponse>, ApiError> {
    let key = idempotency_key(headers)?;
    let pair = owned(state, caller, id).await?;
    let action = state
        .engine
        .request_vehicle_action(&caller.client_id, &pair.vehicle_id, command, key)
        .await?;
    Ok(ApiJson(action.into()))
}
