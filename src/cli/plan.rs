//! Flags of `plan`.

use clap::Args;

use super::{AdmissionArgs, watch::parse_window};
use crate::watch::window::Schedule;

/// `confighash plan`
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Namespace whose workloads to check.
    #[arg(short, long)]
    pub namespace: String,
    /// The watcher's --default-rollout-window, to show which workloads it holds.
    #[arg(long, value_parser = parse_window)]
    pub default_rollout_window: Option<Schedule>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub admission: AdmissionArgs,
}
