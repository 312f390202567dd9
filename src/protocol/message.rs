//! Messages: what an application sends and receives.

/// A complete WebSocket message.
///
/// # Examples
///
/// ```
/// use wsgate::Message;
///
/// let m = Message::from("hello");
/// assert_eq!(m.as_bytes(), b"hello");
/// assert!(m.is_text());
/// assert_eq!(Message::from(vec![1u8, 2]).len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message: always valid UTF-8.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

impl Message {
    /// The payload bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(wsgate::Message::Text("hi".into()).as_bytes(), b"hi");
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(text) => text.as_bytes(),
            Message::Binary(data) => data,
        }
    }

    /// The payload length in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(wsgate::Message::Text("héllo".into()).len(), 6);
    /// ```
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the payload is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(wsgate::Message::Binary(Vec::new()).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether this is a text message.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!wsgate::Message::Binary(vec![0]).is_text());
    /// ```
    pub fn is_text(&self) -> bool {
        matches!(self, Message::Text(_))
    }

    /// The payload, as owned bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(wsgate::Message::Text("ab".into()).into_bytes(), b"ab".to_vec());
    /// ```
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            Message::Text(text) => text.into_bytes(),
            Message::Binary(data) => data,
        }
    }
}

impl From<String> for Message {
    fn from(text: String) -> Self {
        Message::Text(text)
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Self {
        Message::Text(text.to_owned())
    }
}

impl From<Vec<u8>> for Message {
    fn from(data: Vec<u8>) -> Self {
        Message::Binary(data)
    }
}

impl From<&[u8]> for Message {
    fn from(data: &[u8]) -> Self {
        Message::Binary(data.to_vec())
    }
}

/// Whether a data message or fragment carries text or binary data.
///
/// # Examples
///
/// ```
/// use wsgate::{DataKind, Message};
///
/// assert_eq!(DataKind::of(&Message::from("x")), DataKind::Text);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataKind {
    /// UTF-8 text.
    Text,
    /// Arbitrary bytes.
    Binary,
}

impl DataKind {
    /// The kind of a message.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::{DataKind, Message};
    ///
    /// assert_eq!(DataKind::of(&Message::Binary(vec![])), DataKind::Binary);
    /// ```
    pub fn of(message: &Message) -> DataKind {
        match message {
            Message::Text(_) => DataKind::Text,
            Message::Binary(_) => DataKind::Binary,
        }
    }
}

/// One frame of a data message, handed over as it arrives when message
/// assembly is switched off ([`Config::assemble_messages`](crate::Config::assemble_messages)).
///
/// Text fragments are validated as UTF-8 across the whole message, but one
/// fragment may end in the middle of a character, so `data` is bytes.
///
/// # Examples
///
/// ```
/// use wsgate::{DataKind, Fragment};
///
/// let f = Fragment { kind: DataKind::Text, data: b"par".to_vec(), first: true, last: false };
/// assert!(f.first && !f.last);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// Text or binary: the kind of the whole message.
    pub kind: DataKind,
    /// This frame's payload.
    pub data: Vec<u8>,
    /// Whether this is the first frame of the message.
    pub first: bool,
    /// Whether this is the last frame of the message.
    pub last: bool,
}
