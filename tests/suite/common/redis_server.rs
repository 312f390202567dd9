//! A `redis-server` of the test's own on a free loopback port, for the
//! tests of topics across processes (the broker helpers need feature
//! `redis`) and of forwarding to a real backend: without
//! `redis-server` on the PATH a test prints why and passes, unless
//! `WSGATE_REQUIRE_REDIS=1` (as CI sets it).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
#[cfg(feature = "redis")]
use std::time::Duration;

#[cfg(feature = "redis")]
use wsgate::broker::RedisBroker;
#[cfg(feature = "redis")]
use wsgate::{Server, ServerHandle};

use super::{TIMEOUT, poll_until};

/// A `redis-server` of the test's own, stopped by pid when dropped.
pub struct Redis {
    port: u16,
    child: Option<Child>,
}

impl Redis {
    /// Starts one on a free port; `None` (the test is skipped) when there
    /// is no `redis-server` and CI does not require one.
    pub fn start() -> Option<Redis> {
        Redis::start_on(free_port())
    }

    /// As [`start`](Self::start), on `port`.
    pub fn start_on(port: u16) -> Option<Redis> {
        let mut redis = Redis { port, child: None };
        match redis.spawn() {
            Ok(()) => Some(redis),
            Err(why) if std::env::var_os("WSGATE_REQUIRE_REDIS").is_some_and(|v| v == "1") => {
                panic!("WSGATE_REQUIRE_REDIS=1 but {why}")
            }
            Err(why) => {
                let _ = writeln!(std::io::stderr(), "redis test skipped: {why}");
                None
            }
        }
    }

    fn spawn(&mut self) -> Result<(), String> {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start redis-server: {e}"))?;
        self.child = Some(child);
        let addr = self.addr();
        if poll_until(TIMEOUT, || TcpStream::connect(addr).is_ok()) {
            Ok(())
        } else {
            Err(format!("redis-server did not listen on {addr}"))
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn url(&self) -> String {
        format!("redis://{}", self.addr())
    }

    /// Kills it (SIGKILL, by pid) and waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.spawn().expect("redis-server restarts");
    }

    /// `PUBLISH channel payload`, as any other Redis client would.
    pub fn publish(&self, channel: &str, payload: &[u8]) {
        let mut command =
            format!("*3\r\n$7\r\nPUBLISH\r\n${}\r\n{channel}\r\n", channel.len()).into_bytes();
        command.extend_from_slice(format!("${}\r\n", payload.len()).as_bytes());
        command.extend_from_slice(payload);
        command.extend_from_slice(b"\r\n");
        let mut stream = TcpStream::connect(self.addr()).expect("connect to redis");
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.write_all(&command).unwrap();
        let mut reply = [0u8; 16];
        let n = stream.read(&mut reply).unwrap();
        assert_eq!(reply[0], b':', "PUBLISH answered {:?}", &reply[..n]);
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

#[cfg(feature = "redis")]
/// A server builder on the Redis at `url`, with quick reconnects.
pub fn redis_builder(url: &str) -> wsgate::ServerBuilder {
    Server::builder().broker(redis_broker(url))
}

#[cfg(feature = "redis")]
/// A broker to the Redis at `url`, with quick reconnects.
pub fn redis_broker(url: &str) -> RedisBroker {
    RedisBroker::builder(url)
        .max_backoff(Duration::from_millis(500))
        .timeout(Duration::from_secs(2))
        .build()
        .expect("a redis URL")
}

#[cfg(feature = "redis")]
/// Waits until `handle`'s node is connected and subscribed to `topics`
/// topics at Redis.
pub async fn subscribed(handle: &ServerHandle, topics: usize) {
    let start = std::time::Instant::now();
    loop {
        let broker = handle.metrics().broker.expect("a broker");
        if broker.connected && broker.subscriptions == topics {
            return;
        }
        assert!(
            start.elapsed() < 2 * TIMEOUT,
            "not subscribed to {topics} topics at Redis: {broker:?}"
        );
        super::sleep(Duration::from_millis(10)).await;
    }
}
