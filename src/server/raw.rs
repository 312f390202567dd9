//! The raw handshake: the application answers a request with a response
//! head it wrote itself, which wsgate checks (the rules are in
//! [`crate::handshake::check_raw_response`]) before writing a byte of it.

use std::future::Future;

use super::request::WebSocketRequest;
use crate::connection::Connection;
use crate::deflate::Negotiated;
use crate::error::AcceptError;
use crate::handshake::{Limits, RawAccept, RawDecision, check_raw_response};

/// What a valid raw answer did
/// ([`WebSocketRequest::accept_raw`]).
///
/// # Examples
///
/// ```no_run
/// use wsgate::RawOutcome;
///
/// # async fn f(request: wsgate::WebSocketRequest) -> Result<(), wsgate::AcceptError> {
/// let response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
///                 Connection: Upgrade\r\n\r\n";
/// match request.accept_raw(response).await? {
///     RawOutcome::Accepted(conn) => { /* serve conn */ }
///     RawOutcome::Rejected(status) => println!("rejected with {status}"),
///     _ => {}
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum RawOutcome {
    /// The response was a 101: it was sent, and the connection is open.
    Accepted(Connection),
    /// The response was a rejection with this status (300..=599): it was
    /// sent as written, and the socket closed.
    Rejected(u16),
}

impl RawOutcome {
    /// The connection, if the response accepted the request.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::RawOutcome;
    ///
    /// assert!(RawOutcome::Rejected(403).connection().is_none());
    /// ```
    pub fn connection(self) -> Option<Connection> {
        match self {
            RawOutcome::Accepted(conn) => Some(conn),
            RawOutcome::Rejected(_) => None,
        }
    }
}

impl WebSocketRequest {
    /// Answers the request with a response head the application wrote,
    /// as Dyalog's `WebSocketUpgrade` event in manual mode does: read the
    /// request with [`raw_head`](Self::raw_head), write the answer.
    ///
    /// wsgate checks `response` before writing a byte of it (every rule is
    /// listed at [`check_raw_response`]): one HTTP/1.1 status line and
    /// CRLF-terminated header lines, then a blank line and nothing more,
    /// within [`Config::max_handshake_size`](crate::Config::max_handshake_size)
    /// bytes and [`Config::max_handshake_headers`](crate::Config::max_handshake_headers)
    /// headers, without NUL, bare CR or LF, control characters or folded
    /// lines.
    ///
    /// - A **101** must have `Upgrade: websocket`, `Connection: Upgrade`
    ///   and the right `Sec-WebSocket-Accept` (left out, wsgate adds it); a
    ///   subprotocol only if the client offered it (byte for byte);
    ///   extensions only if the client offered them and wsgate implements
    ///   them: permessage-deflate, with parameters one of the client's
    ///   offers allows. The connection's codec is then configured from the
    ///   response. It resolves to [`RawOutcome::Accepted`].
    /// - A **3xx, 4xx or 5xx** rejects: the response is written as it is
    ///   (without a body: it may not announce one) and the socket closed.
    ///   It resolves to [`RawOutcome::Rejected`].
    ///
    /// [`add_response_header`](Self::add_response_header) does not apply:
    /// the response is exactly what the application wrote (plus the accept
    /// value when it left it out). Mounted on hyper
    /// (`ServerHandle::upgrade_hyper`, feature `hyper`),
    /// hyper writes the checked response: the same status and headers, in
    /// hyper's spelling.
    ///
    /// # Errors
    ///
    /// - [`AcceptError::InvalidRawResponse`]: the response breaks a rule.
    ///   The client gets a 500, never the invalid bytes.
    /// - [`AcceptError::DeflateBudgetFull`]: the response accepts
    ///   permessage-deflate, and the server's compression memory budget
    ///   ([`Config::deflate_memory_budget`](crate::Config::deflate_memory_budget))
    ///   has no room for it. The client gets a 503.
    /// - As for [`accept`](Self::accept): [`AcceptError::DecisionTimeout`]
    ///   when the answer comes after
    ///   [`Config::decision_timeout`](crate::Config::decision_timeout) (the
    ///   deadline a raw answer has, as Dyalog times out a manual upgrade:
    ///   the client already got a 503), [`AcceptError::Disconnected`],
    ///   [`AcceptError::ShuttingDown`] (503), [`AcceptError::Io`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use wsgate::{AcceptError, RawOutcome};
    ///
    /// # async fn f(request: wsgate::WebSocketRequest) -> Result<(), AcceptError> {
    /// // The head as sent is in `request.raw_head()`; a header's value,
    /// // found case-insensitively, in `request.header`.
    /// let response = if request.header("authorization") == Some("Bearer good") {
    ///     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
    ///      Connection: Upgrade\r\nX-Served-By: manual\r\n\r\n"
    /// } else {
    ///     "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\n\
    ///      Content-Length: 0\r\n\r\n"
    /// };
    /// if let RawOutcome::Accepted(conn) = request.accept_raw(response).await? {
    ///     conn.send_text("welcome").await.ok();
    /// }
    /// # Ok(()) }
    /// ```
    pub fn accept_raw(
        self,
        response: impl Into<Vec<u8>>,
    ) -> impl Future<Output = Result<RawOutcome, AcceptError>> + Send + 'static {
        Box::pin(self.accept_raw_inner(response.into()))
    }

    async fn accept_raw_inner(mut self, response: Vec<u8>) -> Result<RawOutcome, AcceptError> {
        if self.refuse_if_shutting_down() {
            return Err(AcceptError::ShuttingDown);
        }
        let config = self.config();
        let limits = Limits {
            max_size: config.max_handshake_size,
            max_headers: config.max_handshake_headers,
        };
        #[cfg(feature = "deflate")]
        let deflate = config.deflate.enabled;
        #[cfg(not(feature = "deflate"))]
        let deflate = false;
        match check_raw_response(response, self.upgrade(), &limits, deflate) {
            Err(e) => {
                log::warn!(
                    "{}: invalid raw handshake response: {}",
                    self.id(),
                    crate::ErrorChain(&e)
                );
                self.decide_error(500, "invalid handshake response");
                Err(AcceptError::InvalidRawResponse(e))
            }
            Ok(RawDecision::Reject { status, response }) => {
                self.decide_raw_rejection(status, response);
                Ok(RawOutcome::Rejected(status))
            }
            Ok(RawDecision::Accept(accepted)) => {
                let Some(deflate) = self.configure_deflate(&accepted) else {
                    self.decide_error(503, "compression memory budget full");
                    return Err(AcceptError::DeflateBudgetFull);
                };
                let RawAccept {
                    response,
                    protocol,
                    extensions,
                    ..
                } = accepted;
                let conn = self
                    .open(response, protocol, extensions, deflate, Box::new(()))
                    .await?;
                Ok(RawOutcome::Accepted(conn))
            }
        }
    }

    /// The codec for what a raw 101 agreed to: `Some(None)` without
    /// permessage-deflate, `None` when the budget has no room for it.
    #[cfg(feature = "deflate")]
    fn configure_deflate(&self, accepted: &RawAccept) -> Option<Option<Negotiated>> {
        match accepted.deflate {
            None => Some(None),
            Some(params) => {
                let budget = self.deflate_budget();
                crate::deflate::configure_server(params, self.config(), &budget).map(Some)
            }
        }
    }

    #[cfg(not(feature = "deflate"))]
    fn configure_deflate(&self, _: &RawAccept) -> Option<Option<Negotiated>> {
        Some(None)
    }
}
