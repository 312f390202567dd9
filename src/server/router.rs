//! [`Router`]: requests dispatched by path and subprotocol to handlers,
//! WebSocket and plain HTTP on the same port.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http_types::{Method, Request, Response, StatusCode};

use super::request::WebSocketRequest;
use super::route_path::RoutePath;
use crate::handshake::{REJECT_REASON, reason_header};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type SocketHandler = Arc<dyn Fn(WebSocketRequest, Params) -> BoxFuture<()> + Send + Sync>;
type HttpHandler = Arc<dyn Fn(Request, Params) -> BoxFuture<Response> + Send + Sync>;

/// Sends each request to the handler of the first route that matches its
/// path (and, for WebSocket routes that name subprotocols, one of the
/// client's subprotocols); no route is a 404 with the reason in
/// `X-WebSocket-Reject-Reason`.
///
/// A pattern is literal segments, `:name` for one segment and `*name` for
/// the rest of the path (last only): `/rooms/:id`, `/files/*path`. The
/// handler gets the values, percent-decoded, in [`Params`], and literal
/// segments match the decoded path too (`/café` takes `/caf%C3%A9`). A
/// decoded value may hold a `/` (`%2F`) or be `..`: check it before using
/// it as a file name. Routes are
/// tried in the order they were added, and the query is not part of the
/// path (read it with [`WebSocketRequest::query`]).
///
/// It is small on purpose: the handlers get the request objects
/// themselves, and decide as they would without it. Install it with
/// [`ServerBuilder::router`](crate::ServerBuilder::router) (plain HTTP
/// requests are routed from then on) and run it with
/// [`Server::serve_routes`](crate::Server::serve_routes), or call
/// [`dispatch`](Self::dispatch) and [`respond`](Self::respond) from your
/// own loop and handler.
///
/// A WebSocket request to a path that only has HTTP routes gets 404, and a
/// plain HTTP request to a path that only has WebSocket routes gets
/// `426 Upgrade Required`. A request to a path whose WebSocket routes all
/// name subprotocols the client did not offer gets 400.
///
/// # Examples
///
/// ```
/// use http_types::{Response, StatusCode};
/// use wsgate::{Router, Server};
///
/// let router = Router::new()
///     .websocket("/rooms/:room", |request, params| async move {
///         let room = params.get("room").unwrap_or("lobby").to_owned();
///         let Ok(conn) = request.accept_default().await else { return };
///         let _ = conn.subscribe(&format!("room/{room}"));
///         // ... serve the connection ...
///     })
///     .websocket_protocols("/chat", &["chat.v2", "chat"], |request, params| async move {
///         let protocol = params.protocol();
///         let _conn = request.accept(protocol, None).await;
///     })
///     .get("/health", |_request, _params| async { Response::new(StatusCode::Ok) });
/// let builder = Server::builder().router(router);
/// ```
#[derive(Clone, Default)]
pub struct Router {
    routes: Arc<Vec<Route>>,
}

struct Route {
    path: RoutePath,
    kind: Kind,
}

enum Kind {
    Socket {
        /// Empty: any (or no) subprotocol.
        protocols: Vec<String>,
        handler: SocketHandler,
    },
    Http {
        /// `None`: any method.
        methods: Option<&'static [Method]>,
        handler: HttpHandler,
    },
}

/// What a route matched: the path's parameters and, for a route that
/// names subprotocols, the one chosen.
///
/// # Examples
///
/// ```
/// use wsgate::Router;
///
/// let router = Router::new().websocket("/rooms/:room", |request, params| async move {
///     assert!(params.get("room").is_some());
///     assert_eq!(params.get("nothing"), None);
///     request.accept_default().await.ok();
/// });
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    values: Vec<(String, String)>,
    protocol: Option<String>,
}

impl Params {
    /// The value of the path parameter `name` (`:name` or `*name` in the
    /// pattern), percent-decoded.
    ///
    /// # Examples
    ///
    /// ```
    /// let router = wsgate::Router::new().get("/users/:name", |_, params| async move {
    ///     let name = params.get("name").unwrap_or("nobody");
    ///     http_types::Response::from(format!("hello {name}"))
    /// });
    /// ```
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find_map(|(n, value)| (n == name).then_some(value.as_str()))
    }

    /// Every path parameter, in the pattern's order.
    ///
    /// # Examples
    ///
    /// ```
    /// let router = wsgate::Router::new().get("/:a/:b", |_, params| async move {
    ///     assert_eq!(params.iter().count(), 2);
    ///     http_types::Response::new(200)
    /// });
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// For a route made with
    /// [`websocket_protocols`](Router::websocket_protocols): the first of
    /// its subprotocols that the client offered, to pass to
    /// [`WebSocketRequest::accept`]. `None` for other routes.
    ///
    /// # Examples
    ///
    /// ```
    /// let router = wsgate::Router::new().websocket_protocols("/", &["v2", "v1"], |request, params| async move {
    ///     assert!(params.protocol().is_some());
    ///     request.accept(params.protocol(), None).await.ok();
    /// });
    /// ```
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }
}

impl Router {
    /// A router with no routes: every request gets 404.
    ///
    /// # Examples
    ///
    /// ```
    /// let router = wsgate::Router::new();
    /// ```
    pub fn new() -> Router {
        Router::default()
    }

    /// Routes WebSocket requests whose path matches `pattern` to
    /// `handler`, with any subprotocols (or none).
    ///
    /// # Panics
    ///
    /// When `pattern` does not start with `/`, has a parameter without a
    /// name, or a `*rest` parameter before its end.
    ///
    /// # Examples
    ///
    /// ```
    /// let router = wsgate::Router::new().websocket("/echo", |request, _| async move {
    ///     let Ok(conn) = request.accept_default().await else { return };
    ///     // ...
    /// });
    /// ```
    pub fn websocket<F, Fut>(self, pattern: &str, handler: F) -> Router
    where
        F: Fn(WebSocketRequest, Params) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.websocket_protocols(pattern, &[], handler)
    }

    /// Routes WebSocket requests whose path matches `pattern` and that
    /// offer one of `protocols` (compared case-insensitively) to
    /// `handler`; [`Params::protocol`] is the first of `protocols` the
    /// client offered. A request that offers none of them goes on to the
    /// next route, and to 400 if no route takes it.
    ///
    /// # Panics
    ///
    /// As [`websocket`](Self::websocket).
    ///
    /// # Examples
    ///
    /// ```
    /// let router = wsgate::Router::new()
    ///     .websocket_protocols("/", &["graphql-transport-ws"], |request, params| async move {
    ///         let conn = request.accept(params.protocol(), None).await;
    ///     })
    ///     .websocket_protocols("/", &["chat"], |request, params| async move {
    ///         let conn = request.accept(params.protocol(), None).await;
    ///     });
    /// ```
    pub fn websocket_protocols<F, Fut>(
        self,
        pattern: &str,
        protocols: &[&str],
        handler: F,
    ) -> Router
    where
        F: Fn(WebSocketRequest, Params) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.add(
            pattern,
            Kind::Socket {
                protocols: protocols.iter().map(|p| (*p).to_owned()).collect(),
                handler: Arc::new(move |request, params| Box::pin(handler(request, params))),
            },
        )
    }

    /// Routes plain HTTP `GET` and `HEAD` requests whose path matches
    /// `pattern` to `handler`; other methods on that path get
    /// `405 Method Not Allowed`. The request carries the server's
    /// [`ServerHandle`](crate::ServerHandle) in its extensions, as every
    /// plain HTTP request does.
    ///
    /// # Panics
    ///
    /// As [`websocket`](Self::websocket).
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::ServerHandle;
    ///
    /// let router = wsgate::Router::new().get("/health", |request, _| async move {
    ///     let open = request.ext().get::<ServerHandle>().map_or(0, |s| s.connection_count());
    ///     http_types::Response::from(format!("ok, {open} connections"))
    /// });
    /// ```
    pub fn get<F, Fut>(self, pattern: &str, handler: F) -> Router
    where
        F: Fn(Request, Params) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response> + Send + 'static,
    {
        self.http_route(pattern, Some(&[Method::Get, Method::Head]), handler)
    }

    /// Routes plain HTTP `POST` requests whose path matches `pattern` to
    /// `handler`; other methods on that path get `405 Method Not Allowed`
    /// (unless another route takes them).
    ///
    /// # Panics
    ///
    /// As [`websocket`](Self::websocket).
    ///
    /// # Examples
    ///
    /// ```
    /// let router = wsgate::Router::new().post("/notify", |mut request, _| async move {
    ///     let body = request.body_string().await.unwrap_or_default();
    ///     http_types::Response::from(format!("{} bytes", body.len()))
    /// });
    /// ```
    pub fn post<F, Fut>(self, pattern: &str, handler: F) -> Router
    where
        F: Fn(Request, Params) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response> + Send + 'static,
    {
        self.http_route(pattern, Some(&[Method::Post]), handler)
    }

    /// Routes plain HTTP requests of any method whose path matches
    /// `pattern` to `handler`.
    ///
    /// # Panics
    ///
    /// As [`websocket`](Self::websocket).
    ///
    /// # Examples
    ///
    /// ```
    /// let router = wsgate::Router::new().http("/api/*rest", |request, params| async move {
    ///     http_types::Response::from(format!("{} {}", request.method(), params.get("rest").unwrap()))
    /// });
    /// ```
    pub fn http<F, Fut>(self, pattern: &str, handler: F) -> Router
    where
        F: Fn(Request, Params) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response> + Send + 'static,
    {
        self.http_route(pattern, None, handler)
    }

    fn http_route<F, Fut>(
        self,
        pattern: &str,
        methods: Option<&'static [Method]>,
        handler: F,
    ) -> Router
    where
        F: Fn(Request, Params) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response> + Send + 'static,
    {
        self.add(
            pattern,
            Kind::Http {
                methods,
                handler: Arc::new(move |request, params| Box::pin(handler(request, params))),
            },
        )
    }

    fn add(mut self, pattern: &str, kind: Kind) -> Router {
        let route = Route {
            path: RoutePath::parse(pattern),
            kind,
        };
        // Built before it is shared: the Arc is still unique here.
        match Arc::get_mut(&mut self.routes) {
            Some(routes) => routes.push(route),
            None => {
                let mut routes: Vec<Route> = Vec::new();
                routes.extend(self.routes.iter().map(Route::clone_shallow));
                routes.push(route);
                self.routes = Arc::new(routes);
            }
        }
        self
    }

    /// Runs the handler of the route that takes `request`, or rejects it:
    /// 404 when no route's path matches, 400 when the matching routes want
    /// subprotocols the client did not offer. Resolves when the handler
    /// does.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # wsgate::runtime::block_on(async {
    /// let router = wsgate::Router::new().websocket("/", |request, _| async move {
    ///     request.accept_default().await.ok();
    /// });
    /// let server = wsgate::Server::bind("127.0.0.1:0").await?;
    /// server.serve(move |request| router.dispatch(request)).await;
    /// # Ok::<(), std::io::Error>(()) });
    /// ```
    pub fn dispatch(&self, request: WebSocketRequest) -> impl Future<Output = ()> + Send + use<> {
        let path = request.resource_url().path().to_owned();
        let mut path_matched = false;
        let mut wanted: Vec<&str> = Vec::new();
        for route in self.routes.iter() {
            let Kind::Socket { protocols, handler } = &route.kind else {
                continue;
            };
            let Some(values) = route.path.matches(&path) else {
                continue;
            };
            path_matched = true;
            let protocol = if protocols.is_empty() {
                None
            } else {
                let supported: Vec<&str> = protocols.iter().map(String::as_str).collect();
                match request.choose_protocol(&supported) {
                    Some(chosen) => Some(chosen.to_owned()),
                    None => {
                        for protocol in supported {
                            if !wanted.contains(&protocol) {
                                wanted.push(protocol);
                            }
                        }
                        continue;
                    }
                }
            };
            let params = Params { values, protocol };
            return handler(request, params);
        }
        if path_matched {
            let reason = format!(
                "no supported subprotocol offered (one of: {})",
                wanted.join(", ")
            );
            request.reject(StatusCode::BadRequest, &reason);
        } else {
            request.reject(StatusCode::NotFound, &format!("no route for {path}"));
        }
        let done: BoxFuture<()> = Box::pin(async {});
        done
    }

    /// Answers a plain HTTP request with the handler of the route that
    /// takes it: 404 when no route's path matches, 405 (with `Allow`) when
    /// the path's routes take other methods, 426 when the path only has
    /// WebSocket routes.
    ///
    /// # Examples
    ///
    /// ```
    /// use http_types::{Method, Request, StatusCode, Url};
    ///
    /// let router = wsgate::Router::new().get("/health", |_, _| async { "ok".into() });
    /// let request = Request::new(Method::Get, Url::parse("http://localhost/health").unwrap());
    /// let response = wsgate::runtime::block_on(router.respond(request));
    /// assert_eq!(response.status(), StatusCode::Ok);
    ///
    /// let request = Request::new(Method::Get, Url::parse("http://localhost/nope").unwrap());
    /// let response = wsgate::runtime::block_on(router.respond(request));
    /// assert_eq!(response.status(), StatusCode::NotFound);
    /// ```
    pub fn respond(&self, request: Request) -> impl Future<Output = Response> + Send + use<> {
        let path = request.url().path().to_owned();
        let mut allowed: Vec<&Method> = Vec::new();
        let mut socket_only = false;
        for route in self.routes.iter() {
            let Some(values) = route.path.matches(&path) else {
                continue;
            };
            match &route.kind {
                Kind::Socket { .. } => socket_only = true,
                Kind::Http { methods, handler } => match methods {
                    Some(methods) if !methods.contains(&request.method()) => {
                        for method in methods.iter() {
                            if !allowed.contains(&method) {
                                allowed.push(method);
                            }
                        }
                    }
                    _ => {
                        let params = Params {
                            values,
                            protocol: None,
                        };
                        return handler(request, params);
                    }
                },
            }
        }
        let response = if !allowed.is_empty() {
            let mut response = refusal(StatusCode::MethodNotAllowed, "method not allowed");
            let allow: Vec<String> = allowed.iter().map(|m| m.to_string()).collect();
            response.insert_header("Allow", allow.join(", "));
            response
        } else if socket_only {
            let mut response = refusal(
                StatusCode::UpgradeRequired,
                "this endpoint only speaks WebSocket",
            );
            response.insert_header("Upgrade", "websocket");
            response
        } else {
            refusal(StatusCode::NotFound, &format!("no route for {path}"))
        };
        let response: BoxFuture<Response> = Box::pin(async move { response });
        response
    }
}

impl Route {
    /// The same route, its handler shared.
    fn clone_shallow(&self) -> Route {
        let kind = match &self.kind {
            Kind::Socket { protocols, handler } => Kind::Socket {
                protocols: protocols.clone(),
                handler: handler.clone(),
            },
            Kind::Http { methods, handler } => Kind::Http {
                methods: *methods,
                handler: handler.clone(),
            },
        };
        Route {
            path: self.path.clone(),
            kind,
        }
    }
}

/// A refusal of a plain HTTP request: `status`, the reason in the body and
/// in `X-WebSocket-Reject-Reason` (made safe for a header).
fn refusal(status: StatusCode, reason: &str) -> Response {
    let mut response = Response::new(status);
    response.insert_header(REJECT_REASON, reason_header(reason));
    response.set_body(reason.to_owned());
    response
}
