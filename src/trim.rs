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
//! `malloc_trim(0)` once [`TRIM_AFTER`] bytes were freed, at most every
//! [`TRIM_EVERY`]: a trim walks the arenas and takes their locks, so it is
//! kept off the executor's threads and rate-limited. The thread starts with
//! the first large free and sleeps on a condition variable otherwise. Only
//! with glibc; with another allocator (musl, jemalloc, mimalloc as the
//! global allocator) nothing is counted and no thread starts.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

/// The smallest buffer counted: smaller ones come and go from the arenas
/// without holding on to much.
pub(crate) const LARGE: usize = 1 << 20;
/// Bytes freed before a trim is worth it.
const TRIM_AFTER: usize = 8 << 20;
/// The least time between two trims.
const TRIM_EVERY: Duration = Duration::from_millis(250);

static PENDING: AtomicUsize = AtomicUsize::new(0);

struct Trimmer {
    lock: Mutex<()>,
    wake: Condvar,
}

/// Counts `bytes` just freed (when they make a large buffer), waking the
/// trimming thread when enough were.
pub(crate) fn freed(bytes: usize) {
    if !cfg!(all(target_os = "linux", target_env = "gnu")) || bytes < LARGE {
        return;
    }
    let pending = PENDING.fetch_add(bytes, Ordering::AcqRel) + bytes;
    if pending >= TRIM_AFTER {
        let trimmer = trimmer();
        let _guard = trimmer.lock.lock().unwrap_or_else(|p| p.into_inner());
        trimmer.wake.notify_one();
    }
}

fn trimmer() -> &'static Trimmer {
    static TRIMMER: OnceLock<&'static Trimmer> = OnceLock::new();
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

fn run(trimmer: &Trimmer) {
    loop {
        {
            let guard = trimmer.lock.lock().unwrap_or_else(|p| p.into_inner());
            let _guard = trimmer
                .wake
                .wait_while(guard, |_| PENDING.load(Ordering::Acquire) < TRIM_AFTER)
                .unwrap_or_else(|p| p.into_inner());
        }
        PENDING.store(0, Ordering::Release);
        trim();
        std::thread::sleep(TRIM_EVERY);
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
