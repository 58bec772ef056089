//! The sandbox's simulated world against the real gateway: simulated OCPP 1.6J and 2.0.1 chargers
//! connect over WebSockets with the password Coupler issued, simulated cars plugged into them draw
//! power by one physical model, and Coupler sees it all through its ordinary API. Also the sandbox
//! API's own rules: bad input, tenant isolation, and 404 outside sandbox mode.

use coupler::server::{simulated_oem, SandboxWiring, Server, Wiring};
use coupler_core::secret::{Cipher, SecretKey};
use coupler_simulated::{SimCloud, SimConfig};
use coupler_store::testing::TestDatabase;
use coupler_tests::sandbox::{spawn_sandbox, until};
use coupler_tests::{problem, Tenant, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use tokio::net::TcpListener;

async fn sim_vehicles(app: &TestApp, tenant: &Tenant) -> Vec<Value> {
    app.get_json(tenant, "/sandbox/vehicles").await["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn sim_vehicle_now(app: &TestApp, tenant: &Tenant, id: &str) -> Value {
    sim_vehicles(app, tenant)
        .await
        .into_iter()
        .find(|v| v["id"] == id)
        .expect("the car is listed")
}

async fn sim_charger_now(app: &TestApp, tenant: &Tenant, id: &str) -> Value {
    let list = app.get_json(tenant, "/sandbox/chargers").await;
    list["data"]
        .as_array()
        .and_then(|l| l.iter().find(|c| c["id"] == id).cloned())
        .expect("the charger is listed")
}

/// A new simulated car (`car`) plugged into a new simulated charger (`charger`) of user `driver`;
/// their ids (the maker's car id, Coupler's charger id).
async fn plugged(app: &TestApp, tenant: &Tenant, car: Value, charger: Value) -> (String, String) {
    let car = app.sim_vehicle(tenant, car).await;
    let car_id = car["id"].as_str().unwrap().to_owned();
    let charger = app.sim_charger(tenant, "driver", charger).await;
    let charger_id = charger["id"].as_str().unwrap().to_owned();
    app.post_json(
        tenant,
        "/sandbox/plug",
        json!({"vehicleId": car_id, "chargerId": charger_id}),
    )
    .await;
    (car_id, charger_id)
}

/// Plugs a car into a charger of `version` and follows it from Coupler's side until it charges,
/// then unplugs it and checks the session Coupler recorded.
async fn a_plugged_car_charges_through(version: &str) {
    let app = spawn_sandbox(600.0, None).await;
    let tenant = app.tenant("app").await;
    let car = app
        .sim_vehicle(&tenant, json!({"brand": "SIM_AURORA", "batteryLevel": 40}))
        .await;
    let car_id = car["id"].as_str().unwrap();
    assert_eq!(car["status"], "unplugged");
    let charger = app
        .sim_charger(&tenant, "driver", json!({"ocppVersion": version}))
        .await;
    let charger_id = charger["id"].as_str().unwrap();

    let seen = app.get_json(&tenant, &format!("/chargers/{charger_id}")).await;
    assert_eq!(seen["information"]["ocppVersion"], version, "{seen}");
    assert_eq!(seen["chargeState"]["isPluggedIn"], false);

    let plugged = app
        .post_json(
            &tenant,
            "/sandbox/plug",
            json!({"vehicleId": car_id, "chargerId": charger_id}),
        )
        .await;
    assert_eq!(plugged["isPluggedIn"], true);
    assert_eq!(plugged["chargerId"], charger_id);

    // Free vending: the charger starts a transaction itself; its meter values say 16 A (the car's
    // maximum, under the charger's 32 A) on three phases at 230 V.
    let state = until("Coupler sees the car charging at 11 kW", || async {
        let seen = app.get_json(&tenant, &format!("/chargers/{charger_id}")).await;
        let rate = seen["chargeState"]["chargeRate"].as_f64().unwrap_or(0.0);
        (seen["chargeState"]["isCharging"] == true && (rate - 11.04).abs() < 0.1).then_some(seen)
    })
    .await;
    assert_eq!(
        state["chargeState"]["powerDeliveryState"], "PLUGGED_IN:CHARGING",
        "{state}"
    );
    let live = sim_charger_now(&app, &tenant, charger_id).await;
    assert_eq!(live["status"], "Charging");
    assert_eq!(live["vehicleId"], car_id);
    assert_eq!(live["offeredCurrent"], 32.0);

    until("the car's state of charge rises", || async {
        let now = sim_vehicle_now(&app, &tenant, car_id).await;
        (now["batteryLevel"].as_f64().unwrap_or(0.0) > 40.5 && now["status"] == "charging").then_some(())
    })
    .await;

    app.post_json(&tenant, "/sandbox/unplug", json!({"vehicleId": car_id}))
        .await;
    until("Coupler sees the cable out and the session ended", || async {
        let seen = app.get_json(&tenant, &format!("/chargers/{charger_id}")).await;
        let sessions = app.get_json(&tenant, &format!("/chargers/{charger_id}/sessions")).await;
        let session = sessions["data"].as_array().and_then(|s| s.first().cloned())?;
        (seen["chargeState"]["isPluggedIn"] == false && !session["stoppedAt"].is_null()).then_some(())
    })
    .await;
    let sessions = app.get_json(&tenant, &format!("/chargers/{charger_id}/sessions")).await;
    let energy = sessions["data"][0]["energy"].as_f64().unwrap_or(0.0);
    assert!(energy > 0.0, "the session has the energy the car took: {sessions}");
    app.stop().await;
}

#[tokio::test]
async fn a_car_plugged_into_a_simulated_ocpp_1_6_charger_charges_and_coupler_sees_it() {
    a_plugged_car_charges_through("1.6").await;
}

#[tokio::test]
async fn a_car_plugged_into_a_simulated_ocpp_2_0_1_charger_charges_and_coupler_sees_it() {
    a_plugged_car_charges_through("2.0.1").await;
}

/// Max current through Coupler becomes a charging profile on the simulated charger, which offers
/// exactly that, so the car draws it.
async fn a_max_current_limit_is_obeyed_by(version: &str) {
    let app = spawn_sandbox(1.0, None).await;
    let tenant = app.tenant("app").await;
    let (car_id, charger_id) = plugged(
        &app,
        &tenant,
        json!({"brand": "SIM_NIMBUS"}),
        json!({"ocppVersion": version}),
    )
    .await;
    let (car_id, charger_id) = (car_id.as_str(), charger_id.as_str());
    until("charging", || async {
        (sim_charger_now(&app, &tenant, charger_id).await["status"] == "Charging").then_some(())
    })
    .await;

    let action = app
        .post_expect(
            &tenant,
            &format!("/chargers/{charger_id}/max-current"),
            json!({"maxCurrent": 10}),
            200,
        )
        .await;
    let settled = app.settled_action(&tenant, action["id"].as_str().unwrap()).await;
    assert_eq!(settled["state"], "CONFIRMED", "{settled}");
    let live = until("the charger offers 10 A", || async {
        let live = sim_charger_now(&app, &tenant, charger_id).await;
        (live["offeredCurrent"] == 10.0).then_some(live)
    })
    .await;
    assert!((live["chargeRate"].as_f64().unwrap() - 6.9).abs() < 0.01, "{live}");
    let car = sim_vehicle_now(&app, &tenant, car_id).await;
    assert!((car["chargeRate"].as_f64().unwrap() - 6.9).abs() < 0.01, "{car}");
    until("Coupler's meter reading follows", || async {
        let seen = app.get_json(&tenant, &format!("/chargers/{charger_id}")).await;
        let rate = seen["chargeState"]["chargeRate"].as_f64().unwrap_or(0.0);
        ((rate - 6.9).abs() < 0.05).then_some(())
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_max_current_set_through_coupler_limits_what_a_car_draws_from_a_1_6_charger() {
    a_max_current_limit_is_obeyed_by("1.6").await;
}

#[tokio::test]
async fn a_max_current_set_through_coupler_limits_what_a_car_draws_from_a_2_0_1_charger() {
    a_max_current_limit_is_obeyed_by("2.0.1").await;
}

/// Without free vending the charger waits for a remote start; a remote stop ends the transaction
/// with the car still in.
async fn remote_start_and_stop_on(version: &str) {
    let app = spawn_sandbox(1.0, None).await;
    let tenant = app.tenant("app").await;
    let (car_id, charger_id) = plugged(
        &app,
        &tenant,
        json!({"brand": "SIM_CIRRUS"}),
        json!({"ocppVersion": version, "autoStart": false}),
    )
    .await;
    let (car_id, charger_id) = (car_id.as_str(), charger_id.as_str());
    until("Coupler sees the cable in without a transaction", || async {
        let seen = app.get_json(&tenant, &format!("/chargers/{charger_id}")).await;
        (seen["chargeState"]["isPluggedIn"] == true).then_some(())
    })
    .await;
    assert_eq!(sim_charger_now(&app, &tenant, charger_id).await["status"], "Preparing");
    assert_eq!(sim_vehicle_now(&app, &tenant, car_id).await["chargeRate"], 0.0);

    let start = app
        .post_expect(
            &tenant,
            &format!("/chargers/{charger_id}/charging"),
            json!({"action": "START"}),
            200,
        )
        .await;
    let started = app.settled_action(&tenant, start["id"].as_str().unwrap()).await;
    assert_eq!(started["state"], "CONFIRMED", "{started}");
    until("the car draws power", || async {
        (sim_vehicle_now(&app, &tenant, car_id).await["status"] == "charging").then_some(())
    })
    .await;

    let stop = app
        .post_expect(
            &tenant,
            &format!("/chargers/{charger_id}/charging"),
            json!({"action": "STOP"}),
            200,
        )
        .await;
    let stopped = app.settled_action(&tenant, stop["id"].as_str().unwrap()).await;
    assert_eq!(stopped["state"], "CONFIRMED", "{stopped}");
    let live = until("the transaction has ended with the car still in", || async {
        let live = sim_charger_now(&app, &tenant, charger_id).await;
        (live["status"] == "Finishing").then_some(live)
    })
    .await;
    assert_eq!(live["vehicleId"], car_id);
    assert_eq!(sim_vehicle_now(&app, &tenant, car_id).await["status"], "no_power");
    app.stop().await;
}

#[tokio::test]
async fn a_1_6_charger_without_auto_start_charges_on_a_remote_start_and_stops_on_a_remote_stop() {
    remote_start_and_stop_on("1.6").await;
}

#[tokio::test]
async fn a_2_0_1_charger_without_auto_start_charges_on_a_remote_start_and_stops_on_a_remote_stop() {
    remote_start_and_stop_on("2.0.1").await;
}

#[tokio::test]
async fn a_car_held_by_its_own_schedule_leaves_the_charger_suspended_by_the_ev_until_released() {
    let app = spawn_sandbox(1.0, None).await;
    let tenant = app.tenant("app").await;
    let car = app.sim_vehicle(&tenant, json!({"brand": "SIM_BOREAL"})).await;
    let car_id = car["id"].as_str().unwrap();
    let charger = app.sim_charger(&tenant, "driver", json!({"ocppVersion": "1.6"})).await;
    let charger_id = charger["id"].as_str().unwrap();
    let held = app
        .as_tenant(&tenant, Method::PATCH, &format!("/sandbox/vehicles/{car_id}"))
        .json(&json!({"scheduleHold": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(held.status(), 200);
    app.post_json(
        &tenant,
        "/sandbox/plug",
        json!({"vehicleId": car_id, "chargerId": charger_id}),
    )
    .await;
    until("the charger reports SuspendedEV", || async {
        let seen = app.get_json(&tenant, &format!("/chargers/{charger_id}")).await;
        let connector = seen["connectors"]
            .as_array()?
            .iter()
            .find(|c| c["connectorId"] == 1)?
            .clone();
        (connector["status"] == "SuspendedEV").then_some(())
    })
    .await;
    assert_eq!(sim_vehicle_now(&app, &tenant, car_id).await["status"], "stopped");

    app.as_tenant(&tenant, Method::PATCH, &format!("/sandbox/vehicles/{car_id}"))
        .json(&json!({"scheduleHold": false}))
        .send()
        .await
        .unwrap();
    until("the car charges once released", || async {
        (sim_charger_now(&app, &tenant, charger_id).await["status"] == "Charging").then_some(())
    })
    .await;
    app.stop().await;
}

/// AutoCharge: the charger starts the transaction with the car's MAC address as its identity.
async fn the_cars_mac_address_reaches_coupler_through(version: &str) {
    let app = spawn_sandbox(1.0, None).await;
    let tenant = app.tenant("app").await;
    let (car_id, charger_id) = plugged(
        &app,
        &tenant,
        json!({"brand": "SIM_AURORA", "macAddress": "02-1a-2b-3c-4d-5e"}),
        json!({"ocppVersion": version, "sendsVehicleIdentity": true}),
    )
    .await;
    let (car_id, charger_id) = (car_id.as_str(), charger_id.as_str());
    assert_eq!(
        sim_vehicle_now(&app, &tenant, car_id).await["macAddress"],
        "02:1A:2B:3C:4D:5E"
    );
    let session = until("a session started with the car's identity", || async {
        let sessions = app.get_json(&tenant, &format!("/chargers/{charger_id}/sessions")).await;
        sessions["data"].as_array().and_then(|s| s.first().cloned())
    })
    .await;
    let tag = session["idTag"]
        .as_str()
        .unwrap_or_default()
        .replace(':', "")
        .to_uppercase();
    assert_eq!(tag, "VID021A2B3C4D5E", "{session}");
    app.stop().await;
}

#[tokio::test]
async fn a_1_6_charger_with_vehicle_identity_starts_the_session_with_a_vid_id_tag() {
    the_cars_mac_address_reaches_coupler_through("1.6").await;
}

#[tokio::test]
async fn a_2_0_1_charger_with_vehicle_identity_starts_the_session_with_a_mac_address_token() {
    the_cars_mac_address_reaches_coupler_through("2.0.1").await;
}

#[tokio::test]
async fn the_sandbox_api_refuses_bad_input_with_a_clear_problem_and_changes_nothing() {
    let app = spawn_sandbox(1.0, None).await;
    let tenant = app.tenant("app").await;
    for (body, detail) in [
        (json!({"brand": "SIM_TESLA"}), "unknown brand"),
        (json!({"brand": "SIM_AURORA", "batteryLevel": 120}), "batteryLevel"),
        (json!({"brand": "SIM_AURORA", "chargeLimit": 20}), "chargeLimit"),
        (json!({"brand": "SIM_AURORA", "macAddress": "not-a-mac"}), "macAddress"),
        (json!({"brand": "SIM_AURORA", "colour": "red"}), "colour"),
    ] {
        let response = app
            .as_tenant(&tenant, Method::POST, "/sandbox/vehicles")
            .json(&body)
            .send()
            .await
            .unwrap();
        // A body that breaks the schema is 422, a value out of range 400; both are problems.
        assert!(matches!(response.status().as_u16(), 400 | 422), "{body}");
        let problem = problem(response).await;
        assert!(problem["detail"].as_str().unwrap().contains(detail), "{problem}");
    }
    let unknown_account = app
        .as_tenant(&tenant, Method::POST, "/sandbox/vehicles")
        .json(&json!({"brand": "SIM_AURORA", "account": "nobody"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_account.status(), 404);
    assert!(sim_vehicles(&app, &tenant).await.is_empty(), "no car was made");

    let bad_version = app
        .as_tenant(&tenant, Method::POST, "/sandbox/users/driver/chargers")
        .json(&json!({"ocppVersion": "1.5"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_version.status(), 422);
    assert!(problem(bad_version).await["detail"]
        .as_str()
        .unwrap()
        .contains("ocppVersion"));
    let chargers = app.get_json(&tenant, "/chargers").await;
    assert_eq!(chargers["data"], json!([]), "nothing was registered");

    let car = app.sim_vehicle(&tenant, json!({"brand": "SIM_AURORA"})).await;
    let car_id = car["id"].as_str().unwrap();
    for (body, status) in [
        (json!({}), 400),
        (json!({"batteryLevel": -1}), 400),
        (json!({"chargeLimit": 101}), 400),
        (json!({"asleep": "yes"}), 400),
    ] {
        let response = app
            .as_tenant(&tenant, Method::PATCH, &format!("/sandbox/vehicles/{car_id}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let got = response.status().as_u16();
        assert!(got == status || (status == 400 && got == 422), "{body}: {got}");
        problem(response).await;
    }
    assert_eq!(
        sim_vehicle_now(&app, &tenant, car_id).await["batteryLevel"],
        car["batteryLevel"]
    );
    let unknown = app
        .as_tenant(&tenant, Method::PATCH, "/sandbox/vehicles/aurora-999999")
        .json(&json!({"batteryLevel": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    let plug_unknown = app
        .as_tenant(&tenant, Method::POST, "/sandbox/plug")
        .json(&json!({"vehicleId": car_id, "chargerId": "no-such-charger"}))
        .send()
        .await
        .unwrap();
    assert_eq!(plug_unknown.status(), 404);
    assert_eq!(sim_vehicle_now(&app, &tenant, car_id).await["isPluggedIn"], false);

    let charger = app.sim_charger(&tenant, "driver", json!({"ocppVersion": "1.6"})).await;
    let charger_id = charger["id"].as_str().unwrap();
    let other = app.sim_vehicle(&tenant, json!({"brand": "SIM_BOREAL"})).await;
    app.post_json(
        &tenant,
        "/sandbox/plug",
        json!({"vehicleId": car_id, "chargerId": charger_id}),
    )
    .await;
    let occupied = app
        .as_tenant(&tenant, Method::POST, "/sandbox/plug")
        .json(&json!({"vehicleId": other["id"], "chargerId": charger_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(occupied.status(), 409);
    assert!(problem(occupied).await["detail"]
        .as_str()
        .unwrap()
        .contains("already has car"));

    for factor in [json!(0), json!(1e9), json!("fast")] {
        let response = app
            .as_tenant(&tenant, Method::PUT, "/sandbox/time-factor")
            .json(&json!({"factor": factor}))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_client_error(), "{factor}");
        problem(response).await;
    }
    assert_eq!(app.get_json(&tenant, "/sandbox/time-factor").await["factor"], 1.0);
    let set = app
        .as_tenant(&tenant, Method::PUT, "/sandbox/time-factor")
        .json(&json!({"factor": 120}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);
    assert_eq!(app.get_json(&tenant, "/sandbox/time-factor").await["factor"], 120.0);
    app.stop().await;
}

#[tokio::test]
async fn a_client_sees_and_controls_only_its_own_simulated_cars_and_chargers() {
    let app = spawn_sandbox(1.0, None).await;
    let alice = app.tenant("alice").await;
    let bob = app.tenant("bob").await;
    let car = app.sim_vehicle(&alice, json!({"brand": "SIM_AURORA"})).await;
    let car_id = car["id"].as_str().unwrap();
    let account = car["login"]["username"].as_str().unwrap();
    let charger = app.sim_charger(&alice, "a-user", json!({"ocppVersion": "1.6"})).await;
    let charger_id = charger["id"].as_str().unwrap();
    let bobs_car = app.sim_vehicle(&bob, json!({"brand": "SIM_AURORA"})).await;

    assert_eq!(sim_vehicles(&app, &bob).await.len(), 1, "Bob sees only his car");
    assert_eq!(app.get_json(&bob, "/sandbox/chargers").await["data"], json!([]));

    let mut refusals = Vec::new();
    refusals.push(
        app.as_tenant(&bob, Method::PATCH, &format!("/sandbox/vehicles/{car_id}"))
            .json(&json!({"batteryLevel": 1}))
            .send()
            .await
            .unwrap(),
    );
    refusals.push(
        app.as_tenant(&bob, Method::POST, "/sandbox/plug")
            .json(&json!({"vehicleId": car_id, "chargerId": charger_id}))
            .send()
            .await
            .unwrap(),
    );
    refusals.push(
        app.as_tenant(&bob, Method::POST, "/sandbox/plug")
            .json(&json!({"vehicleId": bobs_car["id"], "chargerId": charger_id}))
            .send()
            .await
            .unwrap(),
    );
    refusals.push(
        app.as_tenant(&bob, Method::POST, "/sandbox/unplug")
            .json(&json!({"vehicleId": car_id}))
            .send()
            .await
            .unwrap(),
    );
    refusals.push(
        app.as_tenant(&bob, Method::POST, "/sandbox/vehicles")
            .json(&json!({"brand": "SIM_AURORA", "account": account}))
            .send()
            .await
            .unwrap(),
    );
    for response in refusals {
        assert_eq!(response.status(), 404, "another client's ids answer 404");
        problem(response).await;
    }
    let untouched = sim_vehicle_now(&app, &alice, car_id).await;
    assert_eq!(untouched["batteryLevel"], car["batteryLevel"]);
    assert_eq!(untouched["isPluggedIn"], false);
    assert_eq!(
        sim_charger_now(&app, &alice, charger_id).await["vehicleId"],
        Value::Null
    );

    // Nor does the simulated maker's unauthenticated control API reach a client's cars.
    let control: Value = app
        .request(Method::GET, "/sim/control/vehicles")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!control.to_string().contains(car_id), "{control}");
    let poked = app
        .request(Method::POST, &format!("/sim/control/vehicles/{car_id}"))
        .json(&json!({"pluggedIn": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(poked.status(), 404);

    // Alice may add a second car to her own account.
    let second = app
        .sim_vehicle(&alice, json!({"brand": "SIM_AURORA", "account": account}))
        .await;
    assert_eq!(second["login"]["username"], account);
    app.stop().await;
}

#[tokio::test]
async fn outside_sandbox_mode_the_sandbox_routes_answer_404_after_authentication() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let anonymous = app.request(Method::GET, "/sandbox/vehicles").send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    for (method, path) in [
        (Method::GET, "/sandbox/vehicles"),
        (Method::GET, "/sandbox/chargers"),
        (Method::GET, "/sandbox/time-factor"),
    ] {
        let response = app.as_tenant(&tenant, method, path).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        let problem = problem(response).await;
        assert!(problem["detail"].as_str().unwrap().contains("--sandbox"), "{problem}");
    }
    let post = app
        .as_tenant(&tenant, Method::POST, "/sandbox/users/u/chargers")
        .json(&json!({"ocppVersion": "1.6"}))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 404);
    assert_eq!(app.get_json(&tenant, "/chargers").await["data"], json!([]));
    app.stop().await;
}

async fn serve_sandbox(db: &TestDatabase, key: &SecretKey, state_file: &std::path::Path) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url: url::Url = format!("http://{}", listener.local_addr().unwrap()).parse().unwrap();
    let mut wiring = Wiring::minimal(db.open().await, url.clone());
    wiring.cipher = Cipher::new(key);
    wiring.simulated_oem =
        Some(simulated_oem(&url, &mut wiring.adapters, SimCloud::new(SimConfig::default())).unwrap());
    wiring.sandbox = Some(SandboxWiring {
        state_file: Some(state_file.to_owned()),
        ..SandboxWiring::default()
    });
    Server::serve_with(listener, None, wiring).await.unwrap()
}

#[tokio::test]
async fn simulated_chargers_reconnect_after_a_restart_and_their_passwords_are_kept_only_encrypted() {
    let db = TestDatabase::sqlite();
    let key = SecretKey::generate();
    let dir = std::env::temp_dir().join(format!("coupler-sandbox-{}", coupler_core::ChargerId::generate()));
    std::fs::create_dir_all(&dir).unwrap();
    let state_file = dir.join("coupler-sandbox.db.sandbox.json");

    let first = serve_sandbox(&db, &key, &state_file).await;
    let base = first.public_url.as_str().trim_end_matches('/').to_owned();
    let store = first.state.store.clone();
    let secret = coupler_core::secret::generate_secret();
    let client = coupler_core::ClientId::generate();
    store
        .insert_client(&coupler_core::Client {
            id: client.clone(),
            name: "app".into(),
            secret_hash: coupler_core::secret::hash_secret(&secret),
            created_at: coupler_core::time::now(),
            revoked_at: None,
        })
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let token = |base: String| {
        let http = http.clone();
        let client = client.clone();
        let secret = secret.clone();
        async move {
            let body: Value = http
                .post(format!("{base}/oauth/token"))
                .basic_auth(client.as_str(), Some(&secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body["access_token"].as_str().unwrap().to_owned()
        }
    };
    let bearer = token(base.clone()).await;
    let created: Value = http
        .post(format!("{base}/sandbox/users/driver/chargers"))
        .bearer_auth(&bearer)
        .json(&json!({"ocppVersion": "2.0.1", "ocppId": "SIM-GARAGE"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let charger_id = created["id"].as_str().unwrap().to_owned();
    let reachable = |base: String, bearer: String| {
        let http = http.clone();
        let charger_id = charger_id.clone();
        async move {
            let seen: Value = http
                .get(format!("{base}/chargers/{charger_id}"))
                .bearer_auth(&bearer)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (seen["isReachable"] == true).then_some(())
        }
    };
    until("the charger connects", || reachable(base.clone(), bearer.clone())).await;
    let saved = std::fs::read_to_string(&state_file).unwrap();
    assert!(saved.contains("SIM-GARAGE"), "{saved}");
    assert!(saved.contains("sealedPassword"), "{saved}");
    first.stop().await.unwrap();

    // A new process: same database and key, another port. The charger comes back by itself.
    let second = serve_sandbox(&db, &key, &state_file).await;
    let base = second.public_url.as_str().trim_end_matches('/').to_owned();
    let bearer = token(base.clone()).await;
    until("the charger reconnects after the restart", || {
        reachable(base.clone(), bearer.clone())
    })
    .await;
    let listed: Value = http
        .get(format!("{base}/sandbox/chargers"))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"][0]["id"], charger_id.as_str());
    second.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn sandbox_cars_move_wake_when_plugged_in_draw_their_own_maximum_and_the_makers_delay_is_settable() {
    let app = spawn_sandbox(1.0, None).await;
    let tenant = app.tenant("app").await;
    let car = app
        .sim_vehicle(&tenant, json!({"brand": "SIM_NIMBUS", "maxCurrent": 10}))
        .await;
    let car_id = car["id"].as_str().unwrap().to_owned();
    assert_eq!(car["maxCurrent"], 10);
    let patch = |body: Value| {
        app.as_tenant(&tenant, Method::PATCH, &format!("/sandbox/vehicles/{car_id}"))
            .json(&body)
            .send()
    };

    // Moved: the maker reports the new position.
    let moved = patch(json!({"latitude": 60.3913, "longitude": 5.3221})).await.unwrap();
    assert_eq!(moved.status(), 200);
    let moved: Value = moved.json().await.unwrap();
    assert_eq!(
        (moved["latitude"].as_f64(), moved["longitude"].as_f64()),
        (Some(60.3913), Some(5.3221))
    );
    // Bad input changes nothing: a latitude alone, a position off the globe, a current no car draws.
    for (body, detail) in [
        (json!({"latitude": 10.0}), "latitude"),
        (json!({"latitude": 91.0, "longitude": 0.0}), "latitude"),
        (json!({"maxCurrent": 5}), "maxCurrent"),
        (json!({"maxCurrent": 64}), "maxCurrent"),
    ] {
        let refused = patch(body.clone()).await.unwrap();
        assert_eq!(refused.status(), 422, "{body}");
        assert!(
            problem(refused).await["detail"].as_str().unwrap().contains(detail),
            "{body}"
        );
    }
    let unchanged = sim_vehicle_now(&app, &tenant, &car_id).await;
    assert_eq!(unchanged["latitude"].as_f64(), Some(60.3913));
    assert_eq!(unchanged["maxCurrent"], 10);

    // Asleep, then plugged in: the cable wakes it, and it draws its own maximum.
    assert_eq!(
        patch(json!({"asleep": true, "maxCurrent": 13})).await.unwrap().status(),
        200
    );
    assert_eq!(sim_vehicle_now(&app, &tenant, &car_id).await["asleep"], true);
    let charger = app.sim_charger(&tenant, "driver", json!({"ocppVersion": "1.6"})).await;
    let charger_id = charger["id"].as_str().unwrap().to_owned();
    app.post_json(
        &tenant,
        "/sandbox/plug",
        json!({"vehicleId": car_id, "chargerId": charger_id}),
    )
    .await;
    let plugged = sim_vehicle_now(&app, &tenant, &car_id).await;
    assert_eq!(plugged["asleep"], false, "{plugged}");
    until("the car draws its own maximum", || async {
        let now = sim_vehicle_now(&app, &tenant, &car_id).await;
        now["chargeRate"]
            .as_f64()
            .is_some_and(|kw| (kw - 13.0 * 0.69).abs() < 0.05)
            .then_some(())
    })
    .await;

    // The makers' reporting delay (none in this test's sandbox): read, set, and refused out of range.
    assert_eq!(app.get_json(&tenant, "/sandbox/report-delay").await["seconds"], 0.0);
    let set = app
        .as_tenant(&tenant, Method::PUT, "/sandbox/report-delay")
        .json(&json!({"seconds": 2.5}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);
    assert_eq!(app.get_json(&tenant, "/sandbox/report-delay").await["seconds"], 2.5);
    let refused = app
        .as_tenant(&tenant, Method::PUT, "/sandbox/report-delay")
        .json(&json!({"seconds": -1}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    assert_eq!(app.get_json(&tenant, "/sandbox/report-delay").await["seconds"], 2.5);
}
