//! What a node puts on the broker for one publish, and how a node reads it
//! back: plain code over bytes.
//!
//! ```text
//! byte 0       format version (1)
//! bytes 1..17  the publishing node's id (16 random bytes, made when the
//!              server is built)
//! byte 17      the message kind: 1 text, 2 binary
//! bytes 18..   the message's payload
//! ```
//!
//! The node id lets a node ignore its own publishes when the broker echoes
//! them back (Redis delivers a publish to every subscriber of the channel,
//! the publisher's own subscription included). Anything else on the
//! channel, whatever wrote it, is checked before it reaches a subscriber:
//! a wrong version or kind, a short envelope or text that is not UTF-8 is
//! [`Malformed`] and is dropped.

use crate::protocol::DataKind;

/// The format version this build writes and reads.
const VERSION: u8 = 1;
const TEXT: u8 = 1;
const BINARY: u8 = 2;
/// Bytes before the payload.
pub(crate) const HEADER_LEN: usize = 18;

/// A node's id on the broker.
pub(crate) type NodeId = [u8; 16];

/// One publish, read back from the broker.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Envelope<'a> {
    pub(crate) node: NodeId,
    pub(crate) kind: DataKind,
    pub(crate) payload: &'a [u8],
}

/// Why bytes from the broker are not a publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Malformed {
    /// Fewer bytes than the header.
    Short,
    /// A format version this build does not read.
    Version(u8),
    /// Neither text nor binary.
    Kind(u8),
    /// A text message whose payload is not UTF-8.
    NotUtf8,
}

/// The envelope of `payload`, published by `node`.
pub(crate) fn encode(node: &NodeId, kind: DataKind, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.push(VERSION);
    out.extend_from_slice(node);
    out.push(match kind {
        DataKind::Text => TEXT,
        DataKind::Binary => BINARY,
    });
    out.extend_from_slice(payload);
    out
}

/// Reads an envelope; text payloads are checked to be UTF-8.
pub(crate) fn decode(bytes: &[u8]) -> Result<Envelope<'_>, Malformed> {
    if bytes.len() < HEADER_LEN {
        return Err(Malformed::Short);
    }
    if bytes[0] != VERSION {
        return Err(Malformed::Version(bytes[0]));
    }
    let mut node = [0; 16];
    node.copy_from_slice(&bytes[1..17]);
    let payload = &bytes[HEADER_LEN..];
    let kind = match bytes[17] {
        TEXT if std::str::from_utf8(payload).is_err() => return Err(Malformed::NotUtf8),
        TEXT => DataKind::Text,
        BINARY => DataKind::Binary,
        other => return Err(Malformed::Kind(other)),
    };
    Ok(Envelope {
        node,
        kind,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NODE: NodeId = [7; 16];

    #[test]
    fn text_and_binary_round_trip() {
        let text = encode(&NODE, DataKind::Text, "héllo".as_bytes());
        assert_eq!(text.len(), HEADER_LEN + 6);
        let back = decode(&text).unwrap();
        assert_eq!(back.node, NODE);
        assert_eq!(back.kind, DataKind::Text);
        assert_eq!(back.payload, "héllo".as_bytes());
        let binary = encode(&NODE, DataKind::Binary, &[0xff, 0]);
        assert_eq!(decode(&binary).unwrap().kind, DataKind::Binary);
        assert_eq!(
            decode(&encode(&NODE, DataKind::Text, b"")).unwrap().payload,
            b""
        );
    }

    #[test]
    fn bad_envelopes_are_named() {
        let good = encode(&NODE, DataKind::Text, b"hi");
        assert_eq!(decode(&good[..HEADER_LEN - 1]), Err(Malformed::Short));
        assert_eq!(decode(b""), Err(Malformed::Short));
        let mut version = good.clone();
        version[0] = 2;
        assert_eq!(decode(&version), Err(Malformed::Version(2)));
        let mut kind = good.clone();
        kind[17] = 9;
        assert_eq!(decode(&kind), Err(Malformed::Kind(9)));
        let not_utf8 = encode(&NODE, DataKind::Text, &[b'a', 0xff]);
        assert_eq!(decode(&not_utf8), Err(Malformed::NotUtf8));
        // The same bytes are a fine binary message.
        assert!(decode(&encode(&NODE, DataKind::Binary, &[b'a', 0xff])).is_ok());
    }

    proptest! {
        #[test]
        fn any_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(envelope) = decode(&bytes) {
                prop_assert_eq!(envelope.payload.len(), bytes.len() - HEADER_LEN);
                if envelope.kind == DataKind::Text {
                    prop_assert!(std::str::from_utf8(envelope.payload).is_ok());
                }
                prop_assert_eq!(encode(&envelope.node, envelope.kind, envelope.payload), bytes);
            }
        }
    }
}
