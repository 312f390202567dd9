//! The window check: every back-reference a peer sends stays within the
//! window it promised (`client_max_window_bits` / `server_max_window_bits`).
//!
//! zlib-rs inflates with a 32 KiB window whatever window bits it is given
//! and, like zlib, only rejects a distance that reaches before everything
//! inflated so far, so a peer that promised 512 bytes could refer 30 KiB
//! back unnoticed. This module walks the DEFLATE stream's block structure
//! and Huffman codes (no output is produced) and reports the first distance
//! past `2^window_bits`. It is only run for windows below 15: at 15 every
//! distance DEFLATE can express is within the window.
//!
//! It is a checker, not a validator: on data it cannot make sense of
//! (invalid block type, bad code lengths, a symbol no code matches) it stops
//! checking and leaves the verdict to the inflater, which rejects the same
//! bytes. Input arrives in any split: a unit (a block header, one
//! literal/length and distance pair) that is cut off is retried, from its
//! start, when more input arrives; the few bytes it needs are kept.

use std::sync::OnceLock;

/// Bases and extra bits of length symbols 257..=285 (RFC 1951 §3.2.5).
const LENGTH_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
/// Bases and extra bits of distance symbols 0..=29.
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];
/// The order code length code lengths are sent in (§3.2.7).
const CLEN_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

/// Bits looked up at once when decoding a symbol.
const FAST_BITS: u32 = 8;

/// A canonical Huffman code: codes of up to [`FAST_BITS`] bits are looked
/// up in one step, longer ones decoded bit by bit (as zlib's `puff` does)
/// from how many codes each length has and the symbols in code order.
#[derive(Debug, Clone)]
struct Huffman {
    counts: [u16; 16],
    symbols: Vec<u16>,
    /// By the next `FAST_BITS` input bits: `symbol << 4 | length`, or 0
    /// for a longer code (or none).
    fast: [u16; 1 << FAST_BITS],
}

impl Huffman {
    /// The code for `lengths` (0 = unused symbol); `None` if over-subscribed.
    fn new(lengths: &[u8]) -> Option<Huffman> {
        let mut counts = [0u16; 16];
        for &len in lengths {
            counts[usize::from(len)] += 1;
        }
        counts[0] = 0;
        let mut left: i32 = 1;
        for &count in &counts[1..] {
            left = (left << 1) - i32::from(count);
            if left < 0 {
                return None;
            }
        }
        let mut offsets = [0u16; 16];
        for len in 1..15 {
            offsets[len + 1] = offsets[len] + counts[len];
        }
        // The first code of each length (RFC 1951 §3.2.2).
        let mut next = [0u32; 16];
        let mut code = 0u32;
        for len in 1..16 {
            code = (code + u32::from(counts[len - 1])) << 1;
            next[len] = code;
        }
        let mut symbols = vec![0u16; lengths.len()];
        let mut fast = [0u16; 1 << FAST_BITS];
        for (symbol, &len) in lengths.iter().enumerate() {
            if len == 0 {
                continue;
            }
            let at = &mut offsets[usize::from(len)];
            symbols[usize::from(*at)] = symbol as u16;
            *at += 1;
            let code = next[usize::from(len)];
            next[usize::from(len)] += 1;
            let len = u32::from(len);
            if len <= FAST_BITS {
                // Codes are sent most significant bit first.
                let reversed = code.reverse_bits() >> (32 - len);
                let entry = (symbol as u16) << 4 | len as u16;
                let mut slot = reversed as usize;
                while slot < fast.len() {
                    fast[slot] = entry;
                    slot += 1 << len;
                }
            }
        }
        Some(Huffman {
            counts,
            symbols,
            fast,
        })
    }

    /// The next symbol; `Err(Stop::NeedMore)` without enough input,
    /// `Err(Stop::Invalid)` for a code that matches no symbol.
    fn decode(&self, bits: &mut Bits<'_>) -> Result<u16, Stop> {
        let (peek, available) = bits.peek(FAST_BITS);
        let entry = self.fast[peek as usize];
        let len = u32::from(entry & 15);
        if len != 0 && len <= available {
            bits.take(len)?;
            return Ok(entry >> 4);
        }
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..16 {
            code |= bits.take(1)? as i32;
            let count = i32::from(self.counts[len]);
            if code - first < count {
                return Ok(self.symbols[(index + code - first) as usize]);
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        Err(Stop::Invalid)
    }
}

/// The fixed codes of block type 1.
fn fixed() -> &'static (Huffman, Huffman) {
    static FIXED: OnceLock<(Huffman, Huffman)> = OnceLock::new();
    FIXED.get_or_init(|| {
        let mut lengths = [8u8; 288];
        lengths[144..256].fill(9);
        lengths[256..280].fill(7);
        let lit = Huffman::new(&lengths).expect("the fixed code is complete");
        let dist = Huffman::new(&[5; 30]).expect("the fixed code is complete");
        (lit, dist)
    })
}

/// Why a unit was not completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Not enough input yet: retry the unit with more.
    NeedMore,
    /// Not valid DEFLATE: stop checking (the inflater rejects it).
    Invalid,
    /// A distance past the window.
    Overrun,
}

/// Bits, least significant first, over the kept bytes followed by a new
/// chunk.
#[derive(Debug)]
struct Bits<'a> {
    kept: &'a [u8],
    chunk: &'a [u8],
    /// Bytes of `kept` then `chunk` moved into `acc`.
    pos: usize,
    acc: u64,
    count: u32,
}

impl Bits<'_> {
    fn len(&self) -> usize {
        self.kept.len() + self.chunk.len()
    }

    /// Moves input bytes into `acc` until it holds at least `n` bits or
    /// the input ends.
    fn fill(&mut self, n: u32) {
        if self.count >= n {
            return;
        }
        // Fast path: eight bytes of the chunk at once, as many as fit.
        if let Some(at) = self.pos.checked_sub(self.kept.len())
            && let Some(word) = self.chunk.get(at..at + 8)
        {
            let word = u64::from_le_bytes(word.try_into().expect("eight bytes"));
            let bytes = (63 - self.count) / 8;
            self.acc |= (word & ((1u64 << (8 * bytes)) - 1)) << self.count;
            self.count += 8 * bytes;
            self.pos += bytes as usize;
            return;
        }
        while self.count < n {
            let byte = match self.kept.get(self.pos) {
                Some(&byte) => byte,
                None => match self.chunk.get(self.pos - self.kept.len()) {
                    Some(&byte) => byte,
                    None => return,
                },
            };
            self.acc |= u64::from(byte) << self.count;
            self.count += 8;
            self.pos += 1;
        }
    }

    /// The next `n` bits without taking them (zeros past the input's end),
    /// and how many of them there are.
    fn peek(&mut self, n: u32) -> (u32, u32) {
        self.fill(n);
        ((self.acc & ((1u64 << n) - 1)) as u32, self.count.min(n))
    }

    fn take(&mut self, n: u32) -> Result<u32, Stop> {
        self.fill(n);
        if self.count < n {
            return Err(Stop::NeedMore);
        }
        let value = (self.acc & ((1u64 << n) - 1)) as u32;
        self.acc >>= n;
        self.count -= n;
        Ok(value)
    }

    /// Drops the bits up to the next byte boundary.
    fn align(&mut self) {
        let partial = self.count % 8;
        self.acc >>= partial;
        self.count -= partial;
    }

    /// Skips up to `n` whole bytes (after [`align`](Self::align)); how many.
    fn skip(&mut self, n: usize) -> usize {
        let in_acc = (self.count / 8) as usize;
        let from_acc = in_acc.min(n);
        self.acc = self.acc.checked_shr(8 * from_acc as u32).unwrap_or(0);
        self.count -= 8 * from_acc as u32;
        let from_input = (n - from_acc).min(self.len() - self.pos);
        self.pos += from_input;
        from_acc + from_input
    }
}

/// Where the walk is between units.
#[derive(Debug, Clone)]
enum State {
    /// Before a block header.
    Header,
    /// Inside a stored block, this many bytes to skip.
    Stored { left: usize, last: bool },
    /// Inside a compressed block.
    Codes {
        lit: Box<(Huffman, Huffman)>,
        last: bool,
    },
    /// Inside a fixed-code block.
    Fixed { last: bool },
    /// After the final block, or at data this check cannot follow: nothing
    /// more is looked at until [`WindowCheck::reset`].
    Done,
}

/// Checks that a DEFLATE stream's distances stay within a window.
#[derive(Debug)]
pub(super) struct WindowCheck {
    window: usize,
    state: State,
    /// Input of a unit that was cut off: its bytes from the unit's start,
    /// with `acc` / `count` the bits already taken from before them.
    kept: Vec<u8>,
    acc: u64,
    count: u32,
}

/// A distance past the window was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Overrun;

impl WindowCheck {
    pub(super) fn new(window_bits: u8) -> WindowCheck {
        WindowCheck {
            window: 1 << window_bits,
            state: State::Header,
            kept: Vec::new(),
            acc: 0,
            count: 0,
        }
    }

    /// Forgets the stream: the next input starts a new one.
    pub(super) fn reset(&mut self) {
        self.state = State::Header;
        self.kept = Vec::new();
        self.acc = 0;
        self.count = 0;
    }

    /// Walks the next piece of the stream.
    pub(super) fn feed(&mut self, chunk: &[u8]) -> Result<(), Overrun> {
        if matches!(self.state, State::Done) {
            return Ok(());
        }
        let kept = std::mem::take(&mut self.kept);
        let mut bits = Bits {
            kept: &kept,
            chunk,
            pos: 0,
            acc: self.acc,
            count: self.count,
        };
        loop {
            let start = (bits.pos, bits.acc, bits.count);
            match self.unit(&mut bits) {
                Ok(()) => {}
                Err(Stop::NeedMore) => {
                    (bits.pos, bits.acc, bits.count) = start;
                    break;
                }
                Err(Stop::Invalid) => {
                    self.state = State::Done;
                    return Ok(());
                }
                Err(Stop::Overrun) => {
                    self.state = State::Done;
                    return Err(Overrun);
                }
            }
            if matches!(self.state, State::Done) {
                return Ok(());
            }
        }
        // Keep what the cut-off unit has not consumed.
        let mut rest = Vec::with_capacity(bits.len() - bits.pos);
        if bits.pos < kept.len() {
            rest.extend_from_slice(&kept[bits.pos..]);
            rest.extend_from_slice(chunk);
        } else {
            rest.extend_from_slice(&chunk[bits.pos - kept.len()..]);
        }
        self.kept = rest;
        self.acc = bits.acc;
        self.count = bits.count;
        Ok(())
    }

    /// One unit: a block header, a run of a stored block, or one symbol
    /// (a literal, the end of the block, or a length and its distance).
    fn unit(&mut self, bits: &mut Bits<'_>) -> Result<(), Stop> {
        match &mut self.state {
            State::Header => {
                let last = bits.take(1)? == 1;
                self.state = match bits.take(2)? {
                    0 => {
                        bits.align();
                        let len = bits.take(16)?;
                        let nlen = bits.take(16)?;
                        if len != !nlen & 0xffff {
                            return Err(Stop::Invalid);
                        }
                        State::Stored {
                            left: len as usize,
                            last,
                        }
                    }
                    1 => State::Fixed { last },
                    2 => State::Codes {
                        lit: Box::new(dynamic_codes(bits)?),
                        last,
                    },
                    _ => return Err(Stop::Invalid),
                };
                Ok(())
            }
            State::Stored { left, last } => {
                // Not all or nothing: a stored block may span many chunks.
                let skipped = bits.skip(*left);
                *left -= skipped;
                if *left == 0 {
                    self.state = end_of_block(*last);
                } else if skipped == 0 {
                    return Err(Stop::NeedMore);
                }
                Ok(())
            }
            State::Fixed { last } => {
                let last = *last;
                let (lit, dist) = fixed();
                if symbol(bits, lit, dist, self.window)? {
                    self.state = end_of_block(last);
                }
                Ok(())
            }
            State::Codes { lit, last } => {
                if symbol(bits, &lit.0, &lit.1, self.window)? {
                    self.state = end_of_block(*last);
                }
                Ok(())
            }
            State::Done => Ok(()),
        }
    }
}

fn end_of_block(last: bool) -> State {
    if last { State::Done } else { State::Header }
}

/// One literal/length symbol and, for a length, its distance, checked
/// against `window`. `true` at the end of the block.
fn symbol(bits: &mut Bits<'_>, lit: &Huffman, dist: &Huffman, window: usize) -> Result<bool, Stop> {
    let symbol = lit.decode(bits)?;
    match symbol {
        0..=255 => Ok(false),
        256 => Ok(true),
        257..=285 => {
            bits.take(u32::from(LENGTH_EXTRA[usize::from(symbol - 257)]))?;
            let code = usize::from(dist.decode(bits)?);
            if code >= 30 {
                return Err(Stop::Invalid);
            }
            let distance =
                usize::from(DIST_BASE[code]) + bits.take(u32::from(DIST_EXTRA[code]))? as usize;
            if distance > window {
                return Err(Stop::Overrun);
            }
            Ok(false)
        }
        _ => Err(Stop::Invalid),
    }
}

/// The header of a dynamic block (§3.2.7): its two codes.
fn dynamic_codes(bits: &mut Bits<'_>) -> Result<(Huffman, Huffman), Stop> {
    let nlen = bits.take(5)? as usize + 257;
    let ndist = bits.take(5)? as usize + 1;
    let ncode = bits.take(4)? as usize + 4;
    if nlen > 286 || ndist > 30 {
        return Err(Stop::Invalid);
    }
    let mut clen = [0u8; 19];
    for &at in &CLEN_ORDER[..ncode] {
        clen[at] = bits.take(3)? as u8;
    }
    let clen = Huffman::new(&clen).ok_or(Stop::Invalid)?;
    let mut lengths = [0u8; 286 + 30];
    let mut at = 0;
    while at < nlen + ndist {
        let symbol = clen.decode(bits)?;
        let (value, repeat) = match symbol {
            0..=15 => (symbol as u8, 1),
            16 => {
                let previous = *lengths[..at].last().ok_or(Stop::Invalid)?;
                (previous, 3 + bits.take(2)? as usize)
            }
            17 => (0, 3 + bits.take(3)? as usize),
            18 => (0, 11 + bits.take(7)? as usize),
            _ => return Err(Stop::Invalid),
        };
        if at + repeat > nlen + ndist {
            return Err(Stop::Invalid);
        }
        lengths[at..at + repeat].fill(value);
        at += repeat;
    }
    if lengths[256] == 0 {
        return Err(Stop::Invalid);
    }
    let lit = Huffman::new(&lengths[..nlen]).ok_or(Stop::Invalid)?;
    let dist = Huffman::new(&lengths[nlen..nlen + ndist]).ok_or(Stop::Invalid)?;
    Ok((lit, dist))
}

#[cfg(test)]
mod tests {
    use super::super::Compressor;
    use super::super::tests::{compress, words};
    use super::*;
    use proptest::prelude::*;

    fn check(bits: u8, wire: &[u8], chunk: usize) -> Result<(), Overrun> {
        let mut check = WindowCheck::new(bits);
        for piece in wire.chunks(chunk.max(1)) {
            check.feed(piece)?;
        }
        check.feed(&super::super::DEFLATE_TAIL)
    }

    #[test]
    fn data_compressed_within_the_window_passes_in_any_split() {
        for bits in 9..=15u8 {
            for level in [1, 6, 9] {
                let mut tx = Compressor::new(bits, level, false).unwrap();
                let mut check = WindowCheck::new(bits);
                for seed in 0..4 {
                    let wire = compress(&mut tx, &words(seed, 20_000));
                    for piece in wire.chunks(7) {
                        check.feed(piece).unwrap();
                    }
                    check.feed(&super::super::DEFLATE_TAIL).unwrap();
                }
                assert!(matches!(check.state, State::Header), "{:?}", check.state);
            }
        }
    }

    #[test]
    fn a_distance_past_the_window_is_found() {
        let data = super::super::tests::past_a_512_byte_window();
        let wire = compress(&mut Compressor::new(15, 9, false).unwrap(), &data);
        for chunk in [1, 3, 1000] {
            assert_eq!(check(9, &wire, chunk), Err(Overrun));
            assert_eq!(check(10, &wire, chunk), Ok(()));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn garbage_never_panics(
            wire in proptest::collection::vec(any::<u8>(), 0..3000),
            bits in 8..=14u8,
            chunk in 1..500usize,
        ) {
            let _ = check(bits, &wire, chunk);
        }

        #[test]
        fn own_output_always_passes(
            data in super::super::tests::data_strategy(),
            bits in 9..=14u8,
            level in 0..=9u32,
            chunk in 1..3000usize,
        ) {
            let wire = compress(&mut Compressor::new(bits, level, false).unwrap(), &data);
            prop_assert_eq!(check(bits, &wire, chunk), Ok(()));
        }
    }
}
