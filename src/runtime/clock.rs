//! [`Clock`]: a manual clock for tests. A [`Runtime`](super::Runtime)
//! carrying one reads the time from it and fires its timers when
//! [`advance`](Clock::advance) passes their deadlines, so keepalive, idle,
//! close and handshake timeouts run without waiting in real time.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use std::time::{Duration, Instant};

/// Rounds of real time (each [`SETTLE_ROUND`] long) without any activity
/// after which the tasks are taken to be waiting for something: 10 ms, as
/// on a loaded 2-core machine a woken task can wait a few milliseconds to
/// run (3 rounds of 0.5 ms let a test advance past a close timeout its
/// writer had not armed yet, once in CI on smol).
const QUIET_ROUNDS: u32 = 10;
/// One round of settling: a short real sleep, so that the executor's
/// threads (or, on a single-threaded executor, its queue) run what was
/// woken.
const SETTLE_ROUND: Duration = Duration::from_millis(1);
/// The most rounds one settling waits: tasks that never go quiet (a busy
/// loop) do not hang the test.
const MAX_ROUNDS: u32 = 2000;

/// A clock that only moves when told to: the time seen by a server, its
/// connections and clients whose [`Runtime`](super::Runtime) carries it
/// ([`Runtime::with_clock`](super::Runtime::with_clock)), for every
/// deadline they keep: the keepalive ping interval and its pong grace, the
/// idle timeout, the close timeout, the handshake and decision timeouts.
///
/// It starts at the real time of its creation and stands still until
/// [`advance`](Self::advance). Cheap to clone: clones are the same clock.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use wsgate::runtime::{Clock, Runtime, block_on};
///
/// let clock = Clock::new();
/// let runtime = Runtime::current().with_clock(clock.clone());
/// block_on(async {
///     let start = runtime.now();
///     let sleep = runtime.spawn({
///         let runtime = runtime.clone();
///         async move { runtime.sleep(Duration::from_secs(3600)).await }
///     });
///     // An hour passes at once.
///     clock.advance(Duration::from_secs(3600)).await;
///     sleep.await;
///     assert_eq!(runtime.now() - start, Duration::from_secs(3600));
/// });
/// ```
#[derive(Clone)]
pub struct Clock {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Counts what the tasks on this clock did (timer polls, in-memory
    /// reads and writes): [`Clock::advance`] waits until it stops moving.
    activity: AtomicU64,
    /// The next timer's id.
    next_id: AtomicU64,
}

struct State {
    now: Instant,
    /// Timers waiting for a deadline: id -> (deadline, waker).
    timers: HashMap<u64, (Instant, Waker)>,
}

impl Clock {
    /// A clock standing at the real time now.
    ///
    /// # Examples
    ///
    /// ```
    /// let clock = wsgate::runtime::Clock::new();
    /// assert_eq!(clock.now(), clock.now());
    /// ```
    pub fn new() -> Clock {
        Clock {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    now: Instant::now(),
                    timers: HashMap::new(),
                }),
                activity: AtomicU64::new(0),
                next_id: AtomicU64::new(0),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The clock's time.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let clock = wsgate::runtime::Clock::new();
    /// let before = clock.now();
    /// wsgate::runtime::block_on(clock.advance(Duration::from_secs(5)));
    /// assert_eq!(clock.now() - before, Duration::from_secs(5));
    /// ```
    pub fn now(&self) -> Instant {
        self.lock().now
    }

    /// Moves the clock `by` forward, firing every timer whose deadline it
    /// passes, in the order of their deadlines: the clock stops at each
    /// deadline, wakes the timers due then, and lets the woken tasks run
    /// until they go quiet (no timer polled, no in-memory byte moved for
    /// 10 ms of real time, bounded to about two seconds) before it moves on. So when `advance` returns,
    /// what those deadlines cause (a ping sent and answered, a close
    /// handshake, a connection dropped) has happened.
    ///
    /// Deadlines that the woken tasks set within `by` fire too: advancing
    /// 35 seconds with pings every 10 sends three pings.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use wsgate::runtime::{Clock, Runtime, block_on};
    ///
    /// let clock = Clock::new();
    /// let runtime = Runtime::current().with_clock(clock.clone());
    /// let woke = Arc::new(AtomicBool::new(false));
    /// block_on(async {
    ///     let flag = woke.clone();
    ///     let sleeper = runtime.clone();
    ///     drop(runtime.spawn(async move {
    ///         sleeper.sleep(Duration::from_secs(10)).await;
    ///         flag.store(true, Ordering::SeqCst);
    ///     }));
    ///     clock.advance(Duration::from_secs(9)).await;
    ///     assert!(!woke.load(Ordering::SeqCst));
    ///     clock.advance(Duration::from_secs(1)).await;
    ///     assert!(woke.load(Ordering::SeqCst));
    /// });
    /// ```
    pub async fn advance(&self, by: Duration) {
        self.settle().await;
        let target = self.now() + by;
        loop {
            let due = {
                let mut state = self.lock();
                let next = state
                    .timers
                    .values()
                    .map(|(at, _)| *at)
                    .filter(|at| *at <= target)
                    .min();
                let Some(next) = next else {
                    state.now = state.now.max(target);
                    break;
                };
                state.now = state.now.max(next);
                let now = state.now;
                let due: Vec<u64> = state
                    .timers
                    .iter()
                    .filter(|(_, (at, _))| *at <= now)
                    .map(|(id, _)| *id)
                    .collect();
                due.into_iter()
                    .filter_map(|id| state.timers.remove(&id))
                    .map(|(_, waker)| waker)
                    .collect::<Vec<_>>()
            };
            self.touch();
            due.into_iter().for_each(Waker::wake);
            self.settle().await;
        }
        self.settle().await;
    }

    /// Waits, in real time, until the tasks on this clock go quiet.
    async fn settle(&self) {
        let real = super::Runtime::current();
        let mut last = self.shared.activity.load(Ordering::Acquire);
        let mut quiet = 0;
        for _ in 0..MAX_ROUNDS {
            real.sleep(SETTLE_ROUND).await;
            let now = self.shared.activity.load(Ordering::Acquire);
            if now == last {
                quiet += 1;
                if quiet >= QUIET_ROUNDS {
                    return;
                }
            } else {
                quiet = 0;
                last = now;
            }
        }
    }

    /// Records that a task on this clock did something.
    pub(crate) fn touch(&self) {
        self.shared.activity.fetch_add(1, Ordering::AcqRel);
    }

    /// A new timer's id.
    pub(super) fn timer_id(&self) -> u64 {
        self.shared.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Whether `at` has come; if not, `waker` is woken when it does.
    pub(super) fn poll_deadline(&self, id: u64, at: Instant, waker: &Waker) -> bool {
        self.touch();
        let mut state = self.lock();
        if state.now >= at {
            state.timers.remove(&id);
            return true;
        }
        match state.timers.get_mut(&id) {
            Some((deadline, old)) => {
                *deadline = at;
                if !old.will_wake(waker) {
                    *old = waker.clone();
                }
            }
            None => {
                state.timers.insert(id, (at, waker.clone()));
            }
        }
        false
    }

    /// Forgets the timer `id` (dropped or disarmed).
    pub(super) fn forget(&self, id: u64) {
        self.lock().timers.remove(&id);
    }
}

impl Default for Clock {
    /// [`Clock::new`].
    fn default() -> Clock {
        Clock::new()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("Clock")
            .field("now", &state.now)
            .field("timers", &state.timers.len())
            .finish()
    }
}

impl PartialEq for Clock {
    /// The same clock (clones of one another).
    fn eq(&self, other: &Clock) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}
