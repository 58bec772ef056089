use chrono::Duration;
use coupler_core::secret::{generate_secret, hash_secret};
use coupler_core::{time, AccessToken};
use coupler_tests::{problem, TestApp};
use reqwest::Method;

async fn token_request(app: &TestApp, form: &[(&str, &str)]) -> reqwest::Response {
    app.request(Method::POST, "/oauth/token")
        .form(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_client_gets_a_bearer_token_with_http_basic_credentials() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let response = app
        .request(Method::POST, "/oauth/token")
        .basic_auth(tenant.id.as_str(), Some(&tenant.secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let token = body["access_token"].as_str().unwrap();
    let users = app
        .request(Method::GET, "/users")
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(users.status(), 200);
}

#[tokio::test]
async fn a_client_gets_a_bearer_token_with_form_credentials() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let response = token_request(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", tenant.id.as_str()),
            ("client_secret", &tenant.secret),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn the_token_is_stored_hashed_not_in_clear() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let stored = app
        .store
        .get_access_token(&hash_secret(&tenant.token))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.client_id, tenant.id);
    assert_ne!(stored.token_hash.as_str(), tenant.token);
}

#[tokio::test]
async fn wrong_or_unknown_credentials_get_401_invalid_client() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    for (id, secret) in [
        (tenant.id.as_str(), "wrong"),
        ("no-such-client", tenant.secret.as_str()),
    ] {
        let response = app
            .request(Method::POST, "/oauth/token")
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        assert!(response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic"));
        let body = problem(response).await;
        assert_eq!(body["error"], "invalid_client");
    }
    let no_credentials = token_request(&app, &[("grant_type", "client_credentials")]).await;
    assert_eq!(problem(no_credentials).await["error"], "invalid_client");
}

#[tokio::test]
async fn malformed_token_requests_get_400_with_the_oauth_error_code() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let id = tenant.id.as_str();
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[("client_id", id), ("client_secret", &tenant.secret)],
            "invalid_request",
        ),
        (
            &[
                ("grant_type", "password"),
                ("client_id", id),
                ("client_secret", &tenant.secret),
            ],
            "unsupported_grant_type",
        ),
        (
            &[("grant_type", "client_credentials"), ("client_id", id)],
            "invalid_request",
        ),
        (
            &[("grant_type", "client_credentials"), ("client_secret", &tenant.secret)],
            "invalid_request",
        ),
    ];
    for (form, error) in cases {
        let response = token_request(&app, form).await;
        assert_eq!(response.status(), 400, "{form:?}");
        assert_eq!(problem(response).await["error"], error, "{form:?}");
    }
    // Basic and form credentials together are ambiguous (RFC 6749 §2.3).
    let both = app
        .request(Method::POST, "/oauth/token")
        .basic_auth(id, Some(&tenant.secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", &tenant.secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(problem(both).await["error"], "invalid_request");
}

#[tokio::test]
async fn a_token_request_as_json_gets_415() {
    let app = TestApp::spawn().await;
    let response = app
        .request(Method::POST, "/oauth/token")
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    problem(response).await;
}

#[tokio::test]
async fn missing_or_malformed_bearer_tokens_get_401() {
    let app = TestApp::spawn().await;
    let headers = [
        None,
        Some("Bearer"),
        Some("Bearer "),
        Some("Basic abc"),
        Some("Bearer not-a-token"),
        Some("token"),
    ];
    for header in headers {
        let mut request = app.request(Method::GET, "/users");
        if let Some(value) = header {
            request = request.header("authorization", value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{header:?}");
        assert!(response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer"));
        problem(response).await;
    }
}

#[tokio::test]
async fn an_expired_token_gets_401() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let expired = generate_secret();
    let issued = time::now() - Duration::hours(2);
    app.store
        .insert_access_token(&AccessToken {
            token_hash: hash_secret(&expired),
            client_id: tenant.id.clone(),
            created_at: issued,
            expires_at: issued + Duration::hours(1),
            revoked_at: None,
        })
        .await
        .unwrap();
    let response = app
        .request(Method::GET, "/users")
        .bearer_auth(&expired)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(problem(response).await["detail"].as_str().unwrap().contains("expired"));
}

#[tokio::test]
async fn a_revoked_client_loses_its_tokens_and_gets_no_new_one() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    assert!(app.store.revoke_client(&tenant.id, time::now()).await.unwrap());

    let response = app.as_tenant(&tenant, Method::GET, "/users").send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert!(problem(response).await["detail"].as_str().unwrap().contains("revoked"));

    let again = app
        .request(Method::POST, "/oauth/token")
        .basic_auth(tenant.id.as_str(), Some(&tenant.secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 401);
}

#[tokio::test]
async fn every_documented_api_route_requires_a_bearer_token() {
    let app = TestApp::spawn().await;
    let spec = serde_json::to_value(coupler_api::openapi()).unwrap();
    let mut checked = 0;
    for (path, operations) in spec["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let needs_bearer = operation["security"]
                .as_array()
                .is_some_and(|alternatives| alternatives.iter().any(|a| a.get("clientCredentials").is_some()));
            if !needs_bearer {
                continue;
            }
            let concrete = coupler_tests::fill_path(path, "someone");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = app.request(method.clone(), &concrete).send().await.unwrap();
            assert_eq!(response.status(), 401, "{method} {concrete} answered without a token");
            checked += 1;
        }
    }
    assert!(
        checked >= 4,
        "the spec should document the protected routes; found {checked}"
    );
}
