//! The in-memory harness (`wsgate::testing`): the real handshake, frames,
//! limits, compression and closing handshake over an in-memory pipe, and
//! every timeout on a manual clock, so timer tests wait for nothing and
//! assert exact deadlines. The real-socket tests of the same timeouts,
//! against independent peers, stay in `keepalive.rs` and `close.rs`.

use std::time::Duration;

use async_channel::{Receiver, unbounded};
use futures::StreamExt;
use wsgate::testing::{self, Clock};
use wsgate::{CloseCode, CloseEvent, Config, Connection, Event, HandshakeError, Message};

use crate::common::{self, *};

/// Passes every event of the client `conn` on to the test, reading (and
/// so answering pings) as they come.
fn client_events(conn: &Connection) -> Receiver<Event> {
    let (tx, rx) = unbounded();
    let mut events = conn.events();
    common::spawn(async move {
        while let Some(event) = events.next().await {
            let _ = tx.send(event).await;
        }
    });
    rx
}

/// The close event among `events`, which must hold one.
async fn close_of(events: &Receiver<Event>) -> CloseEvent {
    loop {
        match within("a close event", events.recv()).await {
            Ok(Event::Close(close)) => return close,
            Ok(_) => {}
            Err(_) => panic!("the events ended without a close event"),
        }
    }
}

/// A client that sends no keepalive pings of its own (they would show in
/// the events the tests count), with `config`'s other settings.
fn quiet_client(mut config: Config) -> wsgate::Client {
    config.ping_interval = None;
    wsgate::Client::new().config(config)
}

/// An in-memory echo server with `config` on a clock of its own, and a
/// [`quiet_client`] connected to `path`: the clock, the server, the
/// client.
async fn quiet_connection(config: Config, path: &str) -> (Clock, EchoServer, Connection) {
    let clock = Clock::new();
    let (server, connector) = memory_echo_server(config, &clock);
    let client = connector
        .connect_with(quiet_client(Config::default()), path)
        .await
        .unwrap();
    (clock, server, client)
}

/// The server's close event: the last of its events.
async fn server_close(server: &EchoServer) -> CloseEvent {
    let seen = server.events_until_close().await;
    let Some(Event::Close(close)) = seen.last() else {
        panic!("{seen:?}")
    };
    close.clone()
}

/// The next event of `events`, a text message.
async fn next_text(events: &Receiver<Event>) -> String {
    match within("a message", events.recv()).await {
        Ok(Event::Message(Message::Text(text))) => text,
        other => panic!("not a text message: {other:?}"),
    }
}

/// Waits for the close the idle timeout caused.
async fn expect_idle_close(events: &Receiver<Event>) {
    let close = close_of(events).await;
    assert_eq!(
        (close.code, close.reason.as_str()),
        (CloseCode::GOING_AWAY, "idle timeout")
    );
}

/// What `events` holds now, without waiting.
fn drained(events: &Receiver<Event>) -> Vec<Event> {
    std::iter::from_fn(|| events.try_recv().ok()).collect()
}

#[test]
fn in_memory_pair_runs_the_handshake_messages_and_the_closing_handshake() {
    common::run(async move {
        let clock = Clock::new();
        let (mut server, connector) = testing::server(Config::default(), &clock);
        let client = wsgate::Client::new()
            .protocol("chat")
            .origin("https://example.com")
            .header("Cookie", "session=abc");
        let connecting =
            common::spawn(async move { connector.connect_with(client, "/room?id=7").await });
        let request = within("the request", server.next()).await.unwrap();
        assert_eq!(request.resource(), "/room?id=7");
        assert_eq!(request.origin(), Some("https://example.com"));
        assert_eq!(request.header("cookie"), Some("session=abc"));
        assert_eq!(request.remote_addr().ip().to_string(), "127.0.0.1");
        let conn = request.accept(Some("chat"), None).await.unwrap();
        let client = within("the client", connecting).await.unwrap();
        assert_eq!(client.protocol(), Some("chat"));
        assert_eq!(client.remote_addr(), conn.local_addr());
        assert_eq!(conn.remote_addr(), client.local_addr());

        let server_events = client_events(&conn);
        let events = client_events(&client);
        client.send("hello").await.unwrap();
        let Event::Message(Message::Text(text)) =
            within("the message", server_events.recv()).await.unwrap()
        else {
            panic!("not a text message")
        };
        assert_eq!(text, "hello");
        conn.send(vec![1u8, 2, 3]).await.unwrap();
        let Event::Message(Message::Binary(data)) =
            within("the reply", events.recv()).await.unwrap()
        else {
            panic!("not a binary message")
        };
        assert_eq!(data, [1, 2, 3]);

        client.close(CloseCode::NORMAL, "bye").unwrap();
        let seen = close_of(&server_events).await;
        assert_eq!(
            (seen.code, seen.reason.as_str(), seen.clean),
            (CloseCode::NORMAL, "bye", true)
        );
        let answer = close_of(&events).await;
        assert_eq!(answer.code, CloseCode::NORMAL);
        assert!(answer.clean);
        within("the client's end", client.closed()).await;
        within("the server's end", conn.closed()).await;
    })
}

#[test]
fn in_memory_rejections_carry_status_and_reason_and_a_dropped_server_refuses() {
    common::run(async move {
        let clock = Clock::new();
        let (mut server, connector) = testing::server(Config::default(), &clock);
        let refusing = connector.clone();
        let connecting = common::spawn(async move { refusing.connect("/private").await });
        let request = within("the request", server.next()).await.unwrap();
        request.reject(wsgate::http_types::StatusCode::Unauthorized, "token needed");
        let refused = within("the answer", connecting).await.unwrap_err();
        let wsgate::Error::Handshake(HandshakeError::Rejected { status, reason, .. }) = refused
        else {
            panic!("not a rejection: {refused:?}")
        };
        assert_eq!((status, reason.as_deref()), (401, Some("token needed")));

        assert!(connector.connect("no-slash").await.is_err());
        drop(server);
        let gone = connector.connect("/").await.unwrap_err();
        assert!(
            matches!(&gone, wsgate::Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused),
            "{gone:?}"
        );
    })
}

#[test]
fn in_memory_limits_close_with_1009() {
    common::run(async move {
        let mut config = Config::default();
        config.max_message_size = 1024;
        let clock = Clock::new();
        let (server, connector) = memory_echo_server(config, &clock);
        let client = connector.connect("/").await.unwrap();
        let events = client_events(&client);
        client.send(vec![0u8; 4096]).await.unwrap();
        let close = close_of(&events).await;
        assert_eq!(close.code, CloseCode::MESSAGE_TOO_BIG);
        let close = server_close(&server).await;
        assert_eq!(close.code, CloseCode::MESSAGE_TOO_BIG);
    })
}

#[cfg(feature = "deflate")]
#[test]
fn in_memory_deflate_is_negotiated_and_compresses() {
    common::run(async move {
        let clock = Clock::new();
        let (server, connector) = memory_echo_server(Config::default(), &clock);
        let client = wsgate::Client::new().deflate(wsgate::handshake::DeflateConfig::default());
        let client = connector.connect_with(client, "/").await.unwrap();
        assert!(client.deflate().is_some());
        let conn = server.conn().await;
        assert!(conn.deflate().is_some());
        let events = client_events(&client);
        let text = "all work and no play ".repeat(500);
        client.send(text.as_str()).await.unwrap();
        let Event::Message(Message::Text(echo)) = within("the echo", events.recv()).await.unwrap()
        else {
            panic!("not a text message")
        };
        assert_eq!(echo, text);
        let stats = conn.stats();
        assert!(stats.bytes_in < text.len() as u64 / 4, "{stats:?}");
    })
}

/// A slow reader holds its writer back: the pipe is bounded.
#[test]
fn in_memory_pipes_push_back_on_a_writer() {
    common::run(async move {
        let (mut a, mut b) = testing::duplex(8);
        use futures::io::{AsyncReadExt, AsyncWriteExt};
        let mut room = [0u8; 64];
        assert_eq!(a.write(&room).await.unwrap(), 8);
        let full = futures::FutureExt::now_or_never(a.write(&room[..1]));
        assert!(full.is_none(), "a full pipe took more");
        assert_eq!(b.read(&mut room).await.unwrap(), 8);
        assert_eq!(a.write(&room[..1]).await.unwrap(), 1);
    })
}

/// Moved from `keepalive.rs` (2 s of pinging in real time there): a peer
/// that answers is pinged every interval, stays open, and its rtt is
/// measured (the least there is: no time passes on the clock while the
/// pong travels).
#[test]
fn keepalive_keeps_a_peer_that_answers_and_measures_its_rtt() {
    common::run(async move {
        let mut config = quiet_config();
        config.ping_interval = Some(Duration::from_secs(10));
        config.ping_timeout = Duration::from_secs(5);
        let (clock, server, client) = quiet_connection(config, "/answering").await;
        let events = client_events(&client);
        let conn = server.conn().await;
        clock.advance(Duration::from_secs(9)).await;
        assert!(drained(&events).is_empty(), "a ping before the interval");
        assert_eq!(conn.rtt(), None);
        clock.advance(Duration::from_secs(26)).await;
        let pings = drained(&events)
            .into_iter()
            .filter(|e| matches!(e, Event::Ping(p) if p.len() == 8))
            .count();
        assert_eq!(pings, 3, "pings at 10, 20 and 30 s");
        // No time passes while the pong travels: the least rtt recorded.
        assert_eq!(conn.rtt(), Some(Duration::from_micros(1)));
        assert!(conn.is_open() && client.is_open());
    })
}

/// The keepalive deadline to the millisecond: a peer that never reads is
/// failed with 1011 at ping interval + ping timeout, not a moment before.
#[test]
fn keepalive_fails_a_silent_peer_exactly_at_interval_plus_grace() {
    common::run(async move {
        let mut config = quiet_config();
        config.ping_interval = Some(Duration::from_secs(10));
        config.ping_timeout = Duration::from_secs(5);
        config.close_timeout = Duration::from_secs(2);
        let clock = Clock::new();
        let (server, connector) = memory_echo_server(config, &clock);
        // Nothing reads this client's events: it never answers a ping.
        let client = connector
            .connect_with(quiet_client(Config::default()), "/silent")
            .await
            .unwrap();
        let conn = server.conn().await;
        clock.advance(Duration::from_millis(14_999)).await;
        assert!(conn.is_open(), "failed before the deadline");
        assert!(server.events.is_empty(), "{:?}", server.events.try_recv());
        clock.advance(Duration::from_millis(1)).await;
        // Its close frame unanswered, the server drops the peer after the
        // close timeout.
        clock.advance(Duration::from_secs(2)).await;
        let close = server_close(&server).await;
        assert_eq!(close.code, CloseCode::INTERNAL_ERROR);
        assert!(!close.clean);
        within("closed()", conn.closed()).await;
        drop(client);
    })
}

/// Moved from `keepalive.rs` (0.6 s there): answering pings does not keep
/// an idle connection open; the idle timeout counts data frames.
#[test]
fn idle_timeout_closes_a_peer_that_only_answers_pings() {
    common::run(async move {
        let mut config = quiet_config();
        config.idle_timeout = Some(Duration::from_secs(60));
        config.ping_interval = Some(Duration::from_secs(10));
        config.ping_timeout = Duration::from_secs(50);
        let (clock, _server, client) = quiet_connection(config, "/answers-pings").await;
        let events = client_events(&client);
        clock.advance(Duration::from_millis(59_999)).await;
        let before = drained(&events);
        assert!(
            before.iter().all(|e| matches!(e, Event::Ping(_))),
            "{before:?}"
        );
        assert_eq!(before.len(), 5, "pings at 10 to 50 s: {before:?}");
        clock.advance(Duration::from_millis(1)).await;
        expect_idle_close(&events).await;
    })
}

/// A peer that talks more often than the idle timeout stays open however
/// long it talks; once silent, it is closed one idle timeout after its
/// last message.
#[test]
fn idle_timeout_counts_from_the_last_message() {
    common::run(async move {
        let mut config = quiet_config();
        config.idle_timeout = Some(Duration::from_secs(30));
        let (clock, _server, client) = quiet_connection(config, "/talking").await;
        let events = client_events(&client);
        for i in 0..10 {
            clock.advance(Duration::from_secs(20)).await;
            client.send(format!("{i}")).await.unwrap();
            assert_eq!(next_text(&events).await, i.to_string());
        }
        clock.advance(Duration::from_millis(29_999)).await;
        assert!(client.is_open() && events.is_empty());
        clock.advance(Duration::from_millis(1)).await;
        expect_idle_close(&events).await;
    })
}

/// The close timeout to the millisecond: a peer that never answers the
/// server's close frame is dropped `close_timeout` after it was written.
#[test]
fn unanswered_close_is_dropped_exactly_at_close_timeout() {
    common::run(async move {
        let mut config = Config::default();
        config.close_timeout = Duration::from_secs(5);
        let clock = Clock::new();
        let (server, connector) = memory_echo_server(config, &clock);
        // Never reads: never answers the close.
        let client = connector.connect("/").await.unwrap();
        let conn = server.conn().await;
        conn.close(CloseCode::NORMAL, "closing").unwrap();
        clock.advance(Duration::from_millis(4_999)).await;
        assert!(server.events.is_empty(), "{:?}", server.events.try_recv());
        clock.advance(Duration::from_millis(1)).await;
        within("closed()", conn.closed()).await;
        // The report is the close that went out, unanswered.
        let close = server_close(&server).await;
        assert_eq!(
            (close.code, close.reason.as_str()),
            (CloseCode::NORMAL, "closing")
        );
        assert!(!close.clean);
        drop(client);
    })
}

/// The decision timeout on the clock: a request the application holds
/// undecided is answered 503 when it expires.
#[test]
fn an_undecided_request_expires_at_the_decision_timeout() {
    common::run(async move {
        let mut config = Config::default();
        config.decision_timeout = Duration::from_secs(30);
        let clock = Clock::new();
        let (mut server, connector) = testing::server(config, &clock);
        // The client waits longer than the server's decision timeout.
        let mut patient = Config::default();
        patient.handshake_timeout = Duration::from_secs(60);
        let client = quiet_client(patient);
        let mut connecting =
            common::spawn(async move { connector.connect_with(client, "/").await });
        let request = within("the request", server.next()).await.unwrap();
        clock.advance(Duration::from_millis(29_999)).await;
        assert!(
            futures::FutureExt::now_or_never(&mut connecting).is_none(),
            "answered early"
        );
        clock.advance(Duration::from_millis(1)).await;
        let refused = within("the answer", connecting).await.unwrap_err();
        assert!(
            matches!(
                refused,
                wsgate::Error::Handshake(HandshakeError::Rejected { status: 503, .. })
            ),
            "{refused:?}"
        );
        let late = request.accept(None, None).await;
        assert!(late.is_err(), "accepted after the decision timeout");
    })
}
