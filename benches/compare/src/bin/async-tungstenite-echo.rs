//! async-tungstenite echo server on async-std (wsgate's runtime).

use async_std::net::TcpListener;
use futures_util::{StreamExt, TryStreamExt, future};

fn main() -> std::io::Result<()> {
    let addr = wsgate_compare::addr_from_args();
    async_std::task::block_on(async {
        let listener = TcpListener::bind(&addr).await?;
        println!("async-tungstenite echo server listening on ws://{addr}");
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            async_std::task::spawn(async move {
                let Ok(ws) = async_tungstenite::accept_async(stream).await else {
                    return;
                };
                let (write, read) = ws.split();
                let _ = read
                    .try_filter(|m| future::ready(m.is_text() || m.is_binary()))
                    .forward(write)
                    .await;
            });
        }
    })
}
