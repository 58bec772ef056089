//! The state every handler shares.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use coupler_core::sandbox::Sandbox;
use coupler_core::secret::Cipher;
use coupler_core::Store;
use coupler_engine::flex::FlexKeeper;
use coupler_engine::smart::PlanKeeper;
use coupler_engine::webhooks::WebhookSender;
use coupler_engine::{Engine, Pairing};
use coupler_tasks::Tasks;
use url::Url;

use crate::limits::RateLimits;
use crate::metrics::Metrics;

/// Everything the REST surface needs, built once at start-up.
#[derive(Debug)]
pub struct App {
    /// Storage.
    pub store: Arc<dyn Store>,
    /// The URL clients and chargers use to reach Coupler (`COUPLER_PUBLIC_URL`).
    pub public_url: Url,
    /// How long an access token from `/oauth/token` lives.
    pub token_ttl: Duration,
    /// Request counts and latencies for `/metrics`.
    pub metrics: Metrics,
    /// The base chargers connect to: `ws(s)://host[:port]`, to which `/ocpp/{identity}` is added.
    pub ocpp_base_url: Url,
    /// Encrypts secrets Coupler must read back (`COUPLER_SECRET_KEY`).
    pub cipher: Cipher,
    /// Polling, token refresh, linking, and actions on vehicles and chargers.
    pub engine: Arc<Engine>,
    /// Works out which vehicle is in which charger.
    pub pairing: Arc<Pairing>,
    /// The simulated world behind `/sandbox/...`, only in sandbox mode.
    pub sandbox: Option<Arc<dyn Sandbox>>,
    /// Sends signed webhook requests (test calls) under the configured address rules.
    pub webhooks: WebhookSender,
    /// The server's tasks: responses that never end by themselves (event streams) end when they
    /// stop, so a graceful shutdown does not wait for them forever.
    pub tasks: Tasks,
    /// Rate limits on `/oauth/token` and the API, and the count of failed authentications.
    pub limits: RateLimits,
    /// Smart charging's plan keeper: policies put and overrides changed through the API reach it.
    pub smart: Arc<PlanKeeper>,
    /// Carries flexibility events out: events and opt-outs changed through the API reach it.
    pub flex: Arc<FlexKeeper>,
}

/// Cheap-to-clone handle to [`App`], the axum state.
#[derive(Debug, Clone)]
pub struct AppState(pub Arc<App>);

impl AppState {
    /// Wraps a built [`App`].
    pub fn new(app: App) -> Self {
        Self(Arc::new(app))
    }
}

impl App {
    /// The time now on the engine's clock, which tests can move: token expiry, link sessions and
    /// limit windows are all judged on it.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.engine.clock().now()
    }
}

impl Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}
