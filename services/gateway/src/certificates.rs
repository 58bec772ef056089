//! The CA Coupler signs chargers' certificates with (OCPP 1.6 security extension and 2.0.1
//! `SignCertificate`), and what it checks in a certificate signing request.
//!
//! A charger sends a PKCS#10 request for its own key. Coupler signs it only when the request's
//! signature holds (it was made with the key it names) and its subject's common name is the
//! identity the charger is connected as, so a charger cannot obtain a certificate in another's
//! name. What Coupler issues is never a CA, lives as long as configured, and carries the key
//! usages a TLS client (the charger towards Coupler) or a TLS server (the charger towards an EV,
//! ISO 15118) needs; subject alternative names the request asks for are not copied.
//!
//! The CA's private key comes only from the file the settings name and is never logged: this
//! type's `Debug` shows the CA's subject alone.

use chrono::{DateTime, Duration, Utc};
use coupler_core::security::CertificateUse;
use rcgen::{
    CertificateSigningRequestParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PublicKeyData,
    SerialNumber,
};
use x509_parser::prelude::{FromDer, X509Certificate};

/// Why a CA cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// The certificate is not a PEM X.509 certificate.
    #[error("the CA certificate cannot be read: {0}")]
    Certificate(String),
    /// The key is not a PEM private key rcgen can sign with.
    #[error("the CA private key cannot be read (PKCS#8 PEM, ECDSA P-256/P-384 or Ed25519 expected)")]
    Key,
    /// The key is not the certificate's.
    #[error("the CA private key does not belong to the CA certificate")]
    Mismatch,
}

/// Why a signing request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsrRefusal {
    /// Not a PEM PKCS#10 request, its signature does not hold, or it asks for what Coupler does
    /// not issue (an extension it does not know).
    #[error("the certificate signing request cannot be read or its signature does not hold")]
    Invalid,
    /// Its subject names no common name, or another charger.
    #[error("the request's subject common name {found:?} is not the charger's identity {expected:?}")]
    WrongSubject {
        /// The identity the charger is connected as.
        expected: String,
        /// The common name the request names, if any.
        found: Option<String>,
    },
}

/// A certificate Coupler signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCertificate {
    /// The new certificate then the CA's chain, PEM: what CertificateSigned carries.
    pub chain_pem: String,
    /// The serial number, lower-case hex.
    pub serial_number: String,
    /// The subject, as a distinguished name.
    pub subject: String,
    /// When it starts to be valid.
    pub not_before: DateTime<Utc>,
    /// When it stops being valid.
    pub not_after: DateTime<Utc>,
}

/// The CA that signs chargers' certificates.
pub struct SigningCa {
    issuer: Issuer<'static, KeyPair>,
    /// The CA's certificate (and any chain above it), PEM, appended to what it issues.
    chain_pem: String,
    subject: String,
    validity: Duration,
}

impl std::fmt::Debug for SigningCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningCa")
            .field("subject", &self.subject)
            .field("validity", &self.validity)
            .finish_non_exhaustive()
    }
}

impl SigningCa {
    /// A CA from its certificate (PEM; further certificates after the first are its chain) and
    /// its private key (PEM), issuing certificates valid for `validity`.
    pub fn from_pem(certificate_pem: &str, key_pem: &str, validity: Duration) -> Result<Self, CaError> {
        let key = KeyPair::from_pem(key_pem).map_err(|_| CaError::Key)?;
        let first = pem_blocks(certificate_pem)
            .into_iter()
            .next()
            .ok_or_else(|| CaError::Certificate("no CERTIFICATE block".into()))?;
        let (_, parsed) = X509Certificate::from_der(&first).map_err(|e| CaError::Certificate(e.to_string()))?;
        if parsed.public_key().raw != key.subject_public_key_info().as_slice() {
            return Err(CaError::Mismatch);
        }
        let subject = parsed.subject().to_string();
        let issuer =
            Issuer::from_ca_cert_der(&first.clone().into(), key).map_err(|e| CaError::Certificate(e.to_string()))?;
        let mut chain_pem = certificate_pem.trim().to_owned();
        chain_pem.push('\n');
        Ok(Self {
            issuer,
            chain_pem,
            subject,
            validity,
        })
    }

    /// The CA's subject, for logs.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Reads a signing request and checks it is for `identity`, without signing anything: what
    /// decides the answer to SignCertificate.
    pub fn check(&self, csr_pem: &str, identity: &str) -> Result<CertificateSigningRequestParams, CsrRefusal> {
        let request = CertificateSigningRequestParams::from_pem(csr_pem).map_err(|_| CsrRefusal::Invalid)?;
        let der = pem_blocks(csr_pem).into_iter().next().ok_or(CsrRefusal::Invalid)?;
        let (_, parsed) = x509_parser::certification_request::X509CertificationRequest::from_der(&der)
            .map_err(|_| CsrRefusal::Invalid)?;
        let common_name = parsed
            .certification_request_info
            .subject
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_owned);
        if common_name.as_deref() != Some(identity) {
            return Err(CsrRefusal::WrongSubject {
                expected: identity.to_owned(),
                found: common_name,
            });
        }
        Ok(request)
    }

    /// Signs a request [`SigningCa::check`] accepted, for `usage`, valid from `now`.
    pub fn sign(
        &self,
        mut request: CertificateSigningRequestParams,
        usage: CertificateUse,
        now: DateTime<Utc>,
    ) -> Result<SignedCertificate, String> {
        let not_before = now;
        let not_after = now + self.validity;
        let serial: [u8; 16] = rand::random();
        // A positive, non-zero serial of 127 bits (RFC 5280 §4.1.2.2: at most 20 octets).
        let mut serial = serial;
        serial[0] = (serial[0] & 0x7f) | 0x01;
        let params = &mut request.params;
        params.is_ca = IsCa::ExplicitNoCa;
        params.not_before = to_offset(not_before)?;
        params.not_after = to_offset(not_after)?;
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        params.subject_alt_names.clear();
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyAgreement];
        params.extended_key_usages = vec![match usage {
            CertificateUse::ChargingStation => ExtendedKeyUsagePurpose::ClientAuth,
            CertificateUse::V2g => ExtendedKeyUsagePurpose::ServerAuth,
        }];
        params.use_authority_key_identifier_extension = true;
        let subject = {
            let der = request.params.distinguished_name.clone();
            der.iter()
                .filter_map(|(kind, value)| Some(format!("{}={}", dn_label(kind)?, dn_text(value)?)))
                .collect::<Vec<_>>()
                .join(",")
        };
        let certificate = request.signed_by(&self.issuer).map_err(|e| e.to_string())?;
        Ok(SignedCertificate {
            chain_pem: format!("{}{}", certificate.pem(), self.chain_pem),
            serial_number: hex::encode(serial),
            subject,
            // Certificates count whole seconds.
            not_before: truncate(not_before),
            not_after: truncate(not_after),
        })
    }
}

fn truncate(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(at.timestamp(), 0).unwrap_or(at)
}

fn to_offset(at: DateTime<Utc>) -> Result<time::OffsetDateTime, String> {
    time::OffsetDateTime::from_unix_timestamp(at.timestamp()).map_err(|e| e.to_string())
}

fn dn_label(kind: &rcgen::DnType) -> Option<&'static str> {
    Some(match kind {
        rcgen::DnType::CommonName => "CN",
        rcgen::DnType::OrganizationName => "O",
        rcgen::DnType::OrganizationalUnitName => "OU",
        rcgen::DnType::CountryName => "C",
        rcgen::DnType::LocalityName => "L",
        rcgen::DnType::StateOrProvinceName => "ST",
        _ => return None,
    })
}

fn dn_text(value: &rcgen::DnValue) -> Option<String> {
    Some(match value {
        rcgen::DnValue::Utf8String(text) => text.clone(),
        rcgen::DnValue::PrintableString(text) => text.as_str().to_owned(),
        rcgen::DnValue::Ia5String(text) => text.as_str().to_owned(),
        _ => return None,
    })
}

/// The DER contents of each PEM block in `text`.
fn pem_blocks(text: &str) -> Vec<Vec<u8>> {
    use base64::Engine;
    let mut blocks = Vec::new();
    let mut body: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with("-----BEGIN ") {
            body = Some(String::new());
        } else if line.starts_with("-----END ") {
            if let Some(b64) = body.take() {
                if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b64) {
                    blocks.push(der);
                }
            }
        } else if let Some(b64) = body.as_mut() {
            b64.push_str(line);
        }
    }
    blocks
}

/// The subject common name of a DER certificate, when it has one.
pub fn certificate_common_name(der: &[u8]) -> Option<String> {
    let (_, certificate) = X509Certificate::from_der(der).ok()?;
    let name = certificate
        .subject()
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_owned();
    Some(name)
}

#[cfg(test)]
mod tests {
    use rcgen::{BasicConstraints, CertificateParams, DnType};

    use super::*;

    fn ca() -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, "Coupler test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let certificate = params.self_signed(&key).unwrap();
        (certificate.pem(), key.serialize_pem())
    }

    fn csr(common_name: &str) -> String {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.distinguished_name.push(DnType::OrganizationName, "Operator");
        params.serialize_request(&key).unwrap().pem().unwrap()
    }

    #[test]
    fn a_request_for_the_chargers_own_identity_is_signed_as_a_client_certificate() {
        let (cert, key) = ca();
        let ca = SigningCa::from_pem(&cert, &key, Duration::days(365)).unwrap();
        let now = Utc::now();
        let request = ca.check(&csr("CP1"), "CP1").unwrap();
        let signed = ca.sign(request, CertificateUse::ChargingStation, now).unwrap();
        assert_eq!(signed.subject, "CN=CP1,O=Operator");
        assert_eq!(signed.not_after - signed.not_before, Duration::days(365));
        assert_eq!(pem_blocks(&signed.chain_pem).len(), 2, "leaf then CA");
        let leaf = &pem_blocks(&signed.chain_pem)[0];
        let (_, parsed) = X509Certificate::from_der(leaf).unwrap();
        assert!(!parsed.is_ca());
        assert_eq!(hex::encode(parsed.raw_serial()), signed.serial_number);
        assert_eq!(certificate_common_name(leaf).as_deref(), Some("CP1"));
    }

    #[test]
    fn a_request_for_another_identity_or_garbage_is_refused() {
        let (cert, key) = ca();
        let ca = SigningCa::from_pem(&cert, &key, Duration::days(1)).unwrap();
        assert_eq!(
            ca.check(&csr("CP2"), "CP1").unwrap_err(),
            CsrRefusal::WrongSubject {
                expected: "CP1".into(),
                found: Some("CP2".into())
            }
        );
        assert_eq!(ca.check("not a csr", "CP1").unwrap_err(), CsrRefusal::Invalid);
        // The same request with one bit of its signature flipped.
        use base64::Engine;
        let mut der = pem_blocks(&csr("CP1")).remove(0);
        let last = der.len() - 1;
        der[last] ^= 0x01;
        let tampered = format!(
            "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
            base64::engine::general_purpose::STANDARD.encode(der)
        );
        assert_eq!(ca.check(&tampered, "CP1").unwrap_err(), CsrRefusal::Invalid);
    }

    #[test]
    fn a_key_that_is_not_the_cas_is_refused_at_load() {
        let (cert, _) = ca();
        let (_, other_key) = ca();
        assert!(matches!(
            SigningCa::from_pem(&cert, &other_key, Duration::days(1)),
            Err(CaError::Mismatch)
        ));
        assert!(matches!(
            SigningCa::from_pem("nope", &other_key, Duration::days(1)),
            Err(CaError::Certificate(_))
        ));
    }
}
