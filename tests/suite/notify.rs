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
    server.signal("-TERM");
    assert_eq!(
        ws_wait_for_close(&mut alice),
        Some((1001, "server shutting down".to_owned()))
    );
    let (status, lines) = server.wait();
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
