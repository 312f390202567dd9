//! Looking up header fields by name in an owned header list: the one lookup
//! that requests, responses, connections and proxies' forwarding headers all
//! go through. Depends on nothing.

/// Values of every header named `name` (ASCII case-insensitive), in order.
pub(crate) fn header_values<'a>(
    headers: &'a [(String, String)],
    name: &str,
) -> impl Iterator<Item = &'a str> {
    matching(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())), name)
}

/// The value of the first header named `name` (ASCII case-insensitive).
pub(crate) fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    header_values(headers, name).next()
}

/// The values of the pairs named `name`: the comparison every lookup makes.
fn matching<'a>(
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
    name: &str,
) -> impl Iterator<Item = &'a str> {
    pairs
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// The header fields of an open connection's handshake (the request's on
/// a server, the response's on a client), as sent, in order:
/// [`Connection::headers`](crate::Connection::headers).
///
/// Kept for the connection's whole life, so it is packed: every name and
/// value in one string, and where each ends, two allocations in all
/// instead of two per field.
///
/// # Examples
///
/// ```
/// use wsgate::HandshakeHeaders;
///
/// let headers: HandshakeHeaders = [("Host", "example.com"), ("X-Id", "1"), ("x-id", "2")]
///     .into_iter()
///     .collect();
/// assert_eq!(headers.len(), 3);
/// assert_eq!(headers.get("X-ID"), Some("1"));
/// assert_eq!(headers.get_all("x-id").collect::<Vec<_>>(), ["1", "2"]);
/// assert_eq!(headers.iter().next(), Some(("Host", "example.com")));
/// assert!(headers.get("cookie").is_none());
/// ```
#[derive(Clone, Default)]
pub struct HandshakeHeaders {
    /// The crate's own fields first (see [`packed`](Self::packed)), then
    /// each header's name and value, one after the other.
    text: Box<str>,
    /// Where each of those strings ends in `text`; each starts where the
    /// one before it ends.
    ends: Box<[u32]>,
    /// How many of the strings are the crate's own fields.
    fields: u8,
}

impl HandshakeHeaders {
    /// `fields` (strings the connection keeps beside its headers: its host,
    /// resource and so on, read back with [`field`](Self::field)) and
    /// `headers`, packed.
    pub(crate) fn packed<'a>(
        fields: &[&str],
        headers: impl Iterator<Item = (&'a str, &'a str)> + Clone,
    ) -> HandshakeHeaders {
        let strings = || {
            fields
                .iter()
                .copied()
                .chain(headers.clone().flat_map(|(n, v)| [n, v]))
        };
        let mut text = String::with_capacity(strings().map(str::len).sum());
        let mut ends = Vec::with_capacity(strings().count());
        for s in strings() {
            text.push_str(s);
            // A handshake's head is bounded by `Limits::max_size`, far
            // below 4 GiB. Past 4 GiB (only through `FromIterator`) the
            // later strings read back empty; nothing panics.
            ends.push(u32::try_from(text.len()).unwrap_or(u32::MAX));
        }
        HandshakeHeaders {
            text: text.into_boxed_str(),
            ends: ends.into_boxed_slice(),
            fields: u8::try_from(fields.len()).expect("a handful of fields"),
        }
    }

    /// The `i`-th string packed.
    fn string(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.text
            .get(start..self.ends[i] as usize)
            .unwrap_or_default()
    }

    /// The `i`-th of the fields given to [`packed`](Self::packed).
    pub(crate) fn field(&self, i: usize) -> &str {
        debug_assert!(i < usize::from(self.fields));
        self.string(i)
    }

    /// The number of header fields.
    ///
    /// # Examples
    ///
    /// ```
    /// let headers: wsgate::HandshakeHeaders = [("Host", "a")].into_iter().collect();
    /// assert_eq!(headers.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        (self.ends.len() - usize::from(self.fields)) / 2
    }

    /// Whether there are no header fields.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(wsgate::HandshakeHeaders::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every header field, `(name, value)`, in the order sent: names as
    /// sent, values trimmed of surrounding whitespace.
    ///
    /// # Examples
    ///
    /// ```
    /// let headers: wsgate::HandshakeHeaders = [("Host", "a"), ("Origin", "b")].into_iter().collect();
    /// let names: Vec<&str> = headers.iter().map(|(name, _)| name).collect();
    /// assert_eq!(names, ["Host", "Origin"]);
    /// ```
    pub fn iter(&self) -> HeaderIter<'_> {
        HeaderIter {
            headers: self,
            next: usize::from(self.fields),
            end: usize::from(self.fields) + 2 * self.len(),
        }
    }

    /// The header fields as owned pairs, for code that keeps or edits them.
    ///
    /// # Examples
    ///
    /// ```
    /// let headers: wsgate::HandshakeHeaders = [("Host", "a")].into_iter().collect();
    /// assert_eq!(headers.to_vec(), [("Host".to_owned(), "a".to_owned())]);
    /// ```
    pub fn to_vec(&self) -> Vec<(String, String)> {
        self.iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect()
    }

    /// The value of the first header named `name` (ASCII case-insensitive).
    ///
    /// # Examples
    ///
    /// ```
    /// let headers: wsgate::HandshakeHeaders = [("User-Agent", "curl")].into_iter().collect();
    /// assert_eq!(headers.get("user-agent"), Some("curl"));
    /// ```
    pub fn get(&self, name: &str) -> Option<&str> {
        self.get_all(name).next()
    }

    /// The values of every header named `name` (ASCII case-insensitive),
    /// in order.
    ///
    /// # Examples
    ///
    /// ```
    /// let headers: wsgate::HandshakeHeaders =
    ///     [("Cookie", "a=1"), ("cookie", "b=2")].into_iter().collect();
    /// assert_eq!(headers.get_all("COOKIE").collect::<Vec<_>>(), ["a=1", "b=2"]);
    /// ```
    pub fn get_all<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> {
        matching(self.iter(), name)
    }
}

impl<'a> IntoIterator for &'a HandshakeHeaders {
    type Item = (&'a str, &'a str);
    type IntoIter = HeaderIter<'a>;

    fn into_iter(self) -> HeaderIter<'a> {
        self.iter()
    }
}

/// The `(name, value)` pairs of [`HandshakeHeaders`], in order: from
/// [`HandshakeHeaders::iter`].
///
/// # Examples
///
/// ```
/// let headers: wsgate::HandshakeHeaders = [("A", "1"), ("B", "2")].into_iter().collect();
/// let mut iter: wsgate::handshake::HeaderIter<'_> = headers.iter();
/// assert_eq!(iter.len(), 2);
/// assert_eq!(iter.next(), Some(("A", "1")));
/// assert_eq!(iter.len(), 1);
/// assert_eq!(format!("{iter:?}"), r#"[("B", "2")]"#);
/// // From the right, as forwarding headers are read:
/// assert_eq!(headers.iter().rev().next(), Some(("B", "2")));
/// ```
#[derive(Clone)]
pub struct HeaderIter<'a> {
    headers: &'a HandshakeHeaders,
    /// The index of the next name among the packed strings.
    next: usize,
    /// One past the index of the last value not yet given (from the back).
    end: usize,
}

impl<'a> HeaderIter<'a> {
    /// The pair whose name is the `at`-th packed string.
    fn pair(&self, at: usize) -> (&'a str, &'a str) {
        (self.headers.string(at), self.headers.string(at + 1))
    }
}

impl<'a> Iterator for HeaderIter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        if self.next >= self.end {
            return None;
        }
        let pair = self.pair(self.next);
        self.next += 2;
        Some(pair)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.end - self.next) / 2;
        (left, Some(left))
    }
}

/// From the back too: forwarding headers are read from the right.
impl DoubleEndedIterator for HeaderIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.next >= self.end {
            return None;
        }
        self.end -= 2;
        Some(self.pair(self.end))
    }
}

impl ExactSizeIterator for HeaderIter<'_> {}

impl std::iter::FusedIterator for HeaderIter<'_> {}

/// The pairs not yet given.
impl std::fmt::Debug for HeaderIter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

impl<N: AsRef<str>, V: AsRef<str>> FromIterator<(N, V)> for HandshakeHeaders {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> HandshakeHeaders {
        let pairs: Vec<(N, V)> = iter.into_iter().collect();
        HandshakeHeaders::packed(&[], pairs.iter().map(|(n, v)| (n.as_ref(), v.as_ref())))
    }
}

/// Equal when the header lists are: the connection's own fields packed
/// beside them (host, resource and so on) are not part of the value.
impl PartialEq for HandshakeHeaders {
    fn eq(&self, other: &HandshakeHeaders) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for HandshakeHeaders {}

impl std::fmt::Debug for HandshakeHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
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

    /// The crate's fields come back as given and stay out of the header
    /// list; empty strings and non-ASCII text keep their places.
    #[test]
    fn packed_fields_and_headers() {
        let headers = [("Host", "a"), ("X-Empty", ""), ("X-Ünï", "çödé")];
        let packed = HandshakeHeaders::packed(&["host:1", "", "/ré"], headers.iter().copied());
        assert_eq!(
            (packed.field(0), packed.field(1), packed.field(2)),
            ("host:1", "", "/ré")
        );
        assert_eq!(packed.len(), 3);
        assert_eq!(packed.iter().collect::<Vec<_>>(), headers);
        assert_eq!(packed.get("x-empty"), Some(""));
        assert_eq!(packed.get("x-ÜNÏ"), None, "ASCII case-insensitive only");
        assert_eq!(packed.get("X-Ünï"), Some("çödé"));
        assert_eq!((&packed).into_iter().len(), 3);
        // Equal to the same list without the fields; both ends meet.
        let plain: HandshakeHeaders = headers.into_iter().collect();
        assert_eq!(packed, plain);
        assert_eq!(format!("{packed:?}"), format!("{plain:?}"));
        let mut both = packed.iter();
        assert_eq!(both.next_back(), Some(headers[2]));
        assert_eq!(both.next(), Some(headers[0]));
        assert_eq!(both.len(), 1);
        assert_eq!(both.next_back(), Some(headers[1]));
        assert_eq!((both.next(), both.next_back()), (None, None));
        let none = HandshakeHeaders::packed(&["h"], std::iter::empty());
        assert!(none.is_empty());
        assert_eq!(none.iter().count(), 0);
    }
}
