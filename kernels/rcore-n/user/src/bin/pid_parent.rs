//! For test_pid_reuse: start `pid_child`, tell the parent its pid on fd 6,
//! and exit without waiting for it.
#![no_std]
#![no_main]
use rcore_n_user::*;

entry!(main);

async fn main() -> i32 {
    let child = syscall::spawn("pid_child", 20).unwrap();
    syscall::write(6, &child.to_le_bytes()).unwrap();
    0
}
