//! Keepalive and idle timeouts, as plain logic over instants.
//!
//! The writer task asks [`Keepalive::check`] what is due whenever it wakes:
//! a ping after a quiet interval, failing a peer whose pong is overdue, or
//! closing an idle connection. Any bytes received count as a sign of life, so
//! a busy connection is never pinged; only data frames count against the
//! idle timeout, so a peer that answers pings but sends nothing is idle.

use std::time::{Duration, Instant};

/// What the connection should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// Nothing; check again at this instant (or when woken, if `None`).
    Wait(Option<Instant>),
    /// Send a keepalive ping.
    Ping,
    /// The peer did not answer the ping in time: fail with 1011.
    PongOverdue,
    /// Nothing arrived for the idle timeout: close with 1001.
    Idle,
}

#[derive(Debug)]
pub(crate) struct Keepalive {
    interval: Option<Duration>,
    timeout: Duration,
    idle: Option<Duration>,
    /// When the unanswered keepalive ping was sent.
    ping_sent: Option<Instant>,
    /// When the last keepalive ping was sent (answered or not).
    last_ping: Option<Instant>,
}

impl Keepalive {
    pub(crate) fn new(
        interval: Option<Duration>,
        timeout: Duration,
        idle: Option<Duration>,
    ) -> Self {
        Keepalive {
            interval,
            timeout,
            idle,
            ping_sent: None,
            last_ping: None,
        }
    }

    /// What is due at `now`, given that bytes last arrived at `last_rx`,
    /// and bytes of a data frame at `last_data`.
    pub(crate) fn check(&mut self, now: Instant, last_rx: Instant, last_data: Instant) -> Due {
        if let Some(idle) = self.idle
            && now >= last_data + idle
        {
            return Due::Idle;
        }
        if let Some(sent) = self.ping_sent {
            if last_rx >= sent {
                self.ping_sent = None;
            } else if now >= sent + self.timeout {
                return Due::PongOverdue;
            }
        }
        let quiet_since = self.last_ping.map_or(last_rx, |p| p.max(last_rx));
        if let Some(interval) = self.interval
            && self.ping_sent.is_none()
            && now >= quiet_since + interval
        {
            self.ping_sent = Some(now);
            self.last_ping = Some(now);
            return Due::Ping;
        }
        let deadlines = [
            self.idle.map(|idle| last_data + idle),
            self.ping_sent.map(|sent| sent + self.timeout),
            self.interval
                .filter(|_| self.ping_sent.is_none())
                .map(|interval| quiet_since + interval),
        ];
        Due::Wait(deadlines.into_iter().flatten().min())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn pings_after_a_quiet_interval_and_fails_without_pong() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(Some(10 * S), 5 * S, None);
        assert_eq!(k.check(t0, t0, t0), Due::Wait(Some(t0 + 10 * S)));
        // Traffic at t0+8 pushes the ping back.
        assert_eq!(
            k.check(t0 + 9 * S, t0 + 8 * S, t0 + 8 * S),
            Due::Wait(Some(t0 + 18 * S))
        );
        assert_eq!(k.check(t0 + 18 * S, t0 + 8 * S, t0 + 8 * S), Due::Ping);
        assert_eq!(
            k.check(t0 + 19 * S, t0 + 8 * S, t0 + 8 * S),
            Due::Wait(Some(t0 + 23 * S))
        );
        assert_eq!(
            k.check(t0 + 23 * S, t0 + 8 * S, t0 + 8 * S),
            Due::PongOverdue
        );
    }

    #[test]
    fn a_pong_clears_the_deadline() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(Some(10 * S), 5 * S, None);
        assert_eq!(k.check(t0 + 10 * S, t0, t0), Due::Ping);
        // The pong arrived at t0+11.
        assert_eq!(
            k.check(t0 + 12 * S, t0 + 11 * S, t0 + 11 * S),
            Due::Wait(Some(t0 + 21 * S))
        );
        assert_eq!(k.check(t0 + 21 * S, t0 + 11 * S, t0 + 11 * S), Due::Ping);
    }

    #[test]
    fn idle_timeout() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(None, 5 * S, Some(30 * S));
        assert_eq!(k.check(t0 + S, t0, t0), Due::Wait(Some(t0 + 30 * S)));
        assert_eq!(k.check(t0 + 30 * S, t0, t0), Due::Idle);
        let mut off = Keepalive::new(None, 5 * S, None);
        assert_eq!(off.check(t0 + 1000 * S, t0, t0), Due::Wait(None));
    }

    #[test]
    fn answering_pings_does_not_keep_an_idle_peer() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(Some(2 * S), 5 * S, Some(7 * S));
        assert_eq!(k.check(t0 + 2 * S, t0, t0), Due::Ping);
        // Its pong at t0+3 is life (the next ping is due at t0+5), not data.
        assert_eq!(
            k.check(t0 + 3 * S, t0 + 3 * S, t0),
            Due::Wait(Some(t0 + 5 * S))
        );
        assert_eq!(k.check(t0 + 5 * S, t0 + 3 * S, t0), Due::Ping);
        assert_eq!(
            k.check(t0 + 6 * S, t0 + 6 * S, t0),
            Due::Wait(Some(t0 + 7 * S))
        );
        assert_eq!(k.check(t0 + 7 * S, t0 + 6 * S, t0), Due::Idle);
        // A message at t0+6 moves the idle deadline to t0+13.
        let mut k = Keepalive::new(None, 5 * S, Some(7 * S));
        assert_eq!(
            k.check(t0 + 7 * S, t0 + 6 * S, t0 + 6 * S),
            Due::Wait(Some(t0 + 13 * S))
        );
    }
}
