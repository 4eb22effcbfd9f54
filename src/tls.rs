//! TLS for the webhook listener: PEM loading, the rustls server configuration, and the
//! certificate store that the reloader swaps (see `reload`). `dev` makes throw-away pairs.

pub mod dev;
pub mod reload;

use std::sync::Arc;

use rustls::{
    ServerConfig,
    crypto::CryptoProvider,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    server::ResolvesServerCert,
    sign::CertifiedKey,
};

use crate::{Error, Result};

/// Parses a PEM certificate chain (leaf first) and a PEM private key of any encoding, and
/// checks that they belong together.
pub fn certified_key(cert_pem: &[u8], key_pem: &[u8]) -> Result<CertifiedKey> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| Error::Tls(format!("certificate PEM: {e}")))?;
    if chain.is_empty() {
        return Err(Error::Tls("no CERTIFICATE block in the certificate file".into()));
    }
    let key =
        PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| Error::Tls(format!("private key PEM: {e}")))?;
    CertifiedKey::from_der(chain, key, &provider())
        .map_err(|e| Error::Tls(format!("certificate and key: {e}")))
}

/// The `notAfter` of the leaf certificate, in Unix seconds.
pub fn not_after(key: &CertifiedKey) -> Option<i64> {
    let leaf = key.cert.first()?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf).ok()?;
    Some(cert.validity().not_after.timestamp())
}

/// The process's crypto provider (ring), installed by `main` or the tests.
pub fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// Server config for the webhook: TLS 1.2 and 1.3, HTTP/1.1 only (the API server speaks
/// HTTP/1.1 to webhooks; HTTP/2 would only add attack surface), certificates from `resolver`.
pub fn server_config(resolver: Arc<dyn ResolvesServerCert>) -> Result<ServerConfig> {
    let mut config = ServerConfig::builder_with_provider(Arc::new(provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
