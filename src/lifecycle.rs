//! A connection's lifecycle, sans-IO: one state machine that decides every
//! closing transition and answers every deadline.
//!
//! h11's rule holds here: **everything that changes the connection's state
//! lives in this file**. The async layer (`connection/`) reports what
//! happened (the application closed, the peer's close frame arrived, the
//! stream ended, the close frame was written) and asks two questions of
//! time, as quinn-proto's `poll_timeout`/`handle_timeout` do:
//! [`next_deadline`](Lifecycle::next_deadline) (when must I look again?) and
//! [`on_deadline`](Lifecycle::on_deadline) (the time has come: what now?).
//! So a runtime serves a connection with one "sleep until" timer, and the
//! tests below run on a clock they make up.
//!
//! The state is a pair, one enum per direction, as in h11: [`Ours`] (what
//! this end may still send) and [`Theirs`] (what the peer may still send).
//!
//! ```text
//!   Ours:   Open ──close / fail / peer's close / end of stream──▶ Closing ──writer stops──▶ Finished
//!                                                          (frame queued → written)
//!   Theirs: Open ──close frame──▶ Closed(code)
//!           Open ──end of stream, error, forced close──▶ Ended
//! ```
//!
//! Deadlines, all from [`Timeouts`]:
//! - while `Ours::Open`: the idle timeout (from the last data frame), the
//!   keepalive ping (an interval after the last sign of life or ping), and
//!   the pong's grace period after a ping;
//! - while `Ours::Closing`: the close timeout, from when the close was
//!   decided until the frame is written, then from when it was written until
//!   the whole close is over ([`close_deadline`](Lifecycle::close_deadline)):
//!   the peer's end, a client's wait for the server's end of TCP, and our
//!   shutdown (a TLS stream's `close_notify`) share that one deadline.
//!
//! The lifecycle also remembers both close frames (code and reason, this
//! end's once written, the peer's once read) and which came first, so that
//! the close the application is told of ([`report`](Lifecycle::report)) and
//! the one logged and counted ([`final_code`](Lifecycle::final_code)) are
//! the one that went on the wire.

use std::time::{Duration, Instant};

use crate::protocol::CloseCode;

/// The connection's timeouts (from [`Config`](crate::Config)).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    /// Ping after this long without a sign of life; `None`: no keepalive.
    pub(crate) ping_interval: Option<Duration>,
    /// How long a keepalive ping may go unanswered.
    pub(crate) ping_timeout: Duration,
    /// Close after this long without a data frame; `None`: never.
    pub(crate) idle: Option<Duration>,
    /// How long each closing step may take.
    pub(crate) close: Duration,
}

impl Timeouts {
    pub(crate) fn from_config(config: &crate::Config) -> Timeouts {
        Timeouts {
            ping_interval: config.ping_interval,
            ping_timeout: config.ping_timeout,
            idle: config.idle_timeout,
            close: config.close_timeout,
        }
    }
}

/// When the peer was last heard from: inputs, kept by the reader in atomics
/// so that a read takes no lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Activity {
    /// The last bytes of any kind (pings and pongs are signs of life).
    pub(crate) last_rx: Instant,
    /// The last bytes of a data frame (what the idle timeout counts).
    pub(crate) last_data: Instant,
}

/// How a close is meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A closing handshake: the peer's close frame is awaited as its answer.
    Handshake,
    /// Failing the connection (RFC 6455 §7.1.7): the writing side ends as
    /// soon as the close frame (if any) is written, and nothing the peer
    /// sends after is processed.
    Fail,
}

/// This end's sending direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ours {
    /// Frames of every kind may be queued.
    Open,
    /// Closing: nothing more may be queued; the writer finishes what is.
    Closing {
        mode: Mode,
        /// What the close timeout counts from: when the close was
        /// decided, then (once `written`) when the close frame was written.
        /// One instant for both keeps every connection's state small
        /// (idle memory).
        from: Instant,
        /// Whether the close frame has been written.
        written: bool,
    },
    /// The writer has stopped; nothing more is written.
    Finished,
}

/// The peer's sending direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Theirs {
    /// The peer may still send.
    Open,
    /// Its close frame arrived, with this code (1005 when it had none).
    Closed(CloseCode),
    /// Its stream ended without a close frame (or the transport was
    /// dropped).
    Ended,
}

/// A deadline that has come (see [`Lifecycle::on_deadline`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expired {
    /// Send a keepalive ping with this payload (its number, to recognise
    /// its pong and measure the round trip).
    Ping([u8; 8]),
    /// The keepalive ping's pong is overdue: fail the connection with 1011
    /// "keepalive timeout" (an error: the application is told).
    Keepalive,
    /// No data frame for the idle timeout: fail the connection with 1001
    /// "idle timeout" (the configuration's choice, not an error).
    Idle,
    /// A closing step overran the close timeout: the close frame could not
    /// be written, or the peer's end did not come. Drop the transport.
    CloseTimeout,
}

impl Expired {
    /// The close code and reason a failure closes with.
    pub(crate) fn close(self) -> Option<(CloseCode, &'static str)> {
        match self {
            Expired::Keepalive => Some((CloseCode::INTERNAL_ERROR, "keepalive timeout")),
            Expired::Idle => Some((CloseCode::GOING_AWAY, "idle timeout")),
            Expired::Ping(_) | Expired::CloseTimeout => None,
        }
    }
}

/// How a connection closed, as the application is told
/// ([`CloseEvent`](crate::CloseEvent)): the close frame that began the
/// closing handshake and whether the peer's close frame arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Report {
    pub(crate) code: CloseCode,
    pub(crate) reason: String,
    pub(crate) clean: bool,
}

/// The close frames that went on the wire (boxed in the lifecycle: only a
/// closing connection needs them, and every connection holds one).
#[derive(Debug, Default)]
struct Frames {
    /// This end's close frame (code and reason as sent), once queued.
    sent: Option<(CloseCode, String)>,
    /// Whether `sent` was written.
    written: bool,
    /// The peer's close frame (1005 and no reason when it had no code).
    received: Option<(CloseCode, String)>,
    /// Whether the peer's close frame came while this end was open: the
    /// peer began the closing handshake (this end's frame is its echo).
    peer_began: bool,
}

/// One connection's lifecycle. See the module documentation.
#[derive(Debug)]
pub(crate) struct Lifecycle {
    ours: Ours,
    theirs: Theirs,
    /// Whether anything still reads the transport (the event stream).
    reading: bool,
    /// The close frames, once either end closes.
    frames: Option<Box<Frames>>,
    keepalive: Keepalive,
}

/// The keepalive's memory (every connection holds it: kept small).
#[derive(Debug)]
struct Keepalive {
    /// When the last keepalive ping was sent (answered or not).
    last_ping: Option<Instant>,
    /// Whether that ping is still unanswered (nothing heard since it was
    /// sent, as far as the last check saw).
    awaiting: bool,
    /// The number of the last keepalive ping: its payload, big-endian.
    seq: u64,
    /// The last measured round trip in microseconds; 0 until measured.
    rtt_micros: u32,
}

impl Lifecycle {
    /// An open connection.
    pub(crate) fn new() -> Lifecycle {
        Lifecycle {
            ours: Ours::Open,
            theirs: Theirs::Open,
            reading: true,
            frames: None,
            keepalive: Keepalive {
                last_ping: None,
                awaiting: false,
                seq: 0,
                rtt_micros: 0,
            },
        }
    }

    // ---- What the state allows ----

    /// Whether frames may be queued: this end has not begun closing.
    pub(crate) fn accepts_frames(&self) -> bool {
        self.ours == Ours::Open
    }

    /// Whether both directions are open.
    pub(crate) fn is_open(&self) -> bool {
        self.ours == Ours::Open && self.theirs == Theirs::Open
    }

    /// Whether the writer should stop once nothing is left to write: the
    /// connection is failing (no closing handshake to wait for) or over.
    pub(crate) fn writer_may_stop(&self) -> bool {
        matches!(
            self.ours,
            Ours::Closing {
                mode: Mode::Fail,
                ..
            } | Ours::Finished
        )
    }

    /// Whether this end is failing the connection.
    pub(crate) fn failing(&self) -> bool {
        matches!(
            self.ours,
            Ours::Closing {
                mode: Mode::Fail,
                ..
            }
        )
    }

    /// Whether the writer has stopped.
    pub(crate) fn is_finished(&self) -> bool {
        self.ours == Ours::Finished
    }

    /// Whether the peer's direction has ended (close frame or end of
    /// stream).
    pub(crate) fn peer_done(&self) -> bool {
        self.theirs != Theirs::Open
    }

    /// Whether nothing reads the transport any more.
    pub(crate) fn reader_stopped(&self) -> bool {
        !self.reading
    }

    /// Whether the closing handshake completed: the peer's close arrived.
    pub(crate) fn closed_cleanly(&self) -> bool {
        matches!(self.theirs, Theirs::Closed(_))
    }

    /// How the connection closed, or `None` while that is not settled:
    /// this end's close frame is queued and neither written nor given up
    /// (the writer has not stopped).
    ///
    /// - The peer began the closing handshake: its code and reason (1005
    ///   when its frame had none), clean.
    /// - This end began it and its close frame was written: that frame's
    ///   code and reason; clean when the peer's close frame arrived.
    /// - No close frame of this end's went out: the peer's, if one came
    ///   (clean), else 1006 with no reason (not clean): the transport
    ///   ended, or writes were given up before the frame was written.
    pub(crate) fn report(&self) -> Option<Report> {
        let clean = self.closed_cleanly();
        let report = |(code, reason): &(CloseCode, String), clean| Report {
            code: *code,
            reason: reason.clone(),
            clean,
        };
        let frames = self.frames.as_deref();
        if let Some(Frames {
            received: Some(theirs),
            peer_began: true,
            ..
        }) = frames
        {
            return Some(report(theirs, true));
        }
        match frames {
            Some(Frames {
                sent: Some(ours),
                written: true,
                ..
            }) => Some(report(ours, clean)),
            Some(Frames {
                sent: Some(_),
                written: false,
                ..
            }) if self.ours != Ours::Finished => None,
            Some(Frames {
                received: Some(theirs),
                ..
            }) => Some(report(theirs, true)),
            _ => Some(Report {
                code: CloseCode::ABNORMAL,
                reason: String::new(),
                clean: false,
            }),
        }
    }

    /// The code the connection ended with, for logs and metrics: the
    /// [`report`](Self::report)'s, or 1006 while it is not settled.
    pub(crate) fn final_code(&self) -> CloseCode {
        self.report().map_or(CloseCode::ABNORMAL, |r| r.code)
    }

    fn frames(&mut self) -> &mut Frames {
        self.frames.get_or_insert_with(Box::default)
    }

    /// The round trip measured by the last answered keepalive ping.
    pub(crate) fn rtt(&self) -> Option<Duration> {
        let micros = self.keepalive.rtt_micros;
        (micros > 0).then(|| Duration::from_micros(micros.into()))
    }

    // ---- Transitions ----

    /// This end closes with `code` and `reason` (as they go on the wire:
    /// its close frame is to be queued now). Returns whether it may: only
    /// once, while this end is open.
    pub(crate) fn close(
        &mut self,
        code: CloseCode,
        reason: &str,
        mode: Mode,
        now: Instant,
    ) -> bool {
        if self.ours != Ours::Open {
            return false;
        }
        self.frames().sent = Some((code, reason.to_owned()));
        self.ours = Ours::Closing {
            mode,
            from: now,
            written: false,
        };
        true
    }

    /// The peer's close frame arrived, with `code` and `reason` (1005 and
    /// none when it had no code). Returns whether to echo them: this end
    /// has not closed yet (RFC 6455 §5.5.1: the answer repeats the code;
    /// as Node's `ws` and Python's `websockets` do, it repeats the reason
    /// too).
    pub(crate) fn peer_closed(&mut self, code: CloseCode, reason: &str) -> bool {
        if self.theirs == Theirs::Open {
            self.theirs = Theirs::Closed(code);
            let began = self.ours == Ours::Open;
            let frames = self.frames();
            frames.received = Some((code, reason.to_owned()));
            frames.peer_began = began;
        }
        self.ours == Ours::Open
    }

    /// The peer's stream ended, or reading it failed, or the transport was
    /// dropped: nothing more comes, and this end, if still open, ends
    /// without a close frame.
    pub(crate) fn stream_ended(&mut self, now: Instant) {
        if self.theirs == Theirs::Open {
            self.theirs = Theirs::Ended;
        }
        self.end_without_close(now);
    }

    /// Nothing reads the transport any more (a protocol error stopped the
    /// event stream, or every handle is gone).
    pub(crate) fn stop_reading(&mut self) {
        self.reading = false;
    }

    /// The close frame has been written.
    pub(crate) fn close_written(&mut self, now: Instant) {
        let Ours::Closing { from, written, .. } = &mut self.ours else {
            return;
        };
        if !*written {
            *written = true;
            *from = now;
            self.frames().written = true;
        }
    }

    /// Writes were given up (blocked past a deadline): no close frame can
    /// go out any more.
    pub(crate) fn abort(&mut self, now: Instant) {
        self.end_without_close(now);
    }

    /// This end, if still open, ends without a close frame (failing).
    fn end_without_close(&mut self, now: Instant) {
        if self.ours == Ours::Open {
            self.ours = Ours::Closing {
                mode: Mode::Fail,
                from: now,
                written: false,
            };
        }
    }

    /// The writer has stopped and the transport is dropped.
    pub(crate) fn finish(&mut self) {
        self.ours = Ours::Finished;
        if self.theirs == Theirs::Open {
            self.theirs = Theirs::Ended;
        }
    }

    /// A pong arrived: if it echoes the keepalive ping, records the round
    /// trip and returns it (the next ping is then due an interval from now,
    /// which the writer's timer may not know).
    pub(crate) fn pong(&mut self, payload: &[u8], now: Instant) -> Option<Duration> {
        let sent = self.keepalive.last_ping?;
        if payload != self.keepalive.seq.to_be_bytes() {
            return None;
        }
        let rtt = now.saturating_duration_since(sent);
        self.keepalive.rtt_micros = u32::try_from(rtt.as_micros()).unwrap_or(u32::MAX).max(1);
        self.rtt()
    }

    // ---- Deadlines ----

    /// When [`on_deadline`](Self::on_deadline) must be called next, given
    /// the connection's timeouts and `activity`; `None`: nothing is timed
    /// (ask again after the next transition or sign of life).
    ///
    /// The timeouts are arguments, not state: they come from the shared
    /// configuration, and every connection's bytes count (idle memory).
    pub(crate) fn next_deadline(&self, t: Timeouts, activity: Activity) -> Option<Instant> {
        match &self.ours {
            Ours::Open => {
                let awaiting = self.awaiting_pong(activity);
                [
                    t.idle.map(|idle| activity.last_data + idle),
                    awaiting.map(|sent| sent + t.ping_timeout),
                    t.ping_interval
                        .filter(|_| awaiting.is_none())
                        .map(|interval| self.quiet_since(activity) + interval),
                ]
                .into_iter()
                .flatten()
                .min()
            }
            Ours::Closing { .. } => self.close_deadline(t),
            Ours::Finished => None,
        }
    }

    /// While closing, the one deadline of the whole close: `t.close` from
    /// when the close frame was written (or, until it is, from when the
    /// close was decided). Every closing step after the frame (the peer's
    /// close frame, its end of stream, our shutdown and TLS `close_notify`)
    /// must be done by then. `None` when not closing.
    pub(crate) fn close_deadline(&self, t: Timeouts) -> Option<Instant> {
        match &self.ours {
            Ours::Closing { from, .. } => Some(*from + t.close),
            Ours::Open | Ours::Finished => None,
        }
    }

    /// The time is `now`: what is due, if anything. A ping is recorded as
    /// sent; a failure or timeout is for the caller to carry out (through
    /// [`close`](Self::close) or [`abort`](Self::abort)).
    pub(crate) fn on_deadline(
        &mut self,
        t: Timeouts,
        now: Instant,
        activity: Activity,
    ) -> Option<Expired> {
        match &self.ours {
            Ours::Open => self.keepalive_due(t, now, activity),
            Ours::Closing { .. } => {
                let due = self.next_deadline(t, activity)?;
                (now >= due).then_some(Expired::CloseTimeout)
            }
            Ours::Finished => None,
        }
    }

    fn keepalive_due(&mut self, t: Timeouts, now: Instant, activity: Activity) -> Option<Expired> {
        if let Some(idle) = t.idle
            && now >= activity.last_data + idle
        {
            return Some(Expired::Idle);
        }
        if let Some(sent) = self.ping_sent() {
            if activity.last_rx >= sent {
                // Any bytes after the ping are life, its pong or not.
                self.keepalive.awaiting = false;
            } else if now >= sent + t.ping_timeout {
                return Some(Expired::Keepalive);
            }
        }
        let interval = t.ping_interval?;
        if self.keepalive.awaiting || now < self.quiet_since(activity) + interval {
            return None;
        }
        self.keepalive.awaiting = true;
        self.keepalive.last_ping = Some(now);
        self.keepalive.seq += 1;
        Some(Expired::Ping(self.keepalive.seq.to_be_bytes()))
    }

    /// The unanswered keepalive ping's send time: sent, and nothing heard
    /// since.
    fn awaiting_pong(&self, activity: Activity) -> Option<Instant> {
        self.ping_sent().filter(|&sent| activity.last_rx < sent)
    }

    /// When the keepalive ping still taken as unanswered was sent.
    fn ping_sent(&self) -> Option<Instant> {
        self.keepalive.last_ping.filter(|_| self.keepalive.awaiting)
    }

    /// Since when the connection has been quiet: the last sign of life or
    /// keepalive ping, whichever came later.
    fn quiet_since(&self, activity: Activity) -> Instant {
        self.keepalive
            .last_ping
            .map_or(activity.last_rx, |ping| ping.max(activity.last_rx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    /// A lifecycle on a made-up clock: instants are whole seconds from `t0`.
    struct Fake {
        t: Timeouts,
        t0: Instant,
        life: Lifecycle,
    }

    impl Fake {
        fn new(interval: Option<u32>, ping_timeout: u32, idle: Option<u32>) -> Fake {
            let t0 = Instant::now();
            Fake {
                t: Timeouts {
                    ping_interval: interval.map(|s| s * S),
                    ping_timeout: ping_timeout * S,
                    idle: idle.map(|s| s * S),
                    close: 5 * S,
                },
                t0,
                life: Lifecycle::new(),
            }
        }

        fn at(&self, secs: u32) -> Instant {
            self.t0 + secs * S
        }

        /// Bytes last at `rx`, bytes of a data frame last at `data`.
        fn heard(&self, rx: u32, data: u32) -> Activity {
            Activity {
                last_rx: self.at(rx),
                last_data: self.at(data),
            }
        }

        /// What is due at `secs`, and the next deadline after (in seconds),
        /// as the writer asks: `on_deadline`, then `next_deadline`.
        fn tick(&mut self, secs: u32, a: Activity) -> (Option<Expired>, Option<u64>) {
            let expired = self.life.on_deadline(self.t, self.at(secs), a);
            let next = self
                .life
                .next_deadline(self.t, a)
                .map(|d| d.duration_since(self.t0).as_secs());
            (expired, next)
        }
    }

    fn is_ping(e: Option<Expired>) -> bool {
        matches!(e, Some(Expired::Ping(_)))
    }

    const OVERDUE: Option<Expired> = Some(Expired::Keepalive);
    const IDLE: Option<Expired> = Some(Expired::Idle);

    fn report(code: u16, reason: &str, clean: bool) -> Option<Report> {
        Some(Report {
            code: CloseCode::from(code),
            reason: reason.to_owned(),
            clean,
        })
    }

    #[test]
    fn pings_after_a_quiet_interval_and_fails_without_pong() {
        let mut f = Fake::new(Some(10), 5, None);
        assert_eq!(f.tick(0, f.heard(0, 0)), (None, Some(10)));
        // Traffic at 8 pushes the ping back.
        assert_eq!(f.tick(9, f.heard(8, 8)), (None, Some(18)));
        let (ping, next) = f.tick(18, f.heard(8, 8));
        assert!(is_ping(ping));
        assert_eq!(next, Some(23), "the pong is due within the timeout");
        assert_eq!(f.tick(19, f.heard(8, 8)), (None, Some(23)));
        assert_eq!(f.tick(23, f.heard(8, 8)).0, OVERDUE);
    }

    #[test]
    fn a_pong_clears_the_deadline_and_measures_the_round_trip() {
        let mut f = Fake::new(Some(10), 5, None);
        let (Some(Expired::Ping(payload)), _) = f.tick(10, f.heard(0, 0)) else {
            panic!("a ping is due after 10 s");
        };
        assert_eq!(f.life.pong(b"not ours", f.at(11)), None);
        assert_eq!(f.life.pong(&payload, f.at(11)), Some(S));
        assert_eq!(f.life.rtt(), Some(S));
        // The pong arrived at 11: the next ping is due at 21.
        assert_eq!(f.tick(12, f.heard(11, 11)), (None, Some(21)));
        assert!(is_ping(f.tick(21, f.heard(11, 11)).0));
    }

    #[test]
    fn idle_timeout_counts_data_only() {
        let mut f = Fake::new(None, 5, Some(30));
        assert_eq!(f.tick(1, f.heard(0, 0)), (None, Some(30)));
        assert_eq!(f.tick(30, f.heard(29, 0)).0, IDLE);
        let mut off = Fake::new(None, 5, None);
        assert_eq!(off.tick(1000, off.heard(0, 0)), (None, None));
    }

    #[test]
    fn answering_pings_does_not_keep_an_idle_peer() {
        let mut f = Fake::new(Some(2), 5, Some(7));
        assert!(is_ping(f.tick(2, f.heard(0, 0)).0));
        // Its pong at 3 is life (the next ping is due at 5), not data.
        assert_eq!(f.tick(3, f.heard(3, 0)), (None, Some(5)));
        assert!(is_ping(f.tick(5, f.heard(3, 0)).0));
        assert_eq!(f.tick(6, f.heard(6, 0)), (None, Some(7)));
        assert_eq!(f.tick(7, f.heard(6, 0)).0, IDLE);
        // A message at 6 moves the idle deadline to 13.
        let mut f = Fake::new(None, 5, Some(7));
        assert_eq!(f.tick(7, f.heard(6, 6)), (None, Some(13)));
    }

    #[test]
    fn a_closing_handshake_from_this_end_reports_its_frame() {
        let mut f = Fake::new(Some(10), 5, None);
        let a = f.heard(0, 0);
        assert!(f.life.is_open() && f.life.accepts_frames());
        assert_eq!(f.life.report(), report(1006, "", false), "nothing sent");
        assert!(
            f.life
                .close(CloseCode::from(4000), "bye", Mode::Handshake, f.at(1))
        );
        assert!(
            !f.life
                .close(CloseCode::GOING_AWAY, "again", Mode::Fail, f.at(1))
        );
        assert!(!f.life.accepts_frames() && !f.life.writer_may_stop() && !f.life.failing());
        assert_eq!(f.life.report(), None, "queued, not yet written");
        // The frame must be written within the close timeout: keepalive is
        // off now, only the close deadline remains.
        assert_eq!(f.tick(2, a), (None, Some(6)));
        f.life.close_written(f.at(3));
        assert_eq!(f.life.report(), report(4000, "bye", false));
        assert_eq!(f.tick(4, a), (None, Some(8)));
        // The peer answers with another code: nothing to echo, the
        // handshake is complete, and the close reported is still ours.
        assert!(!f.life.peer_closed(CloseCode::NORMAL, "ok"));
        assert!(f.life.closed_cleanly() && f.life.peer_done());
        assert_eq!(f.life.report(), report(4000, "bye", true));
        f.life.finish();
        assert!(f.life.is_finished());
        assert_eq!(f.life.final_code(), CloseCode::from(4000));
        assert_eq!(f.tick(100, a), (None, None));
    }

    #[test]
    fn a_closing_handshake_from_the_peer_is_echoed_and_reported() {
        let mut f = Fake::new(None, 5, None);
        assert!(f.life.peer_closed(CloseCode::GOING_AWAY, "later"));
        assert!(!f.life.is_open() && f.life.accepts_frames());
        // Reported before the echo is even queued.
        assert_eq!(f.life.report(), report(1001, "later", true));
        assert!(
            f.life
                .close(CloseCode::GOING_AWAY, "later", Mode::Handshake, f.at(0))
        );
        assert_eq!(f.life.report(), report(1001, "later", true));
        assert_eq!(f.life.final_code(), CloseCode::GOING_AWAY);
        assert!(f.life.closed_cleanly());
    }

    #[test]
    fn the_close_timeout_bounds_every_closing_step() {
        let mut f = Fake::new(None, 5, None);
        let a = f.heard(0, 0);
        f.life
            .close(CloseCode::NORMAL, "", Mode::Handshake, f.at(0));
        // The frame could not be written in 5 s.
        assert_eq!(f.tick(4, a).0, None);
        assert_eq!(f.tick(5, a).0, Some(Expired::CloseTimeout));
        f.life.abort(f.at(5));
        assert_eq!(f.life.report(), None, "until the writer stops");
        f.life.finish();
        assert_eq!(f.life.report(), report(1006, "", false), "nothing went out");
        // Written at 4: the peer's end is awaited until 9.
        let mut f = Fake::new(None, 5, None);
        f.life
            .close(CloseCode::NORMAL, "", Mode::Handshake, f.at(0));
        f.life.close_written(f.at(4));
        assert_eq!(f.tick(8, a), (None, Some(9)));
        assert_eq!(f.tick(9, a).0, Some(Expired::CloseTimeout));
        f.life.finish();
        assert_eq!(f.life.report(), report(1000, "", false), "no answer");
    }

    #[test]
    fn one_close_deadline_for_the_whole_close() {
        let mut f = Fake::new(Some(10), 5, Some(30));
        let a = f.heard(0, 0);
        let secs = |f: &Fake| {
            f.life
                .close_deadline(f.t)
                .map(|d| d.duration_since(f.t0).as_secs())
        };
        assert_eq!(secs(&f), None, "open: no close deadline");
        f.life
            .close(CloseCode::NORMAL, "", Mode::Handshake, f.at(2));
        assert_eq!(secs(&f), Some(7), "from the decision until written");
        f.life.close_written(f.at(3));
        assert_eq!(secs(&f), Some(8), "from when the frame was written");
        // The peer's close frame, later its end of stream: the steps after
        // (the client's wait for the server's FIN, the TLS close_notify)
        // keep the same deadline, whatever the activity.
        assert!(!f.life.peer_closed(CloseCode::NORMAL, ""));
        assert_eq!(secs(&f), Some(8));
        f.life.stream_ended(f.at(6));
        assert_eq!(secs(&f), Some(8));
        assert_eq!(f.tick(7, f.heard(7, 7)), (None, Some(8)));
        assert_eq!(f.tick(8, a).0, Some(Expired::CloseTimeout));
        f.life.finish();
        assert_eq!(secs(&f), None, "finished: nothing is timed");
    }

    #[test]
    fn failing_reports_the_frame_sent_and_skips_the_handshake() {
        let mut f = Fake::new(None, 5, None);
        f.life.stop_reading();
        assert!(
            f.life
                .close(CloseCode::PROTOCOL_ERROR, "bad frame", Mode::Fail, f.at(0))
        );
        assert!(f.life.reader_stopped() && f.life.failing() && f.life.writer_may_stop());
        assert_eq!(f.life.report(), None);
        f.life.close_written(f.at(0));
        assert_eq!(f.life.report(), report(1002, "bad frame", false));
        // The peer's close that follows is not echoed, and makes it clean.
        assert!(!f.life.peer_closed(CloseCode::PROTOCOL_ERROR, ""));
        assert_eq!(f.life.report(), report(1002, "bad frame", true));
        assert_eq!(f.life.final_code(), CloseCode::PROTOCOL_ERROR);
    }

    #[test]
    fn an_ended_stream_ends_this_side_without_a_close_frame() {
        let mut f = Fake::new(Some(1), 1, None);
        f.life.stream_ended(f.at(0));
        assert_eq!(f.life.theirs, Theirs::Ended);
        assert!(f.life.writer_may_stop() && !f.life.closed_cleanly());
        assert_eq!(f.life.final_code(), CloseCode::ABNORMAL);
        assert_eq!(f.life.report(), report(1006, "", false));
        // No keepalive while closing; the close timeout bounds the writer.
        assert_eq!(f.tick(0, f.heard(0, 0)), (None, Some(5)));
    }

    #[test]
    fn a_frame_never_written_is_not_reported() {
        // A slow peer: the policy's 1008 is queued behind what it does not
        // read, and writes are given up.
        let mut f = Fake::new(None, 5, None);
        f.life.close(
            CloseCode::POLICY_VIOLATION,
            "send queue full",
            Mode::Fail,
            f.at(0),
        );
        f.life.abort(f.at(5));
        assert!(
            !f.life
                .close(CloseCode::NORMAL, "", Mode::Handshake, f.at(5))
        );
        f.life.finish();
        assert_eq!(f.life.report(), report(1006, "", false));
        assert_eq!(f.life.final_code(), CloseCode::ABNORMAL);
        // Its close came although ours could not go out: the peer's.
        let mut f = Fake::new(None, 5, None);
        f.life
            .close(CloseCode::NORMAL, "", Mode::Handshake, f.at(0));
        assert!(!f.life.peer_closed(CloseCode::GOING_AWAY, "me too"));
        f.life.finish();
        assert_eq!(f.life.report(), report(1001, "me too", true));
    }
}
