//! The chat example (examples/chat/), end to end.
//!
//! The server runs in this process: the example's modules are compiled into
//! this test with `#[path]`, and each test starts its own on a free port.
//!
//! - The handshake rules, the JSON protocol and the limits, seen by a plain
//!   client (tungstenite). These always run.
//! - [`chat_in_chromium`]: the page in headless Chromium, driven by
//!   `tests/browser/chat.mjs` (Node and playwright-core). Without
//!   `/usr/bin/chromium` (or `$CHROMIUM`), `node`, or
//!   `tests/browser/node_modules` (`npm ci` there), it prints
//!   "chat_in_chromium skipped: <why>" and passes, unless
//!   `WSGATE_REQUIRE_BROWSER=1` (as CI sets it), which makes that a failure.
//!   `CHAT_SCREENSHOT=/tmp/chat.png` saves a screenshot of a conversation.
//! - [`cluster`] (feature `redis`): two chat servers sharing a Redis of the
//!   test's own, with a plain client and in Chromium.
//! - [`forward`]: a page in Chromium talking to redis-server through
//!   `examples/forward`.
//! - [`raw_handshake`] (feature `deflate`): a raw 101 accepting
//!   permessage-deflate (`WebSocketRequest::accept_raw`), in Chromium.

#[path = "../../examples/chat/main.rs"]
#[allow(dead_code)]
mod chat;
#[cfg(feature = "redis")]
mod cluster;
mod forward;
#[cfg(feature = "deflate")]
mod raw_handshake;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::Request;
use tungstenite::http::HeaderValue;
use tungstenite::protocol::CloseFrame;

use crate::common::{
    self, TIMEOUT, Ws, poll_until, raw_exchange, wait_child, ws_request, ws_try_connect,
};

/// How long the whole browser run may take.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(180);

/// Starts a chat server on a free port of 127.0.0.1.
fn start_chat() -> SocketAddr {
    common::run(async {
        let room = Arc::new(chat::room::Room::new());
        let server = chat::server::builder(room.clone())
            .bind("127.0.0.1:0")
            .await
            .expect("bind the chat server");
        let addr = server.local_addr();
        common::spawn(chat::server::serve(server, room));
        addr
    })
}

/// A handshake request for `path`, offering the chat protocol.
fn chat_request(addr: SocketAddr, path: &str) -> Request {
    let mut request = ws_request(addr, path);
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("chat"));
    request
}

/// The handshake's outcome: the socket, or the refusal's status and reason.
fn handshake(addr: SocketAddr, request: Request) -> Result<Ws, (u16, String)> {
    match ws_try_connect(addr, request, None) {
        Ok((ws, response)) => {
            let protocol = response.headers().get("Sec-WebSocket-Protocol");
            assert_eq!(protocol.and_then(|p| p.to_str().ok()), Some("chat"));
            Ok(ws)
        }
        Err(tungstenite::Error::Http(response)) => {
            let reason = response
                .headers()
                .get("X-WebSocket-Reject-Reason")
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default();
            Err((response.status().as_u16(), reason))
        }
        Err(e) => panic!("handshake failed: {e:?}"),
    }
}

fn refused(addr: SocketAddr, request: Request) -> (u16, String) {
    match handshake(addr, request) {
        Ok(_) => panic!("the handshake was accepted"),
        Err(refusal) => refusal,
    }
}

/// Joins as `nick` and reads the welcome: who is online, and the history.
fn join(addr: SocketAddr, nick: &str) -> (Ws, Vec<String>, Vec<Value>) {
    let mut ws = handshake(addr, chat_request(addr, &format!("/chat?nick={nick}")))
        .unwrap_or_else(|(status, reason)| panic!("{nick} refused: {status} {reason}"));
    let users = read_json(&mut ws);
    assert_eq!(users["type"], "users");
    let users = serde_json::from_value(users["users"].clone()).unwrap();
    let history = read_json(&mut ws);
    assert_eq!(history["type"], "history");
    let history = history["messages"].as_array().unwrap().clone();
    assert_eq!(read_json(&mut ws), json!({ "type": "join", "nick": nick }));
    (ws, users, history)
}

fn read_json(ws: &mut Ws) -> Value {
    for _ in 0..100 {
        match ws.read().expect("read") {
            tungstenite::Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            tungstenite::Message::Close(frame) => panic!("closed: {frame:?}"),
            _ => {}
        }
    }
    panic!("no text message among 100 frames");
}

fn say(ws: &mut Ws, text: &str) {
    let json = json!({ "type": "message", "text": text }).to_string();
    ws.send(tungstenite::Message::text(json)).expect("send");
}

/// Reads until the server's close frame, ignoring messages before it.
fn read_close(ws: &mut Ws) -> CloseFrame {
    for _ in 0..1000 {
        match ws.read() {
            Ok(tungstenite::Message::Close(Some(frame))) => {
                // tungstenite queues its answer to the close until the next
                // read or flush: send it now, or the server waits out its
                // close timeout (5 s) before the member leaves.
                let _ = ws.flush();
                return frame;
            }
            Ok(tungstenite::Message::Close(None)) => panic!("close without a code"),
            Ok(_) => {}
            Err(e) => panic!("no close frame: {e:?}"),
        }
    }
    panic!("no close frame among 1000 messages");
}

/// A plain HTTP/1.1 request; returns the status and the body.
fn http(addr: SocketAddr, method: &str, target: &str) -> (u16, String) {
    let request =
        format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let response = raw_exchange(addr, request.as_bytes());
    assert!(
        response.header("Content-Length").is_some(),
        "no Content-Length: {}",
        response.head
    );
    (
        response.status,
        String::from_utf8(response.body).expect("UTF-8 body"),
    )
}

#[test]
fn refusals_carry_a_status_and_a_reason() {
    let addr = start_chat();

    let (status, reason) = refused(addr, chat_request(addr, "/elsewhere?nick=ann"));
    assert_eq!(
        (status, reason.as_str()),
        (404, "no such endpoint: the chat is at /chat")
    );

    let mut request = format!("ws://{addr}/chat?nick=ann")
        .into_client_request()
        .unwrap();
    let (status, reason) = refused(addr, request.clone());
    assert_eq!(
        (status, reason.as_str()),
        (400, "the chat protocol is required")
    );
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("superchat"),
    );
    assert_eq!(refused(addr, request).0, 400);

    let mut request = chat_request(addr, "/chat?nick=ann");
    request
        .headers_mut()
        .insert("Origin", HeaderValue::from_static("http://evil.example"));
    let (status, reason) = refused(addr, request);
    assert_eq!(status, 403);
    assert!(reason.contains("http://evil.example"), "{reason}");

    for (path, wanted) in [
        ("/chat", "a nickname is required"),
        ("/chat?nick=", "a nickname is required"),
        ("/chat?nick=two%20words", "may only contain"),
        ("/chat?nick=%3Cb%3E", "may only contain"),
        (
            "/chat?nick=abcdefghijklmnopqrstuvwxy",
            "at most 24 characters",
        ),
    ] {
        let (status, reason) = refused(addr, chat_request(addr, path));
        assert_eq!(status, 400, "{path}");
        assert!(reason.contains(wanted), "{path}: {reason}");
    }

    // The page's own origin is welcome, and nicknames may be Unicode.
    let mut request = chat_request(addr, "/chat?nick=Zo%C3%AB");
    let origin = HeaderValue::from_str(&format!("http://{addr}")).unwrap();
    request.headers_mut().insert("Origin", origin);
    let mut zoe = handshake(addr, request).unwrap_or_else(|refusal| panic!("{refusal:?}"));
    let users = read_json(&mut zoe);
    assert_eq!(users, json!({ "type": "users", "users": ["Zoë"] }));

    // Nicknames are unique, ignoring case.
    let (status, reason) = refused(addr, chat_request(addr, "/chat?nick=zoË"));
    assert_eq!(status, 409);
    assert_eq!(reason, "this nickname is already taken");
}

#[test]
fn members_see_joins_messages_and_leaves_as_json() {
    let addr = start_chat();
    let (mut ann, users, history) = join(addr, "ann");
    assert_eq!(users, ["ann"]);
    assert!(history.is_empty());

    let (mut bob, users, _) = join(addr, "bob");
    assert_eq!(users, ["ann", "bob"]);
    assert_eq!(
        read_json(&mut ann),
        json!({ "type": "join", "nick": "bob" })
    );

    say(&mut bob, "  hello, ann  ");
    for ws in [&mut ann, &mut bob] {
        let message = read_json(ws);
        assert_eq!(message["type"], "message");
        assert_eq!(message["nick"], "bob");
        assert_eq!(message["text"], "hello, ann", "trimmed");
        assert!(message["time"].as_u64().unwrap() > 1_700_000_000_000);
    }

    bob.close(None).unwrap();
    assert_eq!(
        read_json(&mut ann),
        json!({ "type": "leave", "nick": "bob" })
    );
}

#[test]
fn newcomers_get_the_last_50_messages() {
    let addr = start_chat();
    // Each connection may send 10 in a row: six members say 60 messages.
    let mut members = Vec::new();
    for m in 0..6 {
        let (mut ws, _, _) = join(addr, &format!("m{m}"));
        for i in 0..10 {
            say(&mut ws, &format!("message {}", m * 10 + i));
        }
        // Wait for the last one to come back, so the next member speaks after.
        while read_json(&mut ws)["text"] != format!("message {}", m * 10 + 9) {}
        members.push(ws);
    }
    let (_, users, history) = join(addr, "late");
    assert_eq!(users.len(), 7);
    let texts: Vec<&str> = history
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (10..60).map(|n| format!("message {n}")).collect();
    assert_eq!(texts, expected);
}

#[test]
fn abusive_clients_are_closed_with_a_reason() {
    let addr = start_chat();

    // Flooding: 10 messages in a row pass, then 2 a second; this is more.
    let (mut flood, _, _) = join(addr, "flood");
    for i in 0..30 {
        say(&mut flood, &format!("spam {i}"));
    }
    let close = read_close(&mut flood);
    assert_eq!(u16::from(close.code), 1008);
    assert_eq!(close.reason.as_str(), "too many messages, slow down");

    let (mut long, _, _) = join(addr, "long");
    say(&mut long, &"x".repeat(chat::server::MAX_TEXT_BYTES + 1));
    let close = read_close(&mut long);
    assert_eq!(u16::from(close.code), 1009);

    let (mut binary, _, _) = join(addr, "binary");
    binary
        .send(tungstenite::Message::binary(vec![1, 2, 3]))
        .unwrap();
    assert_eq!(u16::from(read_close(&mut binary).code), 1003);

    let (mut garbage, _, _) = join(addr, "garbage");
    garbage
        .send(tungstenite::Message::text("{\"type\":\"shout\"}"))
        .unwrap();
    assert_eq!(u16::from(read_close(&mut garbage).code), 1007);

    // Whoever was closed has left: the nicknames are free again.
    // (The chat process announces no departure: this polls.)
    assert!(
        poll_until(TIMEOUT, || http(addr, "GET", "/check?nick=flood").0 == 200),
        "flood never left"
    );
}

#[test]
fn http_serves_the_page_and_check() {
    let addr = start_chat();
    let (status, page) = http(addr, "GET", "/");
    assert_eq!(status, 200);
    assert!(page.contains("<title>wsgate chat</title>"));
    assert_eq!(http(addr, "GET", "/app.js").0, 200);
    assert_eq!(http(addr, "GET", "/style.css").0, 200);
    assert_eq!(http(addr, "GET", "/index.html").0, 404);
    assert_eq!(http(addr, "POST", "/").0, 405);

    let (status, body) = http(addr, "GET", "/check?nick=ann");
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({ "ok": true })
    );
    let (_ann, _, _) = join(addr, "ann");
    let (status, body) = http(addr, "GET", "/check?nick=ANN");
    assert_eq!(status, 409);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({ "ok": false, "reason": "this nickname is already taken" })
    );
    let (status, _) = http(addr, "GET", "/check?nick=a%20b");
    assert_eq!(status, 400);
}

// ---------------------------------------------------------------------------
// The page in headless Chromium
// ---------------------------------------------------------------------------

/// What the browser run needs: Chromium, Node, and `npm ci` in
/// tests/browser. Returns the Chromium path, or why the test cannot run.
fn browser_prerequisites(dir: &Path) -> Result<PathBuf, String> {
    let chromium =
        PathBuf::from(std::env::var_os("CHROMIUM").unwrap_or_else(|| "/usr/bin/chromium".into()));
    if !chromium.is_file() {
        return Err(format!(
            "{} not found (apt-get install chromium)",
            chromium.display()
        ));
    }
    let version = match Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        _ => return Err("node not found (Node.js 20 or later is needed)".into()),
    };
    let major = version.trim_start_matches('v').split('.').next();
    if major.and_then(|m| m.parse::<u32>().ok()).unwrap_or(0) < 20 {
        return Err(format!(
            "node {version} is too old: playwright-core needs 20 or later"
        ));
    }
    if !dir
        .join("node_modules/playwright-core/package.json")
        .is_file()
    {
        return Err(format!(
            "playwright-core not installed (cd {} && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci)",
            dir.display()
        ));
    }
    Ok(chromium)
}

/// The steps tests/browser/chat.mjs reports, in order.
const BROWSER_STEPS: &[&str] = &[
    "ok: ann joined",
    "ok: ann sees bob join; both are listed online",
    "ok: a message typed in one page (Enter) appears in the other",
    "ok: a message over 2 KiB is held back with a notice; after an edit the next one is sent",
    "ok: a duplicate nickname is refused: \"This nickname is already taken.\"",
    "ok: an invalid nickname is refused: \"Nicknames may only contain",
    "ok: a missing nickname is refused: \"A nickname is required.\"",
    "ok: a nickname entered in the form joins, and the history is replayed",
    "ok: a WebSocket without the chat protocol is refused",
    "ok: ann sees bob leave; bob is no longer listed",
    "ok: server down: the page says \"Disconnected — retrying…\"",
    "ok: server back: the page reconnects by itself",
    "done",
];

#[test]
fn chat_in_chromium() {
    let Some(chromium) = browser_or_skip("chat_in_chromium") else {
        return;
    };
    let addr = start_chat();
    run_browser_script(
        &chromium,
        "chat.mjs",
        &[format!("http://{addr}/")],
        BROWSER_STEPS,
    );
}

/// The Chromium to run, or `None` (the test is skipped, saying why) when
/// something the browser run needs is missing and CI does not require it.
fn browser_or_skip(test: &str) -> Option<PathBuf> {
    match browser_prerequisites(&browser_dir()) {
        Ok(chromium) => Some(chromium),
        Err(why) if std::env::var_os("WSGATE_REQUIRE_BROWSER").is_some_and(|v| v == "1") => {
            panic!("WSGATE_REQUIRE_BROWSER=1 but {why}")
        }
        Err(why) => {
            // Straight to stderr: the test harness would swallow eprintln!.
            let _ = writeln!(std::io::stderr(), "{test} skipped: {why}");
            None
        }
    }
}

/// tests/browser: the scripts, and their node_modules.
fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Runs `node SCRIPT ARGS...` in tests/browser and checks that it passes
/// and reports `steps`, in order.
fn run_browser_script(chromium: &Path, script: &str, args: &[String], steps: &[&str]) {
    let mut child = Command::new("node")
        .arg(script)
        .args(args)
        .current_dir(browser_dir())
        .env("CHROMIUM", chromium)
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run node");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let stderr = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stderr.read_to_string(&mut out);
        out
    });

    let status = wait_child(&mut child, BROWSER_TIMEOUT);
    let stdout = stdout.join().unwrap();
    let stderr = stderr.join().unwrap();
    let report = format!("--- stdout\n{stdout}--- stderr\n{stderr}");
    let Some(status) = status else {
        panic!("the browser run took over {BROWSER_TIMEOUT:?}\n{report}");
    };
    assert!(
        status.success(),
        "the browser run failed ({status})\n{report}"
    );
    let mut lines = stdout.lines();
    for step in steps {
        assert!(
            lines.any(|line| line.starts_with(step)),
            "missing, or out of order: {step}\n{report}"
        );
    }
}
