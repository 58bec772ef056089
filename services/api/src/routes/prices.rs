//! Tariffs and prices: a location's time-of-use tariff, price and carbon-intensity series pushed
//! per location or per price area, the effective prices a location is planned against (with each
//! slot's source), and the day-ahead providers Coupler fetches from.
//!
//! - `PUT|GET|DELETE /locations/{locationId}/tariff`: named rates on weekday intervals in the
//!   location's time zone, covering the week exactly once.
//! - `POST /locations/{locationId}/prices`, `POST /price-areas/{area}/prices` (and the same for
//!   `carbon-intensity`): a series of 15-minute or hourly slots without gaps, replacing what was
//!   stored over the same stretch of time. An `Idempotency-Key` makes a push safe to retry. A price
//!   area's series is the pushing client's own: another client's area of the same name is another.
//! - `GET /locations/{locationId}/prices?from=&to=` (and `carbon-intensity`): the location's series,
//!   then its area's, then its provider's, then its tariff's, each slot saying where it comes from,
//!   and how fetching the provider's prices has gone.
//! - `GET /price-providers`: the configured providers, their areas, and how fetching goes.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Duration, Utc};
use coupler_core::location::{Location, LocationId};
use coupler_core::store::StoredTariff;
use coupler_core::tariff::tou::{floor_quarter, Rate, TouInterval};
use coupler_core::tariff::{
    PriceArea, PriceSource, Series, SeriesError, SeriesKind, SeriesOwner, SeriesPush, SeriesSlot, TouDefinition,
    TouTariff,
};
use coupler_engine::{EffectiveSeries, ProviderUse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::control::idempotency_key;
use crate::error::{ApiError, InvalidValue, Problem, ValueLocation};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::state::AppState;

/// The longest window `GET .../prices` answers for.
pub const MAX_WINDOW_DAYS: i64 = 31;

/// The window `GET .../prices` answers for when none is given, from the current quarter hour.
pub const DEFAULT_WINDOW_HOURS: i64 = 48;

/// A location's time-of-use tariff.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TariffResponse {
    /// The location.
    pub location_id: String,
    /// The rates.
    pub rates: Vec<Rate>,
    /// When each rate applies, in the location's time zone.
    pub schedule: Vec<TouInterval>,
    /// When the location first had a tariff.
    pub created_at: DateTime<Utc>,
    /// When it was last replaced.
    pub updated_at: DateTime<Utc>,
}

impl From<StoredTariff> for TariffResponse {
    fn from(stored: StoredTariff) -> Self {
        let definition = stored.tariff.definition().clone();
        Self {
            location_id: stored.location_id.to_string(),
            rates: definition.rates,
            schedule: definition.schedule,
            created_at: stored.created_at,
            updated_at: stored.updated_at,
        }
    }
}

/// One slot of a price series: the price per kWh from `start` to `end`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PriceSlotRequest {
    /// Where the slot starts, on a quarter hour.
    #[schema(example = "2025-01-15T13:00:00Z")]
    pub start: DateTime<Utc>,
    /// Where it ends: 15 or 60 minutes after the start, the same for every slot of the series.
    #[schema(example = "2025-01-15T14:00:00Z")]
    pub end: DateTime<Utc>,
    /// Price per kWh drawn from the grid, in the location's currency (may be negative).
    #[schema(example = 0.2315)]
    pub price_per_kwh: f64,
}

/// A price series: slots of one length (15 or 60 minutes) that follow each other without gaps.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PriceSeriesRequest {
    /// The slots, in any order; at most 2,976 (a month of quarter hours).
    pub slots: Vec<PriceSlotRequest>,
}

/// One slot of a carbon-intensity series.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CarbonSlotRequest {
    /// Where the slot starts, on a quarter hour.
    #[schema(example = "2025-01-15T13:00:00Z")]
    pub start: DateTime<Utc>,
    /// Where it ends: 15 or 60 minutes after the start, the same for every slot of the series.
    #[schema(example = "2025-01-15T14:00:00Z")]
    pub end: DateTime<Utc>,
    /// Grams of CO₂ emitted per kWh drawn from the grid, 0 or more.
    #[schema(example = 312.0, minimum = 0)]
    pub grams_co2_per_kwh: f64,
}

/// A carbon-intensity series: slots of one length (15 or 60 minutes) without gaps.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CarbonSeriesRequest {
    /// The slots, in any order; at most 2,976.
    pub slots: Vec<CarbonSlotRequest>,
}

/// A stored push. A retry with the same `Idempotency-Key` answers this same push.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeriesPushResponse {
    /// The push's id.
    pub id: String,
    /// The location it was pushed for, if it was.
    pub location_id: Option<String>,
    /// The price area it was pushed for, if it was.
    #[schema(example = "DE-LU")]
    pub price_area: Option<String>,
    /// Prices or carbon intensity.
    pub kind: SeriesKind,
    /// How many slots.
    pub slot_count: u32,
    /// Each slot's length in minutes (15 or 60).
    pub slot_minutes: u32,
    /// The first slot's start.
    pub start: DateTime<Utc>,
    /// The last slot's end: the series replaced what was stored from `start` to here.
    pub end: DateTime<Utc>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
}

impl From<SeriesPush> for SeriesPushResponse {
    fn from(push: SeriesPush) -> Self {
        let (location_id, price_area) = match &push.owner {
            SeriesOwner::Location { location, .. } => (Some(location.to_string()), None),
            SeriesOwner::Area { area, .. } => (None, Some(area.to_string())),
            SeriesOwner::Provider { area, .. } => (None, Some(area.to_string())),
        };
        Self {
            id: push.id.to_string(),
            location_id,
            price_area,
            kind: push.kind,
            slot_count: push.slot_count,
            slot_minutes: push.slot_minutes,
            start: push.start,
            end: push.end,
            created_at: push.created_at,
        }
    }
}

/// The window of a `GET .../prices`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct WindowQuery {
    /// Start of the window (RFC 3339); the current quarter hour when absent.
    pub from: Option<DateTime<Utc>>,
    /// End of the window (RFC 3339), after `from` and at most 31 days from it; 48 hours after
    /// `from` when absent.
    pub to: Option<DateTime<Utc>>,
}

/// One slot of a location's effective prices.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EffectivePriceSlot {
    /// Where it starts.
    pub start: DateTime<Utc>,
    /// Where it ends.
    pub end: DateTime<Utc>,
    /// Price per kWh drawn from the grid.
    pub price_per_kwh: f64,
    /// Where the price comes from: a pushed series (the location's, else its area's), the
    /// provider, or the tariff.
    pub source: PriceSource,
    /// The tariff's rate, for a slot from the tariff.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<String>,
}

/// One slot of a location's effective carbon intensity.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EffectiveCarbonSlot {
    /// Where it starts.
    pub start: DateTime<Utc>,
    /// Where it ends.
    pub end: DateTime<Utc>,
    /// Grams of CO₂ per kWh drawn from the grid.
    pub grams_co2_per_kwh: f64,
    /// Where the value comes from: a pushed series or the provider.
    pub source: PriceSource,
}

/// How fetching a provider's prices for an area goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProviderState {
    /// The last fetch succeeded.
    Ok,
    /// The last fetch failed: the prices stored before stay in force (see `lastError`).
    Failing,
    /// Not fetched yet.
    Pending,
    /// This Coupler has no such provider, or it has no prices for the area.
    NotConfigured,
}

/// A provider's status for one area.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderStatusResponse {
    /// The provider.
    #[schema(example = "AWATTAR")]
    pub name: String,
    /// The area.
    #[schema(example = "DE-LU")]
    pub area: String,
    /// How fetching goes.
    pub state: ProviderState,
    /// When Coupler last asked the provider.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// When it last stored the provider's answer.
    pub last_success_at: Option<DateTime<Utc>>,
    /// When an attempt last failed.
    pub last_error_at: Option<DateTime<Utc>>,
    /// What went wrong then.
    pub last_error: Option<String>,
    /// The end of the provider's last stored slot: its prices are known until then.
    pub prices_until: Option<DateTime<Utc>>,
}

impl From<ProviderUse> for ProviderStatusResponse {
    fn from(used: ProviderUse) -> Self {
        let status = used.status;
        let state = match (&status, used.configured) {
            (_, false) => ProviderState::NotConfigured,
            (None, true) => ProviderState::Pending,
            (Some(s), true) if s.is_failing() => ProviderState::Failing,
            (Some(s), true) if s.last_success_at.is_none() => ProviderState::Pending,
            (Some(_), true) => ProviderState::Ok,
        };
        Self {
            name: used.name,
            area: used.area.to_string(),
            state,
            last_attempt_at: status.as_ref().and_then(|s| s.last_attempt_at),
            last_success_at: status.as_ref().and_then(|s| s.last_success_at),
            last_error_at: status.as_ref().and_then(|s| s.last_error_at),
            last_error: status.as_ref().and_then(|s| s.last_error.clone()),
            prices_until: status.as_ref().and_then(|s| s.prices_until),
        }
    }
}

/// A location's effective prices over a window.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocationPricesResponse {
    /// The location.
    pub location_id: String,
    /// Its time zone, which its tariff follows.
    pub timezone_name: String,
    /// Its price area, if it has one.
    pub price_area: Option<String>,
    /// Whether it has a time-of-use tariff.
    pub has_tariff: bool,
    /// The window's start.
    pub from: DateTime<Utc>,
    /// The window's end.
    pub to: DateTime<Utc>,
    /// The prices, in order; time with no known price is left out.
    pub slots: Vec<EffectivePriceSlot>,
    /// The day-ahead provider the location takes prices from, and how fetching goes.
    pub provider: Option<ProviderStatusResponse>,
}

/// A location's effective carbon intensity over a window.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocationCarbonResponse {
    /// The location.
    pub location_id: String,
    /// Its price area, if it has one.
    pub price_area: Option<String>,
    /// The window's start.
    pub from: DateTime<Utc>,
    /// The window's end.
    pub to: DateTime<Utc>,
    /// The values, in order; time with no known value is left out.
    pub slots: Vec<EffectiveCarbonSlot>,
    /// The day-ahead provider the location takes values from, and how fetching goes.
    pub provider: Option<ProviderStatusResponse>,
}

/// A configured day-ahead provider.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PriceProviderResponse {
    /// Its name, as a location's `priceProvider` names it.
    #[schema(example = "AWATTAR")]
    pub name: String,
    /// Whether locations that name a price area but no provider take it.
    pub is_default: bool,
    /// Its areas and how fetching each goes.
    pub areas: Vec<ProviderStatusResponse>,
}

/// The configured providers.
#[derive(Debug, Serialize, ToSchema)]
pub struct PriceProviderList {
    /// The providers, by name.
    pub data: Vec<PriceProviderResponse>,
}

fn no_location(id: &str) -> ApiError {
    ApiError::not_found(format!("no location '{id}'"))
}

async fn owned_location(state: &AppState, caller: &Caller, id: &str) -> Result<Location, ApiError> {
    state
        .store
        .get_location(&caller.client_id, &LocationId::new(id))
        .await?
        .ok_or_else(|| no_location(id))
}

fn area_param(raw: &str) -> Result<PriceArea, ApiError> {
    PriceArea::parse(raw).map_err(|e| {
        ApiError::invalid(e.to_string()).at(InvalidValue::named(ValueLocation::Path, "area", e.to_string())
            .expected("1 to 32 letters, digits, '-' or '_'"))
    })
}

/// A refused series as a validation problem naming the slot and field at fault.
fn series_problem(kind: SeriesKind, error: &SeriesError) -> ApiError {
    let pointer = match error.at() {
        Some((index, "value")) => format!("/slots/{index}/{}", kind.value_field()),
        Some((index, field)) => format!("/slots/{index}/{field}"),
        None => "/slots".to_owned(),
    };
    let expected = match error {
        SeriesError::Empty | SeriesError::TooMany => "1 to 2976 slots",
        SeriesError::NotFinite(_) => "a finite number",
        SeriesError::Negative(_) => "a number, 0 or more",
        SeriesError::Length { .. } | SeriesError::MixedLengths { .. } => {
            "15 or 60 minutes after the start, as long as the series' other slots"
        }
        SeriesError::Misaligned(_) => "a time on a quarter hour",
        SeriesError::Duplicate { .. } | SeriesError::Overlap { .. } | SeriesError::Gap { .. } => {
            "each slot starting where the one before it ends, once"
        }
    };
    ApiError::invalid(error.to_string()).at(InvalidValue::body(pointer, error.to_string()).expected(expected))
}

fn price_series(body: PriceSeriesRequest) -> Result<Series, ApiError> {
    let slots = body
        .slots
        .into_iter()
        .map(|s| SeriesSlot {
            start: s.start,
            end: s.end,
            value: s.price_per_kwh,
        })
        .collect();
    Series::new(SeriesKind::Price, slots).map_err(|e| series_problem(SeriesKind::Price, &e))
}

fn carbon_series(body: CarbonSeriesRequest) -> Result<Series, ApiError> {
    let slots = body
        .slots
        .into_iter()
        .map(|s| SeriesSlot {
            start: s.start,
            end: s.end,
            value: s.grams_co2_per_kwh,
        })
        .collect();
    Series::new(SeriesKind::CarbonIntensity, slots).map_err(|e| series_problem(SeriesKind::CarbonIntensity, &e))
}

/// Checks a window; the defaults start at the current quarter hour.
fn window(state: &AppState, query: &WindowQuery) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let from = query.from.unwrap_or_else(|| floor_quarter(state.engine.clock().now()));
    let to = query.to.unwrap_or(from + Duration::hours(DEFAULT_WINDOW_HOURS));
    let refuse = |detail: String, expected: &str| {
        ApiError::invalid(detail.clone())
            .at(InvalidValue::named(ValueLocation::Query, "to", detail).expected(expected.to_owned()))
    };
    if to <= from {
        return Err(refuse(
            format!("the window ends ({to}) before it starts ({from})"),
            "a time after 'from'",
        ));
    }
    if to - from > Duration::days(MAX_WINDOW_DAYS) {
        return Err(refuse(
            format!("the window is longer than {MAX_WINDOW_DAYS} days"),
            "at most 31 days after 'from'",
        ));
    }
    Ok((from, to))
}

async fn push(
    state: &AppState,
    owner: SeriesOwner,
    series: &Series,
    headers: &HeaderMap,
) -> Result<(StatusCode, ApiJson<SeriesPushResponse>), ApiError> {
    let key = idempotency_key(headers)?;
    let push = state.engine.push_series(owner, series, key).await?;
    Ok((StatusCode::CREATED, ApiJson(push.into())))
}

/// Sets or replaces a location's time-of-use tariff: named rates, and the weekday intervals (in the
/// location's time zone) each applies in. Together the intervals cover every minute of the week
/// exactly once; times are `HH:MM` on a quarter hour, and an interval whose end is before its start
/// runs past midnight. The tariff prices whatever pushed series and the provider leave open.
#[utoipa::path(
    put,
    path = "/locations/{locationId}/tariff",
    tag = "prices",
    params(("locationId" = String, Path, description = "The location's id")),
    request_body = TouDefinition,
    responses(
        (status = 200, description = "The tariff as stored", body = TariffResponse),
        (status = 404, description = "The client has no such location", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An overlap, a gap, an unknown rate or a bad time, named by its JSON Pointer; nothing was changed", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn put_tariff(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<TouDefinition>,
) -> Result<ApiJson<TariffResponse>, ApiError> {
    let tariff = TouTariff::new(body).map_err(|e| ApiError::invalid(e.to_string()).at_field(&e.pointer()))?;
    let stored = state
        .engine
        .set_tariff(&caller.client_id, &LocationId::new(id), &tariff)
        .await?;
    Ok(ApiJson(stored.into()))
}

/// Reads a location's time-of-use tariff.
#[utoipa::path(
    get,
    path = "/locations/{locationId}/tariff",
    tag = "prices",
    params(("locationId" = String, Path, description = "The location's id")),
    responses(
        (status = 200, description = "The tariff", body = TariffResponse),
        (status = 404, description = "The client has no such location, or it has no tariff", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn get_tariff(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<TariffResponse>, ApiError> {
    let location = owned_location(&state, &caller, &id).await?;
    let stored = state
        .store
        .get_tariff(&caller.client_id, &location.id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("location '{id}' has no tariff")))?;
    Ok(ApiJson(stored.into()))
}

/// Removes a location's time-of-use tariff.
#[utoipa::path(
    delete,
    path = "/locations/{locationId}/tariff",
    tag = "prices",
    params(("locationId" = String, Path, description = "The location's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "The client has no such location, or it has no tariff", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn delete_tariff(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let location = owned_location(&state, &caller, &id).await?;
    if state.engine.delete_tariff(&caller.client_id, &location.id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("location '{id}' has no tariff")))
    }
}

/// Pushes a price series for one location. It replaces the location's pushed prices from its first
/// slot's start to its last slot's end and overrides its area's series, the provider and the tariff
/// there. Slots last 15 or 60 minutes (all the same), start on a quarter hour and follow each other
/// without gaps or duplicates. With an `Idempotency-Key`, a retry answers the first push and stores
/// nothing; the same key with another body is refused.
#[utoipa::path(
    post,
    path = "/locations/{locationId}/prices",
    tag = "prices",
    params(
        ("locationId" = String, Path, description = "The location's id"),
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "Repeating a push with the same key answers the first push (1 to 255 visible ASCII characters; remembered for 7 days)"),
    ),
    request_body = PriceSeriesRequest,
    responses(
        (status = 201, description = "Stored (or, for a retry, stored before)", body = SeriesPushResponse),
        (status = 404, description = "The client has no such location", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A duplicate, missing, misaligned or odd slot, or a key used for another push; nothing was changed", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn push_location_prices(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<PriceSeriesRequest>,
) -> Result<(StatusCode, ApiJson<SeriesPushResponse>), ApiError> {
    let series = price_series(body)?;
    let owner = SeriesOwner::Location {
        client: caller.client_id.clone(),
        location: LocationId::new(id),
    };
    push(&state, owner, &series, &headers).await
}

/// Pushes a price series for a price area (`DE-LU`, `SE3`, or any name of yours): it prices every
/// location of yours with that `priceArea`, over the provider and the tariff. The area is yours
/// alone: another client's series for an area of the same name is theirs. Same rules for slots and
/// `Idempotency-Key` as a location's push.
#[utoipa::path(
    post,
    path = "/price-areas/{area}/prices",
    tag = "prices",
    params(
        ("area" = String, Path, pattern = "^[A-Za-z0-9_-]{1,32}$", description = "The price area (upper-cased)"),
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "Repeating a push with the same key answers the first push (1 to 255 visible ASCII characters; remembered for 7 days)"),
    ),
    request_body = PriceSeriesRequest,
    responses(
        (status = 201, description = "Stored (or, for a retry, stored before)", body = SeriesPushResponse),
        (status = 422, description = "A bad area, a duplicate, missing, misaligned or odd slot, or a key used for another push; nothing was changed", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn push_area_prices(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(area): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<PriceSeriesRequest>,
) -> Result<(StatusCode, ApiJson<SeriesPushResponse>), ApiError> {
    let area = area_param(&area)?;
    let series = price_series(body)?;
    let owner = SeriesOwner::Area {
        client: caller.client_id.clone(),
        area,
    };
    push(&state, owner, &series, &headers).await
}

/// A location's effective prices over a window: its own pushed series, then its price area's, then
/// its day-ahead provider's, then its tariff for the rest; each slot says where its price comes
/// from. Time nothing prices is left out. The provider's status says when its prices were last
/// fetched and, when the last fetch failed, why (the prices fetched before stay in force).
#[utoipa::path(
    get,
    path = "/locations/{locationId}/prices",
    tag = "prices",
    params(("locationId" = String, Path, description = "The location's id"), WindowQuery),
    responses(
        (status = 200, description = "The effective prices", body = LocationPricesResponse),
        (status = 404, description = "The client has no such location", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn get_location_prices(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<WindowQuery>,
) -> Result<ApiJson<LocationPricesResponse>, ApiError> {
    let (from, to) = window(&state, &query)?;
    let location = owned_location(&state, &caller, &id).await?;
    let effective: EffectiveSeries = state
        .engine
        .effective_series(&location, SeriesKind::Price, from, to)
        .await?;
    Ok(ApiJson(LocationPricesResponse {
        location_id: location.id.to_string(),
        timezone_name: location.fields.timezone_name.clone(),
        price_area: location.fields.price_area.as_ref().map(ToString::to_string),
        has_tariff: effective.has_tariff,
        from,
        to,
        slots: effective
            .slots
            .into_iter()
            .map(|s| EffectivePriceSlot {
                start: s.start,
                end: s.end,
                price_per_kwh: s.value,
                source: s.source,
                rate: s.rate,
            })
            .collect(),
        provider: effective.provider.map(Into::into),
    }))
}

/// Pushes a carbon-intensity series (grams of CO₂ per kWh) for one location; the same rules as a
/// price push.
#[utoipa::path(
    post,
    path = "/locations/{locationId}/carbon-intensity",
    tag = "prices",
    params(
        ("locationId" = String, Path, description = "The location's id"),
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "Repeating a push with the same key answers the first push (1 to 255 visible ASCII characters; remembered for 7 days)"),
    ),
    request_body = CarbonSeriesRequest,
    responses(
        (status = 201, description = "Stored (or, for a retry, stored before)", body = SeriesPushResponse),
        (status = 404, description = "The client has no such location", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A duplicate, missing, misaligned or odd slot, a negative value, or a key used for another push; nothing was changed", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn push_location_carbon(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CarbonSeriesRequest>,
) -> Result<(StatusCode, ApiJson<SeriesPushResponse>), ApiError> {
    let series = carbon_series(body)?;
    let owner = SeriesOwner::Location {
        client: caller.client_id.clone(),
        location: LocationId::new(id),
    };
    push(&state, owner, &series, &headers).await
}

/// Pushes a carbon-intensity series for a price area of yours; the same rules as a price push.
#[utoipa::path(
    post,
    path = "/price-areas/{area}/carbon-intensity",
    tag = "prices",
    params(
        ("area" = String, Path, pattern = "^[A-Za-z0-9_-]{1,32}$", description = "The price area (upper-cased)"),
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "Repeating a push with the same key answers the first push (1 to 255 visible ASCII characters; remembered for 7 days)"),
    ),
    request_body = CarbonSeriesRequest,
    responses(
        (status = 201, description = "Stored (or, for a retry, stored before)", body = SeriesPushResponse),
        (status = 422, description = "A bad area, a duplicate, missing, misaligned or odd slot, a negative value, or a key used for another push; nothing was changed", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn push_area_carbon(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(area): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CarbonSeriesRequest>,
) -> Result<(StatusCode, ApiJson<SeriesPushResponse>), ApiError> {
    let area = area_param(&area)?;
    let series = carbon_series(body)?;
    let owner = SeriesOwner::Area {
        client: caller.client_id.clone(),
        area,
    };
    push(&state, owner, &series, &headers).await
}

/// A location's effective carbon intensity over a window: its own pushed series, then its price
/// area's, then its provider's (where the provider publishes any).
#[utoipa::path(
    get,
    path = "/locations/{locationId}/carbon-intensity",
    tag = "prices",
    params(("locationId" = String, Path, description = "The location's id"), WindowQuery),
    responses(
        (status = 200, description = "The effective carbon intensity", body = LocationCarbonResponse),
        (status = 404, description = "The client has no such location", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn get_location_carbon(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<WindowQuery>,
) -> Result<ApiJson<LocationCarbonResponse>, ApiError> {
    let (from, to) = window(&state, &query)?;
    let location = owned_location(&state, &caller, &id).await?;
    let effective = state
        .engine
        .effective_series(&location, SeriesKind::CarbonIntensity, from, to)
        .await?;
    Ok(ApiJson(LocationCarbonResponse {
        location_id: location.id.to_string(),
        price_area: location.fields.price_area.as_ref().map(ToString::to_string),
        from,
        to,
        slots: effective
            .slots
            .into_iter()
            .map(|s| EffectiveCarbonSlot {
                start: s.start,
                end: s.end,
                grams_co2_per_kwh: s.value,
                source: s.source,
            })
            .collect(),
        provider: effective.provider.map(Into::into),
    }))
}

/// The day-ahead price providers this Coupler fetches from, their areas (what a location's
/// `priceArea` and `priceProvider` may name), and how fetching each area goes.
#[utoipa::path(
    get,
    path = "/price-providers",
    tag = "prices",
    responses(
        (status = 200, description = "The providers", body = PriceProviderList),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn list_price_providers(
    _caller: Caller,
    State(state): State<AppState>,
) -> Result<ApiJson<PriceProviderList>, ApiError> {
    let providers = state.engine.price_providers();
    let mut data = Vec::new();
    for provider in providers.all() {
        let mut areas = Vec::new();
        for area in provider.areas() {
            let status = state.store.provider_status(provider.name(), area).await?;
            areas.push(
                ProviderUse {
                    name: provider.name().to_owned(),
                    area: area.clone(),
                    configured: true,
                    status,
                }
                .into(),
            );
        }
        data.push(PriceProviderResponse {
            name: provider.name().to_owned(),
            is_default: providers.default_name() == Some(provider.name()),
            areas,
        });
    }
    Ok(ApiJson(PriceProviderList { data }))
}
