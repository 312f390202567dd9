//! tokio: the runtime a server or client was created in (its `Handle`),
//! for tasks, blocking work, timers (`tokio::time`) and sockets (its
//! edge-triggered reactor, through `AsyncFd`; see `registered.rs`).

use std::future::Future;
use std::io;
use std::task::{Context, Poll, ready};

use tokio::io::unix::AsyncFd;
use tokio::runtime::Handle;

use super::source::Source;

pub(super) fn spawn(handle: &Handle, future: impl Future<Output = ()> + Send + 'static) {
    // tokio's handle detaches on drop.
    drop(handle.spawn(future));
}

pub(super) async fn unblock<T, W>(handle: &Handle, work: W) -> T
where
    W: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match handle.spawn_blocking(work).await {
        Ok(output) => output,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => panic!("the tokio runtime shut down under a blocking task of wsgate's"),
    }
}

/// The runtime `block_on` runs on when tokio is the only runtime feature:
/// one for the process, made on first use, so that a server started in one
/// `block_on` call still serves in the next.
#[cfg(not(any(feature = "async-std", feature = "smol")))]
pub(super) fn global() -> &'static tokio::runtime::Runtime {
    static GLOBAL: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    GLOBAL.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("cannot start a tokio runtime")
    })
}

#[cfg(not(any(feature = "async-std", feature = "smol")))]
pub(super) fn block_on<F: Future>(future: F) -> F::Output {
    global().block_on(future)
}

/// A socket on tokio's reactor.
///
/// Registered through `AsyncFd` rather than as a `tokio::net::TcpStream`
/// because a short read must clear the readiness it consumed, and only
/// `AsyncFd`'s guard can: it clears the readiness event that was current
/// before the read, so an event that arrived during the read is kept
/// (tokio's tick check) and no wake-up is lost. `TcpStream` clears
/// readiness only after a read that fails with `WouldBlock`, one system
/// call too many per message.
pub(crate) struct Io<T: Source> {
    fd: AsyncFd<T>,
}

impl<T: Source> Io<T> {
    pub(super) fn new(handle: &Handle, io: T) -> io::Result<Io<T>> {
        // The registration goes to this handle's reactor.
        let _entered = handle.enter();
        // SAFETY: `Source` is implemented only for std's `TcpStream` and
        // `TcpListener`, which own their descriptor: it stays open, and
        // `as_raw_fd` returns the same one, until the value is dropped,
        // and the `AsyncFd` owns the value for its whole life.
        let fd = unsafe { AsyncFd::register(io) }?;
        Ok(Io { fd })
    }

    pub(super) fn get_ref(&self) -> &T {
        self.fd.get_ref()
    }

    pub(super) fn poll_read_with(
        &mut self,
        cx: &mut Context<'_>,
        len: usize,
        mut read: impl FnMut(&T) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            match read(self.fd.get_ref()) {
                Ok(n) => {
                    if n > 0 && n < len {
                        // The receive queue is empty: wait for new bytes.
                        guard.clear_ready();
                    }
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => guard.clear_ready(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    pub(super) fn poll_accept_with<R>(
        &mut self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            match op(self.fd.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => guard.clear_ready(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                result => return Poll::Ready(result),
            }
        }
    }

    pub(super) fn poll_write_with(
        &mut self,
        cx: &mut Context<'_>,
        mut write: impl FnMut(&T) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.fd.poll_write_ready(cx))?;
            match write(self.fd.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => guard.clear_ready(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                result => return Poll::Ready(result),
            }
        }
    }

    pub(super) fn poll_writable(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Writable: the guard is dropped without clearing, so the write
        // that follows still sees the readiness.
        let _guard = ready!(self.fd.poll_write_ready(cx))?;
        Poll::Ready(Ok(()))
    }
}
