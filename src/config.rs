//! Every limit and timeout, in one place, with the reason for each default.

use std::time::Duration;

use crate::net::IpNet;
use crate::protocol::{ReceiverConfig, Role};

/// What a send does when the connection's send queue is over its high-water
/// mark ([`Config::send_queue_high_water`]).
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
    /// The connection is closed with 1008 (policy violation) and the send
    /// fails: for peers too slow to be worth waiting for.
    Close,
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
    /// After a close frame is sent, how long to wait for the peer's close
    /// before dropping the TCP connection. Default 5 s.
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
    /// Close the connection with 1001 when nothing has arrived for this
    /// long. Default `None`: keepalive already reaps dead peers, and an idle
    /// but healthy connection is often the point (notifications).
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
    /// Size of each connection's read buffer, in bytes. Default 8 KiB.
    ///
    /// Allocated when the connection first reads, not before. Payloads are
    /// streamed through it into the message being assembled, so it does not
    /// need to hold a whole frame.
    pub read_buffer_size: usize,
    /// Largest body a plain HTTP request may carry to the HTTP handler.
    /// Default 64 KiB: the handler serves pages, not uploads. Larger bodies
    /// get 413.
    pub max_http_body_size: usize,
    /// Proxies whose `X-Forwarded-For` / `Forwarded` headers are believed.
    /// Default empty: the remote address is always the TCP peer, since any
    /// client can send those headers.
    pub trusted_proxies: Vec<IpNet>,
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
            read_buffer_size: 8 << 10,
            max_http_body_size: 64 << 10,
            trusted_proxies: Vec::new(),
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
