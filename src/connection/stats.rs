//! Per-connection traffic counters and the snapshot of them that
//! [`Connection::stats`](crate::Connection::stats) returns.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// Traffic counters, updated with relaxed atomics on the hot path.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) messages_in: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) messages_out: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
}

impl Counters {
    pub(crate) fn load(&self) -> [u64; 4] {
        [
            self.messages_in.load(Ordering::Relaxed),
            self.bytes_in.load(Ordering::Relaxed),
            self.messages_out.load(Ordering::Relaxed),
            self.bytes_out.load(Ordering::Relaxed),
        ]
    }
}

/// A snapshot of one connection's traffic and state, from
/// [`Connection::stats`](crate::Connection::stats).
///
/// Bytes count what crossed the transport (frame headers included); messages
/// count complete data messages.
///
/// # Examples
///
/// ```no_run
/// # fn f(conn: wsgate::Connection) {
/// let stats = conn.stats();
/// println!("{} messages in, {} out, {} bytes queued", stats.messages_in, stats.messages_out, stats.queued_bytes);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionStats {
    /// Data messages received.
    pub messages_in: u64,
    /// Bytes read from the transport.
    pub bytes_in: u64,
    /// Data messages queued for sending.
    pub messages_out: u64,
    /// Bytes written to the transport.
    pub bytes_out: u64,
    /// Bytes queued and not yet written.
    pub queued_bytes: usize,
    /// When the connection opened.
    pub opened_at: SystemTime,
    /// The last round-trip time measured by a keepalive ping, if any.
    pub rtt: Option<Duration>,
    /// Whether the connection can still send (no close sent or received).
    pub open: bool,
    /// Payload bytes permessage-deflate saved on the messages sent (their
    /// size before compression minus after); 0 without compression.
    pub deflate_bytes_saved: u64,
    /// Bytes permessage-deflate's codecs hold now: the connection's own
    /// compressor and its decompressor, each once made (at the first
    /// compressed message) and until given back (the compressor at a
    /// keepalive ping once unused for
    /// [`DeflateConfig::compressor_idle`](crate::handshake::DeflateConfig::compressor_idle);
    /// the decompressor after every message when the peer keeps no
    /// context). 0 without compression; a connection compressing with the
    /// server's pool counts its decompressor only.
    pub deflate_memory: usize,
}
