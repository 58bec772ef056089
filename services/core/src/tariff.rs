//! Energy prices a plan is made against: what one kWh costs in each stretch of time at a location.
//!
//! Prices come from a location's time-of-use tariff, from series pushed through the API (per
//! location or per price area), or from a day-ahead provider; whichever way they arrive, the planner
//! sees one list of [`PriceSlot`]s.
//!
//! - [`tou`]: a time-of-use tariff (named rates on weekday intervals in the location's time zone),
//!   checked to cover the week exactly once, and expanded to slots across daylight-saving changes.
//! - [`series`]: a series pushed through the API or fetched from a provider (prices, or carbon
//!   intensity), checked for duplicate, missing and misaligned slots, and who it belongs to.
//! - [`effective`]: the rule that layers them into one location's effective prices: the location's
//!   own pushed series, then its price area's, then the provider's, then the tariff for the rest.
//! - [`provider`]: the port to day-ahead price providers, and what Coupler knows of how they fare.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::client::ClientId;
use crate::location::LocationId;

pub mod effective;
pub mod provider;
pub mod series;
pub mod tou;

pub use effective::{overlay, price_slots, PriceSource, SourcedSlot};
pub use provider::{PriceProvider, PriceProviders, ProviderStatus};
pub use series::{PushId, Series, SeriesError, SeriesKind, SeriesOwner, SeriesPush, SeriesSlot};
pub use tou::{TouDefinition, TouError, TouTariff};

/// What one kWh taken from the grid costs from `start` (inclusive) to `end` (exclusive), in the
/// location's currency. Slots given to the planner are sorted, do not overlap and may leave gaps
/// (a gap has no known price).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceSlot {
    /// Where the slot starts.
    pub start: DateTime<Utc>,
    /// Where the slot ends.
    pub end: DateTime<Utc>,
    /// Price per kWh drawn from the grid.
    pub price_per_kwh: f64,
}

/// The parts of `slots` within `[from, to)`: prices read over a window, as they would have been
/// read over a shorter one inside it (a location's effective prices are cut at the window's ends).
pub fn prices_within(slots: &[PriceSlot], from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<PriceSlot> {
    slots
        .iter()
        .filter(|s| s.end > from && s.start < to)
        .map(|s| PriceSlot {
            start: s.start.max(from),
            end: s.end.min(to),
            price_per_kwh: s.price_per_kwh,
        })
        .collect()
}

/// A price area: a bidding zone of a power exchange (`DE-LU`, `SE3`, `NO1`, `AT`) or any name a
/// client gives the series it pushes for many locations at once. Upper case letters, digits, `-`
/// and `_`, 1 to 32 of them; what a client sends is trimmed and upper-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PriceArea(String);

/// Why a price area name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a price area: 1 to 32 letters, digits, '-' or '_' (for example 'DE-LU' or 'SE3')")]
pub struct PriceAreaError(pub String);

impl PriceArea {
    /// The longest name.
    pub const MAX_LEN: usize = 32;

    /// Checks a name a client or a setting gave.
    pub fn parse(raw: &str) -> Result<Self, PriceAreaError> {
        let name = raw.trim().to_ascii_uppercase();
        let fits = !name.is_empty()
            && name.len() <= Self::MAX_LEN
            && name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if fits {
            Ok(Self(name))
        } else {
            Err(PriceAreaError(raw.to_owned()))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PriceArea {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whose prices changed: what a listener (the planner's replanning) recomputes for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PriceScope {
    /// One location's (its own pushed series, its tariff, or its price area or provider setting).
    Location {
        /// The location's client.
        client: ClientId,
        /// The location.
        location: LocationId,
    },
    /// A client's series for a price area: every location of that client in the area.
    Area {
        /// The client that pushed it.
        client: ClientId,
        /// The area.
        area: PriceArea,
    },
    /// A provider's prices for an area: every location, of any client, in the area that takes its
    /// prices from this provider.
    Provider {
        /// The provider's name.
        provider: String,
        /// The area.
        area: PriceArea,
    },
}

/// A change of stored prices (or carbon intensity), announced after it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceChange {
    /// Whose prices changed.
    pub scope: PriceScope,
    /// Prices or carbon intensity.
    pub kind: SeriesKind,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_price_area_is_trimmed_and_upper_cased_and_odd_names_are_refused() {
        assert_eq!(PriceArea::parse(" de-lu ").unwrap().as_str(), "DE-LU");
        assert_eq!(PriceArea::parse("SE3").unwrap().as_str(), "SE3");
        assert_eq!(PriceArea::parse("my_area_1").unwrap().as_str(), "MY_AREA_1");
        for bad in ["", "  ", "DE LU", "DE/LU", "é", &"A".repeat(33)] {
            assert!(PriceArea::parse(bad).is_err(), "{bad:?}");
        }
    }
}
