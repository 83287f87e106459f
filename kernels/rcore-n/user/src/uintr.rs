//! The user-interrupt handler: the kernel posts `Record::wake(cid)` to this
//! process's page; the handler drains the page and wakes each coroutine
//! through `Executor::wake` (the path every `Waker` takes). Two ways in:
//!
//! - **N extension** (when the kernel grants `uintr_mode(true)`): each
//!   thread points its `utvec` at [`__uintr_vector`]; the kernel raises
//!   `uip.USIP` and the hart enters the handler wherever the thread is in
//!   user mode, even in a loop with no system calls; it leaves by `uret`.
//! - **soft** (stock QEMU): the kernel enters [`handler`] as an upcall on a
//!   thread's return from a system call, and it returns through
//!   `uintr_return`, which resumes the interrupted context.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use cops_core::{CoroutineId, ExecutorOps};
use cops_uintr::riscv_n::{self, UCause, bits, hw};
use cops_uintr::{DrainReport, ExecutorSink, PageSized};
use rcore_n_abi::{AsyncSlot, layout, nr};

use crate::{executor, syscall};

/// Asynchronous calls in flight at once (more are refused, `-EAGAIN`).
pub const SLOTS: usize = 512;

/// Result slots of asynchronous calls (see [`AsyncSlot`]'s protocol).
pub static SLOT_TABLE: [AsyncSlot; SLOTS] = [const { AsyncSlot::new() }; SLOTS];

fn page() -> &'static PageSized {
    // SAFETY: the kernel maps a zeroed page here in every process.
    unsafe { PageSized::from_zeroed(layout::UINTR_PAGE as *mut u8) }
}

/// The kernel delivers through the N extension (set once, before `main`).
static HARDWARE: AtomicBool = AtomicBool::new(false);

/// Register the handler, enable delivery, and ask for hardware user
/// interrupts (before `main`). The soft registration stays: it is what
/// `uintr_wait` watches, and the fallback without N.
pub fn init() {
    page().register(handler as *const () as u64, layout::UINTR_PAGE as u64);
    page().enable();
    if syscall::uintr_mode(true).is_ok() {
        HARDWARE.store(true, Relaxed);
        init_thread();
    }
}

/// Whether user interrupts reach this process through the N extension.
pub fn hardware() -> bool {
    HARDWARE.load(Relaxed)
}

/// Point the calling thread's `utvec` at the handler and enable the user
/// software interrupt (every thread of the runtime calls this first; the
/// kernel keeps these registers per thread).
pub fn init_thread() {
    if !hardware() {
        return;
    }
    // SAFETY: the kernel granted N mode, so these CSRs exist and are the
    // calling thread's; the vector saves what it clobbers and `uret`s.
    unsafe {
        hw::write_utvec(
            riscv_n::utvec_value(
                __uintr_vector as *const () as u64,
                riscv_n::TvecMode::Direct,
            )
            .expect("aligned vector"),
        );
        hw::write_uscratch(layout::UINTR_PAGE as u64);
        hw::write_uie(bits::USER_SOFT);
        hw::enable();
    }
}

/// Go back to soft upcalls (the benchmark compares both paths). The calling
/// thread masks its user interrupts; other threads keep their `utvec` but
/// the kernel no longer raises them.
pub fn use_soft() {
    if hardware() {
        syscall::uintr_mode(false).expect("soft mode is always there");
        HARDWARE.store(false, Relaxed);
        // SAFETY: as in `init_thread`.
        unsafe { hw::disable() };
    }
}

/// Run `f` with this thread's hardware user interrupts masked (N mode;
/// without N nothing interrupts a thread between two polls anyway). A
/// test holds delivery off this way to make the queue overflow.
pub fn masked<R>(f: impl FnOnce() -> R) -> R {
    if !hardware() {
        return f();
    }
    // `uie`, not `ustatus.UIE`: the kernel keeps `uie` per thread, so the
    // mask follows the thread if it is preempted and resumed elsewhere.
    // SAFETY: N mode was granted, so the CSR exists; only masks delivery.
    let uie = unsafe { hw::read_uie() };
    // SAFETY: as above.
    unsafe { hw::write_uie(0) };
    let r = f();
    // SAFETY: as above; `init_thread` pointed `utvec` at our vector.
    unsafe { hw::write_uie(uie) };
    r
}

/// Raise a user software interrupt on this thread's own hart (what the N
/// extension lets user code do; tests use it with records they posted).
/// `false` without N.
pub fn raise_self() -> bool {
    if !hardware() {
        return false;
    }
    // SAFETY: N mode: `uip.USIP` is writable from U-mode (delegated).
    unsafe { core::arch::asm!("csrs 0x044, {}", in(reg) bits::USER_SOFT) };
    true
}

core::arch::global_asm!(
    r#"
    .section .text
    .globl __uintr_vector
    .align 2
__uintr_vector:
    # Entered by the hart in U-mode (ustatus.UIE now 0, uepc = where the
    # thread was). Save the caller-saved registers below the interrupted
    # stack (RISC-V has no red zone), 16-aligned; uscratch is the temporary.
    csrw    0x040, t0
    mv      t0, sp
    andi    sp, sp, -16
    addi    sp, sp, -144
    sd      t0, 128(sp)
    csrr    t0, 0x040
    sd      ra, 0(sp)
    sd      t0, 8(sp)
    sd      t1, 16(sp)
    sd      t2, 24(sp)
    sd      t3, 32(sp)
    sd      t4, 40(sp)
    sd      t5, 48(sp)
    sd      t6, 56(sp)
    sd      a0, 64(sp)
    sd      a1, 72(sp)
    sd      a2, 80(sp)
    sd      a3, 88(sp)
    sd      a4, 96(sp)
    sd      a5, 104(sp)
    sd      a6, 112(sp)
    sd      a7, 120(sp)
    call    {handler}
    ld      ra, 0(sp)
    ld      t0, 8(sp)
    ld      t1, 16(sp)
    ld      t2, 24(sp)
    ld      t3, 32(sp)
    ld      t4, 40(sp)
    ld      t5, 48(sp)
    ld      t6, 56(sp)
    ld      a0, 64(sp)
    ld      a1, 72(sp)
    ld      a2, 80(sp)
    ld      a3, 88(sp)
    ld      a4, 96(sp)
    ld      a5, 104(sp)
    ld      a6, 112(sp)
    ld      a7, 120(sp)
    ld      sp, 128(sp)
    # uret (LLVM no longer assembles the mnemonic)
    .word   0x00200073
    "#,
    handler = sym hardware_handler,
);

unsafe extern "C" {
    /// The `utvec` entry above.
    fn __uintr_vector();
}

/// The N-extension handler body: acknowledge `USIP`, then drain the page
/// while this thread holds the page's `enabled` bit (the mutual exclusion
/// with other threads' handlers and with [`drain_if_pending`]; whoever
/// holds it re-checks `pending` when it lets go, so nothing waits).
extern "C" fn hardware_handler() {
    STATS.hw_entries.fetch_add(1, Relaxed);
    // SAFETY: we are in the N handler, so the CSR exists.
    let cause = UCause::decode(unsafe { hw::read_ucause() });
    if !cause.is_user_soft() {
        // Only USIE is enabled; anything else is a kernel or hart bug.
        STATS.hw_other.fetch_add(1, Relaxed);
        return;
    }
    let page = page();
    let mut drained = false;
    while page.enter_handler() {
        // cops-uintr's riscv-n body: clear USIP (a post during the drain
        // raises it again), then drain and wake.
        let report = riscv_n::on_user_soft_interrupt(page, &ExecutorSink::new(executor(), resync));
        count(&report);
        STATS.hw_woken.fetch_add(report.woken, Relaxed);
        STATS.hw_rejected.fetch_add(report.rejected, Relaxed);
        if report.woken > 0 {
            PREEMPT.store(true, Relaxed);
        }
        drained = true;
        if !page.enable() {
            break;
        }
    }
    if !drained {
        // Another drain holds the page (another thread's handler, or this
        // thread's own `drain_if_pending`, which this interrupt cut into):
        // it re-checks `pending` when it lets go, so acknowledging here
        // loses nothing. Left raised, USIP would re-enter this handler
        // after `uret` forever, and the holder it interrupted would never
        // go on.
        // SAFETY: we are in the N handler, so the CSR exists.
        unsafe { hw::csr_clear_uip(bits::USER_SOFT) };
        STATS.hw_busy.fetch_add(1, Relaxed);
    }
}

/// Set by the hardware handler when it woke a coroutine: a coroutine that
/// computes for long can poll [`take_preempt`] (one load, no system call)
/// and yield so the woken one runs.
static PREEMPT: AtomicBool = AtomicBool::new(false);

/// Whether a user interrupt woke a coroutine since the last call.
pub fn take_preempt() -> bool {
    PREEMPT.load(Relaxed) && PREEMPT.swap(false, Relaxed)
}

/// Wake every coroutine with a call in flight: records were lost to a full
/// queue, and their owners must re-check their slots.
fn resync(exec: &cops_vdso::binding::VdsoExecutor) {
    for slot in &SLOT_TABLE {
        if slot.in_use() {
            let _ = exec.wake(CoroutineId::from_raw(
                slot.owner.load(core::sync::atomic::Ordering::Relaxed),
            ));
        }
    }
}

fn count(report: &DrainReport) {
    STATS.woken.fetch_add(report.woken, Relaxed);
    STATS.rejected.fetch_add(report.rejected, Relaxed);
    STATS.resyncs.fetch_add(report.resynced as u64, Relaxed);
}

fn drain(page: &PageSized) {
    count(&page.handle(&ExecutorSink::new(executor(), resync)));
}

extern "C" fn handler(page_addr: usize, _cause: usize) -> ! {
    STATS.upcalls.fetch_add(1, Relaxed);
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
///
/// Re-enabling reports whether something was posted meanwhile (a hardware
/// handler that found the page taken left it to us): drain again then.
pub fn drain_if_pending() {
    let page = page();
    while page.is_pending() && page.enter_handler() {
        drain(page);
        STATS.inline.fetch_add(1, Relaxed);
        if !page.enable() {
            break;
        }
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
    /// Soft upcalls entered (the kernel redirected a thread into
    /// [`handler`] on its return from a system call).
    pub upcalls: AtomicU64,
    /// Drains that found the queue had overflowed and woke every
    /// coroutine with a call in flight.
    pub resyncs: AtomicU64,
    /// Entries through `utvec` (N extension).
    pub hw_entries: AtomicU64,
    /// Coroutines woken by the `utvec` handler.
    pub hw_woken: AtomicU64,
    /// Stale ids the `utvec` handler rejected.
    pub hw_rejected: AtomicU64,
    /// `utvec` entries that found another drain in progress.
    pub hw_busy: AtomicU64,
    /// `utvec` entries for a cause other than the user software interrupt.
    pub hw_other: AtomicU64,
}

/// The handler's counters.
pub static STATS: Stats = Stats {
    woken: core::sync::atomic::AtomicU64::new(0),
    rejected: core::sync::atomic::AtomicU64::new(0),
    inline: core::sync::atomic::AtomicU64::new(0),
    upcalls: AtomicU64::new(0),
    resyncs: AtomicU64::new(0),
    hw_entries: AtomicU64::new(0),
    hw_woken: AtomicU64::new(0),
    hw_rejected: AtomicU64::new(0),
    hw_busy: AtomicU64::new(0),
    hw_other: AtomicU64::new(0),
};
