//! Broadcasts to every connection, to a selection, and past peers
//! that do not read (the send-queue policies); raw sockets as the clients.

use std::io::{self};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::common::{self, *};
use wsgate::{DataKind, SendPolicy};

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
        assert_eq!((report.queued, report.waited, report.failed), (N, 0, 0));
        let report = ops.handle.broadcast(binary.clone()).await;
        assert_eq!((report.queued, report.waited, report.failed), (N, 0, 0));
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
        assert_eq!((report.queued, report.failed), (3, 0));
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
        let ops = ops_server(slow_config(SendPolicy::Fail)).await;
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
            (report.queued, report.waited, report.failed),
            (FLEET, 0, 1),
            "{report:?}"
        );
        assert!(took < Duration::from_secs(2), "the broadcast took {took:?}");
        let report = within(
            "the second broadcast",
            ops.handle.broadcast(vec![1u8, 2, 3]),
        )
        .await;
        assert_eq!((report.queued, report.failed), (FLEET, 1));
        // Fail skips the slow one without closing it.
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
        let ops = ops_server(slow_config(SendPolicy::Close)).await;
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
            (report.queued, report.waited, report.failed),
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

#[test]
fn broadcast_with_wait_policy_returns_once_the_slow_ones_catch_up_or_close() {
    common::run(async move {
        let high_water = 64 << 10;
        let ops = ops_server(slow_config(SendPolicy::Wait)).await;
        let addr = ops.addr;
        let slow_a = within(
            "slow client a",
            blocking(move || never_reading_client(addr, "/quiet/slow-a")),
        )
        .await;
        let slow_b = within(
            "slow client b",
            blocking(move || never_reading_client(addr, "/quiet/slow-b")),
        )
        .await;
        let fleet = raw_fleet(addr, "/quiet/fleet", 10).await;
        let mut accepted = Vec::new();
        for _ in 0..12 {
            accepted.push(ops.accepted().await);
        }
        fill_queue(&find(&accepted, "/quiet/slow-a"), high_water).await;
        fill_queue(&find(&accepted, "/quiet/slow-b"), high_water).await;

        let done = Arc::new(AtomicBool::new(false));
        let handle = ops.handle.clone();
        let flag = done.clone();
        let broadcast = common::spawn(async move {
            let report = handle.broadcast("news").await;
            flag.store(true, Ordering::SeqCst);
            report
        });
        // The fast clients get it at once, while the broadcast still waits.
        let fleet_ok = blocking(move || {
            for mut s in fleet {
                assert_eq!(read_server_frame(&mut s).unwrap(), (0x81, b"news".to_vec()));
            }
        });
        within("the fleet", fleet_ok).await;
        // A negative check (that Wait has not returned yet): nothing would
        // announce it, so it gets a short while.
        common::sleep(Duration::from_millis(100)).await;
        assert!(
            !done.load(Ordering::SeqCst),
            "Wait returned before the slow ones"
        );

        // Slow client a catches up and gets the news after its backlog; slow
        // client b goes away.
        let caught_up = blocking(move || {
            let mut slow_a = slow_a;
            for _ in 0..10_000 {
                let (first, payload) = read_server_frame(&mut slow_a).expect("backlog");
                if first == 0x81 {
                    assert_eq!(payload, b"news");
                    return slow_a;
                }
            }
            panic!("no news for the slow client");
        });
        let slow_a = within("slow client a", caught_up).await;
        drop(slow_b);
        let report = within("the broadcast to return", broadcast).await;
        assert_eq!(
            (report.queued, report.waited, report.failed),
            (10, 1, 1),
            "{report:?}"
        );
        drop(slow_a);
    })
}

/// A connection that is streaming a message (send_file/send_stream) is not
/// over its high-water mark: a broadcast should wait for the stream's end
/// (as `Connection::send` does), not apply the full-queue policy to it.
#[test]
fn broadcast_waits_behind_a_streamed_message_instead_of_applying_the_policy() {
    common::run(async move {
        let mut config = quiet_config();
        config.send_queue_policy = SendPolicy::Close;
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
        let report = within("the broadcast", async {
            let handle = ops.handle.clone();
            let broadcast = common::spawn(async move { handle.broadcast("news").await });
            // Lets the broadcast reach the streaming connection before the
            // stream ends; no event says it is waiting there, so this is a
            // short sleep (if it were too short, the test would pass
            // without testing the wait).
            common::sleep(Duration::from_millis(50)).await;
            tx.unbounded_send(Ok(vec![2u8; 100])).unwrap();
            drop(tx);
            broadcast.await
        })
        .await;
        assert_eq!(within("the stream", stream).await.expect("stream"), 3100);
        assert_eq!(report.failed, 0, "{report:?}");
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
