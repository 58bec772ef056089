//! What an app written against Enode finds: the action paths per device kind, webhook heartbeats,
//! and Standard Webhooks signatures (the receiver checks them on every request).

use coupler_tests::ocpp::PythonChargePoint;
use coupler_tests::receiver::{Mode, Receiver};
use coupler_tests::{wait_for, TestApp};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn the_enode_action_paths_read_and_cancel_actions_of_their_own_device_kind() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let charger = app.register_charger(&tenant, "alice", "CP-ENODE").await;
    let charger_id = charger["id"].as_str().unwrap();
    // Connected and idle: a START is sent and stays pending until the charger starts charging.
    let mut cp = PythonChargePoint::connected(
        charger["ocppUrl"].as_str().unwrap(),
        "CP-ENODE",
        charger["password"].as_str().unwrap(),
    )
    .await;
    cp.boot("Available").await;
    cp.call(
        "StatusNotification",
        json!({"connector_id": 1, "error_code": "NoError", "status": "Preparing"}),
    )
    .await;
    let action = app
        .post_json(
            &tenant,
            &format!("/chargers/{charger_id}/charging"),
            json!({"action": "START"}),
        )
        .await;
    let id = action["id"].as_str().unwrap();
    assert_eq!(action["state"], "PENDING", "{action}");

    let read = app.get_json(&tenant, &format!("/chargers/actions/{id}")).await;
    assert_eq!(read["id"], id);
    assert_eq!(read["targetType"], "charger");
    let as_vehicle = app
        .as_tenant(&tenant, Method::GET, &format!("/vehicles/actions/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(as_vehicle.status(), 404, "a charger's action is not a vehicle's");
    let cancel_as_vehicle = app
        .as_tenant(&tenant, Method::POST, &format!("/vehicles/actions/{id}/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(cancel_as_vehicle.status(), 404);

    let cancelled = app
        .post_json(&tenant, &format!("/chargers/actions/{id}/cancel"), json!(null))
        .await;
    assert_eq!(cancelled["state"], "CANCELLED");
    let again = app
        .as_tenant(&tenant, Method::POST, &format!("/chargers/actions/{id}/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);

    let other = app.tenant("other").await;
    let foreign = app
        .as_tenant(&other, Method::GET, &format!("/chargers/actions/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 404, "another client's action is not found");
    cp.close().await;
}

#[tokio::test]
async fn a_heartbeat_reaches_every_active_webhook_signed_with_its_pending_count() {
    let app = TestApp::spawn_with(|_, wiring| wiring.webhooks.allow_private = true).await;
    let tenant = app.tenant("app").await;
    let secret = "a-receiver-secret-of-at-least-32-chars";
    let receiver = Receiver::start(secret, Mode::Accept).await;
    let paused = Receiver::start(secret, Mode::Accept).await;
    for (url, active) in [(&receiver.url, true), (&paused.url, false)] {
        let created = app
            .as_tenant(&tenant, Method::POST, "/webhooks")
            .json(&json!({"url": url, "secret": secret, "events": ["*"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        if !active {
            let id = created.json::<serde_json::Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned();
            let paused = app
                .as_tenant(&tenant, Method::PATCH, &format!("/webhooks/{id}"))
                .json(&json!({"isActive": false}))
                .send()
                .await
                .unwrap();
            assert_eq!(paused.status(), 200);
        }
    }

    let accepted = coupler_api::heartbeat::beat(app.state()).await.unwrap();
    assert_eq!(accepted, 1, "only the active webhook gets a heartbeat");
    // The receiver accepts only requests whose Coupler and Standard Webhooks signatures both hold.
    let heartbeats: Vec<serde_json::Value> = receiver
        .accepted()
        .into_iter()
        .filter(|e| e["event"] == "system:heartbeat")
        .collect();
    assert_eq!(heartbeats.len(), 1, "{heartbeats:?}");
    assert!(heartbeats[0]["pendingEvents"].as_i64().unwrap() >= 0);
    assert!(heartbeats[0]["createdAt"].is_string());
    assert!(paused.requests().is_empty(), "a paused webhook gets no heartbeat");
}

#[tokio::test]
async fn heartbeats_arrive_on_their_own_at_the_configured_interval() {
    let app = TestApp::spawn_with(|_, wiring| {
        wiring.webhooks.allow_private = true;
        wiring.heartbeat_interval = std::time::Duration::from_millis(100);
    })
    .await;
    let tenant = app.tenant("app").await;
    let secret = "a-receiver-secret-of-at-least-32-chars";
    let receiver = Receiver::start(secret, Mode::Accept).await;
    let created = app
        .as_tenant(&tenant, Method::POST, "/webhooks")
        .json(&json!({"url": receiver.url, "secret": secret, "events": ["*"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    // With the default interval (5 minutes) none would come while the test runs; at 100 ms several do,
    // sent by the server's own heartbeat task.
    let receiver = &receiver;
    wait_for("three heartbeats arrive without being asked for", || async move {
        let beats = receiver
            .accepted()
            .into_iter()
            .filter(|e| e["event"] == "system:heartbeat")
            .count();
        (beats >= 3).then_some(())
    })
    .await;
    app.stop().await;
}
