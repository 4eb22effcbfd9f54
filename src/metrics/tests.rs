use std::collections::{BTreeMap, HashSet};

use super::*;

fn info(name: &str, hash: &str) -> WorkloadInfo {
    WorkloadInfo {
        namespace: "shop".into(),
        kind: "Deployment",
        name: name.into(),
        config_hash: hash.into(),
    }
}

#[test]
fn scrapers_get_openmetrics_when_they_ask_and_the_text_format_otherwise() {
    let metrics = Metrics::new();
    metrics.tls_reloaded(true, Some(1));
    let (content_type, body) = metrics.exposition(Some(
        "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
    ));
    assert!(content_type.starts_with("application/openmetrics-text"));
    assert_eq!(body, metrics.encode());
    assert!(body.contains("# TYPE confighash_tls_reloads counter\n"));
    assert!(body.ends_with("# EOF\n"));

    let (content_type, text) = metrics.exposition(None);
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert!(text.contains(
        "# HELP confighash_tls_reloads_total TLS certificate reload attempts by result.\n\
             # TYPE confighash_tls_reloads_total counter\n\
             confighash_tls_reloads_total{result=\"success\"} 1\n"
    ));
    assert!(
        text.contains("# TYPE confighash_leader gauge\n"),
        "gauges keep their name"
    );
    assert!(!text.contains("# EOF"));
    // Sample lines are the same in both formats.
    let samples = |t: &str| {
        t.lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(samples(&text), samples(&body));
}

#[test]
fn every_kind_and_state_is_exported_from_the_start() {
    let text = Metrics::new().encode();
    for kind in WorkloadKind::BUILT_IN.map(|k| k.kind()) {
        for state in Drift::ALL {
            let series = format!(
                "confighash_workloads{{kind=\"{kind}\",state=\"{}\"}} 0",
                state.as_str()
            );
            assert!(text.contains(&series), "{series} missing from:\n{text}");
        }
    }
    assert!(
        !text.contains("confighash_workload_config_info{"),
        "off until set"
    );
}

#[test]
fn workload_counts_and_info_series_follow_the_latest_update() {
    let metrics = Metrics::new();
    let counts = BTreeMap::from([(("Deployment", Drift::Stale), 3)]);
    metrics.watch_workloads(&counts);
    let text = metrics.encode();
    assert!(text.contains(r#"confighash_workloads{kind="Deployment",state="stale"} 3"#));
    metrics.watch_workloads(&BTreeMap::new());
    assert!(
        metrics
            .encode()
            .contains(r#"confighash_workloads{kind="Deployment",state="stale"} 0"#)
    );

    metrics.workload_info(HashSet::from([info("web", "sha256:a"), info("api", "sha256:b")]));
    metrics.workload_info(HashSet::from([info("web", "sha256:c"), info("api", "sha256:b")]));
    let text = metrics.encode();
    let lines: Vec<_> = text
        .lines()
        .filter(|l| l.starts_with("confighash_workload_config_info{"))
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(text.contains(
            r#"confighash_workload_config_info{namespace="shop",kind="Deployment",name="web",config_hash="sha256:c"} 1"#
        ));
    assert!(!text.contains("sha256:a"), "a rolled workload's old hash is gone");
}
