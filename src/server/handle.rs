//! The operations handle: registry, broadcast, shutdown, metrics.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::future::join_all;

use super::core::Inner;
use super::registry::MetricsSnapshot;
use crate::config::SendPolicy;
#[cfg(feature = "deflate")]
use crate::connection::BroadcastCompressed;
use crate::connection::{Body, Connection, ConnectionId, Offer, OutFrame, Outgoing};
#[cfg(feature = "deflate")]
use crate::deflate::SendCodec;
use crate::error::Error;
use crate::protocol::{CloseCode, DataFrames, DataKind, MAX_HEADER_LEN, Message};

/// A cheap, cloneable handle to a running server's connections: look them
/// up, send to one or all, disconnect, shut down, read counters.
///
/// Get one from [`Server::handle`](crate::Server::handle).
///
/// # Examples
///
/// ```no_run
/// # wsgate::runtime::block_on(async {
/// let server = wsgate::Server::bind("127.0.0.1:9001").await?;
/// let handle = server.handle();
/// wsgate::runtime::spawn(async move {
///     loop {
///         wsgate::runtime::Runtime::current().sleep(std::time::Duration::from_secs(10)).await;
///         handle.broadcast(format!("{} online", handle.connection_count())).await;
///     }
/// });
/// # Ok::<(), std::io::Error>(()) });
/// ```
#[derive(Clone)]
pub struct ServerHandle {
    pub(super) inner: Arc<Inner>,
}

/// How a broadcast went.
///
/// # Examples
///
/// ```no_run
/// # async fn f(handle: wsgate::ServerHandle) {
/// let report = handle.broadcast("news").await;
/// println!("{} queued, {} waited, {} failed", report.queued, report.waited, report.failed);
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BroadcastReport {
    /// Connections whose queue took the message at once.
    pub queued: usize,
    /// Connections over their high-water mark that took it after waiting
    /// ([`SendPolicy::Wait`]).
    pub waited: usize,
    /// Connections that did not get it: closed, or over the mark under
    /// [`SendPolicy::Fail`] / [`SendPolicy::Close`] (which also closed them).
    pub failed: usize,
}

/// How a graceful shutdown went.
///
/// # Examples
///
/// ```no_run
/// # async fn f(handle: wsgate::ServerHandle) {
/// let report = handle.shutdown(std::time::Duration::from_secs(5)).await;
/// println!("{} closed cleanly, {} dropped", report.clean, report.forced);
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Connections whose closing handshake completed.
    pub clean: usize,
    /// Connections dropped without the peer's close (no answer in time).
    pub forced: usize,
}

impl ServerHandle {
    /// The number of open connections.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(handle: wsgate::ServerHandle) {
    /// println!("{} connections", handle.connection_count());
    /// # }
    /// ```
    pub fn connection_count(&self) -> usize {
        self.inner.core.count()
    }

    /// Every open connection (that the application has not dropped).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(handle: wsgate::ServerHandle) {
    /// for conn in handle.connections() {
    ///     println!("{} from {} on {}", conn.id(), conn.remote_addr(), conn.resource());
    /// }
    /// # }
    /// ```
    pub fn connections(&self) -> Vec<Connection> {
        self.inner.core.connections()
    }

    /// The open connection with this id.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(handle: wsgate::ServerHandle, id: wsgate::ConnectionId) {
    /// if let Some(conn) = handle.connection(id) { println!("{:?}", conn.stats()); }
    /// # }
    /// ```
    pub fn connection(&self, id: ConnectionId) -> Option<Connection> {
        self.inner.core.connection(id)
    }

    /// Sends a message to one connection. Fails with [`Error::Closed`] when
    /// there is no open connection with this id.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(handle: wsgate::ServerHandle, id: wsgate::ConnectionId) -> Result<(), wsgate::Error> {
    /// handle.send_to(id, "just for you").await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_to(
        &self,
        id: ConnectionId,
        message: impl Into<Message>,
    ) -> Result<(), Error> {
        match self.connection(id) {
            Some(conn) => conn.send(message).await,
            None => Err(Error::Closed),
        }
    }

    /// Starts closing one connection with `code` and `reason`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(handle: wsgate::ServerHandle, id: wsgate::ConnectionId) {
    /// handle.disconnect(id, wsgate::CloseCode::POLICY_VIOLATION, "kicked").ok();
    /// # }
    /// ```
    pub fn disconnect(&self, id: ConnectionId, code: CloseCode, reason: &str) -> Result<(), Error> {
        match self.connection(id) {
            Some(conn) => conn.close(code, reason),
            None => Err(Error::Closed),
        }
    }

    /// Sends one message to every open connection. See
    /// [`broadcast_where`](Self::broadcast_where).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(handle: wsgate::ServerHandle) {
    /// handle.broadcast("server restarting in 5 minutes").await;
    /// # }
    /// ```
    pub async fn broadcast(&self, message: impl Into<Message>) -> BroadcastReport {
        self.broadcast_where(message, |_| true).await
    }

    /// Sends one message to every open connection that `filter` selects.
    ///
    /// The frame is encoded once and its bytes shared by every connection's
    /// queue (no per-connection copy). Connections under their high-water
    /// mark get it at once, in one pass; a connection over its mark follows
    /// the send-queue policy, so a slow connection never delays the others:
    /// with [`SendPolicy::Wait`] the broadcast then waits for the slow ones
    /// (concurrently) before it returns, with `Fail` it skips them, with
    /// `Close` it closes them with 1008.
    ///
    /// With permessage-deflate (a message at or above the connection's
    /// threshold): connections compressing from the server's shared pool
    /// (no context takeover) share one compressed copy too, made once per
    /// window size; a connection with its own compressor (context takeover)
    /// must compress the message itself, in its own order, so each of those
    /// costs one compression, done concurrently with the waits above and
    /// counted as `queued`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(handle: wsgate::ServerHandle) {
    /// handle.broadcast_where("hello lobby", |conn| conn.resource().starts_with("/lobby")).await;
    /// # }
    /// ```
    pub async fn broadcast_where(
        &self,
        message: impl Into<Message>,
        filter: impl Fn(&Connection) -> bool,
    ) -> BroadcastReport {
        let (kind, payload) = match message.into() {
            Message::Text(text) => (DataKind::Text, text.into_bytes()),
            Message::Binary(data) => (DataKind::Binary, data),
        };
        let config = &self.inner.config;
        let frames = DataFrames::new(kind, 0, payload.len(), config.fragment_size);
        let encoded: Vec<_> = frames
            .map(|(header, range)| {
                let mut head = [0u8; MAX_HEADER_LEN];
                let len = header.encode(&mut head);
                (head, len, header.opcode, range)
            })
            .collect();
        let payload = Arc::new(payload);
        let mut report = BroadcastReport::default();
        let mut waiting = Vec::new();
        // permessage-deflate: pooled connections share one compressed copy;
        // connections with their own compressor compress in turn.
        #[cfg(feature = "deflate")]
        let mut pooled = BroadcastCompressed::new(kind, &payload, config.fragment_size);
        #[cfg(feature = "deflate")]
        let mut own_compressed = Vec::new();
        let plain = || Outgoing {
            frames: encoded
                .iter()
                .map(|(head, len, opcode, range)| {
                    OutFrame::from_encoded(
                        *head,
                        *len,
                        *opcode,
                        Body::Shared(payload.clone(), range.clone()),
                    )
                })
                .collect(),
            messages: 1,
        };
        for conn in self.connections().into_iter().filter(|c| filter(c)) {
            #[cfg(feature = "deflate")]
            let out = match &conn.shared().deflate {
                Some(deflate) if deflate.wants(payload.len(), None) => match deflate.codec {
                    SendCodec::Own(_) => {
                        own_compressed.push(conn);
                        continue;
                    }
                    SendCodec::Pool(_) => pooled.frames(deflate).unwrap_or_else(plain),
                },
                _ => plain(),
            };
            #[cfg(not(feature = "deflate"))]
            let out = plain();
            match conn.shared().offer(out, false) {
                Ok(Offer::Queued) => report.queued += 1,
                // Behind a streamed message: wait for its end, like a send.
                Ok(Offer::Busy(out)) => waiting.push((conn, out)),
                Ok(Offer::Full(out)) => match config.send_queue_policy {
                    SendPolicy::Wait => waiting.push((conn, out)),
                    SendPolicy::Fail => report.failed += 1,
                    SendPolicy::Close => {
                        let _ = conn.close(CloseCode::POLICY_VIOLATION, "send queue full");
                        report.failed += 1;
                    }
                },
                Err(_) => report.failed += 1,
            }
        }
        let waited = join_all(
            waiting
                .into_iter()
                .map(|(conn, out)| async move { conn.shared().send(out, false).await }),
        );
        #[cfg(feature = "deflate")]
        let (results, compressed) = {
            let payload = &payload;
            let compressed = join_all(own_compressed.iter().map(|conn| async move {
                let shared = conn.shared();
                let deflate = shared.deflate.as_ref().expect("checked above");
                shared.send_own_compressed(deflate, kind, payload).await
            }));
            futures::future::join(waited, compressed).await
        };
        #[cfg(not(feature = "deflate"))]
        let (results, compressed) = (waited.await, Vec::<Result<(), Error>>::new());
        for result in results {
            match result {
                Ok(()) => report.waited += 1,
                Err(_) => report.failed += 1,
            }
        }
        for result in compressed {
            match result {
                Ok(()) => report.queued += 1,
                Err(_) => report.failed += 1,
            }
        }
        report
    }

    /// Stops accepting new connections; open connections are not affected.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(handle: wsgate::ServerHandle) {
    /// handle.stop_listening();
    /// # }
    /// ```
    pub fn stop_listening(&self) {
        self.inner.stop();
    }

    /// Shuts down gracefully: stops accepting, answers handshakes still in
    /// progress (and requests still undecided) with 503, sends close 1001 to
    /// every connection, waits for their closes up to `deadline`, then drops
    /// the rest.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(handle: wsgate::ServerHandle) {
    /// let report = handle.shutdown(std::time::Duration::from_secs(10)).await;
    /// assert_eq!(handle.connection_count(), 0);
    /// # }
    /// ```
    pub async fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        self.inner.core.shutting_down.store(true, Ordering::Release);
        self.inner.core.shutdown_started.notify(usize::MAX);
        self.inner.stop();
        let connections = self.inner.core.all_shared();
        log::info!("shutting down: closing {} connections", connections.len());
        for shared in &connections {
            shared.queue_close(CloseCode::GOING_AWAY, "server shutting down", false);
        }
        let all_closed = join_all(connections.iter().map(|s| s.wait_finished()));
        let _ = self.inner.runtime.timeout(deadline, all_closed).await;
        let mut report = ShutdownReport::default();
        for shared in &connections {
            if shared.is_finished() && shared.closed_cleanly() {
                report.clean += 1;
            } else {
                shared.force_close();
                report.forced += 1;
            }
        }
        for shared in &connections {
            shared.wait_finished().await;
        }
        report
    }

    /// The server's counters: connections, handshakes, traffic, closes.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(handle: wsgate::ServerHandle) {
    /// let m = handle.metrics();
    /// println!("active={} in={}B out={}B", m.active_connections, m.bytes_in, m.bytes_out);
    /// # }
    /// ```
    pub fn metrics(&self) -> MetricsSnapshot {
        self.inner.core.snapshot()
    }
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("connections", &self.connection_count())
            .finish_non_exhaustive()
    }
}
