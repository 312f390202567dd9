//! A WebSocket-to-TCP gateway (websockify's job): each connection is
//! relayed to a TCP backend chosen by its path, binary messages one way and
//! the backend's bytes as binary messages the other.
//!
//! ```text
//! cargo run --example forward -- --addr 127.0.0.1:8081 --route /redis=127.0.0.1:6379
//! ```
//!
//! `--to HOST:PORT` is the backend for every path no `--route` names;
//! without it such paths get 404. With `--allow-origin`, a browser page
//! from another origin gets 403 (clients that send no `Origin` are not
//! browsers and pass). A backend that refuses gets the client 502, one that
//! does not answer in time 504, before any 101. `--tls-cert PEM --tls-key
//! PEM` serves `wss://`. Ctrl-C or SIGTERM shuts it down gracefully.

use std::time::Duration;

use futures::future::select;
use wsgate::http_types::StatusCode;
use wsgate::{Config, Forward, Server, WebSocketRequest};

#[path = "shared/signal.rs"]
mod signal;
use signal::shutdown_signal;

const USAGE: &str = "usage: forward --to HOST:PORT | --route PATH=HOST:PORT ... [options]
  --addr HOST:PORT          listen address (default 127.0.0.1:8081)
  --to HOST:PORT            backend for paths no --route names (default: 404 for them)
  --route PATH=HOST:PORT    backend for requests to exactly PATH (repeatable)
  --allow-origin ORIGIN     allow browser pages from ORIGIN only (repeatable; default any)
  --connect-timeout SECS    backend connect timeout, then 504 (default 5, at least 1)
  --idle-timeout SECS       close when nothing moves either way for SECS (default off)
  --forward-text            forward text messages' bytes too (default: close with 1003)
  --tls-cert PEM            serve wss:// with this certificate chain (with --tls-key)
  --tls-key PEM             the certificate's private key (with --tls-cert)";

struct Args {
    addr: String,
    to: Option<String>,
    routes: Vec<(String, String)>,
    origins: Vec<String>,
    forward_text: bool,
    config: Config,
    tls_cert: Option<String>,
    tls_key: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: "127.0.0.1:8081".into(),
        to: None,
        routes: Vec::new(),
        origins: Vec::new(),
        forward_text: false,
        config: Config::default(),
        tls_cert: None,
        tls_key: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "--forward-text" => {
                args.forward_text = true;
                continue;
            }
            _ => {}
        }
        let value = it.next().ok_or(format!("{flag} needs a value\n{USAGE}"))?;
        let secs = |v: &str| {
            v.parse::<u64>()
                .map(Duration::from_secs)
                .map_err(|_| format!("{flag}: not a whole number of seconds: {v}\n{USAGE}"))
        };
        let address = |v: &str| {
            let port = v
                .rsplit_once(':')
                .map(|(host, port)| (host, port.parse::<u16>()));
            match port {
                Some((host, Ok(_))) if !host.is_empty() => Ok(v.to_owned()),
                _ => Err(format!("{flag}: expected HOST:PORT, got {v}\n{USAGE}")),
            }
        };
        match flag.as_str() {
            "--addr" => args.addr = value,
            "--to" => args.to = Some(address(&value)?),
            "--route" => {
                let (path, to) = value
                    .split_once('=')
                    .filter(|(path, to)| path.starts_with('/') && !to.is_empty())
                    .ok_or(format!(
                        "--route: expected PATH=HOST:PORT, got {value}\n{USAGE}"
                    ))?;
                args.routes.push((path.to_owned(), address(to)?));
            }
            // An origin has no path: `https://app.example/` means `https://app.example`.
            "--allow-origin" => args.origins.push(value.trim_end_matches('/').to_owned()),
            "--connect-timeout" => {
                args.config.forward_connect_timeout = secs(&value)?;
                if args.config.forward_connect_timeout.is_zero() {
                    return Err(format!("--connect-timeout must be at least 1\n{USAGE}"));
                }
            }
            "--idle-timeout" => {
                args.config.forward_idle_timeout = Some(secs(&value)?).filter(|d| !d.is_zero())
            }
            "--tls-cert" => args.tls_cert = Some(value),
            "--tls-key" => args.tls_key = Some(value),
            other => return Err(format!("unknown flag {other}\n{USAGE}")),
        }
    }
    if args.to.is_none() && args.routes.is_empty() {
        return Err(format!("give --to or at least one --route\n{USAGE}"));
    }
    if args.tls_cert.is_some() != args.tls_key.is_some() {
        return Err(format!("--tls-cert and --tls-key go together\n{USAGE}"));
    }
    Ok(args)
}

// ANCHOR: forward
/// Decides one request: its backend by path, the origin check, then the
/// forward; prints how it ended.
async fn forward(request: WebSocketRequest, args: &Args) {
    let path = request.resource_url().path().to_owned();
    let route = args.routes.iter().find(|(p, _)| *p == path);
    let id = request.id();
    let Some(to) = route.map(|(_, to)| to).or(args.to.as_ref()) else {
        println!("{id} {path}: refused with 404: no backend for this path");
        request.reject(StatusCode::NotFound, "no backend for this path");
        return;
    };
    if let Some(origin) = request.origin()
        && !args.origins.is_empty()
        && !args.origins.iter().any(|o| o.eq_ignore_ascii_case(origin))
    {
        println!("{id} {path}: refused with 403: origin {origin} not allowed");
        request.reject(StatusCode::Forbidden, "origin not allowed");
        return;
    }
    let options = Forward::to(to.clone()).forward_text(args.forward_text);
    match request.forward(options).await {
        Ok(report) => println!("{id} {path} -> {to}: {report}"),
        Err(e) => println!(
            "{id} {path} -> {to}: not forwarded: {}",
            wsgate::ErrorChain(&e)
        ),
    }
}
// ANCHOR_END: forward

fn main() -> std::io::Result<()> {
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
    let builder = Server::builder().config(args.config.clone());
    let (server, scheme) = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => match wsgate::tls::RustlsAcceptor::from_pem_files(cert, key) {
            Ok(acceptor) => (builder.bind_tls(&args.addr, acceptor).await?, "wss"),
            Err(e) => {
                eprintln!("TLS: {}", wsgate::ErrorChain(&e));
                std::process::exit(2);
            }
        },
        _ => (builder.bind(&args.addr).await?, "ws"),
    };
    // Before the address is announced: a signal from then on shuts down
    // gracefully (installed later, an early SIGTERM would kill the process).
    let stop = shutdown_signal();
    println!(
        "forward server listening on {scheme}://{}",
        server.local_addr()
    );
    let handle = server.handle();
    let args = std::sync::Arc::new(args);
    let serving = server.serve(move |request| {
        let args = args.clone();
        async move { forward(request, &args).await }
    });
    let _ = select(serving, stop).await;
    let report = handle.shutdown(Duration::from_secs(5)).await;
    println!(
        "shut down: {} connections closed cleanly, {} dropped",
        report.clean, report.forced
    );
    Ok(())
}
