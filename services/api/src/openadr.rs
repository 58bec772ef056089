//! The VEN task: follows every program bound to an OpenADR 3 VTN.
//!
//! A look at a binding's VTN (when its poll is due, when its owner asks for one, or when the VTN
//! notifies a change) registers Coupler as the VEN with the program's enrolled devices as
//! resources, subscribes for webhooks where a callback URL is set, reads the program's events and
//! follows each interval into a flex event: created when new, changed when the VTN changed it,
//! cancelled when the VTN deleted or cancelled it. PRICE payloads go to the binding's price area
//! as a price series. Then each flex event that has started is reported back from its measurement
//! (only when the report says something new).
//!
//! A look that fails (a timeout, refused credentials, the VTN failing, an answer Coupler cannot
//! read) is recorded on the binding with its error and tried again after a back-off; nothing here
//! panics, and one binding's failure never stops another's look.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use coupler_core::flex::{EventKind, EventTargets, FlexEvent, LimitUnit, Program, ProgramKind};
use coupler_core::openadr::{backoff, SimpleAction, VtnBinding, VtnEventLink, VtnStatus};
use coupler_core::tariff::{PriceArea, Series, SeriesKind, SeriesOwner, SeriesSlot};
use coupler_core::StoreError;
use coupler_openadr::report::{EventReport, OperatingState, SiteInterval, SiteReport};
use coupler_openadr::{instructions, Ask, Instruction, VtnClient, VtnConfig, VtnError};
use coupler_tasks::Tasks;
use tokio::sync::{Mutex, Notify};
use tracing::Instrument;

use crate::extract::Caller;
use crate::routes::flex::{call_off, change_event, event_results, send_event, CreateEvent, UpdateEvent};
use crate::state::AppState;

/// The longest the task sleeps between looks for due bindings.
const TICK: Duration = Duration::from_secs(1);
/// The most bindings looked at in one pass.
const BATCH: u32 = 50;

static WAKE: LazyLock<Notify> = LazyLock::new(Notify::new);

/// Wakes the VEN task: a binding's look was made due now.
pub fn wake() {
    WAKE.notify_waiters();
}

/// The VTN clients, one per binding, kept so their tokens are reused.
#[derive(Debug, Default)]
struct Clients(Mutex<HashMap<String, Arc<VtnClient>>>);

impl Clients {
    async fn of(&self, program: &str, config: VtnConfig) -> Arc<VtnClient> {
        let mut clients = self.0.lock().await;
        match clients.get(program) {
            Some(client) if client.same_as(&config) => client.clone(),
            _ => {
                let client = Arc::new(VtnClient::new(config));
                clients.insert(program.to_owned(), client.clone());
                client
            }
        }
    }
}

/// Runs the VEN task until the server's `tasks` stop.
pub fn spawn(state: AppState, tasks: &Tasks) {
    let shutdown = tasks.token().clone();
    // One node looks at the VTNs: the one holding the job.
    let job = state
        .engine
        .leases()
        .singleton(coupler_engine::singleton::jobs::OPENADR);
    tasks.spawn("openadr ven", async move {
        let clients = Clients::default();
        loop {
            let woken = WAKE.notified();
            let now = state.now();
            let due = if job.held() {
                state.store.due_vtn_bindings(now, BATCH).await
            } else {
                Ok(Vec::new())
            };
            match due {
                Ok(due) => {
                    // Side by side: a VTN that takes its time does not hold up the others.
                    let looks = due.iter().map(|program| {
                        let (state, clients) = (&state, &clients);
                        async move {
                            if let Err(e) = look(state, clients, program).await {
                                tracing::warn!(program_id = %program, error = %e, "cannot look at a VTN binding");
                            }
                        }
                    });
                    futures::future::join_all(looks).await;
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the VTN bindings due"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = woken => {}
                _ = tokio::time::sleep(TICK) => {}
            }
        }
    });
}

/// What one look found wrong without the VTN failing as a whole (an event it cannot read).
type Problems = Vec<String>;

/// Looks at one binding's VTN and records how it went.
#[tracing::instrument(skip(state, clients), fields(program_id = %program))]
async fn look(state: &AppState, clients: &Clients, program: &coupler_core::flex::ProgramId) -> Result<(), StoreError> {
    let Some(binding) = state.store.vtn_binding_of_program(program).await? else {
        return Ok(());
    };
    let now = state.now();
    let Some(owned) = state.store.get_program(&binding.client_id, program).await? else {
        return Ok(());
    };
    let mut learnt = Learnt {
        ven_id: binding.ven_id.clone(),
        vtn_program_id: binding.vtn_program_id.clone(),
        subscription_id: binding.subscription_id.clone(),
    };
    let outcome = follow(state, clients, &binding, &owned, &mut learnt).await;
    let mut status = VtnStatus {
        last_poll_at: Some(now),
        last_success_at: binding.status.last_success_at,
        ..VtnStatus::default()
    };
    let interval = chrono::Duration::seconds(i64::from(binding.settings.poll_interval_seconds));
    match outcome {
        Ok(problems) if problems.is_empty() => {
            status.last_success_at = Some(now);
            status.next_poll_at = now + interval;
        }
        Ok(problems) => {
            // The VTN answered, but something it holds cannot be followed: shown, and looked at
            // again with back-off (the VTN's operator may fix it).
            status.last_success_at = Some(now);
            status.failures = binding.status.failures.saturating_add(1);
            status.last_error = Some(problems.join("; "));
            status.next_poll_at = now + backoff(status.failures, binding.settings.poll_interval_seconds);
        }
        Err(e) => {
            status.failures = binding.status.failures.saturating_add(1);
            status.last_error = Some(e.to_string());
            status.next_poll_at = now + backoff(status.failures, binding.settings.poll_interval_seconds);
            tracing::warn!(error = %e, failures = status.failures, "the VTN look failed");
        }
    }
    state
        .store
        .save_vtn_state(
            program,
            binding.wakes,
            learnt.ven_id.as_deref(),
            learnt.vtn_program_id.as_deref(),
            learnt.subscription_id.as_deref(),
            &status,
        )
        .await
}

/// What a look learnt of the VTN, kept even when it failed half-way.
#[derive(Debug)]
struct Learnt {
    ven_id: Option<String>,
    vtn_program_id: Option<String>,
    subscription_id: Option<String>,
}

/// Why a look failed as a whole.
#[derive(Debug, thiserror::Error)]
enum LookError {
    #[error(transparent)]
    Vtn(#[from] VtnError),
    #[error("the stored client secret cannot be read with this secret key")]
    Secret,
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
}

/// How to reach a binding's VTN, its client secret unsealed.
fn config_of(state: &AppState, binding: &VtnBinding) -> Result<VtnConfig, LookError> {
    let settings = &binding.settings;
    let credentials = match (&settings.client_id, &binding.client_secret_sealed) {
        (Some(id), Some(sealed)) => Some((id.clone(), state.cipher.decrypt(sealed).map_err(|_| LookError::Secret)?)),
        _ => None,
    };
    let mut config = VtnConfig::new(
        &settings.base_url,
        settings.token_url.as_deref(),
        credentials,
        settings.version,
    )?;
    config.allow_private = state.webhooks.allows_private();
    Ok(config)
}

/// Removes an unbound binding's webhook subscription from its VTN, in the background: best
/// effort, so the VTN stops notifying a callback that no longer answers. A failure (the VTN away,
/// credentials refused) is logged as a warning with the subscription named, for the VTN's
/// operator to remove by hand; it never undoes the unbinding.
pub fn unsubscribe_in_background(state: &AppState, binding: VtnBinding) {
    let Some(subscription_id) = binding.subscription_id.clone() else {
        return;
    };
    let removal_tasks = state.tasks.clone();
    let state = state.clone();
    let span = tracing::info_span!("openadr unsubscribe", program_id = %binding.program_id, subscription_id = %subscription_id);
    let removal = async move {
        let removed = match config_of(&state, &binding) {
            Ok(config) => VtnClient::new(config)
                .unsubscribe(&subscription_id)
                .await
                .map_err(LookError::from),
            Err(e) => Err(e),
        };
        match removed {
            Ok(()) => tracing::info!("the VTN subscription of an unbound program was removed"),
            Err(e) => tracing::warn!(
                error = %e,
                base_url = %binding.settings.base_url,
                "the VTN subscription of an unbound program could not be removed; it stays on the VTN"
            ),
        }
    };
    removal_tasks.spawn("openadr unsubscribe", removal.instrument(span));
}

async fn follow(
    state: &AppState,
    clients: &Clients,
    binding: &VtnBinding,
    program: &Program,
    learnt: &mut Learnt,
) -> Result<Problems, LookError> {
    let settings = &binding.settings;
    let client = clients
        .of(binding.program_id.as_str(), config_of(state, binding)?)
        .await;
    let vtn_program = client.program(&settings.vtn_program).await?;
    learnt.vtn_program_id = Some(vtn_program.id.clone());
    let ven_name = settings
        .ven_name
        .clone()
        .unwrap_or_else(|| format!("coupler-{}", binding.program_id));
    let ven_id = match &learnt.ven_id {
        Some(id) => id.clone(),
        None => client.ensure_ven(&ven_name).await?,
    };
    learnt.ven_id = Some(ven_id.clone());
    let enrolments = state.store.live_enrolments(&binding.client_id, &program.id).await?;
    let mut resources: Vec<String> = enrolments.iter().map(|e| e.device.id.clone()).collect();
    resources.sort();
    resources.dedup();
    if let Err(e) = client.ensure_resources(&ven_id, &resources).await {
        if matches!(e, VtnError::NotFound(_) | VtnError::Refused { .. }) {
            // The VTN no longer knows the VEN (its data was reset): registered again next look.
            learnt.ven_id = None;
        }
        return Err(e.into());
    }
    let mut problems = Problems::new();
    if let Some(callback) = &settings.callback_url {
        // A subscription the VTN no longer holds (its data was reset, its operator removed it) is
        // made again; one whose state cannot be read now is left for the next look.
        let held = match &learnt.subscription_id {
            Some(id) => match client.has_subscription(id).await {
                Ok(held) => Some(held),
                Err(e) => {
                    problems.push(format!("the webhook subscription cannot be read: {e}"));
                    None
                }
            },
            None => Some(false),
        };
        if held == Some(false) {
            learnt.subscription_id = None;
            let bearer = state
                .cipher
                .decrypt(&binding.callback_token_sealed)
                .map_err(|_| LookError::Secret)?;
            match client.subscribe(&ven_name, &vtn_program.id, callback, &bearer).await {
                Ok(id) => learnt.subscription_id = Some(id),
                // Polling goes on without it; the next look tries again.
                Err(e) => problems.push(format!("the webhook subscription was not taken: {e}")),
            }
        }
    }
    let events = client.events(&vtn_program.id).await?;
    let now = state.now();
    let caller = Caller {
        client_id: binding.client_id.clone(),
    };
    let links = state.store.vtn_event_links(&binding.program_id).await?;
    let mut by_key: BTreeMap<(String, i64), VtnEventLink> = links
        .into_iter()
        .map(|l| ((l.vtn_event_id.clone(), l.interval_id), l))
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut prices: Vec<SeriesSlot> = Vec::new();
    // Each readable event beside its priority and instructions.
    let mut readable: Vec<&coupler_openadr::wire::Event> = Vec::new();
    let mut settled: Vec<(Option<u32>, Vec<Instruction>)> = Vec::new();
    for event in &events {
        match instructions(event, vtn_program.payload_descriptors.as_deref(), now) {
            Ok(read) => {
                readable.push(event);
                settled.push((event.priority, read));
            }
            Err(e) => {
                problems.push(e.to_string());
                // An event that cannot be read now is not taken as gone.
                for key in by_key.keys().filter(|(id, _)| id == &event.id) {
                    seen.insert(key.clone());
                }
            }
        }
    }
    // Overlapping events: a lower priority never loosens a higher priority's cap.
    coupler_openadr::settle_priorities(&mut settled);
    for (event, (_, read)) in readable.into_iter().zip(settled) {
        for instruction in read {
            let key = (event.id.clone(), instruction.interval_id);
            seen.insert(key.clone());
            for ask in &instruction.asks {
                if let (Ask::Price(price), Some(end)) = (ask, instruction.end) {
                    prices.extend(quarter_hours(instruction.start, end, *price));
                }
            }
            let link = by_key.get(&key).cloned();
            if link
                .as_ref()
                .is_some_and(|l| l.fingerprint == instruction.fingerprint && l.gone_at.is_none())
            {
                continue;
            }
            let updated =
                follow_interval(state, &caller, program, settings, &event.id, &instruction, link, now).await?;
            state.store.save_vtn_event_link(&updated).await?;
            by_key.insert(key, updated);
        }
    }
    // Intervals the VTN no longer shows were deleted or cancelled there: so are their flex events.
    for (key, link) in by_key.iter_mut() {
        if seen.contains(key) || link.gone_at.is_some() {
            continue;
        }
        if let Some(id) = &link.flex_event_id {
            if let Some(event) = state.store.get_flex_event(&binding.client_id, id).await? {
                if event.cancelled_at.is_none() && event.end > now {
                    match call_off(state, &event).await {
                        Ok(()) => link.outcome = Some("cancelled: the VTN deleted or cancelled the event".to_owned()),
                        Err(e) => link.outcome = Some(format!("could not be cancelled: {}", e.detail_with_values())),
                    }
                }
            }
        }
        link.gone_at = Some(now);
        link.updated_at = now;
        state.store.save_vtn_event_link(link).await?;
    }
    if let (Some(area), false) = (&settings.price_area, prices.is_empty()) {
        if let Err(e) = push_prices(state, binding, area, prices).await {
            problems.push(format!("the VTN's prices could not be stored: {e}"));
        }
    }
    report(
        state,
        &client,
        &caller,
        binding,
        &vtn_program.id,
        &ven_name,
        &enrolments,
        &mut by_key,
        now,
    )
    .await?;
    Ok(problems)
}

/// The 15-minute slots from `start` to `end` at `price` (a window off the quarter hours is left out:
/// series slots start on quarter hours).
fn quarter_hours(start: DateTime<Utc>, end: DateTime<Utc>, price: f64) -> Vec<SeriesSlot> {
    let step = chrono::Duration::minutes(15);
    let mut slots = Vec::new();
    let mut at = start;
    while at + step <= end && slots.len() < 2976 {
        slots.push(SeriesSlot {
            start: at,
            end: at + step,
            value: price,
        });
        at += step;
    }
    slots
}

async fn push_prices(
    state: &AppState,
    binding: &VtnBinding,
    area: &str,
    mut slots: Vec<SeriesSlot>,
) -> Result<(), String> {
    slots.sort_by_key(|s| s.start);
    slots.dedup_by_key(|s| s.start);
    let area = PriceArea::parse(area).map_err(|e| e.to_string())?;
    let series = Series::new(SeriesKind::Price, slots).map_err(|e| e.to_string())?;
    let owner = SeriesOwner::Area {
        client: binding.client_id.clone(),
        area,
    };
    state
        .engine
        .push_series(owner, &series, None)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// What an interval asks of a program of `kind`: the flex event's kind, value and unit, or why
/// nothing is done.
fn flex_ask(
    kind: ProgramKind,
    settings: &coupler_core::openadr::VtnSettings,
    asks: &[Ask],
) -> Result<(EventKind, Option<f64>, Option<LimitUnit>), String> {
    for ask in asks {
        let mapped = match (kind, ask) {
            (ProgramKind::CapacityLimit, Ask::ImportLimitKw(kw)) => {
                Some((EventKind::ImportLimit, Some(*kw), Some(LimitUnit::Kilowatts)))
            }
            (_, Ask::Simple(level)) => match (kind, settings.simple_action(*level)) {
                (ProgramKind::Pause, SimpleAction::Pause) => Some((EventKind::Pause, None, None)),
                (ProgramKind::Shed, SimpleAction::Shed { kw }) => {
                    Some((EventKind::Shed, Some(kw), Some(LimitUnit::Kilowatts)))
                }
                (ProgramKind::CapacityLimit, SimpleAction::Limit { kw }) => {
                    Some((EventKind::ImportLimit, Some(kw), Some(LimitUnit::Kilowatts)))
                }
                _ => None,
            },
            _ => None,
        };
        if let Some(mapped) = mapped {
            return Ok(mapped);
        }
    }
    let names: Vec<&str> = asks
        .iter()
        .map(|a| match a {
            Ask::ImportLimitKw(_) => "IMPORT_CAPACITY_LIMIT",
            Ask::ExportLimitKw(_) => "EXPORT_CAPACITY_LIMIT (chargers here only import)",
            Ask::Simple(_) => "a SIMPLE level the program maps to nothing",
            Ask::Price(_) => "PRICE (goes to the price series)",
        })
        .collect();
    Err(if names.is_empty() {
        "nothing Coupler acts on".to_owned()
    } else {
        format!("nothing for a {} program: {}", kind.as_str(), names.join(", "))
    })
}

/// Follows one interval: creates its flex event, changes it, or replaces it (a new start);
/// the link as it stands after.
#[allow(
    clippy::too_many_arguments,
    reason = "one interval's whole context, read once by the caller"
)]
async fn follow_interval(
    state: &AppState,
    caller: &Caller,
    program: &Program,
    settings: &coupler_core::openadr::VtnSettings,
    vtn_event_id: &str,
    instruction: &Instruction,
    link: Option<VtnEventLink>,
    now: DateTime<Utc>,
) -> Result<VtnEventLink, StoreError> {
    let mut link = link.unwrap_or_else(|| VtnEventLink {
        program_id: program.id.clone(),
        vtn_event_id: vtn_event_id.to_owned(),
        interval_id: instruction.interval_id,
        flex_event_id: None,
        fingerprint: String::new(),
        outcome: None,
        report_id: None,
        report_fingerprint: None,
        gone_at: None,
        updated_at: now,
    });
    link.fingerprint = instruction.fingerprint.clone();
    link.gone_at = None;
    link.updated_at = now;
    let existing: Option<FlexEvent> = match &link.flex_event_id {
        Some(id) => state.store.get_flex_event(&caller.client_id, id).await?,
        None => None,
    };
    let live = existing.filter(|e| e.cancelled_at.is_none() && e.end > now);
    // A "now" event keeps the start it was first acted on; its length counts from there.
    let start = match (&live, instruction.starts_now) {
        (Some(event), true) => event.start,
        _ => instruction.start,
    };
    // An open-ended interval runs for the program's longest event from its start.
    let longest = chrono::Duration::minutes(i64::from(program.limits.max_event_minutes));
    let end = match instruction.end {
        Some(end) => start + (end - instruction.start),
        None => start.max(now) + longest,
    };
    if end <= now {
        link.outcome = Some("over before Coupler could act on it".to_owned());
        return Ok(link);
    }
    let asked = flex_ask(program.kind, settings, &instruction.asks);
    match (live, asked) {
        (Some(event), Ok((kind, value, unit))) if event.start == start && event.kind == kind => {
            let body = UpdateEvent {
                end: (event.end != end).then_some(end),
                value: (event.value != value).then_some(value).flatten(),
                unit: (event.unit != unit).then_some(unit).flatten(),
            };
            link.outcome = Some(match change_event(state, program, event, body).await {
                Ok(_) => "changed as the VTN changed it".to_owned(),
                Err(e) => format!("the VTN's change was refused: {}", e.detail_with_values()),
            });
        }
        (live, asked) => {
            if let Some(event) = live {
                // A new start (or kind) is a new event: the old one is called off first.
                if let Err(e) = call_off(state, &event).await {
                    link.outcome = Some(format!("could not be replaced: {}", e.detail_with_values()));
                    return Ok(link);
                }
                link.flex_event_id = None;
            }
            match asked {
                Ok((kind, value, unit)) => {
                    let minutes = u32::try_from(((end - start).num_seconds() + 59) / 60).unwrap_or(u32::MAX);
                    let body = CreateEvent {
                        start,
                        duration_minutes: minutes,
                        kind,
                        value,
                        unit,
                        targets: EventTargets {
                            program: true,
                            group_ids: Vec::new(),
                            enrolment_ids: Vec::new(),
                        },
                        max_random_delay_seconds: 0,
                        random_seed: None,
                        control_group_share: None,
                    };
                    match send_event(state, caller, program, body, true).await {
                        Ok(event) => {
                            tracing::info!(vtn_event_id, flex_event_id = %event.id, "VTN event followed into a flex event");
                            link.flex_event_id = Some(event.id);
                            link.outcome = Some("sent to the program's enrolments".to_owned());
                        }
                        Err(e) => link.outcome = Some(format!("refused: {}", e.detail_with_values())),
                    }
                }
                Err(why) => link.outcome = Some(why),
            }
        }
    }
    Ok(link)
}

/// Reports each flex event that has started, when its report says something new.
#[allow(
    clippy::too_many_arguments,
    reason = "the look's whole context, read once by the caller"
)]
async fn report(
    state: &AppState,
    client: &VtnClient,
    caller: &Caller,
    binding: &VtnBinding,
    vtn_program_id: &str,
    ven_name: &str,
    enrolments: &[coupler_core::flex::Enrolment],
    links: &mut BTreeMap<(String, i64), VtnEventLink>,
    now: DateTime<Utc>,
) -> Result<(), LookError> {
    let names: HashMap<&str, &str> = enrolments
        .iter()
        .map(|e| (e.id.as_str(), e.device.id.as_str()))
        .collect();
    for link in links.values_mut() {
        let Some(id) = &link.flex_event_id else {
            continue;
        };
        let Some(event) = state.store.get_flex_event(&caller.client_id, id).await? else {
            continue;
        };
        if now < event.start {
            continue;
        }
        let results = match event_results(state, caller, event, None).await {
            Ok(results) => results,
            Err(e) => {
                tracing::warn!(flex_event_id = %id, error = %e.detail_with_values(), "cannot measure a flex event for its report");
                continue;
            }
        };
        let sites = results
            .enrolments
            .iter()
            .map(|e| {
                let opted_out = e.opt_out.is_some() || !e.overrides.is_empty();
                let charging = e.intervals.last().is_some_and(|i| i.actual_kw > 0.05);
                SiteReport {
                    resource_name: names
                        .get(e.enrolment_id.as_str())
                        .map(|n| (*n).to_owned())
                        .or_else(|| e.charger_id.clone())
                        .or_else(|| e.vehicle_id.clone())
                        .unwrap_or_else(|| e.enrolment_id.clone()),
                    intervals: e
                        .intervals
                        .iter()
                        .map(|i| SiteInterval {
                            start: i.start,
                            end: i.end,
                            usage_kwh: i.actual_kwh,
                            demand_kw: i.actual_kw,
                        })
                        .collect(),
                    state: OperatingState::of(charging, opted_out, e.role == "TREATED"),
                }
            })
            .collect();
        let has_baseline = results.totals.intervals_without_baseline == 0 && !results.intervals.is_empty();
        let report = EventReport {
            event_id: link.vtn_event_id.clone(),
            program_id: vtn_program_id.to_owned(),
            client_name: ven_name.to_owned(),
            report_name: format!("{}:{}", id, link.interval_id),
            start: results.start,
            end: results.end.min(now).max(results.start),
            baseline_kwh: has_baseline.then_some(results.totals.baseline_kwh),
            delta_usage_kwh: has_baseline.then_some(results.totals.delivered_kwh),
            sites,
        };
        let version = binding.settings.version;
        let fingerprint = report.fingerprint(version);
        if link.report_fingerprint.as_deref() == Some(fingerprint.as_str()) {
            continue;
        }
        let body = report.to_json(version);
        match &link.report_id {
            Some(report_id) => client.update_report(report_id, &body).await?,
            None => link.report_id = Some(client.create_report(&body).await?),
        }
        link.report_fingerprint = Some(fingerprint);
        link.updated_at = now;
        state.store.save_vtn_event_link(link).await?;
    }
    Ok(())
}
