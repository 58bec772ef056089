//! How an API client presents itself on the hosted link and enrolment pages: `GET|PUT
//! /client/branding` (the app's name, privacy policy and return page), `PUT|DELETE
//! /client/branding/logo` (its logo, as the image's own bytes), and `GET
//! /branding/{clientId}/logo` (the logo as the pages show it, served by Coupler itself).
//!
//! A logo is a PNG, JPEG or WebP image of at most 128 KiB, judged by its bytes; SVG is refused (it
//! can carry scripts). It is served with the type its bytes were judged to be and
//! `X-Content-Type-Options: nosniff`, so a browser never takes it for anything else.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use coupler_core::branding::{Branding, BrandingError, BrandingText, Logo};
use coupler_core::ClientId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, InvalidValue, Problem};
use crate::extract::{ApiJson, ApiPath, Caller};
use crate::state::AppState;

/// How the client's app appears on the hosted pages.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BrandingResponse {
    /// The app's name as car owners know it; the pages use the client's own name when unset.
    #[schema(example = "Volt Home")]
    pub app_name: Option<String>,
    /// The app's privacy policy, linked from the link page.
    #[schema(example = "https://volt.example/privacy")]
    pub privacy_policy_url: Option<String>,
    /// The app's page a person goes back to from a page whose link has ended; unset, they go to
    /// the link's `redirectUri` with the outcome.
    #[schema(example = "https://volt.example/")]
    pub return_url: Option<String>,
    /// Where Coupler serves the logo (public, as the pages show it), if one was uploaded.
    pub logo_url: Option<String>,
    /// The logo's media type: `image/png`, `image/jpeg` or `image/webp`.
    #[schema(example = "image/png")]
    pub logo_content_type: Option<String>,
    /// The logo's size in bytes.
    pub logo_size: Option<u64>,
    /// When the branding last changed; unset when it never was.
    pub updated_at: Option<DateTime<Utc>>,
}

/// The app's name, privacy policy and return page; a field left out or empty is unset. The logo
/// is not touched (`PUT /client/branding/logo`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BrandingBody {
    /// 1 to 80 characters, no control characters.
    #[schema(example = "Volt Home", max_length = 80)]
    pub app_name: Option<String>,
    /// An absolute http(s) URL.
    #[schema(example = "https://volt.example/privacy", max_length = 2048)]
    pub privacy_policy_url: Option<String>,
    /// An absolute http(s) URL.
    #[schema(example = "https://volt.example/", max_length = 2048)]
    pub return_url: Option<String>,
}

/// A logo's bytes, as the request or response body (binary, not JSON).
#[derive(Debug, ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct LogoImage(pub Vec<u8>);

fn response(state: &AppState, client: &ClientId, branding: Branding) -> BrandingResponse {
    let base = state.public_url.as_str().trim_end_matches('/');
    BrandingResponse {
        app_name: branding.app_name,
        privacy_policy_url: branding.privacy_policy_url,
        return_url: branding.return_url,
        logo_url: branding.logo.as_ref().map(|_| format!("{base}/branding/{client}/logo")),
        logo_content_type: branding.logo.as_ref().map(|l| l.kind.content_type().to_owned()),
        logo_size: branding.logo.as_ref().map(|l| l.size as u64),
        updated_at: branding.updated_at,
    }
}

/// A refused branding as a problem naming the field.
fn refused(error: BrandingError) -> ApiError {
    let detail = error.to_string();
    let at = match &error {
        BrandingError::AppName => InvalidValue::body("/appName", detail.clone()),
        BrandingError::Url { field, .. } => InvalidValue::body(format!("/{field}"), detail.clone()),
        BrandingError::TypeMismatch { .. } => {
            InvalidValue::named(crate::error::ValueLocation::Header, "Content-Type", detail.clone())
        }
        _ => InvalidValue::body("", detail.clone()).allowed(["image/png", "image/jpeg", "image/webp"]),
    };
    ApiError::invalid(detail).at(at)
}

/// How the client's app appears on the hosted link and enrolment pages.
#[utoipa::path(
    get,
    path = "/client/branding",
    tag = "branding",
    responses(
        (status = 200, description = "The branding (every field unset when none was set)", body = BrandingResponse),
        (status = "4XX", description = "Authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn get_branding(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<ApiJson<BrandingResponse>, ApiError> {
    let branding = state.store.get_branding(&caller.client_id).await?;
    Ok(ApiJson(response(&state, &caller.client_id, branding)))
}

/// Sets the app's name, privacy policy and return page as the hosted pages show them (all three
/// replaced; the logo stays).
#[utoipa::path(
    put,
    path = "/client/branding",
    tag = "branding",
    request_body = BrandingBody,
    responses(
        (status = 200, description = "The branding as stored", body = BrandingResponse),
        (status = 422, description = "A bad name or URL (named in `errors`)", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn put_branding(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<BrandingBody>,
) -> Result<ApiJson<BrandingResponse>, ApiError> {
    let text = BrandingText::parse(
        body.app_name.as_deref(),
        body.privacy_policy_url.as_deref(),
        body.return_url.as_deref(),
    )
    .map_err(refused)?;
    let branding = state.store.put_branding(&caller.client_id, &text, state.now()).await?;
    tracing::info!("branding updated");
    Ok(ApiJson(response(&state, &caller.client_id, branding)))
}

/// Uploads the app's logo: the image's bytes as the body, with its `Content-Type` (`image/png`,
/// `image/jpeg` or `image/webp`; the bytes must be that kind of image). At most 128 KiB; SVG is
/// refused. Replaces any earlier logo.
#[utoipa::path(
    put,
    path = "/client/branding/logo",
    tag = "branding",
    request_body(
        description = "The image",
        content(
            (LogoImage = "image/png"),
            (LogoImage = "image/jpeg"),
            (LogoImage = "image/webp"),
        ),
    ),
    responses(
        (status = 200, description = "The branding with the new logo", body = BrandingResponse),
        (status = 413, description = "A body larger than Coupler takes at all", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a PNG, JPEG or WebP image, an SVG, larger than 128 KiB, or a Content-Type that differs from the bytes", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn put_logo(
    caller: Caller,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<ApiJson<BrandingResponse>, ApiError> {
    let declared = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let logo = Logo::parse(declared, body.to_vec()).map_err(refused)?;
    let branding = state
        .store
        .put_logo(&caller.client_id, Some(&logo), state.now())
        .await?;
    tracing::info!(
        logo.content_type = logo.kind.content_type(),
        logo.bytes = logo.bytes.len(),
        "logo updated"
    );
    Ok(ApiJson(response(&state, &caller.client_id, branding)))
}

/// Removes the app's logo; the pages then show the name alone.
#[utoipa::path(
    delete,
    path = "/client/branding/logo",
    tag = "branding",
    responses(
        (status = 204, description = "No logo now"),
        (status = "4XX", description = "Authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn delete_logo(caller: Caller, State(state): State<AppState>) -> Result<StatusCode, ApiError> {
    state.store.put_logo(&caller.client_id, None, state.now()).await?;
    tracing::info!("logo removed");
    Ok(StatusCode::NO_CONTENT)
}

/// A client's logo, as the hosted pages show it. Public (the pages are), like the app's name on
/// them; served with the type its bytes are, `nosniff`, and a policy that lets it be nothing but an
/// image.
#[utoipa::path(
    get,
    path = "/branding/{clientId}/logo",
    tag = "branding",
    params(("clientId" = String, Path, description = "The API client's id")),
    responses(
        (status = 200, description = "The image, as the type its bytes are", content(
            (LogoImage = "image/png"),
            (LogoImage = "image/jpeg"),
            (LogoImage = "image/webp"),
        )),
        (status = 404, description = "No such client, or it has no logo", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request", body = Problem, content_type = "application/problem+json"),
    ),
    security(()),
)]
pub async fn serve_logo(State(state): State<AppState>, ApiPath(client): ApiPath<String>) -> Result<Response, ApiError> {
    let client = ClientId::new(client);
    let live = state
        .store
        .get_client(&client)
        .await?
        .is_some_and(|c| c.revoked_at.is_none());
    let logo = if live {
        state.store.get_logo(&client).await?
    } else {
        None
    };
    let Some(logo) = logo else {
        return Err(ApiError::not_found("no logo here"));
    };
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(logo.kind.content_type())),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; sandbox"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300")),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("inline; filename=\"logo\""),
            ),
        ],
        logo.bytes,
    )
        .into_response())
}
