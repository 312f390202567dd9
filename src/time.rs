//! Deadlines, on `async-io` timers so they work on any futures runtime.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::Duration;

use async_io::Timer;

/// Runs `future` for at most `limit`; `None` when time ran out first.
///
/// The timer is only created if the future does not finish on its first
/// poll: registering a timer wakes the reactor, and most handshake steps
/// complete at once.
pub(crate) async fn timeout<F: Future>(limit: Duration, future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    let mut timer: Option<Timer> = None;
    poll_fn(|cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        let timer = timer.get_or_insert_with(|| Timer::after(limit));
        match Pin::new(timer).poll(cx) {
            Poll::Ready(_) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_futures_need_no_timer_and_slow_ones_expire() {
        async_std::task::block_on(async {
            assert_eq!(
                timeout(Duration::from_millis(1), async { 7 }).await,
                Some(7)
            );
            let never = std::future::pending::<()>();
            assert_eq!(timeout(Duration::from_millis(20), never).await, None);
        });
    }
}
