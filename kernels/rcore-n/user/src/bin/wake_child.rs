//! The cap-20 process of `test_kernel_preempt`: says it is up (a byte on
//! fd 6), blocks its thread reading fd 3, and as soon as the read returns
//! writes the `rdtime` it runs at (8 bytes on fd 6).
#![no_std]
#![no_main]
use rcore_n_user::*;

entry!(main);

async fn main() -> i32 {
    assert_eq!(syscall::write(6, &[2]), Ok(1));
    let mut go = [0u8; 1];
    assert_eq!(syscall::read(3, &mut go), Ok(1));
    let woke_at = syscall::ticks();
    assert_eq!(syscall::write(6, &woke_at.to_le_bytes()), Ok(8));
    0
}
