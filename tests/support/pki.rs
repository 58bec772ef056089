//! A small PKI for TLS tests, made with rcgen: a CA, a server certificate for 127.0.0.1 signed by
//! it, and client certificates for chargers, written as PEM files a test hands to Coupler's
//! settings and to the Python charge point.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SanType,
};

use crate::ocpp::TlsOptions;

/// A CA and the files made from it, in a directory of their own (removed on drop).
#[derive(Debug)]
pub struct TestPki {
    dir: PathBuf,
    ca_certificate: String,
    ca_key: String,
}

impl TestPki {
    /// A new CA named `name`, with its files in a fresh directory.
    pub fn new(name: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "coupler-pki-{}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            name
        ));
        std::fs::create_dir_all(&dir).expect("create the PKI directory");
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name.push(DnType::CommonName, format!("{name} CA"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let certificate = params.self_signed(&key).expect("self-sign the CA");
        let pki = Self {
            dir,
            ca_certificate: certificate.pem(),
            ca_key: key.serialize_pem(),
        };
        pki.write("ca.pem", &pki.ca_certificate);
        pki.write("ca.key", &pki.ca_key);
        pki
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, contents).expect("write a PKI file");
        path
    }

    /// The CA certificate's file.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The CA private key's file.
    pub fn ca_key_file(&self) -> PathBuf {
        self.dir.join("ca.key")
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_certificate
    }

    fn issue(&self, params: CertificateParams, name: &str) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().expect("key");
        let ca_key = KeyPair::from_pem(&self.ca_key).expect("CA key");
        let issuer = Issuer::from_ca_cert_pem(&self.ca_certificate, ca_key).expect("issuer");
        let certificate = params.signed_by(&key, &issuer).expect("sign");
        let chain = format!("{}{}", certificate.pem(), self.ca_certificate);
        (
            self.write(&format!("{name}.pem"), &chain),
            self.write(&format!("{name}.key"), &key.serialize_pem()),
        )
    }

    /// A server certificate for 127.0.0.1 and localhost: (chain file, key file).
    pub fn server(&self) -> (PathBuf, PathBuf) {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).expect("server params");
        params.subject_alt_names = vec![
            SanType::DnsName("localhost".try_into().expect("dns name")),
            SanType::IpAddress([127, 0, 0, 1].into()),
        ];
        params.distinguished_name.push(DnType::CommonName, "Coupler");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(params, "server")
    }

    /// A charger's client certificate with subject `CN=<common_name>`: (chain file, key file).
    pub fn client(&self, common_name: &str) -> (PathBuf, PathBuf) {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("client params");
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.distinguished_name.push(DnType::OrganizationName, "Test CPO");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(params, &format!("client-{common_name}"))
    }

    /// A fresh key and a PKCS#10 request for `CN=<common_name>`, as a charger makes for
    /// SignCertificate: (request PEM, key file).
    pub fn signing_request(&self, common_name: &str) -> (String, PathBuf) {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("csr params");
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.distinguished_name.push(DnType::OrganizationName, "Test CPO");
        let csr = params.serialize_request(&key).expect("csr").pem().expect("csr pem");
        let key_file = self.write(&format!("csr-{common_name}.key"), &key.serialize_pem());
        (csr, key_file)
    }

    /// Writes `contents` (a certificate chain a test received) to a file of the PKI's directory.
    pub fn save(&self, name: &str, contents: &str) -> PathBuf {
        self.write(name, contents)
    }

    /// How a charge point connects trusting this CA, presenting `certificate` (chain and key files).
    pub fn charger_tls(&self, certificate: Option<(&Path, &Path)>) -> TlsOptions {
        TlsOptions {
            ca_file: Some(self.ca_file()),
            certificate_file: certificate.map(|(chain, _)| chain.to_owned()),
            key_file: certificate.map(|(_, key)| key.to_owned()),
        }
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
