//! The simulated chargers, in a process of their own: 10,000 chargers and Coupler's 10,000 sockets
//! do not fit one process's open-file cap (20,000 here), so the benchmark runs itself again with
//! `--fleet` and talks to it through its stdin and stdout, a JSON message a line.
//!
//! The fleet connects its chargers through the load generator's sessions (real WebSockets, the
//! sans-io charge point of `coupler-chargepoint`), each keeping every change of its charging
//! profiles; once told each charger's start and the cap, it reports for each when its composite
//! schedule first showed the cap, as soon as all have or the benchmark's give-up time passes, and
//! keeps its chargers connected until told to stop (Coupler confirms targets by asking them).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use coupler_loadgen::charger::{Identity, Settings};
use coupler_loadgen::session::{self, Shared, Slot, Target};
use coupler_loadgen::stats::Stats;
use coupler_ocpp::OcppVersion;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::reach::cap_shown_at;

/// How often the fleet looks at its chargers while connecting and watching.
const LOOK_EVERY: Duration = Duration::from_millis(250);

/// One charger's credentials.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credential {
    /// Its OCPP identity.
    pub ocpp_id: String,
    /// Its password (Basic auth).
    pub password: String,
}

/// What the benchmark tells a fleet.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ToFleet {
    /// Connect these chargers to `ocpp_url` (their identity appended), spread over `ramp_ms`.
    #[serde(rename_all = "camelCase")]
    Connect {
        /// Coupler's OCPP endpoint.
        ocpp_url: Url,
        /// The chargers.
        chargers: Vec<Credential>,
        /// How long the connections are spread over, milliseconds.
        ramp_ms: u64,
    },
    /// Report when each charger's composite schedule showed the cap, from its start.
    #[serde(rename_all = "camelCase")]
    Watch {
        /// The cap, amperes per phase.
        cap_a: f64,
        /// Each charger's start (the event's start plus its delay), by OCPP identity.
        starts: HashMap<String, DateTime<Utc>>,
        /// When to report whatever is known.
        give_up_at: DateTime<Utc>,
    },
    /// Close every connection and end.
    Stop,
}

/// What a fleet tells the benchmark.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum FromFleet {
    /// How many chargers are connected with an accepted boot.
    Up {
        /// Connected and booted.
        up: usize,
    },
    /// When each watched charger's composite schedule showed the cap.
    #[serde(rename_all = "camelCase")]
    Reached {
        /// By OCPP identity: seconds from its start until the cap showed; `None`: not by the
        /// give-up time.
        seconds: HashMap<String, Option<f64>>,
        /// By OCPP identity: since when the charger held the profiles that showed the cap.
        held_from: HashMap<String, DateTime<Utc>>,
        /// Connections that could not be opened (attempts).
        connect_failures: u64,
        /// Connections lost after opening.
        disconnects: u64,
        /// Calls from Coupler the chargers answered.
        incoming_calls: u64,
    },
}

/// Runs a fleet on stdin and stdout until told to stop or stdin closes.
pub async fn serve() -> anyhow::Result<()> {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut stdout = tokio::io::stdout();
    let Some(first) = lines.next_line().await? else {
        return Ok(());
    };
    let ToFleet::Connect {
        ocpp_url,
        chargers,
        ramp_ms,
    } = serde_json::from_str(&first).context("the first message must be Connect")?
    else {
        bail!("the first message must be Connect");
    };
    let shared = Arc::new(Shared {
        stats: Stats::default(),
        settings: Arc::new(Settings {
            heartbeat_interval: Duration::ZERO,
            meter_interval: Duration::ZERO,
            transactions: false,
            transaction_duration: Duration::from_secs(3600),
            plugged_in: false,
            call_timeout: Duration::from_secs(60),
            version: OcppVersion::V16,
        }),
        shutdown: CancellationToken::new(),
    });
    let began = Instant::now();
    let count = chargers.len();
    let mut slots = Vec::with_capacity(count);
    let mut tasks = JoinSet::new();
    for (index, credential) in chargers.into_iter().enumerate() {
        let mut url = ocpp_url.clone();
        url.path_segments_mut()
            .map_err(|()| anyhow::anyhow!("{ocpp_url} cannot be a base URL"))?
            .pop_if_empty()
            .push(&credential.ocpp_id);
        let target = Target::new(url, &credential.ocpp_id, &credential.password)?;
        let slot = Arc::new(Slot::keeping_profiles(credential.ocpp_id.clone(), String::new()));
        let identity = Identity {
            ocpp_id: credential.ocpp_id,
            heartbeat_phase: Duration::ZERO,
            meter_phase: Duration::ZERO,
            initial_energy_wh: 0.0,
        };
        let start_at = began + coupler_loadgen::schedule::start_offset(index, count, Duration::from_millis(ramp_ms));
        tasks.spawn(session::run_charger(
            shared.clone(),
            slot.clone(),
            target,
            identity,
            start_at,
        ));
        slots.push(slot);
    }

    // Until told to watch: how many are up, whenever that changes.
    let watch = {
        let mut told = usize::MAX;
        loop {
            let up = slots.iter().filter(|s| s.is_up()).count();
            if up != told {
                say(&mut stdout, &FromFleet::Up { up }).await?;
                told = up;
            }
            tokio::select! {
                line = lines.next_line() => match line? {
                    Some(line) => break serde_json::from_str::<ToFleet>(&line)?,
                    None => return stop(&shared, tasks).await,
                },
                () = tokio::time::sleep(LOOK_EVERY) => {}
            }
        }
    };
    let (cap_a, starts, give_up_at) = match watch {
        ToFleet::Watch {
            cap_a,
            starts,
            give_up_at,
        } => (cap_a, starts, give_up_at),
        ToFleet::Stop => return stop(&shared, tasks).await,
        ToFleet::Connect { .. } => bail!("Connect was sent twice"),
    };

    let mut seconds: HashMap<String, Option<f64>> = HashMap::new();
    let mut held_from: HashMap<String, DateTime<Utc>> = HashMap::new();
    loop {
        let now = Utc::now();
        for slot in &slots {
            let Some(start) = starts.get(&slot.ocpp_id) else {
                continue;
            };
            if seconds.get(&slot.ocpp_id).is_some_and(Option::is_some) {
                continue;
            }
            let shown = cap_shown_at(&slot.profile_changes(), *start, cap_a, now);
            if let Some(shown) = shown {
                held_from.insert(slot.ocpp_id.clone(), shown.held_from);
            }
            let taken = shown.map(|shown| (shown.at - *start).num_milliseconds() as f64 / 1000.0);
            seconds.insert(slot.ocpp_id.clone(), taken);
        }
        let all = seconds.values().filter(|s| s.is_some()).count() == starts.len();
        if all || now >= give_up_at {
            break;
        }
        tokio::time::sleep(LOOK_EVERY).await;
    }
    let counters = shared.stats.counters.snapshot();
    say(
        &mut stdout,
        &FromFleet::Reached {
            seconds,
            held_from,
            connect_failures: counters.failed,
            disconnects: counters.disconnects,
            incoming_calls: counters.incoming_calls,
        },
    )
    .await?;
    // Connected until told otherwise: Coupler still reads their schedules to confirm.
    while let Some(line) = lines.next_line().await? {
        if matches!(serde_json::from_str(&line)?, ToFleet::Stop) {
            break;
        }
    }
    stop(&shared, tasks).await
}

/// Writes one message to the benchmark.
async fn say(stdout: &mut tokio::io::Stdout, message: &FromFleet) -> anyhow::Result<()> {
    let mut line = serde_json::to_string(message)?;
    line.push('\n');
    stdout.write_all(line.as_bytes()).await?;
    stdout.flush().await?;
    Ok(())
}

/// Closes every charger's connection (waiting a little for the close handshakes) and ends.
async fn stop(shared: &Shared, mut tasks: JoinSet<()>) -> anyhow::Result<()> {
    shared.shutdown.cancel();
    let closed = tokio::time::timeout(session::SHUTDOWN_GRACE + Duration::from_secs(5), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if closed.is_err() {
        tasks.abort_all();
    }
    Ok(())
}
