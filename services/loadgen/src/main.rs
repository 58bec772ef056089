//! `coupler-loadgen`: many simulated OCPP 1.6J or 2.0.1 chargers against a running Coupler (the
//! parts are in the library, `src/lib.rs`).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use coupler_loadgen::{cli, run};
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
