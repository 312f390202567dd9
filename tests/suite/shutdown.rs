//! Graceful shutdown and `stop_listening`: what open connections,
//! handshakes in progress and new clients see.

use std::io::{self, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common::{self, *};
use tungstenite::Message as WsMessage;
use wsgate::{BroadcastPolicy, CloseCode};

#[test]
fn graceful_shutdown_reports_clean_and_forced_closes_and_refuses_new_handshakes() {
    common::run(async move {
        let ops = ops_server(quiet_config()).await;
        let addr = ops.addr;
        // Two tungstenite clients, which answer the close.
        let answering: Vec<_> = (0..2)
            .map(|_| {
                blocking(move || {
                    let mut ws = ws_connect(addr, "/answering");
                    ws_wait_for_close(&mut ws)
                })
            })
            .collect();
        // A raw client that reads but never answers the close.
        let silent = blocking(move || {
            let mut s = raw_ws(addr, "/silent");
            let (first, payload) = read_server_frame(&mut s).expect("the close frame");
            let at = Instant::now();
            expect_end(&mut s);
            (first, payload, at.elapsed())
        });
        let mut accepted = Vec::new();
        for _ in 0..3 {
            accepted.push(ops.accepted().await);
        }
        // A handshake in progress when the shutdown starts.
        let request = upgrade_request("/late", "");
        let (first_half, second_half) = request.split_at(20);
        let mut half = tcp(addr);
        half.write_all(first_half.as_bytes()).unwrap();
        // The server must have accepted this connection before the listener
        // stops, and nothing announces a head that is still incomplete (it
        // is not pending yet): a short sleep.
        common::sleep(Duration::from_millis(100)).await;

        let handle = ops.handle.clone();
        let started = Instant::now();
        let shutdown =
            common::spawn(async move { handle.shutdown(Duration::from_millis(1000)).await });
        // The shutdown has begun once an answering client's close completes.
        let answering_conn = accepted
            .iter()
            .find(|a| a.conn.resource() == "/answering")
            .expect("an answering connection");
        assert_eq!(
            answering_conn.close_event().await.code,
            CloseCode::GOING_AWAY
        );

        let second_half = second_half.to_owned();
        let late = blocking(move || {
            half.write_all(second_half.as_bytes()).unwrap();
            read_http_head(&mut half).expect("a response")
        });
        let (status, head) = within("the late handshake", late).await;
        assert_eq!(status, 503, "{head}");

        let report = within("the shutdown", shutdown).await;
        let took = started.elapsed();
        assert_eq!((report.clean, report.forced), (2, 1), "{report:?}");
        assert!(
            took >= Duration::from_millis(900),
            "returned before the deadline: {took:?}"
        );
        assert!(took < Duration::from_secs(4), "took {took:?}");
        for client in answering {
            assert_eq!(
                within("a client close", client).await,
                Some((1001, "server shutting down".to_owned()))
            );
        }
        let (first, payload, dropped_after) = within("the silent client", silent).await;
        assert_eq!(first, 0x88);
        assert_eq!(&payload[..2], &1001u16.to_be_bytes());
        assert!(dropped_after < Duration::from_secs(3), "{dropped_after:?}");

        assert_eq!(ops.handle.connection_count(), 0);
        let metrics = ops.handle.metrics();
        assert_eq!(metrics.active_connections, 0);
        assert_eq!(metrics.closes.get(&1001), Some(&3), "{metrics:?}");
        assert!(metrics.rejected.get(&503).is_some_and(|&n| n >= 1));

        // After the shutdown, new connections are refused (or answered 503).
        let after = blocking(move || match TcpStream::connect_timeout(&addr, TIMEOUT) {
            Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused),
            Ok(mut s) => {
                s.set_read_timeout(Some(TIMEOUT)).unwrap();
                let _ = s.write_all(upgrade_request("/", "").as_bytes());
                if let Ok((status, _)) = read_http_head(&mut s) {
                    assert_eq!(status, 503);
                }
            }
        });
        within("a connection after shutdown", after).await;
    })
}

#[test]
fn shutdown_answers_undecided_requests_with_503() {
    common::run(async move {
        let RequestServer {
            addr,
            handle,
            requests,
        } = request_server(quiet_config()).await;
        let client = blocking(move || {
            let mut s = tcp(addr);
            s.write_all(upgrade_request("/", "").as_bytes()).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            read_http_head(&mut s).map(|r| r.0)
        });
        let request = within("the request", requests.recv()).await.unwrap();
        assert_eq!(handle.metrics().pending_handshakes, 1);
        let report = within("the shutdown", handle.shutdown(Duration::from_millis(500))).await;
        assert_eq!((report.clean, report.forced), (0, 0));
        let status = within("the client", client).await;
        drop(request);
        assert_eq!(status.expect("an answer within 3 s"), 503);
    })
}

#[test]
fn shutdown_returns_by_its_deadline_when_a_peer_never_reads() {
    common::run(async move {
        let high_water = 64 << 10;
        let ops = ops_server(slow_config(BroadcastPolicy::Drop)).await;
        let addr = ops.addr;
        let slow = within(
            "the slow client",
            blocking(move || never_reading_client(addr, "/quiet/slow")),
        )
        .await;
        let acc = ops.accepted().await;
        fill_queue(&acc.conn, high_water).await;
        let start = Instant::now();
        let report = within_for(
            Duration::from_secs(4),
            "the shutdown",
            ops.handle.shutdown(Duration::from_millis(500)),
        )
        .await;
        assert_eq!((report.clean, report.forced), (0, 1));
        assert!(start.elapsed() < Duration::from_secs(2));
        assert_eq!(ops.handle.connection_count(), 0);
        drop(slow);
    })
}

#[test]
fn stop_listening_keeps_open_connections_working() {
    common::run(async move {
        let ops = ops_server(quiet_config()).await;
        let addr = ops.addr;
        let ws = within("client", blocking(move || ws_connect(addr, "/stay"))).await;
        let acc = ops.accepted().await;
        ops.handle.stop_listening();
        // The listener goes away...
        let refused = blocking(move || listener_gone(addr));
        assert!(within("the listener to close", refused).await);
        // ...while the open connection keeps working both ways.
        let echoed = blocking(move || {
            let mut ws = ws;
            ws.send(WsMessage::text("still here")).unwrap();
            let echo = text_of(&ws_read_data(&mut ws)).to_owned();
            (ws, echo)
        });
        let (ws, echo) = within("echo", echoed).await;
        assert_eq!(echo, "still here");
        assert_eq!(ops.handle.connection_count(), 1);
        assert_eq!(ops.handle.broadcast("to the survivors").await.queued, 1);
        let got = blocking(move || {
            let mut ws = ws;
            let text = text_of(&ws_read_data(&mut ws)).to_owned();
            (ws, text)
        });
        let (_ws, text) = within("broadcast", got).await;
        assert_eq!(text, "to the survivors");
        assert!(acc.conn.is_open());
    })
}
