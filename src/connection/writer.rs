//! The writer task: drains the send queue into the transport with vectored
//! writes, and finishes the closing handshake.

use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Instant;

use futures::future::select;

use super::Shared;
use super::keepalive::{Due, Keepalive};
use super::queue::{Closing, OutFrame};
use crate::protocol::CloseCode;
use crate::time::timeout;
use crate::transport::SharedTransport;

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
    loop {
        let listener = {
            let mut queue = shared.lock_queue();
            if !queue.is_empty() {
                queue.take_batch(&mut batch, BATCH);
                None
            } else if queue.closing == (Closing::CloseQueued { fail: true })
                || queue.closing == Closing::Finished
            {
                // The stream ended or the connection failed, and nothing is
                // left to write.
                break;
            } else {
                Some(shared.writer_wake.listen())
            }
        };
        if let Some(listener) = listener {
            match keepalive.check(Instant::now(), shared.last_rx()) {
                Due::Wait(None) => listener.await,
                Due::Wait(Some(at)) => {
                    select(listener, async_io::Timer::at(at)).await;
                }
                Due::Ping => shared.keepalive_ping(),
                Due::PongOverdue => {
                    shared.queue_close(CloseCode::INTERNAL_ERROR, "keepalive timeout", true);
                }
                Due::Idle => {
                    shared.queue_close(CloseCode::GOING_AWAY, "idle timeout", true);
                }
            }
            continue;
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
