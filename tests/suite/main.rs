//! The integration tests, in one test binary: each module is one area of
//! the server, `common` (and `tls_common`) the helpers they share.
//!
//! The tests run on the runtime the crate is built for (see
//! `common::run`). Two areas have their own binaries, because each counts
//! the process's allocations with a `#[global_allocator]` and needs no
//! other test allocating while it measures: `tests/hostile.rs` and
//! `tests/deflate.rs` (they include `common` by path).

mod common;
#[cfg(all(feature = "rustls", feature = "ring"))]
mod tls_common;

mod admission;
mod application;
#[cfg(feature = "hyper")]
mod axum;
mod broadcast;
mod broker;
#[cfg(feature = "redis")]
mod broker_redis;
mod budget;
// The chat example serves wss:// with rustls (it has required-features).
#[cfg(feature = "rustls")]
mod browser;
mod close;
mod close_paths;
mod concurrency;
mod corking;
mod examples;
mod flow_control;
mod forward;
mod handlers;
mod handshake;
mod harness;
mod keepalive;
mod logging;
mod messages;
mod metrics;
mod mounting;
mod notify;
mod policy;
mod raw_handshake;
mod registry;
mod runtime;
mod serve;
mod shutdown;
mod streaming;
mod tcp_options;
#[cfg(all(feature = "rustls", feature = "ring"))]
mod tls;
mod topics;
