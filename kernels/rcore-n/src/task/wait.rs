//! The one waiting primitive of the kernel: a queue of wakers and a future
//! that waits until a condition holds. Pipes, joins, waitpid and exits all
//! use it, so "check, register, re-check" (no lost wake-up) is written once.

use alloc::vec::Vec;
use core::future::poll_fn;
use core::task::{Poll, Waker};

/// Coroutines waiting for something to change.
#[derive(Default)]
pub struct WaitQueue(spin::Mutex<Vec<Waker>>);

impl WaitQueue {
    pub const fn new() -> Self {
        Self(spin::Mutex::new(Vec::new()))
    }

    /// Wake every waiter (they re-check their condition).
    pub fn notify_all(&self) {
        let wakers = core::mem::take(&mut *self.0.lock());
        for w in wakers {
            w.wake();
        }
    }

    /// Wait until `ready` returns `Some`, and return it.
    pub async fn until<T>(&self, mut ready: impl FnMut() -> Option<T>) -> T {
        poll_fn(|cx| {
            if let Some(v) = ready() {
                return Poll::Ready(v);
            }
            {
                let mut q = self.0.lock();
                if !q.iter().any(|w| w.will_wake(cx.waker())) {
                    q.push(cx.waker().clone());
                }
            }
            // Re-check after registering: a change between the first check
            // and the registration would otherwise be missed.
            match ready() {
                Some(v) => Poll::Ready(v),
                None => Poll::Pending,
            }
        })
        .await
    }
}
