//! Closing: close codes both ways, failing the connection on protocol
//! errors, abnormal ends and the close timeout.

use std::time::Duration;

use crate::common::{self, *};
use tungstenite::Message as WsMessage;
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use wsgate::protocol::{ClosePayloadError, HeaderError};
use wsgate::{CloseCode, CloseEvent, Config, Error, Event, ProtocolError};

fn close_event(event: &Event) -> &CloseEvent {
    match event {
        Event::Close(close) => close,
        other => panic!("expected a close event, got {other:?}"),
    }
}

#[test]
fn client_close_code_and_reason_reach_the_app_and_are_echoed() {
    common::run(async move {
        let server = echo_server(Config::default()).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut ws = ws_connect(addr, "/");
            ws.close(Some(CloseFrame {
                code: WsCloseCode::from(4000),
                reason: "client done".into(),
            }))
            .unwrap();
            // Reads the server's close, then end of stream.
            ws_finish_close(&mut ws)
        });
        let echoed = within("client", client)
            .await
            .expect("a close frame with a code");
        assert_eq!(u16::from(echoed.code), 4000);
        let events = server.events_until_close().await;
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(
            close_event(&events[0]),
            &CloseEvent {
                code: CloseCode::from(4000),
                reason: "client done".into(),
                clean: true,
            }
        );

        // Byte-exact: the echo is an unmasked close with the same code, then the
        // server ends the TCP connection.
        let client = blocking(move || {
            let mut raw = RawClient::handshake(addr);
            raw.send(&close_frame(4000, "raw"));
            let (close, before) = raw.read_until_close();
            assert!(before.is_empty(), "{before:?}");
            assert_eq!(close.map(|c| c.0), Some(4000));
            raw.time_to_eof()
        });
        let elapsed = within("client", client).await;
        assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
        let close = close_event(&server.event().await).clone();
        assert_eq!(
            (close.code.as_u16(), close.reason.as_str(), close.clean),
            (4000, "raw", true)
        );

        // An empty close: the echo is empty too, and the app sees 1005.
        let client = blocking(move || {
            let mut raw = RawClient::handshake(addr);
            raw.send(&frame(true, 0x8, b""));
            let (close, _) = raw.read_until_close();
            raw.expect_clean_eof();
            close
        });
        assert_eq!(within("client", client).await, None);
        let close = close_event(&server.event().await).clone();
        assert_eq!(close.code, CloseCode::NO_STATUS);
        assert!(close.clean);
    })
}

#[test]
fn app_close_reaches_the_client_and_the_server_ends_tcp() {
    common::run(async move {
        let server = echo_server(Config::default()).await;
        let addr = server.addr;

        // tungstenite: sees 1001 "bye", answers, and sees the stream end.
        let client = blocking(move || {
            let mut ws = ws_connect(addr, "/");
            let close = match ws.read().unwrap() {
                WsMessage::Close(Some(frame)) => (u16::from(frame.code), frame.reason.to_string()),
                other => panic!("expected a close, got {other:?}"),
            };
            // The next read flushes tungstenite's reply and then hits the end
            // of the stream.
            match ws.read() {
                Err(tungstenite::Error::ConnectionClosed) => {}
                other => panic!("expected the connection to end, got {other:?}"),
            }
            close
        });
        let conn = server.conn().await;
        conn.close(CloseCode::GOING_AWAY, "bye").unwrap();
        assert!(!conn.is_open());
        assert!(matches!(conn.send("late").await, Err(Error::Closed)));
        assert!(matches!(
            conn.send_binary(vec![1]).await,
            Err(Error::Closed)
        ));
        assert!(matches!(conn.ping(Vec::new()), Err(Error::Closed)));
        assert!(matches!(
            conn.close(CloseCode::NORMAL, "again"),
            Err(Error::Closed)
        ));
        assert_eq!(within("client", client).await, (1001, "bye".to_owned()));
        let close = close_event(&server.event().await).clone();
        assert_eq!(close.code, CloseCode::GOING_AWAY);
        assert!(close.clean);
        within("closed()", conn.closed()).await;

        // Byte-exact, and an unsendable code is replaced by 1000.
        let client = blocking(move || {
            let mut raw = RawClient::handshake(addr);
            let (close, before) = raw.read_until_close();
            assert!(before.is_empty());
            raw.send(&close_frame(1000, ""));
            (close, raw.time_to_eof())
        });
        let conn = server.conn().await;
        conn.close(CloseCode::ABNORMAL, "not sendable").unwrap();
        let (close, elapsed) = within("client", client).await;
        assert_eq!(close, Some((1000, "not sendable".to_owned())));
        assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
        assert!(close_event(&server.event().await).clean);
    })
}

#[test]
fn sends_after_the_peer_closed_fail() {
    common::run(async move {
        let server = echo_server(Config::default()).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut ws = ws_connect(addr, "/");
            ws.close(None).unwrap();
            ws_finish_close(&mut ws);
        });
        let conn = server.conn().await;
        within("client", client).await;
        assert!(matches!(server.event().await, Event::Close(c) if c.clean));
        within("closed()", conn.closed()).await;
        assert!(!conn.is_open());
        assert!(matches!(conn.send("late").await, Err(Error::Closed)));
        assert!(matches!(conn.ping(b"x".to_vec()), Err(Error::Closed)));
        assert!(matches!(conn.pong(b"x".to_vec()), Err(Error::Closed)));
        assert!(matches!(
            conn.close(CloseCode::NORMAL, ""),
            Err(Error::Closed)
        ));
    })
}

/// Sends `bytes` after a valid handshake to an echo server with `config`;
/// the client must receive a close with `code` and then the end of the TCP
/// connection, and the app an error then a close with the same code.
async fn violation(config: Config, bytes: Vec<u8>, code: u16) -> ProtocolError {
    let server = echo_server(config).await;
    let addr = server.addr;
    let client = blocking(move || {
        let mut raw = RawClient::handshake(addr);
        raw.send(&bytes);
        let (close, _) = raw.read_until_close();
        raw.expect_eof();
        close
    });
    let (got, _) = within("client", client).await.expect("a close code");
    assert_eq!(got, code);
    let events = server.events_until_close().await;
    let [.., Event::Error(error), Event::Close(close)] = &events[..] else {
        panic!("expected an error then a close, got {events:?}");
    };
    assert_eq!(close.code.as_u16(), code);
    assert!(!close.clean);
    match error {
        Error::Protocol(e) => {
            assert_eq!(e.close_code().as_u16(), code);
            *e
        }
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

fn small_limits() -> Config {
    let mut config = Config::default();
    config.max_frame_size = 1000;
    config.max_message_size = 1500;
    config.max_fragments = 3;
    config
}

#[test]
fn oversized_frames_and_messages_close_with_1009() {
    common::run(async move {
        // A frame over max_frame_size: only its header is sent.
        let e = violation(small_limits(), frame_header(0x82, 1001, Some(MASK)), 1009).await;
        assert_eq!(e, ProtocolError::FrameTooLarge { limit: 1000 });

        // A header claiming 2^62 bytes costs nothing.
        let e = violation(
            small_limits(),
            frame_header(0x82, 1 << 62, Some(MASK)),
            1009,
        )
        .await;
        assert_eq!(e, ProtocolError::FrameTooLarge { limit: 1000 });

        // A message over max_message_size across two frames.
        let mut bytes = frame(false, 0x2, &[7; 800]);
        bytes.extend(frame_header(0x80, 800, Some(MASK)));
        let e = violation(small_limits(), bytes, 1009).await;
        assert_eq!(e, ProtocolError::MessageTooLarge { limit: 1500 });

        // More fragments than max_fragments.
        let mut bytes = Vec::new();
        for _ in 0..3 {
            bytes.extend(frame(false, if bytes.is_empty() { 0x1 } else { 0x0 }, b"a"));
        }
        bytes.extend(frame(true, 0x0, b"a"));
        let e = violation(small_limits(), bytes, 1009).await;
        assert_eq!(e, ProtocolError::TooManyFragments { limit: 3 });

        // Past the default limits (16 MiB).
        let e = violation(
            Config::default(),
            frame_header(0x82, (16 << 20) + 1, Some(MASK)),
            1009,
        )
        .await;
        assert_eq!(e, ProtocolError::FrameTooLarge { limit: 16 << 20 });
    })
}

#[test]
fn tungstenite_sees_1009_for_a_message_too_large() {
    common::run(async move {
        let server = echo_server(small_limits()).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut ws = ws_connect(addr, "/");
            ws.send(WsMessage::binary(vec![1u8; 1001])).unwrap();
            let code = match ws.read().unwrap() {
                WsMessage::Close(Some(frame)) => u16::from(frame.code),
                other => panic!("expected a close, got {other:?}"),
            };
            // The server does not wait for our reply: the stream ends.
            match ws.read() {
                Err(tungstenite::Error::ConnectionClosed)
                | Err(tungstenite::Error::Protocol(
                    tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
                )) => {}
                Err(tungstenite::Error::Io(e))
                    if e.kind() == std::io::ErrorKind::ConnectionReset => {}
                Ok(m) => panic!("unexpected {m:?}"),
                Err(e) => panic!("unexpected {e:?}"),
            }
            code
        });
        assert_eq!(within("client", client).await, 1009);
        let events = server.events_until_close().await;
        assert!(
            matches!(
                &events[..],
                [Event::Error(Error::Protocol(ProtocolError::FrameTooLarge { limit: 1000 })), Event::Close(c)]
                    if c.code == CloseCode::MESSAGE_TOO_BIG && !c.clean
            ),
            "{events:?}"
        );
    })
}

/// A connection failed while the peer is still sending is not reset: the
/// server ends its side after the close frame and reads on, discarding,
/// until the peer's end. Dropping the socket with unread bytes would make
/// the kernel send a reset, and the peer's pending writes fail before it
/// reads the close frame.
#[test]
fn a_failed_connection_reads_on_so_the_peer_gets_its_close_frame() {
    common::run(async move {
        let server = echo_server(Config::default()).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut raw = RawClient::handshake(addr);
            // A reserved opcode, then 1 MiB of valid frames that follow it.
            let mut bytes = frame(true, 0x3, b"");
            for _ in 0..64 {
                bytes.extend(frame(true, 0x2, &[7; 16 << 10]));
            }
            raw.send(&bytes);
            let (close, _) = raw.read_until_close();
            raw.expect_clean_eof();
            close
        });
        let (code, _) = within("client", client).await.expect("a close code");
        assert_eq!(code, 1002);
        let events = server.events_until_close().await;
        assert!(
            matches!(&events[..], [Event::Error(_), Event::Close(c)] if c.code.as_u16() == 1002),
            "{events:?}"
        );
    })
}

/// The same with an independent client in the middle of a large write:
/// tungstenite finishes sending the 4 MiB message the server refused after
/// its first bytes, then reads the 1009.
#[test]
fn tungstenite_still_sending_gets_its_1009() {
    common::run(async move {
        let mut config = Config::default();
        config.max_message_size = 1 << 20;
        config.max_frame_size = 1 << 20;
        let server = echo_server(config).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut ws = ws_connect(addr, "/");
            ws.send(WsMessage::binary(vec![1u8; 4 << 20]))
                .expect("the whole message written: the server reads on");
            match ws.read() {
                Ok(WsMessage::Close(Some(frame))) => u16::from(frame.code),
                other => panic!("expected the close frame, got {other:?}"),
            }
        });
        assert_eq!(within("client", client).await, 1009);
        let events = server.events_until_close().await;
        assert!(
            matches!(&events[..], [Event::Error(_), Event::Close(c)] if c.code == CloseCode::MESSAGE_TOO_BIG),
            "{events:?}"
        );
    })
}

#[test]
fn invalid_utf8_closes_with_1007() {
    common::run(async move {
        let e = violation(Config::default(), frame(true, 0x1, b"ok \xff"), 1007).await;
        assert_eq!(e, ProtocolError::InvalidUtf8);

        // Split across fragments: a lead byte, then a non-continuation byte.
        let mut bytes = frame(false, 0x1, b"abc\xce");
        bytes.extend(frame(true, 0x0, b"A"));
        assert_eq!(
            violation(Config::default(), bytes, 1007).await,
            ProtocolError::InvalidUtf8
        );

        // A message that ends inside a character.
        let mut bytes = frame(false, 0x1, b"\xe2");
        bytes.extend(frame(true, 0x0, b"\x82"));
        assert_eq!(
            violation(Config::default(), bytes, 1007).await,
            ProtocolError::InvalidUtf8
        );

        // Also when fragments are not assembled.
        let mut config = Config::default();
        config.assemble_messages = false;
        let mut bytes = frame(false, 0x1, b"\xce");
        bytes.extend(frame(true, 0x0, b"A"));
        assert_eq!(
            violation(config, bytes, 1007).await,
            ProtocolError::InvalidUtf8
        );

        // A close reason that is not UTF-8.
        let e = violation(Config::default(), frame(true, 0x8, b"\x03\xe8\xff"), 1007).await;
        assert_eq!(
            e,
            ProtocolError::ClosePayload(ClosePayloadError::InvalidReason)
        );
    })
}

#[test]
fn unmasked_client_frame_closes_with_1002() {
    common::run(async move {
        let e = violation(Config::default(), unmasked_frame(true, 0x1, b"hi"), 1002).await;
        assert_eq!(e, ProtocolError::UnmaskedFrame);
    })
}

#[test]
fn reserved_opcodes_close_with_1002() {
    common::run(async move {
        for opcode in [0x3, 0x7, 0xB, 0xF] {
            let e = violation(Config::default(), frame(true, opcode, b""), 1002).await;
            assert_eq!(
                e,
                ProtocolError::Header(HeaderError::ReservedOpcode(opcode))
            );
        }
    })
}

#[test]
fn reserved_bits_close_with_1002() {
    common::run(async move {
        for rsv in [0x40, 0x20, 0x10] {
            let e = violation(Config::default(), raw_frame(0x80 | rsv | 0x1, b"x"), 1002).await;
            assert_eq!(e, ProtocolError::ReservedBits(rsv));
        }
    })
}

#[test]
fn fragmented_control_frame_closes_with_1002() {
    common::run(async move {
        let e = violation(Config::default(), frame(false, 0x9, b"p"), 1002).await;
        assert_eq!(e, ProtocolError::Header(HeaderError::FragmentedControl));
    })
}

#[test]
fn control_frame_over_125_bytes_closes_with_1002() {
    common::run(async move {
        let e = violation(Config::default(), frame(true, 0x9, &[0; 126]), 1002).await;
        assert_eq!(e, ProtocolError::Header(HeaderError::ControlTooLong));
    })
}

#[test]
fn continuation_without_start_closes_with_1002() {
    common::run(async move {
        let e = violation(Config::default(), frame(true, 0x0, b"x"), 1002).await;
        assert_eq!(e, ProtocolError::UnexpectedContinuation);
    })
}

#[test]
fn new_message_inside_a_fragmented_one_closes_with_1002() {
    common::run(async move {
        let mut bytes = frame(false, 0x1, b"a");
        bytes.extend(frame(true, 0x1, b"b"));
        let e = violation(Config::default(), bytes, 1002).await;
        assert_eq!(e, ProtocolError::ExpectedContinuation);
    })
}

#[test]
fn one_byte_close_payload_closes_with_1002() {
    common::run(async move {
        let e = violation(Config::default(), frame(true, 0x8, &[0x03]), 1002).await;
        assert_eq!(e, ProtocolError::ClosePayload(ClosePayloadError::OneByte));
    })
}

#[test]
fn invalid_close_codes_close_with_1002() {
    common::run(async move {
        for code in [1005u16, 1006, 999, 1004, 1015, 2999, 5000] {
            let e = violation(Config::default(), close_frame(code, ""), 1002).await;
            assert_eq!(
                e,
                ProtocolError::ClosePayload(ClosePayloadError::InvalidCode(code))
            );
        }
    })
}

#[test]
fn badly_encoded_lengths_close_with_1002() {
    common::run(async move {
        // 16-bit length used for 5 bytes.
        let mut bytes = vec![0x82, 0x80 | 126, 0x00, 0x05];
        bytes.extend(MASK);
        bytes.extend([0; 5]);
        let e = violation(Config::default(), bytes, 1002).await;
        assert_eq!(e, ProtocolError::Header(HeaderError::BadLength));

        // 64-bit length used for 200 bytes.
        let mut bytes = vec![0x82, 0x80 | 127];
        bytes.extend(200u64.to_be_bytes());
        bytes.extend(MASK);
        bytes.extend([0; 200]);
        let e = violation(Config::default(), bytes, 1002).await;
        assert_eq!(e, ProtocolError::Header(HeaderError::BadLength));

        // 64-bit length with the most significant bit set.
        let e = violation(
            Config::default(),
            frame_header(0x82, 1 << 63, Some(MASK)),
            1002,
        )
        .await;
        assert_eq!(e, ProtocolError::Header(HeaderError::BadLength));
    })
}

#[test]
fn peer_vanishing_mid_message_is_an_abnormal_close() {
    common::run(async move {
        let server = echo_server(Config::default()).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut raw = RawClient::handshake(addr);
            let mut bytes = frame_header(0x82, 1000, Some(MASK));
            bytes.extend([0u8; 100]);
            raw.send(&bytes);
            raw.stream.shutdown(std::net::Shutdown::Both).unwrap();
        });
        within("client", client).await;
        let events = server.events_until_close().await;
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(
            close_event(&events[0]),
            &CloseEvent {
                code: CloseCode::ABNORMAL,
                reason: String::new(),
                clean: false,
            }
        );

        // tungstenite dropping its socket without a close.
        let client = blocking(move || {
            let mut ws = ws_connect(addr, "/");
            ws.send(WsMessage::text("then gone")).unwrap();
            assert_eq!(ws_read_data(&mut ws), WsMessage::text("then gone"));
        });
        within("client", client).await;
        let events = server.events_until_close().await;
        assert!(matches!(&events[0], Event::Message(_)));
        let close = close_event(&events[1]);
        assert_eq!((close.code, close.clean), (CloseCode::ABNORMAL, false));
    })
}

#[test]
fn unanswered_close_is_dropped_after_close_timeout() {
    common::run(async move {
        let mut config = Config::default();
        config.close_timeout = Duration::from_millis(300);
        let server = echo_server(config).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut raw = RawClient::handshake(addr);
            let (close, _) = raw.read_until_close();
            // Never answer; time how long until the server gives up.
            (close, raw.time_to_eof())
        });
        let conn = server.conn().await;
        conn.close(CloseCode::NORMAL, "closing").unwrap();
        let (close, elapsed) = within("client", client).await;
        assert_eq!(close, Some((1000, "closing".to_owned())));
        assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
        within("closed()", conn.closed()).await;
        // Our close went out; no answer came.
        let close = close_event(&server.event().await).clone();
        assert_eq!(
            close,
            CloseEvent {
                code: CloseCode::NORMAL,
                reason: "closing".into(),
                clean: false,
            }
        );
    })
}

#[test]
fn queued_messages_go_out_before_the_close() {
    common::run(async move {
        let server = echo_server(Config::default()).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut raw = RawClient::handshake(addr);
            let (close, before) = raw.read_until_close();
            raw.send(&close_frame(1000, ""));
            raw.expect_eof();
            (close, before)
        });
        let conn = server.conn().await;
        let big = bytes_of_len(3 << 20);
        conn.send_binary(big.clone()).await.unwrap();
        conn.send_text("last").await.unwrap();
        conn.close(CloseCode::NORMAL, "").unwrap();
        let (close, before) = within("client", client).await;
        assert_eq!(close, Some((1000, String::new())));
        assert_eq!(before.len(), 2);
        assert_eq!((before[0].opcode, before[0].fin), (0x2, true));
        assert!(before[0].payload == big);
        assert_eq!(
            (before[1].opcode, before[1].payload.as_slice()),
            (0x1, &b"last"[..])
        );
    })
}

#[test]
fn long_close_reasons_are_cut_to_fit() {
    common::run(async move {
        let server = echo_server(Config::default()).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut ws = ws_connect(addr, "/");
            match ws.read().unwrap() {
                WsMessage::Close(Some(frame)) => (u16::from(frame.code), frame.reason.to_string()),
                other => panic!("expected a close, got {other:?}"),
            }
        });
        let conn = server.conn().await;
        conn.close(CloseCode::from(4001), &"é".repeat(100)).unwrap();
        let (code, reason) = within("client", client).await;
        assert_eq!(code, 4001);
        assert_eq!(reason, "é".repeat(61)); // 122 bytes: 123 would split a character
    })
}

#[test]
fn dropping_every_handle_closes_with_1001() {
    common::run(async move {
        let server = request_server(Config::default()).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut raw = RawClient::handshake(addr);
            let (close, before) = raw.read_until_close();
            assert!(before.is_empty());
            raw.expect_eof();
            close
        });
        let conn = within("accept", server.next().await.accept(None, None))
            .await
            .unwrap();
        let other = conn.clone();
        drop(conn);
        // A negative check (the close must not come while a clone lives):
        // nothing would announce its absence, so a short while.
        common::sleep(Duration::from_millis(50)).await;
        assert!(other.is_open(), "a clone still holds the connection");
        drop(other);
        assert_eq!(within("client", client).await, Some((1001, String::new())));
    })
}

#[test]
fn connection_reset_is_an_io_error_then_an_abnormal_close() {
    common::run(async move {
        let server = echo_server(Config::default()).await;
        let addr = server.addr;
        let (ready_tx, ready) = futures::channel::oneshot::channel::<()>();
        let (go, go_rx) = std::sync::mpsc::channel::<()>();
        let client = blocking(move || {
            let raw = RawClient::handshake(addr);
            // The handshake is read: what the server sends next stays unread.
            ready_tx.send(()).unwrap();
            go_rx.recv_timeout(TIMEOUT).expect("go");
            // Unread data in our receive buffer turns the close into a reset:
            // wait until it is there (peek takes nothing).
            raw.stream.peek(&mut [0u8; 1]).expect("the unread data");
            drop(raw);
        });
        let conn = server.conn().await;
        within("the client", ready).await.unwrap();
        conn.send_text("never read").await.unwrap();
        within("flush", conn.flush()).await.unwrap();
        go.send(()).unwrap();
        within("client", client).await;
        let events = server.events_until_close().await;
        match &events[..] {
            [Event::Error(Error::Io(e)), Event::Close(close)] => {
                assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset);
                assert_eq!((close.code, close.clean), (CloseCode::ABNORMAL, false));
            }
            other => panic!("expected an I/O error then a close, got {other:?}"),
        }
        within("closed()", conn.closed()).await;
        assert!(matches!(conn.send("late").await, Err(Error::Closed)));
    })
}

#[test]
fn app_keeps_receiving_until_the_peer_answers_its_close() {
    common::run(async move {
        let server = echo_server(Config::default()).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut raw = RawClient::handshake(addr);
            let (close, _) = raw.read_until_close();
            // Data sent before our close still reaches the application.
            let mut bytes = frame(true, 0x1, b"in flight");
            bytes.extend(close_frame(4002, "ack"));
            raw.send(&bytes);
            raw.expect_eof();
            close
        });
        let conn = server.conn().await;
        conn.close(CloseCode::NORMAL, "server done").unwrap();
        assert_eq!(
            within("client", client).await,
            Some((1000, "server done".to_owned()))
        );
        let events = server.events_until_close().await;
        assert!(
            matches!(&events[0], Event::Message(wsgate::Message::Text(t)) if t == "in flight"),
            "{events:?}"
        );
        // The close reported is the one that began the handshake (ours),
        // answered: the peer's different code does not replace it.
        assert_eq!(
            close_event(&events[1]),
            &CloseEvent {
                code: CloseCode::NORMAL,
                reason: "server done".into(),
                clean: true,
            }
        );
    })
}

/// What the client sent before its end of stream (`Ok`), or the bytes so
/// far when `wait` passed without one (`Err`).
fn read_until_eof(stream: &mut std::net::TcpStream, wait: Duration) -> Result<Vec<u8>, Vec<u8>> {
    use std::io::Read;
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(got);
            }
            Err(e) => panic!("reading from the client: {e}"),
        }
    }
}

/// wsgate's client, connected to the raw server at `addr`.
async fn client_of(addr: std::net::SocketAddr) -> wsgate::Connection {
    let url = format!("ws://{addr}/");
    within("connect", wsgate::connect(&url)).await.unwrap()
}

/// The server ends its side of TCP; the client then ends its own.
fn end_tcp_then_see_the_client_end(stream: &mut std::net::TcpStream) {
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    read_until_eof(stream, TIMEOUT).expect("the client's end of stream");
}

/// RFC 6455 §7.1.1: after the closing handshake the server ends the TCP
/// connection first; the client waits for that (so the server, not the
/// client, holds TIME_WAIT), whichever side started the close.
#[test]
fn the_client_lets_the_server_end_tcp_first() {
    common::run(async move {
        // The server starts the close.
        let (addr, server) = raw_ws_server(switching_protocols, |mut stream| {
            use std::io::Write;
            stream
                .write_all(&[0x88, 0x05, 0x03, 0xe8, b's', b'r', b'v'])
                .unwrap();
            // The client's close reply arrives, and no end of stream after it.
            let early = read_until_eof(&mut stream, Duration::from_millis(300));
            let reply = early.expect_err("the client ended TCP before the server");
            // The reply echoes the code and the reason.
            assert_eq!(
                reply.len(),
                2 + 4 + 2 + 3,
                "one masked close frame: {reply:?}"
            );
            assert_eq!(reply[0], 0x88);
            end_tcp_then_see_the_client_end(&mut stream);
        });
        let client = client_of(addr).await;
        let mut events = client.events();
        let close = within("the close", futures::StreamExt::next(&mut events))
            .await
            .unwrap();
        assert_eq!(close_event(&close).code, CloseCode::NORMAL);
        within("the server script", server).await;

        // The client starts the close.
        let (addr, server) = raw_ws_server(switching_protocols, |mut stream| {
            use std::io::Write;
            let early = read_until_eof(&mut stream, Duration::from_millis(300));
            let close = early.expect_err("the client ended TCP before its close was answered");
            assert_eq!(close[0], 0x88, "{close:?}");
            stream.write_all(&[0x88, 0x02, 0x03, 0xe8]).unwrap();
            let early = read_until_eof(&mut stream, Duration::from_millis(300));
            assert_eq!(
                early,
                Err(Vec::new()),
                "the client ended TCP before the server"
            );
            end_tcp_then_see_the_client_end(&mut stream);
        });
        let client = client_of(addr).await;
        let mut events = client.events();
        client.close(CloseCode::NORMAL, "").unwrap();
        let close = within("the close", futures::StreamExt::next(&mut events))
            .await
            .unwrap();
        assert!(close_event(&close).clean, "{close:?}");
        within("the server script", server).await;
    })
}

/// A server that answers the close but never ends TCP: the client ends it
/// after `close_timeout`.
#[test]
fn the_client_ends_tcp_after_close_timeout_when_the_server_does_not() {
    common::run(async move {
        let (addr, server) = raw_ws_server(switching_protocols, |mut stream| {
            use std::io::Write;
            stream.write_all(&[0x88, 0x02, 0x03, 0xe8]).unwrap();
            let started = std::time::Instant::now();
            read_until_eof(&mut stream, TIMEOUT).expect("the client's end of stream");
            started.elapsed()
        });
        let mut config = Config::default();
        config.close_timeout = Duration::from_millis(400);
        let client = within(
            "connect",
            wsgate::Client::new()
                .config(config)
                .connect(&format!("ws://{addr}/")),
        )
        .await
        .unwrap();
        let mut events = client.events();
        within("the close", futures::StreamExt::next(&mut events))
            .await
            .unwrap();
        let waited = within("the server script", server).await;
        assert!(
            waited >= Duration::from_millis(300),
            "ended after {waited:?}"
        );
    })
}
