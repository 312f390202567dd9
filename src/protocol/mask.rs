//! Payload masking (RFC 6455 §5.3).
//!
//! Masking XORs each payload byte with one byte of a 4-byte key, cycling
//! through the key. The same operation masks and unmasks. Frames are unmasked
//! in chunks as they arrive, in place or while being copied into their
//! message, so the key offset of each chunk is carried from the previous one.

/// XORs `buf` with `key`, starting `offset` bytes into the key cycle.
///
/// Returns the key offset to use for the bytes that follow `buf`, so a frame
/// payload can be unmasked in pieces as it arrives. The bulk of the buffer is
/// processed eight bytes at a time.
///
/// # Examples
///
/// ```
/// use wsgate::protocol::apply_mask;
///
/// let key = [0x37, 0xfa, 0x21, 0x3d];
/// let mut data = *b"Hello";
/// // Mask in two pieces; the offset carries over.
/// let next = apply_mask(&mut data[..3], key, 0);
/// apply_mask(&mut data[3..], key, next);
/// assert_eq!(data, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// // Masking again restores the text.
/// apply_mask(&mut data, key, 0);
/// assert_eq!(&data, b"Hello");
/// ```
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) -> usize {
    let offset = offset & 3;
    // Rotate the key so that index 0 lines up with the first byte of `buf`.
    let key = rotate(key, offset);
    // SAFETY: every bit pattern is a valid `u64`, and `align_to_mut` hands
    // out only the correctly aligned middle of the buffer as words.
    let (head, words, tail) = unsafe { buf.align_to_mut::<u64>() };
    let head_len = head.len();
    mask_bytes(head, key, 0);
    let key = rotate(key, head_len & 3);
    let wide = word_key(key);
    for word in words.iter_mut() {
        *word ^= wide;
    }
    // Words are a multiple of 4 bytes, so the tail starts at the same key
    // phase as the words did.
    mask_bytes(tail, key, 0);
    (offset + head_len + words.len() * 8 + tail.len()) & 3
}

/// Appends `src` XORed with `key` to `dst`, starting `offset` bytes into
/// the key cycle: [`apply_mask`] and a copy in one pass over the bytes.
///
/// Returns the key offset for the bytes that follow `src`. The receiver
/// uses it to move a payload out of the read buffer into its message, which
/// otherwise reads and writes each byte twice (unmask in place, then copy).
pub(crate) fn extend_unmasked(dst: &mut Vec<u8>, src: &[u8], key: [u8; 4], offset: usize) -> usize {
    let key = rotate(key, offset & 3);
    let len = dst.len();
    dst.reserve(src.len());
    let spare = &mut dst.spare_capacity_mut()[..src.len()];
    // Whole blocks first; a payload shorter than a block (most messages)
    // skips straight to the words.
    let (mut from, mut to) = (src, spare);
    if from.len() >= BLOCK {
        let wide = block_key(key);
        let mut blocks = from.chunks_exact(BLOCK);
        let mut outs = to.chunks_exact_mut(BLOCK);
        for (to, from) in (&mut outs).zip(&mut blocks) {
            // Fixed-size arrays: the compiler turns this into vector XORs.
            let from: &[u8; BLOCK] = from.try_into().expect("a whole block");
            let mut block = [0u8; BLOCK];
            for ((out, byte), key) in block.iter_mut().zip(from).zip(&wide) {
                *out = byte ^ key;
            }
            // SAFETY: `to` is `BLOCK` bytes of spare capacity (a chunk of
            // exactly `BLOCK`), and an unaligned write needs no alignment.
            // (Writing the bytes one by one through `MaybeUninit::write` is
            // not merged into wide stores by the compiler: ten times slower.)
            unsafe { std::ptr::write_unaligned(to.as_mut_ptr().cast::<[u8; BLOCK]>(), block) };
        }
        (from, to) = (blocks.remainder(), outs.into_remainder());
    }
    // Blocks and words are multiples of 4 bytes: the words, then the last
    // bytes, start at key index 0.
    let word_key = word_key(key);
    let mut words = from.chunks_exact(8);
    let mut outs = to.chunks_exact_mut(8);
    for (to, from) in (&mut outs).zip(&mut words) {
        let word = u64::from_ne_bytes(from.try_into().expect("a whole word")) ^ word_key;
        // SAFETY: `to` is 8 bytes of spare capacity; an unaligned write
        // needs no alignment.
        unsafe { std::ptr::write_unaligned(to.as_mut_ptr().cast::<[u8; 8]>(), word.to_ne_bytes()) };
    }
    for ((to, from), key) in outs
        .into_remainder()
        .iter_mut()
        .zip(words.remainder())
        .zip(key.iter().cycle())
    {
        to.write(from ^ key);
    }
    // SAFETY: every one of the `src.len()` bytes after `len` was written
    // above, and `reserve` made room for them.
    unsafe { dst.set_len(len + src.len()) };
    (offset + src.len()) & 3
}

/// Bytes masked per step: four 16-byte vector words.
const BLOCK: usize = 64;

/// `key` repeated over a block.
fn block_key(key: [u8; 4]) -> [u8; BLOCK] {
    let mut wide = [0u8; BLOCK];
    for (i, byte) in wide.iter_mut().enumerate() {
        *byte = key[i & 3];
    }
    wide
}

/// `key` repeated over a word.
fn word_key(key: [u8; 4]) -> u64 {
    u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ])
}

fn rotate(key: [u8; 4], by: usize) -> [u8; 4] {
    [
        key[by & 3],
        key[(by + 1) & 3],
        key[(by + 2) & 3],
        key[(by + 3) & 3],
    ]
}

fn mask_bytes(buf: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, byte) in buf.iter_mut().enumerate() {
        *byte ^= key[(i + offset) & 3];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[(i + offset) % 4];
        }
    }

    #[test]
    fn rfc_example() {
        // RFC 6455 §5.7: a masked "Hello".
        let mut data = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
        apply_mask(&mut data, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(&data, b"Hello");
    }

    #[test]
    fn every_length_and_alignment_matches_naive() {
        let key = [1, 2, 3, 4];
        let source: Vec<u8> = (0..200u16).map(|i| (i * 7) as u8).collect();
        for start in 0..9 {
            for len in 0..(source.len() - start) {
                for offset in 0..4 {
                    let mut fast = source.clone();
                    let mut slow = source.clone();
                    let next = apply_mask(&mut fast[start..start + len], key, offset);
                    naive(&mut slow[start..start + len], key, offset);
                    assert_eq!(fast, slow, "start {start} len {len} offset {offset}");
                    assert_eq!(next, (offset + len) % 4);
                }
            }
        }
    }

    #[test]
    fn extend_unmasked_matches_naive_at_every_length_and_offset() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let source: Vec<u8> = (0..100u16).map(|i| (i * 13) as u8).collect();
        for len in 0..source.len() {
            for offset in 0..6 {
                let mut dst = vec![9u8; 3];
                let next = extend_unmasked(&mut dst, &source[..len], key, offset);
                let mut expected = source[..len].to_vec();
                naive(&mut expected, key, offset);
                assert_eq!(&dst[..3], &[9, 9, 9]);
                assert_eq!(&dst[3..], &expected[..], "len {len} offset {offset}");
                assert_eq!(next, (offset + len) % 4);
            }
        }
    }

    proptest! {
        #[test]
        fn chunked_equals_whole(data in proptest::collection::vec(any::<u8>(), 0..2048),
                                key in any::<[u8; 4]>(),
                                cuts in proptest::collection::vec(0usize..2048, 0..8)) {
            let mut whole = data.clone();
            apply_mask(&mut whole, key, 0);
            let mut pieces = data.clone();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (data.len() + 1)).collect();
            cuts.sort_unstable();
            let mut offset = 0;
            let mut at = 0;
            for cut in cuts.into_iter().chain(std::iter::once(data.len())) {
                offset = apply_mask(&mut pieces[at..cut], key, offset);
                at = cut;
            }
            prop_assert_eq!(whole, pieces);
        }

        #[test]
        fn extend_unmasked_equals_apply_mask_then_append(
            data in proptest::collection::vec(any::<u8>(), 0..4096),
            start in proptest::collection::vec(any::<u8>(), 0..64),
            key in any::<[u8; 4]>(),
            offset in 0usize..8,
        ) {
            let mut fused = start.clone();
            let next = extend_unmasked(&mut fused, &data, key, offset);
            let mut unmasked = data.clone();
            let expected_next = apply_mask(&mut unmasked, key, offset);
            let mut two_pass = start.clone();
            two_pass.extend_from_slice(&unmasked);
            prop_assert_eq!(fused, two_pass);
            prop_assert_eq!(next, expected_next);
        }
    }
}
