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

/// What holds the other harts while `cross_process` spawns the children.
#[derive(Clone, Copy, Debug)]
enum Holders {
    /// A coroutine (level 1) on each of `alloc_cpu`'s executor threads.
    Coroutines,
    /// Plain threads (`spawn_thread`): they run no coroutine, and the
    /// runtime ranks them at the process's cap.
    PlainThreads,
}

static STOP: AtomicBool = AtomicBool::new(false);
static SPINNING: AtomicUsize = AtomicUsize::new(0);

fn hold_hart() {
    SPINNING.fetch_add(1, SeqCst);
    while !STOP.load(SeqCst) {
        core::hint::spin_loop();
    }
}

/// Across processes, measured by the kernel: each child's rank among first
/// entries into user mode is the order in which the kernel chose it. All
/// children must be ready before any hart is free, or the first spawned
/// would simply take an idle hart: this process fills every hart first
/// (`holders` on the other harts, main spinning here), spawns them all
/// (its cap, 8, is above every child, so when the timer preempts one of
/// its threads the kernel re-enters this process), then frees the harts at
/// once. A hart that comes free enters the most urgent child waiting, so
/// with H harts a child can be entered at most H - 1 places away from its
/// place in priority order (harts picking at the same moment). On one
/// hart: exactly in order.
async fn cross_process(harts: usize, holders: Holders) {
    STOP.store(false, SeqCst);
    SPINNING.store(0, SeqCst);
    let (mut coroutines, mut threads) = (Vec::new(), Vec::new());
    for _ in 1..harts {
        match holders {
            // One poll that lasts until STOP: holds its thread.
            Holders::Coroutines => coroutines.push(spawn(async { hold_hart() }, 1).unwrap()),
            Holders::PlainThreads => threads.push(
                spawn_thread(
                    |_| {
                        hold_hart();
                        0
                    },
                    0,
                )
                .unwrap(),
            ),
        }
    }
    let give_up = syscall::ticks() + 50_000_000;
    while SPINNING.load(SeqCst) < harts - 1 {
        assert!(syscall::ticks() < give_up, "the holders never all ran");
    }
    let levels = [25u8, 11, 19, 14, 30, 22, 12, 17];
    let children: Vec<(usize, u8)> = levels
        .iter()
        .map(|&l| (syscall::spawn("rank_child", l).unwrap(), l))
        .collect();
    STOP.store(true, SeqCst);
    for c in coroutines {
        c.await.unwrap();
    }
    for t in threads {
        assert_eq!(syscall::thread_join(t), Ok(0));
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
    println!(
        "cross-process order of first entry, harts held by {holders:?}: {entered:?} ({harts} harts)"
    );
    for (place, level) in entered.iter().enumerate() {
        let due = by_priority.iter().position(|l| l == level).unwrap();
        assert!(
            place.abs_diff(due) < harts,
            "{holders:?}: the child at level {level} was entered {place}th, {due}th by priority: more than {} places away with {harts} harts",
            harts - 1
        );
    }
}

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

    let harts = syscall::harts();
    let workers = harts - 1;
    if workers > 0 {
        assert_eq!(alloc_cpu(workers), Ok(workers));
    }
    cross_process(harts, Holders::Coroutines).await;
    cross_process(harts, Holders::PlainThreads).await;
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
