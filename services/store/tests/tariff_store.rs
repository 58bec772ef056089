//! Tariffs, pushed and fetched series, pushes and providers' status, held to the same behaviour on
//! SQLite and on PostgreSQL (the latter when `COUPLER_TEST_POSTGRES_URL` is set).

#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use coupler_core::event::EventType;
use coupler_core::location::{Location, LocationFields, LocationId};
use coupler_core::secret::hash_secret;
use coupler_core::store::{ProviderReach, PushOutcome};
use coupler_core::tariff::tou::{Rate, TouInterval, Weekday};
use coupler_core::tariff::{
    PriceArea, PriceScope, Series, SeriesKind, SeriesOwner, SeriesPush, SeriesSlot, TouDefinition, TouTariff,
};
use coupler_core::{time, Client, ClientId, Store, UserId};

use coupler_store::on_both_backends;

on_both_backends!(
    a_tariff_is_set_replaced_and_deleted_for_its_own_client_only,
    a_location_keeps_its_price_area_and_provider_and_a_change_of_them_is_an_event,
    a_push_replaces_its_owners_slots_over_its_stretch_and_cuts_slots_reaching_into_it,
    the_same_series_pushed_again_changes_nothing_and_appends_no_event,
    a_retried_push_with_the_same_key_is_stored_once_and_answers_with_the_first_push,
    a_push_for_another_clients_location_writes_nothing,
    racing_retries_of_one_push_store_it_once,
    a_price_area_of_one_client_is_not_another_clients_area_of_the_same_name,
    a_providers_series_reaches_locations_naming_it_and_by_default_or_fallback_the_others,
    a_providers_status_keeps_its_last_success_and_last_error_and_how_far_prices_go,
    prices_and_carbon_intensity_of_one_owner_are_separate_series,
    deleting_a_location_deletes_its_tariff_and_series,
    many_locations_and_series_are_read_at_once_each_under_its_own_client,
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

async fn location(store: &Arc<dyn Store>, client: &ClientId, area: Option<&str>, provider: Option<&str>) -> LocationId {
    let user = UserId::parse("alice").unwrap();
    store.upsert_user(client, &user).await.unwrap();
    let now = time::now();
    let location = Location {
        id: LocationId::generate(),
        client_id: client.clone(),
        user_id: user,
        fields: LocationFields::new("Home", 52.5, 13.4, "Europe/Berlin")
            .unwrap()
            .with_pricing(area.map(|a| PriceArea::parse(a).unwrap()), provider.map(str::to_owned)),
        created_at: now,
        updated_at: now,
    };
    store.insert_location(&location).await.unwrap();
    location.id
}

fn area(name: &str) -> PriceArea {
    PriceArea::parse(name).unwrap()
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn hourly(kind: SeriesKind, from: &str, values: &[f64]) -> Series {
    let start = at(from);
    let slots = values
        .iter()
        .enumerate()
        .map(|(i, v)| SeriesSlot {
            start: start + Duration::hours(i as i64),
            end: start + Duration::hours(i as i64 + 1),
            value: *v,
        })
        .collect();
    Series::new(kind, slots).unwrap()
}

fn tariff() -> TouTariff {
    TouTariff::new(TouDefinition {
        rates: vec![Rate {
            name: "flat".into(),
            price_per_kwh: 0.25,
        }],
        schedule: vec![TouInterval {
            days: Weekday::ALL.to_vec(),
            from: "00:00".into(),
            to: "24:00".into(),
            rate: "flat".into(),
        }],
    })
    .unwrap()
}

async fn push(store: &Arc<dyn Store>, owner: SeriesOwner, series: &Series, key: Option<&str>) -> PushOutcome {
    let push = SeriesPush::new(owner, series, key.map(str::to_owned), time::now()).unwrap();
    store.push_series(&push, series).await.unwrap()
}

fn changed(outcome: &PushOutcome) -> bool {
    match outcome {
        PushOutcome::Stored { changed, .. } => *changed,
        other => panic!("not stored: {other:?}"),
    }
}

/// The prices events waiting for the relay, as (location, updated fields).
async fn price_events(store: &Arc<dyn Store>) -> Vec<(String, Vec<String>)> {
    store
        .unpublished_events(1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == EventType::LocationPricesUpdated)
        .map(|e| (e.asset_id, e.updated_fields))
        .collect()
}

fn values(slots: &[SeriesSlot]) -> Vec<(String, String, f64)> {
    slots
        .iter()
        .map(|s| {
            (
                s.start.format("%H:%M").to_string(),
                s.end.format("%H:%M").to_string(),
                s.value,
            )
        })
        .collect()
}

async fn a_tariff_is_set_replaced_and_deleted_for_its_own_client_only(store: Arc<dyn Store>) {
    let (a, b) = (client(&store, "a").await, client(&store, "b").await);
    let home = location(&store, &a, None, None).await;
    assert!(store
        .put_tariff(&b, &home, &tariff(), time::now())
        .await
        .unwrap()
        .is_none());
    let stored = store
        .put_tariff(&a, &home, &tariff(), time::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.tariff, tariff());
    assert_eq!(store.get_tariff(&a, &home).await.unwrap().unwrap().tariff, tariff());
    assert!(store.get_tariff(&b, &home).await.unwrap().is_none());
    assert!(!store.delete_tariff(&b, &home).await.unwrap());
    let again = store
        .put_tariff(&a, &home, &tariff(), time::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.created_at, stored.created_at);
    assert!(store.delete_tariff(&a, &home).await.unwrap());
    assert!(!store.delete_tariff(&a, &home).await.unwrap());
    assert!(store.get_tariff(&a, &home).await.unwrap().is_none());
    // Set, replaced, deleted: three events about the location's tariff.
    let events = price_events(&store).await;
    assert_eq!(events.len(), 3);
    assert!(events
        .iter()
        .all(|(id, fields)| id == home.as_str() && fields == &["tariff"]));
}

async fn a_location_keeps_its_price_area_and_provider_and_a_change_of_them_is_an_event(store: Arc<dyn Store>) {
    let a = client(&store, "a").await;
    let home = location(&store, &a, Some("DE-LU"), Some("AWATTAR")).await;
    let read = store.get_location(&a, &home).await.unwrap().unwrap();
    assert_eq!(read.fields.price_area, Some(area("DE-LU")));
    assert_eq!(read.fields.price_provider.as_deref(), Some("AWATTAR"));
    // The same fields again: no event.
    store
        .update_location(&a, &home, &read.fields, time::now())
        .await
        .unwrap()
        .unwrap();
    assert!(price_events(&store).await.is_empty());
    let moved = read
        .fields
        .clone()
        .with_pricing(Some(area("AT")), Some("AWATTAR".into()));
    let updated = store
        .update_location(&a, &home, &moved, time::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.fields.price_area, Some(area("AT")));
    let cleared = moved.with_pricing(None, None);
    store
        .update_location(&a, &home, &cleared, time::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        price_events(&store).await,
        vec![
            (home.to_string(), vec!["priceArea".to_owned()]),
            (
                home.to_string(),
                vec!["priceArea".to_owned(), "priceProvider".to_owned()]
            ),
        ]
    );
}

async fn a_push_replaces_its_owners_slots_over_its_stretch_and_cuts_slots_reaching_into_it(store: Arc<dyn Store>) {
    let a = client(&store, "a").await;
    let home = location(&store, &a, None, None).await;
    let owner = SeriesOwner::Location {
        client: a.clone(),
        location: home.clone(),
    };
    let day = hourly(SeriesKind::Price, "2025-01-15T08:00:00Z", &[1.0, 2.0, 3.0, 4.0]);
    assert!(changed(&push(&store, owner.clone(), &day, None).await));
    // Quarter hours from 09:30 to 10:30 replace the middle; the hours around them are cut.
    let quarters: Vec<SeriesSlot> = (0..4)
        .map(|i| SeriesSlot {
            start: at("2025-01-15T09:30:00Z") + Duration::minutes(15 * i),
            end: at("2025-01-15T09:45:00Z") + Duration::minutes(15 * i),
            value: 9.0,
        })
        .collect();
    let quarters = Series::new(SeriesKind::Price, quarters).unwrap();
    assert!(changed(&push(&store, owner.clone(), &quarters, None).await));
    let slots = store
        .series_slots(
            &owner,
            SeriesKind::Price,
            at("2025-01-15T00:00:00Z"),
            at("2025-01-16T00:00:00Z"),
        )
        .await
        .unwrap();
    let v = |a: &str, b: &str, x: f64| (a.to_owned(), b.to_owned(), x);
    assert_eq!(
        values(&slots),
        vec![
            v("08:00", "09:00", 1.0),
            v("09:00", "09:30", 2.0),
            v("09:30", "09:45", 9.0),
            v("09:45", "10:00", 9.0),
            v("10:00", "10:15", 9.0),
            v("10:15", "10:30", 9.0),
            v("10:30", "11:00", 3.0),
            v("11:00", "12:00", 4.0),
        ]
    );
    // Reading a window gives only the slots overlapping it.
    let window = store
        .series_slots(
            &owner,
            SeriesKind::Price,
            at("2025-01-15T10:20:00Z"),
            at("2025-01-15T11:00:00Z"),
        )
        .await
        .unwrap();
    assert_eq!(window.len(), 2);
    // One slot around the whole of a push keeps both its ends.
    let inside = Series::new(
        SeriesKind::Price,
        vec![SeriesSlot {
            start: at("2025-01-15T11:15:00Z"),
            end: at("2025-01-15T11:30:00Z"),
            value: 0.5,
        }],
    )
    .unwrap();
    push(&store, owner.clone(), &inside, None).await;
    let end = store
        .series_slots(
            &owner,
            SeriesKind::Price,
            at("2025-01-15T11:00:00Z"),
            at("2025-01-15T12:00:00Z"),
        )
        .await
        .unwrap();
    assert_eq!(
        values(&end),
        vec![
            v("11:00", "11:15", 4.0),
            v("11:15", "11:30", 0.5),
            v("11:30", "12:00", 4.0)
        ]
    );
}

async fn the_same_series_pushed_again_changes_nothing_and_appends_no_event(store: Arc<dyn Store>) {
    let a = client(&store, "a").await;
    let home = location(&store, &a, None, None).await;
    let owner = SeriesOwner::Location {
        client: a.clone(),
        location: home.clone(),
    };
    let day = hourly(SeriesKind::Price, "2025-01-15T00:00:00Z", &[1.0; 24]);
    assert!(changed(&push(&store, owner.clone(), &day, None).await));
    assert!(!changed(&push(&store, owner.clone(), &day, None).await));
    assert_eq!(
        price_events(&store).await,
        vec![(home.to_string(), vec!["prices".to_owned()])]
    );
}

async fn a_retried_push_with_the_same_key_is_stored_once_and_answers_with_the_first_push(store: Arc<dyn Store>) {
    let a = client(&store, "a").await;
    let home = location(&store, &a, None, None).await;
    let owner = SeriesOwner::Location {
        client: a.clone(),
        location: home.clone(),
    };
    let day = hourly(SeriesKind::Price, "2025-01-15T00:00:00Z", &[1.0, 2.0]);
    let PushOutcome::Stored { push: first, .. } = push(&store, owner.clone(), &day, Some("k-1")).await else {
        panic!("the first push is stored")
    };
    let PushOutcome::Earlier(earlier) = push(&store, owner.clone(), &day, Some("k-1")).await else {
        panic!("a retry finds the first push")
    };
    assert_eq!(earlier, first);
    // A different series under the same key writes nothing either: the caller refuses it.
    let other = hourly(SeriesKind::Price, "2025-01-15T00:00:00Z", &[5.0, 5.0]);
    let PushOutcome::Earlier(earlier) = push(&store, owner.clone(), &other, Some("k-1")).await else {
        panic!("a reused key finds the first push")
    };
    assert_ne!(
        earlier.request_hash,
        SeriesPush::new(owner.clone(), &other, None, time::now())
            .unwrap()
            .request_hash
    );
    let slots = store
        .series_slots(
            &owner,
            SeriesKind::Price,
            at("2025-01-15T00:00:00Z"),
            at("2025-01-16T00:00:00Z"),
        )
        .await
        .unwrap();
    assert_eq!(slots.iter().map(|s| s.value).collect::<Vec<_>>(), vec![1.0, 2.0]);
    // Another client's key of the same text is its own.
    let b = client(&store, "b").await;
    let theirs = location(&store, &b, None, None).await;
    let outcome = push(
        &store,
        SeriesOwner::Location {
            client: b,
            location: theirs,
        },
        &day,
        Some("k-1"),
    )
    .await;
    assert!(matches!(outcome, PushOutcome::Stored { .. }));
}

async fn a_push_for_another_clients_location_writes_nothing(store: Arc<dyn Store>) {
    let (a, b) = (client(&store, "a").await, client(&store, "b").await);
    let theirs = location(&store, &a, None, None).await;
    let day = hourly(SeriesKind::Price, "2025-01-15T00:00:00Z", &[1.0]);
    let outcome = push(
        &store,
        SeriesOwner::Location {
            client: b.clone(),
            location: theirs.clone(),
        },
        &day,
        Some("k"),
    )
    .await;
    assert_eq!(outcome, PushOutcome::NoSuchLocation);
    let owner = SeriesOwner::Location {
        client: a,
        location: theirs,
    };
    assert!(store
        .series_slots(
            &owner,
            SeriesKind::Price,
            at("2025-01-15T00:00:00Z"),
            at("2025-01-16T00:00:00Z")
        )
        .await
        .unwrap()
        .is_empty());
    assert!(price_events(&store).await.is_empty());
}

async fn a_price_area_of_one_client_is_not_another_clients_area_of_the_same_name(store: Arc<dyn Store>) {
    let (a, b) = (client(&store, "a").await, client(&store, "b").await);
    let home_a = location(&store, &a, Some("DE-LU"), None).await;
    let _home_b = location(&store, &b, Some("DE-LU"), None).await;
    let day = hourly(SeriesKind::Price, "2025-01-15T00:00:00Z", &[1.0, 2.0]);
    push(
        &store,
        SeriesOwner::Area {
            client: a.clone(),
            area: area("DE-LU"),
        },
        &day,
        None,
    )
    .await;
    let (from, to) = (at("2025-01-15T00:00:00Z"), at("2025-01-16T00:00:00Z"));
    let as_a = SeriesOwner::Area {
        client: a.clone(),
        area: area("DE-LU"),
    };
    let as_b = SeriesOwner::Area {
        client: b.clone(),
        area: area("DE-LU"),
    };
    assert_eq!(
        store
            .series_slots(&as_a, SeriesKind::Price, from, to)
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(store
        .series_slots(&as_b, SeriesKind::Price, from, to)
        .await
        .unwrap()
        .is_empty());
    // Only A's location in the area heard of it.
    assert_eq!(
        price_events(&store).await,
        vec![(home_a.to_string(), vec!["prices".to_owned()])]
    );
    let scope = PriceScope::Area {
        client: a.clone(),
        area: area("DE-LU"),
    };
    assert_eq!(
        store
            .locations_in_price_scope(&scope, ProviderReach::default())
            .await
            .unwrap(),
        vec![(a, home_a)]
    );
}

async fn a_providers_series_reaches_locations_naming_it_and_by_default_or_fallback_the_others(store: Arc<dyn Store>) {
    let (a, b) = (client(&store, "a").await, client(&store, "b").await);
    let named = location(&store, &a, Some("DE-LU"), Some("AWATTAR")).await;
    let unnamed = location(&store, &b, Some("DE-LU"), None).await;
    let elsewhere = location(&store, &b, Some("AT"), Some("AWATTAR")).await;
    let nowhere = location(&store, &a, None, None).await;
    let with_tariff = location(&store, &a, None, None).await;
    store
        .put_tariff(&a, &with_tariff, &tariff(), time::now())
        .await
        .unwrap();
    let scope = PriceScope::Provider {
        provider: "AWATTAR".into(),
        area: area("DE-LU"),
    };
    let reached = |list: Vec<(ClientId, LocationId)>| {
        let mut ids: Vec<String> = list.into_iter().map(|(_, l)| l.to_string()).collect();
        ids.sort();
        ids
    };
    let sorted = |mut ids: Vec<&LocationId>| {
        ids.sort();
        ids.into_iter().map(ToString::to_string).collect::<Vec<_>>()
    };
    let only_named = store
        .locations_in_price_scope(&scope, ProviderReach::default())
        .await
        .unwrap();
    assert_eq!(reached(only_named), sorted(vec![&named]));
    let by_default = ProviderReach {
        as_default: true,
        as_fallback: false,
    };
    assert_eq!(
        reached(store.locations_in_price_scope(&scope, by_default).await.unwrap()),
        sorted(vec![&named, &unnamed])
    );
    let fallback = ProviderReach {
        as_default: true,
        as_fallback: true,
    };
    assert_eq!(
        reached(store.locations_in_price_scope(&scope, fallback).await.unwrap()),
        sorted(vec![&named, &unnamed, &nowhere])
    );
    let _ = elsewhere;
    let before = price_events(&store).await.len();
    let day = hourly(SeriesKind::Price, "2025-01-15T00:00:00Z", &[0.1, 0.2]);
    assert!(store
        .store_provider_series("AWATTAR", &area("DE-LU"), &day, by_default, time::now())
        .await
        .unwrap());
    assert!(!store
        .store_provider_series("AWATTAR", &area("DE-LU"), &day, by_default, time::now())
        .await
        .unwrap());
    let events = price_events(&store).await;
    let mut new: Vec<String> = events[before..].iter().map(|(id, _)| id.clone()).collect();
    new.sort();
    assert_eq!(new, sorted(vec![&named, &unnamed]));
    // A provider's series is nobody's client's: read under no client.
    let owner = SeriesOwner::Provider {
        provider: "AWATTAR".into(),
        area: area("DE-LU"),
    };
    let slots = store
        .series_slots(
            &owner,
            SeriesKind::Price,
            at("2025-01-15T00:00:00Z"),
            at("2025-01-16T00:00:00Z"),
        )
        .await
        .unwrap();
    assert_eq!(slots.len(), 2);
}

async fn a_providers_status_keeps_its_last_success_and_last_error_and_how_far_prices_go(store: Arc<dyn Store>) {
    let de = area("DE-LU");
    assert!(store.provider_status("AWATTAR", &de).await.unwrap().is_none());
    let t0 = at("2025-01-15T12:00:00Z");
    let day = hourly(SeriesKind::Price, "2025-01-15T00:00:00Z", &[0.1; 48]);
    store
        .store_provider_series("AWATTAR", &de, &day, ProviderReach::default(), t0)
        .await
        .unwrap();
    store.record_provider_attempt("AWATTAR", &de, None, t0).await.unwrap();
    let ok = store.provider_status("AWATTAR", &de).await.unwrap().unwrap();
    assert_eq!(ok.last_success_at, Some(t0));
    assert_eq!(ok.prices_until, Some(at("2025-01-17T00:00:00Z")));
    assert!(!ok.is_failing());
    let t1 = t0 + Duration::hours(1);
    store
        .record_provider_attempt("AWATTAR", &de, Some("HTTP 500"), t1)
        .await
        .unwrap();
    let failing = store.provider_status("AWATTAR", &de).await.unwrap().unwrap();
    assert!(failing.is_failing());
    assert_eq!(failing.last_success_at, Some(t0));
    assert_eq!(failing.last_error_at, Some(t1));
    assert_eq!(failing.last_error.as_deref(), Some("HTTP 500"));
    assert_eq!(failing.last_attempt_at, Some(t1));
    assert_eq!(failing.prices_until, Some(at("2025-01-17T00:00:00Z")));
    let t2 = t1 + Duration::hours(1);
    store.record_provider_attempt("AWATTAR", &de, None, t2).await.unwrap();
    let recovered = store.provider_status("AWATTAR", &de).await.unwrap().unwrap();
    assert!(!recovered.is_failing());
    assert_eq!(recovered.last_error.as_deref(), Some("HTTP 500"));
    // Another area has its own status.
    assert!(store.provider_status("AWATTAR", &area("AT")).await.unwrap().is_none());
}

async fn prices_and_carbon_intensity_of_one_owner_are_separate_series(store: Arc<dyn Store>) {
    let a = client(&store, "a").await;
    let home = location(&store, &a, None, None).await;
    let owner = SeriesOwner::Location {
        client: a.clone(),
        location: home.clone(),
    };
    push(
        &store,
        owner.clone(),
        &hourly(SeriesKind::Price, "2025-01-15T00:00:00Z", &[0.3]),
        None,
    )
    .await;
    push(
        &store,
        owner.clone(),
        &hourly(SeriesKind::CarbonIntensity, "2025-01-15T00:00:00Z", &[250.0]),
        None,
    )
    .await;
    let (from, to) = (at("2025-01-15T00:00:00Z"), at("2025-01-16T00:00:00Z"));
    assert_eq!(
        store.series_slots(&owner, SeriesKind::Price, from, to).await.unwrap()[0].value,
        0.3
    );
    assert_eq!(
        store
            .series_slots(&owner, SeriesKind::CarbonIntensity, from, to)
            .await
            .unwrap()[0]
            .value,
        250.0
    );
    let fields: Vec<Vec<String>> = price_events(&store).await.into_iter().map(|(_, f)| f).collect();
    assert_eq!(
        fields,
        vec![vec!["prices".to_owned()], vec!["carbonIntensity".to_owned()]]
    );
}

async fn deleting_a_location_deletes_its_tariff_and_series(store: Arc<dyn Store>) {
    let a = client(&store, "a").await;
    let home = location(&store, &a, None, None).await;
    let owner = SeriesOwner::Location {
        client: a.clone(),
        location: home.clone(),
    };
    store.put_tariff(&a, &home, &tariff(), time::now()).await.unwrap();
    push(
        &store,
        owner.clone(),
        &hourly(SeriesKind::Price, "2025-01-15T00:00:00Z", &[0.3]),
        None,
    )
    .await;
    assert!(store.delete_location(&a, &home).await.unwrap());
    assert!(store.get_tariff(&a, &home).await.unwrap().is_none());
    assert!(store
        .series_slots(
            &owner,
            SeriesKind::Price,
            at("2025-01-15T00:00:00Z"),
            at("2025-01-16T00:00:00Z")
        )
        .await
        .unwrap()
        .is_empty());
}

async fn racing_retries_of_one_push_store_it_once(store: Arc<dyn Store>) {
    let a = client(&store, "a").await;
    let home = location(&store, &a, None, None).await;
    let owner = SeriesOwner::Location {
        client: a.clone(),
        location: home.clone(),
    };
    let day = hourly(SeriesKind::Price, "2025-01-15T00:00:00Z", &[1.0; 24]);
    let mut racers = Vec::new();
    for _ in 0..8 {
        let (store, owner, day) = (store.clone(), owner.clone(), day.clone());
        racers.push(tokio::spawn(
            async move { push(&store, owner, &day, Some("same")).await },
        ));
    }
    let mut stored = Vec::new();
    let mut earlier = Vec::new();
    for racer in racers {
        match racer.await.unwrap() {
            PushOutcome::Stored { push, .. } => stored.push(push),
            PushOutcome::Earlier(push) => earlier.push(push),
            PushOutcome::NoSuchLocation => panic!("the location exists"),
        }
    }
    assert_eq!(stored.len(), 1);
    assert!(earlier.iter().all(|p| p.id == stored[0].id));
    assert_eq!(price_events(&store).await.len(), 1);
}

async fn many_locations_and_series_are_read_at_once_each_under_its_own_client(store: Arc<dyn Store>) {
    let (a, b) = (client(&store, "a").await, client(&store, "b").await);
    let home = location(&store, &a, Some("DE-LU"), None).await;
    let cabin = location(&store, &a, None, None).await;
    let theirs = location(&store, &b, None, None).await;
    store.put_tariff(&a, &cabin, &tariff(), time::now()).await.unwrap();
    let loaded = store
        .locations_with_tariffs(&[home.clone(), cabin.clone(), theirs.clone(), LocationId::generate()])
        .await
        .unwrap();
    assert_eq!(loaded.len(), 3);
    let of = |id: &LocationId| loaded.iter().find(|(l, _)| &l.id == id).unwrap();
    assert_eq!(of(&home).0.fields.price_area, Some(area("DE-LU")));
    assert!(of(&home).1.is_none());
    assert_eq!(of(&cabin).1.as_ref().unwrap().tariff, tariff());
    assert_eq!(of(&theirs).0.client_id, b);
    let day = hourly(SeriesKind::Price, "2025-01-15T00:00:00Z", &[0.1, 0.2]);
    let mine = SeriesOwner::Location {
        client: a.clone(),
        location: home.clone(),
    };
    let area_a = SeriesOwner::Area {
        client: a.clone(),
        area: area("DE-LU"),
    };
    push(&store, mine.clone(), &day, None).await;
    push(&store, area_a.clone(), &day, None).await;
    store
        .store_provider_series("AWATTAR", &area("DE-LU"), &day, ProviderReach::default(), time::now())
        .await
        .unwrap();
    let provider = SeriesOwner::Provider {
        provider: "AWATTAR".into(),
        area: area("DE-LU"),
    };
    // Asked for under the wrong client, a location's series is not found.
    let spoofed = SeriesOwner::Location {
        client: b.clone(),
        location: home.clone(),
    };
    let found = store
        .series_slots_of(
            &[mine.clone(), area_a.clone(), provider.clone()],
            SeriesKind::Price,
            at("2025-01-15T00:30:00Z"),
            at("2025-01-16T00:00:00Z"),
        )
        .await
        .unwrap();
    assert_eq!(found.len(), 3);
    for owner in [&mine, &area_a, &provider] {
        assert_eq!(found[&owner.key()].len(), 2, "{}", owner.key());
    }
    let only_spoofed = store
        .series_slots_of(
            &[spoofed],
            SeriesKind::Price,
            at("2025-01-15T00:00:00Z"),
            at("2025-01-16T00:00:00Z"),
        )
        .await
        .unwrap();
    assert!(only_spoofed.is_empty());
}
