//! The state every handle of a connection shares with its event stream and
//! writer task, and the send path into the queue.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use event_listener::Event as Notify;
use futures::task::AtomicWaker;

use super::event::CloseEvent;
use super::event::Event;
use super::id::ConnectionId;
use super::keys::MaskKeys;
use super::queue::{Body, OutFrame, SendQueue};
use super::reader::{Reader, ReaderCell};
use super::space::{Space, Waiter};
use super::stats::Counters;
use crate::config::Config;
use crate::deflate::DeflateState;
use crate::error::Error;
use crate::handshake::{ExtensionOffer, HandshakeHeaders};
use crate::lifecycle::{Activity, Lifecycle, Mode, Timeouts};
use crate::protocol::{
    CloseCode, DataFrames, DataKind, FrameHeader, OpCode, Role, apply_mask, close_payload,
    fit_reason,
};
use crate::runtime::Runtime;
use crate::transport::SharedTransport;

/// What is known about a connection from its handshake, as the handshake
/// gives it: [`ConnectionInfo::new`] packs it.
pub(crate) struct Handshaken<'a> {
    pub(crate) protocol: Option<&'a str>,
    pub(crate) extensions: Vec<ExtensionOffer>,
    pub(crate) remote_addr: SocketAddr,
    pub(crate) local_addr: SocketAddr,
    pub(crate) host: &'a str,
    pub(crate) origin: Option<&'a str>,
    pub(crate) resource: &'a str,
    pub(crate) headers: &'a [(String, String)],
}

/// What is known about a connection from its handshake, kept for its whole
/// life: the strings packed into one allocation (an idle connection's
/// memory is mostly such small things).
pub(crate) struct ConnectionInfo {
    pub(crate) extensions: Vec<ExtensionOffer>,
    pub(crate) remote_addr: SocketAddr,
    pub(crate) local_addr: SocketAddr,
    /// Fields: host, resource, origin, protocol; then the headers.
    text: HandshakeHeaders,
    /// Whether there was an origin and a protocol (an empty one is not
    /// none).
    has_origin: bool,
    has_protocol: bool,
}

impl ConnectionInfo {
    pub(crate) fn new(handshaken: Handshaken<'_>) -> ConnectionInfo {
        let fields = [
            handshaken.host,
            handshaken.resource,
            handshaken.origin.unwrap_or_default(),
            handshaken.protocol.unwrap_or_default(),
        ];
        let headers = handshaken.headers.iter();
        ConnectionInfo {
            extensions: handshaken.extensions,
            remote_addr: handshaken.remote_addr,
            local_addr: handshaken.local_addr,
            text: HandshakeHeaders::packed(&fields, headers.map(|(n, v)| (n.as_str(), v.as_str()))),
            has_origin: handshaken.origin.is_some(),
            has_protocol: handshaken.protocol.is_some(),
        }
    }

    pub(crate) fn host(&self) -> &str {
        self.text.field(0)
    }

    pub(crate) fn resource(&self) -> &str {
        self.text.field(1)
    }

    pub(crate) fn origin(&self) -> Option<&str> {
        self.has_origin.then(|| self.text.field(2))
    }

    pub(crate) fn protocol(&self) -> Option<&str> {
        self.has_protocol.then(|| self.text.field(3))
    }

    pub(crate) fn headers(&self) -> &HandshakeHeaders {
        &self.text
    }
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

/// Told when a connection ends, and keeper of its topics (the server's
/// registry and metrics; `handle.rs`'s `Registry` adds its start).
pub(crate) trait Observer: Send + Sync {
    /// The connection ended.
    fn finished(&self, connection: &Shared, code: CloseCode);
    /// Subscribes the connection to `topic` (the server's topics); whether
    /// it was not subscribed yet.
    fn subscribe(&self, connection: &Arc<Shared>, topic: &str) -> Result<bool, Error>;
    /// Unsubscribes the connection from `topic`; whether it was subscribed.
    fn unsubscribe(&self, connection: &Shared, topic: &str) -> bool;
    /// The topics the connection is subscribed to.
    fn topics(&self, connection: &Shared) -> Vec<String>;
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
    /// The lifecycle changed: the peer's close arrived, the stream ended,
    /// reading stopped, or the writer finished.
    pub(crate) state_changed: Notify,
    /// When the connection started; `last_rx` counts from here.
    pub(crate) started: Instant,
    pub(crate) opened_at: SystemTime,
    /// Microseconds from `started` to the last bytes received.
    last_rx: AtomicU64,
    /// Microseconds from `started` to the last read that brought bytes of
    /// a data frame (for the idle timeout: pings and pongs do not count).
    last_data_rx: AtomicU64,
    pub(crate) counters: Counters,
    /// The reading half (boxed: it is large, and an idle connection's
    /// `Shared` is kept small).
    pub(crate) reader: Box<ReaderCell>,
    /// Wakes the event stream for pause/resume and drain.
    pub(crate) events_waker: AtomicWaker,
    pub(crate) paused: AtomicBool,
    /// This connection's own broadcast policy: 0 the server's, 1 drop,
    /// 2 close (see `prepared.rs`).
    pub(crate) broadcast_override: AtomicU8,
    pub(crate) drain_ready: AtomicBool,
    /// Set when the connection has left its topics for good (it ended):
    /// checked under the topics' lock, so no subscribe can slip in after.
    pub(crate) left_topics: AtomicBool,
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
        budgets: Option<Arc<crate::budget::Budgets>>,
    ) -> Shared {
        let started = runtime.now();
        Shared {
            id,
            role,
            keys: role.masks().then(|| Box::new(Mutex::new(MaskKeys::new()))),
            reader: Box::new(ReaderCell::new(reader)),
            config,
            info,
            transport,
            queue: Mutex::new(SendQueue::new(Lifecycle::new(), budgets)),
            writer_wake: AtomicWaker::new(),
            space: Space::new(),
            state_changed: Notify::new(),
            started,
            opened_at: SystemTime::now(),
            last_rx: AtomicU64::new(0),
            last_data_rx: AtomicU64::new(0),
            counters: Counters::default(),
            events_waker: AtomicWaker::new(),
            paused: AtomicBool::new(false),
            broadcast_override: AtomicU8::new(0),
            drain_ready: AtomicBool::new(false),
            left_topics: AtomicBool::new(false),
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
        self.writer_wake.wake();
        Ok(Offer::Queued)
    }

    /// Whether a message may be queued now, with the queue locked.
    pub(super) fn admit(&self, queue: &mut SendQueue, streaming: bool) -> Result<Admission, Error> {
        if !queue.life.accepts_frames() {
            return Err(Error::Closed);
        }
        if queue.streaming && !streaming {
            return Ok(Admission::Busy);
        }
        if queue.bytes >= self.config.send_queue_high_water {
            queue.wants_drain = true;
            return Ok(Admission::Full);
        }
        // The server's send queues together at their budget: only queues
        // under their low-water mark take more, so the fullest are refused
        // first, under the same policy as a full queue.
        if queue.bytes >= self.config.send_queue_low_water
            && queue.server_full(self.config.outbound_memory_budget)
        {
            queue.refused_for_server();
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

    /// Queues `out` under the send-queue policy (see
    /// [`queue_full`](Self::queue_full)): waits (the default), fails, or
    /// fails the connection with 1008 when the queue is full.
    ///
    /// A future of its own rather than an `async fn`: it is inside every
    /// application task that awaits a send, and an idle connection's task
    /// is as large as its largest await (the `async fn` kept three copies
    /// of the frames: 232 bytes against 96).
    pub(crate) fn send(&self, out: Outgoing, streaming: bool) -> QueueSend<'_> {
        QueueSend {
            shared: self,
            out: Some(out),
            streaming,
            waiting: None,
        }
    }

    /// Queues a ping or pong; control frames skip the high-water mark.
    pub(crate) fn send_control(&self, opcode: OpCode, payload: Vec<u8>) -> Result<(), Error> {
        if payload.len() > 125 {
            return Err(Error::ControlTooLong { len: payload.len() });
        }
        let frame = self.frame(opcode, true, payload);
        let mut queue = self.lock_queue();
        if !queue.life.accepts_frames() {
            return Err(Error::Closed);
        }
        queue.push(frame);
        drop(queue);
        self.writer_wake.wake();
        Ok(())
    }

    /// Records the round trip if `payload` answers our keepalive ping.
    pub(crate) fn pong_received(&self, payload: &[u8]) {
        if payload.len() != 8 {
            return;
        }
        let answered = self.lock_queue().life.pong(payload, self.runtime.now());
        if answered.is_some() {
            // The next ping is now due an interval after this pong, which
            // can be before the timer the writer armed for the pong's
            // deadline: let it plan again.
            self.writer_wake.wake();
        }
    }

    pub(crate) fn rtt(&self) -> Option<Duration> {
        self.lock_queue().life.rtt()
    }

    /// Answers a ping, replacing an answer still waiting in the queue.
    pub(crate) fn auto_pong(&self, payload: Vec<u8>) {
        let frame = self.frame(OpCode::Pong, true, payload);
        let mut queue = self.lock_queue();
        if queue.life.accepts_frames() {
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
        // The reason as it goes on the wire, cut to fit.
        let reason = fit_reason(reason);
        let frame = self.frame(OpCode::Close, true, close_payload(code, reason));
        let mode = if fail { Mode::Fail } else { Mode::Handshake };
        let mut queue = self.lock_queue();
        if !queue.life.close(code, reason, mode, self.runtime.now()) {
            return false;
        }
        queue.push(frame);
        drop(queue);
        self.writer_wake.wake();
        self.space.notify();
        true
    }

    /// Fails the connection with `code` and `reason` because of `error`,
    /// which the event stream yields before the close. Returns whether
    /// this call queued the close (no error is reported otherwise).
    pub(crate) fn fail_for(&self, code: CloseCode, reason: &str, error: Error) -> bool {
        let queued = self.queue_close(code, reason, true);
        if queued {
            self.report_error(error);
        }
        queued
    }

    /// Tells the application of `error` through the event stream, before
    /// anything still to be read.
    pub(crate) fn report_error(&self, error: Error) {
        self.reader.lock().keep(Event::Error(error));
        self.events_waker.wake();
    }

    /// Gives up on a connection whose writes are blocked: no close frame can
    /// be sent, so the transport is dropped.
    pub(crate) fn abort(&self, reason: &str) {
        self.lock_queue().life.abort(self.runtime.now());
        log::debug!("{} dropped: {reason}", self.id);
    }

    /// The peer's close frame arrived, with `code` and `reason`: answers it
    /// with the same code and reason unless this end's close is already
    /// queued (RFC 6455 §5.5.1).
    pub(crate) fn peer_closed(&self, code: CloseCode, reason: &str) {
        let echo = self.frame(OpCode::Close, true, close_payload(code, reason));
        {
            let mut queue = self.lock_queue();
            if queue.life.peer_closed(code, reason)
                && queue.life.close(
                    code,
                    fit_reason(reason),
                    Mode::Handshake,
                    self.runtime.now(),
                )
            {
                queue.push(echo);
            }
        }
        self.writer_wake.wake();
        self.space.notify();
        self.state_changed.notify(usize::MAX);
    }

    /// The stream ended without a close handshake (or the transport was
    /// dropped): stop the writer too.
    pub(crate) fn stream_ended(&self) {
        self.lock_queue().life.stream_ended(self.runtime.now());
        self.state_changed.notify(usize::MAX);
        self.writer_wake.wake();
        self.space.notify();
    }

    /// Records that `n` bytes arrived (for keepalive, idle timeouts, stats).
    pub(crate) fn received(&self, n: usize) {
        let elapsed = self.runtime.now().saturating_duration_since(self.started);
        let micros = elapsed.as_micros() as u64;
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

    /// The lifecycle's timeouts, from the configuration.
    pub(crate) fn timeouts(&self) -> Timeouts {
        Timeouts::from_config(&self.config)
    }

    /// What the keepalive and idle timeouts count from (see `received`).
    pub(crate) fn activity(&self) -> Activity {
        Activity {
            last_rx: self.last_rx(),
            last_data: self.last_data_rx(),
        }
    }

    /// Nothing reads the transport any more: the event stream stopped at a
    /// protocol error, or every handle is gone. Wakes a writer waiting for
    /// the peer's end, so that it reads and discards instead.
    pub(crate) fn stop_reading(&self) {
        self.lock_queue().life.stop_reading();
        self.state_changed.notify(usize::MAX);
    }

    /// How the connection closed, as the event stream reports it; `None`
    /// until that is settled (see `Lifecycle::report`).
    pub(crate) fn close_report(&self) -> Option<CloseEvent> {
        let report = self.lock_queue().life.report()?;
        Some(CloseEvent {
            code: report.code,
            reason: report.reason,
            clean: report.clean,
        })
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.lock_queue().life.is_finished()
    }

    /// Called by the writer when it has stopped: the connection is over.
    pub(crate) fn finished(&self) {
        let code = self.lock_queue().life.final_code();
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
            queue.life.finish();
            queue.discard();
        }
        // Whatever the writer did not read, the event stream now finds
        // ended (the transport is gone): it reports the close.
        self.reader.lock().writer_reads = false;
        self.space.notify();
        self.state_changed.notify(usize::MAX);
        self.events_waker.wake();
    }
}

impl Shared {
    /// Drops the transport now and lets the writer finish (a forced close).
    pub(crate) fn force_close(&self) {
        self.transport.kill();
        self.stream_ended();
    }

    /// Whether the peer's direction has ended (close frame or end of
    /// stream).
    pub(crate) fn peer_done(&self) -> bool {
        self.lock_queue().life.peer_done()
    }

    /// Whether the peer's close frame arrived: the closing handshake
    /// completed.
    pub(crate) fn closed_cleanly(&self) -> bool {
        self.lock_queue().life.closed_cleanly()
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

/// [`Shared::send`]'s future: offers the frames (writing them through when
/// the socket takes them), and while the queue is full or busy with a
/// streamed message, waits for it to change and offers them again.
pub(crate) struct QueueSend<'a> {
    shared: &'a Shared,
    /// The frames, until queued.
    out: Option<Outgoing>,
    streaming: bool,
    /// Taken before the second offer: space freed in between is not missed,
    /// and the first offer (nearly always the only one) takes no listener.
    waiting: Option<Waiter<'a>>,
}

impl std::future::Future for QueueSend<'_> {
    type Output = Result<(), Error>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        use std::task::Poll;
        let this = &mut *self;
        loop {
            if let Some(waiting) = &mut this.waiting {
                if std::pin::Pin::new(waiting).poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.waiting = None;
            }
            let out = this
                .out
                .take()
                .expect("QueueSend polled after it completed");
            let out = match this.shared.push_through(out, this.streaming, cx) {
                Err(e) => return Poll::Ready(Err(e)),
                Ok(Offer::Queued) => return Poll::Ready(Ok(())),
                Ok(Offer::Busy(out)) => out,
                Ok(Offer::Full(out)) => {
                    if let Err(e) = this.shared.send_queue_full() {
                        return Poll::Ready(Err(e));
                    }
                    out
                }
            };
            let waiting = this.shared.space.listen();
            match this.shared.offer(out, this.streaming) {
                Err(e) => return Poll::Ready(Err(e)),
                Ok(Offer::Queued) => return Poll::Ready(Ok(())),
                Ok(Offer::Full(out) | Offer::Busy(out)) => {
                    this.out = Some(out);
                    this.waiting = Some(waiting);
                }
            }
        }
    }
}
