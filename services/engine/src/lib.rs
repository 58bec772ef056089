//! Coupler's engine: everything that talks to the makers on Coupler's own initiative.
//!
//! - [`Engine::poll_due`] (run by the poller task) reads vehicles when they are due: often while they
//!   charge, rarely while parked, never waking a sleeping car, within each vendor's rate limit
//!   ([`limiter::RateLimiter`]) and each vehicle's daily budget, backing off on errors.
//! - Tokens are refreshed before they expire ([`Engine::refresh_due_accounts`]), and once more when
//!   a maker refuses an access token; a refused refresh marks the account invalid, its vehicles
//!   unreachable, and raises a "relink needed" intervention.
//! - [`linking`]: the OAuth steps of account linking (authorization URL, code exchange, vehicle
//!   discovery) behind the hosted link page.
//! - [`actions`]: vehicle actions (start, stop, max current), sent to the maker and settled by the
//!   state Coupler then reads, never by the maker's acknowledgement.
//! - [`chargers`]: charger actions, sent through the OCPP gateway's charger-control port and
//!   settled by the charger's observed state ([`ChargerEngine`]).
//! - [`limits`]: limit sources (a user's max current, a site's cap) put on chargers as charging
//!   profiles, re-applied after reconnects and boots, cleared when they end; on/off for chargers
//!   that take no profiles ([`limits::LimitKeeper`]).
//! - [`webhooks`]: delivery of published events to webhooks, signed, batched, retried, in order.
//!
//! The engines have no HTTP server; the API crate calls it, and `coupler` runs its tasks.

pub mod actions;
mod charger_actions;
pub mod chargers;
mod credentials;
pub mod limiter;
pub mod limits;
pub mod linking;
pub mod pairing;
mod poller;
pub mod webhooks;

pub use chargers::{ChargerActionError, ChargerEngine, ChargerEngineConfig};
pub use pairing::{Pairing, PairingConfig};

use std::sync::Arc;
use std::time::Duration;

use coupler_core::polling::PollPolicy;
use coupler_core::secret::{Cipher, DecryptError};
use coupler_core::{AdapterError, AdapterRegistry, Store, StoreError, Vendor};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

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

/// The engine. Cheap to share (`Arc`); its tasks run until the shutdown token is cancelled.
#[derive(Debug)]
pub struct Engine {
    store: Arc<dyn Store>,
    cipher: Cipher,
    adapters: AdapterRegistry,
    limiter: RateLimiter,
    config: EngineConfig,
    poll_now: Notify,
    actions_now: Notify,
    running_actions: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Every vehicle read, as (client, vehicle), for the pairing engine.
    polled: tokio::sync::broadcast::Sender<(coupler_core::ClientId, coupler_core::VehicleId)>,
    /// The charger side, for routing a vehicle's commands through its paired charger.
    chargers: std::sync::OnceLock<ChargerEngine>,
}

impl Engine {
    /// An engine over `store`, decrypting tokens with `cipher`, talking to makers through `adapters`.
    pub fn new(store: Arc<dyn Store>, cipher: Cipher, adapters: AdapterRegistry, config: EngineConfig) -> Self {
        Self {
            store,
            cipher,
            adapters,
            limiter: RateLimiter::default(),
            config,
            poll_now: Notify::new(),
            actions_now: Notify::new(),
            running_actions: std::sync::Mutex::default(),
            polled: tokio::sync::broadcast::channel(4096).0,
            chargers: std::sync::OnceLock::new(),
        }
    }

    /// Lets vehicle commands go through chargers paired with the vehicle. Set once, at wiring.
    pub fn attach_chargers(&self, chargers: ChargerEngine) {
        if self.chargers.set(chargers).is_err() {
            tracing::warn!("the charger engine was attached twice; the first stays");
        }
    }

    /// The attached charger engine, if any.
    pub fn chargers(&self) -> Option<&ChargerEngine> {
        self.chargers.get()
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

    /// The cipher that seals tokens.
    pub fn cipher(&self) -> &Cipher {
        &self.cipher
    }

    /// Tells the poller to look for due vehicles now (after a refresh-hint or a new link).
    pub fn wake_poller(&self) {
        self.poll_now.notify_one();
    }

    /// Starts the poller, the token refresher and the action runner.
    pub fn spawn(self: &Arc<Self>, shutdown: CancellationToken) -> Vec<JoinHandle<()>> {
        vec![
            tokio::spawn(poller::run(self.clone(), shutdown.clone())),
            tokio::spawn(credentials::run_refresher(self.clone(), shutdown.clone())),
            tokio::spawn(actions::run(self.clone(), shutdown)),
        ]
    }
}
