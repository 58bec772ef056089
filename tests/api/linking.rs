//! Linking a vehicle account the way a person does: the app asks for a link, the person's browser
//! follows it through the hosted page to the simulated maker's login and consent pages, and lands
//! back on the app. And everything that can go wrong on the way.

use coupler_core::link::{LinkSession, LinkSessionId, LinkStatus};
use coupler_core::secret::hash_secret;
use coupler_core::{time, UserId};
use coupler_simulated::{Brand, RequestKind, SimConfig, SimVehicleSpec};
use coupler_tests::vehicles::{
    browser, continue_from_consent, create_link, eventually, get_json, link_simulated, link_to, location, query,
    sign_in, stepping_browser, vehicles_of, walk_to_callback, AppSite, SimWorld,
};
use coupler_tests::{problem, TestApp};
use reqwest::Method;
use serde_json::json;

const ALL_SCOPES: [&str; 3] = ["vehicle:read:data", "vehicle:read:location", "vehicle:control:charging"];

async fn world_and_app() -> (SimWorld, TestApp) {
    let world = SimWorld::start(SimConfig::default()).await;
    let app = TestApp::spawn_with(|url, wiring| world.wire(url, wiring, |_| None)).await;
    (world, app)
}

fn car(vin: &str, model: &str) -> SimVehicleSpec {
    SimVehicleSpec::new(vin, model)
}

#[tokio::test]
async fn a_person_links_a_simulated_account_and_the_app_reads_and_charges_its_cars() {
    let (world, app) = world_and_app().await;
    let ids = world.cloud.add_account(
        Brand::Aurora,
        "ann@example.com",
        "correct horse",
        vec![car("SIMAUR0000000000A", "Aurora A1"), {
            let mut old = car("SIMAUR0000000000B", "Aurora Classic");
            old.year = 2019;
            old
        }],
    );
    let tenant = app.tenant("energy-app").await;
    let site = AppSite::start().await;

    // The app names no vendor: the person picks one on Coupler's page.
    let (link_url, token) = create_link(
        &app,
        &tenant,
        "alice",
        json!({"scopes": ALL_SCOPES, "redirectUri": site.redirect_uri(), "language": "en-GB"}),
    )
    .await;
    assert!(link_url.starts_with(&app.url) && link_url.ends_with(&token));

    let browser = browser();
    let picker = browser.get(&link_url).send().await.unwrap();
    assert_eq!(picker.status(), 200);
    let picker = picker.text().await.unwrap();
    assert!(
        picker.contains("Start and stop charging, and change how fast your car charges.")
            && !picker.contains("vehicle:control:charging"),
        "the page shows what is asked, in plain words: {picker}"
    );
    assert!(
        picker.contains("<html lang=\"en\">"),
        "the browser asked for nothing Coupler speaks besides"
    );
    for brand in Brand::ALL {
        assert!(picker.contains(brand.display_name()), "{} is offered", brand.name());
    }
    let login = browser.get(link_to(&picker, "Aurora (simulated")).send().await.unwrap();
    assert_eq!(login.status(), 200);
    assert!(
        login.url().as_str().starts_with(&world.server.base_url),
        "at the maker's own site"
    );
    let landed = sign_in(&browser, login, "ann@example.com", "correct horse", "approve").await;

    assert_eq!(landed.status(), 200);
    assert!(landed.url().as_str().starts_with(&format!("{}/linked", site.url)));
    let visit = site.last_visit().unwrap();
    assert_eq!(visit["success"], "true");
    assert_eq!(visit["vendor"], "SIM_AURORA");
    assert_eq!(visit["from"], "coupler", "the app's own query is kept");
    assert!(!visit.contains_key("error"));

    // Coupler read both cars right after linking.
    eventually("both cars were read", || async {
        let cars = vehicles_of(&app, &tenant, "alice").await;
        cars.len() == 2 && cars.iter().all(|c| c["isReachable"] == true)
    })
    .await;
    let cars = vehicles_of(&app, &tenant, "alice").await;
    let a1 = cars
        .iter()
        .find(|c| c["information"]["model"] == "Aurora A1")
        .unwrap()
        .clone();
    let classic = cars
        .iter()
        .find(|c| c["information"]["model"] == "Aurora Classic")
        .unwrap();
    assert_eq!(a1["vendor"], "SIM_AURORA");
    assert_eq!(a1["userId"], "alice");
    assert_eq!(a1["information"]["vin"], "SIMAUR0000000000A");
    assert_eq!(a1["information"]["brand"], "Aurora");
    assert_eq!(a1["chargeState"]["batteryLevel"], 50.0);
    assert_eq!(a1["chargeState"]["powerDeliveryState"], "UNPLUGGED");
    assert_eq!(a1["chargeState"]["isPluggedIn"], false);
    assert!(a1["chargeState"]["lastUpdated"].is_string());
    assert!(a1["lastSeen"].is_string());
    assert_eq!(a1["location"]["latitude"], 59.9139);
    assert_eq!(
        a1["capabilities"]["startCharging"],
        json!({"isCapable": true, "interventionIds": [], "via": ["vehicle"]})
    );
    assert_eq!(a1["scopes"], json!(ALL_SCOPES));
    assert_eq!(classic["capabilities"]["setMaxCurrent"]["isCapable"], false);
    assert!(classic["capabilities"]["setMaxCurrent"]["reason"]
        .as_str()
        .unwrap()
        .contains("Classic"));
    let id = a1["id"].as_str().unwrap().to_owned();
    assert_eq!(
        get_json(&app, &tenant, &format!("/vehicles/{id}")).await["id"],
        id.as_str()
    );
    assert_eq!(
        get_json(&app, &tenant, "/vehicles").await["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        get_json(&app, &tenant, "/users/alice").await["linkedVendors"],
        json!([{"vendor": "SIM_AURORA", "vendorType": "vehicle", "isValid": true}])
    );

    // The tokens are stored encrypted, and open with Coupler's key.
    let accounts = app
        .store
        .list_vendor_accounts(&tenant.id, &UserId::parse("alice").unwrap())
        .await
        .unwrap();
    let sealed = &accounts[0].tokens.access_token;
    let opened = sealed.open(&app.state().cipher).unwrap();
    assert!(sealed.as_stored().starts_with("v1:"));
    assert!(!sealed.as_stored().contains(opened.expose()));

    // The person plugs in (the car starts, then is paused as by a schedule); the app starts charging.
    world.cloud.update_vehicle(&ids[0], |c| c.plugged_in = true).unwrap();
    world
        .cloud
        .update_vehicle(&ids[0], |c| c.charge_enabled = false)
        .unwrap();
    coupler_tests::vehicles::hint(&app, &tenant, &id).await;
    eventually("the plug-in was read", || async {
        get_json(&app, &tenant, &format!("/vehicles/{id}")).await["chargeState"]["powerDeliveryState"]
            == "PLUGGED_IN:STOPPED"
    })
    .await;
    let started = app
        .as_tenant(&tenant, Method::POST, &format!("/vehicles/{id}/charging"))
        .json(&json!({"action": "START"}))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 200);
    let action: serde_json::Value = started.json().await.unwrap();
    assert_eq!(action["state"], "PENDING");
    assert_eq!(action["targetType"], "vehicle");
    assert_eq!(action["targetId"], id.as_str());
    assert_eq!(action["kind"], "START");
    let action_path = format!("/actions/{}", action["id"].as_str().unwrap());
    eventually("the start was confirmed", || async {
        get_json(&app, &tenant, &action_path).await["state"] == "CONFIRMED"
    })
    .await;
    let confirmed = get_json(&app, &tenant, &action_path).await;
    assert_eq!(confirmed["attempts"][0]["via"], "vehicle");
    assert_eq!(confirmed["attempts"][0]["outcome"], "CONFIRMED");
    let charging = get_json(&app, &tenant, &format!("/vehicles/{id}")).await;
    assert_eq!(charging["chargeState"]["isCharging"], true);
    assert_eq!(charging["chargeState"]["powerDeliveryState"], "PLUGGED_IN:CHARGING");
    assert!(charging["chargeState"]["chargeRate"].as_f64().unwrap() > 10.0);
    assert_eq!(world.cloud.vehicle(&ids[0]).unwrap().status(), "charging");
}

#[tokio::test]
async fn a_link_that_names_the_vendor_shows_the_consent_page_then_goes_to_its_sign_in_with_pkce_and_state() {
    let (world, app) = world_and_app().await;
    let tenant = app.tenant("app").await;
    let site = AppSite::start().await;
    let (link_url, _) = create_link(
        &app,
        &tenant,
        "alice",
        json!({"vendor": "SIM_BOREAL", "scopes": ["vehicle:read:data"], "redirectUri": site.redirect_uri()}),
    )
    .await;
    let to_maker = continue_from_consent(&stepping_browser(), &link_url).await;
    assert_eq!(to_maker.status(), 303);
    let cookie = to_maker.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("Path=/link"), "{cookie}");
    let target = location(&to_maker);
    assert!(target
        .as_str()
        .starts_with(&format!("{}/boreal/oauth/authorize", world.server.base_url)));
    let q = query(&target);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "coupler");
    assert_eq!(q["redirect_uri"], format!("{}/link/callback", app.url));
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert!(q["state"].len() >= 43, "an unguessable state");
    assert_eq!(q["scope"], "vehicle.read");
}

#[tokio::test]
async fn a_person_who_denies_access_is_sent_back_with_access_denied_and_nothing_is_saved() {
    let (world, app) = world_and_app().await;
    world
        .cloud
        .add_account(Brand::Aurora, "ann", "pw", vec![car("SIMAUR0000000000A", "Aurora A1")]);
    let tenant = app.tenant("app").await;
    let site = AppSite::start().await;
    let (link_url, _) = create_link(
        &app,
        &tenant,
        "alice",
        json!({"vendor": "SIM_AURORA", "scopes": ALL_SCOPES, "redirectUri": site.redirect_uri()}),
    )
    .await;
    let browser = browser();
    let login = continue_from_consent(&browser, &link_url).await;
    let landed = sign_in(&browser, login, "ann", "pw", "deny").await;
    assert_eq!(landed.status(), 200);
    let visit = site.last_visit().unwrap();
    assert_eq!(visit["error"], "access_denied");
    assert!(!visit["error_message"].is_empty());
    assert!(!visit.contains_key("success"));
    assert!(vehicles_of(&app, &tenant, "alice").await.is_empty());
    assert_eq!(world.cloud.request_count(Brand::Aurora, RequestKind::Token), 0);

    // The link was used: opening it again says so, and changes nothing.
    let again = browser.get(&link_url).send().await.unwrap();
    assert_eq!(again.status(), 410);
    assert!(again.text().await.unwrap().contains("has been used"));
}

#[tokio::test]
async fn an_expired_link_sends_the_person_back_with_expired_and_a_used_or_unknown_link_is_refused() {
    let (world, app) = world_and_app().await;
    world
        .cloud
        .add_account(Brand::Aurora, "ann", "pw", vec![car("SIMAUR0000000000A", "Aurora A1")]);
    let tenant = app.tenant("app").await;
    let site = AppSite::start().await;
    let alice = UserId::parse("alice").unwrap();
    app.store.upsert_user(&tenant.id, &alice).await.unwrap();
    let now = time::now();
    let stale = LinkSession {
        id: LinkSessionId::generate(),
        client_id: tenant.id.clone(),
        user_id: alice.clone(),
        token_hash: hash_secret("a-link-token-from-yesterday"),
        vendor: None,
        scopes: vec![coupler_core::capability::Scope::ReadData],
        redirect_uri: site.redirect_uri(),
        language: "en-US".into(),
        status: LinkStatus::Created,
        chosen_vendor: None,
        state_hash: None,
        pkce_verifier: None,
        error: None,
        created_at: now - chrono::Duration::hours(25),
        expires_at: now - chrono::Duration::hours(1),
        finished_at: None,
    };
    app.store.insert_link_session(&stale).await.unwrap();

    let expired = browser()
        .get(format!("{}/link/a-link-token-from-yesterday", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status(), 200, "landed on the app");
    assert_eq!(site.last_visit().unwrap()["error"], "expired");
    let ended = app
        .store
        .get_link_session_by_token(&hash_secret("a-link-token-from-yesterday"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ended.status, LinkStatus::Failed);

    // A link that worked once cannot be used again.
    let landed = link_simulated(&app, &tenant, &site, "bob", Brand::Aurora, "ann", "pw").await;
    assert!(landed.as_str().contains("success=true"));
    let (link_url, _) = create_link(
        &app,
        &tenant,
        "carol",
        json!({"vendor": "SIM_AURORA", "scopes": ALL_SCOPES, "redirectUri": site.redirect_uri()}),
    )
    .await;
    let b = browser();
    let login = continue_from_consent(&b, &link_url).await;
    sign_in(&b, login, "ann", "pw", "approve").await;
    let reused = b.get(&link_url).send().await.unwrap();
    assert_eq!(reused.status(), 410);
    assert!(reused.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));

    let unknown = browser()
        .get(format!("{}/link/not-a-token", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn a_forged_state_is_refused_and_nothing_is_saved() {
    let (world, app) = world_and_app().await;
    world
        .cloud
        .add_account(Brand::Aurora, "ann", "pw", vec![car("SIMAUR0000000000A", "Aurora A1")]);
    let tenant = app.tenant("app").await;
    let site = AppSite::start().await;
    let (link_url, _) = create_link(
        &app,
        &tenant,
        "alice",
        json!({"vendor": "SIM_AURORA", "scopes": ALL_SCOPES, "redirectUri": site.redirect_uri()}),
    )
    .await;
    let (browser, callback) = walk_to_callback(&link_url, "ann", "pw").await;
    let code = query(&callback)["code"].clone();

    // Someone else's browser, with a made-up state: no link to send it back to.
    let stranger = stepping_browser()
        .get(format!("{}/link/callback?code={code}&state=forged", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), 400);
    assert!(stranger.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));

    // The person's own browser with a mangled state: sent back to the app with invalid_state.
    let mangled = browser
        .get(format!("{}/link/callback?code={code}&state=mangled", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(mangled.status(), 303);
    let back = query(&location(&mangled));
    assert_eq!(back["error"], "invalid_state");
    assert!(vehicles_of(&app, &tenant, "alice").await.is_empty());
    assert!(app
        .store
        .list_vendor_accounts(&tenant.id, &UserId::parse("alice").unwrap())
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        world.cloud.request_count(Brand::Aurora, RequestKind::Token),
        0,
        "the code was never used"
    );

    // The genuine callback now finds the session over.
    let genuine = browser.get(callback).send().await.unwrap();
    assert_eq!(genuine.status(), 400);
    assert!(app
        .store
        .list_vendor_accounts(&tenant.id, &UserId::parse("alice").unwrap())
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_replayed_callback_changes_nothing() {
    let (world, app) = world_and_app().await;
    world
        .cloud
        .add_account(Brand::Aurora, "ann", "pw", vec![car("SIMAUR0000000000A", "Aurora A1")]);
    let tenant = app.tenant("app").await;
    let site = AppSite::start().await;
    let (link_url, _) = create_link(
        &app,
        &tenant,
        "alice",
        json!({"vendor": "SIM_AURORA", "scopes": ALL_SCOPES, "redirectUri": site.redirect_uri()}),
    )
    .await;
    let (browser, callback) = walk_to_callback(&link_url, "ann", "pw").await;
    let first = browser.get(callback.clone()).send().await.unwrap();
    assert_eq!(first.status(), 303);
    assert_eq!(query(&location(&first))["success"], "true");
    let alice = UserId::parse("alice").unwrap();
    let before = app.store.list_vendor_accounts(&tenant.id, &alice).await.unwrap();

    let replay = stepping_browser().get(callback).send().await.unwrap();
    assert_eq!(replay.status(), 400);
    assert!(replay.text().await.unwrap().contains("already used"));
    let after = app.store.list_vendor_accounts(&tenant.id, &alice).await.unwrap();
    assert_eq!(after, before, "the replay wrote nothing");
    assert_eq!(world.cloud.request_count(Brand::Aurora, RequestKind::Token), 1);
}

#[tokio::test]
async fn a_used_code_under_a_fresh_link_is_refused_as_invalid_grant_and_nothing_is_saved() {
    let (world, app) = world_and_app().await;
    world
        .cloud
        .add_account(Brand::Aurora, "ann", "pw", vec![car("SIMAUR0000000000A", "Aurora A1")]);
    let tenant = app.tenant("app").await;
    let site = AppSite::start().await;
    let body = json!({"vendor": "SIM_AURORA", "scopes": ALL_SCOPES, "redirectUri": site.redirect_uri()});
    let (first_link, _) = create_link(&app, &tenant, "alice", body.clone()).await;
    let (browser, callback) = walk_to_callback(&first_link, "ann", "pw").await;
    browser.get(callback.clone()).send().await.unwrap();
    let used_code = query(&callback)["code"].clone();

    // Bob's session is genuine; the code it comes back with is Alice's, already exchanged.
    let (second_link, _) = create_link(&app, &tenant, "bob", body).await;
    let bobs = stepping_browser();
    let to_maker = continue_from_consent(&bobs, &second_link).await;
    let state = query(&location(&to_maker))["state"].clone();
    let replayed = bobs
        .get(format!("{}/link/callback?code={used_code}&state={state}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.status(), 303);
    let back = query(&location(&replayed));
    assert_eq!(back["error"], "invalid_grant");
    assert!(!back.contains_key("success"));
    assert!(app
        .store
        .list_vendor_accounts(&tenant.id, &UserId::parse("bob").unwrap())
        .await
        .unwrap()
        .is_empty());
    assert!(vehicles_of(&app, &tenant, "bob").await.is_empty());
}

#[tokio::test]
async fn link_requests_with_bad_input_are_refused_with_a_problem_and_create_nothing() {
    let (_world, app) = world_and_app().await;
    let tenant = app.tenant("app").await;
    let cases = [
        (
            json!({"scopes": ALL_SCOPES, "redirectUri": "javascript:alert(1)"}),
            422,
            "redirectUri",
        ),
        (
            json!({"scopes": ALL_SCOPES, "redirectUri": "ftp://files.example/done"}),
            422,
            "redirectUri",
        ),
        (
            json!({"scopes": ALL_SCOPES, "redirectUri": "myapp://linked"}),
            422,
            "redirectUri",
        ),
        (
            json!({"scopes": ALL_SCOPES, "redirectUri": "/relative"}),
            422,
            "redirectUri",
        ),
        (
            json!({"scopes": ["vehicle:fly"], "redirectUri": "https://a.example/"}),
            422,
            "unknown scope",
        ),
        (
            json!({"scopes": [], "redirectUri": "https://a.example/"}),
            422,
            "vehicle:read:data",
        ),
        (
            json!({"scopes": ALL_SCOPES, "redirectUri": "https://a.example/", "vendorType": "charger"}),
            422,
            "OCPP",
        ),
        (
            json!({"scopes": ALL_SCOPES, "redirectUri": "https://a.example/", "vendor": "NOPE"}),
            422,
            "not available",
        ),
        (
            json!({"scopes": ALL_SCOPES, "redirectUri": "https://a.example/", "vendor": "tesla"}),
            422,
            "vendor",
        ),
        (
            json!({"scopes": ALL_SCOPES, "redirectUri": "https://a.example/", "language": "<script>"}),
            422,
            "language",
        ),
        (json!({"scopes": ALL_SCOPES}), 422, "redirectUri"),
        (
            json!({"scopes": ALL_SCOPES, "redirectUri": "https://a.example/", "extra": 1}),
            422,
            "extra",
        ),
    ];
    for (body, status, says) in cases {
        let response = app
            .as_tenant(&tenant, Method::POST, "/users/bob/link")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{body}");
        let problem = problem(response).await;
        assert!(problem["detail"].as_str().unwrap().contains(says), "{body}: {problem}");
    }
    let not_json = app
        .as_tenant(&tenant, Method::POST, "/users/bob/link")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    problem(not_json).await;
    let bad_user = app
        .as_tenant(&tenant, Method::POST, "/users/%20bob/link")
        .json(&json!({"scopes": ALL_SCOPES, "redirectUri": "https://a.example/"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_user.status(), 422);
    let none = app.as_tenant(&tenant, Method::GET, "/users/bob").send().await.unwrap();
    assert_eq!(none.status(), 404, "no user was created by refused requests");
}

#[tokio::test]
async fn integrations_list_the_configured_vendors() {
    let (_world, app) = world_and_app().await;
    let tenant = app.tenant("app").await;
    let listed = get_json(&app, &tenant, "/integrations").await;
    let vendors: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["vendor"].as_str().unwrap())
        .collect();
    assert_eq!(vendors, ["SIM_AURORA", "SIM_BOREAL", "SIM_CIRRUS", "SIM_NIMBUS"]);
    assert_eq!(listed[0]["vendorType"], "vehicle");
    assert_eq!(listed[0]["linkingStatus"], "READY");
    assert_eq!(listed[0]["scopes"], json!(ALL_SCOPES));
    let anonymous = app.request(Method::GET, "/integrations").send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn without_any_vendor_configured_a_link_is_refused_with_a_reason() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let response = app
        .as_tenant(&tenant, Method::POST, "/users/bob/link")
        .json(&json!({"scopes": ALL_SCOPES, "redirectUri": "https://a.example/"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(problem(response).await["detail"]
        .as_str()
        .unwrap()
        .contains("no vehicle vendor"));
}

#[tokio::test]
async fn unlinking_a_vendor_removes_its_vehicles_and_deleting_the_user_removes_everything() {
    let (world, app) = world_and_app().await;
    world
        .cloud
        .add_account(Brand::Aurora, "ann", "pw", vec![car("SIMAUR0000000000A", "Aurora A1")]);
    world
        .cloud
        .add_account(Brand::Cirrus, "ann", "pw", vec![car("SIMCIR0000000000A", "Cirrus C")]);
    let tenant = app.tenant("app").await;
    let site = AppSite::start().await;
    link_simulated(&app, &tenant, &site, "alice", Brand::Aurora, "ann", "pw").await;
    link_simulated(&app, &tenant, &site, "alice", Brand::Cirrus, "ann", "pw").await;
    assert_eq!(vehicles_of(&app, &tenant, "alice").await.len(), 2);

    let unlink = app
        .as_tenant(&tenant, Method::DELETE, "/users/alice/vendors/SIM_AURORA")
        .send()
        .await
        .unwrap();
    assert_eq!(unlink.status(), 204);
    let left = vehicles_of(&app, &tenant, "alice").await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["vendor"], "SIM_CIRRUS");
    let again = app
        .as_tenant(&tenant, Method::DELETE, "/users/alice/vendors/SIM_AURORA")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
    problem(again).await;
    let bad = app
        .as_tenant(&tenant, Method::DELETE, "/users/alice/vendors/not%20a%20vendor")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);

    let cirrus_id = left[0]["id"].as_str().unwrap().to_owned();
    let deleted = app
        .as_tenant(&tenant, Method::DELETE, "/users/alice")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let gone = app
        .as_tenant(&tenant, Method::GET, &format!("/vehicles/{cirrus_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    assert!(get_json(&app, &tenant, "/vehicles").await["data"]
        .as_array()
        .unwrap()
        .is_empty());
}
