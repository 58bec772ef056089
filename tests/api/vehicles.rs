//! Vehicles after linking: polling within the makers' limits, sleeping cars, refused credentials and
//! interventions, commands and their actions, and tenant isolation.

use std::time::Duration;

use coupler_core::adapter::VendorLimits;
use coupler_core::UserId;
use coupler_simulated::{Brand, RequestKind, SimConfig, SimVehicleSpec};
use coupler_tests::vehicles::{eventually, get_json, hint, link_simulated, vehicles_of, AppSite, SimWorld};
use coupler_tests::{problem, Tenant, TestApp};
use reqwest::Method;
use serde_json::json;

fn car(vin: &str, model: &str) -> SimVehicleSpec {
    SimVehicleSpec::new(vin, model)
}

/// A simulated world and a Coupler wired to it; `limits` overrides brands' limits.
async fn setup(
    config: SimConfig,
    limits: impl Fn(Brand) -> Option<VendorLimits>,
) -> (SimWorld, TestApp, Tenant, AppSite) {
    let world = SimWorld::start(config).await;
    let app = TestApp::spawn_with(|url, wiring| world.wire(url, wiring, limits)).await;
    let tenant = app.tenant("app").await;
    let site = AppSite::start().await;
    (world, app, tenant, site)
}

/// Links `brand`'s account `ann` for `user` and waits for its cars' first read.
async fn linked(
    app: &TestApp,
    tenant: &Tenant,
    site: &AppSite,
    user: &str,
    brand: Brand,
    cars: usize,
) -> Vec<serde_json::Value> {
    let landed = link_simulated(app, tenant, site, user, brand, "ann", "pw").await;
    assert!(landed.as_str().contains("success=true"), "{landed}");
    eventually("the first read", || async {
        let list = vehicles_of(app, tenant, user).await;
        list.len() == cars && list.iter().all(|v| !v["isReachable"].is_null())
    })
    .await;
    vehicles_of(app, tenant, user).await
}

async fn post(app: &TestApp, tenant: &Tenant, path: &str, body: serde_json::Value) -> reqwest::Response {
    app.as_tenant(tenant, Method::POST, path)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn settled(app: &TestApp, tenant: &Tenant, action: &serde_json::Value) -> serde_json::Value {
    let path = format!("/actions/{}", action["id"].as_str().unwrap());
    eventually("the action settled", || async {
        get_json(app, tenant, &path).await["state"] != "PENDING"
    })
    .await;
    get_json(app, tenant, &path).await
}

#[tokio::test]
async fn the_per_vendor_rate_limit_holds_under_a_burst_of_refresh_hints() {
    // Coupler may send Aurora 3 requests at once and then one every 10 s; the maker itself would
    // allow far more, so every request it did not get was held back by Coupler.
    let limits = VendorLimits {
        burst: 3,
        per_minute: 6.0,
        daily_polls_per_vehicle: 1000,
    };
    let (world, app, tenant, site) = setup(SimConfig::default(), |b| (b == Brand::Aurora).then_some(limits)).await;
    world.cloud.add_account(
        Brand::Aurora,
        "ann",
        "pw",
        vec![
            car("SIMAUR0000000000A", "Aurora A1"),
            car("SIMAUR0000000000B", "Aurora A1"),
            car("SIMAUR0000000000C", "Aurora A1"),
        ],
    );
    let cars = linked(&app, &tenant, &site, "alice", Brand::Aurora, 3).await;
    let after_link = world.cloud.request_count(Brand::Aurora, RequestKind::State);
    assert_eq!(after_link, 3, "the first read of each car used the burst");

    let started = std::time::Instant::now();
    for round in 0..40 {
        for v in &cars {
            hint(&app, &tenant, v["id"].as_str().unwrap()).await;
        }
        if round % 10 == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let reads = world.cloud.request_count(Brand::Aurora, RequestKind::State);
    // 3 in the burst, then at most one per 10 s of the test.
    let allowed = 3.0 + (elapsed + 1.0) / 10.0;
    assert!(
        (reads as f64) <= allowed,
        "{reads} reads reached the maker in {elapsed:.1}s; the limit allows {allowed:.1}"
    );
    // The hints were not lost: they wait for the bucket, so a read follows once it refills.
    let first = get_json(&app, &tenant, &format!("/vehicles/{}", cars[0]["id"].as_str().unwrap())).await;
    assert!(first["isReachable"] == true);
    let pending = app
        .store
        .list_vehicles(&tenant.id, None, &coupler_core::PageRequest::first(10))
        .await
        .unwrap();
    assert!(
        pending.items.iter().any(|v| v.poll.requested),
        "at least one hinted read is still waiting for the bucket"
    );
}

#[tokio::test]
async fn a_sleeping_car_is_not_woken_to_poll_and_last_seen_and_is_reachable_stay_true() {
    let (world, app, tenant, site) = setup(SimConfig::default(), |_| None).await;
    let ids = world
        .cloud
        .add_account(Brand::Nimbus, "ann", "pw", vec![car("SIMNIM0000000000A", "Nimbus N")]);
    let cars = linked(&app, &tenant, &site, "alice", Brand::Nimbus, 1).await;
    let id = cars[0]["id"].as_str().unwrap().to_owned();
    let awake = get_json(&app, &tenant, &format!("/vehicles/{id}")).await;
    assert_eq!(awake["isReachable"], true);
    let seen = awake["lastSeen"].as_str().unwrap().to_owned();
    let updated = awake["chargeState"]["lastUpdated"].as_str().unwrap().to_owned();

    world.cloud.update_vehicle(&ids[0], |c| c.asleep = true);
    let reads = world.cloud.request_count(Brand::Nimbus, RequestKind::State);
    hint(&app, &tenant, &id).await;
    eventually("the sleep was noticed", || async {
        get_json(&app, &tenant, &format!("/vehicles/{id}")).await["isReachable"] == false
    })
    .await;
    let asleep = get_json(&app, &tenant, &format!("/vehicles/{id}")).await;
    assert_eq!(asleep["lastSeen"], seen.as_str(), "no live data, so lastSeen stays");
    assert_eq!(
        asleep["chargeState"]["lastUpdated"],
        updated.as_str(),
        "the last known state stays"
    );
    assert_eq!(asleep["chargeState"]["batteryLevel"], 50.0);
    assert_eq!(world.cloud.request_count(Brand::Nimbus, RequestKind::State), reads + 1);
    assert_eq!(
        world.cloud.request_count(Brand::Nimbus, RequestKind::Wake),
        0,
        "never woken to poll"
    );
    assert!(world.cloud.vehicle(&ids[0]).unwrap().asleep);

    // The owner drives off: the car wakes by itself, and the next read sees it.
    world.cloud.update_vehicle(&ids[0], |c| {
        c.asleep = false;
        c.battery_level = 47.0;
    });
    hint(&app, &tenant, &id).await;
    eventually("the car was read awake", || async {
        get_json(&app, &tenant, &format!("/vehicles/{id}")).await["isReachable"] == true
    })
    .await;
    let back = get_json(&app, &tenant, &format!("/vehicles/{id}")).await;
    assert_ne!(back["lastSeen"], seen.as_str());
    assert_eq!(back["chargeState"]["batteryLevel"], 47.0);
}

#[tokio::test]
async fn a_maker_rate_limit_is_respected_even_by_refresh_hints() {
    let (world, app, tenant, site) = setup(
        SimConfig {
            rate_limit: 2,
            rate_window: Duration::from_secs(3600),
            ..SimConfig::default()
        },
        |_| None,
    )
    .await;
    world
        .cloud
        .add_account(Brand::Nimbus, "ann", "pw", vec![car("SIMNIM0000000000A", "Nimbus N")]);
    // Linking lists the cars (1 request) and the first read takes the second.
    let cars = linked(&app, &tenant, &site, "alice", Brand::Nimbus, 1).await;
    let id = cars[0]["id"].as_str().unwrap().to_owned();
    hint(&app, &tenant, &id).await;
    eventually("the 429 was received", || async {
        world.cloud.request_count(Brand::Nimbus, RequestKind::State) == 2
    })
    .await;
    for _ in 0..10 {
        hint(&app, &tenant, &id).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        world.cloud.request_count(Brand::Nimbus, RequestKind::State),
        2,
        "after a 429 with Retry-After, no request until the wait is over"
    );
    let vehicle = get_json(&app, &tenant, &format!("/vehicles/{id}")).await;
    assert_eq!(vehicle["isReachable"], true, "a rate limit says nothing about the car");
}

#[tokio::test]
async fn an_expired_access_token_is_refreshed_and_the_read_goes_through() {
    let (world, app, tenant, site) = setup(SimConfig::default(), |_| None).await;
    let ids = world
        .cloud
        .add_account(Brand::Aurora, "ann", "pw", vec![car("SIMAUR0000000000A", "Aurora A1")]);
    let cars = linked(&app, &tenant, &site, "alice", Brand::Aurora, 1).await;
    let id = cars[0]["id"].as_str().unwrap().to_owned();
    let alice = UserId::parse("alice").unwrap();
    let before = app.store.list_vendor_accounts(&tenant.id, &alice).await.unwrap()[0].clone();

    world.cloud.expire_access_tokens(Brand::Aurora, "ann");
    world.cloud.update_vehicle(&ids[0], |c| c.battery_level = 63.0);
    hint(&app, &tenant, &id).await;
    eventually("the read after the refresh", || async {
        get_json(&app, &tenant, &format!("/vehicles/{id}")).await["chargeState"]["batteryLevel"] == 63.0
    })
    .await;
    let after = app.store.list_vendor_accounts(&tenant.id, &alice).await.unwrap()[0].clone();
    assert_eq!(
        after.token_version,
        before.token_version + 1,
        "both tokens replaced once"
    );
    assert_ne!(after.tokens.refresh_token, before.tokens.refresh_token);
    assert!(after.is_valid);
    assert_eq!(
        world.cloud.request_count(Brand::Aurora, RequestKind::Token),
        2,
        "code, then one refresh"
    );
    assert!(get_json(&app, &tenant, "/interventions").await["data"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_token_about_to_expire_is_refreshed_before_it_does() {
    let (world, app, tenant, site) = setup(
        SimConfig {
            // Shorter than the engine's refresh margin (60 s), so the refresher acts at once.
            access_token_ttl: Duration::from_secs(30),
            ..SimConfig::default()
        },
        |_| None,
    )
    .await;
    world
        .cloud
        .add_account(Brand::Aurora, "ann", "pw", vec![car("SIMAUR0000000000A", "Aurora A1")]);
    linked(&app, &tenant, &site, "alice", Brand::Aurora, 1).await;
    let alice = UserId::parse("alice").unwrap();
    eventually("the refresher replaced the tokens", || async {
        let accounts = app.store.list_vendor_accounts(&tenant.id, &alice).await.unwrap();
        accounts[0].token_version >= 2
    })
    .await;
    assert!(
        world.cloud.request_count(Brand::Aurora, RequestKind::Token) >= 2,
        "the maker was asked"
    );
    let account = app.store.list_vendor_accounts(&tenant.id, &alice).await.unwrap()[0].clone();
    assert!(account.is_valid);
    assert!(get_json(&app, &tenant, "/interventions").await["data"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn revoked_credentials_raise_an_intervention_and_relinking_resolves_it() {
    let (world, app, tenant, site) = setup(SimConfig::default(), |_| None).await;
    let ids = world
        .cloud
        .add_account(Brand::Aurora, "ann", "pw", vec![car("SIMAUR0000000000A", "Aurora A1")]);
    let cars = linked(&app, &tenant, &site, "alice", Brand::Aurora, 1).await;
    let id = cars[0]["id"].as_str().unwrap().to_owned();

    world.cloud.revoke_account(Brand::Aurora, "ann");
    hint(&app, &tenant, &id).await;
    eventually("the intervention was raised", || async {
        !get_json(&app, &tenant, "/interventions").await["data"]
            .as_array()
            .unwrap()
            .is_empty()
    })
    .await;
    let listed = get_json(&app, &tenant, "/interventions").await;
    let intervention = &listed["data"][0];
    assert_eq!(intervention["userId"], "alice");
    assert_eq!(intervention["vendor"], "SIM_AURORA");
    assert_eq!(intervention["kind"], "RELINK_NEEDED");
    assert_eq!(intervention["resolution"]["action"], "Link");
    assert_eq!(intervention["resolvedAt"], serde_json::Value::Null);
    let intervention_id = intervention["id"].as_str().unwrap().to_owned();
    assert_eq!(
        get_json(&app, &tenant, &format!("/interventions/{intervention_id}")).await["id"],
        intervention_id.as_str()
    );

    let vehicle = get_json(&app, &tenant, &format!("/vehicles/{id}")).await;
    assert_eq!(vehicle["isReachable"], false);
    assert_eq!(vehicle["capabilities"]["startCharging"]["isCapable"], false);
    assert_eq!(
        vehicle["capabilities"]["startCharging"]["interventionIds"],
        json!([intervention_id])
    );
    assert_eq!(
        get_json(&app, &tenant, "/users/alice").await["linkedVendors"][0]["isValid"],
        false
    );
    let refused = post(
        &app,
        &tenant,
        &format!("/vehicles/{id}/charging"),
        json!({"action": "START"}),
    )
    .await;
    assert_eq!(refused.status(), 400);
    assert!(problem(refused).await["detail"]
        .as_str()
        .unwrap()
        .contains("link it again"));
    // An invalid account is not polled: hints do not reach the maker.
    let reads = world.cloud.request_count(Brand::Aurora, RequestKind::State);
    hint(&app, &tenant, &id).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(world.cloud.request_count(Brand::Aurora, RequestKind::State), reads);

    // The user links again: the same vehicle comes back, reachable, and the intervention is resolved.
    world.cloud.update_vehicle(&ids[0], |c| c.battery_level = 71.0);
    link_simulated(&app, &tenant, &site, "alice", Brand::Aurora, "ann", "pw").await;
    eventually("the relinked car was read", || async {
        let v = get_json(&app, &tenant, &format!("/vehicles/{id}")).await;
        v["isReachable"] == true && v["chargeState"]["batteryLevel"] == 71.0
    })
    .await;
    assert!(get_json(&app, &tenant, "/interventions").await["data"]
        .as_array()
        .unwrap()
        .is_empty());
    let all = get_json(&app, &tenant, "/interventions?includeResolved=true").await;
    assert!(all["data"][0]["resolvedAt"].is_string());
    assert_eq!(
        get_json(&app, &tenant, "/users/alice").await["linkedVendors"][0]["isValid"],
        true
    );
}

#[tokio::test]
async fn a_command_the_vehicle_cannot_do_is_refused_with_a_400_that_says_why_and_creates_nothing() {
    let (world, app, tenant, site) = setup(SimConfig::default(), |_| None).await;
    world
        .cloud
        .add_account(Brand::Boreal, "ann", "pw", vec![car("SIMBOR0000000000A", "Boreal B")]);
    world
        .cloud
        .add_account(Brand::Cirrus, "ann", "pw", vec![car("SIMCIR0000000000A", "Cirrus C")]);
    world.cloud.add_account(
        Brand::Aurora,
        "ann",
        "pw",
        vec![car("SIMAUR0000000000A", "Aurora Classic")],
    );
    let boreal = linked(&app, &tenant, &site, "bo", Brand::Boreal, 1).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cirrus = linked(&app, &tenant, &site, "ci", Brand::Cirrus, 1).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let classic = linked(&app, &tenant, &site, "au", Brand::Aurora, 1).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let cases = [
        (
            format!("/vehicles/{boreal}/charging"),
            json!({"action": "STOP"}),
            "cannot stop",
        ),
        (
            format!("/vehicles/{cirrus}/charging"),
            json!({"action": "START"}),
            "read-only",
        ),
        (
            format!("/vehicles/{cirrus}/max-current"),
            json!({"maxCurrent": 16}),
            "read-only",
        ),
        (
            format!("/vehicles/{classic}/max-current"),
            json!({"maxCurrent": 16}),
            "Classic",
        ),
    ];
    for (path, body, says) in cases {
        let response = post(&app, &tenant, &path, body.clone()).await;
        assert_eq!(response.status(), 400, "{path} {body}");
        let problem = problem(response).await;
        assert!(problem["detail"].as_str().unwrap().contains(says), "{path}: {problem}");
    }
    let boreal_start = post(
        &app,
        &tenant,
        &format!("/vehicles/{boreal}/charging"),
        json!({"action": "START"}),
    )
    .await;
    assert_eq!(boreal_start.status(), 200, "Boreal can start");

    for id in [&cirrus, &classic] {
        let pending = app
            .store
            .pending_actions_for(coupler_core::DeviceKind::Vehicle, id)
            .await
            .unwrap();
        assert!(pending.is_empty(), "a refused command left no action");
    }
    assert_eq!(world.cloud.request_count(Brand::Cirrus, RequestKind::Command), 0);
}

#[tokio::test]
async fn malformed_commands_are_refused_with_a_problem() {
    let (world, app, tenant, site) = setup(SimConfig::default(), |_| None).await;
    world
        .cloud
        .add_account(Brand::Aurora, "ann", "pw", vec![car("SIMAUR0000000000A", "Aurora A1")]);
    let id = linked(&app, &tenant, &site, "alice", Brand::Aurora, 1).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cases = [
        ("charging", json!({"action": "GO"}), 422),
        ("charging", json!({"action": 1}), 422),
        ("charging", json!({}), 422),
        ("max-current", json!({"maxCurrent": 7.5}), 422),
        ("max-current", json!({"maxCurrent": 0}), 422),
        ("max-current", json!({"maxCurrent": 500}), 422),
        ("max-current", json!({"maxCurrent": "16"}), 422),
        ("max-current", json!({"maxCurrent": 16, "phases": 3}), 422),
    ];
    for (what, body, status) in cases {
        let response = post(&app, &tenant, &format!("/vehicles/{id}/{what}"), body.clone()).await;
        assert_eq!(response.status(), status, "{what} {body}");
        problem(response).await;
    }
    let bad_key = app
        .as_tenant(&tenant, Method::POST, &format!("/vehicles/{id}/charging"))
        .header("Idempotency-Key", "x".repeat(300))
        .json(&json!({"action": "START"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_key.status(), 422);
    let unknown = post(
        &app,
        &tenant,
        "/vehicles/no-such-vehicle/charging",
        json!({"action": "START"}),
    )
    .await;
    assert_eq!(unknown.status(), 404);
    assert!(app
        .store
        .pending_actions_for(coupler_core::DeviceKind::Vehicle, &id)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn the_max_current_is_set_and_confirmed_by_the_state_read_afterwards() {
    let (world, app, tenant, site) = setup(SimConfig::default(), |_| None).await;
    let ids = world
        .cloud
        .add_account(Brand::Aurora, "ann", "pw", vec![car("SIMAUR0000000000A", "Aurora A1")]);
    let id = linked(&app, &tenant, &site, "alice", Brand::Aurora, 1).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = post(
        &app,
        &tenant,
        &format!("/vehicles/{id}/max-current"),
        json!({"maxCurrent": 10}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let action: serde_json::Value = response.json().await.unwrap();
    assert_eq!(action["kind"], "SET_MAX_CURRENT");
    assert_eq!(action["targetState"], json!({"maxCurrent": 10.0}));
    let done = settled(&app, &tenant, &action).await;
    assert_eq!(done["state"], "CONFIRMED", "{done}");
    assert_eq!(world.cloud.vehicle(&ids[0]).unwrap().max_current, 10);
    assert_eq!(
        get_json(&app, &tenant, &format!("/vehicles/{id}")).await["chargeState"]["maxCurrent"],
        10.0
    );
}

#[tokio::test]
async fn starting_an_unplugged_car_fails_with_the_makers_reason() {
    let (world, app, tenant, site) = setup(SimConfig::default(), |_| None).await;
    world
        .cloud
        .add_account(Brand::Aurora, "ann", "pw", vec![car("SIMAUR0000000000A", "Aurora A1")]);
    let id = linked(&app, &tenant, &site, "alice", Brand::Aurora, 1).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let action: serde_json::Value = post(
        &app,
        &tenant,
        &format!("/vehicles/{id}/charging"),
        json!({"action": "START"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let done = settled(&app, &tenant, &action).await;
    assert_eq!(done["state"], "FAILED");
    assert_eq!(done["failureReason"]["type"], "FAILED_PRECONDITION");
    assert!(
        done["failureReason"]["detail"]
            .as_str()
            .unwrap()
            .contains("not plugged in"),
        "{done}"
    );
    assert_eq!(done["attempts"][0]["outcome"], "REJECTED");
}

#[tokio::test]
async fn a_sleeping_car_is_woken_for_a_command_and_the_command_confirmed() {
    let (world, app, tenant, site) = setup(SimConfig::default(), |_| None).await;
    let ids = world
        .cloud
        .add_account(Brand::Nimbus, "ann", "pw", vec![car("SIMNIM0000000000A", "Nimbus N")]);
    let id = linked(&app, &tenant, &site, "alice", Brand::Nimbus, 1).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    world.cloud.update_vehicle(&ids[0], |c| c.plugged_in = true);
    world.cloud.update_vehicle(&ids[0], |c| {
        c.charge_enabled = false;
        c.asleep = true;
    });
    let action: serde_json::Value = post(
        &app,
        &tenant,
        &format!("/vehicles/{id}/charging"),
        json!({"action": "START"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let done = settled(&app, &tenant, &action).await;
    assert_eq!(done["state"], "CONFIRMED", "{done}");
    assert_eq!(
        world.cloud.request_count(Brand::Nimbus, RequestKind::Wake),
        1,
        "woken once, for the command"
    );
    assert_eq!(done["attempts"][0]["outcome"], "UNREACHABLE");
    assert_eq!(done["attempts"][1]["outcome"], "CONFIRMED");
    assert_eq!(world.cloud.vehicle(&ids[0]).unwrap().status(), "charging");
}

#[tokio::test]
async fn a_newer_conflicting_action_cancels_the_older_and_an_idempotency_key_returns_the_first() {
    let (world, app, tenant, site) = setup(SimConfig::default(), |_| None).await;
    let ids = world
        .cloud
        .add_account(Brand::Aurora, "ann", "pw", vec![car("SIMAUR0000000000A", "Aurora A1")]);
    let id = linked(&app, &tenant, &site, "alice", Brand::Aurora, 1).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Asleep, so the first action stays pending long enough to be replaced.
    world.cloud.update_vehicle(&ids[0], |c| c.plugged_in = true);
    world.cloud.update_vehicle(&ids[0], |c| c.asleep = true);

    let keyed = |body: serde_json::Value, key: &str| {
        app.as_tenant(&tenant, Method::POST, &format!("/vehicles/{id}/charging"))
            .header("Idempotency-Key", key)
            .json(&body)
    };
    let first: serde_json::Value = keyed(json!({"action": "START"}), "k-1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let repeat: serde_json::Value = keyed(json!({"action": "START"}), "k-1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(repeat["id"], first["id"], "the same key returns the same action");
    let misuse = keyed(json!({"action": "STOP"}), "k-1").send().await.unwrap();
    assert_eq!(misuse.status(), 422);
    problem(misuse).await;

    let stop: serde_json::Value = post(
        &app,
        &tenant,
        &format!("/vehicles/{id}/charging"),
        json!({"action": "STOP"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let replaced = get_json(&app, &tenant, &format!("/actions/{}", first["id"].as_str().unwrap())).await;
    if replaced["state"] == "CANCELLED" {
        assert_eq!(replaced["failureReason"]["type"], "CONFLICT");
    } else {
        // It may have settled before the STOP arrived; then it cannot be replaced.
        assert_ne!(replaced["state"], "PENDING");
    }
    let done = settled(&app, &tenant, &stop).await;
    assert_eq!(done["state"], "CONFIRMED", "{done}");
}

#[tokio::test]
async fn another_clients_vehicle_answers_404_everywhere() {
    let (world, app, tenant, site) = setup(SimConfig::default(), |_| None).await;
    world
        .cloud
        .add_account(Brand::Aurora, "ann", "pw", vec![car("SIMAUR0000000000A", "Aurora A1")]);
    let id = linked(&app, &tenant, &site, "alice", Brand::Aurora, 1).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    world.cloud.revoke_account(Brand::Aurora, "ann");
    hint(&app, &tenant, &id).await;
    eventually("an intervention exists for the owner", || async {
        !get_json(&app, &tenant, "/interventions").await["data"]
            .as_array()
            .unwrap()
            .is_empty()
    })
    .await;
    let owner_intervention = get_json(&app, &tenant, "/interventions").await["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let stranger = app.tenant("stranger").await;
    let put = app
        .as_tenant(&stranger, Method::PUT, "/users/alice")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201, "the stranger's own alice is another user");
    for (method, path, body) in [
        (Method::GET, format!("/vehicles/{id}"), None),
        (Method::POST, format!("/vehicles/{id}/refresh-hint"), None),
        (
            Method::POST,
            format!("/vehicles/{id}/charging"),
            Some(json!({"action": "START"})),
        ),
        (
            Method::POST,
            format!("/vehicles/{id}/max-current"),
            Some(json!({"maxCurrent": 10})),
        ),
        (Method::GET, format!("/interventions/{owner_intervention}"), None),
        (Method::DELETE, "/users/alice/vendors/SIM_AURORA".to_owned(), None),
    ] {
        let mut request = app.as_tenant(&stranger, method.clone(), &path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 404, "{method} {path}");
        problem(response).await;
    }
    assert!(get_json(&app, &stranger, "/vehicles").await["data"]
        .as_array()
        .unwrap()
        .is_empty());
    assert!(get_json(&app, &stranger, "/users/alice/vehicles").await["data"]
        .as_array()
        .unwrap()
        .is_empty());
    assert!(
        get_json(&app, &stranger, "/interventions?includeResolved=true").await["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        get_json(&app, &stranger, "/users/alice").await["linkedVendors"],
        json!([]),
        "the stranger's alice has no vendors"
    );
    let unknown_user = app
        .as_tenant(&stranger, Method::GET, "/users/nobody/vehicles")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_user.status(), 404);
    // Still there for its owner.
    assert_eq!(
        get_json(&app, &tenant, &format!("/vehicles/{id}")).await["id"],
        id.as_str()
    );
}

#[tokio::test]
async fn a_command_acknowledged_but_not_carried_out_is_sent_again_once_and_then_fails_with_no_response() {
    let world = SimWorld::start(SimConfig::default()).await;
    let app = TestApp::spawn_with(|url, wiring| {
        world.wire(url, wiring, |_| None);
        wiring.engine.action_timeout = Duration::from_secs(2);
    })
    .await;
    let tenant = app.tenant("app").await;
    let site = AppSite::start().await;
    let ids = world
        .cloud
        .add_account(Brand::Aurora, "ann", "pw", vec![car("SIMAUR0000000000A", "Aurora A1")]);
    let id = linked(&app, &tenant, &site, "alice", Brand::Aurora, 1).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    world.cloud.update_vehicle(&ids[0], |c| c.ignores_commands = true);
    let action: serde_json::Value = post(
        &app,
        &tenant,
        &format!("/vehicles/{id}/max-current"),
        json!({"maxCurrent": 8}),
    )
    .await
    .json()
    .await
    .unwrap();
    let done = settled(&app, &tenant, &action).await;
    assert_eq!(done["state"], "FAILED", "{done}");
    assert_eq!(done["failureReason"]["type"], "NO_RESPONSE");
    let outcomes: Vec<&str> = done["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["NO_EFFECT", "NO_EFFECT"], "sent, sent again, never followed");
    assert_eq!(world.cloud.request_count(Brand::Aurora, RequestKind::Command), 2);
    assert!(done["completedAt"].is_string());
}

#[tokio::test]
async fn starting_a_car_whose_charger_gives_no_power_fails_as_a_precondition() {
    let (world, app, tenant, site) = setup(SimConfig::default(), |_| None).await;
    let ids = world
        .cloud
        .add_account(Brand::Aurora, "ann", "pw", vec![car("SIMAUR0000000000A", "Aurora A1")]);
    let id = linked(&app, &tenant, &site, "alice", Brand::Aurora, 1).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    world.cloud.update_vehicle(&ids[0], |c| c.plugged_in = true);
    world.cloud.update_vehicle(&ids[0], |c| {
        c.charge_enabled = false;
        c.power_available = false;
    });
    let action: serde_json::Value = post(
        &app,
        &tenant,
        &format!("/vehicles/{id}/charging"),
        json!({"action": "START"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let done = settled(&app, &tenant, &action).await;
    assert_eq!(done["state"], "FAILED", "{done}");
    assert_eq!(done["failureReason"]["type"], "FAILED_PRECONDITION");
    assert!(done["failureReason"]["detail"].as_str().unwrap().contains("no power"));
    assert_eq!(
        get_json(&app, &tenant, &format!("/vehicles/{id}")).await["chargeState"]["powerDeliveryState"],
        "PLUGGED_IN:NO_POWER"
    );
}
