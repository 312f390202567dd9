//! A broker over Redis pub/sub (feature `redis`), through the `redis`
//! crate's async pub/sub with the binding of the runtime the server runs
//! on (tokio's on tokio, smol's on async-std and smol).
//!
//! One task per server does all of it, so that no connection's task ever
//! waits on Redis: it keeps a subscriber connection (SUBSCRIBE, the
//! messages) and a publisher connection (PUBLISH, pipelined in the order
//! the publishes were made), and when either breaks it reconnects with
//! backoff and subscribes again to every topic the node has.
//!
//! The server only touches two things, both under a short lock: the set of
//! topics the node wants (and which of them changed), and a bounded queue
//! of publishes. While Redis is unreachable, publishes are dropped and
//! counted, and local delivery goes on as before.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::StreamExt;
use futures::future::{Either, select};

use super::inbox::BrokerInbox;
use super::seam::{Broker, BrokerMetrics};
use crate::error::Error;
use crate::runtime::Runtime;

/// How many channels one SUBSCRIBE or UNSUBSCRIBE names at most.
const CHANNELS_PER_COMMAND: usize = 1000;
/// How many publishes one pipeline carries at most.
const PUBLISHES_PER_PIPELINE: usize = 256;
/// How many messages from Redis the reader delivers before letting the
/// writer (which shares its task) run.
const MESSAGES_PER_TURN: usize = 64;

/// A [`Broker`] over Redis pub/sub: the nodes of a cluster share one Redis
/// server, and each topic is the Redis channel of the same name after a
/// prefix (`wsgate:` by default).
///
/// The node reconnects by itself, with backoff, after Redis restarts or
/// the network breaks, and subscribes again to every topic it has; a Redis
/// that is not there when the server starts is retried the same way (the
/// error is logged and in [`BrokerMetrics::last_error`]). Delivery is at
/// most once and in order per publisher (see the [module docs](super)).
///
/// # Panics
///
/// A broker serves one server: building a second server with the same
/// broker (shared through an `Arc`) panics. Make one per server.
///
/// # Examples
///
/// ```
/// let broker = wsgate::broker::RedisBroker::builder("redis://127.0.0.1:6379")
///     .channel_prefix("chat:")
///     .build()
///     .unwrap();
/// assert_eq!(broker.channel("room/1"), "chat:room/1");
/// let server = wsgate::Server::builder().broker(broker).build();
/// # drop(server);
/// ```
pub struct RedisBroker {
    shared: Arc<Shared>,
}

/// Settings for a [`RedisBroker`]; made by [`RedisBroker::builder`]. Its
/// `Debug` hides the URL's password.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let broker = wsgate::broker::RedisBroker::builder("redis://127.0.0.1:6379")
///     .max_queued_bytes(1 << 20)
///     .max_payload(64 << 10)
///     .max_backoff(Duration::from_secs(1))
///     .build()
///     .unwrap();
/// # drop(broker);
/// ```
#[derive(Clone)]
pub struct RedisBrokerBuilder {
    url: String,
    settings: Settings,
}

#[derive(Debug, Clone)]
struct Settings {
    prefix: String,
    max_queued_bytes: usize,
    max_payload: usize,
    max_backoff: Duration,
    timeout: Duration,
    ping_interval: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            prefix: "wsgate:".to_owned(),
            max_queued_bytes: 16 << 20,
            max_payload: 16 << 20,
            max_backoff: Duration::from_secs(2),
            timeout: Duration::from_secs(5),
            ping_interval: Duration::from_secs(5),
        }
    }
}

struct Shared {
    client: redis::Client,
    /// The URL without its password, for logs and errors.
    url: String,
    settings: Settings,
    state: Mutex<State>,
    /// Told when the state changed: topics, publishes, or stop.
    wake: event_listener::Event,
    published: AtomicU64,
    dropped: AtomicU64,
    reconnects: AtomicU64,
}

#[derive(Default)]
struct State {
    /// The topics this node has subscribers for.
    wanted: HashSet<String>,
    /// Topics whose wish changed since the task last looked.
    changed: HashSet<String>,
    /// Publishes waiting for the publisher connection, oldest first.
    queue: VecDeque<(String, Vec<u8>)>,
    queued_bytes: usize,
    connected: bool,
    subscriptions: usize,
    last_error: Option<String>,
    started: bool,
    stopped: bool,
}

impl RedisBrokerBuilder {
    /// The prefix of every channel name (`wsgate:` by default), to share a
    /// Redis between applications.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = wsgate::broker::RedisBroker::builder("redis://127.0.0.1").channel_prefix("app1:");
    /// assert_eq!(b.build().unwrap().channel("x"), "app1:x");
    /// ```
    pub fn channel_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.settings.prefix = prefix.into();
        self
    }

    /// The most bytes of publishes waiting to go to Redis (16 MiB by
    /// default); a publish that would go over is dropped and counted.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = wsgate::broker::RedisBroker::builder("redis://127.0.0.1").max_queued_bytes(1 << 20);
    /// # drop(b);
    /// ```
    pub fn max_queued_bytes(mut self, bytes: usize) -> Self {
        self.settings.max_queued_bytes = bytes;
        self
    }

    /// The largest payload taken from Redis (16 MiB by default); a larger
    /// one is counted as malformed and dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = wsgate::broker::RedisBroker::builder("redis://127.0.0.1").max_payload(1 << 20);
    /// # drop(b);
    /// ```
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.settings.max_payload = bytes;
        self
    }

    /// The longest wait between two attempts to reconnect (2 s by
    /// default); the wait starts at 100 ms and doubles.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = wsgate::broker::RedisBroker::builder("redis://127.0.0.1")
    ///     .max_backoff(std::time::Duration::from_secs(10));
    /// # drop(b);
    /// ```
    pub fn max_backoff(mut self, wait: Duration) -> Self {
        self.settings.max_backoff = wait.max(Duration::from_millis(100));
        self
    }

    /// How long connecting, a command or an answer to a ping may take
    /// before the connection counts as broken (5 s by default). Redis is
    /// pinged after this long without traffic too.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = wsgate::broker::RedisBroker::builder("redis://127.0.0.1")
    ///     .timeout(std::time::Duration::from_secs(2));
    /// # drop(b);
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        let timeout = timeout.max(Duration::from_millis(10));
        self.settings.timeout = timeout;
        self.settings.ping_interval = timeout;
        self
    }

    /// The broker. Nothing connects until a server is built with it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidBrokerUrl`] when the URL is not a `redis://`,
    /// `redis+unix://` or `unix://` URL.
    ///
    /// # Examples
    ///
    /// ```
    /// let bad = wsgate::broker::RedisBroker::builder("http://127.0.0.1").build();
    /// assert!(matches!(bad, Err(wsgate::Error::InvalidBrokerUrl { .. })));
    /// ```
    pub fn build(self) -> Result<RedisBroker, Error> {
        let shown = without_password(&self.url);
        let client =
            redis::Client::open(self.url.as_str()).map_err(|e| Error::InvalidBrokerUrl {
                url: shown.clone(),
                reason: e.to_string(),
            })?;
        Ok(RedisBroker {
            shared: Arc::new(Shared {
                client,
                url: shown,
                settings: self.settings,
                state: Mutex::default(),
                wake: event_listener::Event::new(),
                published: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
                reconnects: AtomicU64::new(0),
            }),
        })
    }
}

impl std::fmt::Debug for RedisBrokerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBrokerBuilder")
            .field("url", &without_password(&self.url))
            .field("settings", &self.settings)
            .finish()
    }
}

/// `url` with any password replaced by `***`
/// ([`crate::error::without_password`]), or `(not a URL)`.
fn without_password(url: &str) -> String {
    crate::error::without_password(url).unwrap_or_else(|| "(not a URL)".to_owned())
}

impl RedisBroker {
    /// A broker for the Redis at `url` (`redis://HOST:PORT[/DB]`), with the
    /// default settings.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidBrokerUrl`], as for [`RedisBrokerBuilder::build`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(wsgate::broker::RedisBroker::new("redis://127.0.0.1:6379").is_ok());
    /// assert!(wsgate::broker::RedisBroker::new("not a url").is_err());
    /// ```
    pub fn new(url: &str) -> Result<RedisBroker, Error> {
        RedisBroker::builder(url).build()
    }

    /// Settings for a broker for the Redis at `url`.
    ///
    /// # Examples
    ///
    /// ```
    /// let broker = wsgate::broker::RedisBroker::builder("redis://127.0.0.1:6379").build();
    /// assert!(broker.is_ok());
    /// ```
    pub fn builder(url: &str) -> RedisBrokerBuilder {
        RedisBrokerBuilder {
            url: url.to_owned(),
            settings: Settings::default(),
        }
    }

    /// The Redis channel of `topic`.
    ///
    /// # Examples
    ///
    /// ```
    /// let broker = wsgate::broker::RedisBroker::new("redis://127.0.0.1").unwrap();
    /// assert_eq!(broker.channel("news"), "wsgate:news");
    /// ```
    pub fn channel(&self, topic: &str) -> String {
        format!("{}{topic}", self.shared.settings.prefix)
    }
}

impl std::fmt::Debug for RedisBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBroker")
            .field("url", &self.shared.url)
            .field("prefix", &self.shared.settings.prefix)
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn channel(&self, topic: &str) -> String {
        format!("{}{topic}", self.settings.prefix)
    }
}

impl Broker for RedisBroker {
    fn start(&self, runtime: &Runtime, inbox: BrokerInbox) {
        {
            let mut state = self.shared.state();
            // A second server would share (and corrupt) the first one's
            // subscriptions: a programming error, caught at once.
            assert!(
                !state.started,
                "a RedisBroker serves one server: make one per server"
            );
            state.started = true;
        }
        let shared = self.shared.clone();
        runtime.spawn_detached(run(shared, runtime.clone(), inbox));
    }

    fn subscribe(&self, topic: &str) {
        let mut state = self.shared.state();
        state.wanted.insert(topic.to_owned());
        // While disconnected, the next session subscribes to everything
        // wanted: no change needs keeping (nor memory for it).
        if state.connected {
            state.changed.insert(topic.to_owned());
        }
        drop(state);
        self.shared.wake.notify(1);
    }

    fn unsubscribe(&self, topic: &str) {
        let mut state = self.shared.state();
        state.wanted.remove(topic);
        if state.connected {
            state.changed.insert(topic.to_owned());
        }
        drop(state);
        self.shared.wake.notify(1);
    }

    fn publish(&self, topic: &str, envelope: Vec<u8>) {
        let mut state = self.shared.state();
        let fits = state.queued_bytes + envelope.len() <= self.shared.settings.max_queued_bytes;
        if !state.connected || !fits {
            drop(state);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        state.queued_bytes += envelope.len();
        state.queue.push_back((topic.to_owned(), envelope));
        drop(state);
        self.shared.wake.notify(1);
    }

    fn metrics(&self) -> BrokerMetrics {
        let state = self.shared.state();
        BrokerMetrics {
            connected: state.connected,
            last_error: state.last_error.clone(),
            subscriptions: state.subscriptions,
            published: self.shared.published.load(Ordering::Relaxed),
            dropped: self.shared.dropped.load(Ordering::Relaxed),
            reconnects: self.shared.reconnects.load(Ordering::Relaxed),
            ..BrokerMetrics::default()
        }
    }

    fn stop(&self) {
        self.shared.state().stopped = true;
        self.shared.wake.notify(usize::MAX);
    }
}

/// Why a session with Redis ended.
enum Ended {
    /// The server is gone or stopped the broker.
    Stopped,
    /// Redis could not be reached, or the connection broke.
    Broken(String),
}

/// The broker's task: sessions with Redis, and backoff between them.
async fn run(shared: Arc<Shared>, runtime: Runtime, inbox: BrokerInbox) {
    let first_wait = Duration::from_millis(100);
    let mut wait = first_wait;
    let mut sessions = 0u64;
    loop {
        let mut connected = false;
        let began = std::time::Instant::now();
        let ended = session(&shared, &runtime, &inbox, &mut connected, sessions).await;
        {
            let mut state = shared.state();
            state.connected = false;
            state.subscriptions = 0;
            // At most once: what was not sent is not sent later.
            let lost = state.queue.len() as u64;
            state.queue.clear();
            state.queued_bytes = 0;
            shared.dropped.fetch_add(lost, Ordering::Relaxed);
            match &ended {
                Ended::Stopped => return,
                Ended::Broken(why) => state.last_error = Some(why.clone()),
            }
        }
        if let Ended::Broken(why) = ended {
            log::warn!("broker: {why}; trying again in {} ms", wait.as_millis());
        }
        if connected {
            sessions += 1;
            // A session that broke at once (a command refused, say) keeps
            // backing off, so that it does not retry ten times a second.
            if began.elapsed() >= shared.settings.max_backoff {
                wait = first_wait;
            }
        }
        // Jitter, so that nodes do not all come back at the same instant.
        let mut random = [0u8; 1];
        let _ = getrandom::fill(&mut random);
        let jittered = wait.mul_f64(0.75 + f64::from(random[0]) / 512.0);
        let stop = Box::pin(stopped(&shared, &inbox));
        if let Either::Left(_) = select(stop, runtime.sleep(jittered)).await {
            return;
        }
        wait = (wait * 2).min(shared.settings.max_backoff);
    }
}

/// Resolves once the broker is stopped or its server is gone.
async fn stopped(shared: &Shared, inbox: &BrokerInbox) {
    loop {
        let listener = shared.wake.listen();
        if shared.state().stopped || !inbox.is_open() {
            return;
        }
        listener.await;
    }
}

/// One session: connect both connections, subscribe to every wanted
/// topic, then carry publishes both ways until something breaks.
async fn session(
    shared: &Arc<Shared>,
    runtime: &Runtime,
    inbox: &BrokerInbox,
    connected: &mut bool,
    sessions: u64,
) -> Ended {
    let timeout = shared.settings.timeout;
    let url = &shared.url;
    let pubsub = match runtime
        .timeout(timeout, shared.client.get_async_pubsub())
        .await
    {
        Some(Ok(pubsub)) => pubsub,
        Some(Err(e)) => return Ended::Broken(format!("cannot connect to {url}: {e}")),
        None => return Ended::Broken(format!("cannot connect to {url}: timed out")),
    };
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    let publisher = shared
        .client
        .get_multiplexed_async_connection_with_config(&config);
    let mut publisher = match runtime.timeout(timeout, publisher).await {
        Some(Ok(publisher)) => publisher,
        Some(Err(e)) => return Ended::Broken(format!("cannot connect to {url}: {e}")),
        None => return Ended::Broken(format!("cannot connect to {url}: timed out")),
    };
    let (mut sink, mut stream) = pubsub.split();
    {
        let mut state = shared.state();
        if state.stopped {
            return Ended::Stopped;
        }
        state.connected = true;
        state.last_error = None;
        // Every wanted topic is subscribed below, whatever changed before.
        state.changed.clear();
    }
    *connected = true;
    if sessions > 0 {
        shared.reconnects.fetch_add(1, Ordering::Relaxed);
    }
    log::info!("broker: connected to {url}");

    let reader = async {
        let mut turn = 0;
        while let Some(message) = stream.next().await {
            turn += 1;
            if turn == MESSAGES_PER_TURN {
                turn = 0;
                Runtime::yield_now().await;
            }
            let channel = message.get_channel_name();
            let payload = message.get_payload_bytes();
            match channel.strip_prefix(shared.settings.prefix.as_str()) {
                Some(topic) if payload.len() <= shared.settings.max_payload => {
                    inbox.deliver(topic, payload)
                }
                _ => inbox.count_malformed(),
            }
        }
        Ended::Broken(format!("the connection to {url} closed"))
    };

    let writer = async {
        let mut subscribed: HashSet<String> = HashSet::new();
        let mut first = true;
        loop {
            let listener = shared.wake.listen();
            let (subscribe, unsubscribe, batch) = {
                let mut state = shared.state();
                if state.stopped || !inbox.is_open() {
                    return Ended::Stopped;
                }
                let (subscribe, unsubscribe) = if first {
                    (state.wanted.iter().cloned().collect(), Vec::new())
                } else {
                    let changed: Vec<String> = state.changed.drain().collect();
                    let (mut on, mut off) = (Vec::new(), Vec::new());
                    for topic in changed {
                        match (state.wanted.contains(&topic), subscribed.contains(&topic)) {
                            (true, false) => on.push(topic),
                            (false, true) => off.push(topic),
                            _ => {}
                        }
                    }
                    (on, off)
                };
                let take = state.queue.len().min(PUBLISHES_PER_PIPELINE);
                let batch: Vec<(String, Vec<u8>)> = state.queue.drain(..take).collect();
                state.queued_bytes -= batch.iter().map(|(_, e)| e.len()).sum::<usize>();
                (subscribe, unsubscribe, batch)
            };
            first = false;
            for chunk in subscribe.chunks(CHANNELS_PER_COMMAND) {
                let channels: Vec<String> = chunk.iter().map(|t| shared.channel(t)).collect();
                if let Err(why) = within(runtime, timeout, sink.subscribe(channels)).await {
                    return Ended::Broken(format!("SUBSCRIBE at {url}: {why}"));
                }
                subscribed.extend(chunk.iter().cloned());
            }
            for chunk in unsubscribe.chunks(CHANNELS_PER_COMMAND) {
                let channels: Vec<String> = chunk.iter().map(|t| shared.channel(t)).collect();
                if let Err(why) = within(runtime, timeout, sink.unsubscribe(channels)).await {
                    return Ended::Broken(format!("UNSUBSCRIBE at {url}: {why}"));
                }
                for topic in chunk {
                    subscribed.remove(topic);
                }
            }
            shared.state().subscriptions = subscribed.len();
            let idle = batch.is_empty();
            if !idle {
                let count = batch.len() as u64;
                let mut pipe = redis::pipe();
                for (topic, envelope) in &batch {
                    pipe.cmd("PUBLISH")
                        .arg(shared.channel(topic))
                        .arg(envelope.as_slice())
                        .ignore();
                }
                let sent = pipe.query_async::<()>(&mut publisher);
                if let Err(why) = within(runtime, timeout, sent).await {
                    shared.dropped.fetch_add(count, Ordering::Relaxed);
                    return Ended::Broken(format!("PUBLISH at {url}: {why}"));
                }
                shared.published.fetch_add(count, Ordering::Relaxed);
                continue;
            }
            // Nothing to do: wait for work, and ping now and then so that a
            // silent network failure is noticed.
            let more = select(listener, runtime.sleep(shared.settings.ping_interval)).await;
            if let Either::Right(_) = more {
                let ping_command = redis::cmd("PING");
                let ping = ping_command.query_async::<String>(&mut publisher);
                if let Err(why) = within(runtime, timeout, ping).await {
                    return Ended::Broken(format!("PING at {url}: {why}"));
                }
                // A subscribed connection answers PING with an array
                // (["pong", ""]), not "PONG": any answer will do.
                if let Err(why) = within(runtime, timeout, sink.ping::<redis::Value>()).await {
                    return Ended::Broken(format!("PING at {url}: {why}"));
                }
            }
        }
    };

    match select(Box::pin(reader), Box::pin(writer)).await {
        Either::Left((ended, _)) | Either::Right((ended, _)) => ended,
    }
}

/// Runs a Redis command under the timeout.
async fn within<T>(
    runtime: &Runtime,
    timeout: Duration,
    command: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, String> {
    match runtime.timeout(timeout, command).await {
        Some(Ok(value)) => Ok(value),
        Some(Err(e)) => Err(e.to_string()),
        None => Err("timed out".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_logs() {
        assert_eq!(
            without_password("redis://user:secret@host:6379/0"),
            "redis://user:***@host:6379/0"
        );
        assert_eq!(
            without_password("redis://:secret@host"),
            "redis://:***@host"
        );
        assert_eq!(without_password("redis://host:6379"), "redis://host:6379");
        assert_eq!(without_password("redis://user@host"), "redis://user@host");
        assert_eq!(
            without_password("redis://:hun/ter@2@host:1/0"),
            "redis://:***@host:1/0"
        );
        assert_eq!(
            without_password("redis+unix:///tmp/r.sock?db=1&pass=hunter2"),
            "redis+unix:///tmp/r.sock?db=1&pass=***"
        );
        assert_eq!(without_password("hunter2"), "(not a URL)");
        let builder = RedisBroker::builder("redis://u:hunter2@host");
        assert!(!format!("{builder:?}").contains("hunter2"));
    }

    #[test]
    fn a_bad_url_names_itself_without_its_password() {
        let error = RedisBroker::new("http://u:pw@host").unwrap_err();
        let shown = error.to_string();
        assert!(shown.contains("http://u:***@host"), "{shown}");
        assert!(!shown.contains("pw"), "{shown}");
    }

    #[test]
    fn publishes_while_disconnected_are_dropped_and_counted() {
        let broker = RedisBroker::new("redis://127.0.0.1:1").unwrap();
        broker.publish("t", vec![1; 30]);
        let metrics = broker.metrics();
        assert_eq!((metrics.dropped, metrics.published), (1, 0));
        assert!(!metrics.connected);
    }
}
