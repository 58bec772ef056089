//! Flexibility programs: a client's programs, the devices its users enrol in them (with an
//! eligibility check that gives its reasons), groups of enrolments, events sent to them and the
//! progress of each target, drivers' opt-outs, and the 24-hour forecast of flexible load.
//!
//! An event is checked against its program (kind, value, window, notice, events per year) and its
//! targets resolved to active enrolments before anything is stored; then the event, each target
//! and each charger's `flex` limit source are stored in one transaction, and the flex keeper puts
//! them on the chargers. Bad input changes nothing.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use coupler_core::ev_system::EvSystemId;
use coupler_core::flex::{
    check_eligibility, check_event, control_group, device_gone, import_limit_amps, start_delay_s, Consent,
    ConsentTerms, DeviceFacts, EligibilityRules, EnrolledDevice, Enrolment, EnrolmentChange, EnrolmentId,
    EnrolmentState, EnrolmentStatus, EventKind, EventRefusal, EventRequest, EventStatus, EventTargets, FieldProblem,
    FlexDeviceKind, FlexEvent, FlexEventId, FlexTarget, FlexTargetId, Group, GroupFilter, GroupId, LimitUnit, OptOut,
    Program, ProgramId, ProgramKind, ProgramLimits, Reason, TargetDevice, TargetState, Verdict,
    MAX_CONTROL_GROUP_SHARE,
};
use coupler_core::limits::{
    ChargerCapabilities, LimitScope, LimitSource, LimitSourceId, LimitSourceKind, SchedulePeriod,
};
use coupler_core::location::{LocationId, Point};
use coupler_core::{ActionKind, ChargerId, ClientId, UserId, VehicleId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::users::{PageQuery, Pagination};
use crate::error::{ApiError, InvalidValue, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::state::AppState;

mod enrolments;
mod events;
mod forecast;
mod groups;
mod programs;
mod results;
mod sessions;
mod vtn;

pub use enrolments::*;
pub use events::*;
pub use forecast::*;
pub use groups::*;
pub use programs::*;
pub use results::*;
pub use sessions::*;
pub use vtn::*;
