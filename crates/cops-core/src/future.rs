//! Small futures every coroutine needs.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::CoroutineId;

/// Give the CPU to the next ready coroutine of the same or higher priority
/// (the coroutine goes to the back of its level).
pub fn yield_now() -> YieldNow {
    YieldNow(false)
}

/// Future of [`yield_now`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// The id of the calling coroutine (the paper's `getcid`), read from the
/// waker it is polled with: no per-CPU lookup, no system call. `None` when
/// awaited outside a cops executor.
pub fn current_id() -> CurrentId {
    CurrentId
}

/// Future of [`current_id`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct CurrentId;

impl Future for CurrentId {
    type Output = Option<CoroutineId>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(crate::raw::id_of(cx.waker()))
    }
}
