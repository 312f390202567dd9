//! The [`Connection`] handle: how it starts, the handle whose drop closes
//! it, its id, its topics and its closing and pausing. Sending is in
//! `sending.rs`, what it knows about itself in `info.rs`, its events in
//! `events.rs` and `handlers.rs`.

use std::any::{Any, TypeId};
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::id::ConnectionId;
use super::inbound::Inbound;
use super::reader::Reader;
use super::shared::{ConnectionInfo, Observer, Shared};
use super::writer;
use crate::budget::Budgets;
use crate::config::Config;
use crate::deflate::Negotiated;
use crate::error::Error;
use crate::protocol::{CloseCode, Receiver, Role};
use crate::runtime::Runtime;
use crate::transport::{BoxTransport, SharedTransport};

/// A server's registry: an [`Observer`] that is also told when a
/// connection starts.
pub(crate) trait Registry: Observer {
    /// The connection started (before its writer runs).
    fn started(&self, connection: &Connection);

    /// The server's memory budgets, if the connection counts against any.
    fn budgets(&self) -> Option<Arc<crate::budget::Budgets>> {
        None
    }
}

/// The application's state for one connection, set when it is accepted
/// ([`WebSocketRequest::accept_with_state`](crate::WebSocketRequest::accept_with_state)).
pub(crate) type State = Box<dyn Any + Send + Sync>;

/// Dropped when the last user-facing handle goes: the connection is closed
/// with 1001 (going away) if it is still open. It also holds the
/// application's state for the connection, which lives as long as a handle
/// does.
pub(crate) struct Handle(pub(crate) Arc<Shared>, State);

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
/// send from them. Incoming traffic arrives as [`Event`](crate::Event)s on
/// [`events`](Self::events); keep polling it (or run
/// [`EventHandlers`](crate::EventHandlers)) so that pings are answered and closes completed.
/// When every handle is dropped, the connection closes with 1001.
///
/// `S` is the application's state for this connection (the authenticated
/// user, say), set when accepting with
/// [`WebSocketRequest::accept_with_state`](crate::WebSocketRequest::accept_with_state)
/// and read with [`state`](Self::state) from every clone of the handle.
/// A plain `Connection` is `Connection<()>`: no state, or a view that does
/// not name it ([`untyped`](Self::untyped)); [`with_state`](Self::with_state)
/// gets the typed handle back, and the server's registry and topics hand
/// out typed handles too
/// ([`ServerHandle::connections_with`](crate::ServerHandle::connections_with),
/// [`ServerHandle::subscribers_with`](crate::ServerHandle::subscribers_with)).
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
pub struct Connection<S = ()> {
    handle: Arc<Handle>,
    state: PhantomData<fn() -> S>,
}

impl<S> Clone for Connection<S> {
    fn clone(&self) -> Self {
        Connection {
            handle: self.handle.clone(),
            state: PhantomData,
        }
    }
}

impl<S> std::fmt::Debug for Connection<S> {
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
    /// already arrived after the handshake; `registry` (a server's) is
    /// told when the connection starts and ends.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start(
        transport: BoxTransport,
        role: Role,
        config: Arc<Config>,
        id: ConnectionId,
        info: ConnectionInfo,
        pipelined: Vec<u8>,
        registry: Option<Arc<dyn Registry>>,
        deflate: Option<Negotiated>,
        runtime: Runtime,
        state: State,
    ) -> Connection {
        let (mut receiver, deflate) = match deflate {
            #[cfg(feature = "deflate")]
            Some(negotiated) => (
                Receiver::with_decompressor(config.receiver(role), negotiated.decompressor),
                Some(negotiated.state),
            ),
            #[cfg(not(feature = "deflate"))]
            Some(never) => match never {},
            None => (Receiver::new(config.receiver(role)), None),
        };
        // Every connection counts against a budget: its server's, or for a
        // client or a mounted connection the process's, where the inbound
        // limit is never below the largest message (such connections had
        // no budget before, and one message within the limits must always
        // be able to complete).
        let (budgets, inbound_limit) = match registry.as_ref().and_then(|r| r.budgets()) {
            Some(budgets) => (budgets, config.inbound_memory_budget),
            None => {
                let limit = config.inbound_memory_budget.max(config.max_message_size);
                let budgets = Budgets::process(limit, config.outbound_memory_budget);
                (budgets, limit)
            }
        };
        let inbound = Inbound::new(
            budgets.clone(),
            config.inbound_memory_reserve,
            inbound_limit,
            &mut receiver,
        );
        let reader = Reader::new(receiver, pipelined, config.read_buffer_size, Some(inbound));
        let shared = Arc::new(Shared::new(
            id,
            role,
            config,
            info,
            SharedTransport::new(transport),
            reader,
            registry
                .clone()
                .map(|registry| registry as Arc<dyn Observer>),
            deflate,
            runtime,
            Some(budgets),
        ));
        let conn = Connection::from_handle(Arc::new(Handle(shared.clone(), state)));
        // Registered before the writer starts, so that its end is always
        // seen after its start.
        if let Some(registry) = &registry {
            registry.started(&conn);
        }
        let writer = writer::run(shared.clone());
        shared.runtime.spawn_detached(writer);
        conn
    }

    pub(crate) fn from_handle(handle: Arc<Handle>) -> Connection {
        Connection {
            handle,
            state: PhantomData,
        }
    }
}

impl<S> Connection<S> {
    /// The same connection as a handle whose state is `T`, which the caller
    /// knows it is.
    pub(crate) fn retyped<T>(self) -> Connection<T> {
        Connection {
            handle: self.handle,
            state: PhantomData,
        }
    }

    /// This handle without its state's type: a plain [`Connection`], as
    /// [`ServerHandle::connections`](crate::ServerHandle::connections) and
    /// [`Events::connection`](crate::Events::connection) give. The state is
    /// still there: [`with_state`](Self::with_state) gets it back.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection<String>) {
    /// let plain: wsgate::Connection = conn.untyped();
    /// assert_eq!(plain.id(), conn.id());
    /// # }
    /// ```
    pub fn untyped(&self) -> Connection {
        self.clone().retyped()
    }

    /// This connection with its state typed as `T`, if `T` is the type it
    /// was accepted with; `None` otherwise. `with_state::<()>()` is always
    /// `Some`, as [`untyped`](Self::untyped): every connection is a plain
    /// `Connection`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// struct User { name: String }
    /// if let Some(user) = conn.with_state::<User>() {
    ///     println!("{} is {}", user.id(), user.state().name);
    /// }
    /// # }
    /// ```
    pub fn with_state<T: Send + Sync + 'static>(&self) -> Option<Connection<T>> {
        let state: &dyn Any = &*self.handle.1;
        (state.is::<T>() || TypeId::of::<T>() == TypeId::of::<()>()).then(|| self.clone().retyped())
    }

    /// The application's state for this connection, as given to
    /// [`accept_with_state`](crate::WebSocketRequest::accept_with_state).
    /// The same value from every clone of this handle, for as long as any
    /// handle lives. For mutable state, put a `Mutex` or atomics in it.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(request: wsgate::WebSocketRequest) -> Result<(), wsgate::AcceptError> {
    /// struct User { name: String }
    ///
    /// let user = User { name: "alice".into() };
    /// let conn = request.accept_with_state(None, None, user).await?;
    /// let same = conn.clone();
    /// assert_eq!(same.state().name, "alice");
    /// # Ok(()) }
    /// ```
    pub fn state(&self) -> &S
    where
        S: Send + Sync + 'static,
    {
        let state: &dyn Any = &*self.handle.1;
        state
            .downcast_ref::<S>()
            .or_else(|| (&() as &'static dyn Any).downcast_ref::<S>())
            .expect("a Connection<S> is only made for a connection whose state is an S")
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

    /// Starts the closing handshake with `code` and `reason` (cut to fit 123
    /// bytes).
    ///
    /// Messages already queued are sent first. The connection then waits for
    /// the peer's close, at most [`Config::close_timeout`], and drops the
    /// transport; the event stream ends with [`Event::Close`](crate::Event::Close)
    /// carrying this code and reason. The peer's answer is read whether or
    /// not anything polls [`events`](Self::events): what the peer sends
    /// before it is kept for the event stream (up to
    /// [`Config::max_message_size`] bytes in all, the rest dropped). Codes
    /// that may not be sent (such as 1005 or 1006) are replaced by 1000.
    /// Fails with [`Error::Closed`] when a close was already sent or
    /// received.
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
    /// After [`close`](Self::close) that takes one round trip to the peer
    /// (at most [`Config::close_timeout`]), with or without an events poll.
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

    /// Stops reading from the peer: the event stream yields nothing until
    /// [`resume`](Self::resume), and once the socket buffers fill, the
    /// peer's sends block (TCP backpressure). Pings are not answered while
    /// paused, so keep pauses shorter than the peer's keepalive timeout.
    /// Once this end's close frame is out, the peer's answer is read even
    /// while paused (see [`close`](Self::close)).
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
}
