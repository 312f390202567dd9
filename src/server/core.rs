//! What the accept loops, handshakes and handles of one server share.
//! Depends on nothing in `server` that depends on it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use event_listener::Event as Notify;
use futures::channel::mpsc;

use super::http_handler::HttpHandler;
use super::registry::ServerCore;
use super::request::WebSocketRequest;
use crate::config::Config;
use crate::runtime::Runtime;

/// Settings shared by the accept loop and every handshake.
pub(super) struct Inner {
    pub(super) config: Arc<Config>,
    pub(super) handler: Option<HttpHandler>,
    pub(super) requests: mpsc::Sender<WebSocketRequest>,
    pub(super) core: Arc<ServerCore>,
    /// Where the server's tasks, sockets and timers live.
    pub(super) runtime: Runtime,
    pub(super) stopped: AtomicBool,
    pub(super) stop: Notify,
}

impl Inner {
    /// Whether the allow-list admits `peer_addr` (counted and logged when
    /// not).
    pub(super) fn admits(&self, peer_addr: std::net::SocketAddr) -> bool {
        let allow = &self.config.allow;
        if allow.is_empty() || allow.iter().any(|net| net.contains(peer_addr.ip())) {
            return true;
        }
        self.core.refused();
        log::debug!("refused {peer_addr}: not in the allow-list");
        false
    }

    /// Stops every accept loop and ends the request stream (handshakes
    /// still in progress are answered with 503).
    pub(super) fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        self.stop.notify(usize::MAX);
        self.requests.clone().close_channel();
    }
}
