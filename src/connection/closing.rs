//! Reading while this end closes. Once this end's close frame is out, the
//! writer task reads the peer's answer itself (through the same
//! [`Reader`](super::reader::Reader)), so that a close completes promptly
//! whether or not the application polls the event stream: `close()` then
//! `closed().await` needs no events poll.
//!
//! What the writer reads is kept for the event stream, bounded: messages
//! (and fragments, pings, pongs) while their payloads fit in
//! [`Config::max_message_size`](crate::Config::max_message_size) bytes in
//! all, then dropped; after a failure, data is dropped (RFC 6455 §7.1.7:
//! nothing after is processed). Pausing does not hold this reading back:
//! what is kept is bounded, and the peer's close must be read.

use std::task::{Context, Poll};

use super::event::Event;
use super::shared::Shared;
use crate::error::Error;
use crate::lifecycle::Expired;

/// How many events one poll reads before letting others run (a peer that
/// keeps sending gets no more than its share of the thread).
const PER_POLL: usize = 64;

impl Shared {
    /// Reads for the event stream until nothing more is read: the peer's
    /// close or end of stream (or a protocol error, after which nothing is
    /// decoded). The event stream reads no more meanwhile.
    pub(super) fn poll_read_closing(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut reader = self.reader.lock();
        reader.writer_reads = true;
        let failing = self.lock_queue().life.failing();
        let room = self.config.max_message_size;
        let (mut kept, mut dropped) = (0usize, 0usize);
        let mut outcome = None;
        for _ in 0..PER_POLL {
            match reader.poll_item(self, cx) {
                Poll::Pending => {
                    outcome = Some(Poll::Pending);
                    break;
                }
                Poll::Ready(None) => {
                    outcome = Some(Poll::Ready(()));
                    break;
                }
                Poll::Ready(Some(event)) => {
                    let data = matches!(event, Event::Message(_) | Event::Fragment(_));
                    if (failing && data) || reader.pending_bytes > room {
                        dropped += 1;
                    } else {
                        reader.keep(event);
                        kept += 1;
                    }
                }
            }
        }
        drop(reader);
        if dropped > 0 {
            log::debug!("{} closing: dropped {dropped} events", self.id);
        }
        if kept > 0 || outcome.is_some_and(|o| o.is_ready()) {
            // Kept events, or the close, for the event stream.
            self.events_waker.wake();
        }
        outcome.unwrap_or_else(|| {
            // More to read: again after others had their turn.
            cx.waker().wake_by_ref();
            Poll::Pending
        })
    }
}

impl Shared {
    /// A deadline of the lifecycle failed the connection (see
    /// `lifecycle::Expired`): its close frame is queued. A keepalive
    /// timeout is an error the event stream reports first; an idle timeout
    /// is the configuration's choice, reported by its close alone.
    pub(super) fn fail_on(&self, expired: Expired) {
        let Some((code, reason)) = expired.close() else {
            return;
        };
        match self.expired_error(expired) {
            Some(error) => self.fail_for(code, reason, error),
            None => self.queue_close(code, reason, true),
        };
    }

    /// The writes stalled: they failed (`None`), or a deadline came while
    /// the peer took nothing. No close frame can go out; a keepalive
    /// timeout is still reported as the error it is.
    pub(super) fn stalled(&self, expired: Option<Expired>) {
        let reason = match expired {
            None => "write failed",
            Some(Expired::CloseTimeout) => "close timeout",
            Some(expired) => expired.close().map_or("", |(_, reason)| reason),
        };
        if let Some(error) = expired.and_then(|e| self.expired_error(e))
            && self.lock_queue().life.accepts_frames()
        {
            self.report_error(error);
        }
        self.abort(reason);
    }

    fn expired_error(&self, expired: Expired) -> Option<Error> {
        (expired == Expired::Keepalive).then(|| Error::KeepaliveTimeout(self.config.ping_timeout))
    }
}
