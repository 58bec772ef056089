//! The replan benchmark through the whole engine: Coupler serving on a real socket over a real
//! database, `--users` users each with a charger at a home location in one price area, a car plugged
//! in and a smart-charging policy whose plan is live; then a new day-ahead series is pushed for the
//! area through the API, and the time is taken until every user's plan has been made again and
//! stored (each a reconcile of the plan keeper: the policy, the charger, its session and location
//! read, the area's prices read, the planner run, the plan and its event written, and the plan's
//! `schedule` limit source handed to the limit keeper).
//!
//! The planner alone is timed by `coupler-planbench`; this is the figure a price update costs.
//!
//! ```sh
//! cargo run --release -p coupler-planbench --bin coupler-replanbench -- --users 10000
//! cargo run --release -p coupler-planbench --bin coupler-replanbench -- --users 10000 \
//!     --database-url postgres://postgres@127.0.0.1:5432/postgres
//! ```

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::{DurationRound, Utc};
use clap::Parser;
use coupler::server::{Server, Wiring};
use coupler_core::charger::{Charger, ChargerId, ConnectorStatus, OcppIdentity};
use coupler_core::client::ClientId;
use coupler_core::secret::hash_secret;
use coupler_core::store::Store;
use coupler_core::user::UserId;
use coupler_planbench::{wait_until, BenchClient, TempDir};
use futures::{stream, StreamExt, TryStreamExt};
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// Times replanning every user's plan after a price update, through Coupler's engine.
#[derive(Debug, Parser)]
#[command(name = "coupler-replanbench")]
struct Cli {
    /// Users, each with one charger, one plugged-in car and one live plan.
    #[arg(long, default_value_t = 10_000)]
    users: usize,
    /// The database (a fresh SQLite file in the temporary directory when absent). A PostgreSQL
    /// database is used as it is: give an empty one (the benchmark's rows are not removed).
    #[arg(long)]
    database_url: Option<String>,
    /// Price updates timed (the report gives each).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Requests and store calls in flight while the users are set up.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
}

/// The area every user's home is priced by.
const AREA: &str = "BENCH-1";

/// How long the benchmark waits for a set-up or a replan before it gives up.
const PATIENCE: Duration = Duration::from_secs(600);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Coupler's own logs, when RUST_LOG asks for them (to stderr, apart from the report).
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    if cli.users == 0 || cli.rounds == 0 {
        bail!("--users and --rounds must be at least 1");
    }
    let (url, _temp) = match &cli.database_url {
        Some(url) => (url.clone(), None),
        None => {
            let dir = std::env::temp_dir().join(format!("coupler-replanbench-{}", std::process::id()));
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
    let base = format!("http://{}", listener.local_addr()?);
    let mut wiring = Wiring::minimal(store.clone(), base.parse()?);
    // One API client sets up every user: its request rate is the benchmark's, not a tenant's.
    wiring.rate_limits.api_per_client = coupler_api::limits::Rate {
        burst: 1_000_000,
        per_minute: 1_000_000,
    };
    let server = Server::serve_with(listener, None, wiring).await?;
    let api = Api::new(&base, store.as_ref()).await?;

    let setup = Instant::now();
    api.push_prices(0).await?;
    let chargers: Vec<ChargerId> = stream::iter(0..cli.users)
        .map(|i| api.household(store.clone(), i))
        .buffer_unordered(cli.concurrency)
        .try_collect()
        .await?;
    wait_until(&format!("{} plans are live", cli.users), PATIENCE, || async {
        Ok(store.live_smart_plans().await?.len() >= cli.users)
    })
    .await?;
    // The set-up's own price changes (each new location in the area is one) settle first: timing
    // starts with no plan being made.
    let mut previous = None;
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let newest = store.live_smart_plans().await?.iter().map(|p| p.updated_at).max();
        if previous == Some(newest) {
            break;
        }
        previous = Some(newest);
    }
    eprintln!(
        "set up {} users with live plans in {:.1} s",
        chargers.len(),
        setup.elapsed().as_secs_f64()
    );

    // The benchmark looks at the plans over a connection of its own, so its looks do not queue
    // with Coupler's work (SQLite's store serves Coupler through one connection).
    let watcher = coupler_store::open(&url)
        .await
        .with_context(|| format!("cannot open {}", coupler_store::redact_url(&url)))?;
    let mut times = Vec::new();
    for round in 1..=cli.rounds {
        let pushed_at = coupler_core::time::now();
        let started = Instant::now();
        api.push_prices(round).await?;
        let answered = started.elapsed();
        wait_until("every plan is made again", PATIENCE, || async {
            Ok(watcher.count_live_smart_plans_stored_before(pushed_at).await? == 0)
        })
        .await?;
        let elapsed = started.elapsed();
        eprintln!(
            "round {round}: push answered in {} ms; every plan made again after {:.2} s",
            answered.as_millis(),
            elapsed.as_secs_f64()
        );
        times.push(elapsed.as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let report = json!({
        "users": cli.users,
        "database": url.split(':').next().unwrap_or_default(),
        "rounds": cli.rounds,
        "medianSeconds": times[times.len() / 2],
        "fastestSeconds": times[0],
        "slowestSeconds": times[times.len() - 1],
    });
    // Written rather than printed so a closed stdout (`| head`) is an error, not a panic.
    writeln!(std::io::stdout().lock(), "{}", serde_json::to_string_pretty(&report)?)?;
    server.stop().await?;
    Ok(())
}

/// The benchmark's API client and what it set up.
struct Api {
    bench: BenchClient,
    client: ClientId,
}

impl Api {
    /// An API client made as `coupler clients create` makes one, with a token.
    async fn new(base: &str, store: &dyn Store) -> anyhow::Result<Self> {
        let bench = BenchClient::new(base, store, "replan bench", coupler_core::time::now()).await?;
        Ok(Self {
            client: bench.id().clone(),
            bench,
        })
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> anyhow::Result<Value> {
        self.bench.send(method, path, Some(&body)).await
    }

    /// A day-ahead series for the area from this hour: 36 hourly prices whose cheapest hours move
    /// with `round`, so that every plan changes.
    async fn push_prices(&self, round: usize) -> anyhow::Result<()> {
        let hour = Utc::now().duration_trunc(chrono::Duration::hours(1))?;
        let slots: Vec<Value> = (0..36_i64)
            .map(|i| {
                let cheap = (i + i64::try_from(round).unwrap_or(0) * 5) % 24 < 4;
                json!({
                    "start": (hour + chrono::Duration::hours(i)).to_rfc3339(),
                    "end": (hour + chrono::Duration::hours(i + 1)).to_rfc3339(),
                    "pricePerKwh": if cheap { 0.08 } else { 0.25 + (i % 7) as f64 * 0.01 },
                })
            })
            .collect();
        self.send(
            reqwest::Method::POST,
            &format!("/price-areas/{AREA}/prices"),
            json!({"slots": slots}),
        )
        .await?;
        Ok(())
    }

    /// User `i`: a home in the area, a charger there with a car plugged in (as its status
    /// notification would record it), and a policy for 20 kWh by 07:00 the next morning.
    async fn household(&self, store: Arc<dyn Store>, i: usize) -> anyhow::Result<ChargerId> {
        let user = format!("user-{i}");
        let home = self
            .send(
                reqwest::Method::POST,
                &format!("/users/{user}/locations"),
                json!({"name": "Home", "latitude": 59.91, "longitude": 10.75, "timezoneName": "UTC", "priceArea": AREA}),
            )
            .await?;
        let charger = Charger {
            id: ChargerId::generate(),
            client_id: self.client.clone(),
            user_id: UserId::parse(&user)?,
            ocpp_id: OcppIdentity::parse(&format!("BENCH-{i}"))?,
            name: None,
            location_id: home["id"].as_str().map(str::to_owned),
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
        // Chargers are set up in the store: a charger password's hash is deliberately slow.
        store.insert_charger(&charger, &hash_secret("bench-charger")).await?;
        store
            .record_status(
                &charger.id,
                &ConnectorStatus {
                    connector_id: 1,
                    status: "SuspendedEV".into(),
                    error_code: "NoError".into(),
                    info: None,
                    power_delivery_state: coupler_core::charger::PowerDeliveryState::Stopped,
                    updated_at: coupler_core::time::now(),
                },
            )
            .await?;
        self.send(
            reqwest::Method::PUT,
            &format!("/chargers/{}/smart-charging-policy", charger.id),
            json!({"deadline": "07:00", "targetEnergy": 20.0}),
        )
        .await?;
        Ok(charger.id)
    }
}
