//! Shared bits of the peer echo servers.

/// The `--addr HOST:PORT` flag (default 127.0.0.1:9001).
pub fn addr_from_args() -> String {
    let mut addr = "127.0.0.1:9001".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--addr" => addr = args.next().expect("--addr needs a value"),
            other => {
                eprintln!("unknown flag {other}; usage: --addr HOST:PORT");
                std::process::exit(2);
            }
        }
    }
    addr
}
