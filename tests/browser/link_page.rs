//! The hosted link and enrolment pages in a real browser at a phone's width (390 px): a car owner
//! links a simulated car from the app's consent screen through the maker's sign-in and back, a
//! driver enrols a charger in a flexibility program, and a German browser gets German. Each page is
//! checked by axe-core (nothing serious or critical), must not scroll sideways, and is kept as a
//! screenshot in `target/browser-artifacts/`.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

use coupler_simulated::{Brand, SimConfig, SimVehicleSpec};
use coupler_tests::browser::{Browser, PHONE};
use coupler_tests::vehicles::{create_link, vehicles_of, AppSite, SimWorld};
use coupler_tests::{wait_for, Tenant, TestApp};
use reqwest::Method;
use serde_json::json;

/// A one-pixel PNG logo.
const LOGO: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90, 0x77, 0x53, 0xDE, 0x00, 0x00, 0x00, 0x0C, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0x00, 0x00, 0x03, 0x01, 0x01, 0x00, 0xC9, 0xFE, 0x92, 0xEF,
    0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

async fn world_and_app() -> (SimWorld, TestApp) {
    let world = SimWorld::start(SimConfig::default()).await;
    let app = TestApp::spawn_with(|url, wiring| world.wire(url, wiring, |_| None)).await;
    (world, app)
}

/// Volt's app name, privacy policy and logo, set through the API.
async fn brand_volt(app: &TestApp, tenant: &Tenant) {
    let named = app
        .as_tenant(tenant, Method::PUT, "/client/branding")
        .json(&json!({"appName": "Volt Home", "privacyPolicyUrl": "https://volt.example/privacy"}))
        .send()
        .await
        .unwrap();
    assert_eq!(named.status(), 200);
    let logo = app
        .as_tenant(tenant, Method::PUT, "/client/branding/logo")
        .header("content-type", "image/png")
        .body(LOGO.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(logo.status(), 200);
}

/// The rendered height in CSS pixels of the element matching `css`.
async fn height(browser: &Browser, css: &str) -> f64 {
    browser.element(css).await;
    let script = format!("return document.querySelector({css:?}).getBoundingClientRect().height;");
    browser
        .client()
        .execute(&script, vec![])
        .await
        .unwrap()
        .as_f64()
        .unwrap()
}

/// Whether the page's logo image was loaded (not blocked, not broken).
async fn logo_shown(browser: &Browser) -> bool {
    browser.element("header.app img").await;
    let loaded = browser
        .client()
        .execute(
            "const img = document.querySelector('header.app img'); return img.complete && img.naturalWidth > 0;",
            vec![],
        )
        .await
        .unwrap();
    loaded.as_bool().unwrap_or(false)
}

/// Checks what every hosted page must do at a phone's width, and keeps a screenshot of it.
async fn check_page(browser: &mut Browser, name: &str, what: &str) {
    assert!(!browser.scrolls_sideways().await, "{what} fits a 390 px phone");
    browser.screenshot(name).await;
    browser.assert_accessible(what).await;
}

#[tokio::test]
async fn a_car_owner_links_a_simulated_car_through_the_hosted_page_on_a_phone() {
    let (world, app) = world_and_app().await;
    world.cloud.add_account(
        Brand::Aurora,
        "ann@example.com",
        "correct horse",
        vec![SimVehicleSpec::new("SIMAUR0000000000A", "Aurora A1")],
    );
    let volt = app.tenant("volt").await;
    brand_volt(&app, &volt).await;
    let site = AppSite::start().await;
    let (link_url, _) = create_link(
        &app,
        &volt,
        "alice",
        json!({"vendor": "SIM_AURORA", "scopes": ["vehicle:read:data", "vehicle:read:location", "vehicle:control:charging"], "redirectUri": site.redirect_uri()}),
    )
    .await;
    let mut browser = Browser::start("link-page-phone", PHONE).await;

    // The consent screen, although the app named the maker.
    browser.visit(&link_url).await;
    browser
        .text_contains("h1", "Volt Home wants to connect to your car")
        .await;
    browser.text_contains("main", "Start and stop charging").await;
    assert!(
        logo_shown(&browser).await,
        "the app's logo is shown (served by Coupler)"
    );
    assert_eq!(browser.language().await, "en");
    for button in ["#continue", "#cancel"] {
        let tall = height(&browser, button).await;
        assert!(tall >= 44.0, "{button} is {tall} px tall; a finger needs 44");
    }
    check_page(&mut browser, "consent", "the consent screen").await;

    // On to the maker, whose sign-in says which test logins work.
    browser.click("#continue").await;
    browser.text_contains("h1", "Sign in to Aurora").await;
    browser.text_contains("main", "Test logins").await;
    check_page(&mut browser, "maker-sign-in", "the simulated maker's sign-in").await;
    browser.fill("input[name=username]", "ann@example.com").await;
    browser.fill("input[name=password]", "correct horse").await;
    browser.click("button[type=submit]").await;
    browser.text_contains("h1", "Allow").await;
    browser.screenshot("maker-consent").await;
    browser.click("button[value=approve]").await;

    // Back at the app, and the car is the app's to read.
    let site_url = site.url.clone();
    wait_for("the browser lands back on the app", || {
        let browser = &browser;
        let site_url = site_url.clone();
        async move { browser.url().await.as_str().starts_with(&site_url).then_some(()) }
    })
    .await;
    browser.screenshot("back-at-the-app").await;
    assert_eq!(site.last_visit().unwrap()["success"], "true");
    let vehicles = vehicles_of(&app, &volt, "alice").await;
    assert_eq!(vehicles.len(), 1, "{vehicles:?}");
    assert_eq!(vehicles[0]["information"]["vin"], "SIMAUR0000000000A");

    // The used link says so, with the way back to the app.
    browser.visit(&link_url).await;
    browser.text_contains("h1", "This link has been used").await;
    browser.text_contains("a.button", "Back to Volt Home").await;
    check_page(&mut browser, "used-link", "the used-link page").await;
    browser.close().await;
}

#[tokio::test]
async fn a_car_owner_who_picks_the_brand_or_cancels_reads_it_all_on_a_phone() {
    let (_world, app) = world_and_app().await;
    let volt = app.tenant("volt").await;
    brand_volt(&app, &volt).await;
    let site = AppSite::start().await;
    let (link_url, _) = create_link(
        &app,
        &volt,
        "alice",
        json!({"scopes": ["vehicle:read:data"], "redirectUri": site.redirect_uri()}),
    )
    .await;
    let mut browser = Browser::start("link-page-choose-brand", PHONE).await;
    browser.visit(&link_url).await;
    browser.text_contains("#brands", "Choose your car's brand").await;
    let tall = height(&browser, "a[data-vendor=SIM_BOREAL]").await;
    assert!(tall >= 44.0, "a brand's button is {tall} px tall");
    check_page(
        &mut browser,
        "choose-brand",
        "the consent screen with a choice of brands",
    )
    .await;

    browser.click("#cancel").await;
    let site_url = site.url.clone();
    wait_for("the browser is back at the app", || {
        let browser = &browser;
        let site_url = site_url.clone();
        async move { browser.url().await.as_str().starts_with(&site_url).then_some(()) }
    })
    .await;
    assert_eq!(site.last_visit().unwrap()["error"], "access_denied");
    browser.close().await;
}

#[tokio::test]
async fn a_german_browser_gets_the_link_page_in_german_and_can_switch_to_english() {
    let (_world, app) = world_and_app().await;
    let volt = app.tenant("volt").await;
    brand_volt(&app, &volt).await;
    let site = AppSite::start().await;
    let (link_url, _) = create_link(
        &app,
        &volt,
        "alice",
        json!({"vendor": "SIM_BOREAL", "scopes": ["vehicle:read:data", "vehicle:control:charging"], "redirectUri": site.redirect_uri()}),
    )
    .await;
    let mut browser = Browser::start_in("link-page-german", PHONE, "de-DE").await;
    browser.visit(&link_url).await;
    assert_eq!(browser.language().await, "de");
    browser
        .text_contains("h1", "Volt Home möchte sich mit Ihrem Auto verbinden")
        .await;
    browser.text_contains("main", "Das Laden starten und stoppen").await;
    browser.text_contains("#continue", "Weiter zu Boreal").await;
    check_page(&mut browser, "consent-de", "the German consent screen").await;

    browser.click("a[hreflang=en]").await;
    browser
        .text_contains("h1", "Volt Home wants to connect to your car")
        .await;
    assert_eq!(browser.language().await, "en");
    browser.close().await;
}

#[tokio::test]
async fn a_driver_enrols_a_charger_in_a_program_on_a_phone() {
    let app = TestApp::spawn().await;
    let utility = app.tenant("nordlys").await;
    let named = app
        .as_tenant(&utility, Method::PUT, "/client/branding")
        .json(&json!({"appName": "Nordlys Energi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(named.status(), 200);
    let charger = app.register_charger(&utility, "alice", "ENROL-PHONE").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let program = app
        .post_json_status(
            &utility,
            "/programs",
            json!({
                "name": "Evening relief",
                "kind": "CAPACITY_LIMIT",
                "eligibility": {"deviceKinds": ["CHARGER"]},
                "limits": {"maxEventsPerYear": 12, "maxEventMinutes": 180, "minNoticeMinutes": 60},
                "incentive": {"perEvent": {"amount": 2.5, "currency": "EUR"}},
            }),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let site = AppSite::start().await;
    let session = app
        .post_json_status(
            &utility,
            &format!("/programs/{program}/enrolment-sessions"),
            json!({
                "userId": "alice",
                "consent": {"dataShared": ["chargingSessions"], "howToLeave": "Unenrol in the app at any time"},
                "redirectUri": site.redirect_uri(),
            }),
            201,
        )
        .await;
    let url = session["enrolmentUrl"].as_str().unwrap().to_owned();

    let mut browser = Browser::start("enrolment-page-phone", PHONE).await;
    browser.visit(&url).await;
    browser.text_contains("h1", "Evening relief").await;
    browser.text_contains("main", "Nordlys Energi runs this program").await;
    browser.text_contains("main", "you can opt out of an event").await;
    let tall = height(&browser, "button[value=enrol]").await;
    assert!(tall >= 44.0, "the Enrol button is {tall} px tall");
    check_page(&mut browser, "program", "the enrolment page").await;

    // Ticking works through the labels, as a finger would.
    browser.click("label[for=device-1]").await;
    browser.click("label[for=consent]").await;
    browser.screenshot("ticked").await;
    browser.click("button[value=enrol]").await;
    let site_url = site.url.clone();
    wait_for("the browser is back at the app", || {
        let browser = &browser;
        let site_url = site_url.clone();
        async move { browser.url().await.as_str().starts_with(&site_url).then_some(()) }
    })
    .await;
    let visit = site.last_visit().unwrap();
    assert_eq!(visit["success"], "true", "{visit:?}");
    let enrolment = app
        .get_json(&utility, &format!("/enrolments/{}", visit["enrolment_ids"]))
        .await;
    assert_eq!(enrolment["deviceId"], charger.as_str());
    browser.close().await;
}
