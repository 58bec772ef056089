//! Three `coupler serve` processes on one PostgreSQL database, as an operator runs them behind a
//! load balancer, and one of them killed (SIGKILL, no shutdown) while actions for its chargers are
//! pending and its chargers meter: the chargers come back on the other nodes, every action ends,
//! no acknowledged reading is lost, and the webhook gets every event once, in order.
//! Skipped, like every PostgreSQL test, when `COUPLER_TEST_POSTGRES_URL` is unset.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

mod common;

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use coupler_store::testing::TestDatabase;
use coupler_tests::receiver::{Mode, Receiver};
use coupler_tests::wait_for;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

/// Any 32 bytes, base64: the key every node shares (PostgreSQL needs one given).
const SECRET_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const WEBHOOK_SECRET: &str = "a-receiver-secret-of-at-least-32-chars";
/// A node's lease: short, so that a killed node is taken for dead within seconds.
const NODE_LEASE: &str = "3s";
/// How far apart a charger's readings are, in its own (simulated) time: one per 15-minute
/// interval, so each reading shows in the intervals as the energy of one interval.
const STEP_MINUTES: i64 = 15;

/// A fresh, empty working directory, removed afterwards.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!("coupler-nodes-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The nodes' logs are kept for whoever reads the failure.
            eprintln!("the nodes' logs are kept in {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// `coupler` run in `dir` on the database `url`, with a clean `COUPLER_*` environment.
fn coupler(dir: &Path, url: &str) -> Command {
    let mut command = common::coupler(dir);
    command
        .env("COUPLER_DATABASE_URL", url)
        .env("COUPLER_SECRET_KEY", SECRET_KEY);
    command
}

/// One `coupler serve` process.
struct Node {
    id: &'static str,
    addr: String,
    child: Child,
}

impl Node {
    /// Starts node `id` and returns once it serves.
    fn start(dir: &Path, url: &str, id: &'static str) -> Self {
        let addr = common::free_port();
        let mut child = coupler(dir, url)
            .arg("serve")
            .env("COUPLER_LISTEN", &addr)
            .env("COUPLER_LOG_FORMAT", "json")
            .env("COUPLER_NODE_ID", id)
            .env("COUPLER_NODE_LEASE", NODE_LEASE)
            // Long enough for a charger to come back after a kill on a busy machine; short
            // enough that an action whose command was lost fails within the test's patience.
            .env("COUPLER_ACTION_TIMEOUT", "40s")
            .env("COUPLER_WEBHOOK_ALLOW_PRIVATE", "true")
            .env("COUPLER_WEBHOOK_RETRY_FIRST_DELAY", "1")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let (_, lines) = common::until_serving(&mut child);
        // Keep draining the log, into a file, so the child never blocks on a full pipe.
        let mut log = std::fs::File::create(dir.join(format!("{id}.log"))).unwrap();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let _ = writeln!(log, "{line}");
            }
        });
        Self { id, addr, child }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// SIGKILL: no shutdown, no lease given up, sockets cut.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An API client of the cluster: its token, valid on every node.
#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    token: String,
}

impl Api {
    /// A GET, tried again (as a client should) while the node answers 503: on a busy machine its
    /// database connections may all be taken for a moment.
    async fn get(&self, node: &Node, path: &str) -> Value {
        wait_for(&format!("GET {path} on {} answered", node.id), || async {
            let response = self
                .http
                .get(node.url(path))
                .bearer_auth(&self.token)
                .send()
                .await
                .unwrap();
            if response.status() == 503 {
                return None;
            }
            assert_eq!(response.status(), 200, "GET {path} on {}", node.id);
            Some(response.json().await.unwrap())
        })
        .await
    }

    async fn post(&self, node: &Node, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(node.url(path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "POST {path} on {}: {}",
            node.id,
            response.status()
        );
        response.json().await.unwrap()
    }

    /// Sends `action` (START or STOP) for `charger` through `node`; the action's id.
    async fn command(&self, node: &Node, charger: &str, action: &str) -> String {
        let sent = self
            .post(
                node,
                &format!("/chargers/{charger}/charging"),
                json!({ "action": action }),
            )
            .await;
        assert_eq!(sent["state"], "PENDING", "{sent}");
        sent["id"].as_str().unwrap().to_owned()
    }

    /// Waits until the action is no longer pending, as `node` shows it.
    async fn settled(&self, node: &Node, id: &str) -> Value {
        wait_for(&format!("action {id} settled"), || async {
            let action = self.get(node, &format!("/actions/{id}")).await;
            (action["state"] != "PENDING").then_some(action)
        })
        .await
    }
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A message the charger sends, in order, each retried on the next connection until answered
/// (OCPP 1.6 has transaction-related messages delivered even across a lost connection).
#[derive(Debug, Clone)]
enum Outgoing {
    Boot,
    Status(&'static str),
    Start { id_tag: String, at: DateTime<Utc>, wh: f64 },
    Reading { at: DateTime<Utc>, wh: f64 },
    Stop { at: DateTime<Utc>, wh: f64 },
}

/// A session as the charger knows Coupler acknowledged it.
#[derive(Debug, Clone)]
struct SessionTruth {
    transaction_id: i64,
    started_at: DateTime<Utc>,
    meter_start: f64,
    /// The readings Coupler answered, in order.
    readings: Vec<(DateTime<Utc>, f64)>,
    /// The StopTransaction Coupler answered.
    stop: Option<(DateTime<Utc>, f64)>,
}

/// What the test and a charger share: how it behaves, and what it saw acknowledged.
#[derive(Debug, Default)]
struct Shared {
    /// Remote start and stop are held unanswered (until the connection is cut).
    hold: bool,
    /// The node (its index) the charger is connected and booted on now.
    node: Option<usize>,
    /// Remote commands held now.
    held: usize,
    sessions: Vec<SessionTruth>,
    /// Messages not yet answered.
    unanswered: usize,
    /// CALLERRORs Coupler answered the charger's messages with.
    errors: Vec<Value>,
    /// Whether a transaction runs (the charger's own view).
    charging: bool,
}

/// How many meter readings Coupler acknowledged to `chargers`, all sessions together.
fn readings_acknowledged(chargers: &[(String, Arc<Mutex<Shared>>)]) -> usize {
    chargers
        .iter()
        .map(|(_, shared)| {
            let shared = shared.lock().unwrap();
            shared.sessions.iter().map(|s| s.readings.len()).sum::<usize>()
        })
        .sum()
}

/// A 1.6 charge point on a real WebSocket: meters while a transaction runs, carries out remote
/// start and stop, and, when its connection drops, connects to a live node (as a load balancer
/// would send it) and delivers what was not answered.
struct ChargePoint {
    ocpp_id: String,
    password: String,
    /// Whether a remote command held when the connection is cut is still carried out (the charger
    /// had decided to) or forgotten (lost with the connection).
    carry_out_when_cut: bool,
    shared: Arc<Mutex<Shared>>,
    /// The live nodes' (index, address), which the test keeps current.
    nodes: Arc<Mutex<Vec<(usize, String)>>>,
}

/// A held remote command.
enum Held {
    Start(String),
    Stop,
}

/// The charger's side of things across its connections: its own clock (one step per timestamped
/// message), its energy register, what it has still to send, and its transaction.
struct Meter {
    clock: DateTime<Utc>,
    register: f64,
    step: u64,
    outbox: VecDeque<Outgoing>,
    transaction: Option<i64>,
    metering: bool,
}

impl Meter {
    fn tick(&mut self) -> DateTime<Utc> {
        let at = self.clock;
        self.clock += chrono::Duration::minutes(STEP_MINUTES);
        at
    }

    /// Energy grows by an uneven amount each step, so that a lost reading changes how the
    /// intervals split it.
    fn read(&mut self) -> Outgoing {
        self.step += 1;
        self.register += 400.0 + ((self.step * 137) % 900) as f64;
        Outgoing::Reading {
            at: self.tick(),
            wh: self.register,
        }
    }

    fn carry_out(&mut self, shared: &Mutex<Shared>, command: Held) {
        let mut shared = shared.lock().unwrap();
        match command {
            Held::Start(id_tag) if !shared.charging => {
                shared.charging = true;
                let at = self.tick();
                self.outbox.push_back(Outgoing::Start {
                    id_tag,
                    at,
                    wh: self.register,
                });
                self.outbox.push_back(Outgoing::Status("Charging"));
            }
            Held::Stop if shared.charging => {
                shared.charging = false;
                self.metering = false;
                let at = self.tick();
                self.outbox.push_back(Outgoing::Stop { at, wh: self.register });
                self.outbox.push_back(Outgoing::Status("Finishing"));
            }
            _ => {}
        }
    }
}

impl ChargePoint {
    /// Connects to a live node that `pick` allows (taking them in turn, from `turn`).
    async fn connect(&self, pick: impl Fn(usize) -> bool, mut turn: usize) -> (usize, coupler_tests::raw::RawSocket) {
        loop {
            let live = self.nodes.lock().unwrap().clone();
            let candidates: Vec<_> = live.into_iter().filter(|(i, _)| pick(*i)).collect();
            let (index, addr) = candidates[turn % candidates.len()].clone();
            turn += 1;
            let url = format!("ws://{addr}/ocpp/{}", self.ocpp_id);
            let mut request = url.into_client_request().unwrap();
            let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", self.ocpp_id, self.password));
            request
                .headers_mut()
                .insert("sec-websocket-protocol", HeaderValue::from_static("ocpp1.6"));
            request.headers_mut().insert(
                "authorization",
                HeaderValue::from_str(&format!("Basic {basic}")).unwrap(),
            );
            match tokio_tungstenite::connect_async(request).await {
                Ok((socket, _)) => return (index, socket),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Runs until the test ends (the task is dropped with the runtime).
    async fn run(self, first: usize, serial: usize, base: DateTime<Utc>) {
        let mut meter = Meter {
            clock: base,
            register: 10_000.0,
            step: 0,
            outbox: VecDeque::new(),
            transaction: None,
            metering: false,
        };
        let mut last: Option<usize> = None;
        let mut calls = 0_u64;
        loop {
            let (index, mut socket) = match last {
                None => self.connect(|i| i == first, 0).await,
                Some(previous) => self.connect(|i| i != previous, serial).await,
            };
            last = Some(index);
            // Boot and say what the connector does, before what was left unanswered.
            let status = if self.shared.lock().unwrap().charging {
                "Charging"
            } else {
                "Preparing"
            };
            meter.outbox.push_front(Outgoing::Status(status));
            meter.outbox.push_front(Outgoing::Boot);
            let mut in_flight: Option<String> = None;
            let mut held: Vec<(String, Held)> = Vec::new();
            let mut ticker = tokio::time::interval(Duration::from_millis(200));
            loop {
                if in_flight.is_none() {
                    if let Some(message) = meter.outbox.front() {
                        calls += 1;
                        let id = format!("{serial}-{calls}");
                        let text = render(&id, message, meter.transaction);
                        if socket.send(Message::Text(text.into())).await.is_err() {
                            break;
                        }
                        in_flight = Some(id);
                    }
                }
                {
                    let mut shared = self.shared.lock().unwrap();
                    shared.unanswered = meter.outbox.len();
                    shared.held = held.len();
                }
                tokio::select! {
                    frame = socket.next() => {
                        let text = match frame {
                            Some(Ok(Message::Text(text))) => text,
                            Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                            Some(Ok(_)) => continue,
                        };
                        let frame: Value = serde_json::from_str(text.as_str()).unwrap();
                        if frame[0] == 2 {
                            let id = frame[1].as_str().unwrap().to_owned();
                            let hold = self.shared.lock().unwrap().hold;
                            let command = match frame[2].as_str().unwrap() {
                                "RemoteStartTransaction" => Some(Held::Start(frame[3]["idTag"].as_str().unwrap_or("COUPLER").to_owned())),
                                "RemoteStopTransaction" => Some(Held::Stop),
                                _ => None,
                            };
                            let answer = match command {
                                Some(command) if hold => {
                                    held.push((id, command));
                                    continue;
                                }
                                Some(command) => {
                                    meter.carry_out(&self.shared, command);
                                    json!([3, id, {"status": "Accepted"}])
                                }
                                None => answer_other(&id, frame[2].as_str().unwrap()),
                            };
                            if socket.send(Message::Text(answer.to_string().into())).await.is_err() {
                                break;
                            }
                            continue;
                        }
                        if frame[1].as_str() != in_flight.as_deref() {
                            continue;
                        }
                        in_flight = None;
                        let sent = meter.outbox.pop_front().unwrap();
                        if frame[0] == 4 {
                            self.shared.lock().unwrap().errors.push(frame.clone());
                            continue;
                        }
                        if matches!(sent, Outgoing::Boot) {
                            self.shared.lock().unwrap().node = Some(index);
                        }
                        acknowledged(&mut meter, &self.shared, sent, &frame[2]);
                    }
                    _ = ticker.tick() => {
                        if meter.metering {
                            let reading = meter.read();
                            meter.outbox.push_back(reading);
                        }
                    }
                }
            }
            // The connection is cut: what was held is carried out, or lost with it.
            {
                let mut shared = self.shared.lock().unwrap();
                shared.node = None;
                shared.held = 0;
            }
            for (_, command) in held {
                if self.carry_out_when_cut {
                    meter.carry_out(&self.shared, command);
                }
            }
        }
    }
}

/// Notes what Coupler's answer to `sent` acknowledged.
fn acknowledged(meter: &mut Meter, shared: &Mutex<Shared>, sent: Outgoing, payload: &Value) {
    let mut shared = shared.lock().unwrap();
    match sent {
        Outgoing::Start { at, wh, .. } => {
            let transaction_id = payload["transactionId"].as_i64().unwrap();
            meter.transaction = Some(transaction_id);
            meter.metering = shared.charging;
            shared.sessions.push(SessionTruth {
                transaction_id,
                started_at: at,
                meter_start: wh,
                readings: Vec::new(),
                stop: None,
            });
        }
        Outgoing::Reading { at, wh } => shared.sessions.last_mut().unwrap().readings.push((at, wh)),
        Outgoing::Stop { at, wh } => {
            meter.transaction = None;
            shared.sessions.last_mut().unwrap().stop = Some((at, wh));
        }
        Outgoing::Boot | Outgoing::Status(_) => {}
    }
}

fn render(id: &str, message: &Outgoing, transaction: Option<i64>) -> String {
    let (action, payload) = match message {
        Outgoing::Boot => (
            "BootNotification",
            json!({"chargePointVendor": "Crash", "chargePointModel": "Test"}),
        ),
        Outgoing::Status(status) => (
            "StatusNotification",
            json!({"connectorId": 1, "errorCode": "NoError", "status": status}),
        ),
        Outgoing::Start { id_tag, at, wh } => (
            "StartTransaction",
            json!({"connectorId": 1, "idTag": id_tag, "meterStart": *wh as i64, "timestamp": time(*at)}),
        ),
        Outgoing::Reading { at, wh } => (
            "MeterValues",
            json!({"connectorId": 1, "transactionId": transaction, "meterValue": [{"timestamp": time(*at), "sampledValue": [
                {"value": format!("{wh}"), "context": "Sample.Periodic", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
            ]}]}),
        ),
        Outgoing::Stop { at, wh } => (
            "StopTransaction",
            json!({"transactionId": transaction, "meterStop": *wh as i64, "timestamp": time(*at), "reason": "Remote"}),
        ),
    };
    json!([2, id, action, payload]).to_string()
}

/// Answers Coupler's other calls (configuration at boot, triggers) as a plain charger would.
fn answer_other(id: &str, action: &str) -> Value {
    match action {
        "ChangeConfiguration" => json!([3, id, {"status": "Accepted"}]),
        "GetConfiguration" => json!([3, id, {"configurationKey": []}]),
        "TriggerMessage" => json!([3, id, {"status": "Rejected"}]),
        _ => json!([4, id, "NotImplemented", "", {}]),
    }
}

/// The intervals' energies (kWh) the acknowledged sessions give, from the first session's start:
/// each step between two acknowledged points is one interval.
fn expected_intervals(sessions: &[SessionTruth]) -> Vec<(DateTime<Utc>, f64)> {
    let mut expected = Vec::new();
    for session in sessions {
        let mut points = vec![(session.started_at, session.meter_start)];
        points.extend(session.readings.iter().copied());
        points.extend(session.stop);
        for pair in points.windows(2) {
            expected.push((pair[0].0, (pair[1].1 - pair[0].1) / 1000.0));
        }
    }
    expected
}

/// How many events wait to be published, and the last sequence number handed out.
async fn events_backlog(db: &sqlx::PgPool) -> (i64, i64) {
    sqlx::query_as("SELECT COUNT(*) FILTER (WHERE seq IS NULL), COALESCE(MAX(seq), 0) FROM events")
        .fetch_one(db)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_while_its_chargers_meter_and_actions_are_pending_loses_nothing_acknowledged() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let pool = sqlx::PgPool::connect(db.url()).await.unwrap();
    let dir = WorkDir::new();
    let migrated = coupler(&dir.0, db.url()).arg("migrate").output().unwrap();
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    let created = coupler(&dir.0, db.url())
        .args(["clients", "create", "--name", "app", "--json"])
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let created: Value = serde_json::from_slice(&created.stdout).unwrap();

    let mut nodes: Vec<Node> = ["node-a", "node-b", "node-c"]
        .into_iter()
        .map(|id| Node::start(&dir.0, db.url(), id))
        .collect();
    // No pooled connection may outlive the killed process.
    let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let token: Value = http
        .post(nodes[1].url("/oauth/token"))
        .basic_auth(
            created["clientId"].as_str().unwrap(),
            Some(created["clientSecret"].as_str().unwrap()),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let api = Api {
        http,
        token: token["access_token"].as_str().unwrap().to_owned(),
    };
    let receiver = Receiver::start(WEBHOOK_SECRET, Mode::Accept).await;
    api.post(
        &nodes[1],
        "/webhooks",
        json!({"url": receiver.url, "secret": WEBHOOK_SECRET, "events": ["*"]}),
    )
    .await;

    // Five chargers, all on node A. CP-1, CP-2 and CP-5 carry out a command they were given when
    // their connection is cut; CP-3 and CP-4 lose it.
    let live = Arc::new(Mutex::new(
        nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (i, n.addr.clone()))
            .collect::<Vec<_>>(),
    ));
    let base = Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap();
    let mut chargers = Vec::new();
    for n in 1..=5 {
        let ocpp_id = format!("CP-KILL-{n}");
        let registered = api
            .post(&nodes[2], "/users/alice/chargers", json!({ "ocppId": ocpp_id }))
            .await;
        let shared = Arc::new(Mutex::new(Shared::default()));
        let cp = ChargePoint {
            ocpp_id,
            password: registered["password"].as_str().unwrap().to_owned(),
            carry_out_when_cut: n != 3 && n != 4,
            shared: shared.clone(),
            nodes: live.clone(),
        };
        tokio::spawn(cp.run(0, n, base));
        chargers.push((registered["id"].as_str().unwrap().to_owned(), shared));
    }
    let owner = |charger: String| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT node_id FROM charger_owners WHERE charger_id = $1")
                .bind(charger)
                .fetch_optional(&pool)
                .await
                .unwrap()
        }
    };
    for (id, shared) in &chargers {
        wait_for("the charger booted on node A", || async {
            (shared.lock().unwrap().node == Some(0)).then_some(())
        })
        .await;
        wait_for("node A holds the charger", || async {
            (owner(id.clone()).await.as_deref() == Some("node-a")).then_some(())
        })
        .await;
    }

    // The first four start charging on a command entering at B or C, and meter.
    for (n, (id, _)) in chargers.iter().enumerate().take(4) {
        let start = api.command(&nodes[1 + n % 2], id, "START").await;
        let settled = api.settled(&nodes[2 - n % 2], &start).await;
        assert_eq!(settled["state"], "CONFIRMED", "{settled}");
    }
    for (_, shared) in &chargers[..4] {
        wait_for("readings acknowledged", || async {
            let shared = shared.lock().unwrap();
            shared
                .sessions
                .last()
                .is_some_and(|s| s.readings.len() >= 3)
                .then_some(())
        })
        .await;
    }

    // A STOP for each of those and a START for the fifth, entering at every node, reach node A,
    // which sends them; the chargers hold their answer, so the actions are pending on A, leased to
    // it, when it is killed.
    let mut actions = Vec::new();
    for (n, (id, shared)) in chargers.iter().enumerate() {
        shared.lock().unwrap().hold = true;
        let command = if n < 4 { "STOP" } else { "START" };
        actions.push(api.command(&nodes[(n + 1) % 3], id, command).await);
    }
    for ((_, shared), action) in chargers.iter().zip(&actions) {
        wait_for("the charger holds its remote command", || async {
            (shared.lock().unwrap().held == 1).then_some(())
        })
        .await;
        wait_for("the action leased to node A", || async {
            let holder: Option<String> =
                sqlx::query_scalar("SELECT lease_holder FROM actions WHERE id = $1 AND state = 'PENDING'")
                    .bind(action)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            (holder.as_deref() == Some("node-a")).then_some(())
        })
        .await;
    }
    let readings_before = readings_acknowledged(&chargers);
    // The load balancer sends reconnecting chargers to B and C only.
    live.lock().unwrap().retain(|(i, _)| *i != 0);
    for (_, shared) in &chargers {
        shared.lock().unwrap().hold = false;
    }
    nodes[0].kill();
    let killed = std::time::Instant::now();

    // The chargers come back on B and C, which hold them.
    for (id, shared) in &chargers {
        wait_for("the charger booted on B or C", || async {
            matches!(shared.lock().unwrap().node, Some(1 | 2)).then_some(())
        })
        .await;
        wait_for("B or C holds the charger", || async {
            matches!(owner(id.clone()).await.as_deref(), Some("node-b" | "node-c")).then_some(())
        })
        .await;
    }

    let back = killed.elapsed();
    // Every action ends: confirmed where the charger carried it out, failed where it was lost.
    let settled = futures::future::join_all(actions.iter().enumerate().map(|(n, action)| {
        let (api, node) = (&api, &nodes[1 + n % 2]);
        async move {
            let settled = api.settled(node, action).await;
            (settled, killed.elapsed())
        }
    }))
    .await;
    let mut ended = Vec::new();
    for (n, (settled, after)) in settled.into_iter().enumerate() {
        let expected = if n == 2 || n == 3 { "FAILED" } else { "CONFIRMED" };
        assert_eq!(settled["state"], expected, "action for CP-KILL-{}: {settled}", n + 1);
        ended.push(after);
    }
    // The chargers that lost their STOP still charge, and the fifth now does: a STOP stops them.
    for (id, _) in &chargers[2..] {
        let stop = api.command(&nodes[2], id, "STOP").await;
        let settled = api.settled(&nodes[1], &stop).await;
        assert_eq!(settled["state"], "CONFIRMED", "{settled}");
        actions.push(stop);
    }

    // Every reading the chargers had answered is in the store: each is an interval of its own,
    // whose energy is the rise since the one before.
    for (id, shared) in &chargers {
        wait_for("the charger delivered everything", || async {
            let shared = shared.lock().unwrap();
            (shared.unanswered == 0 && !shared.charging).then_some(())
        })
        .await;
        let sessions = {
            let shared = shared.lock().unwrap();
            assert!(shared.errors.is_empty(), "{:?}", shared.errors);
            shared.sessions.clone()
        };
        let expected = expected_intervals(&sessions);
        let (from, to) = (
            expected[0].0,
            sessions.last().unwrap().stop.unwrap().0 + chrono::Duration::minutes(STEP_MINUTES),
        );
        let intervals = api
            .get(
                &nodes[1],
                &format!("/chargers/{id}/intervals?from={}&to={}", time(from), time(to)),
            )
            .await;
        let shown: Vec<(DateTime<Utc>, f64, bool)> = intervals["intervals"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["coverage"].as_f64().unwrap() > 0.0)
            .map(|i| {
                (
                    i["start"].as_str().unwrap().parse().unwrap(),
                    i["energyKwh"].as_f64().unwrap(),
                    i["estimated"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(shown.len(), expected.len(), "{id}: {shown:?} against {expected:?}");
        for ((at, energy, estimated), (want_at, want)) in shown.iter().zip(&expected) {
            assert_eq!(at, want_at);
            assert!(
                (energy - want).abs() < 1e-6,
                "{id} at {at}: {energy} kWh, acknowledged {want}"
            );
            assert!(!estimated, "{id} at {at}: a reading is missing");
        }
        // And every acknowledged session, with its energy.
        let listed = api.get(&nodes[2], &format!("/chargers/{id}/sessions")).await;
        let listed = listed["data"].as_array().unwrap();
        assert_eq!(listed.len(), sessions.len(), "{listed:?}");
        for session in &sessions {
            let shown = listed
                .iter()
                .find(|s| s["id"] == session.transaction_id)
                .unwrap_or_else(|| panic!("session {} lost", session.transaction_id));
            let (stopped_at, meter_stop) = session.stop.unwrap();
            assert_eq!(shown["stoppedAt"], time(stopped_at));
            assert_eq!(shown["startedAt"], time(session.started_at));
            assert!((shown["energy"].as_f64().unwrap() - (meter_stop - session.meter_start) / 1000.0).abs() < 1e-6);
        }
    }

    // The webhook got every event once, in order: the sequence numbers follow each other with no
    // gap up to the last one handed out, and each action's last event shows how it ended.
    let last = wait_for("every event published and delivered", || async {
        let (backlog, last) = events_backlog(&pool).await;
        let delivered = receiver.accepted();
        let top = delivered
            .last()
            .map(|e| e["id"].as_str().unwrap().parse::<i64>().unwrap());
        (backlog == 0 && top == Some(last)).then_some(last)
    })
    .await;
    let delivered = receiver.accepted();
    let seqs: Vec<i64> = delivered
        .iter()
        .map(|e| e["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "a gap or a repeat: {seqs:?}");
    assert_eq!(*seqs.last().unwrap(), last);
    for action in &actions {
        let states: Vec<&str> = delivered
            .iter()
            .filter(|e| e["vendorAction"]["id"] == action.as_str())
            .map(|e| e["vendorAction"]["state"].as_str().unwrap())
            .collect();
        let settled = api.get(&nodes[1], &format!("/actions/{action}")).await;
        assert_eq!(
            states.last().copied(),
            settled["state"].as_str(),
            "{action}: {states:?}"
        );
        let first_final = states.iter().position(|s| *s != "PENDING").unwrap();
        assert!(
            states[first_final..].iter().all(|s| *s != "PENDING"),
            "{action} went back to pending: {states:?}"
        );
    }
    assert_eq!(receiver.bad_signatures(), 0);
    let readings_after = readings_acknowledged(&chargers);
    assert!(readings_after > readings_before);
    report(&format!(
        "readings acknowledged: {readings_before} before the kill, {readings_after} in all; webhook events: {}; \
         after the kill: chargers back in {back:?}, actions settled in {ended:?}",
        seqs.len()
    ));
    pool.close().await;
    drop(nodes);
}

/// Says on stderr (shown with `--nocapture`) what the test covered and how long recovery took;
/// figures for the reader, not conditions.
fn report(figures: &str) {
    eprintln!("{figures}");
}
