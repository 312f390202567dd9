//! Topics: subscribe, publish, leave on close, limits, and a publisher
//! that never waits for a slow subscriber. The subscribers are tungstenite
//! clients and raw sockets.

use std::time::{Duration, Instant};

use futures::StreamExt;
use wsgate::{BroadcastPolicy, Config, Connection, Error, Event, Prepared};

use crate::common::{
    self, RequestServer, TIMEOUT, blocking, eventually, never_reading_client, request_server,
    within, ws_connect, ws_read_data,
};

/// A tungstenite client on `path` and the server's connection for it.
async fn join(server: &RequestServer, path: &'static str) -> (common::Ws, Connection) {
    let addr = server.addr;
    let client = blocking(move || ws_connect(addr, path));
    let conn = within("accept", server.next().await.accept(None, None))
        .await
        .expect("accept");
    (within("the client", client).await, conn)
}

/// Reads `n` data messages on a blocking thread; returns them as text.
async fn read_texts(mut ws: common::Ws, n: usize) -> (common::Ws, Vec<String>) {
    blocking(move || {
        let texts = (0..n)
            .map(|_| ws_read_data(&mut ws).into_text().expect("text").to_string())
            .collect();
        (ws, texts)
    })
    .await
}

#[test]
fn a_publish_reaches_every_subscriber_once_and_nobody_else() {
    common::run(async move {
        let server = request_server(Config::default()).await;
        let (alice, alice_conn) = join(&server, "/alice").await;
        let (bob, bob_conn) = join(&server, "/bob").await;
        let (carol, carol_conn) = join(&server, "/carol").await;
        assert!(alice_conn.subscribe("room").unwrap());
        assert!(!alice_conn.subscribe("room").unwrap(), "already subscribed");
        assert!(bob_conn.subscribe("room").unwrap());
        assert!(carol_conn.subscribe("other").unwrap());
        assert_eq!(server.handle.subscribers("room"), 2);
        assert_eq!(alice_conn.topics(), ["room"]);

        let report = server.handle.publish("room", "hello room");
        assert_eq!(
            (report.queued, report.dropped, report.closed),
            (1 + 1, 0, 0)
        );
        assert_eq!(server.handle.publish("nobody", "void").queued, 0);
        // Carol gets her own topic's message first: the room's never came.
        server.handle.publish("other", "hello other");

        let (_alice, a) = within("alice", read_texts(alice, 1)).await;
        let (_bob, b) = within("bob", read_texts(bob, 1)).await;
        let (_carol, c) = within("carol", read_texts(carol, 1)).await;
        assert_eq!(
            (a, b, c),
            (
                vec!["hello room".to_owned()],
                vec!["hello room".to_owned()],
                vec!["hello other".to_owned()]
            )
        );

        let topics = server.handle.metrics().topics;
        let room = topics["room"];
        assert_eq!(
            (room.subscribers, room.published, room.delivered),
            (2, 1, 2)
        );
        assert!(!topics.contains_key("nobody"));
    })
}

#[test]
fn unsubscribing_and_closing_leave_the_topic() {
    common::run(async move {
        let server = request_server(Config::default()).await;
        let (_alice, alice_conn) = join(&server, "/alice").await;
        let (bob, bob_conn) = join(&server, "/bob").await;
        for conn in [&alice_conn, &bob_conn] {
            conn.subscribe("a").unwrap();
            conn.subscribe("b").unwrap();
        }
        assert!(alice_conn.unsubscribe("a"));
        assert!(!alice_conn.unsubscribe("a"));
        assert_eq!(alice_conn.topics(), ["b"]);
        assert_eq!(server.handle.subscribers("a"), 1);

        // Bob's client goes away: bob leaves both topics by himself, and
        // topic "a", now empty, is gone from the metrics.
        let mut events = bob_conn.events();
        drop(bob);
        while let Some(event) = within("bob's events", events.next()).await {
            if matches!(event, Event::Close(_)) {
                break;
            }
        }
        eventually("bob left his topics", TIMEOUT, || {
            server.handle.subscribers("b") == 1 && server.handle.subscribers("a") == 0
        })
        .await;
        let topics = server.handle.metrics().topics;
        assert!(!topics.contains_key("a"), "{topics:?}");
        assert_eq!(topics["b"].subscribers, 1);
        assert_eq!(bob_conn.topics(), Vec::<String>::new());
        assert!(matches!(bob_conn.subscribe("c"), Err(Error::Closed)));
    })
}

#[test]
fn topic_names_and_subscriptions_are_limited() {
    common::run(async move {
        let mut config = Config::default();
        config.max_topic_len = 8;
        config.max_subscriptions_per_connection = 2;
        config.max_topics = 3;
        let server = request_server(config).await;
        let (_a, a) = join(&server, "/a").await;
        let (_b, b) = join(&server, "/b").await;
        assert!(matches!(
            a.subscribe("123456789"),
            Err(Error::TopicTooLong { len: 9, max: 8 })
        ));
        a.subscribe("t1").unwrap();
        a.subscribe("t2").unwrap();
        assert!(matches!(
            a.subscribe("t3"),
            Err(Error::TooManySubscriptions(2))
        ));
        // Subscribing again to a topic it has is no new subscription.
        assert!(!a.subscribe("t1").unwrap());
        b.subscribe("t3").unwrap();
        assert!(matches!(b.subscribe("t4"), Err(Error::TooManyTopics(3))));
        // An existing topic can still be joined at the server's limit.
        assert!(b.subscribe("t1").unwrap());
        assert_eq!(server.handle.metrics().topics.len(), 3);
    })
}

/// A subscriber that never reads fills its queue; a healthy one reads
/// every message; the publisher never waits. Returns the healthy client's
/// messages, the stalled connection (and its client's socket), the reports
/// and how long publishing took.
async fn publish_past_a_stalled_subscriber(
    policy: BroadcastPolicy,
) -> (
    Vec<String>,
    (Connection, std::net::TcpStream),
    Vec<wsgate::BroadcastReport>,
    Duration,
) {
    const MESSAGES: usize = 400;
    let mut config = Config::default();
    config.send_queue_high_water = 64 << 10;
    config.send_queue_low_water = 16 << 10;
    config.close_timeout = Duration::from_millis(300);
    config.broadcast_policy = policy;
    // Small kernel buffers: the stalled peer's queue fills fast.
    config.tcp.send_buffer_size = Some(16 << 10);
    let server = request_server(config).await;
    let addr = server.addr;
    let stalled_socket = blocking(move || never_reading_client(addr, "/stalled"));
    let stalled = within("accept", server.next().await.accept(None, None))
        .await
        .unwrap();
    let stalled_socket = within("the stalled client", stalled_socket).await;
    let (healthy, healthy_conn) = join(&server, "/healthy").await;
    stalled.subscribe("feed").unwrap();
    healthy_conn.subscribe("feed").unwrap();

    let reader = common::spawn(read_texts(healthy, MESSAGES));
    let filler = "x".repeat(1000);
    let start = Instant::now();
    let mut reports = Vec::new();
    for i in 0..MESSAGES {
        reports.push(server.handle.publish("feed", format!("{i} {filler}")));
        // The publisher keeps pace with the healthy subscriber only (a
        // faster one would see it dropped too); the stalled one is never
        // waited for.
        if healthy_conn.buffered_amount() > 32 << 10 {
            within("the healthy subscriber's queue", healthy_conn.writable())
                .await
                .unwrap();
        }
    }
    let publishing = start.elapsed();
    let (_healthy, texts) = within("the healthy subscriber", reader).await;
    (texts, (stalled, stalled_socket), reports, publishing)
}

#[test]
fn a_stalled_subscriber_never_holds_up_the_publisher_or_the_others() {
    common::run(async move {
        let (texts, (stalled, _socket), reports, publishing) =
            publish_past_a_stalled_subscriber(BroadcastPolicy::Drop).await;
        // Every message reached the healthy subscriber, in order.
        for (i, text) in texts.iter().enumerate() {
            assert!(
                text.starts_with(&format!("{i} ")),
                "message {i}: {text:.20}"
            );
        }
        // 400 publishes of 1 KB, paced by the healthy subscriber: well
        // under a second; a publisher that waited for the stalled one would
        // hang.
        assert!(publishing < Duration::from_secs(5), "{publishing:?}");
        let dropped: usize = reports.iter().map(|r| r.dropped).sum();
        assert!(dropped > 0, "the stalled subscriber never met its mark");
        assert!(reports.iter().all(|r| r.queued >= 1 && r.closed == 0));
        // Drop keeps it open, its queue at the mark, not beyond.
        assert!(stalled.is_open());
        assert!(stalled.buffered_amount() < (64 << 10) + 2048);
    })
}

#[test]
fn under_close_a_stalled_subscriber_is_failed_with_1008() {
    common::run(async move {
        let (texts, (stalled, _socket), reports, _) =
            publish_past_a_stalled_subscriber(BroadcastPolicy::Close).await;
        assert_eq!(texts.len(), 400);
        let closed: usize = reports.iter().map(|r| r.closed).sum();
        assert_eq!(closed, 1, "closed by the 400 publishes");
        assert!(!stalled.is_open());
        // An error first, then the close that went out (a reading peer's
        // 1008 is in tests/suite/close_paths.rs).
        let mut events = stalled.events();
        let mut seen = Vec::new();
        while let Some(event) = within("the stalled connection's events", events.next()).await {
            seen.push(event);
        }
        crate::common::assert_failed_for_full_queue("the stalled subscriber", seen);
    })
}

#[test]
fn a_connection_can_override_the_servers_broadcast_policy() {
    common::run(async move {
        let mut config = Config::default();
        config.send_queue_high_water = 16 << 10;
        // A small send buffer: the 1.6 MB published cannot all go into the
        // kernel's buffers (the send buffer grows to MBs on its own), so
        // the queue fills whether or not the writer keeps up.
        config.tcp.send_buffer_size = Some(16 << 10);
        let server = request_server(config).await;
        let addr = server.addr;
        let socket = blocking(move || never_reading_client(addr, "/strict"));
        let strict = within("accept", server.next().await.accept(None, None))
            .await
            .unwrap();
        let _socket = within("the client", socket).await;
        strict.set_broadcast_policy(BroadcastPolicy::Close);
        strict.subscribe("feed").unwrap();
        let message = Prepared::new(vec![7u8; 8 << 10]);
        let mut closed = 0;
        for _ in 0..200 {
            let report = server.handle.publish_prepared("feed", &message);
            assert_eq!(report.dropped, 0, "the server's Drop applied: {report:?}");
            closed += report.closed;
            if closed > 0 {
                break;
            }
        }
        assert_eq!(closed, 1);
        assert!(!strict.is_open());
    })
}
