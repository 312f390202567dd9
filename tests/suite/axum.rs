//! Mounting on axum (feature `hyper`): wsgate requests answered through
//! hyper's upgrade, checked with tungstenite as the independent client.
//! Always on tokio (hyper's upgraded stream is tokio's), on a runtime of
//! each test's own.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::common::{self, TIMEOUT};
use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::routing::get;
use tungstenite::Message as WsMessage;
use wsgate::http_types::StatusCode;
use wsgate::{Server, ServerHandle};

async fn websocket(
    State(ws): State<ServerHandle>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> http::Response<String> {
    ws.upgrade_hyper(request, peer, false, |request| async move {
        match request.resource_url().path() {
            "/ws" => {}
            "/secure" => {
                let reason = format!(
                    "secure={} url={}",
                    request.is_secure(),
                    request.resource_url()
                );
                request.reject(StatusCode::Forbidden, &reason);
                return;
            }
            "/slow" => {
                // Never decides: the decision deadline answers 503.
                std::future::pending::<()>().await;
            }
            "/raw" => {
                let response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                                Connection: Upgrade\r\nSec-WebSocket-Protocol: Chat\r\n\
                                X-Raw: yes\r\n\r\n";
                if let Ok(wsgate::RawOutcome::Accepted(conn)) = request.accept_raw(response).await {
                    common::echo_messages(conn).await;
                }
                return;
            }
            "/raw-401" => {
                let response = "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\n\
                                Content-Length: 0\r\n\r\n";
                let outcome = request.accept_raw(response).await;
                assert!(matches!(outcome, Ok(wsgate::RawOutcome::Rejected(401))));
                return;
            }
            "/forward" => {
                let to = request
                    .resource_url()
                    .query_pairs()
                    .find(|(k, _)| k == "to")
                    .map(|(_, v)| v.into_owned())
                    .unwrap();
                // The client offers `Chat, other`: it expects one of them back.
                let forward = wsgate::Forward::to(to).protocol(Some("chat"));
                let report = request.forward(forward).await.unwrap();
                assert_eq!(report.to_client, 5);
                return;
            }
            _ => {
                request.reject(StatusCode::NotFound, "try /ws");
                return;
            }
        }
        if let Ok(conn) = request.accept(Some("chat"), None).await {
            common::echo_messages(conn).await;
        }
    })
    .await
}

/// An axum app with a page and wsgate on `/ws`, on a port of its own.
async fn app(config: wsgate::Config) -> (SocketAddr, Server) {
    let server = Server::builder().config(config).build();
    let app = Router::new()
        .route("/", get(|| async { "a page" }))
        .route("/ws", get(websocket))
        .route("/other", get(websocket))
        .route("/slow", get(websocket))
        .route("/secure", get(websocket))
        .route("/raw", get(websocket))
        .route("/raw-401", get(websocket))
        .route("/forward", get(websocket))
        .with_state(server.handle());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });
    (addr, server)
}

fn ws_connect(
    addr: SocketAddr,
    path: &str,
) -> Result<
    (
        tungstenite::WebSocket<TcpStream>,
        tungstenite::handshake::client::Response,
    ),
    tungstenite::Error,
> {
    use tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{addr}{path}").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "Chat, other".parse().unwrap());
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    match tungstenite::client(request, stream) {
        Ok(pair) => Ok(pair),
        Err(tungstenite::HandshakeError::Failure(e)) => Err(e),
        Err(tungstenite::HandshakeError::Interrupted(_)) => {
            panic!("blocking handshake interrupted")
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn axum_route_accepts_echoes_and_counts_in_the_registry() {
    let rt = runtime();
    let (addr, server) = rt.block_on(app(wsgate::Config::default()));
    let handle = server.handle();
    assert_eq!(server.runtime().name(), "tokio");
    let client = std::thread::spawn(move || {
        let (mut ws, response) = ws_connect(addr, "/ws").unwrap();
        assert_eq!(response.status(), 101);
        // The server answers with the token as the client offered it.
        assert_eq!(response.headers()["sec-websocket-protocol"], "Chat");
        for size in [0usize, 1, 125, 126, 70_000, 1 << 20] {
            let text = "é".repeat(size / 2);
            ws.send(WsMessage::text(text.clone())).unwrap();
            assert_eq!(ws.read().unwrap(), WsMessage::text(text));
        }
        ws.send(WsMessage::binary(vec![7u8; 3000])).unwrap();
        assert_eq!(ws.read().unwrap(), WsMessage::binary(vec![7u8; 3000]));
        ws
    });
    let mut ws = client.join().unwrap();
    // The connection is in the server's registry; a broadcast reaches it.
    rt.block_on(async {
        assert_eq!(handle.connection_count(), 1);
        let report = handle.broadcast("to everyone").await;
        assert_eq!(report.queued, 1);
    });
    assert_eq!(ws.read().unwrap(), WsMessage::text("to everyone"));
    ws.close(None).unwrap();
    loop {
        match ws.read() {
            Ok(WsMessage::Close(frame)) => assert!(frame.is_none(), "{frame:?}"),
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("unclean close: {e}"),
        }
    }
    rt.block_on(async {
        common::eventually("the connection to leave the registry", TIMEOUT, || {
            handle.connection_count() == 0
        })
        .await;
        assert_eq!(handle.metrics().accepted, 1);
    });
}

#[test]
fn axum_route_rejects_with_the_reason_and_refuses_plain_requests() {
    let rt = runtime();
    let (addr, server) = rt.block_on(app(wsgate::Config::default()));
    let checked = std::thread::spawn(move || {
        match ws_connect(addr, "/other") {
            Err(tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 404);
                assert_eq!(response.headers()["x-websocket-reject-reason"], "try /ws");
                let body = response.body().clone().unwrap_or_default();
                assert_eq!(String::from_utf8(body).unwrap(), "try /ws");
            }
            other => panic!("expected a 404, got {:?}", other.map(|(_, r)| r.status())),
        }
        // A plain GET on the WebSocket route: 426 with the Upgrade header.
        use std::io::{Read, Write};
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
            .write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 426"), "{response}");
        assert!(
            response.to_ascii_lowercase().contains("upgrade: websocket"),
            "{response}"
        );
        // An absolute-form https:// target over plain TCP is not TLS: the
        // scheme the client writes decides nothing.
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let request = format!(
            "GET https://{addr}/secure HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\n\
             Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = vec![0u8; 1024];
        let n = stream.read(&mut response).unwrap();
        let response = String::from_utf8_lossy(&response[..n]).to_ascii_lowercase();
        assert!(response.starts_with("http/1.1 403"), "{response}");
        assert!(
            response.contains(&format!("secure=false url=ws://{addr}/secure")),
            "{response}"
        );
        // A bad version: 426 as from the server's own handshake.
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
            .write_all(
                b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                  Sec-WebSocket-Version: 7\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            )
            .unwrap();
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).unwrap();
        assert_eq!(&head, b"HTTP/1.1 426");
    });
    checked.join().unwrap();
    let metrics = server.handle().metrics();
    assert_eq!(metrics.rejected.get(&404), Some(&1), "{metrics:?}");
    assert_eq!(metrics.rejected.get(&403), Some(&1), "{metrics:?}");
    assert_eq!(metrics.rejected.get(&426), Some(&2), "{metrics:?}");
    drop(rt);
}

#[test]
fn axum_route_answers_503_when_no_decision_comes_in_time() {
    let rt = runtime();
    let mut config = wsgate::Config::default();
    config.decision_timeout = Duration::from_millis(200);
    let (addr, server) = rt.block_on(app(config));
    let checked = std::thread::spawn(move || match ws_connect(addr, "/slow") {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503);
            assert_eq!(
                response.headers()["x-websocket-reject-reason"],
                "no decision in time"
            );
        }
        other => panic!("expected a 503, got {:?}", other.map(|(_, r)| r.status())),
    });
    checked.join().unwrap();
    let metrics = server.handle().metrics();
    assert_eq!(metrics.pending_handshakes, 0, "{metrics:?}");
    assert_eq!(metrics.rejected.get(&503), Some(&1), "{metrics:?}");
}

#[test]
fn axum_route_answers_raw_and_forwards() {
    let rt = runtime();
    let (addr, server) = rt.block_on(app(wsgate::Config::default()));
    let handle = server.handle();
    let (backend, _seen) = crate::forward::backend(crate::forward::echo);
    let client = std::thread::spawn(move || {
        // A raw 101, written by hyper from the checked response.
        let (mut ws, response) = ws_connect(addr, "/raw").unwrap();
        assert_eq!(response.headers()["x-raw"], "yes");
        assert_eq!(response.headers()["sec-websocket-protocol"], "Chat");
        ws.send(WsMessage::text("raw")).unwrap();
        assert_eq!(ws.read().unwrap(), WsMessage::text("raw"));
        ws.close(None).unwrap();
        // A raw rejection.
        match ws_connect(addr, "/raw-401") {
            Err(tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 401);
                assert_eq!(response.headers()["www-authenticate"], "Bearer");
            }
            other => panic!("expected 401, got {other:?}"),
        }
        // A forward to a TCP echo.
        let (mut ws, _) = ws_connect(addr, &format!("/forward?to={backend}")).unwrap();
        ws.send(WsMessage::binary(b"hello".to_vec())).unwrap();
        assert_eq!(ws.read().unwrap(), WsMessage::binary(b"hello".to_vec()));
        ws.close(None).unwrap();
        while ws.read().is_ok() {}
    });
    client.join().unwrap();
    rt.block_on(async {
        common::eventually("the forward to end", TIMEOUT, || {
            let m = handle.metrics();
            m.forwarded == 1 && m.forwarding == 0 && m.forwarded_to_clients == 5
        })
        .await;
    });
}
