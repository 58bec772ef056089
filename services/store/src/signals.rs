//! The signal bus nodes wake each other with ([`coupler_core::node::SignalBus`]): PostgreSQL's
//! LISTEN/NOTIFY on one channel for every node sharing the database, or, on SQLite (one process,
//! one node), a channel within the process.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use coupler_core::node::{Heard, Signal, SignalBus, SignalReceiver};
use coupler_core::StoreError;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::{broadcast, oneshot};

use crate::store_error;

/// The PostgreSQL channel every node listens on.
pub const CHANNEL: &str = "coupler_signals";

/// How many signals a subscriber may fall behind before it is told it missed some.
const BACKLOG: usize = 4096;

/// Signals within one process (SQLite's single node).
#[derive(Debug)]
pub struct LocalSignals {
    heard: broadcast::Sender<Heard>,
}

impl Default for LocalSignals {
    fn default() -> Self {
        Self {
            heard: broadcast::channel(BACKLOG).0,
        }
    }
}

#[async_trait]
impl SignalBus for LocalSignals {
    async fn publish(&self, signal: &Signal) -> Result<(), StoreError> {
        // Nobody listening is not an error.
        let _ = self.heard.send(Heard::Signal(signal.clone()));
        Ok(())
    }

    fn subscribe(&self) -> Box<dyn SignalReceiver> {
        Box::new(Subscriber(self.heard.subscribe()))
    }
}

/// Signals between the nodes of one PostgreSQL database: published with `pg_notify`, heard by a
/// listener connection of this node's, which runs until the bus is dropped.
#[derive(Debug)]
pub struct PgSignals {
    pool: PgPool,
    heard: broadcast::Sender<Heard>,
    /// Dropped with the bus, which stops the listener.
    _stop: Mutex<oneshot::Sender<()>>,
}

impl PgSignals {
    /// Listens on [`CHANNEL`] through a connection of `pool` (taken for good), and publishes
    /// through the pool. Signals published once this returns are heard.
    pub async fn start(pool: PgPool) -> Result<Arc<Self>, sqlx::Error> {
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(CHANNEL).await?;
        let heard = broadcast::channel(BACKLOG).0;
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(listen(listener, heard.clone(), stopped));
        Ok(Arc::new(Self {
            pool,
            heard,
            _stop: Mutex::new(stop),
        }))
    }
}

/// Hears notifications until `stopped`, passing them on; a lost connection (reconnected by the
/// listener) is passed on as [`Heard::Missed`].
async fn listen(mut listener: PgListener, heard: broadcast::Sender<Heard>, mut stopped: oneshot::Receiver<()>) {
    loop {
        let next = tokio::select! {
            _ = &mut stopped => return,
            next = listener.try_recv() => next,
        };
        match next {
            Ok(Some(notification)) => match serde_json::from_str::<Signal>(notification.payload()) {
                Ok(signal) => {
                    let _ = heard.send(Heard::Signal(signal));
                }
                Err(e) => tracing::warn!(error = %e, "ignored a signal that is not one"),
            },
            Ok(None) => {
                tracing::warn!("the signal listener lost its connection and reconnected; looking at everything");
                let _ = heard.send(Heard::Missed);
            }
            Err(e) => {
                tracing::warn!(error = %e, "the signal listener cannot reach the database; trying again");
                let _ = heard.send(Heard::Missed);
                tokio::select! {
                    _ = &mut stopped => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
}

#[async_trait]
impl SignalBus for PgSignals {
    async fn publish(&self, signal: &Signal) -> Result<(), StoreError> {
        let payload = serde_json::to_string(signal).map_err(|e| StoreError::Backend(e.to_string()))?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload)
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    fn subscribe(&self) -> Box<dyn SignalReceiver> {
        Box::new(Subscriber(self.heard.subscribe()))
    }
}

/// One subscriber of either bus.
#[derive(Debug)]
struct Subscriber(broadcast::Receiver<Heard>);

#[async_trait]
impl SignalReceiver for Subscriber {
    async fn recv(&mut self) -> Option<Heard> {
        match self.0.recv().await {
            Ok(heard) => Some(heard),
            Err(broadcast::error::RecvError::Lagged(_)) => Some(Heard::Missed),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}
