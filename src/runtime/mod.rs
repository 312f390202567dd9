//! The one seam between wsgate and an async runtime: spawning, timers, TCP
//! sockets registered with a reactor, and blocking work. No other module
//! names a runtime.
//!
//! Three runtimes sit behind it, each chosen by a cargo feature:
//!
//! | feature | tasks | sockets and timers | blocking work |
//! |---|---|---|---|
//! | `async-std` (default) | async-std's executor | async-io's reactor | async-std's blocking pool |
//! | `smol` | smol's global executor | async-io's reactor | smol's `unblock` pool |
//! | `tokio` | the tokio runtime it was started in | tokio's reactor (edge-triggered `AsyncFd`) and `tokio::time` | `spawn_blocking` |
//!
//! A [`Runtime`] value says which one a server or client uses. Every task
//! wsgate spawns for that server or client (the accept loops, each
//! handshake, [`Server::serve`](crate::Server::serve)'s handlers, each
//! connection's writer) runs there, and every socket and timer it makes is
//! registered there; no second executor is started behind the
//! application's back.
//!
//! With one runtime feature, [`Runtime::current`] is that runtime. With
//! several, it is tokio when called from inside a tokio runtime, otherwise
//! async-std if its feature is on, otherwise smol;
//! [`ServerBuilder::runtime`](crate::ServerBuilder::runtime) and
//! [`Client::runtime`](crate::Client::runtime) choose explicitly.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::channel::oneshot;

#[cfg(any(feature = "async-std", feature = "smol"))]
mod async_io;
#[cfg(feature = "async-std")]
mod async_std;
mod clock;
mod registered;
#[cfg(feature = "smol")]
mod smol;
mod source;
mod timer;
#[cfg(feature = "tokio")]
mod tokio;

pub use clock::Clock;
pub(crate) use registered::Registered;
pub(crate) use timer::Timer;

#[cfg(not(any(feature = "async-std", feature = "smol", feature = "tokio")))]
compile_error!(
    "wsgate needs a runtime: enable one of the features `async-std` (default), `smol`, `tokio`"
);

#[cfg(all(feature = "tokio", not(unix)))]
compile_error!(
    "wsgate's `tokio` feature registers sockets with tokio's `AsyncFd`, which is Unix-only"
);

/// The async runtime a server or client runs on: where wsgate spawns its
/// tasks and registers its sockets and timers.
///
/// Cheap to clone. See the [module docs](self) for what each runtime runs
/// and how the default is chosen.
///
/// # Examples
///
/// ```
/// let runtime = wsgate::runtime::Runtime::current();
/// # #[cfg(all(feature = "async-std", not(feature = "tokio")))]
/// assert_eq!(runtime.name(), "async-std");
/// let builder = wsgate::Server::builder().runtime(runtime);
/// ```
#[derive(Clone)]
pub struct Runtime {
    kind: Kind,
    /// A manual clock for every time and timer, instead of the real one.
    clock: Option<Clock>,
}

#[derive(Clone)]
enum Kind {
    #[cfg(feature = "async-std")]
    AsyncStd,
    #[cfg(feature = "smol")]
    Smol,
    #[cfg(feature = "tokio")]
    Tokio(::tokio::runtime::Handle),
}

impl Runtime {
    /// async-std: its executor for tasks, async-io's reactor for sockets
    /// and timers.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "async-std")] {
    /// assert_eq!(wsgate::runtime::Runtime::async_std().name(), "async-std");
    /// # }
    /// ```
    #[cfg(feature = "async-std")]
    pub fn async_std() -> Runtime {
        Runtime {
            kind: Kind::AsyncStd,
            clock: None,
        }
    }

    /// smol: its global executor for tasks (threads as `SMOL_THREADS`
    /// says), async-io's reactor for sockets and timers.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "smol")] {
    /// assert_eq!(wsgate::runtime::Runtime::smol().name(), "smol");
    /// # }
    /// ```
    #[cfg(feature = "smol")]
    pub fn smol() -> Runtime {
        Runtime {
            kind: Kind::Smol,
            clock: None,
        }
    }

    /// The tokio runtime this is called from: tasks on its executor,
    /// sockets on its reactor, timers from its clock.
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime (as `tokio::spawn` would); see
    /// [`try_tokio`](Self::try_tokio).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "tokio")] {
    /// let tokio = tokio::runtime::Runtime::new().unwrap();
    /// tokio.block_on(async {
    ///     assert_eq!(wsgate::runtime::Runtime::tokio().name(), "tokio");
    /// });
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub fn tokio() -> Runtime {
        Runtime::try_tokio()
            .expect("wsgate::runtime::Runtime::tokio() must be called from inside a tokio runtime")
    }

    /// The tokio runtime this is called from, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "tokio")]
    /// assert!(wsgate::runtime::Runtime::try_tokio().is_none());
    /// ```
    #[cfg(feature = "tokio")]
    pub fn try_tokio() -> Option<Runtime> {
        let handle = ::tokio::runtime::Handle::try_current().ok()?;
        Some(Runtime {
            kind: Kind::Tokio(handle),
            clock: None,
        })
    }

    /// The default runtime: with one runtime feature, that one; with
    /// several, tokio when called from inside a tokio runtime, otherwise
    /// async-std if its feature is on, otherwise smol.
    ///
    /// # Panics
    ///
    /// With `tokio` as the only runtime feature, when called outside a
    /// tokio runtime (and so do [`Server::bind`](crate::Server::bind),
    /// [`ServerBuilder::build`](crate::ServerBuilder::build),
    /// [`Client::connect`](crate::Client::connect) and
    /// [`TcpTransport::new`](crate::TcpTransport::new) without an explicit
    /// runtime).
    ///
    /// # Examples
    ///
    /// ```
    /// let runtime = wsgate::runtime::Runtime::current();
    /// println!("wsgate runs on {}", runtime.name());
    /// ```
    pub fn current() -> Runtime {
        #[cfg(feature = "tokio")]
        if let Some(runtime) = Runtime::try_tokio() {
            return runtime;
        }
        #[cfg(feature = "async-std")]
        return Runtime::async_std();
        #[cfg(all(feature = "smol", not(feature = "async-std")))]
        return Runtime::smol();
        #[cfg(not(any(feature = "async-std", feature = "smol")))]
        panic!(
            "wsgate is built with only the `tokio` runtime feature: create servers and \
             clients from inside a tokio runtime"
        );
    }

    /// The runtime's name: `"async-std"`, `"smol"` or `"tokio"`.
    ///
    /// # Examples
    ///
    /// ```
    /// let name = wsgate::runtime::Runtime::current().name();
    /// assert!(["async-std", "smol", "tokio"].contains(&name));
    /// ```
    pub fn name(&self) -> &'static str {
        match self.kind {
            #[cfg(feature = "async-std")]
            Kind::AsyncStd => "async-std",
            #[cfg(feature = "smol")]
            Kind::Smol => "smol",
            #[cfg(feature = "tokio")]
            Kind::Tokio(_) => "tokio",
        }
    }

    /// Runs `future` as a task of its own; the handle yields its output.
    /// Dropping the handle lets the task run on, detached.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::runtime::{Runtime, block_on};
    ///
    /// let answer = block_on(async { Runtime::current().spawn(async { 6 * 7 }).await });
    /// assert_eq!(answer, 42);
    /// ```
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (sender, receiver) = oneshot::channel();
        self.spawn_detached(async move {
            let _ = sender.send(future.await);
        });
        JoinHandle { receiver }
    }

    /// Runs `future` as a task of its own, with no handle: the form every
    /// task inside wsgate takes (no channel allocated for an output nobody
    /// reads).
    pub(crate) fn spawn_detached(&self, future: impl Future<Output = ()> + Send + 'static) {
        match &self.kind {
            #[cfg(feature = "async-std")]
            Kind::AsyncStd => async_std::spawn(future),
            #[cfg(feature = "smol")]
            Kind::Smol => smol::spawn(future),
            #[cfg(feature = "tokio")]
            Kind::Tokio(handle) => tokio::spawn(handle, future),
        }
    }

    /// Lets the other tasks that are ready run, then resumes: a task doing
    /// a long piece of CPU work (compressing a large message) calls it
    /// between chunks. It needs no runtime call: waking itself and
    /// returning `Pending` puts the task behind the others on every
    /// runtime here (tokio gives a self-woken task at most three turns in
    /// a row from its LIFO slot before it queues it at the back).
    #[cfg(any(feature = "deflate", feature = "redis"))]
    pub(crate) async fn yield_now() {
        let mut yielded = false;
        std::future::poll_fn(|cx| {
            if yielded {
                return Poll::Ready(());
            }
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        })
        .await
    }

    /// Runs the blocking `work` on the runtime's blocking pool.
    pub(crate) async fn unblock<T, W>(&self, work: W) -> T
    where
        W: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        match &self.kind {
            #[cfg(feature = "async-std")]
            Kind::AsyncStd => async_std::unblock(work).await,
            #[cfg(feature = "smol")]
            Kind::Smol => smol::unblock(work).await,
            #[cfg(feature = "tokio")]
            Kind::Tokio(handle) => tokio::unblock(handle, work).await,
        }
    }

    /// Waits for `duration`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use wsgate::runtime::{Runtime, block_on};
    ///
    /// block_on(async {
    ///     let start = Instant::now();
    ///     Runtime::current().sleep(Duration::from_millis(10)).await;
    ///     assert!(start.elapsed() >= Duration::from_millis(10));
    /// });
    /// ```
    pub fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send + Unpin + use<> {
        self.timer_at(self.now() + duration)
    }

    /// The same runtime (its tasks, sockets and blocking pool), with its
    /// time read from `clock` and its timers fired by it: a server or
    /// client built on it keeps every deadline (keepalive, idle, close,
    /// handshake and decision timeouts) on that clock, which moves only
    /// with [`Clock::advance`]. For tests; see [`crate::testing`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use wsgate::runtime::{Clock, Runtime};
    ///
    /// let clock = Clock::new();
    /// let runtime = Runtime::current().with_clock(clock.clone());
    /// assert_eq!(runtime.now(), clock.now());
    /// assert_eq!(runtime.clock(), Some(&clock));
    /// ```
    pub fn with_clock(&self, clock: Clock) -> Runtime {
        Runtime {
            kind: self.kind.clone(),
            clock: Some(clock),
        }
    }

    /// The manual clock this runtime keeps time with, if any
    /// ([`with_clock`](Self::with_clock)).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(wsgate::runtime::Runtime::current().clock().is_none());
    /// ```
    pub fn clock(&self) -> Option<&Clock> {
        self.clock.as_ref()
    }

    /// The time now on this runtime's clock: the real time, or its
    /// [manual clock](Self::with_clock)'s.
    ///
    /// # Examples
    ///
    /// ```
    /// let runtime = wsgate::runtime::Runtime::current();
    /// assert!(runtime.now() <= std::time::Instant::now());
    /// ```
    pub fn now(&self) -> Instant {
        match &self.clock {
            Some(clock) => clock.now(),
            None => Instant::now(),
        }
    }

    /// A timer that fires at `at`.
    pub(crate) fn timer_at(&self, at: Instant) -> Timer {
        let mut timer = self.timer_never();
        timer.set_at(at);
        timer
    }

    /// A timer that never fires until [`Timer::set_at`] arms it.
    pub(crate) fn timer_never(&self) -> Timer {
        if let Some(clock) = &self.clock {
            return Timer::manual(clock.clone());
        }
        match &self.kind {
            #[cfg(feature = "async-std")]
            Kind::AsyncStd => Timer::async_io(),
            #[cfg(feature = "smol")]
            Kind::Smol => Timer::async_io(),
            #[cfg(feature = "tokio")]
            Kind::Tokio(handle) => Timer::tokio(handle.clone()),
        }
    }

    /// Runs `future` for at most `limit`; `None` when time ran out first.
    ///
    /// The timer is only created if the future does not finish on its
    /// first poll: registering a timer wakes the reactor, and most
    /// handshake steps complete at once.
    pub(crate) async fn timeout<F: Future>(&self, limit: Duration, future: F) -> Option<F::Output> {
        self.timeout_at(self.now() + limit, future).await
    }

    /// Runs `future` until `at` at most; `None` when time ran out first.
    /// Like [`timeout`](Self::timeout), the timer is only created if the
    /// future does not finish on its first poll.
    pub(crate) async fn timeout_at<F: Future>(&self, at: Instant, future: F) -> Option<F::Output> {
        let mut future = std::pin::pin!(future);
        let mut timer: Option<Timer> = None;
        std::future::poll_fn(|cx| {
            if let Poll::Ready(output) = future.as_mut().poll(cx) {
                return Poll::Ready(Some(output));
            }
            let timer = timer.get_or_insert_with(|| self.timer_at(at));
            match Pin::new(timer).poll(cx) {
                Poll::Ready(()) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }

    /// The runtime the crate's unit tests use: [`current`](Self::current),
    /// or with `tokio` as the only runtime feature, the runtime
    /// [`block_on`] keeps for the process.
    #[cfg(test)]
    pub(crate) fn for_tests() -> Runtime {
        #[cfg(not(any(feature = "async-std", feature = "smol")))]
        if Runtime::try_tokio().is_none() {
            return Runtime {
                kind: Kind::Tokio(tokio::global().handle().clone()),
                clock: None,
            };
        }
        Runtime::current()
    }

    /// Registers a connected, non-blocking socket with the reactor.
    pub(crate) fn register<T: source::Source>(&self, io: T) -> io::Result<Registered<T>> {
        match &self.kind {
            #[cfg(feature = "async-std")]
            Kind::AsyncStd => Registered::async_io(io),
            #[cfg(feature = "smol")]
            Kind::Smol => Registered::async_io(io),
            #[cfg(feature = "tokio")]
            Kind::Tokio(handle) => Registered::tokio(handle, io),
        }
    }
}

impl Default for Runtime {
    /// [`Runtime::current`].
    fn default() -> Runtime {
        Runtime::current()
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Runtime").field(&self.name()).finish()
    }
}

impl PartialEq for Runtime {
    /// The same runtime kind (two tokio runtimes compare equal).
    fn eq(&self, other: &Runtime) -> bool {
        self.name() == other.name()
    }
}

/// Runs `future` to completion on the default runtime
/// ([`Runtime::current`]), blocking this thread: the `main` of a small
/// program or an example that should build for every runtime feature.
///
/// On async-std and smol it drives the future on this thread while their
/// executors run the tasks wsgate spawns (async-std when both features are
/// on). With `tokio` as the only runtime feature it runs `future` inside a
/// multi-threaded tokio runtime that wsgate starts on first use and keeps
/// for the process, so a server started in one call still serves in the
/// next (an application with its own `#[tokio::main]` does not need this;
/// it panics when called from inside a tokio runtime, as tokio's own
/// `block_on` does).
///
/// # Examples
///
/// ```
/// let n = wsgate::runtime::block_on(async { 1 + 1 });
/// assert_eq!(n, 2);
/// ```
pub fn block_on<F: Future>(future: F) -> F::Output {
    #[cfg(feature = "async-std")]
    return async_std::block_on(future);
    #[cfg(all(feature = "smol", not(feature = "async-std")))]
    return smol::block_on(future);
    #[cfg(not(any(feature = "async-std", feature = "smol")))]
    return tokio::block_on(future);
}

/// Runs `future` as a task of its own on the default runtime
/// ([`Runtime::current`]); the handle yields its output, and dropping it
/// lets the task run on, detached.
///
/// # Examples
///
/// ```
/// let n = wsgate::runtime::block_on(async { wsgate::runtime::spawn(async { 2 + 2 }).await });
/// assert_eq!(n, 4);
/// ```
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Runtime::current().spawn(future)
}

/// The output of a task started with [`Runtime::spawn`] or [`spawn`].
///
/// Dropping it detaches the task, which runs on.
///
/// # Examples
///
/// ```
/// use wsgate::runtime::{Runtime, block_on};
///
/// block_on(async {
///     let handle = Runtime::current().spawn(async { "done" });
///     assert_eq!(handle.await, "done");
/// });
/// ```
pub struct JoinHandle<T> {
    receiver: oneshot::Receiver<T>,
}

impl<T> Future for JoinHandle<T> {
    type Output = T;

    /// # Panics
    ///
    /// If the task ended without an output: it panicked, or its runtime
    /// shut down and dropped it.
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match Pin::new(&mut self.receiver).poll(cx) {
            Poll::Ready(Ok(output)) => Poll::Ready(output),
            Poll::Ready(Err(oneshot::Canceled)) => {
                panic!("the task ended without an output: it panicked, or its runtime shut down")
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").finish_non_exhaustive()
    }
}
