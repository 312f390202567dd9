//! The task that holds a request's socket while the application decides.
//!
//! It keeps reading (so a disconnect is noticed and pipelined bytes are
//! kept, up to a bound), enforces the decision deadline, and writes the
//! response the decision calls for: the 101 on accept (then hands the socket
//! over), the error on reject, 503 when the request is dropped undecided or
//! the deadline passes.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures::channel::oneshot;
use futures::{Future, FutureExt};

use super::decision::{Decision, PendingState};
use super::home::{RequestHome, ServerHooks};
use super::request::{Peer, WebSocketRequest};
use super::request_url::RequestUrl;
use super::respond::{respond, write_all};
use crate::error::AcceptError;
use crate::handshake::{UpgradeRequest, reject_response};
use crate::runtime::Runtime;
use crate::transport::BoxTransport;

enum Outcome {
    Decided(Decision),
    Dropped,
    Expired,
    ShuttingDown,
}

/// Makes the request for a valid upgrade, and the future that holds its
/// socket until the decision, then gives the request's admission slot back
/// to its server (an accepted request's slot passes to its connection). The
/// server awaits it in the handshake task; a mounted request spawns it.
pub(super) fn pending_request(
    io: BoxTransport,
    pipelined: Vec<u8>,
    head: Vec<u8>,
    upgrade: UpgradeRequest,
    url: RequestUrl,
    peer: Peer,
    home: RequestHome,
) -> (WebSocketRequest, impl Future<Output = ()> + Send + 'static) {
    let state = Arc::new(PendingState::default());
    let (decide, decisions) = oneshot::channel();
    let config = home.config.clone();
    let server = home.server.clone();
    let runtime = home.runtime.clone();
    let request = WebSocketRequest::new(upgrade, head, url, peer, decide, state.clone(), home);
    let holding = async move {
        let accepted = hold(
            &runtime,
            io,
            pipelined,
            decisions,
            &state,
            server.as_deref(),
            config.decision_timeout,
            config.handshake_timeout,
            config.read_buffer_size.max(64 << 10),
        )
        .await;
        if let Some(server) = server {
            server.pending_ended(accepted);
        }
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
    server: Option<&dyn ServerHooks>,
    deadline: Duration,
    write_timeout: Duration,
    max_pipelined: usize,
) -> bool {
    let rejected = |status: u16| {
        if let Some(server) = server {
            server.rejected(status);
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
    let expires = runtime.now() + deadline;
    let mut timer: Option<crate::runtime::Timer> = None;
    let mut yields = DECISION_YIELDS;
    // A server shutting down answers undecided requests with 503.
    let mut shutdown = server.map(|server| server.shutdown_started());
    let shutting_down = || server.is_some_and(|server| server.shutting_down());
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
