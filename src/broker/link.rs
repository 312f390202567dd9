//! A server's hold on its broker: the node's id, what goes out tagged
//! with it, and the counters.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use super::envelope::{self, NodeId};
use super::inbox::{BrokerInbox, Counts, Inbound};
use super::seam::{Broker, BrokerMetrics};
use crate::protocol::DataKind;

/// A server's broker and the counts the server keeps for it.
pub(crate) struct Link {
    broker: Box<dyn Broker>,
    counts: Arc<Counts>,
    node: NodeId,
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
        let inbox = BrokerInbox::new(topics, self.counts.clone(), self.node);
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
