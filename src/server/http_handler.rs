//! The application's handler for plain HTTP requests, as the server keeps
//! it: `http_types::Request` in, `http_types::Response` out.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http_types::{Request, Response};

type BoxFuture = Pin<Box<dyn Future<Output = Response> + Send>>;

/// A plain HTTP request handler, set with
/// [`ServerBuilder::http_handler`](crate::ServerBuilder::http_handler).
pub(super) type HttpHandler = Arc<dyn Fn(Request) -> BoxFuture + Send + Sync>;

pub(super) fn handler<F, Fut>(f: F) -> HttpHandler
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    Arc::new(move |request| Box::pin(f(request)))
}
