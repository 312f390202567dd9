//! [`Server::serve`]: the request loop on a task of its own, with a task per
//! request.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::FutureExt;
use futures::StreamExt;
use futures::channel::oneshot;

use super::Server;
use super::request::WebSocketRequest;
use crate::runtime::JoinHandle;

impl Server {
    /// Runs `handler` on a task of its own (on the server's
    /// [`Runtime`](crate::runtime::Runtime)) for every request, until the
    /// server stops; the returned future resolves then.
    ///
    /// It is the loop `while let Some(r) = server.next().await {
    /// task::spawn(handler(r)); }`, with the loop itself running on a task:
    /// a request then reaches its handler on the executor's threads. The
    /// same loop awaited directly in `main` (`#[async_std::main]`,
    /// `#[tokio::main]` or `block_on`) runs on the main thread instead, and every request
    /// crosses threads twice on its way to the handler, which costs about
    /// half as much server CPU again per handshake (see the guide's
    /// Performance chapter).
    ///
    /// The server stops when [`ServerHandle::shutdown`] or
    /// [`ServerHandle::stop_listening`] is called, or when the returned
    /// future is dropped (as dropping the [`Server`] does; open connections
    /// are not affected). Requests still queued when the future is dropped
    /// are answered with 503, as any request dropped undecided is.
    ///
    /// [`ServerHandle::shutdown`]: crate::ServerHandle::shutdown
    /// [`ServerHandle::stop_listening`]: crate::ServerHandle::stop_listening
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use futures::StreamExt;
    /// use wsgate::{Event, Server};
    ///
    /// # wsgate::runtime::block_on(async {
    /// let server = Server::bind("127.0.0.1:9001").await?;
    /// server
    ///     .serve(|request| async move {
    ///         let Ok(conn) = request.accept(None, None).await else { return };
    ///         let mut events = conn.events();
    ///         while let Some(Event::Message(m)) = events.next().await {
    ///             let _ = conn.send(m).await;
    ///         }
    ///     })
    ///     .await;
    /// # Ok::<(), std::io::Error>(()) });
    /// ```
    pub fn serve<F, Fut>(self, handler: F) -> Serve
    where
        F: FnMut(WebSocketRequest) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel();
        let runtime = self.inner.runtime.clone();
        let task = runtime.spawn(request_loop(self, handler, stopped));
        Serve { task, _stop: stop }
    }

    /// Runs the [`Router`](crate::Router) given to
    /// [`ServerBuilder::router`](crate::ServerBuilder::router) for every
    /// request, as [`serve`](Self::serve) runs a handler: each request on
    /// a task of its own, dispatched to its route's handler (or rejected
    /// with 404 or 400). Without a router, every request gets 404.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # wsgate::runtime::block_on(async {
    /// let router = wsgate::Router::new().websocket("/", |request, _| async move {
    ///     request.accept_default().await.ok();
    /// });
    /// let server = wsgate::Server::builder().router(router).bind("127.0.0.1:9001").await?;
    /// server.serve_routes().await;
    /// # Ok::<(), std::io::Error>(()) });
    /// ```
    pub fn serve_routes(self) -> Serve {
        let router = self.router.clone();
        self.serve(move |request| router.dispatch(request))
    }
}

/// Takes requests until the server stops or `stopped` fires (its sender,
/// held by [`Serve`], is dropped); dropping the server then stops it.
async fn request_loop<F, Fut>(
    mut server: Server,
    mut handler: F,
    mut stopped: oneshot::Receiver<()>,
) where
    F: FnMut(WebSocketRequest) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        let next = std::future::poll_fn(|cx| {
            if stopped.poll_unpin(cx).is_ready() {
                return Poll::Ready(None);
            }
            server.poll_next_unpin(cx)
        });
        match next.await {
            Some(request) => server.inner.runtime.spawn_detached(handler(request)),
            None => break,
        }
    }
}

/// The future returned by [`Server::serve`]: resolves when the server has
/// stopped; dropping it stops the server.
///
/// # Examples
///
/// ```no_run
/// # wsgate::runtime::block_on(async {
/// let server = wsgate::Server::bind("127.0.0.1:9001").await?;
/// let handle = server.handle();
/// let serving: wsgate::Serve = server.serve(|request| async move {
///     let _ = request.accept(None, None).await;
/// });
/// handle.stop_listening();
/// serving.await;
/// # Ok::<(), std::io::Error>(()) });
/// ```
#[must_use = "the server stops when this future is dropped"]
#[derive(Debug)]
pub struct Serve {
    task: JoinHandle<()>,
    /// Dropped with the future: tells the loop to stop.
    _stop: oneshot::Sender<()>,
}

impl Future for Serve {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.task).poll(cx)
    }
}
