//! Linear-time parsers for header values built from RFC 7230 tokens.
//!
//! Every parser makes a single left-to-right pass with no backtracking, so
//! hostile input (a megabyte of commas, spaces or quotes) costs linear time.
//! Several header lines of one field may be parsed one by one and the results
//! concatenated: that equals parsing them joined by commas (RFC 7230 §3.2.2).

use std::fmt;

/// Why a header value could not be parsed.
///
/// Returned by [`parse_token_list`] and [`parse_extensions`] for the first
/// byte that breaks the grammar. Offsets are byte offsets into the value.
///
/// # Examples
///
/// ```
/// use wsgate::handshake::{TokenError, parse_extensions, parse_token_list};
///
/// assert_eq!(parse_token_list("chat superchat"), Err(TokenError::UnexpectedChar { at: 5 }));
/// assert_eq!(parse_extensions("permessage-deflate;"), Err(TokenError::UnexpectedEnd));
/// assert_eq!(parse_extensions("x; a=\"b"), Err(TokenError::UnterminatedQuote { at: 5 }));
/// assert_eq!(parse_extensions("x; a=\"\""), Err(TokenError::QuotedValueNotToken { at: 5 }));
/// assert_eq!(
///     TokenError::UnexpectedChar { at: 5 }.to_string(),
///     "unexpected character at byte 5",
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    /// A byte that may not appear at this position.
    UnexpectedChar {
        /// Offset of the byte.
        at: usize,
    },
    /// The value ended where a token was required (e.g. `foo;`).
    UnexpectedEnd,
    /// A quoted-string that never closes.
    UnterminatedQuote {
        /// Offset of the opening quote.
        at: usize,
    },
    /// A quoted parameter value whose unescaped content is not a token, as
    /// RFC 6455 §9.1 requires (includes `""` and control characters).
    QuotedValueNotToken {
        /// Offset of the offending byte, or of the opening quote for `""`.
        at: usize,
    },
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnexpectedChar { at } => write!(f, "unexpected character at byte {at}"),
            Self::UnexpectedEnd => f.write_str("unexpected end of value"),
            Self::UnterminatedQuote { at } => {
                write!(f, "unterminated quoted string at byte {at}")
            }
            Self::QuotedValueNotToken { at } => {
                write!(f, "quoted value is not a token (byte {at})")
            }
        }
    }
}

impl std::error::Error for TokenError {}

/// Whether `b` is an RFC 7230 `tchar`.
pub(super) const fn is_tchar(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'#'
            | b'$'
            | b'%'
            | b'&'
            | b'\''
            | b'*'
            | b'+'
            | b'-'
            | b'.'
            | b'^'
            | b'_'
            | b'`'
            | b'|'
            | b'~'
    ) || b.is_ascii_alphanumeric()
}

/// Whether `s` is a non-empty RFC 7230 token (e.g. a valid header name).
///
/// A token is one or more visible ASCII characters other than the
/// delimiters `"(),/:;<=>?@[\]{}`: what header names, subprotocol names
/// and extension names must be.
///
/// # Examples
///
/// ```
/// use wsgate::handshake::is_token;
///
/// assert!(is_token("permessage-deflate"));
/// assert!(is_token("chat.v2"));
/// assert!(!is_token(""));
/// assert!(!is_token("two words"));
/// assert!(!is_token("a/b"));
/// ```
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// Single-pass cursor over a header value.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Self { text, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_while(&mut self, pred: impl Fn(u8) -> bool) {
        while self.peek().is_some_and(&pred) {
            self.pos += 1;
        }
    }

    fn skip_ows(&mut self) {
        self.skip_while(|b| b == b' ' || b == b'\t');
    }

    /// Skips OWS and empty list elements (`#rule`, RFC 7230 §7).
    fn skip_separators(&mut self) {
        self.skip_while(|b| b == b' ' || b == b'\t' || b == b',');
    }

    fn token(&mut self) -> Result<&'a str, TokenError> {
        match self.peek() {
            None => Err(TokenError::UnexpectedEnd),
            Some(b) if !is_tchar(b) => Err(TokenError::UnexpectedChar { at: self.pos }),
            Some(_) => {
                let start = self.pos;
                self.skip_while(is_tchar);
                // tchars are ASCII, so both ends are char boundaries.
                Ok(&self.text[start..self.pos])
            }
        }
    }

    /// A quoted-string (cursor on the opening quote) whose unescaped content
    /// must be a token.
    fn quoted_token(&mut self) -> Result<String, TokenError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let b = self
                .peek()
                .ok_or(TokenError::UnterminatedQuote { at: start })?;
            match b {
                b'"' => {
                    self.pos += 1;
                    break;
                }
                b'\\' => {
                    self.pos += 1;
                    match self.peek() {
                        None => return Err(TokenError::UnterminatedQuote { at: start }),
                        Some(e) if is_tchar(e) => out.push(char::from(e)),
                        Some(_) => return Err(TokenError::QuotedValueNotToken { at: self.pos }),
                    }
                }
                b if is_tchar(b) => out.push(char::from(b)),
                _ => return Err(TokenError::QuotedValueNotToken { at: self.pos }),
            }
            self.pos += 1;
        }
        if out.is_empty() {
            return Err(TokenError::QuotedValueNotToken { at: start });
        }
        Ok(out)
    }
}

/// Parses a comma-separated list of tokens with optional whitespace.
/// Empty elements (`a,,b`, leading or trailing commas) are skipped.
///
/// # Errors
///
/// A [`TokenError`] at the first byte that breaks the grammar.
///
/// ```
/// use wsgate::handshake::parse_token_list;
///
/// assert_eq!(parse_token_list(" chat , , superchat,").unwrap(), ["chat", "superchat"]);
/// assert!(parse_token_list("chat superchat").is_err());
/// ```
pub fn parse_token_list(value: &str) -> Result<Vec<&str>, TokenError> {
    let mut cur = Cursor::new(value);
    let mut out = Vec::new();
    loop {
        cur.skip_separators();
        if cur.peek().is_none() {
            return Ok(out);
        }
        out.push(cur.token()?);
        cur.skip_ows();
        match cur.peek() {
            None => return Ok(out),
            Some(b',') => cur.pos += 1,
            Some(_) => return Err(TokenError::UnexpectedChar { at: cur.pos }),
        }
    }
}

/// Whether a comma-separated header value contains `token`, compared
/// ASCII-case-insensitively after trimming whitespace. Lenient: other
/// elements are not validated (e.g. `Upgrade: HTTP/2.0, websocket`).
///
/// ```
/// use wsgate::handshake::list_contains_token;
///
/// assert!(list_contains_token("keep-alive, Upgrade", "upgrade"));
/// assert!(!list_contains_token("keep-alive", "upgrade"));
/// ```
pub fn list_contains_token(value: &str, token: &str) -> bool {
    value
        .split(',')
        .any(|item| item.trim_matches([' ', '\t']).eq_ignore_ascii_case(token))
}

/// One extension from `Sec-WebSocket-Extensions` (RFC 6455 §9.1).
///
/// [`parse_extensions`] makes these from a header value, with quoted
/// parameter values already unescaped; [`Display`](fmt::Display) writes
/// one back in header syntax, quoting values that are not tokens.
///
/// # Examples
///
/// ```
/// use wsgate::ExtensionOffer;
///
/// let offer = ExtensionOffer {
///     name: "permessage-deflate".to_owned(),
///     params: vec![
///         ("client_max_window_bits".to_owned(), None),
///         ("server_max_window_bits".to_owned(), Some("10".to_owned())),
///     ],
/// };
/// assert_eq!(
///     offer.to_string(),
///     "permessage-deflate; client_max_window_bits; server_max_window_bits=10",
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionOffer {
    /// Extension token, e.g. `permessage-deflate`.
    pub name: String,
    /// Parameters in order; `None` for a bare parameter name.
    pub params: Vec<(String, Option<String>)>,
}

impl fmt::Display for ExtensionOffer {
    /// Serializes as header syntax, e.g.
    /// `permessage-deflate; client_max_window_bits=10`. Values that are not
    /// tokens are written as quoted-strings.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for (name, value) in &self.params {
            write!(f, "; {name}")?;
            match value {
                None => {}
                Some(v) if is_token(v) => write!(f, "={v}")?,
                Some(v) => {
                    f.write_str("=\"")?;
                    for c in v.chars() {
                        if c == '"' || c == '\\' {
                            f.write_str("\\")?;
                        }
                        write!(f, "{c}")?;
                    }
                    f.write_str("\"")?;
                }
            }
        }
        Ok(())
    }
}

/// Joins extensions into one `Sec-WebSocket-Extensions` value
/// (`a; x=1, b`).
///
/// The inverse of [`parse_extensions`]: each extension is written as its
/// [`Display`](fmt::Display) does, and they are separated by `, `.
///
/// # Examples
///
/// ```
/// use wsgate::handshake::{format_extensions, parse_extensions};
///
/// let offers = parse_extensions("permessage-deflate;client_no_context_takeover,x-foo").unwrap();
/// assert_eq!(
///     format_extensions(&offers),
///     "permessage-deflate; client_no_context_takeover, x-foo",
/// );
/// assert_eq!(format_extensions(&[]), "");
/// ```
pub fn format_extensions(extensions: &[ExtensionOffer]) -> String {
    extensions
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses a `Sec-WebSocket-Extensions` value (RFC 6455 §9.1):
/// `extension = token *( ";" param )`,
/// `param = token [ "=" (token | quoted-string) ]`, with OWS around `;`, `,`
/// and `=`, and empty list elements skipped.
///
/// # Errors
///
/// A [`TokenError`] at the first byte that breaks the grammar, or when a
/// quoted value does not unescape to a token.
///
/// ```
/// use wsgate::handshake::parse_extensions;
///
/// let offers = parse_extensions(
///     "permessage-deflate; client_max_window_bits=\"10\", x-foo",
/// ).unwrap();
/// assert_eq!(offers[0].name, "permessage-deflate");
/// assert_eq!(offers[0].params, [("client_max_window_bits".to_owned(), Some("10".to_owned()))]);
/// assert_eq!(offers[0].to_string(), "permessage-deflate; client_max_window_bits=10");
/// assert_eq!(offers[1].name, "x-foo");
/// ```
pub fn parse_extensions(value: &str) -> Result<Vec<ExtensionOffer>, TokenError> {
    let mut cur = Cursor::new(value);
    let mut out = Vec::new();
    loop {
        cur.skip_separators();
        if cur.peek().is_none() {
            return Ok(out);
        }
        let name = cur.token()?.to_owned();
        let mut params = Vec::new();
        loop {
            cur.skip_ows();
            match cur.peek() {
                None | Some(b',') => break,
                Some(b';') => {
                    cur.pos += 1;
                    cur.skip_ows();
                    let param = cur.token()?.to_owned();
                    cur.skip_ows();
                    let value = if cur.peek() == Some(b'=') {
                        cur.pos += 1;
                        cur.skip_ows();
                        Some(match cur.peek() {
                            Some(b'"') => cur.quoted_token()?,
                            _ => cur.token()?.to_owned(),
                        })
                    } else {
                        None
                    };
                    params.push((param, value));
                }
                Some(_) => return Err(TokenError::UnexpectedChar { at: cur.pos }),
            }
        }
        out.push(ExtensionOffer { name, params });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn offer(name: &str, params: &[(&str, Option<&str>)]) -> ExtensionOffer {
        ExtensionOffer {
            name: name.to_owned(),
            params: params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned)))
                .collect(),
        }
    }

    #[test]
    fn token_chars() {
        assert!(is_token("permessage-deflate"));
        assert!(is_token("!#$%&'*+-.^_`|~09azAZ"));
        for bad in [
            "", "a b", "a,b", "a;b", "a=b", "\"a\"", "a/b", "a:b", "é", "a\tb",
        ] {
            assert!(!is_token(bad), "{bad:?}");
        }
    }

    #[test]
    fn token_list_basic() {
        assert_eq!(parse_token_list("chat").unwrap(), ["chat"]);
        assert_eq!(
            parse_token_list("chat,superchat").unwrap(),
            ["chat", "superchat"]
        );
        assert_eq!(
            parse_token_list(" \tchat \t, \tsuperchat\t ").unwrap(),
            ["chat", "superchat"]
        );
    }

    #[test]
    fn token_list_empty_elements() {
        assert!(parse_token_list("").unwrap().is_empty());
        assert!(parse_token_list(" , ,, ").unwrap().is_empty());
        assert_eq!(parse_token_list(",a,,b,").unwrap(), ["a", "b"]);
        assert_eq!(parse_token_list("a , , b").unwrap(), ["a", "b"]);
    }

    #[test]
    fn token_list_errors() {
        assert_eq!(
            parse_token_list("a b"),
            Err(TokenError::UnexpectedChar { at: 2 })
        );
        assert_eq!(
            parse_token_list("a;b"),
            Err(TokenError::UnexpectedChar { at: 1 })
        );
        assert_eq!(
            parse_token_list("a, \"b\""),
            Err(TokenError::UnexpectedChar { at: 3 })
        );
        assert_eq!(
            parse_token_list("a,é"),
            Err(TokenError::UnexpectedChar { at: 2 })
        );
        assert!(parse_token_list("a\r\nb").is_err());
        assert!(parse_token_list("a/1").is_err());
    }

    #[test]
    fn contains_token_case_insensitive() {
        assert!(list_contains_token("Upgrade", "upgrade"));
        assert!(list_contains_token("keep-alive, Upgrade", "upgrade"));
        assert!(list_contains_token("keep-alive,UPGRADE", "Upgrade"));
        assert!(list_contains_token(" \tupgrade\t ", "upgrade"));
        assert!(list_contains_token("HTTP/2.0, WebSocket", "websocket"));
        assert!(!list_contains_token("upgrades", "upgrade"));
        assert!(!list_contains_token("up grade", "upgrade"));
        assert!(!list_contains_token("", "upgrade"));
        assert!(!list_contains_token("keep-alive; upgrade", "upgrade"));
    }

    #[test]
    fn extensions_basic() {
        assert_eq!(
            parse_extensions("permessage-deflate").unwrap(),
            [offer("permessage-deflate", &[])]
        );
        assert_eq!(
            parse_extensions("permessage-deflate; client_max_window_bits").unwrap(),
            [offer(
                "permessage-deflate",
                &[("client_max_window_bits", None)]
            )]
        );
        assert_eq!(
            parse_extensions(
                "permessage-deflate; client_max_window_bits=10; server_no_context_takeover, \
                 permessage-deflate, x-webkit-deflate-frame"
            )
            .unwrap(),
            [
                offer(
                    "permessage-deflate",
                    &[
                        ("client_max_window_bits", Some("10")),
                        ("server_no_context_takeover", None)
                    ]
                ),
                offer("permessage-deflate", &[]),
                offer("x-webkit-deflate-frame", &[]),
            ]
        );
    }

    #[test]
    fn extensions_whitespace_and_empty_elements() {
        assert_eq!(
            parse_extensions(" , a \t;\t b \t=\t 1 \t; c , ,b ,").unwrap(),
            [
                offer("a", &[("b", Some("1")), ("c", None)]),
                offer("b", &[])
            ]
        );
        assert!(parse_extensions("").unwrap().is_empty());
        assert!(parse_extensions(",,, ,").unwrap().is_empty());
    }

    #[test]
    fn extensions_quoted_values() {
        assert_eq!(
            parse_extensions("a; b=\"10\"").unwrap(),
            [offer("a", &[("b", Some("10"))])]
        );
        // Backslash escapes are unescaped.
        assert_eq!(
            parse_extensions(r#"a; b="1\0""#).unwrap(),
            [offer("a", &[("b", Some("10"))])]
        );
        assert_eq!(
            parse_extensions(r#"a; b = "x-y" , c"#).unwrap(),
            [offer("a", &[("b", Some("x-y"))]), offer("c", &[])]
        );
    }

    #[test]
    fn extensions_quoted_must_be_token() {
        assert_eq!(
            parse_extensions(r#"a; b="1 0""#),
            Err(TokenError::QuotedValueNotToken { at: 7 })
        );
        assert_eq!(
            parse_extensions(r#"a; b="""#),
            Err(TokenError::QuotedValueNotToken { at: 5 })
        );
        assert_eq!(
            parse_extensions(r#"a; b="x\"y""#),
            Err(TokenError::QuotedValueNotToken { at: 8 })
        );
        assert_eq!(
            parse_extensions(r#"a; b="x,y""#),
            Err(TokenError::QuotedValueNotToken { at: 7 })
        );
        assert!(parse_extensions("a; b=\"x\u{1}\"").is_err());
    }

    #[test]
    fn extensions_errors() {
        use TokenError::*;
        assert_eq!(parse_extensions("a;"), Err(UnexpectedEnd));
        assert_eq!(parse_extensions("a; b="), Err(UnexpectedEnd));
        assert_eq!(parse_extensions("a;;b"), Err(UnexpectedChar { at: 2 }));
        assert_eq!(parse_extensions(";a"), Err(UnexpectedChar { at: 0 }));
        assert_eq!(parse_extensions("a b"), Err(UnexpectedChar { at: 2 }));
        assert_eq!(parse_extensions("a; b c"), Err(UnexpectedChar { at: 5 }));
        assert_eq!(parse_extensions("a; b=1 2"), Err(UnexpectedChar { at: 7 }));
        assert_eq!(parse_extensions("a; b==1"), Err(UnexpectedChar { at: 5 }));
        assert_eq!(parse_extensions("a; =1"), Err(UnexpectedChar { at: 3 }));
        assert_eq!(
            parse_extensions("a; b=\"10"),
            Err(UnterminatedQuote { at: 5 })
        );
        assert_eq!(
            parse_extensions("a; b=\"10\\"),
            Err(UnterminatedQuote { at: 5 })
        );
        assert_eq!(
            parse_extensions("a; b=\"1\"0"),
            Err(UnexpectedChar { at: 8 })
        );
        assert!(parse_extensions("a; b=é").is_err());
        assert!(parse_extensions("a\r\n; b").is_err());
    }

    #[test]
    fn display_extension() {
        assert_eq!(
            offer(
                "permessage-deflate",
                &[("client_max_window_bits", Some("10"))]
            )
            .to_string(),
            "permessage-deflate; client_max_window_bits=10"
        );
        assert_eq!(
            offer("x", &[("a", None), ("b", None)]).to_string(),
            "x; a; b"
        );
        // Non-token values are quoted and escaped.
        assert_eq!(
            offer("x", &[("a", Some("1 \"2\\"))]).to_string(),
            r#"x; a="1 \"2\\""#
        );
        assert_eq!(
            format_extensions(&[offer("a", &[("b", Some("1"))]), offer("c", &[])]),
            "a; b=1, c"
        );
        assert_eq!(format_extensions(&[]), "");
    }

    #[test]
    fn hostile_inputs_finish() {
        const MB: usize = 1 << 20;
        let commas = ",".repeat(MB);
        assert!(parse_token_list(&commas).unwrap().is_empty());
        assert!(parse_extensions(&commas).unwrap().is_empty());
        assert!(!list_contains_token(&commas, "upgrade"));

        let spaces = " ".repeat(MB);
        assert!(parse_token_list(&spaces).unwrap().is_empty());
        assert!(parse_extensions(&spaces).unwrap().is_empty());
        let mut spaces_then_junk = spaces.clone();
        spaces_then_junk.push_str("a b");
        assert!(parse_token_list(&spaces_then_junk).is_err());

        let semis = format!("a{}", ";".repeat(MB));
        assert!(parse_extensions(&semis).is_err());
        let many_params = format!("a{}", "; b=1".repeat(MB / 5));
        assert_eq!(
            parse_extensions(&many_params).unwrap()[0].params.len(),
            MB / 5
        );
        let many_tokens = "a,".repeat(MB / 2);
        assert_eq!(parse_token_list(&many_tokens).unwrap().len(), MB / 2);

        let quotes = "\"".repeat(MB);
        assert!(parse_token_list(&quotes).is_err());
        assert!(parse_extensions(&format!("a; b={quotes}")).is_err());
        let open_quote = format!("a; b=\"{}", "x".repeat(MB));
        assert_eq!(
            parse_extensions(&open_quote),
            Err(TokenError::UnterminatedQuote { at: 5 })
        );
        let escapes = format!("a; b=\"{}\"", "\\x".repeat(MB / 2));
        assert_eq!(
            parse_extensions(&escapes).unwrap()[0].params[0]
                .1
                .as_ref()
                .unwrap()
                .len(),
            MB / 2
        );
        let ows_eq = format!("a;{0}b{0}={0}c", " ".repeat(MB / 3));
        assert_eq!(parse_extensions(&ows_eq).unwrap().len(), 1);
    }

    fn token() -> impl Strategy<Value = String> {
        "[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}"
    }

    fn extension() -> impl Strategy<Value = ExtensionOffer> {
        (
            token(),
            proptest::collection::vec((token(), proptest::option::of(token())), 0..5),
        )
            .prop_map(|(name, params)| ExtensionOffer { name, params })
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in any::<String>()) {
            let _ = parse_token_list(&s);
            let _ = parse_extensions(&s);
            let _ = list_contains_token(&s, "upgrade");
        }

        #[test]
        fn parsers_never_panic_on_header_alphabet(s in "[a-c ,;=\"\\\\\t]{0,64}") {
            let _ = parse_token_list(&s);
            let _ = parse_extensions(&s);
        }

        #[test]
        fn extension_round_trip(offers in proptest::collection::vec(extension(), 0..5)) {
            let text = format_extensions(&offers);
            prop_assert_eq!(parse_extensions(&text).unwrap(), offers);
        }

        #[test]
        fn quoted_display_round_trips_for_tokens(name in token(), value in token()) {
            // A token value written quoted parses back to the same value.
            let text = format!("x; {name}=\"{value}\"");
            let parsed = parse_extensions(&text).unwrap();
            prop_assert_eq!(&parsed[0].params[0], &(name, Some(value)));
        }

        #[test]
        fn token_list_round_trip(tokens in proptest::collection::vec(token(), 0..8)) {
            let text = tokens.join(" ,\t");
            prop_assert_eq!(parse_token_list(&text).unwrap(), tokens);
        }
    }
}
