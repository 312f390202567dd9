//! The room across nodes: several chat servers sharing one Redis
//! (`--redis`), each a node with members of its own.
//!
//! What the members say, and their joins and leaves, cross by themselves:
//! they are publishes to the room's topic, and with a broker a publish
//! reaches the topic's subscribers on every node. What does not cross is
//! the room's state: who is online, and the history. For those:
//!
//! - **Presence.** Each node publishes its own members on the topic
//!   [`PRESENCE_TOPIC`] (a [`Presence`]) whenever they change and every
//!   heartbeat. Each node keeps the other nodes' last snapshots, and
//!   forgets a node not heard from for [`MISSED_HEARTBEATS`] heartbeats:
//!   a node that dies drops out, and its members are announced as gone to
//!   the members here. Who is online = the members here and those of the
//!   nodes heard from lately.
//! - **History.** The room listens to its own topic too, and keeps what
//!   was said on other nodes for its history.
//!
//! Both listeners run inside a publish, on the publisher's or the
//! broker's task, so they must not wait: what they learn goes into one
//! small `std::sync::Mutex`, never held across an `.await`, and the room
//! takes it from there under its own lock (on a join, on a message, and
//! on each heartbeat).
//!
//! Everything here is best effort, as delivery across nodes is (at most
//! once): a nickname is unique on its node, and checked against the
//! members of the other nodes known here, but two people joining two
//! nodes at the same instant may get the same one; and a message from
//! another node that arrives in the instant a newcomer joins may be in
//! neither the newcomer's history nor its stream.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use wsgate::{ServerHandle, TopicListener};

use super::protocol::{ChatLine, Presence, ServerMessage};
use super::room::{HISTORY_LEN, TOPIC};

/// The topic the nodes tell each other their members on.
pub const PRESENCE_TOPIC: &str = "chat.presence";
/// How often a node tells the others its members (also on every change).
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// How many heartbeats a node may miss before it is forgotten.
pub const MISSED_HEARTBEATS: u32 = 3;

/// This node's view of the others.
pub struct Cluster {
    /// This node's name, in its snapshots.
    node: String,
    heartbeat: Duration,
    /// When this node joined the cluster.
    since: Instant,
    remote: Arc<Mutex<Remote>>,
    /// The two listeners, for as long as the room lives.
    listeners: Mutex<Vec<TopicListener>>,
}

/// What the listeners learn.
#[derive(Default)]
struct Remote {
    /// The other nodes, by name.
    nodes: HashMap<String, Node>,
    /// Said on other nodes, not yet in the room's history; oldest first.
    lines: VecDeque<ChatLine>,
    /// Members of nodes that came (back) into view, to announce here.
    arrived: Vec<String>,
}

/// Another node, as last heard from.
struct Node {
    members: Vec<String>,
    seen: Instant,
    /// Not heard from for too long; kept a while to tell it coming back
    /// from a node never seen.
    expired: bool,
}

/// What the room tells its members on a heartbeat.
#[derive(Debug, Default)]
pub struct Changes {
    /// Members of nodes that came into view.
    pub joined: Vec<String>,
    /// Members of nodes that went out of view.
    pub left: Vec<String>,
}

impl Cluster {
    /// A node called `node` that sends a snapshot every `heartbeat`.
    pub fn new(node: String, heartbeat: Duration) -> Cluster {
        Cluster {
            node,
            heartbeat,
            since: Instant::now(),
            remote: Arc::default(),
            listeners: Mutex::default(),
        }
    }

    /// How often the room sends a snapshot and looks for silent nodes.
    pub fn heartbeat(&self) -> Duration {
        self.heartbeat
    }

    fn remote(&self) -> MutexGuard<'_, Remote> {
        lock(&self.remote)
    }

    /// How long a node may be silent before it is forgotten.
    fn expiry(&self) -> Duration {
        self.heartbeat * MISSED_HEARTBEATS
    }

    // ANCHOR: listen
    /// Listens to the other nodes: their snapshots, and what is said there.
    pub fn listen(&self, server: &ServerHandle) -> Result<(), wsgate::Error> {
        let remote = self.remote.clone();
        // Whether a node first seen now may have members this node's
        // members never heard join: only while this node is new itself.
        let (since, expiry) = (self.since, self.expiry());
        let presence = server.on_topic(PRESENCE_TOPIC, move |published| {
            // Not this node's own snapshots.
            let Some(json) = published.text().filter(|_| published.is_remote()) else {
                return;
            };
            if let Ok(presence) = Presence::parse(json) {
                let young = since.elapsed() < expiry;
                lock(&remote).seen(presence, young);
            }
        })?;
        let remote = self.remote.clone();
        let said = server.on_topic(TOPIC, move |published| {
            // This node's own messages are in the history already.
            let Some(json) = published.text().filter(|_| published.is_remote()) else {
                return;
            };
            if let Ok(ServerMessage::Message(line)) = ServerMessage::parse(json) {
                let mut remote = lock(&remote);
                if remote.lines.len() == HISTORY_LEN {
                    remote.lines.pop_front();
                }
                remote.lines.push_back(line);
            }
        })?;
        *lock(&self.listeners) = vec![presence, said];
        Ok(())
    }
    // ANCHOR_END: listen

    /// Tells the other nodes who is online here.
    pub fn publish(&self, server: &ServerHandle, members: Vec<String>) {
        let presence = Presence {
            node: self.node.clone(),
            members,
        };
        server.publish(PRESENCE_TOPIC, presence.to_json());
    }

    /// The members of the other nodes heard from lately.
    pub fn members(&self) -> Vec<String> {
        let expiry = self.expiry();
        self.remote()
            .nodes
            .values()
            .filter(|node| node.is_fresh(expiry))
            .flat_map(|node| node.members.iter().cloned())
            .collect()
    }

    /// How many other nodes were heard from lately.
    pub fn nodes(&self) -> usize {
        let expiry = self.expiry();
        let remote = self.remote();
        remote.nodes.values().filter(|n| n.is_fresh(expiry)).count()
    }

    /// What was said on other nodes since the last call, oldest first.
    pub fn take_lines(&self) -> Vec<ChatLine> {
        self.remote().lines.drain(..).collect()
    }

    /// Forgets the nodes silent for too long, and returns who came into
    /// view and who went out of it since the last call. `here` are the
    /// members of this node: no one online here, or on another node, is
    /// announced as gone.
    pub fn changes(&self, here: &[String]) -> Changes {
        let expiry = self.expiry();
        let mut remote = self.remote();
        let mut left = Vec::new();
        for node in remote.nodes.values_mut() {
            if !node.expired && !node.is_fresh(expiry) {
                node.expired = true;
                left.extend(node.members.iter().cloned());
            }
        }
        // Expired nodes are kept long enough to recognise their return.
        remote
            .nodes
            .retain(|_, node| node.seen.elapsed() < expiry * 100);
        let online: Vec<String> = remote
            .nodes
            .values()
            .filter(|node| !node.expired)
            .flat_map(|node| node.members.iter().cloned())
            .chain(here.iter().cloned())
            .collect();
        left.retain(|nick| !online.contains(nick));
        let mut joined = std::mem::take(&mut remote.arrived);
        joined.retain(|nick| !here.contains(nick));
        left.sort();
        left.dedup();
        joined.sort();
        joined.dedup();
        Changes { joined, left }
    }
}

impl Node {
    /// Heard from within `expiry`.
    fn is_fresh(&self, expiry: Duration) -> bool {
        !self.expired && self.seen.elapsed() < expiry
    }
}

impl Remote {
    /// A snapshot from another node. Its members are announced to the
    /// members here when the node comes back after it was forgotten, and
    /// when it is seen for the first time while this node is `young` (new
    /// in the cluster itself, so its members may not have seen the other
    /// node's members join; later, a node seen for the first time is a new
    /// one, whose members' joins came as publishes to the room's topic).
    fn seen(&mut self, presence: Presence, young: bool) {
        let now = Instant::now();
        match self.nodes.get_mut(&presence.node) {
            Some(node) => {
                if node.expired {
                    // Back after a silence: its members were announced gone.
                    self.arrived.extend(presence.members.iter().cloned());
                }
                node.expired = false;
                node.seen = now;
                node.members = presence.members;
            }
            None => {
                if young {
                    self.arrived.extend(presence.members.iter().cloned());
                }
                let node = Node {
                    members: presence.members,
                    seen: now,
                    expired: false,
                };
                self.nodes.insert(presence.node, node);
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
