//! Outgoing frames: how a message is cut into frames.

use std::ops::Range;

use super::frame::{FrameHeader, OpCode};
use super::message::DataKind;

/// The frames of one outgoing data message, as headers and payload ranges.
///
/// A message longer than `fragment_size` is split into frames of at most
/// that many bytes: the first carries the message's opcode (and the
/// extension's reserved bits), the rest are continuations, and only the last
/// has FIN set. An empty message is one empty frame.
///
/// # Examples
///
/// ```
/// use wsgate::protocol::{DataFrames, OpCode};
/// use wsgate::DataKind;
///
/// let frames: Vec<_> = DataFrames::new(DataKind::Text, 0, 10, 4).collect();
/// assert_eq!(frames.len(), 3);
/// assert_eq!((frames[0].0.opcode, frames[0].0.fin, frames[0].1.clone()), (OpCode::Text, false, 0..4));
/// assert_eq!((frames[2].0.opcode, frames[2].0.fin, frames[2].1.clone()), (OpCode::Continuation, true, 8..10));
/// ```
#[derive(Debug, Clone)]
pub struct DataFrames {
    opcode: OpCode,
    rsv: u8,
    len: usize,
    fragment_size: usize,
    at: usize,
    done: bool,
}

impl DataFrames {
    /// Plans the frames of a `len`-byte message. `rsv` goes on the first
    /// frame only (RFC 7692 §6: RSV1 marks the whole message).
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::DataFrames;
    /// use wsgate::DataKind;
    ///
    /// assert_eq!(DataFrames::new(DataKind::Binary, 0, 0, 4).count(), 1);
    /// assert_eq!(DataFrames::new(DataKind::Binary, 0, 8, usize::MAX).count(), 1);
    /// ```
    pub fn new(kind: DataKind, rsv: u8, len: usize, fragment_size: usize) -> DataFrames {
        DataFrames {
            opcode: match kind {
                DataKind::Text => OpCode::Text,
                DataKind::Binary => OpCode::Binary,
            },
            rsv,
            len,
            fragment_size: fragment_size.max(1),
            at: 0,
            done: false,
        }
    }
}

impl Iterator for DataFrames {
    type Item = (FrameHeader, Range<usize>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let end = self.at + (self.len - self.at).min(self.fragment_size);
        let fin = end == self.len;
        let mut header = FrameHeader::new(self.opcode, fin, (end - self.at) as u64);
        header.rsv = self.rsv;
        let range = self.at..end;
        self.opcode = OpCode::Continuation;
        self.rsv = 0;
        self.at = end;
        self.done = fin;
        Some((header, range))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_the_message_exactly() {
        for len in [0usize, 1, 5, 16, 17, 100] {
            for size in [1usize, 3, 16, 1000] {
                let frames: Vec<_> = DataFrames::new(DataKind::Binary, 0x40, len, size).collect();
                let mut at = 0;
                for (i, (header, range)) in frames.iter().enumerate() {
                    assert_eq!(range.start, at);
                    assert!(range.len() <= size);
                    assert_eq!(header.payload_len as usize, range.len());
                    assert_eq!(header.fin, i + 1 == frames.len());
                    assert_eq!(header.rsv, if i == 0 { 0x40 } else { 0 });
                    at = range.end;
                }
                assert_eq!(at, len);
            }
        }
    }
}
