//! Locations: the places a user charges at. A charger is placed at one (`PUT /chargers/{id}`
//! `{locationId}`); a vehicle within a short radius of a location is at it, which pairing uses to
//! rule out cars that are elsewhere.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use coupler_core::location::{Location, LocationFields, LocationId};
use coupler_core::page::PageRequest;
use coupler_core::tariff::PriceArea;
use coupler_core::UserId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::users::{PageQuery, Pagination};
use crate::error::{ApiError, InvalidValue, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::state::AppState;

/// A location as a client sends it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocationRequest {
    /// A name for people, 1 to 100 characters.
    #[schema(example = "Home")]
    pub name: String,
    /// Degrees north, -90 to 90.
    #[schema(example = 59.9139)]
    pub latitude: f64,
    /// Degrees east, -180 to 180.
    #[schema(example = 10.7522)]
    pub longitude: f64,
    /// IANA time zone name.
    #[schema(example = "Europe/Oslo")]
    pub timezone_name: String,
    /// The price area the location buys its power in (`DE-LU`, `SE3`, or a name of your own):
    /// series pushed to `/price-areas/{area}/prices` and a day-ahead provider's prices for the area
    /// price it. Upper-cased; absent for none.
    #[schema(example = "DE-LU", pattern = "^[A-Za-z0-9_-]{1,32}$")]
    #[serde(default)]
    pub price_area: Option<String>,
    /// The day-ahead provider of the area's prices, one of `GET /price-providers` that has prices
    /// for `priceArea`; absent for the configured default.
    #[schema(example = "AWATTAR")]
    #[serde(default)]
    pub price_provider: Option<String>,
}

/// A location.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocationResponse {
    /// Identifier.
    pub id: String,
    /// The owning user.
    pub user_id: String,
    /// A name for people.
    pub name: String,
    /// Degrees north.
    pub latitude: f64,
    /// Degrees east.
    pub longitude: f64,
    /// IANA time zone name.
    pub timezone_name: String,
    /// The price area it buys its power in, if any.
    pub price_area: Option<String>,
    /// The day-ahead provider of its area's prices, if it names one.
    pub price_provider: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<Location> for LocationResponse {
    fn from(l: Location) -> Self {
        Self {
            id: l.id.as_str().to_owned(),
            user_id: l.user_id.as_str().to_owned(),
            name: l.fields.name,
            latitude: l.fields.latitude,
            longitude: l.fields.longitude,
            timezone_name: l.fields.timezone_name,
            price_area: l.fields.price_area.map(|a| a.to_string()),
            price_provider: l.fields.price_provider,
            created_at: l.created_at,
            updated_at: l.updated_at,
        }
    }
}

/// A page of locations, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct LocationPage {
    /// The locations.
    pub data: Vec<LocationResponse>,
    /// Cursors to the neighbouring pages.
    pub pagination: Pagination,
}

fn fields(state: &AppState, body: &LocationRequest) -> Result<LocationFields, ApiError> {
    let fields = LocationFields::new(&body.name, body.latitude, body.longitude, &body.timezone_name)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let area = body
        .price_area
        .as_deref()
        .map(PriceArea::parse)
        .transpose()
        .map_err(|e| {
            ApiError::invalid(e.to_string())
                .at(InvalidValue::body("/priceArea", e.to_string()).expected("1 to 32 letters, digits, '-' or '_'"))
        })?;
    let provider = match body.price_provider.as_deref() {
        None => None,
        Some(name) => {
            let name = name.trim().to_ascii_uppercase();
            let providers = state.engine.price_providers();
            let Some(found) = providers.get(&name) else {
                let detail = format!("'{name}' is not a price provider of this Coupler");
                return Err(
                    ApiError::invalid(detail.clone()).at(InvalidValue::body("/priceProvider", detail)
                        .expected("one of the configured providers (GET /price-providers)")
                        .allowed(providers.all().map(|p| p.name().to_owned()))),
                );
            };
            let serves = area.as_ref().is_some_and(|a| found.areas().contains(a));
            if !serves {
                let detail = format!("{name} has prices only for its areas; set priceArea to one of them");
                return Err(
                    ApiError::invalid(detail.clone()).at(InvalidValue::body("/priceArea", detail)
                        .expected(format!("an area {name} has prices for"))
                        .allowed(found.areas().iter().map(ToString::to_string))),
                );
            }
            Some(name)
        }
    };
    Ok(fields.with_pricing(area, provider))
}

fn user(raw: &str) -> Result<UserId, ApiError> {
    UserId::parse(raw).map_err(|e| ApiError::bad_request(e.to_string()).at_path("userId"))
}

/// Creates a location for a user (creating the user if needed).
#[utoipa::path(
    post,
    path = "/users/{userId}/locations",
    tag = "locations",
    params(("userId" = String, Path, pattern = "^[^\\s/\\x00-\\x1F\\x7F-\\x9F]([^/\\x00-\\x1F\\x7F-\\x9F]*[^\\s/\\x00-\\x1F\\x7F-\\x9F])?$", max_length = 255, description = "The app's own identifier for the user")),
    request_body = LocationRequest,
    responses(
        (status = 201, description = "Created", body = LocationResponse),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn create_location(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(raw_user): ApiPath<String>,
    ApiJson(body): ApiJson<LocationRequest>,
) -> Result<(StatusCode, ApiJson<LocationResponse>), ApiError> {
    let user = user(&raw_user)?;
    let fields = fields(&state, &body)?;
    state.store.upsert_user(&caller.client_id, &user).await?;
    let now = state.now();
    let location = Location {
        id: LocationId::generate(),
        client_id: caller.client_id.clone(),
        user_id: user,
        fields,
        created_at: now,
        updated_at: now,
    };
    state.store.insert_location(&location).await?;
    if location.fields.price_area.is_some() {
        state.engine.location_pricing_changed(&caller.client_id, &location.id);
    }
    Ok((StatusCode::CREATED, ApiJson(location.into())))
}

/// Lists a user's locations, newest first.
#[utoipa::path(
    get,
    path = "/users/{userId}/locations",
    tag = "locations",
    params(("userId" = String, Path, pattern = "^[^\\s/\\x00-\\x1F\\x7F-\\x9F]([^/\\x00-\\x1F\\x7F-\\x9F]*[^\\s/\\x00-\\x1F\\x7F-\\x9F])?$", max_length = 255, description = "The app's own identifier for the user"), PageQuery),
    responses(
        (status = 200, description = "A page of locations", body = LocationPage),
        (status = 404, description = "The client has no such user", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn list_locations(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(raw_user): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<ApiJson<LocationPage>, ApiError> {
    let user = user(&raw_user)?;
    let page_request = query.parse()?;
    if state.store.get_user(&caller.client_id, &user).await?.is_none() {
        return Err(ApiError::not_found(format!("no user '{user}'")));
    }
    let page = state
        .store
        .list_locations(&caller.client_id, &user, &page_request)
        .await?;
    Ok(ApiJson(LocationPage {
        data: page.items.into_iter().map(Into::into).collect(),
        pagination: Pagination {
            after: page.after.map(|k| k.encode()),
            before: page.before.map(|k| k.encode()),
        },
    }))
}

fn no_location(id: &str) -> ApiError {
    ApiError::not_found(format!("no location '{id}'"))
}

/// Reads a location.
#[utoipa::path(
    get,
    path = "/locations/{locationId}",
    tag = "locations",
    params(("locationId" = String, Path, description = "The location's id")),
    responses(
        (status = 200, description = "The location", body = LocationResponse),
        (status = 404, description = "The client has no such location", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn get_location(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<LocationResponse>, ApiError> {
    let found = state
        .store
        .get_location(&caller.client_id, &LocationId::new(id.clone()))
        .await?
        .ok_or_else(|| no_location(&id))?;
    Ok(ApiJson(found.into()))
}

/// Replaces a location's name, position, time zone, price area and price provider (absent ones are
/// cleared).
#[utoipa::path(
    put,
    path = "/locations/{locationId}",
    tag = "locations",
    params(("locationId" = String, Path, description = "The location's id")),
    request_body = LocationRequest,
    responses(
        (status = 200, description = "The updated location", body = LocationResponse),
        (status = 404, description = "The client has no such location", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn update_location(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<LocationRequest>,
) -> Result<ApiJson<LocationResponse>, ApiError> {
    let fields = fields(&state, &body)?;
    let location_id = LocationId::new(id.clone());
    let before = state
        .store
        .get_location(&caller.client_id, &location_id)
        .await?
        .ok_or_else(|| no_location(&id))?;
    let updated = state
        .store
        .update_location(&caller.client_id, &location_id, &fields, state.now())
        .await?
        .ok_or_else(|| no_location(&id))?;
    let pricing = |f: &LocationFields| (f.price_area.clone(), f.price_provider.clone());
    if pricing(&before.fields) != pricing(&updated.fields) {
        state.engine.location_pricing_changed(&caller.client_id, &location_id);
    }
    // A moved location may settle (or unsettle) which car is in the chargers placed there.
    let chargers = state
        .store
        .list_chargers(
            &caller.client_id,
            Some(&updated.user_id),
            &PageRequest::first(PageRequest::MAX_SIZE),
        )
        .await?;
    for charger in chargers
        .items
        .iter()
        .filter(|c| c.location_id.as_deref() == Some(id.as_str()))
    {
        state.pairing.charger_changed(&charger.id);
    }
    Ok(ApiJson(updated.into()))
}

/// Deletes a location. Chargers placed at it are no longer placed anywhere.
#[utoipa::path(
    delete,
    path = "/locations/{locationId}",
    tag = "locations",
    params(("locationId" = String, Path, description = "The location's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "The client has no such location", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn delete_location(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let location = LocationId::new(id.clone());
    // Its chargers lose the location's limits with it.
    let placed = state.store.chargers_at_location(&location).await?;
    if state.store.delete_location(&caller.client_id, &location).await? {
        state.engine.limits().changed(placed);
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_location(&id))
    }
}
