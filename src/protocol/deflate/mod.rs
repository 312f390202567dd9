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
//! The backend is zlib-rs (through `flate2`). Measured heap per instance,
//! whatever the level (zlib-rs 0.6, default `memLevel` 8, which `flate2`
//! does not let us change):
//!
//! | window bits | compressor | decompressor |
//! |---|---|---|
//! | 9 | 251 008 B (245 KiB) | 47 552 B (46 KiB) |
//! | 10 | 253 056 B | 47 552 B |
//! | 12 | 265 344 B | 47 552 B |
//! | 15 | 380 032 B (371 KiB) | 47 552 B |
//!
//! The compressor is 248 960 B of fixed tables (hash heads, pending buffer)
//! plus `4 << window_bits` (window and chain); the decompressor allocates a
//! 32 KiB window and its tables whatever the window. [`compressor_memory`]
//! and [`DECOMPRESSOR_MEMORY`] give these figures (plus the inline struct)
//! for a server-wide budget. Nothing else is allocated per instance after
//! construction: compressing, inflating and resetting reuse the state.
//!
//! The pool, which shares compressors between connections, is in `pool`.

use std::fmt;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::close::CloseCode;

mod pool;

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

/// The most bytes one inflate step writes before the limit is checked again.
///
/// [`Decompressor`] never holds more than `limit + 1` output bytes: each
/// step is at most this long and at most one byte past the limit.
///
/// # Examples
///
/// ```
/// assert_eq!(wsgate::protocol::INFLATE_STEP, 32 << 10);
/// ```
pub const INFLATE_STEP: usize = 32 << 10;

/// Fixed heap of one zlib-rs compressor besides its window (measured with
/// zlib-rs 0.6: hash heads 128 KiB, pending buffer 64 KiB, the rest state).
const COMPRESSOR_FIXED_HEAP: usize = 248_960;

/// Measured heap of one zlib-rs decompressor, whatever the window bits.
const DECOMPRESSOR_HEAP: usize = 47_552;

/// Bytes one [`Decompressor`] costs: its zlib-rs state (47 552 bytes,
/// measured; the same for every window size) plus the struct itself.
///
/// # Examples
///
/// ```
/// use wsgate::protocol::DECOMPRESSOR_MEMORY;
///
/// assert!(DECOMPRESSOR_MEMORY > 46 << 10 && DECOMPRESSOR_MEMORY < 48 << 10);
/// ```
pub const DECOMPRESSOR_MEMORY: usize = DECOMPRESSOR_HEAP + std::mem::size_of::<Decompressor>();

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
            Self::WindowBits(bits) => write!(f, "window bits {bits} out of range"),
            Self::Level(level) => write!(f, "compression level {level} out of range 0..=9"),
        }
    }
}

impl std::error::Error for DeflateSettingError {}

/// Why a compressed message could not be inflated.
///
/// # Examples
///
/// ```
/// use wsgate::protocol::InflateError;
/// use wsgate::CloseCode;
///
/// assert_eq!(InflateError::TooLarge { limit: 10 }.close_code(), CloseCode::MESSAGE_TOO_BIG);
/// assert_eq!(InflateError::Corrupt.close_code(), CloseCode::INVALID_PAYLOAD);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflateError {
    /// The inflated message would be longer than the limit (close with 1009).
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The payload is not valid DEFLATE data (close with 1007).
    Corrupt,
}

impl InflateError {
    /// The close code to fail the connection with: 1009 for
    /// [`TooLarge`](Self::TooLarge), 1007 for [`Corrupt`](Self::Corrupt).
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::InflateError;
    ///
    /// assert_eq!(InflateError::Corrupt.close_code().as_u16(), 1007);
    /// ```
    pub fn close_code(&self) -> CloseCode {
        match self {
            Self::TooLarge { .. } => CloseCode::MESSAGE_TOO_BIG,
            Self::Corrupt => CloseCode::INVALID_PAYLOAD,
        }
    }
}

impl fmt::Display for InflateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { limit } => {
                write!(f, "inflated message larger than the {limit}-byte limit")
            }
            Self::Corrupt => f.write_str("invalid compressed data"),
        }
    }
}

impl std::error::Error for InflateError {}

/// Compresses outgoing messages for permessage-deflate.
///
/// Each [`compress`](Self::compress) call is one whole message. With context
/// takeover (the default) the LZ77 window carries over to the next message,
/// which the peer's decompressor mirrors; with `no_context_takeover` the
/// state is reset after every message, so messages are independent (and a
/// compressor can be shared, see [`CompressorPool`]).
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
    window_bits: u8,
    level: u32,
    no_context_takeover: bool,
}

impl Compressor {
    /// A compressor with a `2^window_bits`-byte window (9..=15) and a zlib
    /// `level` (0 = stored only, 1 = fastest, 9 = smallest).
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
            inner: Compress::new_with_window_bits(Compression::new(level), false, window_bits),
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

/// Inflates incoming compressed messages for permessage-deflate, frame
/// payload by frame payload, with the output bounded.
///
/// For a message whose first frame has RSV1 set, feed each frame's
/// (unmasked) payload to [`decompress_chunk`](Self::decompress_chunk) as it
/// arrives, then call [`finish_message`](Self::finish_message) after the
/// frame with FIN. Both append to `out` and fail with
/// [`InflateError::TooLarge`] as soon as `out.len()` would pass `limit`:
/// inflating goes in steps of at most [`INFLATE_STEP`] bytes, never past
/// `limit + 1`, and `out` never grows beyond `limit + 1` bytes of capacity
/// (unless it already had more).
///
/// The window is always 32 KiB (window bits 15): zlib-rs allocates the same
/// for any window size, a larger window inflates all data made with a
/// smaller one (8 included, which zlib-rs could not be asked for through
/// `flate2`), and the default window lets a reset reuse the state instead of
/// reallocating it.
///
/// After an error the state is undefined: fail the connection (or
/// [`reset`](Self::reset) before any further use).
///
/// # Examples
///
/// ```
/// use wsgate::protocol::{Decompressor, InflateError};
///
/// // RFC 7692 §7.2.3.1: "Hello" in two frames.
/// let mut rx = Decompressor::new(15, false)?;
/// let mut out = Vec::new();
/// rx.decompress_chunk(&[0xf2, 0x48, 0xcd], &mut out, 1024)?;
/// rx.decompress_chunk(&[0xc9, 0xc9, 0x07, 0x00], &mut out, 1024)?;
/// rx.finish_message(&mut out, 1024)?;
/// assert_eq!(out, b"Hello");
///
/// // The same message against a 4-byte limit.
/// let mut rx = Decompressor::new(15, false)?;
/// let mut out = Vec::new();
/// let err = rx
///     .decompress_chunk(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], &mut out, 4)
///     .and_then(|()| rx.finish_message(&mut out, 4));
/// assert_eq!(err, Err(InflateError::TooLarge { limit: 4 }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Decompressor {
    inner: Decompress,
    window_bits: u8,
    no_context_takeover: bool,
    /// The peer ended its DEFLATE stream (a block with BFINAL set): the rest
    /// of this message is ignored and the state is reset after it.
    ended: bool,
}

impl Decompressor {
    /// A decompressor for a peer that compresses with at most
    /// `2^window_bits` bytes of window (8..=15) and, with
    /// `no_context_takeover`, resets its context after every message (this
    /// side then resets too).
    ///
    /// # Errors
    ///
    /// [`DeflateSettingError::WindowBits`] outside 8..=15.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::Decompressor;
    ///
    /// assert!(Decompressor::new(8, true).is_ok());
    /// assert!(Decompressor::new(7, true).is_err());
    /// ```
    pub fn new(
        window_bits: u8,
        no_context_takeover: bool,
    ) -> Result<Decompressor, DeflateSettingError> {
        if !(8..=15).contains(&window_bits) {
            return Err(DeflateSettingError::WindowBits(window_bits));
        }
        Ok(Decompressor {
            // The default window, 15 bits: see the type's documentation.
            inner: Decompress::new(false),
            window_bits,
            no_context_takeover,
            ended: false,
        })
    }

    /// The peer's window size, as given to [`new`](Self::new).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(wsgate::protocol::Decompressor::new(8, false).unwrap().window_bits(), 8);
    /// ```
    pub fn window_bits(&self) -> u8 {
        self.window_bits
    }

    /// Whether the state is reset after every message.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!wsgate::protocol::Decompressor::new(15, false).unwrap().no_context_takeover());
    /// ```
    pub fn no_context_takeover(&self) -> bool {
        self.no_context_takeover
    }

    /// Bytes this decompressor costs: [`DECOMPRESSOR_MEMORY`].
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::{Decompressor, DECOMPRESSOR_MEMORY};
    ///
    /// assert_eq!(Decompressor::new(9, false).unwrap().memory(), DECOMPRESSOR_MEMORY);
    /// ```
    pub fn memory(&self) -> usize {
        DECOMPRESSOR_MEMORY
    }

    /// Inflates the next chunk of the current message's compressed payload
    /// (any split: a frame, part of one), appending to `out`.
    ///
    /// Output may lag behind input until [`finish_message`](Self::finish_message):
    /// DEFLATE only guarantees complete output at a flush.
    ///
    /// # Errors
    ///
    /// [`InflateError::TooLarge`] as soon as `out.len()` would pass `limit`
    /// (`out` then holds `limit + 1` bytes; the rest is not inflated);
    /// [`InflateError::Corrupt`] for invalid DEFLATE data.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::{Compressor, Decompressor};
    ///
    /// let mut wire = Vec::new();
    /// Compressor::new(15, 6, false)?.compress(&[7; 100_000], &mut wire);
    /// let mut rx = Decompressor::new(15, false)?;
    /// let mut out = Vec::new();
    /// for chunk in wire.chunks(3) {
    ///     rx.decompress_chunk(chunk, &mut out, 100_000)?;
    /// }
    /// rx.finish_message(&mut out, 100_000)?;
    /// assert_eq!(out, [7; 100_000]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn decompress_chunk(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), InflateError> {
        self.inflate(input, FlushDecompress::None, out, limit)
    }

    /// Ends the current message: inflates the re-appended `00 00 ff ff` tail
    /// with a sync flush, so all of the message's output is in `out`, then
    /// resets the state with no context takeover (or when the peer ended its
    /// DEFLATE stream with a final block, RFC 7692 §7.2.3.4).
    ///
    /// # Errors
    ///
    /// As [`decompress_chunk`](Self::decompress_chunk).
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::Decompressor;
    ///
    /// // RFC 7692 §7.2.3.6: an empty message is the single byte 00.
    /// let mut rx = Decompressor::new(15, false)?;
    /// let mut out = Vec::new();
    /// rx.decompress_chunk(&[0x00], &mut out, 0)?;
    /// rx.finish_message(&mut out, 0)?;
    /// assert!(out.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn finish_message(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<(), InflateError> {
        self.inflate(&DEFLATE_TAIL, FlushDecompress::Sync, out, limit)?;
        if self.no_context_takeover || self.ended {
            self.reset();
        }
        Ok(())
    }

    /// Forgets the context and any message in progress.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::Decompressor;
    ///
    /// let mut rx = Decompressor::new(15, false)?;
    /// let mut out = Vec::new();
    /// assert!(rx.decompress_chunk(&[0xff; 8], &mut out, 100).is_err());
    /// rx.reset();
    /// rx.decompress_chunk(&[0x00], &mut out, 100)?;
    /// rx.finish_message(&mut out, 100)?;
    /// assert!(out.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reset(&mut self) {
        self.inner.reset(false);
        self.ended = false;
    }

    fn inflate(
        &mut self,
        mut input: &[u8],
        flush: FlushDecompress,
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), InflateError> {
        loop {
            if self.ended {
                // Bytes after the final block are not part of the stream.
                return Ok(());
            }
            let len = out.len();
            if len > limit {
                return Err(InflateError::TooLarge { limit });
            }
            // One byte past the limit tells "exactly at the limit" from "over".
            let step = INFLATE_STEP.min((limit - len).saturating_add(1));
            reserve_bounded(out, step, limit);
            let (in_before, out_before) = (self.inner.total_in(), self.inner.total_out());
            let status = self
                .inner
                .decompress_uninit(input, &mut out.spare_capacity_mut()[..step], flush)
                .map_err(|_| InflateError::Corrupt)?;
            let consumed = (self.inner.total_in() - in_before) as usize;
            let written = ((self.inner.total_out() - out_before) as usize).min(step);
            // SAFETY: inflate wrote `written` bytes (its `total_out` delta,
            // at most `step`) from the start of the spare capacity it was
            // given, so `len + written` bytes are initialized.
            unsafe { out.set_len(len + written) };
            input = &input[consumed..];
            if out.len() > limit {
                return Err(InflateError::TooLarge { limit });
            }
            if status == Status::StreamEnd {
                self.ended = true;
                return Ok(());
            }
            // Done once all input is in and inflate stopped short of filling
            // the step (zlib's `avail_out != 0`): nothing is left pending.
            // No progress at all cannot happen with input and room; stop
            // rather than spin if it ever does.
            if (input.is_empty() && written < step) || (consumed == 0 && written == 0) {
                return Ok(());
            }
        }
    }
}

/// Makes room for `step` more bytes in `out`, growing geometrically but
/// never past `limit + 1` bytes (`len + step` is at most that).
fn reserve_bounded(out: &mut Vec<u8>, step: usize, limit: usize) {
    let len = out.len();
    if out.capacity() - len >= step {
        return;
    }
    let target = out
        .capacity()
        .saturating_mul(2)
        .min(limit.saturating_add(1))
        .max(len + step);
    out.reserve_exact(target - len);
}

#[cfg(test)]
mod tests {
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
            "window bits 8 out of range"
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
    fn limit_exactly_reached_is_fine() {
        let data = words(5, 10_000);
        let mut tx = Compressor::new(15, 6, false).unwrap();
        let wire = compress(&mut tx, &data);
        let mut rx = Decompressor::new(15, false).unwrap();
        assert_eq!(inflate(&mut rx, &wire, 10, 10_000).unwrap(), data);
        let mut rx = Decompressor::new(15, false).unwrap();
        assert_eq!(
            inflate(&mut rx, &wire, 10, 9_999),
            Err(InflateError::TooLarge { limit: 9_999 })
        );
        // The limit counts what `out` already held.
        let mut rx = Decompressor::new(15, false).unwrap();
        let mut out = vec![0; 5];
        let result = rx
            .decompress_chunk(&wire, &mut out, 10_004)
            .and_then(|()| rx.finish_message(&mut out, 10_004));
        assert_eq!(result, Err(InflateError::TooLarge { limit: 10_004 }));
        let mut rx = Decompressor::new(15, false).unwrap();
        let mut out = vec![0; 5];
        rx.decompress_chunk(&wire, &mut out, 10_005).unwrap();
        rx.finish_message(&mut out, 10_005).unwrap();
        assert_eq!(out[5..], data);
    }

    #[test]
    fn bomb_stops_at_the_limit_with_bounded_memory() {
        // 16 MiB of zeros compress to ~16 KiB.
        let mut tx = Compressor::new(15, 9, false).unwrap();
        let bomb = compress(&mut tx, &vec![0u8; 16 << 20]);
        assert!(bomb.len() < 20 << 10, "{}", bomb.len());
        let limit = 1 << 20;
        let mut rx = Decompressor::new(15, false).unwrap();
        let mut out = Vec::new();
        let mut fed = 0;
        let mut result = Ok(());
        for chunk in bomb.chunks(1024) {
            fed += chunk.len();
            result = rx.decompress_chunk(chunk, &mut out, limit);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(InflateError::TooLarge { limit }));
        // Stopped early: ~1 KiB of 16 KiB read, and never more than
        // limit + 1 bytes inflated or allocated.
        assert!(fed <= 2048, "fed {fed}");
        assert_eq!(out.len(), limit + 1);
        assert!(out.capacity() <= limit + 1, "{}", out.capacity());
        assert!(rx.inner.total_out() <= (limit + 1) as u64);

        // Even fed whole, and even at the tail.
        let mut rx = Decompressor::new(15, false).unwrap();
        let mut out = Vec::new();
        assert_eq!(
            rx.decompress_chunk(&bomb, &mut out, limit),
            Err(InflateError::TooLarge { limit })
        );
        assert!(out.capacity() <= limit + 1);
        let mut rx = Decompressor::new(15, false).unwrap();
        let mut out = Vec::new();
        rx.decompress_chunk(&bomb[..100], &mut out, 16 << 20)
            .unwrap();
        let limit = out.len() + 10;
        assert_eq!(
            rx.finish_message(&mut out, limit),
            Err(InflateError::TooLarge { limit })
        );
        assert_eq!(out.len(), limit + 1);
    }

    #[test]
    fn corrupt_data_is_reported() {
        let cases: [&[u8]; 5] = [
            &[0xff; 16],                     // reserved block type 3
            &[0x00, 0x05, 0x00, 0x00, 0x00], // stored block, LEN != !NLEN
            &[0x7d, 0xc0],                   // dynamic block, invalid code lengths
            &[0x1a, 0x03],                   // fixed block, literal/length code 286
            &[0xf2, 0x00, 0x11, 0x00, 0x00], // distance before any output
        ];
        for wire in cases {
            let mut rx = Decompressor::new(15, false).unwrap();
            assert_eq!(
                inflate(&mut rx, wire, 1, 1 << 20),
                Err(InflateError::Corrupt),
                "{wire:02x?}"
            );
        }
        // Garbage in the middle of good data.
        let data = words(11, 3000);
        let mut wire = compress(&mut Compressor::new(15, 6, false).unwrap(), &data);
        let mid = wire.len() / 2;
        wire[mid..mid + 8].fill(0xff);
        let mut rx = Decompressor::new(15, false).unwrap();
        assert_ne!(inflate(&mut rx, &wire, 100, 1 << 20), Ok(data));
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

    fn data_strategy() -> impl Strategy<Value = Vec<u8>> {
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

        #[test]
        fn limit_is_never_overrun(
            data in data_strategy(),
            limit in 0..60_000usize,
            chunk in 1..5000usize,
        ) {
            let wire = compress(&mut Compressor::new(15, 6, false).unwrap(), &data);
            let mut rx = Decompressor::new(15, false).unwrap();
            let mut out = Vec::new();
            let mut result = Ok(());
            for piece in wire.chunks(chunk) {
                result = rx.decompress_chunk(piece, &mut out, limit);
                prop_assert!(out.len() <= limit + 1);
                prop_assert!(out.capacity() <= limit + 1);
                if result.is_err() {
                    break;
                }
            }
            if result.is_ok() {
                result = rx.finish_message(&mut out, limit);
            }
            prop_assert!(out.len() <= limit + 1);
            if data.len() <= limit {
                prop_assert_eq!(result, Ok(()));
                prop_assert_eq!(out, data);
            } else {
                prop_assert_eq!(result, Err(InflateError::TooLarge { limit }));
            }
        }

        #[test]
        fn garbage_never_panics(
            wire in proptest::collection::vec(any::<u8>(), 0..2000),
            chunk in 1..300usize,
        ) {
            let mut rx = Decompressor::new(15, false).unwrap();
            let mut out = Vec::new();
            let mut result = Ok(());
            for piece in wire.chunks(chunk) {
                result = rx.decompress_chunk(piece, &mut out, 100_000);
                if result.is_err() {
                    break;
                }
            }
            if result.is_ok() {
                let _ = rx.finish_message(&mut out, 100_000);
            }
            prop_assert!(out.len() <= 100_001);
        }
    }
}
