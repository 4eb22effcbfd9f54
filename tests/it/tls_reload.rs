//! Certificate rotation as the kubelet does it for a mounted Secret: an atomic swap of the
//! `..data` symlink. A broken new pair is logged, counted, and the old one kept.

use crate::common;

use std::{
    os::unix::fs::symlink,
    path::{Path, PathBuf},
    time::Duration,
};

use common::{Webhook, WebhookOptions, client};
use confighash::tls::dev::{self, DevCerts};
use rustls::pki_types::{CertificateDer, pem::PemObject};

/// A Secret volume: `tls.crt` and `tls.key` link through `..data` to a timestamped directory.
struct SecretVolume {
    root: PathBuf,
    generation: u32,
}

impl SecretVolume {
    fn new(root: &Path, first: &DevCerts) -> Self {
        let mut volume = Self {
            root: root.to_owned(),
            generation: 0,
        };
        volume.swap(
            &std::fs::read(&first.cert).expect("cert"),
            &std::fs::read(&first.key).expect("key"),
        );
        for name in ["tls.crt", "tls.key"] {
            symlink(Path::new("..data").join(name), root.join(name)).expect("file link");
        }
        volume
    }

    /// Writes a new timestamped directory and renames a fresh `..data` link over the old one.
    fn swap(&mut self, cert: &[u8], key: &[u8]) {
        self.generation += 1;
        let dir_name = format!("..2026_11_22_{:02}", self.generation);
        let dir = self.root.join(&dir_name);
        std::fs::create_dir(&dir).expect("data dir");
        std::fs::write(dir.join("tls.crt"), cert).expect("write cert");
        std::fs::write(dir.join("tls.key"), key).expect("write key");
        let tmp = self.root.join("..data_tmp");
        symlink(&dir_name, &tmp).expect("tmp link");
        std::fs::rename(&tmp, self.root.join("..data")).expect("atomic swap");
    }

    fn paths(&self) -> (PathBuf, PathBuf) {
        (self.root.join("tls.crt"), self.root.join("tls.key"))
    }
}

fn leaf(certs: &DevCerts) -> CertificateDer<'static> {
    CertificateDer::pem_file_iter(&certs.cert)
        .expect("cert")
        .next()
        .expect("leaf")
        .expect("PEM")
}

async fn served(webhook: &Webhook, ca: &Path) -> CertificateDer<'static> {
    let config = client::client_config(ca, rustls::ALL_VERSIONS);
    let conn = client::Conn::connect_with(webhook.addr, config)
        .await
        .expect("handshake");
    conn.peer_certificate.expect("peer certificate")
}

#[tokio::test]
async fn symlink_swap_rotates_and_a_broken_pair_keeps_the_last_good_one() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let old = dev::generate(&tmp.path().join("old"), &[]).expect("old pair");
    let new = dev::generate(&tmp.path().join("new"), &[]).expect("new pair");
    // The client trusts both CAs, so it can tell which leaf is served.
    let both_cas = tmp.path().join("cas.pem");
    let cas = [
        std::fs::read(&old.ca).expect("ca"),
        std::fs::read(&new.ca).expect("ca"),
    ]
    .concat();
    std::fs::write(&both_cas, cas).expect("write CAs");

    let volume_root = tmp.path().join("volume");
    std::fs::create_dir(&volume_root).expect("volume");
    let mut volume = SecretVolume::new(&volume_root, &old);
    let (cert, key) = volume.paths();
    let tls = DevCerts {
        ca: old.ca.clone(),
        cert,
        key,
    };
    let webhook = Webhook::with(WebhookOptions {
        tls: Some(tls),
        tls_reload_interval: Duration::from_millis(50),
        ..Default::default()
    })
    .await;
    assert_eq!(served(&webhook, &both_cas).await, leaf(&old));

    volume.swap(
        &std::fs::read(&new.cert).expect("cert"),
        &std::fs::read(&new.key).expect("key"),
    );
    common::eventually("the new certificate", async || {
        served(&webhook, &both_cas).await == leaf(&new)
    })
    .await;

    // The new certificate with the old key: a mismatched pair must not be served.
    volume.swap(
        &std::fs::read(&old.cert).expect("cert"),
        &std::fs::read(&new.key).expect("key"),
    );
    common::eventually("the failed reload to be counted", async || {
        webhook
            .ops_get("/metrics")
            .await
            .text()
            .contains(r#"confighash_tls_reloads_total{result="failure"} 1"#)
    })
    .await;
    assert_eq!(served(&webhook, &both_cas).await, leaf(&new));

    // Garbage is refused the same way; the good pair keeps serving requests.
    volume.swap(b"not a certificate", b"not a key");
    common::eventually("the second failure", async || {
        webhook
            .ops_get("/metrics")
            .await
            .text()
            .contains(r#"confighash_tls_reloads_total{result="failure"} 2"#)
    })
    .await;
    let mut conn = client::Conn::connect_with(
        webhook.addr,
        client::client_config(&both_cas, rustls::ALL_VERSIONS),
    )
    .await
    .expect("handshake");
    assert_eq!(conn.peer_certificate.clone().expect("peer"), leaf(&new));
    assert_eq!(
        conn.post(
            "/mutate",
            common::fixtures::bytes(&common::fixtures::create_review())
        )
        .await
        .status,
        200
    );
    let metrics = webhook.ops_get("/metrics").await.text();
    assert!(
        metrics.contains(r#"confighash_tls_reloads_total{result="success"} 2"#),
        "{metrics}"
    );
}

#[test]
fn a_mismatched_or_empty_pair_is_refused_at_start_up() {
    common::setup();
    let tmp = tempfile::tempdir().expect("tempdir");
    let a = dev::generate(&tmp.path().join("a"), &[]).expect("a");
    let b = dev::generate(&tmp.path().join("b"), &[]).expect("b");
    let mismatch = confighash::tls::reload::CertStore::load(a.cert.clone(), b.key.clone());
    assert!(
        mismatch
            .expect_err("mismatch")
            .to_string()
            .contains("certificate and key")
    );
    let empty = tmp.path().join("empty.pem");
    std::fs::write(&empty, "").expect("write");
    let no_cert = confighash::tls::reload::CertStore::load(empty, a.key.clone());
    assert!(no_cert.expect_err("empty").to_string().contains("no CERTIFICATE"));
}
