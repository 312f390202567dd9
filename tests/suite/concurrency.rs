//! Many clients at once, and misbehaving peers next to a healthy one.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::common::{self, *};
use tungstenite::Message as WsMessage;
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use wsgate::{Config, Event};

const CLIENTS: usize = 200;
const MESSAGES: usize = 5;

#[test]
fn two_hundred_concurrent_clients_echo_and_close_cleanly() {
    common::run(async move {
        let server = echo_server(Config::default()).await;
        let addr = server.addr;
        let clients = blocking(move || {
            let threads: Vec<_> = (0..CLIENTS)
                .map(|i| {
                    std::thread::spawn(move || -> Result<(), String> {
                        let stream = tcp_with_timeout(addr, Duration::from_secs(15));
                        let request = ws_request(addr, &format!("/client/{i}"));
                        let (mut ws, _) = tungstenite::client::client(request, stream)
                            .map_err(|e| format!("client {i}: handshake: {e}"))?;
                        for j in 0..MESSAGES {
                            let sent = if j % 2 == 0 {
                                WsMessage::text(format!("client {i} message {j}"))
                            } else {
                                WsMessage::binary(bytes_of_len(i * 10 + j))
                            };
                            ws.send(sent.clone())
                                .map_err(|e| format!("client {i}: send: {e}"))?;
                            let echo = ws.read().map_err(|e| format!("client {i}: read: {e}"))?;
                            if echo != sent {
                                return Err(format!(
                                    "client {i}: message {j} came back as {echo:?}"
                                ));
                            }
                        }
                        ws.close(Some(CloseFrame {
                            code: WsCloseCode::Normal,
                            reason: "done".into(),
                        }))
                        .map_err(|e| format!("client {i}: close: {e}"))?;
                        let echoed = ws_finish_close(&mut ws);
                        match echoed {
                            Some(frame) if frame.code == WsCloseCode::Normal => Ok(()),
                            other => Err(format!("client {i}: close echo {other:?}")),
                        }
                    })
                })
                .collect();
            threads
                .into_iter()
                .map(|t| {
                    t.join()
                        .unwrap_or_else(|_| Err("client thread panicked".into()))
                })
                .filter_map(Result::err)
                .collect::<Vec<String>>()
        });
        let failures = within_for(Duration::from_secs(40), "the clients", clients).await;
        assert!(
            failures.is_empty(),
            "{} failures: {failures:#?}",
            failures.len()
        );

        // The application saw every message and a clean close per connection.
        let mut messages = 0;
        let mut closes = 0;
        while closes < CLIENTS {
            match server.event().await {
                Event::Message(_) => messages += 1,
                Event::Close(close) => {
                    assert!(close.clean, "{close:?}");
                    assert_eq!(close.code.as_u16(), 1000);
                    assert_eq!(close.reason, "done");
                    closes += 1;
                }
                other => panic!("unexpected event {other:?}"),
            }
        }
        assert_eq!(messages, CLIENTS * MESSAGES);
        assert!(server.events.try_recv().is_err(), "events after the closes");
    })
}

#[test]
fn misbehaving_peers_do_not_disturb_a_healthy_one() {
    common::run(async move {
        let server = echo_server(Config::default()).await;
        let addr = server.addr;

        // The healthy client keeps echoing, each round timed.
        let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
        let (finished_tx, finished_rx) = std::sync::mpsc::channel::<()>();
        let healthy = blocking(move || {
            let mut ws = ws_connect(addr, "/healthy");
            let mut slowest = Duration::ZERO;
            for round in 0..60 {
                if round == 5 {
                    started_tx.send(()).unwrap();
                }
                let start = Instant::now();
                let sent = WsMessage::text(format!("round {round}"));
                ws.send(sent.clone()).unwrap();
                assert_eq!(ws_read_data(&mut ws), sent);
                slowest = slowest.max(start.elapsed());
                // Pacing: the rounds span the troublemakers' whole run.
                std::thread::sleep(Duration::from_millis(10));
            }
            ws.close(None).unwrap();
            ws_finish_close(&mut ws);
            let _ = finished_tx.send(());
            slowest
        });

        let troublemakers = blocking(move || {
            started_rx
                .recv_timeout(TIMEOUT)
                .expect("healthy client started");
            let mut threads = Vec::new();
            // Garbage after a valid handshake: failed with 1002.
            threads.push(std::thread::spawn(move || {
                let mut raw = RawClient::handshake(addr);
                raw.send(&[0xff; 64]);
                let (close, _) = raw.read_until_close();
                assert_eq!(close.map(|c| c.0), Some(1002));
            }));
            // Garbage instead of a handshake: 400.
            threads.push(std::thread::spawn(move || {
                let mut raw = RawClient::connect(addr);
                raw.send(b"\x00\x01\x02 not http at all\r\n\r\n");
                assert_eq!(raw.read_response().status, 400);
            }));
            // Half a handshake, then silence (the slot is held, nobody else
            // waits for it).
            threads.push(std::thread::spawn(move || {
                let mut raw = RawClient::connect(addr);
                raw.send(b"GET / HTTP/1.1\r\nHost: x\r\n");
                // Silent while the healthy client runs.
                let _ = finished_rx.recv_timeout(TIMEOUT);
            }));
            // A frame header claiming far too much.
            threads.push(std::thread::spawn(move || {
                let mut raw = RawClient::handshake(addr);
                raw.send(&frame_header(0x82, 1 << 40, Some(MASK)));
                let (close, _) = raw.read_until_close();
                assert_eq!(close.map(|c| c.0), Some(1009));
            }));
            // A client that sends a lot and never reads its echoes.
            threads.push(std::thread::spawn(move || {
                let mut raw = RawClient::connect_with_timeout(addr, Duration::from_secs(1));
                raw.send(upgrade_request("/", "").as_bytes());
                let chunk = frame(true, 0x2, &[0x55; 64 << 10]);
                for _ in 0..128 {
                    if raw.stream.write_all(&chunk).is_err() {
                        break; // backpressure reached us: expected
                    }
                }
            }));
            for t in threads {
                t.join().expect("troublemaker thread");
            }
        });

        within_for(Duration::from_secs(15), "the troublemakers", troublemakers).await;
        let slowest = within_for(Duration::from_secs(15), "the healthy client", healthy).await;
        assert!(
            slowest < Duration::from_millis(500),
            "slowest round {slowest:?}"
        );
    })
}
