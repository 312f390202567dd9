//! The receiver's tests: decoding from a buffer, limits, errors; the
//! direct-read path, the property tests and permessage-deflate in their own
//! files below.

use super::super::frame::MAX_HEADER_LEN;
use super::*;

#[cfg(feature = "deflate")]
mod deflate;
mod direct;
mod proptests;

/// Encodes one frame as a client would (masked) or a server (not).
fn frame(opcode: OpCode, fin: bool, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut header = FrameHeader::new(opcode, fin, payload.len() as u64);
    header.mask = mask;
    let mut head = [0u8; MAX_HEADER_LEN];
    let n = header.encode(&mut head);
    let mut out = head[..n].to_vec();
    let mut body = payload.to_vec();
    if let Some(key) = mask {
        apply_mask(&mut body, key, 0);
    }
    out.extend_from_slice(&body);
    out
}

fn client_frame(opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
    frame(opcode, fin, payload, Some([0x12, 0x34, 0x56, 0x78]))
}

/// Feeds `bytes` in pieces of `step` bytes, as a socket would deliver
/// them, and collects every item (stopping at the first error).
fn run(
    config: ReceiverConfig,
    bytes: &[u8],
    step: usize,
) -> (Vec<Incoming>, Option<ProtocolError>) {
    let mut rx = Receiver::new(config);
    let mut buffer: Vec<u8> = Vec::new();
    let mut items = Vec::new();
    for piece in bytes.chunks(step.max(1)) {
        buffer.extend_from_slice(piece);
        if let Err(e) = decode_buffered(&mut rx, &mut buffer, &mut items) {
            return (items, Some(e));
        }
    }
    (items, None)
}

/// Decodes everything complete in `buffer` into `items` and drops the
/// consumed bytes.
fn decode_buffered(
    rx: &mut Receiver,
    buffer: &mut Vec<u8>,
    items: &mut Vec<Incoming>,
) -> Result<(), ProtocolError> {
    let mut at = 0;
    loop {
        match rx.decode(&mut buffer[at..])? {
            (0, None) => break,
            (n, item) => {
                at += n;
                items.extend(item);
            }
        }
    }
    buffer.drain(..at);
    Ok(())
}

fn server() -> ReceiverConfig {
    ReceiverConfig::new(Role::Server)
}

#[test]
fn boundary_sizes_in_every_step() {
    for len in [0usize, 1, 125, 126, 127, 65_535, 65_536, 70_000] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let wire = client_frame(OpCode::Binary, true, &payload);
        for step in [1usize, 7, 4096, wire.len()] {
            if len > 1000 && step < 100 {
                continue;
            }
            let (items, err) = run(server(), &wire, step);
            assert_eq!(err, None);
            assert_eq!(
                items,
                vec![Incoming::Message(Message::Binary(payload.clone()))]
            );
        }
    }
}

#[test]
fn fragmented_text_with_interleaved_ping() {
    let text = "héllo wörld €𝄞";
    let bytes = text.as_bytes();
    let mut wire = client_frame(OpCode::Text, false, &bytes[..2]);
    wire.extend(client_frame(OpCode::Ping, true, b"p"));
    wire.extend(client_frame(OpCode::Continuation, false, &bytes[2..9]));
    wire.extend(client_frame(OpCode::Continuation, true, &bytes[9..]));
    for step in 1..wire.len() {
        let (items, err) = run(server(), &wire, step);
        assert_eq!(err, None);
        assert_eq!(
            items,
            vec![
                Incoming::Ping(b"p".to_vec()),
                Incoming::Message(Message::Text(text.into()))
            ]
        );
    }
}

#[test]
fn unassembled_fragments() {
    let mut wire = client_frame(OpCode::Binary, false, b"ab");
    wire.extend(client_frame(OpCode::Continuation, true, b"c"));
    let config = ReceiverConfig {
        assemble_messages: false,
        ..server()
    };
    let (items, err) = run(config, &wire, 3);
    assert_eq!(err, None);
    let kind = DataKind::Binary;
    assert_eq!(
        items,
        vec![
            Incoming::Fragment(Fragment {
                kind,
                data: b"ab".to_vec(),
                first: true,
                last: false
            }),
            Incoming::Fragment(Fragment {
                kind,
                data: b"c".to_vec(),
                first: false,
                last: true
            }),
        ]
    );
}

#[test]
fn invalid_utf8_fails_fast_in_the_first_fragment() {
    // The bad byte is in the first fragment; the message never ends.
    let wire = client_frame(OpCode::Text, false, &[b'a', 0xff]);
    let (_, err) = run(server(), &wire, 1);
    assert_eq!(err, Some(ProtocolError::InvalidUtf8));
    // A text message that ends inside a character.
    let wire = client_frame(OpCode::Text, true, &[0xe2, 0x82]);
    let (_, err) = run(server(), &wire, 100);
    assert_eq!(err, Some(ProtocolError::InvalidUtf8));
}

#[test]
fn protocol_errors() {
    let cases: Vec<(Vec<u8>, ProtocolError)> = vec![
        (
            frame(OpCode::Text, true, b"x", None),
            ProtocolError::UnmaskedFrame,
        ),
        (
            client_frame(OpCode::Continuation, true, b"x"),
            ProtocolError::UnexpectedContinuation,
        ),
        (
            {
                let mut w = client_frame(OpCode::Text, false, b"x");
                w.extend(client_frame(OpCode::Binary, true, b"y"));
                w
            },
            ProtocolError::ExpectedContinuation,
        ),
        (
            {
                let mut w = client_frame(OpCode::Text, true, b"x");
                w[0] |= 0x40;
                w
            },
            ProtocolError::ReservedBits(0x40),
        ),
        (
            client_frame(OpCode::Close, true, &[0x03]),
            ProtocolError::ClosePayload(super::super::close::ClosePayloadError::OneByte),
        ),
        (
            client_frame(OpCode::Close, true, &[0x03, 0xe8, 0xff]),
            ProtocolError::ClosePayload(super::super::close::ClosePayloadError::InvalidReason),
        ),
    ];
    for (wire, expected) in cases {
        assert_eq!(run(server(), &wire, 1).1, Some(expected));
    }
    let client = ReceiverConfig::new(Role::Client);
    assert_eq!(
        run(client, &client_frame(OpCode::Text, true, b"x"), 9).1,
        Some(ProtocolError::MaskedFrame)
    );
}

#[test]
fn limits_are_checked_on_the_declared_length() {
    let config = ReceiverConfig {
        max_frame_size: 100,
        max_message_size: 150,
        max_fragments: 3,
        ..server()
    };
    // Only the header of a huge frame: refused before any payload.
    let mut header = FrameHeader::new(OpCode::Binary, true, 1 << 40);
    header.mask = Some([1, 2, 3, 4]);
    let mut head = [0u8; MAX_HEADER_LEN];
    let n = header.encode(&mut head);
    assert_eq!(
        run(config, &head[..n], 100).1,
        Some(ProtocolError::FrameTooLarge { limit: 100 })
    );
    // Two 100-byte frames: the message limit is hit on the second header.
    let mut wire = client_frame(OpCode::Binary, false, &[0; 100]);
    wire.extend(client_frame(OpCode::Continuation, true, &[0; 100])[..8].to_vec());
    assert_eq!(
        run(config, &wire, 1000).1,
        Some(ProtocolError::MessageTooLarge { limit: 150 })
    );
    // Four empty fragments.
    let mut wire = client_frame(OpCode::Binary, false, b"");
    for _ in 0..3 {
        wire.extend(client_frame(OpCode::Continuation, false, b""));
    }
    assert_eq!(
        run(config, &wire, 1000).1,
        Some(ProtocolError::TooManyFragments { limit: 3 })
    );
}

/// The soundness hole: a text frame whose first payload byte is not
/// UTF-8 fails, and a receiver called again after that error must not
/// go on to build a `Message::Text` around the rejected byte.
#[test]
fn invalid_utf8_is_not_completed_by_calling_again() {
    let mut rx = Receiver::new(ReceiverConfig::new(Role::Client));
    // An unmasked text frame declaring 3 bytes, then 0xFF: rejected.
    // Before the fix the rejected byte stayed counted and the frame
    // still expected 3 bytes, so "abc" completed a `Message::Text`
    // holding ff 61 62 63.
    let mut header = [0x81, 0x03];
    assert_eq!(rx.decode(&mut header), Ok((2, None)));
    assert_eq!(rx.decode(&mut [0xff]), Err(ProtocolError::InvalidUtf8));
    let mut abc = *b"abc";
    assert_eq!(rx.decode(&mut abc), Err(ProtocolError::InvalidUtf8));
    assert_failed(&mut rx, ProtocolError::InvalidUtf8);
}

/// Asserts that `rx` failed with `err` for good: whatever it is given,
/// every call that decodes returns `err` and takes nothing, and no
/// direct room is offered.
fn assert_failed(rx: &mut Receiver, err: ProtocolError) {
    let mask = (rx.config().role == Role::Server).then_some([9, 8, 7, 6]);
    let valid = [
        frame(OpCode::Text, true, b"fine", mask),
        frame(OpCode::Binary, true, &[1; 300], mask),
        frame(OpCode::Continuation, true, b"abc", mask),
        frame(OpCode::Ping, true, b"p", mask),
        frame(OpCode::Close, true, &[0x03, 0xe8], mask),
        b"abc".to_vec(),
        Vec::new(),
    ];
    for _ in 0..2 {
        for bytes in &valid {
            let mut bytes = bytes.clone();
            assert_eq!(rx.decode(&mut bytes), Err(err), "{bytes:02x?}");
        }
        assert!(rx.direct_buffer(1).is_none());
        assert!(rx.direct_spare(1).is_none());
        assert_eq!(rx.direct_filled(0), Err(err));
        assert_eq!(rx.direct_filled(3), Err(err));
        // SAFETY: no byte is claimed; the receiver refuses first anyway.
        assert_eq!(unsafe { rx.direct_assume_filled(0) }, Err(err));
        assert!(!rx.is_closed());
        assert!(!rx.inflates());
    }
    assert!(rx.message.is_none(), "the message outlived the error");
}

/// Decodes `bytes` with `rx` in one buffer until the first error.
fn first_error(rx: &mut Receiver, bytes: &[u8]) -> Option<ProtocolError> {
    let mut buffer = bytes.to_vec();
    let mut items = Vec::new();
    decode_buffered(rx, &mut buffer, &mut items).err()
}

#[test]
fn every_error_sticks() {
    let limits = ReceiverConfig {
        max_frame_size: 100,
        max_message_size: 150,
        max_fragments: 3,
        ..server()
    };
    let mut too_many = client_frame(OpCode::Binary, false, b"");
    for _ in 0..3 {
        too_many.extend(client_frame(OpCode::Continuation, false, b""));
    }
    let mut too_large = client_frame(OpCode::Binary, false, &[0; 100]);
    too_large.extend(client_frame(OpCode::Continuation, true, &[0; 100]));
    let mut reserved_opcode = client_frame(OpCode::Binary, true, b"x");
    reserved_opcode[0] = 0x83;
    let cases: Vec<(ReceiverConfig, Vec<u8>, ProtocolError)> = vec![
        (
            server(),
            frame(OpCode::Text, true, b"x", None),
            ProtocolError::UnmaskedFrame,
        ),
        (
            ReceiverConfig::new(Role::Client),
            client_frame(OpCode::Text, true, b"x"),
            ProtocolError::MaskedFrame,
        ),
        (
            server(),
            reserved_opcode,
            ProtocolError::Header(super::super::frame::HeaderError::ReservedOpcode(3)),
        ),
        (
            server(),
            client_frame(OpCode::Continuation, true, b"x"),
            ProtocolError::UnexpectedContinuation,
        ),
        (
            server(),
            {
                let mut w = client_frame(OpCode::Text, false, b"x");
                w.extend(client_frame(OpCode::Binary, true, b"y"));
                w
            },
            ProtocolError::ExpectedContinuation,
        ),
        (
            server(),
            client_frame(OpCode::Close, true, &[0x03]),
            ProtocolError::ClosePayload(super::super::close::ClosePayloadError::OneByte),
        ),
        (
            limits,
            client_frame(OpCode::Binary, true, &[0; 101]),
            ProtocolError::FrameTooLarge { limit: 100 },
        ),
        (
            limits,
            too_large,
            ProtocolError::MessageTooLarge { limit: 150 },
        ),
        (
            limits,
            too_many,
            ProtocolError::TooManyFragments { limit: 3 },
        ),
        // Ending inside a character: the frame was over, the message
        // not cleared; a continuation must not finish the character.
        (
            server(),
            client_frame(OpCode::Text, true, &[0xe2, 0x82]),
            ProtocolError::InvalidUtf8,
        ),
    ];
    for (config, wire, expected) in cases {
        let mut rx = Receiver::new(config);
        assert_eq!(first_error(&mut rx, &wire), Some(expected));
        assert_failed(&mut rx, expected);
    }
}

/// The validator forgets a character it completed in a piece it then
/// rejected: fed on, it would accept bytes that do not follow that
/// character's start. Sticky errors keep such bytes out of any message.
#[test]
fn invalid_utf8_sticks_across_fragments() {
    let first = client_frame(OpCode::Text, false, b"a\xc3");
    let second = client_frame(OpCode::Continuation, false, b"\xa9\xff");
    let last = client_frame(OpCode::Continuation, true, b"b");
    for assemble_messages in [true, false] {
        let config = ReceiverConfig {
            assemble_messages,
            ..server()
        };
        let mut rx = Receiver::new(config);
        let mut items = Vec::new();
        decode_buffered(&mut rx, &mut first.clone(), &mut items).unwrap();
        assert_eq!(items.len(), usize::from(!assemble_messages));
        let mut wire = second.clone();
        // The header goes through; the payload fails.
        assert_eq!(rx.decode(&mut wire).unwrap(), (6, None));
        assert_eq!(rx.decode(&mut wire[6..]), Err(ProtocolError::InvalidUtf8));
        // The rest of that frame, then the last one: still the error.
        assert_eq!(rx.decode(&mut wire[7..]), Err(ProtocolError::InvalidUtf8));
        let mut rest = last.clone();
        assert_eq!(rx.decode(&mut rest), Err(ProtocolError::InvalidUtf8));
        assert_failed(&mut rx, ProtocolError::InvalidUtf8);
    }
}

#[test]
fn close_stops_decoding() {
    let mut wire = client_frame(OpCode::Close, true, &[0x03, 0xe8, b'o', b'k']);
    wire.extend(client_frame(OpCode::Text, true, b"after"));
    let (items, err) = run(server(), &wire, 1000);
    assert_eq!(err, None);
    assert_eq!(
        items,
        vec![Incoming::Close(Some((CloseCode::NORMAL, "ok".into())))]
    );
}
