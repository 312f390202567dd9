//! Listeners: the application's own code subscribed to a topic, beside
//! the connections ([`ServerHandle::on_topic`](crate::ServerHandle::on_topic)).

use std::sync::{Arc, Weak};

use crate::connection::Prepared;
use crate::protocol::DataKind;

/// What a listener is: called with every publish to its topic.
pub(crate) type Handler = dyn Fn(&Published<'_>) + Send + Sync;

/// Where a listener's guard goes to end it: the server's topics.
pub(crate) trait Unlisten: Send + Sync {
    /// Removes the listener `id` from `topic`.
    fn unlisten(&self, topic: &str, id: u64);
}

/// One publish, as a topic listener sees it.
///
/// # Examples
///
/// ```
/// use std::sync::mpsc;
///
/// let server = wsgate::Server::builder().build();
/// let (tx, rx) = mpsc::channel();
/// let _guard = server
///     .handle()
///     .on_topic("prices", move |p| {
///         tx.send((p.topic().to_owned(), p.kind(), p.data().to_vec(), p.is_remote())).unwrap()
///     })
///     .unwrap();
/// server.handle().publish("prices", vec![1u8, 2]);
/// let (topic, kind, data, remote) = rx.try_recv().unwrap();
/// assert_eq!((topic.as_str(), kind, data, remote), ("prices", wsgate::DataKind::Binary, vec![1, 2], false));
/// ```
pub struct Published<'a> {
    topic: &'a str,
    message: &'a Prepared,
    remote: bool,
}

impl<'a> Published<'a> {
    pub(crate) fn new(topic: &'a str, message: &'a Prepared, remote: bool) -> Self {
        Published {
            topic,
            message,
            remote,
        }
    }

    /// The topic it was published to.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = wsgate::Server::builder().build();
    /// let _guard = server
    ///     .handle()
    ///     .on_topic("news", |p| assert_eq!(p.topic(), "news"))
    ///     .unwrap();
    /// server.handle().publish("news", "hi");
    /// ```
    pub fn topic(&self) -> &str {
        self.topic
    }

    /// Text or binary.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = wsgate::Server::builder().build();
    /// let _guard = server
    ///     .handle()
    ///     .on_topic("news", |p| assert_eq!(p.kind(), wsgate::DataKind::Text))
    ///     .unwrap();
    /// server.handle().publish("news", "hi");
    /// ```
    pub fn kind(&self) -> DataKind {
        self.message.kind()
    }

    /// The payload's bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = wsgate::Server::builder().build();
    /// let _guard = server
    ///     .handle()
    ///     .on_topic("news", |p| assert_eq!(p.data(), b"hi"))
    ///     .unwrap();
    /// server.handle().publish("news", "hi");
    /// ```
    pub fn data(&self) -> &[u8] {
        self.message.payload()
    }

    /// The payload as text, if it is a text message.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = wsgate::Server::builder().build();
    /// let _guard = server
    ///     .handle()
    ///     .on_topic("news", |p| assert_eq!(p.text(), Some("hi")))
    ///     .unwrap();
    /// server.handle().publish("news", "hi");
    /// ```
    pub fn text(&self) -> Option<&str> {
        match self.kind() {
            // Text payloads are UTF-8: checked when the message was made
            // (a `String`) or when it came from the broker.
            DataKind::Text => std::str::from_utf8(self.data()).ok(),
            DataKind::Binary => None,
        }
    }

    /// The prepared message, to send on as it is (it shares its bytes).
    ///
    /// # Examples
    ///
    /// ```
    /// let server = wsgate::Server::builder().build();
    /// let _guard = server
    ///     .handle()
    ///     .on_topic("news", |p| assert_eq!(p.message().len(), 2))
    ///     .unwrap();
    /// server.handle().publish("news", "hi");
    /// ```
    pub fn message(&self) -> &Prepared {
        self.message
    }

    /// Whether another node published it (it came through the broker).
    ///
    /// # Examples
    ///
    /// ```
    /// let server = wsgate::Server::builder().build();
    /// let _guard = server
    ///     .handle()
    ///     .on_topic("news", |p| assert!(!p.is_remote()))
    ///     .unwrap();
    /// server.handle().publish("news", "hi");
    /// ```
    pub fn is_remote(&self) -> bool {
        self.remote
    }
}

/// A listener's subscription: it lasts until this is dropped.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// let server = wsgate::Server::builder().build();
/// let heard = Arc::new(AtomicUsize::new(0));
/// let count = heard.clone();
/// let guard = server
///     .handle()
///     .on_topic("news", move |_| { count.fetch_add(1, Ordering::Relaxed); })
///     .unwrap();
/// server.handle().publish("news", "one");
/// drop(guard);
/// server.handle().publish("news", "two");
/// assert_eq!(heard.load(Ordering::Relaxed), 1);
/// ```
#[must_use = "the listener stops when this is dropped"]
pub struct TopicListener {
    topics: Weak<dyn Unlisten>,
    topic: Arc<str>,
    id: u64,
}

impl TopicListener {
    pub(crate) fn new(topics: Weak<dyn Unlisten>, topic: Arc<str>, id: u64) -> Self {
        TopicListener { topics, topic, id }
    }

    /// The topic listened to.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = wsgate::Server::builder().build();
    /// let guard = server.handle().on_topic("news", |_| {}).unwrap();
    /// assert_eq!(guard.topic(), "news");
    /// ```
    pub fn topic(&self) -> &str {
        &self.topic
    }
}

impl Drop for TopicListener {
    fn drop(&mut self) {
        if let Some(topics) = self.topics.upgrade() {
            topics.unlisten(&self.topic, self.id);
        }
    }
}

impl std::fmt::Debug for TopicListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopicListener")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}
