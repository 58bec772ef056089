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

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use coupler_core::link::{redirect_with, LinkFailure, LinkSession, LinkStatus};
use coupler_core::secret::hash_secret;
use coupler_core::Vendor;
use serde::Deserialize;
use url::Url;

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

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\"><title>{title}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}}\
         li{{margin:.6rem 0}}</style></head><body><h1>{title}</h1>{body}</body></html>\n",
        title = escape(title)
    );
    (
        status,
        [
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        ],
        Html(html),
    )
        .into_response()
}

fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    page(status, title, &format!("<p>{}</p>", escape(message)))
}

/// A 303 to `location`; a location that cannot be a header (it never should) is an error page, not a panic.
fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (StatusCode::SEE_OTHER, [(header::LOCATION, value)]).into_response(),
        Err(_) => error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Linking failed",
            "Coupler cannot send you on. Go back to the app to start again.",
        ),
    }
}

/// Sends the person back to the app with the outcome.
fn back_to_app(session: &LinkSession, params: &[(&str, &str)]) -> Response {
    let mut response = see_other(&redirect_with(&session.redirect_uri, params));
    // The link is over; the browser no longer needs to remember it.
    if let Ok(value) = HeaderValue::from_str(&format!("{COOKIE}=; Path=/link; Max-Age=0; HttpOnly; SameSite=Lax")) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
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
            let mut response = see_other(url.as_str());
            let secure = if state.public_url.scheme() == "https" {
                "; Secure"
            } else {
                ""
            };
            let cookie = format!("{COOKIE}={token}; Path=/link; Max-Age=86400; HttpOnly; SameSite=Lax{secure}");
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
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
    let scopes: String = session
        .scopes
        .iter()
        .map(|s| format!("<li><code>{}</code></li>", escape(s.as_str())))
        .collect();
    let base = state.public_url.as_str().trim_end_matches('/');
    let vendors: String = state
        .engine
        .adapters()
        .all()
        .map(|a| {
            let d = a.description();
            format!(
                "<li><a href=\"{base}/link/{token}?vendor={vendor}\">{name}</a></li>",
                base = escape(base),
                token = escape(token),
                vendor = escape(d.vendor.as_str()),
                name = escape(&d.display_name)
            )
        })
        .collect();
    let error = error
        .map(|e| format!("<p role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    let status = if error.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    page(
        status,
        "Connect your vehicle",
        &format!(
            "{error}<p>The app asks for access to:</p><ul>{scopes}</ul>\
             <p>Choose your vehicle's brand to sign in there:</p><ul>{vendors}</ul>"
        ),
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
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|v| !v.is_empty())
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
