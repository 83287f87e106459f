//! What one process may hold of the kernel's shared resources at once.
//!
//! Every system call served by a kernel coroutine or thread, and every
//! kernel buffer or kernel-thread stack one needs, is charged to the
//! calling process before it is allocated, and given back when the call's
//! future is dropped (it completed, it was refused, or its process died).
//! A charge also takes from a kernel-wide byte budget, so many processes
//! together cannot exhaust the kernel heap either.
//!
//! Exhausted: the process's own quota gives `-EAGAIN` (its calls in flight
//! must finish first); the kernel-wide budget gives `-ENOMEM`.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use rcore_n_abi::Errno;

/// Calls in flight per process (blocking and asynchronous together).
pub const MAX_CALLS: usize = 384;
/// Bytes of kernel buffers and kernel-thread stacks per process.
pub const MAX_CALL_BYTES: usize = 1 << 20;
/// Bytes of kernel buffers and kernel-thread stacks, all processes (half
/// the kernel heap: the rest is left for the kernel's own structures).
pub const GLOBAL_CALL_BYTES: usize = 8 << 20;

static CALLS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);

/// Calls in flight, all processes.
pub fn calls() -> usize {
    CALLS.load(Relaxed)
}

/// Bytes charged, all processes.
pub fn bytes() -> usize {
    BYTES.load(Relaxed)
}

/// One process's counters (shared with its charges, which may outlive it
/// by the time their futures are dropped).
#[derive(Default)]
pub struct Quota {
    calls: AtomicUsize,
    bytes: AtomicUsize,
}

/// Add `n` to `counter` unless that passes `limit`.
fn take(counter: &AtomicUsize, n: usize, limit: usize) -> bool {
    counter
        .fetch_update(Relaxed, Relaxed, |v| {
            v.checked_add(n).filter(|&t| t <= limit)
        })
        .is_ok()
}

impl Quota {
    /// Charge `calls` calls and `bytes` bytes, or refuse.
    pub fn charge(self: &Arc<Self>, calls: usize, bytes: usize) -> Result<Charge, Errno> {
        if !take(&self.calls, calls, MAX_CALLS) {
            return Err(Errno::Again);
        }
        if !take(&self.bytes, bytes, MAX_CALL_BYTES) {
            self.calls.fetch_sub(calls, Relaxed);
            return Err(Errno::Again);
        }
        if !take(&BYTES, bytes, GLOBAL_CALL_BYTES) {
            self.calls.fetch_sub(calls, Relaxed);
            self.bytes.fetch_sub(bytes, Relaxed);
            return Err(Errno::NoMem);
        }
        CALLS.fetch_add(calls, Relaxed);
        Ok(Charge {
            quota: self.clone(),
            calls,
            bytes,
        })
    }
}

/// Resources charged to a process; given back on drop.
pub struct Charge {
    quota: Arc<Quota>,
    calls: usize,
    bytes: usize,
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.quota.calls.fetch_sub(self.calls, Relaxed);
        self.quota.bytes.fetch_sub(self.bytes, Relaxed);
        CALLS.fetch_sub(self.calls, Relaxed);
        BYTES.fetch_sub(self.bytes, Relaxed);
    }
}
