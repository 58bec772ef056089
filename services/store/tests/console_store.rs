//! What the console stores and reads: logins and their sessions, a client's latest actions, and
//! retrying a webhook delivery, held to the same behaviour on SQLite and on PostgreSQL (the latter
//! when `COUPLER_TEST_POSTGRES_URL` is set).

#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

use std::sync::Arc;

use chrono::Duration;
use coupler_core::action::TargetState;
use coupler_core::charger::{ChargerInfo, LiveMeter};
use coupler_core::console::{ConsoleLogin, ConsoleLoginId, ConsoleSession};
use coupler_core::event::{AttemptOutcome, DeliveryState, EventFilter, Webhook, WebhookId};
use coupler_core::secret::hash_secret;
use coupler_core::store::{AfterAttempt, RetryOutcome};
use coupler_core::{
    time, Action, ActionKind, Charger, ChargerId, Client, ClientId, DeviceKind, OcppIdentity, Store, StoreError, UserId,
};

use coupler_store::on_both_backends;

on_both_backends!(
    a_login_is_found_by_its_address_listed_for_its_client_and_unique_across_clients,
    a_session_is_found_by_its_token_hash_until_it_expires_or_its_login_goes,
    a_revoked_clients_logins_and_sessions_stop_working,
    the_latest_actions_are_the_clients_own_newest_first,
    a_failed_delivery_is_made_due_again_and_a_delivered_one_is_not,
);

async fn stored_client(store: &Arc<dyn Store>, name: &str) -> Client {
    let client = Client {
        id: ClientId::generate(),
        name: name.into(),
        secret_hash: hash_secret(name),
        created_at: time::now(),
        revoked_at: None,
    };
    store.insert_client(&client).await.unwrap();
    client
}

fn login(client: &ClientId, email: &str) -> ConsoleLogin {
    ConsoleLogin {
        id: ConsoleLoginId::generate(),
        client_id: client.clone(),
        email: email.into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g".into(),
        created_at: time::now(),
    }
}

fn session(login: &ConsoleLogin, token: &str, lasts: Duration) -> ConsoleSession {
    let now = time::now();
    ConsoleSession {
        token_hash: hash_secret(token),
        login_id: login.id.clone(),
        client_id: login.client_id.clone(),
        email: login.email.clone(),
        created_at: now,
        expires_at: now + lasts,
    }
}

async fn a_login_is_found_by_its_address_listed_for_its_client_and_unique_across_clients(store: Arc<dyn Store>) {
    let a = stored_client(&store, "a").await;
    let b = stored_client(&store, "b").await;
    let ann = login(&a.id, "ann@example.com");
    store.insert_console_login(&ann).await.unwrap();
    assert_eq!(
        store.console_login_by_email("ann@example.com").await.unwrap(),
        Some(ann.clone())
    );
    assert_eq!(store.console_login_by_email("bob@example.com").await.unwrap(), None);
    assert_eq!(store.list_console_logins(&a.id).await.unwrap(), vec![ann.clone()]);
    assert!(store.list_console_logins(&b.id).await.unwrap().is_empty());

    // One address, one login, whichever client asks.
    let taken = store.insert_console_login(&login(&b.id, "ann@example.com")).await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");
    let nobody = store
        .insert_console_login(&login(&ClientId::new("no-such-client"), "x@example.com"))
        .await;
    assert!(matches!(nobody, Err(StoreError::Conflict(_))), "{nobody:?}");

    // Another client cannot remove it.
    assert!(!store.delete_console_login(&b.id, "ann@example.com").await.unwrap());
    assert!(store.delete_console_login(&a.id, "ann@example.com").await.unwrap());
    assert_eq!(store.console_login_by_email("ann@example.com").await.unwrap(), None);
}

async fn a_session_is_found_by_its_token_hash_until_it_expires_or_its_login_goes(store: Arc<dyn Store>) {
    let a = stored_client(&store, "a").await;
    let ann = login(&a.id, "ann@example.com");
    store.insert_console_login(&ann).await.unwrap();
    let live = session(&ann, "live-token", Duration::hours(1));
    let stale = session(&ann, "stale-token", Duration::seconds(-1));
    store.insert_console_session(&live).await.unwrap();
    store.insert_console_session(&stale).await.unwrap();
    let now = time::now();
    assert_eq!(
        store.console_session(&hash_secret("live-token"), now).await.unwrap(),
        Some(live.clone())
    );
    assert_eq!(
        store.console_session(&hash_secret("stale-token"), now).await.unwrap(),
        None,
        "an expired session is refused"
    );
    assert_eq!(store.console_session(&hash_secret("made-up"), now).await.unwrap(), None);
    assert_eq!(store.delete_expired_console_sessions(now).await.unwrap(), 1);

    // Signing out ends one session; removing the login ends the rest.
    let other = session(&ann, "other-token", Duration::hours(1));
    store.insert_console_session(&other).await.unwrap();
    assert!(store.delete_console_session(&hash_secret("live-token")).await.unwrap());
    assert!(!store.delete_console_session(&hash_secret("live-token")).await.unwrap());
    assert!(store
        .console_session(&hash_secret("other-token"), now)
        .await
        .unwrap()
        .is_some());
    store.delete_console_login(&a.id, "ann@example.com").await.unwrap();
    assert_eq!(
        store.console_session(&hash_secret("other-token"), now).await.unwrap(),
        None
    );
    // A session for a login that is gone cannot be stored.
    let orphan = store
        .insert_console_session(&session(&ann, "late", Duration::hours(1)))
        .await;
    assert!(matches!(orphan, Err(StoreError::Conflict(_))), "{orphan:?}");
}

async fn a_revoked_clients_logins_and_sessions_stop_working(store: Arc<dyn Store>) {
    let a = stored_client(&store, "a").await;
    let ann = login(&a.id, "ann@example.com");
    store.insert_console_login(&ann).await.unwrap();
    store
        .insert_console_session(&session(&ann, "token", Duration::hours(1)))
        .await
        .unwrap();
    store.revoke_client(&a.id, time::now()).await.unwrap();
    assert_eq!(store.console_login_by_email("ann@example.com").await.unwrap(), None);
    assert_eq!(
        store.console_session(&hash_secret("token"), time::now()).await.unwrap(),
        None
    );
}

async fn the_latest_actions_are_the_clients_own_newest_first(store: Arc<dyn Store>) {
    let a = stored_client(&store, "a").await;
    let b = stored_client(&store, "b").await;
    let alice = UserId::parse("alice").unwrap();
    store.upsert_user(&a.id, &alice).await.unwrap();
    store.upsert_user(&b.id, &alice).await.unwrap();
    let start = time::now();
    let mut made = Vec::new();
    for minutes in 0..3 {
        let action = Action::new(
            a.id.clone(),
            alice.clone(),
            DeviceKind::Charger,
            "charger-1".into(),
            ActionKind::SetMaxCurrent,
            TargetState::max_current(10.0),
            None,
            start + Duration::minutes(minutes),
            Duration::seconds(60),
        );
        store.insert_action(&action).await.unwrap();
        made.push(action.id);
    }
    let theirs = Action::new(
        b.id.clone(),
        alice.clone(),
        DeviceKind::Charger,
        "charger-2".into(),
        ActionKind::SetMaxCurrent,
        TargetState::max_current(10.0),
        None,
        start,
        Duration::seconds(60),
    );
    store.insert_action(&theirs).await.unwrap();

    let latest: Vec<_> = store
        .recent_actions(&a.id, 2)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(latest, vec![made[2].clone(), made[1].clone()]);
    let all = store.recent_actions(&b.id, 10).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].id, theirs.id);
}

async fn a_failed_delivery_is_made_due_again_and_a_delivered_one_is_not(store: Arc<dyn Store>) {
    let a = stored_client(&store, "a").await;
    let b = stored_client(&store, "b").await;
    let alice = UserId::parse("alice").unwrap();
    store.upsert_user(&a.id, &alice).await.unwrap();
    let charger = Charger {
        id: ChargerId::generate(),
        client_id: a.id.clone(),
        user_id: alice.clone(),
        ocpp_id: OcppIdentity::parse("CP-RETRY").unwrap(),
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
    let pending = store.unpublished_events(100).await.unwrap();
    let rendered: Vec<_> = pending
        .iter()
        .map(|e| (e.id, serde_json::json!({"id": e.asset_id})))
        .collect();
    store.publish_events(&rendered).await.unwrap();
    let now = time::now();
    let hook = Webhook {
        id: WebhookId::generate(),
        client_id: a.id.clone(),
        url: "https://hooks.example.com/x".into(),
        secret_sealed: "sealed".into(),
        events: EventFilter::all(),
        is_active: true,
        cursor_seq: 0,
        failure_count: 0,
        last_success: None,
        created_at: now,
        updated_at: now,
    };
    store.insert_webhook(&hook).await.unwrap();
    let delivery = store.next_delivery(&hook, 100, now).await.unwrap().unwrap();
    let failed = AttemptOutcome {
        status: Some(503),
        error: Some("the receiver answered 503".into()),
        duration: std::time::Duration::from_millis(5),
        succeeded: false,
    };
    store
        .record_attempt(&delivery.id, &failed, AfterAttempt::GiveUp, now)
        .await
        .unwrap();
    assert!(!store.get_webhook(&a.id, &hook.id).await.unwrap().unwrap().is_active);

    // Another client knows no such delivery.
    assert_eq!(
        store.retry_delivery(&b.id, &hook.id, &delivery.id, now).await.unwrap(),
        RetryOutcome::NotFound
    );
    let later = now + Duration::seconds(5);
    let RetryOutcome::Retried(retried) = store
        .retry_delivery(&a.id, &hook.id, &delivery.id, later)
        .await
        .unwrap()
    else {
        panic!("the failed delivery is retried");
    };
    assert_eq!(retried.state, DeliveryState::Pending);
    assert_eq!(retried.next_attempt_at, Some(later));
    assert_eq!(retried.attempts, 1, "the attempts made are kept");
    assert!(store.get_webhook(&a.id, &hook.id).await.unwrap().unwrap().is_active);
    assert_eq!(
        store.pending_delivery(&hook.id).await.unwrap().map(|d| d.id),
        Some(delivery.id.clone())
    );

    let succeeded = AttemptOutcome {
        status: Some(200),
        error: None,
        duration: std::time::Duration::from_millis(5),
        succeeded: true,
    };
    store
        .record_attempt(&delivery.id, &succeeded, AfterAttempt::Done, later)
        .await
        .unwrap();
    assert_eq!(
        store
            .retry_delivery(&a.id, &hook.id, &delivery.id, later)
            .await
            .unwrap(),
        RetryOutcome::AlreadyDelivered
    );
}
