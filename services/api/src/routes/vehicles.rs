//! Vehicles: `GET /vehicles`, `GET /users/{userId}/vehicles`, `GET /vehicles/{vehicleId}`,
//! `POST /vehicles/{vehicleId}/refresh-hint`, and the vehicle commands `POST
//! /vehicles/{vehicleId}/charging` and `POST /vehicles/{vehicleId}/max-current`, which create Actions.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use coupler_core::capability::{Capability, Scope, VehicleCapabilities};
use coupler_core::vehicle::{ChargeState, Location, VehicleInformation};
use coupler_core::{UserId, Vehicle, VehicleId};
use coupler_engine::actions::VehicleCommand;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::routes::actions::ActionResponse;
use crate::routes::control::{idempotency_key, ChargingRequest, MaxCurrentRequest};
use crate::routes::users::{PageQuery, Pagination};
use crate::state::AppState;

/// What the vehicle is.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InformationBody {
    /// Vehicle identification number, when the maker shares it.
    #[schema(example = "5YJ3E1EA7KF000001")]
    pub vin: Option<String>,
    /// Brand.
    #[schema(example = "Aurora")]
    pub brand: Option<String>,
    /// Model.
    #[schema(example = "Aurora A1")]
    pub model: Option<String>,
    /// Model year.
    #[schema(example = 2024)]
    pub year: Option<i32>,
    /// The owner's name for it.
    pub display_name: Option<String>,
}

impl From<VehicleInformation> for InformationBody {
    fn from(i: VehicleInformation) -> Self {
        Self {
            vin: i.vin,
            brand: i.brand,
            model: i.model,
            year: i.year,
            display_name: i.display_name,
        }
    }
}

/// The vehicle's charge state, as last read from its maker. Unknown values are `null`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChargeStateBody {
    /// State of charge, percent.
    pub battery_level: Option<f64>,
    /// Remaining range, km.
    pub range: Option<f64>,
    /// Whether a cable is connected.
    pub is_plugged_in: Option<bool>,
    /// Whether it is receiving power.
    pub is_charging: Option<bool>,
    /// Whether it reached its charge limit (which may be below 100 %).
    pub is_fully_charged: Option<bool>,
    /// Usable battery capacity, kWh.
    pub battery_capacity: Option<f64>,
    /// Charge limit, percent.
    pub charge_limit: Option<f64>,
    /// Charging power, kW; only while charging.
    pub charge_rate: Option<f64>,
    /// Minutes until the limit; only while charging.
    pub charge_time_remaining: Option<f64>,
    /// The most current the vehicle draws, A.
    pub max_current: Option<f64>,
    /// UNKNOWN, UNPLUGGED, PLUGGED_IN:INITIALIZING, PLUGGED_IN:CHARGING, PLUGGED_IN:STOPPED,
    /// PLUGGED_IN:COMPLETE, PLUGGED_IN:NO_POWER or PLUGGED_IN:FAULT.
    #[schema(example = "PLUGGED_IN:CHARGING")]
    pub power_delivery_state: String,
    /// The charger it is plugged into, once the pairing engine knows (not yet).
    pub plugged_in_charger_id: Option<String>,
    /// When the maker recorded these values.
    pub last_updated: Option<DateTime<Utc>>,
}

impl From<ChargeState> for ChargeStateBody {
    fn from(c: ChargeState) -> Self {
        Self {
            battery_level: c.battery_level,
            range: c.range,
            is_plugged_in: c.is_plugged_in,
            is_charging: c.is_charging,
            is_fully_charged: c.is_fully_charged,
            battery_capacity: c.battery_capacity,
            charge_limit: c.charge_limit,
            charge_rate: c.charge_rate,
            charge_time_remaining: c.charge_time_remaining,
            max_current: c.max_current,
            power_delivery_state: c
                .power_delivery_state
                .unwrap_or(coupler_core::vehicle::PowerDeliveryState::Unknown)
                .as_str()
                .to_owned(),
            plugged_in_charger_id: c.plugged_in_charger_id,
            last_updated: c.last_updated,
        }
    }
}

/// Where the vehicle is; `null` values unless the user granted `vehicle:read:location`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocationBody {
    /// Latitude, degrees.
    pub latitude: Option<f64>,
    /// Longitude, degrees.
    pub longitude: Option<f64>,
    /// When the maker recorded the position.
    pub last_updated: Option<DateTime<Utc>>,
}

impl From<Location> for LocationBody {
    fn from(l: Location) -> Self {
        Self {
            latitude: l.latitude,
            longitude: l.longitude,
            last_updated: l.last_updated,
        }
    }
}

/// One capability.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CapabilityBody {
    /// Whether Coupler can do it now.
    pub is_capable: bool,
    /// Interventions the user can resolve to make it possible.
    pub intervention_ids: Vec<String>,
    /// The devices that can carry it out, in the order Coupler tries them (`vehicle`, `charger`).
    #[schema(example = json!(["vehicle"]))]
    pub via: Vec<String>,
    /// Why not, when it is not possible.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl From<Capability> for CapabilityBody {
    fn from(c: Capability) -> Self {
        Self {
            is_capable: c.is_capable,
            intervention_ids: c.intervention_ids.iter().map(|i| i.as_str().to_owned()).collect(),
            via: c.via.iter().map(|v| v.as_str().to_owned()).collect(),
            reason: c.reason,
        }
    }
}

/// What Coupler can do with the vehicle: the maker's support for the model, the scopes the user
/// granted, and whether the account's credentials still work.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CapabilitiesBody {
    /// Reading what the vehicle is.
    pub information: CapabilityBody,
    /// Reading charge state.
    pub charge_state: CapabilityBody,
    /// Reading the position.
    pub location: CapabilityBody,
    /// Starting charging.
    pub start_charging: CapabilityBody,
    /// Stopping charging.
    pub stop_charging: CapabilityBody,
    /// Setting the charging current.
    pub set_max_current: CapabilityBody,
}

impl From<VehicleCapabilities> for CapabilitiesBody {
    fn from(c: VehicleCapabilities) -> Self {
        Self {
            information: c.information.into(),
            charge_state: c.charge_state.into(),
            location: c.location.into(),
            start_charging: c.start_charging.into(),
            stop_charging: c.stop_charging.into(),
            set_max_current: c.set_max_current.into(),
        }
    }
}

/// A vehicle linked through its maker's cloud.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VehicleResponse {
    /// Coupler's id for the vehicle.
    pub id: String,
    /// The app's id for the owner.
    pub user_id: String,
    /// The vendor it is reached through, for example `TESLA`.
    #[schema(example = "TESLA")]
    pub vendor: String,
    /// When Coupler last received live data from it (or linked it).
    pub last_seen: Option<DateTime<Utc>>,
    /// Whether Coupler can currently get live data from it; `null` before the first read.
    pub is_reachable: Option<bool>,
    /// What it is.
    pub information: InformationBody,
    /// Its charge state.
    pub charge_state: ChargeStateBody,
    /// Its position.
    pub location: LocationBody,
    /// What Coupler can do with it.
    pub capabilities: CapabilitiesBody,
    /// The scopes the user granted.
    #[schema(example = json!(["vehicle:read:data", "vehicle:control:charging"]))]
    pub scopes: Vec<String>,
}

impl VehicleResponse {
    /// The API view of a stored vehicle.
    pub fn new(vehicle: Vehicle, capabilities: VehicleCapabilities) -> Self {
        let location = if vehicle.scopes.contains(&Scope::ReadLocation) {
            vehicle.location
        } else {
            Location::default()
        };
        Self {
            id: vehicle.id.as_str().to_owned(),
            user_id: vehicle.user_id.as_str().to_owned(),
            vendor: vehicle.vendor.as_str().to_owned(),
            last_seen: vehicle.last_seen,
            is_reachable: vehicle.is_reachable,
            information: vehicle.information.into(),
            charge_state: vehicle.charge_state.into(),
            location: location.into(),
            capabilities: capabilities.into(),
            scopes: vehicle.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        }
    }
}

/// A page of vehicles, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct VehiclePage {
    /// The vehicles.
    pub data: Vec<VehicleResponse>,
    /// Cursors to the neighbouring pages.
    pub pagination: Pagination,
}

/// The API view of a stored vehicle: what `GET /vehicles/{id}` answers and what its events carry.
pub(crate) fn respond(state: &AppState, vehicle: Vehicle) -> VehicleResponse {
    let capabilities = state.engine.vehicle_capabilities(&vehicle);
    VehicleResponse::new(vehicle, capabilities)
}

async fn page(
    state: &AppState,
    caller: &Caller,
    user: Option<&UserId>,
    query: &PageQuery,
) -> Result<VehiclePage, ApiError> {
    let page = state
        .store
        .list_vehicles(&caller.client_id, user, &query.parse()?)
        .await?;
    Ok(VehiclePage {
        data: page.items.into_iter().map(|v| respond(state, v)).collect(),
        pagination: Pagination {
            after: page.after.map(|k| k.encode()),
            before: page.before.map(|k| k.encode()),
        },
    })
}

/// Lists the client's vehicles, newest first.
#[utoipa::path(
    get,
    path = "/vehicles",
    tag = "vehicles",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of vehicles", body = VehiclePage),
        (status = "4XX", description = "Bad pagination parameters or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearerAuth" = [])),
)]
pub async fn list_vehicles(
    caller: Caller,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<ApiJson<VehiclePage>, ApiError> {
    Ok(ApiJson(page(&state, &caller, None, &query).await?))
}

/// Lists one user's vehicles, newest first.
#[utoipa::path(
    get,
    path = "/users/{userId}/vehicles",
    tag = "vehicles",
    params(("userId" = String, Path, description = "The app's own identifier for the user"), PageQuery),
    responses(
        (status = 200, description = "A page of the user's vehicles", body = VehiclePage),
        (status = 404, description = "The client has no such user", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearerAuth" = [])),
)]
pub async fn list_user_vehicles(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(raw_user): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<ApiJson<VehiclePage>, ApiError> {
    let user = UserId::parse(&raw_user).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if state.store.get_user(&caller.client_id, &user).await?.is_none() {
        return Err(ApiError::not_found(format!("no user '{user}'")));
    }
    Ok(ApiJson(page(&state, &caller, Some(&user), &query).await?))
}

async fn vehicle(state: &AppState, caller: &Caller, id: &str) -> Result<Vehicle, ApiError> {
    let id = VehicleId::new(id);
    state
        .store
        .get_vehicle(&caller.client_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no vehicle '{id}'")))
}

/// Reads one vehicle.
#[utoipa::path(
    get,
    path = "/vehicles/{vehicleId}",
    tag = "vehicles",
    params(("vehicleId" = String, Path, description = "The vehicle's id")),
    responses(
        (status = 200, description = "The vehicle", body = VehicleResponse),
        (status = 404, description = "The client has no such vehicle", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearerAuth" = [])),
)]
pub async fn get_vehicle(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<VehicleResponse>, ApiError> {
    let found = vehicle(&state, &caller, &id).await?;
    Ok(ApiJson(respond(&state, found)))
}

/// Asks for the vehicle to be read as soon as the vendor's limits allow. Hints are merged: many
/// hints before the read cause one read. A maker's request to wait (a rate limit) is respected.
#[utoipa::path(
    post,
    path = "/vehicles/{vehicleId}/refresh-hint",
    tag = "vehicles",
    params(("vehicleId" = String, Path, description = "The vehicle's id")),
    responses(
        (status = 204, description = "The read is scheduled"),
        (status = 404, description = "The client has no such vehicle", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearerAuth" = [])),
)]
pub async fn refresh_hint(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id = VehicleId::new(id);
    if !state.engine.request_poll(&caller.client_id, &id).await? {
        return Err(ApiError::not_found(format!("no vehicle '{id}'")));
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn command(
    state: &AppState,
    caller: &Caller,
    id: &str,
    command: VehicleCommand,
    headers: &HeaderMap,
) -> Result<ApiJson<ActionResponse>, ApiError> {
    let key = idempotency_key(headers)?;
    let action = state
        .engine
        .request_vehicle_action(&caller.client_id, &VehicleId::new(id), command, key)
        .await?;
    Ok(ApiJson(action.into()))
}

/// Starts or stops charging through the vehicle's maker. Answers with a pending Action that is
/// confirmed once the vehicle is read in the asked state. A vehicle that cannot do it (its maker's
/// API lacks the command, a scope was not granted, the account must be relinked) gets a 400 that
/// says why.
#[utoipa::path(
    post,
    path = "/vehicles/{vehicleId}/charging",
    tag = "vehicles",
    params(
        ("vehicleId" = String, Path, description = "The vehicle's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Repeating a request with the same key returns the first action"),
    ),
    request_body = ChargingRequest,
    responses(
        (status = 200, description = "The action", body = ActionResponse),
        (status = 400, description = "Malformed, or the vehicle cannot do this (the detail says why)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The client has no such vehicle", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The Idempotency-Key was used for a different request", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearerAuth" = [])),
)]
pub async fn charging(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ChargingRequest>,
) -> Result<ApiJson<ActionResponse>, ApiError> {
    let wanted = match body.action.as_str() {
        "START" => VehicleCommand::Start,
        "STOP" => VehicleCommand::Stop,
        other => {
            return Err(ApiError::bad_request(format!(
                "action must be START or STOP, got '{}'",
                other.chars().take(40).collect::<String>()
            )))
        }
    };
    command(&state, &caller, &id, wanted, &headers).await
}

/// Limits the current the vehicle draws, through its maker. Answers with a pending Action that is
/// confirmed once the vehicle reports the new limit.
#[utoipa::path(
    post,
    path = "/vehicles/{vehicleId}/max-current",
    tag = "vehicles",
    params(
        ("vehicleId" = String, Path, description = "The vehicle's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Repeating a request with the same key returns the first action"),
    ),
    request_body = MaxCurrentRequest,
    responses(
        (status = 200, description = "The action", body = ActionResponse),
        (status = 400, description = "Malformed, or the vehicle cannot do this (the detail says why)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The client has no such vehicle", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The Idempotency-Key was used for a different request", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearerAuth" = [])),
)]
pub async fn max_current(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<MaxCurrentRequest>,
) -> Result<ApiJson<ActionResponse>, ApiError> {
    let amps = body.max_current;
    if !amps.is_finite() || amps.fract() != 0.0 || !(1.0..=80.0).contains(&amps) {
        return Err(ApiError::bad_request(
            "maxCurrent must be a whole number of amperes from 1 to 80",
        ));
    }
    // A whole number from 1 to 80, checked above: the conversion is exact.
    let amps = amps as u32;
    command(&state, &caller, &id, VehicleCommand::SetMaxCurrent(amps), &headers).await
}
