//! Writing a handshake's final response to its transport, then closing it.
//! The bytes come from the sans-IO builders in [`crate::handshake`].

use std::future::Future;
use std::time::Duration;

use futures::io::{AsyncReadExt, AsyncWriteExt};

use crate::runtime::Runtime;
use crate::transport::BoxTransport;

/// Writes `bytes` and flushes.
pub(super) async fn write_all(io: &mut BoxTransport, bytes: &[u8]) -> std::io::Result<()> {
    io.write_all(bytes).await?;
    io.flush().await
}

/// How long a final response lingers, reading what the client still sends.
const LINGER: Duration = Duration::from_secs(1);

/// Writes a final response, then closes the socket gracefully: shut down
/// the write side and read until the client closes (briefly and bounded), so
/// that unread request bytes do not turn the close into a reset that could
/// destroy the response before the client reads it.
///
/// Boxed: final responses are the uncommon path, and a handshake task that
/// awaits one would otherwise carry this future's buffers in its own state.
pub(super) fn respond<'a>(
    runtime: &Runtime,
    io: BoxTransport,
    response: &'a [u8],
    limit: Duration,
) -> impl Future<Output = ()> + Send + 'a {
    Box::pin(respond_unboxed(runtime.clone(), io, response, limit))
}

async fn respond_unboxed(runtime: Runtime, mut io: BoxTransport, response: &[u8], limit: Duration) {
    let written = async {
        write_all(&mut io, response).await?;
        io.close().await
    };
    if !matches!(runtime.timeout(limit, written).await, Some(Ok(()))) {
        return;
    }
    let drain = async {
        let mut sink = [0u8; 1024];
        let mut drained = 0usize;
        while drained < 64 << 10 {
            match io.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    };
    let _ = runtime.timeout(LINGER.min(limit), drain).await;
}
