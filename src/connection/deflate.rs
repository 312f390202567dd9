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
//!
//! # Sharing the thread
//!
//! Compressing is CPU work in the sending task: a connection's own
//! compressor takes a large message [`COMPRESS_CHUNK`] bytes at a time and
//! yields to the executor in between; a pooled compressor, which cannot be
//! held across an await, compresses a large message on the runtime's
//! blocking pool. Either way other connections keep being served while one
//! sends 64 MiB compressed messages.

use std::future::poll_fn;
use std::sync::atomic::Ordering;
use std::task::Poll;

use super::prepared::{Delivery, Prepared};
use super::shared::{Admission, Outgoing, Shared};
use crate::deflate::{DeflateState, SendCodec};
use crate::error::Error;
use crate::protocol::{CompressorPool, DataKind, compressor_memory};

use super::prepared::RSV1;
use crate::runtime::Runtime;

/// The most bytes compressed between two turns of the executor: about a
/// millisecond of deflate at level 6 on JSON.
const COMPRESS_CHUNK: usize = 64 << 10;

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
                let (payload, compressed) = if payload.len() > COMPRESS_CHUNK {
                    // A pooled compressor cannot be held across an await:
                    // a large message is compressed on the blocking pool.
                    let (pool, bits) = (pool.clone(), deflate.send_window_bits());
                    self.runtime
                        .unblock(move || {
                            let compressed = pool_compress(&pool, bits, &payload);
                            (payload, compressed)
                        })
                        .await
                } else {
                    let compressed = pool_compress(pool, deflate.send_window_bits(), &payload);
                    (payload, compressed)
                };
                let out = match compressed {
                    Some(compressed) => {
                        deflate.record(payload.len(), compressed.len());
                        self.compressed_frames(kind, compressed)
                    }
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
        own.last_used = Some(self.runtime.now());
        // A large message goes through the compressor a chunk at a time,
        // letting other tasks run in between (one 64 MiB message would
        // otherwise hold this thread for seconds). Chunks are not flushed:
        // the output is the same as in one call. Cancelled in between, the
        // compressor is dirty and the next send resets it.
        let mut chunks = payload.chunks(COMPRESS_CHUNK).peekable();
        while let Some(chunk) = chunks.next() {
            compressor.compress_chunk(chunk, &mut compressed);
            if chunks.peek().is_some() {
                Runtime::yield_now().await;
            }
        }
        compressor.finish_message(&mut compressed);
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
            self.write_through(cx, super::write::THROUGH);
            Poll::Ready(())
        })
        .await;
        Ok(())
    }

    /// Delivers a broadcast or published message to a connection with its
    /// own compressor, without waiting (see [`deliver`](Self::deliver)):
    /// compressed when the compressor is free and the queue has room.
    /// `None`: the caller delivers it uncompressed (no compressor of its
    /// own, a message not worth compressing, the compressor busy with
    /// another send, or no room, where the policy then applies).
    pub(crate) fn deliver_own_compressed(&self, prepared: &Prepared) -> Option<Delivery> {
        let deflate = self.deflate.as_ref()?;
        let SendCodec::Own(own) = &deflate.codec else {
            return None;
        };
        if !deflate.wants(prepared.len(), None) {
            return None;
        }
        let mut own = own.try_lock()?;
        let own = &mut *own;
        let compressor = own.compressor.as_mut()?;
        if !matches!(
            self.admit(&mut self.lock_queue(), false),
            Ok(Admission::Admitted)
        ) {
            return None;
        }
        if own.dirty {
            compressor.reset();
        }
        // Dirty until the frames are queued: a message compressed and then
        // not queued (the queue filled meanwhile) leaves a context the
        // peer never saw, so the next compressed send resets it.
        own.dirty = true;
        own.last_used = Some(self.runtime.now());
        let mut compressed = Vec::new();
        compressor.compress(prepared.payload(), &mut compressed);
        deflate.record(prepared.len(), compressed.len());
        let out = self.compressed_frames(prepared.kind(), compressed);
        Some(self.deliver_frames(out, |_| own.dirty = false))
    }

    /// At a keepalive ping, ours or the peer's: a compressor of the
    /// connection's own that compressed nothing for
    /// [`DeflateConfig::compressor_idle`](crate::handshake::DeflateConfig::compressor_idle)
    /// gives its state back, nearly all its memory; the next compressed message
    /// makes a fresh one (a fresh context is always valid for the peer, see
    /// the module's "Order"). A compressor in use right now is left alone;
    /// one left mid-message by a cancelled send is reset first (the peer
    /// never saw that message). Pings only prompt the check: however often
    /// a peer pings, a compressor is given back once per idle spell.
    pub(crate) fn release_idle_compressor(&self) {
        let Some(deflate) = &self.deflate else {
            return;
        };
        let SendCodec::Own(own) = &deflate.codec else {
            return;
        };
        let Some(mut own) = own.try_lock() else {
            return;
        };
        let idle = self.config.deflate.compressor_idle;
        let now = self.runtime.now();
        if own
            .last_used
            .is_some_and(|used| now.saturating_duration_since(used) < idle)
        {
            return;
        }
        let dirty = std::mem::take(&mut own.dirty);
        if let Some(compressor) = own.compressor.as_mut() {
            if dirty {
                compressor.reset();
            }
            if compressor.release() {
                log::trace!("{}: idle, its compressor given back", self.id);
            }
        }
    }

    /// What the codecs hold now ([`ConnectionStats::deflate_memory`](crate::ConnectionStats::deflate_memory)).
    pub(crate) fn deflate_memory(&self) -> usize {
        let Some(deflate) = &self.deflate else {
            return 0;
        };
        let compressor = match &deflate.codec {
            SendCodec::Own(own) => match own.try_lock() {
                Some(own) => own
                    .compressor
                    .as_ref()
                    .filter(|c| c.is_allocated())
                    .map_or(0, |c| c.memory()),
                // Compressing right now.
                None => compressor_memory(deflate.send_window_bits()),
            },
            SendCodec::Pool(_) => 0,
        };
        let decompressor = self
            .reader
            .lock()
            .receiver
            .decompressor()
            .filter(|d| d.is_allocated())
            .map_or(0, |d| d.memory());
        compressor + decompressor
    }

    /// Waits until the send queue is open, under its high-water mark and
    /// not behind a streamed message, applying the send-queue policy as
    /// [`send`](Self::send) does.
    async fn wait_for_room(&self) -> Result<(), Error> {
        loop {
            match self.admit(&mut self.lock_queue(), false)? {
                Admission::Admitted => return Ok(()),
                Admission::Full => self.send_queue_full()?,
                Admission::Busy => {}
            }
            // Listen, then look once more: space freed in between is not
            // missed, and the fast path above allocates no listener.
            let listener = self.space.listen();
            if let Admission::Admitted = self.admit(&mut self.lock_queue(), false)? {
                return Ok(());
            }
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
fn pool_compress(pool: &CompressorPool, window_bits: u8, payload: &[u8]) -> Option<Vec<u8>> {
    let mut compressed = Vec::new();
    pool.try_acquire(window_bits)?
        .compress(payload, &mut compressed);
    (compressed.len() < payload.len()).then_some(compressed)
}
