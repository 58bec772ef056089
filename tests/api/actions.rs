use chrono::Duration;
use coupler_core::action::TargetState;
use coupler_core::{time, Action, ActionKind, DeviceKind, UserId};
use coupler_tests::{problem, Tenant, TestApp};
use reqwest::Method;

async fn pending_action(app: &TestApp, tenant: &Tenant) -> Action {
    let user = UserId::parse("alice").unwrap();
    app.store.upsert_user(&tenant.id, &user).await.unwrap();
    let action = Action::new(
        tenant.id.clone(),
        user,
        DeviceKind::Charger,
        "charger-1".into(),
        ActionKind::Start,
        TargetState::charging(true),
        None,
        time::now(),
        Duration::seconds(60),
    );
    app.store.insert_action(&action).await.unwrap();
    action
}

#[tokio::test]
async fn an_action_is_read_by_its_client_and_is_404_to_others() {
    let app = TestApp::spawn().await;
    let owner = app.tenant("owner").await;
    let stranger = app.tenant("stranger").await;
    let action = pending_action(&app, &owner).await;

    let path = format!("/actions/{}", action.id);
    let body: serde_json::Value = app
        .as_tenant(&owner, Method::GET, &path)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["id"], action.id.as_str());
    assert_eq!(body["userId"], "alice");
    assert_eq!(body["targetType"], "charger");
    assert_eq!(body["kind"], "START");
    assert_eq!(body["targetState"], serde_json::json!({"isCharging": true}));
    assert_eq!(body["state"], "PENDING");
    assert_eq!(body["failureReason"], serde_json::Value::Null);

    let hidden = app.as_tenant(&stranger, Method::GET, &path).send().await.unwrap();
    assert_eq!(hidden.status(), 404);
    problem(hidden).await;
    let not_cancelled = app
        .as_tenant(&stranger, Method::POST, &format!("{path}/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(not_cancelled.status(), 404);
    let still: serde_json::Value = app
        .as_tenant(&owner, Method::GET, &path)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(still["state"], "PENDING", "a stranger's cancel changed nothing");
}

#[tokio::test]
async fn cancelling_a_pending_action_settles_it_and_a_second_cancel_is_409() {
    let app = TestApp::spawn().await;
    let owner = app.tenant("owner").await;
    let action = pending_action(&app, &owner).await;
    let cancel = format!("/actions/{}/cancel", action.id);

    let response = app.as_tenant(&owner, Method::POST, &cancel).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["state"], "CANCELLED");
    assert_eq!(body["failureReason"]["type"], "REQUESTED_CANCELLATION");
    assert!(body["completedAt"].is_string());

    let again = app.as_tenant(&owner, Method::POST, &cancel).send().await.unwrap();
    assert_eq!(again.status(), 409);
    assert!(problem(again).await["detail"].as_str().unwrap().contains("CANCELLED"));
}
