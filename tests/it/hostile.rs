//! Reviews and connections no API server would send (contract §3, §5, §12): a forged
//! namespace never reaches a URL, and idle ops connections cannot keep probes out.

use crate::common;

use common::{Webhook, fake_api::FakeApi, fixtures::*};
use confighash::admission::Options;
use serde_json::{Value, json};

const HOSTILE_NAMESPACES: [&str; 5] = [
    "../../kube-system",
    "x?watch=true",
    "demo/configmaps/kubeadm-config#",
    "Demo",
    "a-namespace-name-that-is-far-longer-than-sixty-three-characters-x",
];

fn no_request_leaves_the_namespace(api: &FakeApi) {
    for request in api.requests() {
        let path = &request.path;
        let query = request.query.as_deref().unwrap_or_default();
        assert!(
            !path.contains("..") && !path.contains("kube-system") && !query.contains("watch"),
            "{path} {query}"
        );
        if let Some(rest) = path.strip_prefix("/api/v1/namespaces/") {
            let namespace = rest.split('/').next().unwrap_or_default();
            assert!(
                ["demo", "default"].contains(&namespace),
                "request outside the namespaces of the reviews: {path}"
            );
        }
    }
}

fn assert_refused(reply: &common::client::Reply, namespace: &str) {
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert!(
        reply.text().contains("namespace"),
        "the reason names the namespace: {}",
        reply.text()
    );
    assert!(
        !reply.text().trim_end().contains('\n'),
        "one line for {namespace:?}: {}",
        reply.text()
    );
}

#[tokio::test]
async fn a_forged_request_namespace_never_reaches_a_url() {
    let api = FakeApi::with_examples().await;
    let webhook = Webhook::on_cluster(&api, Options::default()).await;
    for namespace in HOSTILE_NAMESPACES {
        let mut review = update_review();
        review["request"]["namespace"] = json!(namespace);
        let reply = webhook.mutate(&bytes(&review)).await;
        assert_refused(&reply, namespace);
    }
    no_request_leaves_the_namespace(&api);
}

#[tokio::test]
async fn a_forged_object_namespace_never_reaches_a_url() {
    let api = FakeApi::with_examples().await;
    let webhook = Webhook::on_cluster(&api, Options::default()).await;
    for namespace in HOSTILE_NAMESPACES {
        let mut review = create_review();
        let request = review["request"].as_object_mut().expect("request");
        request.remove("namespace");
        review["request"]["object"]["metadata"]["namespace"] = json!(namespace);
        let reply = webhook.mutate(&bytes(&review)).await;
        assert_refused(&reply, namespace);
    }
    no_request_leaves_the_namespace(&api);
}

#[tokio::test]
async fn valid_reviews_still_read_in_their_namespace() {
    let api = FakeApi::with_examples().await;
    let webhook = Webhook::on_cluster(&api, Options::default()).await;
    let reply: Value = webhook.mutate(&bytes(&update_review())).await.json();
    assert_eq!(reply["response"]["allowed"], true, "{reply}");
    assert!(reply["response"]["patch"].is_string(), "{reply}");
    no_request_leaves_the_namespace(&api);
}

#[test]
fn hash_refuses_a_file_with_an_invalid_namespace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("web.yaml");
    let text = std::fs::read_to_string(common::repo().join("examples/deployment.yaml")).expect("example");
    assert!(
        text.contains("namespace: demo"),
        "the example names its namespace"
    );
    std::fs::write(
        &file,
        text.replace("namespace: demo", "namespace: \"x?watch=true\""),
    )
    .expect("write");
    let output = common::process::binary()
        .args(["hash", "--configmaps-from", "examples/configmaps", "-f"])
        .arg(&file)
        .current_dir(common::repo())
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("namespace \"x?watch=true\" is not valid"),
        "{stderr}"
    );
}

/// `GET path` on a fresh plain connection, as the kubelet probes: the status line, or why
/// there was none.
async fn probe(addr: std::net::SocketAddr, path: &str) -> Result<String, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n");
        tcp.write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut answer = Vec::new();
        tcp.read_to_end(&mut answer).await.map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&answer).into_owned();
        Ok(text
            .lines()
            .next()
            .unwrap_or("closed without an answer")
            .to_owned())
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), exchange)
        .await
        .unwrap_or_else(|_| Err("no answer within 5 s".into()))
}

#[tokio::test]
async fn probes_answer_while_idle_connections_keep_the_ops_cap_full() {
    let limits = confighash::server::Limits {
        ops_max_connections: 4,
        ..Default::default()
    };
    let webhook = Webhook::with(common::WebhookOptions {
        limits,
        ..Default::default()
    })
    .await;
    // An attacker keeps twice the cap of idle connections open, opening new ones before
    // every probe: none of them sends a byte, and none times out during the test.
    let mut idle = Vec::new();
    for round in 0..5 {
        for _ in 0..8 {
            idle.push(
                tokio::net::TcpStream::connect(webhook.ops)
                    .await
                    .expect("connect"),
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        for path in ["/healthz", "/readyz", "/metrics"] {
            let status = probe(webhook.ops, path).await;
            assert_eq!(
                status.as_deref(),
                Ok("HTTP/1.1 200 OK"),
                "{path} in round {round} with {} idle connections opened",
                idle.len()
            );
        }
    }
}

/// `confighash review` on `review`, as (stdout, stderr).
fn review_command(review: &Value) -> (Value, String) {
    use std::io::Write;
    let mut child = common::process::binary()
        .args(["review", "--configmaps-from", "examples/configmaps"])
        .current_dir(common::repo())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(&bytes(review)).expect("write stdin");
    drop(stdin);
    let output = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    (
        serde_json::from_slice(&output.stdout).expect("review JSON"),
        stderr,
    )
}

#[test]
fn names_and_uids_cannot_forge_or_swell_log_lines() {
    let mut review = create_review();
    let uid = format!(
        "u\n2026-11-29T00:00:00Z  INFO forged uid line {}",
        "x".repeat(1 << 20)
    );
    review["request"]["uid"] = json!(uid);
    review["request"]["name"] = json!("web\n2026-11-29T00:00:00Z  INFO forged name line");
    let (reply, stderr) = review_command(&review);
    assert_eq!(
        reply["response"]["uid"],
        json!(uid),
        "the answer still echoes the uid"
    );
    assert!(
        !stderr.contains("\n2026-11-29T00:00:00Z"),
        "{}",
        &stderr[..stderr.len().min(500)]
    );
    for line in stderr.lines() {
        assert!(line.len() < 4096, "a log line of {} bytes", line.len());
        assert!(line.starts_with("20"), "every line is a log event: {line}");
    }
    assert!(
        stderr.contains("web\\n2026"),
        "the name is logged, escaped: {stderr}"
    );
}

#[tokio::test]
async fn reviews_answer_while_idle_keep_alive_connections_fill_the_webhook_cap() {
    let limits = confighash::server::Limits {
        max_connections: 4,
        ..Default::default()
    };
    let webhook = Webhook::with(common::WebhookOptions {
        limits,
        ..Default::default()
    })
    .await;
    // Each attacker connection sends one request, then idles under the keep-alive timeout.
    let mut idle = Vec::new();
    for _ in 0..4 {
        let mut conn = webhook.connect().await;
        assert_eq!(conn.post("/mutate", b"{}".to_vec()).await.status, 400);
        idle.push(conn);
    }
    let review = bytes(&create_review());
    let answered = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        webhook.connect().await.post("/mutate?timeout=10s", review).await
    })
    .await
    .expect("a review is answered while idle connections fill the cap");
    assert_eq!(answered.status, 200);
}
