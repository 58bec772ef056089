//! A webhook receiver for tests: a real HTTP server on a random port that checks every request's
//! signature the way the docs tell app developers to (HMAC-SHA256 over `timestamp.body`, computed
//! here independently of Coupler's code), keeps what it was sent, and can be told to fail, hang,
//! or accept.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::net::TcpListener;

/// What the receiver does with the next requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Answer 200.
    Accept,
    /// Answer 500 to the next `n` requests, then accept.
    FailNext(usize),
    /// Answer 503 to every request.
    AlwaysFail,
    /// Never answer (until the test ends).
    Hang,
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    /// `Coupler-Delivery-Id`.
    pub delivery_id: String,
    /// The parsed body (a JSON array of events).
    pub events: Vec<serde_json::Value>,
    /// The status the receiver answered (0 while hanging).
    pub status: u16,
}

#[derive(Debug)]
struct Inner {
    secret: String,
    mode: Mode,
    requests: Vec<Received>,
    /// Delivery ids already accepted: a retry of one of them is acknowledged but not kept twice.
    accepted_ids: HashSet<String>,
    /// Events accepted, deduplicated by delivery id, in the order received.
    accepted: Vec<serde_json::Value>,
    bad_signatures: usize,
}

/// A running receiver.
#[derive(Debug, Clone)]
pub struct Receiver {
    /// The URL to register as a webhook.
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

/// Whether `signature` (`v1=<hex>`) is the HMAC-SHA256 of `timestamp.body` under `secret`.
pub fn signature_is_valid(secret: &str, timestamp: &str, body: &[u8], signature: &str) -> bool {
    let Some(hex_sig) = signature.strip_prefix("v1=") else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_sig) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// Whether `signatures` (`webhook-signature`: space-separated `v1,<base64>`) holds the Standard
/// Webhooks HMAC-SHA256 of `id.timestamp.body` under `secret`, and `timestamp` is the one Coupler's
/// own header carries.
pub fn standard_signature_is_valid(secret: &str, id: &str, timestamp: &str, body: &[u8], signatures: &str) -> bool {
    use base64::Engine;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected = mac.finalize().into_bytes();
    signatures.split(' ').any(|signature| {
        signature
            .strip_prefix("v1,")
            .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
            .is_some_and(|given| given.as_slice() == expected.as_slice())
    })
}

impl Receiver {
    /// Starts a receiver that verifies signatures with `secret`.
    pub async fn start(secret: &str, mode: Mode) -> Self {
        Self::start_on("127.0.0.1:0", secret, mode).await
    }

    /// Starts a receiver on `addr`.
    pub async fn start_on(addr: &str, secret: &str, mode: Mode) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            secret: secret.to_owned(),
            mode,
            requests: Vec::new(),
            accepted_ids: HashSet::new(),
            accepted: Vec::new(),
            bad_signatures: 0,
        }));
        let listener = TcpListener::bind(addr).await.expect("bind receiver");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let app = Router::new().route("/hook", post(receive)).with_state(inner.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, inner }
    }

    /// Changes what the receiver does next.
    pub fn set_mode(&self, mode: Mode) {
        self.inner.lock().expect("lock").mode = mode;
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Received> {
        self.inner.lock().expect("lock").requests.clone()
    }

    /// The events accepted, each delivery counted once.
    pub fn accepted(&self) -> Vec<serde_json::Value> {
        self.inner.lock().expect("lock").accepted.clone()
    }

    /// Requests whose signature did not verify.
    pub fn bad_signatures(&self) -> usize {
        self.inner.lock().expect("lock").bad_signatures
    }

    /// Waits (up to a generous deadline) until `ready` holds for the accepted events.
    pub async fn wait_until(&self, what: &str, ready: impl Fn(&[serde_json::Value]) -> bool) -> Vec<serde_json::Value> {
        let deadline = tokio::time::Instant::now() + crate::PATIENCE;
        loop {
            let accepted = self.accepted();
            if ready(&accepted) {
                return accepted;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "receiver never got {what}; accepted: {accepted:?}; requests: {:?}",
                self.requests()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the receiver got at least `n` requests (answered or not).
    pub async fn wait_for_requests(&self, n: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + crate::PATIENCE;
        loop {
            let requests = self.requests();
            if requests.len() >= n {
                return requests;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} requests arrived",
                requests.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn receive(State(inner): State<Arc<Mutex<Inner>>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (delivery_id, timestamp, signature) = (
        header("coupler-delivery-id"),
        header("coupler-timestamp"),
        header("coupler-signature"),
    );
    let events: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap_or_default();
    let mode = {
        let mut inner = inner.lock().expect("lock");
        let standard_valid = header("webhook-id") == delivery_id
            && header("webhook-timestamp") == timestamp
            && standard_signature_is_valid(
                &inner.secret,
                &delivery_id,
                &timestamp,
                &body,
                &header("webhook-signature"),
            );
        if !signature_is_valid(&inner.secret, &timestamp, &body, &signature) || !standard_valid {
            inner.bad_signatures += 1;
            inner.requests.push(Received {
                delivery_id,
                events,
                status: 401,
            });
            return StatusCode::UNAUTHORIZED;
        }
        let mode = inner.mode;
        let status = match mode {
            Mode::Accept => 200,
            Mode::FailNext(_) => 500,
            Mode::AlwaysFail => 503,
            Mode::Hang => 0,
        };
        if let Mode::FailNext(n) = mode {
            inner.mode = if n <= 1 { Mode::Accept } else { Mode::FailNext(n - 1) };
        }
        if status == 200 && inner.accepted_ids.insert(delivery_id.clone()) {
            inner.accepted.extend(events.iter().cloned());
        }
        inner.requests.push(Received {
            delivery_id,
            events,
            status,
        });
        mode
    };
    match mode {
        Mode::Accept => StatusCode::OK,
        Mode::FailNext(_) => StatusCode::INTERNAL_SERVER_ERROR,
        Mode::AlwaysFail => StatusCode::SERVICE_UNAVAILABLE,
        Mode::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::OK
        }
    }
}
