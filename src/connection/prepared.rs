//! A message framed once for many connections, and the send-queue policy
//! every send goes through.

use std::sync::{Arc, Mutex};

use std::sync::atomic::Ordering;

use super::queue::{Body, OutFrame, SendQueue};
use super::shared::{Admission, Outgoing, Shared};
use crate::config::{BroadcastPolicy, SendPolicy};
use crate::error::Error;
use crate::protocol::{CloseCode, DataFrames, DataKind, MAX_HEADER_LEN, Message, OpCode};

/// A message prepared once to be sent to many connections: its frame
/// headers are encoded once and its payload is shared by every send queue
/// it goes into (no copy per connection), as `ws`'s `Sender.frame()` does
/// for Node. With permessage-deflate, connections compressing from the
/// server's pool (no context takeover) share one compressed copy too.
///
/// [`ServerHandle::broadcast`](crate::ServerHandle::broadcast) prepares its
/// message this way; prepare one yourself to send it with
/// [`Connection::send_prepared`](crate::Connection::send_prepared) to a set
/// of connections you choose. Cloning is cheap (one reference count).
///
/// # Examples
///
/// ```
/// use wsgate::{DataKind, Prepared};
///
/// let news = Prepared::new("server restarts at noon");
/// assert_eq!(news.kind(), DataKind::Text);
/// assert_eq!(news.len(), 23);
/// let copy = news.clone(); // shares the bytes
/// assert_eq!(copy.len(), news.len());
/// ```
#[derive(Clone)]
pub struct Prepared {
    inner: Arc<Inner>,
}

struct Inner {
    kind: DataKind,
    payload: Arc<Vec<u8>>,
    /// Encoded frame headers per fragment size (a server has one).
    plain: Mutex<Vec<(usize, Arc<Heads>)>>,
    /// Per window bits and fragment size: the compressed message's headers
    /// and bytes, or `None` when compressing was not possible or did not
    /// help.
    #[cfg(feature = "deflate")]
    compressed: Mutex<Vec<(u8, usize, Option<Compressed>)>>,
}

/// The encoded headers of a message's frames, with the payload range each
/// frame carries.
type Heads = Vec<([u8; MAX_HEADER_LEN], usize, OpCode, std::ops::Range<usize>)>;

/// A compressed message: its frames' headers and its bytes.
#[cfg(feature = "deflate")]
type Compressed = (Arc<Heads>, Arc<Vec<u8>>);

impl Prepared {
    /// Prepares `message` for sending.
    ///
    /// # Examples
    ///
    /// ```
    /// let blob = wsgate::Prepared::new(vec![0u8; 1024]);
    /// assert_eq!(blob.kind(), wsgate::DataKind::Binary);
    /// ```
    pub fn new(message: impl Into<Message>) -> Prepared {
        let (kind, payload) = match message.into() {
            Message::Text(text) => (DataKind::Text, text.into_bytes()),
            Message::Binary(data) => (DataKind::Binary, data),
        };
        Prepared {
            inner: Arc::new(Inner {
                kind,
                payload: Arc::new(payload),
                plain: Mutex::new(Vec::new()),
                #[cfg(feature = "deflate")]
                compressed: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Whether it is a text or a binary message.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(wsgate::Prepared::new("hi").kind(), wsgate::DataKind::Text);
    /// ```
    pub fn kind(&self) -> DataKind {
        self.inner.kind
    }

    /// The payload's length in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(wsgate::Prepared::new("hi").len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.inner.payload.len()
    }

    /// Whether the payload is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(wsgate::Prepared::new("").is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.inner.payload.is_empty()
    }

    pub(crate) fn payload(&self) -> &Arc<Vec<u8>> {
        &self.inner.payload
    }

    /// The uncompressed frames, split at `fragment_size`, sharing the
    /// payload.
    pub(crate) fn plain(&self, fragment_size: usize) -> Outgoing {
        let heads = {
            let mut plain = self.inner.plain.lock().unwrap_or_else(|p| p.into_inner());
            match plain.iter().find(|(size, _)| *size == fragment_size) {
                Some((_, heads)) => heads.clone(),
                None => {
                    let heads =
                        Arc::new(encode_heads(self.inner.kind, 0, self.len(), fragment_size));
                    plain.push((fragment_size, heads.clone()));
                    heads
                }
            }
        };
        outgoing(&heads, &self.inner.payload)
    }

    /// The compressed frames for a connection compressing from `pool` with
    /// `bits` of window, made once per window size and fragment size; `None`
    /// when no compressor was free or compressing did not help.
    #[cfg(feature = "deflate")]
    pub(crate) fn pooled(
        &self,
        pool: &crate::protocol::CompressorPool,
        bits: u8,
        fragment_size: usize,
    ) -> Option<(Outgoing, usize)> {
        let mut cache = self
            .inner
            .compressed
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let at = match cache
            .iter()
            .position(|(b, size, _)| *b == bits && *size == fragment_size)
        {
            Some(at) => at,
            None => {
                let mut compressed = Vec::new();
                let encoded = pool.try_acquire(bits).and_then(|mut compressor| {
                    compressor.compress(&self.inner.payload, &mut compressed);
                    (compressed.len() < self.len()).then(|| {
                        let heads =
                            encode_heads(self.inner.kind, RSV1, compressed.len(), fragment_size);
                        (Arc::new(heads), Arc::new(compressed))
                    })
                });
                cache.push((bits, fragment_size, encoded));
                cache.len() - 1
            }
        };
        let (heads, compressed) = cache[at].2.as_ref()?;
        Some((outgoing(heads, compressed), compressed.len()))
    }
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("kind", &self.inner.kind)
            .field("len", &self.len())
            .finish()
    }
}

/// RSV1: the first frame of a compressed message (RFC 7692 §6).
#[cfg(feature = "deflate")]
pub(crate) const RSV1: u8 = 0x40;

fn encode_heads(kind: DataKind, rsv: u8, len: usize, fragment_size: usize) -> Heads {
    DataFrames::new(kind, rsv, len, fragment_size)
        .map(|(header, range)| {
            let mut head = [0u8; MAX_HEADER_LEN];
            let n = header.encode(&mut head);
            (head, n, header.opcode, range)
        })
        .collect()
}

fn outgoing(heads: &Heads, payload: &Arc<Vec<u8>>) -> Outgoing {
    Outgoing {
        frames: heads
            .iter()
            .map(|(head, len, opcode, range)| {
                OutFrame::from_encoded(
                    *head,
                    *len,
                    *opcode,
                    Body::Shared(payload.clone(), range.clone()),
                )
            })
            .collect(),
        messages: 1,
    }
}

/// Who met a full send queue: a sender (which may wait), or a broadcast
/// or publish (which never does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sending {
    /// `send` and its kin: [`Config::send_queue_policy`](crate::Config::send_queue_policy).
    Send,
    /// A broadcast or a publish: the connection's [`BroadcastPolicy`].
    Publish,
}

/// What [`Shared::queue_full`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Wait for room (senders under [`SendPolicy::Wait`] only).
    Wait,
    /// Not this message; the connection stays open.
    Skip,
    /// The connection was failed with 1008.
    Closed,
}

/// What became of a broadcast or published message at one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Queued (or, behind a message being streamed, queued to follow it).
    Queued,
    /// Dropped for this connection: over its mark under
    /// [`BroadcastPolicy::Drop`], or closing already.
    Dropped,
    /// Over its mark under [`BroadcastPolicy::Close`]: failed with 1008.
    Closed,
}

impl Shared {
    /// The send-queue policy, for a message that met the high-water mark:
    /// the one place that decides what a full queue means, for `send`,
    /// compressed sends, prepared sends, broadcasts and publishes.
    ///
    /// | policy | `Sending::Send` | `Sending::Publish` |
    /// |---|---|---|
    /// | wait | [`SendPolicy::Wait`]: wait for room | never |
    /// | skip | [`SendPolicy::Fail`]: `Error::QueueFull` | [`BroadcastPolicy::Drop`]: dropped, counted |
    /// | close | [`SendPolicy::Close`] | [`BroadcastPolicy::Close`] |
    ///
    /// Closing fails the connection with 1008 ("send queue full"): its close
    /// frame goes out after what is queued, and the peer's answer is not
    /// awaited.
    pub(crate) fn queue_full(&self, sending: Sending) -> Verdict {
        let verdict = match sending {
            Sending::Send => match self.config.send_queue_policy {
                SendPolicy::Wait => Verdict::Wait,
                SendPolicy::Fail => Verdict::Skip,
                SendPolicy::Close => Verdict::Closed,
            },
            Sending::Publish => match self.broadcast_policy() {
                BroadcastPolicy::Drop => Verdict::Skip,
                BroadcastPolicy::Close => Verdict::Closed,
            },
        };
        if verdict == Verdict::Closed {
            // An error the event stream reports before the close.
            self.fail_for(
                CloseCode::POLICY_VIOLATION,
                "send queue full",
                Error::QueueFull,
            );
        }
        verdict
    }

    /// [`queue_full`](Self::queue_full) for a sender: `Ok(())` to wait,
    /// else [`Error::QueueFull`].
    pub(crate) fn send_queue_full(&self) -> Result<(), Error> {
        match self.queue_full(Sending::Send) {
            Verdict::Wait => Ok(()),
            Verdict::Skip | Verdict::Closed => Err(Error::QueueFull),
        }
    }

    /// The connection's broadcast policy: its own, else the server's.
    pub(crate) fn broadcast_policy(&self) -> BroadcastPolicy {
        match self.broadcast_override.load(Ordering::Relaxed) {
            1 => BroadcastPolicy::Drop,
            2 => BroadcastPolicy::Close,
            _ => self.config.broadcast_policy,
        }
    }

    /// Sets this connection's own broadcast policy.
    pub(crate) fn set_broadcast_policy(&self, policy: BroadcastPolicy) {
        let code = match policy {
            BroadcastPolicy::Drop => 1,
            BroadcastPolicy::Close => 2,
        };
        self.broadcast_override.store(code, Ordering::Relaxed);
    }

    /// Delivers a broadcast or published message without waiting, ever:
    /// queued; or, over the high-water mark, the broadcast policy applies;
    /// behind a message being streamed, it is queued to follow that
    /// message (the mark still applies).
    ///
    /// A connection with its own compressor (context takeover) compresses
    /// the message here when its compressor is free; when another send
    /// holds it, the message goes uncompressed, which RFC 7692 allows at
    /// any point and which leaves the compression context untouched.
    pub(crate) fn deliver(&self, prepared: &Prepared) -> Delivery {
        #[cfg(feature = "deflate")]
        if let Some(delivery) = self.deliver_own_compressed(prepared) {
            return delivery;
        }
        let out = match self.prepared_frames(prepared) {
            Some(out) => out,
            // Its own compressor was busy: the shared uncompressed frames.
            None if self.keys.is_none() => prepared.plain(self.config.fragment_size),
            // A client masks each frame with its own key.
            None => self.data_frames(prepared.kind(), prepared.payload().to_vec()),
        };
        self.deliver_frames(out, |_| {})
    }

    /// Queues `out` for a broadcast or publish (see
    /// [`deliver`](Self::deliver)); `queued` runs under the queue's lock
    /// once the frames are in (the compressor's order is kept that way).
    pub(crate) fn deliver_frames(
        &self,
        out: Outgoing,
        queued: impl FnOnce(&mut SendQueue),
    ) -> Delivery {
        let mut queue = self.lock_queue();
        match self.admit(&mut queue, false) {
            Err(_) => return Delivery::Dropped,
            Ok(Admission::Admitted) => self.enqueue(&mut queue, out.frames),
            Ok(Admission::Busy) if queue.bytes < self.config.send_queue_high_water => {
                queue.defer(out.frames);
                self.note_high_water(&mut queue);
            }
            Ok(Admission::Busy | Admission::Full) => {
                queue.wants_drain = true;
                drop(queue);
                return match self.queue_full(Sending::Publish) {
                    Verdict::Closed => Delivery::Closed,
                    Verdict::Wait | Verdict::Skip => Delivery::Dropped,
                };
            }
        }
        queued(&mut queue);
        drop(queue);
        self.counters
            .messages_out
            .fetch_add(out.messages, Ordering::Relaxed);
        self.writer_wake.wake();
        Delivery::Queued
    }

    /// The frames of `prepared` for this connection, or `None` when this
    /// connection must compress it itself (its own compressor, with context
    /// takeover) or must mask it (a client: each frame gets its own key).
    pub(crate) fn prepared_frames(&self, prepared: &Prepared) -> Option<Outgoing> {
        if self.keys.is_some() {
            return None;
        }
        let fragment_size = self.config.fragment_size;
        #[cfg(feature = "deflate")]
        if let Some(deflate) = &self.deflate
            && deflate.wants(prepared.len(), None)
        {
            let crate::deflate::SendCodec::Pool(pool) = &deflate.codec else {
                return None;
            };
            if let Some((out, compressed)) =
                prepared.pooled(pool, deflate.send_window_bits(), fragment_size)
            {
                deflate.record(prepared.len(), compressed);
                return Some(out);
            }
        }
        Some(prepared.plain(fragment_size))
    }

    /// Sends `prepared` under the send-queue policy, waiting as
    /// [`send`](Self::send) does.
    pub(crate) async fn send_prepared(&self, prepared: &Prepared) -> Result<(), Error> {
        if let Some(out) = self.prepared_frames(prepared) {
            return self.send(out, false).await;
        }
        #[cfg(feature = "deflate")]
        if let Some(deflate) = &self.deflate
            && deflate.wants(prepared.len(), None)
        {
            let (kind, payload) = (prepared.kind(), prepared.payload());
            return match &deflate.codec {
                crate::deflate::SendCodec::Own(_) => {
                    self.send_own_compressed(deflate, kind, payload).await
                }
                crate::deflate::SendCodec::Pool(_) => {
                    self.send_compressed(deflate, kind, payload.to_vec()).await
                }
            };
        }
        // A client masks every frame with its own key: a copy per send.
        let out = self.data_frames(prepared.kind(), prepared.payload().to_vec());
        self.send(out, false).await
    }
}
