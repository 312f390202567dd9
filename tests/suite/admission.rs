//! Admission control: `max_connections`, the allow list, and
//! forwarded addresses from trusted proxies.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::common::{self, *};
use tungstenite::Message as WsMessage;
use wsgate::IpNet;

#[test]
fn max_connections_answers_503_with_retry_after() {
    common::run(async move {
        let mut config = quiet_config();
        config.max_connections = 2;
        let ops = ops_server(config).await;
        let addr = ops.addr;
        let a = within("client a", blocking(move || ws_connect(addr, "/a"))).await;
        let b = within("client b", blocking(move || ws_connect(addr, "/b"))).await;
        ops.accepted().await;
        ops.accepted().await;
        let rejected = blocking(move || ws_expect_rejection(addr, ws_request(addr, "/c")));
        let (status, headers, _) = within("client c", rejected).await;
        assert_eq!(status, 503);
        let retry = headers
            .get("retry-after")
            .expect("Retry-After")
            .to_str()
            .unwrap();
        assert!(retry.parse::<u64>().is_ok(), "Retry-After: {retry}");
        assert_eq!(ops.handle.metrics().rejected.get(&503), Some(&1));
        // One leaves; a newcomer is served again.
        let closed = blocking(move || {
            let mut a = a;
            a.close(None).unwrap();
            ws_finish_close(&mut a);
        });
        within("client a's close", closed).await;
        eventually("a slot to free up", TIMEOUT, || {
            ops.handle.connection_count() == 1
        })
        .await;
        let d = within("client d", blocking(move || ws_connect(addr, "/d"))).await;
        drop((b, d));
    })
}

/// Simultaneous handshakes must not get past `max_connections` together:
/// the check (`count + pending >= max`) and the increment are not one
/// atomic step, and a connection is counted neither as pending nor as
/// registered between `pending_ended` and `register`.
#[test]
fn max_connections_holds_under_a_burst() {
    common::run(async move {
        const ROUNDS: usize = 10;
        const CLIENTS: usize = 40;
        const MAX: usize = 5;
        for round in 0..ROUNDS {
            let mut config = quiet_config();
            config.max_connections = MAX;
            let ops = ops_server(config).await;
            let addr = ops.addr;
            let statuses = blocking(move || {
                let barrier = Arc::new(std::sync::Barrier::new(CLIENTS));
                let threads: Vec<_> = (0..CLIENTS)
                    .map(|_| {
                        let barrier = barrier.clone();
                        std::thread::spawn(move || {
                            let mut s = tcp(addr);
                            barrier.wait();
                            s.write_all(upgrade_request("/burst", "").as_bytes())
                                .unwrap();
                            let (status, _) = read_http_head(&mut s).expect("a response");
                            (status, s)
                        })
                    })
                    .collect();
                threads
                    .into_iter()
                    .map(|t| t.join().expect("client thread"))
                    .collect::<Vec<_>>()
            });
            let results = within_for(Duration::from_secs(20), "the burst", statuses).await;
            let served = results.iter().filter(|(s, _)| *s == 101).count();
            let refused = results.iter().filter(|(s, _)| *s == 503).count();
            assert_eq!(served + refused, CLIENTS, "unexpected statuses");
            assert!(
                (1..=MAX).contains(&served),
                "round {round}: {served} connections served with max_connections = {MAX}"
            );
            assert!(ops.handle.connection_count() <= MAX);
        }
    })
}

#[test]
fn allow_list_refuses_others_before_reading_and_serves_allowed_clients() {
    common::run(async move {
        let mut config = quiet_config();
        config.allow = vec!["10.0.0.0/8".parse().unwrap()];
        let ops = ops_server(config).await;
        let addr = ops.addr;
        let refused = blocking(move || {
            let mut s = tcp(addr);
            let _ = s.write_all(upgrade_request("/", "").as_bytes());
            let mut buf = [0u8; 1024];
            match s.read(&mut buf) {
                Ok(n) => assert_eq!(
                    n,
                    0,
                    "got a response: {:?}",
                    String::from_utf8_lossy(&buf[..n])
                ),
                Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}"),
            }
        });
        within("the refused client", refused).await;
        eventually("the refusal to be counted", TIMEOUT, || {
            ops.handle.metrics().refused == 1
        })
        .await;
        let metrics = ops.handle.metrics();
        assert!(metrics.rejected.is_empty(), "{metrics:?}");
        assert_eq!(metrics.accepted, 0);
        assert!(
            ops.accepted.try_recv().is_err(),
            "a refused client reached the app"
        );

        let mut config = quiet_config();
        config.allow = vec!["127.0.0.1/32".parse().unwrap()];
        let ops = ops_server(config).await;
        let addr = ops.addr;
        let served = blocking(move || {
            let mut ws = ws_connect(addr, "/");
            ws.send(WsMessage::text("allowed")).unwrap();
            text_of(&ws_read_data(&mut ws)).to_owned()
        });
        assert_eq!(within("the allowed client", served).await, "allowed");
    })
}

#[test]
fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
    common::run(async move {
        let connect = |addr: SocketAddr, header: Option<(&'static str, &'static str)>| {
            blocking(move || {
                let mut request = ws_request(addr, "/");
                if let Some((name, value)) = header {
                    request.headers_mut().insert(name, value.parse().unwrap());
                }
                let (ws, _) = ws_try_connect(addr, request, None).expect("handshake");
                let local = ws.get_ref().local_addr().unwrap();
                (ws, local)
            })
        };
        let xff = Some(("X-Forwarded-For", "203.0.113.7, 10.0.0.1"));
        let fwd = Some((
            "Forwarded",
            "for=\"[2001:db8::17]:4711\";proto=https, for=10.0.0.1",
        ));
        // A client that writes its own header cannot choose its address: the
        // hops are walked from the right, past trusted proxies only.
        let spoofed = Some(("X-Forwarded-For", "6.6.6.6, 203.0.113.9, 10.0.0.2"));
        let unknown = Some(("X-Forwarded-For", "203.0.113.7, unknown"));

        // Behind trusted proxies: us (the TCP peer) and 10.0.0.0/8.
        let mut config = quiet_config();
        config.trusted_proxies = vec![
            "127.0.0.1/32".parse::<IpNet>().unwrap(),
            "10.0.0.0/8".parse::<IpNet>().unwrap(),
        ];
        let ops = ops_server(config).await;
        let expected = [
            (xff, Some("203.0.113.7:0")),
            (fwd, Some("[2001:db8::17]:4711")),
            (spoofed, Some("203.0.113.9:0")),
            (unknown, None),
            (None, None),
        ];
        let mut clients = Vec::new();
        for (header, remote) in expected {
            let (ws, local) = within("client", connect(ops.addr, header)).await;
            let acc = ops.accepted().await;
            let remote: SocketAddr = remote.map_or(local, |r| r.parse().unwrap());
            assert_eq!(acc.conn.remote_addr(), remote, "{header:?}");
            clients.push(ws);
        }

        // The same headers from an untrusted peer are ignored.
        let mut config = quiet_config();
        config.trusted_proxies = vec!["10.0.0.0/8".parse::<IpNet>().unwrap()];
        let RequestServer {
            addr,
            handle: _handle,
            requests,
        } = request_server(config).await;
        for header in [xff, fwd] {
            let client = connect(addr, header);
            let request = within("request", requests.recv()).await.unwrap();
            assert_eq!(request.remote_addr(), request.peer_addr());
            assert!(request.remote_addr().ip().is_loopback());
            let conn = request.accept(None, None).await.expect("accept");
            let (_ws, local) = within("client", client).await;
            assert_eq!(conn.remote_addr(), local);
        }
    })
}
