//! An independent OCPP charge point for conformance tests: `tests/ocpp/charge_point_16.py` (1.6J) or
//! `tests/ocpp/charge_point_201.py` (2.0.1), on the Python `ocpp` package, which validates every
//! message against the official JSON schemas.
//!
//! The package lives in a virtual environment. `COUPLER_TEST_PYTHON` may name its interpreter;
//! otherwise `.venv/bin/python` in the workspace is used, and created (from PyPI, pinned in
//! `tests/ocpp/requirements.txt`) the first time a test needs it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// How long a test waits for the charge point to report something: the tests' one patience, a
/// bound for a condition that never comes, not a timing expectation.
pub const EVENT_TIMEOUT: Duration = crate::PATIENCE;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Python interpreter that has the `ocpp` package, set up once per test process.
pub fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        if let Ok(python) = std::env::var("COUPLER_TEST_PYTHON") {
            return PathBuf::from(python);
        }
        let venv = workspace().join(".venv");
        let python = venv.join("bin/python");
        let ready = std::process::Command::new(&python)
            .args(["-c", "import ocpp, websockets"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !ready {
            let made = std::process::Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status();
            assert!(
                made.is_ok_and(|s| s.success()),
                "cannot create {}: is python3 (with venv) installed?",
                venv.display()
            );
            let installed = std::process::Command::new(&python)
                .args(["-m", "pip", "install", "--quiet", "-r"])
                .arg(workspace().join("tests/ocpp/requirements.txt"))
                .status();
            assert!(
                installed.is_ok_and(|s| s.success()),
                "cannot install the Python ocpp package into {}",
                venv.display()
            );
        }
        python
    })
}

/// The OCPP version a Python charge point speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OcppVersion {
    /// OCPP 1.6J (`charge_point_16.py`).
    V16,
    /// OCPP 2.0.1 (`charge_point_201.py`).
    V201,
}

impl OcppVersion {
    fn script(self) -> &'static str {
        match self {
            Self::V16 => "tests/ocpp/charge_point_16.py",
            Self::V201 => "tests/ocpp/charge_point_201.py",
        }
    }

    /// The WebSocket subprotocol it asks for.
    pub fn subprotocol(self) -> &'static str {
        match self {
            Self::V16 => "ocpp1.6",
            Self::V201 => "ocpp2.0.1",
        }
    }
}

/// How a Python charge point connects over TLS (`wss://`).
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// The CA certificate (PEM) it trusts Coupler's certificate by.
    pub ca_file: Option<PathBuf>,
    /// Its own certificate chain (PEM), presented for security profile 3.
    pub certificate_file: Option<PathBuf>,
    /// The private key (PEM) of that certificate.
    pub key_file: Option<PathBuf>,
}

/// A running Python charge point.
#[derive(Debug)]
pub struct PythonChargePoint {
    child: Child,
    stdin: ChildStdin,
    events: mpsc::UnboundedReceiver<Value>,
    /// Events read while waiting for another one, kept for later expectations.
    backlog: Vec<Value>,
}

impl PythonChargePoint {
    /// Starts the charge point; it connects to `url` with Basic credentials `id:password`. Returns
    /// once it reports `connected`, `refused` or `closed` (see [`PythonChargePoint::connected`]).
    pub async fn start(url: &str, id: &str, password: &str) -> (Self, Value) {
        Self::start_as(OcppVersion::V16, url, id, password).await
    }

    /// Like [`PythonChargePoint::start`], speaking `version`.
    pub async fn start_as(version: OcppVersion, url: &str, id: &str, password: &str) -> (Self, Value) {
        Self::start_with(version, url, id, password, &TlsOptions::default()).await
    }

    /// Like [`PythonChargePoint::start_as`], with TLS options for a `wss://` URL.
    pub async fn start_with(
        version: OcppVersion,
        url: &str,
        id: &str,
        password: &str,
        tls: &TlsOptions,
    ) -> (Self, Value) {
        let script = workspace().join(version.script());
        let mut command = Command::new(python());
        command
            .arg(script)
            .args(["--url", url, "--id", id, "--password", password]);
        for (flag, file) in [
            ("--cafile", &tls.ca_file),
            ("--certfile", &tls.certificate_file),
            ("--keyfile", &tls.key_file),
        ] {
            if let Some(file) = file {
                command.arg(flag).arg(file);
            }
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start the Python charge point");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, events) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(event) = serde_json::from_str::<Value>(&line) {
                    if tx.send(event).is_err() {
                        return;
                    }
                }
            }
        });
        let mut cp = Self {
            child,
            stdin,
            events,
            backlog: Vec::new(),
        };
        let first = cp
            .next_matching(|e| matches!(e["event"].as_str(), Some("connected" | "refused" | "closed")))
            .await;
        (cp, first)
    }

    /// Starts a 1.6 charge point that must be let in.
    pub async fn connected(url: &str, id: &str, password: &str) -> Self {
        Self::connected_as(OcppVersion::V16, url, id, password).await
    }

    /// Starts a charge point speaking `version` that must be let in with that version.
    pub async fn connected_as(version: OcppVersion, url: &str, id: &str, password: &str) -> Self {
        let (cp, first) = Self::start_as(version, url, id, password).await;
        assert_eq!(
            first["event"], "connected",
            "the charge point could not connect: {first}"
        );
        assert_eq!(first["subprotocol"], version.subprotocol());
        cp
    }

    /// Starts a charge point speaking `version` over TLS that must be let in with that version.
    pub async fn connected_with(version: OcppVersion, url: &str, id: &str, password: &str, tls: &TlsOptions) -> Self {
        let (cp, first) = Self::start_with(version, url, id, password, tls).await;
        assert_eq!(
            first["event"], "connected",
            "the charge point could not connect: {first}"
        );
        assert_eq!(first["subprotocol"], version.subprotocol());
        cp
    }

    async fn send(&mut self, command: Value) {
        let line = format!("{command}\n");
        self.stdin
            .write_all(line.as_bytes())
            .await
            .expect("write to the charge point");
        self.stdin.flush().await.expect("flush");
    }

    /// The next event that satisfies `pick` (earlier ones are kept for later), panicking after
    /// [`EVENT_TIMEOUT`].
    pub async fn next_matching(&mut self, pick: impl Fn(&Value) -> bool) -> Value {
        if let Some(index) = self.backlog.iter().position(&pick) {
            return self.backlog.remove(index);
        }
        let deadline = tokio::time::Instant::now() + EVENT_TIMEOUT;
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .unwrap_or_else(|_| panic!("timed out; events so far: {:?}", self.backlog))
                .unwrap_or_else(|| panic!("the charge point exited; events so far: {:?}", self.backlog));
            if pick(&event) {
                return event;
            }
            self.backlog.push(event);
        }
    }

    /// Sends a call (`args` in the package's snake_case) and returns Coupler's answer payload;
    /// panics if Coupler answered with an error.
    pub async fn call(&mut self, action: &str, args: Value) -> Value {
        let outcome = self.try_call(action, args).await;
        assert_eq!(outcome["event"], "result", "{action} failed: {outcome}");
        outcome["payload"].clone()
    }

    /// Sends a call and returns the `result` or `call_error` event.
    pub async fn try_call(&mut self, action: &str, args: Value) -> Value {
        self.send(json!({"cmd": "call", "action": action, "args": args})).await;
        self.next_matching(|e| e["action"] == action && matches!(e["event"].as_str(), Some("result" | "call_error")))
            .await
    }

    /// Waits until Coupler has sent `action` to the charge point, and returns its payload.
    pub async fn received(&mut self, action: &str) -> Value {
        let event = self
            .next_matching(|e| e["event"] == "received" && e["action"] == action)
            .await;
        event["payload"].clone()
    }

    /// Waits until Coupler has sent `action` with a payload `pick` accepts (earlier calls of the
    /// same action, such as the configuration Coupler sets after a boot, are passed over), and
    /// returns its payload.
    pub async fn received_matching(&mut self, action: &str, pick: impl Fn(&Value) -> bool) -> Value {
        let event = self
            .next_matching(|e| e["event"] == "received" && e["action"] == action && pick(&e["payload"]))
            .await;
        event["payload"].clone()
    }

    /// Changes how the charge point answers Coupler (see the script).
    pub async fn set(&mut self, key: &str, value: &str) {
        self.send(json!({"cmd": "set", "key": key, "value": value})).await;
        self.next_matching(|e| e["event"] == "set" && e["key"] == key).await;
    }

    /// Boots, and reports connector 1 with `status`.
    pub async fn boot(&mut self, status: &str) -> Value {
        let boot = self
            .call("BootNotification", json!({"charge_point_vendor": "PyCharge", "charge_point_model": "Conformance", "firmware_version": "1.2.3", "charge_point_serial_number": "SN-1"}))
            .await;
        self.call(
            "StatusNotification",
            json!({"connector_id": 1, "error_code": "NoError", "status": status}),
        )
        .await;
        boot
    }

    /// 2.0.1: boots, and reports EVSE 1 (connector 1) with `connector_status`.
    pub async fn boot_201(&mut self, connector_status: &str) -> Value {
        let boot = self
            .call("BootNotification", json!({"charging_station": {"vendor_name": "PyCharge", "model": "Conformance", "firmware_version": "2.0.1-a", "serial_number": "SN-2"}, "reason": "PowerUp"}))
            .await;
        self.status_201(connector_status).await;
        boot
    }

    /// 2.0.1: reports EVSE 1 (connector 1) with `connector_status`.
    pub async fn status_201(&mut self, connector_status: &str) {
        self.call(
            "StatusNotification",
            json!({"timestamp": "2026-11-21T09:00:00Z", "connector_status": connector_status, "evse_id": 1, "connector_id": 1}),
        )
        .await;
    }

    /// Waits until the connection is closed by Coupler and returns the close event.
    pub async fn closed(&mut self) -> Value {
        self.next_matching(|e| e["event"] == "closed").await
    }

    /// Closes the connection and waits for the process to exit.
    pub async fn close(mut self) {
        self.send(json!({"cmd": "close"})).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}
