//! Coupler as an OpenADR 3 VEN: what it needs to follow a utility's VTN.
//!
//! - [`wire`]: the VTN's objects as a VEN reads them, common to 3.0.1 and 3.1 (our own small types:
//!   the maintained `openleadr-wire` 0.2 speaks 3.1 only, and `openleadr-client` 0.2 brings a second
//!   HTTP stack, reqwest 0.13, into a workspace on 0.12).
//! - [`client`]: the REST calls a VEN makes (token, program, VEN and resource registration, events,
//!   reports, subscriptions), with OAuth 2.0 client credentials and the token cached.
//! - [`instruction`]: an event's intervals as what Coupler acts on (import and export caps, SIMPLE
//!   levels, prices), pure.
//! - [`report`]: the report on an event, built from Coupler's measurement, pure.

pub mod client;
pub mod instruction;
pub mod report;
pub mod wire;

pub use client::{VtnClient, VtnConfig, VtnError};
pub use instruction::{instructions, is_cancelled, Ask, Instruction};
pub use report::{EventReport, OperatingState, SiteInterval, SiteReport};
