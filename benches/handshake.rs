//! Micro-benchmarks of the sans-IO opening handshake: head parsing,
//! classification, the accept key and the 101 response.
//!
//! ```text
//! cargo bench --bench handshake
//! cargo bench --bench handshake -- --warm-up-time 1 --measurement-time 2
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use wsgate::handshake::{
    Classified, Limits, accept_key, accept_response, classify, find_head_end, parse_head,
};

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

/// What a command-line client sends: the required headers only.
const MINIMAL: &[u8] = b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1:9001\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";

/// What a browser sends: about 700 bytes, 14 headers, an extension offer.
const BROWSER: &[u8] = b"GET /chat?room=lobby HTTP/1.1\r\nHost: example.com\r\n\
Connection: Upgrade\r\nPragma: no-cache\r\nCache-Control: no-cache\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n\
Upgrade: websocket\r\nOrigin: https://example.com\r\nSec-WebSocket-Version: 13\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\nAccept-Language: en-GB,en;q=0.9,fr;q=0.8\r\n\
Cookie: session=7f3a9c0e4b2d4e8f9a1b2c3d4e5f6a7b; theme=dark; consent=yes\r\n\
Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n\
Sec-WebSocket-Protocol: chat.v2, chat\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";

fn handshake(c: &mut Criterion) {
    let limits = Limits::default();
    let mut g = c.benchmark_group("handshake");
    for (name, head) in [("minimal", MINIMAL), ("browser", BROWSER)] {
        g.bench_function(format!("find_head_end/{name}"), |b| {
            b.iter(|| find_head_end(black_box(head), 0))
        });
        g.bench_function(format!("parse_head/{name}"), |b| {
            b.iter(|| parse_head(black_box(head), &limits).unwrap())
        });
        g.bench_function(format!("parse_head+classify/{name}"), |b| {
            b.iter(|| {
                let (raw, _) = parse_head(black_box(head), &limits).unwrap().unwrap();
                classify(raw).unwrap()
            })
        });
        // Everything a server does between the last byte of the request and
        // the first byte of its answer.
        g.bench_function(format!("full_server_side/{name}"), |b| {
            b.iter(|| {
                let (raw, _) = parse_head(black_box(head), &limits).unwrap().unwrap();
                let Ok(Classified::Upgrade(req)) = classify(raw) else {
                    unreachable!("an upgrade request")
                };
                accept_response(&req.key, None, None, &[])
            })
        });
    }
    g.bench_function("accept_key", |b| {
        b.iter(|| accept_key(black_box(b"dGhlIHNhbXBsZSBub25jZQ==")))
    });
    g.bench_function("accept_response", |b| {
        b.iter(|| {
            accept_response(
                black_box("dGhlIHNhbXBsZSBub25jZQ=="),
                Some("chat"),
                None,
                &[],
            )
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = handshake
}
criterion_main!(benches);
