//! [`TcpTransport`]: an accepted TCP connection, read and written with as
//! few system calls as the platform allows.

use std::io::{self, IoSlice, Read, Write};
use std::mem::MaybeUninit;
use std::net::TcpStream;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::io::{AsyncRead, AsyncWrite};

use crate::runtime::{Registered, Runtime};

/// An accepted TCP connection, as the server reads and writes it.
///
/// It is registered with the reactor of the server's or client's
/// [`Runtime`] (async-io's for async-std and smol, tokio's own for tokio).
/// Three things set it apart from those runtimes' own `TcpStream`s:
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
/// # wsgate::runtime::block_on(async {
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let client = std::net::TcpStream::connect(listener.local_addr()?)?;
/// let (accepted, _) = listener.accept()?;
/// let transport = TcpTransport::new(accepted)?;
/// assert_eq!(transport.peer_addr()?, client.local_addr()?);
/// # Ok::<(), std::io::Error>(()) });
/// ```
pub struct TcpTransport {
    io: Registered<TcpStream>,
}

impl TcpTransport {
    /// Wraps a connected stream, switching it to non-blocking mode and
    /// registering it for readiness events with [`Runtime::current`]'s
    /// reactor.
    ///
    /// # Examples
    ///
    /// ```
    /// # wsgate::runtime::block_on(async {
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let _client = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// let (stream, _) = listener.accept()?;
    /// let transport = wsgate::TcpTransport::new(stream)?;
    /// # Ok::<(), std::io::Error>(()) });
    /// ```
    pub fn new(stream: TcpStream) -> io::Result<TcpTransport> {
        stream.set_nonblocking(true)?;
        TcpTransport::from_nonblocking(stream, &Runtime::current())
    }

    /// Wraps a stream already in non-blocking mode, registered with
    /// `runtime`'s reactor.
    pub(crate) fn from_nonblocking(
        stream: TcpStream,
        runtime: &Runtime,
    ) -> io::Result<TcpTransport> {
        Ok(TcpTransport {
            io: runtime.register(stream)?,
        })
    }

    /// Connects to `addr` without blocking the thread, on `runtime`'s
    /// reactor.
    pub(crate) async fn connect(
        addr: std::net::SocketAddr,
        runtime: &Runtime,
    ) -> io::Result<TcpTransport> {
        use socket2::{Domain, Protocol, Socket, Type};
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_nonblocking(true)?;
        match socket.connect(&addr.into()) {
            Ok(()) => {}
            #[cfg(unix)]
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        let mut transport = TcpTransport::from_nonblocking(socket.into(), runtime)?;
        std::future::poll_fn(|cx| transport.io.poll_writable(cx)).await?;
        let stream = transport.get_ref();
        if let Some(e) = stream.take_error()? {
            return Err(e);
        }
        // Connected once the peer's address is known.
        stream.peer_addr()?;
        Ok(transport)
    }

    /// The remote end's address.
    ///
    /// # Examples
    ///
    /// ```
    /// # wsgate::runtime::block_on(async {
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let client = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// # let transport = wsgate::TcpTransport::new(listener.accept()?.0)?;
    /// assert_eq!(transport.peer_addr()?, client.local_addr()?);
    /// # Ok::<(), std::io::Error>(()) });
    /// ```
    pub fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.get_ref().peer_addr()
    }

    /// This end's address.
    ///
    /// # Examples
    ///
    /// ```
    /// # wsgate::runtime::block_on(async {
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let _client = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// # let transport = wsgate::TcpTransport::new(listener.accept()?.0)?;
    /// assert_eq!(transport.local_addr()?, listener.local_addr()?);
    /// # Ok::<(), std::io::Error>(()) });
    /// ```
    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.get_ref().local_addr()
    }

    /// The underlying socket, for options this type has no method for.
    ///
    /// # Examples
    ///
    /// ```
    /// # wsgate::runtime::block_on(async {
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let _client = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// # let transport = wsgate::TcpTransport::new(listener.accept()?.0)?;
    /// transport.get_ref().set_nodelay(true)?;
    /// # Ok::<(), std::io::Error>(()) });
    /// ```
    pub fn get_ref(&self) -> &TcpStream {
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

    /// One read of at most `len` bytes with `read`, after waiting for new
    /// bytes when the last read drained the socket.
    fn poll_read_with(
        &mut self,
        cx: &mut Context<'_>,
        len: usize,
        read: impl FnMut(&TcpStream) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        self.io.poll_read_with(cx, len, read)
    }

    /// One write with `write`, waiting while the send buffer is full.
    fn poll_write_with(
        &mut self,
        cx: &mut Context<'_>,
        write: impl FnMut(&TcpStream) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        self.io.poll_write_with(cx, write)
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
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_write_with(cx, |mut stream| stream.write(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_write_with(cx, |mut stream| stream.write_vectored(bufs))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Nothing is buffered: every write is a system call.
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_ref().shutdown(std::net::Shutdown::Write) {
            Err(e) if e.kind() != io::ErrorKind::NotConnected => Poll::Ready(Err(e)),
            _ => Poll::Ready(Ok(())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::io::{AsyncReadExt, AsyncWriteExt};
    use std::time::Duration;

    fn pair() -> (TcpTransport, TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
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

    fn block_on<T>(future: impl Future<Output = T>) -> T {
        crate::runtime::block_on(
            crate::runtime::Runtime::for_tests().timeout(Duration::from_secs(20), future),
        )
        .expect("timed out")
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
        let received = block_on(async {
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while got.len() < 800 {
                let n = server.read(&mut buf).await.unwrap();
                assert!(n > 0, "end of stream after {} bytes", got.len());
                got.extend_from_slice(&buf[..n]);
            }
            got
        });
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
        let got = block_on(server.read(&mut buf));
        assert_eq!(got.unwrap(), 4);
        assert_eq!(&buf[..4], b"defg");
    }

    /// A write that finds the send buffer full waits, and goes on when the
    /// peer reads: every byte arrives, in order.
    #[test]
    fn full_send_buffer_waits_for_room() {
        let (mut server, client) = pair();
        socket2::SockRef::from(server.get_ref())
            .set_send_buffer_size(4096)
            .unwrap();
        let total = 4 << 20;
        let data: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
        // The reader starts late, so the writer has to wait.
        let reader = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            let mut client = client;
            client
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            let mut got = Vec::new();
            client.read_to_end(&mut got).unwrap();
            got
        });
        let mut waited = false;
        block_on(async {
            let mut written = 0;
            while written < total {
                let n = futures::future::poll_fn(|cx| {
                    let poll = Pin::new(&mut server).poll_write(cx, &data[written..]);
                    waited |= poll.is_pending();
                    poll
                })
                .await
                .unwrap();
                written += n;
            }
            server.close().await.unwrap();
        });
        assert!(waited, "the send buffer never filled");
        assert!(reader.join().unwrap() == data, "bytes lost or reordered");
    }

    /// Many connections at once, each echoing a few messages with pauses
    /// between them, so readiness arrives for several sockets in the same
    /// reactor turn and connections finish while others still wait.
    #[test]
    fn many_sockets_each_get_their_events() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let clients = std::thread::spawn(move || {
            let clients: Vec<_> = (0..64u8)
                .map(|i| {
                    std::thread::spawn(move || {
                        let mut stream = TcpStream::connect(addr).unwrap();
                        stream
                            .set_read_timeout(Some(Duration::from_secs(20)))
                            .unwrap();
                        for round in 0..5u8 {
                            stream.write_all(&[i, round]).unwrap();
                            let mut back = [0u8; 2];
                            stream.read_exact(&mut back).unwrap();
                            assert_eq!(back, [i, round]);
                            std::thread::sleep(Duration::from_millis(u64::from(i % 4)));
                        }
                    })
                })
                .collect();
            for client in clients {
                client.join().unwrap();
            }
        });
        block_on(async {
            let mut tasks = Vec::new();
            for _ in 0..64 {
                let (stream, _) = listener.accept().unwrap();
                stream.set_nonblocking(true).unwrap();
                let mut stream =
                    TcpTransport::from_nonblocking(stream, &crate::runtime::Runtime::for_tests())
                        .unwrap();
                tasks.push(crate::runtime::spawn(async move {
                    let mut buf = [0u8; 2];
                    loop {
                        match stream.read(&mut buf).await.unwrap() {
                            0 => return,
                            n => stream.write_all(&buf[..n]).await.unwrap(),
                        }
                    }
                }));
            }
            for task in tasks {
                task.await;
            }
        });
        clients.join().expect("a client failed");
    }

    /// A read waiting on a connection wakes with end-of-stream when the
    /// peer closes it.
    #[test]
    fn peer_close_wakes_a_waiting_read() {
        let (mut server, client) = pair();
        let closer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            drop(client);
        });
        let mut buf = [0u8; 16];
        assert_eq!(block_on(server.read(&mut buf)).unwrap(), 0);
        closer.join().unwrap();
    }

    #[test]
    fn close_sends_end_of_stream() {
        let (mut server, mut client) = pair();
        block_on(async {
            server.write_all(b"bye").await.unwrap();
            server.close().await.unwrap();
        });
        let mut all = Vec::new();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        client.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"bye");
    }
}
