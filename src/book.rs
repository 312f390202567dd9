//! The guide's chapters (`book/`), compiled and run as doctests.
//!
//! `mdbook test` cannot link external crates (mdBook issue #706), so each
//! chapter with Rust code is included here, and `cargo test --doc` compiles
//! its code blocks (and runs those not marked `no_run`). The chapters use
//! the default features (TLS, compression); a chapter whose code needs
//! `rustls` or `deflate` is tested only when that feature is on, so that
//! `cargo test --no-default-features` passes too.
//!
//! The chat chapter has no item here: its code is included from
//! `examples/chat/` with `{{#include}}` and compiles as that example. A
//! `#[test]` function in a doctest is not even type-checked, so the testing
//! chapter's test bodies sit in hidden plain `async fn`s, run by a hidden
//! `main`.
//!
//! mdBook does not fail on an `{{#include}}` whose file or anchor is
//! missing: it logs an error, or includes nothing at all. This doctest
//! catches both:
//!
//! ```
//! use std::path::Path;
//!
//! let chapters = Path::new(env!("CARGO_MANIFEST_DIR")).join("book/src");
//! let mut includes = 0;
//! for entry in std::fs::read_dir(&chapters).unwrap() {
//!     let chapter = entry.unwrap().path();
//!     if chapter.extension().is_none_or(|ext| ext != "md") {
//!         continue;
//!     }
//!     let text = std::fs::read_to_string(&chapter).unwrap();
//!     for (at, tag) in text.match_indices("{{#include ") {
//!         let rest = &text[at + tag.len()..];
//!         let link = rest[..rest.find("}}").expect("an include ends with }}")].trim();
//!         let (path, anchor) = match link.split_once(':') {
//!             Some((path, anchor)) => (path, Some(anchor)),
//!             None => (link, None),
//!         };
//!         let file = chapters.join(path);
//!         let where_ = format!("{}: {{{{#include {link}}}}}", chapter.display());
//!         let code = std::fs::read_to_string(&file)
//!             .unwrap_or_else(|e| panic!("{where_}: cannot read {}: {e}", file.display()));
//!         // Line ranges (`file:10:20`, `file::20`) need no check; names do.
//!         if let Some(anchor) = anchor.filter(|a| a.starts_with(|c: char| c.is_alphabetic())) {
//!             let marker = |kind: &str| {
//!                 code.lines().position(|line| {
//!                     line.split_once(kind).is_some_and(|(_, name)| name.trim() == anchor)
//!                 })
//!             };
//!             let start = marker("ANCHOR:").unwrap_or_else(|| panic!("{where_}: no `ANCHOR: {anchor}`"));
//!             let end = marker("ANCHOR_END:")
//!                 .unwrap_or_else(|| panic!("{where_}: no `ANCHOR_END: {anchor}`"));
//!             assert!(end > start + 1, "{where_}: the anchor holds no code");
//!         }
//!         includes += 1;
//!     }
//! }
//! assert!(includes > 0, "no includes found in {}", chapters.display());
//! ```

#![cfg(doctest)]

/// Introduction.
#[doc = include_str!("../book/src/introduction.md")]
pub struct Introduction;

/// Getting started.
#[doc = include_str!("../book/src/getting-started.md")]
pub struct GettingStarted;

/// The request object.
#[doc = include_str!("../book/src/request.md")]
pub struct RequestObject;

/// The raw handshake (its code checks permessage-deflate parameters).
#[cfg(feature = "deflate")]
#[doc = include_str!("../book/src/raw-handshake.md")]
pub struct RawHandshake;

/// Connections and events.
#[doc = include_str!("../book/src/connections.md")]
pub struct Connections;

/// Sending.
#[cfg(feature = "deflate")]
#[doc = include_str!("../book/src/sending.md")]
pub struct Sending;

/// Routing, state and request helpers (its example is included from
/// `examples/notify/app.rs`).
#[doc = include_str!("../book/src/application.md")]
pub struct Application;

/// Configuration and limits.
#[cfg(feature = "deflate")]
#[doc = include_str!("../book/src/configuration.md")]
pub struct Configuration;

/// Security.
#[cfg(feature = "rustls")]
#[doc = include_str!("../book/src/security.md")]
pub struct Security;

/// Operating a server.
#[doc = include_str!("../book/src/operating.md")]
pub struct Operating;

/// Topics.
#[doc = include_str!("../book/src/topics.md")]
pub struct Topics;

/// Topics and scaling out (its Redis walkthrough is included from
/// `examples/rooms.rs`, which compiles with the `redis` feature).
#[doc = include_str!("../book/src/scaling.md")]
pub struct Scaling;

/// Forwarding to TCP backends (its gateway walkthrough is included from
/// `examples/forward.rs`).
#[doc = include_str!("../book/src/forwarding.md")]
pub struct Forwarding;

/// Testing your server.
#[cfg(all(feature = "rustls", feature = "ring"))]
#[doc = include_str!("../book/src/testing.md")]
pub struct Testing;

/// Performance.
#[doc = include_str!("../book/src/performance.md")]
pub struct Performance;

/// Inside wsgate.
#[doc = include_str!("../book/src/internals.md")]
pub struct Internals;

/// Choosing a runtime.
#[doc = include_str!("../book/src/runtimes.md")]
pub struct Runtimes;
