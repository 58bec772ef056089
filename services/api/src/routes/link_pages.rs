//! The hosted link pages a person's browser sees: `GET /link/{token}` (vendor selection, then a
//! redirect to the vendor's sign-in) and `GET /link/callback` (the OAuth2 redirect back from the
//! vendor, which finishes the link and sends the person on to the app's `redirectUri`).
//!
//! They are HTML, not part of the JSON API or its OpenAPI document. Problems the person can do
//! nothing about at the app (an unknown link, a replayed callback) are HTML error pages; everything
//! else ends at the app's `redirectUri` with `success=true` or with `error` and `error_message`.
//!
//! The OAuth `state` names the session on the callback. The browser also gets a cookie naming the
//! session it started, so a callback with a forged or mangled `state` can still be sent back to the
//! right app with `error=invalid_state`.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use coupler_core::link::{redirect_with, LinkFailure, LinkSession, LinkStatus};
use coupler_core::secret::hash_secret;
use coupler_core::Vendor;
use serde::Deserialize;
use url::Url;

use super::pages;
use crate::state::AppState;

/// The cookie that remembers which link session this browser started.
const COOKIE: &str = "coupler_link";

/// The callback path, as registered with the vendors.
pub const CALLBACK_PATH: &str = "/link/callback";

/// The callback URL vendors send the person back to.
pub fn callback_url(state: &AppState) -> Url {
    let base = state.public_url.as_str().trim_end_matches('/');
    // The public URL is an http(s) URL checked at start-up; appending a fixed path keeps it one.
    Url::parse(&format!("{base}{CALLBACK_PATH}")).unwrap_or_else(|_| state.public_url.clone())
}

/// The vendor selection page.
#[derive(Template)]
#[template(path = "link_vendors.html")]
struct VendorsPage<'a> {
    lang: &'a str,
    title: &'a str,
    error: Option<&'a str>,
    scopes: Vec<&'a str>,
    vendors: Vec<VendorChoiceLink>,
}

/// One vendor on the selection page.
struct VendorChoiceLink {
    href: String,
    name: String,
}

fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    pages::error_page(status, title, message, None)
}

/// Sends the person back to the app with the outcome.
fn back_to_app(session: &LinkSession, params: &[(&str, &str)]) -> Response {
    // The link is over; the browser no longer needs to remember it.
    pages::see_other(
        &redirect_with(&session.redirect_uri, params),
        Some(&format!("{COOKIE}=; Path=/link; Max-Age=0; HttpOnly; SameSite=Lax")),
    )
}

/// Ends the session with `failure` and sends the person back to the app with it.
async fn fail(state: &AppState, session: &LinkSession, failure: LinkFailure, message: &str) -> Response {
    match state
        .store
        .fail_link_session(&session.id, failure.code(), state.now())
        .await
    {
        Ok(_) => {}
        Err(e) => {
            tracing::error!(error = %e, "cannot record a failed link session");
            return error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Linking is unavailable",
                "Coupler cannot record this link right now. Please try again in a moment.",
            );
        }
    }
    tracing::info!(
        link_session = session.id.as_str(),
        error = failure.code(),
        "link session failed"
    );
    back_to_app(session, &[("error", failure.code()), ("error_message", message)])
}

fn over_page(session: &LinkSession) -> Response {
    let message = match session.status {
        LinkStatus::Completed => {
            "This link has already been used to connect an account. Go back to the app to start again."
        }
        _ => "This link has ended. Go back to the app to start again.",
    };
    error_page(StatusCode::GONE, "This link has been used", message)
}

/// Which vendor the person picked on the selection page.
#[derive(Debug, Deserialize)]
pub struct VendorChoice {
    vendor: Option<String>,
}

/// `GET /link/{token}`: the start of the hosted link flow.
pub async fn open_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(choice): Query<VendorChoice>,
) -> Response {
    let session = match state.store.get_link_session_by_token(&hash_secret(&token)).await {
        Ok(Some(session)) => session,
        Ok(None) => {
            return error_page(
                StatusCode::NOT_FOUND,
                "Link not found",
                "This link is not valid. Ask the app for a new one.",
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot read a link session");
            return error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Linking is unavailable",
                "Please try again in a moment.",
            );
        }
    };
    if session.status.is_final() {
        return over_page(&session);
    }
    if session.is_expired(state.now()) {
        return fail(&state, &session, LinkFailure::Expired, LinkFailure::Expired.message()).await;
    }

    let chosen = match (&session.vendor, choice.vendor.as_deref()) {
        (Some(fixed), _) => Some(fixed.clone()),
        (None, Some(raw)) => match Vendor::parse(raw)
            .ok()
            .filter(|v| state.engine.adapters().get(v).is_some())
        {
            Some(v) => Some(v),
            None => return vendor_list(&state, &token, &session, Some("That vendor is not available.")),
        },
        (None, None) => None,
    };
    let Some(vendor) = chosen else {
        return vendor_list(&state, &token, &session, None);
    };

    match state
        .engine
        .begin_authorization(&session, &vendor, &callback_url(&state))
        .await
    {
        Ok(url) => {
            let secure = pages::secure_attribute(&state.public_url);
            let cookie = format!("{COOKIE}={token}; Path=/link; Max-Age=86400; HttpOnly; SameSite=Lax{secure}");
            let response = pages::see_other(url.as_str(), Some(&cookie));
            tracing::info!(link_session = session.id.as_str(), %vendor, "sent to the vendor's sign-in");
            response
        }
        Err(coupler_engine::EngineError::Conflict(_)) => over_page(&session),
        Err(e) => {
            tracing::error!(error = %e, "cannot start a vendor sign-in");
            error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Linking is unavailable",
                "Coupler cannot start the sign-in right now. Please try again in a moment.",
            )
        }
    }
}

/// The vendor selection page, with the data the app asks for.
fn vendor_list(state: &AppState, token: &str, session: &LinkSession, error: Option<&str>) -> Response {
    let base = state.public_url.as_str().trim_end_matches('/');
    let vendors = state
        .engine
        .adapters()
        .all()
        .map(|a| {
            let d = a.description();
            VendorChoiceLink {
                href: format!("{base}/link/{token}?vendor={}", d.vendor.as_str()),
                name: d.display_name.clone(),
            }
        })
        .collect();
    let status = if error.is_none() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    pages::render(
        status,
        &VendorsPage {
            lang: pages::PAGE_LANG,
            title: "Connect your vehicle",
            error,
            scopes: session.scopes.iter().map(|s| s.as_str()).collect(),
            vendors,
        },
    )
}

/// The parameters a vendor sends back (RFC 6749 §4.1.2 and §4.1.2.1).
#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    pages::cookie(headers, COOKIE)
}

/// `GET /link/callback`: the vendor's redirect back after sign-in.
pub async fn callback(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<CallbackQuery>) -> Response {
    let by_state = match q.state.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => state.store.get_link_session_by_state(&hash_secret(s)).await,
        None => Ok(None),
    };
    let session =
        match by_state {
            Ok(Some(session)) => session,
            Ok(None) => {
                // A state that belongs to no session: forged, mangled, or from an earlier attempt. If the
                // browser started a session here, that session is told (and ended); otherwise there is no
                // app to send the person back to.
                let started = match cookie_token(&headers) {
                    Some(token) => state
                        .store
                        .get_link_session_by_token(&hash_secret(&token))
                        .await
                        .ok()
                        .flatten(),
                    None => None,
                };
                return match started {
                Some(session) if !session.status.is_final() => {
                    fail(&state, &session, LinkFailure::InvalidState, LinkFailure::InvalidState.message()).await
                }
                _ => error_page(
                    StatusCode::BAD_REQUEST,
                    "Sign-in not recognised",
                    "This sign-in response does not belong to a link in progress. Go back to the app to start again.",
                ),
            };
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read a link session");
                return error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Linking is unavailable",
                    "Please try again in a moment.",
                );
            }
        };

    if session.status.is_final() {
        // A replayed callback (the state was already used): nothing changes.
        return error_page(
            StatusCode::BAD_REQUEST,
            "This sign-in was already used",
            "This sign-in response was already used. Go back to the app to start again.",
        );
    }
    if session.is_expired(state.now()) {
        return fail(&state, &session, LinkFailure::Expired, LinkFailure::Expired.message()).await;
    }
    if let Some(error) = q.error.as_deref() {
        let failure = if error == "access_denied" {
            LinkFailure::AccessDenied
        } else {
            LinkFailure::VendorError
        };
        let description: String = q
            .error_description
            .as_deref()
            .unwrap_or(failure.message())
            .chars()
            .take(300)
            .collect();
        return fail(&state, &session, failure, &description).await;
    }
    let Some(code) = q.code.as_deref().filter(|c| !c.is_empty() && c.len() <= 4096) else {
        return fail(
            &state,
            &session,
            LinkFailure::VendorError,
            "The vendor sent back no authorization code.",
        )
        .await;
    };

    match state.engine.complete_link(&session, code, &callback_url(&state)).await {
        Ok(linked) => {
            let vendor = session
                .chosen_vendor
                .as_ref()
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default();
            tracing::info!(
                link_session = session.id.as_str(),
                vehicles = linked.vehicle_ids.len(),
                "link completed"
            );
            back_to_app(&session, &[("success", "true"), ("vendor", &vendor)])
        }
        Err(e) => fail(&state, &session, e.failure, &e.message).await,
    }
}
