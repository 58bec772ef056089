//! Baselines: what a device's (or a site's, or an event's) load would have been without the event,
//! interval by interval, behind one trait. Two methods:
//!
//! - [`SimilarDays`]: the same interval's average over the most recent similar days (weekdays for
//!   a weekday, weekend days for a weekend day) on which the device took part in no event. Known
//!   before an event, so a SHED event's caps are cut from it.
//! - [`ControlGroup`]: a random share of the enrolled is held back from an event ([`control_group`])
//!   and charges as it would have; their mean per-device load, scaled to the treated count, is the
//!   treated devices' baseline. Known only afterwards, and unbiased by habits that change.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use chrono_tz::Tz;

use super::*;

/// A baseline method.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BaselineMethod {
    /// The same interval's average over recent similar days without events.
    SimilarDays,
    /// The held-back control group's mean load, scaled to the treated count.
    ControlGroup,
}

impl BaselineMethod {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SimilarDays => "SIMILAR_DAYS",
            Self::ControlGroup => "CONTROL_GROUP",
        }
    }

    /// Reads a wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::SimilarDays, Self::ControlGroup]
            .into_iter()
            .find(|m| m.as_str() == raw)
    }
}

/// What a load would have been without the event.
pub trait Baseline {
    /// Which method this is.
    fn method(&self) -> BaselineMethod;

    /// The load, kW, in the interval starting at each of `starts`; `None` where the method has
    /// nothing to go on.
    fn estimate(&self, starts: &[DateTime<Utc>]) -> Vec<Option<f64>>;
}

/// How many similar days [`SimilarDays`] averages by default (CAISO's "10 of 10" uses ten).
pub const SIMILAR_DAYS: usize = 10;
/// How far back [`SimilarDays`] looks for them, days.
pub const SIMILAR_DAYS_LOOKBACK: i64 = 30;

/// The same-interval average over the `days` most recent similar days without events.
#[derive(Debug, Clone)]
pub struct SimilarDays<'a> {
    /// The device's average power by interval start, kW, over the look-back (an interval missing
    /// from it counts as no load: a charger with no session drew nothing).
    pub history: &'a BTreeMap<DateTime<Utc>, f64>,
    /// Local days on which the device took part in an event (left out).
    pub event_days: &'a BTreeSet<NaiveDate>,
    /// Since when the device is known: days before it are not days of no load.
    pub known_since: DateTime<Utc>,
    /// How many days to average.
    pub days: usize,
    /// The time zone days are judged in.
    pub tz: Tz,
}

fn is_weekend(day: NaiveDate) -> bool {
    matches!(day.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun)
}

impl SimilarDays<'_> {
    /// The moments the same interval started on the similar days used for `start`, most recent
    /// first (the days are judged in the local zone; the moment is a whole number of days back).
    pub fn days_used(&self, start: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let day = start.with_timezone(&self.tz).date_naive();
        let weekend = is_weekend(day);
        (1..=SIMILAR_DAYS_LOOKBACK)
            .map(|back| (day - Duration::days(back), start - Duration::days(back)))
            .filter(|(d, at)| is_weekend(*d) == weekend && !self.event_days.contains(d) && *at >= self.known_since)
            .map(|(_, at)| at)
            .take(self.days)
            .collect()
    }
}

impl Baseline for SimilarDays<'_> {
    fn method(&self) -> BaselineMethod {
        BaselineMethod::SimilarDays
    }

    fn estimate(&self, starts: &[DateTime<Utc>]) -> Vec<Option<f64>> {
        starts
            .iter()
            .map(|start| {
                let used = self.days_used(*start);
                (!used.is_empty()).then(|| {
                    used.iter()
                        .map(|at| self.history.get(at).copied().unwrap_or(0.0))
                        .sum::<f64>()
                        / used.len() as f64
                })
            })
            .collect()
    }
}

/// The control group's mean per-device load, scaled to `treated` devices.
#[derive(Debug, Clone)]
pub struct ControlGroup<'a> {
    /// Each held-back device's average power per interval, kW, aligned with the starts asked for.
    pub control: &'a [Vec<f64>],
    /// How many treated devices the baseline stands for.
    pub treated: usize,
}

impl Baseline for ControlGroup<'_> {
    fn method(&self) -> BaselineMethod {
        BaselineMethod::ControlGroup
    }

    fn estimate(&self, starts: &[DateTime<Utc>]) -> Vec<Option<f64>> {
        (0..starts.len())
            .map(|i| {
                let loads: Vec<f64> = self.control.iter().filter_map(|c| c.get(i).copied()).collect();
                (!loads.is_empty()).then(|| loads.iter().sum::<f64>() / loads.len() as f64 * self.treated as f64)
            })
            .collect()
    }
}

/// The enrolments (by id) held back from an event as its control group: `share` of them (rounded;
/// at least one when the share is above 0 and there are two or more, never all), drawn from the
/// event's `seed`, so the draw can be reproduced and audited.
pub fn control_group(seed: u64, enrolment_ids: &[&str], share: f64) -> BTreeSet<String> {
    let n = enrolment_ids.len();
    if share.is_nan() || share <= 0.0 || n < 2 {
        return BTreeSet::new();
    }
    let wanted = ((n as f64 * share).round() as usize).clamp(1, n - 1);
    let mut ranked: Vec<([u8; 32], &str)> = enrolment_ids
        .iter()
        .map(|id| {
            let digest = Sha256::new()
                .chain_update(seed.to_be_bytes())
                .chain_update(b"control")
                .chain_update(id.as_bytes())
                .finalize();
            (digest.into(), *id)
        })
        .collect();
    ranked.sort();
    ranked.into_iter().take(wanted).map(|(_, id)| id.to_owned()).collect()
}

/// The largest share of the enrolled an event may hold back.
pub const MAX_CONTROL_GROUP_SHARE: f64 = 0.5;

/// A SHED event's cap on one site in each interval, kW: its baseline less the shed, never below 0.
pub fn shed_cap_kw(baseline_kw: f64, shed_kw: f64) -> f64 {
    (baseline_kw - shed_kw).max(0.0)
}
