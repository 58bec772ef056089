//! After a restart every pending action is resumed or failed; none stays pending. Run against a
//! real store (SQLite) with a recording charger-control port; time-dependent cases move a manual
//! clock instead of sleeping to a deadline.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use coupler_core::action::{Attempt, AttemptOutcome, TargetState};
use coupler_core::charger::{power_delivery_from_ocpp16, ConnectorStatus};
use coupler_core::clock::{Clock, ManualClock};
use coupler_core::control::{ChargerCommand, ChargerControl, CommandReply, ControlError};
use coupler_core::secret::hash_secret;
use coupler_core::secret::{Cipher, SecretKey};
use coupler_core::store::SessionStart;
use coupler_core::AdapterRegistry;
use coupler_core::{
    time, Action, ActionKind, ActionState, Charger, ChargerId, Client, ClientId, DeviceKind, FailureType, OcppIdentity,
    Store, UserId,
};
use coupler_engine::{ActionRequest, ActionTarget, ChargerEngineConfig, Command, Engine, EngineConfig};
use coupler_store::testing::TestDatabase;
use coupler_tasks::Tasks;

/// The charger side of a restart: connected, and any command sent to it is recorded, because a
/// resumed action whose command already went out must not send it again.
#[derive(Debug)]
struct Recording {
    sent: std::sync::Mutex<Vec<String>>,
    connected: bool,
}

impl Default for Recording {
    fn default() -> Self {
        Self {
            sent: std::sync::Mutex::default(),
            connected: true,
        }
    }
}

#[async_trait]
impl ChargerControl for Recording {
    async fn send(&self, _charger: &ChargerId, command: ChargerCommand) -> Result<CommandReply, ControlError> {
        self.sent.lock().unwrap().push(command.name().to_owned());
        Err(ControlError::Timeout)
    }
    fn is_connected(&self, _charger: &ChargerId) -> bool {
        self.connected
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
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
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

/// An engine over `store` and `control` on `clock`, running (its runner resumes pending actions).
fn running(store: &Arc<dyn Store>, control: Arc<Recording>, clock: Arc<dyn Clock>) -> (Arc<Engine>, Tasks) {
    let config = EngineConfig {
        action_tick: Duration::from_millis(50),
        ..EngineConfig::default()
    };
    let engine = Engine::new(
        store.clone(),
        Cipher::new(&SecretKey::generate()),
        AdapterRegistry::new(),
        control,
        config,
        ChargerEngineConfig::default(),
    )
    .with_clock(clock);
    let engine = Arc::new(engine);
    let tasks = Tasks::new();
    engine.spawn(&tasks);
    (engine, tasks)
}

fn system_clock() -> Arc<dyn Clock> {
    Arc::new(coupler_core::clock::SystemClock)
}

#[tokio::test]
async fn an_action_past_its_deadline_fails_at_resume() {
    let db = TestDatabase::sqlite();
    let store = db.open().await;
    let (client, charger) = charging_charger(&store).await;
    let stale = start_action(&client, &charger, chrono::Duration::seconds(-1), true);
    store.insert_action(&stale).await.unwrap();

    let control = Arc::new(Recording::default());
    let (_engine, tasks) = running(&store, control.clone(), system_clock());
    let stored = settled(&store, &client, &stale).await;
    assert_eq!(stored.state, ActionState::Failed);
    assert_eq!(stored.failure_reason.unwrap().kind, FailureType::NoResponse);
    assert!(control.sent.lock().unwrap().is_empty());
    tasks.shutdown().await;
}

#[tokio::test]
async fn an_action_whose_command_went_out_before_the_restart_is_confirmed_without_sending_again() {
    let db = TestDatabase::sqlite();
    let store = db.open().await;
    let (client, charger) = charging_charger(&store).await;
    let sent = start_action(&client, &charger, chrono::Duration::seconds(30), true);
    store.insert_action(&sent).await.unwrap();

    let control = Arc::new(Recording::default());
    let (_engine, tasks) = running(&store, control.clone(), system_clock());
    let stored = settled(&store, &client, &sent).await;
    assert_eq!(stored.state, ActionState::Confirmed, "{stored:?}");
    assert_eq!(stored.attempts.len(), 1);
    assert_eq!(stored.attempts[0].outcome, AttemptOutcome::Confirmed);
    assert!(control.sent.lock().unwrap().is_empty(), "nothing was sent twice");
    tasks.shutdown().await;
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
    let (_engine, tasks) = running(&store, control.clone(), system_clock());
    let stored = settled(&store, &client, &stop).await;
    assert_eq!(control.sent.lock().unwrap().as_slice(), ["RemoteStop"]);
    assert_eq!(stored.state, ActionState::Failed, "the charger stub never answers");
    assert_eq!(stored.failure_reason.unwrap().kind, FailureType::NoResponse);
    tasks.shutdown().await;
}

#[tokio::test]
async fn an_action_held_by_another_runner_s_lease_is_not_driven_until_that_lease_lapses() {
    let db = TestDatabase::sqlite();
    let store = db.open().await;
    let (client, charger) = charging_charger(&store).await;
    let mut stop = start_action(&client, &charger, chrono::Duration::seconds(600), false);
    stop.kind = ActionKind::Stop;
    stop.target_state = TargetState::charging(false);
    store.insert_action(&stop).await.unwrap();
    let clock = Arc::new(ManualClock::starting_now());
    // Another node holds the lease for the next 30 seconds of the clock.
    let now = clock.now();
    assert!(store
        .lease_action(&stop.id, "other-node", now + chrono::Duration::seconds(30), now)
        .await
        .unwrap());

    let control = Arc::new(Recording::default());
    let (engine, tasks) = running(&store, control.clone(), clock.clone());
    // The runner looks every 50 ms; give it several looks at the leased action.
    for _ in 0..10 {
        engine.wake_actions();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        control.sent.lock().unwrap().is_empty(),
        "driven while another runner held it"
    );
    assert_eq!(
        store.get_action(&client, &stop.id).await.unwrap().unwrap().state,
        ActionState::Pending
    );

    // The other node died: its lease lapses on the clock, and this runner takes the action up.
    clock.advance(chrono::Duration::seconds(31));
    let stored = settled(&store, &client, &stop).await;
    assert_eq!(control.sent.lock().unwrap().as_slice(), ["RemoteStop"]);
    assert_eq!(stored.state, ActionState::Failed, "the charger stub never answers");
    tasks.shutdown().await;
}

#[tokio::test]
async fn a_charger_action_waits_for_its_charger_and_fails_when_the_clock_passes_its_deadline() {
    let db = TestDatabase::sqlite();
    let store = db.open().await;
    let (client, charger) = charging_charger(&store).await;
    // The charger was connected before (it has been seen), and is away now.
    store.record_seen(&charger.id, time::now()).await.unwrap();
    let control = Arc::new(Recording {
        connected: false,
        ..Recording::default()
    });
    let clock = Arc::new(ManualClock::starting_now());
    let (engine, tasks) = running(&store, control.clone(), clock.clone());
    let stop = engine
        .request_action(ActionRequest {
            client: client.clone(),
            target: ActionTarget::Charger(charger.id.clone()),
            command: Command::Stop,
            idempotency_key: None,
        })
        .await
        .unwrap();
    // It waits, pending, with the wait visible as an attempt.
    let waiting = coupler_wait(&store, &client, &stop, |a| !a.attempts.is_empty()).await;
    assert_eq!(waiting.state, ActionState::Pending);
    assert_eq!(waiting.attempts[0].outcome, AttemptOutcome::Unreachable);

    // No sleeping through the 60 s timeout: the clock moves past the deadline.
    clock.advance(chrono::Duration::seconds(61));
    let stored = settled(&store, &client, &stop).await;
    assert_eq!(stored.state, ActionState::Failed, "{stored:?}");
    assert_eq!(stored.failure_reason.unwrap().kind, FailureType::NoResponse);
    assert!(control.sent.lock().unwrap().is_empty());
    tasks.shutdown().await;
}

/// Waits until the stored action satisfies `check`.
async fn coupler_wait(
    store: &Arc<dyn Store>,
    client: &ClientId,
    action: &Action,
    check: impl Fn(&Action) -> bool,
) -> Action {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let stored = store.get_action(client, &action.id).await.unwrap().unwrap();
        if check(&stored) {
            return stored;
        }
        assert!(tokio::time::Instant::now() < deadline, "never: {stored:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
