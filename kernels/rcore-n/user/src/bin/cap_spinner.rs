//! A child of `test_switcher_level`: computes for 300 ms in one poll of its
//! main coroutine (no system call), so it stays ready in the view at its
//! cap whenever it is not running.
#![no_std]
#![no_main]
use rcore_n_user::*;

entry!(main);

/// 300 ms of `rdtime`.
const SPIN_TICKS: u64 = 3_000_000;

async fn main() -> i32 {
    let until = syscall::ticks() + SPIN_TICKS;
    while syscall::ticks() < until {
        core::hint::spin_loop();
    }
    0
}
