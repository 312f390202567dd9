//! The reading half's state: the read buffer, the protocol receiver and
//! what is left to deliver, and the cell that holds it. The read loop over
//! it is in `read.rs`; the reading the writer does while closing, in
//! `closing.rs`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use event_listener::{Event as Notify, EventListener};

use super::event::Event;
use super::inbound::Inbound;
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
    /// Events to deliver before anything is read: an error this end failed
    /// the connection for, and what the writer read while closing.
    pub(super) pending: VecDeque<Event>,
    /// The payload bytes of the messages in `pending`.
    pub(super) pending_bytes: usize,
    /// Nothing more is read: the peer's close or end of stream came, or a
    /// protocol error stopped the receiver. The close is reported next.
    pub(super) done: bool,
    /// The writer reads: this end's close frame is out (see `closing.rs`).
    pub(super) writer_reads: bool,
    /// The close was delivered: the stream has ended.
    pub(super) over: bool,
    /// This reader corked the send queue (see `cork.rs`).
    pub(super) corked: bool,
    /// The server's inbound memory budget, when there is one (boxed: an
    /// idle connection's reader stays small).
    pub(super) inbound: Option<Box<Inbound>>,
}

impl Reader {
    /// A reader over `receiver`; with `inbound` (made for this receiver),
    /// messages beyond the reserve take their memory from the budget
    /// (`memory.rs`).
    pub(crate) fn new(
        receiver: Receiver,
        pipelined: Vec<u8>,
        buffer_size: usize,
        inbound: Option<Inbound>,
    ) -> Reader {
        let inbound = inbound.map(Box::new);
        Reader {
            inbound,
            end: pipelined.len(),
            buf: pipelined,
            start: 0,
            buffer_size: buffer_size.max(64),
            receiver,
            data_seen: 0,
            pending: VecDeque::new(),
            pending_bytes: 0,
            done: false,
            writer_reads: false,
            over: false,
            corked: false,
        }
    }

    /// Keeps `event` for the event stream; the bytes of its payload count
    /// against what may be kept (see [`pending_room`](Self::pending_room)).
    pub(super) fn keep(&mut self, event: Event) {
        self.pending_bytes += payload_len(&event);
        self.pending.push_back(event);
    }

    /// The next kept event, if any.
    pub(super) fn take_pending(&mut self) -> Option<Event> {
        let event = self.pending.pop_front()?;
        self.pending_bytes -= payload_len(&event);
        Some(event)
    }
}

/// The payload bytes an event holds.
fn payload_len(event: &Event) -> usize {
    match event {
        Event::Message(message) => message.len(),
        Event::Fragment(fragment) => fragment.data.len(),
        Event::Ping(payload) | Event::Pong(payload) => payload.len(),
        _ => 0,
    }
}

/// Where a connection's [`Reader`] lives: its state, locked for each poll
/// (by the event stream, or by the writer while closing), and the turn of
/// the one [`Events`](crate::Events) that may read at a time.
pub(crate) struct ReaderCell {
    state: Mutex<Reader>,
    /// Whether an `Events` holds the turn.
    held: AtomicBool,
    /// The turn was given back.
    released: Notify,
}

impl ReaderCell {
    pub(crate) fn new(reader: Reader) -> ReaderCell {
        ReaderCell {
            state: Mutex::new(reader),
            held: AtomicBool::new(false),
            released: Notify::new(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Reader> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the turn if it is free.
    pub(crate) fn try_take_turn(&self) -> bool {
        self.held
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Listens for the turn's release (then try again).
    pub(crate) fn listen(&self) -> EventListener {
        self.released.listen()
    }

    /// Gives the turn back.
    pub(crate) fn give_back_turn(&self) {
        self.held.store(false, Ordering::Release);
        self.released.notify(1);
    }
}
