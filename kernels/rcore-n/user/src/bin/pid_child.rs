//! For test_pid_reuse: wait for a byte on fd 3, then exit.
#![no_std]
#![no_main]
use rcore_n_user::*;

entry!(main);

async fn main() -> i32 {
    let mut go = [0u8; 1];
    let _ = syscall::read(3, &mut go);
    0
}
