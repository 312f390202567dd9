//! What a forward tells the application: how it ended
//! ([`ForwardReport`], [`ForwardEnd`]) or why it never started
//! ([`ForwardError`]).

use std::fmt;
use std::io;
use std::time::Duration;

use crate::connection::CloseEvent;
use crate::error::AcceptError;

/// How a forwarded connection went, from
/// [`WebSocketRequest::forward`](crate::WebSocketRequest::forward).
///
/// # Examples
///
/// ```
/// use wsgate::{CloseCode, CloseEvent, ForwardEnd, ForwardReport};
///
/// let close = CloseEvent { code: CloseCode::NORMAL, reason: String::new(), clean: true };
/// let report = ForwardReport::new(6, 7, ForwardEnd::BackendClosed, close);
/// assert_eq!(report.to_string(), "the backend closed; 6 bytes to the backend, 7 to the client");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ForwardReport {
    /// Bytes written to the backend: the payloads of the client's messages.
    pub to_backend: u64,
    /// Bytes read from the backend and sent to the client as messages.
    pub to_client: u64,
    /// What ended it.
    pub end: ForwardEnd,
    /// How the WebSocket connection closed.
    pub close: CloseEvent,
    /// From the 101 to the end.
    pub duration: Duration,
}

impl ForwardReport {
    /// A report; for tests of code that consumes reports.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::{CloseCode, CloseEvent, ForwardEnd, ForwardReport};
    ///
    /// let close = CloseEvent { code: CloseCode::NORMAL, reason: String::new(), clean: true };
    /// let report = ForwardReport::new(1, 2, ForwardEnd::Idle, close);
    /// assert_eq!((report.to_backend, report.to_client), (1, 2));
    /// ```
    pub fn new(to_backend: u64, to_client: u64, end: ForwardEnd, close: CloseEvent) -> Self {
        ForwardReport {
            to_backend,
            to_client,
            end,
            close,
            duration: Duration::ZERO,
        }
    }
}

impl fmt::Display for ForwardReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}; {} bytes to the backend, {} to the client",
            self.end, self.to_backend, self.to_client
        )
    }
}

/// What ended a forwarded connection, and the close code the client got.
///
/// # Examples
///
/// ```
/// use wsgate::{CloseCode, ForwardEnd};
///
/// assert_eq!(ForwardEnd::BackendClosed.close_code(), Some(CloseCode::NORMAL));
/// assert_eq!(ForwardEnd::TextRefused.close_code(), Some(CloseCode::UNSUPPORTED_DATA));
/// assert_eq!(ForwardEnd::ClientClosed.close_code(), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForwardEnd {
    /// The backend ended its stream: what it sent was delivered, then the
    /// client got 1000.
    BackendClosed,
    /// Reading from or writing to the backend failed (what failed, e.g.
    /// [`ConnectionReset`](io::ErrorKind::ConnectionReset)): the client
    /// got 1011.
    BackendFailed(io::ErrorKind),
    /// The client closed, or its connection failed or dropped
    /// ([`ForwardReport::close`] tells which); the backend socket was shut
    /// down and closed.
    ClientClosed,
    /// The client sent a text message and text is not forwarded
    /// ([`Forward::forward_text`](crate::Forward::forward_text)): the
    /// client got 1003.
    TextRefused,
    /// Nothing went either way for the idle timeout: the client got 1001.
    Idle,
}

impl ForwardEnd {
    /// The close code wsgate sent the client for this end; `None` when the
    /// client ended it.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::{CloseCode, ForwardEnd};
    ///
    /// assert_eq!(ForwardEnd::Idle.close_code(), Some(CloseCode::GOING_AWAY));
    /// ```
    pub fn close_code(&self) -> Option<crate::CloseCode> {
        use crate::CloseCode;
        match self {
            ForwardEnd::BackendClosed => Some(CloseCode::NORMAL),
            ForwardEnd::BackendFailed(_) => Some(CloseCode::INTERNAL_ERROR),
            ForwardEnd::ClientClosed => None,
            ForwardEnd::TextRefused => Some(CloseCode::UNSUPPORTED_DATA),
            ForwardEnd::Idle => Some(CloseCode::GOING_AWAY),
        }
    }
}

impl fmt::Display for ForwardEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForwardEnd::BackendClosed => f.write_str("the backend closed"),
            ForwardEnd::BackendFailed(kind) => write!(f, "the backend failed: {kind}"),
            ForwardEnd::ClientClosed => f.write_str("the client closed"),
            ForwardEnd::TextRefused => f.write_str("the client sent text, which is not forwarded"),
            ForwardEnd::Idle => f.write_str("idle"),
        }
    }
}

/// Why a forward never started. In each case the client got an HTTP error
/// response, never a 101, and the backend socket (if any) was closed.
///
/// # Examples
///
/// ```
/// use wsgate::ForwardError;
///
/// let e = ForwardError::InvalidAddress("no-port".into());
/// assert_eq!(e.status(), Some(500));
/// assert_eq!(e.to_string(), "backend address \"no-port\" is not host:port");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ForwardError {
    /// The backend address is not `host:port`; the client got 500.
    InvalidAddress(String),
    /// Connecting to the backend failed (refused, unreachable, no such
    /// host); the client got 502 Bad Gateway.
    Connect {
        /// The backend address.
        address: String,
        /// What the connect returned.
        error: io::Error,
    },
    /// The backend did not answer within the connect timeout; the client
    /// got 504 Gateway Timeout.
    ConnectTimeout {
        /// The backend address.
        address: String,
        /// The timeout that passed.
        timeout: Duration,
    },
    /// The opening handshake could not be completed: the client left, the
    /// decision deadline passed while the backend was being connected
    /// (the client got 503), the subprotocol was not offered, or the
    /// server is shutting down; the client got the status `accept` sends.
    Accept(AcceptError),
}

impl ForwardError {
    /// The HTTP status the client got, when wsgate answered it (an
    /// [`Accept`](Self::Accept) error after the client left has none).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use wsgate::ForwardError;
    ///
    /// let e = ForwardError::ConnectTimeout { address: "10.0.0.1:22".into(), timeout: Duration::from_secs(5) };
    /// assert_eq!(e.status(), Some(504));
    /// ```
    pub fn status(&self) -> Option<u16> {
        match self {
            ForwardError::InvalidAddress(_) => Some(500),
            ForwardError::Connect { .. } => Some(502),
            ForwardError::ConnectTimeout { .. } => Some(504),
            ForwardError::Accept(AcceptError::ProtocolNotOffered(_)) => Some(500),
            ForwardError::Accept(AcceptError::OriginMismatch { .. }) => Some(403),
            ForwardError::Accept(AcceptError::ShuttingDown | AcceptError::DecisionTimeout) => {
                Some(503)
            }
            ForwardError::Accept(_) => None,
        }
    }
}

impl fmt::Display for ForwardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForwardError::InvalidAddress(a) => write!(f, "backend address {a:?} is not host:port"),
            ForwardError::Connect { address, .. } => {
                write!(f, "cannot connect to backend {address}")
            }
            ForwardError::ConnectTimeout { address, timeout } => {
                write!(f, "backend {address} did not answer within {timeout:?}")
            }
            ForwardError::Accept(_) => f.write_str("the client's opening handshake failed"),
        }
    }
}

impl std::error::Error for ForwardError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ForwardError::Connect { error, .. } => Some(error),
            ForwardError::Accept(e) => Some(e),
            _ => None,
        }
    }
}
