//! Flexibility programs, enrolments, groups, events and their targets, held to the same behaviour
//! on SQLite and on PostgreSQL (the latter when `COUPLER_TEST_POSTGRES_URL` is set).

#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

use std::sync::Arc;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use coupler_core::account::SealedToken;
use coupler_core::charger::{ChargerInfo, LiveMeter};
use coupler_core::event::EventType;
use coupler_core::flex::{
    Consent, ConsentTerms, EligibilityRules, EnrolledDevice, Enrolment, EnrolmentId, EnrolmentSession,
    EnrolmentSessionId, EnrolmentSessionStatus, EnrolmentState, EnrolmentStatus, EventKind, EventTargets,
    FlexDeviceKind, FlexEvent, FlexEventId, FlexOverride, FlexOverrideId, FlexTarget, FlexTargetId, Group, GroupFilter,
    GroupId, LimitUnit, OptOut, Program, ProgramId, ProgramKind, ProgramLimits, TargetDevice, TargetState,
    TelemetrySource,
};
use coupler_core::limits::{LimitScope, LimitSource, LimitSourceId, LimitSourceKind, SchedulePeriod};
use coupler_core::page::PageRequest;
use coupler_core::secret::hash_secret;
use coupler_core::{time, Charger, ChargerId, Client, ClientId, OcppIdentity, Store, StoreError, UserId};

use coupler_store::on_both_backends;

on_both_backends!(
    a_program_is_the_client_s_alone_and_reads_back_as_stored,
    an_enrolment_is_one_per_device_until_it_ends_and_each_change_is_an_event,
    a_group_keeps_its_list_and_filter,
    an_event_its_targets_and_their_limit_sources_are_stored_together,
    an_opt_out_and_a_cancel_remove_the_limit_sources_and_settle_the_targets,
    deleting_a_program_removes_its_events_limit_sources,
    a_held_back_part_keeps_no_cap_and_a_shed_cap_keeps_its_schedule,
    an_override_is_recorded_once_per_part_and_source_with_its_event,
    an_enrolment_session_ends_once_with_all_its_enrolments_or_none,
);

fn now() -> DateTime<Utc> {
    time::now().trunc_subsecs(3)
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

fn program(client: &ClientId) -> Program {
    let at = now();
    Program {
        id: ProgramId::generate(),
        client_id: client.clone(),
        name: "Peak relief".into(),
        kind: ProgramKind::CapacityLimit,
        eligibility: EligibilityRules {
            device_kinds: vec![FlexDeviceKind::Charger],
            required_capabilities: Vec::new(),
            service_area: Vec::new(),
        },
        limits: ProgramLimits {
            max_events_per_year: Some(10),
            max_event_minutes: 120,
            min_notice_minutes: 0,
        },
        incentive: serde_json::json!({"perEvent": 2}),
        created_at: at,
        updated_at: at,
    }
}

fn enrolment(program: &Program, user: &str, charger: &ChargerId) -> Enrolment {
    let at = now();
    Enrolment {
        id: EnrolmentId::generate(),
        client_id: program.client_id.clone(),
        program_id: program.id.clone(),
        user_id: UserId::parse(user).unwrap(),
        device: EnrolledDevice {
            kind: FlexDeviceKind::Charger,
            id: charger.as_str().to_owned(),
        },
        state: EnrolmentState {
            status: EnrolmentStatus::Active,
            reason: None,
        },
        consent: Consent {
            data_shared: vec!["chargingSessions".into()],
            how_to_leave: "in the app".into(),
            given_at: at,
        },
        created_at: at,
        updated_at: at,
    }
}

/// An event on `enrolments`' chargers from now for an hour, with one target and one `flex` source
/// each.
fn event(program: &Program, enrolments: &[(&Enrolment, &ChargerId)]) -> (FlexEvent, Vec<FlexTarget>, Vec<LimitSource>) {
    let at = now();
    let event = FlexEvent {
        control_group_share: 0.0,
        id: FlexEventId::generate(),
        client_id: program.client_id.clone(),
        program_id: program.id.clone(),
        kind: EventKind::ImportLimit,
        value: Some(8.0),
        unit: Some(LimitUnit::Amperes),
        limit_a: 8.0,
        start: at,
        end: at + Duration::hours(1),
        max_random_delay_s: 0,
        random_seed: u64::MAX - 1,
        targets: EventTargets {
            program: true,
            group_ids: Vec::new(),
            enrolment_ids: Vec::new(),
        },
        cancelled_at: None,
        created_at: at,
        updated_at: at,
    };
    let mut targets = Vec::new();
    let mut sources = Vec::new();
    for (enrolment, charger) in enrolments {
        let source = LimitSource {
            id: LimitSourceId::generate(),
            client_id: program.client_id.clone(),
            user_id: enrolment.user_id.clone(),
            kind: LimitSourceKind::Flex,
            scope: LimitScope::Charger((*charger).clone()),
            max_current_a: 8.0,
            valid_from: Some(event.start),
            valid_to: Some(event.end),
            created_at: at,
            schedule: Vec::new(),
        };
        targets.push(FlexTarget {
            id: FlexTargetId::generate(),
            client_id: program.client_id.clone(),
            user_id: enrolment.user_id.clone(),
            event_id: event.id.clone(),
            enrolment_id: enrolment.id.clone(),
            device: TargetDevice::Charger((*charger).clone()),
            delay_s: 0,
            limit_source_id: Some(source.id.clone()),
            start_action_id: None,
            end_action_id: None,
            state: TargetState::Scheduled,
            detail: None,
            opt_out: None,
            next_check_at: Some(event.start),
            updated_at: at,
        });
        sources.push(source);
    }
    (event, targets, sources)
}

async fn events_of(store: &Arc<dyn Store>, client: &ClientId, kind: EventType) -> Vec<(String, Vec<String>)> {
    store
        .unpublished_events(1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| &e.client_id == client && e.event_type == kind)
        .map(|e| (e.asset_id, e.updated_fields))
        .collect()
}

async fn a_program_is_the_client_s_alone_and_reads_back_as_stored(store: Arc<dyn Store>) {
    let a = client(&store, "a").await;
    let b = client(&store, "b").await;
    let mut stored = program(&a);
    store.insert_program(&stored).await.unwrap();
    assert_eq!(store.get_program(&a, &stored.id).await.unwrap(), Some(stored.clone()));
    assert_eq!(store.get_program(&b, &stored.id).await.unwrap(), None);
    let page = PageRequest::parse(None, None, None).unwrap();
    assert_eq!(store.list_programs(&a, &page).await.unwrap().items.len(), 1);
    assert!(store.list_programs(&b, &page).await.unwrap().items.is_empty());
    stored.name = "Renamed".into();
    stored.client_id = b.clone();
    assert!(!store.update_program(&stored).await.unwrap(), "not b's to change");
    stored.client_id = a.clone();
    assert!(store.update_program(&stored).await.unwrap());
    assert_eq!(
        store.get_program(&a, &stored.id).await.unwrap().unwrap().name,
        "Renamed"
    );
    assert_eq!(store.delete_program(&b, &stored.id).await.unwrap(), None);
}

async fn an_enrolment_is_one_per_device_until_it_ends_and_each_change_is_an_event(store: Arc<dyn Store>) {
    let a = client(&store, "a").await;
    let ch = charger(&store, &a, "alice", "CP-1").await;
    let p = program(&a);
    store.insert_program(&p).await.unwrap();
    let first = enrolment(&p, "alice", &ch);
    store.insert_enrolment(&first).await.unwrap();
    assert_eq!(store.get_enrolment(&a, &first.id).await.unwrap(), Some(first.clone()));
    let twice = store.insert_enrolment(&enrolment(&p, "alice", &ch)).await;
    assert!(matches!(twice, Err(StoreError::Conflict(_))), "{twice:?}");
    let stranger = store.insert_enrolment(&enrolment(&p, "nobody", &ch)).await;
    assert!(matches!(stranger, Err(StoreError::Conflict(_))), "{stranger:?}");
    assert_eq!(
        store
            .live_enrolment_of_device(&a, &p.id, &first.device)
            .await
            .unwrap()
            .map(|e| e.id),
        Some(first.id.clone())
    );
    let ended = EnrolmentState {
        status: EnrolmentStatus::Unenrolled,
        reason: None,
    };
    let saved = store
        .save_enrolment_state(&a, &first.id, &ended, now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(saved.state, ended);
    assert!(store.live_enrolments(&a, &p.id).await.unwrap().is_empty());
    store.insert_enrolment(&enrolment(&p, "alice", &ch)).await.unwrap();
    let page = PageRequest::parse(Some(1), None, None).unwrap();
    let listed = store
        .list_user_enrolments(&a, &UserId::parse("alice").unwrap(), &page)
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert!(listed.after.is_some(), "a second page");
    let changes = events_of(&store, &a, EventType::FlexEnrolmentUpdated).await;
    assert_eq!(
        changes.iter().filter(|(id, _)| id == first.id.as_str()).count(),
        2,
        "enrolled, then unenrolled: {changes:?}"
    );
}

async fn a_group_keeps_its_list_and_filter(store: Arc<dyn Store>) {
    let a = client(&store, "a").await;
    let b = client(&store, "b").await;
    let p = program(&a);
    store.insert_program(&p).await.unwrap();
    let mut group = Group {
        id: GroupId::generate(),
        client_id: a.clone(),
        program_id: p.id.clone(),
        name: "Feeder 7".into(),
        enrolment_ids: vec![EnrolmentId::new("e-1")],
        filter: GroupFilter {
            device_kinds: vec![FlexDeviceKind::Charger],
            user_ids: Vec::new(),
        },
        created_at: now(),
    };
    store.insert_group(&group).await.unwrap();
    assert_eq!(store.get_group(&a, &group.id).await.unwrap(), Some(group.clone()));
    assert_eq!(store.get_group(&b, &group.id).await.unwrap(), None);
    group.filter.user_ids = vec!["alice".into()];
    assert!(store.update_group(&group).await.unwrap());
    assert_eq!(store.list_groups(&a, &p.id).await.unwrap(), vec![group.clone()]);
    assert!(!store.delete_group(&b, &group.id).await.unwrap());
    assert!(store.delete_group(&a, &group.id).await.unwrap());
    let foreign = Group {
        id: GroupId::generate(),
        client_id: b.clone(),
        ..group
    };
    assert!(matches!(
        store.insert_group(&foreign).await,
        Err(StoreError::Conflict(_))
    ));
}

async fn an_event_its_targets_and_their_limit_sources_are_stored_together(store: Arc<dyn Store>) {
    let a = client(&store, "a").await;
    let b = client(&store, "b").await;
    let ch = charger(&store, &a, "alice", "CP-1").await;
    let theirs = charger(&store, &b, "bob", "CP-2").await;
    let p = program(&a);
    store.insert_program(&p).await.unwrap();
    let e = enrolment(&p, "alice", &ch);
    store.insert_enrolment(&e).await.unwrap();
    let (mut ev, targets, sources) = event(&p, &[(&e, &ch)]);
    store.insert_flex_event(&ev, &targets, &sources).await.unwrap();
    assert_eq!(store.get_flex_event(&a, &ev.id).await.unwrap(), Some(ev.clone()));
    assert_eq!(store.get_flex_event(&b, &ev.id).await.unwrap(), None);
    assert_eq!(store.flex_targets(&ev.id).await.unwrap(), targets);
    let on_charger = store.limit_sources_of_charger(&ch).await.unwrap();
    assert_eq!(on_charger.len(), 1);
    assert_eq!(on_charger[0].kind, LimitSourceKind::Flex);
    assert_eq!(on_charger[0].valid_to, Some(ev.end));
    let year = (ev.start - Duration::days(1), ev.start + Duration::days(1));
    assert_eq!(store.count_flex_events(&p.id, year.0, year.1, None).await.unwrap(), 1);
    assert_eq!(
        store
            .count_flex_events(&p.id, year.0, year.1, Some(&ev.id))
            .await
            .unwrap(),
        0
    );
    assert_eq!(store.due_flex_targets(ev.start, 10).await.unwrap().len(), 1);
    assert_eq!(store.next_flex_check().await.unwrap(), Some(ev.start));
    assert_eq!(
        events_of(&store, &a, EventType::FlexEventUpdated).await,
        vec![(targets[0].id.as_str().to_owned(), vec!["status".to_owned()])]
    );

    // A target on another client's charger stores nothing at all.
    let (bad, bad_targets, bad_sources) = event(&p, &[(&e, &theirs)]);
    let refused = store.insert_flex_event(&bad, &bad_targets, &bad_sources).await;
    assert!(matches!(refused, Err(StoreError::Conflict(_))), "{refused:?}");
    assert_eq!(store.get_flex_event(&a, &bad.id).await.unwrap(), None);
    assert!(store.limit_sources_of_charger(&theirs).await.unwrap().is_empty());

    // A new end moves the source's window; the engine's outcome is saved with an event.
    ev.end += Duration::minutes(30);
    ev.updated_at = now();
    assert!(store.update_flex_event(&ev).await.unwrap());
    assert_eq!(
        store.limit_sources_of_charger(&ch).await.unwrap()[0].valid_to,
        Some(ev.end)
    );
    let mut target = store.flex_targets(&ev.id).await.unwrap().remove(0);
    target.state = TargetState::Confirmed;
    target.detail = Some("8 A".into());
    target.next_check_at = None;
    assert!(store.save_flex_target(&target, &["progress.state"]).await.unwrap());
    assert_eq!(
        store.flex_target(&target.id).await.unwrap().unwrap().state,
        TargetState::Confirmed
    );
    assert_eq!(store.next_flex_check().await.unwrap(), None);
    let read = store.get_flex_event(&a, &ev.id).await.unwrap().unwrap();
    assert_eq!(read.random_seed, u64::MAX - 1, "a seed above i64::MAX reads back");
}

async fn an_opt_out_and_a_cancel_remove_the_limit_sources_and_settle_the_targets(store: Arc<dyn Store>) {
    let a = client(&store, "a").await;
    let b = client(&store, "b").await;
    let alice = charger(&store, &a, "alice", "CP-1").await;
    let bob = charger(&store, &a, "bob", "CP-2").await;
    let p = program(&a);
    store.insert_program(&p).await.unwrap();
    let ea = enrolment(&p, "alice", &alice);
    let eb = enrolment(&p, "bob", &bob);
    store.insert_enrolment(&ea).await.unwrap();
    store.insert_enrolment(&eb).await.unwrap();
    let (ev, targets, sources) = event(&p, &[(&ea, &alice), (&eb, &bob)]);
    store.insert_flex_event(&ev, &targets, &sources).await.unwrap();
    let opt_out = OptOut {
        requested_by: "driver".into(),
        reason: Some("airport".into()),
        at: now(),
    };
    let alice_target = targets.iter().find(|t| t.enrolment_id == ea.id).unwrap();
    assert_eq!(
        store.opt_out_flex_target(&b, &alice_target.id, &opt_out).await.unwrap(),
        None
    );
    let opted = store
        .opt_out_flex_target(&a, &alice_target.id, &opt_out)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(opted.state, TargetState::OptedOut);
    assert_eq!(opted.opt_out, Some(opt_out.clone()));
    assert_eq!(opted.limit_source_id, None);
    assert!(store.limit_sources_of_charger(&alice).await.unwrap().is_empty());
    assert_eq!(store.limit_sources_of_charger(&bob).await.unwrap().len(), 1);
    assert_eq!(
        store.opt_out_flex_target(&a, &alice_target.id, &opt_out).await.unwrap(),
        None,
        "once"
    );
    assert_eq!(store.live_flex_targets_of_enrolment(&ea.id).await.unwrap(), Vec::new());
    // The engine's later save does not undo the opt-out.
    let mut stale = alice_target.clone();
    stale.state = TargetState::Confirmed;
    store.save_flex_target(&stale, &[]).await.unwrap();
    assert_eq!(
        store.flex_target(&alice_target.id).await.unwrap().unwrap().state,
        TargetState::OptedOut
    );

    let counts = store.flex_target_counts(std::slice::from_ref(&ev.id)).await.unwrap();
    assert_eq!(
        counts,
        vec![
            (ev.id.clone(), TargetState::OptedOut, 1),
            (ev.id.clone(), TargetState::Scheduled, 1)
        ]
    );
    assert!(store.flex_target_counts(&[]).await.unwrap().is_empty());
    assert_eq!(store.cancel_flex_event(&b, &ev.id, now()).await.unwrap(), None);
    let lifted = store.cancel_flex_event(&a, &ev.id, now()).await.unwrap().unwrap();
    assert_eq!(lifted, vec![bob.clone()], "only bob still had a source");
    assert!(store.limit_sources_of_charger(&bob).await.unwrap().is_empty());
    let states: Vec<TargetState> = store
        .flex_targets(&ev.id)
        .await
        .unwrap()
        .iter()
        .map(|t| t.state)
        .collect();
    assert!(states.contains(&TargetState::OptedOut) && states.contains(&TargetState::Cancelled));
    assert_eq!(store.cancel_flex_event(&a, &ev.id, now()).await.unwrap(), None, "once");
    assert!(
        !store.update_flex_event(&ev).await.unwrap(),
        "a cancelled event does not change"
    );
}

async fn deleting_a_program_removes_its_events_limit_sources(store: Arc<dyn Store>) {
    let a = client(&store, "a").await;
    let ch = charger(&store, &a, "alice", "CP-1").await;
    let p = program(&a);
    store.insert_program(&p).await.unwrap();
    let e = enrolment(&p, "alice", &ch);
    store.insert_enrolment(&e).await.unwrap();
    let (ev, targets, sources) = event(&p, &[(&e, &ch)]);
    store.insert_flex_event(&ev, &targets, &sources).await.unwrap();
    assert_eq!(store.delete_program(&a, &p.id).await.unwrap(), Some(vec![ch.clone()]));
    assert!(store.limit_sources_of_charger(&ch).await.unwrap().is_empty());
    assert_eq!(store.get_flex_event(&a, &ev.id).await.unwrap(), None);
    assert_eq!(store.get_enrolment(&a, &e.id).await.unwrap(), None);
}

async fn a_held_back_part_keeps_no_cap_and_a_shed_cap_keeps_its_schedule(store: Arc<dyn Store>) {
    let a = client(&store, "a").await;
    let treated_charger = charger(&store, &a, "alice", "MV-TREATED").await;
    let held_charger = charger(&store, &a, "bob", "MV-HELD").await;
    let program = program(&a);
    store.insert_program(&program).await.unwrap();
    let treated = enrolment(&program, "alice", &treated_charger);
    let held = enrolment(&program, "bob", &held_charger);
    store.insert_enrolment(&treated).await.unwrap();
    store.insert_enrolment(&held).await.unwrap();
    let (mut event, mut targets, mut sources) =
        event(&program, &[(&treated, &treated_charger), (&held, &held_charger)]);
    event.control_group_share = 0.5;
    event.kind = EventKind::Shed;
    event.unit = Some(LimitUnit::Kilowatts);
    event.value = Some(3.0);
    // The treated part's cap changes each quarter-hour; the held-back part has none.
    sources[0].schedule = vec![
        SchedulePeriod {
            start: event.start,
            max_current_a: 11.5,
        },
        SchedulePeriod {
            start: event.start + Duration::minutes(15),
            max_current_a: 7.2,
        },
    ];
    sources[0].max_current_a = 11.5;
    sources.truncate(1);
    targets[1].limit_source_id = None;
    targets[1].state = TargetState::HeldBack;
    targets[1].next_check_at = None;
    store.insert_flex_event(&event, &targets, &sources).await.unwrap();

    assert_eq!(store.get_flex_event(&a, &event.id).await.unwrap(), Some(event.clone()));
    let stored = store.flex_targets(&event.id).await.unwrap();
    assert_eq!(
        stored.iter().map(|t| t.state).collect::<Vec<_>>(),
        vec![TargetState::Scheduled, TargetState::HeldBack]
    );
    let source = store.get_limit_source(&a, &sources[0].id).await.unwrap().unwrap();
    assert_eq!(source.schedule, sources[0].schedule);

    // Only the treated part is carried out while the event is open, and only its charger's days
    // count as event days.
    let during = event.start + Duration::minutes(1);
    assert_eq!(
        store.open_flex_targets(during, None, 10).await.unwrap(),
        vec![targets[0].id.clone()]
    );
    assert!(store
        .open_flex_targets(during, Some(&targets[0].id), 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store.open_flex_targets(event.end, None, 10).await.unwrap().is_empty());
    let day = (event.start - Duration::hours(1), event.end + Duration::hours(1));
    assert_eq!(
        store
            .flex_windows_of_device(&TargetDevice::Charger(treated_charger.clone()), day.0, day.1)
            .await
            .unwrap(),
        vec![(event.start, event.end)]
    );
    assert!(store
        .flex_windows_of_device(&TargetDevice::Charger(held_charger.clone()), day.0, day.1)
        .await
        .unwrap()
        .is_empty());

    // Cancelling leaves the control group as it was.
    store.cancel_flex_event(&a, &event.id, during).await.unwrap();
    let after = store.flex_targets(&event.id).await.unwrap();
    assert_eq!(
        after.iter().map(|t| t.state).collect::<Vec<_>>(),
        vec![TargetState::Cancelled, TargetState::HeldBack]
    );
    assert!(store
        .flex_windows_of_device(&TargetDevice::Charger(treated_charger), day.0, day.1)
        .await
        .unwrap()
        .is_empty());
}

async fn an_override_is_recorded_once_per_part_and_source_with_its_event(store: Arc<dyn Store>) {
    let a = client(&store, "a").await;
    let b = client(&store, "b").await;
    let charger_id = charger(&store, &a, "alice", "MV-OVERRIDE").await;
    let program = program(&a);
    store.insert_program(&program).await.unwrap();
    let enrolled = enrolment(&program, "alice", &charger_id);
    store.insert_enrolment(&enrolled).await.unwrap();
    let (event, targets, sources) = event(&program, &[(&enrolled, &charger_id)]);
    store.insert_flex_event(&event, &targets, &sources).await.unwrap();
    let at = now();
    let found = FlexOverride {
        id: FlexOverrideId::generate(),
        client_id: a.clone(),
        event_id: event.id.clone(),
        target_id: targets[0].id.clone(),
        enrolment_id: enrolled.id.clone(),
        user_id: enrolled.user_id.clone(),
        source: TelemetrySource::ChargerMeter,
        observed_at: at + Duration::minutes(15),
        observed_kw: 11.0,
        cap_kw: 5.52,
        by: "the enrolment's user (alice), as attributed".into(),
        reason: "the charger's meter showed 11.00 kW".into(),
        detected_at: at + Duration::minutes(20),
    };
    // Another client cannot write one onto this part.
    let theirs = FlexOverride {
        id: FlexOverrideId::generate(),
        client_id: b,
        ..found.clone()
    };
    assert!(!store.insert_flex_override(&theirs).await.unwrap());
    assert!(store.insert_flex_override(&found).await.unwrap());
    let again = FlexOverride {
        id: FlexOverrideId::generate(),
        observed_at: at + Duration::minutes(30),
        ..found.clone()
    };
    assert!(
        !store.insert_flex_override(&again).await.unwrap(),
        "the first one stands"
    );
    assert_eq!(store.flex_overrides(&event.id).await.unwrap(), vec![found.clone()]);
    let target = store.flex_target(&targets[0].id).await.unwrap().unwrap();
    assert_eq!(
        target.detail.as_deref(),
        Some("override: the charger's meter showed 11.00 kW")
    );
    assert_eq!(
        events_of(&store, &a, EventType::FlexEventOverride).await,
        vec![(targets[0].id.as_str().to_owned(), vec!["overrides".to_owned()])]
    );
}

fn session(program: &Program, user: &str, token: &str, expires_at: DateTime<Utc>) -> EnrolmentSession {
    let at = now();
    EnrolmentSession {
        id: EnrolmentSessionId::generate(),
        client_id: program.client_id.clone(),
        program_id: program.id.clone(),
        user_id: UserId::parse(user).unwrap(),
        token_hash: hash_secret(token),
        devices: Vec::new(),
        consent: ConsentTerms {
            data_shared: vec!["chargingSessions".into()],
            how_to_leave: "in the app".into(),
        },
        redirect_uri: "https://app.example/enrolled".into(),
        language: "en-GB".into(),
        csrf_token: SealedToken::from_stored("v1:sealed"),
        status: EnrolmentSessionStatus::Open,
        enrolment_ids: Vec::new(),
        created_at: at,
        expires_at,
        finished_at: None,
    }
}

async fn enrolment_events(store: &Arc<dyn Store>, client: &ClientId) -> Vec<String> {
    events_of(store, client, EventType::FlexEnrolmentUpdated)
        .await
        .into_iter()
        .map(|(asset, _)| asset)
        .collect()
}

async fn an_enrolment_session_ends_once_with_all_its_enrolments_or_none(store: Arc<dyn Store>) {
    let tenant = client(&store, "utility").await;
    let other = client(&store, "other").await;
    let garage = charger(&store, &tenant, "alice", "SESSION-GARAGE").await;
    let carport = charger(&store, &tenant, "alice", "SESSION-CARPORT").await;
    let program = program(&tenant);
    store.insert_program(&program).await.unwrap();
    let later = now() + Duration::hours(24);

    // Only for the client's own user and program.
    let mut nobody = session(&program, "nobody", "t-nobody", later);
    let refused = store.insert_enrolment_session(&nobody).await;
    assert!(matches!(refused, Err(StoreError::Conflict(_))), "{refused:?}");
    nobody.user_id = UserId::parse("alice").unwrap();
    nobody.client_id = other.clone();
    let refused = store.insert_enrolment_session(&nobody).await;
    assert!(matches!(refused, Err(StoreError::Conflict(_))), "{refused:?}");

    let first = session(&program, "alice", "t-first", later);
    store.insert_enrolment_session(&first).await.unwrap();
    assert_eq!(
        store
            .get_enrolment_session_by_token(&hash_secret("t-first"))
            .await
            .unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store
            .get_enrolment_session_by_token(&hash_secret("t-none"))
            .await
            .unwrap(),
        None
    );

    // Completed once, with its enrolment and the enrolment's event.
    let garage_enrolment = enrolment(&program, "alice", &garage);
    let done = now();
    assert!(store
        .complete_enrolment_session(&first.id, std::slice::from_ref(&garage_enrolment), done)
        .await
        .unwrap());
    let ended = store
        .get_enrolment_session_by_token(&first.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ended.status, EnrolmentSessionStatus::Completed);
    assert_eq!(ended.enrolment_ids, vec![garage_enrolment.id.clone()]);
    assert_eq!(ended.finished_at, Some(done));
    assert_eq!(
        store.get_enrolment(&tenant, &garage_enrolment.id).await.unwrap(),
        Some(garage_enrolment.clone())
    );
    assert_eq!(
        enrolment_events(&store, &tenant).await,
        vec![garage_enrolment.id.as_str().to_owned()]
    );
    let replayed = enrolment(&program, "alice", &carport);
    assert!(!store
        .complete_enrolment_session(&first.id, std::slice::from_ref(&replayed), now())
        .await
        .unwrap());
    assert_eq!(
        store.get_enrolment(&tenant, &replayed.id).await.unwrap(),
        None,
        "a used session writes nothing"
    );
    assert!(!store
        .end_enrolment_session(&first.id, EnrolmentSessionStatus::Declined, now())
        .await
        .unwrap());

    // An enrolment that cannot be stored (the garage's charger is enrolled already) takes the
    // others and the session's end with it.
    let second = session(&program, "alice", "t-second", later);
    store.insert_enrolment_session(&second).await.unwrap();
    let carport_enrolment = enrolment(&program, "alice", &carport);
    let clash = enrolment(&program, "alice", &garage);
    let refused = store
        .complete_enrolment_session(&second.id, &[carport_enrolment.clone(), clash], now())
        .await;
    assert!(matches!(refused, Err(StoreError::Conflict(_))), "{refused:?}");
    assert_eq!(store.get_enrolment(&tenant, &carport_enrolment.id).await.unwrap(), None);
    assert_eq!(enrolment_events(&store, &tenant).await.len(), 1);
    let open = store
        .get_enrolment_session_by_token(&second.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(open.status, EnrolmentSessionStatus::Open);
    assert!(store
        .end_enrolment_session(&second.id, EnrolmentSessionStatus::Declined, now())
        .await
        .unwrap());
    let declined = store
        .get_enrolment_session_by_token(&second.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(declined.status, EnrolmentSessionStatus::Declined);
    assert!(declined.finished_at.is_some());

    // An expired session completes nothing.
    let stale = session(&program, "alice", "t-stale", now() - Duration::minutes(1));
    store.insert_enrolment_session(&stale).await.unwrap();
    assert!(!store
        .complete_enrolment_session(&stale.id, std::slice::from_ref(&carport_enrolment), now())
        .await
        .unwrap());
    assert_eq!(store.get_enrolment(&tenant, &carport_enrolment.id).await.unwrap(), None);
}
