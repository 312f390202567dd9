//! One function decides what a full send queue means, for `send`,
//! `send_prepared` and broadcasts: the send policy for senders (which may
//! wait), the broadcast policy for broadcasts (which never wait), and a
//! close is the same failure with 1008 whichever path met the mark.

use std::time::Duration;

use futures::StreamExt;
use wsgate::{BroadcastPolicy, Config, Connection, Error, Event, Prepared, SendPolicy};

use crate::common::{self, blocking, never_reading_client, request_server, within};

const CHUNK: usize = 32 << 10;

fn config(send: SendPolicy, broadcast: BroadcastPolicy) -> Config {
    let mut config = Config::default();
    config.send_queue_policy = send;
    config.broadcast_policy = broadcast;
    config.send_queue_high_water = 64 << 10;
    config.send_queue_low_water = 16 << 10;
    // The stalled peers never take the close frame: the close timeout ends
    // their connections.
    config.close_timeout = Duration::from_millis(300);
    config
}

/// The events of `conn`'s stream up to its close (at most 100).
async fn events_until_close(conn: &Connection) -> Vec<Event> {
    let mut events = conn.events();
    let mut seen = Vec::new();
    for _ in 0..100 {
        match within("an event", events.next()).await {
            Some(event) => seen.push(event),
            None => return seen,
        }
    }
    panic!("no close event among {seen:?}");
}

/// Sends 32 KiB messages through `send` until the policy answers.
async fn fill_by_send(conn: &Connection) -> Result<(), Error> {
    for _ in 0..100 {
        within("a send", conn.send_binary(vec![1u8; CHUNK])).await?;
    }
    panic!("the queue never filled");
}

/// Broadcasts 32 KiB messages to the connection on `path` until one is not
/// delivered; returns how that broadcast went.
async fn fill_by_broadcast(server: &common::RequestServer, path: &str) -> wsgate::BroadcastReport {
    let message = Prepared::new(vec![2u8; CHUNK]);
    for _ in 0..100 {
        let report = within(
            "a broadcast",
            server
                .handle
                .broadcast_prepared_where(&message, |c| c.resource() == path),
        )
        .await;
        if report.dropped + report.closed > 0 {
            return report;
        }
        assert_eq!(report.queued, 1, "{report:?}");
    }
    panic!("the queue never filled");
}

/// Two stalled peers under the two policies: one whose queue `send` fills until
/// the policy answers, one whose queue broadcasts fill. Returns their
/// connections (the sockets are kept open in the third item).
async fn fill_two(
    send: SendPolicy,
    broadcast: BroadcastPolicy,
) -> (Connection, Connection, Vec<std::net::TcpStream>) {
    let server = request_server(config(send, broadcast)).await;
    let addr = server.addr;
    let mut conns = Vec::new();
    let mut sockets = Vec::new();
    for path in ["/by-send", "/by-broadcast"] {
        let socket = blocking(move || never_reading_client(addr, path));
        let request = server.next().await;
        let conn = within("accept", request.accept(None, None)).await.unwrap();
        sockets.push(within("the client", socket).await);
        conns.push(conn);
    }
    let by_broadcast = conns.pop().unwrap();
    let by_send = conns.pop().unwrap();
    assert!(matches!(
        fill_by_send(&by_send).await,
        Err(Error::QueueFull)
    ));
    let report = fill_by_broadcast(&server, "/by-broadcast").await;
    assert_eq!(
        (report.queued, report.dropped + report.closed),
        (0, 1),
        "{report:?}"
    );
    (by_send, by_broadcast, sockets)
}

#[test]
fn under_close_send_and_broadcast_both_fail_the_connection_with_1008() {
    common::run(async move {
        let (by_send, by_broadcast, _sockets) =
            fill_two(SendPolicy::Close, BroadcastPolicy::Close).await;
        for conn in [&by_send, &by_broadcast] {
            assert!(!conn.is_open(), "{} is still open", conn.resource());
            assert!(matches!(conn.send("more").await, Err(Error::Closed)));
            // Both are failed the same way, and told so by an error; the
            // close reported is what went out, never what was only meant.
            common::assert_failed_for_full_queue(conn.resource(), events_until_close(conn).await);
        }
    })
}

#[test]
fn under_fail_and_drop_send_and_broadcast_both_skip_and_keep_the_connection() {
    common::run(async move {
        let (by_send, by_broadcast, _sockets) =
            fill_two(SendPolicy::Fail, BroadcastPolicy::Drop).await;
        // Prepared messages follow the same rule through `send_prepared`.
        let more = Prepared::new("more");
        assert!(matches!(
            by_send.send_prepared(&more).await,
            Err(Error::QueueFull)
        ));
        for conn in [&by_send, &by_broadcast] {
            assert!(conn.is_open(), "{} was closed", conn.resource());
            assert!(conn.buffered_amount() >= 64 << 10);
        }
    })
}
