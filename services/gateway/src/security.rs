//! What the OCPP 1.6 security extension and 2.0.1 share: security events stored and published,
//! and certificate signing (SignCertificate answered, then the signed certificate delivered by a
//! CertificateSigned of Coupler's own, kept as an operation of the charger).

use chrono::{DateTime, Utc};
use coupler_core::control::{ChargerCommand, ChargerControl};
use coupler_core::operation::{FailureKind, Operation, OperationKind};
use coupler_core::security::{CertificateUse, IssuedCertificate, IssuedCertificateId, SecurityEvent, SecurityEventId};
use coupler_core::{ChargerId, StoreError};
use rcgen::CertificateSigningRequestParams;
use tracing::Instrument;

use crate::certificates::CsrRefusal;
use crate::Gateway;

/// How many times an operation's change is applied again when it changed under it.
const SAVE_TRIES: usize = 5;

/// Stores a security event the charger reported (and the event that publishes it).
pub(crate) async fn record_security_event(
    gateway: &Gateway,
    charger: &ChargerId,
    kind: &str,
    occurred_at: DateTime<Utc>,
    tech_info: Option<&str>,
) -> Result<(), StoreError> {
    let now = gateway.inner.clock.now();
    let Some(record) = gateway.inner.store.charger(charger).await? else {
        // Deleted while connected: its session is about to close; there is no one to tell.
        return Ok(());
    };
    let event = SecurityEvent {
        id: SecurityEventId::generate(),
        client_id: record.client_id,
        charger_id: charger.clone(),
        kind: kind.to_owned(),
        occurred_at,
        tech_info: tech_info.map(str::to_owned),
        received_at: now,
    };
    gateway.inner.store.record_security_event(&event).await?;
    tracing::warn!(kind, tech_info, security_event_id = %event.id, "security event");
    gateway.inner.store.record_seen(charger, now).await?;
    Ok(())
}

/// How Coupler answers a SignCertificate.
pub(crate) enum SignDecision {
    /// The request will be signed; the certificate follows in a CertificateSigned.
    Accept(Box<CertificateSigningRequestParams>),
    /// Refused, with OCPP 2.0.1's reason code and a sentence.
    Reject {
        /// `statusInfo.reasonCode`.
        reason: &'static str,
        /// `statusInfo.additionalInfo`.
        detail: String,
    },
}

/// Decides the answer to a SignCertificate from `charger` carrying `csr`.
pub(crate) async fn decide_signing(
    gateway: &Gateway,
    charger: &ChargerId,
    csr: &str,
) -> Result<SignDecision, StoreError> {
    let Some(ca) = gateway.inner.config.signing_ca.as_ref() else {
        tracing::info!("a charger asked for a certificate; no signing CA is configured");
        return Ok(SignDecision::Reject {
            reason: "NotEnabled",
            detail: "Coupler has no CA configured to sign certificates with".to_owned(),
        });
    };
    let Some(record) = gateway.inner.store.charger(charger).await? else {
        return Ok(SignDecision::Reject {
            reason: "UnknownStation",
            detail: "the charger is not registered".to_owned(),
        });
    };
    Ok(match ca.check(csr, record.ocpp_id.as_str()) {
        Ok(request) => SignDecision::Accept(Box::new(request)),
        Err(refusal) => {
            tracing::info!(error = %refusal, "refused a certificate signing request");
            SignDecision::Reject {
                reason: match refusal {
                    CsrRefusal::Invalid => "InvalidCSR",
                    CsrRefusal::WrongSubject { .. } => "InvalidSubject",
                },
                detail: refusal.to_string(),
            }
        }
    })
}

/// After an accepted SignCertificate has been answered: signs the request, keeps the certificate
/// on record, and sends it to the charger in a CertificateSigned kept as an operation.
pub(crate) fn deliver_certificate(
    gateway: &Gateway,
    charger: &ChargerId,
    request: CertificateSigningRequestParams,
    usage: CertificateUse,
) {
    let gateway_clone = gateway.clone();
    let charger = charger.clone();
    let span = tracing::info_span!("certificate signing", charger_id = %charger, usage = usage.as_str());
    gateway.inner.tasks.spawn(
        "ocpp certificate signing",
        async move {
            if let Err(e) = sign_and_send(&gateway_clone, &charger, request, usage).await {
                tracing::warn!(error = %e, "cannot record the certificate delivery");
            }
        }
        .instrument(span),
    );
}

async fn sign_and_send(
    gateway: &Gateway,
    charger: &ChargerId,
    request: CertificateSigningRequestParams,
    usage: CertificateUse,
) -> Result<(), StoreError> {
    let store = &gateway.inner.store;
    let Some(ca) = gateway.inner.config.signing_ca.clone() else {
        return Ok(());
    };
    let Some(record) = store.charger(charger).await? else {
        return Ok(());
    };
    let now = gateway.inner.clock.now();
    let signed = match ca.sign(request, usage, now) {
        Ok(signed) => signed,
        Err(e) => {
            tracing::error!(error = %e, "cannot sign an accepted certificate signing request");
            return Ok(());
        }
    };
    let mut operation = Operation::requested(
        record.client_id.clone(),
        charger.clone(),
        OperationKind::CertificateSigned,
        serde_json::json!({
            "certificateType": usage.as_str(),
            "serialNumber": signed.serial_number,
            "subject": signed.subject,
            "notAfter": signed.not_after,
        }),
        now,
    );
    // This node sends it, on the connection it holds.
    operation.node = Some(gateway.node().clone());
    let operation = store.insert_operation(&operation, None).await?;
    store
        .record_issued_certificate(&IssuedCertificate {
            id: IssuedCertificateId::generate(),
            client_id: record.client_id.clone(),
            charger_id: charger.clone(),
            usage,
            serial_number: signed.serial_number.clone(),
            subject: signed.subject.clone(),
            not_before: signed.not_before,
            not_after: signed.not_after,
            operation_id: Some(operation.id.clone()),
            issued_at: now,
        })
        .await?;
    tracing::info!(
        serial_number = %signed.serial_number,
        subject = %signed.subject,
        not_after = %signed.not_after,
        operation_id = %operation.id,
        "certificate signed"
    );
    let command = ChargerCommand::CertificateSigned {
        chain: signed.chain_pem,
        usage,
    };
    if !gateway.is_connected(charger) {
        change_operation(gateway, &operation, |op| {
            op.fail(
                FailureKind::NotConnected,
                "the charger disconnected before its certificate could be sent",
                now,
            );
        })
        .await?;
        return Ok(());
    }
    let action = record.ocpp_version.map_or(command.name(), |p| command.ocpp_action(p));
    let sent_at = gateway.inner.clock.now();
    let Some(operation) = change_operation(gateway, &operation, |op| op.mark_sent(action, sent_at)).await? else {
        return Ok(());
    };
    let answer = gateway.send(charger, command).await;
    let at = gateway.inner.clock.now();
    if let Some(answered) = change_operation(gateway, &operation, |op| op.apply_answer(&answer, at)).await? {
        tracing::info!(
            operation_id = %answered.id,
            status = answered.status.as_str(),
            "certificate delivered"
        );
    }
    Ok(())
}

/// Applies `change` to the stored operation and saves it over the revision it read.
async fn change_operation(
    gateway: &Gateway,
    operation: &Operation,
    mut change: impl FnMut(&mut Operation),
) -> Result<Option<Operation>, StoreError> {
    let store = &gateway.inner.store;
    for _ in 0..SAVE_TRIES {
        let Some(mut current) = store.operation(&operation.id).await? else {
            return Ok(None);
        };
        change(&mut current);
        if store.save_operation(&current).await? {
            current.revision += 1;
            return Ok(Some(current));
        }
    }
    Err(StoreError::Conflict(format!(
        "operation {} kept changing",
        operation.id
    )))
}
