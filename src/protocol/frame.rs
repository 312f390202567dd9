//! Frame headers (RFC 6455 §5.2): parsing and encoding.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! ```

/// The largest possible header: 2 bytes, 8 of extended length, 4 of mask.
///
/// The size of the buffer [`FrameHeader::encode`] writes into: any header
/// fits.
///
/// # Examples
///
/// ```
/// use wsgate::protocol::{FrameHeader, MAX_HEADER_LEN, OpCode};
///
/// let mut header = FrameHeader::new(OpCode::Binary, true, u64::from(u32::MAX) + 1);
/// header.mask = Some([1, 2, 3, 4]);
/// let mut buf = [0u8; MAX_HEADER_LEN];
/// assert_eq!(header.encode(&mut buf), MAX_HEADER_LEN);
/// assert_eq!(header.encoded_len(), MAX_HEADER_LEN);
/// ```
pub const MAX_HEADER_LEN: usize = 14;

/// A frame opcode.
///
/// # Examples
///
/// ```
/// use wsgate::protocol::OpCode;
///
/// assert_eq!(OpCode::from_u8(0x1), Some(OpCode::Text));
/// assert_eq!(OpCode::from_u8(0x3), None); // reserved
/// assert!(OpCode::Ping.is_control());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// 0x0: a continuation of a fragmented message.
    Continuation,
    /// 0x1: the first frame of a text message.
    Text,
    /// 0x2: the first frame of a binary message.
    Binary,
    /// 0x8: a close frame.
    Close,
    /// 0x9: a ping.
    Ping,
    /// 0xA: a pong.
    Pong,
}

impl OpCode {
    /// The opcode for a 4-bit value, or `None` for the reserved values.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(wsgate::protocol::OpCode::from_u8(0xA), Some(wsgate::protocol::OpCode::Pong));
    /// ```
    pub const fn from_u8(value: u8) -> Option<OpCode> {
        Some(match value {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return None,
        })
    }

    /// The 4-bit wire value.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(wsgate::protocol::OpCode::Close.as_u8(), 0x8);
    /// ```
    pub const fn as_u8(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    /// Whether this is a control opcode (close, ping, pong).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!wsgate::protocol::OpCode::Binary.is_control());
    /// ```
    pub const fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }
}

/// A parsed or to-be-encoded frame header.
///
/// # Examples
///
/// ```
/// use wsgate::protocol::{FrameHeader, OpCode};
///
/// let header = FrameHeader::new(OpCode::Text, true, 5);
/// let mut buf = [0u8; 14];
/// let len = header.encode(&mut buf);
/// assert_eq!(&buf[..len], &[0x81, 0x05]);
/// assert_eq!(FrameHeader::parse(&buf[..len]), Ok(Some((header, 2))));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Whether this is the final frame of its message.
    pub fin: bool,
    /// The three reserved bits, as the high bits of a byte (`0x40` is RSV1).
    pub rsv: u8,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, present on every client-to-server frame.
    pub mask: Option<[u8; 4]>,
    /// The payload length.
    pub payload_len: u64,
}

/// A header that breaks RFC 6455 §5.2 whatever the connection's settings.
///
/// # Examples
///
/// ```
/// use wsgate::protocol::{FrameHeader, HeaderError};
///
/// // Opcode 0x3 is reserved.
/// let e = FrameHeader::parse(&[0x83, 0x00]).unwrap_err();
/// assert_eq!(e, HeaderError::ReservedOpcode(3));
/// assert_eq!(e.to_string(), "reserved opcode 0x3");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderError {
    /// The opcode is one of the reserved values.
    ReservedOpcode(u8),
    /// A control frame has FIN clear (control frames cannot be fragmented).
    FragmentedControl,
    /// A control frame's payload is longer than 125 bytes.
    ControlTooLong,
    /// The length was not encoded in the fewest bytes, or the 64-bit length
    /// had its most significant bit set.
    BadLength,
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::ReservedOpcode(op) => write!(f, "reserved opcode {op:#x}"),
            HeaderError::FragmentedControl => f.write_str("fragmented control frame"),
            HeaderError::ControlTooLong => f.write_str("control frame payload over 125 bytes"),
            HeaderError::BadLength => {
                f.write_str("frame length not minimally encoded or too large")
            }
        }
    }
}

impl std::error::Error for HeaderError {}

impl FrameHeader {
    /// An unmasked header with no reserved bits set.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::{FrameHeader, OpCode};
    ///
    /// let h = FrameHeader::new(OpCode::Binary, false, 70_000);
    /// assert_eq!(h.encoded_len(), 10);
    /// ```
    pub const fn new(opcode: OpCode, fin: bool, payload_len: u64) -> FrameHeader {
        FrameHeader {
            fin,
            rsv: 0,
            opcode,
            mask: None,
            payload_len,
        }
    }

    /// Parses a header from the start of `buf`.
    ///
    /// Returns `Ok(None)` when `buf` does not yet hold the whole header, and
    /// otherwise the header and its length in bytes. Nothing is allocated and
    /// the declared payload length is only reported, so the caller can check
    /// it against its limits before sizing any buffer.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::{FrameHeader, OpCode};
    ///
    /// // A masked binary frame with a 16-bit length of 256.
    /// let bytes = [0x82, 0xFE, 0x01, 0x00, 1, 2, 3, 4];
    /// assert_eq!(FrameHeader::parse(&bytes[..3]), Ok(None));
    /// let (h, len) = FrameHeader::parse(&bytes).unwrap().unwrap();
    /// assert_eq!((h.opcode, h.payload_len, h.mask, len), (OpCode::Binary, 256, Some([1, 2, 3, 4]), 8));
    /// ```
    pub fn parse(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, HeaderError> {
        let [b0, b1, ..] = *buf else {
            return Ok(None);
        };
        let fin = b0 & 0x80 != 0;
        let rsv = b0 & 0x70;
        let opcode = OpCode::from_u8(b0 & 0x0F).ok_or(HeaderError::ReservedOpcode(b0 & 0x0F))?;
        let masked = b1 & 0x80 != 0;
        let short_len = b1 & 0x7F;
        if opcode.is_control() {
            if !fin {
                return Err(HeaderError::FragmentedControl);
            }
            if short_len > 125 {
                return Err(HeaderError::ControlTooLong);
            }
        }
        let ext_len = match short_len {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let header_len = 2 + ext_len + if masked { 4 } else { 0 };
        if buf.len() < header_len {
            return Ok(None);
        }
        let payload_len = match ext_len {
            0 => u64::from(short_len),
            2 => {
                let len = u64::from(u16::from_be_bytes([buf[2], buf[3]]));
                if len < 126 {
                    return Err(HeaderError::BadLength);
                }
                len
            }
            _ => {
                let mut be = [0u8; 8];
                be.copy_from_slice(&buf[2..10]);
                let len = u64::from_be_bytes(be);
                if len <= u64::from(u16::MAX) || len >> 63 != 0 {
                    return Err(HeaderError::BadLength);
                }
                len
            }
        };
        let mask = masked.then(|| {
            let at = 2 + ext_len;
            [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]
        });
        Ok(Some((
            FrameHeader {
                fin,
                rsv,
                opcode,
                mask,
                payload_len,
            },
            header_len,
        )))
    }

    /// The number of bytes [`encode`](Self::encode) writes.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::{FrameHeader, OpCode};
    ///
    /// assert_eq!(FrameHeader::new(OpCode::Text, true, 125).encoded_len(), 2);
    /// assert_eq!(FrameHeader::new(OpCode::Text, true, 126).encoded_len(), 4);
    /// assert_eq!(FrameHeader::new(OpCode::Text, true, 65_536).encoded_len(), 10);
    /// ```
    pub const fn encoded_len(&self) -> usize {
        let ext = if self.payload_len < 126 {
            0
        } else if self.payload_len <= u16::MAX as u64 {
            2
        } else {
            8
        };
        2 + ext + if self.mask.is_some() { 4 } else { 0 }
    }

    /// Writes the header into `out` and returns its length.
    ///
    /// The length is always encoded in the fewest bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::{FrameHeader, OpCode};
    ///
    /// let mut h = FrameHeader::new(OpCode::Ping, true, 0);
    /// h.mask = Some([9, 8, 7, 6]);
    /// let mut out = [0u8; 14];
    /// let n = h.encode(&mut out);
    /// assert_eq!(&out[..n], &[0x89, 0x80, 9, 8, 7, 6]);
    /// ```
    pub fn encode(&self, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
        out[0] = (u8::from(self.fin) << 7) | (self.rsv & 0x70) | self.opcode.as_u8();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let mut at = 2;
        if self.payload_len < 126 {
            out[1] = mask_bit | self.payload_len as u8;
        } else if self.payload_len <= u64::from(u16::MAX) {
            out[1] = mask_bit | 126;
            out[2..4].copy_from_slice(&(self.payload_len as u16).to_be_bytes());
            at = 4;
        } else {
            out[1] = mask_bit | 127;
            out[2..10].copy_from_slice(&self.payload_len.to_be_bytes());
            at = 10;
        }
        if let Some(key) = self.mask {
            out[at..at + 4].copy_from_slice(&key);
            at += 4;
        }
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn roundtrip(h: FrameHeader) -> Vec<u8> {
        let mut out = [0u8; MAX_HEADER_LEN];
        let n = h.encode(&mut out);
        assert_eq!(n, h.encoded_len());
        for cut in 0..n {
            assert_eq!(FrameHeader::parse(&out[..cut]), Ok(None), "cut {cut}");
        }
        assert_eq!(FrameHeader::parse(&out[..n]), Ok(Some((h, n))));
        out[..n].to_vec()
    }

    #[test]
    fn boundary_lengths() {
        let cases: [(u64, &[u8]); 6] = [
            (0, &[0x82, 0x00]),
            (125, &[0x82, 125]),
            (126, &[0x82, 126, 0x00, 126]),
            (65_535, &[0x82, 126, 0xff, 0xff]),
            (65_536, &[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]),
            (
                (1 << 63) - 1,
                &[0x82, 127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            ),
        ];
        for (len, wire) in cases {
            let bytes = roundtrip(FrameHeader::new(OpCode::Binary, true, len));
            assert_eq!(bytes, wire, "length {len}");
        }
    }

    #[test]
    fn masked_headers_roundtrip() {
        for len in [0, 125, 126, 65_535, 65_536, 1 << 40] {
            let mut h = FrameHeader::new(OpCode::Text, false, len);
            h.mask = Some([0xde, 0xad, 0xbe, 0xef]);
            h.rsv = 0x40;
            roundtrip(h);
        }
    }

    #[test]
    fn rejects_bad_headers() {
        assert_eq!(
            FrameHeader::parse(&[0x8B, 0x80]),
            Err(HeaderError::ReservedOpcode(0xB))
        );
        assert_eq!(
            FrameHeader::parse(&[0x09, 0x80]),
            Err(HeaderError::FragmentedControl)
        );
        assert_eq!(
            FrameHeader::parse(&[0x89, 0xFE, 0, 126]),
            Err(HeaderError::ControlTooLong)
        );
        // Non-minimal lengths.
        assert_eq!(
            FrameHeader::parse(&[0x82, 126, 0, 125]),
            Err(HeaderError::BadLength)
        );
        assert_eq!(
            FrameHeader::parse(&[0x82, 127, 0, 0, 0, 0, 0, 0, 0xff, 0xff]),
            Err(HeaderError::BadLength)
        );
        // Most significant bit of a 64-bit length.
        assert_eq!(
            FrameHeader::parse(&[0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0]),
            Err(HeaderError::BadLength)
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..20)) {
            let _ = FrameHeader::parse(&bytes);
        }

        #[test]
        fn encode_parse_roundtrip(fin in any::<bool>(), rsv in 0u8..8, op in prop::sample::select(vec![0u8, 1, 2, 8, 9, 10]),
                                  len in prop_oneof![0u64..200, 60_000u64..70_000, any::<u64>()],
                                  mask in any::<Option<[u8; 4]>>()) {
            let opcode = OpCode::from_u8(op).unwrap();
            let len = if opcode.is_control() { len % 126 } else { len >> 1 };
            let h = FrameHeader { fin: fin || opcode.is_control(), rsv: rsv << 4, opcode, mask, payload_len: len };
            let mut out = [0u8; MAX_HEADER_LEN];
            let n = h.encode(&mut out);
            prop_assert_eq!(FrameHeader::parse(&out[..n]), Ok(Some((h, n))));
        }
    }
}
