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
use std::task::{Context, Poll};

use super::event::Event;
use super::reader::Reader;
use super::shared::Shared;
use crate::error::Error;
use crate::protocol::CloseCode;

impl Reader {
    /// Before a read: `Ready(Ok)` once the receiver may take the next
    /// bytes (with the memory it wanted granted: `true` when its allowance
    /// grew, so bytes already buffered can go in before the socket is
    /// read), `Pending` while it waits for the budget, `Ready(Err)` with
    /// the error to report when the wait ran out (the connection is then
    /// failed with 1013).
    pub(super) fn poll_memory(
        &mut self,
        shared: &Shared,
        cx: &mut Context<'_>,
    ) -> Poll<Result<bool, Event>> {
        let Some(inbound) = self.inbound.as_deref_mut() else {
            return Poll::Ready(Ok(false));
        };
        inbound.settle(&mut self.receiver);
        let Some(wanted) = self.receiver.memory_wanted() else {
            inbound.listener = None;
            return Poll::Ready(Ok(false));
        };
        let config = &shared.config;
        loop {
            let more = wanted.saturating_sub(self.receiver.memory_allowance());
            if inbound.grant.try_grow(more, inbound.limit) {
                self.receiver.set_memory_allowance(wanted);
                inbound.listener = None;
                return Poll::Ready(Ok(more > 0));
            }
            let budget = &inbound.grant.budgets().inbound;
            if inbound.listener.is_none() {
                if inbound.deadline.is_none() {
                    budget.waited();
                    log::debug!(
                        "{} waits for {more} bytes of the inbound memory budget",
                        shared.id
                    );
                    let at = shared.runtime.now() + config.inbound_memory_wait;
                    inbound.deadline = Some(shared.runtime.timer_at(at));
                }
                // Listen, then try again: room freed in between is not missed.
                inbound.listener = Some(budget.listen());
                continue;
            }
            if let Some(listener) = &mut inbound.listener
                && Pin::new(listener).poll(cx).is_ready()
            {
                inbound.listener = None;
                continue;
            }
            if let Some(deadline) = &mut inbound.deadline
                && Pin::new(deadline).poll(cx).is_pending()
            {
                return Poll::Pending;
            }
            budget.refused();
            inbound.listener = None;
            inbound.deadline = None;
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
        // Lets the message go, and the grant with it.
        self.finish(shared);
        Event::Error(Error::MemoryBudget(waited))
    }
}
