//! Flags of `serve --watch` and `plan`.

use std::{path::PathBuf, time::Duration};

use clap::Args;

use super::AdmissionArgs;
use crate::{
    Error, Result,
    admission::Options,
    watch::{DEFAULT_NAMESPACE_SELECTOR, LeaseConfig, Limits, WatchConfig},
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
}

impl WatchArgs {
    /// The watcher configuration, or `None` without `--watch`.
    pub fn config(&self, options: &Options, default_namespace: &str) -> Result<Option<WatchConfig>> {
        if !self.watch {
            return Ok(None);
        }
        let positive = self.max_rollouts_per_second.is_finite() && self.max_rollouts_per_second > 0.0;
        if !positive {
            return Err(Error::Config(
                "--max-rollouts-per-second must be greater than zero".into(),
            ));
        }
        if self.lease_duration < Duration::from_secs(3) {
            return Err(Error::Config("--lease-duration must be at least 3s".into()));
        }
        let lease = LeaseConfig {
            name: self.lease_name.clone(),
            namespace: (self.lease_namespace.clone()).unwrap_or_else(|| default_namespace.to_owned()),
            identity: self.lease_identity.clone().unwrap_or_else(hostname),
            duration: self.lease_duration,
        };
        Ok(Some(WatchConfig {
            options: options.clone(),
            namespace_selector: self.namespace_selector.clone(),
            limits: Limits {
                debounce: self.debounce,
                min_interval: self.min_rollout_interval,
                max_per_second: self.max_rollouts_per_second,
            },
            lease,
        }))
    }
}

fn hostname() -> String {
    let from_kernel = std::fs::read_to_string(PathBuf::from("/proc/sys/kernel/hostname")).ok();
    let name = from_kernel.or_else(|| std::env::var("HOSTNAME").ok());
    name.map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "confighash".into())
}

/// `confighash plan`
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Namespace whose workloads to check.
    #[arg(short, long)]
    pub namespace: String,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub admission: AdmissionArgs,
}
