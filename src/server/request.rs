//! The opening handshake as a value the application decides on.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::channel::oneshot;
use http_types::{StatusCode, Url};

use super::decision::{Decision, PendingState};
use super::home::RequestHome;
use super::request_url::RequestUrl;
use crate::connection::{Connection, ConnectionId, ConnectionInfo, Handshaken, Registry, State};
use crate::deflate::Negotiated;
use crate::error::AcceptError;
use crate::handshake::{
    ExtensionOffer, UpgradeRequest, accept_response, parse_extensions, reject_response_with,
};
use crate::protocol::Role;

/// A WebSocket opening handshake waiting for the application's decision.
///
/// The server yields one per valid upgrade request. It must be consumed by
/// [`accept`](Self::accept) or [`reject`](Self::reject); both take `self`, so
/// a request is decided exactly once. A request dropped undecided is rejected
/// with 503, and one left undecided past
/// [`Config::decision_timeout`](crate::Config::decision_timeout) is rejected
/// with 503 too. While it waits, the server keeps reading the socket, so a
/// client that disconnects is noticed ([`is_connected`](Self::is_connected))
/// and bytes it sent after its handshake are kept for the connection.
///
/// # Examples
///
/// ```no_run
/// use futures::StreamExt;
/// use http_types::StatusCode;
/// use wsgate::Server;
///
/// # wsgate::runtime::block_on(async {
/// let mut server = Server::bind("127.0.0.1:9001").await?;
/// while let Some(request) = server.next().await {
///     if request.resource_url().path() != "/chat" {
///         request.reject(StatusCode::NotFound, "no such room");
///         continue;
///     }
///     let protocol = request.protocols().iter().any(|p| p == "chat").then_some("chat");
///     let Ok(conn) = request.accept(protocol, None).await else { continue };
///     // ...
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(()) });
/// ```
pub struct WebSocketRequest {
    // Boxed: a request is moved through a channel and into the
    // application's task, and that task's future keeps room for it for the
    // connection's whole life. One pointer there instead of ~500 bytes.
    parts: Box<Parts>,
}

/// What a request holds.
struct Parts {
    id: ConnectionId,
    upgrade: UpgradeRequest,
    /// The request head as received (see [`WebSocketRequest::raw_head`]).
    head: Vec<u8>,
    protocols: Vec<String>,
    url: RequestUrl,
    remote_addr: SocketAddr,
    peer_addr: SocketAddr,
    local_addr: SocketAddr,
    secure: bool,
    peer_certificates: Vec<Vec<u8>>,
    response_headers: Vec<(String, String)>,
    decision: Option<oneshot::Sender<Decision>>,
    state: Arc<PendingState>,
    /// Its settings, its server and the runtime its connection will run on.
    home: RequestHome,
}

/// Where a request came from, as the server saw it.
pub(super) struct Peer {
    pub(super) peer_addr: SocketAddr,
    pub(super) local_addr: SocketAddr,
    pub(super) secure: bool,
    pub(super) peer_certificates: Vec<Vec<u8>>,
}

impl WebSocketRequest {
    /// Builds a request whose transport is held by a pending-request task
    /// (see [`super::pending`]).
    pub(super) fn new(
        upgrade: UpgradeRequest,
        head: Vec<u8>,
        url: RequestUrl,
        from: Peer,
        decision: oneshot::Sender<Decision>,
        state: Arc<PendingState>,
        home: RequestHome,
    ) -> WebSocketRequest {
        let remote_addr = crate::net::client_address(
            from.peer_addr,
            &home.config.trusted_proxies,
            &upgrade.headers,
        );
        let parts = Box::new(Parts {
            id: ConnectionId::next(),
            protocols: upgrade
                .protocols
                .iter()
                .map(|p| p.to_ascii_lowercase())
                .collect(),
            upgrade,
            head,
            url,
            remote_addr,
            peer_addr: from.peer_addr,
            local_addr: from.local_addr,
            secure: from.secure,
            peer_certificates: from.peer_certificates,
            response_headers: Vec::new(),
            decision: Some(decision),
            state,
            home,
        });
        WebSocketRequest { parts }
    }

    /// The id the connection will keep if the request is accepted.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(request: wsgate::WebSocketRequest) {
    /// println!("request {}", request.id());
    /// # }
    /// ```
    pub fn id(&self) -> ConnectionId {
        self.parts.id
    }

    /// The host the request is for, port included: the `Host` header, or
    /// the authority of an absolute-form target (`GET ws://host/path`),
    /// which RFC 9112 §3.2.2 says takes its place. Always a valid
    /// `host[:port]`: a request whose `Host` has a path, a query or user
    /// information is refused with 400 before it gets here.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(request: wsgate::WebSocketRequest) {
    /// assert_eq!(request.host(), "example.com:9001");
    /// # }
    /// ```
    pub fn host(&self) -> &str {
        &self.parts.upgrade.host
    }

    /// The requested resource: path and query, e.g. `/chat?nick=ann`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(request: wsgate::WebSocketRequest) {
    /// assert!(request.resource().starts_with('/'));
    /// # }
    /// ```
    pub fn resource(&self) -> &str {
        &self.parts.upgrade.resource
    }

    /// The full URL (`ws://host/path?query`), parsed: use
    /// [`path`](Url::path) and [`query_pairs`](Url::query_pairs).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(request: wsgate::WebSocketRequest) {
    /// let nick = request
    ///     .resource_url()
    ///     .query_pairs()
    ///     .find(|(k, _)| k == "nick")
    ///     .map(|(_, v)| v.into_owned());
    /// # }
    /// ```
    pub fn resource_url(&self) -> &Url {
        self.parts.url.get()
    }

    /// The `Origin` header (for protocol version 8, `Sec-WebSocket-Origin`).
    /// Browsers always send it; other clients may not.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(request: wsgate::WebSocketRequest) {
    /// if let Some(origin) = request.origin() { println!("page at {origin}"); }
    /// # }
    /// ```
    pub fn origin(&self) -> Option<&str> {
        self.parts.upgrade.origin.as_deref()
    }

    /// Whether the `Origin` names this server: same host and port as the
    /// `Host` header, with `https` for a TLS request and `http` otherwise.
    /// False when there is no `Origin`. The usual check for a server that
    /// serves its own page.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(request: wsgate::WebSocketRequest) {
    /// if request.origin().is_some() && !request.is_same_origin() {
    ///     request.reject(http_types::StatusCode::Forbidden, "cross-origin requests are not allowed");
    /// }
    /// # }
    /// ```
    pub fn is_same_origin(&self) -> bool {
        let Some(origin) = self.origin() else {
            return false;
        };
        let scheme = if self.parts.secure {
            "https://"
        } else {
            "http://"
        };
        let Some(authority) = origin
            .get(..scheme.len())
            .filter(|s| s.eq_ignore_ascii_case(scheme))
            .map(|_| &origin[scheme.len()..])
        else {
            return false;
        };
        let default_port = if self.parts.secure { ":443" } else { ":80" };
        let strip = |a: &str| -> String {
            let a = a.trim_end_matches('/');
            a.strip_suffix(default_port)
                .unwrap_or(a)
                .to_ascii_lowercase()
        };
        strip(authority) == strip(self.host())
    }

    /// The protocol version the client asked for: 13, or 8.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(request: wsgate::WebSocketRequest) {
    /// assert!(matches!(request.version(), 13 | 8));
    /// # }
    /// ```
    pub fn version(&self) -> u8 {
        self.parts.upgrade.version
    }

    /// The subprotocols the client offered, lower-cased, in its order.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(request: wsgate::WebSocketRequest) {
    /// // The client sent `Sec-WebSocket-Protocol: Chat, superchat`.
    /// assert_eq!(request.protocols(), ["chat", "superchat"]);
    /// # }
    /// ```
    pub fn protocols(&self) -> &[String] {
        &self.parts.protocols
    }

    /// The subprotocols the client offered, spelled as it sent them, in its
    /// order: what a raw 101 ([`accept_raw`](Self::accept_raw)) must
    /// repeat byte for byte, since browsers compare the answer exactly.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(request: wsgate::WebSocketRequest) {
    /// // The client sent `Sec-WebSocket-Protocol: Chat, superchat`.
    /// assert_eq!(request.offered_protocols(), ["Chat", "superchat"]);
    /// assert_eq!(request.protocols(), ["chat", "superchat"]);
    /// # }
    /// ```
    pub fn offered_protocols(&self) -> &[String] {
        &self.parts.upgrade.protocols
    }

    /// The extensions the client offered, parsed, with their parameters.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(request: wsgate::WebSocketRequest) {
    /// for offer in request.extensions() {
    ///     println!("{} {:?}", offer.name, offer.params);
    /// }
    /// # }
    /// ```
    pub fn extensions(&self) -> &[ExtensionOffer] {
        &self.parts.upgrade.extensions
    }

    /// The client's address: the TCP peer, or the address a trusted proxy
    /// forwarded ([`Config::trusted_proxies`](crate::Config::trusted_proxies)).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(request: wsgate::WebSocketRequest) {
    /// println!("client {}", request.remote_addr().ip());
    /// # }
    /// ```
    pub fn remote_addr(&self) -> SocketAddr {
        self.parts.remote_addr
    }

    /// The TCP peer's address, whatever proxies say.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(request: wsgate::WebSocketRequest) {
    /// println!("hop {}", request.peer_addr());
    /// # }
    /// ```
    pub fn peer_addr(&self) -> SocketAddr {
        self.parts.peer_addr
    }

    /// The server address the request arrived on.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(request: wsgate::WebSocketRequest) {
    /// println!("on {}", request.local_addr());
    /// # }
    /// ```
    pub fn local_addr(&self) -> SocketAddr {
        self.parts.local_addr
    }

    /// Whether the request arrived over TLS (`wss://`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(request: wsgate::WebSocketRequest) {
    /// assert_eq!(request.is_secure(), request.resource_url().scheme() == "wss");
    /// # }
    /// ```
    pub fn is_secure(&self) -> bool {
        self.parts.secure
    }

    /// The client's verified TLS certificate chain (DER, leaf first), when
    /// the TLS listener asks for client certificates and one was presented.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(request: wsgate::WebSocketRequest) {
    /// if request.peer_certificates().is_empty() {
    ///     request.reject(http_types::StatusCode::Unauthorized, "client certificate required");
    /// }
    /// # }
    /// ```
    pub fn peer_certificates(&self) -> &[Vec<u8>] {
        &self.parts.peer_certificates
    }

    /// Every request header, as sent, in order.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(request: wsgate::WebSocketRequest) {
    /// for (name, value) in request.headers() { println!("{name}: {value}"); }
    /// # }
    /// ```
    pub fn headers(&self) -> &[(String, String)] {
        &self.parts.upgrade.headers
    }

    /// The request head exactly as received: request line, header lines and
    /// the blank line, byte for byte (for the raw handshake,
    /// [`accept_raw`](Self::accept_raw)).
    ///
    /// A request mounted with [`from_stream`](Self::from_stream) has its
    /// head as read from the stream. One mounted on hyper
    /// (`ServerHandle::upgrade_hyper`, feature `hyper`)
    /// has the head as hyper parsed it, written out again: the same
    /// request line and headers, in order, but header names lower-cased and
    /// spacing normalized (hyper keeps no raw bytes).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(request: wsgate::WebSocketRequest) {
    /// assert!(request.raw_head().starts_with(b"GET "));
    /// assert!(request.raw_head().ends_with(b"\r\n\r\n"));
    /// # }
    /// ```
    pub fn raw_head(&self) -> &[u8] {
        &self.parts.head
    }

    /// The first header called `name` (case-insensitive).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(request: wsgate::WebSocketRequest) {
    /// let agent = request.header("User-Agent").unwrap_or("unknown");
    /// # }
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.parts.upgrade.header(name)
    }

    /// The cookies from every `Cookie` header, as name–value pairs.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(request: wsgate::WebSocketRequest) {
    /// let session = request.cookies().into_iter().find(|(n, _)| n == "session");
    /// # }
    /// ```
    pub fn cookies(&self) -> Vec<(String, String)> {
        self.parts
            .upgrade
            .header_all("cookie")
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                let name = name.trim();
                let value = value.trim().trim_matches('"');
                (!name.is_empty()).then(|| (name.to_owned(), value.to_owned()))
            })
            .collect()
    }

    /// The value of the cookie `name`: the first one of that name in the
    /// `Cookie` headers, quotes removed, as [`cookies`](Self::cookies)
    /// reads them. Names are case-sensitive (RFC 6265).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(request: wsgate::WebSocketRequest) {
    /// if let Some(session) = request.cookie("session") {
    ///     println!("session {session}");
    /// }
    /// # }
    /// ```
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies()
            .into_iter()
            .find_map(|(n, value)| (n == name).then_some(value))
    }

    /// The value of the query parameter `name` in the request's URL,
    /// percent-decoded (`+` is a space, as in a form): the first one if it
    /// is repeated, `None` if it is absent. `?token=a%20b` gives `"a b"`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(request: wsgate::WebSocketRequest) {
    /// let room = request.query("room").unwrap_or("lobby".into());
    /// # }
    /// ```
    pub fn query(&self, name: &str) -> Option<std::borrow::Cow<'_, str>> {
        self.resource_url()
            .query_pairs()
            .find_map(|(n, value)| (n == name).then_some(value))
    }

    /// The first of `supported` (the application's subprotocols, in its
    /// order of preference) that the client offered, compared
    /// case-insensitively; `None` if the client offered none of them. Pass
    /// it to [`accept`](Self::accept).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(request: wsgate::WebSocketRequest) -> Result<(), wsgate::AcceptError> {
    /// let protocol = request.choose_protocol(&["chat.v2", "chat"]);
    /// let conn = request.accept(protocol, None).await?;
    /// # Ok(()) }
    /// ```
    pub fn choose_protocol<'p>(&self, supported: &[&'p str]) -> Option<&'p str> {
        supported.iter().copied().find(|wanted| {
            self.parts
                .protocols
                .iter()
                .any(|offered| offered.eq_ignore_ascii_case(wanted))
        })
    }

    /// Whether the client is still connected. The server keeps reading the
    /// socket while the request waits, so a client that gave up is noticed.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(request: wsgate::WebSocketRequest) {
    /// if !request.is_connected() {
    ///     return; // dropping it costs nothing: nobody is listening
    /// }
    /// # }
    /// ```
    pub fn is_connected(&self) -> bool {
        !self.parts.state.disconnected.load(Ordering::Acquire)
    }

    /// Waits until the client disconnects (or the request expires), e.g. to
    /// abandon a slow authorization check.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use futures::future::{select, Either};
    ///
    /// # async fn check(_: &str) -> bool { true }
    /// # async fn f(request: wsgate::WebSocketRequest) {
    /// let token = request.header("authorization").unwrap_or("").to_owned();
    /// let allowed = {
    ///     let check = std::pin::pin!(check(&token));
    ///     let gone = std::pin::pin!(request.disconnected());
    ///     match select(check, gone).await {
    ///         Either::Left((allowed, _)) => allowed,
    ///         Either::Right(_) => return,
    ///     }
    /// };
    /// # }
    /// ```
    pub async fn disconnected(&self) {
        loop {
            let listener = self.parts.state.changed.listen();
            if !self.is_connected() {
                return;
            }
            listener.await;
        }
    }

    /// Adds a header to the response, the 101 if the request is accepted or
    /// the error if it is rejected (e.g. `Set-Cookie`, `WWW-Authenticate`).
    ///
    /// Values are sanitized: control characters cannot inject headers. A
    /// name that is not a valid header name is ignored, and so are the
    /// headers the response sets itself: on the 101, `Upgrade`,
    /// `Connection`, `Content-Length`, `Transfer-Encoding` and any
    /// `Sec-WebSocket-*`; on a rejection, `Connection`, `Content-Length` and
    /// `Transfer-Encoding` (an `Upgrade` header, which a 426 needs, is sent,
    /// and makes the rejection's `Connection` `upgrade, close`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(mut request: wsgate::WebSocketRequest) -> Result<(), wsgate::AcceptError> {
    /// request.add_response_header("Set-Cookie", "session=abc; HttpOnly");
    /// let conn = request.accept(None, None).await?;
    /// # Ok(()) }
    /// ```
    pub fn add_response_header(&mut self, name: &str, value: &str) {
        self.parts
            .response_headers
            .push((name.to_owned(), value.to_owned()));
    }

    /// Accepts the request and opens the connection.
    ///
    /// `protocol` must be one of the client's [`protocols`](Self::protocols)
    /// (compared case-insensitively); it is echoed in the client's own
    /// spelling, since browsers compare it byte for byte. If it was not
    /// offered, the request is rejected with 500 (a server bug) and
    /// [`AcceptError::ProtocolNotOffered`] returned.
    ///
    /// `origin`, when given, is the origin the application allows: a request
    /// whose `Origin` differs (case-insensitively) is rejected with 403 and
    /// [`AcceptError::OriginMismatch`] returned. `None` allows any origin;
    /// requests without an `Origin` (non-browser clients) pass either way.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(request: wsgate::WebSocketRequest) -> Result<(), wsgate::AcceptError> {
    /// let conn = request.accept(Some("chat"), Some("https://example.com")).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// The handshake's state lives in its own allocation, freed once the
    /// connection is open, so a task that awaits `accept` and then serves
    /// the connection stays small for the connection's lifetime.
    pub fn accept<'a>(
        self,
        protocol: Option<&'a str>,
        origin: Option<&'a str>,
    ) -> impl Future<Output = Result<Connection, AcceptError>> + Send + 'a {
        self.accept_with_state(protocol, origin, ())
    }

    /// Accepts the request the common way: no subprotocol, any origin. The
    /// same as [`accept(None, None)`](Self::accept).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(request: wsgate::WebSocketRequest) -> Result<(), wsgate::AcceptError> {
    /// let conn = request.accept_default().await?;
    /// # Ok(()) }
    /// ```
    pub fn accept_default(
        self,
    ) -> impl Future<Output = Result<Connection, AcceptError>> + Send + 'static {
        self.accept_with_state(None, None, ())
    }

    /// Accepts the request as [`accept`](Self::accept) does, with `state`
    /// as the connection's own state: the authenticated user, the room it
    /// joined. Every handle of the connection reads it with
    /// [`Connection::state`], typed, and the server's registry and topics
    /// hand out typed handles
    /// ([`ServerHandle::connections_with`](crate::ServerHandle::connections_with),
    /// [`ServerHandle::connection_with`](crate::ServerHandle::connection_with),
    /// [`ServerHandle::subscribers_with`](crate::ServerHandle::subscribers_with)).
    /// It is dropped when the last handle is.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(request: wsgate::WebSocketRequest) -> Result<(), wsgate::AcceptError> {
    /// struct User { name: String }
    ///
    /// let name = request.query("user").unwrap_or_default().into_owned();
    /// let conn = request.accept_with_state(None, None, User { name }).await?;
    /// println!("{} joined", conn.state().name);
    /// # Ok(()) }
    /// ```
    pub fn accept_with_state<'a, S: Send + Sync + 'static>(
        self,
        protocol: Option<&'a str>,
        origin: Option<&'a str>,
        state: S,
    ) -> impl Future<Output = Result<Connection<S>, AcceptError>> + Send + 'a {
        Box::pin(async move {
            let conn = self.accept_inner(protocol, origin, Box::new(state)).await?;
            Ok(conn.retyped())
        })
    }

    async fn accept_inner(
        mut self,
        protocol: Option<&str>,
        origin: Option<&str>,
        state: State,
    ) -> Result<Connection, AcceptError> {
        if self.refuse_if_shutting_down() {
            return Err(AcceptError::ShuttingDown);
        }
        let chosen = match protocol {
            None => None,
            Some(wanted) => {
                match self
                    .parts
                    .upgrade
                    .protocols
                    .iter()
                    .find(|p| p.eq_ignore_ascii_case(wanted))
                {
                    Some(offered) => Some(offered.clone()),
                    None => {
                        self.decide_error(500, "subprotocol not offered by the client");
                        return Err(AcceptError::ProtocolNotOffered(wanted.to_owned()));
                    }
                }
            }
        };
        if let (Some(allowed), Some(actual)) = (origin, self.parts.upgrade.origin.as_deref())
            && !allowed.eq_ignore_ascii_case(actual)
        {
            let error = AcceptError::OriginMismatch {
                allowed: allowed.to_owned(),
                actual: actual.to_owned(),
            };
            self.decide_error(403, "origin not allowed");
            return Err(error);
        }
        let deflate = self.negotiate_deflate();
        let extensions = deflate.as_ref().map(Negotiated::response_header);
        let response = accept_response(
            &self.parts.upgrade.key,
            chosen.as_deref(),
            extensions.as_deref(),
            &self.parts.response_headers,
        );
        let extensions = extensions
            .and_then(|header| parse_extensions(&header).ok())
            .unwrap_or_default();
        self.open(response, chosen, extensions, deflate, state)
            .await
    }

    /// Whether the server is shutting down; if so, the request is rejected
    /// with 503.
    pub(super) fn refuse_if_shutting_down(&mut self) -> bool {
        let shutting_down = self
            .parts
            .home
            .server
            .as_ref()
            .is_some_and(|server| server.shutting_down());
        if shutting_down {
            self.decide_error(503, "server shutting down");
        }
        shutting_down
    }

    /// Sends the 101 `response` (already checked) and opens the connection
    /// with what it agreed to.
    pub(super) async fn open(
        mut self,
        response: Vec<u8>,
        protocol: Option<String>,
        extensions: Vec<ExtensionOffer>,
        deflate: Option<Negotiated>,
        state: State,
    ) -> Result<Connection, AcceptError> {
        let (reply, outcome) = oneshot::channel();
        let decision = self
            .parts
            .decision
            .take()
            .expect("a request is decided once");
        if decision.send(Decision::Accept { response, reply }).is_err() {
            return Err(self.gone());
        }
        let (transport, pipelined) = match outcome.await {
            Ok(result) => result?,
            Err(_) => return Err(self.gone()),
        };
        let upgrade = &self.parts.upgrade;
        let info = ConnectionInfo::new(Handshaken {
            protocol: protocol.as_deref(),
            extensions,
            remote_addr: self.parts.remote_addr,
            local_addr: self.parts.local_addr,
            host: &upgrade.host,
            origin: upgrade.origin.as_deref(),
            resource: &upgrade.resource,
            headers: &upgrade.headers,
        });
        let home = &self.parts.home;
        let registry = home
            .server
            .clone()
            .map(|server| server as Arc<dyn Registry>);
        let conn = Connection::start(
            transport,
            Role::Server,
            home.config.clone(),
            self.parts.id,
            info,
            pipelined,
            registry,
            deflate,
            home.runtime.clone(),
            state,
        );
        Ok(conn)
    }

    /// Rejects the request: sends `status` with an `X-WebSocket-Reject-Reason`
    /// header and `reason` as the body, then closes the socket. In the
    /// header, bytes outside printable ASCII (and `%`) are percent-encoded so
    /// every client can read it; the body keeps the UTF-8 text.
    ///
    /// Only 4xx and 5xx statuses reject; any other status is sent as 500. The
    /// response is written in the background, so this returns at once.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use http_types::StatusCode;
    ///
    /// # fn f(request: wsgate::WebSocketRequest) {
    /// request.reject(StatusCode::Forbidden, "members only");
    /// # }
    /// ```
    pub fn reject(mut self, status: StatusCode, reason: &str) {
        let status = u16::from(status);
        let status = if (400..600).contains(&status) {
            status
        } else {
            500
        };
        self.decide_error(status, reason);
    }

    pub(super) fn decide_error(&mut self, status: u16, reason: &str) {
        let headers = std::mem::take(&mut self.parts.response_headers);
        let response = reject_response_with(status, reason, &headers);
        log::info!("{} rejected with {status}: {reason}", self.parts.id);
        if let Some(decision) = self.parts.decision.take() {
            let _ = decision.send(Decision::Reject { status, response });
        }
    }

    /// Sends a rejection the application wrote itself (already checked):
    /// its bytes as they are, then the socket is closed.
    pub(super) fn decide_raw_rejection(&mut self, status: u16, response: Vec<u8>) {
        log::info!("{} rejected with {status} (raw response)", self.parts.id);
        if let Some(decision) = self.parts.decision.take() {
            let _ = decision.send(Decision::Reject { status, response });
        }
    }

    /// The request as parsed.
    pub(super) fn upgrade(&self) -> &UpgradeRequest {
        &self.parts.upgrade
    }

    /// The request's settings.
    pub(super) fn config(&self) -> &crate::Config {
        &self.parts.home.config
    }

    /// The compression memory budget this request's connection counts
    /// against: its server's, or (mounted without a server) the process's.
    #[cfg(feature = "deflate")]
    pub(super) fn deflate_budget(&self) -> Arc<crate::deflate::DeflateBudget> {
        match &self.parts.home.server {
            Some(server) => server.deflate_budget(),
            None => crate::deflate::DeflateBudget::process(),
        }
    }

    /// permessage-deflate for this request: the first acceptable offer,
    /// within the server's compression memory budget (a mounted request
    /// without a server counts against the process-wide one).
    #[cfg(feature = "deflate")]
    fn negotiate_deflate(&self) -> Option<Negotiated> {
        let budget = self.deflate_budget();
        crate::deflate::negotiate_server(&self.parts.upgrade.extensions, self.config(), &budget)
    }

    #[cfg(not(feature = "deflate"))]
    fn negotiate_deflate(&self) -> Option<Negotiated> {
        None
    }

    /// Why the request can no longer be decided (the client left, or the
    /// decision deadline passed and it got 503), if so.
    pub(super) fn undecidable(&self) -> Option<AcceptError> {
        (!self.is_connected()).then(|| self.gone())
    }

    /// Its settings, runtime and server.
    pub(super) fn home(&self) -> &RequestHome {
        &self.parts.home
    }

    /// The error for a request whose pending task has already finished.
    pub(super) fn gone(&self) -> AcceptError {
        if self.parts.state.expired.load(Ordering::Acquire) {
            AcceptError::DecisionTimeout
        } else {
            AcceptError::Disconnected
        }
    }
}

impl std::fmt::Debug for WebSocketRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketRequest")
            .field("id", &self.parts.id)
            .field("host", &self.host())
            .field("resource", &self.resource())
            .field("origin", &self.origin())
            .field("protocols", &self.parts.protocols)
            .field("remote_addr", &self.parts.remote_addr)
            .finish_non_exhaustive()
    }
}
