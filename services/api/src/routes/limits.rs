//! Limits: `site` caps on a charger or a whole location, each with an optional window, and what
//! holds on each charger and EV system (the sources in force, the composite, and what the charger
//! itself reports).

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use coupler_core::ev_system::EvSystemId;
use coupler_core::limits::{
    compose, timeline, ChargerCapabilities, LimitScope, LimitSource, LimitSourceId, LimitSourceKind,
};
use coupler_core::location::{Location, LocationId};
use coupler_core::{Charger, ChargerId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiPath, Caller};
use crate::state::AppState;

/// How far ahead the composite timeline reaches.
const TIMELINE_HOURS: i64 = 24;
/// How long a read of the charger's own composite schedule may take before the answer goes
/// without it.
const LIVE_READ: Duration = Duration::from_secs(5);

/// A site's or grid's cap on a charger or a location.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateLimit {
    /// The cap, amperes per phase, 0 to 1000 (carried to 0.1 A). Below 6 A a charger that takes no
    /// charging profiles stops charging.
    #[schema(example = 10.0)]
    pub max_current: f64,
    /// From when it holds; omitted: from now.
    pub valid_from: Option<DateTime<Utc>>,
    /// Until when it holds; omitted: until deleted. The charger drops it by itself at this time,
    /// even if it cannot reach Coupler then.
    pub valid_to: Option<DateTime<Utc>>,
}

/// One limit source.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LimitSourceResponse {
    /// Identifier.
    pub id: String,
    /// Who set it: `user` (the max-current command), `site` (a site's or grid's cap), `schedule` (a
    /// smart-charging plan: see `schedule`), `flex` (a flexibility event's cap on one charger, in the
    /// event's window).
    #[schema(example = "site")]
    pub kind: String,
    /// Names the binding source among equal caps (higher wins): site 40, flex 30, schedule 20, user 10.
    pub priority: u8,
    /// The charger it limits, when set on one.
    pub charger_id: Option<String>,
    /// The location whose chargers it limits, when set on one.
    pub location_id: Option<String>,
    /// The cap, amperes per phase (for a `schedule`, the highest of its periods).
    pub max_current: f64,
    /// From when it holds.
    pub valid_from: Option<DateTime<Utc>>,
    /// Until when it holds.
    pub valid_to: Option<DateTime<Utc>>,
    /// Whether it limits now.
    pub in_force: bool,
    /// When it was set.
    pub created_at: DateTime<Utc>,
    /// A cap that changes over time (a smart-charging plan): from each period's start, at most its
    /// current, until the next period or `validTo`. Empty for a constant cap.
    pub schedule: Vec<SchedulePeriodStep>,
}

/// One period of a cap that changes over time.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SchedulePeriodStep {
    /// When the period starts.
    pub start: DateTime<Utc>,
    /// The cap in the period, amperes per phase.
    pub max_current: f64,
}

/// The limit in force from one moment on.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LimitStep {
    /// From when.
    pub at: DateTime<Utc>,
    /// The limit, amperes; `null`: none.
    pub max_current: Option<f64>,
}

/// The limit composed from the sources: the lowest in force.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompositeBody {
    /// The limit now, amperes; `null`: nothing limits the charger.
    pub max_current: Option<f64>,
    /// The source that sets it.
    pub binding_source_id: Option<String>,
    /// How it changes over the next 24 hours as windows open and close.
    pub timeline: Vec<LimitStep>,
}

/// One step of the composite schedule a charger reported.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SchedulePeriodBody {
    /// Seconds from when it was read.
    pub start_period: u32,
    /// The limit, amperes.
    pub limit: f64,
}

/// What is on the charger itself.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OnChargerBody {
    /// `PROFILES` (the charger holds one charging profile per source and enforces the composite
    /// itself), or `ON_OFF` (it takes no profiles: Coupler stops charging while the limit is
    /// below 6 A and starts it again after).
    #[schema(example = "PROFILES")]
    pub method: String,
    /// The profile ids Coupler installed.
    pub installed_profiles: Vec<i32>,
    /// Whether Coupler holds charging off for an on/off limit.
    pub held_off: bool,
    /// When the limits were last applied.
    pub applied_at: Option<DateTime<Utc>>,
    /// The limit the charger's composite schedule showed after that, amperes.
    pub verified_limit: Option<f64>,
    /// When that was read.
    pub verified_at: Option<DateTime<Utc>>,
    /// What went wrong at the last application.
    pub last_error: Option<String>,
    /// The composite schedule the charger reports now (GetCompositeSchedule, next five minutes),
    /// when it is connected and answers.
    pub reported_schedule: Option<Vec<SchedulePeriodBody>>,
}

/// The limits of one charger.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChargerLimitsResponse {
    /// The charger.
    pub charger_id: String,
    /// The sources that limit it (its own and its location's), ended ones left out.
    pub sources: Vec<LimitSourceResponse>,
    /// The limit they compose.
    pub composite: CompositeBody,
    /// What is on the charger.
    pub on_charger: OnChargerBody,
}

/// The limits of an EV system: its charger's.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EvSystemLimitsResponse {
    /// The EV system.
    pub ev_system_id: String,
    /// Its vehicle.
    pub vehicle_id: String,
    /// Its charger's limits.
    #[serde(flatten)]
    pub charger: ChargerLimitsResponse,
}

/// The limits set on a location.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocationLimitsResponse {
    /// The location.
    pub location_id: String,
    /// Its sources, ended ones left out.
    pub sources: Vec<LimitSourceResponse>,
    /// The chargers placed there, which they limit.
    pub charger_ids: Vec<String>,
}

pub(crate) fn source_body(source: &LimitSource, now: DateTime<Utc>) -> LimitSourceResponse {
    let (charger_id, location_id) = match &source.scope {
        LimitScope::Charger(id) => (Some(id.as_str().to_owned()), None),
        LimitScope::Location(id) => (None, Some(id.as_str().to_owned())),
    };
    LimitSourceResponse {
        id: source.id.as_str().to_owned(),
        kind: source.kind.as_str().to_owned(),
        priority: source.kind.priority(),
        charger_id,
        location_id,
        max_current: source.max_current_a,
        valid_from: source.valid_from,
        valid_to: source.valid_to,
        in_force: source.in_force_at(now),
        created_at: source.created_at,
        schedule: source
            .schedule
            .iter()
            .map(|p| SchedulePeriodStep {
                start: p.start,
                max_current: p.max_current_a,
            })
            .collect(),
    }
}

async fn owned_charger(state: &AppState, caller: &Caller, id: &str) -> Result<Charger, ApiError> {
    state
        .store
        .get_charger(&caller.client_id, &ChargerId::new(id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no charger '{id}'")))
}

async fn owned_location(state: &AppState, caller: &Caller, id: &str) -> Result<Location, ApiError> {
    state
        .store
        .get_location(&caller.client_id, &LocationId::new(id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no location '{id}'")))
}

/// Checks and stores a new site limit on `scope` for `charger`'s or `location`'s user.
async fn create(
    state: &AppState,
    caller: &Caller,
    user: coupler_core::UserId,
    scope: LimitScope,
    body: CreateLimit,
) -> Result<LimitSource, ApiError> {
    let now = state.now();
    let amps = LimitSource::check(body.max_current, body.valid_from, body.valid_to, now)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let source = LimitSource {
        id: LimitSourceId::generate(),
        client_id: caller.client_id.clone(),
        user_id: user,
        kind: LimitSourceKind::Site,
        scope,
        max_current_a: amps,
        valid_from: body.valid_from,
        valid_to: body.valid_to,
        created_at: now,
        schedule: Vec::new(),
    };
    state.store.insert_limit_source(&source).await?;
    tracing::info!(limit_id = %source.id, max_current_a = amps, "site limit set");
    Ok(source)
}

/// The chargers a source limits.
async fn chargers_of(state: &AppState, scope: &LimitScope) -> Result<Vec<ChargerId>, ApiError> {
    Ok(match scope {
        LimitScope::Charger(id) => vec![id.clone()],
        LimitScope::Location(id) => state.store.chargers_at_location(id).await?,
    })
}

/// Sets a `site` limit on a charger, with an optional window. It is stored first, then put on the
/// charger as its own charging profile (ChargePointMaxProfile / ChargingStationMaxProfile) carrying
/// the window, so the charger drops it by itself when the window ends. A charger that takes no
/// profiles is stopped while the limit is below 6 A.
#[utoipa::path(
    post,
    path = "/chargers/{chargerId}/limits",
    tag = "limits",
    params(("chargerId" = String, Path, description = "The charger's id")),
    request_body = CreateLimit,
    responses(
        (status = 201, description = "Stored; being applied to the charger", body = LimitSourceResponse),
        (status = 404, description = "The client has no such charger", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn create_charger_limit(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<CreateLimit>,
) -> Result<(StatusCode, ApiJson<LimitSourceResponse>), ApiError> {
    let charger = owned_charger(&state, &caller, &id).await?;
    let source = create(
        &state,
        &caller,
        charger.user_id.clone(),
        LimitScope::Charger(charger.id.clone()),
        body,
    )
    .await?;
    state.engine.limits().changed(vec![charger.id]);
    Ok((StatusCode::CREATED, ApiJson(source_body(&source, state.now()))))
}

/// Sets a `site` limit on every charger placed at a location (now and later), with an optional
/// window.
#[utoipa::path(
    post,
    path = "/locations/{locationId}/limits",
    tag = "limits",
    params(("locationId" = String, Path, description = "The location's id")),
    request_body = CreateLimit,
    responses(
        (status = 201, description = "Stored; being applied to the location's chargers", body = LimitSourceResponse),
        (status = 404, description = "The client has no such location", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn create_location_limit(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<CreateLimit>,
) -> Result<(StatusCode, ApiJson<LimitSourceResponse>), ApiError> {
    let location = owned_location(&state, &caller, &id).await?;
    let scope = LimitScope::Location(location.id.clone());
    let source = create(&state, &caller, location.user_id.clone(), scope.clone(), body).await?;
    state.engine.limits().changed(chargers_of(&state, &scope).await?);
    Ok((StatusCode::CREATED, ApiJson(source_body(&source, state.now()))))
}

/// Lists the limits set on a location.
#[utoipa::path(
    get,
    path = "/locations/{locationId}/limits",
    tag = "limits",
    params(("locationId" = String, Path, description = "The location's id")),
    responses(
        (status = 200, description = "The location's limit sources", body = LocationLimitsResponse),
        (status = 404, description = "The client has no such location", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn list_location_limits(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<LocationLimitsResponse>, ApiError> {
    let location = owned_location(&state, &caller, &id).await?;
    let now = state.now();
    let sources = state
        .store
        .list_limit_sources(&caller.client_id, &LimitScope::Location(location.id.clone()))
        .await?;
    let chargers = state.store.chargers_at_location(&location.id).await?;
    Ok(ApiJson(LocationLimitsResponse {
        location_id: location.id.as_str().to_owned(),
        sources: sources
            .iter()
            .filter(|s| !s.is_over(now))
            .map(|s| source_body(s, now))
            .collect(),
        charger_ids: chargers.iter().map(|c| c.as_str().to_owned()).collect(),
    }))
}

/// The limits of a charger as the API shows them.
pub(crate) async fn charger_limits(state: &AppState, charger: &Charger) -> Result<ChargerLimitsResponse, ApiError> {
    let now = state.now();
    let sources = state.store.limit_sources_of_charger(&charger.id).await?;
    let composite = compose(&sources, now);
    let capabilities = state
        .store
        .charger_capabilities(&charger.id)
        .await?
        .unwrap_or_else(ChargerCapabilities::unknown);
    let applied = state.store.limit_state(&charger.id).await?;
    let keeper = state.engine.limits();
    let reported_schedule = if state.engine.control().is_connected(&charger.id) && capabilities.takes_profiles() {
        let connector = state
            .store
            .active_session(&charger.id)
            .await?
            .map_or(1, |s| s.connector_id);
        tokio::time::timeout(LIVE_READ, keeper.composite_schedule(&charger.id, connector))
            .await
            .ok()
            .flatten()
            .map(|periods| {
                periods
                    .into_iter()
                    .map(|(start_period, limit)| SchedulePeriodBody { start_period, limit })
                    .collect()
            })
    } else {
        None
    };
    Ok(ChargerLimitsResponse {
        charger_id: charger.id.as_str().to_owned(),
        sources: sources
            .iter()
            .filter(|s| !s.is_over(now))
            .map(|s| source_body(s, now))
            .collect(),
        composite: CompositeBody {
            max_current: composite.limit_a,
            binding_source_id: composite.binding.map(|id| id.as_str().to_owned()),
            timeline: timeline(&sources, now, now + chrono::Duration::hours(TIMELINE_HOURS))
                .into_iter()
                .map(|(at, max_current)| LimitStep { at, max_current })
                .collect(),
        },
        on_charger: OnChargerBody {
            method: if capabilities.takes_profiles() {
                "PROFILES"
            } else {
                "ON_OFF"
            }
            .to_owned(),
            installed_profiles: applied.installed_profiles,
            held_off: applied.held_off,
            applied_at: applied.applied_at,
            verified_limit: applied.verified_limit_a,
            verified_at: applied.verified_at,
            last_error: applied.last_error,
            reported_schedule,
        },
    })
}

/// Shows the limits on a charger: the sources in force or to come (its own and its location's),
/// the limit they compose, and what the charger itself reports.
#[utoipa::path(
    get,
    path = "/chargers/{chargerId}/limits",
    tag = "limits",
    params(("chargerId" = String, Path, description = "The charger's id")),
    responses(
        (status = 200, description = "The charger's limits", body = ChargerLimitsResponse),
        (status = 404, description = "The client has no such charger", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn get_charger_limits(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<ChargerLimitsResponse>, ApiError> {
    let charger = owned_charger(&state, &caller, &id).await?;
    Ok(ApiJson(charger_limits(&state, &charger).await?))
}

/// Shows the limits on an EV system: those of its charger.
#[utoipa::path(
    get,
    path = "/ev-systems/{evSystemId}/limits",
    tag = "limits",
    params(("evSystemId" = String, Path, description = "The EV system's id")),
    responses(
        (status = 200, description = "The EV system's limits", body = EvSystemLimitsResponse),
        (status = 404, description = "The client has no such EV system", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn get_ev_system_limits(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<EvSystemLimitsResponse>, ApiError> {
    let pair = state
        .store
        .get_ev_system(&caller.client_id, &EvSystemId::new(id.as_str()))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no EV system '{id}'")))?;
    let charger = owned_charger(&state, &caller, pair.charger_id.as_str()).await?;
    Ok(ApiJson(EvSystemLimitsResponse {
        ev_system_id: pair.id.as_str().to_owned(),
        vehicle_id: pair.vehicle_id.as_str().to_owned(),
        charger: charger_limits(&state, &charger).await?,
    }))
}

/// Reads one limit source.
#[utoipa::path(
    get,
    path = "/limits/{limitId}",
    tag = "limits",
    params(("limitId" = String, Path, description = "The limit source's id")),
    responses(
        (status = 200, description = "The limit source", body = LimitSourceResponse),
        (status = 404, description = "The client has no such limit", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn get_limit(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<LimitSourceResponse>, ApiError> {
    let source = state
        .store
        .get_limit_source(&caller.client_id, &LimitSourceId::new(id.as_str()))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no limit '{id}'")))?;
    Ok(ApiJson(source_body(&source, state.now())))
}

/// Deletes a limit source (a site limit, or a charger's user limit). Its profile is cleared from
/// the chargers it limited (ClearChargingProfile), and the remaining sources hold.
#[utoipa::path(
    delete,
    path = "/limits/{limitId}",
    tag = "limits",
    params(("limitId" = String, Path, description = "The limit source's id")),
    responses(
        (status = 204, description = "Deleted; being cleared from the chargers"),
        (status = 404, description = "The client has no such limit", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A flexibility event's limit: opt out of the event or cancel it instead", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn delete_limit(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let found = state
        .store
        .get_limit_source(&caller.client_id, &LimitSourceId::new(id.as_str()))
        .await?;
    if found.is_some_and(|s| s.kind == LimitSourceKind::Flex) {
        // The event's record of who took part would no longer match the chargers.
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "a flex limit belongs to a flexibility event: opt the driver out of the event, or cancel it",
        ));
    }
    let source = state
        .store
        .delete_limit_source(&caller.client_id, &LimitSourceId::new(id.as_str()))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no limit '{id}'")))?;
    if let (LimitSourceKind::User, LimitScope::Charger(charger)) = (source.kind, &source.scope) {
        state.store.set_max_current(charger, None).await?;
    }
    tracing::info!(limit_id = %source.id, "limit deleted");
    state.engine.limits().changed(chargers_of(&state, &source.scope).await?);
    Ok(StatusCode::NO_CONTENT)
}
