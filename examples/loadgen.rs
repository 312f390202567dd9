//! A WebSocket load generator for benchmarking echo servers (wsgate's own
//! examples/echo.rs and the peers in benches/compare/).
//!
//! ```text
//! cargo run --release --example loadgen -- --url ws://127.0.0.1:9001 \
//!     echo --connections 64 --size 1024 --binary --window 1 --duration 5 [--pid PID]
//! cargo run --release --example loadgen -- --url ws://127.0.0.1:9001 \
//!     handshake --connections 16 --duration 3 [--pid PID]
//! cargo run --release --example loadgen -- --url ws://127.0.0.1:9001 \
//!     idle --connections 10000 --pid PID
//! cargo run --release --example loadgen -- --url ws://127.0.0.1:9001 \
//!     fanout --connections 10000 --messages 100 --size 64 [--window 1] [--pid PID]
//! cargo run --release --example loadgen -- --url ws://127.0.0.1:9001 \
//!     relay --url-b ws://127.0.0.1:9002 --connections 100 --rate 1000 --duration 5 [--split]
//! ```
//!
//! It speaks the wire protocol itself over raw async-std sockets, using only
//! wsgate's sans-IO core (`wsgate::handshake`, `wsgate::protocol`), so the
//! client spends as little CPU as possible and never shares code paths with
//! the server under test.
//!
//! - `echo`: each connection keeps `--window` messages in flight; every
//!   echoed byte is checked against what was sent (each message carries its
//!   sequence number), and any mismatch, wrong length, wrong opcode or
//!   unexpected close fails the run with exit code 1. Reports messages/s,
//!   MB/s (payload bytes echoed, one direction), p50/p99/max round-trip
//!   latency and, with `--pid`, the server's CPU time per message from
//!   `/proc/PID/stat` (utime + stime).
//! - `handshake`: `--connections` concurrent loops of connect, handshake,
//!   close handshake. Reports handshakes/s and, with `--pid`, server CPU per
//!   handshake.
//! - `idle`: opens `--connections` connections, waits `--settle` seconds and
//!   reports the growth of the server's VmRSS (`/proc/PID/status`) per
//!   connection.
//! - `fanout`, against a fan-out server (examples/fanout.rs, or
//!   `benches/compare/node/server.js --fanout`) that sends every message
//!   it receives to every connection: opens `--connections` subscriber
//!   connections and one publisher connection (which gets every message
//!   too), and sends `--messages` messages from the publisher with at most
//!   `--window` messages' worth of copies undelivered (`window ×
//!   recipients`). Every
//!   connection checks every message it gets: content, length, type and
//!   order, with none missing (a server that drops a slow subscriber's copy
//!   fails the run). Warm-up messages, sent until every connection has
//!   received one (the server may subscribe a connection a moment after its
//!   101), are not measured. Reports copies delivered per second and, with
//!   `--pid`, the server's CPU time per delivered copy.
//! - `relay`, against two fan-out nodes joined by a broker (examples/fanout.rs
//!   with `--redis` on both), or one node alone (both URLs the same, the
//!   local baseline): opens `--connections` subscribers on node B
//!   (`--url-b`; with `--split`, every other one on node A, `--url`) and
//!   one publisher on node A, which sends binary messages at a fixed
//!   `--rate` per second (paced by the clock: each wake-up writes the
//!   messages due by then) until `--messages` or `--duration` is reached.
//!   Each message carries its sequence number and its send time; the
//!   loadgen is one process, so receive time minus send time is the
//!   publish-to-receive latency across the nodes (it includes the loadgen's
//!   own time to read the message, one thread for every connection).
//!   Delivery over a broker is at most once: a message a subscriber never
//!   gets is counted as lost, not a failure; a message out of order or
//!   twice fails the run, and so does a wrong length or content. Warm-up
//!   messages, sent every 20 ms until every subscriber has one (a node
//!   subscribes at the broker a moment after its first subscriber), are
//!   not measured. Reports copies delivered per second, p50/p99/max
//!   latency and the losses.
//!
//! The last line of output is machine-readable: `RESULT key=value ...`.
//!
//! Safety rails: loopback URLs only (127.0.0.0/8, ::1, localhost), at most
//! 20 000 connections, 600 s of traffic, 64 MiB messages (64 KiB in
//! `fanout` and `relay`, which buffer a whole message per connection), a
//! window of 4096 and 1,000,000 messages/s; every wait has a timeout.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_std::net::TcpStream;
use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use wsgate::handshake::{Limits, client_request, generate_key, parse_response, validate_response};
use wsgate::protocol::{FrameHeader, MAX_HEADER_LEN, OpCode, apply_mask};

const MAX_CONNECTIONS: usize = 20_000;
const MAX_DURATION: f64 = 600.0;
const MAX_SIZE: usize = 64 << 20;
const MAX_WINDOW: usize = 4096;
/// The largest `fanout` message: every connection holds one whole frame.
const MAX_FANOUT_SIZE: usize = 64 << 10;
/// Warm-up publishes before `fanout` gives up on a connection that never
/// gets a message.
const MAX_FANOUT_WARMUP: u64 = 200;
/// The highest `relay` rate, in messages per second.
const MAX_RATE: f64 = 1_000_000.0;
/// How long to wait for any single step (connect, handshake, a read while
/// echoes are outstanding, the close handshake).
const STEP_TIMEOUT: Duration = Duration::from_secs(15);

const USAGE: &str = "\
usage: loadgen --url ws://127.0.0.1:PORT[/path] MODE [options]

modes and options:
  echo       --connections N (1)  --size BYTES (16)  --text | --binary (binary)
             --window W (1)  --duration SECS (5) | --messages N
             --warmup SECS (0)  --pid PID
  handshake  --connections N concurrent loops (1)  --duration SECS (3)  --pid PID
  idle       --connections N (1000)  --pid PID  --settle SECS (2)  --concurrency N (64)
  fanout     --connections N subscribers (1000)  --messages M (100)  --size BYTES (64,
             16..=65536)  --text | --binary  --window W publishes in flight (1)  --pid PID
  relay      --url-b ws://127.0.0.1:PORT node B (--url is node A, the publisher's)
             --connections N subscribers on node B (100)  --split (every other one on A)
             --rate R messages/s (1000)  --duration SECS (5)  --messages M (rate x duration)
             --size BYTES (64, 16..=65536)

Loopback URLs only. The last output line is `RESULT key=value ...`.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Echo,
    Handshake,
    Idle,
    Fanout,
    Relay,
}

/// A server to connect to: where, and the Host header and path to ask for.
#[derive(Debug, Clone)]
struct Target {
    addr: SocketAddr,
    host_header: String,
    path: String,
}

#[derive(Debug, Clone)]
struct Args {
    mode: Mode,
    target: Target,
    /// Node B of `relay`.
    target_b: Option<Target>,
    rate: f64,
    split: bool,
    connections: usize,
    size: usize,
    text: bool,
    window: usize,
    duration: Option<f64>,
    messages: Option<u64>,
    warmup: f64,
    pid: Option<u32>,
    settle: f64,
    concurrency: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut url = None;
    let mut url_b = None;
    let mut rate = None;
    let mut split = false;
    let mut mode = None;
    let mut connections = None;
    let mut size = 16usize;
    let mut size_given = false;
    let mut text = false;
    let mut window = 1usize;
    let mut duration = None;
    let mut messages = None;
    let mut warmup = 0.0;
    let mut pid = None;
    let mut settle = 2.0;
    let mut concurrency = 64usize;
    let mut it = std::env::args().skip(1);
    fn num<T: std::str::FromStr>(flag: &str, v: Option<String>) -> Result<T, String> {
        let v = v.ok_or(format!("{flag} needs a value"))?;
        v.parse().map_err(|_| format!("{flag}: bad value {v:?}"))
    }
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--url" => url = Some(it.next().ok_or("--url needs a value")?),
            "--url-b" => url_b = Some(it.next().ok_or("--url-b needs a value")?),
            "--rate" => rate = Some(num::<f64>(&arg, it.next())?),
            "--split" => split = true,
            "--connections" | "-c" => connections = Some(num(&arg, it.next())?),
            "--size" | "-s" => {
                size = num(&arg, it.next())?;
                size_given = true;
            }
            "--text" => text = true,
            "--binary" => text = false,
            "--window" | "-w" => window = num(&arg, it.next())?,
            "--duration" | "-d" => duration = Some(num(&arg, it.next())?),
            "--messages" | "-n" => messages = Some(num(&arg, it.next())?),
            "--warmup" => warmup = num(&arg, it.next())?,
            "--pid" => pid = Some(num(&arg, it.next())?),
            "--settle" => settle = num(&arg, it.next())?,
            "--concurrency" => concurrency = num(&arg, it.next())?,
            "echo" => mode = Some(Mode::Echo),
            "handshake" => mode = Some(Mode::Handshake),
            "idle" => mode = Some(Mode::Idle),
            "fanout" => mode = Some(Mode::Fanout),
            "relay" => mode = Some(Mode::Relay),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}\n\n{USAGE}")),
        }
    }
    let mode = mode.ok_or(format!("no mode given\n\n{USAGE}"))?;
    let url = url.ok_or(format!("--url is required\n\n{USAGE}"))?;
    let target = parse_loopback_url(&url)?;
    let target_b = match (mode, url_b) {
        (Mode::Relay, Some(u)) => Some(parse_loopback_url(&u)?),
        (Mode::Relay, None) => return Err(format!("relay needs --url-b\n\n{USAGE}")),
        (_, Some(_)) => return Err("--url-b is for relay only".into()),
        (_, None) => None,
    };
    if mode != Mode::Relay && (rate.is_some() || split) {
        return Err("--rate and --split are for relay only".into());
    }
    let rate = rate.unwrap_or(1000.0);
    if !(1.0..=MAX_RATE).contains(&rate) {
        return Err(format!("--rate must be 1..={MAX_RATE} messages/s"));
    }
    let size = if matches!(mode, Mode::Fanout | Mode::Relay) && !size_given {
        64
    } else {
        size
    };
    let connections = connections.unwrap_or(match mode {
        Mode::Idle | Mode::Fanout => 1000,
        Mode::Relay => 100,
        _ => 1,
    });
    if connections == 0 || connections > MAX_CONNECTIONS {
        return Err(format!("--connections must be 1..={MAX_CONNECTIONS}"));
    }
    if size > MAX_SIZE {
        return Err(format!("--size must be at most {MAX_SIZE}"));
    }
    if matches!(mode, Mode::Fanout | Mode::Relay) {
        let name = if mode == Mode::Fanout {
            "fanout"
        } else {
            "relay"
        };
        // The publisher is one more connection.
        if connections >= MAX_CONNECTIONS {
            return Err(format!(
                "{name}: --connections must be 1..{MAX_CONNECTIONS} (one more is the publisher)"
            ));
        }
        // Room for the sequence number (16 hex digits in a text message;
        // in relay, the sequence number and the send time).
        if !(16..=MAX_FANOUT_SIZE).contains(&size) {
            return Err(format!("{name}: --size must be 16..={MAX_FANOUT_SIZE}"));
        }
    }
    if window == 0 || window > MAX_WINDOW {
        return Err(format!("--window must be 1..={MAX_WINDOW}"));
    }
    let messages = match mode {
        Mode::Fanout => Some(messages.unwrap_or(100)),
        _ => messages,
    };
    let duration = match (mode, duration, messages) {
        (Mode::Echo, None, None) => Some(5.0),
        (Mode::Echo, d, Some(_)) => d,
        (Mode::Handshake, None, _) => Some(3.0),
        (Mode::Relay, None, _) => Some(5.0),
        (_, d, _) => d,
    };
    for (name, secs) in [
        ("--duration", duration.unwrap_or(0.0)),
        ("--warmup", warmup),
        ("--settle", settle),
    ] {
        if !(0.0..=MAX_DURATION).contains(&secs) {
            return Err(format!("{name} must be 0..={MAX_DURATION} seconds"));
        }
    }
    if messages == Some(0) || messages.is_some_and(|n| n > 1_000_000_000) {
        return Err("--messages must be 1..=1e9".into());
    }
    if concurrency == 0 {
        return Err("--concurrency must be at least 1".into());
    }
    let messages = match mode {
        // Whichever comes first: --messages, or --duration at --rate.
        Mode::Relay => {
            let by_time = (rate * duration.unwrap_or(5.0)).ceil().max(1.0) as u64;
            Some(messages.map_or(by_time, |m| m.min(by_time)))
        }
        _ => messages,
    };
    Ok(Args {
        mode,
        target,
        target_b,
        rate,
        split,
        connections,
        size,
        text,
        window,
        duration,
        messages,
        warmup,
        pid,
        settle,
        concurrency,
    })
}

/// Splits `ws://host[:port][/path]` and refuses anything but loopback.
fn parse_loopback_url(url: &str) -> Result<Target, String> {
    let rest = url
        .strip_prefix("ws://")
        .ok_or("only ws:// URLs are supported (no TLS)")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_owned()),
        None => (rest, "/".to_owned()),
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let end = v6.find(']').ok_or("unclosed [ in URL")?;
        let port = v6[end + 1..].strip_prefix(':').unwrap_or("80");
        (&authority[..end + 2], port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, p),
            None => (authority, "80"),
        }
    };
    let port: u16 = port.parse().map_err(|_| format!("bad port {port:?}"))?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if !(bare.eq_ignore_ascii_case("localhost") || bare.parse::<std::net::IpAddr>().is_ok()) {
        return Err(format!(
            "refusing {host:?}: loopback only (127.0.0.0/8, ::1, localhost)"
        ));
    }
    let addrs: Vec<SocketAddr> = (bare, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {bare}: {e}"))?
        .collect();
    if addrs.is_empty() || addrs.iter().any(|a| !a.ip().is_loopback()) {
        return Err(format!(
            "refusing {host:?}: loopback only (127.0.0.0/8, ::1, localhost)"
        ));
    }
    Ok(Target {
        addr: addrs[0],
        host_header: authority.to_owned(),
        path,
    })
}

/// A small, fast PRNG (xorshift64*) for keys and payloads: a load generator
/// needs variety, not secrecy.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn key(&mut self) -> [u8; 4] {
        (self.next() as u32).to_ne_bytes()
    }
}

fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
}

// ---------------------------------------------------------------- /proc

/// Clock ticks per second for /proc/PID/stat (USER_HZ, practically always
/// 100 on Linux).
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process (all its threads, dead ones included), in
/// seconds.
fn process_cpu_seconds(pid: u32, hz: f64) -> io::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold
    // spaces: state is field 3, utime 14 and stime 15.
    let after = stat
        .rfind(')')
        .map(|i| &stat[i + 2..])
        .ok_or_else(|| io::Error::other("malformed /proc/PID/stat"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| -> io::Result<f64> {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .map(|t| t as f64)
            .ok_or_else(|| io::Error::other("malformed /proc/PID/stat"))
    };
    Ok((ticks(11)? + ticks(12)?) / hz)
}

/// VmRSS of a process, in KiB.
fn process_rss_kib(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| io::Error::other("no VmRSS in /proc/PID/status"))
}

/// The soft limit on open files, to fail early instead of halfway.
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

// ---------------------------------------------------------------- latency

/// A log-linear histogram of nanoseconds: 32 buckets per power of two
/// (about 3% resolution), fixed size.
#[derive(Clone)]
struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Histogram {
    const LEN: usize = 64 + 58 * 32;

    fn new() -> Histogram {
        Histogram {
            counts: vec![0; Self::LEN],
            total: 0,
            max: 0,
        }
    }

    fn index(ns: u64) -> usize {
        if ns < 64 {
            return ns as usize;
        }
        let e = 63 - ns.leading_zeros() as usize;
        let m = ((ns >> (e - 5)) - 32) as usize;
        64 + (e - 6) * 32 + m
    }

    fn lower_bound(index: usize) -> u64 {
        if index < 64 {
            return index as u64;
        }
        let e = (index - 64) / 32 + 6;
        let m = ((index - 64) % 32) as u64;
        (32 + m) << (e - 5)
    }

    fn record(&mut self, ns: u64) {
        self.counts[Self::index(ns)] += 1;
        self.total += 1;
        self.max = self.max.max(ns);
    }

    fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    /// The value at quantile `q` (0..=1), in microseconds.
    fn quantile_us(&self, q: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let rank = ((self.total as f64 * q).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let lo = Self::lower_bound(i);
                let hi = Self::lower_bound(i + 1).max(lo + 1);
                return (lo + hi) as f64 / 2.0 / 1000.0;
            }
        }
        self.max as f64 / 1000.0
    }
}

// ---------------------------------------------------------------- handshake

fn header_bytes(header: &FrameHeader) -> ([u8; MAX_HEADER_LEN], usize) {
    let mut out = [0u8; MAX_HEADER_LEN];
    let n = header.encode(&mut out);
    (out, n)
}

/// A masked frame, appended to `out`.
fn push_frame(out: &mut Vec<u8>, opcode: OpCode, payload: &[u8], key: [u8; 4]) {
    let mut header = FrameHeader::new(opcode, true, payload.len() as u64);
    header.mask = Some(key);
    let (head, n) = header_bytes(&header);
    out.extend_from_slice(&head[..n]);
    let at = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[at..], key, 0);
}

async fn with_timeout<T>(
    what: &str,
    limit: Duration,
    fut: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match async_std::future::timeout(limit, fut).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("{what}: no progress in {limit:?}"),
        )),
    }
}

/// Connects and performs the opening handshake. Returns the stream and any
/// bytes that arrived after the 101 response.
async fn open(target: &Target, rng: &mut Rng) -> io::Result<(TcpStream, Vec<u8>)> {
    with_timeout("handshake", STEP_TIMEOUT, async {
        let stream = TcpStream::connect(target.addr).await?;
        stream.set_nodelay(true)?;
        let mut random = [0u8; 16];
        random[..8].copy_from_slice(&rng.next().to_ne_bytes());
        random[8..].copy_from_slice(&rng.next().to_ne_bytes());
        let key = generate_key(random);
        let request = client_request(
            &target.host_header,
            &target.path,
            &key,
            &[],
            None,
            None,
            &[],
        );
        (&stream).write_all(&request).await?;
        let mut buf = Vec::with_capacity(512);
        let mut chunk = [0u8; 1024];
        loop {
            let n = (&stream).read(&mut chunk).await?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "server closed during the handshake",
                ));
            }
            buf.extend_from_slice(&chunk[..n]);
            match parse_response(&buf, &Limits::default()) {
                Ok(None) => continue,
                Ok(Some((raw, used))) => {
                    validate_response(&raw, &key, &[]).map_err(|e| {
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("handshake failed: {e:?}"),
                        )
                    })?;
                    return Ok((stream, buf.split_off(used)));
                }
                Err(e) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("bad handshake response: {e:?}"),
                    ));
                }
            }
        }
    })
    .await
}

/// Sends a close frame and waits for the server's close frame or the end of
/// the stream. Returns whether the server answered with a close frame.
async fn close(stream: &TcpStream, rng: &mut Rng, mut pending: Vec<u8>) -> io::Result<bool> {
    let mut out = Vec::with_capacity(16);
    push_frame(&mut out, OpCode::Close, &1000u16.to_be_bytes(), rng.key());
    with_timeout("close handshake", STEP_TIMEOUT, async {
        let mut stream = stream;
        stream.write_all(&out).await?;
        let mut chunk = vec![0u8; 64 << 10];
        let mut got_close = false;
        loop {
            // Skip whatever else is still arriving; look for the close frame.
            while let Ok(Some((header, len))) = FrameHeader::parse(&pending) {
                let total = len + header.payload_len as usize;
                if pending.len() < total {
                    break;
                }
                if header.opcode == OpCode::Close {
                    got_close = true;
                }
                pending.drain(..total);
            }
            let n = match stream.read(&mut chunk).await {
                Ok(n) => n,
                Err(e) if got_close && e.kind() == io::ErrorKind::ConnectionReset => 0,
                Err(e) => return Err(e),
            };
            if n == 0 {
                return Ok(got_close);
            }
            if pending.len() < (1 << 20) {
                pending.extend_from_slice(&chunk[..n]);
            } else if !got_close {
                pending.clear();
            }
        }
    })
    .await
}

// ---------------------------------------------------------------- echo

/// What every echo connection shares.
struct Shared {
    deadline: Option<Instant>,
    /// Messages left to send, when bounded by `--messages`.
    budget: Option<AtomicU64>,
    /// Messages echoed so far, over all connections.
    received: AtomicU64,
    /// Whether the warm-up is over (latencies are recorded after it).
    measuring: AtomicBool,
}

impl Shared {
    fn may_send(&self) -> bool {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        match &self.budget {
            None => true,
            Some(left) => left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok(),
        }
    }
}

/// The frame being read.
struct InFrame {
    opcode: OpCode,
    fin: bool,
    remaining: u64,
    control: Vec<u8>,
}

/// One echo connection, driven by a single hand-written future: it writes
/// while there is window left and reads whatever arrives, in one task, with
/// no channels or locks between a reader and a writer.
struct EchoConn {
    id: usize,
    stream: TcpStream,
    text: bool,
    size: usize,
    /// The payload every message of this connection carries, except for
    /// the sequence number stamped at its start.
    base: Vec<u8>,
    window: usize,
    rng: Rng,
    shared: Arc<Shared>,
    // Writing.
    out: Vec<u8>,
    out_at: usize,
    sent: u64,
    sending_done: bool,
    sent_at: VecDeque<Instant>,
    /// Pongs waiting for the next write.
    pending_control: Vec<u8>,
    // Reading.
    inbuf: Vec<u8>,
    start: usize,
    end: usize,
    frame: Option<InFrame>,
    /// Bytes of the current message checked so far (None between messages).
    msg_offset: Option<usize>,
    received: u64,
    latency: Histogram,
}

/// The stamp: a message's sequence number in its first bytes (16 hex digits
/// for text, 8 little-endian bytes for binary), cut to the message size.
fn stamp(seq: u64, text: bool) -> ([u8; 16], usize) {
    let mut out = [0u8; 16];
    if text {
        let hex = b"0123456789abcdef";
        for (i, b) in out.iter_mut().enumerate() {
            *b = hex[((seq >> (60 - 4 * i)) & 0xf) as usize];
        }
        (out, 16)
    } else {
        out[..8].copy_from_slice(&seq.to_le_bytes());
        (out, 8)
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

impl EchoConn {
    fn new(
        id: usize,
        stream: TcpStream,
        pipelined: Vec<u8>,
        args: &Args,
        shared: Arc<Shared>,
    ) -> EchoConn {
        let mut rng = Rng::new(clock_seed() ^ (id as u64 + 1).wrapping_mul(0x5851_F42D));
        let base: Vec<u8> = if args.text {
            const ALPHABET: &[u8] =
                b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:{}\"";
            (0..args.size)
                .map(|_| ALPHABET[(rng.next() % ALPHABET.len() as u64) as usize])
                .collect()
        } else {
            (0..args.size).map(|_| rng.next() as u8).collect()
        };
        let in_size = (args.size + MAX_HEADER_LEN).clamp(16 << 10, 256 << 10);
        let mut inbuf = vec![0u8; in_size.max(pipelined.len())];
        inbuf[..pipelined.len()].copy_from_slice(&pipelined);
        EchoConn {
            id,
            stream,
            text: args.text,
            size: args.size,
            base,
            window: args.window,
            rng,
            shared,
            out: Vec::with_capacity((args.size + MAX_HEADER_LEN).min(256 << 10)),
            out_at: 0,
            sent: 0,
            sending_done: false,
            sent_at: VecDeque::with_capacity(args.window),
            pending_control: Vec::new(),
            end: pipelined.len(),
            inbuf,
            start: 0,
            frame: None,
            msg_offset: None,
            received: 0,
            latency: Histogram::new(),
        }
    }

    /// Appends the next message, masked, to the output buffer.
    fn encode_message(&mut self) {
        let key = self.rng.key();
        let opcode = if self.text {
            OpCode::Text
        } else {
            OpCode::Binary
        };
        let mut header = FrameHeader::new(opcode, true, self.size as u64);
        header.mask = Some(key);
        let (head, n) = header_bytes(&header);
        self.out.extend_from_slice(&head[..n]);
        let at = self.out.len();
        self.out.extend_from_slice(&self.base);
        let (st, st_len) = stamp(self.sent, self.text);
        let st_len = st_len.min(self.size);
        self.out[at..at + st_len].copy_from_slice(&st[..st_len]);
        apply_mask(&mut self.out[at..], key, 0);
        self.sent += 1;
        self.sent_at.push_back(Instant::now());
    }

    /// Refills the output buffer while the window allows.
    fn refill(&mut self) {
        self.out.clear();
        self.out_at = 0;
        while !self.sending_done
            && (self.sent - self.received) < self.window as u64
            && self.out.len() < (256 << 10)
        {
            if self.shared.may_send() {
                self.encode_message();
            } else {
                self.sending_done = true;
            }
        }
    }

    /// Checks `chunk`, the bytes at `offset` of echoed message `seq`.
    fn verify(&self, seq: u64, offset: usize, chunk: &[u8]) -> io::Result<()> {
        let end = offset + chunk.len();
        if end > self.size {
            return Err(invalid(format!(
                "connection {}: message {seq} is longer than the {} bytes sent",
                self.id, self.size
            )));
        }
        let (st, st_len) = stamp(seq, self.text);
        let st_len = st_len.min(self.size);
        let mut ok = true;
        if offset < st_len {
            let upto = st_len.min(end);
            ok &= chunk[..upto - offset] == st[offset..upto];
            ok &= chunk[upto - offset..] == self.base[upto..end];
        } else {
            ok &= *chunk == self.base[offset..end];
        }
        if ok {
            Ok(())
        } else {
            let expected = |i: usize| if i < st_len { st[i] } else { self.base[i] };
            let bad = (0..chunk.len())
                .find(|&i| chunk[i] != expected(offset + i))
                .unwrap_or(0);
            Err(invalid(format!(
                "connection {}: echoed message {seq} differs at byte {}: got {:#04x}, sent {:#04x}",
                self.id,
                offset + bad,
                chunk[bad],
                expected(offset + bad)
            )))
        }
    }

    /// Processes everything buffered; returns the number of messages
    /// completed.
    fn process_input(&mut self) -> io::Result<u64> {
        let mut completed = 0;
        loop {
            let Some(frame) = &mut self.frame else {
                let (header, len) = match FrameHeader::parse(&self.inbuf[self.start..self.end]) {
                    Ok(Some(h)) => h,
                    Ok(None) => break,
                    Err(e) => {
                        return Err(invalid(format!(
                            "connection {}: bad frame header from server: {e:?}",
                            self.id
                        )));
                    }
                };
                if header.mask.is_some() || header.rsv != 0 {
                    return Err(invalid(format!(
                        "connection {}: server sent a masked frame or RSV bits",
                        self.id
                    )));
                }
                let expected_opcode = if self.text {
                    OpCode::Text
                } else {
                    OpCode::Binary
                };
                match (header.opcode, self.msg_offset) {
                    (op, None) if op == expected_opcode => {
                        if self.received >= self.sent {
                            return Err(invalid(format!(
                                "connection {}: more messages echoed than sent",
                                self.id
                            )));
                        }
                        self.msg_offset = Some(0);
                    }
                    (OpCode::Continuation, Some(_)) => {}
                    (op, _) if op.is_control() => {}
                    (op, _) => {
                        return Err(invalid(format!(
                            "connection {}: unexpected {op:?} frame (sent {expected_opcode:?})",
                            self.id
                        )));
                    }
                }
                self.start += len;
                self.frame = Some(InFrame {
                    opcode: header.opcode,
                    fin: header.fin,
                    remaining: header.payload_len,
                    control: Vec::new(),
                });
                continue;
            };
            let avail = self.end - self.start;
            let take = frame.remaining.min(avail as u64) as usize;
            if take == 0 && frame.remaining > 0 {
                break;
            }
            frame.remaining -= take as u64;
            let done = frame.remaining == 0;
            let chunk = self.start..self.start + take;
            if frame.opcode.is_control() {
                frame.control.extend_from_slice(&self.inbuf[chunk]);
            } else {
                let offset = self.msg_offset.expect("a data frame is in a message");
                self.verify(self.received, offset, &self.inbuf[chunk])?;
                self.msg_offset = Some(offset + take);
            }
            self.start += take;
            if !done {
                continue;
            }
            let frame = self.frame.take().expect("checked above");
            match frame.opcode {
                OpCode::Ping => {
                    // Answer keepalive pings; they go out with the next write.
                    let key = self.rng.key();
                    let mut pong = Vec::new();
                    push_frame(&mut pong, OpCode::Pong, &frame.control, key);
                    self.pending_control.extend_from_slice(&pong);
                }
                OpCode::Pong => {}
                OpCode::Close => {
                    let code = frame
                        .control
                        .get(..2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]));
                    return Err(invalid(format!(
                        "connection {}: server closed the connection mid-run (code {code:?}, \
                         reason {:?})",
                        self.id,
                        String::from_utf8_lossy(frame.control.get(2..).unwrap_or(&[]))
                    )));
                }
                _ if frame.fin => {
                    let len = self.msg_offset.take().unwrap_or(0);
                    if len != self.size {
                        return Err(invalid(format!(
                            "connection {}: message {} echoed with {len} bytes, sent {}",
                            self.id, self.received, self.size
                        )));
                    }
                    let at = self.sent_at.pop_front().expect("a message in flight");
                    if self.shared.measuring.load(Ordering::Relaxed) {
                        self.latency.record(at.elapsed().as_nanos() as u64);
                    }
                    self.received += 1;
                    completed += 1;
                }
                _ => {}
            }
        }
        // Make room: move a partial frame to the front.
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 && self.end == self.inbuf.len() {
            self.inbuf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        Ok(completed)
    }

    fn poll_run(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let mut progress = false;
            // Write.
            if self.out_at == self.out.len() {
                self.refill();
                if !self.pending_control.is_empty() {
                    self.out.append(&mut self.pending_control);
                }
            }
            if self.out_at < self.out.len() {
                match Pin::new(&mut &self.stream).poll_write(cx, &self.out[self.out_at..]) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                    Poll::Ready(Ok(n)) => {
                        self.out_at += n;
                        progress = true;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {}
                }
            }
            if self.sending_done && self.received == self.sent && self.out_at == self.out.len() {
                return Poll::Ready(Ok(()));
            }
            // Read.
            let end = self.end;
            match Pin::new(&mut &self.stream).poll_read(cx, &mut self.inbuf[end..]) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "connection {}: server closed the stream with {} of {} echoes \
                             outstanding",
                            self.id,
                            self.sent - self.received,
                            self.sent
                        ),
                    )));
                }
                Poll::Ready(Ok(n)) => {
                    self.end += n;
                    progress = true;
                    let done = self.process_input()?;
                    if done > 0 {
                        self.shared.received.fetch_add(done, Ordering::Relaxed);
                    }
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {}
            }
            if !progress {
                return Poll::Pending;
            }
        }
    }
}

struct EchoOutcome {
    stream: TcpStream,
    rng: Rng,
    latency: Histogram,
}

async fn echo_connection(mut conn: EchoConn, limit: Duration) -> io::Result<EchoOutcome> {
    // Outstanding echoes must keep arriving: fail if the whole run plus a
    // grace period passes.
    let id = conn.id;
    match async_std::future::timeout(limit, poll_fn(|cx| conn.poll_run(cx))).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "connection {id}: echoes still outstanding after {limit:?} ({} of {} \
                     received)",
                    conn.received, conn.sent
                ),
            ));
        }
    }
    Ok(EchoOutcome {
        stream: conn.stream,
        rng: conn.rng,
        latency: conn.latency,
    })
}

/// Opens `count` connections, at most `concurrency` handshakes at a time.
async fn open_many(
    target: &Target,
    count: usize,
    concurrency: usize,
) -> io::Result<Vec<(TcpStream, Vec<u8>)>> {
    use futures::StreamExt;
    let mut rng = Rng::new(clock_seed());
    let seeds: Vec<u64> = (0..count).map(|_| rng.next()).collect();
    let results: Vec<io::Result<(TcpStream, Vec<u8>)>> = futures::stream::iter(seeds)
        .map(|seed| async move { open(target, &mut Rng::new(seed)).await })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    results.into_iter().collect()
}

async fn close_many(streams: Vec<(TcpStream, Rng, Vec<u8>)>) -> (usize, usize) {
    use futures::StreamExt;
    let results: Vec<io::Result<bool>> = futures::stream::iter(streams)
        .map(|(stream, mut rng, pending)| async move { close(&stream, &mut rng, pending).await })
        .buffer_unordered(1024)
        .collect()
        .await;
    let clean = results.iter().filter(|r| matches!(r, Ok(true))).count();
    (clean, results.len() - clean)
}

/// `close_many` for the subscribers of `fanout` or `relay` and their
/// publisher (whatever they had pending is left behind).
async fn close_with_publisher(
    subscribers: Vec<(TcpStream, Vec<u8>)>,
    publisher: TcpStream,
    seed: &mut Rng,
) -> (usize, usize) {
    close_many(
        subscribers
            .into_iter()
            .chain([(publisher, Vec::new())])
            .map(|(stream, _)| (stream, Rng::new(seed.next()), Vec::new()))
            .collect(),
    )
    .await
}

/// Says on stderr how many of `close_many`'s close handshakes did not
/// complete, if any.
fn note_unclean(clean: usize, unclean: usize) {
    if unclean > 0 {
        eprintln!(
            "note: {unclean} of {} close handshakes incomplete",
            clean + unclean
        );
    }
}

async fn run_echo(args: &Args) -> io::Result<()> {
    let hz = clock_ticks();
    let conns = open_many(&args.target, args.connections, args.concurrency).await?;
    eprintln!(
        "echo: {} connection(s) open; {} B {} messages, window {}",
        conns.len(),
        args.size,
        if args.text { "text" } else { "binary" },
        args.window
    );
    let start = Instant::now();
    let deadline = args
        .duration
        .map(|d| start + Duration::from_secs_f64(d + args.warmup));
    let shared = Arc::new(Shared {
        deadline,
        budget: args.messages.map(AtomicU64::new),
        received: AtomicU64::new(0),
        measuring: AtomicBool::new(args.warmup == 0.0),
    });
    let limit =
        Duration::from_secs_f64(args.duration.unwrap_or(MAX_DURATION) + args.warmup) + STEP_TIMEOUT;
    let snapshot_cpu = || -> io::Result<Option<f64>> {
        args.pid.map(|pid| process_cpu_seconds(pid, hz)).transpose()
    };
    let cpu_start = snapshot_cpu()?;
    // Every connection runs in this one task, on the thread that also drives
    // the I/O reactor: no hand-offs between threads, so the client stays as
    // cheap as possible per message.
    let connections = futures::future::join_all(conns.into_iter().enumerate().map(
        |(id, (stream, pipelined))| {
            echo_connection(
                EchoConn::new(id, stream, pipelined, args, shared.clone()),
                limit,
            )
        },
    ));
    let warmup = async {
        if args.warmup > 0.0 {
            async_std::task::sleep(Duration::from_secs_f64(args.warmup)).await;
            shared.measuring.store(true, Ordering::Relaxed);
            let received = shared.received.load(Ordering::Relaxed);
            Some((snapshot_cpu(), Instant::now(), received))
        } else {
            None
        }
    };
    let (results, warm) = futures::join!(connections, warmup);
    let (cpu0, t0, received0) = match warm {
        Some((cpu, t, received)) => (cpu?, t, received),
        None => (cpu_start, start, 0),
    };
    let mut outcomes = Vec::with_capacity(results.len());
    let mut first_error = None;
    for r in results {
        match r {
            Ok(o) => outcomes.push(o),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu1 = snapshot_cpu()?;
    if let Some(e) = first_error {
        eprintln!("FAILED: {e}");
        std::process::exit(1);
    }
    let messages = shared.received.load(Ordering::Relaxed) - received0;
    let mut latency = Histogram::new();
    for o in &outcomes {
        latency.merge(&o.latency);
    }
    let (clean, unclean) = close_many(
        outcomes
            .into_iter()
            .map(|o| (o.stream, o.rng, Vec::new()))
            .collect(),
    )
    .await;
    let rate = messages as f64 / elapsed;
    let mb = rate * args.size as f64 / 1e6;
    println!(
        "echo: {messages} messages in {elapsed:.2} s: {rate:.0} msg/s, {mb:.1} MB/s each way; \
         latency p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs; every byte verified",
        latency.quantile_us(0.5),
        latency.quantile_us(0.99),
        latency.max as f64 / 1000.0
    );
    note_unclean(clean, unclean);
    let mut result = format!(
        "RESULT mode=echo connections={} size={} kind={} window={} messages={messages} \
         secs={elapsed:.3} msgs_per_s={rate:.1} mb_per_s={mb:.3} p50_us={:.1} p99_us={:.1}",
        args.connections,
        args.size,
        if args.text { "text" } else { "binary" },
        args.window,
        latency.quantile_us(0.5),
        latency.quantile_us(0.99)
    );
    if let (Some(a), Some(b)) = (cpu0, cpu1) {
        let cpu = b - a;
        let per = cpu * 1e6 / messages.max(1) as f64;
        println!(
            "server: {cpu:.2} s CPU, {per:.3} µs per message ({:.0}% of one core)",
            100.0 * cpu / elapsed
        );
        result += &format!(" server_cpu_s={cpu:.3} server_cpu_us_per_msg={per:.4}");
    }
    println!("{result}");
    Ok(())
}

// ---------------------------------------------------------------- handshake

async fn run_handshake(args: &Args) -> io::Result<()> {
    let hz = clock_ticks();
    let duration = Duration::from_secs_f64(args.duration.unwrap_or(3.0));
    let deadline = Instant::now() + duration;
    let cpu0 = args
        .pid
        .map(|pid| process_cpu_seconds(pid, hz))
        .transpose()?;
    let start = Instant::now();
    let loops = (0..args.connections).map(|i| async move {
        let mut rng = Rng::new(clock_seed() ^ (i as u64 + 7));
        let mut done = 0u64;
        while Instant::now() < deadline {
            let (stream, pending) = open(&args.target, &mut rng).await?;
            if !close(&stream, &mut rng, pending).await? {
                return Err(invalid("server did not answer the close frame".into()));
            }
            done += 1;
        }
        Ok::<u64, io::Error>(done)
    });
    let mut total = 0;
    for r in futures::future::join_all(loops).await {
        match r {
            Ok(n) => total += n,
            Err(e) => {
                eprintln!("FAILED: {e}");
                std::process::exit(1);
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu1 = args
        .pid
        .map(|pid| process_cpu_seconds(pid, hz))
        .transpose()?;
    let rate = total as f64 / elapsed;
    println!(
        "handshake: {total} handshakes (connect, upgrade, close) in {elapsed:.2} s: {rate:.0}/s \
         with {} concurrent",
        args.connections
    );
    let mut result = format!(
        "RESULT mode=handshake connections={} handshakes={total} secs={elapsed:.3} \
         per_s={rate:.1}",
        args.connections
    );
    if let (Some(a), Some(b)) = (cpu0, cpu1) {
        let cpu = b - a;
        let per = cpu * 1e6 / total.max(1) as f64;
        println!("server: {cpu:.2} s CPU, {per:.2} µs per handshake");
        result += &format!(" server_cpu_s={cpu:.3} server_cpu_us_per_handshake={per:.3}");
    }
    println!("{result}");
    Ok(())
}

// ---------------------------------------------------------------- idle

async fn run_idle(args: &Args) -> io::Result<()> {
    let rss0 = args.pid.map(process_rss_kib).transpose()?;
    let start = Instant::now();
    let conns = open_many(&args.target, args.connections, args.concurrency).await?;
    let opened = start.elapsed().as_secs_f64();
    eprintln!(
        "idle: {} connections open in {opened:.2} s; settling {} s",
        conns.len(),
        args.settle
    );
    async_std::task::sleep(Duration::from_secs_f64(args.settle)).await;
    let rss1 = args.pid.map(process_rss_kib).transpose()?;
    // Count connections still up: a server that dropped some would look
    // cheaper than it is.
    let mut alive = 0;
    for (stream, _) in &conns {
        let mut probe = [0u8; 1];
        // One non-blocking attempt: nothing to read means still open.
        if futures::FutureExt::now_or_never(stream.peek(&mut probe)).is_none() {
            alive += 1;
        }
    }
    let mut rng = Rng::new(clock_seed());
    let (clean, unclean) = close_many(
        conns
            .into_iter()
            .map(|(s, pending)| (s, Rng::new(rng.next()), pending))
            .collect(),
    )
    .await;
    println!(
        "idle: {} connections opened in {opened:.2} s ({alive} still open after settling; {clean} \
         closed cleanly, {unclean} not)",
        args.connections
    );
    let mut result = format!(
        "RESULT mode=idle connections={} alive={alive}",
        args.connections
    );
    if let (Some(a), Some(b)) = (rss0, rss1) {
        let per = (b as f64 - a as f64) / args.connections as f64;
        println!(
            "server: VmRSS {a} KiB before, {b} KiB with the connections open: {per:.2} KiB per \
             connection"
        );
        result += &format!(" rss_before_kib={a} rss_after_kib={b} kib_per_conn={per:.3}");
    }
    println!("{result}");
    if alive < args.connections {
        eprintln!(
            "FAILED: the server dropped {} idle connections",
            args.connections - alive
        );
        std::process::exit(1);
    }
    Ok(())
}

// ---------------------------------------------------------------- fanout

/// What the publisher and every receiving connection of `fanout` share.
struct Fanout {
    /// Connections that get every message: the subscribers and the
    /// publisher.
    recipients: u64,
    text: bool,
    /// Every message's payload but for the sequence number at its start.
    base: Vec<u8>,
    /// Connections that have received at least one message.
    joined: AtomicUsize,
    /// Copies of messages numbered `count_from` or later received, over all
    /// connections.
    delivered: AtomicU64,
    count_from: AtomicU64,
    /// The sequence number of the last message; a connection is done once
    /// it has it.
    last: AtomicU64,
    /// The publisher waits until `delivered` or `joined` reaches this.
    wanted: AtomicU64,
    progress: event_listener::Event,
}

impl Fanout {
    fn opcode(&self) -> OpCode {
        if self.text {
            OpCode::Text
        } else {
            OpCode::Binary
        }
    }

    /// Counts one copy of message `seq`, and wakes the publisher once the
    /// count it waits for is reached.
    fn received(&self, seq: u64, first: bool) {
        let joined = if first {
            self.joined.fetch_add(1, Ordering::SeqCst) as u64 + 1
        } else {
            0
        };
        let delivered = if seq >= self.count_from.load(Ordering::SeqCst) {
            self.delivered.fetch_add(1, Ordering::SeqCst) + 1
        } else {
            0
        };
        let wanted = self.wanted.load(Ordering::SeqCst);
        if joined >= wanted || delivered >= wanted {
            self.progress.notify(1);
        }
    }

    /// Waits until `count()` reaches `n`. Fails when it stops moving for
    /// `STEP_TIMEOUT`, or, with `give_up`, once that much time has passed.
    async fn wait_for(
        &self,
        what: &str,
        n: u64,
        count: impl Fn() -> u64,
        give_up: Option<Duration>,
    ) -> io::Result<bool> {
        self.wanted.store(n, Ordering::SeqCst);
        let started = Instant::now();
        loop {
            let before = count();
            if before >= n {
                return Ok(true);
            }
            let listener = self.progress.listen();
            if count() >= n {
                return Ok(true);
            }
            let step = give_up
                .map_or(STEP_TIMEOUT, |g| g.saturating_sub(started.elapsed()))
                .min(STEP_TIMEOUT);
            if async_std::future::timeout(step, listener).await.is_err() {
                if give_up.is_some_and(|g| started.elapsed() >= g) {
                    return Ok(false);
                }
                if count() == before {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("{what}: stuck at {before} of {n} for {STEP_TIMEOUT:?}"),
                    ));
                }
            }
        }
    }

    /// Takes a whole message received by a connection whose next message
    /// due is `next` (None before its first, which may be any warm-up
    /// message: its number is taken as given): checks and counts it.
    fn take(&self, next: &mut Option<u64>, opcode: OpCode, data: &[u8]) -> Result<(), String> {
        let seq = next.unwrap_or_else(|| {
            let (_, n) = stamp(0, self.text);
            read_stamp(&data[..n.min(data.len())], self.text)
        });
        self.check(seq, opcode, data)
            .map_err(|e| format!("{e} (message {seq})"))?;
        self.received(seq, next.is_none());
        *next = Some(seq + 1);
        Ok(())
    }

    /// Whether `data` is message `seq`; otherwise what is wrong with it.
    fn check(&self, seq: u64, opcode: OpCode, data: &[u8]) -> Result<(), String> {
        if opcode != self.opcode() {
            return Err(format!("a {opcode:?} message, sent {:?}", self.opcode()));
        }
        if data.len() != self.base.len() {
            return Err(format!("{} bytes, sent {}", data.len(), self.base.len()));
        }
        let (st, n) = stamp(seq, self.text);
        if data[..n] != st[..n] {
            return Err(match read_stamp(&data[..n], self.text) {
                got if got > seq && got != u64::MAX => format!(
                    "got message {got} where {seq} was due: the server skipped {} (dropped?)",
                    got - seq
                ),
                _ => format!("message {seq}'s sequence number is wrong"),
            });
        }
        if data[n..] != self.base[n..] {
            return Err(format!(
                "message {seq}'s content differs from what was sent"
            ));
        }
        Ok(())
    }
}

/// Reads whole messages from `stream` (after the bytes in `pending`)
/// and hands each to `on_message` with the time of the read that brought
/// it in, until `on_message` says it is done (`Ok(true)`). Answers pings
/// with `answer_pings` (the publisher's connection of `fanout` writes
/// messages, so it leaves them: it is never silent long enough to be
/// pinged). Fails on a frame longer than `max_message`, a masked frame, a
/// close, or what `on_message` refuses; a stream that ends fails with
/// `UnexpectedEof`. The buffer holds a whole frame and `room` bytes more.
async fn read_messages(
    stream: &TcpStream,
    pending: Vec<u8>,
    max_message: usize,
    room: usize,
    answer_pings: bool,
    fail: impl Fn(String) -> io::Error,
    mut on_message: impl FnMut(OpCode, &[u8], Instant) -> Result<bool, String>,
) -> io::Result<()> {
    let mut rng = Rng::new(clock_seed() ^ pending.len() as u64 ^ 0x5851_F42D);
    let mut buf = vec![0u8; (max_message + MAX_HEADER_LEN + room).max(pending.len())];
    buf[..pending.len()].copy_from_slice(&pending);
    let (mut start, mut end) = (0, pending.len());
    // The message being assembled from fragments, if any.
    let mut fragments: Option<(OpCode, Vec<u8>)> = None;
    let mut now = Instant::now();
    loop {
        while let Some((header, len)) = FrameHeader::parse(&buf[start..end])
            .map_err(|e| fail(format!("bad frame header from server: {e:?}")))?
        {
            let total = len as u64 + header.payload_len;
            if total > (max_message + MAX_HEADER_LEN) as u64 {
                return Err(fail(format!(
                    "a {}-byte frame, larger than the messages sent",
                    header.payload_len
                )));
            }
            let total = total as usize;
            if end - start < total {
                break;
            }
            if header.mask.is_some() || header.rsv != 0 {
                return Err(fail("the server sent a masked frame or RSV bits".into()));
            }
            let payload = &buf[start + len..start + total];
            let mut done = false;
            match header.opcode {
                OpCode::Ping if answer_pings => {
                    let mut pong = Vec::with_capacity(MAX_HEADER_LEN + payload.len());
                    push_frame(&mut pong, OpCode::Pong, payload, rng.key());
                    with_timeout("pong", STEP_TIMEOUT, (&mut &*stream).write_all(&pong)).await?;
                }
                OpCode::Ping | OpCode::Pong => {}
                OpCode::Close => {
                    return Err(fail(format!(
                        "the server closed the connection mid-run ({:?})",
                        String::from_utf8_lossy(payload)
                    )));
                }
                OpCode::Continuation => {
                    let Some((opcode, data)) = &mut fragments else {
                        return Err(fail("a continuation frame outside a message".into()));
                    };
                    if data.len() + payload.len() > max_message {
                        return Err(fail("a message longer than those sent".into()));
                    }
                    data.extend_from_slice(payload);
                    if header.fin {
                        done = on_message(*opcode, data, now).map_err(&fail)?;
                        fragments = None;
                    }
                }
                opcode => {
                    if fragments.is_some() {
                        return Err(fail("a new message inside a fragmented one".into()));
                    }
                    if header.fin {
                        done = on_message(opcode, payload, now).map_err(&fail)?;
                    } else {
                        fragments = Some((opcode, payload.to_vec()));
                    }
                }
            }
            start += total;
            if done {
                return Ok(());
            }
        }
        if start == end {
            (start, end) = (0, 0);
        } else if start > 0 {
            buf.copy_within(start..end, 0);
            (start, end) = (0, end - start);
        }
        let n = (&mut &*stream).read(&mut buf[end..]).await?;
        // One receive time for everything this read brought.
        now = Instant::now();
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        end += n;
    }
}

/// One receiving connection of `fanout`: reads until it has the last
/// message, checking each, and answers pings (with `answer_pings`, see
/// `read_messages`).
async fn fanout_receive(
    id: usize,
    stream: &TcpStream,
    pending: Vec<u8>,
    fan: &Fanout,
    answer_pings: bool,
) -> io::Result<()> {
    let fail = |what: String| invalid(format!("connection {id}: {what}"));
    // The next message due; None until the first arrives (it may be any
    // warm-up message, see run_fanout).
    let mut next: Option<u64> = None;
    let read = read_messages(
        stream,
        pending,
        fan.base.len(),
        4096,
        answer_pings,
        fail,
        |opcode, data, _| {
            fan.take(&mut next, opcode, data)?;
            Ok(next.is_some_and(|n| n > fan.last.load(Ordering::SeqCst)))
        },
    )
    .await;
    match read {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(fail(format!(
            "the server closed the stream before message {}",
            next.unwrap_or(0)
        ))),
        other => other,
    }
}

/// The sequence number at the start of a message; u64::MAX if unreadable
/// (the check that follows then reports it).
fn read_stamp(bytes: &[u8], text: bool) -> u64 {
    if text {
        std::str::from_utf8(bytes)
            .ok()
            .and_then(|h| u64::from_str_radix(h, 16).ok())
            .unwrap_or(u64::MAX)
    } else {
        bytes.try_into().map(u64::from_le_bytes).unwrap_or(u64::MAX)
    }
}

/// What the publisher measured.
struct FanoutMeasure {
    warmup: u64,
    secs: f64,
    cpu: Option<f64>,
}

/// The publisher of `fanout`: warm-up messages until every connection has
/// one, then one more that everyone must get (so the server has nothing
/// left to do), then the measured messages, at most `window` of them
/// undelivered.
async fn fanout_publish(
    stream: &TcpStream,
    fan: &Fanout,
    args: &Args,
    hz: f64,
) -> io::Result<FanoutMeasure> {
    let mut rng = Rng::new(clock_seed() ^ 0xF00D);
    let recipients = fan.recipients;
    let mut out = Vec::with_capacity(fan.base.len() + MAX_HEADER_LEN);
    let mut send = async |seq: u64| -> io::Result<()> {
        out.clear();
        let mut payload = fan.base.clone();
        let (st, n) = stamp(seq, fan.text);
        payload[..n].copy_from_slice(&st[..n]);
        push_frame(&mut out, fan.opcode(), &payload, rng.key());
        with_timeout("publish", STEP_TIMEOUT, (&mut &*stream).write_all(&out)).await
    };
    let joined = || fan.joined.load(Ordering::SeqCst) as u64;
    let delivered = || fan.delivered.load(Ordering::SeqCst);
    // Warm-up: the server subscribes a connection when it accepts it,
    // which can be a moment after the 101 arrived here.
    let mut seq = 0;
    loop {
        if seq == MAX_FANOUT_WARMUP {
            return Err(invalid(format!(
                "after {seq} warm-up messages only {} of {recipients} connections got one: \
                 is the server a fan-out server?",
                joined()
            )));
        }
        send(seq).await?;
        seq += 1;
        let all = fan
            .wait_for(
                "warm-up",
                recipients,
                joined,
                Some(Duration::from_millis(250)),
            )
            .await?;
        if all {
            break;
        }
    }
    // The barrier: every connection has every earlier message once it has
    // this one.
    let barrier = seq;
    let last = barrier + args.messages.expect("fanout has a message count");
    fan.last.store(last, Ordering::SeqCst);
    fan.count_from.store(barrier, Ordering::SeqCst);
    send(barrier).await?;
    fan.wait_for("barrier", recipients, delivered, None).await?;
    let snapshot_cpu = || args.pid.map(|pid| process_cpu_seconds(pid, hz)).transpose();
    let cpu0 = snapshot_cpu()?;
    let t0 = Instant::now();
    let window = args.window as u64;
    for seq in barrier + 1..=last {
        let k = seq - barrier; // 1 for the first measured message
        if k > window {
            // Message k - window is in everyone's hands (in count).
            let due = recipients * (k - window + 1);
            fan.wait_for("fan-out", due, delivered, None).await?;
        }
        send(seq).await?;
    }
    fan.wait_for(
        "fan-out",
        recipients * (last - barrier + 1),
        delivered,
        None,
    )
    .await?;
    let secs = t0.elapsed().as_secs_f64();
    let cpu1 = snapshot_cpu()?;
    Ok(FanoutMeasure {
        warmup: barrier + 1,
        secs,
        cpu: cpu0.zip(cpu1).map(|(a, b)| b - a),
    })
}

async fn run_fanout(args: &Args) -> io::Result<()> {
    let hz = clock_ticks();
    let started = Instant::now();
    let subscribers = open_many(&args.target, args.connections, args.concurrency).await?;
    // The publisher connects last, and is a recipient too.
    let (publisher, pipelined) = open(&args.target, &mut Rng::new(clock_seed() ^ 0xBEEF)).await?;
    eprintln!(
        "fanout: {} subscriber connection(s) and a publisher open in {:.2} s; {} B {} \
         messages, window {}",
        subscribers.len(),
        started.elapsed().as_secs_f64(),
        args.size,
        if args.text { "text" } else { "binary" },
        args.window
    );
    let mut seed = Rng::new(clock_seed());
    let base: Vec<u8> = if args.text {
        (0..args.size)
            .map(|_| b'a' + (seed.next() % 26) as u8)
            .collect()
    } else {
        (0..args.size).map(|_| seed.next() as u8).collect()
    };
    let fan = Fanout {
        recipients: subscribers.len() as u64 + 1,
        text: args.text,
        base,
        joined: AtomicUsize::new(0),
        delivered: AtomicU64::new(0),
        count_from: AtomicU64::new(u64::MAX),
        last: AtomicU64::new(u64::MAX),
        wanted: AtomicU64::new(u64::MAX),
        progress: event_listener::Event::new(),
    };
    // Every connection in this one task (as in `echo`); the first to fail
    // ends the run.
    let receivers =
        futures::future::try_join_all(subscribers.iter().enumerate().map(
            |(id, (stream, pending))| fanout_receive(id, stream, pending.clone(), &fan, true),
        ));
    let publisher_id = subscribers.len();
    let everything = async {
        futures::try_join!(
            fanout_publish(&publisher, &fan, args, hz),
            fanout_receive(publisher_id, &publisher, pipelined, &fan, false),
            receivers,
        )
    };
    let limit = Duration::from_secs_f64(MAX_DURATION);
    let measure = match async_std::future::timeout(limit, everything).await {
        Ok(Ok((measure, (), _))) => measure,
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("fanout: not done after {limit:?}"),
            ));
        }
    };
    let messages = args.messages.expect("fanout has a message count");
    let delivered = messages * fan.recipients;
    let (clean, unclean) = close_with_publisher(subscribers, publisher, &mut seed).await;
    let secs = measure.secs;
    let rate = delivered as f64 / secs;
    println!(
        "fanout: {messages} messages to {} connections ({} subscribers and the publisher), \
         after {} warm-up: {delivered} copies in {secs:.2} s, {rate:.0} copies/s, {:.1} \
         messages/s; every copy checked",
        fan.recipients,
        fan.recipients - 1,
        measure.warmup,
        messages as f64 / secs
    );
    note_unclean(clean, unclean);
    let mut result = format!(
        "RESULT mode=fanout subscribers={} recipients={} size={} kind={} window={} \
         messages={messages} delivered={delivered} secs={secs:.3} delivered_per_s={rate:.1}",
        fan.recipients - 1,
        fan.recipients,
        args.size,
        if args.text { "text" } else { "binary" },
        args.window
    );
    if let Some(cpu) = measure.cpu {
        let per = cpu * 1e6 / delivered as f64;
        println!(
            "server: {cpu:.2} s CPU, {per:.3} µs per delivered copy, {:.1} ms per message \
             ({:.0}% of one core)",
            cpu * 1e3 / messages as f64,
            100.0 * cpu / secs
        );
        result += &format!(" server_cpu_s={cpu:.3} server_cpu_us_per_delivery={per:.4}");
    }
    println!("{result}");
    Ok(())
}

// ---------------------------------------------------------------- relay

/// How long `relay` sends warm-up messages before it gives up on a
/// subscriber that never gets one.
const RELAY_WARMUP_LIMIT: Duration = Duration::from_secs(15);
/// After the last send, how long `relay` waits without a new copy before
/// it counts the copies still missing as lost.
const RELAY_DRAIN: Duration = Duration::from_secs(2);
/// The most messages one wake-up of the `relay` publisher writes.
const RELAY_MAX_BATCH: u64 = 4096;

/// What `relay` knows of one subscriber.
#[derive(Clone, Copy, Default)]
struct RelaySub {
    /// The last sequence number it got (warm-up or measured).
    last: Option<u64>,
    /// The next measured message due, once it has had one.
    next_measured: Option<u64>,
    /// Measured messages it never got (gaps so far; the tail is added at
    /// the end).
    lost: u64,
}

/// What the publisher and the subscribers of `relay` share. Everything
/// runs in one task, so plain cells do.
struct Relay {
    size: usize,
    /// Send times are nanoseconds since this instant.
    origin: Instant,
    /// The first measured sequence number; u64::MAX during the warm-up.
    measure_from: Cell<u64>,
    /// Subscribers that have had a message.
    joined: Cell<usize>,
    /// Measured copies received, over all subscribers.
    received: Cell<u64>,
    /// When the last measured copy arrived.
    last_receive: Cell<Option<Instant>>,
    subs: RefCell<Vec<RelaySub>>,
    /// Latency of the copies to subscribers on node B, and on node A
    /// (with `--split`).
    latency_b: RefCell<Histogram>,
    latency_a: RefCell<Histogram>,
    progress: event_listener::Event,
}

/// The filler byte at `i` of every `relay` message (after the 16 bytes of
/// sequence number and send time).
fn relay_filler(i: usize) -> u8 {
    (i as u8).wrapping_mul(31).wrapping_add(7)
}

impl Relay {
    /// A message: sequence number and send time (little-endian), then the
    /// filler.
    fn payload(&self, seq: u64, sent_ns: u64) -> Vec<u8> {
        let mut p: Vec<u8> = (0..self.size).map(relay_filler).collect();
        p[..8].copy_from_slice(&seq.to_le_bytes());
        p[8..16].copy_from_slice(&sent_ns.to_le_bytes());
        p
    }

    /// Checks and counts message `data`, received by subscriber `id` at
    /// `now`.
    fn take(
        &self,
        id: usize,
        on_b: bool,
        opcode: OpCode,
        data: &[u8],
        now: Instant,
    ) -> Result<(), String> {
        if opcode != OpCode::Binary {
            return Err(format!("a {opcode:?} message, sent Binary"));
        }
        if data.len() != self.size {
            return Err(format!("{} bytes, sent {}", data.len(), self.size));
        }
        let seq = u64::from_le_bytes(data[..8].try_into().expect("8 bytes"));
        let sent_ns = u64::from_le_bytes(data[8..16].try_into().expect("8 bytes"));
        if let Some(i) = (16..data.len()).find(|&i| data[i] != relay_filler(i)) {
            return Err(format!(
                "message {seq} differs from what was sent at byte {i}"
            ));
        }
        let mut subs = self.subs.borrow_mut();
        let sub = &mut subs[id];
        match sub.last {
            Some(last) if seq == last => return Err(format!("message {seq} twice")),
            Some(last) if seq < last => {
                return Err(format!("message {seq} after message {last}: out of order"));
            }
            Some(_) => {}
            None => self.joined.set(self.joined.get() + 1),
        }
        sub.last = Some(seq);
        let from = self.measure_from.get();
        if seq >= from {
            let due = sub.next_measured.unwrap_or(from);
            sub.lost += seq - due;
            sub.next_measured = Some(seq + 1);
            self.received.set(self.received.get() + 1);
            self.last_receive.set(Some(now));
            let sent = self.origin + Duration::from_nanos(sent_ns);
            let ns = now.saturating_duration_since(sent).as_nanos() as u64;
            if on_b {
                self.latency_b.borrow_mut().record(ns);
            } else {
                self.latency_a.borrow_mut().record(ns);
            }
        }
        self.progress.notify(1);
        Ok(())
    }
}

/// One subscriber of `relay`: reads, checks and counts every message, and
/// answers pings, until the run drops it. Returns only on an error.
async fn relay_receive(
    id: usize,
    on_b: bool,
    stream: &TcpStream,
    pending: Vec<u8>,
    relay: &Relay,
) -> io::Result<()> {
    let fail = |what: String| invalid(format!("subscriber {id}: {what}"));
    // Room for many messages per read: at high rates they come in bursts.
    let read = read_messages(
        stream,
        pending,
        relay.size,
        64 << 10,
        true,
        fail,
        |opcode, data, now| relay.take(id, on_b, opcode, data, now).map(|()| false),
    )
    .await;
    match read {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            Err(fail("the server closed the stream mid-run".into()))
        }
        other => other,
    }
}

/// Reads and discards what node A sends the publisher (its own messages:
/// it is subscribed too). Returns only on an error.
async fn relay_drain(stream: &TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        if (&mut &*stream).read(&mut buf).await? == 0 {
            return Err(invalid(
                "the server closed the publisher's stream mid-run".into(),
            ));
        }
    }
}

/// What the `relay` publisher measured.
struct RelayMeasure {
    warmup: u64,
    /// From the first measured send to the last send.
    send_secs: f64,
    /// From the first measured send to the last copy received.
    secs: f64,
    /// The most the publisher fell behind its schedule.
    behind: Duration,
}

/// The publisher of `relay`: warm-up messages every 20 ms until every
/// subscriber has one, then `messages` at `rate` per second, then a wait
/// for the copies to arrive (bounded: `RELAY_DRAIN` without a new one).
async fn relay_publish(
    stream: &TcpStream,
    relay: &Relay,
    subscribers: usize,
    args: &Args,
) -> io::Result<RelayMeasure> {
    let mut rng = Rng::new(clock_seed() ^ 0xF00D);
    let mut out = Vec::new();
    let mut seq = 0u64;
    let warm_start = Instant::now();
    while relay.joined.get() < subscribers {
        if warm_start.elapsed() > RELAY_WARMUP_LIMIT {
            return Err(invalid(format!(
                "after {seq} warm-up messages in {RELAY_WARMUP_LIMIT:?} only {} of \
                 {subscribers} subscribers got one: are both nodes on the same broker?",
                relay.joined.get()
            )));
        }
        out.clear();
        let now_ns = relay.origin.elapsed().as_nanos() as u64;
        push_frame(
            &mut out,
            OpCode::Binary,
            &relay.payload(seq, now_ns),
            rng.key(),
        );
        with_timeout("publish", STEP_TIMEOUT, (&mut &*stream).write_all(&out)).await?;
        seq += 1;
        async_std::task::sleep(Duration::from_millis(20)).await;
    }
    let warmup = seq;
    relay.measure_from.set(seq);
    let messages = args.messages.expect("relay has a message count");
    let interval = 1.0 / args.rate;
    let t0 = Instant::now();
    let mut sent = 0u64;
    let mut behind = Duration::ZERO;
    while sent < messages {
        let now = Instant::now();
        let elapsed = now.duration_since(t0).as_secs_f64();
        // Message k (from 0) is due at t0 + k / rate.
        let due = ((elapsed * args.rate).floor() as u64 + 1)
            .min(messages)
            .min(sent + RELAY_MAX_BATCH);
        if due > sent {
            let scheduled = t0 + Duration::from_secs_f64(sent as f64 * interval);
            behind = behind.max(now.saturating_duration_since(scheduled));
            out.clear();
            let now_ns = now.duration_since(relay.origin).as_nanos() as u64;
            for k in sent..due {
                push_frame(
                    &mut out,
                    OpCode::Binary,
                    &relay.payload(seq + k, now_ns),
                    rng.key(),
                );
            }
            with_timeout("publish", STEP_TIMEOUT, (&mut &*stream).write_all(&out)).await?;
            sent = due;
        }
        if sent < messages {
            let next = t0 + Duration::from_secs_f64(sent as f64 * interval);
            let wait = next.saturating_duration_since(Instant::now());
            if wait.is_zero() {
                // Behind: let the subscribers read before the next batch
                // (they run in this task).
                async_std::task::yield_now().await;
            } else {
                async_std::task::sleep(wait).await;
            }
        }
    }
    let send_secs = t0.elapsed().as_secs_f64();
    let expected = messages * subscribers as u64;
    // Wait for the copies: until all are in, or none came for RELAY_DRAIN.
    let sent_at = Instant::now();
    loop {
        if relay.received.get() >= expected {
            break;
        }
        let quiet_since = relay.last_receive.get().map_or(sent_at, |t| t.max(sent_at));
        let left = RELAY_DRAIN.saturating_sub(quiet_since.elapsed());
        if left.is_zero() {
            break;
        }
        let listener = relay.progress.listen();
        if relay.received.get() >= expected {
            break;
        }
        let _ = async_std::future::timeout(left, listener).await;
    }
    let secs = relay
        .last_receive
        .get()
        .map_or(0.0, |t| t.saturating_duration_since(t0).as_secs_f64());
    Ok(RelayMeasure {
        warmup,
        send_secs,
        secs,
        behind,
    })
}

async fn run_relay(args: &Args) -> io::Result<()> {
    let b = args.target_b.as_ref().expect("relay has node B");
    let started = Instant::now();
    // Subscriber i is on node A when --split and i is even.
    let on_b = |i: usize| !(args.split && i.is_multiple_of(2));
    let on_a_count = (0..args.connections).filter(|&i| !on_b(i)).count();
    let on_b_count = args.connections - on_a_count;
    let mut subscribers = open_many(b, on_b_count, args.concurrency).await?;
    subscribers.extend(open_many(&args.target, on_a_count, args.concurrency).await?);
    // Subscriber i is the next of its node's, in the order of `on_b`.
    let mut from_a: VecDeque<_> = subscribers.split_off(on_b_count).into();
    let mut from_b: VecDeque<_> = subscribers.into();
    let subscribers: Vec<(TcpStream, Vec<u8>)> = (0..args.connections)
        .map(|i| {
            if on_b(i) {
                from_b.pop_front().expect("counted")
            } else {
                from_a.pop_front().expect("counted")
            }
        })
        .collect();
    let (publisher, _pipelined) = open(&args.target, &mut Rng::new(clock_seed() ^ 0xBEEF)).await?;
    let same = args.target.addr == b.addr;
    eprintln!(
        "relay: {on_b_count} subscriber(s) on node B {}{}, {on_a_count} on node A {} with the \
         publisher, open in {:.2} s; {} B messages at {} per second, {} of them",
        b.addr,
        if same {
            " (the same node: no broker)"
        } else {
            ""
        },
        args.target.addr,
        started.elapsed().as_secs_f64(),
        args.size,
        args.rate,
        args.messages.expect("relay has a message count")
    );
    let relay = Relay {
        size: args.size,
        origin: Instant::now(),
        measure_from: Cell::new(u64::MAX),
        joined: Cell::new(0),
        received: Cell::new(0),
        last_receive: Cell::new(None),
        subs: RefCell::new(vec![RelaySub::default(); subscribers.len()]),
        latency_b: RefCell::new(Histogram::new()),
        latency_a: RefCell::new(Histogram::new()),
        progress: event_listener::Event::new(),
    };
    let readers = async {
        futures::try_join!(
            futures::future::try_join_all(subscribers.iter().enumerate().map(
                |(id, (stream, pending))| relay_receive(
                    id,
                    on_b(id),
                    stream,
                    pending.clone(),
                    &relay
                )
            )),
            relay_drain(&publisher),
        )
    };
    let publishing = relay_publish(&publisher, &relay, subscribers.len(), args);
    let limit = Duration::from_secs_f64(MAX_DURATION);
    let everything = async {
        futures::pin_mut!(readers, publishing);
        match futures::future::select(readers, publishing).await {
            futures::future::Either::Left((Err(e), _)) => Err(e),
            futures::future::Either::Left((Ok(_), _)) => {
                Err(invalid("relay: the readers stopped".into()))
            }
            futures::future::Either::Right((measure, _)) => measure,
        }
    };
    let measure = match async_std::future::timeout(limit, everything).await {
        Ok(r) => r?,
        Err(_) => {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("relay: not done after {limit:?}"),
            ));
        }
    };
    let messages = args.messages.expect("relay has a message count");
    let from = relay.measure_from.get();
    let end = from + messages;
    // Lost in gaps between copies received, and at the end (never
    // received after the last copy a subscriber got).
    let lost_gaps: u64 = relay.subs.borrow().iter().map(|s| s.lost).sum();
    let lost_tail: u64 = relay
        .subs
        .borrow()
        .iter()
        .map(|s| end - s.next_measured.unwrap_or(from))
        .sum();
    let lost = lost_gaps + lost_tail;
    let expected = messages * subscribers.len() as u64;
    let delivered = relay.received.get();
    debug_assert_eq!(delivered + lost, expected);
    let mut seed = Rng::new(clock_seed());
    let (clean, unclean) = close_with_publisher(subscribers, publisher, &mut seed).await;
    let secs = measure.secs;
    let rate = if secs > 0.0 {
        delivered as f64 / secs
    } else {
        0.0
    };
    let sent_rate = messages as f64 / measure.send_secs.max(1e-9);
    let loss_pct = 100.0 * lost as f64 / expected as f64;
    let mut all = relay.latency_b.borrow().clone();
    all.merge(&relay.latency_a.borrow());
    let us = |h: &Histogram| {
        (
            h.quantile_us(0.5),
            h.quantile_us(0.99),
            h.max as f64 / 1000.0,
        )
    };
    let (p50, p99, max) = us(&all);
    println!(
        "relay: {messages} messages at {} per second offered ({sent_rate:.0}/s sent, at most \
         {:.1} ms behind schedule), after {} warm-up, to {} subscribers: {delivered} of \
         {expected} copies in {secs:.2} s, {rate:.0} copies/s; lost {lost} ({loss_pct:.3}%, \
         {lost_tail} of them at the end); \
         none out of order or twice",
        args.rate,
        measure.behind.as_secs_f64() * 1e3,
        measure.warmup,
        relay.subs.borrow().len()
    );
    println!("latency, publish to receive: p50 {p50:.1} µs, p99 {p99:.1} µs, max {max:.1} µs");
    let mut result = format!(
        "RESULT mode=relay subscribers={} on_b={on_b_count} on_a={on_a_count} size={} \
         rate={} messages={messages} sent_per_s={sent_rate:.1} behind_ms={:.3} \
         expected={expected} delivered={delivered} lost={lost} lost_at_end={lost_tail} \
         loss_pct={loss_pct:.4} \
         secs={secs:.3} delivered_per_s={rate:.1} p50_us={p50:.1} p99_us={p99:.1} \
         max_us={max:.1}",
        relay.subs.borrow().len(),
        args.size,
        args.rate,
        measure.behind.as_secs_f64() * 1e3
    );
    if on_a_count > 0 && on_b_count > 0 {
        let (b50, b99, bmax) = us(&relay.latency_b.borrow());
        let (a50, a99, amax) = us(&relay.latency_a.borrow());
        println!(
            "  node B's subscribers: p50 {b50:.1} µs, p99 {b99:.1} µs, max {bmax:.1} µs; \
             node A's: p50 {a50:.1} µs, p99 {a99:.1} µs, max {amax:.1} µs"
        );
        result += &format!(
            " b_p50_us={b50:.1} b_p99_us={b99:.1} b_max_us={bmax:.1} a_p50_us={a50:.1} \
             a_p99_us={a99:.1} a_max_us={amax:.1}"
        );
    }
    note_unclean(clean, unclean);
    println!("{result}");
    Ok(())
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(2);
        }
    };
    let needed = args.connections as u64 + 65;
    if let Some(limit) = open_file_limit()
        && limit < needed
    {
        eprintln!(
            "the open-file limit is {limit}, {needed} needed: raise it (ulimit -n {needed}) or \
             use fewer connections"
        );
        std::process::exit(2);
    }
    let result = async_std::task::block_on(async {
        match args.mode {
            Mode::Echo => run_echo(&args).await,
            Mode::Handshake => run_handshake(&args).await,
            Mode::Idle => run_idle(&args).await,
            Mode::Fanout => run_fanout(&args).await,
            Mode::Relay => run_relay(&args).await,
        }
    });
    if let Err(e) = result {
        eprintln!("FAILED: {e}");
        std::process::exit(1);
    }
}
