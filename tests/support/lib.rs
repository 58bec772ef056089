//! What the end-to-end tests share: a Coupler started on a random port over a throw-away database,
//! and API clients (tenants) with tokens. [`vehicles`] adds what the vehicle tests need: makers to
//! link (the simulated cloud, fake Tesla and Smartcar servers), a browser, and an app to land on.

pub mod vehicles;

pub mod browser;
pub mod cluster;
pub mod console;
pub mod ocpp;
pub mod pki;
pub mod prices;
pub mod raw;
pub mod receiver;
pub mod sandbox;
pub mod vtn;

use std::sync::Arc;

use coupler::server::{Server, Wiring};
use coupler_core::secret::{generate_secret, hash_secret};
use coupler_core::{time, Client, ClientId, Store};
use coupler_store::testing::TestDatabase;
use reqwest::{Method, RequestBuilder, Response};
use tokio::net::TcpListener;

/// How long a test waits for a condition before it gives up. Tests wait for conditions, never for a
/// fixed time; this bound only turns a condition that never comes into a failure, so it is generous
/// enough for a busy 2-core machine running many tests at once.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(90);

/// Waits until `check` gives `Some`, polling every 50 ms; fails with `what` after [`PATIENCE`].
/// The one "wait until" of the tests: the others are written on top of it.
pub async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The variable that runs the end-to-end tests' apps on PostgreSQL (`postgres`) rather than on
/// SQLite, on the server `COUPLER_TEST_POSTGRES_URL` names: the same tests, the other backend.
pub const APP_BACKEND_VAR: &str = "COUPLER_TEST_APP_BACKEND";

/// A fresh database for one app: SQLite, or PostgreSQL when [`APP_BACKEND_VAR`] says so.
async fn app_database() -> TestDatabase {
    match std::env::var(APP_BACKEND_VAR).as_deref() {
        Ok("postgres") => TestDatabase::postgres()
            .await
            .unwrap_or_else(|| panic!("{APP_BACKEND_VAR}=postgres needs COUPLER_TEST_POSTGRES_URL")),
        _ => TestDatabase::sqlite(),
    }
}

/// A running Coupler for one test.
#[derive(Debug)]
pub struct TestApp {
    /// Base URL, without a trailing slash.
    pub url: String,
    /// The store behind it, for arranging state and checking what was (not) written.
    pub store: Arc<dyn Store>,
    /// An HTTP client that does not follow redirects.
    pub http: reqwest::Client,
    server: Option<Server>,
    /// The database, when this app is its only user (a [`cluster::TestCluster`] keeps its own).
    _db: Option<TestDatabase>,
}

/// An API client of the running Coupler, with a valid token.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// Client id.
    pub id: ClientId,
    /// Client secret.
    pub secret: String,
    /// A bearer token from `/oauth/token`.
    pub token: String,
}

impl TestApp {
    /// Starts Coupler over `store` (a database that outlives it), like [`TestApp::spawn_with`].
    pub async fn spawn_on(store: Arc<dyn Store>, configure: impl FnOnce(&str, &mut Wiring)) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a random port");
        let addr = listener.local_addr().expect("local address");
        let url = format!("http://{addr}");
        let mut wiring = Wiring::minimal(store.clone(), url.parse().expect("url"));
        configure(&url, &mut wiring);
        let server = Server::serve_with(listener, None, wiring).await.expect("start coupler");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        Self {
            url,
            store,
            http,
            server: Some(server),
            _db: None,
        }
    }

    /// Starts Coupler on 127.0.0.1 with a random port and a fresh SQLite database.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_, _| {}).await
    }

    /// Starts Coupler like [`TestApp::spawn`], letting `configure` add vendors and tune the engine
    /// before it starts; it gets the app's base URL (for callback registration).
    pub async fn spawn_with(configure: impl FnOnce(&str, &mut Wiring)) -> Self {
        let db = app_database().await;
        let store = db.open().await;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a random port");
        let addr = listener.local_addr().expect("local address");
        let url = format!("http://{addr}");
        let mut wiring = Wiring::minimal(store.clone(), url.parse().expect("url"));
        configure(&url, &mut wiring);
        let server = Server::serve_with(listener, None, wiring).await.expect("start coupler");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        Self {
            url,
            store,
            http,
            server: Some(server),
            _db: Some(db),
        }
    }

    /// Starts Coupler like [`TestApp::spawn_with`], serving TLS itself with `tls` (its certificate
    /// signed by the CA `ca_pem`, which the test's HTTP client trusts): the URL is https and the
    /// chargers' OCPP URL wss.
    pub async fn spawn_tls(
        tls: coupler_api::tls::TlsServer,
        ca_pem: &str,
        configure: impl FnOnce(&str, &mut Wiring),
    ) -> Self {
        let db = TestDatabase::sqlite();
        let store = db.open().await;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a random port");
        let addr = listener.local_addr().expect("local address");
        let url = format!("https://{addr}");
        let mut wiring = Wiring::minimal(store.clone(), url.parse().expect("url"));
        wiring.tls = Some(tls);
        configure(&url, &mut wiring);
        let server = Server::serve_with(listener, None, wiring).await.expect("start coupler");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("CA certificate"))
            .build()
            .expect("http client");
        Self {
            url,
            store,
            http,
            server: Some(server),
            _db: Some(db),
        }
    }

    /// The running server's state (engine, cipher), for tests that look inside.
    pub fn state(&self) -> &coupler_api::AppState {
        &self.server.as_ref().expect("the server is running").state
    }

    /// Creates an API client the way `coupler clients create` does, and gets it a token.
    pub async fn tenant(&self, name: &str) -> Tenant {
        let secret = generate_secret();
        let id = ClientId::generate();
        self.store
            .insert_client(&Client {
                id: id.clone(),
                name: name.into(),
                secret_hash: hash_secret(&secret),
                created_at: time::now(),
                revoked_at: None,
            })
            .await
            .expect("insert client");
        let token = self.token(&id, &secret).await;
        Tenant { id, secret, token }
    }

    /// Gets a token with HTTP Basic credentials, panicking unless it is issued.
    pub async fn token(&self, id: &ClientId, secret: &str) -> String {
        let response = self
            .http
            .post(format!("{}/oauth/token", self.url))
            .basic_auth(id.as_str(), Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("token request");
        assert_eq!(response.status(), 200, "token request refused");
        let body: serde_json::Value = response.json().await.expect("token json");
        body["access_token"].as_str().expect("access_token").to_owned()
    }

    /// A request to `path` (which starts with `/`).
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{path}", self.url))
    }

    /// A request to `path` carrying `tenant`'s token.
    pub fn as_tenant(&self, tenant: &Tenant, method: Method, path: &str) -> RequestBuilder {
        self.request(method, path).bearer_auth(&tenant.token)
    }

    /// Registers a charger for `user` through the API; returns the answer (with `ocppUrl` and the
    /// one-time `password`).
    pub async fn register_charger(&self, tenant: &Tenant, user: &str, ocpp_id: &str) -> serde_json::Value {
        let response = self
            .as_tenant(tenant, Method::POST, &format!("/users/{user}/chargers"))
            .json(&serde_json::json!({ "ocppId": ocpp_id, "name": "Garage" }))
            .send()
            .await
            .expect("register charger");
        assert_eq!(response.status(), 201, "charger registration refused");
        response.json().await.expect("registration json")
    }

    /// Posts `body` as `tenant` and returns the JSON answer, expecting `status`.
    pub async fn post_json_status(
        &self,
        tenant: &Tenant,
        path: &str,
        body: serde_json::Value,
        status: u16,
    ) -> serde_json::Value {
        let response = self
            .as_tenant(tenant, Method::POST, path)
            .json(&body)
            .send()
            .await
            .expect("post");
        assert_eq!(response.status(), status, "POST {path}");
        response.json().await.expect("json answer")
    }

    /// Posts `body` as `tenant` and returns the JSON answer, expecting 200.
    pub async fn post_json(&self, tenant: &Tenant, path: &str, body: serde_json::Value) -> serde_json::Value {
        self.post_json_status(tenant, path, body, 200).await
    }

    /// Reads a JSON resource as `tenant`, expecting 200.
    pub async fn get_json(&self, tenant: &Tenant, path: &str) -> serde_json::Value {
        let response = self.as_tenant(tenant, Method::GET, path).send().await.expect("GET");
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.expect("json")
    }

    /// Polls `GET /actions/{id}` until the action settles (see [`wait_for`]).
    pub async fn settled_action(&self, tenant: &Tenant, id: &str) -> serde_json::Value {
        wait_for(&format!("action {id} settled"), || async {
            let action = self.get_json(tenant, &format!("/actions/{id}")).await;
            (action["state"] != "PENDING").then_some(action)
        })
        .await
    }

    /// Runs an operation on a charger (`POST /chargers/{charger}/operations/{operation}` with
    /// `body`) and returns it once the charger answered: the route answers 200 when it already has,
    /// 202 while it has not, and the operation is then read until it is no longer PENDING or SENT.
    pub async fn operate(
        &self,
        tenant: &Tenant,
        charger: &str,
        operation: &str,
        body: serde_json::Value,
    ) -> serde_json::Value {
        let path = format!("/chargers/{charger}/operations/{operation}");
        let response = self
            .as_tenant(tenant, Method::POST, &path)
            .json(&body)
            .send()
            .await
            .expect("post an operation");
        let status = response.status().as_u16();
        let answer: serde_json::Value = response.json().await.expect("operation json");
        assert!(
            status == 200 || status == 202,
            "POST {path} answered {status}: {answer}"
        );
        assert_eq!(
            status == 202,
            answer["status"] == "SENT" || answer["status"] == "PENDING",
            "{answer}"
        );
        let id = answer["id"].as_str().expect("operation id").to_owned();
        self.operation_until(tenant, charger, &id, |op| {
            op["status"] != "PENDING" && op["status"] != "SENT"
        })
        .await
    }

    /// Reads an operation until `done` says so (see [`wait_for`]).
    pub async fn operation_until(
        &self,
        tenant: &Tenant,
        charger: &str,
        id: &str,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        wait_for(&format!("operation {id} as wanted"), || async {
            let op = self
                .get_json(tenant, &format!("/chargers/{charger}/operations/{id}"))
                .await;
            done(&op).then_some(op)
        })
        .await
    }

    /// The server's tasks (its one token and tracker), for tests that run or watch background work.
    pub fn tasks(&self) -> coupler_tasks::Tasks {
        self.server.as_ref().expect("running").tasks().clone()
    }

    /// The charger gateway, to drive the internal charger-control interface directly.
    pub fn gateway(&self) -> &coupler_gateway::Gateway {
        &self.server.as_ref().expect("running").gateway
    }

    /// Stops Coupler and starts it again on the same database, on a new port (chargers must connect
    /// again, as after any restart). `configure` wires the new run like [`TestApp::spawn_with`].
    pub async fn restart_with(&mut self, configure: impl FnOnce(&str, &mut Wiring)) {
        if let Some(server) = self.server.take() {
            server.stop().await.expect("graceful stop");
        }
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a random port");
        let addr = listener.local_addr().expect("local address");
        self.url = format!("http://{addr}");
        let mut wiring = Wiring::minimal(self.store.clone(), self.url.parse().expect("url"));
        configure(&self.url, &mut wiring);
        self.server = Some(
            Server::serve_with(listener, None, wiring)
                .await
                .expect("restart coupler"),
        );
    }

    /// Stops the server gracefully.
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await.expect("graceful stop");
        }
    }
}

/// Reads a problem+json error body, checking the media type and that `status` matches.
pub async fn problem(response: Response) -> serde_json::Value {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        content_type, "application/problem+json",
        "error {status} is not problem+json"
    );
    let body: serde_json::Value = response.json().await.expect("problem body is JSON");
    assert_eq!(body["status"], status, "problem status matches the HTTP status");
    for field in ["type", "title", "detail"] {
        assert!(body[field].is_string(), "problem has a {field}: {body}");
    }
    body
}

/// `path` with every `{parameter}` replaced by `value`.
pub fn fill_path(path: &str, value: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        match rest[open..].find('}') {
            Some(close) => {
                out.push_str(value);
                rest = &rest[open + close + 1..];
            }
            None => {
                rest = &rest[open..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}
