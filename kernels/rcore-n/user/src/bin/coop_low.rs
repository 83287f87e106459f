//! The less urgent process of `test_coop_yield` (spawned at cap 30): one
//! executor thread per hart it may have (`alloc_cpu`), all busy with
//! spinner coroutines at local level 5 that make no system call. The
//! coroutines are locally more urgent than the cap-10 process the test
//! starts, but the process is capped at 30, so its threads must give their
//! harts back (cooperatively: the timer slice is very long) as soon as the
//! view shows that process. Each spinner counts, per thread, how many of
//! its polls in a row saw a more urgent process elsewhere with no yield of
//! the thread in between: the runtime yields after the poll that sees it,
//! so that run stays short. (A yield ends a run even if the kernel hands
//! the hart straight back: the view may show a process whose thread is
//! only passing through a system call, which another hart re-enters.)
//!
//! fds: 3 = stop (read: the test writes a byte when done), 6 = report
//! (write: one byte when every thread runs a spinner, then
//! `[cooperative yields, longest run of outranked polls]` as two u64).
#![no_std]
#![no_main]
extern crate alloc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use rcore_n_abi::MAX_THREADS;
use rcore_n_user::*;

entry!(main);

/// Level of the spinners: more urgent than the cap-10 process *locally*.
const SPIN_LEVEL: u8 = 5;
/// A run of outranked polls this long means the runtime is not yielding:
/// stop spinning (so the test ends and reports it) instead of spinning on.
const GIVE_UP: u64 = 100_000;

static STOP: AtomicBool = AtomicBool::new(false);
static READY_SENT: AtomicBool = AtomicBool::new(false);
/// Threads that ran a spinner (bit per tid).
static SEEN: AtomicU64 = AtomicU64::new(0);
/// Per thread: polls in a row that saw a more urgent process elsewhere,
/// with no cooperative yield of the thread between them.
static RUN: [AtomicU64; MAX_THREADS] = [const { AtomicU64::new(0) }; MAX_THREADS];
/// Per thread: its cooperative yields at its last outranked poll.
static YIELDS_AT: [AtomicU64; MAX_THREADS] = [const { AtomicU64::new(u64::MAX) }; MAX_THREADS];
static LONGEST_RUN: AtomicU64 = AtomicU64::new(0);

fn tid() -> usize {
    let tp: usize;
    // SAFETY: reads a register (the kernel starts thread t with tp = t).
    unsafe { core::arch::asm!("mv {}, tp", out(reg) tp) };
    tp
}

async fn spinner(threads: usize) {
    let all = (1u64 << threads) - 1;
    while !STOP.load(SeqCst) {
        let t = tid();
        if SEEN.fetch_or(1 << t, SeqCst) | (1 << t) == all && !READY_SENT.swap(true, SeqCst) {
            assert_eq!(syscall::write(6, &[1]), Ok(1));
        }
        // The test's own oracle, not the runtime's `outranked`: the
        // spinners are always ready and locally above the cap, so this
        // process stands at its cap in the view.
        if global_highest().is_some_and(|g| g.is_higher_than(cap())) {
            let yields = cooperative_yields_here();
            let run = if YIELDS_AT[t].swap(yields, SeqCst) == yields {
                RUN[t].fetch_add(1, SeqCst) + 1
            } else {
                RUN[t].store(1, SeqCst);
                1
            };
            LONGEST_RUN.fetch_max(run, SeqCst);
            if run >= GIVE_UP {
                STOP.store(true, SeqCst);
            }
        } else {
            RUN[t].store(0, SeqCst);
        }
        yield_now().await;
    }
}

async fn main() -> i32 {
    // One thread per hart, but one hart stays for the test process.
    let threads = syscall::harts().saturating_sub(1).clamp(1, 8);
    if threads > 1 {
        assert_eq!(alloc_cpu(threads - 1), Ok(threads - 1));
    }
    let spinners: Vec<_> = (0..2 * threads)
        .map(|_| spawn(spinner(threads), SPIN_LEVEL).unwrap())
        .collect();
    // Wait for the stop byte here, asynchronously: the threads keep spinning.
    let mut stop = [0u8; 1];
    assert_eq!(call::read(3, &mut stop).await, Ok(1));
    STOP.store(true, SeqCst);
    for s in spinners {
        s.await.unwrap();
    }
    let report = [cooperative_yields(), LONGEST_RUN.load(SeqCst)];
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&report[0].to_le_bytes());
    bytes[8..].copy_from_slice(&report[1].to_le_bytes());
    assert_eq!(syscall::write(6, &bytes), Ok(16));
    0
}
