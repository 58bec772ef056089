//! OpenAPI schemas for string fields whose values are fixed but which the code carries as plain
//! strings (constants, or names from another list), so typed clients still get enums.
//!
//! Enums that exist as Rust types (`ActionState`, `PowerDeliveryState`, ...) describe themselves in
//! `coupler-core`; only the values that have no Rust enum of their own are listed here. The event
//! names are built from [`EventType::ALL`], so they cannot drift from what the code sends.

use coupler_core::event::EventType;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;

/// Declares a string enum schema named after the type, with its values and a description.
macro_rules! string_enum {
    ($(#[doc = $doc:literal])* $name:ident: [$($value:literal),+ $(,)?]) => {
        $(#[doc = $doc])*
        #[derive(Debug)]
        pub struct $name;

        impl $name {
            /// Every value the field takes.
            pub const VALUES: &'static [&'static str] = &[$($value),+];
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                string_schema(concat!($($doc, "\n"),*).trim(), Self::VALUES.iter().copied())
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

fn string_schema<'a>(description: &str, values: impl Iterator<Item = &'a str>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .enum_values(Some(values))
        .into()
}

string_enum!(
    /// The kind of device a vendor or an intervention concerns. Vendors reached through Coupler's
    /// linking are vehicle makers; chargers connect over OCPP.
    VendorType: ["vehicle"]
);

string_enum!(
    /// A vendor's health. Coupler does not yet measure vendor health, so it is always `READY`.
    VendorStatus: ["READY"]
);

string_enum!(
    /// What an intervention asks for: the user must link the vendor account again.
    InterventionKind: ["RELINK_NEEDED"]
);

string_enum!(
    /// What an intervention concerns: the whole vendor account.
    InterventionDomain: ["Account"]
);

string_enum!(
    /// Where an intervention is resolved: from the app, not at the vehicle.
    ResolutionAccess: ["Remote"]
);

string_enum!(
    /// Who resolves an intervention: the user.
    ResolutionAgent: ["User"]
);

string_enum!(
    /// How an intervention is resolved: a new link session for the vendor.
    ResolutionAction: ["Link"]
);

string_enum!(
    /// How a webhook test call went: `SUCCESS` when the receiver answered 2xx.
    TestStatus: ["SUCCESS", "FAILURE"]
);

string_enum!(
    /// The health answer.
    HealthStatus: ["ok"]
);

string_enum!(
    /// The storage backend that answered a readiness check.
    DatabaseBackend: ["sqlite", "postgres"]
);

string_enum!(
    /// The simulated makers of the sandbox: `SIM_AURORA` (full control), `SIM_BOREAL` (cannot stop
    /// charging), `SIM_CIRRUS` (read-only) and `SIM_NIMBUS` (sleeps and rate-limits).
    SandboxBrand: ["SIM_AURORA", "SIM_BOREAL", "SIM_CIRRUS", "SIM_NIMBUS"]
);

string_enum!(
    /// The token type of an access token.
    TokenType: ["Bearer"]
);

string_enum!(
    /// The only grant type `/oauth/token` takes.
    GrantType: ["client_credentials"]
);

/// An event type a webhook subscribes to, or `*` for all of them.
#[derive(Debug)]
pub struct EventSelector;

impl utoipa::PartialSchema for EventSelector {
    fn schema() -> RefOr<Schema> {
        string_schema(
            "An event type, or `*` for every event type.",
            std::iter::once("*").chain(EventType::ALL.iter().map(|e| e.as_str())),
        )
    }
}

impl utoipa::ToSchema for EventSelector {}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::PartialSchema;

    #[test]
    fn the_event_selector_lists_every_event_type_and_the_wildcard() {
        let json = serde_json::to_value(EventSelector::schema()).unwrap();
        let values = json["enum"].as_array().unwrap();
        assert_eq!(values.len(), EventType::ALL.len() + 1);
        assert!(values.iter().any(|v| v == "*"));
        assert!(values.iter().any(|v| v == "user:vendor-action:updated"));
    }
}
