//! The `EventHandlers` layer sees what the event stream sees.

use std::net::SocketAddr;

use crate::common::{self, *};
use async_channel::{Receiver, Sender, unbounded};
use tungstenite::Message as WsMessage;
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use wsgate::{CloseCode, CloseEvent, Config, Connection, Error, Event, Message, ProtocolError};

/// A server running `EventHandlers` on every connection: messages are
/// echoed (and "ping me" makes the app ping), and every handler call is
/// reported as the matching `Event`.
struct HandlerServer {
    addr: SocketAddr,
    events: Receiver<Event>,
    done: Receiver<()>,
}

impl HandlerServer {
    async fn until_close(&self) -> Vec<Event> {
        let mut seen = Vec::new();
        for _ in 0..1000 {
            let event = within("a handler call", self.events.recv()).await.unwrap();
            let last = matches!(event, Event::Close(_));
            seen.push(event);
            if last {
                // The handlers' task ends with the connection.
                within("the handlers to finish", self.done.recv())
                    .await
                    .unwrap();
                return seen;
            }
        }
        panic!("no close among {} handler calls", seen.len());
    }
}

fn report<T: Send + 'static>(
    tx: &Sender<Event>,
    wrap: fn(T) -> Event,
) -> impl FnMut(T) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send + 'static
{
    let tx = tx.clone();
    move |value| {
        let tx = tx.clone();
        Box::pin(async move {
            let _ = tx.send(wrap(value)).await;
        })
    }
}

async fn handler_server(config: Config, full: bool) -> HandlerServer {
    let server = request_server(config).await;
    let (tx, events) = unbounded();
    let (done_tx, done) = unbounded();
    let requests = server.requests;
    common::spawn(async move {
        while let Ok(request) = requests.recv().await {
            let Ok(conn) = request.accept(None, None).await else {
                continue;
            };
            let tx = tx.clone();
            let done_tx = done_tx.clone();
            common::spawn(async move {
                let handlers = if full {
                    full_handlers(conn, &tx)
                } else {
                    // Only a close handler: everything else is dropped.
                    conn.handlers().on_close(report(&tx, Event::Close))
                };
                handlers.run().await;
                let _ = done_tx.send(()).await;
            });
        }
    });
    HandlerServer {
        addr: server.addr,
        events,
        done,
    }
}

fn full_handlers(conn: Connection, tx: &Sender<Event>) -> wsgate::EventHandlers {
    let echo = conn.clone();
    let message_tx = tx.clone();
    conn.handlers()
        .on_message(move |message: Message| {
            let echo = echo.clone();
            let tx = message_tx.clone();
            async move {
                if message == Message::from("ping me") {
                    echo.ping(b"from app".to_vec()).unwrap();
                }
                let _ = tx.send(Event::Message(message.clone())).await;
                let _ = echo.send(message).await;
            }
        })
        .on_fragment(report(tx, Event::Fragment))
        .on_ping(report(tx, Event::Ping))
        .on_pong(report(tx, Event::Pong))
        .on_close(report(tx, Event::Close))
        .on_error(report(tx, Event::Error))
}

/// The same client conversation for both servers: text, binary, a ping, and
/// a close with 4000.
fn conversation(addr: SocketAddr) {
    let mut ws = ws_connect(addr, "/");
    ws.send(WsMessage::text("hello")).unwrap();
    assert_eq!(ws_read_data(&mut ws), WsMessage::text("hello"));
    ws.send(WsMessage::binary(vec![1u8, 2, 3])).unwrap();
    assert_eq!(ws_read_data(&mut ws), WsMessage::binary(vec![1u8, 2, 3]));
    ws.send(WsMessage::Ping("p".into())).unwrap();
    assert_eq!(ws.read().unwrap(), WsMessage::Pong("p".into()));
    ws.close(Some(CloseFrame {
        code: WsCloseCode::from(4000),
        reason: "bye".into(),
    }))
    .unwrap();
    let echoed = ws_finish_close(&mut ws).expect("close code");
    assert_eq!(u16::from(echoed.code), 4000);
}

fn debug_all(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| format!("{e:?}")).collect()
}

#[test]
fn handlers_see_the_same_events_as_the_stream() {
    common::run(async move {
        let handlers = handler_server(Config::default(), true).await;
        let addr = handlers.addr;
        within("client", blocking(move || conversation(addr))).await;
        let via_handlers = handlers.until_close().await;

        let stream = echo_server(Config::default()).await;
        let addr = stream.addr;
        within("client", blocking(move || conversation(addr))).await;
        let via_stream = stream.events_until_close().await;

        assert_eq!(debug_all(&via_handlers), debug_all(&via_stream));
        assert_eq!(via_handlers.len(), 4, "{via_handlers:?}");
        assert!(matches!(&via_handlers[0], Event::Message(Message::Text(t)) if t == "hello"));
        assert!(matches!(&via_handlers[1], Event::Message(Message::Binary(b)) if b == &[1, 2, 3]));
        assert!(matches!(&via_handlers[2], Event::Ping(p) if p == b"p"));
        let Event::Close(close) = &via_handlers[3] else {
            panic!("{via_handlers:?}")
        };
        assert_eq!(
            close,
            &CloseEvent {
                code: CloseCode::from(4000),
                reason: "bye".into(),
                clean: true,
            }
        );
    })
}

#[test]
fn on_pong_sees_the_answer_to_an_app_ping() {
    common::run(async move {
        let server = handler_server(Config::default(), true).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut ws = ws_connect(addr, "/");
            ws.send(WsMessage::text("ping me")).unwrap();
            // The app pings before it echoes.
            assert_eq!(ws.read().unwrap(), WsMessage::Ping("from app".into()));
            assert_eq!(ws_read_data(&mut ws), WsMessage::text("ping me"));
            ws.flush().unwrap(); // our pong
            ws.close(None).unwrap();
            ws_finish_close(&mut ws);
        });
        within("client", client).await;
        let events = server.until_close().await;
        assert!(matches!(&events[0], Event::Message(_)), "{events:?}");
        assert!(
            matches!(&events[1], Event::Pong(p) if p == b"from app"),
            "{events:?}"
        );
        assert!(matches!(&events[2], Event::Close(c) if c.clean && c.code == CloseCode::NO_STATUS));
    })
}

#[test]
fn on_error_then_on_close_for_a_protocol_error() {
    common::run(async move {
        let server = handler_server(Config::default(), true).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut raw = RawClient::handshake(addr);
            raw.send(&frame(true, 0x1, b"\xc3\x28"));
            let (close, _) = raw.read_until_close();
            raw.expect_eof();
            close.map(|c| c.0)
        });
        assert_eq!(within("client", client).await, Some(1007));
        let events = server.until_close().await;
        assert!(
            matches!(
                &events[..],
                [Event::Error(Error::Protocol(ProtocolError::InvalidUtf8)), Event::Close(c)]
                    if c.code == CloseCode::INVALID_PAYLOAD && !c.clean
            ),
            "{events:?}"
        );
    })
}

#[test]
fn on_fragment_sees_frames_when_assembly_is_off() {
    common::run(async move {
        let mut config = Config::default();
        config.assemble_messages = false;
        let server = handler_server(config, true).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut raw = RawClient::handshake(addr);
            let mut bytes = frame(false, 0x2, b"12");
            bytes.extend(frame(true, 0x0, b"3"));
            bytes.extend(close_frame(1000, ""));
            raw.send(&bytes);
            raw.read_until_close().0
        });
        assert_eq!(within("client", client).await, Some((1000, String::new())));
        let events = server.until_close().await;
        let shape: Vec<(Vec<u8>, bool, bool)> = events
            .iter()
            .filter_map(|e| match e {
                Event::Fragment(f) => Some((f.data.clone(), f.first, f.last)),
                _ => None,
            })
            .collect();
        assert_eq!(
            shape,
            [(b"12".to_vec(), true, false), (b"3".to_vec(), false, true)]
        );
        assert_eq!(events.len(), 3, "{events:?}");
    })
}

#[test]
fn pings_are_answered_without_a_ping_handler() {
    common::run(async move {
        let server = handler_server(Config::default(), false).await;
        let addr = server.addr;
        let client = blocking(move || {
            let mut ws = ws_connect(addr, "/");
            ws.send(WsMessage::text("dropped")).unwrap();
            ws.send(WsMessage::Ping("still answered".into())).unwrap();
            assert_eq!(ws.read().unwrap(), WsMessage::Pong("still answered".into()));
            ws.close(None).unwrap();
            ws_finish_close(&mut ws);
        });
        within("client", client).await;
        let events = server.until_close().await;
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(matches!(&events[0], Event::Close(c) if c.clean));
    })
}
