//! `Server::serve`: the request loop on a task of its own, a task per
//! request, and how it stops. tungstenite is the client.

use std::net::SocketAddr;

use crate::common::{self, *};
use http_types::StatusCode;
use tungstenite::Message as WsMessage;
use wsgate::{Serve, Server, ServerHandle};

/// Connects, sends `text`, and returns what comes back.
fn echo_once(addr: SocketAddr, path: &str, text: &str) -> (Ws, String) {
    let mut ws = ws_connect(addr, path);
    ws.send(WsMessage::text(text)).expect("send");
    let reply = ws_read_data(&mut ws).into_text().expect("text").to_string();
    (ws, reply)
}

/// Serves on 127.0.0.1:0: requests for `/no` are rejected with 403, any
/// other is accepted and echoed.
async fn serve_echo_server() -> (SocketAddr, ServerHandle, Serve) {
    let server = Server::builder()
        .config(quiet_config())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let handle = server.handle();
    let serving = server.serve(|request| async move {
        if request.resource() == "/no" {
            request.reject(StatusCode::Forbidden, "not here");
            return;
        }
        if let Ok(conn) = request.accept(None, None).await {
            serve_echo(conn).await;
        }
    });
    (addr, handle, serving)
}

#[test]
fn serve_runs_the_handler_per_request_and_resolves_after_shutdown() {
    common::run(async move {
        let (addr, handle, serving) = serve_echo_server().await;
        let serving = common::spawn(serving);

        // Handlers run concurrently: eight clients hold their connections open
        // while each gets its own echo.
        let clients = (0..8)
            .map(|i| blocking(move || echo_once(addr, &format!("/{i}"), &format!("hello {i}"))));
        let results = within("eight echoes", futures::future::join_all(clients)).await;
        for (i, (_, reply)) in results.iter().enumerate() {
            assert_eq!(reply, &format!("hello {i}"));
        }
        assert_eq!(handle.connection_count(), 8);

        // The handler's decision reaches the client.
        let (status, headers, _) = within(
            "a rejection",
            blocking(move || ws_expect_rejection(addr, ws_request(addr, "/no"))),
        )
        .await;
        assert_eq!(status, 403);
        assert_eq!(headers["x-websocket-reject-reason"], "not here");

        // Shutdown closes every connection with 1001 (the clients answer on
        // their threads) and ends the loop.
        let closes = blocking(move || {
            results
                .into_iter()
                .map(|(mut ws, _)| ws_finish_close(&mut ws).map(|f| u16::from(f.code)))
                .collect::<Vec<_>>()
        });
        let report = within("shutdown", handle.shutdown(TIMEOUT)).await;
        assert_eq!((report.clean, report.forced), (8, 0));
        within("serve to resolve", serving).await;
        assert_eq!(
            within("the clients' closes", closes).await,
            vec![Some(1001); 8]
        );
        assert!(
            within(
                "the listener to close",
                blocking(move || listener_gone(addr))
            )
            .await
        );
    })
}

#[test]
fn dropping_serve_stops_listening_and_keeps_open_connections() {
    common::run(async move {
        let (addr, handle, serving) = serve_echo_server().await;
        let (ws, reply) = within("an echo", blocking(move || echo_once(addr, "/", "first"))).await;
        assert_eq!(reply, "first");

        drop(serving);
        assert!(
            within(
                "the listener to close",
                blocking(move || listener_gone(addr))
            )
            .await
        );
        // The open connection and its handler are not the loop's: they go on.
        let (_ws, reply) = within(
            "an echo after the drop",
            blocking(move || {
                let mut ws = ws;
                ws.send(WsMessage::text("second")).expect("send");
                let reply = ws_read_data(&mut ws).into_text().expect("text").to_string();
                (ws, reply)
            }),
        )
        .await;
        assert_eq!(reply, "second");
        assert_eq!(handle.connection_count(), 1);
    })
}

#[test]
fn serve_resolves_when_the_server_stops_listening() {
    common::run(async move {
        let server = Server::bind("127.0.0.1:0").await.unwrap();
        let handle = server.handle();
        let serving = server.serve(|request| async move { drop(request) });
        handle.stop_listening();
        within("serve to resolve", serving).await;
    })
}
