//! One suite, two backends: every test here runs on SQLite and on PostgreSQL
//! (the latter when `COUPLER_TEST_POSTGRES_URL` is set).

#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

use std::sync::Arc;

use chrono::Duration;
use coupler_core::action::{Attempt, AttemptOutcome, TargetState};
use coupler_core::page::{Cursor, PageRequest};
use coupler_core::secret::hash_secret;
use coupler_core::{
    time, AccessToken, Action, ActionKind, ActionState, Client, ClientId, DeviceKind, FailureType, Store, StoreError,
    UserId,
};

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
