//! The writer task: drains the send queue into the transport with vectored
//! writes, and finishes the closing handshake.

use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Instant;

use std::future::Future;
use std::pin::Pin;

use super::Shared;
use super::keepalive::{Due, Keepalive};
use super::queue::{Closing, OutFrame};
use super::write::{BATCH, poll_write_frames};
use crate::protocol::CloseCode;
use crate::time::timeout;

/// What the writer does next.
enum Work {
    /// A batch was taken from the queue.
    Write,
    /// Nothing is left to write and the connection is ending.
    Stop,
    /// Keepalive wants a ping, or the connection is dead or idle.
    Keepalive(Due),
}

pub(crate) async fn run(shared: Arc<Shared>) {
    let mut batch = Vec::new();
    let config = &shared.config;
    let mut keepalive = Keepalive::new(
        config.ping_interval,
        config.ping_timeout,
        config.idle_timeout,
    );
    let mut timer = async_io::Timer::never();
    let mut timer_at: Option<Instant> = None;
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
            loop {
                match keepalive.check(Instant::now(), shared.last_rx()) {
                    Due::Wait(at) => {
                        // Re-arm only for an earlier deadline: one that moved
                        // later (traffic arrived) is found when the armed
                        // timer fires, so busy connections touch no timer.
                        if at.is_some_and(|at| timer_at.is_none_or(|armed| at < armed)) {
                            timer_at = at;
                            timer.set_at(at.expect("checked above"));
                        }
                        if timer_at.is_none() || Pin::new(&mut timer).poll(cx).is_pending() {
                            return Poll::Pending;
                        }
                        timer_at = None;
                    }
                    due => return Poll::Ready(Work::Keepalive(due)),
                }
            }
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
        let result = poll_fn(|cx| poll_write_frames(&shared.transport, cx, &mut batch)).await;
        shared.lock_queue().writing = false;
        if result.is_err() {
            break;
        }
        let written: usize = batch.iter().map(OutFrame::len).sum();
        let close_written = batch.iter().any(OutFrame::is_close);
        batch.clear();
        if batch.capacity() > 8 {
            batch.shrink_to(8);
        }
        shared.wrote(written);
        if close_written {
            finish_close(&shared).await;
            break;
        }
    }
    shared.transport.kill();
    shared.finished();
}

/// After our close frame is written: wait for the peer's close (unless the
/// connection is being failed), then shut the transport down.
async fn finish_close(shared: &Shared) {
    let fail = shared.lock_queue().closing == (Closing::CloseQueued { fail: true });
    if !fail {
        let peer_closed = async {
            loop {
                let listener = shared.state_changed.listen();
                if shared.peer_closed.load(Ordering::Acquire) {
                    return;
                }
                listener.await;
            }
        };
        timeout(shared.config.close_timeout, peer_closed).await;
    }
    let shutdown = poll_fn(|cx| shared.transport.poll_close(cx));
    let _ = timeout(shared.config.close_timeout, shutdown).await;
}
