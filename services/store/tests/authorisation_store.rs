//! Id tokens, unknown-token policies, local lists and the flags on sessions and readings, held to
//! the same behaviour on SQLite and on PostgreSQL (the latter when `COUPLER_TEST_POSTGRES_URL` is set).

#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

use std::sync::Arc;

use chrono::Duration;
use coupler_core::authorisation::{
    match_key, match_key_16, IdToken, IdTokenId, IdTokenKind, IdTokenStatus, LocalListEntry, UnknownTokenPolicy,
};
use coupler_core::charger::{ChargerInfo, LiveMeter, MeterSample};
use coupler_core::event::EventType;
use coupler_core::page::PageRequest;
use coupler_core::secret::hash_secret;
use coupler_core::store::{IdTokenChange, SessionStart, SessionStop, StoredLocalList};
use coupler_core::{time, Charger, ChargerId, Client, ClientId, OcppIdentity, Store, UserId};

use coupler_store::on_both_backends;

on_both_backends!(
    a_token_is_registered_found_by_what_chargers_send_changed_and_deleted_with_events,
    another_client_cannot_see_or_touch_a_user_s_tokens_or_policies,
    the_unknown_token_policy_of_a_charger_overrides_its_owner_s,
    a_local_list_is_kept_per_charger_and_forgotten_on_request,
    flagged_readings_and_sessions_count_no_energy,
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

async fn charger(store: &Arc<dyn Store>, client: &ClientId, user: &str, ocpp_id: &str) -> ChargerId {
    let user = UserId::parse(user).unwrap();
    store.upsert_user(client, &user).await.unwrap();
    let charger = Charger {
        id: ChargerId::generate(),
        client_id: client.clone(),
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
    charger.id
}

fn token(client: &ClientId, user: &str, kind: IdTokenKind, value: &str, status: IdTokenStatus) -> IdToken {
    let now = time::now();
    IdToken {
        id: IdTokenId::generate(),
        client_id: client.clone(),
        user_id: UserId::parse(user).unwrap(),
        kind,
        value: value.into(),
        status,
        expires_at: None,
        group_id: None,
        label: None,
        created_at: now,
        updated_at: now,
    }
}

async fn token_events(store: &Arc<dyn Store>) -> Vec<(EventType, String, Vec<String>)> {
    store
        .unpublished_events(100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| {
            matches!(
                e.event_type,
                EventType::IdTokenCreated | EventType::IdTokenUpdated | EventType::IdTokenDeleted
            )
        })
        .map(|e| (e.event_type, e.asset_id, e.updated_fields))
        .collect()
}

async fn a_token_is_registered_found_by_what_chargers_send_changed_and_deleted_with_events(store: Arc<dyn Store>) {
    let a = client(&store, "a").await;
    let ch = charger(&store, &a, "alice", "CP-1").await;
    let alice = UserId::parse("alice").unwrap();
    let card = token(&a, "alice", IdTokenKind::Rfid, "04a2b3c4", IdTokenStatus::Accepted);
    assert!(store.insert_id_token(&card).await.unwrap());
    let nobody = token(&a, "nobody", IdTokenKind::Rfid, "AA", IdTokenStatus::Accepted);
    assert!(!store.insert_id_token(&nobody).await.unwrap(), "no such user");
    let same_card = token(&a, "alice", IdTokenKind::Iso14443, "04A2B3C4", IdTokenStatus::Blocked);
    assert!(matches!(
        store.insert_id_token(&same_card).await,
        Err(coupler_core::StoreError::Conflict(_))
    ));
    let found = store.lookup_token(&ch, &match_key_16("04A2B3C4")).await.unwrap();
    assert_eq!(found.token.as_ref().map(|t| &t.id), Some(&card.id));
    assert_eq!(found.policy, UnknownTokenPolicy::Accept);
    assert!(store
        .lookup_token(&ch, &match_key(IdTokenKind::Rfid, "FF"))
        .await
        .unwrap()
        .token
        .is_none());

    let expiry = time::now() + Duration::days(30);
    let changed = store
        .update_id_token(
            &a,
            &alice,
            &card.id,
            &IdTokenChange {
                status: Some(IdTokenStatus::Blocked),
                expires_at: Some(Some(expiry)),
                ..IdTokenChange::default()
            },
            time::now(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(changed.status, IdTokenStatus::Blocked);
    assert_eq!(
        store.get_id_token(&a, &alice, &card.id).await.unwrap(),
        Some(changed.clone())
    );
    let page = store
        .list_id_tokens(&a, &alice, &PageRequest::first(50))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(store.tokens_of_charger_owner(&ch).await.unwrap().len(), 1);
    assert!(store.delete_id_token(&a, &alice, &card.id).await.unwrap());
    assert!(!store.delete_id_token(&a, &alice, &card.id).await.unwrap());
    let kept = token(&a, "alice", IdTokenKind::KeyCode, "1234", IdTokenStatus::Accepted);
    store.insert_id_token(&kept).await.unwrap();
    assert!(store.delete_user(&a, &alice).await.unwrap());
    let events = token_events(&store).await;
    assert_eq!(
        events,
        vec![
            (EventType::IdTokenCreated, card.id.as_str().to_owned(), vec![]),
            (
                EventType::IdTokenUpdated,
                card.id.as_str().to_owned(),
                vec!["status".to_owned(), "expiresAt".to_owned()]
            ),
            (EventType::IdTokenDeleted, card.id.as_str().to_owned(), vec![]),
            (EventType::IdTokenCreated, kept.id.as_str().to_owned(), vec![]),
            (EventType::IdTokenDeleted, kept.id.as_str().to_owned(), vec![]),
        ],
        "deleting the user deletes its tokens, each with its event"
    );
}

async fn another_client_cannot_see_or_touch_a_user_s_tokens_or_policies(store: Arc<dyn Store>) {
    let a = client(&store, "a").await;
    let b = client(&store, "b").await;
    let ch = charger(&store, &a, "alice", "CP-1").await;
    store.upsert_user(&b, &UserId::parse("alice").unwrap()).await.unwrap();
    let alice = UserId::parse("alice").unwrap();
    let card = token(&a, "alice", IdTokenKind::Rfid, "AA11", IdTokenStatus::Accepted);
    store.insert_id_token(&card).await.unwrap();
    assert_eq!(store.get_id_token(&b, &alice, &card.id).await.unwrap(), None);
    let b_page = store
        .list_id_tokens(&b, &alice, &PageRequest::first(50))
        .await
        .unwrap()
        .unwrap();
    assert!(b_page.items.is_empty(), "b's alice is another user");
    assert!(!store.delete_id_token(&b, &alice, &card.id).await.unwrap());
    assert_eq!(
        store
            .update_id_token(
                &b,
                &alice,
                &card.id,
                &IdTokenChange {
                    status: Some(IdTokenStatus::Blocked),
                    ..IdTokenChange::default()
                },
                time::now()
            )
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.charger_token_policy(&b, &ch).await.unwrap(), None);
    assert!(!store
        .set_charger_token_policy(&b, &ch, Some(UnknownTokenPolicy::Reject))
        .await
        .unwrap());
    assert_eq!(
        store.get_id_token(&a, &alice, &card.id).await.unwrap().unwrap().status,
        IdTokenStatus::Accepted
    );
    assert!(store.chargers_of_user(&b, &alice).await.unwrap().is_empty());
    assert_eq!(store.chargers_of_user(&a, &alice).await.unwrap(), vec![ch]);
}

async fn the_unknown_token_policy_of_a_charger_overrides_its_owner_s(store: Arc<dyn Store>) {
    let a = client(&store, "a").await;
    let ch = charger(&store, &a, "alice", "CP-1").await;
    let alice = UserId::parse("alice").unwrap();
    assert_eq!(
        store.user_token_policy(&a, &alice).await.unwrap(),
        Some(UnknownTokenPolicy::Accept)
    );
    assert_eq!(
        store
            .user_token_policy(&a, &UserId::parse("bob").unwrap())
            .await
            .unwrap(),
        None
    );
    assert!(store
        .set_user_token_policy(&a, &alice, UnknownTokenPolicy::Reject)
        .await
        .unwrap());
    assert_eq!(
        store.lookup_token(&ch, "X").await.unwrap().policy,
        UnknownTokenPolicy::Reject
    );
    assert!(store
        .set_charger_token_policy(&a, &ch, Some(UnknownTokenPolicy::Accept))
        .await
        .unwrap());
    let policy = store.charger_token_policy(&a, &ch).await.unwrap().unwrap();
    assert_eq!(
        (policy.own, policy.owner, policy.effective()),
        (
            Some(UnknownTokenPolicy::Accept),
            UnknownTokenPolicy::Reject,
            UnknownTokenPolicy::Accept
        )
    );
    assert_eq!(
        store.lookup_token(&ch, "X").await.unwrap().policy,
        UnknownTokenPolicy::Accept
    );
    store.set_charger_token_policy(&a, &ch, None).await.unwrap();
    assert_eq!(
        store.lookup_token(&ch, "X").await.unwrap().policy,
        UnknownTokenPolicy::Reject
    );
}

async fn a_local_list_is_kept_per_charger_and_forgotten_on_request(store: Arc<dyn Store>) {
    let a = client(&store, "a").await;
    let ch = charger(&store, &a, "alice", "CP-1").await;
    assert_eq!(store.local_list(&ch).await.unwrap(), None);
    let list = StoredLocalList {
        version: 3,
        entries: vec![LocalListEntry {
            value: "AA11".into(),
            kind: IdTokenKind::Rfid,
            status: IdTokenStatus::Blocked,
            expires_at: None,
            group_id: Some("FLEET".into()),
        }],
        updated_at: time::now(),
    };
    store.save_local_list(&ch, &list).await.unwrap();
    let read = store.local_list(&ch).await.unwrap().unwrap();
    assert_eq!((read.version, &read.entries), (3, &list.entries));
    store
        .save_local_list(&ch, &StoredLocalList { version: 4, ..list })
        .await
        .unwrap();
    assert_eq!(store.local_list(&ch).await.unwrap().unwrap().version, 4);
    store.forget_local_list(&ch).await.unwrap();
    assert_eq!(store.local_list(&ch).await.unwrap(), None);
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

async fn flagged_readings_and_sessions_count_no_energy(store: Arc<dyn Store>) {
    let a = client(&store, "a").await;
    let ch = charger(&store, &a, "alice", "CP-1").await;
    let start = time::now() - Duration::hours(2);
    let id = store
        .start_session(
            &ch,
            &SessionStart {
                connector_id: 1,
                id_tag: Some("AA"),
                meter_start_wh: 1000.0,
                started_at: start,
            },
        )
        .await
        .unwrap();
    store
        .record_meter_values(&ch, 1, Some(id), &[energy(2000.0, start + Duration::minutes(30))])
        .await
        .unwrap();
    store
        .record_implausible_samples(
            &ch,
            1,
            Some(id),
            &[(energy(9e12, start + Duration::minutes(40)), "ABSURD_REGISTER")],
        )
        .await
        .unwrap();
    let last = store.last_energy_reading(&ch, 1).await.unwrap().unwrap();
    assert_eq!(last.register_wh, 2000.0, "a flagged reading is never the last one");
    let session = store.session(&ch, id).await.unwrap().unwrap();
    let readings = store.session_energy_readings(&session).await.unwrap();
    assert!(readings.iter().all(|r| r.register_wh < 1e12), "{readings:?}");
    store.mark_session(&ch, id, Some("BLOCKED"), None).await.unwrap();
    store
        .stop_session(
            &ch,
            &SessionStop {
                transaction_id: id,
                meter_stop_wh: 500.0,
                stopped_at: start + Duration::hours(1),
                reason: None,
                samples: &[],
            },
        )
        .await
        .unwrap();
    store
        .mark_session(&ch, id, None, Some("STOP_BELOW_START"))
        .await
        .unwrap();
    let session = store.session(&ch, id).await.unwrap().unwrap();
    assert_eq!(session.authorisation.as_deref(), Some("BLOCKED"));
    assert_eq!(session.implausible.as_deref(), Some("STOP_BELOW_START"));
    assert_eq!(session.energy_kwh(), 0.0);
    assert_eq!(
        store.session_energy_readings(&session).await.unwrap().len(),
        1,
        "only its start"
    );
}
