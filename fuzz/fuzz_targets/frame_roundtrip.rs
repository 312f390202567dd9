//! Encode → decode round trip: a message split into frames by the sender's
//! planner (`DataFrames`), masked as a client masks, optionally with a ping
//! between its frames, decodes to the same message (assembled, or as the
//! same fragments) whatever the chunking of the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsgate::protocol::{
    DataFrames, FrameHeader, Incoming, MAX_HEADER_LEN, OpCode, Receiver, ReceiverConfig, Role,
    apply_mask,
};
use wsgate::{DataKind, Message};

fn push_frame(out: &mut Vec<u8>, mut header: FrameHeader, payload: &[u8], key: [u8; 4]) {
    header.mask = Some(key);
    let mut head = [0u8; MAX_HEADER_LEN];
    let n = header.encode(&mut head);
    // The header parser reads back what the encoder wrote.
    let (parsed, used) = FrameHeader::parse(&head[..n]).unwrap().unwrap();
    assert_eq!((parsed, used), (header, n));
    assert_eq!(FrameHeader::parse(&head[..n - 1]).unwrap(), None);
    out.extend_from_slice(&head[..n]);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], key, 0);
}

fuzz_target!(|data: &[u8]| {
    let [flags, frag_hi, frag_lo, split, k0, k1, k2, k3, payload @ ..] = data else {
        return;
    };
    let key = [*k0, *k1, *k2, *k3];
    let kind = if flags & 1 == 0 {
        DataKind::Binary
    } else {
        DataKind::Text
    };
    let payload = match kind {
        DataKind::Binary => payload.to_vec(),
        DataKind::Text => String::from_utf8_lossy(payload).into_owned().into_bytes(),
    };
    let fragment_size = usize::from(u16::from_be_bytes([*frag_hi, *frag_lo])).max(1);
    let with_ping = flags & 2 != 0;
    let assemble = flags & 4 == 0;

    let frames: Vec<_> = DataFrames::new(kind, 0, payload.len(), fragment_size).collect();
    assert!(!frames.is_empty());
    let mut wire = Vec::new();
    for (i, (header, range)) in frames.iter().enumerate() {
        assert_eq!(header.fin, i == frames.len() - 1);
        assert_eq!(header.payload_len as usize, range.len());
        assert!(range.len() <= fragment_size);
        push_frame(&mut wire, *header, &payload[range.clone()], key);
        if with_ping && i == 0 {
            push_frame(
                &mut wire,
                FrameHeader::new(OpCode::Ping, true, 3),
                b"mid",
                key,
            );
        }
    }

    let config = ReceiverConfig {
        max_frame_size: usize::MAX,
        max_message_size: usize::MAX,
        max_fragments: usize::MAX,
        assemble_messages: assemble,
        ..ReceiverConfig::new(Role::Server)
    };
    let mut rx = Receiver::new(config);
    let chunk = usize::from(*split) + 1;
    let mut buf = Vec::new();
    let mut items = Vec::new();
    for piece in wire.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            let (n, item) = rx.decode(&mut buf).expect("a valid stream");
            buf.drain(..n);
            items.extend(item);
            if n == 0 {
                break;
            }
        }
    }
    assert!(buf.is_empty(), "{} bytes left over", buf.len());
    if with_ping {
        let at = items
            .iter()
            .position(|i| matches!(i, Incoming::Ping(_)))
            .expect("the ping");
        assert_eq!(items.remove(at), Incoming::Ping(b"mid".to_vec()));
    }
    if assemble {
        let expected = match kind {
            DataKind::Binary => Message::Binary(payload),
            DataKind::Text => Message::Text(String::from_utf8(payload).unwrap()),
        };
        assert_eq!(items, [Incoming::Message(expected)]);
    } else {
        assert_eq!(items.len(), frames.len());
        let mut joined = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            let Incoming::Fragment(f) = item else {
                panic!("not a fragment: {item:?}");
            };
            assert_eq!(
                (f.kind, f.first, f.last),
                (kind, i == 0, i == frames.len() - 1)
            );
            joined.extend_from_slice(&f.data);
        }
        assert_eq!(joined, payload);
    }
});
