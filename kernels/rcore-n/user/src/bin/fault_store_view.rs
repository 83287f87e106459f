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
    // SAFETY: none: the view is mapped read-only; this store must fault.
    unsafe { core::ptr::write_volatile(rcore_n_abi::layout::GLOBAL_VIEW as *mut u64, 0) };
}
