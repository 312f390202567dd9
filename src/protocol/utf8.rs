//! Incremental UTF-8 validation for text messages (RFC 6455 §8.1).
//!
//! Text payloads arrive in pieces: frames, and chunks of frames. A multibyte
//! character may be split across any of them. [`Utf8Validator`] checks each
//! piece as it arrives and fails as soon as the bytes seen so far cannot be the
//! start of valid UTF-8, without waiting for the end of the message.

/// The bytes seen so far cannot be part of valid UTF-8.
///
/// # Examples
///
/// ```
/// use wsgate::protocol::{InvalidUtf8, Utf8Validator};
///
/// let mut v = Utf8Validator::new();
/// assert_eq!(v.feed(&[0xff]), Err(InvalidUtf8));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidUtf8;

impl std::fmt::Display for InvalidUtf8 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("invalid UTF-8 in a text message")
    }
}

impl std::error::Error for InvalidUtf8 {}

/// Validates a stream of UTF-8 bytes piece by piece.
///
/// Keeps at most three bytes of an incomplete character between pieces.
///
/// # Examples
///
/// ```
/// use wsgate::protocol::Utf8Validator;
///
/// // "é" is 0xC3 0xA9: split across two pieces it is still valid.
/// let mut v = Utf8Validator::new();
/// v.feed(&[b'a', 0xC3]).unwrap();
/// v.feed(&[0xA9]).unwrap();
/// v.finish().unwrap();
///
/// // A message that ends in the middle of a character is not.
/// let mut v = Utf8Validator::new();
/// v.feed(&[0xC3]).unwrap();
/// assert!(v.finish().is_err());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Utf8Validator {
    partial: [u8; 4],
    partial_len: u8,
}

impl Utf8Validator {
    /// A validator at the start of a message.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = wsgate::protocol::Utf8Validator::new();
    /// assert!(v.finish().is_ok());
    /// ```
    pub const fn new() -> Self {
        Utf8Validator {
            partial: [0; 4],
            partial_len: 0,
        }
    }

    /// Checks the next piece of the message.
    ///
    /// Fails as soon as the bytes cannot be valid UTF-8, even when the bad
    /// character is still incomplete (for example a surrogate's first two
    /// bytes `ED A0`).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut v = wsgate::protocol::Utf8Validator::new();
    /// assert!(v.feed("κόσμε".as_bytes()).is_ok());
    /// assert!(v.feed(&[0xED, 0xA0]).is_err());
    /// ```
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), InvalidUtf8> {
        if self.partial_len > 0 {
            bytes = self.complete_partial(bytes)?;
            if self.partial_len > 0 {
                return Ok(());
            }
        }
        match std::str::from_utf8(bytes) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                // The tail is a valid but incomplete character: keep it.
                let tail = &bytes[e.valid_up_to()..];
                self.partial[..tail.len()].copy_from_slice(tail);
                self.partial_len = tail.len() as u8;
                Ok(())
            }
            Err(_) => Err(InvalidUtf8),
        }
    }

    /// Checks that the message did not end inside a character.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut v = wsgate::protocol::Utf8Validator::new();
    /// v.feed(&[0xE2, 0x82]).unwrap();
    /// assert!(v.finish().is_err());
    /// ```
    pub fn finish(&self) -> Result<(), InvalidUtf8> {
        if self.partial_len == 0 {
            Ok(())
        } else {
            Err(InvalidUtf8)
        }
    }

    /// Resets the validator for the next message.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut v = wsgate::protocol::Utf8Validator::new();
    /// v.feed(&[0xC3]).unwrap();
    /// v.reset();
    /// assert!(v.finish().is_ok());
    /// ```
    pub fn reset(&mut self) {
        self.partial_len = 0;
    }

    /// Adds bytes to the held incomplete character; returns what is left of
    /// `bytes` once the character is complete (or empty if it is still not).
    fn complete_partial<'a>(&mut self, bytes: &'a [u8]) -> Result<&'a [u8], InvalidUtf8> {
        let have = usize::from(self.partial_len);
        let need = char_width(self.partial[0]);
        let take = (need - have).min(bytes.len());
        self.partial[have..have + take].copy_from_slice(&bytes[..take]);
        let now = have + take;
        match std::str::from_utf8(&self.partial[..now]) {
            Ok(_) => self.partial_len = 0,
            Err(e) if e.error_len().is_none() => self.partial_len = now as u8,
            Err(_) => return Err(InvalidUtf8),
        }
        Ok(&bytes[take..])
    }
}

/// The length of the character that `first` starts (only called for bytes
/// `from_utf8` reported as the start of an incomplete character: 2 to 4).
fn char_width(first: u8) -> usize {
    match first {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn validate_in_pieces(bytes: &[u8], cuts: &[usize]) -> Result<(), InvalidUtf8> {
        let mut v = Utf8Validator::new();
        let mut at = 0;
        for &cut in cuts.iter().chain(std::iter::once(&bytes.len())) {
            v.feed(&bytes[at..cut])?;
            at = cut;
        }
        v.finish()
    }

    #[test]
    fn split_at_every_byte_of_multibyte_sequences() {
        let text = "aé€𝄞zκόσμε\u{10FFFF}";
        let bytes = text.as_bytes();
        for cut in 0..=bytes.len() {
            assert!(validate_in_pieces(bytes, &[cut]).is_ok(), "cut at {cut}");
        }
        for a in 0..=bytes.len() {
            for b in a..=bytes.len() {
                assert!(validate_in_pieces(bytes, &[a, b]).is_ok(), "cuts {a} {b}");
            }
        }
        // One byte at a time.
        let cuts: Vec<usize> = (1..bytes.len()).collect();
        assert!(validate_in_pieces(bytes, &cuts).is_ok());
    }

    #[test]
    fn fails_fast_on_impossible_prefixes() {
        for bad in [
            &[0xED, 0xA0][..], // surrogate
            &[0xF4, 0x90],     // above U+10FFFF
            &[0xC0],           // overlong
            &[0xC1],
            &[0xE0, 0x80], // overlong three-byte
            &[0xF0, 0x80], // overlong four-byte
            &[0xF5],
            &[0xFF],
            &[0x80], // lone continuation
        ] {
            let mut v = Utf8Validator::new();
            assert_eq!(v.feed(bad), Err(InvalidUtf8), "{bad:02x?}");
            // Also when the bad byte arrives after a valid incomplete start.
            if bad.len() == 2 {
                let mut v = Utf8Validator::new();
                v.feed(&bad[..1]).unwrap();
                assert_eq!(v.feed(&bad[1..]), Err(InvalidUtf8), "{bad:02x?} split");
            }
        }
    }

    #[test]
    fn incomplete_end_fails_finish() {
        let mut v = Utf8Validator::new();
        v.feed(&[0xF0, 0x9D, 0x84]).unwrap();
        assert!(v.finish().is_err());
        v.feed(&[0x9E]).unwrap();
        assert!(v.finish().is_ok());
    }

    proptest! {
        #[test]
        fn agrees_with_std(bytes in proptest::collection::vec(any::<u8>(), 0..64),
                           cuts in proptest::collection::vec(0usize..64, 0..6)) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
            cuts.sort_unstable();
            let ours = validate_in_pieces(&bytes, &cuts).is_ok();
            prop_assert_eq!(ours, std::str::from_utf8(&bytes).is_ok());
        }

        #[test]
        fn valid_strings_pass_in_any_pieces(text in ".{0,40}",
                                            cuts in proptest::collection::vec(0usize..200, 0..6)) {
            let bytes = text.as_bytes();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
            cuts.sort_unstable();
            prop_assert!(validate_in_pieces(bytes, &cuts).is_ok());
        }
    }
}
