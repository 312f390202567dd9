//! Building server responses as bytes, with header-injection-proof output.

use super::headers::header;
use super::key::accept_key;
use super::tokens::is_token;

/// Headers that belong to the 101 `accept_response` writes; extra headers
/// with these names are dropped. A trailing `*` matches any suffix: every
/// `Sec-WebSocket-*` header is the handshake's own.
const ACCEPT_RESERVED: &[&str] = &[
    "Upgrade",
    "Connection",
    "Sec-WebSocket-*",
    "Content-Length",
    "Transfer-Encoding",
];

/// Headers `error_response` writes itself (`Content-Type` may be replaced).
const ERROR_RESERVED: &[&str] = &["Content-Length", "Transfer-Encoding", "Connection"];

/// The standard reason phrase for `status`, or a generic one per class.
///
/// ```
/// use wsgate::handshake::reason_phrase;
///
/// assert_eq!(reason_phrase(426), "Upgrade Required");
/// assert_eq!(reason_phrase(418), "Client Error");
/// ```
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        417 => "Expectation Failed",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => match status / 100 {
            1 => "Informational",
            2 => "Success",
            3 => "Redirection",
            4 => "Client Error",
            _ => "Server Error",
        },
    }
}

/// Makes `value` safe as a header field value: every control character
/// (CR, LF, NUL, TAB, DEL, C1 …) becomes a space, then surrounding spaces are
/// trimmed. No header can be injected through the result.
///
/// ```
/// use wsgate::handshake::sanitize_header_value;
///
/// assert_eq!(sanitize_header_value("ok\r\nSet-Cookie: x"), "ok  Set-Cookie: x");
/// ```
pub fn sanitize_header_value(value: &str) -> String {
    let cleaned: String = value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    cleaned.trim_matches(' ').to_owned()
}

/// Writes `name: sanitized value\r\n`; `name` must be a valid token.
pub(super) fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    debug_assert!(is_token(name));
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    // Almost every value is clean already: write it without a copy.
    if value.chars().any(char::is_control) || value.starts_with(' ') || value.ends_with(' ') {
        out.extend_from_slice(sanitize_header_value(value).as_bytes());
    } else {
        out.extend_from_slice(value.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes the caller's headers, dropping those whose name is not a token or
/// is in `reserved` (ASCII case-insensitive; an entry ending in `*` is a
/// prefix).
pub(super) fn push_extra_headers(out: &mut Vec<u8>, extra: &[(String, String)], reserved: &[&str]) {
    let is_reserved = |name: &str| {
        reserved.iter().any(|r| match r.strip_suffix('*') {
            Some(prefix) => name
                .get(..prefix.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(prefix)),
            None => r.eq_ignore_ascii_case(name),
        })
    };
    for (name, value) in extra {
        if is_token(name) && !is_reserved(name) {
            push_header(out, name, value);
        }
    }
}

/// Writes `value` under `name` unless it sanitizes to nothing.
pub(super) fn push_optional(out: &mut Vec<u8>, name: &str, value: Option<&str>) {
    if let Some(v) = value.map(sanitize_header_value).filter(|v| !v.is_empty()) {
        push_header(out, name, &v);
    }
}

/// The `101 Switching Protocols` response accepting a handshake.
///
/// `key` is the client's `Sec-WebSocket-Key`; `protocol` and `extensions`
/// are the selected subprotocol and the `Sec-WebSocket-Extensions` value
/// (omitted when `None` or empty). Extra headers whose name is not a token,
/// or is `Upgrade`, `Connection`, `Content-Length`, `Transfer-Encoding` or
/// any `Sec-WebSocket-*`, are dropped; values are sanitized.
///
/// ```
/// use wsgate::handshake::accept_response;
///
/// let resp = accept_response("dGhlIHNhbXBsZSBub25jZQ==", Some("chat"), None, &[]);
/// assert_eq!(
///     resp,
///     b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
///       Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
/// );
/// ```
pub fn accept_response(
    key: &str,
    protocol: Option<&str>,
    extensions: Option<&str>,
    extra_headers: &[(String, String)],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\n");
    push_header(&mut out, "Upgrade", "websocket");
    push_header(&mut out, "Connection", "Upgrade");
    push_header(
        &mut out,
        "Sec-WebSocket-Accept",
        &accept_key(key.as_bytes()),
    );
    push_optional(&mut out, "Sec-WebSocket-Protocol", protocol);
    push_optional(&mut out, "Sec-WebSocket-Extensions", extensions);
    push_extra_headers(&mut out, extra_headers, ACCEPT_RESERVED);
    out.extend_from_slice(b"\r\n");
    out
}

/// A complete plain-text error response that closes the connection.
///
/// Statuses outside 100..=599 become 500. Writes `Content-Type:
/// text/plain; charset=utf-8` (unless `extra_headers` has a `Content-Type`),
/// `Content-Length`, and `Connection: close` (`Connection: upgrade, close`
/// when `extra_headers` has an `Upgrade`, as RFC 7230 §6.7 requires). Extra
/// headers with invalid names or named `Content-Length`,
/// `Transfer-Encoding` or `Connection` are dropped; values are sanitized.
///
/// ```
/// use wsgate::handshake::error_response;
///
/// let resp = error_response(404, &[], "no such endpoint");
/// assert_eq!(
///     resp,
///     b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\n\
///       Content-Length: 16\r\nConnection: close\r\n\r\nno such endpoint"
/// );
/// ```
pub fn error_response(status: u16, extra_headers: &[(String, String)], body: &str) -> Vec<u8> {
    let status = if (100..=599).contains(&status) {
        status
    } else {
        500
    };
    let has = |name: &str| header(extra_headers, name).is_some();
    let mut out = Vec::with_capacity(192 + body.len());
    out.extend_from_slice(format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status)).as_bytes());
    if !has("Content-Type") {
        push_header(&mut out, "Content-Type", "text/plain; charset=utf-8");
    }
    push_header(&mut out, "Content-Length", &body.len().to_string());
    let connection = if has("Upgrade") {
        "upgrade, close"
    } else {
        "close"
    };
    push_header(&mut out, "Connection", connection);
    push_extra_headers(&mut out, extra_headers, ERROR_RESERVED);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body.as_bytes());
    out
}

/// The name of the header that carries a rejection's reason.
pub(crate) const REJECT_REASON: &str = "X-WebSocket-Reject-Reason";

/// A server's rejection of a handshake: [`error_response`] with `reason`
/// as the body and, readable by every client, in an
/// `X-WebSocket-Reject-Reason` header (see [`reason_header`]).
pub(crate) fn reject_response(status: u16, reason: &str) -> Vec<u8> {
    reject_response_with(status, reason, &[] as &[(&str, &str)])
}

/// [`reject_response`] with more headers, written after the reason (the
/// same rules as [`error_response`]'s extra headers apply to them).
pub(crate) fn reject_response_with<N: AsRef<str>, V: AsRef<str>>(
    status: u16,
    reason: &str,
    headers: &[(N, V)],
) -> Vec<u8> {
    let mut all = Vec::with_capacity(headers.len() + 1);
    all.push((REJECT_REASON.to_owned(), reason_header(reason)));
    all.extend(
        headers
            .iter()
            .map(|(n, v)| (n.as_ref().to_owned(), v.as_ref().to_owned())),
    );
    error_response(status, &all, reason)
}

/// A reason as an ASCII header value: bytes outside printable ASCII are
/// percent-encoded (UTF-8), so every client can read it; the body keeps the
/// reason as UTF-8 text.
pub(crate) fn reason_header(reason: &str) -> String {
    let mut out = String::with_capacity(reason.len());
    for byte in reason.bytes() {
        if (0x20..0x7f).contains(&byte) && byte != b'%' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn h(name: &str, value: &str) -> (String, String) {
        (name.to_owned(), value.to_owned())
    }

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).unwrap()
    }

    /// Parses `resp` as an HTTP response and returns its header lines.
    fn header_lines(resp: &[u8]) -> Vec<(String, String)> {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut parsed = httparse::Response::new(&mut headers);
        assert!(parsed.parse(resp).unwrap().is_complete());
        parsed
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_owned(),
                    String::from_utf8(h.value.to_vec()).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn reason_table() {
        for (code, phrase) in [
            (400, "Bad Request"),
            (403, "Forbidden"),
            (404, "Not Found"),
            (405, "Method Not Allowed"),
            (408, "Request Timeout"),
            (426, "Upgrade Required"),
            (431, "Request Header Fields Too Large"),
            (500, "Internal Server Error"),
            (501, "Not Implemented"),
            (503, "Service Unavailable"),
            (505, "HTTP Version Not Supported"),
        ] {
            assert_eq!(reason_phrase(code), phrase);
        }
        assert_eq!(reason_phrase(300), "Redirection");
        assert_eq!(reason_phrase(599), "Server Error");
    }

    #[test]
    fn accept_full() {
        let resp = text(accept_response(
            "dGhlIHNhbXBsZSBub25jZQ==",
            Some("chat"),
            Some("permessage-deflate; client_max_window_bits=10"),
            &[h("X-Server", "wsgate")],
        ));
        assert_eq!(
            resp,
            "HTTP/1.1 101 Switching Protocols\r\n\
             Upgrade: websocket\r\n\
             Connection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
             Sec-WebSocket-Protocol: chat\r\n\
             Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=10\r\n\
             X-Server: wsgate\r\n\
             \r\n"
        );
    }

    #[test]
    fn accept_minimal_and_empty_options() {
        let resp = text(accept_response("k", Some(""), Some(" \r\n "), &[]));
        assert!(!resp.contains("Sec-WebSocket-Protocol"));
        assert!(!resp.contains("Sec-WebSocket-Extensions"));
        assert!(resp.ends_with("=\r\n\r\n"));
    }

    #[test]
    fn accept_drops_reserved_and_invalid_extras() {
        let resp = text(accept_response(
            "k",
            None,
            None,
            &[
                h("connection", "close"),
                h("Sec-WebSocket-Accept", "forged"),
                h("sec-websocket-version", "8"),
                h("Sec-WebSocket-Anything", "forged"),
                h("Sec-WebSocket", "kept"),
                h("content-length", "5"),
                h("Bad Name", "x"),
                h("X-Evil\r\nSet-Cookie", "x"),
                h("", "x"),
                h("X-Ok", "fine"),
            ],
        ));
        assert_eq!(resp.matches("Connection").count(), 1);
        assert!(!resp.contains("forged"));
        assert!(!resp.to_ascii_lowercase().contains("version"));
        assert!(resp.contains("\r\nSec-WebSocket: kept\r\n"));
        assert!(!resp.contains("Content-Length"));
        assert!(!resp.contains("Bad Name"));
        assert!(!resp.contains("Set-Cookie"));
        assert!(resp.contains("\r\nX-Ok: fine\r\n"));
    }

    #[test]
    fn injection_through_values_is_neutralized() {
        let resp = accept_response(
            "k",
            Some("chat\r\nSet-Cookie: a=b"),
            Some("x\r\n\r\n<html>"),
            &[h("X-Reason", "a\r\nLocation: evil\nX: \0y\r")],
        );
        let lines = header_lines(&resp);
        assert!(
            lines
                .iter()
                .all(|(n, _)| n != "Set-Cookie" && n != "Location")
        );
        assert!(lines.contains(&h("Sec-WebSocket-Protocol", "chat  Set-Cookie: a=b")));
        assert!(lines.contains(&h("X-Reason", "a  Location: evil X:  y")));
        assert!(lines.contains(&h("Sec-WebSocket-Extensions", "x    <html>")));

        let err = error_response(
            403,
            &[h("X-WebSocket-Reject-Reason", "no\r\n\r\nHTTP/1.1 200 OK")],
            "",
        );
        let lines = header_lines(&err);
        assert!(lines.contains(&h("X-WebSocket-Reject-Reason", "no    HTTP/1.1 200 OK")));
        assert!(err.ends_with(b"200 OK\r\n\r\n"));
    }

    #[test]
    fn sanitize() {
        assert_eq!(sanitize_header_value("plain value"), "plain value");
        assert_eq!(
            sanitize_header_value("a\rb\nc\0d\te\u{7f}f\u{85}g"),
            "a b c d e f g"
        );
        assert_eq!(sanitize_header_value("\r\n x \r\n"), "x");
        assert_eq!(sanitize_header_value("héllo"), "héllo");
        assert_eq!(sanitize_header_value(""), "");
    }

    #[test]
    fn error_basic() {
        let resp = text(error_response(400, &[], "bad"));
        assert_eq!(
            resp,
            "HTTP/1.1 400 Bad Request\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 3\r\n\
             Connection: close\r\n\
             \r\n\
             bad"
        );
    }

    #[test]
    fn error_unicode_body_length_in_bytes() {
        let resp = text(error_response(500, &[], "é"));
        assert!(resp.contains("\r\nContent-Length: 2\r\n"));
    }

    #[test]
    fn error_status_out_of_range() {
        assert!(error_response(42, &[], "").starts_with(b"HTTP/1.1 500 Internal Server Error\r\n"));
        assert!(error_response(1000, &[], "").starts_with(b"HTTP/1.1 500 "));
        assert!(error_response(418, &[], "").starts_with(b"HTTP/1.1 418 Client Error\r\n"));
    }

    #[test]
    fn error_extras() {
        let resp = text(error_response(
            426,
            &[
                h("Upgrade", "websocket"),
                h("Sec-WebSocket-Version", "13, 8"),
                h("Content-Length", "999"),
                h("Connection", "keep-alive"),
                h("transfer-encoding", "chunked"),
            ],
            "",
        ));
        assert!(resp.contains("\r\nConnection: upgrade, close\r\n"));
        assert_eq!(resp.matches("Connection").count(), 1);
        assert_eq!(resp.matches("Content-Length").count(), 1);
        assert!(resp.contains("\r\nContent-Length: 0\r\n"));
        assert!(!resp.contains("chunked"));
        assert!(resp.contains("\r\nUpgrade: websocket\r\n"));
        assert!(resp.contains("\r\nSec-WebSocket-Version: 13, 8\r\n"));
    }

    #[test]
    fn reason_header_is_printable_ascii() {
        assert_eq!(reason_header("plain reason"), "plain reason");
        assert_eq!(reason_header("naïve 100%"), "na%C3%AFve 100%25");
        assert_eq!(reason_header("a\r\nb"), "a%0D%0Ab");
    }

    #[test]
    fn rejections_carry_their_reason_then_the_extras() {
        let resp = reject_response_with(503, "too many — wait", &[("Retry-After", "5")]);
        assert!(resp.starts_with(b"HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(resp.ends_with("\r\n\r\ntoo many — wait".as_bytes()));
        let lines = header_lines(&resp);
        assert_eq!(lines[2], h("Connection", "close"));
        assert_eq!(
            lines[3..],
            [
                h("X-WebSocket-Reject-Reason", "too many %E2%80%94 wait"),
                h("Retry-After", "5"),
            ]
        );
        assert_eq!(
            reject_response(404, "gone"),
            reject_response_with(404, "gone", &[] as &[(String, String)])
        );
    }

    #[test]
    fn error_content_type_override() {
        let resp = text(error_response(
            404,
            &[h("content-type", "text/html")],
            "<p>",
        ));
        assert_eq!(resp.matches("ontent-").count(), 2); // type + length
        assert!(resp.contains("\r\ncontent-type: text/html\r\n"));
    }

    proptest! {
        #[test]
        fn responses_always_parse_with_intact_headers(
            name in any::<String>(),
            value in any::<String>(),
            protocol in any::<String>(),
            body in any::<String>(),
            status in any::<u16>(),
        ) {
            let extra = [(name.clone(), value)];
            let resp = accept_response("k", Some(&protocol), None, &extra);
            let lines = header_lines(&resp);
            // Upgrade, Connection, Accept, then at most protocol + extra.
            prop_assert!(lines.len() <= 5);

            let resp = error_response(status, &extra, &body);
            let mut headers = [httparse::EMPTY_HEADER; 8];
            let mut parsed = httparse::Response::new(&mut headers);
            let httparse::Status::Complete(n) = parsed.parse(&resp).unwrap() else {
                panic!("incomplete");
            };
            prop_assert_eq!(&resp[n..], body.as_bytes());
            prop_assert!(parsed.headers.len() <= 4);
        }

        #[test]
        fn headers_are_written_sanitized(value in "[ a-z\t\r\n\u{7f}\u{85}é]{0,12}") {
            let mut out = Vec::new();
            push_header(&mut out, "x-test", &value);
            let expected = format!("x-test: {}\r\n", sanitize_header_value(&value));
            prop_assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
    }
}
