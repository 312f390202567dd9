//! The reader's share of the server's inbound memory budget: before each
//! read, the message in progress gets the memory it needs from the budget,
//! or the reader waits for it (its socket is not read meanwhile: TCP
//! backpressure) and, past [`Config::inbound_memory_wait`](crate::Config),
//! fails the connection with 1013.
//!
//! The accounting is `crate::budget`'s; what the receiver may hold and
//! wants is the protocol core's (`Receiver::memory_wanted`). This file
//! only joins them and does the waiting, on the runtime's timers.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use event_listener::EventListener;

use super::event::Event;
use super::reader::Reader;
use super::shared::Shared;
use crate::budget::{Budgets, Grant};
use crate::error::Error;
use crate::protocol::{CloseCode, Receiver};
use crate::runtime::Timer;

/// A connection's grant from the inbound budget, and its wait if any.
pub(crate) struct Inbound {
    grant: Grant,
    /// What the message may hold without asking.
    reserve: usize,
    wait: Option<Wait>,
}

struct Wait {
    timer: Timer,
    listener: Option<EventListener>,
}

impl Inbound {
    /// The budget for a receiver, whose allowance is set to the reserve.
    pub(crate) fn new(budgets: Arc<Budgets>, reserve: usize, receiver: &mut Receiver) -> Inbound {
        receiver.set_memory_allowance(reserve);
        Inbound {
            grant: Grant::new(budgets),
            reserve,
            wait: None,
        }
    }

    /// Counts what the receiver holds beyond its allowance (a compressed
    /// message's last step), and gives the grant back once the message in
    /// progress fits in the reserve again (it is complete, or failed).
    fn settle(&mut self, receiver: &mut Receiver) {
        let held = receiver.memory_held();
        let allowance = receiver.memory_allowance();
        if held > allowance {
            self.grant.force(held - allowance);
            receiver.set_memory_allowance(held);
        } else if held <= self.reserve && self.grant.bytes() > 0 {
            self.grant.clear();
            receiver.set_memory_allowance(self.reserve);
        }
    }
}

impl Reader {
    /// Before a read: `Ready(Ok)` once the receiver may take the next
    /// bytes (with the memory it wanted granted), `Pending` while it waits
    /// for the budget, `Ready(Err)` with the error to report when the wait
    /// ran out (the connection is then failed with 1013).
    pub(super) fn poll_memory(
        &mut self,
        shared: &Shared,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Event>> {
        let Some(inbound) = self.inbound.as_deref_mut() else {
            return Poll::Ready(Ok(()));
        };
        inbound.settle(&mut self.receiver);
        let Some(wanted) = self.receiver.memory_wanted() else {
            inbound.wait = None;
            return Poll::Ready(Ok(()));
        };
        let config = &shared.config;
        loop {
            let more = wanted.saturating_sub(self.receiver.memory_allowance());
            if inbound.grant.try_grow(more, config.inbound_memory_budget) {
                self.receiver.set_memory_allowance(wanted);
                inbound.wait = None;
                return Poll::Ready(Ok(()));
            }
            let budget = &inbound.grant.budgets().inbound;
            let wait = inbound.wait.get_or_insert_with(|| {
                budget.waited();
                log::debug!(
                    "{} waits for {more} bytes of the inbound memory budget",
                    shared.id
                );
                Wait {
                    timer: shared
                        .runtime
                        .timer_at(shared.runtime.now() + config.inbound_memory_wait),
                    listener: None,
                }
            });
            match &mut wait.listener {
                // Listen, then try again: room freed in between is not missed.
                None => {
                    wait.listener = Some(budget.listen());
                    continue;
                }
                Some(listener) => {
                    if Pin::new(listener).poll(cx).is_ready() {
                        wait.listener = None;
                        continue;
                    }
                }
            }
            if Pin::new(&mut wait.timer).poll(cx).is_pending() {
                return Poll::Pending;
            }
            budget.refused();
            inbound.wait = None;
            return Poll::Ready(Err(self.refuse(shared)));
        }
    }

    /// After an item or a failure: the grant follows what is held.
    pub(super) fn settle_memory(&mut self) {
        if let Some(inbound) = self.inbound.as_deref_mut() {
            inbound.settle(&mut self.receiver);
        }
    }

    /// The wait for the budget ran out: fail with 1013 (try again later)
    /// and drop the message in progress now.
    fn refuse(&mut self, shared: &Shared) -> Event {
        let waited = shared.config.inbound_memory_wait;
        log::debug!(
            "{} failed: the inbound memory budget stayed full for {waited:?}",
            shared.id
        );
        shared.stop_reading();
        shared.queue_close(CloseCode::TRY_AGAIN_LATER, "memory budget full", true);
        // Nothing more is decoded: a fresh receiver lets the message go.
        self.receiver = Receiver::new(*self.receiver.config());
        self.settle_memory();
        self.finish();
        Event::Error(Error::MemoryBudget(waited))
    }
}
