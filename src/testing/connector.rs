//! [`Connector`]: opens in-memory client connections to a server.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use crate::client::{Client, Target};
use crate::connection::Connection;
use crate::error::Error;
use crate::runtime::Clock;
use crate::server::Server;
use crate::transport::duplex_on;

/// The in-memory server end's address.
const SERVER_ADDR: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 80);
/// The first client port; they count up from here, and wrap back to it.
const FIRST_PORT: u16 = 49152;
/// Bytes each direction of a connection's pipe holds before its writer
/// waits: about a socket buffer's worth.
const DEFAULT_CAPACITY: usize = 64 << 10;

/// Opens in-memory connections to one [`Server`]: each runs the real
/// opening handshake with the server (which yields a
/// [`WebSocketRequest`](crate::WebSocketRequest) as for a TCP connection)
/// over a bounded in-memory pipe, and gives the client's
/// [`Connection`]. See the [module docs](super) for the addresses the
/// connections have.
///
/// Cheap to clone; clones open connections to the same server.
///
/// # Examples
///
/// ```
/// use wsgate::testing::{self, Clock};
///
/// wsgate::runtime::block_on(async {
///     let (server, connector) = testing::server(wsgate::Config::default(), &Clock::new());
///     drop(wsgate::runtime::spawn(server.serve(|request| async move {
///         request.reject(wsgate::http_types::StatusCode::Forbidden, "members only");
///     })));
///     let refused = connector.connect("/").await.unwrap_err();
///     let wsgate::Error::Handshake(wsgate::HandshakeError::Rejected { status, reason, .. }) = refused
///     else {
///         panic!("not a rejection: {refused}")
///     };
///     assert_eq!((status, reason.as_deref()), (403, Some("members only")));
/// });
/// ```
#[derive(Clone)]
pub struct Connector {
    entry: crate::server::MemoryEntry,
    next_port: Arc<AtomicU16>,
    capacity: usize,
}

impl Connector {
    /// A connector to `server`, which may also listen on sockets. Its
    /// connections keep time with the server's runtime: with
    /// [`Runtime::with_clock`](crate::runtime::Runtime::with_clock), its
    /// manual clock.
    ///
    /// # Examples
    ///
    /// ```
    /// use http_types::{Response, StatusCode};
    /// use wsgate::runtime::{Clock, Runtime};
    /// use wsgate::testing::Connector;
    ///
    /// let clock = Clock::new();
    /// let server = wsgate::Server::builder()
    ///     .runtime(Runtime::current().with_clock(clock.clone()))
    ///     .http_handler(|_| async { Response::new(StatusCode::Ok) })
    ///     .build();
    /// let connector = Connector::new(&server);
    /// assert_eq!(connector.clock(), Some(&clock));
    /// ```
    pub fn new(server: &Server) -> Connector {
        Connector {
            entry: server.memory_entry(),
            next_port: Arc::new(AtomicU16::new(FIRST_PORT)),
            capacity: DEFAULT_CAPACITY,
        }
    }

    /// Each direction of a connection opened from now on holds `bytes`
    /// (at least 1) before its writer waits for the reader; 64 KiB
    /// unless set. A small one shows how the application copes with a
    /// slow reader.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::testing::{self, Clock};
    ///
    /// let (_server, connector) = testing::server(wsgate::Config::default(), &Clock::new());
    /// let tight = connector.capacity(16);
    /// # drop(tight);
    /// ```
    pub fn capacity(mut self, bytes: usize) -> Connector {
        self.capacity = bytes.max(1);
        self
    }

    /// The manual clock the server and these connections keep time with,
    /// if its runtime has one.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::testing::{self, Clock};
    ///
    /// let clock = Clock::new();
    /// let (_server, connector) = testing::server(wsgate::Config::default(), &clock);
    /// assert_eq!(connector.clock(), Some(&clock));
    /// ```
    pub fn clock(&self) -> Option<&Clock> {
        self.entry.runtime().clock()
    }

    /// Connects to `resource` (the path and query, such as
    /// `/chat?room=1`) with a default [`Client`]: see
    /// [`connect_with`](Self::connect_with).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use wsgate::testing::{self, Clock};
    ///
    /// wsgate::runtime::block_on(async {
    ///     let (server, connector) = testing::server(wsgate::Config::default(), &Clock::new());
    ///     drop(wsgate::runtime::spawn(server.serve(|request| async move {
    ///         let conn = request.accept(None, None).await.unwrap();
    ///         conn.send("welcome").await.unwrap();
    ///     })));
    ///     let client = connector.connect("/").await.unwrap();
    ///     let first = client.events().next().await;
    ///     let Some(wsgate::Event::Message(wsgate::Message::Text(text))) = first else { panic!() };
    ///     assert_eq!(text, "welcome");
    /// });
    /// ```
    pub async fn connect(&self, resource: &str) -> Result<Connection, Error> {
        self.connect_with(Client::new(), resource).await
    }

    /// Connects to `resource` with `client`'s settings: its subprotocols,
    /// origin, headers, permessage-deflate offer and [`Config`](crate::Config)
    /// (limits and timeouts). The client's connection runs on the
    /// server's runtime and clock, whatever runtime `client` names.
    ///
    /// # Errors
    ///
    /// As [`Client::connect`]: the server's rejection is
    /// [`Error::Handshake`] with the status and reason; an
    /// [`Error::Io`] with `ConnectionRefused` when the server has been
    /// dropped or its allow-list does not admit `127.0.0.1`, and with
    /// `InvalidInput` when `resource` does not start with `/`.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::testing::{self, Clock};
    ///
    /// wsgate::runtime::block_on(async {
    ///     let (server, connector) = testing::server(wsgate::Config::default(), &Clock::new());
    ///     drop(wsgate::runtime::spawn(server.serve(|request| async move {
    ///         assert_eq!(request.origin(), Some("https://example.com"));
    ///         let _ = request.accept(Some("chat"), None).await;
    ///     })));
    ///     let client = wsgate::Client::new().protocol("chat").origin("https://example.com");
    ///     let conn = connector.connect_with(client, "/").await.unwrap();
    ///     assert_eq!(conn.protocol(), Some("chat"));
    /// });
    /// ```
    pub async fn connect_with(&self, client: Client, resource: &str) -> Result<Connection, Error> {
        if !resource.starts_with('/') {
            let message = format!("the resource {resource:?} does not start with '/'");
            return Err(io::Error::new(io::ErrorKind::InvalidInput, message).into());
        }
        let runtime = self.entry.runtime().clone();
        let (client_end, server_end) = duplex_on(self.capacity, runtime.clock().cloned());
        let port = self.next_port.fetch_add(1, Ordering::Relaxed);
        let port = if port < FIRST_PORT {
            // Wrapped past 65535.
            self.next_port.store(FIRST_PORT + 1, Ordering::Relaxed);
            FIRST_PORT
        } else {
            port
        };
        let client_addr = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port);
        self.entry
            .open(Box::new(server_end), client_addr, SERVER_ADDR)?;
        let target = Target {
            host: "localhost".to_owned(),
            resource: resource.to_owned(),
            remote_addr: SERVER_ADDR,
            local_addr: client_addr,
        };
        client
            .connect_over(Box::new(client_end), target, runtime)
            .await
    }
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connector")
            .field("capacity", &self.capacity)
            .field("clock", &self.clock())
            .finish_non_exhaustive()
    }
}
