//! Error types: one enum per operation, never strings.

use std::io;

use crate::handshake::{HandshakeError, RawResponseError};
use crate::protocol::ProtocolError;

/// An error on a connection, or while connecting as a client.
///
/// # Examples
///
/// ```
/// use wsgate::{Error, ProtocolError};
///
/// let e = Error::Protocol(ProtocolError::InvalidUtf8);
/// assert_eq!(e.to_string(), "protocol error: invalid UTF-8 in a text message");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The socket failed.
    Io(io::Error),
    /// The peer broke the protocol or went past a limit; the connection was
    /// failed with the error's close code.
    Protocol(ProtocolError),
    /// The opening handshake failed (client side), including a rejection by
    /// the server ([`HandshakeError::Rejected`]).
    Handshake(HandshakeError),
    /// The connection is closing or closed: nothing more can be sent.
    Closed,
    /// The send queue is over its high-water mark and the connection's
    /// policy is [`SendPolicy::Fail`](crate::SendPolicy::Fail) (or
    /// [`SendPolicy::Close`](crate::SendPolicy::Close), which also failed it
    /// with 1008).
    QueueFull,
    /// No answer to a keepalive ping within
    /// [`Config::ping_timeout`](crate::Config::ping_timeout) (the timeout):
    /// the connection was failed with 1011 "keepalive timeout".
    KeepaliveTimeout(std::time::Duration),
    /// A control frame payload (ping, pong) is longer than 125 bytes.
    ControlTooLong,
    /// The operation did not finish in time (client handshake).
    Timeout,
    /// The URL given to the client is not a `ws://` (or `wss://`) URL with
    /// a host and without a fragment.
    InvalidUrl,
    /// A topic name is longer than
    /// [`Config::max_topic_len`](crate::Config::max_topic_len) (its length
    /// and the limit).
    TopicTooLong {
        /// The name's length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The connection already has
    /// [`Config::max_subscriptions_per_connection`](crate::Config::max_subscriptions_per_connection)
    /// subscriptions (the limit).
    TooManySubscriptions(usize),
    /// The server already holds
    /// [`Config::max_topics`](crate::Config::max_topics) topics (the limit).
    TooManyTopics(usize),
    /// Topics are served by a [`Server`](crate::Server): this connection
    /// (a client's) has none.
    NoTopics,
    /// A broker's URL could not be used
    /// ([`RedisBroker::new`](crate::broker::RedisBroker::new)): the URL
    /// (with any password hidden) and why.
    InvalidBrokerUrl {
        /// The URL, its password replaced by `***`.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Protocol(e) => write!(f, "protocol error: {e}"),
            Error::Handshake(e) => write!(f, "handshake failed: {e}"),
            Error::Closed => f.write_str("the connection is closed"),
            Error::QueueFull => f.write_str("the send queue is full"),
            Error::KeepaliveTimeout(timeout) => {
                write!(
                    f,
                    "keepalive timeout: no answer to a ping within {timeout:?}"
                )
            }
            Error::ControlTooLong => f.write_str("control frame payload over 125 bytes"),
            Error::Timeout => f.write_str("timed out"),
            Error::InvalidUrl => {
                f.write_str("not a ws:// or wss:// URL with a host and no fragment")
            }
            Error::TopicTooLong { len, max } => {
                write!(f, "topic name of {len} bytes, over the limit of {max}")
            }
            Error::TooManySubscriptions(max) => {
                write!(
                    f,
                    "the connection already has {max} subscriptions, the limit"
                )
            }
            Error::TooManyTopics(max) => {
                write!(f, "the server already holds {max} topics, the limit")
            }
            Error::NoTopics => f.write_str("topics are served by a server, not a client"),
            Error::InvalidBrokerUrl { url, reason } => {
                write!(f, "invalid broker URL {url}: {reason}")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Protocol(e) => Some(e),
            Error::Handshake(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Error::Protocol(e)
    }
}

impl From<HandshakeError> for Error {
    fn from(e: HandshakeError) -> Self {
        Error::Handshake(e)
    }
}

/// Why [`WebSocketRequest::accept`](crate::WebSocketRequest::accept) failed.
///
/// In every case the request has been answered: with a 403 for an origin
/// mismatch, a 500 for a protocol the client did not offer or an invalid raw
/// response, a 503 when the compression budget is full, and not at all when
/// the client is gone.
///
/// # Examples
///
/// ```
/// use wsgate::AcceptError;
///
/// let e = AcceptError::ProtocolNotOffered("chat".into());
/// assert_eq!(e.to_string(), "subprotocol \"chat\" was not offered by the client");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum AcceptError {
    /// The protocol passed to `accept` is not one the client offered.
    ProtocolNotOffered(String),
    /// The request's `Origin` is not the origin passed to `accept`.
    OriginMismatch {
        /// The origin the application allowed.
        allowed: String,
        /// The origin the client sent.
        actual: String,
    },
    /// The client disconnected while the request waited for a decision.
    Disconnected,
    /// The decision deadline passed and the request was already rejected.
    DecisionTimeout,
    /// The server is shutting down; the request was rejected with 503.
    ShuttingDown,
    /// Writing the response failed.
    Io(io::Error),
    /// The response given to
    /// [`accept_raw`](crate::WebSocketRequest::accept_raw) breaks a rule;
    /// the client got a 500 instead.
    InvalidRawResponse(RawResponseError),
    /// The response given to
    /// [`accept_raw`](crate::WebSocketRequest::accept_raw) accepts
    /// permessage-deflate, and the compression memory budget has no room
    /// for it; the client got a 503.
    DeflateBudgetFull,
}

impl std::fmt::Display for AcceptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AcceptError::ProtocolNotOffered(p) => {
                write!(f, "subprotocol {p:?} was not offered by the client")
            }
            AcceptError::OriginMismatch { allowed, actual } => {
                write!(f, "origin {actual:?} is not the allowed origin {allowed:?}")
            }
            AcceptError::Disconnected => f.write_str("the client disconnected"),
            AcceptError::DecisionTimeout => {
                f.write_str("the decision deadline passed; the request was rejected")
            }
            AcceptError::ShuttingDown => f.write_str("the server is shutting down"),
            AcceptError::Io(e) => write!(f, "I/O error: {e}"),
            AcceptError::InvalidRawResponse(e) => write!(f, "invalid raw response: {e}"),
            AcceptError::DeflateBudgetFull => {
                f.write_str("the compression memory budget has no room for permessage-deflate")
            }
        }
    }
}

impl std::error::Error for AcceptError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AcceptError::Io(e) => Some(e),
            AcceptError::InvalidRawResponse(e) => Some(e),
            _ => None,
        }
    }
}
