//! Measurement's arithmetic, each rule as a sentence: intervals from readings, baselines, caps,
//! results and overrides.

use std::collections::{BTreeMap, BTreeSet};

use chrono::TimeZone;

use super::*;
use crate::costs::EnergyReading;
use crate::ev_system::PowerSample;

/// 2026-03-10 (a Tuesday) at `hh:mm` UTC.
fn t(hh: u32, mm: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, hh, mm, 0).unwrap()
}

fn reading(at: DateTime<Utc>, kwh: f64) -> EnergyReading {
    EnergyReading {
        at,
        register_wh: kwh * 1000.0,
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn a_reading_that_straddles_an_interval_edge_gives_each_interval_its_share() {
    // 3 kWh evenly from 10:10 to 10:40, read every 15 minutes: 5 minutes' worth in the first
    // interval, 15 in the second, 10 in the third.
    let mut series = IntervalSeries::new(t(10, 0), t(11, 0));
    series.add_register(&[
        reading(t(10, 10), 100.0),
        reading(t(10, 25), 101.5),
        reading(t(10, 40), 103.0),
    ]);
    let energy: Vec<f64> = series.intervals().iter().map(|i| i.energy_kwh).collect();
    assert!(
        close(energy[0], 0.5) && close(energy[1], 1.5) && close(energy[2], 1.0) && close(energy[3], 0.0),
        "{energy:?}"
    );
    let intervals = series.intervals();
    assert!(close(intervals[1].average_power_kw, 6.0));
    assert!(close(intervals[0].coverage, 1.0 / 3.0));
    assert!(close(intervals[3].coverage, 0.0));
    assert!(intervals.iter().all(|i| !i.estimated));
}

#[test]
fn energy_over_a_gap_longer_than_fifteen_minutes_is_spread_and_marked_estimated() {
    let mut series = IntervalSeries::new(t(10, 0), t(11, 0));
    series.add_register(&[
        reading(t(10, 0), 0.0),
        reading(t(10, 5), 0.5),
        // The charger was offline for 45 minutes: 3 kWh spread over them.
        reading(t(10, 50), 3.5),
    ]);
    let intervals = series.intervals();
    assert!(intervals[0].estimated && close(intervals[0].energy_kwh, 0.5 + 3.0 * 10.0 / 45.0));
    assert!(intervals[1].estimated && intervals[2].estimated && intervals[3].estimated);
    assert!(close(intervals[1].energy_kwh, 1.0));
    let total: f64 = intervals.iter().map(|i| i.energy_kwh).sum();
    assert!(close(total, 3.5), "no energy is lost or made: {total}");
}

#[test]
fn a_register_that_goes_backwards_adds_nothing_and_readings_outside_the_span_are_cut_off() {
    let mut series = IntervalSeries::new(t(10, 0), t(10, 30));
    series.add_register(&[
        reading(t(9, 50), 10.0),
        reading(t(10, 10), 12.0),
        reading(t(10, 20), 5.0),
        reading(t(10, 25), 5.5),
    ]);
    let energy: Vec<f64> = series.intervals().iter().map(|i| i.energy_kwh).collect();
    // 2 kWh over 20 minutes, half of it before the span; the drop adds nothing; 0.5 kWh after it.
    assert!(close(energy[0], 1.0) && close(energy[1], 0.5), "{energy:?}");
}

#[test]
fn a_span_widens_to_interval_edges() {
    let series = IntervalSeries::new(t(10, 7), t(10, 31));
    assert_eq!((series.from, series.to, series.len()), (t(10, 0), t(10, 45), 3));
    assert_eq!(interval_start(t(10, 14)), t(10, 0));
    assert_eq!(interval_end(t(10, 15)), t(10, 15));
}

#[test]
fn power_readings_keep_each_interval_s_highest() {
    let mut series = IntervalSeries::new(t(10, 0), t(10, 30));
    series.add_power_peaks(&[
        PowerSample { at: t(10, 1), kw: 7.0 },
        PowerSample { at: t(10, 9), kw: 11.0 },
        PowerSample { at: t(10, 20), kw: 3.0 },
    ]);
    let peaks: Vec<Option<f64>> = series.intervals().iter().map(|i| i.max_power_kw).collect();
    assert_eq!(peaks, vec![Some(11.0), Some(3.0)]);
}

#[test]
fn a_car_s_reported_power_holds_until_its_next_report_for_at_most_thirty_minutes() {
    let mut series = IntervalSeries::new(t(10, 0), t(11, 30));
    let car = |at, kw: Option<f64>, charging: Option<bool>| VehicleReading {
        at,
        charge_rate_kw: kw,
        is_charging: charging,
        battery_level: Some(50.0),
    };
    series.add_vehicle_readings(&[
        car(t(10, 0), Some(8.0), Some(true)),
        car(t(10, 15), None, None),
        car(t(10, 30), Some(4.0), Some(false)),
        car(t(10, 45), Some(6.0), Some(true)),
    ]);
    let energy: Vec<f64> = series.intervals().iter().map(|i| i.energy_kwh).collect();
    // 8 kW for 30 minutes (the report without power is skipped); not charging; 6 kW for 30 minutes.
    assert!(
        close(energy[0], 2.0) && close(energy[1], 2.0) && close(energy[2], 0.0),
        "{energy:?}"
    );
    assert!(
        close(energy[3], 1.5) && close(energy[4], 1.5) && close(energy[5], 0.0),
        "{energy:?}"
    );
}

#[test]
fn a_site_s_series_is_the_sum_of_its_devices() {
    let mut a = IntervalSeries::new(t(10, 0), t(10, 15));
    a.add_register(&[reading(t(10, 0), 0.0), reading(t(10, 15), 1.0)]);
    let mut b = IntervalSeries::new(t(10, 0), t(10, 15));
    b.add_register(&[reading(t(10, 0), 0.0), reading(t(10, 15), 2.0)]);
    a.add_series(&b);
    assert!(close(a.intervals()[0].energy_kwh, 3.0));
    assert!(close(a.average_kw()[0], 12.0));
}

fn history(days_back: &[(i64, f64)], at: DateTime<Utc>) -> BTreeMap<DateTime<Utc>, f64> {
    days_back.iter().map(|(d, kw)| (at - Duration::days(*d), *kw)).collect()
}

#[test]
fn the_similar_days_baseline_averages_the_same_interval_over_recent_weekdays_without_events() {
    let start = t(18, 0); // Tuesday
                          // Back 1 = Monday 4 kW, 2 = Sunday (weekend, skipped), 3 = Saturday (skipped), 4 = Friday 8 kW
                          // (an event day, skipped), 5 = Thursday 6 kW, 6 = Wednesday (no reading: no load).
    let history = history(&[(1, 4.0), (2, 20.0), (3, 20.0), (4, 8.0), (5, 6.0)], start);
    let friday = (start - Duration::days(4)).date_naive();
    let event_days: BTreeSet<_> = [friday].into();
    let baseline = SimilarDays {
        history: &history,
        event_days: &event_days,
        known_since: start - Duration::days(6),
        days: 3,
        tz: chrono_tz::UTC,
    };
    assert_eq!(baseline.method(), BaselineMethod::SimilarDays);
    assert_eq!(
        baseline.days_used(start),
        vec![
            start - Duration::days(1),
            start - Duration::days(5),
            start - Duration::days(6)
        ]
    );
    let estimate = baseline.estimate(&[start]);
    assert!(close(estimate[0].unwrap(), (4.0 + 6.0 + 0.0) / 3.0), "{estimate:?}");
    // A device known only since yesterday has one similar day; one known from today has none.
    let young = SimilarDays {
        known_since: start - Duration::hours(30),
        ..baseline.clone()
    };
    assert_eq!(young.estimate(&[start]), vec![Some(4.0)]);
    let new = SimilarDays {
        known_since: start,
        ..baseline
    };
    assert_eq!(new.estimate(&[start]), vec![None]);
}

#[test]
fn a_weekend_interval_is_compared_with_weekend_days_only() {
    let saturday = Utc.with_ymd_and_hms(2026, 3, 14, 12, 0, 0).unwrap();
    let history = history(&[(1, 9.0), (6, 3.0), (7, 5.0)], saturday);
    let none = BTreeSet::new();
    let baseline = SimilarDays {
        history: &history,
        event_days: &none,
        known_since: saturday - Duration::days(60),
        days: 2,
        tz: chrono_tz::UTC,
    };
    // Friday (back 1) is a weekday; Sunday and Saturday a week back are 6 and 7 days back.
    assert_eq!(baseline.estimate(&[saturday]), vec![Some(4.0)]);
}

#[test]
fn the_control_group_baseline_is_the_held_back_mean_scaled_to_the_treated_count() {
    let control = vec![vec![4.0, 0.0], vec![8.0, 2.0]];
    let baseline = ControlGroup {
        control: &control,
        treated: 3,
    };
    assert_eq!(baseline.method(), BaselineMethod::ControlGroup);
    assert_eq!(baseline.estimate(&[t(10, 0), t(10, 15)]), vec![Some(18.0), Some(3.0)]);
    let nobody: Vec<Vec<f64>> = Vec::new();
    let empty = ControlGroup {
        control: &nobody,
        treated: 3,
    };
    assert_eq!(empty.estimate(&[t(10, 0)]), vec![None]);
}

#[test]
fn the_control_group_is_a_reproducible_random_share_never_everyone() {
    let ids: Vec<String> = (0..100).map(|i| format!("enrolment-{i}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let held = control_group(7, &refs, 0.2);
    assert_eq!(held.len(), 20);
    assert_eq!(held, control_group(7, &refs, 0.2), "the same seed holds back the same");
    assert_ne!(held, control_group(8, &refs, 0.2), "another seed, another draw");
    assert_eq!(control_group(7, &refs[..2], 0.5).len(), 1);
    assert_eq!(
        control_group(7, &refs[..2], 0.01).len(),
        1,
        "a share above 0 holds back one at least"
    );
    assert_eq!(control_group(7, &refs[..3], 0.99).len(), 2, "never all");
    assert!(
        control_group(7, &refs[..1], 0.5).is_empty(),
        "one enrolment cannot be split"
    );
    assert!(control_group(7, &refs, 0.0).is_empty());
    assert!(control_group(7, &refs, f64::NAN).is_empty());
}

#[test]
fn a_shed_caps_at_the_baseline_less_the_shed_and_never_below_zero() {
    assert!(close(shed_cap_kw(11.0, 3.0), 8.0));
    assert!(close(shed_cap_kw(2.0, 3.0), 0.0));
}

#[test]
fn results_give_delivered_power_and_energy_per_interval_and_their_totals() {
    let starts = [t(10, 0), t(10, 15), t(10, 30)];
    let (rows, totals) = results(&starts, &[Some(8.0), Some(8.0), None], &[4.0, 10.0, 2.0]);
    assert_eq!(rows[0].delivered_kw, Some(4.0));
    assert_eq!(rows[0].delivered_kwh, Some(1.0));
    assert_eq!(
        rows[1].delivered_kw,
        Some(-2.0),
        "drawing above the baseline delivers less than nothing"
    );
    assert_eq!(rows[2].delivered_kw, None);
    assert_eq!(rows[2].end, t(10, 45));
    assert!(close(totals.baseline_kwh, 4.0) && close(totals.actual_kwh, 4.0) && close(totals.delivered_kwh, 0.5));
    assert!(close(totals.average_delivered_kw, 1.0));
    assert_eq!(totals.intervals_without_baseline, 1);
}

#[test]
fn metered_power_above_the_cap_and_its_tolerance_is_an_override() {
    let samples = [
        PowerSample { at: t(10, 1), kw: 11.0 },
        PowerSample { at: t(10, 5), kw: 4.4 },
        PowerSample { at: t(10, 10), kw: 6.0 },
        PowerSample { at: t(10, 20), kw: 7.0 },
    ];
    // Cap 5.5 kW: tolerance 0.55 kW. The first reading is before the window (the grace period).
    let found = first_override(&samples, None, t(10, 2), t(11, 0), |_| 5.5).unwrap();
    assert_eq!((found.at, found.power_kw, found.cap_kw), (t(10, 20), 7.0, 5.5));
    assert_eq!(first_override(&samples, None, t(10, 2), t(10, 20), |_| 5.5), None);
    // A pause (cap 0) tolerates half a kilowatt.
    assert!(close(override_tolerance_kw(0.0), 0.5));
}

#[test]
fn an_interval_whose_average_is_above_the_cap_is_an_override_for_a_meter_without_power_readings() {
    let mut series = IntervalSeries::new(t(10, 0), t(11, 0));
    series.add_register(&[reading(t(10, 0), 0.0), reading(t(10, 30), 1.0), reading(t(10, 45), 3.5)]);
    // 2 kW, 2 kW, then 10 kW from 10:30: above a 4 kW cap.
    let found = first_override(&[], Some(&series), t(10, 2), t(11, 0), |_| 4.0).unwrap();
    assert_eq!(found.at, t(10, 30));
    assert!(close(found.power_kw, 10.0));
    // An interval cut by the window's start is not judged whole.
    assert_eq!(first_override(&[], Some(&series), t(10, 32), t(11, 0), |_| 4.0), None);
}
