//! The writer task: drains the send queue into the transport with vectored
//! writes, and finishes the closing handshake.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use std::future::Future;
use std::pin::Pin;

use super::queue::OutFrame;
use super::shared::Shared;
use super::write::{BATCH, poll_write_frames};
use crate::lifecycle::Expired;
use crate::protocol::{OpCode, Role};
use crate::runtime::Timer;

/// What the writer does next.
enum Work {
    /// A batch was taken from the queue.
    Write,
    /// Nothing is left to write and the connection is ending.
    Stop,
    /// A deadline of the connection's lifecycle came.
    Expired(Expired),
}

/// The one timer through which the writer sleeps until the lifecycle's
/// next deadline (see `lifecycle.rs`). Re-armed only for an earlier
/// deadline: a deadline that moved later is found when the armed timer
/// fires, so busy connections touch no timer.
struct Deadline {
    timer: Timer,
    armed: Option<Instant>,
}

impl Deadline {
    /// Asks the lifecycle what is due now; if nothing, sleeps until its
    /// next deadline.
    fn poll(&mut self, cx: &mut Context<'_>, shared: &Shared) -> Poll<Expired> {
        loop {
            let now = shared.runtime.now();
            let activity = shared.activity();
            let t = shared.timeouts();
            let next = {
                let mut queue = shared.lock_queue();
                if let Some(expired) = queue.life.on_deadline(t, now, activity) {
                    return Poll::Ready(expired);
                }
                queue.life.next_deadline(t, activity)
            };
            if let Some(at) = next
                && self.armed.is_none_or(|armed| at < armed)
            {
                self.armed = Some(at);
                self.timer.set_at(at);
            }
            if self.armed.is_none() || Pin::new(&mut self.timer).poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.armed = None;
        }
    }
}

pub(crate) async fn run(shared: Arc<Shared>) {
    let mut batch = Vec::new();
    let mut deadline = Deadline {
        timer: shared.runtime.timer_never(),
        armed: None,
    };
    loop {
        let work = poll_fn(|cx| {
            let mut queue = shared.lock_queue();
            if !queue.is_empty() && !queue.writing {
                queue.writing = true;
                queue.take_batch(&mut batch, BATCH);
                return Poll::Ready(Work::Write);
            }
            if !queue.writing && queue.life.writer_may_stop() {
                // The stream ended or the connection failed, and nothing is
                // left to write.
                return Poll::Ready(Work::Stop);
            }
            // Registered under the queue lock: a sender that pushes after
            // this point wakes us.
            shared.writer_wake.register(cx.waker());
            drop(queue);
            deadline.poll(cx, &shared).map(Work::Expired)
        })
        .await;
        match work {
            Work::Write => {}
            Work::Stop | Work::Expired(Expired::CloseTimeout) => break,
            Work::Expired(Expired::Ping(payload)) => {
                keepalive_ping(&shared, payload);
                continue;
            }
            Work::Expired(failure) => {
                shared.fail_on(failure);
                continue;
            }
        }
        // While the peer does not read, the deadlines still apply: a dead
        // peer is dropped, and so is one that cannot take our close frame.
        let result = poll_fn(|cx| {
            // Woken too when a close is queued meanwhile: its deadline
            // starts now.
            shared.writer_wake.register(cx.waker());
            if let Poll::Ready(result) = poll_write_frames(&shared.transport, cx, &mut batch) {
                return Poll::Ready(result.map_err(|_| None));
            }
            loop {
                match deadline.poll(cx, &shared) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Expired::Ping(payload)) => keepalive_ping(&shared, payload),
                    Poll::Ready(expired) => return Poll::Ready(Err(Some(expired))),
                }
            }
        })
        .await;
        let written: usize = match result {
            Ok(()) => batch.iter().map(OutFrame::len).sum(),
            Err(_) => 0,
        };
        let close_written = result.is_ok() && batch.iter().any(OutFrame::is_close);
        let drained = {
            let mut queue = shared.lock_queue();
            if close_written {
                queue.life.close_written(shared.runtime.now());
            }
            shared.finish_write(&mut queue, written)
        };
        if close_written {
            // The close to report is settled now.
            shared.events_waker.wake();
        }
        if let Err(stalled) = result {
            shared.stalled(stalled);
            break;
        }
        batch.drain(..).for_each(OutFrame::recycle);
        if batch.capacity() > 8 {
            batch.shrink_to(8);
        }
        shared.announce_written(written, drained);
        if close_written {
            // Boxed: the closing steps' state is the largest of this task's,
            // and boxing it keeps it out of every open connection's task
            // (idle memory) at the cost of one allocation per close.
            Box::pin(finish_close(&shared)).await;
            break;
        }
    }
    shared.transport.kill();
    shared.finished();
}

/// A keepalive ping is due (nothing heard from the peer for an interval):
/// sends it, and an idle connection gives its compressor back.
fn keepalive_ping(shared: &Shared, payload: [u8; 8]) {
    let _ = shared.send_control(OpCode::Ping, payload.to_vec());
    #[cfg(feature = "deflate")]
    shared.release_idle_compressor();
}

/// After our close frame is written: wait for the peer's end, then shut the
/// transport down, every step bounded by the lifecycle's close deadline
/// (`close_timeout` from when the close frame was written): one deadline
/// for the whole close, however its time is shared among the steps.
///
/// Normally the peer's end is its close frame, which this task reads
/// itself, keeping what comes before it for the event stream
/// (`closing.rs`): the application need not poll its events for a close to
/// complete. A connection being failed shuts its writing side down at
/// once, so the peer reads our close frame and then the end of the stream,
/// and waits for the peer's end as well (its close frame, or its end of
/// stream).
///
/// When nothing decodes the stream any more (a protocol error stopped the
/// receiver, or every handle is gone), the writing side is shut down and
/// the writer reads and discards until the peer's end of stream.
/// Closing a socket with unread bytes makes the kernel answer with a
/// reset, and a peer that was still sending would then lose our close
/// frame (Node's `ws` reports 1006 instead of the code).
///
/// A client also waits, after the closing handshake, for the server to end
/// the TCP connection first (RFC 6455 §7.1.1), so that the server, not the
/// client, holds the `TIME_WAIT` state; it ends the connection itself only
/// when the server has not done so by the close deadline.
///
/// Each step is polled once even when the deadline has passed (see
/// `Runtime::timeout_at`), so a shutdown that can complete at once (a TLS
/// stream's `close_notify` into an empty socket buffer) still does.
async fn finish_close(shared: &Shared) {
    let (fail, until) = {
        let queue = shared.lock_queue();
        (
            queue.life.failing(),
            queue.life.close_deadline(shared.timeouts()),
        )
    };
    let until = until.unwrap_or_else(|| shared.runtime.now() + shared.config.close_timeout);
    // Whether the writing side was ended (or tried for as long as allowed).
    let mut shut = false;
    if fail {
        shut = true;
        shut_down(shared, until).await;
    }
    let peer_end = async {
        if !shared.peer_done() && !shared.lock_queue().life.reader_stopped() {
            // The peer's close frame (or end of stream), read here whether
            // or not the application polls its events (`closing.rs`).
            poll_fn(|cx| shared.poll_read_closing(cx)).await;
        }
        if shared.peer_done() {
            return true;
        }
        // Nothing decodes what the peer sends any more (a protocol error
        // stopped the receiver, or every handle is gone): end our side and
        // drop what comes until its end of stream.
        if !shut {
            shut = true;
            shut_down(shared, until).await;
        }
        discard_until_end(shared).await;
        false
    };
    let close_frame = shared.runtime.timeout_at(until, peer_end).await == Some(true);
    if close_frame && !fail && shared.role == Role::Client {
        // Nothing may follow the server's close frame: read and drop
        // until its end of stream.
        shared
            .runtime
            .timeout_at(until, discard_until_end(shared))
            .await;
    }
    if !shut {
        // A TLS stream's close_notify; nothing for plain TCP, which the
        // drop ends.
        let shutdown = poll_fn(|cx| shared.transport.poll_close(cx));
        let _ = shared.runtime.timeout_at(until, shutdown).await;
    }
}

/// Ends the writing side (TCP's FIN, after a TLS stream's `close_notify`);
/// the peer can still send. Bounded by the close deadline `until`.
async fn shut_down(shared: &Shared, until: Instant) {
    let shutdown = poll_fn(|cx| shared.transport.poll_shutdown(cx));
    let _ = shared.runtime.timeout_at(until, shutdown).await;
}

/// Reads and drops what the peer sends until its end of stream (or an
/// error), through the thread's scratch buffer.
async fn discard_until_end(shared: &Shared) {
    poll_fn(|cx| {
        for _ in 0..16 {
            let read =
                crate::scratch::with_scratch(4096, |sink| shared.transport.poll_read(cx, sink));
            match read {
                Poll::Ready(Ok(n)) if n > 0 => {}
                Poll::Ready(_) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
        }
        // A peer that keeps sending gets no more than its share of the
        // thread; the caller's timeout still applies.
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}
