//! The registry of open connections (count, lookup, `send_to`,
//! `disconnect`), with tungstenite as the client.

use crate::common::{self, *};
use tungstenite::Message as WsMessage;
use wsgate::{CloseCode, Error};

#[test]
fn registry_counts_looks_up_sends_to_and_disconnects_connections() {
    common::run(async move {
        let ops = ops_server(quiet_config()).await;
        let addr = ops.addr;
        let before = std::time::SystemTime::now();
        let mut clients = Vec::new();
        let mut accepted = Vec::new();
        for i in 0..3 {
            let client = blocking(move || {
                let mut request = ws_request(addr, &format!("/room/{i}?x=1"));
                let headers = request.headers_mut();
                headers.insert(
                    "Origin",
                    format!("https://site{i}.example").parse().unwrap(),
                );
                headers.insert("X-Client", i.to_string().parse().unwrap());
                let (ws, _) = ws_try_connect(addr, request, None).expect("handshake");
                let local = ws.get_ref().local_addr().unwrap();
                (ws, local)
            });
            clients.push(within("client", client).await);
            accepted.push(ops.accepted().await);
        }
        eventually("three registered connections", TIMEOUT, || {
            ops.handle.connection_count() == 3
        })
        .await;

        let mut listed: Vec<_> = ops.handle.connections().iter().map(|c| c.id()).collect();
        listed.sort();
        let mut expected: Vec<_> = accepted.iter().map(|a| a.conn.id()).collect();
        expected.sort();
        assert_eq!(listed, expected);

        for (i, (acc, (_, client_addr))) in accepted.iter().zip(&clients).enumerate() {
            let conn = ops.handle.connection(acc.conn.id()).expect("registered");
            assert_eq!(conn.id(), acc.conn.id());
            assert_eq!(conn.resource(), format!("/room/{i}?x=1"));
            assert_eq!(conn.host(), addr.to_string());
            assert_eq!(
                conn.origin(),
                Some(format!("https://site{i}.example").as_str())
            );
            assert_eq!(conn.header("x-client"), Some(i.to_string().as_str()));
            assert!(
                conn.headers()
                    .iter()
                    .any(|(n, v)| n.eq_ignore_ascii_case("sec-websocket-version") && v == "13")
            );
            assert_eq!(conn.remote_addr(), *client_addr);
            assert_eq!(conn.local_addr(), addr);
            assert_eq!(conn.protocol(), None);
            assert!(conn.extensions().is_empty());
            let stats = conn.stats();
            assert!(stats.open);
            assert_eq!(
                (
                    stats.messages_in,
                    stats.bytes_in,
                    stats.messages_out,
                    stats.bytes_out
                ),
                (0, 0, 0, 0)
            );
            assert_eq!(stats.queued_bytes, 0);
            assert!(stats.opened_at >= before && stats.opened_at <= std::time::SystemTime::now());
        }

        // Traffic counters: one 5-byte text message each way.
        let (mut ws0, _) = clients.remove(0);
        let ws0_back = blocking(move || {
            ws0.send(WsMessage::text("hello")).unwrap();
            assert_eq!(text_of(&ws_read_data(&mut ws0)), "hello");
            ws0
        });
        let ws0 = within("echo", ws0_back).await;
        let conn0 = accepted[0].conn.clone();
        eventually("counters after one echo", TIMEOUT, || {
            conn0.stats().bytes_out == 7
        })
        .await;
        let stats = conn0.stats();
        assert_eq!(stats.messages_in, 1);
        assert_eq!(stats.bytes_in, 11, "2 header + 4 mask + 5 payload");
        assert_eq!(stats.messages_out, 1);
        assert_eq!(stats.bytes_out, 7, "2 header + 5 payload");
        assert_eq!(stats.queued_bytes, 0);

        // send_to reaches one connection only.
        ops.handle
            .send_to(accepted[1].conn.id(), "just for you")
            .await
            .expect("send_to");
        ops.handle.broadcast("everyone").await;
        let (mut ws1, _) = clients.remove(0);
        let (ws2, _) = clients.remove(0);
        let received = blocking(move || {
            let mut ws0 = ws0;
            let first1 = text_of(&ws_read_data(&mut ws1)).to_owned();
            let second1 = text_of(&ws_read_data(&mut ws1)).to_owned();
            let first0 = text_of(&ws_read_data(&mut ws0)).to_owned();
            (ws0, ws1, [first1, second1, first0])
        });
        let (ws0, ws1, received) = within("send_to", received).await;
        assert_eq!(received, ["just for you", "everyone", "everyone"]);

        // disconnect with a code and reason the client sees.
        let id2 = accepted[2].conn.id();
        ops.handle
            .disconnect(id2, CloseCode::from(4000), "kicked")
            .expect("disconnect");
        let close = blocking(move || {
            let mut ws2 = ws2;
            ws_wait_for_close(&mut ws2)
        });
        assert_eq!(
            within("the kick", close).await,
            Some((4000, "kicked".to_owned()))
        );
        let close = accepted[2].close_event().await;
        assert_eq!(close.code.as_u16(), 4000);
        eventually(
            "the kicked connection to leave the registry",
            TIMEOUT,
            || ops.handle.connection_count() == 2,
        )
        .await;
        assert!(ops.handle.connection(id2).is_none());
        assert!(matches!(
            ops.handle.send_to(id2, "gone").await,
            Err(Error::Closed)
        ));
        assert!(matches!(
            ops.handle.disconnect(id2, CloseCode::NORMAL, ""),
            Err(Error::Closed)
        ));
        drop((ws0, ws1));
    })
}
