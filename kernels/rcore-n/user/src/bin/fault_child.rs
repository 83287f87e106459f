//! Faults on purpose, in the way test_fault asks for (one byte on fd 7);
//! the kernel must kill it and nothing else.
#![no_std]
#![no_main]
use rcore_n_user::*;

entry!(main);

async fn main() -> i32 {
    let mut mode = [0u8; 1];
    assert_eq!(syscall::read(7, &mut mode), Ok(1));
    // SAFETY: none of these is sound on purpose: each must trap.
    unsafe {
        match mode[0] {
            // The global view is mapped read-only.
            0 => core::ptr::write_volatile(rcore_n_abi::layout::GLOBAL_VIEW as *mut u64, 0),
            // Address 0 is unmapped.
            1 => drop(core::ptr::read_volatile(
                core::hint::black_box(0usize) as *const u64
            )),
            // An all-zero word is an illegal instruction.
            2 => core::arch::asm!(".word 0"),
            // User floating point is off (the kernel does not switch FP
            // registers): an illegal instruction too.
            3 => core::arch::asm!("fmv.d.x f0, zero"),
            // The shared scheduler code is mapped read-execute only.
            _ => core::ptr::write_volatile(rcore_n_abi::layout::VDSO_BASE as *mut u64, 0),
        }
    }
    0
}
