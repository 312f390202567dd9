//! The send queue: encoded frames waiting for the writer.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;

use crate::budget::Budgets;
use crate::lifecycle::Lifecycle;
use crate::protocol::{FrameHeader, MAX_HEADER_LEN, OpCode};

/// Automatic pongs that may wait in the queue at once: enough to answer a
/// burst of pings one by one, few enough (at most 32 × 131 bytes) that a ping
/// flood costs nothing.
pub(crate) const MAX_PENDING_PONGS: usize = 32;

/// A frame's payload: owned, or a range of bytes shared with other frames
/// (fragments of one message, or one broadcast sent to many connections).
#[derive(Debug)]
pub(crate) enum Body {
    Owned(Vec<u8>),
    Shared(Arc<Vec<u8>>, Range<usize>),
}

impl Body {
    fn bytes(&self) -> &[u8] {
        match self {
            Body::Owned(v) => v,
            Body::Shared(v, range) => &v[range.clone()],
        }
    }
}

/// One encoded frame: header bytes plus payload, and how much of it the
/// writer has written.
#[derive(Debug)]
pub(crate) struct OutFrame {
    head: [u8; MAX_HEADER_LEN],
    head_len: u8,
    body: Body,
    opcode: OpCode,
    written: usize,
}

impl OutFrame {
    pub(crate) fn new(header: &FrameHeader, body: Body) -> OutFrame {
        debug_assert_eq!(header.payload_len as usize, body.bytes().len());
        let mut head = [0u8; MAX_HEADER_LEN];
        let head_len = header.encode(&mut head) as u8;
        OutFrame {
            head,
            head_len,
            body,
            opcode: header.opcode,
            written: 0,
        }
    }

    /// A frame whose header is already encoded (a broadcast encodes it once
    /// for every connection).
    pub(crate) fn from_encoded(
        head: [u8; MAX_HEADER_LEN],
        head_len: usize,
        opcode: OpCode,
        body: Body,
    ) -> OutFrame {
        OutFrame {
            head,
            head_len: head_len as u8,
            body,
            opcode,
            written: 0,
        }
    }

    /// Header plus payload length.
    pub(crate) fn len(&self) -> usize {
        usize::from(self.head_len) + self.body.bytes().len()
    }

    pub(crate) fn is_close(&self) -> bool {
        self.opcode == OpCode::Close
    }

    /// The unwritten parts of the header and of the payload (either may be
    /// empty).
    pub(crate) fn unwritten(&self) -> [&[u8]; 2] {
        let head = &self.head[..usize::from(self.head_len)];
        let body = self.body.bytes();
        if self.written < head.len() {
            [&head[self.written..], body]
        } else {
            [&[], &body[self.written - head.len()..]]
        }
    }

    /// Records `n` more bytes written; returns what is left of `n` once this
    /// frame is complete (or 0 if it is not).
    pub(crate) fn advance(&mut self, n: usize) -> usize {
        let left = self.len() - self.written;
        let used = n.min(left);
        self.written += used;
        n - used
    }

    /// Hands a written frame's payload buffer to the thread's pool, for the
    /// next received message.
    pub(crate) fn recycle(self) {
        if let Body::Owned(buffer) = self.body {
            crate::scratch::give_buffer(buffer);
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.written == self.len()
    }
}

/// The frames waiting to be written, with the byte count the high-water
/// mark is checked against.
#[derive(Debug)]
pub(crate) struct SendQueue {
    frames: VecDeque<OutFrame>,
    /// Bytes queued plus bytes taken by the writer and not yet written.
    pub(crate) bytes: usize,
    /// Sequence number of `frames[0]`.
    front_seq: u64,
    /// Sequence numbers of automatic pongs still waiting in the queue.
    pending_pongs: VecDeque<u64>,
    /// The connection's lifecycle: under the queue's lock, so that whether
    /// frames may be queued is decided with the queue in hand.
    pub(crate) life: Lifecycle,
    /// A message is being streamed: other data messages wait for its end.
    pub(crate) streaming: bool,
    /// A sender met the high-water mark: announce when the queue drains.
    pub(crate) wants_drain: bool,
    /// The connection ended with frames still unwritten.
    pub(crate) lost: bool,
    /// Broadcast or published messages that arrived while a message was
    /// being streamed, to follow it (counted in `bytes` already). Boxed:
    /// rarely used, and every connection holds the field (8 bytes, not a
    /// `Vec`'s 24: idle memory).
    #[allow(clippy::box_collection)]
    deferred: Option<Box<Vec<OutFrame>>>,
    /// A batch has been taken and is being written (by the writer task or
    /// a write-through); nobody else may take one.
    pub(crate) writing: bool,
    /// Corked: the connection's reader is handing out what one read
    /// brought, so a send does not write through but leaves its frames to
    /// the writer task, to go out together (see `cork.rs`).
    pub(crate) corked: bool,
    /// The server's budgets: `bytes` counts in the sum of its send queues.
    budgets: Option<Arc<Budgets>>,
}

impl Drop for SendQueue {
    fn drop(&mut self) {
        self.remove(self.bytes);
    }
}

impl SendQueue {
    pub(crate) fn new(life: Lifecycle, budgets: Option<Arc<Budgets>>) -> SendQueue {
        SendQueue {
            frames: VecDeque::new(),
            bytes: 0,
            front_seq: 0,
            pending_pongs: VecDeque::new(),
            life,
            streaming: false,
            wants_drain: false,
            lost: false,
            deferred: None,
            writing: false,
            corked: false,
            budgets,
        }
    }

    pub(crate) fn push(&mut self, frame: OutFrame) {
        self.add(frame.len());
        self.frames.push_back(frame);
    }

    /// Holds `frames` until the message being streamed ends (see
    /// [`end_stream`](Self::end_stream)), counted against the mark now.
    pub(crate) fn defer(&mut self, frames: impl IntoIterator<Item = OutFrame>) {
        let deferred = self.deferred.get_or_insert_with(Default::default);
        let mut bytes = 0;
        for frame in frames {
            bytes += frame.len();
            deferred.push(frame);
        }
        self.add(bytes);
    }

    /// The streamed message ended: what was deferred goes into the queue.
    pub(crate) fn end_stream(&mut self) {
        self.streaming = false;
        if let Some(deferred) = self.deferred.take() {
            self.frames.extend(*deferred);
        }
    }

    /// Queues an automatic pong. At most [`MAX_PENDING_PONGS`] wait at once;
    /// beyond that the newest waiting pong is replaced, so only the latest
    /// ping is answered (RFC 6455 §5.5.3 allows it) and a ping flood cannot
    /// pile up pongs.
    pub(crate) fn push_pong(&mut self, frame: OutFrame) {
        if self.pending_pongs.len() >= MAX_PENDING_PONGS
            && let Some(&seq) = self.pending_pongs.back()
            && let Some(slot) = self.frames.get_mut((seq - self.front_seq) as usize)
        {
            let new = frame.len();
            let old = std::mem::replace(slot, frame).len();
            self.remove(old);
            self.add(new);
            return;
        }
        self.pending_pongs
            .push_back(self.front_seq + self.frames.len() as u64);
        self.push(frame);
    }

    /// Drops every frame still waiting (the connection is over); remembers
    /// whether any were lost.
    pub(crate) fn discard(&mut self) {
        self.lost = self.bytes > 0;
        self.frames.clear();
        self.deferred = None;
        self.pending_pongs.clear();
        self.remove(self.bytes);
    }

    /// `n` more bytes queued, here and in the server's sum.
    fn add(&mut self, n: usize) {
        self.bytes += n;
        if let Some(budgets) = &self.budgets {
            budgets.outbound.force(n);
        }
    }

    /// `n` bytes written or dropped, here and in the server's sum.
    pub(crate) fn remove(&mut self, n: usize) {
        self.bytes -= n;
        if let Some(budgets) = &self.budgets {
            budgets.outbound.release_quietly(n);
        }
    }

    /// Whether the server's send queues together are at their budget
    /// (`Config::outbound_memory_budget`).
    pub(crate) fn server_full(&self, limit: usize) -> bool {
        self.budgets
            .as_ref()
            .is_some_and(|budgets| budgets.outbound.in_use() >= limit)
    }

    /// Counts a message refused because the server's send queues were full.
    pub(crate) fn refused_for_server(&self) {
        if let Some(budgets) = &self.budgets {
            budgets.outbound.waited();
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Puts `frame` straight into `batch` for writing, counted as if it had
    /// been [`push`](Self::push)ed and then [`take_batch`](Self::take_batch)ed
    /// (nothing is queued: the queue is empty).
    pub(crate) fn claim(&mut self, frame: OutFrame, batch: &mut Vec<OutFrame>) {
        debug_assert!(self.frames.is_empty());
        self.add(frame.len());
        self.front_seq += 1;
        batch.push(frame);
    }

    /// Returns frames taken by [`take_batch`](Self::take_batch) and not
    /// (fully) written to the front of the queue, in order.
    pub(crate) fn put_back(&mut self, frames: impl DoubleEndedIterator<Item = OutFrame>) {
        for frame in frames.rev() {
            self.frames.push_front(frame);
            self.front_seq -= 1;
        }
    }

    /// Moves up to `max` frames into `batch` for writing.
    pub(crate) fn take_batch(&mut self, batch: &mut Vec<OutFrame>, max: usize) {
        let n = self.frames.len().min(max);
        batch.extend(self.frames.drain(..n));
        self.front_seq += n as u64;
        while self
            .pending_pongs
            .front()
            .is_some_and(|&seq| seq < self.front_seq)
        {
            self.pending_pongs.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(op: OpCode, payload: &[u8]) -> OutFrame {
        OutFrame::new(
            &FrameHeader::new(op, true, payload.len() as u64),
            Body::Owned(payload.to_vec()),
        )
    }

    #[test]
    fn pongs_do_not_pile_up() {
        let mut q = SendQueue::new(Lifecycle::new(), None);
        q.push(frame(OpCode::Text, b"hello"));
        for i in 0..1000u32 {
            q.push_pong(frame(OpCode::Pong, &i.to_be_bytes()));
        }
        assert_eq!(q.frames.len(), 1 + MAX_PENDING_PONGS);
        assert_eq!(q.bytes, 7 + 6 * MAX_PENDING_PONGS);
        // The first pings are answered one by one, the last slot holds the
        // answer to the latest ping.
        assert_eq!(q.frames[1].body.bytes(), &0u32.to_be_bytes());
        assert_eq!(
            q.frames[MAX_PENDING_PONGS].body.bytes(),
            &999u32.to_be_bytes()
        );
        // Once the writer has taken them, new pongs are queued again.
        let mut batch = Vec::new();
        q.take_batch(&mut batch, 100);
        q.push_pong(frame(OpCode::Pong, b"x"));
        assert_eq!(q.frames.len(), 1);
        assert_eq!(q.pending_pongs.len(), 1);
    }

    #[test]
    fn partial_writes_advance_through_slices() {
        let mut f = frame(OpCode::Binary, &[7; 300]);
        assert_eq!(f.len(), 304);
        let unwritten = |f: &OutFrame| f.unwritten().iter().map(|s| s.len()).sum::<usize>();
        assert_eq!(unwritten(&f), 304);
        assert_eq!(f.advance(2), 0);
        assert_eq!(unwritten(&f), 302);
        assert_eq!(f.advance(300), 0);
        assert_eq!(f.unwritten()[0].len(), 0);
        assert_eq!(unwritten(&f), 2);
        assert_eq!(f.advance(100), 98);
        assert!(f.is_done());
    }
}
