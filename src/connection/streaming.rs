//! Streaming sends: a message read from an async reader, sent in fragments
//! without holding it whole in memory.

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::io::{AsyncRead, AsyncReadExt};

use super::handle::Connection;
use super::shared::{Frames, Outgoing, Shared};
use crate::error::Error;
use crate::protocol::{CloseCode, DataKind, OpCode};
use crate::runtime::Runtime;

/// Marks the connection as streaming; other data messages wait until the
/// guard is dropped.
struct StreamGuard<'a>(&'a Shared);

impl Drop for StreamGuard<'_> {
    fn drop(&mut self) {
        self.0.lock_queue().end_stream();
        self.0.space.notify();
        self.0.writer_wake.wake();
    }
}

impl Shared {
    async fn begin_stream(&self) -> Result<StreamGuard<'_>, Error> {
        loop {
            let listener = self.space.listen();
            {
                let mut queue = self.lock_queue();
                if !queue.life.accepts_frames() {
                    return Err(Error::Closed);
                }
                if !queue.streaming {
                    queue.streaming = true;
                    return Ok(StreamGuard(self));
                }
            }
            listener.await;
        }
    }
}

/// Reads until `buf` is full or the reader ends; returns the bytes read.
async fn fill<R: AsyncRead + Unpin>(reader: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]).await? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

impl<S> Connection<S> {
    /// Sends one message whose payload is read from `reader`, in frames of
    /// [`Config::stream_chunk_size`](crate::Config::stream_chunk_size) bytes,
    /// so it is never held whole in memory. Each frame waits for queue space
    /// under the connection's policy; other data messages wait until this
    /// one is complete (control frames still pass). Returns the payload
    /// length.
    ///
    /// If reading fails mid-message, the message cannot be completed: the
    /// connection is closed with 1011 and the error returned.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use wsgate::DataKind;
    ///
    /// # async fn f(conn: wsgate::Connection) -> Result<(), wsgate::Error> {
    /// let log: &[u8] = b"line 1\nline 2\n"; // any futures::io::AsyncRead
    /// let bytes = conn.send_stream(DataKind::Text, log).await?;
    /// assert_eq!(bytes, 14);
    /// # Ok(()) }
    /// ```
    pub async fn send_stream<R: AsyncRead + Unpin>(
        &self,
        kind: DataKind,
        mut reader: R,
    ) -> Result<u64, Error> {
        let shared = self.shared();
        let _guard = shared.begin_stream().await?;
        let chunk = shared.config.stream_chunk_size.max(1);
        let mut current = vec![0u8; chunk];
        let mut next = vec![0u8; chunk];
        let mut len = self.read_or_fail(&mut reader, &mut current).await?;
        let mut opcode = match kind {
            DataKind::Text => OpCode::Text,
            DataKind::Binary => OpCode::Binary,
        };
        let mut total = 0u64;
        loop {
            // Read one chunk ahead to know whether this frame is the last.
            let next_len = if len == chunk {
                self.read_or_fail(&mut reader, &mut next).await?
            } else {
                0
            };
            let fin = next_len == 0;
            let payload = current[..len].to_vec();
            total += len as u64;
            let out = Outgoing {
                frames: Frames::One(shared.frame(opcode, fin, payload)),
                messages: u64::from(fin),
            };
            shared.send(out, true).await?;
            if fin {
                return Ok(total);
            }
            opcode = OpCode::Continuation;
            std::mem::swap(&mut current, &mut next);
            len = next_len;
        }
    }

    /// Sends a file as one binary message, streamed from disk (see
    /// [`send_stream`](Self::send_stream)). Returns its length. The file is
    /// opened and read on the runtime's blocking pool, one chunk ahead.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(conn: wsgate::Connection) -> Result<(), wsgate::Error> {
    /// conn.send_file("photo.jpg").await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_file(&self, path: impl AsRef<Path>) -> Result<u64, Error> {
        let runtime = self.shared().runtime.clone();
        let path = path.as_ref().to_owned();
        let file = runtime.unblock(move || std::fs::File::open(path)).await?;
        self.send_stream(DataKind::Binary, FileReader::new(file, runtime))
            .await
    }

    async fn read_or_fail<R: AsyncRead + Unpin>(
        &self,
        reader: &mut R,
        buf: &mut [u8],
    ) -> Result<usize, Error> {
        fill(reader, buf).await.map_err(|e| {
            // The sender gets the error; the event stream a copy, before
            // the close.
            let copy = std::io::Error::new(e.kind(), e.to_string());
            self.shared().fail_for(
                CloseCode::INTERNAL_ERROR,
                "message source failed",
                Error::Io(copy),
            );
            Error::Io(e)
        })
    }
}

/// A file read on the runtime's blocking pool, as an `AsyncRead`: each
/// read is one `read` system call on a pool thread, into a buffer that
/// travels there and back with the file.
struct FileReader {
    runtime: Runtime,
    state: FileState,
}

type FileRead = Pin<Box<dyn Future<Output = (std::fs::File, Vec<u8>, io::Result<usize>)> + Send>>;

enum FileState {
    Idle(Option<(std::fs::File, Vec<u8>)>),
    Reading(FileRead),
}

impl FileReader {
    fn new(file: std::fs::File, runtime: Runtime) -> FileReader {
        FileReader {
            runtime,
            state: FileState::Idle(Some((file, Vec::new()))),
        }
    }
}

impl AsyncRead for FileReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                FileState::Idle(idle) => {
                    let Some((mut file, mut buf)) = idle.take() else {
                        return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
                    };
                    let want = out.len();
                    let runtime = this.runtime.clone();
                    this.state = FileState::Reading(Box::pin(async move {
                        runtime
                            .unblock(move || {
                                buf.resize(want, 0);
                                let result = io::Read::read(&mut file, &mut buf);
                                (file, buf, result)
                            })
                            .await
                    }));
                }
                FileState::Reading(reading) => {
                    let (file, buf, result) = futures::ready!(reading.as_mut().poll(cx));
                    let n = result.as_ref().map_or(0, |n| (*n).min(out.len()));
                    out[..n].copy_from_slice(&buf[..n]);
                    this.state = FileState::Idle(Some((file, buf)));
                    return Poll::Ready(result.map(|_| n));
                }
            }
        }
    }
}
