//! The server's side of the seam for what comes in: checking other
//! nodes' publishes, ignoring the node's own, and counting both.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use super::envelope::{self, Envelope, NodeId};
use crate::protocol::DataKind;

/// Where the broker delivers other nodes' publishes: the server's topics.
pub(crate) trait Inbound: Send + Sync {
    /// Delivers a publish from another node to this node's subscribers.
    fn deliver_remote(&self, topic: &str, kind: DataKind, payload: &[u8]);
}

#[derive(Default)]
pub(super) struct Counts {
    pub(super) received: AtomicU64,
    pub(super) own: AtomicU64,
    pub(super) malformed: AtomicU64,
}

/// Where a [`Broker`](super::Broker) puts what other nodes publish: one server's topics.
///
/// Cheap to clone. Once the server is gone, deliveries are ignored and
/// [`is_open`](Self::is_open) says so.
///
/// # Examples
///
/// See [`Broker`](super::Broker) for a broker that delivers into inboxes.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use wsgate::broker::{Broker, BrokerInbox, BrokerMetrics};
/// use wsgate::runtime::Runtime;
///
/// #[derive(Default)]
/// struct Keep(Mutex<Option<BrokerInbox>>);
/// impl Broker for Keep {
///     fn start(&self, _: &Runtime, inbox: BrokerInbox) {
///         *self.0.lock().unwrap() = Some(inbox);
///     }
///     fn subscribe(&self, _: &str) {}
///     fn unsubscribe(&self, _: &str) {}
///     fn publish(&self, _: &str, _: Vec<u8>) {}
///     fn metrics(&self) -> BrokerMetrics { BrokerMetrics::default() }
/// }
///
/// let keep = Arc::new(Keep::default());
/// let server = wsgate::Server::builder().broker(keep.clone()).build();
/// let inbox = keep.0.lock().unwrap().clone().unwrap();
/// assert!(inbox.is_open());
/// inbox.deliver("news", b"not an envelope"); // counted, dropped
/// assert_eq!(server.handle().metrics().broker.unwrap().malformed, 1);
/// drop(server);
/// assert!(!inbox.is_open());
/// ```
#[derive(Clone)]
pub struct BrokerInbox {
    topics: Weak<dyn Inbound>,
    counts: Arc<Counts>,
    node: NodeId,
}

impl BrokerInbox {
    pub(super) fn new(topics: Weak<dyn Inbound>, counts: Arc<Counts>, node: NodeId) -> Self {
        BrokerInbox {
            topics,
            counts,
            node,
        }
    }

    /// Delivers `envelope`, as some node published it to `topic`, to this
    /// server's subscribers. The server's own publishes are ignored, and
    /// anything that is not an envelope is counted as malformed and
    /// dropped. Never waits: subscribers over their send queue's mark get
    /// the [`BroadcastPolicy`](crate::BroadcastPolicy).
    pub fn deliver(&self, topic: &str, envelope: &[u8]) {
        let Some(topics) = self.topics.upgrade() else {
            return;
        };
        match envelope::decode(envelope) {
            Ok(Envelope { node, .. }) if node == self.node => {
                self.counts.own.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Envelope { kind, payload, .. }) => {
                self.counts.received.fetch_add(1, Ordering::Relaxed);
                topics.deliver_remote(topic, kind, payload);
            }
            Err(why) => {
                self.count_malformed();
                log::debug!("broker: dropped a malformed publish on {topic:?}: {why:?}");
            }
        }
    }

    /// Counts a payload the broker itself found unusable (over its size
    /// limit, say), in [`BrokerMetrics::malformed`](super::BrokerMetrics::malformed).
    pub fn count_malformed(&self) {
        self.counts.malformed.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether the server is still there. A broker's task ends when it is
    /// not.
    pub fn is_open(&self) -> bool {
        self.topics.strong_count() > 0
    }
}
