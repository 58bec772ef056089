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
        StatusCode::URI_TOO_LONG => ("uri-too-long", "the request target is too long".to_owned()),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
            ("headers-too-large", "the request headers are too large".to_owned())
        }
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

/// The longest request target (path and query) answered normally; a longer one gets 414.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// The most request headers answered normally; more get 431.
pub const MAX_HEADER_COUNT: usize = 100;

/// The most bytes of request headers (names and values) answered normally; more get 431.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Checks the request's size limits, then reads its whole body before any handler runs.
///
/// Reading the body first is what keeps a kept-alive connection usable after an early answer: a
/// handler that refuses a request before reading its body (401, 404, 405, a validation error)
/// would otherwise leave the unread body on the connection, and hyper then closes it after the
/// response, racing the client's next request on the same connection (which then gets no answer).
/// Bodies are capped at [`crate::BODY_LIMIT`] anyway, so holding one in memory is bounded. A body
/// that is too large is refused (413) with `Connection: close`, since its rest stays unread.
pub(crate) async fn read_request(request: Request, next: Next) -> Response {
    let target_len = request.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target_len > MAX_URI_BYTES {
        return problem_response(
            StatusCode::URI_TOO_LONG,
            "uri-too-long",
            format!("the request target is {target_len} bytes; the limit is {MAX_URI_BYTES}"),
            None,
        );
    }
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if request.headers().len() > MAX_HEADER_COUNT || header_bytes > MAX_HEADER_BYTES {
        return problem_response(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers-too-large",
            format!(
                "the request has {} headers of {header_bytes} bytes; the limits are {MAX_HEADER_COUNT} headers and \
                 {MAX_HEADER_BYTES} bytes",
                request.headers().len()
            ),
            None,
        );
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > crate::BODY_LIMIT as u64) {
        return too_large();
    }
    let (parts, body) = request.into_parts();
    let read = tokio::time::timeout(crate::REQUEST_TIMEOUT, axum::body::to_bytes(body, crate::BODY_LIMIT)).await;
    let bytes = match read {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) if is_length_limit(&e) => return too_large(),
        Ok(Err(_)) => {
            return problem_response(
                StatusCode::BAD_REQUEST,
                "malformed-body",
                "the request body could not be read".to_owned(),
                None,
            )
        }
        Err(_) => {
            let mut response = problem_response(
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                "the request body took too long to arrive".to_owned(),
                None,
            );
            response
                .headers_mut()
                .insert(header::CONNECTION, header::HeaderValue::from_static("close"));
            return response;
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

fn is_length_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if cause.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = cause.source();
    }
    false
}

fn too_large() -> Response {
    let mut response = problem_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body-too-large",
        format!("the request body is larger than {} bytes", crate::BODY_LIMIT),
        None,
    );
    response
        .headers_mut()
        .insert(header::CONNECTION, header::HeaderValue::from_static("close"));
    response
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
