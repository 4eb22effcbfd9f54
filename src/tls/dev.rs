//! `--dev`: a throw-away CA and serving certificate for localhost, written to a directory
//! so that the normal file-based store serves them and clients can trust the CA.

use std::{
    fs,
    path::{Path, PathBuf},
};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};

use crate::{Error, Result};

/// Paths of a generated pair.
#[derive(Debug, Clone)]
pub struct DevCerts {
    /// CA certificate to give to clients (`curl --cacert`).
    pub ca: PathBuf,
    /// Serving certificate chain.
    pub cert: PathBuf,
    /// Serving private key (mode 0600).
    pub key: PathBuf,
}

/// Generates a CA and a serving certificate for `localhost`, `127.0.0.1` and `::1` (plus
/// `extra_names`) and writes `ca.crt`, `tls.crt` and `tls.key` into `dir`.
pub fn generate(dir: &Path, extra_names: &[String]) -> Result<DevCerts> {
    let tls = |e: rcgen::Error| Error::Tls(format!("generating dev certificate: {e}"));
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(tls)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "confighash dev CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(tls)?).map_err(tls)?;

    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    names.extend(extra_names.iter().cloned());
    let mut leaf_params = CertificateParams::new(names).map_err(tls)?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "confighash");
    let leaf_key = KeyPair::generate().map_err(tls)?;
    let leaf = leaf_params.signed_by(&leaf_key, &ca).map_err(tls)?;

    let certs = DevCerts {
        ca: dir.join("ca.crt"),
        cert: dir.join("tls.crt"),
        key: dir.join("tls.key"),
    };
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::Write { path, source }
    };
    fs::create_dir_all(dir).map_err(io(dir))?;
    fs::write(&certs.ca, ca.pem()).map_err(io(&certs.ca))?;
    fs::write(&certs.cert, leaf.pem()).map_err(io(&certs.cert))?;
    write_private(&certs.key, leaf_key.serialize_pem().as_bytes()).map_err(io(&certs.key))?;
    Ok(certs)
}

fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)
}
