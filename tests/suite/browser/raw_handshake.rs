//! A raw 101 accepting permessage-deflate, in Chromium: the server answers
//! every handshake with `accept_raw`, the page (driven by
//! `tests/browser/raw_handshake.mjs`) sends messages that the server echoes,
//! compressed. Skipped as `chat_in_chromium` is, without Chromium, Node or
//! `npm ci`.

use std::time::Duration;

use futures::StreamExt;
use wsgate::{Config, Connection, Server};

use super::{browser_or_skip, run_browser_script};
use crate::common::{self, serve_echo, within};

/// What Chromium offers is `permessage-deflate; client_max_window_bits`:
/// the answer sets both windows and keeps both contexts.
const ANSWER: &str = "permessage-deflate; server_max_window_bits=12; client_max_window_bits=11";

#[test]
fn raw_101_with_permessage_deflate_in_chromium() {
    let Some(chromium) = browser_or_skip("raw_101_with_permessage_deflate_in_chromium") else {
        return;
    };
    let (addr, conns) = common::run(async {
        let mut server = Server::builder()
            .config(Config::default())
            .bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = server.local_addr();
        let (tx, rx) = async_channel::unbounded::<Connection>();
        common::spawn(async move {
            while let Some(request) = server.next().await {
                let response = format!(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                     Connection: Upgrade\r\nSec-WebSocket-Protocol: raw.v1\r\n\
                     Sec-WebSocket-Extensions: {ANSWER}\r\n\r\n"
                );
                let outcome = request.accept_raw(response).await;
                let conn = outcome.expect("a valid raw 101").connection().unwrap();
                let _ = tx.send(conn.clone()).await;
                common::spawn(serve_echo(conn));
            }
        });
        (addr, rx)
    });
    run_browser_script(
        &chromium,
        "raw_handshake.mjs",
        &[format!("ws://{addr}/")],
        &[
            "ok: the raw 101 is accepted: extensions \"permessage-deflate; server_max_window_bits=12; client_max_window_bits=11\"",
            "ok: the subprotocol the raw 101 names is the one in use",
            "ok: a short and a 74 KB message come back intact",
            "ok: closed with 1000",
            "done",
        ],
    );
    common::run(async move {
        let conn = within("the connection", conns.recv()).await.unwrap();
        assert_eq!(conn.extensions()[0].to_string(), ANSWER);
        common::eventually("the close", Duration::from_secs(5), || !conn.stats().open).await;
        let stats = conn.stats();
        assert_eq!(stats.messages_in, 2);
        // The 74 KB echo went out compressed, with the agreed window.
        assert!(stats.deflate_bytes_saved > 60_000, "{stats:?}");
    });
}
