//! [`Registered`]: a non-blocking socket registered with the runtime's
//! reactor, read and written with readiness-driven retries.

use std::io;
use std::task::{Context, Poll};

use super::source::Source;

/// A non-blocking socket registered with a reactor.
///
/// Reads follow one rule on every reactor: after a read that returned
/// fewer bytes than asked for, the socket's receive queue is empty, so the
/// next read waits for a new readiness event instead of trying a read that
/// would only fail with `WouldBlock`. A small message then costs one
/// `recv`, not two.
pub(crate) enum Registered<T: Source> {
    #[cfg(any(feature = "async-std", feature = "smol"))]
    AsyncIo(super::async_io::Io<T>),
    #[cfg(feature = "tokio")]
    Tokio(super::tokio::Io<T>),
}

impl<T: Source> Registered<T> {
    #[cfg(any(feature = "async-std", feature = "smol"))]
    pub(super) fn async_io(io: T) -> io::Result<Registered<T>> {
        Ok(Registered::AsyncIo(super::async_io::Io::new(io)?))
    }

    #[cfg(feature = "tokio")]
    pub(super) fn tokio(handle: &tokio::runtime::Handle, io: T) -> io::Result<Registered<T>> {
        Ok(Registered::Tokio(super::tokio::Io::new(handle, io)?))
    }

    /// The socket.
    pub(crate) fn get_ref(&self) -> &T {
        match self {
            #[cfg(any(feature = "async-std", feature = "smol"))]
            Registered::AsyncIo(io) => io.get_ref(),
            #[cfg(feature = "tokio")]
            Registered::Tokio(io) => io.get_ref(),
        }
    }

    /// One read of at most `len` bytes with `read`, retried on
    /// `WouldBlock` once the socket is readable; a read shorter than `len`
    /// marks the socket drained (see the type's docs).
    pub(crate) fn poll_read_with(
        &mut self,
        cx: &mut Context<'_>,
        len: usize,
        read: impl FnMut(&T) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        match self {
            #[cfg(any(feature = "async-std", feature = "smol"))]
            Registered::AsyncIo(io) => io.poll_read_with(cx, len, read),
            #[cfg(feature = "tokio")]
            Registered::Tokio(io) => io.poll_read_with(cx, len, read),
        }
    }

    /// `op` (an accept), retried on `WouldBlock` once the socket is
    /// readable.
    pub(crate) fn poll_accept_with<R>(
        &mut self,
        cx: &mut Context<'_>,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        match self {
            #[cfg(any(feature = "async-std", feature = "smol"))]
            Registered::AsyncIo(io) => io.poll_accept_with(cx, op),
            #[cfg(feature = "tokio")]
            Registered::Tokio(io) => io.poll_accept_with(cx, op),
        }
    }

    /// One write with `write`, retried on `WouldBlock` once the socket is
    /// writable.
    pub(crate) fn poll_write_with(
        &mut self,
        cx: &mut Context<'_>,
        write: impl FnMut(&T) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        match self {
            #[cfg(any(feature = "async-std", feature = "smol"))]
            Registered::AsyncIo(io) => io.poll_write_with(cx, write),
            #[cfg(feature = "tokio")]
            Registered::Tokio(io) => io.poll_write_with(cx, write),
        }
    }

    /// Ready once the socket is writable (a connect finished).
    pub(crate) fn poll_writable(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            #[cfg(any(feature = "async-std", feature = "smol"))]
            Registered::AsyncIo(io) => io.poll_writable(cx),
            #[cfg(feature = "tokio")]
            Registered::Tokio(io) => io.poll_writable(cx),
        }
    }
}
