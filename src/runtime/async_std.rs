//! async-std: its executor for tasks and its blocking pool; sockets and
//! timers are async-io's (`async_io.rs`), which is async-std's reactor.

use std::future::Future;

pub(super) fn spawn(future: impl Future<Output = ()> + Send + 'static) {
    // async-std's handle detaches on drop.
    drop(async_std::task::spawn(future));
}

pub(super) async fn unblock<T, W>(work: W) -> T
where
    W: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    async_std::task::spawn_blocking(work).await
}

pub(super) fn block_on<F: Future>(future: F) -> F::Output {
    async_std::task::block_on(future)
}
