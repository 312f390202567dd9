//! [`Space`]: wakes the tasks waiting for the send queue to change.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use event_listener::{Event, EventListener};

/// The event behind every wait on the send queue: a sender over the
/// high-water mark, `flush`, `writable`, a message waiting for a streamed
/// one to end. Every write announces it, so the announcement is made free
/// when nobody waits, which is nearly always: a count of waiters is
/// checked first (an [`Event::notify`] takes a fence and a lock).
///
/// The waiter counts itself before it checks the queue, and checks it under
/// the queue's lock; the announcer changes the queue under that lock before
/// it reads the count. So a waiter that saw the old queue is counted by the
/// time the count is read, and is woken.
pub(crate) struct Space {
    event: Event,
    waiting: AtomicUsize,
}

impl Space {
    pub(crate) fn new() -> Space {
        Space {
            event: Event::new(),
            waiting: AtomicUsize::new(0),
        }
    }

    /// Starts a wait: take it before checking the queue, and await it if
    /// the check fails.
    pub(crate) fn listen(&self) -> Waiter<'_> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        Waiter {
            listener: self.event.listen(),
            space: self,
        }
    }

    /// Wakes every waiter, after the queue changed.
    pub(crate) fn notify(&self) {
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.event.notify(usize::MAX);
        }
    }
}

/// A wait begun with [`Space::listen`]; it stops counting when dropped.
pub(crate) struct Waiter<'a> {
    listener: EventListener,
    space: &'a Space,
}

impl Future for Waiter<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.listener).poll(cx)
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.space.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    /// Nobody waits: nothing to wake. A waiter taken before the change is
    /// woken by the announcement that follows it, and one dropped unwoken
    /// stops counting.
    #[test]
    fn wakes_counted_waiters() {
        let space = Space::new();
        space.notify();
        let waiter = space.listen();
        drop(waiter);
        assert_eq!(space.waiting.load(Ordering::SeqCst), 0);

        let space = Arc::new(Space::new());
        let changed = Arc::new(std::sync::Mutex::new(false));
        let waiter_space = space.clone();
        let waiter_changed = changed.clone();
        let waiter = std::thread::spawn(move || {
            crate::runtime::block_on(crate::runtime::Runtime::for_tests().timeout(
                Duration::from_secs(20),
                async {
                    loop {
                        let wait = waiter_space.listen();
                        if *waiter_changed.lock().unwrap() {
                            return;
                        }
                        wait.await;
                    }
                },
            ))
            .expect("woken")
        });
        std::thread::sleep(Duration::from_millis(20));
        *changed.lock().unwrap() = true;
        space.notify();
        waiter.join().unwrap();
        assert_eq!(space.waiting.load(Ordering::SeqCst), 0);
    }
}
