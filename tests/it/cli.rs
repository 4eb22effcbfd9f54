//! The offline commands give the same bytes as the server (contract §7).

use crate::common;

use std::process::Stdio;

use common::{
    Webhook,
    fixtures::*,
    process::{binary, run_with_stdin},
};

fn examples() -> std::path::PathBuf {
    common::repo().join("examples")
}

fn review_command(body: &[u8]) -> std::process::Output {
    run_with_stdin(
        binary()
            .args(["review", "--configmaps-from"])
            .arg(examples().join("configmaps")),
        body,
    )
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

/// Runs `hash` on `file` (`-` reads `stdin`) with the example ConfigMaps.
fn hash_command(file: &std::path::Path, stdin: &[u8], extra: &[&str]) -> std::process::Output {
    run_with_stdin(
        binary()
            .args(["hash", "-f"])
            .arg(file)
            .arg("--configmaps-from")
            .arg(examples().join("configmaps"))
            .args(extra),
        stdin,
    )
}

fn stdout_of(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("UTF-8")
}

/// The example Deployment as JSON, and a second workload (a StatefulSet in `other`).
fn two_workloads() -> (serde_json::Value, serde_json::Value) {
    let text = std::fs::read_to_string(examples().join("deployment.yaml")).expect("example");
    let web: serde_json::Value = serde_saphyr::from_str(&text).expect("YAML");
    let mut db = web.clone();
    db["kind"] = "StatefulSet".into();
    db["metadata"]["name"] = "db".into();
    db["metadata"]["namespace"] = "other".into();
    (web, db)
}

#[test]
fn hash_reads_lists_multi_document_files_and_stdin_like_kubectl_prints_them() {
    let (web, db) = two_workloads();
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, value: &serde_json::Value| {
        let path = dir.path().join(name);
        std::fs::write(&path, serde_json::to_vec_pretty(value).expect("json")).expect("write");
        path
    };
    let single =
        |value: &serde_json::Value, name: &str| stdout_of(&hash_command(&write(name, value), b"", &[]));
    let expected = single(&web, "web.json") + &single(&db, "db.json");
    assert!(expected.starts_with("# Deployment demo/web\n") && expected.contains("# StatefulSet other/db\n"));

    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
        "items": [web, db]});
    let list_yaml = format!(
        "apiVersion: v1\nkind: List\nmetadata:\n  resourceVersion: \"\"\nitems:\n- {}\n- {}\n",
        serde_json::to_string(&web).expect("json"),
        serde_json::to_string(&db).expect("json")
    );
    let list_yaml_path = dir.path().join("list.yaml");
    std::fs::write(&list_yaml_path, &list_yaml).expect("write");
    let mut deployments =
        serde_json::json!({"apiVersion": "apps/v1", "kind": "DeploymentList", "items": [web]});
    // The API server's typed lists leave `apiVersion` and `kind` out of their items.
    let item = deployments["items"][0].as_object_mut().expect("object");
    item.remove("apiVersion");
    item.remove("kind");
    let multi = format!(
        "---\n{}\n---\n{}\n",
        serde_json::to_string(&web).expect("json"),
        serde_json::to_string(&db).expect("json")
    );
    let multi_path = dir.path().join("multi.yaml");
    std::fs::write(&multi_path, &multi).expect("write");

    assert_eq!(
        stdout_of(&hash_command(&list_yaml_path, b"", &[])),
        expected,
        "kind: List, YAML"
    );
    assert_eq!(
        stdout_of(&hash_command(&write("list.json", &list), b"", &[])),
        expected,
        "JSON List"
    );
    assert_eq!(
        stdout_of(&hash_command(&multi_path, b"", &[])),
        expected,
        "multi-document"
    );
    assert_eq!(
        stdout_of(&hash_command(&write("deployments.json", &deployments), b"", &[])),
        single(&web, "web.json"),
        "apps/v1 DeploymentList"
    );
    let dash = std::path::Path::new("-");
    assert_eq!(
        stdout_of(&hash_command(dash, list_yaml.as_bytes(), &[])),
        expected,
        "stdin"
    );
    assert_eq!(
        stdout_of(&hash_command(dash, multi.as_bytes(), &[])),
        expected,
        "stdin, multi-document"
    );
    let empty = hash_command(dash, b"apiVersion: v1\nkind: List\nitems: []\n", &[]);
    assert!(!empty.status.success());
    assert!(String::from_utf8_lossy(&empty.stderr).contains("no apps/v1 Deployment"));
}

#[test]
fn hash_leaves_a_workload_over_max_sources_unchanged_and_goes_on() {
    let (web, db) = two_workloads();
    let dir = tempfile::tempdir().expect("tempdir");
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [web, db]});
    let path = dir.path().join("list.json");
    std::fs::write(&path, serde_json::to_vec(&list).expect("json")).expect("write");
    let output = hash_command(&path, b"", &["--max-sources", "3"]);
    let stdout = stdout_of(&output);
    assert_eq!(
        stdout,
        "# Deployment demo/web\n# left unchanged: too many sources\n# StatefulSet other/db\n# left unchanged: too many sources\n"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("more than --max-sources 3 distinct ConfigMaps and Secrets referenced"),
        "{stderr}"
    );
}

#[test]
fn an_invalid_annotation_prefix_is_refused_at_start_up_naming_the_flag() {
    let too_long = "a".repeat(254);
    let dir = tempfile::tempdir().expect("tempdir");
    for prefix in [
        "example_corp",
        "a..b",
        "my corp",
        "-team.example.com",
        too_long.as_str(),
    ] {
        let flag = format!("--annotation-prefix={prefix}");
        let serve = binary()
            .args([
                "serve",
                "--dev",
                "--listen",
                "127.0.0.1:0",
                "--metrics-listen",
                "127.0.0.1:0",
            ])
            .arg("--dev-cert-dir")
            .arg(dir.path())
            .arg("--configmaps-from")
            .arg(examples().join("configmaps"))
            .arg(&flag)
            .stdin(Stdio::null())
            .output()
            .expect("run serve");
        let hash = hash_command(&examples().join("deployment.yaml"), b"", &[&flag]);
        for (command, output) in [("serve", serve), ("hash", hash)] {
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(2), "{command} {prefix}: {stderr}");
            assert!(
                stderr.contains("--annotation-prefix") && stderr.contains("DNS-1123"),
                "{command} {prefix}: {stderr}"
            );
            assert!(output.stdout.is_empty());
        }
    }
}

#[test]
fn text_logs_to_a_pipe_carry_no_colour_codes() {
    let empty = tempfile::tempdir().expect("tempdir");
    let output = run_with_stdin(
        binary()
            .args(["review", "--configmaps-from"])
            .arg(empty.path())
            .env_remove("NO_COLOR")
            .env("TERM", "xterm-256color"),
        &bytes(&create_review()),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("WARN") && stderr.contains("admission decision"),
        "log lines were written: {stderr}"
    );
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
}
