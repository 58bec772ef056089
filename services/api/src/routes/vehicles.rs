//! Vehicles: `GET /vehicles`, `GET /users/{userId}/vehicles`, `GET /vehicles/{vehicleId}`,
//! `POST /vehicles/{vehicleId}/refresh-hint`, and the vehicle commands `POST
//! /vehicles/{vehicleId}/charging` and `POST /vehicles/{vehicleId}/max-current`, which create Actions.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use coupler_core::capability::{Capability, Scope, VehicleCapabilities};
use coupler_core::ev_system::{after_unplug, feed_vehicle, normalise_tag, unlock, ChargerSide};
use coupler_core::location::Point;
use coupler_core::page::PageRequest;
use coupler_core::vehicle::{ChargeState, Location, VehicleInformation};
use coupler_core::{UserId, Vehicle, VehicleId};
use coupler_engine::actions::VehicleCommand;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::routes::actions::ActionResponse;
use crate::routes::control::{idempotency_key, ChargingAction, ChargingRequest, MaxCurrentRequest};
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
    /// The user's location the vehicle is at (within 150 m of it), if any.
    pub at_location_id: Option<String>,
}

impl From<Location> for LocationBody {
    fn from(l: Location) -> Self {
        Self {
            latitude: l.latitude,
            longitude: l.longitude,
            last_updated: l.last_updated,
            at_location_id: None,
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
    #[schema(value_type = Vec<coupler_core::DeviceKind>, example = json!(["vehicle"]))]
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
    #[schema(value_type = Vec<coupler_core::capability::Scope>, example = json!(["vehicle:read:data", "vehicle:control:charging"]))]
    pub scopes: Vec<String>,
    /// Identifiers a charger may report for it (see `PUT /vehicles/{vehicleId}/id-tags`).
    pub id_tags: Vec<String>,
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
            id_tags: vehicle.id_tags,
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

/// The API view of a vehicle: capabilities unlocked by its pairs, and, while it is matched with a
/// charger, plug and power state from that charger (which knows first) with `pluggedInChargerId`.
pub(crate) async fn respond(state: &AppState, mut vehicle: Vehicle) -> Result<VehicleResponse, ApiError> {
    let pairing = state.engine.pairing_of(&vehicle).await?;
    let capabilities = unlock(&state.engine.vehicle_capabilities(&vehicle), pairing.route);
    if let Some(charger_id) = &pairing.activated {
        if let Some(charger) = state.store.charger(charger_id).await? {
            let session = state.store.active_session(charger_id).await?;
            let side = ChargerSide {
                state: charger.charge_state(session.as_ref()),
                last_seen: charger.last_seen,
            };
            vehicle.charge_state = feed_vehicle(&vehicle.charge_state, &side, charger_id);
        }
    } else if let Some(unplugged_at) = pairing.deactivated_at {
        // The charger saw the unplug: the maker's older "plugged in" is stale.
        vehicle.charge_state = after_unplug(&vehicle.charge_state, unplugged_at);
    }
    let position = match (vehicle.location.latitude, vehicle.location.longitude) {
        (Some(latitude), Some(longitude)) if vehicle.scopes.contains(&Scope::ReadLocation) => {
            Some(Point { latitude, longitude })
        }
        _ => None,
    };
    let (client, user) = (vehicle.client_id.clone(), vehicle.user_id.clone());
    let mut response = VehicleResponse::new(vehicle, capabilities);
    if let Some(position) = position {
        let places = state
            .store
            .list_locations(&client, &user, &PageRequest::first(PageRequest::MAX_SIZE))
            .await?;
        response.location.at_location_id = places
            .items
            .into_iter()
            .filter(|l| position.is_at(l.fields.point()))
            .min_by(|a, b| {
                let (da, db) = (
                    position.distance_m(a.fields.point()),
                    position.distance_m(b.fields.point()),
                );
                da.total_cmp(&db)
            })
            .map(|l| l.id.as_str().to_owned());
    }
    Ok(response)
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
    let mut data = Vec::with_capacity(page.items.len());
    for vehicle in page.items {
        data.push(respond(state, vehicle).await?);
    }
    Ok(VehiclePage {
        data,
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
    security(("clientCredentials" = [])),
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
    params(("userId" = String, Path, pattern = "^[^\\s/\\x00-\\x1F\\x7F-\\x9F]([^/\\x00-\\x1F\\x7F-\\x9F]*[^\\s/\\x00-\\x1F\\x7F-\\x9F])?$", max_length = 255, description = "The app's own identifier for the user"), PageQuery),
    responses(
        (status = 200, description = "A page of the user's vehicles", body = VehiclePage),
        (status = 404, description = "The client has no such user", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn list_user_vehicles(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(raw_user): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<ApiJson<VehiclePage>, ApiError> {
    let user = UserId::parse(&raw_user).map_err(|e| ApiError::bad_request(e.to_string()).at_path("userId"))?;
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
    security(("clientCredentials" = [])),
)]
pub async fn get_vehicle(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<VehicleResponse>, ApiError> {
    let found = vehicle(&state, &caller, &id).await?;
    Ok(ApiJson(respond(&state, found).await?))
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
    security(("clientCredentials" = [])),
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

/// Starts or stops charging. The command goes to the charger the vehicle is plugged into first
/// (when pairing has matched them), then to the vehicle's maker; each try is an attempt on the
/// Action, which is confirmed once either device is seen in the asked state. A vehicle that cannot
/// do it and has no charger (its maker's API lacks the command, a scope was not granted, the account
/// must be relinked) gets a 400 that says why.
#[utoipa::path(
    post,
    path = "/vehicles/{vehicleId}/charging",
    operation_id = "control_vehicle_charging",
    tag = "vehicles",
    params(
        ("vehicleId" = String, Path, description = "The vehicle's id"),
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "Repeating a request with the same key returns the first action (1 to 255 visible ASCII characters)"),
    ),
    request_body = ChargingRequest,
    responses(
        (status = 200, description = "The action", body = ActionResponse),
        (status = 400, description = "Malformed, or the vehicle cannot do this (the detail says why)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The client has no such vehicle", body = Problem, content_type = "application/problem+json"),
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
    command(&state, &caller, &id, charging_command(&body)?, &headers).await
}

/// The command a `{action}` body asks for.
pub(crate) fn charging_command(body: &ChargingRequest) -> Result<VehicleCommand, ApiError> {
    Ok(match body.action {
        ChargingAction::Start => VehicleCommand::Start,
        ChargingAction::Stop => VehicleCommand::Stop,
    })
}

/// The command a `{maxCurrent}` body asks for.
pub(crate) fn max_current_command(body: &MaxCurrentRequest) -> Result<VehicleCommand, ApiError> {
    let amps = body.max_current;
    if !amps.is_finite() || amps.fract() != 0.0 || !(1.0..=80.0).contains(&amps) {
        return Err(ApiError::bad_request(
            "maxCurrent must be a whole number of amperes from 1 to 80",
        )
        .at(crate::error::InvalidValue::body("/maxCurrent", "out of range").expected("an integer from 1 to 80")));
    }
    // A whole number from 1 to 80, checked above: the conversion is exact.
    Ok(VehicleCommand::SetMaxCurrent(amps as u32))
}

/// Limits the current the vehicle draws: as a charging profile on the charger it is plugged into
/// (when matched), else through its maker. Answers with a pending Action that is confirmed once the
/// limit is observed.
#[utoipa::path(
    post,
    path = "/vehicles/{vehicleId}/max-current",
    operation_id = "set_vehicle_max_current",
    tag = "vehicles",
    params(
        ("vehicleId" = String, Path, description = "The vehicle's id"),
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "Repeating a request with the same key returns the first action (1 to 255 visible ASCII characters)"),
    ),
    request_body = MaxCurrentRequest,
    responses(
        (status = 200, description = "The action", body = ActionResponse),
        (status = 400, description = "Malformed, or the vehicle cannot do this (the detail says why)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The client has no such vehicle", body = Problem, content_type = "application/problem+json"),
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
    command(&state, &caller, &id, max_current_command(&body)?, &headers).await
}

/// The identifiers a charger may report for a vehicle.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdTagsRequest {
    /// RFID tags, MAC addresses (as 2.0.1 `MacAddress` tokens or 1.6 `VID:` tags carry them) or
    /// eMAIDs; compared without case, separators or a `VID:` / `EMAID:` prefix. At most 20.
    #[schema(example = json!(["04A1B2C3D4", "VID:00:1A:2B:3C:4D:5E"]))]
    pub id_tags: Vec<String>,
}

/// Registers the identifiers a charger may report for this vehicle (its RFID cards, its MAC address
/// for "AutoCharge", its eMAID for Plug & Charge), replacing earlier ones. A charger that reports
/// one of them is matched with the vehicle at once, with the highest confidence.
#[utoipa::path(
    put,
    path = "/vehicles/{vehicleId}/id-tags",
    tag = "vehicles",
    params(("vehicleId" = String, Path, description = "The vehicle's id")),
    request_body = IdTagsRequest,
    responses(
        (status = 200, description = "The vehicle", body = VehicleResponse),
        (status = 400, description = "A malformed or duplicate identifier, or too many", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The client has no such vehicle", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn set_id_tags(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<IdTagsRequest>,
) -> Result<ApiJson<VehicleResponse>, ApiError> {
    if body.id_tags.len() > 20 {
        return Err(ApiError::bad_request("at most 20 idTags").at_field("/idTags"));
    }
    let mut seen = Vec::new();
    for (index, tag) in body.id_tags.iter().enumerate() {
        let at = format!("/idTags/{index}");
        if tag.len() > 64 || tag.chars().any(char::is_control) {
            return Err(
                ApiError::bad_request("each idTag is at most 64 characters, without control characters").at_field(&at),
            );
        }
        let Some(normal) = normalise_tag(tag) else {
            return Err(ApiError::bad_request(format!("idTag '{tag}' has no letters or digits")).at_field(&at));
        };
        if seen.contains(&normal) {
            return Err(ApiError::bad_request(format!("idTag '{tag}' is listed twice")).at_field(&at));
        }
        seen.push(normal);
    }
    let found = vehicle(&state, &caller, &id).await?;
    state
        .store
        .set_vehicle_id_tags(&caller.client_id, &found.id, &body.id_tags)
        .await?;
    // A charger that reported one of these identifiers may now know its car.
    for pair in state.store.ev_systems_of_vehicle(&caller.client_id, &found.id).await? {
        state.pairing.charger_changed(&pair.charger_id);
    }
    let updated = vehicle(&state, &caller, &id).await?;
    Ok(ApiJson(respond(&state, updated).await?))
}
