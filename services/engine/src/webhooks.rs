//! Webhook delivery: batches of published events, signed, POSTed, retried with back-off.
//!
//! The worker claims webhooks that have work from the database (a lease per webhook), so a restart or
//! a second node picks up where the last left off. Each claimed webhook is served by its own task with
//! at most one request in flight: a batch is retried until it is accepted or given up before the next
//! one is formed, so no later event of an asset ever overtakes an earlier one, and a slow or dead
//! receiver delays nobody but itself.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use coupler_core::clock::Clock;
use coupler_core::event::{
    check_webhook_url, sign, sign_standard, AttemptOutcome, Delivery, Event, RetryPolicy, Webhook,
};
use coupler_core::secret::Cipher;
use coupler_core::store::AfterAttempt;
use coupler_core::{Store, StoreError};
use coupler_tasks::Tasks;
use rand::Rng;
use tokio::sync::Semaphore;

/// Header carrying the signature (`v1=<hex HMAC-SHA256>`).
pub const SIGNATURE_HEADER: &str = "Coupler-Signature";
/// Header carrying the Unix time (seconds) the request was signed at.
pub const TIMESTAMP_HEADER: &str = "Coupler-Timestamp";
/// Header carrying the delivery id, the same on every retry of a batch.
pub const DELIVERY_HEADER: &str = "Coupler-Delivery-Id";

/// How webhooks are delivered.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Whether URLs may point at loopback or private addresses (`COUPLER_WEBHOOK_ALLOW_PRIVATE`).
    pub allow_private: bool,
    /// When failed batches are retried and when Coupler gives up.
    pub retry: RetryPolicy,
    /// How long one request may take.
    pub timeout: Duration,
    /// The most events in one batch.
    pub batch_size: u32,
    /// How often the worker looks for work.
    pub tick: Duration,
    /// The most webhooks served at once by this node.
    pub concurrency: usize,
    /// How long a node holds a webhook it serves, renewed before each attempt; another node (or
    /// this one after a crash) may take it once it runs out. Longer than `timeout`.
    pub lease: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            allow_private: false,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(5),
            batch_size: 100,
            tick: Duration::from_millis(250),
            concurrency: 64,
            lease: Duration::from_secs(15),
        }
    }
}

/// Sends one signed request to a webhook URL.
#[derive(Debug, Clone)]
pub struct WebhookSender {
    http: reqwest::Client,
    allow_private: bool,
}

impl WebhookSender {
    /// A sender with `config`'s timeout and address rules.
    pub fn new(config: &WebhookConfig) -> Result<Self, reqwest::Error> {
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Coupler-Webhooks/", env!("CARGO_PKG_VERSION")));
        if !config.allow_private {
            builder = builder.dns_resolver(Arc::new(coupler_adapter_http::PublicOnlyResolver));
        }
        Ok(Self {
            http: builder.build()?,
            allow_private: config.allow_private,
        })
    }

    /// Whether URLs may point at private addresses.
    pub fn allows_private(&self) -> bool {
        self.allow_private
    }

    /// POSTs `body` to `url`, signed with `secret`, as delivery `delivery_id`. Never fails: what went
    /// wrong is in the outcome.
    pub async fn send(&self, url: &str, secret: &str, delivery_id: &str, body: Vec<u8>) -> AttemptOutcome {
        let started = Instant::now();
        // Checked again here: the rules may have changed since the webhook was stored, and an
        // address literal never passes through the resolver.
        if let Err(e) = check_webhook_url(url, self.allow_private) {
            return AttemptOutcome {
                status: None,
                error: Some(e.to_string()),
                duration: started.elapsed(),
                succeeded: false,
            };
        }
        let timestamp = Utc::now().timestamp();
        let signature = sign(secret, timestamp, &body);
        let result = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(DELIVERY_HEADER, delivery_id)
            .header("webhook-id", delivery_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                sign_standard(secret, delivery_id, timestamp, &body),
            )
            .body(body)
            .send()
            .await;
        let duration = started.elapsed();
        let outcome_label = match &result {
            Ok(r) if r.status().is_success() => "accepted",
            Ok(_) => "refused",
            Err(_) => "unreachable",
        };
        metrics::counter!("coupler_webhook_requests_total", "outcome" => outcome_label).increment(1);
        metrics::histogram!("coupler_webhook_request_duration_seconds", "outcome" => outcome_label)
            .record(duration.as_secs_f64());
        match result {
            Ok(response) => {
                let status = response.status();
                AttemptOutcome {
                    status: Some(status.as_u16()),
                    error: (!status.is_success()).then(|| format!("the receiver answered {status}")),
                    duration,
                    succeeded: status.is_success(),
                }
            }
            Err(e) => AttemptOutcome {
                status: None,
                error: Some(describe(&e)),
                duration,
                succeeded: false,
            },
        }
    }
}

/// A request error in words a receiver's owner can act on, with its causes.
fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut text = what.to_owned();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The JSON body of a batch: an array of event payloads.
pub fn batch_body(events: &[Event]) -> Vec<u8> {
    let payloads: Vec<serde_json::Value> = events.iter().map(Event::payload).collect();
    serde_json::to_vec(&payloads).unwrap_or_else(|_| b"[]".to_vec())
}

/// Starts the delivery worker on `tasks`; it stops when they stop, after requests in flight end.
/// Delivery times and retries follow `clock`; signatures carry the wall-clock time receivers check.
pub fn spawn(
    store: Arc<dyn Store>,
    cipher: Cipher,
    sender: WebhookSender,
    config: WebhookConfig,
    clock: Arc<dyn Clock>,
    tasks: &Tasks,
) {
    tasks.spawn(
        "webhook delivery",
        run(store, cipher, sender, config, clock, tasks.clone()),
    );
}

async fn run(
    store: Arc<dyn Store>,
    cipher: Cipher,
    sender: WebhookSender,
    config: WebhookConfig,
    clock: Arc<dyn Clock>,
    tasks: Tasks,
) {
    let slots = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let mut tick = tokio::time::interval(config.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tasks.stopping() => break,
            _ = tick.tick() => {}
        }
        let free = u32::try_from(slots.available_permits()).unwrap_or(u32::MAX);
        if free == 0 {
            continue;
        }
        let now = clock.now();
        let lease_until = now + clock.span_of(config.lease);
        let claimed = match store.claim_webhooks(now, lease_until, free).await {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::warn!(error = %e, "could not look for webhook work");
                continue;
            }
        };
        for webhook in claimed {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                break;
            };
            let (store, cipher, sender, config, clock) = (
                store.clone(),
                cipher.clone(),
                sender.clone(),
                config.clone(),
                clock.clone(),
            );
            // Tracked by the server's tasks: shutdown waits for requests in flight (each within the
            // timeout), whose outcome is stored.
            tasks.spawn("webhook batch", async move {
                let id = webhook.id.clone();
                if let Err(e) = serve(&*store, &cipher, &sender, &config, &*clock, webhook).await {
                    tracing::warn!(webhook = %id, error = %e, "webhook delivery stopped on a storage error");
                }
                if let Err(e) = store.release_webhook(&id).await {
                    tracing::warn!(webhook = %id, error = %e, "could not release a webhook");
                }
                drop(permit);
            });
        }
    }
}

/// Serves one claimed webhook: a due retry, else the next batches, until nothing is due. One request
/// at a time, so order holds.
#[tracing::instrument(skip_all, fields(webhook = %webhook.id))]
async fn serve(
    store: &dyn Store,
    cipher: &Cipher,
    sender: &WebhookSender,
    config: &WebhookConfig,
    clock: &dyn Clock,
    mut webhook: Webhook,
) -> Result<(), StoreError> {
    let secret = match cipher.decrypt(&webhook.secret_sealed) {
        Ok(secret) => secret,
        Err(e) => {
            tracing::error!(error = %e, "cannot decrypt a webhook secret; was COUPLER_SECRET_KEY changed?");
            return Ok(());
        }
    };
    // A bound on the batches one claim serves, so a busy webhook gives its lease back now and then.
    for _ in 0..50 {
        let now = clock.now();
        let delivery = match store.pending_delivery(&webhook.id).await? {
            Some(pending) if pending.next_attempt_at.is_some_and(|at| at <= now) => pending,
            Some(_) => return Ok(()),
            None => match store.next_delivery(&webhook, config.batch_size, now).await? {
                Some(delivery) => delivery,
                None => {
                    // Either nothing new, or only events this webhook does not want (the cursor
                    // moved past them); look again from the moved cursor.
                    match store.get_webhook(&webhook.client_id, &webhook.id).await? {
                        Some(fresh) if fresh.cursor_seq != webhook.cursor_seq && fresh.is_active => {
                            webhook = fresh;
                            continue;
                        }
                        _ => return Ok(()),
                    }
                }
            },
        };
        let lease_until = clock.now() + clock.span_of(config.lease);
        store.renew_webhook_lease(&webhook.id, lease_until).await?;
        let accepted = attempt(store, sender, config, clock, &webhook, &secret, &delivery).await?;
        if !accepted {
            return Ok(());
        }
        match store.get_webhook(&webhook.client_id, &webhook.id).await? {
            Some(fresh) if fresh.is_active => webhook = fresh,
            _ => return Ok(()),
        }
    }
    Ok(())
}

/// Makes one attempt at a delivery and records it; true when the receiver accepted it.
async fn attempt(
    store: &dyn Store,
    sender: &WebhookSender,
    config: &WebhookConfig,
    clock: &dyn Clock,
    webhook: &Webhook,
    secret: &str,
    delivery: &Delivery,
) -> Result<bool, StoreError> {
    let events = store.delivery_events(webhook, delivery).await?;
    let body = batch_body(&events);
    let outcome = sender.send(&webhook.url, secret, delivery.id.as_str(), body).await;
    let now = clock.now();
    let next = if outcome.succeeded {
        metrics::histogram!("coupler_webhook_delivery_age_seconds")
            .record((now - delivery.created_at).as_seconds_f64());
        AfterAttempt::Done
    } else if config.retry.should_retry(delivery.created_at, now) {
        let attempts = u32::try_from(delivery.attempts + 1).unwrap_or(u32::MAX);
        let jitter: f64 = rand::thread_rng().gen();
        let delay = config.retry.delay_after(attempts, jitter);
        AfterAttempt::RetryAt(now + clock.span_of(delay))
    } else {
        AfterAttempt::GiveUp
    };
    match (&next, &outcome.error) {
        (AfterAttempt::Done, _) => tracing::debug!(delivery = %delivery.id, events = events.len(), "delivered"),
        (AfterAttempt::RetryAt(at), Some(error)) => {
            tracing::info!(delivery = %delivery.id, %error, retry_at = %at, "webhook delivery failed; will retry")
        }
        (_, error) => {
            tracing::warn!(delivery = %delivery.id, error = error.as_deref(), "webhook delivery given up; webhook deactivated")
        }
    }
    store.record_attempt(&delivery.id, &outcome, next, now).await?;
    Ok(outcome.succeeded)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use reqwest::dns::Resolve;

    use super::*;

    #[tokio::test]
    async fn a_name_that_resolves_only_to_internal_addresses_is_refused_at_delivery() {
        let resolved = coupler_adapter_http::PublicOnlyResolver
            .resolve(reqwest::dns::Name::from_str("localhost").expect("a name"))
            .await;
        let error = resolved.err().expect("localhost resolves only to loopback").to_string();
        assert!(error.contains("private or loopback"), "{error}");
    }

    #[tokio::test]
    async fn an_internal_address_is_refused_at_delivery_when_the_rules_do_not_allow_it() {
        let sender = WebhookSender::new(&WebhookConfig::default()).expect("client");
        let outcome = sender
            .send("http://127.0.0.1:9/hook", "secret", "delivery", b"[]".to_vec())
            .await;
        assert!(!outcome.succeeded);
        assert_eq!(outcome.status, None);
        assert!(outcome.error.expect("a reason").contains("private or loopback"));
    }

    #[test]
    fn a_batch_body_is_a_json_array_of_event_payloads() {
        assert_eq!(batch_body(&[]), b"[]");
    }
}
