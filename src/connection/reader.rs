//! The reading half's state: the read buffer, the protocol receiver and
//! what is left to deliver. The read loop over it is in `read.rs`.

use super::event::Event;
use crate::protocol::Receiver;

/// The reading half of a connection.
pub(crate) struct Reader {
    pub(super) buf: Vec<u8>,
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) buffer_size: usize,
    pub(super) receiver: Receiver,
    /// The receiver's [`data_bytes`](Receiver::data_bytes) at the last look.
    pub(super) data_seen: u64,
    /// An event to deliver on the next poll (the close after an error).
    pub(super) queued: Option<Event>,
    pub(super) done: bool,
}

impl Reader {
    pub(crate) fn new(receiver: Receiver, pipelined: Vec<u8>, buffer_size: usize) -> Reader {
        Reader {
            end: pipelined.len(),
            buf: pipelined,
            start: 0,
            buffer_size: buffer_size.max(64),
            receiver,
            data_seen: 0,
            queued: None,
            done: false,
        }
    }
}
