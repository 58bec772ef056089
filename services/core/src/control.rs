//! The charger-control port: what the engine may ask of a connected charger, in words that belong to
//! no OCPP version. The gateway implements it for 1.6 and 2.0.1; the engine never sees a version.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::charger::ChargerId;

/// What a charging limit applies to. Each source of limits (a user's max current, a smart-charging
/// plan, a site or grid limit) gets its own profile, so several can hold at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitPurpose {
    /// One running transaction (OCPP TxProfile).
    Transaction,
    /// Every transaction that has no transaction limit (TxDefaultProfile).
    TransactionDefault,
    /// The whole station (ChargePointMaxProfile / ChargingStationMaxProfile).
    StationMax,
}

/// The unit of a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateUnit {
    /// Amperes per phase.
    Amperes,
    /// Watts.
    Watts,
}

/// One step of a limit schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimitPeriod {
    /// Seconds from the start of the schedule.
    pub start_offset_s: u32,
    /// The limit, in the schedule's unit (a multiple of 0.1).
    pub limit: f64,
    /// Phases that may be used, when the limit is about phases.
    pub phases: Option<u8>,
}

/// A charging limit for the charger to hold (an OCPP charging profile).
#[derive(Debug, Clone, PartialEq)]
pub struct ChargingLimit {
    /// Profile id; the same id replaces the earlier profile.
    pub profile_id: i32,
    /// What it applies to.
    pub purpose: LimitPurpose,
    /// Priority among limits of the same purpose; higher wins.
    pub stack_level: i32,
    /// The transaction, for [`LimitPurpose::Transaction`].
    pub transaction_id: Option<i64>,
    /// The unit of the periods.
    pub unit: RateUnit,
    /// The steps, the first starting at 0.
    pub periods: Vec<LimitPeriod>,
    /// Absolute start; `None` starts the schedule when it applies (a relative schedule).
    pub start: Option<DateTime<Utc>>,
    /// From when it applies.
    pub valid_from: Option<DateTime<Utc>>,
    /// Until when it applies, so it lapses by itself even if the connection drops.
    pub valid_to: Option<DateTime<Utc>>,
}

impl ChargingLimit {
    /// A constant limit.
    pub fn constant(profile_id: i32, purpose: LimitPurpose, stack_level: i32, unit: RateUnit, limit: f64) -> Self {
        Self {
            profile_id,
            purpose,
            stack_level,
            transaction_id: None,
            unit,
            periods: vec![LimitPeriod {
                start_offset_s: 0,
                limit,
                phases: None,
            }],
            start: None,
            valid_from: None,
            valid_to: None,
        }
    }
}

/// A message the charger may be asked to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TriggerKind {
    /// BootNotification.
    BootNotification,
    /// Heartbeat.
    Heartbeat,
    /// MeterValues.
    MeterValues,
    /// StatusNotification.
    StatusNotification,
    /// FirmwareStatusNotification.
    FirmwareStatusNotification,
    /// DiagnosticsStatusNotification (1.6) / LogStatusNotification (2.0.1).
    DiagnosticsStatusNotification,
}

/// The id tag remote starts are made with unless configured otherwise: the gateway (2.0.1) and the
/// charger engine (1.6) both default to it, so a charger sees one tag whichever path starts it.
pub const DEFAULT_REMOTE_START_ID_TAG: &str = "COUPLER";

/// A command for a charger.
#[derive(Debug, Clone, PartialEq)]
pub enum ChargerCommand {
    /// Start a transaction (RemoteStartTransaction / RequestStartTransaction).
    RemoteStart {
        /// The connector; `None` lets the charger choose.
        connector_id: Option<u32>,
        /// The id tag to start it with.
        id_tag: String,
        /// A transaction limit to start with.
        limit: Option<ChargingLimit>,
    },
    /// Stop a transaction.
    RemoteStop {
        /// The transaction.
        transaction_id: i64,
    },
    /// Install a charging limit.
    SetLimit {
        /// The connector (0 for the station as a whole).
        connector_id: u32,
        /// The limit.
        limit: ChargingLimit,
    },
    /// Remove limits matching all the given criteria.
    ClearLimit {
        /// Profile id.
        profile_id: Option<i32>,
        /// Connector.
        connector_id: Option<u32>,
        /// Purpose.
        purpose: Option<LimitPurpose>,
        /// Stack level.
        stack_level: Option<i32>,
    },
    /// Ask for the limit the charger will apply over the coming `duration_s` seconds.
    GetCompositeSchedule {
        /// The connector (0 for the station).
        connector_id: u32,
        /// How far ahead, in seconds.
        duration_s: u32,
        /// The unit wanted.
        unit: Option<RateUnit>,
    },
    /// Change a configuration key.
    ChangeConfiguration {
        /// Key.
        key: String,
        /// New value.
        value: String,
    },
    /// Read configuration keys (all when empty).
    GetConfiguration {
        /// Keys.
        keys: Vec<String>,
    },
    /// Ask the charger to send a message.
    Trigger {
        /// Which message.
        message: TriggerKind,
        /// For connector-specific messages.
        connector_id: Option<u32>,
    },
    /// Reboot.
    Reset {
        /// Hard (power cycle) rather than soft.
        hard: bool,
    },
    /// Make a connector (0: all) operative or not.
    ChangeAvailability {
        /// Connector.
        connector_id: u32,
        /// Operative or inoperative.
        operative: bool,
    },
    /// Release the cable lock of a connector.
    UnlockConnector {
        /// Connector.
        connector_id: u32,
    },
}

impl ChargerCommand {
    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::RemoteStart { .. } => "RemoteStart",
            Self::RemoteStop { .. } => "RemoteStop",
            Self::SetLimit { .. } => "SetLimit",
            Self::ClearLimit { .. } => "ClearLimit",
            Self::GetCompositeSchedule { .. } => "GetCompositeSchedule",
            Self::ChangeConfiguration { .. } => "ChangeConfiguration",
            Self::GetConfiguration { .. } => "GetConfiguration",
            Self::Trigger { .. } => "Trigger",
            Self::Reset { .. } => "Reset",
            Self::ChangeAvailability { .. } => "ChangeAvailability",
            Self::UnlockConnector { .. } => "UnlockConnector",
        }
    }
}

/// A configuration key the charger reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigurationEntry {
    /// Key.
    pub key: String,
    /// Value, when set.
    pub value: Option<String>,
    /// Whether it cannot be changed.
    pub readonly: bool,
}

/// The charger's answer to a command.
#[derive(Debug, Clone, PartialEq)]
pub enum CommandReply {
    /// A status answer (`Accepted`, `Rejected`, `NotSupported`, `RebootRequired`, `Unlocked`, ...).
    Status {
        /// Whether the charger took the command on.
        accepted: bool,
        /// The status as the charger sent it.
        status: String,
    },
    /// GetConfiguration's answer.
    Configuration {
        /// Keys it knows.
        entries: Vec<ConfigurationEntry>,
        /// Keys it does not know.
        unknown: Vec<String>,
    },
    /// GetCompositeSchedule's answer.
    CompositeSchedule {
        /// Whether the charger could compute one.
        accepted: bool,
        /// The schedule's unit.
        unit: Option<RateUnit>,
        /// The schedule's steps.
        periods: Vec<LimitPeriod>,
    },
}

impl CommandReply {
    /// Whether the charger took the command on.
    pub fn is_accepted(&self) -> bool {
        match self {
            Self::Status { accepted, .. } | Self::CompositeSchedule { accepted, .. } => *accepted,
            Self::Configuration { .. } => true,
        }
    }
}

/// Why a command got no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// The charger is not connected to this node.
    #[error("the charger is not connected")]
    NotConnected,
    /// No answer within the call timeout.
    #[error("the charger did not answer in time")]
    Timeout,
    /// The charger answered with an OCPP error.
    #[error("the charger answered with {code}: {description}")]
    CallError {
        /// The OCPP error code.
        code: String,
        /// Its description.
        description: String,
    },
    /// The charger's answer broke the schema.
    #[error("the charger's answer is invalid: {0}")]
    InvalidReply(String),
    /// The command cannot be expressed in the charger's OCPP version, or is invalid.
    #[error("the command cannot be sent: {0}")]
    Unsupported(String),
    /// The connection closed while the command was waiting.
    #[error("the connection closed before the charger answered")]
    Disconnected,
}

/// What the engine can do with chargers.
#[async_trait]
pub trait ChargerControl: Send + Sync {
    /// Sends a command and waits for the answer (queued behind earlier commands to the charger).
    async fn send(&self, charger: &ChargerId, command: ChargerCommand) -> Result<CommandReply, ControlError>;
    /// Whether the charger is connected now.
    fn is_connected(&self, charger: &ChargerId) -> bool;
    /// Closes the charger's connection, if it has one (after it was deleted, for example).
    async fn disconnect(&self, charger: &ChargerId);
    /// Resolves when something the charger reported was stored, or after `timeout`: lets the engine
    /// confirm actions as soon as state changes, without polling in a tight loop.
    async fn wait_for_change(&self, charger: &ChargerId, timeout: Duration);
}

impl std::fmt::Debug for dyn ChargerControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChargerControl")
    }
}
