//! Request counts and latency histograms per route, exposed at `/metrics` in the Prometheus text
//! format (version 0.0.4).
//!
//! Routes are labelled by their template (`/users/{userId}`), never by the concrete path, so the
//! number of series stays bounded whatever callers send.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

#[derive(Debug, Default)]
struct Histogram {
    /// Count of observations at or under each bound (cumulative when rendered).
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Debug, Default)]
struct Series {
    /// (method, route, status) → requests.
    requests: BTreeMap<(String, String, u16), u64>,
    /// (method, route) → latency.
    latency: BTreeMap<(String, String), Histogram>,
}

/// The HTTP metrics of one Coupler process.
#[derive(Debug, Default)]
pub struct Metrics {
    series: Mutex<Series>,
}

impl Metrics {
    /// Records one answered request.
    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        // A poisoned lock only means another thread panicked mid-update; the counts are still usable.
        let mut series = self.series.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *series
            .requests
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
        let histogram = series.latency.entry((method.to_owned(), route.to_owned())).or_default();
        if let Some(index) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            histogram.buckets[index] += 1;
        }
        histogram.sum += seconds;
        histogram.count += 1;
    }

    /// The metrics in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let series = self.series.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut out = String::new();
        out.push_str("# HELP coupler_http_requests_total HTTP requests answered, by method, route and status.\n");
        out.push_str("# TYPE coupler_http_requests_total counter\n");
        for ((method, route, status), count) in &series.requests {
            let _ = writeln!(
                out,
                "coupler_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {count}",
                escape(route)
            );
        }
        out.push_str(
            "# HELP coupler_http_request_duration_seconds Time to answer HTTP requests, by method and route.\n",
        );
        out.push_str("# TYPE coupler_http_request_duration_seconds histogram\n");
        for ((method, route), histogram) in &series.latency {
            let labels = format!("method=\"{method}\",route=\"{}\"", escape(route));
            let mut cumulative = 0;
            for (bound, count) in BUCKETS.iter().zip(histogram.buckets) {
                cumulative += count;
                let _ = writeln!(
                    out,
                    "coupler_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "coupler_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                histogram.count
            );
            let _ = writeln!(
                out,
                "coupler_http_request_duration_seconds_sum{{{labels}}} {}",
                histogram.sum
            );
            let _ = writeln!(
                out,
                "coupler_http_request_duration_seconds_count{{{labels}}} {}",
                histogram.count
            );
        }
        out
    }
}

/// Escapes a label value as the text format requires.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_per_route_and_status_with_cumulative_buckets() {
        let metrics = Metrics::default();
        metrics.observe("GET", "/users", 200, Duration::from_millis(3));
        metrics.observe("GET", "/users", 200, Duration::from_millis(30));
        metrics.observe("GET", "/users", 401, Duration::from_secs(10));
        let text = metrics.render();
        assert!(text.contains("coupler_http_requests_total{method=\"GET\",route=\"/users\",status=\"200\"} 2"));
        assert!(text.contains("coupler_http_requests_total{method=\"GET\",route=\"/users\",status=\"401\"} 1"));
        assert!(text
            .contains("coupler_http_request_duration_seconds_bucket{method=\"GET\",route=\"/users\",le=\"0.005\"} 1"));
        assert!(text
            .contains("coupler_http_request_duration_seconds_bucket{method=\"GET\",route=\"/users\",le=\"0.05\"} 2"));
        assert!(text
            .contains("coupler_http_request_duration_seconds_bucket{method=\"GET\",route=\"/users\",le=\"+Inf\"} 3"));
        assert!(text.contains("coupler_http_request_duration_seconds_count{method=\"GET\",route=\"/users\"} 3"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
