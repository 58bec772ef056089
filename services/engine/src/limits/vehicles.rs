//! Location limits on vehicles that charge without a Coupler charger, through their makers.

use std::sync::Arc;

use coupler_core::limits::compose;
use coupler_core::node::{Heard, Signal, SignalReceiver};
use coupler_core::{ClientId, VehicleId};
use coupler_tasks::Tasks;

/// Keeps vehicles that charge without a Coupler charger within the `site` limits of the location
/// they are at, through their makers: after each read of a plugged-in vehicle that is in no
/// activated EV system (a paired charger carries the limits itself), the limit in force at every
/// location of its user it is at becomes a max-current command (or a stop below 6 A) where the
/// maker allows it. Makers know no validity windows: a cap set this way stays on the car after
/// the window ends, until the app sets another.
///
/// Reads made on every node come through `signals` ([`Signal::VehicleRead`]); one node, the one
/// holding the job, acts on them.
pub fn spawn_vehicle_limits(engine: Arc<crate::Engine>, mut signals: Box<dyn SignalReceiver>, tasks: &Tasks) {
    let shutdown = tasks.token().clone();
    let job = engine.leases().singleton(crate::singleton::jobs::VEHICLE_LIMITS);
    tasks.spawn("vehicle limits", async move {
        loop {
            let heard = tokio::select! {
                _ = shutdown.cancelled() => break,
                heard = signals.recv() => heard,
            };
            match heard {
                Some(Heard::Signal(Signal::VehicleRead { client, vehicle })) if job.held() => {
                    let (client, vehicle) = (ClientId::new(client), VehicleId::new(vehicle));
                    if let Err(e) = keep_vehicle_within_limits(&engine, &client, &vehicle).await {
                        tracing::debug!(vehicle_id = %vehicle, error = %e, "cannot limit the vehicle");
                    }
                }
                // Missed reads come again at the next poll.
                Some(_) => {}
                None => break,
            }
        }
    });
}

async fn keep_vehicle_within_limits(
    engine: &crate::Engine,
    client: &coupler_core::ClientId,
    vehicle_id: &coupler_core::VehicleId,
) -> Result<(), crate::EngineError> {
    use coupler_core::ev_system::PairState;
    use coupler_core::limits::{maker_command, LimitScope, MakerCommand};
    use coupler_core::location::Point;

    let store = &engine.store;
    let Some(vehicle) = store.get_vehicle(client, vehicle_id).await? else {
        return Ok(());
    };
    if vehicle.charge_state.is_plugged_in != Some(true) {
        return Ok(());
    }
    let (Some(latitude), Some(longitude)) = (vehicle.location.latitude, vehicle.location.longitude) else {
        return Ok(());
    };
    let in_a_charger = store
        .ev_systems_of_vehicle(client, vehicle_id)
        .await?
        .iter()
        .any(|pair| pair.state == PairState::Activated);
    if in_a_charger {
        return Ok(());
    }
    let here = Point { latitude, longitude };
    let locations = store
        .list_locations(client, &vehicle.user_id, &coupler_core::PageRequest::first(200))
        .await?;
    let mut sources = Vec::new();
    for location in locations.items.iter().filter(|l| here.is_at(l.fields.point())) {
        sources.extend(
            store
                .list_limit_sources(client, &LimitScope::Location(location.id.clone()))
                .await?,
        );
    }
    let limit = compose(&sources, engine.clock.now()).limit_a;
    let command = maker_command(
        limit,
        vehicle.charge_state.max_current,
        vehicle.charge_state.is_charging == Some(true),
    );
    let command = match command {
        None => return Ok(()),
        Some(MakerCommand::SetMaxCurrent(amps)) => crate::actions::VehicleCommand::SetMaxCurrent(amps),
        Some(MakerCommand::Stop) => crate::actions::VehicleCommand::Stop,
    };
    match engine.request_vehicle_action(client, vehicle_id, command, None).await {
        Ok(action) => {
            tracing::info!(vehicle_id = %vehicle_id, action_id = %action.id, limit_a = ?limit, "vehicle limited through its maker");
            Ok(())
        }
        // The maker does not allow it: nothing more can be done from here.
        Err(crate::EngineError::Refused(why)) => {
            tracing::debug!(vehicle_id = %vehicle_id, why = why.as_str(), "the maker cannot carry out the limit");
            Ok(())
        }
        Err(e) => Err(e),
    }
}
