//! Servers built from the public API, reporting to the test: every
//! request ([`request_server`]), every connection and event of an echo
//! server ([`echo_server`]), or the connections an application function
//! accepted ([`app_server`]).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use async_channel::{Receiver, Sender, TryRecvError, unbounded};
use futures::StreamExt;
use http_types::StatusCode;
use wsgate::{
    CloseEvent, Config, Connection, ConnectionId, Event, Message, Server, ServerBuilder,
    ServerHandle, WebSocketRequest,
};

use super::{sleep, spawn, within};

/// A server whose requests are handed to the test.
pub struct RequestServer {
    pub addr: SocketAddr,
    pub handle: ServerHandle,
    pub requests: Receiver<WebSocketRequest>,
}

impl RequestServer {
    /// The next request, within [`TIMEOUT`].
    pub async fn next(&self) -> WebSocketRequest {
        within("a request", self.requests.recv())
            .await
            .expect("the server stopped")
    }

    /// Fails if a request reached the application (a negative check:
    /// nothing announces that none came, so it waits a short while).
    pub async fn assert_no_request(&self) {
        sleep(Duration::from_millis(50)).await;
        match self.requests.try_recv() {
            Err(TryRecvError::Empty) => {}
            Ok(request) => panic!("a bad handshake reached the application: {request:?}"),
            Err(e) => panic!("request channel: {e}"),
        }
    }
}

/// Binds 127.0.0.1:0 with `config` and hands every request to the test.
pub async fn request_server(config: Config) -> RequestServer {
    request_server_with(Server::builder().config(config)).await
}

/// As [`request_server`], from a builder (e.g. with an HTTP handler).
pub async fn request_server_with(builder: ServerBuilder) -> RequestServer {
    let mut server = builder.bind("127.0.0.1:0").await.expect("bind");
    let addr = server.local_addr();
    let handle = server.handle();
    let (tx, rx) = unbounded();
    spawn(async move {
        while let Some(request) = server.next().await {
            if tx.send(request).await.is_err() {
                break;
            }
        }
    });
    RequestServer {
        addr,
        handle,
        requests: rx,
    }
}

/// A server that accepts everything and echoes every message. Each
/// connection is handed to the test on `conns`, and every event it sees is
/// reported on `events` (messages before they are echoed).
pub struct EchoServer {
    pub addr: SocketAddr,
    pub conns: Receiver<Connection>,
    pub events: Receiver<(ConnectionId, Event)>,
}

impl EchoServer {
    /// The next accepted connection, within [`TIMEOUT`].
    pub async fn conn(&self) -> Connection {
        within("a connection", self.conns.recv())
            .await
            .expect("the server stopped")
    }

    /// The next event of any connection, within [`TIMEOUT`].
    pub async fn event(&self) -> Event {
        within("an event", self.events.recv())
            .await
            .expect("the server stopped")
            .1
    }

    /// Events up to and including the first `Close` (at most 10 000).
    pub async fn events_until_close(&self) -> Vec<Event> {
        let mut seen = Vec::new();
        for _ in 0..10_000 {
            let event = self.event().await;
            let done = matches!(event, Event::Close(_));
            seen.push(event);
            if done {
                return seen;
            }
        }
        panic!("no close event among {} events", seen.len());
    }
}

/// Binds 127.0.0.1:0 with `config` and echoes on every connection.
pub async fn echo_server(config: Config) -> EchoServer {
    let server = Server::builder()
        .config(config)
        .bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = server.local_addr();
    serve_echo_server(server, addr)
}

/// An in-memory echo server keeping time with `clock`
/// ([`wsgate::testing::server`]): its `addr` is the in-memory server
/// end's; connect through the connector.
pub fn memory_echo_server(
    config: Config,
    clock: &wsgate::testing::Clock,
) -> (EchoServer, wsgate::testing::Connector) {
    let (server, connector) = wsgate::testing::server(config, clock);
    let addr = SocketAddr::from(([127, 0, 0, 1], 80));
    (serve_echo_server(server, addr), connector)
}

/// Runs the echo server's request loop on `server`.
fn serve_echo_server(mut server: Server, addr: SocketAddr) -> EchoServer {
    let (conn_tx, conns) = unbounded();
    let (event_tx, events) = unbounded();
    spawn(async move {
        while let Some(request) = server.next().await {
            let conn_tx = conn_tx.clone();
            let event_tx = event_tx.clone();
            spawn(async move {
                let Ok(conn) = request.accept(None, None).await else {
                    return;
                };
                let _ = conn_tx.send(conn.clone()).await;
                echo(conn, event_tx).await;
            });
        }
    });
    EchoServer {
        addr,
        conns,
        events,
    }
}

/// Echoes messages on `conn` until its event stream ends; returns every
/// event seen (each wait bounded by [`TIMEOUT`], at most 10 000 events).
pub async fn serve_echo(conn: Connection) -> Vec<Event> {
    let mut events = conn.events();
    let mut seen = Vec::new();
    for _ in 0..10_000 {
        let Some(event) = within("a connection event", events.next()).await else {
            return seen;
        };
        if let Event::Message(message) = &event {
            let _ = conn.send(message.clone()).await;
        }
        seen.push(event);
    }
    panic!("more than 10 000 events");
}

/// Echoes every message on `conn` until its event stream ends or a send
/// fails.
pub async fn echo_messages(conn: Connection) {
    let mut events = conn.events();
    while let Some(event) = events.next().await {
        if let Event::Message(message) = event
            && conn.send(message).await.is_err()
        {
            break;
        }
    }
}

async fn echo(conn: Connection, events_tx: Sender<(ConnectionId, Event)>) {
    let id = conn.id();
    let mut events = conn.events();
    // Bounded: the stream ends after its Close event.
    while let Some(event) = events.next().await {
        if let Event::Message(message) = &event {
            let message = message.clone();
            let _ = events_tx.send((id, event)).await;
            let _ = conn.send(message).await;
        } else {
            let _ = events_tx.send((id, event)).await;
        }
    }
}

/// One accepted connection as the application sees it, with the events
/// the application passed on.
pub struct Accepted {
    pub conn: Connection,
    pub events: Receiver<Event>,
}

impl Accepted {
    /// Hands `conn` to the test on `tx`; returns the sender on which the
    /// application passes its events on.
    pub async fn hand_over(conn: &Connection, tx: &Sender<Accepted>) -> Sender<Event> {
        let (events_tx, events) = unbounded();
        let _ = tx
            .send(Accepted {
                conn: conn.clone(),
                events,
            })
            .await;
        events_tx
    }

    /// The next event passed on, within [`TIMEOUT`].
    pub async fn event(&self) -> Event {
        within("a connection event", self.events.recv())
            .await
            .expect("the event stream ended")
    }

    /// The connection's Close event (skipping others; at most 100 000).
    pub async fn close_event(&self) -> CloseEvent {
        for _ in 0..100_000 {
            if let Event::Close(close) = self.event().await {
                return close;
            }
        }
        panic!("no close event");
    }

    /// Data messages received so far, without waiting.
    pub fn messages_now(&self) -> Vec<Message> {
        let mut out = Vec::new();
        loop {
            match self.events.try_recv() {
                Ok(Event::Message(m)) => out.push(m),
                Ok(_) => {}
                Err(TryRecvError::Empty | TryRecvError::Closed) => return out,
            }
        }
    }
}

/// A server whose application (a function of each request, run on a task
/// of its own) hands the connections it accepts to the test.
pub struct AppServer {
    pub addr: SocketAddr,
    pub handle: ServerHandle,
    pub accepted: Receiver<Accepted>,
}

impl AppServer {
    /// The next connection the application handed over, within [`TIMEOUT`].
    pub async fn accepted(&self) -> Accepted {
        within("an accepted connection", self.accepted.recv())
            .await
            .expect("the server stopped")
    }
}

/// Binds `addr` with `builder` and runs `application` on a task per
/// request, with a sender for the connections it accepts.
pub async fn app_server<A, F>(
    builder: ServerBuilder,
    addr: &str,
    application: A,
) -> io::Result<AppServer>
where
    A: Fn(WebSocketRequest, Sender<Accepted>) -> F + Send + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let mut server = builder.bind(addr).await?;
    let addr = server.local_addr();
    let handle = server.handle();
    let (tx, accepted) = unbounded();
    spawn(async move {
        while let Some(request) = server.next().await {
            spawn(application(request, tx.clone()));
        }
    });
    Ok(AppServer {
        addr,
        handle,
        accepted,
    })
}

/// An [`app_server`] on 127.0.0.1:0 whose application rejects `/reject`
/// with 403, accepts every other request, echoes messages (except on
/// `/quiet…` resources) and hands each connection and its events to the
/// test.
pub async fn ops_server(config: Config) -> AppServer {
    ops_server_on(Server::builder().config(config), "127.0.0.1:0")
        .await
        .expect("bind")
}

/// As [`ops_server`], from `builder` on `addr`.
pub async fn ops_server_on(builder: ServerBuilder, addr: &str) -> io::Result<AppServer> {
    app_server(builder, addr, ops_application).await
}

async fn ops_application(request: WebSocketRequest, tx: Sender<Accepted>) {
    if request.resource() == "/reject" {
        request.reject(StatusCode::Forbidden, "go away");
        return;
    }
    let Ok(conn) = request.accept(None, None).await else {
        return;
    };
    let echo = !conn.resource().starts_with("/quiet");
    let events_tx = Accepted::hand_over(&conn, &tx).await;
    let mut stream = conn.events();
    while let Some(event) = stream.next().await {
        if echo && let Event::Message(message) = &event {
            let _ = conn.send(message.clone()).await;
        }
        let _ = events_tx.send(event).await;
    }
}

/// The accepted connection on `resource`.
pub fn find(accepted: &[Accepted], resource: &str) -> Connection {
    accepted
        .iter()
        .find(|a| a.conn.resource() == resource)
        .map(|a| a.conn.clone())
        .unwrap_or_else(|| panic!("no connection on {resource}"))
}
