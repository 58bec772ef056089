//! What every hosted page (the link pages and the enrolment page) shares: the templates of the
//! shared layout in `templates/` (compiled and checked with the crate by askama, escaped by it),
//! the frame around each page (its language, the app it speaks for), the headers a page for a
//! person goes out with, error pages, and redirects.

use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use coupler_core::ClientId;

use crate::i18n::{LanguageChoice, Tr};
use crate::state::AppState;

/// A button back to the app.
#[derive(Debug, Clone)]
pub struct BackLink {
    /// Where it goes.
    pub href: String,
    /// What it says.
    pub label: String,
}

/// The app a page speaks for, as its API client set it (`PUT /client/branding`).
#[derive(Debug, Clone)]
pub struct AppBrand {
    /// The app's name: the branding's, else the client's own.
    pub name: String,
    /// Where Coupler serves its logo, if it has one.
    pub logo_url: Option<String>,
    /// Its privacy policy.
    pub privacy_url: Option<String>,
    /// Its page to go back to when a link has ended.
    pub return_url: Option<String>,
}

impl AppBrand {
    /// The brand of `client` (its own name when it set none). A store that cannot answer gives a
    /// page without a brand rather than no page.
    pub async fn of(state: &AppState, client: &ClientId) -> Option<Self> {
        let branding = state.store.get_branding(client).await;
        let named = state.store.get_client(client).await;
        match (branding, named) {
            (Ok(branding), Ok(Some(named))) => {
                let base = state.public_url.as_str().trim_end_matches('/');
                Some(Self {
                    name: branding.app_name.unwrap_or(named.name),
                    logo_url: branding.logo.map(|logo| {
                        format!(
                            "{base}/branding/{client}/logo?v={}",
                            &logo.sha256[..12.min(logo.sha256.len())]
                        )
                    }),
                    privacy_url: branding.privacy_policy_url,
                    return_url: branding.return_url,
                })
            }
            (Ok(_), Ok(None)) => None,
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "cannot read a client's branding; the page goes without it");
                None
            }
        }
    }
}

/// What every page's frame shows: its language (and the switch to the others), and the app it
/// speaks for, when known.
#[derive(Debug, Clone, Default)]
pub struct Chrome {
    /// The page's language and text.
    pub tr: Tr,
    /// The app, when the page knows which.
    pub brand: Option<AppBrand>,
    /// The languages the page can be switched to; none for a page that cannot be opened again
    /// (an answer to a form).
    pub languages: Vec<LanguageChoice>,
}

impl Chrome {
    /// The app's name, or "the app" in the page's language.
    pub fn app_name(&self) -> String {
        self.brand
            .as_ref()
            .map_or_else(|| self.tr.t("the-app"), |b| b.name.clone())
    }

    /// "This page is run by Coupler on behalf of …", when the app is known.
    pub fn run_by(&self) -> Option<String> {
        self.brand.as_ref().map(|b| self.tr.with("run-by", &[("app", &b.name)]))
    }

    /// The logo's text alternative.
    pub fn logo_alt(&self) -> String {
        self.tr.with("logo-alt", &[("app", &self.app_name())])
    }

    /// "Back to …" in the page's language.
    pub fn back_label(&self) -> String {
        self.tr.with("back-to-app", &[("app", &self.app_name())])
    }
}

/// A page that says what went wrong, with a way back to the app when one is known.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: &'a Chrome,
    title: &'a str,
    message: &'a str,
    back: Option<BackLink>,
}

/// The Content-Security-Policy of every page: no scripts at all, styles only inline (each page
/// carries its own), images only from Coupler (the app's logo), never framed. (No `form-action`:
/// browsers apply it to the redirect after a form too, and the forms end at the app.)
const CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// `template` as a page with `status`. Pages are not cached, send no referrer (their URLs hold
/// one-time tokens), and cannot be framed by another site (a consent page must not be overlaid).
pub fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (
            status,
            [
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
                (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
                (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
                (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)),
            ],
            Html(html),
        )
            .into_response(),
        Err(e) => {
            // A template renders only the values it is given; this is a bug, not bad input.
            tracing::error!(error = %e, "cannot render a page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<!doctype html><html lang=\"en\"><title>Error</title><p>Something went wrong.</p></html>"),
            )
                .into_response()
        }
    }
}

/// An error page: `title`, `message`, and the way back to the app if there is one (else a word
/// that the page can be closed).
pub fn error_page(status: StatusCode, chrome: &Chrome, title: &str, message: &str, back: Option<BackLink>) -> Response {
    render(
        status,
        &ErrorPage {
            chrome,
            title,
            message,
            back,
        },
    )
}

/// A 303 to `location`, with `cookie` set if given; a location that cannot be a header (it never
/// should) is an error page, not a panic.
pub fn see_other(location: &str, cookie: Option<&str>) -> Response {
    let Ok(value) = HeaderValue::from_str(location) else {
        let chrome = Chrome::default();
        return error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            &chrome,
            &chrome.tr.t("error-title"),
            &chrome.tr.t("error-send-on"),
            None,
        );
    };
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, value)]).into_response();
    if let Some(cookie) = cookie {
        add_cookie(&mut response, cookie);
    }
    response
}

/// Adds a `Set-Cookie` to `response` (beside any it has); a value that cannot be a header (it
/// never should) is left out.
pub fn add_cookie(response: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// `; Secure` when the public URL is https, so cookies never travel in the clear there.
pub fn secure_attribute(public_url: &url::Url) -> &'static str {
    if public_url.scheme() == "https" {
        "; Secure"
    } else {
        ""
    }
}

/// The value of the cookie `name` in a request's headers, if set and not empty.
pub fn cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_owned())
        .filter(|v| !v.is_empty())
}
