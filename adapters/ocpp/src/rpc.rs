//! OCPP-J RPC framing, the same for OCPP 1.6J and 2.0.1.
//!
//! Every WebSocket text message is a JSON array:
//! `[2, id, action, payload]` (CALL), `[3, id, payload]` (CALLRESULT) or
//! `[4, id, errorCode, errorDescription, errorDetails]` (CALLERROR); the id is a
//! string of at most 36 characters (OCPP-J 1.6 §4.2, 2.0.1 Part 4 §4.2).
//!
//! [`Frame::parse`] checks only the envelope; payloads are checked by the message
//! modules. A broken frame gives a [`FrameError`] that says which `CALLERROR` to
//! answer with, and whether to answer at all.
//!
//! Error codes for broken frames (no table in either spec assigns them; see
//! `reference/ocpp.md` §2.1-2.2):
//! - not JSON, not an array, a bad MessageTypeId, a missing or unreadable message
//!   id, a wrong element count or a non-string action or error field: 2.0.1
//!   `RpcFrameworkError` ("not a valid RPC request, e.g. MessageId could not be
//!   read"), 1.6 `FormationViolation`;
//! - a payload or error details that is not a JSON object: `FormatViolation`
//!   (1.6 `FormationViolation`);
//! - an unknown MessageTypeId: 2.0.1 `MessageTypeNotSupported`; 1.6 "SHALL ignore
//!   the message" (OCPP-J 1.6 §4.1.3), so no answer.
//!
//! When the message id cannot be read, or is not a valid id, the answer uses `"-1"`
//! (2.0.1 Part 4 §4.2.3; Coupler does the same on 1.6).

use serde_json::{json, Value};

use crate::error::ErrorCode;
use crate::OcppVersion;

/// Longest message id OCPP-J allows, in characters.
pub const MAX_MESSAGE_ID_LEN: usize = 36;

/// The message id a `CALLERROR` uses when the offending frame's id cannot be read.
pub const UNREADABLE_MESSAGE_ID: &str = "-1";

/// Longest `errorDescription` (2.0.1 Part 4 Table 7, `string[255]`); longer ones are cut.
pub const MAX_ERROR_DESCRIPTION_LEN: usize = 255;

/// The OCPP-J MessageTypeId of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// `2`: a request.
    Call,
    /// `3`: a successful response.
    CallResult,
    /// `4`: an error response.
    CallError,
}

impl MessageType {
    /// The MessageTypeId number on the wire.
    pub const fn number(self) -> u8 {
        match self {
            Self::Call => 2,
            Self::CallResult => 3,
            Self::CallError => 4,
        }
    }

    /// How many array elements a frame of this type has.
    pub const fn element_count(self) -> usize {
        match self {
            Self::Call => 4,
            Self::CallResult => 3,
            Self::CallError => 5,
        }
    }

    fn from_number(number: i64) -> Option<Self> {
        match number {
            2 => Some(Self::Call),
            3 => Some(Self::CallResult),
            4 => Some(Self::CallError),
            _ => None,
        }
    }
}

impl std::fmt::Display for MessageType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Call => "CALL",
            Self::CallResult => "CALLRESULT",
            Self::CallError => "CALLERROR",
        })
    }
}

/// One OCPP-J message.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// A request: `[2, id, action, payload]`.
    Call {
        /// Message id chosen by the sender, echoed by the response.
        id: String,
        /// Action name, case-sensitive (`"BootNotification"`).
        action: String,
        /// Request payload, always a JSON object.
        payload: Value,
    },
    /// A successful response: `[3, id, payload]`.
    CallResult {
        /// Id of the `CALL` answered.
        id: String,
        /// Response payload, always a JSON object.
        payload: Value,
    },
    /// An error response: `[4, id, errorCode, errorDescription, errorDetails]`.
    CallError {
        /// Id of the `CALL` answered, or `"-1"` when it could not be read.
        id: String,
        /// Error code as received or sent; read it with [`ErrorCode::from_wire`].
        /// Kept as text so an unknown code from a peer does not lose the response.
        code: String,
        /// Error description; may be empty.
        description: String,
        /// Error details, a JSON object (`{}` when there are none).
        details: Value,
    },
}

impl Frame {
    /// A `CALL` frame.
    pub fn call(id: impl Into<String>, action: impl Into<String>, payload: Value) -> Self {
        Self::Call {
            id: id.into(),
            action: action.into(),
            payload,
        }
    }

    /// A `CALLRESULT` frame.
    pub fn call_result(id: impl Into<String>, payload: Value) -> Self {
        Self::CallResult { id: id.into(), payload }
    }

    /// A `CALLERROR` frame with `code` spelled for `version`, empty details, and the
    /// description cut to [`MAX_ERROR_DESCRIPTION_LEN`] characters.
    pub fn call_error(id: impl Into<String>, code: ErrorCode, version: OcppVersion, description: &str) -> Self {
        Self::call_error_with_details(id, code, version, description, json!({}))
    }

    /// A `CALLERROR` frame like [`Frame::call_error`], with `details` (should be an object).
    pub fn call_error_with_details(
        id: impl Into<String>,
        code: ErrorCode,
        version: OcppVersion,
        description: &str,
        details: Value,
    ) -> Self {
        let description = match description.char_indices().nth(MAX_ERROR_DESCRIPTION_LEN) {
            Some((cut, _)) => description.get(..cut).unwrap_or_default(),
            None => description,
        };
        Self::CallError {
            id: id.into(),
            code: code.as_str(version).to_owned(),
            description: description.to_owned(),
            details,
        }
    }

    /// The frame's message id.
    pub fn id(&self) -> &str {
        match self {
            Self::Call { id, .. } | Self::CallResult { id, .. } | Self::CallError { id, .. } => id,
        }
    }

    /// The frame's message type.
    pub fn message_type(&self) -> MessageType {
        match self {
            Self::Call { .. } => MessageType::Call,
            Self::CallResult { .. } => MessageType::CallResult,
            Self::CallError { .. } => MessageType::CallError,
        }
    }

    /// Parses a WebSocket text message.
    pub fn parse(text: &str) -> Result<Self, FrameError> {
        // serde_json caps nesting depth, so hostile input fails here instead of
        // overflowing the stack.
        let value: Value = serde_json::from_str(text)
            .map_err(|e| FrameError::framework(None, None, format!("message is not valid JSON ({e})")))?;
        Self::from_value(&value)
    }

    /// Reads a frame from already parsed JSON.
    pub fn from_value(value: &Value) -> Result<Self, FrameError> {
        let Some(items) = value.as_array() else {
            return Err(FrameError::framework(None, None, "message is not a JSON array"));
        };
        // Read the id first: every later error should name it when it can.
        let id = items.get(1).and_then(readable_id);
        let number = items.first().and_then(Value::as_i64);
        let Some(number) = number else {
            return Err(FrameError::framework(
                id,
                None,
                "the first element must be the MessageTypeId, an integer",
            ));
        };
        let Some(kind) = MessageType::from_number(number) else {
            return Err(FrameError {
                code: ErrorCode::MessageTypeNotSupported,
                message_id: id,
                message_type: None,
                description: format!("MessageTypeId {number} is not supported"),
            });
        };
        let Some(id) = id else {
            return Err(FrameError::framework(None, Some(kind), bad_id_reason(items.get(1))));
        };
        if items.len() != kind.element_count() {
            return Err(FrameError::framework(
                Some(id),
                Some(kind),
                format!(
                    "a {kind} has {} elements, this one has {}",
                    kind.element_count(),
                    items.len()
                ),
            ));
        }
        let fail = |code, what: &str| FrameError {
            code,
            message_id: Some(id.clone()),
            message_type: Some(kind),
            description: format!("{kind} {what}"),
        };
        let text_at = |i: usize, what: &str| {
            items
                .get(i)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| fail(ErrorCode::RpcFrameworkError, &format!("{what} must be a string")))
        };
        let object_at = |i: usize, what: &str| {
            items
                .get(i)
                .filter(|v| v.is_object())
                .cloned()
                .ok_or_else(|| fail(ErrorCode::FormatViolation, &format!("{what} must be a JSON object")))
        };
        Ok(match kind {
            MessageType::Call => Self::Call {
                action: text_at(2, "action")?,
                payload: object_at(3, "payload")?,
                id,
            },
            MessageType::CallResult => Self::CallResult {
                payload: object_at(2, "payload")?,
                id,
            },
            MessageType::CallError => Self::CallError {
                code: text_at(2, "errorCode")?,
                description: text_at(3, "errorDescription")?,
                details: object_at(4, "errorDetails")?,
                id,
            },
        })
    }

    /// The frame as a JSON array.
    pub fn to_value(&self) -> Value {
        match self {
            Self::Call { id, action, payload } => json!([2, id, action, payload]),
            Self::CallResult { id, payload } => json!([3, id, payload]),
            Self::CallError {
                id,
                code,
                description,
                details,
            } => json!([4, id, code, description, details]),
        }
    }

    /// The frame as WebSocket message text.
    pub fn to_text(&self) -> String {
        self.to_value().to_string()
    }
}

fn readable_id(value: &Value) -> Option<String> {
    value
        .as_str()
        .filter(|id| id.chars().count() <= MAX_MESSAGE_ID_LEN)
        .map(str::to_owned)
}

fn bad_id_reason(value: Option<&Value>) -> String {
    match value {
        None => "the message id is missing".to_owned(),
        Some(Value::String(_)) => {
            format!("the message id is longer than {MAX_MESSAGE_ID_LEN} characters")
        }
        Some(_) => "the message id must be a string".to_owned(),
    }
}

/// A text message that is not a valid OCPP-J frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{description}")]
pub struct FrameError {
    /// The error code to answer with.
    pub code: ErrorCode,
    /// The message id, when it could be read and is valid (at most 36 characters).
    /// For a broken response this names the pending call it was meant to answer.
    pub message_id: Option<String>,
    /// The frame's type, when its MessageTypeId could be read and is known.
    pub message_type: Option<MessageType>,
    /// What is wrong, for the `CALLERROR` and the log.
    pub description: String,
}

impl FrameError {
    fn framework(
        message_id: Option<String>,
        message_type: Option<MessageType>,
        description: impl Into<String>,
    ) -> Self {
        Self {
            code: ErrorCode::RpcFrameworkError,
            message_id,
            message_type,
            description: description.into(),
        }
    }

    /// The message id the `CALLERROR` must carry: the frame's own, or `"-1"`.
    pub fn reply_id(&self) -> &str {
        self.message_id.as_deref().unwrap_or(UNREADABLE_MESSAGE_ID)
    }

    /// The `CALLERROR` to send back, or `None` when the rules say not to answer:
    /// a broken `CALLRESULT`/`CALLERROR` is never answered (a response gets no response;
    /// the pending call named by [`FrameError::message_id`] should fail instead), and an
    /// unknown MessageTypeId is ignored on 1.6 (OCPP-J 1.6 §4.1.3).
    pub fn answer(&self, version: OcppVersion) -> Option<Frame> {
        if matches!(
            self.message_type,
            Some(MessageType::CallResult | MessageType::CallError)
        ) {
            return None;
        }
        if self.code == ErrorCode::MessageTypeNotSupported && version == OcppVersion::V16 {
            return None;
        }
        Some(Frame::call_error(
            self.reply_id(),
            self.code,
            version,
            &self.description,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OcppVersion::{V16, V201};

    fn broken(text: &str) -> FrameError {
        Frame::parse(text).expect_err("frame should be refused")
    }

    /// The wire text of the answer, for both versions.
    fn answers(text: &str) -> (Option<String>, Option<String>) {
        let error = broken(text);
        (
            error.answer(V16).map(|f| f.to_text()),
            error.answer(V201).map(|f| f.to_text()),
        )
    }

    fn error_code_of(answer: &str) -> String {
        let frame = Frame::parse(answer).expect("answers are valid frames");
        match frame {
            Frame::CallError { code, .. } => code,
            other => panic!("not a CALLERROR: {other:?}"),
        }
    }

    #[test]
    fn a_call_is_parsed_into_id_action_and_payload() {
        let frame = Frame::parse(r#"[2, "19223201", "BootNotification", {"chargePointVendor": "VendorX"}]"#).unwrap();
        assert_eq!(
            frame,
            Frame::call("19223201", "BootNotification", json!({"chargePointVendor": "VendorX"}))
        );
        assert_eq!(frame.id(), "19223201");
        assert_eq!(frame.message_type(), MessageType::Call);
    }

    #[test]
    fn a_call_result_is_parsed_into_id_and_payload() {
        let frame = Frame::parse(r#"[3,"19223201",{"currentTime":"2013-02-01T20:53:32.486Z"}]"#).unwrap();
        assert_eq!(
            frame,
            Frame::call_result("19223201", json!({"currentTime": "2013-02-01T20:53:32.486Z"}))
        );
        assert_eq!(frame.message_type(), MessageType::CallResult);
    }

    #[test]
    fn a_call_error_is_parsed_with_its_code_kept_as_sent() {
        let frame = Frame::parse(r#"[4,"162376037","OccurenceConstraintViolation","idTag missing",{"x":1}]"#).unwrap();
        let Frame::CallError {
            id,
            code,
            description,
            details,
        } = &frame
        else {
            panic!("not a CALLERROR");
        };
        assert_eq!(id, "162376037");
        assert_eq!(code, "OccurenceConstraintViolation");
        assert_eq!(
            ErrorCode::from_wire(code),
            Some(ErrorCode::OccurrenceConstraintViolation)
        );
        assert_eq!(description, "idTag missing");
        assert_eq!(details, &json!({"x": 1}));
    }

    #[test]
    fn each_frame_kind_serialises_to_the_ocpp_j_array_and_back() {
        let frames = [
            (Frame::call("1", "Heartbeat", json!({})), r#"[2,"1","Heartbeat",{}]"#),
            (
                Frame::call_result("1", json!({"currentTime": "2025-01-01T00:00:00Z"})),
                r#"[3,"1",{"currentTime":"2025-01-01T00:00:00Z"}]"#,
            ),
            (
                Frame::call_error("1", ErrorCode::NotImplemented, V16, "unknown action"),
                r#"[4,"1","NotImplemented","unknown action",{}]"#,
            ),
        ];
        for (frame, text) in frames {
            assert_eq!(frame.to_text(), text);
            assert_eq!(Frame::parse(text).unwrap(), frame);
        }
    }

    #[test]
    fn text_that_is_not_json_is_answered_with_id_minus_one() {
        let error = broken("[2, \"abc\", ");
        assert_eq!(error.code, ErrorCode::RpcFrameworkError);
        assert_eq!(error.reply_id(), "-1");
        let (v16, v201) = answers("not json at all");
        assert_eq!(error_code_of(&v16.unwrap()), "FormationViolation");
        let v201 = v201.unwrap();
        assert!(v201.starts_with(r#"[4,"-1","RpcFrameworkError","message is not valid JSON"#));
    }

    #[test]
    fn json_that_is_not_an_array_is_a_framework_error() {
        for text in [r#"{"id": "1"}"#, "2", "\"call\"", "null"] {
            let error = broken(text);
            assert_eq!(error.code, ErrorCode::RpcFrameworkError, "{text}");
            assert_eq!(error.reply_id(), "-1");
            assert_eq!(error.message_type, None);
        }
    }

    #[test]
    fn an_empty_array_is_a_framework_error_answered_with_id_minus_one() {
        let (v16, v201) = answers("[]");
        assert_eq!(
            v16.unwrap(),
            r#"[4,"-1","FormationViolation","the first element must be the MessageTypeId, an integer",{}]"#
        );
        assert_eq!(error_code_of(&v201.unwrap()), "RpcFrameworkError");
    }

    #[test]
    fn a_message_type_id_that_is_not_an_integer_is_a_framework_error_that_keeps_the_id() {
        for text in [
            r#"["2","abc","Heartbeat",{}]"#,
            r#"[2.0,"abc","Heartbeat",{}]"#,
            r#"[null,"abc"]"#,
        ] {
            let error = broken(text);
            assert_eq!(error.code, ErrorCode::RpcFrameworkError, "{text}");
            assert_eq!(error.reply_id(), "abc", "{text}");
        }
    }

    #[test]
    fn an_unknown_message_type_is_answered_with_message_type_not_supported_on_2_0_1() {
        let error = broken(r#"[6,"abc","Heartbeat",{}]"#);
        assert_eq!(error.code, ErrorCode::MessageTypeNotSupported);
        let (_, v201) = answers(r#"[6,"abc","Heartbeat",{}]"#);
        assert_eq!(
            v201.unwrap(),
            r#"[4,"abc","MessageTypeNotSupported","MessageTypeId 6 is not supported",{}]"#
        );
        let (_, v201) = answers("[-1]");
        assert_eq!(error_code_of(&v201.unwrap()), "MessageTypeNotSupported");
    }

    #[test]
    fn an_unknown_message_type_is_ignored_on_1_6() {
        let (v16, _) = answers(r#"[5,"abc",{}]"#);
        assert_eq!(v16, None);
    }

    #[test]
    fn a_call_with_an_unreadable_id_is_answered_with_id_minus_one() {
        for text in [
            r#"[2, 19223201, "Heartbeat", {}]"#,
            r#"[2, null, "Heartbeat", {}]"#,
            r#"[2, {"id": "1"}, "Heartbeat", {}]"#,
            r#"[2]"#,
        ] {
            let error = broken(text);
            assert_eq!(error.code, ErrorCode::RpcFrameworkError, "{text}");
            assert_eq!(error.message_id, None, "{text}");
            let answer = error.answer(V201).unwrap();
            assert_eq!(answer.id(), "-1");
        }
    }

    #[test]
    fn a_message_id_longer_than_36_characters_is_answered_with_id_minus_one() {
        let id = "x".repeat(37);
        let error = broken(&format!(r#"[2,"{id}","Heartbeat",{{}}]"#));
        assert_eq!(error.code, ErrorCode::RpcFrameworkError);
        assert_eq!(error.reply_id(), "-1");
        assert!(error.description.contains("longer than 36"));
    }

    #[test]
    fn a_message_id_of_exactly_36_characters_is_accepted() {
        let id = "é".repeat(36);
        let frame = Frame::parse(&format!(r#"[2,"{id}","Heartbeat",{{}}]"#)).unwrap();
        assert_eq!(frame.id(), id);
    }

    #[test]
    fn frames_with_the_wrong_element_count_are_framework_errors_that_keep_the_id() {
        for text in [
            r#"[2,"abc","Heartbeat"]"#,
            r#"[2,"abc","Heartbeat",{},{}]"#,
            r#"[3,"abc"]"#,
            r#"[3,"abc",{},"extra"]"#,
            r#"[4,"abc","GenericError","x"]"#,
            r#"[4,"abc","GenericError","x",{},{}]"#,
        ] {
            let error = broken(text);
            assert_eq!(error.code, ErrorCode::RpcFrameworkError, "{text}");
            assert_eq!(error.reply_id(), "abc", "{text}");
            assert!(error.description.contains("elements"), "{text}");
        }
    }

    #[test]
    fn a_call_whose_action_is_not_a_string_is_a_framework_error() {
        let error = broken(r#"[2,"abc",7,{}]"#);
        assert_eq!(error.code, ErrorCode::RpcFrameworkError);
        assert_eq!(error.description, "CALL action must be a string");
        assert_eq!(
            error.answer(V16).unwrap().to_text(),
            r#"[4,"abc","FormationViolation","CALL action must be a string",{}]"#
        );
    }

    #[test]
    fn a_call_whose_payload_is_not_an_object_is_a_format_violation() {
        for payload in ["null", "[]", "\"{}\"", "1"] {
            let error = broken(&format!(r#"[2,"abc","Heartbeat",{payload}]"#));
            assert_eq!(error.code, ErrorCode::FormatViolation, "{payload}");
            assert_eq!(
                error_code_of(&error.answer(V16).unwrap().to_text()),
                "FormationViolation"
            );
            assert_eq!(error_code_of(&error.answer(V201).unwrap().to_text()), "FormatViolation");
        }
    }

    #[test]
    fn broken_responses_are_reported_but_never_answered() {
        for text in [
            r#"[3,"abc",null]"#,
            r#"[3,"abc"]"#,
            r#"[4,"abc",42,"x",{}]"#,
            r#"[4,"abc","GenericError",null,{}]"#,
            r#"[4,"abc","GenericError","x",[]]"#,
        ] {
            let error = broken(text);
            assert_eq!(error.message_id.as_deref(), Some("abc"), "{text}");
            assert!(error.answer(V16).is_none(), "{text}");
            assert!(error.answer(V201).is_none(), "{text}");
        }
    }

    #[test]
    fn call_error_descriptions_are_cut_to_255_characters() {
        let long = "ü".repeat(300);
        let Frame::CallError {
            description, details, ..
        } = Frame::call_error("1", ErrorCode::GenericError, V201, &long)
        else {
            panic!("not a CALLERROR");
        };
        assert_eq!(description.chars().count(), MAX_ERROR_DESCRIPTION_LEN);
        assert_eq!(details, json!({}));
    }

    #[test]
    fn call_errors_can_carry_details() {
        let frame = Frame::call_error_with_details("1", ErrorCode::InternalError, V201, "", json!({"retry": true}));
        assert_eq!(frame.to_text(), r#"[4,"1","InternalError","",{"retry":true}]"#);
    }

    #[test]
    fn garbage_never_panics() {
        let deep = "[".repeat(10_000);
        for text in [
            "",
            " ",
            "[",
            "]",
            "[[]]",
            "[2,\"a\",\"b\"",
            deep.as_str(),
            "[1e999]",
            "[2,\"\",\"\",{}]",
            "[99999999999999999999999,\"a\"]",
            "\u{0}",
            "[4,\"a\",\"\",\"\",{}]",
        ] {
            let _ = Frame::parse(text).map(|f| f.to_text());
        }
    }
}
