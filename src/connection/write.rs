//! Writing queued frames: vectored writes of headers and payloads, from the
//! writer task or, when the socket takes them at once, straight from the
//! sender's task (write-through), which saves a task wake-up per message.

use std::io::{self, IoSlice};
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use super::queue::{Closing, OutFrame, SendQueue};
use super::shared::Shared;
use crate::transport::SharedTransport;

/// Frames taken from the queue per write.
pub(super) const BATCH: usize = 64;

/// Frames a write-through takes at most; more is left to the writer task.
const THROUGH: usize = 8;

/// Writes `batch` until every frame is done (`Ready(Ok)`), the transport
/// would block (`Pending`, progress kept in the frames), or it fails.
pub(super) fn poll_write_frames(
    transport: &SharedTransport,
    cx: &mut Context<'_>,
    batch: &mut [OutFrame],
) -> Poll<io::Result<()>> {
    let mut first = 0;
    loop {
        while first < batch.len() && batch[first].is_done() {
            first += 1;
        }
        if first == batch.len() {
            return transport.poll_flush(cx);
        }
        let mut slices = [IoSlice::new(&[]); 2 * BATCH];
        let mut count = 0;
        for part in batch[first..].iter().flat_map(OutFrame::unwritten) {
            if !part.is_empty() && count < slices.len() {
                slices[count] = IoSlice::new(part);
                count += 1;
            }
        }
        let mut n = match transport.poll_write_vectored(cx, &slices[..count]) {
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
}

impl Shared {
    /// Ends a write, with the queue locked: releases the write slot and
    /// takes `bytes` of frames written in full off the queue's size. Returns
    /// whether the queue has drained to its low-water mark for a waiting
    /// sender; pass it to [`announce_written`](Self::announce_written)
    /// once the lock is released.
    pub(super) fn finish_write(&self, queue: &mut SendQueue, bytes: usize) -> bool {
        queue.writing = false;
        queue.bytes -= bytes;
        let drained =
            bytes > 0 && queue.wants_drain && queue.bytes <= self.config.send_queue_low_water;
        if drained {
            queue.wants_drain = false;
        }
        drained
    }

    /// After [`finish_write`](Self::finish_write), outside the lock: traffic
    /// counters, senders waiting for space, and the drain announcement.
    pub(super) fn announce_written(&self, bytes: usize, drained: bool) {
        if bytes == 0 {
            return;
        }
        self.counters
            .bytes_out
            .fetch_add(bytes as u64, Ordering::Relaxed);
        self.space.notify(usize::MAX);
        if drained {
            self.drain_ready.store(true, Ordering::Release);
            self.events_waker.wake();
        }
    }

    /// Writes what is queued from the caller's task, if nobody else is
    /// writing and the connection is open. What the socket does not take at
    /// once goes back to the front of the queue for the writer task.
    pub(super) fn write_through(&self, cx: &mut Context<'_>) {
        let mut batch = self.through.lock().unwrap_or_else(|p| p.into_inner());
        {
            let mut queue = self.lock_queue();
            if queue.writing || queue.is_empty() {
                // Whoever is writing takes these next.
                return;
            }
            if queue.closing != Closing::Open {
                drop(queue);
                self.writer_wake.wake();
                return;
            }
            queue.writing = true;
            queue.take_batch(&mut batch, THROUGH);
        }
        let result = poll_write_frames(&self.transport, cx, &mut batch);
        let done = batch.iter().take_while(|f| f.is_done()).count();
        let written: usize = batch[..done].iter().map(OutFrame::len).sum();
        batch.drain(..done).for_each(OutFrame::recycle);
        let (more, drained) = {
            let mut queue = self.lock_queue();
            queue.put_back(batch.drain(..));
            let drained = self.finish_write(&mut queue, written);
            (
                !queue.is_empty() || matches!(result, Poll::Ready(Err(_))),
                drained,
            )
        };
        if batch.capacity() > THROUGH {
            batch.shrink_to(THROUGH);
        }
        drop(batch);
        self.announce_written(written, drained);
        if more {
            self.writer_wake.wake();
        }
    }
}
