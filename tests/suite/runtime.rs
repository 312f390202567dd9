//! Which runtime runs wsgate: its tasks on the chosen runtime's threads.

use std::sync::{Arc, Mutex};

use futures::StreamExt;
use wsgate::runtime::Runtime;

use crate::common::run as block_on;
use wsgate::{Client, Event, Server};

/// The thread-name prefix of the runtime this build defaults to.
fn expected_prefix(runtime: &Runtime) -> &'static str {
    match runtime.name() {
        "async-std" => "async-std/runtime",
        "smol" => "smol-",
        "tokio" => "tokio-", // tokio-rt-worker (tokio-runtime-worker before 1.4x)
        other => panic!("unknown runtime {other}"),
    }
}

#[test]
fn handlers_writers_and_clients_run_on_the_chosen_runtime() {
    let ran_on = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = ran_on.clone();
    let spawned_on = ran_on.clone();
    let runtime = block_on(async move {
        let server = Server::bind("127.0.0.1:0").await.unwrap();
        let runtime = server.runtime().clone();
        assert_eq!(runtime, Runtime::current());
        let addr = server.local_addr();
        let serving = server.serve(move |request| {
            let seen = seen.clone();
            async move {
                let here = std::thread::current().name().unwrap_or("?").to_owned();
                seen.lock().unwrap().push(here);
                let Ok(conn) = request.accept(None, None).await else {
                    return;
                };
                let mut events = conn.events();
                while let Some(Event::Message(m)) = events.next().await {
                    let _ = conn.send(m).await;
                }
            }
        });
        let conn = Client::new()
            .connect(&format!("ws://{addr}/"))
            .await
            .unwrap();
        conn.send("ping?").await.unwrap();
        let mut events = conn.events();
        match events.next().await {
            Some(Event::Message(m)) => assert_eq!(m, wsgate::Message::Text("ping?".into())),
            other => panic!("expected the echo, got {other:?}"),
        }
        // A task spawned through the seam runs there too.
        let spawned = wsgate::runtime::spawn(async {
            std::thread::current().name().unwrap_or("?").to_owned()
        })
        .await;
        spawned_on.lock().unwrap().push(spawned);
        drop(serving);
        runtime
    });
    let prefix = expected_prefix(&runtime);
    let ran_on = ran_on.lock().unwrap().clone();
    assert_eq!(ran_on.len(), 2, "{ran_on:?}");
    for name in &ran_on {
        assert!(
            name.starts_with(prefix),
            "a task ran on {name:?}, not on {prefix}*"
        );
    }
    // That no other runtime's code is even linked into a smol or tokio
    // build is .ci/run's `cargo tree` check: threads cannot show it here,
    // where other tests' clients share the process.
}

#[test]
fn timers_and_blocking_work_run_on_the_runtime() {
    block_on(async {
        let runtime = Runtime::current();
        let start = std::time::Instant::now();
        runtime.sleep(std::time::Duration::from_millis(30)).await;
        assert!(start.elapsed() >= std::time::Duration::from_millis(30));
        // send_file reads on the blocking pool: a file goes out whole.
        let server = Server::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr();
        let path = std::env::temp_dir().join(format!("wsgate-runtime-{}", std::process::id()));
        let content: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &content).unwrap();
        let sent_path = path.clone();
        let _serving = server.serve(move |request| {
            let path = sent_path.clone();
            async move {
                let conn = request.accept(None, None).await.unwrap();
                conn.send_file(&path).await.unwrap();
                conn.closed().await;
            }
        });
        let conn = Client::new()
            .connect(&format!("ws://{addr}/"))
            .await
            .unwrap();
        let mut events = conn.events();
        match events.next().await {
            Some(Event::Message(m)) => assert_eq!(m.as_bytes(), &content[..]),
            other => panic!("expected the file, got {other:?}"),
        }
        std::fs::remove_file(&path).unwrap();
    });
}
