//! Close codes and close frame payloads (RFC 6455 §5.5.1, §7.4).

use super::utf8::Utf8Validator;

/// A close status code (RFC 6455 §7.4).
///
/// The constants name the registered codes. Codes 3000–3999 are for
/// libraries and frameworks, 4000–4999 for applications.
///
/// # Examples
///
/// ```
/// use wsgate::CloseCode;
///
/// assert_eq!(CloseCode::NORMAL.as_u16(), 1000);
/// assert_eq!(CloseCode::from(1008), CloseCode::POLICY_VIOLATION);
/// assert!(CloseCode::from(4001).is_sendable());
///
/// // The codes an endpoint sends when it closes on its own account.
/// for code in [
///     CloseCode::GOING_AWAY,       // server shutdown
///     CloseCode::PROTOCOL_ERROR,   // the peer broke RFC 6455
///     CloseCode::INVALID_PAYLOAD,  // text that is not UTF-8
///     CloseCode::MESSAGE_TOO_BIG,  // over the size limit
///     CloseCode::TRY_AGAIN_LATER,  // overloaded
/// ] {
///     assert!(code.is_sendable());
/// }
/// // The codes that only report what happened, never sent in a close frame.
/// for code in [CloseCode::NO_STATUS, CloseCode::ABNORMAL, CloseCode::TLS_HANDSHAKE] {
///     assert!(!code.is_sendable());
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(u16);

impl CloseCode {
    /// 1000: the purpose of the connection has been fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigation).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: the endpoint cannot accept this kind of data.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: no status code was present (never sent on the wire).
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: the connection closed without a close frame (never sent).
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: a text message was not valid UTF-8, or data was inconsistent.
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: the message violates the endpoint's policy.
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: a frame or message is larger than the endpoint accepts.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client expected an extension the server did not negotiate.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: the server met an unexpected condition.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1012: the server is restarting.
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// 1013: try again later (temporary overload).
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// 1014: a gateway got an invalid response upstream.
    pub const BAD_GATEWAY: CloseCode = CloseCode(1014);
    /// 1015: the TLS handshake failed (never sent).
    pub const TLS_HANDSHAKE: CloseCode = CloseCode(1015);

    /// The numeric code.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(wsgate::CloseCode::GOING_AWAY.as_u16(), 1001);
    /// ```
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// Whether an endpoint may put this code in a close frame.
    ///
    /// True for the registered codes 1000–1003 and 1007–1014 and for the
    /// private ranges 3000–4999. A close frame received with any other code is
    /// a protocol error (1002).
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::CloseCode;
    ///
    /// assert!(CloseCode::NORMAL.is_sendable());
    /// assert!(CloseCode::from(3000).is_sendable());
    /// assert!(!CloseCode::from(1004).is_sendable());
    /// assert!(!CloseCode::NO_STATUS.is_sendable());
    /// assert!(!CloseCode::from(2999).is_sendable());
    /// ```
    pub const fn is_sendable(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        CloseCode(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> Self {
        code.0
    }
}

impl std::fmt::Display for CloseCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why a close frame payload was refused.
///
/// # Examples
///
/// ```
/// use wsgate::protocol::{parse_close_payload, ClosePayloadError};
///
/// assert_eq!(parse_close_payload(&[0x03]), Err(ClosePayloadError::OneByte));
/// assert_eq!(
///     parse_close_payload(&[0x03, 0xed]).unwrap_err().to_string(),
///     "close code 1005 may not be sent"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClosePayloadError {
    /// A one-byte payload cannot hold a status code.
    OneByte,
    /// The status code may not be sent on the wire.
    InvalidCode(u16),
    /// The reason is not valid UTF-8.
    InvalidReason,
}

impl std::fmt::Display for ClosePayloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClosePayloadError::OneByte => f.write_str("one-byte close payload"),
            ClosePayloadError::InvalidCode(code) => write!(f, "close code {code} may not be sent"),
            ClosePayloadError::InvalidReason => f.write_str("close reason is not valid UTF-8"),
        }
    }
}

impl std::error::Error for ClosePayloadError {}

/// Reads a close frame's payload: an optional code and a UTF-8 reason.
///
/// An empty payload means no status code ([`CloseCode::NO_STATUS`] is what an
/// application sees).
///
/// # Examples
///
/// ```
/// use wsgate::protocol::parse_close_payload;
/// use wsgate::CloseCode;
///
/// let payload = [0x03, 0xe8, b'b', b'y', b'e'];
/// assert_eq!(parse_close_payload(&payload), Ok(Some((CloseCode::NORMAL, "bye"))));
/// assert_eq!(parse_close_payload(&[]), Ok(None));
/// ```
pub fn parse_close_payload(payload: &[u8]) -> Result<Option<(CloseCode, &str)>, ClosePayloadError> {
    match payload.len() {
        0 => Ok(None),
        1 => Err(ClosePayloadError::OneByte),
        _ => {
            let code = CloseCode(u16::from_be_bytes([payload[0], payload[1]]));
            if !code.is_sendable() {
                return Err(ClosePayloadError::InvalidCode(code.0));
            }
            let reason =
                std::str::from_utf8(&payload[2..]).map_err(|_| ClosePayloadError::InvalidReason)?;
            Ok(Some((code, reason)))
        }
    }
}

/// Builds a close frame payload, cutting the reason at a character boundary
/// so that the payload fits in 125 bytes.
///
/// [`CloseCode::NO_STATUS`] gives an empty payload.
///
/// # Examples
///
/// ```
/// use wsgate::protocol::close_payload;
/// use wsgate::CloseCode;
///
/// assert_eq!(close_payload(CloseCode::NORMAL, "bye"), vec![0x03, 0xe8, b'b', b'y', b'e']);
/// assert_eq!(close_payload(CloseCode::NORMAL, &"é".repeat(100)).len(), 124);
/// ```
pub fn close_payload(code: CloseCode, reason: &str) -> Vec<u8> {
    if code == CloseCode::NO_STATUS {
        return Vec::new();
    }
    let reason = fit_reason(reason);
    let mut payload = Vec::with_capacity(2 + reason.len());
    payload.extend_from_slice(&code.0.to_be_bytes());
    payload.extend_from_slice(reason.as_bytes());
    debug_assert!({
        let mut v = Utf8Validator::new();
        v.feed(&payload[2..]).is_ok() && v.finish().is_ok()
    });
    payload
}

/// `reason` as a close frame carries it: cut at a character boundary to
/// fit the 123 bytes left after the code.
pub(crate) fn fit_reason(reason: &str) -> &str {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_ranges() {
        let valid = [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
            4000, 4999,
        ];
        for code in valid {
            assert!(CloseCode(code).is_sendable(), "{code}");
        }
        let invalid = [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ];
        for code in invalid {
            assert!(!CloseCode(code).is_sendable(), "{code}");
        }
    }

    #[test]
    fn payload_rules() {
        assert_eq!(parse_close_payload(&[]), Ok(None));
        assert_eq!(parse_close_payload(&[3]), Err(ClosePayloadError::OneByte));
        assert_eq!(
            parse_close_payload(&[0x03, 0xed]),
            Err(ClosePayloadError::InvalidCode(1005))
        );
        assert_eq!(
            parse_close_payload(&[0x03, 0xe8, 0xff]),
            Err(ClosePayloadError::InvalidReason)
        );
        assert_eq!(
            parse_close_payload(&[0x0f, 0xa0]),
            Ok(Some((CloseCode(4000), "")))
        );
    }

    #[test]
    fn long_reason_is_cut_on_a_char_boundary() {
        let payload = close_payload(CloseCode::NORMAL, &"€".repeat(60));
        assert!(payload.len() <= 125);
        assert!(std::str::from_utf8(&payload[2..]).is_ok());
        assert_eq!(
            close_payload(CloseCode::NO_STATUS, "ignored"),
            Vec::<u8>::new()
        );
    }
}
