//! The relay between a WebSocket connection and a backend byte stream:
//! binary messages' payloads one way, the backend's reads as binary
//! messages the other, with backpressure both ways and one end for both.
//!
//! Memory stays bounded without a queue of its own: a message is read from
//! the client only once the previous one is written to the backend (a
//! backend that does not read stops the reading of the client's socket),
//! and the backend is read only while the connection's send queue is under
//! its high-water mark (a client that does not read stops the reading of
//! the backend). At most one message plus the send queue and one read are
//! in flight.

use std::future::poll_fn;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use futures::{Future, StreamExt};

use super::report::{ForwardEnd, ForwardReport};
use crate::connection::{CloseEvent, Connection, Event, Events};
use crate::protocol::{CloseCode, DataKind, Message};
use crate::runtime::Runtime;

/// How a relay runs: the settings of one [`Forward`](super::Forward),
/// resolved against the server's [`Config`](crate::Config).
pub(super) struct Settings {
    pub(super) read_size: usize,
    pub(super) forward_text: bool,
    pub(super) idle_timeout: Option<Duration>,
}

/// Why the client-to-backend side stopped.
enum Upstream {
    /// The connection's close event: the client closed, failed or left.
    Closed(CloseEvent),
    TextRefused,
    BackendFailed(std::io::ErrorKind),
}

/// Why the backend-to-client side stopped.
enum Downstream {
    Eof,
    Failed(std::io::ErrorKind),
    /// The connection can no longer send: it is closing or gone.
    ClientGone,
}

enum First {
    Up(Upstream),
    Down(Downstream),
    Idle,
    /// The connection finished (keepalive failed, the socket dropped)
    /// while neither side was looking: the client-to-backend side may be
    /// stuck writing to a backend that does not read.
    Finished,
}

/// Bytes each way and the time of the last one, shared by both sides.
struct Traffic {
    /// The clock every time here is read from.
    runtime: Runtime,
    started: Instant,
    to_backend: AtomicU64,
    to_client: AtomicU64,
    /// Milliseconds after `started` of the last byte either way.
    last: AtomicU64,
}

impl Traffic {
    fn moved(&self, counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
        let now = self.elapsed().as_millis() as u64;
        self.last.store(now, Ordering::Relaxed);
    }

    /// The time since `started`, on the runtime's clock.
    fn elapsed(&self) -> Duration {
        self.runtime.now().saturating_duration_since(self.started)
    }

    fn last(&self) -> Instant {
        self.started + Duration::from_millis(self.last.load(Ordering::Relaxed))
    }
}

/// Relays between `conn` and `backend` until one end finishes, then ends
/// the other: the backend's end of stream closes the client with 1000 once
/// what was read is sent, a backend error with 1011, a text message with
/// 1003 (unless text is forwarded), the idle timeout with 1001; the
/// client's close shuts the backend down. Returns when the WebSocket
/// connection has closed (bounded by its close timeout).
pub(super) async fn relay<B>(
    conn: Connection,
    backend: B,
    settings: Settings,
    runtime: &Runtime,
) -> ForwardReport
where
    B: AsyncRead + AsyncWrite + Unpin,
{
    let traffic = Traffic {
        runtime: runtime.clone(),
        started: runtime.now(),
        to_backend: AtomicU64::new(0),
        to_client: AtomicU64::new(0),
        last: AtomicU64::new(0),
    };
    let (mut from_backend, mut to_backend) = backend.split();
    let mut events = conn.events();
    let first = {
        let up = pin!(client_to_backend(
            &mut events,
            &mut to_backend,
            settings.forward_text,
            &traffic
        ));
        let down = pin!(backend_to_client(
            &conn,
            &mut from_backend,
            settings.read_size,
            &traffic
        ));
        let idle = pin!(idle(settings.idle_timeout, &conn, &traffic, runtime));
        let finished = pin!(conn.closed());
        first_of(up, down, idle, finished).await
    };
    let (end, close) = match &first {
        First::Up(Upstream::Closed(close)) => (ForwardEnd::ClientClosed, Some(close.clone())),
        First::Up(Upstream::TextRefused) => (ForwardEnd::TextRefused, None),
        First::Up(Upstream::BackendFailed(e)) | First::Down(Downstream::Failed(e)) => {
            (ForwardEnd::BackendFailed(*e), None)
        }
        First::Down(Downstream::Eof) => (ForwardEnd::BackendClosed, None),
        // The connection is closing or gone: its close event says how.
        First::Down(Downstream::ClientGone) | First::Finished => (ForwardEnd::ClientClosed, None),
        First::Idle => (ForwardEnd::Idle, None),
    };
    if matches!(first, First::Down(Downstream::ClientGone)) {
        // A send failed. Normally the connection is already closing and
        // this does nothing; if not (the queue was full under
        // `SendPolicy::Fail`), the client is closed rather than left open
        // with nobody relaying.
        let _ = conn.close(CloseCode::INTERNAL_ERROR, "send failed");
    }
    // The backend's side ends first: a shut-down write side tells it the
    // client is done, and dropping both halves closes the socket.
    let _ = runtime
        .timeout(Duration::from_secs(1), to_backend.close())
        .await;
    drop((from_backend, to_backend));
    if let Some(code) = end.close_code() {
        let reason = match &end {
            ForwardEnd::BackendClosed => "backend closed",
            ForwardEnd::BackendFailed(_) => "backend error",
            ForwardEnd::TextRefused => "text messages are not forwarded",
            _ => "idle",
        };
        // Fails only if the connection is already closing.
        let _ = conn.close(code, reason);
    }
    let close = match close {
        Some(close) => close,
        None => closed(&mut events).await,
    };
    ForwardReport {
        to_backend: traffic.to_backend.load(Ordering::Relaxed),
        to_client: traffic.to_client.load(Ordering::Relaxed),
        end,
        close,
        duration: traffic.elapsed(),
    }
}

/// Polls the sides until one finishes.
async fn first_of(
    mut up: impl Future<Output = Upstream> + Unpin,
    mut down: impl Future<Output = Downstream> + Unpin,
    mut idle: impl Future<Output = ()> + Unpin,
    mut finished: impl Future<Output = ()> + Unpin,
) -> First {
    poll_fn(|cx| {
        if let Poll::Ready(up) = std::pin::Pin::new(&mut up).poll(cx) {
            return Poll::Ready(First::Up(up));
        }
        if let Poll::Ready(down) = std::pin::Pin::new(&mut down).poll(cx) {
            return Poll::Ready(First::Down(down));
        }
        if std::pin::Pin::new(&mut idle).poll(cx).is_ready() {
            return Poll::Ready(First::Idle);
        }
        if std::pin::Pin::new(&mut finished).poll(cx).is_ready() {
            return Poll::Ready(First::Finished);
        }
        Poll::Pending
    })
    .await
}

/// Writes the payload of each message from the client to the backend. The
/// next message is read only after this one is written and flushed.
async fn client_to_backend<W: AsyncWrite + Unpin>(
    events: &mut Events,
    backend: &mut W,
    forward_text: bool,
    traffic: &Traffic,
) -> Upstream {
    while let Some(event) = events.next().await {
        let data = match event {
            Event::Message(Message::Binary(data)) => data,
            Event::Message(Message::Text(text)) if forward_text => text.into_bytes(),
            Event::Message(Message::Text(_)) => return Upstream::TextRefused,
            Event::Fragment(fragment) => {
                if fragment.kind == DataKind::Text && !forward_text {
                    return Upstream::TextRefused;
                }
                fragment.data
            }
            Event::Close(close) => return Upstream::Closed(close),
            Event::Error(e) => {
                log::debug!("forwarded connection: {}", crate::ErrorChain(&e));
                continue;
            }
            _ => continue,
        };
        if let Err(e) = write(backend, &data, traffic).await {
            return Upstream::BackendFailed(e.kind());
        }
    }
    Upstream::Closed(CloseEvent {
        code: CloseCode::ABNORMAL,
        reason: String::new(),
        clean: false,
    })
}

/// Writes all of `data`, counting each part the backend takes as
/// traffic (a backend reading slowly is not idle).
async fn write<W: AsyncWrite + Unpin>(
    backend: &mut W,
    mut data: &[u8],
    traffic: &Traffic,
) -> std::io::Result<()> {
    while !data.is_empty() {
        let n = backend.write(data).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        traffic.moved(&traffic.to_backend, n);
        data = &data[n..];
    }
    backend.flush().await
}

/// Sends what the backend sends as binary messages of at most `read_size`
/// bytes, reading only while the send queue is under its high-water mark.
async fn backend_to_client<R: AsyncRead + Unpin>(
    conn: &Connection,
    backend: &mut R,
    read_size: usize,
    traffic: &Traffic,
) -> Downstream {
    let high_water = conn.shared().config.send_queue_high_water;
    let mut buf = vec![0u8; read_size.max(1)];
    loop {
        if conn.buffered_amount() >= high_water && conn.writable().await.is_err() {
            return Downstream::ClientGone;
        }
        let n = match backend.read(&mut buf).await {
            Ok(0) => return Downstream::Eof,
            Ok(n) => n,
            Err(e) => return Downstream::Failed(e.kind()),
        };
        if conn.send_binary(buf[..n].to_vec()).await.is_err() {
            return Downstream::ClientGone;
        }
        traffic.moved(&traffic.to_client, n);
    }
}

/// Resolves once nothing has moved either way for `timeout`; never without
/// one. Moving is: the backend taking or giving bytes, bytes of a data
/// message arriving from the client (a large upload trickling in), or the
/// send queue draining to the client. Pings and pongs are not.
async fn idle(timeout: Option<Duration>, conn: &Connection, traffic: &Traffic, runtime: &Runtime) {
    let Some(timeout) = timeout else {
        return std::future::pending().await;
    };
    let mut queued = conn.buffered_amount();
    let mut draining = traffic.started;
    loop {
        let now_queued = conn.buffered_amount();
        if now_queued != queued {
            queued = now_queued;
            draining = runtime.now();
        }
        let last = traffic
            .last()
            .max(conn.shared().last_data_rx())
            .max(draining);
        let deadline = last + timeout;
        if runtime.now() >= deadline {
            return;
        }
        runtime.timer_at(deadline).await;
    }
}

/// Reads the connection's remaining events to its close event.
async fn closed(events: &mut Events) -> CloseEvent {
    while let Some(event) = events.next().await {
        if let Event::Close(close) = event {
            return close;
        }
    }
    CloseEvent {
        code: CloseCode::ABNORMAL,
        reason: String::new(),
        clean: false,
    }
}
