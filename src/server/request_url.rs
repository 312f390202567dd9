//! A request's URL, checked when the request arrives and parsed when first
//! asked for.
//!
//! Parsing with `url` (WHATWG rules, IDNA mapping of the host) costs about
//! 1.5 µs, 2% of a whole handshake, and most applications never look at the
//! parsed form. A host of plain DNS labels or a dotted IPv4 address, with an
//! origin-form target of printable ASCII, always parses, so such a request
//! waits with the text; anything else is parsed at once, and a request
//! whose URL does not parse is refused with 400 as before.

use std::net::Ipv4Addr;
use std::sync::OnceLock;

use http_types::Url;

/// `scheme://host/resource`, parsed on demand.
#[derive(Debug)]
pub(super) struct RequestUrl {
    text: String,
    parsed: OnceLock<Url>,
}

impl RequestUrl {
    /// The URL of a request for `resource` on `host`, or `None` when that
    /// is not a valid URL.
    pub(super) fn new(scheme: &str, host: &str, resource: &str) -> Option<RequestUrl> {
        let text = format!("{scheme}://{host}{resource}");
        let parsed = OnceLock::new();
        if !always_parses(host, resource) {
            let _ = parsed.set(Url::parse(&text).ok()?);
        }
        Some(RequestUrl { text, parsed })
    }

    /// The parsed URL.
    pub(super) fn get(&self) -> &Url {
        self.parsed.get_or_init(|| {
            Url::parse(&self.text).expect("a URL that always_parses accepted parses")
        })
    }
}

/// Whether `Url::parse` surely accepts `ws://{host}{resource}`: a host of
/// DNS labels (letters, digits, inner hyphens; no IDNA `xn--` labels), or a
/// dotted-decimal IPv4 address, with an optional port up to 65535; a
/// target that starts with `/` and holds printable ASCII other than `\`
/// and `#`. Conservative: `false` only means "parse it now".
fn always_parses(host: &str, resource: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    if let Some(port) = port
        && !((1..=5).contains(&port.len())
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u16>().is_ok())
    {
        return false;
    }
    if name.is_empty() || name.len() > 253 {
        return false;
    }
    let labels = name.strip_suffix('.').unwrap_or(name);
    let plain_label = |label: &str| {
        let bytes = label.as_bytes();
        (1..=63).contains(&bytes.len())
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
            && bytes[0] != b'-'
            && bytes[bytes.len() - 1] != b'-'
            && !bytes
                .get(..4)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"xn--"))
    };
    if !labels.split('.').all(plain_label) {
        return false;
    }
    // A last label that starts with a digit makes the host an IPv4 address
    // to the URL parser: only a well-formed one goes on.
    let last = labels.rsplit('.').next().unwrap_or("");
    if last.starts_with(|c: char| c.is_ascii_digit()) && name.parse::<Ipv4Addr>().is_err() {
        return false;
    }
    resource.starts_with('/')
        && resource
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'\\' && b != b'#')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn common_hosts_wait_and_parse_to_the_same_url() {
        for (host, resource) in [
            ("example.com", "/chat?room=1&nick=a%20b"),
            ("localhost:8080", "/"),
            ("127.0.0.1:9001", "/runCase?case=1&agent=x"),
            ("Sub.Example.COM.", "/a/b/../c"),
        ] {
            assert!(always_parses(host, resource), "{host}{resource}");
            let url = RequestUrl::new("ws", host, resource).unwrap();
            assert!(url.parsed.get().is_none(), "parsed early: {host}");
            let eager = Url::parse(&format!("ws://{host}{resource}")).unwrap();
            assert_eq!(url.get(), &eager);
        }
    }

    #[test]
    fn unusual_hosts_are_parsed_at_once_and_bad_ones_refused() {
        for (host, ok) in [
            ("[::1]:8080", true),
            ("bücher.example", true),
            ("xn--bcher-kva.example", true),
            ("1.2.3.999", false),
            ("example.com:99999", false),
            ("exa mple.com", false),
            ("", false),
        ] {
            assert!(!always_parses(host, "/"), "{host}");
            let url = RequestUrl::new("ws", host, "/");
            assert_eq!(url.is_some(), ok, "{host}");
            if let Some(url) = url {
                assert!(url.parsed.get().is_some(), "not parsed at once: {host}");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// Whatever `always_parses` lets through, the URL parser accepts.
        #[test]
        fn what_waits_always_parses(
            host in "[a-zA-Z0-9.:-]{0,24}|[0-9.]{1,16}(:[0-9]{0,6})?|[a-z-]{1,8}(\\.[a-zA-Z0-9-]{0,8}){0,3}",
            resource in "/[!-~]{0,24}",
        ) {
            if always_parses(&host, &resource) {
                let text = format!("ws://{host}{resource}");
                prop_assert!(Url::parse(&text).is_ok(), "{}", text);
            }
        }
    }
}
