//! The server-wide memory budgets: one for data received and not yet
//! delivered (the buffers of unfinished messages), one for data queued to
//! be sent (the sum of the send queues).
//!
//! Plain accounting, no waiting: an atomic count of the bytes granted, with
//! grants that fail instead of exceeding a limit, and a notification when
//! bytes come back. The limits live in [`Config`](crate::Config) and are
//! passed in at each grant (a server has one `Config`). Waiting for a grant,
//! and giving up, is the connection reader's business (`connection/read.rs`);
//! who is refused when the send queues are full, the send policy's
//! (`connection/prepared.rs`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use event_listener::{Event, EventListener};

/// One budget: bytes granted now, and what happened to the requests.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    in_use: AtomicUsize,
    /// Told when bytes come back.
    released: Event,
    /// Requests that did not fit and had to wait (inbound) or were refused
    /// under the send policy (outbound).
    waits: AtomicU64,
    /// Connections closed because a grant never came (inbound).
    refusals: AtomicU64,
}

impl Budget {
    /// Grants `bytes` if the total stays within `limit`.
    pub(crate) fn try_grant(&self, bytes: usize, limit: usize) -> bool {
        bytes == 0
            || self
                .in_use
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                    used.checked_add(bytes).filter(|&total| total <= limit)
                })
                .is_ok()
    }

    /// Counts `bytes` that are held already, whatever the limit (memory
    /// that grew before it could be asked for: see `Receiver::memory_held`).
    pub(crate) fn force(&self, bytes: usize) {
        self.in_use.fetch_add(bytes, Ordering::AcqRel);
    }

    /// Gives `bytes` back and wakes whoever waits for room.
    pub(crate) fn release(&self, bytes: usize) {
        if bytes > 0 {
            self.in_use.fetch_sub(bytes, Ordering::AcqRel);
            self.released.notify(usize::MAX);
        }
    }

    /// Gives `bytes` back without telling anyone (the send queues: a
    /// sender waits for its own queue, not for this sum).
    pub(crate) fn release_quietly(&self, bytes: usize) {
        self.in_use.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// Bytes granted now.
    pub(crate) fn in_use(&self) -> usize {
        self.in_use.load(Ordering::Acquire)
    }

    /// Listens for bytes coming back: take it before trying again.
    pub(crate) fn listen(&self) -> EventListener {
        self.released.listen()
    }

    pub(crate) fn waited(&self) {
        self.waits.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn refused(&self) {
        self.refusals.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn waits(&self) -> u64 {
        self.waits.load(Ordering::Relaxed)
    }

    pub(crate) fn refusals(&self) -> u64 {
        self.refusals.load(Ordering::Relaxed)
    }
}

/// A server's two budgets.
#[derive(Debug, Default)]
pub(crate) struct Budgets {
    /// Unfinished messages received: `Config::inbound_memory_budget`.
    pub(crate) inbound: Budget,
    /// Bytes in every send queue: `Config::outbound_memory_budget`.
    pub(crate) outbound: Budget,
}

impl Budgets {
    /// The budgets of the connections no server owns (clients, and
    /// connections mounted with
    /// [`WebSocketRequest::from_stream`](crate::WebSocketRequest::from_stream)):
    /// one pair per process and per pair of limits (inbound and outbound),
    /// so that a connection is only ever held to what
    /// connections configured like it hold, never starved by others with a
    /// larger limit. (One entry per distinct pair of limits, kept for the
    /// process's life: a handful in practice.)
    pub(crate) fn process(inbound_limit: usize, outbound_limit: usize) -> Arc<Budgets> {
        type Shared = Mutex<HashMap<(usize, usize), Arc<Budgets>>>;
        static PROCESS: OnceLock<Shared> = OnceLock::new();
        let key = (inbound_limit, outbound_limit);
        let mut all = PROCESS
            .get_or_init(Shared::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        all.entry(key).or_default().clone()
    }
}

/// Bytes granted from a budget, given back when dropped (the connection
/// ends, or the message it was for is complete).
#[derive(Debug)]
pub(crate) struct Grant {
    budgets: Arc<Budgets>,
    bytes: usize,
}

impl Grant {
    pub(crate) fn new(budgets: Arc<Budgets>) -> Grant {
        Grant { budgets, bytes: 0 }
    }

    pub(crate) fn budgets(&self) -> &Budgets {
        &self.budgets
    }

    /// Bytes this grant holds.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Grows the grant by `more` if the inbound total stays within `limit`.
    pub(crate) fn try_grow(&mut self, more: usize, limit: usize) -> bool {
        let granted = self.budgets.inbound.try_grant(more, limit);
        if granted {
            self.bytes += more;
        }
        granted
    }

    /// Grows the grant by `more` whatever the limit.
    pub(crate) fn force(&mut self, more: usize) {
        self.budgets.inbound.force(more);
        self.bytes += more;
    }

    /// Gives everything back.
    pub(crate) fn clear(&mut self) {
        self.budgets
            .inbound
            .release(std::mem::take(&mut self.bytes));
    }
}

impl Drop for Grant {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_stay_within_the_limit_and_come_back() {
        let budgets = Arc::new(Budgets::default());
        let mut a = Grant::new(budgets.clone());
        let mut b = Grant::new(budgets.clone());
        assert!(a.try_grow(600, 1000));
        assert!(!b.try_grow(500, 1000));
        assert!(b.try_grow(400, 1000));
        assert_eq!(budgets.inbound.in_use(), 1000);
        // Forced bytes count, and make the next grant wait.
        b.force(10);
        assert!(!a.try_grow(1, 1010));
        let listener = budgets.inbound.listen();
        drop(a);
        // Released: the listener was told.
        crate::runtime::block_on(listener);
        assert_eq!(budgets.inbound.in_use(), 410);
        b.clear();
        assert_eq!((b.bytes(), budgets.inbound.in_use()), (0, 0));
    }
}
