//! The process-wide memory budget of request bodies (contract §12 memory): a request
//! takes room for its body and what decoding it costs before a byte of the body is read,
//! and gives it back when it is answered, so however many requests arrive at once, what
//! they hold stays bounded.

use std::{sync::Arc, time::Duration};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes held per byte of body while a request is read and decided: the body itself, plus
/// the decoded review. Measured with `examples/hostile_load.rs` on the shapes that cost
/// most per byte (many small `env` entries or volumes); the decoded review keeps only
/// what the decision reads, so it stays below the body's size.
pub const COST_PER_BODY_BYTE: usize = 2;

// Permits count KiB, so that a budget of several GiB still fits the semaphore's u32 requests.
const UNIT: usize = 1024;

/// A shared budget of bytes.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    permits: Arc<Semaphore>,
    total_units: usize,
}

/// Room taken from a [`MemoryBudget`]; given back on drop.
#[derive(Debug)]
pub struct Reservation(#[allow(dead_code)] OwnedSemaphorePermit);

impl MemoryBudget {
    /// A budget of `bytes`.
    pub fn new(bytes: usize) -> Self {
        let total_units = (bytes / UNIT).clamp(1, Semaphore::MAX_PERMITS);
        Self {
            permits: Arc::new(Semaphore::new(total_units)),
            total_units,
        }
    }

    /// Takes room for a body of `body_bytes`, waiting up to `wait`; `None` if there is no
    /// room by then. A body larger than the whole budget takes all of it, so that it runs
    /// alone rather than never.
    pub async fn reserve(&self, body_bytes: usize, wait: Duration) -> Option<Reservation> {
        let units = body_bytes
            .saturating_mul(COST_PER_BODY_BYTE)
            .div_ceil(UNIT)
            .clamp(1, self.total_units);
        let units = u32::try_from(units).unwrap_or(u32::MAX);
        let acquire = self.permits.clone().acquire_many_owned(units);
        match tokio::time::timeout(wait, acquire).await {
            Ok(Ok(permit)) => Some(Reservation(permit)),
            // The semaphore is never closed; a timeout is the only real refusal.
            Ok(Err(_)) | Err(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn room_is_given_back_when_a_reservation_drops() {
        let budget = MemoryBudget::new((3 * COST_PER_BODY_BYTE) << 20);
        let wait = Duration::from_millis(50);
        let first = budget.reserve(2 << 20, wait).await.expect("fits");
        assert!(
            budget.reserve(2 << 20, wait).await.is_none(),
            "two thirds are held"
        );
        assert!(budget.reserve(1 << 20, wait).await.is_some(), "one third is free");
        drop(first);
        assert!(budget.reserve(2 << 20, wait).await.is_some());
    }

    #[tokio::test]
    async fn a_body_larger_than_the_budget_runs_alone() {
        let budget = MemoryBudget::new(1 << 20);
        let wait = Duration::from_millis(50);
        let alone = budget
            .reserve(8 << 20, wait)
            .await
            .expect("takes the whole budget");
        assert!(budget.reserve(1, wait).await.is_none());
        drop(alone);
    }
}
