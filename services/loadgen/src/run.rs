//! One run, phase by phase: credentials, ramp-up, load (and the command measurement),
//! shutdown, report.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use futures::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::charger::{Identity, Settings};
use crate::cli::{self, Cli};
use crate::commands::{self, CommandReport};
use crate::report::{Inputs, RegistrationReport, Report, Scenario};
use crate::rest::{Api, Credential, CredentialsFile};
use crate::schedule;
use crate::session::{self, Shared, Slot, Target};
use crate::stats::{ErrorLog, Stats};

/// Time between progress lines.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(10);

/// After the ramp, how long `--command-latency` waits for stragglers to come up.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

/// File descriptors the process needs besides the charger sockets (stdio, the HTTP pool,
/// the runtime).
const SPARE_FILES: u64 = 64;

/// Runs the load described by `cli` and reports on it.
pub async fn run(cli: &Cli) -> anyhow::Result<Report> {
    let started = Instant::now();
    warn_about_file_limit(cli.chargers);
    if cli.ramp >= cli.duration {
        eprintln!("warning: --ramp is not shorter than --duration; the last chargers will not connect");
    }
    let api = Api::new(cli.api.clone(), cli.concurrency)?;

    let registration_started = Instant::now();
    let (credentials, mut registration) = credentials(cli, &api).await?;
    registration.seconds = (registration_started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
    if credentials.is_empty() {
        bail!(
            "no charger could be registered: {}",
            registration.errors.first().map_or("unknown error", String::as_str)
        );
    }

    let mut targets = Vec::with_capacity(credentials.len());
    for credential in &credentials {
        let url = websocket_url(cli, credential)?;
        targets.push(Target::new(url, &credential.ocpp_id, &credential.password)?.speaking(cli.ocpp_version));
    }

    let settings = Arc::new(Settings {
        heartbeat_interval: cli.heartbeat_interval,
        meter_interval: cli.meter_interval,
        transactions: cli.transactions,
        transaction_duration: cli.transaction_duration,
        plugged_in: cli.plugged_in,
        version: cli.ocpp_version,
        call_timeout: cli.call_timeout,
    });
    let shared = Arc::new(Shared {
        stats: Stats::default(),
        settings,
        shutdown: CancellationToken::new(),
    });
    let mut rng = match cli.seed {
        Some(seed) => StdRng::seed_from_u64(seed),
        None => StdRng::from_entropy(),
    };

    if let Some(start_at) = cli.start_at {
        wait_until_wall_clock(start_at).await;
    }
    let load_started = Instant::now();
    let count = credentials.len();
    let mut slots = Vec::with_capacity(count);
    let mut tasks = JoinSet::new();
    for (index, (credential, target)) in credentials.into_iter().zip(targets).enumerate() {
        let slot = Arc::new(Slot::new(credential.ocpp_id.clone(), credential.charger_id));
        let identity = Identity {
            ocpp_id: credential.ocpp_id,
            heartbeat_phase: schedule::random_phase(&mut rng, cli.heartbeat_interval),
            meter_phase: schedule::random_phase(&mut rng, cli.meter_interval),
            initial_energy_wh: rng.gen_range(0.0..1_000_000.0_f64).round(),
        };
        let start_at = load_started + schedule::start_offset(index, count, cli.ramp);
        tasks.spawn(session::run_charger(
            shared.clone(),
            slot.clone(),
            target,
            identity,
            start_at,
        ));
        slots.push(slot);
    }
    // Owned and aborted below, like the charger tasks: nothing runs untracked.
    let mut progress = JoinSet::new();
    progress.spawn(report_progress(shared.clone(), cli.chargers, load_started));

    let load_ends = load_started + cli.duration;
    let command_latency = tokio::select! {
        () = tokio::time::sleep_until(load_ends) => None,
        () = interrupted() => {
            eprintln!("interrupted: closing the connections");
            None
        }
        measured = measure_commands(cli, &api, &shared, &slots, load_started, &mut rng), if cli.command_latency => {
            if cli.full_duration {
                // The load goes on to its end: other load generators share its schedule.
                tokio::select! {
                    () = tokio::time::sleep_until(load_ends) => {}
                    () = interrupted() => eprintln!("interrupted: closing the connections"),
                }
            }
            Some(measured)
        }
    };
    // With --command-latency the run may end before --duration without a measurement;
    // say why rather than report nothing.
    let command_latency = match command_latency {
        Some(result) => Some(result),
        None if cli.command_latency => Some(Err("the run ended before the commands were measured".to_owned())),
        None => None,
    };

    let at_end_of_load = shared.stats.counters.snapshot();
    let load = load_started.elapsed();
    shared.shutdown.cancel();
    eprintln!(
        "load phase over after {:.1} s: stopping transactions and closing connections",
        load.as_secs_f64()
    );
    let drained = tokio::time::timeout(session::SHUTDOWN_GRACE + Duration::from_secs(5), async {
        while let Some(joined) = tasks.join_next().await {
            if let Err(e) = joined {
                if e.is_panic() {
                    eprintln!("a charger task panicked: {e}");
                }
            }
        }
    })
    .await;
    if drained.is_err() {
        eprintln!("{} charger tasks did not finish in time; abandoning them", tasks.len());
        tasks.abort_all();
    }
    progress.abort_all();

    let command_latency = command_latency.map(|result| {
        result.unwrap_or_else(|error| CommandReport {
            requested: cli.commands,
            idle_chargers: 0,
            sent: 0,
            arrived: 0,
            rest_errors: 0,
            timeouts: 0,
            latency_ms: None,
            errors: vec![error],
        })
    });
    Ok(Report::new(
        &shared.stats,
        Inputs {
            chargers_requested: cli.chargers,
            scenario: Scenario {
                heartbeat_interval_seconds: cli.heartbeat_interval.as_secs_f64(),
                meter_interval_seconds: cli.meter_interval.as_secs_f64(),
                ramp_seconds: cli.ramp.as_secs_f64(),
                duration_seconds: cli.duration.as_secs_f64(),
                transactions: cli.transactions,
                transaction_duration_seconds: cli.transaction_duration.as_secs_f64(),
            },
            registration,
            at_end_of_load,
            load,
            elapsed: started.elapsed(),
            command_latency,
        },
    ))
}

/// The credentials of every charger: from the file where it has them, registered through
/// the API otherwise. Chargers whose registration fails are left out of the run.
async fn credentials(cli: &Cli, api: &Api) -> anyhow::Result<(Vec<Credential>, RegistrationReport)> {
    let api_text = cli.api.to_string();
    let mut file = match &cli.credentials {
        Some(path) => CredentialsFile::load(path)?,
        None => None,
    };
    if let Some(existing) = &file {
        if existing.api != api_text || existing.user != cli.user {
            bail!(
                "{} holds chargers of user {} at {}, not of user {} at {}; use another --credentials file",
                cli.credentials
                    .as_deref()
                    .unwrap_or_else(|| std::path::Path::new(""))
                    .display(),
                existing.user,
                existing.api,
                cli.user,
                api_text
            );
        }
    }

    let ids: Vec<String> = (0..cli.chargers).map(|i| cli::ocpp_id(&cli.id_prefix, i)).collect();
    let mut known: Vec<Option<Credential>> = ids
        .iter()
        .map(|id| file.as_ref().and_then(|f| f.find(id)).cloned())
        .collect();
    let missing: Vec<usize> = (0..ids.len())
        .filter(|i| known.get(*i).is_some_and(Option::is_none))
        .collect();
    let mut report = RegistrationReport {
        reused: ids.len() - missing.len(),
        ..RegistrationReport::default()
    };

    if !missing.is_empty() {
        let (client_id, client_secret) = cli.client_credentials("register chargers")?;
        let token = api
            .token(&client_id, &client_secret)
            .await
            .context("could not get an access token")?;
        api.put_user(&token, &cli.user)
            .await
            .with_context(|| format!("could not create user {}", cli.user))?;
        eprintln!("registering {} chargers ({} at a time)", missing.len(), cli.concurrency);
        let errors = ErrorLog::default();
        let token = token.as_str();
        let results: Vec<(usize, anyhow::Result<Credential>)> = futures::stream::iter(missing)
            .map(|index| {
                let id = ids.get(index).cloned().unwrap_or_default();
                async move { (index, api.register_charger(token, &cli.user, &id).await) }
            })
            .buffer_unordered(cli.concurrency)
            .collect()
            .await;
        let mut new = Vec::new();
        for (index, result) in results {
            match result {
                Ok(credential) => {
                    new.push(credential.clone());
                    if let Some(slot) = known.get_mut(index) {
                        *slot = Some(credential);
                    }
                }
                Err(error) => {
                    report.failed += 1;
                    errors.note(&format!("{error:#}"));
                }
            }
        }
        report.registered = new.len();
        report.errors = errors.messages();
        if let (Some(path), false) = (&cli.credentials, new.is_empty()) {
            let file = file.get_or_insert_with(|| CredentialsFile {
                api: api_text.clone(),
                user: cli.user.clone(),
                chargers: Vec::new(),
            });
            file.merge(new);
            file.save(path)?;
            eprintln!("credentials written to {}", path.display());
        }
    }
    Ok((known.into_iter().flatten().collect(), report))
}

/// Where a charger connects: `--ocpp-url` plus its id, or the ocppUrl Coupler returned,
/// which must point at the --api host so the tool never loads another machine by surprise.
fn websocket_url(cli: &Cli, credential: &Credential) -> anyhow::Result<Url> {
    if let Some(base) = &cli.ocpp_url {
        let mut url = base.clone();
        url.path_segments_mut()
            .map_err(|()| anyhow::anyhow!("--ocpp-url {base} cannot be a base URL"))?
            .pop_if_empty()
            .push(&credential.ocpp_id);
        return Ok(url);
    }
    let url = Url::parse(&credential.ocpp_url).with_context(|| {
        format!(
            "Coupler gave {} an unusable ocppUrl {}",
            credential.ocpp_id, credential.ocpp_url
        )
    })?;
    if url.scheme() != "ws" {
        bail!("ocppUrl {url} is not ws://; the load generator speaks plain WebSocket only (set --ocpp-url)");
    }
    if url.host_str() != cli.api.host_str() || url.port_or_known_default() != cli.api.port_or_known_default() {
        bail!(
            "ocppUrl {url} is not on the --api host {}; set --ocpp-url to say where chargers connect",
            cli.api
        );
    }
    Ok(url)
}

/// Waits until every charger is up (or the ramp plus a settling time has passed), then
/// sends the commands.
async fn measure_commands(
    cli: &Cli,
    api: &Api,
    shared: &Shared,
    slots: &[Arc<Slot>],
    load_started: Instant,
    rng: &mut StdRng,
) -> Result<CommandReport, String> {
    let settle_by = load_started + cli.ramp + SETTLE_TIMEOUT;
    while slots.iter().any(|slot| !slot.is_up()) && Instant::now() < settle_by {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let up = slots.iter().filter(|slot| slot.is_up()).count();
    tokio::time::sleep(cli.command_delay).await;
    // Commands may enter at another node than the one the chargers are connected to.
    let other;
    let api = match &cli.command_api {
        Some(url) => {
            other = Api::new(url.clone(), 1).map_err(|e| format!("{e:#}"))?;
            &other
        }
        None => api,
    };
    eprintln!(
        "{up} of {} chargers up: sending {} START commands to {}",
        slots.len(),
        cli.commands,
        api.endpoint(&[]).map_or_else(|e| e.to_string(), |url| url.to_string())
    );
    let (client_id, client_secret) = cli.client_credentials("send commands").map_err(|e| e.to_string())?;
    let token = api
        .token(&client_id, &client_secret)
        .await
        .map_err(|e| format!("could not get an access token: {e:#}"))?;
    let plan = commands::Plan {
        count: cli.commands,
        spacing: cli.command_spacing,
        call_timeout: cli.call_timeout,
    };
    Ok(commands::measure(api, &token, slots, plan, rng, &shared.shutdown).await)
}

/// Sleeps until the wall-clock time `unix_seconds` (`--start-at`); says so when that has passed.
async fn wait_until_wall_clock(unix_seconds: f64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    if unix_seconds > now {
        tokio::time::sleep(Duration::from_secs_f64(unix_seconds - now)).await;
    } else {
        eprintln!(
            "warning: --start-at passed {:.1} s ago (registration took longer); starting now",
            now - unix_seconds
        );
    }
}

/// Completes on Ctrl-C; never, if the signal cannot be watched (the run then ends on time).
async fn interrupted() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Prints a progress line to stderr every [`PROGRESS_INTERVAL`] until aborted.
async fn report_progress(shared: Arc<Shared>, chargers: usize, started: Instant) {
    let mut ticks = tokio::time::interval_at(started + PROGRESS_INTERVAL, PROGRESS_INTERVAL);
    // On a saturated machine, skip a late line rather than print a burst of them.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut before = shared.stats.counters.snapshot();
    let mut previous_tick = started;
    loop {
        let tick = ticks.tick().await;
        let now = shared.stats.counters.snapshot();
        let latency = shared.stats.take_interval_latency();
        eprintln!(
            "{}",
            crate::report::progress_line(
                tick.saturating_duration_since(started),
                chargers,
                &before,
                &now,
                tick.saturating_duration_since(previous_tick),
                latency.as_ref(),
            )
        );
        before = now;
        previous_tick = tick;
    }
}

/// Warns when the process may not open one socket per charger.
fn warn_about_file_limit(chargers: usize) {
    let Some(limit) = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| open_files_limit(&text))
    else {
        return;
    };
    let needed = chargers as u64 + SPARE_FILES;
    if needed > limit {
        eprintln!(
            "warning: {chargers} chargers need about {needed} open files, but the limit is {limit} \
             (ulimit -n); connections beyond it will fail"
        );
    }
}

/// The soft "Max open files" limit from the text of `/proc/self/limits`.
fn open_files_limit(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|line| line.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn credential(url: &str) -> Credential {
        Credential {
            ocpp_id: "LG-000007".to_owned(),
            charger_id: "chg_7".to_owned(),
            ocpp_url: url.to_owned(),
            password: "pw".to_owned(),
        }
    }

    fn cli(args: &[&str]) -> Cli {
        let mut all = vec!["coupler-loadgen"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).unwrap()
    }

    #[test]
    fn the_open_files_limit_is_read_from_proc_limits() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max cpu time              unlimited            unlimited            seconds\n\
                      Max open files            20000                20000                files\n";
        assert_eq!(open_files_limit(limits), Some(20_000));
        assert_eq!(open_files_limit("Max open files unlimited unlimited files"), None);
        assert_eq!(open_files_limit(""), None);
    }

    #[test]
    fn chargers_connect_to_the_ocpp_url_coupler_returns_on_the_api_host() {
        let url = websocket_url(&cli(&[]), &credential("ws://127.0.0.1:8080/ocpp/LG-000007")).unwrap();
        assert_eq!(url.as_str(), "ws://127.0.0.1:8080/ocpp/LG-000007");
    }

    #[test]
    fn an_ocpp_url_on_another_host_is_refused_unless_given_explicitly() {
        let elsewhere = credential("ws://coupler.example.com/ocpp/LG-000007");
        assert!(websocket_url(&cli(&[]), &elsewhere).is_err());
        assert!(websocket_url(&cli(&[]), &credential("ws://127.0.0.1:9999/ocpp/LG-000007")).is_err());
        assert!(websocket_url(&cli(&[]), &credential("wss://127.0.0.1:8080/ocpp/LG-000007")).is_err());
        let explicit = websocket_url(&cli(&["--ocpp-url", "ws://127.0.0.1:9000/ocpp/"]), &elsewhere).unwrap();
        assert_eq!(explicit.as_str(), "ws://127.0.0.1:9000/ocpp/LG-000007");
    }
}
