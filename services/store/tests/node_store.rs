//! Nodes, their leases and which node holds each charger's socket, on both backends (PostgreSQL
//! when `COUPLER_TEST_POSTGRES_URL` is set), and signals between stores of one database.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use coupler_core::action::TargetState;
use coupler_core::charger::{ChargerInfo, LiveMeter};
use coupler_core::node::{Heard, NodeId, Signal};
use coupler_core::secret::hash_secret;
use coupler_core::{
    time, Action, ActionKind, Charger, ChargerId, Client, ClientId, DeviceKind, OcppIdentity, Store, UserId,
};
use coupler_store::testing::TestDatabase;

use coupler_store::on_both_backends;

on_both_backends!(
    a_charger_is_held_by_the_node_of_its_latest_connection,
    a_node_that_stops_marks_its_chargers_disconnected_and_lets_them_go,
    a_restarted_node_lets_go_what_its_previous_run_held,
    a_dead_node_is_swept_away_with_its_chargers_and_comes_back_when_it_renews,
    an_action_s_lease_handed_to_another_node_is_that_node_s_alone,
    the_action_leases_of_a_dead_node_are_given_up_when_it_is_swept_away,
    a_signal_published_is_heard_by_every_subscriber,
    a_job_is_held_by_one_node_until_its_lease_lapses_or_it_gives_it_up,
    jobs_of_different_names_are_held_apart,
);

fn node(id: &str) -> NodeId {
    NodeId::parse(id).unwrap()
}

fn minutes(n: i64) -> DateTime<Utc> {
    time::now() + Duration::minutes(n)
}

async fn registered_charger(store: &Arc<dyn Store>, ocpp_id: &str) -> Charger {
    let client = Client {
        id: ClientId::generate(),
        name: "app".into(),
        secret_hash: hash_secret("app"),
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
        ocpp_id: OcppIdentity::parse(ocpp_id).unwrap(),
        name: None,
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

async fn connected(store: &Arc<dyn Store>, charger: &ChargerId) -> bool {
    store.charger(charger).await.unwrap().unwrap().is_connected
}

async fn a_charger_is_held_by_the_node_of_its_latest_connection(store: Arc<dyn Store>) {
    let (a, b) = (node("node-a"), node("node-b"));
    store.register_node(&a, time::now(), minutes(1)).await.unwrap();
    store.register_node(&b, time::now(), minutes(1)).await.unwrap();
    let charger = registered_charger(&store, "CP-1").await.id;
    assert_eq!(store.charger_owner(&charger, time::now()).await.unwrap(), None);

    assert_eq!(store.claim_charger(&charger, &a, 1, time::now()).await.unwrap(), None);
    assert_eq!(
        store.charger_owner(&charger, time::now()).await.unwrap(),
        Some(a.clone())
    );
    // A new connection to the same node is no move.
    assert_eq!(store.claim_charger(&charger, &a, 2, time::now()).await.unwrap(), None);
    // The charger connects to B: B holds it, and says it took it from A.
    assert_eq!(
        store.claim_charger(&charger, &b, 7, time::now()).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        store.charger_owner(&charger, time::now()).await.unwrap(),
        Some(b.clone())
    );
    // A's old connection closing lets nothing go; B's does.
    assert!(!store.release_charger(&charger, &a, 2).await.unwrap());
    assert!(!store.release_charger(&charger, &b, 6).await.unwrap());
    assert_eq!(
        store.charger_owner(&charger, time::now()).await.unwrap(),
        Some(b.clone())
    );
    assert!(store.release_charger(&charger, &b, 7).await.unwrap());
    assert_eq!(store.charger_owner(&charger, time::now()).await.unwrap(), None);
    assert_eq!(store.live_nodes(time::now()).await.unwrap(), vec![a, b]);
}

async fn a_node_that_stops_marks_its_chargers_disconnected_and_lets_them_go(store: Arc<dyn Store>) {
    let (a, b) = (node("node-a"), node("node-b"));
    store.register_node(&a, time::now(), minutes(1)).await.unwrap();
    store.register_node(&b, time::now(), minutes(1)).await.unwrap();
    let on_a = registered_charger(&store, "CP-A").await.id;
    let on_b = registered_charger(&store, "CP-B").await.id;
    for (charger, holder) in [(&on_a, &a), (&on_b, &b)] {
        store.claim_charger(charger, holder, 1, time::now()).await.unwrap();
        store.record_connection(charger, None, true, time::now()).await.unwrap();
    }

    store.retire_node(&a).await.unwrap();
    assert!(!connected(&store, &on_a).await);
    assert_eq!(store.charger_owner(&on_a, time::now()).await.unwrap(), None);
    assert!(connected(&store, &on_b).await, "another node's charger is left alone");
    assert_eq!(store.charger_owner(&on_b, time::now()).await.unwrap(), Some(b.clone()));
    assert_eq!(store.live_nodes(time::now()).await.unwrap(), vec![b]);
}

async fn a_restarted_node_lets_go_what_its_previous_run_held(store: Arc<dyn Store>) {
    let a = node("node-a");
    store.register_node(&a, time::now(), minutes(1)).await.unwrap();
    let charger = registered_charger(&store, "CP-1").await.id;
    store.claim_charger(&charger, &a, 1, time::now()).await.unwrap();
    store
        .record_connection(&charger, None, true, time::now())
        .await
        .unwrap();

    // The same node starts again (its sockets died with its previous run).
    assert_eq!(store.register_node(&a, time::now(), minutes(1)).await.unwrap(), 1);
    assert!(!connected(&store, &charger).await);
    assert_eq!(store.charger_owner(&charger, time::now()).await.unwrap(), None);
}

async fn a_dead_node_is_swept_away_with_its_chargers_and_comes_back_when_it_renews(store: Arc<dyn Store>) {
    let (a, b) = (node("node-a"), node("node-b"));
    let now = time::now();
    store.register_node(&a, now, now + Duration::seconds(30)).await.unwrap();
    store.register_node(&b, now, now + Duration::minutes(5)).await.unwrap();
    let on_a = registered_charger(&store, "CP-A").await.id;
    let on_b = registered_charger(&store, "CP-B").await.id;
    // A charger recorded connected that no node holds (left by a crash before this version).
    let stray = registered_charger(&store, "CP-STRAY").await.id;
    for (charger, holder) in [(&on_a, &a), (&on_b, &b)] {
        store.claim_charger(charger, holder, 1, now).await.unwrap();
        store.record_connection(charger, None, true, now).await.unwrap();
    }
    store.record_connection(&stray, None, true, now).await.unwrap();

    // Nothing lapsed yet: an ordinary sweep leaves the stray alone (it does not read every
    // connected charger); one that asks for strays clears it, and only it.
    assert_eq!(store.sweep_lapsed_nodes(now, false).await.unwrap(), 0);
    assert!(connected(&store, &stray).await);
    assert_eq!(store.sweep_lapsed_nodes(now, true).await.unwrap(), 1);
    assert!(connected(&store, &on_a).await && connected(&store, &on_b).await);
    assert!(!connected(&store, &stray).await);

    // A missed its renewals: once its lease lapsed it holds nothing, even before the sweep.
    let later = now + Duration::minutes(1);
    assert_eq!(store.charger_owner(&on_a, later).await.unwrap(), None);
    assert_eq!(store.live_nodes(later).await.unwrap(), vec![b.clone()]);
    assert_eq!(store.sweep_lapsed_nodes(later, false).await.unwrap(), 1);
    assert!(!connected(&store, &on_a).await);
    assert!(connected(&store, &on_b).await);
    assert_eq!(store.charger_owner(&on_b, later).await.unwrap(), Some(b.clone()));

    // A was only slow: its next renewal says it had been taken for dead, and registers it again.
    assert!(!store
        .renew_node(&a, later, later + Duration::seconds(30))
        .await
        .unwrap());
    assert!(store
        .renew_node(&a, later, later + Duration::seconds(30))
        .await
        .unwrap());
    assert_eq!(store.live_nodes(later).await.unwrap(), vec![a, b]);
}

async fn an_action_s_lease_handed_to_another_node_is_that_node_s_alone(store: Arc<dyn Store>) {
    let charger = registered_charger(&store, "CP-1").await;
    let action = Action::new(
        charger.client_id.clone(),
        charger.user_id.clone(),
        DeviceKind::Charger,
        charger.id.as_str().to_owned(),
        ActionKind::Start,
        TargetState::charging(true),
        None,
        time::now(),
        Duration::seconds(60),
    );
    store.insert_action(&action).await.unwrap();
    let now = time::now();
    assert!(store.lease_action(&action.id, "node-b", minutes(1), now).await.unwrap());

    // Only the holder can hand it over.
    assert!(!store
        .hand_over_action(&action.id, "node-c", "node-c", minutes(1))
        .await
        .unwrap());
    assert!(store
        .hand_over_action(&action.id, "node-b", "node-a", minutes(1))
        .await
        .unwrap());
    assert!(!store.lease_action(&action.id, "node-b", minutes(1), now).await.unwrap());
    assert!(!store.lease_action(&action.id, "node-c", minutes(1), now).await.unwrap());
    assert!(store.lease_action(&action.id, "node-a", minutes(1), now).await.unwrap());
    // Once it lapses, anyone may take it (the node it was handed to died).
    assert!(store
        .lease_action(&action.id, "node-c", minutes(3), minutes(2))
        .await
        .unwrap());
}

async fn the_action_leases_of_a_dead_node_are_given_up_when_it_is_swept_away(store: Arc<dyn Store>) {
    let (a, b) = (node("node-a"), node("node-b"));
    let now = time::now();
    store.register_node(&a, now, now + Duration::seconds(30)).await.unwrap();
    store.register_node(&b, now, now + Duration::minutes(5)).await.unwrap();
    let charger = registered_charger(&store, "CP-1").await;
    let action = |kind| {
        Action::new(
            charger.client_id.clone(),
            charger.user_id.clone(),
            DeviceKind::Charger,
            charger.id.as_str().to_owned(),
            kind,
            TargetState::charging(kind == ActionKind::Start),
            None,
            now,
            Duration::minutes(10),
        )
    };
    let (on_a, on_b) = (action(ActionKind::Start), action(ActionKind::Stop));
    store.insert_action(&on_a).await.unwrap();
    store.insert_action(&on_b).await.unwrap();
    // Each held for ten minutes: far longer than A's own lease.
    assert!(store.lease_action(&on_a.id, "node-a", minutes(10), now).await.unwrap());
    assert!(store.lease_action(&on_b.id, "node-b", minutes(10), now).await.unwrap());

    // A dies: while its lease runs, its action stays its own.
    assert!(!store.lease_action(&on_a.id, "node-b", minutes(10), now).await.unwrap());
    let later = now + Duration::minutes(1);
    store.sweep_lapsed_nodes(later, false).await.unwrap();
    // Swept away, it gives its action up at once; B's action stays B's.
    assert!(store
        .lease_action(&on_a.id, "node-b", minutes(10), later)
        .await
        .unwrap());
    assert!(!store
        .lease_action(&on_b.id, "node-a", minutes(10), later)
        .await
        .unwrap());
}

async fn a_signal_published_is_heard_by_every_subscriber(store: Arc<dyn Store>) {
    let mut first = store.signals().subscribe();
    let mut second = store.signals().subscribe();
    let signal = Signal::ActionsHandedOver { node: node("node-a") };
    store.signals().publish(&signal).await.unwrap();
    for receiver in [&mut first, &mut second] {
        let heard = tokio::time::timeout(StdDuration::from_secs(30), receiver.recv()).await;
        assert_eq!(heard.unwrap(), Some(Heard::Signal(signal.clone())));
    }
}

#[tokio::test]
async fn a_signal_reaches_the_other_stores_of_the_same_postgresql_database_and_no_other() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let Some(elsewhere) = TestDatabase::postgres().await else {
        return;
    };
    let (here, there, other) = (db.open().await, db.open().await, elsewhere.open().await);
    let mut on_there = there.signals().subscribe();
    let mut on_other = other.signals().subscribe();
    let signal = Signal::ChargerTaken {
        charger: "chg_1".into(),
        node: node("node-a"),
    };
    here.signals().publish(&signal).await.unwrap();
    let heard = tokio::time::timeout(StdDuration::from_secs(30), on_there.recv()).await;
    assert_eq!(heard.unwrap(), Some(Heard::Signal(signal)));
    // A signal in the other database goes after it: the first thing that database's store hears.
    let own = Signal::EventsPublished;
    other.signals().publish(&own).await.unwrap();
    let heard = tokio::time::timeout(StdDuration::from_secs(30), on_other.recv()).await;
    assert_eq!(heard.unwrap(), Some(Heard::Signal(own)));
}

async fn a_job_is_held_by_one_node_until_its_lease_lapses_or_it_gives_it_up(store: Arc<dyn Store>) {
    let (a, b) = (node("node-a"), node("node-b"));
    let now = time::now();
    // Free: A takes it; B cannot while A's lease runs; A renews it.
    assert!(store
        .claim_singleton("relay", &a, now, now + Duration::seconds(30))
        .await
        .unwrap());
    assert!(!store
        .claim_singleton("relay", &b, now, now + Duration::seconds(30))
        .await
        .unwrap());
    assert!(store
        .claim_singleton("relay", &a, now, now + Duration::seconds(60))
        .await
        .unwrap());
    assert_eq!(
        store.singleton_holders(now).await.unwrap(),
        [("relay".to_owned(), a.clone())]
    );
    // Once A's lease lapsed, B takes it, and A no longer can.
    let later = now + Duration::seconds(61);
    assert_eq!(store.singleton_holders(later).await.unwrap(), []);
    assert!(store
        .claim_singleton("relay", &b, later, later + Duration::seconds(30))
        .await
        .unwrap());
    assert!(!store
        .claim_singleton("relay", &a, later, later + Duration::seconds(30))
        .await
        .unwrap());
    assert_eq!(
        store.singleton_holders(later).await.unwrap(),
        [("relay".to_owned(), b.clone())]
    );
    // B gives it up (it stops): A takes it at once, lease or not.
    assert_eq!(store.release_singletons(&b).await.unwrap(), 1);
    assert_eq!(store.release_singletons(&b).await.unwrap(), 0);
    assert!(store
        .claim_singleton("relay", &a, later, later + Duration::seconds(30))
        .await
        .unwrap());
    assert_eq!(store.singleton_holders(later).await.unwrap(), [("relay".to_owned(), a)]);
}

async fn jobs_of_different_names_are_held_apart(store: Arc<dyn Store>) {
    let (a, b) = (node("node-a"), node("node-b"));
    let now = time::now();
    assert!(store.claim_singleton("pairing", &a, now, minutes(1)).await.unwrap());
    assert!(store.claim_singleton("relay", &b, now, minutes(1)).await.unwrap());
    assert!(!store.claim_singleton("relay", &a, now, minutes(1)).await.unwrap());
    assert_eq!(
        store.singleton_holders(now).await.unwrap(),
        [("pairing".to_owned(), a.clone()), ("relay".to_owned(), b)]
    );
    // Giving up one node's jobs leaves the other's.
    assert_eq!(store.release_singletons(&a).await.unwrap(), 1);
    assert_eq!(store.singleton_holders(now).await.unwrap().len(), 1);
}
