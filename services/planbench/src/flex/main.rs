//! The flex-event benchmark: Coupler serving on a real socket over a real database, `--chargers`
//! users each with a charger enrolled in a CAPACITY_LIMIT program, the chargers connected as
//! simulated OCPP 1.6 charge points over real WebSockets (the load generator's, in a second process:
//! see [`fleet`]); then one import-limit event for the whole program is created through
//! `POST /programs/{id}/events`, starting `--lead-seconds` ahead with a random delay of up to
//! `--max-delay-seconds` per target, and carried out by Coupler's own flex and limit keepers.
//!
//! For each charger it measures the time from its own start (the event's start plus its delay)
//! until its composite schedule, as the simulated charger itself computes it from the profiles it
//! holds, shows the cap; and it counts the targets Coupler reports CONFIRMED in the event's
//! progress (`GET /programs/{id}/events/{eventId}`), with the time from each target's start to its
//! confirmation.
//!
//! Users and chargers are set up in the store (as `coupler-replanbench` does); the program, the
//! enrolments and the event go through the REST API.
//!
//! ```sh
//! cargo run --release -p coupler-planbench --bin coupler-flexbench -- --chargers 10000
//! cargo run --release -p coupler-planbench --bin coupler-flexbench -- --chargers 10000 \
//!     --database-url postgres://postgres@127.0.0.1:5432/flexbench
//! ```

use std::collections::HashMap;
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::{DateTime, SubsecRound, Utc};
use clap::Parser;
use coupler::server::{Server, Wiring};
use coupler_core::charger::{Charger, ChargerId, OcppIdentity};
use coupler_core::client::ClientId;
use coupler_core::secret::hash_secret;
use coupler_core::store::Store;
use coupler_core::user::UserId;
use coupler_planbench::{wait_until, BenchClient, TempDir};
use futures::{stream, StreamExt, TryStreamExt};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::TcpListener;
use tokio::process::{Child, ChildStdin, ChildStdout};

mod fleet;
mod reach;

use fleet::{Credential, FromFleet, ToFleet};
use reach::Spread;

/// Times an import-limit event on many enrolled chargers, through Coupler's engine and real
/// OCPP sockets.
#[derive(Debug, Parser)]
#[command(name = "coupler-flexbench")]
struct Cli {
    /// Chargers, each with its own user and enrolment.
    #[arg(long, default_value_t = 10_000)]
    chargers: usize,
    /// The database (a fresh SQLite file in the temporary directory when absent). A PostgreSQL
    /// database is used as it is: give an empty one (the benchmark's rows are not removed).
    #[arg(long)]
    database_url: Option<String>,
    /// How far ahead of its creation the event starts, seconds.
    #[arg(long, default_value_t = 60)]
    lead_seconds: u32,
    /// The longest random delay of a target's start, seconds (the program's randomisation).
    #[arg(long, default_value_t = 300)]
    max_delay_seconds: u32,
    /// The cap, amperes per phase (below the simulated chargers' 16 A).
    #[arg(long, default_value_t = 8.0)]
    cap_amps: f64,
    /// How long after the last target's start the benchmark waits for stragglers, seconds.
    #[arg(long, default_value_t = 120)]
    settle_seconds: u32,
    /// Processes the simulated chargers are spread over (each holds one socket per charger).
    #[arg(long, default_value_t = 1)]
    fleets: usize,
    /// How long the chargers' connections are spread over, seconds.
    #[arg(long, default_value_t = 60)]
    ramp_seconds: u32,
    /// Requests and store calls in flight while the users are set up.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Run as a fleet of simulated chargers driven through stdin and stdout (the benchmark starts
    /// its own).
    #[arg(long, hide = true)]
    fleet: bool,
}

/// The password of every benchmark charger.
const CHARGER_PASSWORD: &str = "flexbench-charger";

/// How long the set-up waits for the chargers to connect and say what they can do.
const SETUP_PATIENCE: Duration = Duration::from_secs(900);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.fleet {
        return fleet::serve().await;
    }
    // Coupler's own logs, when RUST_LOG asks for them (to stderr, apart from the report).
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    if cli.chargers == 0 || cli.fleets == 0 || cli.fleets > cli.chargers {
        bail!("--chargers and --fleets must be at least 1, and --fleets at most --chargers");
    }
    if cli.lead_seconds == 0 || cli.max_delay_seconds > 1800 || !(0.0..16.0).contains(&cli.cap_amps) {
        bail!("--lead-seconds must be at least 1, --max-delay-seconds at most 1800, --cap-amps below 16");
    }
    let report = run(&cli).await?;
    // Written rather than printed so a closed stdout (`| head`) is an error, not a panic.
    writeln!(std::io::stdout().lock(), "{}", serde_json::to_string_pretty(&report)?)?;
    Ok(())
}

/// What a run measured.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    chargers: usize,
    database: String,
    lead_seconds: u32,
    max_delay_seconds: u32,
    cap_amps: f64,
    /// Seconds: users and chargers stored; chargers connected and their capabilities learnt;
    /// enrolments made through the API.
    setup_seconds: SetupSeconds,
    /// Enrolments ACTIVE when the event was sent.
    active_enrolments: usize,
    /// How long `POST /programs/{id}/events` took to answer, seconds.
    event_answered_seconds: f64,
    /// The event's targets.
    targets: usize,
    /// Chargers whose composite schedule showed the cap, and the time from each one's start.
    cap_shown: usize,
    /// Of those, how many held the cap before their start (0 s).
    cap_shown_at_start: usize,
    cap_shown_seconds: Option<Spread>,
    /// The time from the event's creation (its POST sent) until each charger held the profile that
    /// showed the cap: how long Coupler took to put the event on the chargers.
    cap_held_after_post_seconds: Option<Spread>,
    /// Chargers whose schedule had not shown the cap by the give-up time.
    cap_not_shown: usize,
    /// Targets Coupler reports CONFIRMED, and the time from each one's start to its confirmation.
    confirmed: usize,
    confirmed_seconds: Option<Spread>,
    /// The event's targets in each state at the end.
    summary: Value,
    /// Connection attempts that failed, and connections lost, in the fleets.
    connect_failures: u64,
    disconnects: u64,
    /// Calls from Coupler the chargers answered (boot-time reads, profiles, schedules).
    incoming_calls: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SetupSeconds {
    stored: f64,
    connected: f64,
    enrolled: f64,
}

async fn run(cli: &Cli) -> anyhow::Result<Report> {
    let (url, _temp) = match &cli.database_url {
        Some(url) => (url.clone(), None),
        None => {
            let dir = std::env::temp_dir().join(format!("coupler-flexbench-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            (
                format!("sqlite://{}/bench.db?mode=rwc", dir.display()),
                Some(TempDir(dir)),
            )
        }
    };
    let store = coupler_store::open(&url)
        .await
        .with_context(|| format!("cannot open {}", coupler_store::redact_url(&url)))?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let base = format!("http://{address}");
    let mut wiring = Wiring::minimal(store.clone(), base.parse()?);
    // One API client sets up every user: its request rate is the benchmark's, not a tenant's.
    wiring.rate_limits.api_per_client = coupler_api::limits::Rate {
        burst: 1_000_000,
        per_minute: 1_000_000,
    };
    let server = Server::serve_with(listener, None, wiring).await?;
    let api = Api::new(&base, store.as_ref()).await?;

    // Users and their chargers, in the store (an HTTP call each would time the API, not the event).
    let started = Instant::now();
    let password_hash = hash_secret(CHARGER_PASSWORD);
    let chargers: Vec<(ChargerId, String, String)> = stream::iter(0..cli.chargers)
        .map(|i| {
            let store = store.clone();
            let client = api.client.clone();
            let password_hash = password_hash.clone();
            async move {
                let user_name = format!("flex-user-{i}");
                let user = UserId::parse(&user_name)?;
                store.upsert_user(&client, &user).await?;
                let ocpp_id = format!("FLEX-{i:05}");
                let charger = Charger {
                    id: ChargerId::generate(),
                    client_id: client,
                    user_id: user,
                    ocpp_id: OcppIdentity::parse(&ocpp_id)?,
                    name: None,
                    location_id: None,
                    ocpp_version: None,
                    info: Default::default(),
                    connectors: Vec::new(),
                    meter: Default::default(),
                    max_current: None,
                    is_connected: false,
                    last_seen: None,
                    firmware_status: None,
                    created_at: coupler_core::time::now(),
                };
                store.insert_charger(&charger, &password_hash).await?;
                anyhow::Ok((charger.id, ocpp_id, user_name))
            }
        })
        .buffer_unordered(cli.concurrency)
        .try_collect()
        .await?;
    let stored = started.elapsed();
    eprintln!(
        "{} users and chargers stored in {:.1} s",
        chargers.len(),
        stored.as_secs_f64()
    );

    // The chargers connect, boot and are asked what they can do.
    let started = Instant::now();
    let mut fleets = Vec::new();
    for part in 0..cli.fleets {
        let mine: Vec<Credential> = chargers
            .iter()
            .skip(part)
            .step_by(cli.fleets)
            .map(|(_, ocpp_id, _)| Credential {
                ocpp_id: ocpp_id.clone(),
                password: CHARGER_PASSWORD.to_owned(),
            })
            .collect();
        let mut fleet = Fleet::start().await?;
        fleet
            .tell(&ToFleet::Connect {
                ocpp_url: format!("ws://{address}/ocpp/").parse()?,
                chargers: mine,
                ramp_ms: u64::from(cli.ramp_seconds) * 1000,
            })
            .await?;
        fleets.push(fleet);
    }
    let mut up = vec![0; fleets.len()];
    let give_up = Instant::now() + SETUP_PATIENCE;
    while up.iter().sum::<usize>() < cli.chargers {
        for (fleet, up) in fleets.iter_mut().zip(up.iter_mut()) {
            if let Ok(heard) = tokio::time::timeout(Duration::from_millis(100), fleet.hear()).await {
                match heard? {
                    FromFleet::Up { up: now } => *up = now,
                    FromFleet::Reached { .. } => bail!("a fleet reported before it was asked to watch"),
                }
            }
        }
        if Instant::now() > give_up {
            bail!("only {} of {} chargers came up", up.iter().sum::<usize>(), cli.chargers);
        }
    }
    wait_until("every charger's capabilities are known", SETUP_PATIENCE, || async {
        let known = stream::iter(&chargers)
            .map(|(id, _, _)| store.charger_capabilities(id))
            .buffer_unordered(cli.concurrency)
            .try_fold(0, |n, found| async move { Ok(n + usize::from(found.is_some())) })
            .await?;
        Ok(known == chargers.len())
    })
    .await?;
    let connected = started.elapsed();
    eprintln!(
        "{} chargers connected and asked in {:.1} s",
        chargers.len(),
        connected.as_secs_f64()
    );

    // The program and its enrolments, through the API.
    let started = Instant::now();
    let program = api.program().await?;
    // Each charger with its own user (the set-up finished them in any order).
    let statuses: Vec<String> = stream::iter(&chargers)
        .map(|(charger, _, user)| api.enrol(&program, user, charger.as_str()))
        .buffer_unordered(cli.concurrency)
        .try_collect()
        .await?;
    let active_enrolments = statuses.iter().filter(|s| *s == "ACTIVE").count();
    let enrolled = started.elapsed();
    eprintln!(
        "{} enrolments made ({active_enrolments} ACTIVE) in {:.1} s",
        statuses.len(),
        enrolled.as_secs_f64()
    );

    // The event.
    let start = (Utc::now() + chrono::Duration::seconds(i64::from(cli.lead_seconds))).trunc_subsecs(0);
    let posted = Instant::now();
    let posted_at = Utc::now();
    let event = api
        .send(
            reqwest::Method::POST,
            &format!("/programs/{program}/events"),
            json!({
                "start": start.to_rfc3339(),
                "durationMinutes": 120,
                "kind": "IMPORT_LIMIT",
                "value": cli.cap_amps,
                "unit": "A",
                "targets": {"program": true},
                "maxRandomDelaySeconds": cli.max_delay_seconds,
                "randomSeed": 15,
            }),
        )
        .await?;
    let event_answered_seconds = posted.elapsed().as_secs_f64();
    let event_path = format!(
        "/programs/{program}/events/{}",
        event["id"].as_str().context("the event has no id")?
    );
    let ocpp_of: HashMap<&str, &str> = chargers
        .iter()
        .map(|(id, ocpp, _)| (id.as_str(), ocpp.as_str()))
        .collect();
    let mut starts: HashMap<String, DateTime<Utc>> = HashMap::new();
    for part in event["progress"].as_array().context("the event has no progress")? {
        let charger = part["chargerId"].as_str().unwrap_or_default();
        let at: DateTime<Utc> = serde_json::from_value(part["startsAt"].clone())?;
        if let Some(ocpp) = ocpp_of.get(charger) {
            starts.insert((*ocpp).to_owned(), at);
        }
    }
    let targets = starts.len();
    let last_start = starts.values().max().copied().unwrap_or(start);
    let give_up_at = last_start + chrono::Duration::seconds(i64::from(cli.settle_seconds));
    eprintln!(
        "event sent to {targets} targets in {event_answered_seconds:.2} s; starts {start}, the last target at {last_start}"
    );
    for fleet in &mut fleets {
        fleet
            .tell(&ToFleet::Watch {
                cap_a: cli.cap_amps,
                starts: starts.clone(),
                give_up_at,
            })
            .await?;
    }

    // Coupler's own account, until every target is confirmed or the give-up time passes.
    let watched = async {
        loop {
            let event = api.send(reqwest::Method::GET, &event_path, Value::Null).await?;
            let confirmed = event["summary"]["CONFIRMED"].as_u64().unwrap_or_default();
            if confirmed as usize >= targets || Utc::now() >= give_up_at {
                return anyhow::Ok(event);
            }
            // Each look reads every target: not so often that the benchmark's looks weigh on Coupler.
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    };
    let reached = async {
        let mut all = Vec::new();
        for fleet in &mut fleets {
            loop {
                if let FromFleet::Reached {
                    seconds,
                    held_from,
                    connect_failures,
                    disconnects,
                    incoming_calls,
                } = fleet.hear().await?
                {
                    all.push((seconds, held_from, connect_failures, disconnects, incoming_calls));
                    break;
                }
            }
        }
        anyhow::Ok(all)
    };
    let (event, reached) = tokio::try_join!(watched, reached)?;
    for fleet in &mut fleets {
        fleet.tell(&ToFleet::Stop).await?;
    }

    let mut shown = Vec::new();
    let mut held = Vec::new();
    let (mut connect_failures, mut disconnects, mut incoming_calls) = (0, 0, 0);
    for (seconds, held_from, failures, lost, calls) in reached {
        shown.extend(seconds.into_values().flatten().map(|s| s.max(0.0)));
        held.extend(
            held_from
                .into_values()
                .map(|at| ((at - posted_at).num_milliseconds() as f64 / 1000.0).max(0.0)),
        );
        connect_failures += failures;
        disconnects += lost;
        incoming_calls += calls;
    }
    let confirmed_seconds: Vec<f64> = event["progress"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|part| part["state"] == "CONFIRMED")
        .filter_map(|part| {
            let starts: DateTime<Utc> = serde_json::from_value(part["startsAt"].clone()).ok()?;
            let updated: DateTime<Utc> = serde_json::from_value(part["updatedAt"].clone()).ok()?;
            Some(((updated - starts).num_milliseconds() as f64 / 1000.0).max(0.0))
        })
        .collect();
    for mut fleet in fleets {
        fleet.end().await;
    }
    server.stop().await?;
    Ok(Report {
        chargers: cli.chargers,
        database: url.split(':').next().unwrap_or_default().to_owned(),
        lead_seconds: cli.lead_seconds,
        max_delay_seconds: cli.max_delay_seconds,
        cap_amps: cli.cap_amps,
        setup_seconds: SetupSeconds {
            stored: round(stored.as_secs_f64()),
            connected: round(connected.as_secs_f64()),
            enrolled: round(enrolled.as_secs_f64()),
        },
        active_enrolments,
        event_answered_seconds: round(event_answered_seconds),
        targets,
        cap_shown: shown.len(),
        cap_shown_at_start: shown.iter().filter(|s| **s == 0.0).count(),
        cap_not_shown: targets - shown.len(),
        cap_shown_seconds: Spread::of(shown),
        cap_held_after_post_seconds: Spread::of(held),
        confirmed: confirmed_seconds.len(),
        confirmed_seconds: Spread::of(confirmed_seconds),
        summary: event["summary"].clone(),
        connect_failures,
        disconnects,
        incoming_calls,
    })
}

fn round(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

/// A fleet of simulated chargers: this program again, with `--fleet`.
struct Fleet {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Fleet {
    async fn start() -> anyhow::Result<Self> {
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .arg("--fleet")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start a fleet of chargers")?;
        let stdin = child.stdin.take().context("the fleet has no stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("the fleet has no stdout")?).lines();
        Ok(Self { child, stdin, stdout })
    }

    async fn tell(&mut self, message: &ToFleet) -> anyhow::Result<()> {
        let mut line = serde_json::to_string(message)?;
        line.push('\n');
        self.stdin.write_all(line.as_bytes()).await?;
        self.stdin.flush().await?;
        Ok(())
    }

    async fn hear(&mut self) -> anyhow::Result<FromFleet> {
        let line = self.stdout.next_line().await?.context("the fleet ended")?;
        Ok(serde_json::from_str(&line)?)
    }

    /// Waits for the fleet to close its connections and end (it was told to stop).
    async fn end(&mut self) {
        if tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// The benchmark's API client.
struct Api {
    bench: BenchClient,
    client: ClientId,
}

impl Api {
    /// An API client made as `coupler clients create` makes one, with a token.
    async fn new(base: &str, store: &dyn Store) -> anyhow::Result<Self> {
        let bench = BenchClient::new(base, store, "flex bench", coupler_core::time::now()).await?;
        Ok(Self {
            client: bench.id().clone(),
            bench,
        })
    }

    /// Sends a request (a body unless `Null`).
    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> anyhow::Result<Value> {
        self.bench.send(method, path, (!body.is_null()).then_some(&body)).await
    }

    /// A CAPACITY_LIMIT program taking chargers that take charging profiles, events at once.
    async fn program(&self) -> anyhow::Result<String> {
        let made = self
            .send(
                reqwest::Method::POST,
                "/programs",
                json!({
                    "name": "Flex bench",
                    "kind": "CAPACITY_LIMIT",
                    "eligibility": {
                        "deviceKinds": ["CHARGER"],
                        "requiredCapabilities": ["SMART_CHARGING_PROFILES"],
                        "serviceArea": [],
                    },
                    "limits": {"maxEventMinutes": 180, "minNoticeMinutes": 0},
                }),
            )
            .await?;
        Ok(made["id"].as_str().context("the program has no id")?.to_owned())
    }

    /// Enrols `user`'s charger in the program; its status.
    async fn enrol(&self, program: &str, user: &str, charger: &str) -> anyhow::Result<String> {
        let made = self
            .send(
                reqwest::Method::POST,
                &format!("/programs/{program}/enrolments"),
                json!({
                    "userId": user,
                    "deviceType": "CHARGER",
                    "deviceId": charger,
                    "consent": {"dataShared": ["meterReadings"], "howToLeave": "Unenrol in the app"},
                }),
            )
            .await?;
        Ok(made["status"].as_str().unwrap_or_default().to_owned())
    }
}
