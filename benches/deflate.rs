//! permessage-deflate costs: compression memory per connection, and CPU per
//! message at 1 KiB and 64 KiB (compress, and receive = inflate + UTF-8
//! through `Receiver::decode`), with context takeover (a connection's own
//! compressor) and without (the shared pool, reset after every message).
//!
//! ```text
//! cargo bench --bench deflate                 # memory table, then the timings
//! cargo bench --bench deflate -- compress     # one group
//! ```
//!
//! Memory is measured, not estimated: a counting global allocator records
//! the heap each codec allocates when built and after a first message (so
//! lazily allocated state counts too). It is printed before the timings.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use wsgate::handshake::DeflateParams;
use wsgate::protocol::{
    Compressor, CompressorPool, DECOMPRESSOR_MEMORY, Decompressor, FrameHeader, Incoming,
    MAX_HEADER_LEN, OpCode, Receiver, ReceiverConfig, Role, apply_mask, compressor_memory,
};

const KIB: usize = 1024;

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; the counter is a statistic.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's layout goes to the system allocator as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            CURRENT.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `p` came from `alloc` above with this layout.
        unsafe { System.dealloc(p, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

/// JSON-like text, the typical WebSocket payload: compresses about 5:1.
fn json_text(len: usize, seed: u64) -> Vec<u8> {
    let names = ["alice", "bob", "carol", "dave", "eve", "mallory"];
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = String::with_capacity(len + 64);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push_str(&format!(
            "{{\"id\":{},\"user\":\"{}\",\"online\":{},\"score\":{}}},",
            x % 100_000,
            names[(x >> 20) as usize % names.len()],
            x & 1 == 0,
            (x >> 32) % 1000
        ));
    }
    out.truncate(len);
    out.into_bytes()
}

/// Incompressible bytes (xorshift).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Heap allocated by `make` and still held by what it returns, after
/// `warm` ran on it once.
fn heap_of<T>(make: impl FnOnce() -> T, warm: impl FnOnce(&mut T)) -> (usize, usize) {
    let before = CURRENT.load(Ordering::Relaxed);
    let mut value = make();
    let built = CURRENT.load(Ordering::Relaxed) - before;
    warm(&mut value);
    let warmed = CURRENT.load(Ordering::Relaxed) - before;
    drop(value);
    (built, warmed)
}

/// Prints the memory table (once, before the timings).
fn memory_table() {
    let text = json_text(64 * KIB, 1);
    println!("\npermessage-deflate heap per codec (counting allocator):\n");
    println!("| codec | built | after a 64 KiB message | estimate used by the budget |");
    println!("|---|---:|---:|---:|");
    for bits in [9u8, 12, 15] {
        let (built, warmed) = heap_of(
            || Compressor::new(bits, 6, false).unwrap(),
            |c| {
                let mut out = Vec::new();
                c.compress(&text, &mut out);
            },
        );
        println!(
            "| compressor, window {bits} | {built} B | {warmed} B | {} B |",
            compressor_memory(bits)
        );
    }
    for (bits, no_context_takeover, label) in [
        (15, false, "decompressor, window 15"),
        (9, false, "decompressor, window 9 (with the window check)"),
        (15, true, "decompressor, no context takeover"),
    ] {
        let mut wire = Vec::new();
        Compressor::new(bits, 6, no_context_takeover)
            .unwrap()
            .compress(&text, &mut wire);
        let (built, warmed) = heap_of(
            || Decompressor::new(bits, no_context_takeover).unwrap(),
            |d| {
                let mut out = Vec::with_capacity(text.len());
                d.decompress_chunk(&wire, &mut out, text.len()).unwrap();
                d.finish_message(&mut out, text.len()).unwrap();
                let kept = out.capacity();
                drop(out);
                // Only the decompressor's own state counts.
                black_box(kept);
            },
        );
        println!("| {label} | {built} B | {warmed} B | {DECOMPRESSOR_MEMORY} B |");
    }
    let params = DeflateParams::default();
    let (built, warmed) = heap_of(
        || {
            (
                params.compressor(Role::Server, 6).unwrap(),
                params.decompressor(Role::Server).unwrap(),
            )
        },
        |(c, d)| {
            let mut out = Vec::new();
            c.compress(&text, &mut out);
            let mut back = Vec::new();
            d.decompress_chunk(&out, &mut back, text.len()).unwrap();
            d.finish_message(&mut back, text.len()).unwrap();
        },
    );
    println!(
        "| a connection's own codec (defaults: window 15) | {built} B | {warmed} B | {} B |",
        params.memory(Role::Server)
    );
    let (built, _) = heap_of(|| CompressorPool::new(4, 15, 6).unwrap(), |_| {});
    println!(
        "| shared pool of 4 (window 15), once per server | {built} B | | {} B |",
        4 * compressor_memory(15)
    );
    println!("| a pooled connection (decompressor only) | | | {DECOMPRESSOR_MEMORY} B |\n");
}

/// One masked client frame carrying `wire`, RSV1 set when `compressed`.
fn client_frame(wire: &[u8], compressed: bool) -> Vec<u8> {
    let mut header = FrameHeader::new(OpCode::Text, true, wire.len() as u64);
    header.mask = Some([0x12, 0x34, 0x56, 0x78]);
    if compressed {
        header.rsv = 0x40;
    }
    let mut head = [0u8; MAX_HEADER_LEN];
    let n = header.encode(&mut head);
    let mut out = head[..n].to_vec();
    let mut body = wire.to_vec();
    apply_mask(&mut body, [0x12, 0x34, 0x56, 0x78], 0);
    out.extend(body);
    out
}

fn decode_all(rx: &mut Receiver, buf: &mut [u8]) -> usize {
    let mut at = 0;
    let mut len = 0;
    loop {
        match rx.decode(&mut buf[at..]).unwrap() {
            (0, None) => return len,
            (n, item) => {
                at += n;
                if let Some(Incoming::Message(m)) = item {
                    len += m.len();
                }
            }
        }
    }
}

/// Distinct messages to cycle through: 64 of them, more than a 32 KiB
/// window holds at 1 KiB, so a message never matches an identical copy of
/// itself (which would make compressing it nearly free).
const DISTINCT: u64 = 64;

fn compress(c: &mut Criterion) {
    let mut group = c.benchmark_group("compress");
    for size in [KIB, 64 * KIB] {
        let json: Vec<Vec<u8>> = (0..DISTINCT).map(|i| json_text(size, 7 + i)).collect();
        let random: Vec<Vec<u8>> = (0..DISTINCT).map(|i| noise(size, 7 + i)).collect();
        group.throughput(Throughput::Bytes(size as u64));
        for (name, data) in [("json", &json), ("random", &random)] {
            for (label, level, no_context_takeover) in
                [("own", 6, false), ("own", 1, false), ("pool", 6, true)]
            {
                let mut c = Compressor::new(15, level, no_context_takeover).unwrap();
                let mut wire = 0;
                for message in data.iter() {
                    let mut out = Vec::new();
                    c.compress(message, &mut out);
                    wire += out.len();
                }
                println!(
                    "compress/{label}/level{level}/{name}/{size}: wire is {:.0}% of the payload",
                    100.0 * wire as f64 / (data.len() * size) as f64
                );
            }
            for level in [6u32, 1] {
                // A connection's own compressor: context carried over.
                let mut own = Compressor::new(15, level, false).unwrap();
                let mut out = Vec::with_capacity(size + 64);
                let mut i = 0;
                group.bench_with_input(
                    BenchmarkId::new(format!("own/level{level}/{name}"), size),
                    data,
                    |b, data| {
                        b.iter(|| {
                            i += 1;
                            out.clear();
                            own.compress(black_box(&data[i % data.len()]), &mut out);
                            out.len()
                        })
                    },
                );
            }
            // The shared pool: acquire, compress, reset.
            let pool = CompressorPool::new(2, 15, 6).unwrap();
            let mut out = Vec::with_capacity(size + 64);
            let mut i = 0;
            group.bench_with_input(
                BenchmarkId::new(format!("pool/level6/{name}"), size),
                data,
                |b, data| {
                    b.iter(|| {
                        i += 1;
                        out.clear();
                        pool.try_acquire(15)
                            .unwrap()
                            .compress(black_box(&data[i % data.len()]), &mut out);
                        out.len()
                    })
                },
            );
        }
    }
    group.finish();
}

fn receive(c: &mut Criterion) {
    let mut group = c.benchmark_group("receive");
    for size in [KIB, 64 * KIB] {
        let text = json_text(size, 9);
        group.throughput(Throughput::Bytes(size as u64));
        // Uncompressed, the baseline: unmask + UTF-8 + assembly.
        let plain = client_frame(&text, false);
        let mut rx = Receiver::new(ReceiverConfig::new(Role::Server));
        group.bench_with_input(BenchmarkId::new("plain", size), &plain, |b, frame| {
            b.iter_batched_ref(
                || frame.clone(),
                |buf| decode_all(&mut rx, buf),
                BatchSize::SmallInput,
            )
        });
        // The wire size with context takeover, window 15.
        let frames = compressed_frames(size, 15, false);
        let ratio =
            frames.iter().map(Vec::len).sum::<usize>() as f64 / (frames.len() * size) as f64;
        println!(
            "receive/inflate/{size}: wire is {:.0}% of the text",
            ratio * 100.0
        );
        for (label, bits, check, no_context_takeover) in [
            ("inflate", 15, true, false),
            ("inflate-window9", 9, true, false),
            ("inflate-window9-unchecked", 9, false, false),
            ("inflate-no-context", 15, true, true),
        ] {
            receive_compressed(&mut group, label, size, bits, check, no_context_takeover);
        }
    }
    group.finish();
}

/// [`DISTINCT`] JSON messages of `size` bytes compressed by one compressor,
/// each a client frame. With context takeover each message refers to the
/// previous ones, as a real stream does.
fn compressed_frames(size: usize, bits: u8, no_context_takeover: bool) -> Vec<Vec<u8>> {
    let mut tx = Compressor::new(bits, 6, no_context_takeover).unwrap();
    (0..DISTINCT)
        .map(|i| {
            let mut wire = Vec::new();
            tx.compress(&json_text(size, 9 + i), &mut wire);
            client_frame(&wire, true)
        })
        .collect()
}

/// `receive/{label}/{size}`: compressed messages through a receiver whose
/// decompressor has `bits` (or 15, without the window check, unless
/// `check`) and `no_context_takeover` (the sender the same).
fn receive_compressed(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    label: &str,
    size: usize,
    bits: u8,
    check: bool,
    no_context_takeover: bool,
) {
    let rx_bits = if check { bits } else { 15 };
    {
        let frames = compressed_frames(size, bits, no_context_takeover);
        let fresh = || {
            Receiver::with_decompressor(
                ReceiverConfig::new(Role::Server),
                Decompressor::new(rx_bits, no_context_takeover).unwrap(),
            )
        };
        group.bench_function(BenchmarkId::new(label, size), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut rx = fresh();
                for i in 0..iters as usize {
                    let k = i % frames.len();
                    if k == 0 {
                        // Start the stream again: a fresh receiver.
                        rx = fresh();
                    }
                    let mut buf = frames[k].clone();
                    let start = Instant::now();
                    black_box(decode_all(&mut rx, &mut buf));
                    total += start.elapsed();
                }
                total
            })
        });
    }
}

fn memory(_: &mut Criterion) {
    memory_table();
}

criterion_group! {
    name = benches;
    config = config();
    targets = memory, compress, receive
}
criterion_main!(benches);
