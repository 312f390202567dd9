//! Micro-benchmarks of the sans-IO protocol core: frame headers, masking,
//! UTF-8 validation and message assembly through `Receiver::decode`.
//!
//! ```text
//! cargo bench --bench protocol
//! cargo bench --bench protocol -- --warm-up-time 1 --measurement-time 2   # the same, explicit
//! cargo bench --bench protocol -- mask                                    # one group
//! ```
//!
//! Throughput groups report bytes per second (criterion prints GiB/s).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use wsgate::protocol::{
    FrameHeader, Incoming, MAX_HEADER_LEN, OpCode, Receiver, ReceiverConfig, Role, Utf8Validator,
    apply_mask,
};

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

/// A short default run: `cargo bench` over both bench targets finishes in
/// a couple of minutes. Command-line flags still override these.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

/// Deterministic pseudo-random bytes (xorshift), so runs are comparable.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// ASCII-heavy text: printable ASCII with an occasional two-byte character
/// (about 1 in 200 bytes), like JSON with a few accented names.
fn ascii_heavy_text(len: usize) -> Vec<u8> {
    let mut out = String::with_capacity(len + 4);
    let words = [
        "{\"id\":",
        "12345,",
        "\"name\":",
        "\"wsgate\",",
        "\"ok\":true}",
        " lorem ipsum dolor sit amet ",
    ];
    let mut i = 0usize;
    while out.len() < len {
        out.push_str(words[i % words.len()]);
        if i % 25 == 24 {
            out.push('é');
        }
        i += 1;
    }
    truncate_to_char(out, len)
}

/// Mixed text: Latin, Greek, CJK and emoji in roughly equal measure.
fn mixed_text(len: usize) -> Vec<u8> {
    let mut out = String::with_capacity(len + 4);
    let words = [
        "hello ",
        "κόσμε ",
        "日本語のテキスト ",
        "😀🎉 ",
        "naïve café ",
    ];
    let mut i = 0usize;
    while out.len() < len {
        out.push_str(words[i % words.len()]);
        i += 1;
    }
    truncate_to_char(out, len)
}

fn truncate_to_char(mut s: String, len: usize) -> Vec<u8> {
    let mut cut = len.min(s.len());
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    s.into_bytes()
}

/// One frame as a client sends it: masked with `key`.
fn client_frame(opcode: OpCode, fin: bool, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut header = FrameHeader::new(opcode, fin, payload.len() as u64);
    header.mask = Some(key);
    let mut head = [0u8; MAX_HEADER_LEN];
    let n = header.encode(&mut head);
    let mut out = Vec::with_capacity(n + payload.len());
    out.extend_from_slice(&head[..n]);
    let at = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[at..], key, 0);
    out
}

/// A message as client frames: one frame, or `fragments` frames.
fn client_message(kind: OpCode, payload: &[u8], fragments: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let chunk = payload.len().div_ceil(fragments.max(1)).max(1);
    let mut pieces: Vec<&[u8]> = payload.chunks(chunk).collect();
    if pieces.is_empty() {
        pieces.push(&[]);
    }
    let last = pieces.len() - 1;
    for (i, piece) in pieces.iter().enumerate() {
        let opcode = if i == 0 { kind } else { OpCode::Continuation };
        let key = [0x12, 0x34, 0x56, i as u8];
        out.extend_from_slice(&client_frame(opcode, i == last, piece, key));
    }
    out
}

fn frame_header(c: &mut Criterion) {
    let mut g = c.benchmark_group("frame_header");
    let cases: [(&str, u64, bool); 4] = [
        ("16B_unmasked", 16, false),
        ("16B_masked", 16, true),
        ("1KiB_masked", 1024, true),
        ("1MiB_masked", MIB as u64, true),
    ];
    for (name, len, masked) in cases {
        let mut header = FrameHeader::new(OpCode::Binary, true, len);
        if masked {
            header.mask = Some([1, 2, 3, 4]);
        }
        let mut wire = [0u8; MAX_HEADER_LEN];
        let n = header.encode(&mut wire);
        g.bench_function(BenchmarkId::new("parse", name), |b| {
            b.iter(|| FrameHeader::parse(black_box(&wire[..n])))
        });
        g.bench_function(BenchmarkId::new("encode", name), |b| {
            let mut out = [0u8; MAX_HEADER_LEN];
            b.iter(|| black_box(&header).encode(black_box(&mut out)))
        });
    }
    g.finish();
}

fn masking(c: &mut Criterion) {
    let mut g = c.benchmark_group("mask");
    for (name, len) in [("1KiB", KIB), ("64KiB", 64 * KIB), ("1MiB", MIB)] {
        let mut buf = noise(len + 1, 7);
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_function(BenchmarkId::new("aligned", name), |b| {
            b.iter(|| apply_mask(black_box(&mut buf[..len]), [0x37, 0xfa, 0x21, 0x3d], 0))
        });
        // Payloads start 2, 4, 6, 10 or 14 bytes into a read buffer: an
        // odd start measures the unaligned path.
        g.bench_function(BenchmarkId::new("unaligned", name), |b| {
            b.iter(|| apply_mask(black_box(&mut buf[1..=len]), [0x37, 0xfa, 0x21, 0x3d], 1))
        });
    }
    g.finish();
}

fn utf8(c: &mut Criterion) {
    let mut g = c.benchmark_group("utf8");
    let len = 64 * KIB;
    for (name, text) in [
        ("ascii_heavy", ascii_heavy_text(len)),
        ("mixed", mixed_text(len)),
    ] {
        assert!(std::str::from_utf8(&text).is_ok());
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_function(BenchmarkId::new("validator_whole", name), |b| {
            b.iter(|| {
                let mut v = Utf8Validator::new();
                v.feed(black_box(&text)).unwrap();
                v.finish().unwrap();
            })
        });
        // As a message arrives over several reads: pieces cut at odd
        // offsets, so characters straddle the cuts.
        g.bench_function(BenchmarkId::new("validator_1000B_pieces", name), |b| {
            b.iter(|| {
                let mut v = Utf8Validator::new();
                for piece in black_box(&text).chunks(1000) {
                    v.feed(piece).unwrap();
                }
                v.finish().unwrap();
            })
        });
        g.bench_function(BenchmarkId::new("std_from_utf8", name), |b| {
            b.iter(|| std::str::from_utf8(black_box(&text)).is_ok())
        });
    }
    // Short messages: the per-call overhead dominates.
    let short = ascii_heavy_text(16);
    g.throughput(Throughput::Bytes(short.len() as u64));
    g.bench_function(BenchmarkId::new("validator_whole", "16B"), |b| {
        b.iter(|| {
            let mut v = Utf8Validator::new();
            v.feed(black_box(&short)).unwrap();
            v.finish().unwrap();
        })
    });
    g.finish();
}

/// Decodes everything in `buf`; returns the number of items produced.
fn decode_all(rx: &mut Receiver, buf: &mut [u8]) -> usize {
    let mut at = 0;
    let mut items = 0;
    loop {
        let (used, item) = rx.decode(&mut buf[at..]).expect("valid frames");
        if let Some(item) = item {
            debug_assert!(matches!(item, Incoming::Message(_)));
            black_box(item);
            items += 1;
        } else if used == 0 {
            return items;
        }
        at += used;
    }
}

fn receive(c: &mut Criterion) {
    let mut g = c.benchmark_group("receive");
    let mut config = ReceiverConfig::new(Role::Server);
    config.max_message_size = 64 << 20;
    config.max_frame_size = 64 << 20;
    let cases: [(&str, usize, OpCode, usize); 7] = [
        ("16B_binary", 16, OpCode::Binary, 1),
        ("16B_text", 16, OpCode::Text, 1),
        ("1KiB_binary", KIB, OpCode::Binary, 1),
        ("1KiB_text", KIB, OpCode::Text, 1),
        ("64KiB_binary", 64 * KIB, OpCode::Binary, 1),
        ("64KiB_text", 64 * KIB, OpCode::Text, 1),
        ("64KiB_binary_16_fragments", 64 * KIB, OpCode::Binary, 16),
    ];
    for (name, len, kind, fragments) in cases {
        let payload = if kind == OpCode::Text {
            ascii_heavy_text(len)
        } else {
            noise(len, 3)
        };
        let wire = client_message(kind, &payload, fragments);
        let mut rx = Receiver::new(config);
        g.throughput(Throughput::Bytes(payload.len() as u64));
        // The receiver unmasks in place, so each iteration gets a fresh copy
        // of the wire bytes (copied outside the timed part).
        g.bench_function(BenchmarkId::new("message", name), |b| {
            b.iter_batched_ref(
                || wire.clone(),
                |buf| assert_eq!(decode_all(&mut rx, buf), 1),
                BatchSize::SmallInput,
            )
        });
    }
    // A read buffer full of small pipelined messages: 256 × 16 B frames,
    // as a busy connection's 8 KiB read returns them.
    let one = client_message(OpCode::Binary, &noise(16, 5), 1);
    let burst: Vec<u8> = one.iter().copied().cycle().take(one.len() * 256).collect();
    let mut rx = Receiver::new(config);
    g.throughput(Throughput::Elements(256));
    g.bench_function(BenchmarkId::new("burst", "256x16B_binary"), |b| {
        b.iter_batched_ref(
            || burst.clone(),
            |buf| assert_eq!(decode_all(&mut rx, buf), 256),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = frame_header, masking, utf8, receive
}
criterion_main!(benches);
