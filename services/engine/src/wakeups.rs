//! Wake-ups whose consumers may run on another node: a charger's plug change comes from the node
//! that holds its socket, a vehicle read from the node that polled it, a pairing change from the
//! node that runs pairing, a limit source's change from the node an API call or a flex event
//! reached; pairing, plans and vehicle limits may run anywhere. Each node passes its own on
//! through the signal bus ([`Signal::PlugChanged`], [`Signal::VehicleRead`],
//! [`Signal::PairChanged`], [`Signal::LimitSourcesChanged`]), names only: the receiver reads the
//! state from the store.

use std::sync::Arc;

use coupler_core::node::{Signal, CHARGERS_PER_SIGNAL};
use coupler_core::ChargerId;
use coupler_tasks::Tasks;
use tokio::sync::broadcast;
use tracing::Instrument;

use crate::Engine;

/// Passes this node's plug changes (from its gateway), vehicle reads (from its poller), pairing
/// changes (from its pairing engine) and limit source changes (from its limit keeper) on to every
/// node, until `tasks` stop.
pub fn spawn_forwarder(
    engine: Arc<Engine>,
    mut plug_changes: broadcast::Receiver<ChargerId>,
    mut pair_changes: broadcast::Receiver<ChargerId>,
    tasks: &Tasks,
) {
    let mut polls = engine.subscribe_polls();
    let mut limit_changes = engine.limits().subscribe_changes();
    let shutdown = tasks.token().clone();
    let signals = engine.store.signals();
    tasks.spawn(
        "wake-up forwarder",
        async move {
            loop {
                let signal = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    changed = plug_changes.recv() => match changed {
                        Ok(charger) => {
                            // The changes already waiting go in the same signal: a boot storm's
                            // status reports would otherwise be a notification each.
                            let mut chargers = vec![charger.as_str().to_owned()];
                            while chargers.len() < CHARGERS_PER_SIGNAL {
                                match plug_changes.try_recv() {
                                    Ok(more) if chargers.iter().any(|c| c == more.as_str()) => {}
                                    Ok(more) => chargers.push(more.as_str().to_owned()),
                                    Err(broadcast::error::TryRecvError::Lagged(missed)) => {
                                        tracing::warn!(missed, "plug changes were not passed on; pairing looks again at its next tick");
                                        break;
                                    }
                                    Err(_) => break,
                                }
                            }
                            Signal::PlugChanged { chargers }
                        }
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            tracing::warn!(missed, "plug changes were not passed on; pairing looks again at its next tick");
                            continue;
                        }
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    changed = pair_changes.recv() => match changed {
                        Ok(charger) => Signal::PairChanged { charger: charger.as_str().to_owned() },
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            tracing::warn!(missed, "pairing changes were not passed on; plans look again at their next round");
                            continue;
                        }
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    changed = limit_changes.recv() => match changed {
                        Ok(charger) => Signal::LimitSourcesChanged { charger: Some(charger.as_str().to_owned()) },
                        // Too many to name: every plan is made again.
                        Err(broadcast::error::RecvError::Lagged(_)) => Signal::LimitSourcesChanged { charger: None },
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    read = polls.recv() => match read {
                        Ok((client, vehicle)) => Signal::VehicleRead {
                            client: client.as_str().to_owned(),
                            vehicle: vehicle.as_str().to_owned(),
                        },
                        // Missed reads come again at the next poll.
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                };
                if let Err(e) = signals.publish(&signal).await {
                    tracing::warn!(error = %e, ?signal, "cannot pass a wake-up on to the other nodes");
                }
            }
        }
        .instrument(tracing::info_span!("wake-up forwarder")),
    );
}
