//! Faults on purpose (killed by the kernel).
#![no_std]
#![no_main]
use rcore_n_user::*;

entry!(main);

async fn main() -> i32 {
    fault();
    0
}

fn fault() {
    // SAFETY: none: user floating point is off (the kernel does not switch
    // FP registers), so this traps as an illegal instruction.
    unsafe { core::arch::asm!("fmv.d.x f0, zero") };
}
