//! Simulated neighbourhoods: many households at once, each a user with a home (a location), a
//! simulated charger there and a simulated car that commutes to it with habits drawn from a seed,
//! optionally enrolled in one of the client's programs, so that a flexibility event can be tried on
//! a street of homes at the sandbox clock's pace. Only under `coupler serve --sandbox`; otherwise
//! 404.
//!
//! Everything is checked before anything is made; a failure part-way takes back what was made.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use coupler_core::flex::{
    check_eligibility, Consent, DeviceFacts, EnrolledDevice, Enrolment, EnrolmentId, EnrolmentState, FlexDeviceKind,
    ProgramId, Verdict,
};
use coupler_core::location::{Location, LocationFields, LocationId, Point};
use coupler_core::sandbox::{
    Commute, Household, HouseholdPattern, Neighbourhood, NeighbourhoodArea, NewSimulatedCharger, NewSimulatedVehicle,
    Sandbox,
};
use coupler_core::{ChargerId, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::chargers::{register, RegisterCharger};
use super::sandbox::sandbox;
use crate::error::{ApiError, InvalidValue, Problem};
use crate::extract::{ApiJson, ApiPath, Caller};
use crate::state::AppState;

/// The most households one neighbourhood has.
pub const MAX_HOUSEHOLDS: u32 = 1000;

/// A neighbourhood to simulate.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateNeighbourhood {
    /// How many households, 1 to 1000.
    #[schema(minimum = 1, maximum = 1000, example = 20)]
    pub households: u32,
    /// The seed the households' habits are drawn from (the same seed draws the same households);
    /// random when absent.
    #[schema(example = 42)]
    pub seed: Option<u64>,
    /// What people call it; `Neighbourhood` when absent.
    pub name: Option<String>,
    /// Its centre: latitude, degrees (52.09 when absent).
    #[schema(minimum = -90, maximum = 90)]
    pub latitude: Option<f64>,
    /// Its centre: longitude, degrees (5.12 when absent).
    #[schema(minimum = -180, maximum = 180)]
    pub longitude: Option<f64>,
    /// How far homes lie from the centre, kilometres (above 0, at most 50; 1 when absent).
    pub radius_km: Option<f64>,
    /// The households' IANA time zone (their arrivals and departures are local times); UTC when
    /// absent.
    #[schema(example = "Europe/Amsterdam")]
    pub time_zone: Option<String>,
    /// One of your programs to enrol every household's charger in (with the household's consent
    /// recorded as given by the simulation).
    pub program_id: Option<String>,
    /// The OCPP version the chargers speak, `1.6` (when absent) or `2.0.1`.
    #[schema(value_type = Option<coupler_core::charger::OcppProtocol>)]
    pub ocpp_version: Option<String>,
}

/// The state of charge a household's car comes home with: drawn anew each evening between the two.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArrivalRange {
    /// Lowest, percent.
    pub min: f64,
    /// Highest, percent.
    pub max: f64,
}

/// A household: a user with a home, a simulated charger there, and a commuting simulated car.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HouseholdBody {
    /// The user.
    pub user_id: String,
    /// Their home (a location).
    pub location_id: String,
    /// Coupler's id of their simulated charger.
    pub charger_id: String,
    /// The maker's id of their simulated car.
    pub vehicle_id: String,
    /// Their charger's enrolment, when the neighbourhood was enrolled in a program.
    pub enrolment_id: Option<String>,
    /// The car's simulated brand.
    pub brand: String,
    /// The most current the car draws, amperes per phase.
    pub max_current: u32,
    /// When the car comes home, local time.
    #[schema(example = "18:05")]
    pub arrive: String,
    /// When it leaves, local time.
    #[schema(example = "07:20")]
    pub leave: String,
    /// The charge it comes home with.
    pub arrival_battery_level: ArrivalRange,
    /// Where the home is: latitude, degrees.
    pub latitude: f64,
    /// Where the home is: longitude, degrees.
    pub longitude: f64,
    /// Whether the car is plugged into its charger now.
    pub at_home: bool,
    /// The car's state of charge now, percent.
    pub battery_level: Option<f64>,
    /// Power the car draws now, kW.
    pub charge_rate: f64,
}

/// A simulated neighbourhood.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NeighbourhoodBody {
    /// Identifier.
    pub id: String,
    /// What people call it.
    pub name: String,
    /// The seed its households were drawn from.
    pub seed: u64,
    /// The program its chargers were enrolled in.
    pub program_id: Option<String>,
    /// Its centre: latitude, degrees.
    pub latitude: f64,
    /// Its centre: longitude, degrees.
    pub longitude: f64,
    /// How far homes lie from the centre, kilometres.
    pub radius_km: f64,
    /// The households' time zone.
    pub time_zone: String,
    /// When it was made (sandbox time).
    pub created_at: DateTime<Utc>,
    /// How many cars are plugged in at home now.
    pub at_home: usize,
    /// Power the neighbourhood's cars draw now, kW.
    pub charge_rate: f64,
    /// Its households, in the order they were drawn.
    pub households: Vec<HouseholdBody>,
}

fn hh_mm(time: chrono::NaiveTime) -> String {
    time.format("%H:%M").to_string()
}

async fn body(sandbox: &dyn Sandbox, caller: &Caller, n: Neighbourhood) -> NeighbourhoodBody {
    let cars: std::collections::HashMap<String, coupler_core::sandbox::SimulatedVehicle> = sandbox
        .list_vehicles(&caller.client_id)
        .await
        .into_iter()
        .map(|v| (v.id.clone(), v))
        .collect();
    let households: Vec<HouseholdBody> = n
        .households
        .into_iter()
        .map(|h| {
            let car = cars.get(&h.vehicle_id);
            let p = h.pattern;
            HouseholdBody {
                user_id: h.user_id.as_str().to_owned(),
                location_id: h.location_id,
                charger_id: h.charger_id.as_str().to_owned(),
                vehicle_id: h.vehicle_id,
                enrolment_id: h.enrolment_id,
                brand: p.brand,
                max_current: p.max_current,
                arrive: hh_mm(p.arrive),
                leave: hh_mm(p.leave),
                arrival_battery_level: ArrivalRange {
                    min: p.arrival_level_min,
                    max: p.arrival_level_max,
                },
                latitude: p.latitude,
                longitude: p.longitude,
                at_home: car.is_some_and(|c| c.charger_id.as_ref() == Some(&h.charger_id)),
                battery_level: car.map(|c| c.battery_level),
                charge_rate: car.map_or(0.0, |c| c.power_kw),
            }
        })
        .collect();
    NeighbourhoodBody {
        id: n.id,
        name: n.name,
        seed: n.seed,
        program_id: n.program_id,
        latitude: n.area.latitude,
        longitude: n.area.longitude,
        radius_km: n.area.radius_km,
        time_zone: n.area.time_zone.name().to_owned(),
        created_at: n.created_at,
        at_home: households.iter().filter(|h| h.at_home).count(),
        charge_rate: (households.iter().map(|h| h.charge_rate).sum::<f64>() * 100.0).round() / 100.0,
        households,
    }
}

/// Creates a simulated neighbourhood: `households` users, each with a home (a location within the
/// radius), a simulated OCPP charger there and a simulated car that commutes to it every day with
/// habits drawn from the seed (most come home around 18:00 and leave around 07:30; cars take 10, 16
/// or 32 A and come home with different charges), optionally enrolled in one of your programs.
/// Run the sandbox clock faster to watch evenings come (`PUT /sandbox/clock`).
#[utoipa::path(
    post,
    path = "/sandbox/neighbourhoods",
    tag = "sandbox",
    request_body = CreateNeighbourhood,
    responses(
        (status = 201, description = "Created, its chargers connecting", body = NeighbourhoodBody),
        (status = 404, description = "Not in sandbox mode, or no such program of yours", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A value is out of range, or the program does not take the households' chargers", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
#[tracing::instrument(skip_all, fields(households = body_in.households))]
pub async fn create_neighbourhood(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(body_in): ApiJson<CreateNeighbourhood>,
) -> Result<(StatusCode, ApiJson<NeighbourhoodBody>), ApiError> {
    let sandbox = sandbox(&state)?;
    let mut problems = Vec::new();
    if !(1..=MAX_HOUSEHOLDS).contains(&body_in.households) {
        problems.push(InvalidValue::body("/households", "households must be from 1 to 1000"));
    }
    let latitude = body_in.latitude.unwrap_or(52.09);
    if !latitude.is_finite() || !(-90.0..=90.0).contains(&latitude) {
        problems.push(InvalidValue::body("/latitude", "latitude must be from -90 to 90"));
    }
    let longitude = body_in.longitude.unwrap_or(5.12);
    if !longitude.is_finite() || !(-180.0..=180.0).contains(&longitude) {
        problems.push(InvalidValue::body("/longitude", "longitude must be from -180 to 180"));
    }
    let radius_km = body_in.radius_km.unwrap_or(1.0);
    if !radius_km.is_finite() || radius_km <= 0.0 || radius_km > 50.0 {
        problems.push(InvalidValue::body(
            "/radiusKm",
            "radiusKm must be above 0 and at most 50",
        ));
    }
    let time_zone = match body_in.time_zone.as_deref() {
        None => Some(chrono_tz::UTC),
        Some(name) => {
            let parsed = name.parse::<chrono_tz::Tz>().ok();
            if parsed.is_none() {
                problems.push(InvalidValue::body(
                    "/timeZone",
                    format!("timeZone '{name}' is not an IANA time zone"),
                ));
            }
            parsed
        }
    };
    let ocpp_version = body_in.ocpp_version.clone().unwrap_or_else(|| "1.6".to_owned());
    if !matches!(ocpp_version.as_str(), "1.6" | "2.0.1") {
        problems.push(InvalidValue::body(
            "/ocppVersion",
            "ocppVersion must be \"1.6\" or \"2.0.1\"",
        ));
    }
    let name = body_in.name.as_deref().map_or("Neighbourhood", str::trim).to_owned();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        problems.push(InvalidValue::body("/name", "name must be 1 to 100 characters"));
    }
    let (Some(time_zone), true) = (time_zone, problems.is_empty()) else {
        return Err(problems
            .into_iter()
            .fold(ApiError::invalid("the neighbourhood is not valid"), ApiError::at));
    };
    let program = match &body_in.program_id {
        Some(id) => Some(
            state
                .store
                .get_program(&caller.client_id, &ProgramId::new(id.as_str()))
                .await?
                .ok_or_else(|| ApiError::not_found(format!("no program '{id}'")))?,
        ),
        None => None,
    };
    let seed = body_in.seed.unwrap_or_else(rand::random);
    let area = NeighbourhoodArea {
        latitude,
        longitude,
        radius_km,
        time_zone,
    };
    let patterns = sandbox.draw_households(seed, body_in.households as usize, &area);
    // Every household must qualify before anything is made.
    let mut verdicts = Vec::new();
    if let Some(program) = &program {
        for (i, p) in patterns.iter().enumerate() {
            let facts = DeviceFacts {
                smart_charging_profiles: None,
                start_stop: Some(true),
                set_max_current: None,
                position: Some(Point {
                    latitude: p.latitude,
                    longitude: p.longitude,
                }),
            };
            let verdict = check_eligibility(&program.eligibility, FlexDeviceKind::Charger, &facts, false);
            if let Verdict::Ineligible(_) = &verdict {
                return Err(ApiError::invalid(format!(
                    "household {i}'s charger is not eligible for the program: {}",
                    verdict.summary().unwrap_or_default()
                ))
                .at(InvalidValue::body(
                    "/programId",
                    "the program does not take the households' chargers",
                )));
            }
            verdicts.push(verdict);
        }
    }
    let mut neighbourhood = Neighbourhood {
        id: format!("nbh-{:08x}", rand::random::<u32>()),
        client: caller.client_id.clone(),
        name,
        seed,
        area,
        program_id: program.as_ref().map(|p| p.id.as_str().to_owned()),
        created_at: state.now(),
        households: Vec::with_capacity(patterns.len()),
    };
    // Made on a task of its own: a request that gives up (a client's timeout) still leaves a whole
    // neighbourhood or none, never half of one.
    let (task_state, task_caller, task_sandbox) = (state.clone(), caller.clone(), sandbox.clone());
    let made = tokio::spawn(async move {
        let made = populate(
            &task_state,
            &task_caller,
            task_sandbox.as_ref(),
            &mut neighbourhood,
            patterns,
            program.as_ref().map(|p| (p, verdicts)),
            &ocpp_version,
        )
        .await;
        match made {
            Ok(()) => {
                tracing::info!(neighbourhood = %neighbourhood.id, households = neighbourhood.households.len(), "a simulated neighbourhood was made");
                task_sandbox.put_neighbourhood(neighbourhood.clone()).await;
                Ok(neighbourhood)
            }
            Err(error) => {
                tracing::warn!(neighbourhood = %neighbourhood.id, error = %error, "a neighbourhood could not be made; taking back what was");
                tear_down(&task_state, &task_caller, task_sandbox.as_ref(), &neighbourhood.households).await;
                Err(error)
            }
        }
    })
    .await
    .map_err(ApiError::internal)?;
    let neighbourhood = made?;
    Ok((
        StatusCode::CREATED,
        ApiJson(body(sandbox.as_ref(), &caller, neighbourhood).await),
    ))
}

/// A household made with its charger to connect, or what was made of it and why not more.
type HouseholdMade = Result<(Household, NewSimulatedCharger), (Household, ApiError)>;

/// How many households are made at a time.
const MADE_AT_ONCE: usize = 8;

/// Makes the households, a few at a time (each recorded in `neighbourhood` once it exists, so a
/// failure can take it back), then connects their chargers in one batch and starts the commutes.
async fn populate(
    state: &AppState,
    caller: &Caller,
    sandbox: &dyn Sandbox,
    neighbourhood: &mut Neighbourhood,
    patterns: Vec<HouseholdPattern>,
    program: Option<(&coupler_core::flex::Program, Vec<Verdict>)>,
    ocpp_version: &str,
) -> Result<(), ApiError> {
    use futures::StreamExt;
    let now = state.now();
    let tz_name = neighbourhood.area.time_zone.name().to_owned();
    let id = neighbourhood.id.clone();
    let program = program.as_ref();
    // Every user id is checked before anything is made.
    let users = (0..patterns.len())
        .map(|i| UserId::parse(&format!("{id}-{i:04}")).map_err(|e| ApiError::invalid(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let mut results: Vec<(usize, HouseholdMade)> = futures::stream::iter(patterns.into_iter().enumerate())
        .map(|(i, pattern)| {
            let enrol = program.map(|(p, verdicts)| (*p, &verdicts[i]));
            let (id, tz_name, user) = (&id, &tz_name, users[i].clone());
            async move {
                let made = household(
                    state,
                    caller,
                    sandbox,
                    id,
                    tz_name,
                    (i, user),
                    pattern,
                    enrol,
                    ocpp_version,
                    now,
                )
                .await;
                (i, made)
            }
        })
        .buffer_unordered(MADE_AT_ONCE)
        .collect()
        .await;
    results.sort_by_key(|(i, _)| *i);
    let mut chargers = Vec::with_capacity(results.len());
    let mut failure = None;
    for (_, made) in results {
        match made {
            Ok((household, charger)) => {
                neighbourhood.households.push(household);
                chargers.push(charger);
            }
            Err((partial, error)) => {
                neighbourhood.households.push(partial);
                failure.get_or_insert(error);
            }
        }
    }
    if let Some(error) = failure {
        return Err(error);
    }
    let client = &caller.client_id;
    sandbox.add_chargers(client, chargers).await?;
    for h in &neighbourhood.households {
        let commute = Commute {
            charger_id: h.charger_id.clone(),
            arrive: h.pattern.arrive,
            leave: h.pattern.leave,
            time_zone: neighbourhood.area.time_zone,
            arrival_level_min: h.pattern.arrival_level_min,
            arrival_level_max: h.pattern.arrival_level_max,
        };
        sandbox.set_commute(client, &h.vehicle_id, commute).await?;
    }
    Ok(())
}

/// Makes household `i`: its user, home, registered charger, simulated car and enrolment; on a
/// failure, what was made of it (to take back) and why.
#[allow(clippy::too_many_arguments)]
async fn household(
    state: &AppState,
    caller: &Caller,
    sandbox: &dyn Sandbox,
    neighbourhood: &str,
    tz_name: &str,
    (i, user): (usize, UserId),
    pattern: HouseholdPattern,
    enrol: Option<(&coupler_core::flex::Program, &Verdict)>,
    ocpp_version: &str,
    now: DateTime<Utc>,
) -> HouseholdMade {
    let client = &caller.client_id;
    let raw_user = user.as_str().to_owned();
    let mut made = Household {
        user_id: user.clone(),
        location_id: String::new(),
        charger_id: ChargerId::new(""),
        vehicle_id: String::new(),
        enrolment_id: None,
        pattern,
    };
    let steps = async {
        state.store.upsert_user(client, &user).await?;
        let fields = LocationFields::new("Home", made.pattern.latitude, made.pattern.longitude, tz_name)
            .map_err(|e| ApiError::invalid(e.to_string()))?;
        let location = Location {
            id: LocationId::generate(),
            client_id: client.clone(),
            user_id: user.clone(),
            fields,
            created_at: now,
            updated_at: now,
        };
        state.store.insert_location(&location).await?;
        made.location_id = location.id.as_str().to_owned();
        let registered = register(
            state,
            caller,
            &raw_user,
            RegisterCharger {
                ocpp_id: format!("{}-{i:04}", neighbourhood.to_uppercase()),
                name: Some("Home charger".to_owned()),
                location_id: Some(made.location_id.clone()),
            },
        )
        .await?;
        made.charger_id = ChargerId::new(&registered.charger.id);
        let car = sandbox
            .create_vehicle(
                client,
                NewSimulatedVehicle {
                    brand: made.pattern.brand.clone(),
                    battery_level: Some(made.pattern.battery_level),
                    charge_limit: Some(made.pattern.charge_limit),
                    max_current: Some(made.pattern.max_current),
                    ..NewSimulatedVehicle::default()
                },
            )
            .await?;
        made.vehicle_id = car.id;
        if let Some((program, verdict)) = enrol {
            let enrolment = Enrolment {
                id: EnrolmentId::generate(),
                client_id: client.clone(),
                program_id: program.id.clone(),
                user_id: user.clone(),
                device: EnrolledDevice {
                    kind: FlexDeviceKind::Charger,
                    id: made.charger_id.as_str().to_owned(),
                },
                state: EnrolmentState::enrolled(verdict),
                consent: Consent {
                    data_shared: vec!["chargingSessions".to_owned(), "meterReadings".to_owned()],
                    how_to_leave: "a simulated household: delete its neighbourhood".to_owned(),
                    given_at: now,
                },
                created_at: now,
                updated_at: now,
            };
            state.store.insert_enrolment(&enrolment).await?;
            made.enrolment_id = Some(enrolment.id.as_str().to_owned());
        }
        Ok::<_, ApiError>(NewSimulatedCharger {
            charger_id: made.charger_id.clone(),
            user_id: user,
            ocpp_id: registered.charger.ocpp_id.clone(),
            ocpp_url: registered.charger.ocpp_url.clone(),
            password: registered.password,
            ocpp_version: ocpp_version.to_owned(),
            auto_start: true,
            sends_vehicle_identity: false,
        })
    };
    match steps.await {
        Ok(charger) => Ok((made, charger)),
        Err(error) => Err((made, error)),
    }
}

/// Takes households out of the sandbox and out of Coupler (their users with everything of theirs).
async fn tear_down(state: &AppState, caller: &Caller, sandbox: &dyn Sandbox, households: &[Household]) {
    for h in households {
        // Parts already gone are fine: the aim is that none is left.
        let _ = sandbox.remove_vehicle(&caller.client_id, &h.vehicle_id).await;
        let _ = sandbox.remove_charger(&caller.client_id, &h.charger_id).await;
        if let Err(error) = state.store.delete_user(&caller.client_id, &h.user_id).await {
            tracing::warn!(user_id = %h.user_id, %error, "cannot delete a simulated household's user");
        }
    }
}

/// A neighbourhood in a list.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NeighbourhoodSummary {
    /// Identifier.
    pub id: String,
    /// What people call it.
    pub name: String,
    /// The seed its households were drawn from.
    pub seed: u64,
    /// How many households it has.
    pub households: usize,
    /// The program its chargers were enrolled in.
    pub program_id: Option<String>,
    /// When it was made (sandbox time).
    pub created_at: DateTime<Utc>,
}

/// Your simulated neighbourhoods.
#[derive(Debug, Serialize, ToSchema)]
pub struct NeighbourhoodList {
    /// The neighbourhoods, oldest first.
    pub data: Vec<NeighbourhoodSummary>,
}

/// Lists your simulated neighbourhoods.
#[utoipa::path(
    get,
    path = "/sandbox/neighbourhoods",
    tag = "sandbox",
    responses(
        (status = 200, description = "Your neighbourhoods", body = NeighbourhoodList),
        (status = 404, description = "Not in sandbox mode", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn list_neighbourhoods(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<ApiJson<NeighbourhoodList>, ApiError> {
    let sandbox = sandbox(&state)?;
    let mut all = sandbox.neighbourhoods(&caller.client_id).await;
    all.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    Ok(ApiJson(NeighbourhoodList {
        data: all
            .into_iter()
            .map(|n| NeighbourhoodSummary {
                id: n.id,
                name: n.name,
                seed: n.seed,
                households: n.households.len(),
                program_id: n.program_id,
                created_at: n.created_at,
            })
            .collect(),
    }))
}

/// A simulated neighbourhood with its households, and where each car is now.
#[utoipa::path(
    get,
    path = "/sandbox/neighbourhoods/{neighbourhoodId}",
    tag = "sandbox",
    params(("neighbourhoodId" = String, Path, description = "The neighbourhood's id")),
    responses(
        (status = 200, description = "The neighbourhood", body = NeighbourhoodBody),
        (status = 404, description = "Not in sandbox mode, or no such neighbourhood of yours", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn get_neighbourhood(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<NeighbourhoodBody>, ApiError> {
    let sandbox = sandbox(&state)?;
    let neighbourhood = sandbox
        .neighbourhood(&caller.client_id, &id)
        .await
        .ok_or_else(|| ApiError::not_found(format!("no neighbourhood '{id}'")))?;
    Ok(ApiJson(body(sandbox.as_ref(), &caller, neighbourhood).await))
}

/// Deletes a simulated neighbourhood: its cars and chargers leave the sandbox, and its users are
/// deleted from Coupler with everything of theirs (homes, chargers, enrolments).
#[utoipa::path(
    delete,
    path = "/sandbox/neighbourhoods/{neighbourhoodId}",
    tag = "sandbox",
    params(("neighbourhoodId" = String, Path, description = "The neighbourhood's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "Not in sandbox mode, or no such neighbourhood of yours", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn delete_neighbourhood(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let sandbox = sandbox(&state)?;
    let neighbourhood = sandbox
        .take_neighbourhood(&caller.client_id, &id)
        .await
        .ok_or_else(|| ApiError::not_found(format!("no neighbourhood '{id}'")))?;
    // On a task of its own, as making one is: a client that stops waiting leaves none of it.
    let task_sandbox = sandbox.clone();
    tokio::spawn(async move {
        tear_down(&state, &caller, task_sandbox.as_ref(), &neighbourhood.households).await;
    })
    .await
    .map_err(ApiError::internal)?;
    Ok(StatusCode::NO_CONTENT)
}
