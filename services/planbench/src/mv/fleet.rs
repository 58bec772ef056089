//! The simulated fleet: households drawn from the sandbox's neighbourhood model (when the car comes
//! home and leaves, how much current it takes, the charge it comes home with), each with a battery
//! and a habit of plugging in on some days and not others, and each stay's charge worked out
//! piece by piece under whatever cap an event puts on the charger.
//!
//! Everything is pure and seeded: a household's day is drawn from the seed, the household and the
//! date alone, so the same day can be charged twice (with and without an event) from the same
//! draws, and a run can be repeated.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use coupler_core::sandbox::{HouseholdPattern, NeighbourhoodArea};
use coupler_simulated::neighbourhood::{draw_households, SeededDraws};

/// Phase voltage of the simulated home charger (as the sandbox's).
pub const VOLTS: f64 = 230.0;
/// Phases of the simulated home charger (as the sandbox's).
pub const PHASES: f64 = 3.0;
/// The least current an AC charger may offer (IEC 61851-1): below it the car draws nothing.
pub const MIN_CURRENT: f64 = 6.0;

/// One household: its habits from the neighbourhood model, and what the benchmark adds (the
/// battery's size and how often the car is plugged in).
#[derive(Debug, Clone, PartialEq)]
pub struct Household {
    /// Its habits and car.
    pub pattern: HouseholdPattern,
    /// The car's usable battery, kWh.
    pub capacity_kwh: f64,
    /// The chance the car is plugged in on a weekday evening.
    pub weekday_plug_in: f64,
    /// The chance it is plugged in on a weekend day.
    pub weekend_plug_in: f64,
}

impl Household {
    /// What the car draws when `offered` amperes per phase are allowed (`None`: no cap), kW: the
    /// lesser of the offer and what the car takes, and nothing below the minimum current.
    pub fn power_kw(&self, offered: Option<f64>) -> f64 {
        let car = f64::from(self.pattern.max_current);
        let amps = match offered {
            None => car,
            Some(a) if a < MIN_CURRENT => 0.0,
            Some(a) => a.min(car),
        };
        amps * VOLTS * PHASES / 1000.0
    }
}

/// What every household shares on a day: the weather. A cold day (or a busy one) sends every car
/// home emptier than usual, and the weeks grow colder, so that a day's need is not quite what the
/// days before it were: what a similar-days baseline cannot see and a control group can.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weather {
    /// The first day, from which the trend is counted.
    pub first_day: NaiveDate,
    /// The day-to-day spread of the shared factor (a standard deviation; 0: every day alike).
    pub spread: f64,
    /// How much the need grows each day (0.003: 0.3 % a day).
    pub trend_per_day: f64,
}

impl Weather {
    /// Days alike: no shared factor, no trend.
    pub fn still(first_day: NaiveDate) -> Self {
        Self {
            first_day,
            spread: 0.0,
            trend_per_day: 0.0,
        }
    }
}

/// The fleet's households and the zone their days are lived in.
#[derive(Debug, Clone)]
pub struct Fleet {
    /// The seed everything is drawn from.
    pub seed: u64,
    /// The households.
    pub households: Vec<Household>,
    /// Their time zone.
    pub tz: Tz,
    /// What the households share day by day.
    pub weather: Weather,
}

/// A car's stay at home: from its arrival to its departure the next morning, wanting `energy_kwh`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stay {
    /// When it is plugged in.
    pub arrive: DateTime<Utc>,
    /// When it is unplugged.
    pub leave: DateTime<Utc>,
    /// The charge it comes home with, percent.
    pub arrival_level: f64,
    /// What it takes to reach its charge limit, kWh.
    pub energy_kwh: f64,
}

/// A stretch of constant charging power.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Piece {
    /// Where it starts.
    pub start: DateTime<Utc>,
    /// Where it ends.
    pub end: DateTime<Utc>,
    /// The power, kW.
    pub kw: f64,
}

impl Piece {
    /// The energy it gives within `[from, to)`, kWh.
    pub fn energy_within(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
        let start = self.start.max(from);
        let end = self.end.min(to);
        if end <= start {
            return 0.0;
        }
        self.kw * (end - start).num_milliseconds() as f64 / 3_600_000.0
    }
}

fn is_weekend(day: NaiveDate) -> bool {
    matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
}

/// Minutes after midnight of a local time.
fn minutes(time: NaiveTime) -> f64 {
    f64::from(time.num_seconds_from_midnight()) / 60.0
}

/// The moment `minutes` after local midnight of `day` in `tz` (the earlier one if it is ambiguous).
fn local(tz: Tz, day: NaiveDate, minutes: f64) -> DateTime<Utc> {
    let midnight = day.and_time(NaiveTime::MIN);
    let naive = midnight + Duration::seconds((minutes * 60.0).round() as i64);
    tz.from_local_datetime(&naive)
        .earliest()
        .unwrap_or_else(|| Utc.from_utc_datetime(&naive).with_timezone(&tz))
        .with_timezone(&Utc)
}

/// A seed for one household's one day, mixed so that neighbouring households and days differ.
fn day_seed(seed: u64, household: usize, day: NaiveDate) -> u64 {
    let mut draws = SeededDraws::new(seed ^ 0x6D76_6265_6E63_6800);
    let a = draws.next_u64();
    let mut mixed = SeededDraws::new(a ^ (household as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let b = mixed.next_u64();
    SeededDraws::new(b ^ i64::from(day.num_days_from_ce()) as u64).next_u64()
}

impl Fleet {
    /// `count` households drawn from `seed` within `area`: the neighbourhood model's habits, then
    /// each car's battery (45 to 95 kWh) and how often it is plugged in (some every evening, some
    /// every other day; on weekends a little less often).
    pub fn draw(seed: u64, count: usize, area: &NeighbourhoodArea, weather: Weather) -> Self {
        let patterns = draw_households(seed, count, area);
        let mut draws = SeededDraws::new(seed.rotate_left(17) ^ 0x00BA_77E5);
        let households = patterns
            .into_iter()
            .map(|pattern| {
                let capacity_kwh = (45.0 + draws.uniform() * 50.0).round();
                let weekday_plug_in = 0.45 + draws.uniform() * 0.55;
                let weekend_plug_in = weekday_plug_in * (0.6 + draws.uniform() * 0.3);
                Household {
                    pattern,
                    capacity_kwh,
                    weekday_plug_in,
                    weekend_plug_in,
                }
            })
            .collect();
        Self {
            seed,
            households,
            tz: area.time_zone,
            weather,
        }
    }

    /// The factor every household's need is multiplied by on `day`: the trend since the first
    /// day times the day's own draw (within 0.6 to 1.4).
    pub fn day_factor(&self, day: NaiveDate) -> f64 {
        let w = &self.weather;
        let mut draws = SeededDraws::new(day_seed(self.seed, usize::MAX, day));
        let own = draws.normal(1.0, w.spread).clamp(0.6, 1.4);
        let days = (day - w.first_day).num_days() as f64;
        (1.0 + w.trend_per_day * days) * own
    }

    /// Household `h`'s stay that starts on local `day`, if its car is plugged in that day. On a
    /// weekday it comes home near its usual time (give or take half an hour); on a weekend day at
    /// a less settled time in the afternoon or evening. It leaves the next morning near its usual
    /// time, or later when the next day is a weekend day. The charge it comes home with is drawn
    /// within its household's range, as the sandbox's commuting cars draw it, and the need it
    /// leaves is scaled by the day's [`Weather`] (the same for every household).
    pub fn stay(&self, h: usize, day: NaiveDate) -> Option<Stay> {
        let household = &self.households[h];
        let pattern = &household.pattern;
        let mut draws = SeededDraws::new(day_seed(self.seed, h, day));
        let weekend = is_weekend(day);
        let plug_in = if weekend {
            household.weekend_plug_in
        } else {
            household.weekday_plug_in
        };
        // Every draw is made whether or not the car comes home, so a day's draws never depend on
        // another's.
        let plugged = draws.uniform() < plug_in;
        let usual = minutes(pattern.arrive);
        let arrive = if weekend {
            draws.normal(usual - 120.0, 150.0).clamp(12.0 * 60.0, 23.5 * 60.0)
        } else {
            draws.normal(usual, 30.0).clamp(12.0 * 60.0, 23.5 * 60.0)
        };
        let next = day + Duration::days(1);
        let leave = if is_weekend(next) {
            draws
                .normal(minutes(pattern.leave) + 150.0, 60.0)
                .clamp(6.0 * 60.0, 11.5 * 60.0)
        } else {
            draws
                .normal(minutes(pattern.leave), 20.0)
                .clamp(5.0 * 60.0, 10.0 * 60.0)
        };
        let (low, high) = (pattern.arrival_level_min, pattern.arrival_level_max);
        let usual_level = low + (high - low) * draws.uniform();
        if !plugged {
            return None;
        }
        // The day's weather takes more (or less) of the charge: the need scales, within the battery.
        let need = (pattern.charge_limit - usual_level) * self.day_factor(day);
        let arrival_level = ((pattern.charge_limit - need).clamp(5.0, pattern.charge_limit) * 10.0).round() / 10.0;
        let energy_kwh = ((pattern.charge_limit - arrival_level) / 100.0 * household.capacity_kwh).max(0.0);
        Some(Stay {
            arrive: local(self.tz, day, arrive),
            leave: local(self.tz, next, leave),
            arrival_level,
            energy_kwh,
        })
    }
}

/// The next quarter-hour edge after `at`.
pub fn next_quarter(at: DateTime<Utc>) -> DateTime<Utc> {
    let step = 15 * 60;
    let secs = (at.timestamp().div_euclid(step) + 1) * step;
    DateTime::from_timestamp(secs, 0).unwrap_or(at)
}

/// How a stay charges: from arrival, at what the car takes under the cap in force (`offered_at`
/// gives the amperes per phase allowed at a moment, `None` for no cap; caps change only on
/// quarter-hour edges), until it has what it wants or it leaves. A car held back by a cap simply
/// charges for longer afterwards, as a real one does.
pub fn charge(household: &Household, stay: &Stay, offered_at: impl Fn(DateTime<Utc>) -> Option<f64>) -> Vec<Piece> {
    let mut pieces: Vec<Piece> = Vec::new();
    let mut wanted = stay.energy_kwh;
    let mut at = stay.arrive;
    while wanted > 1e-9 && at < stay.leave {
        let edge = next_quarter(at).min(stay.leave);
        let kw = household.power_kw(offered_at(at));
        if kw > 0.0 {
            let hours = (edge - at).num_milliseconds() as f64 / 3_600_000.0;
            let end = if kw * hours >= wanted {
                // The last of it: what is left to the millisecond counts as taken.
                let end = at + Duration::milliseconds((wanted / kw * 3_600_000.0).ceil() as i64);
                wanted = 0.0;
                end.min(edge)
            } else {
                wanted -= kw * hours;
                edge
            };
            match pieces.last_mut() {
                Some(last) if last.end == at && (last.kw - kw).abs() < 1e-12 => last.end = end,
                _ => pieces.push(Piece { start: at, end, kw }),
            }
        }
        at = edge;
    }
    pieces
}

/// The energy the pieces give within `[from, to)`, kWh.
pub fn energy_within(pieces: &[Piece], from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    pieces.iter().map(|p| p.energy_within(from, to)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn area() -> NeighbourhoodArea {
        NeighbourhoodArea {
            latitude: 52.09,
            longitude: 5.12,
            radius_km: 2.0,
            time_zone: "Europe/Amsterdam".parse().unwrap(),
        }
    }

    fn monday() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 2).unwrap()
    }

    #[test]
    fn the_same_seed_gives_the_same_fleet_and_the_same_days() {
        let a = Fleet::draw(5, 40, &area(), Weather::still(monday()));
        let b = Fleet::draw(5, 40, &area(), Weather::still(monday()));
        assert_eq!(a.households, b.households);
        for h in 0..40 {
            assert_eq!(a.stay(h, monday()), b.stay(h, monday()));
        }
        let other = Fleet::draw(6, 40, &area(), Weather::still(monday()));
        assert_ne!(a.households, other.households);
    }

    #[test]
    fn cars_come_home_on_some_days_and_not_others_and_leave_the_next_morning() {
        let fleet = Fleet::draw(11, 200, &area(), Weather::still(monday()));
        let mut home = 0;
        for h in 0..200 {
            for d in 0..14 {
                if let Some(stay) = fleet.stay(h, monday() + Duration::days(d)) {
                    home += 1;
                    assert!(stay.leave > stay.arrive, "{stay:?}");
                    assert!(stay.leave - stay.arrive < Duration::hours(24), "{stay:?}");
                    assert!(stay.energy_kwh > 0.0);
                }
            }
        }
        assert!((1000..2700).contains(&home), "{home} of 2800 household-days at home");
    }

    #[test]
    fn a_capped_car_charges_more_slowly_and_for_longer_and_takes_the_same_energy_when_there_is_time() {
        let fleet = Fleet::draw(3, 50, &area(), Weather::still(monday()));
        let h = fleet
            .households
            .iter()
            .position(|h| h.pattern.max_current == 16)
            .unwrap();
        let household = &fleet.households[h];
        let arrive = Utc.with_ymd_and_hms(2026, 11, 2, 17, 0, 0).unwrap();
        let stay = Stay {
            arrive,
            leave: arrive + Duration::hours(14),
            arrival_level: 30.0,
            energy_kwh: 20.0,
        };
        let free = charge(household, &stay, |_| None);
        let until = arrive + Duration::hours(2);
        let capped = charge(household, &stay, |at| (at < until).then_some(8.0));
        let total = |p: &[Piece]| energy_within(p, stay.arrive, stay.leave);
        assert!((total(&free) - 20.0).abs() < 1e-4 && (total(&capped) - 20.0).abs() < 1e-4);
        assert!(energy_within(&capped, arrive, until) < energy_within(&free, arrive, until));
        assert!(
            capped.last().unwrap().end > free.last().unwrap().end,
            "{free:?} {capped:?}"
        );
        // 8 A on three phases is 5.52 kW; below 6 A a car draws nothing.
        assert!((capped[0].kw - 5.52).abs() < 1e-9, "{capped:?}");
        let paused = charge(household, &stay, |at| (at < until).then_some(5.0));
        assert_eq!(energy_within(&paused, arrive, until), 0.0);
    }

    #[test]
    fn the_weather_moves_every_household_s_need_together_and_still_weather_moves_none() {
        let weather = Weather {
            first_day: monday(),
            spread: 0.1,
            trend_per_day: 0.01,
        };
        let fleet = Fleet::draw(4, 300, &area(), weather);
        let still = Fleet::draw(4, 300, &area(), Weather::still(monday()));
        let day = monday() + Duration::days(20);
        assert_eq!(still.day_factor(day), 1.0);
        let factor = fleet.day_factor(day);
        assert!(factor != 1.0 && (0.6 * 1.2..=1.4 * 1.2).contains(&factor), "{factor}");
        let need = |f: &Fleet| {
            (0..300)
                .filter_map(|h| f.stay(h, day))
                .map(|s| s.energy_kwh)
                .sum::<f64>()
        };
        let ratio = need(&fleet) / need(&still);
        // Cars whose need would pass the battery's floor are held at it, so the ratio is near.
        assert!((ratio - factor).abs() < 0.05 * factor, "{ratio} against {factor}");
    }
}
