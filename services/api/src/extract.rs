//! Extractors that answer their rejections as problem+json, and the bearer-token check.
//!
//! A body or query string that parses but does not fit the type (a missing field, a value of the
//! wrong type, a value outside an enum, an unknown field) is a validation problem: 422 with the
//! value's place (a JSON Pointer into the body, or the parameter's name), what was expected and, for
//! enums, the allowed values. A body that is not JSON at all is 400; a body of another media type 415.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::StatusCode;
use coupler_core::secret::hash_secret;
use coupler_core::ClientId;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, InvalidValue, ValueLocation};
use crate::state::AppState;

/// A JSON body; a malformed one is answered as problem+json.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<mime_type::Essence>().ok())
            .is_some_and(|essence| essence.is_json());
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "the body must be JSON: send Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| ApiError::new(rejection.status(), "invalid-body", rejection.body_text()))?;
        json_value(&bytes).map(ApiJson)
    }
}

/// Reads `bytes` as a `T`, naming the value that does not fit.
pub(crate) fn json_value<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let malformed = |e: &serde_json::Error| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed-body",
            format!("the body is not valid JSON: {}", message_of(e)),
        )
    };
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let pointer = pointer_of(e.path());
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let invalid = describe(&message_of(&inner), pointer, ValueLocation::Body);
                ApiError::invalid(format!("the body does not fit: {}", invalid.detail)).at(invalid)
            }
            // Valid JSON that serde_json reports as a syntax error (a number where an enum's name
            // belongs) is a value that does not fit, not a malformed body.
            _ if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() => {
                let invalid =
                    InvalidValue::body(pointer, message_of(&inner)).expected("a value of the documented type");
                ApiError::invalid(format!("the body does not fit: {}", invalid.detail)).at(invalid)
            }
            _ => malformed(&inner),
        }
    })?;
    deserializer.end().map_err(|e| malformed(&e))?;
    Ok(value)
}

/// A JSON Pointer (RFC 6901) to the place serde stopped at.
fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path.iter() {
        let part = match segment {
            Segment::Seq { index } => index.to_string(),
            Segment::Map { key } => key.replace('~', "~0").replace('/', "~1"),
            Segment::Enum { .. } | Segment::Unknown => continue,
        };
        pointer.push('/');
        pointer.push_str(&part);
    }
    pointer
}

/// serde's message without the position serde_json appends.
fn message_of(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) if error.line() > 0 => text[..at].to_owned(),
        _ => text,
    }
}

/// Turns serde's message about the value at `pointer` into what a client can act on. serde's
/// wording is stable (it comes from `serde::de::Error`'s standard constructors), so the common
/// shapes are read back out of it: missing field, unknown field, unknown variant, invalid type or
/// value. Anything else keeps serde's message as the detail.
fn describe(message: &str, pointer: String, location: ValueLocation) -> InvalidValue {
    let make = |pointer: String, detail: String| match location {
        ValueLocation::Body => InvalidValue::body(pointer, detail),
        other => InvalidValue::named(other, pointer.trim_start_matches('/').to_owned(), detail),
    };
    if let Some(field) = between(message, "missing field `", "`") {
        return make(format!("{pointer}/{field}"), format!("'{field}' is required")).expected("a value");
    }
    if let Some(field) = between(message, "unknown field `", "`") {
        let allowed = allowed_list(message);
        // serde stops at the unknown key itself, so the pointer already ends with it.
        let invalid = make(pointer, format!("'{field}' is not a known field"));
        return match allowed {
            Some(allowed) => invalid.expected("one of the known fields").allowed(allowed),
            None => invalid.expected("no fields"),
        };
    }
    if let Some(value) = between(message, "unknown variant `", "`") {
        let invalid = make(pointer, format!("'{value}' is not an allowed value"));
        return match allowed_list(message) {
            Some(allowed) => invalid.expected("one of the allowed values").allowed(allowed),
            None => invalid,
        };
    }
    for prefix in ["invalid type: ", "invalid value: ", "invalid length "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            if let Some((got, expected)) = rest.split_once(", expected ") {
                return make(pointer, format!("got {got}")).expected(in_plain_words(expected));
            }
        }
    }
    make(pointer, message.to_owned())
}

/// serde names the Rust type it wanted (`f64`, `u32`); a client is told the JSON kind instead.
fn in_plain_words(expected: &str) -> String {
    match expected {
        "f32" | "f64" => "a number".to_owned(),
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number, 0 or more".to_owned(),
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number".to_owned(),
        other => other.to_owned(),
    }
}

/// The text between `start` and the next `end` in `message`.
fn between<'a>(message: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = message.find(start)? + start.len();
    let len = message[from..].find(end)?;
    Some(&message[from..from + len])
}

/// The names serde lists after "expected" (`expected one of `A`, `B``, `expected `A` or `B``).
fn allowed_list(message: &str) -> Option<Vec<String>> {
    let (_, list) = message.split_once("expected ")?;
    let names: Vec<String> = list
        .split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, name)| name.to_owned())
        .collect();
    (!names.is_empty()).then_some(names)
}

/// Media types, as far as the extractors need them.
mod mime_type {
    /// The `type/subtype` of a Content-Type, lower case, without parameters.
    #[derive(Debug)]
    pub(super) struct Essence(String);

    impl std::str::FromStr for Essence {
        type Err = ();

        fn from_str(value: &str) -> Result<Self, ()> {
            let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
            if essence.contains('/') {
                Ok(Self(essence))
            } else {
                Err(())
            }
        }
    }

    impl Essence {
        /// `application/json` or any `+json` type.
        pub(super) fn is_json(&self) -> bool {
            self.0 == "application/json" || (self.0.starts_with("application/") && self.0.ends_with("+json"))
        }
    }
}

impl<T: serde::Serialize> axum::response::IntoResponse for ApiJson<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

/// Path parameters; undecodable ones are answered as problem+json.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// Query parameters; one that does not fit is a validation problem naming the parameter.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded_parse(query));
        serde_path_to_error::deserialize(deserializer)
            .map(ApiQuery)
            .map_err(|e| {
                let pointer = pointer_of(e.path());
                let invalid = describe(&e.into_inner().to_string(), pointer, ValueLocation::Query);
                ApiError::invalid(format!("the query does not fit: {}", invalid.detail)).at(invalid)
            })
    }
}

fn form_urlencoded_parse(query: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(query.as_bytes())
}

/// A form body (`application/x-www-form-urlencoded`); a malformed one is answered as problem+json.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Form), rejection(ApiError))]
pub struct ApiForm<T>(pub T);

/// The address a request came from, when the server knows it (it does when served by
/// [`crate::serve::serve`]).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|info| info.0.ip()),
        ))
    }
}

/// The API client a request speaks for, proven by a valid bearer token.
///
/// Every tenant-scoped handler takes a `Caller`, so a route that forgets authentication does not
/// compile into a handler that can reach tenant data.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The authenticated client.
    pub client_id: ClientId,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("an Authorization: Bearer <token> header is required"))?;
        let value = header
            .to_str()
            .map_err(|_| ApiError::unauthorized("the Authorization header is not valid text"))?;
        let token = value
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|token| !token.is_empty())
            .ok_or_else(|| ApiError::unauthorized("the Authorization header must be 'Bearer <token>'"))?;
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip());
        state.limits.check_auth_allowed(peer)?;
        let failed = |detail: String| {
            state.limits.record_failed_auth("bearer", peer, None);
            ApiError::unauthorized(detail)
        };
        let record = state
            .store
            .get_access_token(&hash_secret(token))
            .await?
            .ok_or_else(|| failed("the access token is not valid".to_owned()))?;
        // Access tokens live in wall-clock time, whatever clock the engine runs on.
        record
            .check(coupler_core::time::now())
            .map_err(|rejection| failed(rejection.to_string()))?;
        tracing::Span::current().record("client_id", record.client_id.as_str());
        state.limits.check_api_request(record.client_id.as_str())?;
        Ok(Self {
            client_id: record.client_id,
        })
    }
}
