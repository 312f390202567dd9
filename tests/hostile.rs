//! Hostile traffic (issue 3): slow, silent, oversized, flooding and
//! crashing peers, driven by raw-socket clients. Each test checks the
//! status or close code the server answers with, that memory and the send
//! queue stay bounded, and that a healthy second connection is served
//! right after.
//!
//! Memory is measured in-process: the server runs in this test binary, so a
//! counting global allocator sees its allocations (the largest single
//! allocation and the live heap), and `/proc/self/status` gives a coarse
//! RSS. Tests that measure memory run alone (an exclusive lock); the others
//! share it and run in parallel.

#[path = "suite/common/mod.rs"]
mod common;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use async_channel::Sender;
use async_lock::RwLock;
use common::counting::{Counting, LARGEST, LIVE};
use common::*;
use futures::StreamExt;
use http_types::{Response, StatusCode};
use tungstenite::Message as WsMessage;
use wsgate::{
    Config, Connection, DataKind, Error, Event, Message, SendPolicy, Server, ServerBuilder,
};

// ---------------------------------------------------------------------------
// Memory accounting
// ---------------------------------------------------------------------------

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Memory-measuring tests take this exclusively; the others share it.
static GATE: LazyLock<RwLock<()>> = LazyLock::new(|| RwLock::new(()));

/// The process's resident set size in KiB (0 where /proc is missing).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// Memory use at one moment, to compare with a later one.
struct MemoryMark {
    live: usize,
    rss_kib: u64,
}

impl MemoryMark {
    /// Starts a measurement: resets the largest-allocation watermark.
    fn start() -> MemoryMark {
        LARGEST.store(0, Ordering::SeqCst);
        MemoryMark {
            live: LIVE.load(Ordering::SeqCst),
            rss_kib: rss_kib(),
        }
    }

    /// Asserts that since `start`, no allocation reached `largest` bytes,
    /// the live heap grew by less than `live`, and RSS by less than `rss`.
    fn check(&self, what: &str, largest: usize, live: usize, rss: usize) {
        let seen_largest = LARGEST.load(Ordering::SeqCst);
        let grown = LIVE.load(Ordering::SeqCst).saturating_sub(self.live);
        let rss_grown = rss_kib().saturating_sub(self.rss_kib) as usize * 1024;
        eprintln!(
            "{what}: largest allocation {seen_largest} B, live heap +{grown} B, RSS +{rss_grown} B"
        );
        assert!(
            seen_largest < largest,
            "{what}: an allocation of {seen_largest} bytes"
        );
        assert!(grown < live, "{what}: the live heap grew by {grown} bytes");
        assert!(rss_grown < rss, "{what}: RSS grew by {rss_grown} bytes");
    }
}

// ---------------------------------------------------------------------------
// The server under attack
// ---------------------------------------------------------------------------

/// A server that accepts everything and echoes. Connections on `/t/…` are
/// handed to the test with their events (pings are only counted); on
/// `/panic` the application task panics at the first message.
struct Target {
    server: AppServer,
    pings: Arc<AtomicUsize>,
}

impl std::ops::Deref for Target {
    type Target = AppServer;

    fn deref(&self) -> &AppServer {
        &self.server
    }
}

async fn target(config: Config) -> Target {
    target_with(Server::builder().config(config)).await
}

async fn target_with(builder: ServerBuilder) -> Target {
    let pings = Arc::new(AtomicUsize::new(0));
    let counter = pings.clone();
    let server = app_server(builder, "127.0.0.1:0", move |request, tx| {
        let counter = counter.clone();
        async move {
            if let Ok(conn) = request.accept(None, None).await {
                application(conn, tx, counter).await;
            }
        }
    })
    .await
    .expect("bind");
    Target { server, pings }
}

async fn application(conn: Connection, tx: Sender<Accepted>, pings: Arc<AtomicUsize>) {
    let watched = conn.resource().starts_with("/t/");
    let panics = conn.resource() == "/panic";
    let events_tx = if watched {
        Some(Accepted::hand_over(&conn, &tx).await)
    } else {
        None
    };
    let mut stream = conn.events();
    while let Some(event) = stream.next().await {
        match &event {
            Event::Ping(_) => {
                pings.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            Event::Message(message) => {
                if panics {
                    panic!("a deliberate bug in the application's connection task");
                }
                let _ = conn.send(message.clone()).await;
            }
            // With assembly off, single-frame messages are echoed too.
            Event::Fragment(f) if f.first && f.last => {
                let message = match f.kind {
                    DataKind::Text => Message::Text(String::from_utf8(f.data.clone()).unwrap()),
                    DataKind::Binary => Message::Binary(f.data.clone()),
                };
                let _ = conn.send(message).await;
            }
            _ => {}
        }
        if let Some(events_tx) = &events_tx {
            let _ = events_tx.send(event).await;
        }
    }
}

/// A fresh tungstenite client is served: handshake, echo, clean close.
async fn assert_healthy(addr: SocketAddr) {
    let client = blocking(move || {
        let mut ws = ws_connect(addr, "/healthy");
        ws.send(WsMessage::text("still serving")).unwrap();
        let echo = match ws_read_data(&mut ws) {
            WsMessage::Text(t) => t.to_string(),
            other => panic!("{other:?}"),
        };
        ws.close(None).unwrap();
        ws_finish_close(&mut ws);
        echo
    });
    assert_eq!(
        within("a healthy client", client).await,
        "still serving",
        "the server stopped serving"
    );
}

/// The status of an HTTP response head (read byte by byte).
fn read_status(stream: &mut TcpStream) -> io::Result<u16> {
    read_http_head(stream).map(|(status, _)| status)
}

/// The response to `request` sent on a fresh connection: its status, or
/// `None` when the server closed without one.
fn status_for(addr: SocketAddr, request: &[u8]) -> Option<u16> {
    let mut s = tcp(addr);
    let _ = s.write_all(request);
    read_status(&mut s).ok()
}

// ---------------------------------------------------------------------------
// Handshake attacks
// ---------------------------------------------------------------------------

#[test]
fn slowloris_gets_408_at_the_handshake_timeout_while_others_are_served() {
    common::run(async move {
        let _shared = GATE.read().await;
        let mut config = quiet_config();
        config.handshake_timeout = Duration::from_secs(1);
        let server = target(config).await;
        let addr = server.addr;
        let slowloris = blocking(move || {
            let mut reader = tcp(addr);
            let mut writer = reader.try_clone().unwrap();
            let start = Instant::now();
            // One byte every 100 ms: the whole request would take 15 s.
            std::thread::spawn(move || {
                for byte in upgrade_request("/", "").bytes() {
                    if writer.write_all(&[byte]).is_err()
                        || start.elapsed() > Duration::from_secs(4)
                    {
                        return;
                    }
                    // The behaviour under test: a byte every 100 ms.
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
            let status = read_status(&mut reader).ok();
            (status, start.elapsed())
        });
        // Served meanwhile.
        assert_healthy(addr).await;
        let (status, at) = within("the slowloris client", slowloris).await;
        assert_eq!(status, Some(408));
        assert!(at >= Duration::from_millis(900), "answered after {at:?}");
        assert!(at < Duration::from_millis(2500), "answered after {at:?}");
        assert_eq!(server.handle.metrics().rejected.get(&408), Some(&1));
        assert_healthy(addr).await;
    })
}

/// With `TcpOptions::defer_accept` (on by default, Linux) a connection
/// that sends nothing does not reach the server, and its first byte hands it
/// over at once; without it the server has the connection straight away.
/// Seen through the allow-list, which disconnects 127.0.0.1 the moment the
/// server has the connection, and counts it.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[test]
fn silent_connections_reach_the_server_only_once_they_speak() {
    common::run(async move {
        let _shared = GATE.read().await;
        for defer in [true, false] {
            let mut config = quiet_config();
            config.allow = vec!["10.0.0.0/8".parse().unwrap()];
            if !defer {
                config.tcp.defer_accept = None;
            }
            let server = target(config).await;
            let addr = server.addr;
            let mut client = blocking(move || tcp(addr)).await;
            let refused = || server.handle.metrics().refused;
            if defer {
                // The kernel holds it for 1 s; well inside that, nothing yet
                // (a negative check: nothing would announce the absence).
                common::sleep(Duration::from_millis(200)).await;
                assert_eq!(refused(), 0, "handed over before it sent anything");
                client.write_all(b"G").unwrap();
                eventually("the refusal", Duration::from_millis(500), || refused() == 1).await;
            } else {
                eventually("the refusal", Duration::from_secs(5), || refused() == 1).await;
            }
            // Disconnected without an answer.
            let end = blocking(move || {
                let mut buf = [0u8; 16];
                client.read(&mut buf).map_err(|e| e.kind())
            });
            let end = within("the disconnect", end).await;
            assert!(
                matches!(end, Ok(0) | Err(io::ErrorKind::ConnectionReset)),
                "defer {defer}: {end:?}"
            );
        }
    })
}

#[test]
fn a_head_trickled_byte_by_byte_is_parsed_in_linear_time() {
    common::run(async move {
        let _shared = GATE.read().await;
        let mut config = quiet_config();
        config.max_handshake_size = 64 << 10;
        let server = target(config).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut s = tcp(addr);
            let filler = format!("X-Filler: {}\r\n", "f".repeat(60_000));
            let request = upgrade_request("/", &filler);
            let start = Instant::now();
            for byte in request.bytes() {
                s.write_all(&[byte]).unwrap();
            }
            (read_status(&mut s).unwrap(), start.elapsed())
        });
        let (status, took) = within("the trickled head", client).await;
        assert_eq!(status, 101);
        assert!(took < Duration::from_secs(3), "took {took:?}");
        assert_healthy(addr).await;
    })
}

#[test]
fn an_oversized_head_gets_431() {
    common::run(async move {
        let _shared = GATE.read().await;
        let server = target(quiet_config()).await;
        let addr = server.addr;
        let response = blocking(move || {
            let big = format!("X-Big: {}\r\n", "a".repeat(20_000));
            raw_exchange(addr, upgrade_request("/", &big).as_bytes())
        });
        let response = within("the response", response).await;
        assert_eq!(response.status, 431, "{}", response.head);
        // A head that never ends is cut off at the limit too.
        let endless = blocking(move || {
            let mut s = tcp(addr);
            let mut head = b"GET / HTTP/1.1\r\nX-Endless: ".to_vec();
            head.extend(std::iter::repeat_n(b'z', 64 << 10));
            let _ = s.write_all(&head);
            read_status(&mut s).ok()
        });
        assert_eq!(within("the endless head", endless).await, Some(431));
        assert_healthy(addr).await;
    })
}

#[test]
fn too_many_headers_get_431() {
    common::run(async move {
        let _shared = GATE.read().await;
        let server = target(quiet_config()).await;
        let addr = server.addr;
        let response = blocking(move || {
            let many: String = (0..100).map(|i| format!("X-H{i}: {i}\r\n")).collect();
            raw_exchange(addr, upgrade_request("/", &many).as_bytes())
        });
        let response = within("the response", response).await;
        assert_eq!(response.status, 431, "{}", response.head);
        assert_eq!(server.handle.metrics().rejected.get(&431), Some(&1));
        assert_healthy(addr).await;
    })
}

#[test]
fn token_lists_shaped_for_backtracking_are_answered_promptly() {
    common::run(async move {
        let _shared = GATE.read().await;
        let mut config = quiet_config();
        config.max_handshake_size = 256 << 10;
        let server = target(config).await;
        let addr = server.addr;
        let n = 100_000;
        let cases: Vec<(&str, String)> = vec![
            ("Sec-WebSocket-Protocol", ",".repeat(n)),
            ("Sec-WebSocket-Protocol", "a,".repeat(n / 2)),
            ("Sec-WebSocket-Protocol", format!("a{}b", " ".repeat(n))),
            ("Sec-WebSocket-Protocol", "\"".repeat(n)),
            ("Sec-WebSocket-Protocol", "a ,".repeat(n / 3)),
            ("Sec-WebSocket-Extensions", "x;".repeat(n / 2)),
            (
                "Sec-WebSocket-Extensions",
                format!("x{}", "; a".repeat(n / 3)),
            ),
            (
                "Sec-WebSocket-Extensions",
                format!("x; a=\"{}", "\\a".repeat(n / 2)),
            ),
            (
                "Sec-WebSocket-Extensions",
                format!("x; a=\"{}", "\\\"".repeat(n / 2)),
            ),
            ("Sec-WebSocket-Extensions", ";,".repeat(n / 2)),
            ("Sec-WebSocket-Extensions", format!("x;{}", "=".repeat(n))),
            ("Sec-WebSocket-Extensions", "x, ".repeat(n / 3)),
            (
                "Connection",
                format!("{}Upgrade", "keep-alive, ".repeat(n / 12)),
            ),
        ];
        for (name, value) in cases {
            let shown = format!("{name}: {}…", &value[..20.min(value.len())]);
            let request = upgrade_request("/", &format!("{name}: {value}\r\n"));
            let answer = blocking(move || {
                let start = Instant::now();
                let status = status_for(addr, request.as_bytes());
                (status, start.elapsed())
            });
            let (status, took) = within("the answer", answer).await;
            assert!(
                matches!(status, Some(101 | 400)),
                "{shown}: answered {status:?}"
            );
            assert!(took < Duration::from_secs(2), "{shown}: took {took:?}");
        }
        assert_healthy(addr).await;
    })
}

// ---------------------------------------------------------------------------
// Frame attacks
// ---------------------------------------------------------------------------

#[test]
fn a_huge_declared_frame_length_closes_with_1009_without_allocating() {
    common::run(async move {
        let _exclusive = GATE.write().await;
        let server = target(quiet_config()).await;
        let addr = server.addr;
        let mark = MemoryMark::start();
        for (len, codes) in [
            (i64::MAX as u64, &[1009][..]),
            (u64::MAX, &[1002, 1009][..]),
            ((16 << 20) + 1, &[1009][..]),
        ] {
            let client = blocking(move || {
                let mut client = RawClient::handshake(addr);
                // Only the header: the server must refuse it from the header.
                client.send(&frame_header(0x82, len, Some(MASK)));
                let (close, before) = client.read_until_close();
                assert!(before.is_empty(), "{before:?}");
                client.expect_eof();
                close
            });
            let close = within("the close", client).await;
            let code = close.as_ref().map(|c| c.0);
            assert!(
                code.is_some_and(|c| codes.contains(&c)),
                "length {len}: close {close:?}"
            );
        }
        mark.check("huge declared lengths", 1 << 20, 4 << 20, 64 << 20);
        assert_healthy(addr).await;
    })
}

#[test]
fn one_byte_of_a_16_mib_frame_does_not_reserve_it_and_the_idle_peer_is_reaped() {
    common::run(async move {
        let _exclusive = GATE.write().await;
        const PEERS: usize = 20;
        let mut config = quiet_config();
        config.idle_timeout = Some(Duration::from_secs(1));
        let server = target(config).await;
        let addr = server.addr;
        let clients = blocking(move || {
            (0..PEERS)
                .map(|_| RawClient::handshake(addr))
                .collect::<Vec<_>>()
        });
        let mut clients = within("the clients", clients).await;
        eventually("the connections", TIMEOUT, || {
            server.handle.connection_count() == PEERS
        })
        .await;
        // Settling: what a connection allocates just after it registers
        // must not count below, and nothing announces the end of it.
        common::sleep(Duration::from_millis(50)).await;

        let mark = MemoryMark::start();
        let sent = blocking(move || {
            for client in &mut clients {
                // A frame declaring 16 MiB (the limit, so it is accepted) and
                // one byte of it.
                let mut bytes = frame_header(0x82, 16 << 20, Some(MASK));
                bytes.push(0x42 ^ MASK[0]);
                client.send(&bytes);
            }
            clients
        });
        let clients = within("the partial frames", sent).await;
        let handle = server.handle.clone();
        eventually("the server to read the partial frames", TIMEOUT, || {
            handle
                .connections()
                .iter()
                .all(|c| c.stats().bytes_in >= 15)
        })
        .await;
        // Bytes read are not yet bytes parsed: a short while for the parser
        // to act on the headers before the check that it allocated nothing
        // large (nothing announces a parsed header).
        common::sleep(Duration::from_millis(50)).await;
        // 20 × 16 MiB = 320 MiB if the buffer were sized by the declared length.
        mark.check("1 byte of a 16 MiB frame × 20", 1 << 20, 4 << 20, 64 << 20);

        let reaped = blocking(move || {
            let start = Instant::now();
            clients
                .into_iter()
                .map(|mut client| {
                    let (close, _) = client.read_until_close();
                    client.expect_eof();
                    (close, start.elapsed())
                })
                .collect::<Vec<_>>()
        });
        for (close, at) in within("the idle closes", reaped).await {
            assert_eq!(close, Some((1001, "idle timeout".to_owned())));
            assert!(at < Duration::from_secs(3), "reaped after {at:?}");
        }
        eventually("the registry to empty", TIMEOUT, || {
            server.handle.connection_count() == 0
        })
        .await;
        assert_healthy(addr).await;
    })
}

#[test]
fn a_peer_silent_mid_frame_is_reaped_by_keepalive_with_1011() {
    common::run(async move {
        let _shared = GATE.read().await;
        let mut config = Config::default();
        config.ping_interval = Some(Duration::from_millis(300));
        config.ping_timeout = Duration::from_millis(300);
        let server = target(config).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut client = RawClient::handshake(addr);
            let mut bytes = frame_header(0x82, 16 << 20, Some(MASK));
            bytes.push(0);
            client.send(&bytes);
            let start = Instant::now();
            let (close, pings) = client.read_until_close();
            (close, pings.len(), start.elapsed())
        });
        let (close, pings, at) = within("the keepalive close", client).await;
        assert_eq!(close, Some((1011, "keepalive timeout".to_owned())));
        assert!(pings >= 1);
        assert!(at < Duration::from_secs(3), "{at:?}");
        assert_healthy(addr).await;
    })
}

#[test]
fn a_flood_of_tiny_fragments_past_max_fragments_closes_with_1009() {
    common::run(async move {
        let _shared = GATE.read().await;
        let config = quiet_config();
        let max = config.max_fragments;
        let server = target(config).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut client = RawClient::handshake(addr);
            // The first frame and `max` empty continuations: frame max + 1
            // breaks the limit, and nothing is sent after it.
            let mut flood = frame(false, 0x1, b"a");
            let empty = frame(false, 0x0, b"");
            flood.reserve(empty.len() * max);
            for _ in 0..max {
                flood.extend_from_slice(&empty);
            }
            let start = Instant::now();
            client.send(&flood);
            let (close, before) = client.read_until_close();
            assert!(before.is_empty());
            client.expect_eof();
            (close, start.elapsed())
        });
        let (close, took) = within_for(Duration::from_secs(10), "the close", client).await;
        assert_eq!(close.map(|c| c.0), Some(1009));
        assert!(took < Duration::from_secs(5), "{took:?}");
        assert_healthy(addr).await;
    })
}

#[test]
fn the_aggregate_message_size_is_capped_across_fragments() {
    common::run(async move {
        let _shared = GATE.read().await;
        for assemble in [true, false] {
            let mut config = quiet_config();
            config.max_message_size = 64 << 10;
            config.max_frame_size = 64 << 10;
            config.assemble_messages = assemble;
            let server = target(config).await;
            let addr = server.addr;
            let client = blocking(move || {
                let mut client = RawClient::connect(addr);
                client.send(upgrade_request("/t/aggregate", "").as_bytes());
                assert_eq!(client.read_head().status, 101);
                let part = vec![7u8; 16 << 10];
                // 4 × 16 KiB fill the 64 KiB message; one more byte is too much
                // (only the header is sent: it is refused from the header).
                client.send(&frame(false, 0x2, &part));
                for _ in 0..3 {
                    client.send(&frame(false, 0x0, &part));
                }
                client.send(&frame_header(0x00, 1, Some(MASK)));
                let (close, _) = client.read_until_close();
                close
            });
            let acc = server.accepted().await;
            let close = within("the close", client).await;
            assert_eq!(
                close.map(|c| c.0),
                Some(1009),
                "assemble_messages = {assemble}"
            );
            // The application saw the four fragments (assembly off) or nothing
            // (assembly on), then the error and the close.
            let mut fragments = 0;
            loop {
                match acc.event().await {
                    Event::Fragment(f) => {
                        assert_eq!(f.data.len(), 16 << 10);
                        fragments += 1;
                    }
                    Event::Error(Error::Protocol(e)) => {
                        assert_eq!(e.close_code().as_u16(), 1009, "{e}");
                    }
                    Event::Close(close) => {
                        assert_eq!(close.code.as_u16(), 1009);
                        break;
                    }
                    other => panic!("{other:?}"),
                }
            }
            assert_eq!(fragments, if assemble { 0 } else { 4 });
            assert_healthy(addr).await;
        }
    })
}

// ---------------------------------------------------------------------------
// Peers that never read
// ---------------------------------------------------------------------------

fn never_reads_config(policy: SendPolicy) -> Config {
    send_queue_config(policy, 256 << 10, 64 << 10)
}

#[test]
fn the_send_queue_stays_under_its_bound_when_the_client_never_reads() {
    common::run(async move {
        let _shared = GATE.read().await;
        const MESSAGE: usize = 32 << 10;
        for policy in [SendPolicy::Wait, SendPolicy::Fail] {
            let config = never_reads_config(policy);
            let high_water = config.send_queue_high_water;
            let server = target(config).await;
            let addr = server.addr;
            let client = within(
                "client",
                blocking(move || never_reading_client(addr, "/t/never-reads")),
            )
            .await;
            let acc = server.accepted().await;
            let stop = Arc::new(AtomicBool::new(false));
            let sampler = sample_queue(acc.conn.clone(), stop.clone());
            let sent = Arc::new(AtomicUsize::new(0));
            let (conn, count) = (acc.conn.clone(), sent.clone());
            let sender = common::spawn(async move {
                for _ in 0..256 {
                    conn.send(vec![9u8; MESSAGE]).await?;
                    count.fetch_add(1, Ordering::SeqCst);
                }
                Ok::<(), Error>(())
            });
            // Fail: the sender's QueueFull ends its run. Wait: the sender
            // blocks once the queue is full, and then the queue must not grow
            // past its bound (a negative check: nothing announces a waiting
            // sender, so a short while).
            let mut sender = Some(sender);
            let failed = if policy == SendPolicy::Wait {
                let conn = acc.conn.clone();
                eventually("the queue to fill", TIMEOUT, || {
                    conn.buffered_amount() >= high_water
                })
                .await;
                common::sleep(Duration::from_millis(100)).await;
                None
            } else {
                Some(within("the sender", sender.take().unwrap()).await)
            };
            stop.store(true, Ordering::SeqCst);
            let (max, samples) = sampler.await;
            // The sends can outrun the sampler; what they left queued counts.
            let max = max.max(acc.conn.buffered_amount());
            let bound = high_water + MESSAGE + 14;
            eprintln!("{policy:?}: queue peaked at {max} bytes (bound {bound}), {samples} samples");
            assert!(max <= bound, "{policy:?}: the queue reached {max} bytes");
            assert!(
                max >= high_water,
                "{policy:?}: the queue never filled ({max})"
            );
            match failed {
                None => {
                    let n = sent.load(Ordering::SeqCst);
                    assert!(n < 256, "every send went through: the sender never waited");
                    drop(client);
                    let result = within("the sender", sender.take().unwrap()).await;
                    assert!(result.is_err(), "sends to a vanished peer succeeded");
                }
                Some(result) => {
                    assert!(matches!(result, Err(Error::QueueFull)), "{result:?}");
                    assert!(acc.conn.is_open(), "Fail must not close the connection");
                    drop(client);
                }
            }
            assert_healthy(addr).await;
        }
    })
}

#[test]
fn a_hundred_thousand_unanswered_pings_do_not_grow_the_send_queue() {
    common::run(async move {
        let _shared = GATE.read().await;
        const PINGS: usize = 100_000;
        let mut config = quiet_config();
        config.tcp.send_buffer_size = Some(4 << 10);
        let server = target(config).await;
        let addr = server.addr;
        let client = within(
            "client",
            blocking(move || never_reading_client(addr, "/t/pings")),
        )
        .await;
        let acc = server.accepted().await;
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = sample_queue(acc.conn.clone(), stop.clone());
        let pinger = blocking(move || {
            let mut client = client;
            let mut batch = Vec::with_capacity(1000 * 10);
            for b in 0..PINGS / 1000 {
                batch.clear();
                for i in 0..1000u32 {
                    batch.extend_from_slice(&frame(
                        true,
                        0x9,
                        &(b as u32 * 1000 + i).to_be_bytes(),
                    ));
                }
                client.write_all(&batch).expect("send pings");
            }
            client
        });
        let client = within_for(Duration::from_secs(20), "the ping flood", pinger).await;
        let pings = server.pings.clone();
        eventually("every ping to be read", Duration::from_secs(20), || {
            pings.load(Ordering::Relaxed) == PINGS
        })
        .await;
        // A short while for the last pongs to be queued (or not: the
        // bound is checked); nothing announces a pong queued.
        common::sleep(Duration::from_millis(50)).await;
        stop.store(true, Ordering::SeqCst);
        let (max, samples) = sampler.await;
        let queued = acc.conn.buffered_amount();
        // At most 32 pongs wait in the queue, plus one write batch (64 frames)
        // taken by the writer; a pong frame is at most 127 bytes.
        let bound = (32 + 64) * 127;
        eprintln!(
            "100 000 pings: queue peaked at {max} bytes ({samples} samples), {queued} at the end"
        );
        assert!(max <= bound, "the queue reached {max} bytes");
        assert!(queued <= bound);
        // Answering every ping would write 600 000 bytes (6-byte pongs); a
        // client that never reads takes only what the socket buffers hold, and
        // the pongs beyond that were coalesced, not buffered.
        let written = acc.conn.stats().bytes_out;
        eprintln!("100 000 pings: {written} bytes of pongs written");
        assert!(written < 256 << 10, "{written} bytes of pongs written");
        assert!(acc.conn.is_open());
        drop(client);
        assert_healthy(addr).await;
    })
}

#[test]
fn a_peer_that_never_reads_is_reaped_by_keepalive_and_idle_timeouts() {
    common::run(async move {
        let _shared = GATE.read().await;
        for which in ["keepalive", "idle"] {
            let mut config = never_reads_config(SendPolicy::Wait);
            if which == "keepalive" {
                config.ping_interval = Some(Duration::from_millis(300));
                config.ping_timeout = Duration::from_millis(300);
            } else {
                config.idle_timeout = Some(Duration::from_millis(500));
            }
            let server = target(config).await;
            let addr = server.addr;
            let client = within(
                "client",
                blocking(move || never_reading_client(addr, "/t/never-reads")),
            )
            .await;
            let acc = server.accepted().await;
            let conn = acc.conn.clone();
            let _sender = common::spawn(async move {
                for _ in 0..64 {
                    conn.send(vec![1u8; 32 << 10]).await?;
                }
                Ok::<(), Error>(())
            });
            within_for(
                Duration::from_secs(3),
                &format!("the {which} timeout to drop a peer that never reads"),
                acc.conn.closed(),
            )
            .await;
            drop(client);
        }
    })
}

#[test]
fn the_close_policy_drops_a_peer_that_never_reads() {
    common::run(async move {
        let _shared = GATE.read().await;
        let mut config = never_reads_config(SendPolicy::Close);
        config.close_timeout = Duration::from_millis(500);
        let server = target(config).await;
        let addr = server.addr;
        let client = within(
            "client",
            blocking(move || never_reading_client(addr, "/t/never-reads")),
        )
        .await;
        let acc = server.accepted().await;
        let mut failed = false;
        for _ in 0..1000 {
            match acc.conn.send(vec![1u8; 32 << 10]).await {
                // Pacing, as in fill_queue: the writer moves what the
                // kernel takes between sends.
                Ok(()) => common::sleep(Duration::from_millis(1)).await,
                Err(Error::QueueFull) => {
                    failed = true;
                    break;
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert!(failed, "the queue never filled");
        assert!(!acc.conn.is_open());
        within_for(
            Duration::from_secs(3),
            "the connection to be dropped",
            acc.conn.closed(),
        )
        .await;
        drop(client);
    })
}

// ---------------------------------------------------------------------------
// Floods and isolation
// ---------------------------------------------------------------------------

#[test]
fn a_burst_of_3000_connects_and_disconnects_leaves_the_server_healthy() {
    common::run(async move {
        let _shared = GATE.read().await;
        const TOTAL: usize = 3000;
        const THREADS: usize = 6;
        let server = target(quiet_config()).await;
        let addr = server.addr;
        let flood = blocking(move || {
            let threads: Vec<_> = (0..THREADS)
                .map(|t| {
                    std::thread::spawn(move || {
                        let mut upgraded = 0;
                        for i in (t..TOTAL).step_by(THREADS) {
                            let mut s = tcp(addr);
                            let request = upgrade_request("/flood", "");
                            match i % 5 {
                                // Connect and vanish.
                                0 => {}
                                // Half a handshake, then vanish.
                                1 => {
                                    let _ = s.write_all(&request.as_bytes()[..request.len() / 2]);
                                }
                                // A full handshake, then vanish without a close.
                                2 => {
                                    s.write_all(request.as_bytes()).unwrap();
                                    assert_eq!(read_status(&mut s).unwrap(), 101);
                                    upgraded += 1;
                                }
                                // A full handshake and a close.
                                3 => {
                                    s.write_all(request.as_bytes()).unwrap();
                                    assert_eq!(read_status(&mut s).unwrap(), 101);
                                    s.write_all(&close_frame(1000, "")).unwrap();
                                    let mut buf = [0u8; 64];
                                    let _ = s.read(&mut buf);
                                    upgraded += 1;
                                }
                                // Garbage.
                                _ => {
                                    let _ = s.write_all(b"\x16\x03\x01 not http at all\r\n\r\n");
                                }
                            }
                        }
                        upgraded
                    })
                })
                .collect();
            threads
                .into_iter()
                .map(|t| t.join().expect("a flood thread panicked"))
                .sum::<usize>()
        });
        let start = Instant::now();
        let upgraded = within_for(Duration::from_secs(60), "the flood", flood).await;
        eprintln!("{TOTAL} connections in {:?}", start.elapsed());
        assert_eq!(upgraded, TOTAL * 2 / 5);
        eventually(
            "every connection and handshake to be gone",
            Duration::from_secs(10),
            || {
                let m = server.handle.metrics();
                m.active_connections == 0 && m.pending_handshakes == 0
            },
        )
        .await;
        let m = server.handle.metrics();
        assert_eq!(m.accepted, upgraded as u64);
        assert_healthy(addr).await;
        // The health check's connection leaves the registry when the server's
        // side of it finishes, just after the client has seen the close.
        eventually(
            "the health check's connection to be gone",
            Duration::from_secs(5),
            || server.handle.connection_count() == 0,
        )
        .await;
    })
}

#[test]
fn a_panicking_connection_task_does_not_affect_the_others() {
    common::run(async move {
        let _shared = GATE.read().await;
        let server = target(quiet_config()).await;
        let addr = server.addr;
        // A healthy connection, open before the panic.
        let mut before = within("client", blocking(move || ws_connect(addr, "/t/before"))).await;
        let acc = server.accepted().await;
        let panicking = blocking(move || {
            let mut ws = ws_connect(addr, "/panic");
            ws.send(WsMessage::text("trigger")).unwrap();
            let mut close = None;
            for _ in 0..10 {
                match ws.read() {
                    Ok(WsMessage::Close(frame)) => close = frame.map(|f| u16::from(f.code)),
                    Ok(other) => panic!("{other:?}"),
                    Err(_) => break,
                }
            }
            close
        });
        // The panicking task's connection is closed (its handle was dropped
        // while unwinding: 1001) or dropped.
        let close = within("the panicking connection", panicking).await;
        assert!(matches!(close, None | Some(1001)), "{close:?}");
        // The connection opened before is unaffected.
        let echoed = blocking(move || {
            before.send(WsMessage::text("after the panic")).unwrap();
            let echo = ws_read_data(&mut before);
            (before, echo)
        });
        let (_before, echo) = within("the old connection", echoed).await;
        assert_eq!(echo, WsMessage::text("after the panic"));
        assert!(acc.conn.is_open());
        assert_healthy(addr).await;
        eventually("the registry to hold only the survivor", TIMEOUT, || {
            server.handle.connection_count() == 1
        })
        .await;
    })
}

#[test]
fn a_panicking_http_handler_fails_only_its_request() {
    common::run(async move {
        let _shared = GATE.read().await;
        let builder = Server::builder()
            .config(quiet_config())
            .http_handler(|request| async move {
                if request.url().path() == "/boom" {
                    panic!("a deliberate bug in the HTTP handler");
                }
                let mut response = Response::new(StatusCode::Ok);
                response.set_body("fine");
                response
            });
        let server = target_with(builder).await;
        let addr = server.addr;
        for _ in 0..3 {
            let boom = blocking(move || status_for(addr, b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\n"));
            let status = within("the panicking request", boom).await;
            assert!(matches!(status, None | Some(500)), "{status:?}");
            let fine =
                blocking(move || raw_exchange(addr, b"GET /fine HTTP/1.1\r\nHost: x\r\n\r\n"));
            let fine = within("a plain request", fine).await;
            assert_eq!(fine.status, 200);
            assert_eq!(fine.body_text(), "fine");
        }
        assert_healthy(addr).await;
    })
}

#[test]
fn peers_that_vanish_mid_message_or_break_the_protocol_do_not_affect_others() {
    common::run(async move {
        let _shared = GATE.read().await;
        let server = target(quiet_config()).await;
        let addr = server.addr;
        let mut steady = within("client", blocking(move || ws_connect(addr, "/t/steady"))).await;
        let _steady_acc = server.accepted().await;
        let vandals = blocking(move || {
            // Half of a 1 MiB frame, then gone.
            let mut a = RawClient::handshake(addr);
            let mut bytes = frame_header(0x82, 1 << 20, Some(MASK));
            bytes.extend(std::iter::repeat_n(0u8, 100 << 10));
            a.send(&bytes);
            drop(a);
            // An unmasked frame: 1002.
            let mut b = RawClient::handshake(addr);
            b.send(&unmasked_frame(true, 0x1, b"hi"));
            let (close, _) = b.read_until_close();
            // A reserved opcode: 1002.
            let mut c = RawClient::handshake(addr);
            c.send(&frame(true, 0x3, b""));
            let (close_c, _) = c.read_until_close();
            // Invalid UTF-8 in a text message: 1007.
            let mut d = RawClient::handshake(addr);
            d.send(&frame(true, 0x1, &[0xff, 0xfe]));
            let (close_d, _) = d.read_until_close();
            [close, close_c, close_d].map(|c| c.map(|c| c.0))
        });
        assert_eq!(
            within("the vandals", vandals).await,
            [Some(1002), Some(1002), Some(1007)]
        );
        let echoed = blocking(move || {
            steady.send(WsMessage::binary(vec![5u8; 1000])).unwrap();
            let echo = ws_read_data(&mut steady);
            (steady, echo)
        });
        let (_steady, echo) = within("the steady client", echoed).await;
        assert_eq!(echo, WsMessage::binary(vec![5u8; 1000]));
        eventually("the vandals to be gone", TIMEOUT, || {
            server.handle.connection_count() == 1
        })
        .await;
        assert_healthy(addr).await;
    })
}

// ---------------------------------------------------------------------------
// Decompression bombs (permessage-deflate)
// ---------------------------------------------------------------------------

/// `len` zero bytes as one permessage-deflate message payload: raw DEFLATE,
/// sync-flushed, without the final `00 00 ff ff` (RFC 7692 §7.2.1).
#[cfg(feature = "deflate")]
fn deflate_bomb(len: usize) -> Vec<u8> {
    use flate2::Compression;
    use flate2::write::DeflateEncoder;
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::best());
    let zeros = vec![0u8; 64 << 10];
    for _ in 0..len / zeros.len() {
        encoder.write_all(&zeros).unwrap();
    }
    encoder.flush().unwrap();
    let mut out = encoder.get_ref().clone();
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

#[cfg(feature = "deflate")]
#[test]
fn a_decompression_bomb_closes_with_1009_without_inflating_it() {
    common::run(async move {
        let _exclusive = GATE.write().await;
        let mut config = quiet_config();
        config.max_message_size = 1 << 20;
        config.max_frame_size = 1 << 20;
        let server = target(config).await;
        let addr = server.addr;
        // 16 MiB of zeros in about 16 KiB: 16 times the message limit. Small
        // enough to arrive in one read, so the server's close is not lost to a
        // reset over unread bytes.
        let bomb = deflate_bomb(16 << 20);
        eprintln!("bomb: {} bytes inflating to 16 MiB", bomb.len());
        assert!(bomb.len() < 32 << 10);
        let mark = MemoryMark::start();
        let client = blocking(move || {
            let mut client = RawClient::connect(addr);
            let offer = "Sec-WebSocket-Extensions: permessage-deflate; \
                     client_no_context_takeover; server_no_context_takeover\r\n";
            client.send(upgrade_request("/", offer).as_bytes());
            let head = client.read_head();
            assert_eq!(head.status, 101, "{}", head.head);
            let agreed = head.header("Sec-WebSocket-Extensions").unwrap_or_default();
            assert!(
                agreed.contains("permessage-deflate"),
                "not negotiated: {agreed:?}"
            );
            let start = Instant::now();
            // RSV1 marks the message as compressed.
            client.send(&raw_frame(0x80 | 0x40 | 0x2, &bomb));
            let (close, before) = client.read_until_close();
            (close, before.len(), start.elapsed())
        });
        let (close, frames, took) = within("the bomb's close", client).await;
        assert_eq!(frames, 0);
        assert_eq!(close.as_ref().map(|c| c.0), Some(1009), "{close:?}");
        assert!(took < Duration::from_secs(2), "took {took:?}");
        // The message may grow to the 1 MiB limit, not to 16 MiB.
        mark.check("a 16 MiB deflate bomb", 4 << 20, 8 << 20, 64 << 20);
        assert_healthy(addr).await;
    })
}

// ---------------------------------------------------------------------------
// Forwarding: a backend or a client that never reads
// ---------------------------------------------------------------------------

/// How much each forwarding test pushes through.
const PUSHED: usize = 256 << 20;

/// A server forwarding every request to `to`; the reports arrive on the
/// receiver.
async fn forwarder(to: SocketAddr) -> (SocketAddr, async_channel::Receiver<wsgate::ForwardReport>) {
    let server = Server::bind("127.0.0.1:0").await.expect("bind");
    let addr = server.local_addr();
    let (tx, rx) = async_channel::unbounded();
    spawn(server.serve(move |request| {
        let tx = tx.clone();
        async move {
            if let Ok(report) = request.forward(wsgate::Forward::to(to.to_string())).await {
                let _ = tx.send(report).await;
            }
        }
    }));
    (addr, rx)
}

/// Writes `total` bytes of `chunk`s to `stream`, all of each chunk. The
/// first write that stalls for the stream's write timeout reports how much
/// was written by then on `stalled`; the rest waits as long as it takes.
fn push(
    stream: &mut TcpStream,
    chunk: &[u8],
    total: usize,
    stalled: std::sync::mpsc::Sender<usize>,
) {
    let mut written = 0;
    let mut reported = false;
    while written < total {
        let mut off = 0;
        while off < chunk.len() {
            match stream.write(&chunk[off..]) {
                Ok(n) => off += n,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if !reported {
                        reported = true;
                        let _ = stalled.send(written + off);
                        stream
                            .set_write_timeout(Some(Duration::from_secs(60)))
                            .unwrap();
                    }
                }
                Err(e) => panic!("write: {e}"),
            }
        }
        written += chunk.len();
    }
}

#[test]
fn a_forward_whose_backend_never_reads_stops_reading_the_client() {
    common::run(async move {
        let _exclusive = GATE.write().await;
        // The backend reads nothing until told to, then counts to the end.
        let backend = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let to = backend.local_addr().unwrap();
        let (start_reading, may_read) = std::sync::mpsc::channel::<()>();
        let counted = std::thread::spawn(move || {
            let (mut stream, _) = backend.accept().unwrap();
            may_read.recv().unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(60)))
                .unwrap();
            drain_until_end(&mut stream)
        });
        let (addr, reports) = forwarder(to).await;
        // 64 KiB binary frames, masked with a zero key (valid, and cheap).
        let chunk = encode_frame(0x82, &vec![7u8; 64 << 10], Some([0; 4]));
        let payload_per_chunk = 64 << 10;
        let frames = PUSHED / payload_per_chunk;
        let mark = MemoryMark::start();
        let (stalled, stall) = std::sync::mpsc::channel();
        let client = std::thread::spawn(move || {
            let mut stream = raw_ws(addr, "/");
            stream
                .set_write_timeout(Some(Duration::from_secs(1)))
                .unwrap();
            push(&mut stream, &chunk, frames * chunk.len(), stalled);
            stream.write_all(&close_frame(1000, "")).unwrap();
            read_until_close(&mut stream).0
        });
        let before_stall = within_for(
            Duration::from_secs(60),
            "the client to stall",
            blocking(move || stall.recv().expect("the client's writes stalled")),
        )
        .await;
        eprintln!("the client pushed {before_stall} bytes before its writes stalled");
        assert!(before_stall < 64 << 20, "{before_stall} bytes taken in");
        mark.check("a backend that never reads", 1 << 20, 4 << 20, 32 << 20);

        start_reading.send(()).unwrap();
        let close = within_for(
            Duration::from_secs(120),
            "the rest",
            blocking(move || client.join().unwrap()),
        )
        .await;
        assert_eq!(close, Some((1000, String::new())));
        let report = within("the report", reports.recv()).await.unwrap();
        assert_eq!(report.to_backend, PUSHED as u64);
        assert_eq!(counted.join().unwrap(), PUSHED);
        mark.check("256 MiB to a slow backend", 1 << 20, 4 << 20, 32 << 20);
    })
}

#[test]
fn a_forward_whose_client_never_reads_stops_reading_the_backend() {
    common::run(async move {
        let _exclusive = GATE.write().await;
        let backend = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let to = backend.local_addr().unwrap();
        let (stalled, stall) = std::sync::mpsc::channel();
        // Allocated before the measurement starts.
        let chunk = vec![9u8; 1 << 20];
        let writer = std::thread::spawn(move || {
            let (mut stream, _) = backend.accept().unwrap();
            stream
                .set_write_timeout(Some(Duration::from_secs(1)))
                .unwrap();
            push(&mut stream, &chunk, PUSHED, stalled);
            // Then end-of-stream: the client gets 1000.
        });
        let (addr, reports) = forwarder(to).await;
        let mark = MemoryMark::start();
        // Upgraded, with a small receive window, and not reading yet.
        let mut client = never_reading_client(addr, "/");
        let before_stall = within_for(
            Duration::from_secs(60),
            "the backend to stall",
            blocking(move || stall.recv().expect("the backend's writes stalled")),
        )
        .await;
        eprintln!("the backend pushed {before_stall} bytes before its writes stalled");
        assert!(before_stall < 64 << 20, "{before_stall} bytes taken in");
        // The send queue's high-water mark (1 MiB) plus one read.
        mark.check("a client that never reads", 1 << 20, 4 << 20, 32 << 20);

        let (got, close) = within_for(
            Duration::from_secs(120),
            "the client's reads",
            blocking(move || {
                client
                    .set_read_timeout(Some(Duration::from_secs(60)))
                    .unwrap();
                let mut got = 0usize;
                loop {
                    let (first, payload) = read_server_frame(&mut client).expect("a frame");
                    match first {
                        0x82 => got += payload.len(),
                        0x88 => {
                            let code = u16::from_be_bytes([payload[0], payload[1]]);
                            return (got, code);
                        }
                        other => panic!("unexpected frame {other:#x}"),
                    }
                }
            }),
        )
        .await;
        assert_eq!((got, close), (PUSHED, 1000));
        writer.join().unwrap();
        let report = within("the report", reports.recv()).await.unwrap();
        assert_eq!(report.to_client, PUSHED as u64);
        mark.check("256 MiB to a slow client", 1 << 20, 4 << 20, 32 << 20);
    })
}
