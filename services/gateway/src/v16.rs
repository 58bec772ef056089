//! OCPP 1.6J: the charger's calls turned into stored facts, and the control port's commands turned
//! into 1.6 calls.

use coupler_core::authorisation::{match_key_16, IdToken, IdTokenKind, IdTokenStatus, LocalListChange, Verdict};
use coupler_core::charger::OcppProtocol;
use coupler_core::charger::{normalise_reading, power_delivery_from_ocpp16, ChargerInfo, ConnectorStatus, MeterSample};
use coupler_core::control::{
    ChargerCommand, ChargerControl, ChargingLimit, CommandReply, ConfigurationEntry, ControlError, LimitPurpose,
    LogKind, RateUnit, ResetKind, TriggerKind,
};
use coupler_core::operation::{firmware_progress, upload_progress, OperationKind};
use coupler_core::plausibility::{self, Implausible};
use coupler_core::security::{
    CertificateHash, CertificateUse, HashAlgorithm, InstalledCertificate, InstalledCertificateKind,
};
use coupler_core::store::{SessionStart, SessionStop};
use coupler_core::ChargerId;
use coupler_ocpp::rpc::Frame;
use coupler_ocpp::v16::{self, Request, Response};
use coupler_ocpp::v16::{
    AuthorizationStatus, AvailabilityType, ChargingProfile, ChargingProfileKind, ChargingProfilePurpose,
    ChargingRateUnit, ChargingSchedule, ChargingSchedulePeriod, CiString, DataTransferStatus, IdTagInfo,
    MessageTrigger, MeterValue, RegistrationStatus, ResetType, UpdateType,
};
use coupler_ocpp::{ErrorCode, OcppVersion};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::common::{
    change_unrecorded, composite_schedule, consume_reservation, int, interval_secs, receive_data_transfer,
    record_progress, status, Failure, PlugNews, StatusMemory,
};
use crate::security::{decide_signing, deliver_certificate, record_security_event, SignDecision};
use crate::{authorise, Gateway, GatewayConfig};

/// Answers one call from the charger. What it reports is stored before the answer is built; when
/// storing fails the charger gets an error and will send it again, so nothing acknowledged is lost.
pub(crate) async fn handle_call(
    gateway: &Gateway,
    charger: Option<&ChargerId>,
    statuses: &mut StatusMemory,
    message_id: &str,
    action: &str,
    payload: &Value,
) -> Frame {
    let request = match v16::parse_charge_point_request(action, payload) {
        Ok(request) => request,
        Err(refusal) => {
            tracing::info!(action, error = %refusal, "refused a call");
            return refusal.call_error(message_id, OcppVersion::V16);
        }
    };
    let Some(charger) = charger else {
        return pending_answer(message_id, request, gateway);
    };
    let plug_news = match &request {
        Request::StatusNotification(status) => {
            PlugNews::Status(i64::from(status.connector_id), status.status.as_str().to_owned())
        }
        Request::Authorize(_) | Request::StartTransaction(_) | Request::StopTransaction(_) => PlugNews::Yes,
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
        Err(failure) => failure.into_call_error(message_id, action, OcppVersion::V16),
    }
}

/// What a 1.6 charger is told about a tag: the verdict, and for a registered token its expiry
/// date and group.
fn tag_info(verdict: Verdict, token: Option<&IdToken>) -> IdTagInfo {
    IdTagInfo {
        expiry_date: token.and_then(|t| t.expires_at),
        parent_id_tag: token
            .and_then(|t| t.group_id.as_deref())
            .and_then(|g| CiString::new(g).ok()),
        status: AuthorizationStatus::from_wire(verdict.ocpp16()).unwrap_or(AuthorizationStatus::Invalid),
    }
}

/// The verdict on a 1.6 id tag, and what the charger is told.
async fn judge_tag(gateway: &Gateway, charger: &ChargerId, id_tag: &str) -> Result<(Verdict, IdTagInfo), Failure> {
    let (verdict, token) = authorise::judge(gateway, charger, id_tag, &match_key_16(id_tag)).await?;
    Ok((verdict, tag_info(verdict, token.as_ref())))
}

/// An admitted unknown identity: its boot is answered `Pending` so it retries later; nothing else
/// is accepted from it.
fn pending_answer(message_id: &str, request: Request, gateway: &Gateway) -> Frame {
    let response = match request {
        Request::BootNotification(boot) => {
            tracing::info!(
                vendor = boot.charge_point_vendor.as_str(),
                model = boot.charge_point_model.as_str(),
                "unknown charger booted; answered Pending"
            );
            Response::BootNotification(v16::BootNotificationResponse {
                status: RegistrationStatus::Pending,
                current_time: gateway.inner.clock.now(),
                interval: interval_secs(gateway.inner.config.heartbeat_interval),
            })
        }
        Request::Heartbeat(_) => Response::Heartbeat(v16::HeartbeatResponse {
            current_time: gateway.inner.clock.now(),
        }),
        _ => {
            return Frame::call_error(
                message_id,
                ErrorCode::SecurityError,
                OcppVersion::V16,
                "this charger is not registered",
            );
        }
    };
    response
        .to_call_result(message_id)
        .unwrap_or_else(|e| Frame::call_error(message_id, ErrorCode::InternalError, OcppVersion::V16, &e.to_string()))
}

async fn answer(gateway: &Gateway, charger: &ChargerId, request: Request) -> Result<Response, Failure> {
    let store = &gateway.inner.store;
    let now = gateway.inner.clock.now();
    Ok(match request {
        Request::BootNotification(boot) => {
            let info = ChargerInfo {
                vendor: Some(boot.charge_point_vendor.into_inner()),
                model: Some(boot.charge_point_model.into_inner()),
                serial_number: boot
                    .charge_point_serial_number
                    .or(boot.charge_box_serial_number)
                    .map(CiString::into_inner),
                firmware_version: boot.firmware_version.map(CiString::into_inner),
            };
            store.record_boot(charger, &info, now).await?;
            tracing::info!(
                vendor = info.vendor.as_deref(),
                model = info.model.as_deref(),
                firmware = info.firmware_version.as_deref(),
                "charger booted"
            );
            let control = gateway.clone();
            let id = charger.clone();
            // After the answer is on its way: configure meter values. Runs through the session's
            // queue like any other command.
            gateway.inner.tasks.spawn(
                "ocpp after boot",
                tracing::Instrument::in_current_span(async move { after_boot(control, id).await }),
            );
            Response::BootNotification(v16::BootNotificationResponse {
                status: RegistrationStatus::Accepted,
                current_time: gateway.inner.clock.now(),
                interval: interval_secs(gateway.inner.config.heartbeat_interval),
            })
        }
        Request::Heartbeat(_) => {
            store.record_seen(charger, now).await?;
            Response::Heartbeat(v16::HeartbeatResponse {
                current_time: gateway.inner.clock.now(),
            })
        }
        Request::StatusNotification(status) => {
            let connector_id = authorise::connector(status.connector_id, 0, "connectorId")?;
            let record = ConnectorStatus {
                connector_id,
                status: status.status.as_str().to_owned(),
                error_code: status.error_code.as_str().to_owned(),
                info: status.info.map(CiString::into_inner),
                power_delivery_state: power_delivery_from_ocpp16(status.status.as_str()),
                updated_at: now,
            };
            store.record_status(charger, &record).await?;
            Response::StatusNotification(v16::StatusNotificationResponse {})
        }
        Request::Authorize(authorize) => {
            store.record_id_tag(charger, authorize.id_tag.as_str(), now).await?;
            Response::Authorize(v16::AuthorizeResponse {
                id_tag_info: judge_tag(gateway, charger, authorize.id_tag.as_str()).await?.1,
            })
        }
        Request::StartTransaction(start) => {
            let connector_id = authorise::connector(start.connector_id, 1, "connectorId")?;
            store.record_id_tag(charger, start.id_tag.as_str(), now).await?;
            let (verdict, id_tag_info) = judge_tag(gateway, charger, start.id_tag.as_str()).await?;
            let meter_start_wh = f64::from(start.meter_start);
            // Stored whatever the verdict: the charger has started, and stops at once when refused.
            let transaction_id = store
                .start_session(
                    charger,
                    &SessionStart {
                        connector_id,
                        id_tag: Some(start.id_tag.as_str()),
                        meter_start_wh,
                        started_at: start.timestamp,
                    },
                )
                .await?;
            let implausible = plausibility::check_register(meter_start_wh);
            store
                .mark_session(
                    charger,
                    transaction_id,
                    Some(verdict.as_str()),
                    implausible.map(Implausible::as_str),
                )
                .await?;
            if let Some(why) = implausible {
                tracing::warn!(
                    transaction_id,
                    meter_start = start.meter_start,
                    why = why.as_str(),
                    "implausible meterStart; session flagged"
                );
            }
            if verdict.is_accepted() {
                consume_reservation(
                    gateway,
                    charger,
                    Some(connector_id),
                    Some(start.id_tag.as_str()),
                    start.reservation_id,
                    transaction_id,
                )
                .await?;
            }
            let transaction_id = i32::try_from(transaction_id)
                .map_err(|_| Failure::Internal(format!("transaction id {transaction_id} exceeds OCPP 1.6's range")))?;
            tracing::info!(
                transaction_id,
                connector_id,
                authorisation = verdict.as_str(),
                "transaction started"
            );
            Response::StartTransaction(v16::StartTransactionResponse {
                id_tag_info,
                transaction_id,
            })
        }
        Request::StopTransaction(stop) => {
            let transaction_id = i64::from(stop.transaction_id);
            let session = store.session(charger, transaction_id).await?;
            let samples = samples_of(stop.transaction_data.as_deref().unwrap_or_default());
            let connector = session.as_ref().map(|s| s.connector_id);
            let (samples, flagged) = authorise::screen(gateway, charger, connector, samples).await?;
            let meter_stop_wh = f64::from(stop.meter_stop);
            let implausible = session.as_ref().and_then(|s| {
                plausibility::check_stop(
                    s.started_at,
                    s.meter_start_wh,
                    stop.timestamp,
                    meter_stop_wh,
                    gateway.inner.config.judge_power,
                )
            });
            let known = store
                .stop_session(
                    charger,
                    &SessionStop {
                        transaction_id,
                        meter_stop_wh,
                        stopped_at: stop.timestamp,
                        reason: Some(stop.reason.map_or("Local", |r| r.as_str())),
                        samples: &samples,
                    },
                )
                .await?;
            authorise::keep_flagged(
                gateway,
                charger,
                connector.unwrap_or(0),
                known.then_some(transaction_id),
                &flagged,
            )
            .await?;
            if let Some(why) = implausible {
                tracing::warn!(transaction_id, why = why.as_str(), "implausible stop; session flagged");
                store
                    .mark_session(charger, transaction_id, None, Some(why.as_str()))
                    .await?;
            }
            if known {
                tracing::info!(transaction_id = stop.transaction_id, "transaction stopped");
            } else {
                // Answered all the same: a charger refused here would retry the stop forever.
                tracing::warn!(
                    transaction_id = stop.transaction_id,
                    "stop for an unknown transaction; readings kept"
                );
            }
            let id_tag_info = match &stop.id_tag {
                Some(tag) => Some(judge_tag(gateway, charger, tag.as_str()).await?.1),
                None => None,
            };
            Response::StopTransaction(v16::StopTransactionResponse { id_tag_info })
        }
        Request::MeterValues(values) => {
            let connector_id = authorise::connector(values.connector_id, 0, "connectorId")?;
            let transaction_id = values.transaction_id.map(i64::from);
            let samples = samples_of(&values.meter_value);
            let (samples, flagged) = authorise::screen(gateway, charger, Some(connector_id), samples).await?;
            store
                .record_meter_values(charger, connector_id, transaction_id, &samples)
                .await?;
            authorise::keep_flagged(gateway, charger, connector_id, transaction_id, &flagged).await?;
            Response::MeterValues(v16::MeterValuesResponse {})
        }
        Request::DataTransfer(transfer) => {
            let data = transfer.data.map(Value::String);
            let answer = receive_data_transfer(
                gateway,
                charger,
                transfer.vendor_id.as_str(),
                transfer.message_id.as_ref().map(|m| m.as_str()),
                data.as_ref(),
            )
            .await?;
            Response::DataTransfer(v16::DataTransferResponse {
                status: DataTransferStatus::from_wire(answer).unwrap_or(DataTransferStatus::UnknownVendorId),
                data: None,
            })
        }
        Request::DiagnosticsStatusNotification(notification) => {
            let status = notification.status.as_str();
            tracing::info!(status, "diagnostics status");
            store.record_seen(charger, now).await?;
            record_progress(
                gateway,
                charger,
                &[OperationKind::GetDiagnostics],
                None,
                status,
                upload_progress(status),
            )
            .await?;
            Response::DiagnosticsStatusNotification(v16::DiagnosticsStatusNotificationResponse {})
        }
        Request::FirmwareStatusNotification(notification) => {
            let status = notification.status.as_str();
            store.record_firmware_status(charger, status, now).await?;
            record_progress(
                gateway,
                charger,
                &[OperationKind::UpdateFirmware],
                None,
                status,
                firmware_progress(status),
            )
            .await?;
            Response::FirmwareStatusNotification(v16::FirmwareStatusNotificationResponse {})
        }
        Request::LogStatusNotification(notification) => {
            let status = notification.status.as_str();
            tracing::info!(status, request_id = notification.request_id, "log upload status");
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
            Response::LogStatusNotification(v16::LogStatusNotificationResponse {})
        }
        Request::SignedFirmwareStatusNotification(notification) => {
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
            Response::SignedFirmwareStatusNotification(v16::SignedFirmwareStatusNotificationResponse {})
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
            Response::SecurityEventNotification(v16::SecurityEventNotificationResponse {})
        }
        Request::SignCertificate(request) => {
            store.record_seen(charger, now).await?;
            let status = match decide_signing(gateway, charger, request.csr.as_str()).await? {
                SignDecision::Accept(params) => {
                    deliver_certificate(gateway, charger, *params, CertificateUse::ChargingStation);
                    v16::GenericStatus::Accepted
                }
                // 1.6 has no statusInfo: the reason is in Coupler's log.
                SignDecision::Reject { .. } => v16::GenericStatus::Rejected,
            };
            Response::SignCertificate(v16::SignCertificateResponse { status })
        }
        other => {
            // parse_charge_point_request lets through only what a charge point may send.
            return Err(Failure::Refused(
                ErrorCode::NotSupported,
                format!("{} is not sent by a charge point", other.action().as_str()),
            ));
        }
    })
}

/// Meter values as Coupler stores them: numbers in normalised units. Signed or unreadable values
/// are left out (they are kept nowhere else, but cannot be used as numbers either).
fn samples_of(values: &[MeterValue]) -> Vec<MeterSample> {
    values
        .iter()
        .flat_map(|value| {
            value.sampled_value.iter().filter_map(move |sampled| {
                let number: f64 = sampled.value.trim().parse().ok().filter(|v: &f64| v.is_finite())?;
                let unit = sampled.unit.map_or("Wh", |u| u.as_str());
                let unit = if unit == "Celcius" { "Celsius" } else { unit };
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

fn ci<const N: usize>(text: &str, what: &str) -> Result<CiString<N>, ControlError> {
    CiString::new(text).map_err(|e| ControlError::Unsupported(format!("{what}: {e}")))
}

fn profile(limit: &ChargingLimit) -> Result<ChargingProfile, ControlError> {
    let periods = limit
        .periods
        .iter()
        .map(|p| {
            Ok(ChargingSchedulePeriod {
                start_period: int(p.start_offset_s, "startPeriod")?,
                // OCPP wants a multiple of 0.1; round rather than refuse a computed limit.
                limit: (p.limit * 10.0).round() / 10.0,
                number_phases: p.phases.map(i32::from),
            })
        })
        .collect::<Result<Vec<_>, ControlError>>()?;
    Ok(ChargingProfile {
        charging_profile_id: limit.profile_id,
        transaction_id: limit.transaction_id.map(|t| int(t, "transactionId")).transpose()?,
        stack_level: limit.stack_level,
        charging_profile_purpose: match limit.purpose {
            LimitPurpose::Transaction => ChargingProfilePurpose::TxProfile,
            LimitPurpose::TransactionDefault => ChargingProfilePurpose::TxDefaultProfile,
            LimitPurpose::StationMax => ChargingProfilePurpose::ChargePointMaxProfile,
        },
        charging_profile_kind: if limit.start.is_some() {
            ChargingProfileKind::Absolute
        } else {
            ChargingProfileKind::Relative
        },
        recurrency_kind: None,
        valid_from: limit.valid_from,
        valid_to: limit.valid_to,
        charging_schedule: ChargingSchedule {
            duration: None,
            start_schedule: limit.start,
            charging_rate_unit: rate_unit(limit.unit),
            charging_schedule_period: periods,
            min_charging_rate: None,
        },
    })
}

fn rate_unit(unit: RateUnit) -> ChargingRateUnit {
    match unit {
        RateUnit::Amperes => ChargingRateUnit::A,
        RateUnit::Watts => ChargingRateUnit::W,
    }
}

/// The OCPP 1.6 `CALL` for a command, with its action name; a command 1.6 cannot carry is refused.
pub(crate) fn encode_call(
    command: &ChargerCommand,
    config: &GatewayConfig,
    message_id: &str,
) -> Result<(&'static str, Frame), ControlError> {
    let request = encode_command(command, config)?;
    let frame = request
        .to_call(message_id)
        .map_err(|e| ControlError::Unsupported(e.to_string()))?;
    Ok((request.action().as_str(), frame))
}

/// Expresses a version-neutral command as an OCPP 1.6 call.
pub(crate) fn encode_command(command: &ChargerCommand, config: &GatewayConfig) -> Result<Request, ControlError> {
    let _ = config;
    Ok(match command {
        ChargerCommand::RemoteStart {
            connector_id,
            id_tag,
            limit,
        } => Request::RemoteStartTransaction(v16::RemoteStartTransactionRequest {
            connector_id: connector_id.map(|c| int(c, "connectorId")).transpose()?,
            id_tag: ci(id_tag, "idTag")?,
            charging_profile: limit.as_ref().map(profile).transpose()?,
        }),
        ChargerCommand::RemoteStop { transaction_id } => {
            Request::RemoteStopTransaction(v16::RemoteStopTransactionRequest {
                transaction_id: int(*transaction_id, "transactionId")?,
            })
        }
        ChargerCommand::SetLimit { connector_id, limit } => {
            Request::SetChargingProfile(v16::SetChargingProfileRequest {
                connector_id: int(*connector_id, "connectorId")?,
                cs_charging_profiles: profile(limit)?,
            })
        }
        ChargerCommand::ClearLimit {
            profile_id,
            connector_id,
            purpose,
            stack_level,
        } => Request::ClearChargingProfile(v16::ClearChargingProfileRequest {
            id: *profile_id,
            connector_id: connector_id.map(|c| int(c, "connectorId")).transpose()?,
            charging_profile_purpose: purpose.map(|p| match p {
                LimitPurpose::Transaction => ChargingProfilePurpose::TxProfile,
                LimitPurpose::TransactionDefault => ChargingProfilePurpose::TxDefaultProfile,
                LimitPurpose::StationMax => ChargingProfilePurpose::ChargePointMaxProfile,
            }),
            stack_level: *stack_level,
        }),
        ChargerCommand::GetCompositeSchedule {
            connector_id,
            duration_s,
            unit,
        } => Request::GetCompositeSchedule(v16::GetCompositeScheduleRequest {
            connector_id: int(*connector_id, "connectorId")?,
            duration: int(*duration_s, "duration")?,
            charging_rate_unit: unit.map(rate_unit),
        }),
        ChargerCommand::ChangeConfiguration { key, value } => {
            Request::ChangeConfiguration(v16::ChangeConfigurationRequest {
                key: ci(key, "key")?,
                value: ci(value, "value")?,
            })
        }
        ChargerCommand::GetConfiguration { keys } => Request::GetConfiguration(v16::GetConfigurationRequest {
            key: if keys.is_empty() {
                None
            } else {
                Some(keys.iter().map(|k| ci(k, "key")).collect::<Result<_, _>>()?)
            },
        }),
        // What 1.6 asks for only through the security extension goes as ExtendedTriggerMessage.
        ChargerCommand::Trigger { message, connector_id } if message.needs_extended_trigger() => {
            extended_trigger(*message, *connector_id)?
        }
        ChargerCommand::ExtendedTrigger { message, connector_id } => extended_trigger(*message, *connector_id)?,
        ChargerCommand::Trigger { message, connector_id } => Request::TriggerMessage(v16::TriggerMessageRequest {
            requested_message: match message {
                TriggerKind::BootNotification => MessageTrigger::BootNotification,
                TriggerKind::Heartbeat => MessageTrigger::Heartbeat,
                TriggerKind::MeterValues => MessageTrigger::MeterValues,
                TriggerKind::StatusNotification => MessageTrigger::StatusNotification,
                TriggerKind::FirmwareStatusNotification => MessageTrigger::FirmwareStatusNotification,
                TriggerKind::DiagnosticsStatusNotification => MessageTrigger::DiagnosticsStatusNotification,
                other => return Err(only_201(&format!("TriggerMessage {}", other.as_str()))),
            },
            connector_id: connector_id.map(|c| int(c, "connectorId")).transpose()?,
        }),
        ChargerCommand::Reset { kind, evse_id } => {
            if evse_id.is_some() {
                return Err(only_201("resetting one EVSE"));
            }
            Request::Reset(v16::ResetRequest {
                kind: match kind {
                    ResetKind::Hard | ResetKind::Immediate => ResetType::Hard,
                    ResetKind::Soft | ResetKind::OnIdle => ResetType::Soft,
                },
            })
        }
        ChargerCommand::ChangeAvailability {
            connector_id,
            evse_connector_id,
            operative,
        } => {
            if evse_connector_id.is_some() {
                return Err(only_201("the availability of one connector of an EVSE"));
            }
            Request::ChangeAvailability(v16::ChangeAvailabilityRequest {
                connector_id: int(*connector_id, "connectorId")?,
                kind: if *operative {
                    AvailabilityType::Operative
                } else {
                    AvailabilityType::Inoperative
                },
            })
        }
        ChargerCommand::UnlockConnector {
            connector_id,
            evse_connector_id,
        } => {
            if evse_connector_id.is_some() {
                return Err(only_201("unlocking one connector of an EVSE"));
            }
            Request::UnlockConnector(v16::UnlockConnectorRequest {
                connector_id: int(*connector_id, "connectorId")?,
            })
        }
        ChargerCommand::ClearCache => Request::ClearCache(v16::ClearCacheRequest {}),
        ChargerCommand::DataTransfer {
            vendor_id,
            message_id,
            data,
        } => Request::DataTransfer(v16::DataTransferRequest {
            vendor_id: ci(vendor_id, "vendorId")?,
            message_id: message_id.as_deref().map(|m| ci(m, "messageId")).transpose()?,
            data: match data {
                None => None,
                Some(Value::String(text)) => Some(text.clone()),
                Some(_) => {
                    return Err(ControlError::Unsupported(
                        "OCPP 1.6 DataTransfer carries its data as text".into(),
                    ))
                }
            },
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
        } => match (signing_certificate, signature) {
            // The security extension's signed firmware update.
            (Some(certificate), Some(signature)) => Request::SignedUpdateFirmware(v16::SignedUpdateFirmwareRequest {
                retries: retries.map(|r| int(r, "retries")).transpose()?,
                retry_interval: retry_interval_s.map(|r| int(r, "retryInterval")).transpose()?,
                request_id: *request_id,
                firmware: v16::Firmware {
                    location: ci(location, "location")?,
                    retrieve_date_time: *retrieve_at,
                    install_date_time: *install_at,
                    signing_certificate: ci(certificate, "signingCertificate")?,
                    signature: ci(signature, "signature")?,
                },
            }),
            (None, None) => {
                if install_at.is_some() {
                    return Err(ControlError::Unsupported(
                        "an install time needs a signed firmware update in OCPP 1.6".into(),
                    ));
                }
                Request::UpdateFirmware(v16::UpdateFirmwareRequest {
                    location: location.clone(),
                    retries: retries.map(|r| int(r, "retries")).transpose()?,
                    retrieve_date: *retrieve_at,
                    retry_interval: retry_interval_s.map(|r| int(r, "retryInterval")).transpose()?,
                })
            }
            _ => {
                return Err(ControlError::Unsupported(
                    "a signed firmware update in OCPP 1.6 needs both a signing certificate and a signature".into(),
                ))
            }
        },
        ChargerCommand::GetDiagnostics {
            location,
            log,
            from,
            to,
            retries,
            retry_interval_s,
            request_id,
        } => match log {
            None => Request::GetDiagnostics(v16::GetDiagnosticsRequest {
                location: location.clone(),
                retries: retries.map(|r| int(r, "retries")).transpose()?,
                retry_interval: retry_interval_s.map(|r| int(r, "retryInterval")).transpose()?,
                start_time: *from,
                stop_time: *to,
            }),
            // The security extension's GetLog.
            Some(log) => Request::GetLog(v16::GetLogRequest {
                log: v16::LogParameters {
                    remote_location: ci(location, "remoteLocation")?,
                    oldest_timestamp: *from,
                    latest_timestamp: *to,
                },
                log_type: match log {
                    LogKind::Diagnostics => v16::LogKind::DiagnosticsLog,
                    LogKind::Security => v16::LogKind::SecurityLog,
                },
                request_id: *request_id,
                retries: retries.map(|r| int(r, "retries")).transpose()?,
                retry_interval: retry_interval_s.map(|r| int(r, "retryInterval")).transpose()?,
            }),
        },
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
            if id_token_type.is_some() || group_id_tag.is_some() || connector_type.is_some() {
                return Err(only_201("an id token type, a group token or a connector type"));
            }
            Request::ReserveNow(v16::ReserveNowRequest {
                connector_id: int(*connector_id, "connectorId")?,
                expiry_date: *expires_at,
                id_tag: ci(id_tag, "idTag")?,
                parent_id_tag: parent_id_tag.as_deref().map(|t| ci(t, "parentIdTag")).transpose()?,
                reservation_id: *reservation_id,
            })
        }
        ChargerCommand::CancelReservation { reservation_id } => {
            Request::CancelReservation(v16::CancelReservationRequest {
                reservation_id: *reservation_id,
            })
        }
        ChargerCommand::GetBaseReport { .. } => return Err(only_201("GetBaseReport")),
        ChargerCommand::CertificateSigned { chain, usage } => {
            if *usage != CertificateUse::ChargingStation {
                return Err(only_201("a V2G certificate"));
            }
            Request::CertificateSigned(v16::CertificateSignedRequest {
                certificate_chain: ci(chain, "certificateChain")?,
            })
        }
        ChargerCommand::SendLocalList { version, full, changes } => Request::SendLocalList(v16::SendLocalListRequest {
            list_version: *version,
            local_authorization_list: if changes.is_empty() {
                None
            } else {
                Some(changes.iter().map(authorization_data).collect::<Result<_, _>>()?)
            },
            update_type: if *full {
                UpdateType::Full
            } else {
                UpdateType::Differential
            },
        }),
        ChargerCommand::GetLocalListVersion => Request::GetLocalListVersion(v16::GetLocalListVersionRequest {}),
        ChargerCommand::InstallCertificate { kind, certificate } => {
            Request::InstallCertificate(v16::InstallCertificateRequest {
                certificate_type: certificate_use(*kind)?,
                certificate: ci(certificate, "certificate")?,
            })
        }
        ChargerCommand::GetInstalledCertificateIds { kinds } => match kinds.as_slice() {
            [kind] => Request::GetInstalledCertificateIds(v16::GetInstalledCertificateIdsRequest {
                certificate_type: certificate_use(*kind)?,
            }),
            _ => {
                return Err(ControlError::Unsupported(
                    "OCPP 1.6 asks for the installed certificates of exactly one kind".into(),
                ))
            }
        },
        ChargerCommand::DeleteCertificate { hash } => Request::DeleteCertificate(v16::DeleteCertificateRequest {
            certificate_hash_data: v16::CertificateHashData {
                hash_algorithm: v16::HashAlgorithm::from_wire(hash.algorithm.as_str())
                    .ok_or_else(|| ControlError::Unsupported("an unknown hash algorithm".into()))?,
                issuer_name_hash: ci(&hash.issuer_name_hash, "issuerNameHash")?,
                issuer_key_hash: ci(&hash.issuer_key_hash, "issuerKeyHash")?,
                serial_number: ci(&hash.serial_number, "serialNumber")?,
            },
        }),
    })
}

/// The security extension's ExtendedTriggerMessage asking for `message`.
fn extended_trigger(message: TriggerKind, connector_id: Option<u32>) -> Result<Request, ControlError> {
    Ok(Request::ExtendedTriggerMessage(v16::ExtendedTriggerMessageRequest {
        requested_message: v16::ExtendedMessageTrigger::from_wire(message.as_str()).ok_or_else(|| {
            ControlError::Unsupported(format!("ExtendedTriggerMessage cannot ask for {}", message.as_str()))
        })?,
        connector_id: connector_id.map(|c| int(c, "connectorId")).transpose()?,
    }))
}

/// The 1.6 security extension's name for a kind of root certificate; the others exist in 2.0.1 only.
fn certificate_use(kind: InstalledCertificateKind) -> Result<v16::CertificateUse, ControlError> {
    kind.ocpp_name(OcppProtocol::V16)
        .and_then(v16::CertificateUse::from_wire)
        .ok_or_else(|| only_201(&format!("a {kind:?} certificate")))
}

/// Certificate hash data as the core keeps it.
fn certificate_hash(data: v16::CertificateHashData) -> CertificateHash {
    CertificateHash {
        algorithm: match data.hash_algorithm {
            v16::HashAlgorithm::Sha256 => HashAlgorithm::Sha256,
            v16::HashAlgorithm::Sha384 => HashAlgorithm::Sha384,
            v16::HashAlgorithm::Sha512 => HashAlgorithm::Sha512,
        },
        issuer_name_hash: data.issuer_name_hash.into_inner(),
        issuer_key_hash: data.issuer_key_hash.into_inner(),
        serial_number: data.serial_number.into_inner(),
    }
}

/// One entry of a 1.6 local list: a token put with its `idTagInfo`, or a removal (no `idTagInfo`).
fn authorization_data(change: &LocalListChange) -> Result<v16::AuthorizationData, ControlError> {
    Ok(match change {
        LocalListChange::Put(entry) => v16::AuthorizationData {
            id_tag: ci(&id_tag_16(entry.kind, &entry.value), "idTag")?,
            id_tag_info: Some(IdTagInfo {
                expiry_date: entry.expires_at,
                parent_id_tag: entry.group_id.as_deref().map(|g| ci(g, "parentIdTag")).transpose()?,
                status: status_16(entry.status),
            }),
        },
        LocalListChange::Remove { value, kind } => v16::AuthorizationData {
            id_tag: ci(&id_tag_16(*kind, value), "idTag")?,
            id_tag_info: None,
        },
    })
}

/// How a 1.6 charger presents a token: a MAC address as `VID:<mac>` (AutoCharge), anything else as is.
fn id_tag_16(kind: IdTokenKind, value: &str) -> String {
    match kind {
        IdTokenKind::MacAddress => {
            let digits: String = value.chars().filter(char::is_ascii_hexdigit).collect();
            format!("VID:{}", digits.to_ascii_uppercase())
        }
        _ => value.to_owned(),
    }
}

fn status_16(status: IdTokenStatus) -> AuthorizationStatus {
    match status {
        IdTokenStatus::Accepted => AuthorizationStatus::Accepted,
        IdTokenStatus::Blocked => AuthorizationStatus::Blocked,
        IdTokenStatus::Expired => AuthorizationStatus::Expired,
        IdTokenStatus::Invalid => AuthorizationStatus::Invalid,
    }
}

fn only_201(what: &str) -> ControlError {
    ControlError::Unsupported(format!("{what} exists in OCPP 2.0.1 only"))
}

/// Reads the charger's answer to one of Coupler's calls.
pub(crate) fn decode_reply(action: &str, payload: &Value) -> Result<CommandReply, ControlError> {
    let response = v16::parse_response(action, payload).map_err(|e| ControlError::InvalidReply(e.to_string()))?;
    Ok(match response {
        Response::RemoteStartTransaction(r) => status(r.status.as_str() == "Accepted", r.status.as_str()),
        Response::RemoteStopTransaction(r) => status(r.status.as_str() == "Accepted", r.status.as_str()),
        Response::SetChargingProfile(r) => status(r.status.as_str() == "Accepted", r.status.as_str()),
        Response::ClearChargingProfile(r) => status(r.status.as_str() == "Accepted", r.status.as_str()),
        Response::ChangeConfiguration(r) => status(
            matches!(r.status.as_str(), "Accepted" | "RebootRequired"),
            r.status.as_str(),
        ),
        Response::TriggerMessage(r) => status(r.status.as_str() == "Accepted", r.status.as_str()),
        Response::Reset(r) => status(r.status.as_str() == "Accepted", r.status.as_str()),
        Response::ChangeAvailability(r) => status(r.status.as_str() != "Rejected", r.status.as_str()),
        Response::UnlockConnector(r) => status(r.status.as_str() == "Unlocked", r.status.as_str()),
        Response::ClearCache(r) => status(r.status.as_str() == "Accepted", r.status.as_str()),
        Response::CertificateSigned(r) => status(r.status.as_str() == "Accepted", r.status.as_str()),
        Response::UpdateFirmware(_) => status(true, "Accepted"),
        Response::ReserveNow(r) => status(r.status.as_str() == "Accepted", r.status.as_str()),
        Response::CancelReservation(r) => status(r.status.as_str() == "Accepted", r.status.as_str()),
        Response::SendLocalList(r) => status(r.status.as_str() == "Accepted", r.status.as_str()),
        Response::GetLocalListVersion(r) => CommandReply::LocalListVersion {
            version: r.list_version,
        },
        Response::ExtendedTriggerMessage(r) => status(r.status.as_str() == "Accepted", r.status.as_str()),
        Response::InstallCertificate(r) => status(r.status.as_str() == "Accepted", r.status.as_str()),
        Response::DeleteCertificate(r) => status(r.status.as_str() == "Accepted", r.status.as_str()),
        Response::SignedUpdateFirmware(r) => status(
            matches!(r.status.as_str(), "Accepted" | "AcceptedCanceled"),
            r.status.as_str(),
        ),
        Response::GetLog(r) => CommandReply::Upload {
            accepted: matches!(r.status.as_str(), "Accepted" | "AcceptedCanceled"),
            status: r.status.as_str().to_owned(),
            file_name: r.filename.map(CiString::into_inner),
        },
        Response::GetInstalledCertificateIds(r) => CommandReply::InstalledCertificates {
            status: r.status.as_str().to_owned(),
            certificates: r
                .certificate_hash_data
                .unwrap_or_default()
                .into_iter()
                .map(|data| InstalledCertificate {
                    // 1.6 answers for the one kind it was asked about; the operation's request names it.
                    kind: String::new(),
                    hash: certificate_hash(data),
                    children: Vec::new(),
                })
                .collect(),
        },
        Response::DataTransfer(r) => CommandReply::DataTransfer {
            accepted: r.status.as_str() == "Accepted",
            status: r.status.as_str().to_owned(),
            data: r.data.map(Value::String),
        },
        Response::GetDiagnostics(r) => CommandReply::Upload {
            accepted: true,
            status: "Accepted".to_owned(),
            file_name: r.file_name.map(CiString::into_inner),
        },
        Response::GetConfiguration(r) => CommandReply::Configuration {
            entries: r
                .configuration_key
                .unwrap_or_default()
                .into_iter()
                .map(|kv| ConfigurationEntry {
                    key: kv.key.into_inner(),
                    value: kv.value.map(CiString::into_inner),
                    readonly: kv.readonly,
                })
                .collect(),
            unknown: r
                .unknown_key
                .unwrap_or_default()
                .into_iter()
                .map(CiString::into_inner)
                .collect(),
        },
        Response::GetCompositeSchedule(r) => {
            let schedule = r.charging_schedule;
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

/// Right after a connection opens: ask for the connectors' statuses, so the state is fresh even when
/// the charger does not reboot on reconnecting; then say the charger is ready, unless it booted on
/// this connection meanwhile (`booted`), in which case the work after its boot says so once it has
/// configured the charger (the limit keeper and the local lists would otherwise look twice).
pub(crate) async fn after_connect(gateway: Gateway, charger: ChargerId, mut booted: oneshot::Receiver<()>) {
    let trigger = ChargerCommand::Trigger {
        message: TriggerKind::StatusNotification,
        connector_id: None,
    };
    if let Err(e) = gateway.send(&charger, trigger).await {
        tracing::debug!(error = %e, "could not trigger status notifications");
    }
    if booted.try_recv().is_ok() {
        return;
    }
    gateway.notify_ready(&charger);
}

/// After a boot: read the configuration, then set the meter sample interval and the measurands
/// Coupler uses, falling back to the essential ones when the charger refuses the full list.
pub(crate) async fn after_boot(gateway: Gateway, charger: ChargerId) {
    let config = gateway.inner.config.clone();
    let keys = match gateway
        .send(&charger, ChargerCommand::GetConfiguration { keys: Vec::new() })
        .await
    {
        Ok(CommandReply::Configuration { entries, .. }) => entries,
        Ok(_) => Vec::new(),
        Err(e) => {
            tracing::info!(error = %e, "could not read the charger's configuration");
            Vec::new()
        }
    };
    crate::capabilities::learn_16(&gateway, &charger, &keys).await;
    let value_of = |key: &str| {
        keys.iter()
            .find(|e| e.key.eq_ignore_ascii_case(key))
            .and_then(|e| e.value.clone())
    };
    // What the charger took is stored with the configuration it reported, in one write.
    let mut changed: Vec<(&str, String)> = Vec::new();
    let interval = config.meter_sample_interval.as_secs().to_string();
    if value_of("MeterValueSampleInterval").as_deref() != Some(interval.as_str())
        && change_unrecorded(&gateway, &charger, "MeterValueSampleInterval", &interval).await
    {
        changed.push(("MeterValueSampleInterval", interval));
    }
    let wanted = config.measurands.join(",");
    if value_of("MeterValuesSampledData").as_deref() != Some(wanted.as_str()) {
        let essential = "Energy.Active.Import.Register,Power.Active.Import,Current.Import";
        if change_unrecorded(&gateway, &charger, "MeterValuesSampledData", &wanted).await {
            changed.push(("MeterValuesSampledData", wanted));
        } else if change_unrecorded(&gateway, &charger, "MeterValuesSampledData", essential).await {
            changed.push(("MeterValuesSampledData", essential.to_owned()));
        }
    }
    let mut configuration = keys;
    for (key, value) in changed {
        match configuration.iter_mut().find(|e| e.key.eq_ignore_ascii_case(key)) {
            Some(entry) => entry.value = Some(value),
            None => configuration.push(ConfigurationEntry {
                key: key.to_owned(),
                value: Some(value),
                readonly: false,
            }),
        }
    }
    crate::capabilities::record_configuration(&gateway, &charger, &configuration).await;
    // A reboot dropped whatever limits the charger did not keep: the keeper puts them back.
    gateway.notify_ready(&charger);
}

#[cfg(test)]
mod tests {
    use coupler_core::control::LimitPeriod;
    use coupler_ocpp::v16::{Measurand, SampledValue, UnitOfMeasure};

    use super::*;

    fn sampled(value: &str, measurand: Option<Measurand>, unit: Option<UnitOfMeasure>) -> SampledValue {
        SampledValue {
            value: value.into(),
            context: None,
            format: None,
            measurand,
            phase: None,
            location: None,
            unit,
        }
    }

    #[test]
    fn meter_values_become_samples_in_normalised_units() {
        let values = [MeterValue {
            timestamp: chrono::Utc::now(),
            sampled_value: vec![
                sampled("12.5", None, Some(UnitOfMeasure::Kwh)),
                sampled("7.2", Some(Measurand::PowerActiveImport), Some(UnitOfMeasure::Kw)),
                sampled("not-a-number", Some(Measurand::CurrentImport), Some(UnitOfMeasure::A)),
            ],
        }];
        let samples = samples_of(&values);
        assert_eq!(samples.len(), 2, "an unreadable value is left out");
        assert_eq!(
            (
                samples[0].measurand.as_str(),
                samples[0].value,
                samples[0].unit.as_str()
            ),
            ("Energy.Active.Import.Register", 12_500.0, "Wh")
        );
        assert_eq!((samples[1].value, samples[1].unit.as_str()), (7200.0, "W"));
    }

    #[test]
    fn every_command_becomes_a_valid_16_call() {
        let limit = ChargingLimit::constant(100, LimitPurpose::Transaction, 1, RateUnit::Amperes, 16.04);
        let commands = [
            ChargerCommand::RemoteStart {
                connector_id: Some(1),
                id_tag: "COUPLER".into(),
                limit: Some(limit.clone()),
            },
            ChargerCommand::RemoteStop { transaction_id: 42 },
            ChargerCommand::SetLimit {
                connector_id: 1,
                limit: ChargingLimit {
                    transaction_id: Some(42),
                    ..limit.clone()
                },
            },
            ChargerCommand::ClearLimit {
                profile_id: Some(100),
                connector_id: None,
                purpose: Some(LimitPurpose::TransactionDefault),
                stack_level: None,
            },
            ChargerCommand::GetCompositeSchedule {
                connector_id: 1,
                duration_s: 60,
                unit: Some(RateUnit::Amperes),
            },
            ChargerCommand::ChangeConfiguration {
                key: "MeterValueSampleInterval".into(),
                value: "60".into(),
            },
            ChargerCommand::GetConfiguration { keys: vec![] },
            ChargerCommand::Trigger {
                message: TriggerKind::StatusNotification,
                connector_id: Some(1),
            },
            ChargerCommand::Reset {
                kind: ResetKind::Soft,
                evse_id: None,
            },
            ChargerCommand::ChangeAvailability {
                connector_id: 0,
                evse_connector_id: None,
                operative: true,
            },
            ChargerCommand::UnlockConnector {
                connector_id: 1,
                evse_connector_id: None,
            },
            ChargerCommand::ClearCache,
            ChargerCommand::DataTransfer {
                vendor_id: "com.example".into(),
                message_id: Some("ping".into()),
                data: Some(Value::String("{}".into())),
            },
            ChargerCommand::UpdateFirmware {
                location: "https://fw.example/1.bin".into(),
                retrieve_at: chrono::Utc::now(),
                install_at: None,
                retries: Some(2),
                retry_interval_s: Some(60),
                request_id: 1,
                signing_certificate: None,
                signature: None,
            },
            ChargerCommand::GetDiagnostics {
                location: "ftp://logs.example/".into(),
                log: None,
                from: None,
                to: None,
                retries: None,
                retry_interval_s: None,
                request_id: 2,
            },
            ChargerCommand::ReserveNow {
                reservation_id: 3,
                connector_id: 1,
                id_tag: "RFID-1".into(),
                id_token_type: None,
                parent_id_tag: Some("FLEET".into()),
                group_id_tag: None,
                connector_type: None,
                expires_at: chrono::Utc::now(),
            },
            ChargerCommand::CancelReservation { reservation_id: 3 },
            ChargerCommand::SendLocalList {
                version: 4,
                full: false,
                changes: vec![
                    LocalListChange::Put(coupler_core::authorisation::LocalListEntry {
                        value: "00:1a:2b:3c:4d:5e".into(),
                        kind: IdTokenKind::MacAddress,
                        status: IdTokenStatus::Blocked,
                        expires_at: Some(chrono::Utc::now()),
                        group_id: Some("FAMILY".into()),
                    }),
                    LocalListChange::Remove {
                        value: "04A2B3C4".into(),
                        kind: IdTokenKind::Rfid,
                    },
                ],
            },
            ChargerCommand::SendLocalList {
                version: 1,
                full: true,
                changes: Vec::new(),
            },
            ChargerCommand::GetLocalListVersion,
            ChargerCommand::ExtendedTrigger {
                message: TriggerKind::Heartbeat,
                connector_id: None,
            },
            ChargerCommand::Trigger {
                message: TriggerKind::SignChargePointCertificate,
                connector_id: None,
            },
            ChargerCommand::GetDiagnostics {
                location: "https://logs.example/".into(),
                log: Some(LogKind::Security),
                from: None,
                to: None,
                retries: Some(1),
                retry_interval_s: None,
                request_id: 5,
            },
            ChargerCommand::UpdateFirmware {
                location: "https://fw.example/2.bin".into(),
                retrieve_at: chrono::Utc::now(),
                install_at: Some(chrono::Utc::now()),
                retries: None,
                retry_interval_s: None,
                request_id: 6,
                signing_certificate: Some("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".into()),
                signature: Some("c2ln".into()),
            },
            ChargerCommand::InstallCertificate {
                kind: InstalledCertificateKind::CsmsRoot,
                certificate: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".into(),
            },
            ChargerCommand::GetInstalledCertificateIds {
                kinds: vec![InstalledCertificateKind::ManufacturerRoot],
            },
            ChargerCommand::DeleteCertificate {
                hash: CertificateHash {
                    algorithm: HashAlgorithm::Sha256,
                    issuer_name_hash: "a".repeat(64),
                    issuer_key_hash: "b".repeat(64),
                    serial_number: "1f".into(),
                },
            },
        ];
        for command in commands {
            let request = encode_command(&command, &GatewayConfig::default()).unwrap();
            assert_eq!(
                request.action().as_str(),
                command.ocpp_action(OcppProtocol::V16),
                "{}",
                command.name()
            );
            request
                .to_call("1")
                .unwrap_or_else(|e| panic!("{} is not valid 1.6: {e}", command.name()));
        }
    }

    #[test]
    fn options_of_2_0_1_are_refused_on_1_6_before_sending() {
        let refused = [
            ChargerCommand::Reset {
                kind: ResetKind::Hard,
                evse_id: Some(1),
            },
            ChargerCommand::Trigger {
                message: TriggerKind::TransactionEvent,
                connector_id: None,
            },
            ChargerCommand::GetBaseReport {
                request_id: 1,
                report: coupler_core::control::ReportKind::FullInventory,
            },
            ChargerCommand::DataTransfer {
                vendor_id: "v".into(),
                message_id: None,
                data: Some(serde_json::json!({"not": "text"})),
            },
            ChargerCommand::ExtendedTrigger {
                message: TriggerKind::DiagnosticsStatusNotification,
                connector_id: None,
            },
            ChargerCommand::InstallCertificate {
                kind: InstalledCertificateKind::V2gRoot,
                certificate: "pem".into(),
            },
            ChargerCommand::GetInstalledCertificateIds { kinds: Vec::new() },
            ChargerCommand::UpdateFirmware {
                location: "https://fw.example/2.bin".into(),
                retrieve_at: chrono::Utc::now(),
                install_at: None,
                retries: None,
                retry_interval_s: None,
                request_id: 6,
                signing_certificate: Some("pem".into()),
                signature: None,
            },
        ];
        for command in refused {
            assert!(
                matches!(
                    encode_command(&command, &GatewayConfig::default()),
                    Err(ControlError::Unsupported(_))
                ),
                "{command:?}"
            );
        }
    }

    #[test]
    fn a_command_that_1_6_cannot_carry_is_refused_before_sending() {
        let too_long = ChargerCommand::RemoteStart {
            connector_id: None,
            id_tag: "x".repeat(21),
            limit: None,
        };
        assert!(matches!(
            encode_command(&too_long, &GatewayConfig::default()),
            Err(ControlError::Unsupported(_))
        ));
        let huge = ChargerCommand::RemoteStop {
            transaction_id: i64::from(i32::MAX) + 1,
        };
        assert!(matches!(
            encode_command(&huge, &GatewayConfig::default()),
            Err(ControlError::Unsupported(_))
        ));
    }

    #[test]
    fn replies_are_read_into_version_neutral_answers() {
        let accepted = decode_reply("RemoteStartTransaction", &serde_json::json!({"status": "Accepted"})).unwrap();
        assert!(accepted.is_accepted());
        let schedule = decode_reply(
            "GetCompositeSchedule",
            &serde_json::json!({"status": "Accepted", "connectorId": 1, "chargingSchedule": {
                "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}]}}),
        )
        .unwrap();
        assert_eq!(
            schedule,
            CommandReply::CompositeSchedule {
                accepted: true,
                unit: Some(RateUnit::Amperes),
                periods: vec![LimitPeriod {
                    start_offset_s: 0,
                    limit: 10.0,
                    phases: None
                }]
            }
        );
        assert!(matches!(
            decode_reply("Reset", &serde_json::json!({"status": "Maybe"})),
            Err(ControlError::InvalidReply(_))
        ));
    }
}
