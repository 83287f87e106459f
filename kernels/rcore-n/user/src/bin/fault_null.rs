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
    // SAFETY: none: address 0 is unmapped; this load must fault.
    unsafe { core::ptr::read_volatile(core::hint::black_box(0usize) as *const u64) };
}
