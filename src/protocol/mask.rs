//! Payload masking (RFC 6455 §5.3).
//!
//! Masking XORs each payload byte with one byte of a 4-byte key, cycling
//! through the key. The same operation masks and unmasks. Frames are unmasked
//! in place, in chunks, as they arrive, so the key offset of each chunk is
//! carried from the previous one.

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
    let word_key = rotate(key, head_len & 3);
    let word_key = u64::from_ne_bytes([
        word_key[0],
        word_key[1],
        word_key[2],
        word_key[3],
        word_key[0],
        word_key[1],
        word_key[2],
        word_key[3],
    ]);
    for word in words.iter_mut() {
        *word ^= word_key;
    }
    // Words are a multiple of 4 bytes, so the tail starts at the same key
    // phase as the words did.
    mask_bytes(tail, rotate(key, head_len & 3), 0);
    (offset + head_len + words.len() * 8 + tail.len()) & 3
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
    }
}
