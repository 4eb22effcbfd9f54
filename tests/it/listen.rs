//! `serve` answers over the IPv6 loopback, and a listen flag given again (as the chart's
//! `server.extraArgs` would) overrides the first.

use crate::common;

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
async fn a_listen_flag_given_again_wins_and_ipv6_loopback_answers() {
    // Tests bind loopback only, so the dual-stack default `[::]` itself is checked through
    // `serve --help` (tests/it/cli.rs and the chart checks); here the harness's
    // `--listen 127.0.0.1:0` is given again with the IPv6 loopback, as the chart's
    // `server.extraArgs` would override a flag, and the last value must win.
    if !has_ipv6_loopback() {
        eprintln!("skipped: this machine has no IPv6 loopback (binding [::1]:0 fails)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServeProcess::start(
        dir.path(),
        &["--listen", "[::1]:0", "--metrics-listen", "[::1]:0"],
    );
    assert!(server.ops.is_ipv6(), "bound {}", server.ops);
    assert!(server.webhook.is_ipv6(), "bound {}", server.webhook);
    answers(server.ops).await;
    tokio::net::TcpStream::connect(server.webhook)
        .await
        .expect("webhook over IPv6");
}
