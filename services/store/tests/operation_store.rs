//! Operations on chargers and their reservations, held to the same behaviour on SQLite and on
//! PostgreSQL (the latter when `COUPLER_TEST_POSTGRES_URL` is set).

#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

use std::sync::Arc;

use chrono::{Duration, DurationRound};
use coupler_core::charger::{ChargerInfo, LiveMeter};
use coupler_core::control::{ChargerCommand, CommandReply, ControlError};
use coupler_core::node::NodeId;
use coupler_core::operation::{
    firmware_progress, FailureKind, Initiator, Operation, OperationId, OperationKind, OperationStatus, Reservation,
    ReservationStatus,
};
use coupler_core::secret::hash_secret;
use coupler_core::security::{CertificateHash, HashAlgorithm, InstalledCertificate};
use coupler_core::{time, Charger, ChargerId, Client, ClientId, OcppIdentity, PageRequest, Store, StoreError, UserId};
use serde_json::json;

use coupler_store::on_both_backends;

on_both_backends!(
    an_operation_reads_back_for_its_client_only_and_pages_newest_first,
    request_ids_are_allocated_per_charger_for_the_kinds_that_carry_one,
    a_save_over_a_stale_revision_changes_nothing,
    a_status_notification_finds_its_operation_by_request_id_or_the_newest_open_one,
    operations_left_unanswered_by_a_previous_run_are_failed_as_interrupted,
    an_operation_handed_to_the_node_holding_the_charger_is_listed_for_it_with_its_command,
    a_reservation_is_stored_with_its_operation_and_moves_only_from_the_states_it_may,
    reservations_read_back_for_their_client_only,
    an_operation_on_an_unknown_charger_is_refused,
    the_certificates_a_charger_reported_read_back_on_their_operation,
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

fn operation(client: &ClientId, charger: &ChargerId, kind: OperationKind) -> Operation {
    Operation::requested(client.clone(), charger.clone(), kind, json!({"a": 1}), now())
}

async fn an_operation_reads_back_for_its_client_only_and_pages_newest_first(store: Arc<dyn Store>) {
    let alice = client(&store, "alice").await;
    let mallory = client(&store, "mallory").await;
    let ch = charger(&store, &alice, "CP-OPS-1").await;
    let mut ids = Vec::new();
    for kind in [
        OperationKind::Reset,
        OperationKind::ClearCache,
        OperationKind::TriggerMessage,
    ] {
        let stored = store
            .insert_operation(&operation(&alice, &ch, kind), None)
            .await
            .unwrap();
        assert_eq!(stored.request_id, None, "{kind:?} carries no number");
        assert_eq!(stored.status, OperationStatus::Pending);
        ids.push(stored.id);
    }
    let read = store.get_operation(&alice, &ch, &ids[0]).await.unwrap().unwrap();
    assert_eq!((read.kind, &read.request), (OperationKind::Reset, &json!({"a": 1})));
    assert_eq!(read.initiator, Initiator::Coupler);
    assert!(store.get_operation(&mallory, &ch, &ids[0]).await.unwrap().is_none());
    assert!(store
        .list_operations(&mallory, &ch, &PageRequest::first(10))
        .await
        .unwrap()
        .is_none());

    let first = store
        .list_operations(&alice, &ch, &PageRequest::first(2))
        .await
        .unwrap()
        .unwrap();
    let got: Vec<_> = first.items.iter().map(|o| o.id.clone()).collect();
    assert_eq!(got, vec![ids[2].clone(), ids[1].clone()], "newest first");
    let after = first.after.unwrap();
    let next = store
        .list_operations(
            &alice,
            &ch,
            &PageRequest::parse(Some(2), Some(&after.encode()), None).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.items.len(), 1);
    assert_eq!(next.items[0].id, ids[0]);
    assert!(next.after.is_none());
}

async fn request_ids_are_allocated_per_charger_for_the_kinds_that_carry_one(store: Arc<dyn Store>) {
    let alice = client(&store, "alice").await;
    let one = charger(&store, &alice, "CP-OPS-2").await;
    let two = charger(&store, &alice, "CP-OPS-3").await;
    let mut numbers = Vec::new();
    for kind in [
        OperationKind::UpdateFirmware,
        OperationKind::Reset,
        OperationKind::GetDiagnostics,
        OperationKind::GetBaseReport,
    ] {
        numbers.push(
            store
                .insert_operation(&operation(&alice, &one, kind), None)
                .await
                .unwrap()
                .request_id,
        );
    }
    assert_eq!(numbers, vec![Some(1), None, Some(2), Some(3)]);
    let other = store
        .insert_operation(&operation(&alice, &two, OperationKind::UpdateFirmware), None)
        .await
        .unwrap();
    assert_eq!(other.request_id, Some(1), "each charger counts on its own");
}

async fn a_save_over_a_stale_revision_changes_nothing(store: Arc<dyn Store>) {
    let alice = client(&store, "alice").await;
    let ch = charger(&store, &alice, "CP-OPS-4").await;
    let mut op = store
        .insert_operation(&operation(&alice, &ch, OperationKind::UpdateFirmware), None)
        .await
        .unwrap();
    let stale = op.clone();
    op.mark_sent("UpdateFirmware", now());
    assert!(store.save_operation(&op).await.unwrap());
    let mut late = stale;
    late.apply_answer(&Err(ControlError::Timeout), now());
    assert!(
        !store.save_operation(&late).await.unwrap(),
        "saved over a revision that moved on"
    );

    let mut read = store.operation(&op.id).await.unwrap().unwrap();
    assert_eq!((read.status, read.revision), (OperationStatus::Sent, 1));
    read.apply_answer(
        &Ok(CommandReply::Status {
            accepted: true,
            status: "Accepted".into(),
        }),
        now(),
    );
    read.apply_progress("Downloading", firmware_progress("Downloading"), now());
    assert!(store.save_operation(&read).await.unwrap());
    let read = store.operation(&op.id).await.unwrap().unwrap();
    assert_eq!(read.status, OperationStatus::InProgress);
    assert_eq!(read.answer, Some(json!({"status": "Accepted"})));
    assert_eq!(read.progress[0].status, "Downloading");
    assert_eq!(read.ocpp_action.as_deref(), Some("UpdateFirmware"));
}

async fn a_status_notification_finds_its_operation_by_request_id_or_the_newest_open_one(store: Arc<dyn Store>) {
    let alice = client(&store, "alice").await;
    let ch = charger(&store, &alice, "CP-OPS-5").await;
    let firmware = [OperationKind::UpdateFirmware];
    let mut older = store
        .insert_operation(&operation(&alice, &ch, OperationKind::UpdateFirmware), None)
        .await
        .unwrap();
    older.mark_sent("UpdateFirmware", now());
    assert!(store.save_operation(&older).await.unwrap());
    let mut newer = store
        .insert_operation(&operation(&alice, &ch, OperationKind::UpdateFirmware), None)
        .await
        .unwrap();
    assert!(
        store
            .operation_for_progress(&ch, &firmware, None)
            .await
            .unwrap()
            .map(|o| o.id)
            == Some(older.id.clone()),
        "a pending operation was not sent, so no notification is about it"
    );
    newer.mark_sent("UpdateFirmware", now());
    assert!(store.save_operation(&newer).await.unwrap());
    let open = store
        .operation_for_progress(&ch, &firmware, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(open.id, newer.id);
    let named = store
        .operation_for_progress(&ch, &firmware, older.request_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(named.id, older.id);
    assert!(store
        .operation_for_progress(&ch, &[OperationKind::GetDiagnostics], None)
        .await
        .unwrap()
        .is_none());
}

fn node(id: &str) -> NodeId {
    NodeId::parse(id).unwrap()
}

/// `operation`, taken by `node`.
fn on(node_id: &str, mut operation: Operation) -> Operation {
    operation.node = Some(node(node_id));
    operation
}

async fn operations_left_unanswered_by_a_previous_run_are_failed_as_interrupted(store: Arc<dyn Store>) {
    let alice = client(&store, "alice").await;
    let ch = charger(&store, &alice, "CP-OPS-6").await;
    let minute_on = time::now() + Duration::minutes(1);
    store.register_node(&node("node-a"), now(), minute_on).await.unwrap();
    store.register_node(&node("node-b"), now(), minute_on).await.unwrap();
    let mine = store
        .insert_operation(&on("node-a", operation(&alice, &ch, OperationKind::Reset)), None)
        .await
        .unwrap();
    let live_nodes = store
        .insert_operation(&on("node-b", operation(&alice, &ch, OperationKind::Reset)), None)
        .await
        .unwrap();
    let dead_nodes = store
        .insert_operation(&on("node-gone", operation(&alice, &ch, OperationKind::Reset)), None)
        .await
        .unwrap();
    let unnamed = store
        .insert_operation(&operation(&alice, &ch, OperationKind::Reset), None)
        .await
        .unwrap();
    let mut answered = store
        .insert_operation(&on("node-a", operation(&alice, &ch, OperationKind::ClearCache)), None)
        .await
        .unwrap();
    answered.apply_answer(
        &Ok(CommandReply::Status {
            accepted: true,
            status: "Accepted".into(),
        }),
        now(),
    );
    assert!(store.save_operation(&answered).await.unwrap());

    // node-a starts again: its own previous run's, the dead node's and the unnamed one are failed;
    // live node-b's is left to it.
    assert_eq!(
        store
            .interrupt_unanswered_operations(&node("node-a"), now())
            .await
            .unwrap(),
        3
    );
    for failed in [&mine, &dead_nodes, &unnamed] {
        let failed = store.operation(&failed.id).await.unwrap().unwrap();
        assert_eq!(failed.status, OperationStatus::Failed);
        assert_eq!(failed.failure.map(|f| f.kind), Some(FailureKind::Interrupted));
    }
    let left = store.operation(&live_nodes.id).await.unwrap().unwrap();
    assert_eq!(
        (left.status, left.node),
        (OperationStatus::Pending, Some(node("node-b")))
    );
    let answered = store.operation(&answered.id).await.unwrap().unwrap();
    assert_eq!(answered.status, OperationStatus::Accepted);

    // Once node-b's lease lapsed, the node that sweeps it away fails its operation.
    store
        .renew_node(&node("node-b"), now(), time::now() - Duration::seconds(1))
        .await
        .unwrap();
    store.sweep_lapsed_nodes(time::now(), false).await.unwrap();
    let swept = store.operation(&live_nodes.id).await.unwrap().unwrap();
    assert_eq!(swept.status, OperationStatus::Failed);
    assert_eq!(swept.failure.map(|f| f.kind), Some(FailureKind::Interrupted));
    assert_eq!(
        store
            .interrupt_unanswered_operations(&node("node-c"), now())
            .await
            .unwrap(),
        0
    );
}

async fn an_operation_handed_to_the_node_holding_the_charger_is_listed_for_it_with_its_command(store: Arc<dyn Store>) {
    let alice = client(&store, "alice").await;
    let ch = charger(&store, &alice, "CP-OPS-HAND").await;
    let taken = store
        .insert_operation(
            &on("node-b", operation(&alice, &ch, OperationKind::GetConfiguration)),
            None,
        )
        .await
        .unwrap();
    let command = ChargerCommand::GetConfiguration {
        keys: vec!["HeartbeatInterval".into()],
    };
    assert!(store.handed_operations(&node("node-a")).await.unwrap().is_empty());
    // Only the node that has it may hand it on.
    assert!(!store
        .hand_over_operation(&taken.id, &node("node-c"), &node("node-a"), &command)
        .await
        .unwrap());
    assert!(store
        .hand_over_operation(&taken.id, &node("node-b"), &node("node-a"), &command)
        .await
        .unwrap());
    let handed = store.handed_operations(&node("node-a")).await.unwrap();
    assert_eq!(handed.len(), 1);
    assert_eq!(handed[0].0.id, taken.id);
    assert_eq!(handed[0].0.node, Some(node("node-a")));
    assert_eq!(handed[0].1, command);
    assert!(store.handed_operations(&node("node-b")).await.unwrap().is_empty());

    // Once sent, it is no longer waiting to be sent.
    let mut sent = handed[0].0.clone();
    sent.mark_sent("GetConfiguration", now());
    assert!(store.save_operation(&sent).await.unwrap());
    assert!(store.handed_operations(&node("node-a")).await.unwrap().is_empty());
    assert!(!store
        .hand_over_operation(&taken.id, &node("node-a"), &node("node-c"), &command)
        .await
        .unwrap());
}

fn reservation(client: &ClientId, charger: &ChargerId) -> Reservation {
    Reservation {
        charger_id: charger.clone(),
        client_id: client.clone(),
        reservation_id: 0,
        operation_id: OperationId::new("set by the store"),
        connector_id: 1,
        id_tag: "RFID-1".into(),
        parent_id_tag: Some("FLEET".into()),
        expires_at: now() + Duration::minutes(30),
        status: ReservationStatus::Requested,
        transaction_id: None,
        created_at: now(),
        updated_at: now(),
    }
}

async fn a_reservation_is_stored_with_its_operation_and_moves_only_from_the_states_it_may(store: Arc<dyn Store>) {
    let alice = client(&store, "alice").await;
    let ch = charger(&store, &alice, "CP-OPS-7").await;
    let op = store
        .insert_operation(
            &operation(&alice, &ch, OperationKind::ReserveNow),
            Some(&reservation(&alice, &ch)),
        )
        .await
        .unwrap();
    let id = op.request_id.unwrap();
    let stored = store.reservation(&ch, id).await.unwrap().unwrap();
    assert_eq!(
        (
            &stored.operation_id,
            stored.status,
            stored.connector_id,
            stored.id_tag.as_str()
        ),
        (&op.id, ReservationStatus::Requested, 1, "RFID-1")
    );
    let requested = [ReservationStatus::Requested];
    assert!(store
        .set_reservation_status(&ch, id, &requested, ReservationStatus::Active, None, now())
        .await
        .unwrap());
    assert_eq!(
        store
            .reservations_in(&ch, ReservationStatus::Active)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        !store
            .set_reservation_status(&ch, id, &requested, ReservationStatus::Rejected, None, now())
            .await
            .unwrap(),
        "no longer requested"
    );
    assert!(store
        .set_reservation_status(
            &ch,
            id,
            &[ReservationStatus::Active],
            ReservationStatus::Consumed,
            Some(42),
            now()
        )
        .await
        .unwrap());
    let consumed = store.reservation(&ch, id).await.unwrap().unwrap();
    assert_eq!(
        (consumed.status, consumed.transaction_id),
        (ReservationStatus::Consumed, Some(42))
    );
}

async fn reservations_read_back_for_their_client_only(store: Arc<dyn Store>) {
    let alice = client(&store, "alice").await;
    let mallory = client(&store, "mallory").await;
    let ch = charger(&store, &alice, "CP-OPS-8").await;
    for _ in 0..3 {
        store
            .insert_operation(
                &operation(&alice, &ch, OperationKind::ReserveNow),
                Some(&reservation(&alice, &ch)),
            )
            .await
            .unwrap();
    }
    let page = store
        .list_reservations(&alice, &ch, &PageRequest::first(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        page.items.iter().map(|r| r.reservation_id).collect::<Vec<_>>(),
        vec![3, 2]
    );
    let rest = store
        .list_reservations(
            &alice,
            &ch,
            &PageRequest::parse(Some(2), Some(&page.after.unwrap().encode()), None).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rest.items.iter().map(|r| r.reservation_id).collect::<Vec<_>>(), vec![1]);
    assert!(store
        .list_reservations(&mallory, &ch, &PageRequest::first(10))
        .await
        .unwrap()
        .is_none());
}

async fn an_operation_on_an_unknown_charger_is_refused(store: Arc<dyn Store>) {
    let alice = client(&store, "alice").await;
    let missing = ChargerId::generate();
    let refused = store
        .insert_operation(&operation(&alice, &missing, OperationKind::Reset), None)
        .await;
    assert!(matches!(refused, Err(StoreError::Conflict(_))), "{refused:?}");
}

async fn the_certificates_a_charger_reported_read_back_on_their_operation(store: Arc<dyn Store>) {
    let alice = client(&store, "alice").await;
    let ch = charger(&store, &alice, "CP-OPS-CERTS").await;
    for kind in [
        OperationKind::InstallCertificate,
        OperationKind::GetInstalledCertificateIds,
        OperationKind::DeleteCertificate,
    ] {
        let stored = store
            .insert_operation(&operation(&alice, &ch, kind), None)
            .await
            .unwrap();
        assert_eq!(stored.request_id, None, "{kind:?} carries no number");
        let read = store.get_operation(&alice, &ch, &stored.id).await.unwrap().unwrap();
        assert_eq!(read.kind, kind);
    }
    let mut listing = store
        .insert_operation(&operation(&alice, &ch, OperationKind::GetInstalledCertificateIds), None)
        .await
        .unwrap();
    let hash = |serial: &str| CertificateHash {
        algorithm: HashAlgorithm::Sha384,
        issuer_name_hash: "aabbccdd".repeat(8),
        issuer_key_hash: "eeff0011".repeat(8),
        serial_number: serial.into(),
    };
    let reply = CommandReply::InstalledCertificates {
        status: "Accepted".into(),
        certificates: vec![InstalledCertificate {
            kind: "V2GCertificateChain".into(),
            hash: hash("01020304"),
            children: vec![hash("0a")],
        }],
    };
    listing.mark_sent("GetInstalledCertificateIds", now());
    listing.apply_answer(&Ok(reply), now());
    assert!(store.save_operation(&listing).await.unwrap());
    let read = store.get_operation(&alice, &ch, &listing.id).await.unwrap().unwrap();
    assert_eq!(read.status, OperationStatus::Accepted);
    assert_eq!(read.answer_status.as_deref(), Some("Accepted"));
    let certificates = &read.answer.unwrap()["certificates"];
    assert_eq!(certificates[0]["certificateType"], "V2GCertificateChain");
    assert_eq!(
        certificates[0]["certificateHashData"],
        json!({"hashAlgorithm": "SHA384", "issuerNameHash": "aabbccdd".repeat(8),
               "issuerKeyHash": "eeff0011".repeat(8), "serialNumber": "01020304"})
    );
    assert_eq!(certificates[0]["childCertificateHashData"][0]["serialNumber"], "0a");
}
