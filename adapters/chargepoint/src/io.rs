//! What goes into the charge point and what comes out of it: the moment of an input, its
//! configuration, the physical side (a car, the meter), and what it reports (statuses, events).

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use coupler_ocpp::OcppVersion;

/// When an input happens: a monotonic instant for the charge point's timers, and the wall-clock
/// time for timestamps, charging profiles and reservations. The driver reads its clocks; the
/// charge point never does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moment {
    /// Monotonic time, for timers (heartbeats, call timeouts, job steps).
    pub instant: Instant,
    /// Wall-clock time, for what goes into messages and what profiles and reservations name.
    pub wall: DateTime<Utc>,
}

impl Moment {
    /// The moment `instant` on the monotonic clock, `wall` on the wall clock.
    pub const fn new(instant: Instant, wall: DateTime<Utc>) -> Self {
        Self { instant, wall }
    }
}

/// What a charge point is, and how it behaves where drivers want it to differ.
#[derive(Debug, Clone)]
pub struct Config {
    /// Its OCPP identity.
    pub ocpp_id: String,
    /// The version it speaks.
    pub version: OcppVersion,
    /// The vendor it reports at boot.
    pub vendor: String,
    /// The model it reports at boot.
    pub model: String,
    /// The serial number it reports at boot (at most 25 characters).
    pub serial_number: String,
    /// The firmware version it reports at boot.
    pub firmware_version: String,
    /// The most current it offers, amperes per phase.
    pub max_current: f64,
    /// Whether it starts a transaction itself when a car is plugged in (free vending).
    pub free_vend: bool,
    /// The id tag of those transactions.
    pub free_vend_id_tag: String,
    /// Whether it starts them with the car's MAC address as id token (`VID:<MAC>` in 1.6, a
    /// `MacAddress` idToken in 2.0.1), as AutoCharge chargers do.
    pub sends_vehicle_identity: bool,
    /// Whether a transaction it starts itself is authorised first (Authorize before the start).
    pub authorize_local_starts: bool,
    /// Whether every new connection boots (so a restarted server configures it again); otherwise
    /// only the first one does and a reconnect reports the connectors (OCPP 1.6 §5.4).
    pub boot_every_connection: bool,
    /// Time between Heartbeats; zero sends none.
    pub heartbeat_interval: Duration,
    /// Whether the server sets the intervals: the heartbeat interval its boot answer names, and the
    /// heartbeat and meter intervals it configures (HeartbeatInterval, MeterValueSampleInterval and
    /// their 2.0.1 variables). Otherwise the configured values are kept and reported, and the
    /// timers keep `heartbeat_interval` and `meter_interval` (a load run's scenario).
    pub follow_server_intervals: bool,
    /// Delay before the first Heartbeat after boot (one interval when `None`).
    pub heartbeat_phase: Option<Duration>,
    /// Time between meter values; zero sends none (the server may change it).
    pub meter_interval: Duration,
    /// Delay before the first meter value (one interval when `None`).
    pub meter_phase: Option<Duration>,
    /// Whether meter values are sent without a transaction too (otherwise only during one).
    pub meter_when_idle: bool,
    /// How long a call of its own may wait for its answer.
    pub call_timeout: Duration,
    /// 2.0.1: transactions are named `{prefix}-{n}`.
    pub transaction_prefix: String,
}

impl Config {
    /// A 3-phase, 32 A home charger with free vending, booting on every connection, following the
    /// server's heartbeat interval and sending meter values during transactions.
    pub fn home(ocpp_id: &str, version: OcppVersion) -> Self {
        let tail = last_chars(ocpp_id, 20);
        Self {
            ocpp_id: ocpp_id.to_owned(),
            version,
            vendor: "Coupler".to_owned(),
            model: "Simulated".to_owned(),
            serial_number: format!("SIM-{}", last_chars(ocpp_id, 21)),
            firmware_version: concat!("sim-", env!("CARGO_PKG_VERSION")).to_owned(),
            max_current: 32.0,
            free_vend: true,
            free_vend_id_tag: "FREEVEND".to_owned(),
            sends_vehicle_identity: false,
            authorize_local_starts: true,
            boot_every_connection: true,
            heartbeat_interval: Duration::from_secs(300),
            follow_server_intervals: true,
            heartbeat_phase: None,
            meter_interval: Duration::from_secs(60),
            meter_phase: None,
            meter_when_idle: false,
            call_timeout: Duration::from_secs(30),
            transaction_prefix: tail,
        }
    }
}

/// The last `n` characters of `text`.
pub(crate) fn last_chars(text: &str, n: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    chars[chars.len().saturating_sub(n)..].iter().collect()
}

/// A car as the charge point sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vehicle {
    /// Which car (the driver's name for it).
    pub id: String,
    /// Its MAC address, if it tells one (ISO 15118 / AutoCharge).
    pub mac_address: Option<String>,
}

/// What the meter reads.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sample {
    /// The energy register, Wh.
    pub energy_wh: f64,
    /// Power drawn now, W.
    pub power_w: f64,
    /// Current drawn now, amperes per phase.
    pub current_a: f64,
}

/// The physical side at one moment: the car in the connector, if any, and the meter.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reading {
    /// The car plugged in.
    pub vehicle: Option<Vehicle>,
    /// The meter.
    pub sample: Sample,
}

/// A connector status, in OCPP 1.6 terms (2.0.1 reports the same as connectorStatus and the
/// transaction's chargingState).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// No car.
    Available,
    /// A car (or a driver), no transaction yet.
    Preparing,
    /// Energy flows.
    Charging,
    /// The car takes nothing although offered.
    SuspendedEv,
    /// The charger offers nothing (a profile's limit, or a paused transaction).
    SuspendedEvse,
    /// The transaction ended, the car is still in.
    Finishing,
    /// Taken out of service.
    Unavailable,
    /// Held for a reservation.
    Reserved,
}

impl Status {
    /// The 1.6 name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Available => "Available",
            Self::Preparing => "Preparing",
            Self::Charging => "Charging",
            Self::SuspendedEv => "SuspendedEV",
            Self::SuspendedEvse => "SuspendedEVSE",
            Self::Finishing => "Finishing",
            Self::Unavailable => "Unavailable",
            Self::Reserved => "Reserved",
        }
    }
}

/// Why a transaction ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The car was unplugged.
    EvDisconnected,
    /// The server stopped it.
    Remote,
    /// The driver stopped it at the charger.
    Local,
    /// The server refused its id tag.
    DeAuthorized,
    /// A soft reset.
    SoftReset,
    /// A hard reset.
    HardReset,
    /// The server unlocked the connector.
    UnlockCommand,
}

/// The id token a transaction starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdToken {
    /// A card, or the fixed tag of free vending.
    Tag(String),
    /// A central (remote start) token.
    Central(String),
    /// The car's MAC address, as AutoCharge chargers report it.
    Mac(String),
}

impl IdToken {
    /// The 1.6 id tag.
    pub(crate) fn as_tag(&self) -> String {
        match self {
            Self::Tag(t) | Self::Central(t) => t.clone(),
            Self::Mac(mac) => format!("VID:{}", mac.replace([':', '-'], "").to_uppercase()),
        }
    }
}

/// How one of the charge point's calls ended without a usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The server answered with a CALLERROR.
    CallError {
        /// Its error code.
        code: String,
        /// Its description.
        description: String,
    },
    /// The answer broke the schema of the action.
    InvalidAnswer(String),
    /// The answer was not a readable frame.
    BrokenAnswer(String),
    /// No answer within the call timeout.
    Timeout,
    /// The connection closed before the answer came.
    Lost,
}

/// Something that happened, for the driver's statistics and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A call of ours was answered.
    CallAnswered {
        /// Its action.
        action: &'static str,
        /// How long the answer took.
        latency: Duration,
    },
    /// A call of ours ended without a usable answer.
    CallFailed {
        /// Its action.
        action: &'static str,
        /// How.
        failure: Failure,
    },
    /// A periodic message was not queued because the last one still waits.
    Skipped {
        /// Its action.
        action: &'static str,
    },
    /// A CALLRESULT or CALLERROR that answers no call of ours.
    UnexpectedResponse,
    /// A frame that is not OCPP-J.
    ProtocolError {
        /// What was wrong with it.
        description: String,
    },
    /// A call of ours could not be written (a value outside its schema).
    BuildFailed {
        /// Its action.
        action: &'static str,
        /// Why.
        error: String,
    },
    /// The server accepted the boot.
    BootAccepted,
    /// The server did not accept the boot (Pending or Rejected).
    BootNotAccepted,
    /// A transaction started with an accepted token.
    TransactionStarted,
    /// The server refused a transaction's token; it is stopped at once.
    TransactionRefused,
    /// The server acknowledged a transaction's end.
    TransactionStopped,
    /// The server called.
    Incoming {
        /// The action it named.
        action: String,
        /// Why the call was refused with a CALLERROR, if it was.
        refused: Option<String>,
    },
    /// A remote start (RemoteStartTransaction / RequestStartTransaction) arrived and was read.
    RemoteStartRequested,
}
