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
    /// Something went wrong; a [`Close`](Event::Close) event follows.
    Error(Error),
}

/// How a connection closed.
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
    /// The code from the peer's close frame; [`CloseCode::NO_STATUS`] when
    /// its frame had none; the code this end failed the connection with
    /// after a protocol error; or [`CloseCode::ABNORMAL`] when the connection
    /// dropped without a close frame.
    pub code: CloseCode,
    /// The reason from the peer's close frame (or this end's, on failure).
    pub reason: String,
    /// Whether the peer's close frame arrived: the closing handshake
    /// completed.
    pub clean: bool,
}
