//! `serve` with the default listen address `[::]` answers over IPv4 and IPv6 loopback, and
//! a listen flag given again (as the chart's `server.extraArgs` would) overrides the first.

mod common;

use std::{net::SocketAddr, time::Duration};

use common::{client::http_get, process::ServeProcess};

/// Whether this machine has an IPv6 loopback to test against.
fn has_ipv6_loopback() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

async fn answers(addr: SocketAddr) {
    let reply = tokio::time::timeout(Duration::from_secs(10), http_get(addr, "/healthz"))
        .await
        .unwrap_or_else(|_| panic!("no answer on {addr}"));
    assert_eq!(reply.status, 200, "/healthz on {addr}");
}

#[tokio::test]
async fn the_default_address_answers_on_ipv4_and_ipv6_loopback() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The harness passes --listen 127.0.0.1:0 first; the default address given again
    // (port 0, so that parallel runs do not collide) must win.
    let server = ServeProcess::start(dir.path(), &["--listen", "[::]:0", "--metrics-listen", "[::]:0"]);
    assert!(server.ops.ip().is_unspecified(), "bound {}", server.ops);
    assert!(server.webhook.ip().is_unspecified(), "bound {}", server.webhook);
    let v4 = |addr: SocketAddr| SocketAddr::from(([127, 0, 0, 1], addr.port()));
    answers(v4(server.ops)).await;
    tokio::net::TcpStream::connect(v4(server.webhook))
        .await
        .expect("webhook over IPv4");
    if !has_ipv6_loopback() {
        eprintln!("skipped the ::1 half: this machine has no IPv6 loopback (binding [::1]:0 fails)");
        return;
    }
    let v6 = |addr: SocketAddr| SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port()));
    answers(v6(server.ops)).await;
    tokio::net::TcpStream::connect(v6(server.webhook))
        .await
        .expect("webhook over IPv6");
}
