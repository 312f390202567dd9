//! Flow control: `Drain` and `writable()` after a slow reader
//! catches up, and `pause`/`resume` of reading.

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::common::{self, *};
use wsgate::{BroadcastPolicy, Error, Event, Message};

#[test]
fn drain_fires_and_writable_resolves_after_a_slow_client_catches_up() {
    common::run(async move {
        let high_water = 64 << 10;
        let ops = ops_server(slow_config(BroadcastPolicy::Drop)).await;
        let addr = ops.addr;
        let client = within(
            "client",
            blocking(move || never_reading_client(addr, "/quiet/drain")),
        )
        .await;
        let acc = ops.accepted().await;
        const MESSAGES: usize = 40;
        let conn = acc.conn.clone();
        let sender = common::spawn(async move {
            for i in 0..MESSAGES {
                conn.send(vec![i as u8; 16 << 10]).await?;
            }
            Ok::<(), Error>(())
        });
        let conn = acc.conn.clone();
        eventually("the queue to reach the high-water mark", TIMEOUT, || {
            conn.buffered_amount() >= high_water
        })
        .await;
        let conn = acc.conn.clone();
        let writable_done = Arc::new(AtomicBool::new(false));
        let flag = writable_done.clone();
        let writable = common::spawn(async move {
            let result = conn.writable().await;
            flag.store(true, Ordering::SeqCst);
            result
        });
        // A negative check (no writable(), no Drain while the client does
        // not read): nothing would announce their absence, so a short while.
        common::sleep(Duration::from_millis(100)).await;
        assert!(
            !writable_done.load(Ordering::SeqCst),
            "writable() before the client read"
        );
        assert!(
            acc.events.try_recv().is_err(),
            "an event (Drain?) before the client read"
        );
        let queued = acc.conn.buffered_amount();
        assert!(queued >= high_water, "{queued}");

        // The client catches up.
        let read = blocking(move || {
            let mut client = client;
            for i in 0..MESSAGES {
                let (first, payload) = read_server_frame(&mut client).expect("a message");
                assert_eq!(first, 0x82);
                assert_eq!(payload.len(), 16 << 10);
                assert!(
                    payload.iter().all(|&b| b == i as u8),
                    "message {i} out of order"
                );
            }
            client
        });
        let _client = within("the client to catch up", read).await;
        within("writable()", writable).await.expect("writable");
        assert!(matches!(acc.event().await, Event::Drain));
        within("the sender", sender).await.expect("sends");
        assert_eq!(acc.conn.buffered_amount(), 0);
    })
}

#[test]
fn pause_stops_reading_so_the_peer_blocks_and_resume_delivers_everything_in_order() {
    common::run(async move {
        let mut config = quiet_config();
        config.tcp.recv_buffer_size = Some(8 << 10);
        let ops = ops_server(config).await;
        let addr = ops.addr;
        let client = within(
            "client",
            blocking(move || {
                let mut s = connect_with_buffers(addr, None, Some(8 << 10));
                raw_upgrade(&mut s, "/quiet/pause");
                s
            }),
        )
        .await;
        let acc = ops.accepted().await;
        acc.conn.pause();
        assert!(acc.conn.is_paused());

        /// Frame `i`: a 4 KiB binary message starting with `i`.
        fn message(i: u32) -> Vec<u8> {
            let mut payload = vec![(i % 251) as u8; 4 << 10];
            payload[..4].copy_from_slice(&i.to_be_bytes());
            frame(true, 0x2, &payload)
        }
        // Write until the socket takes no byte for 300 ms (a blocking write
        // with a timeout: the stall is the behaviour under test).
        let phase1 = blocking(move || {
            let mut s = client;
            s.set_write_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            let mut next = 0u32;
            let mut pending = message(next);
            let mut offset = 0;
            let mut total = 0usize;
            loop {
                if offset == pending.len() {
                    next += 1;
                    pending = message(next);
                    offset = 0;
                    assert!(total < 64 << 20, "64 MiB sent and the peer never blocked");
                }
                match s.write(&pending[offset..]) {
                    Ok(n) => {
                        offset += n;
                        total += n;
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) =>
                    {
                        break;
                    }
                    Err(e) => panic!("write: {e}"),
                }
            }
            (s, next, pending, offset, total)
        });
        let (s, last, pending, offset, total) = within("the client to block", phase1).await;
        assert!(total > 0);
        assert!(
            acc.messages_now().is_empty(),
            "messages arrived while paused"
        );
        assert_eq!(acc.conn.stats().bytes_in, 0, "the server read while paused");

        acc.conn.resume();
        let phase2 = blocking(move || {
            let mut s = s;
            s.set_write_timeout(Some(TIMEOUT)).unwrap();
            s.write_all(&pending[offset..]).unwrap();
            s
        });
        let _s = within("the rest of the last message", phase2).await;
        for i in 0..=last {
            match acc.event().await {
                Event::Message(Message::Binary(data)) => {
                    assert_eq!(data.len(), 4 << 10);
                    assert_eq!(
                        u32::from_be_bytes(data[..4].try_into().unwrap()),
                        i,
                        "out of order"
                    );
                }
                other => panic!("message {i}: {other:?}"),
            }
        }
        assert_eq!(acc.conn.stats().messages_in, u64::from(last) + 1);
    })
}
