//! The server-wide memory budgets (`Config::inbound_memory_budget`,
//! `Config::outbound_memory_budget`): a message that cannot get memory
//! waits with its socket unread and is failed with 1013 past the wait,
//! small messages and control frames pass meanwhile, a grant given back
//! lets a waiting message go on; the echo example's memory under a flood of
//! unfinished messages; the send queues' sum.

use std::net::SocketAddr;
use std::time::Duration;

use crate::common::{self, *};
use wsgate::{Config, MetricsSnapshot, ServerHandle};

/// Large messages allowed, an inbound budget of `budget` bytes, waits of
/// `wait`.
fn budget_config(budget: usize, wait: Duration) -> Config {
    let mut config = quiet_config();
    config.max_message_size = 16 << 20;
    config.max_frame_size = 16 << 20;
    config.inbound_memory_budget = budget;
    config.inbound_memory_wait = wait;
    config
}

/// Polls the server's metrics until `check` holds (nothing announces a
/// counter's change), within `limit`.
async fn metrics_until(
    handle: &ServerHandle,
    what: &str,
    limit: Duration,
    check: impl Fn(&MetricsSnapshot) -> bool,
) {
    eventually(what, limit, || check(&handle.metrics())).await;
}

/// A raw client that echoes `count` small text messages and answers a ping
/// in between: what must get through while the budget is full.
fn chat(addr: SocketAddr, count: usize) {
    let mut client = RawClient::handshake(addr);
    for i in 0..count {
        if i == count / 2 {
            client.send(&frame(true, 0x9, b"still there?"));
            let pong = client.read_frame();
            assert_eq!(
                (pong.first(), &pong.payload[..]),
                (0x8a, &b"still there?"[..])
            );
        }
        let text = format!("chat {i}");
        client.send(&frame(true, 0x1, text.as_bytes()));
        let echo = client.read_frame();
        assert_eq!((echo.first(), echo.payload), (0x81, text.into_bytes()));
    }
    client.send(&close_frame(1000, ""));
    assert_eq!(client.read_until_close().0, Some((1000, String::new())));
}

#[test]
fn a_message_without_memory_waits_then_gets_1013_while_small_messages_pass() {
    common::run(async move {
        let ops = ops_server(budget_config(1 << 20, Duration::from_secs(3))).await;
        let (addr, handle) = (ops.addr, ops.handle.clone());

        // A 4 MiB message, 2 MiB of it sent: more than the 1 MiB budget
        // plus the 64 KiB reserve.
        let big = blocking(move || {
            let mut client = RawClient::handshake(addr);
            let mut wire = frame_header(0x82, 4 << 20, Some(MASK));
            wire.resize(wire.len() + (2 << 20), 0);
            // The server stops reading: the write may only end when it
            // closes (then it fails, which is fine).
            let _ = client.try_send(&wire);
            client.read_until_close().0
        });
        let big = common::spawn(big);
        metrics_until(&handle, "a wait", TIMEOUT, |m| m.inbound_waits >= 1).await;
        let held = handle.metrics().inbound_memory;
        assert!(
            held > 512 << 10 && held <= 1 << 20,
            "{held} bytes of the budget in use"
        );

        // Meanwhile other connections' small messages and pings pass.
        within("chat", blocking(move || chat(addr, 20))).await;
        let m = handle.metrics();
        assert_eq!(m.inbound_refusals, 0, "the chat outlasted the wait: {m:?}");

        // Then the waiting connection is failed with 1013, its memory back.
        let close = within_for(Duration::from_secs(10), "the 1013", big).await;
        assert_eq!(close, Some((1013, "memory budget full".to_owned())));
        metrics_until(&handle, "the budget back", TIMEOUT, |m| {
            m.inbound_memory == 0 && m.inbound_refusals == 1
        })
        .await;
        assert_eq!(handle.metrics().closes.get(&1013), Some(&1));
    });
}

#[test]
fn a_waiting_message_goes_on_when_another_one_completes() {
    common::run(async move {
        let ops = ops_server(budget_config(1 << 20, Duration::from_secs(30))).await;
        let (addr, handle) = (ops.addr, ops.handle.clone());

        // D holds most of the budget: 960 KiB of a 1 MiB message.
        let mut d = within("d", blocking(move || RawClient::handshake(addr))).await;
        let payload: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
        let wire = frame(true, 0x2, &payload);
        let (head, tail) = wire.split_at(wire.len() - (64 << 10));
        let head = head.to_vec();
        d = within(
            "d's start",
            blocking(move || {
                d.send(&head);
                d
            }),
        )
        .await;
        metrics_until(&handle, "d's grant", TIMEOUT, |m| {
            m.inbound_memory >= 896 << 10
        })
        .await;

        // A's 512 KiB message does not fit: it waits.
        let a = common::spawn(blocking(move || {
            let mut a = RawClient::handshake(addr);
            a.send(&frame(true, 0x2, &vec![7; 512 << 10]));
            let echo = a.read_frame();
            (
                echo.first(),
                echo.payload.len(),
                echo.payload.iter().all(|&b| b == 7),
            )
        }));
        metrics_until(&handle, "a's wait", TIMEOUT, |m| m.inbound_waits >= 1).await;

        // D's message completes: its grant comes back, A's message goes on.
        let tail = tail.to_vec();
        let echoed = within(
            "d's echo",
            blocking(move || {
                d.send(&tail);
                d.read_frame().payload
            }),
        )
        .await;
        assert!(echoed == payload, "d's echo differs");
        assert_eq!(within("a's echo", a).await, (0x82, 512 << 10, true));
        let m = handle.metrics();
        assert_eq!((m.inbound_refusals, m.closes.get(&1013)), (0, None));
        metrics_until(&handle, "the budget back", TIMEOUT, |m| {
            m.inbound_memory == 0
        })
        .await;
    });
}
