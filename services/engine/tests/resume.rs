//! After a restart every pending action is resumed or failed; none stays pending.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use coupler_core::action::{Attempt, AttemptOutcome, TargetState};
use coupler_core::charger::{power_delivery_from_ocpp16, ConnectorStatus};
use coupler_core::control::{ChargerCommand, ChargerControl, CommandReply, ControlError};
use coupler_core::secret::hash_secret;
use coupler_core::store::SessionStart;
use coupler_core::{
    time, Action, ActionKind, ActionState, Charger, ChargerId, Client, ClientId, DeviceKind, FailureType, OcppIdentity,
    Store, UserId,
};
use coupler_engine::{ChargerEngine as Engine, ChargerEngineConfig as EngineConfig};
use coupler_store::testing::TestDatabase;
use coupler_tasks::Tasks;

/// The charger side of a restart: connected, and any command sent to it is recorded, because a
/// resumed action whose command already went out must not send it again.
#[derive(Debug, Default)]
struct Recording {
    sent: std::sync::Mutex<Vec<String>>,
}

#[async_trait]
impl ChargerControl for Recording {
    async fn send(&self, _charger: &ChargerId, command: ChargerCommand) -> Result<CommandReply, ControlError> {
        self.sent.lock().unwrap().push(command.name().to_owned());
        Err(ControlError::Timeout)
    }
    fn is_connected(&self, _charger: &ChargerId) -> bool {
        true
    }
    async fn disconnect(&self, _charger: &ChargerId) {}
    async fn wait_for_change(&self, _charger: &ChargerId, timeout: Duration) {
        tokio::time::sleep(timeout.min(Duration::from_millis(50))).await;
    }
}

async fn charging_charger(store: &Arc<dyn Store>) -> (ClientId, Charger) {
    let client = Client {
        id: ClientId::generate(),
        name: "app".into(),
        secret_hash: hash_secret("s"),
        created_at: time::now(),
        revoked_at: None,
    };
    store.insert_client(&client).await.unwrap();
    let user = UserId::parse("alice").unwrap();
    store.upsert_user(&client.id, &user).await.unwrap();
    let charger = Charger {
        id: ChargerId::generate(),
        client_id: client.id.clone(),
        user_id: user,
        ocpp_id: OcppIdentity::parse("CP").unwrap(),
        name: None,
        location_id: None,
        ocpp_version: None,
        info: Default::default(),
        connectors: vec![],
        meter: Default::default(),
        max_current: None,
        is_connected: true,
        last_seen: None,
        firmware_status: None,
        created_at: time::now(),
    };
    store.insert_charger(&charger, &hash_secret("pw")).await.unwrap();
    let status = ConnectorStatus {
        connector_id: 1,
        status: "Charging".into(),
        error_code: "NoError".into(),
        info: None,
        power_delivery_state: power_delivery_from_ocpp16("Charging"),
        updated_at: time::now(),
    };
    store.record_status(&charger.id, &status).await.unwrap();
    store
        .start_session(
            &charger.id,
            &SessionStart {
                connector_id: 1,
                id_tag: None,
                meter_start_wh: 0.0,
                started_at: time::now(),
            },
        )
        .await
        .unwrap();
    (client.id, charger)
}

fn start_action(client: &ClientId, charger: &Charger, deadline_in: chrono::Duration, sent: bool) -> Action {
    let mut action = Action::new(
        client.clone(),
        charger.user_id.clone(),
        DeviceKind::Charger,
        charger.id.as_str().into(),
        ActionKind::Start,
        TargetState::charging(true),
        None,
        time::now() - chrono::Duration::seconds(5),
        chrono::Duration::seconds(5) + deadline_in,
    );
    if sent {
        action.record_attempt(Attempt {
            via: DeviceKind::Charger,
            device_id: charger.id.as_str().into(),
            at: time::now(),
            outcome: AttemptOutcome::Sent,
            detail: None,
        });
    }
    action
}

async fn settled(store: &Arc<dyn Store>, client: &ClientId, action: &Action) -> Action {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let stored = store.get_action(client, &action.id).await.unwrap().unwrap();
        if stored.state.is_final() {
            return stored;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still pending after resume: {stored:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_action_past_its_deadline_fails_at_resume() {
    let db = TestDatabase::sqlite();
    let store = db.open().await;
    let (client, charger) = charging_charger(&store).await;
    let stale = start_action(&client, &charger, chrono::Duration::seconds(-1), true);
    store.insert_action(&stale).await.unwrap();

    let control = Arc::new(Recording::default());
    let tasks = Tasks::new();
    let engine = Engine::new(store.clone(), control.clone(), EngineConfig::default(), tasks.clone());
    assert_eq!(engine.resume().await.unwrap(), 1);
    let stored = settled(&store, &client, &stale).await;
    assert_eq!(stored.state, ActionState::Failed);
    assert_eq!(stored.failure_reason.unwrap().kind, FailureType::NoResponse);
    assert!(control.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_action_whose_command_went_out_before_the_restart_is_confirmed_without_sending_again() {
    let db = TestDatabase::sqlite();
    let store = db.open().await;
    let (client, charger) = charging_charger(&store).await;
    let sent = start_action(&client, &charger, chrono::Duration::seconds(30), true);
    store.insert_action(&sent).await.unwrap();

    let control = Arc::new(Recording::default());
    let tasks = Tasks::new();
    let engine = Engine::new(store.clone(), control.clone(), EngineConfig::default(), tasks.clone());
    engine.resume().await.unwrap();
    let stored = settled(&store, &client, &sent).await;
    assert_eq!(stored.state, ActionState::Confirmed, "{stored:?}");
    assert_eq!(stored.attempts.len(), 1);
    assert_eq!(stored.attempts[0].outcome, AttemptOutcome::Confirmed);
    assert!(control.sent.lock().unwrap().is_empty(), "nothing was sent twice");
}

#[tokio::test]
async fn an_action_that_never_got_sent_starts_over_after_the_restart() {
    let db = TestDatabase::sqlite();
    let store = db.open().await;
    let (client, charger) = charging_charger(&store).await;
    let mut stop = start_action(&client, &charger, chrono::Duration::seconds(30), false);
    stop.kind = ActionKind::Stop;
    stop.target_state = TargetState::charging(false);
    store.insert_action(&stop).await.unwrap();

    let control = Arc::new(Recording::default());
    let tasks = Tasks::new();
    let engine = Engine::new(store.clone(), control.clone(), EngineConfig::default(), tasks.clone());
    engine.resume().await.unwrap();
    let stored = settled(&store, &client, &stop).await;
    assert_eq!(control.sent.lock().unwrap().as_slice(), ["RemoteStop"]);
    assert_eq!(stored.state, ActionState::Failed, "the charger stub never answers");
    assert_eq!(stored.failure_reason.unwrap().kind, FailureType::NoResponse);
    tasks.shutdown().await;
}
