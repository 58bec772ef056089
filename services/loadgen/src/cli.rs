//! Command-line options and the checked run configuration built from them.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use url::Url;

/// Opens many simulated OCPP 1.6J chargers against a running Coupler and reports
/// connections held, messages per second, errors and latency.
///
/// It registers its chargers through the REST API (or reuses them from --credentials),
/// connects them spread over --ramp, runs the scenario for --duration, closes every
/// socket cleanly and prints a report. It only ever talks to --api (and --ocpp-url, --command-api);
/// anything but a loopback address needs --allow-remote.
#[derive(Debug, Parser)]
#[command(name = "coupler-loadgen", version)]
pub struct Cli {
    /// Coupler's REST API.
    #[arg(long, default_value = "http://127.0.0.1:8080", value_name = "URL")]
    pub api: Url,

    /// Base URL for the chargers' WebSockets (the charger id is appended). Defaults to the
    /// ocppUrl Coupler returns on registration, which must then be on the --api host.
    #[arg(long, value_name = "URL")]
    pub ocpp_url: Option<Url>,

    /// API client id, for registering chargers and sending commands.
    #[arg(long, env = "COUPLER_LOADGEN_CLIENT_ID", value_name = "ID")]
    pub client_id: Option<String>,

    /// API client secret.
    #[arg(
        long,
        env = "COUPLER_LOADGEN_CLIENT_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub client_secret: Option<Secret>,

    /// The Coupler user that owns the simulated chargers (created if missing).
    #[arg(long, default_value = "loadgen", value_name = "USER_ID")]
    pub user: String,

    /// Number of simulated chargers.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub chargers: usize,

    /// How long the load runs, from the first connection to the start of the shutdown.
    #[arg(long, default_value = "60", value_parser = parse_seconds, value_name = "SECONDS")]
    pub duration: Duration,

    /// Charger connections are spread evenly over this time.
    #[arg(long, default_value = "10", value_parser = parse_seconds, value_name = "SECONDS")]
    pub ramp: Duration,

    /// Time between MeterValues of each charger; 0 sends none.
    #[arg(long, default_value = "10", value_parser = parse_seconds, value_name = "SECONDS")]
    pub meter_interval: Duration,

    /// Time between Heartbeats of each charger; 0 sends none. (The interval in Coupler's
    /// BootNotification answer is ignored, so the load is what you ask for.)
    #[arg(long, default_value = "60", value_parser = parse_seconds, value_name = "SECONDS")]
    pub heartbeat_interval: Duration,

    /// Each charger starts a transaction once booted and stops it after --transaction-duration.
    #[arg(long)]
    pub transactions: bool,

    /// A vehicle is plugged into connector 1 of every charger (it reports Preparing while idle), so
    /// START commands (see --command-latency) lead to a RemoteStartTransaction.
    #[arg(long)]
    pub plugged_in: bool,

    /// The OCPP version the chargers speak: 1.6 (StartTransaction, MeterValues) or 2.0.1
    /// (TransactionEvent with meter values, StatusNotification per EVSE).
    #[arg(long, default_value = "1.6", value_parser = parse_version, value_name = "VERSION")]
    pub ocpp_version: coupler_ocpp::OcppVersion,

    /// How long a transaction runs before the charger stops it.
    #[arg(long, default_value = "300", value_parser = parse_seconds, value_name = "SECONDS")]
    pub transaction_duration: Duration,

    /// Charger ids are PREFIX-000000, PREFIX-000001, ...
    #[arg(long, default_value = "LG", value_name = "PREFIX")]
    pub id_prefix: String,

    /// Registered charger ids and passwords: reused when the file exists, written after
    /// registering, so repeated runs do not register again.
    #[arg(long, value_name = "FILE")]
    pub credentials: Option<PathBuf>,

    /// Registrations in flight at once.
    #[arg(long, default_value_t = 32, value_name = "N")]
    pub concurrency: usize,

    /// A call without an answer after this long counts as a timeout.
    #[arg(long, default_value = "30", value_parser = parse_seconds, value_name = "SECONDS")]
    pub call_timeout: Duration,

    /// Once all chargers are up, send START commands through the REST API to random idle
    /// chargers, one after another, and measure REST request to RemoteStartTransaction
    /// arriving at the charger. The run ends when the last one is measured (or at --duration).
    #[arg(long)]
    pub command_latency: bool,

    /// Number of commands for --command-latency.
    #[arg(long, default_value_t = 100, value_name = "K")]
    pub commands: usize,

    /// Send --command-latency's commands to this REST API instead of --api: another Coupler node
    /// on the same database, to time a command that enters at a node not holding the charger.
    #[arg(long, value_name = "URL")]
    pub command_api: Option<Url>,

    /// With --command-latency, wait this long after every charger is up before the first command
    /// (so the commands run in the steady load rather than in the tail of the boot storm).
    #[arg(long, default_value = "0", value_parser = parse_seconds, value_name = "SECONDS")]
    pub command_delay: Duration,

    /// With --command-latency, keep the load running until --duration once the commands are
    /// measured (rather than ending the run), as when several load generators share one schedule.
    #[arg(long)]
    pub full_duration: bool,

    /// Pause between two commands of --command-latency.
    #[arg(long, default_value = "0.2", value_parser = parse_seconds, value_name = "SECONDS")]
    pub command_spacing: Duration,

    /// Begin the load phase (the first connection) at this wall-clock time, in Unix seconds, once
    /// registration is done: several load generators then share one schedule.
    #[arg(long, value_name = "UNIX_SECONDS")]
    pub start_at: Option<f64>,

    /// Seed for the random phases and command targets, for repeatable runs.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Print the final report as JSON.
    #[arg(long)]
    pub json: bool,

    /// Allow an --api or --ocpp-url that is not a loopback address.
    #[arg(long)]
    pub allow_remote: bool,
}

/// A secret from the command line; its `Debug` output is redacted so it cannot end up in a log.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Self(text.to_owned()))
    }
}

/// Parses a non-negative number of seconds, fractions allowed ("0.5").
fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("`{text}` is not a usable number of seconds"))
}

/// Most chargers one run accepts; far above what one process can hold open.
const MAX_CHARGERS: usize = 1_000_000;

/// Longest charge point identity: 2.0.1 allows 48 characters (identifierString).
const MAX_OCPP_ID_LEN: usize = 48;

impl Cli {
    /// Checks the options that clap cannot check alone.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.chargers == 0 || self.chargers > MAX_CHARGERS {
            bail!("--chargers must be between 1 and {MAX_CHARGERS}");
        }
        if self.concurrency == 0 {
            bail!("--concurrency must be at least 1");
        }
        if self.duration.is_zero() {
            bail!("--duration must be more than 0");
        }
        if self.call_timeout.is_zero() {
            bail!("--call-timeout must be more than 0");
        }
        if self.command_latency && self.commands == 0 {
            bail!("--commands must be at least 1 with --command-latency");
        }
        check_prefix(&self.id_prefix)?;
        if ocpp_id(&self.id_prefix, self.chargers - 1).len() > MAX_OCPP_ID_LEN {
            bail!("--id-prefix is too long: charger ids may have at most {MAX_OCPP_ID_LEN} characters");
        }
        if self.user.is_empty() {
            bail!("--user must not be empty");
        }
        check_target(&self.api, &["http", "https"], "--api", self.allow_remote)?;
        if let Some(url) = &self.ocpp_url {
            check_target(url, &["ws"], "--ocpp-url", self.allow_remote)?;
        }
        if let Some(url) = &self.command_api {
            check_target(url, &["http", "https"], "--command-api", self.allow_remote)?;
        }
        Ok(())
    }

    /// The client credentials, or why they are needed.
    pub fn client_credentials(&self, needed_for: &str) -> anyhow::Result<(String, String)> {
        let id = self
            .client_id
            .clone()
            .with_context(|| format!("--client-id (or COUPLER_LOADGEN_CLIENT_ID) is needed to {needed_for}"))?;
        let secret = self
            .client_secret
            .as_ref()
            .with_context(|| format!("--client-secret (or COUPLER_LOADGEN_CLIENT_SECRET) is needed to {needed_for}"))?;
        Ok((id, secret.expose().to_owned()))
    }
}

/// The charge point identity of charger `index`: the prefix and a zero-padded number.
pub fn ocpp_id(prefix: &str, index: usize) -> String {
    format!("{prefix}-{index:06}")
}

/// Charger ids go into URL paths and are the Basic-auth user name, where ':' is the
/// separator; keep the prefix to characters that need no escaping anywhere.
fn check_prefix(prefix: &str) -> anyhow::Result<()> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if prefix.is_empty() || !prefix.chars().all(allowed) {
        bail!("--id-prefix must be letters, digits, '-', '_' or '.'");
    }
    Ok(())
}

/// A URL the tool may send load to: the right scheme, and loopback unless allowed otherwise.
pub fn check_target(url: &Url, schemes: &[&str], option: &str, allow_remote: bool) -> anyhow::Result<()> {
    if !schemes.contains(&url.scheme()) {
        bail!("{option} must be a {} URL, not {url}", schemes.join(" or "));
    }
    let Some(host) = url.host_str() else {
        bail!("{option} has no host: {url}");
    };
    if !allow_remote && !is_loopback(host) {
        bail!(
            "{option} {url} is not a loopback address; the load generator is meant for local benchmarks \
             (pass --allow-remote to load another machine on purpose)"
        );
    }
    Ok(())
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Reads `--ocpp-version`: `1.6` or `2.0.1`.
fn parse_version(text: &str) -> Result<coupler_ocpp::OcppVersion, String> {
    match text {
        "1.6" | "ocpp1.6" => Ok(coupler_ocpp::OcppVersion::V16),
        "2.0.1" | "ocpp2.0.1" => Ok(coupler_ocpp::OcppVersion::V201),
        other => Err(format!(
            "{other:?} is not an OCPP version the load generator speaks (1.6, 2.0.1)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        let mut all = vec!["coupler-loadgen"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).unwrap()
    }

    #[test]
    fn the_defaults_describe_a_small_local_run() {
        let cli = cli(&[]);
        cli.validate().unwrap();
        assert_eq!(cli.api.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(cli.chargers, 100);
        assert_eq!(cli.duration, Duration::from_secs(60));
        assert_eq!(cli.meter_interval, Duration::from_secs(10));
        assert_eq!(cli.heartbeat_interval, Duration::from_secs(60));
        assert_eq!(cli.user, "loadgen");
        assert_eq!(cli.id_prefix, "LG");
        assert_eq!(cli.concurrency, 32);
        assert_eq!(cli.commands, 100);
        assert!(!cli.transactions && !cli.command_latency && !cli.json);
    }

    #[test]
    fn seconds_may_be_fractional_but_not_negative() {
        assert_eq!(parse_seconds("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_seconds("0"), Ok(Duration::ZERO));
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("ten").is_err());
        assert!(parse_seconds("NaN").is_err());
    }

    #[test]
    fn charger_ids_are_the_prefix_and_a_padded_number() {
        assert_eq!(ocpp_id("LG", 0), "LG-000000");
        assert_eq!(ocpp_id("run2", 12_345), "run2-012345");
        assert_eq!(ocpp_id("LG", 1_234_567), "LG-1234567");
    }

    #[test]
    fn a_prefix_that_would_need_escaping_is_refused() {
        for prefix in ["", "a:b", "a/b", "a b", "é"] {
            assert!(cli(&["--id-prefix", prefix]).validate().is_err(), "{prefix:?}");
        }
        let long = "x".repeat(45);
        assert!(cli(&["--id-prefix", &long]).validate().is_err());
    }

    #[test]
    fn only_loopback_targets_are_allowed_unless_asked_for() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://localhost:1",
            "http://[::1]:8080",
            "http://127.1.2.3",
        ] {
            assert!(cli(&["--api", ok]).validate().is_ok(), "{ok}");
        }
        assert!(cli(&["--api", "http://10.0.0.5:8080"]).validate().is_err());
        assert!(cli(&["--api", "http://coupler.example.com"]).validate().is_err());
        assert!(cli(&["--api", "http://10.0.0.5:8080", "--allow-remote"])
            .validate()
            .is_ok());
        assert!(cli(&["--ocpp-url", "ws://10.0.0.5/ocpp"]).validate().is_err());
        assert!(cli(&["--command-api", "http://10.0.0.5:8080"]).validate().is_err());
        assert!(cli(&["--command-api", "http://127.0.0.1:8081"]).validate().is_ok());
    }

    #[test]
    fn urls_with_the_wrong_scheme_are_refused() {
        assert!(cli(&["--api", "ws://127.0.0.1:8080"]).validate().is_err());
        assert!(cli(&["--ocpp-url", "http://127.0.0.1:8080/ocpp"]).validate().is_err());
        assert!(cli(&["--ocpp-url", "wss://127.0.0.1:8080/ocpp"]).validate().is_err());
    }

    #[test]
    fn nonsense_counts_are_refused() {
        assert!(cli(&["--chargers", "0"]).validate().is_err());
        assert!(cli(&["--concurrency", "0"]).validate().is_err());
        assert!(cli(&["--duration", "0"]).validate().is_err());
        assert!(cli(&["--command-latency", "--commands", "0"]).validate().is_err());
    }

    #[test]
    fn the_client_secret_stays_out_of_debug_output() {
        let cli = cli(&["--client-id", "abc", "--client-secret", "hunter2"]);
        assert!(!format!("{cli:?}").contains("hunter2"));
        assert_eq!(cli.client_credentials("test").unwrap().1, "hunter2");
    }

    #[test]
    fn client_credentials_are_only_demanded_when_needed() {
        let cli = cli(&["--client-id", "abc"]);
        let error = cli.client_credentials("register chargers").unwrap_err().to_string();
        assert!(error.contains("--client-secret"), "{error}");
        assert!(error.contains("register chargers"), "{error}");
    }
}
