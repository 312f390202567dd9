//! Protocol violations and the close code each one calls for.

use super::close::{CloseCode, ClosePayloadError};
use super::frame::HeaderError;

/// A peer broke RFC 6455, or went past one of this endpoint's limits.
///
/// Each variant maps to the close code the connection is failed with
/// ([`close_code`](Self::close_code)).
///
/// # Examples
///
/// ```
/// use wsgate::{CloseCode, ProtocolError};
///
/// assert_eq!(ProtocolError::InvalidUtf8.close_code(), CloseCode::INVALID_PAYLOAD);
/// assert_eq!(ProtocolError::MessageTooLarge { limit: 10 }.close_code(), CloseCode::MESSAGE_TOO_BIG);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The frame header itself is malformed.
    Header(HeaderError),
    /// Reserved bits are set that no negotiated extension defines.
    ReservedBits(u8),
    /// RSV1 is set on a control or continuation frame of a connection
    /// that negotiated permessage-deflate, which marks only the first frame
    /// of a compressed message with it (RFC 7692 §6.1).
    MisplacedCompressionBit,
    /// A client sent an unmasked frame (clients must mask, RFC 6455 §5.1).
    UnmaskedFrame,
    /// A server sent a masked frame (servers must not mask).
    MaskedFrame,
    /// A continuation frame arrived with no message in progress.
    UnexpectedContinuation,
    /// A new text or binary frame arrived before the previous message ended.
    ExpectedContinuation,
    /// A frame's declared length is over the frame size limit.
    FrameTooLarge {
        /// The configured limit in bytes.
        limit: usize,
    },
    /// A message is over the message size limit.
    MessageTooLarge {
        /// The configured limit in bytes.
        limit: usize,
    },
    /// A message was split into more frames than the limit allows.
    TooManyFragments {
        /// The configured limit.
        limit: usize,
    },
    /// A text message (or a close reason) is not valid UTF-8.
    InvalidUtf8,
    /// A close frame's payload is malformed.
    ClosePayload(ClosePayloadError),
    /// A compressed (permessage-deflate) message is not valid DEFLATE data.
    InvalidCompressedData,
    /// A compressed message refers further back than the window the peer
    /// agreed to compress with (`client_max_window_bits` for a client).
    CompressedWindowExceeded {
        /// The agreed window, as a base-2 logarithm.
        window_bits: u8,
    },
}

impl ProtocolError {
    /// The close code to fail the connection with.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::{CloseCode, ProtocolError};
    ///
    /// assert_eq!(ProtocolError::UnmaskedFrame.close_code(), CloseCode::PROTOCOL_ERROR);
    /// ```
    pub fn close_code(&self) -> CloseCode {
        match self {
            ProtocolError::FrameTooLarge { .. }
            | ProtocolError::MessageTooLarge { .. }
            | ProtocolError::TooManyFragments { .. } => CloseCode::MESSAGE_TOO_BIG,
            ProtocolError::InvalidUtf8
            | ProtocolError::InvalidCompressedData
            | ProtocolError::ClosePayload(ClosePayloadError::InvalidReason) => {
                CloseCode::INVALID_PAYLOAD
            }
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProtocolError::Header(_) => f.write_str("invalid frame header"),
            ProtocolError::ReservedBits(bits) => {
                write!(f, "reserved bits {bits:#04x} set without an extension")
            }
            ProtocolError::MisplacedCompressionBit => {
                f.write_str("RSV1 set on a control or continuation frame")
            }
            ProtocolError::UnmaskedFrame => f.write_str("client frame not masked"),
            ProtocolError::MaskedFrame => f.write_str("server frame masked"),
            ProtocolError::UnexpectedContinuation => {
                f.write_str("continuation frame without a message in progress")
            }
            ProtocolError::ExpectedContinuation => {
                f.write_str("new data frame before the previous message ended")
            }
            ProtocolError::FrameTooLarge { limit } => {
                write!(f, "frame larger than the max_frame_size of {limit} bytes")
            }
            ProtocolError::MessageTooLarge { limit } => {
                write!(
                    f,
                    "message larger than the max_message_size of {limit} bytes"
                )
            }
            ProtocolError::TooManyFragments { limit } => {
                write!(
                    f,
                    "message in more fragments than the max_fragments of {limit}"
                )
            }
            ProtocolError::InvalidUtf8 => f.write_str("invalid UTF-8 in a text message"),
            ProtocolError::ClosePayload(_) => f.write_str("invalid close frame payload"),
            ProtocolError::InvalidCompressedData => {
                f.write_str("invalid compressed data in a message")
            }
            ProtocolError::CompressedWindowExceeded { window_bits } => write!(
                f,
                "compressed data refers back past the agreed {}-byte window",
                1u32 << window_bits
            ),
        }
    }
}

impl std::error::Error for ProtocolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProtocolError::Header(e) => Some(e),
            ProtocolError::ClosePayload(e) => Some(e),
            _ => None,
        }
    }
}

impl From<HeaderError> for ProtocolError {
    fn from(e: HeaderError) -> Self {
        ProtocolError::Header(e)
    }
}
