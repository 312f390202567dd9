//! The receiving state machine: bytes in, messages and control frames out.
//!
//! [`Receiver::decode`] takes whatever bytes have arrived, consumes what it
//! can, and reports at most one [`Incoming`] item per call. Payloads are
//! unmasked as they are copied, once, from the caller's buffer into the
//! message being assembled (or a control frame's own buffer): one pass over
//! the bytes. Compressed payloads are unmasked in place, then inflated.
//! Limits are checked against each frame's declared length before anything
//! is stored, and the message buffer grows only with bytes that actually
//! arrived.
//!
//! With permessage-deflate negotiated ([`Receiver::with_decompressor`],
//! feature `deflate`), a message whose first frame has RSV1 set is inflated
//! chunk by chunk as it arrives: the message size limit applies to the
//! inflated bytes (checked after every inflated step, so a bomb stops at the
//! limit), UTF-8 is checked on the inflated text, and the compressed bytes
//! of one message are capped too ([`ReceiverConfig::max_compressed_size`]).
//!
//! An error is final: the receiver keeps it, and every later call that
//! decodes ([`Receiver::decode`], [`Receiver::direct_filled`]) returns that
//! same error without looking at its input. A text message is built from
//! bytes the UTF-8 check accepted, in one unbroken run, and nothing else.

use std::mem::MaybeUninit;

use super::Role;
use super::close::{CloseCode, parse_close_payload};
#[cfg(feature = "deflate")]
use super::deflate::{Decompressor, InflateError};
use super::error::ProtocolError;
use super::frame::{FrameHeader, OpCode};
use super::mask::apply_mask;
use super::message::{DataKind, Fragment, Message};
use super::utf8::Utf8Validator;

/// RSV1, the bit permessage-deflate sets on the first frame of a compressed
/// message (RFC 7692 §6).
const RSV1: u8 = 0x40;

/// The receiving side's settings.
///
/// # Examples
///
/// ```
/// use wsgate::protocol::{ReceiverConfig, Role};
///
/// let config = ReceiverConfig { max_message_size: 1 << 20, ..ReceiverConfig::new(Role::Server) };
/// assert!(config.assemble_messages);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiverConfig {
    /// Which end of the connection this is: servers require masked frames,
    /// clients require unmasked ones.
    pub role: Role,
    /// The largest frame payload accepted (1009 beyond it).
    pub max_frame_size: usize,
    /// The largest message accepted, summed over its fragments (1009).
    pub max_message_size: usize,
    /// The most frames one data message may be split into (1009).
    pub max_fragments: usize,
    /// Assemble fragmented messages, or hand each frame over as it arrives.
    pub assemble_messages: bool,
    /// The reserved bits negotiated extensions may set (`0x40` for RSV1).
    /// [`Receiver::with_decompressor`] adds RSV1 itself.
    pub allowed_rsv: u8,
}

impl ReceiverConfig {
    /// The most compressed (wire) bytes one permessage-deflate message may
    /// take: [`max_message_size`](Self::max_message_size) plus an eighth,
    /// plus 1 KiB (1009 beyond it).
    ///
    /// DEFLATE can grow incompressible data a little, and a peer may flush
    /// often, hence the margin. Without a cap, data inflating to almost
    /// nothing (empty blocks, endless flushes) could keep one message, and
    /// the CPU inflating it, going forever.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::{ReceiverConfig, Role};
    ///
    /// let config = ReceiverConfig { max_message_size: 8 << 10, ..ReceiverConfig::new(Role::Server) };
    /// assert_eq!(config.max_compressed_size(), 8 * 1024 + 1024 + 1024);
    /// ```
    pub const fn max_compressed_size(&self) -> usize {
        self.max_message_size
            .saturating_add(self.max_message_size / 8)
            .saturating_add(1024)
    }
}

impl ReceiverConfig {
    /// The defaults for one role: 16 MiB frames and messages, 131 072
    /// fragments, assembly on, no extensions.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::{ReceiverConfig, Role};
    ///
    /// assert_eq!(ReceiverConfig::new(Role::Client).max_message_size, 16 << 20);
    /// ```
    pub const fn new(role: Role) -> ReceiverConfig {
        ReceiverConfig {
            role,
            max_frame_size: 16 << 20,
            max_message_size: 16 << 20,
            max_fragments: 131_072,
            assemble_messages: true,
            allowed_rsv: 0,
        }
    }
}

/// What the peer sent, decoded.
///
/// # Examples
///
/// ```
/// use wsgate::protocol::Incoming;
/// use wsgate::Message;
///
/// let item = Incoming::Message(Message::from("hi"));
/// assert!(matches!(item, Incoming::Message(Message::Text(_))));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A complete data message.
    Message(Message),
    /// One frame of a data message (only when assembly is off).
    Fragment(Fragment),
    /// A ping with its payload.
    Ping(Vec<u8>),
    /// A pong with its payload.
    Pong(Vec<u8>),
    /// A close frame: its code and reason, or `None` when it had no payload.
    Close(Option<(CloseCode, String)>),
}

/// Unmasks the next payload bytes of `header`'s frame in place; returns the
/// key offset for the bytes after them.
fn unmask(header: &FrameHeader, chunk: &mut [u8], mask_offset: usize) -> usize {
    match header.mask {
        Some(key) => apply_mask(chunk, key, mask_offset),
        None => mask_offset,
    }
}

/// The least room made for a data frame's payload at a time.
const MIN_RESERVE: usize = 4 << 10;

/// The least a direct read asks for (see [`Receiver::direct_buffer`]).
const DIRECT_STEP: usize = 64 << 10;

#[derive(Debug, Clone, Copy)]
enum State {
    Header,
    Payload {
        header: FrameHeader,
        remaining: u64,
        mask_offset: usize,
    },
    Closed,
    /// An error was returned: every later call returns it again.
    Failed(ProtocolError),
}

/// A data message being received.
#[derive(Debug)]
struct Partial {
    kind: DataKind,
    /// The assembled payload so far (empty when assembly is off).
    data: Vec<u8>,
    /// Total payload bytes so far (inflated, for a compressed message), also
    /// when assembly is off.
    len: usize,
    frames: usize,
    /// permessage-deflate: RSV1 was set on the first frame.
    compressed: bool,
    /// Compressed bytes received so far (for a compressed message).
    wire: usize,
}

/// Decodes the bytes one peer sends, frame by frame.
///
/// # Examples
///
/// ```
/// use wsgate::protocol::{Incoming, Receiver, ReceiverConfig, Role};
/// use wsgate::Message;
///
/// let mut rx = Receiver::new(ReceiverConfig::new(Role::Client));
/// // An unmasked text frame "Hi" followed by the first byte of another frame.
/// let mut buf = vec![0x81, 0x02, b'H', b'i', 0x82];
/// let (used, item) = rx.decode(&mut buf).unwrap();
/// assert_eq!(used, 2); // the header
/// assert_eq!(item, None);
/// let (used, item) = rx.decode(&mut buf[2..]).unwrap();
/// assert_eq!(used, 2);
/// assert_eq!(item, Some(Incoming::Message(Message::Text("Hi".into()))));
/// assert_eq!(rx.decode(&mut buf[4..]).unwrap(), (0, None)); // needs more bytes
/// ```
///
/// After an error every call returns that error: the receiver stays failed.
///
/// ```
/// use wsgate::protocol::{Receiver, ReceiverConfig, Role};
/// use wsgate::ProtocolError;
///
/// let mut rx = Receiver::new(ReceiverConfig::new(Role::Client));
/// assert_eq!(rx.decode(&mut [0x81, 0x01]), Ok((2, None))); // a text frame's header
/// assert_eq!(rx.decode(&mut [0xff]), Err(ProtocolError::InvalidUtf8));
/// // A valid frame changes nothing.
/// assert_eq!(rx.decode(&mut [0x82, 0x00]), Err(ProtocolError::InvalidUtf8));
/// ```
#[derive(Debug)]
pub struct Receiver {
    config: ReceiverConfig,
    state: State,
    message: Option<Partial>,
    /// The payload of the current control frame, or of the current data frame
    /// when assembly is off.
    frame: Vec<u8>,
    utf8: Utf8Validator,
    /// Bytes of data frames (headers and payloads) taken so far.
    data_bytes: u64,
    /// permessage-deflate's inflater, when negotiated; dropped once the
    /// receiver is closed or failed.
    #[cfg(feature = "deflate")]
    decompressor: Option<Decompressor>,
}

impl Receiver {
    /// A receiver at the start of a connection.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::{Receiver, ReceiverConfig, Role};
    ///
    /// let rx = Receiver::new(ReceiverConfig::new(Role::Server));
    /// assert!(!rx.is_closed());
    /// ```
    pub fn new(config: ReceiverConfig) -> Receiver {
        Receiver {
            config,
            state: State::Header,
            message: None,
            frame: Vec::new(),
            utf8: Utf8Validator::new(),
            data_bytes: 0,
            #[cfg(feature = "deflate")]
            decompressor: None,
        }
    }

    /// A receiver for a connection that negotiated permessage-deflate
    /// (feature `deflate`): RSV1 is allowed on the first frame of a data
    /// message, and such messages are inflated with `decompressor`. RSV1 on
    /// a continuation or control frame still fails with 1002.
    ///
    /// Limits: [`max_message_size`](ReceiverConfig::max_message_size)
    /// applies to the inflated message, checked as it is inflated (1009);
    /// [`max_frame_size`](ReceiverConfig::max_frame_size) to each frame as
    /// sent (compressed); the compressed bytes of one message to
    /// [`max_compressed_size`](ReceiverConfig::max_compressed_size). Invalid
    /// DEFLATE data fails with 1007. With assembly off, each
    /// [`Fragment`] holds what its frame inflated to, which may be more than
    /// the frame (up to the message limit).
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::{Decompressor, Incoming, Receiver, ReceiverConfig, Role};
    /// use wsgate::Message;
    ///
    /// let mut rx = Receiver::with_decompressor(
    ///     ReceiverConfig::new(Role::Client),
    ///     Decompressor::new(15, false)?,
    /// );
    /// // RFC 7692 §7.2.3.1: "Hello", compressed, in one unmasked frame.
    /// let mut wire = vec![0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    /// let (used, _) = rx.decode(&mut wire)?;
    /// let (_, item) = rx.decode(&mut wire[used..])?;
    /// assert_eq!(item, Some(Incoming::Message(Message::Text("Hello".into()))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "deflate")]
    pub fn with_decompressor(mut config: ReceiverConfig, decompressor: Decompressor) -> Receiver {
        config.allowed_rsv |= RSV1;
        Receiver {
            decompressor: Some(decompressor),
            ..Receiver::new(config)
        }
    }

    /// Whether compressed messages are inflated: permessage-deflate was
    /// negotiated ([`with_decompressor`](Self::with_decompressor)) and the
    /// receiver is neither closed nor failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::{Receiver, ReceiverConfig, Role};
    ///
    /// assert!(!Receiver::new(ReceiverConfig::new(Role::Server)).inflates());
    /// ```
    pub fn inflates(&self) -> bool {
        #[cfg(feature = "deflate")]
        {
            self.decompressor.is_some()
        }
        #[cfg(not(feature = "deflate"))]
        {
            false
        }
    }

    /// The settings in use.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::{Receiver, ReceiverConfig, Role};
    ///
    /// let rx = Receiver::new(ReceiverConfig::new(Role::Server));
    /// assert_eq!(rx.config().role, Role::Server);
    /// ```
    pub fn config(&self) -> &ReceiverConfig {
        &self.config
    }

    /// Whether a close frame has been received; nothing after it is decoded.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::{Receiver, ReceiverConfig, Role};
    ///
    /// let mut rx = Receiver::new(ReceiverConfig::new(Role::Client));
    /// rx.decode(&mut [0x88, 0x00]).unwrap();
    /// assert!(rx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// How many bytes of data frames (text, binary and continuation frames,
    /// headers included) have been taken so far; control frames do not
    /// count. A connection layer compares it across reads to tell a peer
    /// that sends messages from one that only answers pings (an idle
    /// timeout), including while a long message is still arriving.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::{Receiver, ReceiverConfig, Role};
    ///
    /// let mut rx = Receiver::new(ReceiverConfig::new(Role::Client));
    /// rx.decode(&mut [0x8a, 0x00]).unwrap(); // a pong
    /// assert_eq!(rx.data_bytes(), 0);
    /// rx.decode(&mut [0x82, 0x03]).unwrap(); // a binary frame's header
    /// assert_eq!(rx.data_bytes(), 2);
    /// rx.decode(&mut [1, 2]).unwrap(); // two bytes of its payload
    /// assert_eq!(rx.data_bytes(), 4);
    /// ```
    pub fn data_bytes(&self) -> u64 {
        self.data_bytes
    }

    /// Where to read the rest of the current frame's payload straight into,
    /// skipping a copy through a read buffer: the free end of the message
    /// being assembled, or `None` when the receiver is not inside the
    /// payload of an uncompressed data frame that is being assembled, or the
    /// frame has fewer than `min` bytes left.
    ///
    /// Read into the returned slice, then report how many bytes arrived
    /// with [`direct_filled`](Self::direct_filled). The slice holds at most
    /// the rest of the frame and grows with what has arrived (at least
    /// 64 KiB, at most as much as the message already holds), so a peer that
    /// declares a large frame and sends little costs little memory.
    ///
    /// After an error it is always `None` (the receiver stays failed; see
    /// [`decode`](Self::decode)).
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::{Incoming, Receiver, ReceiverConfig, Role};
    /// use wsgate::Message;
    ///
    /// let mut rx = Receiver::new(ReceiverConfig::new(Role::Client));
    /// // The header of an unmasked 5-byte binary frame: now inside its payload.
    /// assert_eq!(rx.decode(&mut [0x82, 0x05]).unwrap(), (2, None));
    /// let buf = rx.direct_buffer(1).expect("a payload to read");
    /// assert_eq!(buf.len(), 5);
    /// buf.copy_from_slice(b"hello"); // what a socket read would do
    /// let item = rx.direct_filled(5).unwrap();
    /// assert_eq!(item, Some(Incoming::Message(Message::Binary(b"hello".to_vec()))));
    /// ```
    pub fn direct_buffer(&mut self, min: usize) -> Option<&mut [u8]> {
        let (partial, want) = self.direct_room(min)?;
        let filled = partial.len;
        if partial.data.len() < filled + want {
            partial.data.resize(filled + want, 0);
        }
        Some(&mut partial.data[filled..filled + want])
    }

    /// [`direct_buffer`](Self::direct_buffer) without the zeroing: the same
    /// room, handed out uninitialised, for a reader that fills uninitialised
    /// memory itself (a socket's `recv`). A large message then costs no
    /// `memset` before its bytes arrive. Report what arrived with
    /// [`direct_assume_filled`](Self::direct_assume_filled).
    pub(crate) fn direct_spare(&mut self, min: usize) -> Option<&mut [MaybeUninit<u8>]> {
        let (partial, want) = self.direct_room(min)?;
        // Any zeroed tail from `direct_buffer` goes: the room is spare
        // capacity from the message's end.
        partial.data.truncate(partial.len);
        Some(&mut partial.data.spare_capacity_mut()[..want])
    }

    /// [`direct_filled`](Self::direct_filled) for the room from
    /// [`direct_spare`](Self::direct_spare).
    ///
    /// # Safety
    ///
    /// The first `n` bytes of the slice the last `direct_spare` call
    /// returned must have been initialised since, and the receiver not
    /// used in between.
    ///
    /// # Panics
    ///
    /// When `n` is larger than that slice could have been.
    pub(crate) unsafe fn direct_assume_filled(
        &mut self,
        n: usize,
    ) -> Result<Option<Incoming>, ProtocolError> {
        if let State::Failed(e) = self.state {
            return Err(e);
        }
        let partial = self
            .message
            .as_mut()
            .expect("direct_assume_filled without direct_spare");
        let end = partial.len + n;
        assert!(
            partial.data.len() == partial.len && end <= partial.data.capacity(),
            "direct_assume_filled: more bytes than direct_spare gave room for"
        );
        // SAFETY: within capacity (checked above), and the caller promises
        // these bytes were initialised.
        unsafe { partial.data.set_len(end) };
        self.direct_filled(n)
    }

    /// The message a direct read goes into and how many bytes to read
    /// (see [`direct_buffer`](Self::direct_buffer)), with at least that
    /// much capacity past the bytes it holds.
    fn direct_room(&mut self, min: usize) -> Option<(&mut Partial, usize)> {
        let State::Payload {
            header, remaining, ..
        } = self.state
        else {
            return None;
        };
        if header.opcode.is_control() || !self.config.assemble_messages {
            return None;
        }
        let partial = self.message.as_mut()?;
        if partial.compressed || remaining < min.max(1) as u64 {
            return None;
        }
        let filled = partial.len;
        let want = remaining.min(DIRECT_STEP.max(filled) as u64) as usize;
        if partial.data.capacity() == 0 {
            partial.data = crate::scratch::take_buffer(filled + want);
        }
        // `reserve` counts from `len`, which may hold a zeroed tail.
        partial
            .data
            .reserve((filled + want).saturating_sub(partial.data.len()));
        Some((partial, want))
    }

    /// Takes `n` payload bytes just read into the slice from
    /// [`direct_buffer`](Self::direct_buffer): unmasks and checks them in
    /// place and returns the message when they complete it.
    ///
    /// The bytes count exactly as if [`decode`](Self::decode) had consumed
    /// them: they are unmasked with the frame's key, a text message's bytes
    /// are checked for UTF-8 as they arrive, and the frame ends with its
    /// last byte. `Ok(None)` means the message is not complete yet: call
    /// `direct_buffer` again for the rest of the frame, or `decode` once it
    /// returns `None` (the next frame's header). A short read is fine: `n`
    /// may be less than the slice's length, and the next `direct_buffer`
    /// starts where these bytes end.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::InvalidUtf8`] (close code 1007) when the bytes are
    /// not valid UTF-8 in a text message, or end it inside a character. As
    /// after any error from `decode`, the connection must be failed.
    ///
    /// After an error every call returns that error (the receiver stays
    /// failed, whichever call returned it first), and no byte read after
    /// it is taken.
    ///
    /// # Panics
    ///
    /// When there was no direct buffer, or `n` is larger than it was (not
    /// after an error: then the error is returned).
    ///
    /// # Examples
    ///
    /// A masked text frame from a client, its payload read in two parts:
    ///
    /// ```
    /// use wsgate::Message;
    /// use wsgate::protocol::{Incoming, Receiver, ReceiverConfig, Role, apply_mask};
    ///
    /// let key = [1, 2, 3, 4];
    /// let mut payload = *b"Hello";
    /// apply_mask(&mut payload, key, 0); // what the client sends
    ///
    /// let mut rx = Receiver::new(ReceiverConfig::new(Role::Server));
    /// let mut header = [0x81, 0x85, key[0], key[1], key[2], key[3]];
    /// assert_eq!(rx.decode(&mut header)?, (6, None));
    ///
    /// let buf = rx.direct_buffer(1).expect("inside the payload");
    /// buf[..3].copy_from_slice(&payload[..3]); // a short read
    /// assert_eq!(rx.direct_filled(3)?, None);
    ///
    /// let buf = rx.direct_buffer(1).expect("two bytes left");
    /// assert_eq!(buf.len(), 2);
    /// buf.copy_from_slice(&payload[3..]);
    /// assert_eq!(rx.direct_filled(2)?, Some(Incoming::Message(Message::Text("Hello".into()))));
    /// # Ok::<(), wsgate::ProtocolError>(())
    /// ```
    pub fn direct_filled(&mut self, n: usize) -> Result<Option<Incoming>, ProtocolError> {
        match self.direct_filled_inner(n) {
            Err(e) => Err(self.fail(e)),
            ok => ok,
        }
    }

    fn direct_filled_inner(&mut self, n: usize) -> Result<Option<Incoming>, ProtocolError> {
        let (header, remaining, mask_offset) = match self.state {
            State::Payload {
                header,
                remaining,
                mask_offset,
            } => (header, remaining, mask_offset),
            State::Failed(e) => return Err(e),
            State::Header | State::Closed => panic!("direct_filled without a direct buffer"),
        };
        let partial = self
            .message
            .as_mut()
            .expect("direct_filled without a direct buffer");
        let start = partial.len;
        assert!(
            n as u64 <= remaining && start + n <= partial.data.len(),
            "direct_filled: more bytes than the direct buffer held"
        );
        let chunk = &mut partial.data[start..start + n];
        let mask_offset = unmask(&header, chunk, mask_offset);
        if partial.kind == DataKind::Text {
            let result = self.utf8.feed(chunk);
            result.map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        partial.len += n;
        self.data_bytes += n as u64;
        self.advance(header, remaining - n as u64, mask_offset)
    }

    /// Moves past payload bytes just taken: `remaining` are left in the
    /// frame, at key offset `mask_offset`; the frame ends when none are.
    fn advance(
        &mut self,
        header: FrameHeader,
        remaining: u64,
        mask_offset: usize,
    ) -> Result<Option<Incoming>, ProtocolError> {
        self.state = State::Payload {
            header,
            remaining,
            mask_offset,
        };
        if remaining == 0 {
            return self.end_frame(&header);
        }
        Ok(None)
    }

    /// Decodes from the start of `buf`.
    ///
    /// Returns how many bytes were consumed and, when a message, fragment or
    /// control frame is complete, that item. `(0, None)` means more bytes are
    /// needed. The consumed bytes may have been modified (unmasked in place)
    /// and should be discarded. Call again with the rest of the buffer until it
    /// returns `(0, None)`.
    ///
    /// On error the connection must be failed with the error's
    /// [close code](ProtocolError::close_code). The receiver stays failed:
    /// after an error every call returns that error (this one,
    /// [`direct_filled`](Self::direct_filled) too) and consumes nothing,
    /// whatever bytes it is given; nothing more is decoded.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::{Receiver, ReceiverConfig, Role};
    /// use wsgate::CloseCode;
    ///
    /// // A client must mask its frames: a server fails an unmasked one.
    /// let mut rx = Receiver::new(ReceiverConfig::new(Role::Server));
    /// let err = rx.decode(&mut [0x81, 0x00]).unwrap_err();
    /// assert_eq!(err.close_code(), CloseCode::PROTOCOL_ERROR);
    /// ```
    pub fn decode(&mut self, buf: &mut [u8]) -> Result<(usize, Option<Incoming>), ProtocolError> {
        match self.decode_inner(buf) {
            Err(e) => Err(self.fail(e)),
            ok => ok,
        }
    }

    /// Makes `e` final: the receiver returns it from now on (`decode_inner`
    /// and `direct_filled_inner` check the state first), and the message in
    /// progress, the frame and the inflater go. So no byte, accepted or
    /// rejected, can be added to a message after an error, which is what
    /// keeps [`end_data_frame`](Self::end_data_frame)'s unchecked text sound.
    #[cold]
    fn fail(&mut self, e: ProtocolError) -> ProtocolError {
        self.state = State::Failed(e);
        if let Some(partial) = self.message.take() {
            crate::scratch::give_buffer(partial.data);
        }
        self.frame = Vec::new();
        #[cfg(feature = "deflate")]
        {
            // Done for good: give the inflater's memory back now.
            self.decompressor = None;
        }
        e
    }

    fn decode_inner(&mut self, buf: &mut [u8]) -> Result<(usize, Option<Incoming>), ProtocolError> {
        match self.state {
            State::Closed => Ok((0, None)),
            State::Failed(e) => Err(e),
            State::Header => {
                let Some((header, len)) = FrameHeader::parse(buf)? else {
                    return Ok((0, None));
                };
                self.begin_frame(&header)?;
                if !header.opcode.is_control() {
                    self.data_bytes += len as u64;
                }
                self.state = State::Payload {
                    header,
                    remaining: header.payload_len,
                    mask_offset: 0,
                };
                if header.payload_len == 0 {
                    return Ok((len, self.end_frame(&header)?));
                }
                Ok((len, None))
            }
            State::Payload {
                header,
                remaining,
                mask_offset,
            } => {
                let take = usize::try_from(remaining).map_or(buf.len(), |r| r.min(buf.len()));
                if take == 0 {
                    return Ok((0, None));
                }
                let mask_offset =
                    self.payload(&header, &mut buf[..take], remaining, mask_offset)?;
                if !header.opcode.is_control() {
                    self.data_bytes += take as u64;
                }
                Ok((
                    take,
                    self.advance(header, remaining - take as u64, mask_offset)?,
                ))
            }
        }
    }

    /// Checks a new frame's header against the protocol and the limits, and
    /// starts a message when it is the first frame of one.
    fn begin_frame(&mut self, header: &FrameHeader) -> Result<(), ProtocolError> {
        let rsv = header.rsv & !self.config.allowed_rsv;
        if rsv != 0 {
            return Err(ProtocolError::ReservedBits(rsv));
        }
        match (self.config.role, header.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        if header.payload_len > self.config.max_frame_size as u64 {
            return Err(ProtocolError::FrameTooLarge {
                limit: self.config.max_frame_size,
            });
        }
        // RSV1 marks a compressed message on its first frame only (RFC 7692
        // §6.1): on a control or continuation frame it is an error.
        let compressed = header.rsv & RSV1 != 0 && self.inflates();
        if compressed && (header.opcode.is_control() || header.opcode == OpCode::Continuation) {
            return Err(ProtocolError::MisplacedCompressionBit);
        }
        if header.opcode.is_control() {
            // At most 125 bytes, already checked by the header parser.
            self.frame.clear();
            return Ok(());
        }
        let kind = match (header.opcode, &mut self.message) {
            (OpCode::Continuation, None) => return Err(ProtocolError::UnexpectedContinuation),
            (OpCode::Continuation, Some(partial)) => {
                partial.frames += 1;
                if partial.frames > self.config.max_fragments {
                    return Err(ProtocolError::TooManyFragments {
                        limit: self.config.max_fragments,
                    });
                }
                None
            }
            (_, Some(_)) => return Err(ProtocolError::ExpectedContinuation),
            (OpCode::Text, None) => Some(DataKind::Text),
            _ => Some(DataKind::Binary),
        };
        // Declared lengths count against the message limit; for a compressed
        // message, against the cap on its compressed bytes (the inflated
        // size is checked as it is inflated).
        let (so_far, limit) = match &self.message {
            Some(p) if p.compressed => (p.wire, self.config.max_compressed_size()),
            Some(p) => (p.len, self.config.max_message_size),
            None if compressed => (0, self.config.max_compressed_size()),
            None => (0, self.config.max_message_size),
        };
        if header.payload_len > (limit - so_far) as u64 {
            return Err(ProtocolError::MessageTooLarge {
                limit: self.config.max_message_size,
            });
        }
        if let Some(kind) = kind {
            self.utf8.reset();
            self.message = Some(Partial {
                kind,
                data: Vec::new(),
                len: 0,
                frames: 1,
                compressed,
                wire: 0,
            });
        }
        self.frame.clear();
        Ok(())
    }

    /// Takes one chunk of the current frame's payload, as it arrived (still
    /// masked, at key offset `mask_offset`); `remaining` is what the frame
    /// still had to deliver, this chunk included. Returns the key offset for
    /// the bytes after the chunk.
    fn payload(
        &mut self,
        header: &FrameHeader,
        chunk: &mut [u8],
        remaining: u64,
        mask_offset: usize,
    ) -> Result<usize, ProtocolError> {
        // Where the bytes go, whether they must be UTF-8, and the message's
        // count of bytes taken (a stand-in for a control frame).
        let mut control_len = 0;
        let (dst, text, len) = if header.opcode.is_control() {
            (&mut self.frame, false, &mut control_len)
        } else {
            let partial = self
                .message
                .as_mut()
                .expect("a data frame always has a message in progress");
            // permessage-deflate: the chunk is what arrived; the bytes
            // checked and stored are the message's own, inflated.
            #[cfg(feature = "deflate")]
            if partial.compressed {
                let next = unmask(header, chunk, mask_offset);
                partial.wire += chunk.len();
                self.inflate(chunk, false)?;
                return Ok(next);
            }
            let dst = if self.config.assemble_messages {
                // Drop a zeroed tail left by `direct_buffer`, then make
                // room: the whole frame when that is at most twice this
                // chunk (no regrowth for a message that arrives in one or
                // two reads), otherwise twice the chunk, so memory follows
                // the bytes that arrive rather than the length a peer
                // declares.
                partial.data.truncate(partial.len);
                let want = remaining.min(MIN_RESERVE.max(2 * chunk.len()) as u64) as usize;
                if partial.data.capacity() == 0 {
                    partial.data = crate::scratch::take_buffer(want);
                }
                partial.data.reserve(want);
                &mut partial.data
            } else {
                &mut self.frame
            };
            (dst, partial.kind == DataKind::Text, &mut partial.len)
        };
        let at = dst.len();
        // Unmasked on the way out of the read buffer: one pass over the
        // bytes instead of two.
        let next = match header.mask {
            Some(key) => super::mask::extend_unmasked(dst, chunk, key, mask_offset),
            None => {
                super::copy::append(dst, chunk);
                mask_offset
            }
        };
        if text {
            self.utf8
                .feed(&dst[at..])
                .map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        // Counted only once accepted: rejected bytes stay past the
        // message's length, and the error fails the receiver for good.
        *len += chunk.len();
        Ok(next)
    }

    /// Inflates one chunk of a compressed message (or, with `finish`, its
    /// end: the `00 00 ff ff` tail) into the message or the current
    /// fragment, checking the inflated size and UTF-8 as it grows.
    #[cfg(feature = "deflate")]
    fn inflate(&mut self, chunk: &[u8], finish: bool) -> Result<(), ProtocolError> {
        let max = self.config.max_message_size;
        let partial = self
            .message
            .as_mut()
            .expect("a data frame always has a message in progress");
        // Gone only once the receiver is closed or failed, and then it
        // decodes nothing more: refuse rather than panic all the same.
        let Some(decompressor) = self.decompressor.as_mut() else {
            return Err(ProtocolError::InvalidCompressedData);
        };
        let kind = partial.kind;
        // With assembly off, `frame` holds this frame's inflated bytes and
        // `len` counts earlier frames' too: the limit is what is left.
        let (out, earlier) = if self.config.assemble_messages {
            (&mut partial.data, 0)
        } else {
            let earlier = partial.len - self.frame.len();
            (&mut self.frame, earlier)
        };
        let limit = max - earlier;
        let before = out.len();
        let result = if finish {
            decompressor.finish_message(out, limit)
        } else {
            decompressor.decompress_chunk(chunk, out, limit)
        };
        result.map_err(|e| match e {
            InflateError::TooLarge { .. } => ProtocolError::MessageTooLarge { limit: max },
            InflateError::Corrupt => ProtocolError::InvalidCompressedData,
        })?;
        if kind == DataKind::Text {
            self.utf8
                .feed(&out[before..])
                .map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        let grown = out.len() - before;
        partial.len += grown;
        Ok(())
    }

    /// Finishes the current frame and reports what it completed.
    fn end_frame(&mut self, header: &FrameHeader) -> Result<Option<Incoming>, ProtocolError> {
        self.state = State::Header;
        #[cfg(feature = "deflate")]
        if header.fin
            && !header.opcode.is_control()
            && self.message.as_ref().is_some_and(|p| p.compressed)
        {
            self.inflate(&[], true)?;
        }
        let payload = std::mem::take(&mut self.frame);
        let item = match header.opcode {
            OpCode::Ping => Incoming::Ping(payload),
            OpCode::Pong => Incoming::Pong(payload),
            OpCode::Close => {
                let close = parse_close_payload(&payload).map_err(ProtocolError::ClosePayload)?;
                self.state = State::Closed;
                #[cfg(feature = "deflate")]
                {
                    // Done for good: give the inflater's memory back now.
                    self.decompressor = None;
                }
                Incoming::Close(close.map(|(code, reason)| (code, reason.to_owned())))
            }
            OpCode::Text | OpCode::Binary | OpCode::Continuation => {
                return self.end_data_frame(header.fin, payload);
            }
        };
        Ok(Some(item))
    }

    fn end_data_frame(
        &mut self,
        fin: bool,
        frame: Vec<u8>,
    ) -> Result<Option<Incoming>, ProtocolError> {
        let partial = self
            .message
            .as_mut()
            .expect("a data frame always has a message in progress");
        if fin && partial.kind == DataKind::Text {
            self.utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        if !self.config.assemble_messages {
            let fragment = Fragment {
                kind: partial.kind,
                data: frame,
                first: partial.frames == 1,
                last: fin,
            };
            if fin {
                self.message = None;
            }
            return Ok(Some(Incoming::Fragment(fragment)));
        }
        if !fin {
            return Ok(None);
        }
        let mut partial = self.message.take().expect("checked above");
        partial.data.truncate(partial.len);
        let message = match partial.kind {
            DataKind::Binary => Message::Binary(partial.data),
            // SAFETY: the message is its first `len` bytes (cut above), and
            // `len` counts only bytes that `self.utf8` accepted, in the order
            // they arrived: `payload`, `direct_filled_inner` and `inflate`
            // add to it after the check passes. The first rejection fails the
            // receiver for good (`fail` drops the message; every later call
            // returns the error), so the bytes counted are one unbroken run
            // of accepted pieces from the message's start (`utf8` was reset
            // then), which the validator only accepts when they are a valid
            // UTF-8 prefix; `finish` above checked that the message did not
            // end inside a character.
            DataKind::Text => Message::Text(unsafe { String::from_utf8_unchecked(partial.data) }),
        };
        Ok(Some(Incoming::Message(message)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::frame::MAX_HEADER_LEN;
    use super::*;
    use proptest::prelude::*;

    /// Encodes one frame as a client would (masked) or a server (not).
    fn frame(opcode: OpCode, fin: bool, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
        let mut header = FrameHeader::new(opcode, fin, payload.len() as u64);
        header.mask = mask;
        let mut head = [0u8; MAX_HEADER_LEN];
        let n = header.encode(&mut head);
        let mut out = head[..n].to_vec();
        let mut body = payload.to_vec();
        if let Some(key) = mask {
            apply_mask(&mut body, key, 0);
        }
        out.extend_from_slice(&body);
        out
    }

    fn client_frame(opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
        frame(opcode, fin, payload, Some([0x12, 0x34, 0x56, 0x78]))
    }

    /// Feeds `bytes` in pieces of `step` bytes, as a socket would deliver
    /// them, and collects every item (stopping at the first error).
    fn run(
        config: ReceiverConfig,
        bytes: &[u8],
        step: usize,
    ) -> (Vec<Incoming>, Option<ProtocolError>) {
        let mut rx = Receiver::new(config);
        let mut buffer: Vec<u8> = Vec::new();
        let mut items = Vec::new();
        for piece in bytes.chunks(step.max(1)) {
            buffer.extend_from_slice(piece);
            if let Err(e) = decode_buffered(&mut rx, &mut buffer, &mut items) {
                return (items, Some(e));
            }
        }
        (items, None)
    }

    /// Decodes everything complete in `buffer` into `items` and drops the
    /// consumed bytes.
    fn decode_buffered(
        rx: &mut Receiver,
        buffer: &mut Vec<u8>,
        items: &mut Vec<Incoming>,
    ) -> Result<(), ProtocolError> {
        let mut at = 0;
        loop {
            match rx.decode(&mut buffer[at..])? {
                (0, None) => break,
                (n, item) => {
                    at += n;
                    items.extend(item);
                }
            }
        }
        buffer.drain(..at);
        Ok(())
    }

    /// Like `run`, but reads the way the connection does: into the direct
    /// buffer whenever nothing is buffered and the receiver offers one
    /// (for payloads with at least `min` bytes left), otherwise into a read
    /// buffer; each read takes at most `step` bytes from `bytes`.
    ///
    /// Direct reads alternate between the zeroed room (`direct_buffer`) and
    /// the uninitialised one (`direct_spare`) as `spare` says, by read.
    fn run_direct(
        config: ReceiverConfig,
        bytes: &[u8],
        step: usize,
        min: usize,
        spare: impl Fn(usize) -> bool,
    ) -> (Vec<Incoming>, Option<ProtocolError>) {
        let mut rx = Receiver::new(config);
        let mut source = bytes;
        let mut buffer: Vec<u8> = Vec::new();
        let mut items = Vec::new();
        let mut reads = 0;
        while !source.is_empty() {
            if buffer.is_empty() && spare(reads) {
                if let Some(room) = rx.direct_spare(min) {
                    reads += 1;
                    let n = room.len().min(step.max(1)).min(source.len());
                    for (slot, &byte) in room.iter_mut().zip(&source[..n]) {
                        slot.write(byte);
                    }
                    source = &source[n..];
                    // SAFETY: the loop above wrote the first `n` bytes.
                    match unsafe { rx.direct_assume_filled(n) } {
                        Ok(item) => items.extend(item),
                        Err(e) => return (items, Some(e)),
                    }
                    continue;
                }
            } else if buffer.is_empty()
                && let Some(direct) = rx.direct_buffer(min)
            {
                reads += 1;
                let n = direct.len().min(step.max(1)).min(source.len());
                direct[..n].copy_from_slice(&source[..n]);
                source = &source[n..];
                match rx.direct_filled(n) {
                    Ok(item) => items.extend(item),
                    Err(e) => return (items, Some(e)),
                }
                continue;
            }
            let n = step.max(1).min(source.len());
            buffer.extend_from_slice(&source[..n]);
            source = &source[n..];
            if let Err(e) = decode_buffered(&mut rx, &mut buffer, &mut items) {
                return (items, Some(e));
            }
        }
        (items, None)
    }

    #[test]
    fn direct_reads_grow_with_what_arrives() {
        let mut rx = Receiver::new(server());
        // A binary frame declaring 16 MiB: room is made for 64 KiB, not 16 MiB.
        let mut head = frame(OpCode::Binary, true, &[], Some([1, 2, 3, 4]));
        head.truncate(2);
        head[1] = 0x80 | 127;
        head.extend((16u64 << 20).to_be_bytes());
        head.extend([1, 2, 3, 4]);
        assert_eq!(rx.decode(&mut head).unwrap(), (head.len(), None));
        assert_eq!(rx.direct_buffer(1).unwrap().len(), 64 << 10);
        assert_eq!(rx.direct_filled(10).unwrap(), None);
        // Still 64 KiB (from the bytes held, 10), until more arrives.
        assert_eq!(rx.direct_buffer(1).unwrap().len(), 64 << 10);
        assert_eq!(rx.direct_filled(64 << 10).unwrap(), None);
        assert_eq!(rx.direct_buffer(1).unwrap().len(), (64 << 10) + 10);
        // Nothing for control frames, or when fewer bytes than asked are left.
        let mut rx = Receiver::new(server());
        let mut ping = client_frame(OpCode::Ping, true, b"abc");
        assert_eq!(rx.decode(&mut ping[..6]).unwrap(), (6, None));
        assert!(rx.direct_buffer(1).is_none());
        let mut rx = Receiver::new(server());
        let mut wire = client_frame(OpCode::Binary, true, &[7; 100]);
        assert_eq!(rx.decode(&mut wire[..6]).unwrap(), (6, None));
        assert!(rx.direct_buffer(101).is_none());
        assert_eq!(rx.direct_buffer(100).unwrap().len(), 100);
    }

    #[test]
    fn direct_reads_check_utf8() {
        let wire = client_frame(OpCode::Text, true, b"ok \xff not utf-8, and long enough");
        for spare in [false, true] {
            let (_, err) = run_direct(server(), &wire, 5, 1, |_| spare);
            assert_eq!(err, Some(ProtocolError::InvalidUtf8));
        }
    }

    #[test]
    fn spare_room_is_the_same_room_uninitialised() {
        let mut rx = Receiver::new(server());
        // A binary frame declaring 16 MiB: 64 KiB of room, nothing zeroed.
        let mut head = frame(OpCode::Binary, true, &[], Some([0; 4]));
        head.truncate(2);
        head[1] = 0x80 | 127;
        head.extend((16u64 << 20).to_be_bytes());
        head.extend([0; 4]);
        assert_eq!(rx.decode(&mut head).unwrap(), (head.len(), None));
        assert_eq!(rx.direct_spare(1).unwrap().len(), 64 << 10);
        // A zeroed room, partly filled, then a spare one: the zeroed tail
        // is dropped and the spare room starts right after the bytes held.
        rx.direct_buffer(1).unwrap()[..3].copy_from_slice(b"abc");
        assert_eq!(rx.direct_filled(3).unwrap(), None);
        let room = rx.direct_spare(1).unwrap();
        assert_eq!(room.len(), 64 << 10);
        for (slot, &byte) in room.iter_mut().zip(b"de") {
            slot.write(byte);
        }
        // SAFETY: two bytes written just above.
        assert_eq!(unsafe { rx.direct_assume_filled(2) }.unwrap(), None);
        let held = rx.message.as_ref().unwrap();
        assert_eq!((held.len, &held.data[..]), (5, &b"abcde"[..]));
    }

    #[test]
    #[should_panic(expected = "more bytes than direct_spare gave room for")]
    fn spare_room_cannot_be_overfilled() {
        let mut rx = Receiver::new(server());
        let mut wire = client_frame(OpCode::Binary, true, &[7; 100]);
        assert_eq!(rx.decode(&mut wire[..6]).unwrap(), (6, None));
        let capacity = rx.direct_spare(1).map(|room| room.len()).unwrap();
        let held = rx.message.as_ref().unwrap().data.capacity();
        // SAFETY: never reached: the claim is past the capacity, so the
        // receiver refuses it before touching the bytes.
        let _ = unsafe { rx.direct_assume_filled(held + capacity + 1) };
    }

    fn server() -> ReceiverConfig {
        ReceiverConfig::new(Role::Server)
    }

    #[test]
    fn boundary_sizes_in_every_step() {
        for len in [0usize, 1, 125, 126, 127, 65_535, 65_536, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let wire = client_frame(OpCode::Binary, true, &payload);
            for step in [1usize, 7, 4096, wire.len()] {
                if len > 1000 && step < 100 {
                    continue;
                }
                let (items, err) = run(server(), &wire, step);
                assert_eq!(err, None);
                assert_eq!(
                    items,
                    vec![Incoming::Message(Message::Binary(payload.clone()))]
                );
            }
        }
    }

    #[test]
    fn fragmented_text_with_interleaved_ping() {
        let text = "héllo wörld €𝄞";
        let bytes = text.as_bytes();
        let mut wire = client_frame(OpCode::Text, false, &bytes[..2]);
        wire.extend(client_frame(OpCode::Ping, true, b"p"));
        wire.extend(client_frame(OpCode::Continuation, false, &bytes[2..9]));
        wire.extend(client_frame(OpCode::Continuation, true, &bytes[9..]));
        for step in 1..wire.len() {
            let (items, err) = run(server(), &wire, step);
            assert_eq!(err, None);
            assert_eq!(
                items,
                vec![
                    Incoming::Ping(b"p".to_vec()),
                    Incoming::Message(Message::Text(text.into()))
                ]
            );
        }
    }

    #[test]
    fn unassembled_fragments() {
        let mut wire = client_frame(OpCode::Binary, false, b"ab");
        wire.extend(client_frame(OpCode::Continuation, true, b"c"));
        let config = ReceiverConfig {
            assemble_messages: false,
            ..server()
        };
        let (items, err) = run(config, &wire, 3);
        assert_eq!(err, None);
        let kind = DataKind::Binary;
        assert_eq!(
            items,
            vec![
                Incoming::Fragment(Fragment {
                    kind,
                    data: b"ab".to_vec(),
                    first: true,
                    last: false
                }),
                Incoming::Fragment(Fragment {
                    kind,
                    data: b"c".to_vec(),
                    first: false,
                    last: true
                }),
            ]
        );
    }

    #[test]
    fn invalid_utf8_fails_fast_in_the_first_fragment() {
        // The bad byte is in the first fragment; the message never ends.
        let wire = client_frame(OpCode::Text, false, &[b'a', 0xff]);
        let (_, err) = run(server(), &wire, 1);
        assert_eq!(err, Some(ProtocolError::InvalidUtf8));
        // A text message that ends inside a character.
        let wire = client_frame(OpCode::Text, true, &[0xe2, 0x82]);
        let (_, err) = run(server(), &wire, 100);
        assert_eq!(err, Some(ProtocolError::InvalidUtf8));
    }

    #[test]
    fn protocol_errors() {
        let cases: Vec<(Vec<u8>, ProtocolError)> = vec![
            (
                frame(OpCode::Text, true, b"x", None),
                ProtocolError::UnmaskedFrame,
            ),
            (
                client_frame(OpCode::Continuation, true, b"x"),
                ProtocolError::UnexpectedContinuation,
            ),
            (
                {
                    let mut w = client_frame(OpCode::Text, false, b"x");
                    w.extend(client_frame(OpCode::Binary, true, b"y"));
                    w
                },
                ProtocolError::ExpectedContinuation,
            ),
            (
                {
                    let mut w = client_frame(OpCode::Text, true, b"x");
                    w[0] |= 0x40;
                    w
                },
                ProtocolError::ReservedBits(0x40),
            ),
            (
                client_frame(OpCode::Close, true, &[0x03]),
                ProtocolError::ClosePayload(super::super::close::ClosePayloadError::OneByte),
            ),
            (
                client_frame(OpCode::Close, true, &[0x03, 0xe8, 0xff]),
                ProtocolError::ClosePayload(super::super::close::ClosePayloadError::InvalidReason),
            ),
        ];
        for (wire, expected) in cases {
            assert_eq!(run(server(), &wire, 1).1, Some(expected));
        }
        let client = ReceiverConfig::new(Role::Client);
        assert_eq!(
            run(client, &client_frame(OpCode::Text, true, b"x"), 9).1,
            Some(ProtocolError::MaskedFrame)
        );
    }

    #[test]
    fn limits_are_checked_on_the_declared_length() {
        let config = ReceiverConfig {
            max_frame_size: 100,
            max_message_size: 150,
            max_fragments: 3,
            ..server()
        };
        // Only the header of a huge frame: refused before any payload.
        let mut header = FrameHeader::new(OpCode::Binary, true, 1 << 40);
        header.mask = Some([1, 2, 3, 4]);
        let mut head = [0u8; MAX_HEADER_LEN];
        let n = header.encode(&mut head);
        assert_eq!(
            run(config, &head[..n], 100).1,
            Some(ProtocolError::FrameTooLarge { limit: 100 })
        );
        // Two 100-byte frames: the message limit is hit on the second header.
        let mut wire = client_frame(OpCode::Binary, false, &[0; 100]);
        wire.extend(client_frame(OpCode::Continuation, true, &[0; 100])[..8].to_vec());
        assert_eq!(
            run(config, &wire, 1000).1,
            Some(ProtocolError::MessageTooLarge { limit: 150 })
        );
        // Four empty fragments.
        let mut wire = client_frame(OpCode::Binary, false, b"");
        for _ in 0..3 {
            wire.extend(client_frame(OpCode::Continuation, false, b""));
        }
        assert_eq!(
            run(config, &wire, 1000).1,
            Some(ProtocolError::TooManyFragments { limit: 3 })
        );
    }

    /// The soundness hole: a text frame whose first payload byte is not
    /// UTF-8 fails, and a receiver called again after that error must not
    /// go on to build a `Message::Text` around the rejected byte.
    #[test]
    fn invalid_utf8_is_not_completed_by_calling_again() {
        let mut rx = Receiver::new(ReceiverConfig::new(Role::Client));
        // An unmasked text frame declaring 3 bytes, then 0xFF: rejected.
        // Before the fix the rejected byte stayed counted and the frame
        // still expected 3 bytes, so "abc" completed a `Message::Text`
        // holding ff 61 62 63.
        let mut header = [0x81, 0x03];
        assert_eq!(rx.decode(&mut header), Ok((2, None)));
        assert_eq!(rx.decode(&mut [0xff]), Err(ProtocolError::InvalidUtf8));
        let mut abc = *b"abc";
        assert_eq!(rx.decode(&mut abc), Err(ProtocolError::InvalidUtf8));
        assert_failed(&mut rx, ProtocolError::InvalidUtf8);
    }

    /// Asserts that `rx` failed with `err` for good: whatever it is given,
    /// every call that decodes returns `err` and takes nothing, and no
    /// direct room is offered.
    fn assert_failed(rx: &mut Receiver, err: ProtocolError) {
        let mask = (rx.config().role == Role::Server).then_some([9, 8, 7, 6]);
        let valid = [
            frame(OpCode::Text, true, b"fine", mask),
            frame(OpCode::Binary, true, &[1; 300], mask),
            frame(OpCode::Continuation, true, b"abc", mask),
            frame(OpCode::Ping, true, b"p", mask),
            frame(OpCode::Close, true, &[0x03, 0xe8], mask),
            b"abc".to_vec(),
            Vec::new(),
        ];
        for _ in 0..2 {
            for bytes in &valid {
                let mut bytes = bytes.clone();
                assert_eq!(rx.decode(&mut bytes), Err(err), "{bytes:02x?}");
            }
            assert!(rx.direct_buffer(1).is_none());
            assert!(rx.direct_spare(1).is_none());
            assert_eq!(rx.direct_filled(0), Err(err));
            assert_eq!(rx.direct_filled(3), Err(err));
            // SAFETY: no byte is claimed; the receiver refuses first anyway.
            assert_eq!(unsafe { rx.direct_assume_filled(0) }, Err(err));
            assert!(!rx.is_closed());
            assert!(!rx.inflates());
        }
        assert!(rx.message.is_none(), "the message outlived the error");
    }

    /// Decodes `bytes` with `rx` in one buffer until the first error.
    fn first_error(rx: &mut Receiver, bytes: &[u8]) -> Option<ProtocolError> {
        let mut buffer = bytes.to_vec();
        let mut items = Vec::new();
        decode_buffered(rx, &mut buffer, &mut items).err()
    }

    #[test]
    fn every_error_sticks() {
        let limits = ReceiverConfig {
            max_frame_size: 100,
            max_message_size: 150,
            max_fragments: 3,
            ..server()
        };
        let mut too_many = client_frame(OpCode::Binary, false, b"");
        for _ in 0..3 {
            too_many.extend(client_frame(OpCode::Continuation, false, b""));
        }
        let mut too_large = client_frame(OpCode::Binary, false, &[0; 100]);
        too_large.extend(client_frame(OpCode::Continuation, true, &[0; 100]));
        let mut reserved_opcode = client_frame(OpCode::Binary, true, b"x");
        reserved_opcode[0] = 0x83;
        let cases: Vec<(ReceiverConfig, Vec<u8>, ProtocolError)> = vec![
            (
                server(),
                frame(OpCode::Text, true, b"x", None),
                ProtocolError::UnmaskedFrame,
            ),
            (
                ReceiverConfig::new(Role::Client),
                client_frame(OpCode::Text, true, b"x"),
                ProtocolError::MaskedFrame,
            ),
            (
                server(),
                reserved_opcode,
                ProtocolError::Header(super::super::frame::HeaderError::ReservedOpcode(3)),
            ),
            (
                server(),
                client_frame(OpCode::Continuation, true, b"x"),
                ProtocolError::UnexpectedContinuation,
            ),
            (
                server(),
                {
                    let mut w = client_frame(OpCode::Text, false, b"x");
                    w.extend(client_frame(OpCode::Binary, true, b"y"));
                    w
                },
                ProtocolError::ExpectedContinuation,
            ),
            (
                server(),
                client_frame(OpCode::Close, true, &[0x03]),
                ProtocolError::ClosePayload(super::super::close::ClosePayloadError::OneByte),
            ),
            (
                limits,
                client_frame(OpCode::Binary, true, &[0; 101]),
                ProtocolError::FrameTooLarge { limit: 100 },
            ),
            (
                limits,
                too_large,
                ProtocolError::MessageTooLarge { limit: 150 },
            ),
            (
                limits,
                too_many,
                ProtocolError::TooManyFragments { limit: 3 },
            ),
            // Ending inside a character: the frame was over, the message
            // not cleared; a continuation must not finish the character.
            (
                server(),
                client_frame(OpCode::Text, true, &[0xe2, 0x82]),
                ProtocolError::InvalidUtf8,
            ),
        ];
        for (config, wire, expected) in cases {
            let mut rx = Receiver::new(config);
            assert_eq!(first_error(&mut rx, &wire), Some(expected));
            assert_failed(&mut rx, expected);
        }
    }

    /// The validator forgets a character it completed in a piece it then
    /// rejected: fed on, it would accept bytes that do not follow that
    /// character's start. Sticky errors keep such bytes out of any message.
    #[test]
    fn invalid_utf8_sticks_across_fragments() {
        let first = client_frame(OpCode::Text, false, b"a\xc3");
        let second = client_frame(OpCode::Continuation, false, b"\xa9\xff");
        let last = client_frame(OpCode::Continuation, true, b"b");
        for assemble_messages in [true, false] {
            let config = ReceiverConfig {
                assemble_messages,
                ..server()
            };
            let mut rx = Receiver::new(config);
            let mut items = Vec::new();
            decode_buffered(&mut rx, &mut first.clone(), &mut items).unwrap();
            assert_eq!(items.len(), usize::from(!assemble_messages));
            let mut wire = second.clone();
            // The header goes through; the payload fails.
            assert_eq!(rx.decode(&mut wire).unwrap(), (6, None));
            assert_eq!(rx.decode(&mut wire[6..]), Err(ProtocolError::InvalidUtf8));
            // The rest of that frame, then the last one: still the error.
            assert_eq!(rx.decode(&mut wire[7..]), Err(ProtocolError::InvalidUtf8));
            let mut rest = last.clone();
            assert_eq!(rx.decode(&mut rest), Err(ProtocolError::InvalidUtf8));
            assert_failed(&mut rx, ProtocolError::InvalidUtf8);
        }
    }

    /// The same through direct reads: the rejected read is not taken, and
    /// neither is any read after it.
    #[test]
    fn invalid_utf8_sticks_in_direct_reads() {
        for spare in [false, true] {
            let mut rx = Receiver::new(ReceiverConfig::new(Role::Client));
            // An unmasked text frame of 4 bytes: c3, then a9 ff (é and a
            // bad byte), then "b".
            assert_eq!(rx.decode(&mut [0x81, 0x04]), Ok((2, None)));
            let read = |rx: &mut Receiver, bytes: &[u8]| {
                if spare {
                    let room = rx.direct_spare(1).expect("inside the payload");
                    for (slot, &byte) in room.iter_mut().zip(bytes) {
                        slot.write(byte);
                    }
                    // SAFETY: the loop above wrote these bytes.
                    unsafe { rx.direct_assume_filled(bytes.len()) }
                } else {
                    let room = rx.direct_buffer(1).expect("inside the payload");
                    room[..bytes.len()].copy_from_slice(bytes);
                    rx.direct_filled(bytes.len())
                }
            };
            assert_eq!(read(&mut rx, &[0xc3]), Ok(None));
            assert_eq!(
                read(&mut rx, &[0xa9, 0xff]),
                Err(ProtocolError::InvalidUtf8)
            );
            // No more room: the caller falls back to `decode`, which fails.
            assert!(rx.direct_buffer(1).is_none());
            assert_eq!(rx.direct_filled(1), Err(ProtocolError::InvalidUtf8));
            let mut b = *b"bcd";
            assert_eq!(rx.decode(&mut b), Err(ProtocolError::InvalidUtf8));
            assert_failed(&mut rx, ProtocolError::InvalidUtf8);
        }
        // A failure in `decode` closes the direct path too.
        let mut rx = Receiver::new(ReceiverConfig::new(Role::Client));
        assert_eq!(rx.decode(&mut [0x81, 0x05]), Ok((2, None)));
        assert_eq!(rx.decode(&mut [0xff]), Err(ProtocolError::InvalidUtf8));
        assert_failed(&mut rx, ProtocolError::InvalidUtf8);
    }

    /// Everything a receiver said, read the way a connection reads (a
    /// buffer, or straight into the message), and checked as it comes:
    /// no text that is not UTF-8, nothing after an error, and from the first
    /// error on, every call returns it.
    #[derive(Default)]
    struct Watch {
        items: Vec<Incoming>,
        failed: Option<ProtocolError>,
        /// The text message being received as fragments, so far.
        text_fragments: Option<Vec<u8>>,
    }

    impl Watch {
        fn took(&mut self, item: Option<Incoming>) -> Result<(), TestCaseError> {
            prop_assert_eq!(self.failed, None, "decoded after an error: {:?}", item);
            let Some(item) = item else { return Ok(()) };
            match &item {
                Incoming::Message(Message::Text(text)) => {
                    prop_assert!(
                        std::str::from_utf8(text.as_bytes()).is_ok(),
                        "{:02x?}",
                        text.as_bytes()
                    );
                }
                Incoming::Fragment(f) if f.kind == DataKind::Text => {
                    let so_far = self.text_fragments.get_or_insert_with(Vec::new);
                    so_far.extend_from_slice(&f.data);
                    // Every text fragment is UTF-8 so far (at most an
                    // incomplete character at its end), and the last one
                    // completes it.
                    match std::str::from_utf8(so_far) {
                        Ok(_) => {}
                        Err(e) => prop_assert!(
                            !f.last && e.error_len().is_none(),
                            "text fragments not UTF-8: {:02x?}",
                            so_far
                        ),
                    }
                    if f.last {
                        self.text_fragments = None;
                    }
                }
                _ => {}
            }
            self.items.push(item);
            Ok(())
        }

        fn error(&mut self, e: ProtocolError) -> Result<(), TestCaseError> {
            match self.failed {
                Some(first) => prop_assert_eq!(e, first, "the error changed"),
                None => self.failed = Some(e),
            }
            Ok(())
        }
    }

    /// Feeds `bytes` to `rx` in reads of `steps` bytes (cycled), straight
    /// into the message when nothing is buffered and `direct` says so for
    /// that read, and goes on after an error as a careless caller would:
    /// dropping the buffer, reading on, and calling every method again.
    fn feed_on(
        mut rx: Receiver,
        bytes: &[u8],
        steps: &[usize],
        direct: impl Fn(usize) -> Option<bool>,
    ) -> Result<Watch, TestCaseError> {
        let mut watch = Watch::default();
        let mut source = bytes;
        let mut buffer: Vec<u8> = Vec::new();
        let mut reads = 0;
        while !source.is_empty() {
            let step = steps[reads % steps.len()].max(1);
            let how = direct(reads);
            reads += 1;
            if let Some(e) = watch.failed {
                prop_assert!(rx.direct_buffer(1).is_none());
                prop_assert!(rx.direct_spare(1).is_none());
                prop_assert_eq!(rx.direct_filled(step), Err(e));
            }
            if buffer.is_empty() {
                let filled = match how {
                    Some(true) => rx.direct_spare(1).map(|room| {
                        let n = room.len().min(step).min(source.len());
                        for (slot, &byte) in room.iter_mut().zip(&source[..n]) {
                            slot.write(byte);
                        }
                        (n, true)
                    }),
                    Some(false) => rx.direct_buffer(1).map(|room| {
                        let n = room.len().min(step).min(source.len());
                        room[..n].copy_from_slice(&source[..n]);
                        (n, false)
                    }),
                    None => None,
                };
                if let Some((n, spare)) = filled {
                    source = &source[n..];
                    let result = if spare {
                        // SAFETY: the first `n` bytes were written above.
                        unsafe { rx.direct_assume_filled(n) }
                    } else {
                        rx.direct_filled(n)
                    };
                    match result {
                        Ok(item) => watch.took(item)?,
                        Err(e) => watch.error(e)?,
                    }
                    continue;
                }
            }
            let n = step.min(source.len());
            buffer.extend_from_slice(&source[..n]);
            source = &source[n..];
            let mut at = 0;
            loop {
                match rx.decode(&mut buffer[at..]) {
                    Ok((0, None)) => {
                        prop_assert_eq!(watch.failed, None, "Ok after an error");
                        break;
                    }
                    Ok((used, item)) => {
                        at += used;
                        watch.took(item)?;
                    }
                    Err(e) => {
                        watch.error(e)?;
                        // The bytes left are dropped: nothing takes them.
                        at = buffer.len();
                        break;
                    }
                }
            }
            buffer.drain(..at);
        }
        let mut rest = buffer;
        match (rx.decode(&mut rest), watch.failed) {
            (Err(e), Some(first)) => prop_assert_eq!(e, first),
            (Err(e), None) => watch.error(e)?,
            (Ok(_), failed) => prop_assert_eq!(failed, None, "Ok after an error"),
        }
        Ok(watch)
    }

    /// A text or binary message for the property tests: valid UTF-8, the
    /// same with one byte replaced (often invalid), or arbitrary bytes.
    fn message_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            "[a-zé€😀]{0,60}".prop_map(String::into_bytes),
            ("[a-zé€😀]{1,60}", any::<prop::sample::Index>(), any::<u8>()).prop_map(
                |(text, at, byte)| {
                    let mut bytes = text.into_bytes();
                    let at = at.index(bytes.len());
                    bytes[at] = byte;
                    bytes
                }
            ),
            proptest::collection::vec(any::<u8>(), 0..40),
        ]
    }

    #[test]
    fn close_stops_decoding() {
        let mut wire = client_frame(OpCode::Close, true, &[0x03, 0xe8, b'o', b'k']);
        wire.extend(client_frame(OpCode::Text, true, b"after"));
        let (items, err) = run(server(), &wire, 1000);
        assert_eq!(err, None);
        assert_eq!(
            items,
            vec![Incoming::Close(Some((CloseCode::NORMAL, "ok".into())))]
        );
    }

    #[cfg(feature = "deflate")]
    mod deflate {
        use super::super::super::deflate::{Compressor, Decompressor};
        use super::*;

        fn inflating(config: ReceiverConfig) -> Receiver {
            Receiver::with_decompressor(config, Decompressor::new(15, false).unwrap())
        }

        fn compress(tx: &mut Compressor, data: &[u8]) -> Vec<u8> {
            let mut out = Vec::new();
            tx.compress(data, &mut out);
            out
        }

        /// `wire` as one compressed message from a client, frame by
        /// frame: RSV1 on the first only, split into `frag`-byte frames.
        fn frame_list(kind: OpCode, wire: &[u8], frag: usize) -> Vec<Vec<u8>> {
            let pieces: Vec<&[u8]> = if wire.is_empty() {
                vec![&[]]
            } else {
                wire.chunks(frag.max(1)).collect()
            };
            let last = pieces.len() - 1;
            pieces
                .iter()
                .enumerate()
                .map(|(i, piece)| {
                    let op = if i == 0 { kind } else { OpCode::Continuation };
                    let mut f = client_frame(op, i == last, piece);
                    if i == 0 {
                        f[0] |= RSV1;
                    }
                    f
                })
                .collect()
        }

        fn compressed_frames(kind: OpCode, wire: &[u8], frag: usize) -> Vec<u8> {
            frame_list(kind, wire, frag).concat()
        }

        /// Like `run`, with a receiver that inflates.
        fn run_inflating(
            config: ReceiverConfig,
            bytes: &[u8],
            step: usize,
        ) -> (Vec<Incoming>, Option<ProtocolError>, Receiver) {
            let mut rx = inflating(config);
            let mut buffer: Vec<u8> = Vec::new();
            let mut items = Vec::new();
            for piece in bytes.chunks(step.max(1)) {
                buffer.extend_from_slice(piece);
                let mut at = 0;
                loop {
                    match rx.decode(&mut buffer[at..]) {
                        Ok((0, None)) => break,
                        Ok((n, item)) => {
                            at += n;
                            items.extend(item);
                        }
                        Err(e) => return (items, Some(e), rx),
                    }
                }
                buffer.drain(..at);
            }
            (items, None, rx)
        }

        fn text(len: usize) -> String {
            "héllo wörld, permessage-deflate €𝄞 "
                .chars()
                .cycle()
                .scan(0, |n, c| {
                    *n += c.len_utf8();
                    (*n <= len).then_some(c)
                })
                .collect()
        }

        #[test]
        fn compressed_messages_with_context_and_interleaved_control() {
            let mut tx = Compressor::new(15, 6, false).unwrap();
            let first = text(5000);
            let second = text(3000);
            let mut wire =
                compressed_frames(OpCode::Text, &compress(&mut tx, first.as_bytes()), 100);
            // A ping between the fragments of the second message, and an
            // uncompressed message after it.
            let second_frames = frame_list(OpCode::Text, &compress(&mut tx, second.as_bytes()), 7);
            let cut = second_frames.len() / 2;
            wire.extend(second_frames[..cut].concat());
            wire.extend(client_frame(OpCode::Ping, true, b"p"));
            wire.extend(second_frames[cut..].concat());
            wire.extend(client_frame(OpCode::Binary, true, b"plain"));
            for step in [1, 13, 4096, wire.len()] {
                let (items, err, rx) = run_inflating(server(), &wire, step);
                assert_eq!(err, None, "step {step}");
                assert_eq!(
                    items,
                    vec![
                        Incoming::Message(Message::Text(first.clone())),
                        Incoming::Ping(b"p".to_vec()),
                        Incoming::Message(Message::Text(second.clone())),
                        Incoming::Message(Message::Binary(b"plain".to_vec())),
                    ]
                );
                assert!(rx.inflates());
            }
        }

        #[test]
        fn empty_and_single_byte_messages() {
            let mut tx = Compressor::new(15, 6, false).unwrap();
            let mut wire = compressed_frames(OpCode::Binary, &compress(&mut tx, b""), 10);
            wire.extend(compressed_frames(OpCode::Text, &compress(&mut tx, b"a"), 1));
            // An empty payload with RSV1 is the empty message too (the tail
            // alone inflates to nothing).
            wire.extend(compressed_frames(OpCode::Binary, b"", 1));
            let (items, err, _) = run_inflating(server(), &wire, 3);
            assert_eq!(err, None);
            assert_eq!(
                items,
                vec![
                    Incoming::Message(Message::Binary(Vec::new())),
                    Incoming::Message(Message::Text("a".into())),
                    Incoming::Message(Message::Binary(Vec::new())),
                ]
            );
        }

        #[test]
        fn rsv1_only_on_the_first_data_frame() {
            let wire = compress(&mut Compressor::new(15, 6, false).unwrap(), b"Hello");
            // On a continuation.
            let mut frames = frame_list(OpCode::Text, &wire, 3);
            frames[1][0] |= RSV1;
            let w = frames.concat();
            let err = run_inflating(server(), &w, 100).1.unwrap();
            assert_eq!(err, ProtocolError::MisplacedCompressionBit);
            assert_eq!(err.close_code(), CloseCode::PROTOCOL_ERROR);
            // On a control frame.
            let mut ping = client_frame(OpCode::Ping, true, b"x");
            ping[0] |= RSV1;
            assert_eq!(
                run_inflating(server(), &ping, 100).1,
                Some(ProtocolError::MisplacedCompressionBit)
            );
            // RSV2 and RSV3 stay errors.
            let mut w = compressed_frames(OpCode::Text, &wire, 100);
            w[0] |= 0x20;
            assert_eq!(
                run_inflating(server(), &w, 100).1,
                Some(ProtocolError::ReservedBits(0x20))
            );
            // Without a decompressor RSV1 is an error (1002), as before.
            let w = compressed_frames(OpCode::Text, &wire, 100);
            let err = run(server(), &w, 100).1.unwrap();
            assert_eq!(err, ProtocolError::ReservedBits(RSV1));
            assert_eq!(err.close_code(), CloseCode::PROTOCOL_ERROR);
        }

        #[test]
        fn bomb_fails_with_1009_and_bounded_memory() {
            let mut tx = Compressor::new(15, 9, false).unwrap();
            let bomb = compress(&mut tx, &vec![0u8; 64 << 20]);
            assert!(bomb.len() < 80 << 10, "{}", bomb.len());
            let config = ReceiverConfig {
                max_message_size: 1 << 20,
                ..server()
            };
            let wire = compressed_frames(OpCode::Binary, &bomb, 4096);
            let mut rx = inflating(config);
            let mut buf = wire.clone();
            let mut at = 0;
            let err = loop {
                match rx.decode(&mut buf[at..]) {
                    Ok((n, _)) => at += n,
                    Err(e) => break e,
                }
            };
            assert_eq!(err, ProtocolError::MessageTooLarge { limit: 1 << 20 });
            assert_eq!(err.close_code(), CloseCode::MESSAGE_TOO_BIG);
            // It stopped within the first few KiB of the bomb.
            assert!(at < 16 << 10, "read {at} bytes");
            let held = rx.message.as_ref().map_or(0, |p| p.data.capacity());
            assert!(held <= (1 << 20) + 1, "{held}");
            // And the inflater is gone.
            assert!(!rx.inflates());
        }

        #[test]
        fn corrupt_data_fails_with_1007() {
            let wire = compressed_frames(OpCode::Binary, &[0xff; 16], 100);
            let (_, err, rx) = run_inflating(server(), &wire, 5);
            let err = err.unwrap();
            assert_eq!(err, ProtocolError::InvalidCompressedData);
            assert_eq!(err.close_code(), CloseCode::INVALID_PAYLOAD);
            assert!(!rx.inflates());
        }

        #[test]
        fn invalid_utf8_inside_compressed_text_fails_with_1007() {
            let mut tx = Compressor::new(15, 6, false).unwrap();
            let mut data = text(2000).into_bytes();
            data[1500] = 0xff;
            let wire = compressed_frames(OpCode::Text, &compress(&mut tx, &data), 64);
            assert_eq!(
                run_inflating(server(), &wire, 50).1,
                Some(ProtocolError::InvalidUtf8)
            );
            // Ending inside a character.
            let wire = compressed_frames(OpCode::Text, &compress(&mut tx, &[0xe2, 0x82]), 64);
            assert_eq!(
                run_inflating(server(), &wire, 50).1,
                Some(ProtocolError::InvalidUtf8)
            );
        }

        #[test]
        fn compressed_bytes_are_capped_too() {
            let config = ReceiverConfig {
                max_message_size: 1000,
                ..server()
            };
            // Empty stored blocks: inflate to nothing, forever.
            let empty_blocks: Vec<u8> = [0x00, 0x00, 0x00, 0xff, 0xff].repeat(500);
            let wire = compressed_frames(OpCode::Binary, &empty_blocks, 600);
            assert_eq!(
                run_inflating(config, &wire, 4096).1,
                Some(ProtocolError::MessageTooLarge { limit: 1000 })
            );
            // Just under the cap is fine.
            let blocks = config.max_compressed_size() / 5;
            let ok: Vec<u8> = [0x00, 0x00, 0x00, 0xff, 0xff].repeat(blocks);
            let wire = compressed_frames(OpCode::Binary, &ok, 600);
            let (items, err, _) = run_inflating(config, &wire, 4096);
            assert_eq!(err, None);
            assert_eq!(items, vec![Incoming::Message(Message::Binary(Vec::new()))]);
        }

        #[test]
        fn unassembled_fragments_are_inflated_within_the_limit() {
            let mut tx = Compressor::new(15, 6, false).unwrap();
            let data = text(20_000).into_bytes();
            let wire = compressed_frames(OpCode::Text, &compress(&mut tx, &data), 200);
            let config = ReceiverConfig {
                assemble_messages: false,
                ..server()
            };
            let (items, err, _) = run_inflating(config, &wire, 333);
            assert_eq!(err, None);
            let mut joined = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let Incoming::Fragment(f) = item else {
                    panic!("{item:?}");
                };
                assert_eq!(f.kind, DataKind::Text);
                assert_eq!((f.first, f.last), (i == 0, i + 1 == items.len()));
                joined.extend_from_slice(&f.data);
            }
            assert_eq!(joined, data);
            // The limit counts every fragment's inflated bytes.
            let config = ReceiverConfig {
                max_message_size: 19_999,
                ..config
            };
            let mut tx = Compressor::new(15, 6, false).unwrap();
            let wire = compressed_frames(OpCode::Text, &compress(&mut tx, &data), 200);
            assert_eq!(
                run_inflating(config, &wire, 333).1,
                Some(ProtocolError::MessageTooLarge { limit: 19_999 })
            );
        }

        /// An error while inflating (bad text, bad DEFLATE data, too much
        /// of it) is final too: nothing after it is inflated or decoded,
        /// compressed or not.
        #[test]
        fn errors_stick_while_inflating() {
            let mut tx = Compressor::new(15, 6, false).unwrap();
            let mut data = text(2000).into_bytes();
            data[1500] = 0xff;
            let mut bad_text = compressed_frames(OpCode::Text, &compress(&mut tx, &data), 64);
            let fine = compressed_frames(OpCode::Text, &compress(&mut tx, b"fine"), 64);
            bad_text.extend(&fine);
            let mut corrupt = compressed_frames(OpCode::Binary, &[0xff; 16], 100);
            corrupt.extend(&fine);
            let bomb = compress(&mut tx, &vec![0u8; 4 << 20]);
            let mut bomb = compressed_frames(OpCode::Text, &bomb, 4096);
            bomb.extend(&fine);
            let cases = [
                (server(), bad_text, ProtocolError::InvalidUtf8),
                (server(), corrupt, ProtocolError::InvalidCompressedData),
                (
                    ReceiverConfig {
                        max_message_size: 1 << 20,
                        ..server()
                    },
                    bomb,
                    ProtocolError::MessageTooLarge { limit: 1 << 20 },
                ),
            ];
            for (config, wire, expected) in cases {
                for assemble_messages in [true, false] {
                    let config = ReceiverConfig {
                        assemble_messages,
                        ..config
                    };
                    let mut rx = inflating(config);
                    assert_eq!(first_error(&mut rx, &wire), Some(expected));
                    // A compressed frame after the error is not inflated,
                    // nor taken as an uncompressed one.
                    let mut again = fine.clone();
                    assert_eq!(rx.decode(&mut again), Err(expected));
                    assert_failed(&mut rx, expected);
                }
            }
        }

        #[test]
        fn close_releases_the_inflater() {
            let mut wire = compressed_frames(OpCode::Binary, &[0x00], 10);
            wire.extend(client_frame(OpCode::Close, true, &[0x03, 0xe8]));
            let (items, err, rx) = run_inflating(server(), &wire, 100);
            assert_eq!(err, None);
            assert_eq!(items.len(), 2);
            assert!(rx.is_closed() && !rx.inflates());
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

            #[test]
            fn compressed_roundtrip_any_split(
                messages in proptest::collection::vec(
                    proptest::collection::vec(0u8..4, 0..6000), 1..4),
                frag in 1usize..3000,
                step in 1usize..5000,
                bits in 9u8..=15,
                no_context_takeover in any::<bool>(),
            ) {
                let mut tx = Compressor::new(bits, 6, no_context_takeover).unwrap();
                let mut wire = Vec::new();
                for m in &messages {
                    wire.extend(compressed_frames(OpCode::Binary, &compress(&mut tx, m), frag));
                }
                let mut rx = Receiver::with_decompressor(
                    server(),
                    Decompressor::new(bits, no_context_takeover).unwrap(),
                );
                let mut buffer = Vec::new();
                let mut items = Vec::new();
                for piece in wire.chunks(step) {
                    buffer.extend_from_slice(piece);
                    let mut at = 0;
                    loop {
                        match rx.decode(&mut buffer[at..]).unwrap() {
                            (0, None) => break,
                            (n, item) => { at += n; items.extend(item); }
                        }
                    }
                    buffer.drain(..at);
                }
                let expected: Vec<Incoming> = messages
                    .into_iter()
                    .map(|m| Incoming::Message(Message::Binary(m)))
                    .collect();
                prop_assert_eq!(items, expected);
            }

            /// Compressed messages of valid, nearly valid and arbitrary
            /// text (some with their DEFLATE data corrupted, some sent
            /// uncompressed), read in arbitrary pieces and called on after
            /// every error: all text is UTF-8 and errors stick.
            #[test]
            fn inflated_text_is_utf8_and_errors_stick(
                messages in proptest::collection::vec(
                    (message_bytes(), 1usize..200, 0u8..8, any::<prop::sample::Index>(), any::<u8>()),
                    1..4),
                steps in proptest::collection::vec(1usize..300, 1..6),
                direct in proptest::collection::vec(proptest::option::of(any::<bool>()), 1..5),
                assemble in any::<bool>(), small in any::<bool>(),
            ) {
                let mut tx = Compressor::new(15, 6, false).unwrap();
                let mut wire = Vec::new();
                for (bytes, frag, how, at, byte) in &messages {
                    match how {
                        // Uncompressed.
                        0 => wire.extend(client_frame(OpCode::Text, true, bytes)),
                        // Compressed, one byte of the DEFLATE data replaced.
                        1 => {
                            let mut deflated = compress(&mut tx, bytes);
                            if !deflated.is_empty() {
                                let at = at.index(deflated.len());
                                deflated[at] = *byte;
                            }
                            wire.extend(compressed_frames(OpCode::Text, &deflated, *frag));
                        }
                        _ => wire.extend(compressed_frames(
                            OpCode::Text,
                            &compress(&mut tx, bytes),
                            *frag,
                        )),
                    }
                }
                let config = ReceiverConfig {
                    assemble_messages: assemble,
                    max_message_size: if small { 40 } else { 1 << 20 },
                    ..server()
                };
                feed_on(inflating(config), &wire, &steps, |read| direct[read % direct.len()])?;
            }

            #[test]
            fn arbitrary_compressed_bytes_never_panic(
                bytes in proptest::collection::vec(any::<u8>(), 0..2000),
                step in 1usize..64,
            ) {
                let config = ReceiverConfig { max_message_size: 4096, ..server() };
                let wire = compressed_frames(OpCode::Binary, &bytes, 300);
                let _ = run_inflating(config, &wire, step);
            }
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512),
                                       step in 1usize..64) {
            let config = ReceiverConfig { max_frame_size: 4096, max_message_size: 8192, ..server() };
            let _ = run(config, &bytes, step);
        }

        #[test]
        fn fragmented_messages_roundtrip(payload in proptest::collection::vec(any::<u8>(), 0..3000),
                                         frag in 1usize..1000, step in 1usize..5000,
                                         key in any::<[u8; 4]>()) {
            let mut wire = Vec::new();
            let pieces: Vec<&[u8]> = if payload.is_empty() { vec![&[]] } else { payload.chunks(frag).collect() };
            for (i, piece) in pieces.iter().enumerate() {
                let op = if i == 0 { OpCode::Binary } else { OpCode::Continuation };
                wire.extend(frame(op, i + 1 == pieces.len(), piece, Some(key)));
            }
            let (items, err) = run(server(), &wire, step);
            prop_assert_eq!(err, None);
            prop_assert_eq!(items, vec![Incoming::Message(Message::Binary(payload))]);
        }

        /// Reading payloads straight into the message gives what decoding
        /// from a buffer gives: the same messages and control frames, the
        /// same UTF-8 verdicts, at any split.
        #[test]
        fn direct_reads_match_buffered_decoding(
            text in "[a-zé€😀]{0,600}",
            frag in 1usize..700, step in 1usize..900, min in 1usize..300,
            ping_after in 0usize..4, corrupt in any::<bool>(),
        ) {
            let mut payload = text.into_bytes();
            if corrupt && !payload.is_empty() {
                let at = payload.len() / 2;
                payload[at] = 0xff;
            }
            let mut wire = Vec::new();
            let pieces: Vec<&[u8]> = if payload.is_empty() { vec![&[]] } else { payload.chunks(frag).collect() };
            for (i, piece) in pieces.iter().enumerate() {
                let op = if i == 0 { OpCode::Text } else { OpCode::Continuation };
                wire.extend(client_frame(op, i + 1 == pieces.len(), piece));
                if i == ping_after {
                    wire.extend(client_frame(OpCode::Ping, true, b"p"));
                }
            }
            wire.extend(client_frame(OpCode::Binary, true, &payload));
            let buffered = run(server(), &wire, step);
            let zeroed = run_direct(server(), &wire, step, min, |_| false);
            prop_assert_eq!(&zeroed, &buffered);
            let spare = run_direct(server(), &wire, step, min, |_| true);
            prop_assert_eq!(&spare, &buffered);
            let mixed = run_direct(server(), &wire, step, min, |read| read % 2 == 1);
            prop_assert_eq!(mixed, buffered);
        }

        /// Messages of valid, nearly valid and arbitrary text, split into
        /// fragments anywhere (inside characters too), with pings, protocol
        /// slips and junk between them, read in arbitrary pieces (buffered
        /// or straight into the message), and the receiver called on after
        /// every error: all text it returns is UTF-8, and from the first
        /// error on, every call returns that error.
        #[test]
        fn text_is_utf8_and_errors_stick(
            messages in proptest::collection::vec(
                (any::<bool>(), message_bytes(), 1usize..40, 0u8..16), 0..6),
            junk in proptest::collection::vec(any::<u8>(), 0..12),
            junk_at in any::<prop::sample::Index>(),
            steps in proptest::collection::vec(1usize..80, 1..6),
            direct in proptest::collection::vec(proptest::option::of(any::<bool>()), 1..5),
            client in any::<bool>(), assemble in any::<bool>(), small in any::<bool>(),
        ) {
            let role = if client { Role::Client } else { Role::Server };
            let mask = (!client).then_some([0xa1, 0x02, 0xc3, 0x44]);
            let mut wire = Vec::new();
            for (text, bytes, frag, slip) in &messages {
                let pieces: Vec<&[u8]> =
                    if bytes.is_empty() { vec![&[]] } else { bytes.chunks(*frag).collect() };
                let last = pieces.len() - 1;
                for (i, piece) in pieces.iter().enumerate() {
                    let op = match (i, text) {
                        (0, true) => OpCode::Text,
                        (0, false) => OpCode::Binary,
                        _ => OpCode::Continuation,
                    };
                    // Now and then the message never ends (the next one
                    // then fails with 1002), or a ping comes between frames.
                    let fin = i == last && *slip != 1;
                    wire.extend(frame(op, fin, piece, mask));
                    if *slip == 2 && i == 0 {
                        wire.extend(frame(OpCode::Ping, true, b"p", mask));
                    }
                }
            }
            if !junk.is_empty() {
                let at = junk_at.index(wire.len() + 1);
                wire.splice(at..at, junk);
            }
            let config = ReceiverConfig {
                role,
                assemble_messages: assemble,
                max_frame_size: if small { 30 } else { 1 << 20 },
                max_message_size: if small { 50 } else { 1 << 20 },
                max_fragments: if small { 3 } else { 1000 },
                ..ReceiverConfig::new(role)
            };
            feed_on(Receiver::new(config), &wire, &steps, |read| direct[read % direct.len()])?;
        }
    }
}
