//! Message assembly: a data frame's payload bytes into the message being
//! received (or, with assembly off, the current fragment), checked for
//! UTF-8 as they arrive and inflated when the message is compressed, and
//! the finished message or fragment.

#[cfg(feature = "deflate")]
use super::super::deflate::InflateError;
use super::super::error::ProtocolError;
use super::super::frame::FrameHeader;
use super::super::message::{DataKind, Fragment, Message};
use super::super::{copy, mask};
#[cfg(feature = "deflate")]
use super::unmask;
use super::{Incoming, Receiver};

/// The least room made for a data frame's payload at a time.
const MIN_RESERVE: usize = 4 << 10;

impl Receiver {
    /// Takes one chunk of the current frame's payload, as it arrived (still
    /// masked, at key offset `mask_offset`); `remaining` is what the frame
    /// still had to deliver, this chunk included. Returns the key offset for
    /// the bytes after the chunk.
    pub(super) fn payload(
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
                // Never past the memory allowance (the chunk was cut to
                // fit it: see `memory.rs`).
                partial.data.truncate(partial.len);
                let want = remaining.min(MIN_RESERVE.max(2 * chunk.len()) as u64) as usize;
                let need = partial.len + chunk.len();
                let cap = self.allowance;
                if partial.data.capacity() == 0 {
                    partial.data = crate::scratch::take_buffer(want.min(cap).max(need));
                }
                super::memory::grow(&mut partial.data, need, partial.len + want, cap);
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
            Some(key) => mask::extend_unmasked(dst, chunk, key, mask_offset),
            None => {
                copy::append(dst, chunk);
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
    pub(super) fn inflate(&mut self, chunk: &[u8], finish: bool) -> Result<(), ProtocolError> {
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
            InflateError::WindowExceeded { window_bits } => {
                ProtocolError::CompressedWindowExceeded { window_bits }
            }
        })?;
        if kind == DataKind::Text {
            self.utf8
                .feed(&out[before..])
                .map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        let grown = out.len() - before;
        partial.len += grown;
        self.inflated += grown as u64;
        Ok(())
    }

    pub(super) fn end_data_frame(
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
