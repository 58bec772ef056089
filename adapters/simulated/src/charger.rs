//! Simulated OCPP chargers: real OCPP-J WebSocket clients (1.6J or 2.0.1, HTTP Basic auth with the
//! password Coupler issued) whose electrical side is the cloud's physical model.
//!
//! The charge point itself is `coupler-chargepoint`'s sans-io [`ChargePoint`]; this module is its
//! I/O shell. Each [`SimCharger`] runs one task: connect (with back-off when that fails or the
//! connection drops), then loop over the server's frames, a one-second tick and pokes. At each
//! step the shell brings the charge point and the physical model into step: the current the charge
//! point offers (from its transaction and charging profiles) is written to the model's socket, so
//! the car draws it, and the socket's reading — a car plugged in or out, the meter — goes back to
//! the charge point, which decides the status and the calls to send. Between connections it goes
//! on following the model, as a real charger goes on charging offline.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use coupler_chargepoint::{ChargePoint, Config, Event, Failure, Moment, Reading, Sample, Vehicle};
use coupler_ocpp::OcppVersion;
use coupler_tasks::Tasks;
use futures::{SinkExt, StreamExt};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::cloud::SimCloud;
pub use coupler_chargepoint::Status;

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
    /// How long it waits before it first connects (a street of chargers started together connects
    /// over a while, as real ones powered up at different times do, not all in one instant).
    pub first_connect_after: Duration,
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
            first_connect_after: Duration::ZERO,
        }
    }

    /// The charge point's own configuration: a home charger of a brand per version.
    fn charge_point(&self) -> Config {
        let (vendor, model) = match self.version {
            OcppVersion::V16 => ("Simwatt", "Home 22 (OCPP 1.6)"),
            OcppVersion::V201 => ("Voltsim", "Wallbox Pro 2"),
        };
        Config {
            vendor: vendor.to_owned(),
            model: model.to_owned(),
            max_current: self.max_current,
            free_vend: self.auto_start,
            free_vend_id_tag: FREE_VEND_ID_TAG.to_owned(),
            sends_vehicle_identity: self.sends_vehicle_identity,
            ..Config::home(&self.ocpp_id, self.version)
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
    station: Mutex<Station>,
    wake: Notify,
    stop: CancellationToken,
}

/// The charge point and what the shell last wrote to the physical model.
#[derive(Debug)]
struct Station {
    charge_point: ChargePoint,
    /// The current last written to the model's socket.
    applied: f64,
}

impl SimCharger {
    /// Adds the charger to the physical model and starts its task on `tasks`: it connects, and
    /// reconnects until [`SimCharger::stop`] or until `tasks` stop.
    pub fn start(cloud: SimCloud, config: SimChargerConfig, tasks: &Tasks) -> Self {
        cloud.add_socket(&config.ocpp_id);
        let shared = Arc::new(Shared {
            station: Mutex::new(Station {
                charge_point: ChargePoint::new(config.charge_point()),
                applied: 0.0,
            }),
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
        let station = self.shared.lock();
        let cp = &station.charge_point;
        ChargerView {
            connected: cp.is_online(),
            status: cp.status().unwrap_or(Status::Available),
            offered_current: cp.offered_current(),
            transaction_id: cp.transaction_id().map(str::to_owned),
            profiles: cp.profiles().len(),
        }
    }

    /// The current its charging profiles allow at `at`, amperes per phase, as it works it out by
    /// itself (validity windows included), whether or not it is connected: what it would offer a
    /// car then.
    pub fn limit_at(&self, at: DateTime<Utc>) -> f64 {
        self.shared.lock().charge_point.limit_at(at)
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
    fn lock(&self) -> MutexGuard<'_, Station> {
        // The station is plain data; a panic elsewhere cannot leave it unusable.
        self.station.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Now, on the monotonic clock and on the model's (injectable) wall clock.
    fn now(&self) -> Moment {
        Moment::new(std::time::Instant::now(), self.cloud.now())
    }

    /// Lets time pass and brings the charge point and the physical model into step.
    fn tick(&self) {
        let at = self.now();
        let mut station = self.lock();
        station.charge_point.tick(at);
        self.follow_physical(&mut station, at);
    }

    /// Writes the offered current to the model's socket and reads the socket back, until the
    /// charge point's offer no longer changes (a plug-in can start a transaction that raises it).
    fn follow_physical(&self, station: &mut Station, at: Moment) {
        let ocpp_id = &self.config.ocpp_id;
        for _ in 0..3 {
            let offered = station.charge_point.offered_current();
            if (offered - station.applied).abs() > f64::EPSILON {
                self.cloud.set_offered_current(ocpp_id, offered);
                station.applied = offered;
            }
            let Some(socket) = self.cloud.socket_reading(ocpp_id) else {
                return;
            };
            let reading = Reading {
                vehicle: socket.vehicle.map(|car| Vehicle {
                    id: car.id,
                    mac_address: car.mac_address,
                }),
                sample: Sample {
                    energy_wh: socket.energy_wh,
                    power_w: socket.power_w,
                    current_a: socket.current_a,
                },
            };
            station.charge_point.observe(at, reading);
            if (station.charge_point.offered_current() - offered).abs() <= f64::EPSILON {
                break;
            }
        }
        self.log_events(&mut station.charge_point);
    }

    fn log_events(&self, cp: &mut ChargePoint) {
        let ocpp_id = &self.config.ocpp_id;
        while let Some(event) = cp.poll_event() {
            match event {
                Event::CallFailed {
                    action,
                    failure: Failure::CallError { code, description },
                } => {
                    tracing::debug!(%ocpp_id, action, %code, %description, "simulated charger: CALLERROR");
                }
                Event::CallFailed { action, failure } => {
                    tracing::debug!(%ocpp_id, action, ?failure, "simulated charger: call failed");
                }
                Event::BuildFailed { action, error } => {
                    tracing::warn!(%ocpp_id, action, %error, "simulated charger could not build a call");
                }
                Event::ProtocolError { description } => {
                    tracing::warn!(%ocpp_id, %description, "simulated charger: broken frame from the server");
                }
                _ => {}
            }
        }
    }
}

async fn run(shared: Arc<Shared>) {
    let mut backoff = BACKOFF_FIRST;
    let first = shared.config.first_connect_after;
    if !first.is_zero() {
        // Until then it follows the physical model, as it does between connections.
        let wait = tokio::time::sleep(first);
        tokio::pin!(wait);
        let mut tick = tokio::time::interval(TICK);
        loop {
            tokio::select! {
                () = shared.stop.cancelled() => return,
                () = &mut wait => break,
                _ = tick.tick() => shared.tick(),
            }
        }
    }
    loop {
        if shared.stop.is_cancelled() {
            return;
        }
        match connect(&shared.config).await {
            Ok(socket) => {
                backoff = BACKOFF_FIRST;
                tracing::debug!(ocpp_id = %shared.config.ocpp_id, "simulated charger connected");
                session(&shared, socket).await;
                let at = shared.now();
                shared.lock().charge_point.disconnected(at);
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
                _ = tick.tick() => shared.tick(),
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
        HeaderValue::from_static(config.version.subprotocol()),
    );
    let (socket, _) = tokio_tungstenite::connect_async(request).await?;
    Ok(socket)
}

async fn session(shared: &Shared, socket: Socket) {
    let (mut sink, mut stream) = socket.split();
    {
        let at = shared.now();
        shared.lock().charge_point.connected(at);
    }
    let mut tick = tokio::time::interval(TICK);
    loop {
        // Whatever the charge point wants to send (one call of its own at a time), and whether it
        // reset.
        let (frame, reset) = {
            let at = shared.now();
            let mut station = shared.lock();
            station.charge_point.tick(at);
            shared.follow_physical(&mut station, at);
            let frame = station.charge_point.poll_frame(at);
            (frame, station.charge_point.take_reset())
        };
        if let Some(frame) = frame {
            if sink.send(Message::text(frame.to_text())).await.is_err() {
                return;
            }
        }
        if reset {
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
                    let reply = {
                        let at = shared.now();
                        let mut station = shared.lock();
                        let reply = station.charge_point.handle_text(at, text.as_str());
                        shared.follow_physical(&mut station, at);
                        reply
                    };
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use coupler_core::clock::ManualClock;
    use coupler_ocpp::rpc::Frame;
    use serde_json::json;

    use super::*;
    use crate::cloud::SimConfig;

    #[test]
    fn an_unreachable_charger_keeps_its_car_to_an_absolute_multi_period_profile() {
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
        let shared = Shared {
            station: Mutex::new(Station {
                charge_point: ChargePoint::new(config.charge_point()),
                applied: 0.0,
            }),
            config,
            cloud: cloud.clone(),
            wake: Notify::new(),
            stop: CancellationToken::new(),
        };
        // Connected and booted once, it plugs the car in and starts its transaction (id 42) ...
        let at = shared.now();
        {
            let mut station = shared.lock();
            let cp = &mut station.charge_point;
            cp.connected(at);
            let boot = cp.poll_frame(at).unwrap();
            let answer = Frame::call_result(
                boot.id(),
                json!({"status": "Accepted", "currentTime": start, "interval": 300}),
            );
            cp.handle_text(at, &answer.to_text());
        }
        cloud.plug(&car[0], "CP1").unwrap();
        shared.tick();
        loop {
            let mut station = shared.lock();
            let cp = &mut station.charge_point;
            let Some(frame) = cp.poll_frame(at) else { break };
            let Frame::Call { action, .. } = &frame else { panic!() };
            let payload = match action.as_str() {
                "Authorize" => json!({"idTagInfo": {"status": "Accepted"}}),
                "StartTransaction" => json!({"transactionId": 42, "idTagInfo": {"status": "Accepted"}}),
                _ => json!({}),
            };
            cp.handle_text(at, &Frame::call_result(frame.id(), payload).to_text());
        }
        // ... and is told to keep off for half an hour, then 16 A for half an hour, then off, until
        // the deadline; then it loses its connection.
        let profile = json!({"connectorId": 1, "csChargingProfiles": {
            "chargingProfileId": 1100, "stackLevel": 2, "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Absolute", "validTo": "2026-01-16T01:30:00Z",
            "chargingSchedule": {"chargingRateUnit": "A", "startSchedule": "2026-01-16T00:00:00Z",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 0.0}, {"startPeriod": 1800, "limit": 16.0}, {"startPeriod": 3600, "limit": 0.0}
                ]}
        }});
        {
            let mut station = shared.lock();
            let cp = &mut station.charge_point;
            let reply = cp
                .handle_text(at, &Frame::call("s1", "SetChargingProfile", profile).to_text())
                .unwrap();
            assert!(reply.to_text().contains("Accepted"), "{}", reply.to_text());
            cp.disconnected(at);
        }
        let level = || cloud.vehicle(&car[0]).unwrap().battery_level;
        let offered = || shared.lock().charge_point.offered_current();

        shared.tick();
        assert_eq!(offered(), 0.0);
        clock.advance(chrono::Duration::minutes(30));
        shared.tick();
        assert_eq!(
            (offered(), level()),
            (16.0, 50.0),
            "nothing charged while the plan was off"
        );
        clock.advance(chrono::Duration::minutes(30));
        shared.tick();
        assert_eq!(offered(), 0.0);
        let charged = level();
        assert!(
            (charged - (50.0 + 5.52 / 75.0 * 100.0)).abs() < 0.5,
            "half an hour at 11 kW: {charged}"
        );
        clock.advance(chrono::Duration::minutes(30));
        shared.tick();
        assert_eq!(level(), charged, "off again until the profile ends");
    }
}
