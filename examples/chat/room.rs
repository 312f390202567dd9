//! The room: who is online, what was said lately, and the one place that
//! sends to everybody.
//!
//! All of it sits behind one lock, so every member sees joins, leaves and
//! messages in the same order, and the history a newcomer gets matches
//! what the others saw. The members are subscribed to the room's topic, and
//! messages go out as publishes to it ([`ServerHandle::publish`]), which
//! encode each frame once and share its bytes with every member's queue.
//! The lock is held while a message is queued; that never waits on a slow
//! member, because a publish never waits, and the chat's broadcast policy is
//! [`BroadcastPolicy::Close`](wsgate::BroadcastPolicy::Close): a member
//! whose send queue is full is disconnected rather than left with gaps in
//! the conversation.
//!
//! With `--redis` the room is one node of several ([`Room::join_cluster`],
//! `cluster.rs`): the publishes reach the members of every node, and who
//! is online and the history take in the other nodes too.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use futures::lock::Mutex;
use wsgate::{Connection, ConnectionId, ServerHandle};

use super::cluster::Cluster;
use super::protocol::{ChatLine, ServerMessage};

/// The topic the room's members are subscribed to.
pub const TOPIC: &str = "chat";
/// How many messages a newcomer is shown.
pub const HISTORY_LEN: usize = 50;
/// How many people may be online at once.
pub const MAX_MEMBERS: usize = 1000;
/// The longest nickname, in characters.
pub const MAX_NICK_CHARS: usize = 24;

/// Why someone cannot join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinError {
    /// The nickname breaks the rules; the reason says which.
    Invalid(String),
    /// Someone online already uses this nickname (ignoring case); across
    /// nodes, as far as this node knows.
    Taken,
    /// [`MAX_MEMBERS`] are online.
    Full,
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Invalid(reason) => f.write_str(reason),
            JoinError::Taken => f.write_str("this nickname is already taken"),
            JoinError::Full => f.write_str("the room is full, please try again later"),
        }
    }
}

// ANCHOR: rules
/// The nickname rules: 1 to [`MAX_NICK_CHARS`] letters, digits, `-`, `_`
/// and `.`.
pub fn check_nick(nick: &str) -> Result<(), JoinError> {
    if nick.is_empty() {
        return Err(JoinError::Invalid("a nickname is required".into()));
    }
    if nick.chars().count() > MAX_NICK_CHARS {
        return Err(JoinError::Invalid(format!(
            "nicknames are at most {MAX_NICK_CHARS} characters"
        )));
    }
    if !nick
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(JoinError::Invalid(
            "nicknames may only contain letters, digits, '-', '_' and '.'".into(),
        ));
    }
    Ok(())
}
// ANCHOR_END: rules

// ANCHOR: room
/// A chat room.
#[derive(Default)]
pub struct Room {
    state: Mutex<State>,
    /// The server, which publishes to the room's members.
    server: OnceLock<ServerHandle>,
    /// The other nodes, when there are (`--redis`).
    cluster: OnceLock<Cluster>,
}

#[derive(Default)]
struct State {
    members: HashMap<ConnectionId, Member>,
    /// The last [`HISTORY_LEN`] messages, oldest first.
    history: VecDeque<ChatLine>,
}

struct Member {
    nick: String,
}
// ANCHOR_END: room

impl Room {
    pub fn new() -> Room {
        Room::default()
    }

    /// Makes the room one node of several sharing the server's broker:
    /// `node` names this one to the others, and `heartbeat` is how often it
    /// tells them its members. Call it before [`attach`](Self::attach).
    pub fn join_cluster(&self, node: String, heartbeat: Duration) {
        let _ = self.cluster.set(Cluster::new(node, heartbeat));
    }

    /// This node's view of the others, if the room is in a cluster.
    pub fn cluster(&self) -> Option<&Cluster> {
        self.cluster.get()
    }

    // ANCHOR: broadcast
    /// Connects the room to its server, which publishes for it; in a
    /// cluster, also listens to the other nodes and starts the heartbeat.
    pub fn attach(self: &Arc<Self>, server: ServerHandle) {
        if let Some(cluster) = self.cluster.get() {
            // Fails only past the server's topic limits, which the chat's
            // two topics are far below.
            if let Err(error) = cluster.listen(&server) {
                eprintln!("cannot listen to the other nodes: {error}");
            }
            cluster.publish(&server, Vec::new());
            wsgate::runtime::spawn(heartbeat(Arc::downgrade(self), cluster.heartbeat()));
        }
        let _ = self.server.set(server);
    }

    /// Queues `message` to every member: a publish to the room's topic,
    /// which encodes the frame once and shares its bytes with every
    /// member's queue, without waiting for any. Called with the room
    /// locked, so everyone sees the same order.
    fn broadcast(&self, message: &ServerMessage) {
        if let Some(server) = self.server.get() {
            server.publish(TOPIC, message.to_json());
        }
    }
    // ANCHOR_END: broadcast

    /// Whether `nick` could join now. The handshake asks before accepting,
    /// so that it can refuse with an HTTP status; [`join`](Self::join) asks
    /// again, under the same lock as it joins.
    pub async fn can_join(&self, nick: &str) -> Result<(), JoinError> {
        let state = self.state.lock().await;
        self.check_join(&state, nick)
    }

    /// [`State::can_join`], and not the nickname of a member of another
    /// node that this node knows of (best effort: see `cluster.rs`).
    fn check_join(&self, state: &State, nick: &str) -> Result<(), JoinError> {
        state.can_join(nick)?;
        let remote = self.cluster.get().map(Cluster::members);
        let lower = nick.to_lowercase();
        if remote.is_some_and(|remote| remote.iter().any(|m| m.to_lowercase() == lower)) {
            return Err(JoinError::Taken);
        }
        Ok(())
    }

    /// Who is online: the members here and, in a cluster, those of the
    /// other nodes; sorted, each once.
    fn users(&self, state: &State) -> Vec<String> {
        let mut users = state.users();
        if let Some(cluster) = self.cluster.get() {
            users.extend(cluster.members());
            users.sort_by_key(|nick| nick.to_lowercase());
            users.dedup();
        }
        users
    }

    /// Moves what was said on other nodes into the history.
    fn take_remote_lines(&self, state: &mut State) {
        if let Some(cluster) = self.cluster.get() {
            for line in cluster.take_lines() {
                state.remember(line);
            }
        }
    }

    /// Tells the other nodes who is online here (on every change).
    fn publish_presence(&self, state: &State) {
        if let (Some(cluster), Some(server)) = (self.cluster.get(), self.server.get()) {
            cluster.publish(server, state.users());
        }
    }

    /// One heartbeat: tells the other nodes who is online here, and the
    /// members here who came and went with the nodes that came into view
    /// or went silent (joins and leaves on the other nodes reach them by
    /// themselves, as publishes to the room's topic).
    async fn beat(&self) {
        let (Some(cluster), Some(server)) = (self.cluster.get(), self.server.get()) else {
            return;
        };
        let state = self.state.lock().await;
        let here = state.users();
        cluster.publish(server, here.clone());
        let changes = cluster.changes(&here);
        let notices = changes
            .joined
            .into_iter()
            .map(|nick| ServerMessage::Join { nick })
            .chain(
                changes
                    .left
                    .into_iter()
                    .map(|nick| ServerMessage::Leave { nick }),
            );
        for notice in notices {
            // To the members here only: the other nodes see for themselves.
            server
                .broadcast_where(notice.to_json(), |conn| {
                    state.members.contains_key(&conn.id())
                })
                .await;
        }
    }

    // ANCHOR: join
    /// Adds `conn` as `nick`: sends it who is online and the history, then
    /// tells everyone, the newcomer included, that `nick` joined.
    pub async fn join(&self, nick: &str, conn: &Connection) -> Result<(), JoinError> {
        let mut state = self.state.lock().await;
        self.check_join(&state, nick)?;
        self.take_remote_lines(&mut state);
        state.members.insert(
            conn.id(),
            Member {
                nick: nick.to_owned(),
            },
        );
        let users = ServerMessage::Users {
            users: self.users(&state),
        };
        let history = ServerMessage::History {
            messages: state.history.iter().cloned().collect(),
        };
        // A failed send means `conn` is already closing: its session will
        // end and call `leave`.
        let _ = conn.send_text(users.to_json()).await;
        let _ = conn.send_text(history.to_json()).await;
        // Subscribed after the history: what is said from now on follows
        // it. Fails only for a connection that has ended (its session
        // calls `leave`) or past the server's topic limits.
        if conn.subscribe(TOPIC).is_err() {
            state.members.remove(&conn.id());
            return Ok(());
        }
        let joined = ServerMessage::Join {
            nick: nick.to_owned(),
        };
        self.broadcast(&joined);
        self.publish_presence(&state);
        Ok(())
    }
    // ANCHOR_END: join

    // ANCHOR: leave_say
    /// Removes the connection `id`, if it had joined, and tells everyone.
    pub async fn leave(&self, id: ConnectionId) {
        let mut state = self.state.lock().await;
        if let Some(member) = state.members.remove(&id) {
            // A connection that ends leaves its topics by itself; one that
            // left the room while still open leaves it here.
            if let Some(conn) = self.server.get().and_then(|s| s.connection(id)) {
                conn.unsubscribe(TOPIC);
            }
            let nick = member.nick;
            self.broadcast(&ServerMessage::Leave { nick });
            self.publish_presence(&state);
        }
    }

    /// Records what `nick` said in the history and sends it to everyone.
    pub async fn say(&self, nick: &str, text: &str) {
        let line = ChatLine::now(nick, text);
        let mut state = self.state.lock().await;
        self.take_remote_lines(&mut state);
        state.remember(line.clone());
        self.broadcast(&ServerMessage::Message(line));
    }
    // ANCHOR_END: leave_say
}

impl State {
    fn can_join(&self, nick: &str) -> Result<(), JoinError> {
        check_nick(nick)?;
        let taken = self
            .members
            .values()
            .any(|member| member.nick.to_lowercase() == nick.to_lowercase());
        if taken {
            return Err(JoinError::Taken);
        }
        if self.members.len() >= MAX_MEMBERS {
            return Err(JoinError::Full);
        }
        Ok(())
    }

    /// Adds `line` to the history, forgetting the oldest past
    /// [`HISTORY_LEN`].
    fn remember(&mut self, line: ChatLine) {
        if self.history.len() == HISTORY_LEN {
            self.history.pop_front();
        }
        self.history.push_back(line);
    }

    /// Who is online here, sorted.
    fn users(&self) -> Vec<String> {
        let mut users: Vec<String> = self.members.values().map(|m| m.nick.clone()).collect();
        users.sort_by_key(|nick| nick.to_lowercase());
        users
    }
}

/// The room's heartbeat in a cluster, until the room is gone.
async fn heartbeat(room: Weak<Room>, every: Duration) {
    let runtime = wsgate::runtime::Runtime::current();
    loop {
        runtime.sleep(every).await;
        let Some(room) = room.upgrade() else {
            return;
        };
        room.beat().await;
    }
}
