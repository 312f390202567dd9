//! Corking, counted at the socket: the replies to what one read brought
//! are left to the writer task (not written through one by one from the
//! application's task), and a reply to a lone message writes through at
//! once; and nothing sent meanwhile waits on the application. The peer is
//! tungstenite, which puts 16 frames in one write when it is flushed once;
//! the server's TCP stream is wrapped to count its writes, and which of
//! them the application's own task made.

use std::io;
use std::net::TcpListener;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use futures::StreamExt;
use futures::io::{AsyncRead, AsyncWrite, IoSlice};
use tungstenite::Message as WsMessage;
use wsgate::{Config, Event, TcpTransport, WebSocketRequest};

use crate::common::*;

/// A TCP transport that counts the writes the socket took: all of them,
/// and those made on the application's thread (the test's own, where its
/// task runs; the writer task runs on the executor's threads).
struct CountingWrites {
    inner: TcpTransport,
    writes: Arc<Writes>,
}

#[derive(Default)]
struct Writes {
    all: AtomicUsize,
    by_application: AtomicUsize,
}

impl Writes {
    fn load(&self) -> (usize, usize) {
        (
            self.all.load(Ordering::SeqCst),
            self.by_application.load(Ordering::SeqCst),
        )
    }
}

thread_local! {
    static APPLICATION_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl CountingWrites {
    fn count(&self, poll: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        if let Poll::Ready(Ok(n)) = poll
            && n > 0
        {
            self.writes.all.fetch_add(1, Ordering::SeqCst);
            if APPLICATION_THREAD.get() {
                self.writes.by_application.fetch_add(1, Ordering::SeqCst);
            }
        }
        poll
    }
}

impl AsyncRead for CountingWrites {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountingWrites {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.count(poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.count(poll)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

const BURST: usize = 16;

/// A tungstenite client (reads bounded to 10 s) that has sent `n` text
/// messages ("{label} 0", "{label} 1", …) in one write.
fn pipeline(
    addr: std::net::SocketAddr,
    n: usize,
    label: &str,
) -> tungstenite::WebSocket<std::net::TcpStream> {
    let stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let (mut ws, _) = tungstenite::client(format!("ws://{addr}/"), stream).unwrap();
    for i in 0..n {
        ws.write(WsMessage::text(format!("{label} {i}"))).unwrap();
    }
    ws.flush().unwrap();
    ws
}

/// tungstenite sends `BURST` messages in one write and reads the echoes,
/// then `BURST` more one at a time, each after the last one's echo.
fn client(addr: std::net::SocketAddr) {
    let mut ws = pipeline(addr, BURST, "burst");
    for i in 0..BURST {
        assert_eq!(
            ws.read().unwrap(),
            WsMessage::text(format!("burst {i}")),
            "echoes in order"
        );
    }
    for i in 0..BURST {
        ws.send(WsMessage::text(format!("lone {i}"))).unwrap();
        assert_eq!(ws.read().unwrap(), WsMessage::text(format!("lone {i}")));
    }
    ws.close(None).unwrap();
    while ws.read().is_ok() {}
}

/// How many writes the burst's replies take in all depends on the
/// executor: the writer task runs once the application's task lets it, or
/// at once on another thread of a multi-threaded executor, taking what is
/// queued by then (`benches/syscalls.sh --window 16` counts the system
/// calls with the server on one core). What does not depend on it: the
/// application's task writes at most once for the 16 (the reader's
/// uncork, before it reads the socket again), where it wrote all 16
/// without corking, and once for each lone message.
#[test]
fn replies_to_one_read_are_left_to_the_writer_and_a_lone_reply_writes_through() {
    APPLICATION_THREAD.set(true);
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = blocking(move || client(addr));
        let (stream, peer_addr) = listener.accept().unwrap();
        let writes = Arc::new(Writes::default());
        let transport = CountingWrites {
            inner: TcpTransport::new(stream).unwrap(),
            writes: writes.clone(),
        };
        let request =
            WebSocketRequest::from_stream(transport, Vec::new(), peer_addr, addr, false, {
                let mut config = Config::default();
                config.ping_interval = None;
                config
            })
            .await
            .unwrap();
        let conn = request.accept(None, None).await.unwrap();
        let mut events = conn.events();
        // Writes per phase: after the 101; the burst's echoes (written
        // by the time the first lone message is handed out: the reader
        // uncorks before it reads the socket again); the lone messages'
        // echoes.
        let mut marks = vec![writes.load()];
        let mut echoed = 0;
        while let Some(event) = within("an event", events.next()).await {
            if let Event::Message(message) = event {
                if echoed == BURST {
                    marks.push(writes.load());
                }
                conn.send(message).await.unwrap();
                echoed += 1;
                if echoed == 2 * BURST {
                    marks.push(writes.load());
                }
            }
        }
        within("the client", peer).await;
        let burst = (marks[1].0 - marks[0].0, marks[1].1 - marks[0].1);
        let lone = (marks[2].0 - marks[1].0, marks[2].1 - marks[1].1);
        assert!(
            burst.1 <= 1,
            "the application wrote {} times (of {} writes) for {BURST} echoes of one read \
             (uncorked: {BURST})",
            burst.1,
            burst.0
        );
        assert_eq!(
            lone,
            (BURST, BURST),
            "each lone echo writes through at once, from the application"
        );
    });
}

/// Accepts one connection from `client` (run on a thread) with `config`.
async fn accept_with(
    client: impl FnOnce(std::net::SocketAddr) + Send + 'static,
    config: Config,
) -> (wsgate::Connection, impl std::future::Future<Output = ()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = blocking(move || client(addr));
    let (stream, peer_addr) = listener.accept().unwrap();
    let transport = TcpTransport::new(stream).unwrap();
    let request =
        WebSocketRequest::from_stream(transport, Vec::new(), peer_addr, addr, false, config)
            .await
            .unwrap();
    (request.accept(None, None).await.unwrap(), peer)
}

/// A client that puts `n` text messages in one write, then reads until
/// `replies` messages came (each read bounded in time), then closes.
fn pipelining_client(n: usize, replies: usize) -> impl FnOnce(std::net::SocketAddr) + Send {
    move |addr| {
        let mut ws = pipeline(addr, n, "request");
        let mut got = 0;
        while got < replies {
            match ws.read() {
                Ok(WsMessage::Text(_) | WsMessage::Binary(_)) => got += 1,
                Ok(_) => {}
                Err(e) => panic!("client: {got} of {replies} replies, then {e}"),
            }
        }
        let _ = ws.close(None);
        while ws.read().is_ok() {}
    }
}

/// A reply bigger than the high-water mark, to the first of two messages
/// that came in one read: the reader corked the queue, the first send is
/// queued without a write or a writer wake-up, and the second send waits
/// for room that nobody makes (the application is inside that send, not
/// polling its events, so the reader never uncorks). Without corking the
/// first reply writes through and the second send goes on. With keepalive
/// off this never ends; with the default 20 s keepalive, the writer's ping
/// frees it after 20 s.
#[test]
fn a_reply_over_the_high_water_mark_in_a_pipelined_batch_does_not_hang() {
    run(async {
        let mut config = Config::default();
        config.ping_interval = None;
        let (conn, peer) = accept_with(pipelining_client(2, 4), config).await;
        let mut events = conn.events();
        let mut answered = 0;
        while let Some(event) = within("an event", events.next()).await {
            if let Event::Message(_) = event {
                within("the big reply", conn.send(vec![7u8; 1 << 20]))
                    .await
                    .unwrap();
                within("the reply after the big one", conn.send("done"))
                    .await
                    .unwrap();
                answered += 1;
            }
        }
        assert_eq!(answered, 2);
        within("the client", peer).await;
    });
}

/// Another task pushes to the connection (a feed, as a broadcast would)
/// while the application handles the first of two pipelined messages
/// slowly. The reader corked the queue, so the pushes neither write
/// through nor wake the writer: they pile up in the queue, although the
/// client reads everything at once, until the high-water mark makes
/// `SendPolicy::Fail` refuse them (`BroadcastPolicy::Drop` would drop
/// broadcasts, `Close` would close a healthy connection with 1008). The
/// guide speaks of the handler's own replies being held, not of every
/// other sender's.
#[test]
fn pushes_from_another_task_are_not_held_by_a_slow_pipelined_message() {
    run(async {
        const PUSHES: usize = 24;
        let mut config = Config::default();
        config.ping_interval = None;
        config.send_queue_policy = wsgate::SendPolicy::Fail;
        let (conn, peer) = accept_with(pipelining_client(2, PUSHES + 2), config).await;
        let pusher = {
            let conn = conn.clone();
            async move {
                // Let the pipelined pair arrive and the first be handed out.
                sleep(std::time::Duration::from_millis(100)).await;
                for i in 0..PUSHES {
                    if let Err(e) = conn.send(vec![1u8; 64 << 10]).await {
                        panic!(
                            "push {i} of {PUSHES} refused ({} KiB queued, the client reading): {e}",
                            conn.buffered_amount() >> 10
                        );
                    }
                    sleep(std::time::Duration::from_millis(20)).await;
                }
            }
        };
        let reader = async {
            let mut events = conn.events();
            let mut first = true;
            while let Some(event) = within("an event", events.next()).await {
                if let Event::Message(_) = event {
                    if first {
                        // A slow handler: a database call, say.
                        sleep(std::time::Duration::from_millis(1500)).await;
                        first = false;
                    }
                    conn.send("reply").await.unwrap();
                }
            }
        };
        futures::future::join(pusher, reader).await;
        within("the client", peer).await;
    });
}
