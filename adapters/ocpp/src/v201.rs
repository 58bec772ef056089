//! OCPP 2.0.1 messages: the seam where the typed 2.0.1 messages will go.
//!
//! Framing ([`crate::rpc`]) and error codes ([`crate::ErrorCode::as_str`] with
//! [`OcppVersion::V201`]) already serve 2.0.1. The typed messages (TransactionEvent,
//! NotifyEvent, RequestStart/StopTransaction, SetVariables, GetVariables, ...) will
//! follow the [`crate::v16`] pattern: one struct per payload built with the same
//! validating reader, [`Request`]/[`Response`] enums, and `parse_request` /
//! `parse_response` functions with the signatures below. Until then every action is
//! refused with `NotImplemented`, so a gateway can already route 2.0.1 sessions here
//! and answer each call correctly.

use serde_json::Value;

use crate::error::{ErrorCode, ValidationError};
use crate::OcppVersion;

/// The version this module serves.
pub const VERSION: OcppVersion = OcppVersion::V201;

/// A typed OCPP 2.0.1 request payload. No variants yet.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {}

/// A typed OCPP 2.0.1 response payload. No variants yet.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {}

fn not_implemented(action: &str) -> ValidationError {
    ValidationError::new(
        ErrorCode::NotImplemented,
        "",
        format!(
            "OCPP 2.0.1 action {} is not implemented yet",
            crate::json::quote(action)
        ),
    )
}

/// Reads the request payload of a 2.0.1 `action`. Not implemented yet: always `NotImplemented`.
pub fn parse_request(action: &str, _payload: &Value) -> Result<Request, ValidationError> {
    Err(not_implemented(action))
}

/// Reads the response payload of a 2.0.1 `action`. Not implemented yet: always `NotImplemented`.
pub fn parse_response(action: &str, _payload: &Value) -> Result<Response, ValidationError> {
    Err(not_implemented(action))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_2_0_1_action_is_refused_with_not_implemented_spelled_for_2_0_1() {
        let error = parse_request("TransactionEvent", &serde_json::json!({})).unwrap_err();
        assert_eq!(error.code, ErrorCode::NotImplemented);
        let answer = error.call_error("42", VERSION).to_text();
        assert!(answer.starts_with(r#"[4,"42","NotImplemented","#), "{answer}");
        assert!(parse_response("GetVariables", &serde_json::json!({})).is_err());
    }
}
