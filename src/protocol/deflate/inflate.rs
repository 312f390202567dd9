//! The decompressor: a compressed message's frame payloads in as they
//! arrive, its bytes out, never more than the caller's limit (so a
//! decompression bomb stops there with bounded memory).

use std::fmt;

use flate2::{Decompress, FlushDecompress, Status};

use super::super::close::CloseCode;
use super::window::WindowCheck;
use super::{DEFLATE_TAIL, DeflateSettingError};

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
/// assert_eq!(
///     InflateError::WindowExceeded { window_bits: 9 }.close_code(),
///     CloseCode::PROTOCOL_ERROR
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InflateError {
    /// The inflated message would be longer than the limit (close with 1009).
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The payload is not valid DEFLATE data (close with 1007).
    Corrupt,
    /// The payload refers further back than the window the peer agreed to
    /// compress with (its `*_max_window_bits`): the peer broke the
    /// negotiation (close with 1002).
    WindowExceeded {
        /// The agreed window, as a base-2 logarithm.
        window_bits: u8,
    },
}

impl InflateError {
    /// The close code to fail the connection with: 1009 for
    /// [`TooLarge`](Self::TooLarge), 1007 for [`Corrupt`](Self::Corrupt),
    /// 1002 for [`WindowExceeded`](Self::WindowExceeded).
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
            Self::WindowExceeded { .. } => CloseCode::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for InflateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { limit } => {
                write!(
                    f,
                    "inflated message larger than the max_message_size of {limit} bytes"
                )
            }
            Self::Corrupt => f.write_str("invalid compressed data"),
            Self::WindowExceeded { window_bits } => write!(
                f,
                "compressed data refers back past the agreed {}-byte window",
                1u32 << window_bits
            ),
        }
    }
}

impl std::error::Error for InflateError {}

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
/// # The window
///
/// The peer promised to refer at most `2^window_bits` bytes back. With
/// window bits below 15 every distance in the stream is checked against
/// that window as the payload arrives, before it is inflated, and a
/// reference past it fails with [`InflateError::WindowExceeded`] (close
/// with 1002): C zlib and zlib-rs do not check it themselves (both accept
/// any distance within what they inflated so far).
///
/// The memory is not smaller for a smaller window: zlib-rs 0.6 allocates
/// its 32 KiB window and tables in one block whatever window bits it is
/// given (the window bits only change zlib-header checks), so the
/// decompressor is built with the default 15 bits. The check holds under 2 KiB while a dynamic block's codes are in use, and
/// costs CPU: about 2.5 times the inflating itself (`benches/RESULTS.md`).
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
    /// zlib-rs's state, made when a message needs it and dropped whenever
    /// the context is forgotten (see [`is_allocated`](Self::is_allocated)).
    inner: Option<Decompress>,
    window_bits: u8,
    /// For windows below 15: the distance check (see the type's
    /// documentation).
    check: Option<Box<WindowCheck>>,
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
            inner: None,
            window_bits,
            check: (window_bits < 15).then(|| Box::new(WindowCheck::new(window_bits))),
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

    /// Whether zlib-rs's state (the [`DECOMPRESSOR_MEMORY`] a server
    /// budgets for) is allocated: only from the first compressed message
    /// on, and, with no context takeover, only while a message is being
    /// inflated; with context takeover it is kept, as it holds the window.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::Decompressor;
    ///
    /// let mut rx = Decompressor::new(15, true)?;
    /// assert!(!rx.is_allocated());
    /// let mut out = Vec::new();
    /// rx.decompress_chunk(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], &mut out, 100)?;
    /// assert!(rx.is_allocated());
    /// rx.finish_message(&mut out, 100)?;
    /// assert_eq!(out, b"Hello");
    /// assert!(!rx.is_allocated()); // no context to keep
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_allocated(&self) -> bool {
        self.inner.is_some()
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
    /// [`InflateError::Corrupt`] for invalid DEFLATE data;
    /// [`InflateError::WindowExceeded`] for a reference past the window
    /// (nothing of this chunk is inflated then).
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
        // Dropped, not reset: a fresh one is as cheap to make when the next
        // message comes, and an idle connection holds nothing meanwhile.
        self.inner = None;
        self.ended = false;
        if let Some(check) = &mut self.check {
            check.reset();
        }
    }

    fn inflate(
        &mut self,
        mut input: &[u8],
        flush: FlushDecompress,
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), InflateError> {
        if let Some(check) = &mut self.check
            && !self.ended
        {
            check
                .feed(input)
                .map_err(|_| InflateError::WindowExceeded {
                    window_bits: self.window_bits,
                })?;
        }
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
            // The default window, 15 bits: see the type's documentation.
            let inner = self.inner.get_or_insert_with(|| Decompress::new(false));
            let (in_before, out_before) = (inner.total_in(), inner.total_out());
            let status = inner
                .decompress_uninit(input, &mut out.spare_capacity_mut()[..step], flush)
                .map_err(|_| InflateError::Corrupt)?;
            let consumed = (inner.total_in() - in_before) as usize;
            let written = ((inner.total_out() - out_before) as usize).min(step);
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
    use super::super::Compressor;
    use super::super::tests::{compress, data_strategy, inflate, words};
    use super::*;
    use proptest::prelude::*;

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
        assert!(rx.inner.as_ref().unwrap().total_out() <= (limit + 1) as u64);

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

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

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
