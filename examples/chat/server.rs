//! The chat server: its settings, the decision on each handshake, and one
//! session per connection.

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use http_types::{StatusCode, Url};
use wsgate::{
    BroadcastPolicy, CloseCode, Config, Connection, Event, Message, SendPolicy, Server,
    ServerBuilder, WebSocketRequest,
};

use super::http;
use super::protocol::ClientMessage;
use super::room::{JoinError, Room};

/// The subprotocol the page asks for, and the only one spoken here.
pub const PROTOCOL: &str = "chat";
/// The longest chat message, in bytes of UTF-8.
pub const MAX_TEXT_BYTES: usize = 2048;
/// Messages a member may send in a row…
const BURST: f64 = 10.0;
/// …and per second after that.
const PER_SECOND: f64 = 2.0;

// ANCHOR: config
/// The chat's settings: small messages, and a send queue that closes a
/// member who does not read instead of growing.
pub fn config() -> Config {
    let mut config = Config::default();
    // A chat message is at most 2 KiB of text; as JSON, even with every
    // character escaped, it fits in 16 KiB.
    config.max_message_size = 16 << 10;
    config.max_frame_size = 16 << 10;
    // Room for a burst from everyone; past it, the member is closed (1008),
    // whether its own send or the room's broadcast met the mark.
    config.send_queue_high_water = 256 << 10;
    config.send_queue_low_water = 64 << 10; // a quarter of high water
    config.send_queue_policy = SendPolicy::Close;
    config.broadcast_policy = BroadcastPolicy::Close;
    config
}
// ANCHOR_END: config

// ANCHOR: builder
/// A server builder with the chat's settings and its web page; bind it with
/// [`ServerBuilder::bind`] and pass the server to [`serve`].
pub fn builder(room: Arc<Room>) -> ServerBuilder {
    Server::builder()
        .config(config())
        .http_handler(move |request| http::respond(room.clone(), request))
}
// ANCHOR_END: builder

// ANCHOR: serve
/// Decides every WebSocket request and runs a session for each accepted one,
/// until the server stops.
pub async fn serve(server: Server, room: Arc<Room>) {
    room.attach(server.handle());
    // One task per request (Server::serve spawns them, from a loop that
    // runs on the executor as well).
    server
        .serve(move |request| {
            let room = room.clone();
            async move {
                match admit(&room, &request).await {
                    Ok(nick) => {
                        // Only fails if the client is already gone.
                        if let Ok(conn) = request.accept(Some(PROTOCOL), None).await {
                            session(&room, &nick, conn).await;
                        }
                    }
                    Err(refusal) => request.reject(refusal.status, &refusal.reason),
                }
            }
        })
        .await;
}
// ANCHOR_END: serve

// ANCHOR: refusal
/// Why a request is refused: an HTTP status, and a reason for people.
#[derive(Debug)]
pub struct Refusal {
    pub status: StatusCode,
    pub reason: String,
}

impl Refusal {
    fn new(status: StatusCode, reason: impl Into<String>) -> Refusal {
        Refusal {
            status,
            reason: reason.into(),
        }
    }

    /// The close code for a refusal after the connection was accepted:
    /// 4000 plus the HTTP status (4409 for a nickname taken meanwhile).
    fn close_code(&self) -> CloseCode {
        CloseCode::from(4000 + u16::from(self.status))
    }
}

impl From<JoinError> for Refusal {
    fn from(error: JoinError) -> Refusal {
        let status = match error {
            JoinError::Invalid(_) => StatusCode::BadRequest,
            JoinError::Taken => StatusCode::Conflict,
            JoinError::Full => StatusCode::ServiceUnavailable,
        };
        Refusal::new(status, error.to_string())
    }
}
// ANCHOR_END: refusal

// ANCHOR: admit
/// The handshake decision, made from the request alone: the nickname to
/// join with, or why not.
async fn admit(room: &Room, request: &WebSocketRequest) -> Result<String, Refusal> {
    if request.resource_url().path() != "/chat" {
        return Err(Refusal::new(
            StatusCode::NotFound,
            "no such endpoint: the chat is at /chat",
        ));
    }
    check_origin(request)?;
    if !request.protocols().iter().any(|p| p == PROTOCOL) {
        return Err(Refusal::new(
            StatusCode::BadRequest,
            "the chat protocol is required",
        ));
    }
    let nick = nick_param(request.resource_url());
    room.can_join(&nick).await?;
    Ok(nick)
}
// ANCHOR_END: admit

// ANCHOR: check_origin
/// Browsers send the origin of the page with every WebSocket handshake, and
/// let any site's page connect anywhere: the server must check. This one
/// allows its own page only, that is an origin naming the host the request
/// was sent to. Clients that are not browsers send no origin and may
/// connect.
///
/// (Behind a proxy, or to be safe from DNS rebinding, compare with a fixed
/// list of allowed origins instead.)
fn check_origin(request: &WebSocketRequest) -> Result<(), Refusal> {
    let Some(origin) = request.origin() else {
        return Ok(());
    };
    if request.is_same_origin() {
        Ok(())
    } else {
        Err(Refusal::new(
            StatusCode::Forbidden,
            format!("pages from {origin} may not use this chat"),
        ))
    }
}
// ANCHOR_END: check_origin

// ANCHOR: nick_param
/// The `nick` query parameter (`/chat?nick=ann`), or "" when missing.
pub fn nick_param(url: &Url) -> String {
    url.query_pairs()
        .find(|(name, _)| name == "nick")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}
// ANCHOR_END: nick_param

// ANCHOR: session
/// One member's connection, from joining to leaving.
async fn session(room: &Room, nick: &str, conn: Connection) {
    let mut events = conn.events();
    if let Err(error) = room.join(nick, &conn).await {
        // The nickname was taken between `admit` and now. The connection is
        // open, so the page can be told why in the close frame.
        let refusal = Refusal::from(error);
        let _ = conn.close(refusal.close_code(), &refusal.reason);
        while events.next().await.is_some() {} // until the close completes
        return;
    }
    let mut limit = RateLimit::new(BURST, PER_SECOND);
    while let Some(event) = events.next().await {
        let Event::Message(message) = event else {
            continue; // pings are answered for us; the stream ends after Close
        };
        if !conn.is_open() {
            continue; // closing it: ignore what is still on the way
        }
        match read_message(message, &mut limit) {
            Ok(text) if text.is_empty() => {}
            Ok(text) => room.say(nick, &text).await,
            Err((code, reason)) => {
                let _ = conn.close(code, reason);
            }
        }
    }
    room.leave(conn.id()).await;
}
// ANCHOR_END: session

// ANCHOR: read_message
/// What a member may say: a JSON chat message of at most
/// [`MAX_TEXT_BYTES`], at most [`BURST`] in a row and [`PER_SECOND`] after
/// that. Anything else closes the connection with the code and reason.
fn read_message(
    message: Message,
    limit: &mut RateLimit,
) -> Result<String, (CloseCode, &'static str)> {
    if !limit.allow() {
        return Err((CloseCode::POLICY_VIOLATION, "too many messages, slow down"));
    }
    let Message::Text(json) = message else {
        return Err((
            CloseCode::UNSUPPORTED_DATA,
            "the chat protocol is JSON text",
        ));
    };
    let Ok(ClientMessage::Message { text }) = ClientMessage::parse(&json) else {
        return Err((CloseCode::INVALID_PAYLOAD, "not a chat protocol message"));
    };
    if text.len() > MAX_TEXT_BYTES {
        return Err((CloseCode::MESSAGE_TOO_BIG, "messages are limited to 2 KiB"));
    }
    Ok(text.trim().to_owned())
}
// ANCHOR_END: read_message

// ANCHOR: rate_limit
/// A token bucket: holds up to `burst` tokens, gains `per_second` of them
/// each second, and each message takes one.
struct RateLimit {
    tokens: f64,
    burst: f64,
    per_second: f64,
    last: Instant,
}

impl RateLimit {
    fn new(burst: f64, per_second: f64) -> RateLimit {
        RateLimit {
            tokens: burst,
            burst,
            per_second,
            last: Instant::now(),
        }
    }

    /// Takes a token if there is one.
    fn allow(&mut self) -> bool {
        let now = Instant::now();
        let earned = now.duration_since(self.last).as_secs_f64() * self.per_second;
        self.tokens = (self.tokens + earned).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}
// ANCHOR_END: rate_limit
