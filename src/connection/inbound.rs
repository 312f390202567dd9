//! A connection's share of the server's inbound memory budget: its grant,
//! the reserve it holds without asking, and its wait. The reader asks and
//! waits in `memory.rs`.

use std::sync::Arc;

use event_listener::EventListener;

use crate::budget::{Budgets, Grant};
use crate::protocol::Receiver;
use crate::runtime::Timer;

/// A connection's grant from the inbound budget, and its wait if any.
pub(crate) struct Inbound {
    pub(super) grant: Grant,
    /// What the message may hold without asking.
    pub(super) reserve: usize,
    /// The most the budget grants in all (`Config::inbound_memory_budget`,
    /// raised to the largest message for a process's budget).
    pub(super) limit: usize,
    /// When the message in progress first waited, its deadline: the
    /// wait is bounded per message, in all, so a message that gets a
    /// little now and then cannot hold its memory for ever.
    pub(super) deadline: Option<Timer>,
    /// Listening for bytes coming back, while waiting.
    pub(super) listener: Option<EventListener>,
}

impl Inbound {
    /// The budget for a receiver, whose allowance is set to the reserve.
    pub(crate) fn new(
        budgets: Arc<Budgets>,
        reserve: usize,
        limit: usize,
        receiver: &mut Receiver,
    ) -> Inbound {
        receiver.set_memory_allowance(reserve);
        Inbound {
            grant: Grant::new(budgets),
            reserve,
            limit,
            deadline: None,
            listener: None,
        }
    }

    /// Counts what the receiver holds beyond its allowance (a compressed
    /// message's last step), and gives the grant back once the message in
    /// progress fits in the reserve again (it is complete, or failed).
    pub(super) fn settle(&mut self, receiver: &mut Receiver) {
        let held = receiver.memory_held();
        let allowance = receiver.memory_allowance();
        if held > allowance {
            self.grant.force(held - allowance);
            receiver.set_memory_allowance(held);
        } else if held <= self.reserve && self.grant.bytes() > 0 {
            // The message is complete (or gone): the next starts afresh.
            self.grant.clear();
            receiver.set_memory_allowance(self.reserve);
            self.deadline = None;
        }
    }
}
