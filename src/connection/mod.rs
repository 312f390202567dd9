//! An open WebSocket connection: a cheap, cloneable handle that sends
//! messages and emits events.

#[cfg(feature = "deflate")]
mod deflate;
mod events;
mod handlers;
mod keys;
mod options;
mod prepared;
mod queue;
mod shared;
mod space;
mod stats;
mod streaming;
mod write;
mod writer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use self::events::Reader;
pub use self::events::{CloseEvent, Event, Events};
pub use self::handlers::EventHandlers;
pub use self::options::SendOptions;
pub(crate) use self::prepared::Delivery;
pub use self::prepared::Prepared;
pub(crate) use self::shared::{ConnectionInfo, Shared};
pub use self::stats::ConnectionStats;
pub(crate) use self::stats::Observer;
use crate::config::Config;
use crate::deflate::Negotiated;
use crate::error::Error;
use crate::handshake::ExtensionOffer;
use crate::protocol::{CloseCode, DataKind, Message, OpCode, Receiver, Role};
use crate::runtime::Runtime;
use crate::transport::{BoxTransport, SharedTransport};

/// A process-wide unique connection number, given to a request when its
/// handshake arrives and kept by the connection it becomes.
///
/// # Examples
///
/// ```
/// use wsgate::ConnectionId;
///
/// let id = ConnectionId::from_u64(7);
/// assert_eq!(id.as_u64(), 7);
/// assert_eq!(id.to_string(), "#7");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(u64);

impl ConnectionId {
    pub(crate) fn next() -> ConnectionId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ConnectionId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The id with this number (for looking connections up by number).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(wsgate::ConnectionId::from_u64(3).as_u64(), 3);
    /// ```
    pub const fn from_u64(id: u64) -> ConnectionId {
        ConnectionId(id)
    }

    /// The number.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(wsgate::ConnectionId::from_u64(9).as_u64(), 9);
    /// ```
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

impl std::fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Dropped when the last user-facing handle goes: the connection is closed
/// with 1001 (going away) if it is still open.
pub(crate) struct Handle(pub(crate) Arc<Shared>);

impl Drop for Handle {
    fn drop(&mut self) {
        // The event stream holds a handle too: nothing reads any more.
        self.0.stop_reading();
        self.0.queue_close(CloseCode::GOING_AWAY, "", true);
    }
}

/// An open WebSocket connection.
///
/// A cheap, cloneable handle: clone it into as many tasks as you like to
/// send from them. Incoming traffic arrives as [`Event`]s on
/// [`events`](Self::events); keep polling it (or run
/// [`EventHandlers`]) so that pings are answered and closes completed.
/// When every handle is dropped, the connection closes with 1001.
///
/// # Examples
///
/// ```no_run
/// use futures::StreamExt;
/// use wsgate::{Event, Message, Server};
///
/// # wsgate::runtime::block_on(async {
/// let mut server = Server::bind("127.0.0.1:9001").await?;
/// while let Some(request) = server.next().await {
///     let Ok(conn) = request.accept(None, None).await else { continue };
///     wsgate::runtime::spawn(async move {
///         let mut events = conn.events();
///         while let Some(event) = events.next().await {
///             if let Event::Message(message) = event {
///                 let _ = conn.send(message).await;
///             }
///         }
///     });
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(()) });
/// ```
#[derive(Clone)]
pub struct Connection {
    handle: Arc<Handle>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.id())
            .field("remote_addr", &self.remote_addr())
            .field("protocol", &self.protocol())
            .finish()
    }
}

impl Connection {
    /// Starts a connection over `transport`, whose opening handshake is
    /// done, with its writer on `runtime`. `pipelined` holds bytes that
    /// already arrived after the handshake; `observer` (a server's
    /// registry) is told when the connection starts and ends.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start(
        transport: BoxTransport,
        role: Role,
        config: Arc<Config>,
        id: ConnectionId,
        info: ConnectionInfo,
        pipelined: Vec<u8>,
        observer: Option<Arc<dyn Observer>>,
        deflate: Option<Negotiated>,
        runtime: Runtime,
    ) -> Connection {
        let (receiver, deflate) = match deflate {
            #[cfg(feature = "deflate")]
            Some(negotiated) => (
                Receiver::with_decompressor(config.receiver(role), negotiated.decompressor),
                Some(negotiated.state),
            ),
            #[cfg(not(feature = "deflate"))]
            Some(never) => match never {},
            None => (Receiver::new(config.receiver(role)), None),
        };
        let reader = Reader::new(receiver, pipelined, config.read_buffer_size);
        let shared = Arc::new(Shared::new(
            id,
            role,
            config,
            info,
            SharedTransport::new(transport),
            reader,
            observer,
            deflate,
            runtime,
        ));
        let conn = Connection::from_handle(Arc::new(Handle(shared.clone())));
        // Registered before the writer starts, so that its end is always
        // seen after its start.
        if let Some(observer) = &conn.shared().observer {
            observer.started(&conn);
        }
        let writer = writer::run(shared.clone());
        shared.runtime.spawn_detached(writer);
        conn
    }

    pub(crate) fn from_handle(handle: Arc<Handle>) -> Connection {
        Connection { handle }
    }

    /// The user-facing handle, for a registry to keep a weak reference to.
    pub(crate) fn handle(&self) -> &Arc<Handle> {
        &self.handle
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.handle.0
    }

    /// This connection's id, the same as its request's.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(conn: wsgate::Connection) {
    /// println!("connection {}", conn.id());
    /// # }
    /// ```
    pub fn id(&self) -> ConnectionId {
        self.shared().id
    }

    /// The stream of incoming events.
    ///
    /// One event stream reads at a time: a second `Events` waits until the
    /// first is dropped. The stream ends after [`Event::Close`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use futures::StreamExt;
    /// use wsgate::Event;
    ///
    /// # async fn f(conn: wsgate::Connection) {
    /// let mut events = conn.events();
    /// while let Some(event) = events.next().await {
    ///     match event {
    ///         Event::Message(m) => println!("{} bytes", m.len()),
    ///         Event::Close(c) => println!("closed with {}", c.code),
    ///         _ => {}
    ///     }
    /// }
    /// # }
    /// ```
    pub fn events(&self) -> Events {
        Events::new(self.clone(), &self.shared().reader)
    }

    /// Node-style event handlers over [`events`](Self::events).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(conn: wsgate::Connection) {
    /// let echo = conn.clone();
    /// conn.handlers()
    ///     .on_message(move |message| {
    ///         let echo = echo.clone();
    ///         async move { let _ = echo.send(message).await; }
    ///     })
    ///     .on_close(|close| async move { println!("closed: {}", close.code) })
    ///     .run()
    ///     .await;
    /// # }
    /// ```
    pub fn handlers(&self) -> EventHandlers {
        EventHandlers::new(self.clone())
    }

    /// Sends a message, waiting while the send queue is over its high-water
    /// mark (unless the policy says otherwise).
    ///
    /// Returns once the message is queued; it is written in the background in
    /// order. Fails with [`Error::Closed`] once a close frame was sent or
    /// received.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(conn: wsgate::Connection) -> Result<(), wsgate::Error> {
    /// conn.send("hello").await?;
    /// conn.send(vec![1u8, 2, 3]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send(&self, message: impl Into<Message>) -> Result<(), Error> {
        self.send_with(message, SendOptions::new()).await
    }

    /// Sends a message with per-message [`SendOptions`], such as forcing
    /// permessage-deflate compression on or off; otherwise as
    /// [`send`](Self::send).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use wsgate::SendOptions;
    ///
    /// # async fn f(conn: wsgate::Connection) -> Result<(), wsgate::Error> {
    /// // A small but very repetitive message: worth compressing anyway.
    /// conn.send_with("ha".repeat(100), SendOptions::new().compress(true)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_with(
        &self,
        message: impl Into<Message>,
        options: SendOptions,
    ) -> Result<(), Error> {
        let (kind, payload) = match message.into() {
            Message::Text(text) => (DataKind::Text, text.into_bytes()),
            Message::Binary(data) => (DataKind::Binary, data),
        };
        #[cfg(feature = "deflate")]
        if let Some(deflate) = &self.shared().deflate
            && deflate.wants(payload.len(), options.compression())
        {
            return self.shared().send_compressed(deflate, kind, payload).await;
        }
        #[cfg(not(feature = "deflate"))]
        let _ = options;
        let out = self.shared().data_frames(kind, payload);
        self.shared().send(out, false).await
    }

    /// Sends a [`Prepared`] message: framed once, its bytes shared with
    /// every other connection it is sent to (compressed once per window
    /// size for connections compressing from the server's pool). Waits,
    /// fails or closes under [`Config::send_queue_policy`] as
    /// [`send`](Self::send) does.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(room: Vec<wsgate::Connection>) {
    /// let news = wsgate::Prepared::new("the room is closing");
    /// for member in &room {
    ///     let _ = member.send_prepared(&news).await;
    /// }
    /// # }
    /// ```
    pub async fn send_prepared(&self, prepared: &Prepared) -> Result<(), Error> {
        self.shared().send_prepared(prepared).await
    }

    /// Subscribes this connection to `topic`: every
    /// [`ServerHandle::publish`](crate::ServerHandle::publish) to it
    /// reaches this connection, until [`unsubscribe`](Self::unsubscribe)
    /// or the connection ends (it leaves its topics by itself). Returns
    /// whether it was not subscribed yet.
    ///
    /// Fails with [`Error::TopicTooLong`], [`Error::TooManySubscriptions`]
    /// or [`Error::TooManyTopics`] past the limits in [`Config`]
    /// (`max_topic_len`, `max_subscriptions_per_connection`, `max_topics`),
    /// with [`Error::Closed`] once the connection has ended, and with
    /// [`Error::NoTopics`] on a client's connection.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) -> Result<(), wsgate::Error> {
    /// conn.subscribe("room/42")?;
    /// assert_eq!(conn.topics(), ["room/42"]);
    /// # Ok(()) }
    /// ```
    pub fn subscribe(&self, topic: &str) -> Result<bool, Error> {
        let shared = self.shared();
        match &shared.observer {
            Some(server) => server.subscribe(shared, topic),
            None => Err(Error::NoTopics),
        }
    }

    /// Unsubscribes this connection from `topic`; whether it was
    /// subscribed.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) -> Result<(), wsgate::Error> {
    /// conn.subscribe("news")?;
    /// assert!(conn.unsubscribe("news"));
    /// assert!(!conn.unsubscribe("news"));
    /// # Ok(()) }
    /// ```
    pub fn unsubscribe(&self, topic: &str) -> bool {
        let shared = self.shared();
        shared
            .observer
            .as_ref()
            .is_some_and(|server| server.unsubscribe(shared, topic))
    }

    /// The topics this connection is subscribed to.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// for topic in conn.topics() { println!("in {topic}"); }
    /// # }
    /// ```
    pub fn topics(&self) -> Vec<String> {
        let shared = self.shared();
        shared
            .observer
            .as_ref()
            .map(|server| server.topics(shared))
            .unwrap_or_default()
    }

    /// Sets this connection's own [`BroadcastPolicy`](crate::BroadcastPolicy),
    /// in place of the server's
    /// [`Config::broadcast_policy`](crate::Config::broadcast_policy): what a
    /// broadcast or publish does when this connection's send queue is over
    /// its high-water mark.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// // A dashboard that must see every update or reconnect.
    /// conn.set_broadcast_policy(wsgate::BroadcastPolicy::Close);
    /// # }
    /// ```
    pub fn set_broadcast_policy(&self, policy: crate::BroadcastPolicy) {
        self.shared().set_broadcast_policy(policy);
    }

    /// Sends a text message.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(conn: wsgate::Connection) -> Result<(), wsgate::Error> {
    /// conn.send_text(format!("{} users online", 3)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_text(&self, text: impl Into<String>) -> Result<(), Error> {
        self.send(Message::Text(text.into())).await
    }

    /// Sends a binary message.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(conn: wsgate::Connection) -> Result<(), wsgate::Error> {
    /// conn.send_binary(vec![0xde, 0xad]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_binary(&self, data: impl Into<Vec<u8>>) -> Result<(), Error> {
        self.send(Message::Binary(data.into())).await
    }

    /// Sends a ping (at most 125 bytes). The peer's pong arrives as
    /// [`Event::Pong`]. Control frames skip the high-water mark.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) -> Result<(), wsgate::Error> {
    /// conn.ping(b"are you there".to_vec())?;
    /// # Ok(()) }
    /// ```
    pub fn ping(&self, payload: impl Into<Vec<u8>>) -> Result<(), Error> {
        self.shared().send_control(OpCode::Ping, payload.into())
    }

    /// Sends an unsolicited pong (at most 125 bytes), e.g. as a heartbeat.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) -> Result<(), wsgate::Error> {
    /// conn.pong(Vec::new())?;
    /// # Ok(()) }
    /// ```
    pub fn pong(&self, payload: impl Into<Vec<u8>>) -> Result<(), Error> {
        self.shared().send_control(OpCode::Pong, payload.into())
    }

    /// Starts the closing handshake with `code` and `reason` (cut to fit 123
    /// bytes).
    ///
    /// Messages already queued are sent first. The connection then waits for
    /// the peer's close, at most [`Config::close_timeout`], and drops the
    /// transport; the event stream ends with [`Event::Close`]. Codes that may
    /// not be sent (such as 1005 or 1006) are replaced by 1000. Fails with
    /// [`Error::Closed`] when a close was already sent or received.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) -> Result<(), wsgate::Error> {
    /// use wsgate::CloseCode;
    ///
    /// conn.close(CloseCode::NORMAL, "bye")?;
    /// # Ok(()) }
    /// ```
    pub fn close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        let code = if code.is_sendable() {
            code
        } else {
            CloseCode::NORMAL
        };
        if self.shared().queue_close(code, reason, false) {
            Ok(())
        } else {
            Err(Error::Closed)
        }
    }

    /// Waits until the connection is fully closed and its transport dropped.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(conn: wsgate::Connection) {
    /// conn.close(wsgate::CloseCode::GOING_AWAY, "restart").ok();
    /// conn.closed().await;
    /// # }
    /// ```
    pub async fn closed(&self) {
        self.shared().wait_finished().await;
    }

    /// Waits until every queued frame has been written to the transport.
    /// Fails with [`Error::Closed`] if the connection finished first.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(conn: wsgate::Connection) -> Result<(), wsgate::Error> {
    /// conn.send("last words").await?;
    /// conn.flush().await?;
    /// # Ok(()) }
    /// ```
    pub async fn flush(&self) -> Result<(), Error> {
        loop {
            let listener = self.shared().space.listen();
            {
                let queue = self.shared().lock_queue();
                if queue.lost {
                    return Err(Error::Closed);
                }
                if queue.bytes == 0 {
                    return Ok(());
                }
            }
            listener.await;
        }
    }

    /// Whether the connection can still send: no close was sent or received.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// if conn.is_open() { /* ... */ }
    /// # }
    /// ```
    pub fn is_open(&self) -> bool {
        self.shared().lock_queue().life.is_open()
    }

    /// Bytes queued and not yet written to the transport.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// println!("{} bytes waiting", conn.buffered_amount());
    /// # }
    /// ```
    pub fn buffered_amount(&self) -> usize {
        self.shared().lock_queue().bytes
    }

    /// Waits until the send queue has drained to its low-water mark
    /// ([`Config::send_queue_low_water`]); the async form of
    /// [`Event::Drain`]. Fails with [`Error::Closed`] if the connection
    /// finished first.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(conn: wsgate::Connection) -> Result<(), wsgate::Error> {
    /// for chunk in 0..100u8 {
    ///     conn.send(vec![chunk; 64 << 10]).await?;
    ///     if conn.buffered_amount() > (512 << 10) {
    ///         conn.writable().await?;
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn writable(&self) -> Result<(), Error> {
        let low = self.shared().config.send_queue_low_water;
        loop {
            let listener = self.shared().space.listen();
            {
                let queue = self.shared().lock_queue();
                if queue.life.is_finished() {
                    return Err(Error::Closed);
                }
                if queue.bytes <= low {
                    return Ok(());
                }
            }
            listener.await;
        }
    }

    /// Stops reading from the peer: the event stream yields nothing until
    /// [`resume`](Self::resume), and once the socket buffers fill, the
    /// peer's sends block (TCP backpressure). Pings are not answered while
    /// paused, so keep pauses shorter than the peer's keepalive timeout.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(conn: wsgate::Connection) {
    /// conn.pause();
    /// // ... catch up on work ...
    /// conn.resume();
    /// # }
    /// ```
    pub fn pause(&self) {
        self.shared().paused.store(true, Ordering::Release);
    }

    /// Resumes reading after [`pause`](Self::pause).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// conn.resume();
    /// # }
    /// ```
    pub fn resume(&self) {
        self.shared().paused.store(false, Ordering::Release);
        self.shared().events_waker.wake();
    }

    /// Whether reading is paused.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// assert!(!conn.is_paused());
    /// # }
    /// ```
    pub fn is_paused(&self) -> bool {
        self.shared().paused.load(Ordering::Acquire)
    }

    /// Traffic counters and state of this connection.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// println!("{:?}", conn.stats());
    /// # }
    /// ```
    pub fn stats(&self) -> ConnectionStats {
        let shared = self.shared();
        let [messages_in, bytes_in, messages_out, bytes_out] = shared.counters.load();
        ConnectionStats {
            messages_in,
            bytes_in,
            messages_out,
            bytes_out,
            queued_bytes: self.buffered_amount(),
            opened_at: shared.opened_at,
            rtt: shared.rtt(),
            open: self.is_open(),
            #[cfg(feature = "deflate")]
            deflate_bytes_saved: shared.deflate.as_ref().map_or(0, |d| d.bytes_saved()),
            #[cfg(not(feature = "deflate"))]
            deflate_bytes_saved: 0,
        }
    }

    /// The round-trip time measured by the last answered keepalive ping
    /// ([`Config::ping_interval`]).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// if let Some(rtt) = conn.rtt() { println!("rtt {rtt:?}"); }
    /// # }
    /// ```
    pub fn rtt(&self) -> Option<std::time::Duration> {
        self.shared().rtt()
    }

    /// Which end of the connection this is.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// assert_eq!(conn.role(), wsgate::protocol::Role::Server);
    /// # }
    /// ```
    pub fn role(&self) -> Role {
        self.shared().role
    }

    /// The subprotocol agreed in the handshake, in the client's spelling.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// if conn.protocol() == Some("chat") { /* ... */ }
    /// # }
    /// ```
    pub fn protocol(&self) -> Option<&str> {
        self.shared().info.protocol.as_deref()
    }

    /// The extensions agreed in the handshake.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// for ext in conn.extensions() { println!("{ext}"); }
    /// # }
    /// ```
    pub fn extensions(&self) -> &[ExtensionOffer] {
        &self.shared().info.extensions
    }

    /// The permessage-deflate parameters agreed in the handshake, or `None`
    /// when messages go uncompressed (feature `deflate`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// if let Some(params) = conn.deflate() {
    ///     println!("compressing: {params}");
    /// }
    /// # }
    /// ```
    #[cfg(feature = "deflate")]
    pub fn deflate(&self) -> Option<crate::handshake::DeflateParams> {
        self.shared().deflate.as_ref().map(|d| d.params)
    }

    /// The peer's address (for a server behind a trusted proxy, the client
    /// address the proxy forwarded).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// println!("from {}", conn.remote_addr());
    /// # }
    /// ```
    pub fn remote_addr(&self) -> SocketAddr {
        self.shared().info.remote_addr
    }

    /// This end's address.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// println!("on {}", conn.local_addr());
    /// # }
    /// ```
    pub fn local_addr(&self) -> SocketAddr {
        self.shared().info.local_addr
    }

    /// The `Host` of the handshake.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// println!("{}", conn.host());
    /// # }
    /// ```
    pub fn host(&self) -> &str {
        &self.shared().info.host
    }

    /// The `Origin` of the handshake, if any.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// println!("{:?}", conn.origin());
    /// # }
    /// ```
    pub fn origin(&self) -> Option<&str> {
        self.shared().info.origin.as_deref()
    }

    /// The requested resource: path and query.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// println!("{}", conn.resource());
    /// # }
    /// ```
    pub fn resource(&self) -> &str {
        &self.shared().info.resource
    }

    /// The handshake headers (the request's on a server, the response's on a
    /// client), as sent.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// for (name, value) in conn.headers() { println!("{name}: {value}"); }
    /// # }
    /// ```
    pub fn headers(&self) -> &[(String, String)] {
        &self.shared().info.headers
    }

    /// The first handshake header called `name` (case-insensitive).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// let agent = conn.header("user-agent").unwrap_or("unknown");
    /// # }
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        crate::handshake::header(self.headers(), name)
    }
}
#[cfg(test)]
mod size_tests {
    /// Idle memory per connection is a target (benches/RESULTS.md): these
    /// guard the parts that every connection holds for its lifetime.
    #[test]
    fn per_connection_state_stays_small() {
        let word = std::mem::size_of::<usize>();
        // Moved into the application's task, whose future keeps room for it.
        assert_eq!(std::mem::size_of::<crate::WebSocketRequest>(), word);
        assert_eq!(std::mem::size_of::<crate::Connection>(), word);
        if word == 8 {
            assert!(std::mem::size_of::<super::Shared>() <= 768);
            assert!(std::mem::size_of::<super::events::Reader>() <= 512);
        }
    }
}
