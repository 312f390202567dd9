//! [`ConnectionId`]: the process-wide number of a connection.

use std::sync::atomic::{AtomicU64, Ordering};

/// A process-wide unique connection number, given to a request when its
/// handshake arrives and kept by the connection it becomes.
///
/// # Examples
///
/// ```
/// use wsgate::ConnectionId;
///
/// let id = ConnectionId::from_u64(7);
/// assert_eq!(id.as_u64(), 7);
/// assert_eq!(id.to_string(), "#7");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(u64);

impl ConnectionId {
    pub(crate) fn next() -> ConnectionId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ConnectionId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The id with this number (for looking connections up by number).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(wsgate::ConnectionId::from_u64(3).as_u64(), 3);
    /// ```
    pub const fn from_u64(id: u64) -> ConnectionId {
        ConnectionId(id)
    }

    /// The number.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(wsgate::ConnectionId::from_u64(9).as_u64(), 9);
    /// ```
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

impl std::fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}
