//! The backstop on what one connection's streaming responses hold: a [`ResponseBudget`] of bytes in
//! batches handed to the connection and not yet written out, shared by all its streams.
//!
//! Each stream is already held to two batches (`respond.rs`), so a connection holds at most its
//! concurrent streams times two batches. The budget caps the sum lower: once the connection's streams
//! together hold more than it, each stream produces its next batch only when it holds none, and that
//! batch carries a single message. Every stream still makes progress (one message at a time as its
//! client reads), and the connection holds at most the budget plus, per stream, one batch made before
//! the budget ran out (then one message).

use std::sync::atomic::{AtomicUsize, Ordering};

/// The bytes of response batches one connection holds, and its limit.
#[derive(Debug)]
pub(crate) struct ResponseBudget {
    held: AtomicUsize,
    max: usize,
}

impl ResponseBudget {
    pub fn new(max: usize) -> Self {
        Self {
            held: AtomicUsize::new(0),
            max,
        }
    }

    /// Whether the connection's streams hold at least the budget.
    pub fn spent(&self) -> bool {
        self.held.load(Ordering::Relaxed) >= self.max
    }

    /// A batch of `len` bytes was handed to the connection.
    pub fn take(&self, len: usize) {
        self.held.fetch_add(len, Ordering::Relaxed);
    }

    /// A batch of `len` bytes was written out.
    pub fn give_back(&self, len: usize) {
        self.held.fetch_sub(len, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_spent_at_its_limit_and_refilled_by_writes() {
        let budget = ResponseBudget::new(100);
        budget.take(60);
        assert!(!budget.spent());
        budget.take(40);
        assert!(budget.spent());
        budget.give_back(60);
        assert!(!budget.spent());
    }
}
