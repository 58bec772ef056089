//! Energy prices a plan is made against: what one kWh costs in each stretch of time at a location.
//!
//! Prices come from a location's time-of-use tariff, from series pushed through the API (per
//! location or per price area), or from a day-ahead provider; whichever way they arrive, the planner
//! sees one list of [`PriceSlot`]s.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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
