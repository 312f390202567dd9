//! Two chat servers sharing one Redis (the example's `--redis`), each a
//! node with members of its own, in this process: a `redis-server` of the
//! test's own on a free port (`common::Redis`; skipped without one unless
//! `WSGATE_REQUIRE_REDIS=1`), and two chat servers with a broker to it.
//!
//! - [`members_of_two_nodes_see_each_other`]: plain clients (tungstenite)
//!   on both nodes: messages, joins and leaves cross, who is online and the
//!   history take in both nodes, nicknames are checked across them.
//! - [`a_silent_node_drops_out`]: a node that stops sending its snapshots
//!   is forgotten, and its members announced gone; back, announced again.
//! - [`two_nodes_in_chromium`]: alice's page on node A, bob's on node B,
//!   driven by `tests/browser/cluster.mjs` (skipped as `chat_in_chromium`
//!   is, without Chromium, Node or `npm ci`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use super::chat::cluster::PRESENCE_TOPIC;
use super::chat::protocol::Presence;
use super::chat::room::Room;
use super::{
    browser_or_skip, chat, chat_request, http, join, read_json, refused, run_browser_script, say,
};
use crate::common::{
    self, Redis, TIMEOUT, eventually, poll_until, redis_broker, redis_builder, subscribed,
};

/// A short heartbeat, so that a silent node is forgotten within a second.
const HEARTBEAT: Duration = Duration::from_millis(200);

/// One chat server of the cluster.
struct Node {
    addr: SocketAddr,
    room: Arc<Room>,
}

impl Node {
    /// Starts one on a free port, with a broker to the Redis at `url`, and
    /// waits until it is subscribed there to the room's two topics.
    fn start(url: &str) -> Node {
        common::run(async {
            let room = Arc::new(Room::new());
            let server = chat::server::builder(room.clone())
                .broker(redis_broker(url))
                .bind("127.0.0.1:0")
                .await
                .expect("bind the chat server");
            let addr = server.local_addr();
            room.join_cluster(addr.to_string(), HEARTBEAT);
            let handle = server.handle();
            common::spawn(chat::server::serve(server, room.clone()));
            subscribed(&handle, 2).await;
            Node { addr, room }
        })
    }

    /// The members of the other nodes that this one knows of.
    fn remote_members(&self) -> Vec<String> {
        self.room.cluster().expect("in a cluster").members()
    }

    /// How many other nodes this one heard from lately.
    fn nodes(&self) -> usize {
        self.room.cluster().expect("in a cluster").nodes()
    }
}

/// Two nodes on `redis`, each heard from by the other (so that neither
/// takes the other for a node that came into view later).
fn start_cluster(redis: &Redis) -> (Node, Node) {
    let (a, b) = (Node::start(&redis.url()), Node::start(&redis.url()));
    assert!(
        poll_until(TIMEOUT, || a.nodes() == 1 && b.nodes() == 1),
        "the nodes never heard from each other"
    );
    (a, b)
}

fn texts(messages: &[Value]) -> Vec<&str> {
    messages
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect()
}

/// Reads a chat message on `ws` and checks who said what.
fn said(ws: &mut common::Ws, nick: &str, text: &str) {
    let message = read_json(ws);
    assert_eq!(
        (&message["type"], &message["nick"], &message["text"]),
        (&json!("message"), &json!(nick), &json!(text)),
        "{message}"
    );
}

#[test]
fn members_of_two_nodes_see_each_other() {
    let Some(redis) = Redis::start() else { return };
    let (a, b) = start_cluster(&redis);

    let (mut alice, users, history) = join(a.addr, "alice");
    assert_eq!(users, ["alice"]);
    assert!(history.is_empty());
    // A tells B at once (its snapshot on every change).
    assert!(poll_until(TIMEOUT, || b.remote_members() == ["alice"]));

    // bob on B is told alice is online on A, and alice sees him join.
    let (mut bob, users, _) = join(b.addr, "bob");
    assert_eq!(users, ["alice", "bob"]);
    assert_eq!(
        read_json(&mut alice),
        json!({ "type": "join", "nick": "bob" })
    );

    say(&mut bob, "hello from B");
    said(&mut bob, "bob", "hello from B");
    said(&mut alice, "bob", "hello from B");
    say(&mut alice, "hello from A");
    said(&mut alice, "alice", "hello from A");
    said(&mut bob, "alice", "hello from A");

    // Nicknames are unique across the nodes (as far as each knows).
    let (status, reason) = refused(b.addr, chat_request(b.addr, "/chat?nick=ALICE"));
    assert_eq!(
        (status, reason.as_str()),
        (409, "this nickname is already taken")
    );
    assert_eq!(http(a.addr, "GET", "/check?nick=Bob").0, 409);

    // A newcomer on A: who is online on both nodes, and what was said on both.
    let (mut carol, users, history) = join(a.addr, "carol");
    assert_eq!(users, ["alice", "bob", "carol"]);
    assert_eq!(texts(&history), ["hello from B", "hello from A"]);
    for ws in [&mut alice, &mut bob] {
        assert_eq!(read_json(ws), json!({ "type": "join", "nick": "carol" }));
    }

    // bob leaves B: alice and carol on A see it, and A forgets him.
    bob.close(None).unwrap();
    for ws in [&mut alice, &mut carol] {
        assert_eq!(read_json(ws), json!({ "type": "leave", "nick": "bob" }));
    }
    assert!(poll_until(TIMEOUT, || a.remote_members().is_empty()));
    assert_eq!(http(a.addr, "GET", "/check?nick=bob").0, 200);
    let (_dave, users, _) = join(b.addr, "dave");
    assert_eq!(users, ["alice", "carol", "dave"]);
    assert_eq!(
        read_json(&mut alice),
        json!({ "type": "join", "nick": "dave" })
    );
}

#[test]
fn a_silent_node_drops_out() {
    let Some(redis) = Redis::start() else { return };
    let a = Node::start(&redis.url());
    // Another node, played by the test: a server that publishes snapshots.
    let ghost = common::run(async {
        let server = redis_builder(&redis.url()).build();
        let handle = server.handle();
        eventually("the ghost node reaches Redis", TIMEOUT, || {
            handle.metrics().broker.unwrap().connected
        })
        .await;
        server
    });
    // Its heartbeat, while `alive`.
    let alive = Arc::new(AtomicBool::new(true));
    let beating = alive.clone();
    let handle = ghost.handle();
    let beat = move || {
        let snapshot = Presence {
            node: "ghost-node".to_owned(),
            members: vec!["ghost".to_owned()],
        };
        while beating.load(Ordering::Acquire) {
            handle.publish(PRESENCE_TOPIC, snapshot.to_json());
            std::thread::sleep(HEARTBEAT / 2);
        }
    };
    let (mut alice, _, _) = join(a.addr, "alice");
    // Past its first heartbeats, A takes a node it sees for the first time
    // for a new one, whose members' joins its members have seen: no notice.
    std::thread::sleep(4 * HEARTBEAT);

    let beating = std::thread::spawn(beat.clone());
    assert!(poll_until(TIMEOUT, || a.remote_members() == ["ghost"]));
    assert_eq!(http(a.addr, "GET", "/check?nick=ghost").0, 409);

    // Silent for three heartbeats: forgotten, and its member gone.
    alive.store(false, Ordering::Release);
    beating.join().unwrap();
    assert_eq!(
        read_json(&mut alice),
        json!({ "type": "leave", "nick": "ghost" })
    );
    assert!(a.remote_members().is_empty());
    assert_eq!(http(a.addr, "GET", "/check?nick=ghost").0, 200);

    // Back: its member is announced again.
    alive.store(true, Ordering::Release);
    let beating = std::thread::spawn(beat);
    assert_eq!(
        read_json(&mut alice),
        json!({ "type": "join", "nick": "ghost" })
    );
    assert_eq!(a.remote_members(), ["ghost"]);
    alive.store(false, Ordering::Release);
    beating.join().unwrap();
}

/// The steps tests/browser/cluster.mjs reports, in order.
const CLUSTER_STEPS: &[&str] = &[
    "ok: alice joined on node A",
    "ok: alice sees bob join from node B; both pages list both online",
    "ok: a message typed on one node appears on the other",
    "ok: alice sees bob leave node B; bob is no longer listed",
    "done",
];

#[test]
fn two_nodes_in_chromium() {
    let Some(chromium) = browser_or_skip("two_nodes_in_chromium") else {
        return;
    };
    let Some(redis) = Redis::start() else { return };
    let (a, b) = start_cluster(&redis);
    let urls = [format!("http://{}/", a.addr), format!("http://{}/", b.addr)];
    run_browser_script(&chromium, "cluster.mjs", &urls, CLUSTER_STEPS);
}
