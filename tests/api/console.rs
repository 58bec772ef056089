//! The console at `/console`: signing in with a login made by the CLI, the session cookie, CSRF,
//! tenant isolation, every page with data, the live event stream, and retrying a webhook delivery.

use std::time::Duration;

use coupler_tests::console::{
    location, make_login, program_with_event, set_cookie, sign_in_form, spawn_with_quick_webhooks, submit_sign_in,
    webhook, SignedIn, PASSWORD,
};
use coupler_tests::ocpp::PythonChargePoint;
use coupler_tests::receiver::{Mode, Receiver};
use coupler_tests::{problem, wait_for, Tenant, TestApp};
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, COOKIE, ETAG};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const SECRET: &str = "whsec_console_test_secret_0123456789";

/// A tenant with a console login `email`, signed in.
async fn signed_in(app: &TestApp, name: &str, email: &str) -> (Tenant, SignedIn) {
    let tenant = app.tenant(name).await;
    make_login(app, &tenant, email).await;
    let browser = SignedIn::sign_in(app, email).await;
    (tenant, browser)
}

#[tokio::test]
async fn a_login_made_with_the_cli_signs_in_with_a_strict_http_only_session_cookie() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    make_login(&app, &tenant, "Ops@Example.com").await;

    // The address is matched whatever its case.
    let response = submit_sign_in(&app, "ops@example.COM", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/console/chargers");
    let cookie = set_cookie(&response, "coupler_console").expect("a session cookie");
    let attributes: Vec<&str> = cookie.split(';').map(str::trim).collect();
    assert!(attributes.contains(&"HttpOnly"), "{cookie}");
    assert!(attributes.contains(&"SameSite=Strict"), "{cookie}");
    assert!(attributes.contains(&"Path=/console"), "{cookie}");
    assert!(!attributes.contains(&"Secure"), "plain http: no Secure flag ({cookie})");
    let token = attributes[0].to_owned();
    // Only the token's hash is stored.
    let stored = app
        .store
        .console_session(&coupler_core::secret::hash_secret(&token), coupler_core::time::now())
        .await
        .unwrap()
        .expect("the session is stored under the token's hash");
    assert_eq!(stored.client_id, tenant.id);
    assert_eq!(stored.email, "ops@example.com");
    assert!(stored.expires_at > stored.created_at);

    let page = app
        .request(Method::GET, "/console/chargers")
        .header(COOKIE, format!("coupler_console={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let policy = page.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
    assert!(
        policy.contains("script-src 'self'") && !policy.contains("unsafe-inline"),
        "{policy}"
    );
    assert_eq!(page.headers()[CACHE_CONTROL], "no-store");
    let html = page.text().await.unwrap();
    assert!(html.contains("ops@example.com"), "the page names who is signed in");
    assert!(!html.contains("<script>"), "no inline script");
}

#[tokio::test]
async fn a_wrong_password_or_an_unknown_address_is_refused_alike_and_starts_no_session() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    make_login(&app, &tenant, "ops@example.com").await;

    for (email, password) in [
        ("ops@example.com", "not the password"),
        ("nobody@example.com", PASSWORD),
    ] {
        let refused = submit_sign_in(&app, email, password).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{email}");
        assert!(
            set_cookie(&refused, "coupler_console").is_none(),
            "no session for {email}"
        );
        let html = refused.text().await.unwrap();
        assert!(html.contains("The e-mail address or the password is wrong."), "{html}");
    }
    // Guessing runs out: the address's attempts are limited, right password or not.
    let mut last = StatusCode::OK;
    for _ in 0..12 {
        last = submit_sign_in(&app, "ops@example.com", "still not it").await.status();
        if last == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        submit_sign_in(&app, "ops@example.com", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the right password is refused too while the limit holds"
    );
}

#[tokio::test]
async fn a_login_is_listed_and_removed_with_the_cli_and_its_sessions_end() {
    use coupler::cli::{console_logins, ConsoleLoginCommand};

    let app = TestApp::spawn().await;
    let (tenant, browser) = signed_in(&app, "app", "ops@example.com").await;
    let listed = app.store.list_console_logins(&tenant.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(
        listed[0].password_hash.starts_with("$argon2id$"),
        "a real password hash"
    );
    assert!(!listed[0].password_hash.contains(PASSWORD));
    // A second login with the same address is refused.
    let again = console_logins(
        app.store.as_ref(),
        ConsoleLoginCommand::Add {
            client: tenant.id.as_str().to_owned(),
            email: "OPS@example.com".into(),
            password_stdin: true,
            json: false,
        },
        &mut std::io::Cursor::new(format!("{PASSWORD}\n")),
    )
    .await;
    assert!(again.unwrap_err().to_string().contains("has a console login already"));
    // A short password is refused.
    let short = console_logins(
        app.store.as_ref(),
        ConsoleLoginCommand::Add {
            client: tenant.id.as_str().to_owned(),
            email: "short@example.com".into(),
            password_stdin: true,
            json: false,
        },
        &mut std::io::Cursor::new("short\n".to_owned()),
    )
    .await;
    assert!(short.unwrap_err().to_string().contains("at least 12"));

    console_logins(
        app.store.as_ref(),
        ConsoleLoginCommand::Remove {
            client: tenant.id.as_str().to_owned(),
            email: "ops@example.com".into(),
        },
        &mut std::io::Cursor::new(String::new()),
    )
    .await
    .unwrap();
    assert!(app.store.list_console_logins(&tenant.id).await.unwrap().is_empty());
    let after = browser.get(&app, "/console/users").await;
    assert_eq!(
        after.status(),
        StatusCode::SEE_OTHER,
        "the removed login's session ended"
    );
    assert_eq!(location(&after), "/console/sign-in");
}

#[tokio::test]
async fn a_page_without_a_session_sends_the_browser_to_sign_in_and_data_without_one_is_401() {
    let app = TestApp::spawn().await;
    let page = app
        .request(Method::GET, "/console/chargers")
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&page), "/console/sign-in");
    let stream = app.request(Method::GET, "/console/events").send().await.unwrap();
    assert_eq!(stream.status(), StatusCode::UNAUTHORIZED);
    problem(stream).await;
    let forged = app
        .request(Method::GET, "/console/users")
        .header(COOKIE, "coupler_console=made-up")
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn signing_out_ends_the_session_and_clears_its_cookie() {
    let app = TestApp::spawn().await;
    let (_, browser) = signed_in(&app, "app", "ops@example.com").await;
    let out = browser.post(&app, "/console/sign-out", &[]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&out), "/console/sign-in");
    let cleared = set_cookie(&out, "coupler_console").unwrap();
    assert!(cleared.starts_with(';') && cleared.contains("Max-Age=0"), "{cleared}");
    let after = browser.get(&app, "/console/users").await;
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_request_without_the_sessions_csrf_token_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let (tenant, browser) = signed_in(&app, "app", "ops@example.com").await;
    let charger = app.register_charger(&tenant, "alice", "CP-CSRF").await;
    let id = charger["id"].as_str().unwrap();
    let path = format!("/console/chargers/{id}/charging");

    let missing = browser.post_raw(&app, &path, &[("action", "START")]).await;
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    assert!(missing.text().await.unwrap().contains("CSRF"));
    let wrong = browser
        .post_raw(&app, &path, &[("_csrf", "0123456789abcdef"), ("action", "START")])
        .await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    // Another session's token does not do either.
    let other = SignedIn::sign_in(&app, "ops@example.com").await;
    assert_ne!(other.csrf, browser.csrf, "each session has its own token");
    let crossed = browser
        .post_raw(&app, &path, &[("_csrf", other.csrf.as_str()), ("action", "START")])
        .await;
    assert_eq!(crossed.status(), StatusCode::FORBIDDEN);
    // A script's request is refused with problem+json, naming the header to send.
    let scripted = app
        .request(Method::POST, &path)
        .header(COOKIE, format!("coupler_console={}", browser.session))
        .json(&json!({"action": "START"}))
        .send()
        .await
        .unwrap();
    assert_eq!(scripted.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        problem(scripted).await["type"],
        "urn:coupler:problem:csrf-token-invalid"
    );
    assert!(
        app.store.recent_actions(&tenant.id, 10).await.unwrap().is_empty(),
        "no action was made"
    );
    // The sign-in form is protected too: without the form's token, no sign-in.
    let (_, csrf) = sign_in_form(&app).await;
    let unprotected = app
        .request(Method::POST, "/console/sign-in")
        .form(&[
            ("_csrf", csrf.as_str()),
            ("email", "ops@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        unprotected.status(),
        StatusCode::FORBIDDEN,
        "no form cookie, no sign-in"
    );

    // With the token in the form or the header, the same request goes through.
    let started = browser.post(&app, &path, &[("action", "START")]).await;
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    assert!(location(&started).starts_with("/console/actions/"));
    let with_header = app
        .request(Method::POST, &path)
        .header(COOKIE, format!("coupler_console={}", browser.session))
        .header("x-csrf-token", browser.csrf.as_str())
        .form(&[("action", "STOP")])
        .send()
        .await
        .unwrap();
    assert_eq!(with_header.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.store.recent_actions(&tenant.id, 10).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_second_tenants_login_sees_none_of_the_first_tenants_data() {
    let app = spawn_with_quick_webhooks(Duration::from_secs(3600)).await;
    let (first, first_browser) = signed_in(&app, "first", "first@example.com").await;
    let (second, second_browser) = signed_in(&app, "second", "second@example.com").await;
    let receiver = Receiver::start(SECRET, Mode::Accept).await;
    let charger = app.register_charger(&first, "alice", "CP-FIRST-ONLY").await;
    let charger_id = charger["id"].as_str().unwrap().to_owned();
    let webhook_id = webhook(&app, &first, &receiver.url, SECRET).await;
    let started = first_browser
        .post(
            &app,
            &format!("/console/chargers/{charger_id}/charging"),
            &[("action", "START")],
        )
        .await;
    let action_path = location(&started);
    let action_id = action_path.rsplit('/').next().unwrap().to_owned();
    let deliveries = wait_for("a delivery to the first's webhook", || async {
        let listed = app
            .get_json(&first, &format!("/webhooks/{webhook_id}/deliveries"))
            .await;
        listed["data"][0]["id"].as_str().map(str::to_owned)
    })
    .await;

    // The first sees its own.
    let (_, chargers) = first_browser.page(&app, "/console/chargers").await;
    assert!(chargers.contains(&charger_id));
    let (status, _) = first_browser.page(&app, &action_path).await;
    assert_eq!(status, StatusCode::OK);

    // The second sees none of it in any list…
    let secret_marks = [
        charger_id.as_str(),
        "CP-FIRST-ONLY",
        "alice",
        action_id.as_str(),
        webhook_id.as_str(),
        receiver.url.as_str(),
    ];
    for list in [
        "/console/users",
        "/console/chargers",
        "/console/vehicles",
        "/console/ev-systems",
        "/console/actions",
        "/console/webhooks",
        "/console/flex",
    ] {
        let (status, html) = second_browser.page(&app, list).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        for mark in secret_marks {
            assert!(!html.contains(mark), "{list} shows the first tenant's {mark}");
        }
    }
    // …and gets 404 for its ids, as the API answers.
    for page in [
        format!("/console/chargers/{charger_id}"),
        format!("/console/chargers/{charger_id}/sessions/1"),
        format!("/console/actions/{action_id}"),
        format!("/console/webhooks/{webhook_id}"),
    ] {
        let (status, html) = second_browser.page(&app, &page).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{page}");
        assert!(!html.contains("CP-FIRST-ONLY"));
    }
    let chart = second_browser
        .get(&app, &format!("/console/chargers/{charger_id}/sessions/1/chart"))
        .await;
    assert_eq!(chart.status(), StatusCode::NOT_FOUND);
    // Nor can it act on them.
    for (path, fields) in [
        (
            format!("/console/chargers/{charger_id}/charging"),
            vec![("action", "STOP")],
        ),
        (
            format!("/console/chargers/{charger_id}/operations/reset"),
            vec![("type", "Soft")],
        ),
        (
            format!("/console/webhooks/{webhook_id}/deliveries/{deliveries}/retry"),
            vec![],
        ),
    ] {
        let refused = second_browser.post(&app, &path, &fields).await;
        assert_eq!(refused.status(), StatusCode::NOT_FOUND, "{path}");
    }
    assert!(app.store.recent_actions(&second.id, 10).await.unwrap().is_empty());
    assert_eq!(app.store.recent_actions(&first.id, 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_console_event_stream_carries_the_signed_in_clients_events_and_no_others() {
    let app = TestApp::spawn().await;
    let (first, first_browser) = signed_in(&app, "first", "first@example.com").await;
    let (second, second_browser) = signed_in(&app, "second", "second@example.com").await;
    let open = |browser: SignedIn| {
        let request = app
            .request(Method::GET, "/console/events")
            .header(COOKIE, format!("coupler_console={}", browser.session));
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            assert!(response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream"));
            response
        }
    };
    let mut second_stream = open(second_browser).await;
    let mut first_stream = open(first_browser).await;

    // The first's change comes before the second's: a stream that leaked would show it first.
    let theirs = app.register_charger(&first, "alice", "CP-STREAM-1").await;
    let ours = app.register_charger(&second, "bob", "CP-STREAM-2").await;
    let first_seen = next_charger_event(&mut first_stream).await;
    assert_eq!(first_seen["charger"]["id"], theirs["id"]);
    let second_seen = next_charger_event(&mut second_stream).await;
    assert_eq!(
        second_seen["charger"]["id"], ours["id"],
        "the second client's stream starts with its own charger, not the first's"
    );
}

/// The next charger event on an SSE response.
async fn next_charger_event(stream: &mut reqwest::Response) -> Value {
    let mut buffer = String::new();
    let deadline = tokio::time::Instant::now() + coupler_tests::PATIENCE;
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let is_charger = frame.lines().any(|l| l.starts_with("event: user:charger:"));
            if let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data: ")) {
                if is_charger {
                    return serde_json::from_str(data).unwrap();
                }
            }
            continue;
        }
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .expect("an event in time")
            .unwrap()
            .expect("the stream stays open");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn a_failed_delivery_is_retried_from_the_console_and_then_succeeds() {
    let app = spawn_with_quick_webhooks(Duration::from_millis(300)).await;
    let (tenant, browser) = signed_in(&app, "app", "ops@example.com").await;
    let receiver = Receiver::start(SECRET, Mode::AlwaysFail).await;
    let webhook_id = webhook(&app, &tenant, &receiver.url, SECRET).await;
    app.register_charger(&tenant, "alice", "CP-RETRY").await;
    let failed = wait_for("the delivery fails for good", || async {
        let listed = app
            .get_json(&tenant, &format!("/webhooks/{webhook_id}/deliveries"))
            .await;
        (listed["data"][0]["state"] == "FAILED").then(|| listed["data"][0].clone())
    })
    .await;
    let delivery_id = failed["id"].as_str().unwrap();
    let (status, html) = browser.page(&app, &format!("/console/webhooks/{webhook_id}")).await;
    assert_eq!(status, StatusCode::OK);
    let retry_path = format!("/console/webhooks/{webhook_id}/deliveries/{delivery_id}/retry");
    assert!(html.contains(&retry_path), "a retry button for the failed delivery");
    assert!(html.contains("FAILED"));

    receiver.set_mode(Mode::Accept);
    let retried = browser.post(&app, &retry_path, &[]).await;
    assert_eq!(retried.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&retried), format!("/console/webhooks/{webhook_id}"));
    let delivered = receiver
        .wait_until("the retried delivery arrives", |events| !events.is_empty())
        .await;
    assert!(delivered.iter().any(|e| e["event"] == "user:charger:discovered"));
    let succeeded = wait_for("the delivery succeeds", || async {
        let listed = app
            .get_json(&tenant, &format!("/webhooks/{webhook_id}/deliveries"))
            .await;
        listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["id"] == delivery_id && d["state"] == "SUCCEEDED")
            .cloned()
    })
    .await;
    assert!(succeeded["attempts"].as_i64().unwrap() > failed["attempts"].as_i64().unwrap());
    let reactivated = app.get_json(&tenant, &format!("/webhooks/{webhook_id}")).await;
    assert_eq!(reactivated["isActive"], true, "the retry made the webhook active again");

    // The API refuses to send a delivered batch again, and knows no made-up delivery.
    let again = app
        .as_tenant(
            &tenant,
            Method::POST,
            &format!("/webhooks/{webhook_id}/deliveries/{delivery_id}/retry"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT);
    problem(again).await;
    let unknown = app
        .as_tenant(
            &tenant,
            Method::POST,
            &format!("/webhooks/{webhook_id}/deliveries/no-such-delivery/retry"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    problem(unknown).await;
}

#[tokio::test]
async fn a_chargers_page_shows_its_session_and_the_chart_fills_from_the_meter() {
    let app = TestApp::spawn().await;
    let (tenant, browser) = signed_in(&app, "app", "ops@example.com").await;
    let registered = app.register_charger(&tenant, "alice", "CP-CHART").await;
    let id = registered["id"].as_str().unwrap().to_owned();
    let mut cp = PythonChargePoint::connected(
        registered["ocppUrl"].as_str().unwrap(),
        "CP-CHART",
        registered["password"].as_str().unwrap(),
    )
    .await;
    cp.boot("Available").await;
    let started = cp
        .call(
            "StartTransaction",
            json!({"connector_id": 1, "id_tag": "TAG-1", "meter_start": 10_000, "timestamp": "2026-11-21T10:00:00Z"}),
        )
        .await;
    let session = started["transaction_id"].as_i64().unwrap();
    let chart_path = format!("/console/chargers/{id}/sessions/{session}/chart");
    let before: Value = browser.get(&app, &chart_path).await.json().await.unwrap();
    let points_before = before["x"].as_array().unwrap().len();
    for (at, kwh) in [("2026-11-21T10:15:00Z", "12.5"), ("2026-11-21T10:30:00Z", "14.0")] {
        cp.call(
            "MeterValues",
            json!({"connector_id": 1, "transaction_id": session, "meter_value": [{"timestamp": at, "sampledValue": [
                {"value": kwh, "measurand": "Energy.Active.Import.Register", "unit": "kWh"}
            ]}]}),
        )
        .await;
    }
    let after: Value = browser.get(&app, &chart_path).await.json().await.unwrap();
    let x = after["x"].as_array().unwrap();
    assert!(x.len() >= points_before + 2, "{after}");
    assert_eq!(after["series"][1]["label"], "Energy delivered (kWh)");
    assert_eq!(
        (after["left"].as_str(), after["right"].as_str()),
        (Some("kW"), Some("kWh"))
    );
    assert_eq!(
        (after["series"][0]["axis"].as_u64(), after["series"][1]["axis"].as_u64()),
        (Some(0), Some(1))
    );
    let energy: Vec<f64> = after["series"][1]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    // The energy of the session, not the meter's register (10 kWh when the session began).
    assert_eq!(energy[0], 0.0, "{after}");
    assert!(energy.windows(2).all(|w| w[0] <= w[1]), "{after}");
    assert!(
        energy.iter().all(|e| *e <= 4.0 + 1e-6),
        "never more than the meter delivered: {after}"
    );
    assert!((energy.last().unwrap() - 4.0).abs() < 1e-6, "{after}");
    let power = after["series"][0]["values"].as_array().unwrap();
    // 1.5 kWh in a quarter of an hour is 6 kW.
    assert!((power.last().unwrap().as_f64().unwrap() - 6.0).abs() < 1e-6, "{after}");

    // Where the charger reports its power, the chart shows that (not the register's rise, which a
    // sandbox charging faster than real time makes thousands of kW).
    cp.call(
        "MeterValues",
        json!({"connector_id": 1, "transaction_id": session, "meter_value": [{"timestamp": "2026-11-21T10:45:00Z", "sampledValue": [
            {"value": "14500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
            {"value": "7400", "measurand": "Power.Active.Import", "unit": "W"}
        ]}]}),
    )
    .await;
    let reported: Value = browser.get(&app, &chart_path).await.json().await.unwrap();
    let power = reported["series"][0]["values"].as_array().unwrap();
    assert!(
        (power.last().unwrap().as_f64().unwrap() - 7.4).abs() < 1e-6,
        "{reported}"
    );
    let energy = reported["series"][1]["values"].as_array().unwrap();
    assert!(
        (energy.last().unwrap().as_f64().unwrap() - 4.5).abs() < 1e-6,
        "{reported}"
    );

    let (status, html) = browser.page(&app, &format!("/console/chargers/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Online"), "the charger is shown connected");
    assert!(
        html.contains(&format!("data-source=\"{chart_path}\"")),
        "the chart refills from its data"
    );
    assert!(
        html.contains("Start charging") && html.contains("Unlock"),
        "the operations are offered"
    );
    let (status, html) = browser
        .page(&app, &format!("/console/chargers/{id}/sessions/{session}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("4.00"), "the session's energy is in the chart's table");

    // An operation from the console goes to the charger and is listed with its answer.
    let reset = browser
        .post(
            &app,
            &format!("/console/chargers/{id}/operations/reset"),
            &[("type", "Soft")],
        )
        .await;
    assert_eq!(reset.status(), StatusCode::SEE_OTHER);
    let asked = cp.received("Reset").await;
    assert_eq!(asked["type"], "Soft");
    let (_, html) = browser.page(&app, &format!("/console/chargers/{id}")).await;
    assert!(html.contains("RESET") || html.contains("Reset"), "the reset is listed");
    // The operations added later are there too, each its own form: a firmware update from the
    // form's UTC time reaches the charger as the API's UpdateFirmware.
    for (operation, button) in [
        ("firmware", "Update firmware"),
        ("diagnostics", "Upload diagnostics"),
        ("reserve", "Reserve"),
        ("cancel-reservation", "Cancel the reservation"),
        ("data-transfer", "Send data"),
        ("clear-profile", "Clear charging profiles"),
    ] {
        assert!(
            html.contains(&format!(
                "/console/chargers/{id}/operations/{operation}\" class=\"stack\">"
            )) && html.contains(button),
            "a form for {operation}"
        );
    }
    let firmware = browser
        .post(
            &app,
            &format!("/console/chargers/{id}/operations/firmware"),
            &[
                ("location", "https://firmware.example/cp-2.1.0.bin"),
                ("retrieveAt", "2026-12-01T02:00"),
            ],
        )
        .await;
    assert_eq!(firmware.status(), StatusCode::SEE_OTHER);
    let sent = cp.received("UpdateFirmware").await;
    assert_eq!(sent["location"], "https://firmware.example/cp-2.1.0.bin");
    assert_eq!(sent["retrieve_date"], "2026-12-01T02:00:00Z", "{sent}");
    let bad_time = browser
        .post(
            &app,
            &format!("/console/chargers/{id}/operations/reserve"),
            &[("connectorId", "1"), ("idTag", "TAG-1"), ("expiresAt", "tomorrow")],
        )
        .await;
    assert_eq!(bad_time.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad_time.text().await.unwrap().contains("date and time"));
    // A bad value is the API's 422, shown as a page; nothing is sent.
    let bad = browser
        .post(
            &app,
            &format!("/console/chargers/{id}/operations/unlock"),
            &[("connectorId", "one")],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().await.unwrap().contains("whole number"));
}

#[tokio::test]
async fn every_page_renders_with_data() {
    use coupler_simulated::SimConfig;
    use coupler_tests::vehicles::{car_charging_away, AppSite, SimWorld};

    let world = SimWorld::start(SimConfig::default()).await;
    let app = TestApp::spawn_with(|url, wiring| world.wire(url, wiring, |_| None)).await;
    let tenant = app.tenant("app").await;
    make_login(&app, &tenant, "ops@example.com").await;
    let browser = SignedIn::sign_in(&app, "ops@example.com").await;
    let site = AppSite::start().await;
    let (_, vehicle_id) = car_charging_away(&world, &app, &tenant, &site, "VIN-CONSOLE", 42.0).await;
    let charger = app.register_charger(&tenant, "alice", "CP-PAGES").await;
    let charger_id = charger["id"].as_str().unwrap().to_owned();
    let action = app
        .post_json(
            &tenant,
            &format!("/vehicles/{vehicle_id}/charging"),
            json!({"action": "STOP"}),
        )
        .await;
    let action_id = action["id"].as_str().unwrap().to_owned();
    let webhook_id = webhook(&app, &tenant, "https://example.com/hooks", SECRET).await;
    let (program_id, event_id) = program_with_event(&app, &tenant, "Winter peak relief", &charger_id).await;

    for (path, shows) in [
        ("/console/users".to_owned(), vec!["alice", "SIM_AURORA"]),
        ("/console/chargers".to_owned(), vec![charger_id.as_str(), "Offline"]),
        (
            format!("/console/chargers/{charger_id}"),
            vec!["CP-PAGES", "composite schedule", "Reset"],
        ),
        ("/console/vehicles".to_owned(), vec![vehicle_id.as_str(), "42 %"]),
        (
            format!("/console/vehicles/{vehicle_id}"),
            vec!["State of charge over time", "VIN-CONSOLE"],
        ),
        ("/console/ev-systems".to_owned(), vec!["EV systems"]),
        ("/console/actions".to_owned(), vec![action_id.as_str(), "STOP"]),
        (
            format!("/console/actions/{action_id}"),
            vec!["Attempts", action_id.as_str()],
        ),
        ("/console/webhooks".to_owned(), vec!["https://example.com/hooks"]),
        (
            format!("/console/webhooks/{webhook_id}"),
            vec!["Deliveries", webhook_id.as_str()],
        ),
        ("/console/flex".to_owned(), vec!["Winter peak relief"]),
        (
            format!("/console/flex/programs/{program_id}"),
            vec![charger_id.as_str(), event_id.as_str()],
        ),
        (
            format!("/console/flex/events/{event_id}"),
            vec!["Baseline against actual", "IMPORT_LIMIT"],
        ),
    ] {
        let (status, html) = browser.page(&app, &path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {html}");
        for text in shows {
            assert!(html.contains(text), "{path} shows {text}");
        }
        assert!(html.contains("href=\"#main\""), "{path} has a skip link");
        assert!(html.contains("<main id=\"main\""), "{path}");
    }
    // The vehicle's state of charge is drawn from its readings.
    let (_, html) = browser.page(&app, &format!("/console/vehicles/{vehicle_id}")).await;
    assert!(html.contains("data-chart=\"{&#34;x&#34;:["), "{html}");
    assert!(
        !html.contains("data-chart=\"{&#34;x&#34;:[]"),
        "the state-of-charge chart has points"
    );
}

#[tokio::test]
async fn the_consoles_scripts_styles_and_chart_library_are_served_by_coupler_with_cache_headers() {
    let app = TestApp::spawn().await;
    for (name, kind) in [
        ("console.js", "text/javascript"),
        ("console.css", "text/css"),
        ("uPlot.iife.min.js", "text/javascript"),
        ("uPlot.min.css", "text/css"),
        ("uPlot.LICENSE.txt", "text/plain"),
    ] {
        let response = app
            .request(Method::GET, &format!("/console/assets/{name}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{name}");
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with(kind));
        assert!(response.headers()[CACHE_CONTROL].to_str().unwrap().contains("max-age"));
        let etag = response.headers()[ETAG].clone();
        let again = app
            .request(Method::GET, &format!("/console/assets/{name}"))
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{name} revalidates");
    }
    let missing = app
        .request(Method::GET, "/console/assets/nope.js")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    // The pages load nothing from elsewhere.
    let sign_in = app
        .request(Method::GET, "/console/sign-in")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !sign_in.contains("http://") && !sign_in.contains("https://"),
        "{sign_in}"
    );
}

#[tokio::test]
async fn over_tls_the_consoles_cookies_are_secure() {
    use coupler_tests::pki::TestPki;

    let pki = TestPki::new("console-tls");
    let (chain, key) = pki.server();
    let tls = coupler_api::tls::acceptor(coupler_api::tls::TlsFiles {
        certificate_chain: &chain,
        private_key: &key,
        client_ca: None,
    })
    .unwrap();
    let app = TestApp::spawn_tls(tls, pki.ca_pem(), |_, _| {}).await;
    assert!(app.url.starts_with("https://"));
    let tenant = app.tenant("app").await;
    make_login(&app, &tenant, "ops@example.com").await;

    let form = app.request(Method::GET, "/console/sign-in").send().await.unwrap();
    let form_cookie = set_cookie(&form, "coupler_console_sign_in").unwrap();
    assert!(form_cookie.contains("; Secure"), "{form_cookie}");
    let signed = submit_sign_in(&app, "ops@example.com", PASSWORD).await;
    assert_eq!(signed.status(), StatusCode::SEE_OTHER);
    let session = set_cookie(&signed, "coupler_console").unwrap();
    let attributes: Vec<&str> = session.split(';').map(str::trim).collect();
    for flag in ["Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(attributes.contains(&flag), "{flag} in {session}");
    }
}

#[tokio::test]
async fn a_chargers_smart_charging_plan_is_drawn_as_price_against_planned_and_actual_power() {
    use chrono::SubsecRound;
    use coupler_ocpp::OcppVersion;
    use coupler_simulated::{Brand, SimCharger, SimChargerConfig, SimCloud, SimConfig, SimVehicleSpec};
    use coupler_tests::prices::HomePrices;

    let start = chrono::Utc::now().trunc_subsecs(0);
    let app = TestApp::spawn().await;
    let (tenant, browser) = signed_in(&app, "app", "ops@example.com").await;
    let prices = HomePrices::hourly(&app, &tenant, start, &[0.40, 0.10, 0.30, 0.30]).await;
    let cloud = SimCloud::new(SimConfig::default());
    let registered = app.register_charger(&tenant, "alice", "SIM-CONSOLE-PLAN").await;
    let id = registered["id"].as_str().unwrap().to_owned();
    let sim = SimCharger::start(
        cloud.clone(),
        SimChargerConfig::home(
            "SIM-CONSOLE-PLAN",
            registered["ocppUrl"].as_str().unwrap(),
            registered["password"].as_str().unwrap(),
            OcppVersion::V16,
        ),
        &coupler_tasks::Tasks::new(),
    );
    wait_for("the simulated charger takes profiles", || async {
        let seen = app.get_json(&tenant, &format!("/chargers/{id}")).await;
        (seen["isReachable"] == true && seen["capabilities"]["limitControl"]["smartCharging"] == true).then_some(())
    })
    .await;
    prices.place(&app, &tenant, &id).await;
    let deadline = start + chrono::Duration::hours(3);
    let policy = app
        .as_tenant(&tenant, Method::PUT, &format!("/chargers/{id}/smart-charging-policy"))
        .json(&json!({"deadline": "07:00", "departures": [deadline.to_rfc3339()], "targetEnergy": 6.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(policy.status(), 200);
    let car = cloud.add_account(
        Brand::Aurora,
        "owner",
        "pw",
        vec![SimVehicleSpec {
            battery_level: 40.0,
            ..SimVehicleSpec::new("VIN-CONSOLE-PLAN", "Aurora S")
        }],
    );
    cloud.plug(&car[0], "SIM-CONSOLE-PLAN").unwrap();
    wait_for("the plan is executing", || async {
        let response = app
            .as_tenant(&tenant, Method::GET, &format!("/chargers/{id}/smart-charging-plan"))
            .send()
            .await
            .unwrap();
        if response.status() != 200 {
            return None;
        }
        let plan: Value = response.json().await.unwrap();
        (plan["state"] == "EXECUTING").then_some(())
    })
    .await;

    let (status, html) = browser.page(&app, &format!("/console/chargers/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Price against planned and actual power"), "{html}");
    assert!(html.contains("EXECUTING"));
    for label in ["Planned power (kW)", "Actual power (kW)", "Price"] {
        assert!(
            html.contains(&format!("&#34;label&#34;:&#34;{label}&#34;")),
            "the plan chart draws {label}"
        );
    }
    assert!(html.contains("0.10"), "the cheap hour's price is in the chart's table");
    // The schedule source is among the limits, and the composite schedule is drawn.
    assert!(html.contains("schedule"));
    assert!(html.contains("Composite limit (A)"));
    sim.stop();
}

#[tokio::test]
async fn a_pages_stream_starts_where_the_page_read_its_data_so_no_change_in_between_is_missed() {
    let app = TestApp::spawn().await;
    let (tenant, browser) = signed_in(&app, "app", "ops@example.com").await;
    let (_, html) = browser.page(&app, "/console/chargers").await;
    let marker = "data-events-after=\"";
    let start = html.find(marker).expect("the page says where its stream starts") + marker.len();
    let after: i64 = html[start..].split('"').next().unwrap().parse().unwrap();

    // A change after the page was read and before its script opens the stream.
    let charger = app.register_charger(&tenant, "alice", "CP-IN-BETWEEN").await;
    let mut stream = app
        .request(Method::GET, &format!("/console/events?after={after}"))
        .header(COOKIE, format!("coupler_console={}", browser.session))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let seen = next_charger_event(&mut stream).await;
    assert_eq!(seen["charger"]["id"], charger["id"]);

    let refused = app
        .request(Method::GET, "/console/events?after=-1")
        .header(COOKIE, format!("coupler_console={}", browser.session))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem(refused).await["errors"][0]["name"], "after");
}

#[tokio::test]
async fn an_ev_systems_timeline_is_its_history_of_events_pairing_activation_plugging_and_deactivation() {
    use crate::ev_systems::{charger_starts_charging, plug_in, prompt_maker, report_status, scene};
    use coupler_simulated::{Brand, SimVehicleSpec};

    let scene = scene(prompt_maker()).await;
    let app = &scene.app;
    make_login(app, &scene.tenant, "ops@example.com").await;
    let browser = SignedIn::sign_in(app, "ops@example.com").await;
    let (vehicle, maker_id) = &scene
        .link_one(
            Brand::Aurora,
            "au",
            SimVehicleSpec::new("SIMAUR00000000041", "Aurora S"),
        )
        .await;
    let car_id = vehicle["id"].as_str().unwrap().to_owned();
    let (charger_id, mut cp) = scene.charger("CP-CONSOLE-TIMELINE").await;
    plug_in(&scene, &mut cp, maker_id, true).await;
    charger_starts_charging(&mut cp).await;
    let system = scene.wait_activated(&car_id, &charger_id).await;
    let system_id = system["id"].as_str().unwrap().to_owned();
    // An event carries its asset as the relay rendered it, which may be a moment after the change:
    // the timeline shows the plug-in before the cable comes out, as a page read at that time would.
    let timeline_of = |html: &str| {
        let start = html.find("<ol class=\"timeline\">")?;
        let timeline = &html[start..];
        Some(timeline[..timeline.find("</ol>")?].to_owned())
    };
    let page = format!("/console/ev-systems/{system_id}");
    wait_for("the timeline shows the plug-in and the activation", || async {
        let (status, html) = browser.page(app, &page).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        timeline_of(&html).filter(|t| t.contains("Plugged in") && t.contains("Activated with"))
    })
    .await;
    let session = scene.get(&format!("/chargers/{charger_id}/sessions")).await;
    let transaction_id = session["data"][0]["id"].as_i64().unwrap();
    cp.call(
        "StopTransaction",
        json!({"transaction_id": transaction_id, "meter_stop": 5000, "timestamp": coupler_core::time::now().to_rfc3339(), "reason": "EVDisconnected"}),
    )
    .await;
    report_status(&mut cp, "Available").await;
    wait_for("the pairing is deactivated", || async {
        (scene.system(&car_id, &charger_id).await["state"] == "ESTABLISHED").then_some(())
    })
    .await;

    let timeline = wait_for("the timeline shows the unplugging and the deactivation", || async {
        let (status, html) = browser.page(app, &page).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        timeline_of(&html).filter(|t| t.contains("Unplugged") && t.contains("Deactivated"))
    })
    .await;
    let timeline = timeline.as_str();
    // In order: paired, plugged in, activated on evidence, unplugged, deactivated.
    let position = |what: &str| {
        timeline
            .find(what)
            .unwrap_or_else(|| panic!("the timeline shows {what}: {timeline}"))
    };
    let paired = position(&format!("Paired: vehicle {car_id} with charger {charger_id}"));
    let plugged = position("Plugged in");
    let activated = position("Activated with");
    let unplugged = position("Unplugged");
    let deactivated = position("Deactivated");
    assert!(paired < activated && activated < deactivated, "{timeline}");
    assert!(plugged < unplugged, "{timeline}");
    assert!(
        timeline.contains("evidence"),
        "the activation names its evidence: {timeline}"
    );
    assert!(
        !timeline.contains("Last change"),
        "built from events, not from the system's own timestamps: {timeline}"
    );
}

#[tokio::test]
async fn a_failed_delivery_is_not_retried_while_a_later_delivery_is_pending_and_nothing_changes() {
    let app = TestApp::spawn_with(|_, wiring| {
        wiring.webhooks.allow_private = true;
        wiring.webhooks.tick = Duration::from_millis(50);
        wiring.webhooks.retry = coupler_core::event::RetryPolicy {
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(200),
            give_up_after: Duration::from_millis(300),
        };
        // A receiver that never answers keeps its delivery pending for the whole test.
        wiring.webhooks.timeout = Duration::from_secs(3600);
    })
    .await;
    let (tenant, browser) = signed_in(&app, "app", "ops@example.com").await;
    let receiver = Receiver::start(SECRET, Mode::AlwaysFail).await;
    let webhook_id = webhook(&app, &tenant, &receiver.url, SECRET).await;
    app.register_charger(&tenant, "alice", "CP-FIRST").await;
    let deliveries = format!("/webhooks/{webhook_id}/deliveries");
    let failed = wait_for("the first delivery fails for good", || async {
        let listed = app.get_json(&tenant, &deliveries).await;
        (listed["data"][0]["state"] == "FAILED").then(|| listed["data"][0].clone())
    })
    .await;
    let failed_id = failed["id"].as_str().unwrap().to_owned();

    // A successful test call makes the webhook active again; the next delivery hangs, pending.
    receiver.set_mode(Mode::Accept);
    let tested = app
        .as_tenant(&tenant, Method::POST, &format!("/webhooks/{webhook_id}/test"))
        .send()
        .await
        .unwrap();
    assert!(tested.status().is_success(), "{:?}", tested.status());
    receiver.set_mode(Mode::Hang);
    app.register_charger(&tenant, "alice", "CP-SECOND").await;
    wait_for("a later delivery is pending", || async {
        let listed = app.get_json(&tenant, &deliveries).await;
        listed["data"]
            .as_array()?
            .iter()
            .any(|d| d["id"] != failed_id.as_str() && d["state"] == "PENDING")
            .then_some(())
    })
    .await;

    // The API and the console's button refuse to send the failed one ahead of it.
    let retry = format!("/webhooks/{webhook_id}/deliveries/{failed_id}/retry");
    let refused = app.as_tenant(&tenant, Method::POST, &retry).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let body = problem(refused).await;
    assert!(
        body["type"]
            .as_str()
            .unwrap_or_default()
            .ends_with("another-delivery-pending"),
        "{body}"
    );
    let from_console = browser.post(&app, &format!("/console{retry}"), &[]).await;
    assert_eq!(from_console.status(), StatusCode::CONFLICT);
    assert!(from_console.text().await.unwrap().contains("another delivery pending"));
    let listed = app.get_json(&tenant, &deliveries).await;
    let still = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == failed_id.as_str())
        .unwrap();
    assert_eq!(still["state"], "FAILED", "nothing changed: {listed}");
    assert_eq!(still["attempts"], failed["attempts"], "nothing changed: {listed}");
}
