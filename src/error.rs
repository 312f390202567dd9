//! Error types: one enum per operation, never strings.
//!
//! One convention for every error type of the crate: `Display` says what
//! failed at its own layer, naming its subject (the address, URL, header,
//! limit and value), and the error it wraps, if any, is returned by
//! [`source`](std::error::Error::source), never repeated in the text.
//! [`ErrorChain`] prints a whole chain on one line.

use std::fmt;
use std::io;
use std::time::Duration;

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
/// // This layer's part; the protocol error is the source.
/// assert_eq!(e.to_string(), "protocol error");
/// assert_eq!(
///     wsgate::ErrorChain(&e).to_string(),
///     "protocol error: invalid UTF-8 in a text message"
/// );
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The socket failed.
    Io(io::Error),
    /// The client could not open a TCP connection (refused, unreachable, no
    /// such host).
    Connect {
        /// The address as `host:port`.
        address: String,
        /// What the connect (or the name lookup) returned.
        source: io::Error,
    },
    /// The client's TLS handshake failed (untrusted certificate, wrong
    /// name, a server requiring a client certificate); the source wraps a
    /// `rustls::Error` when TLS itself failed.
    Tls {
        /// The server as `host:port`.
        address: String,
        /// What the TLS handshake returned.
        source: io::Error,
    },
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
    /// A message in progress needed more of the server's memory budget for
    /// unfinished messages
    /// ([`Config::inbound_memory_budget`](crate::Config::inbound_memory_budget))
    /// than came free within
    /// [`Config::inbound_memory_wait`](crate::Config::inbound_memory_wait)
    /// (the wait): the connection was failed with 1013 (try again later).
    MemoryBudget(std::time::Duration),
    /// No answer to a keepalive ping within
    /// [`Config::ping_timeout`](crate::Config::ping_timeout) (the timeout):
    /// the connection was failed with 1011 "keepalive timeout".
    KeepaliveTimeout(std::time::Duration),
    /// A control frame payload (ping, pong) is longer than 125 bytes.
    ControlTooLong {
        /// The payload's length in bytes.
        len: usize,
    },
    /// A step of the client's connect did not finish within
    /// [`Config::handshake_timeout`](crate::Config::handshake_timeout).
    Timeout {
        /// The step: `"TCP connect"`, `"TLS handshake"` or
        /// `"opening handshake"`.
        step: &'static str,
        /// The server as `host:port`.
        address: String,
        /// The timeout that passed.
        limit: Duration,
    },
    /// The URL given to the client is not a `ws://` (or `wss://`) URL with
    /// a host and without a fragment.
    InvalidUrl {
        /// The URL as given, any password replaced by `***`, cut to 200
        /// bytes.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
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

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(_) => f.write_str("I/O error"),
            Error::Connect { address, .. } => write!(f, "cannot connect to {address}"),
            Error::Tls { address, .. } => write!(f, "TLS handshake with {address} failed"),
            Error::Protocol(_) => f.write_str("protocol error"),
            Error::Handshake(_) => f.write_str("opening handshake failed"),
            Error::Closed => f.write_str("the connection is closed"),
            Error::QueueFull => f.write_str(
                "the send queue is over its high-water mark (Config::send_queue_high_water)",
            ),
            Error::MemoryBudget(waited) => write!(
                f,
                "the server's memory budget for unfinished messages stayed full for {waited:?} \
                 (Config::inbound_memory_budget, Config::inbound_memory_wait)"
            ),
            Error::KeepaliveTimeout(timeout) => write!(
                f,
                "keepalive timeout: no answer to a ping within {timeout:?} (Config::ping_timeout)"
            ),
            Error::ControlTooLong { len } => {
                write!(
                    f,
                    "control frame payload of {len} bytes, over the limit of 125"
                )
            }
            Error::Timeout {
                step,
                address,
                limit,
            } => write!(
                f,
                "{step} with {address} timed out after {limit:?} (Config::handshake_timeout)"
            ),
            Error::InvalidUrl { url, reason } => {
                write!(f, "invalid WebSocket URL {url:?}: {reason}")
            }
            Error::TopicTooLong { len, max } => write!(
                f,
                "topic name of {len} bytes, over the limit of {max} (Config::max_topic_len)"
            ),
            Error::TooManySubscriptions(max) => write!(
                f,
                "the connection already has {max} subscriptions, the limit \
                 (Config::max_subscriptions_per_connection)"
            ),
            Error::TooManyTopics(max) => write!(
                f,
                "the server already holds {max} topics, the limit (Config::max_topics)"
            ),
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
            Error::Io(e) | Error::Connect { source: e, .. } | Error::Tls { source: e, .. } => {
                Some(e)
            }
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

impl fmt::Display for AcceptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcceptError::ProtocolNotOffered(p) => {
                write!(f, "subprotocol {} was not offered by the client", Quoted(p))
            }
            AcceptError::OriginMismatch { allowed, actual } => {
                write!(
                    f,
                    "origin {} is not the allowed origin {}",
                    Quoted(actual),
                    Quoted(allowed)
                )
            }
            AcceptError::Disconnected => f.write_str("the client disconnected"),
            AcceptError::DecisionTimeout => {
                f.write_str("the decision deadline passed; the request was rejected")
            }
            AcceptError::ShuttingDown => f.write_str("the server is shutting down"),
            AcceptError::Io(_) => f.write_str("I/O error while answering the request"),
            AcceptError::InvalidRawResponse(_) => f.write_str("invalid raw handshake response"),
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

/// Displays an error and each of its [`source`](std::error::Error::source)s,
/// outermost first, joined by `": "`: the whole story on one line, for a
/// log or a message to a user. Each layer of wsgate's errors names only its
/// own part, so nothing is printed twice.
///
/// # Examples
///
/// ```
/// use wsgate::{Error, ErrorChain};
///
/// let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
/// let e = Error::Connect { address: "127.0.0.1:9".into(), source: refused };
/// assert_eq!(e.to_string(), "cannot connect to 127.0.0.1:9");
/// assert_eq!(
///     ErrorChain(&e).to_string(),
///     "cannot connect to 127.0.0.1:9: connection refused"
/// );
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(e) = next {
            write!(f, ": {e}")?;
            next = e.source();
        }
        Ok(())
    }
}

/// The most bytes of user-supplied text (a URL, a header value) an error
/// message shows.
pub(crate) const SHOWN_MAX: usize = 200;

/// Displays user-supplied text quoted (as `{:?}` does), cut to
/// [`SHOWN_MAX`] bytes with `…` after the closing quote when longer.
pub(crate) struct Quoted<'a>(pub(crate) &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = cut(self.0);
        write!(f, "{:?}", &self.0[..end])?;
        if end < self.0.len() {
            f.write_str("…")?;
        }
        Ok(())
    }
}

/// The length of `text`'s first [`SHOWN_MAX`] bytes or fewer, ending at a
/// character boundary.
fn cut(text: &str) -> usize {
    let mut end = text.len().min(SHOWN_MAX);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// `text` cut to [`SHOWN_MAX`] bytes at a character boundary, with `…`
/// marking the cut.
pub(crate) fn bounded(text: &str) -> String {
    let end = cut(text);
    if end == text.len() {
        return text.to_owned();
    }
    format!("{}…", &text[..end])
}

/// `url` with any password replaced by `***`: the one in the user part
/// (`scheme://user:PASSWORD@host`, where the password may hold `/` or `@`)
/// and a `pass` or `password` query parameter; `None` when `url` has no
/// `scheme://`.
pub(crate) fn without_password(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    // A host has no '@': the user part ends at the last one.
    let (userinfo, tail) = match rest.rfind('@') {
        Some(at) => (Some(&rest[..at]), &rest[at..]),
        None => (None, rest),
    };
    let mut shown = format!("{scheme}://");
    if let Some(userinfo) = userinfo {
        match userinfo.split_once(':') {
            Some((user, _)) => shown.push_str(&format!("{user}:***")),
            None => shown.push_str(userinfo),
        }
    }
    let (path, query) = match tail.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (tail, None),
    };
    shown.push_str(path);
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((key, _)) if key == "pass" || key == "password" => format!("{key}=***"),
                _ => param.to_owned(),
            })
            .collect();
        shown.push('?');
        shown.push_str(&params.join("&"));
    }
    Some(shown)
}

/// Every public error type is an [`Error`](std::error::Error) that can
/// cross threads and be boxed as `Box<dyn Error + Send + Sync>`.
const _: () = {
    const fn is_error<T: std::error::Error + Send + Sync + 'static>() {}
    is_error::<Error>();
    is_error::<AcceptError>();
    is_error::<crate::ForwardError>();
    is_error::<crate::InvalidIpNet>();
    is_error::<ProtocolError>();
    is_error::<crate::protocol::HeaderError>();
    is_error::<crate::protocol::ClosePayloadError>();
    is_error::<crate::protocol::InvalidUtf8>();
    is_error::<HandshakeError>();
    is_error::<RawResponseError>();
    is_error::<crate::handshake::TokenError>();
    is_error::<crate::tls::TlsFailure>();
    is_error::<crate::tls::TlsFailureReason>();
    #[cfg(feature = "deflate")]
    {
        is_error::<crate::protocol::InflateError>();
        is_error::<crate::protocol::DeflateSettingError>();
        is_error::<crate::handshake::DeclineReason>();
        is_error::<crate::handshake::DeflateConfigError>();
        is_error::<crate::handshake::DeflateNegotiationError>();
        is_error::<crate::handshake::DeflateParamError>();
    }
    #[cfg(feature = "rustls")]
    is_error::<crate::tls::TlsConfigError>();
};

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;
    use crate::handshake::TokenError;
    use crate::protocol::{ClosePayloadError, HeaderError};

    fn refused() -> io::Error {
        io::ErrorKind::ConnectionRefused.into()
    }

    /// Errors of each layer, wrapped as the library wraps them.
    fn representative() -> Vec<Box<dyn std::error::Error + Send + Sync>> {
        #[cfg_attr(not(feature = "deflate"), allow(unused_mut))]
        let mut errors: Vec<Box<dyn std::error::Error + Send + Sync>> = vec![
            Box::new(Error::Io(refused())),
            Box::new(Error::Connect {
                address: "127.0.0.1:9".into(),
                source: refused(),
            }),
            Box::new(Error::Tls {
                address: "example.com:443".into(),
                source: io::Error::new(io::ErrorKind::InvalidData, "certificate expired"),
            }),
            Box::new(Error::Protocol(ProtocolError::Header(
                HeaderError::ReservedOpcode(3),
            ))),
            Box::new(Error::Protocol(ProtocolError::ClosePayload(
                ClosePayloadError::InvalidCode(1005),
            ))),
            Box::new(Error::Handshake(HandshakeError::InvalidExtensionsHeader(
                TokenError::UnexpectedEnd,
            ))),
            Box::new(AcceptError::Io(refused())),
            Box::new(AcceptError::InvalidRawResponse(
                RawResponseError::InvalidExtensions(TokenError::UnexpectedChar { at: 3 }),
            )),
            Box::new(crate::ForwardError::Connect {
                address: "10.0.0.1:22".into(),
                error: refused(),
            }),
            Box::new(crate::ForwardError::Accept(AcceptError::Io(refused()))),
        ];
        #[cfg(feature = "deflate")]
        {
            use crate::handshake::{DeclineReason, DeflateNegotiationError, DeflateParamError};
            let param = DeflateParamError::InvalidValue {
                name: "server_max_window_bits",
                value: "16".into(),
            };
            errors.push(Box::new(Error::Handshake(
                HandshakeError::InvalidDeflateResponse(DeflateNegotiationError::Param(
                    param.clone(),
                )),
            )));
            errors.push(Box::new(DeclineReason::Param(param.clone())));
            errors.push(Box::new(RawResponseError::InvalidDeflate(
                DeflateNegotiationError::Param(param),
            )));
        }
        #[cfg(feature = "rustls")]
        {
            use crate::tls::TlsConfigError;
            errors.push(Box::new(TlsConfigError::ReadFile {
                path: "/nowhere/cert.pem".into(),
                source: io::ErrorKind::NotFound.into(),
            }));
            errors.push(Box::new(TlsConfigError::InvalidCertificateOrKey(
                crate::tls::rustls::Error::General("key mismatch".into()),
            )));
        }
        errors
    }

    /// Each cause is printed once: no layer's text contains its source's.
    #[test]
    fn no_layer_repeats_its_source() {
        for error in representative() {
            let mut layer: &(dyn std::error::Error + 'static) = &*error;
            let mut depth = 0;
            while let Some(source) = layer.source() {
                let (outer, inner) = (layer.to_string(), source.to_string());
                assert!(
                    !outer.contains(&inner),
                    "{outer:?} repeats its source {inner:?} ({error:?})"
                );
                layer = source;
                depth += 1;
            }
            assert!(depth > 0, "{error:?} has no source: not a wrapper");
            // The chain still tells the whole story.
            let chain = ErrorChain(&*error).to_string();
            assert!(chain.ends_with(&layer.to_string()), "{chain}");
        }
    }

    #[test]
    fn connect_error_names_the_address() {
        let e = Error::Connect {
            address: "127.0.0.1:9".into(),
            source: refused(),
        };
        assert_eq!(e.to_string(), "cannot connect to 127.0.0.1:9");
        assert_eq!(e.source().unwrap().to_string(), refused().to_string());
        assert_eq!(
            ErrorChain(&e).to_string(),
            format!("cannot connect to 127.0.0.1:9: {}", refused())
        );
        let e = Error::Timeout {
            step: "TLS handshake",
            address: "[::1]:443".into(),
            limit: Duration::from_secs(5),
        };
        assert_eq!(
            e.to_string(),
            "TLS handshake with [::1]:443 timed out after 5s (Config::handshake_timeout)"
        );
    }

    #[test]
    fn limit_errors_name_the_limit_and_the_value() {
        let e = Error::TopicTooLong { len: 300, max: 256 };
        assert_eq!(
            e.to_string(),
            "topic name of 300 bytes, over the limit of 256 (Config::max_topic_len)"
        );
        let e = Error::ControlTooLong { len: 126 };
        assert_eq!(
            e.to_string(),
            "control frame payload of 126 bytes, over the limit of 125"
        );
        assert!(
            Error::TooManyTopics(10)
                .to_string()
                .contains("10 topics, the limit (Config::max_topics)")
        );
        assert!(
            Error::MemoryBudget(Duration::from_secs(10))
                .to_string()
                .contains("full for 10s (Config::inbound_memory_budget")
        );
        assert!(
            Error::QueueFull
                .to_string()
                .contains("Config::send_queue_high_water")
        );
        let e = ProtocolError::MessageTooLarge { limit: 1024 };
        assert_eq!(
            e.to_string(),
            "message larger than the max_message_size of 1024 bytes"
        );
    }

    #[test]
    fn header_errors_name_the_header_and_value() {
        let e = HandshakeError::InvalidProtocolHeader(TokenError::UnexpectedChar { at: 5 });
        assert_eq!(e.to_string(), "invalid Sec-WebSocket-Protocol header");
        assert_eq!(
            ErrorChain(&e).to_string(),
            "invalid Sec-WebSocket-Protocol header: unexpected character at byte 5"
        );
        let e = AcceptError::OriginMismatch {
            allowed: "https://a.example".into(),
            actual: "https://b.example".into(),
        };
        assert_eq!(
            e.to_string(),
            "origin \"https://b.example\" is not the allowed origin \"https://a.example\""
        );
    }

    /// A long value from a peer is cut in the message, never whole.
    #[test]
    fn long_values_are_cut() {
        let long = "é".repeat(1000);
        let e = HandshakeError::UnexpectedProtocol(long.clone());
        let text = e.to_string();
        assert!(text.len() < SHOWN_MAX + 100, "{} bytes", text.len());
        assert!(text.contains("\"…"), "{text}");
        assert_eq!(bounded(&long).len(), SHOWN_MAX + "…".len());
        assert_eq!(bounded("short"), "short");
    }

    #[test]
    fn urls_are_shown_without_their_password() {
        assert_eq!(
            without_password("wss://me:secret@example.com/chat?password=x&room=1").unwrap(),
            "wss://me:***@example.com/chat?password=***&room=1"
        );
        assert_eq!(without_password("example.com"), None);
    }
}
