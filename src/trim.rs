//! Giving memory back to the system after a burst of large messages.
//!
//! glibc's malloc keeps freed memory in its arenas: after the first large
//! buffer (a message of a few MiB) is freed, its mmap threshold rises to
//! that size, so later buffers up to it come from the arenas, and an arena
//! gives back only what lies at its top, past a trim threshold that rose
//! with it. Measured on the echo example after a flood of unfinished
//! 16 MiB messages (benches/RESULTS.md): 400 KB in use, 22.6 MB held by
//! the arenas, and `malloc_trim(0)` took the process from 26.3 to 13.4 MiB.
//!
//! So when the server frees large buffers (an unfinished message dropped
//! when its connection ends or is refused, a large message's buffer after
//! it was written), it counts them here, and a thread of its own calls
//! `malloc_trim(0)` once [`MemoryTrim::after`] bytes were freed, at most
//! every [`MemoryTrim::every`], and once more for the rest of a burst when
//! frees stop for a second: a trim walks the arenas and takes their
//! locks, so it is kept off the executor's threads and rate-limited. The
//! setting is the process's (the arenas are), through [`MemoryTrim::set`].
//! The thread starts with the first large free and sleeps on a condition
//! variable otherwise. Only on glibc targets: elsewhere (musl) nothing is
//! counted and no thread starts. On glibc with another global allocator
//! (jemalloc, mimalloc) glibc's arenas hold little and a trim finds
//! little to do; `MemoryTrim::set(None)` turns it off.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The smallest buffer counted: smaller ones come and go from the arenas
/// without holding on to much.
pub(crate) const LARGE: usize = 1 << 20;

static PENDING: AtomicUsize = AtomicUsize::new(0);
/// [`MemoryTrim::after`]; 0 when trimming is off.
static AFTER: AtomicUsize = AtomicUsize::new(MemoryTrim::DEFAULT.after);
/// [`MemoryTrim::every`], in microseconds.
static EVERY_MICROS: AtomicU64 = AtomicU64::new(MemoryTrim::DEFAULT.every.as_micros() as u64);

/// When the process gives memory that wsgate freed back to the system:
/// after how many bytes of large buffers (1 MiB or more: unfinished
/// messages dropped, large messages written) were freed, and at most how
/// often. Only on glibc targets, whose malloc arenas keep freed memory
/// (see the guide's Security chapter); elsewhere nothing is counted.
///
/// The setting is the process's, as the allocator's arenas are: one for
/// every server, client and mounted connection in it. Default: after
/// 8 MiB, at most every 250 ms, on a thread of its own that sleeps until
/// then. Turn it off when the global allocator is not glibc's malloc
/// (jemalloc, mimalloc) or the application trims itself.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use wsgate::MemoryTrim;
///
/// assert_eq!(MemoryTrim::current(), Some(MemoryTrim::default()));
/// MemoryTrim::set(Some(MemoryTrim { after: 64 << 20, every: Duration::from_secs(1) }));
/// assert_eq!(MemoryTrim::current().unwrap().after, 64 << 20);
/// MemoryTrim::set(None); // never trim
/// assert_eq!(MemoryTrim::current(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryTrim {
    /// Bytes of large buffers freed before a trim is worth it (at least
    /// 1). What is left of a burst below it is trimmed once frees have
    /// stopped for a second.
    pub after: usize,
    /// The least time between two trims.
    pub every: Duration,
}

impl MemoryTrim {
    const DEFAULT: MemoryTrim = MemoryTrim {
        after: 8 << 20,
        every: Duration::from_millis(250),
    };

    /// Sets the process's trimming: `None` turns it off.
    ///
    /// # Examples
    ///
    /// ```
    /// wsgate::MemoryTrim::set(Some(wsgate::MemoryTrim::default()));
    /// ```
    pub fn set(setting: Option<MemoryTrim>) {
        // One setting at a time: `after` and `every` never mix two calls'.
        static SETTING: Mutex<()> = Mutex::new(());
        let _one = SETTING.lock().unwrap_or_else(|p| p.into_inner());
        match setting {
            Some(trim) => {
                let micros = u64::try_from(trim.every.as_micros()).unwrap_or(u64::MAX);
                EVERY_MICROS.store(micros, Ordering::Release);
                AFTER.store(trim.after.max(1), Ordering::Release);
            }
            None => AFTER.store(0, Ordering::Release),
        }
        // A running trimmer looks again (a lower threshold may be passed
        // already, a shorter wait may be over).
        if let Some(trimmer) = TRIMMER.get() {
            let _guard = trimmer.lock.lock().unwrap_or_else(|p| p.into_inner());
            trimmer.wake.notify_one();
        }
    }

    /// The process's trimming now; `None` when it is off.
    ///
    /// # Examples
    ///
    /// ```
    /// if let Some(trim) = wsgate::MemoryTrim::current() {
    ///     assert!(trim.after > 0);
    /// }
    /// ```
    pub fn current() -> Option<MemoryTrim> {
        let after = AFTER.load(Ordering::Acquire);
        (after > 0).then(|| MemoryTrim {
            after,
            every: Duration::from_micros(EVERY_MICROS.load(Ordering::Acquire)),
        })
    }
}

impl Default for MemoryTrim {
    /// After 8 MiB freed, at most every 250 ms.
    ///
    /// # Examples
    ///
    /// ```
    /// let trim = wsgate::MemoryTrim::default();
    /// assert_eq!((trim.after, trim.every.as_millis()), (8 << 20, 250));
    /// ```
    fn default() -> MemoryTrim {
        MemoryTrim::DEFAULT
    }
}

struct Trimmer {
    lock: Mutex<()>,
    wake: Condvar,
}

/// Counts `bytes` just freed (when they make a large buffer), waking the
/// trimming thread when enough were.
pub(crate) fn freed(bytes: usize) {
    let after = AFTER.load(Ordering::Relaxed);
    if !cfg!(all(target_os = "linux", target_env = "gnu")) || bytes < LARGE || after == 0 {
        return;
    }
    let pending = PENDING.fetch_add(bytes, Ordering::AcqRel) + bytes;
    // Past the threshold: a trim is due (the thread starts with the first
    // one). The first free since the last trim: a running thread starts
    // counting the quiet that ends a burst.
    let trimmer = if pending >= after {
        Some(trimmer())
    } else if pending == bytes {
        TRIMMER.get().copied()
    } else {
        None
    };
    if let Some(trimmer) = trimmer {
        let _guard = trimmer.lock.lock().unwrap_or_else(|p| p.into_inner());
        trimmer.wake.notify_one();
    }
}

static TRIMMER: OnceLock<&'static Trimmer> = OnceLock::new();

fn trimmer() -> &'static Trimmer {
    TRIMMER.get_or_init(|| {
        let trimmer: &'static Trimmer = Box::leak(Box::new(Trimmer {
            lock: Mutex::new(()),
            wake: Condvar::new(),
        }));
        let started = std::thread::Builder::new()
            .name("wsgate-trim".into())
            .stack_size(64 << 10)
            .spawn(move || run(trimmer));
        if let Err(e) = started {
            log::warn!("no thread to give memory back to the system: {e}");
        }
        trimmer
    })
}

/// The end of a burst: what was freed after the last trim, less than
/// [`MemoryTrim::after`], is trimmed once nothing more has been freed for
/// this long (else a burst's last megabytes, below the threshold, would
/// stay in the arenas for good).
const QUIET: Duration = Duration::from_secs(1);

/// The trimming thread: trims once enough was freed and the least time
/// since the last trim has passed, and trims the rest of a burst once
/// frees stop for [`QUIET`]; it reads the setting afresh whenever it wakes
/// (a free past the threshold, a new setting, the wait's end).
fn run(trimmer: &Trimmer) {
    let mut last: Option<Instant> = None;
    // The pending count last seen below the threshold, and since when.
    let mut quiet: Option<(usize, Instant)> = None;
    let mut guard = trimmer.lock.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let pending = PENDING.load(Ordering::Acquire);
        // `None`: trim now; `Some(at)`: wait until `at` (`None`: until told).
        let due = match MemoryTrim::current() {
            Some(trim) if pending > 0 => {
                // The least time between two trims, in any case.
                let spaced = last.map(|last| last.checked_add(trim.every));
                let quiet_end = if pending >= trim.after {
                    None
                } else {
                    match quiet {
                        // Nothing freed since: the burst is over once QUIET passed.
                        Some((seen, since)) if seen == pending => Some(since.checked_add(QUIET)),
                        _ => {
                            quiet = Some((pending, Instant::now()));
                            Some(Instant::now().checked_add(QUIET))
                        }
                    }
                };
                // The later of the two (a `None` instant: never).
                match (spaced, quiet_end) {
                    (None, None) => None,
                    (Some(at), None) | (None, Some(at)) => Some(at),
                    (Some(a), Some(b)) => Some(a.zip(b).map(|(a, b)| a.max(b))),
                }
            }
            // Off, or nothing freed: until told.
            _ => Some(None),
        };
        match due {
            // Trim now.
            None => {}
            Some(Some(at)) if at <= Instant::now() => {}
            Some(Some(at)) => {
                let wait = at.saturating_duration_since(Instant::now());
                guard = trimmer
                    .wake
                    .wait_timeout(guard, wait)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
                continue;
            }
            Some(None) => {
                guard = trimmer.wake.wait(guard).unwrap_or_else(|p| p.into_inner());
                continue;
            }
        }
        PENDING.store(0, Ordering::Release);
        quiet = None;
        drop(guard);
        trim();
        #[cfg(test)]
        tests::TRIMS.fetch_add(1, Ordering::AcqRel);
        last = Some(Instant::now());
        guard = trimmer.lock.lock().unwrap_or_else(|p| p.into_inner());
    }
}

/// Gives the free memory of every malloc arena back to the system.
fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes the arenas' own locks; it may be called
    // from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trims made (by the thread).
    pub(super) static TRIMS: AtomicU64 = AtomicU64::new(0);

    /// The setting is the process's: these tests take turns.
    static SERIAL: Mutex<()> = Mutex::new(());

    /// Waits up to 5 s for a trim after `before`.
    fn trimmed_since(before: u64) -> bool {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if TRIMS.load(Ordering::Acquire) > before {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn a_burst_is_trimmed_and_so_is_its_rest_once_frees_stop() {
        let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        // The threshold reached: a trim.
        let before = TRIMS.load(Ordering::Acquire);
        freed(MemoryTrim::default().after);
        assert!(trimmed_since(before), "no trim after 8 MiB freed");
        // 2 MiB more, below the threshold: trimmed once frees stop.
        let before = TRIMS.load(Ordering::Acquire);
        freed(2 << 20);
        assert!(
            trimmed_since(before),
            "the rest of the burst was never trimmed"
        );
    }

    #[test]
    fn turned_off_nothing_is_counted() {
        let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        MemoryTrim::set(None);
        let before = PENDING.load(Ordering::Acquire);
        freed(4 << 20);
        // (The trimming thread may reset the count meanwhile, never raise it.)
        assert!(PENDING.load(Ordering::Acquire) <= before);
        MemoryTrim::set(Some(MemoryTrim::default()));
        assert_eq!(MemoryTrim::current(), Some(MemoryTrim::default()));
    }
}
