//! [`Timer`]: one resettable deadline on the runtime's clock.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use super::Clock;

/// A deadline that fires once when reached, and can be moved with
/// [`set_at`](Self::set_at). Until first armed it never fires, and costs
/// no registration with the runtime's timer wheel.
pub(crate) struct Timer(Kind);

enum Kind {
    /// On a manual [`Clock`]: fires when the clock passes `at`.
    Manual {
        clock: Clock,
        id: u64,
        at: Option<Instant>,
    },
    #[cfg(any(feature = "async-std", feature = "smol"))]
    AsyncIo(async_io::Timer),
    #[cfg(feature = "tokio")]
    Tokio {
        handle: tokio::runtime::Handle,
        /// Made on first use: a tokio `Sleep` is not free, and most
        /// connections' timers are never armed.
        sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    },
}

impl Timer {
    #[cfg(any(feature = "async-std", feature = "smol"))]
    pub(super) fn async_io() -> Timer {
        Timer(Kind::AsyncIo(async_io::Timer::never()))
    }

    #[cfg(feature = "tokio")]
    pub(super) fn tokio(handle: tokio::runtime::Handle) -> Timer {
        Timer(Kind::Tokio {
            handle,
            sleep: None,
        })
    }

    pub(super) fn manual(clock: Clock) -> Timer {
        let id = clock.timer_id();
        Timer(Kind::Manual {
            clock,
            id,
            at: None,
        })
    }

    /// Fires at `at` (and not at any earlier deadline).
    pub(crate) fn set_at(&mut self, at: Instant) {
        match &mut self.0 {
            Kind::Manual { at: deadline, .. } => *deadline = Some(at),
            #[cfg(any(feature = "async-std", feature = "smol"))]
            Kind::AsyncIo(timer) => timer.set_at(at),
            #[cfg(feature = "tokio")]
            Kind::Tokio { handle, sleep } => match sleep {
                Some(sleep) => sleep.as_mut().reset(at.into()),
                None => {
                    // The sleep registers with this handle's clock.
                    let _entered = handle.enter();
                    *sleep = Some(Box::pin(tokio::time::sleep_until(at.into())));
                }
            },
        }
    }
}

impl Future for Timer {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.0 {
            Kind::Manual { clock, id, at } => match at {
                Some(at) if clock.poll_deadline(*id, *at, cx.waker()) => Poll::Ready(()),
                _ => Poll::Pending,
            },
            #[cfg(any(feature = "async-std", feature = "smol"))]
            Kind::AsyncIo(timer) => Pin::new(timer).poll(cx).map(drop),
            #[cfg(feature = "tokio")]
            Kind::Tokio { sleep, .. } => match sleep {
                Some(sleep) => sleep.as_mut().poll(cx),
                None => Poll::Pending,
            },
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        if let Kind::Manual { clock, id, .. } = &self.0 {
            clock.forget(*id);
        }
    }
}
