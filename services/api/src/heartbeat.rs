//! Webhook heartbeats: every active webhook gets a signed `system:heartbeat` event on a fixed
//! period, with the number of events waiting for it, so a receiver can tell a quiet Coupler from a
//! broken path (as Enode's webhooks do).
//!
//! A heartbeat is not a delivery: it is not stored, retried, or counted against the webhook. Each
//! node sends its own, so a receiver behind several nodes sees one per node per period.

use std::time::Duration;

use coupler_core::event::{DeliveryId, HEARTBEAT_EVENT};
use coupler_core::StoreError;
use coupler_tasks::Tasks;

use crate::state::AppState;

/// How often heartbeats are sent unless configured otherwise.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(300);

/// Sends one heartbeat to every active webhook now; returns how many receivers accepted it.
pub async fn beat(state: &AppState) -> Result<usize, StoreError> {
    let webhooks = state.store.active_webhooks().await?;
    let mut accepted = 0;
    for (webhook, pending) in webhooks {
        let secret = match state.cipher.decrypt(&webhook.secret_sealed) {
            Ok(secret) => secret,
            Err(e) => {
                tracing::warn!(webhook = %webhook.id, error = %e, "cannot open a webhook's secret for its heartbeat");
                continue;
            }
        };
        let delivery_id = DeliveryId::generate();
        let body = serde_json::json!([{
            "id": format!("heartbeat-{delivery_id}"),
            "event": HEARTBEAT_EVENT,
            "createdAt": state.now(),
            "pendingEvents": pending,
        }]);
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let outcome = state
            .webhooks
            .send(&webhook.url, &secret, delivery_id.as_str(), body)
            .await;
        if outcome.succeeded {
            accepted += 1;
        } else {
            tracing::debug!(webhook = %webhook.id, error = outcome.error.as_deref(), "heartbeat not accepted");
        }
    }
    Ok(accepted)
}

/// Sends heartbeats every `interval` until the server's `tasks` stop.
pub fn spawn(state: AppState, interval: Duration, tasks: &Tasks) {
    let shutdown = tasks.token().clone();
    // One node beats: the one holding the job.
    let job = state
        .engine
        .leases()
        .singleton(coupler_engine::singleton::jobs::WEBHOOK_HEARTBEAT);
    tasks.spawn("webhook heartbeat", async move {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
            if !job.held() {
                continue;
            }
            if let Err(e) = beat(&state).await {
                tracing::warn!(error = %e, "cannot send webhook heartbeats");
            }
        }
    });
}
