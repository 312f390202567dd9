//! Shared helpers for the integration tests.
//!
//! - servers built from the public API: [`echo_server`] (echoes every
//!   message and reports every event and connection to the test) and
//!   [`request_server`] (hands each `WebSocketRequest` to the test);
//! - clients: tungstenite (the independent reference client) over a std
//!   `TcpStream`, and [`RawClient`], a byte-exact client with a frame
//!   encoder and decoder;
//! - [`blocking`], which runs a blocking client script on its own thread, and
//!   [`within`], which bounds every await.
//!
//! Every wait is bounded: std sockets get read and write timeouts, and async
//! waits go through [`within`].

#![allow(dead_code)]

use std::future::Future;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use async_channel::{Receiver, TryRecvError, unbounded};
use futures::StreamExt;
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::{Request, Response};
use tungstenite::protocol::WebSocketConfig;
use wsgate::{Config, Connection, ConnectionId, Event, Server, ServerBuilder, WebSocketRequest};

mod runtime;
pub use runtime::*;

/// How long any single wait may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// The masking key the raw client uses (anything but zeros, so that a server
/// that forgets to unmask sees garbage).
pub const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// The RFC 6455 §1.3 sample key and its accept value.
pub const SAMPLE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const SAMPLE_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// Awaits `future`, failing the test if it takes longer than [`TIMEOUT`].
pub async fn within<F: Future>(what: &str, future: F) -> F::Output {
    within_for(TIMEOUT, what, future).await
}

/// Awaits `future` for at most `limit`.
pub async fn within_for<F: Future>(limit: Duration, what: &str, future: F) -> F::Output {
    match timeout(limit, future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out after {limit:?} waiting for {what}"),
    }
}

/// Runs `f` on a new OS thread at once; the returned future yields its
/// result (and re-raises its panic, so a failed client assertion fails the
/// test).
pub fn blocking<T, F>(f: F) -> impl Future<Output = T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = futures::channel::oneshot::channel();
    std::thread::spawn(move || {
        let result = std::panic::catch_unwind(AssertUnwindSafe(f));
        let _ = tx.send(result);
    });
    async move {
        match rx.await {
            Ok(Ok(value)) => value,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => panic!("client thread vanished"),
        }
    }
}

/// A config with every limit raised above 16 MiB, for the large messages.
pub fn large_config() -> Config {
    let mut config = Config::default();
    config.max_message_size = 64 << 20;
    config.max_frame_size = 64 << 20;
    config
}

// ---------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------

/// A server whose requests are handed to the test.
pub struct RequestServer {
    pub addr: SocketAddr,
    pub requests: Receiver<WebSocketRequest>,
}

impl RequestServer {
    /// The next request, within [`TIMEOUT`].
    pub async fn next(&self) -> WebSocketRequest {
        within("a request", self.requests.recv())
            .await
            .expect("the server stopped")
    }

    /// Fails if a request reached the application.
    pub async fn assert_no_request(&self) {
        sleep(Duration::from_millis(50)).await;
        match self.requests.try_recv() {
            Err(TryRecvError::Empty) => {}
            Ok(request) => panic!("a bad handshake reached the application: {request:?}"),
            Err(e) => panic!("request channel: {e}"),
        }
    }
}

/// Binds 127.0.0.1:0 with `config` and hands every request to the test.
pub async fn request_server(config: Config) -> RequestServer {
    request_server_with(Server::builder().config(config)).await
}

/// As [`request_server`], from a builder (e.g. with an HTTP handler).
pub async fn request_server_with(builder: ServerBuilder) -> RequestServer {
    let mut server = builder.bind("127.0.0.1:0").await.expect("bind");
    let addr = server.local_addr();
    let (tx, rx) = unbounded();
    spawn(async move {
        while let Some(request) = server.next().await {
            if tx.send(request).await.is_err() {
                break;
            }
        }
    });
    RequestServer { addr, requests: rx }
}

/// A server that accepts everything and echoes every message. Each
/// connection is handed to the test on `conns`, and every event it sees is
/// reported on `events` (messages before they are echoed).
pub struct EchoServer {
    pub addr: SocketAddr,
    pub conns: Receiver<Connection>,
    pub events: Receiver<(ConnectionId, Event)>,
}

impl EchoServer {
    /// The next accepted connection, within [`TIMEOUT`].
    pub async fn conn(&self) -> Connection {
        within("a connection", self.conns.recv())
            .await
            .expect("the server stopped")
    }

    /// The next event of any connection, within [`TIMEOUT`].
    pub async fn event(&self) -> Event {
        within("an event", self.events.recv())
            .await
            .expect("the server stopped")
            .1
    }

    /// Events up to and including the first `Close` (at most 10 000).
    pub async fn events_until_close(&self) -> Vec<Event> {
        let mut seen = Vec::new();
        for _ in 0..10_000 {
            let event = self.event().await;
            let done = matches!(event, Event::Close(_));
            seen.push(event);
            if done {
                return seen;
            }
        }
        panic!("no close event among {} events", seen.len());
    }
}

/// Binds 127.0.0.1:0 with `config` and echoes on every connection.
pub async fn echo_server(config: Config) -> EchoServer {
    let mut server = Server::builder()
        .config(config)
        .bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = server.local_addr();
    let (conn_tx, conns) = unbounded();
    let (event_tx, events) = unbounded();
    spawn(async move {
        while let Some(request) = server.next().await {
            let conn_tx = conn_tx.clone();
            let event_tx = event_tx.clone();
            spawn(async move {
                let Ok(conn) = request.accept(None, None).await else {
                    return;
                };
                let _ = conn_tx.send(conn.clone()).await;
                echo(conn, event_tx).await;
            });
        }
    });
    EchoServer {
        addr,
        conns,
        events,
    }
}

/// Echoes messages on `conn` until its event stream ends; returns every
/// event seen (each wait bounded by [`TIMEOUT`], at most 10 000 events).
pub async fn serve_echo(conn: Connection) -> Vec<Event> {
    let mut events = conn.events();
    let mut seen = Vec::new();
    for _ in 0..10_000 {
        let Some(event) = within("a connection event", events.next()).await else {
            return seen;
        };
        if let Event::Message(message) = &event {
            let _ = conn.send(message.clone()).await;
        }
        seen.push(event);
    }
    panic!("more than 10 000 events");
}

async fn echo(conn: Connection, events_tx: async_channel::Sender<(ConnectionId, Event)>) {
    let id = conn.id();
    let mut events = conn.events();
    // Bounded: the stream ends after its Close event.
    while let Some(event) = events.next().await {
        if let Event::Message(message) = &event {
            let message = message.clone();
            let _ = events_tx.send((id, event)).await;
            let _ = conn.send(message).await;
        } else {
            let _ = events_tx.send((id, event)).await;
        }
    }
}

// ---------------------------------------------------------------------------
// tungstenite, the independent client
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// The raw client
// ---------------------------------------------------------------------------

/// A minimal client-side frame encoder: FIN, RSV bits and opcode in
/// `first`, masked with [`MASK`].
pub fn raw_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    encode_frame(first, payload, Some(MASK))
}

/// A complete masked frame: `fin`, `opcode` and payload.
pub fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    raw_frame(if fin { 0x80 } else { 0 } | opcode, payload)
}

/// An unmasked frame (which a server must refuse).
pub fn unmasked_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    encode_frame(if fin { 0x80 } else { 0 } | opcode, payload, None)
}

/// Encodes a frame with minimal length encoding.
pub fn encode_frame(first: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = frame_header(first, payload.len() as u64, mask);
    match mask {
        Some(key) => out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4])),
        None => out.extend_from_slice(payload),
    }
    out
}

/// Just a frame header declaring `len` payload bytes.
pub fn frame_header(first: u8, len: u64, mask: Option<[u8; 4]>) -> Vec<u8> {
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let mut out = vec![first];
    if len < 126 {
        out.push(mask_bit | len as u8);
    } else if len <= 0xffff {
        out.push(mask_bit | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&len.to_be_bytes());
    }
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
    out
}

/// A masked close frame with `code` and `reason`.
pub fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    frame(true, 0x8, &payload)
}

/// A frame as the server sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFrame {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub masked: bool,
    pub payload: Vec<u8>,
}

impl RawFrame {
    /// Code and reason of a close frame (`None` for an empty payload).
    pub fn close(&self) -> Option<(u16, String)> {
        assert_eq!(self.opcode, 0x8, "not a close frame: {self:?}");
        if self.payload.is_empty() {
            return None;
        }
        assert!(self.payload.len() >= 2, "one-byte close payload");
        let code = u16::from_be_bytes([self.payload[0], self.payload[1]]);
        let reason = String::from_utf8(self.payload[2..].to_vec()).expect("UTF-8 reason");
        Some((code, reason))
    }
}

/// An HTTP response head (and body) as the server sent it.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub head: String,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A byte-exact client over a std socket with timeouts.
pub struct RawClient {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

/// A valid upgrade request for `path` with the sample key and `extra`
/// header lines (each ending in CRLF).
pub fn upgrade_request(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {SAMPLE_KEY}\r\n\
         Sec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

impl RawClient {
    pub fn connect(addr: SocketAddr) -> RawClient {
        RawClient {
            stream: tcp(addr),
            buf: Vec::new(),
        }
    }

    pub fn connect_with_timeout(addr: SocketAddr, timeout: Duration) -> RawClient {
        RawClient {
            stream: tcp_with_timeout(addr, timeout),
            buf: Vec::new(),
        }
    }

    /// Connects and completes a valid handshake for `/`; the server must
    /// accept it.
    pub fn handshake(addr: SocketAddr) -> RawClient {
        let mut client = RawClient::connect(addr);
        client.send(upgrade_request("/", "").as_bytes());
        let head = client.read_head();
        assert_eq!(head.status, 101, "{}", head.head);
        assert_eq!(head.header("Sec-WebSocket-Accept"), Some(SAMPLE_ACCEPT));
        client
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
        self.stream.flush().expect("flush");
    }

    /// Sends, tolerating a server that already closed (after a protocol
    /// error it may have).
    pub fn try_send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Reads more bytes into the buffer; 0 at end of stream.
    fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 64 << 10];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    fn fill_or_panic(&mut self, what: &str) {
        match self.fill() {
            Ok(0) => panic!(
                "connection ended while reading {what}; have {:?}",
                String::from_utf8_lossy(&self.buf)
            ),
            Ok(_) => {}
            Err(e) => panic!("reading {what}: {e}"),
        }
    }

    /// Reads an HTTP response head (leaving anything after it buffered).
    pub fn read_head(&mut self) -> HttpResponse {
        let end = loop {
            if let Some(p) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            assert!(self.buf.len() < 1 << 20, "response head too large");
            self.fill_or_panic("a response head");
        };
        let head_bytes: Vec<u8> = self.buf.drain(..end).collect();
        let head = String::from_utf8(head_bytes).expect("UTF-8 head");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.splitn(3, ' ');
        assert_eq!(parts.next(), Some("HTTP/1.1"), "status line: {status_line}");
        let status = parts
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("status line: {status_line}"));
        let headers = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap_or_else(|| panic!("header: {l}"));
                (n.trim().to_owned(), v.trim().to_owned())
            })
            .collect();
        HttpResponse {
            status,
            headers,
            head,
            body: Vec::new(),
        }
    }

    /// Reads a whole HTTP response: head, then `Content-Length` bytes of body.
    pub fn read_response(&mut self) -> HttpResponse {
        let mut response = self.read_head();
        let len: usize = response
            .header("Content-Length")
            .map(|v| v.parse().expect("Content-Length"))
            .unwrap_or(0);
        while self.buf.len() < len {
            self.fill_or_panic("a response body");
        }
        response.body = self.buf.drain(..len).collect();
        response
    }

    /// Reads one frame from the server.
    pub fn read_frame(&mut self) -> RawFrame {
        self.try_read_frame()
            .unwrap_or_else(|e| panic!("reading a frame: {e}"))
    }

    /// Reads one frame; an error at end of stream, on a timeout or a reset.
    pub fn try_read_frame(&mut self) -> io::Result<RawFrame> {
        loop {
            if let Some((frame, used)) = parse_frame(&self.buf) {
                self.buf.drain(..used);
                return Ok(frame);
            }
            if self.fill()? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("end of stream with {} bytes buffered", self.buf.len()),
                ));
            }
        }
    }

    /// Reads frames until a close frame; returns it and the frames before.
    pub fn read_until_close(&mut self) -> (Option<(u16, String)>, Vec<RawFrame>) {
        let mut before = Vec::new();
        for _ in 0..10_000 {
            let frame = self.read_frame();
            if frame.opcode == 0x8 {
                assert!(!frame.masked, "server frames must not be masked");
                return (frame.close(), before);
            }
            before.push(frame);
        }
        panic!("no close frame among 10 000 frames");
    }

    /// Waits for the server to close the TCP connection (end of stream or a
    /// reset, both within the socket's read timeout). Panics if data arrives
    /// or the wait times out.
    pub fn expect_eof(&mut self) {
        self.expect_end(true);
    }

    /// Waits for the server's end of stream, and fails on a reset: the
    /// server must not drop a connection with our bytes still unread.
    pub fn expect_clean_eof(&mut self) {
        self.expect_end(false);
    }

    fn expect_end(&mut self, reset_is_an_end: bool) {
        assert!(
            self.buf.is_empty(),
            "unexpected buffered bytes: {:?}",
            self.buf
        );
        match self.fill() {
            Ok(0) => {}
            Ok(n) => panic!(
                "expected the connection to end, got {n} bytes: {:?}",
                self.buf
            ),
            Err(e) if reset_is_an_end && e.kind() == io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("expected the connection to end, got {e}"),
        }
    }

    /// How long until the server ends the connection (see
    /// [`expect_eof`](Self::expect_eof)).
    pub fn time_to_eof(&mut self) -> Duration {
        let start = Instant::now();
        self.expect_eof();
        start.elapsed()
    }
}

/// Parses one server frame from the start of `buf`.
pub fn parse_frame(buf: &[u8]) -> Option<(RawFrame, usize)> {
    let [b0, b1, ..] = *buf else {
        return None;
    };
    let masked = b1 & 0x80 != 0;
    let (len, mut at) = match b1 & 0x7f {
        126 => {
            if buf.len() < 4 {
                return None;
            }
            (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 4)
        }
        127 => {
            if buf.len() < 10 {
                return None;
            }
            let mut be = [0u8; 8];
            be.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(be), 10)
        }
        n => (u64::from(n), 2),
    };
    let mut key = None;
    if masked {
        if buf.len() < at + 4 {
            return None;
        }
        key = Some([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
        at += 4;
    }
    let len = usize::try_from(len).ok()?;
    if buf.len() < at + len {
        return None;
    }
    let mut payload = buf[at..at + len].to_vec();
    if let Some(key) = key {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }
    Some((
        RawFrame {
            fin: b0 & 0x80 != 0,
            rsv: b0 & 0x70,
            opcode: b0 & 0x0f,
            masked,
            payload,
        },
        at + len,
    ))
}

/// Sends `request` on a fresh connection and reads the whole response.
pub fn raw_exchange(addr: SocketAddr, request: &[u8]) -> HttpResponse {
    let mut client = RawClient::connect(addr);
    client.send(request);
    client.read_response()
}

/// Text of `n` bytes, with multi-byte characters in it.
pub fn text_of_len(n: usize) -> String {
    let unit = "aé€😀"; // 1 + 2 + 3 + 4 bytes
    let mut s = String::with_capacity(n);
    while s.len() + unit.len() <= n {
        s.push_str(unit);
    }
    while s.len() < n {
        s.push('x');
    }
    s
}

/// Binary data of `n` bytes, not all the same.
pub fn bytes_of_len(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

/// A configuration without keepalive pings, so a test sees only its own traffic.
pub fn quiet_config() -> Config {
    let mut config = Config::default();
    config.ping_interval = None;
    config
}

/// Polls `check` every 10 ms until it holds, failing after `limit`.
pub async fn eventually(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        sleep(Duration::from_millis(10)).await;
    }
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

/// A raw server for a WebSocket client under test: reads one request head,
/// writes `answer(head)`, then hands the socket to `script` and yields what
/// it returns.
pub fn raw_ws_server<T: Send + 'static>(
    answer: impl FnOnce(&str) -> String + Send + 'static,
    script: impl FnOnce(TcpStream) -> T + Send + 'static,
) -> (SocketAddr, impl Future<Output = T>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = blocking(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(stream.read(&mut byte).unwrap(), 1, "request ended early");
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        stream.write_all(answer(&head).as_bytes()).unwrap();
        script(stream)
    });
    (addr, server)
}

/// The 101 answering the request `head`.
pub fn switching_protocols(head: &str) -> String {
    switching_protocols_with(head, "")
}

/// The 101 answering the request `head`, with `extra` header lines.
pub fn switching_protocols_with(head: &str, extra: &str) -> String {
    let key = head
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .expect("a key");
    let accept = wsgate::handshake::accept_key(key.trim().as_bytes());
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n{extra}\r\n"
    )
}
