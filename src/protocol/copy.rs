//! Appending bytes to a buffer without the slow case of the CPU's string
//! copy.
//!
//! For copies of a few KiB and more, `memcpy` (glibc's, and so
//! `extend_from_slice`) uses `rep movsb` on CPUs that report fast string
//! moves. On some of them `rep movsb` is many times slower when the
//! destination lies just ahead of the source modulo 4096 bytes: on the AMD
//! EPYC the benchmarks run on, a 64 KiB copy takes about 19 µs when the
//! destination is 1 to 15 bytes ahead (and about 1.6 µs up to 63 bytes)
//! instead of 1.2 µs. A payload copied out of a read buffer lands at such a
//! distance by chance of the heap's layout, and then stays there message
//! after message, since the same buffers are reused: it made 64 KiB echo
//! over one connection cost about 40% more CPU (63.5 µs per message
//! against 44.8 µs with this module).
//!
//! [`append`] checks the distance and, inside that window, copies in 1 KiB
//! pieces instead (each below the size where `memcpy` switches to
//! `rep movsb`): 1.2 µs for 64 KiB at every distance on the same machine.
//!
//! A masked payload (every frame a server receives) is copied by
//! `mask::extend_unmasked` instead, which unmasks on the way with vector
//! stores and never uses `rep movsb`: 1.4–2.4 µs for 64 KiB at every
//! distance. `append` serves unmasked payloads (a client's) and bytes left
//! over in a read buffer.

use std::hint::black_box;

/// Below this, `memcpy` does not use `rep movsb` (glibc's threshold is
/// 2112 bytes or more), and the distance does not matter.
const LARGE: usize = 2 << 10;

/// Destinations fewer bytes than this ahead of the source (modulo 4096) are
/// copied in pieces.
const SLOW_WINDOW: usize = 16;

/// Each piece is small enough for `memcpy`'s vector loop.
const PIECE: usize = 1 << 10;

/// Appends `src` to `dst`, as `dst.extend_from_slice(src)` does.
pub(crate) fn append(dst: &mut Vec<u8>, src: &[u8]) {
    dst.reserve(src.len());
    let len = dst.len();
    let to = dst.as_ptr() as usize + len;
    let ahead = to.wrapping_sub(src.as_ptr() as usize) % 4096;
    if src.len() < LARGE || ahead == 0 || ahead >= SLOW_WINDOW {
        dst.extend_from_slice(src);
        return;
    }
    let spare = &mut dst.spare_capacity_mut()[..src.len()];
    for (to, from) in spare.chunks_mut(PIECE).zip(src.chunks(PIECE)) {
        // Opaque to the optimizer, so that the pieces are not merged back
        // into one large `memcpy`.
        let from = black_box(from);
        // SAFETY: `to` and `from` have the same length (both are cut from
        // slices of `src.len()` bytes at the same offsets), and a fresh
        // `&mut` to spare capacity cannot overlap `src`.
        unsafe {
            std::ptr::copy_nonoverlapping(from.as_ptr(), to.as_mut_ptr().cast::<u8>(), from.len());
        }
    }
    // SAFETY: the `src.len()` bytes after `len` were all written above, and
    // `reserve` made room for them.
    unsafe { dst.set_len(len + src.len()) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A destination `ahead` bytes (modulo 4096) past `src[from..]`.
    fn copy_at(ahead: usize, len: usize, from: usize) -> (Vec<u8>, Vec<u8>) {
        let src: Vec<u8> = (0..from + len).map(|i| (i * 7 + 3) as u8).collect();
        let mut dst: Vec<u8> = Vec::with_capacity(len + 8192);
        // Keep a prefix so that the append point is `ahead` past the source.
        let base = dst.as_ptr() as usize;
        let source = src[from..].as_ptr() as usize;
        let prefix = (source + ahead).wrapping_sub(base) % 4096;
        dst.resize(prefix, 0xaa);
        append(&mut dst, &src[from..]);
        (dst[prefix..].to_vec(), src[from..].to_vec())
    }

    #[test]
    fn copies_exactly_at_every_distance_in_and_around_the_window() {
        for ahead in (0..80).chain([4095, 4032, 2048]) {
            for len in [0, 1, 31, 32, 33, LARGE - 1, LARGE, LARGE + 17, 65_536 + 5] {
                let (copied, expected) = copy_at(ahead, len, 14);
                assert_eq!(copied, expected, "ahead {ahead}, length {len}");
            }
        }
    }

    proptest! {
        #[test]
        fn append_is_extend_from_slice(
            prefix in proptest::collection::vec(any::<u8>(), 0..100),
            src in proptest::collection::vec(any::<u8>(), 0..10_000),
            from in 0usize..64,
        ) {
            let from = from.min(src.len());
            let mut ours = prefix.clone();
            append(&mut ours, &src[from..]);
            let mut expected = prefix;
            expected.extend_from_slice(&src[from..]);
            prop_assert_eq!(ours, expected);
        }
    }
}
