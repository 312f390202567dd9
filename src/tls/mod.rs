//! TLS: one small trait between the server and a TLS implementation.
//!
//! A [`TlsAcceptor`] takes an accepted TCP stream and returns a TLS stream:
//! to the rest of wsgate it is just another [`Transport`]. The providers
//! implement it for their own acceptor types.

use std::future::Future;
use std::io;
use std::pin::Pin;

use async_std::net::TcpStream;

use crate::transport::Transport;

/// The result of a server-side TLS handshake.
///
/// # Examples
///
/// ```
/// # fn f(stream: async_std::net::TcpStream) {
/// let accepted = wsgate::TlsAccepted { stream: Box::new(stream), peer_certificates: Vec::new() };
/// # }
/// ```
pub struct TlsAccepted {
    /// The encrypted stream.
    pub stream: Box<dyn Transport>,
    /// The client's verified certificate chain (DER, leaf first), when client
    /// certificates are requested and one was presented.
    pub peer_certificates: Vec<Vec<u8>>,
}

impl std::fmt::Debug for TlsAccepted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsAccepted")
            .field("peer_certificates", &self.peer_certificates.len())
            .finish_non_exhaustive()
    }
}

/// The server side of a TLS handshake: a TCP stream in, a TLS stream out.
///
/// # Examples
///
/// A pass-through acceptor (for tests only: it does no TLS at all):
///
/// ```
/// use std::{future::Future, io, pin::Pin};
/// use wsgate::{TlsAccepted, TlsAcceptor};
///
/// struct Plain;
///
/// impl TlsAcceptor for Plain {
///     fn accept(
///         &self,
///         stream: async_std::net::TcpStream,
///     ) -> Pin<Box<dyn Future<Output = io::Result<TlsAccepted>> + Send>> {
///         Box::pin(async move { Ok(TlsAccepted { stream: Box::new(stream), peer_certificates: Vec::new() }) })
///     }
/// }
/// ```
pub trait TlsAcceptor: Send + Sync + 'static {
    /// Runs the handshake over `stream`.
    fn accept(
        &self,
        stream: TcpStream,
    ) -> Pin<Box<dyn Future<Output = io::Result<TlsAccepted>> + Send>>;
}
