//! One simulated OCPP charge point (1.6 or 2.0.1, per [`Settings::version`]), without I/O.
//!
//! [`Charger`] is a state machine driven by three inputs: a text message from the
//! server ([`Charger::handle_text`]), the passing of time ([`Charger::on_timer`]) and the
//! connection coming and going. It answers every incoming CALL at once and hands out its
//! own CALLs through [`Charger::poll_call`] one at a time, so it never has more than one
//! call of its own outstanding (OCPP-J 1.6 §4.1.1) while still answering the server.
//! The session task in [`crate::session`] owns the socket and feeds it.
//!
//! Every payload is built from the typed messages of `coupler-ocpp` and validated
//! before it is sent, and every answer from the server is validated against the schema
//! of the version spoken, so a server that sends something a real charger would choke on
//! shows up in the report instead of passing unnoticed.
//!
//! The state machine is the same for both versions; only the messages differ. A 2.0.1
//! charger names its own transactions and reports them with TransactionEvent (Started,
//! Updated with the periodic meter values, Ended), its one EVSE with StatusNotification,
//! and answers the server's 2.0.1 calls (RequestStart/StopTransaction, Get/SetVariables, ...).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use coupler_ocpp::rpc::{Frame, MessageType};
use coupler_ocpp::v16::{self, Action, ChargePointStatus, Reason, Request, Response};
use coupler_ocpp::v201;
use coupler_ocpp::{ErrorCode, OcppVersion, ValidationError};
use serde_json::Value;
use tokio::time::Instant;

use crate::schedule::Periodic;
use crate::stats::Stats;

/// How long a refused or failed BootNotification waits before it is sent again, unless
/// the server names an interval.
const BOOT_RETRY: Duration = Duration::from_secs(30);

/// Bounds on the retry interval a server may ask for in a non-accepted boot.
const BOOT_RETRY_MIN: Duration = Duration::from_secs(1);
const BOOT_RETRY_MAX: Duration = Duration::from_secs(300);

/// Most CALLs a charger queues. Periodic messages are deduplicated anyway; the cap stops
/// a server that triggers messages faster than it answers them from growing the queue.
const MAX_QUEUED: usize = 64;

/// Most configuration keys a server may add through ChangeConfiguration.
const MAX_CONFIG_OVERRIDES: usize = 64;

/// Power drawn while charging: 16 A on three phases at 230 V.
const CHARGING_POWER_W: f64 = 11_040.0;
/// Current per phase while charging.
const CHARGING_CURRENT_A: f64 = 16.0;

/// The id tag the chargers start their own transactions with.
pub const LOCAL_ID_TAG: &str = "LOADGEN";

/// Settings shared by every charger of a run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Time between Heartbeats; zero sends none.
    pub heartbeat_interval: Duration,
    /// Time between MeterValues; zero sends none.
    pub meter_interval: Duration,
    /// Whether each charger starts a transaction once booted.
    pub transactions: bool,
    /// How long a transaction lasts before the charger stops it.
    pub transaction_duration: Duration,
    /// Whether a vehicle is plugged into connector 1 while no transaction runs (it reports
    /// Preparing instead of Available), so a remote start can begin charging.
    pub plugged_in: bool,
    /// How long a CALL may wait for its answer before it counts as timed out.
    pub call_timeout: Duration,
    /// The OCPP version spoken.
    pub version: OcppVersion,
}

/// What makes one charger different from the others.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The charge point identity (the last URL segment and the Basic-auth user).
    pub ocpp_id: String,
    /// Delay before the first Heartbeat after boot, in `[0, heartbeat interval)`.
    pub heartbeat_phase: Duration,
    /// Delay before the first MeterValues after boot, in `[0, meter interval)`.
    pub meter_phase: Duration,
    /// Reading of the energy register at the start, in Wh.
    pub initial_energy_wh: f64,
}

/// A CALL the charger will send; the payload is built when it is sent, so meter readings
/// and transaction ids are current.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outgoing {
    BootNotification,
    Heartbeat,
    Status { connector: i32, status: ChargePointStatus },
    MeterValues,
    StartTransaction { id_tag: String },
    StopTransaction { reason: Reason },
}

impl Outgoing {
    const fn action(&self) -> Action {
        match self {
            Self::BootNotification => Action::BootNotification,
            Self::Heartbeat => Action::Heartbeat,
            Self::Status { .. } => Action::StatusNotification,
            Self::MeterValues => Action::MeterValues,
            Self::StartTransaction { .. } => Action::StartTransaction,
            Self::StopTransaction { .. } => Action::StopTransaction,
        }
    }
}

/// Our CALL waiting for its answer.
#[derive(Debug)]
struct Pending {
    id: String,
    call: Outgoing,
    /// The action on the wire (a 2.0.1 MeterValues during a transaction is a TransactionEvent).
    wire: &'static str,
    sent_at: Instant,
}

/// What an answer to one of our calls means, whichever the version.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Boot {
        accepted: bool,
        interval: i32,
    },
    /// The server answered a transaction start; 1.6 servers allocate the id.
    Started {
        id: Option<i32>,
        accepted: bool,
    },
    Stopped,
    Other,
}

/// The transaction on connector 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transaction {
    Idle,
    /// StartTransaction queued or sent, no id yet.
    Starting,
    /// Charging; stopped by the charger at `stop_at`.
    Active {
        id: i32,
        stop_at: Instant,
    },
    /// StopTransaction queued or sent.
    Stopping {
        id: i32,
    },
}

/// How a call of ours ended without a usable answer.
#[derive(Debug)]
enum Failure {
    CallError { code: String, description: String },
    Invalid(String),
    Timeout,
    Lost,
}

/// What the session must do after a message from the server.
#[derive(Debug, Default)]
pub struct Reaction {
    /// A frame to send back at once (the answer to a CALL, or a CALLERROR for a broken frame).
    pub reply: Option<Frame>,
    /// Whether the message was a RemoteStartTransaction (what `--command-latency` waits for).
    pub remote_start: bool,
}

/// One simulated charge point with one connector.
#[derive(Debug)]
pub struct Charger {
    settings: Arc<Settings>,
    identity: Identity,
    next_message_id: u64,
    queue: VecDeque<Outgoing>,
    pending: Option<Pending>,
    booted: bool,
    boot_retry_at: Option<Instant>,
    heartbeat: Periodic,
    meter: Periodic,
    transaction: Transaction,
    /// Whether the one transaction of `--transactions` has been started.
    own_transaction_started: bool,
    energy_wh: f64,
    energy_at: Option<Instant>,
    config_overrides: Vec<(String, String)>,
    shutting_down: bool,
    /// 2.0.1: transactions begun so far (the next one's id is derived from it).
    transactions_begun: i32,
    /// 2.0.1: the id of the transaction whose Started event is queued or sent.
    starting_id: Option<i32>,
    /// 2.0.1: the next TransactionEvent sequence number of the running transaction.
    next_seq_no: i32,
    /// 2.0.1: the `remoteStartId` to echo in the next Started event.
    remote_start_id: Option<i32>,
}

impl Charger {
    /// A charger that has not connected yet.
    pub fn new(settings: Arc<Settings>, identity: Identity) -> Self {
        Self {
            heartbeat: Periodic::stopped(settings.heartbeat_interval),
            meter: Periodic::stopped(settings.meter_interval),
            energy_wh: identity.initial_energy_wh,
            settings,
            identity,
            next_message_id: 0,
            queue: VecDeque::new(),
            pending: None,
            booted: false,
            boot_retry_at: None,
            transaction: Transaction::Idle,
            own_transaction_started: false,
            energy_at: None,
            config_overrides: Vec::new(),
            shutting_down: false,
            transactions_begun: 0,
            starting_id: None,
            next_seq_no: 0,
            remote_start_id: None,
        }
    }

    /// Whether the server has accepted the charger's boot.
    pub const fn is_booted(&self) -> bool {
        self.booted
    }

    /// Whether connector 1 has a transaction starting, running or stopping.
    pub fn has_transaction(&self) -> bool {
        self.transaction != Transaction::Idle
    }

    /// Whether nothing is outstanding or queued (the charger may close its connection).
    pub fn is_quiet(&self) -> bool {
        self.pending.is_none() && self.queue.is_empty()
    }

    /// A connection was opened: boot, or after a reconnect report the connectors again
    /// (OCPP 1.6 §5.4: no new BootNotification unless the boot data changed).
    pub fn on_connected(&mut self) {
        if self.shutting_down {
            return;
        }
        if self.booted {
            self.queue_status(0, ChargePointStatus::Available);
            self.queue_status(1, self.connector_status());
        } else {
            self.boot_retry_at = None;
            self.queue_once(Outgoing::BootNotification);
        }
    }

    /// The connection was lost: our outstanding call will never be answered.
    pub fn on_disconnected(&mut self, now: Instant, stats: &Stats) {
        if let Some(pending) = self.pending.take() {
            Stats::bump(&stats.counters.lost_on_disconnect);
            self.call_failed(now, pending.call, &Failure::Lost);
        }
    }

    /// The next CALL to send, if none is outstanding; it becomes the outstanding one.
    pub fn poll_call(&mut self, now: Instant, stats: &Stats) -> Option<Frame> {
        if self.pending.is_some() {
            return None;
        }
        while let Some(call) = self.queue.pop_front() {
            let built = match self.settings.version {
                OcppVersion::V16 => self
                    .build(&call, now)
                    .and_then(|r| r.map(|r| Ok((r.action().as_str(), r.to_value()?))).transpose()),
                OcppVersion::V201 => self
                    .build201(&call, now)
                    .and_then(|r| r.map(|r| Ok((r.action().as_str(), r.to_value()?))).transpose()),
            };
            let (wire, payload) = match built {
                Ok(Some(built)) => built,
                // Nothing to send any more (a stop for a transaction that never got an id).
                Ok(None) => continue,
                Err(error) => {
                    stats
                        .call_error_log
                        .note(&format!("could not build {}: {error}", call.action().as_str()));
                    continue;
                }
            };
            self.next_message_id += 1;
            let id = self.next_message_id.to_string();
            Stats::bump(&stats.counters.calls_sent);
            stats.sent_by_action.add(wire);
            let frame = Frame::call(id.clone(), wire, payload);
            self.pending = Some(Pending {
                id,
                call,
                wire,
                sent_at: now,
            });
            return Some(frame);
        }
        None
    }

    /// When [`Charger::on_timer`] next has something to do.
    pub fn next_wakeup(&self) -> Option<Instant> {
        let timeout = self.pending.as_ref().map(|p| p.sent_at + self.settings.call_timeout);
        let stop = match self.transaction {
            Transaction::Active { stop_at, .. } if !self.shutting_down => Some(stop_at),
            _ => None,
        };
        [
            timeout,
            self.boot_retry_at,
            self.heartbeat.next_due(),
            self.meter.next_due(),
            stop,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Lets time pass: times out the outstanding call, retries a boot, queues periodic
    /// messages and stops a transaction that has run its course.
    pub fn on_timer(&mut self, now: Instant, stats: &Stats) {
        if let Some(pending) = self.pending.take_if(|p| p.sent_at + self.settings.call_timeout <= now) {
            let action = pending.wire;
            Stats::bump(&stats.counters.timeouts);
            stats.call_error_log.note(&format!(
                "{action}: no answer within {} s",
                self.settings.call_timeout.as_secs_f64()
            ));
            self.call_failed(now, pending.call, &Failure::Timeout);
        }
        if self.boot_retry_at.is_some_and(|at| at <= now) {
            self.boot_retry_at = None;
            self.queue_once(Outgoing::BootNotification);
        }
        if self.shutting_down || !self.booted {
            return;
        }
        if self.heartbeat.fire(now) {
            self.queue_periodic(Outgoing::Heartbeat, stats);
        }
        if self.meter.fire(now) {
            self.queue_periodic(Outgoing::MeterValues, stats);
        }
        if let Transaction::Active { stop_at, .. } = self.transaction {
            if stop_at <= now {
                self.stop_transaction(now, Reason::Local);
            }
        }
    }

    /// Winds down for the end of the run: no more periodic messages, and a running
    /// transaction is stopped so the server is left with no open transaction.
    pub fn begin_shutdown(&mut self, now: Instant) {
        self.shutting_down = true;
        self.heartbeat.stop();
        self.meter.stop();
        self.boot_retry_at = None;
        self.queue.clear();
        let pending = self.pending.as_ref().map(|p| p.call.action());
        match self.transaction {
            Transaction::Active { .. } => self.stop_transaction(now, Reason::Local),
            Transaction::Stopping { .. } if pending != Some(Action::StopTransaction) => {
                self.queue
                    .push_back(Outgoing::StopTransaction { reason: Reason::Local });
            }
            Transaction::Starting if pending != Some(Action::StartTransaction) => {
                self.transaction = Transaction::Idle;
            }
            _ => {}
        }
    }

    /// Handles one text message from the server.
    pub fn handle_text(&mut self, now: Instant, text: &str, stats: &Stats) -> Reaction {
        match Frame::parse(text) {
            Ok(Frame::Call { id, action, payload }) => self.on_call(now, &id, &action, &payload, stats),
            Ok(Frame::CallResult { id, payload }) => {
                self.on_answer(now, &id, Ok(payload), stats);
                Reaction::default()
            }
            Ok(Frame::CallError {
                id, code, description, ..
            }) => {
                self.on_answer(now, &id, Err(Failure::CallError { code, description }), stats);
                Reaction::default()
            }
            Err(error) => {
                let is_response = matches!(
                    error.message_type,
                    Some(MessageType::CallResult | MessageType::CallError)
                );
                let pending_id = self.pending.as_ref().map(|p| p.id.as_str());
                if is_response && error.message_id.is_some() && error.message_id.as_deref() == pending_id {
                    let id = error.reply_id().to_owned();
                    self.on_answer(now, &id, Err(Failure::Invalid(error.description)), stats);
                    return Reaction::default();
                }
                Stats::bump(&stats.counters.protocol_errors);
                stats
                    .incoming_error_log
                    .note(&format!("broken frame from the server: {}", error.description));
                Reaction {
                    reply: error.answer(self.settings.version),
                    remote_start: false,
                }
            }
        }
    }

    // ---- Our calls and their answers. ----

    fn on_answer(&mut self, now: Instant, id: &str, outcome: Result<Value, Failure>, stats: &Stats) {
        let Some(pending) = self.pending.take_if(|p| p.id == id) else {
            Stats::bump(&stats.counters.unexpected_responses);
            return;
        };
        let action = pending.wire;
        let parsed = |payload: &Value| match self.settings.version {
            OcppVersion::V16 => v16::parse_response(action, payload).map(answer_of16),
            OcppVersion::V201 => v201::parse_response(action, payload).map(|r| answer_of201(&pending.call, r)),
        };
        let failure = match outcome {
            Ok(payload) => match parsed(&payload) {
                Ok(answer) => {
                    Stats::bump(&stats.counters.calls_answered);
                    stats.record_latency(now.saturating_duration_since(pending.sent_at));
                    self.call_answered(now, answer, stats);
                    return;
                }
                Err(error) => {
                    Stats::bump(&stats.counters.invalid_responses);
                    stats.call_error_log.note(&format!("{action}: invalid answer: {error}"));
                    Failure::Invalid(error.description)
                }
            },
            Err(failure) => {
                match &failure {
                    Failure::CallError { code, description } => {
                        Stats::bump(&stats.counters.call_errors);
                        stats
                            .call_error_log
                            .note(&format!("{action}: CALLERROR {code}: {description}"));
                    }
                    Failure::Invalid(description) => {
                        Stats::bump(&stats.counters.invalid_responses);
                        stats
                            .call_error_log
                            .note(&format!("{action}: broken answer: {description}"));
                    }
                    Failure::Timeout | Failure::Lost => {}
                }
                failure
            }
        };
        self.call_failed(now, pending.call, &failure);
    }

    fn call_answered(&mut self, now: Instant, answer: Answer, stats: &Stats) {
        match answer {
            Answer::Boot { accepted, interval } => {
                if accepted {
                    Stats::bump(&stats.counters.boots_accepted);
                    self.boot_accepted(now);
                } else {
                    Stats::bump(&stats.counters.boots_not_accepted);
                    if !self.booted {
                        let asked = Duration::from_secs(u64::try_from(interval).unwrap_or(0));
                        self.boot_retry_at = Some(now + asked.clamp(BOOT_RETRY_MIN, BOOT_RETRY_MAX));
                    }
                }
            }
            Answer::Started { id, accepted } => {
                let id = id.or(self.starting_id.take()).unwrap_or(0);
                if accepted {
                    Stats::bump(&stats.counters.transactions_started);
                    self.advance_energy(now);
                    self.transaction = Transaction::Active {
                        id,
                        stop_at: now + self.settings.transaction_duration,
                    };
                    if self.shutting_down {
                        self.stop_transaction(now, Reason::Local);
                    } else {
                        self.queue_status(1, ChargePointStatus::Charging);
                    }
                } else {
                    // A real charger ends a transaction whose id tag is refused
                    // (StopTransactionOnInvalidId); the server still allocated an id.
                    Stats::bump(&stats.counters.transactions_refused);
                    stats.call_error_log.note("transaction start: id tag not accepted");
                    self.advance_energy(now);
                    self.transaction = Transaction::Active { id, stop_at: now };
                    self.stop_transaction(now, Reason::DeAuthorized);
                }
            }
            Answer::Stopped => {
                Stats::bump(&stats.counters.transactions_stopped);
                self.transaction = Transaction::Idle;
            }
            // Heartbeat, StatusNotification and MeterValues answers change nothing here.
            Answer::Other => {}
        }
    }

    fn call_failed(&mut self, now: Instant, call: Outgoing, failure: &Failure) {
        let transactional = matches!(
            call,
            Outgoing::StartTransaction { .. } | Outgoing::StopTransaction { .. }
        );
        if transactional && matches!(failure, Failure::Lost) {
            // Chargers keep transaction messages until they are delivered (OCPP 1.6 §4.7):
            // send it again, first thing on the next connection.
            self.queue.push_front(call);
            return;
        }
        match call {
            // A lost boot is sent again on the next connection instead.
            Outgoing::BootNotification if !self.booted && !self.shutting_down && !matches!(failure, Failure::Lost) => {
                self.boot_retry_at = Some(now + BOOT_RETRY);
            }
            Outgoing::StartTransaction { .. } => {
                self.transaction = Transaction::Idle;
                self.starting_id = None;
                if !self.shutting_down {
                    self.queue_status(1, ChargePointStatus::Available);
                }
            }
            // The server's view of the transaction is unknown; give it up rather than
            // retry forever.
            Outgoing::StopTransaction { .. } => self.transaction = Transaction::Idle,
            _ => {}
        }
    }

    fn boot_accepted(&mut self, now: Instant) {
        let first = !self.booted;
        self.booted = true;
        self.boot_retry_at = None;
        if self.shutting_down {
            return;
        }
        if first {
            self.heartbeat.start(now, self.identity.heartbeat_phase);
            self.meter.start(now, self.identity.meter_phase);
        }
        self.queue_status(0, ChargePointStatus::Available);
        self.queue_status(1, self.connector_status());
        if self.settings.transactions && !self.own_transaction_started {
            self.own_transaction_started = true;
            self.start_transaction(LOCAL_ID_TAG.to_owned());
        }
    }

    // ---- Transactions. ----

    fn start_transaction(&mut self, id_tag: String) {
        self.transaction = Transaction::Starting;
        self.queue_status(1, ChargePointStatus::Preparing);
        self.queue.push_back(Outgoing::StartTransaction { id_tag });
    }

    fn stop_transaction(&mut self, now: Instant, reason: Reason) {
        let Transaction::Active { id, .. } = self.transaction else {
            return;
        };
        self.advance_energy(now);
        self.transaction = Transaction::Stopping { id };
        self.queue.push_back(Outgoing::StopTransaction { reason });
        if !self.shutting_down {
            // Plugged out right away, so the connector can take the next transaction.
            self.queue_status(1, ChargePointStatus::Finishing);
            self.queue_status(1, ChargePointStatus::Available);
        }
    }

    fn connector_status(&self) -> ChargePointStatus {
        match self.transaction {
            Transaction::Idle if self.settings.plugged_in => ChargePointStatus::Preparing,
            Transaction::Idle => ChargePointStatus::Available,
            Transaction::Starting => ChargePointStatus::Preparing,
            Transaction::Active { .. } => ChargePointStatus::Charging,
            Transaction::Stopping { .. } => ChargePointStatus::Finishing,
        }
    }

    const fn is_charging(&self) -> bool {
        matches!(self.transaction, Transaction::Active { .. })
    }

    /// Brings the energy register up to `now`.
    fn advance_energy(&mut self, now: Instant) {
        if let Some(at) = self.energy_at {
            if self.is_charging() {
                let hours = now.saturating_duration_since(at).as_secs_f64() / 3600.0;
                self.energy_wh += CHARGING_POWER_W * hours;
            }
        }
        self.energy_at = Some(now);
    }

    /// The energy register in whole Wh, as the 1.6 integer fields want it.
    fn energy_register(&self) -> i32 {
        // Float to int casts saturate, so a register past 2^31 Wh cannot wrap.
        self.energy_wh.round() as i32
    }

    // ---- Queueing. ----

    fn queue_status(&mut self, connector: i32, status: ChargePointStatus) {
        self.push(Outgoing::Status { connector, status });
    }

    /// Queues a message unless the same one is already queued.
    fn queue_once(&mut self, call: Outgoing) {
        if !self.queue.contains(&call) {
            self.push(call);
        }
    }

    /// Queues a periodic message unless one of its kind is still queued or outstanding:
    /// a slow server then sees fewer messages instead of an ever longer queue.
    fn queue_periodic(&mut self, call: Outgoing, stats: &Stats) {
        let outstanding = self.pending.as_ref().is_some_and(|p| p.call == call);
        if outstanding || self.queue.contains(&call) {
            Stats::bump(&stats.counters.skipped);
        } else {
            self.push(call);
        }
    }

    fn push(&mut self, call: Outgoing) {
        // Transaction messages are never dropped: losing one would leave the server
        // with a transaction that never ends.
        let essential = matches!(
            call,
            Outgoing::StartTransaction { .. } | Outgoing::StopTransaction { .. } | Outgoing::BootNotification
        );
        if essential || self.queue.len() < MAX_QUEUED {
            self.queue.push_back(call);
        }
    }

    // ---- Payloads. ----

    fn build(&mut self, call: &Outgoing, now: Instant) -> Result<Option<Request>, ValidationError> {
        let timestamp = Utc::now();
        Ok(Some(match call {
            Outgoing::BootNotification => Request::BootNotification(v16::BootNotificationRequest {
                charge_point_vendor: "Coupler".try_into()?,
                charge_point_model: "LoadGen".try_into()?,
                charge_point_serial_number: Some(truncated(&self.identity.ocpp_id).try_into()?),
                charge_box_serial_number: None,
                firmware_version: Some(env!("CARGO_PKG_VERSION").try_into()?),
                iccid: None,
                imsi: None,
                meter_type: None,
                meter_serial_number: None,
            }),
            Outgoing::Heartbeat => Request::Heartbeat(v16::HeartbeatRequest {}),
            Outgoing::Status { connector, status } => Request::StatusNotification(v16::StatusNotificationRequest {
                connector_id: *connector,
                error_code: v16::ChargePointErrorCode::NoError,
                info: None,
                status: *status,
                timestamp: Some(timestamp),
                vendor_id: None,
                vendor_error_code: None,
            }),
            Outgoing::MeterValues => {
                self.advance_energy(now);
                let transaction_id = match self.transaction {
                    Transaction::Active { id, .. } => Some(id),
                    _ => None,
                };
                let (power, current) = if self.is_charging() {
                    (CHARGING_POWER_W, CHARGING_CURRENT_A)
                } else {
                    (0.0, 0.0)
                };
                Request::MeterValues(v16::MeterValuesRequest {
                    connector_id: 1,
                    transaction_id,
                    meter_value: vec![v16::MeterValue {
                        timestamp,
                        sampled_value: vec![
                            sampled(
                                self.energy_register().to_string(),
                                v16::Measurand::EnergyActiveImportRegister,
                                v16::UnitOfMeasure::Wh,
                            ),
                            sampled(
                                format!("{power:.0}"),
                                v16::Measurand::PowerActiveImport,
                                v16::UnitOfMeasure::W,
                            ),
                            sampled(
                                format!("{current:.1}"),
                                v16::Measurand::CurrentImport,
                                v16::UnitOfMeasure::A,
                            ),
                        ],
                    }],
                })
            }
            Outgoing::StartTransaction { id_tag } => {
                self.advance_energy(now);
                Request::StartTransaction(v16::StartTransactionRequest {
                    connector_id: 1,
                    id_tag: id_tag.as_str().try_into()?,
                    meter_start: self.energy_register(),
                    reservation_id: None,
                    timestamp,
                })
            }
            Outgoing::StopTransaction { reason } => {
                let Transaction::Stopping { id } = self.transaction else {
                    return Ok(None);
                };
                self.advance_energy(now);
                Request::StopTransaction(v16::StopTransactionRequest {
                    id_tag: None,
                    meter_stop: self.energy_register(),
                    timestamp,
                    transaction_id: id,
                    reason: Some(*reason),
                    transaction_data: None,
                })
            }
        }))
    }

    // ---- The server's calls. ----

    fn on_call(&mut self, now: Instant, id: &str, action: &str, payload: &Value, stats: &Stats) -> Reaction {
        Stats::bump(&stats.counters.incoming_calls);
        stats.incoming_by_action.add(action);
        if self.settings.version == OcppVersion::V201 {
            return self.on_call201(now, id, action, payload, stats);
        }
        let mut remote_start = false;
        let answer = match v16::parse_request(action, payload) {
            Err(error) => Err(error),
            Ok(request) => match request {
                Request::GetConfiguration(get) => self.get_configuration(get),
                Request::ChangeConfiguration(change) => Ok(self.change_configuration(change)),
                Request::RemoteStartTransaction(start) => {
                    remote_start = true;
                    Ok(self.remote_start(start))
                }
                Request::RemoteStopTransaction(stop) => Ok(self.remote_stop(now, stop)),
                Request::SetChargingProfile(_) => Ok(v16::SetChargingProfileResponse {
                    status: v16::ChargingProfileStatus::Accepted,
                }
                .into()),
                Request::ClearChargingProfile(_) => Ok(v16::ClearChargingProfileResponse {
                    status: v16::ClearChargingProfileStatus::Accepted,
                }
                .into()),
                Request::ChangeAvailability(_) => Ok(v16::ChangeAvailabilityResponse {
                    status: v16::AvailabilityStatus::Accepted,
                }
                .into()),
                Request::TriggerMessage(trigger) => Ok(self.trigger(trigger, stats)),
                other => Err(ValidationError::new(
                    ErrorCode::NotImplemented,
                    "",
                    format!("the load generator does not simulate {}", other.action().as_str()),
                )),
            },
        };
        let reply = match answer.and_then(|response| response.to_call_result(id)) {
            Ok(frame) => {
                Stats::bump(&stats.counters.incoming_answered);
                frame
            }
            Err(error) => {
                Stats::bump(&stats.counters.incoming_refused);
                stats.incoming_error_log.note(&format!("{action} refused: {error}"));
                error.call_error(id, OcppVersion::V16)
            }
        };
        Reaction {
            reply: Some(reply),
            remote_start,
        }
    }

    fn remote_start(&mut self, start: v16::RemoteStartTransactionRequest) -> Response {
        let connector_ok = start.connector_id.is_none_or(|c| c == 1);
        let free = self.transaction == Transaction::Idle && self.booted && !self.shutting_down;
        let status = if connector_ok && free {
            self.start_transaction(start.id_tag.into_inner());
            v16::RemoteStartStopStatus::Accepted
        } else {
            v16::RemoteStartStopStatus::Rejected
        };
        v16::RemoteStartTransactionResponse { status }.into()
    }

    fn remote_stop(&mut self, now: Instant, stop: v16::RemoteStopTransactionRequest) -> Response {
        let status = match self.transaction {
            Transaction::Active { id, .. } if id == stop.transaction_id => {
                self.stop_transaction(now, Reason::Remote);
                v16::RemoteStartStopStatus::Accepted
            }
            _ => v16::RemoteStartStopStatus::Rejected,
        };
        v16::RemoteStopTransactionResponse { status }.into()
    }

    fn trigger(&mut self, trigger: v16::TriggerMessageRequest, stats: &Stats) -> Response {
        use v16::MessageTrigger as M;
        let connector = trigger.connector_id;
        let accepted = match trigger.requested_message {
            M::BootNotification => {
                self.queue_once(Outgoing::BootNotification);
                true
            }
            M::Heartbeat => {
                self.queue_periodic(Outgoing::Heartbeat, stats);
                true
            }
            M::MeterValues => {
                self.queue_periodic(Outgoing::MeterValues, stats);
                true
            }
            M::StatusNotification => match connector {
                None => {
                    self.queue_status(0, ChargePointStatus::Available);
                    self.queue_status(1, self.connector_status());
                    true
                }
                Some(0) => {
                    self.queue_status(0, ChargePointStatus::Available);
                    true
                }
                Some(1) => {
                    self.queue_status(1, self.connector_status());
                    true
                }
                Some(_) => false,
            },
            M::DiagnosticsStatusNotification | M::FirmwareStatusNotification => {
                return v16::TriggerMessageResponse {
                    status: v16::TriggerMessageStatus::NotImplemented,
                }
                .into();
            }
        };
        let status = if accepted {
            v16::TriggerMessageStatus::Accepted
        } else {
            v16::TriggerMessageStatus::Rejected
        };
        v16::TriggerMessageResponse { status }.into()
    }

    /// The configuration keys the charger reports: (key, read-only, value).
    fn configuration(&self) -> Vec<(String, bool, String)> {
        let secs = |d: Duration| d.as_secs().to_string();
        let mut keys: Vec<(String, bool, String)> = [
            ("AuthorizeRemoteTxRequests", false, "false".to_owned()),
            ("ChargeProfileMaxStackLevel", true, "8".to_owned()),
            (
                "ChargingScheduleAllowedChargingRateUnit",
                true,
                "Current,Power".to_owned(),
            ),
            ("ChargingScheduleMaxPeriods", true, "24".to_owned()),
            ("ClockAlignedDataInterval", false, "0".to_owned()),
            ("ConnectionTimeOut", false, "60".to_owned()),
            ("ConnectorPhaseRotation", false, "1.RST".to_owned()),
            ("GetConfigurationMaxKeys", true, "50".to_owned()),
            ("HeartbeatInterval", false, secs(self.settings.heartbeat_interval)),
            ("LocalAuthorizeOffline", false, "false".to_owned()),
            ("LocalPreAuthorize", false, "false".to_owned()),
            ("MaxChargingProfilesInstalled", true, "8".to_owned()),
            ("MeterValueSampleInterval", false, secs(self.settings.meter_interval)),
            (
                "MeterValuesSampledData",
                false,
                "Energy.Active.Import.Register,Power.Active.Import,Current.Import".to_owned(),
            ),
            ("NumberOfConnectors", true, "1".to_owned()),
            ("ResetRetries", false, "1".to_owned()),
            ("StopTransactionOnEVSideDisconnect", false, "true".to_owned()),
            ("StopTransactionOnInvalidId", false, "true".to_owned()),
            (
                "SupportedFeatureProfiles",
                true,
                "Core,SmartCharging,RemoteTrigger".to_owned(),
            ),
            ("TransactionMessageAttempts", false, "3".to_owned()),
            ("TransactionMessageRetryInterval", false, "60".to_owned()),
            ("UnlockConnectorOnEVSideDisconnect", false, "true".to_owned()),
            ("WebSocketPingInterval", false, "0".to_owned()),
        ]
        .into_iter()
        .map(|(key, readonly, value)| (key.to_owned(), readonly, value))
        .collect();
        for (key, value) in &self.config_overrides {
            match keys.iter_mut().find(|(k, _, _)| k.eq_ignore_ascii_case(key)) {
                Some(entry) => entry.2.clone_from(value),
                None => keys.push((key.clone(), false, value.clone())),
            }
        }
        keys
    }

    fn get_configuration(&self, get: v16::GetConfigurationRequest) -> Result<Response, ValidationError> {
        let all = self.configuration();
        let key_value = |(key, readonly, value): &(String, bool, String)| -> Result<v16::KeyValue, ValidationError> {
            Ok(v16::KeyValue {
                key: key.as_str().try_into()?,
                readonly: *readonly,
                value: Some(value.as_str().try_into()?),
            })
        };
        let (known, unknown) = match get.key {
            None => (all.iter().map(key_value).collect::<Result<Vec<_>, _>>()?, Vec::new()),
            Some(wanted) => {
                let mut known = Vec::new();
                let mut unknown = Vec::new();
                for key in wanted {
                    match all.iter().find(|(k, _, _)| key.eq_ignore_case(k)) {
                        Some(entry) => known.push(key_value(entry)?),
                        None => unknown.push(key),
                    }
                }
                (known, unknown)
            }
        };
        Ok(v16::GetConfigurationResponse {
            configuration_key: Some(known),
            unknown_key: (!unknown.is_empty()).then_some(unknown),
        }
        .into())
    }

    fn change_configuration(&mut self, change: v16::ChangeConfigurationRequest) -> Response {
        let key = change.key.into_inner();
        let value = change.value.into_inner();
        let readonly = self
            .configuration()
            .iter()
            .any(|(k, readonly, _)| *readonly && k.eq_ignore_ascii_case(&key));
        let room = self.config_overrides.len() < MAX_CONFIG_OVERRIDES;
        let existing = self
            .config_overrides
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(&key));
        let status = match existing {
            _ if readonly => v16::ConfigurationStatus::Rejected,
            Some(entry) => {
                entry.1 = value;
                v16::ConfigurationStatus::Accepted
            }
            None if room => {
                self.config_overrides.push((key, value));
                v16::ConfigurationStatus::Accepted
            }
            None => v16::ConfigurationStatus::Rejected,
        };
        v16::ChangeConfigurationResponse { status }.into()
    }
}

/// A 2.0.1 transaction id of this charger's `n`th transaction (unique per charger, which is all
/// 2.0.1 asks).
fn transaction_name(n: i32) -> String {
    format!("LG-TX-{n}")
}

fn answer_of16(response: Response) -> Answer {
    match response {
        Response::BootNotification(boot) => Answer::Boot {
            accepted: boot.status == v16::RegistrationStatus::Accepted,
            interval: boot.interval,
        },
        Response::StartTransaction(started) => Answer::Started {
            id: Some(started.transaction_id),
            accepted: started.id_tag_info.status == v16::AuthorizationStatus::Accepted,
        },
        Response::StopTransaction(_) => Answer::Stopped,
        _ => Answer::Other,
    }
}

fn answer_of201(call: &Outgoing, response: v201::Response) -> Answer {
    match (call, response) {
        (_, v201::Response::BootNotification(boot)) => Answer::Boot {
            accepted: boot.status == v201::RegistrationStatus::Accepted,
            interval: boot.interval,
        },
        (Outgoing::StartTransaction { .. }, v201::Response::TransactionEvent(answer)) => Answer::Started {
            id: None,
            accepted: answer
                .id_token_info
                .is_none_or(|info| info.status == v201::AuthorizationStatus::Accepted),
        },
        (Outgoing::StopTransaction { .. }, v201::Response::TransactionEvent(_)) => Answer::Stopped,
        _ => Answer::Other,
    }
}

fn sampled201(value: f64, measurand: v201::Measurand, unit: &str, context: v201::ReadingContext) -> v201::SampledValue {
    v201::SampledValue {
        value,
        context: Some(context),
        measurand: Some(measurand),
        phase: None,
        location: Some(v201::Location::Outlet),
        signed_meter_value: None,
        unit_of_measure: Some(v201::UnitOfMeasure {
            // Units are a handful of ASCII letters; the fallback is never taken.
            unit: v201::CiString::new(unit).ok(),
            multiplier: None,
        }),
    }
}

fn stopped_reason(reason: Reason) -> v201::StoppedReason {
    match reason {
        Reason::Local => v201::StoppedReason::Local,
        Reason::Remote => v201::StoppedReason::Remote,
        Reason::DeAuthorized => v201::StoppedReason::DeAuthorized,
        Reason::EvDisconnected => v201::StoppedReason::EvDisconnected,
        _ => v201::StoppedReason::Other,
    }
}

fn connector_status201(status: ChargePointStatus) -> v201::ConnectorStatus {
    match status {
        ChargePointStatus::Available => v201::ConnectorStatus::Available,
        ChargePointStatus::Reserved => v201::ConnectorStatus::Reserved,
        ChargePointStatus::Unavailable => v201::ConnectorStatus::Unavailable,
        ChargePointStatus::Faulted => v201::ConnectorStatus::Faulted,
        _ => v201::ConnectorStatus::Occupied,
    }
}

impl Charger {
    /// The 2.0.1 message for `call`; `None` when there is nothing to send (2.0.1 has no
    /// status of connector 0, and a stop needs a transaction).
    fn build201(&mut self, call: &Outgoing, now: Instant) -> Result<Option<v201::Request>, ValidationError> {
        let timestamp = Utc::now();
        let evse = || v201::Evse {
            id: 1,
            connector_id: Some(1),
        };
        Ok(Some(match call {
            Outgoing::BootNotification => v201::Request::BootNotification(v201::BootNotificationRequest {
                charging_station: v201::ChargingStation {
                    serial_number: Some(truncated(&self.identity.ocpp_id).try_into()?),
                    model: "LoadGen".try_into()?,
                    modem: None,
                    vendor_name: "Coupler".try_into()?,
                    firmware_version: Some(env!("CARGO_PKG_VERSION").try_into()?),
                },
                reason: v201::BootReason::PowerUp,
            }),
            Outgoing::Heartbeat => v201::Request::Heartbeat(v201::HeartbeatRequest {}),
            Outgoing::Status { connector: 0, .. } => return Ok(None),
            Outgoing::Status { connector, status } => {
                v201::Request::StatusNotification(v201::StatusNotificationRequest {
                    timestamp,
                    connector_status: connector_status201(*status),
                    evse_id: *connector,
                    connector_id: 1,
                })
            }
            Outgoing::MeterValues => {
                self.advance_energy(now);
                let (power, current) = if self.is_charging() {
                    (CHARGING_POWER_W, CHARGING_CURRENT_A)
                } else {
                    (0.0, 0.0)
                };
                let periodic = v201::ReadingContext::SamplePeriodic;
                let meter_value = vec![v201::MeterValue {
                    sampled_value: vec![
                        sampled201(
                            self.energy_wh.round(),
                            v201::Measurand::EnergyActiveImportRegister,
                            "Wh",
                            periodic,
                        ),
                        sampled201(power, v201::Measurand::PowerActiveImport, "W", periodic),
                        sampled201(current, v201::Measurand::CurrentImport, "A", periodic),
                    ],
                    timestamp,
                }];
                match self.transaction {
                    // During a transaction the readings go with it, as TransactionEvent Updated.
                    Transaction::Active { id, .. } => {
                        let seq_no = self.next_seq_no;
                        self.next_seq_no += 1;
                        v201::Request::TransactionEvent(v201::TransactionEventRequest {
                            event_type: v201::TransactionEventType::Updated,
                            meter_value: Some(meter_value),
                            timestamp,
                            trigger_reason: v201::TriggerReason::MeterValuePeriodic,
                            seq_no,
                            offline: None,
                            number_of_phases_used: None,
                            cable_max_current: None,
                            reservation_id: None,
                            transaction_info: v201::Transaction {
                                transaction_id: transaction_name(id).try_into()?,
                                charging_state: Some(v201::ChargingState::Charging),
                                time_spent_charging: None,
                                stopped_reason: None,
                                remote_start_id: None,
                            },
                            evse: None,
                            id_token: None,
                        })
                    }
                    _ => v201::Request::MeterValues(v201::MeterValuesRequest {
                        evse_id: 1,
                        meter_value,
                    }),
                }
            }
            Outgoing::StartTransaction { id_tag } => {
                self.advance_energy(now);
                // A resent start keeps its id and sequence number: the server stores it once.
                let id = match self.starting_id {
                    Some(id) => id,
                    None => {
                        self.transactions_begun += 1;
                        self.starting_id = Some(self.transactions_begun);
                        self.transactions_begun
                    }
                };
                self.next_seq_no = 1;
                let remote_start_id = self.remote_start_id;
                v201::Request::TransactionEvent(v201::TransactionEventRequest {
                    event_type: v201::TransactionEventType::Started,
                    meter_value: Some(vec![v201::MeterValue {
                        sampled_value: vec![sampled201(
                            self.energy_wh.round(),
                            v201::Measurand::EnergyActiveImportRegister,
                            "Wh",
                            v201::ReadingContext::TransactionBegin,
                        )],
                        timestamp,
                    }]),
                    timestamp,
                    trigger_reason: if remote_start_id.is_some() {
                        v201::TriggerReason::RemoteStart
                    } else {
                        v201::TriggerReason::Authorized
                    },
                    seq_no: 0,
                    offline: None,
                    number_of_phases_used: None,
                    cable_max_current: None,
                    reservation_id: None,
                    transaction_info: v201::Transaction {
                        transaction_id: transaction_name(id).try_into()?,
                        charging_state: Some(v201::ChargingState::Charging),
                        time_spent_charging: None,
                        stopped_reason: None,
                        remote_start_id,
                    },
                    evse: Some(evse()),
                    id_token: Some(v201::IdToken {
                        id_token: id_tag.as_str().try_into()?,
                        kind: if remote_start_id.is_some() {
                            v201::IdTokenKind::Central
                        } else {
                            v201::IdTokenKind::Local
                        },
                        additional_info: None,
                    }),
                })
            }
            Outgoing::StopTransaction { reason } => {
                let Transaction::Stopping { id } = self.transaction else {
                    return Ok(None);
                };
                self.advance_energy(now);
                self.remote_start_id = None;
                let seq_no = self.next_seq_no;
                self.next_seq_no += 1;
                v201::Request::TransactionEvent(v201::TransactionEventRequest {
                    event_type: v201::TransactionEventType::Ended,
                    meter_value: Some(vec![v201::MeterValue {
                        sampled_value: vec![sampled201(
                            self.energy_wh.round(),
                            v201::Measurand::EnergyActiveImportRegister,
                            "Wh",
                            v201::ReadingContext::TransactionEnd,
                        )],
                        timestamp,
                    }]),
                    timestamp,
                    trigger_reason: if *reason == Reason::Remote {
                        v201::TriggerReason::RemoteStop
                    } else {
                        v201::TriggerReason::StopAuthorized
                    },
                    seq_no,
                    offline: None,
                    number_of_phases_used: None,
                    cable_max_current: None,
                    reservation_id: None,
                    transaction_info: v201::Transaction {
                        transaction_id: transaction_name(id).try_into()?,
                        charging_state: Some(v201::ChargingState::EvConnected),
                        time_spent_charging: None,
                        stopped_reason: Some(stopped_reason(*reason)),
                        remote_start_id: None,
                    },
                    evse: None,
                    id_token: None,
                })
            }
        }))
    }

    /// Answers one of the server's 2.0.1 calls.
    fn on_call201(&mut self, now: Instant, id: &str, action: &str, payload: &Value, stats: &Stats) -> Reaction {
        use v201::Request as R;
        let mut remote_start = false;
        let answer: Result<v201::Response, ValidationError> = match v201::parse_request(action, payload) {
            Err(error) => Err(error),
            Ok(R::RequestStartTransaction(start)) => {
                remote_start = true;
                let evse_ok = start.evse_id.is_none_or(|e| e == 1);
                let free = self.transaction == Transaction::Idle && self.booted && !self.shutting_down;
                let status = if evse_ok && free {
                    self.remote_start_id = Some(start.remote_start_id);
                    self.start_transaction(start.id_token.id_token.into_inner());
                    v201::RequestStartStopStatus::Accepted
                } else {
                    v201::RequestStartStopStatus::Rejected
                };
                Ok(v201::RequestStartTransactionResponse {
                    status,
                    status_info: None,
                    transaction_id: None,
                }
                .into())
            }
            Ok(R::RequestStopTransaction(stop)) => {
                let status = match self.transaction {
                    Transaction::Active { id, .. } if transaction_name(id) == stop.transaction_id.as_str() => {
                        self.stop_transaction(now, Reason::Remote);
                        v201::RequestStartStopStatus::Accepted
                    }
                    _ => v201::RequestStartStopStatus::Rejected,
                };
                Ok(v201::RequestStopTransactionResponse {
                    status,
                    status_info: None,
                }
                .into())
            }
            Ok(R::SetChargingProfile(_)) => Ok(v201::SetChargingProfileResponse {
                status: v201::ChargingProfileStatus::Accepted,
                status_info: None,
            }
            .into()),
            Ok(R::ClearChargingProfile(_)) => Ok(v201::ClearChargingProfileResponse {
                status: v201::ClearChargingProfileStatus::Accepted,
                status_info: None,
            }
            .into()),
            Ok(R::ChangeAvailability(_)) => Ok(v201::ChangeAvailabilityResponse {
                status: v201::ChangeAvailabilityStatus::Accepted,
                status_info: None,
            }
            .into()),
            Ok(R::GetBaseReport(_)) => Ok(v201::GetBaseReportResponse {
                // The load generator sends no NotifyReport; an empty report is the honest answer.
                status: v201::GenericDeviceModelStatus::EmptyResultSet,
                status_info: None,
            }
            .into()),
            Ok(R::TriggerMessage(trigger)) => {
                use v201::MessageTrigger as M;
                let accepted = match trigger.requested_message {
                    M::BootNotification => {
                        self.queue_once(Outgoing::BootNotification);
                        true
                    }
                    M::Heartbeat => {
                        self.queue_periodic(Outgoing::Heartbeat, stats);
                        true
                    }
                    M::MeterValues => {
                        self.queue_periodic(Outgoing::MeterValues, stats);
                        true
                    }
                    M::StatusNotification if trigger.evse.as_ref().is_none_or(|e| e.id == 1) => {
                        self.queue_status(1, self.connector_status());
                        true
                    }
                    _ => false,
                };
                Ok(v201::TriggerMessageResponse {
                    status: if accepted {
                        v201::TriggerMessageStatus::Accepted
                    } else {
                        v201::TriggerMessageStatus::NotImplemented
                    },
                    status_info: None,
                }
                .into())
            }
            Ok(R::GetVariables(get)) => self.get_variables(get),
            Ok(R::SetVariables(set)) => self.set_variables(set),
            Ok(other) => Err(ValidationError::new(
                ErrorCode::NotImplemented,
                "",
                format!("the load generator does not simulate {}", other.action().as_str()),
            )),
        };
        let reply = match answer.and_then(|response| response.to_call_result(id)) {
            Ok(frame) => {
                Stats::bump(&stats.counters.incoming_answered);
                frame
            }
            Err(error) => {
                Stats::bump(&stats.counters.incoming_refused);
                stats.incoming_error_log.note(&format!("{action} refused: {error}"));
                error.call_error(id, OcppVersion::V201)
            }
        };
        Reaction {
            reply: Some(reply),
            remote_start,
        }
    }

    /// The 2.0.1 device-model variables the charger reports, as `Component.Variable` keys.
    fn variable(&self, component: &str, variable: &str) -> Option<String> {
        let key = format!("{component}.{variable}");
        if let Some((_, value)) = self.config_overrides.iter().find(|(k, _)| k.eq_ignore_ascii_case(&key)) {
            return Some(value.clone());
        }
        let secs = |d: Duration| d.as_secs().to_string();
        match key.as_str() {
            "SampledDataCtrlr.TxUpdatedInterval" => Some(secs(self.settings.meter_interval)),
            "SampledDataCtrlr.TxUpdatedMeasurands" => {
                Some("Energy.Active.Import.Register,Power.Active.Import,Current.Import".to_owned())
            }
            "OCPPCommCtrlr.HeartbeatInterval" => Some(secs(self.settings.heartbeat_interval)),
            _ => None,
        }
    }

    fn get_variables(&self, get: v201::GetVariablesRequest) -> Result<v201::Response, ValidationError> {
        let get_variable_result = get
            .get_variable_data
            .into_iter()
            .map(|data| {
                let value = self.variable(data.component.name.as_str(), data.variable.name.as_str());
                Ok(v201::GetVariableResult {
                    attribute_status: if value.is_some() {
                        v201::GetVariableStatus::Accepted
                    } else {
                        v201::GetVariableStatus::UnknownVariable
                    },
                    attribute_type: data.attribute_type,
                    attribute_value: value.map(v201::CiString::new).transpose()?,
                    component: data.component,
                    variable: data.variable,
                    attribute_status_info: None,
                })
            })
            .collect::<Result<Vec<_>, ValidationError>>()?;
        Ok(v201::GetVariablesResponse { get_variable_result }.into())
    }

    fn set_variables(&mut self, set: v201::SetVariablesRequest) -> Result<v201::Response, ValidationError> {
        let set_variable_result = set
            .set_variable_data
            .into_iter()
            .map(|data| {
                let key = format!("{}.{}", data.component.name, data.variable.name);
                let value = data.attribute_value.into_inner();
                let room = self.config_overrides.len() < MAX_CONFIG_OVERRIDES;
                let existing = self
                    .config_overrides
                    .iter_mut()
                    .find(|(k, _)| k.eq_ignore_ascii_case(&key));
                let status = match existing {
                    Some(entry) => {
                        entry.1 = value;
                        v201::SetVariableStatus::Accepted
                    }
                    None if room => {
                        self.config_overrides.push((key, value));
                        v201::SetVariableStatus::Accepted
                    }
                    None => v201::SetVariableStatus::Rejected,
                };
                v201::SetVariableResult {
                    attribute_type: data.attribute_type,
                    attribute_status: status,
                    component: data.component,
                    variable: data.variable,
                    attribute_status_info: None,
                }
            })
            .collect();
        Ok(v201::SetVariablesResponse { set_variable_result }.into())
    }
}

/// The charge point serial number field holds 25 characters; longer identities are cut.
fn truncated(text: &str) -> &str {
    match text.char_indices().nth(25) {
        Some((cut, _)) => text.get(..cut).unwrap_or(text),
        None => text,
    }
}

fn sampled(value: String, measurand: v16::Measurand, unit: v16::UnitOfMeasure) -> v16::SampledValue {
    v16::SampledValue {
        value,
        context: Some(v16::ReadingContext::SamplePeriodic),
        format: None,
        measurand: Some(measurand),
        phase: None,
        location: Some(v16::Location::Outlet),
        unit: Some(unit),
    }
}

#[cfg(test)]
mod tests;
