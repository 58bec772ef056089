//! Cross-cutting request handling: tracing spans, metrics, panics, and the guarantee that every error
//! response is problem+json.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::error::{problem_response, PROBLEM_JSON};
use crate::state::AppState;
use crate::REQUEST_ID_HEADER;

/// The route template of a request, or `unmatched` when no route took it.
fn route_of(request: &Request) -> String {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned())
}

/// A span per request with its id, method and route template (not the concrete path, which may hold
/// user ids); handlers add `client_id` once the caller is known.
pub(crate) fn trace_layer() -> TraceLayer<
    SharedClassifier<ServerErrorsAsFailures>,
    impl Fn(&Request) -> tracing::Span + Clone,
    (),
    DefaultOnResponse,
> {
    TraceLayer::new_for_http()
        .make_span_with(|request: &Request| {
            let request_id = request
                .headers()
                .get(REQUEST_ID_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            tracing::info_span!(
                "request",
                request_id,
                method = %request.method(),
                route = %route_of(request),
                client_id = tracing::field::Empty,
            )
        })
        .on_request(())
        .on_response(
            DefaultOnResponse::new()
                .level(Level::INFO)
                .latency_unit(tower_http::LatencyUnit::Millis),
        )
}

/// Counts the request and its latency under its route template.
pub(crate) async fn record_metrics(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = route_of(&request);
    let response = next.run(request).await;
    state
        .metrics
        .observe(&method, &route, response.status().as_u16(), started.elapsed());
    response
}

/// Rewrites error responses that are not problem+json (axum's bare 404 and 405, a timeout's 408, a
/// layer's 413) into problem+json, keeping their status and meaningful headers.
pub(crate) async fn problem_for_bare_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status();
    // Problem+json is already right; HTML is a hosted page (the link pages) meant for a person.
    let is_answered = response.headers().get(header::CONTENT_TYPE).is_some_and(|v| {
        let v = v.as_bytes();
        v.starts_with(PROBLEM_JSON.as_bytes()) || v.starts_with(b"text/html")
    });
    if !(status.is_client_error() || status.is_server_error()) || is_answered {
        return response;
    }
    let (kind, detail) = match status {
        StatusCode::NOT_FOUND => ("not-found", format!("no route for {method} {path}")),
        StatusCode::METHOD_NOT_ALLOWED => ("method-not-allowed", format!("{method} is not allowed on {path}")),
        StatusCode::REQUEST_TIMEOUT => ("timeout", "the request took too long to answer".to_owned()),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "body-too-large",
            format!("the request body is larger than {} bytes", crate::BODY_LIMIT),
        ),
        other => ("error", other.canonical_reason().unwrap_or("error").to_owned()),
    };
    let mut problem = problem_response(status, kind, detail, None);
    for name in [header::ALLOW, header::WWW_AUTHENTICATE, header::RETRY_AFTER] {
        if let Some(value) = response.headers().get(&name) {
            problem.headers_mut().insert(name, value.clone());
        }
    }
    problem
}

/// A handler that panics gets a logged 500 problem; the process and other requests go on.
pub(crate) fn catch_panic_layer() -> CatchPanicLayer<PanicHandler> {
    CatchPanicLayer::custom(panic_response as PanicHandler)
}

/// Turns a caught panic's payload into the response.
pub(crate) type PanicHandler = fn(Box<dyn std::any::Any + Send>) -> Response<Body>;

fn panic_response(panic: Box<dyn std::any::Any + Send>) -> Response<Body> {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = message, "handler panicked");
    problem_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "an internal error occurred; it has been logged".to_owned(),
        None,
    )
}
