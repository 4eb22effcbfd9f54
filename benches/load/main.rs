//! Load tests of the real server. Does nothing under a bare `cargo bench`; run through
//! `scripts/bench.sh`, or directly:
//!
//! ```text
//! cargo bench --bench load -- fixtures DIR   # ConfigMaps, certificates, DIR/reviews
//! cargo bench --bench load -- rate --addr 127.0.0.1:8443 --ca ca.crt --body benches/data/update-review.json \
//!     --rate 500 --duration 20s --pid PID --core
//! cargo bench --bench load -- cluster --rate 500 --duration 20s
//! ```
//!
//! Each run prints a human summary and one `RESULT {json}` line for the script.

mod client;
mod cluster;
mod items;
mod proc;
#[path = "../support/mod.rs"]
mod support;

use std::{
    net::SocketAddr,
    path::PathBuf,
    time::{Duration, Instant},
};

use clap::{Parser, Subcommand};
use client::{Run, Target};
use confighash::admission::Options;
use serde_json::{Value, json};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write the benchmark ConfigMaps (1, 10 and 100 KiB) into DIR/configmaps, for
    /// --configmaps-from, a CA and localhost certificate into DIR/certs, and the UPDATE
    /// review narrowed to one key of the 100 KiB ConfigMap into DIR/reviews.
    Fixtures { dir: PathBuf },
    /// Load a running server over keep-alive HTTPS.
    Rate(RateArgs),
    /// The cluster source against the fake API server, compared with the directory source.
    Cluster(cluster::ClusterArgs),
}

#[derive(clap::Args)]
struct RateArgs {
    #[arg(long, default_value = "127.0.0.1:8443")]
    addr: SocketAddr,
    /// CA that signed the server's certificate (for the name localhost).
    #[arg(long)]
    ca: PathBuf,
    /// The AdmissionReview to POST.
    #[arg(long, default_value = "benches/data/update-review.json")]
    body: PathBuf,
    #[arg(long, default_value = "/mutate?timeout=10s")]
    path: String,
    /// Requests per second, open loop; 0 for closed-loop saturation.
    #[arg(long, default_value_t = 500.0)]
    rate: f64,
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Unmeasured run at the same rate first.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// The server's pid, for CPU time and peak RSS.
    #[arg(long)]
    pid: Option<u32>,
    /// Also time the pure core on the body in this process, for the server/core ratio.
    #[arg(long)]
    core: bool,
}

fn main() {
    // `cargo bench` passes --bench to every bench target; without a command there is nothing to do.
    let args: Vec<String> = std::env::args().filter(|a| a != "--bench").collect();
    if args.len() < 2 {
        eprintln!("load: no command; see scripts/bench.sh (skipped under a bare `cargo bench`)");
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    match Cli::parse_from(args).command {
        Command::Fixtures { dir } => {
            support::write_configmaps(&dir.join("configmaps")).expect("write ConfigMaps");
            confighash::tls::dev::generate(&dir.join("certs"), &[]).expect("write certificates");
            let web_config = support::configmap("web-config", 100 << 10);
            assert!(
                web_config.data.is_some_and(|d| d.contains_key(items::KEY)),
                "web-config has no key {}",
                items::KEY
            );
            items::write(
                &dir.join("reviews"),
                support::UPDATE,
                env!("CARGO_MANIFEST_DIR").as_ref(),
            )
            .unwrap_or_else(|e| panic!("items review: {e}"));
        }
        Command::Rate(args) => rate(args),
        Command::Cluster(args) => cluster::run(args),
    }
}

fn client_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs `rate` (open loop) or saturation (`rate == 0`) against `target`.
fn load(
    rt: &tokio::runtime::Runtime,
    target: &Target,
    rate: f64,
    duration: Duration,
    connections: usize,
) -> Run {
    rt.block_on(async {
        if rate > 0.0 {
            client::fixed_rate(target, rate, duration, connections).await
        } else {
            client::saturate(target, duration, connections).await
        }
    })
}

fn rate(args: RateArgs) {
    let body = std::fs::read(&args.body).expect("read --body");
    let core_us = args.core.then(|| core_micros(&body, Duration::from_secs(3)));
    let target = Target::new(args.addr, &args.ca, &args.path, body);
    let rt = client_runtime();
    if !args.warmup.is_zero() {
        load(&rt, &target, args.rate, args.warmup, args.connections);
    }
    let pid = args.pid.map(|p| p.to_string());
    let cpu_before = pid.as_deref().map(proc::cpu_time);
    let self_before = proc::cpu_time("self");
    let run = load(&rt, &target, args.rate, args.duration, args.connections);
    let client_cpu = proc::cpu_time("self") - self_before;
    let mut result = summary(&run);
    result["mode"] = json!(if args.rate > 0.0 {
        "fixed-rate"
    } else {
        "saturation"
    });
    result["target_rate"] = json!(args.rate);
    result["connections"] = json!(args.connections);
    result["body_bytes"] = json!(target.body.len());
    result["client_cpu_us_per_review"] = json!(per_review_us(client_cpu, &run));
    if let (Some(pid), Some(before)) = (pid.as_deref(), cpu_before) {
        let server_us = per_review_us(proc::cpu_time(pid) - before, &run);
        result["server_cpu_us_per_review"] = json!(server_us);
        result["server_peak_rss_kib"] = json!(proc::peak_rss_kib(pid));
        if let Some(core_us) = core_us {
            result["core_us_per_review"] = json!(core_us);
            result["server_over_core"] = json!(server_us / core_us);
        }
    }
    report(&result);
}

/// Microseconds per review of the pure core, single-threaded, for about `budget`.
fn core_micros(body: &[u8], budget: Duration) -> f64 {
    let (lookups, opts) = (support::lookups(), Options::default());
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < budget {
        std::hint::black_box(support::whole_core(body, &lookups, &opts));
        n += 1;
    }
    started.elapsed().as_secs_f64() * 1e6 / n as f64
}

fn per_review_us(cpu: Duration, run: &Run) -> f64 {
    cpu.as_secs_f64() * 1e6 / run.count().max(1) as f64
}

/// Throughput, errors and latency percentiles of a run.
fn summary(run: &Run) -> Value {
    json!({
        "requests": run.count(),
        "errors": run.errors,
        "seconds": run.elapsed.as_secs_f64(),
        "throughput": run.count() as f64 / run.elapsed.as_secs_f64(),
        "p50_ms": run.ms(50.0),
        "p99_ms": run.ms(99.0),
        "p99_9_ms": run.ms(99.9),
        "max_ms": run.latency.max() as f64 / 1e6,
    })
}

fn report(result: &Value) {
    let pretty: Vec<String> = result
        .as_object()
        .expect("object")
        .iter()
        .map(|(k, v)| match v.as_f64() {
            Some(f) if v.is_f64() => format!("{k}={f:.3}"),
            _ => format!("{k}={v}"),
        })
        .collect();
    eprintln!("{}", pretty.join(" "));
    println!("RESULT {result}");
}
