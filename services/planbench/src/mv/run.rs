//! One run of the measurement benchmark through Coupler itself: Coupler serving on a real socket
//! over a real database, on a clock the benchmark moves; a program per event kind with every
//! household's charger enrolled; weeks of charging history written to the store as the chargers'
//! meters would have reported it; then, on each event day, an event sent through the API, the
//! day charged twice from the same draws (without the event: the truth; with it: what the
//! chargers report), and `GET /flex/events/{id}/results` asked for each baseline.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use anyhow::{bail, Context};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use coupler::server::{Server, Wiring};
use coupler_core::charger::{Charger, ChargerId, MeterSample, OcppIdentity};
use coupler_core::client::ClientId;
use coupler_core::clock::ManualClock;
use coupler_core::flex::{import_limit_amps, LimitUnit, SIMILAR_DAYS, SIMILAR_DAYS_LOOKBACK};
use coupler_core::sandbox::NeighbourhoodArea;
use coupler_core::secret::{generate_secret, hash_secret, SecretHash};
use coupler_core::store::{SessionStart, SessionStop, Store, StoreError};
use coupler_core::user::UserId;
use coupler_planbench::{BenchClient, TempDir};
use futures::{stream, StreamExt, TryStreamExt};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::fleet::{charge, energy_within, Fleet, Piece, Weather, PHASES, VOLTS};

/// What a run is asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// Households, each a car and a charger.
    pub households: usize,
    /// Days of history before the first event day.
    pub history_days: i64,
    /// Event days, one event each, kinds and control-group shares taken in turn.
    pub event_days: i64,
    /// The seed the fleet and its days are drawn from.
    pub seed: u64,
    /// The import limit of the IMPORT_LIMIT events, kW per site.
    pub cap_kw: f64,
    /// The control-group shares the events hold back, taken in turn.
    pub shares: Vec<f64>,
    /// The day-to-day spread of the need every household shares (the weather).
    pub weather_spread: f64,
    /// How much that need grows each day.
    pub trend_per_day: f64,
    /// The database; a fresh SQLite file in the temporary directory when absent.
    pub database_url: Option<String>,
    /// Requests and store calls in flight at once.
    pub concurrency: usize,
}

/// The households' local first day of history (a Monday; no clock change in the weeks after).
pub fn first_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 2).unwrap_or_default()
}

/// The neighbourhood the households live in.
pub fn area() -> NeighbourhoodArea {
    NeighbourhoodArea {
        latitude: 52.09,
        longitude: 5.12,
        radius_km: 2.0,
        time_zone: chrono_tz::Europe::Amsterdam,
    }
}

/// The event window, local time: the evening peak, 17:00 for four hours.
const EVENT_START_HOUR: u32 = 17;
/// The event's length, minutes.
const EVENT_MINUTES: i64 = 240;
/// Quarter-hours in the event window.
const QUARTERS: usize = (EVENT_MINUTES / 15) as usize;

/// What one baseline made of one event.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Estimate {
    /// The baseline's energy over the treated households and the window, kWh.
    pub baseline_kwh: f64,
    /// The delivered energy Coupler reports, kWh.
    pub delivered_kwh: f64,
    /// Reported less true delivered energy, kWh.
    pub error_kwh: f64,
    /// The error as a share of the true delivered energy, percent.
    pub error_percent: f64,
    /// The mean absolute error of each treated household's delivered energy, kWh.
    pub household_mean_abs_error_kwh: f64,
    /// The 90th percentile of it, kWh.
    pub household_p90_abs_error_kwh: f64,
}

/// One event and what each baseline made of it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventOutcome {
    /// The local day.
    pub day: NaiveDate,
    /// Its weekday.
    pub weekday: String,
    /// `IMPORT_LIMIT` or `PAUSE`.
    pub kind: String,
    /// The share held back.
    pub control_group_share: f64,
    /// Households the event applied to.
    pub treated: usize,
    /// Households held back.
    pub held_back: usize,
    /// What the treated households would have drawn in the window without the event, kWh.
    pub counterfactual_kwh: f64,
    /// What they drew with it, kWh (the simulation's own figure).
    pub actual_kwh: f64,
    /// What Coupler metered them drawing, kWh (from the stored meter readings).
    pub metered_actual_kwh: f64,
    /// The truth: counterfactual less actual, kWh.
    pub true_delivered_kwh: f64,
    /// What the event asked for: the counterfactual's energy above the cap (all of it for a
    /// pause), kWh.
    pub requested_kwh: f64,
    /// The similar-days baseline worked out from the simulation's own history (the ten most recent
    /// days of the same type on which the household took no part in an event), kWh: what Coupler's
    /// similar-days baseline should say.
    pub expected_similar_days_baseline_kwh: f64,
    /// The held-back households' mean load times the treated count, from the simulation, kWh:
    /// what Coupler's control-group baseline should say.
    pub expected_control_group_baseline_kwh: Option<f64>,
    /// Not a method of Coupler's: the control group's figure adjusted by the two groups' own
    /// similar-days history (the control mean scaled by the treated households' mean similar-days
    /// baseline over the control households'), a difference-in-differences that takes out the part
    /// of the gap between the groups that was there before the event; its delivered energy less
    /// the truth as a share of the truth, percent.
    pub adjusted_control_group_error_percent: Option<f64>,
    /// Coupler's similar-days figures.
    pub similar_days: Estimate,
    /// Coupler's control-group figures (when a group was held back).
    pub control_group: Option<Estimate>,
}

/// The benchmark's API client.
struct Api {
    bench: BenchClient,
    client: ClientId,
}

impl Api {
    /// An API client made as `coupler clients create` makes one, with a token.
    async fn new(base: &str, store: &dyn Store, now: DateTime<Utc>) -> anyhow::Result<Self> {
        let bench = BenchClient::new(base, store, "measurement bench", now).await?;
        Ok(Self {
            client: bench.id().clone(),
            bench,
        })
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.bench.send(reqwest::Method::POST, path, Some(&body)).await
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.bench.send(reqwest::Method::GET, path, None).await
    }
}

/// The start of the event window on local `day`.
fn window_start(fleet: &Fleet, day: NaiveDate) -> DateTime<Utc> {
    let naive = day.and_hms_opt(EVENT_START_HOUR, 0, 0).unwrap_or_default();
    naive
        .and_local_timezone(fleet.tz)
        .earliest()
        .map_or_else(|| naive.and_utc(), |t| t.with_timezone(&Utc))
}

/// The energy of each quarter-hour of the window starting at `from`, kWh.
fn quarters(pieces: &[Piece], from: DateTime<Utc>) -> [f64; QUARTERS] {
    let mut out = [0.0; QUARTERS];
    for (q, slot) in out.iter_mut().enumerate() {
        let start = from + Duration::minutes(15 * q as i64);
        *slot = energy_within(pieces, start, start + Duration::minutes(15));
    }
    out
}

/// One household's charger and its meter's register, Wh.
struct Meter {
    charger: ChargerId,
    register_wh: f64,
}

/// The readings a charger sends for a stay from `arrive` charged as `pieces`: the register every
/// quarter-hour from the arrival until charging has ended (paused quarter-hours included), and
/// when charging stops; returns them with the register at the end.
fn readings(arrive: DateTime<Utc>, pieces: &[Piece], start_wh: f64) -> (Vec<MeterSample>, f64) {
    let Some(last) = pieces.last().map(|p| p.end) else {
        return (Vec::new(), start_wh);
    };
    let mut times: Vec<DateTime<Utc>> = pieces.iter().map(|p| p.end).collect();
    let mut edge = crate::fleet::next_quarter(arrive);
    while edge < last {
        times.push(edge);
        edge += Duration::minutes(15);
    }
    times.sort();
    times.dedup();
    let samples = times
        .into_iter()
        .map(|at| MeterSample {
            sampled_at: at,
            measurand: "Energy.Active.Import.Register".into(),
            phase: None,
            unit: "Wh".into(),
            value: start_wh + energy_within(pieces, arrive, at) * 1000.0,
            context: Some("Sample.Periodic".into()),
        })
        .collect();
    (samples, start_wh + energy_within(pieces, arrive, last) * 1000.0)
}

/// Runs a store call again, with a growing pause, while the database says it is unavailable (its
/// pool busy with the engine's own work on an event's parts): as the gateway's charger would send
/// its message again. Other errors are returned at once.
async fn retrying<T, F, Fut>(mut call: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut pause = std::time::Duration::from_millis(200);
    for _ in 0..8 {
        match call().await {
            Err(StoreError::Unavailable(why)) => {
                tracing::debug!(%why, "the store is busy; trying again");
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            other => return other,
        }
    }
    call().await
}

/// Writes one stay's session to the store as the charger would have reported it.
async fn write_session(
    store: &dyn Store,
    charger: &ChargerId,
    arrive: DateTime<Utc>,
    leave: DateTime<Utc>,
    pieces: &[Piece],
    start_wh: f64,
) -> anyhow::Result<()> {
    let start = SessionStart {
        connector_id: 1,
        id_tag: Some("BENCH"),
        meter_start_wh: start_wh,
        started_at: arrive,
    };
    // A repeated start returns the first one's transaction.
    let transaction_id = retrying(|| store.start_session(charger, &start)).await?;
    let (samples, stop_wh) = readings(arrive, pieces, start_wh);
    if !samples.is_empty() {
        retrying(|| store.record_meter_values(charger, 1, Some(transaction_id), &samples)).await?;
    }
    let stop = SessionStop {
        transaction_id,
        meter_stop_wh: stop_wh,
        stopped_at: leave,
        reason: Some("EVDisconnected"),
        samples: &[],
    };
    retrying(|| store.stop_session(charger, &stop)).await?;
    Ok(())
}

/// Mean and 90th percentile of absolute values.
pub fn mean_and_p90(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let mut abs: Vec<f64> = values.iter().map(|v| v.abs()).collect();
    abs.sort_by(f64::total_cmp);
    let mean = abs.iter().sum::<f64>() / abs.len() as f64;
    let rank = ((abs.len() as f64 * 0.9).ceil() as usize).clamp(1, abs.len()) - 1;
    (mean, abs[rank])
}

/// An event as the households live it: whom it caps, to how many amperes per phase, when.
struct DayEvent<'a> {
    /// Per household: whether the event applies to it (not held back).
    treated: &'a [bool],
    /// The cap, amperes per phase (0: a pause).
    amps: f64,
    /// Its start.
    start: DateTime<Utc>,
    /// Its end.
    end: DateTime<Utc>,
}

/// The fleet's state across the run: each household's meter, the window energy of each of its
/// days as charged, and the days it took part in an event.
struct World {
    fleet: Fleet,
    meters: Vec<Meter>,
    /// Household → local day → the window's quarter-hour energies as charged, kWh.
    window_kwh: Vec<BTreeMap<NaiveDate, [f64; QUARTERS]>>,
    /// Household → the days it was treated.
    event_days: Vec<BTreeSet<NaiveDate>>,
}

impl World {
    /// Charges every household's stay of `day`, the treated ones under the `event`'s cap, and writes what the chargers report; returns each household's window
    /// quarters without the event and with it.
    async fn live_day(
        &mut self,
        store: &Arc<dyn Store>,
        day: NaiveDate,
        event: Option<&DayEvent<'_>>,
        concurrency: usize,
    ) -> anyhow::Result<Vec<([f64; QUARTERS], [f64; QUARTERS])>> {
        let from = window_start(&self.fleet, day);
        let mut writes = Vec::new();
        let mut out = Vec::with_capacity(self.fleet.households.len());
        for h in 0..self.fleet.households.len() {
            let Some(stay) = self.fleet.stay(h, day) else {
                self.window_kwh[h].insert(day, [0.0; QUARTERS]);
                out.push(([0.0; QUARTERS], [0.0; QUARTERS]));
                continue;
            };
            let household = &self.fleet.households[h];
            let free = charge(household, &stay, |_| None);
            let lived = match event {
                Some(e) if e.treated[h] => {
                    charge(household, &stay, |at| (at >= e.start && at < e.end).then_some(e.amps))
                }
                _ => free.clone(),
            };
            let (free_q, lived_q) = (quarters(&free, from), quarters(&lived, from));
            self.window_kwh[h].insert(day, lived_q);
            out.push((free_q, lived_q));
            let meter = &mut self.meters[h];
            let start_wh = meter.register_wh;
            meter.register_wh += energy_within(&lived, stay.arrive, stay.leave) * 1000.0;
            writes.push((meter.charger.clone(), stay, lived, start_wh));
        }
        stream::iter(writes)
            .map(|(charger, stay, pieces, start_wh)| {
                let store = store.clone();
                async move { write_session(store.as_ref(), &charger, stay.arrive, stay.leave, &pieces, start_wh).await }
            })
            .buffer_unordered(concurrency)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(out)
    }

    /// What Coupler's similar-days baseline should be for household `h` on `day`, kWh per quarter:
    /// the mean over the most recent days of the same type (weekday or weekend) within the
    /// look-back on which it took no part in an event.
    fn expected_similar_days(&self, h: usize, day: NaiveDate) -> [f64; QUARTERS] {
        let weekend = |d: NaiveDate| d.weekday().number_from_monday() >= 6;
        let used: Vec<NaiveDate> = (1..=SIMILAR_DAYS_LOOKBACK)
            .map(|back| day - Duration::days(back))
            .filter(|d| weekend(*d) == weekend(day) && !self.event_days[h].contains(d))
            .filter(|d| self.window_kwh[h].contains_key(d))
            .take(SIMILAR_DAYS)
            .collect();
        let mut out = [0.0; QUARTERS];
        for d in &used {
            for (slot, kwh) in out.iter_mut().zip(self.window_kwh[h][d].iter()) {
                *slot += kwh / used.len() as f64;
            }
        }
        out
    }
}

/// Runs the benchmark; each event's outcome, in order.
pub async fn run(options: &Options) -> anyhow::Result<Vec<EventOutcome>> {
    if options.households < 2 || options.history_days < 1 || options.event_days < 1 || options.shares.is_empty() {
        bail!("at least two households, a day of history, an event day and a control-group share are needed");
    }
    let (url, _temp) = match &options.database_url {
        Some(url) => (url.clone(), None),
        None => {
            let dir = std::env::temp_dir().join(format!(
                "coupler-mvbench-{}-{}",
                std::process::id(),
                generate_secret().chars().take(8).collect::<String>()
            ));
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
    let first = first_day();
    let weather = Weather {
        spread: options.weather_spread,
        trend_per_day: options.trend_per_day,
        ..Weather::still(first)
    };
    let fleet = Fleet::draw(options.seed, options.households, &area(), weather);
    let known_since = window_start(&fleet, first) - Duration::days(1);
    let clock = Arc::new(ManualClock::at(known_since));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let mut wiring = Wiring::minimal(store.clone(), base.parse()?);
    wiring.clock = clock.clone();
    wiring.token_ttl = std::time::Duration::from_secs(366 * 24 * 3600);
    wiring.rate_limits.api_per_client = coupler_api::limits::Rate {
        burst: 1_000_000,
        per_minute: 1_000_000,
    };
    let server = Server::serve_with(listener, None, wiring).await?;
    let outcome = measure(options, store, fleet, &clock, &base, known_since).await;
    server.stop().await?;
    outcome
}

async fn measure(
    options: &Options,
    store: Arc<dyn Store>,
    fleet: Fleet,
    clock: &ManualClock,
    base: &str,
    known_since: DateTime<Utc>,
) -> anyhow::Result<Vec<EventOutcome>> {
    let first = first_day();
    let api = Api::new(base, store.as_ref(), known_since).await?;
    let program_body = |kind: &str| {
        json!({"name": format!("Evening peak {kind}"), "kind": kind, "eligibility": {"deviceKinds": ["CHARGER"]},
               "limits": {"maxEventMinutes": EVENT_MINUTES, "minNoticeMinutes": 0}, "incentive": {}})
    };
    let capacity = api.post("/programs", program_body("CAPACITY_LIMIT")).await?;
    let pause = api.post("/programs", program_body("PAUSE")).await?;
    let programs = [
        capacity["id"].as_str().context("no program id")?.to_owned(),
        pause["id"].as_str().context("no program id")?.to_owned(),
    ];

    // Each household: a home, a charger there (known since the first day), enrolled in both
    // programs. Chargers are put in the store: a charger password's hash is deliberately slow.
    let password = hash_secret("bench-charger");
    let chargers: Vec<ChargerId> = stream::iter(0..fleet.households.len())
        .map(|h| household(&api, store.as_ref(), &fleet, h, &password, known_since, &programs))
        .buffered(options.concurrency)
        .try_collect()
        .await?;
    let index: HashMap<String, usize> = chargers
        .iter()
        .enumerate()
        .map(|(h, c)| (c.as_str().to_owned(), h))
        .collect();
    let mut world = World {
        meters: chargers
            .into_iter()
            .map(|charger| Meter {
                charger,
                register_wh: 0.0,
            })
            .collect(),
        window_kwh: vec![BTreeMap::new(); fleet.households.len()],
        event_days: vec![BTreeSet::new(); fleet.households.len()],
        fleet,
    };

    for d in 0..options.history_days {
        let day = first + Duration::days(d);
        world.live_day(&store, day, None, options.concurrency).await?;
        eprintln!("history: {day} written");
    }

    let mut outcomes = Vec::new();
    for k in 0..options.event_days {
        let day = first + Duration::days(options.history_days + k);
        let pause_event = k % 2 == 1;
        let share = options.shares[usize::try_from(k / 2).unwrap_or(0) % options.shares.len()];
        let start = window_start(&world.fleet, day);
        let end = start + Duration::minutes(EVENT_MINUTES);
        clock.set(start - Duration::minutes(10));
        let mut body = json!({"start": start.to_rfc3339(), "durationMinutes": EVENT_MINUTES,
            "targets": {"program": true}, "controlGroupShare": share,
            "randomSeed": u32::try_from(k).unwrap_or(0) + 1});
        let amps = if pause_event {
            body["kind"] = json!("PAUSE");
            0.0
        } else {
            body["kind"] = json!("IMPORT_LIMIT");
            body["value"] = json!(options.cap_kw);
            body["unit"] = json!("KW");
            import_limit_amps(options.cap_kw, LimitUnit::Kilowatts, VOLTS, PHASES as u8)
        };
        let program = &programs[usize::from(pause_event)];
        let sent = api.post(&format!("/programs/{program}/events"), body).await?;
        let event_id = sent["id"].as_str().context("no event id")?.to_owned();
        let mut treated = vec![true; world.fleet.households.len()];
        for part in sent["progress"].as_array().context("no progress")? {
            if part["state"] == "HELD_BACK" {
                let charger = part["chargerId"].as_str().unwrap_or_default();
                let h = *index.get(charger).context("a part on an unknown charger")?;
                treated[h] = false;
            }
        }
        // Similar days are judged before the day is lived.
        let expected_sd: Vec<[f64; QUARTERS]> = (0..treated.len())
            .map(|h| world.expected_similar_days(h, day))
            .collect();
        let lived = world
            .live_day(
                &store,
                day,
                Some(&DayEvent {
                    treated: &treated,
                    amps,
                    start,
                    end,
                }),
                options.concurrency,
            )
            .await?;
        for (h, t) in treated.iter().enumerate() {
            if *t {
                world.event_days[h].insert(day);
            }
        }
        clock.set(end + Duration::minutes(1));

        let sum = |q: &[f64; QUARTERS]| q.iter().sum::<f64>();
        let treated_ids: Vec<usize> = (0..treated.len()).filter(|h| treated[*h]).collect();
        let control_ids: Vec<usize> = (0..treated.len()).filter(|h| !treated[*h]).collect();
        let counterfactual_kwh: f64 = treated_ids.iter().map(|h| sum(&lived[*h].0)).sum();
        let actual_kwh: f64 = treated_ids.iter().map(|h| sum(&lived[*h].1)).sum();
        let quarter_cap_kwh = if pause_event { 0.0 } else { options.cap_kw * 0.25 };
        let requested_kwh: f64 = treated_ids
            .iter()
            .flat_map(|h| lived[*h].0.iter())
            .map(|kwh| (kwh - quarter_cap_kwh).max(0.0))
            .sum();
        let true_by_household: HashMap<usize, f64> = treated_ids
            .iter()
            .map(|h| (*h, sum(&lived[*h].0) - sum(&lived[*h].1)))
            .collect();
        let true_delivered_kwh = counterfactual_kwh - actual_kwh;
        let expected_control = (!control_ids.is_empty()).then(|| {
            control_ids.iter().map(|h| sum(&lived[*h].1)).sum::<f64>() / control_ids.len() as f64
                * treated_ids.len() as f64
        });

        let estimate = |results: &Value| -> anyhow::Result<Estimate> {
            let totals = &results["totals"];
            let delivered = totals["deliveredKwh"].as_f64().context("no delivered total")?;
            let mut household_errors = Vec::new();
            for e in results["enrolments"].as_array().context("no enrolments")? {
                if e["role"] != "TREATED" {
                    continue;
                }
                let h = *index
                    .get(e["chargerId"].as_str().unwrap_or_default())
                    .context("an enrolment on an unknown charger")?;
                let reported = e["totals"]["deliveredKwh"].as_f64().unwrap_or(0.0);
                household_errors.push(reported - true_by_household.get(&h).copied().unwrap_or(0.0));
            }
            let (mean, p90) = mean_and_p90(&household_errors);
            Ok(Estimate {
                baseline_kwh: totals["baselineKwh"].as_f64().unwrap_or(0.0),
                delivered_kwh: delivered,
                error_kwh: delivered - true_delivered_kwh,
                error_percent: (delivered - true_delivered_kwh) / true_delivered_kwh.abs().max(1e-9) * 100.0,
                household_mean_abs_error_kwh: mean,
                household_p90_abs_error_kwh: p90,
            })
        };
        let path = format!("/flex/events/{event_id}/results");
        let similar = api.get(&format!("{path}?baseline=SIMILAR_DAYS")).await?;
        let metered_actual_kwh = similar["totals"]["actualKwh"].as_f64().unwrap_or(0.0);
        let similar_days = estimate(&similar)?;
        let control_group = match expected_control {
            Some(_) => Some(estimate(&api.get(&format!("{path}?baseline=CONTROL_GROUP")).await?)?),
            None => None,
        };
        let history_mean = |ids: &[usize]| ids.iter().map(|h| sum(&expected_sd[*h])).sum::<f64>() / ids.len() as f64;
        let adjusted_control_group_error_percent = control_group.as_ref().and_then(|c| {
            let control_history = history_mean(&control_ids);
            (control_history > 0.0).then(|| {
                let baseline = c.baseline_kwh * history_mean(&treated_ids) / control_history;
                (baseline - metered_actual_kwh - true_delivered_kwh) / true_delivered_kwh.abs().max(1e-9) * 100.0
            })
        });
        let outcome = EventOutcome {
            day,
            weekday: day.weekday().to_string(),
            kind: if pause_event { "PAUSE" } else { "IMPORT_LIMIT" }.to_owned(),
            control_group_share: share,
            treated: treated_ids.len(),
            held_back: control_ids.len(),
            counterfactual_kwh,
            actual_kwh,
            metered_actual_kwh,
            true_delivered_kwh,
            requested_kwh,
            expected_similar_days_baseline_kwh: treated_ids.iter().map(|h| sum(&expected_sd[*h])).sum(),
            expected_control_group_baseline_kwh: expected_control,
            adjusted_control_group_error_percent,
            similar_days,
            control_group,
        };
        eprintln!(
            "event {day} {} share {share}: true {:.1} kWh, similar days {:.1}, control group {}",
            outcome.kind,
            outcome.true_delivered_kwh,
            outcome.similar_days.delivered_kwh,
            outcome
                .control_group
                .as_ref()
                .map_or("-".to_owned(), |c| format!("{:.1}", c.delivered_kwh)),
        );
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// Household `h`: a home, a charger there known since `known_since`, enrolled in every program.
async fn household(
    api: &Api,
    store: &dyn Store,
    fleet: &Fleet,
    h: usize,
    password: &SecretHash,
    known_since: DateTime<Utc>,
    programs: &[String],
) -> anyhow::Result<ChargerId> {
    let user = format!("household-{h}");
    let pattern = &fleet.households[h].pattern;
    let home = api
        .post(
            &format!("/users/{user}/locations"),
            json!({"name": "Home", "latitude": pattern.latitude, "longitude": pattern.longitude,
                   "timezoneName": fleet.tz.name()}),
        )
        .await?;
    let charger = Charger {
        id: ChargerId::generate(),
        client_id: api.client.clone(),
        user_id: UserId::parse(&user)?,
        ocpp_id: OcppIdentity::parse(&format!("MVBENCH-{h}"))?,
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
        created_at: known_since,
    };
    store.insert_charger(&charger, password).await?;
    for program in programs {
        let enrolled = api
            .post(
                &format!("/programs/{program}/enrolments"),
                json!({"userId": user, "deviceType": "CHARGER", "deviceId": charger.id.as_str(),
                       "consent": {"dataShared": ["meterReadings"], "howToLeave": "Unenrol in the app"}}),
            )
            .await?;
        if enrolled["status"] != "ACTIVE" {
            bail!("household {h}'s enrolment is not active: {enrolled}");
        }
    }
    Ok(charger.id)
}
