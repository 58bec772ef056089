//! Charger security: the security events chargers report, the certificates Coupler issues them,
//! and what a TLS connection tells about the peer.
//!
//! A security event (OCPP 1.6 security extension and 2.0.1 `SecurityEventNotification`) is kept
//! as the charger sent it, beside when Coupler received it, and published as a
//! `user:charger:security-event` event. A certificate Coupler signs for a charger
//! (`SignCertificate`, then `CertificateSigned`) is kept by serial number and validity, so an
//! operator can see what was issued and when it runs out.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::charger::ChargerId;
use crate::client::ClientId;
use crate::operation::OperationId;

crate::id::time_ordered_id!(
    /// A security event's identifier.
    SecurityEventId
);

crate::id::time_ordered_id!(
    /// An issued certificate's identifier.
    IssuedCertificateId
);

/// A security event a charger reported.
#[derive(Debug, Clone, PartialEq)]
pub struct SecurityEvent {
    /// Identifier.
    pub id: SecurityEventId,
    /// The API client whose charger it is (taken from the charger when stored).
    pub client_id: ClientId,
    /// The charger.
    pub charger_id: ChargerId,
    /// The kind of event as sent (`FirmwareUpdated`, `TamperDetectionActivated`, ...). OCPP
    /// lists the kinds it knows, but a charger may send its own, so it is kept as text.
    pub kind: String,
    /// When it happened, by the charger's clock.
    pub occurred_at: DateTime<Utc>,
    /// Technical detail, as sent.
    pub tech_info: Option<String>,
    /// When Coupler received it.
    pub received_at: DateTime<Utc>,
}

/// Which of a charger's certificates a signing request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CertificateUse {
    /// The certificate the charger presents to Coupler (security profile 3).
    ChargingStation,
    /// The certificate the charger presents to vehicles (ISO 15118).
    V2g,
}

impl CertificateUse {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ChargingStation => "CHARGING_STATION",
            Self::V2g => "V2G",
        }
    }

    /// Reads [`CertificateUse::as_str`].
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::ChargingStation, Self::V2g]
            .into_iter()
            .find(|u| u.as_str() == raw)
    }

    /// OCPP's name (`ChargingStationCertificate`, `V2GCertificate`).
    pub fn ocpp_name(self) -> &'static str {
        match self {
            Self::ChargingStation => "ChargingStationCertificate",
            Self::V2g => "V2GCertificate",
        }
    }
}

/// A certificate Coupler signed for a charger.
#[derive(Debug, Clone, PartialEq)]
pub struct IssuedCertificate {
    /// Identifier.
    pub id: IssuedCertificateId,
    /// The API client whose charger it is (taken from the charger when stored).
    pub client_id: ClientId,
    /// The charger.
    pub charger_id: ChargerId,
    /// What it is for.
    pub usage: CertificateUse,
    /// The serial number, in lower-case hex.
    pub serial_number: String,
    /// The subject, as a distinguished name (`CN=CP1,O=Operator`).
    pub subject: String,
    /// When it starts to be valid.
    pub not_before: DateTime<Utc>,
    /// When it stops being valid.
    pub not_after: DateTime<Utc>,
    /// The CertificateSigned operation that delivered it.
    pub operation_id: Option<OperationId>,
    /// When Coupler signed it.
    pub issued_at: DateTime<Utc>,
}

/// What a TLS connection served by Coupler itself says about its peer, put on each request of
/// the connection. Present only on connections that came over TLS.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsPeer {
    /// The end-entity certificate the peer presented (DER), already verified against the
    /// configured client CA; `None` when it presented none.
    pub client_certificate: Option<Vec<u8>>,
}
