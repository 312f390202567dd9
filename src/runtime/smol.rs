//! smol: its global executor for tasks and its blocking pool; sockets and
//! timers are async-io's (`async_io.rs`), which is smol's reactor.

use std::future::Future;

pub(super) fn spawn(future: impl Future<Output = ()> + Send + 'static) {
    // smol's task handle cancels its task when dropped: detach it.
    smol::spawn(future).detach();
}

pub(super) async fn unblock<T, W>(work: W) -> T
where
    W: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    smol::unblock(work).await
}

pub(super) fn block_on<F: Future>(future: F) -> F::Output {
    smol::block_on(future)
}
