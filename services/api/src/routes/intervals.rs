//! Telemetry: energy and power per device (charger, vehicle) and per site (location) in
//! 15-minute intervals, with where the readings come from, kept for measuring flexibility events.

use axum::extract::State;
use chrono::{DateTime, Utc};
use coupler_core::flex::{IntervalSeries, TelemetryInterval, TelemetrySource, MAX_TELEMETRY_DAYS};
use coupler_core::location::LocationId;
use coupler_core::{ChargerId, VehicleId};
use coupler_engine::telemetry;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::state::AppState;

/// The span asked for.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct IntervalQuery {
    /// Start of the span (RFC 3339); widened to the 15-minute edge at or before it.
    pub from: DateTime<Utc>,
    /// End of the span, exclusive (RFC 3339); widened to the edge at or after it. At most 31 days
    /// after `from`.
    pub to: DateTime<Utc>,
}

impl IntervalQuery {
    fn check(&self) -> Result<(), ApiError> {
        if self.to <= self.from {
            return Err(ApiError::bad_request("to must be later than from").at_query("to"));
        }
        if self.to - self.from > chrono::Duration::days(MAX_TELEMETRY_DAYS) {
            return Err(
                ApiError::bad_request(format!("the span may be at most {MAX_TELEMETRY_DAYS} days")).at_query("to"),
            );
        }
        Ok(())
    }
}

/// A device's or site's intervals.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntervalsResponse {
    /// Where the readings come from: `CHARGER_METER` (OCPP meter values) or `VEHICLE` (the car's
    /// reported charging power).
    pub source: TelemetrySource,
    /// Where the first interval starts.
    pub from: DateTime<Utc>,
    /// Where the last interval ends.
    pub to: DateTime<Utc>,
    /// The chargers summed, for a site.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub charger_ids: Option<Vec<String>>,
    /// Every 15-minute interval of the span, oldest first (empty ones included).
    pub intervals: Vec<TelemetryInterval>,
    /// Energy over the span, kWh.
    pub energy_kwh: f64,
}

fn body(series: &IntervalSeries, source: TelemetrySource, charger_ids: Option<Vec<String>>) -> IntervalsResponse {
    let intervals = series.intervals();
    IntervalsResponse {
        source,
        from: series.from,
        to: series.to,
        charger_ids,
        energy_kwh: intervals.iter().map(|i| i.energy_kwh).sum(),
        intervals,
    }
}

/// A charger's energy and power in 15-minute intervals, from its own meter: the energy register
/// readings of its sessions, spread evenly between readings and cut at interval edges (intervals
/// with energy spread over a gap of more than 15 minutes are marked `estimated`), and each
/// interval's highest power reading.
#[utoipa::path(
    get,
    path = "/chargers/{chargerId}/intervals",
    tag = "flex",
    params(("chargerId" = String, Path, description = "The charger's id"), IntervalQuery),
    responses(
        (status = 200, description = "The charger's intervals", body = IntervalsResponse),
        (status = 404, description = "The client has no such charger", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn charger_intervals(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<IntervalQuery>,
) -> Result<ApiJson<IntervalsResponse>, ApiError> {
    query.check()?;
    let charger = state
        .store
        .get_charger(&caller.client_id, &ChargerId::new(id.as_str()))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no charger '{id}'")))?;
    let series = telemetry::charger_series(
        state.store.as_ref(),
        &caller.client_id,
        &charger.id,
        query.from,
        query.to,
    )
    .await?;
    Ok(ApiJson(body(&series, TelemetrySource::ChargerMeter, None)))
}

/// A vehicle's charging energy and power in 15-minute intervals, from the charge readings read
/// from its maker: each reported power holds until the next reading, for at most 30 minutes.
#[utoipa::path(
    get,
    path = "/vehicles/{vehicleId}/intervals",
    tag = "flex",
    params(("vehicleId" = String, Path, description = "The vehicle's id"), IntervalQuery),
    responses(
        (status = 200, description = "The vehicle's intervals", body = IntervalsResponse),
        (status = 404, description = "The client has no such vehicle", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn vehicle_intervals(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<IntervalQuery>,
) -> Result<ApiJson<IntervalsResponse>, ApiError> {
    query.check()?;
    let vehicle = state
        .store
        .get_vehicle(&caller.client_id, &VehicleId::new(id.as_str()))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no vehicle '{id}'")))?;
    let series = telemetry::vehicle_series(state.store.as_ref(), &vehicle.id, query.from, query.to).await?;
    Ok(ApiJson(body(&series, TelemetrySource::Vehicle, None)))
}

/// A site's energy and power in 15-minute intervals: the meters of the chargers placed at the
/// location, summed (each interval's `maxPowerKw` is the sum of the chargers' peaks, an upper
/// bound).
#[utoipa::path(
    get,
    path = "/locations/{locationId}/intervals",
    tag = "flex",
    params(("locationId" = String, Path, description = "The location's id"), IntervalQuery),
    responses(
        (status = 200, description = "The site's intervals", body = IntervalsResponse),
        (status = 404, description = "The client has no such location", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn location_intervals(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<IntervalQuery>,
) -> Result<ApiJson<IntervalsResponse>, ApiError> {
    query.check()?;
    let location = state
        .store
        .get_location(&caller.client_id, &LocationId::new(id.as_str()))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no location '{id}'")))?;
    let (series, chargers) = telemetry::location_series(
        state.store.as_ref(),
        &caller.client_id,
        &location.id,
        query.from,
        query.to,
    )
    .await?;
    let ids = chargers.iter().map(|c| c.as_str().to_owned()).collect();
    Ok(ApiJson(body(&series, TelemetrySource::ChargerMeter, Some(ids))))
}
