//! Priority order inside one process (one executor thread: strict) and
//! across processes (the order in which the kernel first entered each
//! child, which it records: strict on one hart, within H - 1 places on H
//! harts).
//! A process runs at its most urgent coroutine's priority, capped by the
//! priority it was spawned with.
#![no_std]
#![no_main]
extern crate alloc;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use rcore_n_user::*;

entry!(main);

async fn main() -> i32 {
    // Inside one process: spawned while main runs, polled by priority.
    let order = Arc::new(spin::Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    for level in [20u8, 5, 40, 10, 5, 30] {
        let order = order.clone();
        handles.push(spawn(async move { order.lock().push(level) }, level).unwrap());
    }
    for h in handles {
        h.await.unwrap();
    }
    assert_eq!(*order.lock(), [5, 5, 10, 20, 30, 40]);
    println!("in-process order: {:?}", *order.lock());

    // Across processes, measured by the kernel: each child's rank among
    // first entries into user mode is the order in which the kernel chose
    // it. All children must be ready before any hart is free, or the first
    // spawned would simply take an idle hart: this process fills every
    // hart first (a spinner coroutine on an executor thread per other
    // hart, so each thread stands at this process's cap, 8; a plain thread
    // runs no coroutine and would stand at the lowest level), spawns them
    // all (8 is above every child, so when the timer preempts a thread the
    // kernel re-enters this process), then frees the harts at once. A hart
    // that comes free enters the most urgent child waiting, so with H
    // harts a child can be entered at most H - 1 places away from its
    // place in priority order (harts picking at the same moment). On one
    // hart: exactly in order.
    static STOP: AtomicBool = AtomicBool::new(false);
    static SPINNING: AtomicUsize = AtomicUsize::new(0);
    let harts = syscall::harts();
    let workers = harts - 1;
    if workers > 0 {
        assert_eq!(alloc_cpu(workers), Ok(workers));
    }
    let spinners: Vec<_> = (0..workers)
        .map(|_| {
            spawn(
                async {
                    // One poll that lasts until STOP: holds its thread.
                    SPINNING.fetch_add(1, SeqCst);
                    while !STOP.load(SeqCst) {
                        core::hint::spin_loop();
                    }
                },
                1,
            )
            .unwrap()
        })
        .collect();
    let give_up = syscall::ticks() + 50_000_000;
    while SPINNING.load(SeqCst) < workers {
        assert!(syscall::ticks() < give_up, "the spinners never all ran");
    }
    let levels = [25u8, 11, 19, 14, 30, 22, 12, 17];
    let children: Vec<(usize, u8)> = levels
        .iter()
        .map(|&l| (syscall::spawn("rank_child", l).unwrap(), l))
        .collect();
    STOP.store(true, SeqCst);
    for s in spinners {
        s.await.unwrap();
    }
    let mut ranked: Vec<(i32, u8)> = children
        .iter()
        .map(|&(pid, level)| {
            let (_, rank) = syscall::waitpid(Some(pid)).unwrap();
            assert!(rank > 0, "a child did not get its rank");
            (rank, level)
        })
        .collect();
    ranked.sort();
    let entered: Vec<u8> = ranked.iter().map(|&(_, l)| l).collect();
    let mut by_priority = levels.to_vec();
    by_priority.sort();
    println!("cross-process order of first entry: {entered:?} ({harts} harts)");
    for (place, level) in entered.iter().enumerate() {
        let due = by_priority.iter().position(|l| l == level).unwrap();
        assert!(
            place.abs_diff(due) < harts,
            "the child at level {level} was entered {place}th, {due}th by priority: more than {} places away with {harts} harts",
            harts - 1
        );
    }
    // The executor threads alloc_cpu started stay parked in the kernel (a
    // waiting call, served by a kernel coroutine, each) until the process
    // exits.
    use rcore_n_abi::stat;
    guest_test::pass_holding(
        "test_priority",
        &[
            (stat::KERNEL_COROUTINES, workers),
            (stat::CALLS, workers),
            (stat::WAITERS, 2 * workers),
        ],
    );
    0
}
