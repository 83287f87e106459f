//! A child of `test_priority`: asks the kernel for its rank among first
//! entries into user mode (the order in which the kernel chose processes),
//! does some CPU work, and exits with the rank as its code.
#![no_std]
#![no_main]
use rcore_n_user::*;

entry!(main);

async fn main() -> i32 {
    let rank = syscall::kstat(rcore_n_abi::stat::FIRST_ENTRY).unwrap();
    let mut x = 0u64;
    for i in 0..1_000_000u64 {
        x = core::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
    }
    core::hint::black_box(x);
    rank as i32
}
