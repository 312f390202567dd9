//! The examples as processes: the echo reference server's flags and
//! graceful SIGTERM, the chat's shutdown, the fan-out example in both
//! modes, the axum example, and the forward example's flags.

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use tungstenite::Message as WsMessage;

/// Builds the example `name` (with the test profile and features, as `cargo
/// test` does, so this is a no-op after a full `cargo test` build) and
/// returns its path. `None` without the `rustls` feature, which the
/// examples require.
pub(crate) fn example(name: &str) -> Option<PathBuf> {
    // The features this test was built with, so that the build matches.
    let features: Vec<&str> = [
        ("default", cfg!(feature = "default")),
        ("async-std", cfg!(feature = "async-std")),
        ("smol", cfg!(feature = "smol")),
        ("tokio", cfg!(feature = "tokio")),
        ("hyper", cfg!(feature = "hyper")),
        ("rustls", cfg!(feature = "rustls")),
        ("ring", cfg!(feature = "ring")),
        ("native-roots", cfg!(feature = "native-roots")),
        ("async-tls", cfg!(feature = "async-tls")),
        ("deflate", cfg!(feature = "deflate")),
        ("redis", cfg!(feature = "redis")),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect();
    let mut build = Command::new(env!("CARGO"));
    // Without the variables cargo set for this test process: ring's build
    // script watches CARGO_MANIFEST_DIR, so building with it set would
    // rebuild ring, rustls and wsgate here, and again at the next `cargo
    // test` (about 25 s each way).
    for (key, _) in std::env::vars_os() {
        let key_text = key.to_string_lossy();
        if key_text == "OUT_DIR"
            || key_text.starts_with("CARGO_MANIFEST_")
            || key_text.starts_with("CARGO_PKG_")
            || key_text.starts_with("CARGO_BIN_")
            || key_text.starts_with("CARGO_CRATE_")
            || key_text.starts_with("CARGO_PRIMARY_")
            || key_text.starts_with("CARGO_TARGET_TMPDIR")
            || key_text.starts_with("CARGO_RUSTC_CURRENT_DIR")
        {
            build.env_remove(&key);
        }
    }
    let mut build = build
        .args(["build", "--example", name, "--profile", "test"])
        .args(["--no-default-features", "--features", &features.join(",")])
        .arg("--manifest-path")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run cargo");
    let built = wait_child(&mut build, Duration::from_secs(300)).is_some_and(|s| s.success());
    // target/debug/deps/suite-… → target/debug/examples/echo
    let exe = std::env::current_exe().ok()?;
    let path = exe
        .parent()?
        .parent()?
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !built {
        eprintln!(
            "building the {name} example failed; using {}",
            path.display()
        );
    }
    path.exists().then_some(path)
}

/// A running example.
pub(crate) struct ExampleProcess {
    child: Child,
    pub(crate) addr: SocketAddr,
    stdout: std::sync::mpsc::Receiver<String>,
    /// The last lines of its standard error.
    stderr: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// SIGTERM to an example serving one client `ws`: the client gets 1001,
/// and the process reports one clean close and exits 0.
fn terminate_and_see_a_clean_shutdown(server: ExampleProcess, ws: &mut Ws) {
    let (status, lines) = server.terminate_and_see_1001(&mut [ws]);
    assert!(status.success(), "exit status {status}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("1 connections closed cleanly, 0 dropped")),
        "{lines:?}"
    );
}

impl ExampleProcess {
    pub(crate) fn start(exe: &PathBuf, flags: &[&str]) -> ExampleProcess {
        let mut child = Command::new(exe)
            .args(["--addr", "127.0.0.1:0"])
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the example");
        // Kept for failures' messages (a panic, an error), last 50 lines.
        let stderr_lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let keep = stderr_lines.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            let mut stderr = io::BufReader::new(stderr);
            let mut bytes = Vec::new();
            while stderr.read_until(b'\n', &mut bytes).is_ok_and(|n| n > 0) {
                let line = String::from_utf8_lossy(&bytes).trim_end().to_owned();
                bytes.clear();
                let mut kept = keep.lock().unwrap();
                if kept.len() == 50 {
                    kept.remove(0);
                }
                kept.push(line);
            }
        });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // "echo server listening on ws://ADDR", "chat server running at http://ADDR/"
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the example's first line");
        let addr = line
            .rsplit("://")
            .next()
            .and_then(|a| a.trim().trim_end_matches('/').parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        ExampleProcess {
            child,
            addr,
            stdout: rx,
            stderr: stderr_lines,
        }
    }

    /// The process's id (to read its /proc/PID/status).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// SIGTERM, and each of `clients` gets the graceful shutdown's close
    /// (1001, "server shutting down"); returns what [`wait`](Self::wait)
    /// does. A failure's message has the rest of the process's output (its
    /// shutdown report says whether the closes were forced).
    pub(crate) fn terminate_and_see_1001(
        self,
        clients: &mut [&mut Ws],
    ) -> (std::process::ExitStatus, Vec<String>) {
        self.signal("-TERM");
        let self_stderr = self.stderr.clone();
        let closes: Vec<_> = clients
            .iter_mut()
            .map(|ws| ws_try_wait_for_close(ws))
            .collect();
        let (status, lines) = self.try_wait();
        let expected = Some((1001, "server shutting down".to_owned()));
        let status = match status {
            Some(status) if closes.iter().all(|c| c.as_ref().ok() == Some(&expected)) => status,
            _ => panic!(
                "closes {closes:?}; exit {status:?}, output {lines:?}, errors {:?}",
                self_stderr.lock().unwrap()
            ),
        };
        (status, lines)
    }

    /// Waits for the process to exit (at most 10 s); returns its status and
    /// the rest of its output.
    pub(crate) fn wait(self) -> (std::process::ExitStatus, Vec<String>) {
        match self.try_wait() {
            (Some(status), lines) => (status, lines),
            (None, lines) => panic!("the example did not exit within 10 s: {lines:?}"),
        }
    }

    /// [`wait`](Self::wait), with `None` for a process that did not exit
    /// within 10 s (it is killed when dropped).
    fn try_wait(mut self) -> (Option<std::process::ExitStatus>, Vec<String>) {
        let status = wait_child(&mut self.child, Duration::from_secs(10));
        // The reader thread ends (and the channel with it) at the end of
        // the process's output.
        let mut lines = Vec::new();
        while let Ok(line) = self.stdout.recv_timeout(Duration::from_millis(500)) {
            lines.push(line);
        }
        (status, lines)
    }
}

impl Drop for ExampleProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
#[cfg(unix)]
fn echo_example_flags_and_graceful_sigterm() {
    let Some(exe) = example("echo") else {
        eprintln!("skipped: the echo example could not be built");
        return;
    };

    // SIGTERM the moment the address is announced: a graceful exit already
    // (the handler is installed before the address line, while the request
    // loop is already running on the executor).
    let server = ExampleProcess::start(&exe, &[]);
    server.signal("-TERM");
    let (status, lines) = server.wait();
    assert!(status.success(), "exit status {status}, output {lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("0 connections closed cleanly")),
        "{lines:?}"
    );

    // --max-connections 1, then SIGTERM: close 1001 to the client, exit 0.
    let server = ExampleProcess::start(
        &exe,
        &[
            "--max-connections",
            "1",
            "--ping-interval",
            "0",
            "--shutdown-timeout",
            "3",
        ],
    );
    let addr = server.addr;
    let mut ws = ws_connect(addr, "/");
    ws.send(WsMessage::text("hi")).unwrap();
    assert_eq!(text_of(&ws_read_data(&mut ws)), "hi");
    let (status, headers, _) = ws_expect_rejection(addr, ws_request(addr, "/"));
    assert_eq!(status, 503);
    assert!(headers.contains_key("retry-after"));
    terminate_and_see_a_clean_shutdown(server, &mut ws);

    // --max-message-size, --ping-interval and --ping-timeout.
    let server = ExampleProcess::start(
        &exe,
        &[
            "--max-message-size",
            "1000",
            "--ping-interval",
            "1",
            "--ping-timeout",
            "1",
        ],
    );
    let addr = server.addr;
    let mut ws = ws_connect(addr, "/");
    ws.send(WsMessage::binary(vec![0u8; 1000])).unwrap();
    assert!(matches!(ws_read_data(&mut ws), WsMessage::Binary(b) if b.len() == 1000));
    ws.send(WsMessage::binary(vec![0u8; 1001])).unwrap();
    assert_eq!(ws_wait_for_close(&mut ws).map(|c| c.0), Some(1009));
    let mut silent = raw_ws(addr, "/");
    let start = Instant::now();
    let (close, pings) = read_until_close(&mut silent);
    assert_eq!(close.map(|c| c.0), Some(1011));
    assert!(!pings.is_empty());
    assert!(
        start.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        start.elapsed()
    );
    server.signal("-INT");
    assert!(server.wait().0.success());

    // --idle-timeout with keepalive off; --trust-proxy and --allow parse.
    let server = ExampleProcess::start(
        &exe,
        &[
            "--ping-interval",
            "0",
            "--idle-timeout",
            "1",
            "--allow",
            "127.0.0.1/32",
            "--trust-proxy",
            "10.0.0.0/8",
        ],
    );
    let mut silent = raw_ws(server.addr, "/");
    let start = Instant::now();
    let (close, _) = read_until_close(&mut silent);
    assert_eq!(close, Some((1001, "idle timeout".to_owned())));
    assert!(start.elapsed() >= Duration::from_millis(900));
    server.signal("-TERM");
    assert!(server.wait().0.success());

    // --allow that excludes us: disconnected without a response.
    let server = ExampleProcess::start(&exe, &["--allow", "10.0.0.0/8"]);
    let mut s = tcp(server.addr);
    let _ = s.write_all(upgrade_request("/", "").as_bytes());
    assert_eq!(drain_until_end(&mut s), 0);
    server.signal("-TERM");
    assert!(server.wait().0.success());

    // A bad flag is refused with the usage text.
    let out = Command::new(&exe)
        .args(["--max-connections", "lots"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // --help is no error: the usage text on stdout, exit 0.
    let out = Command::new(&exe).arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("usage: echo"));
    let _ = s.shutdown(Shutdown::Both);
}

#[test]
#[cfg(unix)]
fn chat_example_graceful_sigterm() {
    let Some(exe) = example("chat") else {
        eprintln!("skipped: the chat example could not be built");
        return;
    };
    // SIGTERM: close 1001 to the member, exit 0.
    let server = ExampleProcess::start(&exe, &[]);
    let addr = server.addr;
    let mut request = ws_request(addr, "/chat?nick=ann");
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "chat".parse().unwrap());
    let (mut ws, _) = ws_try_connect(addr, request, None).expect("handshake");
    // The welcome: who is online, the history, and ann's own join.
    for _ in 0..3 {
        ws_read_data(&mut ws);
    }
    terminate_and_see_a_clean_shutdown(server, &mut ws);
}

/// `--redis`: without the `redis` feature, a message saying to rebuild
/// with it (exit 2); with it, a URL that is not one is refused (exit 1).
/// (Two chat servers on one Redis: tests/suite/browser/cluster.rs.)
#[test]
fn chat_example_redis_flag() {
    let Some(exe) = example("chat") else {
        eprintln!("skipped: the chat example could not be built");
        return;
    };
    let url = if cfg!(feature = "redis") {
        "not a url"
    } else {
        "redis://127.0.0.1:6379"
    };
    let out = Command::new(&exe)
        .args(["--addr", "127.0.0.1:0", "--redis", url])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if cfg!(feature = "redis") {
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("invalid broker URL"), "{stderr}");
    } else {
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("--features redis"), "{stderr}");
    }
}

/// examples/axum.rs: a page, /health and wsgate's echo on one port, with
/// tungstenite and raw HTTP as the clients.
#[cfg(feature = "hyper")]
#[test]
fn axum_example_serves_a_page_health_and_a_websocket_on_one_port() {
    let Some(exe) = example("axum") else {
        eprintln!("skipped: the axum example could not be built");
        return;
    };
    let server = ExampleProcess::start(&exe, &[]);
    let addr = server.addr;
    let page = raw_exchange(
        addr,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(page.status, 200);
    assert!(page.body_text().contains("wsgate on axum"));
    let mut ws = ws_connect(addr, "/ws");
    ws.send(WsMessage::text("through axum")).unwrap();
    assert_eq!(text_of(&ws_read_data(&mut ws)), "through axum");
    let health = raw_exchange(
        addr,
        b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(health.status, 200);
    assert_eq!(health.body_text(), "ok: 1 connections\n");
}

/// The data messages `ws` has received within `wait` of each other, as
/// text.
fn drain_texts(ws: &mut Ws, wait: Duration) -> Vec<String> {
    ws.get_mut().set_read_timeout(Some(wait)).unwrap();
    let mut texts = Vec::new();
    loop {
        match ws.read() {
            Ok(WsMessage::Text(text)) => texts.push(text.to_string()),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                break;
            }
            Err(e) => panic!("read: {e}"),
        }
    }
    ws.get_mut().set_read_timeout(Some(TIMEOUT)).unwrap();
    texts
}

/// examples/fanout.rs, in both modes: a message from any connection
/// reaches every connection, the sender included; SIGTERM closes them with
/// 1001.
#[test]
#[cfg(unix)]
fn fanout_example_delivers_to_every_connection_in_both_modes() {
    let Some(exe) = example("fanout") else {
        eprintln!("skipped: the fanout example could not be built");
        return;
    };
    for mode in ["publish", "send-loop"] {
        let server = ExampleProcess::start(&exe, &["--mode", mode]);
        let mut clients: Vec<Ws> = (0..3).map(|_| ws_connect(server.addr, "/")).collect();
        // A connection joins the topic just after its handshake: probe
        // until all three hear the same probe.
        let mut joined = false;
        for i in 0..50 {
            let probe = format!("probe {i}");
            clients[0].send(WsMessage::text(probe.clone())).unwrap();
            let heard: Vec<Vec<String>> = clients
                .iter_mut()
                .map(|ws| drain_texts(ws, Duration::from_millis(200)))
                .collect();
            if heard.iter().all(|texts| texts.last() == Some(&probe)) {
                joined = true;
                break;
            }
        }
        assert!(
            joined,
            "{mode}: the three connections never all got a probe"
        );
        // Any member publishes to all, itself included, exactly once.
        clients[2].send(WsMessage::text("from the third")).unwrap();
        for ws in &mut clients {
            assert_eq!(text_of(&ws_read_data(ws)), "from the third", "{mode}");
        }
        for ws in &mut clients {
            assert_eq!(
                drain_texts(ws, Duration::from_millis(200)),
                Vec::<String>::new()
            );
        }
        let mut clients: Vec<&mut Ws> = clients.iter_mut().collect();
        let (status, _) = server.terminate_and_see_1001(&mut clients);
        assert!(status.success(), "{mode}: exit status {status}");
    }
}

#[test]
#[cfg(unix)]
fn forward_example_routes_by_path_and_checks_origins() {
    let Some(exe) = example("forward") else {
        eprintln!("skipped: the forward example could not be built");
        return;
    };
    let (echo, _seen) = crate::forward::backend(crate::forward::echo);
    let nobody = crate::forward::closed_port();
    let route = format!("/echo={echo}");
    let fallback = nobody.to_string();
    let server = ExampleProcess::start(
        &exe,
        &[
            "--route",
            &route,
            "--to",
            &fallback,
            "--allow-origin",
            // An origin given with a slash still matches.
            "https://good.example/",
        ],
    );
    let addr = server.addr;
    let with_origin = |path: &str, origin: &str| {
        let mut request = ws_request(addr, path);
        request
            .headers_mut()
            .insert("Origin", origin.parse().unwrap());
        request
    };
    // The routed path reaches the echo backend, with and without a page.
    for request in [
        ws_request(addr, "/echo"),
        with_origin("/echo", "https://good.example"),
    ] {
        let (mut ws, _) = ws_try_connect(addr, request, None).unwrap();
        ws.send(WsMessage::binary(b"ping".to_vec())).unwrap();
        assert_eq!(ws_read_data(&mut ws), WsMessage::binary(b"ping".to_vec()));
        // Text is not forwarded by default.
        ws.send(WsMessage::text("hi")).unwrap();
        assert_eq!(
            ws_wait_for_close(&mut ws),
            Some((1003, "text messages are not forwarded".to_owned()))
        );
    }
    // A page from elsewhere: 403, before any backend is tried.
    let (status, _, _) = ws_expect_rejection(addr, with_origin("/echo", "https://evil.example"));
    assert_eq!(status, 403);
    // Any other path goes to --to, where nothing listens: 502.
    let (status, headers, _) = ws_expect_rejection(addr, ws_request(addr, "/other"));
    assert_eq!(status, 502);
    assert_eq!(
        headers["X-WebSocket-Reject-Reason"],
        "backend unavailable: connection refused"
    );
    server.signal("-TERM");
    let (status, lines) = server.wait();
    assert!(status.success(), "exit status {status}");
    assert!(
        lines.iter().any(|l| l.contains("/echo -> ")
            && l.contains("text, which is not forwarded; 4 bytes to the backend, 4 to the client")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("/other -> ") && l.contains("not forwarded: cannot connect")),
        "{lines:?}"
    );
}

#[test]
fn forward_example_refuses_bad_flags() {
    let Some(exe) = example("forward") else {
        eprintln!("skipped: the forward example could not be built");
        return;
    };
    for flags in [
        &[][..],
        &["--route", "redis=127.0.0.1:6379"],
        &["--route", "/redis=127.0.0.1"],
        &["--to", "redis"],
        &["--to", "127.0.0.1:6379", "--connect-timeout", "0"],
        &["--to", "127.0.0.1:6379", "--idle-timeout", "1.5"],
        &["--to"],
    ] {
        let out = Command::new(&exe).args(flags).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{flags:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("usage: forward"),
            "{flags:?}"
        );
    }
}
