//! Accept loops: one per listener, plain or TLS, feeding one request stream.

use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::future::{Either, select};

use super::core::Inner;
use super::handshake::handshake;
use super::request::Peer;
use crate::runtime::Registered;
use crate::tls::TlsAcceptor;
use crate::transport::TcpTransport;

/// Accepts connections on `listener` until the server stops.
pub(super) async fn accept_loop(
    mut listener: Registered<std::net::TcpListener>,
    tls: Option<Arc<dyn TlsAcceptor>>,
    inner: Arc<Inner>,
) {
    // A listener bound to one address gives every connection that local
    // address: no `getsockname` per connection then.
    let local = listener
        .get_ref()
        .local_addr()
        .ok()
        .filter(|addr| !addr.ip().is_unspecified());
    loop {
        let stop = inner.stop.listen();
        if inner.stopped.load(Ordering::Acquire) {
            return;
        }
        let accepted = match select(
            pin!(std::future::poll_fn(|cx| super::tcp::poll_accept(
                &mut listener,
                cx
            ))),
            stop,
        )
        .await
        {
            Either::Left((accepted, _)) => accepted,
            Either::Right(_) => return,
        };
        match accepted {
            Ok((stream, peer_addr)) => {
                if !inner.admits(peer_addr) {
                    // Refused before a single byte is read.
                    continue;
                }
                let _ = super::tcp::configure(&stream, &inner.config.tcp);
                let stream = match TcpTransport::from_nonblocking(stream, &inner.runtime) {
                    Ok(stream) => stream,
                    Err(e) => {
                        log::warn!("cannot register {peer_addr} for readiness events: {e}");
                        continue;
                    }
                };
                let task = serve_stream(stream, peer_addr, local, tls.clone(), inner.clone());
                inner.runtime.spawn_detached(task);
            }
            // Out of file descriptors or memory, or an aborted connection:
            // pause briefly rather than spin, and keep serving.
            Err(_) => {
                inner.runtime.sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// Runs the TLS handshake if the listener has one, then the WebSocket
/// handshake.
async fn serve_stream(
    stream: TcpTransport,
    peer_addr: SocketAddr,
    local: Option<SocketAddr>,
    tls: Option<Arc<dyn TlsAcceptor>>,
    inner: Arc<Inner>,
) {
    let Some(local_addr) = local.or_else(|| stream.local_addr().ok()) else {
        return;
    };
    let mut peer = Peer {
        peer_addr,
        local_addr,
        secure: tls.is_some(),
        peer_certificates: Vec::new(),
    };
    let io = match tls {
        None => Box::new(stream) as crate::transport::BoxTransport,
        Some(acceptor) => {
            let limit = inner.config.handshake_timeout;
            match inner.runtime.timeout(limit, acceptor.accept(stream)).await {
                Some(Ok(accepted)) => {
                    peer.peer_certificates = accepted.peer_certificates;
                    accepted.stream
                }
                // A failed or expired TLS handshake closes this connection
                // only; there is no HTTP to answer with.
                Some(Err(e)) => {
                    inner.core.handshake_failed();
                    log::debug!("TLS handshake with {peer_addr} failed: {e}");
                    return;
                }
                None => {
                    inner.core.handshake_failed();
                    log::debug!("TLS handshake with {peer_addr} timed out");
                    return;
                }
            }
        }
    };
    handshake(io, peer, &inner).await;
}
