//! Forwarding to TCP backends (`WebSocketRequest::forward`), against real
//! backends: a TCP echo, a backend that writes and closes, one that
//! refuses, one that never answers, and redis-server speaking RESP. The
//! client is tungstenite, or the raw client where frames must be exact.
//! The memory bounds of a backend or client that never reads are measured
//! in tests/hostile.rs; the browser test is in browser/forward.rs.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use tungstenite::Message as WsMessage;
use tungstenite::http::HeaderValue;
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;
use wsgate::{Config, Forward, ForwardEnd, ForwardError, ForwardReport};

use crate::common::*;

/// What a backend connection saw: the bytes it read, and whether it then
/// saw end-of-stream.
pub(crate) type Seen = (Vec<u8>, bool);

/// A TCP backend on a free loopback port: each connection runs `serve` on
/// a thread of its own; what it reports arrives on the receiver.
pub(crate) fn backend<F>(serve: F) -> (SocketAddr, mpsc::Receiver<Seen>)
where
    F: Fn(TcpStream) -> Seen + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    let serve = std::sync::Arc::new(serve);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { break };
            stream.set_read_timeout(Some(TIMEOUT)).unwrap();
            let (tx, serve) = (tx.clone(), serve.clone());
            std::thread::spawn(move || {
                let _ = tx.send(serve(stream));
            });
        }
    });
    (addr, rx)
}

/// Echoes until end-of-stream, then closes.
pub(crate) fn echo(mut stream: TcpStream) -> Seen {
    let mut all = Vec::new();
    let mut buf = vec![0u8; 256 << 10];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (all, true),
            Ok(n) => {
                all.extend_from_slice(&buf[..n]);
                if stream.write_all(&buf[..n]).is_err() {
                    return (all, false);
                }
            }
            Err(_) => return (all, false),
        }
    }
}

/// A free port with nothing listening on it.
pub(crate) fn closed_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Starts a server that forwards its next request with `forward`; returns
/// its address and the forward's outcome.
async fn forwarding(
    config: Config,
    forward: Forward,
) -> (
    RequestServer,
    JoinHandle<Result<ForwardReport, ForwardError>>,
) {
    let server = request_server(config).await;
    let requests = server.requests.clone();
    let outcome = spawn(async move {
        let request = requests.recv().await.expect("a request");
        request.forward(forward).await
    });
    (server, outcome)
}

/// Reads binary messages until `len` bytes came; each at most `max` long.
fn read_binary(ws: &mut Ws, len: usize, max: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < len {
        match ws.read().expect("read") {
            WsMessage::Binary(data) => {
                assert!(data.len() <= max, "a message of {} bytes", data.len());
                got.extend_from_slice(&data);
            }
            WsMessage::Ping(_) | WsMessage::Pong(_) => {}
            other => panic!("expected binary, got {other:?}"),
        }
    }
    got
}

#[test]
fn messages_of_every_size_round_trip_through_a_tcp_echo() {
    run(async {
        let (to, seen) = backend(echo);
        let (server, outcome) = forwarding(large_config(), Forward::to(to.to_string())).await;
        let addr = server.addr;
        let sizes = [1usize, 64 << 10, 10 << 20];
        let sent = within_for(
            Duration::from_secs(30),
            "the echoes",
            blocking(move || {
                let mut ws = ws_connect(addr, "/");
                let mut total = 0;
                for size in sizes {
                    let data = bytes_of_len(size);
                    ws.send(WsMessage::binary(data.clone())).unwrap();
                    // The echo comes back in messages of at most the read
                    // size (64 KiB by default).
                    assert_eq!(read_binary(&mut ws, size, 64 << 10), data, "{size} bytes");
                    total += size;
                }
                ws.close(Some(CloseFrame {
                    code: CloseCode::Normal,
                    reason: "done".into(),
                }))
                .unwrap();
                ws_finish_close(&mut ws);
                total
            }),
        )
        .await;
        let report = within("the report", outcome).await.unwrap();
        assert_eq!(report.end, ForwardEnd::ClientClosed);
        assert_eq!(report.close.code, wsgate::CloseCode::NORMAL);
        assert_eq!(report.close.reason, "done");
        assert_eq!(report.to_backend, sent as u64);
        assert_eq!(report.to_client, sent as u64);
        // The client's close shut the backend's socket down.
        let (bytes, eof) = seen.recv_timeout(TIMEOUT).unwrap();
        assert_eq!((bytes.len(), eof), (sent, true));
        let metrics = server.handle.metrics();
        assert_eq!((metrics.forwarding, metrics.forwarded), (0, 1));
        assert_eq!(metrics.forwarded_to_backends, sent as u64);
        assert_eq!(metrics.forwarded_to_clients, sent as u64);
    });
}

#[test]
fn a_fragmented_message_reaches_the_backend_whole() {
    run(async {
        let (to, _seen) = backend(echo);
        let (server, outcome) = forwarding(Config::default(), Forward::to(to.to_string())).await;
        let addr = server.addr;
        blocking(move || {
            let mut client = RawClient::handshake(addr);
            client.send(&frame(false, 0x2, b"frag"));
            client.send(&frame(false, 0x0, b"mented "));
            client.send(&frame(true, 0x0, b"message"));
            let mut got = Vec::new();
            while got.len() < 18 {
                let frame = client.read_frame();
                assert_eq!(frame.first(), 0x82, "a final binary frame");
                got.extend_from_slice(&frame.payload);
            }
            assert_eq!(got, b"fragmented message");
            client.send(&close_frame(1000, ""));
            assert_eq!(client.read_until_close().0, Some((1000, String::new())));
        })
        .await;
        let report = within("the report", outcome).await.unwrap();
        assert_eq!((report.to_backend, report.to_client), (18, 18));
    });
}

#[test]
fn redis_speaks_resp_through_the_forward() {
    let Some(redis) = Redis::start() else { return };
    run(async move {
        let (server, outcome) =
            forwarding(Config::default(), Forward::to(redis.addr().to_string())).await;
        let addr = server.addr;
        within_for(
            Duration::from_secs(20),
            "the Redis conversation",
            blocking(move || {
                let mut request = ws_request(addr, "/redis");
                request
                    .headers_mut()
                    .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("binary"));
                let (mut ws, response) = ws_try_connect(addr, request, None).unwrap();
                // websockify's convention: `binary` when offered.
                assert_eq!(response.headers()["Sec-WebSocket-Protocol"], "binary");
                let mut ask = |command: &[u8], answer_len: usize| {
                    ws.send(WsMessage::binary(command.to_vec())).unwrap();
                    read_binary(&mut ws, answer_len, 64 << 10)
                };
                assert_eq!(ask(b"PING\r\n", 7), b"+PONG\r\n");
                let value = bytes_of_len(1 << 20);
                let mut set = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048576\r\n".to_vec();
                set.extend_from_slice(&value);
                set.extend_from_slice(b"\r\n");
                assert_eq!(ask(&set, 5), b"+OK\r\n");
                let get = ask(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", 10 + (1 << 20) + 2);
                assert_eq!(&get[..10], b"$1048576\r\n".as_slice());
                assert_eq!(&get[10..10 + (1 << 20)], value.as_slice());
                assert_eq!(&get[10 + (1 << 20)..], b"\r\n".as_slice());
                assert_eq!(ask(b"QUIT\r\n", 5), b"+OK\r\n");
                // Redis closes after QUIT: the client gets 1000.
                assert_eq!(
                    ws_wait_for_close(&mut ws),
                    Some((1000, "backend closed".to_owned()))
                );
            }),
        )
        .await;
        let report = within("the report", outcome).await.unwrap();
        assert_eq!(report.end, ForwardEnd::BackendClosed);
        assert!(report.close.clean);
        drop(redis);
    });
}

#[test]
fn a_backend_that_writes_and_closes_is_delivered_then_closed_with_1000() {
    run(async {
        let data = bytes_of_len(100 << 10);
        let written = data.clone();
        let (to, _seen) = backend(move |mut stream| {
            stream.write_all(&written).unwrap();
            (Vec::new(), true)
        });
        let forward = Forward::to(to.to_string()).read_size(16 << 10);
        let (server, outcome) = forwarding(Config::default(), forward).await;
        let addr = server.addr;
        let (got, close) = blocking(move || {
            let mut ws = ws_connect(addr, "/");
            let got = read_binary(&mut ws, 100 << 10, 16 << 10);
            (got, ws_wait_for_close(&mut ws))
        })
        .await;
        assert_eq!(got, data);
        assert_eq!(close, Some((1000, "backend closed".to_owned())));
        let report = within("the report", outcome).await.unwrap();
        assert_eq!(report.end, ForwardEnd::BackendClosed);
        assert_eq!(report.to_client, 100 << 10);
    });
}

#[test]
fn a_refusing_backend_gets_the_client_502_and_no_101() {
    run(async {
        let to = closed_port();
        let (server, outcome) = forwarding(Config::default(), Forward::to(to.to_string())).await;
        let addr = server.addr;
        let (status, headers, _) =
            blocking(move || ws_expect_rejection(addr, ws_request(addr, "/"))).await;
        assert_eq!(status, 502);
        assert_eq!(
            headers["X-WebSocket-Reject-Reason"],
            "backend unavailable: connection refused"
        );
        match within("the outcome", outcome).await {
            Err(e @ ForwardError::Connect { .. }) => assert_eq!(e.status(), Some(502)),
            other => panic!("expected a connect error, got {other:?}"),
        }
        let metrics = server.handle.metrics();
        assert_eq!(metrics.rejected.get(&502), Some(&1));
        assert_eq!(metrics.forwarded, 0);
    });
}

/// A listener with a backlog of 0 that never accepts, its queue already
/// full: the kernel ignores the next SYN, so a connect to it hangs. Keep
/// both values alive while it is needed.
fn silent_backend() -> (socket2::Socket, TcpStream, SocketAddr) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    socket.listen(0).unwrap();
    let to = socket.local_addr().unwrap().as_socket().unwrap();
    let queued = TcpStream::connect(to).unwrap();
    (socket, queued, to)
}

#[test]
fn a_backend_that_never_answers_gets_the_client_504() {
    let (_listener, _queued, to) = silent_backend();
    run(async move {
        let forward = Forward::to(to.to_string()).connect_timeout(Duration::from_millis(300));
        let (server, outcome) = forwarding(Config::default(), forward).await;
        let addr = server.addr;
        let (status, headers, _) =
            blocking(move || ws_expect_rejection(addr, ws_request(addr, "/"))).await;
        assert_eq!(status, 504);
        assert_eq!(
            headers["X-WebSocket-Reject-Reason"],
            "backend did not answer in time"
        );
        assert!(matches!(
            within("the outcome", outcome).await,
            Err(ForwardError::ConnectTimeout { .. })
        ));
    });
}

#[test]
fn a_connect_outlasting_the_decision_deadline_reports_the_503_the_client_got() {
    let (_listener, _queued, to) = silent_backend();
    run(async move {
        let mut config = Config::default();
        config.decision_timeout = Duration::from_millis(300);
        let forward = Forward::to(to.to_string()).connect_timeout(Duration::from_secs(1));
        let (server, outcome) = forwarding(config, forward).await;
        let addr = server.addr;
        let (status, _, _) =
            blocking(move || ws_expect_rejection(addr, ws_request(addr, "/"))).await;
        assert_eq!(status, 503);
        match within("the outcome", outcome).await {
            Err(e @ ForwardError::Accept(wsgate::AcceptError::DecisionTimeout)) => {
                assert_eq!(e.status(), Some(503))
            }
            other => panic!("expected the decision timeout, got {other:?}"),
        }
        assert_eq!(server.handle.metrics().rejected.get(&504), None);
    });
}

#[test]
fn an_invalid_address_gets_500() {
    run(async {
        let (server, outcome) = forwarding(Config::default(), Forward::to("no-port")).await;
        let addr = server.addr;
        let (status, _, _) =
            blocking(move || ws_expect_rejection(addr, ws_request(addr, "/"))).await;
        assert_eq!(status, 500);
        assert!(matches!(
            within("the outcome", outcome).await,
            Err(ForwardError::InvalidAddress(a)) if a == "no-port"
        ));
    });
}

#[test]
fn text_closes_with_1003_unless_forwarded() {
    run(async {
        let (to, seen) = backend(echo);
        let (server, outcome) = forwarding(Config::default(), Forward::to(to.to_string())).await;
        let addr = server.addr;
        let close = blocking(move || {
            let mut ws = ws_connect(addr, "/");
            ws.send(WsMessage::text("GET /")).unwrap();
            ws_wait_for_close(&mut ws)
        })
        .await;
        assert_eq!(
            close,
            Some((1003, "text messages are not forwarded".to_owned()))
        );
        let report = within("the report", outcome).await.unwrap();
        assert_eq!(report.end, ForwardEnd::TextRefused);
        assert_eq!(report.to_backend, 0);
        // The backend got nothing, then end-of-stream.
        assert_eq!(seen.recv_timeout(TIMEOUT).unwrap(), (Vec::new(), true));

        let forward = Forward::to(to.to_string()).forward_text(true);
        let (server, outcome) = forwarding(Config::default(), forward).await;
        let addr = server.addr;
        let echoed = blocking(move || {
            let mut ws = ws_connect(addr, "/");
            ws.send(WsMessage::text("héllo")).unwrap();
            let echoed = read_binary(&mut ws, 6, 64 << 10);
            ws.close(None).unwrap();
            ws_finish_close(&mut ws);
            echoed
        })
        .await;
        assert_eq!(echoed, "héllo".as_bytes());
        assert_eq!(within("the report", outcome).await.unwrap().to_backend, 6);
    });
}

#[test]
fn idle_forwards_close_with_1001_and_shut_the_backend_down() {
    run(async {
        let (to, seen) = backend(echo);
        let forward = Forward::to(to.to_string()).idle_timeout(Some(Duration::from_millis(500)));
        let (server, outcome) = forwarding(Config::default(), forward).await;
        let addr = server.addr;
        let close = blocking(move || {
            let mut ws = ws_connect(addr, "/");
            // Traffic every 100 ms (the pacing under test) postpones the
            // idle close past the 500 ms a silent forward would get.
            for _ in 0..4 {
                ws.send(WsMessage::binary(b"x".to_vec())).unwrap();
                read_binary(&mut ws, 1, 1);
                std::thread::sleep(Duration::from_millis(100));
            }
            ws_wait_for_close(&mut ws)
        })
        .await;
        assert_eq!(close, Some((1001, "idle".to_owned())));
        let report = within("the report", outcome).await.unwrap();
        assert_eq!(report.end, ForwardEnd::Idle);
        assert!(report.duration >= Duration::from_millis(800), "{report:?}");
        assert_eq!(
            seen.recv_timeout(TIMEOUT).unwrap(),
            (b"xxxx".to_vec(), true)
        );
    });
}

#[test]
fn a_backend_reset_closes_the_client_with_1011() {
    run(async {
        let (to, _seen) = backend(|stream| {
            // SO_LINGER 0: closing sends RST instead of FIN.
            socket2::SockRef::from(&stream)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
            let mut buf = [0u8; 1];
            let _ = (&stream).read(&mut buf);
            (Vec::new(), false)
        });
        let (server, outcome) = forwarding(Config::default(), Forward::to(to.to_string())).await;
        let addr = server.addr;
        let close = blocking(move || {
            let mut ws = ws_connect(addr, "/");
            ws.send(WsMessage::binary(b"boom".to_vec())).unwrap();
            ws_wait_for_close(&mut ws)
        })
        .await;
        assert_eq!(close, Some((1011, "backend error".to_owned())));
        let report = within("the report", outcome).await.unwrap();
        assert!(
            matches!(
                report.end,
                ForwardEnd::BackendFailed(
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                )
            ),
            "{report:?}"
        );
    });
}

#[test]
fn the_application_can_choose_the_subprotocol_and_forward_to_its_own_stream() {
    run(async {
        let (to, _seen) = backend(echo);
        let stream = TcpStream::connect(to).unwrap();
        let forward =
            Forward::stream(wsgate::TcpTransport::new(stream).unwrap()).protocol(Some("Base64"));
        let (server, outcome) = forwarding(Config::default(), forward).await;
        let addr = server.addr;
        blocking(move || {
            let mut request = ws_request(addr, "/");
            request.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                HeaderValue::from_static("binary, base64"),
            );
            let (mut ws, response) = ws_try_connect(addr, request, None).unwrap();
            assert_eq!(response.headers()["Sec-WebSocket-Protocol"], "base64");
            ws.send(WsMessage::binary(b"own".to_vec())).unwrap();
            assert_eq!(read_binary(&mut ws, 3, 64 << 10), b"own");
            ws.close(None).unwrap();
            ws_finish_close(&mut ws);
        })
        .await;
        let report = within("the report", outcome).await.unwrap();
        assert_eq!(report.to_client, 3);
    });
}

// From the hostile review: ends that neither side of the relay sees, a
// cancelled forward, a slow upload, and a slow client after the backend's
// end.

#[test]
fn a_client_gone_while_the_backend_does_not_read_ends_the_forward() {
    run(async {
        // A backend that takes a small window's worth, then neither reads
        // nor writes until the test ends.
        let (hold, held) = mpsc::channel::<()>();
        let held = std::sync::Mutex::new(held);
        let (to, _seen) = backend(move |stream| {
            socket2::SockRef::from(&stream)
                .set_recv_buffer_size(4096)
                .unwrap();
            let _ = held.lock().unwrap().recv_timeout(Duration::from_secs(30));
            drop(stream);
            (Vec::new(), false)
        });
        let mut config = large_config();
        config.ping_interval = Some(Duration::from_millis(200));
        config.ping_timeout = Duration::from_millis(300);
        let (server, outcome) = forwarding(config, Forward::to(to.to_string())).await;
        let addr = server.addr;
        blocking(move || {
            let mut client = RawClient::connect_with_timeout(addr, Duration::from_secs(1));
            client.send(upgrade_request("/", "").as_bytes());
            assert_eq!(client.read_head().status, 101);
            // 1 MiB frames until everything between the client and the
            // backend is full and the client's writes stall; then it leaves.
            let frame = encode_frame(0x82, &vec![7u8; 1 << 20], Some(MASK));
            for _ in 0..512 {
                if client.try_send(&frame).is_err() {
                    break;
                }
            }
        })
        .await;
        // Keepalive ends the connection; the forward sees it although its
        // client-to-backend side is stuck writing.
        let report = within_for(Duration::from_secs(10), "the forward's end", outcome)
            .await
            .unwrap();
        assert_eq!(report.end, ForwardEnd::ClientClosed);
        assert!(!report.close.clean, "{report:?}");
        assert_eq!(server.handle.metrics().forwarding, 0);
        drop(hold);
    });
}

#[test]
fn a_cancelled_forward_is_not_counted_as_running() {
    run(async {
        let (to, _seen) = backend(echo);
        let server = request_server(Config::default()).await;
        let requests = server.requests.clone();
        let (gave_up, give_up) = futures::channel::oneshot::channel::<()>();
        let outcome = spawn(async move {
            let request = requests.recv().await.expect("a request");
            // The application gives up on the forward (a select against a
            // shutdown signal, a timeout, an aborted task).
            let forward = std::pin::pin!(request.forward(Forward::to(to.to_string())));
            let _ = futures::future::select(forward, give_up).await;
        });
        let addr = server.addr;
        let handle = server.handle.clone();
        let mut ws = blocking(move || {
            let mut ws = ws_connect(addr, "/");
            ws.send(WsMessage::binary(b"x".to_vec())).unwrap();
            read_binary(&mut ws, 1, 1);
            ws
        })
        .await;
        assert_eq!(handle.metrics().forwarding, 1);
        gave_up.send(()).unwrap();
        within("the cancel", outcome).await;
        let metrics = handle.metrics();
        assert_eq!((metrics.forwarding, metrics.forwarded), (0, 1));
        // Its connection's last handle went with it: the client is closed.
        let close = blocking(move || ws_wait_for_close(&mut ws)).await;
        assert!(close.is_some(), "{close:?}");
    });
}

#[test]
fn an_upload_still_arriving_is_not_idle() {
    run(async {
        let (to, seen) = backend(echo);
        let forward = Forward::to(to.to_string()).idle_timeout(Some(Duration::from_millis(500)));
        let (server, outcome) = forwarding(large_config(), forward).await;
        let addr = server.addr;
        let close = blocking(move || {
            let mut client = RawClient::handshake(addr);
            // One 40 KiB message trickled 2 KiB per 100 ms (the pacing under
            // test): bytes arrive for 2 s, never 500 ms apart.
            let frame = encode_frame(0x82, &vec![1u8; 40 << 10], Some(MASK));
            for chunk in frame.chunks(2048) {
                client.send(chunk);
                std::thread::sleep(Duration::from_millis(100));
            }
            client.read_until_close().0
        })
        .await;
        // It was forwarded whole, echoed, and only then did the forward idle.
        assert_eq!(close, Some((1001, "idle".to_owned())));
        let report = within("the report", outcome).await.unwrap();
        assert_eq!(report.end, ForwardEnd::Idle);
        assert_eq!(report.to_backend, 40 << 10);
        assert!(report.duration >= Duration::from_millis(2000), "{report:?}");
        assert_eq!(seen.recv_timeout(TIMEOUT).unwrap().0.len(), 40 << 10);
    });
}

#[test]
fn a_slow_client_gets_everything_the_backend_sent_before_its_end() {
    run(async {
        const TOTAL: usize = 16 << 20;
        let (to, _seen) = backend(|mut stream| {
            let _ = stream.write_all(&vec![5u8; TOTAL]);
            (Vec::new(), true)
        });
        let mut config = Config::default();
        config.close_timeout = Duration::from_millis(200);
        let (server, outcome) = forwarding(config, Forward::to(to.to_string())).await;
        let addr = server.addr;
        let (got, close) = blocking(move || {
            let mut stream = connect_with_buffers(addr, Some(16 << 10), None);
            raw_upgrade(&mut stream, "/");
            let mut got = 0;
            loop {
                let (first, payload) = read_server_frame(&mut stream).expect("a frame");
                match first {
                    0x82 => {
                        got += payload.len();
                        // A slow link (the pacing under test).
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    0x88 => return (got, u16::from_be_bytes([payload[0], payload[1]])),
                    other => panic!("frame {other:#x}"),
                }
            }
        })
        .await;
        assert_eq!((got, close), (TOTAL, 1000));
        let report = within_for(Duration::from_secs(20), "the report", outcome)
            .await
            .unwrap();
        assert_eq!(report.end, ForwardEnd::BackendClosed);
    });
}
