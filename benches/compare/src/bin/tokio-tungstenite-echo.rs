//! tokio-tungstenite echo server, as in its own echo-server example.

use futures_util::{StreamExt, TryStreamExt, future};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = wsgate_compare::addr_from_args();
    let listener = TcpListener::bind(&addr).await?;
    println!("tokio-tungstenite echo server listening on ws://{addr}");
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            let (write, read) = ws.split();
            let _ = read
                .try_filter(|m| future::ready(m.is_text() || m.is_binary()))
                .forward(write)
                .await;
        });
    }
}
