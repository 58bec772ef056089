//! The one error type of the REST surface, answered as `application/problem+json` (RFC 9457).
//!
//! Policy: handlers return [`ApiError`]; a client mistake gets a 4xx with a `detail` that says what to
//! fix; a server fault is logged once here with its cause and answered with a generic 5xx, so no
//! internal detail leaks. axum's own rejections (bad JSON, wrong content type, oversized body, bad
//! path or query) are converted here too, so every error a client sees has the same shape.

use axum::extract::rejection::{FormRejection, JsonRejection, PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use coupler_core::{CursorError, StoreError};
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error body (RFC 9457 problem details).
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem (`urn:coupler:problem:<kind>`).
    #[serde(rename = "type")]
    #[schema(example = "urn:coupler:problem:not-found")]
    pub problem_type: String,
    /// A short summary of the kind of problem.
    #[schema(example = "Not Found")]
    pub title: String,
    /// The HTTP status code.
    #[schema(example = 404)]
    pub status: u16,
    /// What went wrong in this request, and what to change.
    #[schema(example = "no user 'alice'")]
    pub detail: String,
    /// On `/oauth/token` only: the OAuth 2.0 error code (RFC 6749 §5.2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// On `/oauth/token` only: the same text as `detail`, under the OAuth 2.0 name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

/// An error answered to an API caller.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    detail: String,
    oauth_error: Option<&'static str>,
    www_authenticate: Option<&'static str>,
}

impl ApiError {
    /// An error with any status; `kind` becomes the last part of the problem type.
    pub fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            detail: detail.into(),
            oauth_error: None,
            www_authenticate: None,
        }
    }

    /// 400: the request is malformed or breaks a rule.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", detail)
    }

    /// 401 for API routes: no usable bearer token.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self {
            www_authenticate: Some("Bearer realm=\"coupler\""),
            ..Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
        }
    }

    /// 404: nothing there, or nothing the caller may see (another tenant's data answers the same).
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    /// 503: a dependency (the database) is unavailable; retrying later may work.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
    }

    /// 500: a fault on Coupler's side. The cause is logged; the caller gets a generic text.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "an internal error occurred; it has been logged",
        )
    }

    /// An OAuth 2.0 token-endpoint error (RFC 6749 §5.2), still shaped as problem+json.
    pub fn oauth(status: StatusCode, error: &'static str, detail: impl Into<String>) -> Self {
        let www_authenticate = (status == StatusCode::UNAUTHORIZED).then_some("Basic realm=\"coupler\"");
        Self {
            oauth_error: Some(error),
            www_authenticate,
            ..Self::new(status, "oauth", detail)
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

/// Builds a problem+json response; also used for errors that do not start as an [`ApiError`].
pub(crate) fn problem_response(status: StatusCode, kind: &str, detail: String, oauth_error: Option<&str>) -> Response {
    let title = status.canonical_reason().unwrap_or("Error").to_owned();
    let body = Problem {
        problem_type: format!("urn:coupler:problem:{kind}"),
        title,
        status: status.as_u16(),
        error_description: oauth_error.map(|_| detail.clone()),
        error: oauth_error.map(str::to_owned),
        detail,
    };
    let json = serde_json::to_vec(&body).unwrap_or_default();
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON))],
        json,
    )
        .into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = problem_response(self.status, self.kind, self.detail, self.oauth_error);
        if let Some(challenge) = self.www_authenticate {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        if self.oauth_error.is_some() {
            // RFC 6749 §5.1: token responses, errors included, must not be cached.
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                Self::unavailable("the database is unavailable; retry later")
            }
            StoreError::Conflict(cause) => Self::new(StatusCode::CONFLICT, "conflict", cause),
            StoreError::Backend(cause) => Self::internal(cause),
        }
    }
}

impl From<coupler_engine::EngineError> for ApiError {
    fn from(err: coupler_engine::EngineError) -> Self {
        use coupler_engine::EngineError;
        match err {
            EngineError::Store(e) => e.into(),
            EngineError::NotFound(detail) => Self::not_found(detail),
            EngineError::Refused(detail) => Self::bad_request(detail),
            EngineError::UnknownVendor(vendor) => Self::bad_request(format!("vendor '{vendor}' is not configured")),
            EngineError::Conflict(detail) => Self::new(StatusCode::CONFLICT, "conflict", detail),
            EngineError::IdempotencyKeyReused(detail) => crate::routes::control::idempotency_key_reused(detail),
            EngineError::Adapter(e) => {
                tracing::warn!(error = %e, "vendor call failed");
                Self::new(
                    StatusCode::BAD_GATEWAY,
                    "vendor-failure",
                    "the vehicle's vendor failed; retry later",
                )
            }
            EngineError::Secret(e) => Self::internal(e),
        }
    }
}

impl From<CursorError> for ApiError {
    fn from(err: CursorError) -> Self {
        Self::bad_request(err.to_string())
    }
}

/// axum's rejections keep their status (400, 413, 415, 422) and say why in `detail`.
macro_rules! from_rejection {
    ($($rejection:ty => $kind:literal),* $(,)?) => {$(
        impl From<$rejection> for ApiError {
            fn from(rejection: $rejection) -> Self {
                Self::new(rejection.status(), $kind, rejection.body_text())
            }
        }
    )*};
}

from_rejection!(
    JsonRejection => "invalid-body",
    FormRejection => "invalid-body",
    PathRejection => "invalid-path",
    QueryRejection => "invalid-query",
);
