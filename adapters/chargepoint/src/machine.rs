//! The charge point's state machine, whichever the OCPP version: connection and boot, the queue of
//! its own calls (one outstanding at a time), periodic messages, the connector, its transaction
//! and status, availability and resets. What it keeps besides (profiles, jobs, the reservation,
//! authorisation, certificates) is in `keeps`; what goes in and out in `io`.
//!
//! `v16` and `v201` turn its calls into typed messages and the server's calls into changes of it.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use coupler_ocpp::rpc::{Frame, MessageType};
use coupler_ocpp::{ErrorCode, OcppVersion, ValidationError};
use serde_json::Value;

pub use crate::io::{Config, Event, Failure, IdToken, Moment, Reading, Sample, Status, StopReason, Vehicle};
pub(crate) use crate::keeps::{AuthEntry, Certificate, Job, Periodic, Reservation};
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
    pub(crate) fn is_upload(self) -> bool {
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
    pub(crate) waiting_remote_start: Option<(IdToken, Option<i64>)>,
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
    pub(crate) jobs: Vec<Job>,
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
    pub(crate) certificates_installed: u64,
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
        self.settle(at);
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
        if self.config.follow_server_intervals && !interval.is_zero() {
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

    pub(crate) fn tx_context(&self) -> Option<TxContext<'_>> {
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
        let secs = Duration::from_secs(self.settings.number(key));
        if !self.config.follow_server_intervals {
            return Ok(());
        }
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
