//! TLS (`wss://`): one small trait between the server and a TLS
//! implementation, and the providers behind it.
//!
//! A [`TlsAcceptor`] takes an accepted TCP stream and returns a TLS stream:
//! to the rest of wsgate it is just another [`Transport`]. The server runs
//! it under [`Config::handshake_timeout`](crate::Config::handshake_timeout);
//! a failed or expired TLS handshake closes that one connection and nothing
//! else ([`ReportFailures`] tells the application about it).
//!
//! # Providers
//!
//! | feature | what |
//! |---|---|
//! | `rustls` (default) | [`RustlsAcceptor`]: rustls 0.23 through `futures-rustls`, built without default features, so no C crypto library is compiled beyond the provider below. Also `wss://` in the [`Client`](crate::Client). |
//! | `ring` (default) | the *ring* crypto provider for rustls. Without it, install a process-wide provider with [`rustls::crypto::CryptoProvider::install_default`] or pass one to [`RustlsAcceptorBuilder::with_crypto_provider`]. A provider the application installed always wins over *ring*. |
//! | `native-roots` (default) | the client trusts the operating system's root certificates for `wss://`, in addition to those added with [`Client::add_root_certificate`](crate::Client::add_root_certificate). |
//! | `async-tls` | `TlsAcceptor` for `async_tls::TlsAcceptor`, for applications that already use async-tls (see `tls::async_tls`). async-tls 0.13 pins rustls 0.21, which is out of security support: prefer the default provider. |
//!
//! # What is on by default
//!
//! With the default features (the *ring* provider and rustls' safe
//! defaults), both server and client speak:
//!
//! - **TLS 1.3 and TLS 1.2** (nothing older; SSL 3.0, TLS 1.0 and 1.1 are
//!   not implemented by rustls at all);
//! - these cipher suites, all AEAD with forward secrecy, in the order a
//!   client offers them:
//!   - TLS 1.3: `TLS13_AES_256_GCM_SHA384`, `TLS13_AES_128_GCM_SHA256`,
//!     `TLS13_CHACHA20_POLY1305_SHA256`;
//!   - TLS 1.2: `TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384`,
//!     `TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256`,
//!     `TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256`,
//!     `TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384`,
//!     `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`,
//!     `TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256`;
//! - key exchange groups X25519, secp256r1 (P-256) and secp384r1 (P-384).
//!
//! A server picks the first suite in the client's order of preference that
//! it supports (rustls' default). For anything else (fewer
//! suites, TLS 1.3 only, ALPN, another provider) build a
//! [`rustls::ServerConfig`] yourself and use [`RustlsAcceptor::from_config`],
//! or [`Client::tls_config`](crate::Client::tls_config) on the client.
//!
//! # Examples
//!
//! One server for `ws://` and `wss://`:
//!
//! ```no_run
//! # #[cfg(feature = "rustls")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use futures::StreamExt;
//! use wsgate::Server;
//! use wsgate::tls::RustlsAcceptor;
//!
//! # wsgate::runtime::block_on(async {
//! let acceptor = RustlsAcceptor::from_pem_files("cert.pem", "key.pem")?;
//! let mut server = Server::builder().build();
//! server.add_bind("127.0.0.1:8080").await?;
//! server.add_bind_tls("127.0.0.1:8443", acceptor).await?;
//! while let Some(request) = server.next().await {
//!     println!("{} (secure: {})", request.resource_url(), request.is_secure());
//!     # break;
//! }
//! # Ok(()) })
//! # }
//! # #[cfg(not(feature = "rustls"))]
//! # fn main() {}
//! ```

use std::future::Future;
use std::io;
use std::pin::Pin;

use crate::transport::{TcpTransport, Transport};

mod failure;

pub use failure::{ReportFailures, TlsFailure, TlsFailureReason};

#[cfg(feature = "rustls")]
pub(crate) mod client;
#[cfg(feature = "rustls")]
mod error;
#[cfg(feature = "rustls")]
mod pem;
#[cfg(feature = "rustls")]
mod provider;
#[cfg(feature = "rustls")]
mod rustls_acceptor;

#[cfg(feature = "rustls")]
pub use error::TlsConfigError;
#[cfg(feature = "rustls")]
pub use rustls_acceptor::{RustlsAcceptor, RustlsAcceptorBuilder};

/// The rustls crate wsgate is built with (0.23), re-exported so that a
/// hand-built [`rustls::ServerConfig`] or [`rustls::ClientConfig`] is of the
/// same version.
///
/// # Examples
///
/// ```
/// use wsgate::tls::rustls;
///
/// let versions = rustls::DEFAULT_VERSIONS;
/// assert_eq!(versions.len(), 2); // TLS 1.3 and TLS 1.2
/// ```
#[cfg(feature = "rustls")]
pub use futures_rustls::rustls;

#[cfg(feature = "async-tls")]
pub mod async_tls;

/// The result of a server-side TLS handshake.
///
/// # Examples
///
/// ```
/// # fn f(stream: wsgate::TcpTransport) {
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

/// The server side of a TLS handshake: a TCP stream ([`TcpTransport`]) in,
/// a TLS stream out.
///
/// Implemented by [`RustlsAcceptor`] (feature `rustls`), by
/// `async_tls::TlsAcceptor` (feature `async-tls`) and by
/// [`ReportFailures`] around either.
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
///         stream: wsgate::TcpTransport,
///     ) -> Pin<Box<dyn Future<Output = io::Result<TlsAccepted>> + Send>> {
///         Box::pin(async move { Ok(TlsAccepted { stream: Box::new(stream), peer_certificates: Vec::new() }) })
///     }
/// }
/// ```
pub trait TlsAcceptor: Send + Sync + 'static {
    /// Runs the handshake over `stream`.
    ///
    /// The server calls this once for each TCP connection accepted on a TLS
    /// listener, on that connection's task and under
    /// [`Config::handshake_timeout`](crate::Config::handshake_timeout). The
    /// stream it returns carries the WebSocket handshake and then the
    /// connection; an error closes this one connection and nothing else.
    ///
    /// # Examples
    ///
    /// Calling an acceptor by hand, here a pass-through one (no TLS at
    /// all): what the client writes comes out of the accepted stream.
    ///
    /// ```
    /// use std::io::Write;
    /// use std::{future::Future, io, pin::Pin};
    /// use futures::AsyncReadExt;
    /// use wsgate::{TcpTransport, TlsAccepted, TlsAcceptor};
    ///
    /// struct Plain;
    ///
    /// impl TlsAcceptor for Plain {
    ///     fn accept(
    ///         &self,
    ///         stream: TcpTransport,
    ///     ) -> Pin<Box<dyn Future<Output = io::Result<TlsAccepted>> + Send>> {
    ///         Box::pin(async move { Ok(TlsAccepted { stream: Box::new(stream), peer_certificates: Vec::new() }) })
    ///     }
    /// }
    ///
    /// # wsgate::runtime::block_on(async {
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// let stream = TcpTransport::new(listener.accept()?.0)?;
    ///
    /// let mut accepted = Plain.accept(stream).await?;
    /// assert!(accepted.peer_certificates.is_empty());
    /// client.write_all(b"GET /")?;
    /// let mut buf = [0; 5];
    /// accepted.stream.read_exact(&mut buf).await?;
    /// assert_eq!(&buf, b"GET /");
    /// # Ok::<(), io::Error>(()) });
    /// ```
    fn accept(
        &self,
        stream: TcpTransport,
    ) -> Pin<Box<dyn Future<Output = io::Result<TlsAccepted>> + Send>>;
}
