//! Checking a response head the application wrote itself (the raw
//! handshake): before a byte of it is sent, it must be one well-formed
//! HTTP/1.1 head that either accepts this request as RFC 6455 demands or
//! rejects it.

use std::fmt;

use super::Limits;
#[cfg(feature = "deflate")]
use super::deflate::{DeflateNegotiationError, DeflateParams};
use super::key::accept_key;
use super::request::UpgradeRequest;
use super::tokens::{ExtensionOffer, TokenError, is_token, list_contains_token, parse_extensions};

/// What a valid raw response does: accept the request (a 101), or reject
/// it (any status from 300 to 599).
///
/// # Examples
///
/// ```
/// use wsgate::handshake::{check_raw_response, Classified, Limits, RawDecision, classify,
///     parse_head};
///
/// let head = b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
///     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
/// let (raw, _) = parse_head(head, &Limits::default())?.unwrap();
/// let Classified::Upgrade(request) = classify(raw)? else { unreachable!() };
///
/// let answer = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n".to_vec();
/// match check_raw_response(answer, &request, &Limits::default(), true) {
///     Ok(RawDecision::Reject { status, response }) => {
///         assert_eq!(status, 403);
///         assert!(response.starts_with(b"HTTP/1.1 403"));
///     }
///     other => panic!("{other:?}"),
/// }
/// # Ok::<(), wsgate::handshake::HandshakeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RawDecision {
    /// A valid `101 Switching Protocols`.
    Accept(RawAccept),
    /// A rejection: send `response` as it is, then close.
    Reject {
        /// Its status, 300..=599.
        status: u16,
        /// The response, unchanged.
        response: Vec<u8>,
    },
}

/// A valid raw 101, and what it agrees to.
///
/// # Examples
///
/// ```
/// use wsgate::handshake::{check_raw_response, accept_key, Classified, Limits, RawDecision,
///     classify, parse_head};
///
/// let head = b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
///     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
///     Sec-WebSocket-Protocol: Chat\r\n\r\n";
/// let (raw, _) = parse_head(head, &Limits::default())?.unwrap();
/// let Classified::Upgrade(request) = classify(raw)? else { unreachable!() };
///
/// // No Sec-WebSocket-Accept: wsgate fills it in.
/// let answer = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
///     Connection: Upgrade\r\nSec-WebSocket-Protocol: Chat\r\n\r\n".to_vec();
/// let Ok(RawDecision::Accept(accepted)) =
///     check_raw_response(answer, &request, &Limits::default(), true)
/// else {
///     panic!("a valid 101")
/// };
/// assert_eq!(accepted.protocol.as_deref(), Some("Chat"));
/// assert!(accepted.response.ends_with(
///     b"Sec-WebSocket-Protocol: Chat\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
/// ));
/// # Ok::<(), wsgate::handshake::HandshakeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RawAccept {
    /// The response to send: the application's bytes, with a
    /// `Sec-WebSocket-Accept` header added before the blank line when it
    /// had none.
    pub response: Vec<u8>,
    /// The subprotocol it selects, spelled as the client offered it.
    pub protocol: Option<String>,
    /// The extensions it accepts, parsed.
    pub extensions: Vec<ExtensionOffer>,
    /// The permessage-deflate parameters it agrees to, to configure the
    /// connection's codec with.
    #[cfg(feature = "deflate")]
    pub deflate: Option<DeflateParams>,
}

/// Why a raw response head cannot be sent. The client is answered with a
/// 500 instead (see
/// [`WebSocketRequest::accept_raw`](crate::WebSocketRequest::accept_raw)).
///
/// Offsets count bytes from the start of the response; line numbers count
/// from 1, the status line.
///
/// # Examples
///
/// ```
/// use wsgate::handshake::RawResponseError;
///
/// let e = RawResponseError::BareLf { offset: 17 };
/// assert_eq!(e.to_string(), "bare LF at byte 17 (lines end with CRLF)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RawResponseError {
    /// Longer than the limit (bytes; the handshake size limit).
    TooLarge {
        /// The response's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// More header fields than the limit.
    TooManyHeaders {
        /// The limit.
        max: usize,
    },
    /// No blank line (`CRLF CRLF`) ends the head.
    Incomplete,
    /// Bytes after the blank line: a body or a second response, which a
    /// raw answer may not carry.
    TrailingBytes {
        /// Where they start.
        offset: usize,
    },
    /// A NUL byte.
    Nul {
        /// Where.
        offset: usize,
    },
    /// A CR not followed by LF.
    BareCr {
        /// Where.
        offset: usize,
    },
    /// An LF not preceded by CR.
    BareLf {
        /// Where.
        offset: usize,
    },
    /// A control character (other than a tab) in a header value or the
    /// reason phrase.
    ControlCharacter {
        /// The line.
        line: usize,
        /// The byte.
        byte: u8,
    },
    /// The status line is not `HTTP/1.1 <3 digits> [reason]`, or its status
    /// is outside 100..=599.
    InvalidStatusLine,
    /// A status a handshake cannot answer with: 1xx other than 101 (the
    /// connection would stay an HTTP one), or 2xx.
    StatusNotAllowed(u16),
    /// A header line that begins with a space or tab: obsolete line
    /// folding, which RFC 9112 §5.2 forbids in responses.
    ObsFold {
        /// The line.
        line: usize,
    },
    /// A header line without a colon, or whose name is not a token
    /// (whitespace before the colon included).
    InvalidHeaderLine {
        /// The line.
        line: usize,
    },
    /// A header that may appear once appears more than once.
    DuplicateHeader(&'static str),
    /// A body is announced (`Transfer-Encoding`, or a `Content-Length` on a
    /// 101 or other than 0 on a rejection), but a raw answer has none.
    UnexpectedBody,
    /// A 101 without `Upgrade: websocket`: the header is missing or names
    /// something else (the value found).
    InvalidUpgrade(Option<String>),
    /// A 101 whose `Connection` lacks the `Upgrade` token.
    MissingConnectionUpgrade,
    /// A 101 whose `Sec-WebSocket-Accept` is not the one for this
    /// request's key.
    AcceptMismatch,
    /// A 101 selecting more than one subprotocol (a list).
    MultipleProtocols,
    /// A 101 selecting a subprotocol the client did not offer (compared
    /// byte for byte, as browsers do).
    ProtocolNotOffered(String),
    /// A 101 selecting a subprotocol the client offered with other
    /// capitals: browsers compare byte for byte and would fail the
    /// connection. `WebSocketRequest::offered_protocols` has the
    /// spelling the client sent.
    ProtocolSpelling {
        /// The subprotocol in the response.
        chosen: String,
        /// The client's spelling of it.
        offered: String,
    },
    /// A 101 whose `Sec-WebSocket-Extensions` does not follow RFC 6455
    /// §9.1.
    InvalidExtensions(TokenError),
    /// A 101 accepting an extension the client did not offer.
    ExtensionNotOffered(String),
    /// A 101 accepting an extension the client offered but wsgate does not
    /// implement (anything but permessage-deflate; permessage-deflate too
    /// without the `deflate` feature or with it disabled in the config).
    ExtensionNotSupported(String),
    /// A 101 accepting the same extension twice.
    DuplicateExtension(String),
    /// A 101 whose permessage-deflate parameters are invalid, or not
    /// allowed by any of the client's offers.
    #[cfg(feature = "deflate")]
    InvalidDeflate(DeflateNegotiationError),
}

impl fmt::Display for RawResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { len, max } => {
                write!(f, "raw response of {len} bytes, over the limit of {max}")
            }
            Self::TooManyHeaders { max } => write!(f, "more than {max} header fields"),
            Self::Incomplete => f.write_str("no blank line ends the response head"),
            Self::TrailingBytes { offset } => {
                write!(f, "bytes after the response head, from byte {offset}")
            }
            Self::Nul { offset } => write!(f, "NUL at byte {offset}"),
            Self::BareCr { offset } => {
                write!(f, "bare CR at byte {offset} (lines end with CRLF)")
            }
            Self::BareLf { offset } => {
                write!(f, "bare LF at byte {offset} (lines end with CRLF)")
            }
            Self::ControlCharacter { line, byte } => {
                write!(f, "control character 0x{byte:02x} on line {line}")
            }
            Self::InvalidStatusLine => f.write_str("invalid status line"),
            Self::StatusNotAllowed(status) => {
                write!(
                    f,
                    "status {status} neither accepts (101) nor rejects (3xx-5xx)"
                )
            }
            Self::ObsFold { line } => write!(f, "folded header line {line}"),
            Self::InvalidHeaderLine { line } => write!(f, "invalid header line {line}"),
            Self::DuplicateHeader(name) => write!(f, "duplicate {name} header"),
            Self::UnexpectedBody => f.write_str("a body is announced but none may be sent"),
            Self::InvalidUpgrade(None) => f.write_str("101 without an Upgrade header"),
            Self::InvalidUpgrade(Some(value)) => {
                write!(f, "101 upgrading to {value:?}, not websocket")
            }
            Self::MissingConnectionUpgrade => {
                f.write_str("101 whose Connection lacks the Upgrade token")
            }
            Self::AcceptMismatch => {
                f.write_str("Sec-WebSocket-Accept does not match the request's key")
            }
            Self::MultipleProtocols => f.write_str("101 selecting more than one subprotocol"),
            Self::ProtocolNotOffered(p) => {
                write!(f, "101 selecting subprotocol {p:?}, which was not offered")
            }
            Self::ProtocolSpelling { chosen, offered } => write!(
                f,
                "101 selecting subprotocol {chosen:?}, which the client spelled {offered:?}"
            ),
            Self::InvalidExtensions(_) => f.write_str("invalid Sec-WebSocket-Extensions header"),
            Self::ExtensionNotOffered(name) => {
                write!(f, "101 accepting extension {name:?}, which was not offered")
            }
            Self::ExtensionNotSupported(name) => {
                write!(
                    f,
                    "101 accepting extension {name:?}, which wsgate does not implement"
                )
            }
            Self::DuplicateExtension(name) => {
                write!(f, "101 accepting extension {name:?} twice")
            }
            #[cfg(feature = "deflate")]
            Self::InvalidDeflate(_) => f.write_str("unacceptable permessage-deflate answer"),
        }
    }
}

impl std::error::Error for RawResponseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidExtensions(e) => Some(e),
            #[cfg(feature = "deflate")]
            Self::InvalidDeflate(e) => Some(e),
            _ => None,
        }
    }
}

/// Checks a response head the application wrote for `request`, before any
/// of it is sent.
///
/// The head must be exactly one HTTP/1.1 response head: a status line and
/// header lines, each ending in CRLF, then a blank line and nothing after;
/// at most `limits.max_size` bytes and `limits.max_headers` header fields;
/// no NUL, no bare CR or LF, no other control character than a tab in a
/// value or the reason, no folded line, every name a token. It may not
/// announce a body (`Transfer-Encoding`, or a `Content-Length` other than
/// 0; on a 101 none at all).
///
/// - **101** accepts: `Upgrade: websocket` and a `Connection` with the
///   `Upgrade` token, each once; a `Sec-WebSocket-Accept` equal to the one
///   for the request's key, or none (then it is added); at most one
///   subprotocol, one the client offered, spelled as offered; extensions
///   only if offered, implemented by wsgate (permessage-deflate, when
///   `deflate` is true and the feature is on) and, for permessage-deflate,
///   with parameters one of the client's offers allows.
/// - **300..=599** rejects: the response is sent as it is, then the
///   connection closes.
/// - Any other status (100, 102, 200, …) is an error: it would leave the
///   connection an HTTP one.
///
/// # Errors
///
/// The first rule broken, as a [`RawResponseError`].
///
/// # Examples
///
/// ```
/// use wsgate::handshake::{check_raw_response, Classified, Limits, RawResponseError,
///     classify, parse_head};
///
/// let head = b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
///     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
/// let (raw, _) = parse_head(head, &Limits::default())?.unwrap();
/// let Classified::Upgrade(request) = classify(raw)? else { unreachable!() };
/// let limits = Limits::default();
///
/// // A value smuggling a header in with a bare LF.
/// let answer = b"HTTP/1.1 403 Forbidden\r\nX-Reason: no\nSet-Cookie: a=b\r\n\r\n";
/// assert_eq!(
///     check_raw_response(answer.to_vec(), &request, &limits, true),
///     Err(RawResponseError::BareLf { offset: 36 })
/// );
/// // A subprotocol the client never offered.
/// let answer = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
///     Connection: Upgrade\r\nSec-WebSocket-Protocol: chat\r\n\r\n";
/// assert_eq!(
///     check_raw_response(answer.to_vec(), &request, &limits, true),
///     Err(RawResponseError::ProtocolNotOffered("chat".into()))
/// );
/// # Ok::<(), wsgate::handshake::HandshakeError>(())
/// ```
pub fn check_raw_response(
    response: Vec<u8>,
    request: &UpgradeRequest,
    limits: &Limits,
    deflate: bool,
) -> Result<RawDecision, RawResponseError> {
    if response.len() > limits.max_size {
        return Err(RawResponseError::TooLarge {
            len: response.len(),
            max: limits.max_size,
        });
    }
    let end = check_bytes(&response)?;
    let head = Head::parse(&response[..end], limits)?;
    match head.status {
        101 => {
            let accepted = check_accept(&head, request, deflate)?;
            let fill_in = accepted.fill_in;
            let mut response = response;
            if let Some(accept) = fill_in {
                // Before the blank line: after the last header's CRLF.
                response.truncate(response.len() - 2);
                response.extend_from_slice(b"Sec-WebSocket-Accept: ");
                response.extend_from_slice(accept.as_bytes());
                response.extend_from_slice(b"\r\n\r\n");
            }
            Ok(RawDecision::Accept(RawAccept {
                response,
                protocol: accepted.protocol,
                extensions: accepted.extensions,
                #[cfg(feature = "deflate")]
                deflate: accepted.deflate,
            }))
        }
        status @ 300..=599 => {
            if head.announces_body(false) {
                return Err(RawResponseError::UnexpectedBody);
            }
            Ok(RawDecision::Reject { status, response })
        }
        status => Err(RawResponseError::StatusNotAllowed(status)),
    }
}

/// Checks every byte (no NUL, CR only before LF, LF only after CR) and
/// returns where the head's blank line starts: the head is
/// `response[..end + 4]`, and must be all of it.
fn check_bytes(response: &[u8]) -> Result<usize, RawResponseError> {
    for (offset, &byte) in response.iter().enumerate() {
        match byte {
            0 => return Err(RawResponseError::Nul { offset }),
            b'\r' if response.get(offset + 1) != Some(&b'\n') => {
                return Err(RawResponseError::BareCr { offset });
            }
            b'\n' if offset == 0 || response[offset - 1] != b'\r' => {
                return Err(RawResponseError::BareLf { offset });
            }
            _ => {}
        }
    }
    let end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or(RawResponseError::Incomplete)?;
    if end + 4 != response.len() {
        return Err(RawResponseError::TrailingBytes { offset: end + 4 });
    }
    Ok(end)
}

/// A head's status and header fields (names as sent, values without their
/// surrounding whitespace). Every byte has been checked by [`check_bytes`].
struct Head<'a> {
    status: u16,
    headers: Vec<(&'a str, &'a [u8])>,
}

impl<'a> Head<'a> {
    /// Parses `head` (without its blank line).
    fn parse(head: &'a [u8], limits: &Limits) -> Result<Head<'a>, RawResponseError> {
        let mut lines = head.split(|&b| b == b'\n').map(|line| {
            // Every LF follows a CR (check_bytes), and the last line's CR
            // was cut off with the blank line.
            line.strip_suffix(b"\r").unwrap_or(line)
        });
        let status_line = lines.next().unwrap_or_default();
        let status = parse_status_line(status_line)?;
        let mut headers = Vec::new();
        for (index, line) in lines.enumerate() {
            let number = index + 2;
            if headers.len() == limits.max_headers {
                return Err(RawResponseError::TooManyHeaders {
                    max: limits.max_headers,
                });
            }
            if line.starts_with(b" ") || line.starts_with(b"\t") {
                return Err(RawResponseError::ObsFold { line: number });
            }
            let invalid = || RawResponseError::InvalidHeaderLine { line: number };
            let colon = line.iter().position(|&b| b == b':').ok_or_else(invalid)?;
            let name = std::str::from_utf8(&line[..colon])
                .ok()
                .filter(|name| is_token(name))
                .ok_or_else(invalid)?;
            let value = trim_ows(&line[colon + 1..]);
            check_text(value, number)?;
            headers.push((name, value));
        }
        Ok(Head { status, headers })
    }

    /// Every value of header `name` (case-insensitive).
    fn values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a [u8]> + 's {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    /// The value of header `name`, which may appear at most once, as text
    /// (a value that is not UTF-8 is kept as its lossy text, which no check
    /// will accept).
    fn single(&self, name: &'static str) -> Result<Option<String>, RawResponseError> {
        let mut values = self.values(name);
        let first = values.next();
        if values.next().is_some() {
            return Err(RawResponseError::DuplicateHeader(name));
        }
        Ok(first.map(|v| String::from_utf8_lossy(v).into_owned()))
    }

    /// Whether the head announces a body: a `Transfer-Encoding`, or a
    /// `Content-Length` (other than 0, unless `none_allowed`).
    fn announces_body(&self, none_allowed: bool) -> bool {
        self.values("transfer-encoding").next().is_some()
            || self
                .values("content-length")
                .any(|v| none_allowed || v != b"0")
    }
}

/// `HTTP/1.1 SP 3DIGIT [SP reason]`, the status within 100..=599 and the
/// reason without control characters other than a tab.
fn parse_status_line(line: &[u8]) -> Result<u16, RawResponseError> {
    let rest = line
        .strip_prefix(b"HTTP/1.1 ")
        .ok_or(RawResponseError::InvalidStatusLine)?;
    let (code, reason) = match rest {
        [a, b, c] => ([*a, *b, *c], &[][..]),
        [a, b, c, b' ', reason @ ..] => ([*a, *b, *c], reason),
        _ => return Err(RawResponseError::InvalidStatusLine),
    };
    if !code.iter().all(u8::is_ascii_digit) || !(b'1'..=b'5').contains(&code[0]) {
        return Err(RawResponseError::InvalidStatusLine);
    }
    check_text(reason, 1)?;
    Ok(code
        .iter()
        .fold(0u16, |n, digit| n * 10 + u16::from(digit - b'0')))
}

/// A header value or reason phrase: no control character but a tab (NUL,
/// CR and LF were refused before).
fn check_text(text: &[u8], line: usize) -> Result<(), RawResponseError> {
    match text
        .iter()
        .find(|&&b| (b < 0x20 && b != b'\t') || b == 0x7f)
    {
        Some(&byte) => Err(RawResponseError::ControlCharacter { line, byte }),
        None => Ok(()),
    }
}

fn trim_ows(mut value: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    value
}

/// What a valid 101 agrees to, and the accept value to add if missing.
struct Accepted {
    fill_in: Option<String>,
    protocol: Option<String>,
    extensions: Vec<ExtensionOffer>,
    #[cfg(feature = "deflate")]
    deflate: Option<DeflateParams>,
}

/// The rules for a 101.
fn check_accept(
    head: &Head<'_>,
    request: &UpgradeRequest,
    deflate: bool,
) -> Result<Accepted, RawResponseError> {
    if head.announces_body(true) {
        return Err(RawResponseError::UnexpectedBody);
    }
    match head.single("Upgrade")? {
        Some(value) if value.eq_ignore_ascii_case("websocket") => {}
        other => return Err(RawResponseError::InvalidUpgrade(other)),
    }
    match head.single("Connection")? {
        Some(value) if list_contains_token(&value, "upgrade") => {}
        _ => return Err(RawResponseError::MissingConnectionUpgrade),
    }
    let expected = accept_key(request.key.as_bytes());
    let fill_in = match head.single("Sec-WebSocket-Accept")? {
        None => Some(expected),
        Some(value) if value == expected => None,
        Some(_) => return Err(RawResponseError::AcceptMismatch),
    };
    let protocol = match head.single("Sec-WebSocket-Protocol")? {
        None => None,
        Some(value) if value.contains(',') => return Err(RawResponseError::MultipleProtocols),
        Some(value) if request.protocols.contains(&value) => Some(value),
        Some(value) => {
            let offered = request
                .protocols
                .iter()
                .find(|p| p.eq_ignore_ascii_case(&value));
            return Err(match offered {
                Some(offered) => RawResponseError::ProtocolSpelling {
                    chosen: value,
                    offered: offered.clone(),
                },
                None => RawResponseError::ProtocolNotOffered(value),
            });
        }
    };
    // The header may be repeated: its values form one list.
    let joined = head
        .values("Sec-WebSocket-Extensions")
        .map(String::from_utf8_lossy)
        .collect::<Vec<_>>()
        .join(", ");
    let extensions = parse_extensions(&joined).map_err(RawResponseError::InvalidExtensions)?;
    #[cfg(feature = "deflate")]
    let mut agreed: Option<DeflateParams> = None;
    for (index, extension) in extensions.iter().enumerate() {
        let name = &extension.name;
        if extensions[..index]
            .iter()
            .any(|e| e.name.eq_ignore_ascii_case(name))
        {
            return Err(RawResponseError::DuplicateExtension(name.clone()));
        }
        if !request
            .extensions
            .iter()
            .any(|offer| offer.name.eq_ignore_ascii_case(name))
        {
            return Err(RawResponseError::ExtensionNotOffered(name.clone()));
        }
        // permessage-deflate is the one extension wsgate implements.
        let supported =
            cfg!(feature = "deflate") && deflate && name.eq_ignore_ascii_case("permessage-deflate");
        if !supported {
            return Err(RawResponseError::ExtensionNotSupported(name.clone()));
        }
        #[cfg(feature = "deflate")]
        match super::deflate::check_deflate_answer(&request.extensions, extension) {
            Some(Ok(params)) => agreed = Some(params),
            Some(Err(e)) => return Err(RawResponseError::InvalidDeflate(e)),
            // Offered only with invalid parameters: not offered.
            None => return Err(RawResponseError::ExtensionNotOffered(name.clone())),
        }
    }
    Ok(Accepted {
        fill_in,
        protocol,
        extensions,
        #[cfg(feature = "deflate")]
        deflate: agreed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::{Classified, classify, parse_head};
    use proptest::prelude::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    /// A request with the sample key and `extra` header lines.
    fn request(extra: &str) -> UpgradeRequest {
        let head = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
        );
        let (raw, _) = parse_head(head.as_bytes(), &Limits::default())
            .unwrap()
            .unwrap();
        match classify(raw).unwrap() {
            Classified::Upgrade(request) => request,
            Classified::Plain(_) => unreachable!(),
        }
    }

    fn check(response: &str, request: &UpgradeRequest) -> Result<RawDecision, RawResponseError> {
        check_raw_response(
            response.as_bytes().to_vec(),
            request,
            &Limits::default(),
            true,
        )
    }

    /// A 101 with `extra` header lines after the three required ones.
    fn switching(extra: &str) -> String {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {ACCEPT}\r\n{extra}\r\n"
        )
    }

    fn accepted(result: Result<RawDecision, RawResponseError>) -> RawAccept {
        match result {
            Ok(RawDecision::Accept(accepted)) => accepted,
            other => panic!("not accepted: {other:?}"),
        }
    }

    fn error(response: &str, request: &UpgradeRequest) -> RawResponseError {
        check(response, request).expect_err("an invalid response")
    }

    #[test]
    fn a_complete_101_is_sent_unchanged() {
        let text = switching("X-Extra: yes\r\n");
        let accepted = accepted(check(&text, &request("")));
        assert_eq!(accepted.response, text.as_bytes());
        assert_eq!(accepted.protocol, None);
        assert!(accepted.extensions.is_empty());
    }

    #[test]
    fn a_missing_accept_is_filled_in_before_the_blank_line() {
        let text = "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\n\
                    connection: keep-alive, upgrade\r\n\r\n";
        let accepted = accepted(check(text, &request("")));
        let expected = format!(
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\n\
             connection: keep-alive, upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n"
        );
        assert_eq!(String::from_utf8(accepted.response).unwrap(), expected);
    }

    #[test]
    fn the_accept_must_be_this_keys_and_appear_once() {
        let wrong = "HTTP/1.1 101 x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                     Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n";
        assert_eq!(error(wrong, &request("")), RawResponseError::AcceptMismatch);
        let twice = switching(&format!("Sec-WebSocket-Accept: {ACCEPT}\r\n"));
        assert_eq!(
            error(&twice, &request("")),
            RawResponseError::DuplicateHeader("Sec-WebSocket-Accept")
        );
    }

    #[test]
    fn upgrade_and_connection_are_required() {
        let r = request("");
        let no_upgrade = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n";
        assert_eq!(
            error(no_upgrade, &r),
            RawResponseError::InvalidUpgrade(None)
        );
        let h2c = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n";
        assert_eq!(
            error(h2c, &r),
            RawResponseError::InvalidUpgrade(Some("h2c".into()))
        );
        let no_connection = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
        assert_eq!(
            error(no_connection, &r),
            RawResponseError::MissingConnectionUpgrade
        );
        let close =
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: close\r\n\r\n";
        assert_eq!(error(close, &r), RawResponseError::MissingConnectionUpgrade);
        let twice = switching("Upgrade: websocket\r\n");
        assert_eq!(
            error(&twice, &r),
            RawResponseError::DuplicateHeader("Upgrade")
        );
    }

    #[test]
    fn subprotocols_only_as_offered() {
        let r = request("Sec-WebSocket-Protocol: Chat, v2\r\n");
        let accepted = accepted(check(&switching("Sec-WebSocket-Protocol: Chat\r\n"), &r));
        assert_eq!(accepted.protocol.as_deref(), Some("Chat"));
        // Browsers compare byte for byte: another spelling is not the offer.
        assert_eq!(
            error(&switching("Sec-WebSocket-Protocol: chat\r\n"), &r),
            RawResponseError::ProtocolSpelling {
                chosen: "chat".into(),
                offered: "Chat".into()
            }
        );
        assert_eq!(
            error(&switching("Sec-WebSocket-Protocol: chatty\r\n"), &r),
            RawResponseError::ProtocolNotOffered("chatty".into())
        );
        assert_eq!(
            error(&switching("Sec-WebSocket-Protocol: Chat, v2\r\n"), &r),
            RawResponseError::MultipleProtocols
        );
        assert_eq!(
            error(
                &switching("Sec-WebSocket-Protocol: v2\r\nSec-WebSocket-Protocol: v2\r\n"),
                &r
            ),
            RawResponseError::DuplicateHeader("Sec-WebSocket-Protocol")
        );
        assert_eq!(
            error(&switching("Sec-WebSocket-Protocol: v2\r\n"), &request("")),
            RawResponseError::ProtocolNotOffered("v2".into())
        );
    }

    #[test]
    fn extensions_only_offered_and_implemented() {
        let r = request("Sec-WebSocket-Extensions: x-foo, permessage-deflate\r\n");
        assert_eq!(
            error(&switching("Sec-WebSocket-Extensions: x-bar\r\n"), &r),
            RawResponseError::ExtensionNotOffered("x-bar".into())
        );
        assert_eq!(
            error(&switching("Sec-WebSocket-Extensions: x-foo\r\n"), &r),
            RawResponseError::ExtensionNotSupported("x-foo".into())
        );
        assert_eq!(
            error(&switching("Sec-WebSocket-Extensions: x-foo;;\r\n"), &r),
            RawResponseError::InvalidExtensions(TokenError::UnexpectedChar { at: 6 })
        );
        assert_eq!(
            error(
                &switching("Sec-WebSocket-Extensions: permessage-deflate\r\n"),
                &request("")
            ),
            RawResponseError::ExtensionNotOffered("permessage-deflate".into())
        );
        // Switched off in the config: not implemented, as far as the client
        // is concerned.
        let off = check_raw_response(
            switching("Sec-WebSocket-Extensions: permessage-deflate\r\n").into_bytes(),
            &r,
            &Limits::default(),
            false,
        );
        assert_eq!(
            off,
            Err(RawResponseError::ExtensionNotSupported(
                "permessage-deflate".into()
            ))
        );
    }

    #[cfg(feature = "deflate")]
    #[test]
    fn permessage_deflate_is_configured_from_the_response() {
        use crate::handshake::DeflateNegotiationError as D;
        let r = request(
            "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=12; \
             client_max_window_bits\r\n",
        );
        let ok = |ext: &str| {
            let text = switching(&format!("Sec-WebSocket-Extensions: {ext}\r\n"));
            accepted(check(&text, &r))
        };
        let a = ok(
            "permessage-deflate; server_max_window_bits=10; client_max_window_bits=9; \
                    client_no_context_takeover",
        );
        assert_eq!(
            a.deflate,
            Some(DeflateParams {
                server_no_context_takeover: false,
                client_no_context_takeover: true,
                server_max_window_bits: Some(10),
                client_max_window_bits: Some(9),
            })
        );
        assert_eq!(a.extensions.len(), 1);
        let bad = |ext: &str| {
            error(
                &switching(&format!("Sec-WebSocket-Extensions: {ext}\r\n")),
                &r,
            )
        };
        assert_eq!(
            bad("permessage-deflate"),
            RawResponseError::InvalidDeflate(D::MissingServerMaxWindowBits { offered: 12 })
        );
        assert_eq!(
            bad("permessage-deflate; server_max_window_bits=13"),
            RawResponseError::InvalidDeflate(D::ServerWindowTooLarge {
                offered: 12,
                answered: 13
            })
        );
        assert_eq!(
            bad("permessage-deflate; server_max_window_bits=8"),
            RawResponseError::InvalidDeflate(D::UnsupportedServerWindowBits8)
        );
        assert_eq!(
            bad("permessage-deflate; server_max_window_bits=12; x=1"),
            RawResponseError::InvalidDeflate(D::Param(
                crate::handshake::DeflateParamError::Unknown("x".into())
            ))
        );
        assert_eq!(
            bad(
                "permessage-deflate; server_max_window_bits=12, permessage-deflate; \
                 server_max_window_bits=12"
            ),
            RawResponseError::DuplicateExtension("permessage-deflate".into())
        );
        // Parameters the client did not allow.
        let plain =
            request("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n");
        let text = switching("Sec-WebSocket-Extensions: permessage-deflate\r\n");
        assert_eq!(
            error(&text, &plain),
            RawResponseError::InvalidDeflate(D::MissingServerNoContextTakeover)
        );
        let text = switching(
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; \
             client_max_window_bits=10\r\n",
        );
        assert_eq!(
            error(&text, &plain),
            RawResponseError::InvalidDeflate(D::ClientWindowBitsNotOffered)
        );
        let limited =
            request("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=10\r\n");
        let text = switching(
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=11\r\n",
        );
        assert_eq!(
            error(&text, &limited),
            RawResponseError::InvalidDeflate(D::ClientWindowTooLarge {
                offered: 10,
                answered: 11
            })
        );
        // Any of several offers may be the one answered; an invalid offer
        // is no offer.
        let two = request(
            "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=9, \
             permessage-deflate\r\n",
        );
        let text = switching("Sec-WebSocket-Extensions: permessage-deflate\r\n");
        assert_eq!(
            accepted(check(&text, &two)).deflate,
            Some(DeflateParams::default())
        );
        let invalid = request("Sec-WebSocket-Extensions: permessage-deflate; bogus\r\n");
        assert_eq!(
            error(&text, &invalid),
            RawResponseError::ExtensionNotOffered("permessage-deflate".into())
        );
        // The header may be split over several lines.
        let split = request(
            "Sec-WebSocket-Extensions: x-foo\r\nSec-WebSocket-Extensions: permessage-deflate\r\n",
        );
        let text = switching(
            "Sec-WebSocket-Extensions: \r\nSec-WebSocket-Extensions: permessage-deflate\r\n",
        );
        assert!(accepted(check(&text, &split)).deflate.is_some());
    }

    #[test]
    fn rejections_are_sent_as_written() {
        let r = request("");
        for status in [301, 302, 400, 401, 403, 404, 426, 429, 500, 503, 599] {
            let text = format!("HTTP/1.1 {status} Whatever\r\nRetry-After: 5\r\n\r\n");
            assert_eq!(
                check(&text, &r),
                Ok(RawDecision::Reject {
                    status,
                    response: text.clone().into_bytes()
                })
            );
        }
        // An empty reason, and none at all, are fine; so is Content-Length: 0.
        assert!(check("HTTP/1.1 403 \r\n\r\n", &r).is_ok());
        assert!(check("HTTP/1.1 403\r\nContent-Length: 0\r\n\r\n", &r).is_ok());
    }

    #[test]
    fn statuses_that_neither_accept_nor_reject() {
        let r = request("");
        for status in [100, 102, 103, 199, 200, 204, 299] {
            let text = format!("HTTP/1.1 {status} X\r\n\r\n");
            assert_eq!(error(&text, &r), RawResponseError::StatusNotAllowed(status));
        }
        for line in [
            "HTTP/1.0 101 Switching Protocols",
            "HTTP/2 101",
            "http/1.1 403 Forbidden",
            "HTTP/1.1 600 Nope",
            "HTTP/1.1 099 Nope",
            "HTTP/1.1 40 Nope",
            "HTTP/1.1 4033 Nope",
            "HTTP/1.1 +03 Nope",
            "HTTP/1.1  403 Nope",
            "HTTP/1.1 403\tNope",
            " HTTP/1.1 403 Nope",
            "",
        ] {
            let text = format!("{line}\r\n\r\n");
            assert_eq!(
                error(&text, &r),
                RawResponseError::InvalidStatusLine,
                "{line:?}"
            );
        }
    }

    #[test]
    fn bodies_are_refused() {
        let r = request("");
        assert_eq!(
            error("HTTP/1.1 403 No\r\nContent-Length: 2\r\n\r\n", &r),
            RawResponseError::UnexpectedBody
        );
        assert_eq!(
            error("HTTP/1.1 403 No\r\nTransfer-Encoding: chunked\r\n\r\n", &r),
            RawResponseError::UnexpectedBody
        );
        assert_eq!(
            error(&switching("Content-Length: 0\r\n"), &r),
            RawResponseError::UnexpectedBody
        );
        assert_eq!(
            error("HTTP/1.1 403 No\r\nContent-Length: 2\r\n\r\nno", &r),
            RawResponseError::TrailingBytes { offset: 38 }
        );
    }

    #[test]
    fn framing_and_injection() {
        let r = request("");
        let e = |text: &[u8]| {
            check_raw_response(text.to_vec(), &r, &Limits::default(), true).unwrap_err()
        };
        use RawResponseError::*;
        // Header injection through a value: every way of breaking a line.
        assert_eq!(
            e(b"HTTP/1.1 403 x\r\nX-A: a\nSet-Cookie: s=1\r\n\r\n"),
            BareLf { offset: 22 }
        );
        assert_eq!(
            e(b"HTTP/1.1 403 x\r\nX-A: a\rSet-Cookie: s=1\r\n\r\n"),
            BareCr { offset: 22 }
        );
        assert_eq!(
            e(b"HTTP/1.1 403 x\r\nX-A: a\0b\r\n\r\n"),
            Nul { offset: 22 }
        );
        assert_eq!(e(b"HTTP/1.1 403 x\nX: y\r\n\r\n"), BareLf { offset: 14 });
        assert_eq!(e(b"HTTP/1.1 403 x\r\nX: y\n\n"), BareLf { offset: 20 });
        assert_eq!(
            e(b"HTTP/1.1 403 x\r\nX-A: a\x0bb\r\n\r\n"),
            ControlCharacter {
                line: 2,
                byte: 0x0b
            }
        );
        assert_eq!(
            e(b"HTTP/1.1 403 x\x1b\r\n\r\n"),
            ControlCharacter {
                line: 1,
                byte: 0x1b
            }
        );
        assert_eq!(
            e(b"HTTP/1.1 403 x\r\nX-A: a\x7f\r\n\r\n"),
            ControlCharacter {
                line: 2,
                byte: 0x7f
            }
        );
        // Obsolete line folding, which a lenient client would join.
        assert_eq!(
            e(b"HTTP/1.1 403 x\r\nX-A: a\r\n Set-Cookie: s=1\r\n\r\n"),
            ObsFold { line: 3 }
        );
        assert_eq!(
            e(b"HTTP/1.1 403 x\r\nX-A: a\r\n\tb\r\n\r\n"),
            ObsFold { line: 3 }
        );
        // A second response after the first, and a head never finished.
        assert_eq!(
            e(b"HTTP/1.1 403 x\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"),
            TrailingBytes { offset: 18 }
        );
        assert_eq!(e(b"HTTP/1.1 403 x\r\nX: y\r\n"), Incomplete);
        assert_eq!(e(b""), Incomplete);
        // Names: tokens, no space before the colon, a colon at all.
        assert_eq!(
            e(b"HTTP/1.1 403 x\r\nX-A : a\r\n\r\n"),
            InvalidHeaderLine { line: 2 }
        );
        assert_eq!(
            e(b"HTTP/1.1 403 x\r\nHTTP/1.1 200 OK\r\n\r\n"),
            InvalidHeaderLine { line: 2 }
        );
        assert_eq!(
            e(b"HTTP/1.1 403 x\r\n: a\r\n\r\n"),
            InvalidHeaderLine { line: 2 }
        );
        assert_eq!(
            e(b"HTTP/1.1 403 x\r\nX\xc3\xa9: a\r\n\r\n"),
            InvalidHeaderLine { line: 2 }
        );
        // obs-text in a value is not a line break: allowed.
        assert!(
            check_raw_response(
                b"HTTP/1.1 403 x\r\nX-A: caf\xc3\xa9\r\n\r\n".to_vec(),
                &r,
                &Limits::default(),
                true
            )
            .is_ok()
        );
    }

    #[test]
    fn limits() {
        let r = request("");
        let limits = Limits {
            max_size: 64,
            max_headers: 2,
        };
        let at = |text: &str| check_raw_response(text.as_bytes().to_vec(), &r, &limits, true);
        let fits = "HTTP/1.1 403 x\r\nA: 1\r\nB: 2\r\n\r\n";
        assert!(at(fits).is_ok());
        assert_eq!(
            at("HTTP/1.1 403 x\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"),
            Err(RawResponseError::TooManyHeaders { max: 2 })
        );
        let long = format!("HTTP/1.1 403 {}\r\n\r\n", "x".repeat(48));
        assert_eq!(long.len(), 65);
        assert_eq!(
            at(&long),
            Err(RawResponseError::TooLarge { len: 65, max: 64 })
        );
        let longest = format!("HTTP/1.1 403 {}\r\n\r\n", "x".repeat(47));
        assert!(at(&longest).is_ok());
    }

    #[test]
    fn display_and_source() {
        use std::error::Error as _;
        assert_eq!(
            RawResponseError::StatusNotAllowed(200).to_string(),
            "status 200 neither accepts (101) nor rejects (3xx-5xx)"
        );
        assert!(
            RawResponseError::InvalidExtensions(TokenError::UnexpectedEnd)
                .source()
                .is_some()
        );
        assert!(RawResponseError::Incomplete.source().is_none());
    }

    proptest! {
        /// Whatever a header value holds, a response is either refused or
        /// sent exactly as written with every header line intact: a value
        /// can never add a line of its own.
        #[test]
        fn no_value_adds_a_line(value in proptest::collection::vec(any::<u8>(), 0..24)) {
            let r = request("");
            let mut text = b"HTTP/1.1 403 Forbidden\r\nX-Reason: ".to_vec();
            text.extend_from_slice(&value);
            text.extend_from_slice(b"\r\nRetry-After: 5\r\n\r\n");
            if let Ok(decision) = check_raw_response(text.clone(), &r, &Limits::default(), true) {
                prop_assert_eq!(decision, RawDecision::Reject { status: 403, response: text.clone() });
                let mut headers = [httparse::EMPTY_HEADER; 4];
                let mut parsed = httparse::Response::new(&mut headers);
                let status = parsed.parse(&text).unwrap();
                prop_assert_eq!(status, httparse::Status::Complete(text.len()));
                prop_assert_eq!(parsed.headers.len(), 2);
                prop_assert_eq!(parsed.headers[1].name, "Retry-After");
                prop_assert!(!value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0));
            }
        }

        /// Any bytes at all: refused or accepted, never a panic; what is
        /// accepted starts with a 101 or rejection status line.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
            let r = request("Sec-WebSocket-Extensions: permessage-deflate\r\n");
            match check_raw_response(bytes.clone(), &r, &Limits::default(), true) {
                Ok(RawDecision::Accept(a)) => prop_assert!(a.response.starts_with(b"HTTP/1.1 101")),
                Ok(RawDecision::Reject { status, response }) => {
                    prop_assert!((300..600).contains(&status));
                    prop_assert_eq!(response, bytes);
                }
                Err(_) => {}
            }
        }
    }
}
