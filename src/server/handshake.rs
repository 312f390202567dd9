//! One opening handshake: read the head under the timeout, answer errors
//! and plain HTTP, and hand valid upgrades to the application.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::SinkExt;
use std::future::poll_fn;

use super::core::Inner;
use super::handle::ServerHandle;
use super::home::RequestHome;
use super::http;
use super::pending;
use super::request::Peer;
use super::request_url::RequestUrl;
use super::respond::respond;
use crate::handshake::{
    self, Classified, HandshakeError, Limits, RawRequest, reject_response, reject_response_with,
};
use crate::transport::BoxTransport;

/// Reads and answers one opening handshake; a valid upgrade becomes a
/// request for the application.
pub(super) async fn handshake(mut io: BoxTransport, peer: Peer, inner: &Arc<Inner>) {
    let config = &inner.config;
    let limits = Limits {
        max_size: config.max_handshake_size,
        max_headers: config.max_handshake_headers,
    };
    let write_limit = config.handshake_timeout;
    let core = &inner.core;
    let (raw, head, rest) = match inner
        .runtime
        .timeout(
            config.handshake_timeout,
            read_head(&mut io, &limits, Vec::new()),
        )
        .await
    {
        None => {
            core.rejected(408);
            log::debug!("handshake from {} timed out", peer.peer_addr);
            respond(
                &inner.runtime,
                io,
                &reject_response(408, "handshake timed out"),
                write_limit,
            )
            .await;
            return;
        }
        Some(Err(HeadError::Closed)) => {
            core.handshake_failed();
            return;
        }
        Some(Err(HeadError::Invalid(e))) => {
            refuse(io, &peer, e, inner).await;
            return;
        }
        Some(Ok(head)) => head,
    };
    let upgrade = match handshake::classify(raw) {
        Err(e) => {
            refuse(io, &peer, e, inner).await;
            return;
        }
        Ok(Classified::Plain(raw)) => {
            // Boxed: plain HTTP is the uncommon path here.
            Box::pin(http::serve(
                io,
                raw,
                rest,
                peer.secure,
                inner.handler.as_ref().map(|handler| {
                    (
                        handler,
                        ServerHandle {
                            inner: inner.clone(),
                        },
                    )
                }),
                &inner.runtime,
                config,
            ))
            .await;
            return;
        }
        Ok(Classified::Upgrade(upgrade)) => upgrade,
    };
    if core.shutting_down.load(Ordering::Acquire) {
        core.rejected(503);
        respond(
            &inner.runtime,
            io,
            &reject_response(503, "server shutting down"),
            write_limit,
        )
        .await;
        return;
    }
    if !core.try_admit(config.max_connections) {
        core.rejected(503);
        log::warn!(
            "refused {}: {} connections open",
            peer.peer_addr,
            config.max_connections
        );
        let response = reject_response_with(503, "too many connections", &[("Retry-After", "5")]);
        respond(&inner.runtime, io, &response, write_limit).await;
        return;
    }
    let scheme = if peer.secure { "wss" } else { "ws" };
    let Some(url) = RequestUrl::new(scheme, &upgrade.host, &upgrade.resource) else {
        core.pending_ended(false);
        respond(
            &inner.runtime,
            io,
            &reject_response(400, "invalid Host or request target"),
            write_limit,
        )
        .await;
        return;
    };
    let (request, holding) = pending::pending_request(
        io,
        rest,
        head,
        upgrade,
        url,
        peer,
        RequestHome {
            config: config.clone(),
            runtime: inner.runtime.clone(),
            server: Some(core.clone()),
        },
    );
    // If the server is gone, the request is dropped with the failed send and
    // the pending task below answers 503.
    let _ = inner.requests.clone().send(request).await;
    holding.await;
}

/// Answers an invalid handshake with its status.
async fn refuse(io: BoxTransport, peer: &Peer, error: HandshakeError, inner: &Inner) {
    inner.core.rejected(error.status());
    log::debug!(
        "bad handshake from {}: {}",
        peer.peer_addr,
        crate::ErrorChain(&error)
    );
    respond(
        &inner.runtime,
        io,
        &error.to_response(),
        inner.config.handshake_timeout,
    )
    .await;
}

pub(super) enum HeadError {
    Closed,
    Invalid(HandshakeError),
}

/// A request head: parsed, as received (its bytes), and the bytes read past
/// it.
pub(super) type ReadHead = (RawRequest, Vec<u8>, Vec<u8>);

/// Reads until the end of the request head, scanning each byte once, and
/// parses it once.
pub(super) async fn read_head(
    io: &mut BoxTransport,
    limits: &Limits,
    initial: Vec<u8>,
) -> Result<ReadHead, HeadError> {
    let mut buf = initial;
    if let Some(end) = handshake::find_head_end(&buf, 0) {
        return parse(buf, end, limits);
    }
    loop {
        let scanned = buf.len();
        let read = poll_fn(|cx| crate::scratch::poll_read_appending(io, cx, &mut buf, 4 << 10));
        if let Ok(0) | Err(_) = read.await {
            return Err(HeadError::Closed);
        }
        if let Some(end) = handshake::find_head_end(&buf, scanned) {
            return parse(buf, end, limits);
        }
        if buf.len() > limits.max_size {
            return Err(HeadError::Invalid(handshake::too_large(&buf, limits)));
        }
    }
}

/// Parses the head ending at `end`; its bytes, and those after it, are
/// kept.
pub(super) fn parse(mut buf: Vec<u8>, end: usize, limits: &Limits) -> Result<ReadHead, HeadError> {
    match handshake::parse_head(&buf[..end], limits) {
        Ok(Some((raw, used))) => {
            let rest = buf.split_off(used);
            Ok((raw, buf, rest))
        }
        Ok(None) => Err(HeadError::Invalid(HandshakeError::Malformed)),
        Err(e) => Err(HeadError::Invalid(e)),
    }
}
