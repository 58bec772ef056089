//! Account linking through the API: `POST /users/{userId}/link`, `GET /integrations`, and
//! `DELETE /users/{userId}/vendors/{vendor}`. The pages the person sees are in [`super::link_pages`].

use axum::extract::State;
use axum::http::StatusCode;
use coupler_core::capability::Scope;
use coupler_core::link::LinkRequest;
use coupler_core::{UserId, Vendor};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiPath, Caller};
use crate::state::AppState;

/// A request for a link session.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LinkBody {
    /// Skip vendor selection and go straight to this vendor's sign-in.
    #[schema(example = "TESLA")]
    pub vendor: Option<String>,
    /// The kind of device; only `vehicle` (chargers connect over OCPP instead).
    #[schema(value_type = Option<crate::wire::VendorType>, example = "vehicle")]
    pub vendor_type: Option<String>,
    /// What to ask the user for; must include `vehicle:read:data`.
    #[schema(example = json!(["vehicle:read:data", "vehicle:read:location", "vehicle:control:charging"]))]
    #[schema(value_type = Vec<coupler_core::capability::Scope>)]
    pub scopes: Vec<String>,
    /// Where the person is sent at the end (http or https): with `success=true&vendor=...`, or with
    /// `error` and `error_message`.
    #[schema(example = "https://app.example/linked")]
    pub redirect_uri: String,
    /// `browser` or a language tag like `en-US`.
    #[schema(example = "en-US")]
    pub language: Option<String>,
}

/// A link session: open `linkUrl` in the person's browser.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkResponse {
    /// The hosted link page; single use, valid for 24 hours.
    pub link_url: String,
    /// The token inside the URL, for apps that build the URL themselves.
    pub link_token: String,
}

/// Creates a link session for a user (creating the user if the client has none by that id). The
/// person opens `linkUrl`, picks a vendor (unless one was named), signs in at the vendor, and is sent
/// back to `redirectUri`. The session can be used once and expires after 24 hours.
#[utoipa::path(
    post,
    path = "/users/{userId}/link",
    tag = "linking",
    params(("userId" = String, Path, pattern = "^[^\\s/\\x00-\\x1F\\x7F-\\x9F]([^/\\x00-\\x1F\\x7F-\\x9F]*[^\\s/\\x00-\\x1F\\x7F-\\x9F])?$", max_length = 255, description = "The app's own identifier for the user")),
    request_body = LinkBody,
    responses(
        (status = 200, description = "The link session", body = LinkResponse),
        (status = 400, description = "No vehicle vendor is configured on this Coupler", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad redirectUri, scope, vendor, vendorType or language", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn create_link(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(raw_user): ApiPath<String>,
    ApiJson(body): ApiJson<LinkBody>,
) -> Result<ApiJson<LinkResponse>, ApiError> {
    let user = UserId::parse(&raw_user).map_err(|e| ApiError::bad_request(e.to_string()).at_path("userId"))?;
    let request = LinkRequest::parse(
        body.vendor.as_deref(),
        body.vendor_type.as_deref(),
        &body.scopes,
        &body.redirect_uri,
        body.language.as_deref(),
    )
    .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if let Some(vendor) = &request.vendor {
        if state.engine.adapters().get(vendor).is_none() {
            let available = state
                .engine
                .adapters()
                .all()
                .map(|a| a.description().vendor.to_string());
            return Err(ApiError::invalid(format!(
                "vendor '{vendor}' is not available on this Coupler; GET /integrations lists those that are"
            ))
            .at(crate::error::InvalidValue::body("/vendor", "not available on this Coupler").allowed(available)));
        }
    }
    let link = state.engine.create_link(&caller.client_id, &user, request).await?;
    let base = state.public_url.as_str().trim_end_matches('/');
    let token = link.token.expose().to_owned();
    Ok(ApiJson(LinkResponse {
        link_url: format!("{base}/link/{token}"),
        link_token: token,
    }))
}

/// A vendor users can link.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Integration {
    /// The vendor's name in the API.
    #[schema(example = "TESLA")]
    pub vendor: String,
    /// A name for people.
    pub display_name: String,
    /// The kind of device: `vehicle`.
    #[schema(value_type = crate::wire::VendorType)]
    pub vendor_type: &'static str,
    /// The scopes it can grant.
    #[schema(value_type = Vec<coupler_core::capability::Scope>)]
    pub scopes: Vec<String>,
    /// `READY` (Coupler does not yet measure vendor health).
    #[schema(value_type = crate::wire::VendorStatus)]
    pub status: &'static str,
    /// `READY`: it can be linked.
    #[schema(value_type = crate::wire::VendorStatus)]
    pub linking_status: &'static str,
}

/// Lists the vendors configured on this Coupler.
#[utoipa::path(
    get,
    path = "/integrations",
    tag = "linking",
    responses(
        (status = 200, description = "The vendors", body = Vec<Integration>),
        (status = "4XX", description = "Authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn list_integrations(_caller: Caller, State(state): State<AppState>) -> ApiJson<Vec<Integration>> {
    ApiJson(
        state
            .engine
            .adapters()
            .all()
            .map(|adapter| {
                let d = adapter.description();
                Integration {
                    vendor: d.vendor.as_str().to_owned(),
                    display_name: d.display_name.clone(),
                    vendor_type: "vehicle",
                    scopes: d.scopes.iter().map(|s: &Scope| s.as_str().to_owned()).collect(),
                    status: "READY",
                    linking_status: "READY",
                }
            })
            .collect(),
    )
}

/// Disconnects a user's accounts at a vendor (every one of them, when the user linked several):
/// their tokens, vehicles and interventions are deleted. Coupler cannot revoke the grant at the
/// vendor; the user can do that in the vendor's app.
#[utoipa::path(
    delete,
    path = "/users/{userId}/vendors/{vendor}",
    tag = "linking",
    params(
        ("userId" = String, Path, pattern = "^[^\\s/\\x00-\\x1F\\x7F-\\x9F]([^/\\x00-\\x1F\\x7F-\\x9F]*[^\\s/\\x00-\\x1F\\x7F-\\x9F])?$", max_length = 255, description = "The app's own identifier for the user"),
        ("vendor" = String, Path, pattern = "^[A-Z0-9_]{1,32}$", description = "The vendor, for example TESLA"),
    ),
    responses(
        (status = 204, description = "The accounts and their vehicles are gone"),
        (status = 404, description = "The user has no account at that vendor", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn delete_vendor(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath((raw_user, raw_vendor)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let user = UserId::parse(&raw_user).map_err(|e| ApiError::bad_request(e.to_string()).at_path("userId"))?;
    let vendor = Vendor::parse(&raw_vendor).map_err(|e| ApiError::bad_request(e.to_string()).at_path("vendor"))?;
    if !state
        .store
        .delete_vendor_account(&caller.client_id, &user, &vendor)
        .await?
    {
        return Err(ApiError::not_found(format!(
            "user '{user}' has no linked {vendor} account"
        )));
    }
    tracing::info!(%vendor, "vendor account unlinked");
    Ok(StatusCode::NO_CONTENT)
}
