//! The console in a real browser, at a phone's width: signing in, a simulated charger coming
//! online and charging with its session chart filling live, a command whose action settles, a
//! webhook delivery retried, a second tenant seeing none of the first's data, and every page
//! checked by axe-core with a screenshot kept.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

use std::time::Duration;

use coupler_tests::browser::{Browser, PHONE};
use coupler_tests::console::{make_login, program_with_event, spawn_with_quick_webhooks, webhook, PASSWORD};
use coupler_tests::ocpp::PythonChargePoint;
use coupler_tests::receiver::{Mode, Receiver};
use coupler_tests::sandbox::spawn_sandbox;
use coupler_tests::{wait_for, TestApp};
use fantoccini::key::Key;
use serde_json::json;

const SECRET: &str = "whsec_console_browser_secret_0123456789";

/// Signs in through the form as `email`, and checks the browser lands on the chargers.
async fn sign_in(browser: &mut Browser, app: &TestApp, email: &str) {
    browser.visit(&format!("{}/console", app.url)).await;
    wait_for("the sign-in form", || async {
        (browser.url().await.path() == "/console/sign-in").then_some(())
    })
    .await;
    browser.fill("#email", email).await;
    browser.fill("#password", PASSWORD).await;
    browser
        .click("form[action='/console/sign-in'] button[type=submit]")
        .await;
    wait_for("the chargers page after signing in", || async {
        (browser.url().await.path() == "/console/chargers").then_some(())
    })
    .await;
}

/// The value of attribute `name` of the element matching `css`.
async fn attribute(browser: &Browser, css: &str, name: &str) -> Option<String> {
    browser.element(css).await.attr(name).await.ok().flatten()
}

/// Checks the page fits a phone, passes axe-core, and keeps a screenshot named `name`.
async fn check_page(browser: &mut Browser, name: &str) {
    if browser.scrolls_sideways().await {
        // Name what sticks out, so a failure says where to look.
        let wide = browser
            .client()
            .execute(
                "return Array.from(document.querySelectorAll('body *'))
                   .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
                   .slice(0, 8)
                   .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))
                   .join(', ');",
                vec![],
            )
            .await
            .unwrap();
        panic!("{name} does not fit a 390 px phone: {wide}");
    }
    browser.screenshot(name).await;
    browser.assert_accessible(name).await;
}

#[tokio::test]
async fn an_operator_sees_a_simulated_charger_come_online_and_charge_then_stops_it_and_watches_the_action_settle() {
    let app = spawn_sandbox(600.0, None).await;
    let tenant = app.tenant("app").await;
    make_login(&app, &tenant, "ops@example.com").await;
    let mut browser = Browser::start("console-charger-live", PHONE).await;

    // Signing in: the form, then the chargers.
    browser.visit(&format!("{}/console/sign-in", app.url)).await;
    check_page(&mut browser, "sign-in").await;
    sign_in(&mut browser, &app, "ops@example.com").await;

    // A charger registered while the page is open comes online without a reload.
    let registered = app.register_charger(&tenant, "alice", "CP-BROWSER").await;
    let id = registered["id"].as_str().unwrap().to_owned();
    browser.visit(&format!("{}/console/chargers", app.url)).await;
    let status = format!("[data-field='reachable'][data-charger='{id}']");
    browser.text_contains(&status, "Offline").await;
    wait_for("the page listens to the event stream", || async {
        let live = browser
            .client()
            .execute("return document.body.getAttribute('data-live');", vec![])
            .await
            .ok()?;
        (live.as_str() == Some("open")).then_some(())
    })
    .await;
    let mut cp = PythonChargePoint::connected(
        registered["ocppUrl"].as_str().unwrap(),
        "CP-BROWSER",
        registered["password"].as_str().unwrap(),
    )
    .await;
    cp.boot("Available").await;
    browser.text_contains(&status, "Online").await;
    check_page(&mut browser, "chargers-online").await;

    // A simulated car in a simulated charger: the charger's state changes live, and the session's
    // chart fills as the meter reports.
    let car = app
        .sim_vehicle(&tenant, json!({"brand": "SIM_AURORA", "batteryLevel": 30}))
        .await;
    let sim = app.sim_charger(&tenant, "alice", json!({"ocppVersion": "1.6"})).await;
    let sim_id = sim["id"].as_str().unwrap().to_owned();
    browser.visit(&format!("{}/console/chargers/{sim_id}", app.url)).await;
    let state = format!("[data-field='state'][data-charger='{sim_id}']");
    browser.text_contains(&state, "UNPLUGGED").await;
    app.post_json(
        &tenant,
        "/sandbox/plug",
        json!({"vehicleId": car["id"], "chargerId": sim_id}),
    )
    .await;
    browser.text_contains(&state, "CHARGING").await;
    check_page(&mut browser, "charger-charging").await;
    let session = wait_for("the session is recorded", || async {
        let sessions = app.get_json(&tenant, &format!("/chargers/{sim_id}/sessions")).await;
        sessions["data"][0]["id"].as_i64()
    })
    .await;
    browser
        .visit(&format!("{}/console/chargers/{sim_id}/sessions/{session}", app.url))
        .await;
    let drawn_at_first: usize = attribute(&browser, "#session", "data-drawn")
        .await
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    wait_for("the session chart fills with new readings", || async {
        let drawn: usize = attribute(&browser, "#session[data-drawn]", "data-drawn")
            .await?
            .parse()
            .ok()?;
        (drawn >= drawn_at_first + 2).then_some(())
    })
    .await;
    browser.element("#session canvas").await;
    // Plausible numbers on their own axes: power as the charger reports it (at most its 22 kW, though
    // the sandbox charges 600 times faster than real time), energy from 0 in kWh.
    let chart: serde_json::Value =
        serde_json::from_str(&attribute(&browser, "#session", "data-chart").await.unwrap()).unwrap();
    let values = |series: usize| -> Vec<f64> {
        chart["series"][series]["values"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(serde_json::Value::as_f64)
            .collect()
    };
    assert!(values(0).iter().all(|kw| (0.0..=22.5).contains(kw)), "{chart}");
    assert_eq!(values(1).first(), Some(&0.0), "{chart}");
    assert_eq!(
        (chart["left"].as_str(), chart["right"].as_str()),
        (Some("kW"), Some("kWh"))
    );
    check_page(&mut browser, "session-chart").await;

    // Stop charging: the action is followed on its page until the charger's state confirms it.
    browser.visit(&format!("{}/console/chargers/{sim_id}", app.url)).await;
    browser
        .click("form[action$='/charging'] input[value='STOP'] ~ button")
        .await;
    wait_for("the action's page", || async {
        browser
            .url()
            .await
            .path()
            .starts_with("/console/actions/")
            .then_some(())
    })
    .await;
    let settled = wait_for("the action settles", || async {
        let badge = browser.element("[data-field='action-state']").await.text().await.ok()?;
        (badge != "PENDING").then_some(badge)
    })
    .await;
    assert_eq!(settled, "CONFIRMED", "the charger stopped");
    check_page(&mut browser, "action-settled").await;
    browser.close().await;
    cp.close().await;
}

#[tokio::test]
async fn a_failed_webhook_delivery_is_retried_from_its_page_and_then_succeeds() {
    let app = spawn_with_quick_webhooks(Duration::from_millis(300)).await;
    let tenant = app.tenant("app").await;
    make_login(&app, &tenant, "dev@example.com").await;
    let receiver = Receiver::start(SECRET, Mode::AlwaysFail).await;
    let webhook_id = webhook(&app, &tenant, &receiver.url, SECRET).await;
    app.register_charger(&tenant, "alice", "CP-HOOK").await;
    wait_for("the delivery fails for good", || async {
        let listed = app
            .get_json(&tenant, &format!("/webhooks/{webhook_id}/deliveries"))
            .await;
        (listed["data"][0]["state"] == "FAILED").then_some(())
    })
    .await;

    let mut browser = Browser::start("console-webhook-retry", PHONE).await;
    sign_in(&mut browser, &app, "dev@example.com").await;
    browser.visit(&format!("{}/console/webhooks", app.url)).await;
    check_page(&mut browser, "webhooks").await;
    browser
        .click(&format!("a[href='/console/webhooks/{webhook_id}']"))
        .await;
    browser.text_contains("table", "FAILED").await;
    check_page(&mut browser, "webhook-failed").await;

    receiver.set_mode(Mode::Accept);
    browser.click("form[action$='/retry'] button").await;
    receiver
        .wait_until("the retried delivery arrives", |events| !events.is_empty())
        .await;
    wait_for("the page shows the delivery succeeded", || async {
        browser
            .visit(&format!("{}/console/webhooks/{webhook_id}", app.url))
            .await;
        let table = browser.element("table").await.text().await.ok()?;
        table.contains("SUCCEEDED").then_some(())
    })
    .await;
    check_page(&mut browser, "webhook-retried").await;
    browser.close().await;
}

#[tokio::test]
async fn a_second_tenant_sees_none_of_the_first_tenants_data_and_every_page_passes_axe_on_a_phone() {
    let app = TestApp::spawn().await;
    let first = app.tenant("first").await;
    let second = app.tenant("second").await;
    make_login(&app, &first, "first@example.com").await;
    make_login(&app, &second, "second@example.com").await;
    let charger = app.register_charger(&first, "alice", "CP-FIRST").await;
    let charger_id = charger["id"].as_str().unwrap().to_owned();
    let webhook_id = webhook(&app, &first, "https://example.com/first", SECRET).await;
    let (program_id, event_id) = program_with_event(&app, &first, "First's program", &charger_id).await;

    // The first tenant's pages, each at 390 px, checked and kept.
    let mut browser = Browser::start("console-pages", PHONE).await;
    sign_in(&mut browser, &app, "first@example.com").await;
    for (path, name) in [
        ("/console/users".to_owned(), "users"),
        ("/console/chargers".to_owned(), "chargers"),
        (format!("/console/chargers/{charger_id}"), "charger"),
        ("/console/vehicles".to_owned(), "vehicles"),
        ("/console/ev-systems".to_owned(), "ev-systems"),
        ("/console/actions".to_owned(), "actions"),
        ("/console/webhooks".to_owned(), "webhooks"),
        (format!("/console/webhooks/{webhook_id}"), "webhook"),
        ("/console/flex".to_owned(), "flex"),
        (format!("/console/flex/programs/{program_id}"), "program"),
        (format!("/console/flex/events/{event_id}"), "flex-event"),
    ] {
        browser.visit(&format!("{}{path}", app.url)).await;
        browser.element("main h1").await;
        check_page(&mut browser, name).await;
    }
    // Keyboard: the first Tab reaches the skip link, and Enter on it leads to the content.
    browser.visit(&format!("{}/console/chargers", app.url)).await;
    let body = browser.element("body").await;
    body.send_keys(&Key::Tab.to_string()).await.unwrap();
    let focused = browser.client().active_element().await.unwrap();
    assert_eq!(focused.text().await.unwrap(), "Skip to the content");
    focused.send_keys(&Key::Enter.to_string()).await.unwrap();
    wait_for("the skip link leads to the content", || async {
        (browser.url().await.fragment() == Some("main")).then_some(())
    })
    .await;
    browser.close().await;

    // The second tenant sees none of it.
    let mut other = Browser::start("console-second-tenant", PHONE).await;
    sign_in(&mut other, &app, "second@example.com").await;
    for list in [
        "/console/chargers",
        "/console/users",
        "/console/webhooks",
        "/console/flex",
    ] {
        other.visit(&format!("{}{list}", app.url)).await;
        let main = other.element("main").await.text().await.unwrap();
        for mark in ["CP-FIRST", "alice", "example.com/first", "First's program"] {
            assert!(!main.contains(mark), "{list} shows the first tenant's {mark}");
        }
    }
    other.visit(&format!("{}/console/chargers/{charger_id}", app.url)).await;
    other.text_contains("main h1", "Not found").await;
    check_page(&mut other, "second-tenant-not-found").await;
    other.close().await;
}

#[tokio::test]
async fn a_vehicles_page_draws_its_state_of_charge_on_a_phone_and_passes_axe() {
    use coupler_simulated::SimConfig;
    use coupler_tests::vehicles::{car_charging_away, AppSite, SimWorld};

    let world = SimWorld::start(SimConfig::default()).await;
    let app = TestApp::spawn_with(|url, wiring| world.wire(url, wiring, |_| None)).await;
    let tenant = app.tenant("app").await;
    make_login(&app, &tenant, "ops@example.com").await;
    let site = AppSite::start().await;
    let (_, vehicle_id) = car_charging_away(&world, &app, &tenant, &site, "VIN-BROWSER", 42.0).await;

    let mut browser = Browser::start("console-vehicle", PHONE).await;
    sign_in(&mut browser, &app, "ops@example.com").await;
    browser.visit(&format!("{}/console/vehicles", app.url)).await;
    browser
        .text_contains(&format!("[data-field='soc'][data-vehicle='{vehicle_id}']"), "42 %")
        .await;
    check_page(&mut browser, "vehicles").await;
    browser
        .visit(&format!("{}/console/vehicles/{vehicle_id}", app.url))
        .await;
    browser.text_contains("main", "VIN-BROWSER").await;
    // The state of charge over time is drawn, from at least one reading.
    browser.element("figure canvas").await;
    let drawn: usize = attribute(&browser, "[data-chart][data-drawn]", "data-drawn")
        .await
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(drawn >= 1, "the state-of-charge chart has points");
    check_page(&mut browser, "vehicle").await;
    browser.close().await;
}
