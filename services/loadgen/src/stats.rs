//! What the run measures, shared by every charger task.
//!
//! Counters are relaxed atomics: each is an independent tally read only for reports, so
//! no ordering between them is needed. Latencies go into HDR histograms behind a mutex
//! that is held for one `record` call and never across an `.await`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use coupler_ocpp::v16::Action;
use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency the histograms hold, in microseconds (one hour); longer ones are
/// recorded as this value rather than dropped.
const MAX_LATENCY_MICROS: u64 = 3_600_000_000;

/// How many distinct error messages a log keeps; the rest are only counted.
pub const KEPT_ERRORS: usize = 5;

/// Longest error message kept, in characters (a server may send anything).
const MAX_ERROR_CHARS: usize = 300;

/// Locks a mutex, carrying on with the data if another task panicked while holding it:
/// a statistic is still worth reporting.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An empty latency histogram in microseconds, 3 significant figures.
pub fn new_histogram() -> Histogram<u64> {
    // The bounds are constants hdrhistogram accepts, so this cannot fail at run time.
    Histogram::new_with_bounds(1, MAX_LATENCY_MICROS, 3).expect("valid histogram bounds")
}

/// Records `latency` in a histogram of microseconds.
pub fn record(histogram: &mut Histogram<u64>, latency: Duration) {
    let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    histogram.saturating_record(micros.clamp(1, MAX_LATENCY_MICROS));
}

/// Percentiles of a latency histogram, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Number of samples.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest sample.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

impl LatencySummary {
    /// The summary of a histogram of microseconds; `None` when it holds no samples.
    pub fn of(histogram: &Histogram<u64>) -> Option<Self> {
        if histogram.is_empty() {
            return None;
        }
        // Microseconds to milliseconds, keeping microsecond resolution.
        let ms = |micros: f64| micros.round() / 1000.0;
        let at = |q: f64| ms(histogram.value_at_quantile(q) as f64);
        Some(Self {
            count: histogram.len(),
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: ms(histogram.max() as f64),
            mean: ms(histogram.mean()),
        })
    }
}

/// The first few distinct error messages of one kind (the counters say how many errors
/// there were).
#[derive(Debug, Default)]
pub struct ErrorLog {
    distinct: Mutex<Vec<String>>,
}

impl ErrorLog {
    /// Keeps an error message if it is one of the first distinct ones.
    pub fn note(&self, message: &str) {
        let mut distinct = lock(&self.distinct);
        if distinct.len() >= KEPT_ERRORS {
            return;
        }
        let message: String = message.chars().take(MAX_ERROR_CHARS).collect();
        if !distinct.contains(&message) {
            distinct.push(message);
        }
    }

    /// The distinct messages kept, oldest first.
    pub fn messages(&self) -> Vec<String> {
        lock(&self.distinct).clone()
    }
}

/// Number of slots in an [`ActionCounts`]: every typed 1.6 action, and one for the rest.
const ACTION_SLOTS: usize = Action::ALL.len() + 1;

/// Messages counted per OCPP action. Names a peer makes up share one "other" slot, so a
/// misbehaving server cannot grow this without bound.
#[derive(Debug)]
pub struct ActionCounts {
    slots: [AtomicU64; ACTION_SLOTS],
}

impl Default for ActionCounts {
    fn default() -> Self {
        Self {
            slots: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl ActionCounts {
    /// The slot name of everything that is not a typed 1.6 action.
    pub const OTHER: &'static str = "other";

    /// Counts one message of `action` (any name).
    pub fn add(&self, action: &str) {
        let slot = Action::ALL
            .iter()
            .position(|a| a.as_str() == action)
            .unwrap_or(Action::ALL.len());
        if let Some(counter) = self.slots.get(slot) {
            counter.fetch_add(1, Relaxed);
        }
    }

    /// The non-zero counts by action name.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        let names = Action::ALL.iter().map(|a| a.as_str()).chain([Self::OTHER]);
        names
            .zip(&self.slots)
            .map(|(name, count)| (name.to_owned(), count.load(Relaxed)))
            .filter(|(_, count)| *count > 0)
            .collect()
    }
}

/// Defines the run's counters once: the struct of atomics and a plain snapshot of them.
macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident,)+) => {
        /// Every tally of the run, updated by the charger tasks.
        #[derive(Debug, Default)]
        pub struct Counters {
            $($(#[$doc])* pub $name: AtomicU64,)+
        }

        /// The counters at one moment.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct CounterSnapshot {
            $($(#[$doc])* pub $name: u64,)+
        }

        impl Counters {
            /// Reads every counter.
            pub fn snapshot(&self) -> CounterSnapshot {
                CounterSnapshot { $($name: self.$name.load(Relaxed),)+ }
            }
        }
    };
}

counters! {
    /// WebSocket connections opened (handshake completed).
    established,
    /// Connection attempts that failed (refused, HTTP error on upgrade, timeout, ...).
    failed,
    /// Connections open now.
    held,
    /// Most connections open at once.
    peak_held,
    /// Chargers connected whose boot was accepted, now.
    up,
    /// Open connections that the server or the network closed.
    disconnects,
    /// BootNotifications answered `Accepted`.
    boots_accepted,
    /// BootNotifications answered `Pending` or `Rejected`.
    boots_not_accepted,
    /// CALLs sent by the chargers.
    calls_sent,
    /// Of those, answered with a valid CALLRESULT.
    calls_answered,
    /// Of those, answered with a CALLERROR.
    call_errors,
    /// Of those, not answered within the call timeout.
    timeouts,
    /// Of those, answered with a CALLRESULT whose payload breaks the 1.6 schema.
    invalid_responses,
    /// Of those, still unanswered when the connection dropped.
    lost_on_disconnect,
    /// Responses that match no outstanding call (late after a timeout, or made up).
    unexpected_responses,
    /// Periodic messages not queued because the previous one was still waiting.
    skipped,
    /// CALLs received from the server.
    incoming_calls,
    /// Of those, answered with a CALLRESULT.
    incoming_answered,
    /// Of those, answered with a CALLERROR (unknown action, invalid payload, ...).
    incoming_refused,
    /// Messages from the server that are not OCPP-J frames (broken JSON, binary, ...).
    protocol_errors,
    /// StartTransactions answered with a transaction id.
    transactions_started,
    /// StopTransactions answered.
    transactions_stopped,
    /// StartTransactions that failed or whose id tag was not accepted.
    transactions_refused,
}

/// Latency histograms: the whole run, and the current progress interval.
#[derive(Debug)]
struct Latencies {
    total: Histogram<u64>,
    interval: Histogram<u64>,
}

/// Everything measured during a run.
#[derive(Debug)]
pub struct Stats {
    /// The tallies.
    pub counters: Counters,
    /// CALLs sent, by action.
    pub sent_by_action: ActionCounts,
    /// CALLs received from the server, by action.
    pub incoming_by_action: ActionCounts,
    /// Why connections failed or dropped.
    pub connection_errors: ErrorLog,
    /// CALLERRORs, timeouts and invalid answers to our calls.
    pub call_error_log: ErrorLog,
    /// Server CALLs refused and broken frames from the server.
    pub incoming_error_log: ErrorLog,
    latencies: Mutex<Latencies>,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            counters: Counters::default(),
            sent_by_action: ActionCounts::default(),
            incoming_by_action: ActionCounts::default(),
            connection_errors: ErrorLog::default(),
            call_error_log: ErrorLog::default(),
            incoming_error_log: ErrorLog::default(),
            latencies: Mutex::new(Latencies {
                total: new_histogram(),
                interval: new_histogram(),
            }),
        }
    }
}

impl Stats {
    /// Records the latency of one answered call.
    pub fn record_latency(&self, latency: Duration) {
        let mut latencies = lock(&self.latencies);
        record(&mut latencies.total, latency);
        record(&mut latencies.interval, latency);
    }

    /// Percentiles over the whole run.
    pub fn latency(&self) -> Option<LatencySummary> {
        LatencySummary::of(&lock(&self.latencies).total)
    }

    /// Percentiles since the previous call, and starts a new interval.
    pub fn take_interval_latency(&self) -> Option<LatencySummary> {
        let mut latencies = lock(&self.latencies);
        let summary = LatencySummary::of(&latencies.interval);
        latencies.interval.reset();
        summary
    }

    /// Counts a connection opened.
    pub fn connection_opened(&self) {
        self.counters.established.fetch_add(1, Relaxed);
        let held = self.counters.held.fetch_add(1, Relaxed) + 1;
        self.counters.peak_held.fetch_max(held, Relaxed);
    }

    /// Counts a connection closed (by either side).
    pub fn connection_closed(&self) {
        // Saturating: a miscount must not wrap to 2^64 in the report.
        let _ = self
            .counters
            .held
            .fetch_update(Relaxed, Relaxed, |held| Some(held.saturating_sub(1)));
    }

    /// Counts a charger up (connected, boot accepted) or down.
    pub fn set_up(&self, was_up: bool, is_up: bool) {
        match (was_up, is_up) {
            (false, true) => {
                self.counters.up.fetch_add(1, Relaxed);
            }
            (true, false) => {
                let _ = self
                    .counters
                    .up
                    .fetch_update(Relaxed, Relaxed, |up| Some(up.saturating_sub(1)));
            }
            _ => {}
        }
    }

    /// Adds one to a counter.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_reported_in_milliseconds() {
        let mut histogram = new_histogram();
        for ms in 1..=100 {
            record(&mut histogram, Duration::from_millis(ms));
        }
        let summary = LatencySummary::of(&histogram).unwrap();
        assert_eq!(summary.count, 100);
        // 3 significant figures: each value is within 0.1 % of the exact one.
        for (got, want) in [
            (summary.p50, 50.0),
            (summary.p90, 90.0),
            (summary.p99, 99.0),
            (summary.max, 100.0),
        ] {
            assert!((got - want).abs() <= want * 0.001, "{got} vs {want}");
        }
        assert!((summary.mean - 50.5).abs() < 0.1, "{}", summary.mean);
    }

    #[test]
    fn an_empty_histogram_has_no_percentiles() {
        assert_eq!(LatencySummary::of(&new_histogram()), None);
    }

    #[test]
    fn sub_microsecond_and_huge_latencies_are_clamped_not_lost() {
        let mut histogram = new_histogram();
        record(&mut histogram, Duration::from_nanos(10));
        record(&mut histogram, Duration::from_secs(100_000));
        let summary = LatencySummary::of(&histogram).unwrap();
        assert_eq!(summary.count, 2);
        assert!(summary.max >= 3_599_000.0);
    }

    #[test]
    fn the_interval_latency_starts_afresh_after_each_report() {
        let stats = Stats::default();
        stats.record_latency(Duration::from_millis(5));
        assert_eq!(stats.take_interval_latency().map(|s| s.count), Some(1));
        assert_eq!(stats.take_interval_latency(), None);
        assert_eq!(stats.latency().map(|s| s.count), Some(1), "the run total is kept");
    }

    #[test]
    fn the_error_log_keeps_the_first_distinct_messages() {
        let log = ErrorLog::default();
        for i in 0..20 {
            log.note(&format!("error {}", i % 7));
        }
        assert_eq!(log.messages(), ["error 0", "error 1", "error 2", "error 3", "error 4"]);
    }

    #[test]
    fn a_huge_error_message_is_cut() {
        let log = ErrorLog::default();
        log.note(&"x".repeat(10_000));
        assert_eq!(log.messages()[0].len(), MAX_ERROR_CHARS);
    }

    #[test]
    fn actions_a_server_makes_up_are_counted_together() {
        let counts = ActionCounts::default();
        counts.add("Heartbeat");
        counts.add("Heartbeat");
        counts.add("Bogus1");
        counts.add("Bogus2");
        let snapshot = counts.snapshot();
        assert_eq!(snapshot.get("Heartbeat"), Some(&2));
        assert_eq!(snapshot.get(ActionCounts::OTHER), Some(&2));
        assert_eq!(snapshot.len(), 2, "zero counts are left out");
    }

    #[test]
    fn held_connections_track_the_peak_and_never_go_negative() {
        let stats = Stats::default();
        stats.connection_opened();
        stats.connection_opened();
        stats.connection_closed();
        stats.connection_closed();
        stats.connection_closed();
        let counters = stats.counters.snapshot();
        assert_eq!((counters.established, counters.held, counters.peak_held), (2, 0, 2));
    }
}
