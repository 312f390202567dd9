//! Node-style event handlers: a thin layer over the event stream.

use std::future::Future;
use std::pin::Pin;

use futures::StreamExt;

use super::event::{CloseEvent, Event};
use super::handle::Connection;
use crate::error::Error;
use crate::protocol::{Fragment, Message};

type Handler<T> = Box<dyn FnMut(T) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

fn boxed<T, F, Fut>(mut f: F) -> Handler<T>
where
    F: FnMut(T) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Box::new(move |value| Box::pin(f(value)))
}

/// Callbacks for a connection's events, in the style of Node's
/// `ws.on('message', …)`.
///
/// Register the handlers you need, then [`run`](Self::run) them (or
/// [`spawn`](Self::spawn) them on a task). They read the same
/// [`Events`](crate::Events) stream as any other reader: each handler is
/// awaited before the next event is read, so events are handled in order and
/// a slow handler applies backpressure to the peer. Events without a handler
/// are dropped (pings are still answered automatically).
///
/// # Examples
///
/// ```no_run
/// # async fn f(conn: wsgate::Connection) {
/// let sender = conn.clone();
/// conn.handlers()
///     .on_message(move |message| {
///         let sender = sender.clone();
///         async move {
///             let _ = sender.send(message).await;
///         }
///     })
///     .on_error(|error| async move { eprintln!("error: {error}") })
///     .on_close(|close| async move { println!("closed: {} {}", close.code, close.reason) })
///     .spawn();
/// # }
/// ```
pub struct EventHandlers {
    conn: Connection,
    message: Option<Handler<Message>>,
    fragment: Option<Handler<Fragment>>,
    ping: Option<Handler<Vec<u8>>>,
    pong: Option<Handler<Vec<u8>>>,
    close: Option<Handler<CloseEvent>>,
    error: Option<Handler<Error>>,
    drain: Option<Handler<()>>,
}

impl<S> Connection<S> {
    /// Node-style event handlers over [`events`](Self::events).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(conn: wsgate::Connection) {
    /// let echo = conn.clone();
    /// conn.handlers()
    ///     .on_message(move |message| {
    ///         let echo = echo.clone();
    ///         async move { let _ = echo.send(message).await; }
    ///     })
    ///     .on_close(|close| async move { println!("closed: {}", close.code) })
    ///     .run()
    ///     .await;
    /// # }
    /// ```
    pub fn handlers(&self) -> EventHandlers {
        EventHandlers::new(self.untyped())
    }
}

impl EventHandlers {
    pub(crate) fn new(conn: Connection) -> EventHandlers {
        EventHandlers {
            conn,
            message: None,
            fragment: None,
            ping: None,
            pong: None,
            close: None,
            error: None,
            drain: None,
        }
    }

    /// Called with each complete text or binary message.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// conn.handlers().on_message(|m| async move { println!("{} bytes", m.len()) }).spawn();
    /// # }
    /// ```
    pub fn on_message<F, Fut>(mut self, f: F) -> Self
    where
        F: FnMut(Message) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.message = Some(boxed(f));
        self
    }

    /// Called with each frame when message assembly is off.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// conn.handlers().on_fragment(|f| async move { println!("{} bytes, last: {}", f.data.len(), f.last) }).spawn();
    /// # }
    /// ```
    pub fn on_fragment<F, Fut>(mut self, f: F) -> Self
    where
        F: FnMut(Fragment) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.fragment = Some(boxed(f));
        self
    }

    /// Called with each ping's payload.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// conn.handlers().on_ping(|p| async move { println!("ping {p:?}") }).spawn();
    /// # }
    /// ```
    pub fn on_ping<F, Fut>(mut self, f: F) -> Self
    where
        F: FnMut(Vec<u8>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.ping = Some(boxed(f));
        self
    }

    /// Called with each pong's payload.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// conn.handlers().on_pong(|p| async move { println!("pong {p:?}") }).spawn();
    /// # }
    /// ```
    pub fn on_pong<F, Fut>(mut self, f: F) -> Self
    where
        F: FnMut(Vec<u8>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.pong = Some(boxed(f));
        self
    }

    /// Called once when the connection closes.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// conn.handlers().on_close(|c| async move { println!("{} clean: {}", c.code, c.clean) }).spawn();
    /// # }
    /// ```
    pub fn on_close<F, Fut>(mut self, f: F) -> Self
    where
        F: FnMut(CloseEvent) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.close = Some(boxed(f));
        self
    }

    /// Called with each error (a close follows).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// conn.handlers().on_error(|e| async move { eprintln!("{e}") }).spawn();
    /// # }
    /// ```
    pub fn on_error<F, Fut>(mut self, f: F) -> Self
    where
        F: FnMut(Error) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.error = Some(boxed(f));
        self
    }

    /// Called when the send queue has drained after meeting its high-water
    /// mark.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// conn.handlers().on_drain(|()| async move { println!("ready for more") }).spawn();
    /// # }
    /// ```
    pub fn on_drain<F, Fut>(mut self, f: F) -> Self
    where
        F: FnMut(()) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.drain = Some(boxed(f));
        self
    }

    /// Reads events and calls the handlers until the connection closes.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(conn: wsgate::Connection) {
    /// conn.handlers().on_message(|m| async move { println!("{m:?}") }).run().await;
    /// # }
    /// ```
    pub async fn run(mut self) {
        let mut events = self.conn.events();
        while let Some(event) = events.next().await {
            let call = match event {
                Event::Message(m) => self.message.as_mut().map(|h| h(m)),
                Event::Fragment(f) => self.fragment.as_mut().map(|h| h(f)),
                Event::Ping(p) => self.ping.as_mut().map(|h| h(p)),
                Event::Pong(p) => self.pong.as_mut().map(|h| h(p)),
                Event::Close(c) => self.close.as_mut().map(|h| h(c)),
                Event::Error(e) => self.error.as_mut().map(|h| h(e)),
                Event::Drain => self.drain.as_mut().map(|h| h(())),
            };
            if let Some(call) = call {
                call.await;
            }
        }
    }

    /// Runs the handlers on a new task, on the connection's runtime; the
    /// handle resolves once the connection has closed (dropping it lets
    /// the task run on).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(conn: wsgate::Connection) {
    /// let task = conn.handlers().on_close(|_| async {}).spawn();
    /// task.await; // resolves once the connection has closed
    /// # }
    /// ```
    pub fn spawn(self) -> crate::runtime::JoinHandle<()> {
        let runtime = self.conn.shared().runtime.clone();
        runtime.spawn(self.run())
    }
}

impl std::fmt::Debug for EventHandlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventHandlers")
            .field("connection", &self.conn.id())
            .finish_non_exhaustive()
    }
}
