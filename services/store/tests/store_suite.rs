//! One suite, two backends: every test here runs on SQLite and on PostgreSQL
//! (the latter when `COUPLER_TEST_POSTGRES_URL` is set).

#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

use std::sync::Arc;

use chrono::Duration;
use coupler_core::action::{Attempt, AttemptOutcome, TargetState};
use coupler_core::charger::{
    power_delivery_from_ocpp16, ChargerInfo, ConnectorStatus, LiveMeter, MeterSample, OcppProtocol,
};
use coupler_core::page::{Cursor, PageRequest};
use coupler_core::secret::hash_secret;
use coupler_core::store::{SessionStart, SessionStop};
use coupler_core::{
    time, AccessToken, Action, ActionKind, ActionState, Client, ClientId, DeviceKind, FailureType, Store, StoreError,
    UserId,
};
use coupler_core::{Charger, ChargerId, OcppIdentity};

/// Expands each named test into a SQLite and a PostgreSQL variant.
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    let db = coupler_store::testing::TestDatabase::sqlite();
                    super::$test(db.open().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    let Some(db) = coupler_store::testing::TestDatabase::postgres().await else { return };
                    super::$test(db.open().await).await;
                }
            )*
        }
    };
}

on_both_backends!(
    a_new_store_answers_a_ping,
    a_client_reads_back_as_it_was_stored,
    a_client_id_cannot_be_stored_twice,
    revoking_a_client_revokes_its_tokens,
    expired_tokens_are_cleaned_up_and_live_ones_kept,
    upserting_a_user_creates_it_once_and_then_keeps_it,
    a_client_never_sees_or_deletes_another_clients_user,
    deleting_a_user_removes_it,
    users_page_newest_first_forwards_and_backwards,
    an_action_reads_back_with_its_attempts_and_only_for_its_client,
    an_action_needs_an_existing_user_and_a_fresh_idempotency_key,
    only_a_pending_action_can_change_so_the_first_settlement_wins,
    pending_actions_are_listed_per_device_and_overall,
    deleting_a_user_deletes_its_actions,
    a_charger_needs_an_existing_user_and_a_free_identity,
    a_charger_reads_back_with_its_connectors_and_only_for_its_client,
    chargers_are_listed_per_client_and_per_user,
    a_session_runs_from_start_to_stop_with_its_energy_and_readings,
    repeated_starts_and_stops_from_a_retrying_charger_change_nothing,
    a_stop_for_an_unknown_transaction_keeps_its_readings,
    meter_values_update_the_live_readings,
    connections_are_recorded_and_all_cleared_at_start_up,
    deleting_a_user_deletes_its_chargers_and_their_sessions,
);

fn client(name: &str) -> Client {
    Client {
        id: ClientId::generate(),
        name: name.into(),
        secret_hash: hash_secret(name),
        created_at: time::now(),
        revoked_at: None,
    }
}

async fn stored_client(store: &Arc<dyn Store>, name: &str) -> Client {
    let c = client(name);
    store.insert_client(&c).await.expect("insert client");
    c
}

fn token(client: &ClientId, value: &str, expires_in: Duration) -> AccessToken {
    let now = time::now();
    AccessToken {
        token_hash: hash_secret(value),
        client_id: client.clone(),
        created_at: now,
        expires_at: now + expires_in,
        revoked_at: None,
    }
}

fn user(id: &str) -> UserId {
    UserId::parse(id).expect("valid user id")
}

async fn a_new_store_answers_a_ping(store: Arc<dyn Store>) {
    store.ping().await.expect("ping");
    assert!(["sqlite", "postgres"].contains(&store.backend()));
}

async fn a_client_reads_back_as_it_was_stored(store: Arc<dyn Store>) {
    let c = stored_client(&store, "energy-app").await;
    assert_eq!(store.get_client(&c.id).await.unwrap(), Some(c.clone()));
    assert_eq!(store.list_clients().await.unwrap(), vec![c]);
    assert_eq!(store.get_client(&ClientId::new("nope")).await.unwrap(), None);
}

async fn a_client_id_cannot_be_stored_twice(store: Arc<dyn Store>) {
    let c = stored_client(&store, "a").await;
    let err = store.insert_client(&c).await.expect_err("duplicate id");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
}

async fn revoking_a_client_revokes_its_tokens(store: Arc<dyn Store>) {
    let a = stored_client(&store, "a").await;
    let b = stored_client(&store, "b").await;
    store
        .insert_access_token(&token(&a.id, "ta", Duration::hours(1)))
        .await
        .unwrap();
    store
        .insert_access_token(&token(&b.id, "tb", Duration::hours(1)))
        .await
        .unwrap();

    assert!(store.revoke_client(&a.id, time::now()).await.unwrap());
    assert!(!store.revoke_client(&ClientId::new("nope"), time::now()).await.unwrap());

    assert!(store.get_client(&a.id).await.unwrap().unwrap().revoked_at.is_some());
    assert!(store
        .get_access_token(&hash_secret("ta"))
        .await
        .unwrap()
        .unwrap()
        .revoked_at
        .is_some());
    let other = store.get_access_token(&hash_secret("tb")).await.unwrap().unwrap();
    assert_eq!(other.revoked_at, None, "another client's token is untouched");
}

async fn expired_tokens_are_cleaned_up_and_live_ones_kept(store: Arc<dyn Store>) {
    let c = stored_client(&store, "a").await;
    let live = token(&c.id, "live", Duration::hours(1));
    store.insert_access_token(&live).await.unwrap();
    store
        .insert_access_token(&token(&c.id, "old", Duration::hours(-1)))
        .await
        .unwrap();

    assert_eq!(store.delete_expired_tokens(time::now()).await.unwrap(), 1);
    assert_eq!(store.get_access_token(&hash_secret("old")).await.unwrap(), None);
    assert_eq!(store.get_access_token(&hash_secret("live")).await.unwrap(), Some(live));
}

async fn upserting_a_user_creates_it_once_and_then_keeps_it(store: Arc<dyn Store>) {
    let c = stored_client(&store, "a").await;
    let (first, created) = store.upsert_user(&c.id, &user("alice")).await.unwrap();
    assert!(created);
    let (again, created) = store.upsert_user(&c.id, &user("alice")).await.unwrap();
    assert!(!created);
    assert_eq!(again, first, "the second call keeps the user as it was");
    assert_eq!(store.get_user(&c.id, &user("alice")).await.unwrap(), Some(first));
}

async fn a_client_never_sees_or_deletes_another_clients_user(store: Arc<dyn Store>) {
    let a = stored_client(&store, "a").await;
    let b = stored_client(&store, "b").await;
    store.upsert_user(&a.id, &user("shared-name")).await.unwrap();

    assert_eq!(store.get_user(&b.id, &user("shared-name")).await.unwrap(), None);
    assert!(!store.delete_user(&b.id, &user("shared-name")).await.unwrap());
    assert!(store
        .list_users(&b.id, &PageRequest::first(50))
        .await
        .unwrap()
        .items
        .is_empty());
    assert!(
        store.get_user(&a.id, &user("shared-name")).await.unwrap().is_some(),
        "still there for its owner"
    );

    // The same app-chosen id under two clients names two different users.
    let (_, created) = store.upsert_user(&b.id, &user("shared-name")).await.unwrap();
    assert!(created);
    assert!(store.delete_user(&b.id, &user("shared-name")).await.unwrap());
    assert!(store.get_user(&a.id, &user("shared-name")).await.unwrap().is_some());
}

async fn deleting_a_user_removes_it(store: Arc<dyn Store>) {
    let c = stored_client(&store, "a").await;
    store.upsert_user(&c.id, &user("bob")).await.unwrap();
    assert!(store.delete_user(&c.id, &user("bob")).await.unwrap());
    assert_eq!(store.get_user(&c.id, &user("bob")).await.unwrap(), None);
    assert!(
        !store.delete_user(&c.id, &user("bob")).await.unwrap(),
        "a second delete finds nothing"
    );
}

async fn users_page_newest_first_forwards_and_backwards(store: Arc<dyn Store>) {
    let c = stored_client(&store, "a").await;
    for name in ["u1", "u2", "u3", "u4", "u5"] {
        store.upsert_user(&c.id, &user(name)).await.unwrap();
    }
    let ids = |page: &coupler_core::Page<coupler_core::User>| {
        page.items.iter().map(|u| u.id.as_str().to_owned()).collect::<Vec<_>>()
    };

    let p1 = store.list_users(&c.id, &PageRequest::first(2)).await.unwrap();
    assert_eq!(ids(&p1), ["u5", "u4"]);
    assert_eq!(p1.before, None);
    let next = |key| PageRequest {
        size: 2,
        cursor: Some(Cursor::After(key)),
    };
    let p2 = store.list_users(&c.id, &next(p1.after.clone().unwrap())).await.unwrap();
    assert_eq!(ids(&p2), ["u3", "u2"]);
    let p3 = store.list_users(&c.id, &next(p2.after.clone().unwrap())).await.unwrap();
    assert_eq!(ids(&p3), ["u1"]);
    assert_eq!(p3.after, None, "the last page leads nowhere further");

    let back = |key| PageRequest {
        size: 2,
        cursor: Some(Cursor::Before(key)),
    };
    let b2 = store
        .list_users(&c.id, &back(p3.before.clone().unwrap()))
        .await
        .unwrap();
    assert_eq!(ids(&b2), ["u3", "u2"]);
    let b1 = store
        .list_users(&c.id, &back(b2.before.clone().unwrap()))
        .await
        .unwrap();
    assert_eq!(ids(&b1), ["u5", "u4"]);
    assert_eq!(b1.before, None, "the first page has nothing newer");
}

fn action(client: &ClientId, user_id: &str, target: &str, key: Option<&str>) -> Action {
    Action::new(
        client.clone(),
        user(user_id),
        DeviceKind::Charger,
        target.into(),
        ActionKind::SetMaxCurrent,
        TargetState::max_current(10.0),
        key.map(str::to_owned),
        time::now(),
        Duration::seconds(60),
    )
}

async fn an_action_reads_back_with_its_attempts_and_only_for_its_client(store: Arc<dyn Store>) {
    let c = stored_client(&store, "a").await;
    let other = stored_client(&store, "b").await;
    store.upsert_user(&c.id, &user("alice")).await.unwrap();
    let mut a = action(&c.id, "alice", "charger-1", None);
    a.record_attempt(Attempt {
        via: DeviceKind::Charger,
        device_id: "charger-1".into(),
        at: time::now(),
        outcome: AttemptOutcome::Sent,
        detail: Some("accepted".into()),
    });
    store.insert_action(&a).await.unwrap();
    assert_eq!(store.get_action(&c.id, &a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(store.get_action(&other.id, &a.id).await.unwrap(), None);
}

async fn an_action_needs_an_existing_user_and_a_fresh_idempotency_key(store: Arc<dyn Store>) {
    let c = stored_client(&store, "a").await;
    let other = stored_client(&store, "b").await;
    let err = store
        .insert_action(&action(&c.id, "ghost", "x", None))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

    store.upsert_user(&c.id, &user("alice")).await.unwrap();
    store.upsert_user(&other.id, &user("alice")).await.unwrap();
    let first = action(&c.id, "alice", "x", Some("key-1"));
    store.insert_action(&first).await.unwrap();
    let again = store
        .insert_action(&action(&c.id, "alice", "x", Some("key-1")))
        .await
        .unwrap_err();
    assert!(matches!(again, StoreError::Conflict(_)), "{again:?}");
    store
        .insert_action(&action(&other.id, "alice", "x", Some("key-1")))
        .await
        .expect("keys are per client");
    assert_eq!(
        store.find_action_by_idempotency_key(&c.id, "key-1").await.unwrap(),
        Some(first)
    );
    assert_eq!(
        store.find_action_by_idempotency_key(&c.id, "key-2").await.unwrap(),
        None
    );
}

async fn only_a_pending_action_can_change_so_the_first_settlement_wins(store: Arc<dyn Store>) {
    let c = stored_client(&store, "a").await;
    store.upsert_user(&c.id, &user("alice")).await.unwrap();
    let a = action(&c.id, "alice", "x", None);
    store.insert_action(&a).await.unwrap();

    let mut confirmed = a.clone();
    confirmed.confirm(time::now());
    let mut cancelled = a.clone();
    cancelled.cancel(FailureType::RequestedCancellation, "by the caller", time::now());

    assert!(store.update_action(&confirmed).await.unwrap());
    assert!(
        !store.update_action(&cancelled).await.unwrap(),
        "the later settlement is refused"
    );
    let stored = store.get_action(&c.id, &a.id).await.unwrap().unwrap();
    assert_eq!(stored.state, ActionState::Confirmed);
    assert!(stored.completed_at.is_some());
}

async fn pending_actions_are_listed_per_device_and_overall(store: Arc<dyn Store>) {
    let c = stored_client(&store, "a").await;
    store.upsert_user(&c.id, &user("alice")).await.unwrap();
    let on_one = action(&c.id, "alice", "one", None);
    let on_two = action(&c.id, "alice", "two", None);
    let mut done = action(&c.id, "alice", "one", None);
    store.insert_action(&on_one).await.unwrap();
    store.insert_action(&on_two).await.unwrap();
    store.insert_action(&done).await.unwrap();
    done.fail(FailureType::NoResponse, "timed out", time::now());
    store.update_action(&done).await.unwrap();

    let ids = |list: Vec<Action>| list.into_iter().map(|a| a.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.pending_actions_for(DeviceKind::Charger, "one").await.unwrap()),
        std::slice::from_ref(&on_one.id)
    );
    assert_eq!(
        ids(store.pending_actions_for(DeviceKind::Vehicle, "one").await.unwrap()),
        []
    );
    assert_eq!(ids(store.pending_actions().await.unwrap()), [on_one.id, on_two.id]);
}

async fn deleting_a_user_deletes_its_actions(store: Arc<dyn Store>) {
    let c = stored_client(&store, "a").await;
    store.upsert_user(&c.id, &user("alice")).await.unwrap();
    let a = action(&c.id, "alice", "x", None);
    store.insert_action(&a).await.unwrap();
    store.delete_user(&c.id, &user("alice")).await.unwrap();
    assert_eq!(store.get_action(&c.id, &a.id).await.unwrap(), None);
    assert!(store.pending_actions().await.unwrap().is_empty());
}

async fn registered_charger(store: &Arc<dyn Store>, client: &ClientId, user_id: &str, ocpp_id: &str) -> Charger {
    store.upsert_user(client, &user(user_id)).await.unwrap();
    let charger = Charger {
        id: ChargerId::generate(),
        client_id: client.clone(),
        user_id: user(user_id),
        ocpp_id: OcppIdentity::parse(ocpp_id).unwrap(),
        name: Some("Garage".into()),
        location_id: None,
        ocpp_version: None,
        info: ChargerInfo::default(),
        connectors: Vec::new(),
        meter: LiveMeter::default(),
        max_current: None,
        is_connected: false,
        last_seen: None,
        firmware_status: None,
        created_at: time::now(),
    };
    store.insert_charger(&charger, &hash_secret("pw")).await.unwrap();
    charger
}

fn status(connector_id: u32, status: &str) -> ConnectorStatus {
    ConnectorStatus {
        connector_id,
        status: status.into(),
        error_code: "NoError".into(),
        info: None,
        power_delivery_state: power_delivery_from_ocpp16(status),
        updated_at: time::now(),
    }
}

fn energy(wh: f64, at: chrono::DateTime<chrono::Utc>) -> MeterSample {
    MeterSample {
        sampled_at: at,
        measurand: "Energy.Active.Import.Register".into(),
        phase: None,
        unit: "Wh".into(),
        value: wh,
        context: None,
    }
}

async fn a_charger_needs_an_existing_user_and_a_free_identity(store: Arc<dyn Store>) {
    let c = stored_client(&store, "a").await;
    let other = stored_client(&store, "b").await;
    let first = registered_charger(&store, &c.id, "alice", "CP-1").await;
    let credentials = store.charger_credentials(&first.ocpp_id).await.unwrap().unwrap();
    assert_eq!(credentials.charger_id, first.id);
    assert!(credentials.password_hash.matches("pw"));

    let mut taken = first.clone();
    taken.id = ChargerId::generate();
    taken.client_id = other.id.clone();
    store.upsert_user(&other.id, &user("alice")).await.unwrap();
    let err = store.insert_charger(&taken, &hash_secret("x")).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "identities are global: {err:?}");

    let mut orphan = first.clone();
    orphan.id = ChargerId::generate();
    orphan.ocpp_id = OcppIdentity::parse("CP-2").unwrap();
    orphan.user_id = user("nobody");
    assert!(matches!(
        store.insert_charger(&orphan, &hash_secret("x")).await,
        Err(StoreError::Conflict(_))
    ));
}

async fn a_charger_reads_back_with_its_connectors_and_only_for_its_client(store: Arc<dyn Store>) {
    let c = stored_client(&store, "a").await;
    let other = stored_client(&store, "b").await;
    let charger = registered_charger(&store, &c.id, "alice", "CP-1").await;
    store.record_status(&charger.id, &status(1, "Charging")).await.unwrap();
    store.record_status(&charger.id, &status(0, "Available")).await.unwrap();
    store
        .record_status(&charger.id, &status(1, "SuspendedEV"))
        .await
        .unwrap();
    store
        .record_boot(
            &charger.id,
            &ChargerInfo {
                vendor: Some("V".into()),
                model: Some("M".into()),
                serial_number: None,
                firmware_version: Some("1.0".into()),
            },
            time::now(),
        )
        .await
        .unwrap();

    let read = store.get_charger(&c.id, &charger.id).await.unwrap().unwrap();
    assert_eq!(
        read.connectors
            .iter()
            .map(|c| (c.connector_id, c.status.as_str()))
            .collect::<Vec<_>>(),
        [(0, "Available"), (1, "SuspendedEV")]
    );
    assert_eq!(read.info.vendor.as_deref(), Some("V"));
    assert_eq!(read.name.as_deref(), Some("Garage"));
    assert!(read.last_seen.is_some());
    assert_eq!(store.get_charger(&other.id, &charger.id).await.unwrap(), None);
    assert!(!store.delete_charger(&other.id, &charger.id).await.unwrap());
    assert!(store
        .update_charger(&other.id, &charger.id, Some(Some("x")), None)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .list_sessions(&other.id, &charger.id, &PageRequest::first(10))
        .await
        .unwrap()
        .is_none());

    let renamed = store
        .update_charger(&c.id, &charger.id, Some(None), Some(Some("home")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((renamed.name, renamed.location_id.as_deref()), (None, Some("home")));
}

async fn chargers_are_listed_per_client_and_per_user(store: Arc<dyn Store>) {
    let c = stored_client(&store, "a").await;
    let other = stored_client(&store, "b").await;
    let a1 = registered_charger(&store, &c.id, "alice", "A1").await;
    let b1 = registered_charger(&store, &c.id, "bob", "B1").await;
    let a2 = registered_charger(&store, &c.id, "alice", "A2").await;
    registered_charger(&store, &other.id, "alice", "X1").await;

    let ids = |page: coupler_core::Page<Charger>| {
        page.items
            .into_iter()
            .map(|c| c.ocpp_id.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(store.list_chargers(&c.id, None, &PageRequest::first(10)).await.unwrap()),
        ["A2", "B1", "A1"]
    );
    let alice = store
        .list_chargers(&c.id, Some(&user("alice")), &PageRequest::first(1))
        .await
        .unwrap();
    let after = alice.after.clone().unwrap();
    assert_eq!(ids(alice), ["A2"]);
    let next = PageRequest {
        size: 1,
        cursor: Some(Cursor::After(after)),
    };
    assert_eq!(
        ids(store.list_chargers(&c.id, Some(&user("alice")), &next).await.unwrap()),
        ["A1"]
    );
    let _ = (a1, b1, a2);
}

async fn a_session_runs_from_start_to_stop_with_its_energy_and_readings(store: Arc<dyn Store>) {
    let c = stored_client(&store, "a").await;
    let charger = registered_charger(&store, &c.id, "alice", "CP-1").await;
    let t0 = time::now();
    let start = SessionStart {
        connector_id: 1,
        id_tag: Some("TAG"),
        meter_start_wh: 1000.0,
        started_at: t0,
    };
    let tx = store.start_session(&charger.id, &start).await.unwrap();
    assert!(tx > 0);
    store
        .record_meter_values(&charger.id, 1, Some(tx), &[energy(3000.0, t0 + Duration::minutes(10))])
        .await
        .unwrap();
    let running = store.active_session(&charger.id).await.unwrap().unwrap();
    assert_eq!(running.transaction_id, tx);
    assert_eq!(running.energy_kwh(), 2.0);

    let end = [energy(5500.0, t0 + Duration::minutes(20))];
    let stop = SessionStop {
        transaction_id: tx,
        meter_stop_wh: 5500.0,
        stopped_at: t0 + Duration::minutes(20),
        reason: Some("EVDisconnected"),
        samples: &end,
    };
    assert!(store.stop_session(&charger.id, &stop).await.unwrap());
    assert_eq!(store.active_session(&charger.id).await.unwrap(), None);

    let sessions = store
        .list_sessions(&c.id, &charger.id, &PageRequest::first(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sessions.items.len(), 1);
    let session = &sessions.items[0];
    assert_eq!(session.energy_kwh(), 4.5);
    assert_eq!(session.stop_reason.as_deref(), Some("EVDisconnected"));
    assert_eq!(session.id_tag.as_deref(), Some("TAG"));

    let second = store
        .start_session(
            &charger.id,
            &SessionStart {
                started_at: t0 + Duration::hours(1),
                ..start
            },
        )
        .await
        .unwrap();
    assert!(second > tx, "transaction ids only grow");
}

async fn repeated_starts_and_stops_from_a_retrying_charger_change_nothing(store: Arc<dyn Store>) {
    let c = stored_client(&store, "a").await;
    let charger = registered_charger(&store, &c.id, "alice", "CP-1").await;
    let start = SessionStart {
        connector_id: 1,
        id_tag: None,
        meter_start_wh: 0.0,
        started_at: time::now(),
    };
    let tx = store.start_session(&charger.id, &start).await.unwrap();
    assert_eq!(store.start_session(&charger.id, &start).await.unwrap(), tx);

    let first = SessionStop {
        transaction_id: tx,
        meter_stop_wh: 800.0,
        stopped_at: time::now(),
        reason: None,
        samples: &[],
    };
    assert!(store.stop_session(&charger.id, &first).await.unwrap());
    let retry = SessionStop {
        meter_stop_wh: 999.0,
        ..first.clone()
    };
    assert!(store.stop_session(&charger.id, &retry).await.unwrap());
    let sessions = store
        .list_sessions(&c.id, &charger.id, &PageRequest::first(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sessions.items.len(), 1);
    assert_eq!(sessions.items[0].meter_stop_wh, Some(800.0));
}

async fn a_stop_for_an_unknown_transaction_keeps_its_readings(store: Arc<dyn Store>) {
    let c = stored_client(&store, "a").await;
    let charger = registered_charger(&store, &c.id, "alice", "CP-1").await;
    let readings = [energy(4200.0, time::now())];
    let stop = SessionStop {
        transaction_id: 987_654,
        meter_stop_wh: 4200.0,
        stopped_at: time::now(),
        reason: None,
        samples: &readings,
    };
    assert!(!store.stop_session(&charger.id, &stop).await.unwrap());
    let read = store.charger(&charger.id).await.unwrap().unwrap();
    assert_eq!(read.meter.energy_wh, Some(4200.0));
}

async fn meter_values_update_the_live_readings(store: Arc<dyn Store>) {
    let c = stored_client(&store, "a").await;
    let charger = registered_charger(&store, &c.id, "alice", "CP-1").await;
    let at = time::now();
    let power = MeterSample {
        measurand: "Power.Active.Import".into(),
        unit: "W".into(),
        value: 7200.0,
        ..energy(0.0, at)
    };
    let soc = MeterSample {
        measurand: "SoC".into(),
        unit: "Percent".into(),
        value: 55.0,
        ..energy(0.0, at)
    };
    store
        .record_meter_values(&charger.id, 1, None, &[energy(12_000.0, at), power, soc])
        .await
        .unwrap();
    let read = store.charger(&charger.id).await.unwrap().unwrap();
    assert_eq!(
        read.meter,
        LiveMeter {
            power_w: Some(7200.0),
            current_a: None,
            energy_wh: Some(12_000.0),
            soc: Some(55.0),
            at: Some(at)
        }
    );
    store.set_max_current(&charger.id, Some(10.0)).await.unwrap();
    assert_eq!(
        store.charger(&charger.id).await.unwrap().unwrap().max_current,
        Some(10.0)
    );
}

async fn connections_are_recorded_and_all_cleared_at_start_up(store: Arc<dyn Store>) {
    let c = stored_client(&store, "a").await;
    let charger = registered_charger(&store, &c.id, "alice", "CP-1").await;
    store
        .record_connection(&charger.id, Some(OcppProtocol::V16), true, time::now())
        .await
        .unwrap();
    let read = store.charger(&charger.id).await.unwrap().unwrap();
    assert!(read.is_connected);
    assert_eq!(read.ocpp_version, Some(OcppProtocol::V16));
    assert_eq!(store.mark_all_disconnected().await.unwrap(), 1);
    let read = store.charger(&charger.id).await.unwrap().unwrap();
    assert!(!read.is_connected);
    assert_eq!(read.ocpp_version, Some(OcppProtocol::V16), "the version is remembered");
}

async fn deleting_a_user_deletes_its_chargers_and_their_sessions(store: Arc<dyn Store>) {
    let c = stored_client(&store, "a").await;
    let charger = registered_charger(&store, &c.id, "alice", "CP-1").await;
    let start = SessionStart {
        connector_id: 1,
        id_tag: None,
        meter_start_wh: 0.0,
        started_at: time::now(),
    };
    store.start_session(&charger.id, &start).await.unwrap();
    store.delete_user(&c.id, &user("alice")).await.unwrap();
    assert_eq!(store.charger(&charger.id).await.unwrap(), None);
    assert!(store.charger_credentials(&charger.ocpp_id).await.unwrap().is_none());
    // The identity is free again.
    registered_charger(&store, &c.id, "alice", "CP-1").await;
}
