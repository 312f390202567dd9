//! The `async-tls` provider (feature `async-tls`): for applications that
//! already have an `async_tls::TlsAcceptor`.
//!
//! [`TlsAcceptor`] implements wsgate's [`TlsAcceptor`](super::TlsAcceptor),
//! so it can be passed to
//! [`ServerBuilder::bind_tls`](crate::ServerBuilder::bind_tls) or
//! [`Server::add_bind_tls`](crate::Server::add_bind_tls) as it is.
//!
//! Prefer the default provider, [`RustlsAcceptor`](super::RustlsAcceptor)
//! (feature `rustls`): async-tls 0.13 pins rustls 0.21 and rustls-webpki
//! 0.101, which are out of security support. Two limits of async-tls:
//!
//! - it does not expose the TLS session, so requests over it never have
//!   [`peer_certificates`](crate::WebSocketRequest::peer_certificates),
//!   even when its configuration verifies client certificates;
//! - its configuration is a rustls **0.21** `ServerConfig`, re-exported here
//!   as [`rustls`] so that it matches.
//!
//! # Examples
//!
//! ```no_run
//! use wsgate::Server;
//! use wsgate::tls::async_tls::{TlsAcceptor, rustls};
//!
//! # wsgate::runtime::block_on(async {
//! # let (cert_der, key_der): (Vec<u8>, Vec<u8>) = (Vec::new(), Vec::new());
//! let config = rustls::ServerConfig::builder()
//!     .with_safe_defaults()
//!     .with_no_client_auth()
//!     .with_single_cert(vec![rustls::Certificate(cert_der)], rustls::PrivateKey(key_der))?;
//! let acceptor = TlsAcceptor::from(config);
//! let server = Server::builder().bind_tls("127.0.0.1:8443", acceptor).await?;
//! # Ok::<(), Box<dyn std::error::Error>>(()) });
//! ```

use std::future::Future;
use std::io;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;

use crate::transport::TcpTransport;
use futures::FutureExt;

pub use ::async_tls::TlsAcceptor;

/// The rustls crate async-tls is built with (0.21), to build its
/// `ServerConfig`.
///
/// # Examples
///
/// ```
/// use wsgate::tls::async_tls::rustls;
///
/// let builder = rustls::ServerConfig::builder().with_safe_defaults();
/// ```
pub use rustls_021 as rustls;

/// rustls 0.21 refused to start a server session with the configuration.
#[derive(Debug)]
struct SessionRefused;

impl std::fmt::Display for SessionRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("async-tls could not start a TLS session with its configuration")
    }
}

impl std::error::Error for SessionRefused {}

impl super::TlsAcceptor for TlsAcceptor {
    fn accept(
        &self,
        stream: TcpTransport,
    ) -> Pin<Box<dyn Future<Output = io::Result<super::TlsAccepted>> + Send>> {
        // async-tls 0.13 panics when polled if rustls refused to start a
        // session for its configuration: turn that into an error for this
        // one connection.
        let handshake = AssertUnwindSafe(TlsAcceptor::accept(self, stream)).catch_unwind();
        Box::pin(async move {
            let stream = match handshake.await {
                Ok(result) => result?,
                Err(_) => return Err(io::Error::other(SessionRefused)),
            };
            Ok(super::TlsAccepted {
                stream: Box::new(stream),
                peer_certificates: Vec::new(),
            })
        })
    }
}
