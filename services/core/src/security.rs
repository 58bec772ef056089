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

use crate::charger::{ChargerId, OcppProtocol};
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

/// A kind of certificate a charger keeps beside its own: the roots an operator installs
/// (InstallCertificate), asks about (GetInstalledCertificateIds) and deletes (DeleteCertificate).
/// OCPP 1.6's security extension knows the first two; 2.0.1 all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InstalledCertificateKind {
    /// The root Coupler's TLS server certificate chains up to (1.6 `CentralSystemRootCertificate`,
    /// 2.0.1 `CSMSRootCertificate`).
    CsmsRoot,
    /// The root firmware is signed under (`ManufacturerRootCertificate`).
    ManufacturerRoot,
    /// 2.0.1: an ISO 15118 V2G root (`V2GRootCertificate`).
    V2gRoot,
    /// 2.0.1: a mobility operator root (`MORootCertificate`).
    MoRoot,
    /// 2.0.1: the station's V2G certificate chain (`V2GCertificateChain`); listed, never installed
    /// this way.
    V2gChain,
}

impl InstalledCertificateKind {
    /// Every kind.
    pub const ALL: [Self; 5] = [
        Self::CsmsRoot,
        Self::ManufacturerRoot,
        Self::V2gRoot,
        Self::MoRoot,
        Self::V2gChain,
    ];

    /// Its OCPP name in `protocol` (`None` when that version lacks it).
    pub fn ocpp_name(self, protocol: OcppProtocol) -> Option<&'static str> {
        let v16 = protocol == OcppProtocol::V16;
        Some(match self {
            Self::CsmsRoot if v16 => "CentralSystemRootCertificate",
            Self::CsmsRoot => "CSMSRootCertificate",
            Self::ManufacturerRoot => "ManufacturerRootCertificate",
            _ if v16 => return None,
            Self::V2gRoot => "V2GRootCertificate",
            Self::MoRoot => "MORootCertificate",
            Self::V2gChain => "V2GCertificateChain",
        })
    }

    /// Reads an OCPP name of either version.
    pub fn parse(raw: &str) -> Option<Self> {
        if raw == "CentralSystemRootCertificate" {
            return Some(Self::CsmsRoot);
        }
        Self::ALL
            .into_iter()
            .find(|k| k.ocpp_name(OcppProtocol::V201) == Some(raw))
    }

    /// Whether InstallCertificate can install it (a V2G chain is the station's own, signed
    /// through SignCertificate).
    pub fn is_installable(self) -> bool {
        self != Self::V2gChain
    }
}

/// The hash algorithm of certificate hash data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HashAlgorithm {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlgorithm {
    /// OCPP's name (`SHA256`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA256",
            Self::Sha384 => "SHA384",
            Self::Sha512 => "SHA512",
        }
    }

    /// Reads [`HashAlgorithm::as_str`].
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Sha256, Self::Sha384, Self::Sha512]
            .into_iter()
            .find(|a| a.as_str() == raw)
    }
}

/// Names one certificate a charger keeps, as OCPP does (`CertificateHashDataType`): hashes of
/// its issuer's name and key, and its serial number, all hexadecimal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CertificateHash {
    /// The algorithm of both hashes.
    pub algorithm: HashAlgorithm,
    /// Hash of the issuer's distinguished name (DER).
    pub issuer_name_hash: String,
    /// Hash of the issuer's public key.
    pub issuer_key_hash: String,
    /// The certificate's serial number.
    pub serial_number: String,
}

/// Why certificate hash data is not well formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateHashError {
    /// A hash is empty, not hexadecimal, or over 128 digits.
    #[error("{field} must be 1 to 128 hexadecimal digits")]
    Hash {
        /// The field (`issuerNameHash`, `issuerKeyHash`).
        field: &'static str,
    },
    /// The serial number is empty, not hexadecimal, or over 40 digits.
    #[error("serialNumber must be 1 to 40 hexadecimal digits")]
    SerialNumber,
}

impl CertificateHash {
    /// Checks the hashes are 1 to 128 hexadecimal digits and the serial number 1 to 40, as OCPP
    /// writes them; the first field that is not is named. A hash's length is not held to its
    /// algorithm's: a charger is answered with the hash data it reported, however it wrote it.
    pub fn check(&self) -> Result<(), CertificateHashError> {
        let hex = |text: &str, max: usize| {
            !text.is_empty() && text.len() <= max && text.chars().all(|c| c.is_ascii_hexdigit())
        };
        for (field, hash) in [
            ("issuerNameHash", &self.issuer_name_hash),
            ("issuerKeyHash", &self.issuer_key_hash),
        ] {
            if !hex(hash, 128) {
                return Err(CertificateHashError::Hash { field });
            }
        }
        if !hex(&self.serial_number, 40) {
            return Err(CertificateHashError::SerialNumber);
        }
        Ok(())
    }

    /// As OCPP writes it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "hashAlgorithm": self.algorithm.as_str(),
            "issuerNameHash": self.issuer_name_hash,
            "issuerKeyHash": self.issuer_key_hash,
            "serialNumber": self.serial_number,
        })
    }
}

/// One certificate a charger reported it keeps (GetInstalledCertificateIds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledCertificate {
    /// Its kind in OCPP's words (`CSMSRootCertificate`, `CentralSystemRootCertificate`, ...):
    /// as the 2.0.1 station named it, or the kind a 1.6 charger was asked for.
    pub kind: String,
    /// Its hash data.
    pub hash: CertificateHash,
    /// 2.0.1: the sub-CA certificates below it.
    pub children: Vec<CertificateHash>,
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

#[cfg(test)]
mod certificate_tests {
    use super::*;

    fn hash(name: &str, serial: &str) -> CertificateHash {
        CertificateHash {
            algorithm: HashAlgorithm::Sha384,
            issuer_name_hash: name.into(),
            issuer_key_hash: "eeff0011".repeat(8),
            serial_number: serial.into(),
        }
    }

    #[test]
    fn hash_data_is_hexadecimal_within_ocpp_lengths_whatever_its_algorithm() {
        assert_eq!(hash(&"aabbccdd".repeat(8), "01020304").check(), Ok(()));
        assert_eq!(
            hash("not-hex", "01").check(),
            Err(CertificateHashError::Hash {
                field: "issuerNameHash"
            })
        );
        assert_eq!(
            hash(&"a".repeat(129), "01").check(),
            Err(CertificateHashError::Hash {
                field: "issuerNameHash"
            })
        );
        assert_eq!(hash("aa", "").check(), Err(CertificateHashError::SerialNumber));
        assert_eq!(
            hash("aa", &"1".repeat(41)).check(),
            Err(CertificateHashError::SerialNumber)
        );
    }

    #[test]
    fn certificate_kinds_read_back_in_each_versions_words() {
        assert_eq!(
            InstalledCertificateKind::parse("CentralSystemRootCertificate"),
            Some(InstalledCertificateKind::CsmsRoot)
        );
        assert_eq!(
            InstalledCertificateKind::CsmsRoot.ocpp_name(OcppProtocol::V201),
            Some("CSMSRootCertificate")
        );
        assert_eq!(InstalledCertificateKind::MoRoot.ocpp_name(OcppProtocol::V16), None);
        for kind in InstalledCertificateKind::ALL {
            let name = kind.ocpp_name(OcppProtocol::V201).unwrap_or_default();
            assert_eq!(InstalledCertificateKind::parse(name), Some(kind));
        }
        assert!(!InstalledCertificateKind::V2gChain.is_installable());
    }
}
