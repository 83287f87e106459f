//! A demo worker: coroutines of three priorities doing rounds of CPU work.
//! The process runs at its most urgent ready coroutine's priority (capped),
//! so the kernel sees it drop as its urgent coroutines finish.
#![no_std]
#![no_main]
extern crate alloc;
use alloc::vec::Vec;
use rcore_n_user::*;

entry!(main);

fn work() {
    let mut x = 0u64;
    for i in 0..400_000u64 {
        x = core::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
    }
}

async fn main() -> i32 {
    let pid = syscall::getpid();
    let mut handles = Vec::new();
    for level in [40u8, 2, 12] {
        handles.push(
            spawn(
                async move {
                    for round in 0..3 {
                        work();
                        let others = global_highest().map(|p| p.level());
                        println!("[pid {pid}] coroutine at level {level:>2}: round {round} (most urgent elsewhere: {others:?})");
                        yield_now().await;
                    }
                },
                level,
            )
            .unwrap(),
        );
    }
    // A sleep is served by a kernel coroutine; only this thread waits.
    syscall::sleep(5_000_000);
    for h in handles {
        h.await.unwrap();
    }
    0
}
