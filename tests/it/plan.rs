//! `confighash plan` against the fake API server through a kubeconfig: what the watcher
//! would roll, with the sources that differ, and the exit code (0 nothing, 2 something).

use crate::common;

use common::{fake_api::FakeApi, process::binary, watcher::*};

const NS: &str = "demo";

async fn plan(api: &FakeApi, dir: &std::path::Path) -> (Option<i32>, String) {
    let kubeconfig = api.kubeconfig(dir, "default");
    let output = tokio::task::spawn_blocking(move || {
        binary()
            .args(["plan", "--namespace", NS])
            .env("KUBECONFIG", kubeconfig)
            .output()
            .expect("run plan")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.code(), stdout)
}

#[tokio::test]
async fn plan_lists_out_of_date_workloads_and_exits_2_only_when_something_would_roll() {
    let api = FakeApi::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    opt_in(&api, NS);
    api.put_configmap(NS, "app", &[("a", "1"), ("b", "2")]);
    put_stamped(&api, workload("Deployment", NS, "web", env_key("app", "a"))).await;
    put_stamped(&api, workload("StatefulSet", NS, "db", env_key("app", "b"))).await;
    // Never stamped by admission: left to it, not listed.
    api.put_object(workload("Deployment", NS, "fresh", env_from("app")));

    let (code, stdout) = plan(&api, dir.path()).await;
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(stdout, "nothing would roll in namespace demo\n");

    let before = template_annotations(&api, "Deployment", NS, "web")["confighash.io/sources"].clone();
    api.put_configmap(NS, "app", &[("a", "changed"), ("b", "2")]);
    let (code, stdout) = plan(&api, dir.path()).await;
    assert_eq!(code, Some(2), "{stdout}");
    let old = before
        .as_str()
        .and_then(|s| s.split('@').nth(1))
        .expect("short digest");
    let line = stdout.lines().next().expect("one line");
    assert!(
        line.starts_with(&format!("Deployment demo/web would roll: configmap/app {old} → ")),
        "{stdout}"
    );
    assert_eq!(stdout.lines().count(), 1, "db takes only key b: {stdout}");
    assert!(
        api.requests().iter().all(|r| r.method == "GET"),
        "plan is read-only"
    );
}

#[tokio::test]
async fn plan_reads_only_valid_names_and_skips_a_workload_over_max_sources() {
    let api = FakeApi::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    opt_in(&api, NS);
    api.put_configmap(NS, "app", &[("a", "1")]);
    api.put_configmap(NS, "extra", &[("e", "1")]);
    let mut web = workload("Deployment", NS, "web", env_from("app"));
    web["metadata"]["annotations"] = serde_json::json!(
        {"confighash.io/extra-configmaps": "x?watch=true,../../kube-system/configmaps/c,extra"});
    put_stamped(&api, web).await;
    api.put_configmap(NS, "app", &[("a", "changed")]);

    let (code, stdout) = plan(&api, dir.path()).await;
    assert_eq!(code, Some(2), "{stdout}");
    assert!(
        stdout.starts_with("Deployment demo/web would roll: configmap/app "),
        "{stdout}"
    );
    let strays: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("kube-system") || r.path.contains("..") || r.path.ends_with("/x"))
        .collect();
    assert!(strays.is_empty(), "{strays:?}");

    let kubeconfig = api.kubeconfig(dir.path(), "default");
    let output = tokio::task::spawn_blocking(move || {
        binary()
            .args(["plan", "--namespace", NS, "--max-sources", "1"])
            .env("KUBECONFIG", &kubeconfig)
            .output()
            .expect("run plan")
    })
    .await
    .expect("join");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    assert_eq!(stdout, "nothing would roll in namespace demo\n");
    assert!(
        stderr.contains("Deployment demo/web") && stderr.contains("--max-sources 1"),
        "{stderr}"
    );
}

#[tokio::test]
async fn plan_shows_each_held_workload_with_its_reason() {
    let api = FakeApi::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    // Paused namespace `shop`; in `demo`, one workload outside its window, one paused by
    // itself, one that would roll now.
    api.put_object(serde_json::json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": NS, "labels": {LABEL.0: LABEL.1}}}));
    api.put_configmap(NS, "app", &[("a", "1")]);
    let annotated = |name: &str, annotations: serde_json::Value| {
        let mut w = workload("Deployment", NS, name, env_from("app"));
        w["metadata"]["annotations"] = annotations;
        w
    };
    // Closed for the next hour whatever the time: opens between 1 and 2 hours from now.
    let start = jiff::Timestamp::now() + jiff::SignedDuration::from_mins(90);
    let hhmm = |t: jiff::Timestamp| t.to_zoned(jiff::tz::TimeZone::UTC).strftime("%H:%M").to_string();
    let window = format!(
        "daily {}-{} UTC",
        hhmm(start),
        hhmm(start + jiff::SignedDuration::from_mins(30))
    );
    put_stamped(
        &api,
        annotated(
            "windowed",
            serde_json::json!({"confighash.io/rollout-window": window}),
        ),
    )
    .await;
    put_stamped(
        &api,
        annotated("paused", serde_json::json!({"confighash.io/rollouts": "paused"})),
    )
    .await;
    put_stamped(&api, annotated("free", serde_json::json!({}))).await;
    api.put_configmap(NS, "app", &[("a", "2")]);

    let (code, stdout) = plan(&api, dir.path()).await;
    assert_eq!(code, Some(2), "{stdout}");
    let line = |name: &str| line_of(&stdout, name);
    assert!(
        line("free").starts_with("Deployment demo/free would roll: configmap/app "),
        "{stdout}"
    );
    assert!(
        line("paused").starts_with("Deployment demo/paused held, paused by its annotation: configmap/app "),
        "{stdout}"
    );
    let windowed = line("windowed");
    let expected = format!("Deployment demo/windowed held, waiting for window {window}, opens in 1h ");
    assert!(windowed.starts_with(&expected), "{stdout}");

    // A paused namespace holds all three, and says so.
    api.put_object(serde_json::json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": NS, "labels": {LABEL.0: LABEL.1}, "annotations": {"confighash.io/rollouts": "paused"}}}));
    let (_, stdout) = plan(&api, dir.path()).await;
    assert!(
        line_of(&stdout, "free").starts_with("Deployment demo/free held, paused by namespace demo: "),
        "{stdout}"
    );
    assert!(
        line_of(&stdout, "paused").contains("held, paused by its annotation"),
        "{stdout}"
    );
}

fn line_of(stdout: &str, name: &str) -> String {
    let prefix = format!("Deployment demo/{name} ");
    stdout
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_default()
        .to_owned()
}
