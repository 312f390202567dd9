//! Topics across processes over a real `redis-server` (feature `redis`).
//!
//! Each test starts its own Redis on a free loopback port and stops it by
//! pid (`common::Redis`). Without `redis-server` on the PATH a test prints why and passes,
//! unless `WSGATE_REQUIRE_REDIS=1` (as CI sets it).
//!
//! The second process of `two_processes_exchange_publishes_once` is this
//! test binary again, running the ignored test `node_process`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use wsgate::broker::RedisBroker;
use wsgate::{BroadcastPolicy, SendPolicy, Server};

use crate::broker::{read_texts, topic_node};
use crate::common::{
    self, Redis, TIMEOUT, blocking, eventually, free_port, never_reading_client, redis_builder,
    send_queue_config, subscribed, wait_child, within, within_for, ws_connect,
};

/// Not a test by itself: the other process of
/// `two_processes_exchange_publishes_once`. It runs a topic node on the
/// Redis in `WSGATE_TEST_NODE_REDIS`, prints `NODE <addr>` and, once
/// subscribed, `READY`; it ends when its stdin closes (at most a minute).
#[test]
#[ignore = "run by two_processes_exchange_publishes_once as its second process"]
fn node_process() {
    let Some(url) = std::env::var_os("WSGATE_TEST_NODE_REDIS") else {
        return;
    };
    let url = url.into_string().expect("a UTF-8 URL");
    common::run(async move {
        let (addr, handle, _serve) = topic_node(redis_builder(&url)).await;
        println!("NODE {addr}");
        std::io::stdout().flush().unwrap();
        let stdin_closed = Arc::new(AtomicBool::new(false));
        let closed = stdin_closed.clone();
        std::thread::spawn(move || {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
            closed.store(true, Ordering::Release);
        });
        let mut ready = false;
        let start = Instant::now();
        while !stdin_closed.load(Ordering::Acquire) && start.elapsed() < Duration::from_secs(60) {
            let broker = handle.metrics().broker.expect("a broker");
            if !ready && broker.connected && broker.subscriptions == 1 {
                ready = true;
                println!("READY");
                std::io::stdout().flush().unwrap();
            }
            common::sleep(Duration::from_millis(10)).await;
        }
    });
}

/// Starts `node_process` in a child process; returns it, its address and
/// its stdout (for `READY`).
fn start_node_process(url: &str) -> (Child, SocketAddr, BufReader<ChildStdout>) {
    let mut child = Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "--exact",
            "broker_redis::node_process",
            "--ignored",
            "--nocapture",
        ])
        .args(["--test-threads", "1"])
        .env("WSGATE_TEST_NODE_REDIS", url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the second process");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let addr = wait_for_line(&mut stdout, "NODE ")
        .parse()
        .expect("an address");
    (child, addr, stdout)
}

/// Reads lines until one starts with `prefix`; returns the rest.
fn wait_for_line(reader: &mut impl BufRead, prefix: &str) -> String {
    let mut line = String::new();
    for _ in 0..100 {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .expect("the second process's output");
        assert!(n > 0, "the second process ended before printing {prefix:?}");
        // libtest may print its "test ... " before the line on the same line.
        if let Some(at) = line.find(prefix) {
            return line[at + prefix.len()..].trim_end().to_owned();
        }
    }
    panic!("the second process never printed {prefix:?}");
}

/// Expects no further data message within a short while.
fn expect_quiet(ws: &mut common::Ws) {
    ws.get_mut()
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    match ws.read() {
        Ok(m) if m.is_text() || m.is_binary() => panic!("one message too many: {m:?}"),
        Ok(_) => {}
        Err(tungstenite::Error::Io(e))
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) => {}
        Err(e) => panic!("reading: {e}"),
    }
    ws.get_mut().set_read_timeout(Some(TIMEOUT)).unwrap();
}

#[test]
fn two_processes_exchange_publishes_once() {
    let Some(redis) = Redis::start() else { return };
    let (mut child, a_addr, a_out) = start_node_process(&redis.url());
    // The child's stdout, handed back after READY to be read to its end.
    let a_rest = Arc::new(std::sync::Mutex::new(None));
    let a_back = a_rest.clone();
    common::run(async move {
        let (b_addr, b, _b) = topic_node(redis_builder(&redis.url())).await;
        let clients = blocking(move || {
            let alice = ws_connect(a_addr, "/room");
            let bob = ws_connect(b_addr, "/room");
            let bea = ws_connect(b_addr, "/room");
            let mut a_out = a_out;
            wait_for_line(&mut a_out, "READY");
            *a_back.lock().unwrap() = Some(a_out);
            (alice, bob, bea)
        });
        let (mut alice, mut bob, mut bea) = within_for(3 * TIMEOUT, "clients", clients).await;
        subscribed(&b, 1).await;
        assert_eq!(b.subscribers("room"), 2);
        let got = within(
            "the exchange",
            blocking(move || {
                for i in 0..5 {
                    alice.send(format!("a{i}").into()).unwrap();
                    bob.send(format!("b{i}").into()).unwrap();
                }
                let got: Vec<Vec<String>> = [&mut alice, &mut bob, &mut bea]
                    .into_iter()
                    .map(|ws| read_texts(ws, 10))
                    .collect();
                // Nothing twice: nobody gets an eleventh message.
                for ws in [&mut alice, &mut bob, &mut bea] {
                    expect_quiet(ws);
                }
                got
            }),
        )
        .await;
        for (who, got) in ["alice", "bob", "bea"].iter().zip(&got) {
            let from_a: Vec<&String> = got.iter().filter(|m| m.starts_with('a')).collect();
            let from_b: Vec<&String> = got.iter().filter(|m| m.starts_with('b')).collect();
            assert_eq!(from_a, ["a0", "a1", "a2", "a3", "a4"], "{who}: {got:?}");
            assert_eq!(from_b, ["b0", "b1", "b2", "b3", "b4"], "{who}: {got:?}");
        }
        let broker = b.metrics().broker.unwrap();
        assert_eq!((broker.received, broker.own), (5, 5), "{broker:?}");
        assert_eq!(broker.published, 5);
    });
    // Its stdin closes: it stops, and prints its last lines to the end.
    drop(child.stdin.take());
    let mut rest = String::new();
    let _ = a_rest
        .lock()
        .unwrap()
        .take()
        .map(|mut out| out.read_to_string(&mut rest));
    assert!(
        wait_child(&mut child, TIMEOUT).is_some_and(|s| s.success()),
        "the second process failed"
    );
}

#[test]
fn delivery_resumes_after_redis_restarts() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let url = redis.url();
    common::run(async move {
        let (a_addr, a, _a) = topic_node(redis_builder(&url)).await;
        let (b_addr, b, _b) = topic_node(redis_builder(&url)).await;
        let (alice, mut bob) = within(
            "clients",
            blocking(move || (ws_connect(a_addr, "/feed"), ws_connect(b_addr, "/feed"))),
        )
        .await;
        subscribed(&a, 1).await;
        subscribed(&b, 1).await;
        // Alice publishes a numbered message every 20 ms (at most 1,500);
        // her own copies are left unread, which holds up nobody.
        let sent = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let publisher = {
            let (sent, stop) = (sent.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut alice = alice;
                for i in 0..1500 {
                    if stop.load(Ordering::Acquire) {
                        break;
                    }
                    alice.send(format!("{i}").into()).unwrap();
                    sent.store(i + 1, Ordering::Release);
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        let received = Arc::new(AtomicUsize::new(0));
        let reader = {
            let (received, stop) = (received.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut last = None;
                bob.get_mut()
                    .set_read_timeout(Some(Duration::from_millis(200)))
                    .unwrap();
                let start = Instant::now();
                while start.elapsed() < Duration::from_secs(60) {
                    let message = match bob.read() {
                        Ok(message) => message,
                        Err(tungstenite::Error::Io(e))
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                            ) =>
                        {
                            if stop.load(Ordering::Acquire) {
                                break;
                            }
                            continue;
                        }
                        Err(e) => panic!("bob: {e}"),
                    };
                    let Ok(text) = message.to_text() else {
                        continue;
                    };
                    let Ok(n) = text.parse::<usize>() else {
                        continue;
                    };
                    // In order, never twice (gaps are the outage's).
                    assert!(last.is_none_or(|l| n > l), "{n} after {last:?}");
                    last = Some(n);
                    received.store(n + 1, Ordering::Release);
                    if n >= 1499 {
                        break;
                    }
                }
                bob
            })
        };
        eventually("ten messages before the outage", TIMEOUT, || {
            received.load(Ordering::Acquire) >= 10
        })
        .await;
        redis.kill();
        common::sleep(Duration::from_millis(500)).await;
        let sent_during_outage = sent.load(Ordering::Acquire);
        redis.restart();
        // Messages published after Redis is back reach bob again, with no
        // restart of either server.
        eventually("delivery after the restart", 3 * TIMEOUT, || {
            received.load(Ordering::Acquire) > sent_during_outage + 1
        })
        .await;
        stop.store(true, Ordering::Release);
        publisher.join().unwrap();
        for handle in [&a, &b] {
            let broker = handle.metrics().broker.unwrap();
            assert!(broker.reconnects >= 1, "{broker:?}");
            assert!(broker.connected, "{broker:?}");
        }
        // The reader's checks (in order, never twice) must have held.
        let _bob = reader.join().expect("bob read in order, nothing twice");
    });
}

#[test]
fn an_idle_node_stays_connected_through_its_pings() {
    let Some(redis) = Redis::start() else { return };
    common::run(async move {
        // Pinged every 100 ms when idle.
        let broker = RedisBroker::builder(&redis.url())
            .timeout(Duration::from_millis(100))
            .build()
            .unwrap();
        let server = Server::builder().broker(broker).build();
        let _listening = server.handle().on_topic("quiet", |_| {}).unwrap();
        subscribed(&server.handle(), 1).await;
        common::sleep(Duration::from_millis(800)).await;
        let broker = server.handle().metrics().broker.unwrap();
        assert!(broker.connected, "{broker:?}");
        assert_eq!(broker.reconnects, 0, "a ping broke the session: {broker:?}");
    });
}

#[test]
fn without_redis_at_start_local_delivery_goes_on() {
    // A port nobody listens on: Redis is absent.
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    common::run(async move {
        let (addr, handle, _serve) = topic_node(redis_builder(&url)).await;
        let (mut alice, mut bob) = within(
            "clients",
            blocking(move || (ws_connect(addr, "/room"), ws_connect(addr, "/room"))),
        )
        .await;
        eventually("subscribed", TIMEOUT, || handle.subscribers("room") == 2).await;
        eventually("the broker's error", TIMEOUT, || {
            handle.metrics().broker.unwrap().last_error.is_some()
        })
        .await;
        let broker = handle.metrics().broker.unwrap();
        let error = broker.last_error.unwrap();
        assert!(!broker.connected);
        assert!(
            error.contains(&format!("cannot connect to redis://127.0.0.1:{port}")),
            "{error}"
        );
        let (got, _clients) = within(
            "local delivery",
            blocking(move || {
                alice.send("still here".into()).unwrap();
                let got = (read_texts(&mut alice, 1), read_texts(&mut bob, 1));
                (got, (alice, bob))
            }),
        )
        .await;
        assert_eq!(
            got,
            (vec!["still here".to_owned()], vec!["still here".to_owned()])
        );
        assert!(handle.metrics().broker.unwrap().dropped >= 1);
        // Redis arrives later: the node connects by itself.
        let Some(_redis) = Redis::start_on(port) else {
            return;
        };
        subscribed(&handle, 1).await;
    });
}

#[test]
fn a_malformed_payload_from_redis_is_counted_and_dropped() {
    let Some(redis) = Redis::start() else { return };
    let url = redis.url();
    common::run(async move {
        let (addr, handle, _serve) = topic_node(redis_builder(&url)).await;
        let mut alice = within("a client", blocking(move || ws_connect(addr, "/room"))).await;
        subscribed(&handle, 1).await;
        let redis = Arc::new(redis);
        let other = redis.clone();
        blocking(move || {
            other.publish("wsgate:room", b"not an envelope");
            // Text that is not UTF-8, in an otherwise good envelope.
            let mut bad = vec![1u8];
            bad.extend_from_slice(&[3; 16]);
            bad.extend_from_slice(&[1, 0xc3]);
            other.publish("wsgate:room", &bad);
            // A good one from "another node" after them.
            let mut good = vec![1u8];
            good.extend_from_slice(&[3; 16]);
            good.push(1);
            good.extend_from_slice(b"fine");
            other.publish("wsgate:room", &good);
        })
        .await;
        let got = within("the good one", blocking(move || read_texts(&mut alice, 1))).await;
        assert_eq!(got, ["fine"]);
        let broker = handle.metrics().broker.unwrap();
        assert_eq!((broker.malformed, broker.received), (2, 1), "{broker:?}");
        drop(redis);
    });
}

#[test]
fn a_never_reading_subscriber_delays_nobody() {
    let Some(redis) = Redis::start() else { return };
    let url = redis.url();
    common::run(async move {
        let (a_addr, a, _a) = topic_node(redis_builder(&url)).await;
        // A mark the healthy reader stays under and the stalled one passes.
        // (1 MiB: the healthy reader, a thread on a busy machine, stays
        // far below it; the stalled one passes it with 3 MiB sent.)
        let mut config = send_queue_config(SendPolicy::Wait, 1 << 20, 256 << 10);
        config.broadcast_policy = BroadcastPolicy::Drop;
        let (b_addr, b, _b) = topic_node(redis_builder(&url).config(config)).await;
        let (mut alice, mut healthy, stalled) = within(
            "clients",
            blocking(move || {
                let alice = ws_connect(a_addr, "/news");
                let healthy = ws_connect(b_addr, "/news");
                let stalled = never_reading_client(b_addr, "/news");
                (alice, healthy, stalled)
            }),
        )
        .await;
        eventually("three subscribers", TIMEOUT, || {
            a.subscribers("news") == 1 && b.subscribers("news") == 2
        })
        .await;
        subscribed(&a, 1).await;
        subscribed(&b, 1).await;
        const COUNT: usize = 3000;
        let payload = "x".repeat(1024);
        let reader = blocking(move || {
            let got = read_texts(&mut healthy, COUNT);
            (healthy, got)
        });
        let sender = blocking(move || {
            for i in 0..COUNT {
                alice.send(format!("{i:04}{payload}").into()).unwrap();
                if i % 10 == 9 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            alice
        });
        let _alice = within_for(3 * TIMEOUT, "the publisher", sender).await;
        let (_healthy, got) = within_for(3 * TIMEOUT, "the healthy subscriber", reader).await;
        for (i, text) in got.iter().enumerate() {
            assert_eq!(&text[..4], format!("{i:04}"), "in order, none lost");
        }
        // The stalled subscriber's copies were dropped, not waited for.
        let dropped = b.metrics().topics["news"].dropped;
        assert!(dropped > 0, "the stalled subscriber took everything?");
        drop(stalled);
    });
}
