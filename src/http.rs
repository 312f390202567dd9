//! Plain HTTP requests on the WebSocket port, answered by an optional
//! handler: `http_types::Request` in, `http_types::Response` out.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;

use futures::FutureExt;
use futures::io::AsyncReadExt;
use http_types::headers::{HeaderName, HeaderValue};
use http_types::{Method, Request, Response, Url};

use crate::handshake::{RawRequest, is_token, reason_phrase, sanitize_header_value};
use crate::pending::{reject_response, reject_response_with, respond};
use crate::transport::BoxTransport;

type BoxFuture = Pin<Box<dyn Future<Output = Response> + Send>>;

/// A plain HTTP request handler, set with
/// [`ServerBuilder::http_handler`](crate::ServerBuilder::http_handler).
pub(crate) type HttpHandler = Arc<dyn Fn(Request) -> BoxFuture + Send + Sync>;

pub(crate) fn handler<F, Fut>(f: F) -> HttpHandler
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    Arc::new(move |request| Box::pin(f(request)))
}

/// Answers a plain (non-upgrade) request: through the handler if there is
/// one, else with 426 Upgrade Required. The connection is closed after the
/// response.
pub(crate) async fn serve(
    mut io: BoxTransport,
    raw: RawRequest,
    mut body: Vec<u8>,
    url_base: &str,
    handler: Option<&HttpHandler>,
    max_body: usize,
    limit: std::time::Duration,
) {
    let Some(handler) = handler else {
        // 426 must say what to upgrade to (RFC 9110 §15.5.22).
        let response = reject_response_with(
            426,
            "this endpoint only speaks WebSocket",
            &[("Upgrade", "websocket")],
        );
        respond(io, &response, limit).await;
        return;
    };
    if raw.header("transfer-encoding").is_some() {
        respond(
            io,
            &reject_response(501, "chunked request bodies are not supported"),
            limit,
        )
        .await;
        return;
    }
    let length = match raw
        .header("content-length")
        .map(|v| v.trim().parse::<usize>())
    {
        None => 0,
        Some(Ok(n)) if n <= max_body => n,
        Some(Ok(_)) => {
            respond(io, &reject_response(413, "request body too large"), limit).await;
            return;
        }
        Some(Err(_)) => {
            respond(io, &reject_response(400, "invalid Content-Length"), limit).await;
            return;
        }
    };
    if body.len() < length {
        let start = body.len();
        body.resize(length, 0);
        let read = crate::time::timeout(limit, io.read_exact(&mut body[start..])).await;
        if !matches!(read, Some(Ok(()))) {
            return;
        }
    }
    body.truncate(length);
    let Some(request) = to_request(&raw, body, url_base) else {
        respond(io, &reject_response(400, "malformed request"), limit).await;
        return;
    };
    // A panicking handler fails this request only (500), never the server.
    let call = std::panic::catch_unwind(AssertUnwindSafe(|| handler(request)));
    let response = match call {
        Ok(future) => AssertUnwindSafe(future).catch_unwind().await,
        Err(panic) => Err(panic),
    };
    let Ok(response) = response else {
        log::error!("the HTTP handler panicked");
        respond(io, &reject_response(500, "internal server error"), limit).await;
        return;
    };
    let bytes = to_bytes(response).await;
    respond(io, &bytes, limit).await;
}

fn to_request(raw: &RawRequest, body: Vec<u8>, url_base: &str) -> Option<Request> {
    let method = Method::from_str(&raw.method).ok()?;
    let url = Url::parse(url_base).ok()?.join(&raw.target).ok()?;
    let mut request = Request::new(method, url);
    for (name, value) in &raw.headers {
        let (Ok(name), Ok(value)) = (HeaderName::from_str(name), HeaderValue::from_str(value))
        else {
            continue;
        };
        request.append_header(name, value);
    }
    request.set_body(body);
    Some(request)
}

/// Serializes a response for HTTP/1.1 with `Content-Length` and
/// `Connection: close`.
async fn to_bytes(mut response: Response) -> Vec<u8> {
    let body = response.take_body().into_bytes().await.unwrap_or_default();
    let status = u16::from(response.status());
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status)).into_bytes();
    for (name, values) in response.iter() {
        let name = name.as_str();
        if !is_token(name) || ["content-length", "transfer-encoding", "connection"].contains(&name)
        {
            continue;
        }
        for value in values.iter() {
            let value = sanitize_header_value(value.as_str());
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
    }
    if response.content_type().is_none() && !body.is_empty() {
        out.extend_from_slice(b"content-type: application/octet-stream\r\n");
    }
    out.extend_from_slice(
        format!(
            "content-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&body);
    out
}
