//! The raw handshake (`WebSocketRequest::raw_head` and `accept_raw`): the
//! head as received, and every rule a raw response is checked against,
//! seen by a byte-exact client; a valid raw 101 with tungstenite, with
//! permessage-deflate against a byte-exact client and wsgate's own client.
//! (In Chromium: `browser/raw_handshake.rs`.)

use std::io::Read;
use std::time::Duration;

use futures::StreamExt;

use crate::common::{self, *};
use wsgate::handshake::RawResponseError;
use wsgate::{AcceptError, Config, Event, Message, RawOutcome};

/// A 101 with the three required headers (the accept left for wsgate to
/// fill in) and `extra` header lines.
fn switching(extra: &str) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{extra}\r\n"
    )
}

/// Reads everything until the server closes (bounded by the socket's read
/// timeout).
fn read_to_end(client: &mut RawClient) -> Vec<u8> {
    let mut all = Vec::new();
    let _ = client.stream.read_to_end(&mut all);
    all
}

#[test]
fn raw_head_is_the_request_byte_for_byte() {
    common::run(async move {
        let server = request_server(Config::default()).await;
        let addr = server.addr;
        // Odd but valid: lower-case names, extra spaces, a tab, repeated
        // headers, a header wsgate knows nothing of.
        let sent = format!(
            "GET /manual?x=1 HTTP/1.1\r\nhost: localhost\r\nupgrade:websocket\r\n\
             CONNECTION: keep-alive,  Upgrade\r\nSec-WebSocket-Key: {SAMPLE_KEY}\r\n\
             Sec-WebSocket-Version: 13\r\nX-Odd:\tvalue  \r\nCookie: a=1\r\nCookie: b=2\r\n\r\n"
        );
        let request_bytes = sent.clone();
        let client = blocking(move || {
            let mut client = RawClient::connect(addr);
            // The head and a first frame in one write: the frame is not part
            // of the head.
            let mut bytes = request_bytes.into_bytes();
            bytes.extend_from_slice(&frame(true, 0x1, b"early"));
            client.send(&bytes);
            let head = client.read_head();
            let frame = client.read_frame();
            client.send(&close_frame(1000, ""));
            (head, frame)
        });
        let request = server.next().await;
        assert_eq!(request.raw_head(), sent.as_bytes());
        let outcome = request
            .accept_raw(switching("X-Served-By: manual\r\n"))
            .await
            .expect("a valid 101");
        let RawOutcome::Accepted(conn) = outcome else {
            panic!("not accepted")
        };
        let mut events = conn.events();
        let Some(Event::Message(message)) = within("the early frame", events.next()).await else {
            panic!("no message")
        };
        assert_eq!(message, Message::Text("early".into()));
        conn.send_text("late").await.unwrap();
        let (head, frame) = client.await;
        assert_eq!(head.status, 101);
        assert_eq!(
            head.head,
            format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 X-Served-By: manual\r\nSec-WebSocket-Accept: {SAMPLE_ACCEPT}\r\n\r\n"
            )
        );
        assert_eq!(frame.payload, b"late");
    })
}

/// The client's request for `path` with `extra` header lines; the server
/// answers with `response`, which must be refused as `expected`: the
/// client gets a 500 that contains nothing of the response.
struct Invalid {
    extra: &'static str,
    response: Vec<u8>,
    expected: RawResponseError,
}

fn invalid(
    extra: &'static str,
    response: impl Into<Vec<u8>>,
    expected: RawResponseError,
) -> Invalid {
    Invalid {
        extra,
        response: response.into(),
        expected,
    }
}

#[test]
fn every_invalid_response_becomes_a_500_and_an_error() {
    use RawResponseError as E;
    let cases = vec![
        // Header injection through a value, every way a line can break.
        invalid(
            "",
            "HTTP/1.1 403 No\r\nX-Why: x\nSet-Cookie: evil=1\r\n\r\n",
            E::BareLf { offset: 25 },
        ),
        invalid(
            "",
            "HTTP/1.1 403 No\r\nX-Why: x\rSet-Cookie: evil=1\r\n\r\n",
            E::BareCr { offset: 25 },
        ),
        invalid(
            "",
            "HTTP/1.1 403 No\r\nX-Why: x\0Set-Cookie: evil=1\r\n\r\n",
            E::Nul { offset: 25 },
        ),
        invalid(
            "",
            "HTTP/1.1 403 No\r\nX-Why: x\r\n Set-Cookie: evil=1\r\n\r\n",
            E::ObsFold { line: 3 },
        ),
        invalid(
            "",
            "HTTP/1.1 403 No\r\nX-Why: x\x0bSet-Cookie: evil=1\r\n\r\n",
            E::ControlCharacter {
                line: 2,
                byte: 0x0b,
            },
        ),
        invalid(
            "",
            "HTTP/1.1 403 No\r\nX-Why : evil\r\n\r\n",
            E::InvalidHeaderLine { line: 2 },
        ),
        // A second response smuggled after the first, and a body.
        invalid(
            "",
            "HTTP/1.1 403 No\r\n\r\nHTTP/1.1 200 evil\r\n\r\n",
            E::TrailingBytes { offset: 19 },
        ),
        invalid(
            "",
            "HTTP/1.1 403 No\r\nContent-Length: 4\r\n\r\n",
            E::UnexpectedBody,
        ),
        invalid("", "HTTP/1.1 403 No evil", E::Incomplete),
        // Too large for the handshake limit (16 KiB by default).
        invalid(
            "",
            format!(
                "HTTP/1.1 403 No\r\nX-Evil: {}\r\n\r\n",
                "a".repeat(16 << 10)
            ),
            E::TooLarge {
                len: (16 << 10) + 29,
                max: 16 << 10,
            },
        ),
        // Statuses that neither accept nor reject.
        invalid(
            "",
            "HTTP/1.1 100 Continue evil\r\n\r\n",
            E::StatusNotAllowed(100),
        ),
        invalid("", "HTTP/1.1 200 OK evil\r\n\r\n", E::StatusNotAllowed(200)),
        invalid(
            "",
            "HTTP/1.1 204 No Content evil\r\n\r\n",
            E::StatusNotAllowed(204),
        ),
        invalid("", "HTTP/1.0 101 evil\r\n\r\n", E::InvalidStatusLine),
        // The 101's own headers.
        invalid(
            "",
            "HTTP/1.1 101 evil\r\nConnection: Upgrade\r\n\r\n",
            E::InvalidUpgrade(None),
        ),
        invalid(
            "",
            "HTTP/1.1 101 evil\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n\r\n",
            E::MissingConnectionUpgrade,
        ),
        invalid(
            "",
            switching("Sec-WebSocket-Accept: dGhpcyBpcyBub3QgdGhlIGtleQ==\r\n")
                .replace("Protocols", "evil"),
            E::AcceptMismatch,
        ),
        invalid(
            "",
            switching(&format!(
                "Sec-WebSocket-Accept: {SAMPLE_ACCEPT}\r\nSec-WebSocket-Accept: {SAMPLE_ACCEPT}\r\n"
            ))
            .replace("Protocols", "evil"),
            E::DuplicateHeader("Sec-WebSocket-Accept"),
        ),
        invalid(
            "Sec-WebSocket-Protocol: chat\r\n",
            switching("Sec-WebSocket-Protocol: evil\r\n"),
            E::ProtocolNotOffered("evil".into()),
        ),
        invalid(
            "Sec-WebSocket-Protocol: chat, evil\r\n",
            switching("Sec-WebSocket-Protocol: chat, evil\r\n"),
            E::MultipleProtocols,
        ),
        invalid(
            "",
            switching("Sec-WebSocket-Extensions: x-evil\r\n"),
            E::ExtensionNotOffered("x-evil".into()),
        ),
        invalid(
            "Sec-WebSocket-Extensions: x-evil\r\n",
            switching("Sec-WebSocket-Extensions: x-evil\r\n"),
            E::ExtensionNotSupported("x-evil".into()),
        ),
    ];
    #[cfg(feature = "deflate")]
    let cases = {
        use wsgate::handshake::DeflateNegotiationError as D;
        let mut cases = cases;
        cases.extend([
            invalid(
                "",
                switching("Sec-WebSocket-Extensions: permessage-deflate; x-evil\r\n"),
                E::ExtensionNotOffered("permessage-deflate".into()),
            ),
            invalid(
                "Sec-WebSocket-Extensions: permessage-deflate\r\n",
                switching("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=10; x-evil\r\n"),
                E::InvalidDeflate(D::Param(wsgate::handshake::DeflateParamError::Unknown(
                    "x-evil".into(),
                ))),
            ),
            invalid(
                "Sec-WebSocket-Extensions: permessage-deflate\r\n",
                switching("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=10\r\nX: evil\r\n"),
                E::InvalidDeflate(D::ClientWindowBitsNotOffered),
            ),
            invalid(
                "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10\r\n",
                switching("Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=12\r\nX: evil\r\n"),
                E::InvalidDeflate(D::ServerWindowTooLarge {
                    offered: 10,
                    answered: 12,
                }),
            ),
            invalid(
                "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n",
                switching("Sec-WebSocket-Extensions: permessage-deflate\r\nX: evil\r\n"),
                E::InvalidDeflate(D::MissingServerNoContextTakeover),
            ),
            invalid(
                "Sec-WebSocket-Extensions: permessage-deflate\r\n",
                switching("Sec-WebSocket-Extensions: permessage-deflate, permessage-deflate\r\nX: evil\r\n"),
                E::DuplicateExtension("permessage-deflate".into()),
            ),
        ]);
        cases
    };
    common::run(async move {
        let server = request_server(quiet_config()).await;
        let addr = server.addr;
        for case in cases {
            let extra = case.extra;
            let client = blocking(move || {
                let mut client = RawClient::connect(addr);
                client.send(upgrade_request("/", extra).as_bytes());
                read_to_end(&mut client)
            });
            let request = server.next().await;
            let shown = String::from_utf8_lossy(&case.response).into_owned();
            match request.accept_raw(case.response).await {
                Err(AcceptError::InvalidRawResponse(e)) => {
                    assert_eq!(e, case.expected, "{shown:?}")
                }
                other => panic!("{shown:?}: {other:?}"),
            }
            let answer = String::from_utf8(client.await).expect("an ASCII answer");
            assert!(
                answer.starts_with("HTTP/1.1 500 Internal Server Error\r\n"),
                "{shown:?}: {answer}"
            );
            assert!(!answer.contains("evil"), "{shown:?}: {answer}");
            assert!(!answer.contains("101"), "{shown:?}: {answer}");
        }
    })
}

#[test]
fn rejections_are_written_as_given_then_closed() {
    common::run(async move {
        let server = request_server(Config::default()).await;
        let addr = server.addr;
        for response in [
            "HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n",
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"x\"\r\n\r\n",
            "HTTP/1.1 503 \r\nRetry-After: 7\r\n\r\n",
        ] {
            let client = blocking(move || {
                let mut client = RawClient::connect(addr);
                client.send(upgrade_request("/", "").as_bytes());
                read_to_end(&mut client)
            });
            let request = server.next().await;
            let status: u16 = response[9..12].parse().unwrap();
            match request.accept_raw(response).await {
                Ok(RawOutcome::Rejected(s)) => assert_eq!(s, status),
                other => panic!("{response:?}: {other:?}"),
            }
            assert_eq!(client.await, response.as_bytes());
        }
    })
}

#[test]
fn the_decision_deadline_covers_a_raw_answer() {
    common::run(async move {
        let mut config = quiet_config();
        config.decision_timeout = Duration::from_millis(200);
        let server = request_server(config).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut client = RawClient::connect(addr);
            client.send(upgrade_request("/", "").as_bytes());
            client.read_response()
        });
        let request = server.next().await;
        // The application takes longer than the deadline to write its answer.
        let response = client.await;
        assert_eq!(response.status, 503);
        assert_eq!(response.body_text(), "no decision in time");
        let outcome = request.accept_raw(switching("")).await;
        assert!(
            matches!(outcome, Err(AcceptError::DecisionTimeout)),
            "{outcome:?}"
        );
    })
}

#[test]
fn a_raw_101_works_with_tungstenite() {
    common::run(async move {
        let server = request_server(Config::default()).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut request = ws_request(addr, "/");
            request
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", "Chat, other".parse().unwrap());
            let (mut ws, response) = ws_try_connect(addr, request, None).expect("handshake");
            let protocol = response.headers()["Sec-WebSocket-Protocol"]
                .to_str()
                .unwrap()
                .to_owned();
            let served = response.headers()["X-Served-By"]
                .to_str()
                .unwrap()
                .to_owned();
            ws.send(tungstenite::Message::text("hello")).unwrap();
            let echo = ws_read_data(&mut ws);
            ws.close(None).unwrap();
            ws_finish_close(&mut ws);
            (protocol, served, echo)
        });
        let request = server.next().await;
        let response = switching("Sec-WebSocket-Protocol: Chat\r\nX-Served-By: manual\r\n");
        let conn = request
            .accept_raw(response)
            .await
            .expect("a valid 101")
            .connection()
            .expect("accepted");
        assert_eq!(conn.protocol(), Some("Chat"));
        common::spawn(serve_echo(conn));
        let (protocol, served, echo) = client.await;
        assert_eq!(protocol, "Chat");
        assert_eq!(served, "manual");
        assert_eq!(echo, tungstenite::Message::text("hello"));
    })
}

#[cfg(feature = "deflate")]
mod deflate {
    use super::*;
    use wsgate::handshake::DeflateConfig;
    use wsgate::protocol::{Compressor, Decompressor};
    use wsgate::{Client, ExtensionOffer};

    const ANSWER: &str =
        "permessage-deflate; server_no_context_takeover; client_max_window_bits=10";

    /// A byte-exact client offers permessage-deflate; the application's
    /// raw 101 accepts it with its own parameters; messages are compressed
    /// both ways as those parameters say.
    #[test]
    fn a_raw_101_configures_permessage_deflate() {
        common::run(async move {
            let server = request_server(Config::default()).await;
            let addr = server.addr;
            let text = "compressible ".repeat(400);
            let sent = text.clone();
            let client = blocking(move || {
                let offer =
                    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";
                let (mut client, head) = RawClient::handshake_with(addr, offer);
                assert_eq!(head.header("Sec-WebSocket-Extensions"), Some(ANSWER));
                // Compressed as agreed: a 1 KiB window.
                let mut payload = Vec::new();
                Compressor::new(10, 6, false)
                    .unwrap()
                    .compress(sent.as_bytes(), &mut payload);
                client.send(&raw_frame(0x80 | 0x40 | 0x1, &payload));
                let echo = client.read_frame();
                client.send(&close_frame(1000, ""));
                client.read_until_close();
                echo
            });
            let request = server.next().await;
            let response = switching(&format!("Sec-WebSocket-Extensions: {ANSWER}\r\n"));
            let conn = request
                .accept_raw(response)
                .await
                .expect("a valid 101")
                .connection()
                .expect("accepted");
            assert_eq!(
                conn.extensions(),
                [ExtensionOffer {
                    name: "permessage-deflate".into(),
                    params: vec![
                        ("server_no_context_takeover".into(), None),
                        ("client_max_window_bits".into(), Some("10".into())),
                    ],
                }]
            );
            common::spawn(serve_echo(conn));
            let echo = client.await;
            assert_eq!(echo.rsv, 0x40, "the echo is compressed");
            assert!(echo.payload.len() < text.len() / 4);
            let mut rx = Decompressor::new(15, true).unwrap();
            let mut out = Vec::new();
            rx.decompress_chunk(&echo.payload, &mut out, 1 << 20)
                .unwrap();
            rx.finish_message(&mut out, 1 << 20).unwrap();
            assert_eq!(out, text.as_bytes());
        })
    }

    /// wsgate's own client checks the raw 101 as any server's answer, and
    /// the two compress to each other.
    #[test]
    fn a_raw_101_with_permessage_deflate_works_with_wsgates_client() {
        common::run(async move {
            let server = request_server(Config::default()).await;
            let addr = server.addr;
            let client = common::spawn(async move {
                let conn = Client::new()
                    .deflate(DeflateConfig::default())
                    .connect(&format!("ws://{addr}/"))
                    .await
                    .expect("connect");
                let text = "again and again ".repeat(500);
                conn.send_text(text.clone()).await.unwrap();
                let mut events = conn.events();
                let echo = loop {
                    match within("the echo", events.next()).await {
                        Some(Event::Message(message)) => break message,
                        Some(_) => {}
                        None => panic!("closed before the echo"),
                    }
                };
                assert_eq!(echo, Message::Text(text));
                (conn.extensions().to_vec(), conn.stats())
            });
            let request = server.next().await;
            assert!(
                request
                    .extensions()
                    .iter()
                    .any(|e| e.name == "permessage-deflate")
            );
            let response = switching("Sec-WebSocket-Extensions: permessage-deflate\r\n");
            let conn = request
                .accept_raw(response)
                .await
                .expect("a valid 101")
                .connection()
                .expect("accepted");
            common::spawn(serve_echo(conn.clone()));
            let (extensions, _) = within("the client", client).await;
            assert_eq!(extensions[0].name, "permessage-deflate");
            assert!(conn.stats().deflate_bytes_saved > 0, "{:?}", conn.stats());
        })
    }

    /// No room in the compression budget for what the response agreed to:
    /// 503, never a 101 the server cannot honour.
    #[test]
    fn no_budget_for_permessage_deflate_is_a_503() {
        common::run(async move {
            let mut config = quiet_config();
            config.deflate_memory_budget = 0;
            let server = request_server(config).await;
            let addr = server.addr;
            let client = blocking(move || {
                let mut client = RawClient::connect(addr);
                let offer = "Sec-WebSocket-Extensions: permessage-deflate\r\n";
                client.send(upgrade_request("/", offer).as_bytes());
                client.read_response()
            });
            let request = server.next().await;
            let response = switching("Sec-WebSocket-Extensions: permessage-deflate\r\n");
            let outcome = request.accept_raw(response).await;
            assert!(
                matches!(outcome, Err(AcceptError::DeflateBudgetFull)),
                "{outcome:?}"
            );
            assert_eq!(client.await.status, 503);
        })
    }
}
