//! OCPP-J error codes and the validation error that carries one.
//!
//! OCPP-J 1.6 (Table 7) and 2.0.1 (Part 4, Table 8) share most error codes but
//! spell two of them differently, and 2.0.1 adds two. [`ErrorCode`] names each
//! meaning once; [`ErrorCode::as_str`] gives the spelling for the connection's
//! version, so the gateway never has to branch on the version itself.
//!
//! Neither spec assigns schema rules to codes; the descriptions of the codes
//! (1.6-J Table 7, 2.0.1 Part 4 Table 8) lead to this mapping, used by every
//! message module:
//! - a required field is missing, an array with `minItems: 1` is empty:
//!   `OccurrenceConstraintViolation` (1.6: `OccurenceConstraintViolation`);
//! - a value has the wrong JSON type, a decimal stands where an integer is required,
//!   an integer exceeds 32 bits, a string is longer than its `CiStringNType`, a
//!   date-time is not RFC 3339: `TypeConstraintViolation` (all are data-type rules);
//! - a value of the right type that the field does not allow (an enum value the
//!   schema does not list, a decimal that is not a multiple of 0.1):
//!   `PropertyConstraintViolation`;
//! - a field the schema does not define (`additionalProperties: false`), a payload
//!   that is not a JSON object: `FormatViolation` (1.6: `FormationViolation`);
//! - an action name the version does not define: `NotImplemented`; one it defines
//!   but Coupler does not handle, or one sent by the wrong side: `NotSupported`.

use crate::rpc::Frame;
use crate::OcppVersion;

/// An OCPP-J `CALLERROR` error code, independent of the spelling a version uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The requested action is not known by the receiver.
    NotImplemented,
    /// The requested action is recognised but not supported by the receiver.
    NotSupported,
    /// An internal error occurred and the receiver could not process the action.
    InternalError,
    /// 1.6: the payload is incomplete; 2.0.1: the payload does not conform to the PDU structure.
    ProtocolError,
    /// A security issue prevented the receiver from completing the action.
    SecurityError,
    /// The payload is syntactically incorrect or does not conform to the PDU structure.
    /// 1.6 spells it `FormationViolation` (kept by the 1.6 errata), 2.0.1 `FormatViolation`.
    FormatViolation,
    /// A field contains a value that is not allowed (enum value, `multipleOf`, ...).
    PropertyConstraintViolation,
    /// A field occurs too few or too many times (a required field is missing, an array is empty).
    /// 1.6 spells it `OccurenceConstraintViolation` (sic, kept by the 1.6 errata).
    OccurrenceConstraintViolation,
    /// A field violates its data type (`"somestring": 12`, a too long `CiString`, a bad date-time).
    TypeConstraintViolation,
    /// Any other error.
    GenericError,
    /// 2.0.1 only: a message type number the receiver does not support.
    MessageTypeNotSupported,
    /// 2.0.1 only: the frame is not a valid RPC message, for example its message id cannot be read.
    RpcFrameworkError,
}

impl ErrorCode {
    /// Every error code.
    pub const ALL: [Self; 12] = [
        Self::NotImplemented,
        Self::NotSupported,
        Self::InternalError,
        Self::ProtocolError,
        Self::SecurityError,
        Self::FormatViolation,
        Self::PropertyConstraintViolation,
        Self::OccurrenceConstraintViolation,
        Self::TypeConstraintViolation,
        Self::GenericError,
        Self::MessageTypeNotSupported,
        Self::RpcFrameworkError,
    ];

    /// The code as `version` spells it on the wire.
    ///
    /// OCPP 1.6 has no `MessageTypeNotSupported` or `RpcFrameworkError`; both mean the frame
    /// does not conform to the RPC structure, which 1.6 calls `FormationViolation`.
    /// (For an unknown message type 1.6 says to ignore the message instead of answering it;
    /// [`crate::FrameError::answer`] applies that rule.)
    pub const fn as_str(self, version: OcppVersion) -> &'static str {
        use OcppVersion::{V16, V201};
        match (self, version) {
            (Self::NotImplemented, _) => "NotImplemented",
            (Self::NotSupported, _) => "NotSupported",
            (Self::InternalError, _) => "InternalError",
            (Self::ProtocolError, _) => "ProtocolError",
            (Self::SecurityError, _) => "SecurityError",
            (Self::PropertyConstraintViolation, _) => "PropertyConstraintViolation",
            (Self::TypeConstraintViolation, _) => "TypeConstraintViolation",
            (Self::GenericError, _) => "GenericError",
            (Self::FormatViolation, V16) => "FormationViolation",
            (Self::FormatViolation, V201) => "FormatViolation",
            (Self::OccurrenceConstraintViolation, V16) => "OccurenceConstraintViolation",
            (Self::OccurrenceConstraintViolation, V201) => "OccurrenceConstraintViolation",
            (Self::MessageTypeNotSupported | Self::RpcFrameworkError, V16) => "FormationViolation",
            (Self::MessageTypeNotSupported, V201) => "MessageTypeNotSupported",
            (Self::RpcFrameworkError, V201) => "RpcFrameworkError",
        }
    }

    /// Reads a code received in a `CALLERROR`. Both spellings of the two renamed codes are
    /// accepted whatever the version, because implementations disagree on which one 2.0.1 uses.
    /// `None` for a code neither version defines.
    pub fn from_wire(text: &str) -> Option<Self> {
        match text {
            "FormationViolation" | "FormatViolation" => Some(Self::FormatViolation),
            "OccurenceConstraintViolation" | "OccurrenceConstraintViolation" => {
                Some(Self::OccurrenceConstraintViolation)
            }
            _ => Self::ALL
                .into_iter()
                .find(|code| code.as_str(OcppVersion::V201) == text),
        }
    }
}

/// Why a payload was refused: the OCPP-J error code to answer with, the path of the
/// offending field (`csChargingProfiles.chargingSchedule.chargingSchedulePeriod[0].limit`;
/// empty when the action or the payload as a whole is refused), and a description that
/// starts with that path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{description}")]
pub struct ValidationError {
    /// The OCPP-J error code the `CALLERROR` must carry.
    pub code: ErrorCode,
    /// Dotted path of the offending field, with `[i]` for array items; empty for the whole payload.
    pub path: String,
    /// Human-readable reason, starting with the field path when there is one.
    pub description: String,
}

impl ValidationError {
    /// A refusal of the field at `path` for `reason`.
    pub fn new(code: ErrorCode, path: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        let path = path.into();
        let description = if path.is_empty() {
            reason.to_string()
        } else {
            format!("{path}: {reason}")
        };
        Self {
            code,
            path,
            description,
        }
    }

    /// The `CALLERROR` answering the `CALL` with message id `id` that this error refused.
    pub fn call_error(&self, id: &str, version: OcppVersion) -> Frame {
        Frame::call_error(id, self.code, version, &self.description)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_renamed_codes_are_spelled_per_version() {
        use OcppVersion::{V16, V201};
        assert_eq!(ErrorCode::FormatViolation.as_str(V16), "FormationViolation");
        assert_eq!(ErrorCode::FormatViolation.as_str(V201), "FormatViolation");
        assert_eq!(
            ErrorCode::OccurrenceConstraintViolation.as_str(V16),
            "OccurenceConstraintViolation"
        );
        assert_eq!(
            ErrorCode::OccurrenceConstraintViolation.as_str(V201),
            "OccurrenceConstraintViolation"
        );
    }

    #[test]
    fn codes_that_only_exist_in_2_0_1_fall_back_to_formation_violation_in_1_6() {
        for code in [ErrorCode::MessageTypeNotSupported, ErrorCode::RpcFrameworkError] {
            assert_eq!(code.as_str(OcppVersion::V16), "FormationViolation");
        }
        assert_eq!(
            ErrorCode::RpcFrameworkError.as_str(OcppVersion::V201),
            "RpcFrameworkError"
        );
        assert_eq!(
            ErrorCode::MessageTypeNotSupported.as_str(OcppVersion::V201),
            "MessageTypeNotSupported"
        );
    }

    #[test]
    fn every_spelling_of_every_code_is_read_back() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_wire(code.as_str(OcppVersion::V201)), Some(code));
        }
        for code in ErrorCode::ALL
            .into_iter()
            .filter(|c| !matches!(c, ErrorCode::MessageTypeNotSupported | ErrorCode::RpcFrameworkError))
        {
            assert_eq!(ErrorCode::from_wire(code.as_str(OcppVersion::V16)), Some(code));
        }
        assert_eq!(ErrorCode::from_wire("SomethingElse"), None);
    }

    #[test]
    fn a_validation_error_names_its_field_in_the_description() {
        let error = ValidationError::new(ErrorCode::TypeConstraintViolation, "idTag", "too long");
        assert_eq!(error.description, "idTag: too long");
        assert_eq!(error.to_string(), "idTag: too long");
        let whole = ValidationError::new(ErrorCode::FormatViolation, "", "not an object");
        assert_eq!(whole.description, "not an object");
    }

    #[test]
    fn a_validation_error_becomes_a_call_error_with_the_versions_spelling() {
        let error = ValidationError::new(ErrorCode::OccurrenceConstraintViolation, "idTag", "missing");
        let frame = error.call_error("abc", OcppVersion::V16);
        assert_eq!(
            frame.to_text(),
            r#"[4,"abc","OccurenceConstraintViolation","idTag: missing",{}]"#
        );
    }
}
