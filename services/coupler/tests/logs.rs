//! `coupler serve --sandbox` as someone trying Coupler on one machine runs it: logs written to a
//! pipe carry no colour codes and no Rust debug forms, and webhooks may point at this machine.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

mod common;

use common::{coupler, until_serving};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

/// A fresh working directory, removed afterwards.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("coupler-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts `coupler serve --sandbox` with text logs on a pipe; returns the child, the log lines up to
/// "coupler is serving", and the address it listens on.
fn serve_sandbox(dir: &Path) -> (Child, Vec<String>, String) {
    let mut child = coupler(dir)
        .args(["serve", "--sandbox"])
        .env("COUPLER_LISTEN", "127.0.0.1:0")
        .env("COUPLER_LOG_FORMAT", "text")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let (seen, mut lines) = until_serving(&mut child);
    let addr = seen
        .last()
        .unwrap()
        .split_whitespace()
        .find_map(|word| word.strip_prefix("addr="))
        .expect("the start-up line names the address")
        .to_owned();
    // Keep draining the log so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    (child, seen, addr)
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn text_logs_to_a_pipe_carry_no_colour_codes_and_no_debug_forms() {
    let dir = WorkDir::new("logs");
    let (child, seen, _) = serve_sandbox(&dir.0);
    stop(child);
    let text = seen.join("\n");
    assert!(!text.contains('\u{1b}'), "colour codes in a piped log:\n{text}");
    assert!(!text.contains("Some("), "a Rust debug form in the log:\n{text}");
    assert!(!text.contains("[\""), "a Rust debug list in the log:\n{text}");
    assert!(
        text.contains("vendors=SIM_"),
        "the start-up line names the vendors plainly:\n{text}"
    );
}

#[tokio::test]
async fn the_sandbox_accepts_webhooks_on_this_machine() {
    let dir = WorkDir::new("sandbox-webhooks");
    let created = coupler(&dir.0)
        .args(["clients", "create", "--name", "app", "--json"])
        // The sandbox's own database file.
        .env("COUPLER_DATABASE_URL", "sqlite://coupler-sandbox.db")
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let created: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    let (child, _, addr) = serve_sandbox(&dir.0);
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!("http://{addr}/oauth/token"))
        .basic_auth(created["clientId"].as_str().unwrap(), created["clientSecret"].as_str())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(token["access_token"].is_string(), "no token: {token}");
    let webhook = http
        .post(format!("http://{addr}/webhooks"))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .json(&serde_json::json!({"url": "http://127.0.0.1:9/hook", "events": ["*"]}))
        .send()
        .await
        .unwrap();
    let status = webhook.status();
    let body = webhook.text().await.unwrap();
    stop(child);
    assert_eq!(status, 201, "{body}");
}
