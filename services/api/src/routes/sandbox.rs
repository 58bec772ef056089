//! The sandbox API: simulated cars at the simulated makers, simulated chargers connected to the
//! gateway, plugging one into the other, and the time factor. It exists only under
//! `coupler serve --sandbox`; otherwise every route answers 404. Authentication is the same bearer
//! token as everywhere, and a client sees only the simulated cars it created and the simulated
//! chargers of its own users.
//!
//! Ids: a simulated vehicle is named by the maker's id (`vehicleId` below, for example
//! `boreal-1007`), which exists before, and independently of, Coupler linking the car; Coupler's own
//! vehicle id appears once the car is linked. A simulated charger is named by Coupler's charger id,
//! since the sandbox registers it in Coupler first.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use coupler_core::sandbox::{
    NewSimulatedCharger, NewSimulatedVehicle, Sandbox, SandboxError, SimulatedCharger, SimulatedVehicle,
    SimulatedVehicleChange,
};
use coupler_core::{ChargerId, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::chargers::{register, RegisterCharger};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiPath, Caller};
use crate::state::AppState;

pub(crate) fn sandbox(state: &AppState) -> Result<Arc<dyn Sandbox>, ApiError> {
    state
        .sandbox
        .clone()
        .ok_or_else(|| ApiError::not_found("the sandbox API exists only when Coupler runs with `serve --sandbox`"))
}

impl From<SandboxError> for ApiError {
    fn from(error: SandboxError) -> Self {
        match error {
            SandboxError::NotFound(detail) => ApiError::not_found(detail),
            SandboxError::Invalid(detail) => ApiError::bad_request(detail),
            SandboxError::Conflict(detail) => ApiError::new(StatusCode::CONFLICT, "conflict", detail),
        }
    }
}

/// A new simulated car.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSandboxVehicle {
    /// The simulated maker: `SIM_AURORA` (full control), `SIM_BOREAL` (cannot stop charging),
    /// `SIM_CIRRUS` (read-only) or `SIM_NIMBUS` (sleeps and rate-limits).
    #[schema(value_type = crate::wire::SandboxBrand, example = "SIM_BOREAL")]
    pub brand: String,
    /// Model name (the brand's usual model when absent). An Aurora whose model contains "Classic"
    /// cannot have its charging current set.
    pub model: Option<String>,
    /// State of charge, percent (0–100; 50 when absent).
    pub battery_level: Option<f64>,
    /// Charge limit, percent (50–100; 80 when absent).
    pub charge_limit: Option<f64>,
    /// The car's MAC address (six hex pairs), which chargers with `sendsVehicleIdentity` report as
    /// the car's identity.
    #[schema(example = "02:1A:2B:3C:4D:5E")]
    pub mac_address: Option<String>,
    /// The username of one of your simulated accounts at the same maker to add the car to; a new
    /// account when absent.
    pub account: Option<String>,
    /// The most current the car itself draws, amperes per phase (6–32; the brand's usual when
    /// absent). Cars with different maximums draw different power, which pairing compares with
    /// the chargers' meters.
    #[schema(minimum = 6, maximum = 32)]
    pub max_current: Option<u32>,
}

/// The login of a simulated maker's account, for its sign-in page during linking.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SandboxLogin {
    /// Username at the simulated maker.
    pub username: String,
    /// Password at the simulated maker (a demo password of the simulation, not a Coupler secret).
    pub password: String,
}

/// A simulated car as the simulated maker knows it, live (Coupler's view of it, once linked, is at
/// `GET /vehicles/{id}` and lags behind as a maker's API does).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SandboxVehicle {
    /// The maker's id of the car (not Coupler's vehicle id).
    #[schema(example = "boreal-1007")]
    pub id: String,
    /// Coupler's vendor name of its maker.
    pub vendor: String,
    /// VIN.
    pub vin: String,
    /// Model.
    pub model: String,
    /// The account it belongs to, with the login to use on the link page.
    pub login: SandboxLogin,
    /// State of charge, percent.
    pub battery_level: f64,
    /// Charge limit, percent.
    pub charge_limit: f64,
    /// Usable battery capacity, kWh (as `chargeState.batteryCapacity`).
    pub battery_capacity: f64,
    /// Most current it draws, amperes per phase.
    pub max_current: u32,
    /// Whether a cable is in (as `chargeState.isPluggedIn`).
    pub is_plugged_in: bool,
    /// Coupler's id of the simulated charger it is plugged into.
    pub charger_id: Option<String>,
    /// `unplugged`, `charging`, `complete`, `stopped` or `no_power`.
    pub status: String,
    /// Power drawn now, kW (as `chargeState.chargeRate`).
    pub charge_rate: f64,
    /// Whether it sleeps.
    pub asleep: bool,
    /// Whether its own charging schedule holds it from charging.
    pub schedule_hold: bool,
    /// Its MAC address, if it has one.
    pub mac_address: Option<String>,
    /// Where it is: latitude, degrees (the maker reports it as the car's position).
    pub latitude: f64,
    /// Where it is: longitude, degrees.
    pub longitude: f64,
}

impl From<SimulatedVehicle> for SandboxVehicle {
    fn from(v: SimulatedVehicle) -> Self {
        Self {
            id: v.id,
            vendor: v.vendor,
            vin: v.vin,
            model: v.model,
            login: SandboxLogin {
                username: v.login.username,
                password: v.login.password,
            },
            battery_level: v.battery_level,
            charge_limit: v.charge_limit,
            battery_capacity: v.capacity_kwh,
            max_current: v.max_current,
            is_plugged_in: v.plugged_in,
            charger_id: v.charger_id.map(|c| c.as_str().to_owned()),
            status: v.status,
            charge_rate: v.power_kw,
            asleep: v.asleep,
            schedule_hold: v.schedule_hold,
            mac_address: v.mac_address,
            latitude: v.latitude,
            longitude: v.longitude,
        }
    }
}

/// Your simulated cars.
#[derive(Debug, Serialize, ToSchema)]
pub struct SandboxVehicleList {
    /// The cars, in the order they were made.
    pub data: Vec<SandboxVehicle>,
}

/// A change to a simulated car; fields left out are kept, and at least one is needed.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct UpdateSandboxVehicle {
    /// State of charge, percent (0–100).
    pub battery_level: Option<f64>,
    /// Charge limit, percent (50–100).
    pub charge_limit: Option<f64>,
    /// Puts the car to sleep (`true`) or wakes it.
    pub asleep: Option<bool>,
    /// Whether the car's own charging schedule holds it: plugged in and offered power, it draws
    /// nothing until released.
    pub schedule_hold: Option<bool>,
    /// Moves the car (with `longitude`): latitude, degrees, −90 to 90.
    #[schema(minimum = -90, maximum = 90)]
    pub latitude: Option<f64>,
    /// Moves the car (with `latitude`): longitude, degrees, −180 to 180.
    #[schema(minimum = -180, maximum = 180)]
    pub longitude: Option<f64>,
    /// The most current the car itself draws, amperes per phase (6–32).
    #[schema(minimum = 6, maximum = 32)]
    pub max_current: Option<u32>,
}

/// A simulated charger to register for a user and connect to the gateway.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSandboxCharger {
    /// `1.6` or `2.0.1`.
    #[schema(value_type = coupler_core::charger::OcppProtocol, example = "2.0.1")]
    pub ocpp_version: String,
    /// Its OCPP identity (generated when absent).
    pub ocpp_id: Option<String>,
    /// A name for people: not blank, at most 100 characters, no control characters.
    #[schema(
        max_length = 100,
        pattern = "^[^\\x00-\\x1F\\x7F-\\x9F]*[^\\s\\x00-\\x1F\\x7F-\\x9F][^\\x00-\\x1F\\x7F-\\x9F]*$"
    )]
    pub name: Option<String>,
    /// Whether it starts a transaction itself when a car is plugged in (free vending, as most home
    /// chargers do); `true` when absent. Without it, charging starts only by a remote start.
    pub auto_start: Option<bool>,
    /// Whether it starts transactions with the plugged car's MAC address as identity (1.6:
    /// `VID:<MAC>` id tag; 2.0.1: a `MacAddress` idToken), as AutoCharge chargers do; `false` when
    /// absent.
    pub sends_vehicle_identity: Option<bool>,
}

/// A simulated charger.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SandboxCharger {
    /// Coupler's charger id (the same as in `GET /chargers/{chargerId}`).
    pub id: String,
    /// The user it belongs to.
    pub user_id: String,
    /// Its OCPP identity.
    pub ocpp_id: String,
    /// `1.6` or `2.0.1`.
    #[schema(value_type = coupler_core::charger::OcppProtocol)]
    pub ocpp_version: String,
    /// Whether it starts a transaction when a car is plugged in.
    pub auto_start: bool,
    /// Whether it reports the plugged car's MAC address.
    pub sends_vehicle_identity: bool,
    /// Whether its WebSocket to the gateway is open and its boot accepted (as a charger's
    /// `isReachable`).
    pub is_reachable: bool,
    /// The maker's id of the car plugged in, if any.
    pub vehicle_id: Option<String>,
    /// The connector status it last reported (OCPP 1.6 names; a 2.0.1 charger reports the same
    /// states as connectorStatus and chargingState).
    pub status: String,
    /// Current offered now, amperes per phase (its transaction, charging profiles and 32 A rating).
    pub offered_current: f64,
    /// Power delivered now, kW (as `chargeState.chargeRate`).
    pub charge_rate: f64,
    /// Its energy register, Wh.
    pub energy_wh: f64,
}

impl From<SimulatedCharger> for SandboxCharger {
    fn from(c: SimulatedCharger) -> Self {
        Self {
            id: c.id.as_str().to_owned(),
            user_id: c.user_id.as_str().to_owned(),
            ocpp_id: c.ocpp_id,
            ocpp_version: c.ocpp_version,
            auto_start: c.auto_start,
            sends_vehicle_identity: c.sends_vehicle_identity,
            is_reachable: c.connected,
            vehicle_id: c.vehicle_id,
            status: c.status,
            offered_current: c.offered_current,
            charge_rate: c.power_kw,
            energy_wh: c.energy_wh,
        }
    }
}

/// Your simulated chargers.
#[derive(Debug, Serialize, ToSchema)]
pub struct SandboxChargerList {
    /// The chargers, newest first.
    pub data: Vec<SandboxCharger>,
}

/// Plug a simulated car into a simulated charger.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlugRequest {
    /// The maker's id of the car (from `POST /sandbox/vehicles`).
    #[schema(example = "boreal-1007")]
    pub vehicle_id: String,
    /// Coupler's id of the simulated charger.
    pub charger_id: String,
}

/// Unplug a simulated car.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UnplugRequest {
    /// The maker's id of the car.
    pub vehicle_id: String,
}

/// How far behind its cars the simulated makers' APIs report.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportDelay {
    /// Seconds, 0 to 600: the makers' APIs report each car as it was this long ago, as real makers'
    /// clouds lag behind their cars (a charger reports a plug-in at once). It applies to the whole
    /// sandbox, every client alike.
    #[schema(example = 10.0, minimum = 0, maximum = 600)]
    pub seconds: f64,
}

/// How much faster than real time the simulated batteries charge.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeFactor {
    /// 1 is real time; at most 3600 (an hour of charging per second). It applies to the whole
    /// sandbox, every client alike.
    #[schema(example = 60.0)]
    pub factor: f64,
}

/// Creates a simulated car at a simulated maker, in a new simulated account of yours (or one you
/// name). Link it with `POST /users/{userId}/link` and the login in the answer.
#[utoipa::path(
    post,
    path = "/sandbox/vehicles",
    tag = "sandbox",
    request_body = CreateSandboxVehicle,
    responses(
        (status = 201, description = "Created", body = SandboxVehicle),
        (status = 404, description = "Not in sandbox mode, or an unknown account", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn create_sandbox_vehicle(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateSandboxVehicle>,
) -> Result<(StatusCode, ApiJson<SandboxVehicle>), ApiError> {
    let sandbox = sandbox(&state)?;
    let car = sandbox
        .create_vehicle(
            &caller.client_id,
            NewSimulatedVehicle {
                brand: body.brand,
                model: body.model,
                battery_level: body.battery_level,
                charge_limit: body.charge_limit,
                mac_address: body.mac_address,
                account: body.account,
                max_current: body.max_current,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, ApiJson(car.into())))
}

/// Lists your simulated cars, live.
#[utoipa::path(
    get,
    path = "/sandbox/vehicles",
    tag = "sandbox",
    responses(
        (status = 200, description = "Your simulated cars", body = SandboxVehicleList),
        (status = 404, description = "Not in sandbox mode", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn list_sandbox_vehicles(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<ApiJson<SandboxVehicleList>, ApiError> {
    let sandbox = sandbox(&state)?;
    let data = sandbox
        .list_vehicles(&caller.client_id)
        .await
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(ApiJson(SandboxVehicleList { data }))
}

/// Changes a simulated car: state of charge, charge limit, sleep, or its own schedule's hold.
#[utoipa::path(
    patch,
    path = "/sandbox/vehicles/{vehicleId}",
    tag = "sandbox",
    params(("vehicleId" = String, Path, description = "The maker's id of the car")),
    request_body = UpdateSandboxVehicle,
    responses(
        (status = 200, description = "The car afterwards", body = SandboxVehicle),
        (status = 404, description = "Not in sandbox mode, or no such car of yours", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn update_sandbox_vehicle(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(vehicle_id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateSandboxVehicle>,
) -> Result<ApiJson<SandboxVehicle>, ApiError> {
    let sandbox = sandbox(&state)?;
    if body.battery_level.is_none()
        && body.charge_limit.is_none()
        && body.asleep.is_none()
        && body.schedule_hold.is_none()
        && body.latitude.is_none()
        && body.longitude.is_none()
        && body.max_current.is_none()
    {
        return Err(ApiError::bad_request(
            "nothing to change: give batteryLevel, chargeLimit, asleep, scheduleHold, latitude and longitude, or maxCurrent",
        ));
    }
    let car = sandbox
        .update_vehicle(
            &caller.client_id,
            &vehicle_id,
            SimulatedVehicleChange {
                battery_level: body.battery_level,
                charge_limit: body.charge_limit,
                asleep: body.asleep,
                schedule_hold: body.schedule_hold,
                latitude: body.latitude,
                longitude: body.longitude,
                max_current: body.max_current,
            },
        )
        .await?;
    Ok(ApiJson(car.into()))
}

/// Registers a charger for one of your users, exactly as `POST /users/{userId}/chargers` does, and
/// connects a simulated charger with that identity and password to the gateway over OCPP: a 3-phase
/// 230 V, 32 A home charger speaking OCPP 1.6J or 2.0.1.
#[utoipa::path(
    post,
    path = "/sandbox/users/{userId}/chargers",
    tag = "sandbox",
    params(("userId" = String, Path, pattern = "^[^\\s/\\x00-\\x1F\\x7F-\\x9F]([^/\\x00-\\x1F\\x7F-\\x9F]*[^\\s/\\x00-\\x1F\\x7F-\\x9F])?$", max_length = 255, description = "The app's own identifier for the user")),
    request_body = CreateSandboxCharger,
    responses(
        (status = 201, description = "Registered and connecting", body = SandboxCharger),
        (status = 404, description = "Not in sandbox mode", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The OCPP identity is already registered", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn create_sandbox_charger(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(raw_user): ApiPath<String>,
    ApiJson(body): ApiJson<CreateSandboxCharger>,
) -> Result<(StatusCode, ApiJson<SandboxCharger>), ApiError> {
    let sandbox = sandbox(&state)?;
    // Checked before anything is registered, so a bad request changes nothing.
    if !matches!(body.ocpp_version.as_str(), "1.6" | "2.0.1") {
        return Err(ApiError::bad_request("ocppVersion must be \"1.6\" or \"2.0.1\""));
    }
    let user = UserId::parse(&raw_user).map_err(|e| ApiError::bad_request(e.to_string()).at_path("userId"))?;
    let ocpp_id = body.ocpp_id.unwrap_or_else(|| {
        let id = ChargerId::generate();
        let tail: String = id.as_str().chars().rev().take(8).collect();
        format!("SIM-{tail}")
    });
    let registered = register(
        &state,
        &caller,
        &raw_user,
        RegisterCharger {
            ocpp_id,
            name: body.name,
            location_id: None,
        },
    )
    .await?;
    let charger = sandbox
        .add_charger(
            &caller.client_id,
            NewSimulatedCharger {
                charger_id: ChargerId::new(&registered.charger.id),
                user_id: user,
                ocpp_id: registered.charger.ocpp_id.clone(),
                ocpp_url: registered.charger.ocpp_url.clone(),
                password: registered.password,
                ocpp_version: body.ocpp_version,
                auto_start: body.auto_start.unwrap_or(true),
                sends_vehicle_identity: body.sends_vehicle_identity.unwrap_or(false),
            },
        )
        .await?;
    Ok((StatusCode::CREATED, ApiJson(charger.into())))
}

/// Lists the simulated chargers of your users.
#[utoipa::path(
    get,
    path = "/sandbox/chargers",
    tag = "sandbox",
    responses(
        (status = 200, description = "Your simulated chargers", body = SandboxChargerList),
        (status = 404, description = "Not in sandbox mode", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn list_sandbox_chargers(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<ApiJson<SandboxChargerList>, ApiError> {
    let sandbox = sandbox(&state)?;
    let data = sandbox
        .list_chargers(&caller.client_id)
        .await
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(ApiJson(SandboxChargerList { data }))
}

/// Plugs a simulated car into a simulated charger. The charger reports it over OCPP at once (and,
/// with auto-start, starts a transaction); the maker's API reports the car plugged in a little later.
#[utoipa::path(
    post,
    path = "/sandbox/plug",
    tag = "sandbox",
    request_body = PlugRequest,
    responses(
        (status = 200, description = "The car, plugged in", body = SandboxVehicle),
        (status = 404, description = "Not in sandbox mode, or no such car or charger of yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The car is in another charger, or the charger holds another car", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn plug(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<PlugRequest>,
) -> Result<ApiJson<SandboxVehicle>, ApiError> {
    let sandbox = sandbox(&state)?;
    let car = sandbox
        .plug(&caller.client_id, &body.vehicle_id, &ChargerId::new(&body.charger_id))
        .await?;
    Ok(ApiJson(car.into()))
}

/// Unplugs a simulated car.
#[utoipa::path(
    post,
    path = "/sandbox/unplug",
    tag = "sandbox",
    request_body = UnplugRequest,
    responses(
        (status = 200, description = "The car, unplugged", body = SandboxVehicle),
        (status = 404, description = "Not in sandbox mode, or no such car of yours", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn unplug(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<UnplugRequest>,
) -> Result<ApiJson<SandboxVehicle>, ApiError> {
    let sandbox = sandbox(&state)?;
    let car = sandbox.unplug(&caller.client_id, &body.vehicle_id).await?;
    Ok(ApiJson(car.into()))
}

/// The sandbox's time factor.
#[utoipa::path(
    get,
    path = "/sandbox/time-factor",
    tag = "sandbox",
    responses(
        (status = 200, description = "The time factor", body = TimeFactor),
        (status = 404, description = "Not in sandbox mode", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn get_time_factor(_caller: Caller, State(state): State<AppState>) -> Result<ApiJson<TimeFactor>, ApiError> {
    let sandbox = sandbox(&state)?;
    Ok(ApiJson(TimeFactor {
        factor: sandbox.time_factor(),
    }))
}

/// Sets how much faster than real time simulated batteries charge, to speed a demo up.
#[utoipa::path(
    put,
    path = "/sandbox/time-factor",
    tag = "sandbox",
    request_body = TimeFactor,
    responses(
        (status = 200, description = "The time factor now", body = TimeFactor),
        (status = 404, description = "Not in sandbox mode", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn set_time_factor(
    _caller: Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<TimeFactor>,
) -> Result<ApiJson<TimeFactor>, ApiError> {
    let sandbox = sandbox(&state)?;
    let factor = sandbox.set_time_factor(body.factor).await?;
    Ok(ApiJson(TimeFactor { factor }))
}

/// How far behind its cars the simulated makers report.
#[utoipa::path(
    get,
    path = "/sandbox/report-delay",
    tag = "sandbox",
    responses(
        (status = 200, description = "The makers' reporting delay", body = ReportDelay),
        (status = 404, description = "Not in sandbox mode", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn get_report_delay(
    _caller: Caller,
    State(state): State<AppState>,
) -> Result<ApiJson<ReportDelay>, ApiError> {
    let sandbox = sandbox(&state)?;
    Ok(ApiJson(ReportDelay {
        seconds: sandbox.report_delay(),
    }))
}

/// Sets how far behind its cars the simulated makers report, to reproduce a slow maker (and the
/// seconds in which a charger knows of a plug-in before the car's maker does).
#[utoipa::path(
    put,
    path = "/sandbox/report-delay",
    tag = "sandbox",
    request_body = ReportDelay,
    responses(
        (status = 200, description = "The makers' reporting delay now", body = ReportDelay),
        (status = 404, description = "Not in sandbox mode", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn set_report_delay(
    _caller: Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ReportDelay>,
) -> Result<ApiJson<ReportDelay>, ApiError> {
    let sandbox = sandbox(&state)?;
    let seconds = sandbox.set_report_delay(body.seconds).await?;
    Ok(ApiJson(ReportDelay { seconds }))
}
