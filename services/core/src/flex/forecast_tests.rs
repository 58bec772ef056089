//! The forecast's rules, each as a sentence.

use chrono::TimeZone;

use super::*;

/// 2026-12-08 (a Tuesday) at `h:m` UTC.
fn tuesday(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 8, h, m, 0).unwrap()
}

fn device() -> DeviceOutlook {
    DeviceOutlook {
        max_power_kw: 11.0,
        time_zone: chrono_tz::UTC,
        known_since: tuesday(0, 0) - Duration::days(60),
        stays: Vec::new(),
        now: None,
        caps: Vec::new(),
    }
}

/// Home from 18:00 to 07:00 the next morning, taking `kwh`, on each working day of the last four
/// weeks before `now`.
fn evening_commuter(now: DateTime<Utc>, kwh: f64) -> Vec<PastStay> {
    (1..=HABIT_LOOKBACK_DAYS)
        .map(|k| now.date_naive() - Duration::days(k))
        .filter(|day| !matches!(day.weekday(), Weekday::Sat | Weekday::Sun))
        .map(|day| {
            let arrived_at = Utc.from_utc_datetime(&day.and_hms_opt(18, 0, 0).unwrap());
            PastStay {
                arrived_at,
                left_at: arrived_at + Duration::hours(13),
                energy_kwh: kwh,
            }
        })
        .collect()
}

fn slot_at(forecast: &Forecast, at: DateTime<Utc>) -> ForecastSlot {
    *forecast
        .slots
        .iter()
        .find(|s| s.start <= at && at < s.end)
        .expect("a slot holds the moment")
}

#[test]
fn the_window_starts_at_the_slot_holding_now_and_spans_a_day_in_quarter_hours_or_hours() {
    let now = tuesday(12, 7);
    let quarters = forecast(&[device()], now, SlotLength::QuarterHour);
    assert_eq!(
        (quarters.from, quarters.to),
        (tuesday(12, 0), tuesday(12, 0) + Duration::hours(24))
    );
    assert_eq!(quarters.slots.len(), 96);
    let hours = forecast(&[device()], now, SlotLength::Hour);
    assert_eq!(hours.slots.len(), 24);
    assert_eq!(hours.slots[1].start, tuesday(13, 0));
    assert_eq!(SlotLength::parse("PT15M"), Some(SlotLength::QuarterHour));
    assert_eq!(SlotLength::parse("PT30M"), None);
}

#[test]
fn a_device_without_history_that_is_not_plugged_in_adds_nothing() {
    let f = forecast(&[device()], tuesday(12, 0), SlotLength::Hour);
    assert_eq!((f.devices, f.plugged_in_now, f.with_habits), (1, 0, 0));
    assert!(f
        .slots
        .iter()
        .all(|s| s.plugged_in == 0.0 && s.load_kw == 0.0 && s.flexible_kw == 0.0));
}

#[test]
fn a_car_plugged_in_with_a_far_deadline_draws_at_once_and_all_of_it_could_be_deferred() {
    let now = tuesday(20, 0);
    let mut car = device();
    car.now = Some(PluggedNow {
        since: Some(now),
        power_kw: 11.0,
        energy_needed_kwh: Some(11.0),
        deadline: Some(tuesday(20, 0) + Duration::hours(10)),
        ..PluggedNow::default()
    });
    let f = forecast(&[car], now, SlotLength::Hour);
    let first = slot_at(&f, now);
    assert_eq!((first.plugged_in, first.load_kw, first.flexible_kw), (1.0, 11.0, 11.0));
    let second = slot_at(&f, tuesday(21, 30));
    assert_eq!(
        (second.plugged_in, second.load_kw),
        (1.0, 0.0),
        "the energy is in after an hour"
    );
    let gone = slot_at(&f, tuesday(20, 0) + Duration::hours(11));
    assert_eq!(gone.plugged_in, 0.0, "it has left at its deadline");
}

#[test]
fn a_car_that_must_charge_flat_out_until_its_deadline_has_no_flexible_load() {
    let now = tuesday(20, 0);
    let mut car = device();
    car.now = Some(PluggedNow {
        since: Some(now),
        power_kw: 11.0,
        energy_needed_kwh: Some(22.0),
        deadline: Some(tuesday(22, 0)),
        ..PluggedNow::default()
    });
    let f = forecast(&[car], now, SlotLength::Hour);
    for at in [tuesday(20, 0), tuesday(21, 0)] {
        let slot = slot_at(&f, at);
        assert_eq!((slot.load_kw, slot.flexible_kw), (11.0, 0.0), "{at}");
    }
}

#[test]
fn a_cap_in_force_holds_the_expected_load_down_and_the_charge_goes_on_after_it() {
    let now = tuesday(20, 0);
    let mut car = device();
    car.now = Some(PluggedNow {
        since: Some(now),
        power_kw: 11.0,
        energy_needed_kwh: Some(15.0),
        deadline: Some(tuesday(23, 0) + Duration::hours(8)),
        ..PluggedNow::default()
    });
    car.caps = vec![PowerCap {
        from: Some(tuesday(20, 0)),
        to: Some(tuesday(21, 0)),
        max_kw: 4.0,
    }];
    let f = forecast(&[car], now, SlotLength::Hour);
    assert_eq!(slot_at(&f, tuesday(20, 30)).load_kw, 4.0);
    assert_eq!(slot_at(&f, tuesday(21, 30)).load_kw, 11.0);
    assert_eq!(slot_at(&f, tuesday(22, 30)).load_kw, 0.0);
}

#[test]
fn a_smart_charging_plan_is_the_expected_load_of_its_plug_in() {
    let now = tuesday(20, 0);
    let mut car = device();
    car.now = Some(PluggedNow {
        since: Some(now),
        power_kw: 0.0,
        deadline: Some(tuesday(23, 0) + Duration::hours(4)),
        plan: vec![
            (tuesday(20, 0), tuesday(23, 0) + Duration::hours(1), 0.0),
            (
                tuesday(23, 0) + Duration::hours(1),
                tuesday(23, 0) + Duration::hours(2),
                7.0,
            ),
        ],
        ..PluggedNow::default()
    });
    let f = forecast(&[car], now, SlotLength::Hour);
    assert_eq!(slot_at(&f, tuesday(21, 0)).load_kw, 0.0);
    let planned = slot_at(&f, tuesday(23, 0) + Duration::minutes(90));
    assert_eq!(planned.load_kw, 7.0);
    assert_eq!(planned.flexible_kw, 7.0, "two hours remain after it, at 11 kW");
}

#[test]
fn a_working_day_commuter_is_expected_home_this_evening_with_a_flexible_arrival_load() {
    let now = tuesday(12, 0);
    let mut car = device();
    car.stays = evening_commuter(now, 10.0);
    let f = forecast(&[car], now, SlotLength::Hour);
    assert_eq!(f.with_habits, 1);
    assert_eq!(slot_at(&f, tuesday(14, 0)).plugged_in, 0.0);
    let arrival = slot_at(&f, tuesday(18, 0));
    assert_eq!(arrival.plugged_in, 1.0);
    // 10 kWh at 11 kW: 55 minutes of the hour, all of it movable into the night.
    assert!((arrival.load_kw - 10.0).abs() < 0.1, "{arrival:?}");
    assert!((arrival.flexible_kw - arrival.load_kw).abs() < 0.01, "{arrival:?}");
    assert_eq!(slot_at(&f, tuesday(21, 0)).load_kw, 0.0);
    // At 03:00 on a working day the car was home four days in five: Mondays' small hours follow
    // Sundays, when it did not come home.
    assert_eq!(slot_at(&f, tuesday(23, 0) + Duration::hours(4)).plugged_in, 0.8);
}

#[test]
fn weekend_days_are_forecast_from_past_weekend_days_only() {
    // Saturday noon: no past Saturday or Sunday had an evening arrival ...
    let saturday = Utc.with_ymd_and_hms(2026, 12, 12, 12, 0, 0).unwrap();
    let mut car = device();
    car.stays = evening_commuter(saturday, 10.0);
    let f = forecast(&[car], saturday, SlotLength::Hour);
    for hour in 12..24 {
        let slot = slot_at(&f, saturday + Duration::hours(hour - 12));
        assert_eq!((slot.plugged_in, slot.load_kw), (0.0, 0.0), "{slot:?}");
    }
    // ... but half of the past weekend small hours were Saturdays', after a Friday evening at home.
    assert_eq!(slot_at(&f, saturday + Duration::hours(15)).plugged_in, 0.5);
}

#[test]
fn a_car_away_now_is_not_expected_back_before_its_next_arrival() {
    // 03:00 on a Wednesday: in the past the car was home at this hour, but it is not now.
    let now = tuesday(3, 0) + Duration::days(1);
    let mut car = device();
    car.stays = evening_commuter(now, 10.0);
    let f = forecast(&[car], now, SlotLength::Hour);
    assert_eq!(slot_at(&f, now).plugged_in, 0.0);
    assert_eq!(
        slot_at(&f, now + Duration::hours(15)).plugged_in,
        1.0,
        "home again at 18:00"
    );
}

#[test]
fn a_car_plugged_in_without_a_deadline_stays_as_long_as_its_plug_ins_at_that_hour_usually_do() {
    let now = tuesday(18, 30);
    let mut car = device();
    car.stays = evening_commuter(now, 10.0);
    car.now = Some(PluggedNow {
        since: Some(tuesday(18, 0)),
        power_kw: 11.0,
        delivered_kwh: 4.0,
        ..PluggedNow::default()
    });
    let f = forecast(&[car], now, SlotLength::Hour);
    // Its usual 10 kWh less the 4 in: 6 kWh at 11 kW from the slot's start.
    let first = slot_at(&f, now);
    assert!((first.load_kw - 6.0).abs() < 0.1, "{first:?}");
    let morning = tuesday(6, 30) + Duration::days(1);
    assert_eq!(slot_at(&f, morning).plugged_in, 1.0);
    assert_eq!(
        slot_at(&f, morning + Duration::hours(1)).plugged_in,
        0.0,
        "gone at 07:00"
    );
}

#[test]
fn days_before_coupler_knew_the_device_are_no_evidence() {
    let now = tuesday(12, 0);
    let mut car = device();
    car.stays = evening_commuter(now, 10.0);
    // Known for two days only: Sunday and Monday; only Monday was a working day with an arrival.
    car.known_since = now - Duration::days(2);
    let f = forecast(&[car.clone()], now, SlotLength::Hour);
    assert_eq!(slot_at(&f, tuesday(18, 0)).plugged_in, 1.0);
    car.known_since = now;
    let unknown = forecast(&[car], now, SlotLength::Hour);
    assert_eq!(slot_at(&unknown, tuesday(18, 0)).plugged_in, 0.0);
}

#[test]
fn devices_add_up_and_a_cap_in_force_limits_the_habitual_load() {
    let now = tuesday(12, 0);
    let mut car = device();
    car.stays = evening_commuter(now, 10.0);
    let mut capped = car.clone();
    capped.caps = vec![PowerCap {
        from: Some(tuesday(17, 0)),
        to: Some(tuesday(20, 0)),
        max_kw: 3.0,
    }];
    let f = forecast(&[car, capped], now, SlotLength::Hour);
    let arrival = slot_at(&f, tuesday(18, 0));
    assert_eq!(arrival.plugged_in, 2.0);
    assert!((arrival.load_kw - 13.0).abs() < 0.1, "{arrival:?}");
}
