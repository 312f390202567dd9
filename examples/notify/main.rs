//! A notification server: rooms joined over WebSocket with a token, notices
//! posted over HTTP, a page and a health check, all on one port. It shows
//! the application's side of wsgate: a [`Router`](wsgate::Router), the
//! request helpers, typed per-connection state and topics.
//!
//! ```text
//! cargo run --example notify -- --addr 127.0.0.1:8082 --token alice=s3cret
//! ```
//!
//! Then open <http://127.0.0.1:8082/>, or:
//!
//! ```text
//! websocat 'ws://127.0.0.1:8082/rooms/lobby?token=s3cret'
//! curl -H 'Authorization: Bearer s3cret' -d 'deploy at 5' http://127.0.0.1:8082/rooms/lobby/notify
//! curl http://127.0.0.1:8082/rooms/lobby/members
//! ```
//!
//! The routes are in `app.rs`. Ctrl-C or SIGTERM shuts it down gracefully.

use std::time::Duration;

use futures::future::select;
use wsgate::Server;

mod app;
#[path = "../shared/signal.rs"]
mod signal;

const USAGE: &str = "usage: notify [--addr HOST:PORT] --token NAME=TOKEN ...
  --addr HOST:PORT    listen address (default 127.0.0.1:8082)
  --token NAME=TOKEN  a user and the token that authenticates it (repeatable, at least one)";

fn parse_args() -> Result<(String, Vec<(String, String)>), String> {
    let mut addr = "127.0.0.1:8082".to_owned();
    let mut tokens = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = args
            .next()
            .ok_or(format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--addr" => addr = value,
            "--token" => {
                let (name, token) = value
                    .split_once('=')
                    .filter(|(name, token)| !name.is_empty() && !token.is_empty())
                    .ok_or(format!(
                        "--token: expected NAME=TOKEN, got {value}\n{USAGE}"
                    ))?;
                tokens.push((name.to_owned(), token.to_owned()));
            }
            other => return Err(format!("unknown flag {other}\n{USAGE}")),
        }
    }
    if tokens.is_empty() {
        return Err(format!("give at least one --token\n{USAGE}"));
    }
    Ok((addr, tokens))
}

fn main() -> std::io::Result<()> {
    let (addr, tokens) = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    wsgate::runtime::block_on(async {
        let tokens = app::Tokens::new(tokens.iter().map(|(n, t)| (n.as_str(), t.as_str())));
        let server = Server::builder()
            .router(app::router(tokens))
            .bind(&addr)
            .await?;
        // Before the address is announced: a signal from then on shuts down
        // gracefully (installed later, an early SIGTERM would kill the process).
        let stop = signal::shutdown_signal();
        println!("notify server running at http://{}/", server.local_addr());
        let handle = server.handle();
        let _ = select(server.serve_routes(), stop).await;
        let report = handle.shutdown(Duration::from_secs(5)).await;
        println!(
            "shut down: {} connections closed cleanly, {} dropped",
            report.clean, report.forced
        );
        Ok(())
    })
}
