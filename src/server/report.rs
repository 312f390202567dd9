//! What a broadcast or a publish reports.

use crate::connection::Delivery;

/// How a broadcast or a publish went: what became of the message at each
/// connection it was for. Neither ever waits for a slow connection.
///
/// # Examples
///
/// ```no_run
/// # async fn f(handle: wsgate::ServerHandle) {
/// let report = handle.broadcast("news").await;
/// println!("{} queued, {} dropped, {} closed", report.queued, report.dropped, report.closed);
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BroadcastReport {
    /// Connections whose queue took the message.
    pub queued: usize,
    /// Connections that did not get it: over their high-water mark under
    /// [`BroadcastPolicy::Drop`](crate::BroadcastPolicy::Drop), or closing
    /// already.
    pub dropped: usize,
    /// Connections over their mark under
    /// [`BroadcastPolicy::Close`](crate::BroadcastPolicy::Close): failed
    /// with 1008 instead.
    pub closed: usize,
}

impl BroadcastReport {
    pub(crate) fn count(&mut self, delivery: Delivery) {
        match delivery {
            Delivery::Queued => self.queued += 1,
            Delivery::Dropped => self.dropped += 1,
            Delivery::Closed => self.closed += 1,
        }
    }
}
