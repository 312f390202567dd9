//! What the server logs (through the `log` facade) about accepted,
//! rejected, refused and closed connections.

use std::io::Write;

use crate::common::{self, *};

/// Every log record of this test binary, captured by [`capture_logs`].
static LOGS: std::sync::Mutex<Vec<(log::Level, String)>> = std::sync::Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        if record.target().starts_with("wsgate") {
            let mut logs = LOGS.lock().unwrap_or_else(|p| p.into_inner());
            logs.push((record.level(), record.args().to_string()));
        }
    }

    fn flush(&self) {}
}

/// Installs the capturing logger (once per process).
fn capture_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        log::set_logger(&Capture).expect("no other logger");
        log::set_max_level(log::LevelFilter::Debug);
    });
}

/// The captured records that contain every one of `words`.
fn logged(words: &[&str]) -> Vec<(log::Level, String)> {
    LOGS.lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter(|(_, line)| words.iter().all(|w| line.contains(w)))
        .cloned()
        .collect()
}

#[test]
fn logs_accepted_rejected_refused_and_closed_connections() {
    common::run(async move {
        capture_logs();
        let ops = ops_server(quiet_config()).await;
        let addr = ops.addr;
        // Accepted, then closed by the client with 1000.
        let client = blocking(move || {
            let mut ws = ws_connect(addr, "/logged");
            let local = ws.get_ref().local_addr().unwrap();
            ws.close(None).unwrap();
            ws_finish_close(&mut ws);
            local
        });
        let local = within("client", client).await;
        let acc = ops.accepted().await;
        let id = acc.conn.id().to_string();
        within("the close", acc.conn.closed()).await;
        // Rejected by the application, and refused as an invalid handshake.
        let rejected = blocking(move || ws_expect_rejection(addr, ws_request(addr, "/reject")).0);
        assert_eq!(within("rejection", rejected).await, 403);
        let bad = blocking(move || {
            let mut s = tcp(addr);
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n")
                .unwrap();
            let (status, _) = read_http_head(&mut s).unwrap();
            (status, s.local_addr().unwrap())
        });
        let (status, bad_addr) = within("bad handshake", bad).await;
        assert_eq!(status, 400);

        let accepted = logged(&[&format!("{id} accepted from {local}")]);
        assert_eq!(accepted.len(), 1, "{accepted:?}");
        assert_eq!(accepted[0].0, log::Level::Info);
        eventually("the close to be logged", TIMEOUT, || {
            !logged(&[&format!("{id} closed with 1005")]).is_empty()
                || !logged(&[&format!("{id} closed with 1000")]).is_empty()
        })
        .await;
        let rejections = logged(&["rejected with 403", "go away"]);
        assert!(
            rejections
                .iter()
                .any(|(level, _)| *level == log::Level::Info),
            "{rejections:?}"
        );
        let refusals = logged(&[&format!("bad handshake from {bad_addr}")]);
        assert_eq!(refusals.len(), 1, "{refusals:?}");
        assert_eq!(refusals[0].0, log::Level::Debug);
    })
}
