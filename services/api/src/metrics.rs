//! Operational metrics, exposed at `/metrics` in the Prometheus text format.
//!
//! Every crate records through the `metrics` facade (`metrics::counter!(..)` one-liners where the
//! thing happens); this module installs the process-wide Prometheus recorder
//! (`metrics-exporter-prometheus`) once, samples what is read rather than counted (the database
//! pool, the webhook backlog, process CPU and memory) at each scrape, and renders the text.
//!
//! Families (all prefixed `coupler_`):
//! - `http_requests_total{method,route,status}`, `http_request_duration_seconds{method,route}`
//! - `ocpp_connected_chargers{ocpp_version}`; `ocpp_messages_total{direction,action,outcome}`;
//!   `ocpp_message_duration_seconds{action,outcome}` (inbound calls, until answered)
//! - `actions_created_total{kind,target}`; `actions_settled_total{kind,route,outcome}` (route: the
//!   device that carried it out, `vehicle`, `charger` or `none`)
//! - `webhook_requests_total{outcome}`, `webhook_request_duration_seconds{outcome}`,
//!   `webhook_delivery_age_seconds` (from a batch formed to accepted); `events_unpublished`,
//!   `webhook_events_undelivered`, `webhook_deliveries_pending`
//! - `vehicle_polls_total{vendor,outcome}`; `vendor_requests_total{status_class}`,
//!   `vendor_request_duration_seconds`, `vendor_rate_limited_total`
//! - `db_pool_connections{state}`, `db_pool_max_connections`
//! - `auth_failures_total{endpoint}`, `rate_limited_total{limit}`
//! - process metrics (`process_cpu_seconds_total`, `process_resident_memory_bytes`, open file
//!   descriptors, threads) from `metrics-process`
//!
//! Routes are labelled by their template (`/users/{userId}`), never by the concrete path, and OCPP
//! actions only by names the gateway knows, so the number of series stays bounded whatever callers
//! send. The recorder is global to the process: several servers in one process (tests) share it.

use std::sync::OnceLock;
use std::time::Duration;

use ::metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit};
use coupler_core::Store;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 30.0, 300.0,
];

struct Installed {
    handle: PrometheusHandle,
    process: metrics_process::Collector,
}

/// The process-wide recorder, installed on first use.
fn installed() -> &'static Installed {
    static INSTALLED: OnceLock<Installed> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let builder = PrometheusBuilder::new();
        let builder = match builder.set_buckets(&BUCKETS) {
            Ok(builder) => builder,
            // Only an empty bucket list fails; the list above is not empty.
            Err(e) => {
                tracing::error!(error = %e, "cannot set histogram buckets");
                PrometheusBuilder::new()
            }
        };
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if ::metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed; /metrics shows only what this one sees");
        }
        describe();
        let process = metrics_process::Collector::new("coupler_");
        process.describe();
        Installed { handle, process }
    })
}

fn describe() {
    describe_counter!(
        "coupler_http_requests_total",
        "HTTP requests answered, by method, route and status."
    );
    describe_histogram!(
        "coupler_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer HTTP requests, by method and route."
    );
    describe_gauge!(
        "coupler_ocpp_connected_chargers",
        "Chargers connected over OCPP, by OCPP version."
    );
    describe_counter!(
        "coupler_ocpp_messages_total",
        "OCPP messages: calls from chargers (inbound) and answers to Coupler's calls (outbound), by action and outcome."
    );
    describe_histogram!(
        "coupler_ocpp_message_duration_seconds",
        Unit::Seconds,
        "Time to handle a charger's call and answer it, by action and outcome."
    );
    describe_counter!(
        "coupler_actions_created_total",
        "Actions asked for, by kind and target."
    );
    describe_counter!(
        "coupler_actions_settled_total",
        "Actions settled, by kind, the device that carried them out (route) and outcome."
    );
    describe_counter!("coupler_webhook_requests_total", "Webhook requests sent, by outcome.");
    describe_histogram!(
        "coupler_webhook_request_duration_seconds",
        Unit::Seconds,
        "Time for a webhook receiver to answer."
    );
    describe_histogram!(
        "coupler_webhook_delivery_age_seconds",
        Unit::Seconds,
        "Time from a batch being formed to its receiver accepting it."
    );
    describe_gauge!(
        "coupler_events_unpublished",
        "Events written but not yet published by the relay."
    );
    describe_gauge!(
        "coupler_webhook_events_undelivered",
        "Published events active webhooks have not been given yet, summed over webhooks."
    );
    describe_gauge!(
        "coupler_webhook_deliveries_pending",
        "Webhook deliveries waiting for a retry."
    );
    describe_counter!("coupler_vehicle_polls_total", "Vehicle polls, by vendor and outcome.");
    describe_counter!(
        "coupler_vendor_requests_total",
        "Requests to vendors' clouds, by status class (2xx, 4xx, 429, 5xx, transport)."
    );
    describe_histogram!(
        "coupler_vendor_request_duration_seconds",
        Unit::Seconds,
        "Time for a vendor's cloud to answer."
    );
    describe_gauge!(
        "coupler_db_pool_connections",
        "Database connections, by state (idle, in_use)."
    );
    describe_gauge!(
        "coupler_db_pool_max_connections",
        "The most database connections the pool opens."
    );
    describe_counter!(
        "coupler_auth_failures_total",
        "Failed authentications (wrong client secret, bad bearer token), by endpoint."
    );
    describe_counter!(
        "coupler_rate_limited_total",
        "Requests refused by a rate limit, by limit."
    );
}

/// The metrics of one Coupler process, who may read them, and where.
pub struct Metrics {
    /// The bearer token `/metrics` requires, if any; never shown.
    token: Option<String>,
    /// `/metrics` is served on a listener of its own, and not on the API listener.
    own_listener: bool,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("token", &self.token.as_ref().map(|_| "(set)"))
            .field("own_listener", &self.own_listener)
            .finish()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(None)
    }
}

impl Metrics {
    /// Metrics readable by anyone who reaches `/metrics`, or, with `token`, only by requests that
    /// carry `Authorization: Bearer <token>`.
    pub fn new(token: Option<String>) -> Self {
        installed();
        Self {
            token: token.filter(|t| !t.is_empty()),
            own_listener: false,
        }
    }

    /// The same metrics, served on a listener of their own ([`crate::metrics_router`]): the API
    /// listener then answers `/metrics` with 404, as any unknown route.
    pub fn on_own_listener(self) -> Self {
        Self {
            own_listener: true,
            ..self
        }
    }

    /// Whether `/metrics` is served on a listener of its own rather than the API's.
    pub fn has_own_listener(&self) -> bool {
        self.own_listener
    }

    /// Whether a request with this `Authorization` header value may read the metrics.
    pub fn allows(&self, authorization: Option<&str>) -> bool {
        let Some(token) = &self.token else { return true };
        let given = authorization
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim());
        given.is_some_and(|given| {
            use subtle::ConstantTimeEq;
            given.as_bytes().ct_eq(token.as_bytes()).into()
        })
    }

    /// Records one answered request.
    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let method = method.to_owned();
        let route = route.to_owned();
        counter!("coupler_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status.to_string())
            .increment(1);
        histogram!("coupler_http_request_duration_seconds", "method" => method, "route" => route)
            .record(elapsed.as_secs_f64());
    }

    /// Samples what is read rather than counted, then renders every family in the Prometheus text
    /// format.
    pub async fn render(&self, store: &dyn Store) -> String {
        let installed = installed();
        let pool = store.pool_usage();
        gauge!("coupler_db_pool_connections", "state" => "idle").set(f64::from(pool.idle));
        gauge!("coupler_db_pool_connections", "state" => "in_use").set(f64::from(pool.open.saturating_sub(pool.idle)));
        gauge!("coupler_db_pool_max_connections").set(f64::from(pool.max));
        match store.backlog().await {
            Ok(backlog) => {
                // Counts far below 2^52 convert exactly.
                gauge!("coupler_events_unpublished").set(backlog.unpublished_events as f64);
                gauge!("coupler_webhook_events_undelivered").set(backlog.undelivered_events as f64);
                gauge!("coupler_webhook_deliveries_pending").set(backlog.pending_deliveries as f64);
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the webhook backlog for /metrics"),
        }
        installed.process.collect();
        installed.handle.run_upkeep();
        installed.handle.render()
    }
}

/// Counts an action event the relay publishes: a new action (its first event names only `state`)
/// or a settled one (a state change to a final state). `action` is the action as published.
pub(crate) fn action_event(updated_fields: &[String], action: &serde_json::Value) {
    let text = |field: &str| action[field].as_str().unwrap_or("unknown").to_owned();
    if updated_fields == ["state"] {
        counter!("coupler_actions_created_total", "kind" => text("kind"), "target" => text("targetType")).increment(1);
        return;
    }
    let state = text("state");
    if updated_fields.iter().any(|f| f == "completedAt") && state != "PENDING" {
        let route = action["attempts"]
            .as_array()
            .and_then(|attempts| attempts.last())
            .and_then(|attempt| attempt["via"].as_str())
            .unwrap_or("none")
            .to_owned();
        counter!("coupler_actions_settled_total", "kind" => text("kind"), "route" => route, "outcome" => state)
            .increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_guards_the_metrics_only_when_one_is_set() {
        assert!(Metrics::new(None).allows(None));
        let guarded = Metrics::new(Some("s3cret".into()));
        assert!(!guarded.allows(None));
        assert!(!guarded.allows(Some("Bearer nope")));
        assert!(guarded.allows(Some("Bearer s3cret")));
        assert!(guarded.allows(Some("bearer s3cret")));
        assert!(!format!("{guarded:?}").contains("s3cret"), "the token is never shown");
    }
}
