//! The task that holds a request's socket while the application decides.
//!
//! It keeps reading (so a disconnect is noticed and pipelined bytes are
//! kept, up to a bound), enforces the decision deadline, and writes the
//! response the decision calls for: the 101 on accept (then hands the socket
//! over), the error on reject, 503 when the request is dropped undecided or
//! the deadline passes.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use event_listener::Event as Notify;
use futures::channel::oneshot;
use futures::io::{AsyncReadExt, AsyncWriteExt};
use futures::{Future, FutureExt};

use crate::error::AcceptError;
use std::sync::Arc;

use crate::handshake::{UpgradeRequest, error_response};
use crate::request::{Home, Peer, WebSocketRequest};
use crate::request_url::RequestUrl;
use crate::runtime::Runtime;
use crate::server::ServerCore;
use crate::transport::BoxTransport;

/// What the application decided.
pub(crate) enum Decision {
    /// Write `response` (a 101) and hand the socket back through `reply`.
    Accept {
        response: Vec<u8>,
        reply: oneshot::Sender<Result<(BoxTransport, Vec<u8>), AcceptError>>,
    },
    /// Write `response` (an error with this status) and close.
    Reject { status: u16, response: Vec<u8> },
}

/// Flags shared by a request and its pending task.
#[derive(Default)]
pub(crate) struct PendingState {
    pub(crate) disconnected: AtomicBool,
    pub(crate) expired: AtomicBool,
    pub(crate) changed: Notify,
}

impl PendingState {
    pub(crate) fn set(&self, flag: &AtomicBool) {
        flag.store(true, Ordering::Release);
        self.changed.notify(usize::MAX);
    }
}

enum Outcome {
    Decided(Decision),
    Dropped,
    Expired,
    ShuttingDown,
}

/// Makes the request for a valid upgrade, and the future that holds its
/// socket until the decision (resolving to whether it was accepted). The
/// server awaits it in the handshake task; a mounted request spawns it.
pub(crate) fn pending_request(
    io: BoxTransport,
    pipelined: Vec<u8>,
    upgrade: UpgradeRequest,
    url: RequestUrl,
    peer: Peer,
    home: Home,
) -> (
    WebSocketRequest,
    impl Future<Output = bool> + Send + 'static,
) {
    let state = Arc::new(PendingState::default());
    let (decide, decisions) = oneshot::channel();
    let config = home.config.clone();
    let core = home.core.clone();
    let runtime = home.runtime.clone();
    let request = WebSocketRequest::new(upgrade, url, peer, decide, state.clone(), home);
    let holding = async move {
        hold(
            &runtime,
            io,
            pipelined,
            decisions,
            &state,
            core.as_deref(),
            config.decision_timeout,
            config.handshake_timeout,
            config.read_buffer_size.max(64 << 10),
        )
        .await
    };
    (request, holding)
}

/// How many times a held request yields to the executor, waiting for a
/// quick decision, before it arms the decision deadline and starts reading.
const DECISION_YIELDS: u32 = 2;

/// Holds `io` until a decision arrives on `decisions`, then carries it out.
#[allow(clippy::too_many_arguments)]
async fn hold(
    runtime: &Runtime,
    mut io: BoxTransport,
    mut pipelined: Vec<u8>,
    decisions: oneshot::Receiver<Decision>,
    state: &PendingState,
    core: Option<&ServerCore>,
    deadline: Duration,
    write_timeout: Duration,
    max_pipelined: usize,
) -> bool {
    let rejected = |status: u16| {
        if let Some(core) = core {
            core.rejected(status);
        }
    };
    let mut decisions = decisions;
    // The first polls only look for a decision, and yield. The decision
    // deadline's timer and the reading of what the client sends meanwhile
    // start after DECISION_YIELDS rounds of the executor's queue: an
    // application that accepts as soon as it takes the request (`serve`:
    // the request loop's turn, then the handler's) has decided by then, and
    // the request costs no timer (registering one wakes the reactor with an
    // `eventfd` write) and no read that finds nothing.
    let expires = Instant::now() + deadline;
    let mut timer: Option<crate::runtime::Timer> = None;
    let mut yields = DECISION_YIELDS;
    // A server shutting down answers undecided requests with 503.
    let mut shutdown = core.map(|core| core.shutdown_started.listen());
    let shutting_down = || core.is_some_and(|core| core.shutting_down.load(Ordering::Acquire));
    let mut reading = true;
    let outcome = poll_fn(|cx| {
        if let Poll::Ready(decision) = decisions.poll_unpin(cx) {
            return Poll::Ready(decision.map_or(Outcome::Dropped, Outcome::Decided));
        }
        if yields > 0 {
            // Let the tasks already queued run first, and come back after
            // them: the request loop's, then the handler it spawns.
            yields -= 1;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let timer = timer.get_or_insert_with(|| runtime.timer_at(expires));
        if Pin::new(timer).poll(cx).is_ready() {
            return Poll::Ready(Outcome::Expired);
        }
        if shutting_down()
            || shutdown
                .as_mut()
                .is_some_and(|l| Pin::new(l).poll(cx).is_ready())
        {
            return Poll::Ready(Outcome::ShuttingDown);
        }
        // Read what the client sends meanwhile; stop at the bound so a
        // client cannot make the server buffer without limit.
        while reading && pipelined.len() < max_pipelined {
            let room = (4 << 10).min(max_pipelined - pipelined.len());
            match crate::scratch::poll_read_appending(&mut io, cx, &mut pipelined, room) {
                Poll::Ready(Ok(n)) if n > 0 => {}
                Poll::Ready(_) => {
                    reading = false;
                    state.set(&state.disconnected);
                }
                Poll::Pending => break,
            }
        }
        Poll::Pending
    })
    .await;
    match outcome {
        Outcome::Decided(Decision::Accept { response, reply }) => {
            if !reading {
                let _ = reply.send(Err(AcceptError::Disconnected));
                return false;
            }
            let written = write_all(&mut io, &response);
            let result = match runtime.timeout(write_timeout, written).await {
                Some(Ok(())) => Ok((io, pipelined)),
                Some(Err(e)) => Err(AcceptError::Io(e)),
                None => Err(AcceptError::Io(std::io::ErrorKind::TimedOut.into())),
            };
            let accepted = result.is_ok();
            return reply.send(result).is_ok() && accepted;
        }
        Outcome::ShuttingDown => {
            drop(decisions);
            state.set(&state.disconnected);
            rejected(503);
            if reading {
                respond(
                    runtime,
                    io,
                    &reject_response(503, "server shutting down"),
                    write_timeout,
                )
                .await;
            }
        }
        Outcome::Decided(Decision::Reject { status, response }) => {
            rejected(status);
            state.set(&state.disconnected);
            if reading {
                respond(runtime, io, &response, write_timeout).await;
            }
        }
        Outcome::Dropped => {
            rejected(503);
            log::warn!("a request was dropped without a decision: rejected with 503");
            if reading {
                let response = reject_response(503, "request dropped without a decision");
                respond(runtime, io, &response, write_timeout).await;
            }
        }
        Outcome::Expired => {
            // Refuse a late decision at once: the request's `accept` finds
            // the channel closed and the expired flag set.
            drop(decisions);
            state.set(&state.expired);
            state.set(&state.disconnected);
            rejected(503);
            log::warn!(
                "a request was left undecided past the decision deadline: rejected with 503"
            );
            if reading {
                let response = reject_response(503, "no decision in time");
                respond(runtime, io, &response, write_timeout).await;
            }
        }
    }
    false
}

/// An error response carrying its reason in `X-WebSocket-Reject-Reason`.
pub(crate) fn reject_response(status: u16, reason: &str) -> Vec<u8> {
    reject_response_with(status, reason, &[])
}

/// [`reject_response`] with more headers.
pub(crate) fn reject_response_with(status: u16, reason: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut all = vec![(
        "X-WebSocket-Reject-Reason".to_owned(),
        reason_header(reason),
    )];
    all.extend(
        headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
    );
    error_response(status, &all, reason)
}

/// A reason as an ASCII header value: bytes outside printable ASCII are
/// percent-encoded (UTF-8), so every client can read it; the body keeps the
/// reason as UTF-8 text.
pub(crate) fn reason_header(reason: &str) -> String {
    let mut out = String::with_capacity(reason.len());
    for byte in reason.bytes() {
        if (0x20..0x7f).contains(&byte) && byte != b'%' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

async fn write_all(io: &mut BoxTransport, bytes: &[u8]) -> std::io::Result<()> {
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
pub(crate) fn respond<'a>(
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

#[cfg(test)]
mod tests {
    use super::reason_header;

    #[test]
    fn reason_header_is_printable_ascii() {
        assert_eq!(reason_header("plain reason"), "plain reason");
        assert_eq!(reason_header("naïve 100%"), "na%C3%AFve 100%25");
        assert_eq!(reason_header("a\r\nb"), "a%0D%0Ab");
    }
}
