//! The compressor: one whole message in, its compressed payload out, and
//! what one costs in memory.

use flate2::{Compress, Compression, FlushCompress, Status};

use super::{DEFLATE_TAIL, DeflateSettingError};

/// The zlib-rs level that compresses like zlib's `level`.
///
/// zlib-rs takes its level table from zlib-ng, which is not zlib's: level 1
/// is `deflate_quick` (a single hash probe, static Huffman codes) and levels
/// 3 to 6 are `deflate_medium` (no lazy matching), where zlib runs
/// `deflate_fast` for 1 to 3 and the lazy `deflate_slow` for 4 to 9. On
/// periodic text those choices cost a lot: 16 MiB of one 86-byte line came
/// out at 73 KB with zlib-rs level 6 and window 15 (57 KB with zlib level
/// 6), and at 2.6 MB with window 9 (57 KB). So each zlib level runs the
/// zlib-rs level with zlib's algorithm and at least zlib's search effort:
///
/// | zlib level | zlib-rs level | algorithm |
/// |---|---|---|
/// | 0 | 0 | stored |
/// | 1 | 2 | `deflate_fast`, zlib's level-1 parameters |
/// | 2, 3 | 3, 4 | `deflate_medium` with more search than zlib's `deflate_fast` |
/// | 4 to 7 | 7 | `deflate_slow`, zlib's level-7 parameters |
/// | 8, 9 | 8, 9 | `deflate_slow`, as zlib |
///
/// The price is CPU at the default level 6 (measured in `benches/RESULTS.md`).
const fn backend_level(level: u32) -> u32 {
    match level {
        1..=3 => level + 1,
        4..=6 => 7,
        other => other,
    }
}

/// Fixed heap of one zlib-rs compressor besides its window (measured with
/// zlib-rs 0.6: hash heads 128 KiB, pending buffer 64 KiB, the rest state).
const COMPRESSOR_FIXED_HEAP: usize = 248_960;

/// Bytes one [`Compressor`] with `window_bits` costs: its zlib-rs state
/// (measured: 248 960 bytes of tables plus `4 << window_bits`, whatever the
/// level) plus the struct itself. Window bits outside 9..=15 are clamped.
///
/// # Examples
///
/// ```
/// use wsgate::protocol::compressor_memory;
///
/// assert!(compressor_memory(15) > 370 << 10); // ~371 KiB
/// assert!(compressor_memory(9) < 246 << 10); // ~245 KiB
/// ```
pub const fn compressor_memory(window_bits: u8) -> usize {
    let bits = if window_bits < 9 {
        9
    } else if window_bits > 15 {
        15
    } else {
        window_bits
    };
    COMPRESSOR_FIXED_HEAP + (4 << bits) + std::mem::size_of::<Compressor>()
}

/// Compresses outgoing messages for permessage-deflate.
///
/// Each [`compress`](Self::compress) call is one whole message. With context
/// takeover (the default) the LZ77 window carries over to the next message,
/// which the peer's decompressor mirrors; with `no_context_takeover` the
/// state is reset after every message, so messages are independent (and a
/// compressor can be shared, see [`CompressorPool`](super::CompressorPool)).
///
/// Once a message went through [`compress`](Self::compress), it must be sent
/// compressed when context is taken over: the peer's window has to see the
/// same bytes as ours.
///
/// # Examples
///
/// ```
/// use wsgate::protocol::{Compressor, Decompressor};
///
/// let mut tx = Compressor::new(15, 6, false)?;
/// let mut rx = Decompressor::new(15, false)?;
/// for _ in 0..3 {
///     let mut wire = Vec::new();
///     tx.compress(b"Hello, Hello, Hello!", &mut wire);
///     let mut text = Vec::new();
///     rx.decompress_chunk(&wire, &mut text, 1024)?;
///     rx.finish_message(&mut text, 1024)?;
///     assert_eq!(text, b"Hello, Hello, Hello!");
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Compressor {
    inner: Compress,
    pub(super) window_bits: u8,
    pub(super) level: u32,
    no_context_takeover: bool,
}

impl Compressor {
    /// A compressor with a `2^window_bits`-byte window (9..=15) and a zlib
    /// `level` (0 = stored only, 1 = fastest, 9 = smallest). Each level
    /// compresses within a few percent of zlib's at the same level and
    /// window (zlib-rs's own level table trades size for speed; the levels
    /// are mapped onto it so they do not).
    ///
    /// # Errors
    ///
    /// [`DeflateSettingError`] for window bits outside 9..=15 (8 included:
    /// zlib-rs cannot compress raw DEFLATE with a 256-byte window) or a level
    /// above 9.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::Compressor;
    ///
    /// let tx = Compressor::new(12, 1, true).unwrap();
    /// assert_eq!((tx.window_bits(), tx.level(), tx.no_context_takeover()), (12, 1, true));
    /// assert!(Compressor::new(16, 6, false).is_err());
    /// assert!(Compressor::new(15, 10, false).is_err());
    /// ```
    pub fn new(
        window_bits: u8,
        level: u32,
        no_context_takeover: bool,
    ) -> Result<Compressor, DeflateSettingError> {
        if !(9..=15).contains(&window_bits) {
            return Err(DeflateSettingError::WindowBits(window_bits));
        }
        if level > 9 {
            return Err(DeflateSettingError::Level(level));
        }
        Ok(Compressor {
            // Checked above: this constructor panics outside 9..=15.
            inner: Compress::new_with_window_bits(
                Compression::new(backend_level(level)),
                false,
                window_bits,
            ),
            window_bits,
            level,
            no_context_takeover,
        })
    }

    /// The window size, as a base-2 logarithm.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(wsgate::protocol::Compressor::new(9, 6, false).unwrap().window_bits(), 9);
    /// ```
    pub fn window_bits(&self) -> u8 {
        self.window_bits
    }

    /// The compression level.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(wsgate::protocol::Compressor::new(15, 3, false).unwrap().level(), 3);
    /// ```
    pub fn level(&self) -> u32 {
        self.level
    }

    /// Whether the state is reset after every message.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(wsgate::protocol::Compressor::new(15, 6, true).unwrap().no_context_takeover());
    /// ```
    pub fn no_context_takeover(&self) -> bool {
        self.no_context_takeover
    }

    /// Bytes this compressor costs, as [`compressor_memory`] estimates.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::{compressor_memory, Compressor};
    ///
    /// assert_eq!(Compressor::new(10, 6, false).unwrap().memory(), compressor_memory(10));
    /// ```
    pub fn memory(&self) -> usize {
        compressor_memory(self.window_bits)
    }

    /// Compresses one whole message, appending its payload to `out`.
    ///
    /// The payload is raw DEFLATE ended by a sync flush with the final
    /// `00 00 ff ff` removed (RFC 7692 §7.2.1); send it with RSV1 set on the
    /// first frame. An empty result is never produced: an empty message
    /// becomes the single byte `00` (§7.2.3.6). With no context takeover the
    /// state is reset afterwards.
    ///
    /// # Panics
    ///
    /// Only if zlib-rs reports an internal error, which a valid state never
    /// does.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::Compressor;
    ///
    /// let mut tx = Compressor::new(15, 6, true)?;
    /// let mut out = Vec::new();
    /// tx.compress(&[b'a'; 1000], &mut out);
    /// assert!(out.len() < 20);
    /// assert!(!out.ends_with(&[0, 0, 0xff, 0xff]));
    /// # Ok::<(), wsgate::protocol::DeflateSettingError>(())
    /// ```
    pub fn compress(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        out.reserve(payload.len() / 4 + 64);
        let mut input = payload;
        loop {
            if out.len() == out.capacity() {
                out.reserve((out.len() - start).max(1024));
            }
            let before = self.inner.total_in();
            let status = self
                .inner
                .compress_vec(input, out, FlushCompress::Sync)
                .expect("zlib-rs deflate with a valid state does not fail");
            let consumed = (self.inner.total_in() - before) as usize;
            input = &input[consumed..];
            // The flush is complete once all input is in and deflate stopped
            // with output space to spare (zlib's `avail_out != 0`).
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
            debug_assert!(matches!(status, Status::Ok | Status::BufError));
        }
        if out[start..].ends_with(&DEFLATE_TAIL) {
            out.truncate(out.len() - DEFLATE_TAIL.len());
        }
        if out.len() == start {
            // A flush with nothing new to flush emits nothing; an empty
            // compressed payload would not inflate (the appended tail needs a
            // block header before it), so send an empty stored block's header.
            out.push(0x00);
        }
        if self.no_context_takeover {
            self.inner.reset();
        }
    }

    /// Forgets the context: the next message is compressed as if it were the
    /// first. Window bits and level are kept.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::Compressor;
    ///
    /// let mut tx = Compressor::new(15, 6, false)?;
    /// let (mut first, mut again) = (Vec::new(), Vec::new());
    /// tx.compress(b"Hello", &mut first);
    /// tx.reset();
    /// tx.compress(b"Hello", &mut again);
    /// assert_eq!(first, again);
    /// # Ok::<(), wsgate::protocol::DeflateSettingError>(())
    /// ```
    pub fn reset(&mut self) {
        self.inner.reset();
    }
}
