//! The permessage-deflate codec (RFC 7692 §7.2), sans-IO.
//!
//! - [`Compressor`]: one message in, its compressed payload out: raw DEFLATE
//!   ended with a sync flush, the `00 00 ff ff` tail stripped (§7.2.1).
//! - [`Decompressor`]: the frame payloads of one compressed message in, as
//!   they arrive, and at the end of the message the tail re-appended
//!   (§7.2.2). Output is bounded by a caller's limit, checked after every
//!   inflated step, so a few KiB that would inflate to gigabytes stop at the
//!   limit with bounded memory (decompression bombs).
//! - [`CompressorPool`]: a few shared compressors for connections that run
//!   without context takeover, for a server over its memory budget.
//!
//! Negotiation (which window sizes, whether context is kept between
//! messages) is in [`handshake`](crate::handshake); its
//! [`DeflateParams`](crate::handshake::DeflateParams) builds the codec for
//! each end.
//!
//! # Memory
//!
//! The backend is zlib-rs (through `flate2`). Measured heap per instance
//! once it has compressed or inflated a message, whatever the level (zlib-rs
//! 0.6, default `memLevel` 8, which `flate2` does not let us change):
//!
//! | window bits | compressor | decompressor |
//! |---|---|---|
//! | 9 | 251 008 B (245 KiB) | 47 552 B (46 KiB), plus the window check |
//! | 10 | 253 056 B | 47 552 B, plus the window check |
//! | 12 | 265 344 B | 47 552 B, plus the window check |
//! | 15 | 380 032 B (371 KiB) | 47 552 B |
//!
//! The compressor is 248 960 B of fixed tables (hash heads, pending buffer)
//! plus `4 << window_bits` (window and chain), so a smaller window saves
//! `4 << 15 - 4 << bits` bytes. The decompressor saves nothing: zlib-rs 0.6
//! allocates its 32 KiB window and tables in one block whatever window bits
//! it is given (they only change zlib-header checks), so it is built with
//! 15 bits, and for a peer's window below 15 bits a separate check
//! (`window`) rejects references past it, which neither zlib-rs nor C zlib
//! does; the check holds under 2 KiB while a dynamic block's codes are in
//! use (64 bytes otherwise). [`compressor_memory`] and
//! [`DECOMPRESSOR_MEMORY`] give these figures (plus the inline struct) for a
//! server-wide budget.
//!
//! Nothing is allocated before the first message: [`Compressor`] and
//! [`Decompressor`] make zlib-rs's state when a message needs it, so a
//! connection that negotiated permessage-deflate and sits idle holds only
//! the structs. A compressor keeps its state from then on (reset, not
//! freed, after each message: it is reused); a decompressor keeps it only
//! with context takeover (the window is the context) and drops it after
//! each message otherwise, at the measured cost of a fresh state per
//! message (`benches/RESULTS.md`).
//!
//! The compressor is in `compress`, the decompressor and the bounds on what
//! it inflates in `inflate`, the window check in `window`, the pool in
//! `pool`. This module keeps what
//! they share (the tail, the settings error) and the tests of the codec as
//! a whole: round trips, the RFC's examples, interop with zlib.

use std::fmt;

mod compress;
mod inflate;
mod pool;
mod window;

pub use self::compress::{Compressor, compressor_memory};
pub use self::inflate::{DECOMPRESSOR_MEMORY, Decompressor, INFLATE_STEP, InflateError};
pub use self::pool::{CompressorPool, PooledCompressor};

/// The empty stored block a sync flush ends with, stripped from every
/// compressed message and re-appended before inflating it (RFC 7692 §7.2.1).
///
/// # Examples
///
/// ```
/// use wsgate::protocol::{Compressor, DEFLATE_TAIL};
///
/// let mut out = Vec::new();
/// Compressor::new(15, 6, false)?.compress(b"Hello", &mut out);
/// assert!(!out.ends_with(&DEFLATE_TAIL));
/// # Ok::<(), wsgate::protocol::DeflateSettingError>(())
/// ```
pub const DEFLATE_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// A codec setting out of range.
///
/// # Examples
///
/// ```
/// use wsgate::protocol::{Compressor, DeflateSettingError};
///
/// assert_eq!(Compressor::new(8, 6, false).unwrap_err(), DeflateSettingError::WindowBits(8));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeflateSettingError {
    /// Window bits a compressor cannot use: it needs 9..=15 (zlib and
    /// zlib-rs refuse raw DEFLATE with 8); a decompressor takes 8..=15.
    WindowBits(u8),
    /// A compression level above 9.
    Level(u32),
}

impl fmt::Display for DeflateSettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WindowBits(bits) => write!(
                f,
                "window bits {bits} out of range (9..=15 to compress, 8..=15 to decompress)"
            ),
            Self::Level(level) => write!(f, "compression level {level} out of range 0..=9"),
        }
    }
}

impl std::error::Error for DeflateSettingError {}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(super) fn compress(tx: &mut Compressor, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        tx.compress(data, &mut out);
        out
    }

    /// Inflates one message fed in `chunks`-sized pieces.
    pub(super) fn inflate(
        rx: &mut Decompressor,
        wire: &[u8],
        chunk: usize,
        limit: usize,
    ) -> Result<Vec<u8>, InflateError> {
        let mut out = Vec::new();
        for piece in wire.chunks(chunk.max(1)) {
            rx.decompress_chunk(piece, &mut out, limit)?;
        }
        rx.finish_message(&mut out, limit)?;
        Ok(out)
    }

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// 600 pseudo-random bytes twice: compressed with a 15-bit window, the
    /// second copy is a back-reference 600 bytes back, past a 9-bit window.
    pub(crate) fn past_a_512_byte_window() -> Vec<u8> {
        let block: Vec<u8> = (0..600u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        [&block[..], &block[..]].concat()
    }

    /// Text-like data: words from a small vocabulary, so it compresses and
    /// has back-references at all distances.
    pub(super) fn words(seed: u64, len: usize) -> Vec<u8> {
        const WORDS: [&str; 12] = [
            "alpha ",
            "beta ",
            "gamma ",
            "delta ",
            "websocket ",
            "frame ",
            "deflate ",
            "window ",
            "{\"id\":",
            "42,",
            "\"msg\":\"hi\"}",
            "\n",
        ];
        let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        let mut out = Vec::with_capacity(len + 16);
        while out.len() < len {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            out.extend_from_slice(WORDS[(x >> 33) as usize % WORDS.len()].as_bytes());
        }
        out.truncate(len);
        out
    }

    #[test]
    fn settings_are_validated_before_flate2_panics() {
        for bits in [0, 7, 8, 16, 255] {
            assert_eq!(
                Compressor::new(bits, 6, false).unwrap_err(),
                DeflateSettingError::WindowBits(bits)
            );
        }
        for bits in [0, 7, 16, 31, 255] {
            assert_eq!(
                Decompressor::new(bits, false).unwrap_err(),
                DeflateSettingError::WindowBits(bits)
            );
        }
        assert_eq!(
            Compressor::new(15, 10, false).unwrap_err(),
            DeflateSettingError::Level(10)
        );
        for bits in 9..=15 {
            for level in 0..=9 {
                Compressor::new(bits, level, false).unwrap();
            }
        }
        for bits in 8..=15 {
            Decompressor::new(bits, false).unwrap();
        }
        assert!(CompressorPool::new(2, 8, 6).is_err());
        assert_eq!(
            DeflateSettingError::WindowBits(8).to_string(),
            "window bits 8 out of range (9..=15 to compress, 8..=15 to decompress)"
        );
    }

    #[test]
    fn output_has_no_tail_and_round_trips() {
        let mut tx = Compressor::new(15, 6, false).unwrap();
        let mut rx = Decompressor::new(15, false).unwrap();
        for data in [&b""[..], b"a", b"Hello", &words(1, 5000), &[0u8; 70_000]] {
            let wire = compress(&mut tx, data);
            assert!(!wire.is_empty());
            assert!(!wire.ends_with(&DEFLATE_TAIL));
            assert_eq!(
                inflate(&mut rx, &wire, usize::MAX, usize::MAX).unwrap(),
                data
            );
        }
    }

    #[test]
    fn empty_messages_are_one_zero_byte_or_more() {
        // Fresh state, after a message, and twice in a row: never empty, and
        // the peer stays in sync.
        let mut tx = Compressor::new(15, 6, false).unwrap();
        let mut rx = Decompressor::new(15, false).unwrap();
        let first = compress(&mut tx, b"");
        assert_eq!(first, [0x00]);
        for data in [&b"Hello"[..], b"", b"", b"Hello", b""] {
            let wire = compress(&mut tx, data);
            assert!(!wire.is_empty());
            assert_eq!(inflate(&mut rx, &wire, 1, 100).unwrap(), data);
        }
    }

    #[test]
    fn rfc7692_examples() {
        // §7.2.3.1: a message in one frame and in two.
        let mut rx = Decompressor::new(15, false).unwrap();
        assert_eq!(
            inflate(&mut rx, &hex("f2 48 cd c9 c9 07 00"), 100, 100).unwrap(),
            b"Hello"
        );
        let mut out = Vec::new();
        rx.decompress_chunk(&hex("f2 48 cd"), &mut out, 100)
            .unwrap();
        rx.decompress_chunk(&hex("c9 c9 07 00"), &mut out, 100)
            .unwrap();
        rx.finish_message(&mut out, 100).unwrap();
        assert_eq!(out, b"Hello");

        // §7.2.3.2: the second "Hello" refers to the first.
        let mut rx = Decompressor::new(15, false).unwrap();
        assert_eq!(
            inflate(&mut rx, &hex("f2 48 cd c9 c9 07 00"), 100, 100).unwrap(),
            b"Hello"
        );
        assert_eq!(
            inflate(&mut rx, &hex("f2 00 11 00 00"), 100, 100).unwrap(),
            b"Hello"
        );
        // ... which a decompressor without context cannot inflate.
        let mut fresh = Decompressor::new(15, true).unwrap();
        assert_eq!(
            inflate(&mut fresh, &hex("f2 00 11 00 00"), 100, 100),
            Err(InflateError::Corrupt)
        );

        // §7.2.3.3: an uncompressed (stored) block.
        let mut rx = Decompressor::new(15, false).unwrap();
        assert_eq!(
            inflate(&mut rx, &hex("00 05 00 fa ff 48 65 6c 6c 6f 00"), 3, 100).unwrap(),
            b"Hello"
        );

        // §7.2.3.4: a block with BFINAL set; the stream ends, the trailing
        // bytes are ignored, and the next message starts a new stream.
        let mut rx = Decompressor::new(15, false).unwrap();
        assert_eq!(
            inflate(&mut rx, &hex("f3 48 cd c9 c9 07 00 00"), 1, 100).unwrap(),
            b"Hello"
        );
        assert_eq!(
            inflate(&mut rx, &hex("f2 48 cd c9 c9 07 00"), 100, 100).unwrap(),
            b"Hello"
        );

        // §7.2.3.5: two DEFLATE blocks in one message.
        let mut rx = Decompressor::new(15, false).unwrap();
        assert_eq!(
            inflate(
                &mut rx,
                &hex("f2 48 05 00 00 00 ff ff ca c9 c9 07 00"),
                5,
                100
            )
            .unwrap(),
            b"Hello"
        );

        // §7.2.3.6: an empty message.
        let mut rx = Decompressor::new(15, false).unwrap();
        assert_eq!(inflate(&mut rx, &hex("00"), 1, 0).unwrap(), b"");
        assert_eq!(
            inflate(&mut rx, &hex("f2 48 cd c9 c9 07 00"), 100, 100).unwrap(),
            b"Hello"
        );

        // And what we send for "Hello" inflates the same.
        let mut tx = Compressor::new(15, 6, false).unwrap();
        let wire = compress(&mut tx, b"Hello");
        assert_eq!(wire, hex("f2 48 cd c9 c9 07 00"));
    }

    #[test]
    fn python_zlib_interop() {
        // Made with CPython's zlib 1.2.13:
        //   c = zlib.compressobj(6, zlib.DEFLATED, -15)
        //   (c.compress(m) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]
        // for m = b"Hello, world! " * 20, twice (context taken over).
        let first = hex("f2 48 cd c9 c9 d7 51 28 cf 2f ca 49 51 54 f0 18 e5 41 79 00 00");
        let second = hex("1a e5 61 e7 01 00");
        let text = b"Hello, world! ".repeat(20);
        let mut rx = Decompressor::new(15, false).unwrap();
        assert_eq!(inflate(&mut rx, &first, 4, 1000).unwrap(), text);
        assert_eq!(inflate(&mut rx, &second, 1, 1000).unwrap(), text);

        // wbits=-9, level 9: bytes(range(200)) * 10.
        let nine = hex(
            "62 60 64 62 66 61 65 63 e7 e0 e4 e2 e6 e1 e5 e3 17 10 14 12 16 11 15 13 97 90 94 92 \
             96 91 95 93 57 50 54 52 56 51 55 53 d7 d0 d4 d2 d6 d1 d5 d3 37 30 34 32 36 31 35 33 \
             b7 b0 b4 b2 b6 b1 b5 b3 77 70 74 72 76 71 75 73 f7 f0 f4 f2 f6 f1 f5 f3 0f 08 0c 0a \
             0e 09 0d 0b 8f 88 8c 8a 8e 89 8d 8b 4f 48 4c 4a 4e 49 4d 4b cf c8 cc ca ce c9 cd cb \
             2f 28 2c 2a 2e 29 2d 2b af a8 ac aa ae a9 ad ab 6f 68 6c 6a 6e 69 6d 6b ef e8 ec ea \
             ee e9 ed eb 9f 30 71 d2 e4 29 53 a7 4d 9f 31 73 d6 ec 39 73 e7 cd 5f b0 70 d1 e2 25 \
             4b 97 2d 5f b1 72 d5 ea 35 6b d7 ad df b0 71 d3 e6 2d 5b b7 6d df b1 73 d7 ee 3d 7b \
             f7 ed 3f 70 f0 d0 e1 23 47 8f 1d 67 18 f5 c7 a8 3f 46 fd 31 ea 8f 51 7f 8c fa 63 04 \
             fb 03 00",
        );
        let expected: Vec<u8> = (0..200u8).cycle().take(2000).collect();
        let mut rx = Decompressor::new(9, true).unwrap();
        assert_eq!(inflate(&mut rx, &nine, 7, 2000).unwrap(), expected);
    }

    /// A minimal fixed-Huffman DEFLATE writer, to make data no zlib will:
    /// a stream whose back-references reach exactly 256 bytes, the most an
    /// 8-bit window allows.
    struct BitWriter {
        out: Vec<u8>,
        acc: u32,
        bits: u32,
    }

    impl BitWriter {
        fn new() -> BitWriter {
            BitWriter {
                out: Vec::new(),
                acc: 0,
                bits: 0,
            }
        }
        /// `n` bits of `value`, least significant first.
        fn put(&mut self, value: u32, n: u32) {
            self.acc |= value << self.bits;
            self.bits += n;
            while self.bits >= 8 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.bits -= 8;
            }
        }
        /// A Huffman code: most significant bit first.
        fn code(&mut self, code: u32, n: u32) {
            for i in (0..n).rev() {
                self.put((code >> i) & 1, 1);
            }
        }
        fn literal(&mut self, byte: u8) {
            match byte {
                0..=143 => self.code(0x30 + u32::from(byte), 8),
                _ => self.code(0x190 + u32::from(byte) - 144, 9),
            }
        }
        /// Length 258 (code 285), distance 256 (code 15, 6 extra bits = 63).
        fn match_258_at_256(&mut self) {
            self.code(0xc0 + (285 - 280), 8);
            self.code(15, 5);
            self.put(63, 6);
        }
        fn end_of_block(&mut self) {
            self.code(0, 7);
        }
        /// Sync flush: an empty stored block; the tail is left off.
        fn sync_flush(mut self) -> Vec<u8> {
            self.put(0, 3);
            if self.bits > 0 {
                self.put(0, 8 - self.bits);
            }
            self.out
        }
    }

    /// Two messages as an 8-bit-window compressor would make them (context
    /// taken over), and the 772 bytes they inflate to.
    fn eight_bit_window_messages() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        // Message 1: 256 literals, then 258 bytes copied from 256 back.
        let block: Vec<u8> = (0..=255u8).rev().collect();
        let mut w = BitWriter::new();
        w.put(0b010, 3); // BFINAL 0, fixed Huffman
        for &b in &block {
            w.literal(b);
        }
        w.match_258_at_256();
        w.end_of_block();
        let first = w.sync_flush();
        // Message 2: only a 258-byte copy from 256 back, reaching into
        // message 1.
        let mut w = BitWriter::new();
        w.put(0b010, 3);
        w.match_258_at_256();
        w.end_of_block();
        let second = w.sync_flush();
        let stream = block
            .iter()
            .copied()
            .cycle()
            .take(256 + 258 + 258)
            .collect();
        (first, second, stream)
    }

    #[test]
    fn inflates_8_bit_window_data() {
        let (first, second, stream) = eight_bit_window_messages();
        let mut rx = Decompressor::new(8, false).unwrap();
        assert_eq!(inflate(&mut rx, &first, 5, 1000).unwrap(), stream[..514]);
        assert_eq!(inflate(&mut rx, &second, 1, 1000).unwrap(), stream[514..]);
        // That this is valid 8-bit-window data (C zlib inflating with
        // wbits=-8 accepts it) is checked by `python_zlib_interop_all_windows`.
    }

    #[test]
    fn context_takeover_makes_later_messages_smaller_and_dependent() {
        let data = words(7, 4000);
        let mut tx = Compressor::new(15, 6, false).unwrap();
        let one = compress(&mut tx, &data);
        let two = compress(&mut tx, &data);
        assert!(two.len() < one.len() / 4, "{} vs {}", two.len(), one.len());
        // A decompressor that resets cannot follow.
        let mut rx = Decompressor::new(15, true).unwrap();
        assert_eq!(inflate(&mut rx, &one, 100, 10_000).unwrap(), data);
        assert_ne!(inflate(&mut rx, &two, 100, 10_000), Ok(data.clone()));
    }

    #[test]
    fn no_context_takeover_messages_are_independent() {
        let data = words(8, 4000);
        let mut tx = Compressor::new(15, 6, true).unwrap();
        let one = compress(&mut tx, &data);
        let two = compress(&mut tx, &data);
        assert_eq!(one, two);
        // Each inflates on its own, and also with a decompressor that keeps
        // its context (a reset sender only uses less of the window).
        for no_context_takeover in [true, false] {
            let mut rx = Decompressor::new(15, no_context_takeover).unwrap();
            for wire in [&one, &two, &one] {
                assert_eq!(inflate(&mut rx, wire, 333, 10_000).unwrap(), data);
            }
        }
    }

    /// Runs `script` with python3, `input` on stdin; `None` without python3.
    fn python(script: &str, input: &[u8]) -> Option<Vec<u8>> {
        use std::io::Write as _;
        use std::process::{Command, Stdio};
        let mut child = Command::new("python3")
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .ok()?;
        child.stdin.take().unwrap().write_all(input).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "python3 failed");
        Some(output.stdout)
    }

    /// Length-prefixed records, as the Python scripts below read and write.
    fn records(items: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for item in items {
            out.extend_from_slice(&(item.len() as u32).to_be_bytes());
            out.extend_from_slice(item);
        }
        out
    }

    fn parse_records(mut buf: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while !buf.is_empty() {
            let len = u32::from_be_bytes(buf[..4].try_into().unwrap()) as usize;
            out.push(buf[4..4 + len].to_vec());
            buf = &buf[4 + len..];
        }
        out
    }

    const PY_RECORDS: &str = "import sys, struct, zlib\n\
        def read():\n\
        \x20   b = sys.stdin.buffer.read(); out = []\n\
        \x20   while b:\n\
        \x20       n = struct.unpack('>I', b[:4])[0]; out.append(b[4:4 + n]); b = b[4 + n:]\n\
        \x20   return out\n\
        def write(items):\n\
        \x20   sys.stdout.buffer.write(b''.join(struct.pack('>I', len(i)) + i for i in items))\n";

    /// Interop with C zlib (CPython), whose inflate, unlike zlib-rs's,
    /// enforces the window size: what we compress with `bits` inflates with
    /// `wbits=-bits`, context kept across messages; and what C zlib
    /// compresses (any window 9..=15, context kept) we inflate. Needs
    /// python3: `cargo test --lib deflate -- --ignored`.
    #[test]
    #[ignore = "runs python3"]
    fn python_zlib_interop_all_windows() {
        let messages: Vec<Vec<u8>> = (0..8)
            .map(|i| match i % 3 {
                0 => words(i, 5000),
                1 => (0..3000u32).map(|x| (x * x % 251) as u8).collect(),
                _ => b"Hello".to_vec(),
            })
            .collect();
        // The hand-made 8-bit-window messages are valid for C zlib's
        // strict 256-byte window.
        let (first, second, stream) = eight_bit_window_messages();
        let script = format!(
            "{PY_RECORDS}d = zlib.decompressobj(-8)\n\
             write([d.decompress(m + b'\\x00\\x00\\xff\\xff') for m in read()])\n"
        );
        let Some(stdout) = python(&script, &records(&[first, second])) else {
            eprintln!("no python3: skipped");
            return;
        };
        assert_eq!(parse_records(&stdout).concat(), stream);

        for bits in 9..=15u8 {
            // Ours -> C zlib with a strict 2^bits window.
            let mut tx = Compressor::new(bits, 9, false).unwrap();
            let mut input = vec![bits];
            input.extend(records(
                &messages
                    .iter()
                    .map(|m| compress(&mut tx, m))
                    .collect::<Vec<_>>(),
            ));
            let script = format!(
                "{PY_RECORDS}bits = sys.stdin.buffer.read(1)[0]\n\
                 d = zlib.decompressobj(-bits)\n\
                 write([d.decompress(m + b'\\x00\\x00\\xff\\xff') for m in read()])\n"
            );
            let stdout = python(&script, &input).unwrap();
            assert_eq!(
                parse_records(&stdout),
                messages,
                "ours -> zlib, bits {bits}"
            );

            // C zlib with 2^bits -> ours.
            let mut input = vec![bits];
            input.extend(records(&messages));
            let script = format!(
                "{PY_RECORDS}bits = sys.stdin.buffer.read(1)[0]\n\
                 c = zlib.compressobj(6, zlib.DEFLATED, -bits)\n\
                 write([(c.compress(m) + c.flush(zlib.Z_SYNC_FLUSH))[:-4] for m in read()])\n"
            );
            let wires = parse_records(&python(&script, &input).unwrap());
            let mut rx = Decompressor::new(bits, false).unwrap();
            for (wire, message) in wires.iter().zip(&messages) {
                assert_eq!(&inflate(&mut rx, wire, 1000, 10_000).unwrap(), message);
            }
        }
    }

    #[test]
    fn reset_forgets_context() {
        let data = words(3, 2000);
        let mut tx = Compressor::new(15, 6, false).unwrap();
        let mut rx = Decompressor::new(15, false).unwrap();
        let one = compress(&mut tx, &data);
        inflate(&mut rx, &one, 64, 5000).unwrap();
        tx.reset();
        rx.reset();
        let again = compress(&mut tx, &data);
        assert_eq!(again, one);
        assert_eq!(inflate(&mut rx, &again, 64, 5000).unwrap(), data);
    }

    #[test]
    fn memory_estimates() {
        assert_eq!(
            compressor_memory(15) - compressor_memory(9),
            (4 << 15) - (4 << 9)
        );
        assert_eq!(compressor_memory(8), compressor_memory(9));
        assert_eq!(compressor_memory(200), compressor_memory(15));
        // The issue's figures: ~134-371 KiB per compressor, ~46 KiB per
        // decompressor.
        assert!((371 << 10..372 << 10).contains(&compressor_memory(15)));
        assert!((46 << 10..47 << 10).contains(&DECOMPRESSOR_MEMORY));
    }

    pub(super) fn data_strategy() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..3000),
            (any::<u64>(), 0..20_000usize).prop_map(|(seed, len)| words(seed, len)),
            (any::<u8>(), 0..50_000usize).prop_map(|(b, len)| vec![b; len]),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn round_trip_across_chunkings(
            messages in proptest::collection::vec(data_strategy(), 1..6),
            bits in 9..=15u8,
            level in 0..=9u32,
            no_context_takeover in any::<bool>(),
            chunk in 1..2000usize,
        ) {
            let mut tx = Compressor::new(bits, level, no_context_takeover).unwrap();
            let mut rx = Decompressor::new(bits, no_context_takeover).unwrap();
            for data in &messages {
                let wire = compress(&mut tx, data);
                prop_assert!(!wire.is_empty());
                let out = inflate(&mut rx, &wire, chunk, data.len()).unwrap();
                prop_assert_eq!(&out, data);
            }
        }

        #[test]
        fn random_splits_within_a_message(
            data in data_strategy(),
            cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 0..8),
        ) {
            let mut tx = Compressor::new(15, 6, false).unwrap();
            let warmup = words(1, 500);
            let first = compress(&mut tx, &warmup);
            let wire = compress(&mut tx, &data);
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(wire.len() + 1)).collect();
            points.push(0);
            points.push(wire.len());
            points.sort_unstable();
            let mut rx = Decompressor::new(15, false).unwrap();
            prop_assert_eq!(inflate(&mut rx, &first, 1000, 500).unwrap(), warmup);
            let mut out = Vec::new();
            for pair in points.windows(2) {
                rx.decompress_chunk(&wire[pair[0]..pair[1]], &mut out, data.len()).unwrap();
            }
            rx.finish_message(&mut out, data.len()).unwrap();
            prop_assert_eq!(out, data);
        }
    }
}
