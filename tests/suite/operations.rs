//! Server operations (issue 5), each shown with an independent client:
//! the registry, broadcast, graceful shutdown, admission control,
//! keepalive and timeouts, flow control, streaming sends, metrics, TCP
//! options, the echo example's flags and the chat example's shutdown.
//!
//! Clients are tungstenite (blocking, on their own threads) or raw std
//! sockets; every wait is bounded.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::common::{self, *};
use async_channel::{Sender, unbounded};
use futures::{FutureExt, StreamExt};
use http_types::StatusCode;
use tungstenite::Message as WsMessage;
use wsgate::{
    BroadcastPolicy, CloseCode, Config, Connection, DataKind, Error, Event, IpNet, Message,
    SendPolicy, Server, ServerBuilder, WebSocketRequest,
};

// ---------------------------------------------------------------------------
// The server under test
// ---------------------------------------------------------------------------

/// A server whose application rejects `/reject` with 403, accepts every
/// other request, echoes messages (except on `/quiet…` resources) and hands
/// each connection and its events to the test.
async fn ops_server(config: Config) -> AppServer {
    ops_server_on(Server::builder().config(config), "127.0.0.1:0")
        .await
        .expect("bind")
}

async fn ops_server_on(builder: ServerBuilder, addr: &str) -> io::Result<AppServer> {
    app_server(builder, addr, application).await
}

async fn application(request: WebSocketRequest, tx: Sender<Accepted>) {
    if request.resource() == "/reject" {
        request.reject(StatusCode::Forbidden, "go away");
        return;
    }
    let Ok(conn) = request.accept(None, None).await else {
        return;
    };
    let echo = !conn.resource().starts_with("/quiet");
    let events_tx = Accepted::hand_over(&conn, &tx).await;
    let mut stream = conn.events();
    while let Some(event) = stream.next().await {
        if echo && let Event::Message(message) = &event {
            let _ = conn.send(message.clone()).await;
        }
        let _ = events_tx.send(event).await;
    }
}

// ---------------------------------------------------------------------------
// Raw socket helpers (beyond tests/suite/common)
// ---------------------------------------------------------------------------

/// Reads everything that arrives until the server ends the connection (or
/// the socket's read timeout fails the test); returns the byte count.
fn drain_until_end(stream: &mut TcpStream) -> usize {
    let mut buf = vec![0u8; 64 << 10];
    let mut total = 0;
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return total,
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return total,
            Err(e) => panic!("reading: {e}"),
        }
    }
}

/// Tungstenite reads until the server's close and the end of the
/// connection; returns the close code and reason.
fn ws_wait_for_close(ws: &mut Ws) -> Option<(u16, String)> {
    let mut close = None;
    for _ in 0..10_000 {
        match ws.read() {
            Ok(WsMessage::Close(frame)) => {
                close = frame.map(|f| (u16::from(f.code), f.reason.to_string()));
            }
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                return close;
            }
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::ConnectionReset => {
                return close;
            }
            Err(e) => panic!("waiting for the close: {e:?}"),
        }
    }
    panic!("no close among 10 000 frames");
}

fn text_of(message: &WsMessage) -> &str {
    match message {
        WsMessage::Text(text) => text.as_str(),
        other => panic!("expected text, got {other:?}"),
    }
}

/// Fills `conn`'s send queue to its high-water mark. The peer must not be
/// reading (and should have small socket buffers).
async fn fill_queue(conn: &Connection, high_water: usize) {
    let chunk = vec![0x5a_u8; 32 << 10];
    for _ in 0..2000 {
        if conn.buffered_amount() >= high_water {
            // Make sure the writer is really stuck, not just behind.
            common::sleep(Duration::from_millis(100)).await;
            if conn.buffered_amount() >= high_water {
                return;
            }
        }
        conn.send(chunk.clone())
            .await
            .expect("queue under the mark");
        common::sleep(Duration::from_millis(1)).await;
    }
    panic!(
        "the send queue never reached {high_water} bytes (at {})",
        conn.buffered_amount()
    );
}

/// `count` raw clients upgraded on `path`, opened from four threads.
async fn raw_fleet(addr: SocketAddr, path: &'static str, count: usize) -> Vec<TcpStream> {
    let fleet = blocking(move || {
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let n = count / 4 + usize::from(t < count % 4);
                std::thread::spawn(move || (0..n).map(|_| raw_ws(addr, path)).collect::<Vec<_>>())
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().expect("a fleet thread panicked"))
            .collect::<Vec<_>>()
    });
    within_for(Duration::from_secs(60), "the fleet", fleet).await
}

// ---------------------------------------------------------------------------
// Registry
// ---------------------------------------------------------------------------

#[test]
fn registry_counts_looks_up_sends_to_and_disconnects_connections() {
    common::run(async move {
        let ops = ops_server(quiet_config()).await;
        let addr = ops.addr;
        let before = std::time::SystemTime::now();
        let mut clients = Vec::new();
        let mut accepted = Vec::new();
        for i in 0..3 {
            let client = blocking(move || {
                let mut request = ws_request(addr, &format!("/room/{i}?x=1"));
                let headers = request.headers_mut();
                headers.insert(
                    "Origin",
                    format!("https://site{i}.example").parse().unwrap(),
                );
                headers.insert("X-Client", i.to_string().parse().unwrap());
                let (ws, _) = ws_try_connect(addr, request, None).expect("handshake");
                let local = ws.get_ref().local_addr().unwrap();
                (ws, local)
            });
            clients.push(within("client", client).await);
            accepted.push(ops.accepted().await);
        }
        eventually("three registered connections", TIMEOUT, || {
            ops.handle.connection_count() == 3
        })
        .await;

        let mut listed: Vec<_> = ops.handle.connections().iter().map(|c| c.id()).collect();
        listed.sort();
        let mut expected: Vec<_> = accepted.iter().map(|a| a.conn.id()).collect();
        expected.sort();
        assert_eq!(listed, expected);

        for (i, (acc, (_, client_addr))) in accepted.iter().zip(&clients).enumerate() {
            let conn = ops.handle.connection(acc.conn.id()).expect("registered");
            assert_eq!(conn.id(), acc.conn.id());
            assert_eq!(conn.resource(), format!("/room/{i}?x=1"));
            assert_eq!(conn.host(), addr.to_string());
            assert_eq!(
                conn.origin(),
                Some(format!("https://site{i}.example").as_str())
            );
            assert_eq!(conn.header("x-client"), Some(i.to_string().as_str()));
            assert!(
                conn.headers()
                    .iter()
                    .any(|(n, v)| n.eq_ignore_ascii_case("sec-websocket-version") && v == "13")
            );
            assert_eq!(conn.remote_addr(), *client_addr);
            assert_eq!(conn.local_addr(), addr);
            assert_eq!(conn.protocol(), None);
            assert!(conn.extensions().is_empty());
            let stats = conn.stats();
            assert!(stats.open);
            assert_eq!(
                (
                    stats.messages_in,
                    stats.bytes_in,
                    stats.messages_out,
                    stats.bytes_out
                ),
                (0, 0, 0, 0)
            );
            assert_eq!(stats.queued_bytes, 0);
            assert!(stats.opened_at >= before && stats.opened_at <= std::time::SystemTime::now());
        }

        // Traffic counters: one 5-byte text message each way.
        let (mut ws0, _) = clients.remove(0);
        let ws0_back = blocking(move || {
            ws0.send(WsMessage::text("hello")).unwrap();
            assert_eq!(text_of(&ws_read_data(&mut ws0)), "hello");
            ws0
        });
        let ws0 = within("echo", ws0_back).await;
        let conn0 = accepted[0].conn.clone();
        eventually("counters after one echo", TIMEOUT, || {
            conn0.stats().bytes_out == 7
        })
        .await;
        let stats = conn0.stats();
        assert_eq!(stats.messages_in, 1);
        assert_eq!(stats.bytes_in, 11, "2 header + 4 mask + 5 payload");
        assert_eq!(stats.messages_out, 1);
        assert_eq!(stats.bytes_out, 7, "2 header + 5 payload");
        assert_eq!(stats.queued_bytes, 0);

        // send_to reaches one connection only.
        ops.handle
            .send_to(accepted[1].conn.id(), "just for you")
            .await
            .expect("send_to");
        ops.handle.broadcast("everyone").await;
        let (mut ws1, _) = clients.remove(0);
        let (ws2, _) = clients.remove(0);
        let received = blocking(move || {
            let mut ws0 = ws0;
            let first1 = text_of(&ws_read_data(&mut ws1)).to_owned();
            let second1 = text_of(&ws_read_data(&mut ws1)).to_owned();
            let first0 = text_of(&ws_read_data(&mut ws0)).to_owned();
            (ws0, ws1, [first1, second1, first0])
        });
        let (ws0, ws1, received) = within("send_to", received).await;
        assert_eq!(received, ["just for you", "everyone", "everyone"]);

        // disconnect with a code and reason the client sees.
        let id2 = accepted[2].conn.id();
        ops.handle
            .disconnect(id2, CloseCode::from(4000), "kicked")
            .expect("disconnect");
        let close = blocking(move || {
            let mut ws2 = ws2;
            ws_wait_for_close(&mut ws2)
        });
        assert_eq!(
            within("the kick", close).await,
            Some((4000, "kicked".to_owned()))
        );
        let close = accepted[2].close_event().await;
        assert_eq!(close.code.as_u16(), 4000);
        eventually(
            "the kicked connection to leave the registry",
            TIMEOUT,
            || ops.handle.connection_count() == 2,
        )
        .await;
        assert!(ops.handle.connection(id2).is_none());
        assert!(matches!(
            ops.handle.send_to(id2, "gone").await,
            Err(Error::Closed)
        ));
        assert!(matches!(
            ops.handle.disconnect(id2, CloseCode::NORMAL, ""),
            Err(Error::Closed)
        ));
        drop((ws0, ws1));
    })
}

// ---------------------------------------------------------------------------
// Broadcast
// ---------------------------------------------------------------------------

#[test]
fn broadcast_reaches_every_client_once_with_the_same_bytes() {
    common::run(async move {
        const N: usize = 20;
        let ops = ops_server(quiet_config()).await;
        let fleet = raw_fleet(ops.addr, "/quiet/all", N).await;
        eventually("every connection registered", TIMEOUT, || {
            ops.handle.connection_count() == N
        })
        .await;
        let binary = bytes_of_len(70_000);
        let report = ops.handle.broadcast("first").await;
        assert_eq!((report.queued, report.dropped, report.closed), (N, 0, 0));
        let report = ops.handle.broadcast(binary.clone()).await;
        assert_eq!((report.queued, report.dropped, report.closed), (N, 0, 0));
        let frames = blocking(move || {
            fleet
                .into_iter()
                .map(|mut s| {
                    let a = read_server_frame(&mut s).expect("first broadcast");
                    let b = read_server_frame(&mut s).expect("second broadcast");
                    (a, b)
                })
                .collect::<Vec<_>>()
        });
        let frames = within("the broadcasts", frames).await;
        assert_eq!(frames.len(), N);
        for (a, b) in frames {
            assert_eq!(a, (0x81, b"first".to_vec()));
            assert_eq!(b.0, 0x82);
            assert!(b.1 == binary, "the broadcast payload differs");
        }
    })
}

#[test]
fn broadcast_where_reaches_only_the_selected_connections() {
    common::run(async move {
        let ops = ops_server(quiet_config()).await;
        let lobby = raw_fleet(ops.addr, "/quiet/lobby", 3).await;
        let other = raw_fleet(ops.addr, "/quiet/other", 3).await;
        eventually("six connections", TIMEOUT, || {
            ops.handle.connection_count() == 6
        })
        .await;
        let report = ops
            .handle
            .broadcast_where("lobby news", |c| c.resource().starts_with("/quiet/lobby"))
            .await;
        assert_eq!((report.queued, report.dropped), (3, 0));
        let report = ops.handle.broadcast("for all").await;
        assert_eq!(report.queued, 6);
        let firsts = blocking(move || {
            let read =
                |mut s: TcpStream| String::from_utf8(read_server_frame(&mut s).unwrap().1).unwrap();
            let lobby: Vec<_> = lobby.into_iter().map(read).collect();
            let other: Vec<_> = other.into_iter().map(read).collect();
            (lobby, other)
        });
        let (lobby, other) = within("the broadcasts", firsts).await;
        assert_eq!(lobby, ["lobby news"; 3]);
        assert_eq!(other, ["for all"; 3], "the filter was ignored");
    })
}

/// Config for the slow-client broadcasts: a small high-water mark and small
/// kernel buffers, so one client that never reads fills its queue fast.
fn slow_config(policy: BroadcastPolicy) -> Config {
    let mut config = send_queue_config(SendPolicy::Wait, 64 << 10, 16 << 10);
    config.broadcast_policy = policy;
    config
}

fn find(accepted: &[Accepted], resource: &str) -> Connection {
    accepted
        .iter()
        .find(|a| a.conn.resource() == resource)
        .map(|a| a.conn.clone())
        .unwrap_or_else(|| panic!("no connection on {resource}"))
}

#[test]
fn broadcast_to_1000_connections_finishes_despite_one_that_never_reads() {
    common::run(async move {
        const FLEET: usize = 999;
        let high_water = 64 << 10;
        let ops = ops_server(slow_config(BroadcastPolicy::Drop)).await;
        let addr = ops.addr;
        let slow = within(
            "the slow client",
            blocking(move || never_reading_client(addr, "/quiet/slow")),
        )
        .await;
        let fleet = raw_fleet(addr, "/quiet/fleet", FLEET).await;
        let mut accepted = Vec::new();
        for _ in 0..=FLEET {
            accepted.push(ops.accepted().await);
        }
        eventually("1000 registered connections", TIMEOUT, || {
            ops.handle.connection_count() == FLEET + 1
        })
        .await;
        let slow_conn = find(&accepted, "/quiet/slow");
        fill_queue(&slow_conn, high_water).await;

        let start = Instant::now();
        let report = within("the broadcast", ops.handle.broadcast("news-1")).await;
        let took = start.elapsed();
        assert_eq!(
            (report.queued, report.dropped, report.closed),
            (FLEET, 1, 0),
            "{report:?}"
        );
        assert!(took < Duration::from_secs(2), "the broadcast took {took:?}");
        let report = within(
            "the second broadcast",
            ops.handle.broadcast(vec![1u8, 2, 3]),
        )
        .await;
        assert_eq!((report.queued, report.dropped), (FLEET, 1));
        // Drop skips the slow one without closing it.
        assert!(slow_conn.is_open());
        assert!(slow_conn.buffered_amount() >= high_water);

        let received = blocking(move || {
            let mut ok = 0;
            for mut s in fleet {
                let a = read_server_frame(&mut s).expect("news-1");
                let b = read_server_frame(&mut s).expect("second");
                assert_eq!(a, (0x81, b"news-1".to_vec()));
                assert_eq!(b, (0x82, vec![1, 2, 3]));
                ok += 1;
            }
            ok
        });
        assert_eq!(
            within_for(Duration::from_secs(30), "999 clients", received).await,
            FLEET
        );
        drop(slow);
    })
}

#[test]
fn broadcast_with_close_policy_closes_the_stalled_connection_with_1008() {
    common::run(async move {
        let high_water = 64 << 10;
        let ops = ops_server(slow_config(BroadcastPolicy::Close)).await;
        let addr = ops.addr;
        let slow = within(
            "the slow client",
            blocking(move || never_reading_client(addr, "/quiet/slow")),
        )
        .await;
        let fleet = raw_fleet(addr, "/quiet/fleet", 10).await;
        let mut accepted = Vec::new();
        for _ in 0..11 {
            accepted.push(ops.accepted().await);
        }
        let slow_conn = find(&accepted, "/quiet/slow");
        fill_queue(&slow_conn, high_water).await;
        let report = within("the broadcast", ops.handle.broadcast("news")).await;
        assert_eq!(
            (report.queued, report.dropped, report.closed),
            (10, 0, 1),
            "{report:?}"
        );
        assert!(!slow_conn.is_open(), "the slow connection was not closed");
        let fleet_ok = blocking(move || {
            for mut s in fleet {
                assert_eq!(read_server_frame(&mut s).unwrap(), (0x81, b"news".to_vec()));
            }
        });
        within("the fleet", fleet_ok).await;
        // Once the slow client reads, it finds its backlog and then the 1008
        // close, not the broadcast.
        let seen = blocking(move || {
            let mut slow = slow;
            read_until_close(&mut slow)
        });
        let (close, before) = within("the slow client's backlog", seen).await;
        assert_eq!(close.map(|c| c.0), Some(1008));
        assert!(
            before.iter().all(|(first, _)| *first == 0x82),
            "the news got through"
        );
    })
}

/// `SendPolicy::Wait` is for senders; a broadcast never waits, whatever
/// the send policy: the slow connections are skipped (Drop, the default
/// broadcast policy) and get later messages once they catch up.
#[test]
fn broadcast_never_waits_for_slow_connections_even_under_send_policy_wait() {
    common::run(async move {
        let high_water = 64 << 10;
        let ops = ops_server(slow_config(BroadcastPolicy::Drop)).await;
        let addr = ops.addr;
        let slow = within(
            "the slow client",
            blocking(move || never_reading_client(addr, "/quiet/slow")),
        )
        .await;
        let fleet = raw_fleet(addr, "/quiet/fleet", 10).await;
        let mut accepted = Vec::new();
        for _ in 0..11 {
            accepted.push(ops.accepted().await);
        }
        let slow_conn = find(&accepted, "/quiet/slow");
        fill_queue(&slow_conn, high_water).await;

        // Completes at once: the future never waits for the slow client.
        let report = ops.handle.broadcast("news").now_or_never();
        let report = report.expect("the broadcast waited");
        assert_eq!(
            (report.queued, report.dropped, report.closed),
            (10, 1, 0),
            "{report:?}"
        );
        assert!(slow_conn.is_open());
        let fleet_ok = blocking(move || {
            for mut s in fleet {
                assert_eq!(read_server_frame(&mut s).unwrap(), (0x81, b"news".to_vec()));
            }
        });
        within("the fleet", fleet_ok).await;

        // Once the slow client has caught up, it gets the next broadcast
        // after its backlog, and never the one it missed.
        let slow = blocking(move || {
            let mut slow = slow;
            let mut backlog = 0;
            while backlog < high_water {
                let (first, payload) = read_server_frame(&mut slow).expect("backlog");
                assert_eq!(first, 0x82, "the missed broadcast arrived");
                backlog += payload.len();
            }
            slow
        });
        let mut slow = within("the slow client's backlog", slow).await;
        eventually("the slow queue drained", TIMEOUT, || {
            slow_conn.buffered_amount() == 0
        })
        .await;
        let report = ops
            .handle
            .broadcast_where("later", |c| c.resource() == "/quiet/slow")
            .await;
        assert_eq!((report.queued, report.dropped), (1, 0), "{report:?}");
        let later = blocking(move || {
            loop {
                let (first, payload) = read_server_frame(&mut slow).expect("a frame");
                if first == 0x81 {
                    return payload;
                }
            }
        });
        assert_eq!(within("the later broadcast", later).await, b"later");
    })
}

/// A connection that is streaming a message (send_file/send_stream) is not
/// over its high-water mark: a broadcast is queued to follow the stream,
/// without waiting and without the full-queue policy.
#[test]
fn broadcast_to_a_streaming_connection_follows_the_stream() {
    common::run(async move {
        let mut config = quiet_config();
        config.broadcast_policy = BroadcastPolicy::Close;
        config.stream_chunk_size = 1024;
        let ops = ops_server(config).await;
        let addr = ops.addr;
        let client = within("client", blocking(move || raw_ws(addr, "/quiet/stream"))).await;
        let acc = ops.accepted().await;
        let (tx, rx) = futures::channel::mpsc::unbounded::<io::Result<Vec<u8>>>();
        let conn = acc.conn.clone();
        let stream = common::spawn(async move {
            use futures::TryStreamExt;
            conn.send_stream(DataKind::Binary, rx.into_async_read())
                .await
        });
        tx.unbounded_send(Ok(vec![1u8; 3000])).unwrap();
        common::sleep(Duration::from_millis(100)).await;
        assert!(
            acc.conn.buffered_amount() < 64 << 10,
            "the queue is nearly empty"
        );
        let report = within("the broadcast", async {
            let handle = ops.handle.clone();
            let broadcast = common::spawn(async move { handle.broadcast("news").await });
            common::sleep(Duration::from_millis(100)).await;
            tx.unbounded_send(Ok(vec![2u8; 100])).unwrap();
            drop(tx);
            broadcast.await
        })
        .await;
        assert_eq!(within("the stream", stream).await.expect("stream"), 3100);
        assert_eq!(
            (report.queued, report.dropped, report.closed),
            (1, 0, 0),
            "{report:?}"
        );
        assert!(
            acc.conn.is_open(),
            "a streaming connection was closed by a broadcast"
        );
        let frames = blocking(move || {
            let mut client = client;
            let mut frames = Vec::new();
            while frames
                .last()
                .is_none_or(|(first, _): &ServerFrame| *first != 0x81)
            {
                frames.push(read_server_frame(&mut client).unwrap());
            }
            frames
        });
        let frames = within("the frames", frames).await;
        assert_eq!(frames.last().unwrap(), &(0x81, b"news".to_vec()));
    })
}

// ---------------------------------------------------------------------------
// Shutdown and stop_listening
// ---------------------------------------------------------------------------

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
        for _ in 0..3 {
            ops.accepted().await;
        }
        // A handshake in progress when the shutdown starts.
        let request = upgrade_request("/late", "");
        let (first_half, second_half) = request.split_at(20);
        let mut half = tcp(addr);
        half.write_all(first_half.as_bytes()).unwrap();
        common::sleep(Duration::from_millis(100)).await;

        let handle = ops.handle.clone();
        let started = Instant::now();
        let shutdown =
            common::spawn(async move { handle.shutdown(Duration::from_millis(1000)).await });
        common::sleep(Duration::from_millis(100)).await;

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
        let refused = blocking(move || {
            for _ in 0..200 {
                match TcpStream::connect_timeout(&addr, TIMEOUT) {
                    Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => return true,
                    _ => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            false
        });
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

// ---------------------------------------------------------------------------
// Admission control
// ---------------------------------------------------------------------------

#[test]
fn max_connections_answers_503_with_retry_after() {
    common::run(async move {
        let mut config = quiet_config();
        config.max_connections = 2;
        let ops = ops_server(config).await;
        let addr = ops.addr;
        let a = within("client a", blocking(move || ws_connect(addr, "/a"))).await;
        let b = within("client b", blocking(move || ws_connect(addr, "/b"))).await;
        ops.accepted().await;
        ops.accepted().await;
        let rejected = blocking(move || ws_expect_rejection(addr, ws_request(addr, "/c")));
        let (status, headers, _) = within("client c", rejected).await;
        assert_eq!(status, 503);
        let retry = headers
            .get("retry-after")
            .expect("Retry-After")
            .to_str()
            .unwrap();
        assert!(retry.parse::<u64>().is_ok(), "Retry-After: {retry}");
        assert_eq!(ops.handle.metrics().rejected.get(&503), Some(&1));
        // One leaves; a newcomer is served again.
        let closed = blocking(move || {
            let mut a = a;
            a.close(None).unwrap();
            ws_finish_close(&mut a);
        });
        within("client a's close", closed).await;
        eventually("a slot to free up", TIMEOUT, || {
            ops.handle.connection_count() == 1
        })
        .await;
        let d = within("client d", blocking(move || ws_connect(addr, "/d"))).await;
        drop((b, d));
    })
}

/// Simultaneous handshakes must not get past `max_connections` together:
/// the check (`count + pending >= max`) and the increment are not one
/// atomic step, and a connection is counted neither as pending nor as
/// registered between `pending_ended` and `register`.
#[test]
fn max_connections_holds_under_a_burst() {
    common::run(async move {
        const ROUNDS: usize = 10;
        const CLIENTS: usize = 40;
        const MAX: usize = 5;
        for round in 0..ROUNDS {
            let mut config = quiet_config();
            config.max_connections = MAX;
            let ops = ops_server(config).await;
            let addr = ops.addr;
            let statuses = blocking(move || {
                let barrier = Arc::new(std::sync::Barrier::new(CLIENTS));
                let threads: Vec<_> = (0..CLIENTS)
                    .map(|_| {
                        let barrier = barrier.clone();
                        std::thread::spawn(move || {
                            let mut s = tcp(addr);
                            barrier.wait();
                            s.write_all(upgrade_request("/burst", "").as_bytes())
                                .unwrap();
                            let (status, _) = read_http_head(&mut s).expect("a response");
                            (status, s)
                        })
                    })
                    .collect();
                threads
                    .into_iter()
                    .map(|t| t.join().expect("client thread"))
                    .collect::<Vec<_>>()
            });
            let results = within_for(Duration::from_secs(20), "the burst", statuses).await;
            let served = results.iter().filter(|(s, _)| *s == 101).count();
            let refused = results.iter().filter(|(s, _)| *s == 503).count();
            assert_eq!(served + refused, CLIENTS, "unexpected statuses");
            assert!(
                (1..=MAX).contains(&served),
                "round {round}: {served} connections served with max_connections = {MAX}"
            );
            assert!(ops.handle.connection_count() <= MAX);
        }
    })
}

#[test]
fn allow_list_refuses_others_before_reading_and_serves_allowed_clients() {
    common::run(async move {
        let mut config = quiet_config();
        config.allow = vec!["10.0.0.0/8".parse().unwrap()];
        let ops = ops_server(config).await;
        let addr = ops.addr;
        let refused = blocking(move || {
            let mut s = tcp(addr);
            let _ = s.write_all(upgrade_request("/", "").as_bytes());
            let mut buf = [0u8; 1024];
            match s.read(&mut buf) {
                Ok(n) => assert_eq!(
                    n,
                    0,
                    "got a response: {:?}",
                    String::from_utf8_lossy(&buf[..n])
                ),
                Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}"),
            }
        });
        within("the refused client", refused).await;
        eventually("the refusal to be counted", TIMEOUT, || {
            ops.handle.metrics().refused == 1
        })
        .await;
        let metrics = ops.handle.metrics();
        assert!(metrics.rejected.is_empty(), "{metrics:?}");
        assert_eq!(metrics.accepted, 0);
        assert!(
            ops.accepted.try_recv().is_err(),
            "a refused client reached the app"
        );

        let mut config = quiet_config();
        config.allow = vec!["127.0.0.1/32".parse().unwrap()];
        let ops = ops_server(config).await;
        let addr = ops.addr;
        let served = blocking(move || {
            let mut ws = ws_connect(addr, "/");
            ws.send(WsMessage::text("allowed")).unwrap();
            text_of(&ws_read_data(&mut ws)).to_owned()
        });
        assert_eq!(within("the allowed client", served).await, "allowed");
    })
}

#[test]
fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
    common::run(async move {
        let connect = |addr: SocketAddr, header: Option<(&'static str, &'static str)>| {
            blocking(move || {
                let mut request = ws_request(addr, "/");
                if let Some((name, value)) = header {
                    request.headers_mut().insert(name, value.parse().unwrap());
                }
                let (ws, _) = ws_try_connect(addr, request, None).expect("handshake");
                let local = ws.get_ref().local_addr().unwrap();
                (ws, local)
            })
        };
        let xff = Some(("X-Forwarded-For", "203.0.113.7, 10.0.0.1"));
        let fwd = Some((
            "Forwarded",
            "for=\"[2001:db8::17]:4711\";proto=https, for=10.0.0.1",
        ));
        // A client that writes its own header cannot choose its address: the
        // hops are walked from the right, past trusted proxies only.
        let spoofed = Some(("X-Forwarded-For", "6.6.6.6, 203.0.113.9, 10.0.0.2"));
        let unknown = Some(("X-Forwarded-For", "203.0.113.7, unknown"));

        // Behind trusted proxies: us (the TCP peer) and 10.0.0.0/8.
        let mut config = quiet_config();
        config.trusted_proxies = vec![
            "127.0.0.1/32".parse::<IpNet>().unwrap(),
            "10.0.0.0/8".parse::<IpNet>().unwrap(),
        ];
        let ops = ops_server(config).await;
        let expected = [
            (xff, Some("203.0.113.7:0")),
            (fwd, Some("[2001:db8::17]:4711")),
            (spoofed, Some("203.0.113.9:0")),
            (unknown, None),
            (None, None),
        ];
        let mut clients = Vec::new();
        for (header, remote) in expected {
            let (ws, local) = within("client", connect(ops.addr, header)).await;
            let acc = ops.accepted().await;
            let remote: SocketAddr = remote.map_or(local, |r| r.parse().unwrap());
            assert_eq!(acc.conn.remote_addr(), remote, "{header:?}");
            clients.push(ws);
        }

        // The same headers from an untrusted peer are ignored.
        let mut config = quiet_config();
        config.trusted_proxies = vec!["10.0.0.0/8".parse::<IpNet>().unwrap()];
        let RequestServer {
            addr,
            handle: _handle,
            requests,
        } = request_server(config).await;
        for header in [xff, fwd] {
            let client = connect(addr, header);
            let request = within("request", requests.recv()).await.unwrap();
            assert_eq!(request.remote_addr(), request.peer_addr());
            assert!(request.remote_addr().ip().is_loopback());
            let conn = request.accept(None, None).await.expect("accept");
            let (_ws, local) = within("client", client).await;
            assert_eq!(conn.remote_addr(), local);
        }
    })
}

// ---------------------------------------------------------------------------
// Keepalive and timeouts
// ---------------------------------------------------------------------------

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
        config.idle_timeout = Some(Duration::from_millis(500));
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
            for i in 0..8 {
                std::thread::sleep(Duration::from_millis(150));
                ws.send(WsMessage::text(format!("{i}"))).unwrap();
                assert_eq!(text_of(&ws_read_data(&mut ws)), i.to_string());
            }
            ws.close(None).unwrap();
            ws_finish_close(&mut ws);
        });
        let (close, frames, at) = within("the idle close", silent).await;
        assert_eq!(close, Some((1001, "idle timeout".to_owned())));
        assert_eq!(frames, 0);
        assert!(at >= Duration::from_millis(450), "closed after {at:?}");
        assert!(at < Duration::from_secs(3), "closed after {at:?}");
        within("the talking client (1.2 s)", talking).await;
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

// ---------------------------------------------------------------------------
// Flow control
// ---------------------------------------------------------------------------

#[test]
fn drain_fires_and_writable_resolves_after_a_slow_client_catches_up() {
    common::run(async move {
        let high_water = 64 << 10;
        let ops = ops_server(slow_config(BroadcastPolicy::Drop)).await;
        let addr = ops.addr;
        let client = within(
            "client",
            blocking(move || never_reading_client(addr, "/quiet/drain")),
        )
        .await;
        let acc = ops.accepted().await;
        const MESSAGES: usize = 40;
        let conn = acc.conn.clone();
        let sender = common::spawn(async move {
            for i in 0..MESSAGES {
                conn.send(vec![i as u8; 16 << 10]).await?;
            }
            Ok::<(), Error>(())
        });
        let conn = acc.conn.clone();
        eventually("the queue to reach the high-water mark", TIMEOUT, || {
            conn.buffered_amount() >= high_water
        })
        .await;
        let conn = acc.conn.clone();
        let writable_done = Arc::new(AtomicBool::new(false));
        let flag = writable_done.clone();
        let writable = common::spawn(async move {
            let result = conn.writable().await;
            flag.store(true, Ordering::SeqCst);
            result
        });
        common::sleep(Duration::from_millis(300)).await;
        assert!(
            !writable_done.load(Ordering::SeqCst),
            "writable() before the client read"
        );
        assert!(
            acc.events.try_recv().is_err(),
            "an event (Drain?) before the client read"
        );
        let queued = acc.conn.buffered_amount();
        assert!(queued >= high_water, "{queued}");

        // The client catches up.
        let read = blocking(move || {
            let mut client = client;
            for i in 0..MESSAGES {
                let (first, payload) = read_server_frame(&mut client).expect("a message");
                assert_eq!(first, 0x82);
                assert_eq!(payload.len(), 16 << 10);
                assert!(
                    payload.iter().all(|&b| b == i as u8),
                    "message {i} out of order"
                );
            }
            client
        });
        let _client = within("the client to catch up", read).await;
        within("writable()", writable).await.expect("writable");
        assert!(matches!(acc.event().await, Event::Drain));
        within("the sender", sender).await.expect("sends");
        assert_eq!(acc.conn.buffered_amount(), 0);
    })
}

#[test]
fn pause_stops_reading_so_the_peer_blocks_and_resume_delivers_everything_in_order() {
    common::run(async move {
        let mut config = quiet_config();
        config.tcp.recv_buffer_size = Some(8 << 10);
        let ops = ops_server(config).await;
        let addr = ops.addr;
        let client = within(
            "client",
            blocking(move || {
                let mut s = connect_with_buffers(addr, None, Some(8 << 10));
                raw_upgrade(&mut s, "/quiet/pause");
                s
            }),
        )
        .await;
        let acc = ops.accepted().await;
        acc.conn.pause();
        assert!(acc.conn.is_paused());

        /// Frame `i`: a 4 KiB binary message starting with `i`.
        fn message(i: u32) -> Vec<u8> {
            let mut payload = vec![(i % 251) as u8; 4 << 10];
            payload[..4].copy_from_slice(&i.to_be_bytes());
            frame(true, 0x2, &payload)
        }
        // Write until the socket stops taking bytes for 500 ms.
        let phase1 = blocking(move || {
            let mut s = client;
            s.set_nonblocking(true).unwrap();
            let mut next = 0u32;
            let mut pending = message(next);
            let mut offset = 0;
            let mut total = 0usize;
            let mut progress = Instant::now();
            loop {
                if offset == pending.len() {
                    next += 1;
                    pending = message(next);
                    offset = 0;
                    assert!(total < 64 << 20, "64 MiB sent and the peer never blocked");
                }
                match s.write(&pending[offset..]) {
                    Ok(n) => {
                        offset += n;
                        total += n;
                        progress = Instant::now();
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        if progress.elapsed() > Duration::from_millis(500) {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => panic!("write: {e}"),
                }
            }
            (s, next, pending, offset, total)
        });
        let (s, last, pending, offset, total) = within("the client to block", phase1).await;
        assert!(total > 0);
        assert!(
            acc.messages_now().is_empty(),
            "messages arrived while paused"
        );
        assert_eq!(acc.conn.stats().bytes_in, 0, "the server read while paused");

        acc.conn.resume();
        let phase2 = blocking(move || {
            let mut s = s;
            s.set_nonblocking(false).unwrap();
            s.write_all(&pending[offset..]).unwrap();
            s
        });
        let _s = within("the rest of the last message", phase2).await;
        for i in 0..=last {
            match acc.event().await {
                Event::Message(Message::Binary(data)) => {
                    assert_eq!(data.len(), 4 << 10);
                    assert_eq!(
                        u32::from_be_bytes(data[..4].try_into().unwrap()),
                        i,
                        "out of order"
                    );
                }
                other => panic!("message {i}: {other:?}"),
            }
        }
        assert_eq!(acc.conn.stats().messages_in, u64::from(last) + 1);
    })
}

// ---------------------------------------------------------------------------
// Streaming send and receive
// ---------------------------------------------------------------------------

/// A temporary file, removed on drop.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn file_byte(at: usize) -> u8 {
    (at.wrapping_mul(7) % 251) as u8
}

#[test]
fn send_file_of_50_mib_arrives_whole_with_the_queue_near_its_bounds() {
    common::run(async move {
        const SIZE: usize = 50 << 20;
        let config = quiet_config();
        let high_water = config.send_queue_high_water;
        let chunk = config.stream_chunk_size;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let file = TempFile(std::env::temp_dir().join(format!(
            "wsgate-send-file-{}-{nanos}.bin",
            std::process::id()
        )));
        {
            let mut out = io::BufWriter::new(std::fs::File::create(&file.0).unwrap());
            let mut block = vec![0u8; 1 << 20];
            for b in 0..50 {
                for (j, byte) in block.iter_mut().enumerate() {
                    *byte = file_byte((b << 20) + j);
                }
                out.write_all(&block).unwrap();
            }
            out.flush().unwrap();
        }
        let ops = ops_server(config).await;
        let addr = ops.addr;
        let client = blocking(move || {
            let stream = tcp_with_timeout(addr, Duration::from_secs(30));
            let request = ws_request(addr, "/quiet/file");
            let (mut ws, _) =
                tungstenite::client::client_with_config(request, stream, Some(ws_large_config()))
                    .expect("handshake");
            match ws.read().expect("the file") {
                WsMessage::Binary(data) => {
                    let intact = data.iter().enumerate().all(|(i, &b)| b == file_byte(i));
                    (data.len(), intact)
                }
                other => panic!("expected one binary message, got {other:?}"),
            }
        });
        let acc = ops.accepted().await;
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = sample_queue(acc.conn.clone(), stop.clone());
        let path = file.0.clone();
        let sent = within_for(
            Duration::from_secs(30),
            "send_file",
            acc.conn.send_file(path),
        )
        .await
        .expect("send_file");
        assert_eq!(sent, SIZE as u64);
        let (len, intact) = within_for(Duration::from_secs(30), "the client", client).await;
        stop.store(true, Ordering::SeqCst);
        let (max, samples) = sampler.await;
        assert_eq!(len, SIZE);
        assert!(intact, "the file arrived corrupted");
        assert!(samples > 10, "{samples} samples");
        assert!(max > 0, "the queue never held anything");
        let bound = high_water + chunk + 14;
        assert!(max <= bound, "queued {max} bytes, bound {bound}");
    })
}

#[test]
fn send_stream_sends_fragments_from_an_async_reader_and_holds_other_messages_back() {
    common::run(async move {
        use futures::TryStreamExt;
        let mut config = quiet_config();
        config.stream_chunk_size = 16 << 10;
        let ops = ops_server(config).await;
        let addr = ops.addr;
        let client = within("client", blocking(move || raw_ws(addr, "/quiet/stream"))).await;
        let acc = ops.accepted().await;
        let text = text_of_len(100 << 10);
        let bytes = text.clone().into_bytes();
        let (tx, rx) = futures::channel::mpsc::unbounded::<io::Result<Vec<u8>>>();
        let conn = acc.conn.clone();
        let stream =
            common::spawn(
                async move { conn.send_stream(DataKind::Text, rx.into_async_read()).await },
            );
        tx.unbounded_send(Ok(bytes[..40 << 10].to_vec())).unwrap();
        common::sleep(Duration::from_millis(100)).await;
        // Sent mid-stream: must wait for the stream's end; a ping may pass.
        let conn = acc.conn.clone();
        let other = common::spawn(async move { conn.send("after").await });
        acc.conn.ping(b"mid".to_vec()).unwrap();
        common::sleep(Duration::from_millis(100)).await;
        for piece in bytes[40 << 10..].chunks(7000) {
            tx.unbounded_send(Ok(piece.to_vec())).unwrap();
        }
        drop(tx);
        assert_eq!(
            within("send_stream", stream).await.expect("send_stream"),
            bytes.len() as u64
        );
        within("the other send", other).await.expect("send");
        let frames = blocking(move || {
            let mut client = client;
            let mut frames = Vec::new();
            while frames
                .last()
                .is_none_or(|(_, p): &ServerFrame| p != b"after")
            {
                frames.push(read_server_frame(&mut client).expect("a frame"));
                assert!(frames.len() < 100);
            }
            frames
        });
        let frames = within("the frames", frames).await;
        let data: Vec<_> = frames.iter().filter(|(f, _)| f & 0x0f != 0x9).collect();
        assert!(
            frames.iter().any(|f| *f == (0x89, b"mid".to_vec())),
            "no ping"
        );
        let (last, fragments) = data.split_last().unwrap();
        assert_eq!(*last, &(0x81, b"after".to_vec()), "after came too early");
        assert_eq!(fragments.len(), (100usize << 10).div_ceil(16 << 10));
        assert_eq!(fragments[0].0, 0x01, "first fragment: text, not final");
        for (first, _) in &fragments[1..fragments.len() - 1] {
            assert_eq!(*first, 0x00, "middle fragments: continuation, not final");
        }
        assert_eq!(
            fragments.last().unwrap().0,
            0x80,
            "last fragment: final continuation"
        );
        assert!(fragments.iter().all(|(_, p)| p.len() <= 16 << 10));
        let joined: Vec<u8> = fragments
            .iter()
            .flat_map(|(_, p)| p.iter().copied())
            .collect();
        assert!(joined == bytes, "the streamed text differs");
    })
}

#[test]
fn send_stream_closes_with_1011_when_its_reader_fails() {
    common::run(async move {
        use futures::TryStreamExt;
        let mut config = quiet_config();
        config.stream_chunk_size = 16 << 10;
        let ops = ops_server(config).await;
        let addr = ops.addr;
        let client = within("client", blocking(move || raw_ws(addr, "/quiet/fail"))).await;
        let acc = ops.accepted().await;
        let chunks: Vec<io::Result<Vec<u8>>> = vec![
            Ok(vec![1u8; 20 << 10]),
            Err(io::Error::other("disk on fire")),
        ];
        let reader = futures::stream::iter(chunks).into_async_read();
        let result = within(
            "send_stream",
            acc.conn.send_stream(DataKind::Binary, reader),
        )
        .await;
        assert!(matches!(result, Err(Error::Io(_))), "{result:?}");
        let seen = blocking(move || {
            let mut client = client;
            read_until_close(&mut client).0
        });
        assert_eq!(
            within("the close", seen).await,
            Some((1011, "message source failed".to_owned()))
        );
    })
}

#[test]
fn a_large_message_arrives_as_fragments_when_assembly_is_off() {
    common::run(async move {
        let mut config = quiet_config();
        config.assemble_messages = false;
        let ops = ops_server(config).await;
        let addr = ops.addr;
        let part = 1 << 20;
        let data = bytes_of_len(3 * part);
        let sent = data.clone();
        let client = blocking(move || {
            let mut s = raw_ws(addr, "/quiet/fragments");
            s.write_all(&frame(false, 0x2, &sent[..part])).unwrap();
            s.write_all(&frame(false, 0x0, &sent[part..2 * part]))
                .unwrap();
            s.write_all(&frame(true, 0x0, &sent[2 * part..])).unwrap();
            s
        });
        let acc = ops.accepted().await;
        let _s = within("the client", client).await;
        let mut joined = Vec::new();
        for i in 0..3 {
            match acc.event().await {
                Event::Fragment(f) => {
                    assert_eq!(f.kind, DataKind::Binary);
                    assert_eq!((f.first, f.last), (i == 0, i == 2), "fragment {i}");
                    assert_eq!(f.data.len(), part);
                    joined.extend_from_slice(&f.data);
                }
                other => panic!("fragment {i}: {other:?}"),
            }
        }
        assert!(joined == data, "the fragments differ");
        eventually("one message counted", TIMEOUT, || {
            acc.conn.stats().messages_in == 1
        })
        .await;
    })
}

// ---------------------------------------------------------------------------
// Mounting in another server (handleUpgrade)
// ---------------------------------------------------------------------------

#[test]
fn a_stream_accepted_elsewhere_becomes_a_request_with_its_read_bytes() {
    common::run(async move {
        // "Another server": a plain listener that reads the first bytes of each
        // request itself, then hands the stream and those bytes over.
        let listener = ForeignListener::bind().unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, requests) = unbounded();
        common::spawn(async move {
            use futures::AsyncReadExt;
            while let Ok(mut stream) = listener.accept().await {
                let tx = tx.clone();
                common::spawn(async move {
                    let mut buffered = vec![0u8; 4096];
                    let n = stream.read(&mut buffered).await.unwrap_or(0);
                    buffered.truncate(n);
                    let peer = stream.get_ref().peer_addr().unwrap();
                    let local = stream.get_ref().local_addr().unwrap();
                    let result = WebSocketRequest::from_stream(
                        stream,
                        buffered,
                        peer,
                        local,
                        false,
                        quiet_config(),
                    )
                    .await;
                    let _ = tx.send(result).await;
                });
            }
        });

        // The head and a first frame in one write: the other server read both.
        let client = blocking(move || {
            let mut s = tcp(addr);
            let mut bytes = upgrade_request("/mounted?room=1", "").into_bytes();
            bytes.extend_from_slice(&frame(true, 0x1, b"early"));
            s.write_all(&bytes).unwrap();
            let (status, head) = read_http_head(&mut s).unwrap();
            assert_eq!(status, 101, "{head}");
            let echo = read_server_frame(&mut s).unwrap();
            s.write_all(&close_frame(1000, "")).unwrap();
            let (close, _) = read_until_close(&mut s);
            (echo, close)
        });
        let request = within("the request", requests.recv())
            .await
            .unwrap()
            .expect("a valid upgrade");
        assert_eq!(request.resource(), "/mounted?room=1");
        assert!(request.peer_addr().ip().is_loopback());
        assert_eq!(request.local_addr(), addr);
        let conn = request.accept(None, None).await.expect("accept");
        let echoed = async {
            let mut events = conn.events();
            let mut seen = Vec::new();
            while let Some(event) = events.next().await {
                if let Event::Message(m) = &event {
                    conn.send(m.clone()).await.unwrap();
                }
                seen.push(event);
            }
            seen
        };
        let seen = within("the connection", echoed).await;
        assert!(matches!(&seen[0], Event::Message(Message::Text(t)) if t == "early"));
        let (echo, close) = within("the client", client).await;
        assert_eq!(echo, (0x81, b"early".to_vec()));
        assert_eq!(close.map(|c| c.0), Some(1000));

        // A plain request handed over is answered 426 and returned as an error.
        let plain =
            blocking(move || raw_exchange(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status);
        assert_eq!(within("the plain request", plain).await, 426);
        let result = within("the result", requests.recv()).await.unwrap();
        assert!(result.is_err());
    })
}

// ---------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------

#[test]
fn metrics_count_handshakes_traffic_and_closes() {
    common::run(async move {
        let ops = ops_server(quiet_config()).await;
        let addr = ops.addr;
        assert_eq!(ops.handle.metrics(), wsgate::MetricsSnapshot::default());

        // Client a: one echo, then closes with 1000.
        let a = within(
            "client a",
            blocking(move || {
                let mut ws = ws_connect(addr, "/a");
                ws.send(WsMessage::text("hello")).unwrap();
                assert_eq!(text_of(&ws_read_data(&mut ws)), "hello");
                ws
            }),
        )
        .await;
        // Client b: the server disconnects it with 4001.
        let b = within("client b", blocking(move || ws_connect(addr, "/b"))).await;
        let acc_a = ops.accepted().await;
        let acc_b = ops.accepted().await;
        let conn_a = acc_a.conn.clone();
        eventually("a's counters", TIMEOUT, || conn_a.stats().bytes_out == 7).await;
        let live = ops.handle.metrics();
        assert_eq!(live.active_connections, 2);
        assert_eq!(live.accepted, 2);
        assert_eq!((live.messages_in, live.messages_out), (1, 1));
        assert_eq!((live.bytes_in, live.bytes_out), (11, 7));

        // A rejection by the application, an invalid handshake, and a client
        // that connects and leaves without a word.
        let rejected = blocking(move || ws_expect_rejection(addr, ws_request(addr, "/reject")).0);
        assert_eq!(within("rejection", rejected).await, 403);
        let bad = blocking(move || {
            raw_exchange(
                addr,
                b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Version: 13\r\n\r\n",
            )
            .status
        });
        assert_eq!(within("bad handshake", bad).await, 400);
        within("a silent client", blocking(move || drop(tcp(addr)))).await;

        let closed_a = blocking(move || {
            let mut ws = a;
            ws.close(Some(tungstenite::protocol::CloseFrame {
                code: 1000.into(),
                reason: "bye".into(),
            }))
            .unwrap();
            ws_finish_close(&mut ws);
        });
        within("a's close", closed_a).await;
        ops.handle
            .disconnect(acc_b.conn.id(), CloseCode::from(4001), "later")
            .unwrap();
        let closed_b = blocking(move || {
            let mut ws = b;
            ws_wait_for_close(&mut ws)
        });
        assert_eq!(within("b's close", closed_b).await.map(|c| c.0), Some(4001));
        eventually("no connections left", TIMEOUT, || {
            let m = ops.handle.metrics();
            m.active_connections == 0 && m.failed_handshakes == 1
        })
        .await;
        let m = ops.handle.metrics();
        assert_eq!(m.accepted, 2);
        assert_eq!(m.pending_handshakes, 0);
        assert_eq!(m.refused, 0);
        assert_eq!(m.failed_handshakes, 1);
        assert_eq!(
            m.rejected.into_iter().collect::<Vec<_>>(),
            [(400, 1), (403, 1)]
        );
        assert_eq!(
            m.closes.into_iter().collect::<Vec<_>>(),
            [(1000, 1), (4001, 1)]
        );
        assert_eq!((m.messages_in, m.messages_out), (1, 1));
        // Traffic of finished connections is kept: a's message and close (11 +
        // 11 bytes) and b's close answer came in; a's echo and both closes
        // went out.
        assert!(m.bytes_in >= 11 + 11 + 8, "{}", m.bytes_in);
        assert!(m.bytes_out >= 7 + 4 + 9, "{}", m.bytes_out);
        drop((acc_a, acc_b));

        // A request waiting for its decision counts as pending.
        let RequestServer {
            addr,
            handle,
            requests,
        } = request_server(quiet_config()).await;
        let client = blocking(move || {
            let mut s = tcp(addr);
            s.write_all(upgrade_request("/", "").as_bytes()).unwrap();
            read_http_head(&mut s).unwrap().0
        });
        let request = within("request", requests.recv()).await.unwrap();
        assert_eq!(handle.metrics().pending_handshakes, 1);
        request.reject(StatusCode::Unauthorized, "no");
        assert_eq!(within("client", client).await, 401);
        eventually("the pending count to drop", TIMEOUT, || {
            handle.metrics().pending_handshakes == 0
        })
        .await;
        assert_eq!(handle.metrics().rejected.get(&401), Some(&1));
    })
}

/// Every log record of this test binary, captured by [`capture_logs`].
static LOGS: std::sync::Mutex<Vec<(log::Level, String)>> = std::sync::Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        if record.target().starts_with("wsgate") {
            let mut logs = LOGS.lock().unwrap_or_else(|p| p.into_inner());
            logs.push((record.level(), record.args().to_string()));
        }
    }

    fn flush(&self) {}
}

/// Installs the capturing logger (once per process).
fn capture_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        log::set_logger(&Capture).expect("no other logger");
        log::set_max_level(log::LevelFilter::Debug);
    });
}

/// The captured records that contain every one of `words`.
fn logged(words: &[&str]) -> Vec<(log::Level, String)> {
    LOGS.lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter(|(_, line)| words.iter().all(|w| line.contains(w)))
        .cloned()
        .collect()
}

#[test]
fn logs_accepted_rejected_refused_and_closed_connections() {
    common::run(async move {
        capture_logs();
        let ops = ops_server(quiet_config()).await;
        let addr = ops.addr;
        // Accepted, then closed by the client with 1000.
        let client = blocking(move || {
            let mut ws = ws_connect(addr, "/logged");
            let local = ws.get_ref().local_addr().unwrap();
            ws.close(None).unwrap();
            ws_finish_close(&mut ws);
            local
        });
        let local = within("client", client).await;
        let acc = ops.accepted().await;
        let id = acc.conn.id().to_string();
        within("the close", acc.conn.closed()).await;
        // Rejected by the application, and refused as an invalid handshake.
        let rejected = blocking(move || ws_expect_rejection(addr, ws_request(addr, "/reject")).0);
        assert_eq!(within("rejection", rejected).await, 403);
        let bad = blocking(move || {
            let mut s = tcp(addr);
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n")
                .unwrap();
            let (status, _) = read_http_head(&mut s).unwrap();
            (status, s.local_addr().unwrap())
        });
        let (status, bad_addr) = within("bad handshake", bad).await;
        assert_eq!(status, 400);

        let accepted = logged(&[&format!("{id} accepted from {local}")]);
        assert_eq!(accepted.len(), 1, "{accepted:?}");
        assert_eq!(accepted[0].0, log::Level::Info);
        eventually("the close to be logged", TIMEOUT, || {
            !logged(&[&format!("{id} closed with 1005")]).is_empty()
                || !logged(&[&format!("{id} closed with 1000")]).is_empty()
        })
        .await;
        let rejections = logged(&["rejected with 403", "go away"]);
        assert!(
            rejections
                .iter()
                .any(|(level, _)| *level == log::Level::Info),
            "{rejections:?}"
        );
        let refusals = logged(&[&format!("bad handshake from {bad_addr}")]);
        assert_eq!(refusals.len(), 1, "{refusals:?}");
        assert_eq!(refusals[0].0, log::Level::Debug);
    })
}

// ---------------------------------------------------------------------------
// TCP options
// ---------------------------------------------------------------------------

#[test]
fn socket_options_are_applied_and_the_server_serves() {
    common::run(async move {
        let mut config = quiet_config();
        config.tcp.backlog = 8;
        config.tcp.nodelay = false;
        config.tcp.keepalive = Some(wsgate::TcpKeepalive {
            time: Duration::from_secs(30),
            interval: Duration::from_secs(5),
            retries: 3,
        });
        config.tcp.recv_buffer_size = Some(32 << 10);
        config.tcp.send_buffer_size = Some(32 << 10);
        config.tcp.reuse_address = false;
        let ops = ops_server(config).await;
        let addr = ops.addr;
        let echoed = blocking(move || {
            let mut ws = ws_connect(addr, "/");
            let big = bytes_of_len(300_000);
            ws.send(WsMessage::binary(big.clone())).unwrap();
            matches!(ws_read_data(&mut ws), WsMessage::Binary(b) if b[..] == big[..])
        });
        assert!(within("echo", echoed).await);
        // A second, exclusive bind of the same port fails.
        let mut exclusive = quiet_config();
        exclusive.tcp.reuse_address = false;
        let err = Server::builder()
            .config(exclusive)
            .bind(addr)
            .await
            .expect_err("bound a port in use");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    })
}

#[test]
fn reuse_address_lets_a_restarted_server_bind_over_time_wait() {
    common::run(async move {
        let ops = ops_server(quiet_config()).await;
        let addr = ops.addr;
        // The server closes first, so its end of the connection sits in
        // TIME_WAIT afterwards.
        let client = blocking(move || {
            let mut s = raw_ws(addr, "/quiet/");
            let (close, _) = read_until_close(&mut s);
            s.write_all(&close_frame(1000, "")).unwrap();
            expect_end(&mut s);
            close
        });
        let acc = ops.accepted().await;
        acc.conn.close(CloseCode::NORMAL, "restart").unwrap();
        assert_eq!(
            within("the close", client).await,
            Some((1000, "restart".to_owned()))
        );
        within("the connection to end", acc.conn.closed()).await;
        ops.handle.stop_listening();
        let gone = blocking(move || {
            (0..200).any(|_| {
                let refused = TcpStream::connect_timeout(&addr, TIMEOUT)
                    .is_err_and(|e| e.kind() == io::ErrorKind::ConnectionRefused);
                if !refused {
                    std::thread::sleep(Duration::from_millis(10));
                }
                refused
            })
        });
        assert!(within("the listener to close", gone).await);

        let mut exclusive = quiet_config();
        exclusive.tcp.reuse_address = false;
        match Server::builder().config(exclusive).bind(addr).await {
            Err(e) => assert_eq!(e.kind(), io::ErrorKind::AddrInUse),
            Ok(_) => panic!("an exclusive bind succeeded over TIME_WAIT: SO_REUSEADDR was not off"),
        }
        // The default (SO_REUSEADDR on) binds, and serves.
        let again = ops_server_on(Server::builder().config(quiet_config()), &addr.to_string())
            .await
            .expect("rebind with SO_REUSEADDR");
        let served = blocking(move || {
            let mut ws = ws_connect(addr, "/");
            ws.send(WsMessage::text("back")).unwrap();
            text_of(&ws_read_data(&mut ws)).to_owned()
        });
        assert_eq!(within("the restarted server", served).await, "back");
        drop(again);
    })
}

#[test]
fn ipv6_loopback_binding_with_only_v6() {
    common::run(async move {
        if std::net::TcpListener::bind("[::1]:0").is_err() {
            eprintln!("skipped: no IPv6 loopback here");
            return;
        }
        for only_v6 in [Some(true), Some(false), None] {
            let mut config = quiet_config();
            config.tcp.only_v6 = only_v6;
            let ops = ops_server_on(Server::builder().config(config), "[::1]:0")
                .await
                .expect("bind [::1]");
            assert!(ops.addr.is_ipv6());
            let addr = ops.addr;
            let echoed = blocking(move || {
                let mut ws = ws_connect(addr, "/v6");
                ws.send(WsMessage::text("six")).unwrap();
                text_of(&ws_read_data(&mut ws)).to_owned()
            });
            assert_eq!(within("echo over IPv6", echoed).await, "six");
            let acc = ops.accepted().await;
            assert!(acc.conn.remote_addr().is_ipv6());
            assert_eq!(acc.conn.local_addr(), addr);
        }
    })
}

// ---------------------------------------------------------------------------
// The examples as processes: the echo reference server, and the chat
// ---------------------------------------------------------------------------

/// Builds the example `name` (with the test profile and features, as `cargo
/// test` does, so this is a no-op after a full `cargo test` build) and
/// returns its path. `None` without the `rustls` feature, which the
/// examples require.
fn example(name: &str) -> Option<PathBuf> {
    // The features this test was built with, so that the build matches.
    let features: Vec<&str> = [
        ("default", cfg!(feature = "default")),
        ("async-std", cfg!(feature = "async-std")),
        ("smol", cfg!(feature = "smol")),
        ("tokio", cfg!(feature = "tokio")),
        ("hyper", cfg!(feature = "hyper")),
        ("rustls", cfg!(feature = "rustls")),
        ("ring", cfg!(feature = "ring")),
        ("native-roots", cfg!(feature = "native-roots")),
        ("async-tls", cfg!(feature = "async-tls")),
        ("deflate", cfg!(feature = "deflate")),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect();
    let mut build = Command::new(env!("CARGO"))
        .args(["build", "--example", name, "--profile", "test"])
        .args(["--no-default-features", "--features", &features.join(",")])
        .arg("--manifest-path")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run cargo");
    let start = Instant::now();
    let built = loop {
        if let Some(status) = build.try_wait().unwrap() {
            break status.success();
        }
        if start.elapsed() > Duration::from_secs(300) {
            let _ = build.kill();
            let _ = build.wait();
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // target/debug/deps/suite-… → target/debug/examples/echo
    let exe = std::env::current_exe().ok()?;
    let path = exe
        .parent()?
        .parent()?
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !built {
        eprintln!(
            "building the {name} example failed; using {}",
            path.display()
        );
    }
    path.exists().then_some(path)
}

/// A running example.
struct ExampleProcess {
    child: Child,
    addr: SocketAddr,
    stdout: std::sync::mpsc::Receiver<String>,
}

/// SIGTERM to an example serving one client `ws`: the client gets 1001,
/// and the process reports one clean close and exits 0.
fn terminate_and_see_a_clean_shutdown(server: ExampleProcess, ws: &mut Ws) {
    server.signal("-TERM");
    assert_eq!(
        ws_wait_for_close(ws),
        Some((1001, "server shutting down".to_owned()))
    );
    let (status, lines) = server.wait();
    assert!(status.success(), "exit status {status}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("1 connections closed cleanly, 0 dropped")),
        "{lines:?}"
    );
}

impl ExampleProcess {
    fn start(exe: &PathBuf, flags: &[&str]) -> ExampleProcess {
        let mut child = Command::new(exe)
            .args(["--addr", "127.0.0.1:0"])
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the example");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // "echo server listening on ws://ADDR", "chat server running at http://ADDR/"
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the example's first line");
        let addr = line
            .rsplit("://")
            .next()
            .and_then(|a| a.trim().trim_end_matches('/').parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        ExampleProcess {
            child,
            addr,
            stdout: rx,
        }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits for the process to exit (at most 10 s); returns its status and
    /// the rest of its output.
    fn wait(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut lines = Vec::new();
                while let Ok(line) = self.stdout.recv_timeout(Duration::from_millis(500)) {
                    lines.push(line);
                }
                return (status, lines);
            }
            if start.elapsed() > Duration::from_secs(10) {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the example did not exit within 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ExampleProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
#[cfg(unix)]
fn echo_example_flags_and_graceful_sigterm() {
    let Some(exe) = example("echo") else {
        eprintln!("skipped: the echo example could not be built");
        return;
    };

    // --max-connections 1, then SIGTERM: close 1001 to the client, exit 0.
    let server = ExampleProcess::start(
        &exe,
        &[
            "--max-connections",
            "1",
            "--ping-interval",
            "0",
            "--shutdown-timeout",
            "3",
        ],
    );
    let addr = server.addr;
    let mut ws = ws_connect(addr, "/");
    ws.send(WsMessage::text("hi")).unwrap();
    assert_eq!(text_of(&ws_read_data(&mut ws)), "hi");
    let (status, headers, _) = ws_expect_rejection(addr, ws_request(addr, "/"));
    assert_eq!(status, 503);
    assert!(headers.contains_key("retry-after"));
    terminate_and_see_a_clean_shutdown(server, &mut ws);

    // --max-message-size, --ping-interval and --ping-timeout.
    let server = ExampleProcess::start(
        &exe,
        &[
            "--max-message-size",
            "1000",
            "--ping-interval",
            "1",
            "--ping-timeout",
            "1",
        ],
    );
    let addr = server.addr;
    let mut ws = ws_connect(addr, "/");
    ws.send(WsMessage::binary(vec![0u8; 1000])).unwrap();
    assert!(matches!(ws_read_data(&mut ws), WsMessage::Binary(b) if b.len() == 1000));
    ws.send(WsMessage::binary(vec![0u8; 1001])).unwrap();
    assert_eq!(ws_wait_for_close(&mut ws).map(|c| c.0), Some(1009));
    let mut silent = raw_ws(addr, "/");
    let start = Instant::now();
    let (close, pings) = read_until_close(&mut silent);
    assert_eq!(close.map(|c| c.0), Some(1011));
    assert!(!pings.is_empty());
    assert!(
        start.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        start.elapsed()
    );
    server.signal("-INT");
    assert!(server.wait().0.success());

    // --idle-timeout with keepalive off; --trust-proxy and --allow parse.
    let server = ExampleProcess::start(
        &exe,
        &[
            "--ping-interval",
            "0",
            "--idle-timeout",
            "1",
            "--allow",
            "127.0.0.1/32",
            "--trust-proxy",
            "10.0.0.0/8",
        ],
    );
    let mut silent = raw_ws(server.addr, "/");
    let start = Instant::now();
    let (close, _) = read_until_close(&mut silent);
    assert_eq!(close, Some((1001, "idle timeout".to_owned())));
    assert!(start.elapsed() >= Duration::from_millis(900));
    server.signal("-TERM");
    assert!(server.wait().0.success());

    // --allow that excludes us: disconnected without a response.
    let server = ExampleProcess::start(&exe, &["--allow", "10.0.0.0/8"]);
    let mut s = tcp(server.addr);
    let _ = s.write_all(upgrade_request("/", "").as_bytes());
    assert_eq!(drain_until_end(&mut s), 0);
    server.signal("-TERM");
    assert!(server.wait().0.success());

    // A bad flag is refused with the usage text.
    let out = Command::new(&exe)
        .args(["--max-connections", "lots"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // --help is no error: the usage text on stdout, exit 0.
    let out = Command::new(&exe).arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("usage: echo"));
    let _ = s.shutdown(Shutdown::Both);
}

#[test]
#[cfg(unix)]
fn chat_example_graceful_sigterm() {
    let Some(exe) = example("chat") else {
        eprintln!("skipped: the chat example could not be built");
        return;
    };
    // SIGTERM: close 1001 to the member, exit 0.
    let server = ExampleProcess::start(&exe, &[]);
    let addr = server.addr;
    let mut request = ws_request(addr, "/chat?nick=ann");
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "chat".parse().unwrap());
    let (mut ws, _) = ws_try_connect(addr, request, None).expect("handshake");
    // The welcome: who is online, the history, and ann's own join.
    for _ in 0..3 {
        ws_read_data(&mut ws);
    }
    terminate_and_see_a_clean_shutdown(server, &mut ws);
}

/// examples/axum.rs: a page, /health and wsgate's echo on one port, with
/// tungstenite and raw HTTP as the clients.
#[cfg(feature = "hyper")]
#[test]
fn axum_example_serves_a_page_health_and_a_websocket_on_one_port() {
    let Some(exe) = example("axum") else {
        eprintln!("skipped: the axum example could not be built");
        return;
    };
    let server = ExampleProcess::start(&exe, &[]);
    let addr = server.addr;
    let page = raw_exchange(
        addr,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(page.status, 200);
    assert!(page.body_text().contains("wsgate on axum"));
    let mut ws = ws_connect(addr, "/ws");
    ws.send(WsMessage::text("through axum")).unwrap();
    assert_eq!(text_of(&ws_read_data(&mut ws)), "through axum");
    let health = raw_exchange(
        addr,
        b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(health.status, 200);
    assert_eq!(health.body_text(), "ok: 1 connections\n");
}
