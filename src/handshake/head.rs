//! Locating and converting an HTTP/1.x head: shared by request and response
//! parsing.

use super::HandshakeError;

/// Bounds on an incoming HTTP head.
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

/// Finds the end of an HTTP head: the index just past the first
/// `\r\n\r\n`.
///
/// Only `buf[scanned_from.saturating_sub(3)..]` is searched, so a caller
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
/// ```
pub fn find_head_end(buf: &[u8], scanned_from: usize) -> Option<usize> {
    let start = scanned_from.saturating_sub(3).min(buf.len());
    buf[start..]
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| start + p + 4)
}

/// The end of a complete head within `limits.max_size`, `None` if more bytes
/// may still complete it, or `HeadTooLarge`.
pub(super) fn locate_head(buf: &[u8], limits: &Limits) -> Result<Option<usize>, HandshakeError> {
    let window = &buf[..buf.len().min(limits.max_size)];
    match find_head_end(window, 0) {
        Some(end) => Ok(Some(end)),
        None if buf.len() >= limits.max_size => Err(HandshakeError::HeadTooLarge),
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
/// Values must be valid UTF-8 (non-ASCII UTF-8 is kept as is); anything else
/// is `Malformed`.
pub(super) fn convert_headers(
    headers: &[httparse::Header<'_>],
) -> Result<Vec<(String, String)>, HandshakeError> {
    headers
        .iter()
        .map(|h| {
            let value = std::str::from_utf8(h.value).map_err(|_| HandshakeError::Malformed)?;
            Ok((
                h.name.to_owned(),
                value.trim_matches([' ', '\t']).to_owned(),
            ))
        })
        .collect()
}

/// Values of every header named `name` (ASCII case-insensitive), in order.
pub(super) fn header_values<'a>(
    headers: &'a [(String, String)],
    name: &str,
) -> impl Iterator<Item = &'a str> {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
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
        assert_eq!(find_head_end(b"\n\n", 0), None);
        assert_eq!(find_head_end(b"a\r\n\r\n", 4), Some(5)); // match straddles the old end
        // Scanning starts at scanned_from - 3, so a match ending earlier is
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
            Err(HandshakeError::HeadTooLarge)
        );
    }

    #[test]
    fn header_lookup_case_insensitive() {
        let headers = vec![
            ("Host".to_owned(), "a".to_owned()),
            ("X-Foo".to_owned(), "1".to_owned()),
            ("x-foo".to_owned(), "2".to_owned()),
        ];
        assert_eq!(header_values(&headers, "HOST").collect::<Vec<_>>(), ["a"]);
        assert_eq!(
            header_values(&headers, "X-FOO").collect::<Vec<_>>(),
            ["1", "2"]
        );
        assert_eq!(header_values(&headers, "nope").count(), 0);
    }
}
