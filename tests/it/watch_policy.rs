//! Rollout policy of the watcher (contract §11) against the fake API server: change
//! windows, pauses on workloads and namespaces, the namespace's window as a default for
//! its workloads, and invalid windows.

use crate::common;

use std::time::Duration;

use common::{eventually, fake_api::FakeApi, watcher::*};
use confighash::watch::{Policy, WallClock, WatchConfig};
use jiff::{SignedDuration, Timestamp, tz::TimeZone};
use serde_json::{Value, json};

const NS: &str = "demo";
const WINDOW: &str = "confighash.io/rollout-window";
const ROLLOUTS: &str = "confighash.io/rollouts";
const HELD_BY_WINDOW: &str = r#"confighash_watch_pending{reason="window"}"#;
const HELD_BY_PAUSE: &str = r#"confighash_watch_pending{reason="paused"}"#;
const DRIFT_HELD: &str = r#"confighash_workloads{kind="Deployment",state="held"}"#;

/// `HH:MM` in UTC of `at`.
fn hhmm(at: Timestamp) -> String {
    at.to_zoned(TimeZone::UTC).strftime("%H:%M").to_string()
}

/// A wall clock that reads `lead` before a whole minute now, and that minute: a window
/// starting then opens `lead` after the watcher starts.
fn clock_before_minute(lead: Duration) -> (WallClock, Timestamp) {
    let now = Timestamp::now();
    let minute =
        Timestamp::from_second(now.as_second() - now.as_second().rem_euclid(60) + 60).expect("minute");
    let lead = SignedDuration::try_from(lead).expect("lead");
    let offset = minute.duration_since(now) - lead;
    (WallClock::shifted(offset), minute)
}

/// A daily window of `minutes` from `start`.
fn daily(start: Timestamp, minutes: i64) -> String {
    let end = start + SignedDuration::from_mins(minutes);
    format!("daily {}-{} UTC", hhmm(start), hhmm(end))
}

/// A daily window that is closed now and for the next hour.
fn closed_window() -> String {
    daily(Timestamp::now() + SignedDuration::from_hours(2), 60)
}

fn with_policy(policy: Policy) -> WatchConfig {
    WatchConfig {
        policy,
        ..config("a")
    }
}

fn annotate(mut manifest: Value, annotations: Value) -> Value {
    manifest["metadata"]["annotations"] = annotations;
    manifest
}

fn put_namespace(api: &FakeApi, annotations: Value) {
    api.put_object(json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": NS, "labels": {LABEL.0: LABEL.1}, "annotations": annotations}}));
}

/// `demo` opted in with `annotations`, ConfigMap `app`, and stamped Deployments `web` and
/// `api` (all of `app`), with these workload annotations.
async fn cluster(namespace: Value, web: Value, api_annotations: Value) -> FakeApi {
    let api = FakeApi::start().await;
    put_namespace(&api, namespace);
    api.put_configmap(NS, "app", &[("a", "1")]);
    put_sentinel(&api, NS).await;
    put_stamped(
        &api,
        annotate(workload("Deployment", NS, "web", env_from("app")), web),
    )
    .await;
    put_stamped(
        &api,
        annotate(
            workload("Deployment", NS, "api", env_from("app")),
            api_annotations,
        ),
    )
    .await;
    api
}

fn events(api: &FakeApi, name: &str, reason: &str) -> Vec<Value> {
    let events = api.list_objects("events.k8s.io/v1", "Event");
    (events.into_iter())
        .filter(|e| e["regarding"]["name"] == name && e["reason"] == reason)
        .collect()
}

/// Stores `name` again with its workload annotations replaced (a person editing them).
fn set_workload_annotations(api: &FakeApi, name: &str, annotations: Value) {
    let object = api.get_object("apps/v1", "Deployment", NS, name).expect("exists");
    api.put_object(annotate(object, annotations));
}

#[tokio::test]
async fn a_change_outside_the_window_is_held_and_rolls_when_the_window_opens() {
    // Long enough for the hold to show in the metrics (recorded every 5 s) before it opens.
    let (clock, opens) = clock_before_minute(Duration::from_secs(12));
    let window = daily(opens, 10);
    let api = cluster(json!({}), json!({WINDOW: window}), json!({WINDOW: window})).await;
    let watcher = Watcher::start(
        &api,
        with_policy(Policy {
            clock,
            ..Policy::default()
        }),
    );
    watcher.synced().await;
    api.put_configmap(NS, "app", &[("a", "2")]);
    eventually("both held", async || {
        events(&api, "web", "RolloutHeld").len() == 1 && events(&api, "api", "RolloutHeld").len() == 1
    })
    .await;
    eventually("both counted as held by the window", async || {
        watcher.metric(HELD_BY_WINDOW) == 2.0
    })
    .await;
    assert_eq!(watcher.metric(DRIFT_HELD), 2.0, "held workloads count as held");
    assert_eq!(
        patched(&api, "deployments", NS, "web"),
        0,
        "closed: nothing rolls"
    );
    let held = events(&api, "web", "RolloutHeld");
    assert_eq!(held.len(), 1);
    let note = held[0]["note"].as_str().expect("note");
    assert!(
        note.starts_with(&format!("waiting for window {window}, opens in ")),
        "{note}"
    );
    // Another change while held: still held, no second Event.
    api.put_configmap(NS, "app", &[("a", "3")]);
    barrier(&api, NS, 1).await;
    assert_eq!(patched(&api, "deployments", NS, "web"), 0);
    assert_eq!(
        events(&api, "web", "RolloutHeld").len(),
        1,
        "one Event per hold, not per change"
    );
    // The window opens a few seconds after the start: both roll once, to the newest data.
    eventually("both rolled at the opening", async || {
        patched(&api, "deployments", NS, "web") == 1 && patched(&api, "deployments", NS, "api") == 1
    })
    .await;
    assert!(clock.now() >= opens, "rolled at the opening, not before");
    let expected = admitted(
        &api,
        &api.get_object("apps/v1", "Deployment", NS, "web").expect("web"),
    )
    .await;
    let carried = template_annotations(&api, "Deployment", NS, "web");
    assert_eq!(carried, json!(expected), "rolled to what admission computes now");
    eventually("nothing held", async || watcher.metric(HELD_BY_WINDOW) == 0.0).await;
    drop(watcher);
}

#[tokio::test]
async fn a_paused_workload_is_held_and_rolls_once_when_the_pause_is_removed() {
    let api = cluster(json!({}), json!({ROLLOUTS: "paused"}), json!({})).await;
    let watcher = Watcher::start(&api, config("a"));
    watcher.synced().await;
    api.put_configmap(NS, "app", &[("a", "2")]);
    eventually("api rolled", async || {
        patched(&api, "deployments", NS, "api") == 1
    })
    .await;
    eventually("web held by its pause", async || {
        watcher.metric(HELD_BY_PAUSE) == 1.0
    })
    .await;
    api.put_configmap(NS, "app", &[("a", "3")]);
    barrier(&api, NS, 1).await;
    assert_eq!(patched(&api, "deployments", NS, "web"), 0, "paused");
    let held = events(&api, "web", "RolloutHeld");
    assert_eq!(held.len(), 1, "one Event per hold");
    assert_eq!(held[0]["note"], "paused by its annotation");

    set_workload_annotations(&api, "web", json!({}));
    eventually("web rolled", async || {
        patched(&api, "deployments", NS, "web") == 1
    })
    .await;
    barrier(&api, NS, 2).await;
    assert_eq!(patched(&api, "deployments", NS, "web"), 1, "once");
    eventually("nothing held", async || watcher.metric(HELD_BY_PAUSE) == 0.0).await;
    drop(watcher);
}

#[tokio::test]
async fn a_paused_namespace_holds_every_workload_until_unpaused() {
    let api = cluster(json!({ROLLOUTS: "paused"}), json!({}), json!({})).await;
    // The sentinel of `demo` is paused too: barriers use another namespace's.
    opt_in(&api, "other");
    put_sentinel(&api, "other").await;
    let watcher = Watcher::start(&api, config("a"));
    watcher.synced().await;
    api.put_configmap(NS, "app", &[("a", "2")]);
    eventually("all held by the pause", async || {
        watcher.metric(HELD_BY_PAUSE) == 2.0
    })
    .await;
    assert_eq!(patched(&api, "deployments", NS, "web"), 0);
    let held = events(&api, "web", "RolloutHeld");
    assert_eq!(held.len(), 1);
    assert_eq!(held[0]["note"], format!("paused by namespace {NS}"));

    put_namespace(&api, json!({}));
    eventually("both rolled", async || {
        patched(&api, "deployments", NS, "web") == 1 && patched(&api, "deployments", NS, "api") == 1
    })
    .await;
    barrier(&api, "other", 1).await;
    assert_eq!(patched(&api, "deployments", NS, "web"), 1, "once");
    assert_eq!(patched(&api, "deployments", NS, "api"), 1, "once");
    drop(watcher);
}

#[tokio::test]
async fn the_workload_window_wins_over_the_namespace_window_which_wins_over_the_default() {
    let closed = closed_window();
    let api = cluster(
        json!({WINDOW: "daily 00:00-24:00 UTC"}),
        json!({}),
        json!({WINDOW: closed}),
    )
    .await;
    let default = closed_window().parse().expect("valid");
    let watcher = Watcher::start(
        &api,
        with_policy(Policy {
            default_window: Some(default),
            ..Policy::default()
        }),
    );
    watcher.synced().await;
    api.put_configmap(NS, "app", &[("a", "2")]);
    eventually("web rolled in its namespace's window", async || {
        patched(&api, "deployments", NS, "web") == 1
    })
    .await;
    eventually("api held by its own window", async || {
        watcher.metric(HELD_BY_WINDOW) == 1.0
    })
    .await;
    assert_eq!(patched(&api, "deployments", NS, "api"), 0);
    // Without the namespace's window, the (closed) default applies to web.
    put_namespace(&api, json!({}));
    api.put_configmap(NS, "app", &[("a", "3")]);
    eventually("both held", async || watcher.metric(HELD_BY_WINDOW) == 2.0).await;
    assert_eq!(patched(&api, "deployments", NS, "web"), 1);
    drop(watcher);
}

#[tokio::test]
async fn an_invalid_window_rolls_as_if_none_and_is_reported_by_one_event() {
    let api = cluster(
        json!({}),
        json!({WINDOW: "Mon-Fry 09:00-17:00 Europe/Berlin"}),
        json!({}),
    )
    .await;
    // The default is closed: an invalid workload window must not fall back to it.
    let default = closed_window().parse().expect("valid");
    let watcher = Watcher::start(
        &api,
        with_policy(Policy {
            default_window: Some(default),
            ..Policy::default()
        }),
    );
    watcher.synced().await;
    api.put_configmap(NS, "app", &[("a", "2")]);
    eventually("web rolled", async || {
        patched(&api, "deployments", NS, "web") == 1
    })
    .await;
    let invalid = events(&api, "web", "InvalidRolloutWindow");
    assert_eq!(invalid.len(), 1);
    assert_eq!(invalid[0]["type"], "Warning");
    let note = invalid[0]["note"].as_str().expect("note");
    assert!(note.contains("unknown day \"Mon-Fry\""), "{note}");
    assert_eq!(
        patched(&api, "deployments", NS, "api"),
        0,
        "api keeps the closed default"
    );
    drop(watcher);
}
