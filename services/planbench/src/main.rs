//! `coupler-planbench`: how well smart-charging plans do, and how fast they are made.
//!
//! - options, in [`cli`];
//! - a day-ahead price curve per day, published the day before, in [`prices`];
//! - the sessions of a month (cars, chargers, arrivals, deadlines, targets), in [`population`];
//! - one session executed minute by minute and replanned as the engine does, in [`sim`];
//! - replanning every EV system of many users after a price update, in [`timing`];
//! - what is measured and how it is reported, in [`report`].
//!
//! Everything is pure and seeded: the same options give the same figures (timings aside).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

mod cli;
mod population;
mod prices;
mod report;
mod sim;
mod timing;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    if let Err(error) = cli.validate() {
        eprintln!("coupler-planbench: {error:#}");
        return ExitCode::from(2);
    }
    let report = report::run(&cli);
    let text = if cli.json {
        match serde_json::to_string_pretty(&report) {
            Ok(json) => json,
            Err(error) => {
                eprintln!("coupler-planbench: could not serialise the report: {error}");
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
