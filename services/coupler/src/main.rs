//! `coupler`: see `coupler --help`.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = coupler::cli::Cli::parse();
    match coupler::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Logging may not be set up yet (a bad config stops before it is), so this goes to stderr.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
