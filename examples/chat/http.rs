//! Plain HTTP on the chat's port: the page (embedded in the binary), and
//! `/check`, which tells the page why its WebSocket would be refused.
//!
//! Why `/check`: when a server refuses a WebSocket handshake, browsers hide
//! the HTTP response from the page's script, which only sees the socket
//! close with code 1006. So before opening its WebSocket, and again after
//! one fails to open, the page asks `GET /check?nick=NAME`. The answer comes
//! from the same rules as the handshake's ([`Room::can_join`]), with the
//! same status: `{"ok":true}`, or `{"ok":false,"reason":"..."}` for the page
//! to show.

use std::sync::Arc;

use http_types::mime::{self, Mime};
use http_types::{Method, Request, Response, StatusCode, Url};

use super::room::Room;
use super::server::{Refusal, nick_param};

const INDEX_HTML: &str = include_str!("index.html");
const STYLE_CSS: &str = include_str!("style.css");
const APP_JS: &str = include_str!("app.js");

/// The page may load its own files and open WebSockets; nothing else.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; connect-src 'self' ws: wss:; \
     img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

// ANCHOR: respond
/// Answers one plain HTTP request.
pub async fn respond(room: Arc<Room>, request: Request) -> Response {
    if request.method() != Method::Get {
        let mut response = text(StatusCode::MethodNotAllowed, "only GET is served here");
        response.insert_header("Allow", "GET");
        return response;
    }
    match request.url().path() {
        "/" => file(INDEX_HTML, mime::HTML),
        "/style.css" => file(STYLE_CSS, mime::CSS),
        "/app.js" => file(APP_JS, mime::JAVASCRIPT),
        "/check" => check(&room, request.url()).await,
        _ => text(StatusCode::NotFound, "not found"),
    }
}
// ANCHOR_END: respond

// ANCHOR: check
/// `GET /check?nick=NAME`: whether that nickname may join now.
async fn check(room: &Room, url: &Url) -> Response {
    let (status, body) = match room.can_join(&nick_param(url)).await {
        Ok(()) => (StatusCode::Ok, serde_json::json!({ "ok": true })),
        Err(error) => {
            let refusal = Refusal::from(error);
            let body = serde_json::json!({ "ok": false, "reason": refusal.reason });
            (refusal.status, body)
        }
    };
    let mut response = Response::new(status);
    response.set_body(body.to_string());
    response.set_content_type(mime::JSON);
    response.insert_header("Cache-Control", "no-store");
    response
}
// ANCHOR_END: check

fn file(body: &'static str, content_type: Mime) -> Response {
    let mut response = Response::new(StatusCode::Ok);
    response.set_body(body);
    response.set_content_type(content_type);
    response.insert_header("Cache-Control", "no-cache");
    response.insert_header("X-Content-Type-Options", "nosniff");
    response.insert_header("Content-Security-Policy", CONTENT_SECURITY_POLICY);
    response
}

fn text(status: StatusCode, body: &str) -> Response {
    let mut response = Response::new(status);
    response.set_body(body);
    response.set_content_type(mime::PLAIN);
    response
}
