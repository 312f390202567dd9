//! Every close path, against independent clients (tungstenite, Python's
//! `websockets`): the code and reason the peer saw are the ones the
//! application's close event reports, an error event comes first when the
//! server closed because of an error (and only then), and `close()` then
//! `closed().await` is prompt without anyone polling the events.

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use tungstenite::Message as WsMessage;
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::frame::coding::{CloseCode as WsCloseCode, Data, OpCode};
use wsgate::{BroadcastPolicy, CloseCode, CloseEvent, Config, Error, Event, SendPolicy};

use crate::common::python::python;
use crate::common::{
    self, Accepted, RawClient, Ws, blocking, close_frame, frame, ops_server, request_server,
    within, ws_connect,
};

/// The close the peer received, as tungstenite reads it (code, reason),
/// after whatever else came; the peer answers it and reads to the end.
fn peer_sees_close(ws: &mut Ws) -> (u16, String) {
    for _ in 0..100_000 {
        match ws.read() {
            Ok(WsMessage::Close(Some(frame))) => {
                let seen = (u16::from(frame.code), frame.reason.to_string());
                // Flushes the answer, then meets the end of the stream.
                while ws.read().is_ok() {}
                return seen;
            }
            Ok(WsMessage::Close(None)) => return (1005, String::new()),
            Ok(_) => {}
            Err(e) => panic!("no close frame: {e}"),
        }
    }
    panic!("no close frame");
}

/// The application's events up to its close: the events before it and the
/// close.
async fn app_events(accepted: &Accepted) -> (Vec<Event>, CloseEvent) {
    let mut before = Vec::new();
    for _ in 0..100_000 {
        match accepted.event().await {
            Event::Close(close) => return (before, close),
            event => before.push(event),
        }
    }
    panic!("no close event");
}

/// Asserts the peer saw `seen`, the application's close reports it, and no
/// error event came before.
fn assert_normal_close(seen: (u16, String), events: &[Event], close: &CloseEvent) {
    assert_eq!((close.code.as_u16(), close.reason.clone()), seen);
    assert!(close.clean, "{close:?}");
    assert!(
        !events.iter().any(|e| matches!(e, Event::Error(_))),
        "{events:?}"
    );
}

#[test]
fn application_close_disconnect_and_shutdown_report_what_the_peer_saw() {
    common::run(async move {
        let server = ops_server(Config::default()).await;
        let addr = server.addr;
        for path in ["/quiet-close", "/quiet-disconnect", "/quiet-shutdown"] {
            let client = blocking(move || peer_sees_close(&mut ws_connect(addr, path)));
            let accepted = server.accepted().await;
            match path {
                "/quiet-close" => accepted.conn.close(CloseCode::from(4000), "bye").unwrap(),
                "/quiet-disconnect" => server
                    .handle
                    .disconnect(accepted.conn.id(), CloseCode::POLICY_VIOLATION, "kicked")
                    .unwrap(),
                _ => {
                    let report =
                        within("shutdown", server.handle.shutdown(Duration::from_secs(5))).await;
                    assert_eq!((report.clean, report.forced), (1, 0));
                }
            }
            let seen = within("the client", client).await;
            let (events, close) = app_events(&accepted).await;
            assert_normal_close(seen.clone(), &events, &close);
            let expected = match path {
                "/quiet-close" => (4000, "bye"),
                "/quiet-disconnect" => (1008, "kicked"),
                _ => (1001, "server shutting down"),
            };
            assert_eq!((seen.0, seen.1.as_str()), expected);
        }
    })
}

#[test]
fn a_peers_close_is_echoed_with_its_reason_and_reported() {
    common::run(async move {
        let server = ops_server(Config::default()).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut ws = ws_connect(addr, "/quiet");
            ws.close(Some(CloseFrame {
                code: WsCloseCode::from(4001),
                reason: "client bye".into(),
            }))
            .unwrap();
            peer_sees_close(&mut ws)
        });
        let accepted = server.accepted().await;
        let echoed = within("the client", client).await;
        assert_eq!(echoed, (4001, "client bye".to_owned()));
        let (events, close) = app_events(&accepted).await;
        assert_normal_close(echoed, &events, &close);
    })
}

/// A server that failed the connection: the peer saw `code` (and a
/// reason), and the application got an error first, then the same close.
async fn assert_failed(
    accepted: &Accepted,
    seen: (u16, String),
    code: u16,
    error: impl Fn(&Error) -> bool,
) -> CloseEvent {
    assert_eq!(seen.0, code, "{seen:?}");
    let (events, close) = app_events(accepted).await;
    assert_eq!((close.code.as_u16(), close.reason.clone()), seen);
    let errors: Vec<&Error> = events
        .iter()
        .filter_map(|e| match e {
            Event::Error(e) => Some(e),
            _ => None,
        })
        .collect();
    assert!(
        matches!(errors[..], [e] if error(e)),
        "one error event before the close: {events:?}"
    );
    close
}

#[test]
fn limit_and_protocol_errors_report_the_code_sent_after_an_error() {
    common::run(async move {
        let mut config = Config::default();
        config.max_message_size = 1000;
        let server = ops_server(config).await;
        let addr = server.addr;
        type Send = fn(&mut Ws);
        let cases: [(u16, Send); 3] = [
            (1009, |ws| {
                ws.send(WsMessage::binary(vec![0u8; 2000])).unwrap()
            }),
            (1007, |ws| {
                let frame = Frame::message(vec![0xff, 0xfe], OpCode::Data(Data::Text), true);
                ws.send(WsMessage::Frame(frame)).unwrap();
            }),
            (1002, |ws| {
                let frame = Frame::message(vec![1], OpCode::Data(Data::Reserved(3)), true);
                ws.send(WsMessage::Frame(frame)).unwrap();
            }),
        ];
        for (code, send) in cases {
            let client = blocking(move || {
                let mut ws = ws_connect(addr, "/quiet");
                send(&mut ws);
                peer_sees_close(&mut ws)
            });
            let accepted = server.accepted().await;
            let seen = within("the client", client).await;
            let close = assert_failed(
                &accepted,
                seen,
                code,
                |e| matches!(e, Error::Protocol(p) if p.close_code().as_u16() == code),
            )
            .await;
            // Nothing the peer sends is decoded after a protocol error:
            // tungstenite's answer is read and dropped, not seen.
            assert!(!close.clean, "{close:?}");
        }
    })
}

#[test]
fn keepalive_timeout_reports_1011_after_an_error_and_idle_1001_without() {
    common::run(async move {
        let mut config = Config::default();
        config.ping_interval = Some(Duration::from_millis(100));
        config.ping_timeout = Duration::from_millis(200);
        let keepalive = ops_server(config).await;
        let mut config = Config::default();
        config.idle_timeout = Some(Duration::from_millis(200));
        let idle = ops_server(config).await;
        for (server, code) in [(&keepalive, 1011), (&idle, 1001)] {
            let addr = server.addr;
            let client = blocking(move || {
                let mut ws = ws_connect(addr, "/quiet");
                // Reading nothing (so answering no ping) past the timeouts.
                std::thread::sleep(Duration::from_millis(700));
                peer_sees_close(&mut ws)
            });
            let accepted = server.accepted().await;
            let seen = within("the client", client).await;
            if code == 1011 {
                assert_eq!(seen.1, "keepalive timeout");
                assert_failed(
                    &accepted,
                    seen,
                    code,
                    |e| matches!(e, Error::KeepaliveTimeout(t) if *t == Duration::from_millis(200)),
                )
                .await;
            } else {
                assert_eq!(seen, (1001, "idle timeout".to_owned()));
                let (events, close) = app_events(&accepted).await;
                assert_normal_close(seen, &events, &close);
            }
        }
    })
}

#[test]
fn a_send_queue_policy_close_reports_the_1008_a_slow_peer_read() {
    common::run(async move {
        let mut config = common::send_queue_config(SendPolicy::Close, 64 << 10, 16 << 10);
        config.broadcast_policy = BroadcastPolicy::Close;
        let server = ops_server(config).await;
        let addr = server.addr;
        for by_broadcast in [false, true] {
            let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
            let client = blocking(move || {
                let mut ws = ws_connect(addr, "/quiet");
                // Slow: reads only once the server's queue is full.
                go_rx.recv().unwrap();
                peer_sees_close(&mut ws)
            });
            let accepted = server.accepted().await;
            let conn = accepted.conn.clone();
            for _ in 0..10_000 {
                let failed = if by_broadcast {
                    let report = server
                        .handle
                        .broadcast_where(vec![7u8; 32 << 10], |c| c.id() == conn.id())
                        .await;
                    report.closed > 0
                } else {
                    within("a send", conn.send_binary(vec![7u8; 32 << 10]))
                        .await
                        .is_err()
                };
                if failed {
                    break;
                }
            }
            assert!(!conn.is_open());
            go_tx.send(()).unwrap();
            let seen = within("the client", client).await;
            assert_eq!(seen, (1008, "send queue full".to_owned()));
            assert_failed(&accepted, seen, 1008, |e| matches!(e, Error::QueueFull)).await;
        }
        // Logged and counted as what went out too.
        common::eventually("both counted as 1008", common::TIMEOUT, || {
            server.handle.metrics().closes.get(&1008) == Some(&2)
        })
        .await;
    })
}

/// Closes `conn` and waits for `closed()` without polling its events;
/// returns how long that took.
async fn close_unpolled(conn: &wsgate::Connection) -> Duration {
    let started = Instant::now();
    conn.close(CloseCode::from(4000), "prompt").unwrap();
    within("closed()", conn.closed()).await;
    started.elapsed()
}

fn prompt_config() -> Config {
    let mut config = Config::default();
    config.close_timeout = Duration::from_secs(5);
    config
}

#[test]
fn close_then_closed_is_prompt_without_an_events_poll() {
    common::run(async move {
        let server = request_server(prompt_config()).await;
        let addr = server.addr;
        // No event stream at all, then one held but not polled.
        for hold_events in [false, true] {
            let client = blocking(move || peer_sees_close(&mut ws_connect(addr, "/")));
            let conn = within("accept", server.next().await.accept(None, None))
                .await
                .unwrap();
            let events = hold_events.then(|| conn.events());
            let took = close_unpolled(&conn).await;
            assert!(took < Duration::from_secs(1), "took {took:?}");
            assert_eq!(within("the client", client).await, (4000, "prompt".into()));
            // The events are there for whoever polls later: the close.
            let mut events = events.unwrap_or_else(|| conn.events());
            let last = within("the close", futures::StreamExt::next(&mut events)).await;
            match last {
                Some(Event::Close(close)) => {
                    assert_eq!((close.code.as_u16(), close.clean), (4000, true));
                    assert_eq!(close.reason, "prompt");
                }
                other => panic!("expected the close, got {other:?}"),
            }
        }
    })
}

#[test]
fn messages_that_arrive_while_closing_unpolled_are_kept_bounded() {
    common::run(async move {
        let mut config = prompt_config();
        config.max_message_size = 64 << 10;
        let server = request_server(config).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut raw = RawClient::handshake(addr);
            let (close, _) = raw.read_until_close();
            // Before answering the close: 20 messages of 16 KiB, far more
            // than the 64 KiB kept for the event stream.
            let mut bytes = Vec::new();
            for _ in 0..20 {
                bytes.extend(frame(true, 0x2, &[1u8; 16 << 10]));
            }
            bytes.extend(close_frame(4000, ""));
            raw.send(&bytes);
            raw.expect_eof();
            close.map(|c| c.0)
        });
        let conn = within("accept", server.next().await.accept(None, None))
            .await
            .unwrap();
        let took = close_unpolled(&conn).await;
        assert!(took < Duration::from_secs(1), "took {took:?}");
        assert_eq!(within("the client", client).await, Some(4000));
        let mut events = conn.events();
        let mut kept = 0;
        loop {
            match within("an event", futures::StreamExt::next(&mut events)).await {
                Some(Event::Message(m)) => kept += m.len(),
                Some(Event::Close(close)) => {
                    assert_eq!(close.code.as_u16(), 4000);
                    break;
                }
                Some(other) => panic!("{other:?}"),
                None => panic!("no close"),
            }
        }
        assert!(kept <= (64 << 10) + (16 << 10), "kept {kept} bytes");
    })
}

// ---------------------------------------------------------------------------
// Python `websockets`
// ---------------------------------------------------------------------------

/// A `websockets` client for `ws://addr/quiet`: `close` closes with 4001
/// "py bye", `wait` waits for the server's close, `big` sends 2000 bytes
/// first. Prints the close it received: `code reason`.
const CLIENT: &str = r#"
import sys
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
addr, mode = sys.argv[1], sys.argv[2]
with connect("ws://" + addr + "/quiet", close_timeout=5) as ws:
    if mode == "close":
        ws.close(4001, "py bye")
    elif mode == "big":
        ws.send(b"x" * 2000)
    try:
        while True:
            ws.recv(timeout=5)
    except ConnectionClosed:
        pass
    rcvd = ws.protocol.close_rcvd
    print(rcvd.code, rcvd.reason)
"#;

/// Runs the Python client in `mode` against `addr`; its close received.
fn python_client(python: &std::path::Path, addr: SocketAddr, mode: &str) -> (u16, String) {
    let output = Command::new(python)
        .args(["-c", CLIENT, &addr.to_string(), mode])
        .output()
        .expect("python");
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = out.trim();
    let (code, reason) = line.split_once(' ').unwrap_or((line, ""));
    (code.parse().expect("a close code"), reason.to_owned())
}

#[test]
fn python_sees_the_close_the_application_reports() {
    let Some(python) = python() else { return };
    common::run(async move {
        let mut config = prompt_config();
        config.max_message_size = 1000;
        let server = ops_server(config).await;
        let addr = server.addr;
        // The peer closes: echoed with its reason.
        let client = blocking(move || python_client(python, addr, "close"));
        let accepted = server.accepted().await;
        let seen = within("python", client).await;
        assert_eq!(seen, (4001, "py bye".to_owned()));
        let (events, close) = app_events(&accepted).await;
        assert_normal_close(seen, &events, &close);
        // A limit: 1009 after an error.
        let client = blocking(move || python_client(python, addr, "big"));
        let accepted = server.accepted().await;
        let seen = within("python", client).await;
        assert_failed(&accepted, seen, 1009, |e| matches!(e, Error::Protocol(_))).await;
        // The application closes, without polling: prompt.
        let server = request_server(prompt_config()).await;
        let addr = server.addr;
        let client = blocking(move || python_client(python, addr, "wait"));
        let conn = within("accept", server.next().await.accept(None, None))
            .await
            .unwrap();
        let took = close_unpolled(&conn).await;
        assert!(took < Duration::from_secs(1), "took {took:?}");
        assert_eq!(within("python", client).await, (4000, "prompt".into()));
        let mut events = conn.events();
        match within("the close", futures::StreamExt::next(&mut events)).await {
            Some(Event::Close(close)) => {
                assert_eq!(
                    (close.code.as_u16(), close.reason.as_str(), close.clean),
                    (4000, "prompt", true)
                );
            }
            other => panic!("expected the close, got {other:?}"),
        }
    })
}
