//! Running Coupler: open the store, build the application from the settings tree, serve until told
//! to stop. The [`Server`] owns the one [`Tasks`] (cancellation token and task tracker) that every
//! component runs its background work on, so stopping is one path: cancel, then wait for them all.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context;
use coupler_api::limits::{RateLimitConfig, RateLimits};
use coupler_api::metrics::Metrics;
use coupler_api::{App, AppState};
use coupler_core::account::Secret;
use coupler_core::clock::{Clock, ScaledClock, SystemClock};
use coupler_core::node::NodeId;
use coupler_core::secret::{generate_secret, Cipher, SecretKey};
use coupler_core::tariff::{PriceArea, PriceProviders};
use coupler_core::{AdapterRegistry, Store};
use coupler_engine::singleton::{jobs, Leases, Singleton};
use coupler_engine::smart::{PlanKeeper, SmartConfig};
use coupler_engine::webhooks::{WebhookConfig, WebhookSender};
use coupler_engine::{ChargerEngineConfig, Engine, EngineConfig, Pairing, PairingConfig, PriceConfig};
use coupler_gateway::{Gateway, GatewayConfig};
use coupler_simulated::{Brand, SandboxPrices, SimCloud, SimConfig, SimSandbox, SimulatedAdapter};
use coupler_tasks::Tasks;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::config::Config;

/// What a server is built from: the components' configs as the settings tree describes them
/// ([`Wiring::minimal`] for the defaults; tests tune fields directly), and what is not a setting.
#[derive(Debug)]
pub struct Wiring {
    /// The database every component reads and writes.
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
    /// How often old events are removed.
    pub event_prune_interval: Duration,
    /// How often the relay publishes events written since its last pass.
    pub relay_tick: Duration,
    /// How long an access token lasts.
    pub token_ttl: Duration,
    /// How often expired access tokens are removed.
    pub token_sweep_interval: Duration,
    /// How vehicles are matched with chargers.
    pub pairing: PairingConfig,
    /// Rate limits on `/oauth/token`, the API and failed authentications.
    pub rate_limits: RateLimitConfig,
    /// How often every active webhook gets a heartbeat.
    pub heartbeat_interval: Duration,
    /// The bearer token `/metrics` requires, if any.
    pub metrics_token: Option<Secret>,
    /// A listener of its own for `/metrics`; when given, the API listener answers `/metrics` with 404.
    pub metrics_listener: Option<TcpListener>,
    /// Sandbox mode: the sandbox API over the simulated OEM cloud (which must be set too) and
    /// simulated chargers.
    pub sandbox: Option<SandboxWiring>,
    /// The clock of the engine and the gateway (the system clock; a test may lend a manual one).
    pub clock: Arc<dyn Clock>,
    /// The day-ahead price providers (sandbox mode adds the sandbox's daily curve).
    pub price_providers: PriceProviders,
    /// How often the price fetcher asks each provider.
    pub prices: PriceConfig,
    /// How smart charging makes and keeps plans.
    pub smart: SmartConfig,
    /// TLS served by Coupler itself on the API and OCPP listeners; `None` serves plain HTTP.
    pub tls: Option<coupler_api::tls::TlsServer>,
    /// This node's id among the nodes sharing the database; `None` is `coupler` on SQLite (the only
    /// node) and a generated id on PostgreSQL.
    pub node: Option<NodeId>,
    /// How long this node's lease lasts unless renewed (renewed at a third of it); a node that dies
    /// loses its chargers to the others after this long.
    pub node_lease: Duration,
}

/// What sandbox mode needs beyond the simulated OEM cloud.
#[derive(Debug, Clone, Default)]
pub struct SandboxWiring {
    /// Where the sandbox keeps its simulated chargers (with their passwords encrypted), so they
    /// reconnect after a restart; `None` keeps them in memory only.
    pub state_file: Option<PathBuf>,
    /// The sandbox's time: the simulated OEM cloud's clock and [`Wiring::clock`] both, so that
    /// `PUT /sandbox/clock` speeds up Coupler and the simulated world together.
    pub clock: Arc<ScaledClock>,
}

impl Wiring {
    /// A store and public URL with nothing else configured: a fresh random key, no vendors, every
    /// setting at its default.
    pub fn minimal(store: Arc<dyn Store>, public_url: Url) -> Self {
        Self::from_config(
            &Config::default(),
            store,
            public_url,
            Cipher::new(&SecretKey::generate()),
        )
    }

    /// The wiring `config` describes, with no vendors, no simulated makers, no sandbox and no
    /// metrics listener yet.
    fn from_config(config: &Config, store: Arc<dyn Store>, public_url: Url, cipher: Cipher) -> Self {
        Self {
            store,
            cipher,
            adapters: AdapterRegistry::new(),
            engine: config.engine(),
            simulated_oem: None,
            ocpp_url: websocket_url(&public_url),
            gateway: config.gateway(),
            chargers: config.chargers(),
            webhooks: config.webhooks(),
            event_retention: config.events.retention_days.duration(),
            event_prune_interval: config.events.prune_interval,
            relay_tick: config.events.relay_tick,
            token_ttl: config.http.token_ttl,
            token_sweep_interval: config.http.token_sweep_interval,
            pairing: config.pairing(),
            rate_limits: config.rate_limits(),
            heartbeat_interval: config.webhooks.heartbeat_interval,
            metrics_token: config.metrics.token.as_ref().map(|token| token.0.clone()),
            // Binding is asynchronous: `Server::start` binds `[metrics] listen` and sets it.
            metrics_listener: None,
            sandbox: None,
            public_url,
            clock: Arc::new(SystemClock),
            price_providers: config.price_providers(),
            prices: config.prices(),
            smart: config.smart_charging(),
            // Reading the files is start-up's work (`Server::start_with`).
            tls: None,
            node: None,
            node_lease: config.node.lease,
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

/// The OAuth client id Coupler uses at the simulated OEM cloud it serves itself.
pub const SIMULATED_CLIENT_ID: &str = "coupler";

/// Serves the simulated OEM cloud under `{public_url}/sim` and registers an adapter per brand.
fn mount_simulated_oem(
    public_url: &Url,
    adapters: &mut AdapterRegistry,
    config: &Config,
    sandbox_clock: Option<Arc<ScaledClock>>,
) -> anyhow::Result<SimCloud> {
    let sim = if sandbox_clock.is_some() {
        // A demo should show state of charge moving within minutes; the maker's cloud lags behind
        // its cars, so the charger (which reports at once) is seen first.
        SimConfig {
            charge_speedup: config.sandbox.charge_speedup,
            report_interval: config.sandbox.maker_report_interval,
            ..SimConfig::default()
        }
    } else {
        SimConfig::default()
    };
    let mut cloud = SimCloud::with_demo_accounts(sim);
    if let Some(clock) = sandbox_clock {
        cloud = cloud.with_clock(clock);
    }
    simulated_oem(public_url, adapters, cloud)
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
    if let (Some(client_id), Some(client_secret)) = (&config.tesla.client_id, &config.tesla.client_secret) {
        let adapter = coupler_tesla::TeslaAdapter::new(coupler_tesla::TeslaConfig {
            client_id: client_id.clone(),
            client_secret: client_secret.clone(),
            command_proxy_url: config.tesla.command_proxy_url.as_ref().map(|url| url.0.clone()),
            ..coupler_tesla::TeslaConfig::production()
        })
        .context("cannot configure the Tesla adapter")?;
        adapters.register(Arc::new(adapter));
    }
    if let (Some(client_id), Some(client_secret)) = (&config.smartcar.client_id, &config.smartcar.client_secret) {
        let adapter = coupler_smartcar::SmartcarAdapter::new(coupler_smartcar::SmartcarConfig {
            client_id: client_id.clone(),
            client_secret: client_secret.clone(),
            mode: config.smartcar.mode.as_str().to_owned(),
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
    /// The address of the separate `/metrics` listener, when there is one.
    pub metrics_addr: Option<SocketAddr>,
    /// The charger gateway.
    pub gateway: Gateway,
    /// The sandbox, in sandbox mode.
    pub sandbox: Option<Arc<SimSandbox>>,
    /// The one token and tracker every component runs its tasks on: the one shutdown path.
    tasks: Tasks,
    /// Why a listener stopped serving, when it failed (which also stops the server).
    serve_failure: Arc<Mutex<Option<std::io::Error>>>,
}

impl Server {
    /// Opens the database (migrating it), binds the listener, and starts serving.
    pub async fn start(config: &Config) -> anyhow::Result<Self> {
        Self::start_with(config, false).await
    }

    /// [`Server::start`], in sandbox mode when `sandbox` is set: the simulated makers at the
    /// sandbox's pace and the `/sandbox` API. `config` is expected to come from
    /// [`Config::from_layers`] with the same flag, which picks the sandbox's database and meter pace.
    pub async fn start_with(config: &Config, sandbox: bool) -> anyhow::Result<Self> {
        let database_url = &config.store.database_url;
        let store = coupler_store::open_with_pool(database_url, config.store.pool_size)
            .await
            .with_context(|| format!("cannot open the database {}", coupler_store::redact_url(database_url)))?;
        // Resolved now so a missing or broken key stops start-up rather than a later request.
        let secret_key = config.resolve_secret_key()?;
        let listen = config.http.listen;
        let reuse_port = config.http.reuse_port;
        let listener = bind(listen, reuse_port).with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        let tls = config.tls_acceptor()?;
        let public_url = match &config.http.public_url {
            Some(url) => url.0.clone(),
            None if tls.is_some() => Url::parse(&format!("https://{addr}"))?,
            None => Url::parse(&format!("http://{addr}"))?,
        };
        let mut wiring = Wiring::from_config(config, store, public_url.clone(), Cipher::new(&secret_key));
        // In sandbox mode Coupler and the simulated world share one clock that can run fast.
        let sandbox_clock = Arc::new(ScaledClock::over(wiring.clock.clone()));
        if sandbox {
            wiring.clock = sandbox_clock.clone();
        }
        wiring.gateway.signing_ca = config.signing_ca()?;
        if let Some(ca) = &wiring.gateway.signing_ca {
            tracing::info!(ca = ca.subject(), "signing chargers' certificates");
        }
        if config.sandbox.simulated_oem || sandbox {
            wiring.simulated_oem = Some(mount_simulated_oem(
                &public_url,
                &mut wiring.adapters,
                config,
                sandbox.then(|| sandbox_clock.clone()),
            )?);
        }
        real_vendor_adapters(config, &mut wiring.adapters)?;
        let ocpp_listener = match config.ocpp.listen {
            Some(ocpp) => Some(bind(ocpp, reuse_port).with_context(|| format!("cannot listen on {ocpp} for OCPP"))?),
            None => None,
        };
        if let Some(metrics) = config.metrics.listen {
            wiring.metrics_listener = Some(
                TcpListener::bind(metrics)
                    .await
                    .with_context(|| format!("cannot listen on {metrics} for /metrics"))?,
            );
        }
        if let Some(ocpp) = &ocpp_listener {
            let scheme = if tls.is_some() { "wss" } else { "ws" };
            wiring.ocpp_url = Url::parse(&format!("{scheme}://{}", ocpp.local_addr()?))?;
        }
        wiring.tls = tls;
        wiring.node = config
            .node
            .id
            .as_deref()
            .map(NodeId::parse)
            .transpose()
            .context("COUPLER_NODE_ID")?;
        if let Some(url) = &config.ocpp.public_url {
            wiring.ocpp_url = url.0.clone();
        }
        wiring.sandbox = sandbox.then(|| SandboxWiring {
            state_file: config.sqlite_path().map(|db| {
                let mut name = db.into_os_string();
                name.push(".sandbox.json");
                PathBuf::from(name)
            }),
            clock: sandbox_clock,
        });
        Self::serve_with(listener, ocpp_listener, wiring).await
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
            mut gateway,
            chargers,
            webhooks,
            event_retention,
            event_prune_interval,
            relay_tick,
            token_ttl,
            token_sweep_interval,
            pairing,
            rate_limits,
            heartbeat_interval,
            metrics_token,
            metrics_listener,
            sandbox,
            clock,
            mut price_providers,
            smart,
            prices,
            tls,
            node,
            node_lease,
        } = wiring;
        let addr = listener.local_addr()?;
        let shared = store.backend() != "sqlite";
        let node = match node {
            Some(node) => node,
            // SQLite is one process's: its only node, the same one after a restart.
            None if !shared => NodeId::single(),
            None => NodeId::generate(),
        };
        if !shared {
            // No connection survives a restart: whatever the last run recorded as connected is
            // not. (On PostgreSQL other nodes hold theirs; this node's own are let go when it
            // joins, and those of nodes that died when their leases lapse.)
            let stale = store.mark_all_disconnected().await?;
            if stale > 0 {
                tracing::info!(chargers = stale, "cleared connections left from the previous run");
            }
        }
        // Nor does any call in flight: operations this node's previous run (or a node that died)
        // still waited on will get no answer. Those of other live nodes are theirs.
        let interrupted = store.interrupt_unanswered_operations(&node, clock.now()).await?;
        if interrupted > 0 {
            tracing::info!(
                operations = interrupted,
                "failed operations left unanswered by the previous run or by nodes that died"
            );
        }
        // One token and one tracker for the whole server, lent to every component.
        let tasks = Tasks::new();
        if sandbox.is_some() {
            // The sandbox's chargers fill batteries faster than real time: their rises are not judged.
            gateway.judge_power = false;
        }
        gateway.node = node.clone();
        let gateway = Gateway::with_clock(store.clone(), gateway, tasks.clone(), clock.clone());
        gateway
            .join(node_lease)
            .await
            .context("cannot register this node in the database")?;
        // The jobs that run on one node at a time, under leases as long as the node's.
        let leases = Leases::new(store.clone(), node.clone(), node_lease);
        let vendors: Vec<String> = adapters.all().map(|a| a.description().vendor.to_string()).collect();
        if sandbox.is_some() && price_providers.fallback().is_none() {
            add_sandbox_prices(&mut price_providers, clock.clone());
        }
        let engine = Arc::new(
            Engine::new(
                store.clone(),
                cipher.clone(),
                adapters,
                Arc::new(gateway.clone()),
                engine,
                chargers,
            )
            .with_clock(clock)
            .with_node(node.clone())
            .with_leases(leases.clone())
            .with_prices(price_providers, prices),
        );
        let sender = WebhookSender::new(&webhooks).context("cannot build the webhook HTTP client")?;
        let pairing = Arc::new(Pairing::new(store.clone(), engine.clone(), pairing));
        let smart = PlanKeeper::new(engine.clone(), smart);
        let flex = coupler_engine::flex::FlexKeeper::new(engine.clone());
        let sandbox = match (sandbox, &simulated_oem) {
            (Some(wiring), Some(cloud)) => {
                let sandbox = Arc::new(SimSandbox::new(
                    cloud.clone(),
                    cipher.clone(),
                    wiring.state_file,
                    tasks.clone(),
                    wiring.clock,
                ));
                sandbox.spawn_commutes();
                Some(sandbox)
            }
            (Some(_), None) => anyhow::bail!("sandbox mode needs the simulated OEM cloud"),
            (None, _) => None,
        };
        let metrics = Metrics::new(metrics_token.map(|token| token.expose().to_owned()));
        let metrics = match &metrics_listener {
            Some(_) => metrics.on_own_listener(),
            None => metrics,
        };
        let state = AppState::new(App {
            store: store.clone(),
            public_url: public_url.clone(),
            token_ttl,
            metrics,
            cipher,
            engine: engine.clone(),
            pairing: pairing.clone(),
            ocpp_base_url: ocpp_url.clone(),
            sandbox: sandbox.clone().map(|s| s as Arc<dyn coupler_core::sandbox::Sandbox>),
            webhooks: sender.clone(),
            tasks: tasks.clone(),
            limits: RateLimits::new(rate_limits),
            smart: smart.clone(),
            flex: flex.clone(),
        });
        let serve_failure = Arc::new(Mutex::new(None));
        let mut router = coupler_api::router_with(
            state.clone(),
            gateway.router().merge(coupler_console::router(state.clone())),
        );
        if let Some(cloud) = &simulated_oem {
            // Outside the API's layers: the simulated maker answers in its own formats, as a real one.
            router = router.nest("/sim", cloud.router());
        }
        if tls.is_some() {
            tracing::info!("serving TLS (https and wss) on the API and OCPP listeners");
        }
        spawn_server("api listener", listener, router, tls.clone(), &tasks, &serve_failure);
        let ocpp_addr = match ocpp_listener {
            Some(ocpp) => {
                let ocpp_addr = ocpp.local_addr()?;
                spawn_server(
                    "ocpp listener",
                    ocpp,
                    gateway.router(),
                    tls.clone(),
                    &tasks,
                    &serve_failure,
                );
                Some(ocpp_addr)
            }
            None => None,
        };
        let metrics_addr = match metrics_listener {
            Some(metrics) => {
                let metrics_addr = metrics.local_addr()?;
                // Plain HTTP: a scraper on the operator's network, apart from chargers and clients.
                spawn_server(
                    "metrics listener",
                    metrics,
                    coupler_api::metrics_router(state.clone()),
                    None,
                    &tasks,
                    &serve_failure,
                );
                tracing::info!(%metrics_addr, "serving /metrics on its own listener");
                Some(metrics_addr)
            }
            None => None,
        };
        if let Some(sandbox) = &sandbox {
            restore_sandbox_chargers(sandbox, store.as_ref(), &ocpp_url).await;
        }
        tasks.spawn(
            "token sweeper",
            sweep_expired_tokens(
                store.clone(),
                token_sweep_interval,
                leases.singleton(jobs::TOKEN_SWEEPER),
                tasks.token().clone(),
            ),
        );
        tasks.spawn(
            "event pruner",
            prune_old_events(
                store.clone(),
                Retention {
                    keep: event_retention,
                    every: event_prune_interval,
                },
                leases.singleton(jobs::EVENT_PRUNER),
                tasks.token().clone(),
            ),
        );
        engine.spawn(&tasks);
        // Events committed before a crash are still unpublished or undelivered in the database;
        // these two pick them up at once.
        coupler_api::relay::spawn(state.clone(), relay_tick, &tasks);
        coupler_api::heartbeat::spawn(state.clone(), heartbeat_interval, &tasks);
        coupler_engine::webhooks::spawn(
            store.clone(),
            state.cipher.clone(),
            sender,
            webhooks,
            engine.clock().clone(),
            &tasks,
        );
        // Plug changes, vehicle reads and pairing changes made here reach pairing and plans wherever
        // they run, through the signal bus.
        coupler_engine::wakeups::spawn_forwarder(
            engine.clone(),
            gateway.subscribe_plug_changes(),
            pairing.subscribe_pair_changes(),
            &tasks,
        );
        pairing.spawn(store.signals().subscribe(), &tasks);
        // Limit sources go on chargers at start-up, after each connect or boot, at every window
        // edge, and on on/off chargers' plug changes; location limits reach vehicles that charge
        // without a Coupler charger through their makers.
        engine
            .limits()
            .spawn(gateway.subscribe_ready(), gateway.subscribe_plug_changes(), &tasks);
        coupler_engine::limits::spawn_vehicle_limits(engine.clone(), store.signals().subscribe(), &tasks);
        // Local authorisation lists follow connects, boots and (through the API) token changes.
        coupler_engine::local_lists::spawn_local_lists(engine.clone(), gateway.subscribe_ready(), &tasks);
        // Flexibility events: each target's cap confirmed at its start, vehicles commanded.
        flex.spawn(&tasks);
        coupler_api::openadr::spawn(state.clone(), &tasks);
        // Overrides of open events, from the meter.
        coupler_engine::telemetry::OverrideWatcher::new(
            engine.clone(),
            smart.config().phase_voltage,
            smart.config().phases,
        )
        .spawn(&tasks);
        // Plans follow plug-ins, pairings, vehicle reads, other limits and their own timers.
        smart.spawn(store.signals().subscribe(), &tasks);
        // Every job's loop has asked for its job by now: they are claimed at once.
        leases.spawn(&tasks);
        tracing::info!(%addr, %public_url, %ocpp_url, %node, database = store.backend(), vendors = %vendors.join(","), "coupler is serving");
        Ok(Self {
            addr,
            public_url,
            state,
            simulated_oem,
            ocpp_addr,
            metrics_addr,
            gateway,
            sandbox,
            tasks,
            serve_failure,
        })
    }

    /// The server's tasks: cancelling their token stops the server; tests spawn on them too.
    pub fn tasks(&self) -> &Tasks {
        &self.tasks
    }

    /// Stops accepting connections, lets requests in flight finish, and waits for it all to end.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.tasks.stop();
        self.wait().await
    }

    /// Waits until the server has been told to stop (its tasks' token cancelled: a signal,
    /// [`Server::stop`], or a listener that failed), then stops everything on the one path: every
    /// component's tasks watch the same token, and the one tracker waits for them all, the
    /// gateway's WebSocket sessions (closed with a close frame) included.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.tasks.stopping().await;
        tracing::info!("coupler is stopping");
        self.tasks.shutdown().await;
        let panicked = self.tasks.panicked();
        if !panicked.is_empty() {
            tracing::error!(tasks = ?panicked, "coupler stopped after background tasks panicked");
        }
        let failure = self.serve_failure.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(e) = failure {
            return Err(e).context("a listener stopped serving");
        }
        tracing::info!("coupler has stopped");
        Ok(())
    }
}

/// Serves `router` on `listener` until the tasks stop; a listener that fails stops the server
/// (rather than leaving it half alive) and its error is returned by [`Server::wait`].
fn spawn_server(
    name: &'static str,
    listener: TcpListener,
    router: axum::Router,
    tls: Option<coupler_api::tls::TlsServer>,
    tasks: &Tasks,
    failure: &Arc<Mutex<Option<std::io::Error>>>,
) {
    let (stopping, failure) = (tasks.clone(), failure.clone());
    tasks.spawn(name, async move {
        // Coupler's own serve loop (hyper's limits raised so 414 and 431 answer as problems).
        let served = coupler_api::serve::serve_with_tls(listener, router, stopping.clone(), tls).await;
        if let Err(e) = served {
            tracing::error!(listener = name, error = %e, "a listener stopped serving; stopping coupler");
            *failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
            stopping.stop();
        }
    });
}

/// Binds a listener on `addr`, with SO_REUSEPORT when `reuse_port` is set so several Coupler
/// processes on one host can serve one address (`COUPLER_REUSE_PORT`; Linux spreads new connections
/// over them). An address already taken is reported with that setting named, since a second
/// process on the same port is the usual cause.
fn bind(addr: SocketAddr, reuse_port: bool) -> anyhow::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    // What TcpListener::bind does too: a restarted process need not wait for TIME_WAIT sockets.
    socket.set_reuseaddr(true)?;
    if reuse_port {
        set_reuse_port(&socket)?;
    }
    match socket.bind(addr) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && !reuse_port => {
            anyhow::bail!(
                "{e}: another process holds this address; to run several coupler processes on one \
                 port, set COUPLER_REUSE_PORT=true on every one of them"
            )
        }
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            anyhow::bail!(
                "{e}: a process that did not set SO_REUSEPORT (or runs as another user) holds this \
                 address; every coupler process on it needs COUPLER_REUSE_PORT=true"
            )
        }
        Err(e) => return Err(e.into()),
    }
    // The backlog TcpListener::bind uses.
    Ok(socket.listen(1024)?)
}

/// SO_REUSEPORT on Linux, where the kernel balances connections over the processes bound.
#[cfg(target_os = "linux")]
fn set_reuse_port(socket: &tokio::net::TcpSocket) -> anyhow::Result<()> {
    Ok(socket.set_reuseport(true)?)
}

/// Elsewhere SO_REUSEPORT does not balance (or does not exist), so the setting is refused.
#[cfg(not(target_os = "linux"))]
fn set_reuse_port(_socket: &tokio::net::TcpSocket) -> anyhow::Result<()> {
    anyhow::bail!("COUPLER_REUSE_PORT is supported on Linux only")
}

/// Gives the sandbox day-ahead prices: its daily curve prices every location with neither a price
/// area nor a tariff.
fn add_sandbox_prices(providers: &mut PriceProviders, clock: Arc<dyn Clock>) {
    providers.register(Arc::new(SandboxPrices::new(clock)));
    match PriceArea::parse(coupler_simulated::prices::SANDBOX_AREA) {
        Ok(area) => providers.set_fallback(coupler_simulated::prices::SANDBOX_PROVIDER, area),
        Err(e) => tracing::error!(error = %e, "the sandbox's price area is not a price area"),
    }
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

/// Removes expired access tokens now and then, so the table does not grow without bound; on the
/// node that holds `job`.
async fn sweep_expired_tokens(store: Arc<dyn Store>, interval: Duration, job: Singleton, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        // A node that does not hold the job waits for it (its holder stopped or died).
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = job.until_held() => {}
        }
        match store.delete_expired_tokens(coupler_core::time::now()).await {
            Ok(0) => {}
            Ok(removed) => tracing::debug!(removed, "removed expired access tokens"),
            Err(e) => tracing::warn!(error = %e, "could not remove expired access tokens"),
        }
    }
}

/// How long published events are kept, and how often older ones are removed.
struct Retention {
    keep: Duration,
    every: Duration,
}

/// Removes published events older than the retention now and then (each asset's latest stays), on
/// the node that holds `job`.
async fn prune_old_events(store: Arc<dyn Store>, retention: Retention, job: Singleton, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(retention.every);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = job.until_held() => {}
        }
        let before = coupler_core::time::now() - retention.keep;
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
