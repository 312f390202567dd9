//! [`MemoryStream`]: one end of an in-memory, bounded duplex pipe, a
//! transport with no socket under it.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use futures::io::{AsyncRead, AsyncWrite};

use crate::runtime::Clock;

/// One direction of the pipe: what one end wrote and the other has not
/// read yet.
struct Pipe {
    buf: VecDeque<u8>,
    capacity: usize,
    /// The writing end closed or dropped: the reader sees the end of the
    /// stream once `buf` is drained.
    write_closed: bool,
    /// The reading end dropped: writes fail.
    read_closed: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

type Half = Arc<Mutex<Pipe>>;

fn lock(half: &Half) -> MutexGuard<'_, Pipe> {
    half.lock().unwrap_or_else(|p| p.into_inner())
}

/// Stores `waker` in `slot` unless it would wake the same task already.
fn remember(slot: &mut Option<Waker>, waker: &Waker) {
    if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
        *slot = Some(waker.clone());
    }
}

/// One end of an in-memory duplex stream made by [`duplex`]: what one end
/// writes, the other reads, in order. Each direction holds at most its
/// capacity in bytes; a writer finding it full waits until the reader
/// takes some (backpressure, as a socket's buffers give). Closing an end
/// (`poll_close`) or dropping it is the end of the stream for the other's
/// reads, after the bytes already written; writing to an end whose peer
/// was dropped fails with `BrokenPipe`.
///
/// It implements `futures::io::AsyncRead + AsyncWrite`, so it is a
/// [`Transport`](crate::Transport): a [`Connection`](crate::Connection)
/// runs over it with the same code as over TCP.
///
/// # Examples
///
/// ```
/// use futures::io::{AsyncReadExt, AsyncWriteExt};
///
/// wsgate::runtime::block_on(async {
///     let (mut a, mut b) = wsgate::testing::duplex(64);
///     a.write_all(b"ping").await.unwrap();
///     a.close().await.unwrap();
///     let mut got = Vec::new();
///     b.read_to_end(&mut got).await.unwrap();
///     assert_eq!(got, b"ping");
/// });
/// ```
pub struct MemoryStream {
    read: Half,
    write: Half,
    /// The manual clock whose [`advance`](Clock::advance) waits for the
    /// bytes moved here to settle.
    clock: Option<Clock>,
}

/// A connected pair of in-memory streams, each direction holding up to
/// `capacity` bytes (at least 1) before its writer waits.
///
/// # Examples
///
/// ```
/// use futures::io::{AsyncReadExt, AsyncWriteExt};
///
/// wsgate::runtime::block_on(async {
///     let (mut a, mut b) = wsgate::testing::duplex(4);
///     // Only 4 bytes fit: the rest of the write waits for the reader.
///     let writer = wsgate::runtime::spawn(async move {
///         a.write_all(b"hello world").await.unwrap();
///         a
///     });
///     let mut got = [0u8; 11];
///     b.read_exact(&mut got).await.unwrap();
///     assert_eq!(&got, b"hello world");
///     drop(writer.await);
///     // The peer is gone: the end of the stream, and writes fail.
///     assert_eq!(b.read(&mut got).await.unwrap(), 0);
///     assert!(b.write_all(b"x").await.is_err());
/// });
/// ```
pub fn duplex(capacity: usize) -> (MemoryStream, MemoryStream) {
    duplex_on(capacity, None)
}

/// [`duplex`], reporting its activity to `clock`.
pub(crate) fn duplex_on(capacity: usize, clock: Option<Clock>) -> (MemoryStream, MemoryStream) {
    let half = || {
        Arc::new(Mutex::new(Pipe {
            buf: VecDeque::new(),
            capacity: capacity.max(1),
            write_closed: false,
            read_closed: false,
            reader: None,
            writer: None,
        }))
    };
    let (a_to_b, b_to_a) = (half(), half());
    (
        MemoryStream {
            read: b_to_a.clone(),
            write: a_to_b.clone(),
            clock: clock.clone(),
        },
        MemoryStream {
            read: a_to_b,
            write: b_to_a,
            clock,
        },
    )
}

impl MemoryStream {
    /// Ends this end's writing: the peer reads the end of the stream
    /// after what was written. Returns the peer's reader to wake.
    fn end_writing(&self) -> Option<Waker> {
        let reader = {
            let mut pipe = lock(&self.write);
            pipe.write_closed = true;
            pipe.reader.take()
        };
        self.touch();
        reader
    }

    fn touch(&self) {
        if let Some(clock) = &self.clock {
            clock.touch();
        }
    }
}

impl AsyncRead for MemoryStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut pipe = lock(&self.read);
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if pipe.buf.is_empty() {
            if pipe.write_closed {
                return Poll::Ready(Ok(0));
            }
            remember(&mut pipe.reader, cx.waker());
            return Poll::Pending;
        }
        let n = buf.len().min(pipe.buf.len());
        for (to, from) in buf.iter_mut().zip(pipe.buf.drain(..n)) {
            *to = from;
        }
        let writer = pipe.writer.take();
        drop(pipe);
        self.touch();
        if let Some(writer) = writer {
            writer.wake();
        }
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for MemoryStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut pipe = lock(&self.write);
        if pipe.read_closed || pipe.write_closed {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let room = pipe.capacity - pipe.buf.len();
        if room == 0 {
            remember(&mut pipe.writer, cx.waker());
            return Poll::Pending;
        }
        let n = room.min(buf.len());
        pipe.buf.extend(&buf[..n]);
        let reader = pipe.reader.take();
        drop(pipe);
        self.touch();
        if let Some(reader) = reader {
            reader.wake();
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(reader) = self.end_writing() {
            reader.wake();
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for MemoryStream {
    fn drop(&mut self) {
        let reader = self.end_writing();
        let writer = {
            let mut pipe = lock(&self.read);
            pipe.read_closed = true;
            pipe.buf.clear();
            pipe.writer.take()
        };
        for waker in [reader, writer].into_iter().flatten() {
            waker.wake();
        }
    }
}

impl fmt::Debug for MemoryStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStream")
            .field("unread", &lock(&self.read).buf.len())
            .finish_non_exhaustive()
    }
}
