//! Deadlines, on `async-io` timers so they work on any futures runtime.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use futures::future::{Either, select};

/// Runs `future` for at most `limit`; `None` when time ran out first.
pub(crate) async fn timeout<F: Future>(limit: Duration, future: F) -> Option<F::Output> {
    let timer = async_io::Timer::after(limit);
    match select(pin!(future), timer).await {
        Either::Left((output, _)) => Some(output),
        Either::Right(_) => None,
    }
}
