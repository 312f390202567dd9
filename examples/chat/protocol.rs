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

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// One chat message, as broadcast and as kept in the history.
#[derive(Debug, Clone, Serialize)]
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

/// What the server sends.
#[derive(Debug, Serialize)]
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
