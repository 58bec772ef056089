//! One session executed minute by minute against the planner, as the engine would run it.
//!
//! The engine plans on plug-in (with a late maker's stale state of charge lowered by a margin),
//! when a late maker's first true state of charge arrives, when the
//! next day's prices are published (13:00), and at every quarter hour when charging has fallen
//! behind the plan (the meter trails the plan's energy, or the state of charge trails the battery
//! energy the plan expected). It sees states of charge as whole percent, plans with an efficiency
//! of 0.9 whatever the car's true one, and knows nothing of the car's taper above 80 %.
//!
//! The charger follows the plan offline: a charger that takes profiles draws the plan's power (the
//! car takes what its taper allows); one that takes none is switched fully on or off, each switch
//! taking effect a minute late (a remote start or stop and the car waking up).

use std::time::{Duration as Elapsed, Instant};

use chrono::{DateTime, Duration, Timelike, Utc};
use coupler_core::planner::{energy_needed_kwh, plan, reserve_kwh, Plan, PlanInput, PlanOutcome, PowerCap};

use crate::population::{Session, PLANNED_EFFICIENCY};
use crate::prices::{PriceCurve, PUBLISHED_AT_HOUR};

/// Why a plan was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Plug-in.
    Arrival,
    /// A late maker's first true state of charge.
    SocArrived,
    /// The next day's prices were published.
    Prices,
    /// Charging fell behind the plan.
    Behind,
}

/// What happened in one session.
#[derive(Debug, Clone)]
pub struct Result {
    /// Charging at once from plug-in, as the car truly charges, reaches the target by the deadline.
    pub feasible: bool,
    /// The first plan (at plug-in) said the target could be met.
    pub planned_feasible: bool,
    /// How the session ended.
    pub outcome: PlanOutcome,
    /// What the session's charging cost.
    pub cost: f64,
    /// The cheapest plan with full knowledge (true state of charge, efficiency and prices), as if the
    /// car took full power to the end: a lower bound on what any plan could cost.
    pub hindsight_cost: f64,
    /// What charging at once from plug-in cost.
    pub at_once_cost: f64,
    /// Grid energy drawn, kWh.
    pub grid_kwh: f64,
    /// Plans made, by reason.
    pub plans: Vec<Reason>,
    /// Time spent in the planner.
    pub planning: Elapsed,
}

/// Caps as the engine hands them to the planner: the household's evening cap on each day the
/// session may reach. A charger that takes no profiles cannot hold a cap: below the least power it
/// is stopped (a cap of 0), otherwise it runs at full power (no cap).
fn caps(session: &Session) -> Vec<PowerCap> {
    let Some(kw) = session.evening_cap_kw else {
        return Vec::new();
    };
    if session.on_off && kw >= session.min_power_kw {
        return Vec::new();
    }
    let kw = if session.on_off { 0.0 } else { kw };
    let first = session.arrival - Duration::seconds(i64::from(session.arrival.num_seconds_from_midnight()));
    (0..12)
        .map(|day| {
            let evening = first + Duration::days(day) + Duration::hours(17);
            PowerCap {
                start: evening,
                end: evening + Duration::hours(4),
                max_power_kw: kw,
            }
        })
        .collect()
}

/// The power the charger may offer at `at` when told to charge at once.
fn allowed_at(session: &Session, caps: &[PowerCap], at: DateTime<Utc>) -> f64 {
    let capped = caps
        .iter()
        .filter(|cap| cap.start <= at && at < cap.end)
        .fold(session.max_power_kw, |kw, cap| kw.min(cap.max_power_kw));
    if capped < session.min_power_kw {
        0.0
    } else {
        capped
    }
}

/// The car in the simulation: what is in its battery.
struct Car<'a> {
    session: &'a Session,
    /// Battery energy, kWh.
    energy: f64,
    target: f64,
}

impl Car<'_> {
    fn soc(&self) -> f64 {
        self.energy / self.session.capacity_kwh * 100.0
    }

    fn done(&self) -> bool {
        self.energy >= self.target - 1e-9
    }

    /// Offers `kw` for one minute; returns the grid energy drawn, kWh.
    fn charge_minute(&mut self, kw: f64) -> f64 {
        if self.done() || kw <= 0.0 {
            return 0.0;
        }
        let efficiency = self.session.efficiency;
        let grid_kw = kw.min(self.session.battery_power_limit(self.soc()) / efficiency);
        let battery = (grid_kw * efficiency / 60.0).min(self.target - self.energy);
        self.energy += battery;
        battery / efficiency
    }
}

/// Runs one session.
pub fn run(session: &Session, prices: &PriceCurve, stale_soc_margin: f64, trace: bool) -> Result {
    let caps = caps(session);
    let capacity = session.capacity_kwh;
    let needed_kwh = energy_needed_kwh(session.arrival_soc, session.target_soc, capacity);
    let (feasible, at_once_cost) = at_once(session, &caps, prices);
    let hindsight = plan(&PlanInput {
        now: session.arrival,
        deadline: session.deadline,
        energy_needed_kwh: needed_kwh,
        energy_at_once_kwh: energy_needed_kwh(session.arrival_soc, session.minimum_soc, capacity),
        max_power_kw: session.max_power_kw,
        caps: caps.clone(),
        efficiency: session.efficiency,
        prices: prices.all(session.arrival),
        strategy: session.strategy,
        min_power_kw: session.min_power_kw,
        reserve_kwh: 0.0,
    });

    let mut car = Car {
        session,
        energy: session.arrival_soc / 100.0 * capacity,
        target: session.target_soc / 100.0 * capacity,
    };
    let soc_from = session
        .soc_delay_minutes
        .map(|m| session.arrival + Duration::minutes(m));
    // What the engine believes the state of charge is: until a late maker reports, the last value
    // from before the trip, lowered by the margin; then the car's own, in whole percent.
    let known_soc = |car: &Car<'_>, at: DateTime<Utc>| {
        if soc_from.is_some_and(|from| at < from) {
            (session.stale_soc - stale_soc_margin).max(0.0)
        } else {
            car.soc().floor()
        }
    };

    let mut plans = Vec::new();
    let mut planning = Elapsed::ZERO;
    let mut current: Option<(Plan, f64, f64)> = None; // the plan, the meter and the SoC when made
    let mut planned_feasible = true;
    let mut meter = 0.0;
    let mut cost = 0.0;
    let mut by_deadline = 0.0;
    let mut reached_at = None;
    let mut switched_on = false;
    let mut at = session.arrival;
    while at < session.departure {
        let soc = known_soc(&car, at);
        let reason = if at == session.arrival {
            Some(Reason::Arrival)
        } else if soc_from == Some(at) {
            Some(Reason::SocArrived)
        } else if at.hour() == PUBLISHED_AT_HOUR && at.minute() == 0 {
            Some(Reason::Prices)
        } else if at.minute() % 15 == 0 && soc < session.target_soc {
            current.as_ref().and_then(|(plan, meter_then, soc_then)| {
                let planned_grid = plan.grid_energy_until(at);
                let battery_behind = soc_from.is_none_or(|from| at >= from)
                    && (soc - soc_then) / 100.0 * capacity
                        < planned_grid * PLANNED_EFFICIENCY - (capacity * 0.01 + 0.2);
                // A plan with nothing left to charge while the target is not reached is behind too.
                let ended = plan.expected_finish.is_none_or(|finish| finish <= at);
                (plan.is_behind(at, meter - meter_then) || battery_behind || ended).then_some(Reason::Behind)
            })
        } else {
            None
        };
        if let Some(reason) = reason {
            let input = PlanInput {
                now: at,
                deadline: session.deadline,
                energy_needed_kwh: energy_needed_kwh(soc, session.target_soc, capacity),
                energy_at_once_kwh: energy_needed_kwh(soc, session.minimum_soc, capacity),
                max_power_kw: session.max_power_kw,
                caps: caps.clone(),
                efficiency: PLANNED_EFFICIENCY,
                prices: prices.known_at(at),
                strategy: session.strategy,
                min_power_kw: session.min_power_kw,
                reserve_kwh: reserve_kwh(soc, session.target_soc, capacity),
            };
            let started = Instant::now();
            let made = plan(&input);
            planning += started.elapsed();
            if reason == Reason::Arrival {
                planned_feasible = made.feasible;
            }
            if trace {
                let charging: Vec<String> = made
                    .slots
                    .iter()
                    .filter(|slot| slot.power_kw > 0.0)
                    .map(|slot| format!("{}-{}", slot.start.format("%H:%M:%S"), slot.end.format("%H:%M:%S")))
                    .collect();
                eprintln!(
                    "{} {reason:?}: SoC known {soc} % (true {:.1} %), need {:.2} kWh + reserve {:.2}, feasible {}, \
                     finish {:?}; charging {}",
                    at.format("%a %H:%M"),
                    car.soc(),
                    input.energy_needed_kwh,
                    input.reserve_kwh,
                    made.feasible,
                    made.expected_finish.map(|f| f.format("%a %H:%M:%S").to_string()),
                    charging.join(" ")
                );
            }
            plans.push(reason);
            current = Some((made, meter, soc));
        }
        let Some((plan, _, _)) = &current else {
            break;
        };
        let offered = if session.on_off {
            // Switched at slot boundaries, each switch a minute late.
            let on = switched_on;
            switched_on = plan.power_at(at) > 0.0;
            if on {
                session.max_power_kw
            } else {
                0.0
            }
        } else {
            let next = at + Duration::minutes(1);
            (plan.grid_energy_until(next) - plan.grid_energy_until(at)) * 60.0
        };
        let drawn = car.charge_minute(offered);
        if trace && at.minute() % 15 == 0 {
            eprintln!(
                "{}   offered {offered:.2} kW, drawn {:.2} kW, SoC {:.2} %",
                at.format("%a %H:%M"),
                drawn * 60.0,
                car.soc()
            );
        }
        meter += drawn;
        cost += drawn * prices.price_at(at);
        at += Duration::minutes(1);
        if at <= session.deadline {
            by_deadline = car.energy - session.arrival_soc / 100.0 * capacity;
        }
        if reached_at.is_none() && car.done() {
            reached_at = Some(at);
        }
    }
    let delivered = car.energy - session.arrival_soc / 100.0 * capacity;
    Result {
        feasible,
        planned_feasible,
        outcome: PlanOutcome::evaluate(session.deadline, needed_kwh, by_deadline, delivered, reached_at),
        cost,
        hindsight_cost: hindsight.smart_cost,
        at_once_cost,
        grid_kwh: meter,
        plans,
        planning,
    }
}

/// Charges at once from plug-in at the most power allowed, as the car truly charges: whether the
/// target is reached by the deadline, and what it costs until reached (or until departure).
fn at_once(session: &Session, caps: &[PowerCap], prices: &PriceCurve) -> (bool, f64) {
    let capacity = session.capacity_kwh;
    let mut car = Car {
        session,
        energy: session.arrival_soc / 100.0 * capacity,
        target: session.target_soc / 100.0 * capacity,
    };
    let mut cost = 0.0;
    let mut at = session.arrival;
    while at < session.departure && !car.done() {
        let drawn = car.charge_minute(allowed_at(session, caps, at));
        cost += drawn * prices.price_at(at);
        at += Duration::minutes(1);
    }
    (car.done() && at <= session.deadline, cost)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::population::Kind;
    use coupler_core::planner::Strategy;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn start() -> DateTime<Utc> {
        DateTime::from_timestamp(1_894_060_800, 0).unwrap()
    }

    /// 40 → 80 % of 60 kWh (24 kWh) from 18:00 to 07:00 at 11 kW: about 2.5 hours of charging.
    fn session() -> Session {
        Session {
            kind: Kind::Home,
            arrival: start() + Duration::hours(18),
            deadline: start() + Duration::hours(31),
            departure: start() + Duration::hours(32),
            capacity_kwh: 60.0,
            arrival_soc: 40.0,
            target_soc: 80.0,
            minimum_soc: 0.0,
            max_power_kw: 11.04,
            min_power_kw: 4.14,
            efficiency: 0.9,
            taper_from_soc: 90.0,
            taper_floor: 0.5,
            soc_delay_minutes: None,
            stale_soc: 40.0,
            on_off: false,
            evening_cap_kw: None,
            strategy: Strategy::Cheapest,
        }
    }

    #[test]
    fn a_session_with_time_to_spare_charges_at_night_and_meets_its_deadline_cheaper_than_at_once() {
        let prices = PriceCurve::generate(&mut StdRng::seed_from_u64(1), start(), 3);
        let result = run(&session(), &prices, 25.0, false);
        assert!(result.feasible && result.planned_feasible);
        assert_eq!(result.outcome, PlanOutcome::Met);
        assert!(result.cost < result.at_once_cost);
        assert!(result.cost >= result.hindsight_cost - 0.01);
        assert!((result.grid_kwh - 24.0 / 0.9).abs() < 0.01);
    }

    #[test]
    fn a_late_maker_is_replanned_when_its_state_of_charge_arrives() {
        let prices = PriceCurve::generate(&mut StdRng::seed_from_u64(1), start(), 3);
        let late = Session {
            soc_delay_minutes: Some(60),
            stale_soc: 60.0,
            ..session()
        };
        let result = run(&late, &prices, 25.0, false);
        assert_eq!(result.plans[..2], [Reason::Arrival, Reason::SocArrived]);
        assert_eq!(result.outcome, PlanOutcome::Met);
    }

    #[test]
    fn a_deadline_out_of_reach_is_charged_at_once_and_ends_late_or_short() {
        let prices = PriceCurve::generate(&mut StdRng::seed_from_u64(1), start(), 3);
        let short = Session {
            deadline: start() + Duration::hours(19),
            departure: start() + Duration::hours(20),
            ..session()
        };
        let result = run(&short, &prices, 25.0, false);
        assert!(!result.feasible && !result.planned_feasible);
        assert!(matches!(result.outcome, PlanOutcome::Short { .. }));
        assert!((result.cost - result.at_once_cost).abs() < 1e-9);
    }
}
