//! The byte stream under a connection: any `futures-io` stream (TCP, TLS, an
//! in-memory pipe), shared by the reading and the writing side.

use std::any::Any;
use std::io::{self, IoSlice, Read};
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use async_io::Async;
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
    /// memory ([`poll_read_spare`](Self::poll_read_spare)), and dropping it
    /// is all its close needs ([`poll_close`](Self::poll_close)).
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

/// An accepted TCP connection, as the server reads and writes it.
///
/// Two things set it apart from `async_std::net::TcpStream`:
///
/// - **One read per arrival.** After a read that returns fewer bytes than
///   asked for, the socket's receive queue is empty, so the next read waits
///   for the reactor's readiness event first instead of trying a read that
///   would fail with `WouldBlock`. A small echoed message then costs one
///   `recvfrom`, not three.
/// - **No zeroing before a large read.** The rest of a large payload is
///   read straight into its message's spare capacity with `recv`, which
///   needs no initialised buffer, so a 1 MiB message costs no 1 MiB
///   `memset` (any other stream gets a zeroed buffer, as `AsyncRead`
///   requires).
/// - **`close` sends FIN.** [`poll_close`](AsyncWrite::poll_close) shuts
///   down the write side, so a final HTTP response or close frame is
///   followed by end-of-stream at once, not when the socket is dropped.
///
/// A [`TlsAcceptor`](crate::TlsAcceptor) receives one to wrap.
///
/// # Examples
///
/// ```
/// use wsgate::TcpTransport;
///
/// # async_std::task::block_on(async {
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let client = std::net::TcpStream::connect(listener.local_addr()?)?;
/// let (accepted, _) = listener.accept()?;
/// let transport = TcpTransport::new(accepted)?;
/// assert_eq!(transport.peer_addr()?, client.local_addr()?);
/// # Ok::<(), std::io::Error>(()) });
/// ```
pub struct TcpTransport {
    io: Async<std::net::TcpStream>,
    /// The last read returned fewer bytes than asked for.
    drained: bool,
}

impl TcpTransport {
    /// Wraps a connected stream, switching it to non-blocking mode and
    /// registering it with the reactor.
    ///
    /// # Examples
    ///
    /// ```
    /// # async_std::task::block_on(async {
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let _client = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// let (stream, _) = listener.accept()?;
    /// let transport = wsgate::TcpTransport::new(stream)?;
    /// # Ok::<(), std::io::Error>(()) });
    /// ```
    pub fn new(stream: std::net::TcpStream) -> io::Result<TcpTransport> {
        Ok(TcpTransport::from_async(Async::new(stream)?))
    }

    pub(crate) fn from_async(io: Async<std::net::TcpStream>) -> TcpTransport {
        TcpTransport { io, drained: false }
    }

    /// The remote end's address.
    ///
    /// # Examples
    ///
    /// ```
    /// # async_std::task::block_on(async {
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let client = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// # let transport = wsgate::TcpTransport::new(listener.accept()?.0)?;
    /// assert_eq!(transport.peer_addr()?, client.local_addr()?);
    /// # Ok::<(), std::io::Error>(()) });
    /// ```
    pub fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// This end's address.
    ///
    /// # Examples
    ///
    /// ```
    /// # async_std::task::block_on(async {
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let _client = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// # let transport = wsgate::TcpTransport::new(listener.accept()?.0)?;
    /// assert_eq!(transport.local_addr()?, listener.local_addr()?);
    /// # Ok::<(), std::io::Error>(()) });
    /// ```
    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The underlying socket, for options this type has no method for.
    ///
    /// # Examples
    ///
    /// ```
    /// # async_std::task::block_on(async {
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let _client = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// # let transport = wsgate::TcpTransport::new(listener.accept()?.0)?;
    /// transport.get_ref().set_nodelay(true)?;
    /// # Ok::<(), std::io::Error>(()) });
    /// ```
    pub fn get_ref(&self) -> &std::net::TcpStream {
        self.io.get_ref()
    }
}

impl std::fmt::Debug for TcpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpTransport")
            .field("peer_addr", &self.peer_addr().ok())
            .finish_non_exhaustive()
    }
}

impl TcpTransport {
    /// [`poll_read`](AsyncRead::poll_read) into uninitialised memory: on
    /// `Ok(n)` the first `n` bytes of `buf` are initialised.
    pub(crate) fn poll_read_spare(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        let len = buf.len();
        self.poll_read_with(cx, len, |stream| socket2::SockRef::from(stream).recv(buf))
    }

    /// One read of at most `len` bytes with `read`, after waiting for
    /// readiness when the last read drained the socket.
    fn poll_read_with(
        &mut self,
        cx: &mut Context<'_>,
        len: usize,
        mut read: impl FnMut(&std::net::TcpStream) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        if std::mem::take(&mut self.drained) {
            // The readiness event behind the last read is spent (the first
            // poll consumes it); the second registers for the next one.
            // Either may find a newer event, and then the read goes ahead.
            for _ in 0..2 {
                if futures::ready!(self.io.poll_readable(cx)).is_err() {
                    break; // let the read report the error
                }
            }
        }
        loop {
            match read(self.io.get_ref()) {
                Ok(n) => {
                    self.drained = n > 0 && n < len;
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    futures::ready!(self.io.poll_readable(cx))?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncRead for TcpTransport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let len = buf.len();
        self.get_mut()
            .poll_read_with(cx, len, |mut stream| stream.read(buf))
    }
}

impl AsyncWrite for TcpTransport {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures::ready!(Pin::new(&mut self.io).poll_flush(cx))?;
        match self.io.get_ref().shutdown(std::net::Shutdown::Write) {
            Err(e) if e.kind() != io::ErrorKind::NotConnected => Poll::Ready(Err(e)),
            _ => Poll::Ready(Ok(())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::io::{AsyncReadExt, AsyncWriteExt};
    use std::io::Write;
    use std::time::Duration;

    fn pair() -> (TcpTransport, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        (TcpTransport::new(accepted).unwrap(), client)
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
        let n = async_std::task::block_on(async_std::future::timeout(
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
        let end = async_std::task::block_on(futures::future::poll_fn(|cx| {
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
            async_std::task::block_on(futures::future::poll_fn(|cx| shared.poll_write(cx, b"bye")));
        assert_eq!(written.unwrap(), 3);
        let closed =
            async_std::task::block_on(futures::future::poll_fn(|cx| shared.poll_close(cx)));
        closed.unwrap();
        // Not shut down: the peer's bytes are still taken.
        client.write_all(b"more").unwrap();
        let mut room = [0u8; 4];
        let mut n = 0;
        while n < 4 {
            n += async_std::task::block_on(async_std::future::timeout(
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

    /// After a short read the transport waits for readiness instead of
    /// reading; bytes that arrive later (or already arrived) must still be
    /// seen, whatever the timing.
    #[test]
    fn short_reads_never_lose_a_wakeup() {
        let (mut server, mut client) = pair();
        let writer = std::thread::spawn(move || {
            for i in 0..200u32 {
                client.write_all(&i.to_be_bytes()).unwrap();
                if i % 3 == 0 {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
            client
        });
        let received =
            async_std::task::block_on(async_std::future::timeout(Duration::from_secs(20), async {
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                while got.len() < 800 {
                    let n = server.read(&mut buf).await.unwrap();
                    assert!(n > 0, "end of stream after {} bytes", got.len());
                    got.extend_from_slice(&buf[..n]);
                }
                got
            }))
            .expect("every byte arrives");
        let expected: Vec<u8> = (0..200u32).flat_map(u32::to_be_bytes).collect();
        assert_eq!(received, expected);
        drop(writer.join().unwrap());
    }

    /// A task woken for another reason while the transport waits for
    /// readiness stays pending, and the readiness event still arrives,
    /// whether the wait began after a read that would block or after a
    /// short read.
    #[test]
    fn spurious_wakeups_wait_on() {
        struct Flag(std::sync::atomic::AtomicBool);
        impl futures::task::ArcWake for Flag {
            fn wake_by_ref(arc_self: &std::sync::Arc<Self>) {
                arc_self.0.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let (mut server, mut client) = pair();
        let flag = std::sync::Arc::new(Flag(std::sync::atomic::AtomicBool::new(false)));
        let waker = futures::task::waker(flag.clone());
        let mut cx = Context::from_waker(&waker);
        let mut buf = [0u8; 64];
        let mut poll = |server: &mut TcpTransport| Pin::new(server).poll_read(&mut cx, &mut buf);
        // Nothing sent yet: wait (after one read that would block).
        assert!(poll(&mut server).is_pending());
        // Spurious polls wait on.
        assert!(poll(&mut server).is_pending());
        assert!(poll(&mut server).is_pending());
        client.write_all(b"abc").unwrap();
        // Something must run the reactor: async-io's driver thread does.
        // Poll only when woken, as an executor would.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let got = loop {
            assert!(std::time::Instant::now() < deadline, "no readiness event");
            if flag.0.swap(false, std::sync::atomic::Ordering::SeqCst)
                && let Poll::Ready(got) = poll(&mut server)
            {
                break got;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        assert_eq!(got.unwrap(), 3);
        // Drained: the next poll waits without losing later bytes.
        assert!(poll(&mut server).is_pending());
        client.write_all(b"defg").unwrap();
        let got = async_std::task::block_on(async_std::future::timeout(
            Duration::from_secs(10),
            server.read(&mut buf),
        ));
        assert_eq!(got.unwrap().unwrap(), 4);
        assert_eq!(&buf[..4], b"defg");
    }

    #[test]
    fn close_sends_end_of_stream() {
        let (mut server, mut client) = pair();
        async_std::task::block_on(async {
            server.write_all(b"bye").await.unwrap();
            server.close().await.unwrap();
        });
        let mut all = Vec::new();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        std::io::Read::read_to_end(&mut client, &mut all).unwrap();
        assert_eq!(all, b"bye");
    }
}
