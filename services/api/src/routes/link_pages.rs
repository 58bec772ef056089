//! The hosted link pages a person's browser sees: `GET /link/{token}` (the consent page: the app's
//! name and logo, the access asked for in plain words, privacy and what happens next, and the
//! vendor to continue to, the one the app named or a choice of all), `GET /link/{token}?vendor=`
//! (on to the vendor's sign-in), `POST /link/{token}/cancel` (back to the app without linking) and
//! `GET /link/callback` (the OAuth2 redirect back from the vendor, which finishes the link and
//! sends the person on to the app's `redirectUri`). Every page is in the person's language (see
//! [`crate::i18n`]).
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
use coupler_core::capability::Scope;
use coupler_core::link::{redirect_with, LinkFailure, LinkSession, LinkStatus};
use coupler_core::secret::hash_secret;
use coupler_core::Vendor;
use serde::Deserialize;
use url::Url;

use super::pages::{self, AppBrand, BackLink, Chrome};
use crate::i18n::{self, Tr};
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

/// The consent page: who asks, for what (in plain words), what happens to the data and next, and
/// the vendor to continue to (the one the app named, or a choice of all).
#[derive(Template)]
#[template(path = "link.html")]
struct LinkPage<'a> {
    chrome: &'a Chrome,
    title: String,
    error: Option<String>,
    intro: String,
    access_heading: String,
    access: Vec<String>,
    privacy_shared: String,
    privacy_stop: String,
    privacy_policy: Option<BackLink>,
    steps: Vec<String>,
    vendors: Vec<VendorChoiceLink>,
    cancel_action: String,
    cancel_label: String,
}

/// One vendor to continue to.
struct VendorChoiceLink {
    href: String,
    code: String,
    name: String,
    /// "Continue to …", for a vendor the app named.
    label: String,
}

/// What scope asks for, in a sentence for the car's owner.
fn scope_words(tr: &Tr, scope: Scope) -> String {
    tr.t(match scope {
        Scope::ReadData => "scope-read-data",
        Scope::ReadLocation => "scope-read-location",
        Scope::ControlCharging => "scope-control-charging",
    })
}

/// The page's base URL (`{public}/link/{token}`).
fn page_url(state: &AppState, token: &str) -> String {
    format!("{}/link/{token}", state.public_url.as_str().trim_end_matches('/'))
}

/// The frame of a page for `session`: its language (the person's pick, the app's, the browser's)
/// and the app's brand, with a language switch back to the page when `switch_to` names it.
async fn chrome_for(
    state: &AppState,
    session: &LinkSession,
    picked: Option<&str>,
    headers: &HeaderMap,
    switch_to: Option<&str>,
) -> Chrome {
    let tr = Tr::choose(picked, headers, Some(&session.language));
    let languages = switch_to.map(|page| tr.switcher(page)).unwrap_or_default();
    Chrome {
        brand: AppBrand::of(state, &session.client_id).await,
        tr,
        languages,
    }
}

/// A page for a browser that came with no known session: the language is the person's, the app is
/// unknown.
fn anonymous(picked: Option<&str>, headers: &HeaderMap) -> Chrome {
    Chrome {
        tr: Tr::choose(picked, headers, None),
        ..Chrome::default()
    }
}

fn not_found(chrome: &Chrome) -> Response {
    let tr = &chrome.tr;
    pages::error_page(
        StatusCode::NOT_FOUND,
        chrome,
        &tr.t("link-not-found-title"),
        &tr.t("link-not-found"),
        None,
    )
}

fn unavailable(chrome: &Chrome, back: Option<BackLink>) -> Response {
    let tr = &chrome.tr;
    pages::error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        chrome,
        &tr.t("link-unavailable-title"),
        &tr.t("link-unavailable"),
        back,
    )
}

/// The way back to the app from a page about `session`: the app's return page when it set one,
/// else its `redirectUri` with how the session ended (as the app hears it at the end of a link).
fn back_link(chrome: &Chrome, session: &LinkSession) -> BackLink {
    let href = match chrome.brand.as_ref().and_then(|b| b.return_url.clone()) {
        Some(url) => url,
        None => {
            let vendor = session.chosen_vendor.as_ref().map(Vendor::as_str).unwrap_or_default();
            let error = session.error.as_deref().unwrap_or(LinkFailure::Expired.code());
            let params: Vec<(&str, &str)> = match session.status {
                LinkStatus::Completed => vec![("success", "true"), ("vendor", vendor)],
                _ => vec![("error", error)],
            };
            redirect_with(&session.redirect_uri, &params)
        }
    };
    BackLink {
        href,
        label: chrome.back_label(),
    }
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
async fn fail(
    state: &AppState,
    chrome: &Chrome,
    session: &LinkSession,
    failure: LinkFailure,
    message: &str,
) -> Response {
    if let Err(e) = state
        .store
        .fail_link_session(&session.id, failure.code(), state.now())
        .await
    {
        tracing::error!(error = %e, "cannot record a failed link session");
        let back = BackLink {
            href: redirect_with(
                &session.redirect_uri,
                &[("error", LinkFailure::VendorUnavailable.code())],
            ),
            label: chrome.back_label(),
        };
        return unavailable(chrome, Some(back));
    }
    tracing::info!(
        link_session = session.id.as_str(),
        error = failure.code(),
        "link session failed"
    );
    back_to_app(session, &[("error", failure.code()), ("error_message", message)])
}

fn over_page(chrome: &Chrome, session: &LinkSession) -> Response {
    let tr = &chrome.tr;
    let app = chrome.app_name();
    let message = match session.status {
        LinkStatus::Completed => tr.with("link-used", &[("app", &app)]),
        _ => tr.with("link-ended", &[("app", &app)]),
    };
    pages::error_page(
        StatusCode::GONE,
        chrome,
        &tr.t("link-used-title"),
        &message,
        Some(back_link(chrome, session)),
    )
}

/// What the link page's URL may carry: the vendor the person continues to, and a language.
#[derive(Debug, Deserialize)]
pub struct LinkQuery {
    vendor: Option<String>,
    lang: Option<String>,
}

/// The session `token` names, or the page to show instead (unknown link, store down).
async fn session_of(state: &AppState, token: &str, chrome: &Chrome) -> Result<LinkSession, Response> {
    match state.store.get_link_session_by_token(&hash_secret(token)).await {
        Ok(Some(session)) => Ok(session),
        Ok(None) => Err(not_found(chrome)),
        Err(e) => {
            tracing::error!(error = %e, "cannot read a link session");
            Err(unavailable(chrome, None))
        }
    }
}

/// `GET /link/{token}`: the consent page; with `?vendor=` (its buttons), on to that vendor's
/// sign-in.
pub async fn open_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    Query(query): Query<LinkQuery>,
) -> Response {
    let picked = query.lang.as_deref();
    let session = match session_of(&state, &token, &anonymous(picked, &headers)).await {
        Ok(session) => session,
        Err(page) => return page,
    };
    let here = page_url(&state, &token);
    let chrome = chrome_for(&state, &session, picked, &headers, Some(&here)).await;
    let mut response = link_step(&state, &token, &session, &chrome, query.vendor.as_deref()).await;
    if let Some(cookie) = i18n::remember(picked, pages::secure_attribute(&state.public_url)) {
        pages::add_cookie(&mut response, &cookie);
    }
    response
}

/// The consent page, or (with the vendor the person continued to) the redirect to its sign-in.
async fn link_step(
    state: &AppState,
    token: &str,
    session: &LinkSession,
    chrome: &Chrome,
    continue_to: Option<&str>,
) -> Response {
    if session.status.is_final() {
        return over_page(chrome, session);
    }
    if session.is_expired(state.now()) {
        return fail(
            state,
            chrome,
            session,
            LinkFailure::Expired,
            LinkFailure::Expired.message(),
        )
        .await;
    }
    let Some(raw) = continue_to else {
        return consent_page(state, token, session, chrome, None);
    };
    let available = |v: &Vendor| state.engine.adapters().get(v).is_some();
    let vendor = match (&session.vendor, Vendor::parse(raw).ok().filter(available)) {
        (Some(named), Some(chosen)) if *named == chosen => chosen,
        (None, Some(chosen)) => chosen,
        _ => {
            let error = chrome.tr.t("link-vendor-unavailable");
            return consent_page(state, token, session, chrome, Some(error));
        }
    };

    match state
        .engine
        .begin_authorization(session, &vendor, &callback_url(state))
        .await
    {
        Ok(url) => {
            let secure = pages::secure_attribute(&state.public_url);
            let cookie = format!("{COOKIE}={token}; Path=/link; Max-Age=86400; HttpOnly; SameSite=Lax{secure}");
            tracing::info!(link_session = session.id.as_str(), %vendor, "sent to the vendor's sign-in");
            pages::see_other(url.as_str(), Some(&cookie))
        }
        Err(coupler_engine::EngineError::Conflict(_)) => over_page(chrome, session),
        Err(e) => {
            tracing::error!(error = %e, "cannot start a vendor sign-in");
            let back = BackLink {
                href: redirect_with(
                    &session.redirect_uri,
                    &[("error", LinkFailure::VendorUnavailable.code())],
                ),
                label: chrome.back_label(),
            };
            unavailable(chrome, Some(back))
        }
    }
}

/// The consent page for an open session, with `error` above it.
fn consent_page(
    state: &AppState,
    token: &str,
    session: &LinkSession,
    chrome: &Chrome,
    error: Option<String>,
) -> Response {
    let tr = &chrome.tr;
    let app = chrome.app_name();
    let here = page_url(state, token);
    let lang = tr.lang();
    let descriptions: Vec<_> = state
        .engine
        .adapters()
        .all()
        .map(|a| a.description().clone())
        .filter(|d| session.vendor.as_ref().is_none_or(|named| *named == d.vendor))
        .collect();
    let vendors: Vec<VendorChoiceLink> = descriptions
        .iter()
        .map(|d| VendorChoiceLink {
            href: format!("{here}?vendor={}&lang={lang}", d.vendor.as_str()),
            code: d.vendor.as_str().to_owned(),
            name: d.display_name.clone(),
            label: tr.with("link-continue", &[("vendor", &d.display_name)]),
        })
        .collect();
    let mut steps = Vec::new();
    match (&session.vendor, descriptions.first()) {
        (Some(_), Some(named)) => steps.push(tr.with("link-next-sign-in", &[("vendor", &named.display_name)])),
        _ => {
            steps.push(tr.t("link-next-choose"));
            steps.push(tr.t("link-next-sign-in-any"));
        }
    }
    steps.push(tr.with("link-next-back", &[("app", &app)]));
    let mut scopes = session.scopes.clone();
    scopes.sort();
    scopes.dedup();
    let status = if error.is_none() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    pages::render(
        status,
        &LinkPage {
            chrome,
            title: tr.with("link-heading", &[("app", &app)]),
            error,
            intro: tr.with("link-intro", &[("app", &app)]),
            access_heading: tr.with("link-access-heading", &[("app", &app)]),
            access: scopes.into_iter().map(|s| scope_words(tr, s)).collect(),
            privacy_shared: tr.with("link-privacy-shared", &[("app", &app)]),
            privacy_stop: tr.with("link-privacy-stop", &[("app", &app)]),
            privacy_policy: chrome
                .brand
                .as_ref()
                .and_then(|b| b.privacy_url.clone())
                .map(|href| BackLink {
                    href,
                    label: tr.with("link-privacy-policy", &[("app", &app)]),
                }),
            steps,
            vendors,
            cancel_action: format!("{here}/cancel"),
            cancel_label: tr.with("link-cancel", &[("app", &app)]),
        },
    )
}

/// `POST /link/{token}/cancel`: the person does not want to link; the session ends as
/// `access_denied` and the person goes back to the app with it. (The token in the path is the only
/// key to the session, so a page on another site cannot cancel a link it does not know.)
pub async fn cancel_link(State(state): State<AppState>, Path(token): Path<String>, headers: HeaderMap) -> Response {
    let session = match session_of(&state, &token, &anonymous(None, &headers)).await {
        Ok(session) => session,
        Err(page) => return page,
    };
    let chrome = chrome_for(&state, &session, None, &headers, None).await;
    if session.status.is_final() {
        return over_page(&chrome, &session);
    }
    tracing::info!(link_session = session.id.as_str(), "link cancelled on the consent page");
    fail(
        &state,
        &chrome,
        &session,
        LinkFailure::AccessDenied,
        "The person cancelled on the link page.",
    )
    .await
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
    let session = match by_state {
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
                    let chrome = chrome_for(&state, &session, None, &headers, None).await;
                    let failure = LinkFailure::InvalidState;
                    fail(&state, &chrome, &session, failure, failure.message()).await
                }
                _ => {
                    let chrome = anonymous(None, &headers);
                    let tr = &chrome.tr;
                    pages::error_page(
                        StatusCode::BAD_REQUEST,
                        &chrome,
                        &tr.t("signin-unknown-title"),
                        &tr.t("signin-unknown"),
                        None,
                    )
                }
            };
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot read a link session");
            return unavailable(&anonymous(None, &headers), None);
        }
    };
    let chrome = chrome_for(&state, &session, None, &headers, None).await;

    if session.status.is_final() {
        // A replayed callback (the state was already used): nothing changes.
        let tr = &chrome.tr;
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            &chrome,
            &tr.t("signin-used-title"),
            &tr.with("signin-used", &[("app", &chrome.app_name())]),
            Some(back_link(&chrome, &session)),
        );
    }
    if session.is_expired(state.now()) {
        return fail(
            &state,
            &chrome,
            &session,
            LinkFailure::Expired,
            LinkFailure::Expired.message(),
        )
        .await;
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
        return fail(&state, &chrome, &session, failure, &description).await;
    }
    let Some(code) = q.code.as_deref().filter(|c| !c.is_empty() && c.len() <= 4096) else {
        return fail(
            &state,
            &chrome,
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
        Err(e) => fail(&state, &chrome, &session, e.failure, &e.message).await,
    }
}
