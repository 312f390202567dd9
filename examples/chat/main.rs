//! A chat server with its own web page.
//!
//! ```text
//! cargo run --release --example chat                        # http://127.0.0.1:8080/
//! cargo run --release --example chat -- --addr 0.0.0.0:9000
//! cargo run --release --example chat -- --tls-cert cert.pem --tls-key key.pem   # https://
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
//! - `protocol.rs`: the JSON messages;
//! - `http.rs`: the page, and `/check`, which tells the page why it would
//!   be refused;
//! - `index.html`, `style.css`, `app.js`: the page, embedded in the binary.

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
}

const USAGE: &str = "usage: chat [--addr HOST:PORT] [--tls-cert PEM --tls-key PEM]";

fn parse_args() -> Result<Args, String> {
    let mut addr = "127.0.0.1:8080".to_owned();
    let (mut cert, mut key) = (None, None);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => addr = value()?,
            "--tls-cert" => cert = Some(value()?),
            "--tls-key" => key = Some(value()?),
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
    Ok(Args { addr, tls })
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
    let builder = server::builder(room.clone());
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
