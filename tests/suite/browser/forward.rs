//! A page in headless Chromium talks to redis-server through
//! `examples/forward` (`tests/browser/forward.mjs`): a `redis-server` of
//! the test's own, the example as a process routing `/redis` to it and
//! allowing one page origin, and pages served by the script from that
//! origin and from another. Skipped as `chat_in_chromium` is without
//! Chromium, Node or `npm ci`, and without redis-server unless
//! `WSGATE_REQUIRE_REDIS=1`.

use super::{browser_or_skip, run_browser_script};
use crate::common::{Redis, free_port};
use crate::examples::{ExampleProcess, example};

#[test]
#[cfg(unix)]
fn redis_in_chromium_through_the_forward_example() {
    let Some(chromium) = browser_or_skip("redis_in_chromium_through_the_forward_example") else {
        return;
    };
    let Some(redis) = Redis::start() else { return };
    let Some(exe) = example("forward") else {
        panic!("the forward example could not be built");
    };
    let (good, bad) = (free_port(), free_port());
    let route = format!("/redis={}", redis.addr());
    let origin = format!("http://127.0.0.1:{good}");
    let server = ExampleProcess::start(&exe, &["--route", &route, "--allow-origin", &origin]);
    run_browser_script(
        &chromium,
        "forward.mjs",
        &[
            format!("ws://{}/redis", server.addr),
            good.to_string(),
            bad.to_string(),
        ],
        &[
            "ok: the page got +PONG from redis-server through the forward",
            "ok: a page from an origin not allowed is refused",
            "done",
        ],
    );
    drop(server);
    drop(redis);
}
