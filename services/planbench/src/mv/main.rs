//! The measurement benchmark: how far each baseline's delivered energy is from the truth. A
//! simulated fleet of households (each a car and a charger) lives weeks of evenings; then on each
//! event day the simulator charges the day twice from the same draws, once without the event (the
//! true counterfactual) and once with it (held-back control-group households charge unaffected in
//! both), and the chargers' readings of the second are what Coupler measures. Coupler serves on a
//! real socket over a real database; the readings are written to its store as its gateway writes
//! a charger's sessions, the events are sent through its API, and each baseline's delivered energy
//! is read from `GET /flex/events/{id}/results`: the code users get.
//!
//! - the fleet and how a stay charges under a cap, in [`fleet`];
//! - a run through Coupler, in [`run`].
//!
//! ```sh
//! cargo run --release -p coupler-planbench --bin coupler-mvbench -- --households 1000
//! ```

use std::io::Write;

use anyhow::bail;
use clap::Parser;
use serde_json::json;

mod fleet;
mod run;

use run::{mean_and_p90, EventOutcome, Options};

/// Measures each baseline's error against the true counterfactual on a simulated fleet.
#[derive(Debug, Parser)]
#[command(name = "coupler-mvbench")]
struct Cli {
    /// Households, each a car and a charger.
    #[arg(long, default_value_t = 1_000)]
    households: usize,
    /// Days of history before the first event (at least 30, so similar days has ten of each kind).
    #[arg(long, default_value_t = 35)]
    history_days: i64,
    /// Event days, one event each: an IMPORT_LIMIT and a PAUSE in turn, at each share in turn.
    #[arg(long, default_value_t = 16)]
    event_days: i64,
    /// The seed the fleet and its days are drawn from.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// The IMPORT_LIMIT events' limit per site, kW.
    #[arg(long, default_value_t = 5.0)]
    cap_kw: f64,
    /// The control-group shares held back, taken in turn (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [0.1, 0.2])]
    shares: Vec<f64>,
    /// The day-to-day spread of the need every household shares (the weather; 0: days alike).
    #[arg(long, default_value_t = 0.1)]
    weather_spread: f64,
    /// How much that need grows each day (0.003: 0.3 % a day, winter coming).
    #[arg(long, default_value_t = 0.003)]
    trend_per_day: f64,
    /// The database (a fresh SQLite file in the temporary directory when absent). A PostgreSQL
    /// database is used as it is: give an empty one (the benchmark's rows are not removed).
    #[arg(long)]
    database_url: Option<String>,
    /// Requests and store calls in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
}

/// Per event kind, share and baseline: how many events, the mean and 90th percentile of the
/// absolute error of the event's delivered energy (percent of the truth), the mean signed error
/// (the bias), the households' mean absolute error (kWh), and the truth against what was asked.
fn summary(outcomes: &[EventOutcome]) -> Vec<serde_json::Value> {
    let mut groups: Vec<(String, f64)> = Vec::new();
    for o in outcomes {
        if !groups.iter().any(|(k, s)| *k == o.kind && *s == o.control_group_share) {
            groups.push((o.kind.clone(), o.control_group_share));
        }
    }
    let mut rows = Vec::new();
    for (kind, share) in groups {
        let events: Vec<&EventOutcome> = outcomes
            .iter()
            .filter(|o| o.kind == kind && o.control_group_share == share)
            .collect();
        let truth: f64 = events.iter().map(|o| o.true_delivered_kwh).sum();
        let requested: f64 = events.iter().map(|o| o.requested_kwh).sum();
        let adjusted: Vec<f64> = events
            .iter()
            .filter_map(|o| o.adjusted_control_group_error_percent)
            .collect();
        if !adjusted.is_empty() {
            let (mean, p90) = mean_and_p90(&adjusted);
            rows.push(json!({
                "kind": kind,
                "controlGroupShare": share,
                "baseline": "CONTROL_GROUP adjusted by history (not Coupler's)",
                "events": adjusted.len(),
                "meanAbsErrorPercent": mean,
                "p90AbsErrorPercent": p90,
                "meanErrorPercent": adjusted.iter().sum::<f64>() / adjusted.len() as f64,
            }));
        }
        for method in ["SIMILAR_DAYS", "CONTROL_GROUP"] {
            let estimates: Vec<&run::Estimate> = events
                .iter()
                .filter_map(|o| match method {
                    "SIMILAR_DAYS" => Some(&o.similar_days),
                    _ => o.control_group.as_ref(),
                })
                .collect();
            if estimates.is_empty() {
                continue;
            }
            let errors: Vec<f64> = estimates.iter().map(|e| e.error_percent).collect();
            let (mean, p90) = mean_and_p90(&errors);
            let households: Vec<f64> = estimates.iter().map(|e| e.household_mean_abs_error_kwh).collect();
            rows.push(json!({
                "kind": kind,
                "controlGroupShare": share,
                "baseline": method,
                "events": estimates.len(),
                "meanAbsErrorPercent": mean,
                "p90AbsErrorPercent": p90,
                "meanErrorPercent": errors.iter().sum::<f64>() / errors.len() as f64,
                "householdMeanAbsErrorKwh": households.iter().sum::<f64>() / households.len() as f64,
                "trueDeliveredKwh": truth,
                "requestedKwh": requested,
                "deliveredOfRequested": truth / requested.max(1e-9),
            }));
        }
    }
    rows
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    if cli.shares.iter().any(|s| !(0.0..=0.5).contains(s)) {
        bail!("--shares must lie from 0 to 0.5");
    }
    let options = Options {
        households: cli.households,
        history_days: cli.history_days,
        event_days: cli.event_days,
        seed: cli.seed,
        cap_kw: cli.cap_kw,
        shares: cli.shares.clone(),
        weather_spread: cli.weather_spread.max(0.0),
        trend_per_day: cli.trend_per_day,
        database_url: cli.database_url.clone(),
        concurrency: cli.concurrency.max(1),
    };
    let outcomes = run::run(&options).await?;
    let report = json!({
        "households": cli.households,
        "historyDays": cli.history_days,
        "seed": cli.seed,
        "capKw": cli.cap_kw,
        "weatherSpread": cli.weather_spread,
        "trendPerDay": cli.trend_per_day,
        "database": options.database_url.as_deref().unwrap_or("sqlite").split(':').next().unwrap_or_default(),
        "summary": summary(&outcomes),
        "events": outcomes,
    });
    // Written rather than printed so a closed stdout (`| head`) is an error, not a panic.
    writeln!(std::io::stdout().lock(), "{}", serde_json::to_string_pretty(&report)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
    }

    /// A small fleet through the whole path: the simulation's truths hold, and Coupler's figures
    /// are the ones its baselines' definitions give on the simulation's own readings.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_small_fleet_s_events_are_measured_as_the_baselines_define_and_a_binding_cap_delivers() {
        let options = Options {
            households: 50,
            history_days: 31,
            event_days: 2,
            seed: 7,
            cap_kw: 5.0,
            shares: vec![0.2],
            weather_spread: 0.1,
            trend_per_day: 0.003,
            database_url: None,
            concurrency: 8,
        };
        let outcomes = run::run(&options).await.unwrap();
        assert_eq!(outcomes.len(), 2);
        for o in &outcomes {
            assert_eq!((o.treated, o.held_back), (40, 10), "{o:?}");
            assert!(o.counterfactual_kwh > 0.0, "someone charges in the evening peak: {o:?}");
            // The cap binds (most cars take more than 5 kW) and a pause stops everything.
            assert!(o.true_delivered_kwh > 0.0, "{o:?}");
            if o.kind == "PAUSE" {
                assert!(
                    close(o.actual_kwh, 0.0) && close(o.true_delivered_kwh, o.requested_kwh),
                    "{o:?}"
                );
            } else {
                assert!(o.true_delivered_kwh <= o.requested_kwh + 1e-9, "{o:?}");
            }
            // What Coupler metered is what the chargers drew.
            assert!(close(o.metered_actual_kwh, o.actual_kwh), "{o:?}");
            // Each baseline is what its definition gives on the simulation's own history.
            assert!(
                close(o.similar_days.baseline_kwh, o.expected_similar_days_baseline_kwh),
                "{o:?}"
            );
            let control = o.control_group.as_ref().unwrap();
            assert!(
                close(control.baseline_kwh, o.expected_control_group_baseline_kwh.unwrap()),
                "{o:?}"
            );
            assert!(close(
                control.delivered_kwh,
                control.baseline_kwh - o.metered_actual_kwh
            ));
        }
    }

    #[test]
    fn the_summary_gives_each_kind_share_and_baseline_its_own_row() {
        assert_eq!(summary(&[]).len(), 0);
        let (mean, p90) = mean_and_p90(&[1.0, -2.0, 3.0, -4.0, 5.0, 6.0, 7.0, 8.0, 9.0, -10.0]);
        assert!(close(mean, 5.5) && close(p90, 9.0), "{mean} {p90}");
    }
}
