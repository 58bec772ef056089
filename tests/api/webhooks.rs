//! Webhooks end to end: real receivers on random ports, real signatures checked by the receiver.

use std::time::Duration;

use coupler_core::event::RetryPolicy;
use coupler_tests::receiver::{Mode, Receiver};
use coupler_tests::{problem, Tenant, TestApp};
use reqwest::Method;
use serde_json::json;

const SECRET: &str = "a-receiver-secret-of-at-least-32-chars";

/// Coupler with loopback receivers allowed and retries in milliseconds instead of hours.
async fn spawn(give_up_after: Duration) -> TestApp {
    TestApp::spawn_with(|_, wiring| {
        wiring.webhooks.allow_private = true;
        wiring.webhooks.tick = Duration::from_millis(50);
        wiring.webhooks.retry = RetryPolicy {
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(400),
            give_up_after,
        };
    })
    .await
}

async fn create_webhook(app: &TestApp, tenant: &Tenant, url: &str, events: serde_json::Value) -> serde_json::Value {
    let response = app
        .as_tenant(tenant, Method::POST, "/webhooks")
        .json(&json!({"url": url, "secret": SECRET, "events": events}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

async fn rename(app: &TestApp, tenant: &Tenant, charger: &str, name: &str) -> serde_json::Value {
    let response = app
        .as_tenant(tenant, Method::PUT, &format!("/chargers/{charger}"))
        .json(&json!({"name": name}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn names_of(events: &[serde_json::Value], charger: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["event"] == "user:charger:updated" && e["charger"]["id"] == charger)
        .map(|e| e["charger"]["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Each change of the charger arrived exactly once (one event per change, ids strictly increasing),
/// and no event shows an older state than one before it: the object an event carries is rendered
/// just after the change, so it may already show a later change, but never an earlier one.
fn assert_ordered_once(accepted: &[serde_json::Value], charger: &str, wanted: &[String]) {
    let updates: Vec<&serde_json::Value> = accepted
        .iter()
        .filter(|e| e["event"] == "user:charger:updated" && e["charger"]["id"] == charger)
        .collect();
    assert_eq!(updates.len(), wanted.len(), "one event per change: {updates:?}");
    let ids: Vec<i64> = updates
        .iter()
        .map(|e| e["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in order, none twice: {ids:?}");
    let positions: Vec<usize> = names_of(accepted, charger)
        .iter()
        .map(|name| wanted.iter().position(|w| w == name).expect("a name that was set"))
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] <= w[1]),
        "never an older state after a newer: {positions:?}"
    );
    assert_eq!(
        positions.last(),
        Some(&(wanted.len() - 1)),
        "the last event shows the last change"
    );
}

#[tokio::test]
async fn a_receiver_that_fails_three_times_gets_every_event_exactly_once_and_in_order() {
    let app = spawn(Duration::from_secs(3600)).await;
    let tenant = app.tenant("app").await;
    let receiver = Receiver::start(SECRET, Mode::FailNext(3)).await;
    let webhook = create_webhook(&app, &tenant, &receiver.url, json!(["user:charger:updated"])).await;
    let charger = app.register_charger(&tenant, "alice", "CP-WH-1").await;
    let id = charger["id"].as_str().unwrap();
    let wanted: Vec<String> = (1..=6).map(|n| format!("name {n}")).collect();
    for name in &wanted {
        rename(&app, &tenant, id, name).await;
    }

    let accepted = receiver
        .wait_until("all six renames", |events| names_of(events, id).len() >= wanted.len())
        .await;
    assert_ordered_once(&accepted, id, &wanted);
    assert_eq!(receiver.bad_signatures(), 0, "every request carried a valid signature");
    let requests = receiver.requests();
    assert!(requests.iter().filter(|r| r.status == 500).count() >= 3, "{requests:?}");
    // A retry carries the same delivery id and the same events as the attempt it repeats.
    let failed = &requests[0];
    let retried: Vec<_> = requests
        .iter()
        .filter(|r| r.delivery_id == failed.delivery_id)
        .collect();
    assert!(retried.len() >= 2);
    assert!(retried.iter().all(|r| r.events == failed.events));
    // Only the type the webhook asked for, each with updatedFields and the charger as GET shows it.
    assert!(accepted.iter().all(|e| e["event"] == "user:charger:updated"));
    assert!(accepted.iter().all(|e| e["updatedFields"] == json!(["name"])));
    assert_eq!(accepted[0]["user"]["id"], "alice");
    let last = accepted.last().unwrap();
    let read = app.get_json(&tenant, &format!("/chargers/{id}")).await;
    assert_eq!(last["charger"], read);

    // The attempts are visible, with status, error and timing; the webhook is healthy again.
    let webhook_id = webhook["id"].as_str().unwrap();
    let deliveries = app
        .get_json(&tenant, &format!("/webhooks/{webhook_id}/deliveries"))
        .await;
    let first = deliveries["data"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(first["state"], "SUCCEEDED");
    assert_eq!(first["attempts"], 4);
    assert_eq!(first["statusCode"], 200);
    assert!(first["durationMs"].is_number());
    let webhook = app.get_json(&tenant, &format!("/webhooks/{webhook_id}")).await;
    assert_eq!(webhook["isActive"], true);
    assert_eq!(webhook["failureCount"], 0, "a success resets the count");
    assert!(webhook["lastSuccess"].is_string());
}

#[tokio::test]
async fn a_slow_receiver_holds_up_neither_another_receiver_nor_the_api() {
    let app = spawn(Duration::from_secs(3600)).await;
    let tenant = app.tenant("app").await;
    let slow = Receiver::start(SECRET, Mode::Hang).await;
    let fast = Receiver::start(SECRET, Mode::Accept).await;
    create_webhook(&app, &tenant, &slow.url, json!(["*"])).await;
    create_webhook(&app, &tenant, &fast.url, json!(["*"])).await;
    let charger = app.register_charger(&tenant, "alice", "CP-WH-SLOW").await;
    let id = charger["id"].as_str().unwrap();

    slow.wait_for_requests(1).await;
    for n in 1..=3 {
        // The API answers while a delivery hangs.
        rename(&app, &tenant, id, &format!("while slow {n}")).await;
    }
    let accepted = fast
        .wait_until("the renames", |events| names_of(events, id).len() >= 3)
        .await;
    let wanted: Vec<String> = (1..=3).map(|n| format!("while slow {n}")).collect();
    assert_ordered_once(&accepted, id, &wanted);
    assert!(
        slow.requests().iter().all(|r| r.status == 0),
        "the slow receiver has not answered anything yet"
    );
}

#[tokio::test]
async fn a_webhook_that_keeps_failing_is_deactivated_and_a_successful_test_reactivates_it() {
    let app = spawn(Duration::from_millis(500)).await;
    let tenant = app.tenant("app").await;
    let receiver = Receiver::start(SECRET, Mode::AlwaysFail).await;
    let webhook = create_webhook(&app, &tenant, &receiver.url, json!(["*"])).await;
    let webhook_id = webhook["id"].as_str().unwrap();
    app.register_charger(&tenant, "alice", "CP-WH-DEAD").await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let inactive = loop {
        let current = app.get_json(&tenant, &format!("/webhooks/{webhook_id}")).await;
        if current["isActive"] == false {
            break current;
        }
        assert!(tokio::time::Instant::now() < deadline, "never deactivated: {current}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(inactive["failureCount"].as_i64().unwrap() >= 2);
    let deliveries = app
        .get_json(&tenant, &format!("/webhooks/{webhook_id}/deliveries"))
        .await;
    assert_eq!(deliveries["data"][0]["state"], "FAILED");
    assert_eq!(deliveries["data"][0]["statusCode"], 503);
    assert!(deliveries["data"][0]["error"].as_str().unwrap().contains("503"));

    // A test against a receiver that still fails says so and leaves it inactive.
    let failed = app
        .post_json(&tenant, &format!("/webhooks/{webhook_id}/test"), json!({}))
        .await;
    assert_eq!(failed["status"], "FAILURE");
    assert_eq!(failed["isActive"], false);

    receiver.set_mode(Mode::Accept);
    let passed = app
        .post_json(&tenant, &format!("/webhooks/{webhook_id}/test"), json!({}))
        .await;
    assert_eq!(passed["status"], "SUCCESS");
    assert_eq!(passed["statusCode"], 200);
    assert_eq!(passed["isActive"], true);
    let tests: Vec<_> = receiver
        .accepted()
        .into_iter()
        .filter(|e| e["event"] == "coupler:webhook:test")
        .collect();
    assert_eq!(tests.len(), 1);
    assert_eq!(tests[0]["webhook"]["id"], webhook_id);
    let webhook = app.get_json(&tenant, &format!("/webhooks/{webhook_id}")).await;
    assert_eq!(webhook["isActive"], true);
    assert_eq!(webhook["failureCount"], 0);
}

#[tokio::test]
async fn webhooks_are_created_read_changed_and_deleted_and_a_generated_secret_is_shown_once() {
    let app = spawn(Duration::from_secs(3600)).await;
    let tenant = app.tenant("app").await;
    let response = app
        .as_tenant(&tenant, Method::POST, "/webhooks")
        .json(&json!({"url": "http://127.0.0.1:9/hook"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let created: serde_json::Value = response.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.len() >= 32);
    assert_eq!(created["events"], json!(["*"]));
    assert_eq!(created["isActive"], true);
    let id = created["id"].as_str().unwrap();

    let read = app.get_json(&tenant, &format!("/webhooks/{id}")).await;
    assert!(read.get("secret").is_none(), "the secret is never shown again");
    let stored = app
        .store
        .get_webhook(&tenant.id, &coupler_core::event::WebhookId::new(id))
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.secret_sealed.contains(secret), "the secret is stored encrypted");
    assert_eq!(app.state().cipher.decrypt(&stored.secret_sealed).unwrap(), secret);

    let patched = app
        .as_tenant(&tenant, Method::PATCH, &format!("/webhooks/{id}"))
        .json(&json!({"events": ["user:vehicle:updated", "user:charger:deleted"], "isActive": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let patched: serde_json::Value = patched.json().await.unwrap();
    assert_eq!(
        patched["events"],
        json!(["user:vehicle:updated", "user:charger:deleted"])
    );
    assert_eq!(patched["isActive"], false);
    let listed = app.get_json(&tenant, "/webhooks").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);

    let deleted = app
        .as_tenant(&tenant, Method::DELETE, &format!("/webhooks/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let gone = app
        .as_tenant(&tenant, Method::GET, &format!("/webhooks/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    problem(gone).await;
}

#[tokio::test]
async fn bad_webhook_input_is_refused_with_a_problem_and_changes_nothing() {
    let app = spawn(Duration::from_secs(3600)).await;
    let tenant = app.tenant("app").await;
    let created = create_webhook(&app, &tenant, "http://127.0.0.1:9/hook", json!(["*"])).await;
    let id = created["id"].as_str().unwrap();
    let bad_creates = [
        json!({}),
        json!({"url": "not a url"}),
        json!({"url": "ftp://example.com/x"}),
        json!({"url": "https://user:pw@example.com/x"}),
        json!({"url": "https://example.com/x", "secret": "short"}),
        json!({"url": "https://example.com/x", "events": []}),
        json!({"url": "https://example.com/x", "events": ["user:vehicle:exploded"]}),
        json!({"url": "https://example.com/x", "colour": "red"}),
        json!({"url": 42}),
    ];
    for body in bad_creates {
        let response = app
            .as_tenant(&tenant, Method::POST, "/webhooks")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_client_error(), "{body}: {}", response.status());
        problem(response).await;
    }
    let bad_patches = [
        json!({"url": "mailto:x@example.com"}),
        json!({"secret": "short"}),
        json!({"events": ["nope"]}),
        json!({"isActive": "yes"}),
        json!({"unknown": 1}),
    ];
    for body in bad_patches {
        let response = app
            .as_tenant(&tenant, Method::PATCH, &format!("/webhooks/{id}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_client_error(), "{body}: {}", response.status());
        problem(response).await;
    }
    let listed = app.get_json(&tenant, "/webhooks").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(app.get_json(&tenant, &format!("/webhooks/{id}")).await, {
        let mut same = created.clone();
        same.as_object_mut().unwrap().remove("secret");
        same
    });
    let bad_size = app
        .as_tenant(&tenant, Method::GET, &format!("/webhooks/{id}/deliveries?pageSize=0"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_size.status(), 422);
    problem(bad_size).await;
}

#[tokio::test]
async fn webhook_urls_at_loopback_or_private_addresses_are_refused_unless_configured() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.0.0.5/hook",
        "http://192.168.1.10/hook",
        "http://169.254.169.254/latest",
        "http://[::1]/hook",
    ] {
        let response = app
            .as_tenant(&tenant, Method::POST, "/webhooks")
            .json(&json!({"url": url}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{url}");
        let body = problem(response).await;
        assert!(body["detail"].as_str().unwrap().contains("private"), "{body}");
    }
    let listed = app.get_json(&tenant, "/webhooks").await;
    assert_eq!(listed["data"], json!([]));
}

#[tokio::test]
async fn a_clients_webhooks_carry_only_its_own_users_events_and_are_invisible_to_others() {
    let app = spawn(Duration::from_secs(3600)).await;
    let first = app.tenant("first").await;
    let second = app.tenant("second").await;
    let first_receiver = Receiver::start(SECRET, Mode::Accept).await;
    let second_receiver = Receiver::start(SECRET, Mode::Accept).await;
    let first_hook = create_webhook(&app, &first, &first_receiver.url, json!(["*"])).await;
    create_webhook(&app, &second, &second_receiver.url, json!(["*"])).await;

    let mine = app.register_charger(&first, "alice", "CP-WH-A").await;
    let theirs = app.register_charger(&second, "alice", "CP-WH-B").await;
    rename(&app, &first, mine["id"].as_str().unwrap(), "first's").await;
    rename(&app, &second, theirs["id"].as_str().unwrap(), "second's").await;

    let first_events = first_receiver
        .wait_until("the first client's rename", |e| {
            names_of(e, mine["id"].as_str().unwrap()).len() == 1
        })
        .await;
    let second_events = second_receiver
        .wait_until("the second client's rename", |e| {
            names_of(e, theirs["id"].as_str().unwrap()).len() == 1
        })
        .await;
    assert!(
        first_events.iter().all(|e| e["charger"]["id"] == mine["id"]),
        "{first_events:?}"
    );
    assert!(
        second_events.iter().all(|e| e["charger"]["id"] == theirs["id"]),
        "{second_events:?}"
    );

    let hook = first_hook["id"].as_str().unwrap();
    for (method, path) in [
        (Method::GET, format!("/webhooks/{hook}")),
        (Method::PATCH, format!("/webhooks/{hook}")),
        (Method::DELETE, format!("/webhooks/{hook}")),
        (Method::POST, format!("/webhooks/{hook}/test")),
        (Method::GET, format!("/webhooks/{hook}/deliveries")),
    ] {
        let response = app
            .as_tenant(&second, method.clone(), &path)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{method} {path}");
        problem(response).await;
    }
    assert_eq!(
        app.get_json(&second, "/webhooks").await["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        app.get_json(&first, &format!("/webhooks/{hook}")).await["isActive"],
        true
    );
}
