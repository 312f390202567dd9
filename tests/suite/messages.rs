//! Data messages, fragmentation and pings against tungstenite and raw
//! frames.

use crate::common::{self, *};
use tungstenite::Message as WsMessage;
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::frame::coding::{Data, OpCode};
use wsgate::{Config, DataKind, Error, Event, Fragment, Message};

/// Closes from the client and collects the app's events up to its Close.
async fn finish(server: &EchoServer) -> Vec<Event> {
    server.events_until_close().await
}

#[test]
fn text_and_binary_echo_at_boundary_sizes() {
    common::run(async move {
        let server = echo_server(large_config()).await;
        let addr = server.addr;
        let sizes = [0, 1, 125, 126, 127, 65_535, 65_536, 64 << 10, 16 << 20];
        let client = blocking(move || {
            let request = ws_request(addr, "/");
            let (mut ws, _) =
                ws_try_connect(addr, request, Some(ws_large_config())).expect("handshake");
            for size in sizes {
                let text = text_of_len(size);
                assert_eq!(text.len(), size);
                ws.send(WsMessage::text(text.clone())).unwrap();
                match ws_read_data(&mut ws) {
                    WsMessage::Text(echo) => {
                        assert_eq!(echo.len(), size, "text of {size} bytes");
                        assert!(echo.as_str() == text, "text of {size} bytes differs");
                    }
                    other => panic!("expected text, got {} bytes of {other:?}", other.len()),
                }
                let data = bytes_of_len(size);
                ws.send(WsMessage::binary(data.clone())).unwrap();
                match ws_read_data(&mut ws) {
                    WsMessage::Binary(echo) => {
                        assert_eq!(echo.len(), size, "binary of {size} bytes");
                        assert!(echo[..] == data[..], "binary of {size} bytes differs");
                    }
                    other => panic!("expected binary, got {} bytes", other.len()),
                }
            }
            ws.close(None).unwrap();
            ws_finish_close(&mut ws);
        });
        within_for(std::time::Duration::from_secs(30), "client", client).await;
        let events = finish(&server).await;
        let lengths: Vec<(bool, usize)> = events
            .iter()
            .filter_map(|e| match e {
                Event::Message(m) => Some((m.is_text(), m.len())),
                _ => None,
            })
            .collect();
        let expected: Vec<(bool, usize)> = sizes
            .iter()
            .flat_map(|&n| [(true, n), (false, n)])
            .collect();
        assert_eq!(lengths, expected);
    })
}

#[test]
fn many_small_messages_keep_their_order() {
    common::run(async move {
        let server = echo_server(Config::default()).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut ws = ws_connect(addr, "/");
            for i in 0..500 {
                ws.write(WsMessage::text(format!("message {i}"))).unwrap();
            }
            ws.flush().unwrap();
            for i in 0..500 {
                assert_eq!(
                    ws_read_data(&mut ws),
                    WsMessage::text(format!("message {i}"))
                );
            }
            ws.close(None).unwrap();
            ws_finish_close(&mut ws);
        });
        within("client", client).await;
        let events = finish(&server).await;
        assert_eq!(events.len(), 501);
    })
}

#[test]
fn fragmented_client_messages_are_assembled() {
    common::run(async move {
        let server = echo_server(Config::default()).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut ws = ws_connect(addr, "/");
            let text = OpCode::Data(Data::Text);
            let binary = OpCode::Data(Data::Binary);
            let cont = OpCode::Data(Data::Continue);
            // "Hello, wörld" with the ö (C3 B6) split across frames, and a ping
            // between the fragments.
            ws.write(WsMessage::Frame(Frame::message(
                &b"Hello, w\xc3"[..],
                text,
                false,
            )))
            .unwrap();
            ws.write(WsMessage::Ping("mid".into())).unwrap();
            ws.write(WsMessage::Frame(Frame::message(&b"\xb6r"[..], cont, false)))
                .unwrap();
            ws.write(WsMessage::Frame(Frame::message(&b""[..], cont, false)))
                .unwrap();
            ws.write(WsMessage::Frame(Frame::message(&b"ld"[..], cont, true)))
                .unwrap();
            ws.write(WsMessage::Frame(Frame::message(
                vec![1u8, 2],
                binary,
                false,
            )))
            .unwrap();
            ws.write(WsMessage::Frame(Frame::message(vec![3u8], cont, true)))
                .unwrap();
            ws.flush().unwrap();
            assert_eq!(ws.read().unwrap(), WsMessage::Pong("mid".into()));
            assert_eq!(ws_read_data(&mut ws), WsMessage::text("Hello, wörld"));
            assert_eq!(ws_read_data(&mut ws), WsMessage::binary(vec![1u8, 2, 3]));
            ws.close(None).unwrap();
            ws_finish_close(&mut ws);
        });
        within("client", client).await;
        let events = finish(&server).await;
        assert!(
            matches!(&events[0], Event::Ping(p) if p == b"mid"),
            "{events:?}"
        );
        assert!(matches!(&events[1], Event::Message(Message::Text(t)) if t == "Hello, wörld"));
        assert!(matches!(&events[2], Event::Message(Message::Binary(b)) if b == &[1, 2, 3]));
        assert!(matches!(&events[3], Event::Close(_)));
    })
}

#[test]
fn fragment_size_splits_outgoing_messages() {
    common::run(async move {
        let mut config = Config::default();
        config.fragment_size = 1000;
        let server = echo_server(config).await;
        let addr = server.addr;
        let frames = blocking(move || {
            let mut raw = RawClient::handshake(addr);
            let data = bytes_of_len(2500);
            raw.send(&frame(true, 0x2, &data));
            let binary: Vec<RawFrame> = (0..3).map(|_| raw.read_frame()).collect();
            let text = text_of_len(2500);
            raw.send(&frame(true, 0x1, text.as_bytes()));
            let texts: Vec<RawFrame> = (0..3).map(|_| raw.read_frame()).collect();
            raw.send(&frame(true, 0x2, &data[..1000]));
            let exact = raw.read_frame();
            raw.send(&close_frame(1000, ""));
            let (close, rest) = raw.read_until_close();
            assert!(rest.is_empty(), "{rest:?}");
            assert_eq!(close, Some((1000, String::new())));
            (data, binary, text, texts, exact)
        });
        let (data, binary, text, texts, exact) = within("client", frames).await;
        let shape = |frames: &[RawFrame]| -> Vec<(u8, bool, usize)> {
            frames
                .iter()
                .map(|f| (f.opcode, f.fin, f.payload.len()))
                .collect()
        };
        assert_eq!(
            shape(&binary),
            [(0x2, false, 1000), (0x0, false, 1000), (0x0, true, 500)]
        );
        assert_eq!(binary.concat_payload(), data);
        assert_eq!(
            shape(&texts),
            [(0x1, false, 1000), (0x0, false, 1000), (0x0, true, 500)]
        );
        assert_eq!(texts.concat_payload(), text.as_bytes());
        assert!(binary.iter().chain(&texts).all(|f| !f.masked && f.rsv == 0));
        assert_eq!(shape(&[exact]), [(0x2, true, 1000)]);

        // tungstenite reassembles the split messages.
        let client = blocking(move || {
            let mut ws = ws_connect(addr, "/");
            let text = text_of_len(4321);
            ws.send(WsMessage::text(text.clone())).unwrap();
            assert_eq!(ws_read_data(&mut ws), WsMessage::text(text));
            ws.close(None).unwrap();
            ws_finish_close(&mut ws);
        });
        within("client", client).await;
    })
}

trait ConcatPayload {
    fn concat_payload(&self) -> Vec<u8>;
}

impl ConcatPayload for Vec<RawFrame> {
    fn concat_payload(&self) -> Vec<u8> {
        self.iter()
            .flat_map(|f| f.payload.iter().copied())
            .collect()
    }
}

#[test]
fn without_assembly_fragments_arrive_in_order() {
    common::run(async move {
        let mut config = Config::default();
        config.assemble_messages = false;
        let server = echo_server(config).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut raw = RawClient::handshake(addr);
            let mut bytes = frame(false, 0x1, b"ab");
            bytes.extend(frame(true, 0x9, b"p"));
            bytes.extend(frame(false, 0x0, b"c\xc3"));
            bytes.extend(frame(true, 0x0, b"\xa9"));
            bytes.extend(frame(true, 0x2, &[1, 2, 3]));
            raw.send(&bytes);
            let pong = raw.read_frame();
            assert_eq!((pong.opcode, pong.payload.as_slice()), (0xA, &b"p"[..]));
            raw.send(&close_frame(1000, ""));
            let (close, _) = raw.read_until_close();
            assert_eq!(close, Some((1000, String::new())));
        });
        within("client", client).await;
        let events = finish(&server).await;
        let fragment = |kind, data: &[u8], first, last| Fragment {
            kind,
            data: data.to_vec(),
            first,
            last,
        };
        let expected = [
            fragment(DataKind::Text, b"ab", true, false),
            fragment(DataKind::Text, b"c\xc3", false, false),
            fragment(DataKind::Text, b"\xa9", false, true),
            fragment(DataKind::Binary, &[1, 2, 3], true, true),
        ];
        let fragments: Vec<&Fragment> = events
            .iter()
            .filter_map(|e| match e {
                Event::Fragment(f) => Some(f),
                _ => None,
            })
            .collect();
        assert_eq!(fragments, expected.iter().collect::<Vec<_>>());
        assert!(
            matches!(&events[1], Event::Ping(p) if p == b"p"),
            "{events:?}"
        );
        assert!(
            !events.iter().any(|e| matches!(e, Event::Message(_))),
            "{events:?}"
        );
        assert!(matches!(events.last(), Some(Event::Close(c)) if c.clean));
    })
}

#[test]
fn client_ping_gets_an_automatic_pong() {
    common::run(async move {
        let server = echo_server(Config::default()).await;
        let addr = server.addr;
        let payloads: Vec<Vec<u8>> = vec![b"are you there".to_vec(), Vec::new(), vec![0x5a; 125]];
        let sent = payloads.clone();
        let client = blocking(move || {
            let mut ws = ws_connect(addr, "/");
            for payload in sent {
                ws.send(WsMessage::Ping(payload.clone().into())).unwrap();
                assert_eq!(ws.read().unwrap(), WsMessage::Pong(payload.into()));
            }
            ws.close(None).unwrap();
            ws_finish_close(&mut ws);
        });
        within("client", client).await;
        let events = finish(&server).await;
        let pings: Vec<Vec<u8>> = events
            .iter()
            .filter_map(|e| match e {
                Event::Ping(p) => Some(p.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(pings, payloads);
    })
}

#[test]
fn app_ping_is_answered_and_reported_as_pong() {
    common::run(async move {
        let server = echo_server(Config::default()).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut ws = ws_connect(addr, "/");
            assert_eq!(ws.read().unwrap(), WsMessage::Ping("app-ping".into()));
            ws.flush().unwrap(); // sends tungstenite's pong
            assert_eq!(ws_read_data(&mut ws), WsMessage::text("got it"));
            ws.close(None).unwrap();
            ws_finish_close(&mut ws);
        });
        let conn = server.conn().await;
        assert!(matches!(
            conn.ping(vec![0u8; 126]),
            Err(Error::ControlTooLong { len: 126 })
        ));
        conn.ping(b"app-ping".to_vec()).unwrap();
        match server.event().await {
            Event::Pong(p) => assert_eq!(p, b"app-ping"),
            other => panic!("expected a pong, got {other:?}"),
        }
        conn.send_text("got it").await.unwrap();
        within("client", client).await;
        assert!(matches!(server.event().await, Event::Close(c) if c.clean));
    })
}

#[test]
fn auto_pong_off_sends_no_pong() {
    common::run(async move {
        let mut config = Config::default();
        config.auto_pong = false;
        let server = echo_server(config).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut ws = ws_connect(addr, "/");
            ws.write(WsMessage::Ping("silent".into())).unwrap();
            ws.write(WsMessage::text("after")).unwrap();
            ws.flush().unwrap();
            // The echo of "after" comes first, with no pong before it...
            assert_eq!(ws.read().unwrap(), WsMessage::text("after"));
            // ...nor after it, up to the close.
            ws.close(None).unwrap();
            let mut seen = Vec::new();
            loop {
                match ws.read() {
                    Ok(m) => seen.push(m),
                    Err(tungstenite::Error::ConnectionClosed) => break,
                    Err(e) => panic!("{e:?}"),
                }
                assert!(seen.len() < 10);
            }
            assert!(
                !seen.iter().any(|m| matches!(m, WsMessage::Pong(_))),
                "{seen:?}"
            );
        });
        within("client", client).await;
        let events = finish(&server).await;
        assert!(
            matches!(&events[0], Event::Ping(p) if p == b"silent"),
            "{events:?}"
        );
    })
}

#[test]
fn large_message_in_many_fragments_round_trips() {
    common::run(async move {
        let mut config = large_config();
        config.fragment_size = 1000;
        let server = echo_server(config).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut ws = ws_connect(addr, "/");
            let data = bytes_of_len(3 << 20);
            ws.send(WsMessage::binary(data.clone())).unwrap();
            match ws_read_data(&mut ws) {
                WsMessage::Binary(echo) => assert!(echo[..] == data[..]),
                other => panic!("{} bytes of {other:?}", other.len()),
            }
            ws.close(None).unwrap();
            ws_finish_close(&mut ws);
        });
        within_for(std::time::Duration::from_secs(20), "client", client).await;
    })
}

/// A raw client that reads nothing until told to, then reads `frames` data
/// frames (and, with `close`, up to the close frame).
fn slow_reader(
    addr: std::net::SocketAddr,
    go: std::sync::mpsc::Receiver<()>,
    close: bool,
) -> impl std::future::Future<Output = (Vec<RawFrame>, Option<(u16, String)>)> {
    blocking(move || {
        let mut raw = RawClient::connect_with_timeout(addr, std::time::Duration::from_secs(10));
        raw.send(upgrade_request("/", "").as_bytes());
        assert_eq!(raw.read_head().status, 101);
        go.recv_timeout(TIMEOUT).expect("go");
        if close {
            let (close, frames) = raw.read_until_close();
            (frames, close)
        } else {
            let mut frames = Vec::new();
            loop {
                let f = raw.read_frame();
                let done = f.payload == b"end";
                frames.push(f);
                if done {
                    break;
                }
                assert!(frames.len() < 10_000);
            }
            (frames, None)
        }
    })
}

const CHUNK: usize = 256 << 10;

#[test]
fn send_waits_while_the_queue_is_over_high_water() {
    common::run(async move {
        let server = request_server(Config::default()).await;
        let addr = server.addr;
        let (go, go_rx) = std::sync::mpsc::channel();
        let client = slow_reader(addr, go_rx, false);
        let conn = within("accept", server.next().await.accept(None, None))
            .await
            .unwrap();
        let sender = conn.clone();
        let sending = common::spawn(async move {
            for i in 0..96u8 {
                sender.send_binary(vec![i; CHUNK]).await.unwrap();
            }
            sender.send_text("end").await.unwrap();
        });
        // 24 MiB cannot fit in the socket buffers and the 1 MiB queue: the
        // sender must be held back while nobody reads, with the queue full.
        eventually("the queue to reach the high-water mark", TIMEOUT, || {
            conn.buffered_amount() >= Config::default().send_queue_high_water
        })
        .await;
        go.send(()).unwrap();
        within("the sender", sending).await;
        let (frames, _) = within("client", client).await;
        assert_eq!(frames.len(), 97);
        for (i, f) in frames[..96].iter().enumerate() {
            assert_eq!(f.payload.len(), CHUNK);
            assert!(f.payload.iter().all(|&b| b == i as u8), "frame {i}");
        }
        within("flush", conn.flush()).await.unwrap();
        assert_eq!(conn.buffered_amount(), 0);
    })
}

#[test]
fn send_policy_fail_reports_queue_full_and_stays_open() {
    common::run(async move {
        let mut config = Config::default();
        config.send_queue_policy = wsgate::SendPolicy::Fail;
        let server = request_server(config).await;
        let addr = server.addr;
        let (go, go_rx) = std::sync::mpsc::channel();
        let client = slow_reader(addr, go_rx, false);
        let conn = within("accept", server.next().await.accept(None, None))
            .await
            .unwrap();
        let mut sent = 0usize;
        let mut full = false;
        for i in 0..400u32 {
            match within("send", conn.send_binary(vec![(i % 251) as u8; CHUNK])).await {
                Ok(()) => sent += 1,
                Err(Error::QueueFull) => {
                    full = true;
                    break;
                }
                Err(e) => panic!("{e:?}"),
            }
        }
        assert!(full, "no QueueFull after {sent} sends of {CHUNK} bytes");
        assert!(conn.is_open());
        go.send(()).unwrap();
        within("flush", conn.flush()).await.unwrap();
        conn.send_text("end").await.unwrap();
        let (frames, _) = within("client", client).await;
        assert_eq!(frames.len(), sent + 1);
    })
}

#[test]
fn send_policy_close_closes_with_1008() {
    common::run(async move {
        let mut config = Config::default();
        config.send_queue_policy = wsgate::SendPolicy::Close;
        let server = request_server(config).await;
        let addr = server.addr;
        let (go, go_rx) = std::sync::mpsc::channel();
        let client = slow_reader(addr, go_rx, true);
        let conn = within("accept", server.next().await.accept(None, None))
            .await
            .unwrap();
        let mut sent = 0usize;
        let mut full = false;
        for _ in 0..400 {
            match within("send", conn.send_binary(vec![1u8; CHUNK])).await {
                Ok(()) => sent += 1,
                Err(Error::QueueFull) => {
                    full = true;
                    break;
                }
                Err(e) => panic!("{e:?}"),
            }
        }
        assert!(full, "no QueueFull after {sent} sends");
        assert!(!conn.is_open());
        assert!(matches!(conn.send("more").await, Err(Error::Closed)));
        go.send(()).unwrap();
        let (frames, close) = within("client", client).await;
        assert_eq!(frames.len(), sent);
        assert_eq!(close.map(|c| c.0), Some(1008));
    })
}

/// Regression (fixed in aea5ec2): `flush` is documented to fail with
/// `Error::Closed` "if the connection finished first". When the peer
/// vanished with data still queued, the writer zeroed the queue's byte count
/// and `flush` checked `bytes == 0` before `Finished`, so it reported success
/// for data that was never written.
#[test]
fn flush_fails_when_the_connection_dies_with_data_queued() {
    common::run(async move {
        let server = request_server(Config::default()).await;
        let addr = server.addr;
        let (go, go_rx) = std::sync::mpsc::channel::<()>();
        let client = blocking(move || {
            let raw = RawClient::handshake(addr);
            go_rx.recv_timeout(TIMEOUT).expect("go");
            // Vanish without reading: the unread data makes this a reset.
            raw.stream.shutdown(std::net::Shutdown::Both).unwrap();
        });
        let conn = within("accept", server.next().await.accept(None, None))
            .await
            .unwrap();
        for _ in 0..64 {
            conn.send_binary(vec![0u8; CHUNK]).await.ok();
            if conn.buffered_amount() >= Config::default().send_queue_high_water {
                break;
            }
        }
        assert!(conn.buffered_amount() > 0);
        let flusher = conn.clone();
        let flushing = common::spawn(async move { flusher.flush().await });
        // Lets the flush start waiting before the client vanishes; nothing
        // announces a waiting flush, so a short sleep.
        common::sleep(std::time::Duration::from_millis(50)).await;
        go.send(()).unwrap();
        within("client", client).await;
        let result = within("flush", flushing).await;
        assert!(matches!(result, Err(Error::Closed)), "{result:?}");
    })
}

/// Eight tasks send on clones of one connection at once, with a send queue
/// small enough that they write through, queue behind each other, fill it
/// and wait: tungstenite reads every message, each sender's in its order.
#[test]
fn concurrent_senders_on_one_connection_lose_nothing() {
    common::run(async move {
        const SENDERS: u8 = 8;
        const EACH: u32 = 500;
        let mut config = Config::default();
        config.send_queue_high_water = 8 << 10;
        config.send_queue_low_water = 2 << 10;
        let server = request_server(config).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut ws = ws_connect(addr, "/");
            let mut next = [0u32; SENDERS as usize];
            for _ in 0..u32::from(SENDERS) * EACH {
                let WsMessage::Binary(data) = ws_read_data(&mut ws) else {
                    panic!("expected binary");
                };
                let sender = usize::from(data[0]);
                let seq = u32::from_be_bytes(data[1..5].try_into().unwrap());
                assert_eq!(seq, next[sender], "sender {sender} out of order");
                // Sizes vary (5 B to 2 KiB) so that batches mix small and large.
                assert_eq!(data.len(), 5 + (seq as usize * 37) % 2048);
                next[sender] += 1;
            }
            next
        });
        let conn = within("accept", server.next().await.accept(None, None))
            .await
            .unwrap();
        let senders: Vec<_> = (0..SENDERS)
            .map(|sender| {
                let conn = conn.clone();
                common::spawn(async move {
                    for seq in 0..EACH {
                        let mut data = vec![sender];
                        data.extend_from_slice(&seq.to_be_bytes());
                        data.resize(5 + (seq as usize * 37) % 2048, 0xa5);
                        conn.send_binary(data).await.unwrap();
                        if seq % 64 == 0 {
                            common::yield_now().await;
                        }
                    }
                })
            })
            .collect();
        for sender in senders {
            within("a sender", sender).await;
        }
        let next = within("client", client).await;
        assert_eq!(next, [EACH; SENDERS as usize]);
        within("flush", conn.flush()).await.unwrap();
        assert_eq!(conn.buffered_amount(), 0);
    })
}
