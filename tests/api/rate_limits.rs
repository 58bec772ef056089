//! Rate limits on `/oauth/token` (per client and per source address, and failed authentications
//! per address) and on the API per client: 429 problems with `Retry-After`.

use coupler::config::Config;
use coupler::server::Server;
use coupler_api::limits::{Rate, RateLimitConfig};
use coupler_core::secret::SecretKey;
use coupler_store::testing::TestDatabase;
use coupler_tests::{problem, TestApp};
use reqwest::{Method, Response};

/// Limits that refill one request a minute, so nothing refills while a test runs.
fn limits(token_per_address: u32, token_per_client: u32, failed_auth: u32, api: u32) -> RateLimitConfig {
    let rate = |burst| Rate { burst, per_minute: 1 };
    RateLimitConfig {
        token_per_address: rate(token_per_address),
        token_per_client: rate(token_per_client),
        failed_auth_per_address: rate(failed_auth),
        api_per_client: rate(api),
    }
}

async fn token_request(app: &TestApp, id: &str, secret: &str) -> Response {
    app.request(Method::POST, "/oauth/token")
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
}

async fn assert_rate_limited(response: Response) {
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1, "Retry-After: {retry_after}");
    assert!(response.headers().contains_key("x-request-id"));
    assert_eq!(problem(response).await["type"], "urn:coupler:problem:rate-limited");
}

#[tokio::test]
async fn wrong_secrets_are_counted_and_then_refused_with_429_even_with_the_right_secret() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    app.state().limits.reconfigure(limits(1000, 1000, 5, 1000));
    for attempt in 0..5 {
        let response = token_request(&app, tenant.id.as_str(), "not-the-secret").await;
        assert_eq!(response.status(), 401, "attempt {attempt}");
    }
    // The sixth failure empties the bucket; from then on the address is refused outright.
    let sixth = token_request(&app, tenant.id.as_str(), "not-the-secret").await;
    assert_eq!(sixth.status(), 401);
    assert_rate_limited(token_request(&app, tenant.id.as_str(), "not-the-secret").await).await;
    assert_rate_limited(token_request(&app, tenant.id.as_str(), &tenant.secret).await).await;
    // Bearer tokens from the same address are refused as well while it is blocked.
    let api = app.as_tenant(&tenant, Method::GET, "/users").send().await.unwrap();
    assert_rate_limited(api).await;
}

#[tokio::test]
async fn bad_bearer_tokens_count_as_failed_authentications() {
    let app = TestApp::spawn().await;
    app.state().limits.reconfigure(limits(1000, 1000, 3, 1000));
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let response = app
            .request(Method::GET, "/users")
            .bearer_auth("made-up")
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 429, 429]);
}

#[tokio::test]
async fn the_token_endpoint_limits_each_source_address() {
    let app = TestApp::spawn().await;
    let first = app.tenant("first").await;
    let second = app.tenant("second").await;
    app.state().limits.reconfigure(limits(3, 1000, 1000, 1000));
    for _ in 0..2 {
        assert_eq!(
            token_request(&app, first.id.as_str(), &first.secret).await.status(),
            200
        );
    }
    assert_eq!(
        token_request(&app, second.id.as_str(), &second.secret).await.status(),
        200
    );
    // A fourth request from the same address is refused, whichever client it names.
    assert_rate_limited(token_request(&app, second.id.as_str(), &second.secret).await).await;
}

#[tokio::test]
async fn the_token_endpoint_limits_each_client() {
    let app = TestApp::spawn().await;
    let first = app.tenant("first").await;
    let second = app.tenant("second").await;
    app.state().limits.reconfigure(limits(1000, 2, 1000, 1000));
    for _ in 0..2 {
        assert_eq!(
            token_request(&app, first.id.as_str(), &first.secret).await.status(),
            200
        );
    }
    assert_rate_limited(token_request(&app, first.id.as_str(), &first.secret).await).await;
    assert_eq!(
        token_request(&app, second.id.as_str(), &second.secret).await.status(),
        200
    );
}

#[tokio::test]
async fn an_api_client_past_its_limit_gets_429_and_another_client_does_not() {
    let app = TestApp::spawn().await;
    let busy = app.tenant("busy").await;
    let quiet = app.tenant("quiet").await;
    app.state().limits.reconfigure(limits(1000, 1000, 1000, 5));
    for request in 0..5 {
        let response = app.as_tenant(&busy, Method::GET, "/users").send().await.unwrap();
        assert_eq!(response.status(), 200, "request {request}");
    }
    assert_rate_limited(app.as_tenant(&busy, Method::GET, "/users").send().await.unwrap()).await;
    let other = app.as_tenant(&quiet, Method::GET, "/users").send().await.unwrap();
    assert_eq!(other.status(), 200);
}

#[tokio::test]
async fn the_rate_limit_settings_reach_the_server() {
    let db = TestDatabase::sqlite();
    let key = SecretKey::generate().encode();
    let vars = [
        ("COUPLER_LISTEN", "127.0.0.1:0"),
        ("COUPLER_DATABASE_URL", db.url()),
        ("COUPLER_SECRET_KEY", key.as_str()),
        ("COUPLER_RATE_LIMIT_TOKEN_PER_ADDRESS_BURST", "2"),
        ("COUPLER_RATE_LIMIT_TOKEN_PER_ADDRESS_PER_MINUTE", "1"),
        ("COUPLER_RATE_LIMIT_API_PER_CLIENT_BURST", "7"),
    ];
    let config = Config::from_sources(None, |name| {
        vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    })
    .unwrap();
    let server = Server::start(&config).await.unwrap();
    let limits = server.state.limits.config();
    assert_eq!(
        limits.token_per_address,
        Rate {
            burst: 2,
            per_minute: 1
        }
    );
    assert_eq!(limits.api_per_client.burst, 7);
    assert_eq!(limits.token_per_client, RateLimitConfig::default().token_per_client);

    // Two token requests from this address go through (refused for their unknown client); the third is limited.
    let url = format!("{}oauth/token", server.public_url);
    let http = reqwest::Client::new();
    let ask = || {
        http.post(&url)
            .basic_auth("cl_unknown", Some("not-a-secret"))
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    for _ in 0..2 {
        assert_eq!(ask().await.unwrap().status(), 401);
    }
    assert_rate_limited(ask().await.unwrap()).await;
    server.stop().await.unwrap();
}
