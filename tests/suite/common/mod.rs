//! Shared helpers for the integration tests.
//!
//! - [`run`], [`spawn`], [`sleep`], [`timeout`]: the async runtime the crate
//!   is built for (`runtime.rs`, the only test code that names one);
//! - servers built from the public API (`servers.rs`): [`echo_server`]
//!   (echoes every message and reports every event and connection to the
//!   test), [`request_server`] (hands each `WebSocketRequest` to the test),
//!   [`app_server`] (runs an application function per request) and
//!   [`ops_server`] (an app server that echoes, rejects `/reject` and hands
//!   every connection to the test);
//! - clients: tungstenite (the independent reference client) over a std
//!   `TcpStream` (`ws.rs`), and byte-exact ones (`raw.rs`): [`RawClient`],
//!   a frame encoder and decoder, and helpers for raw std streams;
//! - [`blocking`], which runs a blocking client script on its own thread, and
//!   [`within`], which bounds every await;
//! - for what announces nothing (a counter, the registry, a listener gone,
//!   a child process's exit), polling every [`POLL`]: [`eventually`],
//!   [`poll_until`], [`listener_gone`], [`wait_child`]. Where an event
//!   exists (a connection's events, `closed()`, a channel), tests await it;
//!   the few sleeps left are the behaviour under test, pacing, or short
//!   negative checks, each with a comment;
//! - [`Redis`], a `redis-server` of the test's own, and (feature `redis`)
//!   [`redis_builder`], a server builder with a broker to it
//!   (`redis_server.rs`);
//! - [`counting`], the counting global allocator of the binaries that
//!   measure memory (tests/hostile.rs, tests/deflate.rs).
//!
//! Every wait is bounded: std sockets get read and write timeouts, and async
//! waits go through [`within`].

#![allow(dead_code)]

use std::future::Future;
use std::net::{SocketAddr, TcpStream};
use std::panic::AssertUnwindSafe;
use std::process::{Child, ExitStatus};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use wsgate::{BroadcastPolicy, CloseCode, Config, Connection, Error, Event, SendPolicy};

pub mod counting;
pub mod python;
mod raw;
mod redis_server;
mod runtime;
mod servers;
mod ws;

pub use raw::*;
// tests/hostile.rs and tests/deflate.rs start no Redis.
#[allow(unused_imports)]
pub use redis_server::*;
pub use runtime::*;
pub use servers::*;
pub use ws::*;

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

/// A quiet configuration for peers that never read: `policy` applies
/// once the send queue passes `high_water` (until it is under
/// `low_water`), and a small kernel send buffer makes it fill fast.
pub fn send_queue_config(policy: SendPolicy, high_water: usize, low_water: usize) -> Config {
    let mut config = quiet_config();
    config.send_queue_high_water = high_water;
    config.send_queue_low_water = low_water;
    config.send_queue_policy = policy;
    config.tcp.send_buffer_size = Some(16 << 10);
    config
}

/// How often [`eventually`] and [`poll_until`] look again.
pub const POLL: Duration = Duration::from_millis(5);

/// Polls `check` every [`POLL`] until it holds, failing after `limit`. For
/// a condition nothing announces (a counter, the registry); where an event
/// exists (a connection's events, `closed()`, a channel), await that.
pub async fn eventually(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        sleep(POLL).await;
    }
}

/// [`eventually`] for a blocking thread: calls `check` every [`POLL`] until
/// it holds; false if `limit` passes first.
pub fn poll_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if check() {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

/// Waits (up to [`TIMEOUT`]) until a connection to `addr` is refused: the
/// listener is gone. Nothing announces that to a client, so this polls.
pub fn listener_gone(addr: SocketAddr) -> bool {
    poll_until(TIMEOUT, || {
        TcpStream::connect_timeout(&addr, TIMEOUT)
            .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused)
    })
}

/// Waits for `child` to exit, at most `limit` (then kills it); `None` if it
/// had to be killed. std's `Child::wait` has no timeout, so this polls.
pub fn wait_child(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let mut status = None;
    if poll_until(limit, || {
        status = child.try_wait().expect("wait for a child process");
        status.is_some()
    }) {
        return status;
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// Config for peers that never read: a small high-water mark (64 KiB) and
/// small kernel buffers, so the send queue fills fast.
pub fn slow_config(policy: BroadcastPolicy) -> Config {
    let mut config = send_queue_config(SendPolicy::Wait, 64 << 10, 16 << 10);
    config.broadcast_policy = policy;
    config
}

/// Fills `conn`'s send queue to its high-water mark. The peer must not be
/// reading (and should have small socket buffers).
pub async fn fill_queue(conn: &Connection, high_water: usize) {
    let chunk = vec![0x5a_u8; 32 << 10];
    for _ in 0..2000 {
        if conn.buffered_amount() >= high_water {
            // The writer may still be moving bytes into the kernel's buffers,
            // and nothing announces when it stops: the queue must stay over
            // the mark for a moment (a negative check, kept short).
            sleep(Duration::from_millis(50)).await;
            if conn.buffered_amount() >= high_water {
                return;
            }
        }
        conn.send(chunk.clone())
            .await
            .expect("queue under the mark");
        // Pacing: the writer moves what the kernel takes before the next
        // chunk, so the queue holds only what the peer left unread.
        sleep(Duration::from_millis(1)).await;
    }
    panic!(
        "the send queue never reached {high_water} bytes (at {})",
        conn.buffered_amount()
    );
}

/// Samples `conn.buffered_amount()` every millisecond until `stop`; returns
/// the largest value seen and the sample count.
pub fn sample_queue(conn: Connection, stop: Arc<AtomicBool>) -> JoinHandle<(usize, usize)> {
    spawn(async move {
        let (mut max, mut samples) = (0, 0);
        while !stop.load(Ordering::SeqCst) {
            max = max
                .max(conn.buffered_amount())
                .max(conn.stats().queued_bytes);
            samples += 1;
            sleep(Duration::from_millis(1)).await;
        }
        (max, samples)
    })
}

/// Asserts a connection failed for its full send queue was told so: its
/// events (drains aside) are `Error::QueueFull`, then a close that is what
/// went out: the 1008 "send queue full" if it fit in the socket's buffers
/// (a peer that reads nothing takes only that much), else 1006.
pub fn assert_failed_for_full_queue(what: &str, mut events: Vec<Event>) {
    events.retain(|e| !matches!(e, Event::Drain));
    match &events[..] {
        [Event::Error(Error::QueueFull), Event::Close(close)] => assert!(
            [
                (CloseCode::POLICY_VIOLATION, "send queue full"),
                (CloseCode::ABNORMAL, "")
            ]
            .contains(&(close.code, close.reason.as_str()))
                && !close.clean,
            "{what}: {close:?}"
        ),
        other => panic!("{what}: expected an error and the close, got {other:?}"),
    }
}
