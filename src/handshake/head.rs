//! Locating and converting an HTTP/1.x head: shared by request and response
//! parsing.

use super::HandshakeError;

/// Bounds on an incoming HTTP head.
///
/// [`parse_head`](super::parse_head) and
/// [`parse_response`](super::parse_response) refuse a head that does not
/// fit; the server takes its limits from
/// [`Config::max_handshake_size`](crate::Config::max_handshake_size) and
/// [`Config::max_handshake_headers`](crate::Config::max_handshake_headers).
///
/// # Examples
///
/// ```
/// use wsgate::handshake::{HandshakeError, Limits, parse_head};
///
/// let limits = Limits { max_headers: 1, ..Limits::default() };
/// assert_eq!(limits.max_size, 16 * 1024);
/// let buf = b"GET / HTTP/1.1\r\nHost: a\r\nOrigin: b\r\n\r\n";
/// assert_eq!(parse_head(buf, &limits), Err(HandshakeError::TooManyHeaders));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes the head (request/status line, headers, blank line) may
    /// take; beyond this the head is rejected with 431.
    pub max_size: usize,
    /// Most header fields the head may have; beyond this, 431.
    pub max_headers: usize,
}

impl Default for Limits {
    /// 16 KiB and 64 header fields: roomy for browsers with large cookies.
    fn default() -> Self {
        Self {
            max_size: 16 * 1024,
            max_headers: 64,
        }
    }
}

/// Finds the end of an HTTP head: the index just past the first empty line.
///
/// Lines end with CRLF, or with a bare LF, which RFC 9112 §2.2 lets a
/// recipient accept (httparse, which parses the head, does): the head ends
/// at the first `\r\n\r\n`, `\n\n` or `\n\r\n`.
///
/// Only `buf[scanned_from.saturating_sub(2)..]` is searched, so a caller
/// that passes the previous buffer length after each read does linear total
/// work however the bytes trickle in.
///
/// ```
/// use wsgate::handshake::find_head_end;
///
/// let mut buf = b"GET / HTTP/1.1\r\nHost: a\r\n\r".to_vec();
/// assert_eq!(find_head_end(&buf, 0), None);
/// let scanned = buf.len();
/// buf.extend_from_slice(b"\nrest");
/// assert_eq!(find_head_end(&buf, scanned), Some(buf.len() - 4));
/// assert_eq!(find_head_end(b"GET / HTTP/1.1\nHost: a\n\nrest", 0), Some(24));
/// ```
pub fn find_head_end(buf: &[u8], scanned_from: usize) -> Option<usize> {
    // Every ending is an LF followed by LF or CR LF; the LF that starts it
    // may be the last or the second-to-last byte scanned before.
    let start = scanned_from.saturating_sub(2).min(buf.len());
    let mut from = start;
    while let Some(i) = buf[from..].iter().position(|&b| b == b'\n') {
        let lf = from + i;
        match buf.get(lf + 1..lf + 3) {
            Some([b'\n', _]) => return Some(lf + 2),
            Some(b"\r\n") => return Some(lf + 3),
            None if buf.get(lf + 1) == Some(&b'\n') => return Some(lf + 2),
            _ => from = lf + 1,
        }
    }
    None
}

/// The error for a head that did not end within the size limit: 414 when
/// not even the request line ended (the target is what is too long), else
/// 431.
pub(crate) fn too_large(buf: &[u8], limits: &Limits) -> HandshakeError {
    if buf[..buf.len().min(limits.max_size)].contains(&b'\n') {
        HandshakeError::HeadTooLarge
    } else {
        HandshakeError::TargetTooLong
    }
}

/// The end of a complete head within `limits.max_size`, `None` if more bytes
/// may still complete it, or `HeadTooLarge`/`TargetTooLong`.
pub(super) fn locate_head(buf: &[u8], limits: &Limits) -> Result<Option<usize>, HandshakeError> {
    let window = &buf[..buf.len().min(limits.max_size)];
    match find_head_end(window, 0) {
        Some(end) => Ok(Some(end)),
        None if buf.len() >= limits.max_size => Err(too_large(buf, limits)),
        None => Ok(None),
    }
}

/// Maps an httparse failure to our error.
pub(super) fn map_parse_error(e: httparse::Error) -> HandshakeError {
    match e {
        httparse::Error::TooManyHeaders => HandshakeError::TooManyHeaders,
        _ => HandshakeError::Malformed,
    }
}

/// Checks that httparse consumed exactly the located head.
pub(super) fn check_complete(
    status: httparse::Status<usize>,
    end: usize,
) -> Result<(), HandshakeError> {
    match status {
        httparse::Status::Complete(n) if n == end => Ok(()),
        // A bare-LF blank line earlier than the CRLF CRLF, or no blank line
        // at all according to httparse: refuse rather than guess.
        _ => Err(HandshakeError::Malformed),
    }
}

/// Owned headers: names as sent, values with surrounding whitespace trimmed.
/// A value that is valid UTF-8 is kept as is; any other value is read as
/// ISO-8859-1, one character per byte (RFC 9110 §5.5 treats such `obs-text`
/// bytes as opaque data; Node.js decodes them the same way), so one odd
/// byte in a cookie does not fail the request.
pub(super) fn convert_headers(headers: &[httparse::Header<'_>]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|h| {
            let value = match std::str::from_utf8(h.value) {
                Ok(text) => text.to_owned(),
                Err(_) => h.value.iter().map(|&b| char::from(b)).collect(),
            };
            (
                h.name.to_owned(),
                value.trim_matches([' ', '\t']).to_owned(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_end_found() {
        assert_eq!(find_head_end(b"\r\n\r\n", 0), Some(4));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\nXY", 0), Some(18));
        assert_eq!(find_head_end(b"a\r\n\r\nb\r\n\r\n", 0), Some(5));
        assert_eq!(find_head_end(b"a\r\n\r\n", 100), None); // past the end: nothing new
        assert_eq!(find_head_end(b"", 0), None);
        assert_eq!(find_head_end(b"\r\n\r", 0), None);
        assert_eq!(find_head_end(b"\n\n", 0), Some(2));
        assert_eq!(find_head_end(b"a\n\r\nb", 0), Some(4));
        assert_eq!(find_head_end(b"a\r\nb: c\n\nd", 0), Some(9));
        assert_eq!(find_head_end(b"a\r\nb\r\n", 0), None);
        assert_eq!(find_head_end(b"a\n\r", 0), None);
        assert_eq!(find_head_end(b"a\n\r\n", 3), Some(4)); // LF two bytes back
        assert_eq!(find_head_end(b"a\n\n", 3), Some(3));
        assert_eq!(find_head_end(b"a\r\n\r\n", 4), Some(5)); // match straddles the old end
        // Scanning starts at scanned_from - 2, so a match ending earlier is
        // not reported (the caller already saw those bytes).
        assert_eq!(find_head_end(b"\r\n\r\nabcdefgh", 8), None);
    }

    #[test]
    fn head_end_byte_at_a_time() {
        let msg = b"GET / HTTP/1.1\r\nHost: x\r\n\r\npipelined";
        let mut buf = Vec::new();
        let mut scanned = 0;
        let mut found = None;
        for &b in msg {
            buf.push(b);
            if let Some(end) = find_head_end(&buf, scanned) {
                found = Some(end);
                break;
            }
            scanned = buf.len();
        }
        assert_eq!(found, Some(27));
        assert_eq!(&msg[..27], b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    }

    #[test]
    fn head_end_hostile_trickle() {
        // 1 MB of near-misses fed a byte at a time: linear total work.
        let mut buf = Vec::with_capacity(1 << 20);
        let mut scanned = 0;
        for i in 0..(1 << 20) {
            buf.push(b"\r\n\r"[i % 3]);
            assert_eq!(find_head_end(&buf, scanned), None);
            scanned = buf.len();
        }
    }

    #[test]
    fn locate_limits() {
        let limits = Limits {
            max_size: 8,
            max_headers: 4,
        };
        assert_eq!(locate_head(b"abcd", &limits), Ok(None));
        assert_eq!(locate_head(b"ab\r\n\r\n", &limits), Ok(Some(6)));
        assert_eq!(locate_head(b"abcd\r\n\r\n", &limits), Ok(Some(8)));
        assert_eq!(
            locate_head(b"abcde\r\n\r\n", &limits),
            Err(HandshakeError::HeadTooLarge)
        );
        assert_eq!(
            locate_head(b"abcdefgh", &limits),
            Err(HandshakeError::TargetTooLong)
        );
        assert_eq!(
            locate_head(b"a\r\nbcdefgh", &limits),
            Err(HandshakeError::HeadTooLarge)
        );
    }
}
