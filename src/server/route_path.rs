//! Route patterns: `/rooms/:id` matched against a request's path, as plain
//! code over strings.

/// One parsed pattern: `/`-separated segments, each literal, a parameter
/// (`:name`, one segment) or a rest parameter (`*name`, the rest of the
/// path, last only).
#[derive(Debug, Clone)]
pub(super) struct RoutePath {
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Literal(String),
    Param(String),
    Rest(String),
}

impl RoutePath {
    /// Parses `pattern`.
    ///
    /// # Panics
    ///
    /// When it does not start with `/`, has an empty parameter name, or a
    /// rest parameter before its last segment: a pattern is the
    /// application's code, so a wrong one is a bug to see at once.
    pub(super) fn parse(pattern: &str) -> RoutePath {
        let Some(path) = pattern.strip_prefix('/') else {
            panic!("route pattern {pattern:?} must start with '/'");
        };
        let parts: Vec<&str> = path.split('/').collect();
        let last = parts.len() - 1;
        let segments = parts
            .iter()
            .enumerate()
            .map(|(i, part)| {
                let (kind, name) = match part.split_at_checked(1) {
                    Some((":", name)) => (":", name),
                    Some(("*", name)) => ("*", name),
                    _ => return Segment::Literal((*part).to_owned()),
                };
                assert!(
                    !name.is_empty(),
                    "route pattern {pattern:?}: a parameter needs a name"
                );
                if kind == ":" {
                    Segment::Param(name.to_owned())
                } else {
                    assert!(
                        i == last,
                        "route pattern {pattern:?}: *{name} must be the last segment"
                    );
                    Segment::Rest(name.to_owned())
                }
            })
            .collect();
        RoutePath { segments }
    }

    /// The parameters, percent-decoded, if `path` (without its query)
    /// matches. A parameter matches one non-empty segment; a rest
    /// parameter matches the rest of the path, possibly empty.
    pub(super) fn matches(&self, path: &str) -> Option<Vec<(String, String)>> {
        let path = path.strip_prefix('/')?;
        let mut params = Vec::new();
        let mut rest = Some(path);
        for segment in &self.segments {
            let remaining = rest?;
            if let Segment::Rest(name) = segment {
                params.push((name.clone(), percent_decode(remaining)));
                return Some(params);
            }
            let (part, after) = match remaining.split_once('/') {
                Some((part, after)) => (part, Some(after)),
                None => (remaining, None),
            };
            match segment {
                // The path comes percent-encoded (a URL's), the pattern as
                // written: `/café` matches `/caf%C3%A9`.
                Segment::Literal(literal)
                    if literal == part
                        || (part.contains('%') && *literal == percent_decode(part)) => {}
                Segment::Param(name) if !part.is_empty() => {
                    params.push((name.clone(), percent_decode(part)));
                }
                _ => return None,
            }
            rest = after;
        }
        rest.is_none().then_some(params)
    }
}

/// `%XX` escapes decoded; an invalid escape is kept as it is, and bytes
/// that are not UTF-8 become U+FFFD.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        // Two hex digits, no more: `u8::from_str_radix` alone would also
        // take a sign (`%+5`).
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pattern: &str, path: &str) -> Option<Vec<(String, String)>> {
        RoutePath::parse(pattern).matches(path)
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn literals_match_exactly() {
        assert_eq!(params("/", "/"), Some(vec![]));
        assert_eq!(params("/health", "/health"), Some(vec![]));
        assert_eq!(params("/health", "/health/"), None);
        assert_eq!(params("/health", "/healthz"), None);
        assert_eq!(params("/health", "/"), None);
        assert_eq!(params("/a/b", "/a"), None);
        assert_eq!(params("/a", "/a/b"), None);
        assert_eq!(params("/a", "a"), None);
    }

    #[test]
    fn literals_match_the_percent_encoded_path() {
        // A request's path is a URL's: non-ASCII and spaces come encoded.
        assert_eq!(params("/café", "/caf%C3%A9"), Some(vec![]));
        assert_eq!(
            params("/café/:x", "/caf%c3%a9/1"),
            Some(pairs(&[("x", "1")]))
        );
        assert_eq!(params("/a b", "/a%20b"), Some(vec![]));
        assert_eq!(params("/ab", "/a%2Fb"), None);
    }

    #[test]
    fn parameters_take_one_nonempty_segment_decoded() {
        assert_eq!(
            params("/rooms/:id", "/rooms/42"),
            Some(pairs(&[("id", "42")]))
        );
        assert_eq!(
            params("/rooms/:id/users/:user", "/rooms/a%20b/users/%C3%A9"),
            Some(pairs(&[("id", "a b"), ("user", "é")]))
        );
        assert_eq!(params("/rooms/:id", "/rooms/"), None);
        assert_eq!(params("/rooms/:id", "/rooms"), None);
        assert_eq!(params("/rooms/:id", "/rooms/1/2"), None);
        assert_eq!(
            params("/rooms/:id", "/rooms/100%"),
            Some(pairs(&[("id", "100%")]))
        );
    }

    #[test]
    fn only_two_hex_digits_make_an_escape() {
        // `u8::from_str_radix` takes a leading `+`: `%+5` is not an escape.
        assert_eq!(
            params("/rooms/:id", "/rooms/a%+5b"),
            Some(pairs(&[("id", "a%+5b")]))
        );
        assert_eq!(
            params("/rooms/:id", "/rooms/%-1%g0%%41"),
            Some(pairs(&[("id", "%-1%g0%A")]))
        );
        assert_eq!(
            params("/files/*path", "/files/%C3%A9%FF%"),
            Some(pairs(&[("path", "é\u{FFFD}%")]))
        );
    }

    #[test]
    fn a_rest_parameter_takes_the_rest() {
        assert_eq!(
            params("/files/*path", "/files/a/b.txt"),
            Some(pairs(&[("path", "a/b.txt")]))
        );
        assert_eq!(
            params("/files/*path", "/files/"),
            Some(pairs(&[("path", "")]))
        );
        assert_eq!(params("/files/*path", "/files"), None);
    }

    #[test]
    #[should_panic(expected = "must start with '/'")]
    fn a_pattern_without_a_slash_is_a_bug() {
        RoutePath::parse("rooms");
    }

    #[test]
    #[should_panic(expected = "must be the last segment")]
    fn a_rest_parameter_in_the_middle_is_a_bug() {
        RoutePath::parse("/a/*rest/b");
    }

    #[test]
    #[should_panic(expected = "needs a name")]
    fn a_parameter_needs_a_name() {
        RoutePath::parse("/rooms/:");
    }
}
