//! The state every handle of a connection shares with its event stream and
//! writer task, and the send path into the queue.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use event_listener::Event as Notify;
use futures::task::AtomicWaker;

use super::events::{CloseEvent, Reader};
use super::keys::MaskKeys;
use super::queue::{Body, Closing, OutFrame, SendQueue};
use super::space::Space;
use super::stats::{Counters, Observer};
use super::{ConnectionId, Role};
use crate::config::{Config, SendPolicy};
use crate::deflate::DeflateState;
use crate::error::Error;
use crate::handshake::ExtensionOffer;
use crate::protocol::{
    CloseCode, DataFrames, DataKind, FrameHeader, OpCode, apply_mask, close_payload,
};
use crate::runtime::Runtime;
use crate::transport::SharedTransport;

/// What is known about a connection from its handshake.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionInfo {
    pub(crate) protocol: Option<String>,
    pub(crate) extensions: Vec<ExtensionOffer>,
    pub(crate) remote_addr: SocketAddr,
    pub(crate) local_addr: SocketAddr,
    pub(crate) host: String,
    pub(crate) origin: Option<String>,
    pub(crate) resource: String,
    pub(crate) headers: Vec<(String, String)>,
}

/// A message's frames on their way into the queue.
pub(crate) struct Outgoing {
    pub(crate) frames: Frames,
    /// Data messages this completes (0 for the non-final frames of a stream).
    pub(crate) messages: u64,
}

/// One frame (most messages: no allocation) or several.
pub(crate) enum Frames {
    One(OutFrame),
    Many(Vec<OutFrame>),
}

impl FromIterator<OutFrame> for Frames {
    fn from_iter<I: IntoIterator<Item = OutFrame>>(iter: I) -> Frames {
        Frames::Many(iter.into_iter().collect())
    }
}

impl IntoIterator for Frames {
    type Item = OutFrame;
    type IntoIter = std::iter::Chain<std::option::IntoIter<OutFrame>, std::vec::IntoIter<OutFrame>>;

    fn into_iter(self) -> Self::IntoIter {
        let (one, many) = match self {
            Frames::One(frame) => (Some(frame), Vec::new()),
            Frames::Many(frames) => (None, frames),
        };
        one.into_iter().chain(many)
    }
}

/// The outcome of one attempt to queue without waiting.
pub(crate) enum Offer {
    Queued,
    /// Over the high-water mark: the send-queue policy applies; the frames
    /// are handed back.
    Full(Outgoing),
    /// Behind a message being streamed: wait for its end, whatever the
    /// policy; the frames are handed back.
    Busy(Outgoing),
}

/// What [`Shared::admit`] decided.
pub(super) enum Admission {
    Admitted,
    /// Behind a message being streamed.
    Busy,
    /// Over the high-water mark.
    Full,
}

/// State shared by every handle of a connection, its event stream and its
/// writer task.
pub(crate) struct Shared {
    pub(crate) id: ConnectionId,
    pub(crate) role: Role,
    pub(crate) config: Arc<Config>,
    pub(crate) info: ConnectionInfo,
    pub(crate) transport: SharedTransport,
    pub(crate) queue: Mutex<SendQueue>,
    /// Frames were queued, or the connection is finishing.
    pub(crate) writer_wake: AtomicWaker,
    /// The queue shrank, a streamed message ended, or the connection finished.
    pub(crate) space: Space,
    /// The peer's close arrived, the stream ended, or the writer finished.
    pub(crate) state_changed: Notify,
    pub(crate) peer_closed: AtomicBool,
    /// When the connection started; `last_rx` counts from here.
    pub(crate) started: Instant,
    pub(crate) opened_at: SystemTime,
    /// Microseconds from `started` to the last bytes received.
    last_rx: AtomicU64,
    /// Microseconds from `started` to the last read that brought bytes of
    /// a data frame (for the idle timeout: pings and pongs do not count).
    last_data_rx: AtomicU64,
    /// Nothing reads the transport any more: the event stream stopped at a
    /// protocol error, or every handle is gone. The writer then reads and
    /// discards what the peer still sends while the connection closes.
    pub(crate) reader_stopped: AtomicBool,
    /// The payload of the last keepalive ping (its send time in µs), to
    /// recognise its pong and measure the round trip.
    pub(crate) keepalive_ping: AtomicU64,
    /// The last measured round-trip time in µs, 0 until measured.
    rtt_micros: AtomicU64,
    pub(crate) counters: Counters,
    pub(crate) reader: Arc<futures::lock::Mutex<Reader>>,
    /// Wakes the event stream for pause/resume and drain.
    pub(crate) events_waker: AtomicWaker,
    pub(crate) paused: AtomicBool,
    pub(crate) drain_ready: AtomicBool,
    /// Boxed: only clients mask, and the generator is a few hundred bytes.
    pub(super) keys: Option<Box<Mutex<MaskKeys>>>,
    pub(crate) observer: Option<Arc<dyn Observer>>,
    /// permessage-deflate's send side, when negotiated (see `deflate.rs`).
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))]
    pub(crate) deflate: Option<Box<DeflateState>>,
    /// The batch of a write-through (see `write.rs`), reused to avoid an
    /// allocation per message; only the holder of `queue.writing` locks it.
    pub(crate) through: Mutex<Vec<OutFrame>>,
    /// Where the writer runs and the connection's timers live.
    pub(crate) runtime: Runtime,
}

impl Shared {
    // Crate-internal, called from one place (`Connection::start`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        id: ConnectionId,
        role: Role,
        config: Arc<Config>,
        info: ConnectionInfo,
        transport: SharedTransport,
        reader: Reader,
        observer: Option<Arc<dyn Observer>>,
        deflate: Option<DeflateState>,
        runtime: Runtime,
    ) -> Shared {
        Shared {
            id,
            role,
            keys: role.masks().then(|| Box::new(Mutex::new(MaskKeys::new()))),
            reader: Arc::new(futures::lock::Mutex::new(reader)),
            config,
            info,
            transport,
            queue: Mutex::new(SendQueue::new()),
            writer_wake: AtomicWaker::new(),
            space: Space::new(),
            state_changed: Notify::new(),
            peer_closed: AtomicBool::new(false),
            started: Instant::now(),
            opened_at: SystemTime::now(),
            last_rx: AtomicU64::new(0),
            last_data_rx: AtomicU64::new(0),
            reader_stopped: AtomicBool::new(false),
            keepalive_ping: AtomicU64::new(u64::MAX),
            rtt_micros: AtomicU64::new(0),
            counters: Counters::default(),
            events_waker: AtomicWaker::new(),
            paused: AtomicBool::new(false),
            drain_ready: AtomicBool::new(false),
            observer,
            deflate: deflate.map(Box::new),
            through: Mutex::new(Vec::new()),
            runtime,
        }
    }

    pub(crate) fn lock_queue(&self) -> MutexGuard<'_, SendQueue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Builds one frame, masking the payload when this end is a client.
    pub(crate) fn frame(&self, opcode: OpCode, fin: bool, mut payload: Vec<u8>) -> OutFrame {
        let mut header = FrameHeader::new(opcode, fin, payload.len() as u64);
        if let Some(keys) = &self.keys {
            let key = keys.lock().unwrap_or_else(|p| p.into_inner()).next();
            apply_mask(&mut payload, key, 0);
            header.mask = Some(key);
        }
        OutFrame::new(&header, Body::Owned(payload))
    }

    /// Builds the frames of a data message, split at the fragment size.
    pub(crate) fn data_frames(&self, kind: DataKind, payload: Vec<u8>) -> Outgoing {
        let opcode = match kind {
            DataKind::Text => OpCode::Text,
            DataKind::Binary => OpCode::Binary,
        };
        if payload.len() <= self.config.fragment_size {
            return Outgoing {
                frames: Frames::One(self.frame(opcode, true, payload)),
                messages: 1,
            };
        }
        Outgoing {
            frames: self.split_frames(kind, 0, payload),
            messages: 1,
        }
    }

    /// The frames of a data message, `rsv` set on the first, split at the
    /// fragment size and masked when this end is a client: one frame owns
    /// the payload, several share it.
    pub(crate) fn split_frames(&self, kind: DataKind, rsv: u8, mut payload: Vec<u8>) -> Frames {
        let mut frames: Vec<(FrameHeader, std::ops::Range<usize>)> =
            DataFrames::new(kind, rsv, payload.len(), self.config.fragment_size).collect();
        if let Some(keys) = &self.keys {
            let mut keys = keys.lock().unwrap_or_else(|p| p.into_inner());
            for (header, range) in &mut frames {
                let key = keys.next();
                apply_mask(&mut payload[range.clone()], key, 0);
                header.mask = Some(key);
            }
        }
        if frames.len() == 1 {
            return Frames::One(OutFrame::new(&frames[0].0, Body::Owned(payload)));
        }
        let payload = Arc::new(payload);
        frames
            .into_iter()
            .map(|(header, range)| OutFrame::new(&header, Body::Shared(payload.clone(), range)))
            .collect()
    }

    /// Queues `out` now if the queue is under its high-water mark (and no
    /// other message is being streamed), without waiting.
    pub(crate) fn offer(&self, out: Outgoing, streaming: bool) -> Result<Offer, Error> {
        let offer = self.push(out, streaming)?;
        if matches!(offer, Offer::Queued) {
            self.writer_wake.wake();
        }
        Ok(offer)
    }

    /// [`offer`](Self::offer) without waking the writer: the caller writes
    /// through itself.
    fn push(&self, out: Outgoing, streaming: bool) -> Result<Offer, Error> {
        let mut queue = self.lock_queue();
        match self.admit(&mut queue, streaming)? {
            Admission::Admitted => {}
            Admission::Busy => return Ok(Offer::Busy(out)),
            Admission::Full => return Ok(Offer::Full(out)),
        }
        self.enqueue(&mut queue, out.frames);
        drop(queue);
        self.counters
            .messages_out
            .fetch_add(out.messages, Ordering::Relaxed);
        Ok(Offer::Queued)
    }

    /// Whether a message may be queued now, with the queue locked.
    pub(super) fn admit(&self, queue: &mut SendQueue, streaming: bool) -> Result<Admission, Error> {
        if queue.closing != Closing::Open {
            return Err(Error::Closed);
        }
        if queue.streaming && !streaming {
            return Ok(Admission::Busy);
        }
        if queue.bytes >= self.config.send_queue_high_water {
            queue.wants_drain = true;
            return Ok(Admission::Full);
        }
        Ok(Admission::Admitted)
    }

    /// Appends a message's frames to the queue (room was checked by the
    /// caller) and notes when the queue is now at its high-water mark.
    pub(crate) fn enqueue(&self, queue: &mut SendQueue, frames: Frames) {
        for frame in frames {
            queue.push(frame);
        }
        self.note_high_water(queue);
    }

    /// After frames were added: a queue at its high-water mark announces
    /// when it drains.
    pub(super) fn note_high_water(&self, queue: &mut SendQueue) {
        if queue.bytes >= self.config.send_queue_high_water {
            queue.wants_drain = true;
        }
    }

    /// Queues `out` under the send-queue policy: waits (the default), fails,
    /// or closes the connection with 1008 when the queue is full.
    pub(crate) async fn send(&self, mut out: Outgoing, streaming: bool) -> Result<(), Error> {
        loop {
            let mut offered = Some(out);
            let offer = std::future::poll_fn(|cx| {
                let out = offered.take().expect("polled once: always ready");
                std::task::Poll::Ready(self.push_through(out, streaming, cx))
            })
            .await;
            out = match offer? {
                Offer::Queued => return Ok(()),
                Offer::Busy(out) => out,
                Offer::Full(out) => match self.config.send_queue_policy {
                    SendPolicy::Wait => out,
                    SendPolicy::Fail => return Err(Error::QueueFull),
                    SendPolicy::Close => {
                        self.queue_close(CloseCode::POLICY_VIOLATION, "send queue full", true);
                        return Err(Error::QueueFull);
                    }
                },
            };
            // Listen, then try once more: space freed in between is not
            // missed, and the fast path above allocates no listener.
            let listener = self.space.listen();
            out = match self.offer(out, streaming)? {
                Offer::Queued => return Ok(()),
                Offer::Full(out) | Offer::Busy(out) => out,
            };
            listener.await;
        }
    }

    /// Queues a ping or pong; control frames skip the high-water mark.
    pub(crate) fn send_control(&self, opcode: OpCode, payload: Vec<u8>) -> Result<(), Error> {
        if payload.len() > 125 {
            return Err(Error::ControlTooLong);
        }
        let frame = self.frame(opcode, true, payload);
        let mut queue = self.lock_queue();
        if queue.closing != Closing::Open {
            return Err(Error::Closed);
        }
        queue.push(frame);
        drop(queue);
        self.writer_wake.wake();
        Ok(())
    }

    /// Sends a keepalive ping carrying its send time, to measure the round
    /// trip when the pong comes back.
    pub(crate) fn keepalive_ping(&self) {
        let stamp = self.started.elapsed().as_micros() as u64;
        self.keepalive_ping.store(stamp, Ordering::Relaxed);
        let _ = self.send_control(OpCode::Ping, stamp.to_be_bytes().to_vec());
    }

    /// Records the round trip if `payload` answers our keepalive ping.
    pub(crate) fn pong_received(&self, payload: &[u8]) {
        let Ok(bytes) = <[u8; 8]>::try_from(payload) else {
            return;
        };
        let stamp = u64::from_be_bytes(bytes);
        if stamp == self.keepalive_ping.load(Ordering::Relaxed) {
            let now = self.started.elapsed().as_micros() as u64;
            self.rtt_micros
                .store(now.saturating_sub(stamp).max(1), Ordering::Relaxed);
            // The next ping is now due an interval after this pong, which
            // can be before the timer the writer armed for the pong's
            // deadline: let it plan again.
            self.writer_wake.wake();
        }
    }

    pub(crate) fn rtt(&self) -> Option<Duration> {
        match self.rtt_micros.load(Ordering::Relaxed) {
            0 => None,
            micros => Some(Duration::from_micros(micros)),
        }
    }

    /// Answers a ping, replacing an answer still waiting in the queue.
    pub(crate) fn auto_pong(&self, payload: Vec<u8>) {
        let frame = self.frame(OpCode::Pong, true, payload);
        let mut queue = self.lock_queue();
        if queue.closing == Closing::Open {
            queue.push_pong(frame);
            drop(queue);
            self.writer_wake.wake();
        }
    }

    /// Queues the close frame, once. With `fail`, the writing side ends as
    /// soon as it is written, and the peer's close is not awaited as a
    /// handshake (see `writer::finish_close`). Returns whether this call
    /// queued it.
    pub(crate) fn queue_close(&self, code: CloseCode, reason: &str, fail: bool) -> bool {
        let frame = self.frame(OpCode::Close, true, close_payload(code, reason));
        let mut queue = self.lock_queue();
        if queue.closing != Closing::Open {
            return false;
        }
        queue.push(frame);
        queue.closing = Closing::CloseQueued { fail };
        queue.close_queued_at = Some(Instant::now());
        queue.sent_close = Some(code);
        if fail {
            queue.failed_with = Some((code, reason.to_owned()));
        }
        drop(queue);
        self.writer_wake.wake();
        self.space.notify();
        true
    }

    /// When the queued close frame must have been written by: its queueing
    /// time plus the close timeout.
    pub(crate) fn close_deadline(&self) -> Option<Instant> {
        self.lock_queue()
            .close_queued_at
            .map(|at| at + self.config.close_timeout)
    }

    /// Gives up on a connection whose writes are blocked: no close frame can
    /// be sent, so it is recorded as the failure and the transport dropped.
    pub(crate) fn abort(&self, code: CloseCode, reason: &str) {
        let mut queue = self.lock_queue();
        if queue.failed_with.is_none() && code != CloseCode::ABNORMAL {
            queue.failed_with = Some((code, reason.to_owned()));
        }
        if queue.closing == Closing::Open {
            queue.closing = Closing::CloseQueued { fail: true };
        }
        drop(queue);
        log::debug!("{} dropped: {reason}", self.id);
    }

    /// The peer's close frame arrived (with `code`), or its stream ended.
    pub(crate) fn peer_closed(&self, code: Option<CloseCode>) {
        if let Some(code) = code {
            self.lock_queue().received_close = Some(code);
        }
        self.peer_closed.store(true, Ordering::Release);
        self.state_changed.notify(usize::MAX);
    }

    /// The stream ended without a close handshake: stop the writer too.
    pub(crate) fn stream_ended(&self) {
        self.peer_closed(None);
        let mut queue = self.lock_queue();
        if queue.closing == Closing::Open {
            queue.closing = Closing::CloseQueued { fail: true };
        }
        drop(queue);
        self.writer_wake.wake();
    }

    /// Records that `n` bytes arrived (for keepalive, idle timeouts, stats).
    pub(crate) fn received(&self, n: usize) {
        let micros = self.started.elapsed().as_micros() as u64;
        self.last_rx.store(micros, Ordering::Relaxed);
        self.counters
            .bytes_in
            .fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn last_rx(&self) -> Instant {
        self.started + Duration::from_micros(self.last_rx.load(Ordering::Relaxed))
    }

    /// Records that the last read (see [`received`](Self::received))
    /// brought bytes of a data frame.
    pub(crate) fn data_received(&self) {
        let micros = self.last_rx.load(Ordering::Relaxed);
        self.last_data_rx.store(micros, Ordering::Relaxed);
    }

    /// When bytes of a data frame last arrived (the start, before any).
    pub(crate) fn last_data_rx(&self) -> Instant {
        self.started + Duration::from_micros(self.last_data_rx.load(Ordering::Relaxed))
    }

    /// Nothing reads the transport any more (see `reader_stopped`); wakes
    /// a writer waiting for the peer's end, so that it reads instead.
    pub(crate) fn stop_reading(&self) {
        self.reader_stopped.store(true, Ordering::Release);
        self.state_changed.notify(usize::MAX);
    }

    /// How the connection ended without the peer's close frame: the code
    /// this end failed it with, or 1006.
    pub(crate) fn abnormal_close(&self) -> CloseEvent {
        let (code, reason) = self
            .lock_queue()
            .failed_with
            .clone()
            .unwrap_or((CloseCode::ABNORMAL, String::new()));
        CloseEvent {
            code,
            reason,
            clean: false,
        }
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.lock_queue().closing == Closing::Finished
    }

    /// Called by the writer when it has stopped: the connection is over.
    pub(crate) fn finished(&self) {
        let code = {
            let queue = self.lock_queue();
            queue
                .received_close
                .or(queue.sent_close)
                .unwrap_or(CloseCode::ABNORMAL)
        };
        // Give the compression memory back to the server's budget.
        #[cfg(feature = "deflate")]
        if let Some(deflate) = &self.deflate {
            deflate.release();
        }
        // Leave the registry before anyone can see the connection finished:
        // a shutdown that waited for it then finds it gone.
        if let Some(observer) = &self.observer {
            observer.finished(self, code);
        }
        {
            let mut queue = self.lock_queue();
            queue.closing = Closing::Finished;
            queue.discard();
        }
        self.space.notify();
        self.state_changed.notify(usize::MAX);
        self.events_waker.wake();
    }
}

impl Shared {
    /// Drops the transport now and lets the writer finish (a forced close).
    pub(crate) fn force_close(&self) {
        self.transport.kill();
        self.peer_closed(None);
        self.writer_wake.wake();
    }

    /// Whether the peer's close frame arrived: the closing handshake
    /// completed.
    pub(crate) fn closed_cleanly(&self) -> bool {
        self.lock_queue().received_close.is_some()
    }

    /// Waits until the writer has finished.
    pub(crate) async fn wait_finished(&self) {
        loop {
            let listener = self.state_changed.listen();
            if self.is_finished() {
                return;
            }
            listener.await;
        }
    }
}
