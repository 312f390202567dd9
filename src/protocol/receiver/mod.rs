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
//!
//! This module holds the receiver, its settings and its frame-by-frame
//! state: headers, limits, control frames. Putting a data frame's payload
//! into the message (UTF-8, inflating, the finished message) is in
//! `assemble`; reading a large payload straight into the message, past any
//! read buffer, in `direct`.

use super::Role;
use super::close::{CloseCode, parse_close_payload};
#[cfg(feature = "deflate")]
use super::deflate::Decompressor;
use super::error::ProtocolError;
use super::frame::{FrameHeader, OpCode};
use super::mask::apply_mask;
use super::message::{DataKind, Fragment, Message};
use super::utf8::Utf8Validator;

mod assemble;
mod direct;
mod memory;
#[cfg(test)]
mod tests;

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
    /// Bytes inflated so far (permessage-deflate): with `data_bytes`, the
    /// work done, for a reader that shares its thread fairly.
    inflated: u64,
    /// The most bytes the message in progress may hold: see
    /// [`set_memory_allowance`](Receiver::set_memory_allowance).
    allowance: usize,
    /// permessage-deflate's inflater, when negotiated; dropped once the
    /// receiver is closed or failed. Boxed: most connections negotiate no
    /// compression, and an idle one would carry its 168 bytes for nothing.
    #[cfg(feature = "deflate")]
    decompressor: Option<Box<Decompressor>>,
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
            inflated: 0,
            allowance: usize::MAX,
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
            decompressor: Some(Box::new(decompressor)),
            ..Receiver::new(config)
        }
    }

    /// permessage-deflate's decompressor, when negotiated and the receiver
    /// is neither closed nor failed (to see what it holds:
    /// [`Decompressor::is_allocated`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::{Decompressor, Receiver, ReceiverConfig, Role};
    ///
    /// let config = ReceiverConfig::new(Role::Server);
    /// assert!(Receiver::new(config).decompressor().is_none());
    /// let rx = Receiver::with_decompressor(config, Decompressor::new(15, false)?);
    /// assert!(!rx.decompressor().unwrap().is_allocated()); // made on first use
    /// # Ok::<(), wsgate::protocol::DeflateSettingError>(())
    /// ```
    #[cfg(feature = "deflate")]
    pub fn decompressor(&self) -> Option<&Decompressor> {
        self.decompressor.as_deref()
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

    /// Bytes taken and made so far: [`data_bytes`](Self::data_bytes) plus
    /// every byte inflated. A reader that decodes what one read brought
    /// compares it before and after to bound the work of one turn.
    pub(crate) fn work(&self) -> u64 {
        self.data_bytes + self.inflated
    }

    /// Whether the next payload bytes are compressed ones: each of them may
    /// inflate to a thousand, so a reader feeds them a few KiB at a time.
    pub(crate) fn inflating(&self) -> bool {
        matches!(self.state, State::Payload { header, .. } if !header.opcode.is_control())
            && self.message.as_ref().is_some_and(|p| p.compressed)
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
                let take = if header.opcode.is_control() {
                    take
                } else {
                    take.min(self.room())
                };
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
}
