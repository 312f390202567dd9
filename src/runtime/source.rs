//! [`Source`]: what can be registered with a reactor.

/// What can be registered: the sockets wsgate uses. Implemented only for
/// types that own their descriptor for their whole life, which tokio's
/// `AsyncFd::register` relies on (see `tokio.rs`).
#[cfg(unix)]
pub(crate) trait Source: std::os::fd::AsFd + std::os::fd::AsRawFd + Send + 'static {}
/// What can be registered (async-io registers Windows sockets).
#[cfg(windows)]
pub(crate) trait Source: std::os::windows::io::AsSocket + Send + 'static {}

impl Source for std::net::TcpStream {}
impl Source for std::net::TcpListener {}
