//! The read loop: polling the event stream reads from the transport into a
//! buffer sized on demand, runs the bytes through the protocol core's
//! [`Receiver`](crate::protocol::Receiver), answers pings and closes, and
//! yields one [`Event`] at a time. There is no reader task and no channel:
//! the application's poll is the read loop, so an application that stops
//! polling applies TCP backpressure to its peer. Once this end's close
//! frame is out, the writer reads instead (`closing.rs`), so that a close
//! completes whether or not the application polls.

use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use super::event::Event;
use super::reader::Reader;
use super::shared::Shared;
use crate::error::Error;
use crate::protocol::{CloseCode, Incoming, ProtocolError};

/// The most work (bytes taken plus bytes inflated) one poll of the event
/// stream does before it lets the executor run other tasks: about a
/// millisecond of inflating. Without it, a peer streaming a large
/// compressed message kept its connection's task busy for the whole message
/// (the socket always had more), and other connections on that thread
/// waited.
const TURN_WORK: u64 = 1 << 20;

/// The most compressed payload bytes decoded at once: at DEFLATE's most
/// (1,032 to 1) 4 MiB of output, typically 20 to 40 KiB.
const INFLATE_SLICE: usize = 4 << 10;

/// One read: how many bytes arrived and what they completed, if anything.
type ReadResult = Poll<std::io::Result<(usize, Option<Result<Incoming, ProtocolError>>)>>;

impl Reader {
    pub(super) fn poll_event(
        &mut self,
        shared: &Shared,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Event>> {
        if let Some(event) = self.take_pending() {
            return Poll::Ready(Some(event));
        }
        if self.over {
            return Poll::Ready(None);
        }
        shared.events_waker.register(cx.waker());
        if self.done {
            return self.poll_close(shared);
        }
        if shared.drain_ready.swap(false, Ordering::AcqRel) {
            return Poll::Ready(Some(Event::Drain));
        }
        if self.writer_reads || shared.paused.load(Ordering::Acquire) {
            // The writer reads and wakes this stream (see `closing.rs`),
            // or `resume` will.
            self.uncork(shared, Some(cx));
            return Poll::Pending;
        }
        match self.poll_item(shared, cx) {
            Poll::Ready(Some(event)) => Poll::Ready(Some(event)),
            Poll::Ready(None) => self.poll_close(shared),
            Poll::Pending => Poll::Pending,
        }
    }

    /// The last event, once the close is settled (this end's close frame
    /// written or given up: see `Lifecycle::report`); the writer wakes the
    /// stream when it is.
    fn poll_close(&mut self, shared: &Shared) -> Poll<Option<Event>> {
        match shared.close_report() {
            Some(close) => {
                self.over = true;
                Poll::Ready(Some(Event::Close(close)))
            }
            None => Poll::Pending,
        }
    }

    /// Reads until the next event; `None` once nothing more is read (the
    /// peer's close or end of stream), when the close is to be reported.
    pub(super) fn poll_item(
        &mut self,
        shared: &Shared,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Event>> {
        if self.done {
            return Poll::Ready(None);
        }
        let turn = self.receiver.work();
        loop {
            if self.receiver.work() - turn > TURN_WORK {
                // Come back after the other tasks that are ready.
                self.uncork(shared, Some(cx));
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            // Bytes left over from an earlier read come first.
            if self.start < self.end {
                let end = self.decode_end(self.start, self.end);
                match self.receiver.decode(&mut self.buf[self.start..end]) {
                    Ok((0, None)) => {}
                    Ok((n, item)) => {
                        self.start += n;
                        self.note_data(shared);
                        match item {
                            Some(item) => {
                                let event = self.incoming(shared, item);
                                self.cork_for_rest(shared);
                                return Poll::Ready(event);
                            }
                            None => continue,
                        }
                    }
                    Err(e) => return Poll::Ready(Some(self.fail(shared, e))),
                }
            }
            // Back to the socket: what was corked goes out first.
            self.uncork(shared, Some(cx));
            // The message in progress may need more of the server's
            // memory first: then the socket waits (`memory.rs`). Once it
            // has it, what is still buffered goes in first.
            match self.poll_memory(shared, cx) {
                Poll::Ready(Ok(true)) if self.start < self.end => continue,
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(event)) => return Poll::Ready(Some(event)),
                Poll::Pending => return Poll::Pending,
            }
            let read = if self.start == self.end {
                // A large payload goes straight into its message.
                match self.read_direct(shared, cx) {
                    Some(read) => read,
                    None => self.read_scratch(shared, cx),
                }
            } else {
                // A partial frame header waits for its rest.
                self.poll_fill(shared, cx).map(|r| r.map(|n| (n, None)))
            };
            match read {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok((0, _))) => {
                    shared.stream_ended();
                    self.finish(shared);
                    return Poll::Ready(None);
                }
                Poll::Ready(Ok((_, Some(Err(e))))) => {
                    return Poll::Ready(Some(self.fail(shared, e)));
                }
                Poll::Ready(Ok((_, item))) => {
                    self.note_data(shared);
                    if let Some(Ok(item)) = item {
                        let event = self.incoming(shared, item);
                        self.cork_for_rest(shared);
                        return Poll::Ready(event);
                    }
                }
                Poll::Ready(Err(e)) => {
                    shared.stream_ended();
                    self.finish(shared);
                    return Poll::Ready(Some(Event::Error(Error::Io(e))));
                }
            }
        }
    }

    /// Fails the connection for a protocol error: close with its code, then
    /// report the error and, once the close frame is out, the close.
    fn fail(&mut self, shared: &Shared, e: ProtocolError) -> Event {
        let code = e.close_code();
        let reason = crate::ErrorChain(&e).to_string();
        log::debug!("{} failed: {reason}", shared.id);
        // This stream reads no more; the writer discards what still comes.
        shared.stop_reading();
        shared.queue_close(code, &reason, true);
        self.finish(shared);
        Event::Error(Error::Protocol(e))
    }

    /// Reads the rest of a large payload straight into its message, or
    /// `None` when the receiver is not inside one. Over TCP the message's
    /// spare capacity is read into as it is, without zeroing it first.
    fn read_direct(&mut self, shared: &Shared, cx: &mut Context<'_>) -> Option<ReadResult> {
        let min = self.buffer_size / 4;
        let (n, item) = if shared.transport.reads_spare() {
            let buf = self.receiver.direct_spare(min)?;
            match shared.transport.poll_read_spare(cx, buf) {
                Poll::Ready(Ok(n)) if n > 0 => {
                    // SAFETY: `poll_read_spare` initialised the first `n`
                    // bytes of the room `direct_spare` gave.
                    (n, unsafe { self.receiver.direct_assume_filled(n) })
                }
                other => return Some(other.map(|r| r.map(|n| (n, None)))),
            }
        } else {
            let buf = self.receiver.direct_buffer(min)?;
            match shared.transport.poll_read(cx, buf) {
                Poll::Ready(Ok(n)) if n > 0 => (n, self.receiver.direct_filled(n)),
                other => return Some(other.map(|r| r.map(|n| (n, None)))),
            }
        };
        shared.received(n);
        Some(Poll::Ready(Ok((n, item.transpose()))))
    }

    /// Reads into the thread's scratch buffer and decodes from it, so an
    /// idle connection holds no read buffer of its own. Bytes left after
    /// the first complete item (or a partial header) are kept in the
    /// connection's own buffer. Returns the bytes read and the first item.
    fn read_scratch(&mut self, shared: &Shared, cx: &mut Context<'_>) -> ReadResult {
        if self.buf.capacity() > 0 {
            self.release_buffer();
        }
        crate::scratch::with_scratch(self.buffer_size, |scratch| {
            let n = match shared.transport.poll_read(cx, scratch) {
                Poll::Ready(Ok(n)) => n,
                other => return other.map(|r| r.map(|n| (n, None))),
            };
            shared.received(n);
            let mut at = 0;
            let turn = self.receiver.work();
            let item = loop {
                if self.receiver.work() - turn > TURN_WORK {
                    // The rest is kept for the next turn (`poll_item`).
                    break None;
                }
                let end = self.decode_end(at, n);
                match self.receiver.decode(&mut scratch[at..end]) {
                    Ok((0, None)) => break None,
                    Ok((used, None)) => at += used,
                    Ok((used, Some(item))) => {
                        at += used;
                        break Some(Ok(item));
                    }
                    Err(e) => return Poll::Ready(Ok((n, Some(Err(e))))),
                }
            };
            if at < n {
                crate::protocol::copy::append(&mut self.buf, &scratch[at..n]);
                self.start = 0;
                self.end = n - at;
            }
            Poll::Ready(Ok((n, item)))
        })
    }

    /// Where to stop the bytes `start..end` handed to the receiver at once:
    /// a compressed payload goes [`INFLATE_SLICE`] bytes at a time, so the
    /// work per turn can be checked in between.
    fn decode_end(&self, start: usize, end: usize) -> usize {
        if self.receiver.inflating() {
            end.min(start + INFLATE_SLICE)
        } else {
            end
        }
    }

    /// Tells the connection when bytes of a data frame came with the last
    /// read: the idle timeout counts those, not pings and pongs.
    fn note_data(&mut self, shared: &Shared) {
        let data = self.receiver.data_bytes();
        if data != self.data_seen {
            self.data_seen = data;
            shared.data_received();
        }
    }

    /// Turns a decoded item into an event, answering pings and closes;
    /// `None` for the peer's close (the close is reported next).
    fn incoming(&mut self, shared: &Shared, item: Incoming) -> Option<Event> {
        self.settle_memory();
        Some(match item {
            Incoming::Message(message) => {
                shared.counters.messages_in.fetch_add(1, Ordering::Relaxed);
                Event::Message(message)
            }
            Incoming::Fragment(fragment) => {
                if fragment.last {
                    shared.counters.messages_in.fetch_add(1, Ordering::Relaxed);
                }
                Event::Fragment(fragment)
            }
            Incoming::Ping(payload) => {
                if shared.config.auto_pong {
                    shared.auto_pong(payload.clone());
                }
                // The peer's keepalive: a moment to give back an idle
                // compressor, as at ours (`writer.rs`).
                #[cfg(feature = "deflate")]
                shared.release_idle_compressor();
                Event::Ping(payload)
            }
            Incoming::Pong(payload) => {
                shared.pong_received(&payload);
                Event::Pong(payload)
            }
            Incoming::Close(close) => {
                let (code, reason) = close.unwrap_or((CloseCode::NO_STATUS, String::new()));
                // Echoed (RFC 6455 §5.5.1) unless our own close is queued.
                shared.peer_closed(code, &reason);
                self.finish(shared);
                return None;
            }
        })
    }

    /// Nothing more is read: the close is reported next.
    pub(super) fn finish(&mut self, shared: &Shared) {
        self.done = true;
        self.uncork(shared, None);
        // Nothing more is decoded: a message left unfinished (the peer
        // went away mid-message) goes now, not when the last handle does.
        let held = self.receiver.memory_held();
        if held > 0 {
            self.receiver = crate::protocol::Receiver::new(*self.receiver.config());
            crate::trim::freed(held);
        }
        self.settle_memory();
        self.release_buffer();
    }

    fn release_buffer(&mut self) {
        self.buf = Vec::new();
        self.start = 0;
        self.end = 0;
    }

    /// Reads more bytes into the buffer, making room first.
    fn poll_fill(&mut self, shared: &Shared, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() && self.start > 0 {
            // Only a partial frame header can be left unconsumed: the
            // receiver takes payload bytes as they come.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() < self.end + 1024 {
            self.buf.resize(self.end + 1024, 0);
        }
        let poll = shared.transport.poll_read(cx, &mut self.buf[self.end..]);
        if let Poll::Ready(Ok(n)) = poll {
            self.end += n;
            shared.received(n);
        }
        poll
    }
}
