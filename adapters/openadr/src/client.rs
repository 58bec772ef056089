//! The VTN's REST API as a VEN uses it, with OAuth 2.0 client credentials.
//!
//! A token is fetched from the token endpoint (`grant_type=client_credentials`, the client id and
//! secret in the form body) and kept until a little before it expires; a 401 drops it and the
//! request is tried once more with a fresh one. Every failure is a [`VtnError`] saying what went
//! wrong (a timeout, refused credentials, the VTN failing, an answer Coupler cannot read), never a
//! panic. No redirects are followed: a bearer token goes nowhere but the configured VTN.

use std::time::{Duration, Instant};

use coupler_adapter_http::{http_client, send, Answer};
use coupler_core::openadr::OpenAdrVersion;
use coupler_core::AdapterError;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tokio::sync::Mutex;
use url::Url;

use crate::wire::{Created, Event, Program, Resource, TokenResponse, Ven};

/// How long one request to a VTN may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
/// Objects per page when listing.
const PAGE: usize = 50;
/// The most pages read of one list (a VTN that pages forever is cut off).
const MAX_PAGES: usize = 200;
/// A token is renewed this long before it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(30);

/// Why a request to the VTN failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VtnError {
    /// The VTN (or its token endpoint) did not answer in time.
    #[error("the VTN did not answer in time: {0}")]
    Timeout(String),
    /// The VTN cannot be reached, or failed (5xx).
    #[error("the VTN is unavailable: {0}")]
    Unavailable(String),
    /// The credentials were refused (401 after a fresh token, or by the token endpoint).
    #[error("the VTN refused the credentials: {0}")]
    Unauthorized(String),
    /// The VTN refused the request (4xx other than 401).
    #[error("the VTN refused the request (HTTP {status}): {detail}")]
    Refused {
        /// The status.
        status: u16,
        /// What it said.
        detail: String,
    },
    /// The VTN answered something Coupler cannot read.
    #[error("the VTN's answer cannot be read: {0}")]
    BadPayload(String),
    /// What the binding names is not on the VTN.
    #[error("not on the VTN: {0}")]
    NotFound(String),
    /// The binding's settings cannot be used (a bad URL).
    #[error("the VTN settings cannot be used: {0}")]
    Config(String),
}

impl VtnError {
    fn from_adapter(error: AdapterError) -> Self {
        match error {
            AdapterError::Timeout(why) => Self::Timeout(why),
            other => Self::Unavailable(other.to_string()),
        }
    }
}

/// How to reach one VTN.
#[derive(Clone)]
pub struct VtnConfig {
    /// The base URL the API paths are added to.
    pub base_url: Url,
    /// The token endpoint.
    pub token_url: Url,
    /// The client id and secret; `None` for a VTN without authentication.
    pub credentials: Option<(String, String)>,
    /// The version it speaks.
    pub version: OpenAdrVersion,
    /// The timeout per request.
    pub timeout: Duration,
}

impl std::fmt::Debug for VtnConfig {
    // The client secret never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VtnConfig")
            .field("base_url", &self.base_url.as_str())
            .field("token_url", &self.token_url.as_str())
            .field("client_id", &self.credentials.as_ref().map(|(id, _)| id))
            .field("version", &self.version)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl VtnConfig {
    /// A config from a binding's URLs: the token endpoint defaults to `{base}/auth/token`.
    pub fn new(
        base_url: &str,
        token_url: Option<&str>,
        credentials: Option<(String, String)>,
        version: OpenAdrVersion,
    ) -> Result<Self, VtnError> {
        let mut base = Url::parse(base_url).map_err(|e| VtnError::Config(format!("baseUrl: {e}")))?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let token_url = match token_url {
            Some(raw) => Url::parse(raw).map_err(|e| VtnError::Config(format!("tokenUrl: {e}")))?,
            None => base
                .join("auth/token")
                .map_err(|e| VtnError::Config(format!("tokenUrl: {e}")))?,
        };
        Ok(Self {
            base_url: base,
            token_url,
            credentials,
            version,
            timeout: DEFAULT_TIMEOUT,
        })
    }
}

struct Token {
    value: String,
    renew_at: Instant,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("renew_at", &self.renew_at)
            .finish_non_exhaustive()
    }
}

/// A VEN's client of one VTN. Cheap to keep; the token is cached inside.
#[derive(Debug)]
pub struct VtnClient {
    http: reqwest::Client,
    config: VtnConfig,
    token: Mutex<Option<Token>>,
}

fn snippet(answer: &Answer) -> String {
    answer.snippet()
}

impl VtnClient {
    /// A client of the VTN `config` names.
    pub fn new(config: VtnConfig) -> Self {
        Self {
            http: http_client(config.timeout),
            config,
            token: Mutex::new(None),
        }
    }

    /// The version it speaks.
    pub fn version(&self) -> OpenAdrVersion {
        self.config.version
    }

    /// Whether it is configured for the same VTN and credentials as `other`.
    pub fn same_as(&self, other: &VtnConfig) -> bool {
        self.config.base_url == other.base_url
            && self.config.token_url == other.token_url
            && self.config.credentials == other.credentials
            && self.config.version == other.version
    }

    /// A bearer token, from the cache or the token endpoint; `None` without credentials.
    async fn token(&self, fresh: bool) -> Result<Option<String>, VtnError> {
        let Some((id, secret)) = &self.config.credentials else {
            return Ok(None);
        };
        let mut cached = self.token.lock().await;
        if !fresh {
            if let Some(token) = cached.as_ref().filter(|t| Instant::now() < t.renew_at) {
                return Ok(Some(token.value.clone()));
            }
        }
        let request = self.http.post(self.config.token_url.clone()).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
        ]);
        let answer = send(request).await.map_err(VtnError::from_adapter)?;
        match answer.status {
            s if s.is_success() => {}
            StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                *cached = None;
                return Err(VtnError::Unauthorized(format!(
                    "the token endpoint answered HTTP {}: {}",
                    answer.status.as_u16(),
                    snippet(&answer)
                )));
            }
            s if s.is_server_error() => {
                return Err(VtnError::Unavailable(format!(
                    "the token endpoint answered HTTP {}",
                    s.as_u16()
                )))
            }
            s => {
                return Err(VtnError::Refused {
                    status: s.as_u16(),
                    detail: snippet(&answer),
                })
            }
        }
        let token: TokenResponse = serde_json::from_slice(&answer.body)
            .map_err(|e| VtnError::BadPayload(format!("the token endpoint's answer: {e}")))?;
        let lives = Duration::from_secs(token.expires_in.unwrap_or(300));
        *cached = Some(Token {
            value: token.access_token.clone(),
            renew_at: Instant::now() + lives.saturating_sub(TOKEN_MARGIN).max(Duration::from_secs(1)),
        });
        Ok(Some(token.access_token))
    }

    fn url(&self, path: &str) -> Result<Url, VtnError> {
        self.config
            .base_url
            .join(path.trim_start_matches('/'))
            .map_err(|e| VtnError::Config(format!("{path}: {e}")))
    }

    /// Sends one request with the bearer token; a 401 is tried once more with a fresh token.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Answer, VtnError> {
        let url = self.url(path)?;
        let mut fresh = false;
        loop {
            let token = self.token(fresh).await?;
            let mut request = self.http.request(method.clone(), url.clone()).query(query);
            if let Some(token) = &token {
                request = request.bearer_auth(token);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let answer = send(request).await.map_err(VtnError::from_adapter)?;
            match answer.status {
                s if s.is_success() => return Ok(answer),
                StatusCode::UNAUTHORIZED if !fresh && token.is_some() => fresh = true,
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    return Err(VtnError::Unauthorized(format!(
                        "{method} {path} answered HTTP {}: {}",
                        answer.status.as_u16(),
                        snippet(&answer)
                    )))
                }
                StatusCode::NOT_FOUND => return Err(VtnError::NotFound(format!("{method} {path}"))),
                s if s.is_server_error() => {
                    return Err(VtnError::Unavailable(format!(
                        "{method} {path} answered HTTP {}",
                        s.as_u16()
                    )))
                }
                s => {
                    return Err(VtnError::Refused {
                        status: s.as_u16(),
                        detail: format!("{method} {path}: {}", snippet(&answer)),
                    })
                }
            }
        }
    }

    fn read<T: DeserializeOwned>(answer: &Answer, what: &str) -> Result<T, VtnError> {
        serde_json::from_slice(&answer.body).map_err(|e| VtnError::BadPayload(format!("{what}: {e}")))
    }

    /// Every page of a list.
    async fn list<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        what: &str,
    ) -> Result<Vec<T>, VtnError> {
        let mut all = Vec::new();
        for page in 0..MAX_PAGES {
            let mut q = query.to_vec();
            q.push(("skip", (page * PAGE).to_string()));
            q.push(("limit", PAGE.to_string()));
            let answer = self.call(Method::GET, path, &q, None).await?;
            let items: Vec<T> = Self::read(&answer, what)?;
            let n = items.len();
            all.extend(items);
            if n < PAGE {
                break;
            }
        }
        Ok(all)
    }

    /// The program named `id_or_name` (its id, or its `programName`).
    pub async fn program(&self, id_or_name: &str) -> Result<Program, VtnError> {
        let programs: Vec<Program> = self.list("programs", &[], "the programs").await?;
        programs
            .into_iter()
            .find(|p| p.id == id_or_name || p.program_name == id_or_name)
            .ok_or_else(|| VtnError::NotFound(format!("no program '{id_or_name}' is visible to this VEN")))
    }

    /// The VEN named `name`, registered first when the VTN does not have it; its id.
    pub async fn ensure_ven(&self, name: &str) -> Result<String, VtnError> {
        let found: Vec<Ven> = self.list("vens", &[("venName", name.to_owned())], "the VENs").await?;
        if let Some(ven) = found.into_iter().find(|v| v.ven_name == name) {
            return Ok(ven.id);
        }
        let body = match self.config.version {
            OpenAdrVersion::V3_1 => json!({"objectType": "VEN_VEN_REQUEST", "venName": name}),
            OpenAdrVersion::V3_0_1 => json!({"objectType": "VEN", "venName": name}),
        };
        let answer = self.call(Method::POST, "vens", &[], Some(&body)).await?;
        Ok(Self::read::<Created>(&answer, "the new VEN")?.id)
    }

    /// Registers each of `names` as a resource of the VEN `ven_id` unless it is one already.
    pub async fn ensure_resources(&self, ven_id: &str, names: &[String]) -> Result<(), VtnError> {
        let (path, query) = match self.config.version {
            OpenAdrVersion::V3_1 => ("resources".to_owned(), vec![("venID", ven_id.to_owned())]),
            OpenAdrVersion::V3_0_1 => (format!("vens/{ven_id}/resources"), Vec::new()),
        };
        let known: Vec<Resource> = self.list(&path, &query, "the VEN's resources").await?;
        for name in names {
            if known.iter().any(|r| &r.resource_name == name) {
                continue;
            }
            let body = match self.config.version {
                OpenAdrVersion::V3_1 => {
                    json!({"objectType": "VEN_RESOURCE_REQUEST", "resourceName": name, "venID": ven_id})
                }
                OpenAdrVersion::V3_0_1 => json!({"objectType": "RESOURCE", "resourceName": name, "venID": ven_id}),
            };
            self.call(Method::POST, &path, &[], Some(&body)).await?;
        }
        Ok(())
    }

    /// The program's events the VEN may see.
    pub async fn events(&self, program_id: &str) -> Result<Vec<Event>, VtnError> {
        // Each event is read on its own, so one the VTN holds malformed is named rather than
        // sinking the whole list.
        let raw: Vec<Value> = self
            .list("events", &[("programID", program_id.to_owned())], "the events")
            .await?;
        raw.into_iter()
            .filter(|e| {
                e.get("programID")
                    .and_then(Value::as_str)
                    .is_none_or(|p| p == program_id)
            })
            .map(|e| {
                let id = e.get("id").and_then(Value::as_str).unwrap_or("?").to_owned();
                serde_json::from_value(e).map_err(|err| VtnError::BadPayload(format!("event {id}: {err}")))
            })
            .collect()
    }

    /// Sends a new report; its id.
    pub async fn create_report(&self, report: &Value) -> Result<String, VtnError> {
        let answer = self.call(Method::POST, "reports", &[], Some(report)).await?;
        Ok(Self::read::<Created>(&answer, "the new report")?.id)
    }

    /// Replaces a report sent before.
    pub async fn update_report(&self, id: &str, report: &Value) -> Result<(), VtnError> {
        self.call(Method::PUT, &format!("reports/{id}"), &[], Some(report))
            .await
            .map(|_| ())
    }

    /// Subscribes the VEN to the program's events: the VTN is to POST notifications of their
    /// creation, change and deletion to `callback_url` with `bearer` as their bearer token. Its id.
    pub async fn subscribe(
        &self,
        client_name: &str,
        program_id: &str,
        callback_url: &str,
        bearer: &str,
    ) -> Result<String, VtnError> {
        let body = json!({
            "objectType": "SUBSCRIPTION",
            "clientName": client_name,
            "programID": program_id,
            "objectOperations": [{
                "objects": ["EVENT", "PROGRAM"],
                "operations": ["POST", "PUT", "DELETE"],
                "callbackUrl": callback_url,
                "bearerToken": bearer,
            }],
        });
        let body = match self.config.version {
            OpenAdrVersion::V3_0_1 => body,
            // 3.1 names the operations after CRUD and says how notifications travel.
            OpenAdrVersion::V3_1 => {
                let mut body = body;
                body["objectOperations"][0]["operations"] = json!(["CREATE", "UPDATE", "DELETE"]);
                body["objectOperations"][0]["mechanism"] = json!("WEBHOOK");
                body
            }
        };
        let answer = self.call(Method::POST, "subscriptions", &[], Some(&body)).await?;
        Ok(Self::read::<Created>(&answer, "the new subscription")?.id)
    }

    /// Removes a subscription (one already gone is no failure).
    pub async fn unsubscribe(&self, id: &str) -> Result<(), VtnError> {
        match self
            .call(Method::DELETE, &format!("subscriptions/{id}"), &[], None)
            .await
        {
            Ok(_) | Err(VtnError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
