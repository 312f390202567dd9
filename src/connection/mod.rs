//! An open WebSocket connection: a cheap, cloneable handle that sends
//! messages and emits events.
//!
//! This file only declares the files and re-exports their items; each file
//! imports only from files below it (`.ci/module-cycles src/connection`).

mod closing;
mod cork;
#[cfg(feature = "deflate")]
mod deflate;
mod event;
mod events;
mod handle;
mod handlers;
mod id;
mod inbound;
mod info;
mod keys;
mod memory;
mod options;
mod prepared;
mod queue;
mod read;
mod reader;
mod sending;
mod shared;
mod space;
mod stats;
mod streaming;
mod write;
mod writer;

pub use self::event::{CloseEvent, Event};
pub use self::events::Events;
pub use self::handle::Connection;
pub(crate) use self::handle::{Handle, Registry, State};
pub use self::handlers::EventHandlers;
pub use self::id::ConnectionId;
pub use self::options::SendOptions;
pub(crate) use self::prepared::Delivery;
pub use self::prepared::Prepared;
pub(crate) use self::shared::{ConnectionInfo, Handshaken, Observer, Shared};
pub use self::stats::ConnectionStats;
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
            eprintln!(
                "SIZES shared {} queue {} life {}",
                std::mem::size_of::<super::Shared>(),
                std::mem::size_of::<super::queue::SendQueue>(),
                std::mem::size_of::<crate::lifecycle::Lifecycle>()
            );
            assert!(std::mem::size_of::<super::Shared>() <= 672);
            // Inside Shared: at 128 bytes it made Shared 64 bytes larger
            // than before the lifecycle (3.6 KiB per idle connection
            // against 3.5; benches/RESULTS.md).
            assert!(std::mem::size_of::<crate::lifecycle::Lifecycle>() <= 72);
            // The decompressor boxed: 456 bytes inline before.
            assert!(std::mem::size_of::<super::reader::Reader>() <= 304);
            // Inside every application task that awaits a send, idle or
            // not (a task is as large as its largest await): the
            // `async fn` chain it replaced was 488 bytes.
            assert!(std::mem::size_of::<super::shared::QueueSend<'_>>() <= 112);
        }
    }
}
