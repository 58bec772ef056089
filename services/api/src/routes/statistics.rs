//! Charging statistics: energy, cost and savings per hour, day or month, for a user, a vehicle or
//! a charger.

use axum::extract::State;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use coupler_core::costs::{Resolution, StatisticsBucket, StatisticsScope};
use coupler_core::{ChargerId, UserId, VehicleId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, InvalidValue, Problem, ValueLocation};
use crate::extract::{ApiJson, ApiQuery, Caller};
use crate::state::AppState;

/// Which sessions, cut how, over which stretch of time.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct StatisticsQuery {
    /// A user's chargers (give exactly one of `userId`, `vehicleId` and `chargerId`).
    pub user_id: Option<String>,
    /// The sessions a vehicle charged in, as pairing recognised it.
    pub vehicle_id: Option<String>,
    /// One charger.
    pub charger_id: Option<String>,
    /// `HOUR`, `DAY` or `MONTH`.
    #[param(value_type = String, example = "DAY")]
    pub resolution: String,
    /// Start of the stretch (RFC 3339).
    pub start_date: DateTime<Utc>,
    /// End of the stretch, exclusive (RFC 3339); at most 31 days after the start for `HOUR`, 366
    /// for `DAY`, about 5 years for `MONTH`.
    pub end_date: DateTime<Utc>,
    /// The IANA time zone days and months are cut in (default `UTC`).
    pub timezone: Option<String>,
}

/// Statistics, bucket by bucket. Costs are in the currency of the prices the locations were given.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatisticsResponse {
    /// The resolution asked for.
    pub resolution: String,
    /// The time zone buckets are cut in.
    pub timezone: String,
    /// Buckets with energy in them, oldest first.
    pub data: Vec<BucketResponse>,
    /// Sums over all buckets.
    pub total: TotalResponse,
}

/// One hour, day or month.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BucketResponse {
    /// Where the bucket starts.
    pub date: DateTime<Utc>,
    /// Energy taken, kWh.
    pub kwh_sum: f64,
    /// What the energy cost, where its price is known.
    pub cost_sum: f64,
    /// What charging when it did saved against charging at once from plug-in.
    pub savings_sum: f64,
    /// Sessions with energy in the bucket.
    pub sessions: u32,
}

/// Sums over the whole stretch.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TotalResponse {
    /// Energy taken, kWh.
    pub kwh_sum: f64,
    /// What it cost.
    pub cost_sum: f64,
    /// What charging when it did saved.
    pub savings_sum: f64,
}

fn rounded(value: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (value * scale).round() / scale
}

impl From<&StatisticsBucket> for BucketResponse {
    fn from(b: &StatisticsBucket) -> Self {
        Self {
            date: b.start,
            kwh_sum: rounded(b.energy_kwh, 3),
            cost_sum: rounded(b.cost, 4),
            savings_sum: rounded(b.savings, 4),
            sessions: b.sessions,
        }
    }
}

impl StatisticsQuery {
    /// Checks the query; every refusal names the parameter at fault.
    fn parse(&self) -> Result<(StatisticsScope, Resolution, Tz), ApiError> {
        let given = [&self.user_id, &self.vehicle_id, &self.charger_id]
            .iter()
            .filter(|p| p.is_some())
            .count();
        if given != 1 {
            return Err(
                ApiError::bad_request("give exactly one of userId, vehicleId and chargerId").at_query("userId"),
            );
        }
        let scope = if let Some(user) = &self.user_id {
            StatisticsScope::User(
                UserId::parse(user).map_err(|e| ApiError::bad_request(e.to_string()).at_query("userId"))?,
            )
        } else if let Some(vehicle) = &self.vehicle_id {
            StatisticsScope::Vehicle(VehicleId::new(vehicle.clone()))
        } else {
            StatisticsScope::Charger(ChargerId::new(self.charger_id.clone().unwrap_or_default()))
        };
        let (resolution, longest) = match self.resolution.as_str() {
            "HOUR" => (Resolution::Hour, Duration::days(31)),
            "DAY" => (Resolution::Day, Duration::days(366)),
            "MONTH" => (Resolution::Month, Duration::days(5 * 366)),
            _ => {
                let detail = "resolution must be HOUR, DAY or MONTH";
                return Err(ApiError::bad_request(detail).at(InvalidValue::named(
                    ValueLocation::Query,
                    "resolution",
                    detail,
                )
                .allowed(["HOUR", "DAY", "MONTH"])));
            }
        };
        if self.end_date <= self.start_date {
            return Err(ApiError::bad_request("endDate must be later than startDate").at_query("endDate"));
        }
        if self.end_date - self.start_date > longest {
            return Err(ApiError::bad_request(format!(
                "at resolution {} the stretch may be at most {} days",
                self.resolution,
                longest.num_days()
            ))
            .at_query("endDate"));
        }
        let tz: Tz = match &self.timezone {
            None => Tz::UTC,
            Some(name) => name.parse().map_err(|_| {
                ApiError::bad_request("timezone must be an IANA time zone name such as Europe/Oslo")
                    .at_query("timezone")
            })?,
        };
        Ok((scope, resolution, tz))
    }
}

/// Energy, cost and savings of a user's, a vehicle's or a charger's charging, per hour, day or
/// month. Each session is priced at its charger's location's prices; its savings are what charging
/// the same energy at once from its start, at its highest power, would have cost more.
#[utoipa::path(
    get,
    path = "/statistics/charging",
    tag = "statistics",
    params(StatisticsQuery),
    responses(
        (status = 200, description = "The statistics", body = StatisticsResponse),
        (status = 404, description = "The client has no such user, vehicle or charger", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad query or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn charging_statistics(
    caller: Caller,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<StatisticsQuery>,
) -> Result<ApiJson<StatisticsResponse>, ApiError> {
    let (scope, resolution, tz) = query.parse()?;
    let client = &caller.client_id;
    let exists = match &scope {
        StatisticsScope::User(user) => state.store.get_user(client, user).await?.is_some(),
        StatisticsScope::Vehicle(vehicle) => state.store.get_vehicle(client, vehicle).await?.is_some(),
        StatisticsScope::Charger(charger) => state.store.get_charger(client, charger).await?.is_some(),
    };
    if !exists {
        return Err(ApiError::not_found("the client has no such user, vehicle or charger"));
    }
    let buckets = state
        .engine
        .charging_statistics(client, &scope, resolution, tz, query.start_date, query.end_date)
        .await?;
    let data: Vec<BucketResponse> = buckets.iter().map(BucketResponse::from).collect();
    let total = TotalResponse {
        kwh_sum: rounded(buckets.iter().map(|b| b.energy_kwh).sum(), 3),
        cost_sum: rounded(buckets.iter().map(|b| b.cost).sum(), 4),
        savings_sum: rounded(buckets.iter().map(|b| b.savings).sum(), 4),
    };
    Ok(ApiJson(StatisticsResponse {
        resolution: query.resolution.clone(),
        timezone: tz.name().to_owned(),
        data,
        total,
    }))
}
