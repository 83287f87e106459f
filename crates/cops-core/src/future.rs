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

/// A future in cache lines of its own: 128-byte aligned, so that the
/// allocation (or static slot) holding it shares no line, nor the line
/// the CPU prefetches with it, with another coroutine's state.
///
/// Coroutines spawned one after another sit side by side in memory, and
/// once slots and allocations are recycled, neighbours often run on
/// different workers: each poll then steals the line from the other CPU.
/// Wrap the futures of coroutines that run on several workers and are
/// polled often; leave small, mostly idle ones compact (a boxed coroutine
/// with a 16-byte future takes 40 bytes of heap, 256 wrapped).
///
/// ```
/// use cops_core::{CacheAligned, Executor, NoPlatform, Priority};
///
/// let exec = Executor::leak(8, NoPlatform);
/// exec.spawn(CacheAligned(async { cops_core::yield_now().await }), Priority::new(3).unwrap())
///     .unwrap();
/// assert_eq!(exec.run_until_idle(), 2);
/// ```
#[repr(align(128))]
#[derive(Clone, Copy, Debug, Default)]
#[must_use = "futures do nothing unless awaited"]
pub struct CacheAligned<F>(pub F);

impl<F: Future> Future for CacheAligned<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: structural pinning of the only field: `CacheAligned` has
        // no `Drop`, is `Unpin` only if `F` is, and never moves `F` out
        // of a pinned `self`.
        unsafe { self.map_unchecked_mut(|c| &mut c.0) }.poll(cx)
    }
}
