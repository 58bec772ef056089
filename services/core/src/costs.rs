//! What charging cost: each session's energy priced slot by slot, what the same energy would have
//! cost charged at once, and statistics of energy, cost and savings per hour, day or month.
//!
//! A session's energy comes from the charger's energy register, read at whatever times the charger
//! sent readings. Between two readings the energy is spread evenly over the time between them, so
//! a reading every few minutes prices accurately and a session with only its start and stop
//! readings is priced as if it charged evenly. Energy that falls where no price is known is counted
//! as energy, and reported as unpriced, never as free.

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::tariff::PriceSlot;

/// One reading of a session's energy register.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EnergyReading {
    /// When the charger read it.
    pub at: DateTime<Utc>,
    /// The register, Wh.
    pub register_wh: f64,
}

/// Energy taken in one stretch of time, and what it cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EnergyPiece {
    /// Where the stretch starts.
    pub start: DateTime<Utc>,
    /// Where it ends.
    pub end: DateTime<Utc>,
    /// Energy taken, kWh.
    pub energy_kwh: f64,
    /// Its price per kWh, when one is known for the stretch.
    pub price_per_kwh: Option<f64>,
}

impl EnergyPiece {
    /// What it cost, when its price is known.
    pub fn cost(&self) -> Option<f64> {
        self.price_per_kwh.map(|p| p * self.energy_kwh)
    }
}

/// What one session cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionCost {
    /// Energy taken, kWh.
    pub energy_kwh: f64,
    /// Of that, energy taken where no price is known, kWh (its cost is left out of `cost`).
    pub unpriced_energy_kwh: f64,
    /// What the priced energy cost.
    pub cost: f64,
    /// What the same energy would have cost charged at once from the session's start at its
    /// highest observed power (what a charger without smart charging does).
    pub non_smart_cost: f64,
    /// `non_smart_cost - cost`: what charging when it did saved (negative when it cost more).
    pub savings: f64,
}

/// Splits the energy between readings into pieces, one per price slot it overlaps (and one per gap
/// between slots), spread evenly over time. Readings are taken in time order; a register that goes
/// backwards (a replaced meter, a bad reading) adds nothing for that step.
pub fn energy_pieces(readings: &[EnergyReading], prices: &[PriceSlot]) -> Vec<EnergyPiece> {
    let mut sorted: Vec<EnergyReading> = readings.iter().copied().filter(|r| r.register_wh.is_finite()).collect();
    sorted.sort_by_key(|r| r.at);
    let mut pieces = Vec::new();
    for pair in sorted.windows(2) {
        let (from, to) = (pair[0], pair[1]);
        let energy_kwh = ((to.register_wh - from.register_wh) / 1000.0).max(0.0);
        if energy_kwh <= 0.0 {
            continue;
        }
        if to.at <= from.at {
            // Two readings at one moment: the energy belongs to that moment's price.
            pieces.push(EnergyPiece {
                start: from.at,
                end: to.at,
                energy_kwh,
                price_per_kwh: price_at(prices, from.at),
            });
            continue;
        }
        let span = (to.at - from.at).num_microseconds().unwrap_or(i64::MAX) as f64;
        for (start, end, price) in cut(prices, from.at, to.at) {
            let share = (end - start).num_microseconds().unwrap_or(0) as f64 / span;
            pieces.push(EnergyPiece {
                start,
                end,
                energy_kwh: energy_kwh * share,
                price_per_kwh: price,
            });
        }
    }
    pieces
}

/// What a session's readings cost at `prices`, against charging the same energy at once.
pub fn session_cost(readings: &[EnergyReading], prices: &[PriceSlot]) -> SessionCost {
    priced_session(readings, prices).1
}

/// A session's energy pieces (for statistics) and its cost, the pieces worked out once.
pub fn priced_session(readings: &[EnergyReading], prices: &[PriceSlot]) -> (Vec<EnergyPiece>, SessionCost) {
    let pieces = energy_pieces(readings, prices);
    let energy_kwh: f64 = pieces.iter().map(|p| p.energy_kwh).sum();
    let unpriced_energy_kwh: f64 = pieces
        .iter()
        .filter(|p| p.price_per_kwh.is_none())
        .map(|p| p.energy_kwh)
        .sum();
    let cost: f64 = pieces.iter().filter_map(EnergyPiece::cost).sum();
    let peak_kw = pieces
        .iter()
        .filter(|p| p.end > p.start)
        .map(|p| p.energy_kwh / ((p.end - p.start).num_milliseconds() as f64 / 3_600_000.0))
        .fold(0.0, f64::max);
    let start = readings.iter().map(|r| r.at).min();
    let non_smart_cost = match start {
        Some(start) if peak_kw > 0.0 => at_once_cost(start, energy_kwh - unpriced_energy_kwh, peak_kw, prices),
        _ => cost,
    };
    let cost = SessionCost {
        energy_kwh,
        unpriced_energy_kwh,
        cost,
        non_smart_cost,
        savings: non_smart_cost - cost,
    };
    (pieces, cost)
}

/// What `energy_kwh` costs taken at `power_kw` from `start` on, until it is all in. Where no price
/// is known the energy is priced at the last known price, so the comparison is like for like.
fn at_once_cost(start: DateTime<Utc>, energy_kwh: f64, power_kw: f64, prices: &[PriceSlot]) -> f64 {
    let hours = energy_kwh / power_kw;
    let end = start + Duration::milliseconds((hours * 3_600_000.0) as i64);
    let mut last_price = prices.first().map_or(0.0, |p| p.price_per_kwh);
    let mut total = 0.0;
    for (from, to, price) in cut(prices, start, end.max(start)) {
        let price = price.unwrap_or(last_price);
        last_price = price;
        let taken = power_kw * (to - from).num_milliseconds() as f64 / 3_600_000.0;
        total += taken * price;
    }
    total
}

/// The price in force at `at`.
fn price_at(prices: &[PriceSlot], at: DateTime<Utc>) -> Option<f64> {
    prices
        .iter()
        .find(|p| p.start <= at && at < p.end)
        .map(|p| p.price_per_kwh)
}

/// `[from, to)` cut at every price slot edge, each stretch with its price (or none, in a gap).
fn cut(
    prices: &[PriceSlot],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>, Option<f64>)> {
    let mut edges: Vec<DateTime<Utc>> = prices
        .iter()
        .flat_map(|p| [p.start, p.end])
        .filter(|t| *t > from && *t < to)
        .collect();
    edges.push(from);
    edges.push(to);
    edges.sort();
    edges.dedup();
    edges.windows(2).map(|w| (w[0], w[1], price_at(prices, w[0]))).collect()
}

/// Whose charging statistics are about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatisticsScope {
    /// Every charger of a user.
    User(crate::UserId),
    /// The sessions a vehicle charged in (those its EV system was recognised in).
    Vehicle(crate::VehicleId),
    /// One charger.
    Charger(crate::ChargerId),
}

/// How finely statistics are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Resolution {
    /// Hours.
    Hour,
    /// Days, in the local time zone.
    Day,
    /// Calendar months, in the local time zone.
    Month,
}

impl Resolution {
    /// The start of the bucket `at` falls in, in `tz`.
    pub fn bucket_start(self, at: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        let local = at.with_timezone(&tz);
        let (y, m, d, h) = match self {
            Self::Hour => (local.year(), local.month(), local.day(), local.hour()),
            Self::Day => (local.year(), local.month(), local.day(), 0),
            Self::Month => (local.year(), local.month(), 1, 0),
        };
        if self == Self::Hour {
            // Hours are cut in UTC, so a local hour repeated by a DST change is two buckets.
            return at
                .with_minute(0)
                .and_then(|t| t.with_second(0))
                .and_then(|t| t.with_nanosecond(0))
                .unwrap_or(at);
        }
        tz.with_ymd_and_hms(y, m, d, h, 0, 0)
            .earliest()
            // A midnight skipped by a DST change: the day starts at the first hour that exists.
            .or_else(|| tz.with_ymd_and_hms(y, m, d, h + 1, 0, 0).earliest())
            .map_or(at, |t| t.with_timezone(&Utc))
    }

    /// The start of the bucket after the one starting at `start`.
    pub fn next(self, start: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        match self {
            Self::Hour => start + Duration::hours(1),
            // Past the next local day's start (23 to 25 hours on), then back to its start.
            Self::Day => self.bucket_start(start + Duration::hours(26), tz),
            Self::Month => self.bucket_start(start + Duration::days(32), tz),
        }
    }
}

/// One bucket of statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatisticsBucket {
    /// Where the bucket starts.
    pub start: DateTime<Utc>,
    /// Energy taken, kWh.
    pub energy_kwh: f64,
    /// What the priced energy cost.
    pub cost: f64,
    /// What charging when it did saved against charging at once.
    pub savings: f64,
    /// Sessions with energy in the bucket.
    pub sessions: u32,
}

/// Statistics of `sessions` (each: its energy pieces and its cost) in buckets of `resolution`
/// from `from` to `to`, local to `tz`. A session's savings are shared among the buckets its
/// energy falls in, in proportion to that energy. Buckets with nothing in them are left out.
pub fn statistics(
    sessions: &[(Vec<EnergyPiece>, SessionCost)],
    resolution: Resolution,
    tz: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<StatisticsBucket> {
    let mut buckets: std::collections::BTreeMap<DateTime<Utc>, StatisticsBucket> = Default::default();
    for (pieces, cost) in sessions {
        let mut counted: std::collections::BTreeSet<DateTime<Utc>> = Default::default();
        for piece in pieces {
            // A piece may span bucket edges (readings far apart): split it evenly over time.
            let mut at = piece.start.max(from);
            let end = piece.end.min(to);
            let span = (piece.end - piece.start).num_milliseconds().max(1) as f64;
            let whole = piece.end <= piece.start;
            if whole && (piece.start < from || piece.start >= to) {
                continue;
            }
            loop {
                let start = resolution.bucket_start(at, tz);
                let next = resolution.next(start, tz).min(end);
                let share = if whole {
                    1.0
                } else {
                    (next - at).num_milliseconds() as f64 / span
                };
                let energy = piece.energy_kwh * share;
                let bucket = buckets.entry(start).or_insert(StatisticsBucket {
                    start,
                    energy_kwh: 0.0,
                    cost: 0.0,
                    savings: 0.0,
                    sessions: 0,
                });
                bucket.energy_kwh += energy;
                bucket.cost += piece.price_per_kwh.map_or(0.0, |p| p * energy);
                if cost.energy_kwh > 0.0 {
                    bucket.savings += cost.savings * energy / cost.energy_kwh;
                }
                if energy > 0.0 && counted.insert(start) {
                    bucket.sessions += 1;
                }
                if whole || next >= end {
                    break;
                }
                at = next;
            }
        }
    }
    buckets.into_values().filter(|b| b.energy_kwh > 0.0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(hh: u32, mm: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 10, hh, mm, 0).unwrap()
    }

    fn slot(from: DateTime<Utc>, to: DateTime<Utc>, price: f64) -> PriceSlot {
        PriceSlot {
            start: from,
            end: to,
            price_per_kwh: price,
        }
    }

    fn reading(at: DateTime<Utc>, kwh: f64) -> EnergyReading {
        EnergyReading {
            at,
            register_wh: kwh * 1000.0,
        }
    }

    #[test]
    fn energy_between_two_readings_is_priced_by_the_slots_it_spans() {
        let prices = [slot(t(0, 0), t(1, 0), 0.10), slot(t(1, 0), t(2, 0), 0.30)];
        // 11 kWh evenly from 00:30 to 01:30: half at 0.10, half at 0.30.
        let cost = session_cost(&[reading(t(0, 30), 100.0), reading(t(1, 30), 111.0)], &prices);
        assert!((cost.energy_kwh - 11.0).abs() < 1e-9);
        assert!((cost.cost - (5.5 * 0.10 + 5.5 * 0.30)).abs() < 1e-9);
        assert_eq!(cost.unpriced_energy_kwh, 0.0);
    }

    #[test]
    fn charging_in_the_cheap_hour_saves_against_charging_at_once() {
        // Plugged in at 00:00 in the dear hour, charged 11 kW from 01:00 in the cheap one.
        let prices = [slot(t(0, 0), t(1, 0), 0.40), slot(t(1, 0), t(2, 0), 0.10)];
        let readings = [reading(t(0, 0), 0.0), reading(t(1, 0), 0.0), reading(t(2, 0), 11.0)];
        let cost = session_cost(&readings, &prices);
        assert!((cost.cost - 1.1).abs() < 1e-9, "{cost:?}");
        // At once: the same 11 kWh at 11 kW from 00:00, all in the dear hour.
        assert!((cost.non_smart_cost - 4.4).abs() < 1e-9, "{cost:?}");
        assert!((cost.savings - 3.3).abs() < 1e-9, "{cost:?}");
    }

    #[test]
    fn energy_where_no_price_is_known_is_counted_but_not_called_free() {
        let prices = [slot(t(0, 0), t(1, 0), 0.20)];
        let cost = session_cost(&[reading(t(0, 0), 0.0), reading(t(2, 0), 10.0)], &prices);
        assert!((cost.energy_kwh - 10.0).abs() < 1e-9);
        assert!((cost.unpriced_energy_kwh - 5.0).abs() < 1e-9);
        assert!((cost.cost - 1.0).abs() < 1e-9);
    }

    #[test]
    fn a_register_that_goes_backwards_adds_no_energy() {
        let readings = [reading(t(0, 0), 50.0), reading(t(0, 30), 10.0), reading(t(1, 0), 12.0)];
        let cost = session_cost(&readings, &[]);
        assert!((cost.energy_kwh - 2.0).abs() < 1e-9, "{cost:?}");
    }

    #[test]
    fn readings_out_of_order_are_taken_in_time_order() {
        let readings = [reading(t(1, 0), 20.0), reading(t(0, 0), 10.0)];
        assert!((session_cost(&readings, &[]).energy_kwh - 10.0).abs() < 1e-9);
    }

    #[test]
    fn statistics_split_energy_at_local_midnight() {
        let tz: Tz = "Europe/Oslo".parse().unwrap();
        // 23:00 to 01:00 local on 10–11 March (UTC+1): 22:00 to 00:00 UTC.
        let readings = [reading(t(22, 0), 0.0), reading(t(23, 59) + Duration::minutes(1), 8.0)];
        let pieces = energy_pieces(&readings, &[]);
        let cost = session_cost(&readings, &[]);
        let days = statistics(
            &[(pieces, cost)],
            Resolution::Day,
            tz,
            t(0, 0),
            t(23, 0) + Duration::hours(24),
        );
        assert_eq!(days.len(), 2, "{days:?}");
        assert!((days[0].energy_kwh - 4.0).abs() < 1e-9);
        assert!((days[1].energy_kwh - 4.0).abs() < 1e-9);
        assert_eq!(days[0].start, Utc.with_ymd_and_hms(2026, 3, 9, 23, 0, 0).unwrap());
        assert_eq!((days[0].sessions, days[1].sessions), (1, 1));
    }

    #[test]
    fn a_day_across_a_dst_change_is_one_bucket_of_23_hours() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        // 29 March 2026: clocks go from 02:00 to 03:00.
        let start = Resolution::Day.bucket_start(Utc.with_ymd_and_hms(2026, 3, 29, 12, 0, 0).unwrap(), tz);
        let next = Resolution::Day.next(start, tz);
        assert_eq!(next - start, Duration::hours(23));
        let month = Resolution::Month.bucket_start(start, tz);
        assert_eq!(
            Resolution::Month.next(month, tz),
            Utc.with_ymd_and_hms(2026, 3, 31, 22, 0, 0).unwrap()
        );
    }

    #[test]
    fn savings_are_shared_by_energy_among_buckets() {
        let tz: Tz = "UTC".parse().unwrap();
        let prices = [slot(t(0, 0), t(1, 0), 0.40), slot(t(1, 0), t(3, 0), 0.10)];
        let readings = [reading(t(0, 0), 0.0), reading(t(1, 0), 0.0), reading(t(3, 0), 22.0)];
        let pieces = energy_pieces(&readings, &prices);
        let cost = session_cost(&readings, &prices);
        let hours = statistics(&[(pieces, cost.clone())], Resolution::Hour, tz, t(0, 0), t(4, 0));
        assert_eq!(hours.len(), 2);
        let total: f64 = hours.iter().map(|h| h.savings).sum();
        assert!((total - cost.savings).abs() < 1e-9);
        assert!((hours[0].savings - hours[1].savings).abs() < 1e-9);
    }
}
