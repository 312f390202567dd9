//! An echo server: every text and binary message comes back unchanged.
//!
//! ```text
//! cargo run --release --example echo -- --addr 127.0.0.1:9001
//! ```
//!
//! It accepts every request and any message up to 64 MiB. It is also the
//! reference server the Autobahn|Testsuite runs against.

use futures::StreamExt;
use wsgate::{Config, Connection, Event, Server};

struct Args {
    addr: String,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: "127.0.0.1:9001".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => args.addr = value()?,
            "-h" | "--help" => {
                return Err("usage: echo [--addr HOST:PORT]".into());
            }
            other => return Err(format!("unknown flag {other}; try --help")),
        }
    }
    Ok(args)
}

async fn echo(conn: Connection) {
    let mut events = conn.events();
    while let Some(event) = events.next().await {
        if let Event::Message(message) = event
            && conn.send(message).await.is_err()
        {
            break;
        }
    }
}

#[async_std::main]
async fn main() -> std::io::Result<()> {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let mut config = Config::default();
    config.max_message_size = 64 << 20;
    config.max_frame_size = 64 << 20;
    let mut server = Server::builder().config(config).bind(&args.addr).await?;
    println!("echo server listening on ws://{}", server.local_addr());
    while let Some(request) = server.next().await {
        async_std::task::spawn(async move {
            if let Ok(conn) = request.accept(None, None).await {
                echo(conn).await;
            }
        });
    }
    Ok(())
}
