//! The offline commands give the same bytes as the server (contract §7).

mod common;

use std::io::Write;
use std::process::Stdio;

use common::{Webhook, fixtures::*, process::binary};

fn examples() -> std::path::PathBuf {
    common::repo().join("examples")
}

fn review_command(body: &[u8]) -> std::process::Output {
    let mut child = binary()
        .args(["review", "--configmaps-from"])
        .arg(examples().join("configmaps"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body)
        .expect("write stdin");
    child.wait_with_output().expect("output")
}

#[tokio::test]
async fn review_prints_exactly_what_mutate_answers() {
    let webhook = Webhook::start().await;
    for review in [create_review(), update_review()] {
        let served = webhook.mutate(&bytes(&review)).await;
        let output = review_command(&bytes(&review));
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            output.stdout.strip_suffix(b"\n").expect("trailing newline"),
            &served.body[..]
        );
    }
}

#[test]
fn review_rejects_an_invalid_review_with_one_line() {
    let output = review_command(b"{\"kind\": \"AdmissionReview\"}");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid AdmissionReview"), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[tokio::test]
async fn hash_prints_the_annotations_mutate_would_set() {
    let webhook = Webhook::start().await;
    let review = create_review();
    let patched = patched_object(&review, &webhook.mutate(&bytes(&review)).await.json());
    let annotations = template_annotations(&patched);

    let output = binary()
        .args(["hash", "-f"])
        .arg(examples().join("deployment.yaml"))
        .arg("--configmaps-from")
        .arg(examples().join("configmaps"))
        .output()
        .expect("run hash");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let expected = format!(
        "# Deployment demo/web\nconfighash.io/config-hash: {}\nconfighash.io/sources: {}\n",
        annotations["confighash.io/config-hash"].as_str().expect("hash"),
        annotations["confighash.io/sources"].as_str().expect("sources"),
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), expected);
}

#[test]
fn hash_refuses_a_file_without_workloads() {
    let output = binary()
        .args(["hash", "-f"])
        .arg(examples().join("configmaps/web-env.yaml"))
        .arg("--configmaps-from")
        .arg(examples().join("configmaps"))
        .output()
        .expect("run hash");
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("no apps/v1 Deployment, StatefulSet or DaemonSet")
    );
}
