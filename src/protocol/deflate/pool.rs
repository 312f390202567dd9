//! A few compressors without context takeover, shared between the
//! connections that have none of their own (a server over its memory
//! budget).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};

use super::{Compressor, DeflateSettingError, compressor_memory};

/// A few compressors without context takeover, shared by connections that
/// have no compressor of their own (a server over its memory budget).
///
/// [`try_acquire`](Self::try_acquire) never blocks: when every compressor
/// is in use the message goes out uncompressed. Each compressor resets after
/// every message, so whichever connection uses it next starts clean. The
/// guard is not `Send`: compress and release without awaiting in between.
///
/// # Examples
///
/// ```
/// use wsgate::protocol::CompressorPool;
///
/// let pool = CompressorPool::new(2, 15, 6)?;
/// let mut a = pool.try_acquire(15).expect("idle");
/// let b = pool.try_acquire(15).expect("idle");
/// assert!(pool.try_acquire(15).is_none()); // both busy: send uncompressed
/// drop(b);
/// let mut out = Vec::new();
/// a.compress(b"hello", &mut out);
/// assert!(a.no_context_takeover());
/// # Ok::<(), wsgate::protocol::DeflateSettingError>(())
/// ```
#[derive(Debug)]
pub struct CompressorPool {
    slots: Vec<Mutex<Compressor>>,
    next: AtomicUsize,
    window_bits: u8,
}

/// A compressor borrowed from a [`CompressorPool`]; back in the pool when
/// dropped.
///
/// # Examples
///
/// ```
/// use wsgate::protocol::CompressorPool;
///
/// let pool = CompressorPool::new(1, 12, 1)?;
/// let compressor = pool.try_acquire(15).unwrap();
/// assert_eq!(compressor.window_bits(), 12);
/// # Ok::<(), wsgate::protocol::DeflateSettingError>(())
/// ```
pub type PooledCompressor<'a> = MutexGuard<'a, Compressor>;

impl CompressorPool {
    /// `size` compressors with `window_bits` (9..=15) and `level`, all
    /// without context takeover (each allocates its state when first used).
    ///
    /// # Errors
    ///
    /// As [`Compressor::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::{compressor_memory, CompressorPool};
    ///
    /// let pool = CompressorPool::new(4, 15, 6)?;
    /// assert_eq!(pool.len(), 4);
    /// assert_eq!(pool.memory(), 4 * compressor_memory(15));
    /// # Ok::<(), wsgate::protocol::DeflateSettingError>(())
    /// ```
    pub fn new(
        size: usize,
        window_bits: u8,
        level: u32,
    ) -> Result<CompressorPool, DeflateSettingError> {
        let slots = (0..size)
            .map(|_| Compressor::new(window_bits, level, true).map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CompressorPool {
            slots,
            next: AtomicUsize::new(0),
            window_bits,
        })
    }

    /// How many compressors the pool holds.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(wsgate::protocol::CompressorPool::new(0, 15, 6).unwrap().is_empty());
    /// ```
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the pool holds no compressor (every try fails).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!wsgate::protocol::CompressorPool::new(1, 15, 6).unwrap().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The most bytes the pool's compressors cost: `len ×`
    /// [`compressor_memory`] of the pool's window bits. Compressors rebuilt
    /// with a smaller window by [`try_acquire`](Self::try_acquire) cost less.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::{compressor_memory, CompressorPool};
    ///
    /// assert_eq!(CompressorPool::new(2, 9, 6).unwrap().memory(), 2 * compressor_memory(9));
    /// ```
    pub fn memory(&self) -> usize {
        self.slots.len() * compressor_memory(self.window_bits)
    }

    /// An idle compressor whose window is at most `2^max_window_bits` bytes
    /// (the connection's negotiated window for this end), or `None` when all
    /// are busy. Never blocks.
    ///
    /// A compressor with a larger window than asked for is rebuilt with
    /// `max_window_bits` (clamped to 9..=15) before it is handed out, so the
    /// pool's memory only ever shrinks.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::CompressorPool;
    ///
    /// let pool = CompressorPool::new(1, 15, 6)?;
    /// // A connection that negotiated server_max_window_bits=10.
    /// assert_eq!(pool.try_acquire(10).unwrap().window_bits(), 10);
    /// // Smaller windows are fine for a connection allowing 15.
    /// assert_eq!(pool.try_acquire(15).unwrap().window_bits(), 10);
    /// # Ok::<(), wsgate::protocol::DeflateSettingError>(())
    /// ```
    pub fn try_acquire(&self, max_window_bits: u8) -> Option<PooledCompressor<'_>> {
        let n = self.slots.len();
        if n == 0 {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            let slot = &self.slots[(start + i) % n];
            let mut guard = match slot.try_lock() {
                Ok(guard) => guard,
                // A panic while compressing: the state is suspect, reset it.
                Err(TryLockError::Poisoned(poisoned)) => {
                    slot.clear_poison();
                    let mut guard = poisoned.into_inner();
                    guard.reset();
                    guard
                }
                Err(TryLockError::WouldBlock) => continue,
            };
            let bits = max_window_bits.clamp(9, 15);
            if guard.window_bits > bits {
                let level = guard.level;
                *guard = Compressor::new(bits, level, true).expect("window bits and level checked");
            }
            return Some(guard);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::Decompressor;
    use super::super::tests::{compress, inflate, words};
    use super::*;

    #[test]
    fn pool_hands_out_each_compressor_once() {
        let pool = CompressorPool::new(3, 15, 6).unwrap();
        let guards: Vec<_> = (0..3).map(|_| pool.try_acquire(15).unwrap()).collect();
        assert!(pool.try_acquire(15).is_none());
        drop(guards);
        // Back in the pool, reset after each message: the same message
        // compresses the same whichever compressor takes it.
        let data = words(4, 2000);
        let mut seen = Vec::new();
        for _ in 0..6 {
            let mut c = pool.try_acquire(15).unwrap();
            assert!(c.no_context_takeover());
            seen.push(compress(&mut c, &data));
        }
        assert!(seen.windows(2).all(|w| w[0] == w[1]));
        let empty = CompressorPool::new(0, 15, 6).unwrap();
        assert!(empty.try_acquire(15).is_none());
    }

    #[test]
    fn pool_respects_smaller_windows_and_recovers_from_poison() {
        let pool = CompressorPool::new(1, 15, 6).unwrap();
        assert_eq!(pool.try_acquire(8).unwrap().window_bits(), 9);
        assert_eq!(pool.try_acquire(15).unwrap().window_bits(), 9);
        assert!(pool.memory() >= compressor_memory(9));

        let pool = std::sync::Arc::new(CompressorPool::new(1, 15, 6).unwrap());
        let p = pool.clone();
        let _ = std::thread::spawn(move || {
            let mut c = p.try_acquire(15).unwrap();
            let mut out = Vec::new();
            c.compress(&words(1, 100), &mut out);
            panic!("while holding the compressor");
        })
        .join();
        let mut c = pool.try_acquire(15).expect("poison cleared");
        let data = words(2, 500);
        let wire = compress(&mut c, &data);
        let mut rx = Decompressor::new(15, true).unwrap();
        assert_eq!(inflate(&mut rx, &wire, 50, 1000).unwrap(), data);
    }
}
