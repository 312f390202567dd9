//! Rooms across processes: the walkthrough of the guide's "Topics and
//! scaling out" chapter.
//!
//! ```text
//! redis-server --port 6379 --save "" &
//! cargo run --features redis --example rooms -- --addr 127.0.0.1:9001 &
//! cargo run --features redis --example rooms -- --addr 127.0.0.1:9002 &
//! ```
//!
//! A WebSocket client on `ws://127.0.0.1:9001/lobby` and one on
//! `ws://127.0.0.1:9002/lobby` see each other's text messages: the path is
//! the room, every line is published to it, and both nodes share the Redis
//! at `--redis` (default `redis://127.0.0.1:6379`).

use futures::StreamExt;
use wsgate::broker::RedisBroker;
use wsgate::{Event, Message, Server};

const USAGE: &str = "usage: rooms [--addr HOST:PORT] [--redis redis://HOST:PORT]";

fn main() {
    let (mut addr, mut redis) = (
        "127.0.0.1:9001".to_owned(),
        "redis://127.0.0.1:6379".to_owned(),
    );
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match (flag.as_str(), args.next()) {
            ("--addr", Some(value)) => addr = value,
            ("--redis", Some(value)) => redis = value,
            _ => {
                eprintln!("{USAGE}");
                std::process::exit(2);
            }
        }
    }
    if let Err(error) = wsgate::runtime::block_on(serve(&addr, &redis)) {
        eprintln!("rooms: {error}");
        std::process::exit(1);
    }
}

// ANCHOR: serve
async fn serve(addr: &str, redis: &str) -> Result<(), Box<dyn std::error::Error>> {
    let broker = RedisBroker::new(redis)?;
    let mut server = Server::builder().broker(broker).bind(addr).await?;
    println!(
        "rooms on ws://{}/ROOM, sharing {redis}",
        server.local_addr()
    );
    let handle = server.handle();
    while let Some(request) = server.next().await {
        let room = request.resource().trim_start_matches('/').to_owned();
        let Ok(conn) = request.accept(None, None).await else {
            continue;
        };
        conn.subscribe(&room)?;
        let handle = handle.clone();
        wsgate::runtime::spawn(async move {
            let mut events = conn.events();
            while let Some(event) = events.next().await {
                if let Event::Message(Message::Text(line)) = event {
                    // Every subscriber of the room, on every node.
                    handle.publish(&room, line);
                }
            }
        });
    }
    Ok(())
}
// ANCHOR_END: serve
