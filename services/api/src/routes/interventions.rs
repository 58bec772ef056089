//! Interventions: `GET /interventions` and `GET /interventions/{interventionId}`.

use axum::extract::State;
use chrono::{DateTime, Utc};
use coupler_core::intervention::{Intervention, InterventionId, InterventionKind};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::routes::users::{PageQuery, Pagination};
use crate::state::AppState;

/// How the user resolves an intervention.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Resolution {
    /// A title for people.
    pub title: String,
    /// What happened and what to do.
    pub description: String,
    /// `Remote`: it is done from the app, not at the vehicle.
    #[schema(value_type = crate::wire::ResolutionAccess)]
    pub access: &'static str,
    /// `User`: the user must act.
    #[schema(value_type = crate::wire::ResolutionAgent)]
    pub agent: &'static str,
    /// `Link`: create a new link session for the vendor.
    #[schema(value_type = crate::wire::ResolutionAction)]
    pub action: &'static str,
}

/// Something the user must do before Coupler can go on with a vendor account.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InterventionResponse {
    /// Identifier; vehicles list it in their capabilities' `interventionIds`.
    pub id: String,
    /// The app's id for the user.
    pub user_id: String,
    /// The vendor concerned.
    pub vendor: String,
    /// `vehicle`.
    #[schema(value_type = crate::wire::VendorType)]
    pub vendor_type: &'static str,
    /// `Account`: it concerns the whole account, not one vehicle.
    #[schema(value_type = crate::wire::InterventionDomain)]
    pub domain: &'static str,
    /// `RELINK_NEEDED`.
    #[schema(value_type = crate::wire::InterventionKind, example = "RELINK_NEEDED")]
    pub kind: &'static str,
    /// When Coupler raised it.
    pub introduced_at: DateTime<Utc>,
    /// When it was resolved (the user linked again); `null` while open.
    pub resolved_at: Option<DateTime<Utc>>,
    /// How to resolve it.
    pub resolution: Resolution,
}

impl From<Intervention> for InterventionResponse {
    fn from(i: Intervention) -> Self {
        let action = match i.kind {
            InterventionKind::RelinkNeeded => "Link",
        };
        Self {
            resolution: Resolution {
                title: i.title(),
                description: format!(
                    "{} Create a link session for {} (POST /users/{{userId}}/link) and have the user sign in again.",
                    i.detail, i.vendor
                ),
                access: "Remote",
                agent: "User",
                action,
            },
            id: i.id.as_str().to_owned(),
            user_id: i.user_id.as_str().to_owned(),
            vendor: i.vendor.as_str().to_owned(),
            vendor_type: "vehicle",
            domain: "Account",
            kind: i.kind.as_str(),
            introduced_at: i.created_at,
            resolved_at: i.resolved_at,
        }
    }
}

/// Which interventions to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct InterventionFilter {
    /// Include resolved interventions too (default: open ones only).
    pub include_resolved: Option<bool>,
}

/// A page of interventions, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct InterventionPage {
    /// The interventions.
    pub data: Vec<InterventionResponse>,
    /// Cursors to the neighbouring pages.
    pub pagination: Pagination,
}

/// Lists the client's interventions, newest first: open ones, or all with `includeResolved=true`.
#[utoipa::path(
    get,
    path = "/interventions",
    tag = "interventions",
    params(InterventionFilter, PageQuery),
    responses(
        (status = 200, description = "A page of interventions", body = InterventionPage),
        (status = "4XX", description = "Bad parameters or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn list_interventions(
    caller: Caller,
    State(state): State<AppState>,
    ApiQuery(filter): ApiQuery<InterventionFilter>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<ApiJson<InterventionPage>, ApiError> {
    let page = state
        .store
        .list_interventions(
            &caller.client_id,
            filter.include_resolved.unwrap_or(false),
            &query.parse()?,
        )
        .await?;
    Ok(ApiJson(InterventionPage {
        data: page.items.into_iter().map(Into::into).collect(),
        pagination: Pagination {
            after: page.after.map(|k| k.encode()),
            before: page.before.map(|k| k.encode()),
        },
    }))
}

/// Reads one intervention.
#[utoipa::path(
    get,
    path = "/interventions/{interventionId}",
    tag = "interventions",
    params(("interventionId" = String, Path, description = "The intervention's id")),
    responses(
        (status = 200, description = "The intervention", body = InterventionResponse),
        (status = 404, description = "The client has no such intervention", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn get_intervention(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<InterventionResponse>, ApiError> {
    let id = InterventionId::new(id);
    let found = state
        .store
        .get_intervention(&caller.client_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no intervention '{id}'")))?;
    Ok(ApiJson(found.into()))
}
