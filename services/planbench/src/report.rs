//! Runs the benchmark and reports it, as text or JSON.

use std::fmt::Write as _;
use std::time::Duration as Elapsed;

use chrono::{DateTime, Duration, Utc};
use coupler_core::planner::{PlanOutcome, Strategy};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Serialize;

use crate::cli::Cli;
use crate::population::{self, Kind, Session};
use crate::prices::PriceCurve;
use crate::sim::{self, Reason};
use crate::timing;

/// Everything measured.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The seed everything was drawn from.
    pub seed: u64,
    /// Days the arrivals were spread over.
    pub days: u32,
    /// Points a late maker's stale state of charge was lowered by until a fresh one arrived.
    pub stale_soc_margin: f64,
    /// Every session, then groups of them.
    pub groups: Vec<Group>,
    /// Sessions that could meet their deadline but whose first plan said they could not (a late
    /// maker's state of charge lowered by the margin, or caps the engine hands on whole).
    pub feasible_planned_infeasible: usize,
    /// How sessions that could not meet their deadline ended.
    pub infeasible: Infeasible,
    /// Plans made during the month.
    pub plans: Plans,
    /// Replanning every EV system of many users after a price update.
    pub replan: Replan,
    /// Sessions that could meet their deadline and did not (at most 10).
    pub missed: Vec<Missed>,
}

/// Figures of a group of sessions.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// Which sessions.
    pub name: String,
    /// Sessions in the group.
    pub sessions: usize,
    /// Of them, those where charging at once could meet the deadline.
    pub feasible: usize,
    /// Of those, the ones that met it.
    pub met: usize,
    /// `met` / `feasible`, %.
    pub met_pct: f64,
    /// What the feasible sessions' charging cost.
    pub cost: f64,
    /// What the cheapest plans with full knowledge (true state of charge, losses and prices) would
    /// have cost them if the cars took full power to the end: a lower bound on any plan's cost.
    pub hindsight_cost: f64,
    /// What charging at once would have cost them.
    pub at_once_cost: f64,
    /// How much more than the cheapest plans with hindsight, %.
    pub over_hindsight_pct: f64,
    /// How much less than charging at once, %.
    pub savings_pct: f64,
    /// Grid energy drawn by the feasible sessions, kWh.
    pub grid_kwh: f64,
}

/// How the sessions that could not meet their deadline ended.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Infeasible {
    /// Sessions where not even charging at once could meet the deadline.
    pub sessions: usize,
    /// Of them, those the planner called infeasible at plug-in.
    pub planned_infeasible: usize,
    /// Reached the target after the deadline.
    pub late: usize,
    /// Median minutes late of those.
    pub late_median_minutes: u32,
    /// Left short of the target.
    pub short: usize,
    /// Median percent of the energy needed that was missing, of those.
    pub short_median_percent: u32,
}

/// Plans made during the month.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plans {
    /// All of them.
    pub total: usize,
    /// On plug-in.
    pub arrival: usize,
    /// When a late maker's first true state of charge arrived.
    pub soc_arrived: usize,
    /// When the next day's prices were published.
    pub prices: usize,
    /// When charging had fallen behind.
    pub behind: usize,
    /// Mean time per plan, µs (debug builds are far slower).
    pub mean_micros: f64,
}

/// Replanning after a price update.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Replan {
    /// Plans per round (one EV system per user).
    pub users: usize,
    /// Quarter-hour slots in each plan's horizon.
    pub slots_per_plan: usize,
    /// Rounds timed.
    pub rounds: usize,
    /// Median round, ms.
    pub median_ms: f64,
    /// Fastest round, ms.
    pub fastest_ms: f64,
    /// Median round per plan, µs.
    pub micros_per_plan: f64,
}

/// A feasible session that missed its deadline.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Missed {
    /// Its number, in order of arrival.
    pub index: usize,
    /// What it was (kind, car, charger).
    pub what: String,
    /// How it ended.
    pub outcome: PlanOutcome,
}

/// The month starts on a Monday.
fn start() -> DateTime<Utc> {
    DateTime::from_timestamp(1_894_060_800, 0).unwrap_or_default()
}

fn pct(part: f64, whole: f64) -> f64 {
    if whole == 0.0 {
        0.0
    } else {
        part / whole * 100.0
    }
}

fn group(name: &str, sessions: &[(&Session, &sim::Result)], filter: impl Fn(&Session) -> bool) -> Group {
    let chosen: Vec<&(&Session, &sim::Result)> = sessions.iter().filter(|(s, _)| filter(s)).collect();
    let feasible: Vec<&sim::Result> = chosen.iter().filter(|(_, r)| r.feasible).map(|(_, r)| *r).collect();
    let met = feasible.iter().filter(|r| r.outcome == PlanOutcome::Met).count();
    let cost: f64 = feasible.iter().map(|r| r.cost).sum();
    let hindsight_cost: f64 = feasible.iter().map(|r| r.hindsight_cost).sum();
    let at_once_cost: f64 = feasible.iter().map(|r| r.at_once_cost).sum();
    Group {
        name: name.to_owned(),
        sessions: chosen.len(),
        feasible: feasible.len(),
        met,
        met_pct: pct(met as f64, feasible.len() as f64),
        cost,
        hindsight_cost,
        at_once_cost,
        over_hindsight_pct: pct(cost - hindsight_cost, hindsight_cost),
        savings_pct: pct(at_once_cost - cost, at_once_cost),
        grid_kwh: feasible.iter().map(|r| r.grid_kwh).sum(),
    }
}

fn median<T: Copy + Ord + Default>(mut values: Vec<T>) -> T {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

fn describe(session: &Session) -> String {
    format!(
        "{:?} {}→{} % by {} (min {} %), {:.0} kWh at {:.2} kW{}{}{}{}, {:?}",
        session.kind,
        session.arrival_soc,
        session.target_soc,
        session.deadline.format("%a %H:%M"),
        session.minimum_soc,
        session.capacity_kwh,
        session.max_power_kw,
        if session.on_off { ", on/off charger" } else { "" },
        session
            .soc_delay_minutes
            .map_or(String::new(), |m| format!(", SoC {m} min late")),
        if session.evening_cap_kw.is_some() {
            ", evening cap"
        } else {
            ""
        },
        format_args!(", taper from {:.0} %", session.taper_from_soc),
        session.strategy,
    )
}

/// Runs the month and the timing.
pub fn run(cli: &Cli) -> Report {
    let mut rng = StdRng::seed_from_u64(cli.seed);
    let prices = PriceCurve::generate(&mut rng, start(), cli.days + 10);
    let sessions = population::generate(&mut rng, start(), cli.days, cli.sessions);
    let results: Vec<sim::Result> = sessions
        .iter()
        .enumerate()
        .map(|(index, s)| {
            if cli.trace == Some(index) {
                eprintln!("session #{index}: {}", describe(s));
            }
            sim::run(s, &prices, cli.stale_soc_margin, cli.trace == Some(index))
        })
        .collect();
    let pairs: Vec<(&Session, &sim::Result)> = sessions.iter().zip(&results).collect();

    let groups = vec![
        group("all sessions", &pairs, |_| true),
        group("home (evening to morning)", &pairs, |s| s.kind == Kind::Home),
        group("work (morning to afternoon)", &pairs, |s| s.kind == Kind::Work),
        group("other (any hour, 1-40 h)", &pairs, |s| s.kind == Kind::Other),
        group("maker reports SoC late", &pairs, |s| s.soc_delay_minutes.is_some()),
        group("charger refuses profiles (on/off)", &pairs, |s| s.on_off),
        group("household evening cap", &pairs, |s| s.evening_cap_kw.is_some()),
        group("continuous strategy", &pairs, |s| s.strategy == Strategy::Continuous),
        group("target 100 %", &pairs, |s| s.target_soc >= 100.0),
        group("minimum charge limit", &pairs, |s| s.minimum_soc > 0.0),
    ];

    let infeasible: Vec<&sim::Result> = results.iter().filter(|r| !r.feasible).collect();
    let late: Vec<u32> = infeasible
        .iter()
        .filter_map(|r| match r.outcome {
            PlanOutcome::Late { minutes } => Some(minutes),
            _ => None,
        })
        .collect();
    let short: Vec<u32> = infeasible
        .iter()
        .filter_map(|r| match r.outcome {
            PlanOutcome::Short { percent } => Some(percent),
            _ => None,
        })
        .collect();
    let infeasible = Infeasible {
        sessions: infeasible.len(),
        planned_infeasible: infeasible.iter().filter(|r| !r.planned_feasible).count(),
        late: late.len(),
        late_median_minutes: median(late),
        short: short.len(),
        short_median_percent: median(short),
    };

    let reasons: Vec<Reason> = results.iter().flat_map(|r| r.plans.iter().copied()).collect();
    let count = |reason: Reason| reasons.iter().filter(|r| **r == reason).count();
    let planning: Elapsed = results.iter().map(|r| r.planning).sum();
    let plans = Plans {
        total: reasons.len(),
        arrival: count(Reason::Arrival),
        soc_arrived: count(Reason::SocArrived),
        prices: count(Reason::Prices),
        behind: count(Reason::Behind),
        mean_micros: planning.as_secs_f64() * 1e6 / reasons.len().max(1) as f64,
    };

    let missed = pairs
        .iter()
        .enumerate()
        .filter(|(_, (_, r))| r.feasible && r.outcome != PlanOutcome::Met)
        .take(10)
        .map(|(index, (s, r))| Missed {
            index,
            what: describe(s),
            outcome: r.outcome,
        })
        .collect();

    let update = start() + Duration::days(1) + Duration::hours(13);
    let timing = timing::measure(&mut rng, update, cli.users, cli.rounds);
    let mut rounds = timing.rounds.clone();
    rounds.sort_unstable();
    let median_round = rounds[rounds.len() / 2];
    let replan = Replan {
        users: timing.plans,
        slots_per_plan: timing.slots_per_plan,
        rounds: rounds.len(),
        median_ms: median_round.as_secs_f64() * 1e3,
        fastest_ms: rounds[0].as_secs_f64() * 1e3,
        micros_per_plan: median_round.as_secs_f64() * 1e6 / timing.plans.max(1) as f64,
    };

    Report {
        seed: cli.seed,
        days: cli.days,
        stale_soc_margin: cli.stale_soc_margin,
        groups,
        feasible_planned_infeasible: results.iter().filter(|r| r.feasible && !r.planned_feasible).count(),
        infeasible,
        plans,
        replan,
        missed,
    }
}

impl Report {
    /// The report as text.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let all = &self.groups[0];
        let _ = writeln!(
            out,
            "Smart-charging plans: {} sessions over {} days, seed {}",
            all.sessions, self.days, self.seed
        );
        let _ = writeln!(
            out,
            "\nFeasible sessions (charging at once would meet the deadline): {} of {} \
             (the first plan called {} of them infeasible; late makers' stale SoC lowered by {} points)",
            all.feasible, all.sessions, self.feasible_planned_infeasible, self.stale_soc_margin
        );
        let _ = writeln!(out, "  met their deadline:        {} ({:.2} %)", all.met, all.met_pct);
        let _ = writeln!(
            out,
            "  cost over hindsight:       {:+.2} % ({:.2} vs {:.2}; hindsight ignores the taper, a lower bound)",
            all.over_hindsight_pct, all.cost, all.hindsight_cost
        );
        let _ = writeln!(
            out,
            "  savings vs at once:        {:.1} % ({:.2} vs {:.2}; {:.3} vs {:.3} per kWh)",
            all.savings_pct,
            all.cost,
            all.at_once_cost,
            all.cost / all.grid_kwh.max(1e-9),
            all.at_once_cost / all.grid_kwh.max(1e-9)
        );
        let _ = writeln!(
            out,
            "\n{:<36} {:>8} {:>8} {:>8} {:>10} {:>10}",
            "group", "sessions", "feasible", "met %", "+hindsight", "savings"
        );
        for g in &self.groups {
            let _ = writeln!(
                out,
                "{:<36} {:>8} {:>8} {:>8.2} {:>9.2}% {:>9.1}%",
                g.name, g.sessions, g.feasible, g.met_pct, g.over_hindsight_pct, g.savings_pct
            );
        }
        let i = &self.infeasible;
        let _ = writeln!(
            out,
            "\nInfeasible sessions: {} (the first plan said so for {}); reached the target late: {} \
             (median {} min); left short: {} (median {} % of the energy needed missing)",
            i.sessions, i.planned_infeasible, i.late, i.late_median_minutes, i.short, i.short_median_percent
        );
        let p = &self.plans;
        let _ = writeln!(
            out,
            "\nPlans made: {} ({:.1} per session): plug-in {}, late SoC {}, prices {}, behind {}; \
             {:.1} µs each",
            p.total,
            p.total as f64 / all.sessions.max(1) as f64,
            p.arrival,
            p.soc_arrived,
            p.prices,
            p.behind,
            p.mean_micros
        );
        let r = &self.replan;
        let _ = writeln!(
            out,
            "\nReplanning {} EV systems after a price update ({} slots each, one thread, {} rounds): \
             median {:.1} ms, fastest {:.1} ms, {:.1} µs per plan",
            r.users, r.slots_per_plan, r.rounds, r.median_ms, r.fastest_ms, r.micros_per_plan
        );
        if !self.missed.is_empty() {
            let _ = writeln!(out, "\nFeasible sessions that missed their deadline:");
            for m in &self.missed {
                let _ = writeln!(out, "  #{}: {} — {:?}", m.index, m.what, m.outcome);
            }
        }
        out
    }
}
