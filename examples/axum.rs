//! An axum app with a wsgate WebSocket endpoint on the same port: a page at
//! `/`, a health check at `/health`, and an echo WebSocket at `/ws` whose
//! requests are explicit `WebSocketRequest`s (accepted or rejected with a
//! reason, permessage-deflate, limits, the registry and broadcast).
//!
//! ```sh
//! cargo run --example axum --no-default-features --features hyper,rustls,ring,deflate -- --addr 127.0.0.1:8080
//! ```
//!
//! Then open `http://127.0.0.1:8080/`.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Html;
use axum::routing::get;
use futures::StreamExt;
use wsgate::http_types::StatusCode;
use wsgate::{Event, Server, ServerHandle};

const USAGE: &str = "usage: axum [--addr HOST:PORT]   (default 127.0.0.1:8080)";

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>wsgate on axum</title>
<h1>wsgate on axum</h1>
<form id="f"><input id="m" autocomplete="off" placeholder="say something"><button>send</button></form>
<pre id="log"></pre>
<script>
const log = (line) => document.getElementById("log").textContent += line + "\n";
const ws = new WebSocket(`ws://${location.host}/ws`);
ws.onopen = () => log("open");
ws.onmessage = (e) => log("echo: " + e.data);
ws.onclose = (e) => log(`closed ${e.code} ${e.reason}`);
document.getElementById("f").onsubmit = (e) => {
  e.preventDefault();
  const input = document.getElementById("m");
  ws.send(input.value);
  input.value = "";
};
</script>
"#;

// ANCHOR: route
/// The WebSocket route: the request is wsgate's, decided by the closure.
async fn websocket(
    State(ws): State<ServerHandle>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> http::Response<String> {
    // Plain HTTP here; behind TLS, pass true.
    ws.upgrade_hyper(request, peer, false, |request| async move {
        if request.resource_url().path() != "/ws" {
            request.reject(StatusCode::NotFound, "try /ws");
            return;
        }
        let Ok(conn) = request.accept(None, None).await else {
            return;
        };
        let mut events = conn.events();
        while let Some(event) = events.next().await {
            if let Event::Message(message) = event
                && conn.send(message).await.is_err()
            {
                break;
            }
        }
    })
    .await
}
// ANCHOR_END: route

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut addr = "127.0.0.1:8080".to_owned();
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--addr", Some(value)) => addr = value,
            ("--help" | "-h", _) => {
                println!("{USAGE}");
                return;
            }
            _ => {
                eprintln!("{USAGE}");
                std::process::exit(2);
            }
        }
    }
    // ANCHOR: app
    // A wsgate server with no listener of its own: axum accepts, wsgate
    // takes the upgrade requests. It runs on this tokio runtime.
    let server = Server::builder().build();
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route(
            "/health",
            get(|State(ws): State<ServerHandle>| async move {
                format!("ok: {} connections\n", ws.connection_count())
            }),
        )
        .route("/ws", get(websocket))
        .with_state(server.handle());
    // ANCHOR_END: app
    let listener = match tokio::net::TcpListener::bind(&addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("cannot listen on {addr}: {error}");
            std::process::exit(1);
        }
    };
    println!(
        "axum with wsgate running at http://{}/",
        listener.local_addr().expect("a bound address")
    );
    // ANCHOR: serve
    // ConnectInfo needs the service made with the peer's address.
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    // ANCHOR_END: serve
    if let Err(error) = axum::serve(listener, service).await {
        eprintln!("server error: {error}");
    }
    drop(server);
}
