//! What one process may hold of the kernel's shared resources at once.
//!
//! Every system call served by a kernel coroutine or thread, and every
//! kernel buffer or kernel-thread stack one needs, is charged to the
//! calling process before it is allocated, and given back when the call's
//! future is dropped (it completed, it was refused, or its process died).
//! Bytes: each process has a small guaranteed allowance ([`OWN_BYTES`]);
//! beyond it, up to [`MAX_CALL_BYTES`], it draws from a kernel-wide pool
//! ([`POOL_BYTES`]), so many processes together cannot exhaust the kernel
//! heap, and an exhausted pool still leaves every process its allowance.
//!
//! Exhausted: the process's own quota gives `-EAGAIN` (its calls in flight
//! must finish first); the kernel-wide pool gives `-ENOMEM`.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use rcore_n_abi::Errno;

/// Calls in flight per process (blocking and asynchronous together): a
/// read waiting on every socket a process may hold, and some more.
pub const MAX_CALLS: usize = 512;
const _: () = assert!(MAX_CALLS > crate::net::MAX_SOCKETS_PER_PROCESS);
/// Bytes of kernel buffers and kernel-thread stacks per process: room for
/// about a hundred waiting socket reads on kernel threads (16 KiB stack and
/// a 2 KiB buffer each: a KT server's connections). The kernel-wide pool,
/// not this, bounds the heap.
pub const MAX_CALL_BYTES: usize = 2 << 20;
/// Bytes each process may use whatever the others do (with at most
/// `process::MAX_PROCESSES` processes: 4 MiB of the 20 MiB heap).
pub const OWN_BYTES: usize = 32 << 10;
/// Bytes shared by all processes beyond their own allowance. The 20 MiB
/// kernel heap at worst: this pool (6 MiB), the allowances (4 MiB), pipe
/// buffers (`fs::pipe::MAX_PIPES`: 1 MiB), the futures of 4096 kernel
/// coroutines and the processes' records (about 2.5 MiB), TCP sockets
/// (`net::MAX_SOCKETS`: 512 buffers of 6 KiB, 3 MiB), the kernel's own
/// structures (about 0.6 MiB, and the network's 0.5 MiB: the socket set,
/// the device's rings and frames): 17.6 MiB.
pub const POOL_BYTES: usize = 6 << 20;

static CALLS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);
/// Bytes taken from the pool. Byte charges take this lock (also for the
/// process's own count), so the split between allowance and pool is exact.
static POOL: spin::Mutex<usize> = spin::Mutex::new(0);

/// Bytes `total` bytes of one process take from the pool.
fn from_pool(total: usize) -> usize {
    total.saturating_sub(OWN_BYTES)
}

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
    /// Changed only under `POOL`.
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
        if bytes > 0 {
            let mut pool = POOL.lock();
            let had = self.bytes.load(Relaxed);
            if had + bytes > MAX_CALL_BYTES {
                drop(pool);
                self.calls.fetch_sub(calls, Relaxed);
                return Err(Errno::Again);
            }
            let more = from_pool(had + bytes) - from_pool(had);
            if *pool + more > POOL_BYTES {
                drop(pool);
                self.calls.fetch_sub(calls, Relaxed);
                return Err(Errno::NoMem);
            }
            *pool += more;
            self.bytes.store(had + bytes, Relaxed);
            BYTES.fetch_add(bytes, Relaxed);
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
        CALLS.fetch_sub(self.calls, Relaxed);
        if self.bytes > 0 {
            let mut pool = POOL.lock();
            let had = self.quota.bytes.load(Relaxed);
            *pool -= from_pool(had) - from_pool(had - self.bytes);
            self.quota.bytes.store(had - self.bytes, Relaxed);
            BYTES.fetch_sub(self.bytes, Relaxed);
        }
    }
}
