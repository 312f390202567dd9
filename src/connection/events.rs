//! The event stream: [`Events`], the connection's reading side, and
//! [`Connection::events`]. Each poll runs the read loop (`read.rs`).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use futures::lock::{Mutex, OwnedMutexGuard, OwnedMutexLockFuture};

use super::event::Event;
use super::handle::Connection;
use super::reader::Reader;

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
        Events::new(self.untyped(), &self.shared().reader)
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
    Waiting(OwnedMutexLockFuture<Reader>),
    Holding(OwnedMutexGuard<Reader>),
}

impl Events {
    pub(crate) fn new(conn: Connection, reader: &Arc<Mutex<Reader>>) -> Events {
        Events {
            conn,
            state: State::Waiting(reader.clone().lock_owned()),
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
        if let State::Waiting(lock) = &mut this.state {
            let guard = match Pin::new(lock).poll(cx) {
                Poll::Ready(guard) => guard,
                Poll::Pending => return Poll::Pending,
            };
            this.state = State::Holding(guard);
        }
        let State::Holding(reader) = &mut this.state else {
            unreachable!("the lock was taken above");
        };
        reader.poll_event(this.conn.shared(), cx)
    }
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("connection", &self.conn.id())
            .finish()
    }
}
