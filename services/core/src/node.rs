//! Several Coupler nodes on one database: a node's identity, and the signals nodes wake each other
//! with.
//!
//! PostgreSQL is the only thing nodes share. What must be done lives in the store (an action, which
//! node holds a charger); a [`Signal`] only wakes the node that has something to do, so a signal
//! that is lost (a listener that reconnects) delays work until the node's next look, and loses none.
//! On SQLite there is one node, and signals stay in the process.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::store::StoreError;

/// The longest node id: it is stored as a lease holder and sent in every signal.
pub const MAX_NODE_ID_LEN: usize = 64;

/// A node's name among the nodes sharing a database: letters, digits, `.`, `_` and `-`, at most
/// [`MAX_NODE_ID_LEN`] characters. A node keeps its name across restarts when it is configured
/// (`COUPLER_NODE_ID`), so it takes up at once what its previous run held.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(String);

/// Why a text is not a node id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a node id is 1 to {MAX_NODE_ID_LEN} letters, digits, '.', '_' or '-'; got {0:?}")]
pub struct NodeIdError(pub String);

impl NodeId {
    /// The node id `text`, if it is one.
    pub fn parse(text: &str) -> Result<Self, NodeIdError> {
        let valid = !text.is_empty()
            && text.len() <= MAX_NODE_ID_LEN
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(NodeIdError(text.to_owned()))
        }
    }

    /// The id of a deployment's only node (SQLite, or a node given no id by a test): a restart
    /// is the same node, which takes up at once what its previous run held.
    pub fn single() -> Self {
        Self("coupler".to_owned())
    }

    /// A fresh id for a node that was given none: `node-` and 12 random hex digits.
    pub fn generate() -> Self {
        let random = uuid::Uuid::new_v4().simple().to_string();
        Self(format!("node-{}", &random[..12]))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The most chargers one signal names, so that it stays well within a PostgreSQL notification's
/// 8,000 bytes.
pub const CHARGERS_PER_SIGNAL: usize = 100;

/// A wake-up from one node to others. It carries names, never state: the receiver reads what to
/// do from the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "signal", rename_all = "camelCase")]
pub enum Signal {
    /// Pending actions were handed to `node` (it holds the socket of the charger they go through):
    /// its action runner should look for them now.
    ActionsHandedOver {
        /// The node that should look.
        node: NodeId,
    },
    /// `node` now holds the socket of the charger `charger`: any other node that still has a
    /// connection of that charger closes it.
    ChargerTaken {
        /// The charger's id.
        charger: String,
        /// The node that took it.
        node: NodeId,
    },
    /// Events were published (numbered) by a relay: live streams on every node should read them.
    EventsPublished,
    /// A node wrote events that wait to be published: the node that runs the relay should look
    /// now rather than at its next tick. Sent at most once per short interval per node.
    EventsWritten,
    /// The chargers `chargers` reported something about their plugs or a vehicle's identity (a
    /// status, the start or end of a transaction, an id tag), now stored: pairing and plans look
    /// at them. Changes that come together share one signal (a boot storm's status reports).
    PlugChanged {
        /// The chargers' ids, at most [`CHARGERS_PER_SIGNAL`].
        chargers: Vec<String>,
    },
    /// The vehicle `vehicle` of client `client` was read, and the read stored: pairing, plans and
    /// vehicle limits look at it.
    VehicleRead {
        /// The vehicle's client.
        client: String,
        /// The vehicle's id.
        vehicle: String,
    },
    /// The EV systems of the charger `charger` were activated or deactivated: plans follow.
    PairChanged {
        /// The charger's id.
        charger: String,
    },
    /// A limit source other than a plan (a max current, a site or user limit, a flex event)
    /// changed for the charger `charger`, or for more chargers than were named (`None`): plans
    /// are made again.
    LimitSourcesChanged {
        /// The charger's id; `None`: every charger.
        charger: Option<String>,
    },
    /// Operations on chargers were handed to `node` (it holds the sockets of their chargers): it
    /// should send the pending ones handed to it now.
    OperationsHandedOver {
        /// The node that should send them.
        node: NodeId,
    },
    /// The charger answered the operation `operation` (or the wait for its answer ended): a node
    /// that waits for the outcome on behalf of an API call reads it from the store.
    OperationAnswered {
        /// The operation's id.
        operation: String,
    },
    /// The limit sources of `chargers` changed on a node that does not hold their sockets: the
    /// node that holds one puts its limits on it again, from the store.
    LimitsChanged {
        /// The chargers' ids.
        chargers: Vec<String>,
    },
}

/// What a [`SignalReceiver`] heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// A signal.
    Signal(Signal),
    /// Signals may have been missed (the receiver fell behind, or the listener lost its connection
    /// and reconnected): look at everything, as if every signal had come.
    Missed,
}

/// Where nodes publish signals and hear them, every node hearing every signal (its own too).
/// PostgreSQL's LISTEN/NOTIFY between nodes; on SQLite, within the process.
#[async_trait]
pub trait SignalBus: Send + Sync + std::fmt::Debug {
    /// Publishes `signal` to every node.
    async fn publish(&self, signal: &Signal) -> Result<(), StoreError>;
    /// Hears every signal published from now on.
    fn subscribe(&self) -> Box<dyn SignalReceiver>;
}

/// One subscriber's signals, in the order they were published.
#[async_trait]
pub trait SignalReceiver: Send + std::fmt::Debug {
    /// The next signal; `None` once the bus is gone for good.
    async fn recv(&mut self) -> Option<Heard>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_id_is_a_short_name_of_safe_characters() {
        assert!(NodeId::parse("node-a.eu_1").is_ok());
        assert!(NodeId::parse("").is_err());
        assert!(NodeId::parse("has space").is_err());
        assert!(NodeId::parse("quote'").is_err());
        assert!(NodeId::parse(&"x".repeat(MAX_NODE_ID_LEN + 1)).is_err());
        let generated = NodeId::generate();
        assert_eq!(NodeId::parse(generated.as_str()), Ok(generated));
    }

    #[test]
    fn a_signal_travels_as_json_and_comes_back_the_same() {
        let signal = Signal::ChargerTaken {
            charger: "chg_1".into(),
            node: NodeId::parse("b").unwrap_or_else(|e| panic!("{e}")),
        };
        let text = serde_json::to_string(&signal).unwrap_or_default();
        assert_eq!(text, r#"{"signal":"chargerTaken","charger":"chg_1","node":"b"}"#);
        assert_eq!(serde_json::from_str::<Signal>(&text).ok(), Some(signal));
    }
}
