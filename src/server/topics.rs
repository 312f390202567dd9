//! Topics: named groups of connections that one publish reaches.
//!
//! A connection subscribes to any number of topics; a publish frames the
//! message once ([`Prepared`]) and delivers the same bytes to every
//! subscriber without waiting for any (see `Shared::deliver`). The cost of
//! a publish is proportional to the topic's subscribers, not to the
//! server's connections.
//!
//! Two indexes under one lock: topic → its subscribers, and connection →
//! its topics (for the per-connection limit, and so that a connection that
//! ends leaves its topics by itself). A publish only holds the lock to take
//! a snapshot of the topic's subscribers: delivery, which may compress,
//! runs with no lock held, so subscribing is never held up by a publish.
//!
//! A topic exists while it has a subscriber: a connection or a listener
//! ([`ServerHandle::on_topic`](crate::ServerHandle::on_topic)). With a
//! broker, the node is subscribed at the broker exactly while the topic
//! exists (told under the lock, so the broker sees the changes in order),
//! every publish is also handed to the broker, and other nodes' publishes
//! come back through [`Inbound`].

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};

use crate::broker::{BrokerMetrics, Inbound, Link};
use crate::config::Config;
use crate::connection::{ConnectionId, Prepared, Shared};
use crate::error::Error;
use crate::protocol::{DataKind, Message};
use crate::runtime::Runtime;

use super::listener::{Handler, Published, TopicListener, Unlisten};
use super::report::BroadcastReport;

/// Every topic of one server.
#[derive(Default)]
pub(crate) struct Topics {
    state: RwLock<State>,
    /// The broker to other nodes, if the server has one.
    link: OnceLock<Link>,
    /// The id of the next listener.
    next_listener: AtomicU64,
}

#[derive(Default)]
struct State {
    by_name: HashMap<Arc<str>, Arc<Topic>>,
    by_conn: HashMap<ConnectionId, Vec<Arc<str>>>,
}

/// One topic: its subscribers and counters.
#[derive(Default)]
struct Topic {
    members: Mutex<Members>,
    counts: TopicCounts,
}

/// Who a topic's publishes go to.
#[derive(Default)]
struct Members {
    connections: HashMap<ConnectionId, Arc<Shared>>,
    listeners: Vec<(u64, Arc<Handler>)>,
}

impl Members {
    fn is_empty(&self) -> bool {
        self.connections.is_empty() && self.listeners.is_empty()
    }
}

#[derive(Default)]
struct TopicCounts {
    published: AtomicU64,
    delivered: AtomicU64,
    dropped: AtomicU64,
    closed: AtomicU64,
}

/// One topic's counts, in [`MetricsSnapshot::topics`](crate::MetricsSnapshot::topics).
///
/// # Examples
///
/// ```no_run
/// # fn f(handle: wsgate::ServerHandle) {
/// for (name, topic) in &handle.metrics().topics {
///     println!("{name}: {} subscribers, {} dropped", topic.subscribers, topic.dropped);
/// }
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicMetrics {
    /// Connections subscribed now.
    pub subscribers: usize,
    /// Messages published to the topic since it was created (it is
    /// created by its first subscription and goes with its last): by this
    /// server, and with a broker, received from other nodes.
    pub published: u64,
    /// Copies queued to subscribers.
    pub delivered: u64,
    /// Copies not queued: the subscriber was over its send queue's mark
    /// under [`BroadcastPolicy::Drop`](crate::BroadcastPolicy::Drop), or
    /// closing.
    pub dropped: u64,
    /// Subscribers failed with 1008 under
    /// [`BroadcastPolicy::Close`](crate::BroadcastPolicy::Close).
    pub closed: u64,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Topics {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Subscribes `conn` to `name`; `Ok(false)` when it already was.
    pub(crate) fn subscribe(
        &self,
        config: &Config,
        conn: &Arc<Shared>,
        name: &str,
    ) -> Result<bool, Error> {
        if name.len() > config.max_topic_len {
            return Err(Error::TopicTooLong {
                len: name.len(),
                max: config.max_topic_len,
            });
        }
        let mut state = self.write();
        if conn.left_topics.load(Ordering::SeqCst) {
            // It ended while subscribing: it must not join again.
            return Err(Error::Closed);
        }
        let State { by_name, by_conn } = &mut *state;
        let subscribed = match by_conn.get(&conn.id) {
            Some(mine) if mine.iter().any(|t| &**t == name) => return Ok(false),
            Some(mine) => mine.len(),
            None => 0,
        };
        if subscribed >= config.max_subscriptions_per_connection {
            return Err(Error::TooManySubscriptions(
                config.max_subscriptions_per_connection,
            ));
        }
        let (name, topic) = self.topic_or_new(by_name, config, name)?;
        by_conn.entry(conn.id).or_default().push(name);
        lock(&topic.members)
            .connections
            .insert(conn.id, conn.clone());
        Ok(true)
    }

    /// The topic `name`, made (and subscribed at the broker) if new.
    fn topic_or_new(
        &self,
        by_name: &mut HashMap<Arc<str>, Arc<Topic>>,
        config: &Config,
        name: &str,
    ) -> Result<(Arc<str>, Arc<Topic>), Error> {
        if let Some((name, topic)) = by_name.get_key_value(name) {
            return Ok((name.clone(), topic.clone()));
        }
        if by_name.len() >= config.max_topics {
            return Err(Error::TooManyTopics(config.max_topics));
        }
        let name: Arc<str> = name.into();
        let topic = Arc::new(Topic::default());
        by_name.insert(name.clone(), topic.clone());
        if let Some(link) = self.link.get() {
            link.subscribe(&name);
        }
        Ok((name, topic))
    }

    /// Calls `handler` with every publish to `name`, from here or from
    /// another node, until the returned guard is dropped.
    pub(crate) fn listen(
        self: &Arc<Self>,
        config: &Config,
        name: &str,
        handler: Arc<Handler>,
    ) -> Result<TopicListener, Error> {
        if name.len() > config.max_topic_len {
            return Err(Error::TopicTooLong {
                len: name.len(),
                max: config.max_topic_len,
            });
        }
        let id = self.next_listener.fetch_add(1, Ordering::Relaxed);
        let mut state = self.write();
        let (name, topic) = self.topic_or_new(&mut state.by_name, config, name)?;
        lock(&topic.members).listeners.push((id, handler));
        let topics: Arc<dyn Unlisten> = self.clone();
        Ok(TopicListener::new(Arc::downgrade(&topics), name, id))
    }
}

impl Unlisten for Topics {
    /// Removes the listener `id` from `name` (its guard was dropped).
    fn unlisten(&self, name: &str, id: u64) {
        let mut state = self.write();
        let Some(topic) = state.by_name.get(name) else {
            return;
        };
        let mut members = lock(&topic.members);
        members.listeners.retain(|(each, _)| *each != id);
        if members.is_empty() {
            drop(members);
            self.remove(&mut state.by_name, name);
        }
    }
}

impl Topics {
    /// Forgets the empty topic `name`, and unsubscribes at the broker.
    fn remove(&self, by_name: &mut HashMap<Arc<str>, Arc<Topic>>, name: &str) {
        by_name.remove(name);
        if let Some(link) = self.link.get() {
            link.unsubscribe(name);
        }
    }

    /// Unsubscribes `id` from `name`; whether it was subscribed.
    pub(crate) fn unsubscribe(&self, id: ConnectionId, name: &str) -> bool {
        let mut state = self.write();
        let State { by_name, by_conn } = &mut *state;
        let Some(mine) = by_conn.get_mut(&id) else {
            return false;
        };
        let Some(at) = mine.iter().position(|t| &**t == name) else {
            return false;
        };
        mine.swap_remove(at);
        if mine.is_empty() {
            by_conn.remove(&id);
        }
        self.leave(by_name, id, name);
        true
    }

    /// Takes `conn` out of every topic for good (the connection ended).
    pub(crate) fn leave_all(&self, conn: &Shared) {
        let id = conn.id;
        // Before looking: a subscribe that checks the flag under the lock
        // after this either sees it, or ran before and is removed below.
        conn.left_topics.store(true, Ordering::SeqCst);
        // While no connection is subscribed to any topic (a server that
        // does not use topics), a connection's end takes no write lock and
        // hashes nothing.
        if self.read().by_conn.is_empty() {
            return;
        }
        let mut state = self.write();
        let State { by_name, by_conn } = &mut *state;
        for name in by_conn.remove(&id).unwrap_or_default() {
            self.leave(by_name, id, &name);
        }
    }

    /// Removes `id` from the topic `name`, and the topic once empty.
    fn leave(&self, by_name: &mut HashMap<Arc<str>, Arc<Topic>>, id: ConnectionId, name: &str) {
        let Some(topic) = by_name.get(name) else {
            return;
        };
        let mut members = lock(&topic.members);
        members.connections.remove(&id);
        if members.is_empty() {
            drop(members);
            self.remove(by_name, name);
        }
    }

    /// The topics `id` is subscribed to, in the order it subscribed
    /// (as far as unsubscribing left it).
    pub(crate) fn of(&self, id: ConnectionId) -> Vec<String> {
        self.read()
            .by_conn
            .get(&id)
            .map(|names| names.iter().map(|n| n.to_string()).collect())
            .unwrap_or_default()
    }

    /// How many connections are subscribed to `name`.
    pub(crate) fn subscribers(&self, name: &str) -> usize {
        self.read()
            .by_name
            .get(name)
            .map_or(0, |topic| lock(&topic.members).connections.len())
    }

    /// The ids of the connections subscribed to `name`.
    pub(crate) fn subscriber_ids(&self, name: &str) -> Vec<ConnectionId> {
        self.read()
            .by_name
            .get(name)
            .map_or_else(Vec::new, |topic| {
                lock(&topic.members).connections.keys().copied().collect()
            })
    }

    /// Joins these topics to other nodes through `link`: called once, as
    /// the server is built, before any subscription.
    pub(crate) fn attach(self: &Arc<Self>, link: Link, runtime: &Runtime) {
        let link = self.link.get_or_init(|| link);
        let inbound: Arc<dyn Inbound> = self.clone();
        let inbound: Weak<dyn Inbound> = Arc::downgrade(&inbound);
        link.start(runtime, inbound);
    }

    /// Stops the broker (the server is shutting down).
    pub(crate) fn stop_broker(&self) {
        if let Some(link) = self.link.get() {
            link.stop();
        }
    }

    /// The broker's counters, if the server has one.
    pub(crate) fn broker_metrics(&self) -> Option<BrokerMetrics> {
        Some(self.link.get()?.metrics())
    }

    /// Delivers `prepared` to every subscriber of `name` here, waiting for
    /// none, then hands it to the broker for the other nodes.
    pub(crate) fn publish(&self, name: &str, prepared: &Prepared) -> BroadcastReport {
        let report = self.deliver(name, prepared, false);
        if let Some(link) = self.link.get() {
            link.publish(name, prepared.kind(), prepared.payload());
        }
        report
    }

    /// Delivers `prepared` to this node's subscribers of `name`.
    fn deliver(&self, name: &str, prepared: &Prepared, remote: bool) -> BroadcastReport {
        let mut report = BroadcastReport::default();
        let Some(topic) = self.read().by_name.get(name).cloned() else {
            return report;
        };
        // A snapshot: delivery runs with no lock held.
        let (subscribers, listeners) = {
            let members = lock(&topic.members);
            let subscribers: Vec<Arc<Shared>> = members.connections.values().cloned().collect();
            let listeners: Vec<Arc<Handler>> =
                members.listeners.iter().map(|(_, h)| h.clone()).collect();
            (subscribers, listeners)
        };
        for subscriber in &subscribers {
            report.count(subscriber.deliver(prepared));
        }
        if !listeners.is_empty() {
            let published = Published::new(name, prepared, remote);
            for listener in &listeners {
                // A panicking listener must not take the publisher down
                // with it (a connection's task, or the broker's, which
                // would stop carrying the cluster's traffic).
                let call = std::panic::AssertUnwindSafe(|| listener(&published));
                if std::panic::catch_unwind(call).is_err() {
                    log::error!("a listener on topic {name:?} panicked; the publish went on");
                }
            }
        }
        let counts = &topic.counts;
        counts.published.fetch_add(1, Ordering::Relaxed);
        counts
            .delivered
            .fetch_add(report.queued as u64, Ordering::Relaxed);
        counts
            .dropped
            .fetch_add(report.dropped as u64, Ordering::Relaxed);
        counts
            .closed
            .fetch_add(report.closed as u64, Ordering::Relaxed);
        report
    }

    /// Every topic's counts, by name.
    pub(crate) fn metrics(&self) -> BTreeMap<String, TopicMetrics> {
        self.read()
            .by_name
            .iter()
            .map(|(name, topic)| {
                let c = &topic.counts;
                let metrics = TopicMetrics {
                    subscribers: lock(&topic.members).connections.len(),
                    published: c.published.load(Ordering::Relaxed),
                    delivered: c.delivered.load(Ordering::Relaxed),
                    dropped: c.dropped.load(Ordering::Relaxed),
                    closed: c.closed.load(Ordering::Relaxed),
                };
                (name.to_string(), metrics)
            })
            .collect()
    }
}

impl Inbound for Topics {
    fn deliver_remote(&self, topic: &str, kind: DataKind, payload: &[u8]) {
        if !self.read().by_name.contains_key(topic) {
            return;
        }
        let message = match kind {
            // The envelope was checked to be UTF-8.
            DataKind::Text => match std::str::from_utf8(payload) {
                Ok(text) => Message::Text(text.to_owned()),
                Err(_) => return,
            },
            DataKind::Binary => Message::Binary(payload.to_vec()),
        };
        self.deliver(topic, &Prepared::new(message), true);
    }
}
