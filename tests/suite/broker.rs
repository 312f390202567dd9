//! The broker seam, with an in-memory broker joining servers in one
//! process: a publish crosses to the other server's subscribers once,
//! nobody gets their own publish twice, the node subscribes at the broker
//! exactly while it has subscribers, and bad envelopes are counted and
//! dropped. `broker_redis` does the same across processes over Redis.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use wsgate::broker::{Broker, BrokerInbox, BrokerMetrics};
use wsgate::runtime::Runtime;
use wsgate::{Config, Event, Serve, Server, ServerBuilder, ServerHandle};

use crate::common::{self, TIMEOUT, blocking, eventually, within, ws_connect, ws_read_data};

/// A broker in memory: every publish goes to every server's inbox (as
/// Redis echoes a publish to the publisher's own subscription), and the
/// subscribe calls are recorded.
#[derive(Default)]
pub struct Bus {
    inboxes: Mutex<Vec<BrokerInbox>>,
    /// The topics each server asked for, by server (start order).
    pub wanted: Mutex<Vec<BTreeSet<String>>>,
    starts: Mutex<usize>,
}

/// One server's handle on the bus: which server it is.
pub struct Node {
    bus: Arc<Bus>,
    index: Mutex<Option<usize>>,
}

impl Bus {
    pub fn node(self: &Arc<Self>) -> Node {
        Node {
            bus: self.clone(),
            index: Mutex::new(None),
        }
    }
}

impl Node {
    fn index(&self) -> usize {
        self.index.lock().unwrap().expect("started")
    }
}

impl Broker for Node {
    fn start(&self, _runtime: &Runtime, inbox: BrokerInbox) {
        let mut starts = self.bus.starts.lock().unwrap();
        *self.index.lock().unwrap() = Some(*starts);
        *starts += 1;
        self.bus.inboxes.lock().unwrap().push(inbox);
        self.bus.wanted.lock().unwrap().push(BTreeSet::new());
    }
    fn subscribe(&self, topic: &str) {
        let fresh = self.bus.wanted.lock().unwrap()[self.index()].insert(topic.to_owned());
        assert!(fresh, "subscribed twice to {topic}");
    }
    fn unsubscribe(&self, topic: &str) {
        let was = self.bus.wanted.lock().unwrap()[self.index()].remove(topic);
        assert!(was, "unsubscribed from {topic} without a subscription");
    }
    fn publish(&self, topic: &str, envelope: Vec<u8>) {
        let inboxes = self.bus.inboxes.lock().unwrap().clone();
        let wanted = self.bus.wanted.lock().unwrap().clone();
        for (inbox, wants) in inboxes.iter().zip(&wanted) {
            if wants.contains(topic) {
                inbox.deliver(topic, &envelope);
            }
        }
    }
    fn metrics(&self) -> BrokerMetrics {
        let mut metrics = BrokerMetrics::default();
        metrics.connected = true;
        metrics.subscriptions = self.bus.wanted.lock().unwrap()[self.index()].len();
        metrics
    }
}

/// A server where a client on `/<topic>` is subscribed to that topic, and
/// every text message it sends is published there.
pub async fn topic_node(builder: ServerBuilder) -> (SocketAddr, ServerHandle, Serve) {
    let server = builder.bind("127.0.0.1:0").await.expect("bind");
    let addr = server.local_addr();
    let handle = server.handle();
    let publisher = handle.clone();
    let serve = server.serve(move |request| {
        let handle = publisher.clone();
        async move {
            let topic = request.resource().trim_start_matches('/').to_owned();
            let Ok(conn) = request.accept(None, None).await else {
                return;
            };
            conn.subscribe(&topic).expect("subscribe");
            let mut events = conn.events();
            while let Some(event) = events.next().await {
                if let Event::Message(wsgate::Message::Text(text)) = event {
                    handle.publish(&topic, text);
                }
            }
        }
    });
    (addr, handle, serve)
}

/// Reads `n` text messages (each read under the client's timeout).
pub fn read_texts(ws: &mut common::Ws, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| ws_read_data(ws).into_text().expect("text").to_string())
        .collect()
}

#[test]
fn a_publish_crosses_to_the_other_server_once() {
    common::run(async move {
        let bus = Arc::new(Bus::default());
        let (a_addr, a, _a) = topic_node(Server::builder().broker(bus.node())).await;
        let (b_addr, b, _b) = topic_node(Server::builder().broker(bus.node())).await;
        let (mut alice, mut bob) = within(
            "two clients",
            blocking(move || (ws_connect(a_addr, "/room"), ws_connect(b_addr, "/room"))),
        )
        .await;
        eventually("both subscribed", TIMEOUT, || {
            a.subscribers("room") == 1 && b.subscribers("room") == 1
        })
        .await;
        let sent = within(
            "the exchange",
            blocking(move || {
                for i in 0..5 {
                    alice.send(format!("a{i}").into()).unwrap();
                    bob.send(format!("b{i}").into()).unwrap();
                }
                let got_a = read_texts(&mut alice, 10);
                let got_b = read_texts(&mut bob, 10);
                (got_a, got_b, (alice, bob))
            }),
        )
        .await;
        // Each sees all ten exactly once, and each sender's messages in
        // the order they were sent.
        for got in [&sent.0, &sent.1] {
            let a_order: Vec<&String> = got.iter().filter(|m| m.starts_with('a')).collect();
            let b_order: Vec<&String> = got.iter().filter(|m| m.starts_with('b')).collect();
            assert_eq!(a_order, ["a0", "a1", "a2", "a3", "a4"], "{got:?}");
            assert_eq!(b_order, ["b0", "b1", "b2", "b3", "b4"], "{got:?}");
        }
        for handle in [&a, &b] {
            let broker = handle.metrics().broker.expect("a broker");
            // Five from the other server, five own ones echoed and ignored.
            assert_eq!((broker.received, broker.own, broker.malformed), (5, 5, 0));
            assert_eq!(broker.subscriptions, 1);
        }
    });
}

#[test]
fn the_node_is_subscribed_while_it_has_subscribers() {
    common::run(async move {
        let bus = Arc::new(Bus::default());
        let (addr, handle, _serve) = topic_node(Server::builder().broker(bus.node())).await;
        let wanted = || bus.wanted.lock().unwrap()[0].clone();
        assert!(wanted().is_empty());
        let first = within("a client", blocking(move || ws_connect(addr, "/news"))).await;
        let second = within("a client", blocking(move || ws_connect(addr, "/news"))).await;
        eventually("two subscribers", TIMEOUT, || {
            handle.subscribers("news") == 2
        })
        .await;
        assert_eq!(wanted(), BTreeSet::from(["news".to_owned()]));
        let listener = handle.on_topic("audit", |_| {}).unwrap();
        assert_eq!(wanted().len(), 2);
        drop(listener);
        assert_eq!(wanted(), BTreeSet::from(["news".to_owned()]));
        drop(first);
        eventually("one subscriber", TIMEOUT, || {
            handle.subscribers("news") == 1
        })
        .await;
        assert_eq!(wanted().len(), 1, "one subscriber is left");
        drop(second);
        eventually("no subscriber", TIMEOUT, || wanted().is_empty()).await;
        // A publish with nobody subscribed here still goes to the broker.
        let other = Server::builder().broker(bus.node()).build();
        let (tx, rx) = std::sync::mpsc::channel();
        let _listening = other
            .handle()
            .on_topic("news", move |p| tx.send(p.is_remote()).unwrap())
            .unwrap();
        handle.publish("news", "to the other node");
        assert_eq!(rx.recv_timeout(TIMEOUT), Ok(true));
    });
}

#[test]
fn bad_envelopes_are_counted_and_dropped() {
    common::run(async move {
        let bus = Arc::new(Bus::default());
        let (addr, handle, _serve) = topic_node(Server::builder().broker(bus.node())).await;
        let mut client = within("a client", blocking(move || ws_connect(addr, "/room"))).await;
        eventually("subscribed", TIMEOUT, || handle.subscribers("room") == 1).await;
        let inbox = bus.inboxes.lock().unwrap()[0].clone();
        let mut text_not_utf8 = vec![1u8];
        text_not_utf8.extend_from_slice(&[9; 16]);
        text_not_utf8.extend_from_slice(&[1, b'a', 0xff]);
        for bad in [&b""[..], b"short", &[7; 40], &text_not_utf8] {
            inbox.deliver("room", bad);
        }
        // A good one from another node after the bad ones still arrives.
        let mut good = vec![1u8];
        good.extend_from_slice(&[9; 16]);
        good.push(1);
        good.extend_from_slice(b"fine");
        inbox.deliver("room", &good);
        let got = within("the good one", blocking(move || read_texts(&mut client, 1))).await;
        assert_eq!(got, ["fine"]);
        let broker = handle.metrics().broker.unwrap();
        assert_eq!((broker.malformed, broker.received), (4, 1));
    });
}

#[test]
fn a_panicking_listener_stops_nothing() {
    // Built inside the runtime: under only `tokio`, a server needs one.
    common::run(async move {
        let bus = Arc::new(Bus::default());
        let a = Server::builder().broker(bus.node()).build();
        let b = Server::builder().broker(bus.node()).build();
        let (tx, rx) = std::sync::mpsc::channel();
        let _panics = b
            .handle()
            .on_topic("t", |p| assert!(p.text().is_some(), "binary!"))
            .unwrap();
        let _counts = b
            .handle()
            .on_topic("t", move |p| tx.send(p.data().len()).unwrap())
            .unwrap();
        a.handle().publish("t", vec![1u8, 2, 3]);
        a.handle().publish("t", "ok");
        // Both reached the second listener, the first one's panic
        // notwithstanding.
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), [3, 2]);
        assert_eq!(b.handle().metrics().broker.unwrap().received, 2);
    });
}

#[test]
fn a_server_without_a_broker_reports_none() {
    common::run(async move {
        let server = Server::builder().config(Config::default()).build();
        assert_eq!(server.handle().metrics().broker, None);
    });
}
