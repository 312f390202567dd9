//! Looking up header fields by name in an owned header list: the one lookup
//! that requests, responses, connections and proxies' forwarding headers all
//! go through. Depends on nothing.

/// Values of every header named `name` (ASCII case-insensitive), in order.
pub(crate) fn header_values<'a>(
    headers: &'a [(String, String)],
    name: &str,
) -> impl Iterator<Item = &'a str> {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The value of the first header named `name` (ASCII case-insensitive).
pub(crate) fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    header_values(headers, name).next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lookup_case_insensitive() {
        let headers = vec![
            ("Host".to_owned(), "a".to_owned()),
            ("X-Foo".to_owned(), "1".to_owned()),
            ("x-foo".to_owned(), "2".to_owned()),
        ];
        assert_eq!(header_values(&headers, "HOST").collect::<Vec<_>>(), ["a"]);
        assert_eq!(
            header_values(&headers, "X-FOO").collect::<Vec<_>>(),
            ["1", "2"]
        );
        assert_eq!(header_values(&headers, "nope").count(), 0);
        assert_eq!(header(&headers, "x-foo"), Some("1"));
        assert_eq!(header(&headers, "nope"), None);
    }
}
