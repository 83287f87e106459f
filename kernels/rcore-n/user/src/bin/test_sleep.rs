//! Sleep accuracy (generous bounds: QEMU under load) and deadline order.
#![no_std]
#![no_main]
use core::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use rcore_n_user::*;

entry!(main);

static ORDER: [AtomicUsize; 3] = [const { AtomicUsize::new(0) }; 3];
static NEXT: AtomicUsize = AtomicUsize::new(0);

fn sleeper(ms: usize) -> i32 {
    syscall::sleep(ms as u64 * 1_000_000);
    ORDER[NEXT.fetch_add(1, SeqCst)].store(ms, SeqCst);
    0
}

async fn main() -> i32 {
    for ms in [1u64, 20, 50] {
        let t0 = syscall::clock();
        syscall::sleep(ms * 1_000_000);
        let slept = (syscall::clock() - t0) / 1000;
        println!("sleep({ms} ms) took {slept} us");
        assert!(slept >= ms * 1000, "woke early");
        assert!(slept < ms * 1000 + 200_000, "woke more than 200 ms late");
    }
    let tids = [30, 10, 20].map(|ms| spawn_thread(sleeper, ms).unwrap());
    for t in tids {
        syscall::thread_join(t).unwrap();
    }
    let order = ORDER.each_ref().map(|a| a.load(SeqCst));
    println!("sleepers woke in order {order:?}");
    assert_eq!(order, [10, 20, 30]);
    println!("TEST test_sleep PASS");
    0
}
