//! Mounting wsgate in another server: an already-accepted stream, plus the
//! bytes that server already read, becomes a [`WebSocketRequest`] (Node's
//! `handleUpgrade`).

use std::net::SocketAddr;
use std::sync::Arc;

use super::handshake::{HeadError, read_head};
use super::home::RequestHome;
use super::pending;
use super::request::{Peer, WebSocketRequest};
use super::request_url::RequestUrl;
use super::respond::respond;
use crate::config::Config;
use crate::handshake::{self, Classified, HandshakeError, Limits, reject_response};
use crate::runtime::Runtime;
use crate::transport::{BoxTransport, Transport};

impl WebSocketRequest {
    /// Turns a stream another server accepted into a request, for mounting
    /// wsgate behind an existing HTTP server (such as tide) on the same port.
    ///
    /// `buffered` holds the bytes that server already read from the stream
    /// (all or part of the HTTP request head; possibly more); the rest of
    /// the head is read under [`Config::handshake_timeout`]. An invalid
    /// handshake, or a request that is not a WebSocket upgrade, is answered
    /// with its error status (426 for a plain request) and returned as the
    /// error. `secure` says whether the stream is TLS (for the URL scheme).
    /// The request's tasks and timers, and its connection's, run on
    /// [`Runtime::current`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use wsgate::{Config, WebSocketRequest};
    ///
    /// # async fn f(stream: wsgate::TcpTransport, head: Vec<u8>) -> Result<(), Box<dyn std::error::Error>> {
    /// let peer = stream.peer_addr()?;
    /// let local = stream.local_addr()?;
    /// let request = WebSocketRequest::from_stream(stream, head, peer, local, false, Config::default()).await?;
    /// let conn = request.accept(None, None).await?;
    /// # Ok(()) }
    /// ```
    pub async fn from_stream(
        stream: impl Transport,
        buffered: Vec<u8>,
        peer_addr: SocketAddr,
        local_addr: SocketAddr,
        secure: bool,
        config: Config,
    ) -> Result<WebSocketRequest, HandshakeError> {
        let runtime = Runtime::current();
        let mut io: BoxTransport = Box::new(stream);
        let limits = Limits {
            max_size: config.max_handshake_size,
            max_headers: config.max_handshake_headers,
        };
        let limit = config.handshake_timeout;
        let (raw, head, rest) = match runtime
            .timeout(limit, read_head(&mut io, &limits, buffered))
            .await
        {
            Some(Ok(head)) => head,
            Some(Err(HeadError::Invalid(e))) => {
                respond(&runtime, io, &e.to_response(), limit).await;
                return Err(e);
            }
            Some(Err(HeadError::Closed)) => return Err(HandshakeError::Malformed),
            None => {
                respond(
                    &runtime,
                    io,
                    &reject_response(408, "handshake timed out"),
                    limit,
                )
                .await;
                return Err(HandshakeError::Malformed);
            }
        };
        let upgrade = match handshake::classify(raw) {
            Ok(Classified::Upgrade(upgrade)) => upgrade,
            Ok(Classified::Plain(_)) => {
                let response = reject_response(426, "not a WebSocket upgrade request");
                respond(&runtime, io, &response, limit).await;
                return Err(HandshakeError::InvalidUpgradeHeader);
            }
            Err(e) => {
                respond(&runtime, io, &e.to_response(), limit).await;
                return Err(e);
            }
        };
        let scheme = if secure { "wss" } else { "ws" };
        let Some(url) = RequestUrl::new(scheme, &upgrade.host, &upgrade.resource) else {
            respond(&runtime, io, &reject_response(400, "invalid Host"), limit).await;
            return Err(HandshakeError::InvalidTarget);
        };
        let peer = Peer {
            peer_addr,
            local_addr,
            secure,
            peer_certificates: Vec::new(),
        };
        let (request, holding) = pending::pending_request(
            io,
            rest,
            head,
            upgrade,
            url,
            peer,
            RequestHome {
                config: Arc::new(config),
                runtime: runtime.clone(),
                server: None,
            },
        );
        runtime.spawn_detached(holding);
        Ok(request)
    }
}
