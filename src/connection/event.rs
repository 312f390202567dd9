//! What a connection's event stream yields: [`Event`] and [`CloseEvent`].

use crate::error::Error;
use crate::protocol::{CloseCode, Fragment, Message};

/// Something that happened on a connection.
///
/// # Examples
///
/// ```
/// use wsgate::{Event, Message};
///
/// let event = Event::Message(Message::from("hi"));
/// assert!(matches!(event, Event::Message(Message::Text(ref t)) if t == "hi"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// A complete text or binary message.
    Message(Message),
    /// One frame of a message, when
    /// [`Config::assemble_messages`](crate::Config::assemble_messages) is off.
    Fragment(Fragment),
    /// The peer sent a ping (already answered when
    /// [`Config::auto_pong`](crate::Config::auto_pong) is on).
    Ping(Vec<u8>),
    /// The peer sent a pong.
    Pong(Vec<u8>),
    /// The send queue drained to its low-water mark after a sender met the
    /// high-water mark (Node's `drain`): a good moment to send more.
    Drain,
    /// The connection closed; always the last event.
    Close(CloseEvent),
    /// Something went wrong; a [`Close`](Event::Close) event follows. Every
    /// close this end begins because of an error comes after one: a
    /// protocol error or a limit ([`Error::Protocol`]), a keepalive timeout
    /// ([`Error::KeepaliveTimeout`]), a send-queue policy close
    /// ([`Error::QueueFull`]), a failed message source
    /// ([`Error::Io`]); a failed socket is one too ([`Error::Io`]). Normal
    /// closes (yours, the peer's, a shutdown, a disconnect, the idle
    /// timeout) come without one.
    Error(Error),
}

/// How a connection closed: the close frame that began the closing
/// handshake, as it went on the wire, and whether the handshake completed.
///
/// | path | `code`, `reason` | `clean` |
/// |---|---|---|
/// | the peer closed (its close is echoed, code and reason) | the peer's; 1005 and `""` when its frame had no code | `true` |
/// | this end closed: [`Connection::close`](crate::Connection::close), [`ServerHandle::disconnect`](crate::ServerHandle::disconnect), [`ServerHandle::shutdown`](crate::ServerHandle::shutdown) (1001 "server shutting down") | the ones sent | whether the peer answered |
/// | this end failed the connection: a protocol error or limit (1002, 1007, 1009, ...), a keepalive timeout (1011 "keepalive timeout"), the idle timeout (1001 "idle timeout"), a send-queue policy (1008 "send queue full") | the ones sent | whether the peer answered (`false` after a protocol error: nothing is decoded after it) |
/// | no close frame went either way: the socket dropped, or this end's close frame could not be written before the close timeout (a peer that reads nothing) | 1006 [`CloseCode::ABNORMAL`], `""` | `false` |
///
/// When this end closes, the peer's answer does not replace the close
/// reported, even if its code differs. The same code is logged and counted
/// in [`MetricsSnapshot`](crate::MetricsSnapshot)'s closes.
///
/// # Examples
///
/// ```
/// use wsgate::{CloseCode, CloseEvent};
///
/// let close = CloseEvent { code: CloseCode::NORMAL, reason: "bye".into(), clean: true };
/// assert!(close.clean);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseEvent {
    /// The code of the close frame that began the closing handshake: the
    /// peer's ([`CloseCode::NO_STATUS`] when its frame had none) or this
    /// end's, whichever came first; [`CloseCode::ABNORMAL`] when no close
    /// frame went either way.
    pub code: CloseCode,
    /// That frame's reason, as it went on the wire (cut to 123 bytes);
    /// empty with [`CloseCode::ABNORMAL`].
    pub reason: String,
    /// Whether the peer's close frame arrived: the closing handshake
    /// completed. When the peer began it, always `true`; when this end
    /// did, whether the peer answered before the connection ended.
    pub clean: bool,
}
