//! For test_orphans: start a child that exits at once, and exit without
//! waiting for it (the child ends as an orphan, before or after us).
#![no_std]
#![no_main]
use rcore_n_user::*;

entry!(main);

async fn main() -> i32 {
    let _ = syscall::spawn("exit_child", 20).unwrap();
    0
}
