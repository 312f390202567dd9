//! The direct-read path: room offered and filled, zeroed or not, UTF-8,
//! errors, and the same results as decoding from a buffer.

use super::*;
use proptest::prelude::*;

/// Like `run`, but reads the way the connection does: into the direct
/// buffer whenever nothing is buffered and the receiver offers one
/// (for payloads with at least `min` bytes left), otherwise into a read
/// buffer; each read takes at most `step` bytes from `bytes`.
///
/// Direct reads alternate between the zeroed room (`direct_buffer`) and
/// the uninitialised one (`direct_spare`) as `spare` says, by read.
fn run_direct(
    config: ReceiverConfig,
    bytes: &[u8],
    step: usize,
    min: usize,
    spare: impl Fn(usize) -> bool,
) -> (Vec<Incoming>, Option<ProtocolError>) {
    let mut rx = Receiver::new(config);
    let mut source = bytes;
    let mut buffer: Vec<u8> = Vec::new();
    let mut items = Vec::new();
    let mut reads = 0;
    while !source.is_empty() {
        if buffer.is_empty() && spare(reads) {
            if let Some(room) = rx.direct_spare(min) {
                reads += 1;
                let n = room.len().min(step.max(1)).min(source.len());
                for (slot, &byte) in room.iter_mut().zip(&source[..n]) {
                    slot.write(byte);
                }
                source = &source[n..];
                // SAFETY: the loop above wrote the first `n` bytes.
                match unsafe { rx.direct_assume_filled(n) } {
                    Ok(item) => items.extend(item),
                    Err(e) => return (items, Some(e)),
                }
                continue;
            }
        } else if buffer.is_empty()
            && let Some(direct) = rx.direct_buffer(min)
        {
            reads += 1;
            let n = direct.len().min(step.max(1)).min(source.len());
            direct[..n].copy_from_slice(&source[..n]);
            source = &source[n..];
            match rx.direct_filled(n) {
                Ok(item) => items.extend(item),
                Err(e) => return (items, Some(e)),
            }
            continue;
        }
        let n = step.max(1).min(source.len());
        buffer.extend_from_slice(&source[..n]);
        source = &source[n..];
        if let Err(e) = decode_buffered(&mut rx, &mut buffer, &mut items) {
            return (items, Some(e));
        }
    }
    (items, None)
}

#[test]
fn direct_reads_grow_with_what_arrives() {
    let mut rx = Receiver::new(server());
    // A binary frame declaring 16 MiB: room is made for 64 KiB, not 16 MiB.
    let mut head = frame(OpCode::Binary, true, &[], Some([1, 2, 3, 4]));
    head.truncate(2);
    head[1] = 0x80 | 127;
    head.extend((16u64 << 20).to_be_bytes());
    head.extend([1, 2, 3, 4]);
    assert_eq!(rx.decode(&mut head).unwrap(), (head.len(), None));
    assert_eq!(rx.direct_buffer(1).unwrap().len(), 64 << 10);
    assert_eq!(rx.direct_filled(10).unwrap(), None);
    // Still 64 KiB (from the bytes held, 10), until more arrives.
    assert_eq!(rx.direct_buffer(1).unwrap().len(), 64 << 10);
    assert_eq!(rx.direct_filled(64 << 10).unwrap(), None);
    assert_eq!(rx.direct_buffer(1).unwrap().len(), (64 << 10) + 10);
    // Nothing for control frames, or when fewer bytes than asked are left.
    let mut rx = Receiver::new(server());
    let mut ping = client_frame(OpCode::Ping, true, b"abc");
    assert_eq!(rx.decode(&mut ping[..6]).unwrap(), (6, None));
    assert!(rx.direct_buffer(1).is_none());
    let mut rx = Receiver::new(server());
    let mut wire = client_frame(OpCode::Binary, true, &[7; 100]);
    assert_eq!(rx.decode(&mut wire[..6]).unwrap(), (6, None));
    assert!(rx.direct_buffer(101).is_none());
    assert_eq!(rx.direct_buffer(100).unwrap().len(), 100);
}

#[test]
fn direct_reads_check_utf8() {
    let wire = client_frame(OpCode::Text, true, b"ok \xff not utf-8, and long enough");
    for spare in [false, true] {
        let (_, err) = run_direct(server(), &wire, 5, 1, |_| spare);
        assert_eq!(err, Some(ProtocolError::InvalidUtf8));
    }
}

#[test]
fn spare_room_is_the_same_room_uninitialised() {
    let mut rx = Receiver::new(server());
    // A binary frame declaring 16 MiB: 64 KiB of room, nothing zeroed.
    let mut head = frame(OpCode::Binary, true, &[], Some([0; 4]));
    head.truncate(2);
    head[1] = 0x80 | 127;
    head.extend((16u64 << 20).to_be_bytes());
    head.extend([0; 4]);
    assert_eq!(rx.decode(&mut head).unwrap(), (head.len(), None));
    assert_eq!(rx.direct_spare(1).unwrap().len(), 64 << 10);
    // A zeroed room, partly filled, then a spare one: the zeroed tail
    // is dropped and the spare room starts right after the bytes held.
    rx.direct_buffer(1).unwrap()[..3].copy_from_slice(b"abc");
    assert_eq!(rx.direct_filled(3).unwrap(), None);
    let room = rx.direct_spare(1).unwrap();
    assert_eq!(room.len(), 64 << 10);
    for (slot, &byte) in room.iter_mut().zip(b"de") {
        slot.write(byte);
    }
    // SAFETY: two bytes written just above.
    assert_eq!(unsafe { rx.direct_assume_filled(2) }.unwrap(), None);
    let held = rx.message.as_ref().unwrap();
    assert_eq!((held.len, &held.data[..]), (5, &b"abcde"[..]));
}

#[test]
#[should_panic(expected = "more bytes than direct_spare gave room for")]
fn spare_room_cannot_be_overfilled() {
    let mut rx = Receiver::new(server());
    let mut wire = client_frame(OpCode::Binary, true, &[7; 100]);
    assert_eq!(rx.decode(&mut wire[..6]).unwrap(), (6, None));
    let capacity = rx.direct_spare(1).map(|room| room.len()).unwrap();
    let held = rx.message.as_ref().unwrap().data.capacity();
    // SAFETY: never reached: the claim is past the capacity, so the
    // receiver refuses it before touching the bytes.
    let _ = unsafe { rx.direct_assume_filled(held + capacity + 1) };
}

/// The same through direct reads: the rejected read is not taken, and
/// neither is any read after it.
#[test]
fn invalid_utf8_sticks_in_direct_reads() {
    for spare in [false, true] {
        let mut rx = Receiver::new(ReceiverConfig::new(Role::Client));
        // An unmasked text frame of 4 bytes: c3, then a9 ff (é and a
        // bad byte), then "b".
        assert_eq!(rx.decode(&mut [0x81, 0x04]), Ok((2, None)));
        let read = |rx: &mut Receiver, bytes: &[u8]| {
            if spare {
                let room = rx.direct_spare(1).expect("inside the payload");
                for (slot, &byte) in room.iter_mut().zip(bytes) {
                    slot.write(byte);
                }
                // SAFETY: the loop above wrote these bytes.
                unsafe { rx.direct_assume_filled(bytes.len()) }
            } else {
                let room = rx.direct_buffer(1).expect("inside the payload");
                room[..bytes.len()].copy_from_slice(bytes);
                rx.direct_filled(bytes.len())
            }
        };
        assert_eq!(read(&mut rx, &[0xc3]), Ok(None));
        assert_eq!(
            read(&mut rx, &[0xa9, 0xff]),
            Err(ProtocolError::InvalidUtf8)
        );
        // No more room: the caller falls back to `decode`, which fails.
        assert!(rx.direct_buffer(1).is_none());
        assert_eq!(rx.direct_filled(1), Err(ProtocolError::InvalidUtf8));
        let mut b = *b"bcd";
        assert_eq!(rx.decode(&mut b), Err(ProtocolError::InvalidUtf8));
        assert_failed(&mut rx, ProtocolError::InvalidUtf8);
    }
    // A failure in `decode` closes the direct path too.
    let mut rx = Receiver::new(ReceiverConfig::new(Role::Client));
    assert_eq!(rx.decode(&mut [0x81, 0x05]), Ok((2, None)));
    assert_eq!(rx.decode(&mut [0xff]), Err(ProtocolError::InvalidUtf8));
    assert_failed(&mut rx, ProtocolError::InvalidUtf8);
}

proptest! {
        /// Reading payloads straight into the message gives what decoding
        /// from a buffer gives: the same messages and control frames, the
        /// same UTF-8 verdicts, at any split.
        #[test]
        fn direct_reads_match_buffered_decoding(
            text in "[a-zé€😀]{0,600}",
            frag in 1usize..700, step in 1usize..900, min in 1usize..300,
            ping_after in 0usize..4, corrupt in any::<bool>(),
        ) {
            let mut payload = text.into_bytes();
            if corrupt && !payload.is_empty() {
                let at = payload.len() / 2;
                payload[at] = 0xff;
            }
            let mut wire = Vec::new();
            let pieces: Vec<&[u8]> = if payload.is_empty() { vec![&[]] } else { payload.chunks(frag).collect() };
            for (i, piece) in pieces.iter().enumerate() {
                let op = if i == 0 { OpCode::Text } else { OpCode::Continuation };
                wire.extend(client_frame(op, i + 1 == pieces.len(), piece));
                if i == ping_after {
                    wire.extend(client_frame(OpCode::Ping, true, b"p"));
                }
            }
            wire.extend(client_frame(OpCode::Binary, true, &payload));
            let buffered = run(server(), &wire, step);
            let zeroed = run_direct(server(), &wire, step, min, |_| false);
            prop_assert_eq!(&zeroed, &buffered);
            let spare = run_direct(server(), &wire, step, min, |_| true);
            prop_assert_eq!(&spare, &buffered);
            let mixed = run_direct(server(), &wire, step, min, |read| read % 2 == 1);
            prop_assert_eq!(mixed, buffered);
        }

}
