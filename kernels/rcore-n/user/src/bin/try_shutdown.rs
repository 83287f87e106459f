//! Tries to power the machine off; exits with the error it got.
#![no_std]
#![no_main]
use rcore_n_user::*;

entry!(main);

async fn main() -> i32 {
    syscall::raw(rcore_n_abi::nr::SHUTDOWN, 0, 0, 0) as i32
}
