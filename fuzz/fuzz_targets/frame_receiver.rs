//! Arbitrary bytes through the frame receiver, as a peer would send them,
//! fed in chunks (as they arrive from a socket) under varied settings; with
//! flag 16, payloads are read straight into the message
//! (`direct_buffer`/`direct_filled`) whenever nothing is buffered, as the
//! connection does; with flag 128, permessage-deflate is on
//! (`Receiver::with_decompressor`).
//!
//! The receiver is called on after an error, with the rest of the bytes,
//! as a careless caller would: an error must be final.
//!
//! Asserts: no panic, no endless loop, every item respects the limits, text
//! is valid UTF-8 (the receiver builds `String`s unchecked), nothing is
//! decoded after a close, the count of data-frame bytes only grows and
//! never passes the bytes taken, and from the first error on, every call
//! returns that error (`decode`, `direct_filled`) or offers no room
//! (`direct_buffer`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsgate::protocol::{Decompressor, Incoming, Receiver, ReceiverConfig, Role};
use wsgate::{DataKind, Message, ProtocolError};

fuzz_target!(|data: &[u8]| {
    let [flags, split, stream @ ..] = data else {
        return;
    };
    let small = flags & 2 != 0;
    let config = ReceiverConfig {
        role: if flags & 1 == 0 {
            Role::Server
        } else {
            Role::Client
        },
        max_frame_size: if small { 300 } else { 16 << 20 },
        max_message_size: if small { 1000 } else { 16 << 20 },
        max_fragments: if small { 8 } else { 131_072 },
        assemble_messages: flags & 4 == 0,
        allowed_rsv: if flags & 8 != 0 { 0x40 } else { 0 },
    };
    let inflating = flags & 128 != 0;
    let chunk = usize::from(*split) + 1;
    let mut rx = if inflating {
        Receiver::with_decompressor(config, Decompressor::new(15, false).unwrap())
    } else {
        Receiver::new(config)
    };
    let mut buf: Vec<u8> = Vec::new();
    let mut fed = 0;
    // The message being received as fragments: kind, bytes so far.
    let mut fragments: Option<(DataKind, Vec<u8>)> = None;
    let mut closed = false;
    let mut failed: Option<ProtocolError> = None;
    let direct = flags & 16 != 0;
    let direct_min = 1 + usize::from((flags >> 5) & 3) * 40;
    let mut data_bytes = 0;
    let check = |item: Incoming, fragments: &mut _, closed: &mut bool| {
        assert!(!*closed, "an item after the close: {item:?}");
        check(&config, inflating, item, fragments, closed);
    };
    while fed < stream.len() {
        let taken = (fed - buf.len()) as u64;
        assert!(
            rx.data_bytes() >= data_bytes,
            "the data-frame count went down"
        );
        assert!(rx.data_bytes() <= taken, "more data-frame bytes than taken");
        data_bytes = rx.data_bytes();
        if let Some(e) = failed {
            // Failed for good: no room to read into, and reporting bytes
            // read anyway returns the error rather than taking them.
            assert!(rx.direct_buffer(1).is_none(), "direct room after {e}");
            assert_eq!(rx.direct_filled(chunk), Err(e), "direct_filled after {e}");
        }
        if direct
            && buf.is_empty()
            && let Some(space) = rx.direct_buffer(direct_min)
        {
            assert!(
                space.len() <= config.max_message_size,
                "room beyond the limit"
            );
            let n = space.len().min(chunk).min(stream.len() - fed);
            space[..n].copy_from_slice(&stream[fed..fed + n]);
            fed += n;
            match rx.direct_filled(n) {
                Ok(None) => {}
                Ok(Some(item)) => check(item, &mut fragments, &mut closed),
                Err(e) => note_error(&mut failed, e),
            }
            continue;
        }
        let end = (fed + chunk).min(stream.len());
        buf.extend_from_slice(&stream[fed..end]);
        fed = end;
        // Every call consumes at least one byte or asks for more.
        for _ in 0..=buf.len() + 1 {
            match rx.decode(&mut buf) {
                Ok((0, None)) => {
                    assert_eq!(failed, None, "Ok after an error");
                    break;
                }
                Ok((n, item)) => {
                    assert_eq!(failed, None, "Ok after an error");
                    assert!(n > 0, "an item without consuming a byte");
                    assert!(n <= buf.len(), "consumed {n} of {} bytes", buf.len());
                    buf.drain(..n);
                    let Some(item) = item else { continue };
                    check(item, &mut fragments, &mut closed);
                }
                Err(e) => {
                    note_error(&mut failed, e);
                    // Nothing takes what is left: read on without it.
                    buf.clear();
                    break;
                }
            }
        }
        assert_eq!(rx.is_closed(), closed);
        assert!(!(closed && failed.is_some()), "an error after the close");
    }
    match rx.decode(&mut buf) {
        Err(e) => note_error(&mut failed, e),
        Ok(_) => assert_eq!(failed, None, "Ok after an error"),
    }
});

/// Checks an error: its close code, and that it is the first one again
/// when there was one.
fn note_error(failed: &mut Option<ProtocolError>, e: ProtocolError) {
    match *failed {
        Some(first) => assert_eq!(e, first, "the error changed"),
        None => {
            let code = e.close_code().as_u16();
            assert!(
                matches!(code, 1002 | 1007 | 1009),
                "close code {code} for {e}"
            );
            *failed = Some(e);
        }
    }
}

fn check(
    config: &ReceiverConfig,
    inflating: bool,
    item: Incoming,
    fragments: &mut Option<(DataKind, Vec<u8>)>,
    closed: &mut bool,
) {
    match item {
        Incoming::Message(message) => {
            assert!(config.assemble_messages);
            assert!(message.len() <= config.max_message_size);
            if let Message::Text(text) = &message {
                assert!(std::str::from_utf8(text.as_bytes()).is_ok());
            }
        }
        Incoming::Fragment(fragment) => {
            assert!(!config.assemble_messages);
            // An inflated fragment may be larger than its frame.
            let frame_limit = if inflating {
                config.max_message_size
            } else {
                config.max_frame_size
            };
            assert!(fragment.data.len() <= frame_limit);
            assert_eq!(fragment.first, fragments.is_none(), "first flag");
            let (kind, so_far) = fragments.get_or_insert_with(|| (fragment.kind, Vec::new()));
            assert_eq!(*kind, fragment.kind);
            so_far.extend_from_slice(&fragment.data);
            assert!(so_far.len() <= config.max_message_size);
            if *kind == DataKind::Text {
                // UTF-8 so far, but for an incomplete character at the end
                // of a fragment that is not the last.
                if let Err(e) = std::str::from_utf8(so_far) {
                    assert!(
                        !fragment.last && e.error_len().is_none(),
                        "invalid UTF-8 passed"
                    );
                }
            }
            if fragment.last {
                *fragments = None;
            }
        }
        Incoming::Ping(payload) | Incoming::Pong(payload) => assert!(payload.len() <= 125),
        Incoming::Close(close) => {
            if let Some((code, reason)) = close {
                assert!(reason.len() <= 123);
                assert!(code.is_sendable(), "received unsendable code {code}");
            }
            *closed = true;
        }
    }
}
