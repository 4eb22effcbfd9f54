//! Memory and latency of `confighash serve --watch` (contract §9), measured on the real
//! binary as a child process against the in-process fake API server: its peak RSS (VmHWM)
//! once it has listed 20,000 ConfigMaps of 10 KiB each, the bytes the API server sent it
//! until then (per request kind), and the time from a ConfigMap write to the workload
//! PATCH at `--debounce 0s` and at the default 5 s.
//!
//! `cargo build --release --bin confighash --example watch_memory && cargo run --release
//! --example watch_memory`. Environment: `CONFIGMAPS=N` for another count (0 for none);
//! `UNSELECTED_MIB=N` adds N ConfigMaps of 1 MiB in a namespace that is not opted in;
//! `LATENCY=0` skips the write-to-patch samples; `CONFIGHASH_BIN=path` measures another
//! build of the binary. Not a test: it reports numbers and asserts nothing about them.

#[path = "../tests/it/common/mod.rs"]
#[allow(dead_code, unused_imports)] // each example uses a part of the harness
mod common;

use std::{
    io::BufRead,
    net::SocketAddr,
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use common::{fake_api::FakeApi, process::binary, watcher::*};

const NAMESPACES: usize = 20;
const WORKLOADS_PER_NAMESPACE: usize = 10;
const REFERENCES_PER_WORKLOAD: usize = 5;
const VALUE_BYTES: usize = 10 * 1024;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let count = env_number("CONFIGMAPS").unwrap_or(20_000);
    let unselected = env_number("UNSELECTED_MIB").unwrap_or(0);
    let latency = env_number("LATENCY") != Some(0);
    let api = FakeApi::start().await;
    let loaded = Instant::now();
    load(&api, count, unselected).await;
    println!(
        "fake API server: {count} ConfigMaps x {} KiB in {NAMESPACES} namespaces, {} workloads, \
         {unselected} ConfigMaps x 1 MiB in a namespace not opted in ({:.1}s to load)",
        VALUE_BYTES / 1024,
        NAMESPACES * WORKLOADS_PER_NAMESPACE,
        loaded.elapsed().as_secs_f64()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    for debounce in ["0s", "5s"] {
        let before = api.bytes_sent();
        let mut child = Watcher::spawn(&api, dir.path(), debounce);
        let started = Instant::now();
        child.synced().await;
        let synced = started.elapsed();
        report_bytes(&before, &api.bytes_sent());
        let (hwm, rss) = child.memory();
        let held = child
            .metric(r#"confighash_watch_objects{kind="configmap"}"#)
            .await;
        println!(
            "--debounce {debounce}: synced in {:.1}s holding {held} ConfigMaps; peak RSS (VmHWM) {:.1} MiB, RSS now {:.1} MiB",
            synced.as_secs_f64(),
            hwm as f64 / 1024.0,
            rss as f64 / 1024.0
        );
        if !latency {
            child.stop();
            break;
        }
        let samples = latencies(&api, debounce).await;
        let (hwm, _) = child.memory();
        println!(
            "--debounce {debounce}: ConfigMap write -> workload PATCH over {} samples: median {:.0} ms, min {:.0} ms, max {:.0} ms; VmHWM after rollouts {:.1} MiB",
            samples.len(),
            median(&samples),
            samples.iter().copied().fold(f64::MAX, f64::min),
            samples.iter().copied().fold(0.0, f64::max),
            hwm as f64 / 1024.0
        );
        child.stop();
    }
}

fn env_number(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Prints the bytes the fake API server sent between two snapshots, per request kind.
fn report_bytes(
    before: &std::collections::BTreeMap<common::fake_api::RequestKind, u64>,
    after: &std::collections::BTreeMap<common::fake_api::RequestKind, u64>,
) {
    let mut total = 0;
    let mut parts = Vec::new();
    for (kind, bytes) in after {
        let sent = bytes - before.get(kind).copied().unwrap_or(0);
        if sent > 0 && kind.verb != "write" {
            total += sent;
            parts.push(format!("{kind} {:.2} MB", sent as f64 / 1e6));
        }
    }
    println!(
        "  bytes read until synced: {:.2} MB ({})",
        total as f64 / 1e6,
        parts.join(", ")
    );
}

fn name(ns: usize, i: usize) -> (String, String) {
    (format!("bench-{ns:02}"), format!("cm-{i:05}"))
}

async fn load(api: &FakeApi, count: usize, unselected: usize) {
    api.put_namespace("confighash-system", &[]);
    api.put_namespace("dashboards", &[]);
    for i in 0..unselected {
        let value = format!("{i:08}-{}", "d".repeat(1024 * 1024 - 9));
        api.put_configmap(
            "dashboards",
            &format!("dashboard-{i:03}"),
            &[("dashboard.json", &value)],
        );
    }
    for ns in 0..NAMESPACES {
        opt_in(api, &format!("bench-{ns:02}"));
    }
    for i in 0..count {
        let (ns, cm) = name(i % NAMESPACES, i);
        let value = format!("{i:08}-{}", "x".repeat(VALUE_BYTES - 9));
        api.put_configmap(&ns, &cm, &[("config", &value)]);
    }
    for ns in 0..NAMESPACES {
        for w in 0..WORKLOADS_PER_NAMESPACE {
            let namespace = format!("bench-{ns:02}");
            let containers: Vec<_> = (0..REFERENCES_PER_WORKLOAD)
                .map(|r| {
                    let i = ns + NAMESPACES * (w * REFERENCES_PER_WORKLOAD + r);
                    env_from(&name(ns, i % count.max(1)).1)
                })
                .collect();
            let mut manifest = workload(
                "Deployment",
                &namespace,
                &format!("web-{w}"),
                containers[0].clone(),
            );
            manifest["spec"]["template"]["spec"]["containers"] = serde_json::json!(containers);
            put_stamped(api, manifest).await;
        }
    }
    // Start the watcher on a compacted history, as a long-running API server would be.
    api.compact();
}

/// Writes the first ConfigMap of a different workload each time and waits for its PATCH.
async fn latencies(api: &FakeApi, debounce: &str) -> Vec<f64> {
    let samples = if debounce == "0s" { 10 } else { 3 };
    let mut out = Vec::new();
    for s in 0..samples {
        let ns = s % NAMESPACES;
        let w = (s / NAMESPACES) % WORKLOADS_PER_NAMESPACE;
        let i = ns + NAMESPACES * (w * REFERENCES_PER_WORKLOAD);
        let (namespace, cm) = name(ns, i);
        let workload = format!("web-{w}");
        let before = patched(api, "deployments", &namespace, &workload);
        let value = format!("{debounce}-{s}-{}", "y".repeat(VALUE_BYTES));
        let written = Instant::now();
        api.put_configmap(&namespace, &cm, &[("config", &value)]);
        while patched(api, "deployments", &namespace, &workload) == before {
            assert!(written.elapsed() < Duration::from_secs(60), "no PATCH within 60s");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        out.push(written.elapsed().as_secs_f64() * 1e3);
        // Stay clear of --max-rollouts-per-second (2): each sample measures one lone write.
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    out
}

fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

/// `confighash serve --dev --watch` as a child process with KUBECONFIG on the fake server.
struct Watcher {
    child: Child,
    ops: SocketAddr,
}

impl Watcher {
    fn spawn(api: &FakeApi, dir: &std::path::Path, debounce: &str) -> Self {
        let kubeconfig = api.kubeconfig(dir, "default");
        let mut command = match std::env::var_os("CONFIGHASH_BIN") {
            Some(path) => std::process::Command::new(path),
            None => binary(),
        };
        let mut child = command
            .args([
                "serve",
                "--dev",
                "--listen",
                "127.0.0.1:0",
                "--metrics-listen",
                "127.0.0.1:0",
            ])
            .args([
                "--watch",
                "--debounce",
                debounce,
                "--lease-namespace",
                "confighash-system",
            ])
            .args(["--lease-identity", "bench", "--log-format", "json"])
            .arg("--dev-cert-dir")
            .arg(dir.join("certs"))
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "warn,confighash=info")
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn confighash");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                let entry: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
                if entry["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("ops listening"))
                {
                    _ = tx.send(entry["address"].as_str().unwrap_or_default().to_owned());
                }
            }
        });
        let address = rx.recv_timeout(Duration::from_secs(30)).expect("ops address");
        Self {
            child,
            ops: address.parse().expect("address"),
        }
    }

    async fn synced(&self) {
        while self.metric("confighash_watch_synced").await != "1" {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// One series' value from the child's /metrics.
    async fn metric(&self, series: &str) -> String {
        let text = common::client::http_get(self.ops, "/metrics").await.text();
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ').map(str::to_owned));
        line.unwrap_or_default()
    }

    /// (VmHWM, VmRSS) in KiB.
    fn memory(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("status");
        let field = |name: &str| {
            let line = status.lines().find(|l| l.starts_with(name)).unwrap_or_default();
            line.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (field("VmHWM:"), field("VmRSS:"))
    }

    fn stop(&mut self) {
        _ = self.child.kill();
        _ = self.child.wait();
    }
}
