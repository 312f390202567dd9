//! Parsing and validating the client's opening handshake (RFC 6455 §4.2.1).

use super::HandshakeError;
use super::head::{Limits, check_complete, convert_headers, locate_head, map_parse_error};
use super::headers::header_values;
use super::key::is_valid_key;
use super::tokens::{ExtensionOffer, list_contains_token, parse_extensions, parse_token_list};

/// A parsed HTTP/1.x request head, not yet validated as a WebSocket
/// handshake.
///
/// [`parse_head`] makes one from the bytes read; [`classify`] then tells a
/// WebSocket upgrade from a plain HTTP request.
///
/// # Examples
///
/// ```
/// use wsgate::handshake::{Limits, parse_head};
///
/// let buf = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n";
/// let (raw, _) = parse_head(buf, &Limits::default())?.unwrap();
/// assert_eq!((raw.method.as_str(), raw.target.as_str(), raw.http_minor), ("GET", "/chat", 1));
/// assert_eq!(raw.headers.len(), 3);
/// assert_eq!(raw.header("cookie"), Some("a=1"));
/// # Ok::<(), wsgate::handshake::HandshakeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRequest {
    /// Request method, e.g. `GET` (case-sensitive).
    pub method: String,
    /// Request-target as sent.
    pub target: String,
    /// Minor HTTP version: `1` for HTTP/1.1.
    pub http_minor: u8,
    /// Headers in order: names as sent, values trimmed of surrounding
    /// whitespace. Use [`header`](Self::header) for case-insensitive lookup.
    pub headers: Vec<(String, String)>,
}

impl RawRequest {
    /// The first value of header `name` (ASCII case-insensitive).
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::handshake::{Limits, parse_head};
    ///
    /// let buf = b"GET / HTTP/1.1\r\nHost: example.com\r\nX-Id: 1\r\nx-id: 2\r\n\r\n";
    /// let (raw, _) = parse_head(buf, &Limits::default())?.unwrap();
    /// assert_eq!(raw.header("HOST"), Some("example.com"));
    /// assert_eq!(raw.header("x-id"), Some("1"));
    /// assert_eq!(raw.header("Origin"), None);
    /// # Ok::<(), wsgate::handshake::HandshakeError>(())
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_all(name).next()
    }

    /// Every value of header `name` (ASCII case-insensitive), in order.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::handshake::{Limits, parse_head};
    ///
    /// let buf = b"GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1\r\ncookie: b=2\r\n\r\n";
    /// let (raw, _) = parse_head(buf, &Limits::default())?.unwrap();
    /// assert_eq!(raw.header_all("Cookie").collect::<Vec<_>>(), ["a=1", "b=2"]);
    /// assert_eq!(raw.header_all("Origin").count(), 0);
    /// # Ok::<(), wsgate::handshake::HandshakeError>(())
    /// ```
    pub fn header_all(&self, name: &str) -> impl Iterator<Item = &str> {
        header_values(&self.headers, name)
    }
}

/// Parses a request head from the start of `buf`.
///
/// Returns `Ok(None)` while the head is incomplete and `buf` is shorter than
/// `limits.max_size`; otherwise the head and the number of bytes it used.
/// Bytes after that are pipelined data for the caller to keep.
///
/// # Errors
///
/// The head must end with CRLF CRLF within `limits.max_size` bytes (else
/// [`HandshakeError::HeadTooLarge`]) and have at most `limits.max_headers`
/// fields (else [`HandshakeError::TooManyHeaders`]); a request line longer
/// than that is [`HandshakeError::TargetTooLong`]. Lines may end with a
/// bare LF. A header value that is not UTF-8 is read as ISO-8859-1.
///
/// Each call scans `buf` from the start; when bytes trickle in, gate calls
/// with [`find_head_end`](super::find_head_end) to keep total work linear.
///
/// ```
/// use wsgate::handshake::{parse_head, Limits};
///
/// let buf = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\nnext";
/// let (raw, used) = parse_head(buf, &Limits::default())?.unwrap();
/// assert_eq!(raw.header("host"), Some("example.com"));
/// assert_eq!(&buf[used..], b"next");
/// assert!(parse_head(&buf[..10], &Limits::default())?.is_none());
/// # Ok::<(), wsgate::handshake::HandshakeError>(())
/// ```
pub fn parse_head(
    buf: &[u8],
    limits: &Limits,
) -> Result<Option<(RawRequest, usize)>, HandshakeError> {
    let Some(end) = locate_head(buf, limits)? else {
        return Ok(None);
    };
    let mut headers = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut req = httparse::Request::new(&mut headers);
    check_complete(req.parse(&buf[..end]).map_err(map_parse_error)?, end)?;
    let (Some(method), Some(target), Some(http_minor)) = (req.method, req.path, req.version) else {
        return Err(HandshakeError::Malformed);
    };
    let raw = RawRequest {
        method: method.to_owned(),
        target: target.to_owned(),
        http_minor,
        headers: convert_headers(req.headers),
    };
    Ok(Some((raw, end)))
}

/// A validated WebSocket upgrade request.
///
/// What [`classify`] gives for a request that passes every check of
/// RFC 6455 §4.2.1, with the handshake's headers already parsed: answer it
/// with [`accept_response`](super::accept_response) and its
/// [`key`](Self::key).
///
/// # Examples
///
/// ```
/// use wsgate::handshake::{Classified, Limits, classify, parse_head};
///
/// let buf = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
///     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
///     Sec-WebSocket-Version: 13\r\nOrigin: https://example.com\r\n\
///     Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
/// let (raw, _) = parse_head(buf, &Limits::default())?.unwrap();
/// let Classified::Upgrade(req) = classify(raw)? else { panic!("not an upgrade") };
/// assert_eq!((req.host.as_str(), req.resource.as_str()), ("example.com", "/chat"));
/// assert_eq!(req.version, 13);
/// assert_eq!(req.origin.as_deref(), Some("https://example.com"));
/// assert!(req.protocols.is_empty());
/// assert_eq!(req.extensions[0].name, "permessage-deflate");
/// # Ok::<(), wsgate::handshake::HandshakeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeRequest {
    /// The host and optional port the request is for: the `Host` header,
    /// or the authority of an absolute-form target, which RFC 9112 §3.2.2
    /// says takes its place. Always a valid `host[:port]`.
    pub host: String,
    /// Path and query, always starting with `/` (absolute-form targets are
    /// reduced to this).
    pub resource: String,
    /// `13`, or `8` for older clients.
    pub version: u8,
    /// `Sec-WebSocket-Key`, to pass to
    /// [`accept_response`](super::accept_response).
    pub key: String,
    /// `Origin` (for version 8: `Sec-WebSocket-Origin`, else `Origin`).
    pub origin: Option<String>,
    /// Offered subprotocols, in order and spelled as sent.
    pub protocols: Vec<String>,
    /// Offered extensions, in order.
    pub extensions: Vec<ExtensionOffer>,
    /// All request headers, as in [`RawRequest::headers`].
    pub headers: Vec<(String, String)>,
}

impl UpgradeRequest {
    /// The first value of header `name` (ASCII case-insensitive).
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::handshake::{Classified, Limits, classify, parse_head};
    ///
    /// let buf = b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    ///     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
    ///     User-Agent: test\r\n\r\n";
    /// let (raw, _) = parse_head(buf, &Limits::default())?.unwrap();
    /// let Classified::Upgrade(req) = classify(raw)? else { panic!("not an upgrade") };
    /// assert_eq!(req.header("user-agent"), Some("test"));
    /// assert_eq!(req.header("Cookie"), None);
    /// # Ok::<(), wsgate::handshake::HandshakeError>(())
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_all(name).next()
    }

    /// Every value of header `name` (ASCII case-insensitive), in order.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::handshake::{Classified, Limits, classify, parse_head};
    ///
    /// let buf = b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    ///     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
    ///     Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: superchat\r\n\r\n";
    /// let (raw, _) = parse_head(buf, &Limits::default())?.unwrap();
    /// let Classified::Upgrade(req) = classify(raw)? else { panic!("not an upgrade") };
    /// let lines: Vec<_> = req.header_all("sec-websocket-protocol").collect();
    /// assert_eq!(lines, ["chat", "superchat"]);
    /// assert_eq!(req.protocols, ["chat", "superchat"]);
    /// # Ok::<(), wsgate::handshake::HandshakeError>(())
    /// ```
    pub fn header_all(&self, name: &str) -> impl Iterator<Item = &str> {
        header_values(&self.headers, name)
    }
}

/// What a request head turned out to be.
///
/// The result of [`classify`]: a WebSocket upgrade, validated, or a plain
/// HTTP request, left as it was parsed.
///
/// # Examples
///
/// ```
/// use wsgate::handshake::{Classified, Limits, classify, parse_head};
///
/// let (raw, _) = parse_head(b"GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n", &Limits::default())?
///     .unwrap();
/// match classify(raw)? {
///     Classified::Plain(raw) => assert_eq!(raw.target, "/index.html"),
///     Classified::Upgrade(_) => panic!("no Upgrade header, so not an upgrade"),
/// }
/// # Ok::<(), wsgate::handshake::HandshakeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified {
    /// A valid WebSocket opening handshake.
    Upgrade(UpgradeRequest),
    /// Not a WebSocket upgrade (no `Upgrade` header with the `websocket`
    /// token): for a plain HTTP handler, if any.
    Plain(RawRequest),
}

/// Tells a WebSocket upgrade from a plain request, validating the former
/// against RFC 6455 §4.2.1.
///
/// A request is [`Classified::Plain`] unless some `Upgrade` header contains
/// the `websocket` token (case-insensitive); an upgrade request must then
/// pass every check below.
///
/// # Errors
///
/// The first failed check, in this order: method `GET` (405); HTTP/1.1 or
/// later; exactly one non-empty `Host` that is a valid `host[:port]`;
/// `Connection` containing `Upgrade`; no body (no `Transfer-Encoding`, no
/// `Content-Length` but 0); a request-target in origin-form or
/// absolute-form (`ws`, `wss`, `http`, `https`, with a valid authority and
/// no user information) without fragment or `\`;
/// `Sec-WebSocket-Version` present (400) and exactly `13` or `8` (426),
/// checked before the key so clients of other versions learn what we
/// support; exactly one valid `Sec-WebSocket-Key`; well-formed
/// `Sec-WebSocket-Protocol` and `Sec-WebSocket-Extensions` (all lines
/// combined). All failures but 405 and 426 are 400.
///
/// ```
/// use wsgate::handshake::{classify, parse_head, Classified, HandshakeError, Limits};
///
/// let buf = b"GET ws://example.com/chat?x=1 HTTP/1.1\r\nHost: example.com\r\n\
///     Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
///     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
///     Sec-WebSocket-Protocol: chat, superchat\r\n\r\n";
/// let (raw, _) = parse_head(buf, &Limits::default())?.unwrap();
/// let Classified::Upgrade(req) = classify(raw)? else { panic!("not an upgrade") };
/// assert_eq!(req.resource, "/chat?x=1");
/// assert_eq!(req.protocols, ["chat", "superchat"]);
///
/// let (raw, _) = parse_head(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", &Limits::default())?.unwrap();
/// assert!(matches!(classify(raw)?, Classified::Plain(_)));
/// # Ok::<(), HandshakeError>(())
/// ```
pub fn classify(raw: RawRequest) -> Result<Classified, HandshakeError> {
    let is_upgrade = raw
        .header_all("Upgrade")
        .any(|v| list_contains_token(v, "websocket"));
    if !is_upgrade {
        return Ok(Classified::Plain(raw));
    }
    if raw.method != "GET" {
        return Err(HandshakeError::MethodNotAllowed);
    }
    if raw.http_minor < 1 {
        return Err(HandshakeError::BadHttpVersion);
    }
    let host = single(
        &raw,
        "Host",
        HandshakeError::MissingHost,
        HandshakeError::DuplicateHost,
    )?;
    if host.is_empty() {
        return Err(HandshakeError::MissingHost);
    }
    check_host(host)?;
    if !raw
        .header_all("Connection")
        .any(|v| list_contains_token(v, "upgrade"))
    {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    if raw.header("Transfer-Encoding").is_some()
        || raw.header_all("Content-Length").any(|v| v != "0")
    {
        return Err(HandshakeError::UnexpectedBody);
    }
    let (resource, authority) = resource_from_target(&raw.target)?;
    let host = authority.unwrap_or(host);
    let version = version(&raw)?;
    let key = single(
        &raw,
        "Sec-WebSocket-Key",
        HandshakeError::MissingKey,
        HandshakeError::DuplicateKey,
    )?;
    if !is_valid_key(key.as_bytes()) {
        return Err(HandshakeError::InvalidKey);
    }
    let mut protocols = Vec::new();
    for value in raw.header_all("Sec-WebSocket-Protocol") {
        let list = parse_token_list(value).map_err(HandshakeError::InvalidProtocolHeader)?;
        protocols.extend(list.into_iter().map(str::to_owned));
    }
    let mut extensions = Vec::new();
    for value in raw.header_all("Sec-WebSocket-Extensions") {
        extensions
            .extend(parse_extensions(value).map_err(HandshakeError::InvalidExtensionsHeader)?);
    }
    let origin = if version == 8 {
        raw.header("Sec-WebSocket-Origin")
            .or_else(|| raw.header("Origin"))
    } else {
        raw.header("Origin")
    };
    Ok(Classified::Upgrade(UpgradeRequest {
        host: host.to_owned(),
        resource,
        version,
        key: key.to_owned(),
        origin: origin.map(str::to_owned),
        protocols,
        extensions,
        headers: raw.headers,
    }))
}

/// The only value of header `name`, or `missing` / `duplicate`.
fn single<'a>(
    raw: &'a RawRequest,
    name: &str,
    missing: HandshakeError,
    duplicate: HandshakeError,
) -> Result<&'a str, HandshakeError> {
    let mut values = raw.header_all(name);
    match (values.next(), values.next()) {
        (None, _) => Err(missing),
        (Some(_), Some(_)) => Err(duplicate),
        (Some(v), None) => Ok(v),
    }
}

/// The WebSocket version: all `Sec-WebSocket-Version` lines together must be
/// exactly `13` or `8`.
fn version(raw: &RawRequest) -> Result<u8, HandshakeError> {
    let mut values = raw.header_all("Sec-WebSocket-Version");
    match (values.next(), values.next()) {
        (None, _) => Err(HandshakeError::MissingVersion),
        (Some("13"), None) => Ok(13),
        (Some("8"), None) => Ok(8),
        _ => Err(HandshakeError::UnsupportedVersion),
    }
}

/// Checks that `host` is `uri-host [ ":" port ]` (RFC 9112 §3.2, RFC 3986
/// §3.2.2): a bracketed IPv6 address, or a non-empty name of unreserved
/// characters, percent-escapes and sub-delimiters; then an optional port of
/// digits.
/// Whatever could change the URL built from it (`/`, `?`, `#`, `@`, `\`,
/// spaces) is refused.
///
/// ```
/// use wsgate::handshake::{check_host, HandshakeError};
///
/// assert!(check_host("example.com:8080").is_ok());
/// assert!(check_host("[::1]:9001").is_ok());
/// assert_eq!(check_host("evil.com/chat?x="), Err(HandshakeError::InvalidHost));
/// assert_eq!(check_host("user@example.com"), Err(HandshakeError::InvalidHost));
/// ```
pub fn check_host(host: &str) -> Result<(), HandshakeError> {
    let is_port = |port: &str| port.bytes().all(|b| b.is_ascii_digit());
    let valid = match host.strip_prefix('[') {
        Some(literal) => literal.split_once(']').is_some_and(|(address, rest)| {
            address.parse::<std::net::Ipv6Addr>().is_ok()
                && (rest.is_empty() || rest.strip_prefix(':').is_some_and(is_port))
        }),
        None => {
            let (name, port) = host
                .split_once(':')
                .map_or((host, None), |(name, port)| (name, Some(port)));
            is_reg_name(name) && port.is_none_or(is_port)
        }
    };
    if valid {
        Ok(())
    } else {
        Err(HandshakeError::InvalidHost)
    }
}

/// A non-empty RFC 3986 `reg-name`: unreserved characters, sub-delimiters
/// and `%XX` escapes.
fn is_reg_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.iter().enumerate().all(|(i, &b)| {
            b.is_ascii_alphanumeric()
                || b"-._~!$&'()*+,;=".contains(&b)
                || (b == b'%'
                    && bytes
                        .get(i + 1..i + 3)
                        .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)))
        })
}

/// Path and query from an origin-form or absolute-form request-target, and
/// for the latter its authority (checked with [`check_host`]).
fn resource_from_target(target: &str) -> Result<(String, Option<&str>), HandshakeError> {
    if target.contains(['#', '\\']) {
        return Err(HandshakeError::InvalidTarget);
    }
    if target.starts_with('/') {
        return Ok((target.to_owned(), None));
    }
    for scheme in ["ws://", "wss://", "http://", "https://"] {
        let n = scheme.len();
        if target.len() >= n && target.as_bytes()[..n].eq_ignore_ascii_case(scheme.as_bytes()) {
            // The prefix matched ASCII, so `n` is a char boundary.
            let rest = &target[n..];
            let path_start = rest.find(['/', '?']).unwrap_or(rest.len());
            let authority = &rest[..path_start];
            if authority.is_empty() || authority.contains('@') {
                return Err(HandshakeError::InvalidTarget);
            }
            check_host(authority)?;
            let path = &rest[path_start..];
            let resource = match path.as_bytes().first() {
                None => "/".to_owned(),
                Some(b'?') => format!("/{path}"),
                Some(_) => path.to_owned(),
            };
            return Ok((resource, Some(authority)));
        }
    }
    Err(HandshakeError::InvalidTarget)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn parse(text: &str) -> RawRequest {
        let (raw, used) = parse_head(text.as_bytes(), &Limits::default())
            .unwrap()
            .unwrap();
        assert_eq!(used, text.len());
        raw
    }

    fn upgrade(text: &str) -> UpgradeRequest {
        match classify(parse(text)).unwrap() {
            Classified::Upgrade(req) => req,
            Classified::Plain(raw) => panic!("plain: {raw:?}"),
        }
    }

    fn classify_err(text: &str) -> HandshakeError {
        classify(parse(text)).unwrap_err()
    }

    /// The RFC 6455 §1.2 handshake with `edit` applied to its lines.
    fn minimal(edit: impl Fn(&mut Vec<String>)) -> String {
        let mut lines = vec![
            "GET /chat HTTP/1.1".to_owned(),
            "Host: server.example.com".to_owned(),
            "Upgrade: websocket".to_owned(),
            "Connection: Upgrade".to_owned(),
            format!("Sec-WebSocket-Key: {KEY}"),
            "Sec-WebSocket-Version: 13".to_owned(),
        ];
        edit(&mut lines);
        format!("{}\r\n\r\n", lines.join("\r\n"))
    }

    fn without(name: &'static str) -> impl Fn(&mut Vec<String>) {
        move |l| l.retain(|line| !line.starts_with(&format!("{name}:")))
    }

    fn with(line: &'static str) -> impl Fn(&mut Vec<String>) {
        move |l| l.push(line.to_owned())
    }

    fn set(name: &'static str, value: &'static str) -> impl Fn(&mut Vec<String>) {
        move |l| {
            l.retain(|line| !line.starts_with(&format!("{name}:")));
            l.push(format!("{name}: {value}"));
        }
    }

    const CHROMIUM: &str = "GET /chat?room=1 HTTP/1.1\r\n\
        Host: example.com:8080\r\n\
        Connection: Upgrade\r\n\
        Pragma: no-cache\r\n\
        Cache-Control: no-cache\r\n\
        User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36\r\n\
        Upgrade: websocket\r\n\
        Origin: http://example.com:8080\r\n\
        Sec-WebSocket-Version: 13\r\n\
        Accept-Encoding: gzip, deflate, br\r\n\
        Accept-Language: en-US,en;q=0.9\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
        \r\n";

    const FIREFOX: &str = "GET /socket HTTP/1.1\r\n\
        Host: localhost:9001\r\n\
        User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0\r\n\
        Accept: */*\r\n\
        Accept-Language: en-US,en;q=0.5\r\n\
        Accept-Encoding: gzip, deflate, br\r\n\
        Sec-WebSocket-Version: 13\r\n\
        Origin: http://localhost:9001\r\n\
        Sec-WebSocket-Protocol: chat, superchat\r\n\
        Sec-WebSocket-Extensions: permessage-deflate\r\n\
        Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n\
        DNT: 1\r\n\
        Connection: keep-alive, Upgrade\r\n\
        Sec-Fetch-Dest: websocket\r\n\
        Sec-Fetch-Mode: websocket\r\n\
        Sec-Fetch-Site: same-origin\r\n\
        Pragma: no-cache\r\n\
        Cache-Control: no-cache\r\n\
        Upgrade: websocket\r\n\
        \r\n";

    #[test]
    fn chromium_handshake() {
        let req = upgrade(CHROMIUM);
        assert_eq!(req.host, "example.com:8080");
        assert_eq!(req.resource, "/chat?room=1");
        assert_eq!(req.version, 13);
        assert_eq!(req.key, KEY);
        assert_eq!(req.origin.as_deref(), Some("http://example.com:8080"));
        assert!(req.protocols.is_empty());
        assert_eq!(
            req.extensions,
            [ExtensionOffer {
                name: "permessage-deflate".into(),
                params: vec![("client_max_window_bits".into(), None)],
            }]
        );
        assert_eq!(req.headers.len(), 12);
        assert_eq!(req.header("accept-language"), Some("en-US,en;q=0.9"));
    }

    #[test]
    fn firefox_handshake() {
        let req = upgrade(FIREFOX);
        assert_eq!(req.host, "localhost:9001");
        assert_eq!(req.resource, "/socket");
        assert_eq!(req.key, "x3JJHMbDL1EzLkh9GBhXDw==");
        assert_eq!(req.protocols, ["chat", "superchat"]);
        assert_eq!(req.extensions.len(), 1);
        assert_eq!(req.header("CONNECTION"), Some("keep-alive, Upgrade"));
    }

    #[test]
    fn rfc_example_minimal() {
        let req = upgrade(&minimal(|_| {}));
        assert_eq!(req.resource, "/chat");
        assert_eq!(req.origin, None);
        assert_eq!(req.headers.len(), 5);
    }

    #[test]
    fn plain_requests() {
        for text in [
            "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            "POST /form HTTP/1.0\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
            "GET / HTTP/1.1\r\nConnection: Upgrade\r\nSec-WebSocket-Key: x\r\n\r\n",
        ] {
            let raw = parse(text);
            assert_eq!(classify(raw.clone()).unwrap(), Classified::Plain(raw));
        }
    }

    #[test]
    fn case_insensitivity() {
        let text = "GET / HTTP/1.1\r\nhOsT: a\r\nUPGRADE: WebSocket\r\nconnection: UPGRADE\r\n\
            sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nSEC-WEBSOCKET-VERSION: 13\r\n\
            oRiGiN: http://a\r\n\r\n";
        let req = upgrade(text);
        assert_eq!(req.host, "a");
        assert_eq!(req.origin.as_deref(), Some("http://a"));
        // Upgrade listed among other protocols.
        let req = upgrade(&minimal(set("Upgrade", "HTTP/2.0, websocket")));
        assert_eq!(req.version, 13);
    }

    #[test]
    fn connection_split_over_lines() {
        let text = minimal(|l| {
            l.retain(|s| !s.starts_with("Connection:"));
            l.push("Connection: keep-alive".into());
            l.push("Connection: Upgrade".into());
        });
        upgrade(&text);
    }

    #[test]
    fn method_not_allowed() {
        let e = classify_err(&minimal(|l| l[0] = "POST /chat HTTP/1.1".into()));
        assert_eq!(e, HandshakeError::MethodNotAllowed);
        assert_eq!(e.status(), 405);
        let e = classify_err(&minimal(|l| l[0] = "get /chat HTTP/1.1".into()));
        assert_eq!(e, HandshakeError::MethodNotAllowed);
    }

    #[test]
    fn http_1_0_rejected() {
        let e = classify_err(&minimal(|l| l[0] = "GET /chat HTTP/1.0".into()));
        assert_eq!(e, HandshakeError::BadHttpVersion);
        assert_eq!(e.status(), 400);
    }

    #[test]
    fn host_errors() {
        let e = classify_err(&minimal(without("Host")));
        assert_eq!((e.clone(), e.status()), (HandshakeError::MissingHost, 400));
        let e = classify_err(&minimal(set("Host", "")));
        assert_eq!(e, HandshakeError::MissingHost);
        let e = classify_err(&minimal(with("host: other.example")));
        assert_eq!(
            (e.clone(), e.status()),
            (HandshakeError::DuplicateHost, 400)
        );
    }

    #[test]
    fn hosts_checked() {
        for good in [
            "a",
            "example.com:8080",
            "EXAMPLE.com.",
            "127.0.0.1:9001",
            "[::1]",
            "[2001:db8::1]:443",
            "xn--bcher-kva.example",
            "my_host~1",
            "caf%C3%A9.example",
            "a:",
        ] {
            assert_eq!(check_host(good), Ok(()), "{good}");
            let text = minimal(set("Host", good));
            assert_eq!(upgrade(&text).host, good);
        }
        for bad in [
            "localhost/chat?nick=zed&",
            "a/b",
            "a?b",
            "a#b",
            "a\\b",
            "u@evil.com",
            "evil.com:80@good",
            "a:80:81",
            "a%4",
            "a%zz",
            "",
            ":80",
            "a:8o",
            "[::1",
            "[::1]x",
            "[not-ip]",
            "a\u{e9}",
        ] {
            assert_eq!(check_host(bad), Err(HandshakeError::InvalidHost), "{bad}");
        }
        let e = classify_err(&minimal(set("Host", "localhost/chat?nick=zed&")));
        assert_eq!((e.clone(), e.status()), (HandshakeError::InvalidHost, 400));
    }

    #[test]
    fn bodies_refused() {
        for line in [
            "Content-Length: 14",
            "Transfer-Encoding: chunked",
            "Content-Length: 00",
        ] {
            let e = classify_err(&minimal(with(line)));
            assert_eq!(
                (e.clone(), e.status()),
                (HandshakeError::UnexpectedBody, 400)
            );
        }
        upgrade(&minimal(with("Content-Length: 0")));
    }

    #[test]
    fn connection_errors() {
        let texts = [
            minimal(without("Connection")),
            minimal(set("Connection", "keep-alive")),
            minimal(set("Connection", "upgraded")),
        ];
        for text in texts {
            let e = classify_err(&text);
            assert_eq!(
                (e.clone(), e.status()),
                (HandshakeError::MissingConnectionUpgrade, 400)
            );
        }
    }

    #[test]
    fn key_errors() {
        let e = classify_err(&minimal(without("Sec-WebSocket-Key")));
        assert_eq!((e.clone(), e.status()), (HandshakeError::MissingKey, 400));
        let e = classify_err(&minimal(with(
            "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==",
        )));
        assert_eq!((e.clone(), e.status()), (HandshakeError::DuplicateKey, 400));
        for bad in [
            "",
            "abc",
            "dGhlIHNhbXBsZSBub25jZQ",
            "AAAAAAAAAAAAAAAAAAAAAAAA",
            "!!!!!!!!!!!!!!!!!!!!!!==",
        ] {
            let text = minimal(|l| {
                l.retain(|s| !s.starts_with("Sec-WebSocket-Key:"));
                l.push(format!("Sec-WebSocket-Key: {bad}"));
            });
            let e = classify_err(&text);
            assert_eq!(
                (e.clone(), e.status()),
                (HandshakeError::InvalidKey, 400),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn version_errors() {
        for bad in ["12", "7", "14", "13, 8", "013", "1 3", ""] {
            let text = minimal(|l| {
                l.retain(|s| !s.starts_with("Sec-WebSocket-Version:"));
                l.push(format!("Sec-WebSocket-Version: {bad}"));
            });
            let e = classify_err(&text);
            assert_eq!(e, HandshakeError::UnsupportedVersion, "{bad:?}");
            assert_eq!(e.status(), 426);
            let resp = String::from_utf8(e.to_response()).unwrap();
            assert!(resp.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
            assert!(resp.contains("\r\nSec-WebSocket-Version: 13, 8\r\n"));
        }
        let e = classify_err(&minimal(with("Sec-WebSocket-Version: 13")));
        assert_eq!(e, HandshakeError::UnsupportedVersion);

        let e = classify_err(&minimal(without("Sec-WebSocket-Version")));
        assert_eq!(
            (e.clone(), e.status()),
            (HandshakeError::MissingVersion, 400)
        );
        let resp = String::from_utf8(e.to_response()).unwrap();
        assert!(resp.contains("\r\nSec-WebSocket-Version: 13, 8\r\n"));
    }

    #[test]
    fn version_checked_before_key() {
        // A hixie-76 / future client with another key format learns our versions.
        let text = minimal(|l| {
            l.retain(|s| !s.starts_with("Sec-WebSocket-"));
            l.push("Sec-WebSocket-Version: 14".into());
            l.push("Sec-WebSocket-Key: not-a-key".into());
        });
        assert_eq!(classify_err(&text), HandshakeError::UnsupportedVersion);
    }

    #[test]
    fn version_8_origin() {
        let req = upgrade(&minimal(|l| {
            l.retain(|s| !s.starts_with("Sec-WebSocket-Version:"));
            l.push("Sec-WebSocket-Version: 8".into());
            l.push("Origin: http://plain".into());
            l.push("Sec-WebSocket-Origin: http://legacy".into());
        }));
        assert_eq!(req.version, 8);
        assert_eq!(req.origin.as_deref(), Some("http://legacy"));
        let req = upgrade(&minimal(|l| {
            l.retain(|s| !s.starts_with("Sec-WebSocket-Version:"));
            l.push("Sec-WebSocket-Version: 8".into());
            l.push("Origin: http://plain".into());
        }));
        assert_eq!(req.origin.as_deref(), Some("http://plain"));
        // Version 13 ignores Sec-WebSocket-Origin.
        let req = upgrade(&minimal(with("Sec-WebSocket-Origin: http://legacy")));
        assert_eq!(req.origin, None);
    }

    #[test]
    fn targets() {
        for (target, resource) in [
            ("/", "/"),
            ("/a/b?c=d&e", "/a/b?c=d&e"),
            ("//double", "//double"),
            ("ws://example.com/chat", "/chat"),
            ("WS://example.com", "/"),
            ("wss://example.com:443/x?y", "/x?y"),
            ("http://example.com?q=1", "/?q=1"),
            ("HTTPS://example.com/p", "/p"),
        ] {
            let text = minimal(|l| l[0] = format!("GET {target} HTTP/1.1"));
            assert_eq!(upgrade(&text).resource, resource, "{target}");
        }
        // An absolute-form target's authority takes the place of Host.
        let text = minimal(|l| l[0] = "GET ws://other.example:81/x HTTP/1.1".into());
        assert_eq!(upgrade(&text).host, "other.example:81");
        assert_eq!(upgrade(&minimal(|_| ())).host, "server.example.com");
        for bad in [
            "ws://a/b\\c",
            "/public\\..\\chat",
            "HTTPS://user@example.com/p",
        ] {
            let text = minimal(|l| l[0] = format!("GET {bad} HTTP/1.1"));
            assert_eq!(classify_err(&text), HandshakeError::InvalidTarget, "{bad}");
        }
        for bad in ["ws://a%/", "ws://[::1/", "ws://a:8x/", "ws://a:1:2/"] {
            let text = minimal(|l| l[0] = format!("GET {bad} HTTP/1.1"));
            assert_eq!(classify_err(&text), HandshakeError::InvalidHost, "{bad}");
        }
        for bad in [
            "*",
            "chat",
            "ftp://example.com/",
            "ws:///path",
            "ws://",
            "/chat#frag",
            "ws://a/b#c",
        ] {
            let text = minimal(|l| l[0] = format!("GET {bad} HTTP/1.1"));
            let e = classify_err(&text);
            assert_eq!(
                (e.clone(), e.status()),
                (HandshakeError::InvalidTarget, 400),
                "{bad}"
            );
        }
    }

    #[test]
    fn protocols_combined_and_ordered() {
        let req = upgrade(&minimal(|l| {
            l.push("Sec-WebSocket-Protocol: v2.chat, ,Chat".into());
            l.push("Sec-WebSocket-Protocol: superchat".into());
        }));
        assert_eq!(req.protocols, ["v2.chat", "Chat", "superchat"]);
    }

    #[test]
    fn malformed_protocol_and_extensions() {
        let e = classify_err(&minimal(with("Sec-WebSocket-Protocol: chat superchat")));
        assert_eq!(
            (e.clone(), e.status()),
            (
                HandshakeError::InvalidProtocolHeader(super::super::TokenError::UnexpectedChar {
                    at: 5
                }),
                400
            )
        );
        let e = classify_err(&minimal(with(
            "Sec-WebSocket-Extensions: permessage-deflate;",
        )));
        assert_eq!(e.status(), 400);
        assert!(matches!(e, HandshakeError::InvalidExtensionsHeader(_)));
        let e = classify_err(&minimal(with("Sec-WebSocket-Extensions: a; b=\"x y\"")));
        assert!(matches!(e, HandshakeError::InvalidExtensionsHeader(_)));
    }

    #[test]
    fn extensions_combined_over_lines() {
        let req = upgrade(&minimal(|l| {
            l.push(
                "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=\"10\""
                    .into(),
            );
            l.push("sec-websocket-extensions: x-foo".into());
        }));
        let names: Vec<_> = req.extensions.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["permessage-deflate", "x-foo"]);
        assert_eq!(req.extensions[0].params[0].1.as_deref(), Some("10"));
    }

    #[test]
    fn pipelined_bytes_left_unconsumed() {
        let head = minimal(|_| {});
        let mut buf = head.clone().into_bytes();
        buf.extend_from_slice(b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
        let (raw, used) = parse_head(&buf, &Limits::default()).unwrap().unwrap();
        assert_eq!(used, head.len());
        assert_eq!(
            &buf[used..],
            b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
        );
        assert!(matches!(classify(raw).unwrap(), Classified::Upgrade(_)));
        // A second pipelined request is not consumed either.
        let two = format!("{head}GET /next HTTP/1.1\r\n\r\n");
        let (_, used) = parse_head(two.as_bytes(), &Limits::default())
            .unwrap()
            .unwrap();
        assert_eq!(&two[used..], "GET /next HTTP/1.1\r\n\r\n");
    }

    #[test]
    fn byte_at_a_time() {
        let limits = Limits::default();
        let msg = format!("{FIREFOX}tail");
        let mut buf = Vec::new();
        let mut scanned = 0;
        let mut result = None;
        for &b in msg.as_bytes() {
            buf.push(b);
            // Same answer from parse_head alone and from the gated path.
            let direct = parse_head(&buf, &limits).unwrap();
            match super::super::find_head_end(&buf, scanned) {
                None => assert!(direct.is_none()),
                Some(end) => {
                    let (raw, used) = direct.unwrap();
                    assert_eq!(used, end);
                    result = Some((raw, used));
                    break;
                }
            }
            scanned = buf.len();
        }
        let (raw, used) = result.unwrap();
        assert_eq!(used, FIREFOX.len());
        assert!(matches!(classify(raw).unwrap(), Classified::Upgrade(_)));
    }

    #[test]
    fn size_limit() {
        let head = minimal(|_| {});
        let exact = Limits {
            max_size: head.len(),
            max_headers: 64,
        };
        assert!(parse_head(head.as_bytes(), &exact).unwrap().is_some());
        let small = Limits {
            max_size: head.len() - 1,
            max_headers: 64,
        };
        let e = parse_head(head.as_bytes(), &small).unwrap_err();
        assert_eq!((e.clone(), e.status()), (HandshakeError::HeadTooLarge, 431));
        // Incomplete and under the limit: wait; at the limit: reject.
        assert_eq!(parse_head(&head.as_bytes()[..10], &small), Ok(None));
        let e = parse_head(&head.as_bytes()[..small.max_size], &small).unwrap_err();
        assert_eq!(e, HandshakeError::HeadTooLarge);
        // A giant header line.
        let big = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(20_000));
        let e = parse_head(big.as_bytes(), &Limits::default()).unwrap_err();
        assert_eq!(e, HandshakeError::HeadTooLarge);
        let resp = String::from_utf8(e.to_response()).unwrap();
        assert!(resp.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    }

    #[test]
    fn header_count_limit() {
        let head = minimal(|_| {});
        let exact = Limits {
            max_size: 4096,
            max_headers: 5,
        };
        assert!(parse_head(head.as_bytes(), &exact).unwrap().is_some());
        let fewer = Limits {
            max_size: 4096,
            max_headers: 4,
        };
        let e = parse_head(head.as_bytes(), &fewer).unwrap_err();
        assert_eq!(
            (e.clone(), e.status()),
            (HandshakeError::TooManyHeaders, 431)
        );
        let none = Limits {
            max_size: 4096,
            max_headers: 0,
        };
        assert!(
            parse_head(b"GET / HTTP/1.1\r\n\r\n", &none)
                .unwrap()
                .is_some()
        );
        assert_eq!(
            parse_head(head.as_bytes(), &none),
            Err(HandshakeError::TooManyHeaders)
        );
    }

    #[test]
    fn malformed_heads() {
        let limits = Limits::default();
        for bad in [
            &b"GET / HTTP/2.0\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
            b"GET / HTTP/1.1\r\n: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n",
            b"GET  / HTTP/1.1\r\n\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: a\0b\r\n\r\n",
            b"\r\n\r\n",
            // A bare CR is no line ending.
            b"GET / HTTP/1.1\rHost: a\r\r\n\r\n",
        ] {
            let e = parse_head(bad, &limits).unwrap_err();
            assert_eq!(
                (e.clone(), e.status()),
                (HandshakeError::Malformed, 400),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn bare_lf_line_endings_accepted() {
        for head in [
            &b"GET /x HTTP/1.1\nHost: a\nX: 1\n\nnext"[..],
            b"GET /x HTTP/1.1\r\nHost: a\nX: 1\r\n\nnext",
            b"GET /x HTTP/1.1\nHost: a\nX: 1\n\r\nnext",
        ] {
            let (raw, used) = parse_head(head, &Limits::default()).unwrap().unwrap();
            assert_eq!((raw.target.as_str(), raw.header("x")), ("/x", Some("1")));
            assert_eq!(&head[used..], b"next", "{head:?}");
        }
    }

    #[test]
    fn non_utf8_header_values_read_as_latin1() {
        let (raw, _) = parse_head(
            b"GET / HTTP/1.1\r\nCookie: caf\xe9=\xff\xfe\r\nX-Name: h\xc3\xa9\r\n\r\n",
            &Limits::default(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(raw.header("cookie"), Some("caf\u{e9}=\u{ff}\u{fe}"));
        assert_eq!(raw.header("x-name"), Some("h\u{e9}")); // valid UTF-8 stays UTF-8
    }

    #[test]
    fn utf8_header_values_kept() {
        let raw = parse("GET / HTTP/1.1\r\nX-Name: h\u{e9}llo\r\nX-Pad: \t a b \t\r\n\r\n");
        assert_eq!(raw.header("x-name"), Some("h\u{e9}llo"));
        assert_eq!(raw.header("x-pad"), Some("a b"));
        assert_eq!(raw.header_all("x-missing").count(), 0);
    }

    #[test]
    fn large_hostile_heads_finish() {
        let limits = Limits {
            max_size: 1 << 20,
            max_headers: 100_000,
        };
        let junk = vec![b','; 1 << 20];
        assert_eq!(
            parse_head(&junk, &limits),
            Err(HandshakeError::TargetTooLong)
        );
        assert_eq!(HandshakeError::TargetTooLong.status(), 414);
        let many = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{}\r\n",
            "Sec-WebSocket-Protocol: ,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,\r\n".repeat(10_000)
        );
        let (raw, _) = parse_head(many.as_bytes(), &limits).unwrap().unwrap();
        let Classified::Upgrade(req) = classify(raw).unwrap() else {
            panic!()
        };
        assert!(req.protocols.is_empty());
        let ext = minimal(|l| {
            l.push(format!(
                "Sec-WebSocket-Extensions: a{}",
                "; b=\"\\c\"".repeat(100_000)
            ));
        });
        let (raw, _) = parse_head(ext.as_bytes(), &limits).unwrap().unwrap();
        let Classified::Upgrade(req) = classify(raw).unwrap() else {
            panic!()
        };
        assert_eq!(req.extensions[0].params.len(), 100_000);
    }

    proptest! {
        /// Whatever `check_host` accepts cannot change anything but the host
        /// and port of a URL built by pasting it in front of a path, the way
        /// the request's URL is built.
        #[test]
        fn accepted_hosts_cannot_inject_url_parts(
            host in "[a-z0-9\\[\\]:@/?#%.\\\\!$&'()*+,;=_~ -]{0,16}",
        ) {
            if check_host(&host).is_ok()
                && let Ok(url) = http_types::Url::parse(&format!("ws://{host}/p?q"))
            {
                prop_assert_eq!(url.path(), "/p");
                prop_assert_eq!(url.query(), Some("q"));
                prop_assert_eq!(url.username(), "");
                prop_assert_eq!(url.password(), None);
                prop_assert_eq!(url.fragment(), None);
            }
        }

        #[test]
        fn parse_head_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let limits = Limits { max_size: 256, max_headers: 8 };
            if let Ok(Some((raw, used))) = parse_head(&bytes, &limits) {
                prop_assert!(used <= bytes.len());
                let _ = classify(raw);
            }
        }

        #[test]
        fn parse_head_never_panics_on_near_http(
            lines in proptest::collection::vec("[A-Za-z:/ ,;=.\\-\t\u{80}-\u{10ffff}]{0,24}", 0..8)
        ) {
            let text = format!("GET / HTTP/1.1\r\n{}\r\n\r\n", lines.join("\r\n"));
            if let Ok(Some((raw, _))) = parse_head(text.as_bytes(), &Limits::default()) {
                let _ = classify(raw);
            }
        }

        #[test]
        fn split_point_does_not_matter(split in 0usize..400) {
            let msg = format!("{CHROMIUM}pipelined");
            let split = split.min(msg.len());
            let limits = Limits::default();
            let first = parse_head(&msg.as_bytes()[..split], &limits).unwrap();
            if split < CHROMIUM.len() {
                prop_assert!(first.is_none());
            }
            let (_, used) = parse_head(msg.as_bytes(), &limits).unwrap().unwrap();
            prop_assert_eq!(used, CHROMIUM.len());
        }
    }
}
