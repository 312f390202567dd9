//! Keepalive pings and the idle timeout, against peers that answer,
//! talk, or stay silent.

use std::io;
use std::time::{Duration, Instant};

use crate::common::{self, *};
use tungstenite::Message as WsMessage;
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
fn keepalive_keeps_a_peer_that_answers_and_measures_its_rtt() {
    common::run(async move {
        let mut config = Config::default();
        config.ping_interval = Some(Duration::from_millis(200));
        config.ping_timeout = Duration::from_millis(300);
        let ops = ops_server(config).await;
        let addr = ops.addr;
        let client = blocking(move || {
            let mut ws = ws_connect(addr, "/answering");
            ws.get_mut()
                .set_read_timeout(Some(Duration::from_millis(20)))
                .unwrap();
            let start = Instant::now();
            let mut pings = 0;
            // tungstenite answers pings as it reads.
            while start.elapsed() < Duration::from_millis(2000) {
                match ws.read() {
                    Ok(WsMessage::Ping(_)) => pings += 1,
                    Ok(other) => panic!("unexpected {other:?}"),
                    Err(tungstenite::Error::Io(e))
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) => {}
                    Err(e) => panic!("the connection failed: {e:?}"),
                }
            }
            ws.get_mut().set_read_timeout(Some(TIMEOUT)).unwrap();
            (ws, pings)
        });
        let acc = ops.accepted().await;
        let conn = acc.conn.clone();
        eventually("a measured rtt", Duration::from_secs(2), || {
            conn.rtt().is_some()
        })
        .await;
        let (mut ws, pings) = within("the client", client).await;
        assert!(pings >= 2, "{pings} pings in 2 s");
        let rtt = acc.conn.rtt().unwrap();
        assert!(rtt < Duration::from_millis(500), "rtt {rtt:?}");
        assert_eq!(acc.conn.stats().rtt, Some(rtt));
        assert!(acc.conn.is_open(), "an answering peer was closed");
        let done = blocking(move || {
            ws.close(None).unwrap();
            ws_finish_close(&mut ws);
        });
        within("close", done).await;
    })
}

#[test]
fn idle_timeout_closes_a_silent_peer_with_1001_and_keeps_a_talking_one() {
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
        let talking = blocking(move || {
            let mut ws = ws_connect(addr, "/talking");
            // The behaviour under test: a peer that talks a third of the
            // idle timeout apart, for twice the timeout, stays open.
            for i in 0..6 {
                std::thread::sleep(Duration::from_millis(100));
                ws.send(WsMessage::text(format!("{i}"))).unwrap();
                assert_eq!(text_of(&ws_read_data(&mut ws)), i.to_string());
            }
            ws.close(None).unwrap();
            ws_finish_close(&mut ws);
        });
        let (close, frames, at) = within("the idle close", silent).await;
        assert_eq!(close, Some((1001, "idle timeout".to_owned())));
        assert_eq!(frames, 0);
        assert!(at >= Duration::from_millis(250), "closed after {at:?}");
        assert!(at < Duration::from_secs(3), "closed after {at:?}");
        within("the talking client (0.6 s)", talking).await;
    })
}

/// Answering keepalive pings does not keep an idle connection open: the
/// idle timeout counts data frames, not pongs.
#[test]
fn idle_timeout_closes_a_peer_that_only_answers_pings() {
    common::run(async move {
        let mut config = quiet_config();
        config.idle_timeout = Some(Duration::from_millis(600));
        config.ping_interval = Some(Duration::from_millis(100));
        config.ping_timeout = Duration::from_secs(5);
        let ops = ops_server(config).await;
        let addr = ops.addr;
        let client = blocking(move || {
            let mut ws = ws_connect(addr, "/answers-pings");
            let start = Instant::now();
            let mut pings = 0;
            loop {
                // tungstenite answers each ping on the next read.
                match ws.read() {
                    Ok(WsMessage::Ping(_)) => pings += 1,
                    Ok(WsMessage::Close(frame)) => {
                        let close = frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                        return (close, pings, start.elapsed());
                    }
                    other => panic!("expected pings then a close, got {other:?}"),
                }
            }
        });
        let (close, pings, at) = within("the idle close", client).await;
        assert_eq!(close, Some((1001, "idle timeout".to_owned())));
        assert!(pings >= 2, "only {pings} pings before the idle close");
        assert!(at >= Duration::from_millis(550), "closed after {at:?}");
        assert!(at < Duration::from_secs(3), "closed after {at:?}");
    })
}
