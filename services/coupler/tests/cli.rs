//! The `coupler` binary as an operator runs it: in a fresh working directory, configured by
//! environment variables, stopped by a signal.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

mod common;

use common::{coupler, free_port, until_serving};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A fresh, empty working directory, removed afterwards.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("coupler-cli-{}", uuid_like()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn uuid_like() -> String {
    format!(
        "{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

fn create_client(dir: &Path, name: &str) -> (String, String) {
    let output = coupler(dir)
        .args(["clients", "create", "--name", name, "--json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "--json prints exactly one line: {stdout}");
    let created: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    (
        created["clientId"].as_str().unwrap().to_owned(),
        created["clientSecret"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn clients_create_prints_the_secret_once_and_the_database_keeps_only_its_hash() {
    let dir = WorkDir::new();
    let (id, secret) = create_client(&dir.0, "energy-app");
    assert_eq!(secret.len(), 43);

    let database = std::fs::read(dir.0.join("coupler.db")).unwrap_or_default();
    let wal = std::fs::read(dir.0.join("coupler.db-wal")).unwrap_or_default();
    for bytes in [&database, &wal] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the secret is not stored in clear"
        );
    }

    let listed = coupler(&dir.0).args(["clients", "list", "--json"]).output().unwrap();
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed[0]["clientId"], id.as_str());
    assert_eq!(listed[0]["name"], "energy-app");
    assert!(!listed.to_string().contains(&secret));

    let text = coupler(&dir.0)
        .args(["clients", "create", "--name", "second"])
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.starts_with("client id:"), "{text}");
    assert!(text.contains("client secret:"), "{text}");
}

#[test]
fn a_bad_setting_stops_the_binary_with_a_message_naming_it() {
    let dir = WorkDir::new();
    let output = coupler(&dir.0)
        .arg("migrate")
        .env("COUPLER_DATABASE_URL", "mysql://x")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("unsupported database URL"), "{stderr}");

    let output = coupler(&dir.0)
        .arg("serve")
        .env("COUPLER_LISTEN", "not-an-address")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8(output.stderr).unwrap().contains("COUPLER_LISTEN"));
}

#[test]
fn a_config_file_with_an_unknown_key_or_a_bad_value_stops_the_binary_with_the_key_named() {
    let dir = WorkDir::new();
    let file = dir.0.join("coupler.toml");
    std::fs::write(&file, "[ocpp]\ncall_timout = 30\n").unwrap();
    let output = coupler(&dir.0)
        .args(["--config", "coupler.toml", "migrate"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("call_timout") && stderr.contains("unknown"), "{stderr}");

    std::fs::write(&file, "[engine]\nvehicle_action_timeout = \"soon\"\n").unwrap();
    let output = coupler(&dir.0)
        .args(["--config", "coupler.toml", "migrate"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("[engine] vehicle_action_timeout") && stderr.contains("soon"),
        "{stderr}"
    );
}

#[test]
fn help_lists_every_setting_with_its_variable_and_the_subcommands_list_theirs() {
    let dir = WorkDir::new();
    let help = coupler(&dir.0).arg("--help").output().unwrap();
    assert!(help.status.success());
    let help = String::from_utf8(help.stdout).unwrap();
    for spec in coupler::config::SETTINGS {
        assert!(help.contains(spec.env), "coupler --help misses {}", spec.env);
    }
    let serve = String::from_utf8(coupler(&dir.0).args(["serve", "--help"]).output().unwrap().stdout).unwrap();
    assert!(
        serve.contains("COUPLER_VEHICLE_ACTION_TIMEOUT") && serve.contains("[polling]"),
        "{serve}"
    );
    let migrate = String::from_utf8(coupler(&dir.0).args(["migrate", "--help"]).output().unwrap().stdout).unwrap();
    assert!(
        migrate.contains("COUPLER_DATABASE_URL") && !migrate.contains("COUPLER_OCPP_LISTEN"),
        "{migrate}"
    );
}

#[test]
fn openapi_prints_the_committed_document() {
    let dir = WorkDir::new();
    let output = coupler(&dir.0).arg("openapi").output().unwrap();
    assert!(output.status.success());
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/openapi.json")).unwrap();
    assert_eq!(String::from_utf8(output.stdout).unwrap(), committed);
}

/// The README's run command, as a new user meets it: a fresh directory, no configuration, a client
/// made with the CLI, a token, a list of users, and a clean stop on SIGTERM.
#[tokio::test]
async fn serve_in_a_fresh_directory_runs_on_sqlite_and_stops_cleanly_on_sigterm() {
    let dir = WorkDir::new();
    let (id, secret) = create_client(&dir.0, "app");
    let mut child = coupler(&dir.0)
        .arg("serve")
        .env("COUPLER_LISTEN", "127.0.0.1:0")
        .env("COUPLER_LOG_FORMAT", "json")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();

    // The JSON log line announcing the listener tells the port that port 0 picked.
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("serve logs before it exits").unwrap();
        let event: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if event["fields"]["message"] == "coupler is serving" {
            assert_eq!(event["fields"]["database"], "sqlite");
            break event["fields"]["addr"].as_str().unwrap().to_owned();
        }
    };
    assert!(
        dir.0.join("coupler.db").exists(),
        "the SQLite file is created in the working directory"
    );
    assert!(
        dir.0.join("coupler.db.key").exists(),
        "the secret key is generated beside it"
    );

    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!("http://{addr}/oauth/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let users = http
        .get(format!("http://{addr}/users"))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(users.status(), 200);
    assert_eq!(
        users.json::<serde_json::Value>().await.unwrap()["data"],
        serde_json::json!([])
    );

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status}");
    assert!(rest.iter().any(|l| l.contains("coupler has stopped")), "{rest:?}");
    assert!(
        tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(&addr))
            .await
            .map_or(true, |c| c.is_err()),
        "the port is released"
    );
    assert!(
        rest.iter().all(|l| !l.contains(&secret)),
        "the secret never reaches the logs"
    );
}

/// Starts `coupler serve` in `dir` on `listen`, returning the child once it serves.
fn serve(dir: &Path, listen: &str) -> std::process::Child {
    serve_with_env(dir, listen, &[])
}

/// [`serve`] with extra environment variables.
fn serve_with_env(dir: &Path, listen: &str, env: &[(&str, &str)]) -> std::process::Child {
    let mut child = coupler(dir)
        .arg("serve")
        .envs(env.iter().copied())
        .env("COUPLER_LISTEN", listen)
        .env("COUPLER_LOG_FORMAT", "json")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let (_, mut lines) = until_serving(&mut child);
    // Keep draining the log so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    child
}

/// Nothing acknowledged is lost: the StartTransaction answer is sent only after the session is
/// stored, so a Coupler killed right after it (SIGKILL, no shutdown) still has it, and the
/// charger's later StopTransaction completes the session with its energy.
#[tokio::test]
async fn a_session_started_before_coupler_is_killed_is_completed_after_the_restart() {
    use coupler_tests::raw;

    let dir = WorkDir::new();
    let (id, secret) = create_client(&dir.0, "app");
    let addr = free_port();
    let mut first = serve(&dir.0, &addr);

    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!("http://{addr}/oauth/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    let (charger_id, url, password) = register_charger(&http, &addr, &token, "CP-CRASH").await;

    let mut socket = raw::connect(&url, Some(("CP-CRASH", &password))).await.unwrap();
    raw::exchange(
        &mut socket,
        r#"[2,"b","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]"#,
    )
    .await;
    let started = raw::exchange(
        &mut socket,
        r#"[2,"s","StartTransaction",{"connectorId":1,"idTag":"TAG","meterStart":2000,"timestamp":"2026-11-21T08:00:00Z"}]"#,
    )
    .await;
    let transaction_id = started[2]["transactionId"].as_i64().unwrap();

    first.kill().unwrap();
    first.wait().unwrap();
    drop(socket);

    let mut second = serve(&dir.0, &addr);
    let mut socket = raw::connect(&url, Some(("CP-CRASH", &password))).await.unwrap();
    let stopped = raw::exchange(
        &mut socket,
        &format!(r#"[2,"e","StopTransaction",{{"transactionId":{transaction_id},"meterStop":9500,"timestamp":"2026-11-21T09:00:00Z","reason":"EVDisconnected"}}]"#),
    )
    .await;
    assert_eq!(stopped[0], 3, "{stopped}");

    let sessions: serde_json::Value = http
        .get(format!("http://{addr}/chargers/{charger_id}/sessions"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let session = &sessions["data"][0];
    assert_eq!(session["id"], transaction_id);
    assert_eq!(session["energy"], 7.5);
    assert_eq!(session["stoppedAt"], "2026-11-21T09:00:00Z");
    second.kill().unwrap();
    second.wait().unwrap();
}

/// Events are written with the change, so a Coupler killed after a change (while the delivery hangs,
/// or before the event was even published) delivers the event after the restart, with the delivery
/// id of the attempt that was cut off, so the receiver can tell it is the same batch.
#[tokio::test]
async fn an_event_whose_delivery_was_cut_off_by_a_kill_is_delivered_after_the_restart() {
    use coupler_tests::receiver::{Mode, Receiver};

    const SECRET: &str = "a-receiver-secret-of-at-least-32-chars";
    let env = [
        ("COUPLER_WEBHOOK_ALLOW_PRIVATE", "true"),
        ("COUPLER_WEBHOOK_RETRY_FIRST_DELAY", "1"),
    ];
    let dir = WorkDir::new();
    let (id, secret) = create_client(&dir.0, "app");
    let addr = free_port();
    let mut first = serve_with_env(&dir.0, &addr, &env);

    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!("http://{addr}/oauth/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    let receiver = Receiver::start(SECRET, Mode::Hang).await;
    let created = http
        .post(format!("http://{addr}/webhooks"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"url": receiver.url, "secret": SECRET, "events": ["user:charger:updated"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let charger: serde_json::Value = http
        .post(format!("http://{addr}/users/alice/chargers"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"ocppId": "CP-EVENTS"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let charger_id = charger["id"].as_str().unwrap().to_owned();
    let rename = |name: &'static str| {
        let (http, token, addr, charger_id) = (http.clone(), token.clone(), addr.clone(), charger_id.clone());
        async move {
            let response = http
                .put(format!("http://{addr}/chargers/{charger_id}"))
                .bearer_auth(&token)
                .json(&serde_json::json!({"name": name}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
        }
    };

    // Killed while the delivery hangs.
    rename("during delivery").await;
    let cut_off = receiver.wait_for_requests(1).await[0].clone();
    assert_eq!(cut_off.events[0]["charger"]["name"], "during delivery");
    first.kill().unwrap();
    first.wait().unwrap();
    receiver.set_mode(Mode::Accept);
    let mut second = serve_with_env(&dir.0, &addr, &env);
    let accepted = receiver
        .wait_until("the event cut off by the kill", |events| !events.is_empty())
        .await;
    assert_eq!(accepted[0]["charger"]["name"], "during delivery");
    let redelivered = receiver.requests().into_iter().find(|r| r.status == 200).unwrap();
    assert_eq!(
        redelivered.delivery_id, cut_off.delivery_id,
        "the same batch, so receivers can deduplicate"
    );

    // Killed at once after the change was answered, before a delivery could start.
    rename("just before the kill").await;
    second.kill().unwrap();
    second.wait().unwrap();
    let mut third = serve_with_env(&dir.0, &addr, &env);
    let accepted = receiver
        .wait_until("the event of the change answered just before the kill", |events| {
            events.iter().any(|e| e["charger"]["name"] == "just before the kill")
        })
        .await;
    let names: Vec<_> = accepted.iter().map(|e| e["charger"]["name"].clone()).collect();
    assert_eq!(
        names,
        ["during delivery", "just before the kill"],
        "each once, in order"
    );
    assert_eq!(receiver.bad_signatures(), 0);
    third.kill().unwrap();
    third.wait().unwrap();
}

/// A token for `id` from the Coupler at `addr`.
/// Registers charger `ocpp_id` for user `alice` at the Coupler on `addr`: its id, OCPP URL and
/// password.
async fn register_charger(http: &reqwest::Client, addr: &str, token: &str, ocpp_id: &str) -> (String, String, String) {
    let charger: serde_json::Value = http
        .post(format!("http://{addr}/users/alice/chargers"))
        .bearer_auth(token)
        .json(&serde_json::json!({"ocppId": ocpp_id}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = |field: &str| charger[field].as_str().unwrap().to_owned();
    (text("id"), text("ocppUrl"), text("password"))
}

async fn token_at(http: &reqwest::Client, addr: &str, id: &str, secret: &str) -> String {
    let token: serde_json::Value = http
        .post(format!("http://{addr}/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    token["access_token"].as_str().unwrap().to_owned()
}

/// An action accepted just before Coupler is killed (SIGKILL) waits for its charger after the
/// restart, until its deadline: the charger is back within moments, the command reaches it, and
/// the action is confirmed by what the charger then does.
#[tokio::test]
async fn a_start_accepted_just_before_a_kill_reaches_its_charger_when_it_reconnects_and_is_confirmed() {
    use coupler_tests::ocpp::PythonChargePoint;

    let dir = WorkDir::new();
    let (id, secret) = create_client(&dir.0, "app");
    let addr = free_port();
    // The deadline is far off, so only the wait for the charger is on trial: a restart and a
    // reconnect on a loaded machine may take a good part of the default minute.
    let env = [("COUPLER_ACTION_TIMEOUT", "10m")];
    let mut first = serve_with_env(&dir.0, &addr, &env);
    // No pooled connection may outlive the killed process.
    let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let token = token_at(&http, &addr, &id, &secret).await;
    let (charger_id, url, password) = register_charger(&http, &addr, &token, "CP-KILLED").await;

    // The charger has a car plugged in, then loses its connection for a moment.
    let mut cp = PythonChargePoint::connected(&url, "CP-KILLED", &password).await;
    cp.boot("Preparing").await;
    cp.close().await;
    coupler_tests::wait_for("the charger seen disconnected", || async {
        let shown: serde_json::Value = http
            .get(format!("http://{addr}/chargers/{charger_id}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (shown["isReachable"] == false).then_some(())
    })
    .await;

    let start: serde_json::Value = http
        .post(format!("http://{addr}/chargers/{charger_id}/charging"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"action": "START"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(start["state"], "PENDING", "{start}");
    let action_id = start["id"].as_str().unwrap().to_owned();
    first.kill().unwrap();
    first.wait().unwrap();

    let mut second = serve_with_env(&dir.0, &addr, &env);
    let token = token_at(&http, &addr, &id, &secret).await;
    let mut back = PythonChargePoint::connected(&url, "CP-KILLED", &password).await;
    back.boot("Preparing").await;
    // Settled first, so that a failure shows the action's attempts rather than a silent charger.
    let settled = coupler_tests::wait_for("the START settled", || async {
        let action: serde_json::Value = http
            .get(format!("http://{addr}/actions/{action_id}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (action["state"] != "PENDING").then_some(action)
    })
    .await;
    assert_eq!(settled["state"], "CONFIRMED", "{settled}");
    let last = settled["attempts"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["outcome"], "CONFIRMED", "{settled}");
    back.received("RemoteStartTransaction").await;
    back.close().await;
    second.kill().unwrap();
    second.wait().unwrap();
}

/// `COUPLER_REUSE_PORT`: two `coupler serve` processes bind one address and the kernel hands new
/// connections to both. Each process here has its own metrics token, so whether a request carrying
/// the first one is answered 200 (or refused) tells which process took that connection.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn with_reuse_port_two_processes_serve_on_one_port() {
    let (first_dir, second_dir) = (WorkDir::new(), WorkDir::new());
    let addr = free_port();
    let first_token = "token-of-the-first-process";
    let mut first = serve_with_env(
        &first_dir.0,
        &addr,
        &[("COUPLER_REUSE_PORT", "true"), ("COUPLER_METRICS_TOKEN", first_token)],
    );
    let mut second = serve_with_env(
        &second_dir.0,
        &addr,
        &[
            ("COUPLER_REUSE_PORT", "true"),
            ("COUPLER_METRICS_TOKEN", "token-of-the-second-process"),
        ],
    );

    let (mut by_first, mut by_second) = (0, 0);
    for _ in 0..500 {
        // A client per request: a new connection each time, for the kernel to place.
        let status = reqwest::Client::new()
            .get(format!("http://{addr}/metrics"))
            .bearer_auth(first_token)
            .send()
            .await
            .unwrap()
            .status();
        match status.as_u16() {
            200 => by_first += 1,
            // The second process refuses the first's token (and, after a burst of those, rate-limits).
            401 | 429 => by_second += 1,
            other => panic!("unexpected status {other}"),
        }
        if by_first > 0 && by_second > 0 {
            break;
        }
    }
    assert!(
        by_first > 0 && by_second > 0,
        "both processes answer: {by_first} by the first, {by_second} by the second"
    );
    for child in [&mut first, &mut second] {
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

/// Without `COUPLER_REUSE_PORT` a second process on a taken address stops at once and says which
/// setting lets several processes share it; with it, it still may not join a process that did not
/// set it.
#[tokio::test]
async fn without_reuse_port_a_second_process_on_the_port_stops_naming_the_setting() {
    let (first_dir, second_dir) = (WorkDir::new(), WorkDir::new());
    let addr = free_port();
    let mut first = serve(&first_dir.0, &addr);

    let output = coupler(&second_dir.0)
        .arg("serve")
        .env("COUPLER_LISTEN", &addr)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")) && stderr.contains("COUPLER_REUSE_PORT=true"),
        "{stderr}"
    );

    if cfg!(target_os = "linux") {
        let output = coupler(&second_dir.0)
            .arg("serve")
            .env("COUPLER_LISTEN", &addr)
            .env("COUPLER_REUSE_PORT", "true")
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(
            stderr.contains("every coupler process on it needs COUPLER_REUSE_PORT=true"),
            "{stderr}"
        );
    }
    first.kill().unwrap();
    first.wait().unwrap();
}
