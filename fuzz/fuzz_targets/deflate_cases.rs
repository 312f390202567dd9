//! permessage-deflate cases, shared by the `inflate_message` and
//! `compressed_frames` fuzz targets and by the bounded stable-Rust run of
//! the same code in the main crate's tests (`tests/deflate.rs`,
//! `deflate_fuzz_cases_bounded`), which includes this file by path.
//!
//! Every input is turned into compressed data a peer could send (made by
//! wsgate's own compressor, with any window, level and context mode, then
//! possibly corrupted or truncated), or taken as raw compressed bytes, and
//! inflated under a limit and a window that may be smaller than the
//! sender's. Asserts: no panic; never more than `limit + 1` bytes inflated
//! or allocated; valid data within the window and the limit comes back
//! exactly; data from a larger window comes back exactly or fails with the
//! window error (1002), never with another; a message over the limit fails
//! with `TooLarge` (a bomb stops there); errors carry 1002, 1007 or 1009.

use wsgate::protocol::{
    Compressor, Decompressor, FrameHeader, Incoming, InflateError, MAX_HEADER_LEN, OpCode,
    Receiver, ReceiverConfig, Role,
};
use wsgate::{Message, ProtocolError};

type Inflated = Result<Vec<u8>, InflateError>;

/// Settings taken from an input's first bytes.
struct Plan<'a> {
    tx_bits: u8,
    rx_bits: u8,
    level: u32,
    no_context_takeover: bool,
    chunk: usize,
    rest: &'a [u8],
}

fn plan(data: &[u8]) -> Option<(u8, Plan<'_>)> {
    let [flags, a, b, c, rest @ ..] = data else {
        return None;
    };
    Some((
        *flags,
        Plan {
            tx_bits: 9 + a % 7,
            rx_bits: 8 + b % 8,
            level: u32::from(c % 10),
            no_context_takeover: flags & 4 != 0,
            chunk: usize::from(c / 10) % 64 + 1,
            rest,
        },
    ))
}

/// Up to four messages, split at 0xfe; mode 3 doubles each (a repeat one
/// message-length back, past small windows).
fn messages(rest: &[u8], doubled: bool) -> Vec<Vec<u8>> {
    rest.split(|&b| b == 0xfe)
        .take(4)
        .map(|m| if doubled { [m, m].concat() } else { m.to_vec() })
        .collect()
}

/// Inflates `wire` fed in `chunk`-byte pieces under `limit`; checks the
/// bound on output.
fn inflate(rx: &mut Decompressor, wire: &[u8], (chunk, limit): (usize, usize)) -> Inflated {
    let mut out = Vec::new();
    let result = wire
        .chunks(chunk)
        .try_for_each(|piece| rx.decompress_chunk(piece, &mut out, limit))
        .and_then(|()| rx.finish_message(&mut out, limit));
    assert!(
        out.len() <= limit.saturating_add(1),
        "inflated past the limit"
    );
    assert!(
        out.capacity() <= limit.saturating_add(1),
        "allocated past the limit"
    );
    if let Err(e) = result {
        let code = e.close_code().as_u16();
        assert!(matches!(code, 1002 | 1007 | 1009), "close code {code}");
    }
    result.map(|()| out)
}

/// The codec alone: round trips (modes 0 and 3), raw bytes (mode 1), bombs
/// (mode 2); flags 8/16 corrupt or truncate mode 0's messages.
pub fn inflate_message(data: &[u8]) {
    let Some((flags, p)) = plan(data) else { return };
    let mut rx = Decompressor::new(p.rx_bits, p.no_context_takeover).unwrap();
    match flags & 3 {
        1 => {
            // Raw bytes as a compressed message, then as a second one.
            let limit = usize::from(p.rest.first().copied().unwrap_or(0)) << 10;
            if inflate(&mut rx, p.rest, (p.chunk, limit)).is_ok() {
                let _ = inflate(&mut rx, p.rest, (p.chunk, limit));
            }
        }
        2 => {
            // A bomb: the input repeated to up to 1 MiB, a small limit.
            if p.rest.is_empty() {
                return;
            }
            let len = (usize::from(p.rest[0]) + 1) << 12;
            let message: Vec<u8> = p.rest.iter().copied().cycle().take(len).collect();
            let mut tx = Compressor::new(p.tx_bits, p.level, false).unwrap();
            let mut wire = Vec::new();
            tx.compress(&message, &mut wire);
            let limit = usize::from(flags >> 2) << 12;
            let rx_bits = p.tx_bits.max(p.rx_bits);
            let mut rx = Decompressor::new(rx_bits, false).unwrap();
            match inflate(&mut rx, &wire, (p.chunk.max(512), limit)) {
                Ok(out) => assert_eq!(out, message),
                Err(e) => {
                    assert!(message.len() > limit, "{e} within the limit");
                    assert_eq!(e, InflateError::TooLarge { limit });
                }
            }
        }
        mode => {
            let mut tx = Compressor::new(p.tx_bits, p.level, p.no_context_takeover).unwrap();
            let corrupt = flags & 8 != 0;
            let truncate = flags & 16 != 0;
            for message in messages(p.rest, mode == 3) {
                let mut wire = Vec::new();
                tx.compress(&message, &mut wire);
                if corrupt {
                    let at = usize::from(flags >> 5) * 7 % wire.len();
                    wire[at] ^= 1 << (flags >> 5);
                }
                if truncate {
                    wire.truncate(wire.len() / 2);
                }
                let result = inflate(&mut rx, &wire, (p.chunk, message.len()));
                if corrupt || truncate {
                    // Anything but a panic or an overrun; stop at an error
                    // (the state is then undefined).
                    if result.is_err() {
                        return;
                    }
                    continue;
                }
                match result {
                    Ok(out) => assert_eq!(out, message),
                    Err(InflateError::WindowExceeded { window_bits }) => {
                        assert!(p.rx_bits < p.tx_bits, "window error within the window");
                        assert_eq!(window_bits, p.rx_bits);
                        return;
                    }
                    Err(e) => panic!("valid data failed: {e}"),
                }
            }
        }
    }
}

/// One masked client frame.
fn frame(opcode: OpCode, fin: bool, rsv1: bool, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut header = FrameHeader::new(opcode, fin, payload.len() as u64);
    header.mask = Some(key);
    header.rsv = if rsv1 { 0x40 } else { 0 };
    let mut head = [0u8; MAX_HEADER_LEN];
    let len = header.encode(&mut head);
    let masked = payload.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k);
    head[..len].iter().copied().chain(masked).collect()
}

/// Whole compressed messages through a server's receiver: fragmented,
/// masked, fed in chunks, possibly with one byte of the stream flipped
/// (flag 8) or cut short (flag 16).
pub fn compressed_frames(data: &[u8]) {
    let Some((flags, p)) = plan(data) else { return };
    let doubled = flags & 3 == 3;
    let messages = messages(p.rest, doubled);
    let limit = if flags & 32 != 0 { 300 } else { 1 << 20 };
    let fragment = usize::from(flags >> 6) * 20 + 1;
    let mut config = ReceiverConfig::new(Role::Server);
    config.max_message_size = limit;
    config.max_frame_size = limit;
    let mut tx = Compressor::new(p.tx_bits, p.level, p.no_context_takeover).unwrap();
    let mut stream = Vec::new();
    // Whether a message passes a limit (inflated or compressed size,
    // fragments), so that an error for it is expected.
    let mut over_limits = false;
    for (i, message) in messages.iter().enumerate() {
        let mut wire = Vec::new();
        tx.compress(message, &mut wire);
        let pieces: Vec<&[u8]> = wire.chunks(fragment).collect();
        over_limits |= message.len() > limit
            || wire.len() > config.max_compressed_size()
            || pieces.len() > config.max_fragments;
        for (j, piece) in pieces.iter().enumerate() {
            let opcode = if j == 0 {
                OpCode::Binary
            } else {
                OpCode::Continuation
            };
            let key = [i as u8, j as u8, 0x5a, flags];
            stream.extend(frame(opcode, j + 1 == pieces.len(), j == 0, piece, key));
        }
    }
    let corrupt = flags & 8 != 0 && !stream.is_empty();
    if corrupt {
        let at = usize::from(p.rest.len() as u8 ^ flags) * 13 % stream.len();
        stream[at] ^= 0x10;
    }
    if flags & 16 != 0 {
        stream.truncate(stream.len() * 2 / 3);
    }
    let decompressor = Decompressor::new(p.rx_bits, p.no_context_takeover).unwrap();
    let mut rx = Receiver::with_decompressor(config, decompressor);
    let mut buf = Vec::new();
    let mut got = Vec::new();
    let mut error = None;
    'feed: for piece in stream.chunks(p.chunk) {
        buf.extend_from_slice(piece);
        loop {
            match rx.decode(&mut buf) {
                Ok((0, None)) => break,
                Ok((n, item)) => {
                    buf.drain(..n);
                    if let Some(Incoming::Message(Message::Binary(m))) = item {
                        assert!(m.len() <= limit);
                        got.push(m);
                    }
                }
                Err(e) => {
                    let code = e.close_code().as_u16();
                    assert!(matches!(code, 1002 | 1007 | 1009), "close code {code}");
                    error = Some(e);
                    break 'feed;
                }
            }
        }
    }
    if corrupt {
        return;
    }
    // Uncorrupted: what came through is a prefix of what was sent, and any
    // error is the window's or the limit's.
    assert!(got.len() <= messages.len());
    for (m, original) in got.iter().zip(&messages) {
        assert_eq!(m, original, "a message changed");
    }
    match error {
        None => {}
        Some(ProtocolError::CompressedWindowExceeded { window_bits }) => {
            assert!(p.rx_bits < p.tx_bits && window_bits == p.rx_bits);
        }
        Some(
            ProtocolError::MessageTooLarge { .. }
            | ProtocolError::FrameTooLarge { .. }
            | ProtocolError::TooManyFragments { .. },
        ) => assert!(over_limits, "a limit error within the limits"),
        Some(e) => panic!("valid frames failed: {e}"),
    }
}
