//! The byte stream under a connection: any `futures-io` stream (TCP, TLS, an
//! in-memory pipe), shared by the reading and the writing side.

use std::any::Any;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use futures::io::{AsyncRead, AsyncWrite};

mod connect;
mod memory;
mod tcp;

pub(crate) use connect::connect;
pub(crate) use memory::duplex_on;
pub use memory::{MemoryStream, duplex};

pub use tcp::TcpTransport;

/// A stream a WebSocket connection can run over.
///
/// Implemented for every `AsyncRead + AsyncWrite + Send + Unpin + 'static`
/// type, such as `async_std::net::TcpStream` or a TLS stream.
///
/// # Examples
///
/// ```
/// fn takes_transport<T: wsgate::Transport>(_: T) {}
/// # fn check(s: async_std::net::TcpStream) { takes_transport(s) }
/// ```
pub trait Transport: AsyncRead + AsyncWrite + Send + Unpin + Any {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + Any> Transport for T {}

/// A boxed transport, so that one `Connection` type serves every stream.
pub(crate) type BoxTransport = Box<dyn Transport>;

/// A transport shared by a connection's reader and writer.
///
/// Each poll holds the lock only for the duration of one call into the
/// stream. [`kill`](Self::kill) drops the stream (closing the socket) and
/// wakes a reader or writer waiting on it: the reader then sees
/// end-of-stream, the writer an error.
pub(crate) struct SharedTransport {
    slot: Mutex<Slot>,
    /// The stream is a [`TcpTransport`]: it can read into uninitialised
    /// memory ([`poll_read_spare`](Self::poll_read_spare)), it has nothing
    /// to flush, and dropping it is all its close needs
    /// ([`poll_close`](Self::poll_close)).
    tcp: bool,
}

struct Slot {
    io: Option<BoxTransport>,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

impl SharedTransport {
    pub(crate) fn new(io: BoxTransport) -> SharedTransport {
        let any: &dyn Any = &*io;
        SharedTransport {
            tcp: any.is::<TcpTransport>(),
            slot: Mutex::new(Slot {
                io: Some(io),
                reader: None,
                writer: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn poll_read(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.read_with(cx, |io, cx| Pin::new(io).poll_read(cx, buf))
    }

    /// Whether [`poll_read_spare`](Self::poll_read_spare) may be used.
    pub(crate) fn reads_spare(&self) -> bool {
        self.tcp
    }

    /// Reads into uninitialised memory; on `Ok(n)` the first `n` bytes of
    /// `buf` are initialised. Only for a stream that
    /// [`reads_spare`](Self::reads_spare); any other panics.
    pub(crate) fn poll_read_spare(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        self.read_with(cx, |io, cx| {
            let any: &mut dyn Any = &mut **io;
            let tcp = any.downcast_mut::<TcpTransport>();
            tcp.expect("poll_read_spare on a TcpTransport")
                .poll_read_spare(cx, buf)
        })
    }

    /// Runs one read on the stream (end-of-stream once it is gone) and
    /// remembers the reader's waker while it waits.
    fn read_with(
        &self,
        cx: &mut Context<'_>,
        read: impl FnOnce(&mut BoxTransport, &mut Context<'_>) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        let mut slot = self.lock();
        let Slot { io, reader, .. } = &mut *slot;
        let Some(io) = io else {
            return Poll::Ready(Ok(0));
        };
        let poll = read(io, cx);
        if poll.is_pending() && !reader.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *reader = Some(cx.waker().clone());
        }
        poll
    }

    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.write_with(cx, |io, cx| Pin::new(io).poll_write(cx, buf))
    }

    pub(crate) fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.write_with(cx, |io, cx| Pin::new(io).poll_write_vectored(cx, bufs))
    }

    /// Runs one write on the stream (an error once it is gone) and
    /// remembers the writer's waker while it waits.
    fn write_with(
        &self,
        cx: &mut Context<'_>,
        write: impl FnOnce(&mut BoxTransport, &mut Context<'_>) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        let mut slot = self.lock();
        let Slot { io, writer, .. } = &mut *slot;
        let Some(io) = io else {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        };
        let poll = write(io, cx);
        if poll.is_pending() && !writer.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *writer = Some(cx.waker().clone());
        }
        poll
    }

    pub(crate) fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.tcp {
            // Our TCP stream buffers nothing: every write is a system call.
            return Poll::Ready(Ok(()));
        }
        match &mut self.lock().io {
            Some(io) => Pin::new(io).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    /// Ends the writing side before the stream is dropped with
    /// [`kill`](Self::kill): any stream but our own TCP one gets its
    /// `poll_close` (a TLS stream sends its `close_notify`, then shuts its
    /// socket down). Plain TCP needs nothing: it buffers nothing, and
    /// closing the socket sends the FIN, so a `shutdown` first would be one
    /// more system call per connection for the same packets.
    pub(crate) fn poll_close(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.tcp {
            return Poll::Ready(Ok(()));
        }
        match &mut self.lock().io {
            Some(io) => Pin::new(io).poll_close(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    /// Ends the writing side now, whatever the stream: plain TCP too gets
    /// its `shutdown`, so the peer sees the end of the stream while this
    /// end still reads (see [`poll_close`](Self::poll_close) for why that
    /// is not the usual close).
    pub(crate) fn poll_shutdown(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.lock().io {
            Some(io) => Pin::new(io).poll_close(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    /// Drops the stream and wakes whoever waits on it (reader and writer),
    /// who then see it gone.
    pub(crate) fn kill(&self) {
        let (io, reader, writer) = {
            let mut slot = self.lock();
            (slot.io.take(), slot.reader.take(), slot.writer.take())
        };
        drop(io);
        for waker in [reader, writer].into_iter().flatten() {
            waker.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::Duration;

    fn pair() -> (TcpTransport, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        (
            {
                accepted.set_nonblocking(true).unwrap();
                TcpTransport::from_nonblocking(accepted, &crate::runtime::Runtime::for_tests())
                    .unwrap()
            },
            client,
        )
    }

    /// A TCP transport reads into uninitialised memory through the shared
    /// transport, with the same waiting as `poll_read`; any other stream
    /// does not offer it.
    #[test]
    fn tcp_reads_into_spare_room() {
        let (server, mut client) = pair();
        let shared = SharedTransport::new(Box::new(server));
        assert!(shared.reads_spare());
        let cursor = SharedTransport::new(Box::new(futures::io::Cursor::new(Vec::<u8>::new())));
        assert!(!cursor.reads_spare());
        client.write_all(b"hello").unwrap();
        let mut room = [MaybeUninit::<u8>::uninit(); 64];
        let n = crate::runtime::block_on(crate::runtime::Runtime::for_tests().timeout(
            Duration::from_secs(10),
            futures::future::poll_fn(|cx| shared.poll_read_spare(cx, &mut room)),
        ))
        .expect("the bytes arrive")
        .unwrap();
        assert!((1..=5).contains(&n));
        // SAFETY: `poll_read_spare` initialised the first `n` bytes.
        let got: Vec<u8> = room[..n]
            .iter()
            .map(|b| unsafe { b.assume_init() })
            .collect();
        assert_eq!(got, &b"hello"[..n]);
        // Gone: end of stream, as for `poll_read`.
        shared.kill();
        let end = crate::runtime::block_on(futures::future::poll_fn(|cx| {
            shared.poll_read_spare(cx, &mut room)
        }));
        assert_eq!(end.unwrap(), 0);
    }

    /// Closing a TCP connection is dropping its socket: `poll_close` makes
    /// no system call and leaves the socket open (the peer can still send);
    /// `kill` then ends it, and the peer reads what was written, then EOF.
    #[test]
    fn tcp_close_is_the_drop() {
        let (server, mut client) = pair();
        let shared = SharedTransport::new(Box::new(server));
        let written =
            crate::runtime::block_on(futures::future::poll_fn(|cx| shared.poll_write(cx, b"bye")));
        assert_eq!(written.unwrap(), 3);
        let closed = crate::runtime::block_on(futures::future::poll_fn(|cx| shared.poll_close(cx)));
        closed.unwrap();
        // Not shut down: the peer's bytes are still taken.
        client.write_all(b"more").unwrap();
        let mut room = [0u8; 4];
        let mut n = 0;
        while n < 4 {
            n += crate::runtime::block_on(crate::runtime::Runtime::for_tests().timeout(
                Duration::from_secs(10),
                futures::future::poll_fn(|cx| shared.poll_read(cx, &mut room[n..])),
            ))
            .expect("the bytes arrive")
            .unwrap();
        }
        assert_eq!(&room, b"more");
        // Nothing left unread, so the drop sends FIN, not RST.
        shared.kill();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut client, &mut got).unwrap();
        assert_eq!(got, b"bye");
    }
}
