//! The cap-40 process of `test_kernel_preempt`: one executor thread per
//! hart but one, each running a coroutine that spins for `SPIN_TICKS`
//! inside a single poll (no system call, no coroutine switch: nothing in
//! this process ever gives a hart back before the time is up, so only the
//! kernel can take one). Writes a byte on fd 6 once every thread spins.
#![no_std]
#![no_main]
extern crate alloc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use rcore_n_user::*;

entry!(main);

/// 3 s of `rdtime`.
const SPIN_TICKS: u64 = 30_000_000;

async fn main() -> i32 {
    static SPINNING: AtomicUsize = AtomicUsize::new(0);
    let threads = syscall::harts().saturating_sub(1).clamp(1, 8);
    if threads > 1 {
        assert_eq!(alloc_cpu(threads - 1), Ok(threads - 1));
    }
    let until = syscall::ticks() + SPIN_TICKS;
    let spinners: Vec<_> = (0..threads)
        .map(|_| {
            spawn(
                async move {
                    if SPINNING.fetch_add(1, SeqCst) + 1 == threads {
                        assert_eq!(syscall::write(6, &[1]), Ok(1));
                    }
                    while syscall::ticks() < until {
                        core::hint::spin_loop();
                    }
                },
                1,
            )
            .unwrap()
        })
        .collect();
    for s in spinners {
        s.await.unwrap();
    }
    0
}
