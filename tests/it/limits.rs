//! Limits against hostile or clumsy clients (contract §12 time, connections, memory), on the
//! webhook server in-process on 127.0.0.1. Bounds are generous: each test checks that a
//! connection is closed or answered at all, not how fast.

use crate::common;

use std::{sync::Arc, time::Duration};

use common::{Webhook, WebhookOptions, client::client_config, fixtures::*};
use confighash::server::Limits;
use rustls::pki_types::ServerName;
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::{Instant, timeout},
};
use tokio_rustls::{TlsConnector, client::TlsStream};

async fn start(limits: Limits) -> Webhook {
    Webhook::with(WebhookOptions {
        limits,
        ..Default::default()
    })
    .await
}

fn quick() -> Limits {
    Limits {
        request_read_timeout: Duration::from_secs(1),
        ..Limits::default()
    }
}

async fn tls(webhook: &Webhook) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(webhook.addr).await.expect("connect");
    let config = client_config(&webhook.certs.ca, rustls::ALL_VERSIONS);
    let name = ServerName::try_from("localhost").expect("name");
    TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("TLS")
}

fn head(length: usize, extra: &str) -> Vec<u8> {
    format!(
        "POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n{extra}\r\n"
    )
    .into_bytes()
}

/// Everything the server sends until it closes the connection, or `None` if it is still
/// open after `limit`.
async fn until_closed(stream: &mut (impl AsyncRead + Unpin), limit: Duration) -> Option<String> {
    let mut reply = Vec::new();
    let read = timeout(limit, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => reply.extend_from_slice(&buf[..n]),
            }
        }
    });
    read.await
        .ok()
        .map(|()| String::from_utf8_lossy(&reply).into_owned())
}

#[tokio::test]
async fn a_stalled_body_is_answered_408_and_closed() {
    let webhook = start(quick()).await;
    let mut stream = tls(&webhook).await;
    stream.write_all(&head(1000, "")).await.expect("head");
    stream.write_all(b"{\"apiVersion\"").await.expect("part");
    stream.flush().await.expect("flush");
    let reply = until_closed(&mut stream, Duration::from_secs(10))
        .await
        .expect("closed within 10 s");
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply:?}");
}

#[tokio::test]
async fn a_body_trickling_in_is_closed_at_the_deadline() {
    let webhook = start(quick()).await;
    let stream = tls(&webhook).await;
    let (mut reader, mut writer) = tokio::io::split(stream);
    writer.write_all(&head(1000, "")).await.expect("head");
    let trickle = tokio::spawn(async move {
        // One byte every 100 ms keeps any per-read timeout from firing.
        while writer.write_all(b" ").await.is_ok() && writer.flush().await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let reply = until_closed(&mut reader, Duration::from_secs(10))
        .await
        .expect("closed within 10 s");
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply:?}");
    trickle.abort();
}

#[tokio::test]
async fn headers_that_never_end_are_closed() {
    let webhook = start(quick()).await;
    let mut stream = tls(&webhook).await;
    stream
        .write_all(b"POST /mutate HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .expect("part of a head");
    stream.flush().await.expect("flush");
    // Within 5 s of a 1 s timeout (hyper's own header timeout was 10 s).
    assert!(
        until_closed(&mut stream, Duration::from_secs(5)).await.is_some(),
        "still open after 5 s"
    );
}

#[tokio::test]
async fn an_oversized_length_with_expect_continue_gets_413_without_100() {
    let webhook = Webhook::start().await;
    let mut stream = tls(&webhook).await;
    stream
        .write_all(&head(100 << 20, "Expect: 100-continue\r\n"))
        .await
        .expect("head");
    stream.flush().await.expect("flush");
    let reply = until_closed(&mut stream, Duration::from_secs(10))
        .await
        .expect("answered and closed within 10 s");
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply:?}");
    assert!(!reply.contains("100 Continue"), "{reply:?}");
    assert!(reply.contains("exceeds 8388608 bytes"), "{reply:?}");
}

#[tokio::test]
async fn a_keep_alive_connection_idle_longer_than_ten_seconds_is_still_served() {
    let webhook = Webhook::start().await;
    let mut conn = webhook.connect().await;
    let review = bytes(&create_review());
    assert_eq!(conn.post("/mutate", review.clone()).await.status, 200);
    tokio::time::sleep(Duration::from_secs(12)).await;
    let again = conn.try_post("/mutate", review).await;
    assert_eq!(again.expect("same connection still open").status, 200);
}

#[tokio::test]
async fn idle_ops_connections_are_closed_and_probes_answer_past_the_cap() {
    let limits = Limits {
        ops_max_connections: 4,
        max_connections: 4,
        ..quick()
    };
    let webhook = start(limits).await;
    // The webhook listener flooded with connections that never handshake.
    let mut flood = Vec::new();
    for _ in 0..20 {
        flood.push(TcpStream::connect(webhook.addr).await.expect("connect"));
    }
    let mut idle = Vec::new();
    for _ in 0..10 {
        idle.push(TcpStream::connect(webhook.ops).await.expect("connect"));
    }
    let started = Instant::now();
    for conn in &mut idle {
        assert!(
            until_closed(conn, Duration::from_secs(10)).await.is_some(),
            "an idle ops connection is still open after 10 s"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    let healthz = timeout(Duration::from_secs(10), webhook.ops_get("/healthz"))
        .await
        .expect("/healthz answers while the webhook listener is flooded");
    assert_eq!(healthz.status, 200);
    let metrics = webhook.ops_get("/metrics").await.text();
    assert!(
        metrics.contains(r#"confighash_refused_total{reason="ops_connections"}"#),
        "{metrics}"
    );
    drop(flood);
}

#[tokio::test]
async fn a_request_that_finds_no_room_in_the_memory_budget_gets_503() {
    let limits = Limits {
        memory_budget_bytes: 64 << 10,
        ..Limits::default()
    };
    let webhook = start(limits).await;
    // A body that is announced but never sent holds the whole budget.
    let mut holder = tls(&webhook).await;
    holder.write_all(&head(64 << 10, "")).await.expect("head");
    holder.flush().await.expect("flush");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reply = webhook.mutate(&bytes(&create_review())).await;
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert!(reply.text().contains("memory budget"), "{}", reply.text());
    let metrics = webhook.ops_get("/metrics").await.text();
    assert!(
        metrics.contains(r#"confighash_refused_total{reason="memory_budget"} 1"#),
        "{metrics}"
    );
    // Once the holder is gone, the room is back.
    drop(holder);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(webhook.mutate(&bytes(&create_review())).await.status, 200);
}
