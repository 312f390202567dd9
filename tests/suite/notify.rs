//! `examples/notify`, run from outside as a user would: token auth by query
//! and cookie (401 with `WWW-Authenticate`), rooms over topics, notices
//! posted over HTTP, members listed from the connections' state, the page
//! and `/health` on the same port, with tungstenite and byte-exact HTTP as
//! the clients.

use tungstenite::http::HeaderValue;

use crate::common::*;
use crate::examples::{ExampleProcess, example};

fn start() -> ExampleProcess {
    let exe = example("notify").expect("the notify example builds");
    ExampleProcess::start(
        &exe,
        &["--token", "alice=a-token", "--token", "bob=b-token"],
    )
}

fn http(addr: std::net::SocketAddr, request: String) -> HttpResponse {
    raw_exchange(addr, request.as_bytes())
}

#[test]
fn notify_example_authenticates_routes_and_publishes() {
    let server = start();
    let addr = server.addr;

    // No token, a wrong one: 401 with the reason and WWW-Authenticate.
    for path in ["/rooms/lobby", "/rooms/lobby?token=nope"] {
        let (status, headers, _) = ws_expect_rejection(addr, ws_request(addr, path));
        assert_eq!(status, 401, "{path}");
        assert_eq!(headers["www-authenticate"], "Bearer realm=\"notify\"");
        assert_eq!(
            headers["x-websocket-reject-reason"],
            "unknown or missing token"
        );
    }

    // alice by query, with the subprotocol; bob by cookie, without.
    let mut request = ws_request(addr, "/rooms/lobby?token=a-token");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("notify.v1"),
    );
    let (mut alice, response) = ws_try_connect(addr, request, None).expect("alice");
    assert_eq!(response.headers()["sec-websocket-protocol"], "notify.v1");
    assert_eq!(text_of(&ws_read_data(&mut alice)), "alice joined");
    let mut request = ws_request(addr, "/rooms/lobby");
    request
        .headers_mut()
        .insert("Cookie", HeaderValue::from_static("token=b-token"));
    let (mut bob, _) = ws_try_connect(addr, request, None).expect("bob");
    assert_eq!(text_of(&ws_read_data(&mut bob)), "bob joined");
    assert_eq!(text_of(&ws_read_data(&mut alice)), "bob joined");

    // Members come from the connections' state.
    let members = http(
        addr,
        "GET /rooms/lobby/members HTTP/1.1\r\nHost: x\r\n\r\n".into(),
    );
    assert_eq!(members.status, 200);
    assert_eq!(members.body_text(), r#"["alice","bob"]"#);
    let health = http(addr, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n".into());
    assert_eq!(health.body_text(), r#"{"connections":2,"status":"ok"}"#);
    let page = http(addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n".into());
    assert_eq!(page.status, 200);
    assert!(page.body_text().contains("new WebSocket("));

    // A member's text reaches the room.
    alice.send("hello".into()).unwrap();
    assert_eq!(text_of(&ws_read_data(&mut alice)), "alice: hello");
    assert_eq!(text_of(&ws_read_data(&mut bob)), "alice: hello");

    // A notice over HTTP needs a token too.
    let body = "deploy at 5";
    let notice = |auth: &str| {
        format!(
            "POST /rooms/lobby/notify HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let refused = http(addr, notice(""));
    assert_eq!(refused.status, 401);
    assert_eq!(
        refused.header("www-authenticate"),
        Some("Bearer realm=\"notify\"")
    );
    let sent = http(addr, notice("Authorization: Bearer b-token\r\n"));
    assert_eq!(sent.status, 200);
    assert_eq!(sent.body_text(), r#"{"delivered":2}"#);
    assert_eq!(text_of(&ws_read_data(&mut alice)), "notice: deploy at 5");
    assert_eq!(text_of(&ws_read_data(&mut bob)), "notice: deploy at 5");
    let wrong_method = http(
        addr,
        "GET /rooms/lobby/notify HTTP/1.1\r\nHost: x\r\n\r\n".into(),
    );
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.header("allow"), Some("POST"));
    assert_eq!(
        wrong_method.head.lines().next(),
        Some("HTTP/1.1 405 Method Not Allowed")
    );
    assert!(
        refused.head.starts_with("HTTP/1.1 401 Unauthorized\r\n"),
        "{}",
        refused.head
    );
    let missing = http(addr, "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n".into());
    assert_eq!(missing.status, 404);

    // Leaving is announced; the graceful shutdown closes with 1001.
    bob.close(None).unwrap();
    ws_finish_close(&mut bob);
    assert_eq!(text_of(&ws_read_data(&mut alice)), "bob left");
    let (status, lines) = server.terminate_and_see_1001(&mut [&mut alice]);
    assert!(status.success(), "{lines:?}");
}

#[test]
fn notify_example_refuses_bad_flags() {
    let exe = example("notify").expect("the notify example builds");
    for flags in [
        &[][..],
        &["--token", "alice"],
        &["--token", "=x"],
        &["--token"],
        &["--bogus", "1"],
    ] {
        let out = std::process::Command::new(&exe)
            .args(flags)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flags:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("usage: notify"),
            "{flags:?}"
        );
    }
}

/// The example's application, run in memory with virtual time.
#[path = "../../examples/notify/app.rs"]
#[allow(dead_code)]
mod app;

/// Every event of `conn`, read on a task of its own (so that its pings are
/// answered), to the returned channel.
fn drain(conn: wsgate::Connection) -> async_channel::Receiver<wsgate::Event> {
    use futures::StreamExt;
    let (tx, rx) = async_channel::unbounded();
    drop(spawn(async move {
        let mut events = conn.events();
        while let Some(event) = events.next().await {
            let _ = tx.send(event).await;
        }
    }));
    rx
}

async fn next_text(events: &async_channel::Receiver<wsgate::Event>) -> String {
    loop {
        match within("an event", events.recv()).await.expect("events") {
            wsgate::Event::Message(message) => {
                return String::from_utf8(message.into_bytes()).unwrap();
            }
            wsgate::Event::Close(close) => panic!("closed: {close:?}"),
            _ => continue,
        }
    }
}

#[test]
fn notify_app_runs_in_memory_and_keepalive_drops_a_silent_member_on_the_clock() {
    use std::time::Duration;
    use wsgate::handshake::HandshakeError;
    use wsgate::runtime::Runtime;
    use wsgate::testing::{Clock, Connector};

    run(async {
        let clock = Clock::new();
        let tokens = app::Tokens::new([("alice", "a-token"), ("bob", "b-token")]);
        let server = wsgate::Server::builder()
            .router(app::router(tokens))
            .runtime(Runtime::current().with_clock(clock.clone()))
            .build();
        let connector = Connector::new(&server);
        drop(spawn(server.serve_routes()));

        let refused = connector
            .connect("/rooms/lobby?token=nope")
            .await
            .unwrap_err();
        let wsgate::Error::Handshake(HandshakeError::Rejected {
            status,
            reason,
            headers,
        }) = refused
        else {
            panic!("not a rejection: {refused:?}");
        };
        assert_eq!(
            (status, reason.as_deref()),
            (401, Some("unknown or missing token"))
        );
        assert!(headers.iter().any(|(name, value)| {
            name.eq_ignore_ascii_case("www-authenticate") && value == "Bearer realm=\"notify\""
        }));

        // alice's client sends no keepalive pings of its own: a ping from
        // her counts as a sign of life that would put off the server's
        // (both are due at 20 s, and which goes first is up to scheduling).
        let mut quiet = wsgate::Config::default();
        quiet.ping_interval = None;
        let alice = connector
            .connect_with(
                wsgate::Client::new().config(quiet).protocol(app::PROTOCOL),
                "/rooms/lobby?token=a-token",
            )
            .await
            .expect("alice");
        assert_eq!(alice.protocol(), Some(app::PROTOCOL));
        let heard = drain(alice.clone());
        assert_eq!(next_text(&heard).await, "alice joined");
        // bob, by cookie, never reads: he will not answer pings either.
        let bob = connector
            .connect_with(
                wsgate::Client::new().header("Cookie", "token=b-token"),
                "/rooms/lobby",
            )
            .await
            .expect("bob");
        assert_eq!(next_text(&heard).await, "bob joined");
        alice.send("hello").await.unwrap();
        assert_eq!(next_text(&heard).await, "alice: hello");

        // Default keepalive: a ping at 20 s, 20 s to answer. alice's task
        // answers; bob is dropped at 40 s, and the room is told.
        clock.advance(Duration::from_secs(20)).await;
        // The server's ping reaches alice's task, and no message: nobody
        // has left yet.
        match within("the server's ping", heard.recv())
            .await
            .expect("events")
        {
            wsgate::Event::Ping(_) => {}
            other => panic!("before 40 s: {other:?}"),
        }
        let events: Vec<wsgate::Event> = std::iter::from_fn(|| heard.try_recv().ok()).collect();
        assert!(events.is_empty(), "{events:?}");
        clock.advance(Duration::from_secs(20)).await;
        assert_eq!(next_text(&heard).await, "bob left");
        assert!(alice.is_open());
        drop(bob);
    });
}
