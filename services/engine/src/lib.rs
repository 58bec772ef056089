//! Coupler's engine: everything that acts on vehicles and chargers on Coupler's own initiative.
//!
//! - [`Engine::poll_due`] (run by the poller task) reads vehicles when they are due: often while they
//!   charge, rarely while parked, never waking a sleeping car, within each vendor's rate limit
//!   ([`limiter::RateLimiter`]) and each vehicle's daily budget, backing off on errors.
//! - Tokens are refreshed before they expire ([`Engine::refresh_due_accounts`]), and once more when
//!   a maker refuses an access token; a refused refresh marks the account invalid, its vehicles
//!   unreachable, and raises a "relink needed" intervention.
//! - [`linking`]: the OAuth steps of account linking (authorization URL, code exchange, vehicle
//!   discovery) behind the hosted link page.
//! - Actions, one engine for vehicles, chargers and EV systems: one way to ask
//!   ([`Engine::request_action`] with an [`ActionRequest`]), one idempotency and conflict policy,
//!   a runner that takes a lease per action in the store (so exactly one runner drives an action
//!   at a time), plans each step with the pure [`coupler_core::plan::next_route`], and hands it to
//!   one executor per route: the charger executor (OCPP, through the charger-control port) or the
//!   maker executor (the vehicle's cloud). Every action is settled by the state then observed,
//!   never by a device's acknowledgement.
//! - [`limits`]: limit sources (a user's max current, a site's cap) put on chargers as charging
//!   profiles, re-applied after reconnects and boots, cleared when they end; on/off for chargers
//!   that take no profiles ([`limits::LimitKeeper`]).
//! - [`smart`]: smart charging; a plan keeper that makes each plug-in's plan from its policy and
//!   carries it out as the charger's `schedule` limit source, or by start and stop commands to a
//!   vehicle's maker ([`smart::PlanKeeper`]). Prices come through [`Engine::prices_for`].
//! - Operations on chargers ([`Engine::start_operation`]): reset, unlock, configuration, firmware,
//!   diagnostics, reservations and the rest, stored first, sent, and their answers recorded.
//! - [`local_lists`]: each charger's local authorisation list kept in step with its owner's id
//!   tokens (SendLocalList after connects, boots and token changes).
//! - [`webhooks`]: delivery of published events to webhooks, signed, batched, retried, in order.
//! - [`prices`]: locations' effective prices (tariffs, pushed series, day-ahead providers fetched
//!   on a schedule) and the announcement of every change, for replanning.
//!
//! Time comes from an injected [`Clock`] ([`Engine::with_clock`]), so tests can move it. The
//! engine has no HTTP server; the API crate calls it, and `coupler` runs its tasks.

pub mod actions;
mod charger_actions;
pub mod costs;
mod credentials;
pub mod flex;
pub mod limiter;
pub mod limits;
pub mod linking;
pub mod local_lists;
mod maker;
mod operations;
pub mod pairing;
mod poller;
pub mod prices;
pub mod request;
mod runner;
pub mod singleton;
pub mod smart;
pub mod telemetry;
pub mod wakeups;
pub mod webhooks;

pub use pairing::{Pairing, PairingConfig};
pub use prices::{EffectiveSeries, PriceConfig, ProviderUse};
pub use request::{ActionRequest, ActionTarget, Command};

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use coupler_core::clock::{Clock, SystemClock};
use coupler_core::control::ChargerControl;
use coupler_core::polling::PollPolicy;
use coupler_core::secret::{Cipher, DecryptError};
use coupler_core::tariff::PriceSlot;
use coupler_core::{AdapterError, AdapterRegistry, Store, StoreError, Vendor};
use coupler_tasks::Tasks;
use tokio::sync::Notify;

use crate::limiter::RateLimiter;

/// How the engine paces itself.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Poll intervals by vehicle state, back-off, and rate-limit waits.
    pub poll_policy: PollPolicy,
    /// How often the poller looks for due vehicles (it also wakes on refresh-hints).
    pub poll_tick: Duration,
    /// The most vehicles read in one pass.
    pub poll_batch: u32,
    /// How many reads run at once.
    pub poll_concurrency: usize,
    /// How long a node holds a vehicle it is reading; another node may take it after.
    pub poll_lease: Duration,
    /// Tokens expiring within this margin are refreshed ahead of time.
    pub refresh_margin: Duration,
    /// How often the refresher looks for expiring tokens.
    pub refresh_tick: Duration,
    /// How long a vehicle action may stay pending before it fails with NO_RESPONSE.
    pub action_timeout: Duration,
    /// How long a node holds an account whose token it refreshes; another node may take it after.
    pub refresh_lease: Duration,
    /// How often a sent command's effect is checked by reading the vehicle.
    pub confirm_every: Duration,
    /// How long to wait after waking a car before sending the command again.
    pub wake_wait: Duration,
    /// How often the action runner looks for pending actions (it also wakes on new ones).
    pub action_tick: Duration,
    /// How long a vehicle's command may take through its paired charger before the next route
    /// (the vehicle's maker) is tried.
    pub charger_route_timeout: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            poll_policy: PollPolicy::default(),
            poll_tick: Duration::from_secs(1),
            poll_batch: 50,
            poll_concurrency: 8,
            poll_lease: Duration::from_secs(120),
            refresh_margin: Duration::from_secs(300),
            refresh_tick: Duration::from_secs(30),
            refresh_lease: Duration::from_secs(60),
            action_timeout: Duration::from_secs(600),
            confirm_every: Duration::from_secs(20),
            wake_wait: Duration::from_secs(15),
            action_tick: Duration::from_secs(5),
            charger_route_timeout: Duration::from_secs(60),
        }
    }
}

/// Why an engine operation failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A maker failed or refused.
    #[error(transparent)]
    Adapter(#[from] AdapterError),
    /// No adapter is configured for the vendor.
    #[error("vendor {0} is not configured on this Coupler")]
    UnknownVendor(Vendor),
    /// A stored secret cannot be decrypted (the secret key changed).
    #[error("a stored token cannot be decrypted: {0}")]
    Secret(#[from] DecryptError),
    /// The thing asked for does not exist (for this client).
    #[error("{0}")]
    NotFound(String),
    /// The request cannot be carried out, and why (answered as a 400).
    #[error("{0}")]
    Refused(String),
    /// The request conflicts with what exists (answered as a 409).
    #[error("{0}")]
    Conflict(String),
    /// An `Idempotency-Key` used before for a different request.
    #[error("{0}")]
    IdempotencyKeyReused(String),
}

/// How charger actions behave.
#[derive(Debug, Clone)]
pub struct ChargerEngineConfig {
    /// How long a charger action may stay pending before it fails with NO_RESPONSE.
    pub action_timeout: Duration,
    /// The id tag remote starts are made with.
    pub remote_start_id_tag: String,
}

impl Default for ChargerEngineConfig {
    fn default() -> Self {
        Self {
            action_timeout: Duration::from_secs(60),
            remote_start_id_tag: coupler_core::control::DEFAULT_REMOTE_START_ID_TAG.to_owned(),
        }
    }
}

/// How long a runner's lease on an action lasts; it is renewed at a third of that while the runner
/// drives the action. A node that dies leaves its actions to another runner after this long.
const ACTION_LEASE: Duration = Duration::from_secs(30);

/// The engine. Cheap to share (`Arc`); its tasks run until the shutdown token is cancelled.
#[derive(Debug)]
pub struct Engine {
    store: Arc<dyn Store>,
    cipher: Cipher,
    adapters: AdapterRegistry,
    limiter: RateLimiter,
    config: EngineConfig,
    charger_config: ChargerEngineConfig,
    /// The chargers, reached through the OCPP gateway's charger-control port.
    control: Arc<dyn ChargerControl>,
    /// Where the engine's time comes from.
    clock: Arc<dyn Clock>,
    /// Puts limit sources on chargers; max-current actions on chargers go through it.
    limits: limits::LimitKeeper,
    /// This node's name as an action lease holder ([`Engine::with_node`]).
    node: coupler_core::node::NodeId,
    poll_now: Notify,
    actions_now: Notify,
    /// The actions this engine's runners drive now.
    running_actions: std::sync::Mutex<std::collections::HashSet<String>>,
    /// The operations handed to this node that it is sending now.
    running_operations: std::sync::Mutex<std::collections::HashSet<coupler_core::operation::OperationId>>,
    /// Every vehicle read, as (client, vehicle), for the pairing engine.
    polled: tokio::sync::broadcast::Sender<(coupler_core::ClientId, coupler_core::VehicleId)>,
    /// Price providers, the fetcher's pace, and price-change announcements.
    prices: prices::PriceBook,
    /// One lock per charger for its local-list syncs.
    local_list_locks: local_lists::SyncLocks,
    /// The jobs that run on one node at a time ([`Engine::with_leases`]).
    leases: singleton::Leases,
}

impl Engine {
    /// An engine over `store`, decrypting tokens with `cipher`, talking to makers through
    /// `adapters` and to chargers through `control`, on the system clock.
    pub fn new(
        store: Arc<dyn Store>,
        cipher: Cipher,
        adapters: AdapterRegistry,
        control: Arc<dyn ChargerControl>,
        config: EngineConfig,
        charger_config: ChargerEngineConfig,
    ) -> Self {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let limits = limits::LimitKeeper::new(
            store.clone(),
            control.clone(),
            charger_config.remote_start_id_tag.clone(),
            clock.clone(),
        );
        Self {
            store,
            cipher,
            adapters,
            limiter: RateLimiter::default(),
            config,
            charger_config,
            control,
            clock,
            limits,
            node: coupler_core::node::NodeId::single(),
            poll_now: Notify::new(),
            actions_now: Notify::new(),
            running_actions: std::sync::Mutex::default(),
            running_operations: std::sync::Mutex::default(),
            polled: tokio::sync::broadcast::channel(4096).0,
            prices: prices::PriceBook::default(),
            local_list_locks: local_lists::SyncLocks::default(),
            leases: singleton::Leases::sole(),
        }
    }

    /// What one kWh costs at `location` from `from` to `to`: the one place smart charging gets
    /// prices from (the location's pushed series, its area's, its provider's, then its tariff;
    /// [`Engine::location_prices`]). Nowhere known, or a failure to read them, is no known price:
    /// plans then charge as early as they can.
    pub async fn prices_for(
        &self,
        location: Option<&coupler_core::location::Location>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<PriceSlot> {
        let Some(location) = location else {
            return Vec::new();
        };
        match self.location_prices(&location.client_id, &location.id, from, to).await {
            Ok(prices) => prices,
            Err(e) => {
                tracing::warn!(location_id = %location.id, error = %e, "cannot read a location's prices; planning without them");
                Vec::new()
            }
        }
    }

    /// The same engine holding action leases as `node`. Each node of a deployment needs its own
    /// name; a restarted node keeps its name, so it takes up at once the actions its previous run
    /// held (that run is gone), while another node waits for those leases to lapse.
    pub fn with_node(mut self, node: coupler_core::node::NodeId) -> Self {
        self.node = node;
        self
    }

    /// The same engine claiming its one-node-at-a-time jobs through `leases` (without, it holds
    /// them all: the only node).
    pub fn with_leases(mut self, leases: singleton::Leases) -> Self {
        self.leases = leases;
        self
    }

    /// The jobs that run on one node at a time, and whether this node holds each.
    pub fn leases(&self) -> &singleton::Leases {
        &self.leases
    }

    /// This node's id.
    pub fn node(&self) -> &coupler_core::node::NodeId {
        &self.node
    }

    /// Whether `charger` is connected to any node: to this one, or to another whose lease runs.
    pub async fn charger_reachable(&self, charger: &coupler_core::ChargerId) -> bool {
        if self.control.is_connected(charger) {
            return true;
        }
        self.charger_held_elsewhere(charger).await.is_some()
    }

    /// The other node that holds `charger`'s socket now, if one does (and this node does not).
    pub(crate) async fn charger_held_elsewhere(
        &self,
        charger: &coupler_core::ChargerId,
    ) -> Option<coupler_core::node::NodeId> {
        if self.control.is_connected(charger) {
            return None;
        }
        match self.store.charger_owner(charger, coupler_core::time::now()).await {
            Ok(owner) => owner.filter(|node| *node != self.node),
            Err(e) => {
                tracing::warn!(charger_id = %charger, error = %e, "cannot read which node holds a charger");
                None
            }
        }
    }

    /// The same engine on another clock (a test's [`coupler_core::clock::ManualClock`]).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.limits = limits::LimitKeeper::new(
            self.store.clone(),
            self.control.clone(),
            self.charger_config.remote_start_id_tag.clone(),
            clock.clone(),
        );
        self.clock = clock;
        self
    }

    /// The charger-control port, for callers that act on chargers directly (closing a deleted
    /// charger's connection, asking whether one is connected).
    pub fn control(&self) -> &Arc<dyn ChargerControl> {
        &self.control
    }

    /// The id tag remote starts are made with.
    pub fn remote_start_id_tag(&self) -> &str {
        &self.charger_config.remote_start_id_tag
    }

    /// The limit keeper: site limits set through the API, and chargers' limits after a change.
    pub fn limits(&self) -> &limits::LimitKeeper {
        &self.limits
    }

    /// The engine's clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Every vehicle read from now on, as (client, vehicle).
    pub fn subscribe_polls(
        &self,
    ) -> tokio::sync::broadcast::Receiver<(coupler_core::ClientId, coupler_core::VehicleId)> {
        self.polled.subscribe()
    }

    /// The configured vendors.
    pub fn adapters(&self) -> &AdapterRegistry {
        &self.adapters
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// How long a token refresh holds its lease, as the store counts time.
    pub(crate) fn refresh_lease(&self) -> chrono::Duration {
        self.clock.span_of(self.config.refresh_lease)
    }

    /// The cipher that seals tokens.
    pub fn cipher(&self) -> &Cipher {
        &self.cipher
    }

    /// Tells the action runner to look for pending actions now (new actions wake it by themselves).
    pub fn wake_actions(&self) {
        self.actions_now.notify_one();
    }

    /// Tells the poller to look for due vehicles now (after a refresh-hint or a new link).
    pub fn wake_poller(&self) {
        self.poll_now.notify_one();
    }

    /// Starts the poller, the token refresher, the action runner, the sender of operations handed
    /// to this node and the price fetcher on `tasks`. Pending actions,
    /// those a previous run left too, are taken up by the runner under a lease; on shutdown they
    /// stay pending in storage and their leases are given up for the next run.
    pub fn spawn(self: &Arc<Self>, tasks: &Tasks) {
        let shutdown = tasks.token();
        tasks.spawn("vehicle poller", poller::run(self.clone(), shutdown.clone()));
        tasks.spawn(
            "token refresher",
            credentials::run_refresher(self.clone(), shutdown.clone()),
        );
        tasks.spawn("action runner", runner::run(self.clone(), tasks.clone()));
        tasks.spawn("handed operations", self.clone().run_handed_operations(tasks.clone()));
        prices::spawn(self.clone(), tasks);
    }
}
