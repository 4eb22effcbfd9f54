//! The limits that keep hostile or clumsy clients from holding the server's memory,
//! connections or time (contract §12), with their defaults.

use std::time::Duration;

/// Limits of both listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Headers and body of a request, and the first request of a new connection, must
    /// arrive within this; a response must be taken by the client within it too.
    pub request_read_timeout: Duration,
    /// An idle keep-alive webhook connection is closed after this (an idle ops connection
    /// after `request_read_timeout`). Above Go's 90 s, so the API
    /// server (which keeps idle connections 90 s) closes first and never reuses a
    /// connection just as the server closes it.
    pub idle_timeout: Duration,
    /// Open connections of the webhook listener; at the cap a new one closes the oldest idle
    /// one, or waits in the listen backlog when every one is handling a review.
    pub max_connections: usize,
    /// Open connections of the ops listener; at the cap a new one closes the oldest that
    /// is not handling a request, so that idle connections never keep the kubelet's probes out.
    pub ops_max_connections: usize,
    /// Bytes of request bodies, and what decoding them costs, held at once.
    pub memory_budget_bytes: usize,
    /// How long a request waits for room in the memory budget before a 503.
    pub budget_wait: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            request_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            max_connections: 256,
            ops_max_connections: 32,
            memory_budget_bytes: 64 << 20,
            budget_wait: Duration::from_secs(2),
        }
    }
}
