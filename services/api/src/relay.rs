//! The relay: turns events written in state-change transactions into published events.
//!
//! A state change writes only what changed (the event type, the asset id, the changed fields) in its
//! own transaction, so the write path stays one INSERT. The relay then renders each event's asset
//! with the same view code the REST GET uses, and publishes the batch, which gives the events their
//! public sequence numbers. The trade-off: the object an event carries is the asset as it was when
//! the relay rendered it (a fraction of a second after the change, or after a restart), which may
//! already include a later change; events of one asset still arrive in the order of their changes.
//! A deleted asset is rendered from its last published object.

use std::collections::HashMap;
use std::time::Duration;

use coupler_core::account::VendorAccountId;
use coupler_core::ev_system::EvSystemId;
use coupler_core::event::{AssetKind, PendingEvent};
use coupler_core::node::Signal;
use coupler_core::{ActionId, ChargerId, StoreError, VehicleId};
use coupler_tasks::Tasks;

use crate::routes;
use crate::state::AppState;

/// The most events rendered and published in one pass.
pub const RELAY_BATCH: u32 = 500;

/// Renders and publishes what is waiting; returns how many events were published.
pub async fn publish_pending(state: &AppState) -> Result<usize, StoreError> {
    let pending = state.store.unpublished_events(RELAY_BATCH).await?;
    if pending.is_empty() {
        return Ok(0);
    }
    // Several changes of one asset in a batch render the same (current) object: render it once.
    let mut rendered_assets: HashMap<(String, String), serde_json::Value> = HashMap::new();
    // Chargers are most of a fleet's events: what their views need is read for the whole batch
    // in a few queries rather than a handful per charger.
    let mut chargers: Vec<ChargerId> = pending
        .iter()
        .filter(|e| e.event_type.asset() == AssetKind::Charger && !e.event_type.is_deletion())
        .map(|e| ChargerId::new(&e.asset_id))
        .collect();
    chargers.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
    chargers.dedup();
    if !chargers.is_empty() {
        // Which client each charger event of the batch belongs to: an event is only ever
        // rendered with its own client's asset.
        let owners: std::collections::HashSet<(&str, &str)> = pending
            .iter()
            .filter(|e| e.event_type.asset() == AssetKind::Charger)
            .map(|e| (e.asset_id.as_str(), e.client_id.as_str()))
            .collect();
        for plug_in in state.store.charger_plug_ins(&chargers).await? {
            let key = (
                AssetKind::Charger.field().to_owned(),
                plug_in.charger.id.as_str().to_owned(),
            );
            let client = plug_in.charger.client_id.clone();
            let view = routes::chargers::compose(
                state,
                plug_in.charger,
                plug_in.session,
                &plug_in.ev_systems,
                plug_in.detection,
                plug_in.capabilities,
            );
            if owners.contains(&(key.1.as_str(), client.as_str())) {
                rendered_assets.insert(key, to_value(view));
            }
        }
    }
    let mut rendered = Vec::with_capacity(pending.len());
    for event in &pending {
        let key = (event.event_type.asset().field().to_owned(), event.asset_id.clone());
        let data = if event.event_type.is_deletion() {
            last_seen(state, event).await?
        } else if let Some(data) = rendered_assets.get(&key) {
            data.clone()
        } else {
            let data = match render(state, event).await? {
                Some(data) => data,
                None => last_seen(state, event).await?,
            };
            rendered_assets.insert(key, data.clone());
            data
        };
        if event.event_type.asset() == AssetKind::VendorAction {
            crate::metrics::action_event(&event.updated_fields, &data);
        }
        rendered.push((event.id, data));
    }
    state.store.publish_events(&rendered).await?;
    Ok(rendered.len())
}

/// The asset as its REST GET shows it now; `None` when it no longer exists.
async fn render(state: &AppState, event: &PendingEvent) -> Result<Option<serde_json::Value>, StoreError> {
    let value = match event.event_type.asset() {
        AssetKind::Charger => match state.store.charger(&ChargerId::new(&event.asset_id)).await? {
            Some(charger) if charger.client_id == event.client_id => {
                Some(to_value(routes::chargers::render_with(state, charger).await?))
            }
            _ => None,
        },
        AssetKind::Vehicle => match state
            .store
            .get_vehicle(&event.client_id, &VehicleId::new(&event.asset_id))
            .await?
        {
            Some(vehicle) => viewed(routes::vehicles::respond(state, vehicle).await, event),
            None => None,
        },
        AssetKind::VendorAction => state
            .store
            .get_action(&event.client_id, &ActionId::new(&event.asset_id))
            .await?
            .map(|a| to_value(routes::actions::ActionResponse::from(a))),
        AssetKind::Credentials => {
            let id = VendorAccountId::new(&event.asset_id);
            let accounts = state
                .store
                .list_vendor_accounts(&event.client_id, &event.user_id)
                .await?;
            accounts.into_iter().find(|a| a.id == id).map(|a| {
                serde_json::json!({
                    "id": a.id.as_str(),
                    "userId": event.user_id.as_str(),
                    "vendor": a.vendor.as_str(),
                    "vendorType": "vehicle",
                    "isValid": a.is_valid,
                })
            })
        }
        AssetKind::Location => state
            .store
            .get_location(
                &event.client_id,
                &coupler_core::location::LocationId::new(&event.asset_id),
            )
            .await?
            .map(|l| to_value(routes::locations::LocationResponse::from(l))),
        AssetKind::SmartChargingPlan => state
            .store
            .get_smart_plan(
                &event.client_id,
                &coupler_core::smart::SmartPlanId::new(&event.asset_id),
            )
            .await?
            .map(|plan| to_value(routes::smart::plan_body(&plan))),
        AssetKind::SecurityEvent => state
            .store
            .get_security_event(
                &event.client_id,
                &coupler_core::security::SecurityEventId::new(&event.asset_id),
            )
            .await?
            .map(|e| to_value(routes::security::SecurityEventResponse::from(&e))),
        AssetKind::IdToken => state
            .store
            .get_id_token(
                &event.client_id,
                &event.user_id,
                &coupler_core::authorisation::IdTokenId::new(&event.asset_id),
            )
            .await?
            .map(|token| to_value(routes::id_tokens::IdTokenResponse::new(&token, state.now()))),
        AssetKind::FlexEnrolment => state
            .store
            .get_enrolment(&event.client_id, &coupler_core::flex::EnrolmentId::new(&event.asset_id))
            .await?
            .map(|e| to_value(routes::flex::enrolment_body(e))),
        AssetKind::FlexEventTarget => {
            match state
                .store
                .flex_target(&coupler_core::flex::FlexTargetId::new(&event.asset_id))
                .await?
            {
                Some(target) if target.client_id == event.client_id => state
                    .store
                    .get_flex_event(&event.client_id, &target.event_id)
                    .await?
                    .map(|e| {
                        let part = [target];
                        to_value(routes::flex::full_event_body(e, &part, state.now()))
                    }),
                _ => None,
            }
        }
        AssetKind::EvSystem => match state
            .store
            .get_ev_system(&event.client_id, &EvSystemId::new(&event.asset_id))
            .await?
        {
            Some(pair) => viewed(routes::ev_systems::render(state, pair).await, event),
            None => None,
        },
    };
    Ok(value)
}

/// The last object published for the asset, or its bare identity when none was.
async fn last_seen(state: &AppState, event: &PendingEvent) -> Result<serde_json::Value, StoreError> {
    Ok(state
        .store
        .last_event_data(&event.asset_id)
        .await?
        .unwrap_or_else(|| serde_json::json!({ "id": event.asset_id, "userId": event.user_id.as_str() })))
}

/// A rendered view, or `None` (the last published object stands in) when the view cannot be made:
/// one asset that cannot be rendered must not hold up every event after it.
fn viewed<T: serde::Serialize>(
    view: Result<T, crate::error::ApiError>,
    event: &PendingEvent,
) -> Option<serde_json::Value> {
    match view {
        Ok(view) => Some(to_value(view)),
        Err(e) => {
            tracing::warn!(event_id = event.id, asset_id = %event.asset_id, error = %e, "cannot render an event's object; sending the last one published");
            None
        }
    }
}

fn to_value<T: serde::Serialize>(view: T) -> serde_json::Value {
    serde_json::to_value(view).unwrap_or(serde_json::Value::Null)
}

/// The shortest time between two wake-ups of the relay sent by one node
/// ([`Signal::EventsWritten`]): however many events it writes, a node sends at most one per this.
pub const RELAY_WAKE_GAP: Duration = Duration::from_millis(100);

/// Runs the relay on `tasks` every `tick` (at once again while there is a backlog, and when a node
/// says it wrote events) until they stop. It publishes on the one node that holds the relay job;
/// every node wakes that one after writing events, at most once per [`RELAY_WAKE_GAP`].
pub fn spawn(state: AppState, tick: Duration, tasks: &Tasks) {
    let shutdown = tasks.token().clone();
    let job = state.engine.leases().singleton(coupler_engine::singleton::jobs::RELAY);
    let wake = std::sync::Arc::new(tokio::sync::Notify::new());
    spawn_waker(&state, job.clone(), wake.clone(), tasks);
    tasks.spawn("event relay", async move {
        loop {
            if !job.held() {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(tick) => continue,
                }
            }
            let published = match publish_pending(&state).await {
                Ok(0) => 0,
                Ok(n) => {
                    // Live streams on every node read them now.
                    if let Err(e) = state.store.signals().publish(&Signal::EventsPublished).await {
                        tracing::warn!(error = %e, "cannot tell the live streams that events were published");
                    }
                    n
                }
                Err(StoreError::Conflict(_)) => 0, // another node published first; take the rest next time
                Err(e) => {
                    tracing::warn!(error = %e, "could not publish events");
                    0
                }
            };
            if published >= RELAY_BATCH as usize {
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = wake.notified() => {}
                _ = tokio::time::sleep(tick) => {}
            }
        }
    });
}

/// Wakes the relay when this process wrote events: the relay here when this node holds the job,
/// otherwise the holder, through the signal bus; at most once per [`RELAY_WAKE_GAP`]. Every node
/// also hears the others' wake-ups and passes them on to its relay, which acts on them when it
/// holds the job.
fn spawn_waker(
    state: &AppState,
    job: coupler_engine::singleton::Singleton,
    wake: std::sync::Arc<tokio::sync::Notify>,
    tasks: &Tasks,
) {
    let store = state.store.clone();
    let shutdown = tasks.token().clone();
    let mut signals = store.signals().subscribe();
    tasks.spawn("event relay waker", async move {
        let mut seen = store.events_written();
        let mut every = tokio::time::interval(RELAY_WAKE_GAP);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                heard = signals.recv() => match heard {
                    Some(coupler_core::node::Heard::Signal(Signal::EventsWritten)) => wake.notify_one(),
                    Some(_) => {}
                    None => return,
                },
                _ = every.tick() => {
                    let written = store.events_written();
                    if written == seen {
                        continue;
                    }
                    seen = written;
                    if job.held() {
                        wake.notify_one();
                    } else if let Err(e) = store.signals().publish(&Signal::EventsWritten).await {
                        tracing::debug!(error = %e, "cannot wake the relay of another node");
                    }
                }
            }
        }
    });
}
