//! Forwarding a WebSocket connection to a TCP backend chosen per request
//! (IPWorks' `ForwardHost`/`ForwardPort`, websockify's relay): the
//! options ([`Forward`]), the decision ([`WebSocketRequest::forward`]), and
//! the relay itself (`relay.rs`).

mod relay;
mod report;

use std::fmt;
use std::time::Duration;

use http_types::StatusCode;

use super::home::ServerHooks;

pub use self::report::{ForwardEnd, ForwardError, ForwardReport};
use super::request::WebSocketRequest;
use crate::transport::{BoxTransport, Transport};

/// Where and how to forward a request: the backend (an address, or a
/// stream the application opened) and the relay's settings. Settings left
/// unset take the server's [`Config`](crate::Config) values
/// (`forward_connect_timeout`, `forward_read_size`,
/// `forward_idle_timeout`).
///
/// The client's binary messages are written to the backend as they are;
/// what the backend sends comes back as binary messages of at most the read
/// size. A text message closes the connection with 1003 unless
/// [`forward_text`](Self::forward_text) is on. The subprotocol `binary`
/// is chosen when the client offers it (websockify's convention), unless
/// [`protocol`](Self::protocol) says otherwise.
///
/// # Examples
///
/// A TCP echo backend, a server forwarding every request to it, and a
/// client whose message comes back through both:
///
/// ```
/// use std::io::{Read, Write};
/// use futures::StreamExt;
/// use wsgate::{Event, Forward, ForwardEnd, Message, Server};
///
/// # wsgate::runtime::block_on(async {
/// let backend = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let to = backend.local_addr()?.to_string();
/// std::thread::spawn(move || {
///     let (mut socket, _) = backend.accept().unwrap();
///     let mut buf = [0; 64];
///     let n = socket.read(&mut buf).unwrap();
///     socket.write_all(&buf[..n]).unwrap();
/// }); // then the backend closes its end
///
/// let mut server = Server::bind("127.0.0.1:0").await?;
/// let addr = server.local_addr();
/// let forwarding = wsgate::runtime::spawn(async move {
///     let request = server.next().await.unwrap();
///     request.forward(Forward::to(to)).await
/// });
///
/// let conn = wsgate::connect(&format!("ws://{addr}/")).await?;
/// conn.send_binary(b"hello".to_vec()).await?;
/// let mut events = conn.events();
/// let Some(Event::Message(Message::Binary(echo))) = events.next().await else { panic!() };
/// assert_eq!(echo, b"hello");
///
/// let report = forwarding.await?;
/// assert_eq!(report.end, ForwardEnd::BackendClosed);
/// assert_eq!((report.to_backend, report.to_client), (5, 5));
/// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
/// ```
pub struct Forward {
    target: Target,
    connect_timeout: Option<Duration>,
    read_size: Option<usize>,
    idle_timeout: Option<Option<Duration>>,
    forward_text: bool,
    protocol: Option<Option<String>>,
}

enum Target {
    Address(String),
    Stream(BoxTransport),
}

impl Forward {
    /// Forwards to the TCP address `host:port` (a name, an IPv4 address, or
    /// an IPv6 address in brackets), connected before the client is
    /// answered.
    ///
    /// # Examples
    ///
    /// ```
    /// let forward = wsgate::Forward::to("127.0.0.1:6379");
    /// assert_eq!(format!("{forward:?}"), r#"Forward { to: "127.0.0.1:6379", .. }"#);
    /// ```
    pub fn to(address: impl Into<String>) -> Forward {
        Forward::new(Target::Address(address.into()))
    }

    /// Forwards to a stream the application opened: a Unix socket, a TLS
    /// connection, an in-memory pipe.
    ///
    /// # Examples
    ///
    /// ```
    /// # wsgate::runtime::block_on(async {
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let stream = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// let forward = wsgate::Forward::stream(wsgate::TcpTransport::new(stream)?);
    /// assert_eq!(format!("{forward:?}"), r#"Forward { to: "a stream", .. }"#);
    /// # Ok::<(), std::io::Error>(()) }).unwrap();
    /// ```
    pub fn stream(stream: impl Transport) -> Forward {
        Forward::new(Target::Stream(Box::new(stream)))
    }

    fn new(target: Target) -> Forward {
        Forward {
            target,
            connect_timeout: None,
            read_size: None,
            idle_timeout: None,
            forward_text: false,
            protocol: None,
        }
    }

    /// How long the connect to the backend may take; past it the client
    /// gets 504. Default [`Config::forward_connect_timeout`](crate::Config::forward_connect_timeout).
    ///
    /// The connect happens while the request waits for its decision, so
    /// it also counts against
    /// [`Config::decision_timeout`](crate::Config::decision_timeout)
    /// (30 s by default), with whatever the application did before
    /// calling `forward`: past that deadline the client gets 503 and
    /// `forward` returns
    /// [`ForwardError::Accept`]`(`[`AcceptError::DecisionTimeout`](crate::AcceptError::DecisionTimeout)`)`.
    ///
    /// # Examples
    ///
    /// ```
    /// let forward = wsgate::Forward::to("db:5432").connect_timeout(std::time::Duration::from_secs(2));
    /// # let _ = forward;
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Forward {
        self.connect_timeout = Some(timeout);
        self
    }

    /// The most the backend is read at once: the largest binary message the
    /// client gets. Default [`Config::forward_read_size`](crate::Config::forward_read_size).
    ///
    /// # Examples
    ///
    /// ```
    /// let forward = wsgate::Forward::to("127.0.0.1:5900").read_size(16 << 10);
    /// # let _ = forward;
    /// ```
    pub fn read_size(mut self, bytes: usize) -> Forward {
        self.read_size = Some(bytes.max(1));
        self
    }

    /// Closes the connection with 1001 and the backend's socket when
    /// nothing went either way for `timeout`; `None` for never. Default
    /// [`Config::forward_idle_timeout`](crate::Config::forward_idle_timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let forward = wsgate::Forward::to("127.0.0.1:5900").idle_timeout(Some(Duration::from_secs(300)));
    /// # let _ = forward;
    /// ```
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Forward {
        self.idle_timeout = Some(timeout);
        self
    }

    /// Whether a text message's UTF-8 bytes go to the backend too. Off by
    /// default: a text message closes the connection with 1003 (unsupported
    /// data), since a byte-stream backend has no use for text frames.
    ///
    /// # Examples
    ///
    /// ```
    /// let forward = wsgate::Forward::to("127.0.0.1:6379").forward_text(true);
    /// # let _ = forward;
    /// ```
    pub fn forward_text(mut self, on: bool) -> Forward {
        self.forward_text = on;
        self
    }

    /// The subprotocol to accept with (one the client offered, else the
    /// client gets 500), or `None` for none. By default `binary` when the
    /// client offers it, else none.
    ///
    /// The subprotocol is only a name to agree on: the relay is binary
    /// whatever it is. websockify's older `base64` protocol (text frames
    /// carrying base64) is not implemented.
    ///
    /// # Examples
    ///
    /// ```
    /// let forward = wsgate::Forward::to("127.0.0.1:5900").protocol(Some("rfb"));
    /// # let _ = forward;
    /// ```
    pub fn protocol(mut self, protocol: Option<&str>) -> Forward {
        self.protocol = Some(protocol.map(str::to_owned));
        self
    }
}

impl fmt::Debug for Forward {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let to = match &self.target {
            Target::Address(address) => address.as_str(),
            Target::Stream(_) => "a stream",
        };
        f.debug_struct("Forward")
            .field("to", &to)
            .finish_non_exhaustive()
    }
}

impl WebSocketRequest {
    /// Forwards this connection to a backend ([`Forward`]): connects to
    /// it first, then accepts the request and relays until one end
    /// finishes. Returns when the WebSocket connection has closed, with the
    /// bytes each way and what ended it (also logged, and counted in the
    /// server's [`metrics`](crate::ServerHandle::metrics)).
    ///
    /// Dropping the future (cancelling the task that awaits it) ends the
    /// forward at once: the backend's socket is closed, and so is the
    /// connection once its last handle is gone.
    ///
    /// The client is answered only after the backend connected: a backend
    /// that refuses gets the client 502 Bad Gateway, one that does not
    /// answer within the connect timeout 504 Gateway Timeout, each with
    /// the reason in `X-WebSocket-Reject-Reason`; never a 101 followed by a
    /// close.
    ///
    /// Memory stays bounded both ways without a buffer of its own: a
    /// backend that does not read stops the reading of the client's
    /// socket, and a client that does not read stops the reading of the
    /// backend's, at the connection's send-queue high-water mark.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use futures::StreamExt;
    /// use wsgate::{Forward, Server};
    ///
    /// # wsgate::runtime::block_on(async {
    /// let mut server = Server::bind("127.0.0.1:8080").await?;
    /// while let Some(request) = server.next().await {
    ///     let to = match request.resource_url().path() {
    ///         "/redis" => "127.0.0.1:6379",
    ///         "/vnc" => "127.0.0.1:5900",
    ///         _ => { request.reject(wsgate::http_types::StatusCode::NotFound, "no such backend"); continue }
    ///     };
    ///     wsgate::runtime::spawn(async move {
    ///         match request.forward(Forward::to(to)).await {
    ///             Ok(report) => println!("{report}"),
    ///             Err(e) => println!("not forwarded: {e}"),
    ///         }
    ///     });
    /// }
    /// # Ok::<(), std::io::Error>(()) });
    /// ```
    pub async fn forward(self, forward: Forward) -> Result<ForwardReport, ForwardError> {
        let home = self.home();
        let config = home.config.clone();
        let runtime = home.runtime.clone();
        let server = home.server.clone();
        let (backend, to): (BoxTransport, String) = match forward.target {
            Target::Stream(stream) => (stream, "a stream".to_owned()),
            Target::Address(address) => {
                let Some((host, port)) = split_address(&address) else {
                    self.reject(StatusCode::InternalServerError, "invalid backend address");
                    return Err(ForwardError::InvalidAddress(address));
                };
                let timeout = forward
                    .connect_timeout
                    .unwrap_or(config.forward_connect_timeout);
                let connect = crate::transport::connect(host, port, &runtime);
                let connected = runtime.timeout(timeout, connect).await;
                if let Some(error) = self.undecidable() {
                    // The client left, or the decision deadline passed and
                    // it got 503: nothing is left to answer.
                    return Err(ForwardError::Accept(error));
                }
                match connected {
                    Some(Ok(stream)) => {
                        let _ = stream.get_ref().set_nodelay(true);
                        (Box::new(stream), address)
                    }
                    Some(Err(error)) => {
                        let reason = format!("backend unavailable: {}", error.kind());
                        self.reject(StatusCode::BadGateway, &reason);
                        return Err(ForwardError::Connect { address, error });
                    }
                    None => {
                        self.reject(StatusCode::GatewayTimeout, "backend did not answer in time");
                        return Err(ForwardError::ConnectTimeout { address, timeout });
                    }
                }
            }
        };
        let protocol = match forward.protocol {
            Some(chosen) => chosen,
            None => self
                .protocols()
                .iter()
                .any(|p| p == "binary")
                .then(|| "binary".to_owned()),
        };
        let conn = self
            .accept(protocol.as_deref(), None)
            .await
            .map_err(ForwardError::Accept)?;
        let id = conn.id();
        log::info!("{id} forwarding to {to}");
        // Counted as running until the relay ends, or its future is dropped.
        let _running = Running::start(server.clone());
        let settings = relay::Settings {
            read_size: forward.read_size.unwrap_or(config.forward_read_size).max(1),
            forward_text: forward.forward_text,
            idle_timeout: forward.idle_timeout.unwrap_or(config.forward_idle_timeout),
        };
        let report = relay::relay(conn, backend, settings, &runtime).await;
        if let Some(server) = &server {
            server.forward_bytes(report.to_backend, report.to_client);
        }
        log::info!("{id} forward to {to} ended: {report}");
        Ok(report)
    }
}

/// A forward counted as running in its server's metrics while this lives.
struct Running(Option<std::sync::Arc<dyn ServerHooks>>);

impl Running {
    fn start(server: Option<std::sync::Arc<dyn ServerHooks>>) -> Running {
        if let Some(server) = &server {
            server.forward_started();
        }
        Running(server)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(server) = &self.0 {
            server.forward_ended();
        }
    }
}

/// `host:port` split in two; an IPv6 host must be in brackets.
fn split_address(address: &str) -> Option<(&str, u16)> {
    let (host, port) = address.rsplit_once(':')?;
    let port = port.parse().ok()?;
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let valid = !bare.is_empty() && (host.starts_with('[') || !host.contains(':'));
    valid.then_some((host, port))
}

#[cfg(test)]
mod tests {
    use super::split_address;

    #[test]
    fn addresses_split_into_host_and_port() {
        assert_eq!(split_address("127.0.0.1:6379"), Some(("127.0.0.1", 6379)));
        assert_eq!(split_address("redis:6379"), Some(("redis", 6379)));
        assert_eq!(split_address("[::1]:80"), Some(("[::1]", 80)));
        for bad in [
            "",
            "redis",
            ":80",
            "redis:",
            "redis:99999",
            "::1:80",
            "[]:80",
            "a:b",
        ] {
            assert_eq!(split_address(bad), None, "{bad}");
        }
    }
}
