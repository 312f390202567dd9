//! Mounting on hyper 1.x, and so on axum (feature `hyper`): an upgrade
//! request that hyper has read becomes a [`WebSocketRequest`] of a
//! [`ServerHandle`]'s server, and the decision is answered through hyper's
//! upgrade.
//!
//! The request goes through the same parser and checks as one read from a
//! socket (its head is written out again and parsed): the same statuses
//! for the same mistakes, the same limits, the same registry, broadcast,
//! metrics and permessage-deflate budget.

use std::future::{Future, poll_fn};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};

use futures::FutureExt;
use futures::channel::oneshot;
use futures::io::{AsyncRead, AsyncWrite};

use super::core::Inner;
use super::decision::{Decision, PendingState};
use super::handle::ServerHandle;
use super::handshake::{HeadError, parse};
use super::home::RequestHome;
use super::registry::ServerCore;
use super::request::{Peer, WebSocketRequest};
use super::request_url::RequestUrl;
use crate::error::AcceptError;
use crate::handshake::{
    self, Classified, HandshakeError, Limits, reject_response, reject_response_with,
};
use crate::transport::BoxTransport;

impl ServerHandle {
    /// Takes a WebSocket upgrade request that hyper (or axum) has read,
    /// runs `handler` with it as a [`WebSocketRequest`] on a task of its
    /// own, and resolves to the response hyper must send once `handler`
    /// has decided: `101 Switching Protocols` on
    /// [`accept`](WebSocketRequest::accept) (the connection then runs over
    /// hyper's upgraded stream), the error on
    /// [`reject`](WebSocketRequest::reject), 503 when the request is
    /// dropped undecided or the decision deadline passes. An invalid
    /// handshake resolves at once to its error status, and `handler` is
    /// not called.
    ///
    /// `peer_addr` is the client's address (axum's `ConnectInfo`); the
    /// request's local address is `0.0.0.0:0`, which hyper does not pass
    /// on. `secure` says whether the connection hyper read it from is TLS
    /// (it makes [`is_secure`](WebSocketRequest::is_secure), the `wss://`
    /// URL and [`is_same_origin`](WebSocketRequest::is_same_origin)); it is
    /// never taken from the request itself, which the client wrote.
    ///
    /// The connection counts in this server's registry, broadcast,
    /// metrics, limits and shutdown, and its tasks run on the server's
    /// [`Runtime`](crate::runtime::Runtime) (build the server inside the
    /// tokio runtime hyper runs on). A server made only for mounting needs
    /// no listener: [`ServerBuilder::build`](crate::ServerBuilder::build).
    ///
    /// hyper must serve the connection with upgrades on: axum does; with
    /// hyper itself, `http1::Builder::serve_connection(..).with_upgrades()`
    /// (or hyper-util's `serve_connection_with_upgrades`). Behind axum's
    /// `Router::nest`, the request's path has lost the nesting prefix, and
    /// so has [`resource`](WebSocketRequest::resource).
    ///
    /// Only HTTP/1.1 upgrades are WebSocket handshakes here; a request over
    /// HTTP/2 gets 426 (RFC 8441's extended CONNECT is not supported).
    ///
    /// # Examples
    ///
    /// An axum route (see `examples/axum.rs` for a whole app):
    ///
    /// ```no_run
    /// # #[cfg(all(feature = "hyper", not(feature = "async-std"), not(feature = "smol")))]
    /// # mod route {
    /// use std::net::SocketAddr;
    /// use axum::extract::{ConnectInfo, Request, State};
    /// use wsgate::{Event, ServerHandle};
    /// use futures::StreamExt;
    ///
    /// async fn websocket(
    ///     State(ws): State<ServerHandle>,
    ///     ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ///     request: Request,
    /// ) -> http::Response<String> {
    ///     ws.upgrade_hyper(request, peer, false, |request| async move {
    ///         let Ok(conn) = request.accept(None, None).await else { return };
    ///         let mut events = conn.events();
    ///         while let Some(Event::Message(m)) = events.next().await {
    ///             let _ = conn.send(m).await;
    ///         }
    ///     })
    ///     .await
    /// }
    /// # }
    /// ```
    pub fn upgrade_hyper<B, F, Fut>(
        &self,
        mut request: http::Request<B>,
        peer_addr: SocketAddr,
        secure: bool,
        handler: F,
    ) -> impl Future<Output = http::Response<String>> + Send + 'static + use<B, F, Fut>
    where
        F: FnOnce(WebSocketRequest) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let inner = self.inner.clone();
        let prepared = prepare(&inner, &mut request, peer_addr, secure);
        async move {
            let (ws_request, pending) = match prepared {
                Ok(prepared) => prepared,
                Err(response) => return *response,
            };
            inner.runtime.spawn_detached(handler(ws_request));
            pending.decide(&inner).await
        }
    }
}

/// A request handed to the application, waiting for its decision.
struct Pending {
    decisions: oneshot::Receiver<Decision>,
    admission: Admission,
    upgrade: hyper::upgrade::OnUpgrade,
}

/// The request's place among the server's pending handshakes
/// (`max_connections`, the metrics), given back exactly once: when the
/// decision has been carried out, or when hyper drops the route's future
/// first (the client went away).
struct Admission {
    core: Arc<ServerCore>,
    state: Arc<PendingState>,
    ended: bool,
}

impl Admission {
    /// The request is over; `accepted` keeps its slot for the connection.
    fn end(mut self, accepted: bool) {
        self.ended = true;
        if !accepted {
            self.state.set(&self.state.disconnected);
        }
        self.core.pending_ended(accepted);
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if !self.ended {
            self.state.set(&self.state.disconnected);
            self.core.handshake_failed();
            self.core.pending_ended(false);
        }
    }
}

/// Checks the request as the server's own handshake does, and makes the
/// [`WebSocketRequest`]; an invalid one becomes its error response.
fn prepare<B>(
    inner: &Arc<Inner>,
    request: &mut http::Request<B>,
    peer_addr: SocketAddr,
    secure: bool,
) -> Result<(WebSocketRequest, Pending), Box<http::Response<String>>> {
    let config = &inner.config;
    let core = &inner.core;
    let refuse = |status: u16, response: &[u8]| {
        core.rejected(status);
        Box::new(to_http(response))
    };
    let version = match request.version() {
        http::Version::HTTP_11 => "HTTP/1.1",
        http::Version::HTTP_10 => "HTTP/1.0",
        _ => {
            let reason = "WebSocket upgrades need HTTP/1.1";
            return Err(refuse(426, &reject_response(426, reason)));
        }
    };
    let limits = Limits {
        max_size: config.max_handshake_size,
        max_headers: config.max_handshake_headers,
    };
    let head = request_head(request, version);
    if head.len() > limits.max_size {
        let error = handshake::too_large(&head, &limits);
        return Err(refuse(error.status(), &error.to_response()));
    }
    let end = head.len();
    let (raw, head) = match parse(head, end, &limits) {
        Ok((raw, head, _)) => (raw, head),
        Err(HeadError::Invalid(e)) => return Err(refuse(e.status(), &e.to_response())),
        Err(HeadError::Closed) => {
            let e = HandshakeError::Malformed;
            return Err(refuse(e.status(), &e.to_response()));
        }
    };
    let upgrade = match handshake::classify(raw) {
        Ok(Classified::Upgrade(upgrade)) => upgrade,
        Ok(Classified::Plain(_)) => {
            let response = reject_response_with(
                426,
                "not a WebSocket upgrade request",
                &[("Upgrade", "websocket")],
            );
            return Err(refuse(426, &response));
        }
        Err(e) => return Err(refuse(e.status(), &e.to_response())),
    };
    if core.shutting_down.load(Ordering::Acquire) {
        return Err(refuse(503, &reject_response(503, "server shutting down")));
    }
    let scheme = if secure { "wss" } else { "ws" };
    let Some(url) = RequestUrl::new(scheme, &upgrade.host, &upgrade.resource) else {
        let response = reject_response(400, "invalid Host or request target");
        return Err(refuse(400, &response));
    };
    if !core.try_admit(config.max_connections) {
        let response = reject_response_with(503, "too many connections", &[("Retry-After", "5")]);
        return Err(refuse(503, &response));
    }
    let peer = Peer {
        peer_addr,
        local_addr: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        secure,
        peer_certificates: Vec::new(),
    };
    let state = Arc::new(PendingState::default());
    let (decide, decisions) = oneshot::channel();
    let ws_request = WebSocketRequest::new(
        upgrade,
        head,
        url,
        peer,
        decide,
        state.clone(),
        RequestHome {
            config: config.clone(),
            runtime: inner.runtime.clone(),
            server: Some(core.clone()),
        },
    );
    let pending = Pending {
        decisions,
        admission: Admission {
            core: core.clone(),
            state,
            ended: false,
        },
        upgrade: hyper::upgrade::on(request),
    };
    Ok((ws_request, pending))
}

/// The request's head as it came over the wire, for the handshake parser.
fn request_head<B>(request: &http::Request<B>, version: &str) -> Vec<u8> {
    let mut head = Vec::with_capacity(512);
    head.extend_from_slice(request.method().as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(request.uri().to_string().as_bytes());
    head.push(b' ');
    head.extend_from_slice(version.as_bytes());
    head.extend_from_slice(b"\r\n");
    for (name, value) in request.headers() {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head
}

enum Outcome {
    Decided(Decision),
    Dropped,
    Expired,
    ShuttingDown,
}

impl Pending {
    /// Waits for the decision (within the decision deadline, and until a
    /// shutdown starts) and turns it into hyper's response; on accept, a
    /// task hands hyper's upgraded stream to the connection.
    async fn decide(self, inner: &Arc<Inner>) -> http::Response<String> {
        let Pending {
            mut decisions,
            admission,
            upgrade,
        } = self;
        let core = inner.core.clone();
        let mut timer = inner
            .runtime
            .timer_at(inner.runtime.now() + inner.config.decision_timeout);
        let mut shutdown = core.shutdown_started.listen();
        let outcome = poll_fn(|cx| {
            if let Poll::Ready(decision) = decisions.poll_unpin(cx) {
                return Poll::Ready(decision.map_or(Outcome::Dropped, Outcome::Decided));
            }
            if Pin::new(&mut timer).poll(cx).is_ready() {
                return Poll::Ready(Outcome::Expired);
            }
            if core.shutting_down.load(Ordering::Acquire)
                || Pin::new(&mut shutdown).poll(cx).is_ready()
            {
                return Poll::Ready(Outcome::ShuttingDown);
            }
            Poll::Pending
        })
        .await;
        let (status, response) = match outcome {
            Outcome::Decided(Decision::Accept { response, reply }) => {
                let runtime = inner.runtime.clone();
                let limit = inner.config.handshake_timeout;
                inner.runtime.spawn_detached(async move {
                    let result = match runtime.timeout(limit, upgrade).await {
                        Some(Ok(upgraded)) => {
                            Ok((Box::new(Upgraded(upgraded)) as BoxTransport, Vec::new()))
                        }
                        Some(Err(e)) => Err(AcceptError::Io(io::Error::other(e))),
                        None => Err(AcceptError::Io(io::ErrorKind::TimedOut.into())),
                    };
                    let accepted = result.is_ok();
                    admission.end(reply.send(result).is_ok() && accepted);
                });
                return to_http(&response);
            }
            Outcome::Decided(Decision::Reject { status, response }) => (status, response),
            Outcome::Dropped => {
                log::warn!("a request was dropped without a decision: rejected with 503");
                (
                    503,
                    reject_response(503, "request dropped without a decision"),
                )
            }
            Outcome::Expired => {
                admission.state.set(&admission.state.expired);
                log::warn!(
                    "a request was left undecided past the decision deadline: rejected with 503"
                );
                (503, reject_response(503, "no decision in time"))
            }
            Outcome::ShuttingDown => (503, reject_response(503, "server shutting down")),
        };
        // Refuse a late decision: `accept` finds the channel closed.
        drop(decisions);
        core.rejected(status);
        admission.end(false);
        to_http(&response)
    }
}

/// One of wsgate's own responses (a 101 or an error) as hyper's: status,
/// headers and body. hyper writes the `Content-Length`, and decides about
/// the connection: an error response's `Connection: close` is left out, so
/// a rejection does not end hyper's keep-alive connection (the 101 keeps
/// its `Connection: Upgrade`).
fn to_http(bytes: &[u8]) -> http::Response<String> {
    let lines = bytes.windows(2).filter(|w| w == b"\r\n").count();
    let mut headers = vec![httparse::EMPTY_HEADER; lines];
    let mut parsed = httparse::Response::new(&mut headers);
    let Ok(httparse::Status::Complete(len)) = parsed.parse(bytes) else {
        let mut response = http::Response::new("internal server error".to_owned());
        *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
        return response;
    };
    let body = String::from_utf8_lossy(&bytes[len..]).into_owned();
    let mut response = http::Response::new(body);
    *response.status_mut() = parsed
        .code
        .and_then(|code| http::StatusCode::from_u16(code).ok())
        .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    for header in parsed.headers.iter() {
        let hop_by_hop = header.name.eq_ignore_ascii_case("content-length")
            || (header.name.eq_ignore_ascii_case("connection") && response.status() != 101);
        if hop_by_hop {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(header.name.as_bytes()),
            http::HeaderValue::from_bytes(header.value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

/// hyper's upgraded stream as a `futures-io` stream: one call into hyper
/// per read or write, no copy beyond the one hyper makes of bytes it had
/// already buffered.
struct Upgraded(hyper::upgrade::Upgraded);

impl AsyncRead for Upgraded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut read = hyper::rt::ReadBuf::new(buf);
        ready!(hyper::rt::Read::poll_read(
            Pin::new(&mut self.0),
            cx,
            read.unfilled()
        ))?;
        Poll::Ready(Ok(read.filled().len()))
    }
}

impl AsyncWrite for Upgraded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        hyper::rt::Write::poll_write(Pin::new(&mut self.0), cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        hyper::rt::Write::poll_write_vectored(Pin::new(&mut self.0), cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        hyper::rt::Write::poll_flush(Pin::new(&mut self.0), cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        hyper::rt::Write::poll_shutdown(Pin::new(&mut self.0), cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_responses_become_hyper_responses() {
        let bytes = reject_response_with(503, "too many", &[("Retry-After", "5")]);
        let response = to_http(&bytes);
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()["retry-after"], "5");
        assert_eq!(response.headers()["x-websocket-reject-reason"], "too many");
        assert!(response.headers().get("content-length").is_none());
        assert!(response.headers().get("connection").is_none());
        assert_eq!(response.body(), "too many");
    }

    #[test]
    fn heads_are_written_as_received() {
        let request = http::Request::get("/chat?room=1")
            .header("Host", "example.com")
            .header("Upgrade", "websocket")
            .body(())
            .unwrap();
        let head = request_head(&request, "HTTP/1.1");
        assert_eq!(
            head,
            b"GET /chat?room=1 HTTP/1.1\r\nhost: example.com\r\nupgrade: websocket\r\n\r\n"
        );
    }
}
