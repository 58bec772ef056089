//! The hosted link page as a car owner's first screen, over real sockets: the app's branding as
//! its API client set it (and what is refused), the consent screen with the access asked for in
//! plain words (also when the app named the vendor), a way back to the app from every page that
//! knows the app, the person's language from the browser, and the simulated maker's sign-in saying
//! which test logins work.

use coupler_simulated::{Brand, SimConfig, SimVehicleSpec};
use coupler_tests::vehicles::{
    browser, continue_from_consent, continue_href, create_link, sign_in, stepping_browser, vehicles_of, AppSite,
    SimWorld,
};
use coupler_tests::{problem, Tenant, TestApp};
use reqwest::Method;
use serde_json::json;

const ALL_SCOPES: [&str; 3] = ["vehicle:read:data", "vehicle:read:location", "vehicle:control:charging"];

/// The smallest PNG there is: one transparent pixel.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0D, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00,
    0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

async fn world_and_app() -> (SimWorld, TestApp) {
    let world = SimWorld::start(SimConfig::default()).await;
    let app = TestApp::spawn_with(|url, wiring| world.wire(url, wiring, |_| None)).await;
    (world, app)
}

async fn put_branding(app: &TestApp, tenant: &Tenant, body: serde_json::Value) -> reqwest::Response {
    app.as_tenant(tenant, Method::PUT, "/client/branding")
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn put_logo(app: &TestApp, tenant: &Tenant, content_type: &str, bytes: Vec<u8>) -> reqwest::Response {
    app.as_tenant(tenant, Method::PUT, "/client/branding/logo")
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .unwrap()
}

/// Volt's branding: a name, a privacy policy, a return page and a logo.
async fn brand_volt(app: &TestApp, tenant: &Tenant) {
    let set = put_branding(
        app,
        tenant,
        json!({"appName": "Volt Home", "privacyPolicyUrl": "https://volt.example/privacy", "returnUrl": "https://volt.example/home"}),
    )
    .await;
    assert_eq!(set.status(), 200);
    assert_eq!(put_logo(app, tenant, "image/png", PNG.to_vec()).await.status(), 200);
}

/// The HTML of a page, after checking its status.
async fn html(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status(), status, "{}", response.url());
    let text = response.text().await.unwrap();
    text.replace("&#38;", "&").replace("&amp;", "&").replace("&#39;", "'")
}

#[tokio::test]
async fn a_client_sets_its_name_and_logo_and_coupler_serves_the_logo_as_an_image_only() {
    let app = TestApp::spawn().await;
    let volt = app.tenant("volt-prod").await;

    let nothing = app.get_json(&volt, "/client/branding").await;
    assert_eq!(nothing["appName"], serde_json::Value::Null);
    assert_eq!(nothing["logoUrl"], serde_json::Value::Null);

    brand_volt(&app, &volt).await;
    let branding = app.get_json(&volt, "/client/branding").await;
    assert_eq!(branding["appName"], "Volt Home");
    assert_eq!(branding["privacyPolicyUrl"], "https://volt.example/privacy");
    assert_eq!(branding["returnUrl"], "https://volt.example/home");
    assert_eq!(branding["logoContentType"], "image/png");
    assert_eq!(branding["logoSize"], PNG.len());
    let logo_url = branding["logoUrl"].as_str().unwrap().to_owned();
    assert_eq!(logo_url, format!("{}/branding/{}/logo", app.url, volt.id));

    // Anyone may fetch it (the pages show it to people without a token), as an image and nothing else.
    let logo = reqwest::get(&logo_url).await.unwrap();
    assert_eq!(logo.status(), 200);
    assert_eq!(logo.headers()["content-type"], "image/png");
    assert_eq!(logo.headers()["x-content-type-options"], "nosniff");
    assert!(logo.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("sandbox"));
    assert_eq!(logo.bytes().await.unwrap().as_ref(), PNG);

    // Changing the name keeps the logo; removing the logo keeps the name.
    let renamed = put_branding(&app, &volt, json!({"appName": "Volt"})).await;
    let renamed: serde_json::Value = renamed.json().await.unwrap();
    assert_eq!(renamed["appName"], "Volt");
    assert_eq!(
        renamed["privacyPolicyUrl"],
        serde_json::Value::Null,
        "the text is replaced whole"
    );
    assert_eq!(renamed["logoContentType"], "image/png");
    let removed = app
        .as_tenant(&volt, Method::DELETE, "/client/branding/logo")
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 204);
    assert_eq!(app.get_json(&volt, "/client/branding").await["appName"], "Volt");
    assert_eq!(reqwest::get(&logo_url).await.unwrap().status(), 404);
}

#[tokio::test]
async fn svg_html_oversized_and_mislabelled_logos_are_refused_and_the_logo_stays() {
    let app = TestApp::spawn().await;
    let volt = app.tenant("volt").await;
    brand_volt(&app, &volt).await;

    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>"#.to_vec();
    let mut oversized = PNG.to_vec();
    oversized.resize(128 * 1024 + 1, 0);
    let jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F'];
    for (content_type, bytes, says) in [
        ("image/svg+xml", svg.clone(), "SVG"),
        ("image/png", svg, "SVG"),
        (
            "image/png",
            b"<html><body>hi</body></html>".to_vec(),
            "not a PNG, JPEG or WebP",
        ),
        (
            "image/gif",
            b"GIF89a\x01\x00\x01\x00".to_vec(),
            "not a PNG, JPEG or WebP",
        ),
        ("image/png", oversized, "at most 131072 bytes"),
        ("image/png", jpeg, "its bytes are image/jpeg"),
        ("image/png", Vec::new(), "empty"),
    ] {
        let refused = put_logo(&app, &volt, content_type, bytes).await;
        assert_eq!(refused.status(), 422, "{content_type} ({says})");
        let body = problem(refused).await;
        assert!(body["detail"].as_str().unwrap().contains(says), "{says}: {body}");
    }
    let logo = reqwest::get(format!("{}/branding/{}/logo", app.url, volt.id))
        .await
        .unwrap();
    assert_eq!(
        logo.bytes().await.unwrap().as_ref(),
        PNG,
        "the earlier logo is untouched"
    );
}

#[tokio::test]
async fn bad_names_and_urls_are_refused_with_the_field_named_and_change_nothing() {
    let app = TestApp::spawn().await;
    let volt = app.tenant("volt").await;
    brand_volt(&app, &volt).await;
    for (body, field) in [
        (json!({"appName": "x".repeat(81)}), "/appName"),
        (json!({"appName": "Volt\u{7}"}), "/appName"),
        (json!({"privacyPolicyUrl": "javascript:alert(1)"}), "/privacyPolicyUrl"),
        (json!({"returnUrl": "https://user:pw@volt.example/"}), "/returnUrl"),
        (json!({"returnUrl": "/relative"}), "/returnUrl"),
        (json!({"appName": "Volt", "colour": "red"}), "/colour"),
    ] {
        let refused = put_branding(&app, &volt, body.clone()).await;
        assert_eq!(refused.status(), 422, "{body}");
        let problem = problem(refused).await;
        assert!(
            problem["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["pointer"] == field),
            "{body}: {problem}"
        );
    }
    let branding = app.get_json(&volt, "/client/branding").await;
    assert_eq!(branding["appName"], "Volt Home");
    assert_eq!(branding["returnUrl"], "https://volt.example/home");
    let anonymous = app.request(Method::GET, "/client/branding").send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn one_client_s_branding_never_shows_on_another_client_s_pages() {
    let (_world, app) = world_and_app().await;
    let volt = app.tenant("volt").await;
    let other = app.tenant("Other Energy").await;
    brand_volt(&app, &volt).await;
    let site = AppSite::start().await;

    let theirs = app.get_json(&other, "/client/branding").await;
    assert_eq!(theirs["appName"], serde_json::Value::Null);
    assert_eq!(theirs["logoUrl"], serde_json::Value::Null);
    let no_logo = reqwest::get(format!("{}/branding/{}/logo", app.url, other.id))
        .await
        .unwrap();
    assert_eq!(no_logo.status(), 404);
    let unknown = reqwest::get(format!("{}/branding/no-such-client/logo", app.url))
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    let (link_url, _) = create_link(
        &app,
        &other,
        "bob",
        json!({"scopes": ["vehicle:read:data"], "redirectUri": site.redirect_uri()}),
    )
    .await;
    let page = html(browser().get(&link_url).send().await.unwrap(), 200).await;
    assert!(
        page.contains("Other Energy wants to connect to your car"),
        "its own name: {page}"
    );
    assert!(!page.contains("Volt") && !page.contains("<img"), "{page}");
}

#[tokio::test]
async fn the_consent_page_names_the_app_shows_its_logo_and_says_in_plain_words_what_it_asks_for() {
    let (world, app) = world_and_app().await;
    world.cloud.add_account(
        Brand::Boreal,
        "ann",
        "pw",
        vec![SimVehicleSpec::new("SIMBOR0000000000A", "Boreal B")],
    );
    let volt = app.tenant("volt").await;
    brand_volt(&app, &volt).await;
    let site = AppSite::start().await;

    // The app names the vendor: the consent screen still comes first, with the vendor chosen.
    let (link_url, _) = create_link(
        &app,
        &volt,
        "alice",
        json!({"vendor": "SIM_BOREAL", "scopes": ["vehicle:read:data", "vehicle:control:charging"], "redirectUri": site.redirect_uri()}),
    )
    .await;
    let b = browser();
    let response = b.get(&link_url).send().await.unwrap();
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("img-src 'self'") && !csp.contains("script-src"), "{csp}");
    let page = html(response, 200).await;
    assert!(
        page.contains("<h1>Volt Home wants to connect to your car</h1>"),
        "{page}"
    );
    assert!(
        page.contains(&format!("src=\"{}/branding/{}/logo?v=", app.url, volt.id))
            && page.contains("alt=\"Volt Home logo\""),
        "the logo, with a text alternative: {page}"
    );
    for words in [
        "See your car's battery level, range and charging status",
        "Start and stop charging, and change how fast your car charges.",
        "Coupler passes this information to Volt Home and to no one else.",
        "You can disconnect your car at any time",
        "You sign in at Boreal (simulated; cannot stop charging) and allow access.",
        "You come back to Volt Home",
    ] {
        assert!(page.contains(words), "the page says '{words}': {page}");
    }
    assert!(!page.contains("See where your car is"), "location was not asked for");
    assert!(!page.contains("vehicle:read:data"), "no scope codes: {page}");
    assert!(page.contains("href=\"https://volt.example/privacy\""), "{page}");
    assert!(page.contains("Cancel and go back to Volt Home"), "{page}");
    assert!(!page.contains("Aurora"), "only the vendor the app named: {page}");
    let next = continue_href(&page);
    assert!(next.contains("vendor=SIM_BOREAL"), "{next}");

    // Continue goes on to the maker's sign-in, which lists the test logins of this simulation.
    let login = b.get(&next).send().await.unwrap();
    assert!(login.url().as_str().starts_with(&world.server.base_url));
    let login_page_url = login.url().clone();
    let login_page = html(login, 200).await;
    assert!(
        login_page.contains("Test logins")
            && login_page.contains("username <code>ann</code>, password <code>pw</code>"),
        "{login_page}"
    );
    let login = b.get(login_page_url).send().await.unwrap();
    let landed = sign_in(&b, login, "ann", "pw", "approve").await;
    assert_eq!(landed.status(), 200);
    assert_eq!(site.last_visit().unwrap()["success"], "true");
    assert_eq!(vehicles_of(&app, &volt, "alice").await.len(), 1);

    // A vendor other than the one the app named is not taken from the URL.
    let (link_url, _) = create_link(
        &app,
        &volt,
        "carol",
        json!({"vendor": "SIM_BOREAL", "scopes": ALL_SCOPES, "redirectUri": site.redirect_uri()}),
    )
    .await;
    let swapped = stepping_browser()
        .get(format!("{link_url}?vendor=SIM_AURORA"))
        .send()
        .await
        .unwrap();
    let swapped = html(swapped, 400).await;
    assert!(
        swapped.contains("role=\"alert\"") && swapped.contains("id=\"continue\""),
        "{swapped}"
    );
}

#[tokio::test]
async fn cancelling_on_the_consent_page_sends_the_person_back_with_access_denied() {
    let (_world, app) = world_and_app().await;
    let volt = app.tenant("volt").await;
    let site = AppSite::start().await;
    let (link_url, _) = create_link(
        &app,
        &volt,
        "alice",
        json!({"scopes": ALL_SCOPES, "redirectUri": site.redirect_uri()}),
    )
    .await;
    let b = browser();
    let page = html(b.get(&link_url).send().await.unwrap(), 200).await;
    assert!(
        page.contains("Cancel and go back to volt"),
        "the client's own name without branding: {page}"
    );
    let landed = b.post(format!("{link_url}/cancel")).send().await.unwrap();
    assert_eq!(landed.status(), 200);
    let visit = site.last_visit().unwrap();
    assert_eq!(visit["error"], "access_denied");
    assert!(vehicles_of(&app, &volt, "alice").await.is_empty());

    // The link is over; the page says so and leads back to the app, with how it ended.
    let again = html(b.get(&link_url).send().await.unwrap(), 410).await;
    assert!(
        again.contains(&format!("href=\"{}&error=access_denied\"", site.redirect_uri())),
        "{again}"
    );
}

#[tokio::test]
async fn every_error_page_that_knows_the_app_leads_back_to_it() {
    let (world, app) = world_and_app().await;
    world.cloud.add_account(
        Brand::Aurora,
        "ann",
        "pw",
        vec![SimVehicleSpec::new("SIMAUR0000000000A", "Aurora A1")],
    );
    let volt = app.tenant("volt").await;
    brand_volt(&app, &volt).await;
    let site = AppSite::start().await;

    // A used link: back to the app's return page.
    let (link_url, _) = create_link(
        &app,
        &volt,
        "alice",
        json!({"vendor": "SIM_AURORA", "scopes": ALL_SCOPES, "redirectUri": site.redirect_uri()}),
    )
    .await;
    let b = browser();
    let login = continue_from_consent(&b, &link_url).await;
    sign_in(&b, login, "ann", "pw", "approve").await;
    let used = html(b.get(&link_url).send().await.unwrap(), 410).await;
    assert!(used.contains("This link has been used"), "{used}");
    assert!(
        used.contains("<a class=\"button\" href=\"https://volt.example/home\">Back to Volt Home</a>"),
        "{used}"
    );

    // A replayed sign-in: the same way back.
    let (link_url, _) = create_link(
        &app,
        &volt,
        "bob",
        json!({"vendor": "SIM_AURORA", "scopes": ALL_SCOPES, "redirectUri": site.redirect_uri()}),
    )
    .await;
    let (stepper, callback) = coupler_tests::vehicles::walk_to_callback(&link_url, "ann", "pw").await;
    assert_eq!(stepper.get(callback.clone()).send().await.unwrap().status(), 303);
    let replayed = html(stepper.get(callback).send().await.unwrap(), 400).await;
    assert!(
        replayed.contains("already used") && replayed.contains("Back to Volt Home"),
        "{replayed}"
    );

    // A link nobody knows: there is no app to name, and the page says the person can close it.
    let unknown = html(
        browser()
            .get(format!("{}/link/not-a-token", app.url))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    assert!(unknown.contains("You can close this page"), "{unknown}");
}

#[tokio::test]
async fn the_page_speaks_the_browser_s_language_and_falls_back_to_english() {
    let (_world, app) = world_and_app().await;
    let volt = app.tenant("volt").await;
    brand_volt(&app, &volt).await;
    let site = AppSite::start().await;
    let (link_url, _) = create_link(
        &app,
        &volt,
        "alice",
        json!({"scopes": ALL_SCOPES, "redirectUri": site.redirect_uri()}),
    )
    .await;
    let open = |accept: &'static str| {
        let url = link_url.clone();
        async move {
            let response = reqwest::Client::new()
                .get(url)
                .header("accept-language", accept)
                .send()
                .await
                .unwrap();
            html(response, 200).await
        }
    };

    let german = open("de-DE,de;q=0.9,en;q=0.8").await;
    assert!(german.contains("<html lang=\"de\">"), "{german}");
    assert!(
        german.contains("Volt Home möchte sich mit Ihrem Auto verbinden"),
        "{german}"
    );
    assert!(german.contains("Das Laden starten und stoppen"), "{german}");
    assert!(german.contains("Abbrechen und zurück zu Volt Home"), "{german}");

    let dutch = open("fr-BE, nl;q=0.8").await;
    assert!(
        dutch.contains("<html lang=\"nl\">") && dutch.contains("wil verbinding maken met uw auto"),
        "{dutch}"
    );

    let english = open("fr-FR, ja;q=0.5").await;
    assert!(
        english.contains("<html lang=\"en\">") && english.contains("wants to connect to your car"),
        "{english}"
    );

    // The switch on the page wins over the browser, and is remembered for the pages after it.
    assert!(
        german.contains("hreflang=\"en\""),
        "the page offers its other languages: {german}"
    );
    let b = browser();
    let switched = b
        .get(format!("{link_url}?lang=en"))
        .header("accept-language", "de")
        .send()
        .await
        .unwrap();
    assert!(switched.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("coupler_lang=en"));
    assert!(html(switched, 200).await.contains("<html lang=\"en\">"));
    let later = b.get(&link_url).header("accept-language", "de").send().await.unwrap();
    assert!(
        html(later, 200).await.contains("<html lang=\"en\">"),
        "the pick is remembered"
    );

    // An app that asks for a language gets it, over the browser's.
    let (dutch_link, _) = create_link(
        &app,
        &volt,
        "bob",
        json!({"scopes": ALL_SCOPES, "redirectUri": site.redirect_uri(), "language": "nl-NL"}),
    )
    .await;
    let page = reqwest::Client::new()
        .get(dutch_link)
        .header("accept-language", "de")
        .send()
        .await
        .unwrap();
    assert!(html(page, 200).await.contains("<html lang=\"nl\">"));

    // Error pages too.
    let unknown = reqwest::Client::new()
        .get(format!("{}/link/not-a-token", app.url))
        .header("accept-language", "de")
        .send()
        .await
        .unwrap();
    let unknown = html(unknown, 404).await;
    assert!(
        unknown.contains("<html lang=\"de\">") && unknown.contains("Link nicht gefunden"),
        "{unknown}"
    );
}
