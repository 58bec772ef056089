//! Smart-charging policies, plans and the `schedule` limit source, held to the same behaviour on
//! SQLite and on PostgreSQL (the latter when `COUPLER_TEST_POSTGRES_URL` is set).

#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

use std::sync::Arc;

use chrono::{Duration, NaiveTime};
use coupler_core::charger::{ChargerInfo, LiveMeter};
use coupler_core::event::EventType;
use coupler_core::limits::{compose, LimitSourceKind, SchedulePeriod};
use coupler_core::location::LocationId;
use coupler_core::planner::Strategy;
use coupler_core::secret::hash_secret;
use coupler_core::smart::{
    Baseline, Execution, PlanDetails, PlanState, PlanTarget, PolicySettings, PolicyTarget, SmartPlan, SmartPlanId,
    SmartPolicy, SmartPolicyId,
};
use coupler_core::{time, Charger, ChargerId, Client, ClientId, OcppIdentity, Store, UserId};

use coupler_store::on_both_backends;

on_both_backends!(
    a_policy_is_put_on_the_client_s_charger_and_replaced_in_place,
    another_client_can_neither_put_nor_read_a_policy_on_a_charger_it_does_not_own,
    the_charge_now_override_is_set_and_ended_on_the_client_s_policy_only,
    a_plan_and_each_change_of_it_that_names_fields_write_one_event_each,
    live_plans_are_found_by_the_location_they_are_planned_at_or_at_none_for_their_own_client_only_and_counted_by_when_stored,
    a_charger_holds_one_schedule_source_whose_periods_read_back_within_its_window,
    a_plan_and_the_schedule_it_puts_are_stored_together_or_not_at_all,
    policies_are_read_by_id_many_at_once_and_those_that_do_not_exist_are_left_out,
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

fn settings(deadline: u32, energy: f64) -> PolicySettings {
    PolicySettings {
        deadline: NaiveTime::from_hms_opt(deadline, 0, 0).unwrap(),
        weekday_deadlines: [None; 7],
        departures: Vec::new(),
        target_soc: None,
        target_energy_kwh: Some(energy),
        minimum_soc: None,
        strategy: Strategy::Cheapest,
    }
}

fn policy(client: &ClientId, charger: &ChargerId, settings: PolicySettings) -> SmartPolicy {
    let now = time::now();
    SmartPolicy {
        id: SmartPolicyId::generate(),
        client_id: client.clone(),
        // The store takes the target's owner.
        user_id: UserId::parse("whoever").unwrap(),
        target: PolicyTarget::Charger(charger.clone()),
        enabled: true,
        settings,
        charge_now_since: None,
        created_at: now,
        updated_at: now,
    }
}

async fn a_policy_is_put_on_the_client_s_charger_and_replaced_in_place(store: Arc<dyn Store>) {
    let a = client(&store, "a").await;
    let ch = charger(&store, &a, "alice", "CP-1").await;
    let first = store
        .put_smart_policy(&policy(&a, &ch, settings(7, 10.0)))
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(first.user_id.as_str(), "alice", "the charger's user");
    assert_eq!(first.settings, settings(7, 10.0));

    let mut again = policy(&a, &ch, settings(8, 12.0));
    again.enabled = false;
    let second = store.put_smart_policy(&again).await.unwrap().expect("replaced");
    assert_eq!(second.id, first.id, "the id is kept");
    assert_eq!(time::to_micros(second.created_at), time::to_micros(first.created_at));
    assert!(!second.enabled);
    assert_eq!(second.settings.target_energy_kwh, Some(12.0));
    assert_eq!(second.settings.deadline, NaiveTime::from_hms_opt(8, 0, 0).unwrap());
    assert!(store.enabled_smart_policies().await.unwrap().is_empty());
    let target = PolicyTarget::Charger(ch.clone());
    assert_eq!(store.smart_policy_on(&target).await.unwrap().unwrap().id, first.id);
    assert_eq!(store.smart_policy(&first.id).await.unwrap().unwrap().id, first.id);
}

async fn policies_are_read_by_id_many_at_once_and_those_that_do_not_exist_are_left_out(store: Arc<dyn Store>) {
    let a = client(&store, "a").await;
    let mut stored = Vec::new();
    for i in 0..3 {
        let ch = charger(&store, &a, "alice", &format!("CP-{i}")).await;
        stored.push(
            store
                .put_smart_policy(&policy(&a, &ch, settings(7, 10.0)))
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let asked = [stored[0].id.clone(), stored[2].id.clone(), SmartPolicyId::generate()];
    let mut read: Vec<String> = store
        .smart_policies(&asked)
        .await
        .unwrap()
        .iter()
        .map(|p| format!("{p:?}"))
        .collect();
    read.sort();
    let mut expected = Vec::new();
    for id in &asked[..2] {
        expected.push(format!("{:?}", store.smart_policy(id).await.unwrap().unwrap()));
    }
    expected.sort();
    assert_eq!(read, expected);
}

async fn another_client_can_neither_put_nor_read_a_policy_on_a_charger_it_does_not_own(store: Arc<dyn Store>) {
    let a = client(&store, "a").await;
    let b = client(&store, "b").await;
    let ch = charger(&store, &a, "alice", "CP-1").await;
    store
        .put_smart_policy(&policy(&a, &ch, settings(7, 10.0)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .put_smart_policy(&policy(&b, &ch, settings(9, 1.0)))
            .await
            .unwrap(),
        None
    );
    let target = PolicyTarget::Charger(ch.clone());
    assert_eq!(store.get_smart_policy(&b, &target).await.unwrap(), None);
    let kept = store.get_smart_policy(&a, &target).await.unwrap().unwrap();
    assert_eq!(kept.settings.target_energy_kwh, Some(10.0), "unchanged");
}

async fn the_charge_now_override_is_set_and_ended_on_the_client_s_policy_only(store: Arc<dyn Store>) {
    let a = client(&store, "a").await;
    let b = client(&store, "b").await;
    let ch = charger(&store, &a, "alice", "CP-1").await;
    let stored = store
        .put_smart_policy(&policy(&a, &ch, settings(7, 10.0)))
        .await
        .unwrap()
        .unwrap();
    let now = time::now();
    assert_eq!(
        store.set_charge_now(&b, &stored.id, Some(now), now).await.unwrap(),
        None
    );
    let on = store
        .set_charge_now(&a, &stored.id, Some(now), now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(on.charge_now_since.map(time::to_micros), Some(time::to_micros(now)));
    let off = store.set_charge_now(&a, &stored.id, None, now).await.unwrap().unwrap();
    assert_eq!(off.charge_now_since, None);
}

fn plan(policy: &SmartPolicy, charger: &ChargerId) -> SmartPlan {
    let now = time::now();
    let baseline = Baseline {
        soc: None,
        soc_recorded_at: None,
        capacity_kwh: None,
        metered_kwh: 0.0,
    };
    SmartPlan {
        id: SmartPlanId::generate(),
        client_id: policy.client_id.clone(),
        user_id: policy.user_id.clone(),
        policy_id: policy.id.clone(),
        vehicle_id: None,
        charger_id: Some(charger.clone()),
        location_id: None,
        state: PlanState::Considering,
        details: PlanDetails {
            execution: Execution::Charger,
            outcome: None,
            reason: Some("waiting".into()),
            deadline: Some(now + Duration::hours(3)),
            timezone: "UTC".into(),
            target: PlanTarget {
                soc: None,
                energy_kwh: Some(10.0),
                minimum_soc: None,
            },
            start: baseline,
            baseline,
            plan: None,
            planned_at: None,
            metered_at_plan_kwh: 0.0,
            metered_kwh: 0.0,
            soc: None,
            verified: None,
            maker: None,
            reached_at: None,
            replans: 0,
            plugged_in_at: None,
            released: false,
            transaction_id: None,
        },
        created_at: now,
        updated_at: now,
        ended_at: None,
    }
}

async fn plan_events(store: &Arc<dyn Store>) -> Vec<(String, Vec<String>)> {
    store
        .unpublished_events(100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == EventType::SmartChargingPlanUpdated)
        .map(|e| (e.asset_id, e.updated_fields))
        .collect()
}

async fn a_plan_and_each_change_of_it_that_names_fields_write_one_event_each(store: Arc<dyn Store>) {
    let a = client(&store, "a").await;
    let b = client(&store, "b").await;
    let ch = charger(&store, &a, "alice", "CP-1").await;
    let stored = store
        .put_smart_policy(&policy(&a, &ch, settings(7, 10.0)))
        .await
        .unwrap()
        .unwrap();
    let mut p = plan(&stored, &ch);
    store.insert_smart_plan(&p).await.unwrap();
    assert_eq!(
        plan_events(&store).await,
        vec![(p.id.as_str().to_owned(), vec!["state".to_owned()])]
    );

    p.state = PlanState::Executing;
    p.details.reason = None;
    assert!(store.update_smart_plan(&p, &["state", "slots"]).await.unwrap());
    p.details.metered_kwh = 1.5;
    assert!(store.update_smart_plan(&p, &[]).await.unwrap(), "a quiet save");
    assert_eq!(plan_events(&store).await.len(), 2);

    let latest = store.latest_smart_plan(&stored.id).await.unwrap().unwrap();
    assert_eq!((latest.id.clone(), latest.state), (p.id.clone(), PlanState::Executing));
    assert_eq!(latest.details.metered_kwh, 1.5);
    assert_eq!(latest.user_id.as_str(), "alice");
    assert_eq!(store.live_smart_plans().await.unwrap().len(), 1);
    assert!(
        store.get_smart_plan(&b, &p.id).await.unwrap().is_none(),
        "another client's"
    );
    assert!(store.get_smart_plan(&a, &p.id).await.unwrap().is_some());

    p.state = PlanState::Ended;
    p.ended_at = Some(time::now());
    store.update_smart_plan(&p, &["state", "outcome"]).await.unwrap();
    assert!(store.live_smart_plans().await.unwrap().is_empty());
}

async fn live_plans_are_found_by_the_location_they_are_planned_at_or_at_none_for_their_own_client_only_and_counted_by_when_stored(
    store: Arc<dyn Store>,
) {
    let a = client(&store, "a").await;
    let b = client(&store, "b").await;
    let ch = charger(&store, &a, "alice", "CP-1").await;
    let stored = store
        .put_smart_policy(&policy(&a, &ch, settings(7, 10.0)))
        .await
        .unwrap()
        .unwrap();
    let mut p = plan(&stored, &ch);
    store.insert_smart_plan(&p).await.unwrap();
    let home = LocationId::new("home");
    assert_eq!(
        store.count_live_smart_plans_stored_before(p.updated_at).await.unwrap(),
        0
    );
    assert_eq!(
        store
            .count_live_smart_plans_stored_before(p.updated_at + Duration::seconds(1))
            .await
            .unwrap(),
        1,
        "a live plan stored before then"
    );
    let somewhere = store.live_smart_plans_at(&a, &home).await.unwrap();
    assert_eq!(
        somewhere.len(),
        1,
        "a plan at no known location may be at any of its client's"
    );
    p.location_id = Some(home.clone());
    store.update_smart_plan(&p, &[]).await.unwrap();
    let there = store.live_smart_plans_at(&a, &home).await.unwrap();
    assert_eq!(
        there.iter().map(|p| p.id.clone()).collect::<Vec<_>>(),
        vec![p.id.clone()]
    );
    assert_eq!(there[0].location_id.as_ref(), Some(&home));
    assert!(
        store
            .live_smart_plans_at(&a, &LocationId::new("elsewhere"))
            .await
            .unwrap()
            .is_empty(),
        "another location's"
    );
    assert!(
        store.live_smart_plans_at(&b, &home).await.unwrap().is_empty(),
        "another client's"
    );

    p.state = PlanState::Ended;
    p.ended_at = Some(time::now());
    store.update_smart_plan(&p, &["state", "outcome"]).await.unwrap();
    assert!(
        store.live_smart_plans_at(&a, &home).await.unwrap().is_empty(),
        "an ended plan"
    );
}

async fn a_charger_holds_one_schedule_source_whose_periods_read_back_within_its_window(store: Arc<dyn Store>) {
    let a = client(&store, "a").await;
    let ch = charger(&store, &a, "alice", "CP-1").await;
    let now = time::now();
    let periods = [
        SchedulePeriod {
            start: now,
            max_current_a: 0.0,
        },
        SchedulePeriod {
            start: now + Duration::minutes(30),
            max_current_a: 16.0,
        },
    ];
    let end = now + Duration::hours(1);
    store
        .set_schedule_limit(&ch, Some((&periods[..1], end)), now)
        .await
        .unwrap();
    let set = store
        .set_schedule_limit(&ch, Some((&periods, end)), now)
        .await
        .unwrap()
        .expect("set");
    assert_eq!((set.kind, set.max_current_a), (LimitSourceKind::Schedule, 16.0));
    let sources = store.limit_sources_of_charger(&ch).await.unwrap();
    assert_eq!(sources.len(), 1, "the second replaced the first");
    let read = &sources[0];
    assert_eq!(read.schedule.len(), 2);
    assert_eq!(read.schedule[1].max_current_a, 16.0);
    assert_eq!(compose(&sources, now + Duration::minutes(10)).limit_a, Some(0.0));
    assert_eq!(compose(&sources, now + Duration::minutes(40)).limit_a, Some(16.0));
    let edge = store
        .next_limit_edge(now + Duration::minutes(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        time::to_micros(edge),
        time::to_micros(end),
        "the window's end is the next edge: a charger follows the periods by itself"
    );
    assert!(store.chargers_with_limits().await.unwrap().contains(&ch));
    assert_eq!(store.set_schedule_limit(&ch, None, now).await.unwrap(), None);
    assert!(store.limit_sources_of_charger(&ch).await.unwrap().is_empty());
}

async fn a_plan_and_the_schedule_it_puts_are_stored_together_or_not_at_all(store: Arc<dyn Store>) {
    let a = client(&store, "a").await;
    let ch = charger(&store, &a, "alice", "CP-1").await;
    let stored = store
        .put_smart_policy(&policy(&a, &ch, settings(7, 10.0)))
        .await
        .unwrap()
        .unwrap();
    let mut p = plan(&stored, &ch);
    store.insert_smart_plan(&p).await.unwrap();
    let now = time::now();
    let periods = [SchedulePeriod {
        start: now,
        max_current_a: 10.0,
    }];
    let end = now + Duration::hours(2);
    p.state = PlanState::Executing;
    assert!(store
        .save_smart_plan(&p, &["state"], Some((&ch, &periods, end)))
        .await
        .unwrap());
    let latest = store.latest_smart_plan(&stored.id).await.unwrap().unwrap();
    assert_eq!(latest.state, PlanState::Executing);
    let sources = store.limit_sources_of_charger(&ch).await.unwrap();
    assert_eq!(sources.len(), 1);
    assert_eq!(
        (sources[0].kind, sources[0].max_current_a),
        (LimitSourceKind::Schedule, 10.0)
    );
    assert_eq!(plan_events(&store).await.len(), 2, "the insert's and the save's");

    // A plan that is not stored puts nothing on its charger.
    let stray = plan(&stored, &ch);
    let other = [SchedulePeriod {
        start: now,
        max_current_a: 6.0,
    }];
    assert!(!store
        .save_smart_plan(&stray, &["state"], Some((&ch, &other, end)))
        .await
        .unwrap());
    let sources = store.limit_sources_of_charger(&ch).await.unwrap();
    assert_eq!(sources[0].max_current_a, 10.0, "the stored plan's schedule stays");
    assert_eq!(plan_events(&store).await.len(), 2);
}
