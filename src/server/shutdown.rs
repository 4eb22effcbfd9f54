//! The shutdown signal: SIGTERM (what the kubelet sends) or SIGINT. A second signal exits
//! at once, for an operator who does not want to wait for the drain.

use tokio::signal::unix::{SignalKind, signal as unix_signal};
use tracing::{info, warn};

/// Resolves on the first SIGTERM or SIGINT; a second one exits the process with status 130.
pub async fn signal() {
    let (Ok(mut term), Ok(mut int)) = (
        unix_signal(SignalKind::terminate()),
        unix_signal(SignalKind::interrupt()),
    ) else {
        warn!("cannot install signal handlers; only a kill will stop the server");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => info!("SIGTERM received; shutting down"),
        _ = int.recv() => info!("SIGINT received; shutting down"),
    }
    tokio::spawn(async move {
        tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        warn!("second signal; exiting without draining");
        std::process::exit(130);
    });
}
