//! Per-send options.

/// Options for one send ([`Connection::send_with`](crate::Connection::send_with)).
///
/// # Examples
///
/// ```
/// use wsgate::SendOptions;
///
/// // Compress even a small message (when permessage-deflate was negotiated).
/// let options = SendOptions::new().compress(true);
/// assert_eq!(options.compression(), Some(true));
/// assert_eq!(SendOptions::new().compression(), None);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendOptions {
    compress: Option<bool>,
}

impl SendOptions {
    /// The defaults: compress when permessage-deflate was negotiated and the
    /// message is at least
    /// [`DeflateConfig::threshold`](crate::handshake::DeflateConfig::threshold)
    /// bytes long.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(wsgate::SendOptions::new(), wsgate::SendOptions::default());
    /// ```
    pub const fn new() -> SendOptions {
        SendOptions { compress: None }
    }

    /// Forces compression on (`true`, whatever the size) or off (`false`)
    /// for this message.
    ///
    /// Compression needs permessage-deflate on the connection
    /// ([`Connection::deflate`](crate::Connection::deflate)); without it the
    /// message goes uncompressed either way. A connection compressing from
    /// a server's shared pool (over the memory budget) also sends it
    /// uncompressed when every pooled compressor is busy, or when the
    /// compressed form would not be smaller. Streamed sends
    /// ([`send_stream`](crate::Connection::send_stream)) are never
    /// compressed.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use wsgate::SendOptions;
    ///
    /// # async fn f(conn: wsgate::Connection, jpeg: Vec<u8>) -> Result<(), wsgate::Error> {
    /// // Already compressed: do not spend CPU on it.
    /// conn.send_with(jpeg, SendOptions::new().compress(false)).await?;
    /// # Ok(()) }
    /// ```
    pub const fn compress(mut self, compress: bool) -> SendOptions {
        self.compress = Some(compress);
        self
    }

    /// What [`compress`](Self::compress) set: `None` for the default rule.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(wsgate::SendOptions::new().compress(false).compression(), Some(false));
    /// ```
    pub const fn compression(&self) -> Option<bool> {
        self.compress
    }
}
