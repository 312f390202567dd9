//! A chat server with its own web page.
//!
//! ```text
//! cargo run --release --example chat                        # http://127.0.0.1:8080/
//! cargo run --release --example chat -- --addr 0.0.0.0:9000
//! cargo run --release --example chat -- --tls-cert cert.pem --tls-key key.pem   # https://
//! ```
//!
//! Several chat servers sharing one Redis make one chat (a cluster): each
//! is a node, with members of its own, and everyone sees everyone's
//! messages, joins and leaves, and who is online on every node. This needs
//! the `redis` feature:
//!
//! ```text
//! redis-server --port 6379 &
//! cargo run --release --example chat --features redis -- --addr 127.0.0.1:8080 --redis redis://127.0.0.1:6379
//! cargo run --release --example chat --features redis -- --addr 127.0.0.1:8081 --redis redis://127.0.0.1:6379
//! ```
//!
//! Open the printed URL in two browser tabs, pick a nickname in each (or
//! open `/?nick=ann`), and chat. One port serves the page at `/` and the
//! WebSocket at `/chat`, which speaks the `chat` subprotocol: JSON messages
//! with nicknames, join and leave notices, who is online, and the last 50
//! messages for newcomers. The page reconnects by itself after a drop.
//! Ctrl-C or SIGTERM shuts the server down gracefully: close 1001 to every
//! member, then exit.
//!
//! - `server.rs`: the settings, the decision on each handshake (path,
//!   origin, subprotocol, nickname), and one session per connection, with
//!   its limits;
//! - `room.rs`: who is online, the history, and broadcasting;
//! - `cluster.rs`: with `--redis`, who is online on the other nodes and
//!   what was said there;
//! - `protocol.rs`: the JSON messages;
//! - `http.rs`: the page, and `/check`, which tells the page why it would
//!   be refused;
//! - `index.html`, `style.css`, `app.js`: the page, embedded in the binary.

pub mod cluster;
pub mod http;
pub mod protocol;
pub mod room;
pub mod server;

use std::sync::Arc;
use std::time::Duration;

use futures::future::select;
use room::Room;

#[path = "../shared/signal.rs"]
mod signal;
use signal::shutdown_signal;

/// The command line.
struct Args {
    /// Where to listen.
    addr: String,
    /// Serve https:// and wss:// with this certificate chain and key.
    tls: Option<(String, String)>,
    /// Join the other chat servers on this Redis.
    redis: Option<String>,
}

const USAGE: &str =
    "usage: chat [--addr HOST:PORT] [--tls-cert PEM --tls-key PEM] [--redis redis://HOST:PORT]";

fn parse_args() -> Result<Args, String> {
    let mut addr = "127.0.0.1:8080".to_owned();
    let (mut cert, mut key, mut redis) = (None, None, None);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => addr = value()?,
            "--tls-cert" => cert = Some(value()?),
            "--tls-key" => key = Some(value()?),
            "--redis" => redis = Some(value()?),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown flag {other}\n{USAGE}")),
        }
    }
    let tls = match (cert, key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => return Err(format!("--tls-cert and --tls-key go together\n{USAGE}")),
    };
    if redis.is_some() && !cfg!(feature = "redis") {
        return Err("--redis needs the chat built with the redis feature: \
             cargo run --example chat --features redis -- --redis redis://HOST:PORT"
            .to_owned());
    }
    Ok(Args { addr, tls, redis })
}

/// With `--redis`, the server's builder gets a broker to that Redis, so
/// that the room's topics reach the other nodes.
#[cfg(feature = "redis")]
fn with_broker(builder: wsgate::ServerBuilder, redis: Option<&str>) -> wsgate::ServerBuilder {
    let Some(url) = redis else {
        return builder;
    };
    match wsgate::broker::RedisBroker::new(url) {
        Ok(broker) => builder.broker(broker),
        Err(error) => {
            // The error names the URL, its password hidden.
            eprintln!("--redis: {error}");
            std::process::exit(1);
        }
    }
}

#[cfg(not(feature = "redis"))]
fn with_broker(builder: wsgate::ServerBuilder, _redis: Option<&str>) -> wsgate::ServerBuilder {
    builder // parse_args refused --redis
}

// ANCHOR: main
fn main() {
    // The runtime the build's features chose: async-std by default,
    // `--no-default-features --features smol,...` or `tokio,...` otherwise.
    wsgate::runtime::block_on(run());
}

async fn run() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let room = Arc::new(Room::new());
    let builder = with_broker(server::builder(room.clone()), args.redis.as_deref());
    let (bound, scheme) = match &args.tls {
        None => (builder.bind(&args.addr).await, "http"),
        Some((cert, key)) => match wsgate::tls::RustlsAcceptor::from_pem_files(cert, key) {
            Ok(acceptor) => (builder.bind_tls(&args.addr, acceptor).await, "https"),
            Err(error) => {
                eprintln!("TLS: {error}");
                std::process::exit(1);
            }
        },
    };
    let server = match bound {
        Ok(server) => server,
        Err(error) => {
            eprintln!("cannot listen on {}: {error}", args.addr);
            std::process::exit(1);
        }
    };
    if args.redis.is_some() {
        // The node's name, unique in the cluster: where it listens, and
        // which process it is.
        let node = format!("{}/{}", server.local_addr(), std::process::id());
        room.join_cluster(node.clone(), cluster::HEARTBEAT);
        println!("node {node}: joining the other chat servers through Redis");
    }
    let stop = shutdown_signal();
    println!("chat server running at {scheme}://{}/", server.local_addr());
    // Serve until a signal arrives, then close every connection with 1001.
    let handle = server.handle();
    let _ = select(Box::pin(server::serve(server, room)), stop).await;
    let report = handle.shutdown(Duration::from_secs(5)).await;
    println!(
        "shut down: {} connections closed cleanly, {} dropped",
        report.clean, report.forced
    );
}
// ANCHOR_END: main
