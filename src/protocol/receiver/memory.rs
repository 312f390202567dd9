//! How much memory the message in progress may hold: an allowance the
//! connection layer sets from a server-wide budget, and what the receiver
//! wants when it runs out. The receiver never waits; it takes no more
//! payload bytes than fit, and says how much it would need.

use super::{Receiver, State};

/// The most compressed bytes taken at a time while an allowance is set and
/// the message holds less than it: what they inflate to is only known
/// afterwards, so a little at a time.
const COMPRESSED_STEP: usize = 4 << 10;

/// The least a message's buffer grows by when it must (see
/// [`Receiver::memory_wanted`]).
const GROWTH_STEP: usize = 64 << 10;

impl Receiver {
    /// Sets the most bytes the buffer of the message in progress may hold
    /// (its capacity); by default there is no limit (`usize::MAX`). A
    /// server sets it from its memory budget
    /// ([`Config::inbound_memory_budget`](crate::Config::inbound_memory_budget)).
    ///
    /// The receiver then takes no more payload bytes of an uncompressed
    /// data message than fit: [`decode`](Self::decode) consumes only up to
    /// the allowance (`(0, None)` once nothing fits) and
    /// [`direct_buffer`](Self::direct_buffer) offers no more room, until the
    /// allowance is raised to [`memory_wanted`](Self::memory_wanted).
    /// Control frames are never held back. A compressed message's inflated
    /// size is only known after inflating: it takes a few KiB of compressed
    /// bytes at a time while its buffer is within the allowance, so it can
    /// pass the allowance by what one such step inflates to (see
    /// [`memory_held`](Self::memory_held)).
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::{Incoming, Receiver, ReceiverConfig, Role};
    ///
    /// let mut rx = Receiver::new(ReceiverConfig::new(Role::Client));
    /// rx.set_memory_allowance(4);
    /// // A 6-byte binary frame: only 4 payload bytes fit.
    /// let mut wire = [0x82, 0x06, 1, 2, 3, 4, 5, 6];
    /// assert_eq!(rx.decode(&mut wire).unwrap(), (2, None));
    /// assert_eq!(rx.decode(&mut wire[2..]).unwrap(), (4, None));
    /// assert_eq!(rx.decode(&mut wire[6..]).unwrap(), (0, None));
    /// let wanted = rx.memory_wanted().expect("held back");
    /// assert!(wanted >= 6);
    /// // A ping still gets through a full allowance (not shown: it would
    /// // come between frames). Raise the allowance and the rest is taken.
    /// rx.set_memory_allowance(wanted);
    /// assert_eq!(rx.memory_wanted(), None);
    /// let (used, item) = rx.decode(&mut wire[6..]).unwrap();
    /// assert_eq!(used, 2);
    /// assert_eq!(item, Some(Incoming::Message(vec![1, 2, 3, 4, 5, 6].into())));
    /// ```
    pub fn set_memory_allowance(&mut self, bytes: usize) {
        self.allowance = bytes;
    }

    /// The allowance set with
    /// [`set_memory_allowance`](Self::set_memory_allowance).
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::{Receiver, ReceiverConfig, Role};
    ///
    /// let rx = Receiver::new(ReceiverConfig::new(Role::Server));
    /// assert_eq!(rx.memory_allowance(), usize::MAX);
    /// ```
    pub fn memory_allowance(&self) -> usize {
        self.allowance
    }

    /// The bytes of memory the data received and not yet handed over holds:
    /// the capacity of the message being assembled, plus the current
    /// frame's buffer. It is 0 between messages; it can exceed the
    /// allowance by a compressed message's last inflated step, by a
    /// frame's buffer with assembly off, or by a pooled buffer's spare room
    /// (at most 64 KiB).
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::{Receiver, ReceiverConfig, Role};
    ///
    /// let mut rx = Receiver::new(ReceiverConfig::new(Role::Client));
    /// assert_eq!(rx.memory_held(), 0);
    /// // Half of a 100-byte message.
    /// let mut wire = [0x82, 100].into_iter().chain([7; 50]).collect::<Vec<u8>>();
    /// assert_eq!(rx.decode(&mut wire).unwrap(), (2, None));
    /// assert_eq!(rx.decode(&mut wire[2..]).unwrap(), (50, None));
    /// assert!(rx.memory_held() >= 50);
    /// ```
    pub fn memory_held(&self) -> usize {
        self.message.as_ref().map_or(0, |p| p.data.capacity()) + self.frame.capacity()
    }

    /// The allowance the receiver needs to take the next payload byte, when
    /// the one set does not let it (`None` when it does, or when it is not
    /// inside a data frame's payload). Raise the allowance to it (or more)
    /// and decode again; until then, read nothing more into the receiver.
    ///
    /// The step grows with the message (at least 64 KiB, at most doubling
    /// it), so a large message asks a few dozen times, not once per read.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::protocol::{Receiver, ReceiverConfig, Role};
    ///
    /// let mut rx = Receiver::new(ReceiverConfig::new(Role::Client));
    /// rx.set_memory_allowance(0);
    /// assert_eq!(rx.memory_wanted(), None); // between frames
    /// rx.decode(&mut [0x82, 0x7e, 0x01, 0x00]).unwrap(); // a 256-byte frame's header
    /// assert_eq!(rx.memory_wanted(), Some(256)); // the whole (small) frame
    /// ```
    pub fn memory_wanted(&self) -> Option<usize> {
        let State::Payload {
            header, remaining, ..
        } = self.state
        else {
            return None;
        };
        if header.opcode.is_control() || remaining == 0 || self.room() > 0 {
            return None;
        }
        let partial = self.message.as_ref()?;
        if partial.compressed {
            // What it will inflate to is unknown: room to double.
            let held = self.memory_held().max(self.allowance);
            return Some(held.saturating_add(GROWTH_STEP.max(held)));
        }
        let held = if self.config.assemble_messages {
            partial.len
        } else {
            self.frame.len()
        };
        let step = remaining.min(GROWTH_STEP.max(held) as u64) as usize;
        Some(held + step)
    }

    /// Payload bytes of the current data frame that may be taken now.
    pub(super) fn room(&self) -> usize {
        if self.allowance == usize::MAX {
            return usize::MAX;
        }
        let Some(partial) = &self.message else {
            return usize::MAX;
        };
        if partial.compressed {
            return if self.memory_held() >= self.allowance {
                0
            } else {
                COMPRESSED_STEP
            };
        }
        let held = if self.config.assemble_messages {
            partial.len
        } else {
            self.frame.len()
        };
        self.allowance.saturating_sub(held)
    }
}

/// Makes room in `data` (whose length is what it holds) for at least
/// `need` bytes in all and, when it must grow, for `want` (geometric
/// growth, as `Vec::reserve` does), but never more capacity than `cap`
/// unless `need` itself is more.
pub(super) fn grow(data: &mut Vec<u8>, need: usize, want: usize, cap: usize) {
    if data.capacity() >= need.max(want.min(cap)) {
        return;
    }
    let target = data
        .capacity()
        .saturating_mul(2)
        .max(want)
        .min(cap)
        .max(need);
    data.reserve_exact(target - data.len());
}

#[cfg(test)]
mod tests {
    use super::super::{Incoming, Receiver, ReceiverConfig};
    use crate::protocol::{Message, Role};
    use proptest::prelude::*;

    /// A masked frame.
    fn encode(first: u8, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
        let mut out = vec![first];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= 0xffff => {
                out.push(0x80 | 126);
                out.extend((n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend((n as u64).to_be_bytes());
            }
        }
        out.extend(key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        out
    }

    /// Masked frames of a message of `len` bytes split into `frames`
    /// fragments, then a ping, then a small text message.
    fn wire(len: usize, frames: usize) -> (Vec<u8>, Vec<u8>) {
        let payload: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
        let key = [9, 8, 7, 6];
        let mut out = Vec::new();
        let per = len.div_ceil(frames.max(1)).max(1);
        let chunks: Vec<&[u8]> = payload.chunks(per).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let opcode = if i == 0 { 0x2 } else { 0x0 };
            let fin = if i + 1 == chunks.len() { 0x80 } else { 0 };
            out.extend(encode(fin | opcode, chunk, key));
        }
        out.extend(encode(0x89, b"p", key));
        out.extend(encode(0x81, b"hi", key));
        (out, payload)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        /// With an allowance raised only when the receiver asks, the same
        /// items come out as without one, and the message's buffer never
        /// holds more than its allowance.
        #[test]
        fn an_allowance_changes_nothing_but_memory(
            len in 1usize..300_000,
            frames in 1usize..6,
            reads in proptest::collection::vec(1usize..70_000, 1..40),
            allowance in 0usize..100_000,
        ) {
            let (mut bytes, payload) = wire(len, frames);
            let mut rx = Receiver::new(ReceiverConfig::new(Role::Server));
            rx.set_memory_allowance(allowance);
            let mut items = Vec::new();
            let (mut at, mut read) = (0, 0);
            let mut end = 0;
            while at < bytes.len() {
                if at == end {
                    end = (end + reads[read % reads.len()]).min(bytes.len());
                    read += 1;
                }
                let (used, item) = rx.decode(&mut bytes[at..end]).unwrap();
                prop_assert!(rx.memory_held() <= rx.memory_allowance().max(64 << 10));
                at += used;
                items.extend(item);
                if used == 0 && at < end {
                    let wanted = rx.memory_wanted().expect("stuck only for memory");
                    prop_assert!(wanted > rx.memory_allowance());
                    rx.set_memory_allowance(wanted);
                }
            }
            prop_assert_eq!(items, vec![
                Incoming::Message(Message::Binary(payload)),
                Incoming::Ping(b"p".to_vec()),
                Incoming::Message(Message::Text("hi".into())),
            ]);
        }
    }
}
