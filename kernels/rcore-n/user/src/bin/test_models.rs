//! The four models of COPS §5.1 on one workload: waiters that sleep, then
//! read a record from a pipe, as user coroutines (async calls) or user
//! threads (blocking calls), served by kernel coroutines or kernel threads:
//! KCUC, KCUT, KTUC, KTUT. Every waiter must get exactly one record, and
//! each model must run as named: every awaited call went asynchronous
//! (the runtime's counters), kernel threads served the calls only in KT
//! and kernel coroutines only in KC, and threads blocked in waiting calls
//! only in UT (the kernel's counters).
#![no_std]
#![no_main]
extern crate alloc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering::SeqCst};
use rcore_n_user::*;

entry!(main);

const WAITERS: usize = 8;

/// Bit `i` set when record `i` was read; checked for exactly-once.
static SEEN: AtomicU64 = AtomicU64::new(0);

fn record(buf: [u8; 8]) {
    let bit = 1u64 << u64::from_le_bytes(buf);
    assert_eq!(
        SEEN.fetch_or(bit, SeqCst) & bit,
        0,
        "a record was read twice"
    );
}

fn thread_waiter(rd: usize) -> i32 {
    call::sleep(2_000_000).wait().unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(call::read(rd, &mut buf).wait(), Ok(8));
    record(buf);
    0
}

/// The kernel's cumulative counters of how waiting calls were served.
fn kernel_counts() -> [usize; 3] {
    use rcore_n_abi::stat;
    [
        stat::KERNEL_THREADS_STARTED,
        stat::COROUTINE_CALLS,
        stat::THREAD_WAITS,
    ]
    .map(|which| syscall::kstat(which).unwrap())
}

async fn run(model: &str, kernel_threads: bool, user_threads: bool) {
    syscall::kernel_threads(kernel_threads).unwrap();
    let calls0 = call::STATS.snapshot();
    let records0 = guest_test::wake_records();
    let kernel0 = kernel_counts();
    SEEN.store(0, SeqCst);
    let (rd, wr) = syscall::pipe().unwrap();
    let mut tids = Vec::new();
    let mut coroutines = Vec::new();
    for _ in 0..WAITERS {
        if user_threads {
            tids.push(spawn_thread(thread_waiter, rd).unwrap());
        } else {
            coroutines.push(
                spawn(
                    async move {
                        call::sleep(2_000_000).await.unwrap();
                        let mut buf = [0u8; 8];
                        assert_eq!(call::read(rd, &mut buf).await, Ok(8));
                        record(buf);
                    },
                    10,
                )
                .unwrap(),
            );
        }
    }
    for i in 0..WAITERS as u64 {
        assert_eq!(call::write(wr, &i.to_le_bytes()).await, Ok(8));
    }
    for t in tids {
        // Joined asynchronously: only this coroutine waits for the thread.
        let mut code = -1;
        assert_eq!(call::thread_join(t, &mut code).await, Ok(t));
        assert_eq!(code, 0);
    }
    for c in coroutines {
        c.await.unwrap();
    }
    assert_eq!(
        SEEN.load(SeqCst),
        (1 << WAITERS) - 1,
        "{model}: a record was lost"
    );
    let calls = call::STATS.snapshot().since(calls0);
    let records = guest_test::wake_records_since(records0, calls.completed).await;
    println!(
        "{model}: {WAITERS} waiters each read their record; async calls {calls:?}, {records} wake records drained"
    );
    assert_eq!(calls.refused, 0, "{model}: an async call was refused");
    assert_eq!(
        calls.completed, calls.in_progress,
        "{model}: an async call did not complete through its slot"
    );
    assert!(
        records >= calls.completed,
        "{model}: a completion posted no wake record"
    );
    // Every `.await` went through the async path (none fell back to
    // blocking): main's writes, and the coroutines' sleeps and reads (UC)
    // or main's joins of the threads (UT).
    let awaited = if user_threads {
        2 * WAITERS
    } else {
        3 * WAITERS
    };
    assert_eq!(
        calls.in_progress + calls.immediate,
        awaited as u64,
        "{model}: an awaited call did not go through the async path"
    );
    // The model ran as named, by the kernel's own counters: who served
    // the waiting calls, and whether a thread blocked in one.
    let now = kernel_counts();
    let [kthreads, on_coroutines, thread_waits] = [0, 1, 2].map(|i| now[i] - kernel0[i]);
    println!(
        "{model}: kernel threads started {kthreads}, calls on kernel coroutines {on_coroutines}, threads blocked in a call {thread_waits}"
    );
    if kernel_threads {
        assert_eq!(
            on_coroutines, 0,
            "{model}: a call was served on a kernel coroutine"
        );
        assert!(
            kthreads >= WAITERS,
            "{model}: the calls did not run on kernel threads"
        );
    } else {
        assert_eq!(kthreads, 0, "{model}: a kernel thread was started");
        assert!(
            on_coroutines >= WAITERS,
            "{model}: the calls did not run on kernel coroutines"
        );
    }
    if user_threads {
        assert!(
            thread_waits >= WAITERS,
            "{model}: the threads did not block in their calls"
        );
    } else {
        assert_eq!(
            thread_waits, 0,
            "{model}: a thread blocked in a waiting call"
        );
    }
    syscall::close(rd).unwrap();
    syscall::close(wr).unwrap();
}

async fn main() -> i32 {
    run("KCUC (kernel coroutines, user coroutines)", false, false).await;
    run("KCUT (kernel coroutines, user threads)", false, true).await;
    run("KTUC (kernel threads, user coroutines)", true, false).await;
    run("KTUT (kernel threads, user threads)", true, true).await;
    assert_eq!(
        syscall::raw(rcore_n_abi::nr::KERNEL_MODEL, 7, 0, 0),
        Errno::Inval.ret()
    );
    guest_test::pass("test_models");
    0
}
