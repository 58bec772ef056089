//! Charger security: the security events chargers reported (OCPP 1.6 security extension and
//! 2.0.1 `SecurityEventNotification`), and the certificates Coupler signed for them
//! (`SignCertificate`, delivered by a `CertificateSigned` operation).

use axum::extract::State;
use chrono::{DateTime, Utc};
use coupler_core::security::{CertificateUse, IssuedCertificate, SecurityEvent};
use coupler_core::ChargerId;
use serde::Serialize;
use utoipa::ToSchema;

use super::users::{PageQuery, Pagination};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::state::AppState;

/// A security event a charger reported.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecurityEventResponse {
    /// Its id.
    pub id: String,
    /// The charger that reported it.
    pub charger_id: String,
    /// The kind of event as the charger sent it (`FirmwareUpdated`, `TamperDetectionActivated`,
    /// `InvalidCsmsCertificate`, ... or a vendor's own).
    #[serde(rename = "type")]
    pub kind: String,
    /// When it happened, by the charger's clock.
    pub timestamp: DateTime<Utc>,
    /// Technical detail, as the charger sent it.
    pub tech_info: Option<String>,
    /// When Coupler received it.
    pub received_at: DateTime<Utc>,
}

impl From<&SecurityEvent> for SecurityEventResponse {
    fn from(event: &SecurityEvent) -> Self {
        Self {
            id: event.id.as_str().to_owned(),
            charger_id: event.charger_id.as_str().to_owned(),
            kind: event.kind.clone(),
            timestamp: event.occurred_at,
            tech_info: event.tech_info.clone(),
            received_at: event.received_at,
        }
    }
}

/// A page of a charger's security events, newest received first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecurityEventPage {
    /// The events.
    pub data: Vec<SecurityEventResponse>,
    /// Cursors to the neighbouring pages.
    pub pagination: Pagination,
}

/// A certificate Coupler signed for a charger.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssuedCertificateResponse {
    /// Its id.
    pub id: String,
    /// The charger it was issued to.
    pub charger_id: String,
    /// `CHARGING_STATION` (the charger's TLS client certificate towards Coupler) or `V2G` (its
    /// ISO 15118 certificate towards vehicles).
    pub certificate_type: CertificateUse,
    /// The serial number, lower-case hex.
    pub serial_number: String,
    /// The subject (`CN=<identity>,...`).
    pub subject: String,
    /// When it starts to be valid.
    pub not_before: DateTime<Utc>,
    /// When it stops being valid.
    pub not_after: DateTime<Utc>,
    /// The CertificateSigned operation that delivered it (see the charger's operations).
    pub operation_id: Option<String>,
    /// When Coupler signed it.
    pub issued_at: DateTime<Utc>,
}

impl From<&IssuedCertificate> for IssuedCertificateResponse {
    fn from(certificate: &IssuedCertificate) -> Self {
        Self {
            id: certificate.id.as_str().to_owned(),
            charger_id: certificate.charger_id.as_str().to_owned(),
            certificate_type: certificate.usage,
            serial_number: certificate.serial_number.clone(),
            subject: certificate.subject.clone(),
            not_before: certificate.not_before,
            not_after: certificate.not_after,
            operation_id: certificate.operation_id.as_ref().map(|id| id.as_str().to_owned()),
            issued_at: certificate.issued_at,
        }
    }
}

/// A page of the certificates issued to a charger, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedCertificatePage {
    /// The certificates.
    pub data: Vec<IssuedCertificateResponse>,
    /// Cursors to the neighbouring pages.
    pub pagination: Pagination,
}

/// Lists the security events a charger reported, newest received first. Each is also published
/// as a `user:charger:security-event` event (webhooks and `GET /events`).
#[utoipa::path(
    get,
    path = "/chargers/{chargerId}/security-events",
    tag = "charger-security",
    params(("chargerId" = String, Path, description = "The charger's id"), PageQuery),
    responses(
        (status = 200, description = "A page of security events", body = SecurityEventPage),
        (status = 404, description = "The client has no such charger", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn list_security_events(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<ApiJson<SecurityEventPage>, ApiError> {
    let charger = ChargerId::new(id);
    let page = state
        .store
        .list_security_events(&caller.client_id, &charger, &query.parse()?)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no charger '{charger}'")))?;
    Ok(ApiJson(SecurityEventPage {
        data: page.items.iter().map(SecurityEventResponse::from).collect(),
        pagination: Pagination {
            after: page.after.map(|k| k.encode()),
            before: page.before.map(|k| k.encode()),
        },
    }))
}

/// Lists the certificates Coupler signed for a charger (after its SignCertificate), newest first.
#[utoipa::path(
    get,
    path = "/chargers/{chargerId}/certificates",
    tag = "charger-security",
    params(("chargerId" = String, Path, description = "The charger's id"), PageQuery),
    responses(
        (status = 200, description = "A page of issued certificates", body = IssuedCertificatePage),
        (status = 404, description = "The client has no such charger", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn list_certificates(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<ApiJson<IssuedCertificatePage>, ApiError> {
    let charger = ChargerId::new(id);
    let page = state
        .store
        .list_issued_certificates(&caller.client_id, &charger, &query.parse()?)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no charger '{charger}'")))?;
    Ok(ApiJson(IssuedCertificatePage {
        data: page.items.iter().map(IssuedCertificateResponse::from).collect(),
        pagination: Pagination {
            after: page.after.map(|k| k.encode()),
            before: page.before.map(|k| k.encode()),
        },
    }))
}
