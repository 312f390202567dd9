//! Arbitrary bytes as a server's handshake response, through the client's
//! `parse_response` and `validate_response`.
//!
//! Asserts: no panic; the limits hold; a validated response is a 101 that
//! selected at most one offered subprotocol.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsgate::handshake::{Limits, parse_response, validate_response};

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

fuzz_target!(|data: &[u8]| {
    let [flags, input @ ..] = data else {
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
    let offered = ["chat".to_owned(), "superchat".to_owned()];
    let offered = if flags & 2 == 0 {
        &offered[..]
    } else {
        &[][..]
    };
    match parse_response(input, &limits) {
        Ok(Some((raw, used))) => {
            assert!(used <= input.len() && used <= limits.max_size);
            assert!(raw.headers.len() <= limits.max_headers);
            let _ = raw.header_all("sec-websocket-extensions").count();
            if let Ok(accepted) = validate_response(&raw, KEY, offered) {
                assert_eq!(raw.status, 101);
                assert!(raw.http_minor >= 1);
                if let Some(protocol) = &accepted.protocol {
                    assert!(offered.contains(protocol), "{protocol:?}");
                }
            }
        }
        Ok(None) => assert!(input.len() < limits.max_size),
        Err(e) => {
            let _ = e.status();
        }
    }
});
