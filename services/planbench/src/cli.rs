//! Command-line options.

use anyhow::bail;
use clap::Parser;

/// Simulates a month of smart-charging sessions through Coupler's planner and reports how often
/// plans met their deadline, what they cost against the cheapest plan possible in hindsight and
/// against charging at once, and how long replanning every EV system of --users users takes.
///
/// Nothing is sent anywhere: the planner is pure code, run in this process.
#[derive(Debug, Parser)]
#[command(name = "coupler-planbench", version)]
pub struct Cli {
    /// Charging sessions in the simulated month.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub sessions: usize,

    /// Days the sessions' arrivals are spread over.
    #[arg(long, default_value_t = 30, value_name = "DAYS")]
    pub days: u32,

    /// Seed for prices, cars, chargers and arrivals.
    #[arg(long, default_value_t = 7, value_name = "N")]
    pub seed: u64,

    /// Users whose EV systems are all replanned after a price update, for the timing.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub users: usize,

    /// How many times the replanning is timed (the report gives the median and the fastest).
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub rounds: usize,

    /// Until a late maker's first fresh state of charge arrives, the engine plans with the last one
    /// it has (from before the trip) lowered by this many points: the most a day's driving may have
    /// used. 0 trusts the stale value.
    #[arg(long, default_value_t = 25.0, value_name = "POINTS")]
    pub stale_soc_margin: f64,

    /// Print every plan and the charging of session N (in order of arrival) to stderr.
    #[arg(long, value_name = "N")]
    pub trace: Option<usize>,

    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

impl Cli {
    /// Checks what clap cannot.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.sessions == 0 || self.sessions > 1_000_000 {
            bail!("--sessions must be between 1 and 1000000");
        }
        if self.days == 0 || self.days > 366 {
            bail!("--days must be between 1 and 366");
        }
        if self.users > 10_000_000 {
            bail!("--users must be at most 10000000");
        }
        if !(0.0..=100.0).contains(&self.stale_soc_margin) {
            bail!("--stale-soc-margin must be between 0 and 100");
        }
        if self.rounds == 0 || self.rounds > 100 {
            bail!("--rounds must be between 1 and 100");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_a_month_of_a_thousand_sessions_and_ten_thousand_users() {
        let cli = Cli::try_parse_from(["coupler-planbench"]).unwrap();
        cli.validate().unwrap();
        assert_eq!((cli.sessions, cli.days, cli.seed, cli.users), (1000, 30, 7, 10_000));
    }

    #[test]
    fn nonsense_counts_are_refused() {
        for args in [["--sessions", "0"], ["--days", "0"], ["--rounds", "0"]] {
            let cli = Cli::try_parse_from(["coupler-planbench", args[0], args[1]]).unwrap();
            assert!(cli.validate().is_err(), "{args:?}");
        }
    }
}
