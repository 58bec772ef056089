//! Simulated OCPP chargers: real OCPP-J WebSocket clients (1.6J or 2.0.1, HTTP Basic auth with the
//! password Coupler issued) whose electrical side is the cloud's physical model.
//!
//! Each [`SimCharger`] runs one task: connect (with back-off when that fails or the connection
//! drops), boot, then loop over the server's frames and a one-second tick. The tick reads the
//! socket of the physical model ([`SimCloud::socket_reading`]): a car plugged in or out, the power
//! it draws. From that and the charging profiles held, [`Machine`] decides the current to offer
//! (written back to the model, so the car draws it), the connector status, and the calls to send:
//! StatusNotification, Authorize and the transaction's start and end, MeterValues at the interval
//! Coupler configures, Heartbeat at the interval Coupler answered at boot. One call of its own is
//! outstanding at a time (OCPP-J), and every call from the server is answered at once.
//!
//! The state machine is the same for both versions; `v16` and `v201` turn its calls into the typed
//! messages of `coupler-ocpp` and the server's calls into changes of it.

mod profile;
mod v16;
mod v201;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use coupler_ocpp::rpc::Frame;
use coupler_ocpp::OcppVersion;
use coupler_tasks::Tasks;
use futures::{SinkExt, StreamExt};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::cloud::{SimCloud, SocketReading, MIN_CURRENT};
pub use profile::{composite, offered_limit, Kind, Period, Profile, Purpose, TxContext};

/// How long a call of ours may wait for its answer.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the charger looks at the physical model.
const TICK: Duration = Duration::from_secs(1);
/// Back-off between connection attempts: first and longest.
const BACKOFF_FIRST: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// The id tag a free-vending charger starts its own transactions with.
pub const FREE_VEND_ID_TAG: &str = "FREEVEND";

/// What a simulated charger is.
#[derive(Debug, Clone)]
pub struct SimChargerConfig {
    /// Its OCPP identity (the Basic-auth user name and last URL segment).
    pub ocpp_id: String,
    /// The URL it connects to, `ws(s)://host/ocpp/{ocpp_id}`.
    pub url: String,
    /// The Basic-auth password Coupler issued.
    pub password: String,
    /// The OCPP version it speaks.
    pub version: OcppVersion,
    /// Whether it starts a transaction itself when a car is plugged in (free vending, as most home
    /// chargers do); otherwise it waits for a remote start.
    pub auto_start: bool,
    /// Whether it starts transactions with the plugged car's MAC address as id token (`VID:<MAC>` in
    /// 1.6, a `MacAddress` idToken in 2.0.1), as AutoCharge chargers do.
    pub sends_vehicle_identity: bool,
    /// The most current it offers, amperes per phase.
    pub max_current: f64,
}

impl SimChargerConfig {
    /// A 3-phase 230 V, 32 A home charger with auto-start on plug-in.
    pub fn home(ocpp_id: &str, url: &str, password: &str, version: OcppVersion) -> Self {
        Self {
            ocpp_id: ocpp_id.to_owned(),
            url: url.to_owned(),
            password: password.to_owned(),
            version,
            auto_start: true,
            sends_vehicle_identity: false,
            max_current: 32.0,
        }
    }

    /// The brand it reports at boot.
    fn vendor(&self) -> &'static str {
        match self.version {
            OcppVersion::V16 => "Simwatt",
            OcppVersion::V201 => "Voltsim",
        }
    }

    /// The model it reports at boot.
    fn model(&self) -> &'static str {
        match self.version {
            OcppVersion::V16 => "Home 22 (OCPP 1.6)",
            OcppVersion::V201 => "Wallbox Pro 2",
        }
    }
}

/// What a simulated charger shows of itself.
#[derive(Debug, Clone, PartialEq)]
pub struct ChargerView {
    /// Whether its connection is open and its boot accepted.
    pub connected: bool,
    /// The connector status last reported (1.6 names; 2.0.1 chargers show the same states).
    pub status: Status,
    /// Current offered now, amperes per phase.
    pub offered_current: f64,
    /// The running transaction's id.
    pub transaction_id: Option<String>,
    /// Charging profiles held.
    pub profiles: usize,
}

/// A simulated charger running against a gateway.
#[derive(Debug, Clone)]
pub struct SimCharger {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    config: SimChargerConfig,
    cloud: SimCloud,
    machine: Mutex<Machine>,
    wake: Notify,
    stop: CancellationToken,
}

impl SimCharger {
    /// Adds the charger to the physical model and starts its task on `tasks`: it connects, and
    /// reconnects until [`SimCharger::stop`] or until `tasks` stop.
    pub fn start(cloud: SimCloud, config: SimChargerConfig, tasks: &Tasks) -> Self {
        cloud.add_socket(&config.ocpp_id);
        let shared = Arc::new(Shared {
            machine: Mutex::new(Machine::new(&config)),
            config,
            cloud,
            wake: Notify::new(),
            stop: tasks.token().child_token(),
        });
        tasks.spawn("simulated charger", run(shared.clone()));
        Self { shared }
    }

    /// Its configuration.
    pub fn config(&self) -> &SimChargerConfig {
        &self.shared.config
    }

    /// What it shows now.
    pub fn view(&self) -> ChargerView {
        let m = self.shared.lock();
        ChargerView {
            connected: m.connected && m.booted,
            status: m.last_status.unwrap_or(Status::Available),
            offered_current: m.offered,
            transaction_id: m.tx.id().map(str::to_owned),
            profiles: m.profiles.len(),
        }
    }

    /// The current its charging profiles allow at `at`, amperes per phase, as it works it out by
    /// itself (validity windows included), whether or not it is connected: what it would offer a
    /// car then.
    pub fn limit_at(&self, at: DateTime<Utc>) -> f64 {
        let m = self.shared.lock();
        profile::offered_limit(&m.profiles, at, m.tx_context(), self.shared.config.max_current)
    }

    /// The physical model changed (a car was plugged in or out): look at it now rather than at the
    /// next tick.
    pub fn poke(&self) {
        self.shared.wake.notify_one();
    }

    /// Disconnects and stops for good.
    pub fn stop(&self) {
        self.shared.stop.cancel();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Machine> {
        // The machine is plain data; a panic elsewhere cannot leave it unusable.
        self.machine.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

async fn run(shared: Arc<Shared>) {
    let mut backoff = BACKOFF_FIRST;
    loop {
        if shared.stop.is_cancelled() {
            return;
        }
        match connect(&shared.config).await {
            Ok(socket) => {
                backoff = BACKOFF_FIRST;
                tracing::debug!(ocpp_id = %shared.config.ocpp_id, "simulated charger connected");
                session(&shared, socket).await;
                shared.lock().on_disconnected();
                tracing::debug!(ocpp_id = %shared.config.ocpp_id, "simulated charger disconnected");
            }
            Err(error) => {
                tracing::debug!(ocpp_id = %shared.config.ocpp_id, %error, "simulated charger cannot connect");
            }
        }
        // Between attempts the charger goes on charging by its profiles, as a real one does offline.
        let wait = tokio::time::sleep(backoff);
        tokio::pin!(wait);
        let mut tick = tokio::time::interval(TICK);
        loop {
            tokio::select! {
                () = shared.stop.cancelled() => return,
                () = &mut wait => break,
                _ = tick.tick() => {
                    shared.lock().on_tick(Instant::now(), shared.cloud.now(), &shared.cloud, &shared.config);
                }
            }
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(config: &SimChargerConfig) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    let mut request = config.url.as_str().into_client_request()?;
    let credentials = STANDARD.encode(format!("{}:{}", config.ocpp_id, config.password));
    let headers = request.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&format!("Basic {credentials}")) {
        headers.insert("authorization", value);
    }
    headers.insert(
        "sec-websocket-protocol",
        HeaderValue::from_static(match config.version {
            OcppVersion::V16 => "ocpp1.6",
            OcppVersion::V201 => "ocpp2.0.1",
        }),
    );
    let (socket, _) = tokio_tungstenite::connect_async(request).await?;
    Ok(socket)
}

async fn session(shared: &Shared, socket: Socket) {
    let (mut sink, mut stream) = socket.split();
    shared.lock().on_connected();
    let mut tick = tokio::time::interval(TICK);
    loop {
        // Whatever the machine wants to send: answers first, then our next call.
        let frames = {
            let mut machine = shared.lock();
            machine.on_tick(Instant::now(), shared.cloud.now(), &shared.cloud, &shared.config);
            machine.take_outgoing(Instant::now(), &shared.cloud, &shared.config)
        };
        for frame in frames {
            if sink.send(Message::text(frame.to_text())).await.is_err() {
                return;
            }
        }
        if shared.lock().reset_now {
            // A reset: close, and boot again on the next connection.
            let _ = sink.send(Message::Close(None)).await;
            return;
        }
        tokio::select! {
            () = shared.stop.cancelled() => {
                let _ = sink.send(Message::Close(None)).await;
                return;
            }
            message = stream.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    let reply = shared.lock().on_text(text.as_str(), shared.cloud.now(), &shared.cloud, &shared.config);
                    if let Some(reply) = reply {
                        if sink.send(Message::text(reply.to_text())).await.is_err() {
                            return;
                        }
                    }
                }
                Some(Ok(Message::Ping(data))) => {
                    if sink.send(Message::Pong(data)).await.is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
            _ = tick.tick() => {}
            () = shared.wake.notified() => {}
        }
    }
}

/// A connector status, in OCPP 1.6 terms (2.0.1 reports the same as connectorStatus and the
/// transaction's chargingState).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// No car.
    Available,
    /// A car, no transaction yet.
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
pub(crate) enum StopReason {
    EvDisconnected,
    Remote,
    Local,
    DeAuthorized,
    SoftReset,
    HardReset,
    UnlockCommand,
}

/// A call the charger will send; its payload is built when it is sent, so readings are current.
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
    Meter,
    Stop(StopReason),
    /// A firmware update's progress (FirmwareStatusNotification).
    FirmwareStatus {
        status: &'static str,
        request_id: Option<i32>,
    },
    /// An upload's progress (1.6 DiagnosticsStatusNotification, 2.0.1 LogStatusNotification).
    UploadStatus {
        status: &'static str,
        request_id: Option<i32>,
    },
    /// 2.0.1: a reservation ran out unused (ReservationStatusUpdate).
    ReservationExpired(i32),
    /// 2.0.1: the device-model report a GetBaseReport asked for (NotifyReport).
    Report(i32),
}

/// How long each step of a firmware update or an upload takes.
const JOB_STEP: Duration = Duration::from_secs(1);

/// A firmware update or an upload under way: the statuses still to report, one a step.
#[derive(Debug)]
pub(crate) struct Job {
    steps: VecDeque<&'static str>,
    request_id: Option<i32>,
    upload: bool,
    next_at: Instant,
}

/// The reservation the charger holds for its one connector.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SimReservation {
    id: i32,
    id_tag: String,
    expires_at: DateTime<Utc>,
}

/// The id token a transaction starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IdToken {
    /// The fixed tag of free vending, or the tag of a remote start.
    Tag(String),
    /// A central (remote start) token.
    Central(String),
    /// The car's MAC address, as AutoCharge chargers report it.
    Mac(String),
}

impl IdToken {
    /// The 1.6 id tag.
    fn as_tag(&self) -> String {
        match self {
            Self::Tag(t) | Self::Central(t) => t.clone(),
            Self::Mac(mac) => format!("VID:{}", mac.replace([':', '-'], "").to_uppercase()),
        }
    }
}

/// The transaction on the one connector.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tx {
    Idle,
    /// Authorize or start sent, no id yet (1.6) or not yet answered.
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
    fn id(&self) -> Option<&str> {
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

/// One simulated charger's OCPP state, whichever the version.
#[derive(Debug)]
pub(crate) struct Machine {
    version: OcppVersion,
    connected: bool,
    booted: bool,
    boot_retry_at: Option<Instant>,
    heartbeat_interval: Duration,
    next_heartbeat: Option<Instant>,
    next_meter: Option<Instant>,
    queue: VecDeque<Out>,
    pending: Option<Pending>,
    next_message_id: u64,
    tx: Tx,
    /// The car last seen plugged in.
    plugged: Option<String>,
    /// Whether a transaction ended with the car still in.
    finishing: bool,
    /// A remote start waiting for a car.
    waiting_remote_start: Option<(IdToken, Option<i64>)>,
    last_status: Option<Status>,
    offered: f64,
    profiles: Vec<Profile>,
    /// Configuration keys (1.6) / variables (2.0.1): name → (value, read-only).
    settings: BTreeMap<String, (String, bool)>,
    available: bool,
    /// Availability to apply once the running transaction ends.
    available_after_tx: Option<bool>,
    /// A reset is due once the transaction's end is sent.
    reset_pending: bool,
    /// Close the connection now (after a reset).
    reset_now: bool,
    /// 2.0.1: transactions begun, for naming the next one.
    transactions_begun: u64,
    /// 2.0.1: the next sequence number of the running transaction's events.
    seq_no: i64,
    /// 2.0.1: the remote start id to echo in the Started event.
    remote_start_id: Option<i64>,
    /// Firmware updates and uploads under way.
    jobs: Vec<Job>,
    /// The last firmware status reported (what a triggered FirmwareStatusNotification says).
    firmware_status: &'static str,
    /// The last upload status reported.
    upload_status: &'static str,
    /// The reservation held.
    reservation: Option<SimReservation>,
    /// The reservation the starting transaction uses, named in its start.
    reservation_in_use: Option<i32>,
}

/// Setting names, the 1.6 configuration keys (2.0.1 maps its variables onto them).
pub(crate) const HEARTBEAT_INTERVAL: &str = "HeartbeatInterval";
pub(crate) const METER_INTERVAL: &str = "MeterValueSampleInterval";
pub(crate) const METER_MEASURANDS: &str = "MeterValuesSampledData";

impl Machine {
    fn new(config: &SimChargerConfig) -> Self {
        let mut settings = BTreeMap::new();
        let mut set = |key: &str, value: &str, readonly: bool| {
            settings.insert(key.to_owned(), (value.to_owned(), readonly));
        };
        set(HEARTBEAT_INTERVAL, "300", false);
        set(METER_INTERVAL, "60", false);
        set(
            METER_MEASURANDS,
            "Energy.Active.Import.Register,Power.Active.Import,Current.Import",
            false,
        );
        set("AuthorizeRemoteTxRequests", "false", false);
        set("ConnectionTimeOut", "120", false);
        set("NumberOfConnectors", "1", true);
        set(
            "SupportedFeatureProfiles",
            "Core,FirmwareManagement,SmartCharging,RemoteTrigger",
            true,
        );
        set("ChargeProfileMaxStackLevel", "10", true);
        set("ChargingScheduleAllowedChargingRateUnit", "Current,Power", true);
        set("MaxChargingProfilesInstalled", "20", true);
        set(
            "FreeVendEnabled",
            if config.auto_start { "true" } else { "false" },
            false,
        );
        set("FreeVendIdTag", FREE_VEND_ID_TAG, false);
        set(
            "AutoChargeEnabled",
            if config.sends_vehicle_identity { "true" } else { "false" },
            false,
        );
        Self {
            version: config.version,
            connected: false,
            booted: false,
            boot_retry_at: None,
            heartbeat_interval: Duration::from_secs(300),
            next_heartbeat: None,
            next_meter: None,
            queue: VecDeque::new(),
            pending: None,
            next_message_id: 0,
            tx: Tx::Idle,
            plugged: None,
            finishing: false,
            waiting_remote_start: None,
            last_status: None,
            offered: 0.0,
            profiles: Vec::new(),
            settings,
            available: true,
            available_after_tx: None,
            reset_pending: false,
            reset_now: false,
            transactions_begun: 0,
            seq_no: 0,
            remote_start_id: None,
            jobs: Vec::new(),
            firmware_status: "Idle",
            upload_status: "Idle",
            reservation: None,
            reservation_in_use: None,
        }
    }

    fn setting(&self, key: &str) -> Option<&str> {
        self.settings.get(key).map(|(v, _)| v.as_str())
    }

    fn setting_secs(&self, key: &str) -> Duration {
        Duration::from_secs(self.setting(key).and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    fn queue_once(&mut self, call: Out) {
        let pending = self.pending.as_ref().is_some_and(|p| p.call == call);
        if !pending && !self.queue.contains(&call) {
            self.queue.push_back(call);
        }
    }

    /// A new connection: boot (every connection boots, so a restarted Coupler configures the
    /// charger again).
    fn on_connected(&mut self) {
        self.connected = true;
        self.booted = false;
        self.reset_now = false;
        self.boot_retry_at = None;
        self.last_status = None;
        // Periodic messages of the old connection are not worth sending; transaction messages are.
        self.queue
            .retain(|c| matches!(c, Out::Start { .. } | Out::Stop(_) | Out::Authorize(_)));
        self.queue.push_front(Out::Boot);
    }

    fn on_disconnected(&mut self) {
        self.connected = false;
        self.booted = false;
        if let Some(pending) = self.pending.take() {
            // A transaction message whose answer was lost is sent again on the next connection.
            if matches!(pending.call, Out::Start { .. } | Out::Stop(_)) {
                self.queue.push_front(pending.call);
            }
        }
    }

    fn tx_context(&self) -> Option<TxContext<'_>> {
        match &self.tx {
            Tx::Active { id, started, .. } => Some(TxContext { id, started: *started }),
            _ => None,
        }
    }

    /// Looks at the physical model and the clock: plug changes, the current to offer, the status,
    /// periodic messages, and a call that waited too long.
    fn on_tick(&mut self, now: Instant, wall: DateTime<Utc>, cloud: &SimCloud, config: &SimChargerConfig) {
        if self.pending.as_ref().is_some_and(|p| now >= p.sent_at + CALL_TIMEOUT) {
            if let Some(pending) = self.pending.take() {
                tracing::debug!(
                    action = pending.action,
                    "simulated charger: no answer, giving up on the call"
                );
                if matches!(pending.call, Out::Start { .. } | Out::Stop(_) | Out::Boot) {
                    self.queue.push_front(pending.call);
                }
            }
        }
        if self.boot_retry_at.is_some_and(|at| now >= at) {
            self.boot_retry_at = None;
            self.queue_once(Out::Boot);
        }
        if !self.connected || !self.booted {
            // Unreachable or not yet accepted, a charger still keeps its car to its profiles (its
            // transaction messages wait in the queue for the next connection).
            self.follow_physical(wall, cloud, config);
            return;
        }
        self.advance_jobs(now);
        self.expire_reservation(wall);
        let Some(reading) = self.follow_physical(wall, cloud, config) else {
            return;
        };
        let status = self.status_for(&reading);
        if self.last_status != Some(status) {
            let before = self.last_status.replace(status);
            match self.version {
                OcppVersion::V16 => self.queue.push_back(Out::Status(status)),
                OcppVersion::V201 => {
                    let occupied =
                        |s: Option<Status>| s.is_some_and(|s| !matches!(s, Status::Available | Status::Unavailable));
                    if before.is_none() || occupied(before) != occupied(Some(status)) || status == Status::Unavailable {
                        self.queue.push_back(Out::Status(status));
                    }
                    if matches!(self.tx, Tx::Active { .. }) && before.is_some() {
                        self.queue.push_back(Out::ChargingStateChanged(status));
                    }
                }
            }
        }
        if self.next_heartbeat.is_some_and(|at| now >= at) {
            self.queue_once(Out::Heartbeat);
            self.next_heartbeat = Some(now + self.heartbeat_interval);
        }
        let meter_interval = self.setting_secs(METER_INTERVAL);
        if matches!(self.tx, Tx::Active { .. }) && !meter_interval.is_zero() {
            match self.next_meter {
                Some(at) if now >= at => {
                    self.queue_once(Out::Meter);
                    self.next_meter = Some(now + meter_interval);
                }
                Some(_) => {}
                None => self.next_meter = Some(now + meter_interval),
            }
        } else {
            self.next_meter = None;
        }
    }

    /// Follows the physical model: a car plugged in or out, and the current the transaction and the
    /// charging profiles allow at `wall` offered to it. Returns the socket's reading after.
    fn follow_physical(
        &mut self,
        wall: DateTime<Utc>,
        cloud: &SimCloud,
        config: &SimChargerConfig,
    ) -> Option<SocketReading> {
        let reading = cloud.socket_reading(&config.ocpp_id)?;
        self.follow_plug(&reading);
        let offered = if matches!(self.tx, Tx::Active { .. }) && self.available {
            let limit = offered_limit(&self.profiles, wall, self.tx_context(), config.max_current);
            // An offer below the least a car can take is no offer (IEC 61851-1).
            if limit < MIN_CURRENT {
                0.0
            } else {
                limit
            }
        } else {
            0.0
        };
        if (offered - self.offered).abs() > f64::EPSILON {
            self.offered = offered;
            cloud.set_offered_current(&config.ocpp_id, offered);
            return Some(cloud.socket_reading(&config.ocpp_id).unwrap_or(reading));
        }
        Some(reading)
    }

    /// A car came or went.
    fn follow_plug(&mut self, reading: &SocketReading) {
        let car = reading.vehicle.as_ref();
        match (self.plugged.is_some(), car) {
            (false, Some(car)) => {
                self.plugged = Some(car.id.clone());
                self.finishing = false;
                let identity = self
                    .setting("AutoChargeEnabled")
                    .is_some_and(|v| v == "true")
                    .then(|| car.mac_address.clone())
                    .flatten();
                if let Some((token, remote_start_id)) = self.waiting_remote_start.take() {
                    self.begin(token, remote_start_id, false);
                } else if self.available && self.setting("FreeVendEnabled") == Some("true") {
                    let token = match identity {
                        Some(mac) => IdToken::Mac(mac),
                        None => IdToken::Tag(self.setting("FreeVendIdTag").unwrap_or(FREE_VEND_ID_TAG).to_owned()),
                    };
                    self.begin(token, None, true);
                }
            }
            (true, None) => {
                self.plugged = None;
                self.finishing = false;
                self.end(StopReason::EvDisconnected);
            }
            _ => {}
        }
    }

    /// Starts a transaction: Authorize first for the charger's own starts, straight away for remote
    /// ones (AuthorizeRemoteTxRequests is false).
    fn begin(&mut self, token: IdToken, remote_start_id: Option<i64>, authorize: bool) {
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
        if authorize {
            self.queue.push_back(Out::Authorize(token));
        } else {
            self.queue.push_back(Out::Start { token, remote_start_id });
        }
    }

    /// Ends the running transaction (or abandons one that has not started).
    fn end(&mut self, reason: StopReason) {
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
                    self.queue.push_back(Out::Stop(reason));
                } else {
                    self.queue.retain(|c| !matches!(c, Out::Authorize(_)));
                }
            }
            other => self.tx = other,
        }
    }

    fn status_for(&self, reading: &SocketReading) -> Status {
        if !self.available && matches!(self.tx, Tx::Idle) {
            return Status::Unavailable;
        }
        if reading.vehicle.is_none() {
            if self.reservation.is_some() && matches!(self.tx, Tx::Idle) {
                return Status::Reserved;
            }
            return Status::Available;
        }
        match self.tx {
            Tx::Active { .. } => {
                if self.offered < MIN_CURRENT {
                    Status::SuspendedEvse
                } else if reading.current_a > 0.0 {
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

    /// Frames to send now: our next call, if none is outstanding.
    fn take_outgoing(&mut self, now: Instant, cloud: &SimCloud, config: &SimChargerConfig) -> Vec<Frame> {
        let mut frames = Vec::new();
        if self.pending.is_some() || !self.connected {
            return frames;
        }
        while let Some(call) = self.queue.pop_front() {
            // Nothing but the boot goes out before the boot is accepted.
            if !self.booted && call != Out::Boot {
                self.queue.push_front(call);
                break;
            }
            let built = match self.version {
                OcppVersion::V16 => v16::build(self, &call, cloud, config),
                OcppVersion::V201 => v201::build(self, &call, cloud, config),
            };
            match built {
                Ok(Some((action, payload))) => {
                    self.next_message_id += 1;
                    let id = format!("sim-{}", self.next_message_id);
                    frames.push(Frame::call(id.clone(), action, payload));
                    self.pending = Some(Pending {
                        id,
                        call,
                        action,
                        sent_at: now,
                    });
                    break;
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(ocpp_id = %config.ocpp_id, %error, "simulated charger could not build a call");
                }
            }
        }
        if self.reset_pending && self.tx == Tx::Idle && self.pending.is_none() && self.queue.is_empty() {
            self.reset_pending = false;
            self.reset_now = true;
        }
        frames
    }

    /// A text frame from the server: an answer to our call, or a call to answer.
    fn on_text(
        &mut self,
        text: &str,
        wall: DateTime<Utc>,
        cloud: &SimCloud,
        config: &SimChargerConfig,
    ) -> Option<Frame> {
        match Frame::parse(text) {
            Ok(Frame::Call { id, action, payload }) => Some(match self.version {
                OcppVersion::V16 => v16::answer(self, &id, &action, &payload, wall, cloud, config),
                OcppVersion::V201 => v201::answer(self, &id, &action, &payload, wall, cloud, config),
            }),
            Ok(Frame::CallResult { id, payload }) => {
                let pending = self.pending.take_if(|p| p.id == id)?;
                let outcome = match self.version {
                    OcppVersion::V16 => v16::read_answer(pending.action, &payload),
                    OcppVersion::V201 => v201::read_answer(pending.action, &payload),
                };
                match outcome {
                    Ok(answer) => self.answered(pending.call, answer, wall),
                    Err(error) => {
                        tracing::warn!(action = pending.action, %error, "simulated charger: invalid answer");
                        self.failed(pending.call);
                    }
                }
                None
            }
            Ok(Frame::CallError {
                id, code, description, ..
            }) => {
                let pending = self.pending.take_if(|p| p.id == id)?;
                tracing::warn!(action = pending.action, %code, %description, "simulated charger: CALLERROR");
                self.failed(pending.call);
                None
            }
            Err(error) => error.answer(self.version),
        }
    }

    fn failed(&mut self, call: Out) {
        match call {
            Out::Boot => self.boot_retry_at = Some(Instant::now() + Duration::from_secs(10)),
            Out::Authorize(_) | Out::Start { .. } => {
                if matches!(self.tx, Tx::Starting { .. }) {
                    self.tx = Tx::Idle;
                }
            }
            Out::Stop(_) => {
                if matches!(self.tx, Tx::Stopping { .. }) {
                    self.tx = Tx::Idle;
                    self.finishing = self.plugged.is_some();
                }
            }
            _ => {}
        }
    }

    fn answered(&mut self, call: Out, answer: Answer, wall: DateTime<Utc>) {
        match (call, answer) {
            (Out::Boot, Answer::Boot { accepted, interval }) => {
                let interval = Duration::from_secs(u64::try_from(interval).unwrap_or(0));
                if accepted {
                    self.booted = true;
                    if !interval.is_zero() {
                        self.heartbeat_interval = interval;
                        self.settings
                            .insert(HEARTBEAT_INTERVAL.to_owned(), (interval.as_secs().to_string(), false));
                    }
                    self.next_heartbeat = Some(Instant::now() + self.heartbeat_interval);
                    self.last_status = None;
                    if self.version == OcppVersion::V16 {
                        self.queue.push_front(Out::StationStatus);
                    }
                } else {
                    self.boot_retry_at = Some(Instant::now() + interval.max(Duration::from_secs(1)));
                }
            }
            (Out::Authorize(token), Answer::Authorized(accepted)) => {
                if accepted && matches!(self.tx, Tx::Starting { .. }) {
                    self.queue.push_front(Out::Start {
                        token,
                        remote_start_id: None,
                    });
                } else if !accepted {
                    self.tx = Tx::Idle;
                }
            }
            (Out::Start { token, .. }, Answer::Started { id, accepted }) => {
                self.reservation_in_use = None;
                let id = id.or_else(|| self.tx.id().map(str::to_owned)).unwrap_or_default();
                let stop_queued = self.queue.iter().any(|c| matches!(c, Out::Stop(_)));
                self.tx = Tx::Active {
                    id,
                    started: wall,
                    token,
                };
                if !accepted {
                    // StopTransactionOnInvalidId: the server refused the token.
                    self.queue.retain(|c| !matches!(c, Out::Stop(_)));
                    self.end(StopReason::DeAuthorized);
                } else if stop_queued {
                    // The car left (or a stop came) while the start was in flight.
                    let reason = self
                        .queue
                        .iter()
                        .find_map(|c| match c {
                            Out::Stop(r) => Some(*r),
                            _ => None,
                        })
                        .unwrap_or(StopReason::Local);
                    self.queue.retain(|c| !matches!(c, Out::Stop(_)));
                    self.end(reason);
                }
            }
            (Out::Stop(_), _) => {
                self.tx = Tx::Idle;
                self.finishing = self.plugged.is_some();
                self.remote_start_id = None;
                // Profiles of the ended transaction go with it.
                self.profiles.retain(|p| p.purpose != Purpose::Tx);
                if let Some(available) = self.available_after_tx.take() {
                    self.available = available;
                }
            }
            _ => {}
        }
    }

    /// Installs a profile, replacing one with the same id, or with the same purpose, stack level
    /// and connector (OCPP 1.6 §3.13.2).
    fn install(&mut self, profile: Profile) {
        self.profiles.retain(|p| {
            p.id != profile.id
                && !(p.purpose == profile.purpose
                    && p.stack_level == profile.stack_level
                    && p.connector == profile.connector)
        });
        self.profiles.push(profile);
    }

    /// Installs `profile`, set on `connector`, if it fits (OCPP 1.6 §5.16 / 2.0.1 K01): a Tx profile
    /// needs a running transaction (the one it names, if it names one), a station maximum belongs on
    /// connector 0, there is one connector, and stack levels go up to 10. Whether it was installed.
    fn set_profile(&mut self, profile: Profile, connector: i64) -> bool {
        let running = self.tx.id().map(str::to_owned);
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
            && (0..=10).contains(&profile.stack_level);
        if fits {
            self.install(profile);
        }
        fits
    }

    /// Removes profiles matching every criterion given; whether any matched.
    fn clear(&mut self, id: Option<i64>, connector: Option<i64>, purpose: Option<Purpose>, stack: Option<i64>) -> bool {
        let before = self.profiles.len();
        self.profiles.retain(|p| {
            !(id.is_none_or(|id| p.id == id)
                && connector.is_none_or(|c| p.connector == c)
                && purpose.is_none_or(|x| p.purpose == x)
                && stack.is_none_or(|s| p.stack_level == s))
        });
        self.profiles.len() != before
    }

    /// A remote start: begin now if a car is in, or wait for one.
    fn remote_start(&mut self, token: IdToken, remote_start_id: Option<i64>) -> bool {
        if !self.available || self.tx != Tx::Idle {
            return false;
        }
        if self.plugged.is_some() {
            self.begin(token, remote_start_id, false);
        } else {
            self.waiting_remote_start = Some((token, remote_start_id));
        }
        true
    }

    /// A remote stop of `id`.
    fn remote_stop(&mut self, id: &str) -> bool {
        if matches!(&self.tx, Tx::Active { id: running, .. } if running == id) {
            self.end(StopReason::Remote);
            true
        } else {
            false
        }
    }

    /// Reset: end the transaction, then close and boot again.
    fn reset(&mut self, hard: bool) {
        self.end(if hard {
            StopReason::HardReset
        } else {
            StopReason::SoftReset
        });
        self.reset_pending = true;
    }

    /// Availability change; `Some(true)` when applied now, `Some(false)` when scheduled after the
    /// transaction.
    fn set_available(&mut self, operative: bool) -> bool {
        if !operative && !matches!(self.tx, Tx::Idle) {
            self.available_after_tx = Some(false);
            return false;
        }
        self.available = operative;
        self.available_after_tx = None;
        true
    }

    /// A setting change: `Err` with the status to answer when refused.
    fn change_setting(&mut self, key: &str, value: &str) -> Result<(), SettingRefusal> {
        let Some((_, readonly)) = self.settings.get(key) else {
            return Err(SettingRefusal::Unknown);
        };
        if *readonly {
            return Err(SettingRefusal::ReadOnly);
        }
        let numeric = [HEARTBEAT_INTERVAL, METER_INTERVAL, "ConnectionTimeOut"];
        if numeric.contains(&key) && value.parse::<u32>().is_err() {
            return Err(SettingRefusal::Invalid);
        }
        let boolean = ["AuthorizeRemoteTxRequests", "FreeVendEnabled", "AutoChargeEnabled"];
        if boolean.contains(&key) && !matches!(value, "true" | "false") {
            return Err(SettingRefusal::Invalid);
        }
        if key == HEARTBEAT_INTERVAL {
            if let Ok(secs) = value.parse::<u64>() {
                self.heartbeat_interval = Duration::from_secs(secs.max(1));
                self.next_heartbeat = Some(Instant::now() + self.heartbeat_interval);
            }
        }
        if key == METER_INTERVAL {
            self.next_meter = None;
        }
        self.settings.insert(key.to_owned(), (value.to_owned(), false));
        Ok(())
    }

    /// Starts reporting a firmware update or an upload: `steps` are sent one every [`JOB_STEP`].
    fn start_job(&mut self, steps: &[&'static str], request_id: Option<i32>, upload: bool) {
        // A new request replaces one of the same kind under way (2.0.1 AcceptedCanceled).
        self.jobs.retain(|j| j.upload != upload);
        self.jobs.push(Job {
            steps: steps.iter().copied().collect(),
            request_id,
            upload,
            next_at: Instant::now() + JOB_STEP,
        });
    }

    /// Sends the next status of every job that is due.
    fn advance_jobs(&mut self, now: Instant) {
        let mut due = Vec::new();
        for job in &mut self.jobs {
            if now >= job.next_at {
                if let Some(status) = job.steps.pop_front() {
                    due.push((job.upload, status, job.request_id));
                    job.next_at = now + JOB_STEP;
                }
            }
        }
        self.jobs.retain(|j| !j.steps.is_empty());
        for (upload, status, request_id) in due {
            if upload {
                self.upload_status = status;
                self.queue.push_back(Out::UploadStatus { status, request_id });
            } else {
                self.firmware_status = status;
                self.queue.push_back(Out::FirmwareStatus { status, request_id });
            }
        }
    }

    /// Ends a reservation whose time ran out (2.0.1 says so in a ReservationStatusUpdate; the
    /// connector's status says it in both versions).
    fn expire_reservation(&mut self, wall: DateTime<Utc>) {
        if self.reservation.as_ref().is_some_and(|r| wall >= r.expires_at) {
            if let Some(expired) = self.reservation.take() {
                if self.version == OcppVersion::V201 {
                    self.queue.push_back(Out::ReservationExpired(expired.id));
                }
                self.last_status = None;
            }
        }
    }

    /// A ReserveNow for the one connector (0: any, which is the same here): the OCPP status word
    /// to answer.
    fn reserve(&mut self, id: i32, connector: i32, id_tag: String, expires_at: DateTime<Utc>) -> &'static str {
        if !(0..=1).contains(&connector) {
            return "Rejected";
        }
        if !self.available {
            return "Unavailable";
        }
        let other = self.reservation.as_ref().is_some_and(|r| r.id != id);
        if other || self.tx != Tx::Idle || self.plugged.is_some() {
            return "Occupied";
        }
        self.reservation = Some(SimReservation { id, id_tag, expires_at });
        self.last_status = None;
        "Accepted"
    }

    /// A CancelReservation: whether the reservation was held.
    fn cancel_reservation(&mut self, id: i32) -> bool {
        if self.reservation.as_ref().is_some_and(|r| r.id == id) {
            self.reservation = None;
            self.last_status = None;
            true
        } else {
            false
        }
    }

    /// The offered current now, for a meter value or the composite schedule.
    fn reading(&self, cloud: &SimCloud, config: &SimChargerConfig) -> SocketReading {
        cloud.socket_reading(&config.ocpp_id).unwrap_or(SocketReading {
            vehicle: None,
            current_a: 0.0,
            power_w: 0.0,
            energy_wh: 0.0,
        })
    }
}

/// Why a setting change is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SettingRefusal {
    Unknown,
    ReadOnly,
    Invalid,
}

/// What an answer to one of our calls says, whichever the version.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Answer {
    Boot { accepted: bool, interval: i64 },
    Authorized(bool),
    Started { id: Option<String>, accepted: bool },
    Other,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use serde_json::{json, Value};

    use super::*;
    use crate::cloud::SimConfig;

    fn answer16(m: &mut Machine, cloud: &SimCloud, config: &SimChargerConfig, action: &str, payload: Value) -> Value {
        let frame = v16::answer(m, "1", action, &payload, Utc::now(), cloud, config);
        match frame {
            Frame::CallResult { payload, .. } => payload,
            other => panic!("{action} was not answered with a result: {other:?}"),
        }
    }

    fn tx_profile(limit: f64) -> Value {
        json!({"connectorId": 1, "csChargingProfiles": {
            "chargingProfileId": 7, "stackLevel": 1, "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]}
        }})
    }

    #[test]
    fn an_unreachable_charger_keeps_its_car_to_an_absolute_multi_period_profile() {
        use coupler_core::clock::ManualClock;

        let start = DateTime::parse_from_rfc3339("2026-01-16T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = Arc::new(ManualClock::at(start));
        let cloud = SimCloud::new(SimConfig::default()).with_clock(clock.clone());
        let car = cloud.add_account(
            crate::Brand::Aurora,
            "u",
            "p",
            vec![crate::SimVehicleSpec {
                battery_level: 50.0,
                ..crate::SimVehicleSpec::new("V1", "Aurora S")
            }],
        );
        let config = SimChargerConfig::home("CP1", "ws://x/ocpp/CP1", "pw", OcppVersion::V16);
        cloud.add_socket("CP1");
        cloud.plug(&car[0], "CP1").unwrap();
        let mut m = Machine::new(&config);
        m.tx = Tx::Active {
            id: "42".into(),
            started: start,
            token: IdToken::Tag(FREE_VEND_ID_TAG.into()),
        };
        // Off for half an hour, then 16 A for half an hour, then off; until the deadline.
        let profile = json!({"connectorId": 1, "csChargingProfiles": {
            "chargingProfileId": 1100, "stackLevel": 2, "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Absolute", "validTo": "2026-01-16T01:30:00Z",
            "chargingSchedule": {"chargingRateUnit": "A", "startSchedule": "2026-01-16T00:00:00Z",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 0.0}, {"startPeriod": 1800, "limit": 16.0}, {"startPeriod": 3600, "limit": 0.0}
                ]}
        }});
        assert_eq!(
            answer16(&mut m, &cloud, &config, "SetChargingProfile", profile)["status"],
            "Accepted"
        );
        assert!(!m.connected, "nothing reaches a server from here on");
        let level = || cloud.vehicle(&car[0]).unwrap().battery_level;

        m.on_tick(Instant::now(), cloud.now(), &cloud, &config);
        assert_eq!(m.offered, 0.0);
        clock.advance(chrono::Duration::minutes(30));
        m.on_tick(Instant::now(), cloud.now(), &cloud, &config);
        assert_eq!(
            (m.offered, level()),
            (16.0, 50.0),
            "nothing charged while the plan was off"
        );
        clock.advance(chrono::Duration::minutes(30));
        m.on_tick(Instant::now(), cloud.now(), &cloud, &config);
        assert_eq!(m.offered, 0.0);
        let charged = level();
        assert!(
            (charged - (50.0 + 5.52 / 75.0 * 100.0)).abs() < 0.5,
            "half an hour at 11 kW: {charged}"
        );
        clock.advance(chrono::Duration::minutes(30));
        m.on_tick(Instant::now(), cloud.now(), &cloud, &config);
        assert_eq!(level(), charged, "off again until the profile ends");
    }

    #[test]
    fn a_transaction_profile_is_refused_without_a_transaction_and_then_drives_the_composite_schedule() {
        let cloud = SimCloud::new(SimConfig::default());
        let config = SimChargerConfig::home("CP1", "ws://x/ocpp/CP1", "pw", OcppVersion::V16);
        let mut m = Machine::new(&config);
        let refused = answer16(&mut m, &cloud, &config, "SetChargingProfile", tx_profile(10.0));
        assert_eq!(refused["status"], "Rejected");

        m.tx = Tx::Active {
            id: "42".into(),
            started: Utc::now(),
            token: IdToken::Tag(FREE_VEND_ID_TAG.into()),
        };
        let accepted = answer16(&mut m, &cloud, &config, "SetChargingProfile", tx_profile(10.0));
        assert_eq!(accepted["status"], "Accepted");
        let schedule = answer16(
            &mut m,
            &cloud,
            &config,
            "GetCompositeSchedule",
            json!({"connectorId": 1, "duration": 3600, "chargingRateUnit": "A"}),
        );
        assert_eq!(schedule["status"], "Accepted");
        assert_eq!(schedule["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"], 10.0);
        let in_watts = answer16(
            &mut m,
            &cloud,
            &config,
            "GetCompositeSchedule",
            json!({"connectorId": 1, "duration": 60, "chargingRateUnit": "W"}),
        );
        assert_eq!(
            in_watts["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"],
            6900.0
        );

        let cleared = answer16(&mut m, &cloud, &config, "ClearChargingProfile", json!({"id": 7}));
        assert_eq!(cleared["status"], "Accepted");
        let again = answer16(&mut m, &cloud, &config, "ClearChargingProfile", json!({"id": 7}));
        assert_eq!(again["status"], "Unknown");
    }

    #[test]
    fn settings_change_within_their_rules_and_unknown_calls_get_a_call_error() {
        let cloud = SimCloud::new(SimConfig::default());
        let config = SimChargerConfig::home("CP1", "ws://x/ocpp/CP1", "pw", OcppVersion::V16);
        let mut m = Machine::new(&config);
        let change = |m: &mut Machine, key: &str, value: &str| {
            answer16(
                m,
                &cloud,
                &config,
                "ChangeConfiguration",
                json!({"key": key, "value": value}),
            )["status"]
                .clone()
        };
        assert_eq!(change(&mut m, METER_INTERVAL, "15"), "Accepted");
        assert_eq!(change(&mut m, METER_INTERVAL, "often"), "Rejected");
        assert_eq!(change(&mut m, "NumberOfConnectors", "2"), "Rejected");
        assert_eq!(change(&mut m, "NoSuchKey", "1"), "NotSupported");
        let read = answer16(
            &mut m,
            &cloud,
            &config,
            "GetConfiguration",
            json!({"key": [METER_INTERVAL, "NoSuchKey"]}),
        );
        assert_eq!(read["configurationKey"][0]["value"], "15");
        assert_eq!(read["unknownKey"][0], "NoSuchKey");
        let broken = v16::answer(
            &mut m,
            "9",
            "Reset",
            &json!({"type": "Sideways"}),
            Utc::now(),
            &cloud,
            &config,
        );
        assert!(matches!(broken, Frame::CallError { .. }), "{broken:?}");
    }

    #[test]
    fn a_firmware_update_and_an_upload_report_their_statuses_one_step_at_a_time() {
        let cloud = SimCloud::new(SimConfig::default());
        let config = SimChargerConfig::home("CP1", "ws://x/ocpp/CP1", "pw", OcppVersion::V16);
        let mut m = Machine::new(&config);
        (m.connected, m.booted) = (true, true);
        let firmware = answer16(
            &mut m,
            &cloud,
            &config,
            "UpdateFirmware",
            json!({"location": "https://fw.example/1.bin", "retrieveDate": "2026-01-01T00:00:00Z"}),
        );
        assert_eq!(firmware, json!({}));
        let upload = answer16(
            &mut m,
            &cloud,
            &config,
            "GetDiagnostics",
            json!({"location": "ftp://x/"}),
        );
        assert_eq!(upload["fileName"], "diagnostics-CP1.log");
        let start = Instant::now();
        for step in 1..=4 {
            m.on_tick(
                start + JOB_STEP * step + Duration::from_millis(10),
                Utc::now(),
                &cloud,
                &config,
            );
        }
        let (mut firmware, mut uploads) = (Vec::new(), Vec::new());
        for call in &m.queue {
            match call {
                Out::FirmwareStatus { status, .. } => firmware.push(*status),
                Out::UploadStatus { status, .. } => uploads.push(*status),
                _ => {}
            }
        }
        assert_eq!(firmware, ["Downloading", "Downloaded", "Installing", "Installed"]);
        assert_eq!(uploads, ["Uploading", "Uploaded"]);
        assert!(m.jobs.is_empty());
        assert_eq!(m.firmware_status, "Installed");
    }

    #[test]
    fn a_reservation_is_held_for_its_tag_until_a_transaction_uses_it_or_it_expires() {
        let cloud = SimCloud::new(SimConfig::default());
        let config = SimChargerConfig::home("CP1", "ws://x/ocpp/CP1", "pw", OcppVersion::V16);
        let mut m = Machine::new(&config);
        let later = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
        let reserve = |m: &mut Machine, id: i32| {
            answer16(
                m,
                &cloud,
                &config,
                "ReserveNow",
                json!({"connectorId": 1, "expiryDate": later, "idTag": "RFID-1", "reservationId": id}),
            )["status"]
                .clone()
        };
        assert_eq!(reserve(&mut m, 5), "Accepted");
        assert_eq!(reserve(&mut m, 6), "Occupied", "one connector, one reservation");
        let cancel = answer16(
            &mut m,
            &cloud,
            &config,
            "CancelReservation",
            json!({"reservationId": 6}),
        );
        assert_eq!(cancel["status"], "Rejected");
        m.begin(IdToken::Tag(FREE_VEND_ID_TAG.into()), None, false);
        assert_eq!(m.reservation_in_use, Some(5));
        assert!(m
            .queue
            .iter()
            .any(|c| matches!(c, Out::Start { token: IdToken::Tag(t), .. } if t == "RFID-1")));

        let config = SimChargerConfig::home("CS1", "ws://x/ocpp/CS1", "pw", OcppVersion::V201);
        let mut m = Machine::new(&config);
        (m.connected, m.booted) = (true, true);
        let soon = (Utc::now() + chrono::Duration::seconds(1)).to_rfc3339();
        let answer = v201::answer(
            &mut m,
            "1",
            "ReserveNow",
            &json!({"id": 9, "expiryDateTime": soon, "idToken": {"idToken": "RFID-2", "type": "ISO14443"}}),
            Utc::now(),
            &cloud,
            &config,
        );
        assert!(matches!(answer, Frame::CallResult { ref payload, .. } if payload["status"] == "Accepted"));
        m.on_tick(
            Instant::now(),
            Utc::now() + chrono::Duration::seconds(2),
            &cloud,
            &config,
        );
        assert!(m.reservation.is_none());
        assert!(m.queue.contains(&Out::ReservationExpired(9)));
    }
}
