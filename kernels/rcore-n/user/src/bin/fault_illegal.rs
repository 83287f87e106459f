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
    // SAFETY: none: an all-zero word is an illegal instruction.
    unsafe { core::arch::asm!(".word 0") };
}
