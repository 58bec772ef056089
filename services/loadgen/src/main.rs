//! `coupler-loadgen`: many simulated OCPP 1.6J or 2.0.1 chargers against a running Coupler.
//!
//! - [`cli`]: options and their checks;
//! - [`rest`]: registration and commands through Coupler's REST API, the credentials file;
//! - [`charger`]: one simulated charger without I/O: the scenario, its meter and its statistics
//!   around `coupler-chargepoint`'s sans-io charge point (the one the sandbox runs too);
//! - [`session`]: the task that connects a charger and drives its state machine;
//! - [`schedule`]: ramp-up and the phases of periodic messages;
//! - [`commands`]: the `--command-latency` measurement;
//! - [`stats`] and [`report`]: what is measured and how it is reported;
//! - [`run`]: the phases of a run.
//!
//! Progress goes to stderr every 10 s; the final report goes to stdout, as text or JSON.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

mod charger;
mod cli;
mod commands;
mod report;
mod rest;
mod run;
mod schedule;
mod session;
mod stats;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    if let Err(error) = cli.validate() {
        eprintln!("coupler-loadgen: {error:#}");
        return ExitCode::from(2);
    }
    let report = match run::run(&cli).await {
        Ok(report) => report,
        Err(error) => {
            eprintln!("coupler-loadgen: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let text = if cli.json {
        match serde_json::to_string_pretty(&report) {
            Ok(json) => json,
            Err(error) => {
                eprintln!("coupler-loadgen: could not serialise the report: {error}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        report.to_text()
    };
    // Written rather than printed so a closed stdout (`| head`) is an error, not a panic.
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{}", text.trim_end())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
