//! Corking: what the application sends while handling what one read
//! brought goes out in one write, when the reader goes back to the socket
//! (uWebSockets' cork, without a timer).
//!
//! The rule, all of it here:
//! - The reader corks the send queue when it hands out an event and bytes
//!   of that read are still buffered: more events follow at once, and the
//!   replies to them can share one write.
//! - While corked, a send, a broadcast or a publish to this connection, and
//!   an automatic pong, are queued without a write-through and without
//!   waking the writer task. Closing, failing and a woken writer are not
//!   held back.
//! - The reader uncorks, writing what was queued from its own task, before
//!   it hands out the last event of the read (so the reply to that one
//!   writes through as usual, and no reply waits on the application's
//!   next poll), before it reads the socket again, and whenever it stops
//!   (paused, closing, finished, the event stream dropped).
//!   [`Connection::flush`](crate::Connection::flush) uncorks too.
//!
//! A send from outside that window writes through as before. The cost when
//! every read brings one message is one branch per event.

use std::task::Context;

use super::reader::Reader;
use super::shared::Shared;
use super::write::BATCH;

impl Shared {
    /// Corks the send queue (see the module's rule).
    fn cork(&self) {
        self.lock_queue().corked = true;
    }

    /// Uncorks the send queue and writes what waited: from the caller's
    /// task with `cx` (the reader's), else by waking the writer task.
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
    /// of them are buffered, uncorks (writing what waited) when none are.
    pub(super) fn cork_for_rest(&mut self, shared: &Shared, cx: &mut Context<'_>) {
        if self.start < self.end {
            if !self.corked {
                self.corked = true;
                shared.cork();
            }
        } else {
            self.uncork(shared, Some(cx));
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
