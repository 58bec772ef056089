//! Running Coupler: open the store, build the gateway, engine and API, serve until told to stop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use coupler_api::metrics::Metrics;
use coupler_api::{App, AppState};
use coupler_core::Store;
use coupler_engine::{Engine, EngineConfig};
use coupler_gateway::{Gateway, GatewayConfig};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::config::Config;

/// How often expired access tokens are removed.
const TOKEN_SWEEP_INTERVAL: Duration = Duration::from_secs(3600);

/// What a server needs beyond its listeners and store.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The URL clients reach the API at.
    pub public_url: Url,
    /// The URL chargers connect to (`ws(s)://...`), without `/ocpp/...`.
    pub ocpp_url: Url,
    /// The gateway's behaviour.
    pub gateway: GatewayConfig,
    /// The engine's behaviour.
    pub engine: EngineConfig,
}

impl Settings {
    /// Settings for a server whose API answers at `public_url`, with chargers on the same listener.
    pub fn for_url(public_url: Url) -> Self {
        let ocpp_url = websocket_url(&public_url);
        Self {
            public_url,
            ocpp_url,
            gateway: GatewayConfig::default(),
            engine: EngineConfig::default(),
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

/// A running Coupler: its addresses, its state, and the means to stop it.
#[derive(Debug)]
pub struct Server {
    /// The address the API (and OCPP) listener is bound to.
    pub addr: SocketAddr,
    /// The address of the separate OCPP listener, when there is one.
    pub ocpp_addr: Option<SocketAddr>,
    /// The URL clients reach it at.
    pub public_url: Url,
    /// The application state (storage, engine), for callers that need to reach in (tests).
    pub state: AppState,
    /// The charger gateway.
    pub gateway: Gateway,
    shutdown: CancellationToken,
    serving: Vec<JoinHandle<std::io::Result<()>>>,
    background: Vec<JoinHandle<()>>,
}

impl Server {
    /// Opens the database (migrating it), binds the listeners, and starts serving.
    pub async fn start(config: &Config) -> anyhow::Result<Self> {
        let store = coupler_store::open(&config.database_url).await.with_context(|| {
            format!(
                "cannot open the database {}",
                coupler_store::redact_url(&config.database_url)
            )
        })?;
        // Resolved now so a missing or broken key stops start-up rather than a later request.
        let _secret_key = config.resolve_secret_key()?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let addr = listener.local_addr()?;
        let ocpp_listener = match config.ocpp_listen {
            Some(ocpp) => Some(
                TcpListener::bind(ocpp)
                    .await
                    .with_context(|| format!("cannot listen on {ocpp} for OCPP"))?,
            ),
            None => None,
        };
        let public_url = match &config.public_url {
            Some(url) => url.clone(),
            None => Url::parse(&format!("http://{addr}"))?,
        };
        let mut settings = Settings::for_url(public_url);
        if let Some(ocpp) = &ocpp_listener {
            settings.ocpp_url = Url::parse(&format!("ws://{}", ocpp.local_addr()?))?;
        }
        if let Some(url) = &config.ocpp_public_url {
            settings.ocpp_url = url.clone();
        }
        settings.gateway = GatewayConfig {
            admit_unknown: config.ocpp_admit_unknown,
            require_tls: config.ocpp_require_tls,
            call_timeout: Duration::from_secs(config.ocpp_call_timeout),
            heartbeat_interval: Duration::from_secs(config.ocpp_heartbeat_interval),
            meter_sample_interval: Duration::from_secs(config.ocpp_meter_interval),
            ..GatewayConfig::default()
        };
        settings.engine.action_timeout = Duration::from_secs(config.action_timeout);
        Self::serve_on(listener, ocpp_listener, store, settings).await
    }

    /// Serves on already bound listeners with an already open store.
    pub async fn serve_on(
        listener: TcpListener,
        ocpp_listener: Option<TcpListener>,
        store: Arc<dyn Store>,
        settings: Settings,
    ) -> anyhow::Result<Self> {
        let addr = listener.local_addr()?;
        // No connection survives a restart: whatever the last run recorded as connected is not.
        let stale = store.mark_all_disconnected().await?;
        if stale > 0 {
            tracing::info!(chargers = stale, "cleared connections left from the previous run");
        }
        let gateway = Gateway::new(store.clone(), settings.gateway.clone());
        let engine = Engine::new(store.clone(), Arc::new(gateway.clone()), settings.engine.clone());
        let state = AppState::new(App {
            store: store.clone(),
            public_url: settings.public_url.clone(),
            token_ttl: coupler_api::routes::oauth::DEFAULT_TOKEN_TTL,
            metrics: Metrics::default(),
            engine: engine.clone(),
            ocpp_base_url: settings.ocpp_url.clone(),
        });
        let shutdown = CancellationToken::new();
        let router = coupler_api::router_with(state.clone(), gateway.router());
        let mut serving = vec![spawn_server(listener, router, shutdown.clone())];
        let ocpp_addr = match ocpp_listener {
            Some(ocpp) => {
                let ocpp_addr = ocpp.local_addr()?;
                serving.push(spawn_server(ocpp, gateway.router(), shutdown.clone()));
                Some(ocpp_addr)
            }
            None => None,
        };
        engine.resume().await?;
        let background = vec![tokio::spawn(sweep_expired_tokens(store.clone(), shutdown.clone()))];
        tracing::info!(%addr, public_url = %settings.public_url, ocpp_url = %settings.ocpp_url, database = store.backend(), "coupler is serving");
        Ok(Self {
            addr,
            ocpp_addr,
            public_url: settings.public_url,
            state,
            gateway,
            shutdown,
            serving,
            background,
        })
    }

    /// A token that stops the server when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops: closes charger connections, lets requests in flight finish, and waits for it all.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.wait().await
    }

    /// Waits until the server has stopped (after its shutdown token is cancelled).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.shutdown.cancelled().await;
        // axum's graceful shutdown does not wait for upgraded connections; the gateway closes its
        // WebSockets itself, with a close frame, before the listeners finish draining.
        self.gateway.shutdown().await;
        self.state.engine.shutdown().await;
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
