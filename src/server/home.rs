//! Where a request belongs: the narrow handle a
//! [`WebSocketRequest`](super::WebSocketRequest) and the task holding its
//! socket keep instead of the server itself.

use std::sync::Arc;

use event_listener::EventListener;

use crate::config::Config;
use crate::connection::Registry;
use crate::runtime::Runtime;

/// A request's settings, the runtime its connection will run on, and the
/// server it counts in (none for a request mounted from a stream).
pub(super) struct RequestHome {
    pub(super) config: Arc<Config>,
    pub(super) runtime: Runtime,
    pub(super) server: Option<Arc<dyn ServerHooks>>,
}

/// What a request and its pending task need of their server, and no more:
/// whether it is shutting down, its counters, its compression budget, the
/// release of the request's admission slot, and (as a [`Registry`]) the
/// registry an accepted connection joins.
pub(super) trait ServerHooks: Registry {
    /// The server's shared settings, for
    /// [`WebSocketRequest::server`](super::WebSocketRequest::server) to
    /// make a handle from; `None` once the server is gone.
    fn owner(&self) -> Option<Arc<dyn std::any::Any + Send + Sync>>;

    /// Whether the server is shutting down: requests are refused with 503.
    fn shutting_down(&self) -> bool;

    /// Fires when a shutdown starts.
    fn shutdown_started(&self) -> EventListener;

    /// Counts a request answered with the error `status`.
    fn rejected(&self, status: u16);

    /// The request has been decided: an accepted one keeps its admission
    /// slot for the connection, any other gives it back.
    fn pending_ended(&self, accepted: bool);

    /// A forward to a backend started
    /// ([`WebSocketRequest::forward`](super::WebSocketRequest::forward)).
    fn forward_started(&self);

    /// A forward ended (also when its future was dropped).
    fn forward_ended(&self);

    /// A forward that ended moved these bytes each way.
    fn forward_bytes(&self, to_backend: u64, to_client: u64);

    /// The compression memory budget of the server's connections.
    #[cfg(feature = "deflate")]
    fn deflate_budget(&self) -> Arc<crate::deflate::DeflateBudget>;
}
