//! A watcher to scrape: starts the in-process fake API server with an opted-in namespace,
//! two ConfigMaps and three Deployments (current, stamped with an old hash, never stamped),
//! runs the real binary as `confighash serve --dev --watch --workload-info-metric` against
//! it with its ops listener on the given address, changes one ConfigMap once the watcher
//! has synced (so a rollout is counted), and keeps everything up for the given seconds.
//!
//! `cargo run --example watch_fixture -- 127.0.0.1:19090 60`; prints `ready` on stdout
//! once the rollout is done. Used by .ci/prometheus/check.sh. Not a test.

#[path = "../tests/it/common/mod.rs"]
#[allow(dead_code, unused_imports)] // each example uses a part of the harness
mod common;

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use common::{fake_api::FakeApi, process::binary, watcher::*};

const NS: &str = "shop";

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(ops), Some(seconds)) = (args.next(), args.next()) else {
        eprintln!("usage: watch_fixture METRICS_ADDRESS SECONDS");
        std::process::exit(2);
    };
    let seconds: u64 = seconds.parse().unwrap_or_else(|_| {
        eprintln!("watch_fixture: SECONDS must be a whole number");
        std::process::exit(2)
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(&ops, Duration::from_secs(seconds)));
}

async fn run(ops: &str, up_for: Duration) {
    let started = Instant::now();
    let api = FakeApi::start().await;
    api.put_namespace("confighash-system", &[]);
    opt_in(&api, NS);
    api.put_configmap(NS, "web-config", &[("mode", "blue")]);
    api.put_configmap(NS, "api-config", &[("mode", "one")]);
    put_stamped(&api, workload("Deployment", NS, "web", env_from("web-config"))).await;
    let mut old = workload("Deployment", NS, "old", env_from("api-config"));
    old["spec"]["template"]["metadata"]["annotations"] =
        serde_json::json!({"confighash.io/config-hash": "sha256:old"});
    api.put_object(old);
    api.put_object(workload("Deployment", NS, "fresh", env_from("api-config")));

    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = binary()
        .args([
            "serve",
            "--dev",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            ops,
        ])
        .args(["--watch", "--debounce", "0s", "--workload-info-metric"])
        .args([
            "--lease-namespace",
            "confighash-system",
            "--lease-identity",
            "fixture",
        ])
        .arg("--dev-cert-dir")
        .arg(dir.path().join("certs"))
        .env("KUBECONFIG", api.kubeconfig(dir.path(), "default"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn confighash");

    let synced = wait_for(ops, "confighash_watch_synced 1", started + up_for).await;
    if synced {
        api.put_configmap(NS, "web-config", &[("mode", "green")]);
        let deadline = Instant::now() + Duration::from_secs(30);
        while patched(&api, "deployments", NS, "web") == 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        println!("ready");
    } else {
        eprintln!("watch_fixture: the watcher did not sync");
    }
    let left = up_for.saturating_sub(started.elapsed());
    if synced {
        // Stopped early by SIGTERM or Ctrl-C: the child goes with it.
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            () = tokio::time::sleep(left) => {}
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    _ = child.kill();
    _ = child.wait();
    std::process::exit(i32::from(!synced));
}

/// Polls `/metrics` on `ops` until a line equals `line`, or `deadline` passes.
async fn wait_for(ops: &str, line: &str, deadline: Instant) -> bool {
    let Ok(addr) = ops.parse() else { return false };
    while Instant::now() < deadline {
        // The helper panics when nothing listens yet: connect first.
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            let get = tokio::spawn(common::client::http_get(addr, "/metrics"));
            if let Ok(Ok(response)) = tokio::time::timeout(Duration::from_secs(2), get).await
                && response.text().lines().any(|l| l == line)
            {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}
