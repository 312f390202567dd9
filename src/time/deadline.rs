//! Deadlines that share one sleeping thread instead of a reactor timer each.
//!
//! Every connection arms deadlines it almost never reaches: the handshake's
//! read timeout, the application's decision timeout, the keepalive
//! interval. An `async-io` timer writes the reactor's `eventfd` each time
//! one is registered, and the reactor then makes a pass through `epoll`
//! for nothing: about six system calls and a context switch per deadline,
//! 5-7% of the CPU a handshake costs.
//!
//! Here a deadline is an entry in one ordered map under a lock. A single
//! thread sleeps until the earliest entry and wakes the tasks whose time
//! has come. Registering wakes that thread only when the new deadline is
//! earlier than the one it sleeps until; with fixed timeouts a new
//! deadline is nearly always later than one already there, so registering
//! and cancelling cost no system call at all.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// A point in time a task waits for, woken by the shared deadline thread.
///
/// Registered on its first pending poll and cancelled when dropped or moved
/// ([`set_at`](Self::set_at)). Polling after the instant has passed is
/// ready, whoever woke the task.
#[derive(Debug)]
pub(crate) struct Deadline {
    at: Option<Instant>,
    /// The entry in the shared map and the waker stored there.
    registered: Option<(Key, Waker)>,
}

/// A map key: the instant, then a serial number to keep equal instants apart.
type Key = (Instant, u64);

impl Deadline {
    /// A deadline that never passes (until [`set_at`](Self::set_at)).
    pub(crate) fn never() -> Deadline {
        Deadline {
            at: None,
            registered: None,
        }
    }

    /// `duration` from now (never, if that is past what `Instant` holds).
    pub(crate) fn after(duration: Duration) -> Deadline {
        Deadline {
            at: Instant::now().checked_add(duration),
            registered: None,
        }
    }

    /// Moves the deadline to `at`, earlier or later.
    pub(crate) fn set_at(&mut self, at: Instant) {
        if self.at != Some(at) {
            self.cancel();
            self.at = Some(at);
        }
    }

    /// Ready once `now` (the caller's reading of the clock) is at or past
    /// the deadline; otherwise the task is woken when it is.
    pub(crate) fn poll_at(&mut self, cx: &mut Context<'_>, now: Instant) -> Poll<()> {
        let Some(at) = self.at else {
            return Poll::Pending;
        };
        if now >= at {
            self.cancel();
            return Poll::Ready(());
        }
        match &self.registered {
            Some(((when, _), waker)) if *when == at && waker.will_wake(cx.waker()) => {}
            _ => {
                let old = self.registered.take().map(|(key, _)| key);
                let waker = cx.waker().clone();
                let key = service().register(old, at, waker.clone());
                self.registered = Some((key, waker));
            }
        }
        Poll::Pending
    }

    fn cancel(&mut self) {
        if let Some((key, _)) = self.registered.take() {
            service().cancel(key);
        }
    }
}

impl Future for Deadline {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().poll_at(cx, Instant::now())
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// The shared map and the thread that sleeps until its first entry.
struct Service {
    state: Mutex<State>,
    /// Wakes the thread for a deadline earlier than the one it sleeps until.
    wake: Condvar,
}

struct State {
    deadlines: BTreeMap<Key, Waker>,
    serial: u64,
    thread: Thread,
}

/// What the deadline thread is doing, as registering needs to know.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Thread {
    /// Not started yet (or it could not be started: tried again next time).
    NotStarted,
    /// Running: it reads the map again before it sleeps.
    Awake,
    /// Asleep until this instant.
    Until(Instant),
    /// Asleep with nothing to wait for.
    Idle,
}

fn service() -> &'static Service {
    static SERVICE: OnceLock<Service> = OnceLock::new();
    SERVICE.get_or_init(Service::new)
}

impl Service {
    fn new() -> Service {
        Service {
            state: Mutex::new(State {
                deadlines: BTreeMap::new(),
                serial: 0,
                thread: Thread::NotStarted,
            }),
            wake: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock, and the map stays
        // consistent if something did: use it anyway.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces entry `old` (if any) with one for `at`.
    fn register(&'static self, old: Option<Key>, at: Instant, waker: Waker) -> Key {
        let mut state = self.lock();
        if let Some(old) = old {
            state.deadlines.remove(&old);
        }
        state.serial += 1;
        let key = (at, state.serial);
        state.deadlines.insert(key, waker);
        match state.thread {
            Thread::Awake => {}
            Thread::Until(sleep) if sleep <= at => {}
            Thread::Until(_) | Thread::Idle => {
                state.thread = Thread::Awake;
                self.wake.notify_one();
            }
            Thread::NotStarted => {
                let spawned = std::thread::Builder::new()
                    .name("wsgate-deadlines".into())
                    .spawn(move || self.run());
                match spawned {
                    Ok(_) => state.thread = Thread::Awake,
                    // Tried again at the next registration; meanwhile the
                    // deadline waits (no connection is cut early).
                    Err(e) => log::error!("cannot start the deadline thread: {e}"),
                }
            }
        }
        key
    }

    fn cancel(&self, key: Key) {
        // The thread may then wake for an entry that is gone; it finds
        // nothing due and sleeps again.
        self.lock().deadlines.remove(&key);
    }

    /// The deadline thread: wakes the tasks whose deadlines passed, then
    /// sleeps until the next one.
    fn run(&self) {
        let mut due = Vec::new();
        let mut state = self.lock();
        loop {
            let now = Instant::now();
            while let Some(entry) = state.deadlines.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                due.push(entry.remove());
            }
            if !due.is_empty() {
                // Wake outside the lock: a waker may run code that
                // registers deadlines.
                state.thread = Thread::Awake;
                drop(state);
                due.drain(..).for_each(Waker::wake);
                state = self.lock();
                continue;
            }
            state = match state.deadlines.keys().next() {
                Some(&(at, _)) => {
                    state.thread = Thread::Until(at);
                    match self.wake.wait_timeout(state, at - now) {
                        Ok((state, _)) => state,
                        Err(poisoned) => poisoned.into_inner().0,
                    }
                }
                None => {
                    state.thread = Thread::Idle;
                    self.wake.wait(state).unwrap_or_else(|p| p.into_inner())
                }
            };
            state.thread = Thread::Awake;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts its wakes.
    struct Count(AtomicUsize);

    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        (count.clone(), Waker::from(count))
    }

    fn registered(key: Key) -> bool {
        service().lock().deadlines.contains_key(&key)
    }

    /// Waits (bounded) until `count` was woken; returns when it was.
    fn wait_for_wake(count: &Count, limit: Duration) -> Instant {
        let start = Instant::now();
        while count.0.load(Ordering::SeqCst) == 0 {
            assert!(start.elapsed() < limit, "not woken within {limit:?}");
            std::thread::sleep(Duration::from_millis(1));
        }
        Instant::now()
    }

    #[test]
    fn a_deadline_wakes_its_task_once_it_has_passed() {
        let (count, waker) = counter();
        let mut cx = Context::from_waker(&waker);
        let mut deadline = Deadline::after(Duration::from_millis(30));
        let at = deadline.at.unwrap();
        assert!(deadline.poll_at(&mut cx, Instant::now()).is_pending());
        let woken = wait_for_wake(&count, Duration::from_secs(10));
        assert!(woken >= at, "woken before the deadline");
        assert!(Pin::new(&mut deadline).poll(&mut cx).is_ready());
        assert!(deadline.registered.is_none());
    }

    #[test]
    fn an_earlier_deadline_wakes_the_sleeping_thread() {
        // A service of its own, so that its thread surely sleeps until the
        // far deadline when the near one comes.
        let service: &'static Service = Box::leak(Box::new(Service::new()));
        let (far_count, far_waker) = counter();
        let far = Instant::now() + Duration::from_secs(3600);
        service.register(None, far, far_waker);
        let start = Instant::now();
        while service.lock().thread != Thread::Until(far) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the thread never slept"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        let (count, waker) = counter();
        let near = Instant::now() + Duration::from_millis(20);
        service.register(None, near, waker);
        assert!(wait_for_wake(&count, Duration::from_secs(10)) >= near);
        assert_eq!(far_count.0.load(Ordering::SeqCst), 0);
        assert_eq!(service.lock().deadlines.len(), 1);
    }

    #[test]
    fn dropping_or_moving_a_deadline_cancels_its_entry() {
        let (count, waker) = counter();
        let mut cx = Context::from_waker(&waker);
        let mut deadline = Deadline::after(Duration::from_millis(40));
        assert!(deadline.poll_at(&mut cx, Instant::now()).is_pending());
        let first = deadline.registered.as_ref().unwrap().0;
        assert!(registered(first));
        // Moved later: the old entry goes, the new one on the next poll.
        deadline.set_at(Instant::now() + Duration::from_secs(3600));
        assert!(!registered(first));
        assert!(deadline.poll_at(&mut cx, Instant::now()).is_pending());
        let second = deadline.registered.as_ref().unwrap().0;
        assert!(registered(second));
        drop(deadline);
        assert!(!registered(second));
        // The first instant passes with nothing woken.
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_new_waker_replaces_the_old_one() {
        let (old_count, old_waker) = counter();
        let (new_count, new_waker) = counter();
        let mut deadline = Deadline::after(Duration::from_millis(30));
        let now = Instant::now();
        assert!(
            deadline
                .poll_at(&mut Context::from_waker(&old_waker), now)
                .is_pending()
        );
        let old_key = deadline.registered.as_ref().unwrap().0;
        assert!(
            deadline
                .poll_at(&mut Context::from_waker(&new_waker), now)
                .is_pending()
        );
        assert!(!registered(old_key));
        wait_for_wake(&new_count, Duration::from_secs(10));
        assert_eq!(old_count.0.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn never_stays_pending_and_registers_nothing() {
        let (_count, waker) = counter();
        let mut deadline = Deadline::never();
        let far = Instant::now() + Duration::from_secs(1 << 20);
        assert!(
            deadline
                .poll_at(&mut Context::from_waker(&waker), far)
                .is_pending()
        );
        assert!(deadline.registered.is_none());
        assert!(Deadline::after(Duration::MAX).at.is_none());
    }

    #[test]
    fn many_deadlines_all_fire() {
        let deadlines: Vec<_> = (0..200u64)
            .map(|i| {
                let (count, waker) = counter();
                let mut deadline = Deadline::after(Duration::from_millis(i % 50));
                let _ = deadline.poll_at(&mut Context::from_waker(&waker), Instant::now());
                (count, deadline)
            })
            .collect();
        for (count, mut deadline) in deadlines {
            if deadline.registered.is_some() {
                wait_for_wake(&count, Duration::from_secs(10));
            }
            let (_c, waker) = counter();
            assert!(
                deadline
                    .poll_at(&mut Context::from_waker(&waker), Instant::now())
                    .is_ready()
            );
        }
    }
}
