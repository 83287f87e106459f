//! CPU-bound child: waits for a byte on fd 3, does a fixed amount of work,
//! then writes its pid to fd 6. Runs at its process cap (main is at level 0).
#![no_std]
#![no_main]
use rcore_n_user::*;

entry!(main);

async fn main() -> i32 {
    let mut go = [0u8; 1];
    assert_eq!(syscall::read(3, &mut go), Ok(1));
    let mut x = 0u64;
    for i in 0..3_000_000u64 {
        x = core::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
    }
    core::hint::black_box(x);
    syscall::write(6, &syscall::getpid().to_le_bytes()).unwrap();
    0
}
