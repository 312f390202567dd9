//! [`Connection`]'s send methods: messages, prepared messages, control
//! frames, and waiting for the send queue (streams are in `streaming.rs`).

use std::future::Future;

use futures::future::Either;

use super::handle::Connection;
use super::options::SendOptions;
use super::prepared::Prepared;
use super::shared::QueueSend;
use crate::error::Error;
use crate::protocol::{DataKind, Message, OpCode};

/// The future of a message's send: compressed (boxed) or plain. `Sync`
/// like the `async fn`s it replaced, so it may be kept in a `Sync` struct.
type SendMessage<'a> = Either<
    std::pin::Pin<Box<dyn Future<Output = Result<(), Error>> + Send + Sync + 'a>>,
    QueueSend<'a>,
>;

impl<S> Connection<S> {
    /// Sends a message, waiting while the send queue is over its high-water
    /// mark (unless the policy says otherwise).
    ///
    /// Returns once the message is queued; it is written in the background in
    /// order. Fails with [`Error::Closed`] once a close frame was sent or
    /// received.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(conn: wsgate::Connection) -> Result<(), wsgate::Error> {
    /// conn.send("hello").await?;
    /// conn.send(vec![1u8, 2, 3]).await?;
    /// # Ok(()) }
    /// ```
    pub fn send(
        &self,
        message: impl Into<Message>,
    ) -> impl Future<Output = Result<(), Error>> + Send + Sync + '_ {
        self.send_message(message.into(), SendOptions::new())
    }

    /// Sends a message with per-message [`SendOptions`], such as forcing
    /// permessage-deflate compression on or off; otherwise as
    /// [`send`](Self::send).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use wsgate::SendOptions;
    ///
    /// # async fn f(conn: wsgate::Connection) -> Result<(), wsgate::Error> {
    /// // A small but very repetitive message: worth compressing anyway.
    /// conn.send_with("ha".repeat(100), SendOptions::new().compress(true)).await?;
    /// # Ok(()) }
    /// ```
    pub fn send_with(
        &self,
        message: impl Into<Message>,
        options: SendOptions,
    ) -> impl Future<Output = Result<(), Error>> + Send + Sync + '_ {
        self.send_message(message.into(), options)
    }

    /// What every send of a message comes to. Not an `async fn`: the future
    /// is part of every application task that awaits a send, and a task is
    /// as large as its largest await even while it waits for events. So
    /// the plain path is [`QueueSend`] (96 bytes) and the compressed
    /// one, which allocates its output anyway, is boxed.
    fn send_message(&self, message: Message, options: SendOptions) -> SendMessage<'_> {
        let (kind, payload) = match message {
            Message::Text(text) => (DataKind::Text, text.into_bytes()),
            Message::Binary(data) => (DataKind::Binary, data),
        };
        #[cfg(feature = "deflate")]
        if let Some(deflate) = &self.shared().deflate
            && deflate.wants(payload.len(), options.compression())
        {
            return Either::Left(Box::pin(
                self.shared().send_compressed(deflate, kind, payload),
            ));
        }
        #[cfg(not(feature = "deflate"))]
        let _ = options;
        let out = self.shared().data_frames(kind, payload);
        Either::Right(self.shared().send(out, false))
    }

    /// Sends a [`Prepared`] message: framed once, its bytes shared with
    /// every other connection it is sent to (compressed once per window
    /// size for connections compressing from the server's pool). Waits,
    /// fails or closes under [`Config::send_queue_policy`](crate::Config::send_queue_policy) as
    /// [`send`](Self::send) does.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(room: Vec<wsgate::Connection>) {
    /// let news = wsgate::Prepared::new("the room is closing");
    /// for member in &room {
    ///     let _ = member.send_prepared(&news).await;
    /// }
    /// # }
    /// ```
    pub async fn send_prepared(&self, prepared: &Prepared) -> Result<(), Error> {
        self.shared().send_prepared(prepared).await
    }

    /// Sends a text message.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(conn: wsgate::Connection) -> Result<(), wsgate::Error> {
    /// conn.send_text(format!("{} users online", 3)).await?;
    /// # Ok(()) }
    /// ```
    pub fn send_text(
        &self,
        text: impl Into<String>,
    ) -> impl Future<Output = Result<(), Error>> + Send + Sync + '_ {
        self.send_message(Message::Text(text.into()), SendOptions::new())
    }

    /// Sends a binary message.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(conn: wsgate::Connection) -> Result<(), wsgate::Error> {
    /// conn.send_binary(vec![0xde, 0xad]).await?;
    /// # Ok(()) }
    /// ```
    pub fn send_binary(
        &self,
        data: impl Into<Vec<u8>>,
    ) -> impl Future<Output = Result<(), Error>> + Send + Sync + '_ {
        self.send_message(Message::Binary(data.into()), SendOptions::new())
    }

    /// Sends a ping (at most 125 bytes). The peer's pong arrives as
    /// [`Event::Pong`](crate::Event::Pong). Control frames skip the high-water mark.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) -> Result<(), wsgate::Error> {
    /// conn.ping(b"are you there".to_vec())?;
    /// # Ok(()) }
    /// ```
    pub fn ping(&self, payload: impl Into<Vec<u8>>) -> Result<(), Error> {
        self.shared().send_control(OpCode::Ping, payload.into())
    }

    /// Sends an unsolicited pong (at most 125 bytes), e.g. as a heartbeat.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) -> Result<(), wsgate::Error> {
    /// conn.pong(Vec::new())?;
    /// # Ok(()) }
    /// ```
    pub fn pong(&self, payload: impl Into<Vec<u8>>) -> Result<(), Error> {
        self.shared().send_control(OpCode::Pong, payload.into())
    }

    /// Waits until every queued frame has been written to the transport.
    /// Fails with [`Error::Closed`] if the connection finished first.
    ///
    /// Frames left to the writer task while the connection hands out
    /// several messages that came in one read (corking) are written by it
    /// in any case; `flush` also ends the corking of the current read.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(conn: wsgate::Connection) -> Result<(), wsgate::Error> {
    /// conn.send("last words").await?;
    /// conn.flush().await?;
    /// # Ok(()) }
    /// ```
    pub async fn flush(&self) -> Result<(), Error> {
        self.shared().uncork(None);
        loop {
            let listener = self.shared().space.listen();
            {
                let queue = self.shared().lock_queue();
                if queue.lost {
                    return Err(Error::Closed);
                }
                if queue.bytes == 0 {
                    return Ok(());
                }
            }
            listener.await;
        }
    }

    /// Bytes queued and not yet written to the transport.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// println!("{} bytes waiting", conn.buffered_amount());
    /// # }
    /// ```
    pub fn buffered_amount(&self) -> usize {
        self.shared().lock_queue().bytes
    }

    /// Waits until the send queue has drained to its low-water mark
    /// ([`Config::send_queue_low_water`](crate::Config::send_queue_low_water)); the async form of
    /// [`Event::Drain`](crate::Event::Drain). Fails with [`Error::Closed`] if the connection
    /// finished first.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(conn: wsgate::Connection) -> Result<(), wsgate::Error> {
    /// for chunk in 0..100u8 {
    ///     conn.send(vec![chunk; 64 << 10]).await?;
    ///     if conn.buffered_amount() > (512 << 10) {
    ///         conn.writable().await?;
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn writable(&self) -> Result<(), Error> {
        let low = self.shared().config.send_queue_low_water;
        loop {
            let listener = self.shared().space.listen();
            {
                let queue = self.shared().lock_queue();
                if queue.life.is_finished() {
                    return Err(Error::Closed);
                }
                if queue.bytes <= low {
                    return Ok(());
                }
            }
            listener.await;
        }
    }
}
