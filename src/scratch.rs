//! Each thread's read buffer.
//!
//! Reads land in a buffer that belongs to the thread, not to a connection or
//! a task: an idle connection then holds no read buffer, and a task's future
//! stays small (a future is moved, byte by byte, when it is spawned).

use std::cell::RefCell;

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's scratch buffer, at least `len` bytes long
/// (exactly `len` bytes are passed). Contents left by earlier users are
/// arbitrary.
pub(crate) fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => {
            if scratch.len() < len {
                scratch.resize(len, 0);
            }
            f(&mut scratch[..len])
        }
        // Only if `f` itself asked for scratch space: give it its own.
        Err(_) => f(&mut vec![0; len]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_use_gets_a_separate_buffer() {
        with_scratch(16, |outer| {
            outer.fill(1);
            with_scratch(8, |inner| {
                assert_eq!(inner.len(), 8);
                inner.fill(2);
            });
            assert!(outer.iter().all(|&b| b == 1));
        });
    }
}
