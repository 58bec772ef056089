//! What Coupler's vehicle adapters share.
//!
//! - [`http_client`]: one `reqwest::Client` per adapter with timeouts, a user agent, and no redirects
//!   (a maker's API or token endpoint that redirects is answering something other than what Coupler
//!   asked, and following it could carry a bearer token elsewhere).
//! - [`OAuthClient`]: the authorization URL (with PKCE S256 and `state`), the code exchange and the
//!   refresh, done with the `oauth2` crate and mapped onto [`AdapterError`].
//! - [`send`] and [`decode`]: a request's transport failures (timeouts, refused connections,
//!   oversized or unreadable answers) become [`AdapterError`]s, never panics.

mod oauth;

use std::time::Duration;

use coupler_core::adapter::parse_retry_after;
use coupler_core::AdapterError;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;

pub use oauth::{ClientAuth, OAuthClient};

/// How long one request to a maker may take, connection included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// The largest answer read from a maker, in bytes; more is treated as a failure, not buffered.
pub const MAX_BODY: usize = 2 * 1024 * 1024;

/// An HTTP client for talking to one maker: `timeout` per request, no redirects, Coupler's user agent.
pub fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("coupler/", env!("CARGO_PKG_VERSION")))
        .build()
        // Building fails only when the TLS backend cannot initialise, which is a broken build.
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// Resolves host names only to public addresses: a name that leads to a loopback, private,
/// link-local or otherwise internal address (see [`coupler_core::event::is_private_address`]) is
/// refused, so a public-looking name cannot be pointed inside after its URL was checked.
#[derive(Debug, Clone, Copy)]
pub struct PublicOnlyResolver;

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<std::net::SocketAddr> = found
                .into_iter()
                .filter(|a| !coupler_core::event::is_private_address(a.ip()))
                .collect();
            if public.is_empty() {
                let refused: Box<dyn std::error::Error + Send + Sync> =
                    format!("{host} resolves only to private or loopback addresses").into();
                return Err(refused);
            }
            let addrs: reqwest::dns::Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

/// Like [`http_client`], but names are resolved by [`PublicOnlyResolver`]: for URLs a client of
/// Coupler's API chose, which must not reach Coupler's own network.
pub fn public_http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("coupler/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(std::sync::Arc::new(PublicOnlyResolver))
        .build()
        // Building fails only when the TLS backend cannot initialise, which is a broken build.
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// A maker's answer, read in full.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    /// The `Retry-After` header in seconds, if the maker sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        retry_after(&self.headers)
    }

    /// The body as text for an error message: the first 200 characters, on one line.
    pub fn snippet(&self) -> String {
        snippet(&self.body)
    }
}

/// The `Retry-After` header in seconds.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after)
}

/// The first 200 characters of a body, on one line, for error messages.
pub fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Maps a transport failure onto an adapter error.
pub fn transport_error(err: &reqwest::Error) -> AdapterError {
    if err.is_timeout() {
        AdapterError::Timeout(format!("no answer within the time limit ({})", without_url(err)))
    } else if err.is_connect() {
        AdapterError::Upstream(format!("cannot connect ({})", without_url(err)))
    } else {
        AdapterError::Upstream(format!("request failed ({})", without_url(err)))
    }
}

/// The error's text without its URL, which may carry identifiers that do not belong in logs.
fn without_url(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    if let Some(url) = err.url() {
        text = text.replace(url.as_str(), "<url>");
    }
    text
}

/// Sends a request and reads the whole answer (up to [`MAX_BODY`] bytes).
pub async fn send(request: reqwest::RequestBuilder) -> Result<Answer, AdapterError> {
    let started = std::time::Instant::now();
    let sent = request.send().await;
    metrics::histogram!("coupler_vendor_request_duration_seconds").record(started.elapsed().as_secs_f64());
    let status_class = match &sent {
        Ok(r) if r.status().as_u16() == 429 => "429",
        Ok(r) => ["", "1xx", "2xx", "3xx", "4xx", "5xx"]
            .get(usize::from(r.status().as_u16() / 100))
            .copied()
            .unwrap_or("other"),
        Err(_) => "transport",
    };
    metrics::counter!("coupler_vendor_requests_total", "status_class" => status_class).increment(1);
    let mut response = sent.map_err(|e| transport_error(&e))?;
    let status = response.status();
    let headers = response.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(&e))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(AdapterError::Upstream(format!(
                "the answer is larger than {MAX_BODY} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer { status, headers, body })
}

/// Reads a JSON body into `T`; anything else (HTML, truncated JSON, a wrong shape) is an
/// [`AdapterError::Upstream`] that says what was expected.
pub fn decode<T: serde::de::DeserializeOwned>(answer: &Answer, what: &str) -> Result<T, AdapterError> {
    serde_json::from_slice(&answer.body).map_err(|e| {
        AdapterError::Upstream(format!(
            "the answer to {what} (HTTP {}) is not the expected JSON ({e}): {}",
            answer.status.as_u16(),
            answer.snippet()
        ))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    #[test]
    fn html_where_json_was_expected_is_an_upstream_error_that_says_so() {
        let answer = Answer {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: b"<html><body>Gateway\ntimeout</body></html>".to_vec(),
        };
        let err = decode::<serde_json::Value>(&answer, "GET /vehicles").unwrap_err();
        let AdapterError::Upstream(text) = err else {
            panic!("{err:?}")
        };
        assert!(text.contains("GET /vehicles") && text.contains("<html>"), "{text}");
        assert!(!text.contains('\n'));
    }

    #[tokio::test]
    async fn a_maker_that_does_not_answer_in_time_is_a_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route(
            "/slow",
            axum::routing::get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        let http = http_client(Duration::from_millis(200));
        let err = send(http.get(format!("http://{addr}/slow"))).await.unwrap_err();
        assert!(matches!(err, AdapterError::Timeout(_)), "{err:?}");
    }

    #[tokio::test]
    async fn a_token_endpoint_that_redirects_is_a_failure_and_the_redirect_is_not_followed() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;

        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        let app = axum::Router::new()
            .route(
                "/token",
                axum::routing::post(|| async { axum::response::Redirect::temporary("/elsewhere") }),
            )
            .route(
                "/elsewhere",
                axum::routing::post(move || {
                    counted.fetch_add(1, Ordering::SeqCst);
                    async { axum::Json(serde_json::json!({"access_token": "stolen", "token_type": "bearer"})) }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = OAuthClient {
            client_id: "c".into(),
            client_secret: Some(coupler_core::account::Secret::new("s")),
            authorize_url: url::Url::parse(&format!("http://{addr}/authorize")).unwrap(),
            token_url: url::Url::parse(&format!("http://{addr}/token")).unwrap(),
            auth: ClientAuth::Basic,
            extra_authorize_params: Vec::new(),
            extra_token_params: Vec::new(),
            http: http_client(DEFAULT_TIMEOUT),
        };
        let err = client
            .refresh(&coupler_core::account::Secret::new("r"))
            .await
            .unwrap_err();
        assert!(matches!(err, AdapterError::Upstream(_)), "{err:?}");
        assert_eq!(
            hits.load(Ordering::SeqCst),
            0,
            "the refresh token was not sent on to the redirect"
        );
    }

    #[tokio::test]
    async fn redirects_are_not_followed() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route(
            "/moved",
            axum::routing::get(|| async { axum::response::Redirect::temporary("http://elsewhere.invalid/") }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        let answer = send(http_client(DEFAULT_TIMEOUT).get(format!("http://{addr}/moved")))
            .await
            .unwrap();
        assert_eq!(answer.status, StatusCode::TEMPORARY_REDIRECT);
    }
}
