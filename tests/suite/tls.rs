//! `wss://`: the rustls acceptor against an independent client (rustls +
//! tungstenite on a std socket), client certificates, plain-text clients on
//! a TLS port, one server for `ws://` and `wss://`, the handshake timeout,
//! the `wsgate::Client` over TLS, and (feature `async-tls`) the async-tls
//! provider. Certificates are made in the test with rcgen.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common;
use crate::tls_common::*;
use futures::StreamExt;
use tungstenite::Message;
use wsgate::tls::rustls::version::{TLS12, TLS13};
use wsgate::tls::{ReportFailures, RustlsAcceptor, TlsConfigError, TlsFailure, TlsFailureReason};
use wsgate::{Config, Error, Event, Server};

/// Both TLS versions, as a default client offers them.
const ALL_VERSIONS: &[&wsgate::tls::rustls::SupportedProtocolVersion] = &[&TLS13, &TLS12];

/// A wss:// echo server on 127.0.0.1 with `acceptor`.
async fn tls_echo(
    acceptor: impl wsgate::TlsAcceptor,
) -> (std::net::SocketAddr, async_channel::Receiver<Seen>) {
    let server = Server::builder()
        .bind_tls("127.0.0.1:0", acceptor)
        .await
        .unwrap();
    let addr = server.local_addr();
    (addr, serve_echo(server))
}

/// One failure a [`ReportFailures`] handler was called with.
#[derive(Clone, Debug)]
struct Reported {
    peer_addr: Option<std::net::SocketAddr>,
    message: String,
    timed_out: bool,
}

/// Failures reported by a [`ReportFailures`] handler, kept for the test,
/// with a channel that announces each one.
#[derive(Clone)]
struct Failures {
    seen: Arc<Mutex<Vec<Reported>>>,
    reported: (async_channel::Sender<()>, async_channel::Receiver<()>),
}

impl Default for Failures {
    fn default() -> Failures {
        Failures {
            seen: Arc::default(),
            reported: async_channel::unbounded(),
        }
    }
}

impl Failures {
    fn handler(&self) -> impl Fn(&TlsFailure) + Send + Sync + 'static {
        let seen = self.seen.clone();
        let reported = self.reported.0.clone();
        move |failure| {
            let timed_out = matches!(failure.reason, TlsFailureReason::TimedOut);
            seen.lock().unwrap().push(Reported {
                peer_addr: failure.peer_addr,
                message: wsgate::ErrorChain(failure).to_string(),
                timed_out,
            });
            let _ = reported.try_send(());
        }
    }

    /// Waits until at least one failure is reported; returns them all.
    async fn wait(&self) -> Vec<Reported> {
        within("a reported TLS failure", self.reported.1.recv())
            .await
            .expect("the handler is kept");
        self.seen.lock().unwrap().clone()
    }
}

#[test]
fn wss_echo_with_an_independent_client() {
    common::run(async move {
        let pki = Pki::new();
        let acceptor = RustlsAcceptor::from_pem(&pki.server.cert, &pki.server.key).unwrap();
        let (addr, seen) = tls_echo(acceptor).await;

        let ca = pki.ca.clone();
        let client = blocking(move || {
            let mut ws = wss_connect(
                addr,
                "localhost",
                "/echo?x=1",
                client_config(&ca, None, ALL_VERSIONS),
            )
            .unwrap();
            assert_eq!(
                ws.get_ref().conn.protocol_version(),
                Some(wsgate::tls::rustls::ProtocolVersion::TLSv1_3)
            );
            echo_roundtrip(&mut ws);
            close(ws);
        });
        let request = within("the request", seen.recv()).await.unwrap();
        assert!(request.secure);
        assert_eq!(
            request.url,
            format!("wss://localhost:{}/echo?x=1", addr.port())
        );
        assert!(request.peer_certificates.is_empty());
        client.await;
    })
}

/// A connection failed while the client is still sending: over TLS too,
/// the server ends its side (`close_notify`, then FIN) and reads on until
/// the client's end, so the client's write completes and it reads the 1009
/// instead of meeting a reset.
#[test]
fn a_failed_wss_connection_reads_on_so_the_client_gets_its_1009() {
    common::run(async move {
        let pki = Pki::new();
        let acceptor = RustlsAcceptor::from_pem(&pki.server.cert, &pki.server.key).unwrap();
        let mut config = Config::default();
        config.max_message_size = 1 << 20;
        config.max_frame_size = 1 << 20;
        let server = Server::builder()
            .config(config)
            .bind_tls("127.0.0.1:0", acceptor)
            .await
            .unwrap();
        let addr = server.local_addr();
        let _seen = serve_echo(server);
        let ca = pki.ca.clone();
        let client = blocking(move || {
            let tls = client_config(&ca, None, ALL_VERSIONS);
            let mut ws = wss_connect(addr, "localhost", "/", tls).unwrap();
            ws.send(Message::binary(vec![1u8; 4 << 20]))
                .expect("the whole message written: the server reads on");
            match ws.read() {
                Ok(Message::Close(Some(frame))) => u16::from(frame.code),
                other => panic!("expected the close frame, got {other:?}"),
            }
        });
        assert_eq!(client.await, 1009);
    })
}

#[test]
fn tls_1_2_is_on_by_default() {
    common::run(async move {
        let pki = Pki::new();
        let acceptor = RustlsAcceptor::from_pem(&pki.server.cert, &pki.server.key).unwrap();
        let (addr, _seen) = tls_echo(acceptor).await;
        let ca = pki.ca.clone();
        blocking(move || {
            let mut ws =
                wss_connect(addr, "localhost", "/", client_config(&ca, None, &[&TLS12])).unwrap();
            assert_eq!(
                ws.get_ref().conn.protocol_version(),
                Some(wsgate::tls::rustls::ProtocolVersion::TLSv1_2)
            );
            echo_roundtrip(&mut ws);
            close(ws);
        })
        .await;
    })
}

#[test]
fn certificate_and_key_from_pem_files() {
    common::run(async move {
        let pki = Pki::new();
        let dir = std::env::temp_dir().join(format!("wsgate-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, &pki.server.cert).unwrap();
        std::fs::write(&key, &pki.server.key).unwrap();
        let acceptor = RustlsAcceptor::from_pem_files(&cert, &key);
        let _ = std::fs::remove_dir_all(&dir);
        let (addr, _seen) = tls_echo(acceptor.unwrap()).await;
        let ca = pki.ca.clone();
        blocking(move || {
            let mut ws = wss_connect(
                addr,
                "localhost",
                "/",
                client_config(&ca, None, ALL_VERSIONS),
            )
            .unwrap();
            echo_roundtrip(&mut ws);
            close(ws);
        })
        .await;
    })
}

#[test]
fn required_client_certificate() {
    common::run(async move {
        let pki = Pki::new();
        let acceptor = RustlsAcceptor::builder(&pki.server.cert, &pki.server.key)
            .unwrap()
            .with_client_auth(&pki.ca, true)
            .unwrap()
            .build()
            .unwrap();
        let failures = Failures::default();
        let (addr, seen) = tls_echo(ReportFailures::new(acceptor, failures.handler())).await;

        // Without a certificate: the handshake fails and no request arrives.
        let ca = pki.ca.clone();
        let refused = blocking(move || {
            wss_connect(
                addr,
                "localhost",
                "/",
                client_config(&ca, None, ALL_VERSIONS),
            )
            .map(|_| ())
        })
        .await;
        let error = refused.unwrap_err();
        assert!(error.to_lowercase().contains("certificate"), "{error}");
        let reported = failures.wait().await;
        assert!(!reported[0].timed_out, "{reported:?}");
        assert!(seen.try_recv().is_err());

        // A certificate from another CA: refused too.
        let stranger = self_signed(&["mallory"]);
        let ca = pki.ca.clone();
        let refused = blocking(move || {
            wss_connect(
                addr,
                "localhost",
                "/",
                client_config(&ca, Some(&stranger), ALL_VERSIONS),
            )
            .map(|_| ())
        })
        .await;
        assert!(refused.is_err());
        assert!(seen.try_recv().is_err());

        // With alice's certificate: served, and the server sees who it is.
        let ca = pki.ca.clone();
        let alice = pki.client.clone();
        let client = blocking(move || {
            let mut ws = wss_connect(
                addr,
                "localhost",
                "/",
                client_config(&ca, Some(&alice), ALL_VERSIONS),
            )
            .unwrap();
            echo_roundtrip(&mut ws);
            close(ws);
        });
        let request = within("the request", seen.recv()).await.unwrap();
        assert!(request.secure);
        assert_eq!(request.peer_certificates.len(), 1);
        assert_eq!(
            subject_common_name(&request.peer_certificates[0]).as_deref(),
            Some(CLIENT_NAME)
        );
        client.await;
    })
}

#[test]
fn optional_client_certificate() {
    common::run(async move {
        let pki = Pki::new();
        let acceptor = RustlsAcceptor::builder(&pki.server.cert, &pki.server.key)
            .unwrap()
            .with_client_auth(&pki.ca, false)
            .unwrap()
            .build()
            .unwrap();
        let (addr, seen) = tls_echo(acceptor).await;

        let ca = pki.ca.clone();
        blocking(move || {
            let ws = wss_connect(
                addr,
                "localhost",
                "/anon",
                client_config(&ca, None, ALL_VERSIONS),
            )
            .unwrap();
            close(ws);
        })
        .await;
        let anonymous = within("the request", seen.recv()).await.unwrap();
        assert!(anonymous.peer_certificates.is_empty());

        let ca = pki.ca.clone();
        let alice = pki.client.clone();
        blocking(move || {
            let ws = wss_connect(
                addr,
                "localhost",
                "/alice",
                client_config(&ca, Some(&alice), ALL_VERSIONS),
            )
            .unwrap();
            close(ws);
        })
        .await;
        let known = within("the request", seen.recv()).await.unwrap();
        assert_eq!(
            subject_common_name(&known.peer_certificates[0]).as_deref(),
            Some(CLIENT_NAME)
        );
    })
}

#[test]
fn plain_text_client_on_the_tls_port_fails_alone() {
    common::run(async move {
        let pki = Pki::new();
        let acceptor = RustlsAcceptor::from_pem(&pki.server.cert, &pki.server.key).unwrap();
        let failures = Failures::default();
        let (addr, seen) = tls_echo(ReportFailures::new(acceptor, failures.handler())).await;

        // A TLS client connects first and stays connected throughout.
        let ca = pki.ca.clone();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let tls_client = blocking(move || {
            let mut ws = wss_connect(
                addr,
                "localhost",
                "/tls",
                client_config(&ca, None, ALL_VERSIONS),
            )
            .unwrap();
            ws.send(Message::text("before")).unwrap();
            assert_eq!(ws.read().unwrap(), Message::text("before"));
            go_rx.recv_timeout(TIMEOUT).unwrap();
            echo_roundtrip(&mut ws);
            close(ws);
        });
        let first = within("the TLS request", seen.recv()).await.unwrap();
        assert!(first.secure);

        // A plain-text WebSocket client on the same port: the server closes it
        // (at most a TLS alert comes back, never an HTTP response).
        let plain = blocking(move || {
            let mut stream = tcp(addr);
            stream
                .write_all(
                    b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
                  Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                  Sec-WebSocket-Version: 13\r\n\r\n",
                )
                .unwrap();
            let mut answer = Vec::new();
            // Ends with end-of-stream (or a reset), never a timeout.
            match stream.read_to_end(&mut answer) {
                Ok(_) => {}
                Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
            }
            (stream.local_addr().unwrap(), answer)
        });
        let (plain_addr, answer) = plain.await;
        assert!(!answer.starts_with(b"HTTP"), "{answer:?}");
        let reported = failures.wait().await;
        assert_eq!(reported[0].peer_addr, Some(plain_addr));
        assert!(!reported[0].timed_out, "{reported:?}");
        let expected = format!("TLS handshake from {plain_addr} failed: ");
        assert!(reported[0].message.starts_with(&expected), "{reported:?}");
        assert!(seen.try_recv().is_err());

        // The TLS client is still served.
        go_tx.send(()).unwrap();
        tls_client.await;
    })
}

#[test]
fn an_idle_client_is_dropped_after_the_handshake_timeout() {
    common::run(async move {
        let pki = Pki::new();
        let acceptor = RustlsAcceptor::from_pem(&pki.server.cert, &pki.server.key).unwrap();
        let failures = Failures::default();
        let mut config = Config::default();
        config.handshake_timeout = Duration::from_millis(300);
        let server = Server::builder()
            .config(config)
            .bind_tls(
                "127.0.0.1:0",
                ReportFailures::new(acceptor, failures.handler()),
            )
            .await
            .unwrap();
        let addr = server.local_addr();
        let _seen = serve_echo(server);

        let idle = blocking(move || {
            let mut stream = tcp(addr);
            let started = std::time::Instant::now();
            let mut buf = [0u8; 64];
            // Sends nothing; the server gives up and closes (a read timeout
            // would be an error of another kind).
            let closed = match stream.read(&mut buf) {
                Ok(n) => n == 0,
                Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
            };
            (closed, started.elapsed(), stream.local_addr().unwrap())
        });
        let (closed, elapsed, idle_addr) = idle.await;
        assert!(closed);
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
        let reported = failures.wait().await;
        assert_eq!(reported[0].peer_addr, Some(idle_addr));
        assert!(
            reported[0].timed_out,
            "not reported as a timeout: {reported:?}"
        );
    })
}

#[test]
fn one_server_for_ws_and_wss() {
    common::run(async move {
        let pki = Pki::new();
        let acceptor = RustlsAcceptor::from_pem(&pki.server.cert, &pki.server.key).unwrap();
        let server = Server::builder().build();
        let plain_addr = server.add_bind("127.0.0.1:0").await.unwrap();
        let tls_addr = server.add_bind_tls("127.0.0.1:0", acceptor).await.unwrap();
        assert_eq!(server.local_addrs(), [plain_addr, tls_addr]);
        let seen = serve_echo(server);

        let plain = blocking(move || {
            let mut ws = common::ws_connect(plain_addr, "/plain");
            echo_roundtrip(&mut ws);
            close(ws);
        });
        let ca = pki.ca.clone();
        let secure = blocking(move || {
            let mut ws = wss_connect(
                tls_addr,
                "localhost",
                "/secure",
                client_config(&ca, None, ALL_VERSIONS),
            )
            .unwrap();
            echo_roundtrip(&mut ws);
            close(ws);
        });
        let mut requests = [
            within("a request", seen.recv()).await.unwrap(),
            within("a request", seen.recv()).await.unwrap(),
        ];
        requests.sort_by_key(|r| r.secure);
        assert!(!requests[0].secure);
        assert_eq!(requests[0].url, format!("ws://{plain_addr}/plain"));
        assert!(requests[1].secure);
        assert_eq!(
            requests[1].url,
            format!("wss://localhost:{}/secure", tls_addr.port())
        );
        plain.await;
        secure.await;
    })
}

#[test]
fn wsgate_client_over_wss() {
    common::run(async move {
        let pki = Pki::new();
        let acceptor = RustlsAcceptor::from_pem(&pki.server.cert, &pki.server.key).unwrap();
        let (addr, seen) = tls_echo(acceptor).await;

        // By name (SNI) and by IP address (checked against the IP SAN).
        for host in ["localhost", "127.0.0.1"] {
            let url = format!("wss://{host}:{}/ours", addr.port());
            let conn = within(
                "connect",
                wsgate::Client::new()
                    .add_root_certificate(&pki.ca)
                    .unwrap()
                    .connect(&url),
            )
            .await
            .unwrap();
            let request = within("the request", seen.recv()).await.unwrap();
            assert!(request.secure);
            assert_eq!(request.url, url);
            let mut events = conn.events();
            conn.send("hi").await.unwrap();
            match within("the echo", events.next()).await {
                Some(Event::Message(message)) => assert_eq!(message, wsgate::Message::from("hi")),
                other => panic!("unexpected {other:?}"),
            }
            conn.close(wsgate::CloseCode::NORMAL, "bye").unwrap();
            loop {
                match within("the close", events.next()).await {
                    Some(Event::Close(_)) | None => break,
                    Some(_) => {}
                }
            }
        }
    })
}

#[test]
fn wsgate_client_checks_the_server_certificate() {
    common::run(async move {
        let pki = Pki::new();
        let acceptor = RustlsAcceptor::from_pem(&pki.server.cert, &pki.server.key).unwrap();
        let (addr, seen) = tls_echo(acceptor).await;

        // Our CA is not among the system roots.
        let url = format!("wss://localhost:{}/", addr.port());
        let untrusted = within("connect", wsgate::Client::new().connect(&url)).await;
        match untrusted {
            Err(e @ Error::Tls { .. }) => {
                // The error names the server; its source, the TLS failure.
                let address = format!("localhost:{}", addr.port());
                assert_eq!(
                    e.to_string(),
                    format!("TLS handshake with {address} failed")
                );
                assert!(std::error::Error::source(&e).is_some());
            }
            other => panic!("unexpected {:?}", other.map(|_| ())),
        }

        // Trusted CA, but the certificate is not for this name.
        let other = self_signed(&["example.test"]);
        let acceptor = RustlsAcceptor::from_pem(&other.cert, &other.key).unwrap();
        let (other_addr, other_seen) = tls_echo(acceptor).await;
        let url = format!("wss://localhost:{}/", other_addr.port());
        let wrong_name = within(
            "connect",
            wsgate::Client::new()
                .add_root_certificate(&other.cert)
                .unwrap()
                .connect(&url),
        )
        .await;
        match wrong_name {
            Err(Error::Tls { source: e, .. }) => {
                let inner = e.get_ref().expect("a wrapped rustls error");
                let tls = inner
                    .downcast_ref::<wsgate::tls::rustls::Error>()
                    .expect("a rustls error");
                assert!(
                    matches!(tls, wsgate::tls::rustls::Error::InvalidCertificate(_)),
                    "{tls:?}"
                );
            }
            other => panic!("unexpected {:?}", other.map(|_| ())),
        }
        assert!(seen.try_recv().is_err());
        assert!(other_seen.try_recv().is_err());
    })
}

#[test]
fn wsgate_client_presents_a_client_certificate() {
    common::run(async move {
        let pki = Pki::new();
        let acceptor = RustlsAcceptor::builder(&pki.server.cert, &pki.server.key)
            .unwrap()
            .with_client_auth(&pki.ca, true)
            .unwrap()
            .build()
            .unwrap();
        let (addr, seen) = tls_echo(acceptor).await;
        let url = format!("wss://localhost:{}/", addr.port());

        let anonymous = within(
            "connect",
            wsgate::Client::new()
                .add_root_certificate(&pki.ca)
                .unwrap()
                .connect(&url),
        )
        .await;
        assert!(
            // TLS 1.3 ends the client's handshake before the server checks
            // the certificate: the refusal comes on the first read.
            matches!(anonymous, Err(Error::Io(_) | Error::Tls { .. })),
            "{:?}",
            anonymous.map(|_| ())
        );

        let conn = within(
            "connect",
            wsgate::Client::new()
                .add_root_certificate(&pki.ca)
                .unwrap()
                .client_certificate(&pki.client.cert, &pki.client.key)
                .unwrap()
                .connect(&url),
        )
        .await
        .unwrap();
        let request = within("the request", seen.recv()).await.unwrap();
        assert_eq!(
            subject_common_name(&request.peer_certificates[0]).as_deref(),
            Some(CLIENT_NAME)
        );
        drop(conn);
    })
}

#[test]
fn configuration_errors_are_typed() {
    let pki = Pki::new();
    let other = self_signed(&["localhost"]);
    assert!(matches!(
        RustlsAcceptor::from_pem(b"not pem", &pki.server.key),
        Err(TlsConfigError::NoCertificates)
    ));
    assert!(matches!(
        RustlsAcceptor::from_pem(&pki.server.cert, &pki.server.cert),
        Err(TlsConfigError::NoPrivateKey)
    ));
    assert!(matches!(
        RustlsAcceptor::from_pem(&pki.server.cert, &other.key),
        Err(TlsConfigError::InvalidCertificateOrKey(_))
    ));
    assert!(matches!(
        RustlsAcceptor::from_pem_files("/nonexistent/cert.pem", "/nonexistent/key.pem"),
        Err(TlsConfigError::ReadFile { .. })
    ));
    assert!(matches!(
        RustlsAcceptor::builder(&pki.server.cert, &pki.server.key)
            .unwrap()
            .with_client_auth("", true),
        Err(TlsConfigError::NoCertificates)
    ));
    assert!(matches!(
        wsgate::Client::new().add_root_certificate("garbage"),
        Err(TlsConfigError::NoCertificates)
    ));
    assert!(matches!(
        wsgate::Client::new().client_certificate(&pki.client.cert, &other.key),
        Err(TlsConfigError::InvalidCertificateOrKey(_))
    ));
    // Errors say what is wrong.
    let error = RustlsAcceptor::from_pem(b"", b"").unwrap_err();
    assert_eq!(error.to_string(), "no CERTIFICATE section in the PEM data");
}

#[test]
fn wss_urls_default_to_port_443() {
    common::run(async move {
        // Nothing listens on 127.0.0.1:443 in the test environment (or it is
        // not ours): the client must try port 443, so it fails to connect or
        // to verify, and it never treats wss:// as an invalid URL.
        let mut config = Config::default();
        config.handshake_timeout = Duration::from_secs(2);
        let result = within(
            "connect",
            wsgate::Client::new()
                .config(config)
                .connect("wss://127.0.0.1/"),
        )
        .await;
        assert!(
            matches!(
                result,
                Err(Error::Connect { .. } | Error::Tls { .. } | Error::Timeout { .. })
            ),
            "{:?}",
            result.map(|_| ())
        );
    })
}

#[cfg(feature = "async-tls")]
mod async_tls_provider {
    use super::*;
    use wsgate::tls::async_tls::{TlsAcceptor, rustls as rustls021};

    /// An async-tls acceptor (rustls 0.21) for the test PKI's server.
    fn acceptor(pki: &Pki) -> TlsAcceptor {
        use wsgate::tls::rustls::pki_types::pem::PemObject;
        use wsgate::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

        let chain = CertificateDer::pem_slice_iter(pki.server.cert.as_bytes())
            .map(|c| rustls021::Certificate(c.unwrap().to_vec()))
            .collect();
        let key = PrivateKeyDer::from_pem_slice(pki.server.key.as_bytes()).unwrap();
        let config = rustls021::ServerConfig::builder()
            .with_safe_defaults()
            .with_no_client_auth()
            .with_single_cert(chain, rustls021::PrivateKey(key.secret_der().to_vec()))
            .unwrap();
        TlsAcceptor::from(config)
    }

    #[test]
    fn async_tls_wss_echo() {
        common::run(async move {
            let pki = Pki::new();
            let (addr, seen) = tls_echo(acceptor(&pki)).await;
            let ca = pki.ca.clone();
            let client = blocking(move || {
                let mut ws = wss_connect(
                    addr,
                    "localhost",
                    "/async-tls",
                    client_config(&ca, None, ALL_VERSIONS),
                )
                .unwrap();
                echo_roundtrip(&mut ws);
                close(ws);
            });
            let request = within("the request", seen.recv()).await.unwrap();
            assert!(request.secure);
            assert_eq!(
                request.url,
                format!("wss://localhost:{}/async-tls", addr.port())
            );
            client.await;

            // And our own client.
            let conn = within(
                "connect",
                wsgate::Client::new()
                    .add_root_certificate(&pki.ca)
                    .unwrap()
                    .connect(&format!("wss://localhost:{}/ours", addr.port())),
            )
            .await
            .unwrap();
            let mut events = conn.events();
            conn.send("over async-tls").await.unwrap();
            match within("the echo", events.next()).await {
                Some(Event::Message(message)) => {
                    assert_eq!(message, wsgate::Message::from("over async-tls"))
                }
                other => panic!("unexpected {other:?}"),
            }
        })
    }

    #[test]
    fn async_tls_plain_text_client_fails_alone() {
        common::run(async move {
            let pki = Pki::new();
            let failures = Failures::default();
            let (addr, seen) =
                tls_echo(ReportFailures::new(acceptor(&pki), failures.handler())).await;
            let plain = blocking(move || {
                let mut stream = tcp(addr);
                stream
                    .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                    .unwrap();
                let mut answer = Vec::new();
                let _ = stream.read_to_end(&mut answer);
                answer
            });
            assert!(!plain.await.starts_with(b"HTTP"));
            failures.wait().await;
            assert!(seen.try_recv().is_err());

            let ca = pki.ca.clone();
            blocking(move || {
                let mut ws = wss_connect(
                    addr,
                    "localhost",
                    "/",
                    client_config(&ca, None, ALL_VERSIONS),
                )
                .unwrap();
                echo_roundtrip(&mut ws);
                close(ws);
            })
            .await;
        })
    }
}
