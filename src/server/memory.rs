//! The in-memory way in: a connection made by a
//! [`Connector`](crate::testing::Connector) enters the server here, past
//! the same checks as an accepted TCP connection, into the same handshake.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::core::Inner;
use super::handshake::handshake;
use super::request::Peer;
use crate::runtime::Runtime;
use crate::transport::BoxTransport;

/// A server's door for in-memory connections.
#[derive(Clone)]
pub(crate) struct Entry {
    inner: Arc<Inner>,
}

impl Entry {
    pub(super) fn new(inner: Arc<Inner>) -> Entry {
        Entry { inner }
    }

    /// The server's runtime (and so its clock).
    pub(crate) fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }

    /// Runs the opening handshake on `io` in a task of the server's, as
    /// for a connection accepted from `peer_addr` on `local_addr`; refused
    /// (`ConnectionRefused`) once the server has stopped, or when the
    /// allow-list does not admit `peer_addr`.
    pub(crate) fn open(
        &self,
        io: BoxTransport,
        peer_addr: SocketAddr,
        local_addr: SocketAddr,
    ) -> io::Result<()> {
        let inner = &self.inner;
        if inner.stopped.load(Ordering::Acquire) || !inner.admits(peer_addr) {
            return Err(io::ErrorKind::ConnectionRefused.into());
        }
        let peer = Peer {
            peer_addr,
            local_addr,
            secure: false,
            peer_certificates: Vec::new(),
        };
        let inner = inner.clone();
        self.inner
            .runtime
            .spawn_detached(async move { handshake(io, peer, &inner).await });
        Ok(())
    }
}
