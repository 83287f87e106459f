//! User interrupts through the RISC-V **N extension**, when the harts have
//! it and the firmware delegates it (rcore-n's own firmware does; stock
//! OpenSBI does not, and stock QEMU has no N at all). One kernel image:
//! `trap::uintr::init_hart` probes at boot, and without N every process keeps the
//! soft backend (an upcall on the return from a system call).
//!
//! With N, a process that asks for it (`uintr_mode(1)`, which its runtime
//! does at start) is interrupted for real:
//!
//! - each thread owns its user trap state (`uie`, `utvec`, `uscratch`,
//!   `uepc`, `ucause`, `utval`, and a pending `USIP`), saved when it leaves
//!   user mode and restored when it enters again, on whatever hart
//!   (`ustatus` is part of `sstatus`, which the trap path already keeps);
//! - a kernel completion posts into the process's cops-uintr page; if one
//!   of the process's threads is in user mode on another hart, that hart
//!   gets an IPI, and every entry to user mode raises `uip.USIP` when the
//!   page has something pending. The thread's handler (its `utvec`) drains
//!   the page and wakes the coroutines by id, then `uret`s;
//! - leaving user mode clears the hart's `USIP` and `uie` (kept in the
//!   thread's state), so an interrupt a process raised for itself can never
//!   reach another process that runs next on the hart.

use core::sync::atomic::{AtomicUsize, Ordering::*, fence};

use cops_uintr::{DOORBELL_HW, DOORBELL_SOFT, PageSized, Record};
use rcore_n_abi::Errno;

use super::Process;
use crate::board::MAX_HARTS;
use crate::trap::UserContext;
use crate::trap::uintr::{UserTrapState, available};

/// The serial of the process each hart is running in user mode (0: none).
static IN_USER: [AtomicUsize; MAX_HARTS] = [const { AtomicUsize::new(0) }; MAX_HARTS];

/// Counters for the closing summary and tests.
static RAISED: AtomicUsize = AtomicUsize::new(0);
static IPIS: AtomicUsize = AtomicUsize::new(0);
static FAST_REENTRIES: AtomicUsize = AtomicUsize::new(0);

impl Process {
    /// The process's user-interrupt page.
    pub fn uintr(&self) -> &'static PageSized {
        // SAFETY: a zeroed, page-aligned frame owned by this process's space
        // for as long as the process exists; every field is atomic.
        unsafe { PageSized::from_zeroed(self.uintr_page as *mut u8) }
    }

    /// Post a wake for coroutine `cid`; ring (wake a waiting thread) when
    /// the post asks for it or overflowed (the handler will resync).
    pub fn post_wake(&self, cid: u64) {
        let doorbell = self
            .uintr()
            .post(Record::wake(cid))
            .map_or(true, |p| p.notify);
        if doorbell {
            self.upcall_waiters.notify_all();
            ring(self);
        }
    }
}

/// Whether `proc` is interrupted through the N extension right now.
pub fn hardware(proc: &Process) -> bool {
    available() && proc.uintr().doorbell() == DOORBELL_HW
}

/// `uintr_mode(mode)`: 1 asks for hardware delivery (`-ENOSYS` when the
/// machine has no usable N), 0 goes back to soft upcalls.
pub fn set_mode(proc: &Process, mode: usize) -> isize {
    match mode {
        0 => proc.uintr().set_doorbell(DOORBELL_SOFT),
        1 if available() => proc.uintr().set_doorbell(DOORBELL_HW),
        1 => return Errno::NoSys.ret(),
        _ => return Errno::Inval.ret(),
    }
    0
}

/// A record was posted to `proc`'s page and asked for the doorbell: IPI
/// every other hart running one of its threads in user mode (the entry
/// path raises `USIP` for threads that are not).
pub fn ring(proc: &Process) {
    if !hardware(proc) {
        return;
    }
    // Pairs with the fence in `run_user`: either that hart sees the page
    // pending before it enters user mode, or we see it in `IN_USER`.
    fence(SeqCst);
    let me = crate::hart::hart_id();
    let mut mask = 0usize;
    for (hart, serial) in IN_USER.iter().enumerate() {
        if hart != me && serial.load(Relaxed) == proc.serial {
            mask |= 1 << hart;
        }
    }
    if mask != 0 {
        IPIS.fetch_add(1, Relaxed);
        let _ = sbi_rt::send_ipi(sbi_rt::HartMask::from_mask_base(mask, 0));
    }
}

/// Enter `ctx` in user mode until its next trap, with its user trap state
/// in the CSRs when `proc` uses hardware delivery.
///
/// # Safety
/// As [`crate::trap::run_user`].
pub unsafe fn run_user(proc: &Process, ctx: &mut UserContext) {
    if !available() {
        // SAFETY: the caller's contract.
        unsafe { crate::trap::run_user(ctx) };
        return;
    }
    // With N present every thread's user trap state is switched, in soft
    // mode too: user code can write its own `uie` and raise its own `USIP`
    // whatever mode it asked for, and that must not reach the next thread.
    let hart = crate::hart::hart_id();
    loop {
        let hw = hardware(proc);
        enter_once(proc, ctx, hart, hw);
        if !hw {
            return;
        }
        // An IPI that brought the thread back while its page is pending is
        // (almost always) our own doorbell from another hart: enter again
        // at once with USIP raised instead of a trip through the scheduler.
        // A kernel notify absorbed here loses nothing: it only ends a
        // `wfi`, and this hart is not waiting in one.
        if is_supervisor_soft_interrupt() && proc.uintr().is_pending() && !proc.is_dead() {
            crate::trap::clear_ipi();
            FAST_REENTRIES.fetch_add(1, Relaxed);
            continue;
        }
        return;
    }
}

fn is_supervisor_soft_interrupt() -> bool {
    let cause: usize;
    // SAFETY: reads a CSR.
    unsafe { core::arch::asm!("csrr {}, scause", out(reg) cause) };
    cause == (1 << 63) | 1
}

/// One entry to user mode with the thread's user trap state; `doorbell`:
/// the process uses hardware delivery (raise `USIP` if its page is pending).
fn enter_once(proc: &Process, ctx: &mut UserContext, hart: usize, doorbell: bool) {
    if doorbell {
        IN_USER[hart].store(proc.serial, Relaxed);
        // Pairs with the fence in `ring`.
        fence(SeqCst);
    }
    let s = ctx.uintr;
    let usip = s.usip() || (doorbell && proc.uintr().is_pending());
    if usip && !s.usip() {
        RAISED.fetch_add(1, Relaxed);
    }
    // SAFETY: N is present (`hardware`); the state is the thread's about
    // to run, the space is active and the context ours (the caller's
    // contract).
    unsafe {
        s.load(usip);
        crate::trap::run_user(ctx);
    }
    IN_USER[hart].store(0, Relaxed);
    // SAFETY: N is present and the hart just left this thread's user mode.
    ctx.uintr = unsafe { UserTrapState::save_and_clear() };
}

/// One line for the closing summary (nothing without N).
pub fn print_summary() {
    if available() {
        println!(
            "[kernel] user interrupts (N): USIP raised on {} entries to user mode, {} IPIs to harts running the receiver, {} re-entered at once",
            RAISED.load(Relaxed),
            IPIS.load(Relaxed),
            FAST_REENTRIES.load(Relaxed)
        );
    }
}
