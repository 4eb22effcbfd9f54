//! Open connections of one listener, oldest first (contract §12 connections). Anyone on the
//! network can fill a listener's cap with connections that idle under its timeouts (120 s
//! between webhook requests); a new connection at the cap therefore closes the oldest one
//! that is not handling a request, so the API server's calls and the kubelet's probes, which
//! arrive on fresh connections, always get in.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use tokio::sync::Notify;

use super::deadline::ConnClock;

/// The open connections of one listener, by order of arrival.
#[derive(Debug, Default)]
pub struct OpenConnections {
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    next: u64,
    by_age: BTreeMap<u64, Entry>,
}

#[derive(Debug)]
struct Entry {
    clock: Arc<ConnClock>,
    close: Arc<Notify>,
}

/// One registered connection; dropping it unregisters the connection.
#[derive(Debug)]
pub struct Registration {
    connections: Arc<OpenConnections>,
    id: u64,
    close: Arc<Notify>,
}

impl OpenConnections {
    fn open(&self) -> std::sync::MutexGuard<'_, Open> {
        // A poisoned lock only means a panic elsewhere; the map itself is always whole.
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a connection whose phase `clock` tracks.
    pub fn register(self: &Arc<Self>, clock: Arc<ConnClock>) -> Registration {
        let close = Arc::new(Notify::new());
        let mut open = self.open();
        let id = open.next;
        open.next += 1;
        open.by_age.insert(
            id,
            Entry {
                clock,
                close: close.clone(),
            },
        );
        Registration {
            connections: self.clone(),
            id,
            close,
        }
    }

    /// Asks the oldest connection that is not handling a request to close; false when every
    /// open connection is handling one (then the new connection is the one refused).
    pub fn close_oldest_idle(&self) -> bool {
        let mut open = self.open();
        let oldest = open
            .by_age
            .iter()
            .find(|(_, entry)| !entry.clock.is_handling())
            .map(|(id, _)| *id);
        match oldest.and_then(|id| open.by_age.remove(&id)) {
            Some(entry) => {
                // `notify_one` keeps the wake-up for a task that is not waiting yet.
                entry.close.notify_one();
                true
            }
            None => false,
        }
    }

    /// How many connections are registered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.open().by_age.len()
    }
}

impl Registration {
    /// Completes when the connection should close to make room for a newer one.
    pub async fn closed(&self) {
        self.close.notified().await;
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.connections.open().by_age.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn clock() -> Arc<ConnClock> {
        ConnClock::new(Duration::from_secs(10), Duration::from_secs(10))
    }

    #[tokio::test]
    async fn the_oldest_connection_not_in_a_request_is_closed_first() {
        let connections = Arc::new(OpenConnections::default());
        let (busy, idle) = (clock(), clock());
        let first = connections.register(busy.clone());
        let second = connections.register(idle.clone());
        let third = connections.register(clock());
        busy.request_started();
        assert!(connections.close_oldest_idle());
        tokio::time::timeout(Duration::from_secs(1), second.closed())
            .await
            .expect("the oldest idle connection is told to close");
        assert_eq!(connections.len(), 2, "and is no longer a candidate");
        assert!(connections.close_oldest_idle());
        third.closed().await;
        assert!(!connections.close_oldest_idle(), "one left, handling a request");
        drop(first);
        assert_eq!(connections.len(), 0);
    }
}
