//! The server: accepts TCP (and TLS) connections, runs opening handshakes
//! under a timeout, and yields a [`WebSocketRequest`] for each valid one.

mod accept;
mod core;
mod decision;
mod forward;
mod handle;
mod handshake;
mod home;
mod http;
mod http_handler;
#[cfg(feature = "hyper")]
mod hyper;
mod listener;
mod memory;
mod mount;
mod pending;
mod raw;
mod registry;
mod report;
mod request;
mod request_url;
mod respond;
mod route_path;
mod router;
mod serve;
mod tcp;
mod topics;

pub use self::forward::{Forward, ForwardEnd, ForwardError, ForwardReport};
pub use self::handle::{ServerHandle, ShutdownReport};
pub use self::listener::{Published, TopicListener};
pub(crate) use self::memory::Entry as MemoryEntry;
pub use self::raw::RawOutcome;
pub use self::registry::MetricsSnapshot;
pub use self::report::BroadcastReport;
pub use self::request::WebSocketRequest;
pub use self::router::{Params, Router};
pub use self::serve::Serve;
pub use self::topics::TopicMetrics;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use std::net::{TcpListener, ToSocketAddrs};

use event_listener::Event as Notify;
use futures::channel::mpsc;
use futures::{Stream, StreamExt};
use http_types::{Request, Response};

use self::core::Inner;
use self::http_handler::HttpHandler;
use self::registry::ServerCore;
use crate::broker::{Broker, Link};
use crate::config::Config;
use crate::runtime::Runtime;
use crate::tls::TlsAcceptor;

/// Requests waiting for the application to take them from the server.
const REQUEST_BACKLOG: usize = 64;

/// Configures a [`Server`] before it starts listening.
///
/// # Examples
///
/// ```no_run
/// use http_types::{Response, StatusCode};
/// use wsgate::{Config, Server};
///
/// # wsgate::runtime::block_on(async {
/// let mut config = Config::default();
/// config.max_message_size = 1 << 20;
/// let server = Server::builder()
///     .config(config)
///     .http_handler(|_request| async {
///         let mut response = Response::new(StatusCode::Ok);
///         response.set_body("<h1>hello</h1>");
///         response.set_content_type(http_types::mime::HTML);
///         response
///     })
///     .bind("127.0.0.1:8080")
///     .await?;
/// # Ok::<(), std::io::Error>(()) });
/// ```
#[derive(Default)]
pub struct ServerBuilder {
    config: Config,
    handler: Option<HttpHandler>,
    runtime: Option<Runtime>,
    broker: Option<Box<dyn Broker>>,
    router: Option<Router>,
}

impl ServerBuilder {
    /// Uses `config` for every handshake and connection.
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = wsgate::Server::builder().config(wsgate::Config::default());
    /// ```
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Joins the server's topics to other nodes through `broker`: a
    /// publish also reaches the subscribers connected to other servers
    /// using the same broker (see the [`broker`](crate::broker) module for
    /// the rules and the guarantees). Without one, topics stay in this
    /// process and cost nothing more.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # #[cfg(feature = "redis")]
    /// # wsgate::runtime::block_on(async {
    /// let broker = wsgate::broker::RedisBroker::new("redis://127.0.0.1:6379").unwrap();
    /// let server = wsgate::Server::builder().broker(broker).bind("127.0.0.1:8080").await?;
    /// # Ok::<(), std::io::Error>(()) });
    /// ```
    pub fn broker(mut self, broker: impl Broker) -> Self {
        self.broker = Some(Box::new(broker));
        self
    }

    /// Runs the server on `runtime`: its accept loops, handshakes,
    /// [`serve`](Server::serve)'s handlers and every connection's writer
    /// are tasks there, and its sockets and timers are registered there.
    /// Without this, [`Runtime::current`] at [`build`](Self::build) (or
    /// `bind`) time.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::runtime::Runtime;
    ///
    /// let builder = wsgate::Server::builder().runtime(Runtime::current());
    /// ```
    pub fn runtime(mut self, runtime: Runtime) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// Serves plain HTTP requests (those that do not ask for a WebSocket
    /// upgrade) with `handler`, so one port can serve a page and its
    /// WebSocket. Without a handler they get `426 Upgrade Required`. The
    /// connection is closed after each response.
    ///
    /// Every request carries the server's [`ServerHandle`] in its
    /// extensions, so a handler reaches the registry, the metrics and
    /// broadcasts of the server it runs in, although the server did not
    /// exist yet when the handler was written: `request.ext().get::<ServerHandle>()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use http_types::{Response, StatusCode};
    /// use wsgate::ServerHandle;
    ///
    /// let builder = wsgate::Server::builder()
    ///     .http_handler(|request| async move {
    ///         let server = request.ext().get::<ServerHandle>().expect("wsgate puts it there");
    ///         let mut response = Response::new(StatusCode::Ok);
    ///         response.set_body(format!(
    ///             "you asked for {}; {} connections",
    ///             request.url().path(),
    ///             server.connection_count(),
    ///         ));
    ///         response
    ///     });
    /// ```
    pub fn http_handler<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response> + Send + 'static,
    {
        self.handler = Some(self::http_handler::handler(handler));
        self
    }

    /// Routes requests with `router`: plain HTTP requests from now on (it
    /// becomes the [`http_handler`](Self::http_handler), replacing any
    /// other), and WebSocket requests when the server runs
    /// [`Server::serve_routes`].
    ///
    /// Two things to keep in mind: an [`http_handler`](Self::http_handler)
    /// set after this replaces the router's HTTP side (the last one set
    /// answers plain HTTP), and the router only sees WebSocket requests when
    /// the server runs [`serve_routes`](Server::serve_routes) (or your own
    /// loop calls [`Router::dispatch`]); [`Server::serve`] and
    /// `server.next()` hand requests to you unrouted.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use wsgate::{Router, Server};
    ///
    /// # wsgate::runtime::block_on(async {
    /// let router = Router::new()
    ///     .websocket("/echo", |request, _| async move {
    ///         let Ok(conn) = request.accept_default().await else { return };
    ///         // ...
    ///     })
    ///     .get("/health", |_, _| async { "ok".into() });
    /// let server = Server::builder().router(router).bind("127.0.0.1:8080").await?;
    /// server.serve_routes().await;
    /// # Ok::<(), std::io::Error>(()) });
    /// ```
    pub fn router(mut self, router: Router) -> Self {
        let http = router.clone();
        self.handler = Some(self::http_handler::handler(move |request| {
            http.respond(request)
        }));
        self.router = Some(router);
        self
    }

    /// Binds `addr` and starts accepting. A host name in `addr` is
    /// resolved with the system's resolver, blocking briefly; the first of
    /// its addresses that binds is used.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # wsgate::runtime::block_on(async {
    /// let server = wsgate::Server::builder().bind("127.0.0.1:0").await?;
    /// println!("listening on {}", server.local_addr());
    /// # Ok::<(), std::io::Error>(()) });
    /// ```
    pub async fn bind(self, addr: impl ToSocketAddrs) -> io::Result<Server> {
        let listener = tcp::bind(addr, &self.config.tcp)?;
        self.listen(listener)
    }

    /// Starts accepting on an already-bound listener.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # wsgate::runtime::block_on(async {
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let server = wsgate::Server::builder().listen(listener)?;
    /// # Ok::<(), std::io::Error>(()) });
    /// ```
    pub fn listen(self, listener: TcpListener) -> io::Result<Server> {
        let server = self.build();
        server.add_listener(listener, None)?;
        Ok(server)
    }

    /// Binds `addr` for `wss://` and starts accepting: every connection goes
    /// through `acceptor`'s TLS handshake (under
    /// [`Config::handshake_timeout`]) before the WebSocket handshake.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(acceptor: impl wsgate::TlsAcceptor) -> std::io::Result<()> {
    /// let server = wsgate::Server::builder().bind_tls("127.0.0.1:8443", acceptor).await?;
    /// # Ok(()) }
    /// ```
    pub async fn bind_tls(
        self,
        addr: impl ToSocketAddrs,
        acceptor: impl TlsAcceptor,
    ) -> io::Result<Server> {
        let listener = tcp::bind(addr, &self.config.tcp)?;
        let server = self.build();
        server.add_listener(listener, Some(Arc::new(acceptor)))?;
        Ok(server)
    }

    /// A server with no listener yet: add plain and TLS listeners with
    /// [`Server::add_bind`] and
    /// [`Server::add_bind_tls`], all feeding the same request stream.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(acceptor: impl wsgate::TlsAcceptor) -> std::io::Result<()> {
    /// let server = wsgate::Server::builder().build();
    /// server.add_bind("127.0.0.1:8080").await?;
    /// server.add_bind_tls("127.0.0.1:8443", acceptor).await?;
    /// # Ok(()) }
    /// ```
    pub fn build(self) -> Server {
        let (sender, requests) = mpsc::channel(REQUEST_BACKLOG);
        let core = Arc::new(ServerCore::default());
        let runtime = self.runtime.unwrap_or_else(Runtime::current);
        if let Some(broker) = self.broker {
            core.topics.attach(Link::new(broker), &runtime);
        }
        let inner = Arc::new(Inner {
            config: Arc::new(self.config),
            handler: self.handler,
            requests: sender,
            core,
            runtime,
            stopped: AtomicBool::new(false),
            stop: Notify::new(),
        });
        let owner: Arc<dyn std::any::Any + Send + Sync> = inner.clone();
        let _ = inner.core.owner.set(Arc::downgrade(&owner));
        Server {
            requests,
            local_addrs: Mutex::new(Vec::new()),
            inner,
            router: self.router.unwrap_or_default(),
        }
    }
}

/// A WebSocket server: a stream of [`WebSocketRequest`]s, one per valid
/// opening handshake.
///
/// Handshakes run concurrently, each under
/// [`Config::handshake_timeout`]; invalid ones are answered with the right
/// 4xx status and never reach the application. Dropping the server stops
/// accepting; open connections are not affected.
///
/// # Examples
///
/// ```no_run
/// use futures::StreamExt;
/// use wsgate::{Event, Server};
///
/// # wsgate::runtime::block_on(async {
/// let mut server = Server::bind("127.0.0.1:9001").await?;
/// while let Some(request) = server.next().await {
///     wsgate::runtime::spawn(async move {
///         let Ok(conn) = request.accept(None, None).await else { return };
///         let mut events = conn.events();
///         while let Some(Event::Message(m)) = events.next().await {
///             let _ = conn.send(m).await;
///         }
///     });
/// }
/// # Ok::<(), std::io::Error>(()) });
/// ```
pub struct Server {
    requests: mpsc::Receiver<WebSocketRequest>,
    local_addrs: Mutex<Vec<SocketAddr>>,
    inner: Arc<Inner>,
    /// From [`ServerBuilder::router`]; none is a router with no routes.
    router: Router,
}

impl Server {
    /// Binds `addr` with the default [`Config`] and no HTTP handler.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # wsgate::runtime::block_on(async {
    /// let server = wsgate::Server::bind("127.0.0.1:9001").await?;
    /// # Ok::<(), std::io::Error>(()) });
    /// ```
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<Server> {
        ServerBuilder::default().bind(addr).await
    }

    /// A builder for a server with a custom [`Config`] or an HTTP handler.
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = wsgate::Server::builder();
    /// ```
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// The address of the first listener (useful after binding port 0).
    ///
    /// # Panics
    ///
    /// If the server has no listener ([`ServerBuilder::build`] without
    /// [`add_bind`](Self::add_bind)).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # wsgate::runtime::block_on(async {
    /// let server = wsgate::Server::bind("127.0.0.1:0").await?;
    /// println!("ws://{}", server.local_addr());
    /// # Ok::<(), std::io::Error>(()) });
    /// ```
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addrs()[0]
    }

    /// The addresses of every listener, in the order they were added.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # wsgate::runtime::block_on(async {
    /// let server = wsgate::Server::bind("127.0.0.1:0").await?;
    /// assert_eq!(server.local_addrs().len(), 1);
    /// # Ok::<(), std::io::Error>(()) });
    /// ```
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.local_addrs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Adds a plain (`ws://`) listener on `addr`; returns its address.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # wsgate::runtime::block_on(async {
    /// let server = wsgate::Server::bind("127.0.0.1:8080").await?;
    /// server.add_bind("[::1]:8080").await?;
    /// # Ok::<(), std::io::Error>(()) });
    /// ```
    pub async fn add_bind(&self, addr: impl ToSocketAddrs) -> io::Result<SocketAddr> {
        let listener = tcp::bind(addr, &self.inner.config.tcp)?;
        self.add_listener(listener, None)
    }

    /// Adds a TLS (`wss://`) listener on `addr`; returns its address.
    /// Requests from it say [`is_secure`](WebSocketRequest::is_secure) and
    /// have `wss://` URLs.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(acceptor: impl wsgate::TlsAcceptor) -> std::io::Result<()> {
    /// let server = wsgate::Server::bind("127.0.0.1:8080").await?;
    /// server.add_bind_tls("127.0.0.1:8443", acceptor).await?;
    /// # Ok(()) }
    /// ```
    pub async fn add_bind_tls(
        &self,
        addr: impl ToSocketAddrs,
        acceptor: impl TlsAcceptor,
    ) -> io::Result<SocketAddr> {
        let listener = tcp::bind(addr, &self.inner.config.tcp)?;
        self.add_listener(listener, Some(Arc::new(acceptor)))
    }

    /// Starts accepting on an already-bound listener, with TLS if an
    /// acceptor is given; returns its address.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # wsgate::runtime::block_on(async {
    /// let server = wsgate::Server::builder().build();
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// server.add_listener(listener, None)?;
    /// # Ok::<(), std::io::Error>(()) });
    /// ```
    pub fn add_listener(
        &self,
        listener: TcpListener,
        tls: Option<Arc<dyn TlsAcceptor>>,
    ) -> io::Result<SocketAddr> {
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let listener = self.inner.runtime.register(listener)?;
        self.local_addrs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(addr);
        let accepting = accept::accept_loop(listener, tls, self.inner.clone());
        self.inner.runtime.spawn_detached(accepting);
        Ok(addr)
    }

    /// The runtime the server runs on.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # wsgate::runtime::block_on(async {
    /// let server = wsgate::Server::bind("127.0.0.1:0").await?;
    /// println!("on {}", server.runtime().name());
    /// # Ok::<(), std::io::Error>(()) });
    /// ```
    pub fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }

    /// The settings in use.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # wsgate::runtime::block_on(async {
    /// let server = wsgate::Server::bind("127.0.0.1:0").await?;
    /// assert_eq!(server.config().max_message_size, 16 << 20);
    /// # Ok::<(), std::io::Error>(()) });
    /// ```
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The door for in-memory connections
    /// ([`Connector`](crate::testing::Connector)).
    pub(crate) fn memory_entry(&self) -> MemoryEntry {
        memory::Entry::new(self.inner.clone())
    }

    /// A handle to the server's connections: registry, broadcast, graceful
    /// shutdown and metrics. Cheap to clone and usable from any task.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # wsgate::runtime::block_on(async {
    /// let server = wsgate::Server::bind("127.0.0.1:9001").await?;
    /// let handle = server.handle();
    /// println!("{} connections", handle.connection_count());
    /// # Ok::<(), std::io::Error>(()) });
    /// ```
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            inner: self.inner.clone(),
        }
    }

    /// Waits for the next request; `None` once the server has stopped.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # wsgate::runtime::block_on(async {
    /// let mut server = wsgate::Server::bind("127.0.0.1:9001").await?;
    /// while let Some(request) = server.accept().await {
    ///     request.reject(http_types::StatusCode::ServiceUnavailable, "maintenance");
    /// }
    /// # Ok::<(), std::io::Error>(()) });
    /// ```
    pub async fn accept(&mut self) -> Option<WebSocketRequest> {
        self.requests.next().await
    }
}

impl Stream for Server {
    type Item = WebSocketRequest;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.requests.poll_next_unpin(cx)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.inner.stop();
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addrs", &self.local_addrs())
            .finish_non_exhaustive()
    }
}
