//! Writing queued frames: vectored writes of headers and payloads, from the
//! writer task or, when the socket takes them at once, straight from the
//! sender's task (write-through), which saves a task wake-up per message.

use std::cell::RefCell;
use std::io::{self, IoSlice};
use std::sync::TryLockError;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use super::queue::{OutFrame, SendQueue};
use super::shared::{Admission, Frames, Offer, Outgoing, Shared};
use crate::error::Error;
use crate::transport::SharedTransport;

/// Frames taken from the queue per write.
pub(super) const BATCH: usize = 64;

/// Parts (headers and payloads) in one vectored write at most.
const MAX_PARTS: usize = 2 * BATCH;

/// Frames a write-through takes at most; more is left to the writer task.
pub(super) const THROUGH: usize = 8;

/// Parts adding up to at most this many bytes are copied into one buffer
/// and written with one `send`, not a `writev` of the parts: on Linux the
/// vectored call's extra work (importing the `iovec` array, checking each
/// part) costs more than copying a few KiB.
const GATHER_MAX: usize = 4096;

thread_local! {
    /// The buffer small writes are gathered into, one per thread.
    static GATHER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

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
        let poll = if first + 1 == batch.len() {
            // One frame (the usual case): its header and payload, without
            // going through the parts iterator.
            match batch[first].unwritten() {
                [part, []] | [[], part] => transport.poll_write(cx, part),
                [head, body] if head.len() + body.len() <= GATHER_MAX => {
                    poll_write_gathered(transport, cx, [head, body])
                }
                [head, body] => {
                    transport.poll_write_vectored(cx, &[IoSlice::new(head), IoSlice::new(body)])
                }
            }
        } else {
            poll_write_parts(transport, cx, &batch[first..])
        };
        let mut n = match poll {
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

/// One write of the unwritten parts of several frames.
fn poll_write_parts(
    transport: &SharedTransport,
    cx: &mut Context<'_>,
    frames: &[OutFrame],
) -> Poll<io::Result<usize>> {
    // Parts in this write, at most MAX_PARTS; counted first, so that a
    // small batch never builds the slice array.
    let parts = || {
        frames
            .iter()
            .flat_map(OutFrame::unwritten)
            .filter(|part| !part.is_empty())
            .take(MAX_PARTS)
    };
    let (count, total) = parts().fold((0, 0), |(n, bytes), part| (n + 1, bytes + part.len()));
    if count == 1 {
        transport.poll_write(cx, parts().next().unwrap_or_default())
    } else if total <= GATHER_MAX {
        poll_write_gathered(transport, cx, parts())
    } else {
        let mut slices = [IoSlice::new(&[]); MAX_PARTS];
        for (slice, part) in slices.iter_mut().zip(parts()) {
            *slice = IoSlice::new(part);
        }
        transport.poll_write_vectored(cx, &slices[..count])
    }
}

/// One `send` of `parts` (at most [`GATHER_MAX`] bytes in all), copied
/// into the thread's gather buffer.
fn poll_write_gathered<'a>(
    transport: &SharedTransport,
    cx: &mut Context<'_>,
    parts: impl IntoIterator<Item = &'a [u8]>,
) -> Poll<io::Result<usize>> {
    GATHER.with(|gather| {
        let mut gather = gather.borrow_mut();
        gather.clear();
        for part in parts {
            gather.extend_from_slice(part);
        }
        transport.poll_write(cx, &gather)
    })
}

impl Shared {
    /// Ends a write, with the queue locked: releases the write slot and
    /// takes `bytes` of frames written in full off the queue's size. Returns
    /// whether the queue has drained to its low-water mark for a waiting
    /// sender; pass it to [`announce_written`](Self::announce_written)
    /// once the lock is released.
    pub(super) fn finish_write(&self, queue: &mut SendQueue, bytes: usize) -> bool {
        queue.writing = false;
        queue.remove(bytes);
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
        self.space.notify();
        if drained {
            self.drain_ready.store(true, Ordering::Release);
            self.events_waker.wake();
        }
    }

    /// Queues `out` and writes it from the caller's task, as queuing it
    /// ([`offer`](Shared::offer), without the wake-up) and then
    /// [`write_through`](Self::write_through) would, with one lock of the
    /// queue: a lone frame offered to an empty queue nobody is writing goes
    /// straight into the batch.
    pub(super) fn push_through(
        &self,
        out: Outgoing,
        streaming: bool,
        cx: &mut Context<'_>,
    ) -> Result<Offer, Error> {
        let mut batch = match self.through.try_lock() {
            Ok(batch) => batch,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            // Another sender is writing through: queue, and wake the writer
            // task in case that sender has already looked at the queue.
            Err(TryLockError::WouldBlock) => return self.offer(out, streaming),
        };
        let messages = out.messages;
        let mut wake = false;
        {
            let mut queue = self.lock_queue();
            match self.admit(&mut queue, streaming)? {
                Admission::Admitted => {}
                Admission::Busy => return Ok(Offer::Busy(out)),
                Admission::Full => return Ok(Offer::Full(out)),
            }
            if queue.writing {
                // The writer takes these next.
                self.enqueue(&mut queue, out.frames);
            } else if queue.corked {
                // Corked (`cork.rs`): the writer task takes these once this
                // task lets it run, with whatever else is sent meanwhile.
                self.enqueue(&mut queue, out.frames);
                wake = true;
            } else {
                queue.writing = true;
                match out.frames {
                    Frames::One(frame) if queue.is_empty() => {
                        queue.claim(frame, &mut batch);
                        self.note_high_water(&mut queue);
                    }
                    frames => {
                        self.enqueue(&mut queue, frames);
                        queue.take_batch(&mut batch, THROUGH);
                    }
                }
            }
        }
        self.counters
            .messages_out
            .fetch_add(messages, Ordering::Relaxed);
        if wake {
            self.writer_wake.wake();
        }
        if !batch.is_empty() {
            self.write_batch(cx, &mut batch);
        }
        Ok(Offer::Queued)
    }

    /// Writes up to `max` queued frames from the caller's task, if nobody
    /// else is writing, the queue is not corked and the connection is open
    /// (else the writer task is woken to take them). What the socket does
    /// not take at once goes back to the front of the queue for the writer
    /// task.
    ///
    /// The compressing send path (`connection/deflate.rs`) queues first and
    /// writes after, and the reader writes what was corked (`cork.rs`);
    /// every other path uses [`push_through`](Self::push_through).
    pub(super) fn write_through(&self, cx: &mut Context<'_>, max: usize) {
        let mut batch = self.through.lock().unwrap_or_else(|p| p.into_inner());
        {
            let mut queue = self.lock_queue();
            if queue.writing || queue.is_empty() {
                // Whoever is writing takes these next.
                return;
            }
            if queue.corked || !queue.life.accepts_frames() {
                drop(queue);
                self.writer_wake.wake();
                return;
            }
            queue.writing = true;
            queue.take_batch(&mut batch, max);
        }
        self.write_batch(cx, &mut batch);
    }

    /// Writes a batch taken from the queue (the write slot is ours), puts
    /// back what the socket did not take, and releases the slot.
    fn write_batch(&self, cx: &mut Context<'_>, batch: &mut Vec<OutFrame>) {
        let result = poll_write_frames(&self.transport, cx, batch);
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
        self.announce_written(written, drained);
        if more {
            self.writer_wake.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{FrameHeader, OpCode};
    use crate::transport::SharedTransport;
    use futures::io::{AsyncRead, AsyncWrite};
    use futures::task::noop_waker;
    use proptest::prelude::*;
    use std::pin::Pin;
    use std::sync::{Arc, Mutex};

    use super::super::queue::Body;

    /// What the stream saw: every byte, and each call as (vectored, parts, bytes taken).
    #[derive(Default)]
    struct Log {
        bytes: Vec<u8>,
        calls: Vec<(bool, usize, usize)>,
    }

    /// A stream that takes at most `limits[i]` bytes on its i-th write (0:
    /// would block), cycling through `limits`.
    struct Choppy {
        limits: Vec<usize>,
        next: usize,
        log: Arc<Mutex<Log>>,
    }

    impl Choppy {
        fn take(&mut self, parts: &[&[u8]], vectored: bool) -> Poll<io::Result<usize>> {
            let limit = self.limits[self.next % self.limits.len()];
            self.next += 1;
            if limit == 0 {
                return Poll::Pending;
            }
            let mut log = self.log.lock().unwrap();
            let mut taken = 0;
            for part in parts {
                let n = part.len().min(limit - taken);
                log.bytes.extend_from_slice(&part[..n]);
                taken += n;
            }
            log.calls.push((vectored, parts.len(), taken));
            Poll::Ready(Ok(taken))
        }
    }

    impl AsyncRead for Choppy {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Pending
        }
    }

    impl AsyncWrite for Choppy {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.take(&[buf], false)
        }
        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let parts: Vec<&[u8]> = bufs.iter().map(|b| &**b).collect();
            self.take(&parts, true)
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn frame(len: usize, seed: u8) -> OutFrame {
        let payload: Vec<u8> = (0..len).map(|i| seed.wrapping_add(i as u8)).collect();
        OutFrame::new(
            &FrameHeader::new(OpCode::Binary, true, len as u64),
            Body::Owned(payload),
        )
    }

    /// Writes `lens` as frames through a stream with `limits`; returns the
    /// log and the bytes the frames should have produced.
    fn write_all(lens: &[usize], limits: Vec<usize>) -> (Log, Vec<u8>) {
        let log = Arc::new(Mutex::new(Log::default()));
        let transport = SharedTransport::new(Box::new(Choppy {
            limits,
            next: 0,
            log: log.clone(),
        }));
        let mut batch: Vec<OutFrame> = (0..lens.len()).map(|i| frame(lens[i], i as u8)).collect();
        let mut expected = Vec::new();
        for f in &batch {
            f.unwritten()
                .iter()
                .for_each(|p| expected.extend_from_slice(p));
        }
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        for _ in 0..100_000 {
            match poll_write_frames(&transport, &mut cx, &mut batch) {
                Poll::Ready(result) => {
                    result.unwrap();
                    let log = std::mem::take(&mut *log.lock().unwrap());
                    return (log, expected);
                }
                Poll::Pending => continue,
            }
        }
        panic!("frames not written after 100,000 polls");
    }

    #[test]
    fn small_batches_go_out_in_one_send() {
        let (log, expected) = write_all(&[16, 1000, 0, 30], vec![usize::MAX]);
        assert_eq!(log.bytes, expected);
        assert_eq!(log.calls, vec![(false, 1, expected.len())]);
    }

    #[test]
    fn large_batches_are_written_vectored() {
        let (log, expected) = write_all(&[GATHER_MAX, 5], vec![usize::MAX]);
        assert_eq!(log.bytes, expected);
        assert_eq!(log.calls, vec![(true, 4, expected.len())]);
    }

    #[test]
    fn a_lone_part_is_written_as_it_is() {
        // The first write takes the 10-byte header only; the payload is
        // then one part, written without a copy, large as it is.
        let (log, expected) = write_all(&[100_000], vec![10, usize::MAX]);
        assert_eq!(log.bytes, expected);
        assert_eq!(log.calls, vec![(true, 2, 10), (false, 1, 100_000)]);
    }

    #[test]
    fn a_write_takes_at_most_max_parts() {
        // 100 frames of 2 + 100 bytes: 64 frames (128 parts, 6,528 bytes)
        // in a vectored write, then the other 36 (3,672 bytes) gathered.
        let (log, expected) = write_all(&[100; 100], vec![usize::MAX]);
        assert_eq!(log.bytes, expected);
        assert_eq!(log.calls, vec![(true, MAX_PARTS, 6528), (false, 1, 3672)]);
    }

    proptest! {
        /// Whatever the sizes and however the stream chops its writes, the
        /// bytes come out whole and in order, and only writes of several
        /// parts are vectored.
        #[test]
        fn frames_come_out_whole(
            lens in proptest::collection::vec(
                prop_oneof![0usize..200, 200usize..5000, 5000usize..70_000], 1..12),
            limits in proptest::collection::vec(
                prop_oneof![Just(0usize), 1usize..10, 10usize..9000, Just(usize::MAX)], 1..6),
        ) {
            let mut limits = limits;
            limits.push(usize::MAX);
            let (log, expected) = write_all(&lens, limits);
            prop_assert_eq!(log.bytes.len(), expected.len());
            prop_assert!(log.bytes == expected);
            for &(vectored, parts, _) in &log.calls {
                prop_assert!(vectored == (parts > 1));
            }
        }
    }
}
