//! The chat protocol: JSON text messages, one object per WebSocket message,
//! told apart by their `"type"`.
//!
//! Server to client:
//!
//! ```text
//! {"type":"users","users":["ann","bob"]}            who is online; on joining
//! {"type":"history","messages":[{"nick":"ann","text":"hi","time":1735689600000}]}
//!                                                   the last 50 messages; on joining
//! {"type":"message","nick":"ann","text":"hi","time":1735689600000}
//!                                                   someone said something
//! {"type":"join","nick":"bob"}                      bob arrived (to everyone, bob too)
//! {"type":"leave","nick":"bob"}                     bob left
//! ```
//!
//! Client to server:
//!
//! ```text
//! {"type":"message","text":"hi"}                    say something
//! ```
//!
//! `time` is milliseconds since the Unix epoch, as JavaScript's `Date` wants.
//!
//! Node to node, when several chat servers share a Redis (`--redis`), on
//! the topic `chat.presence` (see `cluster.rs`):
//!
//! ```text
//! {"node":"127.0.0.1:8081/4242","members":["bob"]}   who is online on that node;
//!                                                   on every change and every 2 s
//! ```
//!
//! (The server-to-client messages above travel between the nodes too: they
//! are the publishes to the room's topic, `chat`.)

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// One chat message, as broadcast and as kept in the history.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatLine {
    pub nick: String,
    pub text: String,
    /// Milliseconds since the Unix epoch.
    pub time: u64,
}

impl ChatLine {
    /// A message said by `nick` now.
    pub fn now(nick: &str, text: &str) -> ChatLine {
        let time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as u64);
        ChatLine {
            nick: nick.to_owned(),
            text: text.to_owned(),
            time,
        }
    }
}

/// What the server sends (and, with `--redis`, what other nodes' rooms
/// publish).
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ServerMessage {
    Users { users: Vec<String> },
    History { messages: Vec<ChatLine> },
    Message(ChatLine),
    Join { nick: String },
    Leave { nick: String },
}

impl ServerMessage {
    /// The message as JSON text, ready to send.
    pub fn to_json(&self) -> String {
        // Strings, numbers and lists only: serializing cannot fail.
        serde_json::to_string(self).expect("chat messages serialize")
    }

    /// Parses what another node's room published.
    pub fn parse(json: &str) -> Result<ServerMessage, serde_json::Error> {
        serde_json::from_str(json)
    }
}

/// One node's members, as it tells the other nodes (`--redis`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    /// The node's name: its address and process id.
    pub node: String,
    /// The nicknames online there.
    pub members: Vec<String>,
}

impl Presence {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("presence serializes")
    }

    pub fn parse(json: &str) -> Result<Presence, serde_json::Error> {
        serde_json::from_str(json)
    }
}

/// What a client sends.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ClientMessage {
    Message { text: String },
}

impl ClientMessage {
    /// Parses one WebSocket text message.
    pub fn parse(json: &str) -> Result<ClientMessage, serde_json::Error> {
        serde_json::from_str(json)
    }
}
