//! The charge point's OCPP 1.6J messages: its calls built from the typed messages of
//! `coupler-ocpp`, and its answers to every call a central system sends (the local-list and
//! security-extension ones, read as checked JSON, in `untyped`).

use chrono::{DateTime, Utc};
use coupler_ocpp::v16::{self, ChargePointStatus, Request, Response};
use coupler_ocpp::ValidationError;
use serde_json::Value;

use crate::machine::{Answer, ChargePoint, IdToken, JobKind, Moment, Out, Status, StopReason, Tx};
use crate::profile::{Kind, Period, Profile, Purpose};
use crate::settings::{self, Refusal};
use crate::{untyped, PHASES, VOLTS};

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
    value: String,
    measurand: v16::Measurand,
    unit: v16::UnitOfMeasure,
    context: v16::ReadingContext,
) -> v16::SampledValue {
    v16::SampledValue {
        value,
        context: Some(context),
        format: None,
        measurand: Some(measurand),
        phase: None,
        location: Some(v16::Location::Outlet),
        unit: Some(unit),
    }
}

/// The meter values the charge point is configured to sample: the energy register always, power
/// and currents as MeterValuesSampledData lists them.
fn meter_value(cp: &ChargePoint, at: DateTime<Utc>, context: v16::ReadingContext) -> v16::MeterValue {
    let wanted = cp.settings.get(settings::METER_MEASURANDS).unwrap_or_default();
    let wants = |name: &str| wanted.split(',').any(|w| w.trim() == name);
    let sample = cp.sample;
    let mut values = vec![sampled(
        energy_register(sample.energy_wh).to_string(),
        v16::Measurand::EnergyActiveImportRegister,
        v16::UnitOfMeasure::Wh,
        context,
    )];
    if wants("Power.Active.Import") {
        values.push(sampled(
            format!("{:.0}", sample.power_w),
            v16::Measurand::PowerActiveImport,
            v16::UnitOfMeasure::W,
            context,
        ));
    }
    if wants("Current.Import") {
        values.push(sampled(
            format!("{:.1}", sample.current_a),
            v16::Measurand::CurrentImport,
            v16::UnitOfMeasure::A,
            context,
        ));
    }
    if wants("Current.Offered") {
        values.push(sampled(
            format!("{:.1}", cp.offered),
            v16::Measurand::CurrentOffered,
            v16::UnitOfMeasure::A,
            context,
        ));
    }
    v16::MeterValue {
        timestamp: at,
        sampled_value: values,
    }
}

/// The energy register in whole Wh, as the 1.6 integer fields want it.
fn energy_register(energy_wh: f64) -> i32 {
    // A register beyond 2^31 Wh (2 GWh) does not happen on a home charger.
    energy_wh.round().clamp(0.0, f64::from(i32::MAX)) as i32
}

/// The 1.6 payload for `call`; `None` when there is nothing to send any more.
pub(crate) fn build(
    cp: &mut ChargePoint,
    call: &Out,
    at: Moment,
) -> Result<Option<(&'static str, Value)>, ValidationError> {
    let now = at.wall;
    let request = match call {
        Out::Boot => Request::BootNotification(v16::BootNotificationRequest {
            charge_point_vendor: cp.config.vendor.as_str().try_into()?,
            charge_point_model: cp.config.model.as_str().try_into()?,
            charge_point_serial_number: Some(cp.config.serial_number.as_str().try_into()?),
            charge_box_serial_number: None,
            firmware_version: Some(cp.config.firmware_version.as_str().try_into()?),
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
            status: if cp.available {
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
        Out::ChargingStateChanged(_)
        | Out::ReservationExpired(_)
        | Out::Report(_)
        | Out::CustomerInformation { .. } => {
            // 1.6 reports these by the connector's status alone, or has no such message.
            return Ok(None);
        }
        Out::Authorize(token) => Request::Authorize(v16::AuthorizeRequest {
            id_tag: token.as_tag().as_str().try_into()?,
        }),
        Out::Start { token, .. } => Request::StartTransaction(v16::StartTransactionRequest {
            connector_id: 1,
            id_tag: token.as_tag().as_str().try_into()?,
            meter_start: energy_register(cp.sample.energy_wh),
            reservation_id: cp.reservation_in_use,
            timestamp: now,
        }),
        Out::Meter { triggered } => {
            let transaction_id = match &cp.tx {
                Tx::Active { id, .. } => id.parse().ok(),
                _ => None,
            };
            let context = if *triggered {
                v16::ReadingContext::Trigger
            } else {
                v16::ReadingContext::SamplePeriodic
            };
            Request::MeterValues(v16::MeterValuesRequest {
                connector_id: 1,
                transaction_id,
                meter_value: vec![meter_value(cp, now, context)],
            })
        }
        Out::Stop(reason) => {
            let Some(id) = cp.tx.id().and_then(|id| id.parse::<i32>().ok()) else {
                return Ok(None);
            };
            Request::StopTransaction(v16::StopTransactionRequest {
                id_tag: None,
                meter_stop: energy_register(cp.sample.energy_wh),
                timestamp: now,
                transaction_id: id,
                reason: Some(reason16(*reason)),
                transaction_data: None,
            })
        }
        Out::JobStatus {
            kind: JobKind::Firmware,
            status,
            ..
        } => match v16::FirmwareStatus::from_wire(status) {
            Some(status) => Request::FirmwareStatusNotification(v16::FirmwareStatusNotificationRequest { status }),
            None => return Ok(None),
        },
        Out::JobStatus {
            kind: JobKind::Diagnostics,
            status,
            ..
        } => match v16::DiagnosticsStatus::from_wire(status) {
            Some(status) => {
                Request::DiagnosticsStatusNotification(v16::DiagnosticsStatusNotificationRequest { status })
            }
            None => return Ok(None),
        },
        // The security extension's messages, written as checked JSON by `untyped`.
        Out::JobStatus { .. } | Out::SecurityEvent(_) | Out::SignCertificate => {
            return Ok(untyped::build16(cp, call, at));
        }
    };
    let payload = request.to_value()?;
    Ok(Some((request.action().as_str(), payload)))
}

/// Reads the server's answer to one of our calls.
pub(crate) fn read_answer(action: &str, payload: &Value) -> Result<Answer, ValidationError> {
    if v16::UNTYPED_ACTIONS.contains(&action) {
        return Ok(Answer::Other);
    }
    Ok(match v16::parse_response(action, payload)? {
        Response::BootNotification(r) => Answer::Boot {
            accepted: r.status == v16::RegistrationStatus::Accepted,
            interval: i64::from(r.interval),
        },
        Response::Authorize(r) => Answer::Authorized {
            status: r.id_tag_info.status.as_str().to_owned(),
            expires_at: r.id_tag_info.expiry_date,
        },
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

/// Answers one of the server's calls: the CALLRESULT payload, or the refusal to answer with a
/// CALLERROR.
pub(crate) fn answer(
    cp: &mut ChargePoint,
    action: &str,
    payload: &Value,
    at: Moment,
) -> Result<Value, ValidationError> {
    if let Some(answered) = untyped::answer16(cp, action, payload, at) {
        return answered;
    }
    // A message only a charge point sends is refused whatever its payload (DataTransfer goes
    // both ways).
    if v16::Action::from_wire(action)
        .is_some_and(|a| a.initiator() == v16::Initiator::ChargePoint && action != "DataTransfer")
    {
        return Err(cp.unsupported(action));
    }
    let request = v16::parse_request(action, payload)?;
    respond(cp, request, at)?.to_value()
}

fn accepted_or_rejected(ok: bool) -> v16::RemoteStartStopStatus {
    if ok {
        v16::RemoteStartStopStatus::Accepted
    } else {
        v16::RemoteStartStopStatus::Rejected
    }
}

fn respond(cp: &mut ChargePoint, request: Request, at: Moment) -> Result<Response, ValidationError> {
    let now = at.wall;
    Ok(match request {
        Request::RemoteStartTransaction(r) => {
            let connector_ok = r.connector_id.is_none_or(|c| c == 1);
            let token = IdToken::Central(r.id_tag.into_inner());
            let accepted = connector_ok && cp.remote_start(token, None);
            if accepted {
                if let Some(p) = &r.charging_profile {
                    cp.install(profile(p, 1, now));
                }
            }
            v16::RemoteStartTransactionResponse {
                status: accepted_or_rejected(accepted),
            }
            .into()
        }
        Request::RemoteStopTransaction(r) => v16::RemoteStopTransactionResponse {
            status: accepted_or_rejected(cp.remote_stop(&r.transaction_id.to_string())),
        }
        .into(),
        Request::SetChargingProfile(r) => {
            let fits = cp.set_profile(
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
            let cleared = cp.clear_profiles(
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
                let periods = cp
                    .composite(now, i64::from(r.duration))
                    .iter()
                    .map(|(start, amps)| v16::ChargingSchedulePeriod {
                        start_period: i32::try_from(*start).unwrap_or(i32::MAX),
                        limit: if in_watts {
                            (amps * VOLTS * PHASES).round()
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
            status: match cp.change_setting(at, r.key.as_str(), r.value.as_str()) {
                Ok(()) => v16::ConfigurationStatus::Accepted,
                Err(Refusal::Unknown) => v16::ConfigurationStatus::NotSupported,
                Err(Refusal::ReadOnly | Refusal::Invalid) => v16::ConfigurationStatus::Rejected,
            },
        }
        .into(),
        Request::GetConfiguration(r) => {
            let key_value = |(key, value, readonly): (&str, &str, bool)| -> Result<v16::KeyValue, ValidationError> {
                Ok(v16::KeyValue {
                    key: key.try_into()?,
                    readonly,
                    value: Some(value.try_into()?),
                })
            };
            let mut known = Vec::new();
            let mut unknown = Vec::new();
            match r.key {
                None => {
                    for entry in cp.settings.all() {
                        known.push(key_value(entry)?);
                    }
                }
                Some(keys) => {
                    for key in keys {
                        match cp.settings.describe(key.as_str()) {
                            Some(entry) => known.push(key_value(entry)?),
                            None => unknown.push(key),
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
        Request::TriggerMessage(r) => v16::TriggerMessageResponse {
            status: match trigger(cp, r.requested_message.as_str(), r.connector_id) {
                Some(true) => v16::TriggerMessageStatus::Accepted,
                Some(false) => v16::TriggerMessageStatus::Rejected,
                None => v16::TriggerMessageStatus::NotImplemented,
            },
        }
        .into(),
        Request::Reset(r) => {
            cp.reset(r.kind == v16::ResetType::Hard);
            v16::ResetResponse {
                status: v16::ResetStatus::Accepted,
            }
            .into()
        }
        Request::ChangeAvailability(r) => {
            let status = if !(0..=1).contains(&r.connector_id) {
                v16::AvailabilityStatus::Rejected
            } else if cp.set_available(r.kind == v16::AvailabilityType::Operative) {
                v16::AvailabilityStatus::Accepted
            } else {
                v16::AvailabilityStatus::Scheduled
            };
            v16::ChangeAvailabilityResponse { status }.into()
        }
        Request::UnlockConnector(r) => {
            let status = if r.connector_id == 1 {
                // Unlocking ends the transaction; the car stays where it is until unplugged.
                if matches!(cp.tx, Tx::Active { .. }) {
                    cp.end(StopReason::UnlockCommand);
                }
                v16::UnlockStatus::Unlocked
            } else {
                v16::UnlockStatus::NotSupported
            };
            v16::UnlockConnectorResponse { status }.into()
        }
        Request::DataTransfer(r) => {
            // Data for this charge point's own vendor id is echoed; anybody else's is unknown.
            let ours = r.vendor_id.as_str() == cp.config.vendor;
            v16::DataTransferResponse {
                status: if ours {
                    v16::DataTransferStatus::Accepted
                } else {
                    v16::DataTransferStatus::UnknownVendorId
                },
                data: if ours { r.data } else { None },
            }
            .into()
        }
        Request::ClearCache(_) => {
            cp.clear_cache();
            v16::ClearCacheResponse {
                status: v16::ClearCacheStatus::Accepted,
            }
            .into()
        }
        Request::UpdateFirmware(_) => {
            cp.start_job(
                at,
                JobKind::Firmware,
                &["Downloading", "Downloaded", "Installing", "Installed"],
                None,
            );
            v16::UpdateFirmwareResponse {}.into()
        }
        Request::GetDiagnostics(_) => {
            cp.start_job(at, JobKind::Diagnostics, &["Uploading", "Uploaded"], None);
            v16::GetDiagnosticsResponse {
                file_name: Some(format!("diagnostics-{}.log", cp.config.ocpp_id).as_str().try_into()?),
            }
            .into()
        }
        Request::ReserveNow(r) => v16::ReserveNowResponse {
            status: v16::ReservationStatus::from_wire(cp.reserve(
                at,
                r.reservation_id,
                r.connector_id,
                r.id_tag.into_inner(),
                r.expiry_date,
            ))
            .unwrap_or(v16::ReservationStatus::Rejected),
        }
        .into(),
        Request::CancelReservation(r) => v16::CancelReservationResponse {
            status: if cp.cancel_reservation(r.reservation_id) {
                v16::CancelReservationStatus::Accepted
            } else {
                v16::CancelReservationStatus::Rejected
            },
        }
        .into(),
        // A message only a charge point sends.
        other => return Err(cp.unsupported(other.action().as_str())),
    })
}

/// A TriggerMessage or ExtendedTriggerMessage for `message` (on `connector`, if named):
/// `Some(true)` queued, `Some(false)` refused (a connector it does not have), `None` not a
/// message it sends.
pub(crate) fn trigger(cp: &mut ChargePoint, message: &str, connector: Option<i32>) -> Option<bool> {
    if connector.is_some_and(|c| !(0..=1).contains(&c)) {
        return Some(false);
    }
    match message {
        "BootNotification" => cp.queue_once(Out::Boot),
        "Heartbeat" => cp.queue_once(Out::Heartbeat),
        "MeterValues" => cp.queue_once(Out::Meter { triggered: true }),
        "StatusNotification" => {
            if connector.is_none_or(|c| c == 0) {
                cp.queue_once(Out::StationStatus);
            }
            if connector.is_none_or(|c| c == 1) {
                // Forget the last status so the next look at the connector reports it.
                cp.report_status_again();
            }
        }
        "DiagnosticsStatusNotification" => {
            let status = cp.upload_status;
            cp.queue_once(Out::JobStatus {
                kind: JobKind::Diagnostics,
                status,
                request_id: None,
            });
        }
        "LogStatusNotification" => {
            let status = cp.upload_status;
            cp.queue_once(Out::JobStatus {
                kind: JobKind::Log,
                status,
                request_id: None,
            });
        }
        "FirmwareStatusNotification" => {
            let status = cp.firmware_status;
            cp.queue_once(Out::JobStatus {
                kind: JobKind::Firmware,
                status,
                request_id: None,
            });
        }
        "SignChargePointCertificate" => cp.queue_once(Out::SignCertificate),
        _ => return None,
    }
    Some(true)
}
