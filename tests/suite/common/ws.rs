//! Client sockets: std TCP streams with timeouts, and tungstenite (the
//! independent reference client) over them.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::{Request, Response};
use tungstenite::protocol::WebSocketConfig;

use super::TIMEOUT;

pub type Ws = tungstenite::WebSocket<TcpStream>;

/// A std TCP connection with read and write timeouts.
pub fn tcp(addr: SocketAddr) -> TcpStream {
    tcp_with_timeout(addr, TIMEOUT)
}

pub fn tcp_with_timeout(addr: SocketAddr, timeout: Duration) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, timeout).expect("connect");
    stream.set_read_timeout(Some(timeout)).unwrap();
    stream.set_write_timeout(Some(timeout)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// The client request for `ws://addr{path}`, to add headers to.
pub fn ws_request(addr: SocketAddr, path: &str) -> Request {
    format!("ws://{addr}{path}")
        .into_client_request()
        .expect("request")
}

/// tungstenite's config with 64 MiB limits.
pub fn ws_large_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20))
}

/// Runs tungstenite's client handshake over a fresh TCP connection.
pub fn ws_try_connect(
    addr: SocketAddr,
    request: Request,
    config: Option<WebSocketConfig>,
) -> Result<(Ws, Response), tungstenite::Error> {
    let stream = tcp(addr);
    match tungstenite::client::client_with_config(request, stream, config) {
        Ok(pair) => Ok(pair),
        Err(tungstenite::HandshakeError::Failure(e)) => Err(e),
        Err(tungstenite::HandshakeError::Interrupted(_)) => {
            panic!("handshake interrupted on a blocking socket")
        }
    }
}

/// Connects to `ws://addr{path}`, panicking on failure.
pub fn ws_connect(addr: SocketAddr, path: &str) -> Ws {
    ws_try_connect(addr, ws_request(addr, path), None)
        .expect("handshake")
        .0
}

/// Expects a rejected handshake; returns status, headers and body.
pub fn ws_expect_rejection(
    addr: SocketAddr,
    request: Request,
) -> (u16, tungstenite::http::HeaderMap, String) {
    match ws_try_connect(addr, request, None) {
        Ok((_, response)) => panic!("expected a rejection, got {response:?}"),
        Err(tungstenite::Error::Http(response)) => {
            let body = response
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            (response.status().as_u16(), response.headers().clone(), body)
        }
        Err(e) => panic!("expected an HTTP rejection, got {e:?}"),
    }
}

/// Reads from tungstenite until a data message arrives (answering pings).
pub fn ws_read_data(ws: &mut Ws) -> tungstenite::Message {
    for _ in 0..100 {
        match ws.read().expect("read") {
            m @ (tungstenite::Message::Text(_) | tungstenite::Message::Binary(_)) => return m,
            _ => continue,
        }
    }
    panic!("no data message among 100 frames");
}

/// Completes a client-initiated close: reads until the server's close
/// arrives and then until the connection ends. Returns the server's close
/// frame.
pub fn ws_finish_close(ws: &mut Ws) -> Option<tungstenite::protocol::CloseFrame> {
    let mut close = None;
    for _ in 0..100 {
        match ws.read() {
            Ok(tungstenite::Message::Close(frame)) => close = Some(frame),
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => {
                return close.expect("connection ended before the server's close frame");
            }
            Err(e) => panic!("while closing: {e:?}"),
        }
    }
    panic!("close did not complete within 100 frames");
}

/// A client socket with small kernel buffers (set before connecting, so the
/// TCP window is small from the start), and the usual timeouts.
pub fn connect_with_buffers(
    addr: SocketAddr,
    recv: Option<usize>,
    send: Option<usize>,
) -> TcpStream {
    let domain = socket2::Domain::for_address(addr);
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, None).expect("socket");
    if let Some(size) = recv {
        socket.set_recv_buffer_size(size).expect("SO_RCVBUF");
    }
    if let Some(size) = send {
        socket.set_send_buffer_size(size).expect("SO_SNDBUF");
    }
    socket
        .connect_timeout(&addr.into(), TIMEOUT)
        .expect("connect");
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// Reads until the server's close and the end of the connection (a reset
/// counts as an end); returns the close code and reason.
pub fn ws_wait_for_close(ws: &mut Ws) -> Option<(u16, String)> {
    ws_try_wait_for_close(ws).unwrap_or_else(|e| panic!("{e}"))
}

/// [`ws_wait_for_close`], with what went wrong as an error instead of a
/// panic (so that a caller can add what the server said).
pub fn ws_try_wait_for_close(ws: &mut Ws) -> Result<Option<(u16, String)>, String> {
    let mut close = None;
    for _ in 0..10_000 {
        match ws.read() {
            Ok(tungstenite::Message::Close(frame)) => {
                close = frame.map(|f| (u16::from(f.code), f.reason.to_string()));
            }
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                return Ok(close);
            }
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::ConnectionReset => {
                return Ok(close);
            }
            Err(e) => return Err(format!("waiting for the close: {e:?}")),
        }
    }
    Err("no close among 10 000 frames".to_owned())
}

/// The text of a text message.
pub fn text_of(message: &tungstenite::Message) -> &str {
    match message {
        tungstenite::Message::Text(text) => text.as_str(),
        other => panic!("expected text, got {other:?}"),
    }
}
