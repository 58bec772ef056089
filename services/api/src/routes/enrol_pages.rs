//! The hosted enrolment page a driver's browser sees: `GET /enrol/{token}` shows a flexibility
//! program in plain words (who runs it, what it does, its limits and incentive, what is shared and
//! how to leave) and the driver's devices, each eligible one with a checkbox and each ineligible
//! one with its reasons; `POST /enrol/{token}` takes the driver's answer.
//!
//! Agreeing makes the enrolments through the same checks and the same store write as
//! `POST /programs/{programId}/enrolments` (so the same consent record and the same
//! `user:flex-enrolment:updated` events), ends the session in the same transaction, and sends the
//! driver to the app's `redirectUri` with `success=true&enrolment_ids=...`; declining sends
//! `error=declined`. A session is used once.
//!
//! The form carries a CSRF token that belongs to the session (sealed in its row), and the page sets
//! a cookie with the same token, scoped to the page's path; an answer whose form and cookie do not
//! both carry it changes nothing. Unknown, used and expired links are HTML error pages, with a way
//! back to the app when the session names one.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use coupler_core::flex::{
    EnrolledDevice, EnrolmentSession, EnrolmentSessionStatus, FlexCapability, FlexDeviceKind, Program, ProgramKind,
    ProgramLimits, Reason, ReasonCode, Verdict,
};
use coupler_core::link::redirect_with;
use coupler_core::secret::hash_secret;
use coupler_core::{ChargerId, PageRequest, VehicleId};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::flex::{new_enrolment, verdict_for};
use super::pages::{self, AppBrand, BackLink, Chrome};
use crate::error::ApiError;
use crate::i18n::{self, Tr};
use crate::state::AppState;

/// The cookie that carries the form's CSRF token, scoped to one session's page.
const COOKIE: &str = "coupler_enrol";

/// The most devices of each kind the page lists when the app named none.
const MAX_LISTED: u32 = 100;

/// The enrolment page.
#[derive(Template)]
#[template(path = "enrol.html")]
struct EnrolPage<'a> {
    chrome: &'a Chrome,
    title: &'a str,
    runs: String,
    what_it_does: String,
    limits: Vec<String>,
    incentive: Vec<String>,
    shared_intro: String,
    shared: Vec<String>,
    rights: String,
    how_to_leave: &'a str,
    error: Option<&'a str>,
    action: String,
    csrf: &'a str,
    eligible: Vec<DeviceChoice>,
    ineligible: Vec<DeviceChoice>,
    consent: String,
    /// The way back to the app without enrolling, when no device can join.
    decline: String,
}

/// One of the driver's devices, as the page shows it.
#[derive(Debug, Clone)]
struct DeviceChoice {
    device: EnrolledDevice,
    /// The form value that names it: `KIND:id`.
    value: String,
    label: String,
    kind: String,
    /// For an eligible device whose check is not complete: what happens next.
    note: Option<String>,
    /// For an ineligible device: why, in words.
    reasons: Vec<String>,
    checked: bool,
}

/// Everything a page for an open session needs.
struct Context {
    session: EnrolmentSession,
    program: Program,
    csrf: String,
    /// The page's language and the app's brand.
    chrome: Chrome,
}

fn unavailable(chrome: &Chrome, back: Option<BackLink>) -> Response {
    let tr = &chrome.tr;
    pages::error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        chrome,
        &tr.t("enrol-unavailable-title"),
        &tr.t("enrol-unavailable"),
        back,
    )
}

fn not_found(chrome: &Chrome) -> Response {
    let tr = &chrome.tr;
    pages::error_page(
        StatusCode::NOT_FOUND,
        chrome,
        &tr.t("link-not-found-title"),
        &tr.t("enrol-not-found"),
        None,
    )
}

/// The way back to the app, carrying how the session ended.
fn back_link(chrome: &Chrome, session: &EnrolmentSession) -> BackLink {
    let ids: Vec<&str> = session.enrolment_ids.iter().map(|id| id.as_str()).collect();
    let joined = ids.join(",");
    let params: Vec<(&str, &str)> = match session.status {
        EnrolmentSessionStatus::Completed => vec![("success", "true"), ("enrolment_ids", &joined)],
        EnrolmentSessionStatus::Declined => vec![("error", "declined")],
        EnrolmentSessionStatus::Expired | EnrolmentSessionStatus::Open => vec![("error", "expired")],
    };
    BackLink {
        href: redirect_with(&session.redirect_uri, &params),
        label: chrome.back_label(),
    }
}

/// The page for a session that is over.
fn over_page(chrome: &Chrome, session: &EnrolmentSession) -> Response {
    let tr = &chrome.tr;
    let app = chrome.app_name();
    let (title, message) = match session.status {
        EnrolmentSessionStatus::Completed => ("enrol-used-title", "enrol-used-completed"),
        EnrolmentSessionStatus::Declined => ("enrol-used-title", "enrol-used-declined"),
        EnrolmentSessionStatus::Expired | EnrolmentSessionStatus::Open => ("enrol-expired-title", "enrol-expired"),
    };
    pages::error_page(
        StatusCode::GONE,
        chrome,
        &tr.t(title),
        &tr.with(message, &[("app", &app)]),
        Some(back_link(chrome, session)),
    )
}

/// The open session `token` names, with its program, the page's frame and CSRF token; or the page
/// to show instead (unknown, used, expired). `picked` is a language the person chose on the page.
async fn open_session(
    state: &AppState,
    token: &str,
    headers: &HeaderMap,
    picked: Option<&str>,
) -> Result<Context, Response> {
    let session = match state.store.get_enrolment_session_by_token(&hash_secret(token)).await {
        Ok(Some(session)) => session,
        Ok(None) => return Err(not_found(&anonymous(picked, headers))),
        Err(e) => {
            tracing::error!(error = %e, "cannot read an enrolment session");
            return Err(unavailable(&anonymous(picked, headers), None));
        }
    };
    let tr = Tr::choose(picked, headers, Some(&session.language));
    let base = state.public_url.as_str().trim_end_matches('/');
    let chrome = Chrome {
        languages: tr.switcher(&format!("{base}/enrol/{token}")),
        brand: AppBrand::of(state, &session.client_id).await,
        tr,
    };
    if session.status.is_final() {
        return Err(over_page(&chrome, &session));
    }
    let now = state.now();
    if session.is_expired(now) {
        if let Err(e) = state
            .store
            .end_enrolment_session(&session.id, EnrolmentSessionStatus::Expired, now)
            .await
        {
            tracing::error!(error = %e, "cannot record an expired enrolment session");
            return Err(unavailable(&chrome, None));
        }
        let mut ended = session;
        ended.status = EnrolmentSessionStatus::Expired;
        return Err(over_page(&chrome, &ended));
    }
    let program = state.store.get_program(&session.client_id, &session.program_id).await;
    let operator = state.store.get_client(&session.client_id).await;
    let program = match (program, operator) {
        (Ok(Some(program)), Ok(Some(operator))) if operator.revoked_at.is_none() => program,
        (Ok(_), Ok(_)) => return Err(not_found(&chrome)),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "cannot read an enrolment session's program");
            return Err(unavailable(&chrome, None));
        }
    };
    let csrf = match session.csrf_token.open(&state.cipher) {
        Ok(csrf) => csrf.expose().to_owned(),
        Err(e) => {
            // Sealed with another key (the key was changed): the session cannot be answered.
            tracing::error!(error = %e, "cannot open an enrolment session's CSRF token");
            return Err(unavailable(&chrome, None));
        }
    };
    Ok(Context {
        session,
        program,
        csrf,
        chrome,
    })
}

/// A page for a browser that came with no known session: the person's language, no app.
fn anonymous(picked: Option<&str>, headers: &HeaderMap) -> Chrome {
    Chrome {
        tr: Tr::choose(picked, headers, None),
        ..Chrome::default()
    }
}

fn kind_words(tr: &Tr, kind: FlexDeviceKind) -> String {
    tr.t(match kind {
        FlexDeviceKind::Charger => "kind-charger",
        FlexDeviceKind::Vehicle => "kind-car",
        FlexDeviceKind::EvSystem => "kind-ev-system",
    })
}

/// What the program does to the car's charging during an event, in plain words.
fn what_it_does(tr: &Tr, kind: ProgramKind) -> String {
    tr.t(match kind {
        ProgramKind::CapacityLimit => "enrol-does-capacity",
        ProgramKind::Shed => "enrol-does-shed",
        ProgramKind::Pause => "enrol-does-pause",
    })
}

/// Why a device cannot join (or is not checked yet), in words for the driver.
fn reason_words(tr: &Tr, reason: &Reason) -> String {
    let capability = FlexCapability::ALL
        .into_iter()
        .find(|c| reason.detail.contains(c.as_str()));
    let can = tr.t(match capability {
        Some(FlexCapability::SmartChargingProfiles) => "can-profiles",
        Some(FlexCapability::StartStop) => "can-start-stop",
        Some(FlexCapability::SetMaxCurrent) => "can-max-current",
        None => "can-everything",
    });
    match reason.code {
        ReasonCode::DeviceKindNotEligible => tr.t("reason-kind"),
        ReasonCode::CapabilityMissing => tr.with("reason-capability-missing", &[("can", &can)]),
        ReasonCode::CapabilityUnknown => tr.with("reason-capability-unknown", &[("can", &can)]),
        ReasonCode::OutsideServiceArea => tr.t("reason-outside-area"),
        ReasonCode::LocationUnknown => tr.t("reason-location-unknown"),
        ReasonCode::AlreadyEnrolled => tr.t("reason-already-enrolled"),
        ReasonCode::DeviceGone => tr.t("reason-device-gone"),
    }
}

/// `minutes` in words: 90 minutes is "1 hour 30 minutes".
fn duration_words(tr: &Tr, minutes: u32) -> String {
    let (days, hours, rest) = (minutes / 1440, minutes % 1440 / 60, minutes % 60);
    let parts: Vec<String> = [
        (days, "duration-days"),
        (hours, "duration-hours"),
        (rest, "duration-minutes"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, key)| tr.count(key, u64::from(n), &[]))
    .collect();
    parts.join(" ")
}

fn limit_words(tr: &Tr, limits: &ProgramLimits) -> Vec<String> {
    vec![
        match limits.max_events_per_year {
            Some(n) => tr.count("enrol-events-per-year", u64::from(n), &[]),
            None => tr.t("enrol-events-unlimited"),
        },
        tr.with(
            "enrol-event-length",
            &[("duration", &duration_words(tr, limits.max_event_minutes))],
        ),
        match limits.min_notice_minutes {
            0 => tr.t("enrol-no-notice"),
            n => tr.with("enrol-notice", &[("duration", &duration_words(tr, n))]),
        },
    ]
}

/// `perEvent` or `per_event` as "Per event".
fn label_words(key: &str) -> String {
    let mut words = String::new();
    for (i, c) in key.chars().enumerate() {
        match c {
            '_' | '-' => words.push(' '),
            c if c.is_uppercase() && i > 0 => {
                words.push(' ');
                words.extend(c.to_lowercase());
            }
            c if i == 0 => words.extend(c.to_uppercase()),
            c => words.push(c),
        }
    }
    words
}

fn value_words(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(true) => "yes".to_owned(),
        Value::Bool(false) => "no".to_owned(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => items.iter().map(value_words).collect::<Vec<_>>().join(", "),
        Value::Object(fields) => match (fields.get("amount"), fields.get("currency")) {
            // An amount of money reads as one value.
            (Some(amount), Some(Value::String(currency))) if fields.len() == 2 => {
                format!("{} {currency}", value_words(amount))
            }
            _ => fields
                .iter()
                .map(|(k, v)| format!("{} {}", label_words(k).to_lowercase(), value_words(v)))
                .collect::<Vec<_>>()
                .join(", "),
        },
    }
}

/// The program's incentive (free-form JSON as the program words it) as lines for people.
fn incentive_words(incentive: &serde_json::Value) -> Vec<String> {
    use serde_json::Value;
    match incentive {
        Value::Null => Vec::new(),
        Value::Object(fields) => fields
            .iter()
            .map(|(k, v)| format!("{}: {}", label_words(k), value_words(v)))
            .collect(),
        Value::Array(items) => items.iter().map(value_words).filter(|s| !s.is_empty()).collect(),
        other => vec![value_words(other)],
    }
}

fn charger_label(charger: &coupler_core::Charger) -> String {
    let made = [charger.info.vendor.as_deref(), charger.info.model.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    match (&charger.name, made.is_empty()) {
        (Some(name), _) => name.clone(),
        (None, false) => made,
        (None, true) => format!("Charger {}", charger.ocpp_id.as_str()),
    }
}

fn vehicle_label(tr: &Tr, vehicle: &coupler_core::Vehicle) -> String {
    let info = &vehicle.information;
    if let Some(name) = &info.display_name {
        return name.clone();
    }
    let made = [info.brand.as_deref(), info.model.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    match (made.is_empty(), info.year) {
        (false, Some(year)) => format!("{made} ({year})"),
        (false, None) => made,
        (true, _) => info.vin.clone().unwrap_or_else(|| tr.t("kind-car")),
    }
}

/// A name for the driver's device, or `None` when the client's user has no such device.
async fn device_label(
    state: &AppState,
    tr: &Tr,
    session: &EnrolmentSession,
    device: &EnrolledDevice,
) -> Result<Option<String>, ApiError> {
    let store = &state.store;
    let client = &session.client_id;
    let mine = |user: &coupler_core::UserId| *user == session.user_id;
    Ok(match device.kind {
        FlexDeviceKind::Charger => store
            .get_charger(client, &ChargerId::new(device.id.as_str()))
            .await?
            .filter(|c| mine(&c.user_id))
            .map(|c| charger_label(&c)),
        FlexDeviceKind::Vehicle => store
            .get_vehicle(client, &VehicleId::new(device.id.as_str()))
            .await?
            .filter(|v| mine(&v.user_id))
            .map(|v| vehicle_label(tr, &v)),
        FlexDeviceKind::EvSystem => {
            let pair = store
                .get_ev_system(client, &coupler_core::ev_system::EvSystemId::new(device.id.as_str()))
                .await?
                .filter(|p| mine(&p.user_id));
            match pair {
                Some(pair) => {
                    let car = store
                        .get_vehicle(client, &pair.vehicle_id)
                        .await?
                        .map(|v| vehicle_label(tr, &v));
                    let charger = store
                        .get_charger(client, &pair.charger_id)
                        .await?
                        .map(|c| charger_label(&c));
                    let car = car.unwrap_or_else(|| tr.t("kind-car"));
                    let charger = charger.unwrap_or_else(|| tr.t("kind-charger"));
                    Some(tr.with("enrol-ev-system-label", &[("car", &car), ("charger", &charger)]))
                }
                None => None,
            }
        }
    })
}

/// The devices the page offers: the ones the app named, or every device of the user's of a kind the
/// program takes.
async fn offered_devices(
    state: &AppState,
    session: &EnrolmentSession,
    program: &Program,
) -> Result<Vec<EnrolledDevice>, ApiError> {
    if !session.devices.is_empty() {
        return Ok(session.devices.clone());
    }
    let store = &state.store;
    let client = &session.client_id;
    let user = &session.user_id;
    let page = PageRequest::first(MAX_LISTED);
    let mut devices = Vec::new();
    for kind in &program.eligibility.device_kinds {
        let ids: Vec<String> = match kind {
            FlexDeviceKind::Charger => store
                .list_chargers(client, Some(user), &page)
                .await?
                .items
                .into_iter()
                .map(|c| c.id.as_str().to_owned())
                .collect(),
            FlexDeviceKind::Vehicle => store
                .list_vehicles(client, Some(user), &page)
                .await?
                .items
                .into_iter()
                .map(|v| v.id.as_str().to_owned())
                .collect(),
            FlexDeviceKind::EvSystem => store
                .list_ev_systems(client, user, &page)
                .await?
                .items
                .into_iter()
                .map(|p| p.id.as_str().to_owned())
                .collect(),
        };
        devices.extend(ids.into_iter().map(|id| EnrolledDevice { kind: *kind, id }));
    }
    Ok(devices)
}

/// The page's devices, each judged as the eligibility API judges it: `(eligible, ineligible)`.
async fn judged_devices(
    state: &AppState,
    context: &Context,
) -> Result<(Vec<DeviceChoice>, Vec<DeviceChoice>), ApiError> {
    let session = &context.session;
    let tr = &context.chrome.tr;
    let mut eligible = Vec::new();
    let mut ineligible = Vec::new();
    for device in offered_devices(state, session, &context.program).await? {
        let label = device_label(state, tr, session, &device).await?;
        let verdict = match label {
            Some(_) => {
                verdict_for(
                    state,
                    &session.client_id,
                    &context.program,
                    &session.user_id,
                    &device,
                    None,
                )
                .await?
            }
            None => coupler_core::flex::device_gone(),
        };
        let choice = DeviceChoice {
            value: format!("{}:{}", device.kind.as_str(), device.id),
            label: label.unwrap_or_else(|| format!("{} {}", kind_words(tr, device.kind), device.id)),
            kind: kind_words(tr, device.kind),
            note: None,
            reasons: verdict.reasons().iter().map(|r| reason_words(tr, r)).collect(),
            checked: false,
            device,
        };
        match verdict {
            Verdict::Eligible => eligible.push(choice),
            Verdict::Undecided(_) => eligible.push(DeviceChoice {
                note: Some(format!("{} {}", tr.t("enrol-undecided"), choice.reasons.join(" "))),
                ..choice
            }),
            Verdict::Ineligible(_) => ineligible.push(choice),
        }
    }
    Ok((eligible, ineligible))
}

/// The page for an open session, with `error` above the form and `chosen` ticked.
async fn enrol_page(
    state: &AppState,
    token: &str,
    context: &Context,
    status: StatusCode,
    error: Option<&str>,
    chosen: &[String],
) -> Response {
    let chrome = &context.chrome;
    let (mut eligible, ineligible) = match judged_devices(state, context).await {
        Ok(judged) => judged,
        Err(e) => {
            tracing::error!(error = ?e, "cannot list a driver's devices");
            return unavailable(chrome, None);
        }
    };
    for device in &mut eligible {
        device.checked = chosen.contains(&device.value);
    }
    let base = state.public_url.as_str().trim_end_matches('/');
    let program = &context.program;
    let tr = &chrome.tr;
    let operator = chrome.app_name();
    let page = EnrolPage {
        chrome,
        title: &program.name,
        runs: tr.with("enrol-runs", &[("operator", &operator)]),
        what_it_does: what_it_does(tr, program.kind),
        limits: limit_words(tr, &program.limits),
        incentive: incentive_words(&program.incentive),
        shared_intro: tr.with("enrol-shared-intro", &[("operator", &operator)]),
        rights: tr.with("enrol-rights", &[("app", &operator)]),
        consent: tr.with("enrol-consent", &[("program", &program.name), ("operator", &operator)]),
        decline: if eligible.is_empty() {
            chrome.back_label()
        } else {
            tr.t("enrol-decline")
        },
        shared: context
            .session
            .consent
            .data_shared
            .iter()
            .map(|d| label_words(d))
            .collect(),
        how_to_leave: &context.session.consent.how_to_leave,
        error,
        action: format!("{base}/enrol/{token}"),
        csrf: &context.csrf,
        eligible,
        ineligible,
    };
    let mut response = pages::render(status, &page);
    let secure = pages::secure_attribute(&state.public_url);
    let cookie = format!(
        "{COOKIE}={}; Path=/enrol/{token}; Max-Age=86400; HttpOnly; SameSite=Strict{secure}",
        context.csrf
    );
    if let Ok(value) = axum::http::HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(axum::http::header::SET_COOKIE, value);
    }
    response
}

/// What the enrolment page's URL may carry: a language the person picked.
#[derive(Debug, Deserialize)]
pub struct EnrolQuery {
    lang: Option<String>,
}

/// `GET /enrol/{token}`: the enrolment page.
pub async fn open_enrolment(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    Query(query): Query<EnrolQuery>,
) -> Response {
    let picked = query.lang.as_deref();
    let mut response = match open_session(&state, &token, &headers, picked).await {
        Ok(context) => enrol_page(&state, &token, &context, StatusCode::OK, None, &[]).await,
        Err(page) => page,
    };
    if let Some(cookie) = i18n::remember(picked, pages::secure_attribute(&state.public_url)) {
        pages::add_cookie(&mut response, &cookie);
    }
    response
}

/// What the form sent.
#[derive(Debug, Default)]
struct Answer {
    csrf: Option<String>,
    action: Option<String>,
    consent: bool,
    devices: Vec<String>,
}

impl Answer {
    /// Reads an `application/x-www-form-urlencoded` body; unknown fields are ignored.
    fn parse(body: &[u8]) -> Self {
        let mut answer = Self::default();
        for (name, value) in form_urlencoded::parse(body) {
            match name.as_ref() {
                "csrf" => answer.csrf = Some(value.into_owned()),
                "action" => answer.action = Some(value.into_owned()),
                "consent" => answer.consent = value == "yes",
                "device" if answer.devices.len() < 200 => answer.devices.push(value.into_owned()),
                _ => {}
            }
        }
        answer
    }
}

/// Whether both the form and the cookie carry the session's CSRF token.
fn csrf_holds(expected: &str, form: Option<&str>, cookie: Option<&str>) -> bool {
    let same = |given: Option<&str>| given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(expected.as_bytes())));
    same(form) && same(cookie)
}

/// `POST /enrol/{token}`: the driver's answer.
pub async fn answer_enrolment(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let context = match open_session(&state, &token, &headers, None).await {
        Ok(context) => context,
        Err(page) => return page,
    };
    let chrome = &context.chrome;
    let tr = &chrome.tr;
    let answer = Answer::parse(&body);
    let cookie = pages::cookie(&headers, COOKIE);
    if !csrf_holds(&context.csrf, answer.csrf.as_deref(), cookie.as_deref()) {
        tracing::warn!(
            enrolment_session = context.session.id.as_str(),
            "enrolment form without its CSRF token"
        );
        let base = state.public_url.as_str().trim_end_matches('/');
        return pages::error_page(
            StatusCode::FORBIDDEN,
            chrome,
            &tr.t("enrol-csrf-title"),
            &tr.t("enrol-csrf"),
            Some(BackLink {
                href: format!("{base}/enrol/{token}"),
                label: tr.t("enrol-open-again"),
            }),
        );
    }
    let session = &context.session;
    let now = state.now();
    match answer.action.as_deref() {
        Some("decline") => match state
            .store
            .end_enrolment_session(&session.id, EnrolmentSessionStatus::Declined, now)
            .await
        {
            Ok(true) => {
                tracing::info!(enrolment_session = session.id.as_str(), "enrolment declined");
                pages::see_other(
                    &redirect_with(&session.redirect_uri, &[("error", "declined")]),
                    Some(&clear_cookie(&token)),
                )
            }
            // Answered meanwhile (another tab): show how it ended.
            Ok(false) => match open_session(&state, &token, &headers, None).await {
                Ok(context) => enrol_page(&state, &token, &context, StatusCode::CONFLICT, None, &[]).await,
                Err(page) => page,
            },
            Err(e) => {
                tracing::error!(error = %e, "cannot record a declined enrolment session");
                unavailable(chrome, None)
            }
        },
        Some("enrol") => enrol(&state, &token, &context, &answer, &headers, now).await,
        _ => {
            enrol_page(
                &state,
                &token,
                &context,
                StatusCode::BAD_REQUEST,
                Some(&tr.t("enrol-error-choose")),
                &answer.devices,
            )
            .await
        }
    }
}

fn clear_cookie(token: &str) -> String {
    format!("{COOKIE}=; Path=/enrol/{token}; Max-Age=0; HttpOnly; SameSite=Strict")
}

/// Enrols the devices the driver ticked, if the driver agreed and each can still join.
async fn enrol(
    state: &AppState,
    token: &str,
    context: &Context,
    answer: &Answer,
    headers: &HeaderMap,
    now: chrono::DateTime<chrono::Utc>,
) -> Response {
    let chrome = &context.chrome;
    let tr = &chrome.tr;
    let again = |status, error: String| async move {
        enrol_page(state, token, context, status, Some(&error), &answer.devices).await
    };
    if answer.devices.is_empty() {
        return again(StatusCode::UNPROCESSABLE_ENTITY, tr.t("enrol-error-tick")).await;
    }
    if !answer.consent {
        return again(StatusCode::UNPROCESSABLE_ENTITY, tr.t("enrol-error-consent")).await;
    }
    let (eligible, _) = match judged_devices(state, context).await {
        Ok(judged) => judged,
        Err(e) => {
            tracing::error!(error = ?e, "cannot list a driver's devices");
            return unavailable(chrome, None);
        }
    };
    let mut chosen = Vec::new();
    for value in &answer.devices {
        match eligible.iter().find(|d| &d.value == value) {
            Some(device) if !chosen.iter().any(|c: &DeviceChoice| &c.value == value) => chosen.push(device.clone()),
            Some(_) => {}
            None => return again(StatusCode::UNPROCESSABLE_ENTITY, tr.t("enrol-error-cannot")).await,
        }
    }
    let session = &context.session;
    let mut enrolments = Vec::with_capacity(chosen.len());
    for device in chosen {
        let consent = session.consent.given_at(now);
        match new_enrolment(
            state,
            &session.client_id,
            &context.program,
            &session.user_id,
            device.device,
            consent,
            now,
        )
        .await
        {
            Ok(enrolment) => enrolments.push(enrolment),
            Err(e) if e.status().is_client_error() => {
                return again(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    tr.with("enrol-error-device", &[("device", &device.label)]),
                )
                .await
            }
            Err(e) => {
                tracing::error!(error = ?e, "cannot judge a device for enrolment");
                return unavailable(chrome, None);
            }
        }
    }
    match state
        .store
        .complete_enrolment_session(&session.id, &enrolments, now)
        .await
    {
        Ok(true) => {
            let ids: Vec<&str> = enrolments.iter().map(|e| e.id.as_str()).collect();
            for enrolment in &enrolments {
                tracing::info!(
                    enrolment_id = %enrolment.id,
                    status = enrolment.state.status.as_str(),
                    enrolment_session = session.id.as_str(),
                    "enrolled through the enrolment page"
                );
            }
            pages::see_other(
                &redirect_with(
                    &session.redirect_uri,
                    &[("success", "true"), ("enrolment_ids", &ids.join(","))],
                ),
                Some(&clear_cookie(token)),
            )
        }
        // Answered meanwhile (another tab, or a replayed form): show how it ended.
        Ok(false) => match open_session(state, token, headers, None).await {
            Ok(context) => enrol_page(state, token, &context, StatusCode::CONFLICT, None, &[]).await,
            Err(page) => page,
        },
        Err(coupler_core::StoreError::Conflict(_)) => again(StatusCode::CONFLICT, tr.t("enrol-error-meanwhile")).await,
        Err(e) => {
            tracing::error!(error = %e, "cannot store enrolments from the enrolment page");
            unavailable(chrome, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        let en = Tr::of("en");
        assert_eq!(duration_words(&en, 90), "1 hour 30 minutes");
        assert_eq!(duration_words(&en, 180), "3 hours");
        assert_eq!(duration_words(&en, 1), "1 minute");
        assert_eq!(duration_words(&en, 1440 + 60), "1 day 1 hour");
        assert_eq!(duration_words(&Tr::of("de"), 1440 * 2 + 1), "2 Tage 1 Minute");
    }

    #[test]
    fn an_incentive_reads_as_labelled_lines_with_money_as_one_value() {
        let incentive = serde_json::json!({"perEvent": {"amount": 2.5, "currency": "EUR"}, "signUpBonus": 20});
        assert_eq!(
            incentive_words(&incentive),
            vec!["Per event: 2.5 EUR", "Sign up bonus: 20"]
        );
        assert_eq!(incentive_words(&serde_json::json!("£5 a month")), vec!["£5 a month"]);
        assert!(incentive_words(&serde_json::Value::Null).is_empty());
    }

    #[test]
    fn the_form_must_carry_the_token_in_both_the_field_and_the_cookie() {
        assert!(csrf_holds("abc", Some("abc"), Some("abc")));
        assert!(!csrf_holds("abc", Some("abc"), None));
        assert!(!csrf_holds("abc", None, Some("abc")));
        assert!(!csrf_holds("abc", Some("abd"), Some("abc")));
        assert!(!csrf_holds("abc", Some(""), Some("")));
    }

    #[test]
    fn a_form_body_is_read_leniently() {
        let answer = Answer::parse(b"csrf=x&device=CHARGER%3Aa&device=VEHICLE%3Ab&consent=yes&action=enrol&junk=1");
        assert_eq!(answer.devices, vec!["CHARGER:a", "VEHICLE:b"]);
        assert!(answer.consent);
        assert_eq!(answer.action.as_deref(), Some("enrol"));
        let garbage = Answer::parse(&[0xff, 0xfe, b'=', b'&']);
        assert!(garbage.csrf.is_none() && garbage.devices.is_empty());
    }

    #[test]
    fn each_reason_has_words_for_the_driver_that_name_what_is_missing() {
        let facts = coupler_core::flex::DeviceFacts {
            smart_charging_profiles: Some(false),
            start_stop: None,
            set_max_current: Some(false),
            position: None,
        };
        let rules = coupler_core::flex::EligibilityRules {
            device_kinds: vec![FlexDeviceKind::Charger],
            required_capabilities: FlexCapability::ALL.to_vec(),
            service_area: vec![coupler_core::flex::AreaCircle {
                latitude: 59.9,
                longitude: 10.7,
                radius_km: 10.0,
            }],
        };
        let verdict = coupler_core::flex::check_eligibility(&rules, FlexDeviceKind::Vehicle, &facts, true);
        let words: Vec<String> = verdict
            .reasons()
            .iter()
            .map(|r| reason_words(&Tr::of("en"), r))
            .collect();
        assert_eq!(
            words,
            vec![
                "It is already enrolled in this program.",
                "This program does not take this kind of device.",
                "It cannot follow a charging schedule sent to it.",
                "It cannot have its charging current lowered remotely.",
                "We do not know where it is, and this program covers only some areas. Set its location in the app first.",
                "It has not told us yet whether it can have its charging started and stopped remotely; it is checked again once it does.",
            ]
        );
    }
}
