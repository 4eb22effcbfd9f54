//! Flags of `serve --watch` and `plan`.

use std::{collections::BTreeSet, path::PathBuf, time::Duration};

use clap::Args;

use crate::{
    Error, Result,
    admission::Options,
    watch::{
        DEFAULT_NAMESPACE_SELECTOR, LeaseConfig, LeaseTiming, Limits, Policy, WallClock, WatchConfig,
        window::{Schedule, WindowError},
    },
};

/// The watcher's flags on `serve`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Also roll workloads when only a ConfigMap they consume changes (needs cluster access).
    #[arg(long, num_args = 0..=1, default_value_t = false, default_missing_value = "true",
        action = clap::ArgAction::Set)]
    pub watch: bool,
    /// Label selector of the namespaces the watcher follows.
    #[arg(long, default_value = DEFAULT_NAMESPACE_SELECTOR)]
    pub namespace_selector: String,
    /// Watch only these namespaces (comma-separated), one watch per namespace and kind, with
    /// no cluster-wide list or watch (a namespace-scoped install); --namespace-selector and
    /// namespace annotations are then not used.
    #[arg(long, value_delimiter = ',')]
    pub watch_namespaces: Vec<String>,
    /// Changes to one workload's sources within this quiet period give one rollout.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub debounce: Duration,
    /// A workload is rolled at most once per this interval; later changes wait, the newest wins.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub min_rollout_interval: Duration,
    /// Rollouts per second across all workloads.
    #[arg(long, default_value_t = 2.0)]
    pub max_rollouts_per_second: f64,
    /// Name of the Lease that elects the one replica that rolls.
    #[arg(long, default_value = "confighash-watcher")]
    pub lease_name: String,
    /// Namespace of the Lease [default: $POD_NAMESPACE, else the client's namespace].
    #[arg(long, env = "POD_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// This replica's identity in the Lease [default: $POD_NAME, else the hostname].
    #[arg(long, env = "POD_NAME")]
    pub lease_identity: Option<String>,
    /// How long the Lease holds without renewal; another replica takes over after it.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    pub lease_duration: Duration,
    /// The leader stops acting when it could not renew the Lease for this long, counted
    /// from before its last successful renewal was sent; at least 1s, and at least 1s
    /// under --lease-duration [default: two thirds of --lease-duration].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub lease_renew_deadline: Option<Duration>,
    /// Also export `confighash_workload_config_info{namespace,kind,name,config_hash}`: one
    /// series per workload that consumes config (cardinality grows with the workloads).
    #[arg(long)]
    pub workload_info_metric: bool,
    /// Rollout window where neither the workload nor its namespace sets
    /// `<prefix>/rollout-window`, e.g. "Mon-Fri 09:00-17:00 Europe/Berlin" [default: none,
    /// roll at any time].
    #[arg(long, value_parser = parse_window)]
    pub default_rollout_window: Option<Schedule>,
}

pub(super) fn parse_window(value: &str) -> std::result::Result<Schedule, WindowError> {
    value.parse()
}

impl WatchArgs {
    /// Checks the watcher's flags without building anything; `Ok` without `--watch`.
    pub fn check(&self) -> Result<()> {
        self.checked().map(drop)
    }

    /// The watcher configuration, or `None` without `--watch`; the Lease lives in
    /// `--lease-namespace`, else in `client_namespace`.
    pub fn config(&self, options: &Options, client_namespace: &str) -> Result<Option<WatchConfig>> {
        let Some((timing, namespaces)) = self.checked()? else {
            return Ok(None);
        };
        let lease = LeaseConfig {
            name: self.lease_name.clone(),
            namespace: (self.lease_namespace.clone()).unwrap_or_else(|| client_namespace.to_owned()),
            identity: self.lease_identity.clone().unwrap_or_else(hostname),
            timing,
        };
        Ok(Some(WatchConfig {
            options: options.clone(),
            namespace_selector: self.namespace_selector.clone(),
            namespaces,
            limits: Limits {
                debounce: self.debounce,
                min_interval: self.min_rollout_interval,
                max_per_second: self.max_rollouts_per_second,
            },
            lease,
            workload_info: self.workload_info_metric,
            policy: Policy {
                default_window: self.default_rollout_window.clone(),
                clock: WallClock::default(),
            },
        }))
    }

    /// The parts of the configuration a flag can make wrong, checked; `None` without `--watch`.
    #[allow(clippy::type_complexity)]
    fn checked(&self) -> Result<Option<(LeaseTiming, Option<BTreeSet<String>>)>> {
        if !self.watch {
            return Ok(None);
        }
        let positive = self.max_rollouts_per_second.is_finite() && self.max_rollouts_per_second > 0.0;
        if !positive {
            return Err(Error::flag(
                "--max-rollouts-per-second",
                "--max-rollouts-per-second must be greater than zero",
            ));
        }
        if self.lease_duration < Duration::from_secs(3) {
            return Err(Error::flag(
                "--lease-duration",
                "--lease-duration must be at least 3s",
            ));
        }
        let timing = LeaseTiming::new(self.lease_duration, self.lease_renew_deadline)
            .map_err(|e| Error::flag("--lease-renew-deadline", format!("--lease-renew-deadline: {e}")))?;
        Ok(Some((timing, self.watch_namespaces()?)))
    }
}

impl WatchArgs {
    fn watch_namespaces(&self) -> Result<Option<BTreeSet<String>>> {
        if self.watch_namespaces.is_empty() {
            return Ok(None);
        }
        let names = self.watch_namespaces.iter().map(|n| n.trim());
        let mut set = BTreeSet::new();
        for name in names {
            let valid = !name.is_empty()
                && name.len() <= 63
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !name.starts_with('-')
                && !name.ends_with('-');
            if !valid {
                return Err(Error::flag(
                    "--watch-namespaces",
                    format!("--watch-namespaces: {name:?} is not a namespace name (DNS-1123 label)"),
                ));
            }
            set.insert(name.to_owned());
        }
        Ok(Some(set))
    }
}

fn hostname() -> String {
    let from_kernel = std::fs::read_to_string(PathBuf::from("/proc/sys/kernel/hostname")).ok();
    let name = from_kernel.or_else(|| std::env::var("HOSTNAME").ok());
    name.map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "confighash".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;

    fn serve(args: &[&str]) -> crate::cli::ServeArgs {
        Cli::serve_args(&[&["--dev"], args].concat())
    }

    #[test]
    fn watcher_defaults_match_the_contract() {
        let args = serve(&["--watch", "--lease-namespace", "ns", "--lease-identity", "pod-0"]);
        let options = args.decision.admission.options().expect("options");
        let config = args
            .watch
            .config(&options, "default")
            .expect("valid")
            .expect("--watch");
        assert_eq!(config.namespace_selector, "confighash.io/inject=enabled");
        assert_eq!(config.limits, Limits::default());
        assert_eq!(config.limits.debounce, Duration::from_secs(5));
        assert_eq!(config.limits.min_interval, Duration::from_secs(30));
        assert_eq!(config.limits.max_per_second, 2.0);
        assert_eq!(
            (config.lease.name.as_str(), config.lease.namespace.as_str()),
            ("confighash-watcher", "ns")
        );
        assert_eq!(config.lease.identity, "pod-0");
        assert_eq!(config.lease.timing.duration(), Duration::from_secs(15));
        assert_eq!(config.lease.timing.renew_deadline(), Duration::from_secs(10));
        assert!(
            serve(&[])
                .watch
                .config(&options, "default")
                .expect("valid")
                .is_none()
        );
    }

    #[test]
    fn watch_takes_an_explicit_value_and_bad_limits_are_refused() {
        assert!(serve(&["--watch=true"]).watch.watch);
        assert!(!serve(&["--watch=false"]).watch.watch);
        let options = Options::default();
        for bad in [
            &["--watch", "--max-rollouts-per-second", "0"][..],
            &["--watch", "--lease-duration", "1s"],
            &["--watch", "--lease-renew-deadline", "15s"],
            &[
                "--watch",
                "--lease-duration",
                "6s",
                "--lease-renew-deadline",
                "5500ms",
            ],
            &["--watch", "--lease-renew-deadline", "500ms"],
        ] {
            let message = serve(bad)
                .watch
                .config(&options, "default")
                .expect_err("refused")
                .to_string();
            assert!(message.starts_with("--"), "{message}");
        }
    }
}
