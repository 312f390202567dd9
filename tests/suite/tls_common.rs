//! Helpers for the TLS tests: certificates made with rcgen, an echo server
//! that reports what each request looked like, an independent TLS client
//! (rustls over a std socket, with tungstenite on top), and bounded waits.

#![allow(dead_code)]

use std::future::Future;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use async_channel::{Receiver, unbounded};
use futures::StreamExt;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use tungstenite::client::IntoClientRequest;
use tungstenite::{HandshakeError, Message, WebSocket};
use wsgate::Server;
use wsgate::tls::rustls::{self, ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::common;

/// How long any single wait may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Awaits `future`, failing the test if it takes longer than [`TIMEOUT`].
pub async fn within<F: Future>(what: &str, future: F) -> F::Output {
    common::within_for(TIMEOUT, what, future).await
}

/// Runs `f` on a new OS thread; the returned future yields its result
/// within [`TIMEOUT`] (and re-raises its panic, so a failed client
/// assertion fails the test).
pub fn blocking<T, F>(f: F) -> impl Future<Output = T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let client = common::blocking(f);
    async move { within("a client thread", client).await }
}

/// A PEM certificate (chain) and its PEM private key.
#[derive(Clone)]
pub struct Identity {
    pub cert: String,
    pub key: String,
}

/// A test PKI: a CA, a server certificate for `localhost` and `127.0.0.1`,
/// and a client certificate for `alice`, all issued by the CA.
pub struct Pki {
    pub ca: String,
    pub server: Identity,
    pub client: Identity,
}

pub const CA_NAME: &str = "wsgate test CA";
pub const CLIENT_NAME: &str = "alice";

impl Pki {
    pub fn new() -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, CA_NAME);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let server = leaf(
            &ca,
            &["localhost", "127.0.0.1"],
            "localhost",
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let client = leaf(&ca, &[], CLIENT_NAME, ExtendedKeyUsagePurpose::ClientAuth);
        Pki {
            ca: ca.pem(),
            server,
            client,
        }
    }
}

/// A certificate issued by `ca`.
fn leaf(
    ca: &CertifiedIssuer<'_, KeyPair>,
    names: &[&str],
    common_name: &str,
    usage: ExtendedKeyUsagePurpose,
) -> Identity {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, ca).unwrap();
    Identity {
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

/// A self-signed certificate for `names` (its own root).
pub fn self_signed(names: &[&str]) -> Identity {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let certified = rcgen::generate_simple_self_signed(names).unwrap();
    Identity {
        cert: certified.cert.pem(),
        key: certified.signing_key.serialize_pem(),
    }
}

/// What the server saw of one request.
#[derive(Debug)]
pub struct Seen {
    pub secure: bool,
    pub url: String,
    pub peer_certificates: Vec<Vec<u8>>,
}

/// Accepts every request on `server`, reports it, and echoes every message.
pub fn serve_echo(mut server: Server) -> Receiver<Seen> {
    let (tx, rx) = unbounded();
    common::spawn(async move {
        while let Some(request) = server.next().await {
            let _ = tx
                .send(Seen {
                    secure: request.is_secure(),
                    url: request.resource_url().to_string(),
                    peer_certificates: request.peer_certificates().to_vec(),
                })
                .await;
            common::spawn(async move {
                if let Ok(conn) = request.accept(None, None).await {
                    common::echo_messages(conn).await;
                }
            });
        }
    });
    rx
}

/// A rustls client configuration trusting `ca_pem`, optionally presenting
/// a client certificate, and offering only `versions`.
pub fn client_config(
    ca_pem: &str,
    identity: Option<&Identity>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    // rustls 0.23.48 deprecates ring's provider (no post-quantum key
    // exchange); these tests use ring on purpose, as the `ring` feature does.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some(identity) => {
            let chain = CertificateDer::pem_slice_iter(identity.cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_slice(identity.key.as_bytes()).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
    };
    Arc::new(config)
}

/// TLS over a std socket, driven by rustls.
pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// A plain std socket to `addr` with read and write timeouts.
pub fn tcp(addr: SocketAddr) -> TcpStream {
    common::tcp_with_timeout(addr, TIMEOUT)
}

/// Opens a WebSocket over TLS to `addr` with tungstenite (an independent
/// client), sending `host` as SNI and in the URL.
pub fn wss_connect(
    addr: SocketAddr,
    host: &str,
    path: &str,
    config: Arc<ClientConfig>,
) -> Result<WebSocket<TlsStream>, String> {
    let name = rustls::pki_types::ServerName::try_from(host.to_owned()).unwrap();
    let conn = ClientConnection::new(config, name).unwrap();
    let stream = StreamOwned::new(conn, tcp(addr));
    let url = format!("wss://{host}:{}{path}", addr.port());
    let request = url.into_client_request().unwrap();
    match tungstenite::client(request, stream) {
        Ok((ws, _response)) => Ok(ws),
        Err(HandshakeError::Failure(e)) => Err(e.to_string()),
        Err(HandshakeError::Interrupted(_)) => Err("timed out".into()),
    }
}

/// Sends a text and a binary message and checks both come back.
pub fn echo_roundtrip<S: Read + Write>(ws: &mut WebSocket<S>) {
    ws.send(Message::text("hello over tls")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("hello over tls"));
    let blob: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    ws.send(Message::binary(blob.clone())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::binary(blob));
}

/// Closes `ws` and waits for the server's close.
pub fn close<S: Read + Write>(mut ws: WebSocket<S>) {
    ws.close(None).unwrap();
    loop {
        match ws.read() {
            Ok(_) => continue,
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("closing: {e}"),
        }
    }
}

/// The subject common name of a DER certificate, by walking just enough of
/// the DER: Certificate → TBSCertificate → subject → the CN attribute.
pub fn subject_common_name(cert: &[u8]) -> Option<String> {
    let (_, cert, _) = tlv(cert)?;
    let (_, tbs, _) = tlv(cert)?;
    let mut fields = tbs;
    // An explicit version ([0]) comes first when present.
    let (tag, _, rest) = tlv(fields)?;
    if tag == 0xa0 {
        fields = rest;
    }
    // serialNumber, signature, issuer, validity; then subject.
    for _ in 0..4 {
        fields = tlv(fields)?.2;
    }
    let (_, mut rdns, _) = tlv(fields)?;
    while !rdns.is_empty() {
        let (_, mut set, rest) = tlv(rdns)?;
        rdns = rest;
        while !set.is_empty() {
            let (_, attribute, rest) = tlv(set)?;
            set = rest;
            let (_, oid, value) = tlv(attribute)?;
            // id-at-commonName, 2.5.4.3.
            if oid == [0x55, 0x04, 0x03] {
                let (_, name, _) = tlv(value)?;
                return String::from_utf8(name.to_vec()).ok();
            }
        }
    }
    None
}

/// One DER tag-length-value: (tag, contents, what follows).
fn tlv(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| acc << 8 | b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}
