//! SIGTERM against the real binary: readiness fails, idle kept-alive connections close, an
//! in-flight request is answered with `Connection: close`, and the process exits 0.

use crate::common;

use std::{sync::Arc, time::Duration};

use common::{client, fixtures, process::ServeProcess};
use rustls::pki_types::ServerName;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tokio_rustls::TlsConnector;

#[tokio::test]
async fn sigterm_drains_in_flight_requests_and_exits_zero() {
    common::setup();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = ServeProcess::start(dir.path(), &["--drain-timeout", "10s"]);
    let ca = dir.path().join("ca.crt");
    common::eventually("readiness", async || {
        client::http_get(server.ops, "/readyz").await.status == 200
    })
    .await;

    // An idle keep-alive connection that has already served a request.
    let mut idle = client::Conn::connect(server.webhook, &ca).await;
    assert_eq!(
        idle.post("/mutate", fixtures::bytes(&fixtures::create_review()))
            .await
            .status,
        200
    );

    // A request in flight: headers and half of the body sent.
    let body = fixtures::bytes(&fixtures::update_review());
    let (first, rest) = body.split_at(body.len() / 2);
    let config = Arc::new(client::client_config(&ca, rustls::ALL_VERSIONS));
    let tcp = TcpStream::connect(server.webhook).await.expect("connect");
    let name = ServerName::try_from("localhost").expect("name");
    let mut in_flight = TlsConnector::from(config).connect(name, tcp).await.expect("TLS");
    let head = format!(
        "POST /mutate?timeout=10s HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    in_flight.write_all(head.as_bytes()).await.expect("head");
    in_flight.write_all(first).await.expect("first half");
    in_flight.flush().await.expect("flush");
    tokio::time::sleep(Duration::from_millis(100)).await;

    server.signal("TERM");
    common::eventually("readiness to fail", async || {
        client::http_get(server.ops, "/readyz").await.status == 503
    })
    .await;
    common::eventually("the idle connection to close", async || idle.closed.is_finished()).await;

    in_flight.write_all(rest).await.expect("rest of the body");
    let mut response = Vec::new();
    in_flight
        .read_to_end(&mut response)
        .await
        .expect("response until close");
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("\r\nconnection: close\r\n"),
        "{response}"
    );
    assert!(response.contains("\"allowed\":true"), "{response}");

    let status = server.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
    assert!(
        TcpStream::connect(server.webhook).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn bad_flags_fail_fast_with_a_clear_message() {
    let output = common::process::binary()
        .args(["serve", "--tls-cert", "/nonexistent"])
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--tls-cert and --tls-key must be given together"),
        "{stderr}"
    );

    let output = common::process::binary()
        .args([
            "serve",
            "--tls-cert",
            "/nonexistent/tls.crt",
            "--tls-key",
            "/nonexistent/tls.key",
        ])
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent/tls.crt"), "{stderr}");
}
