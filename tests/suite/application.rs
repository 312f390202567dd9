//! The application's side: typed per-connection state, the request helpers,
//! the server's handle in plain HTTP handlers, and routing by path and
//! subprotocol, with tungstenite and byte-exact HTTP clients as the peers.

use std::sync::atomic::{AtomicUsize, Ordering};

use futures::StreamExt;
use http_types::Response;
use tungstenite::http::HeaderValue;
use wsgate::{Config, Connection, Event, Message, Router, Server, ServerHandle};

use crate::common::*;

/// The state an application attaches to each connection.
#[derive(Debug)]
struct User {
    name: String,
    messages: AtomicUsize,
}

/// A server that accepts each request with a `User` named by the `user`
/// query parameter (or the `user` cookie), subscribes it to `room`, and
/// counts and echoes its messages prefixed by the name read from the
/// connection's state.
async fn user_server() -> (std::net::SocketAddr, ServerHandle) {
    let server = Server::bind("127.0.0.1:0").await.expect("bind");
    let addr = server.local_addr();
    let handle = server.handle();
    drop(spawn(server.serve(|request| async move {
        let name = request
            .query("user")
            .map(|name| name.into_owned())
            .or_else(|| request.cookie("user"))
            .unwrap_or_else(|| "anonymous".to_owned());
        let user = User {
            name,
            messages: AtomicUsize::new(0),
        };
        let Ok(conn) = request.accept_with_state(None, None, user).await else {
            return;
        };
        conn.subscribe("room").expect("subscribe");
        // Handlers read the state from the clone they captured.
        let echo: Connection<User> = conn.clone();
        conn.handlers()
            .on_message(move |message| {
                let echo = echo.clone();
                async move {
                    let user = echo.state();
                    user.messages.fetch_add(1, Ordering::SeqCst);
                    let text = String::from_utf8_lossy(message.as_bytes()).into_owned();
                    let _ = echo.send(format!("{}: {text}", user.name)).await;
                }
            })
            .run()
            .await;
    })));
    (addr, handle)
}

#[test]
fn state_set_when_accepting_is_read_from_every_handle_registry_and_topic() {
    run(async {
        let (addr, handle) = user_server().await;
        let mut alice = blocking(move || ws_connect(addr, "/?user=al%20ice")).await;
        let mut bob = blocking(move || {
            let mut request = ws_request(addr, "/");
            request
                .headers_mut()
                .insert("Cookie", HeaderValue::from_static("theme=dark; user=bob"));
            ws_try_connect(addr, request, None).expect("bob").0
        })
        .await;
        let alice_said = blocking(move || {
            alice.send("hi".into()).unwrap();
            let echoed = text_of(&ws_read_data(&mut alice)).to_owned();
            (alice, echoed)
        });
        let (mut alice, echoed) = alice_said.await;
        assert_eq!(echoed, "al ice: hi");
        let (bob, echoed) = blocking(move || {
            bob.send("yo".into()).unwrap();
            let echoed = text_of(&ws_read_data(&mut bob)).to_owned();
            (bob, echoed)
        })
        .await;
        assert_eq!(echoed, "bob: yo");

        // The registry hands out typed handles.
        let mut names: Vec<String> = handle
            .connections_with::<User>()
            .iter()
            .map(|conn| conn.state().name.clone())
            .collect();
        names.sort();
        assert_eq!(names, ["al ice", "bob"]);
        // ... and so do the topic's subscribers, with the counts the
        // handlers kept in the state.
        let subscribers = handle.subscribers_with::<User>("room");
        assert_eq!(subscribers.len(), 2);
        for conn in &subscribers {
            assert_eq!(conn.state().messages.load(Ordering::SeqCst), 1);
            let by_id = handle.connection_with::<User>(conn.id()).expect("by id");
            assert_eq!(by_id.state().name, conn.state().name);
            // Another type is not this connection's state.
            assert!(handle.connection_with::<String>(conn.id()).is_none());
            // An untyped view gets the typed one back.
            let plain = conn.untyped();
            assert_eq!(
                plain.with_state::<User>().unwrap().state().name,
                conn.state().name
            );
            // Every connection is a plain one: its state reads as `()`,
            // never the downcast's panic.
            let unit = conn.with_state::<()>().expect("a plain view");
            let () = *unit.state();
            let () = *plain.state();
        }
        assert_eq!(handle.connections_with::<()>().len(), 2);
        assert_eq!(handle.subscribers_with::<()>("room").len(), 2);
        assert!(handle.connections_with::<String>().is_empty());
        assert_eq!(handle.connections().len(), 2);

        // A publish reaches both; the state went with the connection.
        handle.publish("room", "news");
        let (alice, news) = blocking(move || {
            let news = text_of(&ws_read_data(&mut alice)).to_owned();
            (alice, news)
        })
        .await;
        assert_eq!(news, "news");
        drop((alice, bob));
        eventually("both connections gone", TIMEOUT, || {
            handle.connection_count() == 0
        })
        .await;
    });
}

#[test]
fn state_is_dropped_with_the_last_handle() {
    struct Guard(std::sync::Arc<AtomicUsize>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    run(async {
        let server = request_server(Config::default()).await;
        let dropped = std::sync::Arc::new(AtomicUsize::new(0));
        let addr = server.addr;
        let client = blocking(move || ws_connect(addr, "/"));
        let request = server.next().await;
        let conn = within(
            "accept",
            request.accept_with_state(None, None, Guard(dropped.clone())),
        )
        .await
        .expect("accept");
        let mut client = client.await;
        let events = conn.events();
        drop(conn);
        assert_eq!(
            dropped.load(Ordering::SeqCst),
            0,
            "the event stream holds a handle"
        );
        drop(events);
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
        let close = blocking(move || ws_wait_for_close(&mut client)).await;
        assert_eq!(close.map(|(code, _)| code), Some(1001));
    });
}

#[test]
fn request_helpers_read_query_cookie_and_choose_a_protocol() {
    run(async {
        let server = request_server(Config::default()).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut request = ws_request(addr, "/x?token=a%2Bb+c&room=1&room=2&empty=");
            let headers = request.headers_mut();
            headers.insert(
                "Cookie",
                HeaderValue::from_static("session=\"s1\"; Theme=dark"),
            );
            headers.append("Cookie", HeaderValue::from_static("session=s2"));
            headers.insert(
                "Sec-WebSocket-Protocol",
                HeaderValue::from_static("Chat, superchat"),
            );
            ws_try_connect(addr, request, None)
        });
        let request = server.next().await;
        assert_eq!(request.query("token").as_deref(), Some("a+b c"));
        assert_eq!(request.query("room").as_deref(), Some("1"));
        assert_eq!(request.query("empty").as_deref(), Some(""));
        assert_eq!(request.query("absent"), None);
        assert_eq!(request.cookie("session").as_deref(), Some("s1"));
        assert_eq!(request.cookie("Theme").as_deref(), Some("dark"));
        assert_eq!(
            request.cookie("theme"),
            None,
            "cookie names are case-sensitive"
        );
        // The application's order of preference wins, case-insensitively.
        assert_eq!(
            request.choose_protocol(&["v2", "superchat", "chat"]),
            Some("superchat")
        );
        assert_eq!(request.choose_protocol(&["chat"]), Some("chat"));
        assert_eq!(request.choose_protocol(&["v2"]), None);
        let protocol = request.choose_protocol(&["chat"]);
        let conn = within("accept", request.accept(protocol, None))
            .await
            .expect("accept");
        // Echoed in the client's own spelling.
        assert_eq!(conn.protocol(), Some("Chat"));
        let (_ws, response) = client.await.expect("handshake");
        assert_eq!(response.headers()["sec-websocket-protocol"], "Chat");
    });
}

#[test]
fn accept_default_opens_without_protocol_from_any_origin() {
    run(async {
        let server = request_server(Config::default()).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut request = ws_request(addr, "/");
            let headers = request.headers_mut();
            headers.insert(
                "Origin",
                HeaderValue::from_static("https://elsewhere.example"),
            );
            let (mut ws, response) = ws_try_connect(addr, request, None).expect("handshake");
            assert!(response.headers().get("sec-websocket-protocol").is_none());
            ws.send("ping".into()).unwrap();
            text_of(&ws_read_data(&mut ws)).to_owned()
        });
        let request = server.next().await;
        let conn = within("accept", request.accept_default())
            .await
            .expect("accept");
        assert_eq!(conn.protocol(), None);
        let mut events = conn.events();
        let Some(Event::Message(message)) = within("a message", events.next()).await else {
            panic!("expected a message");
        };
        conn.send(message).await.expect("echo");
        assert_eq!(client.await, "ping");
    });
}

#[test]
fn the_http_handler_reaches_the_server_handle() {
    run(async {
        let builder = Server::builder().http_handler(|request| async move {
            let server = request
                .ext()
                .get::<ServerHandle>()
                .expect("the server's handle");
            if request.url().path() == "/kick" {
                for conn in server.connections() {
                    conn.close(wsgate::CloseCode::POLICY_VIOLATION, "kicked")
                        .ok();
                }
            }
            Response::from(format!("{} open", server.connection_count()))
        });
        let server = request_server_with(builder).await;
        let addr = server.addr;
        let client = blocking(move || ws_connect(addr, "/"));
        let _conn = within("accept", server.next().await.accept_default())
            .await
            .expect("accept");
        let mut ws = client.await;
        let response =
            blocking(move || raw_exchange(addr, b"GET /count HTTP/1.1\r\nHost: x\r\n\r\n")).await;
        assert_eq!(response.status, 200);
        assert_eq!(response.body_text(), "1 open");
        let response =
            blocking(move || raw_exchange(addr, b"GET /kick HTTP/1.1\r\nHost: x\r\n\r\n")).await;
        assert_eq!(response.status, 200);
        let close = blocking(move || ws_wait_for_close(&mut ws)).await;
        assert_eq!(close, Some((1008, "kicked".to_owned())));
    });
}

/// A server routed by `router`.
async fn routed(router: Router) -> std::net::SocketAddr {
    let server = Server::builder()
        .router(router)
        .bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = server.local_addr();
    drop(spawn(server.serve_routes()));
    addr
}

/// A handler that accepts with the route's protocol and sends one text
/// naming the route, its parameters and protocol, then waits for the close.
fn announce(
    route: &'static str,
) -> impl Fn(wsgate::WebSocketRequest, wsgate::Params) -> futures::future::BoxFuture<'static, ()>
+ Send
+ Sync
+ 'static {
    move |request, params| {
        Box::pin(async move {
            let values: Vec<String> = params.iter().map(|(n, v)| format!("{n}={v}")).collect();
            let Ok(conn) = request.accept(params.protocol(), None).await else {
                return;
            };
            let text = format!("{route} [{}] {:?}", values.join(","), params.protocol());
            let _ = conn.send(Message::Text(text)).await;
            let mut events = conn.events();
            while events.next().await.is_some() {}
        })
    }
}

fn router() -> Router {
    Router::new()
        .websocket("/rooms/:room", announce("room"))
        .websocket("/rooms/:room/users/:user", announce("user"))
        .websocket_protocols("/api", &["graphql-transport-ws"], announce("graphql"))
        .websocket_protocols("/api", &["v2.chat", "chat"], announce("chat"))
        .websocket("/files/*path", announce("files"))
        .get("/health", |request, _| async move {
            let server = request.ext().get::<ServerHandle>().expect("handle");
            Response::from(format!("ok {}", server.connection_count()))
        })
        .http("/echo/:word", |request, params| async move {
            Response::from(format!(
                "{} {}",
                request.method(),
                params.get("word").unwrap()
            ))
        })
}

fn greeting(addr: std::net::SocketAddr, path: &str, protocols: Option<&'static str>) -> String {
    let mut request = ws_request(addr, path);
    if let Some(protocols) = protocols {
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static(protocols),
        );
    }
    let (mut ws, _) = ws_try_connect(addr, request, None).expect("handshake");
    let text = text_of(&ws_read_data(&mut ws)).to_owned();
    ws.close(None).ok();
    text
}

#[test]
fn websocket_requests_are_routed_by_path_and_subprotocol() {
    run(async {
        let addr = routed(router()).await;
        let seen = blocking(move || {
            vec![
                greeting(addr, "/rooms/42?x=1", None),
                greeting(addr, "/rooms/caf%C3%A9/users/bo%20b", None),
                greeting(addr, "/api", Some("chat, graphql-transport-ws")),
                greeting(addr, "/api", Some("CHAT")),
                greeting(addr, "/api", Some("chat, v2.chat")),
                greeting(addr, "/files/a/b.txt", None),
            ]
        })
        .await;
        assert_eq!(
            seen,
            [
                "room [room=42] None",
                "user [room=café,user=bo b] None",
                "graphql [] Some(\"graphql-transport-ws\")",
                "chat [] Some(\"chat\")",
                "chat [] Some(\"v2.chat\")",
                "files [path=a/b.txt] None",
            ]
        );
    });
}

#[test]
fn unrouted_websocket_requests_are_refused_with_a_reason() {
    run(async {
        let addr = routed(router()).await;
        let refusals = blocking(move || {
            let mut with_protocol = ws_request(addr, "/api");
            with_protocol
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
            [
                ws_request(addr, "/nowhere"),
                ws_request(addr, "/rooms/"),
                ws_request(addr, "/health"),
                ws_request(addr, "/api"),
                with_protocol,
            ]
            .map(|request| {
                let (status, headers, _) = ws_expect_rejection(addr, request);
                let reason = headers["x-websocket-reject-reason"]
                    .to_str()
                    .unwrap()
                    .to_owned();
                (status, reason)
            })
        })
        .await;
        let expected = [
            (404, "no route for /nowhere"),
            (404, "no route for /rooms/"),
            (404, "no route for /health"),
            (
                400,
                "no supported subprotocol offered (one of: graphql-transport-ws, v2.chat, chat)",
            ),
            (
                400,
                "no supported subprotocol offered (one of: graphql-transport-ws, v2.chat, chat)",
            ),
        ];
        for ((status, reason), (want_status, want_reason)) in refusals.iter().zip(expected) {
            assert_eq!((*status, reason.as_str()), (want_status, want_reason));
        }
    });
}

#[test]
fn plain_http_requests_are_routed_on_the_same_port() {
    run(async {
        let addr = routed(router()).await;
        // The greeting comes once the connection is accepted and counted.
        let ws = blocking(move || {
            let mut ws = ws_connect(addr, "/rooms/1");
            assert_eq!(text_of(&ws_read_data(&mut ws)), "room [room=1] None");
            ws
        })
        .await;
        let get = |request: &'static [u8]| blocking(move || raw_exchange(addr, request));
        let health = get(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert_eq!((health.status, health.body_text().as_str()), (200, "ok 1"));
        let echo = get(b"DELETE /echo/hi HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert_eq!((echo.status, echo.body_text().as_str()), (200, "DELETE hi"));
        let missing = get(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert_eq!(missing.status, 404);
        assert_eq!(
            missing.header("x-websocket-reject-reason"),
            Some("no route for /nope")
        );
        let wrong_method =
            get(b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").await;
        assert_eq!(wrong_method.status, 405);
        assert_eq!(wrong_method.header("allow"), Some("GET, HEAD"));
        let socket_only = get(b"GET /rooms/1 HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert_eq!(socket_only.status, 426);
        assert_eq!(socket_only.header("upgrade"), Some("websocket"));
        drop(ws);
    });
}

#[test]
fn a_server_without_routes_refuses_everything() {
    run(async {
        let server = Server::bind("127.0.0.1:0").await.expect("bind");
        let addr = server.local_addr();
        drop(spawn(server.serve_routes()));
        let (status, headers, _) =
            blocking(move || ws_expect_rejection(addr, ws_request(addr, "/"))).await;
        assert_eq!(status, 404);
        assert_eq!(headers["x-websocket-reject-reason"], "no route for /");
    });
}

/// Every byte the server sends for `request`, up to its close.
fn whole_exchange(addr: std::net::SocketAddr, request: &'static [u8]) -> String {
    use std::io::{Read, Write};
    let mut stream = tcp(addr);
    stream.write_all(request).expect("send");
    let mut out = Vec::new();
    stream.read_to_end(&mut out).expect("read to the close");
    String::from_utf8(out).expect("UTF-8 response")
}

#[test]
fn a_head_request_gets_the_head_without_the_body() {
    run(async {
        let addr = routed(router()).await;
        let get =
            blocking(move || whole_exchange(addr, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"))
                .await;
        let head =
            blocking(move || whole_exchange(addr, b"HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n"))
                .await;
        assert!(get.ends_with("\r\n\r\nok 0"), "{get:?}");
        // RFC 9110 §9.3.2: no content in a response to HEAD; the head is
        // the one GET gets, its Content-Length included.
        let (get_head, _) = get.split_once("\r\n\r\n").unwrap();
        assert_eq!(head, format!("{get_head}\r\n\r\n"));
    });
}

#[test]
fn method_not_allowed_lists_each_method_once() {
    run(async {
        let router = Router::new()
            .get("/x", |_, _| async { Response::from("x") })
            .get("/:any", |_, _| async { Response::from("any") });
        let addr = routed(router).await;
        let response = blocking(move || {
            raw_exchange(
                addr,
                b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
            )
        })
        .await;
        assert_eq!(response.status, 405);
        assert_eq!(response.header("allow"), Some("GET, HEAD"));
    });
}
