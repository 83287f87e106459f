//! A worker of the demo (see `demo.rs`, act 3): coroutines at levels 2, 12
//! and 40 doing rounds of CPU work, each reporting when it finished on the
//! results pipe the demo created (fd 4, inherited).
#![no_std]
#![no_main]
extern crate alloc;
use alloc::vec::Vec;
use rcore_n_user::*;

entry!(main);

const RESULTS: usize = 4;
const ROUNDS: usize = 4;

fn work() {
    let mut x = 0u64;
    for i in 0..400_000u64 {
        x = core::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
    }
}

async fn main() -> i32 {
    let pid = syscall::getpid();
    let handles: Vec<_> = [40u8, 2, 12]
        .into_iter()
        .map(|level| {
            spawn(
                async move {
                    for _ in 0..ROUNDS {
                        work();
                        // Lets the executor pick again, and give the hart
                        // back if another process is more urgent.
                        yield_now().await;
                    }
                    let us = (syscall::clock() / 1000) as u32;
                    let mut rec = [0u8; 8];
                    rec[0] = pid as u8;
                    rec[1] = level;
                    rec[4..].copy_from_slice(&us.to_le_bytes());
                    assert_eq!(syscall::write(RESULTS, &rec), Ok(rec.len()));
                },
                level,
            )
            .unwrap()
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    0
}
