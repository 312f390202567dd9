//! Reporting failed TLS handshakes to the application.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use crate::transport::TcpTransport;

use super::{TlsAccepted, TlsAcceptor};

/// Why a TLS handshake failed.
///
/// # Examples
///
/// ```
/// use wsgate::tls::TlsFailureReason;
///
/// fn describe(reason: &TlsFailureReason) -> &'static str {
///     match reason {
///         TlsFailureReason::Handshake(_) => "bad handshake",
///         TlsFailureReason::TimedOut => "too slow",
///         _ => "other",
///     }
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsFailureReason {
    /// The handshake failed: a client speaking plain text (HTTP) to a TLS
    /// port, a malformed or unacceptable client hello, no common protocol
    /// version or cipher suite, a client certificate that is missing
    /// (when required) or not trusted, or the peer going away. The error is
    /// the provider's; with rustls, a TLS error is an
    /// [`io::ErrorKind::InvalidData`] error wrapping a `rustls::Error`.
    Handshake(io::Error),
    /// The handshake was dropped before it finished: with wsgate's server
    /// that is [`Config::handshake_timeout`](crate::Config::handshake_timeout)
    /// expiring.
    TimedOut,
}

/// A TLS handshake that failed. The server closed that connection; no other
/// connection is affected.
///
/// # Examples
///
/// ```
/// use wsgate::tls::{TlsFailure, TlsFailureReason};
///
/// fn log(failure: &TlsFailure) {
///     if let TlsFailureReason::Handshake(error) = &failure.reason {
///         eprintln!("TLS from {:?}: {error}", failure.peer_addr);
///     }
///     // Or all of it: "TLS handshake from 203.0.113.9:51234 failed: …"
///     eprintln!("{}", wsgate::ErrorChain(failure));
/// }
///
/// assert_eq!(TlsFailureReason::TimedOut.to_string(), "TLS handshake timed out");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct TlsFailure {
    /// The client's address, if the socket still knew it.
    pub peer_addr: Option<SocketAddr>,
    /// The server address the connection arrived on.
    pub local_addr: Option<SocketAddr>,
    /// What went wrong.
    pub reason: TlsFailureReason,
}

impl fmt::Display for TlsFailure {
    /// This failure's own part, "TLS handshake from 203.0.113.9:51234
    /// failed"; the provider's error is its [`source`](std::error::Error::source)
    /// (print both with [`ErrorChain`](crate::ErrorChain)).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TLS handshake")?;
        if let Some(peer) = self.peer_addr {
            write!(f, " from {peer}")?;
        }
        match &self.reason {
            TlsFailureReason::Handshake(_) => f.write_str(" failed"),
            TlsFailureReason::TimedOut => f.write_str(" timed out"),
        }
    }
}

impl std::error::Error for TlsFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.reason.source_error()
    }
}

impl fmt::Display for TlsFailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsFailureReason::Handshake(_) => f.write_str("TLS handshake failed"),
            TlsFailureReason::TimedOut => f.write_str("TLS handshake timed out"),
        }
    }
}

impl std::error::Error for TlsFailureReason {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source_error()
    }
}

impl TlsFailureReason {
    fn source_error(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsFailureReason::Handshake(e) => Some(e),
            TlsFailureReason::TimedOut => None,
        }
    }
}

type Handler = Arc<dyn Fn(&TlsFailure) + Send + Sync>;

/// Wraps any [`TlsAcceptor`] and calls a handler for every TLS handshake
/// that fails or times out, with the peer's address and the reason.
///
/// The handler runs on the connection's task: keep it short (log, count,
/// or send on a channel). Successful handshakes are not reported; they
/// become requests.
///
/// # Examples
///
/// ```no_run
/// # #[cfg(feature = "rustls")]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use wsgate::Server;
/// use wsgate::tls::{ReportFailures, RustlsAcceptor};
///
/// # wsgate::runtime::block_on(async {
/// let acceptor = ReportFailures::new(
///     RustlsAcceptor::from_pem_files("cert.pem", "key.pem")?,
///     |failure| eprintln!("{failure}"),
/// );
/// let server = Server::builder().bind_tls("0.0.0.0:443", acceptor).await?;
/// # Ok(()) })
/// # }
/// # #[cfg(not(feature = "rustls"))]
/// # fn main() {}
/// ```
pub struct ReportFailures<A> {
    acceptor: A,
    handler: Handler,
}

impl<A: TlsAcceptor> ReportFailures<A> {
    /// Reports `acceptor`'s failures to `handler`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// # #[cfg(feature = "rustls")]
    /// # fn f(acceptor: wsgate::tls::RustlsAcceptor) {
    /// use wsgate::tls::ReportFailures;
    ///
    /// let failures = Arc::new(AtomicUsize::new(0));
    /// let counter = failures.clone();
    /// let acceptor = ReportFailures::new(acceptor, move |_| {
    ///     counter.fetch_add(1, Ordering::Relaxed);
    /// });
    /// # }
    /// ```
    pub fn new(acceptor: A, handler: impl Fn(&TlsFailure) + Send + Sync + 'static) -> Self {
        ReportFailures {
            acceptor,
            handler: Arc::new(handler),
        }
    }

    /// The wrapped acceptor.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "rustls")]
    /// # fn f(acceptor: wsgate::tls::ReportFailures<wsgate::tls::RustlsAcceptor>) {
    /// let config = acceptor.inner().config();
    /// # }
    /// ```
    pub fn inner(&self) -> &A {
        &self.acceptor
    }
}

impl<A> fmt::Debug for ReportFailures<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReportFailures").finish_non_exhaustive()
    }
}

impl<A: TlsAcceptor> TlsAcceptor for ReportFailures<A> {
    fn accept(
        &self,
        stream: TcpTransport,
    ) -> Pin<Box<dyn Future<Output = io::Result<TlsAccepted>> + Send>> {
        let mut report = Report {
            handler: Some(self.handler.clone()),
            peer_addr: stream.peer_addr().ok(),
            local_addr: stream.local_addr().ok(),
        };
        let handshake = self.acceptor.accept(stream);
        Box::pin(async move {
            match handshake.await {
                Ok(accepted) => {
                    report.disarm();
                    Ok(accepted)
                }
                Err(error) => Err(report.failed(error)),
            }
        })
    }
}

/// Reports a handshake dropped before it finished (the server's timeout)
/// when dropped while still armed.
struct Report {
    handler: Option<Handler>,
    peer_addr: Option<SocketAddr>,
    local_addr: Option<SocketAddr>,
}

impl Report {
    fn call(&mut self, reason: TlsFailureReason) -> TlsFailureReason {
        let Some(handler) = self.handler.take() else {
            return reason;
        };
        let failure = TlsFailure {
            peer_addr: self.peer_addr,
            local_addr: self.local_addr,
            reason,
        };
        handler(&failure);
        failure.reason
    }

    /// The handshake succeeded: nothing to report.
    fn disarm(&mut self) {
        self.handler = None;
    }

    /// Reports `error` and hands it back for the caller.
    fn failed(&mut self, error: io::Error) -> io::Error {
        match self.call(TlsFailureReason::Handshake(error)) {
            TlsFailureReason::Handshake(error) => error,
            TlsFailureReason::TimedOut => io::ErrorKind::TimedOut.into(),
        }
    }
}

impl Drop for Report {
    fn drop(&mut self) {
        self.call(TlsFailureReason::TimedOut);
    }
}
