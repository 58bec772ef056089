//! The simulated charger's OCPP 1.6J messages: its calls built from the typed messages of
//! `coupler-ocpp`, and its answers to every call Coupler's gateway sends.

use chrono::{DateTime, Utc};
use coupler_ocpp::rpc::Frame;
use coupler_ocpp::v16::{self, ChargePointStatus, Request, Response};
use coupler_ocpp::{OcppVersion, ValidationError};
use serde_json::Value;

use super::{
    composite, Answer, IdToken, Kind, Machine, Out, Period, Profile, Purpose, SettingRefusal, SimChargerConfig, Status,
    StopReason, Tx, METER_MEASURANDS,
};
use crate::cloud::SimCloud;

fn status16(status: Status) -> ChargePointStatus {
    match status {
        Status::Available => ChargePointStatus::Available,
        Status::Preparing => ChargePointStatus::Preparing,
        Status::Charging => ChargePointStatus::Charging,
        Status::SuspendedEv => ChargePointStatus::SuspendedEv,
        Status::SuspendedEvse => ChargePointStatus::SuspendedEvse,
        Status::Finishing => ChargePointStatus::Finishing,
        Status::Unavailable => ChargePointStatus::Unavailable,
        Status::Reserved => ChargePointStatus::Reserved,
    }
}

fn reason16(reason: StopReason) -> v16::Reason {
    match reason {
        StopReason::EvDisconnected => v16::Reason::EvDisconnected,
        StopReason::Remote => v16::Reason::Remote,
        StopReason::Local => v16::Reason::Local,
        StopReason::DeAuthorized => v16::Reason::DeAuthorized,
        StopReason::SoftReset => v16::Reason::SoftReset,
        StopReason::HardReset => v16::Reason::HardReset,
        StopReason::UnlockCommand => v16::Reason::UnlockCommand,
    }
}

fn sampled(
    value: f64,
    measurand: v16::Measurand,
    unit: v16::UnitOfMeasure,
    context: v16::ReadingContext,
) -> v16::SampledValue {
    v16::SampledValue {
        value: format!("{value:.1}"),
        context: Some(context),
        format: None,
        measurand: Some(measurand),
        phase: None,
        location: Some(v16::Location::Outlet),
        unit: Some(unit),
    }
}

/// The meter values the charger is configured to sample.
fn meter_value(
    m: &Machine,
    energy_wh: f64,
    power_w: f64,
    current_a: f64,
    context: v16::ReadingContext,
    now: DateTime<Utc>,
) -> v16::MeterValue {
    let wanted = m.setting(METER_MEASURANDS).unwrap_or_default().to_owned();
    let wants = |name: &str| wanted.split(',').any(|w| w.trim() == name);
    let mut values = vec![sampled(
        energy_wh.round(),
        v16::Measurand::EnergyActiveImportRegister,
        v16::UnitOfMeasure::Wh,
        context,
    )];
    if wants("Power.Active.Import") {
        values.push(sampled(
            power_w,
            v16::Measurand::PowerActiveImport,
            v16::UnitOfMeasure::W,
            context,
        ));
    }
    if wants("Current.Import") {
        values.push(sampled(
            current_a,
            v16::Measurand::CurrentImport,
            v16::UnitOfMeasure::A,
            context,
        ));
    }
    if wants("Current.Offered") {
        values.push(sampled(
            m.offered,
            v16::Measurand::CurrentOffered,
            v16::UnitOfMeasure::A,
            context,
        ));
    }
    v16::MeterValue {
        timestamp: now,
        sampled_value: values,
    }
}

fn energy_register(energy_wh: f64) -> i32 {
    // A register beyond 2^31 Wh (2 GWh) does not happen on a home charger.
    energy_wh.round().clamp(0.0, f64::from(i32::MAX)) as i32
}

/// The 1.6 payload for `call`; `None` when there is nothing to send any more.
pub(super) fn build(
    m: &mut Machine,
    call: &Out,
    cloud: &SimCloud,
    config: &SimChargerConfig,
) -> Result<Option<(&'static str, Value)>, ValidationError> {
    let now = cloud.now();
    let reading = m.reading(cloud, config);
    let request = match call {
        Out::Boot => Request::BootNotification(v16::BootNotificationRequest {
            charge_point_vendor: config.vendor().try_into()?,
            charge_point_model: config.model().try_into()?,
            charge_point_serial_number: Some(serial(&config.ocpp_id).as_str().try_into()?),
            charge_box_serial_number: None,
            firmware_version: Some(concat!("sim-", env!("CARGO_PKG_VERSION")).try_into()?),
            iccid: None,
            imsi: None,
            meter_type: Some("Simulated 3-phase meter".try_into()?),
            meter_serial_number: None,
        }),
        Out::Heartbeat => Request::Heartbeat(v16::HeartbeatRequest {}),
        Out::StationStatus => Request::StatusNotification(v16::StatusNotificationRequest {
            connector_id: 0,
            error_code: v16::ChargePointErrorCode::NoError,
            info: None,
            status: if m.available {
                ChargePointStatus::Available
            } else {
                ChargePointStatus::Unavailable
            },
            timestamp: Some(now),
            vendor_id: None,
            vendor_error_code: None,
        }),
        Out::Status(status) => Request::StatusNotification(v16::StatusNotificationRequest {
            connector_id: 1,
            error_code: v16::ChargePointErrorCode::NoError,
            info: None,
            status: status16(*status),
            timestamp: Some(now),
            vendor_id: None,
            vendor_error_code: None,
        }),
        Out::ChargingStateChanged(_) => return Ok(None),
        Out::Authorize(token) => Request::Authorize(v16::AuthorizeRequest {
            id_tag: token.as_tag().as_str().try_into()?,
        }),
        Out::Start { token, .. } => Request::StartTransaction(v16::StartTransactionRequest {
            connector_id: 1,
            id_tag: token.as_tag().as_str().try_into()?,
            meter_start: energy_register(reading.energy_wh),
            reservation_id: m.reservation_in_use,
            timestamp: now,
        }),
        Out::Meter => {
            let transaction_id = match &m.tx {
                Tx::Active { id, .. } => id.parse().ok(),
                _ => None,
            };
            Request::MeterValues(v16::MeterValuesRequest {
                connector_id: 1,
                transaction_id,
                meter_value: vec![meter_value(
                    m,
                    reading.energy_wh,
                    reading.power_w,
                    reading.current_a,
                    v16::ReadingContext::SamplePeriodic,
                    now,
                )],
            })
        }
        Out::Stop(reason) => {
            let Some(id) = m.tx.id().and_then(|id| id.parse::<i32>().ok()) else {
                return Ok(None);
            };
            Request::StopTransaction(v16::StopTransactionRequest {
                id_tag: None,
                meter_stop: energy_register(reading.energy_wh),
                timestamp: now,
                transaction_id: id,
                reason: Some(reason16(*reason)),
                transaction_data: None,
            })
        }
        Out::FirmwareStatus { status, .. } => match v16::FirmwareStatus::from_wire(status) {
            Some(status) => Request::FirmwareStatusNotification(v16::FirmwareStatusNotificationRequest { status }),
            None => return Ok(None),
        },
        Out::UploadStatus { status, .. } => match v16::DiagnosticsStatus::from_wire(status) {
            Some(status) => {
                Request::DiagnosticsStatusNotification(v16::DiagnosticsStatusNotificationRequest { status })
            }
            None => return Ok(None),
        },
        // 1.6 reports an ended reservation by the connector's status alone, and has no reports.
        Out::ReservationExpired(_) | Out::Report(_) => return Ok(None),
    };
    let payload = request.to_value()?;
    Ok(Some((request.action().as_str(), payload)))
}

/// A serial number from the identity, within the 25 characters 1.6 allows.
fn serial(ocpp_id: &str) -> String {
    let tail: String = ocpp_id
        .chars()
        .rev()
        .take(21)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("SIM-{tail}")
}

/// Reads the server's answer to one of our calls.
pub(super) fn read_answer(action: &str, payload: &Value) -> Result<Answer, ValidationError> {
    Ok(match v16::parse_response(action, payload)? {
        Response::BootNotification(r) => Answer::Boot {
            accepted: r.status == v16::RegistrationStatus::Accepted,
            interval: i64::from(r.interval),
        },
        Response::Authorize(r) => Answer::Authorized(r.id_tag_info.status == v16::AuthorizationStatus::Accepted),
        Response::StartTransaction(r) => Answer::Started {
            id: Some(r.transaction_id.to_string()),
            accepted: r.id_tag_info.status == v16::AuthorizationStatus::Accepted,
        },
        _ => Answer::Other,
    })
}

fn purpose(p: v16::ChargingProfilePurpose) -> Purpose {
    match p {
        v16::ChargingProfilePurpose::ChargePointMaxProfile => Purpose::StationMax,
        v16::ChargingProfilePurpose::TxDefaultProfile => Purpose::TxDefault,
        v16::ChargingProfilePurpose::TxProfile => Purpose::Tx,
    }
}

fn profile(p: &v16::ChargingProfile, connector: i32, now: DateTime<Utc>) -> Profile {
    let schedule = &p.charging_schedule;
    Profile {
        id: i64::from(p.charging_profile_id),
        stack_level: i64::from(p.stack_level),
        purpose: purpose(p.charging_profile_purpose),
        transaction_id: p.transaction_id.map(|t| t.to_string()),
        kind: match (p.charging_profile_kind, p.recurrency_kind) {
            (v16::ChargingProfileKind::Absolute, _) => Kind::Absolute,
            (v16::ChargingProfileKind::Relative, _) => Kind::Relative,
            (v16::ChargingProfileKind::Recurring, Some(v16::RecurrencyKind::Weekly)) => {
                Kind::Recurring { every_s: 7 * 86_400 }
            }
            (v16::ChargingProfileKind::Recurring, _) => Kind::Recurring { every_s: 86_400 },
        },
        start_schedule: schedule.start_schedule,
        valid_from: p.valid_from,
        valid_to: p.valid_to,
        duration_s: schedule.duration.map(i64::from),
        in_watts: schedule.charging_rate_unit == v16::ChargingRateUnit::W,
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
        connector: i64::from(connector),
    }
}

/// Answers one of the server's calls (a CALLERROR for a call it cannot read).
pub(super) fn answer(
    m: &mut Machine,
    id: &str,
    action: &str,
    payload: &Value,
    now: DateTime<Utc>,
    cloud: &SimCloud,
    config: &SimChargerConfig,
) -> Frame {
    let response = match v16::parse_request(action, payload) {
        Ok(request) => respond(m, request, now, cloud, config),
        Err(error) => return error.call_error(id, OcppVersion::V16),
    };
    match response.and_then(|r| r.to_call_result(id)) {
        Ok(frame) => frame,
        Err(error) => error.call_error(id, OcppVersion::V16),
    }
}

fn respond(
    m: &mut Machine,
    request: Request,
    now: DateTime<Utc>,
    cloud: &SimCloud,
    config: &SimChargerConfig,
) -> Result<Response, ValidationError> {
    Ok(match request {
        Request::RemoteStartTransaction(r) => {
            let connector_ok = r.connector_id.is_none_or(|c| c == 1);
            let token = IdToken::Central(r.id_tag.into_inner());
            let accepted = connector_ok && m.remote_start(token, None);
            if accepted {
                if let Some(p) = &r.charging_profile {
                    m.install(profile(p, 1, now));
                }
            }
            v16::RemoteStartTransactionResponse {
                status: if accepted {
                    v16::RemoteStartStopStatus::Accepted
                } else {
                    v16::RemoteStartStopStatus::Rejected
                },
            }
            .into()
        }
        Request::RemoteStopTransaction(r) => v16::RemoteStopTransactionResponse {
            status: if m.remote_stop(&r.transaction_id.to_string()) {
                v16::RemoteStartStopStatus::Accepted
            } else {
                v16::RemoteStartStopStatus::Rejected
            },
        }
        .into(),
        Request::SetChargingProfile(r) => {
            let fits = m.set_profile(
                profile(&r.cs_charging_profiles, r.connector_id, now),
                i64::from(r.connector_id),
            );
            v16::SetChargingProfileResponse {
                status: if fits {
                    v16::ChargingProfileStatus::Accepted
                } else {
                    v16::ChargingProfileStatus::Rejected
                },
            }
            .into()
        }
        Request::ClearChargingProfile(r) => {
            let cleared = m.clear(
                r.id.map(i64::from),
                r.connector_id.map(i64::from),
                r.charging_profile_purpose.map(purpose),
                r.stack_level.map(i64::from),
            );
            v16::ClearChargingProfileResponse {
                status: if cleared {
                    v16::ClearChargingProfileStatus::Accepted
                } else {
                    v16::ClearChargingProfileStatus::Unknown
                },
            }
            .into()
        }
        Request::GetCompositeSchedule(r) => {
            if !(0..=1).contains(&r.connector_id) || r.duration < 0 {
                v16::GetCompositeScheduleResponse {
                    status: v16::GetCompositeScheduleStatus::Rejected,
                    connector_id: None,
                    schedule_start: None,
                    charging_schedule: None,
                }
                .into()
            } else {
                let in_watts = r.charging_rate_unit == Some(v16::ChargingRateUnit::W);
                let steps = composite(
                    &m.profiles,
                    now,
                    i64::from(r.duration),
                    m.tx_context(),
                    config.max_current,
                );
                let periods = steps
                    .iter()
                    .map(|(start, amps)| v16::ChargingSchedulePeriod {
                        start_period: i32::try_from(*start).unwrap_or(i32::MAX),
                        limit: if in_watts {
                            (amps * crate::cloud::VOLTS * crate::cloud::PHASES).round()
                        } else {
                            (amps * 10.0).round() / 10.0
                        },
                        number_phases: None,
                    })
                    .collect();
                v16::GetCompositeScheduleResponse {
                    status: v16::GetCompositeScheduleStatus::Accepted,
                    connector_id: Some(r.connector_id),
                    schedule_start: Some(now),
                    charging_schedule: Some(v16::ChargingSchedule {
                        duration: Some(r.duration),
                        start_schedule: Some(now),
                        charging_rate_unit: if in_watts {
                            v16::ChargingRateUnit::W
                        } else {
                            v16::ChargingRateUnit::A
                        },
                        charging_schedule_period: periods,
                        min_charging_rate: None,
                    }),
                }
                .into()
            }
        }
        Request::ChangeConfiguration(r) => v16::ChangeConfigurationResponse {
            status: match m.change_setting(r.key.as_str(), r.value.as_str()) {
                Ok(()) => v16::ConfigurationStatus::Accepted,
                Err(SettingRefusal::Unknown) => v16::ConfigurationStatus::NotSupported,
                Err(SettingRefusal::ReadOnly | SettingRefusal::Invalid) => v16::ConfigurationStatus::Rejected,
            },
        }
        .into(),
        Request::GetConfiguration(r) => {
            let wanted: Option<Vec<String>> = r.key.map(|keys| keys.into_iter().map(|k| k.into_inner()).collect());
            let mut known = Vec::new();
            let mut unknown = Vec::new();
            match wanted {
                None => {
                    for (key, (value, readonly)) in &m.settings {
                        known.push(v16::KeyValue {
                            key: key.as_str().try_into()?,
                            readonly: *readonly,
                            value: Some(value.as_str().try_into()?),
                        });
                    }
                }
                Some(keys) => {
                    for key in keys {
                        match m.settings.get(&key) {
                            Some((value, readonly)) => known.push(v16::KeyValue {
                                key: key.as_str().try_into()?,
                                readonly: *readonly,
                                value: Some(value.as_str().try_into()?),
                            }),
                            None => unknown.push(key.as_str().try_into()?),
                        }
                    }
                }
            }
            v16::GetConfigurationResponse {
                configuration_key: Some(known),
                unknown_key: (!unknown.is_empty()).then_some(unknown),
            }
            .into()
        }
        Request::TriggerMessage(r) => {
            let accepted = match r.requested_message {
                v16::MessageTrigger::BootNotification => {
                    m.queue_once(Out::Boot);
                    true
                }
                v16::MessageTrigger::Heartbeat => {
                    m.queue_once(Out::Heartbeat);
                    true
                }
                v16::MessageTrigger::MeterValues => {
                    m.queue_once(Out::Meter);
                    true
                }
                v16::MessageTrigger::StatusNotification => {
                    if r.connector_id.is_none_or(|c| c == 0) {
                        m.queue_once(Out::StationStatus);
                    }
                    // Forget the last status so the next look at the connector reports it.
                    m.last_status = None;
                    true
                }
                v16::MessageTrigger::DiagnosticsStatusNotification => {
                    m.queue_once(Out::UploadStatus {
                        status: m.upload_status,
                        request_id: None,
                    });
                    true
                }
                v16::MessageTrigger::FirmwareStatusNotification => {
                    m.queue_once(Out::FirmwareStatus {
                        status: m.firmware_status,
                        request_id: None,
                    });
                    true
                }
            };
            v16::TriggerMessageResponse {
                status: if accepted {
                    v16::TriggerMessageStatus::Accepted
                } else {
                    v16::TriggerMessageStatus::NotImplemented
                },
            }
            .into()
        }
        Request::Reset(r) => {
            m.reset(r.kind == v16::ResetType::Hard);
            v16::ResetResponse {
                status: v16::ResetStatus::Accepted,
            }
            .into()
        }
        Request::ChangeAvailability(r) => {
            let status = if !(0..=1).contains(&r.connector_id) {
                v16::AvailabilityStatus::Rejected
            } else if m.set_available(r.kind == v16::AvailabilityType::Operative) {
                m.last_status = None;
                v16::AvailabilityStatus::Accepted
            } else {
                v16::AvailabilityStatus::Scheduled
            };
            v16::ChangeAvailabilityResponse { status }.into()
        }
        Request::UnlockConnector(r) => {
            let status = if r.connector_id == 1 {
                // Unlocking ends the transaction; the car stays where it is until unplugged.
                if matches!(m.tx, Tx::Active { .. }) {
                    m.end(StopReason::UnlockCommand);
                }
                v16::UnlockStatus::Unlocked
            } else {
                v16::UnlockStatus::NotSupported
            };
            v16::UnlockConnectorResponse { status }.into()
        }
        Request::DataTransfer(_) => v16::DataTransferResponse {
            status: v16::DataTransferStatus::UnknownVendorId,
            data: None,
        }
        .into(),
        Request::ClearCache(_) => v16::ClearCacheResponse {
            status: v16::ClearCacheStatus::Accepted,
        }
        .into(),
        Request::UpdateFirmware(_) => {
            m.start_job(&["Downloading", "Downloaded", "Installing", "Installed"], None, false);
            v16::UpdateFirmwareResponse {}.into()
        }
        Request::GetDiagnostics(_) => {
            m.start_job(&["Uploading", "Uploaded"], None, true);
            v16::GetDiagnosticsResponse {
                file_name: Some(format!("diagnostics-{}.log", config.ocpp_id).as_str().try_into()?),
            }
            .into()
        }
        Request::ReserveNow(r) => v16::ReserveNowResponse {
            status: v16::ReservationStatus::from_wire(m.reserve(
                r.reservation_id,
                r.connector_id,
                r.id_tag.into_inner(),
                r.expiry_date,
            ))
            .unwrap_or(v16::ReservationStatus::Rejected),
        }
        .into(),
        Request::CancelReservation(r) => v16::CancelReservationResponse {
            status: if m.cancel_reservation(r.reservation_id) {
                v16::CancelReservationStatus::Accepted
            } else {
                v16::CancelReservationStatus::Rejected
            },
        }
        .into(),
        other => {
            let _ = cloud;
            return Err(ValidationError::new(
                coupler_ocpp::ErrorCode::NotSupported,
                "",
                format!("a charge point does not answer {}", other.action().as_str()),
            ));
        }
    })
}
