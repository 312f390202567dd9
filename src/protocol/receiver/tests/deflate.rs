//! permessage-deflate: compressed messages inflated as they arrive, within
//! the limits, and errors that stick.

use super::super::super::deflate::{Compressor, Decompressor};
use super::proptests::{feed_on, message_bytes};
use super::*;
use proptest::prelude::*;

fn inflating(config: ReceiverConfig) -> Receiver {
    Receiver::with_decompressor(config, Decompressor::new(15, false).unwrap())
}

fn compress(tx: &mut Compressor, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    tx.compress(data, &mut out);
    out
}

/// `wire` as one compressed message from a client, frame by
/// frame: RSV1 on the first only, split into `frag`-byte frames.
fn frame_list(kind: OpCode, wire: &[u8], frag: usize) -> Vec<Vec<u8>> {
    let pieces: Vec<&[u8]> = if wire.is_empty() {
        vec![&[]]
    } else {
        wire.chunks(frag.max(1)).collect()
    };
    let last = pieces.len() - 1;
    pieces
        .iter()
        .enumerate()
        .map(|(i, piece)| {
            let op = if i == 0 { kind } else { OpCode::Continuation };
            let mut f = client_frame(op, i == last, piece);
            if i == 0 {
                f[0] |= RSV1;
            }
            f
        })
        .collect()
}

fn compressed_frames(kind: OpCode, wire: &[u8], frag: usize) -> Vec<u8> {
    frame_list(kind, wire, frag).concat()
}

/// Like `run`, with a receiver that inflates.
fn run_inflating(
    config: ReceiverConfig,
    bytes: &[u8],
    step: usize,
) -> (Vec<Incoming>, Option<ProtocolError>, Receiver) {
    let mut rx = inflating(config);
    let mut buffer: Vec<u8> = Vec::new();
    let mut items = Vec::new();
    for piece in bytes.chunks(step.max(1)) {
        buffer.extend_from_slice(piece);
        let mut at = 0;
        loop {
            match rx.decode(&mut buffer[at..]) {
                Ok((0, None)) => break,
                Ok((n, item)) => {
                    at += n;
                    items.extend(item);
                }
                Err(e) => return (items, Some(e), rx),
            }
        }
        buffer.drain(..at);
    }
    (items, None, rx)
}

fn text(len: usize) -> String {
    "héllo wörld, permessage-deflate €𝄞 "
        .chars()
        .cycle()
        .scan(0, |n, c| {
            *n += c.len_utf8();
            (*n <= len).then_some(c)
        })
        .collect()
}

#[test]
fn compressed_messages_with_context_and_interleaved_control() {
    let mut tx = Compressor::new(15, 6, false).unwrap();
    let first = text(5000);
    let second = text(3000);
    let mut wire = compressed_frames(OpCode::Text, &compress(&mut tx, first.as_bytes()), 100);
    // A ping between the fragments of the second message, and an
    // uncompressed message after it.
    let second_frames = frame_list(OpCode::Text, &compress(&mut tx, second.as_bytes()), 7);
    let cut = second_frames.len() / 2;
    wire.extend(second_frames[..cut].concat());
    wire.extend(client_frame(OpCode::Ping, true, b"p"));
    wire.extend(second_frames[cut..].concat());
    wire.extend(client_frame(OpCode::Binary, true, b"plain"));
    for step in [1, 13, 4096, wire.len()] {
        let (items, err, rx) = run_inflating(server(), &wire, step);
        assert_eq!(err, None, "step {step}");
        assert_eq!(
            items,
            vec![
                Incoming::Message(Message::Text(first.clone())),
                Incoming::Ping(b"p".to_vec()),
                Incoming::Message(Message::Text(second.clone())),
                Incoming::Message(Message::Binary(b"plain".to_vec())),
            ]
        );
        assert!(rx.inflates());
    }
}

#[test]
fn empty_and_single_byte_messages() {
    let mut tx = Compressor::new(15, 6, false).unwrap();
    let mut wire = compressed_frames(OpCode::Binary, &compress(&mut tx, b""), 10);
    wire.extend(compressed_frames(OpCode::Text, &compress(&mut tx, b"a"), 1));
    // An empty payload with RSV1 is the empty message too (the tail
    // alone inflates to nothing).
    wire.extend(compressed_frames(OpCode::Binary, b"", 1));
    let (items, err, _) = run_inflating(server(), &wire, 3);
    assert_eq!(err, None);
    assert_eq!(
        items,
        vec![
            Incoming::Message(Message::Binary(Vec::new())),
            Incoming::Message(Message::Text("a".into())),
            Incoming::Message(Message::Binary(Vec::new())),
        ]
    );
}

#[test]
fn rsv1_only_on_the_first_data_frame() {
    let wire = compress(&mut Compressor::new(15, 6, false).unwrap(), b"Hello");
    // On a continuation.
    let mut frames = frame_list(OpCode::Text, &wire, 3);
    frames[1][0] |= RSV1;
    let w = frames.concat();
    let err = run_inflating(server(), &w, 100).1.unwrap();
    assert_eq!(err, ProtocolError::MisplacedCompressionBit);
    assert_eq!(err.close_code(), CloseCode::PROTOCOL_ERROR);
    // On a control frame.
    let mut ping = client_frame(OpCode::Ping, true, b"x");
    ping[0] |= RSV1;
    assert_eq!(
        run_inflating(server(), &ping, 100).1,
        Some(ProtocolError::MisplacedCompressionBit)
    );
    // RSV2 and RSV3 stay errors.
    let mut w = compressed_frames(OpCode::Text, &wire, 100);
    w[0] |= 0x20;
    assert_eq!(
        run_inflating(server(), &w, 100).1,
        Some(ProtocolError::ReservedBits(0x20))
    );
    // Without a decompressor RSV1 is an error (1002), as before.
    let w = compressed_frames(OpCode::Text, &wire, 100);
    let err = run(server(), &w, 100).1.unwrap();
    assert_eq!(err, ProtocolError::ReservedBits(RSV1));
    assert_eq!(err.close_code(), CloseCode::PROTOCOL_ERROR);
}

#[test]
fn bomb_fails_with_1009_and_bounded_memory() {
    let mut tx = Compressor::new(15, 9, false).unwrap();
    let bomb = compress(&mut tx, &vec![0u8; 64 << 20]);
    assert!(bomb.len() < 80 << 10, "{}", bomb.len());
    let config = ReceiverConfig {
        max_message_size: 1 << 20,
        ..server()
    };
    let wire = compressed_frames(OpCode::Binary, &bomb, 4096);
    let mut rx = inflating(config);
    let mut buf = wire.clone();
    let mut at = 0;
    let err = loop {
        match rx.decode(&mut buf[at..]) {
            Ok((n, _)) => at += n,
            Err(e) => break e,
        }
    };
    assert_eq!(err, ProtocolError::MessageTooLarge { limit: 1 << 20 });
    assert_eq!(err.close_code(), CloseCode::MESSAGE_TOO_BIG);
    // It stopped within the first few KiB of the bomb.
    assert!(at < 16 << 10, "read {at} bytes");
    let held = rx.message.as_ref().map_or(0, |p| p.data.capacity());
    assert!(held <= (1 << 20) + 1, "{held}");
    // And the inflater is gone.
    assert!(!rx.inflates());
}

#[test]
fn reference_past_the_agreed_window_fails_with_1002() {
    let data = crate::protocol::deflate::tests::past_a_512_byte_window();
    let wire = compress(&mut Compressor::new(15, 6, false).unwrap(), &data);
    let frames = compressed_frames(OpCode::Binary, &wire, 50);
    for (bits, expected) in [(9, Some(9)), (10, None), (15, None)] {
        let mut rx = Receiver::with_decompressor(server(), Decompressor::new(bits, false).unwrap());
        let mut buffer = frames.clone();
        let mut at = 0;
        let result = loop {
            match rx.decode(&mut buffer[at..]) {
                Ok((0, None)) => break Ok(()),
                Ok((n, _)) => at += n,
                Err(e) => break Err(e),
            }
        };
        match expected {
            Some(window_bits) => {
                let err = result.unwrap_err();
                assert_eq!(err, ProtocolError::CompressedWindowExceeded { window_bits });
                assert_eq!(err.close_code(), CloseCode::PROTOCOL_ERROR);
                assert_eq!(
                    err.to_string(),
                    "compressed data refers back past the agreed 512-byte window"
                );
            }
            None => assert_eq!(result, Ok(())),
        }
    }
}

#[test]
fn corrupt_data_fails_with_1007() {
    let wire = compressed_frames(OpCode::Binary, &[0xff; 16], 100);
    let (_, err, rx) = run_inflating(server(), &wire, 5);
    let err = err.unwrap();
    assert_eq!(err, ProtocolError::InvalidCompressedData);
    assert_eq!(err.close_code(), CloseCode::INVALID_PAYLOAD);
    assert!(!rx.inflates());
}

#[test]
fn invalid_utf8_inside_compressed_text_fails_with_1007() {
    let mut tx = Compressor::new(15, 6, false).unwrap();
    let mut data = text(2000).into_bytes();
    data[1500] = 0xff;
    let wire = compressed_frames(OpCode::Text, &compress(&mut tx, &data), 64);
    assert_eq!(
        run_inflating(server(), &wire, 50).1,
        Some(ProtocolError::InvalidUtf8)
    );
    // Ending inside a character.
    let wire = compressed_frames(OpCode::Text, &compress(&mut tx, &[0xe2, 0x82]), 64);
    assert_eq!(
        run_inflating(server(), &wire, 50).1,
        Some(ProtocolError::InvalidUtf8)
    );
}

#[test]
fn compressed_bytes_are_capped_too() {
    let config = ReceiverConfig {
        max_message_size: 1000,
        ..server()
    };
    // Empty stored blocks: inflate to nothing, forever.
    let empty_blocks: Vec<u8> = [0x00, 0x00, 0x00, 0xff, 0xff].repeat(500);
    let wire = compressed_frames(OpCode::Binary, &empty_blocks, 600);
    assert_eq!(
        run_inflating(config, &wire, 4096).1,
        Some(ProtocolError::MessageTooLarge { limit: 1000 })
    );
    // Just under the cap is fine.
    let blocks = config.max_compressed_size() / 5;
    let ok: Vec<u8> = [0x00, 0x00, 0x00, 0xff, 0xff].repeat(blocks);
    let wire = compressed_frames(OpCode::Binary, &ok, 600);
    let (items, err, _) = run_inflating(config, &wire, 4096);
    assert_eq!(err, None);
    assert_eq!(items, vec![Incoming::Message(Message::Binary(Vec::new()))]);
}

#[test]
fn unassembled_fragments_are_inflated_within_the_limit() {
    let mut tx = Compressor::new(15, 6, false).unwrap();
    let data = text(20_000).into_bytes();
    let wire = compressed_frames(OpCode::Text, &compress(&mut tx, &data), 200);
    let config = ReceiverConfig {
        assemble_messages: false,
        ..server()
    };
    let (items, err, _) = run_inflating(config, &wire, 333);
    assert_eq!(err, None);
    let mut joined = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Incoming::Fragment(f) = item else {
            panic!("{item:?}");
        };
        assert_eq!(f.kind, DataKind::Text);
        assert_eq!((f.first, f.last), (i == 0, i + 1 == items.len()));
        joined.extend_from_slice(&f.data);
    }
    assert_eq!(joined, data);
    // The limit counts every fragment's inflated bytes.
    let config = ReceiverConfig {
        max_message_size: 19_999,
        ..config
    };
    let mut tx = Compressor::new(15, 6, false).unwrap();
    let wire = compressed_frames(OpCode::Text, &compress(&mut tx, &data), 200);
    assert_eq!(
        run_inflating(config, &wire, 333).1,
        Some(ProtocolError::MessageTooLarge { limit: 19_999 })
    );
}

/// An error while inflating (bad text, bad DEFLATE data, too much
/// of it) is final too: nothing after it is inflated or decoded,
/// compressed or not.
#[test]
fn errors_stick_while_inflating() {
    let mut tx = Compressor::new(15, 6, false).unwrap();
    let mut data = text(2000).into_bytes();
    data[1500] = 0xff;
    let mut bad_text = compressed_frames(OpCode::Text, &compress(&mut tx, &data), 64);
    let fine = compressed_frames(OpCode::Text, &compress(&mut tx, b"fine"), 64);
    bad_text.extend(&fine);
    let mut corrupt = compressed_frames(OpCode::Binary, &[0xff; 16], 100);
    corrupt.extend(&fine);
    let bomb = compress(&mut tx, &vec![0u8; 4 << 20]);
    let mut bomb = compressed_frames(OpCode::Text, &bomb, 4096);
    bomb.extend(&fine);
    let cases = [
        (server(), bad_text, ProtocolError::InvalidUtf8),
        (server(), corrupt, ProtocolError::InvalidCompressedData),
        (
            ReceiverConfig {
                max_message_size: 1 << 20,
                ..server()
            },
            bomb,
            ProtocolError::MessageTooLarge { limit: 1 << 20 },
        ),
    ];
    for (config, wire, expected) in cases {
        for assemble_messages in [true, false] {
            let config = ReceiverConfig {
                assemble_messages,
                ..config
            };
            let mut rx = inflating(config);
            assert_eq!(first_error(&mut rx, &wire), Some(expected));
            // A compressed frame after the error is not inflated,
            // nor taken as an uncompressed one.
            let mut again = fine.clone();
            assert_eq!(rx.decode(&mut again), Err(expected));
            assert_failed(&mut rx, expected);
        }
    }
}

#[test]
fn close_releases_the_inflater() {
    let mut wire = compressed_frames(OpCode::Binary, &[0x00], 10);
    wire.extend(client_frame(OpCode::Close, true, &[0x03, 0xe8]));
    let (items, err, rx) = run_inflating(server(), &wire, 100);
    assert_eq!(err, None);
    assert_eq!(items.len(), 2);
    assert!(rx.is_closed() && !rx.inflates());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn compressed_roundtrip_any_split(
        messages in proptest::collection::vec(
            proptest::collection::vec(0u8..4, 0..6000), 1..4),
        frag in 1usize..3000,
        step in 1usize..5000,
        bits in 9u8..=15,
        no_context_takeover in any::<bool>(),
    ) {
        let mut tx = Compressor::new(bits, 6, no_context_takeover).unwrap();
        let mut wire = Vec::new();
        for m in &messages {
            wire.extend(compressed_frames(OpCode::Binary, &compress(&mut tx, m), frag));
        }
        let mut rx = Receiver::with_decompressor(
            server(),
            Decompressor::new(bits, no_context_takeover).unwrap(),
        );
        let mut buffer = Vec::new();
        let mut items = Vec::new();
        for piece in wire.chunks(step) {
            buffer.extend_from_slice(piece);
            let mut at = 0;
            loop {
                match rx.decode(&mut buffer[at..]).unwrap() {
                    (0, None) => break,
                    (n, item) => { at += n; items.extend(item); }
                }
            }
            buffer.drain(..at);
        }
        let expected: Vec<Incoming> = messages
            .into_iter()
            .map(|m| Incoming::Message(Message::Binary(m)))
            .collect();
        prop_assert_eq!(items, expected);
    }

    /// Compressed messages of valid, nearly valid and arbitrary
    /// text (some with their DEFLATE data corrupted, some sent
    /// uncompressed), read in arbitrary pieces and called on after
    /// every error: all text is UTF-8 and errors stick.
    #[test]
    fn inflated_text_is_utf8_and_errors_stick(
        messages in proptest::collection::vec(
            (message_bytes(), 1usize..200, 0u8..8, any::<prop::sample::Index>(), any::<u8>()),
            1..4),
        steps in proptest::collection::vec(1usize..300, 1..6),
        direct in proptest::collection::vec(proptest::option::of(any::<bool>()), 1..5),
        assemble in any::<bool>(), small in any::<bool>(),
    ) {
        let mut tx = Compressor::new(15, 6, false).unwrap();
        let mut wire = Vec::new();
        for (bytes, frag, how, at, byte) in &messages {
            match how {
                // Uncompressed.
                0 => wire.extend(client_frame(OpCode::Text, true, bytes)),
                // Compressed, one byte of the DEFLATE data replaced.
                1 => {
                    let mut deflated = compress(&mut tx, bytes);
                    if !deflated.is_empty() {
                        let at = at.index(deflated.len());
                        deflated[at] = *byte;
                    }
                    wire.extend(compressed_frames(OpCode::Text, &deflated, *frag));
                }
                _ => wire.extend(compressed_frames(
                    OpCode::Text,
                    &compress(&mut tx, bytes),
                    *frag,
                )),
            }
        }
        let config = ReceiverConfig {
            assemble_messages: assemble,
            max_message_size: if small { 40 } else { 1 << 20 },
            ..server()
        };
        feed_on(inflating(config), &wire, &steps, |read| direct[read % direct.len()])?;
    }

    #[test]
    fn arbitrary_compressed_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..2000),
        step in 1usize..64,
    ) {
        let config = ReceiverConfig { max_message_size: 4096, ..server() };
        let wire = compressed_frames(OpCode::Binary, &bytes, 300);
        let _ = run_inflating(config, &wire, step);
    }
}
