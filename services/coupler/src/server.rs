//! Running Coupler: open the store, build the application, serve until told to stop.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use coupler_api::metrics::Metrics;
use coupler_api::{App, AppState};
use coupler_core::clock::{Clock, SystemClock};
use coupler_core::event::RetryPolicy;
use coupler_core::secret::{generate_secret, Cipher, SecretKey};
use coupler_core::{AdapterRegistry, Store};
use coupler_engine::webhooks::{WebhookConfig, WebhookSender};
use coupler_engine::{ChargerEngineConfig, Engine, EngineConfig, Pairing, PairingConfig};
use coupler_gateway::{Gateway, GatewayConfig};
use coupler_simulated::{Brand, SimCloud, SimConfig, SimSandbox, SimulatedAdapter};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::config::Config;

/// How often the relay publishes events written since its last pass.
const RELAY_TICK: Duration = Duration::from_millis(100);

/// How long published events are kept by default (for `Last-Event-ID` resumes and inactive webhooks).
pub const DEFAULT_EVENT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// How often old events are removed.
const EVENT_PRUNE_INTERVAL: Duration = Duration::from_secs(3600);

/// How often expired access tokens are removed.
const TOKEN_SWEEP_INTERVAL: Duration = Duration::from_secs(3600);

/// What a server is built from.
#[derive(Debug)]
pub struct Wiring {
    /// Storage.
    pub store: Arc<dyn Store>,
    /// The URL clients and browsers reach Coupler at.
    pub public_url: Url,
    /// Encrypts secrets at rest (`COUPLER_SECRET_KEY`).
    pub cipher: Cipher,
    /// The vehicle vendors Coupler talks to.
    pub adapters: AdapterRegistry,
    /// How the engine paces itself.
    pub engine: EngineConfig,
    /// A simulated OEM cloud to serve under `/sim`, if any.
    pub simulated_oem: Option<SimCloud>,
    /// The URL chargers connect to (`ws(s)://...`), without `/ocpp/...`.
    pub ocpp_url: Url,
    /// How the OCPP gateway behaves.
    pub gateway: GatewayConfig,
    /// How charger actions are carried out.
    pub chargers: ChargerEngineConfig,
    /// How webhooks are delivered.
    pub webhooks: WebhookConfig,
    /// How long published events are kept (each asset's latest is kept regardless).
    pub event_retention: Duration,
    /// How vehicles are matched with chargers.
    pub pairing: PairingConfig,
    /// Sandbox mode: the sandbox API over the simulated OEM cloud (which must be set too) and
    /// simulated chargers.
    pub sandbox: Option<SandboxWiring>,
    /// The clock of the engine and the gateway (the system clock; a test may lend a manual one).
    pub clock: Arc<dyn Clock>,
}

/// What sandbox mode needs beyond the simulated OEM cloud.
#[derive(Debug, Clone, Default)]
pub struct SandboxWiring {
    /// Where the sandbox keeps its simulated chargers (with their passwords encrypted), so they
    /// reconnect after a restart; `None` keeps them in memory only.
    pub state_file: Option<PathBuf>,
}

impl Wiring {
    /// A store and public URL with nothing else configured: a fresh random key, no vendors.
    pub fn minimal(store: Arc<dyn Store>, public_url: Url) -> Self {
        Self {
            store,
            cipher: Cipher::new(&SecretKey::generate()),
            adapters: AdapterRegistry::new(),
            engine: EngineConfig::default(),
            simulated_oem: None,
            ocpp_url: websocket_url(&public_url),
            gateway: GatewayConfig::default(),
            chargers: ChargerEngineConfig::default(),
            webhooks: WebhookConfig::default(),
            event_retention: DEFAULT_EVENT_RETENTION,
            pairing: PairingConfig::default(),
            sandbox: None,
            public_url,
            clock: Arc::new(SystemClock),
        }
    }
}

/// `http(s)://` becomes `ws(s)://`.
fn websocket_url(url: &Url) -> Url {
    let mut ws = url.clone();
    let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
    // Switching between these special schemes always succeeds.
    let _ = ws.set_scheme(scheme);
    ws
}

/// The longest meter sample interval the sandbox sets on chargers, seconds.
pub const SANDBOX_METER_INTERVAL_SECS: u64 = 10;

/// The OAuth client id Coupler uses at the simulated OEM cloud it serves itself.
pub const SIMULATED_CLIENT_ID: &str = "coupler";

/// Serves the simulated OEM cloud under `{public_url}/sim` and registers an adapter per brand.
fn mount_simulated_oem(public_url: &Url, adapters: &mut AdapterRegistry, sandbox: bool) -> anyhow::Result<SimCloud> {
    let config = if sandbox {
        sandbox_sim_config()
    } else {
        SimConfig::default()
    };
    simulated_oem(public_url, adapters, SimCloud::with_demo_accounts(config))
}

/// How the sandbox's simulated makers behave.
pub fn sandbox_sim_config() -> SimConfig {
    // A demo should show state of charge moving within minutes; the maker's cloud lags 10 s behind
    // its cars, so the charger (which reports at once) is seen first.
    SimConfig {
        charge_speedup: 30.0,
        report_interval: Duration::from_secs(10),
        ..SimConfig::default()
    }
}

/// Registers `cloud`, served under `{public_url}/sim`, as the simulated makers: Coupler's OAuth
/// client at it, and an adapter per brand.
pub fn simulated_oem(public_url: &Url, adapters: &mut AdapterRegistry, cloud: SimCloud) -> anyhow::Result<SimCloud> {
    // A secret for this process only: the simulated cloud lives exactly as long.
    let secret = generate_secret();
    let base = format!("{}/sim", public_url.as_str().trim_end_matches('/'));
    let callback = format!(
        "{}{}",
        public_url.as_str().trim_end_matches('/'),
        coupler_api::routes::link_pages::CALLBACK_PATH
    );
    cloud.register_client(SIMULATED_CLIENT_ID, &secret, &callback);
    for brand in Brand::ALL {
        let adapter = SimulatedAdapter::new(brand, &base, SIMULATED_CLIENT_ID, &secret)
            .with_context(|| format!("cannot build the simulated adapter at {base}"))?;
        adapters.register(Arc::new(adapter));
    }
    Ok(cloud)
}

/// The adapters for the real vendors whose clients are configured.
fn real_vendor_adapters(config: &Config, adapters: &mut AdapterRegistry) -> anyhow::Result<()> {
    if let Some(tesla) = &config.tesla {
        let adapter = coupler_tesla::TeslaAdapter::new(coupler_tesla::TeslaConfig {
            client_id: tesla.client_id.clone(),
            client_secret: tesla.client_secret.clone(),
            command_proxy_url: tesla.command_proxy_url.clone(),
            ..coupler_tesla::TeslaConfig::production()
        })
        .context("cannot configure the Tesla adapter")?;
        adapters.register(Arc::new(adapter));
    }
    if let Some(smartcar) = &config.smartcar {
        let adapter = coupler_smartcar::SmartcarAdapter::new(coupler_smartcar::SmartcarConfig {
            client_id: smartcar.client_id.clone(),
            client_secret: smartcar.client_secret.clone(),
            mode: smartcar.mode.clone(),
            ..coupler_smartcar::SmartcarConfig::production()
        })
        .context("cannot configure the Smartcar adapter")?;
        adapters.register(Arc::new(adapter));
    }
    Ok(())
}

/// A running Coupler: its address, its state, and the means to stop it.
#[derive(Debug)]
pub struct Server {
    /// The address the listener is bound to.
    pub addr: SocketAddr,
    /// The URL clients and chargers reach it at.
    pub public_url: Url,
    /// The application state (storage and friends), for callers that need to reach in (tests).
    pub state: AppState,
    /// The simulated OEM cloud served under `/sim`, when enabled.
    pub simulated_oem: Option<SimCloud>,
    /// The address of the separate OCPP listener, when there is one.
    pub ocpp_addr: Option<SocketAddr>,
    /// The charger gateway.
    pub gateway: Gateway,
    /// The sandbox, in sandbox mode.
    pub sandbox: Option<Arc<SimSandbox>>,
    shutdown: CancellationToken,
    serving: Vec<JoinHandle<std::io::Result<()>>>,
    background: Vec<JoinHandle<()>>,
}

impl Server {
    /// Opens the database (migrating it), binds the listener, and starts serving.
    pub async fn start(config: &Config) -> anyhow::Result<Self> {
        Self::start_with(config, false).await
    }

    /// [`Server::start`], with the sandbox's settings when `sandbox` is set.
    pub async fn start_with(config: &Config, sandbox: bool) -> anyhow::Result<Self> {
        let store = coupler_store::open(&config.database_url).await.with_context(|| {
            format!(
                "cannot open the database {}",
                coupler_store::redact_url(&config.database_url)
            )
        })?;
        // Resolved now so a missing or broken key stops start-up rather than a later request.
        let secret_key = config.resolve_secret_key()?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let addr = listener.local_addr()?;
        let public_url = match &config.public_url {
            Some(url) => url.clone(),
            None => Url::parse(&format!("http://{addr}"))?,
        };
        let mut adapters = AdapterRegistry::new();
        let simulated_oem = if config.simulated_oem || sandbox {
            Some(mount_simulated_oem(&public_url, &mut adapters, sandbox)?)
        } else {
            None
        };
        real_vendor_adapters(config, &mut adapters)?;
        let ocpp_listener = match config.ocpp_listen {
            Some(ocpp) => Some(
                TcpListener::bind(ocpp)
                    .await
                    .with_context(|| format!("cannot listen on {ocpp} for OCPP"))?,
            ),
            None => None,
        };
        let mut ocpp_url = websocket_url(&public_url);
        if let Some(ocpp) = &ocpp_listener {
            ocpp_url = Url::parse(&format!("ws://{}", ocpp.local_addr()?))?;
        }
        if let Some(url) = &config.ocpp_public_url {
            ocpp_url = url.clone();
        }
        let gateway = GatewayConfig {
            admit_unknown: config.ocpp_admit_unknown,
            require_tls: config.ocpp_require_tls,
            call_timeout: Duration::from_secs(config.ocpp_call_timeout),
            heartbeat_interval: Duration::from_secs(config.ocpp_heartbeat_interval),
            // A demo shows power within seconds: the sandbox asks for meter values every 10 s at most.
            meter_sample_interval: Duration::from_secs(if sandbox {
                config.ocpp_meter_interval.min(SANDBOX_METER_INTERVAL_SECS)
            } else {
                config.ocpp_meter_interval
            }),
            ..GatewayConfig::default()
        };
        let chargers = ChargerEngineConfig {
            action_timeout: Duration::from_secs(config.action_timeout),
            ..ChargerEngineConfig::default()
        };
        let sandbox = sandbox.then(|| SandboxWiring {
            state_file: config.sqlite_path().map(|db| {
                let mut name = db.into_os_string();
                name.push(".sandbox.json");
                PathBuf::from(name)
            }),
        });
        let webhooks = WebhookConfig {
            allow_private: config.webhook_allow_private,
            retry: RetryPolicy {
                first_delay: Duration::from_secs(config.webhook_retry_first_delay),
                max_delay: Duration::from_secs(config.webhook_retry_max_delay),
                give_up_after: Duration::from_secs(config.webhook_retry_for),
            },
            ..WebhookConfig::default()
        };
        Self::serve_with(
            listener,
            ocpp_listener,
            Wiring {
                store,
                public_url,
                cipher: Cipher::new(&secret_key),
                adapters,
                engine: EngineConfig::default(),
                simulated_oem,
                ocpp_url,
                gateway,
                chargers,
                webhooks,
                event_retention: Duration::from_secs(config.event_retention_days * 24 * 3600),
                pairing: PairingConfig::default(),
                sandbox,
                clock: Arc::new(SystemClock),
            },
        )
        .await
    }

    /// Serves on an already bound listener with an already open store, and nothing else configured
    /// (a random secret key, no vehicle vendors).
    pub async fn serve_on(listener: TcpListener, store: Arc<dyn Store>, public_url: Url) -> anyhow::Result<Self> {
        Self::serve_with(listener, None, Wiring::minimal(store, public_url)).await
    }

    /// Serves on an already bound listener with everything given.
    pub async fn serve_with(
        listener: TcpListener,
        ocpp_listener: Option<TcpListener>,
        wiring: Wiring,
    ) -> anyhow::Result<Self> {
        let Wiring {
            store,
            public_url,
            cipher,
            adapters,
            engine,
            simulated_oem,
            ocpp_url,
            gateway,
            chargers,
            webhooks,
            event_retention,
            pairing,
            sandbox,
            clock,
        } = wiring;
        let addr = listener.local_addr()?;
        // No connection survives a restart: whatever the last run recorded as connected is not.
        let stale = store.mark_all_disconnected().await?;
        if stale > 0 {
            tracing::info!(chargers = stale, "cleared connections left from the previous run");
        }
        let gateway = Gateway::with_clock(store.clone(), gateway, clock.clone());
        let vendors: Vec<String> = adapters.all().map(|a| a.description().vendor.to_string()).collect();
        let engine = Arc::new(
            Engine::new(
                store.clone(),
                cipher.clone(),
                adapters,
                Arc::new(gateway.clone()),
                engine,
                chargers,
            )
            .with_clock(clock),
        );
        let sender = WebhookSender::new(&webhooks).context("cannot build the webhook HTTP client")?;
        let pairing = Arc::new(Pairing::new(store.clone(), engine.clone(), pairing));
        let sandbox = match (sandbox, &simulated_oem) {
            (Some(wiring), Some(cloud)) => Some(Arc::new(SimSandbox::new(
                cloud.clone(),
                cipher.clone(),
                wiring.state_file,
            ))),
            (Some(_), None) => anyhow::bail!("sandbox mode needs the simulated OEM cloud"),
            (None, _) => None,
        };
        let state = AppState::new(App {
            store: store.clone(),
            public_url: public_url.clone(),
            token_ttl: coupler_api::routes::oauth::DEFAULT_TOKEN_TTL,
            metrics: Metrics::default(),
            cipher,
            engine: engine.clone(),
            pairing: pairing.clone(),
            ocpp_base_url: ocpp_url.clone(),
            sandbox: sandbox.clone().map(|s| s as Arc<dyn coupler_core::sandbox::Sandbox>),
            webhooks: sender.clone(),
        });
        let shutdown = CancellationToken::new();
        let mut router = coupler_api::router_with(state.clone(), gateway.router());
        if let Some(cloud) = &simulated_oem {
            // Outside the API's layers: the simulated maker answers in its own formats, as a real one.
            router = router.nest("/sim", cloud.router());
        }
        let mut serving = vec![spawn_server(listener, router, shutdown.clone())];
        let ocpp_addr = match ocpp_listener {
            Some(ocpp) => {
                let ocpp_addr = ocpp.local_addr()?;
                serving.push(spawn_server(ocpp, gateway.router(), shutdown.clone()));
                Some(ocpp_addr)
            }
            None => None,
        };
        if let Some(sandbox) = &sandbox {
            restore_sandbox_chargers(sandbox, store.as_ref(), &ocpp_url).await;
        }
        let mut background = vec![
            tokio::spawn(sweep_expired_tokens(store.clone(), shutdown.clone())),
            tokio::spawn(prune_old_events(store.clone(), event_retention, shutdown.clone())),
        ];
        background.extend(engine.spawn(shutdown.clone()));
        // Events committed before a crash are still unpublished or undelivered in the database;
        // these two pick them up at once.
        background.push(coupler_api::relay::spawn(state.clone(), RELAY_TICK, shutdown.clone()));
        background.push(coupler_engine::webhooks::spawn(
            store.clone(),
            state.cipher.clone(),
            sender,
            webhooks,
            shutdown.clone(),
        ));
        background.extend(pairing.spawn(gateway.subscribe_plug_changes(), shutdown.clone()));
        tracing::info!(%addr, %public_url, %ocpp_url, database = store.backend(), vendors = ?vendors, "coupler is serving");
        Ok(Self {
            addr,
            public_url,
            state,
            simulated_oem,
            ocpp_addr,
            gateway,
            sandbox,
            shutdown,
            serving,
            background,
        })
    }

    /// A token that stops the server when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops accepting connections, lets requests in flight finish, and waits for it all to end.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.wait().await
    }

    /// Waits until the server has stopped (after its shutdown token is cancelled).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.shutdown.cancelled().await;
        if let Some(sandbox) = &self.sandbox {
            sandbox.stop();
        }
        // axum's graceful shutdown does not wait for upgraded connections; the gateway closes its
        // WebSockets itself, with a close frame, before the listeners finish draining.
        self.gateway.shutdown().await;
        self.state.engine.stopped().await;
        for task in self.serving {
            task.await.context("a server task failed")??;
        }
        for task in self.background {
            let _ = task.await;
        }
        tracing::info!("coupler has stopped");
        Ok(())
    }
}

fn spawn_server(
    listener: TcpListener,
    router: axum::Router,
    shutdown: CancellationToken,
) -> JoinHandle<std::io::Result<()>> {
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
    })
}

/// Reconnects the simulated chargers of the previous run that are still registered in Coupler.
async fn restore_sandbox_chargers(sandbox: &SimSandbox, store: &dyn Store, ocpp_url: &Url) {
    let mut registered = HashSet::new();
    for (client, charger) in sandbox.saved_chargers() {
        match store.get_charger(&client, &charger).await {
            Ok(Some(_)) => {
                registered.insert((client, charger));
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot check a saved sandbox charger"),
        }
    }
    let restored = sandbox.restore(ocpp_url.as_str(), |client, charger| {
        registered.contains(&(client.clone(), charger.clone()))
    });
    if restored > 0 {
        tracing::info!(chargers = restored, "reconnecting the sandbox's simulated chargers");
    }
}

/// Removes expired access tokens now and then, so the table does not grow without bound.
async fn sweep_expired_tokens(store: Arc<dyn Store>, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(TOKEN_SWEEP_INTERVAL);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        match store.delete_expired_tokens(coupler_core::time::now()).await {
            Ok(0) => {}
            Ok(removed) => tracing::debug!(removed, "removed expired access tokens"),
            Err(e) => tracing::warn!(error = %e, "could not remove expired access tokens"),
        }
    }
}

/// Removes published events older than `retention` now and then (each asset's latest stays).
async fn prune_old_events(store: Arc<dyn Store>, retention: Duration, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(EVENT_PRUNE_INTERVAL);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        let before = coupler_core::time::now() - retention;
        match store.prune_events(before).await {
            Ok(0) => {}
            Ok(removed) => tracing::debug!(removed, "removed old events"),
            Err(e) => tracing::warn!(error = %e, "could not remove old events"),
        }
    }
}

/// Resolves when the process is asked to stop (SIGINT or SIGTERM).
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => tracing::info!("SIGINT received, shutting down"),
        _ = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}
