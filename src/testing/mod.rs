//! Testing an application without sockets and without waiting: an
//! in-memory client/server pair running the real connection code, and a
//! manual [`Clock`] for its timeouts.
//!
//! [`server`] makes a [`Server`] with no listener and a [`Connector`] to
//! it. [`Connector::connect`] opens an in-memory, bounded duplex stream
//! ([`duplex`]) to the server and runs the real opening handshake over it:
//! the server yields a real [`WebSocketRequest`](crate::WebSocketRequest)
//! (its accept or reject logic, origin checks, subprotocol and
//! permessage-deflate negotiation all run as over TCP), and the client
//! gets a real [`Connection`](crate::Connection). Frames, limits, compression, keepalive and
//! the closing handshake then run the same code as over a socket; only
//! the bytes travel through memory.
//!
//! The server and both ends of every connection keep time with the
//! [`Clock`] given to [`server`]: it stands still until
//! [`Clock::advance`], which fires the deadlines it passes (the keepalive
//! ping interval and pong grace, the idle timeout, the close timeout, the
//! handshake and decision timeouts) and waits for what they cause to
//! happen. A test of a 30-second idle timeout takes milliseconds, and its
//! outcome does not depend on the machine's load.
//!
//! The in-memory connections' addresses are fixed loopback ones: the
//! server's end is `127.0.0.1:80`, each client's is `127.0.0.1` with a port
//! of its own from 49152 up; the `Host` is `localhost`, the scheme `ws`.
//!
//! # Examples
//!
//! The application's own `serve` runs unchanged:
//!
//! ```
//! use std::time::Duration;
//! use futures::StreamExt;
//! use wsgate::testing::{self, Clock};
//! use wsgate::{CloseCode, Config, Event, Message, Server};
//!
//! /// The application: echoes every message.
//! async fn serve(mut server: Server) {
//!     while let Some(request) = server.next().await {
//!         wsgate::runtime::spawn(async move {
//!             let Ok(conn) = request.accept(None, None).await else { return };
//!             let mut events = conn.events();
//!             while let Some(event) = events.next().await {
//!                 if let Event::Message(message) = event {
//!                     let _ = conn.send(message).await;
//!                 }
//!             }
//!         });
//!     }
//! }
//!
//! wsgate::runtime::block_on(async {
//!     let mut config = Config::default();
//!     config.idle_timeout = Some(Duration::from_secs(10));
//!     let clock = Clock::new();
//!     let (server, connector) = testing::server(config, &clock);
//!     drop(wsgate::runtime::spawn(serve(server)));
//!
//!     let client = connector.connect("/echo").await.unwrap();
//!     client.send("hello").await.unwrap();
//!     let mut events = client.events();
//!     let Some(Event::Message(Message::Text(echo))) = events.next().await else { panic!() };
//!     assert_eq!(echo, "hello");
//!
//!     // Ten seconds of silence, at once: the server closes with 1001
//!     // (before the first keepalive ping, due at 20 s).
//!     clock.advance(Duration::from_secs(10)).await;
//!     let Some(Event::Close(close)) = events.next().await else { panic!() };
//!     assert_eq!(close.code, CloseCode::GOING_AWAY);
//! });
//! ```

mod connector;

pub use crate::runtime::Clock;
pub use crate::transport::{MemoryStream, duplex};
pub use connector::Connector;

use crate::config::Config;
use crate::runtime::Runtime;
use crate::server::Server;

/// A server with no listener, whose time is `clock`'s, on
/// [`Runtime::current`], and a [`Connector`] that opens in-memory
/// connections to it. The server is a real [`Server`]: run the
/// application's request loop (or [`Server::serve`]) on it as in
/// production. It has no local address ([`Server::local_addr`] panics);
/// for an HTTP handler, a broker or another runtime, build the server
/// with [`Server::builder`] and
/// [`Runtime::with_clock`](crate::runtime::Runtime::with_clock), and make
/// its connector with [`Connector::new`].
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use wsgate::testing::{self, Clock};
///
/// wsgate::runtime::block_on(async {
///     let (mut server, connector) = testing::server(wsgate::Config::default(), &Clock::new());
///     let client = wsgate::runtime::spawn(async move { connector.connect("/chat?room=1").await });
///     let request = server.next().await.unwrap();
///     assert_eq!(request.resource(), "/chat?room=1");
///     assert_eq!(request.remote_addr().ip().to_string(), "127.0.0.1");
///     let conn = request.accept(None, None).await.unwrap();
///     let client = client.await.unwrap();
///     assert_eq!(client.resource(), "/chat?room=1");
///     assert_eq!(conn.remote_addr(), client.local_addr());
/// });
/// ```
pub fn server(config: Config, clock: &Clock) -> (Server, Connector) {
    let server = Server::builder()
        .config(config)
        .runtime(Runtime::current().with_clock(clock.clone()))
        .build();
    let connector = Connector::new(&server);
    (server, connector)
}
