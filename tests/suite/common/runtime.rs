//! The async runtime the tests run on: the one the crate is built for.
//!
//! tokio when the `tokio` feature is on, else smol when `smol` is, else
//! async-std (the default). Exactly one of the three `imp` modules below
//! compiles for any combination of features; test code names no runtime,
//! only [`run`], [`spawn`], [`sleep`], [`timeout`] and [`yield_now`].

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::FutureExt;
use futures::channel::oneshot;
use futures::future::{Either, select};

pub use imp::{run, sleep};

#[cfg(feature = "tokio")]
mod imp {
    use std::future::Future;
    use std::sync::OnceLock;
    use std::time::Duration;

    /// One multi-thread runtime for the whole test binary (as async-std and
    /// smol have one global executor); each test blocks on it.
    fn runtime() -> &'static tokio::runtime::Runtime {
        static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
        RUNTIME.get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a tokio runtime")
        })
    }

    /// Runs a test's body to completion inside the tokio runtime's context.
    pub fn run<F: Future>(future: F) -> F::Output {
        runtime().block_on(future)
    }

    pub(super) fn spawn_detached(task: impl Future<Output = ()> + Send + 'static) {
        drop(tokio::spawn(task));
    }

    /// Waits for `duration` on the runtime's timer.
    pub async fn sleep(duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

#[cfg(all(feature = "smol", not(feature = "tokio")))]
mod imp {
    use std::future::Future;
    use std::time::Duration;

    /// Runs a test's body to completion on the calling thread.
    pub fn run<F: Future>(future: F) -> F::Output {
        smol::block_on(future)
    }

    pub(super) fn spawn_detached(task: impl Future<Output = ()> + Send + 'static) {
        // A smol task is cancelled when its handle drops: detach it.
        smol::spawn(task).detach();
    }

    /// Waits for `duration` on the runtime's timer.
    pub async fn sleep(duration: Duration) {
        smol::Timer::after(duration).await;
    }
}

#[cfg(not(any(feature = "tokio", feature = "smol")))]
mod imp {
    use std::future::Future;
    use std::time::Duration;

    /// Runs a test's body to completion on the calling thread.
    pub fn run<F: Future>(future: F) -> F::Output {
        async_std::task::block_on(future)
    }

    pub(super) fn spawn_detached(task: impl Future<Output = ()> + Send + 'static) {
        // Dropping an async-std handle detaches the task.
        drop(async_std::task::spawn(task));
    }

    /// Waits for `duration` on the runtime's timer.
    pub async fn sleep(duration: Duration) {
        async_std::task::sleep(duration).await;
    }
}

/// Spawns `future` on the runtime. The task runs to its end whether or not
/// the handle is kept; awaiting the handle yields its output, or re-raises
/// its panic.
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    imp::spawn_detached(async move {
        let result = AssertUnwindSafe(future).catch_unwind().await;
        // Nobody may be waiting (a detached task): then the result, or the
        // panic (already reported by the panic hook), is dropped.
        let _ = tx.send(result);
    });
    JoinHandle(rx)
}

/// A spawned task's output; dropping it does not cancel the task.
pub struct JoinHandle<T>(oneshot::Receiver<std::thread::Result<T>>);

impl<T> Future for JoinHandle<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match self.0.poll_unpin(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(Ok(output))) => Poll::Ready(output),
            Poll::Ready(Ok(Err(panic))) => std::panic::resume_unwind(panic),
            Poll::Ready(Err(oneshot::Canceled)) => {
                panic!("the spawned task was dropped before it finished")
            }
        }
    }
}

/// The error of a [`timeout`] that ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl std::fmt::Display for Elapsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("future has timed out")
    }
}

impl std::error::Error for Elapsed {}

/// Awaits `future` for at most `limit` (polling it before the timer, as
/// `async_std::future::timeout` does).
pub async fn timeout<F: Future>(limit: Duration, future: F) -> Result<F::Output, Elapsed> {
    match select(pin!(future), pin!(sleep(limit))).await {
        Either::Left((output, _)) => Ok(output),
        Either::Right(((), _)) => Err(Elapsed),
    }
}

/// Lets other tasks run: wakes itself and returns `Pending` once.
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

/// A listener of "another server" (not wsgate's): the streams it accepts
/// reach wsgate as a foreign [`wsgate::Transport`]. They are async-io
/// sockets, which any runtime can drive (async-io runs its own reactor
/// when the runtime is not async-io based).
pub struct ForeignListener(smol::Async<std::net::TcpListener>);

/// A stream [`ForeignListener`] accepted.
pub type ForeignStream = smol::Async<std::net::TcpStream>;

impl ForeignListener {
    /// Listens on a free port of 127.0.0.1.
    pub fn bind() -> std::io::Result<ForeignListener> {
        let listener = smol::Async::<std::net::TcpListener>::bind(([127, 0, 0, 1], 0))?;
        Ok(ForeignListener(listener))
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().local_addr()
    }

    /// The next connection.
    pub async fn accept(&self) -> std::io::Result<ForeignStream> {
        Ok(self.0.accept().await?.0)
    }
}
