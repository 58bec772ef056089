//! Time-of-use tariffs: named rates (a price per kWh each) on weekday intervals, in the location's
//! time zone (`peak` from 07:00 to 22:00 on weekdays, `night` from 22:00 to 07:00, ...).
//!
//! A tariff is checked once ([`TouTariff::new`]): every quarter hour of the week has exactly one
//! rate, so there is no overlap and no gap; every interval names a known rate; times are `HH:MM` on
//! a quarter hour (`24:00` may end an interval; an interval whose end is before its start runs past
//! midnight into the next day, Sunday into Monday).
//!
//! Rates follow the wall clock: [`TouTariff::expand`] looks up each quarter hour of real time by the
//! local time it shows. On the day clocks go forward the skipped hour has no price because it never
//! happens; on the day they go back the repeated hour is priced twice, each time by what the clock
//! shows (so a boundary at 02:30 is crossed twice).

use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::PriceSlot;

/// Quarter hours in a day.
const QUARTERS_PER_DAY: usize = 96;
/// Quarter hours in a week, Monday 00:00 first.
const QUARTERS_PER_WEEK: usize = 7 * QUARTERS_PER_DAY;
/// The most rates a tariff has.
pub const MAX_RATES: usize = 50;
/// The most intervals in a tariff's schedule.
pub const MAX_INTERVALS: usize = 200;
/// The longest rate name.
pub const MAX_RATE_NAME: usize = 50;

/// A day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Weekday {
    /// Monday.
    Monday,
    /// Tuesday.
    Tuesday,
    /// Wednesday.
    Wednesday,
    /// Thursday.
    Thursday,
    /// Friday.
    Friday,
    /// Saturday.
    Saturday,
    /// Sunday.
    Sunday,
}

impl Weekday {
    /// Monday first.
    pub const ALL: [Weekday; 7] = [
        Self::Monday,
        Self::Tuesday,
        Self::Wednesday,
        Self::Thursday,
        Self::Friday,
        Self::Saturday,
        Self::Sunday,
    ];

    /// 0 for Monday to 6 for Sunday.
    fn index(self) -> usize {
        Self::ALL.iter().position(|d| *d == self).unwrap_or(0)
    }

    /// The wire name (`MONDAY`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Monday => "MONDAY",
            Self::Tuesday => "TUESDAY",
            Self::Wednesday => "WEDNESDAY",
            Self::Thursday => "THURSDAY",
            Self::Friday => "FRIDAY",
            Self::Saturday => "SATURDAY",
            Self::Sunday => "SUNDAY",
        }
    }
}

/// A named rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rate {
    /// The rate's name, 1 to 50 characters, unique in the tariff.
    #[cfg_attr(feature = "openapi", schema(example = "peak"))]
    pub name: String,
    /// Price per kWh drawn from the grid, in the location's currency (may be negative).
    #[cfg_attr(feature = "openapi", schema(example = 0.32))]
    pub price_per_kwh: f64,
}

/// Where a rate applies: on each of `days`, from `from` to `to` local time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TouInterval {
    /// The days the interval starts on.
    pub days: Vec<Weekday>,
    /// Local start time, `HH:MM` on a quarter hour.
    #[cfg_attr(
        feature = "openapi",
        schema(example = "07:00", pattern = "^([01][0-9]|2[0-4]):(00|15|30|45)$")
    )]
    pub from: String,
    /// Local end time, `HH:MM` on a quarter hour (`24:00` for midnight at the end of the day); an
    /// end before the start runs past midnight into the next day.
    #[cfg_attr(
        feature = "openapi",
        schema(example = "22:00", pattern = "^([01][0-9]|2[0-4]):(00|15|30|45)$")
    )]
    pub to: String,
    /// The name of the rate that applies.
    #[cfg_attr(feature = "openapi", schema(example = "peak"))]
    pub rate: String,
}

/// A time-of-use tariff as a client writes it: rates, and when each applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TouDefinition {
    /// The rates, each named once.
    pub rates: Vec<Rate>,
    /// When each rate applies; together the intervals cover every minute of the week exactly once.
    pub schedule: Vec<TouInterval>,
}

/// Which time of an interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeField {
    /// `from`.
    From,
    /// `to`.
    To,
}

impl TimeField {
    fn name(self) -> &'static str {
        match self {
            Self::From => "from",
            Self::To => "to",
        }
    }
}

/// Why a tariff is refused. Each names the value at fault ([`TouError::pointer`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TouError {
    /// No rates.
    #[error("a tariff needs at least one rate")]
    NoRates,
    /// Too many rates.
    #[error("a tariff has at most {MAX_RATES} rates")]
    TooManyRates,
    /// A rate's name is empty, blank or too long.
    #[error("rates[{0}]: a rate's name must be 1 to {MAX_RATE_NAME} characters and not blank")]
    RateName(usize),
    /// Two rates have the same name.
    #[error("rates[{index}]: the rate '{name}' is named twice")]
    DuplicateRate {
        /// The second rate of that name.
        index: usize,
        /// The name.
        name: String,
    },
    /// A rate's price is not a finite number.
    #[error("rates[{0}]: pricePerKwh must be a finite number")]
    RatePrice(usize),
    /// No intervals.
    #[error("a tariff needs a schedule that covers the whole week")]
    NoSchedule,
    /// Too many intervals.
    #[error("a schedule has at most {MAX_INTERVALS} intervals")]
    TooManyIntervals,
    /// An interval names no days.
    #[error("schedule[{0}]: name at least one day")]
    NoDays(usize),
    /// An interval names a day twice.
    #[error("schedule[{index}]: {day} is named twice")]
    DuplicateDay {
        /// The interval.
        index: usize,
        /// The day.
        day: &'static str,
    },
    /// A time is not `HH:MM` on a quarter hour.
    #[error("schedule[{index}].{}: '{value}' is not a time of day on a quarter hour (HH:MM, 00:00 to {})", field.name(), if matches!(field, TimeField::To) { "24:00" } else { "23:45" })]
    Time {
        /// The interval.
        index: usize,
        /// Which time.
        field: TimeField,
        /// What was sent.
        value: String,
    },
    /// An interval starts and ends at the same time.
    #[error("schedule[{0}]: from and to are the same time (for a whole day write 00:00 to 24:00)")]
    Empty(usize),
    /// An interval names a rate the tariff does not have.
    #[error("schedule[{index}]: there is no rate named '{name}'")]
    UnknownRate {
        /// The interval.
        index: usize,
        /// The name it gave.
        name: String,
    },
    /// Two intervals cover the same time.
    #[error("schedule[{index}] overlaps schedule[{other}]: both cover {day} {at}")]
    Overlap {
        /// The later interval.
        index: usize,
        /// The earlier interval it overlaps.
        other: usize,
        /// The day of the first quarter hour both cover.
        day: &'static str,
        /// Its local time.
        at: String,
    },
    /// Part of the week has no rate.
    #[error(
        "the schedule leaves {day} {from} to {to_day} {to} without a rate: a tariff covers the whole week exactly once"
    )]
    Gap {
        /// The day the gap starts on.
        day: &'static str,
        /// Where it starts.
        from: String,
        /// The day it ends on.
        to_day: &'static str,
        /// Where it ends (`24:00` for the end of `to_day`).
        to: String,
    },
}

impl TouError {
    /// A JSON Pointer to the value at fault in the [`TouDefinition`] as sent.
    pub fn pointer(&self) -> String {
        match self {
            Self::NoRates | Self::TooManyRates => "/rates".to_owned(),
            Self::RateName(i) => format!("/rates/{i}/name"),
            Self::DuplicateRate { index, .. } => format!("/rates/{index}/name"),
            Self::RatePrice(i) => format!("/rates/{i}/pricePerKwh"),
            Self::NoSchedule | Self::TooManyIntervals | Self::Gap { .. } => "/schedule".to_owned(),
            Self::NoDays(i) => format!("/schedule/{i}/days"),
            Self::DuplicateDay { index, .. } => format!("/schedule/{index}/days"),
            Self::Time { index, field, .. } => format!("/schedule/{index}/{}", field.name()),
            Self::Empty(i) => format!("/schedule/{i}/to"),
            Self::UnknownRate { index, .. } => format!("/schedule/{index}/rate"),
            Self::Overlap { index, .. } => format!("/schedule/{index}"),
        }
    }
}

/// A checked time-of-use tariff.
#[derive(Debug, Clone, PartialEq)]
pub struct TouTariff {
    definition: TouDefinition,
    /// The rate (index into `definition.rates`) of each quarter hour of the week, Monday 00:00 first.
    week: Vec<usize>,
}

/// One stretch of an expanded tariff: a price slot and the rate it comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct TouSlot {
    /// The slot.
    pub slot: PriceSlot,
    /// The rate's name.
    pub rate: String,
}

/// Minutes since midnight of an `HH:MM` on a quarter hour; `24:00` only where `end_of_day` allows.
fn parse_time(text: &str, end_of_day: bool) -> Option<usize> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (usize, usize) = (h.parse().ok()?, m.parse().ok()?);
    let minutes = h * 60 + m;
    let fits = matches!(m, 0 | 15 | 30 | 45) && (minutes < 24 * 60 || (end_of_day && minutes == 24 * 60));
    fits.then_some(minutes)
}

fn show_quarter(quarter_of_day: usize) -> String {
    let minutes = quarter_of_day * 15;
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

impl TouTariff {
    /// Checks a tariff: see the module docs for the rules.
    pub fn new(definition: TouDefinition) -> Result<Self, TouError> {
        if definition.rates.is_empty() {
            return Err(TouError::NoRates);
        }
        if definition.rates.len() > MAX_RATES {
            return Err(TouError::TooManyRates);
        }
        for (i, rate) in definition.rates.iter().enumerate() {
            let name = rate.name.as_str();
            if name.trim().is_empty() || name.chars().count() > MAX_RATE_NAME || name.chars().any(char::is_control) {
                return Err(TouError::RateName(i));
            }
            if definition.rates[..i].iter().any(|r| r.name == rate.name) {
                return Err(TouError::DuplicateRate {
                    index: i,
                    name: rate.name.clone(),
                });
            }
            if !rate.price_per_kwh.is_finite() {
                return Err(TouError::RatePrice(i));
            }
        }
        if definition.schedule.is_empty() {
            return Err(TouError::NoSchedule);
        }
        if definition.schedule.len() > MAX_INTERVALS {
            return Err(TouError::TooManyIntervals);
        }
        // The interval (index) owning each quarter hour of the week.
        let mut owner: Vec<Option<usize>> = vec![None; QUARTERS_PER_WEEK];
        let mut week = vec![0; QUARTERS_PER_WEEK];
        for (i, interval) in definition.schedule.iter().enumerate() {
            if interval.days.is_empty() {
                return Err(TouError::NoDays(i));
            }
            for (n, day) in interval.days.iter().enumerate() {
                if interval.days[..n].contains(day) {
                    return Err(TouError::DuplicateDay {
                        index: i,
                        day: day.as_str(),
                    });
                }
            }
            let time_error = |field, value: &str| TouError::Time {
                index: i,
                field,
                value: value.to_owned(),
            };
            let from = parse_time(&interval.from, false).ok_or_else(|| time_error(TimeField::From, &interval.from))?;
            let to = parse_time(&interval.to, true).ok_or_else(|| time_error(TimeField::To, &interval.to))?;
            if from == to {
                return Err(TouError::Empty(i));
            }
            let rate = definition
                .rates
                .iter()
                .position(|r| r.name == interval.rate)
                .ok_or_else(|| TouError::UnknownRate {
                    index: i,
                    name: interval.rate.clone(),
                })?;
            let (first, last) = (from / 15, to / 15);
            // An end before the start runs into the next day.
            let length = if last > first {
                last - first
            } else {
                QUARTERS_PER_DAY - first + last
            };
            for day in &interval.days {
                let start = day.index() * QUARTERS_PER_DAY + first;
                for q in start..start + length {
                    let q = q % QUARTERS_PER_WEEK;
                    if let Some(other) = owner[q] {
                        return Err(TouError::Overlap {
                            index: i,
                            other,
                            day: Weekday::ALL[q / QUARTERS_PER_DAY].as_str(),
                            at: show_quarter(q % QUARTERS_PER_DAY),
                        });
                    }
                    owner[q] = Some(i);
                    week[q] = rate;
                }
            }
        }
        // Report a gap from where it really starts: the first uncovered quarter after a covered one
        // (a gap may run from Sunday night into Monday).
        let uncovered = |q: usize| owner[q % QUARTERS_PER_WEEK].is_none();
        if let Some(start) = (0..QUARTERS_PER_WEEK).find(|q| uncovered(*q) && !uncovered(q + QUARTERS_PER_WEEK - 1)) {
            let length = (1..QUARTERS_PER_WEEK)
                .find(|n| !uncovered(start + n))
                .unwrap_or(QUARTERS_PER_WEEK);
            let end = (start + length) % QUARTERS_PER_WEEK;
            let (day_of_end, quarter_of_end) = (end / QUARTERS_PER_DAY, end % QUARTERS_PER_DAY);
            // A gap ending at midnight ends at 24:00 of the day before.
            let (end_day, end_quarter) = if quarter_of_end == 0 {
                ((day_of_end + 6) % 7, QUARTERS_PER_DAY)
            } else {
                (day_of_end, quarter_of_end)
            };
            return Err(TouError::Gap {
                day: Weekday::ALL[start / QUARTERS_PER_DAY].as_str(),
                from: show_quarter(start % QUARTERS_PER_DAY),
                to_day: Weekday::ALL[end_day].as_str(),
                to: show_quarter(end_quarter),
            });
        }
        Ok(Self { definition, week })
    }

    /// The tariff as written.
    pub fn definition(&self) -> &TouDefinition {
        &self.definition
    }

    /// The rate in force at a local wall-clock time.
    fn rate_index_at<T: Datelike + Timelike>(&self, local: &T) -> usize {
        let day = local.weekday().num_days_from_monday() as usize;
        let quarter = (local.hour() * 4 + local.minute() / 15) as usize;
        self.week[day * QUARTERS_PER_DAY + quarter]
    }

    /// The rate in force at `at` in `tz`.
    pub fn rate_at(&self, tz: Tz, at: DateTime<Utc>) -> &Rate {
        &self.definition.rates[self.rate_index_at(&at.with_timezone(&tz))]
    }

    /// The tariff's prices over `[from, to)` in `tz`, as slots that follow each other without gaps;
    /// neighbouring quarter hours of the same rate are one slot. The first and last slot are cut at
    /// `from` and `to`.
    pub fn expand(&self, tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<TouSlot> {
        let quarter = Duration::minutes(15);
        let mut slots: Vec<(usize, DateTime<Utc>, DateTime<Utc>)> = Vec::new();
        if from >= to {
            return Vec::new();
        }
        let mut at = floor_quarter(from);
        while at < to {
            let next = at + quarter;
            let rate = self.rate_index_at(&at.with_timezone(&tz));
            let (start, end) = (at.max(from), next.min(to));
            match slots.last_mut() {
                Some((last_rate, _, last_end)) if *last_rate == rate && *last_end == start => *last_end = end,
                _ => slots.push((rate, start, end)),
            }
            at = next;
        }
        slots
            .into_iter()
            .map(|(rate, start, end)| {
                let rate = &self.definition.rates[rate];
                TouSlot {
                    slot: PriceSlot {
                        start,
                        end,
                        price_per_kwh: rate.price_per_kwh,
                    },
                    rate: rate.name.clone(),
                }
            })
            .collect()
    }
}

/// The quarter hour `at` falls in (UTC; every time zone in use today is offset by whole quarters).
pub fn floor_quarter(at: DateTime<Utc>) -> DateTime<Utc> {
    let seconds = at.timestamp();
    let floored = seconds - seconds.rem_euclid(15 * 60);
    DateTime::from_timestamp(floored, 0).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    fn rate(name: &str, price: f64) -> Rate {
        Rate {
            name: name.into(),
            price_per_kwh: price,
        }
    }

    fn interval(days: &[Weekday], from: &str, to: &str, rate: &str) -> TouInterval {
        TouInterval {
            days: days.to_vec(),
            from: from.into(),
            to: to.into(),
            rate: rate.into(),
        }
    }

    /// Peak 06:00–22:00 every day, night from 22:00 to 06:00 (across midnight).
    fn day_and_night() -> TouDefinition {
        TouDefinition {
            rates: vec![rate("peak", 0.30), rate("night", 0.10)],
            schedule: vec![
                interval(&Weekday::ALL, "06:00", "22:00", "peak"),
                interval(&Weekday::ALL, "22:00", "06:00", "night"),
            ],
        }
    }

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn a_tariff_that_covers_the_week_once_is_accepted_and_prices_by_local_time() {
        let tariff = TouTariff::new(day_and_night()).unwrap();
        let oslo: Tz = "Europe/Oslo".parse().unwrap();
        // 05:30 UTC in January is 06:30 in Oslo.
        assert_eq!(tariff.rate_at(oslo, utc("2025-01-15T05:30:00Z")).name, "peak");
        assert_eq!(tariff.rate_at(oslo, utc("2025-01-15T04:30:00Z")).name, "night");
    }

    #[test]
    fn weekday_and_weekend_rates_apply_on_their_days_across_midnight_from_sunday_to_monday() {
        let weekdays = &Weekday::ALL[..5];
        let definition = TouDefinition {
            rates: vec![rate("peak", 0.4), rate("off", 0.1), rate("weekend", 0.2)],
            schedule: vec![
                interval(weekdays, "07:00", "21:00", "peak"),
                interval(&Weekday::ALL[..4], "21:00", "07:00", "off"),
                interval(&[Weekday::Friday], "21:00", "24:00", "off"),
                interval(&[Weekday::Saturday], "00:00", "24:00", "weekend"),
                interval(&[Weekday::Sunday], "00:00", "21:00", "weekend"),
                interval(&[Weekday::Sunday], "21:00", "07:00", "off"),
                interval(&[Weekday::Monday], "00:00", "00:00", "off"),
            ],
        };
        // The last interval is empty.
        assert_eq!(TouTariff::new(definition.clone()), Err(TouError::Empty(6)));
        let mut fixed = definition;
        fixed.schedule.pop();
        let tariff = TouTariff::new(fixed).unwrap();
        let utc_tz: Tz = "UTC".parse().unwrap();
        // 2025-01-13 is a Monday; Sunday night's off rate runs to Monday 07:00.
        assert_eq!(tariff.rate_at(utc_tz, utc("2025-01-13T06:45:00Z")).name, "off");
        assert_eq!(tariff.rate_at(utc_tz, utc("2025-01-13T07:00:00Z")).name, "peak");
        assert_eq!(tariff.rate_at(utc_tz, utc("2025-01-18T12:00:00Z")).name, "weekend");
        assert_eq!(tariff.rate_at(utc_tz, utc("2025-01-17T23:00:00Z")).name, "off");
    }

    #[test]
    fn overlapping_intervals_are_refused_naming_both_and_where() {
        let mut definition = day_and_night();
        definition.schedule[1].from = "21:00".into();
        let err = TouTariff::new(definition).unwrap_err();
        assert_eq!(
            err,
            TouError::Overlap {
                index: 1,
                other: 0,
                day: "MONDAY",
                at: "21:00".into()
            }
        );
        assert_eq!(err.pointer(), "/schedule/1");
    }

    #[test]
    fn a_gap_is_refused_naming_the_first_stretch_without_a_rate() {
        let mut definition = day_and_night();
        definition.schedule[1].days = Weekday::ALL[..6].to_vec();
        let err = TouTariff::new(definition).unwrap_err();
        assert_eq!(
            err,
            TouError::Gap {
                day: "SUNDAY",
                from: "22:00".into(),
                to_day: "MONDAY",
                to: "06:00".into()
            }
        );
        let mut definition = day_and_night();
        definition.schedule[0].from = "06:15".into();
        assert!(err.to_string().contains("whole week"));
        assert_eq!(
            TouTariff::new(definition).unwrap_err(),
            TouError::Gap {
                day: "MONDAY",
                from: "06:00".into(),
                to_day: "MONDAY",
                to: "06:15".into()
            }
        );
        let no_sunday = TouDefinition {
            rates: vec![rate("flat", 0.2)],
            schedule: vec![interval(&Weekday::ALL[..6], "00:00", "24:00", "flat")],
        };
        assert_eq!(
            TouTariff::new(no_sunday).unwrap_err().to_string(),
            "the schedule leaves SUNDAY 00:00 to SUNDAY 24:00 without a rate: a tariff covers the whole week exactly once"
        );
    }

    #[test]
    fn unknown_rates_bad_times_and_bad_rates_are_refused_each_at_its_field() {
        type Edit = Box<dyn Fn(&mut TouDefinition)>;
        let cases: Vec<(Edit, &str)> = vec![
            (Box::new(|d| d.schedule[0].rate = "peek".into()), "/schedule/0/rate"),
            (Box::new(|d| d.schedule[0].from = "6:00".into()), "/schedule/0/from"),
            (Box::new(|d| d.schedule[0].from = "06:10".into()), "/schedule/0/from"),
            (Box::new(|d| d.schedule[0].from = "24:00".into()), "/schedule/0/from"),
            (Box::new(|d| d.schedule[0].to = "25:00".into()), "/schedule/0/to"),
            (Box::new(|d| d.schedule[0].to = "noon".into()), "/schedule/0/to"),
            (Box::new(|d| d.schedule[1].days.clear()), "/schedule/1/days"),
            (
                Box::new(|d| d.schedule[1].days.push(Weekday::Monday)),
                "/schedule/1/days",
            ),
            (Box::new(|d| d.rates[1].name = "peak".into()), "/rates/1/name"),
            (Box::new(|d| d.rates[1].name = " ".into()), "/rates/1/name"),
            (
                Box::new(|d| d.rates[0].price_per_kwh = f64::NAN),
                "/rates/0/pricePerKwh",
            ),
            (Box::new(|d| d.rates.clear()), "/rates"),
            (Box::new(|d| d.schedule.clear()), "/schedule"),
        ];
        for (change, pointer) in cases {
            let mut definition = day_and_night();
            change(&mut definition);
            let err = TouTariff::new(definition).unwrap_err();
            assert_eq!(err.pointer(), pointer, "{err}");
        }
    }

    #[test]
    fn expanding_gives_contiguous_slots_merged_by_rate_and_cut_at_the_ends() {
        let tariff = TouTariff::new(day_and_night()).unwrap();
        let tz: Tz = "UTC".parse().unwrap();
        let slots = tariff.expand(tz, utc("2025-01-15T05:10:00Z"), utc("2025-01-16T06:20:00Z"));
        let shown: Vec<(String, String, &str)> = slots
            .iter()
            .map(|s| (s.slot.start.to_rfc3339(), s.slot.end.to_rfc3339(), s.rate.as_str()))
            .collect();
        assert_eq!(
            shown,
            vec![
                (
                    "2025-01-15T05:10:00+00:00".into(),
                    "2025-01-15T06:00:00+00:00".into(),
                    "night"
                ),
                (
                    "2025-01-15T06:00:00+00:00".into(),
                    "2025-01-15T22:00:00+00:00".into(),
                    "peak"
                ),
                (
                    "2025-01-15T22:00:00+00:00".into(),
                    "2025-01-16T06:00:00+00:00".into(),
                    "night"
                ),
                (
                    "2025-01-16T06:00:00+00:00".into(),
                    "2025-01-16T06:20:00+00:00".into(),
                    "peak"
                ),
            ]
        );
        assert!(tariff
            .expand(tz, utc("2025-01-15T05:10:00Z"), utc("2025-01-15T05:10:00Z"))
            .is_empty());
    }

    #[test]
    fn on_the_day_clocks_go_forward_the_night_is_an_hour_shorter() {
        // Berlin, 2025-03-30: 02:00 CET becomes 03:00 CEST (01:00 UTC).
        let tariff = TouTariff::new(day_and_night()).unwrap();
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let slots = tariff.expand(berlin, utc("2025-03-29T21:00:00Z"), utc("2025-03-30T06:00:00Z"));
        let night = &slots[0];
        assert_eq!(night.rate, "night");
        // 22:00 CET Saturday is 21:00 UTC; 06:00 CEST Sunday is 04:00 UTC: seven hours, not eight.
        assert_eq!(night.slot.start, utc("2025-03-29T21:00:00Z"));
        assert_eq!(night.slot.end, utc("2025-03-30T04:00:00Z"));
        assert_eq!(slots[1].rate, "peak");
    }

    #[test]
    fn on_the_day_clocks_go_back_the_night_is_an_hour_longer() {
        // Berlin, 2025-10-26: 03:00 CEST becomes 02:00 CET (01:00 UTC).
        let tariff = TouTariff::new(day_and_night()).unwrap();
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let slots = tariff.expand(berlin, utc("2025-10-25T20:00:00Z"), utc("2025-10-26T06:00:00Z"));
        assert_eq!(slots[0].rate, "night");
        // 22:00 CEST Saturday is 20:00 UTC; 06:00 CET Sunday is 05:00 UTC: nine hours.
        assert_eq!(slots[0].slot.end, utc("2025-10-26T05:00:00Z"));
    }

    #[test]
    fn a_boundary_inside_the_repeated_hour_is_crossed_twice_and_one_inside_the_skipped_hour_once() {
        let definition = TouDefinition {
            rates: vec![rate("a", 0.1), rate("b", 0.2)],
            schedule: vec![
                interval(&Weekday::ALL, "00:00", "02:30", "a"),
                interval(&Weekday::ALL, "02:30", "24:00", "b"),
            ],
        };
        let tariff = TouTariff::new(definition).unwrap();
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // Autumn: 00:00 CEST (22:00 UTC) .. the repeated hour 02:00–03:00 runs 00:00–02:00 UTC.
        let autumn = tariff.expand(berlin, utc("2025-10-25T22:00:00Z"), utc("2025-10-26T03:00:00Z"));
        let rates: Vec<(&str, String)> = autumn
            .iter()
            .map(|s| (s.rate.as_str(), s.slot.end.to_rfc3339()))
            .collect();
        assert_eq!(
            rates,
            vec![
                ("a", "2025-10-26T00:30:00+00:00".into()),
                ("b", "2025-10-26T01:00:00+00:00".into()),
                ("a", "2025-10-26T01:30:00+00:00".into()),
                ("b", "2025-10-26T03:00:00+00:00".into()),
            ]
        );
        // Spring: 02:00–03:00 does not exist, so `a` ends when the clock jumps to 03:00 (01:00 UTC).
        let spring = tariff.expand(berlin, utc("2025-03-29T23:00:00Z"), utc("2025-03-30T03:00:00Z"));
        assert_eq!(spring.len(), 2);
        assert_eq!(spring[0].slot.end, utc("2025-03-30T01:00:00Z"));
        assert_eq!(spring[1].rate, "b");
    }

    #[test]
    fn a_time_zone_with_a_half_hour_offset_still_prices_by_its_wall_clock() {
        let tariff = TouTariff::new(day_and_night()).unwrap();
        let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
        // 00:30 UTC is 06:00 in India (+05:30).
        let slots = tariff.expand(kolkata, utc("2025-01-15T00:00:00Z"), utc("2025-01-15T01:00:00Z"));
        assert_eq!(slots[0].slot.end, utc("2025-01-15T00:30:00Z"));
        assert_eq!(slots[1].rate, "peak");
    }

    #[test]
    fn any_valid_tariff_expands_to_slots_that_tile_the_window_and_follow_the_wall_clock() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(14);
        let zones: Vec<Tz> = [
            "Europe/Berlin",
            "America/New_York",
            "Australia/Adelaide",
            "Asia/Kathmandu",
            "UTC",
        ]
        .iter()
        .map(|z| z.parse().unwrap())
        .collect();
        for _ in 0..200 {
            // Cut each day at a few random quarter hours, one rate per piece.
            let rates: Vec<Rate> = (0..3).map(|i| rate(&format!("r{i}"), f64::from(i) / 10.0)).collect();
            let mut schedule = Vec::new();
            for day in Weekday::ALL {
                let mut cuts: Vec<usize> = (0..rng.gen_range(0..4)).map(|_| rng.gen_range(1..96)).collect();
                cuts.push(0);
                cuts.push(96);
                cuts.sort_unstable();
                cuts.dedup();
                for pair in cuts.windows(2) {
                    schedule.push(interval(
                        &[day],
                        &show_quarter(pair[0]),
                        &show_quarter(pair[1]),
                        &format!("r{}", rng.gen_range(0..3)),
                    ));
                }
            }
            let tariff = TouTariff::new(TouDefinition { rates, schedule }).unwrap();
            let tz = zones[rng.gen_range(0..zones.len())];
            // Windows around the spring and autumn changes of either hemisphere, at odd minutes.
            let around = [
                "2025-03-09T06:00:00Z",
                "2025-03-30T00:00:00Z",
                "2025-04-06T00:00:00Z",
                "2025-10-26T00:00:00Z",
                "2025-11-02T06:00:00Z",
            ];
            let from = utc(around[rng.gen_range(0..around.len())]) + Duration::minutes(rng.gen_range(-1500..1500));
            let to = from + Duration::minutes(rng.gen_range(1..3000));
            let slots = tariff.expand(tz, from, to);
            assert_eq!(slots.first().unwrap().slot.start, from);
            assert_eq!(slots.last().unwrap().slot.end, to);
            for pair in slots.windows(2) {
                assert_eq!(pair[0].slot.end, pair[1].slot.start);
                assert_ne!(pair[0].rate, pair[1].rate, "neighbours of one rate are merged");
            }
            for slot in &slots {
                let mut at = slot.slot.start;
                while at < slot.slot.end {
                    assert_eq!(tariff.rate_at(tz, at).name, slot.rate);
                    at = floor_quarter(at) + Duration::minutes(15);
                }
            }
        }
    }
}
