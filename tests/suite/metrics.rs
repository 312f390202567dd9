//! The server's counters (`ServerHandle::metrics`): handshakes,
//! traffic and closes.

use std::io::Write;

use crate::common::{self, *};
use http_types::StatusCode;
use tungstenite::Message as WsMessage;
use wsgate::CloseCode;

#[test]
fn metrics_count_handshakes_traffic_and_closes() {
    common::run(async move {
        let ops = ops_server(quiet_config()).await;
        let addr = ops.addr;
        assert_eq!(ops.handle.metrics(), wsgate::MetricsSnapshot::default());

        // Client a: one echo, then closes with 1000.
        let a = within(
            "client a",
            blocking(move || {
                let mut ws = ws_connect(addr, "/a");
                ws.send(WsMessage::text("hello")).unwrap();
                assert_eq!(text_of(&ws_read_data(&mut ws)), "hello");
                ws
            }),
        )
        .await;
        // Client b: the server disconnects it with 4001.
        let b = within("client b", blocking(move || ws_connect(addr, "/b"))).await;
        let acc_a = ops.accepted().await;
        let acc_b = ops.accepted().await;
        let conn_a = acc_a.conn.clone();
        eventually("a's counters", TIMEOUT, || conn_a.stats().bytes_out == 7).await;
        let live = ops.handle.metrics();
        assert_eq!(live.active_connections, 2);
        assert_eq!(live.accepted, 2);
        assert_eq!((live.messages_in, live.messages_out), (1, 1));
        assert_eq!((live.bytes_in, live.bytes_out), (11, 7));

        // A rejection by the application, an invalid handshake, and a client
        // that connects and leaves without a word.
        let rejected = blocking(move || ws_expect_rejection(addr, ws_request(addr, "/reject")).0);
        assert_eq!(within("rejection", rejected).await, 403);
        let bad = blocking(move || {
            raw_exchange(
                addr,
                b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Version: 13\r\n\r\n",
            )
            .status
        });
        assert_eq!(within("bad handshake", bad).await, 400);
        within("a silent client", blocking(move || drop(tcp(addr)))).await;

        let closed_a = blocking(move || {
            let mut ws = a;
            ws.close(Some(tungstenite::protocol::CloseFrame {
                code: 1000.into(),
                reason: "bye".into(),
            }))
            .unwrap();
            ws_finish_close(&mut ws);
        });
        within("a's close", closed_a).await;
        ops.handle
            .disconnect(acc_b.conn.id(), CloseCode::from(4001), "later")
            .unwrap();
        let closed_b = blocking(move || {
            let mut ws = b;
            ws_wait_for_close(&mut ws)
        });
        assert_eq!(within("b's close", closed_b).await.map(|c| c.0), Some(4001));
        eventually("no connections left", TIMEOUT, || {
            let m = ops.handle.metrics();
            m.active_connections == 0 && m.failed_handshakes == 1
        })
        .await;
        let m = ops.handle.metrics();
        assert_eq!(m.accepted, 2);
        assert_eq!(m.pending_handshakes, 0);
        assert_eq!(m.refused, 0);
        assert_eq!(m.failed_handshakes, 1);
        assert_eq!(
            m.rejected.into_iter().collect::<Vec<_>>(),
            [(400, 1), (403, 1)]
        );
        assert_eq!(
            m.closes.into_iter().collect::<Vec<_>>(),
            [(1000, 1), (4001, 1)]
        );
        assert_eq!((m.messages_in, m.messages_out), (1, 1));
        // Traffic of finished connections is kept: a's message and close (11 +
        // 11 bytes) and b's close answer came in; a's echo and both closes
        // went out.
        assert!(m.bytes_in >= 11 + 11 + 8, "{}", m.bytes_in);
        assert!(m.bytes_out >= 7 + 4 + 9, "{}", m.bytes_out);
        drop((acc_a, acc_b));

        // A request waiting for its decision counts as pending.
        let RequestServer {
            addr,
            handle,
            requests,
        } = request_server(quiet_config()).await;
        let client = blocking(move || {
            let mut s = tcp(addr);
            s.write_all(upgrade_request("/", "").as_bytes()).unwrap();
            read_http_head(&mut s).unwrap().0
        });
        let request = within("request", requests.recv()).await.unwrap();
        assert_eq!(handle.metrics().pending_handshakes, 1);
        request.reject(StatusCode::Unauthorized, "no");
        assert_eq!(within("client", client).await, 401);
        eventually("the pending count to drop", TIMEOUT, || {
            handle.metrics().pending_handshakes == 0
        })
        .await;
        assert_eq!(handle.metrics().rejected.get(&401), Some(&1));
    })
}
