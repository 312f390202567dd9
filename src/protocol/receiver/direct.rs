//! The direct-read path: the rest of a large data frame's payload read
//! straight into the message being assembled, skipping a copy through a
//! read buffer, then unmasked and checked in place.

use std::mem::MaybeUninit;

use super::super::error::ProtocolError;
use super::super::message::DataKind;
use super::{Incoming, Partial, Receiver, State, unmask};

/// The least a direct read asks for (see [`Receiver::direct_buffer`]).
const DIRECT_STEP: usize = 64 << 10;

impl Receiver {
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
        // Within the memory allowance (see `memory.rs`).
        let room = self.allowance.saturating_sub(filled);
        let want = remaining.min(DIRECT_STEP.max(filled).min(room) as u64) as usize;
        if want < min.max(1) {
            return None;
        }
        if partial.data.capacity() == 0 {
            partial.data = crate::scratch::take_buffer(filled + want);
        }
        // The capacity counts from `len`, which may hold a zeroed tail.
        let need = (filled + want).max(partial.data.len());
        super::memory::grow(&mut partial.data, need, need, self.allowance);
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
}
