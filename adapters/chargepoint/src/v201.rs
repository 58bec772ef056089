//! The charge point's OCPP 2.0.1 messages: one EVSE with one connector, transactions reported
//! with TransactionEvent (Started, Updated with meter values and charging state changes, Ended),
//! settings as device-model variables, and answers to every call a CSMS sends (the untyped
//! local-list, certificate and customer-information ones in `untyped`).

use chrono::{DateTime, Utc};
use coupler_ocpp::v201::{self, Request, Response};
use coupler_ocpp::ValidationError;
use serde_json::Value;

use crate::machine::{Answer, ChargePoint, IdToken, JobKind, Moment, Out, Status, StopReason, Tx};
use crate::profile::{Kind, Period, Profile, Purpose};
use crate::settings::{self, setting_of, Refusal, Unknown, VARIABLES};
use crate::{untyped, PHASES, VOLTS};

fn charging_state(status: Status) -> v201::ChargingState {
    match status {
        Status::Charging => v201::ChargingState::Charging,
        Status::SuspendedEv => v201::ChargingState::SuspendedEv,
        Status::SuspendedEvse => v201::ChargingState::SuspendedEvse,
        Status::Preparing | Status::Finishing => v201::ChargingState::EvConnected,
        Status::Available | Status::Unavailable | Status::Reserved => v201::ChargingState::Idle,
    }
}

fn stopped_reason(reason: StopReason) -> v201::StoppedReason {
    match reason {
        StopReason::EvDisconnected => v201::StoppedReason::EvDisconnected,
        StopReason::Remote => v201::StoppedReason::Remote,
        StopReason::Local | StopReason::UnlockCommand => v201::StoppedReason::Local,
        StopReason::DeAuthorized => v201::StoppedReason::DeAuthorized,
        StopReason::SoftReset | StopReason::HardReset => v201::StoppedReason::ImmediateReset,
    }
}

fn id_token(token: &IdToken) -> Result<v201::IdToken, ValidationError> {
    let (value, kind) = match token {
        IdToken::Tag(tag) => (tag.clone(), v201::IdTokenKind::Local),
        IdToken::Central(tag) => (tag.clone(), v201::IdTokenKind::Central),
        IdToken::Mac(mac) => (mac.clone(), v201::IdTokenKind::MacAddress),
    };
    Ok(v201::IdToken {
        id_token: value.as_str().try_into()?,
        kind,
        additional_info: None,
    })
}

fn sampled(value: f64, measurand: v201::Measurand, unit: &str, context: v201::ReadingContext) -> v201::SampledValue {
    v201::SampledValue {
        value: (value * 10.0).round() / 10.0,
        context: Some(context),
        measurand: Some(measurand),
        phase: None,
        location: Some(v201::Location::Outlet),
        signed_meter_value: None,
        unit_of_measure: Some(v201::UnitOfMeasure {
            unit: v201::CiString::new(unit).ok(),
            multiplier: None,
        }),
    }
}

fn meter_values(cp: &ChargePoint, at: DateTime<Utc>, context: v201::ReadingContext) -> Vec<v201::MeterValue> {
    let wanted = cp.settings.get(settings::METER_MEASURANDS).unwrap_or_default();
    let wants = |name: &str| wanted.split(',').any(|w| w.trim() == name);
    let sample = cp.sample;
    let mut values = vec![sampled(
        sample.energy_wh.round(),
        v201::Measurand::EnergyActiveImportRegister,
        "Wh",
        context,
    )];
    if context != v201::ReadingContext::TransactionBegin && context != v201::ReadingContext::TransactionEnd {
        if wants("Power.Active.Import") {
            values.push(sampled(
                sample.power_w,
                v201::Measurand::PowerActiveImport,
                "W",
                context,
            ));
        }
        if wants("Current.Import") {
            values.push(sampled(sample.current_a, v201::Measurand::CurrentImport, "A", context));
        }
        if wants("Current.Offered") {
            values.push(sampled(cp.offered, v201::Measurand::CurrentOffered, "A", context));
        }
    }
    vec![v201::MeterValue {
        sampled_value: values,
        timestamp: at,
    }]
}

fn evse() -> v201::Evse {
    v201::Evse {
        id: 1,
        connector_id: Some(1),
    }
}

fn connector_status(status: Status) -> v201::ConnectorStatus {
    match status {
        Status::Available => v201::ConnectorStatus::Available,
        Status::Unavailable => v201::ConnectorStatus::Unavailable,
        Status::Reserved => v201::ConnectorStatus::Reserved,
        _ => v201::ConnectorStatus::Occupied,
    }
}

/// A TransactionEvent of the running (or starting, or stopping) transaction.
#[expect(clippy::too_many_arguments, reason = "each is one field of the event")]
fn event(
    m: &mut ChargePoint,
    at: DateTime<Utc>,
    event_type: v201::TransactionEventType,
    trigger: v201::TriggerReason,
    id: &str,
    state: v201::ChargingState,
    meter: Option<Vec<v201::MeterValue>>,
    stopped: Option<v201::StoppedReason>,
    token: Option<v201::IdToken>,
) -> Result<Request, ValidationError> {
    let seq_no = i32::try_from(m.seq_no).unwrap_or(i32::MAX);
    m.seq_no += 1;
    let started = event_type == v201::TransactionEventType::Started;
    Ok(Request::TransactionEvent(v201::TransactionEventRequest {
        event_type,
        meter_value: meter,
        timestamp: at,
        trigger_reason: trigger,
        seq_no,
        offline: None,
        number_of_phases_used: Some(3),
        cable_max_current: None,
        reservation_id: if started { m.reservation_in_use } else { None },
        transaction_info: v201::Transaction {
            transaction_id: id.try_into()?,
            charging_state: Some(state),
            time_spent_charging: None,
            stopped_reason: stopped,
            remote_start_id: if started {
                m.remote_start_id.and_then(|r| i32::try_from(r).ok())
            } else {
                None
            },
        },
        evse: started.then(evse),
        id_token: token,
    }))
}

/// The 2.0.1 payload for `call`; `None` when there is nothing to send any more.
pub(crate) fn build(
    m: &mut ChargePoint,
    call: &Out,
    at: Moment,
) -> Result<Option<(&'static str, Value)>, ValidationError> {
    let now = at.wall;
    let request = match call {
        Out::Boot => Request::BootNotification(v201::BootNotificationRequest {
            charging_station: v201::ChargingStation {
                serial_number: Some(m.config.serial_number.as_str().try_into()?),
                model: m.config.model.as_str().try_into()?,
                modem: None,
                vendor_name: m.config.vendor.as_str().try_into()?,
                firmware_version: Some(m.config.firmware_version.as_str().try_into()?),
            },
            reason: if m.rebooted {
                v201::BootReason::RemoteReset
            } else if m.transactions_begun == 0 {
                v201::BootReason::PowerUp
            } else {
                v201::BootReason::Unknown
            },
        }),
        Out::Heartbeat => Request::Heartbeat(v201::HeartbeatRequest {}),
        Out::StationStatus => return Ok(None),
        Out::Status(status) => Request::StatusNotification(v201::StatusNotificationRequest {
            timestamp: now,
            connector_status: connector_status(*status),
            evse_id: 1,
            connector_id: 1,
        }),
        Out::Authorize(token) => Request::Authorize(v201::AuthorizeRequest {
            id_token: id_token(token)?,
            certificate: None,
            iso15118_certificate_hash_data: None,
        }),
        Out::Start { token, remote_start_id } => {
            // A start sent again keeps its transaction id (and the server stores it once).
            let id = match &m.tx {
                Tx::Starting { id: Some(id), .. } => id.clone(),
                _ => {
                    m.transactions_begun += 1;
                    let id = format!("{}-{}", m.config.transaction_prefix, m.transactions_begun);
                    if let Tx::Starting { id: slot, .. } = &mut m.tx {
                        *slot = Some(id.clone());
                    }
                    id
                }
            };
            m.seq_no = 0;
            m.remote_start_id = *remote_start_id;
            // The state it will be in once the server accepts: the server hears of a change after.
            let state = if m.limit_at(now) >= crate::MIN_CURRENT {
                Status::Charging
            } else {
                Status::SuspendedEvse
            };
            m.charging_state_sent = Some(state);
            let meter = meter_values(m, now, v201::ReadingContext::TransactionBegin);
            let trigger = if remote_start_id.is_some() {
                v201::TriggerReason::RemoteStart
            } else {
                v201::TriggerReason::Authorized
            };
            event(
                m,
                now,
                v201::TransactionEventType::Started,
                trigger,
                &id,
                charging_state(state),
                Some(meter),
                None,
                Some(id_token(token)?),
            )?
        }
        Out::ChargingStateChanged(status) => {
            let Tx::Active { id, .. } = &m.tx else {
                return Ok(None);
            };
            let id = id.clone();
            event(
                m,
                now,
                v201::TransactionEventType::Updated,
                v201::TriggerReason::ChargingStateChanged,
                &id,
                charging_state(*status),
                None,
                None,
                None,
            )?
        }
        Out::Meter { triggered } => {
            let context = if *triggered {
                v201::ReadingContext::Trigger
            } else {
                v201::ReadingContext::SamplePeriodic
            };
            match &m.tx {
                // During a transaction the readings go with it, as TransactionEvent Updated.
                Tx::Active { id, .. } => {
                    let id = id.clone();
                    let meter = meter_values(m, now, context);
                    let state = charging_state(m.last_status.unwrap_or(Status::Charging));
                    let trigger = if *triggered {
                        v201::TriggerReason::Trigger
                    } else {
                        v201::TriggerReason::MeterValuePeriodic
                    };
                    event(
                        m,
                        now,
                        v201::TransactionEventType::Updated,
                        trigger,
                        &id,
                        state,
                        Some(meter),
                        None,
                        None,
                    )?
                }
                _ => Request::MeterValues(v201::MeterValuesRequest {
                    evse_id: 1,
                    meter_value: meter_values(m, now, context),
                }),
            }
        }
        Out::Stop(reason) => {
            let Some(id) = m.tx.id().map(str::to_owned) else {
                return Ok(None);
            };
            let meter = meter_values(m, now, v201::ReadingContext::TransactionEnd);
            let (trigger, state) = match reason {
                StopReason::Remote => (v201::TriggerReason::RemoteStop, v201::ChargingState::EvConnected),
                StopReason::EvDisconnected => (v201::TriggerReason::EvDeparted, v201::ChargingState::Idle),
                StopReason::DeAuthorized => (v201::TriggerReason::Deauthorized, v201::ChargingState::EvConnected),
                StopReason::UnlockCommand => (v201::TriggerReason::UnlockCommand, v201::ChargingState::EvConnected),
                StopReason::SoftReset | StopReason::HardReset => {
                    (v201::TriggerReason::ResetCommand, v201::ChargingState::EvConnected)
                }
                StopReason::Local => (v201::TriggerReason::StopAuthorized, v201::ChargingState::EvConnected),
            };
            event(
                m,
                now,
                v201::TransactionEventType::Ended,
                trigger,
                &id,
                state,
                Some(meter),
                Some(stopped_reason(*reason)),
                None,
            )?
        }
        Out::JobStatus {
            kind: JobKind::Firmware | JobKind::SignedFirmware,
            status,
            request_id,
        } => match v201::FirmwareStatus::from_wire(status) {
            Some(status) => Request::FirmwareStatusNotification(v201::FirmwareStatusNotificationRequest {
                status,
                request_id: *request_id,
            }),
            None => return Ok(None),
        },
        Out::JobStatus {
            kind: JobKind::Diagnostics | JobKind::Log,
            status,
            request_id,
        } => match v201::UploadLogStatus::from_wire(status) {
            Some(status) => Request::LogStatusNotification(v201::LogStatusNotificationRequest {
                status,
                request_id: *request_id,
            }),
            None => return Ok(None),
        },
        Out::ReservationExpired(id) => Request::ReservationStatusUpdate(v201::ReservationStatusUpdateRequest {
            reservation_id: *id,
            reservation_update_status: v201::ReservationUpdateStatus::Expired,
        }),
        Out::Report(request_id) => Request::NotifyReport(v201::NotifyReportRequest {
            request_id: *request_id,
            generated_at: now,
            report_data: Some(report(m)?),
            tbc: None,
            seq_no: 0,
        }),
        Out::SecurityEvent(kind) => Request::SecurityEventNotification(v201::SecurityEventNotificationRequest {
            kind: (*kind).try_into()?,
            timestamp: now,
            tech_info: None,
        }),
        // Messages coupler-ocpp does not type.
        Out::SignCertificate | Out::CustomerInformation { .. } => return Ok(untyped::build201(m, call, at)),
    };
    let payload = request.to_value()?;
    Ok(Some((request.action().as_str(), payload)))
}

/// Every device-model variable with its value, as a NotifyReport carries them.
fn report(m: &ChargePoint) -> Result<Vec<v201::ReportData>, ValidationError> {
    VARIABLES
        .iter()
        .filter_map(|(name, setting)| {
            let (component, variable) = name.split_once('.')?;
            let (_, value, readonly) = m.settings.describe(setting)?;
            Some((component, variable, value.to_owned(), readonly))
        })
        .map(|(component, variable, value, readonly)| {
            Ok(v201::ReportData {
                component: v201::Component {
                    name: component.try_into()?,
                    instance: None,
                    evse: None,
                },
                variable: v201::Variable {
                    name: variable.try_into()?,
                    instance: None,
                },
                variable_attribute: vec![v201::VariableAttribute {
                    kind: Some(v201::Attribute::Actual),
                    value: Some(value.as_str().try_into()?),
                    mutability: Some(if readonly {
                        v201::Mutability::ReadOnly
                    } else {
                        v201::Mutability::ReadWrite
                    }),
                    persistent: None,
                    constant: None,
                }],
                variable_characteristics: None,
            })
        })
        .collect()
}

/// Reads the server's answer to one of our calls.
pub(crate) fn read_answer(action: &str, payload: &Value) -> Result<Answer, ValidationError> {
    if v201::UNTYPED_ACTIONS.contains(&action) {
        return Ok(Answer::Other);
    }
    Ok(match v201::parse_response(action, payload)? {
        Response::BootNotification(r) => Answer::Boot {
            accepted: r.status == v201::RegistrationStatus::Accepted,
            interval: i64::from(r.interval),
        },
        Response::Authorize(r) => Answer::Authorized {
            status: r.id_token_info.status.as_str().to_owned(),
            expires_at: r.id_token_info.cache_expiry_date_time,
        },
        Response::TransactionEvent(r) => match r.id_token_info {
            // Only the Started event carries a token; its verdict decides whether the transaction
            // goes on. The transaction id is the charger's own.
            Some(info) => Answer::Started {
                id: None,
                accepted: info.status == v201::AuthorizationStatus::Accepted,
            },
            None => Answer::Started {
                id: None,
                accepted: true,
            },
        },
        _ => Answer::Other,
    })
}

fn purpose(p: v201::ChargingProfilePurpose) -> Option<Purpose> {
    match p {
        v201::ChargingProfilePurpose::ChargingStationMaxProfile => Some(Purpose::StationMax),
        v201::ChargingProfilePurpose::TxDefaultProfile => Some(Purpose::TxDefault),
        v201::ChargingProfilePurpose::TxProfile => Some(Purpose::Tx),
        v201::ChargingProfilePurpose::ChargingStationExternalConstraints => None,
    }
}

fn profile(p: &v201::ChargingProfile, evse_id: i32, now: DateTime<Utc>) -> Option<Profile> {
    let schedule = p.charging_schedule.first()?;
    Some(Profile {
        id: i64::from(p.id),
        stack_level: i64::from(p.stack_level),
        purpose: purpose(p.charging_profile_purpose)?,
        transaction_id: p.transaction_id.as_ref().map(|t| t.as_str().to_owned()),
        kind: match (p.charging_profile_kind, p.recurrency_kind) {
            (v201::ChargingProfileKind::Absolute, _) => Kind::Absolute,
            (v201::ChargingProfileKind::Relative, _) => Kind::Relative,
            (v201::ChargingProfileKind::Recurring, Some(v201::RecurrencyKind::Weekly)) => {
                Kind::Recurring { every_s: 7 * 86_400 }
            }
            (v201::ChargingProfileKind::Recurring, _) => Kind::Recurring { every_s: 86_400 },
        },
        start_schedule: schedule.start_schedule,
        valid_from: p.valid_from,
        valid_to: p.valid_to,
        duration_s: schedule.duration.map(i64::from),
        in_watts: schedule.charging_rate_unit == v201::ChargingRateUnit::W,
        periods: schedule
            .charging_schedule_period
            .iter()
            .map(|period| Period {
                start_s: i64::from(period.start_period),
                limit: period.limit,
                phases: f64::from(period.number_phases.unwrap_or(3)),
            })
            .collect(),
        installed_at: now,
        connector: i64::from(evse_id),
    })
}

/// Answers one of the server's calls: the CALLRESULT payload, or the refusal to answer with a
/// CALLERROR.
pub(crate) fn answer(m: &mut ChargePoint, action: &str, payload: &Value, at: Moment) -> Result<Value, ValidationError> {
    if let Some(answered) = untyped::answer201(m, action, payload) {
        return answered;
    }
    // A message only a station sends is refused whatever its payload (DataTransfer goes both
    // ways).
    if v201::Action::from_wire(action)
        .is_some_and(|a| a.initiator() == v201::Initiator::ChargingStation && action != "DataTransfer")
    {
        return Err(m.unsupported(action));
    }
    let request = v201::parse_request(action, payload)?;
    respond(m, request, at)?.to_value()
}

fn accepted_or(ok: bool) -> v201::RequestStartStopStatus {
    if ok {
        v201::RequestStartStopStatus::Accepted
    } else {
        v201::RequestStartStopStatus::Rejected
    }
}

fn respond(m: &mut ChargePoint, request: Request, at: Moment) -> Result<Response, ValidationError> {
    let now = at.wall;
    Ok(match request {
        Request::RequestStartTransaction(r) => {
            let evse_ok = r.evse_id.is_none_or(|e| e == 1);
            let token = IdToken::Central(r.id_token.id_token.into_inner());
            let accepted = evse_ok && m.remote_start(token, Some(i64::from(r.remote_start_id)));
            if accepted {
                if let Some(p) = r.charging_profile.as_ref().and_then(|p| profile(p, 1, now)) {
                    m.install(p);
                }
            }
            v201::RequestStartTransactionResponse {
                status: accepted_or(accepted),
                status_info: None,
                transaction_id: None,
            }
            .into()
        }
        Request::RequestStopTransaction(r) => v201::RequestStopTransactionResponse {
            status: accepted_or(m.remote_stop(r.transaction_id.as_str())),
            status_info: None,
        }
        .into(),
        Request::SetChargingProfile(r) => {
            // A profile the simulator does not model (external constraints) is refused.
            let accepted =
                profile(&r.charging_profile, r.evse_id, now).is_some_and(|p| m.set_profile(p, i64::from(r.evse_id)));
            v201::SetChargingProfileResponse {
                status: if accepted {
                    v201::ChargingProfileStatus::Accepted
                } else {
                    v201::ChargingProfileStatus::Rejected
                },
                status_info: None,
            }
            .into()
        }
        Request::ClearChargingProfile(r) => {
            let criteria = r.charging_profile_criteria.as_ref();
            let cleared = m.clear_profiles(
                r.charging_profile_id.map(i64::from),
                criteria.and_then(|c| c.evse_id).map(i64::from),
                criteria.and_then(|c| c.charging_profile_purpose).and_then(purpose),
                criteria.and_then(|c| c.stack_level).map(i64::from),
            );
            v201::ClearChargingProfileResponse {
                status: if cleared {
                    v201::ClearChargingProfileStatus::Accepted
                } else {
                    v201::ClearChargingProfileStatus::Unknown
                },
                status_info: None,
            }
            .into()
        }
        Request::GetCompositeSchedule(r) => {
            if !(0..=1).contains(&r.evse_id) || r.duration < 0 {
                v201::GetCompositeScheduleResponse {
                    status: v201::GenericStatus::Rejected,
                    status_info: None,
                    schedule: None,
                }
                .into()
            } else {
                let in_watts = r.charging_rate_unit == Some(v201::ChargingRateUnit::W);
                let steps = m.composite(now, i64::from(r.duration));
                v201::GetCompositeScheduleResponse {
                    status: v201::GenericStatus::Accepted,
                    status_info: None,
                    schedule: Some(v201::CompositeSchedule {
                        charging_schedule_period: steps
                            .iter()
                            .map(|(start, amps)| v201::ChargingSchedulePeriod {
                                start_period: i32::try_from(*start).unwrap_or(i32::MAX),
                                limit: if in_watts {
                                    (amps * VOLTS * PHASES).round()
                                } else {
                                    (amps * 10.0).round() / 10.0
                                },
                                number_phases: None,
                                phase_to_use: None,
                            })
                            .collect(),
                        evse_id: r.evse_id,
                        duration: r.duration,
                        schedule_start: now,
                        charging_rate_unit: if in_watts {
                            v201::ChargingRateUnit::W
                        } else {
                            v201::ChargingRateUnit::A
                        },
                    }),
                }
                .into()
            }
        }
        Request::SetVariables(r) => {
            let mut results = Vec::new();
            for data in r.set_variable_data {
                let status = match setting_of(data.component.name.as_str(), data.variable.name.as_str()) {
                    Err(Unknown::Component) => v201::SetVariableStatus::UnknownComponent,
                    Err(Unknown::Variable) => v201::SetVariableStatus::UnknownVariable,
                    Ok(_) if data.attribute_type.is_some_and(|a| a != v201::Attribute::Actual) => {
                        v201::SetVariableStatus::NotSupportedAttributeType
                    }
                    Ok(setting) => match m.change_setting(at, setting, data.attribute_value.as_str()) {
                        Ok(()) => v201::SetVariableStatus::Accepted,
                        Err(Refusal::Unknown) => v201::SetVariableStatus::UnknownVariable,
                        Err(Refusal::ReadOnly | Refusal::Invalid) => v201::SetVariableStatus::Rejected,
                    },
                };
                results.push(v201::SetVariableResult {
                    attribute_type: data.attribute_type,
                    attribute_status: status,
                    component: data.component,
                    variable: data.variable,
                    attribute_status_info: None,
                });
            }
            v201::SetVariablesResponse {
                set_variable_result: results,
            }
            .into()
        }
        Request::GetVariables(r) => {
            let mut results = Vec::new();
            for data in r.get_variable_data {
                let (status, value) = match setting_of(data.component.name.as_str(), data.variable.name.as_str()) {
                    Err(Unknown::Component) => (v201::GetVariableStatus::UnknownComponent, None),
                    Err(Unknown::Variable) => (v201::GetVariableStatus::UnknownVariable, None),
                    Ok(_) if data.attribute_type.is_some_and(|a| a != v201::Attribute::Actual) => {
                        (v201::GetVariableStatus::NotSupportedAttributeType, None)
                    }
                    Ok(setting) => match m.settings.get(setting) {
                        Some(value) => (v201::GetVariableStatus::Accepted, Some(value.try_into()?)),
                        None => (v201::GetVariableStatus::UnknownVariable, None),
                    },
                };
                results.push(v201::GetVariableResult {
                    attribute_status: status,
                    attribute_type: data.attribute_type,
                    attribute_value: value,
                    component: data.component,
                    variable: data.variable,
                    attribute_status_info: None,
                });
            }
            v201::GetVariablesResponse {
                get_variable_result: results,
            }
            .into()
        }
        Request::GetBaseReport(r) => {
            // Every report is the same one message of all its variables.
            m.queue_once(Out::Report(r.request_id));
            v201::GetBaseReportResponse {
                status: v201::GenericDeviceModelStatus::Accepted,
                status_info: None,
            }
            .into()
        }
        Request::TriggerMessage(r) => {
            let evse_ok = r.evse.as_ref().is_none_or(|e| e.id <= 1);
            let status = match trigger(m, r.requested_message) {
                Some(true) if evse_ok => v201::TriggerMessageStatus::Accepted,
                Some(_) => v201::TriggerMessageStatus::Rejected,
                None => v201::TriggerMessageStatus::NotImplemented,
            };
            v201::TriggerMessageResponse {
                status,
                status_info: None,
            }
            .into()
        }
        Request::Reset(r) => {
            let busy = !matches!(m.tx, Tx::Idle);
            let status = if r.evse_id.is_some_and(|e| e != 1) {
                v201::ResetStatus::Rejected
            } else if r.kind == v201::ResetKind::OnIdle && busy {
                // OnIdle waits for the transaction to end; the station then resets.
                m.reset_when_idle();
                v201::ResetStatus::Scheduled
            } else {
                m.reset(true);
                v201::ResetStatus::Accepted
            };
            v201::ResetResponse {
                status,
                status_info: None,
            }
            .into()
        }
        Request::ChangeAvailability(r) => {
            let status = if r
                .evse
                .as_ref()
                .is_some_and(|e| e.id != 1 || e.connector_id.is_some_and(|c| c != 1))
            {
                v201::ChangeAvailabilityStatus::Rejected
            } else if m.set_available(r.operational_status == v201::OperationalStatus::Operative) {
                v201::ChangeAvailabilityStatus::Accepted
            } else {
                v201::ChangeAvailabilityStatus::Scheduled
            };
            v201::ChangeAvailabilityResponse {
                status,
                status_info: None,
            }
            .into()
        }
        Request::UnlockConnector(r) => {
            let status = if r.evse_id != 1 || r.connector_id != 1 {
                v201::UnlockStatus::UnknownConnector
            } else if matches!(m.tx, Tx::Active { .. }) {
                // 2.0.1 refuses to unlock under an authorized transaction.
                v201::UnlockStatus::OngoingAuthorizedTransaction
            } else {
                v201::UnlockStatus::Unlocked
            };
            v201::UnlockConnectorResponse {
                status,
                status_info: None,
            }
            .into()
        }
        Request::ClearCache(_) => {
            m.clear_cache();
            v201::ClearCacheResponse {
                status: v201::ClearCacheStatus::Accepted,
                status_info: None,
            }
            .into()
        }
        Request::DataTransfer(r) => {
            // Data for this station's own vendor id is echoed; anybody else's is unknown.
            let ours = r.vendor_id.as_str() == m.config.vendor;
            v201::DataTransferResponse {
                status: if ours {
                    v201::DataTransferStatus::Accepted
                } else {
                    v201::DataTransferStatus::UnknownVendorId
                },
                status_info: None,
                data: if ours { r.data } else { None },
            }
            .into()
        }
        Request::UpdateFirmware(r) => {
            let replaces = m.job_running(false);
            m.start_job(
                at,
                JobKind::Firmware,
                &["Downloading", "Downloaded", "Installing", "Installed"],
                Some(r.request_id),
            );
            v201::UpdateFirmwareResponse {
                status: if replaces {
                    v201::UpdateFirmwareStatus::AcceptedCanceled
                } else {
                    v201::UpdateFirmwareStatus::Accepted
                },
                status_info: None,
            }
            .into()
        }
        Request::GetLog(r) => {
            let replaces = m.job_running(true);
            m.start_job(at, JobKind::Log, &["Uploading", "Uploaded"], Some(r.request_id));
            v201::GetLogResponse {
                status: if replaces {
                    v201::LogStatus::AcceptedCanceled
                } else {
                    v201::LogStatus::Accepted
                },
                status_info: None,
                filename: Some(
                    format!("{}-{}.log", r.log_type.as_str(), m.config.ocpp_id)
                        .as_str()
                        .try_into()?,
                ),
            }
            .into()
        }
        Request::ReserveNow(r) => v201::ReserveNowResponse {
            status: v201::ReserveNowStatus::from_wire(m.reserve(
                at,
                r.id,
                r.evse_id.unwrap_or(0),
                r.id_token.id_token.into_inner(),
                r.expiry_date_time,
            ))
            .unwrap_or(v201::ReserveNowStatus::Rejected),
            status_info: None,
        }
        .into(),
        Request::CancelReservation(r) => v201::CancelReservationResponse {
            status: if m.cancel_reservation(r.reservation_id) {
                v201::CancelReservationStatus::Accepted
            } else {
                v201::CancelReservationStatus::Rejected
            },
            status_info: None,
        }
        .into(),
        // A message only a station sends.
        other => return Err(m.unsupported(other.action().as_str())),
    })
}

/// A TriggerMessage for `message`: `Some(true)` queued, `None` not a message the station sends.
fn trigger(m: &mut ChargePoint, message: v201::MessageTrigger) -> Option<bool> {
    use v201::MessageTrigger as M;
    match message {
        M::BootNotification => m.queue_once(Out::Boot),
        M::Heartbeat => m.queue_once(Out::Heartbeat),
        M::MeterValues | M::TransactionEvent => m.queue_once(Out::Meter { triggered: true }),
        M::StatusNotification => m.report_status_again(),
        M::FirmwareStatusNotification => {
            let status = m.firmware_status;
            m.queue_once(Out::JobStatus {
                kind: JobKind::Firmware,
                status,
                request_id: None,
            });
        }
        M::LogStatusNotification => {
            let status = m.upload_status;
            m.queue_once(Out::JobStatus {
                kind: JobKind::Log,
                status,
                request_id: None,
            });
        }
        M::SignChargingStationCertificate => m.queue_once(Out::SignCertificate),
        _ => return None,
    }
    Some(true)
}
