//! Mounting in another server: a stream accepted elsewhere, with the
//! bytes already read, becomes a `WebSocketRequest`.

use std::io::Write;

use crate::common::{self, *};
use async_channel::unbounded;
use futures::StreamExt;
use wsgate::{Event, Message, WebSocketRequest};

#[test]
fn a_stream_accepted_elsewhere_becomes_a_request_with_its_read_bytes() {
    common::run(async move {
        // "Another server": a plain listener that reads the first bytes of each
        // request itself, then hands the stream and those bytes over.
        let listener = ForeignListener::bind().unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, requests) = unbounded();
        common::spawn(async move {
            use futures::AsyncReadExt;
            while let Ok(mut stream) = listener.accept().await {
                let tx = tx.clone();
                common::spawn(async move {
                    let mut buffered = vec![0u8; 4096];
                    let n = stream.read(&mut buffered).await.unwrap_or(0);
                    buffered.truncate(n);
                    let peer = stream.get_ref().peer_addr().unwrap();
                    let local = stream.get_ref().local_addr().unwrap();
                    let result = WebSocketRequest::from_stream(
                        stream,
                        buffered,
                        peer,
                        local,
                        false,
                        quiet_config(),
                    )
                    .await;
                    let _ = tx.send(result).await;
                });
            }
        });

        // The head and a first frame in one write: the other server read both.
        let client = blocking(move || {
            let mut s = tcp(addr);
            let mut bytes = upgrade_request("/mounted?room=1", "").into_bytes();
            bytes.extend_from_slice(&frame(true, 0x1, b"early"));
            s.write_all(&bytes).unwrap();
            let (status, head) = read_http_head(&mut s).unwrap();
            assert_eq!(status, 101, "{head}");
            let echo = read_server_frame(&mut s).unwrap();
            s.write_all(&close_frame(1000, "")).unwrap();
            let (close, _) = read_until_close(&mut s);
            (echo, close)
        });
        let request = within("the request", requests.recv())
            .await
            .unwrap()
            .expect("a valid upgrade");
        assert_eq!(request.resource(), "/mounted?room=1");
        assert!(request.peer_addr().ip().is_loopback());
        assert_eq!(request.local_addr(), addr);
        let conn = request.accept(None, None).await.expect("accept");
        let echoed = async {
            let mut events = conn.events();
            let mut seen = Vec::new();
            while let Some(event) = events.next().await {
                if let Event::Message(m) = &event {
                    conn.send(m.clone()).await.unwrap();
                }
                seen.push(event);
            }
            seen
        };
        let seen = within("the connection", echoed).await;
        assert!(matches!(&seen[0], Event::Message(Message::Text(t)) if t == "early"));
        let (echo, close) = within("the client", client).await;
        assert_eq!(echo, (0x81, b"early".to_vec()));
        assert_eq!(close.map(|c| c.0), Some(1000));

        // A plain request handed over is answered 426 and returned as an error.
        let plain =
            blocking(move || raw_exchange(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status);
        assert_eq!(within("the plain request", plain).await, 426);
        let result = within("the result", requests.recv()).await.unwrap();
        assert!(result.is_err());
    })
}
