//! The task behind each simulated charger: it owns the WebSocket and feeds the
//! [`Charger`] state machine, reconnecting with back-off when the connection drops.
//!
//! One task per charger, holding the socket unsplit: a `select!` waits for the next
//! message, the charger's next timer or the end of the run, so there is no second task
//! and no channel per charger. WebSocket buffers are kept small (see [`ws_config`])
//! because 10,000 connections with tungstenite's 128 KiB default read buffer would take
//! over a gigabyte.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use coupler_chargepoint::Profile;
use futures::{SinkExt, StreamExt};
use rand::Rng;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::{sleep_until, timeout, Instant};
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::header::{AUTHORIZATION, SEC_WEBSOCKET_PROTOCOL};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;
use url::Url;

use coupler_ocpp::OcppVersion;

use crate::charger::{Charger, Identity, Settings};
use crate::stats::Stats;

/// Time allowed for TCP connect plus the WebSocket handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// After the run ends, time left for stopping transactions before the socket is closed.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Time allowed for the server to answer our close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// First and longest wait before reconnecting.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Largest message or frame accepted from the server. OCPP 1.6 messages to a charger are
/// small; a server sending megabytes is misbehaving and is cut off.
const MAX_INCOMING_MESSAGE: usize = 64 * 1024;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The WebSocket settings of every charger: a 4 KiB read buffer instead of 128 KiB, each
/// message written at once (there is at most one in flight), and a cap on incoming sizes.
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(64 * 1024)
        .max_message_size(Some(MAX_INCOMING_MESSAGE))
        .max_frame_size(Some(MAX_INCOMING_MESSAGE))
}

/// What every charger task shares.
#[derive(Debug)]
pub struct Shared {
    /// The run's measurements.
    pub stats: Stats,
    /// The scenario.
    pub settings: Arc<Settings>,
    /// Cancelled when the run ends.
    pub shutdown: CancellationToken,
}

/// The charging profiles a charger held after each change, oldest first: when it took the message
/// that changed them (on the charger's own wall clock), the profiles, and the charger's rating.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileChange {
    /// When the charger held these profiles from.
    pub at: DateTime<Utc>,
    /// The profiles it held from then.
    pub profiles: Vec<Profile>,
    /// The most the charger offers with no profile in force, amperes per phase.
    pub rating: f64,
}

/// One charger as seen from outside its task: whether it is up and idle, a place to
/// wait for the next RemoteStartTransaction that reaches it (`--command-latency`), and, when
/// asked for, every change of the charging profiles it holds.
#[derive(Debug)]
pub struct Slot {
    /// Charge point identity.
    pub ocpp_id: String,
    /// Coupler's id of the charger.
    pub charger_id: String,
    up: AtomicBool,
    busy: AtomicBool,
    remote_start: Mutex<Option<oneshot::Sender<Instant>>>,
    /// The profile changes, when they are kept ([`Slot::keeping_profiles`]).
    profile_changes: Option<Mutex<Vec<ProfileChange>>>,
}

impl Slot {
    /// A charger that is not connected yet.
    pub fn new(ocpp_id: String, charger_id: String) -> Self {
        Self {
            ocpp_id,
            charger_id,
            up: AtomicBool::new(false),
            busy: AtomicBool::new(false),
            remote_start: Mutex::new(None),
            profile_changes: None,
        }
    }

    /// A charger that is not connected yet and keeps every change of its charging profiles (for
    /// measuring when a limit reached it).
    pub fn keeping_profiles(ocpp_id: String, charger_id: String) -> Self {
        Self {
            profile_changes: Some(Mutex::new(Vec::new())),
            ..Self::new(ocpp_id, charger_id)
        }
    }

    /// Every change of the charger's profiles so far, oldest first (none unless kept).
    pub fn profile_changes(&self) -> Vec<ProfileChange> {
        self.profile_changes.as_ref().map_or_else(Vec::new, |changes| {
            changes.lock().unwrap_or_else(PoisonError::into_inner).clone()
        })
    }

    /// Keeps the charger's profiles as of `now` when they differ from the last kept.
    fn note_profiles(&self, charger: &Charger, now: Instant) {
        let Some(changes) = &self.profile_changes else {
            return;
        };
        let mut changes = changes.lock().unwrap_or_else(PoisonError::into_inner);
        let held = charger.profiles();
        let last: &[Profile] = changes.last().map_or(&[], |c| c.profiles.as_slice());
        if last != held {
            changes.push(ProfileChange {
                at: charger.wall_time(now),
                profiles: held.to_vec(),
                rating: charger.rating(),
            });
        }
    }

    /// Connected, booted and without a transaction: a START command should reach it.
    pub fn is_idle(&self) -> bool {
        self.up.load(Relaxed) && !self.busy.load(Relaxed)
    }

    /// Whether it is connected with an accepted boot.
    pub fn is_up(&self) -> bool {
        self.up.load(Relaxed)
    }

    /// Arms a one-shot notification of the next RemoteStartTransaction's arrival time.
    pub fn expect_remote_start(&self) -> oneshot::Receiver<Instant> {
        let (sender, receiver) = oneshot::channel();
        *self.remote_start.lock().unwrap_or_else(PoisonError::into_inner) = Some(sender);
        receiver
    }

    /// Disarms the notification.
    pub fn forget_remote_start(&self) {
        self.remote_start.lock().unwrap_or_else(PoisonError::into_inner).take();
    }

    /// Marks the charger up and idle without a connection.
    #[cfg(test)]
    pub fn mark_idle_for_tests(&self) {
        self.up.store(true, Relaxed);
        self.busy.store(false, Relaxed);
    }

    fn remote_start_arrived(&self, at: Instant) {
        let sender = self.remote_start.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(sender) = sender {
            let _ = sender.send(at);
        }
    }
}

/// Where and as whom a charger connects.
#[derive(Debug)]
pub struct Target {
    url: Url,
    authorization: HeaderValue,
    version: OcppVersion,
}

impl Target {
    /// The WebSocket URL and Basic-auth header of a charger.
    pub fn new(url: Url, ocpp_id: &str, password: &str) -> anyhow::Result<Self> {
        let token = STANDARD.encode(format!("{ocpp_id}:{password}"));
        let mut authorization = HeaderValue::from_str(&format!("Basic {token}"))?;
        authorization.set_sensitive(true);
        Ok(Self {
            url,
            authorization,
            version: OcppVersion::V16,
        })
    }

    /// The same target, offering `version`'s subprotocol (1.6 unless told).
    pub fn speaking(self, version: OcppVersion) -> Self {
        Self { version, ..self }
    }

    fn request(&self) -> Result<Request, WsError> {
        let mut request = self.url.as_str().into_client_request()?;
        let headers = request.headers_mut();
        headers.insert(
            SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(self.version.subprotocol()),
        );
        headers.insert(AUTHORIZATION, self.authorization.clone());
        Ok(request)
    }
}

/// How a connection ended.
enum Ended {
    /// The run is over and the socket was closed by us.
    Finished,
    /// The server or the network ended it.
    Lost(String),
    /// The server reset the charger, which closed the connection to boot again.
    Reset,
}

/// Runs one charger from `start_at` until the run ends.
pub async fn run_charger(shared: Arc<Shared>, slot: Arc<Slot>, target: Target, identity: Identity, start_at: Instant) {
    tokio::select! {
        () = shared.shutdown.cancelled() => return,
        () = sleep_until(start_at) => {}
    }
    let stats = &shared.stats;
    let mut charger = Charger::new(shared.settings.clone(), identity);
    let mut backoff = BACKOFF_MIN;
    loop {
        // The handshake and the connection loop are boxed: their state is large and only
        // needed while they run, so a charger waiting for its turn in the ramp stays small.
        let connected = tokio::select! {
            () = shared.shutdown.cancelled() => return,
            result = Box::pin(connect(&target)) => result,
        };
        match connected {
            Ok(mut socket) => {
                stats.connection_opened();
                backoff = BACKOFF_MIN;
                charger.on_connected(stats);
                let ended = Box::pin(drive(&shared, &slot, &mut charger, &mut socket)).await;
                stats.connection_closed();
                let now = Instant::now();
                charger.on_disconnected(now, stats);
                publish(stats, &slot, &charger, false);
                match ended {
                    Ended::Finished => return,
                    // The server reset the charger: it reconnects at once and boots again.
                    Ended::Reset => {
                        backoff = BACKOFF_MIN;
                        continue;
                    }
                    Ended::Lost(reason) => {
                        Stats::bump(&stats.counters.disconnects);
                        stats.connection_errors.note(&format!("connection lost: {reason}"));
                    }
                }
            }
            Err(reason) => {
                Stats::bump(&stats.counters.failed);
                stats.connection_errors.note(&reason);
            }
        }
        // Jitter spreads the reconnects of chargers that dropped together.
        let wait = backoff.mul_f64(rand::thread_rng().gen_range(0.5..1.5));
        backoff = (backoff * 2).min(BACKOFF_MAX);
        tokio::select! {
            () = shared.shutdown.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

async fn connect(target: &Target) -> Result<Socket, String> {
    let request = target.request().map_err(|e| format!("bad request: {e}"))?;
    let connecting = tokio_tungstenite::connect_async_with_config(request, Some(ws_config()), true);
    match timeout(CONNECT_TIMEOUT, connecting).await {
        Err(_) => Err(format!("connect timed out after {} s", CONNECT_TIMEOUT.as_secs())),
        Ok(Err(error)) => Err(describe(&error)),
        Ok(Ok((socket, response))) => {
            // tungstenite already refuses a subprotocol we did not offer; this also
            // refuses a missing one (how OCPP-J says "no version in common").
            let chosen = response.headers().get(SEC_WEBSOCKET_PROTOCOL);
            let offered = target.version.subprotocol();
            if chosen.is_some_and(|p| p.as_bytes() == offered.as_bytes()) {
                Ok(socket)
            } else {
                Err(format!("the server did not accept subprotocol {offered}"))
            }
        }
    }
}

/// A short, stable description of a WebSocket error, so equal causes count as one.
fn describe(error: &WsError) -> String {
    match error {
        WsError::Http(response) => format!("upgrade refused: HTTP {}", response.status()),
        WsError::Io(io) => format!("I/O error: {io}"),
        other => other.to_string(),
    }
}

/// Publishes the charger's state to its slot and the run's `up` count.
fn publish(stats: &Stats, slot: &Slot, charger: &Charger, connected: bool) {
    let up = connected && charger.is_booted();
    let was_up = slot.up.swap(up, Relaxed);
    stats.set_up(was_up, up);
    slot.busy.store(charger.has_transaction(), Relaxed);
}

async fn send(socket: &mut Socket, text: String) -> Result<(), String> {
    socket
        .send(Message::text(text))
        .await
        .map_err(|e| format!("send failed: {}", describe(&e)))
}

/// Runs one open connection until the run ends (then closes it) or the connection is lost.
async fn drive(shared: &Shared, slot: &Slot, charger: &mut Charger, socket: &mut Socket) -> Ended {
    let stats = &shared.stats;
    let mut grace_ends: Option<Instant> = None;
    if shared.shutdown.is_cancelled() {
        charger.begin_shutdown(Instant::now(), stats);
        grace_ends = Some(Instant::now() + SHUTDOWN_GRACE);
    }
    loop {
        if let Some(frame) = charger.poll_call(Instant::now(), stats) {
            if let Err(reason) = send(socket, frame.to_text()).await {
                return Ended::Lost(reason);
            }
        }
        publish(stats, slot, charger, true);
        if charger.take_reset() {
            close(socket).await;
            return Ended::Reset;
        }
        if grace_ends.is_some() && charger.is_quiet() {
            break;
        }
        // A far-away instant stands in for "no timer" so the select stays simple.
        let wake = charger
            .next_wakeup()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        let grace = grace_ends.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            () = shared.shutdown.cancelled(), if grace_ends.is_none() => {
                let now = Instant::now();
                charger.begin_shutdown(now, stats);
                grace_ends = Some(now + SHUTDOWN_GRACE);
            }
            () = sleep_until(grace), if grace_ends.is_some() => break,
            () = sleep_until(wake) => charger.on_timer(Instant::now(), stats),
            message = socket.next() => {
                let now = Instant::now();
                match message {
                    Some(Ok(Message::Text(text))) => {
                        let reaction = charger.handle_text(now, text.as_str(), stats);
                        slot.note_profiles(charger, now);
                        if reaction.remote_start {
                            slot.remote_start_arrived(now);
                        }
                        if let Some(reply) = reaction.reply {
                            if let Err(reason) = send(socket, reply.to_text()).await {
                                return Ended::Lost(reason);
                            }
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        Stats::bump(&stats.counters.protocol_errors);
                        stats.incoming_error_log.note("binary message from the server (OCPP-J uses text)");
                    }
                    // tungstenite answers pings itself.
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                    Some(Ok(Message::Close(frame))) => {
                        let why = frame.map_or_else(|| "no reason".to_owned(), |f| format!("{} {}", f.code, f.reason));
                        return Ended::Lost(format!("closed by the server ({why})"));
                    }
                    Some(Err(error)) => return Ended::Lost(describe(&error)),
                    None => return Ended::Lost("connection closed".to_owned()),
                }
            }
        }
    }
    close(socket).await;
    Ended::Finished
}

/// Sends a close frame and waits briefly for the server's, so the close handshake completes.
async fn close(socket: &mut Socket) {
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: "load test finished".into(),
    };
    let closing = async {
        if socket.close(Some(frame)).await.is_ok() {
            while let Some(Ok(_)) = socket.next().await {}
        }
    };
    let _ = timeout(CLOSE_TIMEOUT, closing).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upgrade_request_offers_ocpp_1_6_and_basic_auth() {
        let url = Url::parse("ws://127.0.0.1:8080/ocpp/LG-000001").unwrap();
        let target = Target::new(url, "LG-000001", "pa:ss").unwrap();
        let request = target.request().unwrap();
        assert_eq!(request.uri(), "ws://127.0.0.1:8080/ocpp/LG-000001");
        assert_eq!(request.headers()[SEC_WEBSOCKET_PROTOCOL], "ocpp1.6");
        let expected = format!("Basic {}", STANDARD.encode("LG-000001:pa:ss"));
        assert_eq!(request.headers()[AUTHORIZATION], expected.as_str());
        assert!(request.headers()[AUTHORIZATION].is_sensitive());
        let request = target.speaking(OcppVersion::V201).request().unwrap();
        assert_eq!(request.headers()[SEC_WEBSOCKET_PROTOCOL], "ocpp2.0.1");
    }

    #[test]
    fn websocket_buffers_are_small() {
        let config = ws_config();
        assert_eq!(config.read_buffer_size, 4096);
        assert!(config.max_write_buffer_size > config.write_buffer_size);
        assert_eq!(config.max_message_size, Some(MAX_INCOMING_MESSAGE));
    }

    #[test]
    fn a_slot_reports_the_remote_start_it_was_armed_for_once() {
        let slot = Slot::new("LG-1".to_owned(), "chg_1".to_owned());
        slot.remote_start_arrived(Instant::now()); // not armed: nothing happens
        let mut receiver = slot.expect_remote_start();
        let at = Instant::now();
        slot.remote_start_arrived(at);
        assert_eq!(receiver.try_recv(), Ok(at));
        slot.remote_start_arrived(Instant::now());
    }
}
