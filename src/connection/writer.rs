//! The writer task: drains the send queue into the transport with vectored
//! writes, and finishes the closing handshake.

use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Instant;

use std::future::Future;
use std::pin::Pin;

use super::Shared;
use super::keepalive::{Due, Keepalive};
use super::queue::{Closing, OutFrame};
use super::write::{BATCH, poll_write_frames};
use crate::protocol::{CloseCode, Role};
use crate::runtime::Timer;

/// What the writer does next.
enum Work {
    /// A batch was taken from the queue.
    Write,
    /// Nothing is left to write and the connection is ending.
    Stop,
    /// Keepalive wants a ping, or the connection is dead or idle.
    Keepalive(Due),
}

/// The writer's deadlines: keepalive and idle timeouts, and the close
/// deadline while a write is blocked. One timer, re-armed only for an
/// earlier deadline (a deadline that moved later is found when the armed
/// timer fires), so busy connections touch no timer.
struct Deadlines {
    keepalive: Keepalive,
    timer: Timer,
    armed: Option<Instant>,
}

/// A deadline that passed.
enum Fired {
    Keepalive(Due),
    /// The close frame could not be written within the close timeout.
    Close,
}

impl Deadlines {
    fn poll(
        &mut self,
        cx: &mut Context<'_>,
        shared: &Shared,
        close: Option<Instant>,
    ) -> Poll<Fired> {
        loop {
            let now = Instant::now();
            if close.is_some_and(|at| now >= at) {
                return Poll::Ready(Fired::Close);
            }
            let due = self
                .keepalive
                .check(now, shared.last_rx(), shared.last_data_rx());
            let next = match due {
                Due::Wait(at) => [at, close].into_iter().flatten().min(),
                due => return Poll::Ready(Fired::Keepalive(due)),
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
    let config = &shared.config;
    let mut deadlines = Deadlines {
        keepalive: Keepalive::new(
            config.ping_interval,
            config.ping_timeout,
            config.idle_timeout,
        ),
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
            if !queue.writing
                && (queue.closing == (Closing::CloseQueued { fail: true })
                    || queue.closing == Closing::Finished)
            {
                // The stream ended or the connection failed, and nothing is
                // left to write.
                return Poll::Ready(Work::Stop);
            }
            // Registered under the queue lock: a sender that pushes after
            // this point wakes us.
            shared.writer_wake.register(cx.waker());
            drop(queue);
            deadlines.poll(cx, &shared, None).map(|fired| match fired {
                Fired::Keepalive(due) => Work::Keepalive(due),
                Fired::Close => Work::Stop,
            })
        })
        .await;
        match work {
            Work::Write => {}
            Work::Stop => break,
            Work::Keepalive(Due::Ping) => {
                shared.keepalive_ping();
                continue;
            }
            Work::Keepalive(Due::PongOverdue) => {
                shared.queue_close(CloseCode::INTERNAL_ERROR, "keepalive timeout", true);
                continue;
            }
            Work::Keepalive(_) => {
                shared.queue_close(CloseCode::GOING_AWAY, "idle timeout", true);
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
                let close = shared.close_deadline();
                match deadlines.poll(cx, &shared, close) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Fired::Keepalive(Due::Ping)) => shared.keepalive_ping(),
                    Poll::Ready(Fired::Keepalive(Due::PongOverdue)) => {
                        return Poll::Ready(Err(Some((
                            CloseCode::INTERNAL_ERROR,
                            "keepalive timeout",
                        ))));
                    }
                    Poll::Ready(Fired::Keepalive(_)) => {
                        return Poll::Ready(Err(Some((CloseCode::GOING_AWAY, "idle timeout"))));
                    }
                    Poll::Ready(Fired::Close) => {
                        return Poll::Ready(Err(Some((CloseCode::ABNORMAL, "close timeout"))));
                    }
                }
            }
        })
        .await;
        let written: usize = match result {
            Ok(()) => batch.iter().map(OutFrame::len).sum(),
            Err(_) => 0,
        };
        let drained = shared.finish_write(&mut shared.lock_queue(), written);
        if let Err(stalled) = result {
            if let Some((code, reason)) = stalled {
                shared.abort(code, reason);
            }
            break;
        }
        let close_written = batch.iter().any(OutFrame::is_close);
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

/// After our close frame is written: wait for the peer's end, bounded by
/// `close_timeout`, then shut the transport down.
///
/// Normally the peer's end is its close frame, read by the event stream. A
/// connection being failed shuts its writing side down at once, so the
/// peer reads our close frame and then the end of the stream, and waits for
/// the peer's end as well (its close frame, or its end of stream).
///
/// When nothing reads the stream any more (the event stream stopped at a
/// protocol error, or every handle is gone), the writing side is shut down
/// and the writer reads and discards until the peer's end of stream.
/// Closing a socket with unread bytes makes the kernel answer with a
/// reset, and a peer that was still sending would then lose our close
/// frame (Node's `ws` reports 1006 instead of the code).
///
/// A client also waits, after the closing handshake, for the server to end
/// the TCP connection first (RFC 6455 §7.1.1), so that the server, not the
/// client, holds the `TIME_WAIT` state; it ends the connection itself only
/// when the server has not done so within `close_timeout`.
async fn finish_close(shared: &Shared) {
    let limit = shared.config.close_timeout;
    let fail = shared.lock_queue().closing == (Closing::CloseQueued { fail: true });
    // Whether the writing side was ended (or tried for as long as allowed).
    let mut shut = false;
    if fail {
        shut = true;
        shut_down(shared).await;
    }
    let peer_end = async {
        loop {
            let listener = shared.state_changed.listen();
            if shared.peer_closed.load(Ordering::Acquire) {
                return true;
            }
            if shared.reader_stopped.load(Ordering::Acquire) {
                if !shut {
                    shut = true;
                    shut_down(shared).await;
                }
                discard_until_end(shared).await;
                return false;
            }
            listener.await;
        }
    };
    let close_frame = shared.runtime.timeout(limit, peer_end).await == Some(true);
    if close_frame && !fail && shared.role == Role::Client {
        // Nothing may follow the server's close frame: read and drop
        // until its end of stream.
        shared
            .runtime
            .timeout(limit, discard_until_end(shared))
            .await;
    }
    if !shut {
        // A TLS stream's close_notify; nothing for plain TCP, which the
        // drop ends.
        let shutdown = poll_fn(|cx| shared.transport.poll_close(cx));
        let _ = shared.runtime.timeout(limit, shutdown).await;
    }
}

/// Ends the writing side (TCP's FIN, after a TLS stream's `close_notify`);
/// the peer can still send. Bounded by `close_timeout`.
async fn shut_down(shared: &Shared) {
    let shutdown = poll_fn(|cx| shared.transport.poll_shutdown(cx));
    let _ = shared
        .runtime
        .timeout(shared.config.close_timeout, shutdown)
        .await;
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
