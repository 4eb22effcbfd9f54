//! An HTTPS/1.1 load client on keep-alive connections (tokio-rustls + hyper).
//!
//! Fixed rate is open loop: a pacer thread releases request `i` at `start + i / rate` to
//! connection `i mod n`, and latency is measured from that intended time, so a slow answer
//! delays the requests queued behind it and they count it (no coordinated omission).
//! Saturation is closed loop: every connection sends its next request as soon as the last
//! answer is read, and latency is measured from the send.

use std::{
    net::SocketAddr,
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::{Request, client::conn::http1::SendRequest};
use hyper_util::rt::TokioIo;
use rustls::{
    ClientConfig, RootCertStore,
    pki_types::{CertificateDer, ServerName, pem::PemObject},
};
use tokio::{net::TcpStream, sync::mpsc};
use tokio_rustls::TlsConnector;

type Sender = SendRequest<Full<Bytes>>;

/// Where and what to POST.
#[derive(Clone)]
pub struct Target {
    /// Server address (127.0.0.1 only).
    pub addr: SocketAddr,
    /// TLS client configuration trusting the server's CA.
    pub tls: Arc<ClientConfig>,
    /// Request path and query.
    pub path: String,
    /// Request body.
    pub body: Bytes,
}

impl Target {
    /// A target trusting the PEM CA at `ca` for the name `localhost`.
    pub fn new(addr: SocketAddr, ca: &Path, path: &str, body: Vec<u8>) -> Self {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca).expect("CA file") {
            roots.add(cert.expect("CA PEM")).expect("add CA");
        }
        let tls = ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Self {
            addr,
            tls: Arc::new(tls),
            path: path.to_owned(),
            body: Bytes::from(body),
        }
    }

    async fn connect(&self) -> std::io::Result<Sender> {
        let tcp = TcpStream::connect(self.addr).await?;
        tcp.set_nodelay(true)?;
        let name = ServerName::try_from("localhost").expect("server name");
        let tls = TlsConnector::from(self.tls.clone()).connect(name, tcp).await?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(conn);
        Ok(sender)
    }

    /// One POST; `Ok(true)` for a 200 with a body.
    async fn post(&self, sender: &mut Sender) -> Result<bool, hyper::Error> {
        let request = Request::post(self.path.as_str())
            .header("host", "localhost")
            .header("content-type", "application/json")
            .body(Full::new(self.body.clone()))
            .expect("request");
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let ok = response.status() == 200;
        let body = response.into_body().collect().await?.to_bytes();
        Ok(ok && !body.is_empty())
    }
}

/// Latencies and counts of one run.
pub struct Run {
    /// Latency in nanoseconds of every answered request.
    pub latency: Histogram<u64>,
    /// Answers that were not a 200 with a body, and transport errors.
    pub errors: u64,
    /// From the first intended send to the last answer.
    pub elapsed: Duration,
}

impl Run {
    fn new() -> Self {
        Self {
            latency: Histogram::new_with_bounds(1_000, 120_000_000_000, 3).expect("histogram"),
            errors: 0,
            elapsed: Duration::ZERO,
        }
    }

    /// Answered requests.
    pub fn count(&self) -> u64 {
        self.latency.len()
    }

    /// Latency at `q` (0–100) in milliseconds.
    pub fn ms(&self, q: f64) -> f64 {
        self.latency.value_at_percentile(q) as f64 / 1e6
    }

    fn merge(&mut self, other: Run) {
        self.latency.add(other.latency).expect("same bounds");
        self.errors += other.errors;
    }
}

/// One connection's loop: wait for the next intended time, send, record.
async fn open_loop_conn(target: Target, mut next: mpsc::UnboundedReceiver<Instant>) -> Run {
    let mut run = Run::new();
    let mut sender = target.connect().await.expect("connect");
    while let Some(intended) = next.recv().await {
        match target.post(&mut sender).await {
            Ok(ok) => {
                run.latency
                    .saturating_record(intended.elapsed().as_nanos() as u64);
                run.errors += u64::from(!ok);
            }
            Err(_) => {
                run.errors += 1;
                sender = target.connect().await.expect("reconnect");
            }
        }
    }
    run
}

/// Sends `rate` requests per second for `duration` over `connections` connections.
pub async fn fixed_rate(target: &Target, rate: f64, duration: Duration, connections: usize) -> Run {
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..connections).map(|_| mpsc::unbounded_channel()).unzip();
    let tasks: Vec<_> = receivers
        .into_iter()
        .map(|rx| tokio::spawn(open_loop_conn(target.clone(), rx)))
        .collect();
    // Let every connection finish its handshake before the clock starts.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let start = pace(rate, duration, senders);
    let mut run = Run::new();
    for task in tasks {
        run.merge(task.await.expect("connection task"));
    }
    run.elapsed = start.elapsed();
    run
}

/// Intended send times at `rate` for `duration`, round-robin over `channels` channels, from a
/// thread of its own (tokio's timer has millisecond granularity, which would show as latency).
pub fn pacer(
    rate: f64,
    duration: Duration,
    channels: usize,
) -> (Instant, Vec<mpsc::UnboundedReceiver<Instant>>) {
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..channels).map(|_| mpsc::unbounded_channel()).unzip();
    (pace(rate, duration, senders), receivers)
}

fn pace(rate: f64, duration: Duration, senders: Vec<mpsc::UnboundedSender<Instant>>) -> Instant {
    let total = (rate * duration.as_secs_f64()).round() as u64;
    let start = Instant::now();
    std::thread::spawn(move || {
        for i in 0..total {
            let intended = start + Duration::from_secs_f64(i as f64 / rate);
            if let Some(wait) = intended.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            _ = senders[(i as usize) % senders.len()].send(intended);
        }
    });
    start
}

/// Every connection sends back to back for `duration`.
pub async fn saturate(target: &Target, duration: Duration, connections: usize) -> Run {
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let target = target.clone();
            tokio::spawn(async move {
                let mut run = Run::new();
                let mut sender = target.connect().await.expect("connect");
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    match target.post(&mut sender).await {
                        Ok(ok) => {
                            run.latency.saturating_record(sent.elapsed().as_nanos() as u64);
                            run.errors += u64::from(!ok);
                        }
                        Err(_) => {
                            run.errors += 1;
                            sender = target.connect().await.expect("reconnect");
                        }
                    }
                }
                run
            })
        })
        .collect();
    let mut run = Run::new();
    for task in tasks {
        run.merge(task.await.expect("connection task"));
    }
    run.elapsed = start.elapsed();
    run
}
