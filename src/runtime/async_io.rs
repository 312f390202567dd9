//! async-io's reactor, shared by async-std and smol: sockets registered
//! one-shot with epoll (or the platform's equivalent) and re-armed by each
//! wait; timers from its timer map.

use std::io;
use std::task::{Context, Poll};

use async_io::Async;

use super::source::Source;

pub(crate) struct Io<T: Source> {
    io: Async<T>,
    /// The last read returned fewer bytes than asked for.
    drained: bool,
}

impl<T: Source> Io<T> {
    pub(super) fn new(io: T) -> io::Result<Io<T>> {
        Ok(Io {
            io: Async::new_nonblocking(io)?,
            drained: false,
        })
    }

    pub(super) fn get_ref(&self) -> &T {
        self.io.get_ref()
    }

    pub(super) fn poll_read_with(
        &mut self,
        cx: &mut Context<'_>,
        len: usize,
        mut read: impl FnMut(&T) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        if std::mem::take(&mut self.drained) {
            // The readiness event behind the last read is spent: the first
            // poll consumes it, the second re-arms the one-shot registration
            // and waits. Bytes already queued by then are reported at once
            // (the re-arm is level-triggered), so no arrival is missed.
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

    pub(super) fn poll_accept_with<R>(
        &mut self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            match op(self.io.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    futures::ready!(self.io.poll_readable(cx))?;
                }
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
            match write(self.io.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    futures::ready!(self.io.poll_writable(cx))?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                result => return Poll::Ready(result),
            }
        }
    }

    pub(super) fn poll_writable(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_writable(cx)
    }
}
