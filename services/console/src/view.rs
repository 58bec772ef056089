//! What every console page shares: the navigation, the headers a page goes out with (a strict
//! Content-Security-Policy among them), error pages, and the small formatting helpers templates use.

use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use coupler_api::error::ApiError;
use serde::Serialize;

/// The policy every console page is served under: scripts, styles, images and connections only
/// from Coupler itself, no inline script or style element, no framing, forms only to Coupler.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// The sections of the console, in the order the navigation lists them: (path, label).
pub const SECTIONS: [(&str, &str); 7] = [
    ("/console/users", "Users"),
    ("/console/chargers", "Chargers"),
    ("/console/vehicles", "Vehicles"),
    ("/console/ev-systems", "EV systems"),
    ("/console/actions", "Actions"),
    ("/console/webhooks", "Webhooks"),
    ("/console/flex", "Flex"),
];

/// The page frame's values: who is signed in, the CSRF token for its forms, where the page sits.
#[derive(Debug, Clone)]
pub struct Nav {
    /// Whether a session is signed in (the sign-in and some error pages have none).
    pub signed_in: bool,
    /// The signed-in login's e-mail address.
    pub email: String,
    /// The session's CSRF token, put in every form.
    pub csrf: String,
    /// The path of the section the page belongs to.
    pub section: &'static str,
    /// The assets' version, added to their URLs.
    pub assets: &'static str,
    /// The last event published before the page's data was read; its script streams from there.
    pub events_after: i64,
}

impl Nav {
    /// The frame of a page shown to nobody signed in.
    pub fn signed_out() -> Self {
        Self {
            signed_in: false,
            email: String::new(),
            csrf: String::new(),
            section: "",
            assets: crate::assets::version(),
            events_after: 0,
        }
    }

    /// The sections for the navigation: (path, label, whether it is the current one).
    pub fn sections(&self) -> Vec<(&'static str, &'static str, bool)> {
        SECTIONS
            .iter()
            .map(|(path, label)| (*path, *label, *path == self.section))
            .collect()
    }
}

/// `template` as a console page with `status`.
pub fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, page_headers(), Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot render a console page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                page_headers(),
                Html("<!doctype html><html lang=\"en\"><title>Error</title><p>Something went wrong.</p></html>"),
            )
                .into_response()
        }
    }
}

/// The headers of every console page: never cached (they show a tenant's data), not framed, no
/// script but Coupler's own.
fn page_headers() -> [(header::HeaderName, HeaderValue); 5] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::REFERRER_POLICY, HeaderValue::from_static("same-origin")),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
    ]
}

/// A page that says what went wrong.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    nav: Nav,
    title: &'a str,
    message: &'a str,
}

/// An error page with `status`.
pub fn error_page(status: StatusCode, nav: Nav, title: &str, message: &str) -> Response {
    render(status, &ErrorPage { nav, title, message })
}

/// An error of a console page: the API's answer (404 for another tenant's id, 422 for a bad value,
/// 409 …) shown as a page.
#[derive(Debug)]
pub struct PageError(pub ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl From<coupler_core::StoreError> for PageError {
    fn from(e: coupler_core::StoreError) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let title = match status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::TOO_MANY_REQUESTS => "Too many requests",
            s if s.is_server_error() => "Something went wrong",
            _ => "That did not work",
        };
        error_page(status, Nav::signed_out(), title, self.0.detail())
    }
}

/// A result of a console handler.
pub type PageResult = Result<Response, PageError>;

/// A moment as people read it: `2026-12-06 16:05:32 UTC`.
pub fn when(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// An optional moment, or a dash.
pub fn when_opt(at: &Option<DateTime<Utc>>) -> String {
    at.as_ref().map(when).unwrap_or_else(|| "—".to_owned())
}

/// An optional value, or a dash.
pub fn or_dash<T: std::fmt::Display>(value: &Option<T>) -> String {
    value.as_ref().map(|v| v.to_string()).unwrap_or_else(|| "—".to_owned())
}

/// A number with up to `digits` decimals, or a dash.
pub fn number(value: Option<f64>, digits: usize) -> String {
    value.map(|v| format!("{v:.digits$}")).unwrap_or_else(|| "—".to_owned())
}

/// Power in kW, or a dash.
pub fn kw(value: &Option<f64>) -> String {
    with_unit(value, "kW")
}

/// Energy in kWh, or a dash.
pub fn kwh(value: &Option<f64>) -> String {
    with_unit(value, "kWh")
}

/// An amount of energy in kWh.
pub fn kwh_of(value: &f64) -> String {
    format!("{value:.2} kWh")
}

/// A current in amperes, or a dash.
pub fn amps(value: &Option<f64>) -> String {
    with_unit(value, "A")
}

/// A percentage, or a dash.
pub fn percent(value: &Option<f64>) -> String {
    value.map(|v| format!("{v:.0} %")).unwrap_or_else(|| "—".to_owned())
}

/// A plain number, or a dash.
pub fn plain(value: &Option<f64>) -> String {
    number(*value, 2)
}

/// Yes, no, or a dash when unknown.
pub fn yes_no(value: &Option<bool>) -> &'static str {
    match value {
        Some(true) => "Yes",
        Some(false) => "No",
        None => "—",
    }
}

fn with_unit(value: &Option<f64>, unit: &str) -> String {
    value
        .map(|v| format!("{v:.2} {unit}"))
        .unwrap_or_else(|| "—".to_owned())
}

/// The name an enum has on the wire (`"PLUGGED_IN:CHARGING"`), for showing it.
pub fn wire_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        Ok(serde_json::Value::Null) | Err(_) => "—".to_owned(),
        Ok(other) => other.to_string(),
    }
}

/// A value as compact JSON, for showing requests and answers as they are.
pub fn json_text<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// One line of a chart.
#[derive(Debug, Serialize)]
pub struct Series {
    /// What it shows, with its unit, e.g. `Power (kW)`.
    pub label: String,
    /// Which y axis: `0` the left, `1` the right.
    pub axis: u8,
    /// Whether values hold until the next point (prices, plans, limits) rather than join by a line.
    pub step: bool,
    /// One value per x, `null` where there is none.
    pub values: Vec<Option<f64>>,
}

/// What a chart draws: times (Unix seconds) and the lines over them, with the axes' units. Pages
/// put it, as JSON, in the chart's `data-chart` attribute; `console.js` draws it with uPlot, and the
/// page shows the same numbers in a table for those who cannot see the chart.
#[derive(Debug, Serialize)]
pub struct Chart {
    /// The x values, Unix seconds.
    pub x: Vec<i64>,
    /// The lines.
    pub series: Vec<Series>,
    /// The left axis' unit.
    pub left: String,
    /// The right axis' unit, when a series uses it.
    pub right: Option<String>,
}

impl Chart {
    /// Whether there is nothing to draw.
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }

    /// The chart as the `data-chart` attribute's JSON.
    pub fn json(&self) -> String {
        json_text(self)
    }

    /// The chart's rows for its table: the time, then each series' value.
    pub fn rows(&self) -> Vec<(String, Vec<String>)> {
        self.x
            .iter()
            .enumerate()
            .map(|(i, x)| {
                let at = DateTime::<Utc>::from_timestamp(*x, 0)
                    .map(|t| when(&t))
                    .unwrap_or_default();
                let values = self
                    .series
                    .iter()
                    .map(|s| number(s.values.get(i).copied().flatten(), 2))
                    .collect();
                (at, values)
            })
            .collect()
    }
}
