//! Child of `uintr_hw`: with its user interrupts masked it raises its own
//! `USIP` and yields the hart, over and over, so that it leaves user mode
//! with a user interrupt pending (the kernel must keep that for this
//! process alone). Then it unmasks: its own handler must run exactly then.
//! Then it goes back to soft mode (the kernel no longer delivers through
//! N) and writes `uie` and `USIP` itself before each yield: the kernel
//! must clear those too. Exit 0 when all went as described.
#![no_std]
#![no_main]
use cops_uintr::riscv_n::hw;
use core::sync::atomic::Ordering::Relaxed;
use rcore_n_user::*;

entry!(main);

async fn main() -> i32 {
    if !uintr::hardware() {
        return 2;
    }
    // SAFETY: N mode (checked above): mask this thread's user interrupts.
    unsafe { hw::disable() };
    let before = uintr::STATS.hw_entries.load(Relaxed);
    let t0 = syscall::ticks();
    while syscall::ticks() - t0 < 2_000_000 {
        uintr::raise_self();
        syscall::sched_yield();
    }
    let masked = uintr::STATS.hw_entries.load(Relaxed) - before;
    // SAFETY: as above: unmask; the pending USIP is taken at once.
    unsafe { hw::enable() };
    let after = uintr::STATS.hw_entries.load(Relaxed) - before;
    if masked != 0 || after != 1 {
        return 1;
    }
    uintr::use_soft();
    let t0 = syscall::ticks();
    while syscall::ticks() - t0 < 1_000_000 {
        // SAFETY: the hart has N (the kernel granted it above); user mode
        // may write its own `uie` and `uip.USIP` in any mode. UIE stays
        // off here, so nothing is taken in this process.
        unsafe {
            hw::write_uie(1);
            core::arch::asm!("csrs 0x044, {}", in(reg) 1);
        }
        syscall::sched_yield();
    }
    0
}
