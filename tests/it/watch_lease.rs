//! One leader means one (contract §9): when the leader's Lease calls hang, are throttled
//! (429 and 503, which kube's client retries by itself) or lose their connection, it
//! stops acting within its renew deadline, before the other replica may take the Lease
//! over, and it does not take the Lease back once the fault clears. A rollout call that
//! hangs times out instead of holding up every rollout after it.

use crate::common;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use common::{
    eventually,
    fake_api::{FakeApi, faults::ClientFault},
    watcher::*,
};
use confighash::metrics::Metrics;
use tokio::{task::JoinHandle, time::Instant};

const NS: &str = "demo";
const IDS: [&str; 2] = ["replica-a", "replica-b"];

async fn cluster() -> FakeApi {
    let api = FakeApi::start().await;
    opt_in(&api, NS);
    api.put_namespace(LEASE_NAMESPACE, &[]);
    api.put_configmap(NS, "app", &[("a", "1")]);
    put_sentinel(&api, NS).await;
    put_stamped(&api, workload("Deployment", NS, "web", env_from("app"))).await;
    api
}

fn gauge(metrics: &Metrics) -> bool {
    let text = metrics.encode();
    text.lines().any(|l| l == "confighash_leader 1")
}

/// Both replicas' `confighash_leader`, sampled every 5 ms.
#[derive(Debug, Default)]
struct Timeline {
    /// When a replica's gauge changed, and to what.
    changes: Vec<(Instant, usize, bool)>,
    /// How long both gauges read 1 together.
    overlap: Duration,
}

impl Timeline {
    /// The changes as `replica-x→0/1 @ ms` since `origin`, for failure messages.
    fn describe(&self, origin: Instant) -> String {
        let at = |t: Instant| {
            t.saturating_duration_since(origin).as_millis() as i128
                - origin.saturating_duration_since(t).as_millis() as i128
        };
        let changes = self
            .changes
            .iter()
            .map(|(t, replica, leading)| format!("{}→{} @ {} ms", IDS[*replica], u8::from(*leading), at(*t)));
        changes.collect::<Vec<_>>().join(", ")
    }

    fn changes_of(&self, replica: usize) -> Vec<(Instant, bool)> {
        let of = self.changes.iter().filter(|c| c.1 == replica);
        of.map(|c| (c.0, c.2)).collect()
    }
}

struct Sampler {
    timeline: Arc<Mutex<Timeline>>,
    task: JoinHandle<()>,
}

impl Sampler {
    fn start(replicas: &[Watcher; 2]) -> Self {
        let metrics = [replicas[0].metrics.clone(), replicas[1].metrics.clone()];
        let timeline = Arc::new(Mutex::new(Timeline::default()));
        let shared = timeline.clone();
        let task = tokio::spawn(async move {
            let mut last = [gauge(&metrics[0]), gauge(&metrics[1])];
            let mut at = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(5)).await;
                let now = Instant::now();
                let seen = [gauge(&metrics[0]), gauge(&metrics[1])];
                let mut timeline = shared.lock().expect("lock");
                if seen == [true, true] {
                    // Counted from the previous sample when both were already leading.
                    timeline.overlap += if last == [true, true] {
                        now - at
                    } else {
                        Duration::ZERO
                    };
                }
                for replica in 0..2 {
                    if seen[replica] != last[replica] {
                        timeline.changes.push((now, replica, seen[replica]));
                    }
                }
                (last, at) = (seen, now);
            }
        });
        Self { timeline, task }
    }

    fn stop(self) -> Timeline {
        self.task.abort();
        std::mem::take(&mut *self.timeline.lock().expect("lock"))
    }
}

/// The test watcher's lease duration and its default renew deadline (two thirds of it).
const LEASE: Duration = Duration::from_secs(3);
const RENEW_DEADLINE: Duration = Duration::from_secs(2);

fn patched_web(api: &FakeApi) -> usize {
    patched(api, "deployments", NS, "web")
}

async fn the_leader_steps_down_before_the_other_takes_over(fault: ClientFault) {
    let api = cluster().await;
    let replicas = [
        Watcher::start(&api, config(IDS[0])),
        Watcher::start(&api, config(IDS[1])),
    ];
    eventually("a leader", async || replicas.iter().any(Watcher::leading)).await;
    let old = usize::from(!replicas[0].leading());
    let new = 1 - old;
    replicas[old].synced().await;
    let sampler = Sampler::start(&replicas);

    let faulted = Instant::now();
    api.set_client_fault(IDS[old], "/leases", Some(fault));
    eventually("the healthy replica takes over", async || replicas[new].leading()).await;
    replicas[new].synced().await;
    let after_takeover = api.requests().len();
    api.put_configmap(NS, "app", &[("a", "during the fault")]);
    barrier(&api, NS, 1).await;

    // The fault clears; the old leader gets two lease durations to take the Lease back.
    api.set_client_fault(IDS[old], "/leases", None);
    tokio::time::sleep(2 * LEASE).await;
    api.put_configmap(NS, "app", &[("a", "after the fault")]);
    barrier(&api, NS, 2).await;
    let timeline = sampler.stop();
    // Figures for `--nocapture`: when each gauge changed, counted from the fault.
    eprintln!(
        "{fault:?}: overlap {:?}; {}",
        timeline.overlap,
        timeline.describe(faulted)
    );

    assert_eq!(
        timeline.overlap,
        Duration::ZERO,
        "both replicas led at once ({fault:?}); leader gauges since the fault: {}",
        timeline.describe(faulted)
    );
    let stepped_down = timeline.changes_of(old);
    assert!(
        matches!(stepped_down.as_slice(), [(_, false)]),
        "the faulty replica stepped down once and never led again ({fault:?}): {stepped_down:?}"
    );
    let within = stepped_down[0].0 - faulted;
    assert!(
        within <= RENEW_DEADLINE + Duration::from_millis(500),
        "stepped down {within:?} after the fault, past its renew deadline ({fault:?})"
    );
    let took_over = timeline.changes_of(new);
    assert!(
        matches!(took_over.as_slice(), [(_, true)]),
        "the healthy replica took over once and kept the Lease ({fault:?}): {took_over:?}"
    );
    let lease = api.get_object(
        "coordination.k8s.io/v1",
        "Lease",
        LEASE_NAMESPACE,
        "confighash-watcher",
    );
    assert_eq!(lease.expect("lease")["spec"]["holderIdentity"], IDS[new]);
    // Each change rolled once, by the healthy replica only.
    assert_eq!(patched_web(&api), 2, "{fault:?}");
    let late = api.requests()[after_takeover..]
        .iter()
        .filter(|r| r.is_workload_patch() && r.client.as_deref() == Some(IDS[old]))
        .count();
    assert_eq!(late, 0, "the stepped-down replica patched workloads ({fault:?})");
}

#[tokio::test]
async fn a_leader_whose_lease_calls_hang_steps_down_in_time() {
    the_leader_steps_down_before_the_other_takes_over(ClientFault::Hang).await;
}

#[tokio::test]
async fn a_leader_throttled_with_429_steps_down_in_time() {
    the_leader_steps_down_before_the_other_takes_over(ClientFault::Status(429)).await;
}

#[tokio::test]
async fn a_leader_answered_503_steps_down_in_time() {
    the_leader_steps_down_before_the_other_takes_over(ClientFault::Status(503)).await;
}

#[tokio::test]
async fn a_leader_whose_lease_connections_reset_steps_down_in_time() {
    the_leader_steps_down_before_the_other_takes_over(ClientFault::Reset).await;
}

#[tokio::test]
async fn a_rollout_call_that_hangs_does_not_hold_up_the_other_rollouts() {
    let api = cluster().await;
    let watcher = Watcher::start(&api, config(IDS[0]));
    watcher.synced().await;

    // Every call about `web` hangs; the sentinel's rollout comes after it.
    api.set_client_fault(IDS[0], "/deployments/web", Some(ClientFault::Hang));
    api.put_configmap(NS, "app", &[("a", "2")]);
    eventually("the patch of web was sent", async || patched_web(&api) >= 1).await;
    barrier(&api, NS, 1).await;
    assert!(watcher.leading());

    // Once the API server answers again, web ends up with what admission would write.
    api.set_client_fault(IDS[0], "/deployments/web", None);
    eventually("web rolled", async || {
        let web = api.get_object("apps/v1", "Deployment", NS, "web").expect("web");
        let annotations = &web["spec"]["template"]["metadata"]["annotations"];
        *annotations == serde_json::json!(admitted(&api, &web).await)
    })
    .await;
    watcher.stop().await;
}
