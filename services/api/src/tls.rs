//! TLS served by Coupler itself (OCPP security profiles 2 and 3 without a proxy in front).
//!
//! The server's certificate chain and private key come from PEM files the settings name; the key
//! is read once and never logged. With a client CA bundle, a peer that presents a certificate must
//! present one that chains to it (a certificate from another CA fails the handshake); presenting
//! none is allowed at this layer, because API clients share the listener. Whether a charger must
//! present one (security profile 3) and whether it names the charger is decided by the OCPP
//! gateway before the WebSocket upgrade. TLS 1.2 and 1.3 only (OCPP 2.0.1 A00.FR.312), with
//! rustls's default cipher suites on ring, which include those OCPP requires.

use std::path::Path;
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// Why TLS cannot be set up from the configured files.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read or holds no PEM item of the kind expected.
    #[error("cannot read {what} from {path}: {detail}")]
    File {
        /// What the file should hold.
        what: &'static str,
        /// The file.
        path: String,
        /// Why.
        detail: String,
    },
    /// rustls refused the combination (a key that is not the certificate's, an unusable CA).
    #[error("cannot set up TLS: {0}")]
    Config(String),
}

/// The files TLS is made from.
#[derive(Debug, Clone, Copy)]
pub struct TlsFiles<'a> {
    /// The server's certificate chain, PEM, its own certificate first.
    pub certificate_chain: &'a Path,
    /// The server's private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub private_key: &'a Path,
    /// CA certificates, PEM, that client certificates are verified against (security profile 3).
    pub client_ca: Option<&'a Path>,
}

/// What every TLS connection is accepted with. Cheap to clone; its `Debug` shows nothing of the
/// key.
#[derive(Clone)]
pub struct TlsServer(TlsAcceptor);

impl std::fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsServer").finish_non_exhaustive()
    }
}

impl TlsServer {
    /// The acceptor.
    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.0
    }
}

/// Reads the files and builds what every TLS connection is accepted with.
pub fn acceptor(files: TlsFiles<'_>) -> Result<TlsServer, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = read_certificates(files.certificate_chain, "the certificate chain")?;
    let key = PrivateKeyDer::from_pem_file(files.private_key).map_err(|e| TlsError::File {
        what: "the private key",
        path: files.private_key.display().to_string(),
        // The error names the PEM problem, never the key's content.
        detail: e.to_string(),
    })?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match files.client_ca {
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for certificate in read_certificates(path, "the client CA certificates")? {
                roots.add(certificate).map_err(|e| TlsError::Config(e.to_string()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .map_err(|e| TlsError::Config(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    // HTTP/1.1 only: WebSocket upgrades (OCPP) need it, and the API is served on it already.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsServer(TlsAcceptor::from(Arc::new(config))))
}

fn read_certificates(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let error = |detail: String| TlsError::File {
        what,
        path: path.display().to_string(),
        detail,
    };
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|e| error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| error(e.to_string()))?;
    if certificates.is_empty() {
        return Err(error("no CERTIFICATE block".to_owned()));
    }
    Ok(certificates)
}
