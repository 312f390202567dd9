//! The server: accepts TCP connections, runs opening handshakes under a
//! timeout, and yields a [`WebSocketRequest`] for each valid one.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use async_std::net::{TcpListener, TcpStream, ToSocketAddrs};
use event_listener::Event as Notify;
use futures::channel::{mpsc, oneshot};
use futures::future::{Either, select};
use futures::io::AsyncReadExt;
use futures::{SinkExt, Stream, StreamExt};
use http_types::{Request, Response, Url};

use crate::config::Config;
use crate::handshake::{self, Classified, HandshakeError, Limits};
use crate::http::{self, HttpHandler};
use crate::pending::{self, PendingState, reject_response, respond};
use crate::request::{Peer, WebSocketRequest};
use crate::time::timeout;
use crate::transport::BoxTransport;

/// Requests waiting for the application to take them from the server.
const REQUEST_BACKLOG: usize = 64;

/// Settings shared by the accept loop and every handshake.
struct Inner {
    config: Arc<Config>,
    handler: Option<HttpHandler>,
    stopped: AtomicBool,
    stop: Notify,
}

/// Configures a [`Server`] before it starts listening.
///
/// # Examples
///
/// ```no_run
/// use http_types::{Response, StatusCode};
/// use wsgate::{Config, Server};
///
/// # async_std::task::block_on(async {
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

    /// Serves plain HTTP requests (those that do not ask for a WebSocket
    /// upgrade) with `handler`, so one port can serve a page and its
    /// WebSocket. Without a handler they get `426 Upgrade Required`. The
    /// connection is closed after each response.
    ///
    /// # Examples
    ///
    /// ```
    /// use http_types::{Response, StatusCode};
    ///
    /// let builder = wsgate::Server::builder()
    ///     .http_handler(|request| async move {
    ///         let mut response = Response::new(StatusCode::Ok);
    ///         response.set_body(format!("you asked for {}", request.url().path()));
    ///         response
    ///     });
    /// ```
    pub fn http_handler<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response> + Send + 'static,
    {
        self.handler = Some(http::handler(handler));
        self
    }

    /// Binds `addr` and starts accepting.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async_std::task::block_on(async {
    /// let server = wsgate::Server::builder().bind("127.0.0.1:0").await?;
    /// println!("listening on {}", server.local_addr());
    /// # Ok::<(), std::io::Error>(()) });
    /// ```
    pub async fn bind(self, addr: impl ToSocketAddrs) -> io::Result<Server> {
        let listener = TcpListener::bind(addr).await?;
        self.listen(listener)
    }

    /// Starts accepting on an already-bound listener.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async_std::task::block_on(async {
    /// let listener = async_std::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let server = wsgate::Server::builder().listen(listener)?;
    /// # Ok::<(), std::io::Error>(()) });
    /// ```
    pub fn listen(self, listener: TcpListener) -> io::Result<Server> {
        let local_addr = listener.local_addr()?;
        let inner = Arc::new(Inner {
            config: Arc::new(self.config),
            handler: self.handler,
            stopped: AtomicBool::new(false),
            stop: Notify::new(),
        });
        let (sender, requests) = mpsc::channel(REQUEST_BACKLOG);
        async_std::task::spawn(accept_loop(listener, inner.clone(), sender));
        Ok(Server {
            requests,
            local_addr,
            inner,
        })
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
/// # async_std::task::block_on(async {
/// let mut server = Server::bind("127.0.0.1:9001").await?;
/// while let Some(request) = server.next().await {
///     async_std::task::spawn(async move {
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
    local_addr: SocketAddr,
    inner: Arc<Inner>,
}

impl Server {
    /// Binds `addr` with the default [`Config`] and no HTTP handler.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async_std::task::block_on(async {
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

    /// The address the server listens on (useful after binding port 0).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async_std::task::block_on(async {
    /// let server = wsgate::Server::bind("127.0.0.1:0").await?;
    /// println!("ws://{}", server.local_addr());
    /// # Ok::<(), std::io::Error>(()) });
    /// ```
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The settings in use.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async_std::task::block_on(async {
    /// let server = wsgate::Server::bind("127.0.0.1:0").await?;
    /// assert_eq!(server.config().max_message_size, 16 << 20);
    /// # Ok::<(), std::io::Error>(()) });
    /// ```
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Waits for the next request; `None` once the server has stopped.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async_std::task::block_on(async {
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
        self.inner.stopped.store(true, Ordering::Release);
        self.inner.stop.notify(usize::MAX);
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

async fn accept_loop(
    listener: TcpListener,
    inner: Arc<Inner>,
    requests: mpsc::Sender<WebSocketRequest>,
) {
    loop {
        let stop = inner.stop.listen();
        if inner.stopped.load(Ordering::Acquire) {
            return;
        }
        let accepted = match select(pin!(listener.accept()), stop).await {
            Either::Left((accepted, _)) => accepted,
            Either::Right(_) => return,
        };
        match accepted {
            Ok((stream, peer_addr)) => {
                let _ = stream.set_nodelay(true);
                let inner = inner.clone();
                let requests = requests.clone();
                async_std::task::spawn(async move {
                    handle_tcp(stream, peer_addr, inner, requests).await;
                });
            }
            // Out of file descriptors or memory, or an aborted connection:
            // pause briefly rather than spin, and keep serving.
            Err(_) => {
                async_io::Timer::after(Duration::from_millis(20)).await;
            }
        }
    }
}

async fn handle_tcp(
    stream: TcpStream,
    peer_addr: SocketAddr,
    inner: Arc<Inner>,
    requests: mpsc::Sender<WebSocketRequest>,
) {
    let Ok(local_addr) = stream.local_addr() else {
        return;
    };
    let peer = Peer {
        peer_addr,
        local_addr,
        secure: false,
    };
    handshake(Box::new(stream), peer, &inner, requests).await;
}

/// Reads and answers one opening handshake; a valid upgrade becomes a
/// request for the application.
async fn handshake(
    mut io: BoxTransport,
    peer: Peer,
    inner: &Inner,
    mut requests: mpsc::Sender<WebSocketRequest>,
) {
    let config = &inner.config;
    let limits = Limits {
        max_size: config.max_handshake_size,
        max_headers: config.max_handshake_headers,
    };
    let write_limit = config.handshake_timeout;
    let (raw, rest) = match timeout(config.handshake_timeout, read_head(&mut io, &limits)).await {
        None => {
            respond(
                io,
                &reject_response(408, "handshake timed out"),
                write_limit,
            )
            .await;
            return;
        }
        Some(Err(HeadError::Closed)) => return,
        Some(Err(HeadError::Invalid(e))) => {
            respond(io, &e.to_response(), write_limit).await;
            return;
        }
        Some(Ok(head)) => head,
    };
    let scheme = if peer.secure { "wss" } else { "ws" };
    let upgrade = match handshake::classify(raw) {
        Err(e) => {
            respond(io, &e.to_response(), write_limit).await;
            return;
        }
        Ok(Classified::Plain(raw)) => {
            let http_scheme = if peer.secure { "https" } else { "http" };
            let host = raw.header("host").unwrap_or("localhost").to_owned();
            let base = format!("{http_scheme}://{host}/");
            http::serve(
                io,
                raw,
                rest,
                &base,
                inner.handler.as_ref(),
                config.max_http_body_size,
                write_limit,
            )
            .await;
            return;
        }
        Ok(Classified::Upgrade(upgrade)) => upgrade,
    };
    let Ok(url) = Url::parse(&format!("{scheme}://{}{}", upgrade.host, upgrade.resource)) else {
        respond(
            io,
            &reject_response(400, "invalid Host or request target"),
            write_limit,
        )
        .await;
        return;
    };
    let state = Arc::new(PendingState::default());
    let (decide, decisions) = oneshot::channel();
    let request = WebSocketRequest::new(upgrade, url, &peer, config.clone(), decide, state.clone());
    // If the server is gone, the request is dropped with the failed send and
    // the pending task below answers 503.
    let _ = requests.send(request).await;
    pending::hold(
        io,
        rest,
        decisions,
        &state,
        config.decision_timeout,
        write_limit,
        config
            .read_buffer_size
            .max(config.max_frame_size.min(64 << 10)),
    )
    .await;
}

enum HeadError {
    Closed,
    Invalid(HandshakeError),
}

/// Reads until the end of the request head, scanning each byte once, and
/// parses it once. Returns the head and the bytes read past it.
async fn read_head(
    io: &mut BoxTransport,
    limits: &Limits,
) -> Result<(handshake::RawRequest, Vec<u8>), HeadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut scratch = [0u8; 2048];
    loop {
        let room = scratch
            .len()
            .min(limits.max_size + 1 - buf.len().min(limits.max_size));
        let n = match io.read(&mut scratch[..room.max(1)]).await {
            Ok(0) | Err(_) => return Err(HeadError::Closed),
            Ok(n) => n,
        };
        let scanned = buf.len();
        buf.extend_from_slice(&scratch[..n]);
        if let Some(end) = handshake::find_head_end(&buf, scanned) {
            return match handshake::parse_head(&buf[..end], limits) {
                Ok(Some((raw, used))) => Ok((raw, buf.split_off(used))),
                Ok(None) => Err(HeadError::Invalid(HandshakeError::Malformed)),
                Err(e) => Err(HeadError::Invalid(e)),
            };
        }
        if buf.len() > limits.max_size {
            return Err(HeadError::Invalid(HandshakeError::HeadTooLarge));
        }
    }
}
