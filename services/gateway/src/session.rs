//! One actor per connected charger. It alone owns the socket, so ordering questions have one answer:
//! the charger's calls are handled one at a time, in order, each answered after what it reports is
//! stored; Coupler's own calls go out one at a time, the next only after the previous one is
//! answered or timed out.

use std::time::Duration;

use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket};
use coupler_core::control::ControlError;
use coupler_core::node::Signal;
use coupler_core::{ChargerId, OcppIdentity};
use coupler_ocpp::rpc::Frame;
use coupler_ocpp::OcppVersion;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::common::StatusMemory;
use crate::{v16, v201, Command, Gateway, SessionHandle};

/// Whom a connection belongs to.
#[derive(Debug, Clone)]
pub(crate) enum Mode {
    /// A registered charger that passed authentication.
    Registered(ChargerId),
    /// An unknown identity admitted so operators can see it; its boot is answered `Pending` and
    /// nothing it reports is stored.
    Pending,
}

/// Coupler's call waiting for the charger's answer.
struct Pending {
    message_id: String,
    action: &'static str,
    reply: oneshot::Sender<Result<coupler_core::control::CommandReply, ControlError>>,
    deadline: Instant,
}

/// Why the loop ended, which decides the close frame.
enum Ending {
    ChargerClosed,
    SocketError,
    Replaced,
    ShuttingDown,
    PongTimeout,
    /// A message over the configured size limit (closed with 1009).
    TooBig,
    /// A text frame that is not UTF-8 (closed with 1007).
    NotUtf8,
}

impl Ending {
    /// How a read error ends the connection: a message over the limit or a text frame that is not
    /// UTF-8 is the charger's fault and is answered with its close code; anything else is a broken
    /// socket.
    fn of_read_error(error: axum::Error) -> Self {
        use tokio_tungstenite::tungstenite::error::{CapacityError, Error};
        match error.into_inner().downcast_ref::<Error>() {
            Some(Error::Capacity(CapacityError::MessageTooLong { .. })) => Self::TooBig,
            Some(Error::Utf8(_)) => Self::NotUtf8,
            _ => Self::SocketError,
        }
    }
}

/// Runs a connection until it ends.
pub(crate) async fn run(gateway: Gateway, identity: OcppIdentity, version: OcppVersion, mode: Mode, socket: WebSocket) {
    let connection = gateway.next_connection();
    let charger_id = match &mode {
        Mode::Registered(id) => Some(id.clone()),
        Mode::Pending => None,
    };
    let span = tracing::info_span!(
        "charger_session",
        ocpp_id = %identity,
        charger_id = charger_id.as_ref().map(|id| id.as_str()).unwrap_or("pending"),
        version = %version,
        connection,
    );
    async move {
        let (commands, queue) = mpsc::channel(16);
        let close = CancellationToken::new();
        // Tells the work after connecting that the charger booted on this connection: the work
        // after the boot then says the charger is ready, once, instead of both saying it.
        let (boot_seen, booted) = oneshot::channel();
        if let Some(id) = &charger_id {
            let handle = SessionHandle {
                connection,
                commands,
                close: close.clone(),
            };
            if let Some(replaced) = gateway.register(id.clone(), handle) {
                tracing::info!(
                    replaced = replaced.connection,
                    "a new connection replaces the previous one"
                );
                replaced.close.cancel();
            }
            claim(&gateway, id, connection).await;
            if let Err(e) = gateway
                .inner
                .store
                .record_connection(id, Some(protocol(version)), true, gateway.inner.clock.now())
                .await
            {
                tracing::warn!(error = %e, "cannot record the connection");
            }
            gateway.notify_change(id);
            // Learn the connectors' state now, rather than at the charger's next change.
            let control = gateway.clone();
            let id = id.clone();
            // Both versions ask the same way: the command is version-neutral.
            let tasks = gateway.inner.tasks.clone();
            tasks.spawn(
                "ocpp after connect",
                async move { v16::after_connect(control, id, booted).await }.in_current_span(),
            );
        }
        tracing::info!("charger connected");
        metrics::gauge!("coupler_ocpp_connected_chargers", "ocpp_version" => protocol(version).as_str()).increment(1.0);
        let mut session = Session {
            gateway: gateway.clone(),
            charger_id: charger_id.clone(),
            version,
            socket,
            pending: None,
            next_message_id: 1,
            statuses: StatusMemory::default(),
            boot_seen: charger_id.is_some().then_some(boot_seen),
        };
        let ending = session.serve(queue, &close).await;
        session.finish(ending, connection).await;
        metrics::gauge!("coupler_ocpp_connected_chargers", "ocpp_version" => protocol(version).as_str()).decrement(1.0);
    }
    .instrument(span)
    .await;
}

/// Records in the store that this node holds the charger's socket, and, when another node held
/// it, tells the other nodes, so one that still has a connection of the charger closes it.
pub(crate) async fn claim(gateway: &Gateway, id: &ChargerId, connection: u64) {
    let store = &gateway.inner.store;
    let node = gateway.node();
    let connection = i64::try_from(connection).unwrap_or(i64::MAX);
    match store
        .claim_charger(id, node, connection, coupler_core::time::now())
        .await
    {
        Ok(Some(previous)) => tracing::info!(previous_node = %previous, "the charger moved here from another node"),
        // No other node held it on record: there is no socket elsewhere to close, and no signal
        // to send (a boot storm of a whole fleet would otherwise be a notification per charger).
        Ok(None) => return,
        Err(e) => tracing::warn!(error = %e, "cannot record that this node holds the charger"),
    }
    let taken = Signal::ChargerTaken {
        charger: id.as_str().to_owned(),
        node: node.clone(),
    };
    if let Err(e) = store.signals().publish(&taken).await {
        tracing::warn!(error = %e, "cannot tell the other nodes that this node holds the charger");
    }
}

/// Lets the charger go in the store if this connection still holds it; `false` when another node
/// (or a newer connection) took it, whose connection the charger is then on.
async fn release(gateway: &Gateway, id: &ChargerId, connection: u64) -> bool {
    let connection = i64::try_from(connection).unwrap_or(i64::MAX);
    match gateway
        .inner
        .store
        .release_charger(id, gateway.node(), connection)
        .await
    {
        Ok(released) => released,
        Err(e) => {
            // Recorded as disconnected all the same: a wrong "disconnected" heals at the next
            // connection, a wrong "connected" would not.
            tracing::warn!(error = %e, "cannot let the charger go in the store");
            true
        }
    }
}

fn protocol(version: OcppVersion) -> coupler_core::charger::OcppProtocol {
    match version {
        OcppVersion::V16 => coupler_core::charger::OcppProtocol::V16,
        OcppVersion::V201 => coupler_core::charger::OcppProtocol::V201,
    }
}

struct Session {
    gateway: Gateway,
    charger_id: Option<ChargerId>,
    /// The version negotiated for this connection: it picks the message module.
    version: OcppVersion,
    socket: WebSocket,
    pending: Option<Pending>,
    next_message_id: u64,
    /// The connectors' last statuses on this connection: repeats do not wake pairing.
    statuses: StatusMemory,
    /// Told once when a registered charger's boot is answered on this connection.
    boot_seen: Option<oneshot::Sender<()>>,
}

impl Session {
    async fn serve(&mut self, mut queue: mpsc::Receiver<Command>, close: &CancellationToken) -> Ending {
        let config = self.gateway.inner.config.clone();
        let shutdown = self.gateway.inner.tasks.token().clone();
        let mut ping = tokio::time::interval_at(Instant::now() + config.ping_interval, config.ping_interval);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut unanswered_ping: Option<Instant> = None;
        loop {
            let deadline = self.pending.as_ref().map(|p| p.deadline);
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Ending::ShuttingDown,
                _ = close.cancelled() => return Ending::Replaced,
                incoming = self.socket.recv() => {
                    // Any frame shows the charger is alive.
                    unanswered_ping = None;
                    match incoming {
                        None | Some(Ok(Message::Close(_))) => return Ending::ChargerClosed,
                        Some(Err(e)) => {
                            tracing::info!(error = %e, "connection error");
                            return Ending::of_read_error(e);
                        }
                        Some(Ok(Message::Text(text))) => {
                            if self.on_text(text.as_str()).await.is_err() {
                                return Ending::SocketError;
                            }
                        }
                        Some(Ok(Message::Binary(_))) => tracing::warn!("ignored a binary frame: OCPP-J uses text frames"),
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    }
                }
                command = queue.recv(), if self.pending.is_none() => {
                    if let Some(command) = command {
                        if self.send_call(command, config.call_timeout).await.is_err() {
                            return Ending::SocketError;
                        }
                    }
                }
                _ = sleep_until_opt(deadline), if deadline.is_some() => {
                    if let Some(pending) = self.pending.take() {
                        tracing::warn!(action = pending.action, message_id = %pending.message_id, "the charger did not answer in time");
                        let _ = pending.reply.send(Err(ControlError::Timeout));
                    }
                }
                _ = ping.tick() => {
                    if let Some(since) = unanswered_ping {
                        if since.elapsed() >= config.pong_timeout {
                            return Ending::PongTimeout;
                        }
                    } else {
                        unanswered_ping = Some(Instant::now());
                        if self.socket.send(Message::Ping(Default::default())).await.is_err() {
                            return Ending::SocketError;
                        }
                    }
                }
            }
        }
    }

    /// Handles one text frame; an error means the socket is gone.
    async fn on_text(&mut self, text: &str) -> Result<(), axum::Error> {
        match Frame::parse(text) {
            Err(error) => {
                tracing::info!(error = %error.description, "malformed frame");
                match error.answer(self.version) {
                    Some(answer) => self.send_frame(&answer).await,
                    None => Ok(()),
                }
            }
            Ok(Frame::Call { id, action, payload }) => {
                let charger = self.charger_id.as_ref();
                let started = Instant::now();
                let answer = match self.version {
                    OcppVersion::V16 => {
                        v16::handle_call(&self.gateway, charger, &mut self.statuses, &id, &action, &payload).await
                    }
                    OcppVersion::V201 => {
                        v201::handle_call(&self.gateway, charger, &mut self.statuses, &id, &action, &payload).await
                    }
                };
                crate::common::observe_call(&action, &answer, started.elapsed());
                if action == "BootNotification" && matches!(answer, Frame::CallResult { .. }) {
                    if let Some(boot_seen) = self.boot_seen.take() {
                        let _ = boot_seen.send(());
                    }
                }
                self.send_frame(&answer).await
            }
            Ok(Frame::CallResult { id, payload }) => {
                match self.pending.take_if(|p| p.message_id == id) {
                    Some(pending) => {
                        let reply = match self.version {
                            OcppVersion::V16 => v16::decode_reply(pending.action, &payload),
                            OcppVersion::V201 => v201::decode_reply(pending.action, &payload),
                        };
                        metrics::counter!("coupler_ocpp_messages_total", "direction" => "outbound", "action" => pending.action, "outcome" => if reply.is_ok() { "accepted" } else { "error" }).increment(1);
                        let _ = pending.reply.send(reply);
                    }
                    None => tracing::info!(message_id = %id, "ignored a CALLRESULT that answers no call of ours"),
                }
                Ok(())
            }
            Ok(Frame::CallError {
                id, code, description, ..
            }) => {
                match self.pending.take_if(|p| p.message_id == id) {
                    Some(pending) => {
                        tracing::info!(action = pending.action, %code, %description, "the charger answered with an error");
                        metrics::counter!("coupler_ocpp_messages_total", "direction" => "outbound", "action" => pending.action, "outcome" => "call_error").increment(1);
                        let _ = pending.reply.send(Err(ControlError::CallError { code, description }));
                    }
                    None => tracing::info!(message_id = %id, "ignored a CALLERROR that answers no call of ours"),
                }
                Ok(())
            }
        }
    }

    async fn send_call(&mut self, command: Command, timeout: Duration) -> Result<(), axum::Error> {
        let message_id = self.next_message_id.to_string();
        let encoded = match self.version {
            OcppVersion::V16 => v16::encode_call(&command.command, &self.gateway.inner.config, &message_id),
            OcppVersion::V201 => {
                v201::encode_call(&self.gateway, self.charger_id.as_ref(), &command.command, &message_id).await
            }
        };
        let (action, frame) = match encoded {
            Ok(encoded) => encoded,
            Err(e) => {
                let _ = command.reply.send(Err(e));
                return Ok(());
            }
        };
        self.next_message_id += 1;
        tracing::debug!(action, %message_id, "sending a call");
        self.send_frame(&frame).await?;
        self.pending = Some(Pending {
            message_id,
            action,
            reply: command.reply,
            deadline: Instant::now() + timeout,
        });
        Ok(())
    }

    async fn send_frame(&mut self, frame: &Frame) -> Result<(), axum::Error> {
        self.socket.send(Message::Text(frame.to_text().into())).await
    }

    /// Answers whatever still waits, closes the socket, and records the disconnection unless a
    /// newer connection of the same charger already took over.
    async fn finish(mut self, ending: Ending, connection: u64) {
        let (code, reason) = match ending {
            Ending::ShuttingDown => (close_code::AWAY, "Coupler is shutting down"),
            Ending::Replaced => (close_code::NORMAL, "closed by Coupler (replaced or removed)"),
            Ending::PongTimeout => (close_code::AWAY, "no pong"),
            Ending::TooBig => (close_code::SIZE, "message over the size limit"),
            Ending::NotUtf8 => (close_code::INVALID, "a text frame that is not UTF-8"),
            Ending::ChargerClosed | Ending::SocketError => (close_code::NORMAL, ""),
        };
        if !matches!(ending, Ending::ChargerClosed | Ending::SocketError) {
            let _ = self
                .socket
                .send(Message::Close(Some(CloseFrame {
                    code,
                    reason: reason.into(),
                })))
                .await;
        }
        if let Some(pending) = self.pending.take() {
            let _ = pending.reply.send(Err(ControlError::Disconnected));
        }
        if let Some(id) = &self.charger_id {
            if self.gateway.deregister(id, connection) && release(&self.gateway, id, connection).await {
                if let Err(e) = self
                    .gateway
                    .inner
                    .store
                    .record_connection(id, None, false, self.gateway.inner.clock.now())
                    .await
                {
                    tracing::warn!(error = %e, "cannot record the disconnection");
                }
                self.gateway.notify_change(id);
            }
        }
        tracing::info!(reason = ending_name(&ending), "charger disconnected");
    }
}

fn ending_name(ending: &Ending) -> &'static str {
    match ending {
        Ending::ChargerClosed => "closed by the charger",
        Ending::SocketError => "connection error",
        Ending::Replaced => "replaced or removed",
        Ending::ShuttingDown => "shutdown",
        Ending::PongTimeout => "pong timeout",
        Ending::TooBig => "message over the size limit",
        Ending::NotUtf8 => "text frame not UTF-8",
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
