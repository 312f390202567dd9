//! wsgate's connection layer on tokio: the same echo as wsgate's
//! examples/echo.rs (same limits, keepalive and deflate settings), but the
//! socket is a tokio `TcpStream` behind `tokio_util::compat`, read, written
//! and woken by tokio's edge-triggered I/O driver and scheduler instead of
//! async-io's. An experiment for `benches/compare.sh --servers
//! wsgate-tokio`: beside fastwebsockets (also on tokio) it shows what wsgate
//! itself costs, apart from its runtime.
//!
//! The handshake goes through `WebSocketRequest::from_stream` (wsgate's
//! mount path), not wsgate's own accept loop, and the TCP-only fast paths
//! (deferred accept, reading large payloads into uninitialised memory) do
//! not apply. Each connection's writer task and keepalive timer still run on
//! async-std's executor and async-io's timers; they are not woken per
//! message.

use futures_util::StreamExt;
use tokio_util::compat::TokioAsyncReadCompatExt;
use wsgate::{Config, Event, WebSocketRequest};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = wsgate_compare::addr_from_args();
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("wsgate (tokio I/O) echo server listening on ws://{addr}");
    let mut config = Config::default();
    config.max_message_size = 64 << 20;
    config.max_frame_size = 64 << 20;
    loop {
        let (stream, peer) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr()?;
        let config = config.clone();
        tokio::spawn(async move {
            let stream = stream.compat();
            let Ok(request) =
                WebSocketRequest::from_stream(stream, Vec::new(), peer, local, false, config).await
            else {
                return;
            };
            let Ok(conn) = request.accept(None, None).await else {
                return;
            };
            let mut events = conn.events();
            while let Some(event) = events.next().await {
                if let Event::Message(message) = event
                    && conn.send(message).await.is_err()
                {
                    break;
                }
            }
        });
    }
}
