//! The user-interrupt handler: the kernel posts `Record::wake(cid)` to this
//! process's page and enters [`handler`] on a thread's return from a system
//! call; the handler drains the page and wakes each coroutine through
//! `Executor::wake` (the path every `Waker` takes), then returns through
//! `uintr_return`, which resumes the interrupted context.

use cops_core::{CoroutineId, ExecutorOps};
use cops_uintr::{ExecutorSink, PageSized};
use rcore_n_abi::{AsyncSlot, layout, nr};

use crate::{executor, syscall};

/// Asynchronous calls in flight at once (more fall back to blocking).
pub const SLOTS: usize = 512;

/// Result slots of asynchronous calls (see [`AsyncSlot`]'s protocol).
pub static SLOT_TABLE: [AsyncSlot; SLOTS] = [const { AsyncSlot::new() }; SLOTS];

fn page() -> &'static PageSized {
    // SAFETY: the kernel maps a zeroed page here in every process.
    unsafe { PageSized::from_zeroed(layout::UINTR_PAGE as *mut u8) }
}

/// Register the handler and enable delivery (before `main`).
pub fn init() {
    page().register(handler as *const () as u64, layout::UINTR_PAGE as u64);
    page().enable();
}

/// Wake every coroutine with a call in flight: records were lost to a full
/// queue, and their owners must re-check their slots.
fn resync(exec: &cops_vdso::binding::VdsoExecutor) {
    for slot in &SLOT_TABLE {
        let s = slot.state.load(core::sync::atomic::Ordering::Acquire);
        if s == AsyncSlot::WAITING || s == AsyncSlot::BUSY || s == AsyncSlot::DONE {
            let _ = exec.wake(CoroutineId::from_raw(
                slot.owner.load(core::sync::atomic::Ordering::Relaxed),
            ));
        }
    }
}

fn drain(page: &PageSized) {
    let report = page.handle(&ExecutorSink::new(executor(), resync));
    STATS
        .woken
        .fetch_add(report.woken as u64, core::sync::atomic::Ordering::Relaxed);
    STATS.rejected.fetch_add(
        report.rejected as u64,
        core::sync::atomic::Ordering::Relaxed,
    );
}

extern "C" fn handler(page_addr: usize, _cause: usize) -> ! {
    // SAFETY: the kernel passes the page address we registered.
    drain(unsafe { PageSized::from_zeroed(page_addr as *mut u8) });
    syscall::raw(nr::UINTR_RETURN, 0, 0, 0);
    unreachable!("uintr_return returned")
}

/// Between two polls (no lock held): drain pending records here rather than
/// wait for an upcall, which only comes on a return from a system call. A
/// thread busy polling ready coroutines would otherwise never hear that an
/// async call of a more urgent coroutine completed. Taking `enabled` (as an
/// upcall does) keeps this and an upcall on another thread from draining at
/// the same time.
pub fn drain_if_pending() {
    let page = page();
    if page.is_pending() && page.enter_handler() {
        drain(page);
        page.enable();
        STATS
            .inline
            .fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    }
}

/// What the handler did, for tests and benchmarks.
pub struct Stats {
    /// Coroutines woken.
    pub woken: core::sync::atomic::AtomicU64,
    /// Wakes rejected: stale ids (cancelled or finished coroutines).
    pub rejected: core::sync::atomic::AtomicU64,
    /// Drains done between polls rather than in an upcall.
    pub inline: core::sync::atomic::AtomicU64,
}

/// The handler's counters.
pub static STATS: Stats = Stats {
    woken: core::sync::atomic::AtomicU64::new(0),
    rejected: core::sync::atomic::AtomicU64::new(0),
    inline: core::sync::atomic::AtomicU64::new(0),
};
