//! permessage-deflate's send side: compressing data messages and queueing
//! them in an order the peer can inflate.
//!
//! # Order
//!
//! With context takeover, each compressed message refers back to the ones
//! compressed before it, so the peer must receive compressed messages in
//! the order they went through the compressor. A connection is shared by
//! any number of tasks, and a send may wait for queue space, so "compress,
//! then queue" is not atomic by itself. A compressed send therefore holds
//! the connection's compressor (an async mutex, `SendCodec::Own`) from
//! before it compresses until its frames are in the send queue:
//!
//! 1. take the compressor (senders queue up here, first come first served);
//! 2. wait for room in the send queue under the connection's
//!    [`SendPolicy`] (a failure here costs nothing: nothing was compressed);
//! 3. compress;
//! 4. push the frames, past the high-water mark if other senders filled the
//!    queue meanwhile (by at most their messages, as for any send), waiting
//!    only behind a streamed message, which must not be interleaved;
//! 5. release the compressor.
//!
//! Queue order is wire order, so the peer inflates messages in compression
//! order. Uncompressed messages (small ones, pings) pass freely in between:
//! they do not touch the context. A send cancelled between 3 and 4 leaves
//! the compressor marked dirty and the next compressed send resets it: the
//! peer never saw the lost message, and a fresh context is always valid for
//! its decompressor (which merely keeps history nobody refers to).
//!
//! Connections without context takeover (a server over its memory budget)
//! borrow a compressor from the server's pool for the duration of one
//! synchronous `compress` call; each message is independent, so order does
//! not matter, and a busy pool means the message goes uncompressed.

use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;

use super::queue::{Body, OutFrame};
use super::shared::{Outgoing, Shared};
use crate::config::SendPolicy;
use crate::deflate::{DeflateState, SendCodec};
use crate::error::Error;
use crate::protocol::{CloseCode, CompressorPool, DataFrames, DataKind, MAX_HEADER_LEN, OpCode};

/// RSV1: the first frame of a compressed message (RFC 7692 §6).
const RSV1: u8 = 0x40;

impl Shared {
    /// Sends a data message compressed (as `deflate` allows), or as it is
    /// when a pooled compressor is not available or does not help.
    pub(crate) async fn send_compressed(
        &self,
        deflate: &DeflateState,
        kind: DataKind,
        payload: Vec<u8>,
    ) -> Result<(), Error> {
        match &deflate.codec {
            SendCodec::Own(_) => self.send_own_compressed(deflate, kind, &payload).await,
            SendCodec::Pool(pool) => {
                let out = match pool_compress(deflate, pool, &payload) {
                    Some(compressed) => self.compressed_frames(kind, compressed),
                    None => self.data_frames(kind, payload),
                };
                self.send(out, false).await
            }
        }
    }

    /// Compresses with the connection's own compressor and queues the
    /// message, in compression order (see the module documentation).
    pub(crate) async fn send_own_compressed(
        &self,
        deflate: &DeflateState,
        kind: DataKind,
        payload: &[u8],
    ) -> Result<(), Error> {
        let SendCodec::Own(own) = &deflate.codec else {
            unreachable!("called for a connection with its own compressor");
        };
        let mut own = own.lock().await;
        let own = &mut *own;
        let Some(compressor) = own.compressor.as_mut() else {
            return Err(Error::Closed);
        };
        if own.dirty {
            compressor.reset();
            own.dirty = false;
        }
        self.wait_for_room().await?;
        let mut compressed = Vec::new();
        own.dirty = true;
        compressor.compress(payload, &mut compressed);
        deflate.record(payload.len(), compressed.len());
        let mut frames = Some(self.compressed_frames(kind, compressed).frames);
        // Queued even over the high-water mark: room was checked before
        // compressing, and the compressor's context already holds it.
        loop {
            let listener = {
                let mut queue = self.lock_queue();
                if !queue.life.accepts_frames() {
                    return Err(Error::Closed);
                }
                if !queue.streaming {
                    if let Some(frames) = frames.take() {
                        self.enqueue(&mut queue, frames);
                    }
                    drop(queue);
                    own.dirty = false;
                    break;
                }
                // A streamed message is going out: ours may not cut into it.
                self.space.listen()
            };
            listener.await;
        }
        self.counters.messages_out.fetch_add(1, Ordering::Relaxed);
        poll_fn(|cx| {
            self.write_through(cx);
            Poll::Ready(())
        })
        .await;
        Ok(())
    }

    /// Waits until the send queue is open, under its high-water mark and
    /// not behind a streamed message, applying the send-queue policy as
    /// [`send`](Self::send) does.
    async fn wait_for_room(&self) -> Result<(), Error> {
        loop {
            let listener = {
                let mut queue = self.lock_queue();
                if !queue.life.accepts_frames() {
                    return Err(Error::Closed);
                }
                if !queue.streaming {
                    if queue.bytes < self.config.send_queue_high_water {
                        return Ok(());
                    }
                    queue.wants_drain = true;
                    match self.config.send_queue_policy {
                        SendPolicy::Wait => {}
                        SendPolicy::Fail => return Err(Error::QueueFull),
                        SendPolicy::Close => {
                            drop(queue);
                            self.queue_close(CloseCode::POLICY_VIOLATION, "send queue full", true);
                            return Err(Error::QueueFull);
                        }
                    }
                }
                // Registered under the queue lock: space freed after this
                // point wakes us.
                self.space.listen()
            };
            listener.await;
        }
    }

    /// The frames of a compressed message: RSV1 on the first, masked when
    /// this end is a client.
    fn compressed_frames(&self, kind: DataKind, payload: Vec<u8>) -> Outgoing {
        Outgoing {
            frames: self.split_frames(kind, RSV1, payload),
            messages: 1,
        }
    }
}

/// Compresses `payload` with a compressor from the pool; `None` when every
/// one is busy, or when compressing does not make it smaller (no context is
/// kept, so the message may as well go as it is).
fn pool_compress(deflate: &DeflateState, pool: &CompressorPool, payload: &[u8]) -> Option<Vec<u8>> {
    let mut compressed = Vec::new();
    pool.try_acquire(deflate.send_window_bits())?
        .compress(payload, &mut compressed);
    if compressed.len() >= payload.len() {
        return None;
    }
    deflate.record(payload.len(), compressed.len());
    Some(compressed)
}

/// One broadcast payload compressed once per window size and shared by every
/// connection compressing from the pool: without context takeover the
/// compressed bytes depend only on the payload, the window and the level,
/// so one copy serves them all (server frames are not masked).
pub(crate) struct BroadcastCompressed<'a> {
    kind: DataKind,
    payload: &'a [u8],
    fragment_size: usize,
    /// Per window bits: the encoded frames, or `None` when compression was
    /// not possible or did not help.
    by_bits: Vec<(u8, Option<EncodedFrames>)>,
}

type EncodedFrames = (
    Vec<([u8; MAX_HEADER_LEN], usize, OpCode, std::ops::Range<usize>)>,
    Arc<Vec<u8>>,
);

impl<'a> BroadcastCompressed<'a> {
    pub(crate) fn new(kind: DataKind, payload: &'a [u8], fragment_size: usize) -> Self {
        BroadcastCompressed {
            kind,
            payload,
            fragment_size,
            by_bits: Vec::new(),
        }
    }

    /// The compressed frames for a pooled connection, or `None` to send it
    /// the uncompressed ones.
    pub(crate) fn frames(&mut self, deflate: &DeflateState) -> Option<Outgoing> {
        let SendCodec::Pool(pool) = &deflate.codec else {
            return None;
        };
        let bits = deflate.send_window_bits();
        let at = match self.by_bits.iter().position(|(b, _)| *b == bits) {
            Some(at) => at,
            None => {
                let encoded = self.encode(pool, bits);
                self.by_bits.push((bits, encoded));
                self.by_bits.len() - 1
            }
        };
        let (frames, compressed) = self.by_bits[at].1.as_ref()?;
        deflate.record(self.payload.len(), compressed.len());
        let frames = frames
            .iter()
            .map(|(head, len, opcode, range)| {
                OutFrame::from_encoded(
                    *head,
                    *len,
                    *opcode,
                    Body::Shared(compressed.clone(), range.clone()),
                )
            })
            .collect();
        Some(Outgoing {
            frames,
            messages: 1,
        })
    }

    fn encode(&self, pool: &CompressorPool, bits: u8) -> Option<EncodedFrames> {
        let mut compressed = Vec::new();
        pool.try_acquire(bits)?
            .compress(self.payload, &mut compressed);
        if compressed.len() >= self.payload.len() {
            return None;
        }
        let frames = DataFrames::new(self.kind, RSV1, compressed.len(), self.fragment_size)
            .map(|(header, range)| {
                let mut head = [0u8; MAX_HEADER_LEN];
                let len = header.encode(&mut head);
                (head, len, header.opcode, range)
            })
            .collect();
        Some((frames, Arc::new(compressed)))
    }
}
