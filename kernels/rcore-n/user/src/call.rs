//! System calls with two forms from one definition (the papers'
//! `#[async_fn]`): `read(fd, &mut buf).await` waits in this coroutine only
//! (the kernel serves it on a kernel coroutine and wakes us by user
//! interrupt), `read(fd, &mut buf).wait()` blocks the thread.
//!
//! The `.await` form never quietly blocks the thread: polled outside a
//! coroutine of this process's executor it fails with `Errno::Inval`, and
//! with every result slot taken ([`crate::uintr::SLOTS`] calls in flight)
//! with `Errno::Again`. [`STATS`] counts what the asynchronous calls did,
//! so tests can assert they really went asynchronous.

use core::future::{Future, IntoFuture};
use core::marker::PhantomData;
use core::pin::Pin;
use core::sync::atomic::{AtomicU64, Ordering::*};
use core::task::{Context, Poll};

use rcore_n_abi::{Abandon, AsyncSlot, Errno, nr};

use crate::syscall::{check, raw, raw6};
use crate::uintr::SLOT_TABLE;

/// A system call not yet made; `.await` it or `.wait()` for it. Borrows
/// the buffers it uses until it completes.
#[must_use = "a call does nothing until awaited or waited for"]
pub struct Call<'a> {
    nr: usize,
    args: [usize; 3],
    _buffers: PhantomData<&'a mut [u8]>,
}

impl Call<'_> {
    /// The blocking form: the whole thread waits.
    pub fn wait(self) -> Result<usize, Errno> {
        check(raw(self.nr, self.args[0], self.args[1], self.args[2]))
    }
}

/// Read up to `buf.len()` bytes from `fd`.
pub fn read(fd: usize, buf: &mut [u8]) -> Call<'_> {
    Call {
        nr: nr::READ,
        args: [fd, buf.as_mut_ptr() as usize, buf.len()],
        _buffers: PhantomData,
    }
}

/// Write `buf` to `fd`.
pub fn write(fd: usize, buf: &[u8]) -> Call<'_> {
    Call {
        nr: nr::WRITE,
        args: [fd, buf.as_ptr() as usize, buf.len()],
        _buffers: PhantomData,
    }
}

/// A TCP socket listening on `port`; returns its descriptor.
pub fn listen(port: u16) -> Call<'static> {
    Call {
        nr: nr::LISTEN,
        args: [port as usize, 0, 0],
        _buffers: PhantomData,
    }
}

/// The next connection on listening socket `fd`; returns its descriptor.
pub fn accept(fd: usize) -> Call<'static> {
    Call {
        nr: nr::ACCEPT,
        args: [fd, 0, 0],
        _buffers: PhantomData,
    }
}

/// Wait for child `pid` (`None`: any child) to exit and reap it; returns
/// its pid and stores its exit code in `code`.
pub fn waitpid(pid: Option<usize>, code: &mut i32) -> Call<'_> {
    Call {
        nr: nr::WAITPID,
        args: [pid.unwrap_or(usize::MAX), code as *mut i32 as usize, 0],
        _buffers: PhantomData,
    }
}

/// Wait for thread `tid` of this process to exit and reap it; returns
/// `tid` and stores its exit code in `code` (so a negative code is not
/// taken for an error).
pub fn thread_join(tid: usize, code: &mut i32) -> Call<'_> {
    Call {
        nr: nr::THREAD_JOIN,
        args: [tid, code as *mut i32 as usize, 0],
        _buffers: PhantomData,
    }
}

/// Sleep `ns` nanoseconds.
pub fn sleep(ns: u64) -> Call<'static> {
    Call {
        nr: nr::SLEEP,
        args: [ns as usize, 0, 0],
        _buffers: PhantomData,
    }
}

impl<'a> IntoFuture for Call<'a> {
    type Output = Result<usize, Errno>;
    type IntoFuture = AsyncCall<'a>;
    fn into_future(self) -> AsyncCall<'a> {
        AsyncCall {
            call: Some(self),
            slot: None,
        }
    }
}

/// `rdtime` ticks from the kernel posting the last completion to the
/// poll that saw it (for the benchmark).
pub static LAST_LATENCY: AtomicU64 = AtomicU64::new(0);

/// What this process's asynchronous calls did (all threads together).
pub struct CallStats {
    /// Accepted by the kernel as in progress (`-EINPROGRESS`): the
    /// coroutine waited and the thread went on.
    pub in_progress: AtomicU64,
    /// Of those, completed: the result came through the slot and a wake.
    pub completed: AtomicU64,
    /// Answered by the kernel at once (nothing to wait for).
    pub immediate: AtomicU64,
    /// Refused before reaching the kernel: no current coroutine (`-EINVAL`)
    /// or no free slot (`-EAGAIN`).
    pub refused: AtomicU64,
}

/// The counters of [`CallStats`].
pub static STATS: CallStats = CallStats {
    in_progress: AtomicU64::new(0),
    completed: AtomicU64::new(0),
    immediate: AtomicU64::new(0),
    refused: AtomicU64::new(0),
};

impl CallStats {
    /// The counters now.
    pub fn snapshot(&self) -> CallCounts {
        CallCounts {
            in_progress: self.in_progress.load(Relaxed),
            completed: self.completed.load(Relaxed),
            immediate: self.immediate.load(Relaxed),
            refused: self.refused.load(Relaxed),
        }
    }
}

/// A reading of [`CallStats`], or the difference of two.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallCounts {
    pub in_progress: u64,
    pub completed: u64,
    pub immediate: u64,
    pub refused: u64,
}

impl CallCounts {
    /// What happened between `earlier` and `self`.
    pub fn since(self, earlier: CallCounts) -> CallCounts {
        CallCounts {
            in_progress: self.in_progress - earlier.in_progress,
            completed: self.completed - earlier.completed,
            immediate: self.immediate - earlier.immediate,
            refused: self.refused - earlier.refused,
        }
    }
}

/// The asynchronous form in flight.
pub struct AsyncCall<'a> {
    call: Option<Call<'a>>,
    slot: Option<&'static AsyncSlot>,
}

fn take_slot() -> Option<&'static AsyncSlot> {
    SLOT_TABLE.iter().find(|s| s.claim())
}

impl Future for AsyncCall<'_> {
    type Output = Result<usize, Errno>;
    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(call) = self.call.take() {
            // No silent fallback to `call.wait()`: that would block the
            // whole thread behind the caller's back.
            let Some(cid) = crate::current_id() else {
                STATS.refused.fetch_add(1, Relaxed);
                return Poll::Ready(Err(Errno::Inval));
            };
            let Some(slot) = take_slot() else {
                STATS.refused.fetch_add(1, Relaxed);
                return Poll::Ready(Err(Errno::Again));
            };
            slot.owner.store(cid.to_raw(), Relaxed);
            let [a0, a1, a2] = call.args;
            let r = raw6(
                nr::ASYNC,
                [
                    call.nr,
                    a0,
                    a1,
                    a2,
                    slot as *const AsyncSlot as usize,
                    cid.to_raw() as usize,
                ],
            );
            if r != Errno::InProgress.ret() {
                slot.release();
                STATS.immediate.fetch_add(1, Relaxed);
                return Poll::Ready(check(r));
            }
            STATS.in_progress.fetch_add(1, Relaxed);
            self.slot = Some(slot);
        }
        let slot = self.slot.expect("polled after completion");
        let Some((r, posted_at)) = slot.take_result() else {
            return Poll::Pending; // the kernel's wake record will poll us again
        };
        LAST_LATENCY.store(crate::syscall::ticks().wrapping_sub(posted_at), Relaxed);
        self.slot = None;
        STATS.completed.fetch_add(1, Relaxed);
        Poll::Ready(check(r as isize))
    }
}

impl Drop for AsyncCall<'_> {
    fn drop(&mut self) {
        let Some(slot) = self.slot.take() else { return };
        // Give up: the kernel then writes nothing. If it is already copying
        // into our buffers, wait for it to finish before they go away.
        while slot.abandon() == Abandon::KernelBusy {
            crate::syscall::sched_yield();
        }
    }
}
