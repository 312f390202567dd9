//! The notification server's application, apart from its `main` so that
//! tests can run it in memory: the routes, token auth, and the rooms.
//!
//! - `GET /` is the page; `GET /health` says how many are connected.
//! - `ws://…/rooms/ROOM?token=T` (or a `token` cookie) joins ROOM as the
//!   token's user: 401 with `WWW-Authenticate` for an unknown token. Each
//!   text a member sends reaches the room as `user: text`; joins and leaves
//!   are announced. The `notify.v1` subprotocol is chosen when offered.
//! - `POST /rooms/ROOM/notify` (token in `Authorization: Bearer T` or
//!   `?token=T`) publishes its body to ROOM as `notice: body`.
//! - `GET /rooms/ROOM/members` lists the room's members, as JSON.

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use wsgate::http_types::{Request, Response, StatusCode, mime};
use wsgate::{Event, Params, Router, ServerHandle, WebSocketRequest};

/// The page: joins a room and shows what it says.
const PAGE: &str = include_str!("page.html");

/// The subprotocol this server speaks, chosen when a client offers it.
pub const PROTOCOL: &str = "notify.v1";

/// Who each token belongs to.
#[derive(Debug, Clone, Default)]
pub struct Tokens(HashMap<String, String>);

impl Tokens {
    /// From `NAME=TOKEN` pairs.
    pub fn new<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Tokens {
        Tokens(
            pairs
                .into_iter()
                .map(|(name, token)| (token.to_owned(), name.to_owned()))
                .collect(),
        )
    }

    fn user(&self, token: Option<&str>) -> Option<String> {
        self.0.get(token?).cloned()
    }
}

/// What the server keeps about each member, on its connection.
#[derive(Debug)]
pub struct Member {
    pub user: String,
    pub room: String,
}

fn topic(room: &str) -> String {
    format!("room/{room}")
}

/// Every route of the server.
pub fn router(tokens: Tokens) -> Router {
    let tokens = Arc::new(tokens);
    let for_sockets = tokens.clone();
    Router::new()
        .get("/", |_, _| async {
            let mut response = Response::new(StatusCode::Ok);
            response.set_body(PAGE);
            response.set_content_type(mime::HTML);
            response
        })
        .get("/health", |request, _| async move {
            let server = request
                .ext()
                .get::<ServerHandle>()
                .expect("wsgate's handle");
            json(
                StatusCode::Ok,
                &serde_json::json!({
                    "status": "ok",
                    "connections": server.connection_count(),
                }),
            )
        })
        .get("/rooms/:room/members", |request, params| async move {
            let server = request
                .ext()
                .get::<ServerHandle>()
                .expect("wsgate's handle");
            let room = params.get("room").unwrap_or_default();
            let mut users: Vec<String> = server
                .subscribers_with::<Member>(&topic(room))
                .iter()
                .map(|member| member.state().user.clone())
                .collect();
            users.sort();
            json(StatusCode::Ok, &users)
        })
        .post("/rooms/:room/notify", move |request, params| {
            let tokens = tokens.clone();
            async move { notify(request, params, &tokens).await }
        })
        .websocket("/rooms/:room", move |request, params| {
            let tokens = for_sockets.clone();
            async move { join(request, params, &tokens).await }
        })
}

// ANCHOR: join
/// A member joins: checked, accepted with its state, subscribed, announced;
/// then every text it sends goes to the room.
async fn join(mut request: WebSocketRequest, params: Params, tokens: &Tokens) {
    let token = request
        .query("token")
        .map(|token| token.into_owned())
        .or_else(|| request.cookie("token"));
    let Some(user) = tokens.user(token.as_deref()) else {
        request.add_response_header("WWW-Authenticate", "Bearer realm=\"notify\"");
        request.reject(StatusCode::Unauthorized, "unknown or missing token");
        return;
    };
    let room = params.get("room").unwrap_or_default().to_owned();
    let protocol = request.choose_protocol(&[PROTOCOL]);
    let request_server = request.server();
    let member = Member { user, room };
    let Ok(conn) = request.accept_with_state(protocol, None, member).await else {
        return;
    };
    let (user, topic) = (conn.state().user.clone(), topic(&conn.state().room));
    let Some(server) = request_server else { return };
    if conn.subscribe(&topic).is_err() {
        let _ = conn.close(wsgate::CloseCode::TRY_AGAIN_LATER, "too many rooms");
        return;
    }
    server.publish(&topic, format!("{user} joined"));
    let mut events = conn.events();
    while let Some(event) = events.next().await {
        if let Event::Message(message) = event {
            let text = String::from_utf8_lossy(message.as_bytes()).into_owned();
            server.publish(&topic, format!("{user}: {text}"));
        }
    }
    conn.unsubscribe(&topic);
    server.publish(&topic, format!("{user} left"));
}
// ANCHOR_END: join

/// `POST /rooms/ROOM/notify`: the body, published to the room.
async fn notify(mut request: Request, params: Params, tokens: &Tokens) -> Response {
    let bearer = request.header("Authorization").and_then(|values| {
        values
            .last()
            .as_str()
            .strip_prefix("Bearer ")
            .map(str::to_owned)
    });
    let query = request
        .url()
        .query_pairs()
        .find_map(|(name, value)| (name == "token").then(|| value.into_owned()));
    if tokens.user(bearer.or(query).as_deref()).is_none() {
        let mut response = text(StatusCode::Unauthorized, "unknown or missing token");
        response.insert_header("WWW-Authenticate", "Bearer realm=\"notify\"");
        return response;
    }
    let Ok(body) = request.body_string().await else {
        return text(StatusCode::BadRequest, "the body must be UTF-8 text");
    };
    let server = request
        .ext()
        .get::<ServerHandle>()
        .expect("wsgate's handle");
    let room = params.get("room").unwrap_or_default();
    let report = server.publish(&topic(room), format!("notice: {body}"));
    json(
        StatusCode::Ok,
        &serde_json::json!({ "delivered": report.queued }),
    )
}

fn text(status: StatusCode, body: &str) -> Response {
    let mut response = Response::new(status);
    response.set_body(body);
    response
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> Response {
    let mut response = Response::new(status);
    response.set_body(serde_json::to_string(value).expect("JSON"));
    response.set_content_type(mime::JSON);
    response
}
