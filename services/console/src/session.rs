//! Signing in and out, the signed-in session as an extractor, and the CSRF check on every
//! state-changing request.

use askama::Template;
use axum::body::{to_bytes, Body};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use coupler_api::error::ApiError;
use coupler_api::extract::{Caller, Peer};
use coupler_api::routes::pages::{cookie, see_other};
use coupler_core::console::{normalise_email, ConsoleSession};
use coupler_core::secret::{generate_secret, hash_secret};
use coupler_core::ClientId;
use serde::Deserialize;

use crate::auth::{self, CSRF_FIELD, SESSION_COOKIE, SIGN_IN_COOKIE};
use crate::view::{error_page, render, Nav};
use crate::Console;

/// Where a signed-in person lands.
const HOME: &str = "/console/chargers";
/// The sign-in page.
const SIGN_IN: &str = "/console/sign-in";

/// A signed-in session: whose data it sees and the CSRF token its forms carry.
#[derive(Debug, Clone)]
pub struct Session {
    /// The client whose data the session sees.
    pub client_id: ClientId,
    /// The login's e-mail address.
    pub email: String,
    /// The session's CSRF token.
    pub csrf: String,
    /// The last event published when the request came in: a page's script streams the events
    /// after it, so nothing that changes between reading the page's data and opening the stream
    /// is missed.
    pub events_after: i64,
}

impl Session {
    /// The API caller the session speaks as: its client, exactly as that client's access token.
    pub fn caller(&self) -> Caller {
        Caller {
            client_id: self.client_id.clone(),
        }
    }

    /// The frame of a page in `section`.
    pub fn nav(&self, section: &'static str) -> Nav {
        Nav {
            signed_in: true,
            email: self.email.clone(),
            csrf: self.csrf.clone(),
            section,
            assets: crate::assets::version(),
            events_after: self.events_after,
        }
    }
}

/// Whether a request wants a page (a browser's navigation) rather than data.
fn wants_page(parts: &Parts) -> bool {
    parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

/// The session of the request's cookie, if it is one and still running.
async fn current(console: &Console, headers: &HeaderMap) -> Result<Option<(Session, String)>, ApiError> {
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    // Sessions live in wall-clock time, as access tokens do.
    let found = console
        .app
        .store
        .console_session(&hash_secret(&token), coupler_core::time::now())
        .await?;
    Ok(found.map(|s| {
        (
            Session {
                client_id: s.client_id,
                email: s.email,
                csrf: auth::csrf_token(&token),
                events_after: 0,
            },
            token,
        )
    }))
}

impl FromRequestParts<Console> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, Self::Rejection> {
        let found = current(console, &parts.headers)
            .await
            .map_err(IntoResponse::into_response)?;
        let Some((mut session, _)) = found else {
            return Err(if wants_page(parts) {
                see_other(SIGN_IN, None)
            } else {
                ApiError::unauthorized("sign in to the console first").into_response()
            });
        };
        tracing::Span::current().record("client_id", session.client_id.as_str());
        // Read before the page reads its data (the extractor runs before the handler).
        session.events_after = console
            .app
            .store
            .latest_seq()
            .await
            .map_err(|e| crate::view::PageError(e.into()).into_response())?;
        // A console session spends its client's API rate, as the client's own requests do.
        console
            .app
            .limits
            .check_api_request(session.client_id.as_str())
            .map_err(|e| crate::view::PageError(e).into_response())?;
        Ok(session)
    }
}

/// The sign-in page.
#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage<'a> {
    nav: Nav,
    csrf: &'a str,
    email: &'a str,
    error: Option<&'a str>,
}

/// The sign-in form with a fresh CSRF token (also set as a cookie, which the answer must match).
fn sign_in_form(console: &Console, status: StatusCode, email: &str, error: Option<&str>) -> Response {
    let token = generate_secret();
    let mut response = render(
        status,
        &SignInPage {
            nav: Nav::signed_out(),
            csrf: &token,
            email,
            error,
        },
    );
    if let Ok(value) = auth::sign_in_cookie(&token, console.secure()).parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// `GET /console/sign-in`: the form, or on to the console when already signed in.
pub async fn sign_in_page(State(console): State<Console>, headers: HeaderMap) -> Response {
    match current(&console, &headers).await {
        Ok(Some(_)) => see_other(HOME, None),
        Ok(None) => sign_in_form(&console, StatusCode::OK, "", None),
        Err(e) => crate::view::PageError(e).into_response(),
    }
}

/// The sign-in form's fields.
#[derive(Debug, Deserialize)]
pub struct SignIn {
    email: String,
    password: String,
}

/// `POST /console/sign-in`: checks the password (slowly, with Argon2id, whether or not the address
/// has a login), then starts a session and sets its cookie. Wrong answers spend the address's
/// failed-authentication bucket and the e-mail address's sign-in bucket; either running out is 429.
pub async fn sign_in(State(console): State<Console>, Peer(peer): Peer, body: axum::body::Bytes) -> Response {
    let Ok(form) = serde_urlencoded::from_bytes::<SignIn>(&body) else {
        return sign_in_form(
            &console,
            StatusCode::UNPROCESSABLE_ENTITY,
            "",
            Some("Enter an e-mail address and a password."),
        );
    };
    let limits = &console.app.limits;
    if let Err(refused) = limits.check_auth_allowed(peer) {
        return crate::view::PageError(refused).into_response();
    }
    let email = normalise_email(&form.email).unwrap_or_default();
    if !email.is_empty() && !console.sign_in.allows(&email) {
        return error_page(
            StatusCode::TOO_MANY_REQUESTS,
            Nav::signed_out(),
            "Too many sign-in attempts",
            "There were too many attempts to sign in with this e-mail address. Wait a minute, then try again.",
        );
    }
    let login = if email.is_empty() {
        None
    } else {
        match console.app.store.console_login_by_email(&email).await {
            Ok(login) => login,
            Err(e) => return crate::view::PageError(e.into()).into_response(),
        }
    };
    let stored = login.as_ref().map(|l| l.password_hash.clone());
    let password = form.password;
    // Argon2 is deliberately slow: off the async workers. An address without a login is checked
    // against the decoy, so it takes as long as a wrong password.
    let matches = tokio::task::spawn_blocking(move || match stored.as_deref() {
        Some(stored) => auth::verify_password(stored, &password),
        None => auth::verify_password(auth::decoy_hash(), &password),
    })
    .await
    .unwrap_or(false);
    let Some(login) = login.filter(|_| matches) else {
        limits.record_failed_auth("console", peer, None);
        return sign_in_form(
            &console,
            StatusCode::UNAUTHORIZED,
            form.email.trim(),
            Some("The e-mail address or the password is wrong."),
        );
    };
    let (token, token_hash) = auth::new_session_token();
    let now = coupler_core::time::now();
    let ttl = chrono::Duration::from_std(auth::SESSION_TTL).unwrap_or_else(|_| chrono::Duration::hours(12));
    let session = ConsoleSession {
        token_hash,
        login_id: login.id.clone(),
        client_id: login.client_id.clone(),
        email: login.email.clone(),
        created_at: now,
        expires_at: now + ttl,
    };
    if let Err(e) = console.app.store.insert_console_session(&session).await {
        return crate::view::PageError(e.into()).into_response();
    }
    // Expired sessions are cleared on the way; a failure here must not stop a sign-in.
    if let Err(e) = console.app.store.delete_expired_console_sessions(Utc::now()).await {
        tracing::warn!(error = %e, "could not remove expired console sessions");
    }
    tracing::info!(client_id = %login.client_id, login_id = %login.id, "console sign-in");
    let mut response = see_other(HOME, Some(&auth::session_cookie(&token, console.secure())));
    if let Ok(value) = format!("{SIGN_IN_COOKIE}=; Path=/console/sign-in; Max-Age=0; HttpOnly; SameSite=Strict").parse()
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// `POST /console/sign-out`: ends the session and removes its cookie.
pub async fn sign_out(State(console): State<Console>, headers: HeaderMap) -> Response {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        if let Err(e) = console.app.store.delete_console_session(&hash_secret(&token)).await {
            return crate::view::PageError(e.into()).into_response();
        }
    }
    see_other(SIGN_IN, Some(&auth::cleared_session_cookie(console.secure())))
}

/// Refuses every state-changing request to the console that does not carry the right CSRF token:
/// the session's (derived from its cookie) or, for signing in, the one the sign-in form was given.
/// The token comes in the `X-CSRF-Token` header or the form's `_csrf` field.
pub async fn require_csrf(request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, coupler_api::BODY_LIMIT).await else {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            format!("the request body is larger than {} bytes", coupler_api::BODY_LIMIT),
        )
        .into_response();
    };
    let expected = if parts.uri.path() == SIGN_IN {
        cookie(&parts.headers, SIGN_IN_COOKIE)
    } else {
        cookie(&parts.headers, SESSION_COOKIE).map(|token| auth::csrf_token(&token))
    };
    let sent = auth::csrf_header(&parts.headers).map(str::to_owned).or_else(|| {
        form_urlencoded::parse(&bytes)
            .find(|(name, _)| name == CSRF_FIELD)
            .map(|(_, value)| value.into_owned())
    });
    let accepted = matches!((&expected, &sent), (Some(expected), Some(sent)) if auth::tokens_match(expected, sent));
    if !accepted {
        tracing::info!(path = parts.uri.path(), "console request refused: no valid CSRF token");
        let message = "The request was refused because it did not carry this console session's CSRF token \
                       (a form from an old page, a signed-out session, or a request from another site). \
                       Reload the page and try again.";
        let is_form = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        return if is_form {
            error_page(
                StatusCode::FORBIDDEN,
                Nav::signed_out(),
                "Refused: CSRF check failed",
                message,
            )
        } else {
            ApiError::new(StatusCode::FORBIDDEN, "csrf-token-invalid", message).into_response()
        };
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}
