//! OCPP 2.0.1: the station's calls turned into the same stored facts as 1.6, and the control port's
//! version-neutral commands turned into 2.0.1 calls.
//!
//! Where the versions differ, the mapping is:
//! - Coupler's connector number is the 2.0.1 EVSE id (what a 1.6 connector is: one outlet that
//!   charges one vehicle at a time); a StatusNotification's connector within the EVSE is logged.
//! - A 2.0.1 transaction id is the station's string; the store keeps Coupler's integer session id
//!   beside it, so sessions look the same through the API whatever the version.
//! - `connectorStatus` only says whether a cable is in; the power delivery state comes from the
//!   TransactionEvent's `chargingState`, and an `Occupied` status never overrides a plugged-in
//!   state Coupler already knows more precisely.
//! - Configuration keys are `Component.Variable` device-model names (SetVariables, GetVariables);
//!   reading the whole configuration asks for a base report (GetBaseReport).
//! - MacAddress and eMAID id tokens are vehicle identities and are recorded as `VID:<mac>` and
//!   `EMAID:<id>`, the forms pairing already knows from 1.6 AutoCharge `VID:` tags.

use coupler_core::authorisation::{
    match_key, IdToken as RegisteredToken, IdTokenKind as TokenKind, LocalListChange, Verdict,
};
use coupler_core::charger::OcppProtocol;
use coupler_core::charger::{
    normalise_reading, power_delivery_from_ocpp201_charging_state, power_delivery_from_ocpp201_status, ChargerInfo,
    ConnectorStatus, MeterSample, PowerDeliveryState,
};
use coupler_core::control::{
    ChargerCommand, ChargerControl, ChargingLimit, CommandReply, ConfigurationEntry, ControlError, LimitPurpose,
    LogKind, RateUnit, ReportKind, ResetKind, TriggerKind,
};
use coupler_core::operation::{firmware_progress, upload_progress, OperationKind, Progress, ReservationStatus};
use coupler_core::plausibility;
use coupler_core::security::{CertificateHash, CertificateUse, HashAlgorithm, InstalledCertificate};
use coupler_core::store::{TransactionEventKind, TransactionEventRecord};
use coupler_core::ChargerId;
use coupler_ocpp::rpc::Frame;
use coupler_ocpp::v201::{self, Request, Response};
use coupler_ocpp::v201::{
    AuthorizationStatus, ChargingProfile, ChargingProfileKind, ChargingProfilePurpose, ChargingRateUnit,
    ChargingSchedule, ChargingSchedulePeriod, CiString, ClearChargingProfileCriteria, Component, Evse,
    GenericDeviceModelStatus, GetVariableData, GetVariableStatus, IdToken, IdTokenInfo, IdTokenKind, MessageTrigger,
    MeterValue, OperationalStatus, RegistrationStatus, ReportBase, SetVariableData, SetVariableStatus,
    TransactionEventType, Variable,
};
use coupler_ocpp::{ErrorCode, OcppVersion};
use serde_json::Value;

use crate::common::{
    change, composite_schedule, consume_reservation, int, interval_secs, receive_data_transfer, record_progress,
    status, Failure, PlugNews, StatusMemory,
};
use crate::security::{decide_signing, deliver_certificate, record_security_event, SignDecision};
use crate::{authorise, Gateway};

/// A `statusInfo` with a reason code (at most 20 characters) and a sentence (cut to 512).
fn status_info(reason: &str, detail: &str) -> v201::StatusInfo {
    let detail: String = detail.chars().take(512).collect();
    v201::StatusInfo {
        reason_code: CiString::new(reason).unwrap_or_else(|_| CiString::new("Failed").expect("6 characters")),
        additional_info: CiString::new(detail).ok(),
    }
}

const VERSION: OcppVersion = OcppVersion::V201;

/// The id token type of a reservation when the request names none: a card, the usual way a
/// driver presents the token a reservation is for.
const RESERVATION_TOKEN_TYPE: &str = "ISO14443";

/// Where the meter sample interval lives in the 2.0.1 device model.
const TX_UPDATED_INTERVAL: &str = "SampledDataCtrlr.TxUpdatedInterval";
/// Where the measurands sampled during transactions live in the 2.0.1 device model.
const TX_UPDATED_MEASURANDS: &str = "SampledDataCtrlr.TxUpdatedMeasurands";

/// Answers one call from the station. What it reports is stored before the answer is built; when
/// storing fails the station gets an error and will send it again, so nothing acknowledged is lost.
pub(crate) async fn handle_call(
    gateway: &Gateway,
    charger: Option<&ChargerId>,
    statuses: &mut StatusMemory,
    message_id: &str,
    action: &str,
    payload: &Value,
) -> Frame {
    let request = match v201::parse_station_request(action, payload) {
        Ok(request) => request,
        Err(refusal) => {
            tracing::info!(action, error = %refusal, "refused a call");
            return refusal.call_error(message_id, VERSION);
        }
    };
    let Some(charger) = charger else {
        return pending_answer(message_id, request, gateway);
    };
    // Periodic TransactionEvent updates (meter values, charging state) say nothing new about the
    // plug or the vehicle; starts, ends and id tokens do.
    let plug_news = match &request {
        Request::StatusNotification(status) => PlugNews::Status(
            (i64::from(status.evse_id) << 32) + i64::from(status.connector_id),
            status.connector_status.as_str().to_owned(),
        ),
        Request::Authorize(_) => PlugNews::Yes,
        Request::TransactionEvent(event)
            if event.event_type != v201::TransactionEventType::Updated || event.id_token.is_some() =>
        {
            PlugNews::Yes
        }
        _ => PlugNews::No,
    };
    let outcome = answer(gateway, charger, request).await;
    match outcome.and_then(|response| {
        response
            .to_call_result(message_id)
            .map_err(|e| Failure::Internal(e.to_string()))
    }) {
        Ok(frame) => {
            gateway.notify_change(charger);
            if plug_news.wakes_pairing(statuses) {
                gateway.notify_plug_change(charger);
            }
            frame
        }
        Err(failure) => failure.into_call_error(message_id, action, VERSION),
    }
}

/// What a 2.0.1 station is told about a token: the verdict alone.
fn token_info(verdict: Verdict) -> IdTokenInfo {
    IdTokenInfo {
        status: AuthorizationStatus::from_wire(verdict.ocpp201()).unwrap_or(AuthorizationStatus::Invalid),
        cache_expiry_date_time: None,
        charging_priority: None,
        language1: None,
        evse_id: None,
        group_id_token: None,
        language2: None,
        personal_message: None,
    }
}

/// The verdict on a 2.0.1 id token, with a registered token's expiry date (as the cache's) and
/// group. A `NoAuthorization` token (an empty one) asks for no authorisation and is accepted.
async fn judge_token(
    gateway: &Gateway,
    charger: &ChargerId,
    token: &IdToken,
) -> Result<(Verdict, IdTokenInfo), Failure> {
    let Some(kind) = TokenKind::from_ocpp201(token.kind.as_str()) else {
        return Ok((Verdict::Accepted, token_info(Verdict::Accepted)));
    };
    let value = token.id_token.as_str();
    let (verdict, registered) = authorise::judge(gateway, charger, value, &match_key(kind, value)).await?;
    let info = IdTokenInfo {
        cache_expiry_date_time: registered.as_ref().and_then(|t| t.expires_at),
        group_id_token: registered.as_ref().and_then(group_token),
        ..token_info(verdict)
    };
    Ok((verdict, info))
}

/// A registered token's group as a 2.0.1 group token (a `Central` one: the group is the back office's).
fn group_token(token: &RegisteredToken) -> Option<IdToken> {
    let group = token.group_id.as_deref()?;
    id_token_201(TokenKind::Central, group).ok()
}

/// An admitted unknown identity: its boot is answered `Pending` so it retries later; nothing else
/// is accepted from it.
fn pending_answer(message_id: &str, request: Request, gateway: &Gateway) -> Frame {
    let response = match request {
        Request::BootNotification(boot) => {
            tracing::info!(
                vendor = boot.charging_station.vendor_name.as_str(),
                model = boot.charging_station.model.as_str(),
                "unknown station booted; answered Pending"
            );
            Response::BootNotification(v201::BootNotificationResponse {
                current_time: gateway.inner.clock.now(),
                interval: interval_secs(gateway.inner.config.heartbeat_interval),
                status: RegistrationStatus::Pending,
                status_info: None,
            })
        }
        Request::Heartbeat(_) => Response::Heartbeat(v201::HeartbeatResponse {
            current_time: gateway.inner.clock.now(),
        }),
        _ => {
            return Frame::call_error(
                message_id,
                ErrorCode::SecurityError,
                VERSION,
                "this charging station is not registered",
            );
        }
    };
    response
        .to_call_result(message_id)
        .unwrap_or_else(|e| Frame::call_error(message_id, ErrorCode::InternalError, VERSION, &e.to_string()))
}

/// The id tag Coupler records for an id token: vehicle identities in the forms pairing knows
/// (`VID:` plus the MAC in upper-case hex without separators, as 1.6 AutoCharge chargers send it;
/// `EMAID:` plus the contract id), anything else as sent. `None` for an empty token
/// (`NoAuthorization`).
pub(crate) fn id_tag_of(token: &IdToken) -> Option<String> {
    let raw = token.id_token.as_str().trim();
    if raw.is_empty() {
        return None;
    }
    Some(match token.kind {
        IdTokenKind::MacAddress => {
            let mac: String = raw
                .chars()
                .filter(|c| !matches!(c, ':' | '-' | '.'))
                .collect::<String>()
                .to_uppercase();
            format!("VID:{mac}")
        }
        IdTokenKind::EMaid => format!("EMAID:{}", raw.to_uppercase()),
        _ => raw.to_owned(),
    })
}

fn non_negative(value: i32, what: &str) -> Result<u32, Failure> {
    u32::try_from(value).map_err(|_| {
        Failure::Refused(
            ErrorCode::PropertyConstraintViolation,
            format!("{what} must not be negative"),
        )
    })
}

/// Whether a stored connector state already says more than "a cable is in".
fn knows_more_than_occupied(state: PowerDeliveryState) -> bool {
    matches!(
        state,
        PowerDeliveryState::Charging | PowerDeliveryState::Stopped | PowerDeliveryState::Initializing
    )
}

async fn answer(gateway: &Gateway, charger: &ChargerId, request: Request) -> Result<Response, Failure> {
    let store = &gateway.inner.store;
    let now = gateway.inner.clock.now();
    Ok(match request {
        Request::BootNotification(boot) => {
            let station = boot.charging_station;
            let info = ChargerInfo {
                vendor: Some(station.vendor_name.into_inner()),
                model: Some(station.model.into_inner()),
                serial_number: station.serial_number.map(CiString::into_inner),
                firmware_version: station.firmware_version.map(CiString::into_inner),
            };
            store.record_boot(charger, &info, now).await?;
            tracing::info!(
                vendor = info.vendor.as_deref(),
                model = info.model.as_deref(),
                firmware = info.firmware_version.as_deref(),
                reason = boot.reason.as_str(),
                "station booted"
            );
            let control = gateway.clone();
            let id = charger.clone();
            gateway.inner.tasks.spawn(
                "ocpp after boot",
                tracing::Instrument::in_current_span(async move { after_boot(control, id).await }),
            );
            Response::BootNotification(v201::BootNotificationResponse {
                current_time: gateway.inner.clock.now(),
                interval: interval_secs(gateway.inner.config.heartbeat_interval),
                status: RegistrationStatus::Accepted,
                status_info: None,
            })
        }
        Request::Heartbeat(_) => {
            store.record_seen(charger, now).await?;
            Response::Heartbeat(v201::HeartbeatResponse {
                current_time: gateway.inner.clock.now(),
            })
        }
        Request::StatusNotification(status) => {
            let evse = authorise::connector(status.evse_id, 0, "evseId")?;
            authorise::connector(status.connector_id, 0, "connectorId")?;
            let reported = power_delivery_from_ocpp201_status(status.connector_status.as_str());
            let known = store
                .charger(charger)
                .await?
                .and_then(|c| c.connectors.into_iter().find(|c| c.connector_id == evse));
            let keep = reported == PowerDeliveryState::Initializing
                && known.is_some_and(|k| knows_more_than_occupied(k.power_delivery_state));
            if keep {
                store.record_seen(charger, now).await?;
            } else {
                let record = ConnectorStatus {
                    connector_id: evse,
                    status: status.connector_status.as_str().to_owned(),
                    error_code: "NoError".to_owned(),
                    info: None,
                    power_delivery_state: reported,
                    updated_at: now,
                };
                store.record_status(charger, &record).await?;
            }
            tracing::debug!(
                evse,
                connector = status.connector_id,
                status = status.connector_status.as_str(),
                "connector status"
            );
            Response::StatusNotification(v201::StatusNotificationResponse {})
        }
        Request::TransactionEvent(event) => transaction_event(gateway, charger, event).await?,
        Request::MeterValues(values) => {
            let evse = authorise::connector(values.evse_id, 0, "evseId")?;
            let samples = samples_of(&values.meter_value);
            let (samples, flagged) = authorise::screen(gateway, charger, Some(evse), samples).await?;
            store.record_meter_values(charger, evse, None, &samples).await?;
            authorise::keep_flagged(gateway, charger, evse, None, &flagged).await?;
            Response::MeterValues(v201::MeterValuesResponse {})
        }
        Request::Authorize(authorize) => {
            if let Some(tag) = id_tag_of(&authorize.id_token) {
                store.record_id_tag(charger, &tag, now).await?;
            }
            Response::Authorize(v201::AuthorizeResponse {
                id_token_info: judge_token(gateway, charger, &authorize.id_token).await?.1,
                certificate_status: None,
            })
        }
        Request::NotifyEvent(notify) => {
            for event in &notify.event_data {
                tracing::info!(
                    component = event.component.name.as_str(),
                    variable = event.variable.name.as_str(),
                    value = event.actual_value.as_str(),
                    trigger = event.trigger.as_str(),
                    cleared = ?event.cleared,
                    "station event"
                );
            }
            store.record_seen(charger, now).await?;
            Response::NotifyEvent(v201::NotifyEventResponse {})
        }
        Request::NotifyReport(report) => {
            tracing::info!(
                request_id = report.request_id,
                seq_no = report.seq_no,
                variables = report.report_data.as_ref().map_or(0, Vec::len),
                more = ?report.tbc,
                "device model report"
            );
            crate::capabilities::record_report(gateway, charger, &report).await?;
            store.record_seen(charger, now).await?;
            let last = !report.tbc.unwrap_or(false);
            record_progress(
                gateway,
                charger,
                &[OperationKind::GetBaseReport],
                Some(report.request_id),
                if last { "Reported" } else { "Reporting" },
                if last { Progress::Succeeded } else { Progress::Ongoing },
            )
            .await?;
            Response::NotifyReport(v201::NotifyReportResponse {})
        }
        Request::SecurityEventNotification(event) => {
            record_security_event(
                gateway,
                charger,
                event.kind.as_str(),
                event.timestamp,
                event.tech_info.as_ref().map(|t| t.as_str()),
            )
            .await?;
            Response::SecurityEventNotification(v201::SecurityEventNotificationResponse {})
        }
        Request::SignCertificate(request) => {
            let usage = match request.certificate_type {
                Some(v201::CertificateSigningUse::V2GCertificate) => CertificateUse::V2g,
                _ => CertificateUse::ChargingStation,
            };
            store.record_seen(charger, now).await?;
            match decide_signing(gateway, charger, request.csr.as_str()).await? {
                SignDecision::Accept(params) => {
                    deliver_certificate(gateway, charger, *params, usage);
                    Response::SignCertificate(v201::SignCertificateResponse {
                        status: v201::GenericStatus::Accepted,
                        status_info: None,
                    })
                }
                SignDecision::Reject { reason, detail } => Response::SignCertificate(v201::SignCertificateResponse {
                    status: v201::GenericStatus::Rejected,
                    status_info: Some(status_info(reason, &detail)),
                }),
            }
        }
        Request::Get15118EVCertificate(request) => {
            // Coupler holds no V2G root or contract certificate pool (no ISO 15118 Plug & Charge
            // back end), so it cannot build the EV's CertificateInstallationRes: Failed, as M01
            // and M02 say when the CSMS cannot provide the certificate.
            tracing::info!(
                action = request.action.as_str(),
                schema = request.iso15118_schema_version.as_str(),
                "an EV asked for a contract certificate; Coupler has no ISO 15118 certificate provider"
            );
            store.record_seen(charger, now).await?;
            Response::Get15118EVCertificate(v201::Get15118EvCertificateResponse {
                status: v201::Iso15118EvCertificateStatus::Failed,
                status_info: Some(status_info(
                    "NoCertProvider",
                    "Coupler has no ISO 15118 contract certificate provider",
                )),
                exi_response: CiString::new("").map_err(|e| Failure::Internal(e.to_string()))?,
            })
        }
        Request::GetCertificateStatus(request) => {
            // Coupler runs no OCSP client for chargers' V2G certificates: Failed (M06), which
            // tells the station to rely on what it cached.
            tracing::info!(
                responder = request.ocsp_request_data.responder_url.as_str(),
                "a station asked for a certificate's OCSP status; Coupler does not relay OCSP"
            );
            store.record_seen(charger, now).await?;
            Response::GetCertificateStatus(v201::GetCertificateStatusResponse {
                status: v201::GetCertificateStatus::Failed,
                status_info: Some(status_info("NoOcspResponder", "Coupler does not relay OCSP requests")),
                ocsp_result: None,
            })
        }
        Request::FirmwareStatusNotification(notification) => {
            let status = notification.status.as_str();
            store.record_firmware_status(charger, status, now).await?;
            record_progress(
                gateway,
                charger,
                &[OperationKind::UpdateFirmware],
                notification.request_id,
                status,
                firmware_progress(status),
            )
            .await?;
            Response::FirmwareStatusNotification(v201::FirmwareStatusNotificationResponse {})
        }
        Request::LogStatusNotification(notification) => {
            let status = notification.status.as_str();
            tracing::info!(status, "log upload status");
            store.record_seen(charger, now).await?;
            record_progress(
                gateway,
                charger,
                &[OperationKind::GetDiagnostics],
                notification.request_id,
                status,
                upload_progress(status),
            )
            .await?;
            Response::LogStatusNotification(v201::LogStatusNotificationResponse {})
        }
        Request::ReservationStatusUpdate(update) => {
            let to = match update.reservation_update_status {
                v201::ReservationUpdateStatus::Expired => ReservationStatus::Expired,
                v201::ReservationUpdateStatus::Removed => ReservationStatus::Removed,
            };
            let moved = store
                .set_reservation_status(
                    charger,
                    update.reservation_id,
                    &[ReservationStatus::Requested, ReservationStatus::Active],
                    to,
                    None,
                    now,
                )
                .await?;
            tracing::info!(
                reservation_id = update.reservation_id,
                status = to.as_str(),
                known = moved,
                "reservation status update"
            );
            store.record_seen(charger, now).await?;
            Response::ReservationStatusUpdate(v201::ReservationStatusUpdateResponse {})
        }
        Request::DataTransfer(transfer) => {
            let answer = receive_data_transfer(
                gateway,
                charger,
                transfer.vendor_id.as_str(),
                transfer.message_id.as_ref().map(|m| m.as_str()),
                transfer.data.as_ref(),
            )
            .await?;
            Response::DataTransfer(v201::DataTransferResponse {
                status: v201::DataTransferStatus::from_wire(answer)
                    .unwrap_or(v201::DataTransferStatus::UnknownVendorId),
                status_info: None,
                data: None,
            })
        }
        other => {
            // parse_station_request lets through only what a station may send.
            return Err(Failure::Refused(
                ErrorCode::NotSupported,
                format!("{} is not sent by a charging station", other.action().as_str()),
            ));
        }
    })
}

async fn transaction_event(
    gateway: &Gateway,
    charger: &ChargerId,
    event: v201::TransactionEventRequest,
) -> Result<Response, Failure> {
    let store = &gateway.inner.store;
    let info = &event.transaction_info;
    let seq_no = non_negative(event.seq_no, "seqNo")?;
    let connector_id = event
        .evse
        .as_ref()
        .map(|evse| authorise::connector(evse.id, 0, "evse.id"))
        .transpose()?;
    if let Some(connector) = event.evse.as_ref().and_then(|e| e.connector_id) {
        authorise::connector(connector, 0, "evse.connectorId")?;
    }
    let (verdict, id_token_info) = match &event.id_token {
        Some(token) => {
            let (verdict, info) = judge_token(gateway, charger, token).await?;
            (Some(verdict), Some(info))
        }
        None => (None, None),
    };
    let token_tag = event.id_token.as_ref().and_then(id_tag_of);
    if let Some(tag) = &token_tag {
        store.record_id_tag(charger, tag, gateway.inner.clock.now()).await?;
    }
    // A remote start names the RequestStartTransaction it answers; Coupler starts with its own tag.
    let id_tag = token_tag.or_else(|| {
        info.remote_start_id
            .map(|_| gateway.inner.config.remote_start_id_tag.clone())
    });
    let kind = match event.event_type {
        TransactionEventType::Started => TransactionEventKind::Started,
        TransactionEventType::Updated => TransactionEventKind::Updated,
        TransactionEventType::Ended => TransactionEventKind::Ended,
    };
    let samples = samples_of(event.meter_value.as_deref().unwrap_or_default());
    let (samples, flagged) = authorise::screen(gateway, charger, connector_id, samples).await?;
    let record = TransactionEventRecord {
        charger_transaction_id: info.transaction_id.as_str(),
        seq_no: i64::from(seq_no),
        kind,
        at: event.timestamp,
        offline: event.offline.unwrap_or(false),
        connector_id,
        id_tag: id_tag.as_deref(),
        remote_start_id: info.remote_start_id.map(i64::from),
        // The Ended event without a reason means the driver stopped it locally (2.0.1 default).
        stop_reason: (kind == TransactionEventKind::Ended).then(|| info.stopped_reason.map_or("Local", |r| r.as_str())),
        samples: &samples,
        // Only the newest event says what the power does now (the store checks); a late
        // offline one adds readings.
        connector_state: connector_state(kind, info.charging_state),
    };
    let outcome = store.record_transaction_event(charger, &record).await?;
    if !outcome.duplicate {
        authorise::keep_flagged(
            gateway,
            charger,
            connector_id.unwrap_or(outcome.connector_id),
            Some(outcome.transaction_id),
            &flagged,
        )
        .await?;
        let implausible = match kind {
            TransactionEventKind::Ended => store.session(charger, outcome.transaction_id).await?.and_then(|s| {
                plausibility::check_stop(
                    s.started_at,
                    s.meter_start_wh,
                    event.timestamp,
                    s.meter_stop_wh.unwrap_or(s.meter_last_wh),
                    gateway.inner.config.judge_power,
                )
            }),
            _ => None,
        };
        if verdict.is_some() || implausible.is_some() {
            if let Some(why) = implausible {
                tracing::warn!(
                    transaction_id = info.transaction_id.as_str(),
                    why = why.as_str(),
                    "implausible end; session flagged"
                );
            }
            store
                .mark_session(
                    charger,
                    outcome.transaction_id,
                    verdict.map(Verdict::as_str),
                    implausible.map(|i| i.as_str()),
                )
                .await?;
        }
    }
    let accepted = verdict.is_none_or(Verdict::is_accepted);
    if !outcome.duplicate && accepted && (event.id_token.is_some() || event.reservation_id.is_some()) {
        consume_reservation(
            gateway,
            charger,
            connector_id.or(Some(outcome.connector_id)).filter(|c| *c > 0),
            id_tag.as_deref(),
            event.reservation_id,
            outcome.transaction_id,
        )
        .await?;
    }
    let transaction_id = info.transaction_id.as_str();
    if outcome.duplicate {
        tracing::info!(transaction_id, seq_no, "repeated transaction event; already stored");
    } else {
        if outcome.created && kind != TransactionEventKind::Started {
            tracing::warn!(
                transaction_id,
                seq_no,
                kind = kind.as_str(),
                "event for a transaction whose start Coupler never saw; the session starts here"
            );
        }
        if let Some(remote_start_id) = info.remote_start_id {
            tracing::info!(transaction_id, remote_start_id, "transaction of a remote start");
        }
        tracing::info!(
            transaction_id,
            seq_no,
            kind = kind.as_str(),
            session = outcome.transaction_id,
            "transaction event"
        );
    }
    Ok(Response::TransactionEvent(v201::TransactionEventResponse {
        total_cost: None,
        charging_priority: None,
        id_token_info,
        updated_personal_message: None,
    }))
}

/// The connector status and power delivery state a TransactionEvent leaves behind: its
/// `chargingState`; at the end of a transaction a vehicle still connected is stopped (it cannot be
/// charging any more) and `Idle` means it is gone.
pub(crate) fn connector_state(
    kind: TransactionEventKind,
    charging: Option<v201::ChargingState>,
) -> Option<(&'static str, PowerDeliveryState)> {
    use v201::ChargingState::{Charging, Idle};
    match (kind, charging) {
        (TransactionEventKind::Ended, Some(Idle)) => Some(("Idle", PowerDeliveryState::Unplugged)),
        (TransactionEventKind::Ended, Some(Charging) | None) => Some(("EVConnected", PowerDeliveryState::Stopped)),
        (TransactionEventKind::Ended, Some(other)) => Some((other.as_str(), PowerDeliveryState::Stopped)),
        (_, Some(state)) => Some((
            state.as_str(),
            power_delivery_from_ocpp201_charging_state(state.as_str()),
        )),
        (_, None) => None,
    }
}

/// Meter values as Coupler stores them: numbers in normalised units (2.0.1 sends numbers with a
/// unit and a power-of-ten multiplier).
fn samples_of(values: &[MeterValue]) -> Vec<MeterSample> {
    values
        .iter()
        .flat_map(|value| {
            value.sampled_value.iter().filter_map(move |sampled| {
                let unit_of_measure = sampled.unit_of_measure.as_ref();
                let multiplier = unit_of_measure.and_then(|u| u.multiplier).unwrap_or(0);
                let number = sampled.value * 10f64.powi(multiplier);
                if !number.is_finite() {
                    return None;
                }
                let unit = unit_of_measure
                    .and_then(|u| u.unit.as_ref())
                    .map_or("Wh", |u| u.as_str());
                let (number, unit) = normalise_reading(number, unit);
                Some(MeterSample {
                    sampled_at: value.timestamp,
                    measurand: sampled
                        .measurand
                        .map_or("Energy.Active.Import.Register", |m| m.as_str())
                        .to_owned(),
                    phase: sampled.phase.map(|p| p.as_str().to_owned()),
                    unit,
                    value: number,
                    context: sampled.context.map(|c| c.as_str().to_owned()),
                })
            })
        })
        .collect()
}

/// A registered token as 2.0.1 carries it.
fn id_token_201(kind: TokenKind, value: &str) -> Result<IdToken, ControlError> {
    let kind_name = kind.ocpp201();
    Ok(IdToken {
        id_token: ci(value, "idToken")?,
        kind: IdTokenKind::from_wire(kind_name).ok_or_else(|| unsupported(format!("id token type {kind_name}")))?,
        additional_info: None,
    })
}

/// One entry of a 2.0.1 local list: a token put with its `idTokenInfo`, or a removal (none).
fn authorization_data(change: &LocalListChange) -> Result<v201::AuthorizationData, ControlError> {
    Ok(match change {
        LocalListChange::Put(entry) => v201::AuthorizationData {
            id_token: id_token_201(entry.kind, &entry.value)?,
            id_token_info: Some(IdTokenInfo {
                cache_expiry_date_time: entry.expires_at,
                group_id_token: entry
                    .group_id
                    .as_deref()
                    .map(|group| id_token_201(TokenKind::Central, group))
                    .transpose()?,
                ..token_info(Verdict::from(entry.status))
            }),
        },
        LocalListChange::Remove { value, kind } => v201::AuthorizationData {
            id_token: id_token_201(*kind, value)?,
            id_token_info: None,
        },
    })
}

fn unsupported(what: impl std::fmt::Display) -> ControlError {
    ControlError::Unsupported(what.to_string())
}

fn ci<const N: usize>(text: &str, what: &str) -> Result<CiString<N>, ControlError> {
    CiString::new(text).map_err(|e| unsupported(format!("{what}: {e}")))
}

fn rate_unit(unit: RateUnit) -> ChargingRateUnit {
    match unit {
        RateUnit::Amperes => ChargingRateUnit::A,
        RateUnit::Watts => ChargingRateUnit::W,
    }
}

fn purpose(purpose: LimitPurpose) -> ChargingProfilePurpose {
    match purpose {
        LimitPurpose::Transaction => ChargingProfilePurpose::TxProfile,
        LimitPurpose::TransactionDefault => ChargingProfilePurpose::TxDefaultProfile,
        LimitPurpose::StationMax => ChargingProfilePurpose::ChargingStationMaxProfile,
    }
}

/// A charging profile for `limit`; `transaction_id` is the station's id of the transaction.
fn profile(limit: &ChargingLimit, transaction_id: Option<String>) -> Result<ChargingProfile, ControlError> {
    let periods = limit
        .periods
        .iter()
        .map(|p| {
            Ok(ChargingSchedulePeriod {
                start_period: int(p.start_offset_s, "startPeriod")?,
                // One decimal, as 1.6 needs; 2.0.1 stations show limits the same way.
                limit: (p.limit * 10.0).round() / 10.0,
                number_phases: p.phases.map(i32::from),
                phase_to_use: None,
            })
        })
        .collect::<Result<Vec<_>, ControlError>>()?;
    Ok(ChargingProfile {
        id: limit.profile_id,
        stack_level: limit.stack_level,
        charging_profile_purpose: purpose(limit.purpose),
        charging_profile_kind: if limit.start.is_some() {
            ChargingProfileKind::Absolute
        } else {
            ChargingProfileKind::Relative
        },
        recurrency_kind: None,
        valid_from: limit.valid_from,
        valid_to: limit.valid_to,
        transaction_id: transaction_id.map(|t| ci(&t, "transactionId")).transpose()?,
        charging_schedule: vec![ChargingSchedule {
            id: limit.profile_id,
            start_schedule: limit.start,
            duration: None,
            charging_rate_unit: rate_unit(limit.unit),
            charging_schedule_period: periods,
            min_charging_rate: None,
        }],
    })
}

/// `Component.Variable` as the device model's component and variable.
fn device_model_key(key: &str) -> Result<(Component, Variable), ControlError> {
    let (component, variable) = key
        .split_once('.')
        .filter(|(c, v)| !c.is_empty() && !v.is_empty())
        .ok_or_else(|| unsupported(format!("OCPP 2.0.1 settings are named Component.Variable, not {key:?}")))?;
    Ok((
        Component {
            name: ci(component, "component")?,
            instance: None,
            evse: None,
        },
        Variable {
            name: ci(variable, "variable")?,
            instance: None,
        },
    ))
}

fn key_of(component: &Component, variable: &Variable) -> String {
    format!("{}.{}", component.name, variable.name)
}

/// The station's id of session `transaction_id`.
async fn station_transaction_id(
    gateway: &Gateway,
    charger: Option<&ChargerId>,
    transaction_id: i64,
) -> Result<String, ControlError> {
    let charger = charger.ok_or(ControlError::NotConnected)?;
    match gateway
        .inner
        .store
        .charger_transaction_id(charger, transaction_id)
        .await
    {
        Ok(Some(id)) => Ok(id),
        Ok(None) => Err(unsupported(format!(
            "session {transaction_id} has no OCPP 2.0.1 transaction id"
        ))),
        Err(e) => Err(unsupported(format!("cannot look up session {transaction_id}: {e}"))),
    }
}

/// Expresses a version-neutral command as an OCPP 2.0.1 request.
async fn encode_command(
    gateway: &Gateway,
    charger: Option<&ChargerId>,
    command: &ChargerCommand,
) -> Result<Request, ControlError> {
    Ok(match command {
        ChargerCommand::RemoteStart {
            connector_id,
            id_tag,
            limit,
        } => Request::RequestStartTransaction(v201::RequestStartTransactionRequest {
            evse_id: connector_id.map(|c| int(c, "evseId")).transpose()?,
            remote_start_id: gateway.next_remote_start_id(),
            id_token: IdToken {
                id_token: ci(id_tag, "idToken")?,
                kind: IdTokenKind::Central,
                additional_info: None,
            },
            charging_profile: limit.as_ref().map(|l| profile(l, None)).transpose()?,
            group_id_token: None,
        }),
        ChargerCommand::RemoteStop { transaction_id } => {
            let station_id = station_transaction_id(gateway, charger, *transaction_id).await?;
            Request::RequestStopTransaction(v201::RequestStopTransactionRequest {
                transaction_id: ci(&station_id, "transactionId")?,
            })
        }
        ChargerCommand::SetLimit { connector_id, limit } => {
            let station_id = match limit.transaction_id {
                Some(id) => Some(station_transaction_id(gateway, charger, id).await?),
                None => None,
            };
            Request::SetChargingProfile(v201::SetChargingProfileRequest {
                evse_id: int(*connector_id, "evseId")?,
                charging_profile: profile(limit, station_id)?,
            })
        }
        ChargerCommand::ClearLimit {
            profile_id,
            connector_id,
            purpose: wanted,
            stack_level,
        } => {
            let criteria = (connector_id.is_some() || wanted.is_some() || stack_level.is_some())
                .then(|| {
                    Ok::<_, ControlError>(ClearChargingProfileCriteria {
                        evse_id: connector_id.map(|c| int(c, "evseId")).transpose()?,
                        charging_profile_purpose: wanted.map(purpose),
                        stack_level: *stack_level,
                    })
                })
                .transpose()?;
            Request::ClearChargingProfile(v201::ClearChargingProfileRequest {
                charging_profile_id: *profile_id,
                charging_profile_criteria: criteria,
            })
        }
        ChargerCommand::GetCompositeSchedule {
            connector_id,
            duration_s,
            unit,
        } => Request::GetCompositeSchedule(v201::GetCompositeScheduleRequest {
            duration: int(*duration_s, "duration")?,
            charging_rate_unit: unit.map(rate_unit),
            evse_id: int(*connector_id, "evseId")?,
        }),
        ChargerCommand::ChangeConfiguration { key, value } => {
            let (component, variable) = device_model_key(key)?;
            Request::SetVariables(v201::SetVariablesRequest {
                set_variable_data: vec![SetVariableData {
                    attribute_type: None,
                    attribute_value: ci(value, "attributeValue")?,
                    component,
                    variable,
                }],
            })
        }
        ChargerCommand::GetConfiguration { keys } if keys.is_empty() => {
            // 2.0.1 reports the whole device model asynchronously, in NotifyReport messages.
            Request::GetBaseReport(v201::GetBaseReportRequest {
                request_id: gateway.next_remote_start_id(),
                report_base: ReportBase::FullInventory,
            })
        }
        ChargerCommand::GetConfiguration { keys } => Request::GetVariables(v201::GetVariablesRequest {
            get_variable_data: keys
                .iter()
                .map(|key| {
                    let (component, variable) = device_model_key(key)?;
                    Ok(GetVariableData {
                        attribute_type: None,
                        component,
                        variable,
                    })
                })
                .collect::<Result<_, ControlError>>()?,
        }),
        ChargerCommand::Trigger { message, connector_id } => Request::TriggerMessage(v201::TriggerMessageRequest {
            evse: connector_id
                .map(|c| {
                    Ok::<_, ControlError>(Evse {
                        id: int(c, "evse.id")?,
                        connector_id: None,
                    })
                })
                .transpose()?,
            requested_message: match message {
                TriggerKind::BootNotification => MessageTrigger::BootNotification,
                TriggerKind::Heartbeat => MessageTrigger::Heartbeat,
                TriggerKind::MeterValues => MessageTrigger::MeterValues,
                TriggerKind::StatusNotification => MessageTrigger::StatusNotification,
                TriggerKind::FirmwareStatusNotification => MessageTrigger::FirmwareStatusNotification,
                TriggerKind::DiagnosticsStatusNotification | TriggerKind::LogStatusNotification => {
                    MessageTrigger::LogStatusNotification
                }
                TriggerKind::TransactionEvent => MessageTrigger::TransactionEvent,
                TriggerKind::SignChargingStationCertificate => MessageTrigger::SignChargingStationCertificate,
                TriggerKind::SignV2gCertificate => MessageTrigger::SignV2gCertificate,
                TriggerKind::SignCombinedCertificate => MessageTrigger::SignCombinedCertificate,
                TriggerKind::PublishFirmwareStatusNotification => MessageTrigger::PublishFirmwareStatusNotification,
                TriggerKind::SignChargePointCertificate => MessageTrigger::SignChargingStationCertificate,
            },
        }),
        ChargerCommand::ExtendedTrigger { .. } => {
            return Err(unsupported(
                "ExtendedTriggerMessage exists in OCPP 1.6 only (2.0.1's TriggerMessage covers its messages)",
            ))
        }
        ChargerCommand::Reset { kind, evse_id } => Request::Reset(v201::ResetRequest {
            kind: match kind {
                ResetKind::Immediate | ResetKind::Hard => v201::ResetKind::Immediate,
                ResetKind::OnIdle | ResetKind::Soft => v201::ResetKind::OnIdle,
            },
            evse_id: evse_id.map(|e| int(e, "evseId")).transpose()?,
        }),
        ChargerCommand::ChangeAvailability {
            connector_id,
            evse_connector_id,
            operative,
        } => {
            if *connector_id == 0 && evse_connector_id.is_some() {
                return Err(unsupported("a connector is named within an EVSE"));
            }
            Request::ChangeAvailability(v201::ChangeAvailabilityRequest {
                evse: (*connector_id > 0)
                    .then(|| {
                        Ok::<_, ControlError>(Evse {
                            id: int(*connector_id, "evse.id")?,
                            connector_id: evse_connector_id.map(|c| int(c, "evse.connectorId")).transpose()?,
                        })
                    })
                    .transpose()?,
                operational_status: if *operative {
                    OperationalStatus::Operative
                } else {
                    OperationalStatus::Inoperative
                },
            })
        }
        ChargerCommand::UnlockConnector {
            connector_id,
            evse_connector_id,
        } => Request::UnlockConnector(v201::UnlockConnectorRequest {
            evse_id: int(*connector_id, "evseId")?,
            connector_id: int(evse_connector_id.unwrap_or(1), "connectorId")?,
        }),
        ChargerCommand::ClearCache => Request::ClearCache(v201::ClearCacheRequest {}),
        ChargerCommand::SendLocalList { version, full, changes } => {
            Request::SendLocalList(v201::SendLocalListRequest {
                version_number: *version,
                update_type: if *full {
                    v201::UpdateType::Full
                } else {
                    v201::UpdateType::Differential
                },
                // 2.0.1 wants at least one entry when the list is there at all.
                local_authorization_list: if changes.is_empty() {
                    None
                } else {
                    Some(changes.iter().map(authorization_data).collect::<Result<_, _>>()?)
                },
            })
        }
        ChargerCommand::GetLocalListVersion => Request::GetLocalListVersion(v201::GetLocalListVersionRequest {}),
        ChargerCommand::DataTransfer {
            vendor_id,
            message_id,
            data,
        } => Request::DataTransfer(v201::DataTransferRequest {
            message_id: message_id.as_deref().map(|m| ci(m, "messageId")).transpose()?,
            data: data.clone(),
            vendor_id: ci(vendor_id, "vendorId")?,
        }),
        ChargerCommand::UpdateFirmware {
            location,
            retrieve_at,
            install_at,
            retries,
            retry_interval_s,
            request_id,
            signing_certificate,
            signature,
        } => Request::UpdateFirmware(v201::UpdateFirmwareRequest {
            retries: retries.map(|r| int(r, "retries")).transpose()?,
            retry_interval: retry_interval_s.map(|r| int(r, "retryInterval")).transpose()?,
            request_id: *request_id,
            firmware: v201::Firmware {
                location: ci(location, "firmware.location")?,
                retrieve_date_time: *retrieve_at,
                install_date_time: *install_at,
                signing_certificate: signing_certificate
                    .as_deref()
                    .map(|c| ci(c, "firmware.signingCertificate"))
                    .transpose()?,
                signature: signature.as_deref().map(|c| ci(c, "firmware.signature")).transpose()?,
            },
        }),
        ChargerCommand::GetDiagnostics {
            location,
            log,
            from,
            to,
            retries,
            retry_interval_s,
            request_id,
        } => Request::GetLog(v201::GetLogRequest {
            log: v201::LogParameters {
                remote_location: ci(location, "log.remoteLocation")?,
                oldest_timestamp: *from,
                latest_timestamp: *to,
            },
            log_type: match log {
                None | Some(LogKind::Diagnostics) => v201::LogKind::DiagnosticsLog,
                Some(LogKind::Security) => v201::LogKind::SecurityLog,
            },
            request_id: *request_id,
            retries: retries.map(|r| int(r, "retries")).transpose()?,
            retry_interval: retry_interval_s.map(|r| int(r, "retryInterval")).transpose()?,
        }),
        ChargerCommand::ReserveNow {
            reservation_id,
            connector_id,
            id_tag,
            id_token_type,
            parent_id_tag,
            group_id_tag,
            connector_type,
            expires_at,
        } => {
            if parent_id_tag.is_some() {
                return Err(unsupported(
                    "a parent id tag exists in OCPP 1.6 only (2.0.1 has a group token)",
                ));
            }
            let kind = id_token_type.as_deref().unwrap_or(RESERVATION_TOKEN_TYPE);
            Request::ReserveNow(v201::ReserveNowRequest {
                id: *reservation_id,
                expiry_date_time: *expires_at,
                connector_type: connector_type
                    .as_deref()
                    .map(|c| {
                        v201::ConnectorKind::from_wire(c).ok_or_else(|| unsupported(format!("no connector type {c:?}")))
                    })
                    .transpose()?,
                id_token: IdToken {
                    id_token: ci(id_tag, "idToken.idToken")?,
                    kind: IdTokenKind::from_wire(kind)
                        .ok_or_else(|| unsupported(format!("no id token type {kind:?}")))?,
                    additional_info: None,
                },
                evse_id: (*connector_id > 0).then(|| int(*connector_id, "evseId")).transpose()?,
                group_id_token: group_id_tag
                    .as_deref()
                    .map(|g| {
                        Ok::<_, ControlError>(IdToken {
                            id_token: ci(g, "groupIdToken.idToken")?,
                            kind: IdTokenKind::Central,
                            additional_info: None,
                        })
                    })
                    .transpose()?,
            })
        }
        ChargerCommand::CancelReservation { reservation_id } => {
            Request::CancelReservation(v201::CancelReservationRequest {
                reservation_id: *reservation_id,
            })
        }
        ChargerCommand::GetBaseReport { request_id, report } => Request::GetBaseReport(v201::GetBaseReportRequest {
            request_id: *request_id,
            report_base: match report {
                ReportKind::ConfigurationInventory => ReportBase::ConfigurationInventory,
                ReportKind::FullInventory => ReportBase::FullInventory,
                ReportKind::SummaryInventory => ReportBase::SummaryInventory,
            },
        }),
        ChargerCommand::CertificateSigned { chain, usage } => {
            Request::CertificateSigned(v201::CertificateSignedRequest {
                certificate_chain: ci(chain, "certificateChain")?,
                certificate_type: Some(signing_use(*usage)),
            })
        }
        ChargerCommand::InstallCertificate { kind, certificate } => {
            Request::InstallCertificate(v201::InstallCertificateRequest {
                certificate_type: kind
                    .ocpp_name(OcppProtocol::V201)
                    .and_then(v201::InstallCertificateUse::from_wire)
                    .ok_or_else(|| unsupported(format!("a {kind:?} certificate cannot be installed")))?,
                certificate: ci(certificate, "certificate")?,
            })
        }
        ChargerCommand::GetInstalledCertificateIds { kinds } => {
            Request::GetInstalledCertificateIds(v201::GetInstalledCertificateIdsRequest {
                certificate_type: if kinds.is_empty() {
                    None
                } else {
                    Some(
                        kinds
                            .iter()
                            .map(|kind| {
                                kind.ocpp_name(OcppProtocol::V201)
                                    .and_then(v201::GetCertificateIdUse::from_wire)
                                    .ok_or_else(|| unsupported(format!("no certificate kind {kind:?}")))
                            })
                            .collect::<Result<_, _>>()?,
                    )
                },
            })
        }
        ChargerCommand::DeleteCertificate { hash } => Request::DeleteCertificate(v201::DeleteCertificateRequest {
            certificate_hash_data: v201::CertificateHashData {
                hash_algorithm: v201::HashAlgorithm::from_wire(hash.algorithm.as_str())
                    .ok_or_else(|| unsupported("an unknown hash algorithm"))?,
                issuer_name_hash: ci(&hash.issuer_name_hash, "issuerNameHash")?,
                issuer_key_hash: ci(&hash.issuer_key_hash, "issuerKeyHash")?,
                serial_number: ci(&hash.serial_number, "serialNumber")?,
            },
        }),
    })
}

/// Certificate hash data as the core keeps it.
fn certificate_hash(data: v201::CertificateHashData) -> CertificateHash {
    CertificateHash {
        algorithm: match data.hash_algorithm {
            v201::HashAlgorithm::Sha256 => HashAlgorithm::Sha256,
            v201::HashAlgorithm::Sha384 => HashAlgorithm::Sha384,
            v201::HashAlgorithm::Sha512 => HashAlgorithm::Sha512,
        },
        issuer_name_hash: data.issuer_name_hash.into_inner(),
        issuer_key_hash: data.issuer_key_hash.into_inner(),
        serial_number: data.serial_number.into_inner(),
    }
}

/// OCPP 2.0.1's name for what a certificate is for.
pub(crate) fn signing_use(usage: CertificateUse) -> v201::CertificateSigningUse {
    match usage {
        CertificateUse::ChargingStation => v201::CertificateSigningUse::ChargingStationCertificate,
        CertificateUse::V2g => v201::CertificateSigningUse::V2GCertificate,
    }
}

/// The OCPP 2.0.1 `CALL` for a command, with its action name. A command 2.0.1 cannot carry, or a
/// charging profile that breaks the smart-charging rules, is refused before it is sent.
pub(crate) async fn encode_call(
    gateway: &Gateway,
    charger: Option<&ChargerId>,
    command: &ChargerCommand,
    message_id: &str,
) -> Result<(&'static str, Frame), ControlError> {
    let request = encode_command(gateway, charger, command).await?;
    if let Request::SetChargingProfile(set) = &request {
        set.check_rules().map_err(unsupported)?;
    }
    let frame = request.to_call(message_id).map_err(unsupported)?;
    Ok((request.action().as_str(), frame))
}

/// Reads the station's answer to one of Coupler's calls.
pub(crate) fn decode_reply(action: &str, payload: &Value) -> Result<CommandReply, ControlError> {
    let response = v201::parse_response(action, payload).map_err(|e| ControlError::InvalidReply(e.to_string()))?;
    Ok(match response {
        Response::RequestStartTransaction(r) => status(r.status.as_str() == "Accepted", r.status.as_str()),
        Response::RequestStopTransaction(r) => status(r.status.as_str() == "Accepted", r.status.as_str()),
        Response::SetChargingProfile(r) => status(r.status.as_str() == "Accepted", r.status.as_str()),
        Response::ClearChargingProfile(r) => status(r.status.as_str() == "Accepted", r.status.as_str()),
        Response::TriggerMessage(r) => status(r.status.as_str() == "Accepted", r.status.as_str()),
        Response::Reset(r) => status(r.status.as_str() != "Rejected", r.status.as_str()),
        Response::ChangeAvailability(r) => status(r.status.as_str() != "Rejected", r.status.as_str()),
        Response::UnlockConnector(r) => status(r.status.as_str() == "Unlocked", r.status.as_str()),
        Response::ClearCache(r) => status(r.status.as_str() == "Accepted", r.status.as_str()),
        Response::CertificateSigned(r) => status(r.status.as_str() == "Accepted", r.status.as_str()),
        Response::SendLocalList(r) => status(r.status.as_str() == "Accepted", r.status.as_str()),
        Response::GetLocalListVersion(r) => CommandReply::LocalListVersion {
            version: r.version_number,
        },
        Response::UpdateFirmware(r) => status(
            matches!(r.status.as_str(), "Accepted" | "AcceptedCanceled"),
            r.status.as_str(),
        ),
        Response::ReserveNow(r) => status(r.status.as_str() == "Accepted", r.status.as_str()),
        Response::CancelReservation(r) => status(r.status.as_str() == "Accepted", r.status.as_str()),
        Response::DataTransfer(r) => CommandReply::DataTransfer {
            accepted: r.status.as_str() == "Accepted",
            status: r.status.as_str().to_owned(),
            data: r.data,
        },
        Response::InstallCertificate(r) => status(r.status.as_str() == "Accepted", r.status.as_str()),
        Response::DeleteCertificate(r) => status(r.status.as_str() == "Accepted", r.status.as_str()),
        Response::GetInstalledCertificateIds(r) => CommandReply::InstalledCertificates {
            status: r.status.as_str().to_owned(),
            certificates: r
                .certificate_hash_data_chain
                .unwrap_or_default()
                .into_iter()
                .map(|chain| InstalledCertificate {
                    kind: chain.certificate_type.as_str().to_owned(),
                    hash: certificate_hash(chain.certificate_hash_data),
                    children: chain
                        .child_certificate_hash_data
                        .unwrap_or_default()
                        .into_iter()
                        .map(certificate_hash)
                        .collect(),
                })
                .collect(),
        },
        Response::GetLog(r) => CommandReply::Upload {
            // AcceptedCanceled: accepted, and an earlier upload was cancelled for it.
            accepted: matches!(r.status.as_str(), "Accepted" | "AcceptedCanceled"),
            status: r.status.as_str().to_owned(),
            file_name: r.filename.map(CiString::into_inner),
        },
        Response::SetVariables(r) => {
            let worst = r
                .set_variable_result
                .iter()
                .map(|result| result.attribute_status)
                .find(|s| !matches!(s, SetVariableStatus::Accepted | SetVariableStatus::RebootRequired))
                .or_else(|| r.set_variable_result.first().map(|result| result.attribute_status));
            let said = worst.map_or("Accepted", SetVariableStatus::as_str);
            status(matches!(said, "Accepted" | "RebootRequired"), said)
        }
        Response::GetVariables(r) => {
            let (known, unknown): (Vec<_>, Vec<_>) = r
                .get_variable_result
                .into_iter()
                .partition(|result| result.attribute_status == GetVariableStatus::Accepted);
            CommandReply::Configuration {
                entries: known
                    .into_iter()
                    .map(|result| ConfigurationEntry {
                        key: key_of(&result.component, &result.variable),
                        value: result.attribute_value.map(CiString::into_inner),
                        readonly: false,
                    })
                    .collect(),
                unknown: unknown
                    .into_iter()
                    .map(|result| key_of(&result.component, &result.variable))
                    .collect(),
            }
        }
        // The report itself follows in NotifyReport messages.
        Response::GetBaseReport(r) => status(
            matches!(
                r.status,
                GenericDeviceModelStatus::Accepted | GenericDeviceModelStatus::EmptyResultSet
            ),
            r.status.as_str(),
        ),
        Response::GetCompositeSchedule(r) => {
            let schedule = r.schedule;
            composite_schedule(
                r.status.as_str() == "Accepted",
                schedule.as_ref().map(|s| match s.charging_rate_unit {
                    ChargingRateUnit::A => RateUnit::Amperes,
                    ChargingRateUnit::W => RateUnit::Watts,
                }),
                schedule
                    .iter()
                    .flat_map(|s| s.charging_schedule_period.iter())
                    .map(|p| (p.start_period, p.limit, p.number_phases)),
            )
        }
        other => {
            return Err(ControlError::InvalidReply(format!(
                "unexpected answer to {}",
                other.action().as_str()
            )))
        }
    })
}

/// After a boot: read the sampled-data settings (GetVariables), then set the interval and the
/// measurands Coupler uses (SetVariables), falling back to the essential ones when the station
/// refuses the full list.
pub(crate) async fn after_boot(gateway: Gateway, charger: ChargerId) {
    let config = gateway.inner.config.clone();
    let read = ChargerCommand::GetConfiguration {
        keys: vec![TX_UPDATED_INTERVAL.to_owned(), TX_UPDATED_MEASURANDS.to_owned()],
    };
    let entries = match gateway.send(&charger, read).await {
        Ok(CommandReply::Configuration { entries, .. }) => entries,
        Ok(_) => Vec::new(),
        Err(e) => {
            tracing::info!(error = %e, "could not read the station's sampled-data settings");
            Vec::new()
        }
    };
    let value_of = |key: &str| {
        entries
            .iter()
            .find(|e| e.key.eq_ignore_ascii_case(key))
            .and_then(|e| e.value.clone())
    };
    let interval = config.meter_sample_interval.as_secs().to_string();
    if value_of(TX_UPDATED_INTERVAL).as_deref() != Some(interval.as_str()) {
        change(&gateway, &charger, TX_UPDATED_INTERVAL, &interval).await;
    }
    let wanted = config.measurands.join(",");
    if value_of(TX_UPDATED_MEASURANDS).as_deref() != Some(wanted.as_str())
        && !change(&gateway, &charger, TX_UPDATED_MEASURANDS, &wanted).await
    {
        let essential = "Energy.Active.Import.Register,Power.Active.Import,Current.Import";
        change(&gateway, &charger, TX_UPDATED_MEASURANDS, essential).await;
    }
    crate::capabilities::learn_201(&gateway, &charger).await;
    // A reboot dropped whatever limits the station did not keep: the keeper puts them back.
    gateway.notify_ready(&charger);
}

#[cfg(test)]
mod tests {
    use coupler_ocpp::v201::{SampledValue, UnitOfMeasure};

    use super::*;

    fn token(id: &str, kind: IdTokenKind) -> IdToken {
        IdToken {
            id_token: CiString::new(id).unwrap(),
            kind,
            additional_info: None,
        }
    }

    #[test]
    fn mac_address_and_emaid_tokens_become_vehicle_identities_in_one_format() {
        assert_eq!(
            id_tag_of(&token("92:d5:0a:69:3f:80", IdTokenKind::MacAddress)).as_deref(),
            Some("VID:92D50A693F80")
        );
        assert_eq!(
            id_tag_of(&token("de-abc-c123456789", IdTokenKind::EMaid)).as_deref(),
            Some("EMAID:DE-ABC-C123456789")
        );
        assert_eq!(
            id_tag_of(&token("04A2B3C4", IdTokenKind::Iso14443)).as_deref(),
            Some("04A2B3C4")
        );
        assert_eq!(id_tag_of(&token("", IdTokenKind::NoAuthorization)), None);
    }

    #[test]
    fn meter_values_with_multipliers_become_samples_in_normalised_units() {
        let sampled = |value: f64, measurand, unit: &str, multiplier| SampledValue {
            value,
            context: None,
            measurand,
            phase: None,
            location: None,
            signed_meter_value: None,
            unit_of_measure: Some(UnitOfMeasure {
                unit: Some(CiString::new(unit).unwrap()),
                multiplier,
            }),
        };
        let values = [MeterValue {
            sampled_value: vec![
                sampled(12.5, None, "kWh", None),
                sampled(7.4, Some(v201::Measurand::PowerActiveImport), "W", Some(3)),
            ],
            timestamp: chrono::Utc::now(),
        }];
        let samples = samples_of(&values);
        assert_eq!(
            (
                samples[0].measurand.as_str(),
                samples[0].value,
                samples[0].unit.as_str()
            ),
            ("Energy.Active.Import.Register", 12_500.0, "Wh")
        );
        assert_eq!((samples[1].value, samples[1].unit.as_str()), (7400.0, "W"));
    }

    #[test]
    fn a_transaction_event_leaves_its_charging_state_and_an_ended_one_a_stopped_or_empty_connector() {
        use v201::ChargingState::*;
        use TransactionEventKind::*;
        assert_eq!(
            connector_state(Updated, Some(Charging)),
            Some(("Charging", PowerDeliveryState::Charging))
        );
        assert_eq!(
            connector_state(Started, Some(SuspendedEvse)),
            Some(("SuspendedEVSE", PowerDeliveryState::Stopped))
        );
        assert_eq!(connector_state(Updated, None), None);
        assert_eq!(
            connector_state(Ended, Some(Charging)),
            Some(("EVConnected", PowerDeliveryState::Stopped))
        );
        assert_eq!(
            connector_state(Ended, None),
            Some(("EVConnected", PowerDeliveryState::Stopped))
        );
        assert_eq!(
            connector_state(Ended, Some(Idle)),
            Some(("Idle", PowerDeliveryState::Unplugged))
        );
    }

    #[test]
    fn local_list_entries_become_valid_2_0_1_authorization_data() {
        let put = LocalListChange::Put(coupler_core::authorisation::LocalListEntry {
            value: "04A2B3C4".into(),
            kind: TokenKind::Rfid,
            status: coupler_core::authorisation::IdTokenStatus::Expired,
            expires_at: Some(chrono::Utc::now()),
            group_id: Some("FAMILY".into()),
        });
        let removed = LocalListChange::Remove {
            value: "DE8AA1A2B3C4D5".into(),
            kind: TokenKind::Emaid,
        };
        let request = Request::SendLocalList(v201::SendLocalListRequest {
            version_number: 2,
            update_type: v201::UpdateType::Differential,
            local_authorization_list: Some(vec![
                authorization_data(&put).unwrap(),
                authorization_data(&removed).unwrap(),
            ]),
        });
        let payload = request.to_value().unwrap();
        let entries = &payload["localAuthorizationList"];
        assert_eq!(
            entries[0]["idToken"]["type"], "ISO14443",
            "an RFID card of unknown standard"
        );
        assert_eq!(entries[0]["idTokenInfo"]["status"], "Expired");
        assert_eq!(entries[0]["idTokenInfo"]["groupIdToken"]["type"], "Central");
        assert_eq!(entries[1]["idToken"]["type"], "eMAID");
        assert!(
            entries[1].get("idTokenInfo").is_none(),
            "a removal carries no idTokenInfo"
        );
    }

    #[test]
    fn settings_are_named_component_dot_variable() {
        let (component, variable) = device_model_key("SampledDataCtrlr.TxUpdatedInterval").unwrap();
        assert_eq!(key_of(&component, &variable), "SampledDataCtrlr.TxUpdatedInterval");
        assert!(device_model_key("MeterValueSampleInterval").is_err());
        assert!(device_model_key(".x").is_err());
    }

    #[test]
    fn replies_are_read_into_version_neutral_answers() {
        let accepted = decode_reply("RequestStartTransaction", &serde_json::json!({"status": "Accepted"})).unwrap();
        assert!(accepted.is_accepted());
        let set = decode_reply(
            "SetVariables",
            &serde_json::json!({"setVariableResult": [
                {"attributeStatus": "Accepted", "component": {"name": "A"}, "variable": {"name": "B"}},
                {"attributeStatus": "UnknownVariable", "component": {"name": "A"}, "variable": {"name": "C"}}
            ]}),
        )
        .unwrap();
        assert_eq!(set, status(false, "UnknownVariable"));
        let read = decode_reply(
            "GetVariables",
            &serde_json::json!({"getVariableResult": [
                {"attributeStatus": "Accepted", "attributeValue": "60", "component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxUpdatedInterval"}},
                {"attributeStatus": "UnknownVariable", "component": {"name": "X"}, "variable": {"name": "Y"}}
            ]}),
        )
        .unwrap();
        assert_eq!(
            read,
            CommandReply::Configuration {
                entries: vec![ConfigurationEntry {
                    key: "SampledDataCtrlr.TxUpdatedInterval".into(),
                    value: Some("60".into()),
                    readonly: false
                }],
                unknown: vec!["X.Y".into()],
            }
        );
        let schedule = decode_reply(
            "GetCompositeSchedule",
            &serde_json::json!({"status": "Accepted", "schedule": {"evseId": 1, "duration": 60,
                "scheduleStart": "2026-11-21T10:00:00Z", "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}]}}),
        )
        .unwrap();
        assert!(schedule.is_accepted());
        assert!(matches!(
            decode_reply("Reset", &serde_json::json!({"status": "Maybe"})),
            Err(ControlError::InvalidReply(_))
        ));
    }

    #[test]
    fn limits_become_2_0_1_profiles_that_keep_the_smart_charging_rules() {
        let default = ChargingLimit::constant(1000, LimitPurpose::TransactionDefault, 1, RateUnit::Amperes, 6.54);
        let request = v201::SetChargingProfileRequest {
            evse_id: 0,
            charging_profile: profile(&default, None).unwrap(),
        };
        request.check_rules().unwrap();
        assert_eq!(
            request.charging_profile.charging_schedule[0].charging_schedule_period[0].limit,
            6.5
        );
        let tx = ChargingLimit::constant(1001, LimitPurpose::Transaction, 1, RateUnit::Amperes, 10.0);
        let request = v201::SetChargingProfileRequest {
            evse_id: 1,
            charging_profile: profile(&tx, Some("tx-1".into())).unwrap(),
        };
        request.check_rules().unwrap();
        let without = v201::SetChargingProfileRequest {
            evse_id: 1,
            charging_profile: profile(&tx, None).unwrap(),
        };
        assert!(without.check_rules().is_err());
    }
}
