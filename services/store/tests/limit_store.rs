//! Limit sources, charger capabilities and installed profiles, held to the same behaviour on SQLite
//! and on PostgreSQL (the latter when `COUPLER_TEST_POSTGRES_URL` is set).

#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

use std::sync::Arc;

use chrono::Duration;
use coupler_core::charger::{ChargerInfo, LiveMeter};
use coupler_core::limits::{
    ChargerCapabilities, ChargerLimitState, LimitScope, LimitSource, LimitSourceId, LimitSourceKind,
};
use coupler_core::location::{Location, LocationFields, LocationId};
use coupler_core::secret::hash_secret;
use coupler_core::{time, Charger, ChargerId, Client, ClientId, OcppIdentity, Store, StoreError, UserId};

use coupler_store::on_both_backends;

on_both_backends!(
    a_site_limit_reads_back_for_its_client_only_and_is_deleted_once,
    a_source_on_another_users_charger_or_location_is_refused,
    a_charger_is_limited_by_its_own_sources_and_its_locations,
    a_charger_has_one_user_limit_that_a_new_max_current_replaces,
    capabilities_and_the_device_model_are_stored_per_charger,
    what_coupler_installed_on_a_charger_is_kept_and_names_it_as_limited,
    the_next_window_edge_is_the_earliest_start_or_end_to_come,
    the_chargers_at_window_edges_are_those_whose_own_or_location_s_source_opens_or_closes_then,
);

async fn client(store: &Arc<dyn Store>, name: &str) -> ClientId {
    let client = Client {
        id: ClientId::generate(),
        name: name.into(),
        secret_hash: hash_secret(name),
        created_at: time::now(),
        revoked_at: None,
    };
    store.insert_client(&client).await.unwrap();
    client.id
}

fn user(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}

async fn location(store: &Arc<dyn Store>, client: &ClientId, user_id: &str) -> LocationId {
    store.upsert_user(client, &user(user_id)).await.unwrap();
    let now = time::now();
    let location = Location {
        id: LocationId::generate(),
        client_id: client.clone(),
        user_id: user(user_id),
        fields: LocationFields::new("Home", 59.9, 10.7, "Europe/Oslo").unwrap(),
        created_at: now,
        updated_at: now,
    };
    store.insert_location(&location).await.unwrap();
    location.id
}

async fn charger(
    store: &Arc<dyn Store>,
    client: &ClientId,
    user_id: &str,
    ocpp_id: &str,
    location: Option<&LocationId>,
) -> ChargerId {
    store.upsert_user(client, &user(user_id)).await.unwrap();
    let charger = Charger {
        id: ChargerId::generate(),
        client_id: client.clone(),
        user_id: user(user_id),
        ocpp_id: OcppIdentity::parse(ocpp_id).unwrap(),
        name: None,
        location_id: location.map(|l| l.as_str().to_owned()),
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
    charger.id
}

fn site(client: &ClientId, user_id: &str, scope: LimitScope, amps: f64, hours: Option<i64>) -> LimitSource {
    let now = time::now();
    LimitSource {
        id: LimitSourceId::generate(),
        client_id: client.clone(),
        user_id: user(user_id),
        kind: LimitSourceKind::Site,
        scope,
        max_current_a: amps,
        valid_from: hours.map(|_| now),
        valid_to: hours.map(|h| now + Duration::hours(h)),
        created_at: now,
        schedule: Vec::new(),
    }
}

/// Times come back at the backend's precision (microseconds).
fn same(a: &LimitSource, b: &LimitSource) {
    assert_eq!(
        (&a.id, &a.kind, &a.scope, a.max_current_a),
        (&b.id, &b.kind, &b.scope, b.max_current_a)
    );
    let micros = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(time::to_micros);
    assert_eq!(micros(a.valid_to), micros(b.valid_to));
    assert_eq!(micros(a.valid_from), micros(b.valid_from));
}

async fn a_site_limit_reads_back_for_its_client_only_and_is_deleted_once(store: Arc<dyn Store>) {
    let a = client(&store, "a").await;
    let b = client(&store, "b").await;
    let ch = charger(&store, &a, "alice", "CP-1", None).await;
    let limit = site(&a, "alice", LimitScope::Charger(ch.clone()), 10.0, Some(2));
    store.insert_limit_source(&limit).await.unwrap();

    same(&store.get_limit_source(&a, &limit.id).await.unwrap().unwrap(), &limit);
    assert_eq!(store.get_limit_source(&b, &limit.id).await.unwrap(), None);
    let listed = store
        .list_limit_sources(&a, &LimitScope::Charger(ch.clone()))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert!(store
        .list_limit_sources(&b, &LimitScope::Charger(ch.clone()))
        .await
        .unwrap()
        .is_empty());

    assert_eq!(store.delete_limit_source(&b, &limit.id).await.unwrap(), None);
    assert!(store.delete_limit_source(&a, &limit.id).await.unwrap().is_some());
    assert_eq!(store.delete_limit_source(&a, &limit.id).await.unwrap(), None);
    assert!(store.limit_sources_of_charger(&ch).await.unwrap().is_empty());
}

async fn a_source_on_another_users_charger_or_location_is_refused(store: Arc<dyn Store>) {
    let a = client(&store, "a").await;
    let b = client(&store, "b").await;
    let alices = charger(&store, &a, "alice", "CP-1", None).await;
    let bobs_location = location(&store, &a, "bob").await;
    store.upsert_user(&b, &user("alice")).await.unwrap();

    let other_client = site(&b, "alice", LimitScope::Charger(alices.clone()), 10.0, None);
    let err = store.insert_limit_source(&other_client).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let other_user = site(&a, "alice", LimitScope::Location(bobs_location), 10.0, None);
    let err = store.insert_limit_source(&other_user).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(store.limit_sources_of_charger(&alices).await.unwrap().is_empty());
}

async fn a_charger_is_limited_by_its_own_sources_and_its_locations(store: Arc<dyn Store>) {
    let a = client(&store, "a").await;
    let home = location(&store, &a, "alice").await;
    let at_home = charger(&store, &a, "alice", "CP-HOME", Some(&home)).await;
    let elsewhere = charger(&store, &a, "alice", "CP-AWAY", None).await;
    let on_location = site(&a, "alice", LimitScope::Location(home.clone()), 16.0, None);
    let on_charger = site(&a, "alice", LimitScope::Charger(at_home.clone()), 10.0, Some(1));
    store.insert_limit_source(&on_location).await.unwrap();
    store.insert_limit_source(&on_charger).await.unwrap();

    let sources = store.limit_sources_of_charger(&at_home).await.unwrap();
    let ids: Vec<&LimitSourceId> = sources.iter().map(|s| &s.id).collect();
    assert_eq!(ids, vec![&on_location.id, &on_charger.id]);
    assert!(store.limit_sources_of_charger(&elsewhere).await.unwrap().is_empty());
    assert_eq!(store.chargers_at_location(&home).await.unwrap(), vec![at_home.clone()]);
    let limited = store.chargers_with_limits().await.unwrap();
    assert!(limited.contains(&at_home));
    assert!(!limited.contains(&elsewhere));
}

async fn a_charger_has_one_user_limit_that_a_new_max_current_replaces(store: Arc<dyn Store>) {
    let a = client(&store, "a").await;
    let ch = charger(&store, &a, "alice", "CP-1", None).await;
    let first = store
        .set_user_limit(&ch, Some(16.0), time::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((first.kind, first.max_current_a), (LimitSourceKind::User, 16.0));
    assert_eq!(first.client_id, a);
    let second = store
        .set_user_limit(&ch, Some(8.0), time::now())
        .await
        .unwrap()
        .unwrap();
    let sources = store.limit_sources_of_charger(&ch).await.unwrap();
    assert_eq!(sources.len(), 1);
    assert_eq!((&sources[0].id, sources[0].max_current_a), (&second.id, 8.0));
    assert_eq!(store.set_user_limit(&ch, None, time::now()).await.unwrap(), None);
    assert!(store.limit_sources_of_charger(&ch).await.unwrap().is_empty());
}

async fn capabilities_and_the_device_model_are_stored_per_charger(store: Arc<dyn Store>) {
    let a = client(&store, "a").await;
    let ch = charger(&store, &a, "alice", "CP-1", None).await;
    assert_eq!(store.charger_capabilities(&ch).await.unwrap(), None);
    let model = store
        .record_device_model(
            &ch,
            &[("SmartChargingCtrlr.Enabled".into(), "false".into())],
            time::now(),
        )
        .await
        .unwrap();
    assert_eq!(model.len(), 1);
    let model = store
        .record_device_model(
            &ch,
            &[("OCPPCommCtrlr.HeartbeatInterval".into(), "60".into())],
            time::now(),
        )
        .await
        .unwrap();
    assert_eq!(model.len(), 2, "reports add up");
    let declared = ChargerCapabilities::from_device_model_201(
        model.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        true,
        "NotifyReport",
    )
    .unwrap();
    store
        .set_charger_capabilities(&ch, &declared, time::now())
        .await
        .unwrap();
    assert_eq!(store.charger_capabilities(&ch).await.unwrap(), Some(declared));
    assert_eq!(
        store.device_model(&ch).await.unwrap(),
        model,
        "capabilities leave the model alone"
    );
}

async fn what_coupler_installed_on_a_charger_is_kept_and_names_it_as_limited(store: Arc<dyn Store>) {
    let a = client(&store, "a").await;
    let ch = charger(&store, &a, "alice", "CP-1", None).await;
    assert_eq!(store.limit_state(&ch).await.unwrap(), ChargerLimitState::default());
    let state = ChargerLimitState {
        installed_profiles: vec![1001, 1201],
        held_off: true,
        applied_at: Some(time::from_micros(time::to_micros(time::now())).unwrap()),
        verified_limit_a: Some(10.0),
        verified_at: None,
        last_error: Some("the charger refused".into()),
    };
    store.save_limit_state(&ch, &state).await.unwrap();
    assert_eq!(store.limit_state(&ch).await.unwrap(), state);
    assert_eq!(store.chargers_with_limits().await.unwrap(), vec![ch.clone()]);
    store
        .save_limit_state(&ch, &ChargerLimitState::default())
        .await
        .unwrap();
    assert!(store.chargers_with_limits().await.unwrap().is_empty());
    // A charger that does not exist has nothing to keep.
    store.save_limit_state(&ChargerId::new("nope"), &state).await.unwrap();
    assert_eq!(
        store.limit_state(&ChargerId::new("nope")).await.unwrap(),
        ChargerLimitState::default()
    );
}

async fn the_next_window_edge_is_the_earliest_start_or_end_to_come(store: Arc<dyn Store>) {
    let a = client(&store, "a").await;
    let ch = charger(&store, &a, "alice", "CP-1", None).await;
    let now = time::now();
    assert_eq!(store.next_limit_edge(now).await.unwrap(), None);
    let mut later = site(&a, "alice", LimitScope::Charger(ch.clone()), 10.0, None);
    later.valid_from = Some(now + Duration::minutes(30));
    later.valid_to = Some(now + Duration::minutes(90));
    let mut sooner = site(&a, "alice", LimitScope::Charger(ch.clone()), 8.0, None);
    sooner.valid_to = Some(now + Duration::minutes(45));
    store.insert_limit_source(&later).await.unwrap();
    store.insert_limit_source(&sooner).await.unwrap();
    let micros = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(time::to_micros);
    assert_eq!(
        micros(store.next_limit_edge(now).await.unwrap()),
        micros(later.valid_from)
    );
    assert_eq!(
        micros(store.next_limit_edge(now + Duration::minutes(30)).await.unwrap()),
        micros(sooner.valid_to)
    );
    assert_eq!(store.next_limit_edge(now + Duration::minutes(90)).await.unwrap(), None);
}

async fn the_chargers_at_window_edges_are_those_whose_own_or_location_s_source_opens_or_closes_then(
    store: Arc<dyn Store>,
) {
    let a = client(&store, "a").await;
    let home = location(&store, &a, "alice").await;
    let own = charger(&store, &a, "alice", "CP-1", None).await;
    let at_home = charger(&store, &a, "alice", "CP-2", Some(&home)).await;
    let untouched = charger(&store, &a, "alice", "CP-3", None).await;
    let now = time::now();
    let mut opens = site(&a, "alice", LimitScope::Charger(own.clone()), 10.0, None);
    opens.valid_from = Some(now + Duration::minutes(10));
    opens.valid_to = Some(now + Duration::minutes(60));
    let mut closes = site(&a, "alice", LimitScope::Location(home.clone()), 8.0, None);
    closes.valid_to = Some(now + Duration::minutes(20));
    let always = site(&a, "alice", LimitScope::Charger(untouched.clone()), 6.0, None);
    for source in [&opens, &closes, &always] {
        store.insert_limit_source(source).await.unwrap();
    }
    let at = |from: i64, to: i64| {
        let store = store.clone();
        async move {
            let mut found = store
                .chargers_with_limit_edges(now + Duration::minutes(from), now + Duration::minutes(to))
                .await
                .unwrap();
            found.sort();
            found
        }
    };
    assert!(at(0, 5).await.is_empty(), "no edge in the first five minutes");
    assert_eq!(
        at(5, 10).await,
        vec![own.clone()],
        "an opening, the span's end included"
    );
    assert!(at(10, 15).await.is_empty(), "the span's start is not");
    assert_eq!(
        at(15, 20).await,
        vec![at_home.clone()],
        "a location's source reaches its chargers"
    );
    let mut both = vec![own.clone(), at_home.clone()];
    both.sort();
    assert_eq!(at(0, 60).await, both);
    assert!(
        !at(0, 600).await.contains(&untouched),
        "a source without a window has no edge"
    );
}
