//! Peak memory (VmHWM) and behaviour of `confighash serve` under hostile or clumsy input
//! (contract §12), measured on the real binary as a child process: large and many
//! concurrent reviews, slow and stalled bodies, idle connections to the ops port and an
//! oversized `Expect: 100-continue` request. A fresh server runs each scenario, with
//! `--configmaps-from examples/configmaps` and a file-descriptor limit of 1,024 (what many
//! container runtimes give), so the figures of one scenario do not carry into the next.
//!
//! `cargo build --release --bin confighash --example hostile_load && cargo run --release
//! --example hostile_load` (SCENARIOS=name,name to run some; BINARY=path to measure another
//! build). Needs about 12,000 open files for itself (`ulimit -n 12000`). Not a test: it
//! reports numbers and asserts nothing about them.

#[path = "../tests/it/common/mod.rs"]
#[allow(dead_code, unused_imports)] // each example uses a part of the harness
mod common;

use std::{
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use common::{client::client_config, fixtures::create_review, process::binary, repo};
use rustls::pki_types::ServerName;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tokio_rustls::{TlsConnector, client::TlsStream};

const MIB: usize = 1 << 20;
const SERVER_FD_LIMIT: u32 = 1024;

fn main() {
    common::setup();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

type Scenario = (&'static str, fn() -> futures::future::BoxFuture<'static, ()>);

async fn run() {
    let only = std::env::var("SCENARIOS").ok();
    let scenarios: [Scenario; 10] = [
        ("env-3mb", || Box::pin(env_reviews(3_000_000, 1))),
        ("env-8mib", || Box::pin(env_reviews(8 * MIB - 4096, 1))),
        ("env-8mib-x32", || Box::pin(env_reviews(8 * MIB - 4096, 32))),
        ("string-8mib-x32", || Box::pin(string_reviews(32))),
        ("containers-8mib-x4", || Box::pin(container_reviews(4))),
        ("slow-bodies-1600", || Box::pin(slow_bodies(1600))),
        ("stalled-8mib-x16", || Box::pin(stalled_bodies(16))),
        ("stalled-8mib-x64", || Box::pin(stalled_bodies(64))),
        ("idle-ops-5000", || Box::pin(idle_ops(5000))),
        ("expect-continue", || Box::pin(expect_continue())),
    ];
    for (name, scenario) in scenarios {
        if only.as_deref().is_some_and(|o| !o.split(',').any(|s| s == name)) {
            continue;
        }
        println!("== {name}");
        scenario().await;
    }
}

/// A `serve --dev` child with its addresses and CA.
struct Serve {
    child: Child,
    webhook: SocketAddr,
    ops: SocketAddr,
    tls: TlsConnector,
    _dir: tempfile::TempDir,
}

impl Serve {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let program = std::env::var_os("BINARY")
            .map(PathBuf::from)
            .unwrap_or_else(|| binary().get_program().into());
        let configmaps = repo().join("examples/configmaps");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -n {SERVER_FD_LIMIT} && exec \"$0\" \"$@\""))
            .arg(program)
            .args(["serve", "--dev", "--listen", "127.0.0.1:0"])
            .args(["--metrics-listen", "127.0.0.1:0", "--log-format", "json"])
            .arg("--dev-cert-dir")
            .arg(dir.path())
            .arg("--configmaps-from")
            .arg(configmaps)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn confighash");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                let entry: Value = serde_json::from_str(&line).unwrap_or_default();
                let address = entry["address"]
                    .as_str()
                    .and_then(|a| a.parse::<SocketAddr>().ok());
                match (entry["message"].as_str(), address) {
                    (Some(m), Some(a)) if m.starts_with("webhook listening") => _ = tx.send((true, a)),
                    (Some(m), Some(a)) if m.starts_with("ops listening") => _ = tx.send((false, a)),
                    _ => {}
                }
            }
        });
        let (mut webhook, mut ops) = (None, None);
        while webhook.is_none() || ops.is_none() {
            match rx.recv_timeout(Duration::from_secs(20)).expect("start-up log") {
                (true, a) => webhook = Some(a),
                (false, a) => ops = Some(a),
            }
        }
        let config = client_config(&dir.path().join("ca.crt"), rustls::ALL_VERSIONS);
        Self {
            child,
            webhook: webhook.expect("webhook"),
            ops: ops.expect("ops"),
            tls: TlsConnector::from(Arc::new(config)),
            _dir: dir,
        }
    }

    /// (VmHWM, VmRSS) in MiB.
    fn memory(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
                .unwrap_or(f64::NAN)
                / 1024.0
        };
        (field("VmHWM:"), field("VmRSS:"))
    }

    fn report(&self, what: &str) {
        let (hwm, rss) = self.memory();
        println!("   peak RSS (VmHWM) {hwm:.1} MiB, RSS now {rss:.1} MiB {what}");
    }

    async fn tls(&self) -> std::io::Result<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(self.webhook).await?;
        let name = ServerName::try_from("localhost").expect("name");
        tokio::time::timeout(Duration::from_secs(20), self.tls.connect(name, tcp))
            .await
            .map_err(|_| std::io::Error::other("TLS handshake timed out"))?
    }

    /// POSTs `body` with `Connection: close`; the status (0 on a transport error) and time.
    async fn post(&self, body: &[u8]) -> (u16, Duration) {
        let started = Instant::now();
        let status = async {
            let mut tls = self.tls().await?;
            tls.write_all(&headers(body.len(), "Connection: close\r\n"))
                .await?;
            tls.write_all(body).await?;
            // rustls keeps the last record until a flush.
            tls.flush().await?;
            let mut reply = Vec::new();
            _ = tls.read_to_end(&mut reply).await;
            Ok::<_, std::io::Error>(status(&reply))
        };
        let status = tokio::time::timeout(Duration::from_secs(120), status).await;
        (status.ok().and_then(Result::ok).unwrap_or(0), started.elapsed())
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        _ = self.child.kill();
        _ = self.child.wait();
    }
}

async fn write_flushed(w: &mut (impl tokio::io::AsyncWrite + Unpin), bytes: &[u8]) -> std::io::Result<()> {
    w.write_all(bytes).await?;
    w.flush().await
}

fn headers(length: usize, extra: &str) -> Vec<u8> {
    format!(
        "POST /mutate?timeout=10s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n{extra}\r\n"
    )
    .into_bytes()
}

fn status(reply: &[u8]) -> u16 {
    let line = String::from_utf8_lossy(&reply[..reply.len().min(64)]).into_owned();
    line.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A CREATE review of about `size` bytes whose first container has small `env` entries.
fn env_review(size: usize) -> Vec<u8> {
    let mut review = create_review();
    let base = serde_json::to_vec(&review).expect("json").len();
    let entry = |i: usize| json!({"name": format!("VAR_{i:06}"), "value": "x"});
    let each = serde_json::to_vec(&entry(0)).expect("json").len() + 1;
    let env: Vec<Value> = (0..(size - base) / each).map(entry).collect();
    review["request"]["object"]["spec"]["template"]["spec"]["containers"][0]["env"] = Value::Array(env);
    serde_json::to_vec(&review).expect("json")
}

/// A CREATE review of just under 8 MiB whose bulk is empty containers (`{}`): the list
/// element that would cost the decode most per byte if elements without a reference site
/// were kept.
fn container_review() -> Vec<u8> {
    let mut review = create_review();
    let base = serde_json::to_vec(&review).expect("json").len();
    let containers = &mut review["request"]["object"]["spec"]["template"]["spec"]["containers"];
    let list = containers.as_array_mut().expect("containers");
    list.extend(std::iter::repeat_n(json!({}), (8 * MIB - 4096 - base) / 3));
    serde_json::to_vec(&review).expect("json")
}

/// A CREATE review of just under 8 MiB whose bulk is one annotation value.
fn string_review() -> Vec<u8> {
    let mut review = create_review();
    let base = serde_json::to_vec(&review).expect("json").len();
    let blob = "x".repeat(8 * MIB - 4096 - base);
    review["request"]["object"]["metadata"]["annotations"]["example.com/blob"] = json!(blob);
    serde_json::to_vec(&review).expect("json")
}

async fn env_reviews(size: usize, concurrent: usize) {
    let body = Arc::new(env_review(size));
    println!(
        "   {concurrent} concurrent CREATE review(s) of {} bytes, {} env entries",
        body.len(),
        (size - 1500) / 33
    );
    many(body, concurrent).await;
}

async fn string_reviews(concurrent: usize) {
    let body = Arc::new(string_review());
    println!(
        "   {concurrent} concurrent CREATE reviews of {} bytes with one large annotation",
        body.len()
    );
    many(body, concurrent).await;
}

async fn container_reviews(concurrent: usize) {
    let body = Arc::new(container_review());
    println!(
        "   {concurrent} concurrent CREATE reviews of {} bytes of empty containers",
        body.len()
    );
    many(body, concurrent).await;
}

async fn many(body: Arc<Vec<u8>>, concurrent: usize) {
    let serve = Arc::new(Serve::start());
    serve.report("at start");
    let tasks: Vec<_> = (0..concurrent)
        .map(|_| {
            let (serve, body) = (serve.clone(), body.clone());
            tokio::spawn(async move { serve.post(&body).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("task"));
    }
    answers.sort_by_key(|(_, t)| *t);
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for (status, _) in &answers {
        *statuses.entry(*status).or_default() += 1;
    }
    println!(
        "   answers {statuses:?} (status: count; 0 = no answer); times min {:.2}s, median {:.2}s, max {:.2}s",
        answers[0].1.as_secs_f64(),
        answers[answers.len() / 2].1.as_secs_f64(),
        answers[answers.len() - 1].1.as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    serve.report("after the answers");
    // A refusal comes before the body is read, so a client still sending its body may see
    // the connection reset instead of the 503: the server's own count says what happened.
    println!("   refused by the server: {}", refusals(serve.ops).await);
}

/// The `confighash_refused_total` lines of `/metrics`, or "none".
async fn refusals(ops: SocketAddr) -> String {
    let metrics = async {
        let mut tcp = TcpStream::connect(ops).await?;
        tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await?;
        let mut reply = Vec::new();
        tcp.read_to_end(&mut reply).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&reply).into_owned())
    };
    let text = tokio::time::timeout(Duration::from_secs(5), metrics)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("confighash_refused_total{"))
        .collect();
    if lines.is_empty() {
        "none".into()
    } else {
        lines.join(", ")
    }
}

/// Watches a connection: the time at which the server closed it (EOF, error or an answer).
async fn closed_at(
    mut reader: impl AsyncRead + Unpin,
    started: Instant,
    closed: Arc<AtomicUsize>,
) -> Duration {
    let mut buf = [0u8; 1024];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => continue,
        }
    }
    closed.fetch_add(1, Ordering::Relaxed);
    started.elapsed()
}

/// Half the connections send one body byte a second, half nothing, after headers that
/// announce 8,388,000 bytes. All connect at once; connections over the server's cap wait.
async fn slow_bodies(count: usize) {
    const WATCH: Duration = Duration::from_secs(40);
    let serve = Arc::new(Serve::start());
    serve.report("at start");
    let started = Instant::now();
    let (opened, closed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let tasks: Vec<_> = (0..count)
        .map(|i| {
            let (serve, opened, closed) = (serve.clone(), opened.clone(), closed.clone());
            tokio::spawn(async move {
                let run = async {
                    let mut tls = serve.tls().await.ok()?;
                    write_flushed(&mut tls, &headers(8_388_000, "")).await.ok()?;
                    opened.fetch_add(1, Ordering::Relaxed);
                    let (reader, mut writer) = tokio::io::split(tls);
                    let trickle = async {
                        loop {
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            if i % 2 == 0 && write_flushed(&mut writer, b" ").await.is_err() {
                                std::future::pending::<()>().await;
                            }
                        }
                    };
                    tokio::select! {
                        at = closed_at(reader, started, closed) => Some(at),
                        () = trickle => None,
                    }
                };
                tokio::time::timeout(WATCH, run).await.ok().flatten()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(10)).await;
    serve.report(&format!(
        "10 s in: {} of {count} connections have sent their headers",
        opened.load(Ordering::Relaxed)
    ));
    let mut times = Vec::new();
    for task in tasks {
        times.extend(task.await.expect("task"));
    }
    let latest = times.iter().max().map_or(0.0, Duration::as_secs_f64);
    println!(
        "   within {}s: {} of {count} sent their headers, {} were closed by the server (last at {latest:.1}s)",
        WATCH.as_secs(),
        opened.load(Ordering::Relaxed),
        closed.load(Ordering::Relaxed),
    );
    serve.report("at the end");
}

/// Connections that send all but one byte of an 8 MiB body, then stop.
async fn stalled_bodies(count: usize) {
    const WATCH: Duration = Duration::from_secs(25);
    let serve = Arc::new(Serve::start());
    serve.report("at start");
    let body = Arc::new(vec![b' '; 8 * MIB - 1]);
    let started = Instant::now();
    let closed = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..count)
        .map(|_| {
            let (serve, body, closed) = (serve.clone(), body.clone(), closed.clone());
            tokio::spawn(async move {
                let tls = serve.tls().await.ok()?;
                let (reader, mut writer) = tokio::io::split(tls);
                let send = async {
                    _ = writer.write_all(&headers(8 * MIB, "")).await;
                    _ = write_flushed(&mut writer, &body).await;
                    std::future::pending::<()>().await
                };
                tokio::select! {
                    at = closed_at(reader, started, closed) => Some(at),
                    () = send => None,
                    () = tokio::time::sleep(WATCH) => None,
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(8)).await;
    serve.report(&format!("8 s after {count} connections began to send"));
    let mut times = Vec::new();
    for task in tasks {
        times.extend(task.await.expect("task"));
    }
    let latest = times.iter().max().map_or(0.0, Duration::as_secs_f64);
    println!(
        "   closed by the server within {}s: {} of {count} (last at {latest:.1}s)",
        WATCH.as_secs(),
        closed.load(Ordering::Relaxed)
    );
    serve.report("at the end");
}

/// Idle TCP connections to the ops port; meanwhile `/healthz` and a webhook review.
async fn idle_ops(count: usize) {
    const WATCH: Duration = Duration::from_secs(25);
    let serve = Serve::start();
    serve.report("at start");
    let ops = serve.ops;
    let connects: Vec<_> = (0..count)
        .map(|_| {
            tokio::spawn(tokio::time::timeout(
                Duration::from_secs(5),
                TcpStream::connect(ops),
            ))
        })
        .collect();
    let (mut streams, mut failed) = (Vec::new(), 0);
    for connect in connects {
        match connect.await.expect("task") {
            Ok(Ok(tcp)) => streams.push(tcp),
            _ => failed += 1,
        }
    }
    let started = Instant::now();
    let closed = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = streams
        .into_iter()
        .map(|tcp| {
            let closed = closed.clone();
            tokio::spawn(async move {
                tokio::time::timeout(WATCH, closed_at(tcp, started, closed))
                    .await
                    .ok()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let probe = tokio::time::timeout(Duration::from_secs(5), healthz(ops)).await;
    let review = common::fixtures::bytes(&create_review());
    let webhook = tokio::time::timeout(Duration::from_secs(5), serve.post(&review)).await;
    println!(
        "   {} idle connections open ({failed} failed); /healthz: {}; a review: {}",
        count - failed,
        match probe {
            Ok(Ok(s)) => format!("HTTP {s}"),
            Ok(Err(e)) => format!("error {e}"),
            Err(_) => "no answer in 5 s".into(),
        },
        match webhook {
            Ok((0, _)) => "transport error".into(),
            Ok((s, t)) => format!("HTTP {s} in {:.2}s", t.as_secs_f64()),
            Err(_) => "no answer in 5 s".into(),
        }
    );
    serve.report("with the idle connections open");
    tokio::time::sleep(Duration::from_secs(12)).await;
    let later = tokio::time::timeout(Duration::from_secs(5), healthz(ops)).await;
    println!(
        "   /healthz 13 s after the connections opened (still open on the client side): {}",
        match later {
            Ok(Ok(s)) => format!("HTTP {s}"),
            Ok(Err(e)) => format!("error {e}"),
            Err(_) => "no answer in 5 s".into(),
        }
    );
    for task in tasks {
        _ = task.await;
    }
    println!(
        "   closed by the server within {}s: {} of {}",
        WATCH.as_secs(),
        closed.load(Ordering::Relaxed),
        count - failed
    );
}

async fn healthz(ops: SocketAddr) -> std::io::Result<u16> {
    let mut tcp = TcpStream::connect(ops).await?;
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut reply = Vec::new();
    tcp.read_to_end(&mut reply).await?;
    Ok(status(&reply))
}

/// Headers with `Expect: 100-continue` and a Content-Length above the limit: the first
/// status line the server sends.
async fn expect_continue() {
    let serve = Serve::start();
    let answer = async {
        let mut tls = serve.tls().await?;
        write_flushed(&mut tls, &headers(100 * MIB, "Expect: 100-continue\r\n")).await?;
        let mut reply = vec![0u8; 256];
        let n = tls.read(&mut reply).await?;
        Ok::<_, std::io::Error>(
            String::from_utf8_lossy(&reply[..n])
                .lines()
                .next()
                .unwrap_or("")
                .to_owned(),
        )
    };
    match tokio::time::timeout(Duration::from_secs(5), answer).await {
        Ok(Ok(line)) => println!("   Content-Length 100 MiB with Expect: 100-continue: first line {line:?}"),
        Ok(Err(e)) => println!("   Content-Length 100 MiB with Expect: 100-continue: error {e}"),
        Err(_) => println!("   Content-Length 100 MiB with Expect: 100-continue: nothing in 5 s"),
    }
}
