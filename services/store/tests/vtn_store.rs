//! Programs bound to OpenADR 3 VTNs and what became of each VTN event interval, held to the same
//! behaviour on SQLite and on PostgreSQL (the latter when `COUPLER_TEST_POSTGRES_URL` is set).

#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use coupler_core::flex::{EligibilityRules, FlexDeviceKind, Program, ProgramId, ProgramKind, ProgramLimits};
use coupler_core::openadr::{OpenAdrVersion, SimpleAction, VtnBinding, VtnEventLink, VtnSettings, VtnStatus};
use coupler_core::secret::hash_secret;
use coupler_core::{time, Client, ClientId, Store};

use coupler_store::on_both_backends;

on_both_backends!(
    a_binding_is_the_client_s_alone_and_reads_back_as_stored,
    a_look_s_outcome_is_kept_and_a_wake_during_the_look_is_not_lost,
    a_rebinding_to_another_vtn_forgets_what_the_old_one_said,
    each_vtn_event_interval_is_kept_once_and_goes_with_its_binding,
);

fn now() -> DateTime<Utc> {
    time::now().trunc_subsecs(3)
}

async fn program(store: &Arc<dyn Store>, name: &str) -> (ClientId, ProgramId) {
    let client = Client {
        id: ClientId::generate(),
        name: name.into(),
        secret_hash: hash_secret(name),
        created_at: time::now(),
        revoked_at: None,
    };
    store.insert_client(&client).await.unwrap();
    let at = now();
    let program = Program {
        id: ProgramId::generate(),
        client_id: client.id.clone(),
        name: "Peak relief".into(),
        kind: ProgramKind::CapacityLimit,
        eligibility: EligibilityRules {
            device_kinds: vec![FlexDeviceKind::Charger],
            required_capabilities: Vec::new(),
            service_area: Vec::new(),
        },
        limits: ProgramLimits {
            max_events_per_year: None,
            max_event_minutes: 120,
            min_notice_minutes: 0,
        },
        incentive: serde_json::json!({}),
        created_at: at,
        updated_at: at,
    };
    store.insert_program(&program).await.unwrap();
    (client.id, program.id)
}

fn binding(client: &ClientId, program: &ProgramId, base_url: &str) -> VtnBinding {
    let at = now();
    VtnBinding {
        program_id: program.clone(),
        client_id: client.clone(),
        settings: VtnSettings {
            base_url: base_url.to_owned(),
            token_url: None,
            client_id: Some("ven".into()),
            vtn_program: "peak".into(),
            version: OpenAdrVersion::V3_1,
            poll_interval_seconds: 60,
            ven_name: None,
            simple_levels: BTreeMap::from([("3".to_owned(), SimpleAction::Limit { kw: 0.0 })]),
            price_area: Some("TOU".into()),
            callback_url: None,
        },
        client_secret_sealed: Some("v1:sealed-secret".into()),
        callback_token_sealed: "v1:sealed-callback".into(),
        ven_id: None,
        vtn_program_id: None,
        subscription_id: None,
        status: VtnStatus {
            next_poll_at: at,
            ..VtnStatus::default()
        },
        wakes: 0,
        created_at: at,
        updated_at: at,
    }
}

async fn a_binding_is_the_client_s_alone_and_reads_back_as_stored(store: Arc<dyn Store>) {
    let (client, program) = program(&store, "utility").await;
    let (other, _) = self::program(&store, "aggregator").await;
    let bound = binding(&client, &program, "https://vtn.example.com");
    store.put_vtn_binding(&bound, false).await.unwrap();
    assert_eq!(
        store.get_vtn_binding(&client, &program).await.unwrap(),
        Some(bound.clone())
    );
    assert_eq!(store.vtn_binding_of_program(&program).await.unwrap(), Some(bound));
    assert_eq!(store.get_vtn_binding(&other, &program).await.unwrap(), None);
    assert!(
        !store.delete_vtn_binding(&other, &program).await.unwrap(),
        "not the other client's"
    );
    assert!(store.delete_vtn_binding(&client, &program).await.unwrap());
    assert_eq!(store.get_vtn_binding(&client, &program).await.unwrap(), None);
}

async fn a_look_s_outcome_is_kept_and_a_wake_during_the_look_is_not_lost(store: Arc<dyn Store>) {
    let (client, program) = program(&store, "utility").await;
    let bound = binding(&client, &program, "https://vtn.example.com");
    store.put_vtn_binding(&bound, false).await.unwrap();
    let start = now();
    assert_eq!(store.due_vtn_bindings(start, 10).await.unwrap(), vec![program.clone()]);
    // A look fails: kept with its error and the retry.
    let failed = VtnStatus {
        last_poll_at: Some(start),
        last_success_at: None,
        last_error: Some("the VTN is unavailable".into()),
        failures: 2,
        next_poll_at: start + Duration::seconds(4),
    };
    store
        .save_vtn_state(&program, 0, Some("ven-1"), Some("prog-1"), None, &failed)
        .await
        .unwrap();
    let read = store.get_vtn_binding(&client, &program).await.unwrap().unwrap();
    assert_eq!(
        (read.ven_id.as_deref(), read.vtn_program_id.as_deref()),
        (Some("ven-1"), Some("prog-1"))
    );
    assert_eq!(read.status, failed);
    assert!(store.due_vtn_bindings(start, 10).await.unwrap().is_empty());
    assert_eq!(store.next_vtn_poll().await.unwrap(), Some(start + Duration::seconds(4)));
    // A look begins (having seen no wakes), and a poll-now comes while it runs: the look's own
    // next poll does not bury the wake, which leaves a look due at once.
    let look = start + Duration::seconds(5);
    let seen = store.get_vtn_binding(&client, &program).await.unwrap().unwrap().wakes;
    store
        .wake_vtn_binding(&program, look + Duration::seconds(1))
        .await
        .unwrap();
    let ok = VtnStatus {
        last_poll_at: Some(look),
        last_success_at: Some(look),
        last_error: None,
        failures: 0,
        next_poll_at: look + Duration::seconds(60),
    };
    store
        .save_vtn_state(&program, seen, Some("ven-1"), Some("prog-1"), Some("sub-1"), &ok)
        .await
        .unwrap();
    let read = store.get_vtn_binding(&client, &program).await.unwrap().unwrap();
    assert!(
        read.status.next_poll_at <= look,
        "the wake leaves a look due: {:?}",
        read.status
    );
    assert_eq!(store.due_vtn_bindings(look, 10).await.unwrap(), vec![program.clone()]);
    // The next look has seen that wake: its own next poll stands.
    store
        .save_vtn_state(&program, read.wakes, Some("ven-1"), Some("prog-1"), Some("sub-1"), &ok)
        .await
        .unwrap();
    let read = store.get_vtn_binding(&client, &program).await.unwrap().unwrap();
    assert_eq!(read.status.next_poll_at, look + Duration::seconds(60));
    assert_eq!((read.status.failures, read.status.last_error), (0, None));
    assert_eq!(read.subscription_id.as_deref(), Some("sub-1"));
}

async fn a_rebinding_to_another_vtn_forgets_what_the_old_one_said(store: Arc<dyn Store>) {
    let (client, program) = program(&store, "utility").await;
    let bound = binding(&client, &program, "https://vtn.example.com");
    store.put_vtn_binding(&bound, false).await.unwrap();
    let status = VtnStatus {
        next_poll_at: now() + Duration::hours(1),
        ..VtnStatus::default()
    };
    store
        .save_vtn_state(&program, 0, Some("ven-1"), Some("prog-1"), None, &status)
        .await
        .unwrap();
    let same = binding(&client, &program, "https://vtn.example.com");
    store.put_vtn_binding(&same, true).await.unwrap();
    let read = store.get_vtn_binding(&client, &program).await.unwrap().unwrap();
    assert_eq!(read.ven_id.as_deref(), Some("ven-1"), "the same VTN keeps its VEN");
    assert_eq!(
        read.status.next_poll_at, same.status.next_poll_at,
        "and looks again at once"
    );
    let other = binding(&client, &program, "https://other-vtn.example.com");
    store.put_vtn_binding(&other, false).await.unwrap();
    let read = store.get_vtn_binding(&client, &program).await.unwrap().unwrap();
    assert_eq!((read.ven_id, read.vtn_program_id), (None, None));
    assert_eq!(read.settings.base_url, "https://other-vtn.example.com");
}

async fn each_vtn_event_interval_is_kept_once_and_goes_with_its_binding(store: Arc<dyn Store>) {
    let (client, program) = program(&store, "utility").await;
    store
        .put_vtn_binding(&binding(&client, &program, "https://vtn.example.com"), false)
        .await
        .unwrap();
    let link = |interval_id: i64, fingerprint: &str| VtnEventLink {
        program_id: program.clone(),
        vtn_event_id: "ev-1".into(),
        interval_id,
        flex_event_id: None,
        fingerprint: fingerprint.into(),
        outcome: Some("nothing Coupler acts on".into()),
        report_id: None,
        report_fingerprint: None,
        gone_at: None,
        updated_at: now(),
    };
    store.save_vtn_event_link(&link(1, "a")).await.unwrap();
    store.save_vtn_event_link(&link(0, "a")).await.unwrap();
    let mut changed = link(1, "b");
    changed.report_id = Some("rep-1".into());
    changed.gone_at = Some(now());
    store.save_vtn_event_link(&changed).await.unwrap();
    let links = store.vtn_event_links(&program).await.unwrap();
    assert_eq!(links.len(), 2);
    assert_eq!(links[0].interval_id, 0);
    assert_eq!(links[1], changed);
    assert!(store.delete_vtn_binding(&client, &program).await.unwrap());
    assert!(store.vtn_event_links(&program).await.unwrap().is_empty());
}
