//! System calls with two forms from one definition (the papers'
//! `#[async_fn]`): `read(fd, &mut buf).await` waits in this coroutine only
//! (the kernel serves it on a kernel coroutine and wakes us by user
//! interrupt), `read(fd, &mut buf).wait()` blocks the thread.

use core::future::{Future, IntoFuture};
use core::marker::PhantomData;
use core::pin::Pin;
use core::sync::atomic::Ordering::*;
use core::task::{Context, Poll};

use rcore_n_abi::{AsyncSlot, Errno, nr};

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
pub static LAST_LATENCY: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// The asynchronous form in flight.
pub struct AsyncCall<'a> {
    call: Option<Call<'a>>,
    slot: Option<&'static AsyncSlot>,
}

fn take_slot() -> Option<&'static AsyncSlot> {
    SLOT_TABLE.iter().find(|s| {
        s.state
            .compare_exchange(AsyncSlot::FREE, AsyncSlot::WAITING, Acquire, Relaxed)
            .is_ok()
    })
}

impl Future for AsyncCall<'_> {
    type Output = Result<usize, Errno>;
    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(call) = self.call.take() {
            let (Some(cid), Some(slot)) = (crate::current_id(), take_slot()) else {
                return Poll::Ready(call.wait()); // outside the executor, or no slot free
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
                slot.state.store(AsyncSlot::FREE, Release);
                return Poll::Ready(check(r));
            }
            self.slot = Some(slot);
        }
        let slot = self.slot.expect("polled after completion");
        if slot.state.load(Acquire) != AsyncSlot::DONE {
            return Poll::Pending; // the kernel's wake record will poll us again
        }
        let r = slot.result.load(Relaxed) as isize;
        LAST_LATENCY.store(
            crate::syscall::ticks().wrapping_sub(slot.posted_at.load(Relaxed)),
            Relaxed,
        );
        slot.state.store(AsyncSlot::FREE, Release);
        self.slot = None;
        Poll::Ready(check(r))
    }
}

impl Drop for AsyncCall<'_> {
    fn drop(&mut self) {
        let Some(slot) = self.slot.take() else { return };
        // Give up: the kernel then writes nothing. If it is already copying
        // into our buffers, wait for it to finish before they go away.
        loop {
            match slot.state.compare_exchange(
                AsyncSlot::WAITING,
                AsyncSlot::ABANDONED,
                AcqRel,
                Acquire,
            ) {
                Ok(_) => return,
                Err(AsyncSlot::BUSY) => crate::syscall::sched_yield(),
                Err(_) => {
                    slot.state.store(AsyncSlot::FREE, Release);
                    return;
                }
            }
        }
    }
}
