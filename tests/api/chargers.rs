use coupler_core::secret::hash_secret;
use coupler_core::ChargerId;
use coupler_tests::{problem, raw, TestApp};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn registering_a_charger_returns_its_ocpp_url_and_a_password_shown_only_once() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let registered = app.register_charger(&tenant, "alice", "CP-1").await;
    let password = registered["password"].as_str().unwrap();
    assert_eq!(password.len(), 40);
    assert!(password.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(
        registered["ocppUrl"],
        format!("{}/ocpp/CP-1", app.url.replace("http://", "ws://"))
    );
    assert_eq!(registered["userId"], "alice");
    assert_eq!(registered["isReachable"], false);
    assert_eq!(registered["chargeState"]["powerDeliveryState"], "UNKNOWN");

    let id = registered["id"].as_str().unwrap();
    let read = app.get_json(&tenant, &format!("/chargers/{id}")).await;
    assert!(read.get("password").is_none(), "the password is never shown again");
    let credentials = app
        .store
        .charger_credentials(&coupler_core::OcppIdentity::parse("CP-1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(credentials.charger_id, ChargerId::new(id));
    assert_ne!(credentials.password_hash.as_str(), password);
    assert_eq!(credentials.password_hash, hash_secret(password));
    // Registering created the user.
    assert_eq!(app.get_json(&tenant, "/users/alice").await["id"], "alice");
}

#[tokio::test]
async fn a_registration_with_bad_input_is_refused_and_creates_nothing() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    app.register_charger(&tenant, "alice", "CP-TAKEN").await;
    let other = app.tenant("other").await;
    let taken = app
        .as_tenant(&other, Method::POST, "/users/bob/chargers")
        .json(&json!({"ocppId": "CP-TAKEN"}))
        .send()
        .await
        .unwrap();
    assert_eq!(taken.status(), 409, "identities are global");
    problem(taken).await;

    let bad_bodies = [
        json!({}),
        json!({"ocppId": ""}),
        json!({"ocppId": "has space"}),
        json!({"ocppId": "a:b"}),
        json!({"ocppId": "x".repeat(49)}),
        json!({"ocppId": 42}),
        json!({"ocppId": "ok", "name": ""}),
        json!({"ocppId": "ok", "colour": "red"}),
        json!([1, 2]),
    ];
    for body in bad_bodies {
        let response = app
            .as_tenant(&tenant, Method::POST, "/users/carol/chargers")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_client_error(), "{body}: {}", response.status());
        problem(response).await;
    }
    let not_json = app
        .as_tenant(&tenant, Method::POST, "/users/carol/chargers")
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    let listed = app.get_json(&tenant, "/chargers").await;
    assert_eq!(
        listed["data"].as_array().unwrap().len(),
        1,
        "only the first charger exists"
    );
    assert_eq!(
        app.as_tenant(&tenant, Method::GET, "/users/carol")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn another_clients_charger_is_404_on_every_route_and_left_untouched() {
    let app = TestApp::spawn().await;
    let owner = app.tenant("owner").await;
    let stranger = app.tenant("stranger").await;
    let registered = app.register_charger(&owner, "alice", "CP-MINE").await;
    let id = registered["id"].as_str().unwrap();
    let routes = [
        (Method::GET, format!("/chargers/{id}"), None),
        (Method::PUT, format!("/chargers/{id}"), Some(json!({"name": "stolen"}))),
        (Method::DELETE, format!("/chargers/{id}"), None),
        (Method::GET, format!("/chargers/{id}/sessions"), None),
        (
            Method::POST,
            format!("/chargers/{id}/charging"),
            Some(json!({"action": "START"})),
        ),
        (
            Method::POST,
            format!("/chargers/{id}/max-current"),
            Some(json!({"maxCurrent": 10})),
        ),
    ];
    for (method, path, body) in routes {
        let mut request = app.as_tenant(&stranger, method.clone(), &path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 404, "{method} {path}");
        problem(response).await;
    }
    assert!(app.get_json(&stranger, "/chargers").await["data"]
        .as_array()
        .unwrap()
        .is_empty());
    assert!(app.get_json(&stranger, "/users/alice/chargers").await["data"]
        .as_array()
        .unwrap()
        .is_empty());
    let still = app.get_json(&owner, &format!("/chargers/{id}")).await;
    assert_eq!(still["name"], "Garage", "the owner's charger is intact");
}

#[tokio::test]
async fn chargers_are_renamed_placed_and_listed_per_user() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let a = app.register_charger(&tenant, "alice", "CP-A").await;
    app.register_charger(&tenant, "bob", "CP-B").await;
    let id = a["id"].as_str().unwrap();
    let home = app
        .post_json_status(
            &tenant,
            "/users/alice/locations",
            json!({"name": "Home", "latitude": 59.9, "longitude": 10.7, "timezoneName": "Europe/Oslo"}),
            201,
        )
        .await;
    let home = home["id"].as_str().unwrap();

    let renamed: serde_json::Value = app
        .as_tenant(&tenant, Method::PUT, &format!("/chargers/{id}"))
        .json(&json!({"name": "Driveway", "locationId": home}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (renamed["name"].as_str(), renamed["locationId"].as_str()),
        (Some("Driveway"), Some(home))
    );
    let cleared: serde_json::Value = app
        .as_tenant(&tenant, Method::PUT, &format!("/chargers/{id}"))
        .json(&json!({"locationId": null}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (cleared["name"].as_str(), cleared["locationId"].as_str()),
        (Some("Driveway"), None),
        "absent fields are kept"
    );
    for bad in [json!({"name": 5}), json!({"ocppId": "x"}), json!("name")] {
        let response = app
            .as_tenant(&tenant, Method::PUT, &format!("/chargers/{id}"))
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{bad}");
    }

    let alices = app.get_json(&tenant, "/users/alice/chargers").await;
    assert_eq!(alices["data"].as_array().unwrap().len(), 1);
    assert_eq!(alices["data"][0]["ocppId"], "CP-A");
    let all = app.get_json(&tenant, "/chargers?pageSize=1").await;
    assert_eq!(all["data"][0]["ocppId"], "CP-B", "newest first");
    let next = app
        .get_json(
            &tenant,
            &format!(
                "/chargers?pageSize=1&after={}",
                all["pagination"]["after"].as_str().unwrap()
            ),
        )
        .await;
    assert_eq!(next["data"][0]["ocppId"], "CP-A");
}

#[tokio::test]
async fn control_requests_with_bad_bodies_are_refused_and_create_no_action() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let registered = app.register_charger(&tenant, "alice", "CP-CTL").await;
    let id = registered["id"].as_str().unwrap();
    let cases = [
        ("charging", json!({"action": "PAUSE"})),
        ("charging", json!({"action": 1})),
        ("charging", json!({})),
        ("max-current", json!({"maxCurrent": -1})),
        ("max-current", json!({"maxCurrent": 501})),
        ("max-current", json!({"maxCurrent": 6.55})),
        ("max-current", json!({"maxCurrent": "16"})),
        ("max-current", json!({"maxCurrent": 16, "phases": 3})),
    ];
    for (route, body) in cases {
        let response = app
            .as_tenant(&tenant, Method::POST, &format!("/chargers/{id}/{route}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_client_error(), "{route} {body}");
        problem(response).await;
    }
    let long_key = "k".repeat(256);
    let response = app
        .as_tenant(&tenant, Method::POST, &format!("/chargers/{id}/charging"))
        .header("idempotency-key", long_key)
        .json(&json!({"action": "START"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    assert!(app.store.pending_actions().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_idempotency_key_returns_the_first_action_and_refuses_a_different_request() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let registered = app.register_charger(&tenant, "alice", "CP-IDEM").await;
    let id = registered["id"].as_str().unwrap();
    let post = |body: serde_json::Value| {
        app.as_tenant(&tenant, Method::POST, &format!("/chargers/{id}/max-current"))
            .header("idempotency-key", "req-1")
            .json(&body)
            .send()
    };
    let first: serde_json::Value = post(json!({"maxCurrent": 10})).await.unwrap().json().await.unwrap();
    let again: serde_json::Value = post(json!({"maxCurrent": 10})).await.unwrap().json().await.unwrap();
    assert_eq!(first["id"], again["id"]);
    let different = post(json!({"maxCurrent": 12})).await.unwrap();
    assert_eq!(different.status(), 422);
    problem(different).await;
}

#[tokio::test]
async fn a_newer_conflicting_command_settles_the_older_one_with_conflict() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let registered = app.register_charger(&tenant, "alice", "CP-SLOW").await;
    let id = registered["id"].as_str().unwrap();
    // A charger that is connected and plugged in but never answers Coupler's calls.
    let mut socket = raw::connect(
        registered["ocppUrl"].as_str().unwrap(),
        Some(("CP-SLOW", registered["password"].as_str().unwrap())),
    )
    .await
    .unwrap();
    raw::send(
        &mut socket,
        r#"[2,"s","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Preparing"}]"#,
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let start = app
        .post_json(&tenant, &format!("/chargers/{id}/charging"), json!({"action": "START"}))
        .await;
    let stop = app
        .post_json(&tenant, &format!("/chargers/{id}/charging"), json!({"action": "STOP"}))
        .await;
    let start = app.settled_action(&tenant, start["id"].as_str().unwrap()).await;
    assert_eq!(start["state"], "CANCELLED");
    assert_eq!(start["failureReason"]["type"], "CONFLICT");
    assert!(start["failureReason"]["detail"]
        .as_str()
        .unwrap()
        .contains(stop["id"].as_str().unwrap()));
}

#[tokio::test]
async fn a_cursor_from_another_list_is_refused_by_a_charger_s_sessions_and_reservations_not_failed_on() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let charger = app.register_charger(&tenant, "alice", "CP-CURSOR").await;
    app.register_charger(&tenant, "bob", "CP-CURSOR-2").await;
    let id = charger["id"].as_str().unwrap();
    // A cursor Coupler made, for a page of users: it names a user, not a numbered entry.
    let users = app.get_json(&tenant, "/users?pageSize=1").await;
    let foreign = users["pagination"]["after"].as_str().unwrap().to_owned();
    for list in ["sessions", "reservations"] {
        for direction in ["after", "before"] {
            let response = app
                .as_tenant(&tenant, reqwest::Method::GET, &format!("/chargers/{id}/{list}"))
                .query(&[(direction, foreign.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 422, "{list} {direction}");
            let problem: serde_json::Value = response.json().await.unwrap();
            assert_eq!(problem["errors"][0]["name"], direction, "{problem}");
        }
    }
    app.stop().await;
}
