//! The sandbox's time: its clock, which Coupler and the simulated world both read and which can run
//! up to 360 times as fast as real time, and commuting cars that come home to a charger every evening
//! with a random state of charge and leave every morning. Together they let smart charging be
//! watched night after night in minutes. Only under `coupler serve --sandbox`; otherwise 404.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, NaiveTime, Utc};
use coupler_core::sandbox::{Commute, CommuteStay, CommuteView, SandboxClock};
use coupler_core::ChargerId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::sandbox::sandbox;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiPath, Caller};
use crate::state::AppState;

/// The sandbox's clock.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SandboxClockBody {
    /// The sandbox's time now, which Coupler's plans, prices and deadlines, the simulated chargers'
    /// charging profiles and the simulated cars all follow.
    pub now: DateTime<Utc>,
    /// How many times as fast as real time it runs (1 to 360).
    #[schema(example = 60.0)]
    pub rate: f64,
}

impl From<SandboxClock> for SandboxClockBody {
    fn from(clock: SandboxClock) -> Self {
        Self {
            now: clock.now,
            rate: clock.rate,
        }
    }
}

/// A change of the sandbox's clock: its pace, a jump forward, or both.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetSandboxClock {
    /// How many times as fast as real time to run from now on: 1 (real time) to 360 (a day in four
    /// minutes). Plans, deadlines, price days, charging profiles and batteries all follow; OCPP
    /// heartbeats and meter-value intervals keep real time.
    #[schema(example = 60.0)]
    pub rate: Option<f64>,
    /// Minutes to jump forward at once (0 to 10080, a week); the clock never goes back.
    #[schema(example = 360)]
    pub advance_minutes: Option<i64>,
}

/// The state of charge a commuting car comes home with: drawn anew each evening between the two.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArrivalLevel {
    /// Lowest, percent.
    #[schema(example = 20.0)]
    pub min: f64,
    /// Highest, percent.
    #[schema(example = 60.0)]
    pub max: f64,
}

/// A simulated car's daily commute to one of your simulated chargers.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetCommute {
    /// Coupler's id of the simulated charger it comes home to.
    pub charger_id: String,
    /// When it comes home and is plugged in, local time `HH:MM`.
    #[schema(example = "18:00")]
    pub arrive: String,
    /// When it is unplugged and leaves, local time `HH:MM` (the next morning if earlier than `arrive`).
    #[schema(example = "07:00")]
    pub leave: String,
    /// The IANA time zone of `arrive` and `leave`; UTC when absent. Give the same zone as the
    /// charger's location so the commute and a smart-charging policy's deadline agree.
    #[schema(example = "Europe/Amsterdam")]
    pub time_zone: Option<String>,
    /// The state of charge it comes home with; 20 to 60 % when absent.
    pub arrival_battery_level: Option<ArrivalLevel>,
}

/// One evening-to-morning stay of a commuting car.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommuteStayBody {
    /// When it came home (sandbox time).
    pub arrived_at: DateTime<Utc>,
    /// State of charge when it came home, percent.
    pub arrival_battery_level: f64,
    /// When it left, once it has.
    pub left_at: Option<DateTime<Utc>>,
    /// State of charge when it left, percent: what smart charging achieved by the deadline.
    pub departure_battery_level: Option<f64>,
    /// Why it could not be plugged in, if it could not (the charger held another car, say).
    pub not_plugged: Option<String>,
}

impl From<CommuteStay> for CommuteStayBody {
    fn from(stay: CommuteStay) -> Self {
        Self {
            arrived_at: stay.arrived_at,
            arrival_battery_level: stay.arrival_battery_level,
            left_at: stay.left_at,
            departure_battery_level: stay.departure_battery_level,
            not_plugged: stay.not_plugged,
        }
    }
}

/// A car's commute and where it stands.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommuteBody {
    /// The maker's id of the car.
    pub vehicle_id: String,
    /// Coupler's id of the charger it comes home to.
    pub charger_id: String,
    /// When it comes home, local time.
    #[schema(example = "18:00")]
    pub arrive: String,
    /// When it leaves, local time.
    #[schema(example = "07:00")]
    pub leave: String,
    /// The time zone of `arrive` and `leave`.
    pub time_zone: String,
    /// The state of charge it comes home with.
    pub arrival_battery_level: ArrivalLevel,
    /// Whether it is home now.
    pub at_home: bool,
    /// When it next comes home (while away).
    pub next_arrival: Option<DateTime<Utc>>,
    /// When it next leaves (while home).
    pub next_departure: Option<DateTime<Utc>>,
    /// Its latest stays, newest first (at most 30).
    pub stays: Vec<CommuteStayBody>,
}

impl From<CommuteView> for CommuteBody {
    fn from(view: CommuteView) -> Self {
        Self {
            vehicle_id: view.vehicle_id,
            charger_id: view.commute.charger_id.to_string(),
            arrive: view.commute.arrive.format("%H:%M").to_string(),
            leave: view.commute.leave.format("%H:%M").to_string(),
            time_zone: view.commute.time_zone.name().to_owned(),
            arrival_battery_level: ArrivalLevel {
                min: view.commute.arrival_level_min,
                max: view.commute.arrival_level_max,
            },
            at_home: view.at_home,
            next_arrival: view.next_arrival,
            next_departure: view.next_departure,
            stays: view.stays.into_iter().map(Into::into).collect(),
        }
    }
}

fn local_time(text: &str, field: &str) -> Result<NaiveTime, ApiError> {
    NaiveTime::parse_from_str(text, "%H:%M")
        .map_err(|_| ApiError::bad_request(format!("{field} must be a local time HH:MM, not '{text}'")))
}

/// The sandbox's clock: its time and pace.
#[utoipa::path(
    get,
    path = "/sandbox/clock",
    tag = "sandbox",
    responses(
        (status = 200, description = "The sandbox's clock", body = SandboxClockBody),
        (status = 404, description = "Not in sandbox mode", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn get_clock(_caller: Caller, State(state): State<AppState>) -> Result<ApiJson<SandboxClockBody>, ApiError> {
    Ok(ApiJson(sandbox(&state)?.clock().into()))
}

/// Runs the sandbox's clock faster, or jumps it forward: for the whole sandbox, Coupler included
/// (plans, deadlines, prices, charging profiles, batteries). To watch a plan true to life, leave
/// `/sandbox/time-factor` at 1 so batteries fill at the pace the clock says.
#[utoipa::path(
    put,
    path = "/sandbox/clock",
    tag = "sandbox",
    request_body = SetSandboxClock,
    responses(
        (status = 200, description = "The sandbox's clock now", body = SandboxClockBody),
        (status = 404, description = "Not in sandbox mode", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn set_clock(
    _caller: Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SetSandboxClock>,
) -> Result<ApiJson<SandboxClockBody>, ApiError> {
    let sandbox = sandbox(&state)?;
    if body.rate.is_none() && body.advance_minutes.is_none() {
        return Err(ApiError::bad_request(
            "nothing to change: give rate, advanceMinutes, or both",
        ));
    }
    let advance = match body.advance_minutes {
        Some(minutes) if !(0..=10_080).contains(&minutes) => {
            return Err(ApiError::bad_request("advanceMinutes must be from 0 to 10080 (a week)"))
        }
        Some(minutes) => Some(chrono::Duration::minutes(minutes)),
        None => None,
    };
    Ok(ApiJson(sandbox.set_clock(body.rate, advance).await?.into()))
}

/// Gives one of your simulated cars a daily commute: every evening it comes home to the charger
/// with a random state of charge and is plugged in; every morning it is unplugged and leaves.
/// Replaces any commute it had; the car counts as away until its next arrival.
#[utoipa::path(
    put,
    path = "/sandbox/vehicles/{vehicleId}/commute",
    tag = "sandbox",
    params(("vehicleId" = String, Path, description = "The maker's id of the car")),
    request_body = SetCommute,
    responses(
        (status = 200, description = "The commute", body = CommuteBody),
        (status = 404, description = "Not in sandbox mode, or no such car or charger of yours", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn set_commute(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(vehicle_id): ApiPath<String>,
    ApiJson(body): ApiJson<SetCommute>,
) -> Result<ApiJson<CommuteBody>, ApiError> {
    let sandbox = sandbox(&state)?;
    let time_zone = match &body.time_zone {
        Some(name) => name
            .parse()
            .map_err(|_| ApiError::bad_request(format!("timeZone '{name}' is not an IANA time zone")))?,
        None => chrono_tz::UTC,
    };
    let level = body
        .arrival_battery_level
        .unwrap_or(ArrivalLevel { min: 20.0, max: 60.0 });
    let commute = Commute {
        charger_id: ChargerId::new(&body.charger_id),
        arrive: local_time(&body.arrive, "arrive")?,
        leave: local_time(&body.leave, "leave")?,
        time_zone,
        arrival_level_min: level.min,
        arrival_level_max: level.max,
    };
    let view = sandbox.set_commute(&caller.client_id, &vehicle_id, commute).await?;
    Ok(ApiJson(view.into()))
}

/// A simulated car's commute: where it stands and its latest stays, each with the state of charge
/// it came home and left with.
#[utoipa::path(
    get,
    path = "/sandbox/vehicles/{vehicleId}/commute",
    tag = "sandbox",
    params(("vehicleId" = String, Path, description = "The maker's id of the car")),
    responses(
        (status = 200, description = "The commute", body = CommuteBody),
        (status = 404, description = "Not in sandbox mode, no such car of yours, or it has no commute", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn get_commute(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(vehicle_id): ApiPath<String>,
) -> Result<ApiJson<CommuteBody>, ApiError> {
    let view = sandbox(&state)?.commute(&caller.client_id, &vehicle_id).await?;
    Ok(ApiJson(view.into()))
}

/// Ends a simulated car's commute; the car stays where it is.
#[utoipa::path(
    delete,
    path = "/sandbox/vehicles/{vehicleId}/commute",
    tag = "sandbox",
    params(("vehicleId" = String, Path, description = "The maker's id of the car")),
    responses(
        (status = 204, description = "Ended"),
        (status = 404, description = "Not in sandbox mode, no such car of yours, or it has no commute", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn delete_commute(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(vehicle_id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    sandbox(&state)?.delete_commute(&caller.client_id, &vehicle_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
