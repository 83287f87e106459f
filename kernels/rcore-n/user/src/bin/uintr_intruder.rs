//! Child of `uintr_hw`: with its user interrupts masked it raises its own
//! `USIP` and yields the hart, over and over, so that it leaves user mode
//! with a user interrupt pending (the kernel must keep that for this
//! process alone). Then it unmasks: its own handler must run exactly then.
//! Exit 0 when it did.
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
    if masked == 0 && after == 1 { 0 } else { 1 }
}
