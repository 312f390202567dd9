//! The client side: building the opening request and checking the server's
//! answer (RFC 6455 §4.1).

use super::HandshakeError;
use super::head::{Limits, check_complete, convert_headers, locate_head, map_parse_error};
use super::headers::header_values;
use super::key::accept_key;
use super::response::{push_extra_headers, push_header, push_optional, sanitize_header_value};
use super::tokens::{ExtensionOffer, list_contains_token, parse_extensions, parse_token_list};

/// Headers `client_request` writes itself; extra headers with these names
/// are dropped.
const REQUEST_RESERVED: &[&str] = &[
    "Host",
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
    "Sec-WebSocket-Protocol",
    "Sec-WebSocket-Extensions",
    "Origin",
    "Content-Length",
    "Transfer-Encoding",
];

/// Builds the client's opening handshake (version 13).
///
/// `resource` is the path and query; bytes that cannot appear in a
/// request-target (controls, space, `#`, non-ASCII) are percent-encoded and a
/// leading `/` is added if missing. `protocols` are joined into one
/// `Sec-WebSocket-Protocol` header (omitted when empty); they should be
/// tokens, or the server will reject the request. Header values are
/// sanitized; extra headers with invalid or reserved names are dropped.
///
/// ```
/// use wsgate::handshake::{client_request, generate_key};
///
/// let key = generate_key(*b"the sample nonce");
/// let req = client_request("server.example.com", "/chat", &key, &["chat".into()], None, None, &[]);
/// assert_eq!(
///     req,
///     b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
///       Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
///       Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
/// );
/// ```
pub fn client_request(
    host: &str,
    resource: &str,
    key: &str,
    protocols: &[String],
    extensions: Option<&str>,
    origin: Option<&str>,
    extra_headers: &[(String, String)],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"GET ");
    push_resource(&mut out, resource);
    out.extend_from_slice(b" HTTP/1.1\r\n");
    push_header(&mut out, "Host", host);
    push_header(&mut out, "Upgrade", "websocket");
    push_header(&mut out, "Connection", "Upgrade");
    push_header(&mut out, "Sec-WebSocket-Key", key);
    push_header(&mut out, "Sec-WebSocket-Version", "13");
    push_optional(&mut out, "Origin", origin);
    push_optional(
        &mut out,
        "Sec-WebSocket-Protocol",
        Some(&protocols.join(", ")),
    );
    push_optional(&mut out, "Sec-WebSocket-Extensions", extensions);
    push_extra_headers(&mut out, extra_headers, REQUEST_RESERVED);
    out.extend_from_slice(b"\r\n");
    out
}

/// Writes `resource` as an origin-form request-target.
fn push_resource(out: &mut Vec<u8>, resource: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    if !resource.starts_with('/') {
        out.push(b'/');
    }
    for b in resource.bytes() {
        if b <= b' ' || b == b'#' || b >= 0x7f {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
        } else {
            out.push(b);
        }
    }
}

/// A parsed HTTP/1.x response head.
///
/// [`parse_response`] makes one from the bytes a client reads;
/// [`validate_response`] then checks that it accepts the handshake.
///
/// # Examples
///
/// ```
/// use wsgate::handshake::{Limits, parse_response};
///
/// let buf = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
/// let (resp, _) = parse_response(buf, &Limits::default())?.unwrap();
/// assert_eq!((resp.status, resp.reason.as_str(), resp.http_minor), (404, "Not Found", 1));
/// assert_eq!(resp.headers, [("Content-Length".to_owned(), "0".to_owned())]);
/// # Ok::<(), wsgate::handshake::HandshakeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    /// Status code, e.g. 101.
    pub status: u16,
    /// Reason phrase as sent.
    pub reason: String,
    /// Minor HTTP version: `1` for HTTP/1.1.
    pub http_minor: u8,
    /// Headers in order: names as sent, values trimmed of surrounding
    /// whitespace.
    pub headers: Vec<(String, String)>,
}

impl RawResponse {
    /// The first value of header `name` (ASCII case-insensitive).
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::handshake::{Limits, parse_response};
    ///
    /// let buf = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\n\r\n";
    /// let (resp, _) = parse_response(buf, &Limits::default())?.unwrap();
    /// assert_eq!(resp.header("retry-after"), Some("5"));
    /// assert_eq!(resp.header("Upgrade"), None);
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
    /// use wsgate::handshake::{Limits, parse_response};
    ///
    /// let buf = b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\n\r\n";
    /// let (resp, _) = parse_response(buf, &Limits::default())?.unwrap();
    /// assert_eq!(resp.header_all("Set-Cookie").collect::<Vec<_>>(), ["a=1", "b=2"]);
    /// # Ok::<(), wsgate::handshake::HandshakeError>(())
    /// ```
    pub fn header_all(&self, name: &str) -> impl Iterator<Item = &str> {
        header_values(&self.headers, name)
    }
}

/// Parses a response head from the start of `buf`, with the same contract
/// as [`parse_head`](super::parse_head): `Ok(None)` while incomplete and
/// under `limits.max_size`, else the head and the bytes it used (anything
/// after is the server's first WebSocket data).
///
/// # Errors
///
/// [`HandshakeError::HeadTooLarge`], [`HandshakeError::TooManyHeaders`] or
/// [`HandshakeError::Malformed`], as for `parse_head`.
///
/// ```
/// use wsgate::handshake::{parse_response, Limits};
///
/// let buf = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x00";
/// let (resp, used) = parse_response(buf, &Limits::default())?.unwrap();
/// assert_eq!(resp.status, 101);
/// assert_eq!(&buf[used..], b"\x81\x00");
/// # Ok::<(), wsgate::handshake::HandshakeError>(())
/// ```
pub fn parse_response(
    buf: &[u8],
    limits: &Limits,
) -> Result<Option<(RawResponse, usize)>, HandshakeError> {
    // A status line that does not end is a head too large, not a target.
    let located = locate_head(buf, limits).map_err(|e| match e {
        HandshakeError::TargetTooLong => HandshakeError::HeadTooLarge,
        e => e,
    });
    let Some(end) = located? else {
        return Ok(None);
    };
    let mut headers = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut resp = httparse::Response::new(&mut headers);
    check_complete(resp.parse(&buf[..end]).map_err(map_parse_error)?, end)?;
    let (Some(status), Some(http_minor)) = (resp.code, resp.version) else {
        return Err(HandshakeError::Malformed);
    };
    let raw = RawResponse {
        status,
        reason: resp.reason.unwrap_or_default().to_owned(),
        http_minor,
        headers: convert_headers(resp.headers),
    };
    Ok(Some((raw, end)))
}

/// What the server agreed to in a valid 101 response.
///
/// [`validate_response`] returns it once the response passes every check:
/// the subprotocol and extensions the connection then runs with.
///
/// # Examples
///
/// ```
/// use wsgate::handshake::{Limits, parse_response, validate_response};
///
/// let buf = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
///     Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
///     Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n\r\n";
/// let (raw, _) = parse_response(buf, &Limits::default())?.unwrap();
/// let accepted = validate_response(&raw, "dGhlIHNhbXBsZSBub25jZQ==", &["chat".into()])?;
/// assert_eq!(accepted.protocol, None); // the server chose no subprotocol
/// assert_eq!(accepted.extensions[0].name, "permessage-deflate");
/// assert_eq!(accepted.headers.len(), 4);
/// # Ok::<(), wsgate::handshake::HandshakeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedResponse {
    /// The selected subprotocol, one of those offered.
    pub protocol: Option<String>,
    /// The extensions the server accepted, in order. Checking them against
    /// what was offered is up to the caller.
    pub extensions: Vec<ExtensionOffer>,
    /// All response headers.
    pub headers: Vec<(String, String)>,
}

/// Checks the server's response against RFC 6455 §4.1: status 101, HTTP/1.1
/// or later, `Upgrade: websocket` (exactly that one protocol),
/// `Connection` containing `Upgrade`, the right `Sec-WebSocket-Accept` for
/// `key`, at most one selected subprotocol and only one that was offered
/// (exact match), and a well-formed `Sec-WebSocket-Extensions`.
///
/// An empty `Sec-WebSocket-Protocol` counts as none selected.
///
/// # Errors
///
/// The first failed check, as a client-side [`HandshakeError`]; a non-101
/// status gives [`HandshakeError::Rejected`] with the
/// `X-WebSocket-Reject-Reason` header, if any.
///
/// ```
/// use wsgate::handshake::{parse_response, validate_response, HandshakeError, Limits};
///
/// let buf = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
///     Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
///     Sec-WebSocket-Protocol: chat\r\n\r\n";
/// let (raw, _) = parse_response(buf, &Limits::default())?.unwrap();
/// let accepted = validate_response(&raw, "dGhlIHNhbXBsZSBub25jZQ==", &["chat".into()])?;
/// assert_eq!(accepted.protocol.as_deref(), Some("chat"));
///
/// let buf = b"HTTP/1.1 302 Found\r\nLocation: ws://elsewhere/\r\n\
///     X-WebSocket-Reject-Reason: moved\r\n\r\n";
/// let (raw, _) = parse_response(buf, &Limits::default())?.unwrap();
/// let Err(HandshakeError::Rejected { status, reason, headers }) =
///     validate_response(&raw, "dGhlIHNhbXBsZSBub25jZQ==", &[])
/// else {
///     panic!("not a rejection")
/// };
/// assert_eq!((status, reason.as_deref()), (302, Some("moved")));
/// assert_eq!(headers[0], ("Location".to_owned(), "ws://elsewhere/".to_owned()));
/// # Ok::<(), HandshakeError>(())
/// ```
pub fn validate_response(
    raw: &RawResponse,
    key: &str,
    offered_protocols: &[String],
) -> Result<AcceptedResponse, HandshakeError> {
    if raw.status != 101 {
        return Err(HandshakeError::Rejected {
            status: raw.status,
            reason: raw
                .header("X-WebSocket-Reject-Reason")
                .map(|reason| sanitize_header_value(&percent_decode(reason))),
            headers: raw.headers.clone(),
        });
    }
    if raw.http_minor < 1 {
        return Err(HandshakeError::BadHttpVersion);
    }
    let mut upgrades = raw
        .header_all("Upgrade")
        .flat_map(|v| v.split(','))
        .map(|p| p.trim_matches([' ', '\t']))
        .filter(|p| !p.is_empty());
    match (upgrades.next(), upgrades.next()) {
        (Some(p), None) if p.eq_ignore_ascii_case("websocket") => {}
        _ => return Err(HandshakeError::InvalidUpgradeHeader),
    }
    if !raw
        .header_all("Connection")
        .any(|v| list_contains_token(v, "upgrade"))
    {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    let mut accepts = raw.header_all("Sec-WebSocket-Accept");
    match (accepts.next(), accepts.next()) {
        (None, _) => return Err(HandshakeError::MissingAccept),
        (Some(v), None) if v == accept_key(key.as_bytes()) => {}
        _ => return Err(HandshakeError::AcceptMismatch),
    }
    let mut selected = Vec::new();
    for value in raw.header_all("Sec-WebSocket-Protocol") {
        selected.extend(parse_token_list(value).map_err(HandshakeError::InvalidProtocolHeader)?);
    }
    let protocol = match selected.as_slice() {
        [] => None,
        [p] if offered_protocols.iter().any(|o| o == p) => Some((*p).to_owned()),
        [p] => return Err(HandshakeError::UnexpectedProtocol((*p).to_owned())),
        _ => return Err(HandshakeError::MultipleProtocols),
    };
    let mut extensions = Vec::new();
    for value in raw.header_all("Sec-WebSocket-Extensions") {
        extensions
            .extend(parse_extensions(value).map_err(HandshakeError::InvalidExtensionsHeader)?);
    }
    Ok(AcceptedResponse {
        protocol,
        extensions,
        headers: raw.headers.clone(),
    })
}

/// Decodes `%XX` escapes (wsgate percent-encodes non-ASCII reasons);
/// anything that is not a valid escape or valid UTF-8 is kept as it is.
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::super::{Classified, accept_response, classify, error_response, parse_head};
    use super::*;
    use proptest::prelude::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    fn raw(text: &str) -> RawResponse {
        let (raw, used) = parse_response(text.as_bytes(), &Limits::default())
            .unwrap()
            .unwrap();
        assert_eq!(used, text.len());
        raw
    }

    fn response(extra: &str) -> String {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {ACCEPT}\r\n{extra}\r\n"
        )
    }

    fn offered(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn request_format() {
        let req = client_request(
            "example.com:8080",
            "/chat?room=1",
            KEY,
            &offered(&["chat", "superchat"]),
            Some("permessage-deflate; client_max_window_bits"),
            Some("http://example.com"),
            &[("User-Agent".into(), "wsgate".into())],
        );
        assert_eq!(
            String::from_utf8(req).unwrap(),
            "GET /chat?room=1 HTTP/1.1\r\n\
             Host: example.com:8080\r\n\
             Upgrade: websocket\r\n\
             Connection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\
             Origin: http://example.com\r\n\
             Sec-WebSocket-Protocol: chat, superchat\r\n\
             Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
             User-Agent: wsgate\r\n\
             \r\n"
        );
    }

    #[test]
    fn request_resource_and_injection() {
        let req = client_request(
            "a\r\nX-Injected: 1",
            "chat room#frag\r\nX-Evil: 1 HTTP/1.1\u{e9}",
            KEY,
            &[],
            None,
            None,
            &[
                ("Host".into(), "other".into()),
                ("X-Bad\r\nName".into(), "v".into()),
                ("X-Ok".into(), "v\r\nX-Evil2: 1".into()),
            ],
        );
        let text = String::from_utf8(req.clone()).unwrap();
        assert!(
            text.starts_with(
                "GET /chat%20room%23frag%0D%0AX-Evil:%201%20HTTP/1.1%C3%A9 HTTP/1.1\r\n"
            )
        );
        let (raw, _) = parse_head(&req, &Limits::default()).unwrap().unwrap();
        let names: Vec<_> = raw.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "Host",
                "Upgrade",
                "Connection",
                "Sec-WebSocket-Key",
                "Sec-WebSocket-Version",
                "X-Ok"
            ]
        );
        assert_eq!(raw.header("host"), Some("a  X-Injected: 1"));
        assert_eq!(raw.header("x-ok"), Some("v  X-Evil2: 1"));
        // Empty resource and query-only resource.
        assert!(
            client_request("h", "", KEY, &[], None, None, &[]).starts_with(b"GET / HTTP/1.1\r\n")
        );
        assert!(
            client_request("h", "?a=b", KEY, &[], None, None, &[])
                .starts_with(b"GET /?a=b HTTP/1.1\r\n")
        );
    }

    #[test]
    fn client_request_is_accepted_by_classify() {
        let req = client_request(
            "example.com",
            "/chat",
            KEY,
            &offered(&["chat"]),
            Some("permessage-deflate"),
            Some("http://example.com"),
            &[],
        );
        let (raw, _) = parse_head(&req, &Limits::default()).unwrap().unwrap();
        let Classified::Upgrade(up) = classify(raw).unwrap() else {
            panic!()
        };
        assert_eq!(up.key, KEY);
        assert_eq!(up.protocols, ["chat"]);
        assert_eq!(up.origin.as_deref(), Some("http://example.com"));
    }

    #[test]
    fn end_to_end_with_accept_response() {
        let bytes = accept_response(
            KEY,
            Some("chat"),
            Some("permessage-deflate; server_no_context_takeover"),
            &[],
        );
        let (raw, _) = parse_response(&bytes, &Limits::default()).unwrap().unwrap();
        let ok = validate_response(&raw, KEY, &offered(&["superchat", "chat"])).unwrap();
        assert_eq!(ok.protocol.as_deref(), Some("chat"));
        assert_eq!(
            ok.extensions[0].to_string(),
            "permessage-deflate; server_no_context_takeover"
        );
        assert_eq!(ok.headers.len(), 5);
    }

    #[test]
    fn valid_minimal_response() {
        let ok = validate_response(&raw(&response("")), KEY, &[]).unwrap();
        assert_eq!(ok.protocol, None);
        assert!(ok.extensions.is_empty());
        // Case-insensitive names and values; Connection among others.
        let text = format!(
            "HTTP/1.1 101 OK\r\nupgrade: WebSocket\r\nconnection: keep-alive, UPGRADE\r\n\
             sec-websocket-accept: {ACCEPT}\r\nSec-WebSocket-Protocol: \r\n\r\n"
        );
        assert_eq!(
            validate_response(&raw(&text), KEY, &[]).unwrap().protocol,
            None
        );
    }

    #[test]
    fn rejected_with_reason() {
        let rejection = |bytes: &[u8]| {
            let (raw, _) = parse_response(bytes, &Limits::default()).unwrap().unwrap();
            match validate_response(&raw, KEY, &[]) {
                Err(HandshakeError::Rejected {
                    status,
                    reason,
                    headers,
                }) => (status, reason, headers),
                other => panic!("{other:?}"),
            }
        };
        let (status, reason, headers) = rejection(
            b"HTTP/1.1 403 Forbidden\r\nX-WebSocket-Reject-Reason: origin not allowed\r\n\r\n",
        );
        assert_eq!(
            (status, reason.as_deref()),
            (403, Some("origin not allowed"))
        );
        assert_eq!(headers.len(), 1);
        let (status, reason, headers) = rejection(b"HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!((status, reason, headers.len()), (200, None, 0));
        // Percent-encoded reasons are decoded, but escapes cannot make
        // line breaks or other control characters (log forging).
        let (_, reason, _) = rejection(
            b"HTTP/1.1 403 Forbidden\r\nX-WebSocket-Reject-Reason: caf%C3%A9 100%25 %zz\r\n\r\n",
        );
        assert_eq!(reason.as_deref(), Some("café 100% %zz"));
        let (_, reason, _) =
            rejection(b"HTTP/1.1 400 Bad\r\nX-WebSocket-Reject-Reason: a%0D%0Ab%00c\r\n\r\n");
        assert_eq!(reason.as_deref(), Some("a  b c"));
        // A redirect's and an authentication challenge's headers are there.
        let (status, _, headers) =
            rejection(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"x\"\r\n\r\n");
        assert_eq!(status, 401);
        assert_eq!(
            headers,
            [("WWW-Authenticate".into(), "Basic realm=\"x\"".into())]
        );
        // Our own error responses round-trip into Rejected.
        let bytes = error_response(
            426,
            &[("X-WebSocket-Reject-Reason".into(), "old\r\nclient".into())],
            "x",
        );
        let (r, used) = parse_response(&bytes, &Limits::default()).unwrap().unwrap();
        assert_eq!(&bytes[used..], b"x");
        let Err(HandshakeError::Rejected { status, reason, .. }) = validate_response(&r, KEY, &[])
        else {
            panic!("not a rejection");
        };
        assert_eq!((status, reason.as_deref()), (426, Some("old  client")));
    }

    #[test]
    fn bad_responses() {
        use HandshakeError::*;
        let v = |text: &str, offer: &[&str]| validate_response(&raw(text), KEY, &offered(offer));
        let base = |lines: &[&str]| {
            format!(
                "HTTP/1.1 101 Switching Protocols\r\n{}\r\n\r\n",
                lines.join("\r\n")
            )
        };
        let accept = format!("Sec-WebSocket-Accept: {ACCEPT}");
        let a = accept.as_str();
        assert_eq!(
            v(&base(&["Connection: Upgrade", a]), &[]),
            Err(InvalidUpgradeHeader)
        );
        assert_eq!(
            v(&base(&["Upgrade: h2c", "Connection: Upgrade", a]), &[]),
            Err(InvalidUpgradeHeader)
        );
        assert_eq!(
            v(
                &base(&["Upgrade: websocket, h2c", "Connection: Upgrade", a]),
                &[]
            ),
            Err(InvalidUpgradeHeader)
        );
        assert_eq!(
            v(
                &base(&[
                    "Upgrade: websocket",
                    "Upgrade: websocket",
                    "Connection: Upgrade",
                    a
                ]),
                &[]
            ),
            Err(InvalidUpgradeHeader)
        );
        assert_eq!(
            v(&base(&["Upgrade: websocket", a]), &[]),
            Err(MissingConnectionUpgrade)
        );
        assert_eq!(
            v(&base(&["Upgrade: websocket", "Connection: close", a]), &[]),
            Err(MissingConnectionUpgrade)
        );
        assert_eq!(
            v(&base(&["Upgrade: websocket", "Connection: Upgrade"]), &[]),
            Err(MissingAccept)
        );
        assert_eq!(
            v(
                &base(&[
                    "Upgrade: websocket",
                    "Connection: Upgrade",
                    "Sec-WebSocket-Accept: AAAA"
                ]),
                &[]
            ),
            Err(AcceptMismatch)
        );
        assert_eq!(
            v(
                &base(&["Upgrade: websocket", "Connection: Upgrade", a, a]),
                &[]
            ),
            Err(AcceptMismatch)
        );
        let lower = format!("Sec-WebSocket-Accept: {}", ACCEPT.to_lowercase());
        assert_eq!(
            v(
                &base(&["Upgrade: websocket", "Connection: Upgrade", &lower]),
                &[]
            ),
            Err(AcceptMismatch)
        );
        assert_eq!(
            v(&response("Sec-WebSocket-Protocol: chat\r\n"), &[]),
            Err(UnexpectedProtocol("chat".into()))
        );
        assert_eq!(
            v(&response("Sec-WebSocket-Protocol: Chat\r\n"), &["chat"]),
            Err(UnexpectedProtocol("Chat".into()))
        );
        assert_eq!(
            v(
                &response("Sec-WebSocket-Protocol: chat, superchat\r\n"),
                &["chat", "superchat"]
            ),
            Err(MultipleProtocols)
        );
        assert_eq!(
            v(
                &response("Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: chat\r\n"),
                &["chat"]
            ),
            Err(MultipleProtocols)
        );
        assert!(matches!(
            v(&response("Sec-WebSocket-Protocol: a b\r\n"), &["a"]),
            Err(InvalidProtocolHeader(_))
        ));
        assert!(matches!(
            v(&response("Sec-WebSocket-Extensions: a;\r\n"), &[]),
            Err(InvalidExtensionsHeader(_))
        ));
        let old = response("").replace("HTTP/1.1", "HTTP/1.0");
        assert_eq!(v(&old, &[]), Err(BadHttpVersion));
    }

    #[test]
    fn response_parse_limits_and_incremental() {
        let text = response("Sec-WebSocket-Protocol: chat\r\n");
        let limits = Limits::default();
        for i in 0..text.len() {
            assert_eq!(parse_response(&text.as_bytes()[..i], &limits), Ok(None));
        }
        let small = Limits {
            max_size: text.len() - 1,
            max_headers: 64,
        };
        assert_eq!(
            parse_response(text.as_bytes(), &small),
            Err(HandshakeError::HeadTooLarge)
        );
        let few = Limits {
            max_size: 4096,
            max_headers: 3,
        };
        assert_eq!(
            parse_response(text.as_bytes(), &few),
            Err(HandshakeError::TooManyHeaders)
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 abc OK\r\n\r\n", &limits),
            Err(HandshakeError::Malformed)
        );
        assert_eq!(
            parse_response(b"GET / HTTP/1.1\r\n\r\n", &limits),
            Err(HandshakeError::Malformed)
        );
    }

    proptest! {
        #[test]
        fn parse_and_validate_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let limits = Limits { max_size: 256, max_headers: 8 };
            if let Ok(Some((raw, used))) = parse_response(&bytes, &limits) {
                prop_assert!(used <= bytes.len());
                let _ = validate_response(&raw, KEY, &offered(&["chat"]));
            }
        }

        #[test]
        fn client_request_always_parses(
            host in any::<String>(),
            resource in any::<String>(),
            origin in any::<String>(),
            name in any::<String>(),
            value in any::<String>(),
        ) {
            let req = client_request(&host, &resource, KEY, &[], None, Some(&origin), &[(name, value)]);
            let (raw, used) = parse_head(&req, &Limits::default()).unwrap().unwrap();
            prop_assert_eq!(used, req.len());
            prop_assert!(raw.target.starts_with('/'));
            prop_assert!(raw.headers.len() <= 7);
        }
    }
}
