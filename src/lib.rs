//! # wsgate
//!
//! An RFC 6455 WebSocket server library for async Rust (async-std, smol or
//! tokio, and mounted in hyper or axum), in the style of
//! Node's `websocket` package: the server yields an explicit
//! [`WebSocketRequest`] for each opening handshake, the application
//! [`accept`](WebSocketRequest::accept)s or [`reject`](WebSocketRequest::reject)s
//! it, and an accepted [`Connection`] emits [`Event`]s.
//!
//! ```no_run
//! use futures::StreamExt;
//! use wsgate::{Event, Server};
//!
//! # wsgate::runtime::block_on(async {
//! let server = Server::bind("127.0.0.1:9001").await?;
//! // A task per request; `server.next()` gives the requests one by one
//! // to an application that wants its own loop.
//! server
//!     .serve(|request| async move {
//!         // Inspect the request: host, resource, origin, protocols, headers...
//!         if request.resource() != "/echo" {
//!             request.reject(wsgate::http_types::StatusCode::NotFound, "try /echo");
//!             return;
//!         }
//!         let Ok(conn) = request.accept(None, None).await else { return };
//!         let mut events = conn.events();
//!         while let Some(event) = events.next().await {
//!             match event {
//!                 Event::Message(message) => { let _ = conn.send(message).await; }
//!                 Event::Close(close) => println!("closed: {}", close.code),
//!                 _ => {}
//!             }
//!         }
//!     })
//!     .await;
//! # Ok::<(), Box<dyn std::error::Error>>(()) });
//! ```
//!
//! ## Layers
//!
//! - [`protocol`] and [`handshake`]: the sans-IO core. Frames, masking,
//!   UTF-8, close codes, message assembly; parsing and answering the HTTP
//!   upgrade; and (crate-internal) each connection's lifecycle: its close
//!   state and deadlines, over a clock passed in. Plain code over byte
//!   buffers, no sockets, no async.
//! - [`runtime`]: the one seam to async-std, smol or tokio (spawn, timers,
//!   sockets).
//! - [`Connection`], [`WebSocketRequest`], [`Server`] (and [`Server::serve`]),
//!   [`Client`]: the async layer over any `futures-io` stream
//!   ([`Transport`]); the server keeps the registry and the topics.
//! - [`Config`]: every limit and timeout, with safe defaults.
//!
//! The guide's chapter "Inside wsgate" walks one message through the
//! layers.

#![warn(missing_docs)]
// The API docs are published with the default features, where every
// intra-doc link resolves (CI checks that build with `-D warnings`). Some
// links name items of the `rustls` and `deflate` features (`RustlsAcceptor`,
// `Connection::deflate`, ...); without those features they cannot resolve,
// and rendering them as plain text there is what we want.
#![cfg_attr(
    not(all(feature = "rustls", feature = "deflate")),
    allow(rustdoc::broken_intra_doc_links)
)]

mod book;
pub mod broker;
mod budget;
mod client;
mod config;
mod connection;
mod deflate;
mod error;
pub mod handshake;
mod lifecycle;
mod net;
pub mod protocol;
pub mod runtime;
mod scratch;
mod server;
pub mod testing;
pub mod tls;
mod transport;
mod trim;

pub use client::{Client, connect};
pub use config::{BroadcastPolicy, Config, SendPolicy, TcpKeepalive, TcpOptions};
pub use connection::{
    CloseEvent, Connection, ConnectionId, ConnectionStats, Event, EventHandlers, Events, Prepared,
    SendOptions,
};
pub use error::{AcceptError, Error, ErrorChain};
pub use handshake::{ExtensionOffer, HandshakeError, HandshakeHeaders};
pub use net::{InvalidIpNet, IpNet};
pub use protocol::{CloseCode, DataKind, Fragment, Message, ProtocolError};
pub use server::RawOutcome;
pub use server::{
    BroadcastReport, Forward, ForwardEnd, ForwardError, ForwardReport, MetricsSnapshot, Params,
    Published, Router, Serve, Server, ServerBuilder, ServerHandle, ShutdownReport, TopicListener,
    TopicMetrics, WebSocketRequest,
};
pub use tls::{TlsAccepted, TlsAcceptor};
pub use transport::{TcpTransport, Transport};
pub use trim::MemoryTrim;

/// The HTTP vocabulary of the API edge (`StatusCode`, `Url`, and the
/// `Request`/`Response` of the plain HTTP handler), re-exported so that an
/// application needs no direct dependency on it.
pub use http_types;

/// The README's examples, compiled and run as doctests (they use TLS and
/// compression, so only with those features).
#[cfg(all(doctest, feature = "rustls", feature = "deflate"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
