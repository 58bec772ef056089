//! Support for the vehicle tests: the simulated OEM cloud on its own port, a browser that keeps
//! cookies, the app's own site where the link flow ends, a fast engine, and waiting for the poller.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use coupler::server::Wiring;
use coupler_core::adapter::VendorLimits;
use coupler_core::polling::PollPolicy;
use coupler_engine::EngineConfig;
use coupler_simulated::{Brand, SimCloud, SimConfig, SimServer, SimVehicleSpec, SimulatedAdapter};
use reqwest::Method;
use url::Url;

use crate::{Tenant, TestApp};

/// The secret Coupler's client has at the simulated cloud in tests.
pub const SIM_SECRET: &str = "sim-client-secret";

/// An engine that reacts within milliseconds: reads happen when linked or hinted, not on a timer
/// (intervals are long), and commands are confirmed quickly.
pub fn fast_engine() -> EngineConfig {
    let long = Duration::from_secs(600);
    EngineConfig {
        poll_policy: PollPolicy {
            charging: long,
            plugged_in: long,
            parked: long,
            asleep: long,
            unknown: long,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(5),
            rate_limited_default: Duration::from_secs(60),
            unreachable_after_failures: 3,
        },
        poll_tick: Duration::from_millis(50),
        poll_batch: 50,
        poll_concurrency: 4,
        poll_lease: Duration::from_secs(30),
        refresh_margin: Duration::from_secs(60),
        refresh_tick: Duration::from_millis(200),
        refresh_lease: Duration::from_secs(60),
        action_timeout: Duration::from_secs(10),
        confirm_every: Duration::from_millis(100),
        wake_wait: Duration::from_millis(100),
        action_tick: Duration::from_millis(100),
        charger_route_timeout: Duration::from_secs(4),
    }
}

/// The simulated OEM cloud, served on its own random port like a maker elsewhere on the internet.
#[derive(Debug)]
pub struct SimWorld {
    /// The cloud's state, to arrange cars and count requests.
    pub cloud: SimCloud,
    /// The server.
    pub server: SimServer,
}

impl SimWorld {
    /// Starts a cloud with `config`.
    pub async fn start(config: SimConfig) -> Self {
        let cloud = SimCloud::new(config);
        let server = cloud
            .spawn("127.0.0.1:0".parse().expect("address"))
            .await
            .expect("start the simulated cloud");
        Self { cloud, server }
    }

    /// Registers Coupler at `app_url` with the cloud and every brand's adapter with Coupler, with
    /// the limits `limits` gives (or the brand's defaults), and a fast engine.
    pub fn wire(&self, app_url: &str, wiring: &mut Wiring, limits: impl Fn(Brand) -> Option<VendorLimits>) {
        self.cloud
            .register_client("coupler", SIM_SECRET, &format!("{app_url}/link/callback"));
        for brand in Brand::ALL {
            let mut adapter = SimulatedAdapter::new(brand, &self.server.base_url, "coupler", SIM_SECRET)
                .expect("adapter")
                .with_timeout(Duration::from_secs(3));
            if let Some(l) = limits(brand) {
                adapter = adapter.with_limits(l);
            }
            wiring.adapters.register(Arc::new(adapter));
        }
        wiring.engine = fast_engine();
    }
}

/// The app's own site, where a link flow ends: it records the query of every visit.
#[derive(Debug, Clone)]
pub struct AppSite {
    /// Its base URL.
    pub url: String,
    visits: Arc<Mutex<Vec<HashMap<String, String>>>>,
}

impl AppSite {
    /// Starts the site on a random port.
    pub async fn start() -> Self {
        let visits: Arc<Mutex<Vec<HashMap<String, String>>>> = Arc::default();
        let recorded = visits.clone();
        let router = axum::Router::new().route(
            "/linked",
            axum::routing::get(
                move |axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>| {
                    let recorded = recorded.clone();
                    async move {
                        recorded.lock().expect("lock").push(q);
                        "welcome back"
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { url, visits }
    }

    /// The redirect URI to give Coupler.
    pub fn redirect_uri(&self) -> String {
        format!("{}/linked?from=coupler", self.url)
    }

    /// The query of the latest visit.
    pub fn last_visit(&self) -> Option<HashMap<String, String>> {
        self.visits.lock().expect("lock").last().cloned()
    }
}

/// A browser: keeps cookies and follows redirects, as a person's does.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).build().expect("browser")
}

/// A browser that keeps cookies but stops at every redirect, to look at each step.
pub fn stepping_browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("browser")
}

/// The `value` of the form field `name` in a page.
pub fn form_value(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name} in: {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap_or_default().to_owned()
}

/// The `href` of the first link whose text contains `text`.
pub fn link_to(html: &str, text: &str) -> String {
    let at = html.find(text).unwrap_or_else(|| panic!("no link '{text}' in: {html}"));
    let href = html[..at].rfind("href=\"").expect("an href before the text") + 6;
    html[href..].split('"').next().unwrap_or_default().replace("&amp;", "&")
}

/// The `href` of the consent page's Continue button (shown when the app named the vendor).
pub fn continue_href(html: &str) -> String {
    let marker = "id=\"continue\" href=\"";
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("no Continue button in: {html}"))
        + marker.len();
    html[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .replace("&amp;", "&")
}

/// Opens the link page (the consent screen), checks it, and presses its Continue button (to the
/// vendor the app named). Returns the answer to the press: the maker's sign-in for a browser that
/// follows redirects, the redirect to it for one that does not.
pub async fn continue_from_consent(browser: &reqwest::Client, link_url: &str) -> reqwest::Response {
    let page = browser.get(link_url).send().await.expect("open the link");
    assert_eq!(page.status(), 200, "the consent page");
    let html = page.text().await.expect("consent page");
    browser.get(continue_href(&html)).send().await.expect("continue")
}

/// Asks Coupler for a link session; returns `(linkUrl, linkToken)`.
pub async fn create_link(app: &TestApp, tenant: &Tenant, user: &str, body: serde_json::Value) -> (String, String) {
    let response = app
        .as_tenant(tenant, Method::POST, &format!("/users/{user}/link"))
        .json(&body)
        .send()
        .await
        .expect("link request");
    assert_eq!(response.status(), 200, "link session refused");
    let body: serde_json::Value = response.json().await.expect("json");
    (
        body["linkUrl"].as_str().expect("linkUrl").to_owned(),
        body["linkToken"].as_str().expect("linkToken").to_owned(),
    )
}

/// On the simulated maker's login page: signs in and answers the consent page with `decision`
/// (`approve` or `deny`), following every redirect. Returns the last response.
pub async fn sign_in(
    browser: &reqwest::Client,
    login_page: reqwest::Response,
    username: &str,
    password: &str,
    decision: &str,
) -> reqwest::Response {
    let page_url = login_page.url().clone();
    let page = login_page.text().await.expect("login page");
    let consent = browser
        .post(page_url.join("login").expect("login url"))
        .form(&[
            ("request_id", form_value(&page, "request_id").as_str()),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(consent.status(), 200, "signed in");
    let consent_url = consent.url().clone();
    let consent_page = consent.text().await.expect("consent page");
    browser
        .post(consent_url.join("consent").expect("consent url"))
        .form(&[
            ("request_id", form_value(&consent_page, "request_id").as_str()),
            ("decision", decision),
        ])
        .send()
        .await
        .expect("consent")
}

/// The whole flow as a person goes through it with the vendor named in the link: open the link,
/// sign in, approve. Returns where the browser ended up.
pub async fn link_simulated(
    app: &TestApp,
    tenant: &Tenant,
    site: &AppSite,
    user: &str,
    brand: Brand,
    username: &str,
    password: &str,
) -> Url {
    let (link_url, _) = create_link(
        app,
        tenant,
        user,
        serde_json::json!({
            "vendor": brand.vendor().as_str(),
            "scopes": ["vehicle:read:data", "vehicle:read:location", "vehicle:control:charging"],
            "redirectUri": site.redirect_uri(),
        }),
    )
    .await;
    let browser = browser();
    let login = continue_from_consent(&browser, &link_url).await;
    assert_eq!(login.status(), 200, "the maker's login page");
    let landed = sign_in(&browser, login, username, password, "approve").await;
    assert_eq!(landed.status(), 200, "landed on the app");
    landed.url().clone()
}

/// Waits until `check` holds (see [`crate::wait_for`]).
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    crate::wait_for(what, || {
        let holds = check();
        async move { holds.await.then_some(()) }
    })
    .await;
}

/// GETs `path` as `tenant` and returns the JSON body.
pub async fn get_json(app: &TestApp, tenant: &Tenant, path: &str) -> serde_json::Value {
    let response = app.as_tenant(tenant, Method::GET, path).send().await.expect("request");
    assert_eq!(response.status(), 200, "GET {path}");
    response.json().await.expect("json")
}

/// The user's vehicles (first page).
pub async fn vehicles_of(app: &TestApp, tenant: &Tenant, user: &str) -> Vec<serde_json::Value> {
    get_json(app, tenant, &format!("/users/{user}/vehicles")).await["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Sends a refresh-hint and checks it was accepted.
pub async fn hint(app: &TestApp, tenant: &Tenant, vehicle_id: &str) {
    let response = app
        .as_tenant(tenant, Method::POST, &format!("/vehicles/{vehicle_id}/refresh-hint"))
        .send()
        .await
        .expect("hint");
    assert_eq!(response.status(), 204);
}

/// Walks the flow step by step up to the maker's redirect back to Coupler, without following it.
/// Returns the browser (with Coupler's cookie) and the callback URL the maker sent it to.
pub async fn walk_to_callback(link_url: &str, username: &str, password: &str) -> (reqwest::Client, Url) {
    let browser = stepping_browser();
    let to_maker = continue_from_consent(&browser, link_url).await;
    assert_eq!(to_maker.status(), 303, "sent to the maker");
    let authorize = location(&to_maker);
    let login = browser.get(authorize.clone()).send().await.expect("authorize");
    assert_eq!(login.status(), 200, "the maker's login page");
    let page = login.text().await.expect("page");
    let consent = browser
        .post(authorize.join("login").expect("url"))
        .form(&[
            ("request_id", form_value(&page, "request_id").as_str()),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .expect("login");
    let consent_page = consent.text().await.expect("consent");
    let back = browser
        .post(authorize.join("consent").expect("url"))
        .form(&[
            ("request_id", form_value(&consent_page, "request_id").as_str()),
            ("decision", "approve"),
        ])
        .send()
        .await
        .expect("consent");
    assert_eq!(back.status(), 303, "the maker redirects back");
    (browser, location(&back))
}

/// The `Location` of a redirect, as a URL.
pub fn location(response: &reqwest::Response) -> Url {
    let value = response
        .headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location on a {} answer", response.status()))
        .to_str()
        .expect("text");
    response.url().join(value).expect("a URL")
}

/// The query parameters of a URL.
pub fn query(url: &Url) -> HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

/// A car of `alice`'s Aurora account "away", plugged in where Coupler has no charger and charging
/// from `battery_level` %, linked through the hosted page and read by Coupler once: its id at the
/// maker and its id at Coupler.
pub async fn car_charging_away(
    world: &SimWorld,
    app: &TestApp,
    tenant: &Tenant,
    site: &AppSite,
    vin: &str,
    battery_level: f64,
) -> (String, String) {
    let maker_id = world.cloud.add_account(
        Brand::Aurora,
        "away",
        "pw",
        vec![SimVehicleSpec {
            battery_level,
            plugged_in: true,
            ..SimVehicleSpec::new(vin, "Aurora S")
        }],
    )[0]
    .clone();
    link_simulated(app, tenant, site, "alice", Brand::Aurora, "away", "pw").await;
    let vehicle = crate::sandbox::until("the car is read", || async {
        vehicles_of(app, tenant, "alice")
            .await
            .into_iter()
            .find(|v| v["chargeState"]["batteryLevel"].is_number())
    })
    .await;
    (maker_id, vehicle["id"].as_str().expect("a vehicle id").to_owned())
}
