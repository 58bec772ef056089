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
use coupler_core::store::{SessionStart, SessionStop, TransactionEventKind, TransactionEventRecord};
use coupler_core::{
    time, AccessToken, Action, ActionKind, ActionState, Client, ClientId, DeviceKind, FailureType, Store, StoreError,
    UserId,
};
use coupler_core::{Charger, ChargerId, OcppIdentity};

coupler_store::on_both_backends!(
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
    an_action_s_lease_is_held_by_one_runner_until_it_lapses_or_is_released,
    only_one_of_many_racing_runners_takes_an_action_s_lease,
    deleting_a_user_deletes_its_actions,
    a_charger_needs_an_existing_user_and_a_free_identity,
    a_charger_reads_back_with_its_connectors_and_only_for_its_client,
    chargers_are_listed_per_client_and_per_user,
    a_session_runs_from_start_to_stop_with_its_energy_and_readings,
    repeated_starts_and_stops_from_a_retrying_charger_change_nothing,
    a_stop_for_an_unknown_transaction_keeps_its_readings,
    meter_values_update_the_live_readings,
    readings_and_statuses_from_many_chargers_at_once_share_a_commit_and_a_bad_one_fails_alone,
    connections_are_recorded_and_all_cleared_at_start_up,
    deleting_a_user_deletes_its_chargers_and_their_sessions,
    a_2_0_1_transaction_runs_from_started_to_ended_under_coupler_s_own_session_id,
    a_repeated_transaction_event_seq_no_changes_nothing,
    offline_events_arriving_out_of_order_still_give_the_right_start_and_stop,
    an_event_for_a_transaction_never_started_creates_its_session,
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

async fn an_action_s_lease_is_held_by_one_runner_until_it_lapses_or_is_released(store: Arc<dyn Store>) {
    let c = stored_client(&store, "a").await;
    store.upsert_user(&c.id, &user("alice")).await.unwrap();
    let a = action(&c.id, "alice", "x", None);
    store.insert_action(&a).await.unwrap();
    let now = time::now();
    let until = now + Duration::seconds(30);

    assert!(store.lease_action(&a.id, "node-a", until, now).await.unwrap());
    assert!(
        !store.lease_action(&a.id, "node-b", until, now).await.unwrap(),
        "held by node-a"
    );
    assert!(
        store
            .lease_action(&a.id, "node-a", until + Duration::seconds(30), now)
            .await
            .unwrap(),
        "the holder renews it"
    );
    // node-b may take it only once node-a's renewed lease has run out.
    assert!(!store.lease_action(&a.id, "node-b", until, until).await.unwrap());
    let lapsed = until + Duration::seconds(30);
    assert!(store
        .lease_action(&a.id, "node-b", lapsed + Duration::seconds(30), lapsed)
        .await
        .unwrap());
    assert!(
        !store.lease_action(&a.id, "node-a", lapsed, lapsed).await.unwrap(),
        "node-a lost it"
    );

    // Releasing is the holder's alone; then anyone may take it.
    store.release_action(&a.id, "node-a").await.unwrap();
    assert!(!store.lease_action(&a.id, "node-c", until, now).await.unwrap());
    store.release_action(&a.id, "node-b").await.unwrap();
    assert!(store.lease_action(&a.id, "node-c", until, now).await.unwrap());

    // A settled action is leased to nobody.
    let mut done = store.get_action(&c.id, &a.id).await.unwrap().unwrap();
    done.confirm(time::now());
    assert!(store.update_action(&done).await.unwrap());
    assert!(!store.lease_action(&a.id, "node-c", until, now).await.unwrap());
}

async fn only_one_of_many_racing_runners_takes_an_action_s_lease(store: Arc<dyn Store>) {
    let c = stored_client(&store, "a").await;
    store.upsert_user(&c.id, &user("alice")).await.unwrap();
    let a = action(&c.id, "alice", "x", None);
    store.insert_action(&a).await.unwrap();
    let now = time::now();
    let runners = (0..8).map(|i| {
        let store = store.clone();
        let id = a.id.clone();
        tokio::spawn(async move {
            store
                .lease_action(&id, &format!("node-{i}"), now + Duration::seconds(30), now)
                .await
                .unwrap()
        })
    });
    let mut won = 0;
    for runner in runners.collect::<Vec<_>>() {
        if runner.await.unwrap() {
            won += 1;
        }
    }
    assert_eq!(won, 1, "exactly one runner holds the lease");
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

async fn readings_and_statuses_from_many_chargers_at_once_share_a_commit_and_a_bad_one_fails_alone(
    store: Arc<dyn Store>,
) {
    let c = stored_client(&store, "a").await;
    let mut chargers = Vec::new();
    for n in 0..20 {
        chargers.push(registered_charger(&store, &c.id, "alice", &format!("CP-{n}")).await);
    }
    let t0 = time::now();
    let start = SessionStart {
        connector_id: 1,
        id_tag: Some("TAG"),
        meter_start_wh: 1000.0,
        started_at: t0,
    };
    let tx = store.start_session(&chargers[0].id, &start).await.unwrap();
    let power = |w: f64, at| MeterSample {
        measurand: "Power.Active.Import".into(),
        unit: "W".into(),
        value: w,
        ..energy(0.0, at)
    };
    let unknown = ChargerId::generate();
    let seen_at = t0 + Duration::minutes(1);
    // Written side by side: the writer finds them all waiting and takes them into one commit,
    // which the reading for a charger that does not exist makes fail.
    let writes = chargers.iter().enumerate().map(|(n, charger)| {
        let store = store.clone();
        let id = charger.id.clone();
        let transaction = (n == 0).then_some(tx);
        async move {
            let at = t0 + Duration::seconds(n as i64 + 1);
            store
                .record_meter_values(
                    &id,
                    1,
                    transaction,
                    &[energy(2000.0 + n as f64, at), power(100.0 * n as f64, at)],
                )
                .await
        }
    });
    let later_reading = [power(9999.0, t0 + Duration::seconds(30))];
    let later = store.record_meter_values(&chargers[1].id, 1, None, &later_reading);
    let seen = store.record_seen(&chargers[2].id, seen_at);
    let bad_reading = [energy(1.0, t0)];
    let bad = store.record_meter_values(&unknown, 1, None, &bad_reading);
    let plugged = status(1, "Preparing");
    let plugged_in = store.record_status(&chargers[3].id, &plugged);
    let (written, later, seen, plugged_in, bad) =
        tokio::join!(futures::future::join_all(writes), later, seen, plugged_in, bad);
    assert!(written.iter().all(Result::is_ok), "{written:?}");
    later.unwrap();
    seen.unwrap();
    plugged_in.unwrap();
    assert!(bad.is_err(), "a reading for an unknown charger is refused");

    for (n, charger) in chargers.iter().enumerate() {
        let read = store.charger(&charger.id).await.unwrap().unwrap();
        let expected_power = if n == 1 { 9999.0 } else { 100.0 * n as f64 };
        assert_eq!(read.meter.energy_wh, Some(2000.0 + n as f64), "charger {n}");
        assert_eq!(
            read.meter.power_w,
            Some(expected_power),
            "charger {n}: the later reading wins"
        );
        assert!(read.last_seen.is_some(), "charger {n} was heard from");
    }
    let running = store.active_session(&chargers[0].id).await.unwrap().unwrap();
    assert_eq!(running.energy_kwh(), 1.0, "the session's energy follows its register");
    let with_status = store.charger(&chargers[3].id).await.unwrap().unwrap();
    assert_eq!(with_status.connectors.len(), 1);
    assert_eq!(
        with_status.connectors[0].status, "Preparing",
        "the status shared the commit"
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

/// Vehicles, vendor accounts, link sessions and interventions.
mod vehicles {
    use std::sync::Arc;

    use chrono::Duration;
    use coupler_core::account::{SealedToken, SealedTokens, Secret, TokenSet, VendorAccountId};
    use coupler_core::capability::{ModelCapabilities, Scope};
    use coupler_core::intervention::Intervention;
    use coupler_core::link::{LinkCompletion, LinkSession, LinkSessionId, LinkStatus, LinkedAccount, LINK_TTL};
    use coupler_core::page::{Cursor, PageRequest};
    use coupler_core::polling::PollPolicy;
    use coupler_core::secret::{generate_secret, hash_secret, Cipher, SecretKey};
    use coupler_core::vehicle::{ChargeState, PowerDeliveryState, VehicleInformation, VehicleSnapshot, VendorVehicle};
    use coupler_core::{time, ClientId, Store, StoreError, VehicleId, Vendor};

    use super::{stored_client, user};

    coupler_store::on_both_backends!(
        a_link_session_is_found_by_its_token_and_its_state,
        a_link_session_needs_an_existing_user,
        completing_a_link_stores_the_account_with_sealed_tokens_and_its_vehicles,
        a_link_session_completes_once_and_a_replay_writes_nothing,
        an_expired_link_session_can_neither_begin_nor_complete,
        a_failed_link_session_is_over,
        relinking_keeps_vehicle_ids_drops_vanished_vehicles_and_resolves_the_intervention,
        a_second_account_at_the_same_maker_is_a_new_account_and_keeps_the_firsts_vehicles,
        without_the_makers_identity_a_relink_is_recognised_only_when_no_vehicle_would_be_lost,
        a_client_never_sees_another_clients_vehicles_accounts_or_interventions,
        vehicles_page_newest_first_and_can_be_narrowed_to_one_user,
        a_refresh_hint_brings_the_next_read_forward_unless_the_maker_asked_to_wait,
        a_due_vehicle_is_claimed_by_one_poller_until_its_poll_is_saved,
        a_saved_poll_updates_state_and_keeps_what_the_read_did_not_bring,
        a_saved_read_keeps_the_car_s_charging_power_once_per_reading_for_telemetry,
        tokens_are_replaced_only_over_the_version_the_refresh_started_from,
        only_one_holder_may_refresh_an_accounts_tokens_at_a_time,
        invalidating_an_account_raises_one_intervention_and_makes_its_vehicles_unreachable,
        deleting_a_vendor_account_removes_its_vehicles_and_interventions,
        deleting_a_user_removes_its_accounts_vehicles_and_link_sessions,
    );

    fn cipher() -> Cipher {
        Cipher::new(&SecretKey::generate())
    }

    fn vendor(name: &str) -> Vendor {
        Vendor::parse(name).unwrap()
    }

    fn session(client: &ClientId, user_id: &str, token: &str) -> LinkSession {
        let now = time::now();
        LinkSession {
            id: LinkSessionId::generate(),
            client_id: client.clone(),
            user_id: user(user_id),
            token_hash: hash_secret(token),
            vendor: None,
            scopes: vec![Scope::ReadData, Scope::ControlCharging],
            redirect_uri: "https://app.example/done".into(),
            language: "en-US".into(),
            status: LinkStatus::Created,
            chosen_vendor: None,
            state_hash: None,
            pkce_verifier: None,
            error: None,
            created_at: now,
            expires_at: now + LINK_TTL,
            finished_at: None,
        }
    }

    fn listed(id: &str) -> VendorVehicle {
        VendorVehicle {
            vendor_vehicle_id: id.into(),
            information: VehicleInformation {
                vin: Some(format!("VIN-{id}")),
                brand: Some("Aurora".into()),
                model: Some("A1".into()),
                year: Some(2024),
                display_name: Some(format!("Car {id}")),
            },
            capabilities: ModelCapabilities::full(),
            meta: serde_json::json!({"slot": id}),
        }
    }

    fn tokens(cipher: &Cipher, access: &str) -> SealedTokens {
        SealedTokens::seal(
            cipher,
            &TokenSet {
                access_token: Secret::new(access),
                refresh_token: Some(Secret::new(format!("refresh-of-{access}"))),
                expires_at: Some(time::now() + Duration::hours(1)),
            },
        )
    }

    /// A user with a session that reached the maker's sign-in.
    async fn authorizing(store: &Arc<dyn Store>, client: &ClientId, user_id: &str, state: &str) -> LinkSession {
        store.upsert_user(client, &user(user_id)).await.unwrap();
        let s = session(client, user_id, &generate_secret());
        store.insert_link_session(&s).await.unwrap();
        let began = store
            .begin_authorization(
                &s.id,
                &vendor("SIM_AURORA"),
                &hash_secret(state),
                &SealedToken::from_stored("sealed-verifier"),
                time::now(),
            )
            .await
            .unwrap();
        assert!(began);
        s
    }

    fn completion(s: &LinkSession, cipher: &Cipher, access: &str, vehicles: &[&str]) -> LinkCompletion {
        LinkCompletion {
            session_id: s.id.clone(),
            client_id: s.client_id.clone(),
            user_id: s.user_id.clone(),
            vendor: vendor("SIM_AURORA"),
            scopes: s.scopes.clone(),
            tokens: tokens(cipher, access),
            account_meta: serde_json::json!({"region": "eu"}),
            account_ref: None,
            vehicles: vehicles.iter().map(|v| listed(v)).collect(),
            now: time::now(),
        }
    }

    /// A user with a linked account holding `vehicles`.
    pub(super) async fn linked(
        store: &Arc<dyn Store>,
        client: &ClientId,
        user_id: &str,
        vehicles: &[&str],
    ) -> LinkedAccount {
        let s = authorizing(store, client, user_id, &generate_secret()).await;
        store
            .complete_link(&completion(&s, &cipher(), "access", vehicles))
            .await
            .unwrap()
            .expect("the session was waiting")
    }

    fn relink_intervention(store_account: &coupler_core::account::VendorAccount) -> Intervention {
        Intervention::relink_needed(
            store_account.client_id.clone(),
            store_account.user_id.clone(),
            store_account.id.clone(),
            store_account.vendor.clone(),
            "the refresh token was refused",
            time::now(),
        )
    }

    async fn a_link_session_is_found_by_its_token_and_its_state(store: Arc<dyn Store>) {
        let c = stored_client(&store, "app").await;
        store.upsert_user(&c.id, &user("alice")).await.unwrap();
        let s = session(&c.id, "alice", "token-1");
        store.insert_link_session(&s).await.unwrap();
        assert_eq!(
            store.get_link_session_by_token(&hash_secret("token-1")).await.unwrap(),
            Some(s.clone())
        );
        assert_eq!(
            store.get_link_session_by_token(&hash_secret("other")).await.unwrap(),
            None
        );

        let now = time::now();
        assert!(store
            .begin_authorization(
                &s.id,
                &vendor("TESLA"),
                &hash_secret("state-1"),
                &SealedToken::from_stored("v"),
                now
            )
            .await
            .unwrap());
        // Opening the page again starts over with a new state; the old one no longer matches.
        assert!(store
            .begin_authorization(
                &s.id,
                &vendor("TESLA"),
                &hash_secret("state-2"),
                &SealedToken::from_stored("w"),
                now
            )
            .await
            .unwrap());
        assert_eq!(
            store.get_link_session_by_state(&hash_secret("state-1")).await.unwrap(),
            None
        );
        let found = store
            .get_link_session_by_state(&hash_secret("state-2"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.status, LinkStatus::Authorizing);
        assert_eq!(found.chosen_vendor, Some(vendor("TESLA")));
        assert_eq!(found.pkce_verifier.unwrap().as_stored(), "w");
    }

    async fn a_link_session_needs_an_existing_user(store: Arc<dyn Store>) {
        let c = stored_client(&store, "app").await;
        let err = store
            .insert_link_session(&session(&c.id, "nobody", "t"))
            .await
            .expect_err("no such user");
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    }

    async fn completing_a_link_stores_the_account_with_sealed_tokens_and_its_vehicles(store: Arc<dyn Store>) {
        let c = stored_client(&store, "app").await;
        let s = authorizing(&store, &c.id, "alice", "st").await;
        let cipher = cipher();
        let linked = store
            .complete_link(&completion(&s, &cipher, "access-secret", &["v1", "v2"]))
            .await
            .unwrap()
            .unwrap();
        assert!(!linked.relinked);
        assert_eq!(linked.vehicle_ids.len(), 2);

        let account = store
            .get_vendor_account(&c.id, &linked.account_id)
            .await
            .unwrap()
            .unwrap();
        assert!(account.is_valid);
        assert_eq!(account.vendor, vendor("SIM_AURORA"));
        assert_eq!(account.scopes, vec![Scope::ReadData, Scope::ControlCharging]);
        assert_eq!(account.meta, serde_json::json!({"region": "eu"}));
        assert!(!account.tokens.access_token.as_stored().contains("access-secret"));
        assert_eq!(
            account.tokens.access_token.open(&cipher).unwrap().expose(),
            "access-secret"
        );
        assert_eq!(
            store.list_vendor_accounts(&c.id, &user("alice")).await.unwrap(),
            vec![account.clone()]
        );

        let vehicle = store.get_vehicle(&c.id, &linked.vehicle_ids[0]).await.unwrap().unwrap();
        assert_eq!(vehicle.vendor_vehicle_id, "v1");
        assert_eq!(vehicle.user_id, user("alice"));
        assert_eq!(vehicle.information.vin.as_deref(), Some("VIN-v1"));
        assert_eq!(vehicle.model_capabilities, ModelCapabilities::full());
        assert_eq!(vehicle.vendor_meta, serde_json::json!({"slot": "v1"}));
        assert_eq!(vehicle.charge_state, ChargeState::default());
        assert!(vehicle.account_valid);
        assert_eq!(vehicle.scopes, account.scopes);
        assert!(vehicle.last_seen.is_some(), "lastSeen starts at the link");
        assert_eq!(vehicle.is_reachable, None, "unknown until the first read");
        assert!(vehicle.poll.requested, "a first read is due at once");

        let ended = store
            .get_link_session_by_state(&hash_secret("st"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ended.status, LinkStatus::Completed);
        assert_eq!(ended.pkce_verifier, None, "the verifier is dropped once used");
    }

    async fn a_link_session_completes_once_and_a_replay_writes_nothing(store: Arc<dyn Store>) {
        let c = stored_client(&store, "app").await;
        let s = authorizing(&store, &c.id, "alice", "st").await;
        let cipher = cipher();
        store
            .complete_link(&completion(&s, &cipher, "first", &["v1"]))
            .await
            .unwrap()
            .unwrap();
        let replay = store
            .complete_link(&completion(&s, &cipher, "second", &["v1", "v9"]))
            .await
            .unwrap();
        assert_eq!(replay, None);
        let accounts = store.list_vendor_accounts(&c.id, &user("alice")).await.unwrap();
        assert_eq!(accounts.len(), 1);
        assert_eq!(accounts[0].tokens.access_token.open(&cipher).unwrap().expose(), "first");
        let vehicles = store.list_vehicles(&c.id, None, &PageRequest::first(50)).await.unwrap();
        assert_eq!(vehicles.items.len(), 1, "the replay added no vehicle");
    }

    async fn an_expired_link_session_can_neither_begin_nor_complete(store: Arc<dyn Store>) {
        let c = stored_client(&store, "app").await;
        let s = authorizing(&store, &c.id, "alice", "st").await;
        let later = s.expires_at + Duration::seconds(1);
        assert!(!store
            .begin_authorization(
                &s.id,
                &vendor("TESLA"),
                &hash_secret("x"),
                &SealedToken::from_stored("v"),
                later
            )
            .await
            .unwrap());
        let mut late = completion(&s, &cipher(), "a", &["v1"]);
        late.now = later;
        assert_eq!(store.complete_link(&late).await.unwrap(), None);
        assert!(store
            .list_vendor_accounts(&c.id, &user("alice"))
            .await
            .unwrap()
            .is_empty());
    }

    async fn a_failed_link_session_is_over(store: Arc<dyn Store>) {
        let c = stored_client(&store, "app").await;
        let s = authorizing(&store, &c.id, "alice", "st").await;
        assert!(store
            .fail_link_session(&s.id, "access_denied", time::now())
            .await
            .unwrap());
        assert!(
            !store.fail_link_session(&s.id, "expired", time::now()).await.unwrap(),
            "only once"
        );
        let ended = store
            .get_link_session_by_state(&hash_secret("st"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ended.status, LinkStatus::Failed);
        assert_eq!(ended.error.as_deref(), Some("access_denied"));
        assert!(ended.finished_at.is_some());
        assert_eq!(
            store
                .complete_link(&completion(&s, &cipher(), "a", &["v1"]))
                .await
                .unwrap(),
            None
        );
        assert!(!store
            .begin_authorization(
                &s.id,
                &vendor("TESLA"),
                &hash_secret("x"),
                &SealedToken::from_stored("v"),
                time::now()
            )
            .await
            .unwrap());
    }

    async fn a_second_account_at_the_same_maker_is_a_new_account_and_keeps_the_firsts_vehicles(store: Arc<dyn Store>) {
        let c = stored_client(&store, "app").await;
        let cipher = cipher();
        let link = |state: &'static str, account: &'static str, vehicles: &'static [&'static str]| {
            let store = store.clone();
            let client = c.id.clone();
            let cipher = cipher.clone();
            async move {
                let s = authorizing(&store, &client, "alice", state).await;
                let mut done = completion(&s, &cipher, state, vehicles);
                done.account_ref = Some(account.to_owned());
                store.complete_link(&done).await.unwrap().unwrap()
            }
        };
        let hers = link("s1", "maker-user-1", &["v1"]).await;
        let his = link("s2", "maker-user-2", &["v2"]).await;
        assert!(
            !his.relinked,
            "another person's account at the same maker is not a relink"
        );
        assert_ne!(his.account_id, hers.account_id);
        assert!(
            store.get_vehicle(&c.id, &hers.vehicle_ids[0]).await.unwrap().is_some(),
            "her car stays"
        );
        assert_eq!(
            store.list_vendor_accounts(&c.id, &user("alice")).await.unwrap().len(),
            2
        );
        // The same maker account linked again is a relink, whatever vehicles it lists now.
        let again = link("s3", "maker-user-1", &["v3"]).await;
        assert!(again.relinked);
        assert_eq!(again.account_id, hers.account_id);
        assert!(
            store.get_vehicle(&c.id, &his.vehicle_ids[0]).await.unwrap().is_some(),
            "his car stays"
        );
        assert_eq!(
            store.list_vendor_accounts(&c.id, &user("alice")).await.unwrap().len(),
            2
        );
    }

    async fn without_the_makers_identity_a_relink_is_recognised_only_when_no_vehicle_would_be_lost(
        store: Arc<dyn Store>,
    ) {
        let c = stored_client(&store, "app").await;
        let first = linked(&store, &c.id, "alice", &["v1", "v2"]).await;
        // Every vehicle listed again (and one more): the same account.
        let again = linked(&store, &c.id, "alice", &["v1", "v2", "v3"]).await;
        assert!(again.relinked);
        assert_eq!(again.account_id, first.account_id);
        // A listing without v1 may be another person's account sharing v2: a new account, and
        // nothing of the first is lost.
        let other = linked(&store, &c.id, "alice", &["v2", "v4"]).await;
        assert!(!other.relinked);
        assert_ne!(other.account_id, first.account_id);
        for id in &again.vehicle_ids {
            assert!(store.get_vehicle(&c.id, id).await.unwrap().is_some(), "{id} stays");
        }
        assert_eq!(
            store.list_vendor_accounts(&c.id, &user("alice")).await.unwrap().len(),
            2
        );
    }

    async fn relinking_keeps_vehicle_ids_drops_vanished_vehicles_and_resolves_the_intervention(store: Arc<dyn Store>) {
        let c = stored_client(&store, "app").await;
        let s = authorizing(&store, &c.id, "alice", "first").await;
        let mut done = completion(&s, &cipher(), "access", &["v1", "v2"]);
        done.account_ref = Some("maker-account-1".into());
        let first = store.complete_link(&done).await.unwrap().unwrap();
        let account = store
            .get_vendor_account(&c.id, &first.account_id)
            .await
            .unwrap()
            .unwrap();
        assert!(store.invalidate_account(&relink_intervention(&account)).await.unwrap());

        let s = authorizing(&store, &c.id, "alice", "again").await;
        let cipher = cipher();
        // The maker says it is the same account (as it did when it was first linked), so a vehicle
        // it no longer lists is gone.
        let mut again = completion(&s, &cipher, "new-access", &["v2", "v3"]);
        again.account_ref = Some("maker-account-1".into());
        let second = store.complete_link(&again).await.unwrap().unwrap();
        assert!(second.relinked);
        assert_eq!(second.account_id, first.account_id, "the same account");
        assert_eq!(second.vehicle_ids[0], first.vehicle_ids[1], "v2 keeps its id");
        assert_eq!(
            store.get_vehicle(&c.id, &first.vehicle_ids[0]).await.unwrap(),
            None,
            "v1 is gone"
        );

        let account = store
            .get_vendor_account(&c.id, &first.account_id)
            .await
            .unwrap()
            .unwrap();
        assert!(account.is_valid);
        assert_eq!(account.intervention_id, None);
        assert!(account.token_version > 1);
        assert_eq!(
            account.tokens.access_token.open(&cipher).unwrap().expose(),
            "new-access"
        );
        let open = store
            .list_interventions(&c.id, false, &PageRequest::first(50))
            .await
            .unwrap();
        assert!(open.items.is_empty(), "the intervention is resolved");
        let all = store
            .list_interventions(&c.id, true, &PageRequest::first(50))
            .await
            .unwrap();
        assert_eq!(all.items.len(), 1);
        assert!(all.items[0].resolved_at.is_some());
    }

    async fn a_client_never_sees_another_clients_vehicles_accounts_or_interventions(store: Arc<dyn Store>) {
        let owner = stored_client(&store, "owner").await;
        let other = stored_client(&store, "other").await;
        let linked = linked(&store, &owner.id, "alice", &["v1"]).await;
        let account = store
            .get_vendor_account(&owner.id, &linked.account_id)
            .await
            .unwrap()
            .unwrap();
        let intervention = relink_intervention(&account);
        store.invalidate_account(&intervention).await.unwrap();
        store.upsert_user(&other.id, &user("alice")).await.unwrap();

        let vehicle = &linked.vehicle_ids[0];
        assert_eq!(store.get_vehicle(&other.id, vehicle).await.unwrap(), None);
        assert!(!store.request_vehicle_poll(&other.id, vehicle).await.unwrap());
        assert!(store
            .list_vehicles(&other.id, None, &PageRequest::first(50))
            .await
            .unwrap()
            .items
            .is_empty());
        assert!(store
            .list_vehicles(&other.id, Some(&user("alice")), &PageRequest::first(50))
            .await
            .unwrap()
            .items
            .is_empty());
        assert_eq!(
            store.get_vendor_account(&other.id, &linked.account_id).await.unwrap(),
            None
        );
        assert!(store
            .list_vendor_accounts(&other.id, &user("alice"))
            .await
            .unwrap()
            .is_empty());
        assert!(!store
            .delete_vendor_account(&other.id, &user("alice"), &vendor("SIM_AURORA"))
            .await
            .unwrap());
        assert!(!store
            .claim_token_refresh(&other.id, &linked.account_id, time::now(), time::now())
            .await
            .unwrap());
        assert_eq!(store.get_intervention(&other.id, &intervention.id).await.unwrap(), None);
        assert!(store
            .list_interventions(&other.id, true, &PageRequest::first(50))
            .await
            .unwrap()
            .items
            .is_empty());
        assert!(
            store.get_vehicle(&owner.id, vehicle).await.unwrap().is_some(),
            "still there for its owner"
        );
    }

    async fn vehicles_page_newest_first_and_can_be_narrowed_to_one_user(store: Arc<dyn Store>) {
        let c = stored_client(&store, "app").await;
        let alice = linked(&store, &c.id, "alice", &["a1", "a2", "a3"]).await;
        let bob = linked(&store, &c.id, "bob", &["b1"]).await;
        let ids = |page: &coupler_core::Page<coupler_core::Vehicle>| {
            page.items
                .iter()
                .map(|v| v.vendor_vehicle_id.clone())
                .collect::<Vec<_>>()
        };
        let everyone = store.list_vehicles(&c.id, None, &PageRequest::first(50)).await.unwrap();
        assert_eq!(ids(&everyone), ["b1", "a3", "a2", "a1"]);

        let first = store
            .list_vehicles(&c.id, Some(&user("alice")), &PageRequest::first(2))
            .await
            .unwrap();
        assert_eq!(ids(&first), ["a3", "a2"]);
        let second = store
            .list_vehicles(
                &c.id,
                Some(&user("alice")),
                &PageRequest {
                    size: 2,
                    cursor: Some(Cursor::After(first.after.clone().unwrap())),
                },
            )
            .await
            .unwrap();
        assert_eq!(ids(&second), ["a1"]);
        assert_eq!(second.after, None);
        let back = store
            .list_vehicles(
                &c.id,
                Some(&user("alice")),
                &PageRequest {
                    size: 2,
                    cursor: Some(Cursor::Before(second.before.clone().unwrap())),
                },
            )
            .await
            .unwrap();
        assert_eq!(ids(&back), ["a3", "a2"]);
        assert_eq!(alice.vehicle_ids.len(), 3);
        assert_eq!(bob.vehicle_ids.len(), 1);
    }

    /// Saves a poll that puts the next read `wait` away, held (or not) against on-demand reads.
    async fn schedule(store: &Arc<dyn Store>, client: &ClientId, id: &VehicleId, wait: Duration, hold: bool) {
        let vehicle = store.get_vehicle(client, id).await.unwrap().unwrap();
        let mut poll = vehicle.poll.clone();
        poll.next_poll_at = time::now() + wait;
        poll.not_before = hold.then_some(poll.next_poll_at);
        poll.requested = false;
        let update = coupler_core::polling::PollUpdate {
            charge_state: None,
            location: None,
            last_seen: None,
            is_reachable: None,
            poll,
        };
        assert!(store.save_poll(client, id, &update).await.unwrap());
    }

    async fn a_refresh_hint_brings_the_next_read_forward_unless_the_maker_asked_to_wait(store: Arc<dyn Store>) {
        let c = stored_client(&store, "app").await;
        let linked = linked(&store, &c.id, "alice", &["v1", "v2"]).await;
        let (free, held) = (&linked.vehicle_ids[0], &linked.vehicle_ids[1]);
        schedule(&store, &c.id, free, Duration::hours(1), false).await;
        schedule(&store, &c.id, held, Duration::hours(1), true).await;

        assert!(store.request_vehicle_poll(&c.id, free).await.unwrap());
        assert!(store.request_vehicle_poll(&c.id, held).await.unwrap());
        assert!(!store
            .request_vehicle_poll(&c.id, &VehicleId::new("nope"))
            .await
            .unwrap());

        let free = store.get_vehicle(&c.id, free).await.unwrap().unwrap();
        assert!(free.poll.requested);
        assert!(free.poll.next_poll_at <= time::now());
        let held = store.get_vehicle(&c.id, held).await.unwrap().unwrap();
        assert!(held.poll.requested);
        assert!(
            held.poll.next_poll_at > time::now() + Duration::minutes(59),
            "a maker's Retry-After outranks a hint"
        );
    }

    async fn a_due_vehicle_is_claimed_by_one_poller_until_its_poll_is_saved(store: Arc<dyn Store>) {
        let c = stored_client(&store, "app").await;
        let linked = linked(&store, &c.id, "alice", &["v1", "v2"]).await;
        schedule(&store, &c.id, &linked.vehicle_ids[1], Duration::hours(1), false).await;
        let now = time::now();
        let lease = now + Duration::minutes(1);

        let claimed = store.claim_due_vehicles(now, lease, 10).await.unwrap();
        assert_eq!(claimed.len(), 1, "only the due vehicle");
        assert_eq!(claimed[0].id, linked.vehicle_ids[0]);
        assert!(
            store.claim_due_vehicles(now, lease, 10).await.unwrap().is_empty(),
            "a second poller gets nothing while the lease runs"
        );
        assert_eq!(
            store
                .claim_due_vehicles(lease, lease + Duration::minutes(1), 10)
                .await
                .unwrap()
                .len(),
            1,
            "an expired lease (a crashed poller) frees the vehicle"
        );

        // Saving the poll releases the lease.
        schedule(&store, &c.id, &linked.vehicle_ids[0], Duration::seconds(-1), false).await;
        assert_eq!(store.claim_due_vehicles(time::now(), lease, 10).await.unwrap().len(), 1);

        // Vehicles on an invalid account are not polled.
        schedule(&store, &c.id, &linked.vehicle_ids[0], Duration::seconds(-1), false).await;
        let account = store
            .get_vendor_account(&c.id, &linked.account_id)
            .await
            .unwrap()
            .unwrap();
        store.invalidate_account(&relink_intervention(&account)).await.unwrap();
        assert!(store
            .claim_due_vehicles(time::now(), lease, 10)
            .await
            .unwrap()
            .is_empty());
    }

    async fn a_saved_read_keeps_the_car_s_charging_power_once_per_reading_for_telemetry(store: Arc<dyn Store>) {
        use chrono::SubsecRound;
        let c = stored_client(&store, "app").await;
        let linked = linked(&store, &c.id, "alice", &["v1"]).await;
        let id = &linked.vehicle_ids[0];
        let at = time::now().trunc_subsecs(3) - Duration::hours(1);
        for (minutes, rate, charging) in [(0, Some(11.0), Some(true)), (15, None, Some(false))] {
            let read_at = at + Duration::minutes(minutes);
            let vehicle = store.get_vehicle(&c.id, id).await.unwrap().unwrap();
            let update = coupler_core::polling::PollUpdate {
                charge_state: Some(ChargeState {
                    battery_level: Some(50.0),
                    charge_rate: rate,
                    is_charging: charging,
                    last_updated: Some(read_at),
                    ..ChargeState::default()
                }),
                location: None,
                last_seen: Some(read_at),
                is_reachable: Some(true),
                poll: vehicle.poll.clone(),
            };
            // Read twice (the maker had nothing newer): kept once.
            assert!(store.save_poll(&c.id, id, &update).await.unwrap());
            assert!(store.save_poll(&c.id, id, &update).await.unwrap());
        }
        let readings = store.vehicle_readings(id, at, at + Duration::hours(1)).await.unwrap();
        let seen: Vec<_> = readings
            .iter()
            .map(|r| (r.at, r.charge_rate_kw, r.is_charging))
            .collect();
        assert_eq!(
            seen,
            vec![
                (at, Some(11.0), Some(true)),
                (at + Duration::minutes(15), None, Some(false))
            ]
        );
        // The last reading before a span holds into it, so it comes along.
        let later = store
            .vehicle_readings(id, at + Duration::minutes(10), at + Duration::hours(1))
            .await
            .unwrap();
        assert_eq!(later.len(), 2);
        assert_eq!(later[0].at, at);
        assert!(store
            .vehicle_readings(&VehicleId::new("nope"), at, at + Duration::hours(1))
            .await
            .unwrap()
            .is_empty());
    }

    async fn a_saved_poll_updates_state_and_keeps_what_the_read_did_not_bring(store: Arc<dyn Store>) {
        let c = stored_client(&store, "app").await;
        let linked = linked(&store, &c.id, "alice", &["v1"]).await;
        let id = &linked.vehicle_ids[0];
        let before = store.get_vehicle(&c.id, id).await.unwrap().unwrap();
        let policy = PollPolicy::default();
        let now = time::now();
        let read = Ok(VehicleSnapshot {
            charge_state: ChargeState {
                battery_level: Some(61.0),
                power_delivery_state: Some(PowerDeliveryState::Charging),
                charge_rate: Some(11.0),
                ..ChargeState::default()
            },
            location: Some(coupler_core::vehicle::Location {
                latitude: Some(59.9),
                longitude: Some(10.7),
                last_updated: None,
            }),
        });
        let update = policy.after_read(&before.charge_state, &before.poll, &read, now);
        assert!(store.save_poll(&c.id, id, &update).await.unwrap());
        let after = store.get_vehicle(&c.id, id).await.unwrap().unwrap();
        assert_eq!(after.charge_state.battery_level, Some(61.0));
        assert_eq!(after.charge_state.is_charging, Some(true));
        assert_eq!(after.location.latitude, Some(59.9));
        assert_eq!(after.last_seen, Some(now));
        assert_eq!(after.is_reachable, Some(true));
        assert_eq!(after.poll, update.poll);

        // A sleeping car: unreachable, but what was read before stays.
        let asleep = policy.after_read(
            &after.charge_state,
            &after.poll,
            &Err(coupler_core::AdapterError::Asleep("408".into())),
            now + Duration::minutes(5),
        );
        store.save_poll(&c.id, id, &asleep).await.unwrap();
        let slept = store.get_vehicle(&c.id, id).await.unwrap().unwrap();
        assert_eq!(slept.is_reachable, Some(false));
        assert_eq!(slept.charge_state, after.charge_state);
        assert_eq!(slept.location, after.location);
        assert_eq!(slept.last_seen, Some(now), "lastSeen is the last live data");
        assert!(!store.save_poll(&c.id, &VehicleId::new("nope"), &asleep).await.unwrap());
    }

    async fn tokens_are_replaced_only_over_the_version_the_refresh_started_from(store: Arc<dyn Store>) {
        let c = stored_client(&store, "app").await;
        let linked = linked(&store, &c.id, "alice", &["v1"]).await;
        let account = store
            .get_vendor_account(&c.id, &linked.account_id)
            .await
            .unwrap()
            .unwrap();
        let cipher = cipher();
        let new = tokens(&cipher, "refreshed");
        assert!(store
            .replace_tokens(&c.id, &account.id, account.token_version, &new, time::now())
            .await
            .unwrap());
        assert!(
            !store
                .replace_tokens(
                    &c.id,
                    &account.id,
                    account.token_version,
                    &tokens(&cipher, "stale"),
                    time::now()
                )
                .await
                .unwrap(),
            "a refresh that started from old tokens cannot overwrite newer ones"
        );
        let stored = store.get_vendor_account(&c.id, &account.id).await.unwrap().unwrap();
        assert_eq!(stored.token_version, account.token_version + 1);
        assert_eq!(stored.tokens, new, "access and refresh token were replaced together");
        assert!(!store
            .replace_tokens(&c.id, &VendorAccountId::new("nope"), 1, &new, time::now())
            .await
            .unwrap());
    }

    async fn only_one_holder_may_refresh_an_accounts_tokens_at_a_time(store: Arc<dyn Store>) {
        let c = stored_client(&store, "app").await;
        let linked = linked(&store, &c.id, "alice", &["v1"]).await;
        let id = &linked.account_id;
        let now = time::now();
        let soon = now + Duration::hours(2);
        let due = store.accounts_due_for_refresh(soon, now, 10).await.unwrap();
        assert_eq!(due.len(), 1, "expires within the window");
        assert!(store.accounts_due_for_refresh(now, now, 10).await.unwrap().is_empty());

        let lease = now + Duration::seconds(60);
        assert!(store.claim_token_refresh(&c.id, id, now, lease).await.unwrap());
        assert!(!store.claim_token_refresh(&c.id, id, now, lease).await.unwrap());
        assert!(
            store.accounts_due_for_refresh(soon, now, 10).await.unwrap().is_empty(),
            "a leased account is not offered to another refresher"
        );
        assert!(
            store
                .claim_token_refresh(&c.id, id, lease, lease + Duration::seconds(60))
                .await
                .unwrap(),
            "an expired lease can be taken over"
        );
        store.release_token_refresh(&c.id, id).await.unwrap();
        assert!(store.claim_token_refresh(&c.id, id, now, lease).await.unwrap());
    }

    async fn invalidating_an_account_raises_one_intervention_and_makes_its_vehicles_unreachable(store: Arc<dyn Store>) {
        let c = stored_client(&store, "app").await;
        let linked = linked(&store, &c.id, "alice", &["v1", "v2"]).await;
        let account = store
            .get_vendor_account(&c.id, &linked.account_id)
            .await
            .unwrap()
            .unwrap();
        let first = relink_intervention(&account);
        assert!(store.invalidate_account(&first).await.unwrap());
        assert!(
            !store.invalidate_account(&relink_intervention(&account)).await.unwrap(),
            "a second refusal raises no second intervention"
        );

        let account = store
            .get_vendor_account(&c.id, &linked.account_id)
            .await
            .unwrap()
            .unwrap();
        assert!(!account.is_valid);
        assert_eq!(account.intervention_id, Some(first.id.clone()));
        for id in &linked.vehicle_ids {
            let vehicle = store.get_vehicle(&c.id, id).await.unwrap().unwrap();
            assert_eq!(vehicle.is_reachable, Some(false));
            assert!(!vehicle.account_valid);
            assert_eq!(vehicle.account_intervention, Some(first.id.clone()));
        }
        let open = store
            .list_interventions(&c.id, false, &PageRequest::first(50))
            .await
            .unwrap();
        assert_eq!(open.items, vec![first.clone()]);
        assert_eq!(store.get_intervention(&c.id, &first.id).await.unwrap(), Some(first));
        assert!(
            store
                .accounts_due_for_refresh(time::now() + Duration::days(1), time::now(), 10)
                .await
                .unwrap()
                .is_empty(),
            "an invalid account is not refreshed"
        );
    }

    async fn deleting_a_vendor_account_removes_its_vehicles_and_interventions(store: Arc<dyn Store>) {
        let c = stored_client(&store, "app").await;
        let linked = linked(&store, &c.id, "alice", &["v1"]).await;
        let account = store
            .get_vendor_account(&c.id, &linked.account_id)
            .await
            .unwrap()
            .unwrap();
        store.invalidate_account(&relink_intervention(&account)).await.unwrap();

        assert!(store
            .delete_vendor_account(&c.id, &user("alice"), &vendor("SIM_AURORA"))
            .await
            .unwrap());
        assert!(!store
            .delete_vendor_account(&c.id, &user("alice"), &vendor("SIM_AURORA"))
            .await
            .unwrap());
        assert_eq!(store.get_vehicle(&c.id, &linked.vehicle_ids[0]).await.unwrap(), None);
        assert!(store
            .list_interventions(&c.id, true, &PageRequest::first(50))
            .await
            .unwrap()
            .items
            .is_empty());
        assert!(
            store.get_user(&c.id, &user("alice")).await.unwrap().is_some(),
            "the user stays"
        );
    }

    async fn deleting_a_user_removes_its_accounts_vehicles_and_link_sessions(store: Arc<dyn Store>) {
        let c = stored_client(&store, "app").await;
        let linked = linked(&store, &c.id, "alice", &["v1"]).await;
        let pending = session(&c.id, "alice", "pending-token");
        store.insert_link_session(&pending).await.unwrap();

        assert!(store.delete_user(&c.id, &user("alice")).await.unwrap());
        assert_eq!(store.get_vehicle(&c.id, &linked.vehicle_ids[0]).await.unwrap(), None);
        assert_eq!(store.get_vendor_account(&c.id, &linked.account_id).await.unwrap(), None);
        assert_eq!(
            store
                .get_link_session_by_token(&hash_secret("pending-token"))
                .await
                .unwrap(),
            None
        );
    }
}

fn event<'a>(
    transaction: &'a str,
    seq_no: i64,
    kind: TransactionEventKind,
    at: chrono::DateTime<chrono::Utc>,
    samples: &'a [MeterSample],
) -> TransactionEventRecord<'a> {
    TransactionEventRecord {
        charger_transaction_id: transaction,
        seq_no,
        kind,
        at,
        offline: false,
        connector_id: Some(1),
        id_tag: None,
        remote_start_id: None,
        stop_reason: (kind == TransactionEventKind::Ended).then_some("EVDisconnected"),
        samples,
        connector_state: Some(("Charging", coupler_core::PowerDeliveryState::Charging)),
    }
}

async fn a_2_0_1_transaction_runs_from_started_to_ended_under_coupler_s_own_session_id(store: Arc<dyn Store>) {
    let c = stored_client(&store, "a").await;
    let charger = registered_charger(&store, &c.id, "alice", "CP-1").await;
    let t0 = time::now();
    let begin = [energy(1000.0, t0)];
    let started = TransactionEventRecord {
        id_tag: Some("VID:92D50A693F80"),
        remote_start_id: Some(7),
        ..event("tx-a", 0, TransactionEventKind::Started, t0, &begin)
    };
    let first = store.record_transaction_event(&charger.id, &started).await.unwrap();
    assert!(first.created && first.newest && !first.duplicate);
    assert!(first.transaction_id > 0);
    let middle = [energy(3000.0, t0 + Duration::minutes(10))];
    let updated = store
        .record_transaction_event(
            &charger.id,
            &event(
                "tx-a",
                1,
                TransactionEventKind::Updated,
                t0 + Duration::minutes(10),
                &middle,
            ),
        )
        .await
        .unwrap();
    assert_eq!(updated.transaction_id, first.transaction_id);
    let running = store.active_session(&charger.id).await.unwrap().unwrap();
    assert_eq!(running.energy_kwh(), 2.0);
    assert_eq!(
        store
            .charger_transaction_id(&charger.id, first.transaction_id)
            .await
            .unwrap()
            .as_deref(),
        Some("tx-a")
    );
    let end = [energy(5500.0, t0 + Duration::minutes(20))];
    store
        .record_transaction_event(
            &charger.id,
            &event("tx-a", 2, TransactionEventKind::Ended, t0 + Duration::minutes(20), &end),
        )
        .await
        .unwrap();
    assert_eq!(store.active_session(&charger.id).await.unwrap(), None);
    let sessions = store
        .list_sessions(&c.id, &charger.id, &PageRequest::first(10))
        .await
        .unwrap()
        .unwrap();
    let session = &sessions.items[0];
    assert_eq!(session.transaction_id, first.transaction_id);
    assert_eq!(session.energy_kwh(), 4.5);
    assert_eq!(session.id_tag.as_deref(), Some("VID:92D50A693F80"));
    assert_eq!(session.stop_reason.as_deref(), Some("EVDisconnected"));
    let read = store.charger(&charger.id).await.unwrap().unwrap();
    assert_eq!(read.meter.energy_wh, Some(5500.0));
}

async fn a_repeated_transaction_event_seq_no_changes_nothing(store: Arc<dyn Store>) {
    let c = stored_client(&store, "a").await;
    let charger = registered_charger(&store, &c.id, "alice", "CP-1").await;
    let t0 = time::now();
    let started = event("tx-b", 0, TransactionEventKind::Started, t0, &[]);
    let first = store.record_transaction_event(&charger.id, &started).await.unwrap();
    let ended = event("tx-b", 1, TransactionEventKind::Ended, t0 + Duration::minutes(5), &[]);
    store.record_transaction_event(&charger.id, &ended).await.unwrap();
    let retry = TransactionEventRecord {
        stop_reason: Some("Other"),
        ..ended.clone()
    };
    let again = store.record_transaction_event(&charger.id, &retry).await.unwrap();
    assert!(again.duplicate && !again.newest);
    assert_eq!(again.transaction_id, first.transaction_id);
    let sessions = store
        .list_sessions(&c.id, &charger.id, &PageRequest::first(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sessions.items.len(), 1);
    assert_eq!(sessions.items[0].stop_reason.as_deref(), Some("EVDisconnected"));
}

async fn offline_events_arriving_out_of_order_still_give_the_right_start_and_stop(store: Arc<dyn Store>) {
    let c = stored_client(&store, "a").await;
    let charger = registered_charger(&store, &c.id, "alice", "CP-1").await;
    let t0 = time::now() - Duration::hours(2);
    let middle = [energy(2000.0, t0 + Duration::minutes(30))];
    let late_update = TransactionEventRecord {
        offline: true,
        ..event(
            "tx-c",
            2,
            TransactionEventKind::Updated,
            t0 + Duration::minutes(30),
            &middle,
        )
    };
    let first = store.record_transaction_event(&charger.id, &late_update).await.unwrap();
    assert!(first.created);
    let begin = [energy(500.0, t0)];
    let started = TransactionEventRecord {
        offline: true,
        ..event("tx-c", 0, TransactionEventKind::Started, t0, &begin)
    };
    let outcome = store.record_transaction_event(&charger.id, &started).await.unwrap();
    assert!(!outcome.newest, "an older event does not set the current state");
    let stopped = TransactionEventRecord {
        connector_state: Some(("SuspendedEV", coupler_core::PowerDeliveryState::Stopped)),
        ..event("tx-c", 1, TransactionEventKind::Updated, t0 + Duration::minutes(5), &[])
    };
    store.record_transaction_event(&charger.id, &stopped).await.unwrap();
    let read = store.charger(&charger.id).await.unwrap().unwrap();
    assert_eq!(
        read.connectors[0].power_delivery_state,
        coupler_core::PowerDeliveryState::Charging,
        "a late event leaves the newest state"
    );
    let older = [energy(1000.0, t0 + Duration::minutes(10))];
    store
        .record_transaction_event(
            &charger.id,
            &event(
                "tx-c",
                1,
                TransactionEventKind::Updated,
                t0 + Duration::minutes(10),
                &older,
            ),
        )
        .await
        .unwrap();
    let running = store.active_session(&charger.id).await.unwrap().unwrap();
    assert_eq!(running.started_at, started.at);
    assert_eq!(running.meter_start_wh, 500.0);
    assert_eq!(
        running.meter_last_wh, 2000.0,
        "a late, lower reading does not lower the register"
    );
    let read = store.charger(&charger.id).await.unwrap().unwrap();
    assert_eq!(read.meter.energy_wh, Some(2000.0));
}

async fn an_event_for_a_transaction_never_started_creates_its_session(store: Arc<dyn Store>) {
    let c = stored_client(&store, "a").await;
    let charger = registered_charger(&store, &c.id, "alice", "CP-1").await;
    let t0 = time::now();
    let end = [energy(900.0, t0)];
    let outcome = store
        .record_transaction_event(&charger.id, &event("tx-d", 5, TransactionEventKind::Ended, t0, &end))
        .await
        .unwrap();
    assert!(outcome.created);
    let sessions = store
        .list_sessions(&c.id, &charger.id, &PageRequest::first(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sessions.items.len(), 1);
    assert!(!sessions.items[0].is_active());
    assert_eq!(sessions.items[0].meter_stop_wh, Some(900.0));
}

/// The event outbox and webhook deliveries.
mod events {
    use std::sync::Arc;

    use coupler_core::event::{AttemptOutcome, DeliveryState, EventFilter, EventType, Webhook, WebhookId};
    use coupler_core::store::AfterAttempt;
    use coupler_core::{time, Store};

    use super::{energy, registered_charger, status, stored_client, user};

    coupler_store::on_both_backends!(
        a_change_writes_its_event_in_the_same_transaction_and_publishing_numbers_them_in_order,
        a_change_that_shows_nothing_new_writes_no_event,
        meter_values_write_one_event_only_when_rate_or_session_energy_change,
        deleting_a_user_writes_the_deletion_events_of_its_chargers_before_they_go,
        a_clients_events_are_never_read_by_another_client,
        a_webhook_batch_moves_the_cursor_once_and_a_retry_resends_the_same_events,
        giving_up_deactivates_the_webhook_and_a_success_resets_its_failures,
        a_leased_webhook_is_not_claimed_by_a_second_node_until_the_lease_runs_out,
        pruning_removes_old_events_but_keeps_each_assets_latest_and_everything_recent,
        an_ev_system_raises_updated_activated_and_deactivated_events_with_its_devices_and_a_repeat_raises_none,
        the_backlog_and_the_heartbeat_counts_are_per_client_and_leave_out_paused_webhooks,
    );

    async fn the_backlog_and_the_heartbeat_counts_are_per_client_and_leave_out_paused_webhooks(store: Arc<dyn Store>) {
        let a = stored_client(&store, "a").await;
        let b = stored_client(&store, "b").await;
        let charger = registered_charger(&store, &a.id, "alice", "CP-E9").await;
        store
            .update_charger(&a.id, &charger.id, Some(Some("one")), None)
            .await
            .unwrap();
        assert!(store.backlog().await.unwrap().unpublished_events >= 2);
        publish_all(&store).await;
        let a_events = i64::try_from(store.events_after(&a.id, 0, 100).await.unwrap().len()).unwrap();
        assert!(a_events >= 2);

        let hook_a = webhook(&a.id, EventFilter::all(), 0);
        let hook_b = webhook(&b.id, EventFilter::all(), 0);
        let mut paused = webhook(&a.id, EventFilter::all(), 0);
        paused.is_active = false;
        for hook in [&hook_a, &hook_b, &paused] {
            store.insert_webhook(hook).await.unwrap();
        }
        let backlog = store.backlog().await.unwrap();
        assert_eq!(backlog.unpublished_events, 0);
        assert_eq!(
            backlog.undelivered_events, a_events,
            "b's webhook waits for nothing; the paused one is left out"
        );
        assert_eq!(backlog.pending_deliveries, 0);
        let mut active: Vec<(WebhookId, i64)> = store
            .active_webhooks()
            .await
            .unwrap()
            .into_iter()
            .map(|(hook, pending)| (hook.id, pending))
            .collect();
        active.sort();
        let mut expected = vec![(hook_a.id.clone(), a_events), (hook_b.id.clone(), 0)];
        expected.sort();
        assert_eq!(active, expected);

        let now = time::now();
        let delivery = store.next_delivery(&hook_a, 100, now).await.unwrap().unwrap();
        store
            .record_attempt(&delivery.id, &failed(), AfterAttempt::RetryAt(now), now)
            .await
            .unwrap();
        let backlog = store.backlog().await.unwrap();
        assert_eq!(backlog.undelivered_events, 0, "the batch was given to the webhook");
        assert_eq!(backlog.pending_deliveries, 1);
        let pool = store.pool_usage();
        assert!(pool.max >= 1 && pool.idle <= pool.open, "{pool:?}");
    }

    async fn publish_all(store: &Arc<dyn Store>) {
        let pending = store.unpublished_events(1000).await.unwrap();
        let rendered: Vec<_> = pending
            .iter()
            .map(|e| {
                (
                    e.id,
                    serde_json::json!({"id": e.asset_id, "type": e.event_type.as_str()}),
                )
            })
            .collect();
        store.publish_events(&rendered).await.unwrap();
    }

    fn webhook(client: &coupler_core::ClientId, events: EventFilter, cursor_seq: i64) -> Webhook {
        let now = time::now();
        Webhook {
            id: WebhookId::generate(),
            client_id: client.clone(),
            url: "https://hooks.example.com/x".into(),
            secret_sealed: "sealed".into(),
            events,
            is_active: true,
            cursor_seq,
            failure_count: 0,
            last_success: None,
            created_at: now,
            updated_at: now,
        }
    }

    fn failed() -> AttemptOutcome {
        AttemptOutcome {
            status: Some(500),
            error: Some("the receiver answered 500".into()),
            duration: std::time::Duration::from_millis(12),
            succeeded: false,
        }
    }

    async fn a_change_writes_its_event_in_the_same_transaction_and_publishing_numbers_them_in_order(
        store: Arc<dyn Store>,
    ) {
        let c = stored_client(&store, "a").await;
        let charger = registered_charger(&store, &c.id, "alice", "CP-E1").await;
        store
            .update_charger(&c.id, &charger.id, Some(Some("Drive")), None)
            .await
            .unwrap();
        let pending = store.unpublished_events(10).await.unwrap();
        let kinds: Vec<_> = pending
            .iter()
            .map(|e| (e.event_type, e.updated_fields.clone()))
            .collect();
        assert_eq!(
            kinds,
            [
                (EventType::ChargerDiscovered, vec![]),
                (EventType::ChargerUpdated, vec!["name".to_owned()])
            ]
        );
        assert!(pending
            .iter()
            .all(|e| e.client_id == c.id && e.user_id == user("alice")));
        assert!(pending.iter().all(|e| e.asset_id == charger.id.as_str()));
        assert!(
            store.events_after(&c.id, 0, 10).await.unwrap().is_empty(),
            "not visible before publishing"
        );

        publish_all(&store).await;
        assert!(store.unpublished_events(10).await.unwrap().is_empty());
        let published = store.events_after(&c.id, 0, 10).await.unwrap();
        let seqs: Vec<i64> = published.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [1, 2]);
        assert_eq!(published[1].data["type"], "user:charger:updated");
        assert_eq!(store.latest_seq().await.unwrap(), 2);
        assert_eq!(
            store.events_after(&c.id, 1, 10).await.unwrap()[0].seq,
            2,
            "resumes after a seq"
        );
        assert_eq!(
            store.last_event_data(charger.id.as_str()).await.unwrap().unwrap()["type"],
            "user:charger:updated"
        );
    }

    async fn a_change_that_shows_nothing_new_writes_no_event(store: Arc<dyn Store>) {
        let c = stored_client(&store, "a").await;
        let charger = registered_charger(&store, &c.id, "alice", "CP-E2").await;
        publish_all(&store).await;
        store.record_status(&charger.id, &status(1, "Charging")).await.unwrap();
        store.record_status(&charger.id, &status(1, "Charging")).await.unwrap();
        store.set_max_current(&charger.id, Some(16.0)).await.unwrap();
        store.set_max_current(&charger.id, Some(16.0)).await.unwrap();
        store.record_seen(&charger.id, time::now()).await.unwrap();
        store
            .record_connection(
                &charger.id,
                Some(coupler_core::charger::OcppProtocol::V16),
                true,
                time::now(),
            )
            .await
            .unwrap();
        store
            .record_connection(
                &charger.id,
                Some(coupler_core::charger::OcppProtocol::V16),
                true,
                time::now(),
            )
            .await
            .unwrap();
        let pending = store.unpublished_events(10).await.unwrap();
        let fields: Vec<_> = pending.iter().map(|e| e.updated_fields.clone()).collect();
        assert_eq!(pending.len(), 3, "one per visible change: {fields:?}");
        assert!(fields[0].contains(&"connectors".to_owned()));
        assert_eq!(fields[1], ["chargeState.maxCurrent"]);
        assert!(fields[2].contains(&"isReachable".to_owned()));
    }

    async fn meter_values_write_one_event_only_when_rate_or_session_energy_change(store: Arc<dyn Store>) {
        let c = stored_client(&store, "a").await;
        let charger = registered_charger(&store, &c.id, "alice", "CP-E3").await;
        publish_all(&store).await;
        let power = |w: f64| coupler_core::charger::MeterSample {
            sampled_at: time::now(),
            measurand: "Power.Active.Import".into(),
            phase: None,
            unit: "W".into(),
            value: w,
            context: None,
        };
        store
            .record_meter_values(&charger.id, 1, None, &[power(7000.0), energy(1000.0, time::now())])
            .await
            .unwrap();
        store
            .record_meter_values(&charger.id, 1, None, &[power(7000.0)])
            .await
            .unwrap();
        store
            .record_meter_values(&charger.id, 1, None, &[power(3500.0)])
            .await
            .unwrap();
        let pending = store.unpublished_events(10).await.unwrap();
        assert_eq!(pending.len(), 2, "the repeated rate is not news");
        assert!(pending.iter().all(|e| e.event_type == EventType::ChargerUpdated));
        assert!(pending[0].updated_fields.contains(&"chargeState.chargeRate".to_owned()));
    }

    async fn deleting_a_user_writes_the_deletion_events_of_its_chargers_before_they_go(store: Arc<dyn Store>) {
        let c = stored_client(&store, "a").await;
        let charger = registered_charger(&store, &c.id, "alice", "CP-E4").await;
        let kept = registered_charger(&store, &c.id, "bob", "CP-E5").await;
        publish_all(&store).await;
        assert!(store.delete_user(&c.id, &user("alice")).await.unwrap());
        let pending = store.unpublished_events(10).await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].event_type, EventType::ChargerDeleted);
        assert_eq!(pending[0].asset_id, charger.id.as_str());
        assert_ne!(pending[0].asset_id, kept.id.as_str());
        assert!(store.delete_charger(&c.id, &kept.id).await.unwrap());
        let pending = store.unpublished_events(10).await.unwrap();
        assert_eq!(pending[1].event_type, EventType::ChargerDeleted);
        assert_eq!(pending[1].user_id, user("bob"));
    }

    async fn a_clients_events_are_never_read_by_another_client(store: Arc<dyn Store>) {
        let a = stored_client(&store, "a").await;
        let b = stored_client(&store, "b").await;
        registered_charger(&store, &a.id, "alice", "CP-E6").await;
        publish_all(&store).await;
        assert_eq!(store.events_after(&a.id, 0, 10).await.unwrap().len(), 1);
        assert!(store.events_after(&b.id, 0, 10).await.unwrap().is_empty());
        let theirs = webhook(&a.id, EventFilter::all(), 0);
        store.insert_webhook(&theirs).await.unwrap();
        assert_eq!(store.get_webhook(&b.id, &theirs.id).await.unwrap(), None);
        assert!(!store.delete_webhook(&b.id, &theirs.id).await.unwrap());
        assert_eq!(store.list_deliveries(&b.id, &theirs.id, 10).await.unwrap(), None);
        assert!(store.list_webhooks(&b.id).await.unwrap().is_empty());
    }

    async fn a_webhook_batch_moves_the_cursor_once_and_a_retry_resends_the_same_events(store: Arc<dyn Store>) {
        let c = stored_client(&store, "a").await;
        let charger = registered_charger(&store, &c.id, "alice", "CP-E7").await;
        store
            .update_charger(&c.id, &charger.id, Some(Some("one")), None)
            .await
            .unwrap();
        publish_all(&store).await;
        let only_updates = EventFilter::parse(&["user:charger:updated".into()]).unwrap();
        let hook = webhook(&c.id, only_updates, 0);
        store.insert_webhook(&hook).await.unwrap();
        let now = time::now();
        let delivery = store.next_delivery(&hook, 100, now).await.unwrap().unwrap();
        assert_eq!((delivery.first_seq, delivery.last_seq, delivery.event_count), (1, 2, 1));
        // A second node forming a batch from the same (stale) cursor forms none.
        assert_eq!(store.next_delivery(&hook, 100, now).await.unwrap(), None);
        let moved = store.get_webhook(&c.id, &hook.id).await.unwrap().unwrap();
        assert_eq!(moved.cursor_seq, 2);
        let events = store.delivery_events(&moved, &delivery).await.unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_type, EventType::ChargerUpdated);

        let retry_at = now + chrono::Duration::seconds(30);
        store
            .record_attempt(&delivery.id, &failed(), AfterAttempt::RetryAt(retry_at), now)
            .await
            .unwrap();
        let pending = store.pending_delivery(&hook.id).await.unwrap().unwrap();
        assert_eq!(pending.id, delivery.id);
        assert_eq!(pending.attempts, 1);
        assert_eq!(pending.last_status, Some(500));
        assert_eq!(pending.last_duration_ms, Some(12));
        assert_eq!(
            store.delivery_events(&moved, &pending).await.unwrap(),
            events,
            "the same events"
        );
        assert_eq!(
            store.get_webhook(&c.id, &hook.id).await.unwrap().unwrap().failure_count,
            1
        );
    }

    async fn giving_up_deactivates_the_webhook_and_a_success_resets_its_failures(store: Arc<dyn Store>) {
        let c = stored_client(&store, "a").await;
        registered_charger(&store, &c.id, "alice", "CP-E8").await;
        publish_all(&store).await;
        let hook = webhook(&c.id, EventFilter::all(), 0);
        store.insert_webhook(&hook).await.unwrap();
        let now = time::now();
        let delivery = store.next_delivery(&hook, 100, now).await.unwrap().unwrap();
        store
            .record_attempt(&delivery.id, &failed(), AfterAttempt::GiveUp, now)
            .await
            .unwrap();
        let dead = store.get_webhook(&c.id, &hook.id).await.unwrap().unwrap();
        assert!(!dead.is_active);
        assert_eq!(dead.failure_count, 1);
        let listed = store.list_deliveries(&c.id, &hook.id, 10).await.unwrap().unwrap();
        assert_eq!(listed[0].state, DeliveryState::Failed);
        assert_eq!(store.pending_delivery(&hook.id).await.unwrap(), None);

        store.record_test(&c.id, &hook.id, false, now).await.unwrap();
        assert!(!store.get_webhook(&c.id, &hook.id).await.unwrap().unwrap().is_active);
        store.record_test(&c.id, &hook.id, true, now).await.unwrap();
        let alive = store.get_webhook(&c.id, &hook.id).await.unwrap().unwrap();
        assert!(alive.is_active);
        assert_eq!(alive.failure_count, 0);
        assert!(alive.last_success.is_some());
    }

    async fn a_leased_webhook_is_not_claimed_by_a_second_node_until_the_lease_runs_out(store: Arc<dyn Store>) {
        let c = stored_client(&store, "a").await;
        let hook = webhook(&c.id, EventFilter::all(), 0);
        store.insert_webhook(&hook).await.unwrap();
        let now = time::now();
        let later = now + chrono::Duration::seconds(15);
        assert!(
            store.claim_webhooks(now, later, 10).await.unwrap().is_empty(),
            "nothing to deliver, nothing claimed"
        );
        registered_charger(&store, &c.id, "alice", "CP-E9").await;
        publish_all(&store).await;
        assert_eq!(store.claim_webhooks(now, later, 10).await.unwrap().len(), 1);
        assert!(
            store.claim_webhooks(now, later, 10).await.unwrap().is_empty(),
            "held by the first node"
        );
        let after_lease = later + chrono::Duration::seconds(1);
        assert_eq!(
            store
                .claim_webhooks(after_lease, after_lease + chrono::Duration::seconds(15), 10)
                .await
                .unwrap()
                .len(),
            1,
            "a crashed node's lease runs out"
        );
        store.release_webhook(&hook.id).await.unwrap();
        assert_eq!(store.claim_webhooks(now, later, 10).await.unwrap().len(), 1);
    }

    async fn pruning_removes_old_events_but_keeps_each_assets_latest_and_everything_recent(store: Arc<dyn Store>) {
        let c = stored_client(&store, "a").await;
        let first = registered_charger(&store, &c.id, "alice", "CP-P1").await;
        let second = registered_charger(&store, &c.id, "alice", "CP-P2").await;
        for name in ["one", "two"] {
            store
                .update_charger(&c.id, &first.id, Some(Some(name)), None)
                .await
                .unwrap();
        }
        store.record_status(&first.id, &status(1, "Charging")).await.unwrap();
        // Unpublished events are never pruned: they have not been delivered.
        assert_eq!(
            store
                .prune_events(time::now() + chrono::Duration::days(1))
                .await
                .unwrap(),
            0
        );
        publish_all(&store).await;
        assert_eq!(
            store
                .prune_events(time::now() - chrono::Duration::days(1))
                .await
                .unwrap(),
            0,
            "all recent"
        );
        let removed = store
            .prune_events(time::now() + chrono::Duration::days(1))
            .await
            .unwrap();
        assert_eq!(removed, 3, "the first charger's three older events");
        let kept = store.events_after(&c.id, 0, 10).await.unwrap();
        let kept: Vec<_> = kept.iter().map(|e| (e.asset_id.clone(), e.seq)).collect();
        assert_eq!(
            kept,
            [(second.id.as_str().to_owned(), 2), (first.id.as_str().to_owned(), 5)]
        );
    }

    async fn an_ev_system_raises_updated_activated_and_deactivated_events_with_its_devices_and_a_repeat_raises_none(
        store: Arc<dyn Store>,
    ) {
        use coupler_core::ev_system::Confidence;

        let c = stored_client(&store, "a").await;
        let account = super::vehicles::linked(&store, &c.id, "alice", &["v1"]).await;
        let charger = registered_charger(&store, &c.id, "alice", "CP-EVS").await;
        publish_all(&store).await;
        let pairs = store.establish_ev_systems(&c.id, &user("alice")).await.unwrap();
        let now = time::now();
        let vehicle = &account.vehicle_ids[0];
        store
            .activate_ev_system(&charger.id, vehicle, &[], Confidence::Medium, now)
            .await
            .unwrap();
        store
            .activate_ev_system(&charger.id, vehicle, &[], Confidence::Medium, now)
            .await
            .unwrap();
        store.deactivate_charger(&charger.id, now).await.unwrap();
        store.deactivate_charger(&charger.id, now).await.unwrap();
        let pending = store.unpublished_events(10).await.unwrap();
        let kinds: Vec<_> = pending.iter().map(|e| e.event_type).collect();
        assert_eq!(
            kinds,
            [
                EventType::EvSystemUpdated,
                // The vehicle's pluggedInChargerId and the charger's pluggedInVehicleId change too.
                EventType::EvSystemActivated,
                EventType::VehicleUpdated,
                EventType::ChargerUpdated,
                EventType::EvSystemDeactivated,
                EventType::VehicleUpdated,
                EventType::ChargerUpdated
            ],
            "a repeated activation or unplug changes nothing"
        );
        for event in &pending {
            let asset = match event.event_type {
                EventType::VehicleUpdated => vehicle.as_str(),
                EventType::ChargerUpdated => charger.id.as_str(),
                _ => pairs[0].id.as_str(),
            };
            assert_eq!((event.asset_id.as_str(), &event.user_id), (asset, &user("alice")));
        }
    }
}

/// Locations, EV systems, vehicle detection and vehicles' identifiers.
mod ev_systems {
    use std::sync::Arc;

    use coupler_core::ev_system::{
        Confidence, Detection, DetectionStatus, Evidence, EvidenceKind, PairState, UnmatchedReason,
    };
    use coupler_core::location::{Location, LocationFields, LocationId};
    use coupler_core::page::PageRequest;
    use coupler_core::polling::PollUpdate;
    use coupler_core::vehicle::ChargeState;
    use coupler_core::{time, ChargerId, Store, VehicleId};

    use super::vehicles::linked;
    use super::{energy, registered_charger, stored_client, user};
    use coupler_core::charger::MeterSample;

    coupler_store::on_both_backends!(
        a_location_reads_back_changes_and_is_deleted_only_by_its_client,
        deleting_a_location_unplaces_its_chargers,
        every_vehicle_and_charger_of_a_user_form_one_pair_each_and_only_once,
        activating_a_pair_frees_the_other_pairs_of_both_devices,
        a_charger_unplug_deactivates_its_pair_and_detection_is_kept_per_charger,
        polls_record_when_a_vehicle_turned_plugged_in_and_when_it_was_last_unplugged,
        identifiers_are_stored_per_vehicle_and_seen_tags_per_charger,
        a_chargers_power_series_is_its_total_or_the_sum_of_its_phases_in_kw,
        a_session_belongs_to_the_car_recognised_on_its_charger_and_is_found_by_user_vehicle_and_charger,
        plug_ins_read_for_many_chargers_at_once_are_what_each_charger_s_own_reads_give,
    );

    /// The plan keeper reads thousands of plug-ins together: each must be what the one-charger
    /// reads give (the charger with its connectors, the newest running session, the detection,
    /// the charger's and its location's limit sources, the capabilities and the pairs), and
    /// chargers that do not exist are left out.
    async fn plug_ins_read_for_many_chargers_at_once_are_what_each_charger_s_own_reads_give(store: Arc<dyn Store>) {
        use coupler_core::limits::{ChargerCapabilities, LimitScope, LimitSource, LimitSourceId, LimitSourceKind};
        use coupler_core::store::SessionStart;

        let c = stored_client(&store, "a").await;
        let account = linked(&store, &c.id, "alice", &["v1"]).await;
        let now = time::now();
        let home = Location {
            id: LocationId::generate(),
            client_id: c.id.clone(),
            user_id: user("alice"),
            fields: LocationFields::new("Home", 59.9, 10.7, "Europe/Oslo").unwrap(),
            created_at: now,
            updated_at: now,
        };
        store.insert_location(&home).await.unwrap();
        let busy = registered_charger(&store, &c.id, "alice", "CP-BUSY").await;
        let idle = registered_charger(&store, &c.id, "alice", "CP-IDLE").await;
        store
            .update_charger(&c.id, &busy.id, None, Some(Some(home.id.as_str())))
            .await
            .unwrap();
        store
            .record_status(&busy.id, &super::status(1, "Charging"))
            .await
            .unwrap();
        store.establish_ev_systems(&c.id, &user("alice")).await.unwrap();
        store
            .activate_ev_system(&busy.id, &account.vehicle_ids[0], &[], Confidence::Medium, now)
            .await
            .unwrap();
        for (minutes, tag) in [(30, "OLDER"), (10, "NEWER")] {
            let start = SessionStart {
                connector_id: 1,
                id_tag: Some(tag),
                meter_start_wh: 1_000.0,
                started_at: now - chrono::Duration::minutes(minutes),
            };
            store.start_session(&busy.id, &start).await.unwrap();
        }
        store
            .save_detection(&Detection {
                charger_id: busy.id.clone(),
                status: DetectionStatus::Matched,
                plugged_in_at: Some(now),
                vehicle_id: Some(account.vehicle_ids[0].clone()),
                reason: None,
                reason_code: None,
                polled_at: Some(now),
                updated_at: now,
            })
            .await
            .unwrap();
        store.set_user_limit(&busy.id, Some(16.0), now).await.unwrap();
        store
            .insert_limit_source(&LimitSource {
                id: LimitSourceId::generate(),
                client_id: c.id.clone(),
                user_id: user("alice"),
                kind: LimitSourceKind::Site,
                scope: LimitScope::Location(home.id.clone()),
                max_current_a: 20.0,
                valid_from: None,
                valid_to: None,
                created_at: now,
                schedule: Vec::new(),
            })
            .await
            .unwrap();
        let capabilities = ChargerCapabilities {
            smart_charging: Some(true),
            max_stack_level: Some(8),
            ..ChargerCapabilities::unknown()
        };
        store
            .set_charger_capabilities(&busy.id, &capabilities, now)
            .await
            .unwrap();

        let gone = ChargerId::generate();
        let read = store
            .charger_plug_ins(&[busy.id.clone(), idle.id.clone(), gone])
            .await
            .unwrap();
        assert_eq!(read.len(), 2, "the charger that does not exist is left out");
        for charger in [&busy.id, &idle.id] {
            let plug_in = read.iter().find(|p| &p.charger.id == charger).unwrap();
            let location = match &plug_in.charger.location_id {
                Some(id) => store.get_location(&c.id, &LocationId::new(id)).await.unwrap(),
                None => None,
            };
            assert_eq!(
                format!(
                    "{:?}",
                    (
                        &plug_in.charger,
                        &plug_in.session,
                        &plug_in.detection,
                        &plug_in.location,
                        &plug_in.limit_sources,
                        &plug_in.capabilities,
                        &plug_in.ev_systems,
                    )
                ),
                format!(
                    "{:?}",
                    (
                        &store.charger(charger).await.unwrap().unwrap(),
                        &store.active_session(charger).await.unwrap(),
                        &store.get_detection(charger).await.unwrap(),
                        &location,
                        &store.limit_sources_of_charger(charger).await.unwrap(),
                        &store.charger_capabilities(charger).await.unwrap(),
                        &store.ev_systems_of_charger(charger).await.unwrap(),
                    )
                ),
            );
        }
        let busy_read = read.iter().find(|p| p.charger.id == busy.id).unwrap();
        assert_eq!(
            busy_read.session.as_ref().and_then(|s| s.id_tag.as_deref()),
            Some("NEWER")
        );
        assert_eq!(busy_read.limit_sources.len(), 2, "its own source and its location's");
        assert_eq!(busy_read.ev_systems.len(), 1);
        assert!(busy_read.detection.is_some() && busy_read.capabilities.is_some() && busy_read.location.is_some());

        let policies = store
            .smart_policies(&[coupler_core::smart::SmartPolicyId::generate()])
            .await
            .unwrap();
        assert!(policies.is_empty(), "a policy that does not exist is left out");
    }

    async fn a_session_belongs_to_the_car_recognised_on_its_charger_and_is_found_by_user_vehicle_and_charger(
        store: Arc<dyn Store>,
    ) {
        use coupler_core::costs::StatisticsScope;
        use coupler_core::ev_system::Confidence;
        use coupler_core::store::SessionStart;

        let c = stored_client(&store, "a").await;
        let other = stored_client(&store, "b").await;
        let account = linked(&store, &c.id, "alice", &["v1"]).await;
        let charger = registered_charger(&store, &c.id, "alice", "CP-COST").await;
        store.establish_ev_systems(&c.id, &user("alice")).await.unwrap();
        let vehicle = account.vehicle_ids[0].clone();
        let t0 = time::now() - chrono::Duration::hours(5);
        let start = |hours: i64| SessionStart {
            connector_id: 1,
            id_tag: None,
            meter_start_wh: 0.0,
            started_at: t0 + chrono::Duration::hours(hours),
        };
        // Started before the car was recognised; recognised while it ran.
        let first = store.start_session(&charger.id, &start(0)).await.unwrap();
        store
            .activate_ev_system(&charger.id, &vehicle, &[], Confidence::Medium, t0)
            .await
            .unwrap();
        store
            .record_meter_values(
                &charger.id,
                1,
                Some(first),
                &[energy(2000.0, t0 + chrono::Duration::minutes(30))],
            )
            .await
            .unwrap();
        let stop = coupler_core::store::SessionStop {
            transaction_id: first,
            meter_stop_wh: 3000.0,
            stopped_at: t0 + chrono::Duration::hours(1),
            reason: None,
            samples: &[],
        };
        store.stop_session(&charger.id, &stop).await.unwrap();
        // Started while the car was recognised.
        let second = store.start_session(&charger.id, &start(2)).await.unwrap();
        store
            .deactivate_charger(&charger.id, t0 + chrono::Duration::hours(3))
            .await
            .unwrap();
        // Started after it was gone: nobody's car.
        let third = store.start_session(&charger.id, &start(4)).await.unwrap();

        let all = |scope: StatisticsScope| {
            let (store, client) = (store.clone(), c.id.clone());
            async move {
                let sessions = store
                    .sessions_overlapping(
                        &client,
                        &scope,
                        t0 - chrono::Duration::days(1),
                        t0 + chrono::Duration::days(1),
                        10,
                    )
                    .await
                    .unwrap();
                sessions.iter().map(|s| s.transaction_id).collect::<Vec<_>>()
            }
        };
        assert_eq!(all(StatisticsScope::User(user("alice"))).await, [first, second, third]);
        assert_eq!(
            all(StatisticsScope::Charger(charger.id.clone())).await,
            [first, second, third]
        );
        assert_eq!(all(StatisticsScope::Vehicle(vehicle.clone())).await, [first, second]);
        let later = store
            .sessions_overlapping(
                &c.id,
                &StatisticsScope::User(user("alice")),
                t0 + chrono::Duration::minutes(90),
                t0 + chrono::Duration::days(1),
                10,
            )
            .await
            .unwrap();
        assert_eq!(later.len(), 2, "the first session ended before the stretch began");
        let others = store
            .sessions_overlapping(
                &other.id,
                &StatisticsScope::Charger(charger.id.clone()),
                t0 - chrono::Duration::days(1),
                t0 + chrono::Duration::days(1),
                10,
            )
            .await
            .unwrap();
        assert!(others.is_empty(), "another client sees none of them");

        let ended = all_sessions_of(&store, &c.id, &charger.id).await;
        let first_session = ended.iter().find(|s| s.transaction_id == first).unwrap();
        let readings = store.session_energy_readings(first_session).await.unwrap();
        let registers: Vec<f64> = readings.iter().map(|r| r.register_wh).collect();
        assert_eq!(registers, [0.0, 2000.0, 3000.0], "start, the reading, the stop");
    }

    async fn all_sessions_of(
        store: &Arc<dyn Store>,
        client: &coupler_core::ClientId,
        charger: &ChargerId,
    ) -> Vec<coupler_core::ChargeSession> {
        store
            .list_sessions(client, charger, &PageRequest::first(50))
            .await
            .unwrap()
            .unwrap()
            .items
    }

    async fn a_chargers_power_series_is_its_total_or_the_sum_of_its_phases_in_kw(store: Arc<dyn Store>) {
        let c = stored_client(&store, "a").await;
        let charger = registered_charger(&store, &c.id, "alice", "CP-POWER").await;
        let t0 = time::now();
        let t1 = t0 + chrono::Duration::seconds(10);
        let power = |at, phase: Option<&str>, watts| MeterSample {
            measurand: "Power.Active.Import".into(),
            unit: "W".into(),
            phase: phase.map(str::to_owned),
            value: watts,
            ..energy(0.0, at)
        };
        store
            .record_meter_values(&charger.id, 1, None, &[energy(1000.0, t0), power(t0, None, 7400.0)])
            .await
            .unwrap();
        store
            .record_meter_values(
                &charger.id,
                1,
                None,
                &[
                    power(t1, Some("L1"), 3600.0),
                    power(t1, Some("L2"), 3600.0),
                    power(t1, Some("L3"), 3800.0),
                ],
            )
            .await
            .unwrap();
        let series = store.power_samples_since(&charger.id, t0).await.unwrap();
        assert_eq!(series.len(), 2, "{series:?}");
        assert_eq!((series[0].at, series[0].kw), (t0, 7.4));
        assert_eq!(series[1].at, t1);
        assert!((series[1].kw - 11.0).abs() < 1e-9, "{series:?}");
        assert_eq!(store.power_samples_since(&charger.id, t1).await.unwrap().len(), 1);
    }

    fn home() -> LocationFields {
        LocationFields::new("Home", 59.9, 10.7, "Europe/Oslo").unwrap()
    }

    async fn location(store: &Arc<dyn Store>, client: &coupler_core::ClientId, user_id: &str) -> Location {
        store.upsert_user(client, &user(user_id)).await.unwrap();
        let now = time::now();
        let location = Location {
            id: LocationId::generate(),
            client_id: client.clone(),
            user_id: user(user_id),
            fields: home(),
            created_at: now,
            updated_at: now,
        };
        store.insert_location(&location).await.unwrap();
        location
    }

    fn evidence(kind: EvidenceKind) -> Vec<Evidence> {
        vec![Evidence {
            kind,
            detail: "seen".into(),
        }]
    }

    async fn a_location_reads_back_changes_and_is_deleted_only_by_its_client(store: Arc<dyn Store>) {
        let (a, b) = (stored_client(&store, "a").await, stored_client(&store, "b").await);
        let made = location(&store, &a.id, "alice").await;
        assert_eq!(store.get_location(&a.id, &made.id).await.unwrap(), Some(made.clone()));
        assert_eq!(store.get_location(&b.id, &made.id).await.unwrap(), None);
        let page = store
            .list_locations(&a.id, &user("alice"), &PageRequest::first(10))
            .await
            .unwrap();
        assert_eq!(page.items, vec![made.clone()]);
        let cabin = LocationFields::new("Cabin", 61.0, 10.4, "Europe/Oslo").unwrap();
        assert_eq!(
            store
                .update_location(&b.id, &made.id, &cabin, time::now())
                .await
                .unwrap(),
            None
        );
        let changed = store
            .update_location(&a.id, &made.id, &cabin, time::now())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(changed.fields, cabin);
        assert!(!store.delete_location(&b.id, &made.id).await.unwrap());
        assert!(store.delete_location(&a.id, &made.id).await.unwrap());
        assert_eq!(store.get_location(&a.id, &made.id).await.unwrap(), None);
    }

    async fn deleting_a_location_unplaces_its_chargers(store: Arc<dyn Store>) {
        let c = stored_client(&store, "a").await;
        let place = location(&store, &c.id, "alice").await;
        let charger = registered_charger(&store, &c.id, "alice", "CP-LOC").await;
        store
            .update_charger(&c.id, &charger.id, None, Some(Some(place.id.as_str())))
            .await
            .unwrap();
        assert!(store.delete_location(&c.id, &place.id).await.unwrap());
        let after = store.get_charger(&c.id, &charger.id).await.unwrap().unwrap();
        assert_eq!(after.location_id, None);
    }

    async fn every_vehicle_and_charger_of_a_user_form_one_pair_each_and_only_once(store: Arc<dyn Store>) {
        let c = stored_client(&store, "a").await;
        let account = linked(&store, &c.id, "alice", &["v1", "v2"]).await;
        let charger = registered_charger(&store, &c.id, "alice", "CP-PAIR").await;
        let other_user = registered_charger(&store, &c.id, "bob", "CP-BOB").await;
        let created = store.establish_ev_systems(&c.id, &user("alice")).await.unwrap();
        assert_eq!(created.len(), 2);
        assert!(created
            .iter()
            .all(|p| p.charger_id == charger.id && p.state == PairState::Established));
        assert!(store
            .establish_ev_systems(&c.id, &user("alice"))
            .await
            .unwrap()
            .is_empty());
        assert!(store
            .establish_ev_systems(&c.id, &user("bob"))
            .await
            .unwrap()
            .is_empty());
        let listed = store
            .list_ev_systems(&c.id, &user("alice"), &PageRequest::first(10))
            .await
            .unwrap();
        assert_eq!(listed.items.len(), 2);
        let one = &account.vehicle_ids[0];
        assert_eq!(store.ev_systems_of_vehicle(&c.id, one).await.unwrap().len(), 1);
        assert!(store.ev_systems_of_charger(&other_user.id).await.unwrap().is_empty());
        let other = stored_client(&store, "b").await;
        assert_eq!(store.get_ev_system(&other.id, &created[0].id).await.unwrap(), None);
        assert!(store.ev_systems_of_vehicle(&other.id, one).await.unwrap().is_empty());
    }

    async fn activating_a_pair_frees_the_other_pairs_of_both_devices(store: Arc<dyn Store>) {
        let c = stored_client(&store, "a").await;
        let account = linked(&store, &c.id, "alice", &["v1", "v2"]).await;
        let first = registered_charger(&store, &c.id, "alice", "CP-1").await;
        let second = registered_charger(&store, &c.id, "alice", "CP-2").await;
        store.establish_ev_systems(&c.id, &user("alice")).await.unwrap();
        let (v1, v2) = (&account.vehicle_ids[0], &account.vehicle_ids[1]);
        let now = time::now();
        let changed = store
            .activate_ev_system(
                &first.id,
                v1,
                &evidence(EvidenceKind::SingleCandidate),
                Confidence::Low,
                now,
            )
            .await
            .unwrap();
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].state, PairState::Activated);
        assert_eq!(changed[0].activated_at, Some(now));
        // The same match again changes nothing; stronger evidence updates it but keeps activatedAt.
        assert!(store
            .activate_ev_system(
                &first.id,
                v1,
                &evidence(EvidenceKind::SingleCandidate),
                Confidence::Low,
                now
            )
            .await
            .unwrap()
            .is_empty());
        let later = now + chrono::Duration::seconds(5);
        let stronger = store
            .activate_ev_system(
                &first.id,
                v1,
                &evidence(EvidenceKind::Identity),
                Confidence::High,
                later,
            )
            .await
            .unwrap();
        assert_eq!(stronger[0].confidence, Some(Confidence::High));
        assert_eq!(stronger[0].activated_at, Some(now));
        // v1 moves to the second charger: its pair with the first is deactivated in the same step.
        let moved = store
            .activate_ev_system(
                &second.id,
                v1,
                &evidence(EvidenceKind::Identity),
                Confidence::High,
                later,
            )
            .await
            .unwrap();
        assert_eq!(moved.len(), 2);
        assert_eq!(moved[0].charger_id, first.id);
        assert_eq!(moved[0].state, PairState::Established);
        // v2 into the second charger pushes v1 out of it.
        store
            .activate_ev_system(
                &second.id,
                v2,
                &evidence(EvidenceKind::Identity),
                Confidence::High,
                later,
            )
            .await
            .unwrap();
        let active: Vec<_> = store
            .ev_systems_of_charger(&second.id)
            .await
            .unwrap()
            .into_iter()
            .filter(|p| p.state == PairState::Activated)
            .collect();
        assert_eq!(active.len(), 1);
        assert_eq!(&active[0].vehicle_id, v2);
        let unknown = store
            .activate_ev_system(&first.id, &VehicleId::new("nope"), &[], Confidence::Low, later)
            .await
            .unwrap();
        assert!(unknown.is_empty());
    }

    async fn a_charger_unplug_deactivates_its_pair_and_detection_is_kept_per_charger(store: Arc<dyn Store>) {
        let c = stored_client(&store, "a").await;
        let account = linked(&store, &c.id, "alice", &["v1"]).await;
        let charger = registered_charger(&store, &c.id, "alice", "CP-UNPLUG").await;
        store.establish_ev_systems(&c.id, &user("alice")).await.unwrap();
        let now = time::now();
        store
            .activate_ev_system(&charger.id, &account.vehicle_ids[0], &[], Confidence::Medium, now)
            .await
            .unwrap();
        let detection = Detection {
            charger_id: charger.id.clone(),
            status: DetectionStatus::Matched,
            plugged_in_at: Some(now),
            vehicle_id: Some(account.vehicle_ids[0].clone()),
            reason: None,
            reason_code: None,
            polled_at: Some(now),
            updated_at: now,
        };
        // A detection still running keeps its reason code; the user's open plug-ins are found by
        // user, within the client only.
        let detecting = Detection {
            status: DetectionStatus::Detecting,
            vehicle_id: None,
            reason: Some("waiting for vehicles to report".into()),
            reason_code: Some(UnmatchedReason::AwaitingReports),
            ..detection.clone()
        };
        store.save_detection(&detecting).await.unwrap();
        assert_eq!(store.get_detection(&charger.id).await.unwrap(), Some(detecting.clone()));
        assert_eq!(
            store.open_detections_of_user(&c.id, &user("alice")).await.unwrap(),
            vec![detecting]
        );
        let other = stored_client(&store, "b").await;
        assert!(store
            .open_detections_of_user(&other.id, &user("alice"))
            .await
            .unwrap()
            .is_empty());
        store.save_detection(&detection).await.unwrap();
        assert_eq!(store.get_detection(&charger.id).await.unwrap(), Some(detection.clone()));
        assert_eq!(store.open_detections(None).await.unwrap(), vec![detection.clone()]);
        let later = now + chrono::Duration::seconds(1);
        assert!(
            store.open_detections(Some(later)).await.unwrap().is_empty(),
            "matched before then"
        );
        assert_eq!(store.open_detections(Some(now)).await.unwrap(), vec![detection.clone()]);
        // A plug-in waiting only because its user has no linked vehicle: time changes it only
        // when its window ends, so the tick leaves it alone until then, and takes it after.
        let without_vehicle = Detection {
            status: DetectionStatus::Detecting,
            vehicle_id: None,
            reason: Some("the user has no linked vehicle".into()),
            reason_code: Some(UnmatchedReason::NoLinkedVehicle),
            ..detection.clone()
        };
        store.save_detection(&without_vehicle).await.unwrap();
        let plugged_in_at = without_vehicle.plugged_in_at.unwrap();
        assert!(
            store.open_detections(Some(plugged_in_at)).await.unwrap().is_empty(),
            "within its window, no tick weighs it"
        );
        assert_eq!(
            store
                .open_detections(Some(plugged_in_at + chrono::Duration::seconds(1)))
                .await
                .unwrap(),
            vec![without_vehicle.clone()],
            "once its window has ended, the tick weighs it once more"
        );
        assert_eq!(store.open_detections(None).await.unwrap(), vec![without_vehicle]);
        store.save_detection(&detection).await.unwrap();
        let ended = store.deactivate_charger(&charger.id, now).await.unwrap();
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].deactivated_at, Some(now));
        assert!(store.deactivate_charger(&charger.id, now).await.unwrap().is_empty());
        let unplugged = Detection {
            charger_id: charger.id.clone(),
            status: DetectionStatus::Unplugged,
            plugged_in_at: None,
            vehicle_id: None,
            reason: None,
            reason_code: None,
            polled_at: None,
            updated_at: now,
        };
        store.save_detection(&unplugged).await.unwrap();
        assert!(store.open_detections(None).await.unwrap().is_empty());
        // A detection of a charger that is gone is not stored.
        let gone = Detection {
            charger_id: ChargerId::new("gone"),
            ..unplugged
        };
        store.save_detection(&gone).await.unwrap();
        assert_eq!(store.get_detection(&gone.charger_id).await.unwrap(), None);
    }

    async fn polls_record_when_a_vehicle_turned_plugged_in_and_when_it_was_last_unplugged(store: Arc<dyn Store>) {
        let c = stored_client(&store, "a").await;
        let account = linked(&store, &c.id, "alice", &["v1"]).await;
        let id = &account.vehicle_ids[0];
        let before = store.get_vehicle(&c.id, id).await.unwrap().unwrap();
        let read = |plugged: bool, at: chrono::DateTime<chrono::Utc>| PollUpdate {
            charge_state: Some(ChargeState {
                is_plugged_in: Some(plugged),
                last_updated: Some(at),
                ..ChargeState::default()
            }),
            location: None,
            last_seen: Some(at),
            is_reachable: Some(true),
            poll: before.poll.clone(),
        };
        let t0 = time::now();
        let (t1, t2) = (t0 + chrono::Duration::seconds(60), t0 + chrono::Duration::seconds(120));
        store.save_poll(&c.id, id, &read(false, t0)).await.unwrap();
        store.save_poll(&c.id, id, &read(true, t1)).await.unwrap();
        store.save_poll(&c.id, id, &read(true, t2)).await.unwrap();
        let v = store.get_vehicle(&c.id, id).await.unwrap().unwrap();
        assert_eq!((v.unplugged_seen_at, v.plugged_in_seen_at), (Some(t0), Some(t1)));
        store.save_poll(&c.id, id, &read(false, t2)).await.unwrap();
        let v = store.get_vehicle(&c.id, id).await.unwrap().unwrap();
        assert_eq!((v.unplugged_seen_at, v.plugged_in_seen_at), (Some(t2), None));
    }

    async fn identifiers_are_stored_per_vehicle_and_seen_tags_per_charger(store: Arc<dyn Store>) {
        let c = stored_client(&store, "a").await;
        let account = linked(&store, &c.id, "alice", &["v1"]).await;
        let id = &account.vehicle_ids[0];
        let tags = vec!["04A1B2".to_owned(), "VID:0A1B2C3D4E5F".to_owned()];
        assert!(store.set_vehicle_id_tags(&c.id, id, &tags).await.unwrap());
        assert_eq!(store.get_vehicle(&c.id, id).await.unwrap().unwrap().id_tags, tags);
        let other = stored_client(&store, "b").await;
        assert!(!store.set_vehicle_id_tags(&other.id, id, &[]).await.unwrap());
        let charger = registered_charger(&store, &c.id, "alice", "CP-TAGS").await;
        let t0 = time::now();
        store.record_id_tag(&charger.id, "OLD", t0).await.unwrap();
        store
            .record_id_tag(&charger.id, "VID:0A1B2C3D4E5F", t0 + chrono::Duration::seconds(10))
            .await
            .unwrap();
        let seen = store
            .id_tags_seen_since(&charger.id, t0 + chrono::Duration::seconds(5))
            .await
            .unwrap();
        assert_eq!(seen, vec!["VID:0A1B2C3D4E5F".to_owned()]);
    }
}
