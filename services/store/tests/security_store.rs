//! Security events and issued certificates, held to the same behaviour on SQLite and on
//! PostgreSQL (the latter when `COUPLER_TEST_POSTGRES_URL` is set).

#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

use std::sync::Arc;

use chrono::{Duration, DurationRound};
use coupler_core::charger::{ChargerInfo, LiveMeter};
use coupler_core::event::EventType;
use coupler_core::secret::hash_secret;
use coupler_core::security::{CertificateUse, IssuedCertificate, IssuedCertificateId, SecurityEvent, SecurityEventId};
use coupler_core::{
    time, Charger, ChargerId, Client, ClientId, Cursor, OcppIdentity, PageRequest, Store, StoreError, UserId,
};
use coupler_store::on_both_backends;

on_both_backends!(
    a_security_event_reads_back_for_its_client_only_with_its_event_written,
    security_events_page_newest_first,
    an_issued_certificate_reads_back_for_its_client_only_and_a_serial_is_issued_once,
    a_security_event_for_an_unknown_charger_is_refused,
);
/// Times as the backends keep them (microseconds).
fn now() -> chrono::DateTime<chrono::Utc> {
    time::now().duration_trunc(Duration::microseconds(1)).unwrap()
}

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

async fn charger(store: &Arc<dyn Store>, client: &ClientId, ocpp_id: &str) -> ChargerId {
    let user = UserId::parse("owner").unwrap();
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

fn security_event(charger: &ChargerId, kind: &str, received_at: chrono::DateTime<chrono::Utc>) -> SecurityEvent {
    SecurityEvent {
        id: SecurityEventId::generate(),
        client_id: ClientId::new("ignored: the store takes the charger's"),
        charger_id: charger.clone(),
        kind: kind.to_owned(),
        occurred_at: received_at - Duration::seconds(5),
        tech_info: Some("detail".to_owned()),
        received_at,
    }
}

async fn a_security_event_reads_back_for_its_client_only_with_its_event_written(store: Arc<dyn Store>) {
    let mine = client(&store, "mine").await;
    let theirs = client(&store, "theirs").await;
    let charger = charger(&store, &mine, "CP-SEC-1").await;
    let event = security_event(&charger, "TamperDetectionActivated", now());
    store.record_security_event(&event).await.unwrap();
    let read = store.get_security_event(&mine, &event.id).await.unwrap().unwrap();
    assert_eq!(read.client_id, mine);
    assert_eq!(
        (read.kind.as_str(), read.tech_info.as_deref()),
        ("TamperDetectionActivated", Some("detail"))
    );
    assert_eq!(
        (read.occurred_at, read.received_at),
        (event.occurred_at, event.received_at)
    );
    assert!(store.get_security_event(&theirs, &event.id).await.unwrap().is_none());
    assert!(store
        .list_security_events(&theirs, &charger, &PageRequest::first(10))
        .await
        .unwrap()
        .is_none());
    let pending = store.unpublished_events(100).await.unwrap();
    let written: Vec<_> = pending
        .iter()
        .filter(|e| e.event_type == EventType::ChargerSecurityEvent)
        .collect();
    assert_eq!(written.len(), 1);
    assert_eq!(written[0].asset_id, event.id.as_str());
    assert_eq!(
        (written[0].client_id.clone(), written[0].user_id.as_str()),
        (mine, "owner")
    );
}

async fn security_events_page_newest_first(store: Arc<dyn Store>) {
    let mine = client(&store, "mine").await;
    let charger = charger(&store, &mine, "CP-SEC-2").await;
    let start = now();
    for (i, kind) in ["First", "Second", "Third"].into_iter().enumerate() {
        let at = start + Duration::seconds(i64::try_from(i).unwrap());
        store
            .record_security_event(&security_event(&charger, kind, at))
            .await
            .unwrap();
    }
    let first = store
        .list_security_events(&mine, &charger, &PageRequest::first(2))
        .await
        .unwrap()
        .unwrap();
    let kinds: Vec<_> = first.items.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["Third", "Second"]);
    let next = PageRequest {
        size: 2,
        cursor: Some(Cursor::After(first.after.clone().expect("a next page"))),
    };
    let second = store
        .list_security_events(&mine, &charger, &next)
        .await
        .unwrap()
        .unwrap();
    let kinds: Vec<_> = second.items.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["First"]);
}

async fn an_issued_certificate_reads_back_for_its_client_only_and_a_serial_is_issued_once(store: Arc<dyn Store>) {
    let mine = client(&store, "mine").await;
    let theirs = client(&store, "theirs").await;
    let charger = charger(&store, &mine, "CP-SEC-3").await;
    let certificate = IssuedCertificate {
        id: IssuedCertificateId::generate(),
        client_id: mine.clone(),
        charger_id: charger.clone(),
        usage: CertificateUse::ChargingStation,
        serial_number: "7f01".to_owned(),
        subject: "CN=CP-SEC-3".to_owned(),
        not_before: now(),
        not_after: now() + Duration::days(365),
        operation_id: None,
        issued_at: now(),
    };
    store.record_issued_certificate(&certificate).await.unwrap();
    let page = store
        .list_issued_certificates(&mine, &charger, &PageRequest::first(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(page.items, vec![certificate.clone()]);
    assert!(store
        .list_issued_certificates(&theirs, &charger, &PageRequest::first(10))
        .await
        .unwrap()
        .is_none());
    let again = IssuedCertificate {
        id: IssuedCertificateId::generate(),
        ..certificate
    };
    assert!(matches!(
        store.record_issued_certificate(&again).await,
        Err(StoreError::Conflict(_))
    ));
}

async fn a_security_event_for_an_unknown_charger_is_refused(store: Arc<dyn Store>) {
    let event = security_event(&ChargerId::generate(), "X", now());
    assert!(matches!(
        store.record_security_event(&event).await,
        Err(StoreError::Conflict(_))
    ));
}
