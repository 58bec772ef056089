//! `POST /oauth/token`: OAuth 2.0 client credentials (RFC 6749 §4.4).

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use coupler_core::secret::{generate_secret, hash_secret};
use coupler_core::{AccessToken, ClientId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, Problem};
use crate::extract::{ApiForm, Peer};
use crate::state::AppState;

/// The form a client posts to get a token. Credentials come either here or in an HTTP Basic
/// `Authorization` header, not both.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenRequest {
    /// Must be `client_credentials`.
    #[schema(value_type = Option<crate::wire::GrantType>, example = "client_credentials")]
    pub grant_type: Option<String>,
    /// The client id, when not sent by HTTP Basic.
    pub client_id: Option<String>,
    /// The client secret, when not sent by HTTP Basic.
    pub client_secret: Option<String>,
    /// Ignored: a client's token carries all of the client's rights.
    pub scope: Option<String>,
}

/// A new access token.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// The bearer token for `Authorization: Bearer <token>`.
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(value_type = crate::wire::TokenType, example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the token expires.
    #[schema(example = 3600)]
    pub expires_in: u64,
    /// Always empty: the token carries all of the client's rights.
    pub scope: String,
}

/// Exchanges client credentials for an access token.
#[utoipa::path(
    post,
    path = "/oauth/token",
    tag = "authentication",
    operation_id = "create_token",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "A new access token", body = TokenResponse),
        (status = 400, description = "Malformed request or unsupported grant type", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Unknown client, wrong secret, or revoked client", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/x-www-form-urlencoded`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many token requests from this client or address; `Retry-After` says when to try again", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds until a request would be let through"))),
    ),
    security((), ("basicAuth" = [])),
)]
pub async fn create_token(
    State(state): State<AppState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    ApiForm(form): ApiForm<TokenRequest>,
) -> Result<Response, ApiError> {
    // The client id is read for the limit before anything is checked; a malformed header names none.
    let claimed = basic_credentials(&headers)
        .ok()
        .flatten()
        .map(|(id, _)| id)
        .or_else(|| form.client_id.clone());
    state.limits.check_token_request(peer, claimed.as_deref())?;
    let failed = |detail: &str| {
        state.limits.record_failed_auth("token", peer, claimed.as_deref());
        invalid_client(detail)
    };
    match form.grant_type.as_deref() {
        Some("client_credentials") => {}
        Some(other) => {
            return Err(ApiError::oauth(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!("grant_type '{other}' is not supported; use client_credentials"),
            ))
        }
        None => return Err(invalid_request("grant_type is required")),
    }
    let basic = basic_credentials(&headers)?;
    let form_credentials = match (form.client_id, form.client_secret) {
        (Some(id), Some(secret)) => Some((id, secret)),
        (None, None) => None,
        _ => return Err(invalid_request("client_id and client_secret must be sent together")),
    };
    let (client_id, secret) = match (basic, form_credentials) {
        (Some(credentials), None) | (None, Some(credentials)) => credentials,
        (Some(_), Some(_)) => {
            return Err(invalid_request(
                "send client credentials by HTTP Basic or in the form, not both",
            ))
        }
        (None, None) => {
            return Err(invalid_client(
                "client credentials are required (HTTP Basic or form fields)",
            ))
        }
    };

    let client = match state.store.get_client(&ClientId::new(client_id)).await? {
        Some(client) if client.secret_hash.matches(&secret) => client,
        _ => return Err(failed("unknown client or wrong secret")),
    };
    if client.revoked_at.is_some() {
        return Err(failed("the client has been revoked"));
    }

    let token = generate_secret();
    // Access tokens live in wall-clock time, whatever clock the engine runs on.
    let now = coupler_core::time::now();
    let ttl = chrono::Duration::from_std(state.token_ttl).map_err(ApiError::internal)?;
    state
        .store
        .insert_access_token(&AccessToken {
            token_hash: hash_secret(&token),
            client_id: client.id.clone(),
            created_at: now,
            expires_at: now + ttl,
            revoked_at: None,
        })
        .await?;
    tracing::info!(client_id = %client.id, "access token issued");
    let body = TokenResponse {
        access_token: token,
        token_type: "Bearer",
        expires_in: state.token_ttl.as_secs(),
        scope: String::new(),
    };
    Ok((
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        axum::Json(body),
    )
        .into_response())
}

/// The default lifetime of an access token.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(3600);

fn invalid_request(detail: &str) -> ApiError {
    ApiError::oauth(StatusCode::BAD_REQUEST, "invalid_request", detail)
}

fn invalid_client(detail: &str) -> ApiError {
    ApiError::oauth(StatusCode::UNAUTHORIZED, "invalid_client", detail)
}

/// Reads `Authorization: Basic` credentials. RFC 6749 §2.3.1 has both parts form-urlencoded before
/// they are joined, so each is decoded after the split.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = || invalid_client("the Authorization header is not valid HTTP Basic credentials");
    let value = value.to_str().map_err(|_| malformed())?;
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Err(malformed());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(malformed());
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    Ok(Some((form_decode(id), form_decode(secret))))
}

fn form_decode(part: &str) -> String {
    let spaced = part.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(raw: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(raw))).unwrap(),
        );
        headers
    }

    #[test]
    fn basic_credentials_are_split_at_the_first_colon_and_form_decoded() {
        assert_eq!(
            basic_credentials(&basic("my%20id:se:cr%2Bet+x")).unwrap(),
            Some(("my id".into(), "se:cr+et x".into()))
        );
    }

    #[test]
    fn a_header_that_is_not_basic_credentials_is_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert!(basic_credentials(&headers).is_err());
        assert!(basic_credentials(&basic("no-colon")).is_err());
        assert_eq!(basic_credentials(&HeaderMap::new()).unwrap(), None);
    }
}
