//! The rules of flexibility programs, each as a sentence.

use super::*;

fn at(minutes: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap() + Duration::minutes(minutes)
}

fn rules() -> EligibilityRules {
    EligibilityRules {
        device_kinds: vec![FlexDeviceKind::Charger, FlexDeviceKind::EvSystem],
        required_capabilities: vec![FlexCapability::SmartChargingProfiles],
        service_area: vec![AreaCircle {
            latitude: 59.91,
            longitude: 10.75,
            radius_km: 30.0,
        }],
    }
}

fn oslo() -> Option<Point> {
    Some(Point {
        latitude: 59.95,
        longitude: 10.80,
    })
}

fn program(kind: ProgramKind) -> Program {
    Program {
        id: ProgramId::new("p"),
        client_id: ClientId::new("c"),
        name: "Peak".into(),
        kind,
        eligibility: rules(),
        limits: ProgramLimits {
            max_events_per_year: Some(10),
            max_event_minutes: 180,
            min_notice_minutes: 60,
        },
        incentive: serde_json::Value::Null,
        created_at: at(0),
        updated_at: at(0),
    }
}

fn request(start: i64, minutes: u32) -> EventRequest {
    EventRequest {
        kind: EventKind::ImportLimit,
        value: Some(3.7),
        unit: Some(LimitUnit::Kilowatts),
        start: at(start),
        duration_minutes: minutes,
        max_random_delay_s: 300,
    }
}

fn codes(verdict: &Verdict) -> Vec<ReasonCode> {
    verdict.reasons().iter().map(|r| r.code).collect()
}

#[test]
fn a_smart_charger_in_the_service_area_is_eligible() {
    let facts = DeviceFacts {
        smart_charging_profiles: Some(true),
        position: oslo(),
        ..DeviceFacts::default()
    };
    assert_eq!(
        check_eligibility(&rules(), FlexDeviceKind::Charger, &facts, false),
        Verdict::Eligible
    );
}

#[test]
fn every_reason_against_a_device_is_given() {
    let facts = DeviceFacts {
        smart_charging_profiles: Some(false),
        position: Some(Point {
            latitude: 48.1,
            longitude: 11.6,
        }),
        ..DeviceFacts::default()
    };
    let verdict = check_eligibility(&rules(), FlexDeviceKind::Vehicle, &facts, true);
    assert_eq!(
        codes(&verdict),
        vec![
            ReasonCode::AlreadyEnrolled,
            ReasonCode::DeviceKindNotEligible,
            ReasonCode::CapabilityMissing,
            ReasonCode::OutsideServiceArea
        ]
    );
    assert!(matches!(verdict, Verdict::Ineligible(_)));
}

#[test]
fn a_device_without_a_known_place_is_not_eligible_for_an_area_bound_program() {
    let facts = DeviceFacts {
        smart_charging_profiles: Some(true),
        ..DeviceFacts::default()
    };
    let verdict = check_eligibility(&rules(), FlexDeviceKind::Charger, &facts, false);
    assert_eq!(codes(&verdict), vec![ReasonCode::LocationUnknown]);
    let anywhere = EligibilityRules {
        service_area: Vec::new(),
        ..rules()
    };
    assert_eq!(
        check_eligibility(&anywhere, FlexDeviceKind::Charger, &facts, false),
        Verdict::Eligible
    );
}

#[test]
fn a_charger_that_has_not_said_what_it_takes_is_undecided() {
    let facts = DeviceFacts {
        position: oslo(),
        ..DeviceFacts::default()
    };
    let verdict = check_eligibility(&rules(), FlexDeviceKind::Charger, &facts, false);
    assert_eq!(codes(&verdict), vec![ReasonCode::CapabilityUnknown]);
    assert!(matches!(verdict, Verdict::Undecided(_)));
}

fn state(status: EnrolmentStatus) -> EnrolmentState {
    EnrolmentState { status, reason: None }
}

fn missing() -> Verdict {
    Verdict::Ineligible(vec![Reason {
        code: ReasonCode::CapabilityMissing,
        detail: "the device lacks SMART_CHARGING_PROFILES".into(),
    }])
}

fn unknown() -> Verdict {
    Verdict::Undecided(vec![Reason {
        code: ReasonCode::CapabilityUnknown,
        detail: "not said".into(),
    }])
}

#[test]
fn a_new_enrolment_is_active_when_eligible_and_pending_while_undecided() {
    assert_eq!(
        EnrolmentState::enrolled(&Verdict::Eligible).status,
        EnrolmentStatus::Active
    );
    let pending = EnrolmentState::enrolled(&unknown());
    assert_eq!(pending.status, EnrolmentStatus::Pending);
    assert_eq!(pending.reason.as_deref(), Some("not said"));
}

#[test]
fn a_pending_enrolment_becomes_active_or_rejected_when_its_device_is_known() {
    let pending = state(EnrolmentStatus::Pending);
    let active = pending.apply(EnrolmentChange::Checked(Verdict::Eligible)).unwrap();
    assert_eq!(active.status, EnrolmentStatus::Active);
    let rejected = pending.apply(EnrolmentChange::Checked(missing())).unwrap();
    assert_eq!(rejected.status, EnrolmentStatus::Rejected);
    assert!(rejected.reason.unwrap().contains("SMART_CHARGING_PROFILES"));
}

#[test]
fn an_active_enrolment_that_stops_qualifying_needs_action_and_recovers() {
    let needs = state(EnrolmentStatus::Active)
        .apply(EnrolmentChange::Checked(missing()))
        .unwrap();
    assert_eq!(needs.status, EnrolmentStatus::NeedsAction);
    assert!(needs.reason.is_some());
    assert_eq!(
        needs.apply(EnrolmentChange::Checked(unknown())).unwrap().status,
        EnrolmentStatus::NeedsAction
    );
    let back = needs.apply(EnrolmentChange::Checked(Verdict::Eligible)).unwrap();
    assert_eq!(back, state(EnrolmentStatus::Active));
    assert_eq!(
        state(EnrolmentStatus::Active)
            .apply(EnrolmentChange::Checked(unknown()))
            .unwrap(),
        state(EnrolmentStatus::Active)
    );
}

#[test]
fn a_paused_enrolment_ignores_checks_and_resumes_through_a_check() {
    let paused = state(EnrolmentStatus::Active).apply(EnrolmentChange::Pause).unwrap();
    assert_eq!(paused.status, EnrolmentStatus::Paused);
    assert_eq!(
        paused.apply(EnrolmentChange::Checked(Verdict::Eligible)).unwrap(),
        paused
    );
    assert_eq!(paused.apply(EnrolmentChange::Pause).unwrap(), paused);
    let resumed = paused.apply(EnrolmentChange::Resume).unwrap();
    assert_eq!(resumed.status, EnrolmentStatus::Pending);
    assert_eq!(
        resumed
            .apply(EnrolmentChange::Checked(Verdict::Eligible))
            .unwrap()
            .status,
        EnrolmentStatus::Active
    );
}

#[test]
fn an_ended_enrolment_cannot_change() {
    for status in [EnrolmentStatus::Unenrolled, EnrolmentStatus::Rejected] {
        for change in [
            EnrolmentChange::Unenrol,
            EnrolmentChange::Pause,
            EnrolmentChange::Resume,
            EnrolmentChange::Checked(Verdict::Eligible),
        ] {
            assert_eq!(state(status).apply(change), Err(TransitionError::Ended(status)));
        }
    }
    assert_eq!(
        state(EnrolmentStatus::NeedsAction)
            .apply(EnrolmentChange::Unenrol)
            .unwrap()
            .status,
        EnrolmentStatus::Unenrolled
    );
}

#[test]
fn an_event_within_the_programs_limits_is_accepted() {
    assert_eq!(
        check_event(&program(ProgramKind::CapacityLimit), &request(60, 120), at(0), 9),
        Ok(())
    );
}

fn pointers(refusals: Vec<EventRefusal>) -> Vec<String> {
    refusals
        .into_iter()
        .map(|r| match r {
            EventRefusal::Field(p) => p.pointer,
            EventRefusal::NotYet(_) => "not yet".to_owned(),
        })
        .collect()
}

#[test]
fn an_event_outside_the_programs_limits_is_refused_naming_each_value() {
    let program = program(ProgramKind::CapacityLimit);
    let short_notice_and_long = check_event(&program, &request(30, 240), at(0), 0).unwrap_err();
    assert_eq!(pointers(short_notice_and_long), vec!["/durationMinutes", "/start"]);
    let ended = check_event(&program, &request(-120, 60), at(0), 0).unwrap_err();
    assert_eq!(pointers(ended), vec!["/start"]);
    let at_once = Program {
        limits: ProgramLimits {
            min_notice_minutes: 0,
            ..program.limits
        },
        ..program.clone()
    };
    assert_eq!(
        check_event(&at_once, &request(-1, 60), at(0), 0),
        Ok(()),
        "without a notice, an event may start at once"
    );
    let year_full = check_event(&program, &request(60, 60), at(0), 10).unwrap_err();
    assert_eq!(pointers(year_full), vec!["/start"]);
    let pause = EventRequest {
        kind: EventKind::Pause,
        value: None,
        unit: None,
        ..request(60, 60)
    };
    assert_eq!(
        pointers(check_event(&program, &pause, at(0), 0).unwrap_err()),
        vec!["/kind"]
    );
    let no_value = EventRequest {
        value: None,
        ..request(60, 60)
    };
    assert_eq!(
        pointers(check_event(&program, &no_value, at(0), 0).unwrap_err()),
        vec!["/value"]
    );
    let delay_too_long = EventRequest {
        max_random_delay_s: 3600,
        ..request(60, 60)
    };
    assert_eq!(
        pointers(check_event(&program, &delay_too_long, at(0), 0).unwrap_err()),
        vec!["/maxRandomDelaySeconds"]
    );
}

#[test]
fn a_shed_event_needs_a_positive_shed_in_kilowatts() {
    let shed = |value: Option<f64>, unit: Option<LimitUnit>| EventRequest {
        kind: EventKind::Shed,
        value,
        unit,
        ..request(60, 60)
    };
    let program = program(ProgramKind::Shed);
    assert_eq!(
        check_event(&program, &shed(Some(3.0), Some(LimitUnit::Kilowatts)), at(0), 0),
        Ok(())
    );
    for (value, unit, pointer) in [
        (None, None, "/value"),
        (Some(0.0), Some(LimitUnit::Kilowatts), "/value"),
        (Some(f64::NAN), Some(LimitUnit::Kilowatts), "/value"),
        (Some(3.0), Some(LimitUnit::Amperes), "/unit"),
        (Some(3.0), None, "/unit"),
    ] {
        assert_eq!(
            pointers(check_event(&program, &shed(value, unit), at(0), 0).unwrap_err()),
            vec![pointer],
            "{value:?} {unit:?}"
        );
    }
}

#[test]
fn each_targets_delay_is_reproducible_and_within_the_maximum() {
    let delays: Vec<u32> = (0..200).map(|i| start_delay_s(42, &format!("e-{i}"), 600)).collect();
    assert!(delays.iter().all(|d| *d <= 600));
    let again: Vec<u32> = (0..200).map(|i| start_delay_s(42, &format!("e-{i}"), 600)).collect();
    assert_eq!(delays, again, "the same seed draws the same delays");
    let other: Vec<u32> = (0..200).map(|i| start_delay_s(43, &format!("e-{i}"), 600)).collect();
    assert_ne!(delays, other, "another seed draws others");
    let spread = delays.iter().filter(|d| **d > 300).count();
    assert!((60..140).contains(&spread), "about half above the middle: {spread}");
    assert_eq!(start_delay_s(42, "e-1", 0), 0);
}

#[test]
fn an_import_limit_in_kilowatts_becomes_amperes_per_phase_rounded_down() {
    assert_eq!(import_limit_amps(11.04, LimitUnit::Kilowatts, 230.0, 3), 16.0);
    assert_eq!(import_limit_amps(3.7, LimitUnit::Kilowatts, 230.0, 3), 5.3);
    assert_eq!(import_limit_amps(10.0, LimitUnit::Amperes, 230.0, 3), 10.0);
}

#[test]
fn a_group_holds_its_listed_enrolments_and_those_its_filter_matches() {
    let enrolment = |id: &str, user: &str, kind| Enrolment {
        id: EnrolmentId::new(id),
        client_id: ClientId::new("c"),
        program_id: ProgramId::new("p"),
        user_id: UserId::parse(user).unwrap(),
        device: EnrolledDevice {
            kind,
            id: format!("d-{id}"),
        },
        state: state(EnrolmentStatus::Active),
        consent: Consent {
            data_shared: Vec::new(),
            how_to_leave: String::new(),
            given_at: at(0),
        },
        created_at: at(0),
        updated_at: at(0),
    };
    let all = [
        enrolment("a", "ann", FlexDeviceKind::Charger),
        enrolment("b", "bob", FlexDeviceKind::Vehicle),
        enrolment("c", "cat", FlexDeviceKind::Charger),
    ];
    let group = Group {
        id: GroupId::new("g"),
        client_id: ClientId::new("c"),
        program_id: ProgramId::new("p"),
        name: "street".into(),
        enrolment_ids: vec![EnrolmentId::new("b")],
        filter: GroupFilter {
            device_kinds: vec![FlexDeviceKind::Charger],
            user_ids: vec!["cat".into()],
        },
        created_at: at(0),
    };
    let ids: Vec<&str> = group.members(&all).iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, vec!["b", "c"]);
}

#[test]
fn an_event_is_scheduled_active_completed_or_cancelled() {
    let event = FlexEvent {
        control_group_share: 0.0,
        id: FlexEventId::new("e"),
        client_id: ClientId::new("c"),
        program_id: ProgramId::new("p"),
        kind: EventKind::Pause,
        value: None,
        unit: None,
        limit_a: 0.0,
        start: at(10),
        end: at(70),
        max_random_delay_s: 0,
        random_seed: 1,
        targets: EventTargets {
            program: true,
            group_ids: Vec::new(),
            enrolment_ids: Vec::new(),
        },
        cancelled_at: None,
        created_at: at(0),
        updated_at: at(0),
    };
    assert_eq!(event.status(at(0)), EventStatus::Scheduled);
    assert_eq!(event.status(at(10)), EventStatus::Active);
    assert_eq!(event.status(at(70)), EventStatus::Completed);
    assert_eq!(event.target_start(600), at(20));
    assert_eq!(
        event.target_start(10_000),
        at(70) - Duration::seconds(1),
        "never after the end"
    );
    let cancelled = FlexEvent {
        cancelled_at: Some(at(5)),
        ..event
    };
    assert_eq!(cancelled.status(at(20)), EventStatus::Cancelled);
}
