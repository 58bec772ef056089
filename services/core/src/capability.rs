//! What Coupler can do with a vehicle, and why not when it cannot.
//!
//! Three things decide a capability: what the maker allows for the model ([`ModelCapabilities`],
//! reported by the vendor's adapter), what the user granted when linking ([`Scope`]), and whether the
//! account's credentials still work (an open intervention blocks everything until the user relinks).
//! [`VehicleCapabilities::derive`] combines them; [`VehicleCapabilities::refusal`] says in words why
//! a command cannot be carried out, which the API answers as a 400.

use serde::{Deserialize, Serialize};

use crate::action::{ActionKind, DeviceKind};
use crate::intervention::InterventionId;

/// A permission a user grants when linking a vehicle account (the anchors' scope names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Scope {
    /// Read information and charge state; required for every link.
    #[serde(rename = "vehicle:read:data")]
    ReadData,
    /// Read the vehicle's position.
    #[serde(rename = "vehicle:read:location")]
    ReadLocation,
    /// Start and stop charging, set the charging current.
    #[serde(rename = "vehicle:control:charging")]
    ControlCharging,
}

impl Scope {
    /// Every scope, in a stable order.
    pub const ALL: [Scope; 3] = [Scope::ReadData, Scope::ReadLocation, Scope::ControlCharging];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadData => "vehicle:read:data",
            Self::ReadLocation => "vehicle:read:location",
            Self::ControlCharging => "vehicle:control:charging",
        }
    }

    /// Reads a wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// Whether a maker supports something for a model, and if not, why (in words for people).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "support", content = "reason", rename_all = "lowercase")]
pub enum Support {
    /// Supported.
    Yes,
    /// Not supported, and why.
    No(String),
}

impl Support {
    /// Not supported, for `reason`.
    pub fn no(reason: impl Into<String>) -> Self {
        Self::No(reason.into())
    }

    /// Whether it is supported.
    pub fn is_yes(&self) -> bool {
        matches!(self, Self::Yes)
    }
}

/// What a maker lets Coupler do with one model, as the vendor's adapter reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelCapabilities {
    /// Reading charge state.
    pub charge_state: Support,
    /// Reading the position.
    pub location: Support,
    /// Starting charging remotely.
    pub start_charging: Support,
    /// Stopping charging remotely.
    pub stop_charging: Support,
    /// Setting the charging current remotely.
    pub set_max_current: Support,
}

impl ModelCapabilities {
    /// Everything supported.
    pub fn full() -> Self {
        Self {
            charge_state: Support::Yes,
            location: Support::Yes,
            start_charging: Support::Yes,
            stop_charging: Support::Yes,
            set_max_current: Support::Yes,
        }
    }

    /// The same model with every command unsupported for `reason`.
    pub fn without_commands(&self, reason: &str) -> Self {
        Self {
            start_charging: Support::no(reason),
            stop_charging: Support::no(reason),
            set_max_current: Support::no(reason),
            ..self.clone()
        }
    }

    /// Read only: data and location, no commands; `reason` says why commands are missing.
    pub fn read_only(reason: &str) -> Self {
        Self {
            charge_state: Support::Yes,
            location: Support::Yes,
            start_charging: Support::no(reason),
            stop_charging: Support::no(reason),
            set_max_current: Support::no(reason),
        }
    }
}

/// One capability as the API shows it: `{isCapable, interventionIds, via}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Capability {
    /// Whether Coupler can do it now.
    pub is_capable: bool,
    /// Interventions the user can resolve to make it possible.
    pub intervention_ids: Vec<InterventionId>,
    /// The devices that can carry it out, in the order Coupler tries them.
    pub via: Vec<DeviceKind>,
    /// Why it is not possible, when it is not.
    #[serde(skip)]
    pub reason: Option<String>,
}

impl Capability {
    fn capable() -> Self {
        Self {
            is_capable: true,
            intervention_ids: Vec::new(),
            via: vec![DeviceKind::Vehicle],
            reason: None,
        }
    }

    fn incapable(reason: String, interventions: Vec<InterventionId>) -> Self {
        Self {
            is_capable: false,
            intervention_ids: interventions,
            via: Vec::new(),
            reason: Some(reason),
        }
    }
}

/// A vehicle's capabilities as the API shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VehicleCapabilities {
    /// Reading what the vehicle is.
    pub information: Capability,
    /// Reading charge state.
    pub charge_state: Capability,
    /// Reading the position.
    pub location: Capability,
    /// Starting charging.
    pub start_charging: Capability,
    /// Stopping charging.
    pub stop_charging: Capability,
    /// Setting the charging current.
    pub set_max_current: Capability,
}

impl VehicleCapabilities {
    /// Combines the maker's support for the model, the scopes the user granted, and the account's
    /// open intervention (which blocks everything until the user links again).
    pub fn derive(model: &ModelCapabilities, scopes: &[Scope], intervention: Option<&InterventionId>) -> Self {
        let one = |support: &Support, scope: Scope| -> Capability {
            if let Some(id) = intervention {
                return Capability::incapable(
                    "the vendor account's credentials no longer work; the user must link it again".into(),
                    vec![id.clone()],
                );
            }
            if let Support::No(reason) = support {
                return Capability::incapable(reason.clone(), Vec::new());
            }
            if !scopes.contains(&scope) {
                return Capability::incapable(
                    format!("the user did not grant the '{}' scope when linking", scope.as_str()),
                    Vec::new(),
                );
            }
            Capability::capable()
        };
        Self {
            information: one(&Support::Yes, Scope::ReadData),
            charge_state: one(&model.charge_state, Scope::ReadData),
            location: one(&model.location, Scope::ReadLocation),
            start_charging: one(&model.start_charging, Scope::ControlCharging),
            stop_charging: one(&model.stop_charging, Scope::ControlCharging),
            set_max_current: one(&model.set_max_current, Scope::ControlCharging),
        }
    }

    /// The capability a command needs.
    pub fn for_command(&self, kind: ActionKind) -> &Capability {
        match kind {
            ActionKind::Start => &self.start_charging,
            ActionKind::Stop => &self.stop_charging,
            ActionKind::SetMaxCurrent => &self.set_max_current,
        }
    }

    /// Why the vehicle cannot carry out `kind`, or `None` when it can.
    pub fn refusal(&self, kind: ActionKind) -> Option<String> {
        let capability = self.for_command(kind);
        if capability.is_capable {
            None
        } else {
            Some(
                capability
                    .reason
                    .clone()
                    .unwrap_or_else(|| "the vehicle cannot do this".to_owned()),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[Scope] = &Scope::ALL;

    #[test]
    fn a_fully_capable_model_with_every_scope_can_do_everything_through_the_vehicle() {
        let caps = VehicleCapabilities::derive(&ModelCapabilities::full(), ALL, None);
        for kind in [ActionKind::Start, ActionKind::Stop, ActionKind::SetMaxCurrent] {
            assert_eq!(caps.refusal(kind), None);
            assert_eq!(caps.for_command(kind).via, vec![DeviceKind::Vehicle]);
        }
        assert!(caps.location.is_capable);
    }

    #[test]
    fn the_makers_reason_is_given_when_a_model_cannot_stop_charging() {
        let model = ModelCapabilities {
            stop_charging: Support::no("Boreal's API has no stop command"),
            ..ModelCapabilities::full()
        };
        let caps = VehicleCapabilities::derive(&model, ALL, None);
        assert!(caps.start_charging.is_capable);
        assert_eq!(
            caps.refusal(ActionKind::Stop).as_deref(),
            Some("Boreal's API has no stop command")
        );
        assert!(caps.stop_charging.via.is_empty());
    }

    #[test]
    fn a_scope_the_user_did_not_grant_makes_commands_incapable() {
        let caps = VehicleCapabilities::derive(&ModelCapabilities::full(), &[Scope::ReadData], None);
        assert!(caps.charge_state.is_capable);
        assert!(!caps.location.is_capable);
        assert!(caps
            .refusal(ActionKind::Start)
            .unwrap()
            .contains("vehicle:control:charging"));
    }

    #[test]
    fn an_open_intervention_blocks_everything_and_is_named() {
        let id = InterventionId::new("i-1");
        let caps = VehicleCapabilities::derive(&ModelCapabilities::full(), ALL, Some(&id));
        assert!(!caps.charge_state.is_capable);
        assert_eq!(caps.start_charging.intervention_ids, vec![id]);
        assert!(caps.refusal(ActionKind::Start).unwrap().contains("link it again"));
    }

    #[test]
    fn scopes_read_back_from_their_wire_names() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
        }
        assert_eq!(Scope::parse("charger:read:data"), None);
    }

    #[test]
    fn model_capabilities_survive_a_json_round_trip() {
        let model = ModelCapabilities::read_only("read-only API");
        let text = serde_json::to_string(&model).unwrap();
        assert_eq!(serde_json::from_str::<ModelCapabilities>(&text).unwrap(), model);
    }
}
