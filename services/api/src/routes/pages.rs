//! What every hosted page (the link pages and the enrolment page) shares: the templates of the
//! shared layout in `templates/` (compiled and checked with the crate by askama, escaped by it),
//! the headers a page for a person goes out with, error pages, and redirects.

use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

/// The language of the pages' text: English only, so far.
pub const PAGE_LANG: &str = "en";

/// A button back to the app.
#[derive(Debug, Clone)]
pub struct BackLink {
    /// Where it goes.
    pub href: String,
    /// What it says.
    pub label: String,
}

/// A page that says what went wrong, with a way back to the app when one is known.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    lang: &'a str,
    title: &'a str,
    message: &'a str,
    back: Option<BackLink>,
}

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
                (
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(
                        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
                    ),
                ),
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

/// An error page: `title`, `message`, and the way back to the app if there is one.
pub fn error_page(status: StatusCode, title: &str, message: &str, back: Option<BackLink>) -> Response {
    render(
        status,
        &ErrorPage {
            lang: PAGE_LANG,
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
        return error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "Coupler cannot send you on. Go back to the app to start again.",
            None,
        );
    };
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, value)]).into_response();
    if let Some(cookie) = cookie.and_then(|c| HeaderValue::from_str(c).ok()) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
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
