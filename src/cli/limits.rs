//! `serve` flags of the limits against hostile or clumsy clients (contract §12).

use std::time::Duration;

use clap::Args;

use crate::server::Limits;

/// Time, connection and memory limits of the listeners.
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// A request's headers and body (and a new connection's first request) must arrive
    /// within this, and its response be taken within it; otherwise the connection is
    /// answered 408 or closed.
    #[arg(long, default_value = "10s", value_parser = super::positive_duration)]
    pub request_read_timeout: Duration,
    /// Idle keep-alive webhook connections are closed after this; keep it above the API server's
    /// 90 s so that it is always the API server that closes them.
    #[arg(long, default_value = "120s", value_parser = super::positive_duration)]
    pub idle_timeout: Duration,
    /// Open connections of the webhook listener; at the cap a new one closes the oldest idle
    /// one, or waits in the listen backlog when every one is handling a review.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Open connections of the ops listener (/metrics, /healthz, /readyz); at the cap a new
    /// one closes the oldest that is not handling a request.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub ops_max_connections: u32,
    /// Bytes that request bodies being read and decoded may hold at once (each counts
    /// twice its Content-Length, or --max-body-bytes without one); a request that finds no
    /// room within 2 s gets HTTP 503.
    #[arg(long, default_value_t = 64 << 20, value_parser = clap::value_parser!(u64).range(1024..))]
    pub memory_budget_bytes: u64,
}

impl LimitArgs {
    /// The limits these flags set.
    pub fn limits(&self) -> Limits {
        Limits {
            request_read_timeout: self.request_read_timeout,
            idle_timeout: self.idle_timeout,
            max_connections: self.max_connections as usize,
            ops_max_connections: self.ops_max_connections as usize,
            memory_budget_bytes: usize::try_from(self.memory_budget_bytes).unwrap_or(usize::MAX),
            ..Limits::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        limits: LimitArgs,
    }

    #[test]
    fn defaults_are_the_documented_limits() {
        let flags = Flags::try_parse_from(["confighash"]).expect("parses");
        let limits = flags.limits.limits();
        assert_eq!(limits, Limits::default());
        assert!(
            limits.idle_timeout > Duration::from_secs(90),
            "above Go's idle timeout"
        );
    }

    #[test]
    fn a_zero_connection_cap_is_refused() {
        assert!(Flags::try_parse_from(["confighash", "--max-connections", "0"]).is_err());
        assert!(Flags::try_parse_from(["confighash", "--ops-max-connections", "0"]).is_err());
    }
}
