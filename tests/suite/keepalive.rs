//! Keepalive pings and the idle timeout over real sockets, against an
//! independent peer that stays silent: one test per timeout path. The
//! timer logic itself (exact deadlines, answering peers, talking peers,
//! peers that only answer pings) is tested on a manual clock in
//! `harness.rs`, in no real time.

use std::time::{Duration, Instant};

use crate::common::{self, *};
use wsgate::{CloseCode, Config};

#[test]
fn keepalive_fails_a_peer_that_never_answers_with_1011() {
    common::run(async move {
        let mut config = Config::default();
        config.ping_interval = Some(Duration::from_millis(300));
        config.ping_timeout = Duration::from_millis(300);
        let ops = ops_server(config).await;
        let addr = ops.addr;
        let client = blocking(move || {
            let mut s = raw_ws(addr, "/silent");
            let start = Instant::now();
            let (close, before) = read_until_close(&mut s);
            let at = start.elapsed();
            expect_end(&mut s);
            (close, before, at)
        });
        let acc = ops.accepted().await;
        let (close, before, at) = within("the keepalive close", client).await;
        assert_eq!(close, Some((1011, "keepalive timeout".to_owned())));
        assert!(!before.is_empty(), "no ping before the close");
        assert!(
            before
                .iter()
                .all(|(first, p)| *first == 0x89 && p.len() == 8),
            "{before:?}"
        );
        assert!(at >= Duration::from_millis(500), "closed after {at:?}");
        assert!(at < Duration::from_secs(3), "closed after {at:?}");
        let event = acc.close_event().await;
        assert_eq!(event.code, CloseCode::INTERNAL_ERROR);
        assert!(!event.clean);
        assert_eq!(acc.conn.rtt(), None);
    })
}

#[test]
fn idle_timeout_closes_a_silent_peer_with_1001() {
    common::run(async move {
        let mut config = quiet_config();
        config.idle_timeout = Some(Duration::from_millis(300));
        let ops = ops_server(config).await;
        let addr = ops.addr;
        let silent = blocking(move || {
            let mut s = raw_ws(addr, "/silent");
            let start = Instant::now();
            let (close, before) = read_until_close(&mut s);
            (close, before.len(), start.elapsed())
        });
        let (close, frames, at) = within("the idle close", silent).await;
        assert_eq!(close, Some((1001, "idle timeout".to_owned())));
        assert_eq!(frames, 0);
        assert!(at >= Duration::from_millis(250), "closed after {at:?}");
        assert!(at < Duration::from_secs(3), "closed after {at:?}");
    })
}
