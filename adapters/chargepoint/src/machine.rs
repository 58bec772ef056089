//! The charge point's state machine, whichever the OCPP version: connection and boot, the queue of
//! its own calls (one outstanding at a time), periodic messages, the connector, its transaction
//! and status, charging profiles, authorisation (local list and cache), reservations,
//! availability, resets, firmware and upload jobs, certificates and security events.
//!
//! `v16` and `v201` turn its calls into typed messages and the server's calls into changes of it.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use coupler_ocpp::rpc::{Frame, MessageType};
use coupler_ocpp::{ErrorCode, OcppVersion, ValidationError};
use serde_json::Value;

use crate::profile::{offered_limit, Profile, Purpose, TxContext};
use crate::settings::{self, Settings};
use crate::{v16, v201, MIN_CURRENT};

/// How long a refused or failed BootNotification waits before it is sent again, unless the server
/// names an interval; and the bounds on an interval the server names.
const BOOT_RETRY: Duration = Duration::from_secs(30);
const BOOT_RETRY_MIN: Duration = Duration::from_secs(1);
const BOOT_RETRY_MAX: Duration = Duration::from_secs(300);
/// Most calls queued. Periodic messages are deduplicated anyway; the cap stops a server that
/// triggers messages faster than it answers them from growing the queue. Transaction messages
/// and the boot are never dropped.
const MAX_QUEUED: usize = 64;
/// Most events kept for the driver; older ones go first.
const MAX_EVENTS: usize = 1024;
/// How long each step of a firmware update or an upload takes.
pub const JOB_STEP: Duration = Duration::from_secs(1);

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
    /// Whether the interval the server answers the boot with replaces `heartbeat_interval`.
    pub follow_server_heartbeat: bool,
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
            follow_server_heartbeat: true,
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

/// What a firmware update or an upload reports with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobKind {
    /// 1.6 UpdateFirmware / 2.0.1 UpdateFirmware: FirmwareStatusNotification.
    Firmware,
    /// 1.6 SignedUpdateFirmware: SignedFirmwareStatusNotification.
    SignedFirmware,
    /// 1.6 GetDiagnostics: DiagnosticsStatusNotification.
    Diagnostics,
    /// 1.6 GetLog / 2.0.1 GetLog: LogStatusNotification.
    Log,
}

impl JobKind {
    fn is_upload(self) -> bool {
        matches!(self, Self::Diagnostics | Self::Log)
    }
}

/// A call the charge point will send; its payload is built when it is sent, so readings are
/// current.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Out {
    Boot,
    Heartbeat,
    /// The connector's status (1.6 StatusNotification; in 2.0.1 a StatusNotification when the
    /// connector's occupancy changes, and a TransactionEvent when the charging state changes).
    Status(Status),
    /// The charge point's own status (1.6 connector 0).
    StationStatus,
    Authorize(IdToken),
    Start {
        token: IdToken,
        remote_start_id: Option<i64>,
    },
    /// 2.0.1: a charging state change during a transaction.
    ChargingStateChanged(Status),
    /// Meter values: periodic, or asked for by a trigger.
    Meter {
        triggered: bool,
    },
    Stop(StopReason),
    /// A firmware or upload job's progress.
    JobStatus {
        kind: JobKind,
        status: &'static str,
        request_id: Option<i32>,
    },
    /// 2.0.1: a reservation ran out unused (ReservationStatusUpdate).
    ReservationExpired(i32),
    /// 2.0.1: the device-model report a GetBaseReport asked for (NotifyReport).
    Report(i32),
    /// A security event (1.6 security extension / 2.0.1 SecurityEventNotification).
    SecurityEvent(&'static str),
    /// A certificate signing request (SignCertificate).
    SignCertificate,
    /// 2.0.1: what the charge point keeps about a customer (NotifyCustomerInformation).
    CustomerInformation {
        request_id: i32,
        data: String,
    },
}

impl Out {
    /// Messages that must reach the server: never dropped, sent again after a lost connection.
    fn is_essential(&self) -> bool {
        matches!(self, Self::Boot | Self::Start { .. } | Self::Stop(_))
    }
}

/// The transaction on the one connector.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tx {
    Idle,
    /// Authorize or start queued or sent; 2.0.1 names its id when the start is first sent.
    Starting {
        token: IdToken,
        id: Option<String>,
    },
    Active {
        id: String,
        started: DateTime<Utc>,
        token: IdToken,
    },
    Stopping {
        id: String,
        reason: StopReason,
    },
}

impl Tx {
    pub(crate) fn id(&self) -> Option<&str> {
        match self {
            Self::Active { id, .. } | Self::Stopping { id, .. } => Some(id),
            Self::Starting { id, .. } => id.as_deref(),
            Self::Idle => None,
        }
    }
}

/// Our call waiting for its answer.
#[derive(Debug)]
struct Pending {
    id: String,
    call: Out,
    action: &'static str,
    sent_at: Instant,
}

/// A message that falls due every interval; a zero interval never falls due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Periodic {
    interval: Duration,
    next_due: Option<Instant>,
}

impl Periodic {
    const fn stopped(interval: Duration) -> Self {
        Self {
            interval,
            next_due: None,
        }
    }

    /// Starts it: first due at `now + phase`, then every interval.
    fn start(&mut self, now: Instant, phase: Option<Duration>) {
        if !self.interval.is_zero() {
            self.next_due = Some(now + phase.unwrap_or(self.interval));
        }
    }

    fn stop(&mut self) {
        self.next_due = None;
    }

    fn is_running(&self) -> bool {
        self.next_due.is_some()
    }

    /// A new interval, from now on.
    fn retime(&mut self, now: Instant, interval: Duration) {
        let running = self.is_running();
        self.interval = interval;
        self.next_due = None;
        if running {
            self.start(now, None);
        }
    }

    /// Whether it is due at `now`. When it is, it falls due again one interval after the time it
    /// was due, keeping its phase; if that is already past (the charger was blocked or offline),
    /// one interval after `now`, so a late charger sends one message, not a burst.
    fn fire(&mut self, now: Instant) -> bool {
        let Some(due) = self.next_due else {
            return false;
        };
        if due > now {
            return false;
        }
        let next = due + self.interval;
        self.next_due = Some(if next > now { next } else { now + self.interval });
        true
    }
}

/// A firmware update or an upload under way: the statuses still to report, one a step.
#[derive(Debug)]
pub(crate) struct Job {
    kind: JobKind,
    steps: VecDeque<&'static str>,
    request_id: Option<i32>,
    next_at: Instant,
}

/// The reservation the charge point holds for its connector.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reservation {
    pub(crate) id: i32,
    pub(crate) id_tag: String,
    pub(crate) expires_at: DateTime<Utc>,
}

/// An authorisation status as the local list and the cache keep it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuthEntry {
    /// The OCPP status word (`Accepted`, `Blocked`, `Expired`, `Invalid`, ...).
    pub(crate) status: String,
    /// When an accepted entry stops being so.
    pub(crate) expires_at: Option<DateTime<Utc>>,
}

impl AuthEntry {
    pub(crate) fn accepts(&self, at: DateTime<Utc>) -> bool {
        self.status == "Accepted" && self.expires_at.is_none_or(|e| at < e)
    }
}

/// An installed certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Certificate {
    /// Its use, as the version names it (`CentralSystemRootCertificate`, `CSMSRootCertificate`,
    /// `ChargePointCertificate`, ...).
    pub(crate) kind: String,
    /// The PEM text.
    pub(crate) pem: String,
    /// Its serial number as reported (the charge point does not parse X.509: the serial is the
    /// order of installation and the hashes are of the PEM text, consistent across calls).
    pub(crate) serial: String,
}

impl Certificate {
    /// The hash data that names it (OCPP CertificateHashDataType).
    pub(crate) fn hash_data(&self) -> Value {
        use sha2::{Digest, Sha256};
        let name = hex::encode(Sha256::digest(format!("issuer-name:{}", self.pem)));
        let key = hex::encode(Sha256::digest(format!("issuer-key:{}", self.pem)));
        serde_json::json!({
            "hashAlgorithm": "SHA256",
            "issuerNameHash": name,
            "issuerKeyHash": key,
            "serialNumber": self.serial,
        })
    }
}

/// What an answer to one of our calls says, whichever the version.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Answer {
    Boot {
        accepted: bool,
        interval: i64,
    },
    Authorized {
        status: String,
        expires_at: Option<DateTime<Utc>>,
    },
    Started {
        id: Option<String>,
        accepted: bool,
    },
    Other,
}

/// One simulated charge point with one connector (EVSE 1), whichever the version.
#[derive(Debug)]
pub struct ChargePoint {
    pub(crate) config: Config,
    pub(crate) connected: bool,
    pub(crate) booted: bool,
    boot_retry_at: Option<Instant>,
    heartbeat: Periodic,
    meter: Periodic,
    pub(crate) queue: VecDeque<Out>,
    pending: Option<Pending>,
    next_message_id: u64,
    pub(crate) tx: Tx,
    /// The car plugged in.
    pub(crate) plugged: Option<Vehicle>,
    /// Whether a transaction ended with the car still in.
    finishing: bool,
    /// A remote start waiting for a car.
    waiting_remote_start: Option<(IdToken, Option<i64>)>,
    pub(crate) last_status: Option<Status>,
    /// The meter's last sample, and the current offered when it was taken.
    pub(crate) sample: Sample,
    sample_offered: f64,
    /// The current offered now (what the physical side applies).
    pub(crate) offered: f64,
    pub(crate) profiles: Vec<Profile>,
    pub(crate) settings: Settings,
    pub(crate) available: bool,
    /// Availability to apply once the running transaction ends.
    available_after_tx: Option<bool>,
    /// A reset waiting for the transaction's end to be sent (`Some(hard)`).
    reset_pending: Option<bool>,
    /// Close the connection now and boot again (after a reset).
    reset_now: bool,
    /// The next boot follows a reset.
    pub(crate) rebooted: bool,
    /// Winding down: no periodic messages, no new transactions.
    shutting_down: bool,
    /// 2.0.1: transactions begun, for naming the next one.
    pub(crate) transactions_begun: u64,
    /// 2.0.1: the next sequence number of the running transaction's events.
    pub(crate) seq_no: i64,
    /// 2.0.1: the remote start id to echo in the Started event.
    pub(crate) remote_start_id: Option<i64>,
    /// 2.0.1: the charging state the server last heard of in a TransactionEvent.
    pub(crate) charging_state_sent: Option<Status>,
    /// Consecutive failed attempts of the transaction message at the head of the queue.
    tx_message_failures: u64,
    jobs: Vec<Job>,
    /// The last firmware and upload statuses reported (what a trigger reports).
    pub(crate) firmware_status: &'static str,
    pub(crate) upload_status: &'static str,
    pub(crate) reservation: Option<Reservation>,
    /// The reservation the starting transaction uses, named in its start.
    pub(crate) reservation_in_use: Option<i32>,
    /// The local authorisation list: version and entries by id tag.
    pub(crate) local_list_version: i32,
    pub(crate) local_list: BTreeMap<String, AuthEntry>,
    /// The authorisation cache: what the server last said of each id tag.
    pub(crate) auth_cache: BTreeMap<String, AuthEntry>,
    pub(crate) certificates: Vec<Certificate>,
    certificates_installed: u64,
    events: VecDeque<Event>,
}

impl ChargePoint {
    /// A charge point that has not connected yet.
    pub fn new(config: Config) -> Self {
        let settings = Settings::new(
            config.free_vend,
            &config.free_vend_id_tag,
            config.sends_vehicle_identity,
            config.heartbeat_interval.as_secs(),
            config.meter_interval.as_secs(),
        );
        Self {
            heartbeat: Periodic::stopped(config.heartbeat_interval),
            meter: Periodic::stopped(config.meter_interval),
            config,
            connected: false,
            booted: false,
            boot_retry_at: None,
            queue: VecDeque::new(),
            pending: None,
            next_message_id: 0,
            tx: Tx::Idle,
            plugged: None,
            finishing: false,
            waiting_remote_start: None,
            last_status: None,
            sample: Sample::default(),
            sample_offered: 0.0,
            offered: 0.0,
            profiles: Vec::new(),
            settings,
            available: true,
            available_after_tx: None,
            reset_pending: None,
            reset_now: false,
            rebooted: false,
            shutting_down: false,
            transactions_begun: 0,
            seq_no: 0,
            remote_start_id: None,
            charging_state_sent: None,
            tx_message_failures: 0,
            jobs: Vec::new(),
            firmware_status: "Idle",
            upload_status: "Idle",
            reservation: None,
            reservation_in_use: None,
            local_list_version: 0,
            local_list: BTreeMap::new(),
            auth_cache: BTreeMap::new(),
            certificates: Vec::new(),
            certificates_installed: 0,
            events: VecDeque::new(),
        }
    }

    // ---- What the drivers read. ----

    /// Its configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether the server has accepted its boot.
    pub fn is_booted(&self) -> bool {
        self.booted
    }

    /// Whether it is connected with an accepted boot.
    pub fn is_online(&self) -> bool {
        self.connected && self.booted
    }

    /// Whether a transaction is starting, running or stopping.
    pub fn has_transaction(&self) -> bool {
        self.tx != Tx::Idle
    }

    /// Whether a transaction runs (started, not stopping).
    pub fn is_charging(&self) -> bool {
        matches!(self.tx, Tx::Active { .. })
    }

    /// Whether a remote start waits for a car to be plugged in.
    pub fn awaits_vehicle(&self) -> bool {
        self.waiting_remote_start.is_some()
    }

    /// The running (or starting, or stopping) transaction's id.
    pub fn transaction_id(&self) -> Option<&str> {
        self.tx.id()
    }

    /// The connector status last reported.
    pub fn status(&self) -> Option<Status> {
        self.last_status
    }

    /// The charging profiles held.
    pub fn profiles(&self) -> &[Profile] {
        &self.profiles
    }

    /// The current offered now, amperes per phase (what the physical side must apply).
    pub fn offered_current(&self) -> f64 {
        self.offered
    }

    /// The current its charging profiles allow at `at`, amperes per phase, whether or not a
    /// transaction runs: what it would offer a car then.
    pub fn limit_at(&self, at: DateTime<Utc>) -> f64 {
        offered_limit(&self.profiles, at, self.tx_context(), self.config.max_current)
    }

    /// Whether nothing is outstanding or queued (the driver may close the connection).
    pub fn is_quiet(&self) -> bool {
        self.pending.is_none() && self.queue.is_empty()
    }

    /// Whether it reset and wants its connection closed (it boots on the next one). Taking it
    /// clears it.
    pub fn take_reset(&mut self) -> bool {
        std::mem::take(&mut self.reset_now)
    }

    /// The next thing that happened, oldest first. Drivers drain these after each input.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`ChargePoint::tick`] next has something to do, if anything.
    pub fn next_timer(&self, at: Moment) -> Option<Instant> {
        let timeout = self.pending.as_ref().map(|p| p.sent_at + self.config.call_timeout);
        let reservation = self.reservation.as_ref().map(|r| {
            let left = (r.expires_at - at.wall).to_std().unwrap_or(Duration::ZERO);
            at.instant + left
        });
        let periodic = if self.shutting_down || !self.booted {
            [None, None]
        } else {
            [self.heartbeat.next_due, self.meter.next_due]
        };
        [timeout, self.boot_retry_at, reservation]
            .into_iter()
            .chain(periodic)
            .chain(self.jobs.iter().map(|j| Some(j.next_at)))
            .flatten()
            .min()
    }

    // ---- Connection. ----

    /// A connection opened: boot, or, when booted before and not booting every connection, report
    /// the connectors again.
    pub fn connected(&mut self, at: Moment) {
        self.connected = true;
        self.reset_now = false;
        self.last_status = None;
        if self.shutting_down {
            return;
        }
        if self.config.boot_every_connection || !self.booted {
            self.booted = false;
            self.boot_retry_at = None;
            // Periodic messages of the old connection are not worth sending; the rest is.
            self.queue.retain(|c| {
                c.is_essential() || matches!(c, Out::Authorize(_) | Out::JobStatus { .. } | Out::SecurityEvent(_))
            });
            self.queue.retain(|c| *c != Out::Boot);
            self.queue.push_front(Out::Boot);
        } else {
            self.push(Out::StationStatus);
        }
        self.settle(at);
    }

    /// The connection closed: our outstanding call will never be answered.
    pub fn disconnected(&mut self, at: Moment) {
        self.connected = false;
        if self.config.boot_every_connection {
            self.booted = false;
        }
        if let Some(pending) = self.pending.take() {
            self.emit(Event::CallFailed {
                action: pending.action,
                failure: Failure::Lost,
            });
            // A transaction message whose answer was lost goes out first on the next connection;
            // so does a boot.
            if pending.call.is_essential() {
                self.queue.push_front(pending.call);
            }
        }
        let _ = at;
    }

    /// Winds down (the end of a load run): no more periodic messages, and a running transaction
    /// is stopped so the server is left with no open transaction.
    pub fn begin_shutdown(&mut self, at: Moment) {
        self.shutting_down = true;
        self.heartbeat.stop();
        self.meter.stop();
        self.boot_retry_at = None;
        self.queue.clear();
        self.jobs.clear();
        self.waiting_remote_start = None;
        let pending = self.pending.as_ref().map(|p| p.call.clone());
        match &self.tx {
            Tx::Active { .. } => self.end(StopReason::Local),
            Tx::Stopping { reason, .. } if !matches!(pending, Some(Out::Stop(_))) => {
                let reason = *reason;
                self.queue.push_back(Out::Stop(reason));
            }
            Tx::Starting { .. } if !matches!(pending, Some(Out::Start { .. })) => self.tx = Tx::Idle,
            _ => {}
        }
        self.settle(at);
    }

    // ---- Physical events. ----

    /// The physical side as it is now: a car plugged in or out, and the meter.
    pub fn observe(&mut self, at: Moment, reading: Reading) {
        match (self.plugged.is_some(), reading.vehicle) {
            (false, Some(car)) => self.plug(car),
            (true, None) => self.unplug_car(),
            _ => {}
        }
        self.record(reading.sample);
        self.settle(at);
    }

    /// A car was plugged in.
    pub fn plug_in(&mut self, at: Moment, vehicle: Vehicle) {
        if self.plugged.is_none() {
            self.plug(vehicle);
        }
        self.settle(at);
    }

    /// The car was unplugged.
    pub fn unplug(&mut self, at: Moment) {
        if self.plugged.is_some() {
            self.unplug_car();
        }
        self.settle(at);
    }

    /// The meter was read.
    pub fn meter(&mut self, at: Moment, sample: Sample) {
        self.record(sample);
        self.settle(at);
    }

    /// A driver presented a card (RFID) at the charge point: it stops the transaction it started,
    /// or starts one (authorised by the local list, the cache or an Authorize).
    pub fn present_card(&mut self, at: Moment, id_tag: &str) {
        let same = match &self.tx {
            Tx::Active { token, .. } => token.as_tag() == id_tag,
            _ => false,
        };
        if same {
            self.end(StopReason::Local);
        } else if self.tx == Tx::Idle && self.available && !self.shutting_down {
            let token = IdToken::Tag(id_tag.to_owned());
            match self.local_verdict(id_tag, at.wall) {
                Some(true) => self.begin(at, token, None, false),
                // Refused by the list the server sent: nothing starts.
                Some(false) => {}
                None => self.begin(at, token, None, self.config.authorize_local_starts),
            }
        }
        self.settle(at);
    }

    /// The driver ended the transaction at the charge point.
    pub fn stop_transaction(&mut self, at: Moment) {
        if matches!(self.tx, Tx::Active { .. }) {
            self.end(StopReason::Local);
        }
        self.settle(at);
    }

    // ---- Time. ----

    /// Lets time pass: times out the outstanding call, retries a boot, queues periodic messages,
    /// walks jobs and ends a reservation that ran out.
    pub fn tick(&mut self, at: Moment) {
        let now = at.instant;
        if let Some(pending) = self.pending.take_if(|p| now >= p.sent_at + self.config.call_timeout) {
            self.emit(Event::CallFailed {
                action: pending.action,
                failure: Failure::Timeout,
            });
            self.call_failed(at, pending.call);
        }
        if self.boot_retry_at.is_some_and(|due| now >= due) {
            self.boot_retry_at = None;
            self.queue_once(Out::Boot);
        }
        if self.booted && !self.shutting_down {
            if self.heartbeat.fire(now) {
                self.queue_periodic(Out::Heartbeat);
            }
            let active = matches!(self.tx, Tx::Active { .. });
            if !self.config.meter_when_idle {
                if active && !self.meter.is_running() {
                    self.meter.start(now, None);
                } else if !active {
                    self.meter.stop();
                }
            }
            if self.meter.fire(now) {
                self.queue_periodic(Out::Meter { triggered: false });
            }
        }
        self.advance_jobs(now);
        self.expire_reservation(at.wall);
        self.settle(at);
    }

    // ---- Frames. ----

    /// The next call to send, if none is outstanding; it becomes the outstanding one.
    pub fn poll_frame(&mut self, at: Moment) -> Option<Frame> {
        if self.pending.is_some() || !self.connected {
            return None;
        }
        while let Some(call) = self.queue.pop_front() {
            // Nothing but the boot goes out before the boot is accepted.
            if !self.booted && call != Out::Boot {
                self.queue.push_front(call);
                break;
            }
            let built = match self.config.version {
                OcppVersion::V16 => v16::build(self, &call, at),
                OcppVersion::V201 => v201::build(self, &call, at),
            };
            match built {
                Ok(Some((action, payload))) => {
                    self.next_message_id += 1;
                    let id = self.next_message_id.to_string();
                    let frame = Frame::call(id.clone(), action, payload);
                    self.pending = Some(Pending {
                        id,
                        call,
                        action,
                        sent_at: at.instant,
                    });
                    return Some(frame);
                }
                // Nothing to send any more (a stop for a transaction that never got an id).
                Ok(None) => {}
                Err(error) => self.emit(Event::BuildFailed {
                    action: out_name(&call),
                    error: error.to_string(),
                }),
            }
        }
        self.maybe_reset();
        None
    }

    /// A text frame from the server: an answer to our call (nothing to send back), or a call to
    /// answer (its CALLRESULT or CALLERROR), or a broken frame (the CALLERROR OCPP-J asks for, if
    /// any).
    pub fn handle_text(&mut self, at: Moment, text: &str) -> Option<Frame> {
        let reply = match Frame::parse(text) {
            Ok(Frame::Call { id, action, payload }) => Some(self.on_call(at, &id, &action, &payload)),
            Ok(Frame::CallResult { id, payload }) => {
                self.on_answer(at, &id, Ok(payload));
                None
            }
            Ok(Frame::CallError {
                id, code, description, ..
            }) => {
                self.on_answer(at, &id, Err(Failure::CallError { code, description }));
                None
            }
            Err(error) => {
                let is_response = matches!(
                    error.message_type,
                    Some(MessageType::CallResult | MessageType::CallError)
                );
                let pending_id = self.pending.as_ref().map(|p| p.id.as_str());
                if is_response && error.message_id.is_some() && error.message_id.as_deref() == pending_id {
                    let id = error.reply_id().to_owned();
                    self.on_answer(at, &id, Err(Failure::BrokenAnswer(error.description)));
                    None
                } else {
                    self.emit(Event::ProtocolError {
                        description: error.description.clone(),
                    });
                    error.answer(self.config.version)
                }
            }
        };
        self.settle(at);
        reply
    }

    fn on_call(&mut self, at: Moment, id: &str, action: &str, payload: &Value) -> Frame {
        let answered = match self.config.version {
            OcppVersion::V16 => v16::answer(self, action, payload, at),
            OcppVersion::V201 => v201::answer(self, action, payload, at),
        };
        let remote_start = answered.is_ok() && matches!(action, "RemoteStartTransaction" | "RequestStartTransaction");
        if remote_start {
            self.emit(Event::RemoteStartRequested);
        }
        match answered {
            Ok(payload) => {
                self.emit(Event::Incoming {
                    action: action.to_owned(),
                    refused: None,
                });
                Frame::call_result(id, payload)
            }
            Err(error) => {
                self.emit(Event::Incoming {
                    action: action.to_owned(),
                    refused: Some(error.to_string()),
                });
                error.call_error(id, self.config.version)
            }
        }
    }

    fn on_answer(&mut self, at: Moment, id: &str, outcome: Result<Value, Failure>) {
        let Some(pending) = self.pending.take_if(|p| p.id == id) else {
            self.emit(Event::UnexpectedResponse);
            return;
        };
        let read = |payload: &Value| match self.config.version {
            OcppVersion::V16 => v16::read_answer(pending.action, payload),
            OcppVersion::V201 => v201::read_answer(pending.action, payload),
        };
        let failure = match outcome.map(|payload| read(&payload)) {
            Ok(Ok(answer)) => {
                self.emit(Event::CallAnswered {
                    action: pending.action,
                    latency: at.instant.saturating_duration_since(pending.sent_at),
                });
                self.answered(at, pending.call, answer);
                return;
            }
            Ok(Err(error)) => Failure::InvalidAnswer(error.to_string()),
            Err(failure) => failure,
        };
        self.emit(Event::CallFailed {
            action: pending.action,
            failure,
        });
        self.call_failed(at, pending.call);
    }

    /// A call of ours got no usable answer.
    fn call_failed(&mut self, at: Moment, call: Out) {
        match call {
            Out::Boot if !self.booted && !self.shutting_down => {
                self.boot_retry_at = Some(at.instant + BOOT_RETRY);
            }
            Out::Authorize(_) => {
                if matches!(self.tx, Tx::Starting { .. }) {
                    self.tx = Tx::Idle;
                }
            }
            Out::Start { .. } | Out::Stop(_) => {
                // Transaction messages are tried again (TransactionMessageAttempts), then given up.
                self.tx_message_failures += 1;
                let attempts = self.settings.number(settings::TX_MESSAGE_ATTEMPTS).max(1);
                if self.tx_message_failures < attempts && !self.shutting_down {
                    self.queue.push_front(call);
                    return;
                }
                self.tx_message_failures = 0;
                match call {
                    Out::Start { .. } if matches!(self.tx, Tx::Starting { .. }) => {
                        self.tx = Tx::Idle;
                        self.reservation_in_use = None;
                    }
                    Out::Stop(_) if matches!(self.tx, Tx::Stopping { .. }) => self.transaction_over(),
                    _ => {}
                }
            }
            _ => {}
        }
    }

    fn answered(&mut self, at: Moment, call: Out, answer: Answer) {
        match (call, answer) {
            (Out::Boot, Answer::Boot { accepted, interval }) => {
                let interval = Duration::from_secs(u64::try_from(interval).unwrap_or(0));
                if accepted {
                    self.emit(Event::BootAccepted);
                    self.boot_accepted(at, interval);
                } else {
                    self.emit(Event::BootNotAccepted);
                    if !self.booted {
                        self.boot_retry_at = Some(at.instant + interval.clamp(BOOT_RETRY_MIN, BOOT_RETRY_MAX));
                    }
                }
            }
            (Out::Authorize(token), Answer::Authorized { status, expires_at }) => {
                let accepted = status == "Accepted";
                if self.settings.flag(settings::CACHE_ENABLED) {
                    self.auth_cache.insert(token.as_tag(), AuthEntry { status, expires_at });
                }
                if accepted && matches!(self.tx, Tx::Starting { .. }) {
                    self.queue.push_front(Out::Start {
                        token,
                        remote_start_id: None,
                    });
                } else if !accepted && matches!(self.tx, Tx::Starting { .. }) {
                    self.tx = Tx::Idle;
                    self.reservation_in_use = None;
                }
            }
            (Out::Start { token, .. }, Answer::Started { id, accepted }) => {
                self.tx_message_failures = 0;
                self.reservation_in_use = None;
                let id = id.or_else(|| self.tx.id().map(str::to_owned)).unwrap_or_default();
                let stop_queued = self.queue.iter().find_map(|c| match c {
                    Out::Stop(reason) => Some(*reason),
                    _ => None,
                });
                self.queue.retain(|c| !matches!(c, Out::Stop(_)));
                self.tx = Tx::Active {
                    id,
                    started: at.wall,
                    token,
                };
                if !accepted {
                    // StopTransactionOnInvalidId: the server refused the token.
                    self.emit(Event::TransactionRefused);
                    self.end(StopReason::DeAuthorized);
                } else {
                    self.emit(Event::TransactionStarted);
                    if let Some(reason) = stop_queued {
                        // The car left (or a stop came) while the start was in flight.
                        self.end(reason);
                    } else if self.shutting_down {
                        self.end(StopReason::Local);
                    }
                }
            }
            (Out::Stop(_), _) => {
                self.tx_message_failures = 0;
                self.emit(Event::TransactionStopped);
                self.transaction_over();
            }
            _ => {}
        }
    }

    /// The transaction's end reached the server (or was given up).
    fn transaction_over(&mut self) {
        self.tx = Tx::Idle;
        self.finishing = self.plugged.is_some();
        self.remote_start_id = None;
        // Profiles of the ended transaction go with it.
        self.profiles.retain(|p| p.purpose != Purpose::Tx);
        if let Some(available) = self.available_after_tx.take() {
            self.available = available;
        }
    }

    fn boot_accepted(&mut self, at: Moment, interval: Duration) {
        self.booted = true;
        self.boot_retry_at = None;
        if self.shutting_down {
            return;
        }
        if self.config.follow_server_heartbeat && !interval.is_zero() {
            self.settings
                .put(settings::HEARTBEAT_INTERVAL, interval.as_secs().to_string());
            self.heartbeat.retime(at.instant, interval);
        }
        if !self.heartbeat.is_running() {
            self.heartbeat.start(at.instant, self.config.heartbeat_phase);
        }
        if self.config.meter_when_idle && !self.meter.is_running() {
            self.meter.start(at.instant, self.config.meter_phase);
        }
        self.last_status = None;
        self.queue.push_front(Out::StationStatus);
        if std::mem::take(&mut self.rebooted) {
            self.push(Out::SecurityEvent("ResetOrReboot"));
        }
    }

    // ---- The connector and its transaction. ----

    fn tx_context(&self) -> Option<TxContext<'_>> {
        match &self.tx {
            Tx::Active { id, started, .. } => Some(TxContext { id, started: *started }),
            _ => None,
        }
    }

    fn record(&mut self, sample: Sample) {
        self.sample = sample;
        self.sample_offered = self.offered;
    }

    fn plug(&mut self, car: Vehicle) {
        let identity = self
            .settings
            .flag(settings::AUTO_CHARGE)
            .then(|| car.mac_address.clone())
            .flatten();
        self.plugged = Some(car);
        self.finishing = false;
        if let Some((token, remote_start_id)) = self.waiting_remote_start.take() {
            self.begin_now(token, remote_start_id, false);
        } else if self.available && !self.shutting_down && self.settings.flag(settings::FREE_VEND) {
            let token = match identity {
                Some(mac) => IdToken::Mac(mac),
                None => IdToken::Tag(
                    self.settings
                        .get(settings::FREE_VEND_ID_TAG)
                        .unwrap_or(&self.config.free_vend_id_tag)
                        .to_owned(),
                ),
            };
            self.begin_now(token, None, self.config.authorize_local_starts);
        }
    }

    fn unplug_car(&mut self) {
        self.plugged = None;
        self.finishing = false;
        self.end(StopReason::EvDisconnected);
    }

    /// What the local list or the cache says of `id_tag`: `Some(true)` accepted, `Some(false)`
    /// refused, `None` unknown (ask the server).
    fn local_verdict(&self, id_tag: &str, at: DateTime<Utc>) -> Option<bool> {
        if self.settings.flag(settings::LOCAL_LIST_ENABLED) {
            if let Some(entry) = self.local_list.get(id_tag) {
                return Some(entry.accepts(at));
            }
        }
        if self.settings.flag(settings::CACHE_ENABLED) && self.settings.flag(settings::LOCAL_PRE_AUTHORIZE) {
            if let Some(entry) = self.auth_cache.get(id_tag) {
                if entry.accepts(at) {
                    return Some(true);
                }
            }
        }
        None
    }

    /// Starts a transaction, showing Preparing first.
    fn begin(&mut self, at: Moment, token: IdToken, remote_start_id: Option<i64>, authorize: bool) {
        if self.tx != Tx::Idle {
            return;
        }
        self.begin_now(token, remote_start_id, authorize);
        self.settle(at);
    }

    /// Starts a transaction: Authorize first when asked, the start straight away otherwise.
    fn begin_now(&mut self, token: IdToken, remote_start_id: Option<i64>, authorize: bool) {
        if self.tx != Tx::Idle {
            return;
        }
        // The driver of a reservation arrived: the transaction is theirs, and names it.
        let token = match self.reservation.take() {
            Some(reservation) => {
                self.reservation_in_use = Some(reservation.id);
                match token {
                    IdToken::Central(_) => token,
                    _ => IdToken::Tag(reservation.id_tag),
                }
            }
            None => token,
        };
        self.tx = Tx::Starting {
            token: token.clone(),
            id: None,
        };
        // The connector shows Preparing before the start goes out.
        self.report_status();
        if authorize {
            self.queue.push_back(Out::Authorize(token));
        } else {
            self.queue.push_back(Out::Start { token, remote_start_id });
        }
    }

    /// Ends the running transaction (or abandons one that has not started).
    pub(crate) fn end(&mut self, reason: StopReason) {
        match std::mem::replace(&mut self.tx, Tx::Idle) {
            Tx::Active { id, .. } => {
                self.tx = Tx::Stopping { id, reason };
                self.queue.push_back(Out::Stop(reason));
            }
            Tx::Starting { token, id } => {
                // A start in flight: let it finish, then stop it at once.
                let in_flight = self
                    .pending
                    .as_ref()
                    .is_some_and(|p| matches!(p.call, Out::Start { .. }))
                    || self.queue.iter().any(|c| matches!(c, Out::Start { .. }));
                if in_flight {
                    self.tx = Tx::Starting { token, id };
                    if !self.queue.iter().any(|c| matches!(c, Out::Stop(_))) {
                        self.queue.push_back(Out::Stop(reason));
                    }
                } else {
                    self.queue.retain(|c| !matches!(c, Out::Authorize(_)));
                    self.reservation_in_use = None;
                }
            }
            other => self.tx = other,
        }
    }

    /// A remote start: begin now if a car is in, or wait for one. Whether it was accepted.
    pub(crate) fn remote_start(&mut self, token: IdToken, remote_start_id: Option<i64>) -> bool {
        if !self.available || self.tx != Tx::Idle || self.shutting_down || self.waiting_remote_start.is_some() {
            return false;
        }
        // A reservation for another token keeps the connector for its holder.
        if let Some(reservation) = &self.reservation {
            if reservation.id_tag != token.as_tag() {
                return false;
            }
        }
        if self.plugged.is_some() {
            self.begin_now(token, remote_start_id, false);
        } else {
            self.waiting_remote_start = Some((token, remote_start_id));
        }
        true
    }

    /// A remote stop of `id`.
    pub(crate) fn remote_stop(&mut self, id: &str) -> bool {
        if matches!(&self.tx, Tx::Active { id: running, .. } if running == id) {
            self.end(StopReason::Remote);
            true
        } else {
            false
        }
    }

    /// Reset: end the transaction, then close and boot again.
    pub(crate) fn reset(&mut self, hard: bool) {
        self.end(if hard {
            StopReason::HardReset
        } else {
            StopReason::SoftReset
        });
        self.reset_pending = Some(hard);
    }

    /// A reset once the transaction is over (2.0.1 OnIdle).
    pub(crate) fn reset_when_idle(&mut self) {
        self.reset_pending = Some(false);
    }

    fn maybe_reset(&mut self) {
        if self.reset_pending.is_some() && self.tx == Tx::Idle && self.pending.is_none() && self.queue.is_empty() {
            self.reset_pending = None;
            self.reset_now = true;
            self.rebooted = true;
            self.booted = false;
            self.heartbeat.stop();
            self.meter.stop();
            self.waiting_remote_start = None;
            // A reboot forgets the transaction profiles and the reservation of the old session.
            self.profiles.retain(|p| p.purpose != Purpose::Tx);
        }
    }

    /// Availability change: whether it applies now (otherwise once the transaction ends).
    pub(crate) fn set_available(&mut self, operative: bool) -> bool {
        if !operative && !matches!(self.tx, Tx::Idle) {
            self.available_after_tx = Some(false);
            return false;
        }
        let changed = self.available != operative;
        self.available = operative;
        self.available_after_tx = None;
        if !operative {
            self.waiting_remote_start = None;
        }
        if changed {
            // The charge point's own status changes with it (1.6 connector 0); the connector's
            // is reported as it changes.
            self.push(Out::StationStatus);
        }
        true
    }

    /// A setting change as the server asks: the answer's refusal, if refused.
    pub(crate) fn change_setting(&mut self, at: Moment, key: &str, value: &str) -> Result<(), settings::Refusal> {
        let key = self.settings.change(key, value)?;
        let secs = Duration::from_secs(self.settings.number(&key));
        if key == settings::HEARTBEAT_INTERVAL {
            self.heartbeat.retime(at.instant, secs);
            if self.booted && !self.heartbeat.is_running() {
                self.heartbeat.start(at.instant, None);
            }
        } else if key == settings::METER_INTERVAL {
            self.meter.retime(at.instant, secs);
            if self.booted && self.config.meter_when_idle && !self.meter.is_running() {
                self.meter.start(at.instant, None);
            }
        } else if key == settings::LOCAL_LIST_ENABLED && !self.settings.flag(&key) {
            // A disabled list is not consulted; its entries stay for when it is enabled again.
        }
        Ok(())
    }

    /// The status the connector shows now.
    fn status_now(&self) -> Status {
        if !self.available && matches!(self.tx, Tx::Idle) {
            return Status::Unavailable;
        }
        if self.plugged.is_none() {
            return match self.tx {
                Tx::Idle if self.waiting_remote_start.is_some() => Status::Preparing,
                Tx::Idle if self.reservation.is_some() => Status::Reserved,
                Tx::Idle => Status::Available,
                // A transaction without a car: the car left, its end is on its way.
                Tx::Stopping { .. } => Status::Finishing,
                Tx::Starting { .. } => Status::Preparing,
                Tx::Active { .. } => Status::SuspendedEv,
            };
        }
        match self.tx {
            Tx::Active { .. } => {
                let offer_changed = (self.offered - self.sample_offered).abs() > f64::EPSILON;
                if self.offered < MIN_CURRENT {
                    Status::SuspendedEvse
                } else if self.sample.current_a > 0.0 || offer_changed {
                    // A new offer is taken until the meter says otherwise.
                    Status::Charging
                } else {
                    Status::SuspendedEv
                }
            }
            Tx::Stopping { .. } => Status::Finishing,
            Tx::Starting { .. } => Status::Preparing,
            Tx::Idle if self.finishing => Status::Finishing,
            Tx::Idle => Status::Preparing,
        }
    }

    /// Works out the offer and the status after an input, reporting a status that changed.
    fn settle(&mut self, at: Moment) {
        let offered = if matches!(self.tx, Tx::Active { .. }) && self.available {
            let limit = self.limit_at(at.wall);
            // An offer below the least a car can take is no offer (IEC 61851-1).
            if limit < MIN_CURRENT {
                0.0
            } else {
                limit
            }
        } else {
            0.0
        };
        self.offered = offered;
        self.report_status();
        self.maybe_reset();
    }

    /// Queues the connector's status if it changed since it was last reported.
    fn report_status(&mut self) {
        if !self.connected || !self.booted || self.shutting_down {
            return;
        }
        let status = self.status_now();
        if self.last_status == Some(status) {
            return;
        }
        let before = self.last_status.replace(status);
        match self.config.version {
            OcppVersion::V16 => self.push(Out::Status(status)),
            OcppVersion::V201 => {
                let occupied = |s: Option<Status>| {
                    s.is_some_and(|s| !matches!(s, Status::Available | Status::Unavailable | Status::Reserved))
                };
                if before.is_none() || occupied(before) != occupied(Some(status)) || !occupied(Some(status)) {
                    self.push(Out::Status(status));
                }
                if matches!(self.tx, Tx::Active { .. }) && before.is_some() && self.charging_state_sent != Some(status)
                {
                    self.charging_state_sent = Some(status);
                    self.push(Out::ChargingStateChanged(status));
                }
            }
        }
    }

    /// Forgets the status reported, so the next settle reports it again (a trigger).
    pub(crate) fn report_status_again(&mut self) {
        self.last_status = None;
    }

    // ---- Profiles. ----

    /// Installs a profile, replacing one with the same id, or with the same purpose, stack level
    /// and connector (OCPP 1.6 §3.13.2).
    pub(crate) fn install(&mut self, profile: Profile) {
        self.profiles.retain(|p| {
            p.id != profile.id
                && !(p.purpose == profile.purpose
                    && p.stack_level == profile.stack_level
                    && p.connector == profile.connector)
        });
        self.profiles.push(profile);
    }

    /// Installs `profile`, set on `connector`, if it fits (OCPP 1.6 §5.16 / 2.0.1 K01): a Tx
    /// profile needs a running transaction (the one it names, if it names one), a station maximum
    /// belongs on connector 0, there is one connector, stack levels go up to the configured
    /// maximum, and no more profiles than the configured number are held. Whether it was installed.
    pub(crate) fn set_profile(&mut self, profile: Profile, connector: i64) -> bool {
        let running = self.tx.id().map(str::to_owned);
        let max_level = i64::try_from(self.settings.number("ChargeProfileMaxStackLevel")).unwrap_or(10);
        let max_count = usize::try_from(self.settings.number("MaxChargingProfilesInstalled")).unwrap_or(20);
        let replaces = self.profiles.iter().any(|p| p.id == profile.id);
        let fits = match profile.purpose {
            Purpose::Tx => {
                running.is_some()
                    && profile
                        .transaction_id
                        .as_ref()
                        .is_none_or(|t| Some(t) == running.as_ref())
            }
            Purpose::StationMax => connector == 0,
            Purpose::TxDefault => true,
        } && (0..=1).contains(&connector)
            && (0..=max_level).contains(&profile.stack_level)
            && (replaces || self.profiles.len() < max_count);
        if fits {
            self.install(profile);
        }
        fits
    }

    /// Removes profiles matching every criterion given; whether any matched.
    pub(crate) fn clear_profiles(
        &mut self,
        id: Option<i64>,
        connector: Option<i64>,
        purpose: Option<Purpose>,
        stack: Option<i64>,
    ) -> bool {
        let before = self.profiles.len();
        self.profiles.retain(|p| {
            !(id.is_none_or(|id| p.id == id)
                && connector.is_none_or(|c| p.connector == c)
                && purpose.is_none_or(|x| p.purpose == x)
                && stack.is_none_or(|s| p.stack_level == s))
        });
        self.profiles.len() != before
    }

    /// The composite schedule from `at` for `duration_s`: `(seconds from start, amperes)`.
    pub(crate) fn composite(&self, at: DateTime<Utc>, duration_s: i64) -> Vec<(i64, f64)> {
        crate::profile::composite(
            &self.profiles,
            at,
            duration_s,
            self.tx_context(),
            self.config.max_current,
        )
    }

    // ---- Jobs, reservations, authorisation, certificates. ----

    /// Starts reporting a firmware update or an upload: `steps` are sent one every [`JOB_STEP`].
    pub(crate) fn start_job(&mut self, at: Moment, kind: JobKind, steps: &[&'static str], request_id: Option<i32>) {
        // A new request replaces one of the same kind under way (2.0.1 AcceptedCanceled).
        self.jobs.retain(|j| j.kind.is_upload() != kind.is_upload());
        self.jobs.push(Job {
            kind,
            steps: steps.iter().copied().collect(),
            request_id,
            next_at: at.instant + JOB_STEP,
        });
    }

    /// Whether a job of the kind (firmware or upload) is under way.
    pub(crate) fn job_running(&self, upload: bool) -> bool {
        self.jobs.iter().any(|j| j.kind.is_upload() == upload)
    }

    fn advance_jobs(&mut self, now: Instant) {
        let mut due = Vec::new();
        for job in &mut self.jobs {
            if now >= job.next_at {
                if let Some(status) = job.steps.pop_front() {
                    due.push((job.kind, status, job.request_id));
                    job.next_at = now + JOB_STEP;
                }
            }
        }
        self.jobs.retain(|j| !j.steps.is_empty());
        for (kind, status, request_id) in due {
            if kind.is_upload() {
                self.upload_status = status;
            } else {
                self.firmware_status = status;
                if status == "Installed" {
                    self.push(Out::SecurityEvent("FirmwareUpdated"));
                }
            }
            self.push(Out::JobStatus {
                kind,
                status,
                request_id,
            });
        }
    }

    /// Ends a reservation whose time ran out (2.0.1 says so in a ReservationStatusUpdate; the
    /// connector's status says it in both versions).
    fn expire_reservation(&mut self, wall: DateTime<Utc>) {
        if self.reservation.as_ref().is_some_and(|r| wall >= r.expires_at) {
            if let Some(expired) = self.reservation.take() {
                if self.config.version == OcppVersion::V201 {
                    self.push(Out::ReservationExpired(expired.id));
                }
            }
        }
    }

    /// A ReserveNow for the one connector (0: any, which is the same here): the OCPP status word.
    pub(crate) fn reserve(
        &mut self,
        at: Moment,
        id: i32,
        connector: i32,
        id_tag: String,
        expires_at: DateTime<Utc>,
    ) -> &'static str {
        if !(0..=1).contains(&connector) || !self.settings.flag("ReservationEnabled") || expires_at <= at.wall {
            return "Rejected";
        }
        if !self.available {
            return "Unavailable";
        }
        // A reservation with the same id replaces the one held (OCPP 1.6 §5.13).
        let other = self.reservation.as_ref().is_some_and(|r| r.id != id);
        if other || self.tx != Tx::Idle || self.plugged.is_some() || self.waiting_remote_start.is_some() {
            return "Occupied";
        }
        self.reservation = Some(Reservation { id, id_tag, expires_at });
        "Accepted"
    }

    /// A CancelReservation: whether the reservation was held.
    pub(crate) fn cancel_reservation(&mut self, id: i32) -> bool {
        self.reservation.take_if(|r| r.id == id).is_some()
    }

    /// Installs a certificate; whether it looked like one (PEM).
    pub(crate) fn install_certificate(&mut self, kind: &str, pem: &str) -> bool {
        if !pem.trim_start().starts_with("-----BEGIN CERTIFICATE-----") {
            return false;
        }
        self.certificates_installed += 1;
        let serial = format!("{:x}", self.certificates_installed);
        // One certificate per use replaces the previous for the charge point's own one.
        if kind.contains("ChargePointCertificate") || kind.contains("ChargingStationCertificate") {
            self.certificates.retain(|c| c.kind != kind);
        }
        self.certificates.push(Certificate {
            kind: kind.to_owned(),
            pem: pem.to_owned(),
            serial,
        });
        self.push(Out::SecurityEvent(if kind.contains("Root") {
            "CertificateInstalled"
        } else {
            "ChargePointCertificateInstalled"
        }));
        true
    }

    /// Clears the authorisation cache.
    pub(crate) fn clear_cache(&mut self) {
        self.auth_cache.clear();
    }

    // ---- Queueing. ----

    /// Queues a call unless the same one is queued or outstanding.
    pub(crate) fn queue_once(&mut self, call: Out) {
        let pending = self.pending.as_ref().is_some_and(|p| p.call == call);
        if !pending && !self.queue.contains(&call) {
            self.push(call);
        }
    }

    /// Queues a periodic message unless one of its kind still waits: a slow server then sees
    /// fewer messages instead of an ever longer queue.
    fn queue_periodic(&mut self, call: Out) {
        let waiting = self.pending.as_ref().is_some_and(|p| p.call == call) || self.queue.contains(&call);
        if waiting {
            self.emit(Event::Skipped {
                action: out_name(&call),
            });
        } else {
            self.push(call);
        }
    }

    pub(crate) fn push(&mut self, call: Out) {
        if call.is_essential() || self.queue.len() < MAX_QUEUED {
            self.queue.push_back(call);
        }
    }

    pub(crate) fn emit(&mut self, event: Event) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    /// A refusal of the whole call.
    pub(crate) fn unsupported(&self, action: &str) -> ValidationError {
        ValidationError::new(
            ErrorCode::NotSupported,
            "",
            format!("a charge point does not answer {action}"),
        )
    }
}

/// The action a call is sent as, for events (2.0.1 sends some as TransactionEvent).
fn out_name(call: &Out) -> &'static str {
    match call {
        Out::Boot => "BootNotification",
        Out::Heartbeat => "Heartbeat",
        Out::Status(_) | Out::StationStatus => "StatusNotification",
        Out::Authorize(_) => "Authorize",
        Out::Start { .. } => "StartTransaction",
        Out::ChargingStateChanged(_) => "TransactionEvent",
        Out::Meter { .. } => "MeterValues",
        Out::Stop(_) => "StopTransaction",
        Out::JobStatus { kind, .. } => match kind {
            JobKind::Firmware => "FirmwareStatusNotification",
            JobKind::SignedFirmware => "SignedFirmwareStatusNotification",
            JobKind::Diagnostics => "DiagnosticsStatusNotification",
            JobKind::Log => "LogStatusNotification",
        },
        Out::ReservationExpired(_) => "ReservationStatusUpdate",
        Out::Report(_) => "NotifyReport",
        Out::SecurityEvent(_) => "SecurityEventNotification",
        Out::SignCertificate => "SignCertificate",
        Out::CustomerInformation { .. } => "NotifyCustomerInformation",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn a_periodic_message_first_falls_due_after_its_phase() {
        let start = Instant::now();
        let mut timer = Periodic::stopped(10 * SECOND);
        assert!(!timer.fire(start + 100 * SECOND), "a stopped timer never fires");
        timer.start(start, Some(3 * SECOND));
        assert!(!timer.fire(start + 2 * SECOND));
        assert!(timer.fire(start + 3 * SECOND));
        assert_eq!(timer.next_due, Some(start + 13 * SECOND));
    }

    #[test]
    fn a_periodic_message_keeps_its_phase_when_it_fires_a_little_late() {
        let start = Instant::now();
        let mut timer = Periodic::stopped(10 * SECOND);
        timer.start(start, Some(Duration::ZERO));
        assert!(timer.fire(start + Duration::from_millis(300)));
        assert_eq!(timer.next_due, Some(start + 10 * SECOND));
    }

    #[test]
    fn a_late_timer_fires_once_instead_of_catching_up_in_a_burst() {
        let start = Instant::now();
        let mut timer = Periodic::stopped(10 * SECOND);
        timer.start(start, Some(Duration::ZERO));
        let late = start + 95 * SECOND;
        assert!(timer.fire(late));
        assert!(!timer.fire(late), "fires once");
        assert_eq!(timer.next_due, Some(late + 10 * SECOND));
    }

    #[test]
    fn a_zero_interval_disables_the_message() {
        let start = Instant::now();
        let mut timer = Periodic::stopped(Duration::ZERO);
        timer.start(start, Some(Duration::ZERO));
        assert_eq!(timer.next_due, None);
        assert!(!timer.fire(start + 1000 * SECOND));
    }

    #[test]
    fn a_stopped_timer_no_longer_falls_due() {
        let start = Instant::now();
        let mut timer = Periodic::stopped(SECOND);
        timer.start(start, Some(Duration::ZERO));
        timer.stop();
        assert!(!timer.fire(start + 5 * SECOND));
    }
}
