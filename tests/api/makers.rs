//! Coupler with the Tesla and Smartcar adapters against local servers that answer as those APIs are
//! documented: linking, reads, sleeping cars, rate limits, expired tokens refreshed, revoked
//! credentials raising an intervention, garbage answers, and a maker that times out while linking.

use std::sync::Arc;
use std::time::Duration;

use coupler_core::account::Secret;
use coupler_core::UserId;
use coupler_smartcar::fake::{FakeSmartcar, FakeSmartcarServer, FakeVehicle};
use coupler_smartcar::{SmartcarAdapter, SmartcarConfig};
use coupler_tesla::fake::{FakeCar, FakeTesla, FakeTeslaServer, Fault};
use coupler_tesla::{TeslaAdapter, TeslaConfig};
use coupler_tests::vehicles::{
    browser, continue_from_consent, create_link, eventually, fast_engine, get_json, hint, vehicles_of, AppSite,
};
use coupler_tests::{Tenant, TestApp};
use reqwest::Method;
use serde_json::json;
use url::Url;

const VIN: &str = "5YJ3E1EA7KF317000";
const ALL_SCOPES: [&str; 3] = ["vehicle:read:data", "vehicle:read:location", "vehicle:control:charging"];

fn tesla_config(server: &FakeTeslaServer, timeout: Duration) -> TeslaConfig {
    let base = Url::parse(&server.base_url).unwrap();
    TeslaConfig {
        client_id: "app".into(),
        client_secret: Secret::new("app-secret"),
        authorize_url: base.join("/oauth2/v3/authorize").unwrap(),
        token_url: base.join("/oauth2/v3/token").unwrap(),
        discovery_url: base.clone(),
        regional_urls: vec![base.clone()],
        command_proxy_url: Some(base.join("/proxy").unwrap()),
        timeout,
        ..TeslaConfig::production()
    }
}

async fn with_tesla(timeout: Duration) -> (FakeTeslaServer, TestApp, Tenant, AppSite) {
    let server = FakeTesla::spawn("app", "app-secret", vec![FakeCar::model3(VIN)]).await;
    let adapter = TeslaAdapter::new(tesla_config(&server, timeout)).unwrap();
    let app = TestApp::spawn_with(|_, wiring| {
        wiring.adapters.register(Arc::new(adapter));
        wiring.engine = fast_engine();
    })
    .await;
    let tenant = app.tenant("app").await;
    (server, app, tenant, AppSite::start().await)
}

/// Links through Coupler's pages; the fake maker approves at once. Returns the app's landing query.
async fn link(
    app: &TestApp,
    tenant: &Tenant,
    site: &AppSite,
    vendor: &str,
) -> std::collections::HashMap<String, String> {
    let (link_url, _) = create_link(
        app,
        tenant,
        "alice",
        json!({"vendor": vendor, "scopes": ALL_SCOPES, "redirectUri": site.redirect_uri()}),
    )
    .await;
    let landed = continue_from_consent(&browser(), &link_url).await;
    assert_eq!(landed.status(), 200, "landed on the app");
    site.last_visit().unwrap()
}

async fn first_vehicle(app: &TestApp, tenant: &Tenant) -> serde_json::Value {
    eventually("the first read", || async {
        vehicles_of(app, tenant, "alice")
            .await
            .first()
            .is_some_and(|v| !v["isReachable"].is_null())
    })
    .await;
    vehicles_of(app, tenant, "alice").await[0].clone()
}

async fn vehicle(app: &TestApp, tenant: &Tenant, id: &str) -> serde_json::Value {
    get_json(app, tenant, &format!("/vehicles/{id}")).await
}

async fn open_interventions(app: &TestApp, tenant: &Tenant) -> Vec<serde_json::Value> {
    get_json(app, tenant, "/interventions").await["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn tesla_is_linked_read_refreshed_and_raises_an_intervention_when_revoked() {
    let (server, app, tenant, site) = with_tesla(Duration::from_secs(2)).await;
    let landed = link(&app, &tenant, &site, "TESLA").await;
    assert_eq!(landed["success"], "true");
    assert_eq!(landed["vendor"], "TESLA");
    let v = first_vehicle(&app, &tenant).await;
    let id = v["id"].as_str().unwrap().to_owned();
    assert_eq!(v["isReachable"], true);
    assert_eq!(v["information"]["model"], "Model 3");
    assert_eq!(v["chargeState"]["batteryLevel"], 55.0);
    assert_eq!(v["chargeState"]["powerDeliveryState"], "PLUGGED_IN:STOPPED");
    assert_eq!(server.fake.count("region"), 1, "the region was discovered at link time");

    // Success: a command through the signing proxy, confirmed by the next read.
    let action: serde_json::Value = app
        .as_tenant(&tenant, Method::POST, &format!("/vehicles/{id}/charging"))
        .json(&json!({"action": "START"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let path = format!("/actions/{}", action["id"].as_str().unwrap());
    eventually("confirmed", || async {
        get_json(&app, &tenant, &path).await["state"] == "CONFIRMED"
    })
    .await;
    assert_eq!(server.fake.count("proxy:charge_start"), 1);
    assert_eq!(vehicle(&app, &tenant, &id).await["chargeState"]["isCharging"], true);

    // Expired token: refreshed once, the read goes through, both tokens replaced.
    let alice = UserId::parse("alice").unwrap();
    let before = app.store.list_vendor_accounts(&tenant.id, &alice).await.unwrap()[0].clone();
    server.fake.expire_access_tokens();
    server.fake.update_car(VIN, |c| c.battery_level = 61.0);
    hint(&app, &tenant, &id).await;
    eventually("read after refresh", || async {
        vehicle(&app, &tenant, &id).await["chargeState"]["batteryLevel"] == 61.0
    })
    .await;
    let after = app.store.list_vendor_accounts(&tenant.id, &alice).await.unwrap()[0].clone();
    assert_eq!(after.token_version, before.token_version + 1);
    assert_eq!(server.fake.count("token"), 2);

    // Revoked: the refresh is refused (login_required), so the account needs relinking.
    server.fake.revoke_all();
    hint(&app, &tenant, &id).await;
    eventually("intervention raised", || async {
        !open_interventions(&app, &tenant).await.is_empty()
    })
    .await;
    let intervention = &open_interventions(&app, &tenant).await[0];
    assert_eq!(intervention["vendor"], "TESLA");
    assert_eq!(intervention["kind"], "RELINK_NEEDED");
    let v = vehicle(&app, &tenant, &id).await;
    assert_eq!(v["isReachable"], false);
    assert_eq!(
        v["capabilities"]["chargeState"]["interventionIds"][0],
        intervention["id"]
    );
    assert_eq!(
        get_json(&app, &tenant, "/users/alice").await["linkedVendors"][0]["isValid"],
        false
    );
}

#[tokio::test]
async fn a_sleeping_tesla_is_left_asleep_and_a_rate_limit_or_garbage_changes_nothing() {
    let (server, app, tenant, site) = with_tesla(Duration::from_secs(2)).await;
    link(&app, &tenant, &site, "TESLA").await;
    let v = first_vehicle(&app, &tenant).await;
    let id = v["id"].as_str().unwrap().to_owned();
    let seen = v["lastSeen"].clone();

    server.fake.update_car(VIN, |c| c.state = "asleep".into());
    let data_reads = server.fake.count("vehicle_data");
    hint(&app, &tenant, &id).await;
    eventually("asleep", || async {
        vehicle(&app, &tenant, &id).await["isReachable"] == false
    })
    .await;
    assert_eq!(server.fake.count("vehicle_data"), data_reads, "not asked for data");
    assert_eq!(server.fake.count("wake_up"), 0, "not woken");
    assert_eq!(vehicle(&app, &tenant, &id).await["lastSeen"], seen);

    // Garbage (HTML, truncated JSON): the read fails, the last good state stays, nothing panics.
    server.fake.update_car(VIN, |c| c.state = "online".into());
    let before = vehicle(&app, &tenant, &id).await;
    for fault in [Fault::Html, Fault::TruncatedJson] {
        server.fake.fail_next(fault);
        let calls = server.fake.count("vehicle");
        hint(&app, &tenant, &id).await;
        eventually("the garbage was read", || async {
            server.fake.count("vehicle") > calls
        })
        .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let after = vehicle(&app, &tenant, &id).await;
        assert_eq!(after["chargeState"], before["chargeState"]);
        assert_eq!(after["lastSeen"], before["lastSeen"]);
    }

    // Rate limited with a day-long Retry-After: no more requests, hints or not.
    let stats = app
        .store
        .list_vehicles(&tenant.id, None, &coupler_core::PageRequest::first(1))
        .await
        .unwrap();
    assert!(stats.items[0]
        .poll
        .last_error
        .as_deref()
        .unwrap_or_default()
        .contains("not the expected JSON"));
    // After the failures Coupler backs off, then reads again by itself.
    let calls = server.fake.count("vehicle");
    eventually("the retry after the back-off", || async {
        server.fake.count("vehicle") > calls
    })
    .await;
    eventually("the retry was stored", || async {
        app.store
            .list_vehicles(&tenant.id, None, &coupler_core::PageRequest::first(1))
            .await
            .unwrap()
            .items[0]
            .poll
            .consecutive_failures
            == 0
    })
    .await;
    server.fake.fail_next(Fault::RateLimited(86_400));
    let calls = server.fake.count("vehicle");
    hint(&app, &tenant, &id).await;
    eventually("the 429 was received", || async {
        server.fake.count("vehicle") == calls + 1
    })
    .await;
    for _ in 0..5 {
        hint(&app, &tenant, &id).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.fake.count("vehicle"), calls + 1, "Retry-After is obeyed");
    assert_eq!(vehicle(&app, &tenant, &id).await["isReachable"], true);
}

#[tokio::test]
async fn a_maker_that_times_out_while_linking_sends_the_person_back_with_an_error_and_nothing_is_saved() {
    let (server, app, tenant, site) = with_tesla(Duration::from_millis(300)).await;
    // The token exchange works; the region lookup right after it stalls past the timeout.
    server.fake.fail_next(Fault::Stall(Duration::from_secs(3)));
    let landed = link(&app, &tenant, &site, "TESLA").await;
    assert_eq!(landed["error"], "vendor_unavailable");
    assert!(landed["error_message"].contains("TESLA"));
    assert!(!landed.contains_key("success"));
    let alice = UserId::parse("alice").unwrap();
    assert!(app
        .store
        .list_vendor_accounts(&tenant.id, &alice)
        .await
        .unwrap()
        .is_empty());
    assert!(vehicles_of(&app, &tenant, "alice").await.is_empty());

    // A maker that answers garbage while linking is the same for the person: an error, nothing saved.
    server.fake.fail_next(Fault::Html);
    let landed = link(&app, &tenant, &site, "TESLA").await;
    assert_eq!(landed["error"], "vendor_unavailable");
    assert!(app
        .store
        .list_vendor_accounts(&tenant.id, &alice)
        .await
        .unwrap()
        .is_empty());

    // And once the maker behaves, the same user links fine.
    let landed = link(&app, &tenant, &site, "TESLA").await;
    assert_eq!(landed["success"], "true");
    assert_eq!(
        app.store.list_vendor_accounts(&tenant.id, &alice).await.unwrap().len(),
        1
    );
}

async fn with_smartcar() -> (FakeSmartcarServer, TestApp, Tenant, AppSite) {
    let server = FakeSmartcar::spawn("sc-app", "sc-secret", vec![FakeVehicle::new("veh-1", "BMW")]).await;
    let base = Url::parse(&server.base_url).unwrap();
    let adapter = SmartcarAdapter::new(SmartcarConfig {
        client_id: "sc-app".into(),
        client_secret: Secret::new("sc-secret"),
        mode: "test".into(),
        authorize_url: base.join("/oauth/authorize").unwrap(),
        token_url: base.join("/oauth/token").unwrap(),
        api_url: base.join("/v2.0").unwrap(),
        timeout: Duration::from_secs(2),
        ..SmartcarConfig::production()
    })
    .unwrap();
    let app = TestApp::spawn_with(|_, wiring| {
        wiring.adapters.register(Arc::new(adapter));
        wiring.engine = fast_engine();
    })
    .await;
    let tenant = app.tenant("app").await;
    (server, app, tenant, AppSite::start().await)
}

#[tokio::test]
async fn smartcar_is_linked_read_refreshed_and_raises_an_intervention_when_revoked() {
    let (server, app, tenant, site) = with_smartcar().await;
    let landed = link(&app, &tenant, &site, "SMARTCAR").await;
    assert_eq!(landed["success"], "true");
    assert_eq!(server.fake.modes(), ["test"]);
    let v = first_vehicle(&app, &tenant).await;
    let id = v["id"].as_str().unwrap().to_owned();
    assert_eq!(v["information"]["brand"], "BMW");
    assert_eq!(v["chargeState"]["batteryLevel"], 42.0);
    assert_eq!(v["chargeState"]["batteryCapacity"], 64.0);
    assert_eq!(v["capabilities"]["setMaxCurrent"]["isCapable"], false);

    let refused = app
        .as_tenant(&tenant, Method::POST, &format!("/vehicles/{id}/max-current"))
        .json(&json!({"maxCurrent": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400, "Smartcar sets amperage only on Teslas");

    // Asleep: reported, not woken (Smartcar cannot), the last state kept.
    server.fake.update_vehicle("veh-1", |v| v.asleep = true);
    hint(&app, &tenant, &id).await;
    eventually("asleep", || async {
        vehicle(&app, &tenant, &id).await["isReachable"] == false
    })
    .await;
    assert_eq!(vehicle(&app, &tenant, &id).await["chargeState"]["batteryLevel"], 42.0);
    server.fake.update_vehicle("veh-1", |v| {
        v.asleep = false;
        v.percent_remaining = 0.5;
    });

    // Expired token: AUTHENTICATION, refreshed, read again.
    server.fake.expire_access_tokens();
    hint(&app, &tenant, &id).await;
    eventually("read after refresh", || async {
        vehicle(&app, &tenant, &id).await["chargeState"]["batteryLevel"] == 50.0
    })
    .await;
    assert_eq!(server.fake.count("token"), 2);

    // Billing limit (430): treated as a long wait, the car stays reachable.
    server.fake.fail_next(coupler_smartcar::fake::Fault::Billing);
    let batches = server.fake.count("batch");
    hint(&app, &tenant, &id).await;
    eventually("the 430 arrived", || async {
        server.fake.count("batch") == batches + 1
    })
    .await;
    hint(&app, &tenant, &id).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        server.fake.count("batch"),
        batches + 1,
        "no retry during the billing wait"
    );
    assert_eq!(vehicle(&app, &tenant, &id).await["isReachable"], true);

    // Revoked: the refresh fails with invalid_grant, an intervention is raised.
    let alice = UserId::parse("alice").unwrap();
    let account = app.store.list_vendor_accounts(&tenant.id, &alice).await.unwrap()[0].clone();
    server.fake.revoke_all();
    // Force a read past the billing wait by relinking-free means: the refresher notices on its own
    // once the token is refused; here the next command does it.
    let start = app
        .as_tenant(&tenant, Method::POST, &format!("/vehicles/{id}/charging"))
        .json(&json!({"action": "START"}))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 200);
    let action: serde_json::Value = start.json().await.unwrap();
    let path = format!("/actions/{}", action["id"].as_str().unwrap());
    eventually("the action failed", || async {
        get_json(&app, &tenant, &path).await["state"] == "FAILED"
    })
    .await;
    assert!(get_json(&app, &tenant, &path).await["failureReason"]["detail"]
        .as_str()
        .unwrap()
        .contains("link it again"));
    eventually("intervention raised", || async {
        !open_interventions(&app, &tenant).await.is_empty()
    })
    .await;
    assert_eq!(open_interventions(&app, &tenant).await[0]["vendor"], "SMARTCAR");
    let invalid = app
        .store
        .get_vendor_account(&tenant.id, &account.id)
        .await
        .unwrap()
        .unwrap();
    assert!(!invalid.is_valid);
    assert_eq!(vehicle(&app, &tenant, &id).await["isReachable"], false);
}

#[tokio::test]
async fn smartcar_garbage_and_a_rate_limit_leave_the_last_state_and_are_waited_out() {
    let (server, app, tenant, site) = with_smartcar().await;
    link(&app, &tenant, &site, "SMARTCAR").await;
    let v = first_vehicle(&app, &tenant).await;
    let id = v["id"].as_str().unwrap().to_owned();
    server.fake.fail_next(coupler_smartcar::fake::Fault::Html);
    let batches = server.fake.count("batch");
    hint(&app, &tenant, &id).await;
    eventually("the garbage arrived", || async {
        server.fake.count("batch") == batches + 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after = vehicle(&app, &tenant, &id).await;
    assert_eq!(after["chargeState"], v["chargeState"]);
    assert_eq!(after["isReachable"], true, "one failure is not unreachable yet");

    // Coupler backs off after the failure, then reads again by itself.
    eventually("the retry after the back-off", || async {
        server.fake.count("batch") == batches + 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.fake.fail_next(coupler_smartcar::fake::Fault::RateLimited(3600));
    hint(&app, &tenant, &id).await;
    eventually("the 429 arrived", || async {
        server.fake.count("batch") == batches + 3
    })
    .await;
    for _ in 0..5 {
        hint(&app, &tenant, &id).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.fake.count("batch"), batches + 3, "retry-after is obeyed");
}
