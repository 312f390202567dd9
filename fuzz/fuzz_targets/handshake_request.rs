//! Arbitrary bytes as an opening handshake: `find_head_end` (incremental,
//! as the server calls it), `parse_head` and `classify`.
//!
//! Asserts: no panic; incremental and one-shot head detection agree; the
//! limits hold; an accepted upgrade's 101 satisfies a client
//! (`parse_response` + `validate_response`); every error becomes a
//! well-formed response with the error's status.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsgate::handshake::{
    Classified, HandshakeError, Limits, accept_response, classify, find_head_end, is_valid_key,
    parse_head, parse_response, validate_response,
};

fn check_error_response(error: &HandshakeError) {
    let bytes = error.to_response();
    let limits = Limits {
        max_size: 64 << 10,
        max_headers: 64,
    };
    let (raw, used) = parse_response(&bytes, &limits)
        .expect("our error response parses")
        .expect("our error response is complete");
    assert!(used <= bytes.len());
    assert_eq!(raw.status, error.status());
}

fuzz_target!(|data: &[u8]| {
    let [flags, step, input @ ..] = data else {
        return;
    };
    let limits = if flags & 1 == 0 {
        Limits::default()
    } else {
        Limits {
            max_size: 512,
            max_headers: 8,
        }
    };

    // Incremental detection (the server passes the previous length) finds
    // the same end as a one-shot scan.
    let whole = find_head_end(input, 0);
    let step = usize::from(*step) + 1;
    let mut found = None;
    let mut scanned = 0;
    let mut len = 0;
    while len < input.len() {
        len = (len + step).min(input.len());
        if let Some(end) = find_head_end(&input[..len], scanned) {
            found = Some(end);
            break;
        }
        scanned = len;
    }
    assert_eq!(found, whole);

    match parse_head(input, &limits) {
        Ok(None) => {
            let window = &input[..input.len().min(limits.max_size)];
            assert!(find_head_end(window, 0).is_none());
            assert!(input.len() < limits.max_size);
        }
        Ok(Some((raw, used))) => {
            assert!(used <= input.len() && used <= limits.max_size);
            assert!(raw.headers.len() <= limits.max_headers);
            match classify(raw) {
                Ok(Classified::Upgrade(request)) => {
                    assert!(request.resource.starts_with('/'), "{:?}", request.resource);
                    assert!(is_valid_key(request.key.as_bytes()));
                    assert!(matches!(request.version, 13 | 8));
                    assert!(!request.host.is_empty());
                    let protocol = request.protocols.first().cloned();
                    let response = accept_response(&request.key, protocol.as_deref(), None, &[]);
                    let (raw, used) = parse_response(&response, &Limits::default())
                        .expect("our 101 parses")
                        .expect("our 101 is complete");
                    assert_eq!(used, response.len());
                    let accepted = validate_response(&raw, &request.key, &request.protocols)
                        .expect("a client accepts our 101");
                    assert_eq!(accepted.protocol, protocol);
                }
                Ok(Classified::Plain(_)) => {}
                Err(e) => check_error_response(&e),
            }
        }
        Err(e) => check_error_response(&e),
    }
});
