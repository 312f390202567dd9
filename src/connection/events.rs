//! The event stream: [`Events`], the connection's reading side, and
//! [`Connection::events`]. Each poll runs the read loop (`read.rs`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use event_listener::EventListener;
use futures::Stream;

use super::event::Event;
use super::handle::Connection;

impl<S> Connection<S> {
    /// The stream of incoming events.
    ///
    /// One event stream reads at a time: a second `Events` waits until the
    /// first is dropped. The stream ends after [`Event::Close`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use futures::StreamExt;
    /// use wsgate::Event;
    ///
    /// # async fn f(conn: wsgate::Connection) {
    /// let mut events = conn.events();
    /// while let Some(event) = events.next().await {
    ///     match event {
    ///         Event::Message(m) => println!("{} bytes", m.len()),
    ///         Event::Close(c) => println!("closed with {}", c.code),
    ///         _ => {}
    ///     }
    /// }
    /// # }
    /// ```
    pub fn events(&self) -> Events {
        Events::new(self.untyped())
    }
}

/// The stream of a connection's [`Event`]s, from
/// [`Connection::events`](crate::Connection::events).
///
/// Holding an `Events` holds the connection's reading side; another `Events`
/// for the same connection waits until this one is dropped. The stream ends
/// after the [`Event::Close`] event.
///
/// # Examples
///
/// ```no_run
/// use futures::StreamExt;
///
/// # async fn f(conn: wsgate::Connection) {
/// let mut events = conn.events();
/// while let Some(event) = events.next().await {
///     println!("{event:?}");
/// }
/// # }
/// ```
pub struct Events {
    conn: Connection,
    state: State,
}

enum State {
    /// Waiting for the turn (listening for its release once it was seen
    /// taken).
    Waiting(Option<EventListener>),
    /// Holding the turn: this stream reads.
    Holding,
}

impl Events {
    pub(crate) fn new(conn: Connection) -> Events {
        Events {
            conn,
            state: State::Waiting(None),
        }
    }

    /// The connection these events belong to.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// let events = conn.events();
    /// assert_eq!(events.connection().id(), conn.id());
    /// # }
    /// ```
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

impl Stream for Events {
    type Item = Event;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        let this = self.get_mut();
        let shared = this.conn.shared();
        while let State::Waiting(listener) = &mut this.state {
            if shared.reader.try_take_turn() {
                this.state = State::Holding;
            } else if let Some(waiting) = listener {
                if Pin::new(waiting).poll(cx).is_pending() {
                    return Poll::Pending;
                }
                *listener = None;
            } else {
                // Listen, then try once more: a release in between is not
                // missed.
                *listener = Some(shared.reader.listen());
            }
        }
        shared.reader.lock().poll_event(shared, cx)
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        if let State::Holding = self.state {
            let shared = self.conn.shared();
            shared.reader.lock().uncork(shared, None);
            shared.reader.give_back_turn();
        }
    }
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("connection", &self.conn.id())
            .finish()
    }
}
