//! Property tests: arbitrary bytes, any split, and a careless caller that
//! goes on after errors; `feed_on` and `message_bytes` serve the
//! permessage-deflate ones too.

use super::*;
use proptest::prelude::*;

/// Everything a receiver said, read the way a connection reads (a
/// buffer, or straight into the message), and checked as it comes:
/// no text that is not UTF-8, nothing after an error, and from the first
/// error on, every call returns it.
#[derive(Default)]
pub(super) struct Watch {
    items: Vec<Incoming>,
    failed: Option<ProtocolError>,
    /// The text message being received as fragments, so far.
    text_fragments: Option<Vec<u8>>,
}

impl Watch {
    fn took(&mut self, item: Option<Incoming>) -> Result<(), TestCaseError> {
        prop_assert_eq!(self.failed, None, "decoded after an error: {:?}", item);
        let Some(item) = item else { return Ok(()) };
        match &item {
            Incoming::Message(Message::Text(text)) => {
                prop_assert!(
                    std::str::from_utf8(text.as_bytes()).is_ok(),
                    "{:02x?}",
                    text.as_bytes()
                );
            }
            Incoming::Fragment(f) if f.kind == DataKind::Text => {
                let so_far = self.text_fragments.get_or_insert_with(Vec::new);
                so_far.extend_from_slice(&f.data);
                // Every text fragment is UTF-8 so far (at most an
                // incomplete character at its end), and the last one
                // completes it.
                match std::str::from_utf8(so_far) {
                    Ok(_) => {}
                    Err(e) => prop_assert!(
                        !f.last && e.error_len().is_none(),
                        "text fragments not UTF-8: {:02x?}",
                        so_far
                    ),
                }
                if f.last {
                    self.text_fragments = None;
                }
            }
            _ => {}
        }
        self.items.push(item);
        Ok(())
    }

    fn error(&mut self, e: ProtocolError) -> Result<(), TestCaseError> {
        match self.failed {
            Some(first) => prop_assert_eq!(e, first, "the error changed"),
            None => self.failed = Some(e),
        }
        Ok(())
    }
}

/// Feeds `bytes` to `rx` in reads of `steps` bytes (cycled), straight
/// into the message when nothing is buffered and `direct` says so for
/// that read, and goes on after an error as a careless caller would:
/// dropping the buffer, reading on, and calling every method again.
pub(super) fn feed_on(
    mut rx: Receiver,
    bytes: &[u8],
    steps: &[usize],
    direct: impl Fn(usize) -> Option<bool>,
) -> Result<Watch, TestCaseError> {
    let mut watch = Watch::default();
    let mut source = bytes;
    let mut buffer: Vec<u8> = Vec::new();
    let mut reads = 0;
    while !source.is_empty() {
        let step = steps[reads % steps.len()].max(1);
        let how = direct(reads);
        reads += 1;
        if let Some(e) = watch.failed {
            prop_assert!(rx.direct_buffer(1).is_none());
            prop_assert!(rx.direct_spare(1).is_none());
            prop_assert_eq!(rx.direct_filled(step), Err(e));
        }
        if buffer.is_empty() {
            let filled = match how {
                Some(true) => rx.direct_spare(1).map(|room| {
                    let n = room.len().min(step).min(source.len());
                    for (slot, &byte) in room.iter_mut().zip(&source[..n]) {
                        slot.write(byte);
                    }
                    (n, true)
                }),
                Some(false) => rx.direct_buffer(1).map(|room| {
                    let n = room.len().min(step).min(source.len());
                    room[..n].copy_from_slice(&source[..n]);
                    (n, false)
                }),
                None => None,
            };
            if let Some((n, spare)) = filled {
                source = &source[n..];
                let result = if spare {
                    // SAFETY: the first `n` bytes were written above.
                    unsafe { rx.direct_assume_filled(n) }
                } else {
                    rx.direct_filled(n)
                };
                match result {
                    Ok(item) => watch.took(item)?,
                    Err(e) => watch.error(e)?,
                }
                continue;
            }
        }
        let n = step.min(source.len());
        buffer.extend_from_slice(&source[..n]);
        source = &source[n..];
        let mut at = 0;
        loop {
            match rx.decode(&mut buffer[at..]) {
                Ok((0, None)) => {
                    prop_assert_eq!(watch.failed, None, "Ok after an error");
                    break;
                }
                Ok((used, item)) => {
                    at += used;
                    watch.took(item)?;
                }
                Err(e) => {
                    watch.error(e)?;
                    // The bytes left are dropped: nothing takes them.
                    at = buffer.len();
                    break;
                }
            }
        }
        buffer.drain(..at);
    }
    let mut rest = buffer;
    match (rx.decode(&mut rest), watch.failed) {
        (Err(e), Some(first)) => prop_assert_eq!(e, first),
        (Err(e), None) => watch.error(e)?,
        (Ok(_), failed) => prop_assert_eq!(failed, None, "Ok after an error"),
    }
    Ok(watch)
}

/// A text or binary message for the property tests: valid UTF-8, the
/// same with one byte replaced (often invalid), or arbitrary bytes.
pub(super) fn message_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[a-zé€😀]{0,60}".prop_map(String::into_bytes),
        ("[a-zé€😀]{1,60}", any::<prop::sample::Index>(), any::<u8>()).prop_map(
            |(text, at, byte)| {
                let mut bytes = text.into_bytes();
                let at = at.index(bytes.len());
                bytes[at] = byte;
                bytes
            }
        ),
        proptest::collection::vec(any::<u8>(), 0..40),
    ]
}

proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512),
                                       step in 1usize..64) {
            let config = ReceiverConfig { max_frame_size: 4096, max_message_size: 8192, ..server() };
            let _ = run(config, &bytes, step);
        }

        #[test]
        fn fragmented_messages_roundtrip(payload in proptest::collection::vec(any::<u8>(), 0..3000),
                                         frag in 1usize..1000, step in 1usize..5000,
                                         key in any::<[u8; 4]>()) {
            let mut wire = Vec::new();
            let pieces: Vec<&[u8]> = if payload.is_empty() { vec![&[]] } else { payload.chunks(frag).collect() };
            for (i, piece) in pieces.iter().enumerate() {
                let op = if i == 0 { OpCode::Binary } else { OpCode::Continuation };
                wire.extend(frame(op, i + 1 == pieces.len(), piece, Some(key)));
            }
            let (items, err) = run(server(), &wire, step);
            prop_assert_eq!(err, None);
            prop_assert_eq!(items, vec![Incoming::Message(Message::Binary(payload))]);
        }

        /// Messages of valid, nearly valid and arbitrary text, split into
        /// fragments anywhere (inside characters too), with pings, protocol
        /// slips and junk between them, read in arbitrary pieces (buffered
        /// or straight into the message), and the receiver called on after
        /// every error: all text it returns is UTF-8, and from the first
        /// error on, every call returns that error.
        #[test]
        fn text_is_utf8_and_errors_stick(
            messages in proptest::collection::vec(
                (any::<bool>(), message_bytes(), 1usize..40, 0u8..16), 0..6),
            junk in proptest::collection::vec(any::<u8>(), 0..12),
            junk_at in any::<prop::sample::Index>(),
            steps in proptest::collection::vec(1usize..80, 1..6),
            direct in proptest::collection::vec(proptest::option::of(any::<bool>()), 1..5),
            client in any::<bool>(), assemble in any::<bool>(), small in any::<bool>(),
        ) {
            let role = if client { Role::Client } else { Role::Server };
            let mask = (!client).then_some([0xa1, 0x02, 0xc3, 0x44]);
            let mut wire = Vec::new();
            for (text, bytes, frag, slip) in &messages {
                let pieces: Vec<&[u8]> =
                    if bytes.is_empty() { vec![&[]] } else { bytes.chunks(*frag).collect() };
                let last = pieces.len() - 1;
                for (i, piece) in pieces.iter().enumerate() {
                    let op = match (i, text) {
                        (0, true) => OpCode::Text,
                        (0, false) => OpCode::Binary,
                        _ => OpCode::Continuation,
                    };
                    // Now and then the message never ends (the next one
                    // then fails with 1002), or a ping comes between frames.
                    let fin = i == last && *slip != 1;
                    wire.extend(frame(op, fin, piece, mask));
                    if *slip == 2 && i == 0 {
                        wire.extend(frame(OpCode::Ping, true, b"p", mask));
                    }
                }
            }
            if !junk.is_empty() {
                let at = junk_at.index(wire.len() + 1);
                wire.splice(at..at, junk);
            }
            let config = ReceiverConfig {
                role,
                assemble_messages: assemble,
                max_frame_size: if small { 30 } else { 1 << 20 },
                max_message_size: if small { 50 } else { 1 << 20 },
                max_fragments: if small { 3 } else { 1000 },
                ..ReceiverConfig::new(role)
            };
            feed_on(Receiver::new(config), &wire, &steps, |read| direct[read % direct.len()])?;
        }
}
