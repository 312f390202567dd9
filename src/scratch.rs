//! Each thread's read buffer, and its pool of message buffers.
//!
//! Reads land in a buffer that belongs to the thread, not to a connection or
//! a task: an idle connection then holds no read buffer, and a task's future
//! stays small (a future is moved, byte by byte, when it is spawned).
//!
//! A message's payload buffer, once written out, goes back to a small pool
//! that the next received message takes its buffer from. An application
//! that sends back what it receives (an echo, a relay) then receives without
//! allocating.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::io::AsyncRead;

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    static POOL: RefCell<Pool> = const { RefCell::new(Pool { buffers: Vec::new(), bytes: 0 }) };
}

/// Buffers kept per thread, at most.
const POOL_BUFFERS: usize = 32;
/// Bytes of capacity kept per thread, at most.
const POOL_BYTES: usize = 256 << 10;
/// The largest buffer kept.
const POOL_MAX_BUFFER: usize = 64 << 10;

struct Pool {
    buffers: Vec<Vec<u8>>,
    bytes: usize,
}

/// An empty buffer with room for at least `want` bytes: a pooled one when
/// one is large enough, otherwise a new one.
pub(crate) fn take_buffer(want: usize) -> Vec<u8> {
    let pooled = POOL.try_with(|pool| {
        let mut pool = pool.try_borrow_mut().ok()?;
        // Large enough, and not so large that a small message would hold
        // on to a big buffer.
        let most = want.saturating_mul(4).max(4 << 10);
        let at = pool
            .buffers
            .iter()
            .rposition(|b| (want..=most).contains(&b.capacity()))?;
        let buffer = pool.buffers.swap_remove(at);
        pool.bytes -= buffer.capacity();
        Some(buffer)
    });
    pooled
        .ok()
        .flatten()
        .unwrap_or_else(|| Vec::with_capacity(want))
}

/// Gives a buffer that is no longer needed to the pool (or drops it when
/// the pool is full or the buffer too large or too small to be worth it).
pub(crate) fn give_buffer(mut buffer: Vec<u8>) {
    let capacity = buffer.capacity();
    if !(16..=POOL_MAX_BUFFER).contains(&capacity) {
        drop(buffer);
        // A large buffer freed: the allocator may have to be told.
        crate::trim::freed(capacity);
        return;
    }
    buffer.clear();
    let _ = POOL.try_with(|pool| {
        if let Ok(mut pool) = pool.try_borrow_mut()
            && pool.buffers.len() < POOL_BUFFERS
            && pool.bytes + capacity <= POOL_BYTES
        {
            pool.bytes += capacity;
            pool.buffers.push(buffer);
        }
    });
}

/// Runs `f` with this thread's scratch buffer, at least `len` bytes long
/// (exactly `len` bytes are passed). Contents left by earlier users are
/// arbitrary.
pub(crate) fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => {
            if scratch.len() < len {
                scratch.resize(len, 0);
            }
            f(&mut scratch[..len])
        }
        // Only if `f` itself asked for scratch space: give it its own.
        Err(_) => f(&mut vec![0; len]),
    })
}

/// Reads at most `room` bytes from `io` through this thread's scratch
/// buffer and appends what arrived to `buf`: for byte collections that grow
/// a little at a time (a request head, bytes sent before a decision).
pub(crate) fn poll_read_appending<R: AsyncRead + Unpin + ?Sized>(
    io: &mut R,
    cx: &mut Context<'_>,
    buf: &mut Vec<u8>,
    room: usize,
) -> Poll<io::Result<usize>> {
    with_scratch(room, |scratch| {
        let read = Pin::new(io).poll_read(cx, scratch);
        if let Poll::Ready(Ok(n)) = read {
            buf.extend_from_slice(&scratch[..n]);
        }
        read
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_cleared_and_the_pool_is_bounded() {
        let mut buffer = Vec::with_capacity(1000);
        buffer.extend_from_slice(b"secret");
        give_buffer(buffer);
        let reused = take_buffer(500);
        assert!(reused.is_empty() && reused.capacity() >= 1000);
        // Too small a pooled buffer is not handed out for a larger need.
        give_buffer(reused);
        assert!(take_buffer(4000).capacity() >= 4000);
        // Bounded: a flood of buffers keeps at most POOL_BYTES.
        for _ in 0..100 {
            give_buffer(Vec::with_capacity(POOL_MAX_BUFFER));
        }
        POOL.with(|pool| assert!(pool.borrow().bytes <= POOL_BYTES));
        give_buffer(Vec::with_capacity(POOL_MAX_BUFFER + 1));
        POOL.with(|pool| {
            let pool = pool.borrow();
            assert!(pool.buffers.iter().all(|b| b.capacity() <= POOL_MAX_BUFFER));
            assert!(pool.buffers.len() <= POOL_BUFFERS);
        });
    }

    #[test]
    fn nested_use_gets_a_separate_buffer() {
        with_scratch(16, |outer| {
            outer.fill(1);
            with_scratch(8, |inner| {
                assert_eq!(inner.len(), 8);
                inner.fill(2);
            });
            assert!(outer.iter().all(|&b| b == 1));
        });
    }
}
