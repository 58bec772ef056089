//! The rolling 24-hour forecast of a program's or a group's flexible load: the store's view of
//! each enrolled device (its past sessions, its present plug-in, its smart-charging plan and the
//! limits in force) handed to core's pure forecast.

use chrono_tz::Tz;
use coupler_core::costs::StatisticsScope;
use coupler_core::flex::{forecast, DeviceOutlook, PastStay, PluggedNow, PowerCap, SlotLength, HABIT_LOOKBACK_DAYS};
use coupler_core::smart::{PlanState, SmartPlan};
use utoipa::IntoParams;

use super::*;

/// How many devices' records are read at a time.
const READ_AT_ONCE: usize = 8;

/// How finely to forecast.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ForecastQuery {
    /// Slot length: `PT15M` (96 quarter-hours, the default) or `PT1H` (24 hours).
    #[param(example = "PT1H")]
    pub resolution: Option<String>,
}

/// One slot of a forecast, summed over the enrolled devices.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ForecastSlotBody {
    /// Where the slot starts.
    pub start: DateTime<Utc>,
    /// Where it ends.
    pub end: DateTime<Utc>,
    /// How many devices are expected to be plugged in (an expectation, so it may be fractional).
    #[schema(example = 12.4)]
    pub plugged_in: f64,
    /// The load they are expected to draw, kW (the mean over the slot).
    #[schema(example = 61.2)]
    pub load_kw: f64,
    /// How much of that load could be shed or deferred with every plug-in still getting its energy
    /// before it ends, kW.
    #[schema(example = 48.0)]
    pub flexible_kw: f64,
}

/// A rolling 24-hour forecast of flexible load.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ForecastResponse {
    /// The program.
    pub program_id: String,
    /// The group, for a group's forecast.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// When it was made.
    pub made_at: DateTime<Utc>,
    /// Its window's start: the start of the slot holding `madeAt`.
    pub from: DateTime<Utc>,
    /// Its window's end, 24 hours on.
    pub to: DateTime<Utc>,
    /// The slot length.
    pub resolution: SlotLength,
    /// How many enrolments it covers (ACTIVE and PENDING ones: those an event would be sent to).
    pub devices: usize,
    /// How many of their devices are plugged in now.
    pub plugged_in_now: usize,
    /// How many of their devices have past plug-ins (in the last 28 days) to forecast from; the
    /// others count only while plugged in now.
    pub with_habits: usize,
    /// The slots, in order.
    pub slots: Vec<ForecastSlotBody>,
}

fn resolution(query: &ForecastQuery) -> Result<SlotLength, ApiError> {
    match query.resolution.as_deref() {
        None => Ok(SlotLength::QuarterHour),
        Some(raw) => SlotLength::parse(raw).ok_or_else(|| {
            ApiError::invalid("the forecast's resolution is not known").at(crate::error::InvalidValue::named(
                crate::error::ValueLocation::Query,
                "resolution",
                format!("resolution must be PT15M or PT1H, not '{raw}'"),
            ))
        }),
    }
}

/// A rolling 24-hour forecast of a program's enrolled devices: how many are expected to be
/// plugged in, the load they are expected to draw and how much of it could be shed or deferred, per
/// quarter-hour or hour, from each device's past plug-ins (by working day or weekend and time of
/// day), whether it is plugged in now, its smart-charging deadline, target and plan, and the limits
/// in force (events included).
#[utoipa::path(
    get,
    path = "/programs/{programId}/forecast",
    tag = "flex",
    params(("programId" = String, Path, description = "The program's id"), ForecastQuery),
    responses(
        (status = 200, description = "The forecast", body = ForecastResponse),
        (status = 404, description = "The client has no such program", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn get_program_forecast(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<ForecastQuery>,
) -> Result<ApiJson<ForecastResponse>, ApiError> {
    let slot = resolution(&query)?;
    let program = owned_program(&state, &caller, &id).await?;
    let enrolments = state.store.live_enrolments(&caller.client_id, &program.id).await?;
    answer(
        &state,
        &caller,
        &program,
        None,
        &enrolments.iter().collect::<Vec<_>>(),
        slot,
    )
    .await
}

/// The same forecast for one of a program's groups: the enrolments it holds now.
#[utoipa::path(
    get,
    path = "/programs/{programId}/groups/{groupId}/forecast",
    tag = "flex",
    params(("programId" = String, Path, description = "The program's id"), ("groupId" = String, Path, description = "The group's id"), ForecastQuery),
    responses(
        (status = 200, description = "The forecast", body = ForecastResponse),
        (status = 404, description = "The client has no such program or group", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn get_group_forecast(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath((program_id, group_id)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<ForecastQuery>,
) -> Result<ApiJson<ForecastResponse>, ApiError> {
    let slot = resolution(&query)?;
    let group = owned_group(&state, &caller, &program_id, &group_id).await?;
    let program = owned_program(&state, &caller, &program_id).await?;
    let enrolments = state.store.live_enrolments(&caller.client_id, &program.id).await?;
    let members = group.members(&enrolments);
    answer(&state, &caller, &program, Some(&group), &members, slot).await
}

#[tracing::instrument(skip_all, fields(program_id = %program.id, devices = enrolments.len()))]
async fn answer(
    state: &AppState,
    caller: &Caller,
    program: &Program,
    group: Option<&Group>,
    enrolments: &[&Enrolment],
    slot: SlotLength,
) -> Result<ApiJson<ForecastResponse>, ApiError> {
    let now = state.now();
    let plans: Vec<SmartPlan> = state
        .store
        .live_smart_plans()
        .await?
        .into_iter()
        .filter(|p| p.client_id == caller.client_id && p.state != PlanState::Ended)
        .collect();
    // A few devices are read at a time: their reads are independent.
    let taking_part: Vec<&Enrolment> = enrolments
        .iter()
        .copied()
        .filter(|e| matches!(e.state.status, EnrolmentStatus::Active | EnrolmentStatus::Pending))
        .collect();
    let mut devices = Vec::with_capacity(taking_part.len());
    for chunk in taking_part.chunks(READ_AT_ONCE) {
        let mut reads = Vec::with_capacity(chunk.len());
        for enrolment in chunk {
            reads.push(outlook(state, caller, enrolment, &plans, now));
        }
        for device in futures::future::join_all(reads).await {
            devices.extend(device?);
        }
    }
    let made = forecast(&devices, now, slot);
    Ok(ApiJson(ForecastResponse {
        program_id: program.id.as_str().to_owned(),
        group_id: group.map(|g| g.id.as_str().to_owned()),
        made_at: now,
        from: made.from,
        to: made.to,
        resolution: made.slot,
        devices: made.devices,
        plugged_in_now: made.plugged_in_now,
        with_habits: made.with_habits,
        slots: made
            .slots
            .into_iter()
            .map(|s| ForecastSlotBody {
                start: s.start,
                end: s.end,
                plugged_in: s.plugged_in,
                load_kw: s.load_kw,
                flexible_kw: s.flexible_kw,
            })
            .collect(),
    }))
}

/// What the store knows of an enrolment's device, for its forecast; `None` when the device is gone.
async fn outlook(
    state: &AppState,
    caller: &Caller,
    enrolment: &Enrolment,
    plans: &[SmartPlan],
    now: DateTime<Utc>,
) -> Result<Option<DeviceOutlook>, ApiError> {
    let store = &state.store;
    let client = &caller.client_id;
    let smart = state.smart.config();
    let kw_per_amp = smart.phase_voltage * f64::from(smart.phases.max(1)) / 1000.0;
    let since = now - Duration::days(HABIT_LOOKBACK_DAYS);
    let (charger_id, vehicle_id) = match enrolment.device.kind {
        FlexDeviceKind::Charger => (Some(ChargerId::new(enrolment.device.id.as_str())), None),
        FlexDeviceKind::Vehicle => (None, Some(VehicleId::new(enrolment.device.id.as_str()))),
        FlexDeviceKind::EvSystem => match store
            .get_ev_system(client, &EvSystemId::new(enrolment.device.id.as_str()))
            .await?
        {
            Some(pair) => (Some(pair.charger_id), Some(pair.vehicle_id)),
            None => return Ok(None),
        },
    };
    let vehicle = match &vehicle_id {
        Some(id) => store.get_vehicle(client, id).await?,
        None => None,
    };
    let car_max_a = vehicle
        .as_ref()
        .and_then(|v| v.charge_state.max_current)
        .unwrap_or(smart.default_max_current_a);
    let Some(charger_id) = charger_id else {
        // A vehicle without a charger: its sessions where it was recognised, and its maker's view.
        let Some(vehicle) = vehicle else {
            return Ok(None);
        };
        let sessions = store
            .sessions_overlapping(client, &StatisticsScope::Vehicle(vehicle.id.clone()), since, now, 1000)
            .await?;
        let charge = &vehicle.charge_state;
        let plan = plans.iter().find(|p| p.vehicle_id.as_ref() == Some(&vehicle.id));
        let now_state = (charge.is_plugged_in == Some(true)).then(|| {
            let mut present = PluggedNow {
                since: vehicle.plugged_in_seen_at,
                power_kw: charge.charge_rate.unwrap_or(0.0).max(0.0),
                ..PluggedNow::default()
            };
            if let Some(plan) = plan {
                from_plan(&mut present, plan);
            } else if let (Some(level), Some(limit), Some(capacity)) =
                (charge.battery_level, charge.charge_limit, charge.battery_capacity)
            {
                present.energy_needed_kwh = Some(((limit - level).max(0.0) / 100.0 * capacity) / smart.efficiency);
            }
            present
        });
        return Ok(Some(DeviceOutlook {
            max_power_kw: car_max_a * kw_per_amp,
            time_zone: Tz::UTC,
            known_since: vehicle.created_at,
            stays: stays(&sessions),
            now: now_state,
            caps: Vec::new(),
        }));
    };
    let Some(charger) = store.get_charger(client, &charger_id).await? else {
        return Ok(None);
    };
    let time_zone = match &charger.location_id {
        Some(location) => store
            .get_location(client, &LocationId::new(location.as_str()))
            .await?
            .and_then(|l| l.fields.timezone_name.parse::<Tz>().ok())
            .unwrap_or(Tz::UTC),
        None => Tz::UTC,
    };
    let sessions = store
        .sessions_overlapping(client, &StatisticsScope::Charger(charger.id.clone()), since, now, 1000)
        .await?;
    let present = store.active_session(&charger.id).await?.map(|session| {
        let mut present = PluggedNow {
            since: Some(session.started_at),
            power_kw: charger.meter.power_w.unwrap_or(0.0).max(0.0) / 1000.0,
            delivered_kwh: session.energy_kwh(),
            ..PluggedNow::default()
        };
        if let Some(plan) = plans.iter().find(|p| p.charger_id.as_ref() == Some(&charger.id)) {
            from_plan(&mut present, plan);
        }
        present
    });
    let caps = store
        .limit_sources_of_charger(&charger.id)
        .await?
        .into_iter()
        // A smart-charging plan moves load rather than capping it; it is read as the plan.
        .filter(|s| s.kind != LimitSourceKind::Schedule && !s.is_over(now))
        .map(|s| PowerCap {
            from: s.valid_from,
            to: s.valid_to,
            max_kw: s.max_current_a * kw_per_amp,
        })
        .collect();
    let max_a = charger.max_current.map_or(car_max_a, |set| set.min(car_max_a));
    Ok(Some(DeviceOutlook {
        max_power_kw: max_a * kw_per_amp,
        time_zone,
        known_since: charger.created_at,
        stays: stays(&sessions),
        now: present,
        caps,
    }))
}

/// The finished sessions as plug-ins.
fn stays(sessions: &[coupler_core::ChargeSession]) -> Vec<PastStay> {
    sessions
        .iter()
        .filter_map(|s| {
            s.stopped_at.map(|left_at| PastStay {
                arrived_at: s.started_at,
                left_at,
                energy_kwh: s.energy_kwh(),
            })
        })
        .collect()
}

/// What a live smart-charging plan says of its plug-in: its deadline, and its slots while it is
/// carried out, or else the energy its target still wants.
fn from_plan(present: &mut PluggedNow, plan: &SmartPlan) {
    let details = &plan.details;
    present.deadline = details.deadline;
    match (&details.plan, plan.state) {
        (Some(planned), PlanState::Executing) => {
            present.plan = planned.slots.iter().map(|s| (s.start, s.end, s.power_kw)).collect();
        }
        _ => {
            present.energy_needed_kwh = details
                .target
                .energy_kwh
                .map(|wanted| (wanted - details.metered_kwh).max(0.0))
                .or_else(|| details.plan.as_ref().map(|p| p.expected_energy_kwh));
        }
    }
}
