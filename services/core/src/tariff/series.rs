//! Series of prices or carbon intensities, as clients push them and providers publish them.
//!
//! A series is checked once ([`Series::new`]) and then holds: slots of 15 minutes or of one hour
//! (all of one length), each starting on a quarter hour, following each other without a gap, no two
//! for the same time, every value a finite number (carbon intensity not negative). Anything else is
//! refused whole: a series with a hole in it would leave the planner guessing, and a provider's
//! answer with missing hours must not replace good prices.
//!
//! A stored series replaces what its owner had over the same stretch of time (from its first
//! slot's start to its last slot's end) and nothing outside it.

use chrono::{DateTime, Duration, Timelike, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::PriceArea;
use crate::client::ClientId;
use crate::id::time_ordered_id;
use crate::location::LocationId;

/// The most slots in one series (a month of quarter hours).
pub const MAX_SERIES_SLOTS: usize = 31 * 96;

/// What a series measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SeriesKind {
    /// Price per kWh drawn from the grid.
    Price,
    /// Grams of CO₂ emitted per kWh drawn from the grid.
    CarbonIntensity,
}

impl SeriesKind {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Price => "PRICE",
            Self::CarbonIntensity => "CARBON_INTENSITY",
        }
    }

    /// The kind with this name.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Price, Self::CarbonIntensity]
            .into_iter()
            .find(|k| k.as_str() == name)
    }

    /// The JSON field a slot's value is sent in.
    pub fn value_field(self) -> &'static str {
        match self {
            Self::Price => "pricePerKwh",
            Self::CarbonIntensity => "gramsCo2PerKwh",
        }
    }
}

/// One slot of a series: `value` from `start` (inclusive) to `end` (exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeriesSlot {
    /// Where the slot starts.
    pub start: DateTime<Utc>,
    /// Where it ends.
    pub end: DateTime<Utc>,
    /// Price per kWh, or grams of CO₂ per kWh.
    pub value: f64,
}

/// Why a series is refused. Slot indexes are as sent (before sorting).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SeriesError {
    /// No slots.
    #[error("a series needs at least one slot")]
    Empty,
    /// More slots than one series may have.
    #[error(
        "a series has at most {MAX_SERIES_SLOTS} slots (a month of quarter hours); send longer stretches in several"
    )]
    TooMany,
    /// A value is not a finite number.
    #[error("slots[{0}]: the value must be a finite number")]
    NotFinite(usize),
    /// A carbon intensity below zero.
    #[error("slots[{0}]: a carbon intensity cannot be negative")]
    Negative(usize),
    /// A slot that is neither 15 nor 60 minutes long.
    #[error("slots[{index}]: a slot lasts 15 or 60 minutes, this one {minutes} minutes")]
    Length {
        /// The slot.
        index: usize,
        /// How long it is, in whole minutes (rounded down; negative when it ends before it starts).
        minutes: i64,
    },
    /// Slots of different lengths in one series.
    #[error("slots[{index}]: every slot of a series has the same length; the first lasts {first} minutes, this one {minutes}")]
    MixedLengths {
        /// The slot.
        index: usize,
        /// The first slot's length.
        first: i64,
        /// This one's.
        minutes: i64,
    },
    /// A slot that does not start on a quarter hour.
    #[error("slots[{0}]: a slot starts on a quarter hour (minute 0, 15, 30 or 45, no seconds)")]
    Misaligned(usize),
    /// Two slots for the same time.
    #[error("slots[{index}]: starts at {start}, as slots[{other}] does: a slot is sent once")]
    Duplicate {
        /// The later slot in the request.
        index: usize,
        /// The earlier one with the same start.
        other: usize,
        /// The start.
        start: DateTime<Utc>,
    },
    /// A slot that starts inside the one before it.
    #[error("slots[{index}]: starts at {start}, inside slots[{other}]")]
    Overlap {
        /// The slot.
        index: usize,
        /// The slot it starts inside.
        other: usize,
        /// Its start.
        start: DateTime<Utc>,
    },
    /// Time between two slots that no slot covers.
    #[error("no slot covers {from} to {to}: a series has no gaps (send two series for two stretches)")]
    Gap {
        /// The slot after the gap.
        index: usize,
        /// Where the gap starts.
        from: DateTime<Utc>,
        /// Where it ends.
        to: DateTime<Utc>,
    },
}

impl SeriesError {
    /// The slot at fault (its index as sent) and the field in it, when one is.
    pub fn at(&self) -> Option<(usize, &'static str)> {
        match self {
            Self::Empty | Self::TooMany => None,
            Self::NotFinite(i) | Self::Negative(i) => Some((*i, "value")),
            Self::Length { index, .. } | Self::MixedLengths { index, .. } => Some((*index, "end")),
            Self::Misaligned(i) => Some((*i, "start")),
            Self::Duplicate { index, .. } | Self::Overlap { index, .. } | Self::Gap { index, .. } => {
                Some((*index, "start"))
            }
        }
    }
}

/// A checked series: sorted, without gaps or overlaps.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    kind: SeriesKind,
    slots: Vec<SeriesSlot>,
}

fn on_quarter_hour(at: DateTime<Utc>) -> bool {
    matches!(at.minute(), 0 | 15 | 30 | 45) && at.second() == 0 && at.nanosecond() == 0
}

impl Series {
    /// Checks `slots` (in any order) as a series of `kind`: see the module docs for the rules.
    pub fn new(kind: SeriesKind, slots: Vec<SeriesSlot>) -> Result<Self, SeriesError> {
        if slots.is_empty() {
            return Err(SeriesError::Empty);
        }
        if slots.len() > MAX_SERIES_SLOTS {
            return Err(SeriesError::TooMany);
        }
        let mut first_length = None;
        for (i, slot) in slots.iter().enumerate() {
            if !slot.value.is_finite() {
                return Err(SeriesError::NotFinite(i));
            }
            if kind == SeriesKind::CarbonIntensity && slot.value < 0.0 {
                return Err(SeriesError::Negative(i));
            }
            let length = slot.end - slot.start;
            let minutes = length.num_minutes();
            if length != Duration::minutes(15) && length != Duration::minutes(60) {
                return Err(SeriesError::Length { index: i, minutes });
            }
            match first_length {
                None => first_length = Some(minutes),
                Some(first) if first != minutes => {
                    return Err(SeriesError::MixedLengths {
                        index: i,
                        first,
                        minutes,
                    })
                }
                Some(_) => {}
            }
            if !on_quarter_hour(slot.start) {
                return Err(SeriesError::Misaligned(i));
            }
        }
        let mut order: Vec<usize> = (0..slots.len()).collect();
        order.sort_by_key(|i| (slots[*i].start, *i));
        for pair in order.windows(2) {
            let (before, after) = (pair[0], pair[1]);
            let (a, b) = (&slots[before], &slots[after]);
            if a.start == b.start {
                return Err(SeriesError::Duplicate {
                    index: after.max(before),
                    other: after.min(before),
                    start: b.start,
                });
            }
            if b.start < a.end {
                return Err(SeriesError::Overlap {
                    index: after,
                    other: before,
                    start: b.start,
                });
            }
            if b.start > a.end {
                return Err(SeriesError::Gap {
                    index: after,
                    from: a.end,
                    to: b.start,
                });
            }
        }
        let sorted = order.into_iter().map(|i| slots[i]).collect();
        Ok(Self { kind, slots: sorted })
    }

    /// What it measures.
    pub fn kind(&self) -> SeriesKind {
        self.kind
    }

    /// The slots, in order.
    pub fn slots(&self) -> &[SeriesSlot] {
        &self.slots
    }

    /// Where the first slot starts.
    pub fn start(&self) -> DateTime<Utc> {
        self.slots.first().map(|s| s.start).unwrap_or_default()
    }

    /// Where the last slot ends.
    pub fn end(&self) -> DateTime<Utc> {
        self.slots.last().map(|s| s.end).unwrap_or_default()
    }

    /// How long each slot is, in minutes (15 or 60).
    pub fn slot_minutes(&self) -> i64 {
        self.slots.first().map(|s| (s.end - s.start).num_minutes()).unwrap_or(0)
    }

    /// A fingerprint of the series (kind, times and exact values), to tell a retried push from a
    /// different one sent with the same `Idempotency-Key`.
    pub fn digest(&self) -> String {
        let mut hash = Sha256::new();
        hash.update(self.kind.as_str().as_bytes());
        for slot in &self.slots {
            hash.update(slot.start.timestamp_micros().to_be_bytes());
            hash.update(slot.end.timestamp_micros().to_be_bytes());
            hash.update(slot.value.to_bits().to_be_bytes());
        }
        hex::encode(hash.finalize())
    }

    /// The values over `[from, to)`, as given, for the slots that overlap it.
    pub fn between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> impl Iterator<Item = &SeriesSlot> {
        self.slots.iter().filter(move |s| s.end > from && s.start < to)
    }
}

/// Whose series it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeriesOwner {
    /// Pushed by a client for one of its locations.
    Location {
        /// The client.
        client: ClientId,
        /// The location.
        location: LocationId,
    },
    /// Pushed by a client for a price area: its locations in that area. Another client's series
    /// for an area of the same name is that client's own.
    Area {
        /// The client.
        client: ClientId,
        /// The area.
        area: PriceArea,
    },
    /// Published by a day-ahead provider for an area: the same for every client.
    Provider {
        /// The provider's name.
        provider: String,
        /// The area.
        area: PriceArea,
    },
}

impl SeriesOwner {
    /// A key naming the owner, unique among owners (areas cannot contain `:`).
    pub fn key(&self) -> String {
        match self {
            Self::Location { location, .. } => format!("location:{location}"),
            Self::Area { client, area } => format!("area:{area}:{client}"),
            Self::Provider { provider, area } => format!("provider:{provider}:{area}"),
        }
    }

    /// The client it belongs to (`None` for a provider's, which every client shares).
    pub fn client(&self) -> Option<&ClientId> {
        match self {
            Self::Location { client, .. } | Self::Area { client, .. } => Some(client),
            Self::Provider { .. } => None,
        }
    }
}

time_ordered_id!(
    /// Identifies a push of a series through the API.
    PushId
);

/// A series a client pushed, as recorded (for `Idempotency-Key` retries).
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesPush {
    /// Identifier.
    pub id: PushId,
    /// The client that pushed it.
    pub client_id: ClientId,
    /// Whose series it is (a location or an area of the client).
    pub owner: SeriesOwner,
    /// What it measures.
    pub kind: SeriesKind,
    /// The client's `Idempotency-Key`, if it sent one.
    pub idempotency_key: Option<String>,
    /// A fingerprint of the request: the owner and the series' digest.
    pub request_hash: String,
    /// How many slots.
    pub slot_count: u32,
    /// Each slot's length in minutes.
    pub slot_minutes: u32,
    /// The first slot's start.
    pub start: DateTime<Utc>,
    /// The last slot's end.
    pub end: DateTime<Utc>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
}

impl SeriesPush {
    /// The record of pushing `series` for `owner` (a client's location or area) now.
    pub fn new(
        owner: SeriesOwner,
        series: &Series,
        idempotency_key: Option<String>,
        now: DateTime<Utc>,
    ) -> Option<Self> {
        let client_id = owner.client()?.clone();
        let request_hash = request_hash(&owner, series);
        Some(Self {
            id: PushId::generate(),
            client_id,
            owner,
            kind: series.kind(),
            idempotency_key,
            request_hash,
            slot_count: u32::try_from(series.slots().len()).unwrap_or(u32::MAX),
            slot_minutes: u32::try_from(series.slot_minutes()).unwrap_or(0),
            start: series.start(),
            end: series.end(),
            created_at: now,
        })
    }
}

/// The fingerprint of pushing `series` for `owner`.
pub fn request_hash(owner: &SeriesOwner, series: &Series) -> String {
    let mut hash = Sha256::new();
    hash.update(owner.key().as_bytes());
    hash.update(b"\n");
    hash.update(series.digest().as_bytes());
    hex::encode(hash.finalize())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn hourly(from: &str, values: &[f64]) -> Vec<SeriesSlot> {
        let start = at(from);
        values
            .iter()
            .enumerate()
            .map(|(i, v)| SeriesSlot {
                start: start + Duration::hours(i as i64),
                end: start + Duration::hours(i as i64 + 1),
                value: *v,
            })
            .collect()
    }

    #[test]
    fn contiguous_hourly_or_quarter_hour_slots_in_any_order_are_accepted_sorted() {
        let mut slots = hourly("2025-01-15T00:00:00Z", &[0.1, 0.2, 0.3]);
        slots.reverse();
        let series = Series::new(SeriesKind::Price, slots).unwrap();
        assert_eq!(series.slots()[0].value, 0.1);
        assert_eq!(series.start(), at("2025-01-15T00:00:00Z"));
        assert_eq!(series.end(), at("2025-01-15T03:00:00Z"));
        assert_eq!(series.slot_minutes(), 60);
        let quarters: Vec<SeriesSlot> = (0..8)
            .map(|i| SeriesSlot {
                start: at("2025-01-15T00:15:00Z") + Duration::minutes(15 * i),
                end: at("2025-01-15T00:30:00Z") + Duration::minutes(15 * i),
                value: -0.01,
            })
            .collect();
        assert_eq!(Series::new(SeriesKind::Price, quarters).unwrap().slot_minutes(), 15);
    }

    #[test]
    fn a_series_with_a_gap_duplicate_overlap_or_odd_slot_is_refused_naming_the_slot() {
        let base = || hourly("2025-01-15T00:00:00Z", &[0.1, 0.2, 0.3, 0.4]);
        let mut gap = base();
        gap.remove(2);
        assert!(matches!(
            Series::new(SeriesKind::Price, gap),
            Err(SeriesError::Gap { index: 2, .. })
        ));
        let mut duplicate = base();
        duplicate.push(duplicate[1]);
        assert!(matches!(
            Series::new(SeriesKind::Price, duplicate),
            Err(SeriesError::Duplicate { index: 4, other: 1, .. })
        ));
        let mut misaligned = base();
        misaligned[3].start += Duration::minutes(5);
        misaligned[3].end += Duration::minutes(5);
        assert_eq!(
            Series::new(SeriesKind::Price, misaligned),
            Err(SeriesError::Misaligned(3))
        );
        let mut long = base();
        long[0].end += Duration::minutes(30);
        assert_eq!(
            Series::new(SeriesKind::Price, long),
            Err(SeriesError::Length { index: 0, minutes: 90 })
        );
        let mut backwards = base();
        backwards[0].end = backwards[0].start - Duration::hours(1);
        assert!(matches!(
            Series::new(SeriesKind::Price, backwards),
            Err(SeriesError::Length { index: 0, minutes: -60 })
        ));
        let mut mixed = base();
        mixed.push(SeriesSlot {
            start: at("2025-01-15T04:00:00Z"),
            end: at("2025-01-15T04:15:00Z"),
            value: 0.1,
        });
        assert!(matches!(
            Series::new(SeriesKind::Price, mixed),
            Err(SeriesError::MixedLengths { index: 4, .. })
        ));
        let mut nan = base();
        nan[1].value = f64::INFINITY;
        assert_eq!(Series::new(SeriesKind::Price, nan), Err(SeriesError::NotFinite(1)));
        assert_eq!(Series::new(SeriesKind::Price, Vec::new()), Err(SeriesError::Empty));
        let negative = hourly("2025-01-15T00:00:00Z", &[100.0, -1.0]);
        assert_eq!(
            Series::new(SeriesKind::CarbonIntensity, negative.clone()),
            Err(SeriesError::Negative(1))
        );
        assert!(Series::new(SeriesKind::Price, negative).is_ok());
    }

    #[test]
    fn a_slot_that_starts_inside_the_previous_one_is_an_overlap() {
        let slots = vec![
            SeriesSlot {
                start: at("2025-01-15T00:00:00Z"),
                end: at("2025-01-15T01:00:00Z"),
                value: 1.0,
            },
            SeriesSlot {
                start: at("2025-01-15T00:30:00Z"),
                end: at("2025-01-15T01:30:00Z"),
                value: 1.0,
            },
        ];
        let err = Series::new(SeriesKind::Price, slots).unwrap_err();
        assert!(matches!(err, SeriesError::Overlap { index: 1, other: 0, .. }), "{err}");
        assert_eq!(err.at(), Some((1, "start")));
    }

    #[test]
    fn the_digest_tells_different_series_apart_and_ignores_the_order_they_were_sent_in() {
        let a = hourly("2025-01-15T00:00:00Z", &[0.1, 0.2]);
        let mut b = a.clone();
        b.reverse();
        let sa = Series::new(SeriesKind::Price, a.clone()).unwrap();
        assert_eq!(sa.digest(), Series::new(SeriesKind::Price, b).unwrap().digest());
        let mut c = a;
        c[1].value = 0.2000001;
        assert_ne!(sa.digest(), Series::new(SeriesKind::Price, c).unwrap().digest());
    }
}
