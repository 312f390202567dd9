//! Sans-IO WebSocket opening handshake (RFC 6455 §4).
//!
//! Everything here works on byte buffers: no sockets, no async, no clocks.
//! The caller reads bytes, asks this module whether a complete head has
//! arrived, and writes back the bytes this module builds.
//!
//! Server side:
//! 1. [`find_head_end`] on every read (cheap, incremental) until it finds the
//!    blank line, or the buffer reaches [`Limits::max_size`];
//! 2. [`parse_head`] to get a [`RawRequest`] plus the number of bytes used
//!    (anything after belongs to the next protocol stage);
//! 3. [`classify`] to tell a WebSocket upgrade from a plain HTTP request;
//! 4. [`accept_response`] or, on error, [`HandshakeError::to_response`].
//!
//! Client side: [`client_request`], then [`parse_response`] and
//! [`validate_response`].
//!
//! permessage-deflate (RFC 7692, feature `deflate`): `negotiate_deflate` on
//! the server, `client_deflate_offer` and `accept_deflate_response` on the
//! client.
//!
//! ```
//! use wsgate::handshake::{accept_response, classify, parse_head, Classified, Limits};
//!
//! let buf = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
//!     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
//!     Sec-WebSocket-Version: 13\r\n\r\n";
//! let (raw, used) = parse_head(buf, &Limits::default())?.expect("complete head");
//! assert_eq!(used, buf.len());
//! let reply = match classify(raw) {
//!     Ok(Classified::Upgrade(req)) => accept_response(&req.key, None, None, &[]),
//!     Ok(Classified::Plain(_)) => unreachable!("this is an upgrade"),
//!     Err(e) => e.to_response(),
//! };
//! assert!(reply.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
//! # Ok::<(), wsgate::handshake::HandshakeError>(())
//! ```

use std::fmt;

use crate::error::Quoted;

mod client;
#[cfg(feature = "deflate")]
mod deflate;
mod head;
mod headers;
mod key;
mod raw_response;
mod request;
mod response;
mod tokens;

pub use self::client::{
    AcceptedResponse, RawResponse, client_request, parse_response, validate_response,
};
#[cfg(feature = "deflate")]
pub use self::deflate::{
    DeclineReason, DeflateConfig, DeflateConfigError, DeflateNegotiationError, DeflateParamError,
    DeflateParams, PERMESSAGE_DEFLATE, accept_deflate_response, client_deflate_offer,
    negotiate_deflate, negotiate_deflate_offer,
};
pub(crate) use self::head::too_large;
pub use self::head::{Limits, find_head_end};
pub(crate) use self::headers::header_values;
pub use self::headers::{HandshakeHeaders, HeaderIter};
pub use self::key::{accept_key, generate_key, is_valid_key};
pub use self::raw_response::{RawAccept, RawDecision, RawResponseError, check_raw_response};
pub use self::request::{Classified, RawRequest, UpgradeRequest, check_host, classify, parse_head};
pub(crate) use self::response::{
    REJECT_REASON, reason_header, reject_response, reject_response_with,
};
pub use self::response::{accept_response, error_response, reason_phrase, sanitize_header_value};
pub use self::tokens::{
    ExtensionOffer, TokenError, format_extensions, is_token, list_contains_token, parse_extensions,
    parse_token_list,
};

/// The WebSocket versions this module accepts, as advertised to clients.
///
/// The value of the `Sec-WebSocket-Version` header in the answer to a
/// request whose version is missing or not supported (RFC 6455 §4.4): 13,
/// the final RFC, and 8, the last draft, which some old clients still send.
///
/// # Examples
///
/// ```
/// use wsgate::handshake::{HandshakeError, SUPPORTED_VERSIONS};
///
/// assert_eq!(SUPPORTED_VERSIONS, "13, 8");
/// let headers = HandshakeError::UnsupportedVersion.extra_headers();
/// assert!(headers.contains(&("Sec-WebSocket-Version".into(), SUPPORTED_VERSIONS.into())));
/// ```
pub const SUPPORTED_VERSIONS: &str = "13, 8";

/// Why an opening handshake failed.
///
/// Variants up to [`InvalidExtensionsHeader`](Self::InvalidExtensionsHeader)
/// describe a bad client request and map to the HTTP status a server answers
/// with ([`status`](Self::status)). Those marked "client side" only come from
/// [`validate_response`]; it and [`parse_response`] also reuse the head,
/// version, `Connection` and header-syntax variants.
///
/// # Examples
///
/// A server answers a request that fails validation with
/// [`to_response`](Self::to_response):
///
/// ```
/// use wsgate::handshake::{HandshakeError, Limits, classify, parse_head};
///
/// let buf = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
///     Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n";
/// let (raw, _) = parse_head(buf, &Limits::default())?.unwrap();
/// let error = classify(raw).unwrap_err();
/// assert_eq!(error, HandshakeError::MissingKey);
/// assert_eq!(error.status(), 400);
/// assert_eq!(error.to_string(), "missing Sec-WebSocket-Key header");
/// assert!(error.to_response().starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
/// # Ok::<(), HandshakeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The head is not valid HTTP/1.x. (400)
    Malformed,
    /// No complete head within [`Limits::max_size`] bytes. (431)
    HeadTooLarge,
    /// Not even the request line ended within [`Limits::max_size`] bytes:
    /// the request-target is too long. (414)
    TargetTooLong,
    /// More header fields than [`Limits::max_headers`]. (431)
    TooManyHeaders,
    /// An upgrade request whose method is not `GET`. (405, `Allow: GET`)
    MethodNotAllowed,
    /// An upgrade request (or 101 response) older than HTTP/1.1. (400)
    BadHttpVersion,
    /// The request-target is neither origin-form (`/…`) nor an absolute
    /// `ws`/`wss`/`http`/`https` URI, or it has a fragment. (400)
    InvalidTarget,
    /// No `Host` header, or an empty one. (400)
    MissingHost,
    /// More than one `Host` header. (400)
    DuplicateHost,
    /// The `Host` header, or the authority of an absolute-form target, is
    /// not a host with an optional port (RFC 9112 §3.2): it has user
    /// information, a path, a query or characters a host cannot have. (400)
    InvalidHost,
    /// An upgrade request with a body: a `Transfer-Encoding`, or a
    /// `Content-Length` other than 0. Its bytes would otherwise be read as
    /// WebSocket frames. (400)
    UnexpectedBody,
    /// `Connection` lacks the `Upgrade` token. (400)
    MissingConnectionUpgrade,
    /// No `Sec-WebSocket-Version` header. (400, advertises `13, 8`)
    MissingVersion,
    /// `Sec-WebSocket-Version` is not exactly `13` or `8`. (426, advertises
    /// `13, 8`)
    UnsupportedVersion,
    /// No `Sec-WebSocket-Key` header. (400)
    MissingKey,
    /// More than one `Sec-WebSocket-Key` header. (400)
    DuplicateKey,
    /// `Sec-WebSocket-Key` is not base64 of exactly 16 bytes. (400)
    InvalidKey,
    /// `Sec-WebSocket-Protocol` is not a list of tokens. (400)
    InvalidProtocolHeader(TokenError),
    /// `Sec-WebSocket-Extensions` does not follow RFC 6455 §9.1. (400)
    InvalidExtensionsHeader(TokenError),
    /// Client side: the server answered something other than 101. The
    /// response's body is not read.
    Rejected {
        /// The status code the server sent.
        status: u16,
        /// The `X-WebSocket-Reject-Reason` header, if the server sent one
        /// (percent-escapes decoded, control characters made spaces).
        reason: Option<String>,
        /// Every response header, names as sent and values trimmed: what
        /// an application needs to follow a redirect (`Location`),
        /// authenticate (`WWW-Authenticate`) or retry (`Retry-After`).
        headers: Vec<(String, String)>,
    },
    /// Client side: the response's `Upgrade` is not exactly `websocket`.
    InvalidUpgradeHeader,
    /// Client side: the response has no `Sec-WebSocket-Accept`.
    MissingAccept,
    /// Client side: `Sec-WebSocket-Accept` does not match the key sent.
    AcceptMismatch,
    /// Client side: the server selected more than one subprotocol.
    MultipleProtocols,
    /// Client side: the server selected a subprotocol that was not offered.
    UnexpectedProtocol(String),
    /// Client side: the server's `Sec-WebSocket-Extensions` names an
    /// extension that was not offered (the first such name).
    UnexpectedExtension(String),
    /// Client side: the server's `Sec-WebSocket-Extensions` answer to our
    /// permessage-deflate offer cannot be accepted (feature `deflate`).
    #[cfg(feature = "deflate")]
    InvalidDeflateResponse(DeflateNegotiationError),
}

impl HandshakeError {
    /// The HTTP status a server should answer with.
    ///
    /// Client-side variants (which never produce a response of ours) give
    /// 502 Bad Gateway: the peer's response was unusable.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::handshake::HandshakeError;
    ///
    /// assert_eq!(HandshakeError::MissingKey.status(), 400);
    /// assert_eq!(HandshakeError::MethodNotAllowed.status(), 405);
    /// assert_eq!(HandshakeError::TargetTooLong.status(), 414);
    /// assert_eq!(HandshakeError::UnsupportedVersion.status(), 426);
    /// assert_eq!(HandshakeError::HeadTooLarge.status(), 431);
    /// assert_eq!(HandshakeError::AcceptMismatch.status(), 502);
    /// ```
    pub fn status(&self) -> u16 {
        match self {
            Self::HeadTooLarge | Self::TooManyHeaders => 431,
            Self::TargetTooLong => 414,
            Self::MethodNotAllowed => 405,
            Self::UnsupportedVersion => 426,
            Self::Malformed
            | Self::BadHttpVersion
            | Self::InvalidTarget
            | Self::MissingHost
            | Self::DuplicateHost
            | Self::InvalidHost
            | Self::UnexpectedBody
            | Self::MissingConnectionUpgrade
            | Self::MissingVersion
            | Self::MissingKey
            | Self::DuplicateKey
            | Self::InvalidKey
            | Self::InvalidProtocolHeader(_)
            | Self::InvalidExtensionsHeader(_) => 400,
            Self::Rejected { .. }
            | Self::InvalidUpgradeHeader
            | Self::MissingAccept
            | Self::AcceptMismatch
            | Self::MultipleProtocols
            | Self::UnexpectedProtocol(_)
            | Self::UnexpectedExtension(_) => 502,
            #[cfg(feature = "deflate")]
            Self::InvalidDeflateResponse(_) => 502,
        }
    }

    /// Headers the error response must carry besides the usual ones:
    /// `Allow: GET` for 405; `Sec-WebSocket-Version: 13, 8` when the version
    /// is missing or unsupported, plus `Upgrade: websocket` for 426
    /// (RFC 7231 §6.5.15). Other errors need none.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::handshake::HandshakeError;
    ///
    /// let pair = |n: &str, v: &str| (n.to_owned(), v.to_owned());
    /// assert_eq!(HandshakeError::MethodNotAllowed.extra_headers(), [pair("Allow", "GET")]);
    /// assert_eq!(
    ///     HandshakeError::UnsupportedVersion.extra_headers(),
    ///     [pair("Upgrade", "websocket"), pair("Sec-WebSocket-Version", "13, 8")],
    /// );
    /// assert!(HandshakeError::MissingKey.extra_headers().is_empty());
    /// ```
    pub fn extra_headers(&self) -> Vec<(String, String)> {
        let pair = |n: &str, v: &str| (n.to_owned(), v.to_owned());
        match self {
            Self::MethodNotAllowed => vec![pair("Allow", "GET")],
            Self::MissingVersion => vec![pair("Sec-WebSocket-Version", SUPPORTED_VERSIONS)],
            Self::UnsupportedVersion => vec![
                pair("Upgrade", "websocket"),
                pair("Sec-WebSocket-Version", SUPPORTED_VERSIONS),
            ],
            _ => Vec::new(),
        }
    }

    /// A complete HTTP error response for this error: [`status`](Self::status),
    /// [`extra_headers`](Self::extra_headers) and the error text as body.
    ///
    /// ```
    /// use wsgate::handshake::HandshakeError;
    ///
    /// let bytes = HandshakeError::UnsupportedVersion.to_response();
    /// let text = String::from_utf8(bytes).unwrap();
    /// assert!(text.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
    /// assert!(text.contains("\r\nSec-WebSocket-Version: 13, 8\r\n"));
    /// ```
    pub fn to_response(&self) -> Vec<u8> {
        let body = format!("{}\n", crate::ErrorChain(self));
        error_response(self.status(), &self.extra_headers(), &body)
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed => f.write_str("malformed HTTP head"),
            Self::HeadTooLarge => f.write_str("HTTP head larger than the max_handshake_size"),
            Self::TargetTooLong => {
                f.write_str("request-target too long: no request line within max_handshake_size")
            }
            Self::TooManyHeaders => {
                f.write_str("more header fields than the max_handshake_headers")
            }
            Self::MethodNotAllowed => f.write_str("WebSocket upgrade requires GET"),
            Self::BadHttpVersion => f.write_str("WebSocket upgrade requires HTTP/1.1 or later"),
            Self::InvalidTarget => f.write_str("invalid request-target"),
            Self::MissingHost => f.write_str("missing Host header"),
            Self::DuplicateHost => f.write_str("duplicate Host header"),
            Self::InvalidHost => f.write_str("invalid Host"),
            Self::UnexpectedBody => f.write_str("a WebSocket upgrade request has no body"),
            Self::MissingConnectionUpgrade => {
                f.write_str("Connection header lacks the Upgrade token")
            }
            Self::MissingVersion => f.write_str("missing Sec-WebSocket-Version header"),
            Self::UnsupportedVersion => f.write_str("unsupported Sec-WebSocket-Version"),
            Self::MissingKey => f.write_str("missing Sec-WebSocket-Key header"),
            Self::DuplicateKey => f.write_str("duplicate Sec-WebSocket-Key header"),
            Self::InvalidKey => f.write_str("invalid Sec-WebSocket-Key"),
            Self::InvalidProtocolHeader(_) => f.write_str("invalid Sec-WebSocket-Protocol header"),
            Self::InvalidExtensionsHeader(_) => {
                f.write_str("invalid Sec-WebSocket-Extensions header")
            }
            Self::Rejected {
                status,
                reason: Some(reason),
                ..
            } => write!(
                f,
                "handshake rejected with status {status}: {}",
                crate::error::bounded(reason)
            ),
            Self::Rejected {
                status,
                reason: None,
                ..
            } => write!(f, "handshake rejected with status {status}"),
            Self::InvalidUpgradeHeader => f.write_str("response Upgrade is not websocket"),
            Self::MissingAccept => f.write_str("missing Sec-WebSocket-Accept header"),
            Self::AcceptMismatch => f.write_str("Sec-WebSocket-Accept does not match the key"),
            Self::MultipleProtocols => f.write_str("server selected more than one subprotocol"),
            Self::UnexpectedProtocol(p) => {
                write!(
                    f,
                    "server selected subprotocol {} that was not offered",
                    Quoted(p)
                )
            }
            Self::UnexpectedExtension(e) => {
                write!(
                    f,
                    "server accepted extension {} that was not offered",
                    Quoted(e)
                )
            }
            #[cfg(feature = "deflate")]
            Self::InvalidDeflateResponse(_) => {
                f.write_str("unacceptable permessage-deflate response")
            }
        }
    }
}

impl std::error::Error for HandshakeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidProtocolHeader(e) | Self::InvalidExtensionsHeader(e) => Some(e),
            #[cfg(feature = "deflate")]
            Self::InvalidDeflateResponse(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(HandshakeError::Malformed.status(), 400);
        assert_eq!(HandshakeError::HeadTooLarge.status(), 431);
        assert_eq!(HandshakeError::TooManyHeaders.status(), 431);
        assert_eq!(HandshakeError::MethodNotAllowed.status(), 405);
        assert_eq!(HandshakeError::UnsupportedVersion.status(), 426);
        assert_eq!(HandshakeError::MissingVersion.status(), 400);
        assert_eq!(HandshakeError::InvalidKey.status(), 400);
        assert_eq!(HandshakeError::AcceptMismatch.status(), 502);
    }

    #[test]
    fn extra_headers_per_variant() {
        let allow = HandshakeError::MethodNotAllowed.extra_headers();
        assert_eq!(allow, vec![("Allow".to_owned(), "GET".to_owned())]);
        let v = HandshakeError::UnsupportedVersion.extra_headers();
        assert!(v.contains(&("Sec-WebSocket-Version".to_owned(), "13, 8".to_owned())));
        assert!(v.contains(&("Upgrade".to_owned(), "websocket".to_owned())));
        assert!(HandshakeError::InvalidKey.extra_headers().is_empty());
    }

    #[test]
    fn to_response_426() {
        let text = String::from_utf8(HandshakeError::UnsupportedVersion.to_response()).unwrap();
        assert!(text.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
        assert!(text.contains("\r\nSec-WebSocket-Version: 13, 8\r\n"));
        assert!(text.contains("\r\nUpgrade: websocket\r\n"));
        assert!(text.contains("\r\nConnection: upgrade, close\r\n"));
        assert!(text.ends_with("\r\n\r\nunsupported Sec-WebSocket-Version\n"));
    }

    #[test]
    fn to_response_405() {
        let text = String::from_utf8(HandshakeError::MethodNotAllowed.to_response()).unwrap();
        assert!(text.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
        assert!(text.contains("\r\nAllow: GET\r\n"));
        assert!(text.contains("\r\nConnection: close\r\n"));
    }

    #[test]
    fn display_and_source() {
        use std::error::Error as _;
        let e = HandshakeError::Rejected {
            status: 403,
            reason: Some("origin not allowed".into()),
            headers: Vec::new(),
        };
        assert_eq!(
            e.to_string(),
            "handshake rejected with status 403: origin not allowed"
        );
        let e = HandshakeError::InvalidExtensionsHeader(TokenError::UnexpectedEnd);
        assert!(e.source().is_some());
        assert!(HandshakeError::Malformed.source().is_none());
    }
}
