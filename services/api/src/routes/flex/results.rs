//! Measurement of events: a SHED event's caps cut from each site's baseline, and an event's results
//! (baseline, actual and delivered per interval, per enrolment and in total, with opt-outs and
//! overrides) as JSON or CSV.

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono_tz::Tz;
use coupler_core::flex::{
    results, shed_cap_kw, Baseline, BaselineMethod, ControlGroup, FlexOverride, IntervalSeries, ResultInterval,
    ResultTotals, TelemetrySource, SIMILAR_DAYS_LOOKBACK,
};
use coupler_engine::telemetry;
use utoipa::IntoParams;

use super::*;

/// Where a charger is judged (its location's time zone, UTC when it is placed nowhere) and which
/// site it belongs to (its location, or itself).
async fn site_of(
    state: &AppState,
    caller: &Caller,
    charger: &ChargerId,
) -> Result<(String, Tz, DateTime<Utc>), ApiError> {
    let Some(found) = state.store.get_charger(&caller.client_id, charger).await? else {
        return Ok((charger.as_str().to_owned(), Tz::UTC, DateTime::<Utc>::MIN_UTC));
    };
    let mut tz = Tz::UTC;
    if let Some(location) = &found.location_id {
        if let Some(place) = state
            .store
            .get_location(&caller.client_id, &LocationId::new(location.as_str()))
            .await?
        {
            tz = place.fields.timezone_name.parse().unwrap_or(Tz::UTC);
        }
    }
    let site = found.location_id.clone().unwrap_or_else(|| charger.as_str().to_owned());
    Ok((site, tz, found.created_at))
}

/// A SHED event's cap on each of `chargers` per interval of its window: each site's (location's)
/// similar-days baseline less `shed_kw`, never below 0, shared among the site's chargers in
/// proportion to their own baselines (evenly where the site's baseline is 0), in amperes per
/// phase. `None` for a charger without a baseline (nothing to shed from).
pub(super) async fn shed_caps(
    state: &AppState,
    caller: &Caller,
    event: &FlexEvent,
    chargers: &[ChargerId],
    shed_kw: f64,
) -> Result<HashMap<ChargerId, Option<Vec<SchedulePeriod>>>, ApiError> {
    let starts = IntervalSeries::new(event.start, event.end).starts();
    let mut sites: BTreeMap<String, Vec<(ChargerId, Vec<f64>)>> = BTreeMap::new();
    let mut caps = HashMap::new();
    for charger in chargers {
        let (site, tz, known_since) = site_of(state, caller, charger).await?;
        let device = TargetDevice::Charger(charger.clone());
        let baseline = telemetry::similar_days_baseline(
            state.store.as_ref(),
            &caller.client_id,
            &device,
            &starts,
            known_since,
            tz,
        )
        .await?;
        match baseline.into_iter().collect::<Option<Vec<f64>>>() {
            Some(kw) => sites.entry(site).or_default().push((charger.clone(), kw)),
            None => {
                caps.insert(charger.clone(), None);
            }
        }
    }
    let smart = state.smart.config();
    for members in sites.values() {
        let n = members.len() as f64;
        for (charger, own) in members {
            let periods = starts
                .iter()
                .enumerate()
                .map(|(i, start)| {
                    let site_kw: f64 = members.iter().map(|(_, kw)| kw[i]).sum();
                    let share = if site_kw > 0.0 { own[i] / site_kw } else { 1.0 / n };
                    let cap = shed_cap_kw(site_kw, shed_kw) * share;
                    SchedulePeriod {
                        start: *start,
                        max_current_a: import_limit_amps(cap, LimitUnit::Kilowatts, smart.phase_voltage, smart.phases),
                    }
                })
                .collect();
            caps.insert(charger.clone(), Some(periods));
        }
    }
    Ok(caps)
}

/// Which results, in which form.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ResultsQuery {
    /// `json` (default) or `csv` (the same as `Accept: text/csv`).
    pub format: Option<String>,
    /// `SIMILAR_DAYS` or `CONTROL_GROUP`; default `CONTROL_GROUP` when the event held a control
    /// group back, else `SIMILAR_DAYS`.
    pub baseline: Option<String>,
}

/// An override seen on the meter: who, why and when.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OverrideResponse {
    /// Identifier.
    pub id: String,
    /// The enrolment it is attributed to.
    pub enrolment_id: String,
    /// Its user.
    pub user_id: String,
    /// What saw it: `CHARGER_METER` or `VEHICLE`.
    pub source: TelemetrySource,
    /// Who overrode the event, as far as Coupler can tell.
    pub by: String,
    /// Why it counts.
    pub reason: String,
    /// When the device drew too much.
    pub observed_at: DateTime<Utc>,
    /// What it drew, kW.
    pub observed_power_kw: f64,
    /// The cap it broke, kW.
    pub cap_kw: f64,
    /// When Coupler noticed.
    pub detected_at: DateTime<Utc>,
}

impl From<&FlexOverride> for OverrideResponse {
    fn from(o: &FlexOverride) -> Self {
        Self {
            id: o.id.as_str().to_owned(),
            enrolment_id: o.enrolment_id.as_str().to_owned(),
            user_id: o.user_id.as_str().to_owned(),
            source: o.source,
            by: o.by.clone(),
            reason: o.reason.clone(),
            observed_at: o.observed_at,
            observed_power_kw: o.observed_kw,
            cap_kw: o.cap_kw,
            detected_at: o.detected_at,
        }
    }
}

/// One enrolment's results.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnrolmentResults {
    /// The enrolment.
    pub enrolment_id: String,
    /// Its user.
    pub user_id: String,
    /// The charger, for a charger or EV system enrolment.
    pub charger_id: Option<String>,
    /// The vehicle, for a vehicle enrolment.
    pub vehicle_id: Option<String>,
    /// `TREATED` (the event applied to it) or `CONTROL` (held back; its load is the control-group
    /// baseline, and it has no baseline of its own).
    pub role: String,
    /// Its part's state (see the event's progress).
    pub state: TargetState,
    /// Where its actual load comes from.
    pub source: TelemetrySource,
    /// The driver's opt-out: who, why and when (the enrolment still counts, uncapped).
    pub opt_out: Option<OptOut>,
    /// Overrides seen on its meter.
    pub overrides: Vec<OverrideResponse>,
    /// Each interval of the event so far.
    pub intervals: Vec<ResultInterval>,
    /// Its totals.
    pub totals: ResultTotals,
}

/// What an event delivered.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventResults {
    /// The event.
    pub event_id: String,
    /// Its program.
    pub program_id: String,
    /// Its kind.
    pub kind: EventKind,
    /// Its window.
    pub start: DateTime<Utc>,
    /// Its end.
    pub end: DateTime<Utc>,
    /// Where it stands.
    pub status: EventStatus,
    /// The baseline method used.
    pub baseline: BaselineMethod,
    /// The share held back as the control group.
    pub control_group_share: f64,
    /// How many enrolments the event applied to.
    pub treated: u32,
    /// How many were held back.
    pub held_back: u32,
    /// How many opted out.
    pub opted_out: u32,
    /// The treated enrolments' sums per interval (over those with a baseline in it), from the
    /// event's start until its end or now, whichever is first.
    pub intervals: Vec<ResultInterval>,
    /// The event's totals.
    pub totals: ResultTotals,
    /// Each enrolment's results.
    pub enrolments: Vec<EnrolmentResults>,
    /// Every override seen on the meter during the event.
    pub overrides: Vec<OverrideResponse>,
}

fn device_ids(device: &TargetDevice) -> (Option<String>, Option<String>) {
    match device {
        TargetDevice::Charger(id) => (Some(id.as_str().to_owned()), None),
        TargetDevice::Vehicle(id) => (None, Some(id.as_str().to_owned())),
    }
}

/// Works an event's results out from the stored telemetry (the body of `GET /flex/events/{eventId}/results`,
/// and of the console's event page).
pub async fn event_results(
    state: &AppState,
    caller: &Caller,
    event: FlexEvent,
    asked: Option<BaselineMethod>,
) -> Result<EventResults, ApiError> {
    let now = state.now();
    let store = state.store.as_ref();
    let targets = store.flex_targets(&event.id).await?;
    let overrides = store.flex_overrides(&event.id).await?;
    let held: Vec<&FlexTarget> = targets.iter().filter(|t| t.state == TargetState::HeldBack).collect();
    let method = match asked {
        Some(BaselineMethod::ControlGroup) if held.is_empty() => {
            return Err(
                ApiError::bad_request("the event held no control group back; ask for SIMILAR_DAYS")
                    .at_query("baseline"),
            );
        }
        Some(method) => method,
        None if held.is_empty() => BaselineMethod::SimilarDays,
        None => BaselineMethod::ControlGroup,
    };
    // Measured from the start until the end, the cancellation or now, whichever is first.
    let until = event
        .end
        .min(event.cancelled_at.unwrap_or(event.end))
        .min(now)
        .max(event.start);
    let window = IntervalSeries::new(event.start, until);
    let starts: Vec<DateTime<Utc>> = if until > event.start {
        window.starts()
    } else {
        Vec::new()
    };
    let mut actual: Vec<(Vec<f64>, TelemetrySource)> = Vec::new();
    for target in &targets {
        let (series, source) = if starts.is_empty() {
            (
                IntervalSeries::new(event.start, event.start),
                TelemetrySource::ChargerMeter,
            )
        } else {
            telemetry::device_series(store, &caller.client_id, &target.device, window.from, window.to).await?
        };
        actual.push((series.average_kw(), source));
    }
    let control: Vec<Vec<f64>> = targets
        .iter()
        .zip(actual.iter())
        .filter(|(t, _)| t.state == TargetState::HeldBack)
        .map(|(_, (kw, _))| kw.clone())
        .collect();
    let mut enrolments = Vec::new();
    let mut event_baseline: Vec<Option<f64>> = vec![None; starts.len()];
    let mut event_actual = vec![0.0; starts.len()];
    for (target, (kw, source)) in targets.iter().zip(actual.iter()) {
        let treated = target.state != TargetState::HeldBack;
        let baseline = if !treated || starts.is_empty() {
            vec![None; starts.len()]
        } else {
            match method {
                BaselineMethod::ControlGroup => ControlGroup {
                    control: &control,
                    treated: 1,
                }
                .estimate(&starts),
                BaselineMethod::SimilarDays => {
                    let (tz, known_since) = match &target.device {
                        TargetDevice::Charger(charger) => {
                            let (_, tz, known) = site_of(state, caller, charger).await?;
                            (tz, known)
                        }
                        TargetDevice::Vehicle(_) => (Tz::UTC, event.start - Duration::days(SIMILAR_DAYS_LOOKBACK)),
                    };
                    telemetry::similar_days_baseline(store, &caller.client_id, &target.device, &starts, known_since, tz)
                        .await?
                }
            }
        };
        if treated {
            for (i, b) in baseline.iter().enumerate() {
                if let Some(b) = b {
                    event_baseline[i] = Some(event_baseline[i].unwrap_or(0.0) + b);
                    event_actual[i] += kw[i];
                }
            }
        }
        let (rows, totals) = results(&starts, &baseline, kw);
        let (charger_id, vehicle_id) = device_ids(&target.device);
        enrolments.push(EnrolmentResults {
            enrolment_id: target.enrolment_id.as_str().to_owned(),
            user_id: target.user_id.as_str().to_owned(),
            charger_id,
            vehicle_id,
            role: if treated { "TREATED" } else { "CONTROL" }.to_owned(),
            state: target.state,
            source: *source,
            opt_out: target.opt_out.clone(),
            overrides: overrides
                .iter()
                .filter(|o| o.target_id == target.id)
                .map(OverrideResponse::from)
                .collect(),
            intervals: rows,
            totals,
        });
    }
    let (intervals, totals) = results(&starts, &event_baseline, &event_actual);
    let count = |pick: &dyn Fn(&FlexTarget) -> bool| {
        u32::try_from(targets.iter().filter(|t| pick(t)).count()).unwrap_or(u32::MAX)
    };
    Ok(EventResults {
        event_id: event.id.as_str().to_owned(),
        program_id: event.program_id.as_str().to_owned(),
        kind: event.kind,
        start: event.start,
        end: event.end,
        status: event.status(now),
        baseline: method,
        control_group_share: event.control_group_share,
        treated: count(&|t| t.state != TargetState::HeldBack),
        held_back: count(&|t| t.state == TargetState::HeldBack),
        opted_out: count(&|t| t.state == TargetState::OptedOut),
        intervals,
        totals,
        enrolments,
        overrides: overrides.iter().map(OverrideResponse::from).collect(),
    })
}

fn cell(value: Option<f64>) -> String {
    value.map(|v| format!("{v:.4}")).unwrap_or_default()
}

/// The results as CSV: one row per enrolment and interval (`scope` ENROLMENT), one per interval
/// for the event (`scope` EVENT), and the event's totals (`scope` TOTAL).
fn to_csv(results: &EventResults) -> String {
    let mut out = String::from(
        "scope,enrolment_id,role,source,interval_start,interval_end,baseline_kw,actual_kw,delivered_kw,baseline_kwh,actual_kwh,delivered_kwh,opted_out,overrides\n",
    );
    let mut row =
        |scope: &str, enrolment: &str, role: &str, source: &str, r: &ResultInterval, opted: &str, overrides: usize| {
            let _ = writeln!(
                out,
                "{scope},{enrolment},{role},{source},{},{},{},{:.4},{},{},{:.4},{},{opted},{overrides}",
                r.start.to_rfc3339(),
                r.end.to_rfc3339(),
                cell(r.baseline_kw),
                r.actual_kw,
                cell(r.delivered_kw),
                cell(r.baseline_kwh),
                r.actual_kwh,
                cell(r.delivered_kwh),
            );
        };
    for e in &results.enrolments {
        let opted = if e.opt_out.is_some() { "true" } else { "false" };
        for r in &e.intervals {
            row(
                "ENROLMENT",
                &e.enrolment_id,
                &e.role,
                e.source.as_str(),
                r,
                opted,
                e.overrides.len(),
            );
        }
    }
    for r in &results.intervals {
        row("EVENT", "", "", "", r, "", 0);
    }
    let t = &results.totals;
    let _ = writeln!(
        out,
        "TOTAL,,,,{},{},,,,{:.4},{:.4},{:.4},{},{}",
        results.start.to_rfc3339(),
        results.end.to_rfc3339(),
        t.baseline_kwh,
        t.actual_kwh,
        t.delivered_kwh,
        results.opted_out,
        results.overrides.len(),
    );
    out
}

/// What an event delivered, measured from the meters: per interval (15 minutes) and per
/// enrolment, the baseline (what the load would have been), the actual load and the delivered
/// reduction in kW and kWh, with totals per event, every opt-out and every override seen on the
/// meter. Two baselines: `SIMILAR_DAYS` (the same interval over the 10 most recent similar days
/// without events) and `CONTROL_GROUP` (the held-back enrolments' mean load, for an event sent with
/// `controlGroupShare`). As CSV with `Accept: text/csv` or `?format=csv`.
#[utoipa::path(
    get,
    path = "/flex/events/{eventId}/results",
    tag = "flex",
    params(("eventId" = String, Path, description = "The event's id"), ResultsQuery),
    responses(
        (status = 200, description = "The event's results", content(
            (EventResults = "application/json"),
            (String = "text/csv"),
        )),
        (status = 404, description = "The client has no such event", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn event_results_route(
    caller: Caller,
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<ResultsQuery>,
) -> Result<Response, ApiError> {
    let csv = match query.format.as_deref() {
        None => headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/csv")),
        Some("csv") => true,
        Some("json") => false,
        Some(_) => return Err(ApiError::bad_request("format must be json or csv").at_query("format")),
    };
    let asked = match query.baseline.as_deref() {
        None => None,
        Some(raw) => Some(BaselineMethod::parse(raw).ok_or_else(|| {
            ApiError::bad_request("baseline must be SIMILAR_DAYS or CONTROL_GROUP").at_query("baseline")
        })?),
    };
    let event = state
        .store
        .get_flex_event(&caller.client_id, &FlexEventId::new(id.as_str()))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no event '{id}'")))?;
    let results = event_results(&state, &caller, event, asked).await?;
    if csv {
        let mut response = to_csv(&results).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        );
        Ok(response)
    } else {
        Ok(ApiJson(results).into_response())
    }
}
