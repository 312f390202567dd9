//! Corking: what is sent to a connection while it hands out what one
//! read brought goes out together, in one write, instead of one write per
//! send (uWebSockets' cork, without a timer).
//!
//! The rule, all of it here:
//! - The reader corks the send queue when it hands out an event and bytes
//!   of that read are still buffered: more events follow at once, and the
//!   application handles them in the same run of its task, without
//!   yielding (its `events.next()` and `send` calls are ready at once).
//! - While corked, a send does not write through from the sender's task:
//!   it queues its frames and wakes the writer task, like every other
//!   frame (broadcasts, publishes, pongs, closes). The writer runs once
//!   the sending task lets it (on tokio, right after that task's run; on
//!   a multi-threaded executor, perhaps sooner on another thread), and
//!   writes everything queued by then in one gathered or vectored write.
//! - The reader stays corked through the last event of the read (the
//!   reply to that one joins the others) and uncorks when it is polled
//!   again, before it reads the socket (writing what is still queued from
//!   its own task, in one write, if the writer has not yet), and whenever
//!   it stops (paused, closing, finished, the event stream dropped, a
//!   turn's work done: `read.rs`).
//!   [`Connection::flush`](crate::Connection::flush) uncorks too. Until
//!   the reader is polled again, sends queue and wake the writer task, so
//!   an application that handles the last event and then waits on
//!   something else has its replies written as soon as its task yields.
//!
//! Nothing waits on the application: a corked frame costs a wake-up of the
//! writer task, never a wait for the next poll of the event stream, so a
//! slow handler, a send waiting for room, or another task's sends are not
//! held back. When every read brings one message nothing is corked, and
//! the cost is one branch per event.

use std::task::Context;

use super::reader::Reader;
use super::shared::Shared;
use super::write::BATCH;

impl Shared {
    /// Corks the send queue (see the module's rule).
    fn cork(&self) {
        self.lock_queue().corked = true;
    }

    /// Uncorks the send queue and writes what is still queued: from the
    /// caller's task with `cx` (the reader's), else by waking the writer
    /// task.
    pub(super) fn uncork(&self, cx: Option<&mut Context<'_>>) {
        let waiting = {
            let mut queue = self.lock_queue();
            queue.corked = false;
            !queue.is_empty() && !queue.writing
        };
        if waiting {
            match cx {
                Some(cx) => self.write_through(cx, BATCH),
                None => self.writer_wake.wake(),
            }
        }
    }
}

impl Reader {
    /// After an event was decoded from this read's bytes: corks while more
    /// of them are buffered (again after a `flush` uncorked). After the
    /// last one a corked queue stays corked until the reader is polled
    /// again (see the module's rule): a read that brought one event corks
    /// nothing.
    pub(super) fn cork_for_rest(&mut self, shared: &Shared) {
        if self.start < self.end {
            self.corked = true;
            shared.cork();
        }
    }

    /// Uncorks if this reader corked (see the module's rule).
    pub(super) fn uncork(&mut self, shared: &Shared, cx: Option<&mut Context<'_>>) {
        if self.corked {
            self.corked = false;
            shared.uncork(cx);
        }
    }
}
