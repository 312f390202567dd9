//! The writer task: drains the send queue into the transport with vectored
//! writes, and finishes the closing handshake.

use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Instant;

use std::future::Future;
use std::pin::Pin;

use super::Shared;
use super::keepalive::{Due, Keepalive};
use super::queue::{Closing, OutFrame};
use crate::protocol::CloseCode;
use crate::time::timeout;
use crate::transport::SharedTransport;

/// What the writer does next.
enum Work {
    /// A batch was taken from the queue.
    Write,
    /// Nothing is left to write and the connection is ending.
    Stop,
    /// Keepalive wants a ping, or the connection is dead or idle.
    Keepalive(Due),
}

/// Frames taken from the queue per write.
const BATCH: usize = 64;

pub(crate) async fn run(shared: Arc<Shared>) {
    let mut batch = Vec::with_capacity(BATCH);
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
            if !queue.is_empty() {
                queue.take_batch(&mut batch, BATCH);
                return Poll::Ready(Work::Write);
            }
            if queue.closing == (Closing::CloseQueued { fail: true })
                || queue.closing == Closing::Finished
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
                        if at != timer_at {
                            timer_at = at;
                            match at {
                                Some(at) => timer.set_at(at),
                                None => timer = async_io::Timer::never(),
                            }
                        }
                        if Pin::new(&mut timer).poll(cx).is_pending() {
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
        if write_batch(&shared.transport, &mut batch).await.is_err() {
            break;
        }
        let written: usize = batch.iter().map(OutFrame::len).sum();
        let close_written = batch.iter().any(OutFrame::is_close);
        batch.clear();
        shared
            .counters
            .bytes_out
            .fetch_add(written as u64, Ordering::Relaxed);
        let drained = {
            let mut queue = shared.lock_queue();
            queue.bytes -= written;
            let drained = queue.wants_drain && queue.bytes <= config.send_queue_low_water;
            if drained {
                queue.wants_drain = false;
            }
            drained
        };
        shared.space.notify(usize::MAX);
        if drained {
            shared.drain_ready.store(true, Ordering::Release);
            shared.events_waker.wake();
        }
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

/// Writes every frame of `batch`, gathering headers and payloads into
/// vectored writes.
async fn write_batch(transport: &SharedTransport, batch: &mut [OutFrame]) -> io::Result<()> {
    let mut first = 0;
    poll_fn(|cx| {
        loop {
            while first < batch.len() && batch[first].is_done() {
                first += 1;
            }
            if first == batch.len() {
                return Poll::Ready(Ok(()));
            }
            let mut slices = [IoSlice::new(&[]); 2 * BATCH];
            let mut count = 0;
            for part in batch[first..].iter().flat_map(OutFrame::unwritten) {
                if !part.is_empty() {
                    slices[count] = IoSlice::new(part);
                    count += 1;
                }
            }
            let result = transport.poll_write_vectored(cx, &slices[..count]);
            let mut n = match result {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => n,
            };
            for frame in &mut batch[first..] {
                n = frame.advance(n);
                if n == 0 {
                    break;
                }
            }
        }
    })
    .await?;
    poll_fn(|cx| transport.poll_flush(cx)).await
}
