//! A WebSocket client, giving the same [`Connection`] type as the server.

use std::sync::Arc;

use async_std::net::TcpStream;
use futures::io::{AsyncReadExt, AsyncWriteExt};
use http_types::Url;

use crate::config::Config;
use crate::connection::{Connection, ConnectionId, ConnectionInfo};
use crate::error::Error;
use crate::handshake::{self, HandshakeError, Limits};
use crate::protocol::Role;
use crate::time::timeout;
use crate::transport::BoxTransport;

/// Connects to a `ws://` URL with default settings.
///
/// # Examples
///
/// ```no_run
/// # async_std::task::block_on(async {
/// let conn = wsgate::connect("ws://127.0.0.1:9001/chat").await?;
/// conn.send("hello").await?;
/// # Ok::<(), wsgate::Error>(()) });
/// ```
pub async fn connect(url: &str) -> Result<Connection, Error> {
    Client::new().connect(url).await
}

/// Options for a client connection: subprotocols, origin, extra headers and
/// [`Config`].
///
/// # Examples
///
/// ```no_run
/// use wsgate::Client;
///
/// # async_std::task::block_on(async {
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

    /// Opens a TCP connection to `url` (`ws://host[:port]/path?query`) and
    /// performs the opening handshake within
    /// [`Config::handshake_timeout`].
    ///
    /// A server's rejection is [`Error::Handshake`] with
    /// [`HandshakeError::Rejected`], carrying the status and the
    /// `X-WebSocket-Reject-Reason`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async_std::task::block_on(async {
    /// match wsgate::Client::new().connect("ws://127.0.0.1:9001/").await {
    ///     Ok(conn) => println!("connected: {}", conn.id()),
    ///     Err(wsgate::Error::Handshake(e)) => println!("refused: {e}"),
    ///     Err(e) => println!("failed: {e}"),
    /// }
    /// # });
    /// ```
    pub async fn connect(self, url: &str) -> Result<Connection, Error> {
        let url = Url::parse(url).map_err(|_| Error::InvalidUrl)?;
        if url.scheme() != "ws" {
            return Err(Error::InvalidUrl);
        }
        let host = url.host_str().ok_or(Error::InvalidUrl)?.to_owned();
        let port = url.port().unwrap_or(80);
        let limit = self.config.handshake_timeout;
        let stream = match timeout(limit, TcpStream::connect((host.as_str(), port))).await {
            Some(stream) => stream?,
            None => return Err(Error::Timeout),
        };
        stream.set_nodelay(true)?;
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
        let mut io: BoxTransport = Box::new(stream);
        let handshake = self.handshake(&mut io, &host_header, &resource);
        let (accepted, pipelined) = match timeout(limit, handshake).await {
            Some(result) => result?,
            None => return Err(Error::Timeout),
        };
        let info = ConnectionInfo {
            protocol: accepted.protocol,
            extensions: accepted.extensions,
            remote_addr,
            local_addr,
            host: host_header,
            origin: self.origin,
            resource,
            headers: accepted.headers,
        };
        Ok(Connection::start(
            io,
            Role::Client,
            Arc::new(self.config),
            ConnectionId::next(),
            info,
            pipelined,
        ))
    }

    /// Sends the opening request and reads and checks the response.
    async fn handshake(
        &self,
        io: &mut BoxTransport,
        host: &str,
        resource: &str,
    ) -> Result<(handshake::AcceptedResponse, Vec<u8>), Error> {
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).map_err(|_| std::io::Error::other("no OS entropy"))?;
        let key = handshake::generate_key(nonce);
        let request = handshake::client_request(
            host,
            resource,
            &key,
            &self.protocols,
            None,
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
                if !accepted.extensions.is_empty() {
                    // We offered none (RFC 6455 §4.1: fail the connection).
                    return Err(HandshakeError::Malformed.into());
                }
                return Ok((accepted, buf.split_off(used)));
            }
            if buf.len() > limits.max_size {
                return Err(HandshakeError::HeadTooLarge.into());
            }
        }
    }
}

/// The URL's host as it goes in a `Host` header (IPv6 in brackets).
fn url_host(url: &Url) -> String {
    match url.host() {
        Some(http_types::url::Host::Ipv6(ip)) => format!("[{ip}]"),
        Some(host) => host.to_string(),
        None => String::new(),
    }
}
