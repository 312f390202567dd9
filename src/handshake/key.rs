//! `Sec-WebSocket-Key` / `Sec-WebSocket-Accept` (RFC 6455 §4.2.2, §1.3).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The GUID appended to the key before hashing (RFC 6455 §1.3).
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The `Sec-WebSocket-Accept` value for a client key:
/// base64(SHA-1(key + GUID)).
///
/// ```
/// use wsgate::handshake::accept_key;
///
/// assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &[u8]) -> String {
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key);
    sha.update(GUID);
    STANDARD.encode(sha.digest().bytes())
}

/// Whether `key` is a valid `Sec-WebSocket-Key`: padded standard base64
/// that decodes to exactly 16 bytes.
///
/// That is what RFC 6455 §4.1 requires of a client's nonce; a server
/// refuses any other key ([`HandshakeError::InvalidKey`](super::HandshakeError::InvalidKey)).
///
/// # Examples
///
/// ```
/// use wsgate::handshake::is_valid_key;
///
/// assert!(is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
/// assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ")); // unpadded
/// assert!(!is_valid_key(b"c2l4dGVlbiBieXRlcyBhbmQgbW9yZQ==")); // 22 bytes
/// ```
pub fn is_valid_key(key: &[u8]) -> bool {
    // 16 bytes always encode to 24 characters, so check that first and
    // never decode long hostile input.
    let mut out = [0u8; 18];
    key.len() == 24 && matches!(STANDARD.decode_slice(key, &mut out), Ok(16))
}

/// A `Sec-WebSocket-Key` from 16 random bytes the caller supplies (this
/// module has no source of randomness).
///
/// The bytes must be fresh and random for each connection (RFC 6455
/// §4.1), from the operating system's source, for instance; the
/// [`Client`](crate::Client) does that for you. The result is their
/// base64 encoding, which is always a valid key.
///
/// # Examples
///
/// ```
/// use wsgate::handshake::{accept_key, generate_key, is_valid_key};
///
/// // RFC 6455's sample nonce; use 16 random bytes instead.
/// let key = generate_key(*b"the sample nonce");
/// assert_eq!(key, "dGhlIHNhbXBsZSBub25jZQ==");
/// assert!(is_valid_key(key.as_bytes()));
/// assert_eq!(accept_key(key.as_bytes()), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn generate_key(random: [u8; 16]) -> String {
    STANDARD.encode(random)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc6455_example() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn valid_and_invalid_keys() {
        assert!(is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(is_valid_key(b"AAAAAAAAAAAAAAAAAAAAAA=="));
        // Wrong length / padding / alphabet.
        assert!(!is_valid_key(b""));
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ"));
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ=")); // 23 chars
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ==="));
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZ-_=="));
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ =="));
        // 24 chars decoding to 17 or 18 bytes.
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZQAA"));
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZQA="));
        // Non-canonical trailing bits.
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZR=="));
        assert!(!is_valid_key(&[b'A'; 100_000]));
    }

    #[test]
    fn generated_key_is_valid() {
        assert_eq!(generate_key([0; 16]), "AAAAAAAAAAAAAAAAAAAAAA==");
        assert_eq!(
            generate_key(*b"the sample nonce"),
            "dGhlIHNhbXBsZSBub25jZQ=="
        );
    }

    proptest! {
        #[test]
        fn generate_then_validate(bytes in any::<[u8; 16]>()) {
            let key = generate_key(bytes);
            prop_assert!(is_valid_key(key.as_bytes()));
            prop_assert_eq!(accept_key(key.as_bytes()).len(), 28);
        }

        #[test]
        fn is_valid_key_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = is_valid_key(&bytes);
        }
    }
}
