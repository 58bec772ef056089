//! Flexibility programs: a utility's (an API client's) program, the devices its users enrol in it,
//! groups of enrolments to aim at, and events that cap or pause charging for a window.
//!
//! Everything here is pure: which devices a program takes and why not ([`check_eligibility`]), how
//! an enrolment's status moves ([`EnrolmentState::apply`]), whether an event keeps to its program's
//! limits ([`check_event`]), each target's randomised start delay ([`start_delay_s`]) and the cap in
//! amperes an import limit in kilowatts means ([`import_limit_amps`]), and the 24-hour forecast of
//! enrolled devices' flexible load ([`forecast()`]). The engine carries an event
//! out as one `flex` limit source per charger (a station-wide profile with the event's window, so
//! the charger ends it by itself) and as maker commands for vehicles without a charger.
//!
//! Measurement is pure too: 15-minute telemetry from meter and car readings
//! ([`IntervalSeries`]), baselines behind one trait ([`Baseline`]: [`SimilarDays`],
//! [`ControlGroup`]), a SHED event's caps ([`shed_cap_kw`]), results ([`results`]) and overrides
//! seen on the meter ([`first_override`]).

use chrono::{DateTime, Datelike, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::charger::ChargerId;
use crate::client::ClientId;
use crate::id::time_ordered_id;
use crate::limits::LimitSourceId;
use crate::location::Point;
use crate::user::UserId;
use crate::vehicle::VehicleId;
use crate::ActionId;

time_ordered_id!(
    /// Identifies a flexibility program.
    ProgramId
);
time_ordered_id!(
    /// Identifies an enrolment of a device in a program.
    EnrolmentId
);
time_ordered_id!(
    /// Identifies a group of enrolments.
    GroupId
);
time_ordered_id!(
    /// Identifies a flexibility event.
    FlexEventId
);
time_ordered_id!(
    /// Identifies one enrolment's part in one event.
    FlexTargetId
);

/// The longest randomised start delay an event may ask for, seconds (the UK Smart Charge Points
/// Regulations require chargers to be capable of 1800 s).
pub const MAX_RANDOM_DELAY_S: u32 = 1800;
/// The longest event Coupler takes, whatever the program allows: a week.
pub const MAX_EVENT_MINUTES: u32 = 7 * 24 * 60;

/// Why a program's fields are refused: the JSON Pointer of the field and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// Where, as a JSON Pointer into the request body.
    pub pointer: String,
    /// What is wrong.
    pub detail: String,
}

fn problem(pointer: impl Into<String>, detail: impl Into<String>) -> FieldProblem {
    FieldProblem {
        pointer: pointer.into(),
        detail: detail.into(),
    }
}

mod baseline;
mod enrolment;
mod event;
mod forecast;
mod measurement;
#[cfg(test)]
mod measurement_tests;
mod program;
mod session;
#[cfg(test)]
mod tests;

pub use baseline::*;
pub use enrolment::*;
pub use event::*;
pub use forecast::*;
pub use measurement::*;
pub use program::*;
pub use session::*;
