//! Plain HTTP requests on the WebSocket port, answered by an optional
//! handler: `http_types::Request` in, `http_types::Response` out.

use std::panic::AssertUnwindSafe;
use std::str::FromStr;

use futures::FutureExt;
use futures::io::{AsyncReadExt, AsyncWriteExt};
use http_types::headers::{HeaderName, HeaderValue};
use http_types::{Method, Request, Response, Url};

use super::handle::ServerHandle;
use super::http_handler::HttpHandler;
use super::respond::respond;
use crate::handshake::{
    RawRequest, check_host, is_token, reason_phrase, reject_response, reject_response_with,
    sanitize_header_value,
};
use crate::transport::BoxTransport;

/// Answers a plain (non-upgrade) request: through the handler if there is
/// one, else with 426 Upgrade Required. The connection is closed after the
/// response.
///
/// Before the handler sees it, the request is checked as RFC 9112 asks of a
/// server: one valid `Host` (HTTP/1.1), an absolute-form target's
/// authority in its place, one `Content-Length` of digits only,
/// `Expect: 100-continue` answered before the body is read; an unknown
/// method is 501 and a body that does not arrive in time 408.
pub(super) async fn serve(
    mut io: BoxTransport,
    raw: RawRequest,
    mut body: Vec<u8>,
    secure: bool,
    handler: Option<(&HttpHandler, ServerHandle)>,
    runtime: &crate::runtime::Runtime,
    config: &crate::config::Config,
) {
    let max_body = config.max_http_body_size;
    let limit = config.handshake_timeout;
    let Some((handler, server)) = handler else {
        // 426 must say what to upgrade to (RFC 9110 §15.5.22).
        let response = reject_response_with(
            426,
            "this endpoint only speaks WebSocket",
            &[("Upgrade", "websocket")],
        );
        respond(runtime, io, &response, limit).await;
        return;
    };
    let checked = check(&raw, secure, max_body);
    let (url, length) = match checked {
        Ok(checked) => checked,
        Err((status, reason)) => {
            respond(runtime, io, &reject_response(status, reason), limit).await;
            return;
        }
    };
    if body.len() < length {
        if raw
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
            && runtime
                .timeout(limit, io.write_all(b"HTTP/1.1 100 Continue\r\n\r\n"))
                .await
                .is_none_or(|written| written.is_err())
        {
            return;
        }
        let start = body.len();
        body.resize(length, 0);
        match runtime
            .timeout(limit, io.read_exact(&mut body[start..]))
            .await
        {
            Some(Ok(())) => {}
            Some(Err(_)) => return, // closed before the body ended: nobody to answer
            None => {
                let response = reject_response(408, "request body timed out");
                respond(runtime, io, &response, limit).await;
                return;
            }
        }
    }
    body.truncate(length);
    let Some(mut request) = to_request(&raw, body, url) else {
        respond(runtime, io, &reject_response(501, "unknown method"), limit).await;
        return;
    };
    request.ext_mut().insert(server);
    let head = request.method() == Method::Head;
    // A panicking handler fails this request only (500), never the server.
    let call = std::panic::catch_unwind(AssertUnwindSafe(|| handler(request)));
    let response = match call {
        Ok(future) => AssertUnwindSafe(future).catch_unwind().await,
        Err(panic) => Err(panic),
    };
    let Ok(response) = response else {
        log::error!("the HTTP handler panicked");
        respond(
            runtime,
            io,
            &reject_response(500, "internal server error"),
            limit,
        )
        .await;
        return;
    };
    let bytes = to_bytes(response, head).await;
    respond(runtime, io, &bytes, limit).await;
}

/// The request's URL and body length, or the status and reason to refuse
/// it with.
fn check(
    raw: &RawRequest,
    secure: bool,
    max_body: usize,
) -> Result<(Url, usize), (u16, &'static str)> {
    let mut hosts = raw.header_all("host");
    let host = match (hosts.next(), hosts.next()) {
        (Some(_), Some(_)) => return Err((400, "more than one Host header")),
        // An empty Host is what a client sends for a target without an
        // authority (RFC 9112 §3.2).
        (Some(host), None) if !host.is_empty() && check_host(host).is_err() => {
            return Err((400, "invalid Host"));
        }
        (Some(host), None) => Some(host),
        (None, _) if raw.http_minor >= 1 => return Err((400, "missing Host header")),
        (None, _) => None,
    };
    let scheme = if secure { "https" } else { "http" };
    let url = if raw.target.starts_with('/') {
        let host = host.filter(|h| !h.is_empty()).unwrap_or("localhost");
        // `host` is a valid host[:port] and the target starts with `/`, so
        // the target can only add a path and a query.
        Url::parse(&format!("{scheme}://{host}{}", raw.target)).ok()
    } else if raw.target.contains("://") {
        // Absolute-form: its authority replaces Host (RFC 9112 §3.2.2).
        Url::parse(&raw.target).ok().filter(|url| {
            matches!(url.scheme(), "http" | "https")
                && url.has_host()
                && url.username().is_empty()
                && url.password().is_none()
        })
    } else {
        None
    };
    let url = url
        .filter(|_| !raw.target.contains(['\\', '#']))
        .ok_or((400, "invalid request-target"))?;
    if raw.header("transfer-encoding").is_some() {
        return Err((501, "chunked request bodies are not supported"));
    }
    let mut lengths = raw.header_all("content-length");
    let length = match lengths.next() {
        None => 0,
        Some(first) => {
            if lengths.any(|other| other != first) {
                return Err((400, "conflicting Content-Length headers"));
            }
            if first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit()) {
                return Err((400, "invalid Content-Length"));
            }
            match first.parse::<usize>() {
                Ok(n) if n <= max_body => n,
                _ => return Err((413, "request body too large")),
            }
        }
    };
    if let Some(expect) = raw.header("expect")
        && !expect.eq_ignore_ascii_case("100-continue")
    {
        return Err((417, "unsupported Expect"));
    }
    Ok((url, length))
}

fn to_request(raw: &RawRequest, body: Vec<u8>, url: Url) -> Option<Request> {
    let method = Method::from_str(&raw.method).ok()?;
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
/// `Connection: close`; for a `HEAD` request, the head alone, with the
/// length the body would have (RFC 9110 §9.3.2).
async fn to_bytes(mut response: Response, head: bool) -> Vec<u8> {
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
    if !head {
        out.extend_from_slice(&body);
    }
    out
}
