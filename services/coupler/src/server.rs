//! Running Coupler: open the store, build the application, serve until told to stop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use coupler_api::metrics::Metrics;
use coupler_api::{App, AppState};
use coupler_core::Store;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::config::Config;

/// How often expired access tokens are removed.
const TOKEN_SWEEP_INTERVAL: Duration = Duration::from_secs(3600);

/// A running Coupler: its address, its state, and the means to stop it.
#[derive(Debug)]
pub struct Server {
    /// The address the listener is bound to.
    pub addr: SocketAddr,
    /// The URL clients and chargers reach it at.
    pub public_url: Url,
    /// The application state (storage and friends), for callers that need to reach in (tests).
    pub state: AppState,
    shutdown: CancellationToken,
    serving: JoinHandle<std::io::Result<()>>,
    background: Vec<JoinHandle<()>>,
}

impl Server {
    /// Opens the database (migrating it), binds the listener, and starts serving.
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
        let public_url = match &config.public_url {
            Some(url) => url.clone(),
            None => Url::parse(&format!("http://{addr}"))?,
        };
        Self::serve_on(listener, store, public_url).await
    }

    /// Serves on an already bound listener with an already open store.
    pub async fn serve_on(listener: TcpListener, store: Arc<dyn Store>, public_url: Url) -> anyhow::Result<Self> {
        let addr = listener.local_addr()?;
        let state = AppState::new(App {
            store: store.clone(),
            public_url: public_url.clone(),
            token_ttl: coupler_api::routes::oauth::DEFAULT_TOKEN_TTL,
            metrics: Metrics::default(),
        });
        let shutdown = CancellationToken::new();
        let router = coupler_api::router(state.clone());
        let stop = shutdown.clone();
        let serving = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
        });
        let background = vec![tokio::spawn(sweep_expired_tokens(store.clone(), shutdown.clone()))];
        tracing::info!(%addr, %public_url, database = store.backend(), "coupler is serving");
        Ok(Self {
            addr,
            public_url,
            state,
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
        self.serving.await.context("the server task failed")??;
        for task in self.background {
            let _ = task.await;
        }
        tracing::info!("coupler has stopped");
        Ok(())
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
