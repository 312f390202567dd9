//! Listener and connection socket options, through `socket2`.

use std::io;
use std::net::SocketAddr;

use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::task::{Context, Poll};

use socket2::{Domain, Protocol, SockRef, Socket, TcpKeepalive, Type};

use crate::runtime::Registered;

use crate::config::TcpOptions;

/// Binds a listener on the first of `addr`'s addresses that works.
/// Binds the first of `addr`'s addresses that binds, in non-blocking mode.
/// A host name is resolved with the system's resolver, on this thread.
pub(crate) fn bind(addr: impl ToSocketAddrs, options: &TcpOptions) -> io::Result<TcpListener> {
    let mut last = None;
    for addr in addr.to_socket_addrs()? {
        match bind_one(addr, options) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to bind")))
}

fn bind_one(addr: SocketAddr, options: &TcpOptions) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6()
        && let Some(only_v6) = options.only_v6
    {
        socket.set_only_v6(only_v6)?;
    }
    socket.set_reuse_address(options.reuse_address)?;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Some(after) = options.defer_accept.filter(|d| !d.is_zero()) {
        defer_accept(&socket, after)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(options.backlog).unwrap_or(i32::MAX))?;
    socket.set_nonblocking(true)?;
    Ok(TcpListener::from(socket))
}

/// Sets `TCP_DEFER_ACCEPT` (which socket2 does not expose): connections
/// reach `accept` once data has arrived, or after `after` (rounded up to
/// whole seconds) without any.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn defer_accept(socket: &Socket, after: std::time::Duration) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
    let secs = libc::c_int::try_from(secs).unwrap_or(libc::c_int::MAX);
    // SAFETY: the descriptor belongs to `socket`, and the option value is a
    // `c_int` passed with its own size, as TCP_DEFER_ACCEPT takes.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            (&raw const secs).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Accepts one connection, in non-blocking mode (not yet registered for
/// readiness: [`TcpTransport`](crate::TcpTransport) does that, once the
/// connection is allowed).
///
/// On Linux and Android `accept4` makes the socket non-blocking in the same
/// system call; elsewhere that takes an `ioctl` more.
/// Accepts a connection, in non-blocking mode, with its peer's address.
pub(crate) fn poll_accept(
    listener: &mut Registered<TcpListener>,
    cx: &mut Context<'_>,
) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let (socket, addr) = futures::ready!(listener.poll_accept_with(cx, |listener| {
            SockRef::from(listener).accept4(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
        }))?;
        // A TCP listener's peers have IP addresses.
        let addr = addr
            .as_socket()
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData))?;
        Poll::Ready(Ok((TcpStream::from(socket), addr)))
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let (stream, addr) = futures::ready!(listener.poll_accept_with(cx, |l| l.accept()))?;
        stream.set_nonblocking(true)?;
        Poll::Ready(Ok((stream, addr)))
    }
}

pub(crate) fn configure(stream: &TcpStream, options: &TcpOptions) -> io::Result<()> {
    stream.set_nodelay(options.nodelay)?;
    let socket = SockRef::from(stream);
    if let Some(keepalive) = options.keepalive {
        let params = TcpKeepalive::new()
            .with_time(keepalive.time)
            .with_interval(keepalive.interval)
            .with_retries(keepalive.retries);
        socket.set_tcp_keepalive(&params)?;
    }
    if let Some(size) = options.recv_buffer_size {
        socket.set_recv_buffer_size(size)?;
    }
    if let Some(size) = options.send_buffer_size {
        socket.set_send_buffer_size(size)?;
    }
    Ok(())
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    fn defer_accept_of(listener: &TcpListener) -> libc::c_int {
        let mut value: libc::c_int = -1;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: a live descriptor, and a `c_int` out-parameter with its size.
        let rc = unsafe {
            libc::getsockopt(
                listener.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_DEFER_ACCEPT,
                (&raw mut value).cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0, "{}", io::Error::last_os_error());
        value
    }

    #[test]
    fn listeners_defer_accept_unless_told_not_to() {
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let mut options = TcpOptions::default();
        let deferred = bind_one(addr, &options).unwrap();
        assert!(defer_accept_of(&deferred) >= 1);
        options.defer_accept = Some(std::time::Duration::ZERO);
        assert_eq!(defer_accept_of(&bind_one(addr, &options).unwrap()), 0);
        options.defer_accept = None;
        assert_eq!(defer_accept_of(&bind_one(addr, &options).unwrap()), 0);
    }
}
