//! The opening handshake: what the application sees of a request, how its
//! decision reaches the client, and how bad handshakes are answered.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::common::{self, *};
use http_types::StatusCode;
use tungstenite::http::HeaderValue;
use wsgate::{AcceptError, Config, Event, ExtensionOffer, IpNet, Message, Server};

fn hv(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).unwrap()
}

/// The client's half of "connect, echo one message, close" over tungstenite;
/// returns the client's local address and the 101's headers.
fn echo_once(
    mut ws: Ws,
    response: tungstenite::handshake::client::Response,
) -> (SocketAddr, tungstenite::http::HeaderMap) {
    let local = ws.get_ref().local_addr().unwrap();
    ws.send(tungstenite::Message::text("hi")).unwrap();
    assert_eq!(ws_read_data(&mut ws), tungstenite::Message::text("hi"));
    ws.close(None).unwrap();
    ws_finish_close(&mut ws);
    (local, response.headers().clone())
}

#[test]
fn accepted_handshake_exposes_every_request_property() {
    common::run(async move {
        let server = request_server(Config::default()).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut request = ws_request(addr, "/chat/room?nick=ann&x=a%20b");
            let h = request.headers_mut();
            h.insert("Origin", hv("https://example.com"));
            h.insert("Sec-WebSocket-Protocol", hv("Chat, SuperChat"));
            // Extensions the server does not know (tungstenite cannot do
            // permessage-deflate, so it must not offer it; the parsing of a
            // deflate offer is checked byte-exact below).
            h.insert(
                "Sec-WebSocket-Extensions",
                hv(r#"x-foo; a=1; b="q", x-bar"#),
            );
            h.append("Cookie", hv(r#"session=abc123; theme="dark""#));
            h.append("Cookie", hv("lang=en"));
            h.insert("X-Custom", hv("Value-1"));
            let (ws, response) = ws_try_connect(addr, request, None).expect("handshake");
            echo_once(ws, response)
        });

        let request = server.next().await;
        assert_eq!(request.host(), addr.to_string());
        assert_eq!(request.resource(), "/chat/room?nick=ann&x=a%20b");
        let url = request.resource_url();
        assert_eq!(url.scheme(), "ws");
        assert_eq!(url.path(), "/chat/room");
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(
            pairs,
            [
                ("nick".to_owned(), "ann".to_owned()),
                ("x".to_owned(), "a b".to_owned())
            ]
        );
        assert_eq!(request.origin(), Some("https://example.com"));
        assert_eq!(request.version(), 13);
        assert_eq!(request.protocols(), ["chat", "superchat"]);
        assert_eq!(
            request.extensions(),
            [
                ExtensionOffer {
                    name: "x-foo".into(),
                    params: vec![
                        ("a".into(), Some("1".into())),
                        ("b".into(), Some("q".into()))
                    ],
                },
                ExtensionOffer {
                    name: "x-bar".into(),
                    params: vec![],
                },
            ]
        );
        assert_eq!(request.local_addr(), addr);
        assert_eq!(request.remote_addr(), request.peer_addr());
        assert_eq!(request.header("x-custom"), Some("Value-1"));
        assert_eq!(request.header("X-CUSTOM"), Some("Value-1"));
        assert_eq!(
            request.header("Cookie"),
            Some(r#"session=abc123; theme="dark""#)
        );
        assert_eq!(request.header("absent"), None);
        let header_names: Vec<String> = request
            .headers()
            .iter()
            .map(|(n, _)| n.to_ascii_lowercase())
            .collect();
        for name in [
            "host",
            "connection",
            "upgrade",
            "sec-websocket-version",
            "sec-websocket-key",
            "origin",
            "sec-websocket-protocol",
            "sec-websocket-extensions",
            "x-custom",
        ] {
            assert!(header_names.iter().any(|n| n == name), "{name} missing");
        }
        assert_eq!(header_names.iter().filter(|n| *n == "cookie").count(), 2);
        assert_eq!(
            request.cookies(),
            [
                ("session".to_owned(), "abc123".to_owned()),
                ("theme".to_owned(), "dark".to_owned()),
                ("lang".to_owned(), "en".to_owned()),
            ]
        );
        assert!(request.is_connected());

        let id = request.id();
        let peer = request.peer_addr();
        let conn = within(
            "accept",
            request.accept(Some("chat"), Some("https://example.com")),
        )
        .await
        .expect("accept");
        assert_eq!(conn.id(), id);
        assert_eq!(conn.protocol(), Some("Chat"));
        assert_eq!(conn.host(), addr.to_string());
        assert_eq!(conn.resource(), "/chat/room?nick=ann&x=a%20b");
        assert_eq!(conn.origin(), Some("https://example.com"));
        assert_eq!(conn.header("X-Custom"), Some("Value-1"));
        assert_eq!(conn.remote_addr(), peer);
        assert_eq!(conn.local_addr(), addr);
        assert!(
            conn.extensions().is_empty(),
            "unknown extensions are declined"
        );
        let events = serve_echo(conn).await;
        assert!(matches!(&events[0], Event::Message(Message::Text(t)) if t == "hi"));

        let (client_local, headers) = within("client", client).await;
        assert_eq!(peer, client_local);
        // The subprotocol is echoed in the client's spelling.
        assert_eq!(headers.get("Sec-WebSocket-Protocol").unwrap(), "Chat");
        assert!(headers.get("Sec-WebSocket-Extensions").is_none());
    })
}

#[test]
fn extension_offers_are_parsed_with_their_parameters() {
    common::run(async move {
        let server = request_server(Config::default()).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut raw = RawClient::connect(addr);
            let extra = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, \
                     x-foo; a=1; b=\"q\"\r\nSec-WebSocket-Extensions: x-bar;c\r\n";
            raw.send(upgrade_request("/", extra).as_bytes());
            raw.read_response().status
        });
        let request = server.next().await;
        assert_eq!(
            request.extensions(),
            [
                ExtensionOffer {
                    name: "permessage-deflate".into(),
                    params: vec![("client_max_window_bits".into(), None)],
                },
                ExtensionOffer {
                    name: "x-foo".into(),
                    params: vec![
                        ("a".into(), Some("1".into())),
                        ("b".into(), Some("q".into()))
                    ],
                },
                ExtensionOffer {
                    name: "x-bar".into(),
                    params: vec![("c".into(), None)],
                },
            ]
        );
        request.reject(StatusCode::Forbidden, "parsed");
        assert_eq!(within("client", client).await, 403);

        // A malformed offer never reaches the application.
        let response = blocking(move || {
            let mut raw = RawClient::connect(addr);
            let extra = "Sec-WebSocket-Extensions: x-foo; a=\"unterminated\r\n";
            raw.send(upgrade_request("/", extra).as_bytes());
            raw.read_response().status
        });
        assert_eq!(within("client", response).await, 400);
        server.assert_no_request().await;
    })
}

#[test]
fn version_8_uses_sec_websocket_origin() {
    common::run(async move {
        let server = request_server(Config::default()).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut request = ws_request(addr, "/v8");
            let h = request.headers_mut();
            h.insert("Sec-WebSocket-Version", hv("8"));
            h.insert("Sec-WebSocket-Origin", hv("http://old.example"));
            h.insert("Origin", hv("http://ignored.example"));
            let (ws, response) = ws_try_connect(addr, request, None).expect("handshake");
            echo_once(ws, response)
        });
        let request = server.next().await;
        assert_eq!(request.version(), 8);
        assert_eq!(request.origin(), Some("http://old.example"));
        let conn = within("accept", request.accept(None, Some("http://OLD.example")))
            .await
            .expect("origin compared case-insensitively");
        assert_eq!(conn.origin(), Some("http://old.example"));
        serve_echo(conn).await;
        within("client", client).await;

        // Version 13 ignores Sec-WebSocket-Origin.
        let client = blocking(move || {
            let mut request = ws_request(addr, "/v13");
            request
                .headers_mut()
                .insert("Sec-WebSocket-Origin", hv("http://old.example"));
            let (ws, response) = ws_try_connect(addr, request, None).expect("handshake");
            echo_once(ws, response)
        });
        let request = server.next().await;
        assert_eq!(request.version(), 13);
        assert_eq!(request.origin(), None);
        // No Origin at all: any allowed origin passes (non-browser client).
        let conn = within("accept", request.accept(None, Some("https://example.com")))
            .await
            .expect("a request without Origin passes the origin check");
        serve_echo(conn).await;
        within("client", client).await;
    })
}

/// Connects with `X-Forwarded-For` and `Forwarded` headers and returns what
/// the application saw: (remote_addr, peer_addr, the connection's
/// remote_addr, the client's own address).
async fn forwarded(config: Config, header: &'static str, value: &'static str) -> [SocketAddr; 4] {
    let server = request_server(config).await;
    let addr = server.addr;
    let client = blocking(move || {
        let mut request = ws_request(addr, "/");
        request.headers_mut().insert(header, hv(value));
        let (ws, response) = ws_try_connect(addr, request, None).expect("handshake");
        echo_once(ws, response).0
    });
    let request = server.next().await;
    let (remote, peer) = (request.remote_addr(), request.peer_addr());
    let conn = within("accept", request.accept(None, None)).await.unwrap();
    let conn_remote = conn.remote_addr();
    serve_echo(conn).await;
    let client_addr = within("client", client).await;
    [remote, peer, conn_remote, client_addr]
}

#[test]
fn forwarded_for_is_honoured_only_from_trusted_proxies() {
    common::run(async move {
        let xff = "203.0.113.7, 10.0.0.1";

        // Default: nobody is trusted.
        let [remote, peer, conn_remote, client] =
            forwarded(Config::default(), "X-Forwarded-For", xff).await;
        assert_eq!(peer, client);
        assert_eq!(remote, client);
        assert_eq!(conn_remote, client);

        // The peer (127.0.0.1) is trusted, 10.0.0.1 is not: walking from the
        // right, 10.0.0.1 is the client (it may have forged the first hop).
        let mut trusted = Config::default();
        trusted.trusted_proxies = vec!["127.0.0.1/32".parse::<IpNet>().unwrap()];
        let [remote, peer, conn_remote, client] =
            forwarded(trusted.clone(), "X-Forwarded-For", xff).await;
        assert_eq!(peer, client);
        assert_eq!(remote, "10.0.0.1:0".parse().unwrap());
        assert_eq!(conn_remote, remote);

        // With the inner proxy trusted too, the first hop is the client.
        let mut both = trusted.clone();
        both.trusted_proxies
            .push("10.0.0.0/8".parse::<IpNet>().unwrap());
        let [remote, ..] = forwarded(both, "X-Forwarded-For", xff).await;
        assert_eq!(remote, "203.0.113.7:0".parse().unwrap());

        // RFC 7239 Forwarded, with a port.
        let [remote, ..] = forwarded(trusted, "Forwarded", r#"for="[2001:db8::1]:4711""#).await;
        assert_eq!(remote, "[2001:db8::1]:4711".parse().unwrap());

        // A trusted range that does not contain the peer.
        let mut other = Config::default();
        other.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()];
        let [remote, peer, _, client] = forwarded(other, "X-Forwarded-For", xff).await;
        assert_eq!(peer, client);
        assert_eq!(remote, client);
    })
}

#[test]
fn rejection_status_reason_headers_and_body_reach_the_client() {
    common::run(async move {
        let server = request_server(Config::default()).await;
        let addr = server.addr;
        let client = blocking(move || ws_expect_rejection(addr, ws_request(addr, "/private")));
        let mut request = server.next().await;
        request.add_response_header("WWW-Authenticate", r#"Basic realm="ws""#);
        request.reject(StatusCode::Unauthorized, "members only");
        let (status, headers, body) = within("client", client).await;
        assert_eq!(status, 401);
        assert_eq!(
            headers.get("X-WebSocket-Reject-Reason").unwrap(),
            "members only"
        );
        assert_eq!(
            headers.get("WWW-Authenticate").unwrap(),
            r#"Basic realm="ws""#
        );
        assert_eq!(body, "members only");

        // A status that does not reject is sent as 500.
        let client = blocking(move || ws_expect_rejection(addr, ws_request(addr, "/")));
        server
            .next()
            .await
            .reject(StatusCode::Ok, "not a rejection");
        let (status, headers, body) = within("client", client).await;
        assert_eq!(status, 500);
        assert_eq!(
            headers.get("X-WebSocket-Reject-Reason").unwrap(),
            "not a rejection"
        );
        assert_eq!(body, "not a rejection");
    })
}

#[test]
fn response_headers_are_added_to_the_101() {
    common::run(async move {
        let server = request_server(Config::default()).await;
        let addr = server.addr;
        let client = blocking(move || {
            let (ws, response) =
                ws_try_connect(addr, ws_request(addr, "/"), None).expect("handshake");
            echo_once(ws, response).1
        });
        let mut request = server.next().await;
        request.add_response_header("Set-Cookie", "session=xyz; HttpOnly");
        let conn = within("accept", request.accept(None, None)).await.unwrap();
        serve_echo(conn).await;
        let headers = within("client", client).await;
        assert_eq!(headers.get("Set-Cookie").unwrap(), "session=xyz; HttpOnly");

        // Byte-exact: header values cannot inject headers, and headers the
        // handshake sets itself cannot be overridden.
        let client = blocking(move || {
            let mut raw = RawClient::connect(addr);
            raw.send(upgrade_request("/", "").as_bytes());
            raw.read_head()
        });
        let mut request = server.next().await;
        request.add_response_header("X-Note", "a\r\nX-Injected: 1");
        request.add_response_header("Sec-WebSocket-Accept", "bogus");
        request.add_response_header("Upgrade", "h2c");
        let _conn = within("accept", request.accept(None, None)).await.unwrap();
        let head = within("client", client).await;
        assert_eq!(head.status, 101);
        assert_eq!(head.header_count("X-Injected"), 0, "{}", head.head);
        assert!(head.header("X-Note").unwrap().starts_with('a'));
        assert_eq!(head.header_count("Sec-WebSocket-Accept"), 1);
        assert_eq!(head.header("Sec-WebSocket-Accept"), Some(SAMPLE_ACCEPT));
        assert_eq!(head.header_count("Upgrade"), 1);
        assert_eq!(head.header("Upgrade"), Some("websocket"));
    })
}

#[test]
fn accepting_a_protocol_not_offered_fails_with_500() {
    common::run(async move {
        let server = request_server(Config::default()).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut request = ws_request(addr, "/");
            request
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", hv("chat"));
            ws_expect_rejection(addr, request)
        });
        let request = server.next().await;
        match within("accept", request.accept(Some("superchat"), None)).await {
            Err(AcceptError::ProtocolNotOffered(p)) => assert_eq!(p, "superchat"),
            other => panic!("expected ProtocolNotOffered, got {other:?}"),
        }
        let (status, headers, _) = within("client", client).await;
        assert_eq!(status, 500);
        assert!(headers.contains_key("X-WebSocket-Reject-Reason"));
    })
}

#[test]
fn origin_mismatch_is_rejected_with_403() {
    common::run(async move {
        let server = request_server(Config::default()).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut request = ws_request(addr, "/");
            request
                .headers_mut()
                .insert("Origin", hv("https://evil.example"));
            ws_expect_rejection(addr, request)
        });
        let request = server.next().await;
        match within("accept", request.accept(None, Some("https://good.example"))).await {
            Err(AcceptError::OriginMismatch { allowed, actual }) => {
                assert_eq!(allowed, "https://good.example");
                assert_eq!(actual, "https://evil.example");
            }
            other => panic!("expected OriginMismatch, got {other:?}"),
        }
        let (status, headers, _) = within("client", client).await;
        assert_eq!(status, 403);
        assert!(headers.contains_key("X-WebSocket-Reject-Reason"));
    })
}

#[test]
fn request_dropped_undecided_gets_503() {
    common::run(async move {
        let server = request_server(Config::default()).await;
        let addr = server.addr;
        let client = blocking(move || ws_expect_rejection(addr, ws_request(addr, "/")));
        drop(server.next().await);
        let (status, headers, _) = within("client", client).await;
        assert_eq!(status, 503);
        assert!(headers.contains_key("X-WebSocket-Reject-Reason"));
    })
}

#[test]
fn decision_deadline_rejects_with_503_and_accept_then_fails() {
    common::run(async move {
        let mut config = Config::default();
        config.decision_timeout = Duration::from_millis(300);
        let server = request_server(config).await;
        let addr = server.addr;
        let start = Instant::now();
        let client = blocking(move || ws_expect_rejection(addr, ws_request(addr, "/")));
        let request = server.next().await;
        let (status, _, _) = within("client", client).await;
        assert_eq!(status, 503);
        assert!(start.elapsed() >= Duration::from_millis(250));
        match within("accept", request.accept(None, None)).await {
            Err(AcceptError::DecisionTimeout) => {}
            other => panic!("expected DecisionTimeout, got {other:?}"),
        }
    })
}

/// Regression (fixed in aea5ec2): after the decision deadline the request
/// is dead, whatever the client does next, so `disconnected()` (documented to
/// resolve when "the client disconnects (or the request expires)") resolves
/// and `is_connected()` turns false. Before, neither happened after expiry.
#[test]
fn expired_request_reports_disconnected() {
    common::run(async move {
        let mut config = Config::default();
        config.decision_timeout = Duration::from_millis(200);
        let server = request_server(config).await;
        let addr = server.addr;
        let (done, done_rx) = std::sync::mpsc::channel::<()>();
        let client = blocking(move || {
            let mut raw = RawClient::connect(addr);
            raw.send(upgrade_request("/", "").as_bytes());
            let response = raw.read_response();
            // Keep the socket open after the 503, until the test has looked.
            let _ = done_rx.recv_timeout(TIMEOUT);
            response.status
        });
        let request = server.next().await;
        within("the request to expire", request.disconnected()).await;
        assert!(!request.is_connected());
        done.send(()).unwrap();
        assert_eq!(within("client", client).await, 503);
    })
}

/// Regression (fixed in aea5ec2): `accept` after the deadline returns
/// `DecisionTimeout` at once. Before, it blocked until the client closed its
/// socket (or `handshake_timeout` ran out), because the pending task kept the
/// decision channel alive while it lingered over the 503.
#[test]
fn accept_after_deadline_returns_promptly() {
    common::run(async move {
        let mut config = Config::default();
        config.decision_timeout = Duration::from_millis(200);
        let server = request_server(config).await;
        let addr = server.addr;
        let (answered, answered_rx) = futures::channel::oneshot::channel::<u16>();
        let (done, done_rx) = std::sync::mpsc::channel::<()>();
        let client = blocking(move || {
            let mut raw = RawClient::connect(addr);
            raw.send(upgrade_request("/", "").as_bytes());
            let response = raw.read_response();
            let _ = answered.send(response.status);
            // The socket stays open (as a lingering client's would) until
            // the test is done.
            let _ = done_rx.recv_timeout(TIMEOUT);
        });
        let request = server.next().await;
        // The deadline has passed once the client has its 503.
        assert_eq!(within("the 503", answered_rx).await, Ok(503));
        let start = Instant::now();
        let result = within("accept", request.accept(None, None)).await;
        assert!(
            matches!(result, Err(AcceptError::DecisionTimeout)),
            "{result:?}"
        );
        assert!(
            start.elapsed() < Duration::from_millis(500),
            "accept took {:?}",
            start.elapsed()
        );
        done.send(()).unwrap();
        within("client", client).await;
    })
}

#[test]
fn client_disconnecting_while_waiting_is_noticed() {
    common::run(async move {
        let server = request_server(Config::default()).await;
        let addr = server.addr;
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let client = blocking(move || {
            let mut raw = RawClient::connect(addr);
            raw.send(upgrade_request("/", "").as_bytes());
            go_rx.recv_timeout(TIMEOUT).expect("go");
            drop(raw);
        });
        let request = server.next().await;
        assert!(request.is_connected());
        go_tx.send(()).unwrap();
        within("client", client).await;
        within("disconnected()", request.disconnected()).await;
        assert!(!request.is_connected());
        match within("accept", request.accept(None, None)).await {
            Err(AcceptError::Disconnected) => {}
            other => panic!("expected Disconnected, got {other:?}"),
        }
    })
}

#[test]
fn bytes_pipelined_after_the_handshake_are_kept() {
    common::run(async move {
        // Accepted at once.
        let server = echo_server(Config::default()).await;
        let addr = server.addr;
        let echoed = blocking(move || {
            let mut raw = RawClient::connect(addr);
            let mut bytes = upgrade_request("/", "").into_bytes();
            bytes.extend(frame(true, 0x1, b"early"));
            raw.send(&bytes);
            assert_eq!(raw.read_head().status, 101);
            raw.read_frame()
        });
        let echoed = within("client", echoed).await;
        assert_eq!(
            (echoed.opcode, echoed.payload.as_slice()),
            (0x1, &b"early"[..])
        );

        // Accepted only after more bytes arrived while the request waited.
        let server = request_server(Config::default()).await;
        let addr = server.addr;
        let (more, more_rx) = std::sync::mpsc::channel::<()>();
        let client = blocking(move || {
            let mut raw = RawClient::connect(addr);
            let mut bytes = upgrade_request("/", "").into_bytes();
            bytes.extend(frame(true, 0x1, b"one"));
            bytes.extend(frame(false, 0x2, b"tw"));
            raw.send(&bytes);
            more_rx.recv_timeout(TIMEOUT).expect("go on");
            raw.send(&frame(true, 0x0, b"o"));
            assert_eq!(raw.read_head().status, 101);
            [raw.read_frame(), raw.read_frame()]
        });
        let request = server.next().await;
        more.send(()).unwrap();
        // The last byte arrives while the request waits: nothing announces
        // that the pending task has read it, so a short sleep (too short,
        // and the connection reads it instead, which passes too).
        common::sleep(Duration::from_millis(50)).await;
        let conn = within("accept", request.accept(None, None)).await.unwrap();
        let echo = common::spawn(serve_echo(conn));
        let [one, two] = within("client", client).await;
        assert_eq!((one.opcode, one.payload.as_slice()), (0x1, &b"one"[..]));
        assert_eq!((two.opcode, two.payload.as_slice()), (0x2, &b"two"[..]));
        drop(echo);
    })
}

#[test]
fn firefox_style_connection_header_is_accepted() {
    common::run(async move {
        let server = request_server(Config::default()).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut raw = RawClient::connect(addr);
            let request = format!(
                "GET /socket HTTP/1.1\r\nHost: localhost:9001\r\n\
             Sec-WebSocket-Version: 13\r\nOrigin: http://localhost:9001\r\n\
             Sec-WebSocket-Key: {SAMPLE_KEY}\r\nConnection: keep-alive, Upgrade\r\n\
             Upgrade: websocket\r\n\r\n"
            );
            raw.send(request.as_bytes());
            let head = raw.read_head();
            raw.send(&frame(true, 0x1, b"ff"));
            (head, raw.read_frame())
        });
        let request = server.next().await;
        assert_eq!(request.host(), "localhost:9001");
        assert_eq!(request.resource(), "/socket");
        let conn = within("accept", request.accept(None, None)).await.unwrap();
        let echo = common::spawn(serve_echo(conn));
        let (head, echoed) = within("client", client).await;
        assert_eq!(head.status, 101);
        assert_eq!(head.header("Sec-WebSocket-Accept"), Some(SAMPLE_ACCEPT));
        assert!(
            head.header("Upgrade")
                .unwrap()
                .eq_ignore_ascii_case("websocket")
        );
        assert_eq!(echoed.payload, b"ff");
        drop(echo);
    })
}

/// Sends `request` raw and checks the status; the request must never reach
/// the application.
async fn bad_handshake(request: Vec<u8>, status: u16) -> HttpResponse {
    let server = request_server(Config::default()).await;
    let addr = server.addr;
    let response = within(
        "the response",
        blocking(move || raw_exchange(addr, &request)),
    )
    .await;
    assert_eq!(response.status, status, "{}", response.head);
    server.assert_no_request().await;
    response
}

fn without_line(request: &str, name: &str) -> Vec<u8> {
    request
        .split("\r\n")
        .filter(|l| !l.starts_with(name))
        .collect::<Vec<_>>()
        .join("\r\n")
        .into_bytes()
}

#[test]
fn post_upgrade_gets_405() {
    common::run(async move {
        let request = upgrade_request("/", "").replacen("GET", "POST", 1);
        let response = bad_handshake(request.into_bytes(), 405).await;
        assert_eq!(response.header("Allow"), Some("GET"));
    })
}

#[test]
fn missing_key_gets_400() {
    common::run(async move {
        let request = without_line(&upgrade_request("/", ""), "Sec-WebSocket-Key");
        bad_handshake(request, 400).await;
    })
}

#[test]
fn key_not_16_bytes_gets_400() {
    common::run(async move {
        // Base64 of 15 bytes, then of 17 bytes.
        for key in ["AAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAAAA="] {
            let request = upgrade_request("/", "").replace(SAMPLE_KEY, key);
            bad_handshake(request.into_bytes(), 400).await;
        }
    })
}

#[test]
fn unsupported_version_gets_426_with_supported_versions() {
    common::run(async move {
        let request = upgrade_request("/", "")
            .replace("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 12");
        let response = bad_handshake(request.into_bytes(), 426).await;
        assert_eq!(response.header("Sec-WebSocket-Version"), Some("13, 8"));
        assert!(
            response
                .header("Upgrade")
                .unwrap()
                .eq_ignore_ascii_case("websocket")
        );
        assert!(
            response
                .header("Connection")
                .unwrap()
                .to_ascii_lowercase()
                .contains("upgrade"),
            "{}",
            response.head
        );
    })
}

#[test]
fn missing_version_gets_400_with_supported_versions() {
    common::run(async move {
        let request = without_line(&upgrade_request("/", ""), "Sec-WebSocket-Version");
        let response = bad_handshake(request, 400).await;
        assert_eq!(response.header("Sec-WebSocket-Version"), Some("13, 8"));
    })
}

#[test]
fn other_invalid_upgrades_get_400() {
    common::run(async move {
        let base = upgrade_request("/", "");
        let cases = [
            // No Upgrade token in Connection.
            base.replace("Connection: Upgrade", "Connection: keep-alive"),
            // Duplicate key, duplicate Host.
            upgrade_request("/", &format!("Sec-WebSocket-Key: {SAMPLE_KEY}\r\n")),
            upgrade_request("/", "Host: other\r\n"),
            // A target with a fragment, and one that is not a path.
            upgrade_request("/chat#frag", ""),
            upgrade_request("chat", ""),
            // A malformed protocol list.
            upgrade_request("/", "Sec-WebSocket-Protocol: chat, , \"x\"\r\n"),
        ];
        for request in cases {
            bad_handshake(request.into_bytes(), 400).await;
        }
    })
}

#[test]
fn header_names_and_tokens_are_case_insensitive_and_absolute_targets_work() {
    common::run(async move {
        let server = request_server(Config::default()).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut raw = RawClient::connect(addr);
            let request = format!(
                "GET ws://example.com/chat?x=1 HTTP/1.1\r\nhost: example.com\r\n\
             upgrade: WebSocket\r\nconnection: UPGRADE\r\nsec-websocket-key: {SAMPLE_KEY}\r\n\
             sec-websocket-version: 13\r\n\r\n"
            );
            raw.send(request.as_bytes());
            raw.read_head()
        });
        let request = server.next().await;
        assert_eq!(request.resource(), "/chat?x=1");
        assert_eq!(request.host(), "example.com");
        let _conn = within("accept", request.accept(None, None)).await.unwrap();
        let head = within("client", client).await;
        assert_eq!(head.status, 101);
        assert_eq!(head.header("Sec-WebSocket-Accept"), Some(SAMPLE_ACCEPT));
    })
}

#[test]
fn trickling_bytes_do_not_extend_the_handshake_deadline() {
    common::run(async move {
        let mut config = Config::default();
        config.handshake_timeout = Duration::from_millis(500);
        let server = request_server(config).await;
        let addr = server.addr;
        let (status, elapsed) = within(
            "the response",
            blocking(move || {
                let mut raw = RawClient::connect(addr);
                let start = Instant::now();
                for b in upgrade_request("/", "").bytes().take(40) {
                    if raw.try_send(&[b]).is_err() {
                        break;
                    }
                    // The behaviour under test: a byte every 50 ms.
                    std::thread::sleep(Duration::from_millis(50));
                    if start.elapsed() > Duration::from_millis(900) {
                        break;
                    }
                }
                (raw.read_response().status, start.elapsed())
            }),
        )
        .await;
        assert_eq!(status, 408);
        assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
        server.assert_no_request().await;
    })
}

#[test]
fn http_1_0_gets_400() {
    common::run(async move {
        let request = upgrade_request("/", "").replace("HTTP/1.1", "HTTP/1.0");
        bad_handshake(request.into_bytes(), 400).await;
    })
}

#[test]
fn missing_host_gets_400() {
    common::run(async move {
        let request = without_line(&upgrade_request("/", ""), "Host");
        bad_handshake(request, 400).await;
    })
}

#[test]
fn garbage_instead_of_http_gets_400() {
    common::run(async move {
        bad_handshake(b"\x16\x03\x01 hello there\r\n\r\n".to_vec(), 400).await;
    })
}

#[test]
fn oversized_head_gets_431() {
    common::run(async move {
        let filler = format!("X-Filler: {}\r\n", "a".repeat(20 << 10));
        let request = upgrade_request("/", &filler);
        bad_handshake(request.into_bytes(), 431).await;
    })
}

#[test]
fn too_many_headers_get_431() {
    common::run(async move {
        let extra: String = (0..100).map(|i| format!("X-H{i}: {i}\r\n")).collect();
        let request = upgrade_request("/", &extra);
        bad_handshake(request.into_bytes(), 431).await;
    })
}

#[test]
fn slow_handshake_gets_408() {
    common::run(async move {
        let mut config = Config::default();
        config.handshake_timeout = Duration::from_millis(300);
        let server = request_server(config).await;
        let addr = server.addr;
        let (response, elapsed) = within(
            "the response",
            blocking(move || {
                let mut raw = RawClient::connect(addr);
                let request = upgrade_request("/", "");
                let start = Instant::now();
                raw.send(&request.as_bytes()[..request.len() / 2]);
                let response = raw.read_response();
                (response, start.elapsed())
            }),
        )
        .await;
        assert_eq!(response.status, 408, "{}", response.head);
        assert!(elapsed >= Duration::from_millis(250), "{elapsed:?}");
        server.assert_no_request().await;
    })
}

#[test]
fn plain_http_goes_to_the_handler() {
    common::run(async move {
        let builder = Server::builder().http_handler(|request| async move {
            let mut response = http_types::Response::new(StatusCode::Ok);
            response.set_body(format!("hello from {}", request.url().path()));
            response
        });
        let server = request_server_with(builder).await;
        let addr = server.addr;
        let response = within(
            "the response",
            blocking(move || {
                let mut raw = RawClient::connect(addr);
                raw.send(b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n");
                raw.read_response()
            }),
        )
        .await;
        assert_eq!(response.status, 200, "{}", response.head);
        assert_eq!(response.body_text(), "hello from /hello");
        server.assert_no_request().await;
    })
}

#[test]
fn plain_http_without_handler_gets_426() {
    common::run(async move {
        let response =
            bad_handshake(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec(), 426).await;
        assert!(
            response
                .header("Upgrade")
                .unwrap()
                .eq_ignore_ascii_case("websocket")
        );
        assert!(response.header("X-WebSocket-Reject-Reason").is_some());
    })
}

/// Regression (fixed in aea5ec2): RFC 9110 §7.8 (RFC 7230 §6.7), a sender
/// of `Upgrade` MUST also send the `upgrade` option in `Connection`. The
/// plain-HTTP 426 used to splice `Upgrade` in after `error_response` had
/// chosen `Connection: close`.
#[test]
fn plain_http_426_lists_upgrade_in_connection() {
    common::run(async move {
        let response =
            bad_handshake(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec(), 426).await;
        assert!(
            response
                .header("Connection")
                .unwrap()
                .to_ascii_lowercase()
                .contains("upgrade"),
            "{}",
            response.head
        );
    })
}

/// Regression (fixed in aea5ec2): every final HTTP response says
/// `Connection: close` and must be followed by a FIN. The shutdown used to be
/// `AsyncWriteExt::close`, which for async-std's `TcpStream` (async-io
/// `Async::poll_close`) only flushes, so the socket stayed open until the
/// client closed it or `handshake_timeout` (10 s) ran out.
#[test]
fn final_responses_end_the_connection_promptly() {
    common::run(async move {
        let builder = Server::builder().http_handler(|_| async {
            let mut response = http_types::Response::new(StatusCode::Ok);
            response.set_body("page");
            response
        });
        let with_handler = request_server_with(builder).await;
        let plain = request_server(Config::default()).await;
        let cases = [
            (
                plain.addr,
                upgrade_request("/", "")
                    .replace("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 12"),
                426,
            ),
            (
                plain.addr,
                "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_owned(),
                426,
            ),
            (
                with_handler.addr,
                "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_owned(),
                200,
            ),
        ];
        for (addr, request, status) in cases {
            let elapsed = within(
                "the response",
                blocking(move || {
                    let mut raw = RawClient::connect_with_timeout(addr, Duration::from_secs(2));
                    raw.send(request.as_bytes());
                    assert_eq!(raw.read_response().status, status);
                    raw.time_to_eof()
                }),
            )
            .await;
            assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
        }

        // A rejection by the application, likewise.
        let addr = plain.addr;
        let client = blocking(move || {
            let mut raw = RawClient::connect_with_timeout(addr, Duration::from_secs(2));
            raw.send(upgrade_request("/", "").as_bytes());
            assert_eq!(raw.read_response().status, 404);
            raw.time_to_eof()
        });
        plain.next().await.reject(StatusCode::NotFound, "no");
        let elapsed = within("client", client).await;
        assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    })
}

#[test]
fn large_pipelined_data_while_pending_is_not_lost() {
    common::run(async move {
        // More than the pending task buffers (64 KiB): the rest waits in the
        // socket until the connection reads it.
        let server = request_server(Config::default()).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut raw = RawClient::connect(addr);
            let mut bytes = upgrade_request("/", "").into_bytes();
            for i in 0..50u8 {
                bytes.extend(frame(true, 0x2, &[i; 4000]));
            }
            raw.send(&bytes);
            assert_eq!(raw.read_head().status, 101);
            (0..50).map(|_| raw.read_frame()).collect::<Vec<_>>()
        });
        let request = server.next().await;
        // Lets the pending task buffer what it takes (64 KiB) while the
        // request waits; nothing announces that, so a short sleep.
        common::sleep(Duration::from_millis(50)).await;
        let conn = within("accept", request.accept(None, None)).await.unwrap();
        let echo = common::spawn(serve_echo(conn));
        let frames = within("client", client).await;
        for (i, f) in frames.iter().enumerate() {
            assert_eq!(f.opcode, 0x2);
            assert_eq!(f.payload, vec![i as u8; 4000], "frame {i}");
        }
        drop(echo);
    })
}

#[test]
fn http_handler_gets_the_request_body() {
    common::run(async move {
        let mut config = Config::default();
        config.max_http_body_size = 1000;
        let builder = Server::builder().config(config).http_handler(
            |mut request: http_types::Request| async move {
                let body = request.body_string().await.unwrap_or_default();
                let mut response = http_types::Response::new(StatusCode::Created);
                response.insert_header("X-Method", request.method().to_string());
                response.set_body(format!("got {} bytes: {body}", body.len()));
                response
            },
        );
        let server = request_server_with(builder).await;
        let addr = server.addr;
        let response = within(
            "the response",
            blocking(move || {
                let mut raw = RawClient::connect(addr);
                raw.send(
                b"POST /form?x=1 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 11\r\n\r\nhello",
            );
                // The behaviour under test: a body that arrives in two parts.
                std::thread::sleep(Duration::from_millis(20));
                raw.send(b" world");
                raw.read_response()
            }),
        )
        .await;
        assert_eq!(response.status, 201, "{}", response.head);
        assert_eq!(response.header("X-Method"), Some("POST"));
        assert_eq!(response.body_text(), "got 11 bytes: hello world");

        let response = within(
            "the response",
            blocking(move || {
                let mut raw = RawClient::connect(addr);
                raw.send(b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1001\r\n\r\n");
                raw.read_response()
            }),
        )
        .await;
        assert_eq!(response.status, 413, "{}", response.head);
        server.assert_no_request().await;
    })
}

#[test]
fn dropping_the_server_stops_accepting_but_keeps_connections() {
    common::run(async move {
        let mut server = Server::builder().bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr();
        let client = blocking(move || ws_connect(addr, "/"));
        let request = within("a request", futures::StreamExt::next(&mut server))
            .await
            .unwrap();
        let conn = within("accept", request.accept(None, None)).await.unwrap();
        let mut ws = within("client", client).await;
        drop(server);
        let refused = blocking(move || listener_gone(addr));
        assert!(within("connect", refused).await, "still accepting");
        let echo = common::spawn(serve_echo(conn));
        let client = blocking(move || {
            ws.send(tungstenite::Message::text("still here")).unwrap();
            assert_eq!(
                ws_read_data(&mut ws),
                tungstenite::Message::text("still here")
            );
            ws.close(None).unwrap();
            ws_finish_close(&mut ws);
        });
        within("client", client).await;
        within("echo", echo).await;
    })
}

#[test]
fn wsgate_client_sees_rejections_and_the_chosen_protocol() {
    common::run(async move {
        // Our own client, next to tungstenite: the rejection reason reaches it.
        let server = request_server(Config::default()).await;
        let url = format!("ws://{}/room?x=1", server.addr);
        let connecting = common::spawn({
            let url = url.clone();
            async move {
                wsgate::Client::new()
                    .origin("https://example.com")
                    .connect(&url)
                    .await
            }
        });
        server
            .next()
            .await
            .reject(StatusCode::Forbidden, "members only");
        match within("connect", connecting).await {
            Err(wsgate::Error::Handshake(wsgate::HandshakeError::Rejected {
                status,
                reason,
                ..
            })) => {
                assert_eq!(status, 403);
                assert_eq!(reason.as_deref(), Some("members only"));
            }
            other => panic!("expected a rejection, got {other:?}"),
        }

        let connecting = common::spawn({
            let url = url.clone();
            async move {
                wsgate::Client::new()
                    .protocol("v2.Chat")
                    .protocol("chat")
                    .header("Cookie", "a=1")
                    .connect(&url)
                    .await
            }
        });
        let request = server.next().await;
        assert_eq!(request.protocols(), ["v2.chat", "chat"]);
        assert_eq!(request.cookies(), [("a".to_owned(), "1".to_owned())]);
        assert_eq!(request.resource(), "/room?x=1");
        let conn = within("accept", request.accept(Some("V2.CHAT"), None))
            .await
            .unwrap();
        let echo = common::spawn(serve_echo(conn));
        let client = within("connect", connecting).await.expect("connected");
        assert_eq!(client.protocol(), Some("v2.Chat"));
        let mut events = client.events();
        client.send_text("via wsgate").await.unwrap();
        match within("echo", futures::StreamExt::next(&mut events)).await {
            Some(Event::Message(Message::Text(t))) => assert_eq!(t, "via wsgate"),
            other => panic!("{other:?}"),
        }
        client.close(wsgate::CloseCode::NORMAL, "").unwrap();
        match within("close", futures::StreamExt::next(&mut events)).await {
            Some(Event::Close(c)) => assert!(c.clean),
            other => panic!("{other:?}"),
        }
        let server_events = within("echo", echo).await;
        assert!(matches!(server_events.last(), Some(Event::Close(c)) if c.clean));
    })
}

#[test]
fn non_ascii_reject_reasons_are_percent_encoded_in_the_header() {
    common::run(async move {
        let server = request_server(Config::default()).await;
        let addr = server.addr;
        let client = blocking(move || ws_expect_rejection(addr, ws_request(addr, "/")));
        server
            .next()
            .await
            .reject(StatusCode::Forbidden, "café 100%\r\nX-Evil: 1");
        let (status, headers, body) = within("client", client).await;
        assert_eq!(status, 403);
        assert_eq!(
            headers.get("X-WebSocket-Reject-Reason").unwrap(),
            "caf%C3%A9 100%25%0D%0AX-Evil: 1"
        );
        assert!(headers.get("X-Evil").is_none());
        assert_eq!(body, "café 100%\r\nX-Evil: 1");
    })
}

#[test]
fn same_origin_compares_scheme_host_and_port() {
    common::run(async move {
        let server = request_server(Config::default()).await;
        let addr = server.addr;
        let port = addr.port();
        let cases: Vec<(Option<String>, bool)> = vec![
            (Some(format!("http://{addr}")), true),
            (Some(format!("HTTP://127.0.0.1:{port}")), true),
            (Some(format!("https://{addr}")), false),
            (Some(format!("http://127.0.0.2:{port}")), false),
            (Some("http://127.0.0.1".to_owned()), false),
            (Some("null".to_owned()), false),
            (None, false),
        ];
        for (origin, same) in cases {
            let sent = origin.clone();
            let client = blocking(move || {
                let mut request = ws_request(addr, "/");
                if let Some(origin) = sent {
                    request.headers_mut().insert("Origin", hv(&origin));
                }
                ws_expect_rejection(addr, request).0
            });
            let request = server.next().await;
            assert_eq!(request.origin(), origin.as_deref());
            assert_eq!(request.is_same_origin(), same, "{origin:?}");
            request.reject(StatusCode::Forbidden, "checked");
            assert_eq!(within("client", client).await, 403);
        }
    })
}

/// A plain request is checked as RFC 9112 asks before the handler sees it;
/// the handler answers with the URL it was given.
#[test]
fn plain_requests_are_checked_before_the_handler() {
    common::run(async move {
        let builder =
            Server::builder().http_handler(|mut request: http_types::Request| async move {
                let body = request.body_string().await.unwrap_or_default();
                let mut response = http_types::Response::new(StatusCode::Ok);
                let url = request.url();
                let host = url.host_str().unwrap_or_default();
                response.set_body(format!("{host} {} {body}", url.path()));
                response
            });
        let server = request_server_with(builder).await;
        let addr = server.addr;
        let cases: Vec<(&[u8], u16, &str)> = vec![
            (
                b"GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n",
                200,
                "localhost /x ",
            ),
            (b"GET /x HTTP/1.1\r\n\r\n", 400, ""),
            (b"GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, ""),
            (b"GET /x HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, ""),
            (b"GET /x HTTP/1.1\r\nHost: u@evil.com\r\n\r\n", 400, ""),
            (b"GET /x HTTP/1.0\r\n\r\n", 200, "localhost /x "),
            // A network-path-looking target is a path on this host.
            (
                b"GET //evil.com/check HTTP/1.1\r\nHost: localhost\r\n\r\n",
                200,
                "localhost //evil.com/check ",
            ),
            // An absolute-form target's authority replaces Host.
            (
                b"GET http://other.example/p HTTP/1.1\r\nHost: localhost\r\n\r\n",
                200,
                "other.example /p ",
            ),
            (
                b"GET http://u@other.example/p HTTP/1.1\r\nHost: a\r\n\r\n",
                400,
                "",
            ),
            (b"GET /a\\b HTTP/1.1\r\nHost: a\r\n\r\n", 400, ""),
            (b"GET http://x/a\\b HTTP/1.1\r\nHost: a\r\n\r\n", 400, ""),
            (b"GET ftp://x/a HTTP/1.1\r\nHost: a\r\n\r\n", 400, ""),
            (
                b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxy",
                400,
                "",
            ),
            (
                b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\nx",
                400,
                "",
            ),
            (
                b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
                200,
                "a /x ok",
            ),
            (b"FOO /x HTTP/1.1\r\nHost: a\r\n\r\n", 501, ""),
            (
                b"GET /x HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n",
                417,
                "",
            ),
            // Bare LF line endings are accepted (RFC 9112 §2.2).
            (b"GET /lf HTTP/1.1\nHost: a\n\n", 200, "a /lf "),
        ];
        for (request, status, body) in cases {
            let response = within(
                "the response",
                blocking(move || raw_exchange(addr, request)),
            )
            .await;
            let shown = String::from_utf8_lossy(request);
            assert_eq!(response.status, status, "{shown}: {}", response.head);
            if status == 200 {
                assert_eq!(response.body_text(), body, "{shown}");
            } else {
                assert!(response.header("X-WebSocket-Reject-Reason").is_some());
            }
        }

        // `Expect: 100-continue`: the interim response comes before the body is
        // sent, then the final one.
        let response = within(
            "the responses",
            blocking(move || {
                let mut raw = RawClient::connect(addr);
                raw.send(
                b"POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
            );
                let interim = raw.read_head();
                assert_eq!(interim.status, 100, "{}", interim.head);
                raw.send(b"abc");
                raw.read_response()
            }),
        )
        .await;
        assert_eq!(response.status, 200, "{}", response.head);
        assert_eq!(response.body_text(), "a /e abc");
        server.assert_no_request().await;
    })
}

/// A body that never arrives is answered with 408 at the handshake timeout.
#[test]
fn a_plain_request_body_that_stalls_gets_408() {
    common::run(async move {
        let mut config = Config::default();
        config.handshake_timeout = Duration::from_millis(300);
        let builder = Server::builder()
            .config(config)
            .http_handler(|_| async { http_types::Response::new(StatusCode::Ok) });
        let server = request_server_with(builder).await;
        let addr = server.addr;
        let response = within(
            "the response",
            blocking(move || {
                raw_exchange(
                    addr,
                    b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nx",
                )
            }),
        )
        .await;
        assert_eq!(response.status, 408, "{}", response.head);
    })
}

/// Upgrade requests: what could change the request's URL or smuggle bytes
/// into the frame stream is refused; what RFC 9112 lets a server accept is
/// accepted.
#[test]
fn upgrade_requests_hostile_hosts_bodies_and_lenient_syntax() {
    common::run(async move {
        for (request, status) in [
            (
                upgrade_request("/nope", "")
                    .replace("Host: localhost", "Host: localhost/chat?nick=zed&"),
                400,
            ),
            (
                upgrade_request("/", "").replace("Host: localhost", "Host: u@evil.com"),
                400,
            ),
            (
                upgrade_request("/", "Content-Length: 14\r\n") + "\u{81}\u{8}smuggled",
                400,
            ),
            (
                upgrade_request("/", "Transfer-Encoding: chunked\r\n") + "0\r\n\r\n",
                400,
            ),
            (upgrade_request("/public\\..\\chat", ""), 400),
            (
                upgrade_request(&format!("/{}", "a".repeat(20_000)), ""),
                414,
            ),
        ] {
            let response = bad_handshake(request.into_bytes(), status).await;
            assert_eq!(response.header("Connection"), Some("close"));
        }

        let server = request_server(Config::default()).await;
        let latin1 = upgrade_request("/latin1", "");
        for request in [
            // Bare LF line endings.
            upgrade_request("/lf", "")
                .replace("\r\n", "\n")
                .into_bytes(),
            // An ISO-8859-1 byte in a header value.
            [
                latin1.trim_end_matches("\r\n").as_bytes(),
                b"\r\nX-Name: caf\xe9\r\n\r\n",
            ]
            .concat(),
            // The authority of an absolute-form target replaces Host.
            upgrade_request("ws://other.example:81/abs", "").into_bytes(),
        ] {
            let addr = server.addr;
            let client = blocking(move || {
                let mut raw = RawClient::connect(addr);
                raw.send(&request);
                raw.read_head()
            });
            let request = within("a request", server.next()).await;
            match request.resource() {
                "/latin1" => assert_eq!(request.header("x-name"), Some("caf\u{e9}")),
                "/abs" => assert_eq!(request.host(), "other.example:81"),
                resource => assert_eq!(resource, "/lf"),
            }
            let _conn = within("accept", request.accept(None, None)).await.unwrap();
            let response = within("the 101", client).await;
            assert_eq!(response.status, 101, "{}", response.head);
        }
    })
}

/// wsgate's client against a raw server: an extension nobody offered, a
/// redirect's headers, and a URL with a fragment.
#[test]
fn client_refuses_unoffered_extensions_and_fragments_and_keeps_rejection_headers() {
    common::run(async move {
        let (addr, server) = raw_ws_server(
            |head| switching_protocols_with(head, "Sec-WebSocket-Extensions: x-webkit-foo\r\n"),
            drop,
        );
        let result = within("connect", wsgate::connect(&format!("ws://{addr}/"))).await;
        match result {
            Err(wsgate::Error::Handshake(wsgate::HandshakeError::UnexpectedExtension(name))) => {
                assert_eq!(name, "x-webkit-foo");
            }
            other => panic!("expected UnexpectedExtension, got {other:?}"),
        }
        within("the server", server).await;

        let (addr, server) = raw_ws_server(
            |_| {
                "HTTP/1.1 302 Found\r\nLocation: ws://127.0.0.1:1/new\r\nContent-Length: 0\r\n\r\n"
                    .into()
            },
            drop,
        );
        match within("connect", wsgate::connect(&format!("ws://{addr}/"))).await {
            Err(wsgate::Error::Handshake(wsgate::HandshakeError::Rejected {
                status,
                headers,
                ..
            })) => {
                assert_eq!(status, 302);
                let location = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("location"));
                assert_eq!(
                    location.map(|(_, v)| v.as_str()),
                    Some("ws://127.0.0.1:1/new")
                );
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
        within("the server", server).await;

        // Refused before connecting: nothing listens on port 1.
        for url in ["ws://127.0.0.1:1/a#b?c", "ws://127.0.0.1:1/a#"] {
            match within("connect", wsgate::connect(url)).await {
                Err(e @ wsgate::Error::InvalidUrl { .. }) => {
                    // The message names the URL and the reason.
                    assert_eq!(
                        e.to_string(),
                        format!("invalid WebSocket URL {url:?}: a WebSocket URL has no fragment")
                    );
                }
                other => panic!("{url}: expected InvalidUrl, got {other:?}"),
            }
        }
    })
}
