//! Extractors that answer their rejections as problem+json, and the bearer-token check.

use axum::extract::{FromRequest, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use coupler_core::secret::hash_secret;
use coupler_core::{time, ClientId};

use crate::error::ApiError;
use crate::state::AppState;

/// A JSON body; a malformed one is answered as problem+json.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl<T: serde::Serialize> axum::response::IntoResponse for ApiJson<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

/// Path parameters; undecodable ones are answered as problem+json.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// Query parameters; malformed ones are answered as problem+json.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// A form body (`application/x-www-form-urlencoded`); a malformed one is answered as problem+json.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Form), rejection(ApiError))]
pub struct ApiForm<T>(pub T);

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
        let record = state
            .store
            .get_access_token(&hash_secret(token))
            .await?
            .ok_or_else(|| ApiError::unauthorized("the access token is not valid"))?;
        record
            .check(time::now())
            .map_err(|rejection| ApiError::unauthorized(rejection.to_string()))?;
        tracing::Span::current().record("client_id", record.client_id.as_str());
        Ok(Self {
            client_id: record.client_id,
        })
    }
}
