//! User interrupts through the RISC-V **N extension**, when the harts have
//! it and the firmware delegates it (rcore-n's own firmware does; stock
//! OpenSBI does not, and stock QEMU has no N at all). One kernel image:
//! [`init_hart`] probes at boot, and without N every process keeps the
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

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*, fence};

use cops_uintr::riscv_n::{bits, hw};
use cops_uintr::{DOORBELL_HW, DOORBELL_SOFT};
use rcore_n_abi::Errno;

use crate::board::MAX_HARTS;
use crate::task::Process;
use crate::trap::UserContext;

/// The harts implement N and the firmware delegates the user interrupts.
static AVAILABLE: AtomicBool = AtomicBool::new(false);

/// The serial of the process each hart is running in user mode (0: none).
static IN_USER: [AtomicUsize; MAX_HARTS] = [const { AtomicUsize::new(0) }; MAX_HARTS];

/// Counters for the closing summary and tests.
static RAISED: AtomicUsize = AtomicUsize::new(0);
static IPIS: AtomicUsize = AtomicUsize::new(0);
static FAST_REENTRIES: AtomicUsize = AtomicUsize::new(0);

/// A thread's user trap CSRs while it is not in user mode.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct UserTrapState {
    uie: usize,
    utvec: usize,
    uscratch: usize,
    uepc: usize,
    ucause: usize,
    utval: usize,
    /// `uip.USIP` was pending when the thread left user mode.
    usip: bool,
}

/// Whether user interrupts go through the N extension on this machine.
pub fn available() -> bool {
    AVAILABLE.load(Relaxed)
}

/// Set by the first (boot) hart's probe.
static PROBED: AtomicBool = AtomicBool::new(false);

/// Probe the calling hart for N with delegated user interrupts, and set
/// `sideleg`/`sedeleg`. Called by `trap::init_hart` (after `stvec`); the
/// boot hart calls it before it starts any other.
pub fn init_hart() {
    let n = probe_sideleg();
    if !PROBED.swap(true, Relaxed) {
        AVAILABLE.store(n, Relaxed);
        if n {
            println!(
                "[kernel] user interrupts: N extension (sideleg {:#x}), hardware delivery",
                bits::ALL_USER
            );
        } else {
            println!(
                "[kernel] user interrupts: soft upcalls (no N extension, or the firmware does not delegate it)"
            );
        }
    } else {
        assert_eq!(
            n,
            available(),
            "hart {} differs from the boot hart in N support",
            crate::boot::hart_id()
        );
    }
}

/// Write `sideleg` and read it back; an illegal-instruction trap (no N)
/// lands on a local label through a temporary `stvec`. The user software,
/// timer and external interrupts are delegated to U-mode (without the
/// firmware's `mideleg` 0x111 they read back 0); no exception is
/// (`sedeleg` = 0): a user fault stays the kernel's business.
fn probe_sideleg() -> bool {
    let got: usize;
    // SAFETY: SIE is clear, so the only trap possible here is the one the
    // temporary vector expects; `stvec` is restored before returning.
    unsafe {
        core::arch::asm!(
            "csrr {old}, stvec",
            "la {tmp}, 3f",
            "csrw stvec, {tmp}",
            "li {tmp}, {want}",
            "csrw 0x103, {tmp}",
            "csrw 0x102, zero",
            "csrr {got}, 0x103",
            "j 4f",
            ".align 2",
            "3:",
            "li {got}, 0",
            "4:",
            "csrw stvec, {old}",
            old = out(reg) _,
            tmp = out(reg) _,
            got = out(reg) got,
            want = const bits::ALL_USER,
        );
    }
    got as u64 & bits::USER_SOFT != 0
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
    let me = crate::boot::hart_id();
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
    let hart = crate::boot::hart_id();
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
    let usip = s.usip || (doorbell && proc.uintr().is_pending());
    if usip && !s.usip {
        RAISED.fetch_add(1, Relaxed);
    }
    // SAFETY: N is present (`hardware`); these CSRs belong to the thread
    // about to run, and the kernel never takes user interrupts itself
    // (they are delivered only in U-mode). The space is active and the
    // context ours (the caller's contract).
    unsafe {
        hw::write_uie(s.uie as u64);
        hw::write_utvec(s.utvec as u64);
        hw::write_uscratch(s.uscratch as u64);
        hw::write_uepc(s.uepc as u64);
        hw::write_ucause(s.ucause as u64);
        hw::write_utval(s.utval as u64);
        // Set or clear: the hart's USIP is this thread's alone from here.
        if usip {
            core::arch::asm!("csrs 0x044, {}", in(reg) bits::USER_SOFT);
        } else {
            hw::csr_clear_uip(bits::USER_SOFT);
        }
        crate::trap::run_user(ctx);
    }
    IN_USER[hart].store(0, Relaxed);
    // SAFETY: as above; clearing `uie` and `USIP` keeps this thread's
    // interrupt from reaching whatever runs next on the hart (and keeps a
    // pending user interrupt from ending the kernel's `wfi`).
    unsafe {
        ctx.uintr = UserTrapState {
            uie: hw::read_uie() as usize,
            utvec: hw::read_utvec() as usize,
            uscratch: hw::read_uscratch() as usize,
            uepc: hw::read_uepc() as usize,
            ucause: hw::read_ucause() as usize,
            utval: hw::read_utval() as usize,
            usip: hw::read_uip() & bits::USER_SOFT != 0,
        };
        hw::write_uie(0);
        hw::csr_clear_uip(bits::USER_SOFT);
    }
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
