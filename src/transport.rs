//! The byte stream under a connection: any `futures-io` stream (TCP, TLS, an
//! in-memory pipe), shared by the reading and the writing side.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use futures::io::{AsyncRead, AsyncWrite};

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
pub trait Transport: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Transport for T {}

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
}

struct Slot {
    io: Option<BoxTransport>,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

impl SharedTransport {
    pub(crate) fn new(io: BoxTransport) -> SharedTransport {
        SharedTransport {
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
        let mut slot = self.lock();
        let Slot { io, reader, .. } = &mut *slot;
        let Some(io) = io else {
            return Poll::Ready(Ok(0));
        };
        let poll = Pin::new(io).poll_read(cx, buf);
        if poll.is_pending() && !reader.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *reader = Some(cx.waker().clone());
        }
        poll
    }

    pub(crate) fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let mut slot = self.lock();
        let Slot { io, writer, .. } = &mut *slot;
        let Some(io) = io else {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        };
        let poll = Pin::new(io).poll_write_vectored(cx, bufs);
        if poll.is_pending() && !writer.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *writer = Some(cx.waker().clone());
        }
        poll
    }

    pub(crate) fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.lock().io {
            Some(io) => Pin::new(io).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    pub(crate) fn poll_close(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
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

/// A TCP stream whose `close` shuts down the write side (sends FIN).
///
/// `async_std::net::TcpStream::poll_close` only flushes, so without this a
/// final HTTP response would not be followed by end-of-stream until the
/// socket is dropped, and a client waiting for it would wait.
pub(crate) struct TcpTransport(pub(crate) async_std::net::TcpStream);

impl AsyncRead for TcpTransport {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TcpTransport {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures::ready!(Pin::new(&mut self.0).poll_flush(cx))?;
        match self.0.shutdown(std::net::Shutdown::Write) {
            Err(e) if e.kind() != io::ErrorKind::NotConnected => Poll::Ready(Err(e)),
            _ => Poll::Ready(Ok(())),
        }
    }
}
