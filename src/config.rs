//! Every limit and timeout, in one place, with the reason for each default.

use std::time::Duration;

use crate::net::IpNet;
use crate::protocol::{ReceiverConfig, Role};

/// What a send does when the connection's send queue is over its high-water
/// mark ([`Config::send_queue_high_water`]): one rule for
/// [`Connection::send`](crate::Connection::send),
/// [`Connection::send_prepared`](crate::Connection::send_prepared) and the
/// server's broadcasts.
///
/// # Examples
///
/// ```
/// use wsgate::{Config, SendPolicy};
///
/// let mut config = Config::default();
/// config.send_queue_policy = SendPolicy::Fail;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SendPolicy {
    /// The sender waits until the queue drains below the mark
    /// (backpressure). The default.
    #[default]
    Wait,
    /// The send fails at once with [`Error::QueueFull`](crate::Error::QueueFull).
    Fail,
    /// The connection is failed with 1008 (policy violation, reason "send
    /// queue full": its close frame follows what is queued, and the peer's
    /// answer is not awaited) and the send fails: for peers too slow to be
    /// worth waiting for.
    Close,
}

/// What a broadcast or a publish does for a connection whose send queue is
/// over its high-water mark ([`Config::send_queue_high_water`]). A
/// broadcast or publish never waits for a slow connection: the task that
/// publishes is never held up, and every other connection gets its copy.
///
/// Set per server in [`Config::broadcast_policy`]; a connection can
/// override it with
/// [`Connection::set_broadcast_policy`](crate::Connection::set_broadcast_policy).
///
/// # Examples
///
/// ```
/// use wsgate::{BroadcastPolicy, Config};
///
/// let mut config = Config::default();
/// config.broadcast_policy = BroadcastPolicy::Close;
/// assert_ne!(config.broadcast_policy, BroadcastPolicy::default());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BroadcastPolicy {
    /// This message is dropped for that connection (counted as `dropped`
    /// in the report and the topic's metrics); the connection stays open
    /// and gets later messages once its queue has room. The default.
    #[default]
    Drop,
    /// The connection is failed with 1008 (policy violation, reason "send
    /// queue full"), as [`SendPolicy::Close`] does for a send.
    Close,
}

/// TCP keep-alive probing: the kernel's own check for dead peers, below
/// WebSocket keepalive.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let keepalive = wsgate::TcpKeepalive {
///     time: Duration::from_secs(60),
///     interval: Duration::from_secs(10),
///     retries: 5,
/// };
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpKeepalive {
    /// Idle time before the first probe.
    pub time: Duration,
    /// Time between probes.
    pub interval: Duration,
    /// Unanswered probes before the connection is dropped.
    pub retries: u32,
}

/// Socket options, applied with `socket2`.
///
/// # Examples
///
/// ```
/// let mut config = wsgate::Config::default();
/// config.tcp.backlog = 4096;
/// config.tcp.only_v6 = Some(false); // dual-stack when binding [::]
/// config.tcp.recv_buffer_size = Some(256 << 10);
/// config.tcp.defer_accept = None; // for clients that wait for the server to speak
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TcpOptions {
    /// Listen backlog. Default 1024: absorbs connection bursts.
    pub backlog: u32,
    /// Disable Nagle's algorithm on every connection. Default on: WebSocket
    /// messages are latency-sensitive and already batched by the writer.
    pub nodelay: bool,
    /// Kernel keep-alive probing. Default `None` (WebSocket keepalive,
    /// [`Config::ping_interval`], does the job end to end).
    pub keepalive: Option<TcpKeepalive>,
    /// For IPv6 listeners: `Some(true)` accepts IPv6 only, `Some(false)`
    /// also IPv4 (dual-stack), `None` leaves the system default.
    pub only_v6: Option<bool>,
    /// `SO_REUSEADDR` on listeners. Default on, so a restarted server can
    /// bind while old connections are in TIME_WAIT. Turn it off for an
    /// exclusive bind.
    pub reuse_address: bool,
    /// `SO_RCVBUF` for accepted connections; `None` keeps the kernel's
    /// auto-tuning (the default).
    pub recv_buffer_size: Option<usize>,
    /// `SO_SNDBUF` for accepted connections; `None` keeps the kernel's
    /// auto-tuning (the default).
    pub send_buffer_size: Option<usize>,
    /// Linux and Android: the kernel hands a connection to the server only
    /// once the client's first bytes have arrived (`TCP_DEFER_ACCEPT`), or,
    /// for a client that sends nothing, after about this long (whole
    /// seconds, rounded up to the kernel's SYN-ACK retransmission steps:
    /// 1, 3, 7, 15 s…). Default 1 s.
    ///
    /// WebSocket and TLS clients speak first, so no handshake waits for it.
    /// The server then skips a read that would find nothing and a wake-up
    /// per connection (about 10% of a handshake's CPU under load, see the
    /// guide's Performance chapter), and a silent connection costs no task
    /// until it speaks or the time is up; the handshake timeout counts from
    /// then. `None` (or zero) hands over every connection at once. Ignored
    /// on other systems.
    pub defer_accept: Option<Duration>,
}

impl Default for TcpOptions {
    fn default() -> Self {
        TcpOptions {
            backlog: 1024,
            nodelay: true,
            keepalive: None,
            only_v6: None,
            reuse_address: true,
            recv_buffer_size: None,
            send_buffer_size: None,
            defer_accept: Some(Duration::from_secs(1)),
        }
    }
}

/// Settings for a server or client: limits, timeouts and behaviour.
///
/// Every field has a safe default ([`Config::default`]); change the ones you
/// need. The defaults are chosen for a server on the open internet.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use wsgate::Config;
///
/// let mut config = Config::default();
/// config.max_message_size = 64 << 20;
/// config.max_frame_size = 64 << 20;
/// config.handshake_timeout = Duration::from_secs(5);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Largest frame payload accepted, in bytes. Default 16 MiB.
    ///
    /// Checked against the declared length in the frame header, before any
    /// memory is set aside, so a header claiming 2⁶³ bytes costs nothing.
    /// Larger frames close the connection with 1009.
    pub max_frame_size: usize,
    /// Largest message accepted, summed over its fragments. Default 16 MiB.
    ///
    /// Bounds the memory one connection can make the server hold for an
    /// incoming message. Larger messages close the connection with 1009.
    pub max_message_size: usize,
    /// Most frames one message may be split into. Default 131 072.
    ///
    /// Floods of tiny fragments cost CPU per frame; this bounds the work per
    /// message while leaving room for 64-byte fragments of a 4 MiB message
    /// (Autobahn case 9.3.1). Beyond it the connection closes with 1009.
    pub max_fragments: usize,
    /// Largest opening handshake (request line and headers), in bytes.
    /// Default 16 KiB, as in Node's HTTP server. Larger requests get 431.
    pub max_handshake_size: usize,
    /// Most headers in the opening handshake. Default 64, several times what
    /// browsers send. More get 431.
    pub max_handshake_headers: usize,
    /// Time allowed for a client to send its whole opening handshake.
    /// Default 10 s: long enough for slow links, short enough that a
    /// Slowloris client cannot hold a slot for long. Expiry answers 408.
    pub handshake_timeout: Duration,
    /// Time the application has to accept or reject a request before it is
    /// rejected with 503. Default 30 s, so a forgotten request cannot hold
    /// its socket forever.
    pub decision_timeout: Duration,
    /// After a close frame is sent, how long the whole close may take (the
    /// peer's close, a client's wait for the server to end TCP, a TLS
    /// stream's `close_notify`) before the TCP connection is dropped; also
    /// how long the close frame may wait to be written. Default 5 s.
    pub close_timeout: Duration,
    /// Send a ping after this long without hearing from the peer, to detect
    /// half-open connections. Default 20 s (as python-websockets). `None`
    /// switches keepalive off. Any received bytes count as a sign of life,
    /// so busy connections are never pinged. Note that the peer's answer is
    /// only seen while the application reads the connection's events.
    pub ping_interval: Option<Duration>,
    /// How long a keepalive ping may go unanswered before the connection is
    /// failed with 1011 and dropped. Default 20 s.
    pub ping_timeout: Duration,
    /// Close the connection with 1001 when no data frame (text, binary or
    /// continuation) has arrived for this long. Pings and pongs do not
    /// count, so a peer that answers keepalive pings but sends nothing is
    /// still closed; bytes of a long message still arriving do count.
    /// Default `None`: keepalive already reaps dead peers, and an idle but
    /// healthy connection is often the point (notifications).
    pub idle_timeout: Option<Duration>,
    /// Answer pings with pongs automatically. Default on. Ping events are
    /// reported either way. Answers never pile up: at most 32 wait to be
    /// written, beyond that only the latest ping is answered (RFC 6455
    /// §5.5.3 allows it), so a ping flood cannot grow the send queue.
    pub auto_pong: bool,
    /// Assemble fragmented messages (default), or hand each frame over as a
    /// [`Fragment`](crate::Fragment) event when off, for streaming large
    /// messages without holding them whole.
    pub assemble_messages: bool,
    /// Split outgoing messages longer than this into frames of this size.
    /// Default `usize::MAX` (never split): peers handle large frames, and one
    /// frame costs one header.
    pub fragment_size: usize,
    /// Send-queue high-water mark, in bytes. Default 1 MiB.
    ///
    /// Bytes queued but not yet written to the socket, per connection. A send
    /// made while the queue holds this much or more follows
    /// [`send_queue_policy`](Self::send_queue_policy), so a peer that never
    /// reads cannot make the server's memory grow past about this bound plus
    /// one message.
    pub send_queue_high_water: usize,
    /// What a send does above the high-water mark. Default
    /// [`SendPolicy::Wait`].
    pub send_queue_policy: SendPolicy,
    /// The server-wide budget for the sum of every send queue, in bytes.
    /// Default 256 MiB.
    ///
    /// Beside each connection's [high-water mark](Self::send_queue_high_water):
    /// while the send queues of all the server's connections together hold
    /// this much or more, a message is queued only for connections whose
    /// own queue is below its [low-water mark](Self::send_queue_low_water);
    /// the others meet a full queue, and the one send policy decides
    /// ([`send_queue_policy`](Self::send_queue_policy) for a send, which
    /// waits by default; [`broadcast_policy`](Self::broadcast_policy) for a
    /// broadcast or publish, which drops that connection's copy by
    /// default). So the connections holding the most are refused first,
    /// and the server holds at most about this budget plus, per connection,
    /// its low-water mark and one message. Control frames are not held back.
    /// Counted in [`MetricsSnapshot::outbound_memory`](crate::MetricsSnapshot::outbound_memory).
    ///
    /// ```
    /// let mut config = wsgate::Config::default();
    /// assert_eq!(config.outbound_memory_budget, 256 << 20);
    /// config.outbound_memory_budget = 64 << 20;
    /// ```
    pub outbound_memory_budget: usize,
    /// Send-queue low-water mark, in bytes. Default 256 KiB (a quarter of
    /// the high-water mark). When a sender met the high-water mark, the
    /// connection emits [`Event::Drain`](crate::Event::Drain) once the queue
    /// falls to this level, and [`Connection::writable`](crate::Connection::writable)
    /// resolves.
    pub send_queue_low_water: usize,
    /// What a broadcast or publish does for a connection over its
    /// high-water mark. Default [`BroadcastPolicy::Drop`]: never wait, drop
    /// that connection's copy and count it.
    pub broadcast_policy: BroadcastPolicy,
    /// The longest topic name accepted, in bytes. Default 256.
    pub max_topic_len: usize,
    /// Topics one connection may subscribe to at once. Default 1,000.
    pub max_subscriptions_per_connection: usize,
    /// Topics (with at least one subscriber) one server may hold at once.
    /// Default 1,000,000; a subscription to a new topic beyond it fails
    /// with [`Error::TooManyTopics`](crate::Error::TooManyTopics).
    pub max_topics: usize,
    /// Frame size for streamed messages
    /// ([`Connection::send_stream`](crate::Connection::send_stream),
    /// [`send_file`](crate::Connection::send_file)). Default 64 KiB: large
    /// enough that headers cost nothing, small enough to keep memory flat.
    pub stream_chunk_size: usize,
    /// The server-wide budget for data received and not yet delivered, in
    /// bytes: the buffers of unfinished messages (and what compressed ones
    /// inflated to so far), over all the server's connections. Default
    /// 256 MiB.
    ///
    /// Each connection's message in progress may hold up to
    /// [`inbound_memory_reserve`](Self::inbound_memory_reserve) without
    /// asking; beyond that it takes its growth from this budget. When
    /// granting more would exceed the budget, that connection waits: its
    /// socket is not read (TCP pushes back on the peer) until other
    /// messages complete or connections close, for at most
    /// [`inbound_memory_wait`](Self::inbound_memory_wait); then it is failed
    /// with 1013 (try again later: the message is within the limits, the
    /// server is busy) and the event stream reports
    /// [`Error::MemoryBudget`](crate::Error::MemoryBudget). Other
    /// connections' small messages and control frames keep flowing.
    ///
    /// What N connections can make the server hold in unfinished messages
    /// is then at most this budget plus N × the reserve (plus each
    /// connection's read buffer), instead of N × the message limit. Size it
    /// as the memory you can spare for messages in flight: the largest
    /// message times how many may arrive at once. Counted in
    /// [`MetricsSnapshot::inbound_memory`](crate::MetricsSnapshot::inbound_memory).
    ///
    /// Connections no server owns (clients, and connections mounted with
    /// [`WebSocketRequest::from_stream`](crate::WebSocketRequest::from_stream))
    /// share one such budget per process among those with the same limits
    /// (this one and [`outbound_memory_budget`](Self::outbound_memory_budget)),
    /// so a connection is only held to what connections configured like it
    /// hold; for them a budget below
    /// [`max_message_size`](Self::max_message_size) is raised to it, so that
    /// one message within the limits can always complete.
    ///
    /// ```
    /// let mut config = wsgate::Config::default();
    /// assert_eq!(config.inbound_memory_budget, 256 << 20);
    /// config.inbound_memory_budget = 1 << 30; // a large machine
    /// ```
    pub inbound_memory_budget: usize,
    /// What each connection's message in progress may hold without
    /// asking the [inbound budget](Self::inbound_memory_budget), in bytes.
    /// Default 64 KiB: chat-sized messages never wait, whatever large ones
    /// do, and cost no shared counter.
    ///
    /// ```
    /// let config = wsgate::Config::default();
    /// assert_eq!(config.inbound_memory_reserve, 64 << 10);
    /// ```
    pub inbound_memory_reserve: usize,
    /// How long a message may wait for the
    /// [inbound budget](Self::inbound_memory_budget), in all (from its
    /// first wait, however many grants it gets meanwhile), before its
    /// connection is failed with 1013. Default 10 s: long enough for other large messages to
    /// complete, shorter than the keepalive's timeout (the waiting
    /// connection's socket is not read).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let config = wsgate::Config::default();
    /// assert_eq!(config.inbound_memory_wait, Duration::from_secs(10));
    /// ```
    pub inbound_memory_wait: Duration,
    /// How much one read takes from the socket, in bytes. Default 64 KiB.
    ///
    /// Reads go into a buffer shared by the connections of one thread;
    /// a connection keeps only the bytes left over after a complete item (a
    /// partial frame header, or the next messages of a burst). An idle
    /// connection therefore holds no read buffer, and a large message takes
    /// few reads. Payloads are streamed into the message being assembled.
    pub read_buffer_size: usize,
    /// How long connecting to a forward's backend may take before the
    /// client gets 504. Default 5 s. A [`Forward`](crate::Forward) can set
    /// its own.
    pub forward_connect_timeout: Duration,
    /// The most a forward reads from its backend at once: the largest
    /// binary message its client gets. Default 64 KiB.
    pub forward_read_size: usize,
    /// How long a forward may move nothing either way before the client is
    /// closed with 1001 and the backend's socket closed. Default `None`:
    /// a quiet backend (a Redis client waiting on `BLPOP`, a VNC session
    /// with a still screen) is normal, and keepalive
    /// ([`ping_interval`](Self::ping_interval)) already finds clients that
    /// are gone.
    pub forward_idle_timeout: Option<Duration>,
    /// Largest body a plain HTTP request may carry to the HTTP handler.
    /// Default 64 KiB: the handler serves pages, not uploads. Larger bodies
    /// get 413.
    pub max_http_body_size: usize,
    /// Most connections open at once, counting requests still waiting for a
    /// decision. Default 16 384. Beyond it new handshakes get 503 with
    /// `Retry-After`, before the application sees them, so a flood cannot
    /// exhaust memory or file descriptors.
    pub max_connections: usize,
    /// Client addresses allowed to connect, as CIDR ranges. Default empty:
    /// everyone. When set, other clients are disconnected before a single
    /// byte of theirs is read.
    pub allow: Vec<IpNet>,
    /// Socket options for listeners and accepted connections.
    pub tcp: TcpOptions,
    /// Proxies whose `X-Forwarded-For` / `Forwarded` headers are believed.
    /// Default empty: the remote address is always the TCP peer, since any
    /// client can send those headers.
    pub trusted_proxies: Vec<IpNet>,
    /// permessage-deflate (RFC 7692, feature `deflate`): whether the server
    /// accepts a client's offer, with which parameters, and from what size
    /// messages are compressed. Default on: accepted when the client offers
    /// it (browsers do), with the defaults of
    /// [`DeflateConfig`](crate::handshake::DeflateConfig). Set
    /// `deflate.enabled = false` to switch it off.
    ///
    /// Server side only: a [`Client`](crate::Client) offers deflate through
    /// [`Client::deflate`](crate::Client::deflate).
    #[cfg(feature = "deflate")]
    pub deflate: crate::handshake::DeflateConfig,
    /// The most bytes of compression state (zlib-rs compressors and
    /// decompressors) the server holds at once, over all its connections
    /// (feature `deflate`). Default 256 MiB.
    ///
    /// Each connection that negotiates permessage-deflate reserves its share
    /// at the handshake and gives it back when it ends:
    /// - while the state in use stays within half the budget, a connection
    ///   gets its own compressor and decompressor (about 418 KiB with the
    ///   default 15-bit window: 371 KiB + 46 KiB), and the compression
    ///   context carries over from message to message;
    /// - beyond that, the server answers with `server_no_context_takeover`
    ///   and `client_no_context_takeover`, the connection reserves only its
    ///   decompressor (46 KiB) and compresses with a small pool of
    ///   compressors shared by the whole server (counted once, when first
    ///   needed); a message finding every pooled compressor busy goes
    ///   uncompressed;
    /// - when even that does not fit, the extension is declined.
    ///
    /// The half kept back is what lets the cheap tier exist at all: filled
    /// greedily with 418 KiB connections, a budget would leave no room for
    /// 46 KiB ones. With the defaults, about 310 connections get their own
    /// compressor and about 2 800 more compress from the pool: enough for a
    /// busy server, a bounded fraction of its memory whatever the load
    /// (Node's `ws` has no bound and users report gigabytes). Raise it on a
    /// large machine; 0 declines every offer. See the
    /// [metrics](crate::MetricsSnapshot::deflate_memory).
    #[cfg(feature = "deflate")]
    pub deflate_memory_budget: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame_size: 16 << 20,
            max_message_size: 16 << 20,
            max_fragments: 131_072,
            max_handshake_size: 16 << 10,
            max_handshake_headers: 64,
            handshake_timeout: Duration::from_secs(10),
            decision_timeout: Duration::from_secs(30),
            close_timeout: Duration::from_secs(5),
            ping_interval: Some(Duration::from_secs(20)),
            ping_timeout: Duration::from_secs(20),
            idle_timeout: None,
            auto_pong: true,
            assemble_messages: true,
            fragment_size: usize::MAX,
            send_queue_high_water: 1 << 20,
            send_queue_policy: SendPolicy::Wait,
            send_queue_low_water: 256 << 10,
            outbound_memory_budget: 256 << 20,
            broadcast_policy: BroadcastPolicy::Drop,
            max_topic_len: 256,
            max_subscriptions_per_connection: 1_000,
            max_topics: 1_000_000,
            stream_chunk_size: 64 << 10,
            inbound_memory_budget: 256 << 20,
            inbound_memory_reserve: 64 << 10,
            inbound_memory_wait: Duration::from_secs(10),
            read_buffer_size: 64 << 10,
            max_http_body_size: 64 << 10,
            forward_connect_timeout: Duration::from_secs(5),
            forward_read_size: 64 << 10,
            forward_idle_timeout: None,
            trusted_proxies: Vec::new(),
            max_connections: 16_384,
            allow: Vec::new(),
            tcp: TcpOptions::default(),
            #[cfg(feature = "deflate")]
            deflate: crate::handshake::DeflateConfig::default(),
            #[cfg(feature = "deflate")]
            deflate_memory_budget: 256 << 20,
        }
    }
}

impl Config {
    /// The protocol core's settings for one end of a connection.
    pub(crate) fn receiver(&self, role: Role) -> ReceiverConfig {
        ReceiverConfig {
            role,
            max_frame_size: self.max_frame_size,
            max_message_size: self.max_message_size,
            max_fragments: self.max_fragments,
            assemble_messages: self.assemble_messages,
            allowed_rsv: 0,
        }
    }
}
