//! The console's pages. Each reads through the REST API's own handlers, called as the session's
//! client, so a page shows exactly what that client's API calls would answer (and another client's
//! id is the API's 404).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use coupler_api::error::ApiError;
use coupler_api::extract::{ApiJson, ApiPath, ApiQuery};
use coupler_api::routes::{
    actions, chargers, ev_systems, flex, intervals, limits, operations, smart, users, vehicles, webhooks,
};
use coupler_core::charger::ChargerId;
use coupler_core::event::{Event, EventType};
use coupler_core::flex::FlexEventId;
use coupler_core::VehicleId;
use serde::Deserialize;

use crate::view::{render, Chart, Nav, PageResult, Series};
use crate::{live, Console, Session};

/// How many rows a list page shows.
const PAGE_SIZE: u32 = 50;

/// The answer of an API handler, or the page error it becomes.
fn answer<T>(result: Result<ApiJson<T>, ApiError>) -> Result<T, ApiError> {
    result.map(|ApiJson(body)| body)
}

/// `None` for the API's 404 (nothing made yet), the value otherwise.
fn optional<T>(result: Result<T, ApiError>) -> Result<Option<T>, ApiError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.status() == StatusCode::NOT_FOUND => Ok(None),
        Err(e) => Err(e),
    }
}

/// Where a list page stands: the cursor of the page asked for.
#[derive(Debug, Default, Deserialize)]
pub struct Paging {
    after: Option<String>,
    before: Option<String>,
}

impl Paging {
    fn query(&self) -> users::PageQuery {
        users::PageQuery {
            page_size: Some(PAGE_SIZE),
            after: self.after.clone(),
            before: self.before.clone(),
        }
    }
}

/// Links to the neighbouring pages of a list.
#[derive(Debug, Default)]
pub struct Pager {
    /// The older page's URL.
    pub older: Option<String>,
    /// The newer page's URL.
    pub newer: Option<String>,
}

impl Pager {
    fn of(base: &str, pagination: &users::Pagination) -> Self {
        let link = |name: &str, cursor: &Option<String>| {
            cursor.as_ref().map(|c| {
                let query: String = form_urlencoded::Serializer::new(String::new())
                    .append_pair(name, c)
                    .finish();
                format!("{base}?{query}")
            })
        };
        Self {
            older: link("after", &pagination.after),
            newer: link("before", &pagination.before),
        }
    }
}

/// `GET /console`: on to the chargers.
pub async fn home(_session: Session) -> axum::response::Response {
    coupler_api::routes::pages::see_other("/console/chargers", None)
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    nav: Nav,
    users: Vec<users::UserResponse>,
    pager: Pager,
}

/// `GET /console/users`: the client's users and the accounts each has linked.
pub async fn users(session: Session, State(console): State<Console>, Query(paging): Query<Paging>) -> PageResult {
    let page = answer(users::list_users(session.caller(), State(console.app.clone()), ApiQuery(paging.query())).await)?;
    Ok(render(
        StatusCode::OK,
        &UsersPage {
            nav: session.nav("/console/users"),
            pager: Pager::of("/console/users", &page.pagination),
            users: page.data,
        },
    ))
}

#[derive(Template)]
#[template(path = "chargers.html")]
struct ChargersPage {
    nav: Nav,
    chargers: Vec<chargers::ChargerResponse>,
    pager: Pager,
}

/// `GET /console/chargers`: every charger with its live status.
pub async fn chargers(session: Session, State(console): State<Console>, Query(paging): Query<Paging>) -> PageResult {
    let page =
        answer(chargers::list_chargers(session.caller(), State(console.app.clone()), ApiQuery(paging.query())).await)?;
    Ok(render(
        StatusCode::OK,
        &ChargersPage {
            nav: session.nav("/console/chargers"),
            pager: Pager::of("/console/chargers", &page.pagination),
            chargers: page.data,
        },
    ))
}

#[derive(Template)]
#[template(path = "charger.html")]
struct ChargerPage {
    nav: Nav,
    charger: chargers::ChargerResponse,
    sessions: Vec<chargers::SessionResponse>,
    latest: Option<LiveChart>,
    limits: Option<limits::ChargerLimitsResponse>,
    composite: Chart,
    plan: Option<(smart::SmartChargingPlanResponse, Chart)>,
    operations: Vec<operations::OperationResponse>,
    reset_kinds: Vec<&'static str>,
}

/// `GET /console/chargers/{id}`: a charger, its connectors, sessions (the latest with its chart),
/// the limits in force and the composite schedule, its smart-charging plan, its operations, and
/// the buttons to operate it.
pub async fn charger(session: Session, State(console): State<Console>, Path(id): Path<String>) -> PageResult {
    let app = &console.app;
    let caller = session.caller();
    let charger = answer(chargers::get_charger(caller.clone(), State(app.clone()), ApiPath(id.clone())).await)?;
    let sessions = answer(
        chargers::list_sessions(
            caller.clone(),
            State(app.clone()),
            ApiPath(id.clone()),
            ApiQuery(users::PageQuery {
                page_size: Some(20),
                after: None,
                before: None,
            }),
        )
        .await,
    )?
    .data;
    let latest = match sessions.first() {
        Some(s) => Some(LiveChart {
            chart: live::session_chart_of(&console, &session, &id, s.id).await?,
            caption: format!("Session {}: power (kW) and energy (kWh)", s.id),
            source: session_chart_url(&id, s.id),
        }),
        None => None,
    };
    let limits = optional(answer(
        limits::get_charger_limits(caller.clone(), State(app.clone()), ApiPath(id.clone())).await,
    ))?;
    let composite = limits
        .as_ref()
        .map(|l| composite_chart(&l.composite))
        .unwrap_or_else(|| empty_chart("A"));
    let plan = optional(answer(
        smart::get_charger_smart_charging_plan(caller.clone(), State(app.clone()), ApiPath(id.clone())).await,
    ))?;
    let plan = match plan {
        Some(plan) => {
            let actual = charger_power(&console, &session, &id, &plan).await?;
            let chart = plan_chart(&plan, actual);
            Some((plan, chart))
        }
        None => None,
    };
    let operations = answer(
        operations::list_operations(
            caller,
            State(app.clone()),
            ApiPath(id.clone()),
            ApiQuery(users::PageQuery {
                page_size: Some(20),
                after: None,
                before: None,
            }),
        )
        .await,
    )?
    .data;
    let reset_kinds = match charger.information.ocpp_version.as_deref() {
        Some("2.0.1") => vec!["Immediate", "OnIdle"],
        _ => vec!["Soft", "Hard"],
    };
    Ok(render(
        StatusCode::OK,
        &ChargerPage {
            nav: session.nav("/console/chargers"),
            charger,
            sessions,
            latest,
            limits,
            composite,
            plan,
            operations,
            reset_kinds,
        },
    ))
}

/// A chart the page's script draws again, from `source`, when its charger reports.
#[derive(Debug)]
pub struct LiveChart {
    /// What it shows now.
    pub chart: Chart,
    /// Its caption.
    pub caption: String,
    /// Where its data is fetched again.
    pub source: String,
}

/// Where a session's chart data is.
fn session_chart_url(charger: &str, session: i64) -> String {
    format!("/console/chargers/{}/sessions/{session}/chart", path_segment(charger))
}

/// A path segment, percent-encoded.
pub(crate) fn path_segment(segment: &str) -> String {
    form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}

#[derive(Template)]
#[template(path = "session.html")]
struct SessionPage {
    nav: Nav,
    charger_id: String,
    session_id: i64,
    source: String,
    chart: Chart,
}

/// `GET /console/chargers/{id}/sessions/{session}`: one session's power and energy over time,
/// drawn again as the charger reports.
pub async fn session(
    session: Session,
    State(console): State<Console>,
    Path((id, session_id)): Path<(String, i64)>,
) -> PageResult {
    let chart = live::session_chart_of(&console, &session, &id, session_id).await?;
    Ok(render(
        StatusCode::OK,
        &SessionPage {
            nav: session.nav("/console/chargers"),
            source: session_chart_url(&id, session_id),
            charger_id: id,
            session_id,
            chart,
        },
    ))
}

#[derive(Template)]
#[template(path = "vehicles.html")]
struct VehiclesPage {
    nav: Nav,
    vehicles: Vec<vehicles::VehicleResponse>,
    pager: Pager,
}

/// `GET /console/vehicles`: every linked vehicle with its charge state.
pub async fn vehicles(session: Session, State(console): State<Console>, Query(paging): Query<Paging>) -> PageResult {
    let page =
        answer(vehicles::list_vehicles(session.caller(), State(console.app.clone()), ApiQuery(paging.query())).await)?;
    Ok(render(
        StatusCode::OK,
        &VehiclesPage {
            nav: session.nav("/console/vehicles"),
            pager: Pager::of("/console/vehicles", &page.pagination),
            vehicles: page.data,
        },
    ))
}

#[derive(Template)]
#[template(path = "vehicle.html")]
struct VehiclePage {
    nav: Nav,
    vehicle: vehicles::VehicleResponse,
    soc: Chart,
    plan: Option<(smart::SmartChargingPlanResponse, Chart)>,
}

/// `GET /console/vehicles/{id}`: a vehicle, its state of charge over the last two days, and its
/// smart-charging plan.
pub async fn vehicle(session: Session, State(console): State<Console>, Path(id): Path<String>) -> PageResult {
    let app = &console.app;
    let caller = session.caller();
    // The API's GET decides whether the client has this vehicle; only then are its readings read.
    let vehicle = answer(vehicles::get_vehicle(caller.clone(), State(app.clone()), ApiPath(id.clone())).await)?;
    let now = app.now();
    let readings = app
        .store
        .vehicle_readings(&VehicleId::new(vehicle.id.as_str()), now - Duration::hours(48), now)
        .await
        .map_err(ApiError::from)?;
    let soc = Chart {
        x: readings.iter().map(|r| r.at.timestamp()).collect(),
        series: vec![
            Series {
                label: "State of charge (%)".to_owned(),
                axis: 0,
                step: false,
                values: readings.iter().map(|r| r.battery_level).collect(),
            },
            Series {
                label: "Charging power (kW)".to_owned(),
                axis: 1,
                step: true,
                values: readings.iter().map(|r| r.charge_rate_kw).collect(),
            },
        ],
        left: "%".to_owned(),
        right: Some("kW".to_owned()),
    };
    let plan = optional(answer(
        smart::get_vehicle_smart_charging_plan(caller, State(app.clone()), ApiPath(id.clone())).await,
    ))?;
    let plan = plan.map(|plan| {
        let actual: Vec<(i64, Option<f64>)> = readings.iter().map(|r| (r.at.timestamp(), r.charge_rate_kw)).collect();
        let chart = plan_chart(&plan, actual);
        (plan, chart)
    });
    Ok(render(
        StatusCode::OK,
        &VehiclePage {
            nav: session.nav("/console/vehicles"),
            vehicle,
            soc,
            plan,
        },
    ))
}

#[derive(Template)]
#[template(path = "ev_systems.html")]
struct EvSystemsPage {
    nav: Nav,
    systems: Vec<ev_systems::EvSystemResponse>,
    pager: Pager,
}

/// `GET /console/ev-systems`: the EV systems (a vehicle paired with a charger) of a page of users,
/// as the API lists them per user.
pub async fn ev_systems(session: Session, State(console): State<Console>, Query(paging): Query<Paging>) -> PageResult {
    let app = &console.app;
    let users = answer(users::list_users(session.caller(), State(app.clone()), ApiQuery(paging.query())).await)?;
    let mut systems = Vec::new();
    for user in &users.data {
        let mut after = None;
        loop {
            let page = answer(
                ev_systems::list_ev_systems(
                    session.caller(),
                    State(app.clone()),
                    ApiPath(user.id.clone()),
                    ApiQuery(users::PageQuery {
                        page_size: Some(200),
                        after: after.take(),
                        before: None,
                    }),
                )
                .await,
            )?;
            systems.extend(page.data);
            match page.pagination.after {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    Ok(render(
        StatusCode::OK,
        &EvSystemsPage {
            nav: session.nav("/console/ev-systems"),
            pager: Pager::of("/console/ev-systems", &users.pagination),
            systems,
        },
    ))
}

/// One moment in an EV system's life.
#[derive(Debug)]
pub struct Moment {
    /// When.
    pub at: DateTime<Utc>,
    /// What happened.
    pub what: String,
}

#[derive(Template)]
#[template(path = "ev_system.html")]
struct EvSystemPage {
    nav: Nav,
    system: ev_systems::EvSystemResponse,
    timeline: Vec<Moment>,
    limits: Option<limits::EvSystemLimitsResponse>,
    plan: Option<(smart::SmartChargingPlanResponse, Chart)>,
}

/// `GET /console/ev-systems/{id}`: a pairing, the evidence it rests on and its timeline, the
/// limits in force and its plan.
pub async fn ev_system(session: Session, State(console): State<Console>, Path(id): Path<String>) -> PageResult {
    let app = &console.app;
    let caller = session.caller();
    let system = answer(ev_systems::get_ev_system(caller.clone(), State(app.clone()), ApiPath(id.clone())).await)?;
    // The system's own history: every event published about it, as far as retention kept it.
    let events = app
        .store
        .asset_events(&session.client_id, &system.id, TIMELINE_EVENTS)
        .await
        .map_err(ApiError::from)?;
    let mut timeline: Vec<Moment> = if events.is_empty() {
        timestamps_timeline(&system)
    } else {
        events.iter().rev().map(moment_of).collect()
    };
    // Plugging in and out is the charger's: its events since the pairing, where it changed.
    let charger_events = app
        .store
        .asset_events(&session.client_id, &system.charger_id, TIMELINE_CHARGER_EVENTS)
        .await
        .map_err(ApiError::from)?;
    timeline.extend(plug_moments(&charger_events, system.created_at));
    timeline.sort_by_key(|m| m.at);
    let limits = optional(answer(
        limits::get_ev_system_limits(caller.clone(), State(app.clone()), ApiPath(id.clone())).await,
    ))?;
    let plan = optional(answer(
        smart::get_ev_system_smart_charging_plan(caller, State(app.clone()), ApiPath(id.clone())).await,
    ))?;
    let plan = match plan {
        Some(plan) => {
            let actual = charger_power(&console, &session, &system.charger_id, &plan).await?;
            let chart = plan_chart(&plan, actual);
            Some((plan, chart))
        }
        None => None,
    };
    Ok(render(
        StatusCode::OK,
        &EvSystemPage {
            nav: session.nav("/console/ev-systems"),
            system,
            timeline,
            limits,
            plan,
        },
    ))
}

#[derive(Template)]
#[template(path = "actions.html")]
struct ActionsPage {
    nav: Nav,
    actions: Vec<actions::ActionResponse>,
}

/// `GET /console/actions`: the latest actions, with their state live.
pub async fn actions(session: Session, State(console): State<Console>) -> PageResult {
    let actions = console
        .app
        .store
        .recent_actions(&session.client_id, 100)
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .map(actions::ActionResponse::from)
        .collect();
    Ok(render(
        StatusCode::OK,
        &ActionsPage {
            nav: session.nav("/console/actions"),
            actions,
        },
    ))
}

#[derive(Template)]
#[template(path = "action.html")]
struct ActionPage {
    nav: Nav,
    action: actions::ActionResponse,
}

/// `GET /console/actions/{id}`: an action and every attempt at it.
pub async fn action(session: Session, State(console): State<Console>, Path(id): Path<String>) -> PageResult {
    let action = answer(actions::get_action(session.caller(), State(console.app.clone()), ApiPath(id)).await)?;
    Ok(render(
        StatusCode::OK,
        &ActionPage {
            nav: session.nav("/console/actions"),
            action,
        },
    ))
}

#[derive(Template)]
#[template(path = "webhooks.html")]
struct WebhooksPage {
    nav: Nav,
    webhooks: Vec<webhooks::WebhookResponse>,
}

/// `GET /console/webhooks`: the client's webhooks.
pub async fn webhooks(session: Session, State(console): State<Console>) -> PageResult {
    let list = answer(webhooks::list_webhooks(session.caller(), State(console.app.clone())).await)?;
    Ok(render(
        StatusCode::OK,
        &WebhooksPage {
            nav: session.nav("/console/webhooks"),
            webhooks: list.data,
        },
    ))
}

#[derive(Template)]
#[template(path = "webhook.html")]
struct WebhookPage {
    nav: Nav,
    webhook: webhooks::WebhookResponse,
    deliveries: Vec<webhooks::DeliveryResponse>,
}

/// `GET /console/webhooks/{id}`: a webhook, its deliveries, and a retry button on each delivery that
/// can be sent again.
pub async fn webhook(session: Session, State(console): State<Console>, Path(id): Path<String>) -> PageResult {
    let app = &console.app;
    let webhook = answer(webhooks::get_webhook(session.caller(), State(app.clone()), ApiPath(id.clone())).await)?;
    let deliveries = answer(
        webhooks::list_deliveries(
            session.caller(),
            State(app.clone()),
            ApiPath(id),
            ApiQuery(webhooks::DeliveryQuery { page_size: Some(100) }),
        )
        .await,
    )?
    .data;
    Ok(render(
        StatusCode::OK,
        &WebhookPage {
            nav: session.nav("/console/webhooks"),
            webhook,
            deliveries,
        },
    ))
}

#[derive(Template)]
#[template(path = "flex.html")]
struct FlexPage {
    nav: Nav,
    programs: Vec<flex::ProgramResponse>,
    pager: Pager,
}

/// `GET /console/flex`: the client's flexibility programs.
pub async fn flex(session: Session, State(console): State<Console>, Query(paging): Query<Paging>) -> PageResult {
    let page =
        answer(flex::list_programs(session.caller(), State(console.app.clone()), ApiQuery(paging.query())).await)?;
    Ok(render(
        StatusCode::OK,
        &FlexPage {
            nav: session.nav("/console/flex"),
            pager: Pager::of("/console/flex", &page.pagination),
            programs: page.data,
        },
    ))
}

#[derive(Template)]
#[template(path = "program.html")]
struct ProgramPage {
    nav: Nav,
    program: flex::ProgramResponse,
    enrolments: Vec<flex::EnrolmentResponse>,
    events: Vec<flex::FlexEventResponse>,
}

/// `GET /console/flex/programs/{id}`: a program, its enrolments and its events.
pub async fn program(session: Session, State(console): State<Console>, Path(id): Path<String>) -> PageResult {
    let app = &console.app;
    let caller = session.caller();
    let program = answer(flex::get_program(caller.clone(), State(app.clone()), ApiPath(id.clone())).await)?;
    let first_page = || users::PageQuery {
        page_size: Some(100),
        after: None,
        before: None,
    };
    let enrolments = answer(
        flex::list_program_enrolments(
            caller.clone(),
            State(app.clone()),
            ApiPath(id.clone()),
            ApiQuery(first_page()),
        )
        .await,
    )?
    .data;
    let events = answer(flex::list_events(caller, State(app.clone()), ApiPath(id), ApiQuery(first_page())).await)?.data;
    Ok(render(
        StatusCode::OK,
        &ProgramPage {
            nav: session.nav("/console/flex"),
            program,
            enrolments,
            events,
        },
    ))
}

#[derive(Template)]
#[template(path = "flex_event.html")]
struct FlexEventPage {
    nav: Nav,
    results: flex::EventResults,
    chart: Chart,
}

/// `GET /console/flex/events/{id}`: an event's measured results: baseline against actual power per
/// 15 minutes, and each enrolment's part.
pub async fn flex_event(session: Session, State(console): State<Console>, Path(id): Path<String>) -> PageResult {
    let app = &console.app;
    let caller = session.caller();
    let event = app
        .store
        .get_flex_event(&caller.client_id, &FlexEventId::new(id.as_str()))
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::not_found(format!("no event '{id}'")))?;
    let results = flex::event_results(app, &caller, event, None).await?;
    let chart = Chart {
        x: results.intervals.iter().map(|i| i.start.timestamp()).collect(),
        series: vec![
            Series {
                label: "Baseline (kW)".to_owned(),
                axis: 0,
                step: true,
                values: results.intervals.iter().map(|i| i.baseline_kw).collect(),
            },
            Series {
                label: "Actual (kW)".to_owned(),
                axis: 0,
                step: true,
                values: results.intervals.iter().map(|i| Some(i.actual_kw)).collect(),
            },
        ],
        left: "kW".to_owned(),
        right: None,
    };
    Ok(render(
        StatusCode::OK,
        &FlexEventPage {
            nav: session.nav("/console/flex"),
            results,
            chart,
        },
    ))
}

/// A chart with no points, whose axis is `unit`.
fn empty_chart(unit: &str) -> Chart {
    Chart {
        x: Vec::new(),
        series: Vec::new(),
        left: unit.to_owned(),
        right: None,
    }
}

/// The composite limit over time, a step line in amperes.
fn composite_chart(composite: &limits::CompositeBody) -> Chart {
    Chart {
        x: composite.timeline.iter().map(|s| s.at.timestamp()).collect(),
        series: vec![Series {
            label: "Composite limit (A)".to_owned(),
            axis: 0,
            step: true,
            values: composite.timeline.iter().map(|s| s.max_current).collect(),
        }],
        left: "A".to_owned(),
        right: None,
    }
}

/// A plan as a chart: planned power per slot and the power actually drawn (kW, left axis), and the
/// price (right axis).
fn plan_chart(plan: &smart::SmartChargingPlanResponse, actual: Vec<(i64, Option<f64>)>) -> Chart {
    let mut x: Vec<i64> = plan.slots.iter().map(|s| s.start.timestamp()).collect();
    x.extend(actual.iter().map(|(at, _)| *at));
    x.sort_unstable();
    x.dedup();
    let slot_at = |t: i64| {
        plan.slots
            .iter()
            .find(|s| s.start.timestamp() <= t && t < s.end.timestamp())
    };
    let planned = x.iter().map(|t| slot_at(*t).map(|s| s.power)).collect();
    let price = x.iter().map(|t| slot_at(*t).and_then(|s| s.price)).collect();
    let drawn = x
        .iter()
        .map(|t| actual.iter().find(|(at, _)| at == t).and_then(|(_, v)| *v))
        .collect();
    Chart {
        x,
        series: vec![
            Series {
                label: "Planned power (kW)".to_owned(),
                axis: 0,
                step: true,
                values: planned,
            },
            Series {
                label: "Actual power (kW)".to_owned(),
                axis: 0,
                step: true,
                values: drawn,
            },
            Series {
                label: "Price".to_owned(),
                axis: 1,
                step: true,
                values: price,
            },
        ],
        left: "kW".to_owned(),
        right: Some("price".to_owned()),
    }
}

/// The charger's average power per 15 minutes over the plan's span, from its meter (the API's
/// intervals).
async fn charger_power(
    console: &Console,
    session: &Session,
    charger: &str,
    plan: &smart::SmartChargingPlanResponse,
) -> Result<Vec<(i64, Option<f64>)>, ApiError> {
    let (Some(first), Some(last)) = (plan.slots.first(), plan.slots.last()) else {
        return Ok(Vec::new());
    };
    let to = last.end.min(console.app.now());
    if to <= first.start {
        return Ok(Vec::new());
    }
    let series = answer(
        intervals::charger_intervals(
            session.caller(),
            State(console.app.clone()),
            ApiPath(ChargerId::new(charger).as_str().to_owned()),
            ApiQuery(intervals::IntervalQuery { from: first.start, to }),
        )
        .await,
    )?;
    Ok(series
        .intervals
        .iter()
        .map(|i| (i.start.timestamp(), (i.coverage > 0.0).then_some(i.average_power_kw)))
        .collect())
}

/// How many of an EV system's events its timeline shows (the newest).
const TIMELINE_EVENTS: u32 = 200;

/// How many of its charger's latest events an EV system's timeline looks through for plugging in
/// and out.
const TIMELINE_CHARGER_EVENTS: u32 = 500;

/// The moments since `since` when the charger's events (newest first) show a cable plugged in or
/// pulled out.
fn plug_moments(newest_first: &[Event], since: DateTime<Utc>) -> Vec<Moment> {
    let mut moments = Vec::new();
    let mut before: Option<bool> = None;
    for event in newest_first.iter().rev() {
        let Some(plugged) = event.data.pointer("/chargeState/isPluggedIn").and_then(|v| v.as_bool()) else {
            continue;
        };
        if before.is_some_and(|b| b != plugged) && event.created_at >= since {
            moments.push(Moment {
                at: event.created_at,
                what: if plugged { "Plugged in" } else { "Unplugged" }.to_owned(),
            });
        }
        before = Some(plugged);
    }
    moments
}

/// What an event about an EV system says happened, in words: pairing, the evidence changing,
/// plugging in and out, activation and deactivation, the power delivery changing.
fn moment_of(event: &Event) -> Moment {
    let data = &event.data;
    let text = |pointer: &str| data.pointer(pointer).and_then(|v| v.as_str()).unwrap_or("—").to_owned();
    let evidence = || {
        let kinds: Vec<&str> = data
            .pointer("/match/evidence")
            .and_then(|e| e.as_array())
            .map(|e| e.iter().filter_map(|e| e["kind"].as_str()).collect())
            .unwrap_or_default();
        if kinds.is_empty() {
            "no evidence".to_owned()
        } else {
            format!("evidence {}", kinds.join(", "))
        }
    };
    let what = match event.event_type {
        EventType::EvSystemActivated => {
            format!(
                "Activated with {} confidence; {}",
                text("/match/confidence"),
                evidence()
            )
        }
        EventType::EvSystemDeactivated => match data.get("unmatchedReason").and_then(|r| r.as_str()) {
            Some(reason) => format!("Deactivated: {reason}"),
            None => "Deactivated".to_owned(),
        },
        _ => {
            let changed = |prefix: &str| event.updated_fields.iter().any(|f| f.starts_with(prefix));
            let mut parts = Vec::new();
            if changed("vehicleId") || event.updated_fields.is_empty() {
                parts.push(format!(
                    "Paired: vehicle {} with charger {}, considered",
                    text("/vehicleId"),
                    text("/chargerId")
                ));
            }
            if changed("state") {
                parts.push(format!("State {}", text("/state")));
            }
            if changed("detection") {
                match data.get("detection").filter(|d| !d.is_null()) {
                    Some(d) if d["pluggedInAt"].is_string() => parts.push(format!(
                        "Plugged in; vehicle detection {}",
                        d["status"].as_str().unwrap_or("—")
                    )),
                    _ => parts.push("Unplugged".to_owned()),
                }
            }
            if changed("match") {
                parts.push(if data.get("match").is_some_and(|m| !m.is_null()) {
                    format!(
                        "Pairing evidence changed: {} confidence; {}",
                        text("/match/confidence"),
                        evidence()
                    )
                } else {
                    "Pairing evidence withdrawn".to_owned()
                });
            }
            if changed("unmatchedReason") {
                if let Some(reason) = data.get("unmatchedReason").and_then(|r| r.as_str()) {
                    parts.push(format!("Not matched: {reason}"));
                }
            }
            if changed("chargeState.powerDeliveryState") {
                parts.push(format!("Power delivery {}", text("/chargeState/powerDeliveryState")));
            }
            let other: Vec<&str> = event
                .updated_fields
                .iter()
                .map(String::as_str)
                .filter(|f| {
                    ![
                        "state",
                        "detection",
                        "match",
                        "unmatchedReason",
                        "chargeState.powerDeliveryState",
                        "vehicleId",
                        "chargerId",
                        "activatedAt",
                        "deactivatedAt",
                    ]
                    .iter()
                    .any(|p| f.starts_with(p))
                })
                .collect();
            if !other.is_empty() {
                parts.push(format!("Changed {}", other.join(", ")));
            }
            parts.join("; ")
        }
    };
    Moment {
        at: event.created_at,
        what,
    }
}

/// A timeline from the system's own timestamps, for a system whose events retention removed.
fn timestamps_timeline(system: &ev_systems::EvSystemResponse) -> Vec<Moment> {
    let mut timeline = vec![Moment {
        at: system.created_at,
        what: "Pairing considered".to_owned(),
    }];
    if let Some(at) = system.detection.as_ref().and_then(|d| d.plugged_in_at) {
        let status = system
            .detection
            .as_ref()
            .map(|d| crate::view::wire_name(&d.status))
            .unwrap_or_default();
        timeline.push(Moment {
            at,
            what: format!("Plugged in; vehicle detection {status}"),
        });
    }
    if let Some(at) = system.activated_at {
        let confidence = system
            .matched
            .as_ref()
            .map(|m| crate::view::wire_name(&m.confidence))
            .unwrap_or_else(|| "—".to_owned());
        timeline.push(Moment {
            at,
            what: format!("Activated with {confidence} confidence"),
        });
    }
    if let Some(at) = system.deactivated_at {
        timeline.push(Moment {
            at,
            what: format!(
                "Deactivated{}",
                system
                    .unmatched_reason
                    .as_ref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ),
        });
    }
    timeline.push(Moment {
        at: system.updated_at,
        what: "Last change".to_owned(),
    });
    timeline.sort_by_key(|m| m.at);
    timeline
}
