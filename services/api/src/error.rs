//! The one error type of the REST surface, answered as `application/problem+json` (RFC 9457).
//!
//! Policy: handlers return [`ApiError`]; a client mistake gets a 4xx with a `detail` that says what to
//! fix; a server fault is logged once here with its cause and answered with a generic 5xx, so no
//! internal detail leaks. axum's own rejections (bad JSON, wrong content type, oversized body, bad
//! path or query) are converted here too, so every error a client sees has the same shape.

use axum::extract::rejection::{FormRejection, PathRejection};
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
    /// On validation problems (422): each value that was refused, where it is, and what was
    /// expected instead.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<InvalidValue>,
}

/// Where a refused value was in the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ValueLocation {
    /// The JSON (or form) body; `pointer` says where in it.
    Body,
    /// A query parameter; `name` says which.
    Query,
    /// A path parameter; `name` says which.
    Path,
    /// A request header; `name` says which.
    Header,
}

/// One refused value of a request.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvalidValue {
    /// Where the value was.
    #[serde(rename = "in")]
    pub location: ValueLocation,
    /// In the body: a JSON Pointer (RFC 6901) to the value (`/action`; empty for the whole body).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "/action")]
    pub pointer: Option<String>,
    /// Outside the body: the parameter or header name.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "pageSize")]
    pub name: Option<String>,
    /// What is wrong with it.
    #[schema(example = "unknown value 'PAUSE'")]
    pub detail: String,
    /// What was expected, in words or as a type.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "one of the allowed values")]
    pub expected: Option<String>,
    /// The values allowed, when there is a fixed list.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = json!(["START", "STOP"]))]
    pub allowed: Option<Vec<String>>,
}

impl InvalidValue {
    /// A refused value in the body at `pointer`.
    pub fn body(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            location: ValueLocation::Body,
            pointer: Some(pointer.into()),
            name: None,
            detail: detail.into(),
            expected: None,
            allowed: None,
        }
    }

    /// A refused query parameter, path parameter or header.
    pub fn named(location: ValueLocation, name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            location,
            pointer: None,
            name: Some(name.into()),
            detail: detail.into(),
            expected: None,
            allowed: None,
        }
    }

    /// Says what was expected.
    pub fn expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self
    }

    /// Lists the allowed values.
    pub fn allowed<S: Into<String>>(mut self, allowed: impl IntoIterator<Item = S>) -> Self {
        self.allowed = Some(allowed.into_iter().map(Into::into).collect());
        self
    }
}

/// An error answered to an API caller.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    detail: String,
    oauth_error: Option<&'static str>,
    www_authenticate: Option<&'static str>,
    errors: Vec<InvalidValue>,
    retry_after: Option<u64>,
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
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// 422: a value in the request is not one the API takes (a missing field, a bad value, an
    /// unknown field, a bad parameter or header). Every validation failure has this one status;
    /// [`ApiError::at`] says which value.
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", detail)
    }

    /// The same as [`ApiError::invalid`]; the older name, kept so call sites read unchanged.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::invalid(detail)
    }

    /// 400: the request is well formed, but the target cannot do it (a precondition that is not
    /// likely to change soon: the vehicle's maker lacks the command, a scope was not granted).
    pub fn refused(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "refused", detail)
    }

    /// 429: too many requests; `retry_after` seconds until one would be let through.
    pub fn too_many_requests(detail: impl Into<String>, retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after.max(1)),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate-limited", detail)
        }
    }

    /// Names the value a validation problem is about; the detail of the problem stays as it is.
    pub fn at(mut self, value: InvalidValue) -> Self {
        self.errors.push(value);
        self
    }

    /// Names the body field (a JSON Pointer such as `/maxCurrent`) a validation problem is about.
    pub fn at_field(self, pointer: &str) -> Self {
        let detail = self.detail.clone();
        self.at(InvalidValue::body(pointer, detail))
    }

    /// Names the query parameter a validation problem is about.
    pub fn at_query(self, name: &str) -> Self {
        let detail = self.detail.clone();
        self.at(InvalidValue::named(ValueLocation::Query, name, detail))
    }

    /// Names the path parameter a validation problem is about.
    pub fn at_path(self, name: &str) -> Self {
        let detail = self.detail.clone();
        self.at(InvalidValue::named(ValueLocation::Path, name, detail))
    }

    /// Names the header a validation problem is about.
    pub fn at_header(self, name: &str) -> Self {
        let detail = self.detail.clone();
        self.at(InvalidValue::named(ValueLocation::Header, name, detail))
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

    /// What went wrong, in words (the problem's `detail`).
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

/// Builds a problem+json response; also used for errors that do not start as an [`ApiError`].
pub(crate) fn problem_response(status: StatusCode, kind: &str, detail: String, oauth_error: Option<&str>) -> Response {
    problem_with(status, kind, detail, oauth_error, Vec::new())
}

fn problem_with(
    status: StatusCode,
    kind: &str,
    detail: String,
    oauth_error: Option<&str>,
    errors: Vec<InvalidValue>,
) -> Response {
    let title = status.canonical_reason().unwrap_or("Error").to_owned();
    let body = Problem {
        problem_type: format!("urn:coupler:problem:{kind}"),
        title,
        status: status.as_u16(),
        error_description: oauth_error.map(|_| detail.clone()),
        error: oauth_error.map(str::to_owned),
        detail,
        errors,
    };
    let json = serde_json::to_vec(&body).unwrap_or_default();
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON))],
        json,
    )
        .into_response()
}

impl ApiError {
    /// What went wrong in words, each value at fault with it: for a background task (the VEN
    /// task) that records why something it asked for was refused.
    pub fn detail_with_values(&self) -> String {
        let mut text = self.detail.clone();
        for error in &self.errors {
            let at = error.pointer.as_deref().or(error.name.as_deref()).unwrap_or("");
            text.push_str(&format!("; {at}: {}", error.detail));
        }
        text
    }
}

impl std::fmt::Display for ApiError {
    /// The status, kind and detail, as logs show an error (never the Rust debug form).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.kind, self.detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = problem_with(self.status, self.kind, self.detail, self.oauth_error, self.errors);
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
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
            EngineError::Refused(detail) => Self::refused(detail),
            EngineError::UnknownVendor(vendor) => Self::invalid(format!("vendor '{vendor}' is not configured")),
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
        let invalid = Self::invalid(err.to_string());
        match err {
            CursorError::SizeOutOfRange { max } => {
                invalid.at(InvalidValue::named(ValueLocation::Query, "pageSize", err.to_string())
                    .expected(format!("an integer from 1 to {max}")))
            }
            CursorError::BothDirections => {
                invalid.at(InvalidValue::named(ValueLocation::Query, "before", err.to_string())
                    .expected("either 'after' or 'before', not both"))
            }
            CursorError::Malformed => invalid.at(InvalidValue::named(ValueLocation::Query, "after", err.to_string())
                .expected("a cursor from a previous page's 'pagination'")),
        }
    }
}

impl From<FormRejection> for ApiError {
    /// Forms are taken only at `/oauth/token`: a body of another media type is 415; a form that does
    /// not read is the OAuth 2.0 `invalid_request` (400), as RFC 6749 §5.2 has it.
    fn from(rejection: FormRejection) -> Self {
        match rejection {
            FormRejection::InvalidFormContentType(e) => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                e.body_text(),
            ),
            other => Self::oauth(StatusCode::BAD_REQUEST, "invalid_request", other.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        match rejection {
            PathRejection::FailedToDeserializePathParams(e) => Self::invalid(e.body_text()),
            other => Self::new(other.status(), "invalid-path", other.body_text()),
        }
    }
}
