//! The few Coupler REST calls the load generator makes, and the credentials file.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use url::Url;

/// Timeout of one REST request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest piece of an error body quoted in a message.
const MAX_QUOTED_BODY: usize = 200;

/// A client for Coupler's REST API at one base URL.
#[derive(Debug, Clone)]
pub struct Api {
    client: reqwest::Client,
    base: Url,
}

/// A registered charger: what a simulated charger needs to connect, and the id the
/// REST API knows it by.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credential {
    /// Charge point identity.
    pub ocpp_id: String,
    /// Coupler's id of the charger, for `/chargers/{id}/...`.
    pub charger_id: String,
    /// The WebSocket URL Coupler gave for this charger.
    pub ocpp_url: String,
    /// The Basic-auth password, shown once by Coupler.
    pub password: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("ocpp_id", &self.ocpp_id)
            .field("charger_id", &self.charger_id)
            .field("ocpp_url", &self.ocpp_url)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// What Coupler answers to a charger registration.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegisteredCharger {
    id: String,
    ocpp_id: String,
    ocpp_url: String,
    password: String,
}

#[derive(Debug, Deserialize)]
struct TokenResponse {
    access_token: String,
}

impl Api {
    /// A client for the API at `base`. Redirects are not followed: the tool talks to the
    /// URL it was given and nothing else.
    pub fn new(base: Url, max_idle_connections: usize) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(max_idle_connections)
            .user_agent(concat!("coupler-loadgen/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("could not build the HTTP client")?;
        Ok(Self { client, base })
    }

    /// The URL of the API path made of `segments` (each percent-encoded as needed).
    pub fn endpoint(&self, segments: &[&str]) -> anyhow::Result<Url> {
        let mut url = self.base.clone();
        url.set_query(None);
        url.set_fragment(None);
        url.path_segments_mut()
            .map_err(|()| anyhow::anyhow!("{} cannot be a base URL", self.base))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// An access token for the client (OAuth 2.0 client credentials, HTTP Basic).
    pub async fn token(&self, client_id: &str, client_secret: &str) -> anyhow::Result<String> {
        let url = self.endpoint(&["oauth", "token"])?;
        let response = self
            .client
            .post(url)
            .basic_auth(client_id, Some(client_secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .context("POST /oauth/token failed")?;
        let token: TokenResponse = read_json(response, "POST /oauth/token").await?;
        Ok(token.access_token)
    }

    /// Creates the user (or keeps the existing one).
    pub async fn put_user(&self, token: &str, user: &str) -> anyhow::Result<()> {
        let url = self.endpoint(&["users", user])?;
        let response = self
            .client
            .put(url)
            .bearer_auth(token)
            .send()
            .await
            .context("PUT /users/{userId} failed")?;
        expect_success(response, "PUT /users/{userId}").await
    }

    /// Registers a charger for `user` and returns its one-time credentials.
    pub async fn register_charger(&self, token: &str, user: &str, ocpp_id: &str) -> anyhow::Result<Credential> {
        let url = self.endpoint(&["users", user, "chargers"])?;
        let response = self
            .client
            .post(url)
            .bearer_auth(token)
            .json(&json!({"ocppId": ocpp_id, "name": format!("Load generator {ocpp_id}")}))
            .send()
            .await
            .context("POST /users/{userId}/chargers failed")?;
        if response.status() == StatusCode::CONFLICT {
            let detail = describe_failure(response).await;
            bail!(
                "{detail} (the charger exists but its password is only shown once: use the \
                 --credentials file of the run that registered it, or another --id-prefix)"
            );
        }
        let registered: RegisteredCharger = read_json(response, "POST /users/{userId}/chargers").await?;
        if registered.ocpp_id != ocpp_id {
            bail!(
                "POST /users/{{userId}}/chargers: asked for ocppId {ocpp_id}, got {}",
                registered.ocpp_id
            );
        }
        Ok(Credential {
            ocpp_id: registered.ocpp_id,
            charger_id: registered.id,
            ocpp_url: registered.ocpp_url,
            password: registered.password,
        })
    }

    /// Asks Coupler to start charging on a charger (`POST /chargers/{id}/charging`).
    pub async fn start_charging(&self, token: &str, charger_id: &str) -> anyhow::Result<()> {
        let url = self.endpoint(&["chargers", charger_id, "charging"])?;
        let response = self
            .client
            .post(url)
            .bearer_auth(token)
            .json(&json!({"action": "START"}))
            .send()
            .await
            .context("POST /chargers/{id}/charging failed")?;
        expect_success(response, "POST /chargers/{id}/charging").await
    }
}

async fn expect_success(response: reqwest::Response, what: &str) -> anyhow::Result<()> {
    if response.status().is_success() {
        Ok(())
    } else {
        bail!("{what}: {}", describe_failure(response).await)
    }
}

async fn read_json<T: serde::de::DeserializeOwned>(response: reqwest::Response, what: &str) -> anyhow::Result<T> {
    if !response.status().is_success() {
        bail!("{what}: {}", describe_failure(response).await);
    }
    let body = response
        .bytes()
        .await
        .with_context(|| format!("{what}: reading the answer failed"))?;
    serde_json::from_slice(&body).with_context(|| format!("{what}: unexpected answer {}", quote(&body)))
}

/// `409 Conflict: <detail>`, taking the detail from a problem+json or OAuth error body.
async fn describe_failure(response: reqwest::Response) -> String {
    let status = response.status();
    let body = response.bytes().await.unwrap_or_default();
    match problem_detail(&body) {
        Some(detail) => format!("{status}: {detail}"),
        None if body.is_empty() => status.to_string(),
        None => format!("{status}: {}", quote(&body)),
    }
}

/// The human-readable part of an error body: problem+json `detail` or `title`, or OAuth
/// `error_description` or `error`.
fn problem_detail(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    ["detail", "error_description", "title", "error"]
        .iter()
        .find_map(|key| value.get(key).and_then(Value::as_str))
        .map(|text| text.chars().take(MAX_QUOTED_BODY).collect())
}

fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let cut: String = text.chars().take(MAX_QUOTED_BODY).collect();
    if cut.len() < text.len() {
        format!("`{cut}…`")
    } else {
        format!("`{cut}`")
    }
}

/// The file `--credentials` names: which API and user the chargers were registered with,
/// and their credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialsFile {
    /// The `--api` they were registered with.
    pub api: String,
    /// The user that owns them.
    pub user: String,
    /// One entry per registered charger.
    pub chargers: Vec<Credential>,
}

impl CredentialsFile {
    /// Reads the file, or `None` when it does not exist.
    pub fn load(path: &Path) -> anyhow::Result<Option<Self>> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error).with_context(|| format!("could not read {}", path.display())),
        };
        serde_json::from_str(&text)
            .map(Some)
            .with_context(|| format!("{} is not a credentials file", path.display()))
    }

    /// Writes the file through a temporary file and a rename, so an interrupted run never
    /// leaves half a file; readable by the owner only, since it holds passwords.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;

        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".tmp");
        let temporary = std::path::PathBuf::from(temporary);
        let text = serde_json::to_string_pretty(self).context("could not serialise the credentials")?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temporary)
            .with_context(|| format!("could not create {}", temporary.display()))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .with_context(|| format!("could not write {}", temporary.display()))?;
        std::fs::rename(&temporary, path).with_context(|| format!("could not write {}", path.display()))
    }

    /// The credential of `ocpp_id`, if the file has one.
    pub fn find(&self, ocpp_id: &str) -> Option<&Credential> {
        self.chargers.iter().find(|c| c.ocpp_id == ocpp_id)
    }

    /// Adds or replaces credentials, keeping the list sorted by charger id.
    pub fn merge(&mut self, new: impl IntoIterator<Item = Credential>) {
        for credential in new {
            match self.chargers.iter_mut().find(|c| c.ocpp_id == credential.ocpp_id) {
                Some(existing) => *existing = credential,
                None => self.chargers.push(credential),
            }
        }
        self.chargers.sort_by(|a, b| a.ocpp_id.cmp(&b.ocpp_id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential(n: u32) -> Credential {
        Credential {
            ocpp_id: format!("LG-{n:06}"),
            charger_id: format!("chg_{n}"),
            ocpp_url: format!("ws://127.0.0.1:8080/ocpp/LG-{n:06}"),
            password: format!("secret-{n}"),
        }
    }

    #[test]
    fn endpoints_are_built_under_the_base_path_with_segments_escaped() {
        let api = Api::new(Url::parse("http://127.0.0.1:8080").unwrap(), 1).unwrap();
        assert_eq!(
            api.endpoint(&["users", "load gen/1", "chargers"]).unwrap().as_str(),
            "http://127.0.0.1:8080/users/load%20gen%2F1/chargers"
        );
        let prefixed = Api::new(Url::parse("http://127.0.0.1:8080/coupler/?x=1").unwrap(), 1).unwrap();
        assert_eq!(
            prefixed.endpoint(&["oauth", "token"]).unwrap().as_str(),
            "http://127.0.0.1:8080/coupler/oauth/token"
        );
    }

    #[test]
    fn error_bodies_are_reduced_to_their_detail() {
        let problem = br#"{"type":"about:blank","title":"Conflict","status":409,"detail":"ocppId LG-1 exists"}"#;
        assert_eq!(problem_detail(problem).as_deref(), Some("ocppId LG-1 exists"));
        let oauth = br#"{"error":"invalid_client","error_description":"unknown client"}"#;
        assert_eq!(problem_detail(oauth).as_deref(), Some("unknown client"));
        assert_eq!(problem_detail(b"<html>"), None);
        assert_eq!(quote(&[b'x'; 500]).chars().count(), MAX_QUOTED_BODY + 3);
    }

    #[test]
    fn passwords_stay_out_of_debug_output() {
        let debug = format!("{:?}", credential(1));
        assert!(!debug.contains("secret-1"), "{debug}");
        assert!(debug.contains("LG-000001"));
    }

    #[test]
    fn a_credentials_file_round_trips_and_is_private() {
        use std::os::unix::fs::PermissionsExt;

        let dir = std::env::temp_dir().join(format!("loadgen-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("credentials.json");
        assert_eq!(CredentialsFile::load(&path).unwrap(), None);
        let mut file = CredentialsFile {
            api: "http://127.0.0.1:8080/".to_owned(),
            user: "loadgen".to_owned(),
            chargers: vec![credential(0), credential(1)],
        };
        file.save(&path).unwrap();
        assert_eq!(CredentialsFile::load(&path).unwrap().as_ref(), Some(&file));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        let mut replaced = credential(1);
        replaced.password = "new".to_owned();
        file.merge([credential(3), replaced, credential(2)]);
        let ids: Vec<_> = file.chargers.iter().map(|c| c.ocpp_id.as_str()).collect();
        assert_eq!(ids, ["LG-000000", "LG-000001", "LG-000002", "LG-000003"]);
        assert_eq!(file.find("LG-000001").unwrap().password, "new");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_that_is_not_a_credentials_file_is_an_error_not_a_fresh_start() {
        let path = std::env::temp_dir().join(format!("loadgen-bad-{}.json", std::process::id()));
        std::fs::write(&path, "not json").unwrap();
        assert!(CredentialsFile::load(&path).is_err());
        std::fs::remove_file(&path).unwrap();
    }
}
