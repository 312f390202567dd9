//! Byte-exact clients and servers: a frame encoder and decoder,
//! [`RawClient`] (buffered), helpers for raw std streams that read exactly
//! what they are asked for, and [`raw_ws_server`] for testing a client.

use std::future::Future;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::{
    MASK, SAMPLE_ACCEPT, SAMPLE_KEY, TIMEOUT, blocking, connect_with_buffers, tcp,
    tcp_with_timeout, within_for,
};

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
    /// The frame's first byte: FIN, RSV bits and opcode.
    pub fn first(&self) -> u8 {
        (if self.fin { 0x80 } else { 0 }) | self.rsv | self.opcode
    }

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
        RawClient::handshake_with(addr, "").0
    }

    /// As [`handshake`](Self::handshake), with `extra` header lines; returns
    /// the 101 too.
    pub fn handshake_with(addr: SocketAddr, extra: &str) -> (RawClient, HttpResponse) {
        let mut client = RawClient::connect(addr);
        client.send(upgrade_request("/", extra).as_bytes());
        let head = client.read_head();
        assert_eq!(head.status, 101, "{}", head.head);
        assert_eq!(head.header("Sec-WebSocket-Accept"), Some(SAMPLE_ACCEPT));
        (client, head)
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
        parse_response_head(String::from_utf8(head_bytes).expect("UTF-8 head"))
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
        frames_until_close(10_000, || self.read_frame())
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
        expect_end_of(&mut self.stream, reset_is_an_end);
    }

    /// How long until the server ends the connection (see
    /// [`expect_eof`](Self::expect_eof)).
    pub fn time_to_eof(&mut self) -> Duration {
        let start = Instant::now();
        self.expect_eof();
        start.elapsed()
    }
}

/// Where the frame at the start of `buf` ends: its header length and
/// payload length; or, while `buf` is shorter than the header, how long the
/// header is known to be so far (at least 2 bytes).
fn frame_extent(buf: &[u8]) -> Result<(usize, u64), usize> {
    let [_, b1, ..] = *buf else {
        return Err(2);
    };
    let mask = if b1 & 0x80 != 0 { 4 } else { 0 };
    let (at, len) = match b1 & 0x7f {
        126 => (
            4,
            buf.get(2..4)
                .map(|b| u64::from(u16::from_be_bytes([b[0], b[1]]))),
        ),
        127 => (
            10,
            buf.get(2..10)
                .map(|b| u64::from_be_bytes(b.try_into().unwrap())),
        ),
        n => (2, Some(u64::from(n))),
    };
    match len {
        Some(len) if buf.len() >= at + mask => Ok((at + mask, len)),
        _ => Err(at + mask),
    }
}

/// Parses one server frame from the start of `buf`.
pub fn parse_frame(buf: &[u8]) -> Option<(RawFrame, usize)> {
    let (header, len) = frame_extent(buf).ok()?;
    let end = header.checked_add(usize::try_from(len).ok()?)?;
    if buf.len() < end {
        return None;
    }
    let masked = buf[1] & 0x80 != 0;
    let mut payload = buf[header..end].to_vec();
    if masked {
        let key = &buf[header - 4..header];
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }
    Some((
        RawFrame {
            fin: buf[0] & 0x80 != 0,
            rsv: buf[0] & 0x70,
            opcode: buf[0] & 0x0f,
            masked,
            payload,
        },
        end,
    ))
}

/// Reads exactly one frame from `stream` (nothing after it).
pub fn read_frame_from(stream: &mut impl Read) -> io::Result<RawFrame> {
    let mut bytes = Vec::new();
    let (header, len) = loop {
        match frame_extent(&bytes) {
            Ok(extent) => break extent,
            Err(need) => {
                let have = bytes.len();
                bytes.resize(need, 0);
                stream.read_exact(&mut bytes[have..])?;
            }
        }
    };
    assert!(len <= 64 << 20, "implausible frame length {len}");
    bytes.resize(header + len as usize, 0);
    stream.read_exact(&mut bytes[header..])?;
    Ok(parse_frame(&bytes).expect("a whole frame").0)
}

/// Reads frames with `read` until a close frame (at most `limit` frames);
/// returns its code and reason and the frames before it.
fn frames_until_close(
    limit: usize,
    mut read: impl FnMut() -> RawFrame,
) -> (Option<(u16, String)>, Vec<RawFrame>) {
    let mut before = Vec::new();
    for _ in 0..limit {
        let frame = read();
        if frame.opcode == 0x8 {
            assert!(!frame.masked, "server frames must not be masked");
            return (frame.close(), before);
        }
        before.push(frame);
    }
    panic!("no close frame among {limit} frames");
}

/// Parses an HTTP/1.1 response head (without a body).
fn parse_response_head(head: String) -> HttpResponse {
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

/// Sends `request` on a fresh connection and reads the whole response.
pub fn raw_exchange(addr: SocketAddr, request: &[u8]) -> HttpResponse {
    let mut client = RawClient::connect(addr);
    client.send(request);
    client.read_response()
}

// ---------------------------------------------------------------------------
// Raw std streams, read exactly: nothing after what is asked for is consumed
// ---------------------------------------------------------------------------

/// Reads an HTTP head byte by byte, up to and including its blank line.
pub fn read_head_exact(stream: &mut impl Read) -> io::Result<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("end of stream after {:?}", String::from_utf8_lossy(&head)),
            ));
        }
        head.push(byte[0]);
        assert!(head.len() < 64 << 10, "head too large");
    }
    Ok(String::from_utf8(head).expect("UTF-8 head"))
}

/// Reads an HTTP response head (nothing after it); returns the status and
/// the head.
pub fn read_http_head(stream: &mut TcpStream) -> io::Result<(u16, String)> {
    let response = parse_response_head(read_head_exact(stream)?);
    Ok((response.status, response.head))
}

/// Sends a valid upgrade request for `path` and expects 101.
pub fn raw_upgrade(stream: &mut TcpStream, path: &str) {
    stream
        .write_all(upgrade_request(path, "").as_bytes())
        .expect("write the handshake");
    let (status, head) = read_http_head(stream).expect("read the handshake response");
    assert_eq!(status, 101, "{head}");
}

/// A raw client connected and upgraded on `path`.
pub fn raw_ws(addr: SocketAddr, path: &str) -> TcpStream {
    let mut stream = tcp(addr);
    raw_upgrade(&mut stream, path);
    stream
}

/// A raw client that never reads, with a tiny receive window, upgraded on
/// `path`.
pub fn never_reading_client(addr: SocketAddr, path: &str) -> TcpStream {
    let mut stream = connect_with_buffers(addr, Some(4 << 10), None);
    raw_upgrade(&mut stream, path);
    stream
}

/// `count` raw clients upgraded on `path`, opened from four threads.
pub async fn raw_fleet(addr: SocketAddr, path: &'static str, count: usize) -> Vec<TcpStream> {
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

/// Reads everything that arrives until the server ends the connection (or
/// the socket's read timeout fails the test); returns the byte count.
pub fn drain_until_end(stream: &mut TcpStream) -> usize {
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

/// A server frame: its first byte (FIN, RSV, opcode) and payload.
pub type ServerFrame = (u8, Vec<u8>);

/// Reads one server frame (which must not be masked).
pub fn read_server_frame(stream: &mut TcpStream) -> io::Result<ServerFrame> {
    let frame = read_frame_from(stream)?;
    assert!(!frame.masked, "server frames must not be masked");
    Ok((frame.first(), frame.payload))
}

/// Reads frames until a close frame (at most 100 000); returns its code
/// and reason and the frames before it.
pub fn read_until_close(stream: &mut TcpStream) -> (Option<(u16, String)>, Vec<ServerFrame>) {
    let (close, before) = frames_until_close(100_000, || {
        let frame = read_frame_from(stream).expect("read a frame");
        assert!(!frame.masked, "server frames must not be masked");
        frame
    });
    let before = before.into_iter().map(|f| (f.first(), f.payload)).collect();
    (close, before)
}

/// Expects the server to end the connection: end of stream or a reset.
pub fn expect_end(stream: &mut TcpStream) {
    expect_end_of(stream, true);
}

/// Expects the peer to end the connection within the socket's read
/// timeout: end of stream, or also a reset with `reset_is_an_end`.
fn expect_end_of(stream: &mut TcpStream, reset_is_an_end: bool) {
    let mut buf = [0u8; 4096];
    match stream.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!(
            "expected the connection to end, got {n} bytes: {:?}",
            &buf[..n]
        ),
        Err(e) if reset_is_an_end && e.kind() == io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("expected the connection to end, got {e}"),
    }
}

// ---------------------------------------------------------------------------
// A raw server, for a WebSocket client under test
// ---------------------------------------------------------------------------

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
        let head = read_head_exact(&mut stream).expect("a request head");
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
