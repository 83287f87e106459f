//! The one waiting primitive of the kernel: a queue of wakers and a future
//! that waits until a condition holds. Pipes, joins, waitpid, upcall waits
//! and the end of a process's calls all use it, so "check, register,
//! re-check" (no lost wake-up) is written once.
//!
//! A waiter that goes away before it is woken (its coroutine was cancelled,
//! or its process died) takes its waker out of the queue when it is
//! dropped: a waker pins its coroutine's slot, so one left behind would keep
//! a dead reader's slot until the next notify, possibly forever.

use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use core::task::{Context, Poll, Waker};

/// Wakers held by all wait queues together (`kstat(WAITERS)`, with the
/// sleep queue's).
static WAITERS: AtomicUsize = AtomicUsize::new(0);
/// Registration keys, unique for the kernel's lifetime.
static NEXT_KEY: AtomicU64 = AtomicU64::new(0);

/// Wakers in all wait queues.
pub fn waiters() -> usize {
    WAITERS.load(Relaxed)
}

/// Coroutines waiting for something to change, by registration key, in
/// registration order. A vector, not a map: most queues hold one or two
/// waiters (a socket's reader, a pipe's), and a map's smallest node is
/// about 270 bytes (512 from the heap) where one waiter is 24.
#[derive(Default)]
pub struct WaitQueue(spin::Mutex<Vec<(u64, Waker)>>);

impl WaitQueue {
    pub const fn new() -> Self {
        Self(spin::Mutex::new(Vec::new()))
    }

    /// Wake every waiter (they re-check their condition).
    pub fn notify_all(&self) {
        let wakers = core::mem::take(&mut *self.0.lock());
        WAITERS.fetch_sub(wakers.len(), Relaxed);
        for (_, w) in wakers {
            w.wake();
        }
    }

    /// Wait until `ready` returns `Some`, and return it.
    pub fn until<T, F: FnMut() -> Option<T>>(&self, ready: F) -> Until<'_, F> {
        Until {
            queue: self,
            key: Self::new_key(),
            ready,
        }
    }

    /// A key for [`Self::register`], unique for the kernel's lifetime.
    pub fn new_key() -> u64 {
        NEXT_KEY.fetch_add(1, Relaxed)
    }

    /// Put `waker` under `key` (replacing an older waker of the same
    /// waiter). The owner of `key` must [`Self::unregister`] it when it
    /// stops waiting.
    pub fn register(&self, key: u64, waker: &Waker) {
        let mut q = self.0.lock();
        match q.iter_mut().find(|(k, _)| *k == key) {
            Some((_, w)) if w.will_wake(waker) => {}
            Some((_, w)) => *w = waker.clone(),
            None => {
                q.push((key, waker.clone()));
                WAITERS.fetch_add(1, Relaxed);
            }
        }
    }

    /// Take `key`'s waker out, if it is still there.
    pub fn unregister(&self, key: u64) {
        let mut q = self.0.lock();
        if let Some(i) = q.iter().position(|(k, _)| *k == key) {
            q.remove(i);
            WAITERS.fetch_sub(1, Relaxed);
            if q.is_empty() {
                // Give the room back (a burst of waiters left it large).
                *q = Vec::new();
            }
        }
    }
}

/// The future of [`WaitQueue::until`].
pub struct Until<'a, F> {
    queue: &'a WaitQueue,
    key: u64,
    ready: F,
}

impl<T, F: FnMut() -> Option<T> + Unpin> Future for Until<'_, F> {
    type Output = T;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if let Some(v) = (self.ready)() {
            return Poll::Ready(v);
        }
        self.queue.register(self.key, cx.waker());
        // Re-check after registering: a change between the first check and
        // the registration would otherwise be missed.
        match (self.ready)() {
            Some(v) => Poll::Ready(v),
            None => Poll::Pending,
        }
    }
}

impl<F> Drop for Until<'_, F> {
    fn drop(&mut self) {
        self.queue.unregister(self.key);
    }
}
