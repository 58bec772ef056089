//! A location's effective prices: its layers of prices, the more specific over the more general.
//!
//! In order, each layer filling only the time the layers before it leave open:
//! 1. the series the client pushed for the location itself;
//! 2. the series the client pushed for the location's price area;
//! 3. the day-ahead provider's prices for that area;
//! 4. the location's time-of-use tariff, for whatever is left.
//!
//! Time no layer covers has no known price: the result has a gap there.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::series::SeriesSlot;
use super::PriceSlot;

/// Where an effective price comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PriceSource {
    /// The location's time-of-use tariff.
    Tou,
    /// A series the client pushed, for the location or its price area.
    Pushed,
    /// A day-ahead price provider.
    Provider,
}

/// One stretch of effective prices (or carbon intensity) and where it comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct SourcedSlot {
    /// Where it starts.
    pub start: DateTime<Utc>,
    /// Where it ends.
    pub end: DateTime<Utc>,
    /// Price per kWh (or grams of CO₂ per kWh).
    pub value: f64,
    /// Where it comes from.
    pub source: PriceSource,
    /// The tariff's rate, for a slot from the tariff.
    pub rate: Option<String>,
}

impl SourcedSlot {
    /// A slot of `source` from a series' slot.
    pub fn from_series(slot: &SeriesSlot, source: PriceSource) -> Self {
        Self {
            start: slot.start,
            end: slot.end,
            value: slot.value,
            source,
            rate: None,
        }
    }
}

/// Layers `layers` (most specific first; each sorted, its slots not overlapping) over `[from, to)`:
/// each slot is cut to the window and to the time no earlier layer covers. The result is sorted.
pub fn overlay<I>(from: DateTime<Utc>, to: DateTime<Utc>, layers: I) -> Vec<SourcedSlot>
where
    I: IntoIterator<Item = Vec<SourcedSlot>>,
{
    let mut result: Vec<SourcedSlot> = Vec::new();
    // The stretches taken so far: sorted, disjoint and merged.
    let mut covered: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for layer in layers {
        let mut taken = Vec::new();
        for slot in layer {
            let (start, end) = (slot.start.max(from), slot.end.min(to));
            if start >= end {
                continue;
            }
            let mut cursor = start;
            let first = covered.partition_point(|(_, c_end)| *c_end <= start);
            for (c_start, c_end) in &covered[first..] {
                if *c_start >= end {
                    break;
                }
                if *c_start > cursor {
                    result.push(SourcedSlot {
                        start: cursor,
                        end: *c_start,
                        ..slot.clone()
                    });
                    taken.push((cursor, *c_start));
                }
                cursor = cursor.max(*c_end);
            }
            if cursor < end {
                result.push(SourcedSlot {
                    start: cursor,
                    end,
                    ..slot.clone()
                });
                taken.push((cursor, end));
            }
        }
        covered.extend(taken);
        covered.sort();
        covered = merge(covered);
    }
    result.sort_by_key(|s| s.start);
    result
}

fn merge(sorted: Vec<(DateTime<Utc>, DateTime<Utc>)>) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut merged: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::with_capacity(sorted.len());
    for (start, end) in sorted {
        match merged.last_mut() {
            Some((_, last_end)) if start <= *last_end => *last_end = (*last_end).max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// The planner's view of effective prices.
pub fn price_slots(slots: &[SourcedSlot]) -> Vec<PriceSlot> {
    slots
        .iter()
        .map(|s| PriceSlot {
            start: s.start,
            end: s.end,
            price_per_kwh: s.value,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    fn at(hour: u32, minute: u32) -> DateTime<Utc> {
        format!("2025-01-15T{hour:02}:{minute:02}:00Z").parse().unwrap()
    }

    fn slot(from: (u32, u32), to: (u32, u32), value: f64, source: PriceSource) -> SourcedSlot {
        SourcedSlot {
            start: at(from.0, from.1),
            end: at(to.0, to.1),
            value,
            source,
            rate: None,
        }
    }

    fn shown(slots: &[SourcedSlot]) -> Vec<(String, String, f64, PriceSource)> {
        slots
            .iter()
            .map(|s| {
                (
                    s.start.format("%H:%M").to_string(),
                    s.end.format("%H:%M").to_string(),
                    s.value,
                    s.source,
                )
            })
            .collect()
    }

    #[test]
    fn pushed_prices_override_the_provider_which_overrides_the_tariff_and_the_tariff_fills_the_rest() {
        use PriceSource::*;
        let pushed = vec![slot((10, 15), (10, 30), 1.0, Pushed)];
        let provider = vec![
            slot((10, 0), (11, 0), 2.0, Provider),
            slot((11, 0), (12, 0), 2.5, Provider),
        ];
        let tou = vec![slot((8, 0), (14, 0), 3.0, Tou)];
        let slots = overlay(at(9, 0), at(13, 0), [pushed, provider, tou]);
        let s = |a: &str, b: &str, v: f64, src| (a.to_owned(), b.to_owned(), v, src);
        assert_eq!(
            shown(&slots),
            vec![
                s("09:00", "10:00", 3.0, Tou),
                s("10:00", "10:15", 2.0, Provider),
                s("10:15", "10:30", 1.0, Pushed),
                s("10:30", "11:00", 2.0, Provider),
                s("11:00", "12:00", 2.5, Provider),
                s("12:00", "13:00", 3.0, Tou),
            ]
        );
    }

    #[test]
    fn time_no_layer_covers_is_left_as_a_gap() {
        let slots = overlay(
            at(9, 0),
            at(13, 0),
            [vec![slot((10, 0), (11, 0), 2.0, PriceSource::Provider)], Vec::new()],
        );
        assert_eq!(slots.len(), 1);
        assert_eq!((slots[0].start, slots[0].end), (at(10, 0), at(11, 0)));
        assert!(overlay(at(9, 0), at(13, 0), Vec::<Vec<SourcedSlot>>::new()).is_empty());
    }

    #[test]
    fn a_general_slot_around_several_specific_ones_is_cut_into_the_pieces_between_them() {
        use PriceSource::*;
        let specific = vec![
            slot((10, 0), (10, 15), 1.0, Pushed),
            slot((10, 30), (10, 45), 1.0, Pushed),
        ];
        let general = vec![slot((9, 0), (12, 0), 5.0, Tou)];
        let slots = overlay(at(0, 0), at(23, 0), [specific, general]);
        let total: i64 = slots.iter().map(|s| (s.end - s.start).num_minutes()).sum();
        assert_eq!(total, 180);
        assert_eq!(slots.len(), 5);
        assert!(slots.windows(2).all(|w| w[0].end == w[1].start));
    }

    #[test]
    fn any_layers_give_sorted_disjoint_slots_each_from_the_first_layer_that_covers_its_time() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let base = at(0, 0);
        let minute = |m: i64| base + chrono::Duration::minutes(m);
        for _ in 0..300 {
            let layers: Vec<Vec<SourcedSlot>> = (0..rng.gen_range(1..5))
                .map(|layer| {
                    let mut at = rng.gen_range(0..200);
                    let mut slots = Vec::new();
                    for _ in 0..rng.gen_range(0..6) {
                        at += rng.gen_range(0..60);
                        let end = at + rng.gen_range(1..120);
                        slots.push(SourcedSlot {
                            start: minute(at),
                            end: minute(end),
                            value: f64::from(layer),
                            source: PriceSource::Pushed,
                            rate: None,
                        });
                        at = end;
                    }
                    slots
                })
                .collect();
            let (from, to) = (minute(rng.gen_range(0..300)), minute(rng.gen_range(300..900)));
            let result = overlay(from, to, layers.clone());
            for pair in result.windows(2) {
                assert!(pair[0].end <= pair[1].start);
            }
            // Every minute of the window: priced by the first layer that has it, or by none.
            let mut m = 0;
            while minute(m) < to {
                let t = minute(m);
                if t >= from {
                    let expected = layers
                        .iter()
                        .position(|l| l.iter().any(|s| s.start <= t && t < s.end))
                        .map(|i| i as f64);
                    let got = result.iter().find(|s| s.start <= t && t < s.end).map(|s| s.value);
                    assert_eq!(got, expected, "minute {m}");
                }
                m += 1;
            }
        }
    }
}
