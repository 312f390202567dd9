//! TCP options: socket options applied, `SO_REUSEADDR` over
//! TIME_WAIT, and IPv6 with and without `IPV6_V6ONLY`.

use std::io::{self, Write};
use std::time::Duration;

use crate::common::{self, *};
use tungstenite::Message as WsMessage;
use wsgate::{CloseCode, Server};

#[test]
fn socket_options_are_applied_and_the_server_serves() {
    common::run(async move {
        let mut config = quiet_config();
        config.tcp.backlog = 8;
        config.tcp.nodelay = false;
        config.tcp.keepalive = Some(wsgate::TcpKeepalive {
            time: Duration::from_secs(30),
            interval: Duration::from_secs(5),
            retries: 3,
        });
        config.tcp.recv_buffer_size = Some(32 << 10);
        config.tcp.send_buffer_size = Some(32 << 10);
        config.tcp.reuse_address = false;
        let ops = ops_server(config).await;
        let addr = ops.addr;
        let echoed = blocking(move || {
            let mut ws = ws_connect(addr, "/");
            let big = bytes_of_len(300_000);
            ws.send(WsMessage::binary(big.clone())).unwrap();
            matches!(ws_read_data(&mut ws), WsMessage::Binary(b) if b[..] == big[..])
        });
        assert!(within("echo", echoed).await);
        // A second, exclusive bind of the same port fails.
        let mut exclusive = quiet_config();
        exclusive.tcp.reuse_address = false;
        let err = Server::builder()
            .config(exclusive)
            .bind(addr)
            .await
            .expect_err("bound a port in use");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    })
}

#[test]
fn reuse_address_lets_a_restarted_server_bind_over_time_wait() {
    common::run(async move {
        let ops = ops_server(quiet_config()).await;
        let addr = ops.addr;
        // The server closes first, so its end of the connection sits in
        // TIME_WAIT afterwards.
        let client = blocking(move || {
            let mut s = raw_ws(addr, "/quiet/");
            let (close, _) = read_until_close(&mut s);
            s.write_all(&close_frame(1000, "")).unwrap();
            expect_end(&mut s);
            close
        });
        let acc = ops.accepted().await;
        acc.conn.close(CloseCode::NORMAL, "restart").unwrap();
        assert_eq!(
            within("the close", client).await,
            Some((1000, "restart".to_owned()))
        );
        within("the connection to end", acc.conn.closed()).await;
        ops.handle.stop_listening();
        let gone = blocking(move || listener_gone(addr));
        assert!(within("the listener to close", gone).await);

        let mut exclusive = quiet_config();
        exclusive.tcp.reuse_address = false;
        match Server::builder().config(exclusive).bind(addr).await {
            Err(e) => assert_eq!(e.kind(), io::ErrorKind::AddrInUse),
            Ok(_) => panic!("an exclusive bind succeeded over TIME_WAIT: SO_REUSEADDR was not off"),
        }
        // The default (SO_REUSEADDR on) binds, and serves.
        let again = ops_server_on(Server::builder().config(quiet_config()), &addr.to_string())
            .await
            .expect("rebind with SO_REUSEADDR");
        let served = blocking(move || {
            let mut ws = ws_connect(addr, "/");
            ws.send(WsMessage::text("back")).unwrap();
            text_of(&ws_read_data(&mut ws)).to_owned()
        });
        assert_eq!(within("the restarted server", served).await, "back");
        drop(again);
    })
}

#[test]
fn ipv6_loopback_binding_with_only_v6() {
    common::run(async move {
        if std::net::TcpListener::bind("[::1]:0").is_err() {
            eprintln!("skipped: no IPv6 loopback here");
            return;
        }
        for only_v6 in [Some(true), Some(false), None] {
            let mut config = quiet_config();
            config.tcp.only_v6 = only_v6;
            let ops = ops_server_on(Server::builder().config(config), "[::1]:0")
                .await
                .expect("bind [::1]");
            assert!(ops.addr.is_ipv6());
            let addr = ops.addr;
            let echoed = blocking(move || {
                let mut ws = ws_connect(addr, "/v6");
                ws.send(WsMessage::text("six")).unwrap();
                text_of(&ws_read_data(&mut ws)).to_owned()
            });
            assert_eq!(within("echo over IPv6", echoed).await, "six");
            let acc = ops.accepted().await;
            assert!(acc.conn.remote_addr().is_ipv6());
            assert_eq!(acc.conn.local_addr(), addr);
        }
    })
}
