//! Runs wsgate's client through the Autobahn|Testsuite *fuzzingserver*: the
//! suite's server plays each case against this client, which echoes every
//! message, and the suite judges what the client did.
//!
//! ```text
//! wstest -m fuzzingserver -s spec.json          # listening on ws://127.0.0.1:9002
//! cargo run --release --example autobahn-client -- --url ws://127.0.0.1:9002
//! ```
//!
//! It asks the suite how many cases there are (`/getCaseCount`), runs each
//! one (`/runCase?case=N&agent=AGENT`), then has the suite write its report
//! (`/updateReports?agent=AGENT`). With `--deflate` the client offers
//! permessage-deflate, for cases 12 and 13.

use futures::StreamExt;
use wsgate::{Client, Config, Connection, Event, Message};

const USAGE: &str = "usage: autobahn-client [options]
  --url URL                 the fuzzingserver (default ws://127.0.0.1:9002)
  --agent NAME              the name in the report (default wsgate)
  --deflate                 offer permessage-deflate (cases 12 and 13)
  --max-message-size BYTES  largest message and frame (default 64 MiB)";

struct Args {
    url: String,
    agent: String,
    deflate: bool,
    max_message_size: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        url: "ws://127.0.0.1:9002".to_owned(),
        agent: "wsgate".to_owned(),
        deflate: false,
        max_message_size: 64 << 20,
    };
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        match flag.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "--deflate" => args.deflate = true,
            "--url" | "--agent" | "--max-message-size" => {
                let value = argv.next().ok_or(format!("{flag} needs a value"))?;
                match flag.as_str() {
                    "--url" => args.url = value.trim_end_matches('/').to_owned(),
                    "--agent" => args.agent = value,
                    _ => {
                        args.max_message_size =
                            value.parse().map_err(|_| format!("bad size {value}"))?;
                    }
                }
            }
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    Ok(args)
}

/// A client as the arguments ask for it.
fn client(args: &Args) -> Client {
    let mut config = Config::default();
    config.max_message_size = args.max_message_size;
    config.max_frame_size = args.max_message_size;
    let client = Client::new().config(config);
    if args.deflate {
        client.deflate(wsgate::handshake::DeflateConfig::default())
    } else {
        client
    }
}

/// Echoes every message until the connection ends.
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

/// The first text message on `url`, then the connection's end.
async fn first_text(args: &Args, url: &str) -> Result<String, wsgate::Error> {
    let conn = client(args).connect(url).await?;
    let mut events = conn.events();
    let mut text = String::new();
    while let Some(event) = events.next().await {
        if let Event::Message(Message::Text(t)) = event
            && text.is_empty()
        {
            text = t.to_string();
        }
    }
    Ok(text)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    wsgate::runtime::block_on(run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let count: u32 = first_text(&args, &format!("{}/getCaseCount", args.url))
        .await?
        .trim()
        .parse()?;
    println!("{count} cases");
    for case in 1..=count {
        let url = format!("{}/runCase?case={case}&agent={}", args.url, args.agent);
        // A case may refuse the handshake or fail the connection on purpose;
        // the suite judges that, not this program.
        match client(&args).connect(&url).await {
            Ok(conn) => echo(conn).await,
            Err(e) => println!("case {case}: {}", wsgate::ErrorChain(&e)),
        }
    }
    let url = format!("{}/updateReports?agent={}", args.url, args.agent);
    first_text(&args, &url).await?;
    println!("report updated");
    Ok(())
}
