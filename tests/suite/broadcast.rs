//! Broadcasts to every connection, to a selection, and past peers
//! that do not read (the broadcast policies: a broadcast never waits); raw
//! sockets as the clients.

use std::io::{self};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common::{self, *};
use futures::FutureExt;
use wsgate::{BroadcastPolicy, DataKind};

#[test]
fn broadcast_reaches_every_client_once_with_the_same_bytes() {
    common::run(async move {
        const N: usize = 20;
        let ops = ops_server(quiet_config()).await;
        let fleet = raw_fleet(ops.addr, "/quiet/all", N).await;
        eventually("every connection registered", TIMEOUT, || {
            ops.handle.connection_count() == N
        })
        .await;
        let binary = bytes_of_len(70_000);
        let report = ops.handle.broadcast("first").await;
        assert_eq!((report.queued, report.dropped, report.closed), (N, 0, 0));
        let report = ops.handle.broadcast(binary.clone()).await;
        assert_eq!((report.queued, report.dropped, report.closed), (N, 0, 0));
        let frames = blocking(move || {
            fleet
                .into_iter()
                .map(|mut s| {
                    let a = read_server_frame(&mut s).expect("first broadcast");
                    let b = read_server_frame(&mut s).expect("second broadcast");
                    (a, b)
                })
                .collect::<Vec<_>>()
        });
        let frames = within("the broadcasts", frames).await;
        assert_eq!(frames.len(), N);
        for (a, b) in frames {
            assert_eq!(a, (0x81, b"first".to_vec()));
            assert_eq!(b.0, 0x82);
            assert!(b.1 == binary, "the broadcast payload differs");
        }
    })
}

#[test]
fn broadcast_where_reaches_only_the_selected_connections() {
    common::run(async move {
        let ops = ops_server(quiet_config()).await;
        let lobby = raw_fleet(ops.addr, "/quiet/lobby", 3).await;
        let other = raw_fleet(ops.addr, "/quiet/other", 3).await;
        eventually("six connections", TIMEOUT, || {
            ops.handle.connection_count() == 6
        })
        .await;
        let report = ops
            .handle
            .broadcast_where("lobby news", |c| c.resource().starts_with("/quiet/lobby"))
            .await;
        assert_eq!((report.queued, report.dropped), (3, 0));
        let report = ops.handle.broadcast("for all").await;
        assert_eq!(report.queued, 6);
        let firsts = blocking(move || {
            let read =
                |mut s: TcpStream| String::from_utf8(read_server_frame(&mut s).unwrap().1).unwrap();
            let lobby: Vec<_> = lobby.into_iter().map(read).collect();
            let other: Vec<_> = other.into_iter().map(read).collect();
            (lobby, other)
        });
        let (lobby, other) = within("the broadcasts", firsts).await;
        assert_eq!(lobby, ["lobby news"; 3]);
        assert_eq!(other, ["for all"; 3], "the filter was ignored");
    })
}

#[test]
fn broadcast_to_1000_connections_finishes_despite_one_that_never_reads() {
    common::run(async move {
        const FLEET: usize = 999;
        let high_water = 64 << 10;
        let ops = ops_server(slow_config(BroadcastPolicy::Drop)).await;
        let addr = ops.addr;
        let slow = within(
            "the slow client",
            blocking(move || never_reading_client(addr, "/quiet/slow")),
        )
        .await;
        let fleet = raw_fleet(addr, "/quiet/fleet", FLEET).await;
        let mut accepted = Vec::new();
        for _ in 0..=FLEET {
            accepted.push(ops.accepted().await);
        }
        eventually("1000 registered connections", TIMEOUT, || {
            ops.handle.connection_count() == FLEET + 1
        })
        .await;
        let slow_conn = find(&accepted, "/quiet/slow");
        fill_queue(&slow_conn, high_water).await;

        let start = Instant::now();
        let report = within("the broadcast", ops.handle.broadcast("news-1")).await;
        let took = start.elapsed();
        assert_eq!(
            (report.queued, report.dropped, report.closed),
            (FLEET, 1, 0),
            "{report:?}"
        );
        assert!(took < Duration::from_secs(2), "the broadcast took {took:?}");
        let report = within(
            "the second broadcast",
            ops.handle.broadcast(vec![1u8, 2, 3]),
        )
        .await;
        assert_eq!((report.queued, report.dropped), (FLEET, 1));
        // Drop skips the slow one without closing it.
        assert!(slow_conn.is_open());
        assert!(slow_conn.buffered_amount() >= high_water);

        let received = blocking(move || {
            let mut ok = 0;
            for mut s in fleet {
                let a = read_server_frame(&mut s).expect("news-1");
                let b = read_server_frame(&mut s).expect("second");
                assert_eq!(a, (0x81, b"news-1".to_vec()));
                assert_eq!(b, (0x82, vec![1, 2, 3]));
                ok += 1;
            }
            ok
        });
        assert_eq!(
            within_for(Duration::from_secs(30), "999 clients", received).await,
            FLEET
        );
        drop(slow);
    })
}

#[test]
fn broadcast_with_close_policy_closes_the_stalled_connection_with_1008() {
    common::run(async move {
        let high_water = 64 << 10;
        let ops = ops_server(slow_config(BroadcastPolicy::Close)).await;
        let addr = ops.addr;
        let slow = within(
            "the slow client",
            blocking(move || never_reading_client(addr, "/quiet/slow")),
        )
        .await;
        let fleet = raw_fleet(addr, "/quiet/fleet", 10).await;
        let mut accepted = Vec::new();
        for _ in 0..11 {
            accepted.push(ops.accepted().await);
        }
        let slow_conn = find(&accepted, "/quiet/slow");
        fill_queue(&slow_conn, high_water).await;
        let report = within("the broadcast", ops.handle.broadcast("news")).await;
        assert_eq!(
            (report.queued, report.dropped, report.closed),
            (10, 0, 1),
            "{report:?}"
        );
        assert!(!slow_conn.is_open(), "the slow connection was not closed");
        let fleet_ok = blocking(move || {
            for mut s in fleet {
                assert_eq!(read_server_frame(&mut s).unwrap(), (0x81, b"news".to_vec()));
            }
        });
        within("the fleet", fleet_ok).await;
        // Once the slow client reads, it finds its backlog and then the 1008
        // close, not the broadcast.
        let seen = blocking(move || {
            let mut slow = slow;
            read_until_close(&mut slow)
        });
        let (close, before) = within("the slow client's backlog", seen).await;
        assert_eq!(close.map(|c| c.0), Some(1008));
        assert!(
            before.iter().all(|(first, _)| *first == 0x82),
            "the news got through"
        );
    })
}

/// `SendPolicy::Wait` is for senders; a broadcast never waits, whatever
/// the send policy: the slow connections are skipped (Drop, the default
/// broadcast policy) and get later messages once they catch up.
#[test]
fn broadcast_never_waits_for_slow_connections_even_under_send_policy_wait() {
    common::run(async move {
        let high_water = 64 << 10;
        let ops = ops_server(slow_config(BroadcastPolicy::Drop)).await;
        let addr = ops.addr;
        let slow = within(
            "the slow client",
            blocking(move || never_reading_client(addr, "/quiet/slow")),
        )
        .await;
        let fleet = raw_fleet(addr, "/quiet/fleet", 10).await;
        let mut accepted = Vec::new();
        for _ in 0..11 {
            accepted.push(ops.accepted().await);
        }
        let slow_conn = find(&accepted, "/quiet/slow");
        fill_queue(&slow_conn, high_water).await;

        // Completes at once: the future never waits for the slow client.
        let report = ops.handle.broadcast("news").now_or_never();
        let report = report.expect("the broadcast waited");
        assert_eq!(
            (report.queued, report.dropped, report.closed),
            (10, 1, 0),
            "{report:?}"
        );
        assert!(slow_conn.is_open());
        let fleet_ok = blocking(move || {
            for mut s in fleet {
                assert_eq!(read_server_frame(&mut s).unwrap(), (0x81, b"news".to_vec()));
            }
        });
        within("the fleet", fleet_ok).await;

        // Once the slow client has caught up, it gets the next broadcast
        // after its backlog, and never the one it missed.
        let slow = blocking(move || {
            let mut slow = slow;
            let mut backlog = 0;
            while backlog < high_water {
                let (first, payload) = read_server_frame(&mut slow).expect("backlog");
                assert_eq!(first, 0x82, "the missed broadcast arrived");
                backlog += payload.len();
            }
            slow
        });
        let mut slow = within("the slow client's backlog", slow).await;
        eventually("the slow queue drained", TIMEOUT, || {
            slow_conn.buffered_amount() == 0
        })
        .await;
        let report = ops
            .handle
            .broadcast_where("later", |c| c.resource() == "/quiet/slow")
            .await;
        assert_eq!((report.queued, report.dropped), (1, 0), "{report:?}");
        let later = blocking(move || {
            loop {
                let (first, payload) = read_server_frame(&mut slow).expect("a frame");
                if first == 0x81 {
                    return payload;
                }
            }
        });
        assert_eq!(within("the later broadcast", later).await, b"later");
    })
}

/// A connection that is streaming a message (send_file/send_stream) is not
/// over its high-water mark: a broadcast is queued to follow the stream,
/// at once (it never waits) and without the full-queue policy.
#[test]
fn broadcast_to_a_streaming_connection_follows_the_stream() {
    common::run(async move {
        let mut config = quiet_config();
        config.broadcast_policy = BroadcastPolicy::Close;
        config.stream_chunk_size = 1024;
        let ops = ops_server(config).await;
        let addr = ops.addr;
        let client = within("client", blocking(move || raw_ws(addr, "/quiet/stream"))).await;
        let acc = ops.accepted().await;
        let (tx, rx) = futures::channel::mpsc::unbounded::<io::Result<Vec<u8>>>();
        let conn = acc.conn.clone();
        let stream = common::spawn(async move {
            use futures::TryStreamExt;
            conn.send_stream(DataKind::Binary, rx.into_async_read())
                .await
        });
        tx.unbounded_send(Ok(vec![1u8; 3000])).unwrap();
        eventually("the stream's first fragment to go out", TIMEOUT, || {
            acc.conn.stats().bytes_out > 0
        })
        .await;
        assert!(
            acc.conn.buffered_amount() < 64 << 10,
            "the queue is nearly empty"
        );
        // The stream is still going (its source has more to come): the
        // broadcast completes at once, queued behind the stream.
        let report = ops.handle.broadcast("news").now_or_never();
        let report = report.expect("the broadcast waited");
        tx.unbounded_send(Ok(vec![2u8; 100])).unwrap();
        drop(tx);
        assert_eq!(within("the stream", stream).await.expect("stream"), 3100);
        assert_eq!(
            (report.queued, report.dropped, report.closed),
            (1, 0, 0),
            "{report:?}"
        );
        assert!(
            acc.conn.is_open(),
            "a streaming connection was closed by a broadcast"
        );
        let frames = blocking(move || {
            let mut client = client;
            let mut frames = Vec::new();
            while frames
                .last()
                .is_none_or(|(first, _): &ServerFrame| *first != 0x81)
            {
                frames.push(read_server_frame(&mut client).unwrap());
            }
            frames
        });
        let frames = within("the frames", frames).await;
        assert_eq!(frames.last().unwrap(), &(0x81, b"news".to_vec()));
    })
}
