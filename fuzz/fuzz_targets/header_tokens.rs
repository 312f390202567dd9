//! Header token parsers: `Sec-WebSocket-Protocol` / `Connection` token
//! lists and `Sec-WebSocket-Extensions`, plus CIDR parsing.
//!
//! Asserts: no panic; what parses is made of tokens; parse → format → parse
//! round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsgate::IpNet;
use wsgate::handshake::{
    format_extensions, is_token, list_contains_token, parse_extensions, parse_token_list,
};

fuzz_target!(|data: &[u8]| {
    // Header values reach these parsers as UTF-8 (others are refused
    // earlier, as malformed).
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };

    if let Ok(tokens) = parse_token_list(value) {
        for token in &tokens {
            assert!(is_token(token), "{token:?}");
            assert!(list_contains_token(value, token), "{token:?} in {value:?}");
        }
        let joined = tokens.join(", ");
        assert_eq!(parse_token_list(&joined).unwrap(), tokens);
    }

    if let Ok(offers) = parse_extensions(value) {
        for offer in &offers {
            assert!(is_token(&offer.name));
            for (name, param) in &offer.params {
                assert!(is_token(name));
                if let Some(param) = param {
                    assert!(is_token(param), "{param:?}");
                }
            }
        }
        let formatted = format_extensions(&offers);
        assert_eq!(
            parse_extensions(&formatted).unwrap(),
            offers,
            "{formatted:?}"
        );
    }

    let _ = list_contains_token(value, "upgrade");

    if let Ok(net) = value.parse::<IpNet>() {
        assert_eq!(net.to_string().parse::<IpNet>().unwrap(), net);
    }
});
