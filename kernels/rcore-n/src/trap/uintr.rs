//! The RISC-V **N extension** at the hart level: whether the harts have it
//! with user interrupts delegated (probed on each hart at boot), and a
//! thread's user trap CSRs, switched with the thread. What a process does
//! with them (hardware or soft delivery, doorbells) is `task::uintr`'s.

use core::sync::atomic::{AtomicBool, Ordering::*};

use cops_uintr::riscv_n::{bits, hw};

/// The harts implement N and the firmware delegates the user interrupts.
static AVAILABLE: AtomicBool = AtomicBool::new(false);

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

impl UserTrapState {
    /// Put this thread's user trap state in the CSRs, `USIP` raised or
    /// cleared as `usip` says (the hart's `USIP` is this thread's alone
    /// from here).
    ///
    /// # Safety
    /// N is present ([`available`]); the thread is about to enter user
    /// mode on this hart. The kernel never takes user interrupts itself
    /// (they are delivered only in U-mode).
    pub unsafe fn load(&self, usip: bool) {
        // SAFETY: the caller's contract.
        unsafe {
            hw::write_uie(self.uie as u64);
            hw::write_utvec(self.utvec as u64);
            hw::write_uscratch(self.uscratch as u64);
            hw::write_uepc(self.uepc as u64);
            hw::write_ucause(self.ucause as u64);
            hw::write_utval(self.utval as u64);
            if usip {
                core::arch::asm!("csrs 0x044, {}", in(reg) bits::USER_SOFT);
            } else {
                hw::csr_clear_uip(bits::USER_SOFT);
            }
        }
    }

    /// Read the state the thread left, then clear `uie` and `USIP`, so its
    /// interrupt never reaches whatever runs next on the hart (nor ends
    /// the kernel's `wfi`).
    ///
    /// # Safety
    /// N is present; the hart just left this thread's user mode.
    pub unsafe fn save_and_clear() -> Self {
        // SAFETY: the caller's contract.
        unsafe {
            let s = UserTrapState {
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
            s
        }
    }

    /// `uip.USIP` was pending when the thread left user mode.
    pub fn usip(&self) -> bool {
        self.usip
    }
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
            crate::hart::hart_id()
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
