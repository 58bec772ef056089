//! Vehicles as action targets: what a vehicle can do (its maker's support, the granted scopes,
//! its account, and the commands its pairs unlock), how it is paired for routing, and how an
//! observed charge state is judged against an action's target. The request path is
//! [`crate::request`]; the runner and executors are `runner`, `maker` and `charger_actions`.

use chrono::{DateTime, Utc};
use coupler_core::action::TargetState;
use coupler_core::capability::VehicleCapabilities;
use coupler_core::ev_system::{unlock, ChargerRoute, ChargerSide, PairState};
use coupler_core::vehicle::{ChargeState, PowerDeliveryState};
use coupler_core::{Action, ActionKind, ChargerId, ClientId, Vehicle, VehicleId};

use crate::request::{ActionRequest, ActionTarget, Command};
use crate::{Engine, EngineError};

/// A command on a vehicle, as the API asks for it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum VehicleCommand {
    /// Start charging.
    Start,
    /// Stop charging.
    Stop,
    /// Draw at most this many amperes.
    SetMaxCurrent(u32),
}

impl From<VehicleCommand> for Command {
    fn from(command: VehicleCommand) -> Self {
        match command {
            VehicleCommand::Start => Self::Start,
            VehicleCommand::Stop => Self::Stop,
            VehicleCommand::SetMaxCurrent(amps) => Self::SetMaxCurrent(f64::from(amps)),
        }
    }
}

/// A vehicle's pairs as routing sees them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VehiclePairing {
    /// The charger the vehicle is matched with now.
    pub activated: Option<ChargerId>,
    /// The charger side, when the vehicle has any pair.
    pub route: Option<ChargerRoute>,
    /// When none is activated: when the latest pair was deactivated (the charger saw the unplug),
    /// so that older maker data is not shown as if the vehicle were still plugged in.
    pub deactivated_at: Option<DateTime<Utc>>,
}

/// What an observed charge state says about an action's target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The vehicle is in the target state.
    Reached,
    /// Not yet.
    NotYet,
    /// The vehicle cannot get there without the user (unplugged, full, no power, fault).
    Impossible(String),
}

/// Judges an observed charge state against an action's target.
pub fn verdict(kind: ActionKind, target: &TargetState, state: &ChargeState) -> Verdict {
    match kind {
        ActionKind::Start => {
            if state.is_charging == Some(true) {
                return Verdict::Reached;
            }
            match state.power_delivery_state {
                Some(PowerDeliveryState::Unplugged) => Verdict::Impossible("the vehicle is not plugged in".into()),
                Some(PowerDeliveryState::Complete) => {
                    Verdict::Impossible("the vehicle is at its charge limit, so it does not charge".into())
                }
                Some(PowerDeliveryState::NoPower) => Verdict::Impossible("the charger gives no power".into()),
                Some(PowerDeliveryState::Fault) => Verdict::Impossible("the vehicle reports a charging fault".into()),
                _ => Verdict::NotYet,
            }
        }
        ActionKind::Stop => {
            if state.is_charging == Some(false) {
                Verdict::Reached
            } else {
                Verdict::NotYet
            }
        }
        ActionKind::SetMaxCurrent => match (target.max_current, state.max_current) {
            (Some(want), Some(have)) if (want - have).abs() < 0.5 => Verdict::Reached,
            _ => Verdict::NotYet,
        },
    }
}

impl Engine {
    /// What the vehicle can do now: the maker's support for the model, the granted scopes, and the
    /// account's state; a vendor not configured on this node can do nothing.
    pub fn vehicle_capabilities(&self, vehicle: &Vehicle) -> VehicleCapabilities {
        let model = if self.adapters.get(&vehicle.vendor).is_some() {
            vehicle.model_capabilities.clone()
        } else {
            vehicle
                .model_capabilities
                .without_commands(&format!("vendor {} is not configured on this Coupler", vehicle.vendor))
        };
        VehicleCapabilities::derive(&model, &vehicle.scopes, vehicle.account_intervention.as_ref())
    }

    /// The vehicle's pairs as routing sees them: the charger it is matched with now (if any), and
    /// whether it has a charger at all, and when its last pair was deactivated.
    pub async fn pairing_of(&self, vehicle: &Vehicle) -> Result<VehiclePairing, EngineError> {
        let pairs = self
            .store
            .ev_systems_of_vehicle(&vehicle.client_id, &vehicle.id)
            .await?;
        let activated = pairs
            .iter()
            .find(|p| p.state == PairState::Activated)
            .map(|p| p.charger_id.clone());
        let connected = match &activated {
            Some(id) => self.charger_reachable(id).await,
            None => false,
        };
        let route = (!pairs.is_empty()).then(|| ChargerRoute {
            activated: activated.is_some(),
            connected,
        });
        let deactivated_at = if activated.is_some() {
            None
        } else {
            pairs.iter().filter_map(|p| p.deactivated_at).max()
        };
        Ok(VehiclePairing {
            activated,
            route,
            deactivated_at,
        })
    }

    /// What the vehicle can do with its pairs taken into account: an established pair unlocks the
    /// commands the maker lacks, and `via` lists the devices in the order they are tried.
    pub async fn effective_capabilities(&self, vehicle: &Vehicle) -> Result<VehicleCapabilities, EngineError> {
        let pairing = self.pairing_of(vehicle).await?;
        Ok(unlock(&self.vehicle_capabilities(vehicle), pairing.route))
    }

    /// Creates a vehicle action: [`Engine::request_action`] on the vehicle, with its one
    /// idempotency and conflict policy (kept for the vehicle and EV-system routes, which speak
    /// [`VehicleCommand`]).
    pub async fn request_vehicle_action(
        &self,
        client: &ClientId,
        vehicle_id: &VehicleId,
        command: VehicleCommand,
        idempotency_key: Option<String>,
    ) -> Result<Action, EngineError> {
        self.request_action(ActionRequest {
            client: client.clone(),
            target: ActionTarget::Vehicle(vehicle_id.clone()),
            command: command.into(),
            idempotency_key,
        })
        .await
    }

    /// The matched charger's side of the merged state.
    pub(crate) async fn charger_side(
        &self,
        charger: Option<&ChargerId>,
    ) -> Result<Option<(ChargerSide, ChargerId)>, EngineError> {
        let Some(id) = charger else { return Ok(None) };
        let Some(found) = self.store.charger(id).await? else {
            return Ok(None);
        };
        let session = self.store.active_session(id).await?;
        let side = ChargerSide {
            state: found.charge_state(session.as_ref()),
            last_seen: found.last_seen,
        };
        Ok(Some((side, id.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(charging: Option<bool>, pds: PowerDeliveryState) -> ChargeState {
        ChargeState {
            is_charging: charging,
            power_delivery_state: Some(pds),
            ..ChargeState::default()
        }
    }

    #[test]
    fn start_is_reached_when_charging_and_impossible_when_unplugged_or_full() {
        let on = TargetState::charging(true);
        assert_eq!(
            verdict(ActionKind::Start, &on, &state(Some(true), PowerDeliveryState::Charging)),
            Verdict::Reached
        );
        assert_eq!(
            verdict(ActionKind::Start, &on, &state(Some(false), PowerDeliveryState::Stopped)),
            Verdict::NotYet
        );
        assert!(matches!(
            verdict(
                ActionKind::Start,
                &on,
                &state(Some(false), PowerDeliveryState::Unplugged)
            ),
            Verdict::Impossible(_)
        ));
        assert!(matches!(
            verdict(
                ActionKind::Start,
                &on,
                &state(Some(false), PowerDeliveryState::Complete)
            ),
            Verdict::Impossible(_)
        ));
    }

    #[test]
    fn stop_is_reached_when_not_charging_and_max_current_when_it_matches() {
        let off = TargetState::charging(false);
        assert_eq!(
            verdict(ActionKind::Stop, &off, &state(Some(false), PowerDeliveryState::Stopped)),
            Verdict::Reached
        );
        assert_eq!(
            verdict(ActionKind::Stop, &off, &state(Some(true), PowerDeliveryState::Charging)),
            Verdict::NotYet
        );
        let sixteen = TargetState::max_current(16.0);
        let mut s = state(Some(true), PowerDeliveryState::Charging);
        s.max_current = Some(10.0);
        assert_eq!(verdict(ActionKind::SetMaxCurrent, &sixteen, &s), Verdict::NotYet);
        s.max_current = Some(16.0);
        assert_eq!(verdict(ActionKind::SetMaxCurrent, &sixteen, &s), Verdict::Reached);
    }
}
