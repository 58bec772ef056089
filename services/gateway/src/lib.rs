//! Coupler's OCPP charger gateway, for OCPP 1.6J and 2.0.1 on the same URL.
//!
//! Chargers connect to `ws(s)://host/ocpp/{chargePointId}`. Before the upgrade the gateway checks the
//! identity and its credentials (HTTP Basic, or over Coupler's own TLS a client certificate naming
//! the identity: security profile 3) and picks the subprotocol in the charger's order of
//! preference. Each connection then runs one session actor (`session.rs`) that owns the socket: it
//! answers the charger's calls only after what they report is stored, keeps at most one call of its
//! own outstanding (the rest queue), times calls out, pings, and closes when replaced, deleted, or
//! shut down. `v16.rs` and `v201.rs` turn each version's messages into the same stored facts and
//! the same commands into each version's calls; the rest of Coupler reaches chargers only through
//! [`ChargerControl`], which knows no OCPP version.

mod authorise;
mod capabilities;
pub mod certificates;
mod common;
mod handshake;
mod node;
mod security;
mod session;
mod v16;
mod v201;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use coupler_core::charger::OcppProtocol;
use coupler_core::clock::{Clock, SystemClock};
use coupler_core::control::{ChargerCommand, ChargerControl, CommandReply, ControlError};
use coupler_core::node::{Heard, NodeId, Signal};
use coupler_core::security::TlsPeer;
use coupler_core::{ChargerId, OcppIdentity, Store};
use coupler_ocpp::OcppVersion;
use coupler_tasks::Tasks;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

pub use handshake::{check_basic_auth, choose_subprotocol, AuthFailure};
pub use node::DEFAULT_NODE_LEASE;

/// How the gateway behaves.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// How long Coupler waits for a charger to answer one of its calls.
    pub call_timeout: Duration,
    /// How often Coupler pings a charger.
    pub ping_interval: Duration,
    /// How long a ping may go unanswered before the connection counts as dead.
    pub pong_timeout: Duration,
    /// The heartbeat interval Coupler asks chargers for at boot.
    pub heartbeat_interval: Duration,
    /// The largest message (and frame) accepted from a charger, in bytes.
    pub max_message_bytes: usize,
    /// Admit unknown identities (no credentials needed) and answer their boot with `Pending`,
    /// instead of refusing them with 404.
    pub admit_unknown: bool,
    /// Refuse connections that did not come over TLS (per `X-Forwarded-Proto` from the proxy that
    /// terminates TLS): security profile 2 only.
    pub require_tls: bool,
    /// The meter sample interval set on chargers after boot.
    pub meter_sample_interval: Duration,
    /// The measurands asked for after boot, most wanted first.
    pub measurands: Vec<String>,
    /// The id tag remote starts are made with.
    pub remote_start_id_tag: String,
    /// The vendors whose DataTransfer messages Coupler takes (answered `Accepted` and stored);
    /// every other vendor's are answered `UnknownVendorId` (and stored as well).
    pub data_transfer_vendors: Vec<String>,
    /// Security profile 3: refuse chargers that present no client certificate (verified against
    /// the configured client CA by Coupler's own TLS) whose subject common name is their identity.
    pub require_client_certificate: bool,
    /// The CA that signs chargers' certificates (SignCertificate); without one such requests
    /// are answered `Rejected`.
    pub signing_ca: Option<Arc<certificates::SigningCa>>,
    /// This node's id among the nodes sharing the database: the store records that this node holds
    /// the sockets of the chargers connected to it.
    pub node: NodeId,
    /// Whether energy register rises are judged by the power they imply (more than 1 MW on one
    /// connector is flagged; see [`coupler_core::plausibility`]). Off where simulated batteries
    /// charge faster than real time (the sandbox's time factor).
    pub judge_power: bool,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_secs(30),
            ping_interval: Duration::from_secs(60),
            pong_timeout: Duration::from_secs(30),
            heartbeat_interval: Duration::from_secs(300),
            max_message_bytes: 64 * 1024,
            admit_unknown: false,
            require_tls: false,
            meter_sample_interval: Duration::from_secs(60),
            measurands: [
                "Energy.Active.Import.Register",
                "Power.Active.Import",
                "Current.Import",
                "Current.Offered",
                "Voltage",
                "SoC",
            ]
            .map(str::to_owned)
            .to_vec(),
            remote_start_id_tag: coupler_core::control::DEFAULT_REMOTE_START_ID_TAG.to_owned(),
            data_transfer_vendors: Vec::new(),
            require_client_certificate: false,
            signing_ca: None,
            node: NodeId::single(),
            judge_power: true,
        }
    }
}

/// The OCPP versions the gateway speaks, newest first.
pub const SUPPORTED_VERSIONS: &[OcppVersion] = &[OcppVersion::V201, OcppVersion::V16];

/// A command on its way to a session, with the means to answer it.
#[derive(Debug)]
pub(crate) struct Command {
    pub(crate) command: ChargerCommand,
    pub(crate) reply: oneshot::Sender<Result<CommandReply, ControlError>>,
}

/// How the rest of the gateway reaches a live session.
#[derive(Debug, Clone)]
pub(crate) struct SessionHandle {
    /// Distinguishes this connection from an earlier or later one of the same charger.
    pub(crate) connection: u64,
    pub(crate) commands: mpsc::Sender<Command>,
    /// Cancelled to make the session close (replaced or deleted).
    pub(crate) close: CancellationToken,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) store: Arc<dyn Store>,
    /// Where the gateway's time comes from (the time stamped on what chargers report).
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: GatewayConfig,
    sessions: Mutex<HashMap<ChargerId, SessionHandle>>,
    changes: broadcast::Sender<ChargerId>,
    /// Changes that may mean a plug-in, an unplug or a vehicle's identity: what pairing listens to.
    plug_changes: broadcast::Sender<ChargerId>,
    /// Chargers that connected or booted and were then configured: what the limit keeper listens
    /// to, to put their limits back on them.
    ready: broadcast::Sender<ChargerId>,
    /// The server's token and tracker: sessions end when it stops, and it waits for them.
    pub(crate) tasks: Tasks,
    next_connection: AtomicU64,
    /// The next OCPP 2.0.1 `remoteStartId`. Seeded from the clock so ids after a restart do not
    /// repeat recent ones a charger may still echo.
    next_remote_start: AtomicI32,
}

/// The gateway: the WebSocket endpoint and the registry of live sessions. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Gateway {
    pub(crate) inner: Arc<Inner>,
}

impl Gateway {
    /// A gateway over `store`. Its sessions run on `tasks` and close (with a close frame) when they
    /// stop: axum's graceful shutdown does not wait for upgraded connections, the tracker does.
    pub fn new(store: Arc<dyn Store>, config: GatewayConfig, tasks: Tasks) -> Self {
        Self::with_clock(store, config, tasks, Arc::new(SystemClock))
    }

    /// A gateway like [`Gateway::new`] on `clock` (a test's manual clock).
    pub fn with_clock(store: Arc<dyn Store>, config: GatewayConfig, tasks: Tasks, clock: Arc<dyn Clock>) -> Self {
        let (changes, _) = broadcast::channel(1024);
        let gateway = Self {
            inner: Arc::new(Inner {
                store,
                clock,
                config,
                sessions: Mutex::new(HashMap::new()),
                changes,
                plug_changes: broadcast::channel(4096).0,
                ready: broadcast::channel(4096).0,
                tasks,
                next_connection: AtomicU64::new(1),
                next_remote_start: AtomicI32::new(remote_start_seed()),
            }),
        };
        let signals = gateway.inner.store.signals().subscribe();
        let tasks = gateway.inner.tasks.clone();
        tasks.spawn("charger handover", gateway.clone().close_taken_chargers(signals));
        gateway
    }

    /// This node's id.
    pub fn node(&self) -> &NodeId {
        &self.inner.config.node
    }

    /// Closes this node's connection of every charger another node took (the charger connected
    /// there since), until shutdown. When signals may have been missed, every connection here is
    /// checked against the store.
    async fn close_taken_chargers(self, mut signals: Box<dyn coupler_core::node::SignalReceiver>) {
        let shutdown = self.inner.tasks.token().clone();
        loop {
            let heard = tokio::select! {
                _ = shutdown.cancelled() => return,
                heard = signals.recv() => heard,
            };
            match heard {
                None => return,
                Some(Heard::Signal(Signal::ChargerTaken { charger, node })) if node != *self.node() => {
                    self.close_taken(&ChargerId::new(charger), &node);
                }
                Some(Heard::Signal(_)) => {}
                Some(Heard::Missed) => self.close_all_taken().await,
            }
        }
    }

    /// Closes this node's connection of `charger`, which `node` holds now.
    fn close_taken(&self, charger: &ChargerId, node: &NodeId) {
        if let Some(handle) = self.handle(charger) {
            tracing::info!(charger_id = %charger, taken_by = %node, "the charger connected to another node; closing its connection here");
            handle.close.cancel();
        }
    }

    /// Closes every connection here whose charger another node holds now.
    async fn close_all_taken(&self) {
        let local: Vec<ChargerId> = self.sessions().keys().cloned().collect();
        for charger in local {
            match self
                .inner
                .store
                .charger_owner(&charger, coupler_core::time::now())
                .await
            {
                Ok(Some(node)) if node != *self.node() => self.close_taken(&charger, &node),
                Ok(_) => {}
                Err(e) => tracing::warn!(charger_id = %charger, error = %e, "cannot check who holds a charger"),
            }
        }
    }

    /// The route `/ocpp/{chargePointId}`, to merge into the API router or serve on its own listener.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/ocpp/{charge_point_id}", get(upgrade))
            .with_state(self.clone())
    }

    /// Whether the charger with id `charger` has a connection to this node.
    pub fn is_connected_here(&self, charger: &str) -> bool {
        self.handle(&ChargerId::new(charger)).is_some()
    }

    /// How many chargers are connected to this node.
    pub fn connected_count(&self) -> usize {
        self.sessions().len()
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<ChargerId, SessionHandle>> {
        // A poisoned registry only means a thread panicked while holding it; the map is still sound.
        self.inner
            .sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A fresh OCPP 2.0.1 `remoteStartId` (positive, wrapping well before `i32::MAX`).
    pub(crate) fn next_remote_start_id(&self) -> i32 {
        let id = self.inner.next_remote_start.fetch_add(1, Ordering::Relaxed);
        id.rem_euclid(1 << 30) + 1
    }

    pub(crate) fn next_connection(&self) -> u64 {
        self.inner.next_connection.fetch_add(1, Ordering::Relaxed)
    }

    /// Registers a new session, returning the one it replaces.
    pub(crate) fn register(&self, charger: ChargerId, handle: SessionHandle) -> Option<SessionHandle> {
        self.sessions().insert(charger, handle)
    }

    /// Removes a session if it is still the registered one; returns whether it was.
    pub(crate) fn deregister(&self, charger: &ChargerId, connection: u64) -> bool {
        let mut sessions = self.sessions();
        if sessions.get(charger).is_some_and(|h| h.connection == connection) {
            sessions.remove(charger);
            true
        } else {
            false
        }
    }

    /// Tells waiters that something about `charger` was stored.
    pub(crate) fn notify_change(&self, charger: &ChargerId) {
        // No receivers is the usual case and not an error.
        let _ = self.inner.changes.send(charger.clone());
    }

    /// Tells pairing that a charger reported something about its plug or a vehicle's identity
    /// (a status, the start or end of a transaction, an id tag), now stored.
    pub(crate) fn notify_plug_change(&self, charger: &ChargerId) {
        let _ = self.inner.plug_changes.send(charger.clone());
    }

    /// Chargers whose plug state or reported identity may have changed, from now on. A receiver
    /// that falls behind is told so (`Lagged`) and should look at every open plug-in again.
    pub fn subscribe_plug_changes(&self) -> broadcast::Receiver<ChargerId> {
        self.inner.plug_changes.subscribe()
    }

    /// Tells the limit keeper that a charger connected, or booted, and is configured: its limits
    /// may need to be put on it again.
    pub(crate) fn notify_ready(&self, charger: &ChargerId) {
        let _ = self.inner.ready.send(charger.clone());
    }

    /// Chargers that connected or booted from now on (once Coupler has read what they declare). A
    /// receiver that falls behind is told so (`Lagged`) and should look at every limited charger.
    pub fn subscribe_ready(&self) -> broadcast::Receiver<ChargerId> {
        self.inner.ready.subscribe()
    }

    fn handle(&self, charger: &ChargerId) -> Option<SessionHandle> {
        self.sessions().get(charger).cloned()
    }
}

#[async_trait]
impl ChargerControl for Gateway {
    async fn send(&self, charger: &ChargerId, command: ChargerCommand) -> Result<CommandReply, ControlError> {
        let handle = self.handle(charger).ok_or(ControlError::NotConnected)?;
        let (reply, answer) = oneshot::channel();
        let name = command.name();
        // A 1.6 charger lists the certificates of the one kind it was asked about without naming it.
        let asked_kind = match &command {
            ChargerCommand::GetInstalledCertificateIds { kinds } if kinds.len() == 1 => {
                kinds[0].ocpp_name(OcppProtocol::V16)
            }
            _ => None,
        };
        handle
            .commands
            .send(Command { command, reply })
            .await
            .map_err(|_| ControlError::Disconnected)?;
        // The session times the call out once sent; this bounds the wait in its queue as well.
        let bound = self.inner.config.call_timeout * 4;
        match tokio::time::timeout(bound, answer).await {
            Ok(Ok(Ok(CommandReply::InstalledCertificates {
                status,
                mut certificates,
            }))) => {
                for certificate in certificates.iter_mut().filter(|c| c.kind.is_empty()) {
                    certificate.kind = asked_kind.unwrap_or_default().to_owned();
                }
                Ok(CommandReply::InstalledCertificates { status, certificates })
            }
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ControlError::Disconnected),
            Err(_) => {
                tracing::warn!(charger_id = %charger, command = name, "command waited too long in the queue");
                Err(ControlError::Timeout)
            }
        }
    }

    fn is_connected(&self, charger: &ChargerId) -> bool {
        self.handle(charger).is_some()
    }

    async fn disconnect(&self, charger: &ChargerId) {
        if let Some(handle) = self.handle(charger) {
            handle.close.cancel();
        }
    }

    async fn wait_for_change(&self, charger: &ChargerId, timeout: Duration) {
        let mut changes = self.inner.changes.subscribe();
        let wait = async {
            loop {
                match changes.recv().await {
                    Ok(changed) if &changed == charger => return,
                    Ok(_) => {}
                    // Missed messages may have included ours: treat as a change.
                    Err(broadcast::error::RecvError::Lagged(_)) => return,
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        };
        let _ = tokio::time::timeout(timeout, wait).await;
    }
}

fn remote_start_seed() -> i32 {
    // Seconds since the epoch, folded into 30 bits: distinct across restarts for decades.
    i32::try_from(coupler_core::time::now().timestamp().rem_euclid(1 << 30)).unwrap_or(1)
}

/// A refusal before the upgrade, as problem+json like every other error Coupler answers.
fn refuse(status: StatusCode, detail: &str) -> Response {
    let body = serde_json::json!({
        "type": "urn:coupler:problem:ocpp-handshake",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
    });
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"coupler-ocpp\""),
        );
    }
    response
}

/// The WebSocket endpoint: identity, TLS, credentials and subprotocol are settled before upgrading.
async fn upgrade(
    State(gateway): State<Gateway>,
    Path(raw_identity): Path<String>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => {
            return refuse(
                rejection.status(),
                "this is an OCPP WebSocket endpoint; connect with a WebSocket upgrade",
            )
        }
    };
    let Ok(identity) = OcppIdentity::parse(&raw_identity) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "the charge point identity in the URL is not valid",
        );
    };
    let config = &gateway.inner.config;
    // Present only on connections Coupler's own TLS served; its certificate is already verified.
    let tls = extensions.get::<TlsPeer>();
    if config.require_tls || config.require_client_certificate {
        let over_tls = tls.is_some()
            || headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|proto| proto.eq_ignore_ascii_case("https") || proto.eq_ignore_ascii_case("wss"));
        if !over_tls {
            return refuse(StatusCode::UNAUTHORIZED, "connect over TLS (wss://)");
        }
    }
    let client_certificate = tls.and_then(|peer| peer.client_certificate.as_deref());
    let credentials = match gateway.inner.store.charger_credentials(&identity).await {
        Ok(credentials) => credentials,
        Err(e) => {
            tracing::warn!(ocpp_id = %identity, error = %e, "cannot look up a connecting charger");
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "Coupler cannot check credentials right now; retry later",
            );
        }
    };
    // Chosen before the credentials are checked: 2.0.1 has its own password rules.
    let version = choose_subprotocol(&headers, SUPPORTED_VERSIONS);
    let mode = match credentials {
        Some(credentials) => {
            let certified = match client_certificate {
                Some(der) => {
                    let name = certificates::certificate_common_name(der);
                    if name.as_deref() != Some(identity.as_str()) {
                        tracing::info!(ocpp_id = %identity, certificate_cn = ?name, "charger refused: its certificate names another identity");
                        return refuse(
                            StatusCode::FORBIDDEN,
                            "the client certificate's subject common name is not this charger's identity",
                        );
                    }
                    true
                }
                None if config.require_client_certificate => {
                    tracing::info!(ocpp_id = %identity, "charger refused: no client certificate (security profile 3)");
                    return refuse(
                        StatusCode::UNAUTHORIZED,
                        "a client certificate for this identity is required (security profile 3)",
                    );
                }
                None => false,
            };
            // Security profile 3 authenticates with the certificate; profiles 1 and 2 with Basic.
            if certified {
                tracing::debug!(ocpp_id = %identity, "charger authenticated by its client certificate");
            } else if let Err(failure) =
                check_basic_auth(&headers, identity.as_str(), &credentials.password_hash, version)
            {
                tracing::info!(ocpp_id = %identity, ?failure, "charger refused: bad credentials");
                return refuse(
                    StatusCode::UNAUTHORIZED,
                    "HTTP Basic credentials (identity and password) are required",
                );
            }
            session::Mode::Registered(credentials.charger_id)
        }
        None if config.admit_unknown => session::Mode::Pending,
        None => {
            tracing::info!(ocpp_id = %identity, "charger refused: unknown identity");
            return refuse(StatusCode::NOT_FOUND, "no charger is registered with this identity");
        }
    };
    let upgrade = upgrade
        .max_message_size(config.max_message_bytes)
        .max_frame_size(config.max_message_bytes)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0);
    // A charger that offers no subprotocol Coupler speaks is refused before the upgrade, so it
    // sees why in the answer rather than a connection that opens and drops.
    let Some(version) = version else {
        tracing::info!(ocpp_id = %identity, "charger refused: no supported OCPP subprotocol offered");
        return refuse(
            StatusCode::BAD_REQUEST,
            "no supported OCPP subprotocol offered in Sec-WebSocket-Protocol (Coupler speaks ocpp2.0.1 and ocpp1.6)",
        );
    };
    let upgrade = upgrade.protocols([version.subprotocol()]);
    let tasks = gateway.inner.tasks.clone();
    // Shutdown waits for the upgrade to complete and hand the socket to its tracked session.
    let held = tasks.hold();
    upgrade
        .on_failed_upgrade(|e| tracing::debug!(error = %e, "WebSocket upgrade failed"))
        .on_upgrade(move |socket| async move {
            let _held = held;
            tasks.spawn("ocpp session", async move {
                session::run(gateway, identity, version, mode, socket).await;
            });
        })
}
