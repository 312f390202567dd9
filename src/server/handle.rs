//! The operations handle: registry, broadcast, shutdown, metrics.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::future::join_all;

use super::core::Inner;
use super::listener::{Published, TopicListener};
use super::registry::MetricsSnapshot;
use super::report::BroadcastReport;
use super::request::WebSocketRequest;
use crate::connection::{Connection, ConnectionId, Prepared};
use crate::error::Error;
use crate::protocol::{CloseCode, Message};

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

impl WebSocketRequest {
    /// The handle of the server this request came to: its registry,
    /// topics, broadcasts and metrics, for a handler that was written
    /// before the server existed (a [`Router`](crate::Router)'s, say).
    /// `None` for a request made from a stream
    /// ([`WebSocketRequest::from_stream`]), which has no server, or once
    /// the server is gone.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(request: wsgate::WebSocketRequest) {
    /// if let Some(server) = request.server() {
    ///     server.publish("lobby", "someone is joining");
    /// }
    /// # }
    /// ```
    pub fn server(&self) -> Option<ServerHandle> {
        let owner = self.home().server.as_ref()?.owner()?;
        let inner = owner.downcast::<Inner>().ok()?;
        Some(ServerHandle { inner })
    }
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

    /// Every open connection (that the application has not dropped) whose
    /// state is an `S`, typed: the ones accepted with
    /// [`accept_with_state`](crate::WebSocketRequest::accept_with_state)
    /// and a state of that type. The state is read with
    /// [`Connection::state`]. With `S = ()`, every connection, untyped, as
    /// [`connections`](Self::connections).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(handle: wsgate::ServerHandle) {
    /// struct User { name: String }
    ///
    /// for conn in handle.connections_with::<User>() {
    ///     println!("{} is online", conn.state().name);
    /// }
    /// # }
    /// ```
    pub fn connections_with<S: Send + Sync + 'static>(&self) -> Vec<Connection<S>> {
        self.connections()
            .iter()
            .filter_map(Connection::with_state)
            .collect()
    }

    /// The open connection with this id, typed with its state `S`; `None`
    /// if there is none or its state is not an `S`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(handle: wsgate::ServerHandle, id: wsgate::ConnectionId) {
    /// struct User { name: String }
    ///
    /// if let Some(conn) = handle.connection_with::<User>(id) {
    ///     println!("{} is {}", id, conn.state().name);
    /// }
    /// # }
    /// ```
    pub fn connection_with<S: Send + Sync + 'static>(
        &self,
        id: ConnectionId,
    ) -> Option<Connection<S>> {
        self.connection(id)?.with_state()
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

    /// Sends one message to every open connection that `filter` selects,
    /// without ever waiting for a slow one.
    ///
    /// The frame is encoded once and its bytes shared by every connection's
    /// queue (no per-connection copy), in one pass over the connections. A
    /// connection over its send queue's high-water mark gets the
    /// [`BroadcastPolicy`](crate::BroadcastPolicy) (its own, else the
    /// server's): `Drop` (the default) skips it for this message, `Close`
    /// fails it with 1008 ("send queue full"). So neither the task that
    /// broadcasts nor any other connection waits for a slow client; the
    /// future completes without waiting. A connection in the middle of a
    /// streamed message ([`Connection::send_stream`]) gets the message
    /// right after it.
    ///
    /// With permessage-deflate (a message at or above the connection's
    /// threshold): connections compressing from the server's shared pool
    /// (no context takeover) share one compressed copy too, made once per
    /// window size; a connection with its own compressor (context takeover)
    /// compresses the message itself, in its own order, or sends it
    /// uncompressed while another send holds its compressor.
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
        self.broadcast_prepared_where(&Prepared::new(message), filter)
            .await
    }

    /// Sends a [`Prepared`] message to every open connection that `filter`
    /// selects, as [`broadcast_where`](Self::broadcast_where) does (never
    /// waiting).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(handle: wsgate::ServerHandle) {
    /// let notice = wsgate::Prepared::new("maintenance at noon");
    /// handle.broadcast_prepared_where(&notice, |conn| conn.resource() == "/ops").await;
    /// # }
    /// ```
    pub async fn broadcast_prepared_where(
        &self,
        prepared: &Prepared,
        filter: impl Fn(&Connection) -> bool,
    ) -> BroadcastReport {
        let mut report = BroadcastReport::default();
        for conn in self.connections().into_iter().filter(|c| filter(c)) {
            report.count(conn.shared().deliver(prepared));
        }
        report
    }

    /// Publishes `message` to every connection subscribed to `topic`
    /// ([`Connection::subscribe`]), without waiting for any: framed once,
    /// the same bytes queued to every subscriber, at a cost proportional to
    /// the topic's subscribers (not to the server's connections). A
    /// subscriber over its send queue's mark gets the
    /// [`BroadcastPolicy`](crate::BroadcastPolicy), as for a broadcast.
    /// A topic nobody is subscribed to reports nothing queued.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(handle: wsgate::ServerHandle) {
    /// let report = handle.publish("room/42", "alice joined");
    /// println!("{} queued, {} dropped", report.queued, report.dropped);
    /// # }
    /// ```
    pub fn publish(&self, topic: &str, message: impl Into<Message>) -> BroadcastReport {
        self.publish_prepared(topic, &Prepared::new(message))
    }

    /// Publishes a [`Prepared`] message to `topic`, as
    /// [`publish`](Self::publish) does.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(handle: wsgate::ServerHandle) {
    /// let notice = wsgate::Prepared::new("maintenance at noon");
    /// for topic in ["eu", "us"] {
    ///     handle.publish_prepared(topic, &notice);
    /// }
    /// # }
    /// ```
    pub fn publish_prepared(&self, topic: &str, prepared: &Prepared) -> BroadcastReport {
        self.inner.core.topics.publish(topic, prepared)
    }

    /// How many connections are subscribed to `topic`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(handle: wsgate::ServerHandle) {
    /// println!("{} in the lobby", handle.subscribers("lobby"));
    /// # }
    /// ```
    pub fn subscribers(&self, topic: &str) -> usize {
        self.inner.core.topics.subscribers(topic)
    }

    /// The connections subscribed to `topic` (that the application still
    /// holds) whose state is an `S`, typed. With `S = ()`, every
    /// subscriber, untyped.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(handle: wsgate::ServerHandle) {
    /// struct User { name: String }
    ///
    /// let names: Vec<String> = handle
    ///     .subscribers_with::<User>("room/42")
    ///     .iter()
    ///     .map(|conn| conn.state().name.clone())
    ///     .collect();
    /// # }
    /// ```
    pub fn subscribers_with<S: Send + Sync + 'static>(&self, topic: &str) -> Vec<Connection<S>> {
        let ids = self.inner.core.topics.subscriber_ids(topic);
        ids.into_iter()
            .filter_map(|id| self.connection_with(id))
            .collect()
    }

    /// Calls `handler` with every message published to `topic`, by this
    /// server or (with a [broker](crate::broker)) by another node, until
    /// the returned [`TopicListener`] is dropped: the application's own
    /// subscription, beside the connections'. While it lasts, the topic
    /// exists, so this node receives the topic's publishes from the broker.
    ///
    /// Keep the guard: `let _ = handle.on_topic(..)` drops it at once, and
    /// the listener never runs. A listener that holds a [`ServerHandle`]
    /// keeps the server's broker running until the guard is dropped or the
    /// server shuts down.
    ///
    /// The handler runs inside the publish, on the publisher's task (or
    /// the broker's): it must be quick and must not block, or it holds up
    /// that task (for the broker's, every message from other nodes). To do
    /// slow work, send what it needs to a task of the application's. It may
    /// publish, but not to its own topic from every call (that recurses). A
    /// panic in it is caught and logged. A publish that had started before
    /// the guard was dropped may still call it once.
    ///
    /// # Errors
    ///
    /// [`Error::TopicTooLong`] and [`Error::TooManyTopics`], as for
    /// [`Connection::subscribe`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    ///
    /// let server = wsgate::Server::builder().build();
    /// let (tx, rx) = mpsc::channel();
    /// let _listening = server
    ///     .handle()
    ///     .on_topic("audit", move |p| tx.send(p.text().unwrap_or("").to_owned()).unwrap())
    ///     .unwrap();
    /// server.handle().publish("audit", "alice logged in");
    /// assert_eq!(rx.try_recv().unwrap(), "alice logged in");
    /// ```
    pub fn on_topic(
        &self,
        topic: &str,
        handler: impl Fn(&Published<'_>) + Send + Sync + 'static,
    ) -> Result<TopicListener, Error> {
        self.inner
            .core
            .topics
            .listen(&self.inner.config, topic, Arc::new(handler))
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
        self.inner.core.topics.stop_broker();
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
