//! A fan-out server: every connection is a subscriber of one topic, and a
//! text or binary message received from any connection goes to all of
//! them, the sender included.
//!
//! ```text
//! cargo run --release --example fanout -- --addr 127.0.0.1:9001 --mode publish
//! ```
//!
//! `--mode` picks how the message reaches the subscribers, the two ways a
//! wsgate application would write it:
//!
//! - `publish` (the default): `handle.publish(TOPIC, message)`, one call.
//!   The message is framed once and the same bytes are queued to every
//!   subscriber; a subscriber over its send queue's high-water mark misses
//!   it (counted in the returned `BroadcastReport`) instead of holding up
//!   the publisher.
//! - `send-loop`: the loop an application writes without topics, over the
//!   server's registry: `for conn in handle.connections() {
//!   conn.send(message.clone()).await }`. Each connection gets its own copy
//!   of the message, framed for it, and a subscriber over its high-water
//!   mark makes the loop wait (`SendPolicy::Wait`, the default).
//!
//! `benches/fanout.sh` measures the server CPU per delivered message of
//! both against Node ws's `wss.clients.forEach(c => c.send(m))`, with
//! `examples/loadgen.rs`'s `fanout` mode as the clients.
//!
//! `--redis redis://HOST:PORT` (built with `--features redis`) joins the
//! server to others over Redis pub/sub (`wsgate::broker::RedisBroker`): a
//! publish on one node also reaches the subscribers on every other node
//! started with the same Redis. `benches/redis.sh` measures two such
//! nodes with `examples/loadgen.rs`'s `relay` mode.
//!
//! ```text
//! cargo run --release --features redis --example fanout -- --addr 127.0.0.1:9001 \
//!     --redis redis://127.0.0.1:6379
//! ```
//!
//! It accepts every request, keeps the default limits (16,384 connections,
//! 16 MiB messages) and answers Ctrl-C or SIGTERM by closing every
//! connection with 1001.

use std::time::Duration;

use futures::StreamExt;
use futures::future::select;
use wsgate::{Config, Connection, Event, Server, ServerHandle};

#[path = "shared/signal.rs"]
mod signal;
use signal::shutdown_signal;

/// The one topic every connection joins.
const TOPIC: &str = "all";

const USAGE: &str = "usage: fanout [options]
  --addr HOST:PORT          listen address (default 127.0.0.1:9001)
  --mode publish|send-loop  handle.publish to the topic (default), or a loop of
                            conn.send over handle.connections()
  --max-connections N       most open connections (default 16384)
  --redis redis://HOST:PORT join other nodes over Redis pub/sub (needs a build
                            with --features redis)";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Publish,
    SendLoop,
}

struct Args {
    addr: String,
    mode: Mode,
    config: Config,
    redis: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: "127.0.0.1:9001".into(),
        mode: Mode::Publish,
        config: Config::default(),
        redis: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = it.next().ok_or(format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--addr" => args.addr = value,
            "--mode" => {
                args.mode = match value.as_str() {
                    "publish" => Mode::Publish,
                    "send-loop" => Mode::SendLoop,
                    other => return Err(format!("--mode: publish or send-loop, not {other}")),
                }
            }
            "--max-connections" => {
                args.config.max_connections = value
                    .parse()
                    .map_err(|_| format!("{flag}: not a number: {value}"))?
            }
            "--redis" => args.redis = Some(value),
            other => return Err(format!("unknown flag {other}\n{USAGE}")),
        }
    }
    Ok(args)
}

/// Subscribes `conn` and hands every message it sends to all subscribers.
async fn member(conn: Connection, handle: ServerHandle, mode: Mode) {
    if conn.subscribe(TOPIC).is_err() {
        return;
    }
    let mut events = conn.events();
    while let Some(event) = events.next().await {
        let Event::Message(message) = event else {
            continue;
        };
        match mode {
            Mode::Publish => {
                handle.publish(TOPIC, message);
            }
            Mode::SendLoop => {
                for other in handle.connections() {
                    // A connection that closed meanwhile fails with
                    // Error::Closed; the others still get the message.
                    let _ = other.send(message.clone()).await;
                }
            }
        }
    }
    // A connection that ends leaves its topic by itself.
}

fn main() -> std::io::Result<()> {
    // The runtime the build's features chose, as in examples/echo.rs.
    wsgate::runtime::block_on(run())
}

async fn run() -> std::io::Result<()> {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let builder = with_broker(Server::builder().config(args.config), args.redis.as_deref());
    let server = builder.bind(&args.addr).await?;
    let mode = args.mode;
    // Before the address is announced: a signal from then on shuts down
    // gracefully (installed later, an early SIGTERM would kill the process).
    let stop = shutdown_signal();
    println!(
        "fanout server ({}{}) listening on ws://{}",
        match mode {
            Mode::Publish => "publish",
            Mode::SendLoop => "send-loop",
        },
        match &args.redis {
            Some(url) => format!(", over Redis at {url}"),
            None => String::new(),
        },
        server.local_addr()
    );
    let handle = server.handle();
    let members = handle.clone();
    let serving = server.serve(move |request| {
        let handle = members.clone();
        async move {
            if let Ok(conn) = request.accept(None, None).await {
                member(conn, handle, mode).await;
            }
        }
    });
    let _ = select(serving, stop).await;
    let report = handle.shutdown(Duration::from_secs(5)).await;
    println!(
        "shut down: {} connections closed cleanly, {} dropped",
        report.clean, report.forced
    );
    if let Some(broker) = handle.metrics().broker {
        println!(
            "broker: {} published, {} dropped, {} received from other nodes, {} own ignored, \
             {} malformed, {} reconnects",
            broker.published,
            broker.dropped,
            broker.received,
            broker.own,
            broker.malformed,
            broker.reconnects
        );
    }
    Ok(())
}

/// `builder` with a Redis broker at `url`, if one is given; exits with 2
/// on a URL the broker refuses.
#[cfg(feature = "redis")]
fn with_broker(builder: wsgate::ServerBuilder, url: Option<&str>) -> wsgate::ServerBuilder {
    let Some(url) = url else {
        return builder;
    };
    match wsgate::broker::RedisBroker::new(url) {
        Ok(broker) => builder.broker(broker),
        Err(e) => {
            eprintln!("--redis: {e}");
            std::process::exit(2);
        }
    }
}

/// Without the `redis` feature there is no broker to join: `--redis`
/// exits with 2 and says how to build one in.
#[cfg(not(feature = "redis"))]
fn with_broker(builder: wsgate::ServerBuilder, url: Option<&str>) -> wsgate::ServerBuilder {
    if url.is_some() {
        eprintln!(
            "--redis needs the Redis broker, which this build leaves out: rebuild with \
             `--features redis` (cargo build --release --features redis --example fanout)"
        );
        std::process::exit(2);
    }
    builder
}
