//! This node's lease among the nodes sharing the database: registered at start, renewed while the
//! node runs (its heartbeat), given up at shutdown. The chargers connected here are held under it,
//! so one renewal keeps them all; a node that dies loses them when its lease lapses, and the next
//! node to sweep marks them disconnected (they reconnect to a live node, which takes them).
//!
//! Leases count real time (the system clock), not the wired clock a test or the sandbox may run
//! fast: they are about whether a process is alive.

use std::time::Duration;

use coupler_core::StoreError;

use crate::Gateway;

/// How long a node's lease lasts unless renewed; it is renewed at a third of that.
pub const DEFAULT_NODE_LEASE: Duration = Duration::from_secs(30);

impl Gateway {
    /// Registers this node with a lease of `lease` (its earlier run's chargers let go), sweeps away
    /// nodes that died, and keeps the lease until shutdown, when it is given up.
    pub async fn join(&self, lease: Duration) -> Result<(), StoreError> {
        let store = &self.inner.store;
        let now = coupler_core::time::now();
        let released = store.register_node(self.node(), now, now + span(lease)).await?;
        if released > 0 {
            tracing::info!(chargers = released, "let go the chargers this node's previous run held");
        }
        let swept = store.sweep_lapsed_nodes(now, true).await?;
        if swept > 0 {
            tracing::info!(chargers = swept, "marked disconnected the chargers of nodes that died");
        }
        tracing::info!(node = %self.node(), "this node joined");
        let tasks = self.inner.tasks.clone();
        tasks.spawn("node heartbeat", self.clone().heartbeat(lease));
        Ok(())
    }

    /// Renews the lease at a third of its length and sweeps away nodes that died, until shutdown;
    /// then gives the lease up.
    async fn heartbeat(self, lease: Duration) {
        let shutdown = self.inner.tasks.token().clone();
        let store = self.inner.store.clone();
        let mut turns: u32 = 0;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(lease / 3) => {}
            }
            let now = coupler_core::time::now();
            match store.renew_node(self.node(), now, now + span(lease)).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(
                        "this node's lease had lapsed and it was taken for dead; claiming its chargers again"
                    );
                    self.reclaim_all().await;
                }
                Err(e) => tracing::warn!(error = %e, "cannot renew this node's lease"),
            }
            turns = turns.wrapping_add(1);
            let strays = turns.is_multiple_of(STRAY_SWEEP_EVERY);
            match store.sweep_lapsed_nodes(now, strays).await {
                Ok(0) => {}
                Ok(swept) => tracing::info!(chargers = swept, "marked disconnected the chargers of nodes that died"),
                Err(e) => tracing::warn!(error = %e, "cannot sweep away nodes that died"),
            }
        }
        match store.retire_node(self.node()).await {
            Ok(()) => tracing::info!(node = %self.node(), "this node gave up its lease"),
            Err(e) => tracing::warn!(error = %e, "cannot give up this node's lease; it will lapse"),
        }
    }

    /// Claims again every charger connected here (after this node was taken for dead).
    async fn reclaim_all(&self) {
        let local: Vec<(coupler_core::ChargerId, u64)> = self
            .sessions()
            .iter()
            .map(|(id, handle)| (id.clone(), handle.connection))
            .collect();
        for (charger, connection) in local {
            crate::session::claim(self, &charger, connection).await;
            if let Err(e) = self
                .inner
                .store
                .record_connection(&charger, None, true, self.inner.clock.now())
                .await
            {
                tracing::warn!(charger_id = %charger, error = %e, "cannot record the connection again");
            }
        }
    }
}

/// Every how many renewals a node also looks for chargers marked connected that no node holds
/// (left by a write that failed): that look reads every connected charger, too much for every
/// renewal of every node of a large fleet. A node that died is swept at once all the same.
const STRAY_SWEEP_EVERY: u32 = 30;

fn span(lease: Duration) -> chrono::Duration {
    chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(30))
}
