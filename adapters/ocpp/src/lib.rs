//! OCPP-J framing and typed OCPP messages for Coupler's charger gateway.
//!
//! The crate is pure: it turns WebSocket text frames into values and back, and
//! checks every payload against the rules of the official JSON schemas. It does
//! no I/O and owns no tasks, so the gateway decides about sockets, timeouts and
//! retries, and everything here can be tested with plain strings.
//!
//! - [`rpc`]: the OCPP-J envelope (`CALL`, `CALLRESULT`, `CALLERROR`), shared by
//!   OCPP 1.6J and 2.0.1, and the `CALLERROR` to answer a broken frame with.
//! - [`error`]: the OCPP-J error codes, spelled per version, and
//!   [`ValidationError`], the reason a payload was refused.
//! - [`v16`]: typed OCPP 1.6 messages with strict schema validation.
//! - [`v201`]: typed OCPP 2.0.1 messages with strict schema validation.
//!
//! A typical incoming call:
//!
//! ```
//! use coupler_ocpp::{rpc::Frame, v16, OcppVersion};
//!
//! let text = r#"[2,"19223201","Heartbeat",{}]"#;
//! let Ok(Frame::Call { id, action, payload }) = Frame::parse(text) else {
//!     panic!("a valid call");
//! };
//! let answer = match v16::parse_charge_point_request(&action, &payload) {
//!     Ok(v16::Request::Heartbeat(_)) => Frame::call_result(&id, serde_json::json!({
//!         "currentTime": "2025-01-01T00:00:00Z"
//!     })),
//!     Ok(_) => Frame::call_result(&id, serde_json::json!({})),
//!     Err(refusal) => refusal.call_error(&id, OcppVersion::V16),
//! };
//! assert!(answer.to_text().starts_with("[3,\"19223201\""));
//! ```
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod actions;
#[macro_use]
mod json;

pub mod error;
pub mod rpc;
pub mod v16;
pub mod v201;

pub use error::{ErrorCode, ValidationError};
pub use rpc::{Frame, FrameError, MessageType};

/// The OCPP version negotiated for a connection; it decides how error codes are spelled
/// and which message module applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OcppVersion {
    /// OCPP 1.6J, WebSocket subprotocol `ocpp1.6`.
    V16,
    /// OCPP 2.0.1, WebSocket subprotocol `ocpp2.0.1`.
    V201,
}

impl OcppVersion {
    /// Every version Coupler speaks, newest first (the order the gateway prefers).
    pub const ALL: [Self; 2] = [Self::V201, Self::V16];

    /// The WebSocket subprotocol name registered for this version.
    pub const fn subprotocol(self) -> &'static str {
        match self {
            Self::V16 => "ocpp1.6",
            Self::V201 => "ocpp2.0.1",
        }
    }

    /// The version a `Sec-WebSocket-Protocol` token names, if Coupler speaks it.
    /// Subprotocol tokens are case-sensitive (RFC 6455), so this match is exact.
    pub fn from_subprotocol(token: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.subprotocol() == token)
    }
}

impl std::fmt::Display for OcppVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.subprotocol())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subprotocol_names_map_both_ways() {
        for version in OcppVersion::ALL {
            assert_eq!(OcppVersion::from_subprotocol(version.subprotocol()), Some(version));
        }
        assert_eq!(OcppVersion::from_subprotocol("ocpp2.0"), None);
        assert_eq!(OcppVersion::from_subprotocol("OCPP1.6"), None);
    }
}
