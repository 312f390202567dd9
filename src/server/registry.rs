//! The server's registry of open connections and its counters.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use super::home::ServerHooks;
use crate::connection::{Connection, ConnectionId, Handle, Observer, Registry, Shared};
use crate::error::Error;
use crate::protocol::CloseCode;

/// One registered connection: its shared state (for the server's own use,
/// also while it closes) and a weak user handle (to hand out
/// [`Connection`]s without keeping an abandoned connection alive).
struct Entry {
    shared: Arc<Shared>,
    handle: Weak<Handle>,
}

/// Counters that only the server updates (handshakes, closes); traffic is
/// summed from the connections themselves when a snapshot is taken.
#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    failed_handshakes: AtomicU64,
    refused: AtomicU64,
    pending: AtomicU64,
    rejected: Mutex<BTreeMap<u16, u64>>,
    closes: Mutex<BTreeMap<u16, u64>>,
    /// Forwards running, forwards started, and the bytes of ended
    /// forwards to the backends and to the clients.
    forwards: [AtomicU64; 4],
    /// Traffic of connections that have ended.
    finished_traffic: Mutex<[u64; 4]>,
}

/// A server's live state: the registry, the counters, and whether it is
/// shutting down. Shared by accept loops, requests and connections.
#[derive(Default)]
pub(crate) struct ServerCore {
    connections: Mutex<HashMap<ConnectionId, Entry>>,
    counters: Counters,
    /// New handshakes are refused with 503.
    pub(crate) shutting_down: AtomicBool,
    /// Told when shutdown starts: undecided requests are answered with 503.
    pub(crate) shutdown_started: event_listener::Event,
    /// Admission slots in use: requests waiting for a decision plus open
    /// connections. Reserved atomically at the handshake and handed over to
    /// the connection on accept, so a burst cannot overshoot the limit.
    slots: std::sync::atomic::AtomicUsize,
    /// The memory budgets for data in flight, in and out.
    pub(crate) budgets: Arc<crate::budget::Budgets>,
    /// Topics and their subscribers.
    pub(crate) topics: Arc<super::topics::Topics>,
    /// The compression memory budget of every connection of this server.
    #[cfg(feature = "deflate")]
    pub(crate) deflate: Arc<crate::deflate::DeflateBudget>,
    /// What owns this core (the server's shared settings), set once as
    /// the server is built; held weakly, since it holds this core. Typed
    /// back by `handle.rs`, which alone makes a handle from it.
    pub(crate) owner: std::sync::OnceLock<std::sync::Weak<dyn std::any::Any + Send + Sync>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl ServerCore {
    /// Registers a connection just accepted.
    pub(crate) fn register(&self, conn: &Connection) {
        self.counters.accepted.fetch_add(1, Ordering::Relaxed);
        let entry = Entry {
            shared: conn.shared().clone(),
            handle: Arc::downgrade(conn.handle()),
        };
        lock(&self.connections).insert(conn.id(), entry);
        log::info!("{} accepted from {}", conn.id(), conn.remote_addr());
    }

    pub(crate) fn count(&self) -> usize {
        lock(&self.connections).len()
    }

    /// Handles for every open connection that the application still holds.
    pub(crate) fn connections(&self) -> Vec<Connection> {
        lock(&self.connections)
            .values()
            .filter_map(|e| e.handle.upgrade().map(Connection::from_handle))
            .collect()
    }

    pub(crate) fn connection(&self, id: ConnectionId) -> Option<Connection> {
        lock(&self.connections)
            .get(&id)
            .and_then(|e| e.handle.upgrade())
            .map(Connection::from_handle)
    }

    /// The shared state of every registered connection (also those closing).
    pub(crate) fn all_shared(&self) -> Vec<Arc<Shared>> {
        lock(&self.connections)
            .values()
            .map(|e| e.shared.clone())
            .collect()
    }

    pub(crate) fn handshake_failed(&self) {
        self.counters
            .failed_handshakes
            .fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn refused(&self) {
        self.counters.refused.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn rejected(&self, status: u16) {
        *lock(&self.counters.rejected).entry(status).or_default() += 1;
    }

    /// Reserves an admission slot for a new request, unless `max` are in
    /// use. On success the request counts as pending.
    pub(crate) fn try_admit(&self, max: usize) -> bool {
        let reserved = self
            .slots
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok();
        if reserved {
            self.counters.pending.fetch_add(1, Ordering::Relaxed);
        }
        reserved
    }

    /// A pending request was decided: an accepted one keeps its slot (the
    /// connection gives it back when it ends), any other frees it.
    pub(crate) fn pending_ended(&self, accepted: bool) {
        self.counters.pending.fetch_sub(1, Ordering::Relaxed);
        if !accepted {
            self.slots.fetch_sub(1, Ordering::AcqRel);
        }
    }

    pub(crate) fn pending(&self) -> u64 {
        self.counters.pending.load(Ordering::Relaxed)
    }

    /// A cheap snapshot of the counters: one pass over the registry.
    pub(crate) fn snapshot(&self) -> MetricsSnapshot {
        let mut traffic = *lock(&self.counters.finished_traffic);
        let active = {
            let connections = lock(&self.connections);
            for entry in connections.values() {
                for (total, n) in traffic.iter_mut().zip(entry.shared.counters.load()) {
                    *total += n;
                }
            }
            connections.len()
        };
        let [messages_in, bytes_in, messages_out, bytes_out] = traffic;
        #[cfg_attr(not(feature = "deflate"), allow(unused_mut))]
        let mut snapshot = MetricsSnapshot {
            active_connections: active,
            pending_handshakes: self.pending(),
            accepted: self.counters.accepted.load(Ordering::Relaxed),
            rejected: lock(&self.counters.rejected).clone(),
            failed_handshakes: self.counters.failed_handshakes.load(Ordering::Relaxed),
            refused: self.counters.refused.load(Ordering::Relaxed),
            messages_in,
            messages_out,
            bytes_in,
            bytes_out,
            closes: lock(&self.counters.closes).clone(),
            topics: self.topics.metrics(),
            forwarding: self.counters.forwards[0].load(Ordering::Relaxed),
            forwarded: self.counters.forwards[1].load(Ordering::Relaxed),
            forwarded_to_backends: self.counters.forwards[2].load(Ordering::Relaxed),
            forwarded_to_clients: self.counters.forwards[3].load(Ordering::Relaxed),
            broker: self.topics.broker_metrics(),
            inbound_memory: self.budgets.inbound.in_use(),
            inbound_waits: self.budgets.inbound.waits(),
            inbound_refusals: self.budgets.inbound.refusals(),
            outbound_memory: self.budgets.outbound.in_use(),
            outbound_refusals: self.budgets.outbound.waits(),
            ..MetricsSnapshot::default()
        };
        #[cfg(feature = "deflate")]
        {
            let deflate = self.deflate.counters();
            snapshot.deflate_connections = deflate.connections;
            snapshot.deflate_pooled_connections = deflate.pooled;
            snapshot.deflate_declined = deflate.declined;
            snapshot.deflate_memory = deflate.memory;
            snapshot.deflate_bytes_saved = deflate.bytes_saved;
        }
        snapshot
    }
}

impl Registry for ServerCore {
    fn started(&self, connection: &Connection) {
        self.register(connection);
    }

    fn budgets(&self) -> Option<Arc<crate::budget::Budgets>> {
        Some(self.budgets.clone())
    }
}

impl Observer for ServerCore {
    fn finished(&self, connection: &Shared, code: CloseCode) {
        self.topics.leave_all(connection);
        if lock(&self.connections).remove(&connection.id).is_some() {
            self.slots.fetch_sub(1, Ordering::AcqRel);
        }
        let counts = connection.counters.load();
        for (total, n) in lock(&self.counters.finished_traffic).iter_mut().zip(counts) {
            *total += n;
        }
        *lock(&self.counters.closes)
            .entry(code.as_u16())
            .or_default() += 1;
        log::debug!("{} closed with {code}", connection.id);
    }

    fn subscribe(&self, connection: &Arc<Shared>, topic: &str) -> Result<bool, Error> {
        // A connection that has ended is refused under the topics' lock.
        self.topics.subscribe(&connection.config, connection, topic)
    }

    fn unsubscribe(&self, connection: &Shared, topic: &str) -> bool {
        self.topics.unsubscribe(connection.id, topic)
    }

    fn topics(&self, connection: &Shared) -> Vec<String> {
        self.topics.of(connection.id)
    }
}

impl ServerHooks for ServerCore {
    fn owner(&self) -> Option<Arc<dyn std::any::Any + Send + Sync>> {
        self.owner.get()?.upgrade()
    }

    fn shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    fn shutdown_started(&self) -> event_listener::EventListener {
        self.shutdown_started.listen()
    }

    fn rejected(&self, status: u16) {
        ServerCore::rejected(self, status);
    }

    fn pending_ended(&self, accepted: bool) {
        ServerCore::pending_ended(self, accepted);
    }

    fn forward_started(&self) {
        let [running, started, ..] = &self.counters.forwards;
        running.fetch_add(1, Ordering::Relaxed);
        started.fetch_add(1, Ordering::Relaxed);
    }

    fn forward_ended(&self) {
        self.counters.forwards[0].fetch_sub(1, Ordering::Relaxed);
    }

    fn forward_bytes(&self, to_backend: u64, to_client: u64) {
        let [_, _, backend, client] = &self.counters.forwards;
        backend.fetch_add(to_backend, Ordering::Relaxed);
        client.fetch_add(to_client, Ordering::Relaxed);
    }

    #[cfg(feature = "deflate")]
    fn deflate_budget(&self) -> Arc<crate::deflate::DeflateBudget> {
        self.deflate.clone()
    }
}

/// Server counters at one moment, from
/// [`ServerHandle::metrics`](crate::ServerHandle::metrics).
///
/// # Examples
///
/// ```no_run
/// # fn f(handle: wsgate::ServerHandle) {
/// let m = handle.metrics();
/// println!("{} open, {} accepted, {} bytes in", m.active_connections, m.accepted, m.bytes_in);
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// Open connections.
    pub active_connections: usize,
    /// Requests waiting for the application's decision.
    pub pending_handshakes: u64,
    /// Requests accepted since the server started.
    pub accepted: u64,
    /// Handshakes answered with an error status, by status (the
    /// application's rejections, invalid handshakes, overload).
    pub rejected: BTreeMap<u16, u64>,
    /// Handshakes that failed without an answer (timeout, disconnect,
    /// TLS failure).
    pub failed_handshakes: u64,
    /// Connections refused before any byte was read (allow-list).
    pub refused: u64,
    /// Data messages received over all connections.
    pub messages_in: u64,
    /// Data messages sent over all connections.
    pub messages_out: u64,
    /// Bytes read over all connections (after the handshake).
    pub bytes_in: u64,
    /// Bytes written over all connections (after the handshake).
    pub bytes_out: u64,
    /// Ended connections by close code (the peer's, else this end's, else
    /// 1006).
    pub closes: BTreeMap<u16, u64>,
    /// Open connections that negotiated permessage-deflate (always 0
    /// without the `deflate` feature).
    pub deflate_connections: usize,
    /// Of those, connections over the first half of the memory budget:
    /// no context takeover, compressing with the server's shared pool
    /// ([`Config::deflate_memory_budget`](crate::Config)).
    pub deflate_pooled_connections: usize,
    /// permessage-deflate offers declined because the compression memory
    /// budget was full (those connections run uncompressed).
    pub deflate_declined: u64,
    /// Bytes of compression state reserved now: every compressed
    /// connection's compressor and decompressor, plus the shared pool once
    /// made. Never above the budget.
    pub deflate_memory: usize,
    /// Payload bytes that compression saved on the messages sent (their
    /// size before compression minus after), over all connections, since
    /// the server started.
    pub deflate_bytes_saved: u64,
    /// Bytes of the inbound memory budget granted now
    /// ([`Config::inbound_memory_budget`](crate::Config::inbound_memory_budget)):
    /// what unfinished messages hold beyond each connection's reserve.
    ///
    /// ```
    /// let m = wsgate::MetricsSnapshot::default();
    /// assert_eq!((m.inbound_memory, m.inbound_waits, m.inbound_refusals), (0, 0, 0));
    /// ```
    pub inbound_memory: usize,
    /// Times a connection had to wait for the inbound budget (its socket
    /// not read meanwhile), since the server started.
    ///
    /// ```
    /// assert_eq!(wsgate::MetricsSnapshot::default().inbound_waits, 0);
    /// ```
    pub inbound_waits: u64,
    /// Connections failed with 1013 because the inbound budget stayed full
    /// for [`Config::inbound_memory_wait`](crate::Config::inbound_memory_wait).
    ///
    /// ```
    /// assert_eq!(wsgate::MetricsSnapshot::default().inbound_refusals, 0);
    /// ```
    pub inbound_refusals: u64,
    /// Bytes in all the send queues now (counted against
    /// [`Config::outbound_memory_budget`](crate::Config::outbound_memory_budget)).
    ///
    /// ```
    /// assert_eq!(wsgate::MetricsSnapshot::default().outbound_memory, 0);
    /// ```
    pub outbound_memory: usize,
    /// Messages that met a full queue because the server-wide outbound
    /// budget was full (the connection's own queue was above its low-water
    /// mark): the send policy then decided (wait, fail, drop or close).
    ///
    /// ```
    /// assert_eq!(wsgate::MetricsSnapshot::default().outbound_refusals, 0);
    /// ```
    pub outbound_refusals: u64,
    /// Every topic with at least one subscriber, by name: subscribers and
    /// what became of its publishes.
    pub topics: BTreeMap<String, super::topics::TopicMetrics>,
    /// Connections being forwarded to a backend now
    /// ([`WebSocketRequest::forward`](crate::WebSocketRequest::forward)).
    pub forwarding: u64,
    /// Connections forwarded since the server started (those whose backend
    /// connected and whose handshake completed).
    pub forwarded: u64,
    /// Bytes forwarded from clients to backends, over the forwards that
    /// have ended.
    pub forwarded_to_backends: u64,
    /// Bytes forwarded from backends to clients, over the forwards that
    /// have ended.
    pub forwarded_to_clients: u64,
    /// The broker's counters, if the server has one
    /// ([`ServerBuilder::broker`](crate::ServerBuilder::broker)).
    pub broker: Option<crate::broker::BrokerMetrics>,
}
