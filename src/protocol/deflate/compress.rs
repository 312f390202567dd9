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
    /// zlib-rs's state, made when the first message needs it (an idle
    /// connection holds none).
    inner: Option<Compress>,
    pub(super) window_bits: u8,
    pub(super) level: u32,
    no_context_takeover: bool,
    /// zlib-rs's `total_out` when the message in progress started, once
    /// [`compress_chunk`](Self::compress_chunk) began one.
    message_start: Option<u64>,
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
            inner: None,
            window_bits,
            level,
            no_context_takeover,
            message_start: None,
        })
    }

    /// zlib-rs's state, made now if this is the first use.
    fn state(&mut self) -> &mut Compress {
        let (level, bits) = (self.level, self.window_bits);
        // Checked by `new`: this constructor panics outside 9..=15.
        self.inner.get_or_insert_with(|| {
            Compress::new_with_window_bits(Compression::new(backend_level(level)), false, bits)
        })
    }

    /// Whether the compression state is allocated: not before the first
    /// message, so an idle connection costs only this struct. It is kept
    /// from then on (with context takeover it holds the context).
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::Compressor;
    ///
    /// let mut tx = Compressor::new(15, 6, false)?;
    /// assert!(!tx.is_allocated());
    /// tx.compress(b"Hello", &mut Vec::new());
    /// assert!(tx.is_allocated());
    /// # Ok::<(), wsgate::protocol::DeflateSettingError>(())
    /// ```
    pub fn is_allocated(&self) -> bool {
        self.inner.is_some()
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
    /// state is reset afterwards. The same as
    /// [`compress_chunk`](Self::compress_chunk) then
    /// [`finish_message`](Self::finish_message), in one call.
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
        self.compress_chunk(payload, out);
        self.finish_message(out);
    }

    /// Compresses the next piece of a message, appending to `out` what is
    /// ready (output lags behind input until
    /// [`finish_message`](Self::finish_message)).
    ///
    /// Cutting a message into chunks costs no compression (no flush between
    /// them) and bounds the work of one call: the async layer compresses a
    /// large message a chunk at a time and lets other tasks run in between.
    /// `out` must receive all of one message's output, and none of it may
    /// be removed before [`finish_message`](Self::finish_message).
    ///
    /// # Panics
    ///
    /// As [`compress`](Self::compress).
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::Compressor;
    ///
    /// let text = b"chunks compress as well as a whole message. ".repeat(1000);
    /// let (mut whole, mut chunked) = (Vec::new(), Vec::new());
    /// Compressor::new(15, 6, false)?.compress(&text, &mut whole);
    /// let mut tx = Compressor::new(15, 6, false)?;
    /// for chunk in text.chunks(4096) {
    ///     tx.compress_chunk(chunk, &mut chunked);
    /// }
    /// tx.finish_message(&mut chunked);
    /// assert_eq!(chunked, whole);
    /// # Ok::<(), wsgate::protocol::DeflateSettingError>(())
    /// ```
    pub fn compress_chunk(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        if self.message_start.is_none() {
            self.message_start = Some(self.state().total_out());
        }
        out.reserve(chunk.len() / 4 + 64);
        self.run(chunk, out, FlushCompress::None);
    }

    /// Ends the message begun with [`compress_chunk`](Self::compress_chunk)
    /// (an empty message if none was): flushes it, strips the tail, and
    /// with no context takeover resets the state. `out` then ends with the
    /// whole compressed payload, never empty.
    ///
    /// # Panics
    ///
    /// As [`compress`](Self::compress).
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::Compressor;
    ///
    /// let mut out = Vec::new();
    /// Compressor::new(15, 6, false)?.finish_message(&mut out);
    /// assert_eq!(out, [0x00]); // the empty message (RFC 7692 §7.2.3.6)
    /// # Ok::<(), wsgate::protocol::DeflateSettingError>(())
    /// ```
    pub fn finish_message(&mut self, out: &mut Vec<u8>) {
        let start = match self.message_start.take() {
            Some(start) => start,
            None => self.state().total_out(),
        };
        self.run(&[], out, FlushCompress::Sync);
        let no_context_takeover = self.no_context_takeover;
        let state = self.state();
        let mut produced = (state.total_out() - start) as usize;
        if produced >= DEFLATE_TAIL.len() && out.ends_with(&DEFLATE_TAIL) {
            out.truncate(out.len() - DEFLATE_TAIL.len());
            produced -= DEFLATE_TAIL.len();
        }
        if produced == 0 {
            // A flush with nothing new to flush emits nothing; an empty
            // compressed payload would not inflate (the appended tail needs a
            // block header before it), so send an empty stored block's header.
            out.push(0x00);
        }
        if no_context_takeover {
            state.reset();
        }
    }

    /// Feeds `input` to deflate with `flush`, growing `out` as needed,
    /// until all of it is in and (for a flush) all output is out.
    fn run(&mut self, mut input: &[u8], out: &mut Vec<u8>, flush: FlushCompress) {
        let state = self.state();
        loop {
            if out.len() == out.capacity() {
                out.reserve(out.len().clamp(1024, 1 << 20));
            }
            let before = state.total_in();
            let status = state
                .compress_vec(input, out, flush)
                .expect("zlib-rs deflate with a valid state does not fail");
            let consumed = (state.total_in() - before) as usize;
            input = &input[consumed..];
            // Done once all input is in and deflate stopped with output
            // space to spare (zlib's `avail_out != 0`): nothing is pending.
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
            debug_assert!(matches!(status, Status::Ok | Status::BufError));
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
        if let Some(state) = &mut self.inner {
            state.reset();
        }
        self.message_start = None;
    }

    /// Gives back zlib-rs's state (its window and tables: nearly all of
    /// [`memory`](Self::memory)) between messages. The next message makes a
    /// fresh one and is compressed as if it were the first, which the
    /// peer's decompressor inflates whatever history it keeps: a fresh
    /// context refers to none. Returns whether anything was given back:
    /// nothing is while a message is in progress (begun with
    /// [`compress_chunk`](Self::compress_chunk), not yet finished) or when
    /// nothing is held.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::{Compressor, Decompressor};
    ///
    /// let mut tx = Compressor::new(15, 6, false)?;
    /// let mut rx = Decompressor::new(15, false)?; // keeps its context
    /// for round in 0..2 {
    ///     let mut wire = Vec::new();
    ///     tx.compress(b"Hello, Hello, Hello!", &mut wire);
    ///     let mut text = Vec::new();
    ///     rx.decompress_chunk(&wire, &mut text, 1024)?;
    ///     rx.finish_message(&mut text, 1024)?;
    ///     assert_eq!(text, b"Hello, Hello, Hello!", "round {round}");
    ///     assert!(tx.release());
    ///     assert!(!tx.is_allocated() && !tx.release());
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn release(&mut self) -> bool {
        if self.message_start.is_some() || self.inner.is_none() {
            return false;
        }
        self.inner = None;
        true
    }
}
