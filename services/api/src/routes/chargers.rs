//! Chargers: registration, reading, placing, deleting, sessions, and control.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use coupler_core::charger::ConnectorStatus;
use coupler_core::costs::SessionCost;
use coupler_core::ev_system::{DetectionStatus, PairState, UnmatchedReason};
use coupler_core::secret::{generate_charger_password, hash_secret};
use coupler_core::{ChargeSession, Charger, ChargerId, OcppIdentity, PowerDeliveryState, StoreError, UserId};
use coupler_engine::{ActionRequest, ActionTarget, Command};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::actions::ActionResponse;
use super::control::{idempotency_key, ChargerMaxCurrentRequest, ChargingAction, ChargingRequest};
use super::users::{PageQuery, Pagination};
use crate::error::{ApiError, InvalidValue, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::state::AppState;

/// Registers a charge point identity for a user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegisterCharger {
    /// The identity the charger will connect with (the last segment of its OCPP URL and its Basic-auth
    /// user name): 1 to 48 characters without white space, `:` or `/`.
    #[schema(example = "CP-0042")]
    pub ocpp_id: String,
    /// A name for people.
    #[schema(
        example = "Garage",
        max_length = 100,
        pattern = "^[^\\x00-\\x1F\\x7F-\\x9F]*[^\\s\\x00-\\x1F\\x7F-\\x9F][^\\x00-\\x1F\\x7F-\\x9F]*$"
    )]
    pub name: Option<String>,
    /// The location the charger is placed at.
    pub location_id: Option<String>,
}

/// Renames or places a charger. A field left out is kept; `null` clears it.
#[derive(Debug, Default, ToSchema)]
pub struct UpdateCharger {
    /// A name for people.
    #[schema(
        max_length = 100,
        pattern = "^[^\\x00-\\x1F\\x7F-\\x9F]*[^\\s\\x00-\\x1F\\x7F-\\x9F][^\\x00-\\x1F\\x7F-\\x9F]*$"
    )]
    pub name: Option<Option<String>>,
    /// The location the charger is placed at.
    #[schema(rename = "locationId")]
    pub location_id: Option<Option<String>>,
}

/// What a charger told about itself.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChargerInformation {
    /// Vendor.
    pub brand: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// Serial number.
    pub serial_number: Option<String>,
    /// Firmware version.
    pub firmware_version: Option<String>,
    /// The OCPP version it connects with (`1.6` or `2.0.1`).
    #[schema(value_type = Option<coupler_core::charger::OcppProtocol>)]
    pub ocpp_version: Option<String>,
}

/// A charger's charging, merged from its connectors, meter values and sessions.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChargerChargeState {
    /// A vehicle is plugged in.
    pub is_plugged_in: bool,
    /// Power is flowing.
    pub is_charging: bool,
    /// Charging power in kW, from meter values, while charging.
    pub charge_rate: Option<f64>,
    /// The maximum current set through Coupler, amperes.
    pub max_current: Option<f64>,
    /// `UNKNOWN`, `UNPLUGGED`, `PLUGGED_IN:INITIALIZING`, `PLUGGED_IN:CHARGING`, `PLUGGED_IN:STOPPED`,
    /// `PLUGGED_IN:NO_POWER` or `PLUGGED_IN:FAULT`.
    #[schema(example = "PLUGGED_IN:CHARGING")]
    pub power_delivery_state: PowerDeliveryState,
    /// The vehicle plugged into this charger, once pairing knows it.
    pub plugged_in_vehicle_id: Option<String>,
    /// Energy of the running session, kWh.
    pub session_energy: Option<f64>,
    /// When the meter values were taken.
    pub last_updated: Option<DateTime<Utc>>,
}

/// Which vehicle is plugged into a charger, as far as pairing can tell.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VehicleDetectionBody {
    /// `DETECTING` (still running: Coupler keeps asking the user's vehicles to report), `MATCHED`,
    /// or `UNMATCHED` (given up: the detection window is over, or every linked vehicle is ruled out;
    /// see `reasonCode` and `reason`). New evidence (an identifier, power, an unplug) still decides
    /// an `UNMATCHED` plug-in later.
    #[schema(example = "MATCHED")]
    pub status: DetectionStatus,
    /// When the charger saw the plug-in.
    pub plugged_in_at: Option<DateTime<Utc>>,
    /// The matched vehicle.
    pub vehicle_id: Option<String>,
    /// Why no vehicle is matched (yet), in words.
    pub reason: Option<String>,
    /// Why no vehicle is matched (yet): `AWAITING_REPORTS` (a vehicle has not reported since the
    /// plug-in), `AMBIGUOUS` (more than one assignment fits the evidence), `ALL_RULED_OUT` (every
    /// linked vehicle's own reports place it elsewhere: a guest), `NO_LINKED_VEHICLE`,
    /// `SHARED_IDENTIFIER` (the identifier the charger reported is registered to several vehicles).
    #[schema(value_type = Option<String>, example = "AWAITING_REPORTS")]
    pub reason_code: Option<UnmatchedReason>,
}

/// One connector (or, for connector 0, the charge point as a whole).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChargerConnector {
    /// Connector number.
    pub connector_id: u32,
    /// The OCPP status as reported.
    pub status: String,
    /// The OCPP error code (`NoError` when none).
    pub error_code: String,
    /// The status as a power delivery state.
    pub power_delivery_state: PowerDeliveryState,
    /// When it was reported.
    pub updated_at: DateTime<Utc>,
}

/// Whether Coupler can do something with the charger (`{isCapable, interventionIds}`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Capability {
    /// Whether it can.
    pub is_capable: bool,
    /// What the user can do to make it possible.
    pub intervention_ids: Vec<String>,
}

/// What Coupler can do with the charger.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChargerCapabilities {
    /// Read vendor, model, firmware.
    pub information: Capability,
    /// Read plug and charging state.
    pub charge_state: Capability,
    /// Start charging (remote start).
    pub start_charging: Capability,
    /// Stop charging (remote stop).
    pub stop_charging: Capability,
    /// Limit the current: `true` when the charger takes charging profiles (or has not said it
    /// does not); `false` for a charger that takes none, whose limits can only switch charging off
    /// (see `limitControl`).
    pub set_max_current: Capability,
    /// How limits reach the charger, from what it declared and answered.
    pub limit_control: LimitControl,
}

/// How limits reach a charger, from what it declared (1.6 GetConfiguration, 2.0.1 device model)
/// and answered (a refused SetChargingProfile).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LimitControl {
    /// `PROFILES`: one charging profile per limit source, enforced by the charger itself;
    /// `ON_OFF`: the charger takes no profiles, so a limit below 6 A stops charging (remote stop)
    /// and its end starts it again (remote start).
    #[schema(example = "PROFILES")]
    pub method: String,
    /// Whether it takes charging profiles; `null` until it has said.
    pub smart_charging: Option<bool>,
    /// The highest stack level it accepts.
    pub max_stack_level: Option<u32>,
    /// The units its schedules may use (`A`, `W`).
    pub rate_units: Vec<String>,
    /// Where this was learnt: `GetConfiguration`, `GetVariables`, `NotifyReport`,
    /// `SetChargingProfile refused`, or `none`.
    pub source: String,
}

/// A charger.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChargerResponse {
    /// Identifier.
    pub id: String,
    /// The owning user.
    pub user_id: String,
    /// The identity it connects with.
    pub ocpp_id: String,
    /// Where it connects: `ws(s)://host/ocpp/{ocppId}`.
    pub ocpp_url: String,
    /// A name for people.
    pub name: Option<String>,
    /// The location it is placed at.
    pub location_id: Option<String>,
    /// Whether it is connected to Coupler now.
    pub is_reachable: bool,
    /// When Coupler last heard from it.
    pub last_seen: Option<DateTime<Utc>>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// What it told about itself.
    pub information: ChargerInformation,
    /// Its charging.
    pub charge_state: ChargerChargeState,
    /// Its connectors.
    pub connectors: Vec<ChargerConnector>,
    /// What pairing knows about the vehicle plugged in now; `null` while nothing is plugged in.
    pub vehicle_detection: Option<VehicleDetectionBody>,
    /// What Coupler can do with it.
    pub capabilities: ChargerCapabilities,
}

/// A newly registered charger, with the password to configure on it. The password is shown only
/// here; Coupler keeps only its hash.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegisteredCharger {
    /// The charger.
    #[serde(flatten)]
    pub charger: ChargerResponse,
    /// The HTTP Basic password for the charger (user name: its `ocppId`), 40 hex digits. For OCPP
    /// 1.6 security profiles it is the AuthorizationKey; an OCPP 2.0.1 charger sends it as its
    /// BasicAuthPassword, as plain text.
    pub password: String,
}

/// A page of chargers.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChargerPage {
    /// The chargers.
    pub data: Vec<ChargerResponse>,
    /// Cursors to the neighbouring pages.
    pub pagination: Pagination,
}

/// A charging session (an OCPP transaction).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionResponse {
    /// The session's id. OCPP 1.6 chargers use it as the transaction id; OCPP 2.0.1 chargers name
    /// their transactions themselves, and Coupler keeps this id for them too.
    pub id: i64,
    /// The connector it ran on.
    pub connector_id: u32,
    /// The id tag that started it.
    pub id_tag: Option<String>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended; `null` while running.
    pub stopped_at: Option<DateTime<Utc>>,
    /// Why it ended (the OCPP reason).
    pub stop_reason: Option<String>,
    /// Energy delivered, kWh (so far, while running).
    pub energy: f64,
    /// Energy register at the start, Wh.
    pub meter_start: f64,
    /// Energy register at the end, Wh.
    pub meter_stop: Option<f64>,
    /// What the session cost at its location's prices, and what charging when it did saved.
    pub cost: SessionCostResponse,
    /// The verdict on the token it started with: `ACCEPTED`, or `BLOCKED`, `EXPIRED`, `INVALID`,
    /// `UNKNOWN` for a session the charger started with a refused token (it is kept, and the
    /// charger was told to stop it); `null` when no token was judged.
    #[schema(example = "ACCEPTED")]
    pub authorisation: Option<String>,
    /// What made its values implausible (`STOP_BEFORE_START`, `STOP_BELOW_START`,
    /// `NEGATIVE_REGISTER`, `ABSURD_REGISTER`, `IMPOSSIBLE_RISE`); its energy then counts as 0 here
    /// and in the statistics. `null` when nothing did.
    pub implausible: Option<String>,
}

/// What a session cost. Energy where no price was known is reported as unpriced, never as free.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionCostResponse {
    /// What the priced energy cost, in the prices' currency; `null` when no price was known for
    /// any of it.
    pub cost: Option<f64>,
    /// What the same energy would have cost charged at once from the session's start at its highest
    /// power; `null` when no price was known.
    pub non_smart_cost: Option<f64>,
    /// `nonSmartCost - cost`; `null` when no price was known.
    pub savings: Option<f64>,
    /// Energy taken where no price was known, kWh.
    pub unpriced_energy: f64,
}

impl From<&SessionCost> for SessionCostResponse {
    fn from(c: &SessionCost) -> Self {
        let priced = c.energy_kwh - c.unpriced_energy_kwh > 1e-9;
        let money = |v: f64| priced.then(|| (v * 10_000.0).round() / 10_000.0);
        Self {
            cost: money(c.cost),
            non_smart_cost: money(c.non_smart_cost),
            savings: money(c.savings),
            unpriced_energy: (c.unpriced_energy_kwh * 1000.0).round() / 1000.0,
        }
    }
}

/// A page of sessions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionPage {
    /// The sessions, newest first.
    pub data: Vec<SessionResponse>,
    /// Cursors to the neighbouring pages.
    pub pagination: Pagination,
}

fn capable() -> Capability {
    Capability {
        is_capable: true,
        intervention_ids: Vec::new(),
    }
}

impl SessionResponse {
    fn new(s: &ChargeSession, cost: &SessionCost) -> Self {
        Self {
            id: s.transaction_id,
            connector_id: s.connector_id,
            id_tag: s.id_tag.clone(),
            started_at: s.started_at,
            stopped_at: s.stopped_at,
            stop_reason: s.stop_reason.clone(),
            energy: (s.energy_kwh() * 1000.0).round() / 1000.0,
            meter_start: s.meter_start_wh,
            meter_stop: s.meter_stop_wh,
            cost: SessionCostResponse::from(cost),
            authorisation: s.authorisation.clone(),
            implausible: s.implausible.clone(),
        }
    }
}

/// The URL a charger connects to.
fn ocpp_url(state: &AppState, identity: &OcppIdentity) -> String {
    let base = state.ocpp_base_url.as_str().trim_end_matches('/');
    let segment: String = url::form_urlencoded::byte_serialize(identity.as_str().as_bytes()).collect();
    format!("{base}/ocpp/{}", segment.replace('+', "%20"))
}

async fn render(state: &AppState, charger: Charger) -> Result<ChargerResponse, ApiError> {
    Ok(render_with(state, charger).await?)
}

/// The API view of a stored charger: what `GET /chargers/{id}` answers and what its events carry.
pub(crate) async fn render_with(state: &AppState, charger: Charger) -> Result<ChargerResponse, StoreError> {
    let session = state.store.active_session(&charger.id).await?;
    let ev_systems = state.store.ev_systems_of_charger(&charger.id).await?;
    let detection = state.store.get_detection(&charger.id).await?;
    let declared = state.store.charger_capabilities(&charger.id).await?;
    Ok(compose(state, charger, session, &ev_systems, detection, declared))
}

/// The charger as its REST GET shows it, from what was read about it beside it (its running
/// session, its pairs, its vehicle detection, its declared capabilities): the relay reads these for
/// a whole batch of events at once.
pub(crate) fn compose(
    state: &AppState,
    charger: Charger,
    session: Option<coupler_core::charger::ChargeSession>,
    ev_systems: &[coupler_core::ev_system::EvSystem],
    detection: Option<coupler_core::ev_system::Detection>,
    declared: Option<coupler_core::limits::ChargerCapabilities>,
) -> ChargerResponse {
    let charge = charger.charge_state(session.as_ref());
    let plugged_in_vehicle_id = ev_systems
        .iter()
        .find(|p| p.state == PairState::Activated)
        .map(|p| p.vehicle_id.as_str().to_owned());
    let vehicle_detection = detection
        .filter(|_| charge.is_plugged_in)
        .map(|d| VehicleDetectionBody {
            status: d.status,
            plugged_in_at: d.plugged_in_at,
            vehicle_id: d.vehicle_id.map(|v| v.as_str().to_owned()),
            reason: d.reason,
            reason_code: d.reason_code,
        });
    let declared = declared.unwrap_or_else(coupler_core::limits::ChargerCapabilities::unknown);
    ChargerResponse {
        id: charger.id.as_str().to_owned(),
        user_id: charger.user_id.as_str().to_owned(),
        ocpp_url: ocpp_url(state, &charger.ocpp_id),
        ocpp_id: charger.ocpp_id.as_str().to_owned(),
        name: charger.name,
        location_id: charger.location_id,
        is_reachable: charger.is_connected,
        last_seen: charger.last_seen,
        created_at: charger.created_at,
        information: ChargerInformation {
            brand: charger.info.vendor,
            model: charger.info.model,
            serial_number: charger.info.serial_number,
            firmware_version: charger.info.firmware_version,
            ocpp_version: charger.ocpp_version.map(|v| v.as_str().to_owned()),
        },
        charge_state: ChargerChargeState {
            is_plugged_in: charge.is_plugged_in,
            is_charging: charge.is_charging,
            charge_rate: charge.charge_rate,
            max_current: charge.max_current,
            power_delivery_state: charge.power_delivery_state,
            plugged_in_vehicle_id,
            session_energy: charge.session_energy.map(|e| (e * 1000.0).round() / 1000.0),
            last_updated: charger.meter.at,
        },
        connectors: charger.connectors.iter().map(connector).collect(),
        vehicle_detection,
        capabilities: ChargerCapabilities {
            information: capable(),
            charge_state: capable(),
            start_charging: capable(),
            stop_charging: capable(),
            set_max_current: Capability {
                is_capable: declared.takes_profiles(),
                intervention_ids: Vec::new(),
            },
            limit_control: LimitControl {
                method: if declared.takes_profiles() {
                    "PROFILES"
                } else {
                    "ON_OFF"
                }
                .to_owned(),
                smart_charging: declared.smart_charging,
                max_stack_level: declared.max_stack_level,
                rate_units: declared.rate_units,
                source: declared.source,
            },
        },
    }
}

fn connector(c: &ConnectorStatus) -> ChargerConnector {
    ChargerConnector {
        connector_id: c.connector_id,
        status: c.status.clone(),
        error_code: c.error_code.clone(),
        power_delivery_state: c.power_delivery_state,
        updated_at: c.updated_at,
    }
}

fn text_field(value: Option<String>, field: &str, max: usize) -> Result<Option<String>, ApiError> {
    match value {
        Some(v) if v.trim().is_empty() => {
            Err(ApiError::bad_request(format!("{field} must not be empty")).at_field(&format!("/{field}")))
        }
        Some(v) if v.chars().count() > max => Err(ApiError::bad_request(format!(
            "{field} is longer than {max} characters"
        ))
        .at_field(&format!("/{field}"))),
        Some(v) if v.chars().any(char::is_control) => Err(ApiError::bad_request(format!(
            "{field} may not contain control characters"
        ))
        .at_field(&format!("/{field}"))),
        other => Ok(other),
    }
}

/// A location id is accepted only when it names one of the same user's locations.
async fn check_location(
    state: &AppState,
    caller: &Caller,
    user: &UserId,
    location: Option<&str>,
) -> Result<(), ApiError> {
    let Some(raw) = location else { return Ok(()) };
    let found = state
        .store
        .get_location(&caller.client_id, &coupler_core::location::LocationId::new(raw))
        .await?;
    match found {
        Some(location) if &location.user_id == user => Ok(()),
        Some(_) => Err(ApiError::bad_request(format!(
            "locationId '{raw}' belongs to another user; a charger is placed at one of its own user's locations"
        ))
        .at_field("/locationId")),
        None => Err(ApiError::bad_request(format!("locationId '{raw}' names no location")).at_field("/locationId")),
    }
}

async fn owned_charger(state: &AppState, caller: &Caller, id: &str) -> Result<Charger, ApiError> {
    let id = ChargerId::new(id);
    state
        .store
        .get_charger(&caller.client_id, &id)
        .await?
        .ok_or_else(|| no_charger(&id))
}

fn no_charger(id: &ChargerId) -> ApiError {
    ApiError::not_found(format!("no charger '{id}'"))
}

/// Registers a charge point for a user (creating the user if needed). The answer holds the OCPP URL
/// and the Basic-auth password to configure on the charger; the password is shown only this once.
#[utoipa::path(
    post,
    path = "/users/{userId}/chargers",
    tag = "chargers",
    params(("userId" = String, Path, pattern = "^[^\\s/\\x00-\\x1F\\x7F-\\x9F]([^/\\x00-\\x1F\\x7F-\\x9F]*[^\\s/\\x00-\\x1F\\x7F-\\x9F])?$", max_length = 255, description = "The app's own identifier for the user")),
    request_body = RegisterCharger,
    responses(
        (status = 201, description = "Registered", body = RegisteredCharger),
        (status = 409, description = "The OCPP identity is already registered", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn register_charger(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(raw_user): ApiPath<String>,
    ApiJson(body): ApiJson<RegisterCharger>,
) -> Result<(StatusCode, ApiJson<RegisteredCharger>), ApiError> {
    let registered = register(&state, &caller, &raw_user, body).await?;
    Ok((StatusCode::CREATED, ApiJson(registered)))
}

/// Registers a charge point for one of the caller's users: the one code path of
/// `POST /users/{userId}/chargers` and of the sandbox's simulated chargers.
pub(crate) async fn register(
    state: &AppState,
    caller: &Caller,
    raw_user: &str,
    body: RegisterCharger,
) -> Result<RegisteredCharger, ApiError> {
    let user = UserId::parse(raw_user).map_err(|e| ApiError::bad_request(e.to_string()).at_path("userId"))?;
    let ocpp_id = OcppIdentity::parse(&body.ocpp_id)
        .map_err(|e| ApiError::bad_request(format!("ocppId: {e}")).at_field("/ocppId"))?;
    let name = text_field(body.name, "name", 100)?;
    let location_id = text_field(body.location_id, "locationId", 255)?;
    check_location(state, caller, &user, location_id.as_deref()).await?;
    state.store.upsert_user(&caller.client_id, &user).await?;
    let password = generate_charger_password();
    let charger = Charger {
        id: ChargerId::generate(),
        client_id: caller.client_id.clone(),
        user_id: user,
        ocpp_id,
        name,
        location_id,
        ocpp_version: None,
        info: Default::default(),
        connectors: Vec::new(),
        meter: Default::default(),
        max_current: None,
        is_connected: false,
        last_seen: None,
        firmware_status: None,
        created_at: state.now(),
    };
    match state.store.insert_charger(&charger, &hash_secret(&password)).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("a charger with ocppId '{}' is already registered", charger.ocpp_id),
            ))
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(charger_id = %charger.id, ocpp_id = %charger.ocpp_id, "charger registered");
    // With the user's vehicles it forms EV systems at once.
    state
        .store
        .establish_ev_systems(&caller.client_id, &charger.user_id)
        .await?;
    let charger = render(state, charger).await?;
    Ok(RegisteredCharger { charger, password })
}

/// Lists the client's chargers, newest first.
#[utoipa::path(
    get,
    path = "/chargers",
    tag = "chargers",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of chargers", body = ChargerPage),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn list_chargers(
    caller: Caller,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<ApiJson<ChargerPage>, ApiError> {
    page_of(&state, &caller, None, &query).await
}

/// Lists a user's chargers, newest first.
#[utoipa::path(
    get,
    path = "/users/{userId}/chargers",
    tag = "chargers",
    params(("userId" = String, Path, pattern = "^[^\\s/\\x00-\\x1F\\x7F-\\x9F]([^/\\x00-\\x1F\\x7F-\\x9F]*[^\\s/\\x00-\\x1F\\x7F-\\x9F])?$", max_length = 255, description = "The app's own identifier for the user"), PageQuery),
    responses(
        (status = 200, description = "A page of chargers", body = ChargerPage),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn list_user_chargers(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(raw_user): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<ApiJson<ChargerPage>, ApiError> {
    let user = UserId::parse(&raw_user).map_err(|e| ApiError::bad_request(e.to_string()).at_path("userId"))?;
    page_of(&state, &caller, Some(&user), &query).await
}

async fn page_of(
    state: &AppState,
    caller: &Caller,
    user: Option<&UserId>,
    query: &PageQuery,
) -> Result<ApiJson<ChargerPage>, ApiError> {
    let page = state
        .store
        .list_chargers(&caller.client_id, user, &query.parse()?)
        .await?;
    let mut data = Vec::with_capacity(page.items.len());
    for charger in page.items {
        data.push(render(state, charger).await?);
    }
    Ok(ApiJson(ChargerPage {
        data,
        pagination: Pagination {
            after: page.after.map(|k| k.encode()),
            before: page.before.map(|k| k.encode()),
        },
    }))
}

/// Reads a charger.
#[utoipa::path(
    get,
    path = "/chargers/{chargerId}",
    tag = "chargers",
    params(("chargerId" = String, Path, description = "The charger's id")),
    responses(
        (status = 200, description = "The charger", body = ChargerResponse),
        (status = 404, description = "The client has no such charger", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn get_charger(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<ChargerResponse>, ApiError> {
    let charger = owned_charger(&state, &caller, &id).await?;
    Ok(ApiJson(render(&state, charger).await?))
}

/// Renames a charger or places it at a location. Fields left out are kept; `null` clears them.
#[utoipa::path(
    put,
    path = "/chargers/{chargerId}",
    tag = "chargers",
    params(("chargerId" = String, Path, description = "The charger's id")),
    request_body = UpdateCharger,
    responses(
        (status = 200, description = "The updated charger", body = ChargerResponse),
        (status = 404, description = "The client has no such charger", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn update_charger(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<ApiJson<ChargerResponse>, ApiError> {
    let update = parse_update(body)?;
    let existing = owned_charger(&state, &caller, &id).await?;
    let id = existing.id.clone();
    let name = update.name.map(|v| text_field(v, "name", 100)).transpose()?;
    let location = update
        .location_id
        .map(|v| text_field(v, "locationId", 255))
        .transpose()?;
    if let Some(Some(location)) = &location {
        check_location(&state, &caller, &existing.user_id, Some(location)).await?;
    }
    let updated = state
        .store
        .update_charger(
            &caller.client_id,
            &id,
            name.as_ref().map(Option::as_deref),
            location.as_ref().map(Option::as_deref),
        )
        .await?
        .ok_or_else(|| no_charger(&id))?;
    if location.is_some() {
        // Where the charger is decides which cars can be in it, and which location limits hold.
        state.pairing.charger_changed(&id);
        state.engine.limits().changed(vec![id.clone()]);
    }
    Ok(ApiJson(render(&state, updated).await?))
}

/// Reads `{name?, locationId?}` keeping "absent" apart from `null`.
fn parse_update(body: serde_json::Value) -> Result<UpdateCharger, ApiError> {
    let serde_json::Value::Object(fields) = body else {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    };
    let mut update = UpdateCharger::default();
    for (key, value) in fields {
        let value = match value {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(s),
            _ => {
                return Err(
                    ApiError::bad_request(format!("{key} must be a string or null")).at(InvalidValue::body(
                        format!("/{key}"),
                        "not a string or null",
                    )
                    .expected("a string or null")),
                )
            }
        };
        match key.as_str() {
            "name" => update.name = Some(value),
            "locationId" => update.location_id = Some(value),
            other => {
                return Err(
                    ApiError::bad_request(format!("unknown field '{other}'; expected name or locationId"))
                        .at(InvalidValue::body(format!("/{other}"), "not a known field")
                            .allowed(["name", "locationId"])),
                )
            }
        }
    }
    Ok(update)
}

/// Deletes a charger with its sessions and readings, and closes its connection.
#[utoipa::path(
    delete,
    path = "/chargers/{chargerId}",
    tag = "chargers",
    params(("chargerId" = String, Path, description = "The charger's id")),
    responses(
        (status = 204, description = "Deleted and disconnected"),
        (status = 404, description = "The client has no such charger", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn delete_charger(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id = ChargerId::new(id);
    if !state.store.delete_charger(&caller.client_id, &id).await? {
        return Err(no_charger(&id));
    }
    state.engine.control().disconnect(&id).await;
    tracing::info!(charger_id = %id, "charger deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Lists a charger's sessions, newest first, with the energy and cost of each.
#[utoipa::path(
    get,
    path = "/chargers/{chargerId}/sessions",
    tag = "chargers",
    params(("chargerId" = String, Path, description = "The charger's id"), PageQuery),
    responses(
        (status = 200, description = "A page of sessions", body = SessionPage),
        (status = 404, description = "The client has no such charger", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn list_sessions(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<ApiJson<SessionPage>, ApiError> {
    let id = ChargerId::new(id);
    let page = state
        .store
        .list_sessions(&caller.client_id, &id, &query.parse_numbered()?)
        .await?
        .ok_or_else(|| no_charger(&id))?;
    let costs = state.engine.session_costs(&caller.client_id, &page.items).await?;
    Ok(ApiJson(SessionPage {
        data: page
            .items
            .iter()
            .zip(&costs)
            .map(|(session, cost)| SessionResponse::new(session, cost))
            .collect(),
        pagination: Pagination {
            after: page.after.map(|k| k.encode()),
            before: page.before.map(|k| k.encode()),
        },
    }))
}

/// Starts or stops charging. Answers at once with a pending action; it is confirmed when the charger
/// is seen charging (or not), not when the charger merely accepts.
#[utoipa::path(
    post,
    path = "/chargers/{chargerId}/charging",
    operation_id = "control_charger_charging",
    tag = "chargers",
    params(
        ("chargerId" = String, Path, description = "The charger's id"),
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "Repeating a request with the same key returns the first action (1 to 255 visible ASCII characters)"),
    ),
    request_body = ChargingRequest,
    responses(
        (status = 200, description = "The action, usually still PENDING", body = ActionResponse),
        (status = 404, description = "The client has no such charger", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The Idempotency-Key was used for a different request", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn charge(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ChargingRequest>,
) -> Result<ApiJson<ActionResponse>, ApiError> {
    let command = match body.action {
        ChargingAction::Start => Command::Start,
        ChargingAction::Stop => Command::Stop,
    };
    let key = idempotency_key(&headers)?;
    let charger = owned_charger(&state, &caller, &id).await?;
    let action = state
        .engine
        .request_action(ActionRequest {
            client: caller.client_id.clone(),
            target: ActionTarget::Charger(charger.id),
            command,
            idempotency_key: key,
        })
        .await?;
    Ok(ApiJson(action.into()))
}

/// Limits the charging current, with a charging profile on the charger.
#[utoipa::path(
    post,
    path = "/chargers/{chargerId}/max-current",
    operation_id = "set_charger_max_current",
    tag = "chargers",
    params(
        ("chargerId" = String, Path, description = "The charger's id"),
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "Repeating a request with the same key returns the first action (1 to 255 visible ASCII characters)"),
    ),
    request_body = ChargerMaxCurrentRequest,
    responses(
        (status = 200, description = "The action, usually still PENDING", body = ActionResponse),
        (status = 404, description = "The client has no such charger", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The Idempotency-Key was used for a different request", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn set_max_current(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ChargerMaxCurrentRequest>,
) -> Result<ApiJson<ActionResponse>, ApiError> {
    let amps = body.max_current;
    if !(0.0..=500.0).contains(&amps) || ((amps * 10.0).round() - amps * 10.0).abs() > 1e-6 {
        return Err(
            ApiError::bad_request("maxCurrent must be between 0 and 500 amperes, in steps of 0.1")
                .at(InvalidValue::body("/maxCurrent", "out of range")
                    .expected("a number from 0 to 500 in steps of 0.1")),
        );
    }
    let key = idempotency_key(&headers)?;
    let charger = owned_charger(&state, &caller, &id).await?;
    let action = state
        .engine
        .request_action(ActionRequest {
            client: caller.client_id.clone(),
            target: ActionTarget::Charger(charger.id),
            command: Command::SetMaxCurrent(amps),
            idempotency_key: key,
        })
        .await?;
    Ok(ApiJson(action.into()))
}
