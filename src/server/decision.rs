//! What passes between a [`WebSocketRequest`](super::WebSocketRequest) and
//! the task holding its socket: the application's decision, and the flags
//! the task sets for the request to read.

use std::sync::atomic::{AtomicBool, Ordering};

use event_listener::Event as Notify;
use futures::channel::oneshot;

use crate::error::AcceptError;
use crate::transport::BoxTransport;

/// What the application decided.
pub(super) enum Decision {
    /// Write `response` (a 101) and hand the socket back through `reply`.
    Accept {
        response: Vec<u8>,
        reply: oneshot::Sender<Result<(BoxTransport, Vec<u8>), AcceptError>>,
    },
    /// Write `response` (an error with this status) and close.
    Reject { status: u16, response: Vec<u8> },
}

/// Flags shared by a request and its pending task.
#[derive(Default)]
pub(super) struct PendingState {
    pub(super) disconnected: AtomicBool,
    pub(super) expired: AtomicBool,
    pub(super) changed: Notify,
}

impl PendingState {
    pub(super) fn set(&self, flag: &AtomicBool) {
        flag.store(true, Ordering::Release);
        self.changed.notify(usize::MAX);
    }
}
