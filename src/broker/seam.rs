//! The seam itself: what a broker does for a server, and its counters.

use super::inbox::BrokerInbox;
use crate::runtime::Runtime;

/// A message broker between the nodes of a cluster: what a server's
/// topics need from one. See the [module docs](crate::broker) for the rules every
/// node follows.
///
/// Every method but [`start`](Broker::start) is called from the server's
/// hot paths, some under a lock: none may block or wait. Queue the work and
/// do it in the task `start` spawns. In particular,
/// [`subscribe`](Broker::subscribe) and [`unsubscribe`](Broker::unsubscribe)
/// are called with the server's topic index locked, so they must never
/// call back into the server (no [`BrokerInbox::deliver`] from inside
/// them: that would deadlock); deliver from the broker's own task.
///
/// A broker serves one server: [`start`](Broker::start) is called once
/// per server built with it.
///
/// # Examples
///
/// Two servers in one process joined by a broker that hands every publish
/// to every server (the servers ignore topics they have no subscriber
/// for, and their own publishes):
///
/// ```
/// use std::sync::{Arc, Mutex, mpsc};
/// use wsgate::broker::{Broker, BrokerInbox, BrokerMetrics};
/// use wsgate::runtime::Runtime;
///
/// #[derive(Default)]
/// struct Bus {
///     inboxes: Mutex<Vec<BrokerInbox>>,
/// }
///
/// impl Broker for Bus {
///     fn start(&self, _runtime: &Runtime, inbox: BrokerInbox) {
///         self.inboxes.lock().unwrap().push(inbox);
///     }
///     fn subscribe(&self, _topic: &str) {}
///     fn unsubscribe(&self, _topic: &str) {}
///     fn publish(&self, topic: &str, envelope: Vec<u8>) {
///         for inbox in self.inboxes.lock().unwrap().iter() {
///             inbox.deliver(topic, &envelope);
///         }
///     }
///     fn metrics(&self) -> BrokerMetrics {
///         BrokerMetrics::default()
///     }
/// }
///
/// let bus = Arc::new(Bus::default());
/// let a = wsgate::Server::builder().broker(bus.clone()).build();
/// let b = wsgate::Server::builder().broker(bus.clone()).build();
/// let (tx, rx) = mpsc::channel();
/// let _listening = b
///     .handle()
///     .on_topic("news", move |m| {
///         let _ = tx.send(m.text().unwrap_or("(binary)").to_owned());
///     })
///     .unwrap();
/// a.handle().publish("news", "hello from a");
/// assert_eq!(rx.try_recv().unwrap(), "hello from a");
/// assert_eq!(b.handle().metrics().broker.unwrap().received, 1);
/// ```
pub trait Broker: Send + Sync + 'static {
    /// Starts the broker for one server: its tasks go on `runtime`, and
    /// what other nodes publish goes into `inbox`. Called once, when the
    /// server is built.
    fn start(&self, runtime: &Runtime, inbox: BrokerInbox);

    /// This node now has a subscriber to `topic`: receive its publishes.
    fn subscribe(&self, topic: &str);

    /// This node's last subscriber to `topic` has left.
    fn unsubscribe(&self, topic: &str);

    /// Sends `envelope` (one publish, tagged by this node) to every node
    /// subscribed to `topic`, this one included or not. Must not wait: a
    /// broker that cannot take it now drops it and counts it.
    fn publish(&self, topic: &str, envelope: Vec<u8>);

    /// The broker's counters; `received`, `own` and `malformed` are
    /// counted by the server and may be left at zero.
    fn metrics(&self) -> BrokerMetrics;

    /// The server is shutting down or gone: stop and let go of the inbox.
    fn stop(&self) {}
}

/// A broker's counters, in
/// [`MetricsSnapshot::broker`](crate::MetricsSnapshot::broker).
///
/// # Examples
///
/// ```no_run
/// # fn f(handle: wsgate::ServerHandle) {
/// if let Some(broker) = handle.metrics().broker {
///     if !broker.connected {
///         eprintln!("broker down: {:?}", broker.last_error);
///     }
/// }
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BrokerMetrics {
    /// Whether the broker is connected now.
    pub connected: bool,
    /// Publishes handed to the broker and sent.
    pub published: u64,
    /// Publishes not sent: the broker was down or its queue full.
    pub dropped: u64,
    /// Other nodes' publishes received (and delivered to the local
    /// subscribers, if the topic still had any when it came).
    pub received: u64,
    /// This node's own publishes, echoed back by the broker and ignored.
    pub own: u64,
    /// Payloads from the broker that were not a publish (wrong format,
    /// text that is not UTF-8, over the size limit): counted and dropped.
    pub malformed: u64,
    /// Connections made again after the first.
    pub reconnects: u64,
    /// Topics this node is subscribed to at the broker.
    pub subscriptions: usize,
    /// The last error, if the broker is not connected.
    pub last_error: Option<String>,
}

/// A shared broker, as when one test or process holds a handle to it.
impl<B: Broker> Broker for std::sync::Arc<B> {
    fn start(&self, runtime: &Runtime, inbox: BrokerInbox) {
        (**self).start(runtime, inbox)
    }
    fn subscribe(&self, topic: &str) {
        (**self).subscribe(topic)
    }
    fn unsubscribe(&self, topic: &str) {
        (**self).unsubscribe(topic)
    }
    fn publish(&self, topic: &str, envelope: Vec<u8>) {
        (**self).publish(topic, envelope)
    }
    fn metrics(&self) -> BrokerMetrics {
        (**self).metrics()
    }
    fn stop(&self) {
        (**self).stop()
    }
}
