//! Secrets (contract §3, §4.4, §8): keyed digests, reads only when enabled, the key's life
//! cycle, and no Secret value or unkeyed hash in any output.

use crate::common;

use std::time::Duration;

use base64::Engine;
use common::{
    Webhook,
    fake_api::{FakeApi, Fault},
    fixtures::*,
    process::ServeProcess,
};
use confighash::{admission::Options, hash_key::HashKey};
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const CANARY: &str = "hunter2-canary-7f3a9c";

/// The example review, also consuming the Secret `db` (one key) and the missing Secret `gone`.
fn review_with_secrets() -> Value {
    let mut review = create_review();
    let container = &mut review["request"]["object"]["spec"]["template"]["spec"]["containers"][0];
    container["env"].as_array_mut().expect("env").push(json!(
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}));
    container["envFrom"]
        .as_array_mut()
        .expect("envFrom")
        .push(json!({"secretRef": {"name": "gone"}}));
    review
}

async fn fake_api_with_examples() -> FakeApi {
    let api = FakeApi::with_examples().await;
    api.put_secret("demo", "db", &[("password", CANARY), ("unused", "x")]);
    api
}

/// The documented encoding of the `db` Secret's `password` entry.
fn db_entry_bytes() -> Vec<u8> {
    let (key, value) = (b"password", CANARY.as_bytes());
    [
        &(key.len() as u32).to_be_bytes()[..],
        key,
        &[0x01],
        &(value.len() as u64).to_be_bytes(),
        value,
    ]
    .concat()
}

fn sources(review: &Value, reply: &Value) -> String {
    let patched = patched_object(review, reply);
    template_annotations(&patched)["confighash.io/sources"]
        .as_str()
        .expect("sources")
        .to_owned()
}

#[tokio::test]
async fn secrets_are_read_and_digested_with_the_key_only_when_enabled() {
    let api = fake_api_with_examples().await;
    let key_bytes = [b'k'; 40];
    let key = HashKey::from_bytes(&key_bytes).expect("key");
    let options = Options {
        secrets: Some(key),
        ..Default::default()
    };
    let webhook = Webhook::on_cluster(&api, options).await;
    let review = review_with_secrets();
    let reply = webhook.mutate(&bytes(&review)).await.json();

    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(&key_bytes).expect("hmac");
    mac.update(&db_entry_bytes());
    let expected = hex::encode(mac.finalize().into_bytes());
    let listed = sources(&review, &reply);
    assert!(
        listed.ends_with(&format!(",secret/db@{},secret/gone@absent", &expected[..12])),
        "{listed}"
    );
    let warnings = reply["response"]["warnings"].to_string();
    assert!(warnings.contains("Secret demo/gone not found"), "{warnings}");
    let secret_reads: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/secrets/"))
        .collect();
    assert_eq!(secret_reads.len(), 2, "{secret_reads:?}");

    // With Secrets off, the same workload never causes a Secret read.
    let api = fake_api_with_examples().await;
    let webhook = Webhook::on_cluster(&api, Options::default()).await;
    let reply = webhook.mutate(&bytes(&review)).await.json();
    assert!(!sources(&review, &reply).contains("secret/"));
    assert!(
        api.requests().iter().all(|r| !r.path.contains("/secrets")),
        "{:?}",
        api.requests()
    );
}

// Multi-threaded: the fake API server must answer while this thread waits for the child.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_output_carries_a_secret_value_or_an_unkeyed_hash() {
    common::setup();
    let api = fake_api_with_examples().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let key_file = dir.path().join("hash.key");
    std::fs::write(&key_file, "x".repeat(48) + "\n").expect("key");
    let kubeconfig = api.kubeconfig(dir.path(), "confighash-system");
    let mut server = ServeProcess::start_with(
        dir.path(),
        &[
            "--secrets",
            "--secret-hash-key-file",
            key_file.to_str().expect("path"),
        ],
        &[
            ("KUBECONFIG", kubeconfig.to_str().expect("path")),
            ("RUST_LOG", "trace"),
        ],
    );
    let ca = dir.path().join("ca.crt");
    let mut conn = common::client::Conn::connect(server.webhook, &ca).await;
    let review = review_with_secrets();
    let first = conn.post("/mutate", bytes(&review)).await;
    assert!(
        sources(&review, &first.json()).contains(",secret/db@"),
        "the Secret was digested"
    );
    let patch = response_patch(&first.json()).expect("patch");
    let mut outputs = vec![first.text(), serde_json::to_string(&patch).expect("json")];
    api.set_fault(Fault::Status(500));
    outputs.push(conn.post("/mutate", bytes(&review)).await.text());
    api.set_fault(Fault::Delay(Duration::from_secs(3)));
    outputs.push(conn.post("/mutate", bytes(&review)).await.text());
    outputs.push(common::client::http_get(server.ops, "/metrics").await.text());
    server.signal("TERM");
    server.wait_exit(Duration::from_secs(10));
    outputs.extend(server.drain_logs(Duration::from_millis(200)));
    assert!(
        outputs.len() > 20,
        "trace logging produced the lines searched below"
    );

    let entry = db_entry_bytes();
    let forbidden = [
        CANARY.to_owned(),
        base64::engine::general_purpose::STANDARD.encode(CANARY),
        hex::encode(Sha256::digest(&entry)),
        hex::encode(Sha256::digest(&entry))[..12].to_owned(),
        hex::encode(Sha256::digest(CANARY)),
        "x".repeat(48),
    ];
    for output in &outputs {
        for needle in &forbidden {
            assert!(
                !output.contains(needle.as_str()),
                "{needle:?} leaked in: {output}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_secret_is_created_once_and_reused_after_a_restart() {
    common::setup();
    let api = fake_api_with_examples().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = api.kubeconfig(dir.path(), "confighash-system");
    let missing = dir.path().join("not-mounted-yet/key");
    let args = [
        "--secrets",
        "--secret-hash-key-file",
        missing.to_str().expect("path"),
        "--secret-hash-key-secret",
        "confighash-system/confighash-hash-key",
    ];
    let envs = [("KUBECONFIG", kubeconfig.to_str().expect("path"))];
    let review = review_with_secrets();
    let mut hashes = Vec::new();
    for run in 0..2 {
        let certs = dir.path().join(format!("certs-{run}"));
        let mut server = ServeProcess::start_with(&certs, &args, &envs);
        let mut conn = common::client::Conn::connect(server.webhook, &certs.join("ca.crt")).await;
        hashes.push(sources(
            &review,
            &conn.post("/mutate", bytes(&review)).await.json(),
        ));
        server.signal("TERM");
        server.wait_exit(Duration::from_secs(10));
    }
    assert_eq!(hashes[0], hashes[1], "a restart keeps the key, so nothing rolls");
    let created = api
        .object("secrets", "confighash-system", "confighash-hash-key")
        .expect("key Secret");
    let key = created["data"]["key"].as_str().expect("key entry");
    assert!(
        base64::engine::general_purpose::STANDARD
            .decode(key)
            .expect("base64")
            .len()
            >= 32
    );
    let posts = api.requests().into_iter().filter(|r| r.method == "POST").count();
    assert_eq!(posts, 1, "created once");
}

#[test]
fn serve_refuses_secrets_without_a_usable_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let short = dir.path().join("short.key");
    std::fs::write(&short, "short").expect("write");
    let cases: [(&[&str], &str); 3] = [
        (&["--secrets"], "--secrets needs --secret-hash-key-file"),
        (
            &[
                "--secrets",
                "--secret-hash-key-file",
                short.to_str().expect("path"),
            ],
            "it needs at least 32",
        ),
        (
            &["--secrets", "--secret-hash-key-file", "/nonexistent/key"],
            "/nonexistent/key",
        ),
    ];
    for (args, needle) in cases {
        let output = common::process::binary()
            .args(["serve", "--dev", "--dev-cert-dir"])
            .arg(dir.path())
            .args(["--configmaps-from", "examples/configmaps"])
            .args(args)
            .current_dir(common::repo())
            .output()
            .expect("run");
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(needle) && stderr.contains("/dev/urandom"),
            "{args:?}: {stderr}"
        );
    }
}
