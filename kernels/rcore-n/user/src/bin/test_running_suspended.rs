//! The running-suspended state is real (COPS §3.3): a coroutine that
//! computes without yielding is preempted by the timer in the middle of its
//! poll. While its thread waits for a hart, another thread of the process
//! sees it `RunningSuspended` (the kernel sent the thread into the
//! runtime's preemption handler, which marked it before giving the hart
//! up); when its thread runs again it is `Running` (it checks itself), and
//! it was polled exactly once: the poll resumed, it was not started again.
//!
//! At `-smp 1` the watcher (which yields between looks) gets the hart when
//! the spinner's thread yields from its handler; with more harts it runs
//! alongside and catches the window between the mark and the unmark
//! (bounded: 10 s).
#![no_std]
#![no_main]
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use core::task::Poll;
use rcore_n_abi::stat;
use rcore_n_user::*;

entry!(main);

/// Ten seconds of `rdtime` (10 MHz on QEMU virt).
const PATIENCE: u64 = 100_000_000;

static SPINNER: AtomicU64 = AtomicU64::new(u64::MAX);
static SEEN_SUSPENDED: AtomicBool = AtomicBool::new(false);
static POLLS: AtomicUsize = AtomicUsize::new(0);

/// A plain thread: watch the spinner's state until it is running-suspended.
fn watcher(_: usize) -> i32 {
    let id = CoroutineId::from_raw(SPINNER.load(SeqCst));
    let deadline = syscall::ticks() + PATIENCE;
    while syscall::ticks() < deadline {
        if executor().state(id) == Ok(cops_core::CoroutineState::RunningSuspended) {
            SEEN_SUSPENDED.store(true, SeqCst);
            return 0;
        }
        // Give the hart back between looks. (A plain thread used to be
        // marked as running at level 0, so the kernel sent this watcher
        // through the preemption handler too, and at -smp 1 the two
        // handlers once fell into lockstep; it is now marked PLAIN_THREAD,
        // which the kernel never sends there.)
        syscall::sched_yield();
    }
    1
}

async fn main() -> i32 {
    let entries_before = syscall::kstat(stat::PREEMPT_HANDLER_ENTRIES).unwrap();
    // One poll that spins until the watcher saw it suspended, then reports
    // its own state (running again, on its resumed thread).
    let spinner = spawn(
        core::future::poll_fn(|_| {
            POLLS.fetch_add(1, SeqCst);
            let deadline = syscall::ticks() + PATIENCE;
            while !SEEN_SUSPENDED.load(SeqCst) && syscall::ticks() < deadline {
                core::hint::spin_loop();
            }
            Poll::Ready(executor().state(current_id().expect("polled")))
        }),
        20,
    )
    .unwrap();
    SPINNER.store(spinner.id().to_raw(), SeqCst);
    let watcher = spawn_thread(watcher, 0).expect("watcher thread");
    let state_after = spinner.await.unwrap();
    let watched = syscall::thread_join(watcher).unwrap();
    let entries = syscall::kstat(stat::PREEMPT_HANDLER_ENTRIES).unwrap() - entries_before;
    println!(
        "test_running_suspended: watcher saw RunningSuspended: {}, spinner's own state after: {state_after:?}, polls: {}, preemption handler entries: {} here, {entries} in the kernel",
        watched == 0,
        POLLS.load(SeqCst),
        preemptions(),
    );
    assert_eq!(
        watched, 0,
        "the preempted coroutine was never RunningSuspended"
    );
    assert_eq!(state_after, Ok(cops_core::CoroutineState::Running));
    assert_eq!(
        POLLS.load(SeqCst),
        1,
        "the preempted poll was started again"
    );
    assert!(preemptions() >= 1 && entries >= 1);
    guest_test::pass("test_running_suspended");
    0
}
