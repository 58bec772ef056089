//! The table-driven definition both versions' typed actions are made from.

/// Defines, for one OCPP version, `Action`, `Request`, `Response`, the dispatch between them
/// and the reading and writing of their payloads, from one table, so an action cannot be added
/// to one and forgotten in another, and both versions read and write payloads the same way.
///
/// The module that calls it provides `Initiator` and the `$untyped` list of actions the version
/// defines but this crate does not type.
macro_rules! ocpp_actions {
    (
        version = $version:literal;
        untyped = $untyped:ident;
        request_suffix = $req:literal;
        response_suffix = $res:literal;
        $($action:ident($request:ident, $response:ident) from $initiator:ident;)+
    ) => {
        #[doc = concat!("An OCPP ", $version, " action this crate types.")]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Action {
            $(
                #[doc = concat!("`", stringify!($action), "`")]
                $action,
            )+
        }

        impl Action {
            /// Every typed action.
            pub const ALL: &'static [Self] = &[$(Self::$action),+];

            /// The action name on the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$action => stringify!($action),)+
                }
            }

            /// The typed action named `name` (case-sensitive, as OCPP-J requires).
            pub fn from_wire(name: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|action| action.as_str() == name)
            }

            /// Which side sends this action's request.
            pub const fn initiator(self) -> Initiator {
                match self {
                    $(Self::$action => Initiator::$initiator,)+
                }
            }
        }

        #[doc = concat!("A typed OCPP ", $version, " request payload.")]
        #[derive(Debug, Clone, PartialEq)]
        pub enum Request {
            $(
                #[doc = concat!("`", stringify!($action), $req, "`")]
                $action($request),
            )+
        }

        #[doc = concat!("A typed OCPP ", $version, " response payload.")]
        #[derive(Debug, Clone, PartialEq)]
        pub enum Response {
            $(
                #[doc = concat!("`", stringify!($action), $res, "`")]
                $action($response),
            )+
        }

        impl Request {
            /// The action this request belongs to.
            pub fn action(&self) -> Action {
                match self {
                    $(Self::$action(_) => Action::$action,)+
                }
            }

            fn unchecked_value(&self) -> Result<Value, serde_json::Error> {
                match self {
                    $(Self::$action(message) => serde_json::to_value(message),)+
                }
            }
        }

        impl Response {
            /// The action this response belongs to.
            pub fn action(&self) -> Action {
                match self {
                    $(Self::$action(_) => Action::$action,)+
                }
            }

            fn unchecked_value(&self) -> Result<Value, serde_json::Error> {
                match self {
                    $(Self::$action(message) => serde_json::to_value(message),)+
                }
            }
        }

        fn read_request(action: Action, payload: &Value) -> Result<Request, ValidationError> {
            match action {
                $(Action::$action => $request::from_json(payload, "").map(Request::$action),)+
            }
        }

        fn read_response(action: Action, payload: &Value) -> Result<Response, ValidationError> {
            match action {
                $(Action::$action => $response::from_json(payload, "").map(Response::$action),)+
            }
        }

        $(
            impl From<$request> for Request {
                fn from(message: $request) -> Self {
                    Self::$action(message)
                }
            }

            impl From<$response> for Response {
                fn from(message: $response) -> Self {
                    Self::$action(message)
                }
            }
        )+

        fn known_action(name: &str) -> Result<Action, ValidationError> {
            Action::from_wire(name).ok_or_else(|| {
                if $untyped.contains(&name) {
                    unsupported(name)
                } else {
                    ValidationError::new(
                        ErrorCode::NotImplemented,
                        "",
                        format!("action {} is not known", crate::json::quote(name)),
                    )
                }
            })
        }

        fn unsupported(name: &str) -> ValidationError {
            ValidationError::new(ErrorCode::NotSupported, "", format!("action {name} is not supported"))
        }

        fn require_object(payload: &Value) -> Result<(), ValidationError> {
            if payload.is_object() {
                Ok(())
            } else {
                // The payload itself has the wrong shape: the PDU structure is wrong.
                Err(ValidationError::new(
                    ErrorCode::FormatViolation,
                    "",
                    "the payload must be a JSON object",
                ))
            }
        }

        /// Reads and validates the request payload of `action`, whichever side sends it.
        ///
        /// Unknown actions give `NotImplemented`, untyped actions of the version `NotSupported`; a payload
        /// that breaks the schema gives the matching constraint violation.
        pub fn parse_request(action: &str, payload: &Value) -> Result<Request, ValidationError> {
            let action = known_action(action)?;
            require_object(payload)?;
            read_request(action, payload)
        }

        /// Reads and validates the response payload of `action` (the `CALLRESULT` answering a
        /// call Coupler sent, or a response Coupler is about to send).
        pub fn parse_response(action: &str, payload: &Value) -> Result<Response, ValidationError> {
            let action = known_action(action)?;
            require_object(payload)?;
            read_response(action, payload)
        }

        fn internal(error: &serde_json::Error) -> ValidationError {
            ValidationError::new(ErrorCode::InternalError, "", format!("could not serialise: {error}"))
        }

        impl Request {
            /// The payload as JSON, after checking it against the schema rules (a too long
            /// string or a limit that is not a multiple of 0.1 is refused, not sent).
            pub fn to_value(&self) -> Result<Value, ValidationError> {
                let value = self.unchecked_value().map_err(|e| internal(&e))?;
                read_request(self.action(), &value)?;
                Ok(value)
            }

            /// The validated `CALL` frame carrying this request.
            pub fn to_call(&self, id: impl Into<String>) -> Result<Frame, ValidationError> {
                Ok(Frame::call(id, self.action().as_str(), self.to_value()?))
            }
        }

        impl Response {
            /// The payload as JSON, after checking it against the schema rules.
            pub fn to_value(&self) -> Result<Value, ValidationError> {
                let value = self.unchecked_value().map_err(|e| internal(&e))?;
                read_response(self.action(), &value)?;
                Ok(value)
            }

            /// The validated `CALLRESULT` frame answering the call with message id `id`.
            pub fn to_call_result(&self, id: impl Into<String>) -> Result<Frame, ValidationError> {
                Ok(Frame::call_result(id, self.to_value()?))
            }
        }
    };
}

pub(crate) use ocpp_actions;
