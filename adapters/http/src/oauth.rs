//! OAuth2 authorization code with PKCE, and refresh, against a maker's authorization server.

use std::time::Duration;

use coupler_core::account::{Secret, TokenSet};
use coupler_core::adapter::AuthorizationRequest;
use coupler_core::AdapterError;
use oauth2::basic::{BasicClient, BasicErrorResponseType, BasicRequestTokenError};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, HttpRequest, HttpResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use url::Url;

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic `client_id:client_secret` (Smartcar, the simulated makers).
    Basic,
    /// `client_id` and `client_secret` as form fields (Tesla).
    RequestBody,
}

/// A maker's OAuth2 authorization server, as one registered client sees it.
#[derive(Clone)]
pub struct OAuthClient {
    /// The client id registered at the maker.
    pub client_id: String,
    /// The client secret, if the client has one.
    pub client_secret: Option<Secret>,
    /// The authorization endpoint (where the person's browser goes).
    pub authorize_url: Url,
    /// The token endpoint.
    pub token_url: Url,
    /// How the client authenticates at the token endpoint.
    pub auth: ClientAuth,
    /// Extra parameters for the authorization URL (for example Smartcar's `mode`).
    pub extra_authorize_params: Vec<(String, String)>,
    /// Extra form fields for token requests (for example Tesla's `audience`).
    pub extra_token_params: Vec<(String, String)>,
    /// The HTTP client; it must not follow redirects.
    pub http: reqwest::Client,
}

impl std::fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthClient")
            .field("client_id", &self.client_id)
            .field("authorize_url", &self.authorize_url.as_str())
            .field("token_url", &self.token_url.as_str())
            .finish_non_exhaustive()
    }
}

/// Why the token endpoint's answer was not read as a token response.
#[derive(Debug, thiserror::Error)]
enum Transport {
    #[error("{0}")]
    Request(#[from] reqwest::Error),
    #[error("the token endpoint answered HTTP {status}")]
    Status {
        status: u16,
        retry_after: Option<Duration>,
        body: String,
    },
    #[error("cannot build the response: {0}")]
    Http(#[from] http::Error),
}

impl OAuthClient {
    fn client(
        &self,
    ) -> oauth2::Client<
        oauth2::basic::BasicErrorResponse,
        oauth2::basic::BasicTokenResponse,
        oauth2::basic::BasicTokenIntrospectionResponse,
        oauth2::StandardRevocableToken,
        oauth2::basic::BasicRevocationErrorResponse,
        oauth2::EndpointSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointSet,
    > {
        let mut client = BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_auth_uri(AuthUrl::from_url(self.authorize_url.clone()))
            .set_token_uri(TokenUrl::from_url(self.token_url.clone()))
            .set_auth_type(match self.auth {
                ClientAuth::Basic => AuthType::BasicAuth,
                ClientAuth::RequestBody => AuthType::RequestBody,
            });
        if let Some(secret) = &self.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.expose().to_owned()));
        }
        client
    }

    /// The URL to send the person's browser to: authorization code flow with `state` and the S256
    /// challenge of the PKCE verifier, asking for `vendor_scopes`.
    pub fn authorization_url(&self, request: &AuthorizationRequest<'_>, vendor_scopes: &[String]) -> Url {
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(
            request.pkce_verifier.expose().to_owned(),
        ));
        let state = request.state.to_owned();
        let client = self
            .client()
            .set_redirect_uri(RedirectUrl::from_url(request.redirect_uri.clone()));
        let mut auth = client
            .authorize_url(move || CsrfToken::new(state))
            .add_scopes(vendor_scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(challenge);
        for (name, value) in &self.extra_authorize_params {
            auth = auth.add_extra_param(name.clone(), value.clone());
        }
        auth.url().0
    }

    /// Exchanges an authorization code. A refused code is [`AdapterError::CredentialsInvalid`].
    pub async fn exchange_code(
        &self,
        code: &str,
        pkce_verifier: &Secret,
        redirect_uri: &Url,
    ) -> Result<TokenSet, AdapterError> {
        let client = self
            .client()
            .set_redirect_uri(RedirectUrl::from_url(redirect_uri.clone()));
        let mut request = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.expose().to_owned()));
        for (name, value) in &self.extra_token_params {
            request = request.add_extra_param(name.clone(), value.clone());
        }
        let http = self.http.clone();
        let call = move |req: HttpRequest| execute(http.clone(), req);
        let response = request.request_async(&call).await.map_err(token_error)?;
        Ok(token_set(&response, None))
    }

    /// Gets new tokens with a refresh token. A refused refresh token is
    /// [`AdapterError::CredentialsInvalid`]; a maker that issues no new refresh token keeps the old one.
    pub async fn refresh(&self, refresh_token: &Secret) -> Result<TokenSet, AdapterError> {
        let client = self.client();
        let token = RefreshToken::new(refresh_token.expose().to_owned());
        let mut request = client.exchange_refresh_token(&token);
        for (name, value) in &self.extra_token_params {
            request = request.add_extra_param(name.clone(), value.clone());
        }
        let http = self.http.clone();
        let call = move |req: HttpRequest| execute(http.clone(), req);
        let response = request.request_async(&call).await.map_err(token_error)?;
        Ok(token_set(&response, Some(refresh_token)))
    }
}

fn token_set(response: &oauth2::basic::BasicTokenResponse, previous_refresh: Option<&Secret>) -> TokenSet {
    TokenSet {
        access_token: Secret::new(response.access_token().secret().clone()),
        refresh_token: response
            .refresh_token()
            .map(|t| Secret::new(t.secret().clone()))
            .or_else(|| previous_refresh.cloned()),
        expires_at: response
            .expires_in()
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .map(|d| coupler_core::time::now() + d),
    }
}

/// Sends a token request. Rate limits and server errors stop here, before the oauth2 crate tries to
/// read their bodies as OAuth error responses, so they keep their meaning (and `Retry-After`).
async fn execute(http: reqwest::Client, request: HttpRequest) -> Result<HttpResponse, Transport> {
    let request = reqwest::Request::try_from(request)?;
    let response = http.execute(request).await?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await?;
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        return Err(Transport::Status {
            status: status.as_u16(),
            retry_after: crate::retry_after(&headers),
            body: crate::snippet(&body),
        });
    }
    let mut builder = http::Response::builder().status(status);
    for (name, value) in &headers {
        builder = builder.header(name, value);
    }
    Ok(builder.body(body.to_vec())?)
}

fn token_error(err: BasicRequestTokenError<Transport>) -> AdapterError {
    match err {
        RequestTokenError::ServerResponse(response) => {
            let detail = format!(
                "{}{}",
                response.error().as_ref(),
                response
                    .error_description()
                    .map(|d| format!(": {}", crate::snippet(d.as_bytes())))
                    .unwrap_or_default()
            );
            match response.error() {
                BasicErrorResponseType::InvalidGrant => AdapterError::CredentialsInvalid(detail),
                // Tesla's authorization server answers a refused refresh token with `login_required`
                // and an expired code with `invalid_auth_code`; both mean the grant is gone.
                BasicErrorResponseType::Extension(code)
                    if matches!(code.as_str(), "login_required" | "invalid_auth_code") =>
                {
                    AdapterError::CredentialsInvalid(detail)
                }
                _ => AdapterError::Upstream(format!("the token endpoint refused the request ({detail})")),
            }
        }
        RequestTokenError::Request(Transport::Request(e)) => crate::transport_error(&e),
        RequestTokenError::Request(Transport::Status {
            status: 429,
            retry_after,
            body,
        }) => AdapterError::RateLimited {
            retry_after,
            detail: format!("the token endpoint is rate limited: {body}"),
        },
        RequestTokenError::Request(Transport::Status { status, body, .. }) => {
            AdapterError::Upstream(format!("the token endpoint failed with HTTP {status}: {body}"))
        }
        RequestTokenError::Request(Transport::Http(e)) => AdapterError::Upstream(e.to_string()),
        RequestTokenError::Parse(e, body) => AdapterError::Upstream(format!(
            "the token endpoint's answer is not a token response ({e}): {}",
            crate::snippet(&body)
        )),
        RequestTokenError::Other(text) => {
            AdapterError::Upstream(format!("the token endpoint's answer is unusable: {text}"))
        }
    }
}
