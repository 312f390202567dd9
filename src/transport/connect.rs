//! Opening a TCP connection to a host and port: the client's and the
//! forwarder's one way to reach another machine.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use super::TcpTransport;
use crate::runtime::Runtime;

/// Connects to `host` (a name, an IPv4 address or an IPv6 address with or
/// without brackets) on `port`. A name is resolved on the runtime's
/// blocking pool; its addresses are tried in order and the last error is
/// returned when none connects. No timeout: callers bound it.
pub(crate) async fn connect(host: &str, port: u16, runtime: &Runtime) -> io::Result<TcpTransport> {
    let literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let addrs: Vec<SocketAddr> = match literal.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => {
            let name = host.to_owned();
            let resolved = runtime
                .unblock(move || (name.as_str(), port).to_socket_addrs())
                .await;
            resolved?.collect()
        }
    };
    let mut last = None;
    for addr in addrs {
        match TcpTransport::connect(addr, runtime).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            "the host name resolved to no address",
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connects_to_literals_and_names_and_reports_refusal() {
        let runtime = Runtime::for_tests();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        crate::runtime::block_on(async {
            for host in ["127.0.0.1", "localhost"] {
                let stream = connect(host, port, &runtime).await.unwrap();
                assert_eq!(stream.peer_addr().unwrap().port(), port);
            }
            drop(listener);
            let refused = connect("127.0.0.1", port, &runtime).await.unwrap_err();
            assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        });
    }
}
