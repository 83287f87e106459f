//! Sleep accuracy (generous bounds: QEMU under load) and deadline order:
//! sleepers never wake early; on one hart they also finish in deadline
//! order (with several harts a woken thread may wait for a busy vCPU of a
//! loaded host longer than the gap between deadlines).
#![no_std]
#![no_main]
use core::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use rcore_n_user::*;

entry!(main);

static ORDER: [AtomicUsize; 3] = [const { AtomicUsize::new(0) }; 3];
static NEXT: AtomicUsize = AtomicUsize::new(0);

fn sleeper(ms: usize) -> i32 {
    let t0 = syscall::clock();
    syscall::sleep(ms as u64 * 1_000_000);
    assert!(
        syscall::clock() - t0 >= ms as u64 * 1_000_000,
        "a sleeper woke early"
    );
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
        assert!(slept < ms * 1000 + 500_000, "woke more than 500 ms late");
    }
    let tids = [30, 10, 20].map(|ms| spawn_thread(sleeper, ms).unwrap());
    for t in tids {
        assert_eq!(syscall::thread_join(t), Ok(0));
    }
    let order = ORDER.each_ref().map(|a| a.load(SeqCst));
    println!("sleepers woke in order {order:?}");
    if syscall::harts() == 1 {
        assert_eq!(order, [10, 20, 30]);
    }
    guest_test::pass("test_sleep");
    0
}
