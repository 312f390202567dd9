//! Corking, counted at the socket: the replies to what one read brought go
//! out together, and a reply to a lone message writes through at once.
//! The peer is tungstenite, which puts 16 frames in one write when it is
//! flushed once; the server's TCP stream is wrapped to count its writes.

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

/// A TCP transport that counts the writes the socket took.
struct CountingWrites {
    inner: TcpTransport,
    writes: Arc<AtomicUsize>,
}

impl CountingWrites {
    fn count(&self, poll: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        if let Poll::Ready(Ok(n)) = poll
            && n > 0
        {
            self.writes.fetch_add(1, Ordering::SeqCst);
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

/// tungstenite sends `BURST` messages in one write and reads the echoes,
/// then `BURST` more one at a time, each after the last one's echo.
fn client(addr: std::net::SocketAddr) {
    let stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let (mut ws, _) = tungstenite::client(format!("ws://{addr}/"), stream).unwrap();
    for i in 0..BURST {
        ws.write(WsMessage::text(format!("burst {i}"))).unwrap();
    }
    ws.flush().unwrap();
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

#[test]
fn replies_to_one_read_share_a_write_and_a_lone_reply_writes_through() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = blocking(move || client(addr));
        let (stream, peer_addr) = listener.accept().unwrap();
        let writes = Arc::new(AtomicUsize::new(0));
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
        // Writes per phase: after the 101, the burst's echoes, the lone
        // messages' echoes.
        let mut marks = vec![writes.load(Ordering::SeqCst)];
        let mut echoed = 0;
        while let Some(event) = within("an event", events.next()).await {
            if let Event::Message(message) = event {
                conn.send(message).await.unwrap();
                echoed += 1;
                if echoed == BURST || echoed == 2 * BURST {
                    marks.push(writes.load(Ordering::SeqCst));
                }
            }
        }
        within("the client", peer).await;
        let burst = marks[1] - marks[0];
        let lone = marks[2] - marks[1];
        assert!(
            burst <= 2,
            "{burst} writes for {BURST} echoes of one read (uncorked: {BURST})"
        );
        assert_eq!(lone, BURST, "each lone echo writes through at once");
    });
}
