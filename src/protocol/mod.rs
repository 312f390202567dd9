//! The sans-IO protocol core: RFC 6455 over byte buffers.
//!
//! Nothing here knows about sockets, tasks or time. Bytes go in, frames,
//! messages and errors (each with the close code to send) come out. The async
//! layer ([`Connection`](crate::Connection)) drives it; tests and fuzzers can
//! drive it directly.
//!
//! | piece | file |
//! |---|---|
//! | frame headers | [`FrameHeader`], [`OpCode`] |
//! | masking | [`apply_mask`] |
//! | UTF-8 checks | [`Utf8Validator`] |
//! | close codes | [`CloseCode`], [`parse_close_payload`] |
//! | receiving | [`Receiver`] |
//! | sending | [`DataFrames`] |
//! | permessage-deflate (feature `deflate`) | `Compressor`, `Decompressor`, `CompressorPool` |
//!
//! # Examples
//!
//! A client's masked text frame, built with [`FrameHeader`] and
//! [`apply_mask`], then decoded by a server's [`Receiver`]:
//!
//! ```
//! use wsgate::Message;
//! use wsgate::protocol::{
//!     FrameHeader, Incoming, MAX_HEADER_LEN, OpCode, Receiver, ReceiverConfig, Role, apply_mask,
//! };
//!
//! let key = [0x37, 0xfa, 0x21, 0x3d];
//! let mut header = FrameHeader::new(OpCode::Text, true, 5);
//! header.mask = Some(key);
//! let mut head = [0u8; MAX_HEADER_LEN];
//! let len = header.encode(&mut head);
//! let mut payload = *b"Hello";
//! apply_mask(&mut payload, key, 0);
//! let mut wire = [&head[..len], &payload].concat();
//!
//! let mut rx = Receiver::new(ReceiverConfig::new(Role::Server));
//! let (used, item) = rx.decode(&mut wire)?; // the header
//! assert_eq!(item, None);
//! let (_, item) = rx.decode(&mut wire[used..])?; // the payload
//! assert_eq!(item, Some(Incoming::Message(Message::Text("Hello".into()))));
//! # Ok::<(), wsgate::ProtocolError>(())
//! ```

mod close;
pub(crate) mod copy;
#[cfg(feature = "deflate")]
mod deflate;
mod error;
mod frame;
mod mask;
mod message;
mod receiver;
mod sender;
mod utf8;

pub(crate) use close::fit_reason;
pub use close::{CloseCode, ClosePayloadError, close_payload, parse_close_payload};
#[cfg(feature = "deflate")]
pub use deflate::{
    Compressor, CompressorPool, DECOMPRESSOR_MEMORY, DEFLATE_TAIL, Decompressor,
    DeflateSettingError, INFLATE_STEP, InflateError, PooledCompressor, compressor_memory,
};
pub use error::ProtocolError;
pub use frame::{FrameHeader, HeaderError, MAX_HEADER_LEN, OpCode};
pub use mask::apply_mask;
pub use message::{DataKind, Fragment, Message};
pub use receiver::{Incoming, Receiver, ReceiverConfig};
pub use sender::DataFrames;
pub use utf8::{InvalidUtf8, Utf8Validator};

/// Which end of a connection this is.
///
/// Clients mask every frame they send; servers never do, and each side
/// rejects frames masked the wrong way.
///
/// # Examples
///
/// ```
/// use wsgate::protocol::Role;
///
/// assert!(Role::Client.masks());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The accepting end.
    Server,
    /// The connecting end.
    Client,
}

impl Role {
    /// Whether this end masks the frames it sends.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!wsgate::protocol::Role::Server.masks());
    /// ```
    pub const fn masks(self) -> bool {
        matches!(self, Role::Client)
    }
}
