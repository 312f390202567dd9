//! A WebSocket client, giving the same [`Connection`] type as the server.

use std::sync::Arc;

use futures::io::{AsyncReadExt, AsyncWriteExt};
use http_types::Url;
use http_types::url::Host;

use crate::config::Config;
use crate::connection::{Connection, ConnectionId, ConnectionInfo, Handshaken};
use crate::deflate::Negotiated;
use crate::error::Error;
use crate::handshake::{self, HandshakeError, Limits};
use crate::protocol::Role;
use crate::runtime::Runtime;
use crate::transport::{BoxTransport, TcpTransport};

/// Connects to a `ws://` or `wss://` URL with default settings.
///
/// For `wss://` (feature `rustls`, on by default) the server's certificate
/// must chain to a root the operating system trusts (feature
/// `native-roots`); for a self-signed test server use
/// [`Client::add_root_certificate`].
///
/// # Examples
///
/// ```no_run
/// # wsgate::runtime::block_on(async {
/// let conn = wsgate::connect("ws://127.0.0.1:9001/chat").await?;
/// conn.send("hello").await?;
/// let secure = wsgate::connect("wss://example.com/chat").await?;
/// # Ok::<(), wsgate::Error>(()) });
/// ```
pub async fn connect(url: &str) -> Result<Connection, Error> {
    Client::new().connect(url).await
}

/// Options for a client connection: subprotocols, origin, extra headers,
/// [`Config`] and, for `wss://`, TLS settings.
///
/// # Examples
///
/// ```no_run
/// use wsgate::Client;
///
/// # wsgate::runtime::block_on(async {
/// let conn = Client::new()
///     .protocol("chat")
///     .origin("http://localhost:8080")
///     .header("Cookie", "session=abc")
///     .connect("ws://127.0.0.1:8080/chat?nick=ann")
///     .await?;
/// assert_eq!(conn.protocol(), Some("chat"));
/// # Ok::<(), wsgate::Error>(()) });
/// ```
#[derive(Debug, Clone, Default)]
pub struct Client {
    protocols: Vec<String>,
    origin: Option<String>,
    headers: Vec<(String, String)>,
    config: Config,
    #[cfg(feature = "rustls")]
    tls: crate::tls::client::ClientTls,
    /// The permessage-deflate offer, if any.
    #[cfg(feature = "deflate")]
    deflate: Option<crate::handshake::DeflateConfig>,
    /// Where the connection runs; `Runtime::current()` at `connect` if unset.
    runtime: Option<Runtime>,
}

impl Client {
    /// A client with default settings, offering no subprotocol.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = wsgate::Client::new();
    /// ```
    pub fn new() -> Client {
        Client::default()
    }

    /// Offers a subprotocol (call again to offer several, in order of
    /// preference).
    ///
    /// # Examples
    ///
    /// ```
    /// let client = wsgate::Client::new().protocol("v2.chat").protocol("chat");
    /// ```
    pub fn protocol(mut self, protocol: &str) -> Client {
        self.protocols.push(protocol.to_owned());
        self
    }

    /// Sends an `Origin` header.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = wsgate::Client::new().origin("https://example.com");
    /// ```
    pub fn origin(mut self, origin: &str) -> Client {
        self.origin = Some(origin.to_owned());
        self
    }

    /// Adds a header to the opening handshake. Headers the handshake sets
    /// itself are ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = wsgate::Client::new().header("Authorization", "Bearer t0k3n");
    /// ```
    pub fn header(mut self, name: &str, value: &str) -> Client {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Uses `config` for limits and timeouts.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut config = wsgate::Config::default();
    /// config.max_message_size = 64 << 20;
    /// let client = wsgate::Client::new().config(config);
    /// ```
    pub fn config(mut self, config: Config) -> Client {
        self.config = config;
        self
    }

    /// Runs the connection on `runtime` (its socket, timers and writer
    /// task); without this, [`Runtime::current`] when `connect` is called.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::runtime::Runtime;
    ///
    /// let client = wsgate::Client::new().runtime(Runtime::current());
    /// ```
    pub fn runtime(mut self, runtime: Runtime) -> Client {
        self.runtime = Some(runtime);
        self
    }

    /// Offers permessage-deflate (RFC 7692, feature `deflate`) with these
    /// preferences: what to ask of the server (`server_no_context_takeover`,
    /// `server_max_window_bits`), what to promise
    /// (`client_no_context_takeover`, `client_max_window_bits`), and the
    /// [`threshold`](crate::handshake::DeflateConfig::threshold) and
    /// [`level`](crate::handshake::DeflateConfig::level) to compress with.
    ///
    /// Off by default: a client connection's own compressor and
    /// decompressor cost about 420 KiB, too much to spend unasked in a
    /// program that opens many connections (a load generator). The
    /// server's answer is checked ([`accept_deflate_response`]); one that
    /// contradicts the offer fails the connection with
    /// [`HandshakeError::InvalidDeflateResponse`]. A server that declines
    /// leaves the connection uncompressed; [`Connection::deflate`] tells.
    /// [`Config::deflate`] is not used by clients. A `config` with
    /// `enabled` off offers nothing.
    ///
    /// [`accept_deflate_response`]: crate::handshake::accept_deflate_response
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use wsgate::handshake::DeflateConfig;
    ///
    /// # wsgate::runtime::block_on(async {
    /// let conn = wsgate::Client::new()
    ///     .deflate(DeflateConfig::default())
    ///     .connect("ws://127.0.0.1:9001/")
    ///     .await?;
    /// println!("deflate: {:?}", conn.deflate());
    /// # Ok::<(), wsgate::Error>(()) });
    /// ```
    #[cfg(feature = "deflate")]
    pub fn deflate(mut self, config: crate::handshake::DeflateConfig) -> Client {
        self.deflate = Some(config);
        self
    }

    /// Trusts the root certificates in `pem` (one or more `CERTIFICATE`
    /// sections) for `wss://` servers, in addition to the operating
    /// system's roots: for self-signed or private-CA servers, such as test
    /// servers. A self-signed server certificate can be its own root.
    ///
    /// # Errors
    ///
    /// [`TlsConfigError`](crate::tls::TlsConfigError) if `pem` holds no
    /// certificate, is malformed, or holds a certificate that cannot be a
    /// root; the client's roots are then unchanged.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # wsgate::runtime::block_on(async {
    /// let ca = std::fs::read("test-ca.pem")?;
    /// let conn = wsgate::Client::new()
    ///     .add_root_certificate(&ca)?
    ///     .connect("wss://localhost:8443/")
    ///     .await?;
    /// # Ok::<(), Box<dyn std::error::Error>>(()) });
    /// ```
    #[cfg(feature = "rustls")]
    pub fn add_root_certificate(
        mut self,
        pem: impl AsRef<[u8]>,
    ) -> Result<Client, crate::tls::TlsConfigError> {
        self.tls.add_roots(pem.as_ref())?;
        Ok(self)
    }

    /// Presents this certificate chain (PEM, leaf first) and private key
    /// (PEM: PKCS#8, PKCS#1 or SEC1) to `wss://` servers that ask for a
    /// client certificate.
    ///
    /// # Errors
    ///
    /// [`TlsConfigError`](crate::tls::TlsConfigError) if either PEM text is
    /// unusable, or the key does not belong to the certificate.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # wsgate::runtime::block_on(async {
    /// let cert = std::fs::read("alice.pem")?;
    /// let key = std::fs::read("alice.key")?;
    /// let conn = wsgate::Client::new()
    ///     .client_certificate(&cert, &key)?
    ///     .connect("wss://example.com/")
    ///     .await?;
    /// # Ok::<(), Box<dyn std::error::Error>>(()) });
    /// ```
    #[cfg(feature = "rustls")]
    pub fn client_certificate(
        mut self,
        cert_pem: impl AsRef<[u8]>,
        key_pem: impl AsRef<[u8]>,
    ) -> Result<Client, crate::tls::TlsConfigError> {
        self.tls.set_identity(cert_pem.as_ref(), key_pem.as_ref())?;
        Ok(self)
    }

    /// Uses `config` as it is for `wss://` (roots, client certificate,
    /// versions, provider), instead of the settings above.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use wsgate::tls::rustls;
    ///
    /// # fn f(roots: rustls::RootCertStore) {
    /// let config = rustls::ClientConfig::builder()
    ///     .with_root_certificates(roots)
    ///     .with_no_client_auth();
    /// let client = wsgate::Client::new().tls_config(Arc::new(config));
    /// # }
    /// ```
    #[cfg(feature = "rustls")]
    pub fn tls_config(mut self, config: Arc<crate::tls::rustls::ClientConfig>) -> Client {
        self.tls.set_config(config);
        self
    }

    /// Opens a TCP connection to `url` (`ws://host[:port]/path?query`, or
    /// `wss://` for TLS, default port 443), runs the TLS handshake for
    /// `wss://` (the host is sent as SNI and checked against the server's
    /// certificate), and performs the opening handshake, each step within
    /// [`Config::handshake_timeout`].
    ///
    /// A `wss://` URL without the `rustls` feature, or a URL with a
    /// fragment (`#…`, which RFC 6455 §3 does not allow), is
    /// [`Error::InvalidUrl`], which carries the URL (password hidden) and
    /// the reason. A failed TCP connect is [`Error::Connect`] and a TLS
    /// failure (untrusted certificate, wrong name, a server requiring a
    /// client certificate) [`Error::Tls`], both naming the server's
    /// `host:port`, their source the I/O error (wrapping a `rustls::Error`
    /// when TLS itself failed). A step that takes too long is
    /// [`Error::Timeout`], naming the step, the address and the limit.
    ///
    /// A server's rejection is [`Error::Handshake`] with
    /// [`HandshakeError::Rejected`], carrying the status, the
    /// `X-WebSocket-Reject-Reason` and the response's headers (to follow a
    /// redirect or answer an authentication challenge). An extension the
    /// server accepts without our offer is
    /// [`HandshakeError::UnexpectedExtension`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # wsgate::runtime::block_on(async {
    /// match wsgate::Client::new().connect("ws://127.0.0.1:9001/").await {
    ///     Ok(conn) => println!("connected: {}", conn.id()),
    ///     Err(wsgate::Error::Handshake(e)) => println!("refused: {e}"),
    ///     Err(e) => println!("failed: {}", wsgate::ErrorChain(&e)),
    /// }
    /// # });
    /// ```
    ///
    /// The errors name what failed:
    ///
    /// ```
    /// # wsgate::runtime::block_on(async {
    /// let e = wsgate::Client::new().connect("http://example.com/").await.unwrap_err();
    /// assert_eq!(
    ///     e.to_string(),
    ///     "invalid WebSocket URL \"http://example.com/\": the scheme is not ws or wss"
    /// );
    ///
    /// // A port nothing listens on.
    /// let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    /// let e = wsgate::Client::new()
    ///     .connect(&format!("ws://127.0.0.1:{port}/"))
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(e.to_string(), format!("cannot connect to 127.0.0.1:{port}"));
    /// assert!(matches!(e, wsgate::Error::Connect { .. }));
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn connect(self, url: &str) -> Result<Connection, Error> {
        let runtime = self.runtime.clone().unwrap_or_else(Runtime::current);
        let given = url;
        let url = Url::parse(given).map_err(|e| invalid_url(given, e.to_string()))?;
        // RFC 6455 §3: a WebSocket URI has no fragment; dropping it silently
        // would also drop anything meant after the `#`.
        if url.fragment().is_some() {
            return Err(invalid_url(given, "a WebSocket URL has no fragment"));
        }
        let (secure, default_port) = match url.scheme() {
            "ws" => (false, 80),
            "wss" if cfg!(feature = "rustls") => (true, 443),
            "wss" => return Err(invalid_url(given, "wss:// needs the `rustls` feature")),
            _ => return Err(invalid_url(given, "the scheme is not ws or wss")),
        };
        let host = url
            .host()
            .ok_or_else(|| invalid_url(given, "no host"))?
            .to_owned();
        let port = url.port().unwrap_or(default_port);
        let address = format!("{host}:{port}");
        let limit = self.config.handshake_timeout;
        let timeout = |step| Error::Timeout {
            step,
            address: address.clone(),
            limit,
        };
        let stream = match runtime
            .timeout(
                limit,
                crate::transport::connect(&host.to_string(), port, &runtime),
            )
            .await
        {
            Some(stream) => stream.map_err(|source| Error::Connect {
                address: address.clone(),
                source,
            })?,
            None => return Err(timeout("TCP connect")),
        };
        stream.get_ref().set_nodelay(true)?;
        let remote_addr = stream.peer_addr()?;
        let local_addr = stream.local_addr()?;
        let host_header = match url.port() {
            Some(port) => format!("{}:{port}", url_host(&url)),
            None => url_host(&url),
        };
        let mut resource = url.path().to_owned();
        if let Some(query) = url.query() {
            resource.push('?');
            resource.push_str(query);
        }
        let io: BoxTransport = if secure {
            match runtime
                .timeout(limit, self.tls_connect(&host, stream))
                .await
            {
                Some(io) => io.map_err(|e| match e {
                    Error::Io(source) => Error::Tls {
                        address: address.clone(),
                        source,
                    },
                    other => other,
                })?,
                None => return Err(timeout("TLS handshake")),
            }
        } else {
            Box::new(stream)
        };
        let target = Target {
            host: host_header,
            resource,
            remote_addr,
            local_addr,
        };
        self.connect_over(io, target, runtime).await
    }

    /// Runs the opening handshake over `io`, already connected to the
    /// server (and through TLS if need be), under
    /// [`Config::handshake_timeout`] on `runtime`'s clock, and starts the
    /// connection: the one way every client connection, over TCP or in
    /// memory, opens.
    pub(crate) async fn connect_over(
        self,
        mut io: BoxTransport,
        target: Target,
        runtime: Runtime,
    ) -> Result<Connection, Error> {
        let limit = self.config.handshake_timeout;
        let handshake = self.handshake(&mut io, &target.host, &target.resource);
        let (accepted, deflate, pipelined) = match runtime.timeout(limit, handshake).await {
            Some(result) => result?,
            None => {
                return Err(Error::Timeout {
                    step: "opening handshake",
                    address: target.remote_addr.to_string(),
                    limit,
                });
            }
        };
        let info = ConnectionInfo::new(Handshaken {
            protocol: accepted.protocol.as_deref(),
            extensions: accepted.extensions,
            remote_addr: target.remote_addr,
            local_addr: target.local_addr,
            host: &target.host,
            origin: self.origin.as_deref(),
            resource: &target.resource,
            headers: &accepted.headers,
        });
        Ok(Connection::start(
            io,
            Role::Client,
            Arc::new(self.config),
            ConnectionId::next(),
            info,
            pipelined,
            None,
            deflate,
            runtime,
            Box::new(()),
        ))
    }

    /// Runs the client side of the TLS handshake.
    #[cfg(feature = "rustls")]
    async fn tls_connect(&self, host: &Host, stream: TcpTransport) -> Result<BoxTransport, Error> {
        self.tls.connect(host, stream).await
    }

    /// No TLS without the `rustls` feature (`connect` refuses `wss://`
    /// before it gets here).
    #[cfg(not(feature = "rustls"))]
    async fn tls_connect(
        &self,
        _host: &Host,
        _stream: TcpTransport,
    ) -> Result<BoxTransport, Error> {
        Err(Error::Io(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "TLS needs the `rustls` feature",
        )))
    }

    /// Sends the opening request and reads and checks the response.
    async fn handshake(
        &self,
        io: &mut BoxTransport,
        host: &str,
        resource: &str,
    ) -> Result<(handshake::AcceptedResponse, Option<Negotiated>, Vec<u8>), Error> {
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).map_err(|_| std::io::Error::other("no OS entropy"))?;
        let key = handshake::generate_key(nonce);
        let request = handshake::client_request(
            host,
            resource,
            &key,
            &self.protocols,
            self.deflate_offer().as_deref(),
            self.origin.as_deref(),
            &self.headers,
        );
        io.write_all(&request).await?;
        io.flush().await?;
        let limits = Limits {
            max_size: self.config.max_handshake_size,
            max_headers: self.config.max_handshake_headers,
        };
        let mut buf = Vec::with_capacity(1024);
        let mut scratch = [0u8; 2048];
        loop {
            let n = io.read(&mut scratch).await?;
            if n == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
            }
            let scanned = buf.len();
            buf.extend_from_slice(&scratch[..n]);
            if let Some(end) = handshake::find_head_end(&buf, scanned) {
                let (raw, used) = handshake::parse_response(&buf[..end], &limits)?
                    .ok_or(HandshakeError::Malformed)?;
                let accepted = handshake::validate_response(&raw, &key, &self.protocols)?;
                let deflate = self.accept_extensions(&accepted.extensions)?;
                return Ok((accepted, deflate, buf.split_off(used)));
            }
            if buf.len() > limits.max_size {
                return Err(HandshakeError::HeadTooLarge.into());
            }
        }
    }
}

impl Client {
    /// The `Sec-WebSocket-Extensions` value to send, if any.
    #[cfg(feature = "deflate")]
    fn deflate_offer(&self) -> Option<String> {
        self.deflate
            .as_ref()
            .and_then(handshake::client_deflate_offer)
    }

    #[cfg(not(feature = "deflate"))]
    fn deflate_offer(&self) -> Option<String> {
        None
    }

    /// Checks the extensions the server accepted against our offer
    /// (RFC 6455 §4.1: anything not offered fails the connection).
    #[cfg(feature = "deflate")]
    fn accept_extensions(
        &self,
        extensions: &[handshake::ExtensionOffer],
    ) -> Result<Option<Negotiated>, Error> {
        let Some(config) = self.deflate.as_ref().filter(|c| c.enabled) else {
            return no_extensions(extensions);
        };
        match handshake::accept_deflate_response(extensions, config) {
            Ok(None) => Ok(None),
            Ok(Some(params)) => Negotiated::client(params, config)
                .map(Some)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e).into()),
            Err(e) => Err(HandshakeError::InvalidDeflateResponse(e).into()),
        }
    }

    #[cfg(not(feature = "deflate"))]
    fn accept_extensions(
        &self,
        extensions: &[handshake::ExtensionOffer],
    ) -> Result<Option<Negotiated>, Error> {
        no_extensions(extensions)
    }
}

/// Where a client connection goes: its `Host` header and request target,
/// and the addresses of its two ends.
pub(crate) struct Target {
    pub(crate) host: String,
    pub(crate) resource: String,
    pub(crate) remote_addr: std::net::SocketAddr,
    pub(crate) local_addr: std::net::SocketAddr,
}

/// The server must not accept an extension we did not offer.
fn no_extensions(extensions: &[handshake::ExtensionOffer]) -> Result<Option<Negotiated>, Error> {
    match extensions.first() {
        None => Ok(None),
        Some(extension) => Err(HandshakeError::UnexpectedExtension(extension.name.clone()).into()),
    }
}

/// [`Error::InvalidUrl`] for the URL `given` (any password hidden, cut to a
/// bounded length) and why it cannot be used.
fn invalid_url(given: &str, reason: impl Into<String>) -> Error {
    let shown = crate::error::without_password(given).unwrap_or_else(|| given.to_owned());
    Error::InvalidUrl {
        url: crate::error::bounded(&shown),
        reason: reason.into(),
    }
}

/// Connects to `host` (a name to resolve, or an IP address literal) on
/// `port`: a name is resolved on the runtime's blocking pool, and its
/// addresses are tried in turn.
/// The URL's host as it goes in a `Host` header (IPv6 in brackets).
fn url_host(url: &Url) -> String {
    match url.host() {
        Some(http_types::url::Host::Ipv6(ip)) => format!("[{ip}]"),
        Some(host) => host.to_string(),
        None => String::new(),
    }
}
