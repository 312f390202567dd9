//! The server's side of the seam: tagging what goes out, checking what
//! comes in, and counting both.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use super::envelope::{self, Envelope, NodeId};
use super::{Broker, BrokerMetrics};
use crate::protocol::DataKind;

/// Where the broker delivers other nodes' publishes: the server's topics.
pub(crate) trait Inbound: Send + Sync {
    /// Delivers a publish from another node to this node's subscribers.
    fn deliver_remote(&self, topic: &str, kind: DataKind, payload: &[u8]);
}

/// A server's broker and the counts the server keeps for it.
pub(crate) struct Link {
    broker: Box<dyn Broker>,
    counts: Arc<Counts>,
    node: NodeId,
}

#[derive(Default)]
struct Counts {
    received: AtomicU64,
    own: AtomicU64,
    malformed: AtomicU64,
}

impl Link {
    /// A link through `broker` for a node with a fresh random id.
    pub(crate) fn new(broker: Box<dyn Broker>) -> Link {
        let mut node = [0; 16];
        // Two nodes that drew the same id would drop each other's
        // publishes; without an entropy source, fall back to the clock
        // and the process id, which differ between live processes.
        if getrandom::fill(&mut node).is_err() {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            node[..12].copy_from_slice(&nanos.to_le_bytes()[..12]);
            node[12..].copy_from_slice(&std::process::id().to_le_bytes());
        }
        Link {
            broker,
            counts: Arc::default(),
            node,
        }
    }

    /// Starts the broker, which will deliver into `topics`.
    pub(crate) fn start(&self, runtime: &crate::runtime::Runtime, topics: Weak<dyn Inbound>) {
        let inbox = BrokerInbox {
            topics,
            counts: self.counts.clone(),
            node: self.node,
        };
        self.broker.start(runtime, inbox);
    }

    pub(crate) fn subscribe(&self, topic: &str) {
        self.broker.subscribe(topic);
    }

    pub(crate) fn unsubscribe(&self, topic: &str) {
        self.broker.unsubscribe(topic);
    }

    /// Hands a publish of this node to the broker.
    pub(crate) fn publish(&self, topic: &str, kind: DataKind, payload: &[u8]) {
        self.broker
            .publish(topic, envelope::encode(&self.node, kind, payload));
    }

    /// The broker's counters with the server's.
    pub(crate) fn metrics(&self) -> BrokerMetrics {
        let mut metrics = self.broker.metrics();
        metrics.received = self.counts.received.load(Ordering::Relaxed);
        metrics.own = self.counts.own.load(Ordering::Relaxed);
        metrics.malformed += self.counts.malformed.load(Ordering::Relaxed);
        metrics
    }
}

impl Link {
    /// Stops the broker: the server is shutting down, or gone.
    pub(crate) fn stop(&self) {
        self.broker.stop();
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where a [`Broker`] puts what other nodes publish: one server's topics.
///
/// Cheap to clone. Once the server is gone, deliveries are ignored and
/// [`is_open`](Self::is_open) says so.
///
/// # Examples
///
/// See [`Broker`] for a broker that delivers into inboxes.
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
    /// limit, say), in [`BrokerMetrics::malformed`].
    pub fn count_malformed(&self) {
        self.counts.malformed.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether the server is still there. A broker's task ends when it is
    /// not.
    pub fn is_open(&self) -> bool {
        self.topics.strong_count() > 0
    }
}
