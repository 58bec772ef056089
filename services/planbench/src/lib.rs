//! What the benchmarks beside the planner share: an API client made as `coupler clients create`
//! makes one, waiting for a condition, and a temporary database directory.

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use coupler_core::secret::{generate_secret, hash_secret};
use coupler_core::{Client, ClientId, Store};
use serde_json::Value;

/// A benchmark's API client, stored in the benchmark's database with a secret of its own and
/// holding an access token for it.
#[derive(Debug)]
pub struct BenchClient {
    http: reqwest::Client,
    base: String,
    id: ClientId,
    token: String,
}

impl BenchClient {
    /// Stores a client named `name` (created `now`, on the benchmark's clock) and takes a token
    /// for it from Coupler at `base`.
    pub async fn new(base: &str, store: &dyn Store, name: &str, now: DateTime<Utc>) -> anyhow::Result<Self> {
        let secret = generate_secret();
        let id = ClientId::generate();
        store
            .insert_client(&Client {
                id: id.clone(),
                name: name.into(),
                secret_hash: hash_secret(&secret),
                created_at: now,
                revoked_at: None,
            })
            .await?;
        let http = reqwest::Client::new();
        let token: Value = http
            .post(format!("{base}/oauth/token"))
            .basic_auth(id.as_str(), Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let token = token["access_token"].as_str().context("no access token")?.to_owned();
        Ok(Self {
            http,
            base: base.to_owned(),
            id,
            token,
        })
    }

    /// The client's id.
    pub fn id(&self) -> &ClientId {
        &self.id
    }

    /// Sends a request and reads its JSON answer (`Null` when there is none). Retries a few times,
    /// with a growing pause, when Coupler answers 503 (its database busy beyond its wait while a
    /// set-up floods it), and a GET also when it answers 408 (a read that took longer than Coupler
    /// allows a request on a loaded machine; reading again changes nothing). Anything else that is
    /// not a success is an error naming the request and the answer.
    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let mut pause = Duration::from_millis(500);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .bearer_auth(&self.token);
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request.send().await?;
            let status = response.status();
            let text = response.text().await?;
            let busy = status == reqwest::StatusCode::SERVICE_UNAVAILABLE
                || (status == reqwest::StatusCode::REQUEST_TIMEOUT && method == reqwest::Method::GET);
            if busy && attempt < 6 {
                tokio::time::sleep(pause).await;
                pause *= 2;
                continue;
            }
            if !status.is_success() {
                bail!("{method} {path} answered {status}: {text}");
            }
            return Ok(serde_json::from_str(&text).unwrap_or(Value::Null));
        }
    }
}

/// Polls `done` every 250 ms until it holds; gives up after `patience`.
pub async fn wait_until<F, Fut>(what: &str, patience: Duration, mut done: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    let give_up = Instant::now() + patience;
    while !done().await? {
        if Instant::now() > give_up {
            bail!("gave up waiting until {what}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

/// A temporary database directory, removed when dropped.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
