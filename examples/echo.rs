//! An echo server: every text and binary message comes back unchanged.
//!
//! ```text
//! cargo run --release --example echo -- --addr 127.0.0.1:9001
//! ```
//!
//! With `--tls-cert PEM --tls-key PEM` it serves `wss://` with that
//! certificate chain and private key.
//!
//! Clients that offer permessage-deflate (browsers, Python `websockets`,
//! the Autobahn|Testsuite's cases 12 and 13) get it; `--no-deflate` turns
//! compression off.
//!
//! It accepts every request and any message up to 64 MiB (change it with
//! `--max-message-size`). It is also the reference server the
//! Autobahn|Testsuite runs against, and exposes the server's settings as
//! flags (`--help`). Ctrl-C or SIGTERM shuts it down gracefully: close 1001
//! to every client, then exit.

use std::time::Duration;

use futures::StreamExt;
use futures::future::select;
use wsgate::{Config, Connection, Event, IpNet, Server};

#[path = "shared/signal.rs"]
mod signal;
use signal::shutdown_signal;

const USAGE: &str = "usage: echo [options]
  --addr HOST:PORT          listen address (default 127.0.0.1:9001)
  --max-connections N       most open connections (default 16384)
  --max-message-size BYTES  largest message and frame (default 64 MiB)
  --memory-budget BYTES     server-wide budget for unfinished messages (default 256 MiB)
  --memory-reserve BYTES    what each message may hold outside that budget (default 64 KiB)
  --memory-wait MILLIS      how long a message waits for the budget before 1013 (default 10000)
  --outbound-budget BYTES   server-wide budget for all send queues together (default 256 MiB)
  --ping-interval SECS      keepalive ping after SECS of silence, 0 = off (default 20)
  --ping-timeout SECS       close when a ping is unanswered this long (default 20)
  --idle-timeout SECS       close after SECS without a message, 0 = off (default off)
  --allow CIDR              accept only these client addresses (repeatable)
  --trust-proxy CIDR        believe X-Forwarded-For/Forwarded from these (repeatable)
  --shutdown-timeout SECS   how long a graceful shutdown waits (default 5)
  --tls-cert PEM            serve wss:// with this certificate chain (with --tls-key)
  --tls-key PEM             the certificate's private key (with --tls-cert)
  --no-deflate              never negotiate permessage-deflate (default: accepted when offered)";

struct Args {
    addr: String,
    config: Config,
    shutdown_timeout: Duration,
    tls_cert: Option<String>,
    tls_key: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut config = Config::default();
    config.max_message_size = 64 << 20;
    config.max_frame_size = 64 << 20;
    let mut args = Args {
        addr: "127.0.0.1:9001".into(),
        config,
        shutdown_timeout: Duration::from_secs(5),
        tls_cert: None,
        tls_key: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        if flag == "--no-deflate" {
            // Without the `deflate` feature there is nothing to turn off.
            #[cfg(feature = "deflate")]
            {
                args.config.deflate.enabled = false;
            }
            continue;
        }
        let value = it.next().ok_or(format!("{flag} needs a value\n{USAGE}"))?;
        let number = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("{flag}: not a number: {v}"))
        };
        let secs = |v: &str| number(v).map(Duration::from_secs);
        let cidr = |v: &str| v.parse::<IpNet>().map_err(|e| format!("{flag}: {e}"));
        let config = &mut args.config;
        match flag.as_str() {
            "--addr" => args.addr = value,
            "--max-connections" => config.max_connections = number(&value)? as usize,
            "--max-message-size" => {
                config.max_message_size = number(&value)? as usize;
                config.max_frame_size = config.max_message_size;
            }
            "--memory-budget" => config.inbound_memory_budget = number(&value)? as usize,
            "--memory-reserve" => config.inbound_memory_reserve = number(&value)? as usize,
            "--memory-wait" => config.inbound_memory_wait = Duration::from_millis(number(&value)?),
            "--outbound-budget" => config.outbound_memory_budget = number(&value)? as usize,
            "--ping-interval" => {
                config.ping_interval = Some(secs(&value)?).filter(|d| !d.is_zero())
            }
            "--ping-timeout" => config.ping_timeout = secs(&value)?,
            "--idle-timeout" => config.idle_timeout = Some(secs(&value)?).filter(|d| !d.is_zero()),
            "--allow" => config.allow.push(cidr(&value)?),
            "--trust-proxy" => config.trusted_proxies.push(cidr(&value)?),
            "--shutdown-timeout" => args.shutdown_timeout = secs(&value)?,
            "--tls-cert" => args.tls_cert = Some(value),
            "--tls-key" => args.tls_key = Some(value),
            other => return Err(format!("unknown flag {other}\n{USAGE}")),
        }
    }
    if args.tls_cert.is_some() != args.tls_key.is_some() {
        return Err(format!("--tls-cert and --tls-key go together\n{USAGE}"));
    }
    Ok(args)
}

/// The TLS acceptor for `--tls-cert` and `--tls-key`; failed TLS handshakes
/// are logged.
fn tls_acceptor(cert: &str, key: &str) -> Result<impl wsgate::TlsAcceptor, String> {
    use wsgate::tls::{ReportFailures, RustlsAcceptor};

    let acceptor = RustlsAcceptor::from_pem_files(cert, key)
        .map_err(|e| format!("TLS: {}", wsgate::ErrorChain(&e)))?;
    Ok(ReportFailures::new(acceptor, |failure| {
        eprintln!("{}", wsgate::ErrorChain(failure))
    }))
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

fn main() -> std::io::Result<()> {
    // The runtime the build's features chose: async-std by default,
    // `--no-default-features --features smol,...` or `tokio,...` otherwise.
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
    let builder = Server::builder().config(args.config);
    let (server, scheme) = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => match tls_acceptor(cert, key) {
            Ok(acceptor) => (builder.bind_tls(&args.addr, acceptor).await?, "wss"),
            Err(message) => {
                eprintln!("{message}");
                std::process::exit(2);
            }
        },
        _ => (builder.bind(&args.addr).await?, "ws"),
    };
    // Before the address is announced: a signal from then on shuts down
    // gracefully (installed later, an early SIGTERM would kill the process).
    let stop = shutdown_signal();
    println!(
        "echo server listening on {scheme}://{}",
        server.local_addr()
    );
    let handle = server.handle();
    // Each request on a task of its own, with the request loop on the
    // executor too (not on this thread): until a signal arrives.
    let serving = server.serve(|request| async move {
        if let Ok(conn) = request.accept(None, None).await {
            echo(conn).await;
        }
    });
    let _ = select(serving, stop).await;
    let report = handle.shutdown(args.shutdown_timeout).await;
    println!(
        "shut down: {} connections closed cleanly, {} dropped",
        report.clean, report.forced
    );
    Ok(())
}
