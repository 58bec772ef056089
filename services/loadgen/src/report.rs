//! The final report (text or JSON) and the progress line printed while the run goes on.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::commands::CommandReport;
use crate::stats::{CounterSnapshot, LatencySummary, Stats};

/// What the run was asked to do.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Scenario {
    /// Seconds between Heartbeats (0: none).
    pub heartbeat_interval_seconds: f64,
    /// Seconds between MeterValues (0: none).
    pub meter_interval_seconds: f64,
    /// Seconds over which connections were spread.
    pub ramp_seconds: f64,
    /// Seconds the load was meant to run.
    pub duration_seconds: f64,
    /// Whether every charger ran a transaction.
    pub transactions: bool,
    /// Seconds a transaction lasts.
    pub transaction_duration_seconds: f64,
}

/// How the chargers' credentials were obtained.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationReport {
    /// Taken from the credentials file.
    pub reused: usize,
    /// Registered through the REST API in this run.
    pub registered: usize,
    /// Registrations that failed (those chargers did not take part).
    pub failed: usize,
    /// Time spent registering.
    pub seconds: f64,
    /// The first distinct registration errors.
    pub errors: Vec<String>,
}

/// The WebSocket connections.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionReport {
    /// Connections opened (including reconnects).
    pub established: u64,
    /// Connections open when the load phase ended.
    pub held_at_end: u64,
    /// Most connections open at once.
    pub peak_held: u64,
    /// Connection attempts that failed.
    pub failed: u64,
    /// Open connections the server or network closed.
    pub disconnects: u64,
    /// BootNotifications accepted.
    pub boots_accepted: u64,
    /// BootNotifications answered Pending or Rejected.
    pub boots_not_accepted: u64,
    /// The first distinct connection errors.
    pub errors: Vec<String>,
}

/// The chargers' own CALLs.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallReport {
    /// CALLs sent.
    pub sent: u64,
    /// CALLs sent per second during the load phase.
    pub sent_per_second: f64,
    /// Valid CALLRESULTs received.
    pub answered: u64,
    /// CALLRESULTs per second during the load phase.
    pub answered_per_second: f64,
    /// CALLERRORs received.
    pub call_errors: u64,
    /// Calls without an answer within the call timeout.
    pub timeouts: u64,
    /// CALLRESULTs that break the 1.6 schema, and broken frames answering a call.
    pub invalid_responses: u64,
    /// Responses matching no outstanding call.
    pub unexpected_responses: u64,
    /// Calls outstanding when their connection dropped.
    pub lost_on_disconnect: u64,
    /// Periodic messages skipped because the previous one was still waiting.
    pub skipped: u64,
    /// CALLs sent by action.
    pub by_action: BTreeMap<String, u64>,
    /// The first distinct errors.
    pub errors: Vec<String>,
}

/// CALLs from the server.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IncomingReport {
    /// CALLs received.
    pub calls: u64,
    /// Answered with a CALLRESULT.
    pub answered: u64,
    /// Answered with a CALLERROR.
    pub refused: u64,
    /// Messages that were not valid OCPP-J frames.
    pub protocol_errors: u64,
    /// CALLs received by action.
    pub by_action: BTreeMap<String, u64>,
    /// The first distinct errors.
    pub errors: Vec<String>,
}

/// Transactions on the chargers.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionReport {
    /// StartTransactions accepted.
    pub started: u64,
    /// StopTransactions answered.
    pub stopped: u64,
    /// StartTransactions that failed or were refused.
    pub refused: u64,
}

/// The final report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// `--chargers`.
    pub chargers_requested: usize,
    /// Wall-clock time of the whole run, registration and shutdown included.
    pub elapsed_seconds: f64,
    /// Time from the first connection to the start of the shutdown.
    pub load_seconds: f64,
    /// What was asked for.
    pub scenario: Scenario,
    /// Credentials.
    pub registration: RegistrationReport,
    /// Connections.
    pub connections: ConnectionReport,
    /// The chargers' CALLs.
    pub calls: CallReport,
    /// CALL sent to CALLRESULT received, in milliseconds.
    pub latency_ms: Option<LatencySummary>,
    /// The server's CALLs.
    pub incoming: IncomingReport,
    /// Transactions.
    pub transactions: TransactionReport,
    /// `--command-latency` results.
    pub command_latency: Option<CommandReport>,
}

/// What the report is built from besides the stats.
#[derive(Debug)]
pub struct Inputs {
    /// `--chargers`.
    pub chargers_requested: usize,
    /// The scenario.
    pub scenario: Scenario,
    /// Credentials.
    pub registration: RegistrationReport,
    /// The counters when the load phase ended (before the shutdown), for rates.
    pub at_end_of_load: CounterSnapshot,
    /// Length of the load phase.
    pub load: Duration,
    /// Length of the whole run.
    pub elapsed: Duration,
    /// `--command-latency` results.
    pub command_latency: Option<CommandReport>,
}

fn per_second(count: u64, time: Duration) -> f64 {
    if time.is_zero() {
        return 0.0;
    }
    (count as f64 / time.as_secs_f64() * 10.0).round() / 10.0
}

fn seconds(time: Duration) -> f64 {
    (time.as_secs_f64() * 1000.0).round() / 1000.0
}

impl Report {
    /// The report of a finished run.
    pub fn new(stats: &Stats, inputs: Inputs) -> Self {
        let end = stats.counters.snapshot();
        let load = inputs.at_end_of_load;
        Self {
            chargers_requested: inputs.chargers_requested,
            elapsed_seconds: seconds(inputs.elapsed),
            load_seconds: seconds(inputs.load),
            scenario: inputs.scenario,
            registration: inputs.registration,
            connections: ConnectionReport {
                established: end.established,
                held_at_end: load.held,
                peak_held: end.peak_held,
                failed: end.failed,
                disconnects: end.disconnects,
                boots_accepted: end.boots_accepted,
                boots_not_accepted: end.boots_not_accepted,
                errors: stats.connection_errors.messages(),
            },
            calls: CallReport {
                sent: end.calls_sent,
                sent_per_second: per_second(load.calls_sent, inputs.load),
                answered: end.calls_answered,
                answered_per_second: per_second(load.calls_answered, inputs.load),
                call_errors: end.call_errors,
                timeouts: end.timeouts,
                invalid_responses: end.invalid_responses,
                unexpected_responses: end.unexpected_responses,
                lost_on_disconnect: end.lost_on_disconnect,
                skipped: end.skipped,
                by_action: stats.sent_by_action.snapshot(),
                errors: stats.call_error_log.messages(),
            },
            latency_ms: stats.latency(),
            incoming: IncomingReport {
                calls: end.incoming_calls,
                answered: end.incoming_answered,
                refused: end.incoming_refused,
                protocol_errors: end.protocol_errors,
                by_action: stats.incoming_by_action.snapshot(),
                errors: stats.incoming_error_log.messages(),
            },
            transactions: TransactionReport {
                started: end.transactions_started,
                stopped: end.transactions_stopped,
                refused: end.transactions_refused,
            },
            command_latency: inputs.command_latency,
        }
    }

    /// The report for people.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let mut line = |label: &str, value: String| {
            let _ = writeln!(out, "  {label:<28}{value}");
        };
        let reg = &self.registration;
        let conn = &self.connections;
        let calls = &self.calls;
        let inc = &self.incoming;
        let tx = &self.transactions;

        let mut text = String::from("coupler-loadgen report\n");
        line("chargers requested", self.chargers_requested.to_string());
        line(
            "credentials",
            format!(
                "{} registered, {} reused, {} failed ({:.1} s)",
                reg.registered, reg.reused, reg.failed, reg.seconds
            ),
        );
        line(
            "elapsed",
            format!("{:.1} s (load phase {:.1} s)", self.elapsed_seconds, self.load_seconds),
        );
        line(
            "scenario",
            format!(
                "ramp {} s, heartbeat every {} s, meter values every {} s{}",
                self.scenario.ramp_seconds,
                self.scenario.heartbeat_interval_seconds,
                self.scenario.meter_interval_seconds,
                if self.scenario.transactions {
                    format!(", transactions of {} s", self.scenario.transaction_duration_seconds)
                } else {
                    String::new()
                }
            ),
        );
        line("connections established", conn.established.to_string());
        line(
            "held at end of load",
            format!("{} (peak {})", conn.held_at_end, conn.peak_held),
        );
        line("connections failed", conn.failed.to_string());
        line("connections lost", conn.disconnects.to_string());
        line(
            "boots accepted",
            format!("{} (not accepted {})", conn.boots_accepted, conn.boots_not_accepted),
        );
        line("CALLs sent", format!("{} ({}/s)", calls.sent, calls.sent_per_second));
        line(
            "CALLRESULTs received",
            format!("{} ({}/s)", calls.answered, calls.answered_per_second),
        );
        line("CALLERRORs received", calls.call_errors.to_string());
        line("timeouts", calls.timeouts.to_string());
        line("invalid answers", calls.invalid_responses.to_string());
        line("unexpected answers", calls.unexpected_responses.to_string());
        line("lost on disconnect", calls.lost_on_disconnect.to_string());
        line("periodic messages skipped", calls.skipped.to_string());
        line("sent by action", counts(&calls.by_action));
        line("latency (ms)", latency(self.latency_ms.as_ref()));
        line(
            "server CALLs",
            format!(
                "{} received, {} answered, {} refused",
                inc.calls, inc.answered, inc.refused
            ),
        );
        if !inc.by_action.is_empty() {
            line("server CALLs by action", counts(&inc.by_action));
        }
        line("broken frames from server", inc.protocol_errors.to_string());
        line(
            "transactions",
            format!("{} started, {} stopped, {} refused", tx.started, tx.stopped, tx.refused),
        );
        if let Some(commands) = &self.command_latency {
            line(
                "commands (REST -> CALL)",
                format!(
                    "{} of {} sent ({} idle chargers), {} arrived, {} REST errors, {} timeouts",
                    commands.sent,
                    commands.requested,
                    commands.idle_chargers,
                    commands.arrived,
                    commands.rest_errors,
                    commands.timeouts
                ),
            );
            line("command latency (ms)", latency(commands.latency_ms.as_ref()));
        }
        let mut errors = |title: &str, list: &[String]| {
            for error in list {
                line(title, error.clone());
            }
        };
        errors("registration error", &reg.errors);
        errors("connection error", &conn.errors);
        errors("call error", &calls.errors);
        errors("server CALL error", &inc.errors);
        if let Some(commands) = &self.command_latency {
            errors("command error", &commands.errors);
        }
        text.push_str(&out);
        text
    }
}

fn counts(map: &BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "-".to_owned();
    }
    map.iter()
        .map(|(action, count)| format!("{action} {count}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn latency(summary: Option<&LatencySummary>) -> String {
    match summary {
        None => "no samples".to_owned(),
        Some(s) => format!(
            "p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}  (mean {:.3}, {} samples)",
            s.p50, s.p90, s.p99, s.max, s.mean, s.count
        ),
    }
}

/// One progress line: the state now and the rates since the previous line.
pub fn progress_line(
    elapsed: Duration,
    chargers: usize,
    before: &CounterSnapshot,
    now: &CounterSnapshot,
    interval: Duration,
    interval_latency: Option<&LatencySummary>,
) -> String {
    let rate = |after: u64, before: u64| per_second(after.saturating_sub(before), interval);
    let latency = interval_latency.map_or_else(
        || "p50 -  p99 -".to_owned(),
        |s| format!("p50 {:.2} ms  p99 {:.2} ms", s.p50, s.p99),
    );
    format!(
        "[{:>5.0}s] up {}/{}  held {}  failed {}  lost {} | calls {}/s  answered {}/s  errors {}  timeouts {} | {} | server calls {}",
        elapsed.as_secs_f64(),
        now.up,
        chargers,
        now.held,
        now.failed,
        now.disconnects,
        rate(now.calls_sent, before.calls_sent),
        rate(now.calls_answered, before.calls_answered),
        now.call_errors + now.invalid_responses,
        now.timeouts,
        latency,
        now.incoming_calls,
    )
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering::Relaxed;

    use super::*;

    fn scenario() -> Scenario {
        Scenario {
            heartbeat_interval_seconds: 60.0,
            meter_interval_seconds: 10.0,
            ramp_seconds: 10.0,
            duration_seconds: 60.0,
            transactions: false,
            transaction_duration_seconds: 300.0,
        }
    }

    fn stats_after_a_small_run() -> Stats {
        let stats = Stats::default();
        for _ in 0..3 {
            stats.connection_opened();
        }
        stats.counters.calls_sent.store(600, Relaxed);
        stats.counters.calls_answered.store(590, Relaxed);
        stats.counters.timeouts.store(10, Relaxed);
        stats.sent_by_action.add("Heartbeat");
        stats.record_latency(Duration::from_micros(1500));
        stats.connection_errors.note("upgrade refused: HTTP 401 Unauthorized");
        stats
    }

    fn report(stats: &Stats) -> Report {
        Report::new(
            stats,
            Inputs {
                chargers_requested: 3,
                scenario: scenario(),
                registration: RegistrationReport::default(),
                at_end_of_load: stats.counters.snapshot(),
                load: Duration::from_secs(60),
                elapsed: Duration::from_secs(65),
                command_latency: None,
            },
        )
    }

    #[test]
    fn rates_are_counts_over_the_load_phase() {
        let report = report(&stats_after_a_small_run());
        assert_eq!(report.calls.sent_per_second, 10.0);
        assert_eq!(report.calls.answered_per_second, 9.8);
        assert_eq!(report.connections.held_at_end, 3);
    }

    #[test]
    fn the_json_report_uses_camel_case_and_milliseconds() {
        let json = serde_json::to_value(report(&stats_after_a_small_run())).unwrap();
        assert_eq!(json["chargersRequested"], 3);
        assert_eq!(json["connections"]["heldAtEnd"], 3);
        assert_eq!(json["calls"]["sentPerSecond"], 10.0);
        assert_eq!(json["calls"]["byAction"]["Heartbeat"], 1);
        assert_eq!(json["latencyMs"]["count"], 1);
        assert!((json["latencyMs"]["p50"].as_f64().unwrap() - 1.5).abs() < 0.01);
        assert_eq!(json["commandLatency"], serde_json::Value::Null);
        assert_eq!(
            json["connections"]["errors"][0],
            "upgrade refused: HTTP 401 Unauthorized"
        );
    }

    #[test]
    fn the_text_report_names_every_headline_figure() {
        let text = report(&stats_after_a_small_run()).to_text();
        for needle in [
            "chargers requested",
            "held at end of load         3 (peak 3)",
            "CALLs sent                  600 (10/s)",
            "timeouts                    10",
            "latency (ms)                p50 1.500",
            "connection error            upgrade refused: HTTP 401 Unauthorized",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from\n{text}");
        }
    }

    #[test]
    fn the_progress_line_shows_rates_since_the_previous_line() {
        let before = CounterSnapshot {
            calls_sent: 100,
            calls_answered: 100,
            ..CounterSnapshot::default()
        };
        let now = CounterSnapshot {
            up: 10,
            held: 10,
            calls_sent: 300,
            calls_answered: 290,
            ..CounterSnapshot::default()
        };
        let line = progress_line(
            Duration::from_secs(20),
            10,
            &before,
            &now,
            Duration::from_secs(10),
            None,
        );
        assert!(line.starts_with("[   20s] up 10/10  held 10"), "{line}");
        assert!(line.contains("calls 20/s  answered 19/s"), "{line}");
    }
}
