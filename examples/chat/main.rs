//! A chat server with its own web page.
//!
//! ```text
//! cargo run --release --example chat                        # http://127.0.0.1:8080/
//! cargo run --release --example chat -- --addr 0.0.0.0:9000
//! ```
//!
//! Open the printed URL in two browser tabs, pick a nickname in each (or
//! open `/?nick=ann`), and chat. One port serves the page at `/` and the
//! WebSocket at `/chat`, which speaks the `chat` subprotocol: JSON messages
//! with nicknames, join and leave notices, who is online, and the last 50
//! messages for newcomers. The page reconnects by itself after a drop.
//!
//! - `server.rs`: the settings, the decision on each handshake (path,
//!   origin, subprotocol, nickname), and one session per connection, with
//!   its limits;
//! - `room.rs`: who is online, the history, and broadcasting;
//! - `protocol.rs`: the JSON messages;
//! - `http.rs`: the page, and `/check`, which tells the page why it would
//!   be refused;
//! - `index.html`, `style.css`, `app.js`: the page, embedded in the binary.

pub mod http;
pub mod protocol;
pub mod room;
pub mod server;

use std::sync::Arc;

use room::Room;

/// The command line.
struct Args {
    /// Where to listen.
    addr: String,
}

const USAGE: &str = "usage: chat [--addr HOST:PORT]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: "127.0.0.1:8080".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => args.addr = value()?,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown flag {other}\n{USAGE}")),
        }
    }
    Ok(args)
}

#[async_std::main]
async fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let room = Arc::new(Room::new());
    let server = match server::builder(room.clone()).bind(&args.addr).await {
        Ok(server) => server,
        Err(error) => {
            eprintln!("cannot listen on {}: {error}", args.addr);
            std::process::exit(1);
        }
    };
    println!("chat server running at http://{}/", server.local_addr());
    server::serve(server, room).await;
}
